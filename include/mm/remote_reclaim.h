/*
 * What other CPUs' caches hold, asked back (mm/remote_reclaim.c): frames
 * in their frame caches (pmm_kernel's reclaim hook, include/mm/pmm.h) and
 * blocks in their kernel-heap front caches (the heap's reclaim hook,
 * include/mm/heap.h), and the interrupt that answers both. A CPU's caches
 * are touched only by that CPU with interrupts off, so another CPU never
 * drains them: it asks, with an ordinary interrupt, and waits for the
 * answer as long as waiting is safe (docs/design.md, "Frames in other
 * CPUs' caches").
 */
#pragma once

#include <lib/types.h>

enum remote_kind {
	REMOTE_FRAMES, /* frame caches: answered first, they need only the pmm lock */
	REMOTE_HEAP,   /* kernel-heap front caches: the heap's lock */
	REMOTE_KINDS,
};

/*
 * pmm_kernel's reclaim hook: ask every other CPU whose frame cache holds
 * frames to give them back, and wait until they have, until a frame is
 * free outside the caches, or until the bound for the caller's context
 * has passed (interrupts off: 50 ms, since the caller may hold a lock a
 * target spins on; on: 1 s, then a warning). Meanwhile it answers frame
 * requests made of this CPU. => no pmm lock held.
 */
void remote_reclaim_frames(void *ctx);

/*
 * The kernel heap's reclaim hook: the same for the blocks other CPUs'
 * heap front caches hold (they go back to the heap's lists), with the
 * same bounds; meanwhile it answers frame and heap requests made of this
 * CPU. => the heap's lock not held (the heap calls it without).
 */
void remote_reclaim_heap(void *ctx);

/*
 * This CPU was asked for what its caches hold (the reclaim interrupt):
 * give back every kind it was asked for, frames first. Returns whether
 * it was asked. => interrupts off, outside its caches' fast paths, no
 * spinlock held (the heap's answer takes the heap's lock).
 */
bool remote_reclaim_receive(void);

struct remote_reclaim_stats {
	uint64_t requests;	  /* reclaims that asked at least one CPU */
	uint64_t asked;		  /* CPUs asked, summed over the requests */
	uint64_t answers;	  /* caches given back on request */
	uint64_t early;		  /* waits ended early: a frame freed before every answer */
	uint64_t timeouts;	  /* waits ended by their bound */
	uint64_t max_wait_cycles; /* the longest wait, TSC cycles (emulated under QEMU) */
};

void remote_reclaim_stats(enum remote_kind kind, struct remote_reclaim_stats *s);
