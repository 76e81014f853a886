/*
 * libFuzzer target for mm/heap.c, the heap allocator, over tests/heap_host.h's
 * reserved window. The input's first byte picks the debug flags and
 * whether a map budget is in force, the next two how many operations;
 * the rest (then bytes seeded by the input) drives up to MAX_OPS
 * operations on SLOTS model slots: alloc (sizes biased small, sometimes
 * large, random alignment), calloc, free, realloc, heap_size, heap_trim,
 * a CPU giving its front cache back (heap_cache_give_back, as on a reclaim
 * interrupt) and budget changes. Every live block holds a pattern derived from its slot's
 * seed, verified before it is freed or resized (realloc keeps the smaller
 * size's bytes). After each operation heap_stats() must agree with the
 * model's live blocks and bytes and with what the backend mapped;
 * heap_check() must pass after the first few operations and then every
 * CHECK_EVERY (it reads all the poison, so it is the cost that matters), or
 * after every one in HEAP_DEBUG_VERIFY mode. Every new block is aligned,
 * sized as asked and overlaps no other live block. At the end everything
 * is freed and trimmed, and nothing may stay mapped; or, for one input in
 * eight, a misuse (double free, 1-byte overrun, overwritten header, bad
 * pointer) must reach corrupt() with the matching report. Each input gets
 * a heap of its own, with three simulated CPUs' front caches attached;
 * each operation runs on one of them, half of the allocations and frees
 * the way kmalloc does them (heap_cache_alloc/free first, then
 * heap_alloc/free). A small allocation that fails asks the other CPUs
 * for their cached blocks through the reclaim hook. Traps on any
 * violation.
 */
#include "../heap_host.h" /* first: it sets _DEFAULT_SOURCE for mmap */

#include <mm/heap.h>
#include <lib/errno.h>

#include "fuzz.h"

#define SLOTS	 64
#define MAX_OPS	 400
#define WINDOW	 (4 * GiB)
#define P	 PAGE_SIZE
#define MAX_HUGE (512 * KiB)
#define NCPUS	 3

static struct host_heap hh;
static struct heap *const H = &hh.heap;

/* ---- simulated CPUs: each with its own front cache ---------------------------- */

static struct heap_cache cpu_caches[NCPUS];
static unsigned cur_cpu;

static struct heap_cache *this_cpu_cache(void *ctx)
{
	return &cpu_caches[cur_cpu];
}

/* The reclaim hook: every other CPU gives its cache back, as the kernel's interrupt has it. */
static void reclaim_other_cpus(void *ctx)
{
	unsigned self = cur_cpu;

	for (cur_cpu = 0; cur_cpu < NCPUS; cur_cpu++)
		if (cur_cpu != self)
			heap_cache_give_back(H, &cpu_caches[cur_cpu]);
	cur_cpu = self;
}

/* The host heap's ops plus the cache and reclaim hooks, and NCPUS caches attached. */
static void attach_cpus(void)
{
	static struct heap_ops ops;

	ops = *H->ops;
	ops.cache = this_cpu_cache;
	ops.reclaim = reclaim_other_cpus;
	H->ops = &ops;
	for (unsigned i = 0; i < NCPUS; i++)
		ASSERT(heap_cache_attach(H, &cpu_caches[i]) == 0);
	cur_cpu = 0;
}

static struct slot {
	uint8_t *p;
	size_t n;
	uint8_t seed;
} slots[SLOTS];

static uint64_t live, live_bytes; /* the model's counts */

/* --- block contents ---------------------------------------------------------------- */

static uint8_t pattern(uint8_t seed, size_t i)
{
	return (uint8_t)(seed + i * 13 + (i >> 8));
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(seed, i);
}

static void check_fill(const uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		ASSERT(p[i] == pattern(seed, i));
}

static bool all(const uint8_t *p, size_t n, uint8_t b)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != b)
			return false;
	return true;
}

/* --- decoding ----------------------------------------------------------------------- */

/* Mostly small sizes, around the cache and large thresholds, sometimes large. */
static size_t decode_size(struct reader *r)
{
	uint8_t k = (uint8_t)rd(r, 1);

	if (k < 140)
		return (size_t)rd(r, 1);
	if (k < 200)
		return (size_t)rd(r, 2) % HEAP_LARGE_MIN;
	if (k < 215) /* just around HEAP_CACHE_MAX and HEAP_LARGE_MIN */
		return (k & 1 ? HEAP_CACHE_MAX : HEAP_LARGE_MIN) - 32 + (size_t)rd(r, 1) % 64;
	if (k < 250)
		return HEAP_LARGE_MIN + (size_t)rd(r, 2);
	return (size_t)rd(r, 3) % MAX_HUGE;
}

/* Mostly the default; otherwise any power of two up to HEAP_MAX_ALIGN, or 0. */
static size_t decode_align(struct reader *r)
{
	uint8_t k = (uint8_t)rd(r, 1);

	if (k < 160)
		return HEAP_ALIGN;
	if (k < 170)
		return 0;
	return (size_t)1 << (k % 13);
}

/* --- checks --------------------------------------------------------------------------- */

/* The counters agree with the model and the backend (cheap: after every operation). */
static void check_counts(void)
{
	struct heap_stats s;

	heap_stats(H, &s);
	ASSERT(s.live_blocks == live);
	ASSERT(s.live_bytes == live_bytes);
	ASSERT(s.chunk_bytes + s.large_bytes == hh.mapped);
	ASSERT(hh.budget == 0 || hh.mapped <= hh.budget);
}

/* The full verifier: it reads every chunk's poison, so it runs every so often. */
static void check_heap(void)
{
	char msg[256];

	ASSERT(heap_check(H, msg, sizeof(msg)) == 0);
	check_counts();
}

/* p, just returned for n bytes aligned to align, is sound and overlaps no live block. */
static void check_new(const uint8_t *p, size_t n, size_t align)
{
	ASSERT(IS_ALIGNED(p, MAX(align, HEAP_ALIGN)));
	ASSERT(n < HEAP_LARGE_MIN || IS_ALIGNED(p, P));
	ASSERT(heap_size(H, p) == n);
	for (size_t i = 0; i < SLOTS; i++) {
		const uint8_t *q = slots[i].p;

		ASSERT(!q || q + MAX(slots[i].n, 1) <= p || p + MAX(n, 1) <= q);
	}
}

/* A NULL result is only allowed when a budget limits mapping. */
static void check_null_allowed(void)
{
	ASSERT(hh.budget != 0);
}

/* --- operations -------------------------------------------------------------------------- */

static void put(struct slot *s, uint8_t *p, size_t n, uint8_t seed)
{
	*s = (struct slot){p, n, seed};
	fill(p, n, seed);
	live++;
	live_bytes += n;
}

/* Operations take kmalloc's way (the cache's hit path first, with this CPU's cache). */
static bool via_cache;

static void *alloc_as_asked(size_t n, size_t align)
{
	void *p =
	    via_cache && align <= HEAP_ALIGN ? heap_cache_alloc(H, &cpu_caches[cur_cpu], n) : NULL;

	return p ? p : heap_alloc(H, n, align);
}

static void op_alloc(struct reader *r, struct slot *s, bool zeroed)
{
	size_t n = decode_size(r), align = zeroed ? HEAP_ALIGN : decode_align(r);
	size_t k = zeroed ? 1 + (size_t)rd(r, 1) % 4 : 1;
	uint8_t *p = zeroed ? heap_calloc(H, k, n / k) : alloc_as_asked(n, align);

	n = zeroed ? k * (n / k) : n;
	if (!p) {
		check_null_allowed();
		return;
	}
	check_new(p, n, align);
	if (zeroed)
		ASSERT(all(p, n, 0));
	else if (H->debug & HEAP_DEBUG_FILL)
		ASSERT(all(p, n, HEAP_FILL));
	put(s, p, n, (uint8_t)rd(r, 1));
}

static void op_free(struct slot *s)
{
	check_fill(s->p, s->n, s->seed);
	if (!via_cache || !heap_cache_free(H, &cpu_caches[cur_cpu], s->p))
		heap_free(H, s->p);
	live--;
	live_bytes -= s->n;
	s->p = NULL;
}

static void op_realloc(struct reader *r, struct slot *s)
{
	size_t n = decode_size(r);
	uint8_t *p;

	check_fill(s->p, s->n, s->seed);
	p = heap_realloc(H, s->p, n);
	if (n == 0) { /* freed */
		ASSERT(p == NULL);
		live--;
		live_bytes -= s->n;
		s->p = NULL;
		return;
	}
	if (!p) { /* the old block must be untouched */
		check_null_allowed();
		check_fill(s->p, s->n, s->seed);
		ASSERT(heap_size(H, s->p) == s->n);
		return;
	}
	check_fill(p, MIN(n, s->n), s->seed);
	live--;
	live_bytes -= s->n;
	s->p = NULL;
	check_new(p, n, HEAP_ALIGN);
	put(s, p, n, (uint8_t)rd(r, 1));
}

/* No limit, or room for a few chunks or large blocks beyond what is mapped now. */
static void op_budget(struct reader *r)
{
	uint8_t k = (uint8_t)rd(r, 1);

	hh.budget = k < 64 ? 0 : hh.mapped + (uint64_t)(k % 16) * 64 * KiB;
}

/* heap_check() after each of the first CHECK_FIRST operations, then every CHECK_EVERY. */
#define CHECK_FIRST 8
#define CHECK_EVERY 64
#define VERIFY_OPS  32 /* HEAP_DEBUG_VERIFY runs heap_check() in every call */

static void op(struct reader *r, unsigned i)
{
	uint8_t k = (uint8_t)rd(r, 1);
	struct slot *s = &slots[rd(r, 1) % SLOTS];

	cur_cpu = (k ^ i) % NCPUS; /* blocks move between the CPUs' front caches */
	via_cache = (k / NCPUS) & 1;
	if (k >= 250) {
		heap_trim(H);
	} else if (k >= 245) {
		op_budget(r);
	} else if (k >= 241) {
		heap_cache_give_back(H, &cpu_caches[cur_cpu]); /* a reclaim interrupt here */
	} else if (!s->p) {
		op_alloc(r, s, k % 8 == 0);
	} else if (k < 100) {
		op_free(s);
	} else if (k < 200) {
		op_realloc(r, s);
	} else {
		check_fill(s->p, s->n, s->seed);
		ASSERT(heap_size(H, s->p) == s->n);
	}
	if (i < CHECK_FIRST || i % CHECK_EVERY == 0)
		check_heap();
	else
		check_counts();
}

/* --- misuse --------------------------------------------------------------------------------- */

static jmp_buf corrupt_jb;
/* What the misuse expects reported: static, as they change between setjmp and longjmp. */
static const char *expect_prefix;
static uint8_t *expect_named;

/* The last report starts with prefix and names p (the payload or its header). */
static bool reported(const char *prefix, const uint8_t *p)
{
	char hex[2][32];

	snprintf(hex[0], sizeof(hex[0]), "%lx", (unsigned long)(uintptr_t)p);
	snprintf(hex[1], sizeof(hex[1]), "%lx", (unsigned long)(uintptr_t)p - 16);
	return strncmp(hh.corrupt_msg, prefix, strlen(prefix)) == 0 &&
	       (strstr(hh.corrupt_msg, hex[0]) || strstr(hh.corrupt_msg, hex[1]));
}

/* A live slot, or NULL if there is none. */
static struct slot *any_live(struct reader *r)
{
	size_t first = (size_t)rd(r, 1) % SLOTS;

	for (size_t i = 0; i < SLOTS; i++)
		if (slots[(first + i) % SLOTS].p)
			return &slots[(first + i) % SLOTS];
	return NULL;
}

/*
 * Flip bits of header byte i (h: the header). The flag bits (the low four of
 * the size) are left alone: the check word does not cover them, as freeing
 * a block changes its neighbour's PREV_USED (tests/host/test_heap.c has
 * PREV_USED cases of its own).
 */
static void header_flip(uint8_t *h, unsigned i, uint8_t bits)
{
	uint8_t flip = bits & (i == 0 ? 0xf0 : 0xff);

	h[i] ^= flip ? flip : 0x80; /* never nothing */
}

/*
 * Do one misuse of s's block; it must not return. Small blocks only for
 * the header overwrite (large blocks keep no header before the payload).
 */
static void do_misuse(struct reader *r, struct slot *s, uint8_t kind)
{
	const char **prefix = &expect_prefix;
	uint8_t **named = &expect_named;
	unsigned byte;
	uint8_t *p = s->p;

	*named = p;
	switch (kind % 4) {
	case 0:
		*prefix = "double free of ";
		heap_free(H, p);
		heap_free(H, p);
		break;
	case 1:
		*prefix = "buffer overrun: ";
		p[s->n] ^= (uint8_t)(1 + rd(r, 1) % 255);
		heap_free(H, p);
		break;
	case 2:
		*prefix = "bad free of ";
		*named = p + 1 + (rd(r, 1) % 15);
		heap_free(H, *named);
		break;
	default:
		if (s->n >= HEAP_LARGE_MIN) {
			*prefix = "bad free of ";
			*named = p + P;
			heap_free(H, *named);
			break;
		}
		*prefix = "header of block ";
		byte = (unsigned)rd(r, 1) % 16;
		header_flip(p - 16, byte, (uint8_t)rd(r, 1));
		heap_free(H, p);
		break;
	}
}

/* End the input with a misuse: corrupt() must fire. The heap is dead after it. */
static void misuse(struct reader *r, uint8_t kind)
{
	struct slot *s = any_live(r);

	if (!s)
		return;
	expect_prefix = NULL;
	expect_named = NULL;
	hh.corrupt_msg[0] = '\0';
	hh.on_corrupt = &corrupt_jb;
	if (setjmp(corrupt_jb) == 0) {
		do_misuse(r, s, kind);
		ASSERT(!"corrupt() not called");
	}
	hh.on_corrupt = NULL;
	ASSERT(expect_prefix && reported(expect_prefix, expect_named));
}

/* --- the input ---------------------------------------------------------------------------------
 */

static void free_all_and_trim(void)
{
	struct heap_stats s;

	for (size_t i = 0; i < SLOTS; i++)
		if (slots[i].p)
			op_free(&slots[i]);
	hh.budget = 0;
	check_heap();
	for (cur_cpu = 0; cur_cpu < NCPUS; cur_cpu++) /* heap_trim() drains this CPU's cache */
		heap_trim(H);
	check_heap();
	heap_stats(H, &s);
	ASSERT(s.cached_blocks == 0 && s.free_blocks == 0 && s.chunks == 0);
	ASSERT(hh.mapped == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = {data, size, 0};
	uint8_t mode = (uint8_t)rd(&r, 1);
	unsigned ops = (unsigned)rd(&r, 2) % MAX_OPS + 1;

	/* A fresh heap per input (cheap: a reservation), so that every crash reproduces alone. */
	r.rng = fuzz_seed(data, size);
	ASSERT(host_heap_create(&hh, WINDOW, r.rng) == 0);
	attach_cpus();
	/* mode: bit 0 fill, bits 1-3 all clear verify (slow), bit 4 budget (bits 5-7 how much). */
	H->debug = (mode & 1 ? HEAP_DEBUG_FILL : 0) | (mode & 0xe ? 0 : HEAP_DEBUG_VERIFY);
	hh.budget = mode & 0x10 ? hh.mapped + (uint64_t)(mode >> 5) * HEAP_CHUNK_SIZE / 2 : 0;
	if (H->debug & HEAP_DEBUG_VERIFY)
		ops = MIN(ops, VERIFY_OPS);
	for (unsigned i = 0; i < ops; i++)
		op(&r, i);
	if (rd(&r, 1) % 8 == 0)
		misuse(&r, (uint8_t)rd(&r, 1));
	else
		free_all_and_trim();
	host_heap_destroy(&hh);
	memset(slots, 0, sizeof(slots));
	live = live_bytes = 0;
	return 0;
}
