/*
 * Shared by the files of user address spaces (mm/aspace*.c) only: the
 * structure, the global lock, the share table and the steps every change
 * ends with. Everyone else uses include/mm/aspace.h.
 */
#pragma once

#include <arch/percpu.h>
#include <kernel/owned_lock.h>
#include <lib/spinlock.h>
#include <mm/aspace.h>
#include <mm/frame_share.h>
#include <mm/pgtable.h>

struct aspace {
	struct pgtable pt;
	struct pt_flush flush;	/* TLB work of the current change */
	paddr_t tables_to_free; /* emptied tables, chained through their first word */
	paddr_t frames_to_free; /* unmapped frames, the same way: freed after the flush */
	bool user;		/* false only for the kernel's space */
	unsigned int pcid;	/* valid while pcid_gen is the current generation */
	uint64_t pcid_gen;	/* 0: never had one */
	/* CPUs whose TLB entries under pcid may be stale: their next load flushes. */
	uint64_t stale_cpus;
	struct aspace *next; /* live user spaces (vmm_lock) */
	unsigned int nregions;
	/* Sorted, disjoint; one spare slot so an insert can merge back under the limit. */
	struct aspace_region regions[ASPACE_MAX_REGIONS + 1];
};

extern struct owned_lock aspace_lock;

/* aspace_lock with its holder recorded (include/kernel/owned_lock.h). */
static inline unsigned long aspace_lock_take(void)
{
	return owned_lock_take(&aspace_lock);
}

static inline void aspace_lock_drop(unsigned long irq)
{
	owned_lock_drop(&aspace_lock, irq);
}

static inline bool aspace_lock_held_here(void)
{
	return owned_lock_held_here(&aspace_lock);
}
extern struct frame_share aspace_share;
extern struct aspace_stats aspace_counters;
/* The next PCID to hand out (tests set it past ARCH_MMU_TAG_MAX to force a rollover). */
extern unsigned int aspace_pcid_next;

/* Page-table flags for a user leaf with prot (PROT_NONE: supervisor-only, read-only). */
uint32_t aspace_pt_flags(unsigned int prot);
/* A zeroed frame, or PADDR_INVALID. */
paddr_t aspace_frame_alloc(void);
/* One owner of the leaf frame pa lets go: the last queues it to be freed after the flush. */
void aspace_frame_put(struct aspace *as, paddr_t pa);
/* With aspace_lock held, after a change to as's tables: flush, then free queued frames. */
void aspace_finish(struct aspace *as);
/* Call fn for every lower-half leaf of as (stops at fn's first non-zero). */
int aspace_walk_lower(struct aspace *as, int (*fn)(const struct pt_leaf *leaf, void *arg),
		      void *arg);
/* The index of the region holding addr, or -1. */
int aspace_region_find(const struct aspace *as, vaddr_t addr);
/* Copy parent's regions into child (clone). */
void aspace_regions_copy(struct aspace *child, const struct aspace *parent);
