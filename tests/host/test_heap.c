/*
 * Host tests for mm/heap.c, the heap allocator, over tests/heap_host.h's
 * reserved window: alignment of every power of two up to HEAP_MAX_ALIGN
 * for sizes 0..5000, zero-size blocks, calloc's zeroing and overflow,
 * realloc in place (grow into a free neighbour, shrink, a large block
 * inside its slot) and by moving, coalescing in every free order, poison
 * after free, counters, exhaustion and recovery under a map budget,
 * heap_trim() giving everything back, a long random workload with pattern
 * checks, and every hardening check: double and bad frees, overruns into
 * the canary, overwritten headers and free-list damage, each of which must
 * reach corrupt() (or fail heap_check()) with a message naming the block,
 * in a forked child where a fault instead of a report would take the whole
 * binary down. The hardening checks are tables of cases, one line each.
 *
 * White-box facts used (mm/heap.c): a small block's 16-byte header sits
 * right before the payload: the block size (header included, a multiple
 * of 16) with bit 0 "in use" and bit 1 "previous in use", the request's
 * 32 bits and a 32-bit check word; an 8-byte canary follows the requested
 * bytes; a free block keeps list links in its first 16 payload bytes and
 * its size in its last 8.
 */
#include "../heap_host.h" /* first: it sets _DEFAULT_SOURCE for mmap */

#include <mm/heap.h>
#include <lib/errno.h>

#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define P      PAGE_SIZE
#define WINDOW (64 * GiB)

/* --- the instance under test --------------------------------------------------- */

/* Big (the chunk bitmap): static. A fresh one per test, so a failed test leaves no trace. */
static struct host_heap hh;
static struct heap *const H = &hh.heap;

static uint32_t coarse_limits[HEAP_CACHE_BIG_CLASSES]; /* as heap_init() set them */

/*
 * A fresh heap whose front cache's coarse classes are closed (limit 0), so
 * that, as most tests here expect, a block over HEAP_CACHE_MAX goes
 * straight to the lists when freed; open_coarse() opens them again.
 */
static bool setup(uint64_t seed)
{
	if (hh.reservation)
		host_heap_destroy(&hh);
	if (host_heap_create(&hh, WINDOW, seed) != 0)
		return false;
	for (unsigned k = 0; k < HEAP_CACHE_BIG_CLASSES; k++) {
		coarse_limits[k] = hh.heap.cache.cls[HEAP_CACHE_CLASSES + k].limit;
		hh.heap.cache.cls[HEAP_CACHE_CLASSES + k].limit = 0;
	}
	return true;
}

static void open_coarse(void)
{
	for (unsigned k = 0; k < HEAP_CACHE_BIG_CLASSES; k++)
		hh.heap.cache.cls[HEAP_CACHE_CLASSES + k].limit = coarse_limits[k];
}

#define SETUP() CHECK(setup(rng()))

static struct heap_stats stats(void)
{
	struct heap_stats s;

	heap_stats(H, &s);
	return s;
}

/* heap_check(), printing what it found as a TAP comment so a failure says why. */
static int check_heap(void)
{
	char msg[256] = "";
	int err = heap_check(H, msg, sizeof(msg));

	if (err)
		printf("# heap_check: %s\n", msg);
	return err;
}

/* After heap_trim() with nothing live: nothing cached, listed or mapped. */
static bool trimmed(void)
{
	struct heap_stats s = stats();

	if (s.live_blocks || s.live_bytes || s.large_bytes || s.cached_blocks || s.free_blocks ||
	    s.chunks || hh.mapped || check_heap()) {
		printf("# after heap_trim(): %lu bytes mapped, %lu chunks, %lu records\n",
		       (unsigned long)hh.mapped, (unsigned long)s.chunks,
		       (unsigned long)H->large_records);
		return false;
	}
	return true;
}

static void *alloc(size_t n)
{
	return heap_alloc(H, n, HEAP_ALIGN);
}

/* Nothing live and heap_check() clean: how a test that freed everything ends. */
static bool drained(void)
{
	uint64_t live = stats().live_blocks;

	if (live)
		printf("# %lu blocks still live\n", (unsigned long)live);
	return live == 0 && check_heap() == 0;
}

/* How many tests end: free a and b, the last live blocks, and expect the heap drained. */
static bool drained_by_freeing(void *a, void *b)
{
	heap_free(H, a);
	heap_free(H, b);
	return drained();
}

/* --- block contents and headers -------------------------------------------------- */

static uint8_t pattern(uint32_t seed, size_t i)
{
	return (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

static void fill(void *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		((uint8_t *)p)[i] = pattern(seed, i);
}

static bool filled(const void *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (((const uint8_t *)p)[i] != pattern(seed, i))
			return false;
	return true;
}

/* True if [p, p + n) is all byte b. */
static bool all(const void *p, size_t n, uint8_t b)
{
	for (size_t i = 0; i < n; i++)
		if (((const uint8_t *)p)[i] != b)
			return false;
	return true;
}

/* White-box: a small block's header (mm/heap_internal.h), right before its payload. */
struct header {
	uint64_t size; /* block bytes, ORed with 2 "previous in use" and 1 "in use" */
	uint32_t req;  /* bytes requested */
	uint32_t check;
};

static struct header header_of(const uint8_t *p)
{
	struct header h;

	memcpy(&h, p - sizeof(h), sizeof(h));
	return h;
}

/* Overwrite p's header with h; p. */
static uint8_t *set_header(uint8_t *p, struct header h)
{
	memcpy(p - sizeof(h), &h, sizeof(h));
	return p;
}

static uint64_t block_size(const void *p)
{
	return header_of(p).size & ~(uint64_t)15;
}

static bool in_use(const void *p)
{
	return header_of(p).size & 1;
}

/* The request that needs a block of exactly bs bytes: header and canary on top. */
static size_t request_for(uint64_t bs)
{
	return (size_t)(bs - 16 - 8);
}

/* --- alignment and sizes ------------------------------------------------------------ */

struct block {
	uint8_t *p;
	size_t n;
};

static int by_address(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct block *)a)->p;
	uintptr_t y = (uintptr_t)((const struct block *)b)->p;

	return x < y ? -1 : x > y;
}

/* No two of v[0..n) overlap (a zero-size block counts as one byte). */
static bool disjoint(struct block *v, size_t n)
{
	qsort(v, n, sizeof(*v), by_address);
	for (size_t i = 1; i < n; i++)
		if (v[i - 1].p + MAX(v[i - 1].n, 1) > v[i].p)
			return false;
	return true;
}

#define MAX_SIZE 5000

TEST(heap_alloc_returns_aligned_distinct_blocks)
{
	static struct block v[MAX_SIZE + 1];

	SETUP();
	for (size_t align = 1; align <= HEAP_MAX_ALIGN; align *= 2) {
		size_t want = MAX(align, HEAP_ALIGN);

		for (size_t n = 0; n <= MAX_SIZE; n++) {
			uint8_t *p = heap_alloc(H, n, align);

			CHECK(p != NULL);
			CHECK(IS_ALIGNED(p, want));
			CHECK(n < HEAP_LARGE_MIN || IS_ALIGNED(p, P));
			CHECK_EQ(heap_size(H, p), n);
			fill(p, n, (uint32_t)n);
			v[n] = (struct block){p, n};
		}
		CHECK_EQ(check_heap(), 0);
		CHECK_EQ(stats().live_blocks, MAX_SIZE + 1);
		/* Every pattern survived its neighbours' fills: nothing overlaps. */
		for (size_t n = 0; n <= MAX_SIZE; n++)
			CHECK(filled(v[n].p, n, (uint32_t)n));
		CHECK(disjoint(v, MAX_SIZE + 1));
		for (size_t n = 0; n <= MAX_SIZE; n++)
			heap_free(H, v[n].p);
		CHECK(drained());
	}
}

TEST(heap_alloc_rejects_bad_arguments)
{
	uint64_t failures;

	SETUP();
	/* Not powers of two (below HEAP_ALIGN, anything means HEAP_ALIGN). */
	CHECK(heap_alloc(H, 10, 48) == NULL);
	CHECK(heap_alloc(H, 10, 24) == NULL);
	CHECK(heap_alloc(H, 5000, 3 * P) == NULL);
	CHECK(heap_alloc(H, 10, 2 * HEAP_MAX_ALIGN) == NULL);
	CHECK(heap_alloc(H, 5000, 2 * HEAP_MAX_ALIGN) == NULL);
	/* Sizes whose rounding would wrap, and more than the window holds. */
	CHECK(heap_alloc(H, SIZE_MAX, 16) == NULL);
	CHECK(heap_alloc(H, SIZE_MAX - 8, 16) == NULL);
	CHECK(heap_alloc(H, SIZE_MAX - P, P) == NULL);
	CHECK(heap_alloc(H, SIZE_MAX / 2 + 1, 16) == NULL);
	CHECK(heap_alloc(H, WINDOW, 16) == NULL);
	failures = stats().failures;
	CHECK(heap_realloc(H, NULL, SIZE_MAX) == NULL);
	CHECK(stats().failures >= failures);
	CHECK(drained());
}

TEST(heap_alloc_zero_gives_unique_freeable_blocks)
{
	static struct block v[100];

	SETUP();
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		v[i] = (struct block){alloc(0), 0};
		CHECK(v[i].p != NULL);
		CHECK(IS_ALIGNED(v[i].p, HEAP_ALIGN));
		CHECK_EQ(heap_size(H, v[i].p), 0);
	}
	CHECK(disjoint(v, ARRAY_SIZE(v)));
	for (size_t i = 1; i < ARRAY_SIZE(v); i++)
		CHECK(v[i].p != v[i - 1].p);
	CHECK_EQ(stats().live_blocks, ARRAY_SIZE(v));
	CHECK_EQ(stats().live_bytes, 0);
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		heap_free(H, v[i].p);
	CHECK(drained());
}

TEST(heap_free_null_does_nothing)
{
	struct heap_stats a, b;
	void *p;

	SETUP();
	p = alloc(100);
	CHECK(p != NULL);
	a = stats();
	heap_free(H, NULL);
	b = stats();
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	CHECK(drained_by_freeing(p, NULL));
}

TEST(heap_debug_fill_fills_new_blocks)
{
	uint8_t *p, *q;

	SETUP();
	H->debug |= HEAP_DEBUG_FILL;
	p = alloc(300);
	q = alloc(6000);
	CHECK(p && q);
	CHECK(all(p, 300, HEAP_FILL));
	CHECK(all(q, 6000, HEAP_FILL));
	fill(p, 300, 1);
	heap_free(H, p);
	p = alloc(300); /* most likely the same block, from the cache */
	CHECK(p != NULL);
	CHECK(all(p, 300, HEAP_FILL));
	CHECK(drained_by_freeing(p, q));
}

/* --- calloc ------------------------------------------------------------------------- */

/* Dirty a freed block of n bytes, so that a calloc reusing it must clear it. */
static void dirty_then_free(size_t n)
{
	uint8_t *p = alloc(n);

	if (p) {
		memset(p, 0xff, n);
		heap_free(H, p);
	}
}

TEST(heap_calloc_zeroes)
{
	static const size_t sizes[] = {1, 24, 100, 1000, 2000, 4000, 4096, 5000, 70000};

	SETUP();
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t n = sizes[i];
		uint8_t *p, *q;

		dirty_then_free(n);
		p = heap_calloc(H, n, 1);
		CHECK(p != NULL);
		CHECK(all(p, n, 0));
		CHECK_EQ(heap_size(H, p), n);
		dirty_then_free(n * 3);
		q = heap_calloc(H, 3, n);
		CHECK(q != NULL);
		CHECK(all(q, 3 * n, 0));
		heap_free(H, p);
		heap_free(H, q);
	}
	/* Even over poison and HEAP_FILL. */
	H->debug |= HEAP_DEBUG_FILL;
	dirty_then_free(200);
	{
		uint8_t *p = heap_calloc(H, 200, 1);

		CHECK(p && all(p, 200, 0));
		heap_free(H, p);
	}
	CHECK_EQ(check_heap(), 0);
	CHECK_EQ(stats().live_blocks, 0);
}

TEST(heap_calloc_rejects_overflowing_products)
{
	void *p;

	SETUP();
	CHECK(heap_calloc(H, SIZE_MAX / 2 + 1, 2) == NULL);
	CHECK(heap_calloc(H, 2, SIZE_MAX / 2 + 1) == NULL);
	CHECK(heap_calloc(H, SIZE_MAX, SIZE_MAX) == NULL);
	CHECK(heap_calloc(H, (size_t)1 << 32, (size_t)1 << 32) == NULL);
	CHECK(heap_calloc(H, ((size_t)1 << 32) + 1, ((size_t)1 << 32) - 1) == NULL);
	CHECK_EQ(stats().live_blocks, 0);
	/* A zero product is a zero-size block. */
	p = heap_calloc(H, 0, 16);
	CHECK(p != NULL);
	CHECK_EQ(heap_size(H, p), 0);
	heap_free(H, p);
	p = heap_calloc(H, SIZE_MAX, 0);
	CHECK(p != NULL);
	heap_free(H, p);
	CHECK(drained());
}

/* --- realloc ------------------------------------------------------------------------- */

TEST(heap_realloc_grows_in_place_into_free_neighbour)
{
	uint8_t *a, *b, *c, *r;

	SETUP();
	/* Above HEAP_CACHE_MAX: b goes straight back to the lists, merged. */
	a = alloc(2000);
	b = alloc(2000);
	c = alloc(2000);
	CHECK(a && b && c);
	CHECK(b == a + block_size(a)); /* fresh chunk: carved in order */
	fill(a, 2000, 1);
	fill(c, 2000, 3);
	heap_free(H, b);
	r = heap_realloc(H, a, 3800);
	CHECK(r == a);
	CHECK_EQ(heap_size(H, a), 3800);
	CHECK(filled(a, 2000, 1));
	CHECK(filled(c, 2000, 3));
	CHECK_EQ(check_heap(), 0);
	/* To the very end of the freed neighbour: exactly both blocks. */
	CHECK(heap_realloc(H, a, request_for(c - a)) == a);
	CHECK(block_size(a) == (uint64_t)(c - a));
	CHECK(filled(a, 2000, 1));
	CHECK(filled(c, 2000, 3));
	CHECK_EQ(check_heap(), 0);
	fill(a, heap_size(H, a), 4);
	/* c is the last block carved: it grows into the chunk's free rest. */
	CHECK(heap_realloc(H, c, 3000) == c);
	CHECK(filled(c, 2000, 3));
	CHECK(filled(a, heap_size(H, a), 4));
	CHECK(drained_by_freeing(a, c));
}

TEST(heap_realloc_grows_in_place_into_trimmed_cached_neighbour)
{
	uint8_t *a, *b, *c;

	SETUP();
	a = alloc(100);
	b = alloc(100);
	c = alloc(100);
	CHECK(a && b && c);
	CHECK(b == a + block_size(a));
	fill(a, 100, 5);
	heap_free(H, b); /* cached: looks in use to the boundary tags... */
	heap_trim(H);	 /* ...until the cache is drained */
	CHECK(heap_realloc(H, a, 200) == a);
	CHECK(filled(a, 100, 5));
	CHECK(drained_by_freeing(a, c));
}

TEST(heap_realloc_shrinks_in_place)
{
	uint8_t *p, *q;

	SETUP();
	p = alloc(3000);
	q = alloc(3000); /* so the freed tail has an in-use neighbour */
	CHECK(p && q);
	fill(p, 3000, 7);
	CHECK(heap_realloc(H, p, 1000) == p);
	CHECK_EQ(heap_size(H, p), 1000);
	CHECK(filled(p, 1000, 7));
	CHECK(heap_realloc(H, p, 1) == p);
	CHECK(filled(p, 1, 7));
	CHECK_EQ(stats().live_bytes, 3000 + 1);
	CHECK_EQ(check_heap(), 0);
	/* Growing back into the tail it gave up. */
	CHECK(heap_realloc(H, p, 2900) == p);
	CHECK(filled(p, 1, 7));
	CHECK(drained_by_freeing(p, q));
}

TEST(heap_realloc_moves_and_keeps_contents)
{
	uint8_t *a, *b, *r;

	SETUP();
	a = alloc(500);
	b = alloc(500); /* in use right after a: no room to grow */
	CHECK(a && b);
	fill(a, 500, 9);
	fill(b, 500, 10);
	r = heap_realloc(H, a, 3000);
	CHECK(r != NULL && r != a);
	CHECK(filled(r, 500, 9));
	CHECK(filled(b, 500, 10));
	CHECK_EQ(stats().live_blocks, 2);
	CHECK_EQ(stats().live_bytes, 3500);
	/* Small to large and back keep contents too. */
	fill(r, 3000, 11);
	r = heap_realloc(H, r, 100000);
	CHECK(r != NULL && IS_ALIGNED(r, P));
	CHECK(filled(r, 3000, 11));
	fill(r, 100000, 12);
	r = heap_realloc(H, r, 700);
	CHECK(r != NULL);
	CHECK(filled(r, 700, 12));
	CHECK_EQ(stats().live_bytes, 1200);
	CHECK(drained_by_freeing(r, b));
}

TEST(heap_realloc_null_allocates_and_zero_frees)
{
	uint8_t *p;

	SETUP();
	p = heap_realloc(H, NULL, 123);
	CHECK(p != NULL);
	CHECK_EQ(heap_size(H, p), 123);
	CHECK_EQ(stats().live_blocks, 1);
	CHECK(heap_realloc(H, p, 0) == NULL);
	CHECK_EQ(stats().live_blocks, 0);
	p = heap_realloc(H, NULL, 9000);
	CHECK(p != NULL && IS_ALIGNED(p, P));
	CHECK(heap_realloc(H, p, 0) == NULL);
	CHECK(drained());
	heap_trim(H);
	CHECK(trimmed());
}

TEST(heap_realloc_failure_leaves_block_untouched)
{
	uint8_t *p, *q;

	SETUP();
	p = alloc(100);
	q = alloc(5000);
	CHECK(p && q);
	fill(p, 100, 13);
	fill(q, 5000, 14);
	hh.budget = hh.mapped; /* nothing more can be mapped */
	CHECK(heap_realloc(H, p, 1 * MiB) == NULL);
	CHECK(heap_realloc(H, q, 1 * MiB) == NULL);
	CHECK(heap_realloc(H, q, 300 * KiB) == NULL);
	CHECK(filled(p, 100, 13));
	CHECK(filled(q, 5000, 14));
	CHECK_EQ(heap_size(H, p), 100);
	CHECK_EQ(heap_size(H, q), 5000);
	CHECK_EQ(stats().live_blocks, 2);
	CHECK(stats().failures >= 3);
	CHECK_EQ(check_heap(), 0);
	hh.budget = 0;
	p = heap_realloc(H, p, 1 * MiB);
	CHECK(p != NULL);
	CHECK(filled(p, 100, 13));
	CHECK(drained_by_freeing(p, q));
}

/* --- large blocks ----------------------------------------------------------------------- */

TEST(heap_alloc_large_blocks_are_page_aligned)
{
	static const size_t sizes[] = {HEAP_LARGE_MIN, 4097, 5000, 8192, 65536, 1 * MiB, 7 * MiB};
	uint8_t *v[ARRAY_SIZE(sizes)];
	uint64_t want = 0;

	SETUP();
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		v[i] = alloc(sizes[i]);
		CHECK(v[i] != NULL);
		CHECK(IS_ALIGNED(v[i], P));
		CHECK_EQ(heap_size(H, v[i]), sizes[i]);
		fill(v[i], sizes[i], (uint32_t)i);
		want += sizes[i];
	}
	CHECK_EQ(stats().live_blocks, ARRAY_SIZE(sizes));
	CHECK_EQ(stats().live_bytes, want);
	CHECK(stats().large_bytes >= want);
	CHECK(IS_ALIGNED(stats().large_bytes, P));
	CHECK_EQ(check_heap(), 0);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		CHECK(filled(v[i], sizes[i], (uint32_t)i));
		heap_free(H, v[i]);
	}
	CHECK_EQ(stats().live_blocks, 0);
	CHECK_EQ(stats().large_bytes, 0);
	CHECK_EQ(check_heap(), 0);
}

/* Pages of a large block's slot: its payload pages and a guard, to a power of two. */
static uint64_t slot_pages(size_t n)
{
	uint64_t need = ALIGN_UP(n + 8, P) / P + 1, k = 1;

	while (k < need)
		k *= 2;
	return k;
}

TEST(heap_realloc_large_grows_and_shrinks_inside_its_slot)
{
	uint8_t *p;
	size_t top;

	SETUP();
	p = alloc(5000);
	CHECK(p != NULL);
	fill(p, 5000, 15);
	CHECK(heap_realloc(H, p, 8000) == p); /* the same pages */
	CHECK(filled(p, 5000, 15));
	top = (size_t)(slot_pages(5000) - 1) * P - 8; /* the most the slot holds */
	CHECK(top > 8000);
	CHECK(heap_realloc(H, p, top) == p);
	CHECK_EQ(heap_size(H, p), top);
	CHECK(filled(p, 5000, 15));
	fill(p, top, 16);
	CHECK(heap_realloc(H, p, 4500) == p);
	CHECK(filled(p, 4500, 16));
	CHECK_EQ(heap_size(H, p), 4500);
	CHECK_EQ(check_heap(), 0);
	/* Past the slot it moves, contents kept. */
	p = heap_realloc(H, p, 64 * KiB);
	CHECK(p != NULL && IS_ALIGNED(p, P));
	CHECK(filled(p, 4500, 16));
	heap_free(H, p);
	CHECK(drained());
}

/*
 * Run touch(p) in a child: it must die of SIGSEGV (or exit 42 from our own
 * handler, if the sanitizer hands the signal on).
 */
static void on_segv(int sig)
{
	_exit(42);
}

static bool faults(volatile uint8_t *p)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		signal(SIGSEGV, on_segv);
		signal(SIGBUS, on_segv);
		*p = 1;
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	return (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) ||
	       (WIFEXITED(status) && WEXITSTATUS(status) == 42);
}

TEST(heap_alloc_large_has_guard_pages)
{
	uint8_t *p;

	SETUP();
	p = alloc(5000);
	CHECK(p != NULL);
	fflush(stdout); /* the children must not print our buffered output again */
	CHECK(faults(p - 1));
	CHECK(faults(p + ALIGN_UP(5000 + 8, P)));
	CHECK(!faults(p + 5000 - 1)); /* sanity: the child's own write does not fault */
	heap_free(H, p);
	CHECK_EQ(check_heap(), 0);
}

/* --- coalescing ---------------------------------------------------------------------------- */

/* Three neighbours v[0..2] of one block size, between two in-use blocks. */
struct three {
	uint8_t *before, *v[3], *after;
};

static bool carve(struct three *t, uint64_t bs)
{
	t->before = alloc(request_for(bs));
	for (int i = 0; i < 3; i++)
		t->v[i] = alloc(request_for(bs));
	t->after = alloc(request_for(bs));
	return t->before && t->after && t->v[0] && t->v[1] == t->v[0] + bs &&
	       t->v[2] == t->v[1] + bs;
}

/*
 * Free t's three in the order given, then ask for a block of their
 * combined size: it must be v[0]'s, merged. 3 * bs should start a size
 * class, so that a good fit is found there before the chunk's free rest.
 */
static bool merged(struct three *t, const int order[3], uint64_t bs, bool trim)
{
	uint8_t *p;
	bool ok;

	for (int i = 0; i < 3; i++)
		heap_free(H, t->v[order[i]]);
	if (trim)
		heap_trim(H);
	/* White-box: one free block, its header at v[0]'s. */
	if (in_use(t->v[0]) || block_size(t->v[0]) != 3 * bs || check_heap())
		return false;
	/* A class with room for one block takes no run: the allocation below searches the lists. */
	if (3 * bs <= HEAP_CACHE_MAX)
		H->cache.cls[3 * bs / HEAP_ALIGN].limit = 1;
	p = alloc(request_for(3 * bs));
	ok = p == t->v[0] && block_size(p) == 3 * bs;
	heap_free(H, p);
	heap_free(H, t->before);
	heap_free(H, t->after);
	return ok && check_heap() == 0;
}

/* Fill the cache's class for bs-byte blocks: the next frees of that size go to the lists. */
static bool cache_filled(uint64_t bs)
{
	static uint8_t *fillers[64];

	for (size_t j = 0; j < ARRAY_SIZE(fillers); j++)
		if (!(fillers[j] = alloc(request_for(bs))))
			return false;
	for (size_t j = 0; j < ARRAY_SIZE(fillers); j++)
		heap_free(H, fillers[j]);
	return stats().cached_blocks > 0 && stats().cached_blocks <= HEAP_CACHE_BYTES / bs;
}

/* What the three go through before they must be one block. */
enum coalesce { FREED, FREED_THEN_TRIMMED, FREED_PAST_A_FULL_CACHE };

/* carve() and merged() on a fresh heap, in all six free orders; a failure names its order. */
static void check_merges_in_every_order(uint64_t bs, enum coalesce how)
{
	static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
					 {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};

	for (int i = 0; i < 6; i++) {
		const int *o = orders[i];
		const char *why = NULL;
		struct three t;

		if (!setup(rng()) || !carve(&t, bs))
			why = "carving the blocks failed";
		else if (how == FREED_PAST_A_FULL_CACHE && !cache_filled(bs))
			why = "filling the cache failed";
		else if (!merged(&t, o, bs, how == FREED_THEN_TRIMMED))
			why = "not merged";
		if (why) {
			check_fail(__FILE__, __LINE__, "free order %d, %d, %d: %s", o[0], o[1],
				   o[2], why);
			return;
		}
	}
}

TEST(heap_free_coalesces_neighbours_in_any_order)
{
	check_merges_in_every_order(1280, FREED); /* above HEAP_CACHE_MAX */
}

TEST(heap_trim_coalesces_cached_neighbours)
{
	check_merges_in_every_order(128, FREED_THEN_TRIMMED);
}

TEST(heap_free_coalesces_when_the_cache_is_full)
{
	check_merges_in_every_order(128, FREED_PAST_A_FULL_CACHE);
}

/* --- poison, counters, exhaustion, trim ------------------------------------------------------ */

TEST(heap_free_poisons_the_block)
{
	static const size_t sizes[] = {24, 100, 1000, 1500, 3000, 4000};

	SETUP();
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t n = sizes[i];
		uint8_t *keep = alloc(64), *p = alloc(n), *after = alloc(64);

		CHECK(keep && p && after); /* in-use neighbours: p's chunk stays mapped */
		fill(p, n, 17);
		heap_free(H, p);
		/* Links in the first 16 bytes; the footer is past the request. */
		CHECK(all(p + 16, n - 16, HEAP_POISON));
		CHECK_EQ(check_heap(), 0);
	}
}

TEST(heap_stats_count_live_blocks_and_bytes)
{
	static struct block v[300];
	uint64_t bytes = 0;
	struct heap_stats s;

	SETUP();
	rng_state = 0x5eed;
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		size_t n = rng() % 3 ? rng() % 2000 : rng() % 20000;

		v[i] = (struct block){alloc(n), n};
		CHECK(v[i].p != NULL);
		bytes += n;
		s = stats();
		CHECK_EQ(s.live_blocks, i + 1);
		CHECK_EQ(s.live_bytes, bytes);
	}
	s = stats();
	CHECK_EQ(s.chunk_bytes + s.large_bytes, hh.mapped);
	CHECK_EQ(s.chunk_bytes, s.chunks * HEAP_CHUNK_SIZE);
	CHECK(s.grows >= s.chunks);
	CHECK(s.largest_free <= s.free_bytes);
	for (size_t i = 0; i < ARRAY_SIZE(v); i += 2) {
		heap_free(H, v[i].p);
		bytes -= v[i].n;
	}
	s = stats();
	CHECK_EQ(s.live_blocks, ARRAY_SIZE(v) / 2);
	CHECK_EQ(s.live_bytes, bytes);
	CHECK(s.cached_blocks > 0 && s.cached_bytes >= s.cached_blocks * 32);
	CHECK_EQ(check_heap(), 0);
	heap_trim(H);
	s = stats();
	CHECK_EQ(s.cached_blocks, 0);
	CHECK_EQ(s.cached_bytes, 0);
	CHECK_EQ(s.live_blocks, ARRAY_SIZE(v) / 2);
	CHECK_EQ(s.chunk_bytes + s.large_bytes, hh.mapped);
	for (size_t i = 1; i < ARRAY_SIZE(v); i += 2)
		heap_free(H, v[i].p);
	CHECK_EQ(stats().live_bytes, 0);
	CHECK_EQ(check_heap(), 0);
}

TEST(heap_alloc_fails_cleanly_when_out_of_memory_then_recovers)
{
	static uint8_t *v[4096];
	size_t n = 0;
	struct heap_stats s;

	SETUP();
	hh.budget = 4 * HEAP_CHUNK_SIZE;
	while (n < ARRAY_SIZE(v) && (v[n] = alloc(1000)) != NULL)
		fill(v[n], 1000, (uint32_t)n), n++;
	CHECK(n > 0 && n < ARRAY_SIZE(v));
	CHECK(n >= 3 * HEAP_CHUNK_SIZE / 1100); /* the budget was mostly used */
	CHECK(hh.mapped <= hh.budget);
	CHECK(alloc(1000) == NULL);
	CHECK(alloc(100 * KiB) == NULL);
	CHECK(alloc(1 * MiB) == NULL);
	CHECK(heap_calloc(H, 1000, 1000) == NULL);
	s = stats();
	CHECK(s.failures >= 4);
	CHECK_EQ(s.live_blocks, n);
	CHECK_EQ(check_heap(), 0);
	/* Freeing makes room again without mapping more. */
	heap_free(H, v[--n]);
	heap_free(H, v[--n]);
	CHECK((v[n] = alloc(1000)) != NULL);
	fill(v[n], 1000, (uint32_t)n), n++;
	/* And so does a bigger budget. */
	hh.budget = 0;
	CHECK((v[n] = alloc(1000)) != NULL);
	fill(v[n], 1000, (uint32_t)n), n++;
	{
		void *big = alloc(1 * MiB);

		CHECK(big != NULL);
		heap_free(H, big);
	}
	for (size_t i = 0; i < n; i++) {
		CHECK(filled(v[i], 1000, (uint32_t)i));
		heap_free(H, v[i]);
	}
	CHECK_EQ(check_heap(), 0);
	heap_trim(H);
	CHECK(trimmed());
}

TEST(heap_alloc_large_fails_cleanly_when_out_of_memory)
{
	void *p, *q;

	SETUP();
	/* A chunk (for the large blocks' records) and three pages. */
	hh.budget = HEAP_CHUNK_SIZE + 3 * P;
	p = alloc(5000); /* two pages */
	CHECK(p != NULL);
	CHECK(alloc(5000) == NULL);
	CHECK(alloc(300 * KiB) == NULL);
	CHECK_EQ(stats().live_blocks, 1);
	CHECK_EQ(check_heap(), 0);
	heap_free(H, p);
	q = alloc(5000);
	CHECK(q != NULL);
	heap_free(H, q);
	CHECK_EQ(check_heap(), 0);
	hh.budget = 0;
	heap_trim(H);
	CHECK(trimmed());
}

TEST(heap_trim_returns_all_memory_of_small_blocks)
{
	static struct block v[3000];

	SETUP();
	rng_state = 0x7718;
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		size_t n = rng() % HEAP_LARGE_MIN;

		v[i] = (struct block){heap_alloc(H, n, (size_t)1 << rng() % 13), n};
		CHECK(v[i].p != NULL);
	}
	CHECK(stats().chunks > 2);
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		heap_free(H, v[(i * 7) % ARRAY_SIZE(v)].p);
	heap_trim(H);
	CHECK_EQ(hh.mapped, 0);
	CHECK_EQ(stats().chunks, 0);
	CHECK_EQ(stats().free_blocks, 0);
	CHECK_EQ(check_heap(), 0);
}

TEST(heap_trim_returns_all_memory_after_a_large_block)
{
	void *p;

	SETUP();
	p = alloc(5000);
	CHECK(p != NULL);
	heap_free(H, p);
	heap_trim(H);
	CHECK_EQ(stats().large_bytes, 0);
	CHECK_EQ(hh.mapped, 0); /* the large block's record must not pin a chunk */
}

TEST(heap_trim_returns_all_memory)
{
	static struct block v[2000];
	struct heap_stats s;

	SETUP();
	rng_state = 0x7717;
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
			size_t n = rng() % 8 ? rng() % 1100 : rng() % 300000;

			v[i] = (struct block){heap_alloc(H, n, (size_t)1 << rng() % 13), n};
			CHECK(v[i].p != NULL);
		}
		CHECK(hh.mapped > 0);
		for (size_t i = 0; i < ARRAY_SIZE(v); i++)
			heap_free(H, v[(i * 7) % ARRAY_SIZE(v)].p);
		CHECK_EQ(check_heap(), 0);
		CHECK(stats().chunks <= 1 || stats().cached_blocks > 0);
		heap_trim(H);
		s = stats();
		CHECK_EQ(hh.mapped, 0);
		CHECK_EQ(s.live_blocks, 0);
		CHECK_EQ(s.live_bytes, 0);
		CHECK_EQ(s.chunks, 0);
		CHECK_EQ(s.chunk_bytes, 0);
		CHECK_EQ(s.large_bytes, 0);
		CHECK_EQ(s.cached_blocks, 0);
		CHECK_EQ(s.free_blocks, 0);
		CHECK_EQ(hh.maps, hh.unmaps);
		CHECK_EQ(check_heap(), 0);
	}
}

/* --- a random workload -------------------------------------------------------------------------
 */

#define SLOTS 1024

static struct slot {
	uint8_t *p;
	size_t n;
	uint32_t seed;
} slots[SLOTS];

static size_t random_size(void)
{
	uint64_t r = rng() % 100;

	if (r < 70)
		return rng() % 256;
	if (r < 95)
		return rng() % HEAP_LARGE_MIN;
	return rng() % (64 * KiB);
}

static size_t random_align(void)
{
	return rng() % 8 ? HEAP_ALIGN : (size_t)1 << rng() % 13;
}

/* Say why the workload stopped, as a TAP comment; false. */
static bool why(const char *what, const struct slot *s)
{
	printf("# workload: %s (block %p, %zu bytes)\n", what, (void *)s->p, s->n);
	return false;
}

/* Alloc or calloc the empty slot s. */
static bool step_alloc(struct slot *s, bool zeroed, uint64_t *live, uint64_t *bytes)
{
	size_t n = random_size(), align = zeroed ? HEAP_ALIGN : random_align();
	uint8_t *p = zeroed ? heap_calloc(H, 1, n) : heap_alloc(H, n, align);

	*s = (struct slot){p, n, (uint32_t)rng()};
	if (!p)
		return why("allocation failed", s);
	if (zeroed && !all(p, n, 0))
		return why("calloc block not zeroed", s);
	if (!IS_ALIGNED(p, align))
		return why("misaligned", s);
	fill(p, n, s->seed);
	++*live, *bytes += n;
	return true;
}

/* One step on slot s: alloc or calloc it if empty, else free or realloc it. */
static bool step(struct slot *s, uint64_t *live, uint64_t *bytes)
{
	uint64_t r = rng() % 10;
	size_t n;
	uint8_t *p;

	if (!s->p)
		return step_alloc(s, r < 2, live, bytes);
	if (!filled(s->p, s->n, s->seed))
		return why("contents changed", s);
	if (heap_size(H, s->p) != s->n)
		return why("heap_size() wrong", s);
	if (r < 5) {
		heap_free(H, s->p);
		*bytes -= s->n, --*live;
		s->p = NULL;
		return true;
	}
	n = random_size();
	p = heap_realloc(H, s->p, n);
	if (n == 0) { /* that frees */
		*bytes -= s->n, --*live;
		s->p = NULL;
		return p == NULL || why("realloc to 0 returned a block", s);
	}
	if (!p)
		return why("realloc failed", s);
	if (!filled(p, MIN(n, s->n), s->seed))
		return why("realloc lost contents", s);
	*bytes += n - s->n;
	*s = (struct slot){p, n, (uint32_t)rng()};
	fill(p, n, s->seed);
	return true;
}

/* ops random steps, heap_check() and the counters every check_every. */
static bool workload(unsigned ops, unsigned check_every)
{
	uint64_t live = 0, bytes = 0;
	struct heap_stats st;

	memset(slots, 0, sizeof(slots));
	for (unsigned i = 0; i < ops; i++) {
		if (!step(&slots[rng() % SLOTS], &live, &bytes))
			return false;
		if (i % check_every == 0) {
			st = stats();
			if (check_heap() || st.live_blocks != live || st.live_bytes != bytes)
				return why("heap_check() or counters wrong", &slots[0]);
		}
		if (i % 20000 == 19999)
			heap_trim(H);
	}
	for (size_t i = 0; i < SLOTS; i++) {
		if (slots[i].p && !filled(slots[i].p, slots[i].n, slots[i].seed))
			return why("contents changed", &slots[i]);
		heap_free(H, slots[i].p);
	}
	heap_trim(H);
	if (check_heap() || stats().live_blocks != 0)
		return why("heap_check() or counters wrong at the end", &slots[0]);
	if (!trimmed())
		return why("memory still mapped after heap_trim()", &slots[0]);
	return true;
}

TEST(heap_check_clean_after_random_workload)
{
	SETUP();
	rng_state = 0xfeed1;
	CHECK(workload(100000, 1000));
}

TEST(heap_debug_verify_random_workload)
{
	SETUP();
	H->debug |= HEAP_DEBUG_VERIFY | HEAP_DEBUG_FILL;
	rng_state = 0xfeed2;
	CHECK(workload(5000, 500));
}

/* --- hardening: running the cases -------------------------------------------------------- */

/*
 * The hardening checks are tables of cases, each on a fresh heap: a case
 * allocates its blocks, misuses or damages them, then makes a call that
 * must report it with a message starting with the case's prefix and naming
 * the pointer in hex. Every case runs, each report is a TAP comment after
 * the case's name, and the test fails naming the first case that failed.
 */

/* heap_check() must find damage and say what (shown as a TAP comment). */
static bool heap_check_fails(void)
{
	char msg[256] = "";
	int err = heap_check(H, msg, sizeof(msg));

	printf("# heap_check: %d %s\n", err, msg);
	return err == -EIO && msg[0];
}

/* The call that must report a case's misuse. */
enum call {
	FREE,
	SIZE,
	REALLOC, /* to a large block: the old one is checked before anything else */
	TRIM,
	ALLOC, /* another block of the case's size */
	/* In a forked child, where a fault instead of a report would take the binary down: */
	FREE_IN_CHILD,
	CHECK, /* heap_check() must fail, its message the report */
};

struct misuse {
	const char *name;
	size_t size; /* each block's request */
	int blocks;  /* allocated one after another into v[] (0: act does it) */
	/* The misuse: returns the pointer the report must name, NULL if the setup went wrong. */
	uint8_t *(*act)(uint8_t *v[]);
	enum call call;
	const char *prefix; /* the report's start */
};

/* Allocate count blocks of size bytes into v: false if one fails. */
static bool alloc_blocks(uint8_t *v[], int count, size_t size)
{
	for (int i = 0; i < count; i++)
		if (!(v[i] = alloc(size)))
			return false;
	return true;
}

/* The report starts with prefix and names addr (or, for a payload, its header) in hex. */
static bool names(const char *prefix, const void *addr)
{
	char hex[2][32];

	if (strncmp(hh.corrupt_msg, prefix, strlen(prefix)) != 0)
		return false;
	/* No "0x": %p-style zero padding must match too. */
	snprintf(hex[0], sizeof(hex[0]), "%lx", (unsigned long)(uintptr_t)addr);
	snprintf(hex[1], sizeof(hex[1]), "%lx", (unsigned long)(uintptr_t)addr - 16);
	return strstr(hh.corrupt_msg, hex[0]) || strstr(hh.corrupt_msg, hex[1]);
}

static void make_call(const struct misuse *c, uint8_t *p)
{
	switch (c->call) {
	case FREE:
	case FREE_IN_CHILD:
		heap_free(H, p);
		break;
	case SIZE:
		heap_size(H, p);
		break;
	case REALLOC:
		heap_realloc(H, p, 5000);
		break;
	case TRIM:
		heap_trim(H);
		break;
	case ALLOC:
		alloc(c->size);
		break;
	case CHECK: /* reached() runs heap_check() itself: it returns */
		break;
	}
}

static jmp_buf corrupt_jb;

/*
 * Run stmt expecting corrupt() with a report containing msg; if stmt
 * returns instead, fail with returned (a string saying what went wrong).
 */
#define CHECK_CORRUPT(stmt, msg, returned)                                                         \
	do {                                                                                       \
		hh.corrupt_msg[0] = '\0';                                                          \
		hh.on_corrupt = &corrupt_jb;                                                       \
		if (setjmp(corrupt_jb) == 0) {                                                     \
			stmt;                                                                      \
			hh.on_corrupt = NULL;                                                      \
			CHECK(!returned);                                                          \
		}                                                                                  \
		hh.on_corrupt = NULL;                                                              \
		CHECK(strstr(hh.corrupt_msg, msg) != NULL);                                        \
	} while (0)

/*
 * Make c's call on p: true if it reached corrupt() (or heap_check() found
 * damage), the report in hh.corrupt_msg. heap_check() runs once without a
 * buffer for the message, which callers may leave out.
 */
static bool reached(const struct misuse *c, uint8_t *p)
{
	hh.corrupt_msg[0] = '\0';
	if (c->call == CHECK)
		return heap_check(H, NULL, 0) == -EIO &&
		       heap_check(H, hh.corrupt_msg, sizeof(hh.corrupt_msg)) == -EIO;
	hh.on_corrupt = &corrupt_jb;
	if (setjmp(corrupt_jb) == 0) {
		make_call(c, p);
		hh.on_corrupt = NULL;
		return false;
	}
	hh.on_corrupt = NULL;
	return true;
}

/*
 * Make c's call on p (the heap is dead afterwards): NULL if it reported
 * what c expects, else why not.
 */
static const char *call_reports(const struct misuse *c, uint8_t *p)
{
	static char why[300];

	if (!reached(c, p))
		return "no report: the call returned";
	printf("# %s: %s\n", c->name, hh.corrupt_msg);
	if (names(c->prefix, p))
		return NULL;
	snprintf(why, sizeof(why), "report \"%s\" is not \"%s\" naming %p", hh.corrupt_msg,
		 c->prefix, (void *)p);
	return why;
}

/* call_reports() in a forked child, which shows why it failed as a TAP comment. */
static const char *child_reports(const struct misuse *c, uint8_t *p)
{
	const char *why;
	pid_t pid;
	int status;

	fflush(stdout); /* the child must not print our buffered output again */
	pid = fork();
	if (pid == 0) {
		why = call_reports(c, p);
		if (why)
			printf("# %s: in the child: %s\n", c->name, why);
		fflush(stdout);
		_exit(why ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return "fork failed";
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return NULL;
	printf("# %s: child status %#x\n", c->name, status);
	return WIFEXITED(status) ? "in a child: no report or the wrong one" : "in a child: a fault";
}

/* Show a failed case as a TAP comment; the first one is the test's reason. */
static void case_failed(const char *name, const char *why)
{
	printf("# %s: FAILED: %s\n", name, why);
	if (!check_reason_file)
		check_fail(__FILE__, __LINE__, "%s: %s", name, why);
}

/* Allocate c's blocks on a fresh heap and expect a report of p = act(v). */
static void run_case(const struct misuse *c)
{
	uint8_t *v[4] = {NULL}, *p = NULL;
	const char *why;

	if (!setup(rng()) || !alloc_blocks(v, c->blocks, c->size))
		why = "allocating on a fresh heap failed";
	else if (!(p = c->act(v)))
		why = "the case's own setup went wrong";
	else
		why = c->call >= FREE_IN_CHILD ? child_reports(c, p) : call_reports(c, p);
	if (why)
		case_failed(c->name, why);
}

/* --- hardening: misuse and damage, case by case ------------------------------------------ */

/* Double frees. */

static uint8_t *freed(uint8_t *v[])
{
	heap_free(H, v[0]);
	return v[0];
}

/* v[1] first: then v[0]'s free block swallows v[1]'s header. */
static uint8_t *freed_after_next(uint8_t *v[])
{
	heap_free(H, v[1]);
	return freed(v);
}

/* heap_trim() forgets freed large slots: a second free must still be reported. */
static uint8_t *freed_and_trimmed(uint8_t *v[])
{
	freed(v);
	heap_trim(H);
	return v[0];
}

static uint8_t *realloced_to_zero(uint8_t *v[])
{
	return heap_realloc(H, v[0], 0) == NULL ? v[0] : NULL;
}

/* Pointers the heap never returned. */

/* Into v[0], zeroed: a zero "header" at +16. */
static uint8_t *inside_block(uint8_t *v[])
{
	memset(v[0], 0, heap_size(H, v[0]));
	return v[0] + 32;
}

/* The same with a plausible size, in use, in the header before the pointer. */
static uint8_t *inside_block_with_forged_header(uint8_t *v[])
{
	uint64_t forged = 64 | 3;

	memcpy(inside_block(v) - 16, &forged, sizeof(forged));
	return v[0] + 32;
}

static uint8_t *inside_large_block(uint8_t *v[])
{
	memset(v[0], 0, heap_size(H, v[0]));
	return v[0] + P;
}

/* v is run_case()'s local array: a stack address (with the heap not empty). */
static uint8_t *on_the_stack(uint8_t *v[])
{
	return (uint8_t *)&v[2];
}

static uint8_t *in_unmapped_chunk_slot(uint8_t *v[])
{
	return (uint8_t *)H->base + 100 * HEAP_CHUNK_STRIDE + 256;
}

/* The unmapped second half of v[0]'s chunk slot. */
static uint8_t *in_chunk_guard(uint8_t *v[])
{
	return (uint8_t *)ALIGN_DOWN((uintptr_t)v[0], HEAP_CHUNK_STRIDE) + HEAP_CHUNK_SIZE + 64;
}

static uint8_t *in_unmapped_large_slot(uint8_t *v[])
{
	return (uint8_t *)H->base + H->size - 16 * P;
}

static uint8_t *past_the_window(uint8_t *v[])
{
	return (uint8_t *)H->base + H->size + P;
}

static uint8_t *one_byte_in(uint8_t *v[])
{
	return v[0] + 1;
}

static uint8_t *eight_bytes_in(uint8_t *v[])
{
	return v[0] + 8;
}

/* Damaged blocks. */

/* Fill v[0] and overrun it by one byte, into the canary. */
static uint8_t *overrun(uint8_t *v[])
{
	size_t n = heap_size(H, v[0]);

	fill(v[0], n, 18);
	v[0][n] ^= 0x5a;
	return v[0];
}

/* One granule bigger: v[0] swallows v[1]'s header. */
static uint8_t *size_grown(uint8_t *v[])
{
	struct header h = header_of(v[0]);

	h.size += 16;
	return set_header(v[0], h);
}

static uint8_t *size_shrunk(uint8_t *v[])
{
	struct header h = header_of(v[0]);

	h.size -= 256;
	return set_header(v[0], h);
}

/* The canary check would now look one byte early. */
static uint8_t *request_shrunk(uint8_t *v[])
{
	struct header h = header_of(v[0]);

	h.req -= 1;
	return set_header(v[0], h);
}

/*
 * The flag bits are outside the check word (a free changes its neighbour's
 * PREV_USED): a cleared PREV_USED ("the block before is free") sends free()
 * to a footer that is not one.
 */
static uint8_t *prev_used_cleared(uint8_t *p)
{
	struct header h = header_of(p);

	h.size &= ~(uint64_t)2;
	return set_header(p, h);
}

static uint8_t *second_prev_used_cleared(uint8_t *v[])
{
	return prev_used_cleared(v[1]);
}

/* Cached, its neighbours are not looked at until heap_trim(); heap_check() sees it at once. */
static uint8_t *second_prev_used_cleared_then_cached(uint8_t *v[])
{
	heap_free(H, second_prev_used_cleared(v));
	return heap_check_fails() ? v[1] : NULL;
}

/* The same for a chunk's first block: there is no footer before it to read. */
static uint8_t *first_prev_used_cleared(uint8_t *v[])
{
	return IS_ALIGNED(v[0] - 16, HEAP_CHUNK_STRIDE) ? prev_used_cleared(v[0]) : NULL;
}

/* v[0]'s neighbour wrote over v[1]'s header. */
static uint8_t *second_header_zeroed(uint8_t *v[])
{
	return set_header(v[1], (struct header){0});
}

/*
 * Free v[0] and v[2] (into one list or cache class: v[2], then v[0]),
 * then point the link of v[from] at v[1] + offset: mapped, plausible, but
 * inside a live block. Returns where it points.
 */
static uint8_t *linked_into_live_block(uint8_t *v[], int from, size_t offset)
{
	uint8_t *bad = v[1] + offset;

	heap_free(H, v[0]);
	heap_free(H, v[2]);
	if (check_heap())
		return NULL;
	memcpy(v[from], &bad, sizeof(bad));
	return bad;
}

/* v[2] comes out of the list; the next allocation follows v[0]'s link. */
static uint8_t *free_link_damaged(uint8_t *v[])
{
	return linked_into_live_block(v, 0, 64) && alloc(2000) == v[2] ? v[0] : NULL;
}

/* With HEAP_DEBUG_FILL (on before the blocks exist), reuse checks the poison. */
static uint8_t *written_after_free_then_reused(uint8_t *v[])
{
	H->debug |= HEAP_DEBUG_FILL;
	if (!alloc_blocks(v, 2, 200))
		return NULL;
	heap_free(H, v[0]);
	v[0][100] = 0;
	return v[0];
}

/*
 * A cached block's header changed while it waits in its class, the check
 * word left alone: the allocation that takes it must report it. The take
 * tests the size against the class before the check word, which it then
 * computes with the class's size: both halves must still catch damage.
 */
/* Free p, which must go to the front cache (beside the rest of its run, if any). */
static bool freed_to_cache(uint8_t *p)
{
	uint64_t cached = stats().cached_blocks;

	heap_free(H, p);
	return stats().cached_blocks == cached + 1;
}

static uint8_t *cached_then(uint8_t *v[], uint64_t size_delta, uint32_t req_delta)
{
	struct header h;

	if (!freed_to_cache(v[0]))
		return NULL;
	h = header_of(v[0]);
	h.size += size_delta;
	h.req += req_delta;
	return set_header(v[0], h);
}

/* Another exact class's size. */
static uint8_t *cached_size_changed(uint8_t *v[])
{
	return cached_then(v, 16, 0);
}

static uint8_t *cached_request_changed(uint8_t *v[])
{
	return cached_then(v, 0, 1);
}

/* Damage only heap_check() finds. */

static uint8_t *canary_overwritten(uint8_t *v[])
{
	v[0][heap_size(H, v[0]) + 1] ^= 1;
	return v[0];
}

static uint8_t *free_link_into_live_block(uint8_t *v[])
{
	return linked_into_live_block(v, 0, 64);
}

static uint8_t *cache_link_into_live_block(uint8_t *v[])
{
	return linked_into_live_block(v, 2, 32);
}

/* Wild links must be reported, not followed into a fault. */
static uint8_t *wild_free_links(uint8_t *v[])
{
	uint64_t wild = 0x4141414141414140ull;

	heap_free(H, v[0]);
	memcpy(v[0] + 8, &wild, sizeof(wild)); /* prev */
	memcpy(v[0], &wild, sizeof(wild));     /* next */
	return v[0];
}

static uint8_t *written_after_free_to_listed_block(uint8_t *v[])
{
	heap_free(H, v[0]);
	if (check_heap())
		return NULL;
	v[0][500] = 0;
	return v[0];
}

static uint8_t *written_after_free_to_cached_block(uint8_t *v[])
{
	if (!freed_to_cache(v[0]) || check_heap())
		return NULL;
	v[0][100] = 0;
	return v[0];
}

static const struct misuse misuses[] = {
    {"double free: cached block", 64, 1, freed, FREE, "double free of "},
    {"double free: listed block", 2000, 2, freed, FREE, "double free of "},
    {"double free: merged block", 2000, 3, freed_after_next, FREE, "double free of "},
    /* Two: the heap is not trivially empty. */
    {"double free: large block", 5000, 2, freed, FREE, "double free of "},
    {"double free: large block, after heap_trim()", 5000, 1, freed_and_trimmed, FREE, ""},
    {"double free: after realloc to 0", 300, 1, realloced_to_zero, FREE, "double free of "},
    {"double free: realloc of a freed block", 300, 1, freed, REALLOC, "double free of "},

    {"bad free: inside a block", 200, 1, inside_block, FREE, "bad free of "},
    {"bad free: inside a block, forged header", 200, 1, inside_block_with_forged_header, FREE,
     "bad free of "},
    {"bad free: inside a large block", 3 * P, 1, inside_large_block, FREE, "bad free of "},
    {"bad free: on the stack", 100, 1, on_the_stack, FREE, "bad free of "},
    {"bad free: unmapped chunk slot", 100, 1, in_unmapped_chunk_slot, FREE, "bad free of "},
    {"bad free: chunk guard area", 100, 1, in_chunk_guard, FREE, "bad free of "},
    {"bad free: unmapped large slot", 5000, 1, in_unmapped_large_slot, FREE, "bad free of "},
    {"bad free: outside the window", 0, 0, past_the_window, FREE, "bad free of "},
    {"bad free: misaligned", 100, 1, one_byte_in, FREE, "bad free of "},
    {"bad free: misaligned, large block", 5000, 1, eight_bytes_in, FREE, "bad free of "},
    {"bad free: misaligned, to heap_size()", 100, 1, eight_bytes_in, SIZE, "bad free of "},

    {"damage: overrun, then realloc", 100, 1, overrun, REALLOC, "buffer overrun: "},
    {"damage: size one granule bigger", 100, 2, size_grown, FREE, "header of block "},
    {"damage: size smaller, listed size", 2000, 2, size_shrunk, FREE, "header of block "},
    {"damage: request one byte smaller", 100, 1, request_shrunk, FREE, "header of block "},
    {"damage: PREV_USED cleared", 2000, 3, second_prev_used_cleared, FREE, "header of block "},
    {"damage: PREV_USED cleared, block cached", 100, 3, second_prev_used_cleared_then_cached, TRIM,
     "header of block "},
    {"damage: PREV_USED cleared, first block", 2000, 2, first_prev_used_cleared, FREE_IN_CHILD,
     "header of block "},
    {"damage: header zeroed by underrun", 100, 2, second_header_zeroed, FREE, "header of block "},
    {"damage: free link into a live block", 2000, 4, free_link_damaged, ALLOC,
     "free list corrupted at block "},
    {"damage: write after free, HEAP_DEBUG_FILL", 200, 0, written_after_free_then_reused, ALLOC,
     ""},
    {"damage: cached block's size, then taken", 100, 1, cached_size_changed, ALLOC,
     "front cache corrupted: block "},
    {"damage: cached block's request, then taken", 100, 1, cached_request_changed, ALLOC,
     "front cache corrupted: block "},

    {"heap_check: canary of a live block", 100, 1, canary_overwritten, CHECK, ""},
    {"heap_check: free link into a live block", 2000, 4, free_link_into_live_block, CHECK, ""},
    {"heap_check: wild free links", 2000, 2, wild_free_links, CHECK, ""},
    {"heap_check: write after free to a listed block", 2000, 2, written_after_free_to_listed_block,
     CHECK, ""},
    {"heap_check: write after free to a cached block", 200, 2, written_after_free_to_cached_block,
     CHECK, ""},
    {"heap_check: cache link into a live block", 200, 3, cache_link_into_live_block, CHECK, ""},
};

TEST(heap_reports_misuse_and_damage)
{
	for (size_t i = 0; i < ARRAY_SIZE(misuses); i++)
		run_case(&misuses[i]);
}

TEST(heap_free_detects_one_byte_overrun)
{
	static const size_t sizes[] = {
	    0, 1, 13, 64, 100, 1000, 1024, 1500, 4000, 4095,
	    /* Large, with slack after the request: a page multiple has no room for a canary. */
	    HEAP_LARGE_MIN + 1, 5000, 8000, 3 * P - 8, 3 * P - 1, 100000};
	char name[32];

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct misuse c = {name, sizes[i], 2, overrun, FREE, "buffer overrun: "};

		snprintf(name, sizeof(name), "%zu-byte block", sizes[i]);
		run_case(&c);
	}
}

/*
 * Every bit of the size and of the request is covered by the check word:
 * a flip in the top ones must not send free() to a huge memset or to a
 * canary gigabytes away. In a child, in case it does.
 */
static const struct flip {
	const char *name;
	struct header bits; /* flipped in the first of two 100-byte blocks */
} flips[] = {
    {"size bit 47", {1ull << 47, 0, 0}},  {"size bit 55", {1ull << 55, 0, 0}},
    {"size bit 63", {1ull << 63, 0, 0}},  {"request bit 20", {0, 1u << 20, 0}},
    {"request bit 27", {0, 1u << 27, 0}}, {"request bit 28", {0, 1u << 28, 0}},
    {"request bit 31", {0, 1u << 31, 0}}, {"check word bit 31", {0, 0, 1u << 31}},
};

TEST(heap_free_detects_flipped_header_bits)
{
	for (size_t i = 0; i < ARRAY_SIZE(flips); i++) {
		struct misuse c = {flips[i].name, 100, 2, NULL, FREE_IN_CHILD, "header of block "};
		uint8_t *v[2];
		struct header h;
		const char *why = "allocating on a fresh heap failed";

		if (setup(rng()) && alloc_blocks(v, 2, 100)) {
			h = header_of(v[0]);
			h.size ^= flips[i].bits.size;
			h.req ^= flips[i].bits.req;
			h.check ^= flips[i].bits.check;
			why = child_reports(&c, set_header(v[0], h));
		}
		if (why)
			case_failed(c.name, why);
	}
}

/* ---- the front cache's coarse classes (blocks over HEAP_CACHE_MAX) ---------------- */

/* A freed 1-4 KiB block comes back for a request of its class; the counts and heap_check agree. */
TEST(heap_coarse_cache_serves_blocks_over_1_kib)
{
	static const size_t sizes[] = {1001, 1100, 1500, 2047, 2500, 3000, 4000, 4095};
	static uint8_t *p[ARRAY_SIZE(sizes)];
	uint64_t bytes = 0;

	SETUP();
	open_coarse();
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		CHECK((p[i] = alloc(sizes[i])) != NULL);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		bytes += block_size(p[i]);
		heap_free(H, p[i]);
	}
	CHECK_EQ(stats().cached_blocks, ARRAY_SIZE(sizes));
	CHECK_EQ(stats().cached_bytes, bytes);
	CHECK_EQ(check_heap(), 0);
	for (size_t i = ARRAY_SIZE(sizes); i-- > 0;) {
		uint8_t *q = alloc(sizes[i]);

		CHECK(q == p[i]); /* its class's head */
		CHECK_EQ(heap_size(H, q), sizes[i]);
		memset(q, 0x5a, sizes[i]);
	}
	CHECK_EQ(stats().cached_blocks, 0);
	CHECK_EQ(stats().cached_bytes, 0);
	CHECK_EQ(check_heap(), 0);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		heap_free(H, p[i]);
	heap_trim(H);
	CHECK_EQ(stats().cached_blocks, 0);
	CHECK(drained());
}

/*
 * A class's head serves a request only if it is big enough; the next class
 * up always is. A bigger block keeps its size: the canary follows the
 * request, and a one-byte overrun is still reported.
 */
TEST(heap_coarse_cache_takes_the_next_class_and_keeps_the_canary)
{
	uint8_t *hold, *x, *y, *q;

	SETUP();
	open_coarse();
	/* Class 1024-1151: a 1136-byte block does not do for a 1140-byte need. */
	x = alloc(request_for(1136));
	hold = alloc(16); /* x's neighbour stays used: x cannot merge */
	CHECK(x && hold);
	heap_free(H, x);
	q = alloc(request_for(1140));
	CHECK(q != NULL && q != x);
	CHECK(alloc(request_for(1040)) == x); /* a smaller need of the class does */
	/* Class 1152-1279 serves a need of class 1024-1151 whole: y, 1264 bytes, for 1100. */
	y = alloc(request_for(1264));
	CHECK(y != NULL);
	heap_free(H, y);
	CHECK(alloc(request_for(1100)) == y);
	CHECK_EQ(block_size(y), 1264);
	CHECK_EQ(heap_size(H, y), request_for(1100));
	CHECK_EQ(check_heap(), 0);
	y[request_for(1100)] ^= 1; /* one byte past the request */
	CHECK_CORRUPT(heap_free(H, y), "buffer overrun",
		      "an overrun of a block from the next class was not reported");
}

/* A coarse class holds at most its limit; the rest goes to the lists, merged. */
TEST(heap_coarse_cache_overflows_to_the_lists)
{
	static uint8_t *v[16];

	SETUP();
	open_coarse();
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		CHECK((v[i] = alloc(3000)) != NULL);
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		heap_free(H, v[i]);
	CHECK(stats().cached_blocks >= 2 && stats().cached_blocks < ARRAY_SIZE(v));
	CHECK(stats().free_blocks >= 1);
	CHECK_EQ(check_heap(), 0);
	heap_trim(H);
	CHECK(drained());
}

TEST(heap_coarse_cache_double_free_caught)
{
	SETUP();
	open_coarse();
	uint8_t *p = alloc(2500), *hold = alloc(16);
	CHECK(p && hold);
	heap_free(H, p);
	CHECK_CORRUPT(heap_free(H, p), "double free",
		      "a double free of a block in a coarse class returned");
}

/* A cached block's header rewritten to another coarse class's size: heap_check() and the alloc. */
TEST(heap_coarse_cache_damage_reported)
{
	SETUP();
	open_coarse();
	uint8_t *p = alloc(2500), *hold = alloc(16);
	CHECK(p && hold);
	heap_free(H, p);
	*(uint64_t *)(p - 16) += 512; /* the header's size: another class */
	CHECK(check_heap() != 0);
	CHECK_CORRUPT((void)alloc(2500), "front cache corrupted",
		      "a damaged block in a coarse class was handed out");
}

/* ---- per-CPU front caches ------------------------------------------------------ */

static struct heap_cache cpu_caches[3];
static unsigned cur_cpu;

static struct heap_cache *loose_cpu; /* if set: what the hook returns instead */

static struct heap_cache *this_cpu_cache(void *ctx)
{
	return loose_cpu ? loose_cpu : &cpu_caches[cur_cpu];
}

/* The heap with three CPUs' caches attached and the ops' cache hook returning cur_cpu's. */
static bool setup_cpus(void)
{
	static struct heap_ops ops;

	if (!setup(rng()))
		return false;
	ops = *H->ops;
	ops.cache = this_cpu_cache;
	H->ops = &ops;
	cur_cpu = 0;
	for (unsigned i = 0; i < 3; i++)
		if (heap_cache_attach(H, &cpu_caches[i]))
			return false;
	return true;
}

static uint64_t cached_in(const struct heap_cache *c)
{
	uint64_t n = 0;

	for (unsigned k = 0; k < HEAP_CACHE_CLASSES; k++)
		n += c->cls[k].count;
	return n;
}

TEST(heap_per_cpu_caches_count_and_check_across_cpus)
{
	static void *p[300];

	CHECK(setup_cpus());
	for (unsigned i = 0; i < 300; i++) {
		cur_cpu = i % 3;
		p[i] = heap_alloc(H, 16 + i % 500, 0);
		CHECK(p[i] != NULL);
	}
	for (unsigned i = 0; i < 300; i++) {
		cur_cpu = (i + 1) % 3; /* freed on another CPU than it came from */
		heap_free(H, p[i]);
	}
	struct heap_stats s = stats();
	CHECK_EQ(s.live_blocks, 0);
	CHECK_EQ(s.live_bytes, 0);
	CHECK(s.cached_blocks > 0);
	CHECK_EQ(check_heap(), 0);
	for (unsigned c = 0; c < 3; c++) /* each CPU's frees landed in its own cache */
		CHECK(cached_in(&cpu_caches[c]) > 0);
	CHECK_EQ(H->ncaches, 4); /* the heap's own and three CPUs' */
	cur_cpu = 1;
	void *q = heap_alloc(H, 16, 0); /* from CPU 1's cache */
	CHECK(q != NULL);
	CHECK_EQ(stats().live_blocks, 1);
	heap_free(H, q);
	heap_trim(H); /* drains the heap's own cache and this CPU's */
	CHECK_EQ(check_heap(), 0);
	CHECK_EQ(cached_in(&cpu_caches[1]), 0);
	cur_cpu = 0;
}

TEST(heap_per_cpu_double_free_caught_on_any_cpu)
{
	CHECK(setup_cpus());
	void *p = heap_alloc(H, 64, 0);
	heap_free(H, p); /* into CPU 0's cache */
	for (unsigned cpu = 0; cpu < 3; cpu++) {
		cur_cpu = cpu;
		CHECK_CORRUPT(heap_free(H, p), "double free",
			      "a double free of a cached block returned");
	}
	cur_cpu = 0;
}

/* The ops' reclaim hook: every other CPU gives its cache back, as the kernel's interrupt has it. */
static unsigned reclaims;

static void reclaim_other_cpus(void *ctx)
{
	unsigned self = cur_cpu;

	reclaims++;
	for (cur_cpu = 0; cur_cpu < 3; cur_cpu++)
		if (cur_cpu != self)
			heap_cache_give_back(H, &cpu_caches[cur_cpu]);
	cur_cpu = self;
}

/*
 * With memory used up, a CPU still gets the blocks another CPU's cache
 * holds: through the reclaim hook, without an unmap, and only after its
 * lists and growth failed. Without the hook they stay out of reach.
 */
TEST(heap_per_cpu_reclaim_gets_other_cpus_cached_blocks)
{
	enum { SIZE = 200, ON_CPU1 = 6, MAX = 4096 };
	static void *mine[MAX];
	void *theirs[ON_CPU1];
	unsigned n = 0, found = 0;

	for (unsigned with_hook = 0; with_hook < 2; with_hook++) {
		CHECK(setup_cpus());
		((struct heap_ops *)H->ops)->reclaim = with_hook ? reclaim_other_cpus : NULL;
		cur_cpu = 1;
		for (unsigned i = 0; i < ON_CPU1; i++)
			CHECK((theirs[i] = heap_alloc(H, SIZE, 0)) != NULL);
		for (unsigned i = 0; i < ON_CPU1; i++)
			heap_free(H, theirs[i]); /* into CPU 1's cache (and its refill's run) */
		uint64_t cached = cached_in(&cpu_caches[1]);
		CHECK(cached >= ON_CPU1);
		hh.budget = hh.mapped; /* nothing more can be mapped */
		cur_cpu = 0;
		reclaims = 0;
		uint64_t unmaps = hh.unmaps, failures = stats().failures;
		for (n = 0; n < MAX && (mine[n] = heap_alloc(H, SIZE, 0)); n++)
			;
		CHECK(n < MAX);
		CHECK_EQ(stats().failures, failures + 1);
		found = 0;
		for (unsigned i = 0; i < ON_CPU1; i++)
			for (unsigned j = 0; j < n; j++)
				found += mine[j] == theirs[i];
		CHECK_EQ(found, with_hook ? ON_CPU1 : 0);
		CHECK_EQ(cached_in(&cpu_caches[1]), with_hook ? 0 : cached);
		CHECK(with_hook ? reclaims >= 1 : reclaims == 0); /* the last failure asked too */
		CHECK_EQ(hh.unmaps, unmaps);
		CHECK_EQ(check_heap(), 0);
		for (unsigned j = 0; j < n; j++)
			heap_free(H, mine[j]);
		hh.budget = 0;
		CHECK_EQ(check_heap(), 0);
		CHECK_EQ(stats().live_blocks, 0);
	}
	cur_cpu = 0;
}

/*
 * On CPU 1: n blocks of size bytes into v, then every one freed into its
 * cache (each class's limit raised to n, far above its usual bound).
 * False if an allocation failed.
 */
static bool cache_all_on_cpu1(void **v, unsigned n, size_t size)
{
	cur_cpu = 1;
	for (unsigned i = 0; i < n; i++)
		if (!(v[i] = heap_alloc(H, size, 0)))
			return false;
	for (unsigned k = 0; k < HEAP_CACHE_ALL; k++)
		cpu_caches[1].cls[k].limit = n;
	for (unsigned i = 0; i < n; i++)
		heap_free(H, v[i]);
	return true;
}

/*
 * A give-back that empties whole chunks keeps them mapped (it may run in an
 * interrupt, where the unmap's locks are not to be taken); the heap
 * checks out and a trim gives them back.
 */
TEST(heap_per_cpu_give_back_keeps_empty_chunks)
{
	enum { SIZE = 1000, N = 3 * HEAP_CHUNK_SIZE / 1024 };
	static void *v[N];

	CHECK(setup_cpus());
	CHECK(cache_all_on_cpu1(v, N, SIZE));
	uint32_t chunks = H->chunks; /* frees into the cache unmap nothing */
	CHECK(chunks >= 2);
	uint64_t unmaps = hh.unmaps;
	heap_cache_give_back(H, &cpu_caches[1]);
	CHECK_EQ(hh.unmaps, unmaps);
	CHECK_EQ(cached_in(&cpu_caches[1]), 0);
	CHECK_EQ(H->chunks, chunks);
	CHECK(H->empty_chunks >= 2);
	CHECK_EQ(check_heap(), 0);
	heap_trim(H);
	CHECK_EQ(H->chunks, 0);
	CHECK_EQ(check_heap(), 0);
	cur_cpu = 0;
}

/*
 * An allocation that got what a give-back emptied leaves the heap with its
 * usual one empty chunk: the others the give-back kept are unmapped by
 * the asker, outside the answering CPU.
 */
TEST(heap_per_cpu_reclaim_then_extra_empty_chunks_released)
{
	enum { SIZE = 1000, N = 3 * HEAP_CHUNK_SIZE / 1024, BIG = 3000, FILL = 1024 };
	static void *v[N], *fill[FILL];
	unsigned nfill;

	CHECK(setup_cpus());
	CHECK(cache_all_on_cpu1(v, N, SIZE));
	hh.budget = hh.mapped;
	cur_cpu = 2; /* no hook yet: what is left in the lists, taken */
	for (nfill = 0; nfill < FILL && (fill[nfill] = heap_alloc(H, BIG, 0)); nfill++)
		;
	CHECK(nfill < FILL);
	CHECK_EQ(H->empty_chunks, 0);
	((struct heap_ops *)H->ops)->reclaim = reclaim_other_cpus;
	cur_cpu = 0;
	reclaims = 0;
	uint64_t unmaps = hh.unmaps;
	void *p = heap_alloc(H, BIG, 0); /* no room in the lists: the others are asked */
	CHECK(p != NULL);
	CHECK_EQ(reclaims, 1);
	CHECK(hh.unmaps > unmaps); /* CPU 1's blocks emptied 3 chunks: one used, one kept */
	CHECK_EQ(H->empty_chunks, 1);
	CHECK_EQ(check_heap(), 0);
	heap_free(H, p);
	for (unsigned i = 0; i < nfill; i++)
		heap_free(H, fill[i]);
	hh.budget = 0;
	CHECK_EQ(check_heap(), 0);
	cur_cpu = 0;
}

/*
 * A CPU whose cache was never attached, once others are: refused with a
 * report, on the alloc and the free path, never sent to the heap's own
 * cache (which only interrupts off would guard: not enough on SMP).
 */
TEST(heap_per_cpu_unattached_cpu_refused)
{
	static struct heap_cache loose;		  /* never attached */
	static const size_t sizes[] = {64, 2000}; /* the front cache's, and the lists' */

	for (unsigned i = 0; i < 2 * ARRAY_SIZE(sizes); i++) {
		CHECK(setup_cpus());
		void *p = heap_alloc(H, sizes[i / 2], 0);
		CHECK(p != NULL);
		loose_cpu = &loose;
		hh.corrupt_msg[0] = '\0';
		hh.on_corrupt = &corrupt_jb;
		if (setjmp(corrupt_jb) == 0) {
			if (i % 2)
				heap_free(H, p);
			else
				(void)heap_alloc(H, sizes[i / 2], 0);
			hh.on_corrupt = NULL;
			loose_cpu = NULL;
			CHECK(!"a CPU without an attached cache used the heap");
		}
		hh.on_corrupt = NULL;
		loose_cpu = NULL;
		CHECK(strstr(hh.corrupt_msg, "no heap cache attached") != NULL);
	}
}

/* The hit-only entry points (heap_cache_alloc/free, what kmalloc calls first), on CPU 0's cache. */
TEST(heap_cache_entry_points_serve_hits_and_decline_the_rest)
{
	static struct heap_cache loose; /* never attached */
	struct heap_cache *hc = &cpu_caches[0];
	static uint8_t *v[64];
	unsigned n, put = 0;

	CHECK(setup_cpus());
	CHECK(heap_cache_alloc(H, hc, 64) == NULL); /* its class is empty */
	uint8_t *p = heap_alloc(H, 64, 0), *big = heap_alloc(H, 5000, 0);
	CHECK(p && big);
	fill(p, 64, 5);
	/* The miss refilled the class with a run: p's neighbours wait in it. */
	uint64_t cached = stats().cached_blocks;
	CHECK(cached > 0);
	CHECK(heap_cache_free(H, hc, p));
	CHECK(all(p + 8, 96 - 16 - 8, HEAP_POISON)); /* all of the block but the link */
	CHECK_EQ(stats().cached_blocks, cached + 1);
	CHECK_EQ(heap_cache_alloc(H, hc, 64), p); /* the same block back */
	CHECK_EQ(heap_size(H, p), 64);
	/* Not for the cache: too big, large, NULL, an unattached cache, debug mode. */
	CHECK(heap_cache_alloc(H, hc, HEAP_CACHE_MAX) == NULL);
	CHECK(!heap_cache_free(H, hc, big));
	CHECK(!heap_cache_free(H, hc, NULL));
	CHECK(heap_cache_alloc(H, &loose, 64) == NULL);
	CHECK(!heap_cache_free(H, &loose, p));
	H->debug = HEAP_DEBUG_FILL;
	CHECK(heap_cache_alloc(H, hc, 64) == NULL);
	CHECK(!heap_cache_free(H, hc, p));
	H->debug = 0;
	CHECK_EQ(stats().live_blocks, 2); /* nothing above changed a count */
	heap_free(H, big);
	heap_free(H, p);
	/* A full class declines, changing nothing; heap_free() then takes the block. */
	for (n = 0; n < ARRAY_SIZE(v); n++)
		CHECK((v[n] = heap_alloc(H, 200, 0)) != NULL);
	for (n = 0; n < ARRAY_SIZE(v); n++) {
		if (heap_cache_free(H, hc, v[n])) {
			put++;
			continue;
		}
		CHECK_EQ(heap_size(H, v[n]), 200); /* still allocated */
		heap_free(H, v[n]);
	}
	CHECK(put > 0 && put < ARRAY_SIZE(v));
	CHECK_EQ(stats().live_blocks, 0);
	CHECK_EQ(stats().live_bytes, 0);
	CHECK_EQ(check_heap(), 0);
}

/* --- the refill: a run of neighbours per CPU --------------------------------------------- */

/* Take every block of cur_cpu's class of bs-byte blocks into v (at most max); how many. */
static unsigned take_class(uint8_t *v[], unsigned max, uint64_t bs)
{
	unsigned n = 0;

	while (n < max && (v[n] = heap_cache_alloc(H, &cpu_caches[cur_cpu], request_for(bs))))
		n++;
	return n;
}

/* The lowest and highest of v[0..n-1], and true if they are n distinct neighbours of bs bytes. */
static bool side_by_side(uint8_t *v[], unsigned n, uint64_t bs, uint8_t **lo, uint8_t **hi)
{
	*lo = *hi = v[0];
	for (unsigned i = 0; i < n; i++) {
		if (!in_use(v[i]) || block_size(v[i]) != bs)
			return false;
		*lo = MIN(*lo, v[i]);
		*hi = MAX(*hi, v[i]);
	}
	for (unsigned i = 0; i < n; i++)
		if ((uint64_t)(v[i] - *lo) % bs)
			return false;
	/* n distinct multiples of bs over (n - 1) * bs: every slot once (no two equal: cached). */
	return (uint64_t)(*hi - *lo) == (n - 1) * bs;
}

TEST(heap_cache_refill_carves_a_run_of_neighbours)
{
	static uint8_t *v[64];
	const uint64_t bs = 96;
	uint8_t *lo, *hi;
	unsigned n;

	CHECK(setup_cpus());
	v[0] = alloc(request_for(bs)); /* the class is empty: the miss carves a run */
	CHECK(v[0] != NULL);
	CHECK_EQ(stats().cached_blocks,
		 MIN(cpu_caches[0].cls[bs / HEAP_ALIGN].limit / 2, (uint32_t)(2048 / bs)) - 1);
	CHECK_EQ(check_heap(), 0);
	n = 1 + take_class(v + 1, ARRAY_SIZE(v) - 1, bs);
	CHECK(n >= 3);
	CHECK(side_by_side(v, n, bs, &lo, &hi));
	/* The edges wait at the bottom of the class; the block handed out is inside. */
	CHECK(v[0] != lo && v[0] != hi);
	CHECK(v[n - 1] == lo && v[n - 2] == hi);
	CHECK_EQ(check_heap(), 0);
	for (unsigned i = 0; i < n; i++)
		heap_free(H, v[i]);
	CHECK_EQ(stats().cached_blocks, n);
	CHECK_EQ(check_heap(), 0);
	/* Drained, the run and the chunk's rest are one free block again. */
	heap_trim(H);
	CHECK_EQ(stats().cached_blocks, 0);
	CHECK_EQ(stats().chunks, 0); /* trim unmaps only a chunk that is one free block */
	CHECK(drained());
}

TEST(heap_cache_refill_keeps_each_cpus_blocks_apart)
{
	static uint8_t *v[2][8];
	const uint64_t bs = 64;
	uint8_t *lo, *hi;

	CHECK(setup_cpus());
	for (unsigned i = 0; i < 8; i++) /* the two CPUs take turns */
		for (cur_cpu = 0; cur_cpu < 2; cur_cpu++)
			CHECK((v[cur_cpu][i] = alloc(request_for(bs))) != NULL);
	for (unsigned cpu = 0; cpu < 2; cpu++) {
		/* Each CPU's eight come from a run of its own, none of the other's among them. */
		lo = hi = v[cpu][0];
		for (unsigned i = 0; i < 8; i++) {
			lo = MIN(lo, v[cpu][i]);
			hi = MAX(hi, v[cpu][i]);
		}
		CHECK((uint64_t)(hi - lo) < 2048);
		for (unsigned i = 0; i < 8; i++)
			CHECK(v[1 - cpu][i] < lo || v[1 - cpu][i] > hi);
	}
	CHECK_EQ(check_heap(), 0);
	for (cur_cpu = 0; cur_cpu < 2; cur_cpu++) {
		for (unsigned i = 0; i < 8; i++)
			heap_free(H, v[cur_cpu][i]);
		heap_trim(H);
	}
	cur_cpu = 0;
	CHECK_EQ(stats().cached_blocks, 0);
	CHECK_EQ(stats().chunks, 0);
	CHECK(drained());
}

/*
 * With the heap held to one chunk, blocks for size-byte requests into v
 * (at most max) until none is left; then v[hole], if taken, is freed and
 * trimmed into the lists, a hole between live blocks. How many were taken.
 */
static unsigned fill_chunk_but_hole(uint8_t **v, unsigned max, uint64_t size, unsigned hole)
{
	unsigned n = 0;

	hh.budget = HEAP_CHUNK_SIZE;
	while (n < max && (v[n] = alloc(request_for(size))))
		n++;
	if (n > hole) {
		heap_free(H, v[hole]);
		heap_trim(H);
	}
	return n;
}

/* Free v[0..n) but v[hole] (freed already) and trim. */
static void free_all_but(uint8_t **v, unsigned n, unsigned hole)
{
	for (unsigned i = 0; i < n; i++)
		if (i != hole)
			heap_free(H, v[i]);
	heap_trim(H);
}

/* A free block of exactly a run's size: the last block holds the old footer, poisoned again. */
TEST(heap_cache_refill_takes_a_free_block_of_exactly_a_run)
{
	static uint8_t *v[256];
	const uint64_t bs = 512, run = 4 * bs; /* 512s: half of 8, and 2 KiB */
	unsigned n, hole = 50, got;
	uint8_t *p, *lo, *hi;

	CHECK(setup_cpus());
	n = fill_chunk_but_hole(v, ARRAY_SIZE(v), run, hole);
	CHECK(n > hole && n < ARRAY_SIZE(v));
	CHECK_EQ(stats().largest_free, run);
	p = alloc(request_for(bs));
	CHECK(p > v[hole] && p < v[hole] + run);
	CHECK_EQ(check_heap(), 0); /* the cached blocks' poison, the old footer's place too */
	static uint8_t *w[4];
	w[0] = p;
	got = 1 + take_class(w + 1, 3, bs);
	CHECK_EQ(got, 4);
	CHECK(side_by_side(w, 4, bs, &lo, &hi));
	CHECK(lo == v[hole] && hi == v[hole] + run - bs);
	for (unsigned i = 0; i < 4; i++)
		heap_free(H, w[i]);
	free_all_but(v, n, hole);
	CHECK_EQ(stats().chunks, 0);
	CHECK(drained());
}

/* No free block holds a run and the heap cannot grow: the miss takes one block. */
TEST(heap_cache_refill_falls_back_to_one_block_when_no_run_is_free)
{
	static uint8_t *v[256];
	const uint64_t bs = 1024, big = 1536; /* a run of 1024s is 2048 bytes */
	unsigned n, hole = 50;
	uint64_t failures;
	uint8_t *p, *q;

	CHECK(setup_cpus());
	n = fill_chunk_but_hole(v, ARRAY_SIZE(v), big, hole);
	CHECK(n > hole && n < ARRAY_SIZE(v)); /* v[hole]'s 1536 bytes in the lists */
	CHECK_EQ(stats().largest_free, big);
	p = alloc(request_for(bs));
	CHECK_EQ(p, v[hole]); /* carved from the hole alone: no run */
	CHECK_EQ(block_size(p), bs + (big - bs < 48 ? big - bs : 0));
	CHECK_EQ(stats().cached_blocks, 0);
	CHECK_EQ(check_heap(), 0);
	failures = stats().failures;
	q = alloc(request_for(bs)); /* nothing left: NULL, counted */
	CHECK(q == NULL);
	CHECK_EQ(stats().failures, failures + 1);
	heap_free(H, p);
	free_all_but(v, n, hole);
	CHECK_EQ(stats().chunks, 0);
	CHECK(drained());
}

/* heap_cache_free() checks a pointer as heap_free() does: each case must reach corrupt(). */
TEST(heap_cache_free_reports_misuse)
{
	struct heap_cache *hc = &cpu_caches[0];
	static const char *const want[] = {"double free", "buffer overrun", "bad free",
					   "overwritten"};

	for (unsigned c = 0; c < ARRAY_SIZE(want); c++) {
		CHECK(setup_cpus());
		uint8_t *p = heap_alloc(H, 40, 0), *bad = p;
		CHECK(p != NULL);
		if (c == 0)
			CHECK(heap_cache_free(H, hc, p));
		else if (c == 1)
			p[40] ^= 1; /* one byte into the canary */
		else if (c == 2)
			bad = p + 16; /* inside the block */
		else
			p[-8] ^= 1; /* the request field, covered by the check word */
		hh.corrupt_msg[0] = '\0';
		hh.on_corrupt = &corrupt_jb;
		if (setjmp(corrupt_jb) == 0) {
			heap_cache_free(H, hc, bad);
			hh.on_corrupt = NULL;
			CHECK(!"heap_cache_free() of a bad pointer returned");
		}
		hh.on_corrupt = NULL;
		if (!strstr(hh.corrupt_msg, want[c]))
			printf("# case %u: %s\n", c, hh.corrupt_msg);
		CHECK(strstr(hh.corrupt_msg, want[c]) != NULL);
	}
}

/*
 * A hit changes only its class's count, which moves the live total by
 * itself: the totals must stay right across hits on several CPUs, a full
 * class, and a drain of blocks that stay cached elsewhere.
 */
TEST(heap_live_counts_survive_hits_and_drains)
{
	static void *v[100];
	uint64_t bytes = 0;

	CHECK(setup_cpus());
	for (unsigned i = 0; i < ARRAY_SIZE(v); i++) {
		cur_cpu = i % 3;
		CHECK((v[i] = heap_alloc(H, 16 + i % 7 * 8, 0)) != NULL);
		bytes += 16 + i % 7 * 8;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(v); i += 2) { /* half of them, into every CPU's cache */
		cur_cpu = i % 3;
		heap_free(H, v[i]);
		bytes -= 16 + i % 7 * 8;
	}
	CHECK_EQ(stats().live_blocks, ARRAY_SIZE(v) / 2);
	CHECK_EQ(stats().live_bytes, bytes);
	cur_cpu = 1;
	heap_trim(H); /* drains CPU 1's cache and the heap's; CPU 0's and 2's keep theirs */
	CHECK_EQ(cached_in(&cpu_caches[1]), 0);
	CHECK(cached_in(&cpu_caches[0]) > 0 && cached_in(&cpu_caches[2]) > 0);
	CHECK_EQ(stats().live_blocks, ARRAY_SIZE(v) / 2);
	CHECK_EQ(stats().live_bytes, bytes);
	CHECK_EQ(check_heap(), 0);
	for (unsigned i = 1; i < ARRAY_SIZE(v);
	     i += 2) { /* the rest, hits again where there is room */
		cur_cpu = (i + 1) % 3;
		CHECK(heap_cache_free(H, &cpu_caches[cur_cpu], v[i]) || (heap_free(H, v[i]), true));
	}
	CHECK_EQ(stats().live_blocks, 0);
	CHECK_EQ(stats().live_bytes, 0);
	CHECK_EQ(check_heap(), 0);
	cur_cpu = 0;
}

int main(void)
{
	rng_state = 0x6865617074657374ull;
	RUN(heap_alloc_returns_aligned_distinct_blocks);
	RUN(heap_per_cpu_caches_count_and_check_across_cpus);
	RUN(heap_coarse_cache_serves_blocks_over_1_kib);
	RUN(heap_coarse_cache_takes_the_next_class_and_keeps_the_canary);
	RUN(heap_coarse_cache_overflows_to_the_lists);
	RUN(heap_coarse_cache_double_free_caught);
	RUN(heap_coarse_cache_damage_reported);
	RUN(heap_per_cpu_double_free_caught_on_any_cpu);
	RUN(heap_per_cpu_unattached_cpu_refused);
	RUN(heap_per_cpu_reclaim_gets_other_cpus_cached_blocks);
	RUN(heap_per_cpu_give_back_keeps_empty_chunks);
	RUN(heap_per_cpu_reclaim_then_extra_empty_chunks_released);
	RUN(heap_cache_entry_points_serve_hits_and_decline_the_rest);
	RUN(heap_cache_refill_carves_a_run_of_neighbours);
	RUN(heap_cache_refill_keeps_each_cpus_blocks_apart);
	RUN(heap_cache_refill_takes_a_free_block_of_exactly_a_run);
	RUN(heap_cache_refill_falls_back_to_one_block_when_no_run_is_free);
	RUN(heap_cache_free_reports_misuse);
	RUN(heap_live_counts_survive_hits_and_drains);
	RUN(heap_alloc_rejects_bad_arguments);
	RUN(heap_alloc_zero_gives_unique_freeable_blocks);
	RUN(heap_free_null_does_nothing);
	RUN(heap_debug_fill_fills_new_blocks);
	RUN(heap_calloc_zeroes);
	RUN(heap_calloc_rejects_overflowing_products);
	RUN(heap_realloc_grows_in_place_into_free_neighbour);
	RUN(heap_realloc_grows_in_place_into_trimmed_cached_neighbour);
	RUN(heap_realloc_shrinks_in_place);
	RUN(heap_realloc_moves_and_keeps_contents);
	RUN(heap_realloc_null_allocates_and_zero_frees);
	RUN(heap_realloc_failure_leaves_block_untouched);
	RUN(heap_alloc_large_blocks_are_page_aligned);
	RUN(heap_realloc_large_grows_and_shrinks_inside_its_slot);
	RUN(heap_alloc_large_has_guard_pages);
	RUN(heap_free_coalesces_neighbours_in_any_order);
	RUN(heap_trim_coalesces_cached_neighbours);
	RUN(heap_free_coalesces_when_the_cache_is_full);
	RUN(heap_free_poisons_the_block);
	RUN(heap_stats_count_live_blocks_and_bytes);
	RUN(heap_alloc_fails_cleanly_when_out_of_memory_then_recovers);
	RUN(heap_alloc_large_fails_cleanly_when_out_of_memory);
	RUN(heap_trim_returns_all_memory_of_small_blocks);
	RUN(heap_trim_returns_all_memory_after_a_large_block);
	RUN(heap_trim_returns_all_memory);
	RUN(heap_check_clean_after_random_workload);
	RUN(heap_debug_verify_random_workload);
	RUN(heap_reports_misuse_and_damage);
	RUN(heap_free_detects_one_byte_overrun);
	RUN(heap_free_detects_flipped_header_bits);
	if (hh.reservation)
		host_heap_destroy(&hh);
	return check_done();
}
