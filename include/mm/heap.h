/*
 * The heap allocator (mm/heap.c): portable C behind kmalloc (mm/kmalloc.c).
 * The kernel runs one instance in its heap window; host tests, the fuzzer
 * and `ninja bench` run others over windows of their own.
 *
 * A heap owns a window of virtual addresses [base, base + size) and asks
 * its ops to back parts of it with memory. The window's first half holds
 * chunks, its second half large blocks (docs/heap.md has the picture):
 *
 *  - Small requests (below HEAP_LARGE_MIN bytes) are blocks carved from
 *    chunks of HEAP_CHUNK_SIZE bytes. Each block has a 16-byte header; free
 *    blocks also keep their size in a footer, so a freed block coalesces
 *    with free neighbours at once (boundary tags). Free blocks sit in
 *    segregated lists, two levels of size classes with a bitmap each, so
 *    finding a block that fits takes a bounded number of steps whatever the
 *    fragmentation. A chunk that becomes entirely free is given back.
 *  - In front of the lists, a cache keeps recently freed small blocks in
 *    exact-size LIFO lists, bounded per class, to be handed out again
 *    without touching the boundary tags: the fast path. It is accessed with
 *    interrupts off and no lock, so that it can become per-CPU.
 *  - Large requests get whole pages of their own, in a slot whose other
 *    pages stay unmapped: every large block has a guard page on each side.
 *
 * Hardening, always on: each header holds a check word mixing a per-heap
 * secret with the block's address, size and state, and a canary follows
 * the requested bytes of every block. heap_free() of a pointer the heap
 * never returned, a double free, an overwritten header or canary: the ops'
 * corrupt() hook gets a report naming the block and its size, and must not
 * return (the kernel panics). Freed memory is filled with HEAP_POISON.
 *
 * Locking: the lists and chunks are under an IRQ-safe spinlock; the ops
 * are called with it held and must not call back into the heap.
 */
#pragma once

#include <lib/spinlock.h>
#include <lib/types.h>

#define HEAP_ALIGN	  16u	      /* every block's alignment */
#define HEAP_MAX_ALIGN	  4096u	      /* the largest alignment heap_alloc() accepts */
#define HEAP_LARGE_MIN	  PAGE_SIZE   /* requests this big or bigger get pages of their own */
#define HEAP_CHUNK_SIZE	  (256 * KiB) /* mapped at a time for small blocks */
#define HEAP_CHUNK_STRIDE (512 * KiB) /* chunk slots: the unmapped rest is a guard */
#define HEAP_MAX_CHUNKS	  65536u      /* 16 GiB of small blocks */
#define HEAP_POISON	  0x6b	      /* fills freed memory */
#define HEAP_FILL	  0xa5	      /* fills new blocks with HEAP_DEBUG_FILL */

/* Second-level classes per power of two, and how many first levels. */
#define HEAP_SL_SHIFT 3
#define HEAP_SL_COUNT (1u << HEAP_SL_SHIFT)
#define HEAP_FL_COUNT 13u /* block sizes up to 2^18 (HEAP_CHUNK_SIZE) */

/* The front cache: exact block sizes, HEAP_ALIGN apart, up to this size. */
#define HEAP_CACHE_MAX	   1024u
#define HEAP_CACHE_CLASSES (HEAP_CACHE_MAX / HEAP_ALIGN + 1)
#define HEAP_CACHE_BYTES   (4 * KiB) /* per class: blocks cached at most (8, at least) */
/*
 * Bigger blocks, up to HEAP_CACHE_BIG_MAX, in coarse classes after the
 * exact ones: 2^HEAP_CACHE_BIG_SHIFT per power of two from 1 KiB, and
 * one more from 4 KiB (the largest small blocks), so a block there may be
 * up to a class bigger than the request needs.
 */
#define HEAP_CACHE_BIG_SHIFT   3u
#define HEAP_CACHE_BIG_CLASSES ((2u << HEAP_CACHE_BIG_SHIFT) + 1)
#define HEAP_CACHE_BIG_MAX     (4096u + (4096u >> HEAP_CACHE_BIG_SHIFT) - HEAP_ALIGN)
#define HEAP_CACHE_ALL	       (HEAP_CACHE_CLASSES + HEAP_CACHE_BIG_CLASSES)

/* Large blocks: slot class k is 2^k pages (payload plus at least one guard page). */
#define HEAP_LARGE_CLASSES 20u
#define HEAP_LARGE_BUCKETS 1024u /* hash buckets for large-block records */

/* heap.debug bits, for tests and debugging; both cost time. */
#define HEAP_DEBUG_FILL (1u << 0) /* fill new blocks with HEAP_FILL; check poison on reuse */
#define HEAP_DEBUG_VERIFY                                                                          \
	(1u << 1) /* heap_check() every verify_every calls; corrupt() on failure */

struct heap_ops {
	/* Back [va, va + size) (page aligned) with writable memory: 0 or -ENOMEM. */
	int (*map)(void *ctx, uintptr_t va, size_t size);
	/* Give back the memory of [va, va + size), mapped earlier by map. */
	void (*unmap)(void *ctx, uintptr_t va, size_t size);
	/* A hardening check failed: report msg and do not return. */
	__noreturn void (*corrupt)(void *ctx, const char *msg);
	/*
	 * Optional: this CPU's front cache, called with interrupts off. Until
	 * a cache is attached (heap_cache_attach) the heap is one CPU's and
	 * uses its own (h->cache) without asking; once one is, every CPU must
	 * have attached its own before its first heap call: NULL, or a cache
	 * not attached, goes to corrupt() (a shared cache behind interrupts
	 * off alone is not safe on SMP).
	 */
	struct heap_cache *(*cache)(void *ctx);
	/*
	 * Optional: have the other CPUs put the blocks their front caches
	 * hold back in the lists (each by heap_cache_give_back() on its own
	 * cache). Called without the lock, with interrupts as the allocating
	 * caller had them, when a small allocation found no room and the heap
	 * could not grow; the heap then tries once more.
	 */
	void (*reclaim)(void *ctx);
};

/* A free block's list links (in its payload). */
struct heap_free_links {
	struct heap_free_links *next, *prev;
};

/* One exact-size class of the front cache: a LIFO list through the blocks. */
struct heap_cache_class {
	void *head;	/* payload of the newest cached block */
	uint32_t count; /* blocks in the list */
	uint32_t limit; /* blocks it may hold */
};

/*
 * A front cache: the heap's own, plus one per CPU once attached
 * (heap_cache_attach), each touched only by its CPU with interrupts off.
 * A block allocated through one CPU's cache and freed through another's
 * moves the counters of both: only their sum over all caches means
 * anything.
 */
struct heap_cache {
	/*
	 * Blocks handed out here minus blocks freed here, plus the blocks the
	 * classes hold (heap_cache_live_blocks() in mm/heap_internal.h takes
	 * them off again): so a hit changes only its class's count, which moves
	 * the live total by itself. The locked paths and a drain change this.
	 */
	uint64_t live_base;
	struct heap_cache_class cls[HEAP_CACHE_ALL];
	/*
	 * Apart from live_base on purpose: side by side, the compiler pairs
	 * the two updates into one 16-byte access that the next update cannot
	 * forward from, a stall that cost a third of the fast path.
	 */
	uint64_t live_bytes; /* their requested bytes */
	uint64_t big_bytes;  /* block bytes in the coarse classes (the exact ones: count x size) */
	struct heap *owner;  /* the heap it is attached to */
};

#define HEAP_MAX_CACHES 65u /* the heap's own and one per CPU */

struct heap_large; /* a large block's record (mm/heap.c) */

struct heap {
	struct spinlock lock;
	const struct heap_ops *ops;
	void *ctx;
	unsigned ncaches; /* attached front caches, h->cache first */
	uint32_t debug;	  /* HEAP_DEBUG_*; next to ncaches: the fast paths test both at once */
	struct heap_cache *caches[HEAP_MAX_CACHES];
	uint64_t secret;       /* odd; mixed into every check word and canary */
	uint32_t req_key;      /* odd, from the secret: a request's part of the check word */
	uint32_t state_key[5]; /* from the secret, distinct: each state's part (heap_state) */
	uint32_t verify_every; /* HEAP_DEBUG_VERIFY: heap_check() every this many calls (1) */
	uint32_t verify_count; /* calls since the last one */

	uintptr_t base, size;			  /* the window */
	uintptr_t large_base;			  /* first large-block slot region */
	uint64_t large_region;			  /* bytes of each slot class's region */
	uint32_t max_chunks;			  /* chunk slots in the window */
	uint32_t chunks;			  /* chunks mapped */
	uint32_t empty_chunks;			  /* of those, entirely free */
	bool keep_empty_chunks;			  /* frees keep them all (heap_cache_give_back) */
	uint32_t chunk_hint;			  /* lowest bitmap word that may have a free slot */
	uint64_t chunk_map[HEAP_MAX_CHUNKS / 64]; /* one bit per chunk slot: mapped */

	/* Segregated free lists: bitmaps say which lists are non-empty. */
	uint32_t fl_bitmap;
	uint32_t sl_bitmap[HEAP_FL_COUNT];
	struct heap_free_links *free[HEAP_FL_COUNT][HEAP_SL_COUNT];

	struct heap_cache cache;

	/* Large blocks. */
	uint64_t large_next[HEAP_LARGE_CLASSES];	   /* next never-used slot per class */
	struct heap_large *large_free[HEAP_LARGE_CLASSES]; /* freed slots, oldest first */
	struct heap_large *large_free_tail[HEAP_LARGE_CLASSES];
	struct heap_large *large_hash[HEAP_LARGE_BUCKETS]; /* every record, by slot */
	uint64_t large_records;				   /* records (small blocks) */

	/* Counters (under the lock). */
	uint64_t free_bytes;	 /* bytes in free blocks of the lists */
	uint64_t free_blocks;	 /* blocks in the lists */
	uint64_t large_live;	 /* large blocks handed out */
	uint64_t large_bytes;	 /* their mapped bytes */
	uint64_t large_req;	 /* their requested bytes */
	uint64_t grows, shrinks; /* chunks mapped and unmapped, ever */
	uint64_t failures;	 /* requests answered with NULL */
};

struct heap_stats {
	uint64_t chunk_bytes;	/* mapped for small blocks */
	uint64_t large_bytes;	/* mapped for large blocks */
	uint64_t live_blocks;	/* handed out and not freed, small and large */
	uint64_t live_bytes;	/* bytes the callers asked for in them */
	uint64_t free_bytes;	/* in the free lists */
	uint64_t free_blocks;	/* blocks in the free lists */
	uint64_t largest_free;	/* the largest free block in the lists */
	uint64_t cached_blocks; /* in the front cache */
	uint64_t cached_bytes;	/* their block bytes */
	uint64_t chunks, grows, shrinks, failures;
};

/*
 * Set h up over the window [base, base + size); nothing is mapped yet.
 * => base and size multiples of HEAP_CHUNK_STRIDE, size at least 4 strides.
 * => secret: random bits (made odd here).
 * Returns 0 or -EINVAL.
 */
int heap_init(struct heap *h, uintptr_t base, uint64_t size, const struct heap_ops *ops, void *ctx,
	      uint64_t secret);

/*
 * size bytes aligned to align (a power of two up to HEAP_MAX_ALIGN; smaller
 * than HEAP_ALIGN means HEAP_ALIGN). size 0 gives a unique minimum block.
 * Returns NULL if there is no memory or the arguments are bad.
 */
void *heap_alloc(struct heap *h, size_t size, size_t align);

/* n * size zeroed bytes; NULL if the product overflows or no memory. */
void *heap_calloc(struct heap *h, size_t n, size_t size);

/* Free p (NULL does nothing). Bad frees and corruption go to ops->corrupt(). */
void heap_free(struct heap *h, void *p);

/*
 * Resize p's block to size bytes, keeping the contents up to the smaller
 * size: in place when it shrinks or a free neighbour (or, for a large
 * block, its slot) has room, else by allocating, copying and freeing.
 * heap_realloc(h, NULL, n) is heap_alloc(); heap_realloc(h, p, 0) frees p
 * and returns NULL. On failure NULL is returned and p is left untouched.
 */
void *heap_realloc(struct heap *h, void *p, size_t size);

/* The bytes requested for p's block, 0 for NULL (checking p as heap_free() does). */
size_t heap_size(struct heap *h, const void *p);

/*
 * The front cache's hit paths alone, for a caller (mm/kmalloc.c) that has
 * its CPU's attached cache hc at hand and keeps interrupts off around the
 * call: no ops call, lock or atomic instruction. heap_cache_alloc() returns
 * NULL if the request is not one for the cache (or debug mode is on, or hc
 * is not attached to h) or its class is empty; heap_cache_free() returns
 * false, changing nothing, if p is not a small block or its class is full
 * or too big. Either way the caller then calls heap_alloc() or heap_free(),
 * which do the rest. heap_cache_free() checks p as heap_free() does.
 */
void *heap_cache_alloc(struct heap *h, struct heap_cache *hc, size_t size);
bool heap_cache_free(struct heap *h, struct heap_cache *hc, void *p);

/*
 * Give cached blocks back to the lists, drop the records of freed large
 * slots above each class's highest live one, and unmap every entirely free
 * chunk. Otherwise the heap keeps one empty chunk, so that a free/alloc pair
 * at a chunk's edge does not unmap and map it each time. With nothing live,
 * nothing stays mapped.
 */
void heap_trim(struct heap *h);

/*
 * Put every block of hc, the calling CPU's attached front cache, back in
 * the lists. Chunks that become entirely free stay mapped (heap_trim()
 * gives them back): it takes the heap's lock and no other, and never
 * calls the ops' unmap, so an interrupt handler may call it.
 * => interrupts off; hc is this CPU's
 */
void heap_cache_give_back(struct heap *h, struct heap_cache *hc);

/* Whether hc holds a block: a hint, read without its CPU (whom to ask back). */
bool heap_cache_holds(const struct heap_cache *hc);

/*
 * Verify every chunk's blocks, tags and canaries, the lists, bitmaps and
 * counters, the cache and the large-block records. Returns 0, or -EIO with
 * what was wrong written to msg (msg_len bytes).
 */
int heap_check(struct heap *h, char *msg, size_t msg_len);

void heap_stats(struct heap *h, struct heap_stats *s);

/*
 * Attach c (any contents) as a CPU's front cache; the ops' cache hook may
 * return it from now on. Once one is attached, every CPU that calls the
 * heap must have attached its own first (ops.cache above). Returns 0,
 * -ENOSPC if HEAP_MAX_CACHES are attached.
 */
int heap_cache_attach(struct heap *h, struct heap_cache *c);

/*
 * If addr lies in a guard of the window (the unmapped pages after a live
 * large block, or the unmapped half of a mapped chunk's slot), write whose
 * guard it is to buf and return true. Lock-free, for fault handlers: the
 * answer may be stale if the heap changes meanwhile.
 */
bool heap_guard_name(struct heap *h, uintptr_t addr, char *buf, size_t len);
