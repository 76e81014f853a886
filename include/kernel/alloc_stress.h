/*
 * Allocation stress for ktests (kernel/alloc_stress.c): a timer hook that
 * allocates and frees a heap block and a frame on its ticks, and a loop
 * that does the same from a thread, so the allocators' IRQ-safe locks meet
 * interrupts and preemption for real. The timer and thread suites share it.
 */
#pragma once

#include <lib/types.h>

/* What the hook did since alloc_stress_hook_start(). */
struct alloc_stress_hook_stats {
	uint64_t runs;	   /* ticks that allocated */
	uint64_t failures; /* allocations that failed or frees that were refused */
};

/*
 * Chain an allocating hook in front of the current tick hook (the
 * scheduler's); it allocates on one tick in every. => alloc_stress_hook_stop() after.
 */
void alloc_stress_hook_start(unsigned int every);

/* Put the previous tick hook back; returns what the hook did. */
struct alloc_stress_hook_stats alloc_stress_hook_stop(void);

/*
 * Rotate 8 heap blocks and 8 frames for at least min_ms, and on (up to 2 s)
 * until the hook has run min_runs times: a loaded host drops ticks. salt
 * varies the block sizes. Frees everything; returns the failures seen.
 */
long alloc_stress_loop(uint64_t min_ms, uint64_t min_runs, uint64_t salt);
