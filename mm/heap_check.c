/*
 * The heap's self-checks: heap_check(), the full verifier a debug build or
 * a test runs on demand, and heap_bad_free(), which works out what is wrong
 * with a pointer handed to heap_free() so the report says what happened.
 * Both only read the heap.
 */
#include <lib/errno.h>
#include <lib/fmt.h>
#include "heap_internal.h"

/* What a walk of the chunks found, to compare with the lists and counters. */
struct heap_tally {
	uint64_t alloc_blocks, alloc_bytes; /* requested bytes */
	uint64_t free_blocks, free_bytes;
	uint64_t cached_blocks;
	uint64_t empty_chunks;
};

int heap_check_fail(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fmt_vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return -EIO;
}

/* The state b's check word proves, or 0 if it proves none. */
static enum heap_state state_of(const struct heap *h, const struct heap_block *b)
{
	for (enum heap_state s = HS_ALLOC; s <= HS_END; s++)
		if (heap_in_state(h, b, s))
			return s;
	return 0;
}

/* A word that may alias the bytes the poison fill wrote. */
typedef uint64_t __attribute__((may_alias)) poison_word;

/* True if the n bytes at p all hold HEAP_POISON. */
static bool poisoned(const void *p, uint64_t n)
{
	const unsigned char *c = p;
	uint64_t i = 0;

	/* Word by word where it can (p is 8-byte aligned here): chunks are megabytes. */
	for (; i + 8 <= n && (uintptr_t)(c + i) % 8 == 0; i += 8)
		if (*(const poison_word *)(c + i) != HEAP_POISON * 0x0101010101010101ull)
			return false;
	for (; i < n; i++)
		if (c[i] != HEAP_POISON)
			return false;
	return true;
}

/* Check one block whose header proved state s; add it to t. */
static int check_block(struct heap *h, struct heap_block *b, enum heap_state s,
		       struct heap_tally *t, char *msg, size_t len)
{
	uint64_t size = heap_block_size(b);
	char *p = heap_payload(b);

	switch (s) {
	case HS_ALLOC:
		if (heap_block_for(b->req) > size ||
		    !heap_canary_ok(h, p, b->req, HEAP_CANARY_SIZE))
			return heap_check_fail(msg, len,
					       "block %#lx (%lu bytes): canary overwritten",
					       (unsigned long)p, (unsigned long)size);
		t->alloc_blocks++;
		t->alloc_bytes += b->req;
		return 0;
	case HS_CACHED:
		if (size > HEAP_CACHE_BIG_MAX ||
		    !poisoned(p + sizeof(void *), size - sizeof(*b) - 8))
			return heap_check_fail(
			    msg, len, "cached block %#lx (%lu bytes) written after its free",
			    (unsigned long)p, (unsigned long)size);
		t->cached_blocks++;
		return 0;
	default:
		if (*(uint64_t *)(p + size - sizeof(*b) - 8) != size ||
		    !poisoned(p + sizeof(struct heap_free_links),
			      size - sizeof(*b) - sizeof(struct heap_free_links) - 8))
			return heap_check_fail(
			    msg, len, "free block %#lx (%lu bytes): footer or poison damaged",
			    (unsigned long)p, (unsigned long)size);
		t->free_blocks++;
		t->free_bytes += size;
		t->empty_chunks += size == HEAP_CHUNK_USABLE;
		return 0;
	}
}

/* Walk the blocks of the chunk at va: headers, tags, canaries, poison. */
static int check_chunk(struct heap *h, uintptr_t va, struct heap_tally *t, char *msg, size_t len)
{
	struct heap_block *b = (struct heap_block *)va;
	struct heap_block *end = (struct heap_block *)(va + HEAP_CHUNK_USABLE);
	bool prev_used = true;
	int err;

	while (b < end) {
		uint64_t size = heap_block_size(b);
		enum heap_state s = state_of(h, b);
		bool used = b->size & HB_USED;

		if (!s || s == HS_END || size < HEAP_MIN_BLOCK ||
		    size > (uintptr_t)end - (uintptr_t)b)
			return heap_check_fail(msg, len, "block %#lx: header damaged",
					       (unsigned long)heap_payload(b));
		if (!!(b->size & HB_PREV_USED) != prev_used || used == (s == HS_FREE) ||
		    (!used && !prev_used))
			return heap_check_fail(msg, len, "block %#lx: boundary tags wrong",
					       (unsigned long)heap_payload(b));
		err = check_block(h, b, s, t, msg, len);
		if (err)
			return err;
		prev_used = used;
		b = heap_next_block(b);
	}
	if (b != end || state_of(h, end) != HS_END || (end->size & ~HB_PREV_USED) != HB_USED ||
	    !!(end->size & HB_PREV_USED) != prev_used)
		return heap_check_fail(msg, len, "chunk %#lx: end marker damaged",
				       (unsigned long)va);
	return 0;
}

/* Every list: links, classes, bitmaps, and that it holds exactly the free blocks. */
static int check_lists(struct heap *h, const struct heap_tally *t, char *msg, size_t len)
{
	uint64_t listed = 0;

	for (unsigned fl = 0; fl < HEAP_FL_COUNT; fl++) {
		if (!!(h->fl_bitmap >> fl & 1) != (h->sl_bitmap[fl] != 0))
			return heap_check_fail(msg, len, "first-level bitmap wrong at %u", fl);
		for (unsigned sl = 0; sl < HEAP_SL_COUNT; sl++) {
			struct heap_free_links *prev = NULL;

			if (!!(h->sl_bitmap[fl] >> sl & 1) != (h->free[fl][sl] != NULL))
				return heap_check_fail(msg, len, "bitmap wrong for list %u.%u", fl,
						       sl);
			for (struct heap_free_links *l = h->free[fl][sl]; l;
			     prev = l, l = l->next) {
				struct heap_block *b = heap_header(l);
				unsigned f, s;

				if (++listed > t->free_blocks ||
				    heap_chunk_of(h, (uintptr_t)b) < 0 ||
				    !heap_in_state(h, b, HS_FREE) || l->prev != prev)
					return heap_check_fail(msg, len,
							       "list %u.%u damaged at %#lx", fl, sl,
							       (unsigned long)l);
				heap_class_of(heap_block_size(b), &f, &s);
				if (f != fl || s != sl)
					return heap_check_fail(
					    msg, len, "block %#lx in list %u.%u, not %u.%u",
					    (unsigned long)l, fl, sl, f, s);
			}
		}
	}
	if (listed != t->free_blocks || listed != h->free_blocks || t->free_bytes != h->free_bytes)
		return heap_check_fail(msg, len,
				       "%lu blocks listed, %lu free in chunks, %lu counted",
				       (unsigned long)listed, (unsigned long)t->free_blocks,
				       (unsigned long)h->free_blocks);
	return 0;
}

/* True if the cached block b belongs in class c: its exact size, or its coarse class. */
static bool in_cache_class(const struct heap_block *b, unsigned c)
{
	uint64_t size = heap_block_size(b);

	if (c < HEAP_CACHE_CLASSES)
		return size == c * HEAP_ALIGN;
	return size > HEAP_CACHE_MAX && size <= HEAP_CACHE_BIG_MAX &&
	       heap_cache_big_class(size) == c;
}

/* One front cache: each list holds blocks of its class, as many as it says. */
static int check_one_cache(struct heap *h, const struct heap_cache *hc, uint64_t *cached, char *msg,
			   size_t len)
{
	uint64_t big_bytes = 0;

	if (hc->owner != h)
		return heap_check_fail(msg, len, "a front cache of another heap is attached");

	for (unsigned c = 0; c < HEAP_CACHE_ALL; c++) {
		const struct heap_cache_class *cc = &hc->cls[c];
		uint32_t n = 0;

		for (void *p = cc->head; p; p = *(void **)p) {
			struct heap_block *b = heap_header(p);

			if (++n > cc->count || heap_chunk_of(h, (uintptr_t)b) < 0 ||
			    !heap_in_state(h, b, HS_CACHED) || !in_cache_class(b, c))
				return heap_check_fail(msg, len, "cache class %u damaged at %#lx",
						       c, (unsigned long)p);
			if (c >= HEAP_CACHE_CLASSES)
				big_bytes += heap_block_size(b);
		}
		if (n != cc->count || n > cc->limit)
			return heap_check_fail(msg, len, "cache class %u holds %u, says %u", c, n,
					       cc->count);
		*cached += n;
	}
	if (big_bytes != hc->big_bytes)
		return heap_check_fail(msg, len, "coarse cache classes hold %lu bytes, say %lu",
				       (unsigned long)big_bytes, (unsigned long)hc->big_bytes);
	return 0;
}

/* Every front cache (other CPUs' must be quiet), against the blocks found cached. */
static int check_cache(struct heap *h, const struct heap_tally *t, char *msg, size_t len)
{
	uint64_t cached = 0;

	for (unsigned i = 0; i < h->ncaches; i++) {
		int err = check_one_cache(h, h->caches[i], &cached, msg, len);
		if (err)
			return err;
	}
	if (cached != t->cached_blocks)
		return heap_check_fail(msg, len, "%lu blocks cached, %lu found in chunks",
				       (unsigned long)cached, (unsigned long)t->cached_blocks);
	return 0;
}

static int check_locked(struct heap *h, char *msg, size_t len)
{
	struct heap_tally t = {0};
	uint32_t chunks = 0;
	int err;

	for (uint64_t slot = 0; slot < h->max_chunks; slot++) {
		if (!(h->chunk_map[slot / 64] >> (slot % 64) & 1))
			continue;
		chunks++;
		err = check_chunk(h, heap_chunk_base(h, slot), &t, msg, len);
		if (err)
			return err;
	}
	if (chunks != h->chunks || t.empty_chunks != h->empty_chunks)
		return heap_check_fail(msg, len, "%u chunks mapped (%lu empty), counted %u (%u)",
				       chunks, (unsigned long)t.empty_chunks, h->chunks,
				       h->empty_chunks);
	err = check_lists(h, &t, msg, len);
	if (!err)
		err = check_cache(h, &t, msg, len);
	if (!err)
		err = heap_large_check(h, msg, len);
	if (err)
		return err;
	/* Large-block records are allocated small blocks the heap keeps for itself. */
	uint64_t live_blocks = 0, live_bytes = 0;
	for (unsigned i = 0; i < h->ncaches; i++) { /* only their sum means anything */
		live_blocks += heap_cache_live_blocks(h->caches[i]);
		live_bytes += h->caches[i]->live_bytes;
	}
	if (t.alloc_blocks - h->large_records != live_blocks ||
	    t.alloc_bytes - h->large_records * sizeof(struct heap_large) != live_bytes)
		return heap_check_fail(msg, len, "%lu small blocks allocated, %lu counted live",
				       (unsigned long)(t.alloc_blocks - h->large_records),
				       (unsigned long)live_blocks);
	return 0;
}

int heap_check(struct heap *h, char *msg, size_t len)
{
	unsigned long irq = spin_lock_irqsave(&h->lock);
	int err = check_locked(h, msg, len);

	spin_unlock_irqrestore(&h->lock, irq);
	if (!err && len)
		msg[0] = '\0';
	return err;
}

/* ---- diagnosing a bad free --------------------------------------------------- */

/* Report p, which lies inside block b (state s) without being its payload. */
static __noreturn void inside_block(struct heap *h, const void *p, struct heap_block *b,
				    enum heap_state s)
{
	unsigned long a = (unsigned long)p, at = (unsigned long)heap_payload(b);
	unsigned long size = (unsigned long)heap_block_size(b);

	if (s == HS_ALLOC)
		heap_fail(h, "bad free of %#lx: inside block %#lx (%lu bytes, %u requested)", a, at,
			  size, b->req);
	heap_fail(h, "double free of %#lx: it lies in free block %#lx (%lu bytes)", a, at, size);
}

__noreturn void heap_bad_free(struct heap *h, const void *p)
{
	uintptr_t a = (uintptr_t)p;
	long slot = heap_chunk_of(h, a);
	struct heap_block *b, *end;

	if (a - h->base >= h->size)
		heap_fail(h, "bad free of %#lx: not a block from this heap (outside its window)",
			  (unsigned long)a);
	if (slot < 0)
		heap_fail(h, "bad free of %#lx: not a block from this heap (nothing mapped there)",
			  (unsigned long)a);
	b = (struct heap_block *)heap_chunk_base(h, (uint64_t)slot);
	end = (struct heap_block *)((uintptr_t)b + HEAP_CHUNK_USABLE);
	for (; b < end; b = heap_next_block(b)) {
		enum heap_state s = state_of(h, b);
		uint64_t size = heap_block_size(b);

		if (!s || size < HEAP_MIN_BLOCK || size > (uintptr_t)end - (uintptr_t)b)
			heap_fail(h, "header of block %#lx overwritten (size field %#lx)%s",
				  (unsigned long)heap_payload(b), (unsigned long)b->size,
				  (uintptr_t)heap_payload(b) == a ? ""
								  : ", before the freed pointer");
		if (a < (uintptr_t)b + size) {
			if (a == (uintptr_t)heap_payload(b) && s != HS_ALLOC)
				heap_fail(h, "double free of %#lx (block of %lu bytes)",
					  (unsigned long)a, (unsigned long)size);
			inside_block(h, p, b, s);
		}
	}
	heap_fail(h, "bad free of %#lx: not a block from this heap (a chunk's end marker)",
		  (unsigned long)a);
}
