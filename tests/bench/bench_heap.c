/*
 * The "heap" bench suite: times mm/heap.c natively over a host heap window
 * (tests/heap_host.h: address space reserved PROT_NONE, map and unmap by
 * mprotect) against the limits, each a ratio to a reference timed
 * in the same run: a small alloc+free pair (16-512 B) no slower than the
 * fastest of glibc, jemalloc and mimalloc (tests/bench/bench_refs.c) on the
 * same sizes, and after a fragmenting trace a single alloc+free pair at
 * most half glibc's p99.
 * Two traces (docs/bench.md, "heap"): the standard one, 20,000 live objects
 * (about 14 MiB, far beyond the L2), which the memory figures come from, and
 * a cache-resident one, 2,000 live objects (about 1.4 MiB), which the p99
 * verdict uses so that it measures the allocator rather than cache misses.
 * Next to the heap: glibc on the same sequences, and a reference
 * address-ordered first-fit free list, the heap many hobby kernels start
 * with. Reports the memory overhead and fragmentation the standard trace
 * leaves, what the poison fill on free costs alone, and info rows for
 * realloc, calloc, aligned and large blocks.
 *
 * On the host arch_irq_save() is a no-op, so the heap's fast path costs no
 * interrupt masking here; in the kernel it pays pushf/cli/popf.
 */
#define _GNU_SOURCE /* mallinfo2, malloc_trim */

#include "bench.h"

#include "../heap_host.h"
#include "../string_kernel.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SUITE	      "heap"
#define WINDOW	      (4 * GiB) /* 2 GiB of chunk slots, 2 GiB of large slots */
#define SECRET	      0x5eed5eed5eed5eedull
#define SMALL_OPS     4096 /* pairs per batch, and the length of the size table */
#define SMALL_MIN     16
#define SMALL_MAX     512
#define ROUNDS	      9	 /* each figure pools rounds, alternating heap and glibc */
#define ROUND_BATCHES 23 /* batches per figure per round */
#define NSAMPLES      (ROUNDS * ROUND_BATCHES)

/*
 * The fragmenting traces (docs/bench.md): live objects, then replacement
 * steps. The standard trace and the cache-resident one differ only in how
 * many objects are live.
 */
#define TRACE_LIVE   20000 /* the standard trace: about 14 MiB requested */
#define CR_LIVE	     2000  /* the cache-resident trace: about 1.4 MiB */
#define TRACE_STEPS  1000000
#define TRACE_MIN    16 /* sizes log-uniform in [TRACE_MIN, TRACE_MIN << TRACE_LOG2) */
#define TRACE_LOG2   8
#define TRACE_SEED   0x243f6a8885a308d3ull
#define PAIR_SEED    0x13198a2e03707344ull
#define PAIRS	     200000 /* single pairs timed after the trace, per allocator */
#define PAIR_BLOCKS  20	    /* heap and glibc alternate in blocks of PAIRS / PAIR_BLOCKS */
#define REF_STEPS    50000  /* the first-fit reference's standard trace is cut short: it is slow */
#define REF_PAIRS    2000
#define REF_CR_STEPS 200000 /* and its cache-resident trace */
#define REF_CR_PAIRS 20000
#define REF_ARENA    (256 * MiB)

#define GROW_MAX   2048 /* realloc row: grow by 16 B up to this, then shrink to 16 B */
#define LARGE_SIZE (16 * KiB)

#define LIMIT_RATIO	     1.0 /* small pair: at most the fastest of glibc, jemalloc, mimalloc */
#define LIMIT_FRAG_P99_RATIO 0.5 /* p99 after the cache-resident trace: half glibc's */

enum alloc_kind { A_HEAP, A_GLIBC, A_REF, NKINDS };

static const char *const kind_names[NKINDS] = {"heap", "glibc", "ref"};

/* The info rows: each a heap workload and its glibc counterpart. */
enum info_case { I_REALLOC, I_CALLOC, I_ALIGN64, I_ALIGN4K, I_LARGE, NINFO };

static struct host_heap hh;
static struct bench_anomalies anomalies;

/*
 * ---- the timer: TSC cycles for single operations -------------------------
 *
 * A single pair takes tens of ns, and the TSC may advance in coarse steps:
 * AMD's Zen CPUs count it at 100 MHz and add P0 / 100 MHz cycles a step
 * (26 cycles, 10 ns, on the 2.6 GHz build machine; consecutive reads in one
 * step differ by 1), and a VM may offer no other cycle counter (no PMU, no
 * RDPRU). So each pair is measured in whole steps, and the step is measured
 * rather than assumed. Two things make percentiles finer than a step:
 *
 *  - Dither. A random spin of 0 to 2 steps before each timing puts its
 *    start at a uniformly random phase U of the step grid. A pair of d
 *    cycles then reads k steps exactly when d + U falls in step k: the
 *    reads are d + U rounded down to the grid, so they are unbiased (their
 *    mean is d's) and the share of reads at or below k steps is exactly the
 *    share of d + U below k + 1 steps.
 *  - Interpolation. So each read of k steps stands for d + U spread evenly
 *    over [k, k + 1) steps, that is d over [k - 1/2, k + 1/2) (U's mean is
 *    half a step), and a percentile is interpolated inside its step from
 *    the counts below and in it (step_quantile()). What is left is d's
 *    distribution smoothed over one step: a p99 within a few ns.
 *
 * The timer's own cost (the median of empty timings, dithered and
 * interpolated the same way) is subtracted.
 */

static double tsc_per_ns;   /* calibrated against CLOCK_MONOTONIC */
static double tsc_step;	    /* cycles the TSC advances at a time (1 on a fine TSC) */
static double tsc_overhead; /* cycles of an empty timing (median): subtracted */
static uint64_t dither_rng = 0x3c6ef372fe94f82bull;

/* The TSC, fenced so the timed operations neither start early nor finish late. */
static inline uint64_t tsc(void)
{
	uint64_t t;

	__asm__ volatile("" : : : "memory");
	__builtin_ia32_lfence();
	t = __builtin_ia32_rdtsc();
	__builtin_ia32_lfence();
	__asm__ volatile("" : : : "memory");
	return t;
}

/* A spin of n iterations of about a cycle each, which the compiler keeps. */
static inline void spin(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		__asm__ volatile("");
}

/* Spin 0 to about 2 TSC steps, at random: the next timing starts at a random phase. */
static inline void dither(void)
{
	spin((unsigned)(bench_xorshift(&dither_rng) % (unsigned)(2 * tsc_step + 1)));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/*
 * The TSC's step: the most common difference of back-to-back reads, not
 * counting the 1s of reads within one step (the CPU keeps reads distinct).
 */
static double tsc_measure_step(void)
{
	static uint32_t hist[256];
	unsigned best = 1;

	for (unsigned i = 0; i < 100000; i++) {
		uint64_t a = __builtin_ia32_rdtsc(), d = __builtin_ia32_rdtsc() - a;

		hist[d < 256 ? d : 0]++;
	}
	for (unsigned d = 3; d < 256; d++)
		if (hist[d] > hist[best] || best == 1)
			best = hist[d] ? d : best;
	/* A fine TSC (steps under 3 cycles) shows nothing above 2 often: treat it as 1. */
	return best > 2 && hist[best] > 1000 ? best : 1;
}

static double step_quantile(const uint64_t *c, unsigned n, double p);

/*
 * Cycles per ns over 50 ms of spinning, the TSC's step, and the cost of an
 * empty timing: the median of dithered ones, interpolated as any other
 * (a mean would take in the odd interrupt).
 */
static void tsc_calibrate(void)
{
	enum { EMPTY = 100000 };
	static uint64_t empty[EMPTY];
	uint64_t t0 = bench_now_ns(), c0 = tsc(), t1, c1;

	do
		t1 = bench_now_ns();
	while (t1 - t0 < 50000000);
	c1 = tsc();
	tsc_per_ns = (double)(c1 - c0) / (double)(t1 - t0);
	tsc_step = tsc_measure_step();
	for (unsigned i = 0; i < EMPTY; i++) {
		uint64_t a;

		dither();
		a = tsc();
		empty[i] = tsc() - a;
	}
	qsort(empty, EMPTY, sizeof(empty[0]), cmp_u64);
	tsc_overhead = 0;
	tsc_overhead = step_quantile(empty, EMPTY, 0.5) * tsc_per_ns;
}

/*
 * The p-quantile (0 < p < 1) of n single timings (cycles, sorted in place),
 * in ns with the timer's cost taken off: each timing of k steps spread
 * evenly over [k - 1/2, k + 1/2) steps.
 */
static double step_quantile(const uint64_t *c, unsigned n, double p)
{
	double rank = p * n, x;
	unsigned i = MIN((unsigned)rank, n - 1), lo = i, hi = i + 1;
	uint64_t k = (uint64_t)((double)c[i] / tsc_step + 0.5);

	while (lo > 0 && (uint64_t)((double)c[lo - 1] / tsc_step + 0.5) == k)
		lo--;
	while (hi < n && (uint64_t)((double)c[hi] / tsc_step + 0.5) == k)
		hi++;
	x = ((double)k - 0.5 + (rank - lo) / (hi - lo)) * tsc_step;
	return MAX(x - tsc_overhead, 0) / tsc_per_ns;
}

/* Summarise n single timings (cycles, sorted here) as ns: median, p99, min. */
static void summarise_timings(uint64_t *c, unsigned n, struct bench_result *r)
{
	memset(r, 0, sizeof(*r));
	if (n == 0)
		return;
	qsort(c, n, sizeof(*c), cmp_u64);
	r->median = step_quantile(c, n, 0.5);
	r->p99 = step_quantile(c, n, 0.99);
	r->min = MAX((double)c[0] - tsc_overhead, 0) / tsc_per_ns;
	r->samples = n;
}

/* ---- set-up helpers -------------------------------------------------------- */

/* The bench's own big arrays come from mmap, so they stay out of glibc's figures. */
static void *big_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "bench heap: mmap of %zu bytes failed\n", bytes);
		exit(2);
	}
	return p;
}

static void heap_create(void)
{
	if (host_heap_create(&hh, WINDOW, SECRET) != 0) {
		fprintf(stderr, "bench heap: cannot reserve a %llu GiB window\n",
			(unsigned long long)(WINDOW / GiB));
		exit(2);
	}
}

/* heap_check() now; a failure becomes an anomaly naming when. */
static bool heap_checked(const char *when)
{
	char msg[160];

	if (heap_check(&hh.heap, msg, sizeof(msg)) == 0)
		return true;
	bench_anomaly(&anomalies, "heap_check %s: %s", when, msg);
	return false;
}

static double uniform01(uint64_t *rng)
{
	return (double)(bench_xorshift(rng) >> 11) * 0x1p-53;
}

/* A trace size: floor(16 * 2^(8u)), u uniform in [0, 1): log-uniform in [16, 4096). */
static uint16_t trace_size(uint64_t *rng)
{
	double s = TRACE_MIN * exp2(TRACE_LOG2 * uniform01(rng));

	return (uint16_t)MIN(s, (TRACE_MIN << TRACE_LOG2) - 1);
}

/* ---- the reference: one address-ordered free list, first fit ---------------- */

#define REF_HDR 16

struct ref_block {
	uint64_t size;		/* bytes, header included */
	struct ref_block *next; /* the next free block by address (free blocks only) */
};

struct ref_heap {
	uint8_t *base;
	struct ref_block *free;
	uintptr_t top; /* highest block end ever handed out: what a brk-style heap maps */
	uint64_t used; /* bytes in allocated blocks, headers included */
};

static struct ref_heap ref;

static void ref_init(void)
{
	ref.base = big_alloc(REF_ARENA);
	ref.free = (struct ref_block *)ref.base;
	ref.free->size = REF_ARENA;
	ref.free->next = NULL;
	ref.top = (uintptr_t)ref.base;
	ref.used = 0;
}

/*
 * The first free block that fits, split if the rest can hold a block. Out of
 * line, as is ref_free(), so that any_alloc() and any_free() stay small enough
 * to inline into the timed loops.
 */
__attribute__((noinline)) static void *ref_alloc(size_t n)
{
	uint64_t need = ALIGN_UP(MAX(n, 16), 16) + REF_HDR;
	struct ref_block **link = &ref.free, *b;

	for (b = *link; b && b->size < need; b = *link)
		link = &b->next;
	if (!b)
		return NULL;
	if (b->size - need >= REF_HDR + 16) {
		struct ref_block *rest = (struct ref_block *)((uint8_t *)b + need);

		rest->size = b->size - need;
		rest->next = b->next;
		*link = rest;
		b->size = need;
	} else {
		*link = b->next;
	}
	ref.used += b->size;
	ref.top = MAX(ref.top, (uintptr_t)b + b->size);
	return (uint8_t *)b + REF_HDR;
}

/* Insert in address order, merging with the neighbours it touches. */
__attribute__((noinline)) static void ref_free(void *p)
{
	struct ref_block *b, *prev = NULL, *next = ref.free;

	if (!p)
		return;
	b = (struct ref_block *)((uint8_t *)p - REF_HDR);
	while (next && next < b) {
		prev = next;
		next = next->next;
	}
	ref.used -= b->size;
	if (next && (uint8_t *)b + b->size == (uint8_t *)next) {
		b->size += next->size;
		next = next->next;
	}
	b->next = next;
	if (prev && (uint8_t *)prev + prev->size == (uint8_t *)b) {
		prev->size += b->size;
		prev->next = next;
	} else if (prev) {
		prev->next = b;
	} else {
		ref.free = b;
	}
}

/* ---- one interface over the three allocators (a predictable switch) ------- */

static void *any_alloc(enum alloc_kind k, size_t n)
{
	switch (k) {
	case A_HEAP:
		return heap_alloc(&hh.heap, n, 0);
	case A_GLIBC:
		return malloc(n);
	default:
		return ref_alloc(n);
	}
}

static void any_free(enum alloc_kind k, void *p)
{
	switch (k) {
	case A_HEAP:
		heap_free(&hh.heap, p);
		break;
	case A_GLIBC:
		free(p);
		break;
	default:
		ref_free(p);
	}
}

/* ---- a: small pairs, and the info rows: batch workloads --------------------- */

static uint16_t small_sizes[SMALL_OPS]; /* uniform in [16, 512] */

static void small_sizes_setup(void)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	for (unsigned i = 0; i < SMALL_OPS; i++)
		small_sizes[i] = SMALL_MIN + bench_xorshift(&rng) % (SMALL_MAX - SMALL_MIN + 1);
}

static inline size_t small_size(uint64_t i)
{
	return small_sizes[i % SMALL_OPS];
}

/*
 * The poison fill alone. heap_free() fills a small block's whole payload
 * with HEAP_POISON: its block size minus the 16-byte header, where the block
 * is the request plus header and 8-byte canary, rounded up to 16, at least
 * 48 (heap_block_for() in mm/heap_internal.h, which only the heap includes;
 * block_size_check() verifies the copy). glibc's fill covers its usable
 * size, which is never more than that.
 */
#define BLOCK_HDR      16
#define BLOCK_CANARY   8
#define BLOCK_MIN      48
#define POISON_BUF_MAX 1024

_Static_assert(SMALL_MAX + BLOCK_HDR + BLOCK_CANARY + HEAP_ALIGN <= POISON_BUF_MAX,
	       "poison_buf holds the largest fill");

static uint16_t poison_len[SMALL_OPS];	     /* the heap's fill per size of small_sizes */
static uint16_t glibc_poison_len[SMALL_OPS]; /* the same, capped to glibc's usable size */
static _Alignas(64) unsigned char poison_buf[64 + POISON_BUF_MAX];
static unsigned char *const poison_at = poison_buf + 16; /* 16-aligned, not 64 */

static size_t block_size(size_t n)
{
	return MAX(ALIGN_UP(n + BLOCK_HDR + BLOCK_CANARY, HEAP_ALIGN), BLOCK_MIN);
}

static void poison_setup(void)
{
	for (unsigned i = 0; i < SMALL_OPS; i++) {
		void *p = malloc(small_sizes[i]);

		poison_len[i] = (uint16_t)(block_size(small_sizes[i]) - BLOCK_HDR);
		glibc_poison_len[i] = (uint16_t)MIN(poison_len[i], malloc_usable_size(p));
		free(p);
	}
}

/*
 * block_size() against the heap itself: on a fresh heap, two blocks of the
 * same size in a row are neighbours (carved one after the other, or cached
 * together), so their distance is the block size.
 */
static void block_size_check(void)
{
	heap_create();
	for (size_t n = SMALL_MIN; n <= SMALL_MAX; n++) {
		uint8_t *a = heap_alloc(&hh.heap, n, 0), *b = heap_alloc(&hh.heap, n, 0);
		size_t d = a && b ? (size_t)(a > b ? a - b : b - a) : 0;

		if (d != block_size(n))
			bench_anomaly(&anomalies, "block of %zu B: %zu B apart, bench assumes %zu",
				      n, d, block_size(n));
		heap_free(&hh.heap, a);
		heap_free(&hh.heap, b);
	}
	host_heap_destroy(&hh);
}

/* Failed allocations inside timed workloads: counted, never branched on. */
static uint64_t null_allocs;

static void work_heap_pair(void *ctx, uint64_t ops)
{
	for (uint64_t i = 0; i < ops; i++) {
		void *p = heap_alloc(&hh.heap, small_size(i), 0);

		null_allocs += !p;
		heap_free(&hh.heap, p);
	}
}

/* bench_keep() lets the pointer escape: otherwise clang may drop malloc+free. */
static void work_glibc_pair(void *ctx, uint64_t ops)
{
	for (uint64_t i = 0; i < ops; i++) {
		void *p = malloc(small_size(i));

		bench_keep((uintptr_t)p);
		null_allocs += !p;
		free(p);
	}
}

/*
 * The heap's fill alone: the kernel's memset (arch/x86_64/string.S, 8-byte
 * stores), which the bench's heap calls as the kernel's does
 * (mm/heap_internal.h, heap_poison).
 */
static void work_memset(void *ctx, uint64_t ops)
{
	for (uint64_t i = 0; i < ops; i++) {
		kernel_memset(poison_at, HEAP_POISON, poison_len[i % SMALL_OPS]);
		bench_keep((uintptr_t)poison_at);
	}
}

/* The same fills by glibc's memset (vector stores, which a kernel cannot use). */
static void work_libc_memset(void *ctx, uint64_t ops)
{
	for (uint64_t i = 0; i < ops; i++) {
		memset(poison_at, HEAP_POISON, poison_len[i % SMALL_OPS]);
		bench_keep((uintptr_t)poison_at);
	}
}

/* glibc poisoning as the heap does, with the fill ctx points to (a memset). */
typedef void *fill_fn(void *dst, int c, size_t n);

static void work_glibc_pair_memset(void *ctx, uint64_t ops)
{
	fill_fn *fill = (fill_fn *)ctx;

	for (uint64_t i = 0; i < ops; i++) {
		void *p = malloc(small_size(i));

		null_allocs += !p;
		if (p)
			fill(p, HEAP_POISON, glibc_poison_len[i % SMALL_OPS]);
		bench_keep((uintptr_t)p);
		free(p);
	}
}

/* jemalloc or mimalloc (tests/bench/bench_refs.c) on the same sizes; nothing if missing. */
static void work_ref_pair(void *ctx, uint64_t ops)
{
	const struct bench_malloc *m = ctx;

	for (uint64_t i = 0; m && i < ops; i++) {
		void *p = m->malloc(small_size(i));

		bench_keep((uintptr_t)p);
		null_allocs += !p;
		m->free(p);
	}
}

static void work_heap_calloc(void *ctx, uint64_t ops)
{
	for (uint64_t i = 0; i < ops; i++) {
		void *p = heap_calloc(&hh.heap, 1, small_size(i));

		null_allocs += !p;
		heap_free(&hh.heap, p);
	}
}

static void work_glibc_calloc(void *ctx, uint64_t ops)
{
	for (uint64_t i = 0; i < ops; i++) {
		void *p = calloc(1, small_size(i));

		bench_keep((uintptr_t)p);
		null_allocs += !p;
		free(p);
	}
}

/* ctx points at the alignment. */
static void work_heap_aligned(void *ctx, uint64_t ops)
{
	size_t align = *(const size_t *)ctx;

	for (uint64_t i = 0; i < ops; i++) {
		void *p = heap_alloc(&hh.heap, small_size(i), align);

		null_allocs += !p || !IS_ALIGNED(p, align);
		heap_free(&hh.heap, p);
	}
}

static void work_glibc_aligned(void *ctx, uint64_t ops)
{
	size_t align = *(const size_t *)ctx;

	for (uint64_t i = 0; i < ops; i++) {
		void *p = aligned_alloc(align, small_size(i));

		bench_keep((uintptr_t)p);
		null_allocs += !p;
		free(p);
	}
}

static void work_heap_large(void *ctx, uint64_t ops)
{
	for (uint64_t i = 0; i < ops; i++) {
		void *p = heap_alloc(&hh.heap, LARGE_SIZE, 0);

		null_allocs += !p;
		heap_free(&hh.heap, p);
	}
}

static void work_glibc_large(void *ctx, uint64_t ops)
{
	for (uint64_t i = 0; i < ops; i++) {
		void *p = malloc(LARGE_SIZE);

		bench_keep((uintptr_t)p);
		null_allocs += !p;
		free(p);
	}
}

/* One block grown by 16 B per op up to GROW_MAX, then shrunk back to 16 B (1 op in 128). */
struct grow {
	enum alloc_kind kind;
	void *p;
	size_t size;
	uint64_t grows, moves; /* growing reallocs, and those that moved the block */
};

static void *grow_realloc(struct grow *g, size_t n)
{
	return g->kind == A_HEAP ? heap_realloc(&hh.heap, g->p, n) : realloc(g->p, n);
}

static void work_realloc(void *ctx, uint64_t ops)
{
	struct grow *g = ctx;

	for (uint64_t i = 0; i < ops; i++) {
		size_t n = g->size + 16 > GROW_MAX ? 16 : g->size + 16;
		void *q = grow_realloc(g, n);

		null_allocs += !q;
		if (n > g->size) {
			g->grows++;
			g->moves += q != g->p;
		}
		g->p = q;
		g->size = n;
	}
}

/* ---- b: the fragmenting traces and single timed pairs ---------------------- */

/* A trace's size and its random choices, made before anything is timed. */
struct trace_def {
	unsigned live;			   /* objects live throughout */
	uint16_t *init_size;		   /* live: the first live set */
	uint16_t *step_size, *step_victim; /* TRACE_STEPS: free victim, allocate size */
	uint16_t *pair_size, *pair_victim; /* PAIRS: allocate size, free victim */
};

static struct trace_def trace_std = {.live = TRACE_LIVE}, trace_cr = {.live = CR_LIVE};

/* The same generators and draws for both traces; only the victims' range differs. */
static void trace_generate(struct trace_def *d)
{
	uint64_t rng = TRACE_SEED;

	d->init_size = big_alloc(d->live * sizeof(uint16_t));
	d->step_size = big_alloc(TRACE_STEPS * sizeof(uint16_t));
	d->step_victim = big_alloc(TRACE_STEPS * sizeof(uint16_t));
	d->pair_size = big_alloc(PAIRS * sizeof(uint16_t));
	d->pair_victim = big_alloc(PAIRS * sizeof(uint16_t));
	for (unsigned i = 0; i < d->live; i++)
		d->init_size[i] = trace_size(&rng);
	for (unsigned i = 0; i < TRACE_STEPS; i++) {
		d->step_victim[i] = (uint16_t)(bench_xorshift(&rng) % d->live);
		d->step_size[i] = trace_size(&rng);
	}
	rng = PAIR_SEED;
	for (unsigned i = 0; i < PAIRS; i++) {
		d->pair_size[i] = trace_size(&rng);
		d->pair_victim[i] = (uint16_t)(bench_xorshift(&rng) % d->live);
	}
}

/* One allocator's live set while it runs a trace. */
struct trace {
	const struct trace_def *def;
	enum alloc_kind kind;
	void **live;	   /* def->live blocks */
	uint16_t *req;	   /* the size each was asked for */
	uint64_t live_req; /* their sum */
	double step_ns;	   /* mean time of a trace step */
};

static void trace_put(struct trace *t, unsigned slot, void *p, uint16_t size)
{
	t->live_req -= t->req[slot];
	t->live_req += p ? size : 0;
	t->live[slot] = p;
	t->req[slot] = p ? size : 0;
	null_allocs += !p;
}

/* The first live set, then steps steps of the trace, timed as a whole. */
static void trace_run(struct trace *t, const struct trace_def *d, enum alloc_kind kind,
		      uint32_t steps)
{
	uint64_t t0;

	memset(t, 0, sizeof(*t));
	t->def = d;
	t->kind = kind;
	t->live = big_alloc(d->live * sizeof(void *));
	t->req = big_alloc(d->live * sizeof(uint16_t));
	for (unsigned i = 0; i < d->live; i++)
		trace_put(t, i, any_alloc(kind, d->init_size[i]), d->init_size[i]);
	t0 = bench_now_ns();
	for (uint32_t i = 0; i < steps; i++) {
		unsigned v = d->step_victim[i];

		any_free(kind, t->live[v]);
		t->live[v] = NULL;
		trace_put(t, v, any_alloc(kind, d->step_size[i]), d->step_size[i]);
	}
	t->step_ns = (double)(bench_now_ns() - t0) / (double)steps;
}

/* Free the whole live set (the reference's goes with its arena) and the trace's arrays. */
static void trace_release(struct trace *t)
{
	for (unsigned i = 0; i < t->def->live && t->kind != A_REF; i++)
		any_free(t->kind, t->live[i]);
	munmap(t->live, t->def->live * sizeof(void *));
	munmap(t->req, t->def->live * sizeof(uint16_t));
}

/*
 * Pairs [from, to), each timed alone (in TSC cycles, dithered: the timer
 * section): allocate pair_size[i], free the victim it replaces.
 */
static void time_pairs(struct trace *t, unsigned from, unsigned to, uint64_t *cycles)
{
	const struct trace_def *d = t->def;

	for (unsigned i = from; i < to; i++) {
		unsigned v = d->pair_victim[i];
		void *old = t->live[v], *p;
		uint64_t c0, c1;

		dither();
		c0 = tsc();
		p = any_alloc(t->kind, d->pair_size[i]);
		any_free(t->kind, old);
		c1 = tsc();
		t->live[v] = NULL;
		trace_put(t, v, p, d->pair_size[i]);
		cycles[i] = c1 - c0;
	}
}

/*
 * The latency of one random load in a chain through bytes of memory, as
 * many as the heap mapped for a trace: what each cache line an operation
 * touches for the first time can cost, the floor under b's tails.
 */
#define CHASE_LOADS 2000000

static double chase_ns(size_t bytes)
{
	size_t n = bytes / 64, *perm = big_alloc(n * sizeof(size_t)), at = 0;
	uint64_t *line = big_alloc(bytes), rng = 0x452821e638d01377ull, t0;

	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = bench_xorshift(&rng) % (i + 1), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	/* One cycle through every line in shuffled order: word 0 of each holds the next index. */
	for (size_t i = 0; i < n; i++)
		line[perm[i] * 8] = perm[(i + 1) % n] * 8;
	for (size_t i = 0; i < 2 * n; i++)
		at = line[at];
	t0 = bench_now_ns();
	for (unsigned i = 0; i < CHASE_LOADS; i++)
		at = line[at];
	bench_keep(at);
	t0 = bench_now_ns() - t0;
	munmap(perm, n * sizeof(size_t));
	munmap(line, bytes);
	return (double)t0 / CHASE_LOADS;
}

/* ---- the measurements --------------------------------------------------- */

/* b and c on one trace: single pairs after it, and its steps. */
struct frag {
	const struct trace_def *def;
	struct bench_result pairs[NKINDS]; /* ns */
	double pair_max[NKINDS];
	double step_ns[NKINDS];
	uint32_t ref_steps;		   /* the reference's shortened trace */
	unsigned ref_pairs;		   /* and its pairs */
	uint64_t pair_grows, pair_shrinks; /* chunks the heap mapped / unmapped during the pairs */
	uint64_t heap_mapped, heap_req; /* the heap's chunk bytes and live bytes after the trace */
	double chase_ns;		/* one random load in heap_mapped bytes */
	/* heap p99 / glibc p99 per alternating block: median, lowest, highest */
	double block_ratio[3];
};

/* The a rows, in sampling order. */
enum small_case {
	S_HEAP,
	S_GLIBC,
	S_MEMSET,
	S_LIBC_MEMSET,
	S_GLIBC_MEMSET,
	S_GLIBC_KFILL,
	S_JEMALLOC,
	S_MIMALLOC,
	NSMALL
};

/* What the suite measured, kept for the table and the verdicts. */
static struct {
	struct bench_result small[NSMALL];  /* a */
	struct bench_result info[NINFO][2]; /* e: heap, glibc */
	struct grow grow[2];
	struct frag std, cr; /* b and c: the standard trace; b2 and c2: the cache-resident one */
	struct heap_stats trace_st, trim_st;
	uint64_t trace_req;
	struct mallinfo2 glibc_before, glibc_after;
	uint64_t glibc_req;
	uint64_t ref_top, ref_used, ref_req;
	bool checked;
} res;

/* A workload for sample_rounds(). */
struct work {
	bench_fn *fn;
	void *ctx;
};

/*
 * Sample n workloads (at most NSMALL) in alternating rounds, so slow drifts
 * reach all of them; summarise each into r[k].
 */
static void sample_rounds(const struct work *w, unsigned n, uint64_t ops, struct bench_result *r)
{
	static double v[NSMALL][NSAMPLES];

	for (unsigned i = 0; i < ROUNDS; i++)
		for (unsigned k = 0; k < n; k++)
			bench_sample(w[k].fn, w[k].ctx, ops, ROUND_BATCHES,
				     &v[k][i * ROUND_BATCHES]);
	for (unsigned k = 0; k < n; k++)
		bench_summarise(v[k], NSAMPLES, &r[k]);
}

static void sample_alternating(bench_fn *fa, void *ca, bench_fn *fb, void *cb, uint64_t ops,
			       struct bench_result r[2])
{
	const struct work w[2] = {{fa, ca}, {fb, cb}};

	sample_rounds(w, 2, ops, r);
}

/* a: small pairs on an empty heap, against glibc, and the poison fill alone. */
static void measure_small(void)
{
	const struct work w[NSMALL] = {
	    [S_HEAP] = {work_heap_pair, NULL},
	    [S_GLIBC] = {work_glibc_pair, NULL},
	    [S_MEMSET] = {work_memset, NULL},
	    [S_LIBC_MEMSET] = {work_libc_memset, NULL},
	    [S_GLIBC_MEMSET] = {work_glibc_pair_memset, (void *)memset},
	    [S_GLIBC_KFILL] = {work_glibc_pair_memset, (void *)kernel_memset},
	    [S_JEMALLOC] = {work_ref_pair, (void *)bench_malloc_ref(BENCH_JEMALLOC)},
	    [S_MIMALLOC] = {work_ref_pair, (void *)bench_malloc_ref(BENCH_MIMALLOC)},
	};

	block_size_check();
	poison_setup();
	heap_create();
	sample_rounds(w, NSMALL, SMALL_OPS, res.small);
	res.checked &= heap_checked("after the small pairs");
	host_heap_destroy(&hh);
}

/* e: the info rows on one fresh heap, each against its glibc counterpart. */
static void measure_info(void)
{
	static size_t align64 = 64, align4k = 4096;

	heap_create();
	res.grow[0] = (struct grow){.kind = A_HEAP, .p = heap_alloc(&hh.heap, 16, 0), .size = 16};
	res.grow[1] = (struct grow){.kind = A_GLIBC, .p = malloc(16), .size = 16};
	sample_alternating(work_realloc, &res.grow[0], work_realloc, &res.grow[1], GROW_MAX / 16,
			   res.info[I_REALLOC]);
	heap_free(&hh.heap, res.grow[0].p);
	free(res.grow[1].p);
	sample_alternating(work_heap_calloc, NULL, work_glibc_calloc, NULL, SMALL_OPS,
			   res.info[I_CALLOC]);
	sample_alternating(work_heap_aligned, &align64, work_glibc_aligned, &align64, SMALL_OPS,
			   res.info[I_ALIGN64]);
	sample_alternating(work_heap_aligned, &align4k, work_glibc_aligned, &align4k, 1024,
			   res.info[I_ALIGN4K]);
	sample_alternating(work_heap_large, NULL, work_glibc_large, NULL, 64, res.info[I_LARGE]);
	res.checked &= heap_checked("after the info rows");
	host_heap_destroy(&hh);
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * The p99 ratio block by block: heap block b against glibc block b, timed
 * one after the other, so a burst of host load or a slow phase of the
 * machine lands on both sides of one ratio, and the median of the
 * PAIR_BLOCKS ratios is not moved by the few blocks it hits. cyc[k] holds
 * PAIRS timings of allocator k in pair order (blocks in a row).
 */
static void block_ratios(uint64_t *const cyc[2], double out[3])
{
	enum { N = PAIRS / PAIR_BLOCKS };
	_Static_assert(PAIR_BLOCKS % 2 == 0 && PAIRS % PAIR_BLOCKS == 0,
		       "whole blocks, a median of two");
	static uint64_t tmp[N];
	double r[PAIR_BLOCKS], p99[2];

	for (unsigned b = 0; b < PAIR_BLOCKS; b++) {
		for (unsigned k = 0; k < 2; k++) {
			memcpy(tmp, cyc[k] + b * N, sizeof(tmp));
			qsort(tmp, N, sizeof(tmp[0]), cmp_u64);
			p99[k] = step_quantile(tmp, N, 0.99);
		}
		r[b] = ratio(p99[0], p99[1]);
	}
	qsort(r, PAIR_BLOCKS, sizeof(r[0]), cmp_double);
	out[0] = (r[PAIR_BLOCKS / 2 - 1] + r[PAIR_BLOCKS / 2]) / 2; /* PAIR_BLOCKS is even */
	out[1] = r[0];
	out[2] = r[PAIR_BLOCKS - 1];
}

/*
 * b: a trace on glibc and on the heap, then their pairs in alternating
 * blocks. For the standard trace, glibc's memory use from mallinfo2 around
 * its trace, while its arena holds little else.
 */
static void measure_fragmented(const struct trace_def *d, struct frag *f)
{
	static struct trace th, tg;
	uint64_t *cyc[2] = {big_alloc(PAIRS * sizeof(uint64_t)),
			    big_alloc(PAIRS * sizeof(uint64_t))};
	struct heap_stats s0, s1;

	f->def = d;
	malloc_trim(0);
	if (d == &trace_std)
		res.glibc_before = mallinfo2();
	trace_run(&tg, d, A_GLIBC, TRACE_STEPS);
	if (d == &trace_std) {
		res.glibc_after = mallinfo2();
		res.glibc_req = tg.live_req;
	}
	heap_create();
	trace_run(&th, d, A_HEAP, TRACE_STEPS);
	heap_stats(&hh.heap, &s0);
	f->heap_mapped = s0.chunk_bytes + s0.large_bytes;
	f->heap_req = th.live_req;
	for (unsigned b = 0; b < PAIR_BLOCKS; b++) {
		unsigned from = b * (PAIRS / PAIR_BLOCKS), to = from + PAIRS / PAIR_BLOCKS;

		time_pairs(&th, from, to, cyc[0]);
		time_pairs(&tg, from, to, cyc[1]);
	}
	heap_stats(&hh.heap, &s1);
	f->pair_grows = s1.grows - s0.grows;
	f->pair_shrinks = s1.shrinks - s0.shrinks;
	block_ratios(cyc, f->block_ratio);
	for (unsigned k = 0; k < 2; k++) {
		summarise_timings(cyc[k], PAIRS, &f->pairs[k]);
		f->pair_max[k] = (double)cyc[k][PAIRS - 1] / tsc_per_ns;
		munmap(cyc[k], PAIRS * sizeof(uint64_t));
	}
	f->step_ns[A_HEAP] = th.step_ns;
	f->step_ns[A_GLIBC] = tg.step_ns;
	res.checked &= heap_checked(d == &trace_std ? "after the standard trace's pairs"
						    : "after the cache-resident trace's pairs");
	trace_release(&th);
	trace_release(&tg);
	host_heap_destroy(&hh);
}

/*
 * b for the reference: a shorter trace, fewer pairs (each costs
 * microseconds). The memory figures are the standard trace's.
 */
static void measure_ref(const struct trace_def *d, uint32_t steps, unsigned pairs, struct frag *f)
{
	static struct trace tr;
	uint64_t *cyc = big_alloc(pairs * sizeof(uint64_t));

	ref_init();
	trace_run(&tr, d, A_REF, steps);
	if (d == &trace_std) {
		res.ref_top = ref.top - (uintptr_t)ref.base;
		res.ref_used = ref.used;
		res.ref_req = tr.live_req;
	}
	time_pairs(&tr, 0, pairs, cyc);
	summarise_timings(cyc, pairs, &f->pairs[A_REF]);
	f->pair_max[A_REF] = (double)cyc[pairs - 1] / tsc_per_ns;
	f->step_ns[A_REF] = tr.step_ns;
	f->ref_steps = steps;
	f->ref_pairs = pairs;
	trace_release(&tr);
	munmap(cyc, pairs * sizeof(uint64_t));
	munmap(ref.base, REF_ARENA);
}

/* d: the trace again on a fresh heap, for its memory; then heap_trim(). */
static void measure_memory(void)
{
	static struct trace th;

	heap_create();
	trace_run(&th, &trace_std, A_HEAP, TRACE_STEPS);
	heap_stats(&hh.heap, &res.trace_st);
	res.trace_req = th.live_req;
	if (res.trace_st.live_bytes != th.live_req || res.trace_st.live_blocks != TRACE_LIVE)
		bench_anomaly(&anomalies,
			      "heap_stats: %llu live blocks of %llu B, bench: %d of %llu",
			      (unsigned long long)res.trace_st.live_blocks,
			      (unsigned long long)res.trace_st.live_bytes, TRACE_LIVE,
			      (unsigned long long)th.live_req);
	heap_trim(&hh.heap);
	heap_stats(&hh.heap, &res.trim_st);
	res.checked &= heap_checked("after the trace and heap_trim");
	trace_release(&th);
	host_heap_destroy(&hh);
}

/* ---- the table and the verdicts ---------------------------------------------- */

static void print_small(void)
{
	const struct bench_result *r = res.small;
	unsigned lo = ~0u, hi = 0, glo = ~0u, ghi = 0;

	for (unsigned i = 0; i < SMALL_OPS; i++) {
		lo = MIN(lo, poison_len[i]);
		hi = MAX(hi, poison_len[i]);
		glo = MIN(glo, glibc_poison_len[i]);
		ghi = MAX(ghi, glibc_poison_len[i]);
	}
	bench_row(SUITE, "a heap_alloc+heap_free", "16-512", &r[S_HEAP],
		  "empty heap; random sizes, %d pairs/batch", SMALL_OPS);
	bench_row(SUITE, "a glibc malloc+free", "16-512", &r[S_GLIBC],
		  "same sizes; heap/glibc %.2f", ratio(r[S_HEAP].median, r[S_GLIBC].median));
	for (unsigned k = S_JEMALLOC; k <= S_MIMALLOC; k++)
		if (bench_malloc_ref(k == S_JEMALLOC ? BENCH_JEMALLOC : BENCH_MIMALLOC))
			bench_row(SUITE,
				  k == S_JEMALLOC ? "a jemalloc malloc+free"
						  : "a mimalloc malloc+free",
				  "16-512", &r[k], "same sizes; heap/this %.2f",
				  ratio(r[S_HEAP].median, r[k].median));
	bench_row(SUITE, "a poison fill alone", "16-512", &r[S_MEMSET],
		  "kernel memset (string.S), %u-%u B: the heap's fill on free; p 16 mod 64", lo,
		  hi);
	bench_row(SUITE, "a glibc memset, same fills", "16-512", &r[S_LIBC_MEMSET],
		  "vector stores (no kernel may use them); kernel/glibc %.2f",
		  ratio(r[S_MEMSET].median, r[S_LIBC_MEMSET].median));
	bench_row(SUITE, "a glibc + same memset", "16-512", &r[S_GLIBC_MEMSET],
		  "malloc, memset its usable size (%u-%u B), free; heap/this %.2f", glo, ghi,
		  ratio(r[S_HEAP].median, r[S_GLIBC_MEMSET].median));
	bench_row(SUITE, "a glibc + kernel's fill", "16-512", &r[S_GLIBC_KFILL],
		  "the same with the heap's fill (string.S); heap/this %.2f",
		  ratio(r[S_HEAP].median, r[S_GLIBC_KFILL].median));
}

static void print_pairs(const struct frag *f, const char *const names[NKINDS + 1],
			const char *trace)
{
	char max[32], chase_size[16];

	for (unsigned k = 0; k < NKINDS; k++)
		bench_row_value(SUITE, names[k], "16-4095", f->pairs[k].median, f->pairs[k].p99,
				"ns", "%u single pairs, median %.0f cycles, max %s%s",
				f->pairs[k].samples, f->pairs[k].median * tsc_per_ns,
				bench_duration(max, sizeof(max), f->pair_max[k]),
				k == A_REF ? ", after a shorter trace" : "");
	snprintf(chase_size, sizeof(chase_size),
		 f->heap_mapped < 10 * MiB ? "%.1f MiB" : "%.0f MiB", (double)f->heap_mapped / MiB);
	bench_row_value(SUITE, names[NKINDS], chase_size, f->chase_ns, -1, "ns",
			"pointer chase over the heap's mapped size: each cold line's price");
	bench_info("heap, %s trace: %.1f MiB requested, %.1f MiB mapped; %llu chunk maps, %llu "
		   "unmaps during the %d timed pairs",
		   trace, (double)f->heap_req / MiB, (double)f->heap_mapped / MiB,
		   (unsigned long long)f->pair_grows, (unsigned long long)f->pair_shrinks, PAIRS);
}

static void print_steps(const struct frag *f, const char *name, const char *trace)
{
	for (unsigned k = 0; k < NKINDS; k++)
		bench_row_value(SUITE, name, kind_names[k], f->step_ns[k], -1, "ns/op",
				"%s: mean over %u live + %u steps", trace, f->def->live,
				k == A_REF ? f->ref_steps : TRACE_STEPS);
}

static double pct(double part, double whole)
{
	return whole > 0 ? 100.0 * part / whole : 0;
}

static void print_memory_heap(void)
{
	const struct heap_stats *s = &res.trace_st, *t = &res.trim_st;
	double block = (double)(s->chunk_bytes - s->free_bytes - s->cached_bytes);

	bench_row_value(SUITE, "d overhead per live block", "heap",
			(block - (double)s->live_bytes) / (double)s->live_blocks, -1, "B",
			"(chunks - free - cached - requested) / live blocks");
	bench_row_value(SUITE, "d fragmentation", "heap",
			100 - pct((double)s->live_bytes, (double)(s->chunk_bytes + s->large_bytes)),
			-1, "%", "1 - requested / mapped; %.1f MiB mapped, %.1f MiB requested",
			(double)(s->chunk_bytes + s->large_bytes) / MiB,
			(double)s->live_bytes / MiB);
	bench_row_value(SUITE, "d fragmentation, trimmed", "heap",
			100 - pct((double)t->live_bytes, (double)(t->chunk_bytes + t->large_bytes)),
			-1, "%", "after heap_trim(): %llu of %llu chunks left",
			(unsigned long long)t->chunks, (unsigned long long)s->chunks);
	bench_row_value(SUITE, "d external fragmentation", "heap",
			100 - pct((double)s->largest_free, (double)s->free_bytes), -1, "%",
			"1 - largest free / free: %llu B of %.1f MiB in %llu blocks",
			(unsigned long long)s->largest_free, (double)s->free_bytes / MiB,
			(unsigned long long)s->free_blocks);
	bench_row_value(SUITE, "d front cache", "heap", (double)s->cached_bytes / KiB, -1, "KiB",
			"%llu blocks cached after the trace", (unsigned long long)s->cached_blocks);
}

/* glibc from mallinfo2(), as deltas over the trace: rough, its arena also holds other blocks. */
static void print_memory_others(void)
{
	const struct mallinfo2 *a = &res.glibc_before, *b = &res.glibc_after;
	double used = (double)(b->uordblks - a->uordblks), arena = (double)(b->arena - a->arena);

	bench_row_value(SUITE, "d overhead per live block", "glibc",
			(used - (double)res.glibc_req) / TRACE_LIVE, -1, "B",
			"mallinfo2: (uordblks - requested) / live blocks");
	bench_row_value(SUITE, "d fragmentation", "glibc", 100 - pct((double)res.glibc_req, arena),
			-1, "%", "1 - requested / arena; %.1f MiB arena", arena / MiB);
	bench_row_value(SUITE, "d overhead per live block", "ref",
			(double)(res.ref_used - res.ref_req) / TRACE_LIVE, -1, "B",
			"16 B header, 16 B rounding");
	bench_row_value(SUITE, "d fragmentation", "ref",
			100 - pct((double)res.ref_req, (double)res.ref_top), -1, "%",
			"1 - requested / high-water mark, after %d steps", REF_STEPS);
}

static void print_info(void)
{
	static const char *const names[NINFO][2] = {
	    [I_REALLOC] = {"e heap_realloc +16 B", "e glibc realloc +16 B"},
	    [I_CALLOC] = {"e heap_calloc+heap_free", "e glibc calloc+free"},
	    [I_ALIGN64] = {"e heap_alloc align 64 + free", "e glibc aligned_alloc 64"},
	    [I_ALIGN4K] = {"e heap_alloc align 4K + free", "e glibc aligned_alloc 4096"},
	    [I_LARGE] = {"e heap_alloc 16 KiB + free", "e glibc malloc 16 KiB + free"},
	};
	static const char *const sizes[NINFO] = {"16-2048", "16-512", "16-512", "16-512", "16 KiB"};
	static const char *const notes[NINFO] = {
	    [I_REALLOC] = "grow in 16 B steps to 2 KiB; 1 op in 128 shrinks to 16 B",
	    [I_CALLOC] = "calloc(1, n)",
	    [I_ALIGN64] = "heap_alloc(h, n, 64)",
	    [I_ALIGN4K] = "heap_alloc(h, n, 4096)",
	    [I_LARGE] = "own pages: mprotect+madvise syscalls on the host",
	};

	for (unsigned c = 0; c < NINFO; c++) {
		bench_row(SUITE, names[c][0], sizes[c], &res.info[c][0], "%s", notes[c]);
		bench_row(SUITE, names[c][1], sizes[c], &res.info[c][1], "heap/glibc %.2f",
			  ratio(res.info[c][0].median, res.info[c][1].median));
	}
	for (unsigned k = 0; k < 2; k++)
		bench_info("%s realloc: %llu of %llu growing reallocs moved the block",
			   kind_names[k], (unsigned long long)res.grow[k].moves,
			   (unsigned long long)res.grow[k].grows);
}

/* The fastest of glibc, jemalloc and mimalloc on the small pairs, and its name. */
static double fastest_ref(const char **name)
{
	const struct bench_result *r = res.small;
	double best = r[S_GLIBC].median;

	*name = "glibc";
	if (bench_malloc_ref(BENCH_JEMALLOC) && r[S_JEMALLOC].median < best) {
		best = r[S_JEMALLOC].median;
		*name = "jemalloc";
	}
	if (bench_malloc_ref(BENCH_MIMALLOC) && r[S_MIMALLOC].median < best) {
		best = r[S_MIMALLOC].median;
		*name = "mimalloc";
	}
	return best;
}

static void verdicts(void)
{
	const struct bench_result *r = res.small;
	const char *best_name;
	double best = fastest_ref(&best_name), rb = ratio(r[S_HEAP].median, best);
	double rp = res.cr.block_ratio[0];
	double pooled = ratio(res.cr.pairs[A_HEAP].p99, res.cr.pairs[A_GLIBC].p99);
	double own = r[S_HEAP].median - r[S_MEMSET].median;

	bench_info("heap: rdtsc %.3f/ns, advancing %.0f cycles a step (%.1f ns); %.1f cycles timer "
		   "overhead subtracted from single pairs, dithered, interpolated within steps",
		   tsc_per_ns, tsc_step, tsc_step / tsc_per_ns, tsc_overhead);
	bench_info("heap small pair without its poison fill (heap - fill medians): %.1f ns, %.2f "
		   "of glibc; glibc poisoning the same lengths: %.1f ns with its memset, %.1f "
		   "with the kernel's (heap/that %.2f)",
		   own, ratio(own, r[S_GLIBC].median), r[S_GLIBC_MEMSET].median,
		   r[S_GLIBC_KFILL].median, ratio(r[S_HEAP].median, r[S_GLIBC_KFILL].median));
	bench_info("heap pair after the standard trace (%d live, beyond the L2): p99 %.1f ns, "
		   "median %.1f; glibc p99 %.1f; one cold line %.1f ns",
		   TRACE_LIVE, res.std.pairs[A_HEAP].p99, res.std.pairs[A_HEAP].median,
		   res.std.pairs[A_GLIBC].p99, res.std.chase_ns);
	bench_info("heap small alloc+free 16-512 B: %.1f ns median, p99 %.1f; glibc %.1f, "
		   "jemalloc %.1f, mimalloc %.1f (0: not measured)",
		   r[S_HEAP].median, r[S_HEAP].p99, r[S_GLIBC].median, r[S_JEMALLOC].median,
		   r[S_MIMALLOC].median);
	bench_verdict(rb <= LIMIT_RATIO,
		      "heap small alloc+free (poisoning on) vs the fastest reference (%s): %.2f "
		      "(limit %.2f); heap %.1f ns, %s %.1f ns",
		      best_name, rb, LIMIT_RATIO, r[S_HEAP].median, best_name, best);
	bench_info(
	    "heap pair p99 / glibc's after the cache-resident trace, per alternating block of "
	    "%d pairs: median %.2f, range %.2f-%.2f; pooled over all %d pairs %.2f",
	    PAIRS / PAIR_BLOCKS, res.cr.block_ratio[0], res.cr.block_ratio[1],
	    res.cr.block_ratio[2], PAIRS, pooled);
	bench_verdict(
	    rp <= LIMIT_FRAG_P99_RATIO,
	    "heap pair p99 after the cache-resident trace (%d live) vs glibc's, median of "
	    "per-block ratios: %.2f (limit %.2f); pooled: heap p99 %.1f ns, median %.1f; "
	    "glibc p99 %.1f",
	    CR_LIVE, rp, LIMIT_FRAG_P99_RATIO, res.cr.pairs[A_HEAP].p99,
	    res.cr.pairs[A_HEAP].median, res.cr.pairs[A_GLIBC].p99);
	bench_verdict(anomalies.count == 0 && null_allocs == 0 && res.checked,
		      "heap bench sanity: %llu failed allocations, %u anomalies%s%s, heap_check %s",
		      (unsigned long long)null_allocs, anomalies.count,
		      anomalies.count ? ", first: " : "", anomalies.first,
		      res.checked ? "ok" : "FAILED");
}

void bench_heap(void)
{
	static const char *const std_names[NKINDS + 1] = {
	    "b heap pair, fragmented",
	    "b glibc pair, fragmented",
	    "b ref first-fit, fragmented",
	    "b one random load (latency)",
	};
	static const char *const cr_names[NKINDS + 1] = {
	    "b2 heap, cache-resident",
	    "b2 glibc, cache-resident",
	    "b2 ref first-fit, cache-res.",
	    "b2 one random load (latency)",
	};

	bench_info("heap: a and e pool %d rounds x %d batches, alternating their cases; b and b2 "
		   "time %d single pairs each, in %d alternating blocks",
		   ROUNDS, ROUND_BATCHES, PAIRS, PAIR_BLOCKS);
	res.checked = true;
	tsc_calibrate();
	small_sizes_setup();
	trace_generate(&trace_std);
	trace_generate(&trace_cr);
	measure_small();
	measure_info();
	measure_fragmented(&trace_std, &res.std);
	measure_ref(&trace_std, REF_STEPS, REF_PAIRS, &res.std);
	measure_fragmented(&trace_cr, &res.cr);
	measure_ref(&trace_cr, REF_CR_STEPS, REF_CR_PAIRS, &res.cr);
	res.std.chase_ns = chase_ns(res.std.heap_mapped);
	res.cr.chase_ns = chase_ns(res.cr.heap_mapped);
	measure_memory();
	print_small();
	print_pairs(&res.std, std_names, "standard");
	print_pairs(&res.cr, cr_names, "cache-resident");
	print_steps(&res.std, "c trace step (free+alloc)", "standard trace");
	print_steps(&res.cr, "c2 trace step, cache-res.", "cache-resident trace");
	print_memory_heap();
	print_memory_others();
	print_info();
	verdicts();
}
