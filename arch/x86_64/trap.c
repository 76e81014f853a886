/*
 * Trap dispatch: interrupts (vectors 0x20 and up) go to the APIC's
 * dispatcher (arch/x86_64/apic.c), which acknowledges them, and then may
 * switch threads (sched_preempt_from_irq); int3 is counted and returns; a double fault is
 * reported by fault_double(); every other exception goes to fault_handle()
 * (arch/x86_64/fault.c), which resolves it (a demand-zero page through the
 * fault policy, a probe's fixup) or panics with a classified report.
 */
#include <arch/percpu.h>
#include <arch/arch.h>
#include <arch/uaccess.h>
#include <arch/x86_64/apic.h>
#include <arch/x86_64/trap.h>
#include <kernel/console.h>
#include <kernel/fault.h>
#include <kernel/sched.h>
#include <mm/vmm_shootdown.h>

static uint64_t breakpoints;

uint64_t arch_breakpoint_count(void)
{
	return breakpoints;
}

void trap_dispatch(struct trap_frame *f)
{
	/*
	 * Ring 3 may enter with RFLAGS.AC set, and an interrupt may arrive inside
	 * a user copy: the handler runs with SMAP on either way. IRET restores
	 * the interrupted AC.
	 */
	arch_user_access_end();
	if (f->vector >= VEC_PIC_BASE) {
		apic_interrupt(f->vector); /* the EOI is sent: the APIC may deliver again */
		/* Still on the interrupted thread's stack, interrupts off: it resumes here. */
		sched_preempt_from_irq();
		return;
	}
	switch (f->vector) {
	case VEC_BP:
		breakpoints++;
		kdebug("breakpoint at %#llx", (unsigned long long)f->rip - 1);
		return;
	case VEC_NMI:
		if (vmm_shootdown_receive()) /* another CPU's TLB shootdown (smp_ipi.c) */
			return;
		fault_handle(f); /* any other NMI is reported */
		return;
	case VEC_DF:
		fault_double(f); /* does not return */
	default:
		fault_handle(f); /* returns only if the fault was resolved */
		return;
	}
}
