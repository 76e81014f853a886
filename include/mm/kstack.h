/*
 * Guarded kernel stacks (mm/kstack.c). Each stack is KSTACK_SIZE usable
 * bytes with an unmapped guard page just below and just above it, at its
 * own random page-aligned slot in the stack window
 * [boot_info->stack_base, + LAYOUT_STACK_EXTENT), never overlapping another
 * live stack, its guards or the boot stack. Pages are RW, NX, from
 * pmm_kernel, mapped through the vmm.
 *
 * Up to KSTACK_CACHE freed stacks stay mapped in a cache, so the next
 * allocation skips the frame allocator and the page tables. Every stack
 * handed out is zeroed, cached or not: one owner's data never reaches the
 * next.
 *
 * The fault policy (mm/vmm_fault.c) asks kstack_find() which stack a
 * faulting address guards, to name the owner in the overflow report.
 */
#pragma once

#include <boot/boot_info.h>
#include <lib/types.h>

#define KSTACK_SIZE  (64 * 1024)
#define KSTACK_GUARD PAGE_SIZE
#define KSTACK_SPAN  (KSTACK_GUARD + KSTACK_SIZE + KSTACK_GUARD) /* a slot: 18 pages */
#define KSTACK_MAX   1024					 /* stacks live or cached at once */
#define KSTACK_CACHE 4						 /* freed stacks kept mapped */

/* A stack: [bottom, top), 16-byte aligned; the guards are the pages around it. */
struct kstack {
	vaddr_t bottom;
	vaddr_t top;
	const char *owner; /* who runs on it, for reports: "kmain", a thread's name */
};

/* Where an address lies relative to the stacks (kstack_find). */
enum kstack_where {
	KSTACK_NONE,	    /* not in or beside any stack */
	KSTACK_INSIDE,	    /* in [bottom, top) */
	KSTACK_GUARD_BELOW, /* in the guard page below bottom */
	KSTACK_GUARD_ABOVE, /* in the guard page at top */
};

/*
 * Know the stack window and keep the boot stack's pages (and its guard)
 * out of every draw. => after vmm_init(); before any kstack_alloc().
 */
void kstack_init(const struct boot_info *bi);

/*
 * A zeroed stack for owner (a string that outlives the stack) into *ks.
 * 0, or -ENOMEM (no frame or page table), -ENOSPC (KSTACK_MAX stacks, or
 * no free slot found), -EINVAL (before kstack_init); nothing changes on
 * failure.
 */
int kstack_alloc(struct kstack *ks, const char *owner);

/*
 * Give ks back: into the cache if it has room, else unmapped with its
 * frames freed. => nothing runs on it any more. ks is cleared.
 */
void kstack_free(struct kstack *ks);

/* Unmap every cached stack and free its frames; returns how many. */
unsigned int kstack_cache_drain(void);

/*
 * Which stack addr lies in or guards: fills *ks (may be NULL) with it.
 * Takes no lock, so a fault handler may call it at any time.
 */
enum kstack_where kstack_find(vaddr_t addr, struct kstack *ks);

struct kstack_stats {
	unsigned int live;   /* handed out, not freed */
	unsigned int cached; /* freed, still mapped */
};
void kstack_stats(struct kstack_stats *s);
