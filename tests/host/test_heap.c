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
 * reach corrupt() with a message naming the block (in a forked child where
 * a fault instead of a report would take the whole binary down).
 *
 * White-box facts used (mm/heap.c): a small block's 16-byte header sits
 * right before the payload, its first word the block size (header
 * included, a multiple of 16) with bit 0 "in use" and bit 1 "previous in
 * use"; an 8-byte canary follows the requested bytes; a free block keeps
 * list links in its first 16 payload bytes and its size in its last 8.
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

static bool setup(uint64_t seed)
{
	if (hh.reservation)
		host_heap_destroy(&hh);
	return host_heap_create(&hh, WINDOW, seed) == 0;
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

/* The size|flags word of a small block's header. */
static uint64_t header_word(const void *p)
{
	uint64_t w;

	memcpy(&w, (const uint8_t *)p - 16, sizeof(w));
	return w;
}

static uint64_t block_size(const void *p)
{
	return header_word(p) & ~(uint64_t)15;
}

static bool in_use(const void *p)
{
	return header_word(p) & 1;
}

/* The request that needs a block of exactly bs bytes: header and canary on top. */
static size_t request_for(uint64_t bs)
{
	return (size_t)(bs - 16 - 8);
}

/* heap_check() must find damage and say what (shown as a TAP comment). */
static bool heap_check_fails(void)
{
	char msg[256] = "";
	int err = heap_check(H, msg, sizeof(msg));

	printf("# heap_check: %d %s\n", err, msg);
	return err == -EIO && msg[0];
}

/* --- expecting corrupt() ---------------------------------------------------------- */

static jmp_buf corrupt_jb;

/* The report starts with prefix and names addr (or, for a payload, its header) in hex. */
static bool names(const char *prefix, const void *addr)
{
	char hex[2][32];

	printf("# corrupt(): %s\n", hh.corrupt_msg);
	if (strncmp(hh.corrupt_msg, prefix, strlen(prefix)) != 0)
		return false;
	/* No "0x": %p-style zero padding must match too. */
	snprintf(hex[0], sizeof(hex[0]), "%lx", (unsigned long)(uintptr_t)addr);
	snprintf(hex[1], sizeof(hex[1]), "%lx", (unsigned long)(uintptr_t)addr - 16);
	return strstr(hh.corrupt_msg, hex[0]) || strstr(hh.corrupt_msg, hex[1]);
}

/*
 * stmt must end in corrupt() with a report starting with prefix and naming
 * addr. The heap is dead afterwards: the test must not touch it again.
 */
#define CHECK_CORRUPTS(stmt, prefix, addr)                                                         \
	do {                                                                                       \
		hh.corrupt_msg[0] = '\0';                                                          \
		hh.on_corrupt = &corrupt_jb;                                                       \
		if (setjmp(corrupt_jb) == 0) {                                                     \
			stmt;                                                                      \
			hh.on_corrupt = NULL;                                                      \
			check_fail(__FILE__, __LINE__, "%s did not call corrupt()", #stmt);        \
			return;                                                                    \
		}                                                                                  \
		hh.on_corrupt = NULL;                                                              \
		if (!names((prefix), (addr))) {                                                    \
			check_fail(__FILE__, __LINE__, "report \"%s\" is not \"%s\" naming %p",    \
				   hh.corrupt_msg, (prefix), (const void *)(addr));                \
			return;                                                                    \
		}                                                                                  \
	} while (0)

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
		CHECK_EQ(check_heap(), 0);
		CHECK_EQ(stats().live_blocks, 0);
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
	CHECK_EQ(stats().live_blocks, 0);
	CHECK_EQ(check_heap(), 0);
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
	CHECK_EQ(stats().live_blocks, 0);
	CHECK_EQ(check_heap(), 0);
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
	heap_free(H, p);
	heap_free(H, NULL);
	CHECK_EQ(stats().live_blocks, 0);
	CHECK_EQ(check_heap(), 0);
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
	heap_free(H, p);
	heap_free(H, q);
	CHECK_EQ(check_heap(), 0);
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
	CHECK_EQ(stats().live_blocks, 0);
	CHECK_EQ(check_heap(), 0);
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
	heap_free(H, a);
	heap_free(H, c);
	CHECK_EQ(stats().live_blocks, 0);
	CHECK_EQ(check_heap(), 0);
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
	heap_free(H, a);
	heap_free(H, c);
	CHECK_EQ(check_heap(), 0);
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
	heap_free(H, p);
	heap_free(H, q);
	CHECK_EQ(check_heap(), 0);
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
	heap_free(H, r);
	heap_free(H, b);
	CHECK_EQ(stats().live_blocks, 0);
	CHECK_EQ(check_heap(), 0);
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
	CHECK_EQ(stats().live_blocks, 0);
	CHECK_EQ(check_heap(), 0);
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
	heap_free(H, p);
	heap_free(H, q);
	CHECK_EQ(check_heap(), 0);
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
	CHECK_EQ(stats().live_blocks, 0);
	CHECK_EQ(check_heap(), 0);
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
	p = alloc(request_for(3 * bs));
	ok = p == t->v[0] && block_size(p) == 3 * bs;
	heap_free(H, p);
	heap_free(H, t->before);
	heap_free(H, t->after);
	return ok && check_heap() == 0;
}

static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};

TEST(heap_free_coalesces_neighbours_in_any_order)
{
	struct three t;

	for (int i = 0; i < 6; i++) {
		SETUP();
		CHECK(carve(&t, 1280)); /* above HEAP_CACHE_MAX */
		CHECK(merged(&t, orders[i], 1280, false));
	}
}

TEST(heap_trim_coalesces_cached_neighbours)
{
	struct three t;

	for (int i = 0; i < 6; i++) {
		SETUP();
		CHECK(carve(&t, 128));
		CHECK(merged(&t, orders[i], 128, true));
	}
}

TEST(heap_free_coalesces_when_the_cache_is_full)
{
	static uint8_t *fillers[64];
	struct three t;

	for (int i = 0; i < 6; i++) {
		SETUP();
		CHECK(carve(&t, 128));
		/* Fill the cache's class for 128-byte blocks... */
		for (size_t j = 0; j < ARRAY_SIZE(fillers); j++)
			CHECK((fillers[j] = alloc(request_for(128))) != NULL);
		for (size_t j = 0; j < ARRAY_SIZE(fillers); j++)
			heap_free(H, fillers[j]);
		CHECK(stats().cached_blocks > 0);
		CHECK(stats().cached_blocks <= HEAP_CACHE_BYTES / 128);
		/* ...so that these frees go to the lists and merge. */
		CHECK(merged(&t, orders[i], 128, false));
	}
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

/* --- hardening: double and bad frees -----------------------------------------------------------
 */

TEST(heap_free_detects_double_free_of_cached_block)
{
	uint8_t *p;

	SETUP();
	p = alloc(64);
	CHECK(p != NULL);
	heap_free(H, p);
	CHECK_CORRUPTS(heap_free(H, p), "double free of ", p);
}

TEST(heap_free_detects_double_free_of_listed_block)
{
	uint8_t *p, *q;

	SETUP();
	p = alloc(2000);
	q = alloc(2000);
	CHECK(p && q);
	heap_free(H, p);
	CHECK_CORRUPTS(heap_free(H, p), "double free of ", p);
}

TEST(heap_free_detects_double_free_of_merged_block)
{
	uint8_t *p, *q, *r;

	SETUP();
	p = alloc(2000);
	q = alloc(2000);
	r = alloc(2000);
	CHECK(p && q && r);
	heap_free(H, q);
	heap_free(H, p); /* q's header is now inside p's free block */
	CHECK_CORRUPTS(heap_free(H, p), "double free of ", p);
}

TEST(heap_free_detects_double_free_of_large_block)
{
	uint8_t *p, *q;

	SETUP();
	p = alloc(5000);
	q = alloc(5000); /* keeps the heap from being trivially empty */
	CHECK(p && q);
	heap_free(H, p);
	CHECK_CORRUPTS(heap_free(H, p), "double free of ", p);
}

/* heap_trim() forgets freed large slots: a second free must still be reported. */
TEST(heap_free_detects_double_free_of_large_block_after_trim)
{
	uint8_t *p;

	SETUP();
	p = alloc(5000);
	CHECK(p != NULL);
	heap_free(H, p);
	heap_trim(H);
	CHECK_CORRUPTS(heap_free(H, p), "", p);
}

TEST(heap_free_detects_double_free_after_realloc_zero)
{
	uint8_t *p;

	SETUP();
	p = alloc(300);
	CHECK(p != NULL);
	CHECK(heap_realloc(H, p, 0) == NULL);
	CHECK_CORRUPTS(heap_free(H, p), "double free of ", p);
}

TEST(heap_realloc_detects_freed_block)
{
	uint8_t *p;

	SETUP();
	p = alloc(300);
	CHECK(p != NULL);
	heap_free(H, p);
	CHECK_CORRUPTS(heap_realloc(H, p, 500), "double free of ", p);
}

TEST(heap_free_detects_pointer_inside_block)
{
	uint8_t *p;

	SETUP();
	p = alloc(200);
	CHECK(p != NULL);
	memset(p, 0, 200); /* a zero "header" at p + 16 */
	CHECK_CORRUPTS(heap_free(H, p + 32), "bad free of ", p + 32);
}

TEST(heap_free_detects_pointer_inside_block_with_forged_header)
{
	uint8_t *p;
	uint64_t forged = 64 | 3;

	SETUP();
	p = alloc(200);
	CHECK(p != NULL);
	memset(p, 0, 200);
	memcpy(p + 16, &forged, sizeof(forged)); /* a plausible size, in use */
	CHECK_CORRUPTS(heap_free(H, p + 32), "bad free of ", p + 32);
}

TEST(heap_free_detects_pointer_inside_large_block)
{
	uint8_t *p;

	SETUP();
	p = alloc(3 * P);
	CHECK(p != NULL);
	memset(p, 0, 3 * P);
	CHECK_CORRUPTS(heap_free(H, p + P), "bad free of ", p + P);
}

TEST(heap_free_detects_stack_pointer)
{
	uint64_t local[4] = {0};
	void *p;

	SETUP();
	p = alloc(100); /* a heap with something in it */
	CHECK(p != NULL);
	CHECK_CORRUPTS(heap_free(H, &local[2]), "bad free of ", &local[2]);
}

TEST(heap_free_detects_unmapped_chunk_slot)
{
	uint8_t *p, *bad;

	SETUP();
	p = alloc(100);
	CHECK(p != NULL);
	bad = (uint8_t *)H->base + 100 * HEAP_CHUNK_STRIDE + 256;
	CHECK_CORRUPTS(heap_free(H, bad), "bad free of ", bad);
}

TEST(heap_free_detects_chunk_guard_area)
{
	uint8_t *p, *bad;

	SETUP();
	p = alloc(100);
	CHECK(p != NULL);
	/* The unmapped second half of p's chunk slot. */
	bad = (uint8_t *)ALIGN_DOWN((uintptr_t)p, HEAP_CHUNK_STRIDE) + HEAP_CHUNK_SIZE + 64;
	CHECK_CORRUPTS(heap_free(H, bad), "bad free of ", bad);
}

TEST(heap_free_detects_unmapped_large_slot)
{
	uint8_t *p, *bad;

	SETUP();
	p = alloc(5000);
	CHECK(p != NULL);
	bad = (uint8_t *)H->base + H->size - 16 * P;
	CHECK_CORRUPTS(heap_free(H, bad), "bad free of ", bad);
}

TEST(heap_free_detects_pointer_outside_window)
{
	uint8_t *bad;

	SETUP();
	bad = (uint8_t *)H->base + H->size + P;
	CHECK_CORRUPTS(heap_free(H, bad), "bad free of ", bad);
}

TEST(heap_free_detects_misaligned_pointer)
{
	uint8_t *p;

	SETUP();
	p = alloc(100);
	CHECK(p != NULL);
	CHECK_CORRUPTS(heap_free(H, p + 1), "bad free of ", p + 1);
}

TEST(heap_free_detects_misaligned_large_pointer)
{
	uint8_t *p;

	SETUP();
	p = alloc(5000);
	CHECK(p != NULL);
	CHECK_CORRUPTS(heap_free(H, p + 8), "bad free of ", p + 8);
}

TEST(heap_size_detects_bad_pointer)
{
	uint8_t *p;

	SETUP();
	p = alloc(100);
	CHECK(p != NULL);
	CHECK_CORRUPTS(heap_size(H, p + 8), "bad free of ", p + 8);
}

/*
 * Free p in a child with corrupt() armed: true if that reported prefix
 * naming p, false if it returned or the child died of a fault instead.
 */
static bool child_free_reports(void *p, const char *prefix)
{
	pid_t pid;
	int status = 0;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		hh.on_corrupt = &corrupt_jb;
		if (setjmp(corrupt_jb) == 0) {
			heap_free(H, p);
			_exit(11);
		}
		status = names(prefix, p) ? 10 : 12;
		fflush(stdout); /* the report, as a TAP comment */
		_exit(status);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	if (WIFSIGNALED(status) || !WIFEXITED(status) || WEXITSTATUS(status) != 10)
		printf("# child freeing %p: status %#x (exit 11: no report, 12: wrong one)\n", p,
		       status);
	return WIFEXITED(status) && WEXITSTATUS(status) == 10;
}

/* --- hardening: overruns and overwritten headers ------------------------------------------------
 */

/* Overrun an n-byte block by one byte, then free it. */
static bool overrun_reported(size_t n)
{
	uint8_t *p = alloc(n), *q = alloc(n);

	if (!p || !q)
		return false;
	fill(p, n, 18);
	p[n] ^= 0x5a;
	hh.corrupt_msg[0] = '\0';
	hh.on_corrupt = &corrupt_jb;
	if (setjmp(corrupt_jb) == 0) {
		heap_free(H, p);
		hh.on_corrupt = NULL;
		printf("# %zu-byte overrun not reported\n", n);
		return false;
	}
	hh.on_corrupt = NULL;
	return names("buffer overrun: ", p);
}

TEST(heap_free_detects_one_byte_overrun)
{
	static const size_t sizes[] = {0, 1, 13, 64, 100, 1000, 1024, 1500, 4000, 4095};

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		SETUP();
		if (!overrun_reported(sizes[i])) {
			check_fail(__FILE__, __LINE__, "%zu bytes: \"%s\"", sizes[i],
				   hh.corrupt_msg);
			return;
		}
	}
}

TEST(heap_free_detects_one_byte_overrun_of_large_block)
{
	/* With slack after the request: a page multiple has no room for a canary. */
	static const size_t sizes[] = {HEAP_LARGE_MIN + 1, 5000,      8000,
				       3 * P - 8,	   3 * P - 1, 100000};

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		SETUP();
		if (!overrun_reported(sizes[i])) {
			check_fail(__FILE__, __LINE__, "%zu bytes: \"%s\"", sizes[i],
				   hh.corrupt_msg);
			return;
		}
	}
}

TEST(heap_realloc_detects_overrun)
{
	uint8_t *p;

	SETUP();
	p = alloc(100);
	CHECK(p != NULL);
	p[100] ^= 1;
	CHECK_CORRUPTS(heap_realloc(H, p, 5000), "buffer overrun: ", p);
}

TEST(heap_check_detects_overrun_of_live_block)
{
	uint8_t *p;
	char msg[256];

	SETUP();
	p = alloc(100);
	CHECK(p != NULL);
	p[101] ^= 1;
	CHECK_EQ(heap_check(H, msg, sizeof(msg)), -EIO);
	printf("# heap_check: %s\n", msg);
}

TEST(heap_free_detects_overwritten_size)
{
	uint8_t *p, *q;
	uint64_t w;

	SETUP();
	p = alloc(100);
	q = alloc(100);
	CHECK(p && q);
	w = header_word(p) + 16; /* one granule bigger: swallows q's header */
	memcpy(p - 16, &w, sizeof(w));
	CHECK_CORRUPTS(heap_free(H, p), "header of block ", p);
}

TEST(heap_free_detects_overwritten_size_of_listed_size)
{
	uint8_t *p, *q;
	uint64_t w;

	SETUP();
	p = alloc(2000);
	q = alloc(2000);
	CHECK(p && q);
	w = header_word(p) - 256;
	memcpy(p - 16, &w, sizeof(w));
	CHECK_CORRUPTS(heap_free(H, p), "header of block ", p);
}

TEST(heap_free_detects_overwritten_request_and_check_word)
{
	uint8_t *p;
	uint32_t req;

	SETUP();
	p = alloc(100);
	CHECK(p != NULL);
	memcpy(&req, p - 8, sizeof(req));
	req -= 1; /* the canary check would now look one byte early */
	memcpy(p - 8, &req, sizeof(req));
	CHECK_CORRUPTS(heap_free(H, p), "header of block ", p);
	SETUP();
	p = alloc(100);
	CHECK(p != NULL);
	p[-1] ^= 0x80; /* the check word */
	CHECK_CORRUPTS(heap_free(H, p), "header of block ", p);
}

/*
 * The flag bits are outside the check word (a free changes its neighbour's
 * PREV_USED): a cleared PREV_USED sends free() to a footer that is not one.
 */
TEST(heap_free_detects_cleared_prev_used)
{
	uint8_t *p, *q, *r;

	SETUP();
	p = alloc(2000);
	q = alloc(2000);
	r = alloc(2000);
	CHECK(p && q && r);
	q[-16] &= (uint8_t)~2; /* "p is free" */
	CHECK_CORRUPTS(heap_free(H, q), "header of block ", q);
}

TEST(heap_check_detects_cleared_prev_used_of_cached_block)
{
	uint8_t *p, *q, *r;

	SETUP();
	p = alloc(100);
	q = alloc(100);
	r = alloc(100);
	CHECK(p && q && r);
	q[-16] &= (uint8_t)~2;
	heap_free(H, q); /* cached: its neighbours are not looked at yet */
	CHECK(heap_check_fails());
	CHECK_CORRUPTS(heap_trim(H), "header of block ", q);
}

/* The same for a chunk's first block: there is no footer before it to read. */
TEST(heap_free_detects_cleared_prev_used_of_first_block)
{
	uint8_t *p, *q;

	SETUP();
	p = alloc(2000);
	q = alloc(2000);
	CHECK(p && q);
	CHECK(IS_ALIGNED(p - 16, HEAP_CHUNK_STRIDE)); /* the chunk's first block */
	p[-16] &= (uint8_t)~2;
	CHECK(child_free_reports(p, "header of block "));
}

/*
 * Every bit of the size and of the request is covered by the check word:
 * a flip in the top ones must not send free() to a huge memset or to a
 * canary gigabytes away. In a child, in case it does.
 */
TEST(heap_free_detects_overwritten_high_bits_of_size)
{
	static const unsigned bytes[] = {5, 6, 7};

	for (size_t i = 0; i < ARRAY_SIZE(bytes); i++) {
		uint8_t *p, *q;

		SETUP();
		p = alloc(100);
		q = alloc(100);
		CHECK(p && q);
		p[-16 + (int)bytes[i]] ^= 0x80;
		if (!child_free_reports(p, "header of block ")) {
			check_fail(__FILE__, __LINE__, "size byte %u flipped: not reported",
				   bytes[i]);
			return;
		}
	}
}

TEST(heap_free_detects_overwritten_high_bits_of_request)
{
	static const uint32_t flips[] = {1u << 20, 1u << 27, 1u << 28, 1u << 31};

	for (size_t i = 0; i < ARRAY_SIZE(flips); i++) {
		uint8_t *p, *q;
		uint32_t req;

		SETUP();
		p = alloc(100);
		q = alloc(100);
		CHECK(p && q);
		memcpy(&req, p - 8, sizeof(req));
		req ^= flips[i];
		memcpy(p - 8, &req, sizeof(req));
		if (!child_free_reports(p, "header of block ")) {
			check_fail(__FILE__, __LINE__, "request bit %#x flipped: not reported",
				   flips[i]);
			return;
		}
	}
}

TEST(heap_free_detects_header_zeroed_by_underrun)
{
	uint8_t *p, *q;

	SETUP();
	p = alloc(100);
	q = alloc(100);
	CHECK(p && q);
	memset(q - 16, 0, 16); /* p's neighbour wrote over q's header */
	CHECK_CORRUPTS(heap_free(H, q), "header of block ", q);
}

/* --- hardening: damage to free blocks, found by heap_check() -------------------------------------
 */

TEST(heap_check_detects_corrupted_free_link)
{
	uint8_t *p, *q, *r, *s;

	SETUP();
	p = alloc(2000);
	q = alloc(2000);
	r = alloc(2000);
	s = alloc(2000);
	CHECK(p && q && r && s);
	heap_free(H, p);
	heap_free(H, r); /* two separate free blocks in the lists */
	CHECK_EQ(check_heap(), 0);
	/* A plausible but wrong link: into the middle of a live block. */
	{
		uint8_t *bad = q + 64;

		memcpy(p, &bad, sizeof(bad));
	}
	CHECK(heap_check_fails());
}

TEST(heap_alloc_detects_corrupted_free_link)
{
	uint8_t *p, *q, *r, *s;

	SETUP();
	p = alloc(2000);
	q = alloc(2000);
	r = alloc(2000);
	s = alloc(2000);
	CHECK(p && q && r && s);
	heap_free(H, p);
	heap_free(H, r); /* p and r in one list: r, then p */
	{
		uint8_t *bad = q + 64; /* p's next: mapped, but not a free block */

		memcpy(p, &bad, sizeof(bad));
	}
	CHECK(alloc(2000) == r);
	CHECK_CORRUPTS(alloc(2000), "free list corrupted at block ", p);
}

/* In a child: a wild link must be reported, not followed into a fault. */
static bool wild_link_reported(void)
{
	uint8_t *p = alloc(2000), *q = alloc(2000);
	uint64_t wild = 0x4141414141414140ull;
	pid_t pid;
	int status;

	if (!p || !q)
		return false;
	heap_free(H, p);
	memcpy(p + 8, &wild, sizeof(wild)); /* prev */
	memcpy(p, &wild, sizeof(wild));	    /* next */
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(heap_check(H, NULL, 0) == -EIO ? 0 : 1);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		printf("# wild link: child status %#x\n", status);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(heap_check_detects_wild_free_link)
{
	SETUP();
	CHECK(wild_link_reported());
}

TEST(heap_check_detects_write_after_free_to_listed_block)
{
	uint8_t *p, *q;

	SETUP();
	p = alloc(2000);
	q = alloc(2000);
	CHECK(p && q);
	heap_free(H, p);
	CHECK_EQ(check_heap(), 0);
	p[500] = 0;
	CHECK(heap_check_fails());
}

TEST(heap_check_detects_write_after_free_to_cached_block)
{
	uint8_t *p, *q;

	SETUP();
	p = alloc(200);
	q = alloc(200);
	CHECK(p && q);
	heap_free(H, p);
	CHECK(stats().cached_blocks == 1);
	CHECK_EQ(check_heap(), 0);
	p[100] = 0;
	CHECK(heap_check_fails());
}

TEST(heap_check_detects_corrupted_cache_link)
{
	uint8_t *p, *q, *r;

	SETUP();
	p = alloc(200);
	q = alloc(200);
	r = alloc(200);
	CHECK(p && q && r);
	heap_free(H, p);
	heap_free(H, r); /* the cache list: r -> p */
	CHECK_EQ(check_heap(), 0);
	{
		uint8_t *bad = q + 32;

		memcpy(r, &bad, sizeof(bad));
	}
	CHECK(heap_check_fails());
}

TEST(heap_debug_fill_detects_write_after_free_on_reuse)
{
	uint8_t *p, *q;

	SETUP();
	H->debug |= HEAP_DEBUG_FILL;
	p = alloc(200);
	q = alloc(200);
	CHECK(p && q);
	heap_free(H, p);
	p[100] = 0;
	CHECK_CORRUPTS(alloc(200), "", p);
}

int main(void)
{
	rng_state = 0x6865617074657374ull;
	RUN(heap_alloc_returns_aligned_distinct_blocks);
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
	RUN(heap_free_detects_double_free_of_cached_block);
	RUN(heap_free_detects_double_free_of_listed_block);
	RUN(heap_free_detects_double_free_of_merged_block);
	RUN(heap_free_detects_double_free_of_large_block);
	RUN(heap_free_detects_double_free_of_large_block_after_trim);
	RUN(heap_free_detects_double_free_after_realloc_zero);
	RUN(heap_realloc_detects_freed_block);
	RUN(heap_free_detects_pointer_inside_block);
	RUN(heap_free_detects_pointer_inside_block_with_forged_header);
	RUN(heap_free_detects_pointer_inside_large_block);
	RUN(heap_free_detects_stack_pointer);
	RUN(heap_free_detects_unmapped_chunk_slot);
	RUN(heap_free_detects_chunk_guard_area);
	RUN(heap_free_detects_unmapped_large_slot);
	RUN(heap_free_detects_pointer_outside_window);
	RUN(heap_free_detects_misaligned_pointer);
	RUN(heap_free_detects_misaligned_large_pointer);
	RUN(heap_size_detects_bad_pointer);
	RUN(heap_free_detects_one_byte_overrun);
	RUN(heap_free_detects_one_byte_overrun_of_large_block);
	RUN(heap_realloc_detects_overrun);
	RUN(heap_check_detects_overrun_of_live_block);
	RUN(heap_free_detects_overwritten_size);
	RUN(heap_free_detects_overwritten_size_of_listed_size);
	RUN(heap_free_detects_overwritten_request_and_check_word);
	RUN(heap_free_detects_cleared_prev_used);
	RUN(heap_check_detects_cleared_prev_used_of_cached_block);
	RUN(heap_free_detects_cleared_prev_used_of_first_block);
	RUN(heap_free_detects_overwritten_high_bits_of_size);
	RUN(heap_free_detects_overwritten_high_bits_of_request);
	RUN(heap_free_detects_header_zeroed_by_underrun);
	RUN(heap_check_detects_corrupted_free_link);
	RUN(heap_check_detects_wild_free_link);
	RUN(heap_alloc_detects_corrupted_free_link);
	RUN(heap_check_detects_write_after_free_to_listed_block);
	RUN(heap_check_detects_write_after_free_to_cached_block);
	RUN(heap_check_detects_corrupted_cache_link);
	RUN(heap_debug_fill_detects_write_after_free_on_reuse);
	if (hh.reservation)
		host_heap_destroy(&hh);
	return check_done();
}
