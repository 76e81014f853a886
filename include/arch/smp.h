/*
 * Other CPUs, from generic code's side (arch/x86_64/smp.c). Bring-up only:
 * the application processors (APs) start, set themselves up like the boot
 * CPU and park, answering a ping; they run no threads yet (the scheduler is
 * single-CPU, kernel/sched.c).
 */
#pragma once

#include <boot/boot_info.h>
#include <lib/types.h>

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
