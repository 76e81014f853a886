/*
 * The physical frame allocator (include/mm/pmm.h; design in docs/pmm.md).
 * Owns the bitmaps in the metadata block it is given and nothing else: it
 * never touches the frames it hands out, so it works the same over real
 * RAM in the kernel and over a simulated map on the host.
 *
 * Bitmaps, one bit per position, bit i of word w is position 64 * w + i:
 *
 *	level[levels-1]  1 word       bit set: that word of the level below
 *	...                           has a set bit
 *	level[1]         words / 64
 *	level[0]         frames / 64  bit set: that frame is free
 *	allocatable      frames / 64  bit set: that frame may be handed out
 *
 * Invariants (pmm_check): a summary bit is set exactly when the word it
 * stands for is non-zero; free implies allocatable; bits past the end are 0.
 */
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/pmm.h>

#define NONE	   UINT64_MAX
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

/* Words per level for nframes frames; returns the number of levels. */
static unsigned level_words(uint64_t nframes, uint64_t words[PMM_MAX_LEVELS])
{
	unsigned levels = 0;
	uint64_t bits = nframes;

	do {
		words[levels] = (bits + 63) / 64;
		bits = words[levels++];
	} while (bits > 1 && levels < PMM_MAX_LEVELS);
	return levels;
}

/* Bytes of bitmaps for nframes frames (before page rounding). */
static size_t metadata_bytes(uint64_t nframes)
{
	uint64_t words[PMM_MAX_LEVELS];
	unsigned levels = level_words(nframes, words);
	uint64_t total = words[0]; /* the allocatable bitmap */

	for (unsigned i = 0; i < levels; i++)
		total += words[i];
	return total * sizeof(uint64_t);
}

size_t pmm_metadata_size(const struct memmap_entry *map, size_t n)
{
	uint64_t first, end;

	if (!map_span(map, n, &first, &end))
		return 0;
	return ALIGN_UP(metadata_bytes(end - first), PAGE_SIZE);
}

int pmm_init(struct pmm *p, const struct memmap_entry *map, size_t n, void *meta, size_t meta_size)
{
	uint64_t first, end, words[PMM_MAX_LEVELS];
	uint64_t *next = meta;

	if (!map_span(map, n, &first, &end))
		return -ENOMEM;
	size_t bytes = metadata_bytes(end - first);
	if (meta_size < bytes)
		return -ENOSPC;
	memset(meta, 0, bytes);
	memset(p, 0, sizeof(*p));
	p->base_frame = first;
	p->nframes = end - first;
	p->levels = level_words(p->nframes, words);
	p->allocatable = next;
	next += words[0];
	for (unsigned i = 0; i < p->levels; i++) {
		p->level[i] = next;
		next += words[i];
	}
	p->metadata_bytes = bytes;
	return 0;
}

/* --- bitmap ranges -------------------------------------------------------- */

/* The bits of word w that lie in positions [from, to). */
static uint64_t word_mask(uint64_t w, uint64_t from, uint64_t to)
{
	uint64_t lo = MAX(from, w * 64) - w * 64;
	uint64_t hi = MIN(to, w * 64 + 64) - w * 64;

	return hi - lo == 64 ? ~0ull : ((1ull << (hi - lo)) - 1) << lo;
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

/* Leaf word w went from empty to non-empty: set its bits up the summary. */
static void summary_mark(struct pmm *p, uint64_t w)
{
	for (unsigned lv = 1; lv < p->levels; lv++, w /= 64) {
		uint64_t old = p->level[lv][w / 64];
		p->level[lv][w / 64] = old | 1ull << (w % 64);
		if (old)
			return;
	}
}

/* Leaf word w became empty: clear its bits up the summary. */
static void summary_unmark(struct pmm *p, uint64_t w)
{
	for (unsigned lv = 1; lv < p->levels; lv++, w /= 64) {
		p->level[lv][w / 64] &= ~(1ull << (w % 64));
		if (p->level[lv][w / 64])
			return;
	}
}

/* Mark frames [from, to) free in the leaf and the summary. */
static void leaf_set(struct pmm *p, uint64_t from, uint64_t to)
{
	for (uint64_t w = from / 64; w <= (to - 1) / 64; w++) {
		uint64_t old = p->level[0][w];
		p->level[0][w] = old | word_mask(w, from, to);
		if (!old)
			summary_mark(p, w);
	}
}

/* Mark frames [from, to) allocated in the leaf and the summary. */
static void leaf_clear(struct pmm *p, uint64_t from, uint64_t to)
{
	for (uint64_t w = from / 64; w <= (to - 1) / 64; w++) {
		p->level[0][w] &= ~word_mask(w, from, to);
		if (!p->level[0][w])
			summary_unmark(p, w);
	}
}

/* The lowest free frame index at or after i; NONE if there is none. */
static uint64_t next_free(const struct pmm *p, uint64_t i)
{
	unsigned lv = 0;
	uint64_t words[PMM_MAX_LEVELS];

	if (i >= p->nframes)
		return NONE;
	level_words(p->nframes, words);
	for (;;) { /* climb until a word has a set bit at or after i */
		uint64_t hits = p->level[lv][i / 64] & (~0ull << (i % 64));
		if (hits) {
			i = i / 64 * 64 + __builtin_ctzll(hits);
			break;
		}
		i = i / 64 + 1; /* the next word of this level, as a position one level up */
		if (++lv == p->levels || i >= words[lv - 1])
			return NONE;
	}
	while (lv-- > 0) /* descend to the lowest set bit below */
		i = i * 64 + __builtin_ctzll(p->level[lv][i]);
	return i;
}

/* --- frame numbers ---------------------------------------------------------- */

/* The frame index of pa in p, or NONE if pa is misaligned or outside. */
static uint64_t frame_index(const struct pmm *p, paddr_t pa)
{
	if (!IS_ALIGNED(pa, PAGE_SIZE) || (pa >> PAGE_SHIFT) < p->base_frame ||
	    (pa >> PAGE_SHIFT) - p->base_frame >= p->nframes)
		return NONE;
	return (pa >> PAGE_SHIFT) - p->base_frame;
}

static paddr_t frame_addr(const struct pmm *p, uint64_t i)
{
	return (p->base_frame + i) << PAGE_SHIFT;
}

static bool test_bit(const uint64_t *bm, uint64_t i)
{
	return bm[i / 64] >> (i % 64) & 1;
}

/* --- the API ------------------------------------------------------------------ */

/* Check a range of count frames from pa; its first index, or NONE. */
static uint64_t range_index(const struct pmm *p, paddr_t pa, uint64_t count)
{
	uint64_t i = frame_index(p, pa);

	if (i == NONE || count == 0 || count > p->nframes - i)
		return NONE;
	return i;
}

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
	leaf_set(p, from, to);
	p->managed += to - from;
	p->free += to - from;
out:
	spin_unlock_irqrestore(&p->lock, flags);
	return err;
}

paddr_t pmm_alloc(struct pmm *p)
{
	paddr_t pa = PADDR_INVALID;
	unsigned long flags = spin_lock_irqsave(&p->lock);

	if (p->levels && p->level[p->levels - 1][0]) {
		uint64_t i = 0;
		for (unsigned lv = p->levels; lv-- > 0;)
			i = i * 64 + __builtin_ctzll(p->level[lv][i]);
		p->level[0][i / 64] &= ~(1ull << (i % 64));
		if (!p->level[0][i / 64])
			summary_unmark(p, i / 64);
		p->free--;
		pa = frame_addr(p, i);
	}
	spin_unlock_irqrestore(&p->lock, flags);
	return pa;
}

/* The lowest run of count free frames starting on an align_frames boundary. */
static uint64_t find_run(const struct pmm *p, uint64_t count, uint64_t align_frames)
{
	for (uint64_t i = next_free(p, 0); i != NONE; i = next_free(p, i)) {
		uint64_t start = ALIGN_UP(p->base_frame + i, align_frames) - p->base_frame;
		if (start >= p->nframes || count > p->nframes - start)
			return NONE;
		uint64_t busy = bits_find(p->level[0], start, start + count, false);
		if (busy == NONE)
			return start;
		i = busy + 1;
	}
	return NONE;
}

paddr_t pmm_alloc_run(struct pmm *p, uint64_t count, uint64_t align)
{
	if (count == 0 || align < PAGE_SIZE || (align & (align - 1)))
		return PADDR_INVALID;

	paddr_t pa = PADDR_INVALID;
	unsigned long flags = spin_lock_irqsave(&p->lock);
	if (count <= p->free) {
		uint64_t i = find_run(p, count, align >> PAGE_SHIFT);
		if (i != NONE) {
			leaf_clear(p, i, i + count);
			p->free -= count;
			pa = frame_addr(p, i);
		}
	}
	spin_unlock_irqrestore(&p->lock, flags);
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
	*bad = bits_find(p->level[0], i, i + count, true);
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
			leaf_set(p, i, i + count);
			p->free += count;
		}
		spin_unlock_irqrestore(&p->lock, flags);
	}
	if (err) /* outside the lock: reporting may be slow */
		pmm_report(refusal_reason(err), bad == NONE ? pa : frame_addr(p, bad), caller);
	return err;
}

int pmm_free(struct pmm *p, paddr_t pa)
{
	uint64_t i = frame_index(p, pa);

	/* The common case, inline: one allocated frame. */
	if (i != NONE) {
		uint64_t bit = 1ull << (i % 64), w = i / 64;
		unsigned long flags = spin_lock_irqsave(&p->lock);
		if ((p->allocatable[w] & bit) && !(p->level[0][w] & bit)) {
			uint64_t old = p->level[0][w];
			p->level[0][w] = old | bit;
			if (!old)
				summary_mark(p, w);
			p->free++;
			spin_unlock_irqrestore(&p->lock, flags);
			return 0;
		}
		spin_unlock_irqrestore(&p->lock, flags);
	}
	return free_frames(p, pa, 1, __builtin_return_address(0));
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
		else
			state = test_bit(p->level[0], i) ? PMM_FRAME_FREE : PMM_FRAME_ALLOCATED;
		spin_unlock_irqrestore(&p->lock, flags);
	}
	return state;
}

void pmm_stats(struct pmm *p, struct pmm_stats *s)
{
	unsigned long flags = spin_lock_irqsave(&p->lock);

	s->span_frames = p->nframes;
	s->managed_frames = p->managed;
	s->free_frames = p->free;
	s->metadata_bytes = p->metadata_bytes;
	spin_unlock_irqrestore(&p->lock, flags);
}

/* Each bit of level lv stands for one word of level lv - 1: check them all. */
static bool check_summary(const struct pmm *p, unsigned lv, const uint64_t *words)
{
	for (uint64_t j = 0; j < words[lv] * 64; j++) {
		bool want = j < words[lv - 1] && p->level[lv - 1][j] != 0;
		if (test_bit(p->level[lv], j) != want)
			return false;
	}
	return true;
}

/* Leaf and allocatable words: free implies allocatable, counts, tail bits. */
static bool check_leaf(const struct pmm *p, const uint64_t *words)
{
	uint64_t managed = 0, free = 0;

	for (uint64_t w = 0; w < words[0]; w++) {
		uint64_t valid = word_mask(w, 0, p->nframes);
		if ((p->level[0][w] & ~p->allocatable[w]) || (p->allocatable[w] & ~valid))
			return false;
		managed += __builtin_popcountll(p->allocatable[w]);
		free += __builtin_popcountll(p->level[0][w]);
	}
	return managed == p->managed && free == p->free;
}

bool pmm_check(struct pmm *p)
{
	uint64_t words[PMM_MAX_LEVELS];
	unsigned long flags = spin_lock_irqsave(&p->lock);
	bool ok = p->levels == level_words(p->nframes, words) && check_leaf(p, words);

	for (unsigned lv = 1; ok && lv < p->levels; lv++)
		ok = check_summary(p, lv, words);
	if (ok && p->base_frame == 0 && p->nframes)
		ok = !test_bit(p->allocatable, 0);
	spin_unlock_irqrestore(&p->lock, flags);
	return ok;
}
