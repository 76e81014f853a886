/*
 * Shared by the files of the kernel's address space (mm/vmm*.c) only: the
 * tables, their lock, and the end-of-change step. Everyone else uses
 * include/mm/vmm.h.
 */
#pragma once

#include <arch/mmu.h>
#include <arch/percpu.h>
#include <kernel/owned_lock.h>
#include <lib/spinlock.h>

extern struct pgtable vmm_kernel_pt;
extern struct owned_lock vmm_lock;

/* vmm_lock with its holder recorded (include/kernel/owned_lock.h). */
static inline unsigned long vmm_lock_take(void)
{
	return owned_lock_take(&vmm_lock);
}

static inline void vmm_lock_drop(unsigned long irq)
{
	owned_lock_drop(&vmm_lock, irq);
}

static inline bool vmm_lock_held_here(void)
{
	return owned_lock_held_here(&vmm_lock);
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
