/*
 * Making memory scarce for a test (kernel/frame_hold.c): take frames from
 * the kernel's frame allocator until only a given number are free, and
 * give them all back afterwards. Large runs are taken without touching
 * them: writing to every frame would make the host back all of the guest's
 * RAM (zeroing 8 GiB under QEMU takes longer than the test).
 */
#pragma once

#include <lib/types.h>

#define FRAME_HOLD_RUNS 64

struct frame_hold {
	paddr_t run[FRAME_HOLD_RUNS]; /* runs taken with pmm_alloc_run */
	uint64_t count[FRAME_HOLD_RUNS];
	size_t runs;
	paddr_t singles; /* single frames, chained through their first word */
	uint64_t held;	 /* frames held in all */
};

/* Take frames until exactly keep are free (or as close as the allocator allows). */
void frame_hold(struct frame_hold *h, uint64_t keep);

/* Give every held frame back. */
void frame_hold_release(struct frame_hold *h);

/*
 * Empty every CPU's allocator caches (frame cache, heap front cache,
 * object-cache magazines) and the kernel-stack cache, each on its own CPU,
 * so that the free-frame count is exact whatever CPU a test and its
 * processes ran on.
 */
void frame_caches_drain_all(void);
