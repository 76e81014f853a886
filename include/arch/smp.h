/*
 * Other CPUs, from generic code's side (arch/x86_64/smp.c, smp_ipi.c): the
 * application processors (APs) start, set themselves up like the boot CPU
 * and park until the scheduler releases them to run threads; TLB
 * shootdowns and reschedule interrupts between CPUs.
 */
#pragma once

#include <boot/boot_info.h>
#include <lib/types.h>
#include <mm/kstack.h>

#define SMP_MAX_CPUS 64 /* CPU numbers are 0 (the boot CPU) .. SMP_MAX_CPUS - 1 */

/*
 * Keep the trampoline's pages below 1 MiB out of the frame allocator: they
 * are marked boot data in bi's memory map. => before pmm_boot_init().
 * Without a free low run there is no trampoline: the boot CPU runs alone.
 */
void arch_smp_reserve_low(struct boot_info *bi);

/*
 * Find the CPUs (ACPI MADT), start each other one and wait until it is
 * parked; a CPU that does not answer in time is reported and skipped.
 * Options: smp_skip=N leaves CPU N unstarted (tests the timeout path),
 * nosmp starts none. => after kmalloc, kstack, timer and random init;
 * interrupts off; before the W^X audit (no lower-half mapping is left).
 */
void arch_smp_init(const char *cmdline);

struct arch_smp_info {
	unsigned int listed;	       /* enabled CPUs the MADT lists (0: no MADT) */
	unsigned int up;	       /* CPUs running, the boot CPU included */
	uint64_t bringup_us;	       /* the whole bring-up, emulated time under QEMU */
	uint64_t cpu_us[SMP_MAX_CPUS]; /* each AP from INIT to parked; 0 if not up */
};

const struct arch_smp_info *arch_smp_info(void);

/*
 * The CPUs that take TLB shootdowns, as a mask of CPU numbers: every CPU
 * that is up (an AP joins once its IDT is loaded, then flushes its whole
 * TLB, so nothing it cached before is left behind).
 */
uint64_t arch_smp_online(void);

/*
 * Ask each CPU in mask for a TLB shootdown: it calls
 * vmm_shootdown_receive() even with interrupts off (a non-maskable
 * interrupt), so a CPU spinning on a lock the sender holds still answers.
 */
void arch_smp_shootdown_send(uint64_t mask);

/*
 * Interrupt each CPU in mask so that it calls remote_reclaim_receive():
 * an ordinary (maskable) interrupt, taken only where that CPU has
 * interrupts on, hence never inside its caches' fast paths nor under a
 * spinlock (mm/remote_reclaim.c).
 */
void arch_smp_reclaim_send(uint64_t mask);

/* Interrupt CPU cpu so that it looks at its need_resched (its idle thread halts). */
void arch_smp_resched(unsigned int cpu);

/*
 * Let the parked APs run threads: each calls entry on its parking stack
 * (which becomes its idle thread's) with interrupts off. => sched_init.
 */
void arch_smp_release(void (*entry)(const struct kstack *stack));
