/*
 * In-kernel tests of the SMP bring-up (ktest=smp): every listed CPU is up
 * (less one with smp_skip=N), answers a ping IPI, and has its own per-CPU
 * area, canary, GDT, TSS and IST stacks, and the boot CPU's control
 * registers and page tables. With one CPU the AP checks have nothing to do.
 */
#include <arch/mmu.h>
#include <arch/percpu.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/smp.h>
#include <arch/x86_64/trap.h>
#include <kernel/boot.h>
#include <kernel/ktest.h>
#include <kernel/stack_protector.h>
#include <lib/errno.h>
#include <lib/cmdline.h>
#include <mm/kstack.h>

#define PING_TIMEOUT_MS 100

KTEST(smp, cpus_up_match_listed)
{
	const struct arch_smp_info *s = arch_smp_info();
	unsigned int skipped = cmdline_has(boot_info->cmdline, "smp_skip") ? 1 : 0;
	unsigned int up = 0;
	uint64_t mask = 0;

	if (!s->listed) {
		KEXPECT_EQ(t, s->up, 1);
		return;
	}
	KEXPECT_EQ(t, s->up + skipped, s->listed);
	for (unsigned int cpu = 0; cpu < SMP_MAX_CPUS; cpu++)
		if (smp_cpus[cpu].state == SMP_CPU_UP) {
			up++;
			mask |= 1ull << cpu;
		}
	KEXPECT_EQ(t, up, s->up);
	KEXPECT_EQ(t, arch_smp_online(), mask); /* every CPU up takes shootdowns */
}

KTEST(smp, every_ap_answers_a_ping)
{
	unsigned int pinged = 0;

	for (unsigned int cpu = 1; cpu < SMP_MAX_CPUS; cpu++) {
		if (smp_cpus[cpu].state != SMP_CPU_UP)
			continue;
		uint64_t before = smp_cpus[cpu].pings;
		KEXPECT_EQ(t, smp_ping(cpu, PING_TIMEOUT_MS), 0);
		KEXPECT_EQ(t, smp_ping(cpu, PING_TIMEOUT_MS), 0);
		KEXPECT_EQ(t, smp_cpus[cpu].pings, before + 2);
		pinged++;
	}
	KEXPECT_EQ(t, smp_ping(0, PING_TIMEOUT_MS), -EINVAL);
	KEXPECT_EQ(t, pinged + 1, arch_smp_info()->up);
}

KTEST(smp, percpu_areas_and_canaries_distinct)
{
	for (unsigned int a = 1; a < SMP_MAX_CPUS; a++) {
		const struct smp_cpu *c = &smp_cpus[a];
		if (c->state != SMP_CPU_UP)
			continue;
		KEXPECT(t, c->percpu.self == &c->percpu);
		KEXPECT_EQ(t, c->percpu.cpu, a);
		/* The canary its GS showed at bring-up was its own (now its idle thread's). */
		KEXPECT(t, c->seen_gs_canary != stack_protector_boot_canary());
		for (unsigned int b = 1; b < a; b++)
			if (smp_cpus[b].state == SMP_CPU_UP)
				KEXPECT(t, c->seen_gs_canary != smp_cpus[b].seen_gs_canary);
	}
}

/* Each CPU's GDT, TSS and IST tops differ from every other's; ISTs are guarded stacks. */
KTEST(smp, descriptor_tables_and_ist_stacks_distinct)
{
	for (unsigned int a = 0; a < SMP_MAX_CPUS; a++) {
		if (smp_cpus[a].state != SMP_CPU_UP)
			continue;
		KEXPECT(t, gdt_cpu_gdt(a) && gdt_cpu_tss(a));
		for (unsigned int slot = 1; slot <= 3; slot++)
			KEXPECT_EQ(t, kstack_find(gdt_cpu_ist_top(a, slot) - 8, NULL),
				   KSTACK_INSIDE);
		for (unsigned int b = 0; b < a; b++) {
			if (smp_cpus[b].state != SMP_CPU_UP)
				continue;
			KEXPECT(t, gdt_cpu_gdt(a) != gdt_cpu_gdt(b));
			KEXPECT(t, gdt_cpu_tss(a) != gdt_cpu_tss(b));
			for (unsigned int slot = 1; slot <= 3; slot++)
				KEXPECT(t, gdt_cpu_ist_top(a, slot) != gdt_cpu_ist_top(b, slot));
		}
	}
}

/* APs run with the boot CPU's CR0, CR4 and NX/SYSCALL bits, on the kernel's tables. */
KTEST(smp, aps_copy_the_boot_cpu_state)
{
	uint64_t efer_bits = EFER_NXE | 1; /* NXE, SCE */

	for (unsigned int cpu = 1; cpu < SMP_MAX_CPUS; cpu++) {
		const struct smp_cpu *c = &smp_cpus[cpu];
		if (c->state != SMP_CPU_UP)
			continue;
		KEXPECT_EQ(t, c->seen_cr0, smp_boot_state.cr0);
		KEXPECT_EQ(t, c->seen_cr4, smp_boot_state.cr4);
		KEXPECT_EQ(t, c->seen_efer & efer_bits, rdmsr(MSR_EFER) & efer_bits);
		KEXPECT_EQ(t, c->seen_cr3,
			   smp_boot_state.root); /* the trampoline's tables are left */
	}
}
