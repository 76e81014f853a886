/*
 * Shared by the files of the kernel's address space (mm/vmm*.c) only: the
 * tables, their lock, and the end-of-change step. Everyone else uses
 * include/mm/vmm.h.
 */
#pragma once

#include <arch/mmu.h>
#include <arch/percpu.h>
#include <lib/spinlock.h>

extern struct pgtable vmm_kernel_pt;
extern struct spinlock vmm_lock;
extern volatile unsigned int vmm_lock_cpu; /* the holder's CPU number + 1; 0: free */

/*
 * vmm_lock, taken and dropped with its holder recorded, so that the fault
 * path can tell "held by the code that faulted on this CPU" (it would
 * deadlock) from "held by another CPU" (it only has to wait).
 */
static inline unsigned long vmm_lock_take(void)
{
	unsigned long irq = spin_lock_irqsave(&vmm_lock);

	vmm_lock_cpu = arch_percpu()->cpu + 1;
	return irq;
}

static inline void vmm_lock_drop(unsigned long irq)
{
	vmm_lock_cpu = 0;
	spin_unlock_irqrestore(&vmm_lock, irq);
}

/* True if this CPU holds vmm_lock. */
static inline bool vmm_lock_held_here(void)
{
	return vmm_lock_cpu == arch_percpu()->cpu + 1;
}

/* Point vmm_kernel_pt at a root, with frames from the frame allocator. */
void vmm_tables_setup(paddr_t root);
/* A zeroed table frame from the frame allocator, counted. */
paddr_t vmm_table_alloc(void);
/* With vmm_lock held, after a change: flush the TLB, free emptied tables. */
void vmm_finish_change(void);
void vmm_count_demand_fault(void);
/*
 * With vmm_lock held, after a change to the kernel's tables (mm/aspace.c):
 * copy the kernel root's upper-half entries into every user root if any
 * of them changed.
 */
void aspace_sync_kernel_half(void);
