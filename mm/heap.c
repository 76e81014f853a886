/*
 * The heap allocator (include/mm/heap.h): its entry points, the front
 * cache, and small blocks in chunks with segregated free lists and
 * boundary-tag coalescing. Large blocks live in mm/heap_large.c; the
 * verifier and the diagnosis of bad frees in mm/heap_check.c. The block
 * format is drawn in mm/heap_internal.h, the design in docs/heap.md.
 *
 * Lock order: the front cache needs interrupts off only; the lists, chunks
 * and counters need h->lock. h->ops are called with the lock held.
 */
#include <lib/errno.h>
#include <lib/fmt.h>
#include <lib/string.h>
#include "heap_internal.h"

_Static_assert(HEAP_FL_COUNT > 63 - __builtin_clzll(HEAP_CHUNK_SIZE) - (HEAP_SL_SHIFT + 3),
	       "the first level covers a whole chunk");
_Static_assert(HEAP_MAX_CHUNKS % 64 == 0, "the chunk map is whole words");

/*
 * The fewest blocks a class may hold, exact and coarse. A class's count
 * walks up and down at random under a mixed load, so it is empty (an
 * allocation goes to the lists) and full (a free does) about 1 time in
 * limit + 1. With 2 per coarse class a third of the 1-4 KiB requests of
 * the bench's traces missed; with 4 (and 4-7 in the exact classes over
 * 512 bytes) 6% of the pairs after the cache-resident trace allocated from
 * the lists and 6% freed to them, and those made most of the slowest 1%;
 * with 8, 3% and 3% (docs/bench.md, "The tail's list work halved").
 * The price is memory: up to 645 KiB cached per CPU instead of 401.
 */
#define CACHE_MIN_BLOCKS     8u
#define CACHE_BIG_MIN_BLOCKS 8u

/* The largest request the front cache serves: its block is at most HEAP_CACHE_MAX. */
#define CACHE_REQ_MAX (HEAP_CACHE_MAX - sizeof(struct heap_block) - HEAP_CANARY_SIZE)

__noreturn void heap_fail(struct heap *h, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	fmt_vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h->ops->corrupt(h->ctx, msg);
}

__noreturn void heap_no_cache(struct heap *h)
{
	heap_fail(h,
		  "this CPU has no heap cache attached (%u attached): heap_cache_attach() must "
		  "come before a CPU's first heap call; the heap's own cache is not safe to share "
		  "between CPUs",
		  h->ncaches - 1);
}

/* ---- free lists ---------------------------------------------------------- */

static void list_insert(struct heap *h, struct heap_block *b)
{
	struct heap_free_links *l = heap_payload(b);
	unsigned fl, sl;

	heap_class_of(heap_block_size(b), &fl, &sl);
	l->prev = NULL;
	l->next = h->free[fl][sl];
	if (l->next)
		l->next->prev = l;
	h->free[fl][sl] = l;
	h->fl_bitmap |= 1u << fl;
	h->sl_bitmap[fl] |= 1u << sl;
	h->free_blocks++;
	h->free_bytes += heap_block_size(b);
}

/* True if l is NULL or a link whose block header lies in a mapped chunk: safe to follow. */
static bool link_mapped(const struct heap *h, const struct heap_free_links *l)
{
	return !l ||
	       (heap_chunk_of(h, (uintptr_t)heap_header(l)) >= 0 && (uintptr_t)l % HEAP_ALIGN == 0);
}

/* Unlink b from its list, refusing links that do not point back (a smashed list). */
static void list_remove(struct heap *h, struct heap_block *b)
{
	struct heap_free_links *l = heap_payload(b);
	unsigned fl, sl;

	heap_class_of(heap_block_size(b), &fl, &sl);
	if (!link_mapped(h, l->next) || !link_mapped(h, l->prev) ||
	    (l->next && l->next->prev != l) || (l->prev ? l->prev->next : h->free[fl][sl]) != l)
		heap_fail(h, "free list corrupted at block %#lx (%lu bytes)", (unsigned long)l,
			  (unsigned long)heap_block_size(b));
	if (l->next)
		l->next->prev = l->prev;
	if (l->prev)
		l->prev->next = l->next;
	else
		h->free[fl][sl] = l->next;
	if (!h->free[fl][sl]) {
		h->sl_bitmap[fl] &= ~(1u << sl);
		if (!h->sl_bitmap[fl])
			h->fl_bitmap &= ~(1u << fl);
	}
	h->free_blocks--;
	h->free_bytes -= heap_block_size(b);
}

/*
 * A free block of at least size bytes, unlinked; NULL if there is none.
 * The head of size's own class is tried first; after that, any block of a
 * higher class fits without looking, so the search is two bitmap scans.
 */
static struct heap_block *list_take(struct heap *h, uint64_t size)
{
	struct heap_free_links *l;
	struct heap_block *b;
	unsigned fl, sl;
	uint32_t bits;

	heap_class_of(size, &fl, &sl);
	if (fl >= HEAP_FL_COUNT)
		return NULL;
	/* A few blocks of size's own class first: an exact fit spares a bigger block. */
	l = h->free[fl][sl];
	for (unsigned n = 0; l && heap_block_size(heap_header(l)) < size && n < 4; n++)
		l = link_mapped(h, l->next) ? l->next : NULL;
	if (!l || heap_block_size(heap_header(l)) < size) {
		bits = h->sl_bitmap[fl] & (~0u << (sl + 1));
		if (!bits) {
			bits = h->fl_bitmap & (~0u << (fl + 1));
			if (!bits)
				return NULL;
			fl = (unsigned)__builtin_ctz(bits);
			bits = h->sl_bitmap[fl];
		}
		l = h->free[fl][(unsigned)__builtin_ctz(bits)];
	}
	b = heap_header(l);
	if (!heap_in_state(h, b, HS_FREE))
		heap_fail(h, "free list holds a damaged block at %#lx", (unsigned long)l);
	list_remove(h, b);
	return b;
}

/* True if some list of size's class or a higher one holds a block. */
static bool list_has_class(const struct heap *h, uint64_t size)
{
	unsigned fl, sl;

	heap_class_of(size, &fl, &sl);
	return (h->sl_bitmap[fl] >> sl) || (h->fl_bitmap >> fl) > 1; /* > 1: a bit above fl */
}

/* ---- blocks ---------------------------------------------------------------- */

/* Make b (size and PREV_USED set, unlisted) a free block: footer, state, list. */
static void block_make_free(struct heap *h, struct heap_block *b)
{
	uint64_t size = heap_block_size(b);

	*(uint64_t *)((uintptr_t)b + size - sizeof(uint64_t)) = size;
	b->req = 0;
	heap_set_state(h, b, HS_FREE);
	list_insert(h, b);
}

/*
 * Shape the free, unlisted block b into a used block of size bytes; what is
 * left over becomes a free block if it is big enough to be one.
 */
static void block_carve(struct heap *h, struct heap_block *b, uint64_t size)
{
	uint64_t total = heap_block_size(b), prev_used = b->size & HB_PREV_USED;

	if (total - size >= HEAP_MIN_BLOCK) {
		struct heap_block *rest = (struct heap_block *)((uintptr_t)b + size);

		rest->size = (total - size) | HB_PREV_USED;
		block_make_free(h, rest);
		b->size = size | HB_USED | prev_used;
	} else {
		b->size = total | HB_USED | prev_used;
		heap_next_block(b)->size |= HB_PREV_USED;
	}
}

/*
 * Split off the front of the free, unlisted block b so that the payload of
 * what remains is aligned to align; the front becomes a free block. Returns
 * the remaining block (b itself if it was aligned already).
 */
static struct heap_block *block_align_front(struct heap *h, struct heap_block *b, uint64_t align)
{
	uintptr_t p = ALIGN_UP((uintptr_t)heap_payload(b), align);
	uint64_t lead, total = heap_block_size(b);
	struct heap_block *nb;

	while (p != (uintptr_t)heap_payload(b) && p - (uintptr_t)heap_payload(b) < HEAP_MIN_BLOCK)
		p += align;
	lead = p - (uintptr_t)heap_payload(b);
	if (!lead)
		return b;
	nb = heap_header((void *)p);
	nb->size = total - lead; /* PREV_USED clear: the front is free */
	b->size = lead | (b->size & HB_PREV_USED);
	block_make_free(h, b);
	return nb;
}

/* ---- chunks ---------------------------------------------------------------- */

/* A free chunk slot, or -1 if all are in use. */
static long chunk_find_slot(struct heap *h)
{
	for (uint32_t w = h->chunk_hint; w < (h->max_chunks + 63) / 64; w++) {
		if (h->chunk_map[w] != ~0ull) {
			h->chunk_hint = w;
			return (long)(w * 64 + (uint32_t)__builtin_ctzll(~h->chunk_map[w]));
		}
	}
	return -1;
}

/*
 * Map a new chunk and put its one free block in the lists, counted as an
 * empty chunk. Returns false if the window is full or there is no memory.
 */
static bool chunk_grow(struct heap *h)
{
	long slot = chunk_find_slot(h);
	uintptr_t va;
	struct heap_block *b, *end;

	if (slot < 0 || (uint64_t)slot >= h->max_chunks)
		return false;
	va = heap_chunk_base(h, (uint64_t)slot);
	if (h->ops->map(h->ctx, va, HEAP_CHUNK_SIZE) != 0)
		return false;
	h->chunk_map[slot / 64] |= 1ull << (slot % 64);
	h->chunks++;
	h->grows++;
	h->empty_chunks++;
	/* Fresh memory is poisoned like any free block, so the verifier can tell. */
	heap_poison((void *)va, HEAP_CHUNK_SIZE);
	end = (struct heap_block *)(va + HEAP_CHUNK_USABLE);
	end->size = HB_USED;
	end->req = 0;
	heap_set_state(h, end, HS_END);
	b = (struct heap_block *)va;
	b->size = HEAP_CHUNK_USABLE | HB_PREV_USED;
	block_make_free(h, b);
	return true;
}

/* Unmap the chunk whose only block is the free, unlisted block b. */
static void chunk_release(struct heap *h, struct heap_block *b)
{
	long slot = heap_chunk_of(h, (uintptr_t)b);

	h->ops->unmap(h->ctx, (uintptr_t)b, HEAP_CHUNK_SIZE);
	h->chunk_map[slot / 64] &= ~(1ull << (slot % 64));
	if ((uint32_t)slot / 64 < h->chunk_hint)
		h->chunk_hint = (uint32_t)slot / 64;
	h->chunks--;
	h->shrinks++;
}

static bool block_is_whole_chunk(const struct heap_block *b)
{
	return heap_block_size(b) == HEAP_CHUNK_USABLE;
}

/* ---- small blocks under the lock ------------------------------------------ */

void *heap_small_alloc_locked(struct heap *h, uint64_t size, uint64_t align)
{
	uint64_t need = heap_block_for(size);
	uint64_t search = align > HEAP_ALIGN ? need + align + HEAP_MIN_BLOCK : need;
	struct heap_block *b = list_take(h, search);
	void *p;

	if (!b && chunk_grow(h))
		b = list_take(h, search);
	if (!b)
		return NULL;
	if (block_is_whole_chunk(b))
		h->empty_chunks--;
	if (align > HEAP_ALIGN)
		b = block_align_front(h, b, align);
	block_carve(h, b, need);
	b->req = (uint32_t)size;
	heap_set_state(h, b, HS_ALLOC);
	p = heap_payload(b);
	heap_canary_put(h, p, size, HEAP_CANARY_SIZE);
	struct heap_cache *hc = heap_this_cache(h); /* under the lock: interrupts are off */
	hc->live_base++;
	hc->live_bytes += size;
	return p;
}

/*
 * Take the free block next, which follows b, out of its list so that b can
 * grow over it; its header and links become payload and are poisoned.
 * Returns its size.
 */
static uint64_t absorb_next(struct heap *h, struct heap_block *b, struct heap_block *next)
{
	uint64_t size = heap_block_size(next);

	if (!heap_in_state(h, next, HS_FREE))
		heap_fail(h, "header of block %#lx overwritten (it follows block %#lx)",
			  (unsigned long)heap_payload(next), (unsigned long)heap_payload(b));
	list_remove(h, next);
	heap_poison(next, sizeof(*next) + sizeof(struct heap_free_links));
	return size;
}

/*
 * The free block before b, whose PREV_USED is clear, taken out of its list
 * so that it can grow over b; the footer before b and b's header become
 * payload and are poisoned. The flags are not in the check word, so the
 * footer and the block it leads to are checked before they are trusted.
 */
static struct heap_block *absorb_prev(struct heap *h, struct heap_block *b)
{
	uint64_t psize;
	struct heap_block *prev;

	if ((uintptr_t)b % HEAP_CHUNK_STRIDE == 0) /* a chunk's first block: no footer before it */
		heap_fail(h, "header of block %#lx overwritten: flags %#lx",
			  (unsigned long)heap_payload(b), (unsigned long)(b->size & HB_FLAGS));
	psize = *(uint64_t *)((uintptr_t)b - sizeof(uint64_t));
	prev = (struct heap_block *)((uintptr_t)b - psize);
	if (psize % HEAP_ALIGN || psize < HEAP_MIN_BLOCK || psize > HEAP_CHUNK_USABLE ||
	    heap_chunk_of(h, (uintptr_t)prev) != heap_chunk_of(h, (uintptr_t)b) ||
	    heap_block_size(prev) != psize || !heap_in_state(h, prev, HS_FREE))
		heap_fail(h,
			  "header of block %#lx overwritten: the free block before it is damaged",
			  (unsigned long)heap_payload(b));
	list_remove(h, prev);
	heap_poison((char *)b - sizeof(uint64_t), sizeof(uint64_t) + sizeof(*b));
	return prev;
}

/*
 * Put the used block b (allocated or cached, payload poisoned) back in the
 * lists, merged with free neighbours. A chunk left entirely free is kept if
 * it is the only empty one, else unmapped.
 */
void heap_small_free_locked(struct heap *h, struct heap_block *b)
{
	uint64_t size = heap_block_size(b);
	struct heap_block *next = heap_next_block(b);

	if (!(b->size & HB_PREV_USED)) {
		b = absorb_prev(h, b);
		size += heap_block_size(b);
	}
	if (!(next->size & HB_USED)) {
		struct heap_block *after = heap_next_block(next);

		size += absorb_next(h, b, next);
		next = after;
	} else {
		next->size &= ~HB_PREV_USED;
	}
	b->size = size | (b->size & HB_PREV_USED);
	block_make_free(h, b);
	if (block_is_whole_chunk(b)) {
		if (h->empty_chunks == 0 || h->keep_empty_chunks) {
			h->empty_chunks++;
		} else {
			list_remove(h, b);
			chunk_release(h, b);
		}
	}
}

/* ---- the front cache -------------------------------------------------------- */

/* A cached block of class bsize failed its check: report it (out of line, never returns). */
static __attribute__((noinline, cold)) __noreturn void cache_corrupt(struct heap *h, const void *p,
								     uint64_t bsize)
{
	heap_fail(h,
		  "front cache corrupted: block %#lx (class of %lu bytes) was overwritten "
		  "after it was freed",
		  (unsigned long)p, (unsigned long)bsize);
}

/*
 * A block of hc for a request of size bytes (at most CACHE_REQ_MAX), made
 * allocated, or NULL if its class is empty. The hit path: no call, lock or
 * atomic. => interrupts off; hc is this CPU's cache (or h->cache)
 */
static inline __attribute__((always_inline)) void *cache_take(struct heap *h, struct heap_cache *hc,
							      uint64_t size)
{
	uint64_t bsize = heap_block_for(size);
	struct heap_cache_class *cc = heap_cache_class_of(hc, bsize);
	struct heap_block *b;
	void *p = cc->head;

	if (!p)
		return NULL;
	b = heap_header(p);
	/* The size first: then the check word takes bsize, and the header's size is dead. */
	if (__builtin_expect(heap_block_size(b) != bsize ||
				 b->check != heap_check_word_of(h, b, bsize, b->req, HS_CACHED),
			     0))
		cache_corrupt(h, p, bsize);
	cc->head = *(void **)p;
	cc->count--;
	hc->live_bytes += size; /* the count above moved the live blocks */
	b->req = (uint32_t)size;
	b->check = heap_check_word_of(h, b, bsize, (uint32_t)size, HS_ALLOC);
	heap_canary_put(h, p, size, HEAP_CANARY_SIZE);
	return p;
}

/*
 * cache_take() for a request whose block is over HEAP_CACHE_MAX: the head
 * of its coarse class if it is big enough, else the head of the next class
 * (all of whose blocks are), else NULL. Off the hit path.
 * => interrupts off; hc is this CPU's cache (or h->cache)
 */
static void *cache_take_big(struct heap *h, struct heap_cache *hc, uint64_t size)
{
	uint64_t bsize = heap_block_for(size);
	unsigned c = heap_cache_big_class(bsize);

	for (unsigned k = c; k < HEAP_CACHE_ALL && k <= c + 1; k++) {
		struct heap_cache_class *cc = &hc->cls[k];
		struct heap_block *b;
		void *p = cc->head;

		if (!p)
			continue;
		b = heap_header(p);
		if (!heap_in_state(h, b, HS_CACHED) || heap_block_size(b) <= HEAP_CACHE_MAX ||
		    heap_cache_big_class(heap_block_size(b)) != k)
			cache_corrupt(h, p, heap_block_size(b));
		if (heap_block_size(b) < bsize)
			continue;
		cc->head = *(void **)p;
		cc->count--;
		hc->big_bytes -= heap_block_size(b);
		hc->live_bytes += size;
		b->req = (uint32_t)size;
		heap_set_state(h, b, HS_ALLOC);
		heap_canary_put(h, p, size, HEAP_CANARY_SIZE);
		return p;
	}
	return NULL;
}

/*
 * Push b (an allocated small block of bsize bytes at p) onto cc, a class of
 * hc with room: make it cached, count it freed and poison it.
 * => interrupts off
 */
static inline __attribute__((always_inline)) bool cache_push(struct heap *h, struct heap_cache *hc,
							     struct heap_cache_class *cc,
							     struct heap_block *b, void *p,
							     uint64_t bsize)
{
	heap_set_state(h, b, HS_CACHED);
	*(void **)p = cc->head;
	cc->head = p;
	cc->count++;
	hc->live_bytes -= b->req; /* the count above moved the live blocks */
	/*
	 * The poison goes last (all but the link just written), so that the
	 * call is the path's tail. No interrupt can take the block meanwhile:
	 * they are off, and no other CPU touches hc.
	 */
	heap_poison((char *)p + sizeof(void *), bsize - sizeof(*b) - sizeof(void *));
	return true;
}

/*
 * If the class of b (an allocated small block at p, checked by
 * small_block_of()) has room in hc: poison it, make it cached, push it and
 * count it freed. False if it does not fit (too big, or the class is full):
 * then nothing is changed. => interrupts off; hc is this CPU's cache
 */
static inline __attribute__((always_inline)) bool cache_put(struct heap *h, struct heap_cache *hc,
							    struct heap_block *b, void *p)
{
	uint64_t bsize = heap_block_size(b);
	struct heap_cache_class *cc;

	if (bsize > HEAP_CACHE_MAX)
		return false;
	cc = heap_cache_class_of(hc, bsize);
	if (cc->count >= cc->limit)
		return false;
	return cache_push(h, hc, cc, b, p, bsize);
}

/*
 * cache_put() for a block over HEAP_CACHE_MAX, into its coarse class: off
 * the hit path, called where a free has missed the exact classes.
 */
static bool cache_put_big(struct heap *h, struct heap_cache *hc, struct heap_block *b, void *p)
{
	uint64_t bsize = heap_block_size(b);
	struct heap_cache_class *cc;

	if (bsize <= HEAP_CACHE_MAX || bsize > HEAP_CACHE_BIG_MAX)
		return false;
	cc = &hc->cls[heap_cache_big_class(bsize)];
	if (cc->count >= cc->limit)
		return false;
	hc->big_bytes += bsize;
	return cache_push(h, hc, cc, b, p, bsize);
}

/*
 * The most bytes one refill carves for a class: a run of 2 KiB keeps a
 * CPU's blocks of the class side by side (only its two edges can share a
 * cache line with another CPU's blocks) without a big class taking much.
 */
#define CACHE_RUN_BYTES 2048u

/*
 * How many blocks of bsize bytes to carve into class cc at once: half the
 * class's bound, the byte cap and the room left in the class (the block
 * handed out needs none); under 2, no run.
 */
static uint32_t cache_run_blocks(const struct heap_cache_class *cc, uint64_t bsize)
{
	uint32_t n = MIN(cc->limit / 2, (uint32_t)(CACHE_RUN_BYTES / bsize));

	return MIN(n, cc->limit - cc->count + 1);
}

/* Make block i of the run at r (bsize-byte blocks) cached and push it on cc. */
static void cache_run_push(struct heap *h, struct heap_cache_class *cc, struct heap_block *r,
			   uint32_t i, uint64_t bsize)
{
	struct heap_block *b = (struct heap_block *)((uintptr_t)r + i * bsize);

	b->size = bsize | HB_USED | (i ? HB_PREV_USED : r->size & HB_PREV_USED);
	b->req = 0;
	heap_set_state(h, b, HS_CACHED);
	*(void **)heap_payload(b) = cc->head;
	cc->head = heap_payload(b);
}

/*
 * Shape the run at r (n blocks of bsize bytes, its size and PREV_USED set
 * by block_carve()) into blocks: one allocated for size bytes and
 * returned, the rest cached in cc. The edges (0 and n - 1) go to the
 * bottom of the class, so the blocks the CPU reuses most sit inside the
 * run. Which inner block goes out first varies with the run's address
 * (a colour, as slab allocators give their slabs): with block 1 always,
 * the blocks a CPU reuses most lay at the same offset of runs about 2 KiB
 * apart, in a few of the L1's sets, and one thread's pairs got 8% slower.
 *
 * All of the run was free and poisoned but its links and footer: the
 * links' second word (block 0's payload) and the run's last 8 bytes (the
 * footer's place if the run took the whole free block) are poisoned again.
 */
static void *cache_run_split(struct heap *h, struct heap_cache *hc, struct heap_cache_class *cc,
			     struct heap_block *r, uint32_t n, uint64_t bsize, uint64_t size)
{
	uint32_t out = n > 2 ? 1 + (uint32_t)((uintptr_t)r / CACHE_RUN_BYTES % (n - 2)) : 1;
	struct heap_block *b = (struct heap_block *)((uintptr_t)r + out * bsize);

	heap_poison((char *)heap_payload(r) + sizeof(void *), sizeof(void *));
	heap_poison((char *)r + n * bsize - sizeof(uint64_t), sizeof(uint64_t));
	/* From the bottom up: block 0, block n - 1, then the inner ones. */
	cache_run_push(h, cc, r, 0, bsize);
	for (uint32_t i = n - 1; i >= 1; i--)
		if (i != out)
			cache_run_push(h, cc, r, i, bsize);
	cc->count += n - 1;
	hc->live_base += n; /* the n - 1 counted above stay out of the live blocks */
	hc->live_bytes += size;
	b->size = bsize | HB_USED | HB_PREV_USED;
	b->req = (uint32_t)size;
	heap_set_state(h, b, HS_ALLOC);
	heap_canary_put(h, heap_payload(b), size, HEAP_CANARY_SIZE);
	return heap_payload(b);
}

/*
 * Refill this CPU's class for a request of size bytes (a cacheable one)
 * with a run of blocks carved from one free block: one allocated and
 * returned, the rest cached. NULL if no free block holds a run (the
 * caller takes the single-block path, which may grow the heap).
 *
 * Only with per-CPU caches attached: the run is there so that two CPUs'
 * blocks do not share cache lines, which one CPU's cannot. Runs cut big
 * free blocks up early: on one CPU the bench's standard trace mapped
 * 19.2 MiB with them, 16.8 without (docs/bench.md).
 * => h->lock held
 */
static void *cache_refill_locked(struct heap *h, uint64_t size)
{
	struct heap_cache *hc = heap_this_cache(h);
	uint64_t bsize = heap_block_for(size), total;
	struct heap_cache_class *cc = heap_cache_class_of(hc, bsize);
	uint32_t n = cache_run_blocks(cc, bsize);
	struct heap_block *r;

	if (n < 2)
		return NULL;
	r = list_take(h, n * bsize);
	/* Nothing free of even one block's class: the heap grows either way, so carve the run. */
	if (!r && !list_has_class(h, bsize) && chunk_grow(h))
		r = list_take(h, n * bsize);
	if (!r)
		return NULL;
	/* A tail too small to be a free block would widen the last block: take one less. */
	total = heap_block_size(r);
	if (total - n * bsize < HEAP_MIN_BLOCK && total != n * bsize)
		n--;
	if (n < 2) { /* untouched: back to its list */
		block_make_free(h, r);
		return NULL;
	}
	if (block_is_whole_chunk(r))
		h->empty_chunks--;
	block_carve(h, r, n * bsize);
	return cache_run_split(h, hc, cc, r, n, bsize, size);
}

static void cache_drain_one(struct heap *h, struct heap_cache *hc)
{
	for (unsigned c = 0; c < HEAP_CACHE_ALL; c++) {
		struct heap_cache_class *cc = &hc->cls[c];

		while (cc->head) {
			void *p = cc->head;

			cc->head = *(void **)p;
			cc->count--;
			hc->live_base--; /* what the count just added to the live blocks */
			if (c >= HEAP_CACHE_CLASSES)
				hc->big_bytes -= heap_block_size(heap_header(p));
			*(uint64_t *)p = (uint64_t)HEAP_POISON * 0x0101010101010101ull;
			heap_small_free_locked(h, heap_header(p));
		}
	}
}

/*
 * Give the blocks of the heap's own cache and this CPU's back to the
 * lists (other CPUs' caches would need them to stop first: an IPI, left
 * for SMP). Caller holds the lock.
 */
static void cache_drain_locked(struct heap *h)
{
	cache_drain_one(h, &h->cache);
	cache_drain_one(h, heap_this_cache(h));
}

/* Unmap entirely free chunks until keep are left. => h->lock held */
static void release_empty_chunks_locked(struct heap *h, uint32_t keep)
{
	unsigned fl, sl;

	/* Whole free chunks sit in the top class that holds HEAP_CHUNK_USABLE. */
	heap_class_of(HEAP_CHUNK_USABLE, &fl, &sl);
	for (struct heap_free_links *l = h->free[fl][sl], *next; l && h->empty_chunks > keep;
	     l = next) {
		struct heap_block *b = heap_header(l);

		next = l->next;
		if (block_is_whole_chunk(b)) {
			list_remove(h, b);
			chunk_release(h, b);
			h->empty_chunks--;
		}
	}
}

void heap_cache_give_back(struct heap *h, struct heap_cache *hc)
{
	unsigned long irq = spin_lock_irqsave(&h->lock);

	h->keep_empty_chunks = true;
	cache_drain_one(h, hc);
	h->keep_empty_chunks = false;
	spin_unlock_irqrestore(&h->lock, irq);
}

bool heap_cache_holds(const struct heap_cache *hc)
{
	for (unsigned c = 0; c < HEAP_CACHE_ALL; c++)
		if (__atomic_load_n(&hc->cls[c].count, __ATOMIC_RELAXED))
			return true;
	return false;
}

/* ---- entry points --------------------------------------------------------- */

/* An empty front cache of h, with each class's bound. */
static void cache_setup(struct heap *h, struct heap_cache *c)
{
	memset(c, 0, sizeof(*c));
	c->owner = h;
	for (unsigned k = HEAP_MIN_BLOCK / HEAP_ALIGN; k < HEAP_CACHE_CLASSES; k++)
		c->cls[k].limit =
		    (uint32_t)MAX(CACHE_MIN_BLOCKS, HEAP_CACHE_BYTES / (k * HEAP_ALIGN));
	for (unsigned k = 0; k < HEAP_CACHE_BIG_CLASSES; k++) {
		/* Class k's smallest block: 1 KiB << (k / n), plus k % n n-ths of it. */
		const unsigned n = 1u << HEAP_CACHE_BIG_SHIFT;
		uint64_t lo = ((uint64_t)HEAP_CACHE_MAX << (k / n)) * (n + k % n) / n;

		c->cls[HEAP_CACHE_CLASSES + k].limit =
		    (uint32_t)MAX(CACHE_BIG_MIN_BLOCKS, HEAP_CACHE_BYTES / lo);
	}
}

int heap_init(struct heap *h, uintptr_t base, uint64_t size, const struct heap_ops *ops, void *ctx,
	      uint64_t secret)
{
	uint64_t arena = size / 2;

	if (!ops || base % HEAP_CHUNK_STRIDE || size % HEAP_CHUNK_STRIDE ||
	    size < 4 * HEAP_CHUNK_STRIDE || base + size < base)
		return -EINVAL;
	memset(h, 0, sizeof(*h));
	h->lock = (struct spinlock)SPINLOCK_INIT;
	h->ops = ops;
	h->ctx = ctx;
	h->secret = secret | 1;
	/* Odd multipliers are bijections mod 2^32: an odd key, and distinct keys per state. */
	h->req_key = (uint32_t)(h->secret >> 32) | 1;
	for (unsigned s = 0; s < ARRAY_SIZE(h->state_key); s++)
		h->state_key[s] = (uint32_t)h->secret * (2 * s + 1);
	h->base = base;
	h->size = size;
	h->max_chunks = (uint32_t)MIN(arena / HEAP_CHUNK_STRIDE, (uint64_t)HEAP_MAX_CHUNKS);
	h->large_base = base + arena;
	h->large_region = ALIGN_DOWN((size - arena) / HEAP_LARGE_CLASSES, PAGE_SIZE);
	h->verify_every = 1;
	cache_setup(h, &h->cache);
	h->caches[h->ncaches++] = &h->cache;
	return 0;
}

int heap_cache_attach(struct heap *h, struct heap_cache *c)
{
	int err = -ENOSPC;
	unsigned long irq = spin_lock_irqsave(&h->lock);

	if (h->ncaches < HEAP_MAX_CACHES) {
		cache_setup(h, c);
		h->caches[h->ncaches++] = c;
		err = 0;
	}
	spin_unlock_irqrestore(&h->lock, irq);
	return err;
}

/* Check after an operation, in HEAP_DEBUG_VERIFY mode. */
static void debug_verify(struct heap *h)
{
	char msg[160];

	if (++h->verify_count < h->verify_every)
		return;
	h->verify_count = 0;
	if (heap_check(h, msg, sizeof(msg)) != 0)
		heap_fail(h, "heap check failed: %s", msg);
}

/*
 * In HEAP_DEBUG_FILL mode, check that the small block just allocated at p
 * kept its poison while it was free: all of it but the list (or cache)
 * links, the new canary and where a footer may be.
 */
static void debug_check_poison(struct heap *h, const unsigned char *p, size_t size)
{
	struct heap_block *b = heap_header(p);
	uint64_t end = heap_block_size(b) - sizeof(*b) - sizeof(uint64_t);

	for (uint64_t i = sizeof(struct heap_free_links); i < end; i++)
		if (p[i] != HEAP_POISON && (i < size || i >= size + HEAP_CANARY_SIZE))
			heap_fail(h,
				  "use after free: block %#lx (%lu bytes) was written at +%lu "
				  "after it was freed",
				  (unsigned long)p, (unsigned long)heap_block_size(b),
				  (unsigned long)i);
}

/* Fill and verify in debug mode (rare: kept out of line). */
static __attribute__((noinline)) void *debug_after_alloc(struct heap *h, void *p, size_t size)
{
	if (p && (h->debug & HEAP_DEBUG_FILL)) {
		if (size < HEAP_LARGE_MIN)
			debug_check_poison(h, p, size);
		memset(p, HEAP_FILL, size);
	}
	if (h->debug & HEAP_DEBUG_VERIFY)
		debug_verify(h);
	return p;
}

/* True if a request can be served by a front cache: small, plainly aligned, no debug mode. */
static inline bool cacheable(const struct heap *h, size_t size, size_t align)
{
	return size <= CACHE_REQ_MAX && align <= HEAP_ALIGN && !h->debug;
}

/* A small block from the lists (a run for this CPU's cache first); NULL counts if last. */
static void *small_alloc(struct heap *h, size_t size, size_t align, bool last)
{
	unsigned long irq = spin_lock_irqsave(&h->lock);
	void *p = NULL;

	/* Runs only with per-CPU caches: they keep two CPUs' blocks apart. */
	if (cacheable(h, size, align) && h->ncaches > 1)
		p = cache_refill_locked(h, size);
	if (!p)
		p = heap_small_alloc_locked(h, size, align);
	if (!p && last)
		h->failures++;
	spin_unlock_irqrestore(&h->lock, irq);
	return p;
}

static void *alloc_slow(struct heap *h, size_t size, size_t align)
{
	void *p;

	if (align < HEAP_ALIGN)
		align = HEAP_ALIGN;
	if (align > HEAP_MAX_ALIGN || (align & (align - 1)))
		return NULL;
	if (size >= HEAP_LARGE_MIN)
		return heap_large_alloc(h, size);
	p = small_alloc(h, size, align, !h->ops->reclaim);
	/* Blocks other CPUs hold in their caches may fit: have them given back, once. */
	if (!p && h->ops->reclaim) {
		unsigned long irq;

		h->ops->reclaim(h->ctx);
		p = small_alloc(h, size, align, true);
		/* The give-backs kept the chunks they emptied: all but the usual one go now. */
		irq = spin_lock_irqsave(&h->lock);
		release_empty_chunks_locked(h, 1);
		spin_unlock_irqrestore(&h->lock, irq);
	}
	return p;
}

/*
 * Everything heap_alloc() does but a hit in the heap's own cache, out of
 * line so that the hit path saves no registers: this CPU's cache through the
 * ops (unless tried_cache: the hit path found the class empty), the lists,
 * large blocks, and debug mode.
 */
static __attribute__((noinline, cold)) void *alloc_miss(struct heap *h, size_t size, size_t align,
							bool tried_cache)
{
	void *p = NULL;

	if (size < HEAP_LARGE_MIN && align <= HEAP_ALIGN &&
	    (size > CACHE_REQ_MAX || !tried_cache)) {
		unsigned long irq = arch_irq_save();
		struct heap_cache *hc = heap_this_cache(h);

		p = size > CACHE_REQ_MAX ? cache_take_big(h, hc, size) : cache_take(h, hc, size);
		arch_irq_restore(irq);
	}
	if (!p)
		p = alloc_slow(h, size, align);
	if (__builtin_expect(h->debug != 0, 0))
		return debug_after_alloc(h, p, size);
	return p;
}

/* Hot: in .text.hot beside heap_free(), where no change to a miss path (cold) moves them. */
__attribute__((hot)) void *heap_alloc(struct heap *h, size_t size, size_t align)
{
	/*
	 * No per-CPU cache attached: the ops' hook could only give the heap's
	 * own (heap_this_cache()), so it is used inline.
	 */
	if (__builtin_expect(size <= CACHE_REQ_MAX && align <= HEAP_ALIGN && heap_plain(h), 1)) {
		unsigned long irq = arch_irq_save();
		void *p = cache_take(h, &h->cache, size);

		arch_irq_restore(irq);
		if (__builtin_expect(p != NULL, 1))
			return p;
		/* align is plain here: passing a constant keeps it out of a register on the hit. */
		return alloc_miss(h, size, HEAP_ALIGN, true);
	}
	return alloc_miss(h, size, align, false);
}

void *heap_cache_alloc(struct heap *h, struct heap_cache *hc, size_t size)
{
	if (!cacheable(h, size, 0) || hc->owner != h)
		return NULL;
	return cache_take(h, hc, size);
}

void *heap_calloc(struct heap *h, size_t n, size_t size)
{
	size_t bytes;
	void *p;

	if (__builtin_mul_overflow(n, size, &bytes))
		return NULL;
	p = heap_alloc(h, bytes, 0);
	if (p)
		memset(p, 0, bytes);
	return p;
}

/*
 * The header of p, a small block the caller owns; a bad free, double free,
 * damaged header or overwritten canary is reported and never returns.
 */
_Static_assert(HEAP_CHUNK_STRIDE == 2 * HEAP_CHUNK_SIZE, "small_block_of()'s slot test");

static inline __attribute__((always_inline)) struct heap_block *small_block_of(struct heap *h,
									       const void *p)
{
	struct heap_block *b = heap_header(p);
	uint64_t off = (uintptr_t)b - h->base, slot = off / HEAP_CHUNK_STRIDE;

	/*
	 * heap_chunk_of() and the alignment in one test: the window's base is
	 * a stride apart, so off's low bits are the pointer's, and a header in
	 * a slot's unmapped half has the bit of HEAP_CHUNK_SIZE set.
	 */
	if ((off & (HEAP_CHUNK_SIZE | (HEAP_ALIGN - 1))) || slot >= h->max_chunks ||
	    !(h->chunk_map[slot / 64] >> (slot % 64) & 1))
		heap_bad_free(h, p);
	if (!heap_in_state(h, b, HS_ALLOC))
		heap_bad_free(h, p);
	if (!heap_canary_ok(h, p, b->req, HEAP_CANARY_SIZE))
		heap_fail(h,
			  "buffer overrun: the canary after the %u bytes of block %#lx (%lu bytes) "
			  "is overwritten",
			  b->req, (unsigned long)p, (unsigned long)heap_block_size(b));
	return b;
}

/* True if p lies in the window's chunk half (NULL does not). */
static inline bool heap_is_small(const struct heap *h, const void *p)
{
	return (uintptr_t)p - h->base < h->large_base - h->base;
}

/* Free the small block at p through this CPU's cache, or else to the lists. */
static void small_free(struct heap *h, void *p)
{
	struct heap_block *b = small_block_of(h, p);
	unsigned long irq = arch_irq_save();
	struct heap_cache *hc = heap_this_cache(h);
	bool cached = heap_block_size(b) > HEAP_CACHE_MAX ? cache_put_big(h, hc, b, p)
							  : cache_put(h, hc, b, p);

	arch_irq_restore(irq);
	if (cached)
		return;
	/*
	 * The merge reads the neighbours' tags: start loading them now. The
	 * lock is taken before the fill because taking it (an atomic) waits
	 * for every earlier store: the fill's, to lines that are often cold.
	 * Under the lock they drain while the merge's loads go ahead, which
	 * took about a tenth off the p99 of a pair (docs/bench.md); the cost
	 * is the fill's time in the lock on this (list) path.
	 */
	__builtin_prefetch(heap_next_block(b), 1);
	/* The free block before, if any: its footer has its size (checked in the merge). */
	if (!(b->size & HB_PREV_USED) && (uintptr_t)b % HEAP_CHUNK_STRIDE)
		__builtin_prefetch((const void *)((uintptr_t)b - *((uint64_t *)b - 1)), 1);
	irq = spin_lock_irqsave(&h->lock);
	heap_poison(p, heap_block_size(b) - sizeof(*b));
	heap_this_cache(h)->live_base--;
	heap_this_cache(h)->live_bytes -= b->req;
	heap_small_free_locked(h, b);
	spin_unlock_irqrestore(&h->lock, irq);
}

/* Everything heap_free() does but a hit in the heap's own cache: out of line. */
static __attribute__((noinline, cold)) void free_miss(struct heap *h, void *p)
{
	if (heap_is_small(h, p))
		small_free(h, p);
	else if (heap_is_large(h, (uintptr_t)p))
		heap_large_free(h, p);
	else if (p)
		heap_bad_free(h, p);
	if (__builtin_expect(h->debug & HEAP_DEBUG_VERIFY, 0))
		debug_verify(h);
}

__attribute__((hot)) void heap_free(struct heap *h, void *p)
{
	uintptr_t off = (uintptr_t)p - sizeof(struct heap_block) - h->base;

	/*
	 * A header in one of the chunk slots is a small block's (NULL, large
	 * and foreign pointers fail the test and go to free_miss());
	 * small_block_of() makes the same test, so the compiler can drop one.
	 * No per-CPU cache attached: the ops' hook could only give the heap's
	 * own (heap_this_cache()), so it is used inline.
	 */
	if (__builtin_expect(off / HEAP_CHUNK_STRIDE < h->max_chunks && heap_plain(h), 1)) {
		struct heap_block *b = small_block_of(h, p);
		unsigned long irq = arch_irq_save();
		bool cached = cache_put(h, &h->cache, b, p);

		arch_irq_restore(irq);
		if (__builtin_expect(cached, 1))
			return;
	}
	free_miss(h, p);
}

bool heap_cache_free(struct heap *h, struct heap_cache *hc, void *p)
{
	if (!heap_is_small(h, p) || h->debug || hc->owner != h)
		return false;
	return cache_put(h, hc, small_block_of(h, p), p);
}

/*
 * Resize the small block b to need bytes in place, if it shrinks or its
 * next neighbour is free and big enough. A block that grows keeps half as
 * much again if the neighbour has it, so that a string of small grows does
 * not come back here each time. Caller holds the lock.
 */
static bool small_resize_locked(struct heap *h, struct heap_block *b, uint64_t need)
{
	uint64_t have = heap_block_size(b), old = have;
	struct heap_block *next = heap_next_block(b), *tail;

	if (need > have) {
		if ((next->size & HB_USED) || have + heap_block_size(next) < need)
			return false;
		have += absorb_next(h, b, next);
		b->size = have | (b->size & HB_FLAGS);
		heap_next_block(b)->size |= HB_PREV_USED;
		need = MIN(have, MAX(need, ALIGN_UP(old + old / 2, HEAP_ALIGN)));
	}
	if (have - need >= HEAP_MIN_BLOCK) {
		tail = (struct heap_block *)((uintptr_t)b + need);
		/* What was b's payload is poisoned; a merged neighbour's space already is. */
		if (need < old)
			heap_poison(tail, old - need);
		tail->size = (have - need) | HB_USED | HB_PREV_USED;
		b->size = need | (b->size & HB_FLAGS);
		heap_small_free_locked(h, tail);
	}
	return true;
}

/* Allocate, copy the smaller of the two sizes, free the old block. */
static void *realloc_move(struct heap *h, void *p, uint64_t old_size, size_t size)
{
	void *q = heap_alloc(h, size, 0);

	if (!q)
		return NULL;
	memcpy(q, p, MIN(old_size, (uint64_t)size));
	heap_free(h, p);
	return q;
}

/* Make the allocated block b hold size bytes: its request, check word and canary. */
static void small_set_request(struct heap *h, struct heap_block *b, size_t size)
{
	unsigned long irq = arch_irq_save();

	heap_this_cache(h)->live_bytes += size - b->req;
	arch_irq_restore(irq);
	b->req = (uint32_t)size;
	heap_set_state(h, b, HS_ALLOC);
	heap_canary_put(h, heap_payload(b), size, HEAP_CANARY_SIZE);
}

static void *small_realloc(struct heap *h, void *p, size_t size)
{
	struct heap_block *b = small_block_of(h, p);
	uint64_t old = b->req, need = heap_block_for(size), have = heap_block_size(b);
	unsigned long irq;
	bool done;

	if (size >= HEAP_LARGE_MIN)
		return realloc_move(h, p, old, size);
	/* Still fits, and grows or has too little left over to split off: nothing else changes. */
	if (need <= have && (size >= old || have - need < HEAP_MIN_BLOCK)) {
		small_set_request(h, b, size);
		return p;
	}
	irq = spin_lock_irqsave(&h->lock);
	done = small_resize_locked(h, b, need);
	if (done)
		small_set_request(h, b, size);
	spin_unlock_irqrestore(&h->lock, irq);
	return done ? p : realloc_move(h, p, old, size);
}

void *heap_realloc(struct heap *h, void *p, size_t size)
{
	void *q;

	if (!p)
		return heap_alloc(h, size, 0);
	if (size == 0) {
		heap_free(h, p);
		return NULL;
	}
	if (heap_is_large(h, (uintptr_t)p))
		q = heap_large_realloc(h, p, size);
	else
		q = small_realloc(h, p, size);
	if (__builtin_expect(h->debug & HEAP_DEBUG_VERIFY, 0))
		debug_verify(h);
	return q;
}

size_t heap_size(struct heap *h, const void *p)
{
	if (!p)
		return 0;
	if (heap_is_large(h, (uintptr_t)p))
		return heap_large_size(h, p);
	return small_block_of(h, p)->req;
}

void heap_trim(struct heap *h)
{
	unsigned long irq = spin_lock_irqsave(&h->lock);

	heap_large_trim(h);
	cache_drain_locked(h);
	release_empty_chunks_locked(h, 0);
	spin_unlock_irqrestore(&h->lock, irq);
}

/* The largest block in the lists: the biggest in the highest non-empty list. */
static uint64_t largest_free_locked(struct heap *h)
{
	uint64_t best = 0;
	unsigned fl, sl;

	if (!h->fl_bitmap)
		return 0;
	fl = 31 - (unsigned)__builtin_clz(h->fl_bitmap);
	sl = 31 - (unsigned)__builtin_clz(h->sl_bitmap[fl]);
	for (struct heap_free_links *l = h->free[fl][sl]; l; l = l->next)
		best = MAX(best, heap_block_size(heap_header(l)));
	return best;
}

void heap_stats(struct heap *h, struct heap_stats *s)
{
	unsigned long irq = spin_lock_irqsave(&h->lock);

	memset(s, 0, sizeof(*s));
	s->chunk_bytes = (uint64_t)h->chunks * HEAP_CHUNK_SIZE;
	s->large_bytes = h->large_bytes;
	s->live_blocks = h->large_live;
	s->live_bytes = h->large_req;
	s->free_bytes = h->free_bytes;
	s->free_blocks = h->free_blocks;
	s->largest_free = largest_free_locked(h);
	for (unsigned i = 0; i < h->ncaches; i++) { /* other CPUs' caches: a snapshot */
		const struct heap_cache *hc = h->caches[i];
		s->live_blocks += heap_cache_live_blocks(hc);
		s->live_bytes += hc->live_bytes;
		for (unsigned c = 0; c < HEAP_CACHE_ALL; c++)
			s->cached_blocks += hc->cls[c].count;
		for (unsigned c = 0; c < HEAP_CACHE_CLASSES; c++)
			s->cached_bytes += (uint64_t)hc->cls[c].count * c * HEAP_ALIGN;
		s->cached_bytes += hc->big_bytes;
	}
	s->chunks = h->chunks;
	s->grows = h->grows;
	s->shrinks = h->shrinks;
	s->failures = h->failures;
	spin_unlock_irqrestore(&h->lock, irq);
}
