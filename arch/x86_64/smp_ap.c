/*
 * An AP's side of the bring-up (arch/x86_64/smp.c starts it): from the
 * trampoline's jump to a parked CPU. It takes the boot CPU's control
 * registers, PAT and page tables, installs its own per-CPU area, GDT, TSS
 * and the shared IDT, sets the SYSCALL MSRs, enables its local APIC with
 * every local interrupt masked, says it is up and halts. The only
 * interrupts it then takes are the ping IPI (apic.c), which it counts, a
 * shootdown NMI, and the reschedule IPI by which the scheduler releases it
 * (arch_smp_release) to run threads.
 */
#include <arch/context.h>
#include <arch/percpu.h>
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/smp.h>
#include <mm/kmalloc.h>
#include <mm/pmm_boot.h>
#include <arch/x86_64/trap.h>

/*
 * Halt with interrupts on only while halted: an IPI wakes it, then off
 * again; once the scheduler releases the APs, this flow becomes the
 * CPU's idle thread (smp_ap_enter_scheduler does not return then).
 */
static __noreturn void smp_ap_park(struct smp_cpu *c)
{
	for (;;) {
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		smp_ap_enter_scheduler(c);
	}
}

static __noreturn void smp_ap_setup(struct smp_cpu *c)
{
	gdt_cpu_load(c->percpu.cpu);
	__asm__ volatile("lidt %0" : : "m"(smp_boot_state.idtr));
	arch_syscall_init();
	pmm_boot_cpu_init(); /* this CPU's allocator caches, before it runs a thread */
	kmalloc_cpu_init();
	apic_ap_enable();
	smp_online_this_cpu(); /* the IDT is loaded: shootdown NMIs can be taken */
	c->seen_cr0 = read_cr0();
	c->seen_cr4 = read_cr4();
	c->seen_efer = rdmsr(MSR_EFER);
	c->seen_cr3 = read_cr3();
	c->seen_gs_canary = arch_percpu()->stack_canary;
	__atomic_store_n(&c->state, SMP_CPU_UP, __ATOMIC_RELEASE);
	smp_ap_park(c);
}

/*
 * Unprotected: until arch_percpu_install() the GS base is 0 and no canary
 * exists. The kernel's tables replace the trampoline's first, so no
 * lower-half mapping survives on this CPU.
 */
__attribute__((no_stack_protector)) __noreturn void smp_ap_main(struct smp_cpu *c)
{
	const struct smp_boot_state *s = &smp_boot_state;

	write_cr4(s->cr4);
	write_cr3(s->root);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | (s->efer & EFER_NXE));
	write_cr0(s->cr0); /* clears the CD and NW bits INIT set */
	if (s->pat) {
		wbinvd(); /* SDM 11.12.4, as the boot CPU did */
		wrmsr(MSR_PAT, s->pat);
		wbinvd();
	}
	arch_percpu_install(&c->percpu);
	smp_ap_setup(c);
}

void smp_ping_received(void)
{
	smp_cpus[arch_percpu()->cpu].pings++;
}
