/*
 * What mm/pmm.c shares with the per-CPU frame cache (mm/pmm_cache.c):
 * frame numbering and the two bitmap operations the cache needs. Not an
 * API: everything else goes through include/mm/pmm.h.
 */
#pragma once

#include <arch/irq.h>
#include <mm/pmm.h>

#define NONE UINT64_MAX
#define ALL  UINT64_MAX /* a word of 64 free frames */

static inline uint64_t bit(uint64_t pos)
{
	return 1ull << (pos % 64);
}

/* The frame index of pa in p, or NONE if pa is misaligned or outside. */
static inline uint64_t frame_index(const struct pmm *p, paddr_t pa)
{
	if (!IS_ALIGNED(pa, PAGE_SIZE) || (pa >> PAGE_SHIFT) < p->base_frame ||
	    (pa >> PAGE_SHIFT) - p->base_frame >= p->nframes)
		return NONE;
	return (pa >> PAGE_SHIFT) - p->base_frame;
}

/* The first index of count frames from pa, all inside p; NONE if not. */
static inline uint64_t range_index(const struct pmm *p, paddr_t pa, uint64_t count)
{
	uint64_t i = frame_index(p, pa);

	if (i == NONE || count == 0 || count > p->nframes - i)
		return NONE;
	return i;
}

static inline paddr_t frame_addr(const struct pmm *p, uint64_t i)
{
	return (p->base_frame + i) << PAGE_SHIFT;
}

/*
 * Store val in freemap word w and keep both summaries and the low_word
 * hint right. => p's lock held.
 */
void pmm_leaf_store(struct pmm *p, uint64_t w, uint64_t val);

/* The lowest non-empty freemap word, NONE if all are empty. => p's lock held. */
uint64_t pmm_lowest_free_word(struct pmm *p);

/* pmm_free() without the cache: the locked path. */
int pmm_free_locked(struct pmm *p, paddr_t pa, const void *caller);

/*
 * The frames of freemap word w that sit in an attached cache. => p's lock
 * held (another CPU's mask may change under it only by that CPU taking or
 * returning a frame of its own word; docs/pmm.md says why that is safe).
 */
static inline uint64_t pmm_cached_bits(const struct pmm *p, uint64_t w)
{
	uint64_t bits = 0;

	for (unsigned i = 0; i < p->ncaches; i++)
		if (__atomic_load_n(&p->caches[i]->word, __ATOMIC_RELAXED) == w)
			bits |= __atomic_load_n(&p->caches[i]->mask, __ATOMIC_RELAXED);
	return bits;
}

/* The caches' invariants, for pmm_check(). => p's lock held. */
bool pmm_check_caches(const struct pmm *p);

/*
 * The cache's fast paths, inline in pmm_alloc()/pmm_free(): only c's own
 * fields are written, no lock, no atomic instruction. => interrupts off
 */

/* A frame from c's word; PADDR_INVALID if c is empty (then refill). */
static inline paddr_t pmm_cache_take(const struct pmm *p, struct pmm_cache *c)
{
	uint64_t mask = c->mask;

	if (!mask)
		return PADDR_INVALID;
	__atomic_store_n(&c->mask, mask & (mask - 1), __ATOMIC_RELAXED);
	return frame_addr(p, c->word * 64 + (uint64_t)__builtin_ctzll(mask));
}

/*
 * Put pa back into c if it is an allocated frame of c's word; false for
 * anything else (another word, misaligned, reserved, free or cached),
 * which pmm_cache_free() sorts out. A pa below the base wraps to an index
 * far past any word.
 */
static inline bool pmm_cache_put(const struct pmm *p, struct pmm_cache *c, paddr_t pa)
{
	uint64_t i = (pa >> PAGE_SHIFT) - p->base_frame, w = c->word;

	if ((pa & (PAGE_SIZE - 1)) || i / 64 != w)
		return false;
	uint64_t busy = c->mask | __atomic_load_n(&p->freemap.level[0][w], __ATOMIC_RELAXED);
	if (!(p->allocatable[w] & ~busy & bit(i)))
		return false;
	__atomic_store_n(&c->mask, c->mask | bit(i), __ATOMIC_RELAXED);
	return true;
}
