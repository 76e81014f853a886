/*
 * What CPUs ask of each other once they run threads (include/arch/smp.h):
 * TLB shootdowns as non-maskable interrupts, reschedule interrupts for an
 * idle CPU, requests for cached frames (maskable), and the release of the
 * parked APs into the scheduler. The
 * request itself and its acknowledgement are generic (mm/vmm_shootdown.c);
 * this file only delivers them.
 */
#include <arch/percpu.h>
#include <arch/mmu.h>
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/smp.h>
#include <kernel/panic.h>

#define APIC_ICR_NMI 0x00000400u /* delivery mode NMI: the vector field is ignored */

static volatile uint64_t online = 1; /* the boot CPU takes shootdowns from the start */
static void (*volatile release_entry)(const struct kstack *stack);

uint64_t arch_smp_online(void)
{
	return __atomic_load_n(&online, __ATOMIC_SEQ_CST);
}

/*
 * Join the shootdown set, then drop every TLB entry: a change made before
 * the join sent this CPU nothing, but whatever it cached is gone now.
 */
void smp_online_this_cpu(void)
{
	__atomic_fetch_or(&online, 1ull << arch_percpu()->cpu, __ATOMIC_SEQ_CST);
	arch_tlb_flush_all();
}

void smp_offline(unsigned int cpu)
{
	KASSERT(cpu != 0 && cpu < SMP_MAX_CPUS);
	__atomic_fetch_and(&online, ~(1ull << cpu), __ATOMIC_SEQ_CST);
}

void arch_smp_shootdown_send(uint64_t mask)
{
	for (unsigned int cpu = 0; mask; cpu++, mask >>= 1)
		if (mask & 1)
			apic_send_ipi(smp_cpus[cpu].apic_id, APIC_ICR_NMI | APIC_ICR_ASSERT);
}

void arch_smp_reclaim_send(uint64_t mask)
{
	for (unsigned int cpu = 0; mask; cpu++, mask >>= 1)
		if (mask & 1)
			apic_send_ipi(smp_cpus[cpu].apic_id, VEC_RECLAIM | APIC_ICR_ASSERT);
}

void arch_smp_resched(unsigned int cpu)
{
	KASSERT(cpu < SMP_MAX_CPUS && smp_cpus[cpu].state == SMP_CPU_UP);
	apic_send_ipi(smp_cpus[cpu].apic_id, VEC_RESCHED | APIC_ICR_ASSERT);
}

void arch_tlb_flush_loaded(void)
{
	write_cr3(read_cr3()); /* CR3 bit 63 (keep entries) reads back as 0 */
}

struct percpu *arch_percpu_of(unsigned int cpu)
{
	KASSERT(cpu < SMP_MAX_CPUS);
	return cpu ? &smp_cpus[cpu].percpu : &percpu_boot;
}

void arch_smp_release(void (*entry)(const struct kstack *stack))
{
	__atomic_store_n(&release_entry, entry, __ATOMIC_RELEASE);
	for (unsigned int cpu = 1; cpu < SMP_MAX_CPUS; cpu++)
		if (smp_cpus[cpu].state == SMP_CPU_UP)
			arch_smp_resched(cpu); /* out of its hlt: it finds release_entry set */
}

void smp_ap_enter_scheduler(struct smp_cpu *c)
{
	void (*entry)(const struct kstack *) = __atomic_load_n(&release_entry, __ATOMIC_ACQUIRE);

	if (entry)
		entry(&c->stack); /* does not return */
}
