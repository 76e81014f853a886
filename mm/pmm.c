/*
 * The physical frame allocator (include/mm/pmm.h; design in docs/pmm.md).
 * Owns the bitmaps in the metadata block it is given and nothing else: it
 * never touches the frames it hands out, so it works the same over real
 * RAM in the kernel and over a simulated map on the host.
 *
 * Three structures, bit i of word w standing for position 64 * w + i:
 *
 *	freemap      level[0]: frame free; levels above: word below non-zero
 *	fullmap      level[0]: freemap word all ones (64 free frames);
 *	             levels above: word below non-zero
 *	allocatable  frame may ever be handed out
 *
 * Invariants (pmm_check): every summary bit matches the word it stands
 * for; fullmap matches the freemap; free implies allocatable; bits past the
 * end are 0; the counters match the bitmaps; frame 0 is never allocatable.
 */
#include "pmm_internal.h"

#include <lib/errno.h>
#include <lib/string.h>

#define BASE_ALIGN (1ull << 18) /* frames: bit 0 sits on a 1 GiB boundary */

/* Types the allocator may ever be asked to release; others are never tracked. */
static bool tracked_type(uint32_t type)
{
	return type >= MEMMAP_USABLE && type <= MEMMAP_KERNEL;
}

/* The frames [*first, *end) spanned by trackable RAM; false if there is none. */
static bool map_span(const struct memmap_entry *map, size_t n, uint64_t *first, uint64_t *end)
{
	*first = NONE;
	*end = 0;
	for (size_t i = 0; i < n; i++) {
		if (!tracked_type(map[i].type))
			continue;
		*first = MIN(*first, map[i].base >> PAGE_SHIFT);
		*end = MAX(*end, (map[i].base + map[i].length) >> PAGE_SHIFT);
	}
	if (*first == NONE)
		return false;
	*first = ALIGN_DOWN(*first, BASE_ALIGN);
	return true;
}

/* Size the levels of a tree over bits positions; returns its total words. */
static uint64_t tree_size(struct pmm_tree *t, uint64_t bits)
{
	uint64_t total = 0;

	t->levels = 0;
	do {
		bits = (bits + 63) / 64;
		t->words[t->levels++] = bits;
		total += bits;
	} while (bits > 1 && t->levels < PMM_MAX_LEVELS);
	return total;
}

/* Sizes of all three structures for nframes frames; returns total words. */
static uint64_t layout_words(struct pmm *p, uint64_t nframes)
{
	uint64_t total = tree_size(&p->freemap, nframes);

	total += tree_size(&p->fullmap, p->freemap.words[0]);
	return total + p->freemap.words[0]; /* the allocatable bitmap */
}

/* Point the tree's levels into the metadata at next; returns what follows. */
static uint64_t *tree_place(struct pmm_tree *t, uint64_t *next)
{
	for (unsigned i = 0; i < t->levels; i++) {
		t->level[i] = next;
		next += t->words[i];
	}
	return next;
}

size_t pmm_metadata_size(const struct memmap_entry *map, size_t n)
{
	uint64_t first, end;
	struct pmm scratch;

	if (!map_span(map, n, &first, &end))
		return 0;
	return ALIGN_UP(layout_words(&scratch, end - first) * sizeof(uint64_t), PAGE_SIZE);
}

int pmm_init(struct pmm *p, const struct memmap_entry *map, size_t n, void *meta, size_t meta_size,
	     const struct pmm_ops *ops, void *ctx)
{
	uint64_t first, end;
	struct pmm fresh = {.ops = ops, .ctx = ctx};

	if (!ops || !ops->report)
		return -EINVAL;
	if (!map_span(map, n, &first, &end))
		return -ENOMEM;
	size_t bytes = layout_words(&fresh, end - first) * sizeof(uint64_t);
	if (meta_size < bytes)
		return -ENOSPC;
	*p = fresh;
	memset(meta, 0, bytes);
	p->base_frame = first;
	p->nframes = end - first;
	p->allocatable = tree_place(&p->fullmap, tree_place(&p->freemap, meta));
	p->low_word = NONE;
	p->metadata_bytes = bytes;
	return 0;
}

/* --- bit trees ------------------------------------------------------------- */

static bool test_bit(const uint64_t *bm, uint64_t pos)
{
	return bm[pos / 64] & bit(pos);
}

/* Set bit pos of level lv, and the bits above while the words were empty. */
static void tree_set(struct pmm_tree *t, unsigned lv, uint64_t pos)
{
	for (; lv < t->levels; lv++, pos /= 64) {
		uint64_t old = t->level[lv][pos / 64];
		t->level[lv][pos / 64] = old | bit(pos);
		if (old)
			return;
	}
}

/* Clear bit pos of level lv, and the bits above while the words become empty. */
static void tree_clear(struct pmm_tree *t, unsigned lv, uint64_t pos)
{
	for (; lv < t->levels; lv++, pos /= 64) {
		t->level[lv][pos / 64] &= ~bit(pos);
		if (t->level[lv][pos / 64])
			return;
	}
}

/* The lowest set position of the tree's level 0 at or after pos; NONE if none. */
static uint64_t tree_next(const struct pmm_tree *t, uint64_t pos)
{
	unsigned lv = 0;

	if (pos / 64 >= t->words[0])
		return NONE;
	for (;;) { /* climb until a word has a set bit at or after pos */
		uint64_t hits = t->level[lv][pos / 64] & (ALL << (pos % 64));
		if (hits) {
			pos = pos / 64 * 64 + __builtin_ctzll(hits);
			break;
		}
		pos = pos / 64 + 1; /* the next word of this level, as a position one level up */
		if (++lv == t->levels || pos >= t->words[lv - 1])
			return NONE;
	}
	while (lv-- > 0) /* descend to the lowest set bit below */
		pos = pos * 64 + __builtin_ctzll(t->level[lv][pos]);
	return pos;
}

/*
 * Store val in freemap word w and keep both summaries right: the
 * freemap's when the word turns empty or non-empty, the fullmap when it
 * turns all-free or stops being so.
 */
void pmm_leaf_store(struct pmm *p, uint64_t w, uint64_t val)
{
	uint64_t old = p->freemap.level[0][w];

	p->freemap.level[0][w] = val;
	if (val && w < p->low_word)
		p->low_word = w;
	if (!old && val)
		tree_set(&p->freemap, 1, w);
	else if (old && !val)
		tree_clear(&p->freemap, 1, w);
	if (val == ALL && old != ALL)
		tree_set(&p->fullmap, 0, w);
	else if (old == ALL && val != ALL)
		tree_clear(&p->fullmap, 0, w);
}

/* The bits of word w that lie in positions [from, to). */
static uint64_t word_mask(uint64_t w, uint64_t from, uint64_t to)
{
	uint64_t lo = MAX(from, w * 64) - w * 64;
	uint64_t hi = MIN(to, w * 64 + 64) - w * 64;

	return hi - lo == 64 ? ALL : ((1ull << (hi - lo)) - 1) << lo;
}

/* First position in [from, to) whose bit equals want; NONE if there is none. */
static uint64_t bits_find(const uint64_t *bm, uint64_t from, uint64_t to, bool want)
{
	for (uint64_t w = from / 64; from < to && w <= (to - 1) / 64; w++) {
		uint64_t hits = (want ? bm[w] : ~bm[w]) & word_mask(w, from, to);
		if (hits)
			return w * 64 + __builtin_ctzll(hits);
	}
	return NONE;
}

/* Mark frames [from, to) free (free true) or allocated. */
static void leaf_range(struct pmm *p, uint64_t from, uint64_t to, bool free)
{
	for (uint64_t w = from / 64; w <= (to - 1) / 64; w++) {
		uint64_t m = word_mask(w, from, to), old = p->freemap.level[0][w];
		pmm_leaf_store(p, w, free ? old | m : old & ~m);
	}
}

/* --- finding runs --------------------------------------------------------- */

/* The lowest index at or after i that lies on an align-frame physical boundary. */
static uint64_t align_index(const struct pmm *p, uint64_t i, uint64_t align)
{
	return ALIGN_UP(p->base_frame + i, align) - p->base_frame;
}

/*
 * Is the aligned run from i free? Returns i if so, NONE if it cannot fit
 * below the end, or the first busy frame in it.
 */
static uint64_t try_run(const struct pmm *p, uint64_t i, uint64_t count, bool *found)
{
	*found = false;
	if (i >= p->nframes || count > p->nframes - i)
		return NONE;
	uint64_t busy = bits_find(p->freemap.level[0], i, i + count, false);
	*found = busy == NONE;
	return *found ? i : busy;
}

/* Short runs: try each free frame (in order, through the summary) as a start. */
static uint64_t find_short_run(const struct pmm *p, uint64_t count, uint64_t align)
{
	bool found;

	for (uint64_t i = tree_next(&p->freemap, 0); i != NONE;) {
		i = try_run(p, align_index(p, i, align), count, &found);
		if (found || i == NONE)
			return i;
		i = tree_next(&p->freemap, i + 1);
	}
	return NONE;
}

/*
 * Long runs always contain a whole free word: try each such word (through
 * the fullmap), starting the run as low as the free frames before it allow.
 * Fragmented memory with no free word costs one look at the fullmap.
 */
static uint64_t find_long_run(const struct pmm *p, uint64_t count, uint64_t align)
{
	const uint64_t *leaf = p->freemap.level[0];
	bool found;

	for (uint64_t w = tree_next(&p->fullmap, 0); w != NONE;) {
		uint64_t start = w * 64;
		if (w > 0 && leaf[w - 1] != ALL) /* free frames at the top of the word before */
			start -= __builtin_clzll(~leaf[w - 1]);
		uint64_t i = try_run(p, align_index(p, start, align), count, &found);
		if (found || i == NONE)
			return i;
		w = tree_next(&p->fullmap, i / 64 + 1); /* a later run starts after i */
	}
	return NONE;
}

/* The lowest run of count free frames on an align-frame boundary. */
static uint64_t find_run(const struct pmm *p, uint64_t count, uint64_t align)
{
	/* A run of 127 frames, or of 64 starting on a word, covers a whole word. */
	if (count >= 127 || (count >= 64 && align >= 64))
		return find_long_run(p, count, align);
	return find_short_run(p, count, align);
}

/* --- the API ------------------------------------------------------------------ */

int pmm_release(struct pmm *p, paddr_t base, uint64_t length)
{
	if (!IS_ALIGNED(length, PAGE_SIZE))
		return -EINVAL;
	uint64_t from = range_index(p, base, length >> PAGE_SHIFT);
	if (from == NONE)
		return -EINVAL;
	uint64_t to = from + (length >> PAGE_SHIFT);
	if (frame_addr(p, from) == 0)
		from++; /* frame 0 stays reserved: too much code reads 0 as "none" */

	int err = 0;
	unsigned long flags = spin_lock_irqsave(&p->lock);
	if (from == to)
		goto out;
	if (bits_find(p->allocatable, from, to, true) != NONE) {
		err = -EEXIST;
		goto out;
	}
	for (uint64_t w = from / 64; w <= (to - 1) / 64; w++)
		p->allocatable[w] |= word_mask(w, from, to);
	leaf_range(p, from, to, true);
	p->managed += to - from;
	p->free += to - from;
out:
	spin_unlock_irqrestore(&p->lock, flags);
	return err;
}

/*
 * The lowest non-empty freemap word, NONE if all are empty. Usually the
 * low_word hint itself; otherwise the summary leads from the hint to the
 * next non-empty word, which is then the new hint.
 */
uint64_t pmm_lowest_free_word(struct pmm *p)
{
	if (p->low_word >= p->freemap.words[0])
		return NONE;
	if (p->freemap.level[0][p->low_word])
		return p->low_word;
	uint64_t i = tree_next(&p->freemap, p->low_word * 64);
	p->low_word = i == NONE ? NONE : i / 64;
	return p->low_word;
}

/* This CPU's attached cache, or NULL. => interrupts off */
static struct pmm_cache *this_cache(struct pmm *p)
{
	struct pmm_cache *c = p->ops->cache ? p->ops->cache(p->ctx) : NULL;

	return c && c->pmm == p ? c : NULL;
}

/* One try at a frame: this CPU's cache (refilled if empty), else the locked path. */
static inline __attribute__((always_inline)) paddr_t alloc_once(struct pmm *p)
{
	paddr_t pa = PADDR_INVALID;

	if (p->ncaches) {
		unsigned long irq = arch_irq_save();
		struct pmm_cache *c = this_cache(p);
		if (c) {
			pa = pmm_cache_take(p, c);
			if (pa == PADDR_INVALID)
				pa = pmm_cache_alloc(p, c); /* refill */
		}
		arch_irq_restore(irq);
		if (c)
			return pa;
	}
	unsigned long flags = spin_lock_irqsave(&p->lock);
	uint64_t w = pmm_lowest_free_word(p);

	if (w != NONE) {
		uint64_t word = p->freemap.level[0][w];
		pmm_leaf_store(p, w, word & (word - 1)); /* clear the lowest set bit */
		p->free--;
		pa = frame_addr(p, w * 64 + __builtin_ctzll(word));
	}
	spin_unlock_irqrestore(&p->lock, flags);
	return pa;
}

/*
 * Whether an allocation that failed may get frames from the caches: the
 * ops can ask for them and some cache holds frames (a hint, read without
 * the lock: only the owners change their masks, and a cache attached
 * meanwhile is empty).
 */
static bool may_reclaim(const struct pmm *p)
{
	unsigned n = __atomic_load_n(&p->ncaches, __ATOMIC_ACQUIRE);

	if (!p->ops->reclaim)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (__atomic_load_n(&p->caches[i]->mask, __ATOMIC_RELAXED))
			return true;
	return false;
}

/* The slow path of a failed pmm_alloc(): the caches' frames asked back, one more try. */
static __attribute__((noinline)) paddr_t alloc_after_reclaim(struct pmm *p)
{
	if (!may_reclaim(p))
		return PADDR_INVALID;
	p->ops->reclaim(p->ctx); /* without the lock: the owners need it to give frames back */
	return alloc_once(p);
}

paddr_t pmm_alloc(struct pmm *p)
{
	paddr_t pa = alloc_once(p);

	return __builtin_expect(pa != PADDR_INVALID, 1) ? pa : alloc_after_reclaim(p);
}

/* One try at a run, under the lock. => arguments checked */
static paddr_t alloc_run_once(struct pmm *p, uint64_t count, uint64_t align)
{
	paddr_t pa = PADDR_INVALID;
	unsigned long flags = spin_lock_irqsave(&p->lock);

	if (count <= p->free) {
		uint64_t i = find_run(p, count, align >> PAGE_SHIFT);
		if (i != NONE) {
			leaf_range(p, i, i + count, false);
			p->free -= count;
			pa = frame_addr(p, i);
		}
	}
	spin_unlock_irqrestore(&p->lock, flags);
	return pa;
}

paddr_t pmm_alloc_run(struct pmm *p, uint64_t count, uint64_t align)
{
	paddr_t pa;

	if (count == 0 || align < PAGE_SIZE || (align & (align - 1)))
		return PADDR_INVALID;
	pa = alloc_run_once(p, count, align);
	if (pa == PADDR_INVALID && may_reclaim(p)) {
		p->ops->reclaim(p->ctx); /* cached frames may complete a run */
		pa = alloc_run_once(p, count, align);
	}
	return pa;
}

/*
 * Why frames [i, i + count) cannot be freed: 0, or an error with *bad set
 * to the offending frame index.
 */
static int free_refusal(const struct pmm *p, uint64_t i, uint64_t count, uint64_t *bad)
{
	*bad = bits_find(p->allocatable, i, i + count, false);
	if (*bad != NONE)
		return -EPERM;
	*bad = bits_find(p->freemap.level[0], i, i + count, true);
	for (uint64_t w = i / 64; *bad == NONE && w <= (i + count - 1) / 64; w++) {
		uint64_t hits = pmm_cached_bits(p, w) & word_mask(w, i, i + count);
		if (hits)
			*bad = w * 64 + __builtin_ctzll(hits);
	}
	if (*bad != NONE)
		return -EALREADY;
	return 0;
}

static const char *refusal_reason(int err)
{
	switch (err) {
	case -EPERM:
		return "free of a frame that was never allocatable";
	case -EALREADY:
		return "double free";
	default:
		return "free of a misaligned or untracked address";
	}
}

/* Free count frames from pa for a caller; report and change nothing on error. */
static int free_frames(struct pmm *p, paddr_t pa, uint64_t count, const void *caller)
{
	uint64_t i = range_index(p, pa, count), bad = NONE;
	int err = -EINVAL;

	if (i != NONE) {
		unsigned long flags = spin_lock_irqsave(&p->lock);
		err = free_refusal(p, i, count, &bad);
		if (!err) {
			leaf_range(p, i, i + count, true);
			p->free += count;
		}
		spin_unlock_irqrestore(&p->lock, flags);
	}
	if (err) /* outside the lock: reporting may be slow */
		p->ops->report(p->ctx, refusal_reason(err), bad == NONE ? pa : frame_addr(p, bad),
			       caller);
	return err;
}

/* pmm_free() without the cache; inline into pmm_free(), its hot caller. */
static inline __attribute__((always_inline)) int free_locked(struct pmm *p, paddr_t pa,
							     const void *caller)
{
	uint64_t i = frame_index(p, pa);

	/* The common case, inline: one allocated frame. */
	if (i != NONE) {
		uint64_t w = i / 64, old;
		unsigned long flags = spin_lock_irqsave(&p->lock);
		old = p->freemap.level[0][w];
		if ((p->allocatable[w] & bit(i)) && !((old | pmm_cached_bits(p, w)) & bit(i))) {
			pmm_leaf_store(p, w, old | bit(i));
			p->free++;
			spin_unlock_irqrestore(&p->lock, flags);
			return 0;
		}
		spin_unlock_irqrestore(&p->lock, flags);
	}
	return free_frames(p, pa, 1, caller);
}

int pmm_free_locked(struct pmm *p, paddr_t pa, const void *caller)
{
	return free_locked(p, pa, caller);
}

int pmm_free(struct pmm *p, paddr_t pa)
{
	const void *caller = __builtin_return_address(0);

	if (p->ncaches) {
		unsigned long irq = arch_irq_save();
		struct pmm_cache *c = this_cache(p);
		int err = !c || pmm_cache_put(p, c, pa) ? 0 : pmm_cache_free(p, c, pa, caller);
		arch_irq_restore(irq);
		if (c)
			return err;
	}
	return free_locked(p, pa, caller);
}

int pmm_free_run(struct pmm *p, paddr_t pa, uint64_t count)
{
	return free_frames(p, pa, count, __builtin_return_address(0));
}

enum pmm_frame_state pmm_frame_state(struct pmm *p, paddr_t pa)
{
	uint64_t i = frame_index(p, ALIGN_DOWN(pa, PAGE_SIZE));
	enum pmm_frame_state state = PMM_FRAME_OUTSIDE;

	if (i != NONE) {
		unsigned long flags = spin_lock_irqsave(&p->lock);
		if (!test_bit(p->allocatable, i))
			state = PMM_FRAME_RESERVED;
		else if (test_bit(p->freemap.level[0], i) || (pmm_cached_bits(p, i / 64) & bit(i)))
			state = PMM_FRAME_FREE;
		else
			state = PMM_FRAME_ALLOCATED;
		spin_unlock_irqrestore(&p->lock, flags);
	}
	return state;
}

void pmm_stats(struct pmm *p, struct pmm_stats *s)
{
	unsigned long flags = spin_lock_irqsave(&p->lock);

	s->span_frames = p->nframes;
	s->managed_frames = p->managed;
	s->cached_frames = 0;
	for (unsigned i = 0; i < p->ncaches; i++) /* other CPUs' masks: exact when they are idle */
		s->cached_frames += (uint64_t)__builtin_popcountll(p->caches[i]->mask);
	s->free_frames = p->free + s->cached_frames;
	s->metadata_bytes = p->metadata_bytes;
	spin_unlock_irqrestore(&p->lock, flags);
}

/* --- self-check ------------------------------------------------------------- */

/* Each summary bit of the tree matches the word it stands for; no stray bits. */
static bool check_tree(const struct pmm_tree *t)
{
	for (unsigned lv = 1; lv < t->levels; lv++)
		for (uint64_t j = 0; j < t->words[lv] * 64; j++)
			if (test_bit(t->level[lv], j) !=
			    (j < t->words[lv - 1] && t->level[lv - 1][j]))
				return false;
	return true;
}

/* Leaf words: free implies allocatable, no bits past the end, fullmap, counts. */
static bool check_leaf(const struct pmm *p)
{
	const uint64_t *leaf = p->freemap.level[0];
	uint64_t managed = 0, free = 0;

	for (uint64_t w = 0; w < p->freemap.words[0]; w++) {
		if ((leaf[w] & ~p->allocatable[w]) ||
		    (p->allocatable[w] & ~word_mask(w, 0, p->nframes)) ||
		    test_bit(p->fullmap.level[0], w) != (leaf[w] == ALL))
			return false;
		managed += __builtin_popcountll(p->allocatable[w]);
		free += __builtin_popcountll(leaf[w]);
	}
	for (uint64_t j = p->freemap.words[0]; j < p->fullmap.words[0] * 64; j++)
		if (test_bit(p->fullmap.level[0], j))
			return false;
	return managed == p->managed && free == p->free;
}

bool pmm_check(struct pmm *p)
{
	struct pmm sized;
	unsigned long flags = spin_lock_irqsave(&p->lock);
	bool ok = layout_words(&sized, p->nframes) * sizeof(uint64_t) == p->metadata_bytes &&
		  check_leaf(p) && check_tree(&p->freemap) && check_tree(&p->fullmap);

	if (ok && p->base_frame == 0 && p->nframes)
		ok = !test_bit(p->allocatable, 0);
	for (uint64_t w = 0; ok && w < MIN(p->low_word, p->freemap.words[0]); w++)
		ok = !p->freemap.level[0][w];
	ok = ok && pmm_check_caches(p);
	spin_unlock_irqrestore(&p->lock, flags);
	return ok;
}
