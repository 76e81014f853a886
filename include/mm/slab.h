/*
 * Object caches (mm/slab.c; docs/heap.md, "Object caches"): named caches of
 * fixed-size objects carved from slabs of 1 to 8 pages of the frame
 * allocator, with a magazine per CPU in front of each cache's lock.
 *
 *	static struct kmem_cache thread_cache = KMEM_CACHE_INIT("thread", struct thread);
 *	struct thread *t = kmem_cache_zalloc(&thread_cache);
 *	kmem_cache_free(&thread_cache, t);
 *
 * Hardening, always on:
 *  - each object has a state byte in its slab's header: FREE (on the slab's
 *    freelist) or TAKEN (in a magazine or allocated), written only under
 *    the cache's lock; an object in a magazine also carries a tag in its
 *    first word (a magic mixed with the secret and its address), written
 *    by the free that put it there. A double free or a free of a pointer
 *    the cache never handed out is reported every time, whether the object
 *    sits in a slab or in any CPU's magazine;
 *  - free objects are linked through their first word, encoded as
 *    next ^ secret ^ (the word's own address), and every decoded link is
 *    checked (inside the slab, on an object boundary, state free), so an
 *    overwrite of a freed object cannot steer an allocation;
 *  - freed objects are filled with KMEM_POISON, checked when they leave
 *    their slab again; a magazine object's tag is checked when it leaves
 *    the magazine.
 * A failed check calls the backend's corrupt() hook, which does not return
 * (the kernel panics).
 *
 * Scaling: the fast paths (a magazine hit) write only the CPU's own
 * magazine (cache lines of its own) and the object itself; slab headers
 * are only read there.
 *
 * Portable: the pages, the CPU number and the secret come from a backend
 * (struct kmem_backend): the kernel's in mm/slab_kernel.c, host tests bring
 * their own through kmem_backend.
 */
#pragma once

#include <lib/spinlock.h>
#include <lib/types.h>

#define KMEM_MAX_CPUS	 64u /* magazines per cache */
#define KMEM_MAG_SIZE	 15u /* objects per magazine: with its count, two cache lines */
#define KMEM_LINE	 64u /* a cache line: magazines and the locked half own theirs */
#define KMEM_SLAB_MIN	 PAGE_SIZE
#define KMEM_SLAB_MAX	 (8u * PAGE_SIZE)
#define KMEM_MIN_OBJECTS 8u /* a slab grows (up to KMEM_SLAB_MAX) to hold at least this many */
#define KMEM_MIN_SIZE	 16u
#define KMEM_MAX_SIZE	 8192u /* larger objects belong in kmalloc */
#define KMEM_POISON	 0x6b
#define KMEM_KEEP_EMPTY	 1u /* empty slabs a cache keeps before giving pages back */

/* Where a cache's pages, CPU numbers and secrets come from. */
struct kmem_backend {
	/* size bytes (a power of two, KMEM_SLAB_MIN..KMEM_SLAB_MAX) aligned to size, or NULL */
	void *(*page_alloc)(size_t size);
	void (*page_free)(void *page, size_t size);
	unsigned (*cpu)(void);	  /* this CPU's number; called with interrupts off */
	uint64_t (*secret)(void); /* a fresh random word for a new cache */
	__noreturn void (*corrupt)(const char *msg);
};

/* The backend every cache uses (mm/slab_kernel.c in the kernel). */
extern const struct kmem_backend *kmem_backend;

/* Up to KMEM_MAG_SIZE objects a CPU keeps for itself, touched only by it. */
struct kmem_magazine {
	_Alignas(KMEM_LINE) uint64_t count;
	void *obj[KMEM_MAG_SIZE];
};

struct kmem_slab;

struct kmem_cache {
	/* Set up once, then only read (the fast paths read them). */
	const char *name;
	uint32_t size, align; /* as created */
	uint32_t stride;      /* object spacing: size rounded up to align */
	uint32_t per_slab;    /* objects per slab */
	uint32_t first;	      /* offset of object 0 in its slab */
	uint32_t slab_size;   /* bytes per slab, a power of two; slabs are aligned to it */
	/* Objects a refill takes and a flush gives back: half a slab, at most 7; a magazine holds 2
	 * * batch + 1. */
	uint32_t batch;
	bool ready; /* set up (secret drawn, listed) */
	uint64_t secret;
	struct kmem_cache *next_cache; /* the list slabinfo walks */
	/* The locked half, on lines of its own. */
	_Alignas(KMEM_LINE) struct spinlock lock; /* the slab lists and counters below */
	struct kmem_slab *partial, *full, *empty;
	uint64_t slabs, objects; /* slabs held, objects taken (magazines included) */
	uint64_t empty_slabs;
	struct kmem_magazine mag[KMEM_MAX_CPUS];
};

/* A cache of objects of type, named name, ready on first use; type must fit. */
#define KMEM_CACHE_INIT(cache_name, type)                                                          \
	{                                                                                          \
		.name = (cache_name), .align = _Alignof(type),                                     \
		.size = sizeof(type) + 0 * sizeof(struct {                                         \
					       int unused;                                         \
					       _Static_assert(sizeof(type) <= KMEM_MAX_SIZE,       \
							      "too big for a kmem_cache");         \
				       })                                                          \
	}

/*
 * Set up c for objects of size bytes aligned to align (a power of two, at
 * most 4096); the slab size is the smallest that holds KMEM_MIN_OBJECTS
 * objects and wastes at most an eighth of itself, or KMEM_SLAB_MAX. Returns 0, -EINVAL for a size
 * outside [1, KMEM_MAX_SIZE] or a bad alignment.
 */
int kmem_cache_create(struct kmem_cache *c, const char *name, size_t size, size_t align);

/* An object, or NULL if no page could be had. Any context. */
void *kmem_cache_alloc(struct kmem_cache *c);

/* kmem_cache_alloc() filled with zeroes. */
void *kmem_cache_zalloc(struct kmem_cache *c);

/* Give obj back (NULL is ignored); a bad or double free is reported as corruption. */
void kmem_cache_free(struct kmem_cache *c, void *obj);

/*
 * Drain every magazine and give every page back. Returns 0, or -EBUSY
 * (nothing freed, the cache still usable) while objects are allocated.
 */
int kmem_cache_destroy(struct kmem_cache *c);

/*
 * Give back the pages c holds for nothing: the calling CPU's magazine goes
 * back to its slabs, then every empty slab is freed (other CPUs'
 * magazines stay: they need an IPI). For tests that count frames exactly.
 */
void kmem_cache_shrink(struct kmem_cache *c);
/* kmem_cache_shrink on every cache. */
void kmem_shrink_all(void);

/* What slabinfo shows for one cache. */
struct kmem_cache_info {
	const char *name;
	uint32_t size, stride, per_slab, slab_size;
	uint64_t active; /* objects allocated to callers */
	uint64_t cached; /* objects in magazines */
	uint64_t total;	 /* object slots in the cache's slabs */
	uint64_t slabs;
	uint64_t bytes; /* held in slabs */
};

void kmem_cache_info(struct kmem_cache *c, struct kmem_cache_info *info);

/* Call fn for every cache set up so far, in creation order. */
void kmem_cache_each(void (*fn)(struct kmem_cache *c, void *ctx), void *ctx);

/*
 * Every invariant of c (lists, counts, state bytes, encoded links, magazine
 * tags); for tests, with no other CPU using c.
 */
bool kmem_cache_check(struct kmem_cache *c);
