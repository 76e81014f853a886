/*
 * The per-CPU frame cache (include/mm/pmm_cache.h, docs/pmm.md). Owns the
 * cache side of a frame's life: claiming a freemap word for a CPU, handing
 * out and taking back its frames without the lock, and giving them back.
 * The bitmaps and their lock stay mm/pmm.c's.
 *
 * A frame of an allocator with caches is in exactly one of these states:
 *
 *	reserved    allocatable 0
 *	free        allocatable 1, freemap 1, in no mask
 *	cached      allocatable 1, freemap 0, in the mask of the cache owning its word
 *	allocated   allocatable 1, freemap 0, in no mask
 *
 * A cache's word changes only under the allocator's lock; its mask only on
 * its own CPU with interrupts off. Plain loads and stores of the mask
 * (relaxed atomics, which compile to ordinary moves) are all the fast
 * paths need.
 */
#include "pmm_internal.h"

#include <lib/errno.h>

int pmm_cache_attach(struct pmm *p, struct pmm_cache *c)
{
	int err = 0;
	unsigned long flags = spin_lock_irqsave(&p->lock);

	if (p->ncaches == PMM_MAX_CACHES) {
		err = -ENOSPC;
	} else {
		*c = (struct pmm_cache){.pmm = p, .word = NONE};
		p->caches[p->ncaches] = c;
		/* Readers without the lock (may_reclaim) see the slot filled first. */
		__atomic_store_n(&p->ncaches, p->ncaches + 1, __ATOMIC_RELEASE);
	}
	spin_unlock_irqrestore(&p->lock, flags);
	return err;
}

/* Return c's frames to the freemap and give its word up. => p's lock held */
static void cache_release(struct pmm *p, struct pmm_cache *c)
{
	uint64_t mask = c->mask;

	if (c->word == NONE)
		return;
	if (mask) {
		pmm_leaf_store(p, c->word, p->freemap.level[0][c->word] | mask);
		p->free += (uint64_t)__builtin_popcountll(mask);
		c->drains++;
	}
	__atomic_store_n(&c->mask, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->word, NONE, __ATOMIC_RELAXED);
}

void pmm_cache_drain(struct pmm *p, struct pmm_cache *c)
{
	unsigned long flags = spin_lock_irqsave(&p->lock);

	cache_release(p, c);
	spin_unlock_irqrestore(&p->lock, flags);
}

/* Is freemap word w owned by a cache other than c? => p's lock held */
static bool owned_elsewhere(const struct pmm *p, const struct pmm_cache *c, uint64_t w)
{
	for (unsigned i = 0; i < p->ncaches; i++)
		if (p->caches[i] != c && p->caches[i]->word == w)
			return true;
	return false;
}

/*
 * Claim the lowest non-empty freemap word for c, take all its free frames
 * (a batch of at most 64) and hand out the lowest. If another cache owns
 * that word (frames freed into it on other CPUs), take just that one
 * frame: a word never has two owners. PADDR_INVALID if no frame is free
 * outside other caches. => c's mask empty, interrupts off
 */
static paddr_t cache_refill(struct pmm *p, struct pmm_cache *c)
{
	unsigned long flags = spin_lock_irqsave(&p->lock);
	paddr_t pa = PADDR_INVALID;
	uint64_t w;

	cache_release(p, c);
	w = pmm_lowest_free_word(p);
	if (w != NONE) {
		uint64_t frames = p->freemap.level[0][w];
		uint64_t first = frames & -frames;
		pa = frame_addr(p, w * 64 + (uint64_t)__builtin_ctzll(frames));
		if (owned_elsewhere(p, c, w)) {
			pmm_leaf_store(p, w, frames & ~first);
			p->free--;
		} else {
			pmm_leaf_store(p, w, 0);
			p->free -= (uint64_t)__builtin_popcountll(frames);
			__atomic_store_n(&c->word, w, __ATOMIC_RELAXED);
			__atomic_store_n(&c->mask, frames & ~first, __ATOMIC_RELAXED);
			c->refills++;
		}
	}
	spin_unlock_irqrestore(&p->lock, flags);
	return pa;
}

paddr_t pmm_cache_alloc(struct pmm *p, struct pmm_cache *c)
{
	paddr_t pa = pmm_cache_take(p, c);

	return pa != PADDR_INVALID ? pa : cache_refill(p, c);
}

int pmm_cache_free(struct pmm *p, struct pmm_cache *c, paddr_t pa, const void *caller)
{
	uint64_t i = frame_index(p, pa);

	if (pmm_cache_put(p, c, pa))
		return 0;
	if (i != NONE && i / 64 == c->word && (c->mask & bit(i))) {
		/* The one refusal only this cache can see; the locked path sees the others. */
		p->ops->report(p->ctx, "double free", pa, caller);
		return -EALREADY;
	}
	return pmm_free_locked(p, pa, caller);
}

bool pmm_check_caches(const struct pmm *p)
{
	for (unsigned i = 0; i < p->ncaches; i++) {
		const struct pmm_cache *c = p->caches[i];
		if (c->pmm != p)
			return false;
		if (c->word == NONE) {
			if (c->mask)
				return false;
			continue;
		}
		if (c->word >= p->freemap.words[0] || (c->mask & ~p->allocatable[c->word]) ||
		    (c->mask & p->freemap.level[0][c->word]))
			return false;
		for (unsigned j = 0; j < i; j++) /* a word has one owner */
			if (p->caches[j]->word == c->word)
				return false;
	}
	return true;
}
