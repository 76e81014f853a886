/*
 * The physical frame allocator: which 4 KiB frames of RAM are free.
 * Portable C: the kernel runs one instance over boot_info's memory map;
 * host tests, fuzzers and `ninja bench` run others over simulated maps.
 *
 * Design (docs/pmm.md): one bit per frame says "free"; summary levels above
 * it (one bit per 64-bit word below: "this word has a free frame") let an
 * allocation walk down from a single top word to the lowest free frame in
 * ceil(log64(frames)) steps. A second tree marks words whose 64 frames are
 * all free, so long runs are found without visiting every small hole. A
 * bitmap says which frames may ever be handed out ("allocatable"), so a
 * free of a frame that never was allocatable, or a double free, is caught
 * every time.
 *
 * Frames start reserved: pmm_init() tracks all RAM in the map but makes
 * none of it allocatable; the caller then releases what may be used
 * (usable RAM at once, loader and boot-services memory once it is no
 * longer needed). Physical frame 0 is never made allocatable.
 *
 * An instance reports through the ops it is given at pmm_init(), as the
 * heap does (include/mm/heap.h): the kernel's (mm/pmm_boot.c) logs, host
 * tests and fuzzers count.
 *
 * Locking: every public function takes the instance's IRQ-safe spinlock, so
 * it may be called with interrupts on or off. A per-CPU frame cache
 * (include/mm/pmm_cache.h) sits in front of pmm_alloc()/pmm_free() once
 * attached: no lock on its fast paths, refill and drain a word at a time
 * under the lock; the bitmaps stay the truth.
 */
#pragma once

#include <lib/spinlock.h>
#include <lib/types.h>
#include <mm/memmap.h>
#include <mm/pmm_cache.h>

/* Summary levels: 64^7 frames (16 PiB) is more than x86-64's 52-bit physical space. */
#define PMM_MAX_LEVELS 7

/*
 * A bitmap with summary levels: level[0] is the bitmap itself; a bit of
 * level[i + 1] is set exactly when word j of level[i] is non-zero, for its
 * position j. The top level is a single word.
 */
struct pmm_tree {
	unsigned levels;
	uint64_t *level[PMM_MAX_LEVELS];
	uint64_t words[PMM_MAX_LEVELS]; /* words in each level */
};

/* What an instance calls back into; given to pmm_init(). */
struct pmm_ops {
	/*
	 * pmm_free()/pmm_free_run() refused a free (nothing changed): a short
	 * reason ("double free", ...), the frame and the caller's return
	 * address. Called without the instance's lock held.
	 */
	void (*report)(void *ctx, const char *reason, paddr_t pa, const void *caller);
	/*
	 * Optional: this CPU's frame cache (include/mm/pmm_cache.h), called
	 * with interrupts off. pmm_alloc()/pmm_free() go through it once it
	 * is attached; NULL, or a cache not attached, means the locked path.
	 */
	struct pmm_cache *(*cache)(void *ctx);
	/*
	 * Optional: pmm_alloc()/pmm_alloc_run() found nothing outside the
	 * caches while other caches hold frames. Ask their owners to give
	 * them back (another CPU's cache is only ever touched by that CPU)
	 * and return once they did, or once waiting longer is not safe
	 * (the caller may hold locks, docs/design.md); the allocation is then
	 * tried once more. Called without the instance's lock, with
	 * interrupts as the allocation's caller had them.
	 */
	void (*reclaim)(void *ctx);
};

struct pmm {
	struct spinlock lock;
	const struct pmm_ops *ops;
	void *ctx;		 /* the ops' own */
	uint64_t base_frame;	 /* frame number of bit 0, a multiple of 2^18 (1 GiB) */
	uint64_t nframes;	 /* frames covered by the bitmaps */
	struct pmm_tree freemap; /* one bit per frame: free */
	struct pmm_tree fullmap; /* one bit per freemap word: all 64 frames free */
	uint64_t *allocatable;	 /* one bit per frame: may ever be handed out */
	uint64_t low_word;	 /* freemap words below this one are empty */
	uint64_t managed;	 /* allocatable frames */
	uint64_t free;		 /* free frames */
	size_t metadata_bytes;	 /* bytes of bitmaps in use */
	unsigned ncaches;	 /* attached per-CPU caches */
	struct pmm_cache *caches[PMM_MAX_CACHES];
};

struct pmm_stats {
	uint64_t span_frames;	 /* frames covered, RAM or not */
	uint64_t managed_frames; /* allocatable frames */
	uint64_t free_frames;	 /* of those, free now (cached ones included) */
	uint64_t cached_frames;	 /* of those, sitting in per-CPU caches */
	uint64_t metadata_bytes; /* the allocator's own memory */
};

/* What pmm_frame_state() says about one frame. */
enum pmm_frame_state {
	PMM_FRAME_OUTSIDE,   /* not covered by this allocator */
	PMM_FRAME_RESERVED,  /* covered, never allocatable (or not released yet) */
	PMM_FRAME_ALLOCATED, /* allocatable and handed out */
	PMM_FRAME_FREE,	     /* allocatable and free (or in a per-CPU cache) */
};

/*
 * Bytes of metadata pmm_init() needs for this normalised map (page-aligned
 * size, so the kernel can carve it from RAM). 0 if the map has no RAM.
 */
size_t pmm_metadata_size(const struct memmap_entry *map, size_t n);

/*
 * Set up p to track the frames of the normalised map map[0..n) from the
 * lowest to the highest frame of a type that may one day be released
 * (MEMMAP_USABLE up to MEMMAP_KERNEL; not NVS, runtime or persistent
 * memory), with every frame reserved. On error p is left as it was.
 * => meta: meta_size bytes (at least pmm_metadata_size()), 8-byte aligned,
 *    owned by p from now on.
 * => ops: its report hook set; ops and ctx are kept for p's lifetime.
 * Returns 0, -EINVAL without ops, -ENOMEM if the map has no such frame,
 * -ENOSPC if meta is too small.
 */
int pmm_init(struct pmm *p, const struct memmap_entry *map, size_t n, void *meta, size_t meta_size,
	     const struct pmm_ops *ops, void *ctx);

/*
 * Make [base, base + length) allocatable and free. Frame 0 is skipped.
 * => base and length page aligned, length > 0, inside the tracked span.
 * Returns 0; -EINVAL for a bad range; -EEXIST if any frame in it is already
 * allocatable (then nothing changes).
 */
int pmm_release(struct pmm *p, paddr_t base, uint64_t length);

/*
 * The lowest free frame, now allocated; PADDR_INVALID if none is free.
 * With this CPU's cache attached: the lowest frame of the cache's word,
 * which refill makes the lowest non-empty word (docs/pmm.md). If only
 * other caches hold free frames, the ops' reclaim hook asks for them first.
 */
paddr_t pmm_alloc(struct pmm *p);

/*
 * count contiguous free frames starting at a multiple of align (bytes, a
 * power of two, at least PAGE_SIZE), now allocated; the lowest such run.
 * Returns its base, or PADDR_INVALID if there is none or the arguments are
 * bad. Cached frames are asked back (the reclaim hook) before it gives up.
 */
paddr_t pmm_alloc_run(struct pmm *p, uint64_t count, uint64_t align);

/*
 * Give back the frame at pa. A refused free changes nothing and calls
 * the ops' report() with the reason.
 * Returns 0; -EINVAL if pa is misaligned or outside the allocator;
 * -EPERM if the frame was never allocatable; -EALREADY if it is already free.
 */
int pmm_free(struct pmm *p, paddr_t pa);

/* Give back count frames from pa, all or nothing; errors as pmm_free(). */
int pmm_free_run(struct pmm *p, paddr_t pa, uint64_t count);

/* The state of the frame holding pa (any address in it). */
enum pmm_frame_state pmm_frame_state(struct pmm *p, paddr_t pa);

/* A consistent snapshot of the counters. */
void pmm_stats(struct pmm *p, struct pmm_stats *s);

/*
 * Verify every invariant: each summary bit matches the word below, free
 * frames are allocatable, the counters match the bitmaps, frame 0 is
 * reserved. O(frames / 64). For tests and debugging.
 */
bool pmm_check(struct pmm *p);
