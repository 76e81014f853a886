/*
 * The per-CPU frame cache in front of pmm_alloc()/pmm_free() (design in
 * docs/pmm.md, "Per-CPU caches"). A cache owns at most one freemap word of
 * its allocator at a time: refill claims the lowest non-empty word and
 * takes all its free frames (up to 64, a bounded batch) into its mask;
 * allocation takes the lowest bit of the mask; a free of a frame of that
 * word sets its bit again. Both fast paths touch only the CPU's own cache,
 * with interrupts off: no lock, no atomic instruction.
 *
 * The bitmaps stay the single truth. A cached frame is clear in the
 * freemap (so locked allocations never hand it out) and set in exactly one
 * cache's mask, and the allocator knows every attached cache, so a free of
 * a cached frame is refused as a double free on every path. Cached frames
 * count as free in pmm_stats().
 *
 * Kept in the per-CPU area (include/kernel/percpu.h) in the kernel; host
 * tests, fuzzers and the bench hand out their own through the ops' cache
 * hook.
 */
#pragma once

#include <lib/types.h>

struct pmm;

struct pmm_cache {
	struct pmm *pmm;	  /* the allocator it is attached to; NULL: not in use */
	uint64_t word;		  /* the freemap word it owns, UINT64_MAX if none */
	uint64_t mask;		  /* frames 64 * word + i it holds, one bit each */
	uint64_t refills, drains; /* claims of a word, and returns of a non-empty mask */
};

/* The most caches (CPUs) one allocator takes. */
#define PMM_MAX_CACHES 64

/*
 * Attach c, which must be zeroed or drained, to p: from now on the ops'
 * cache hook may return it. Returns 0, -ENOSPC if p has PMM_MAX_CACHES.
 */
int pmm_cache_attach(struct pmm *p, struct pmm_cache *c);

/* Give c's frames back to p's bitmaps and its word up; c stays attached. */
void pmm_cache_drain(struct pmm *p, struct pmm_cache *c);

/* pmm_alloc() through c: a frame from its word, refilled if empty. */
paddr_t pmm_cache_alloc(struct pmm *p, struct pmm_cache *c);

/* pmm_free() through c: into c if the frame is of its word, else locked. */
int pmm_cache_free(struct pmm *p, struct pmm_cache *c, paddr_t pa, const void *caller);
