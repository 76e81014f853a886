/*
 * Frames in other CPUs' frame caches, asked back (mm/pmm_remote.c): the
 * reclaim hook of pmm_kernel (include/mm/pmm.h) and the interrupt that
 * answers it. A CPU's cache is touched only by that CPU with interrupts
 * off, so another CPU never drains it: it asks, with an ordinary
 * interrupt, and waits for the answer as long as waiting is safe
 * (docs/design.md, "Frames in other CPUs' caches").
 */
#pragma once

#include <lib/types.h>

/*
 * pmm_kernel's reclaim hook: ask every other CPU whose frame cache holds
 * frames to give them back, and wait until they have, until a frame is
 * free outside the caches, or until the bound for the caller's context
 * has passed (interrupts off: 50 ms, since the caller may hold a lock a
 * target spins on; on: 1 s, then a warning). Meanwhile it answers
 * requests made of this CPU. => no pmm lock held.
 */
void pmm_remote_reclaim(void *ctx);

/*
 * This CPU was asked for its cached frames (the reclaim interrupt, or a
 * requester's own wait): give them back if it was. Returns whether it
 * was asked. => interrupts off, outside this CPU's cache fast path.
 */
bool pmm_remote_receive(void);

struct pmm_remote_stats {
	uint64_t requests;	  /* reclaims that asked at least one CPU */
	uint64_t asked;		  /* CPUs asked, summed over the requests */
	uint64_t answers;	  /* caches given back on request */
	uint64_t early;		  /* waits ended by a frame freed before every answer */
	uint64_t timeouts;	  /* waits ended by their bound */
	uint64_t max_wait_cycles; /* the longest wait, TSC cycles (emulated under QEMU) */
};

void pmm_remote_stats(struct pmm_remote_stats *s);
