/*
 * What mm/heap.c, mm/heap_large.c and mm/heap_check.c share: the block
 * format and the helpers that read and check it. Nothing outside the heap
 * includes this.
 *
 * A chunk (HEAP_CHUNK_SIZE bytes at the start of its HEAP_CHUNK_STRIDE slot):
 *
 *	| block | block | ... | block | end marker (16 bytes) |
 *
 * A block (sizes and addresses multiples of 16):
 *
 *	+0   size     bytes of the block, header included | USED | PREV_USED
 *	+8   req      bytes the caller asked for (meaningful while allocated)
 *	+12  check    keyed check of the block's address, size, req and state
 *	+16  payload  allocated: req bytes, then the 8-byte canary, unaligned
 *	              cached:    next cached payload (8 bytes), then poison
 *	              free:      list links (16 bytes), poison, size (last 8)
 *
 * The first block of a chunk has PREV_USED set; the end marker is a used
 * header of size 0, so coalescing never looks outside the chunk.
 */
#pragma once

#include <lib/string.h>
#include <lib/types.h>
#include <mm/heap.h>

/*
 * Poison n bytes at p. In the kernel, memset is arch/x86_64/string.S's.
 * The bench (AERIE_BENCH) calls that same code under its host name, so it
 * times the fill the kernel runs, not the C library's vector memset,
 * which a kernel without vector registers cannot have; the host tests keep
 * the C library's, which ASan checks.
 */
#ifdef AERIE_BENCH
void *kernel_memset(void *dst, int c, size_t n);
#define heap_poison(p, n) kernel_memset((p), HEAP_POISON, (n))
#else
#define heap_poison(p, n) memset((p), HEAP_POISON, (n))
#endif

struct heap_block {
	uint64_t size;
	uint32_t req;
	uint32_t check;
};
_Static_assert(sizeof(struct heap_block) == HEAP_ALIGN, "a header keeps payloads aligned");

#define HB_USED	     1ull
#define HB_PREV_USED 2ull
#define HB_FLAGS     (HEAP_ALIGN - 1ull)

/* What a header's check word says the block is. */
enum heap_state {
	HS_ALLOC = 1,  /* handed out */
	HS_CACHED = 2, /* freed into the front cache: still "used" for its neighbours */
	HS_FREE = 3,   /* in a free list */
	HS_END = 4,    /* a chunk's end marker */
};

#define HEAP_CANARY_SIZE 8u
/* Header, links and footer: the smallest block that can be free. */
#define HEAP_MIN_BLOCK	  48u
#define HEAP_CHUNK_USABLE (HEAP_CHUNK_SIZE - sizeof(struct heap_block))
/* Largest small request: anything from HEAP_LARGE_MIN on gets pages. */
#define HEAP_SMALL_MAX (HEAP_LARGE_MIN - 1)

static inline struct heap_block *heap_header(const void *payload)
{
	return (struct heap_block *)((uintptr_t)payload - sizeof(struct heap_block));
}

static inline void *heap_payload(const struct heap_block *b)
{
	return (void *)((uintptr_t)b + sizeof(struct heap_block));
}

static inline uint64_t heap_block_size(const struct heap_block *b)
{
	return b->size & ~HB_FLAGS;
}

static inline struct heap_block *heap_next_block(const struct heap_block *b)
{
	return (struct heap_block *)((uintptr_t)b + heap_block_size(b));
}

/* The block size that holds a request of size bytes with its canary. */
static inline uint64_t heap_block_for(uint64_t size)
{
	uint64_t n = (size + sizeof(struct heap_block) + HEAP_CANARY_SIZE + HEAP_ALIGN - 1) &
		     ~(uint64_t)(HEAP_ALIGN - 1);

	return n < HEAP_MIN_BLOCK ? HEAP_MIN_BLOCK : n;
}

/*
 * The check word for b in state s: the header's own fields mixed with its
 * address and the secret, so a stray write, a pointer into the middle of a
 * block and a block in the wrong state all fail to match. The flags are
 * left out: a neighbour's free or allocation changes PREV_USED, and the
 * verifier checks the tags against the blocks themselves.
 *
 * Three keyed parts, XORed: a hash of the address and size (one multiply;
 * any bit flip changes its top half), the request times an odd key (a
 * bijection: any change of the request alone changes the word), and a key
 * per state. So a block changes state by one XOR, and a pair's hit path
 * hashes each header once, not once per check and once per change.
 */
static inline uint32_t heap_check_word_of(const struct heap *h, const struct heap_block *b,
					  uint64_t bsize, uint32_t req, enum heap_state s)
{
	/* The payload's address: p ^ secret is also its canary (heap_canary()). */
	uint64_t x = (((uintptr_t)b + sizeof(*b)) ^ h->secret ^ bsize) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(x >> 32) ^ req * h->req_key ^ h->state_key[s];
}
_Static_assert(HS_END < 5, "struct heap's state_key[] has a key per state");

static inline uint32_t heap_check_word(const struct heap *h, const struct heap_block *b,
				       enum heap_state s)
{
	return heap_check_word_of(h, b, b->size & ~HB_FLAGS, b->req, s);
}

static inline void heap_set_state(const struct heap *h, struct heap_block *b, enum heap_state s)
{
	b->check = heap_check_word(h, b, s);
}

static inline bool heap_in_state(const struct heap *h, const struct heap_block *b,
				 enum heap_state s)
{
	return b->check == heap_check_word(h, b, s);
}

/*
 * The canary after the requested bytes of the block whose payload is at p:
 * secret bytes that differ from block to block. (A multiply would add no
 * secrecy: it is invertible.)
 */
static inline uint64_t heap_canary(const struct heap *h, uintptr_t p)
{
	return p ^ h->secret;
}

/* Write n (at most 8) bytes of p's canary at p + req. */
static inline void heap_canary_put(const struct heap *h, void *p, uint64_t req, unsigned n)
{
	uint64_t c = heap_canary(h, (uintptr_t)p);

	__builtin_memcpy((char *)p + req, &c, n);
}

/* True if the n canary bytes at p + req are intact. */
static inline bool heap_canary_ok(const struct heap *h, const void *p, uint64_t req, unsigned n)
{
	uint64_t c = heap_canary(h, (uintptr_t)p), got = 0;

	__builtin_memcpy(&got, (const char *)p + req, n);
	return n == 8 ? got == c : (got ^ c) << (64 - 8 * n) == 0;
}

/*
 * The exact front cache class of a block of bsize bytes (a multiple of
 * HEAP_ALIGN, at most HEAP_CACHE_MAX): a class is HEAP_ALIGN bytes, so
 * bsize is its offset in the array, with no shift to undo.
 */
static inline struct heap_cache_class *heap_cache_class_of(struct heap_cache *hc, uint64_t bsize)
{
	return (struct heap_cache_class *)((char *)hc->cls + bsize);
}
_Static_assert(sizeof(struct heap_cache_class) == HEAP_ALIGN,
	       "heap_cache_class_of() indexes by size");

/*
 * True if the heap has no per-CPU cache attached and no debug mode: the
 * fast paths' one test of the two fields, which sit side by side for it.
 */
static inline bool heap_plain(const struct heap *h)
{
	uint64_t both;

	__builtin_memcpy(&both, &h->ncaches, sizeof(both));
	return both == 1; /* ncaches 1, debug 0, little-endian (asserted below) */
}
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "heap_plain() reads ncaches first");
_Static_assert(__builtin_offsetof(struct heap, debug) ==
		   __builtin_offsetof(struct heap, ncaches) + sizeof(unsigned),
	       "heap_plain() reads ncaches and debug as one word");

/* Chunk slot index of addr, or -1 if addr is not inside a mapped chunk. */
static inline long heap_chunk_of(const struct heap *h, uintptr_t addr)
{
	uint64_t off = addr - h->base;
	uint64_t slot = off / HEAP_CHUNK_STRIDE;

	if (slot >= h->max_chunks || off % HEAP_CHUNK_STRIDE >= HEAP_CHUNK_SIZE)
		return -1;
	if (!(h->chunk_map[slot / 64] >> (slot % 64) & 1))
		return -1;
	return (long)slot;
}

/* True if p lies in the window's large-block half. */
static inline bool heap_is_large(const struct heap *h, uintptr_t p)
{
	return p - h->large_base < h->base + h->size - h->large_base;
}

static inline uintptr_t heap_chunk_base(const struct heap *h, uint64_t slot)
{
	return h->base + slot * HEAP_CHUNK_STRIDE;
}

/* The free-list class of a free block of size bytes (TLSF's two-level mapping). */
static inline void heap_class_of(uint64_t size, unsigned *fl, unsigned *sl)
{
	if (size < (HEAP_ALIGN << HEAP_SL_SHIFT)) {
		*fl = 0;
		*sl = (unsigned)(size / HEAP_ALIGN);
	} else {
		unsigned f = 63 - (unsigned)__builtin_clzll(size);

		*fl = f - (HEAP_SL_SHIFT + 3);
		*sl = (unsigned)(size >> (f - HEAP_SL_SHIFT)) & (HEAP_SL_COUNT - 1);
	}
}

/*
 * A large block's record, kept in a small block for good: while the block
 * is live and after, so that its slot can be reused and a double free of
 * it recognised.
 */
struct heap_large {
	uintptr_t slot;		      /* the slot's first page: the payload */
	uint64_t pages;		      /* mapped now (0 once freed) */
	uint64_t req;		      /* bytes requested */
	uint32_t cls;		      /* the slot spans 2^cls pages */
	bool live;		      /* handed out */
	struct heap_large *hash_next; /* h->large_hash chain */
	struct heap_large *free_next; /* h->large_free queue */
};

/* In mm/heap.c, for the other parts. Callers hold h->lock. */
void *heap_small_alloc_locked(struct heap *h, uint64_t size, uint64_t align);
void heap_small_free_locked(struct heap *h, struct heap_block *b);
__noreturn void heap_fail(struct heap *h, const char *fmt, ...) __printf(2, 3);

__noreturn void heap_no_cache(struct heap *h);

/*
 * This CPU's front cache. A heap with no per-CPU cache attached
 * (ncaches == 1) is used by one CPU, which takes the heap's own. Once any
 * is attached, every CPU must have its own: the heap's own cache is
 * guarded only by interrupts being off, which keeps out no other CPU, so a
 * CPU without one is refused (heap_no_cache()) rather than sent there.
 * => interrupts off
 */
static inline struct heap_cache *heap_this_cache(struct heap *h)
{
	struct heap_cache *c;

	if (h->ncaches == 1)
		return &h->cache;
	c = h->ops->cache ? h->ops->cache(h->ctx) : NULL;
	if (__builtin_expect(!c || c->owner != h, 0))
		heap_no_cache(h);
	return c;
}

/* Blocks handed out through hc minus those freed through it. */
static inline uint64_t heap_cache_live_blocks(const struct heap_cache *hc)
{
	uint64_t n = hc->live_base;

	for (unsigned c = 0; c < HEAP_CACHE_ALL; c++)
		n -= hc->cls[c].count;
	return n;
}

/*
 * The front cache's coarse class of a block of bsize bytes, over
 * HEAP_CACHE_MAX: 8 classes per power of two after the exact ones.
 * HEAP_CACHE_ALL or more: too big to cache.
 */
static inline unsigned heap_cache_big_class(uint64_t bsize)
{
	unsigned f = 63 - (unsigned)__builtin_clzll(bsize);

	return HEAP_CACHE_CLASSES + ((f - 10) << HEAP_CACHE_BIG_SHIFT) +
	       (unsigned)((bsize >> (f - HEAP_CACHE_BIG_SHIFT)) &
			  ((1u << HEAP_CACHE_BIG_SHIFT) - 1));
}
_Static_assert(HEAP_CACHE_MAX == 1024, "heap_cache_big_class() starts at 2^10");
_Static_assert(HEAP_CACHE_BIG_MAX >= HEAP_SMALL_MAX + sizeof(struct heap_block) + HEAP_CANARY_SIZE,
	       "every small request's block fits a coarse class");

/* In mm/heap_large.c. */
void *heap_large_alloc(struct heap *h, uint64_t size);
void heap_large_free(struct heap *h, void *p);
void *heap_large_realloc(struct heap *h, void *p, uint64_t size);
uint64_t heap_large_size(struct heap *h, const void *p);
void heap_large_trim(struct heap *h);
int heap_large_check(struct heap *h, char *msg, size_t len);

/* In mm/heap_check.c: why freeing p is wrong; never returns. */
__noreturn void heap_bad_free(struct heap *h, const void *p);
/* Write what heap_check() found wrong into msg; returns -EIO. */
int heap_check_fail(char *msg, size_t len, const char *fmt, ...) __printf(3, 4);
