/*
 * In-kernel tests of the kernel heap (ktest=heap): kmalloc and friends
 * (include/mm/kmalloc.h) on the real MMU and frame allocator. Each test
 * leaves the heap and the free-frame count as it found them, compared after
 * kmalloc_trim(). A few tests are white-box and read the block format of
 * mm/heap_internal.h (poison, adjacency). The timing test prints TSC figures
 * as KTAP diagnostics: under QEMU's TCG they are emulated cycles, useful as
 * ratios only.
 */
#include <arch/arch.h>
#include <arch/percpu.h>
#include <arch/smp.h>
#include <kernel/console.h>
#include <kernel/fault.h>
#include <kernel/ktest.h>
#include <kernel/panic.h>
#include <kernel/sched.h>
#include <lib/string.h>
#include <mm/kmalloc.h>
#include <mm/pmm_boot.h>
#include "heap_internal.h"

#define GOLDEN 0x9e3779b97f4a7c15ull

static struct heap_stats stats(void)
{
	struct heap_stats s;

	kmalloc_stats(&s);
	return s;
}

/* What a test compares at its end: the heap trimmed, and the free frames. */
struct baseline {
	struct heap_stats heap;
	uint64_t frames;
};

static struct baseline baseline_take(void)
{
	struct baseline b;

	kmalloc_trim();
	b.heap = stats();
	b.frames = pmm_kernel_free_frames();
	return b;
}

/* Trim, then check that nothing is live or mapped beyond what b saw. */
#define EXPECT_BASELINE(t, b)                                                                      \
	do {                                                                                       \
		struct heap_stats s_;                                                              \
		kmalloc_trim();                                                                    \
		s_ = stats();                                                                      \
		KEXPECT_EQ(t, s_.live_blocks, (b).heap.live_blocks);                               \
		KEXPECT_EQ(t, s_.live_bytes, (b).heap.live_bytes);                                 \
		KEXPECT_EQ(t, s_.chunk_bytes, (b).heap.chunk_bytes);                               \
		KEXPECT_EQ(t, s_.large_bytes, (b).heap.large_bytes);                               \
		KEXPECT_EQ(t, pmm_kernel_free_frames(), (b).frames);                               \
		EXPECT_HEAP_OK(t);                                                                 \
	} while (0)

/* kmalloc_check() passes, or the test fails with its message. */
#define EXPECT_HEAP_OK(t)                                                                          \
	do {                                                                                       \
		char msg_[160];                                                                    \
		if (kmalloc_check(msg_, sizeof(msg_)) != 0) {                                      \
			ktest_fail(t, __FILE__, __LINE__, "kmalloc_check: %s", msg_);              \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/* ---- patterns ---------------------------------------------------------------- */

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185ull;
	x ^= x >> 27;
	x *= 0x81dadef4bc2dd44dull;
	return x ^ (x >> 33);
}

/* Byte j of a block of n bytes filled by fill(p, n, v). */
static uint8_t pattern_byte(size_t j, size_t n, uint64_t v)
{
	if (j < (n & ~(size_t)7))
		return (uint8_t)((v + (j / 8) * GOLDEN) >> (8 * (j % 8)));
	return (uint8_t)((uint8_t)(v >> 8) + (uint8_t)j);
}

/* Fill n bytes at p (8-byte aligned): word i is v + i * GOLDEN, then a byte tail. */
static void fill(void *p, size_t n, uint64_t v)
{
	uint64_t *w = p;
	uint8_t *b = p;
	size_t words = n / 8;

	for (size_t i = 0; i < words; i++)
		w[i] = v + i * GOLDEN;
	for (size_t j = words * 8; j < n; j++)
		b[j] = pattern_byte(j, n, v);
}

/*
 * Check the first m bytes at p against fill(p, n, v), m <= n. Returns the
 * offset of the first wrong byte, or m if all are right.
 */
static size_t verify(const void *p, size_t m, size_t n, uint64_t v)
{
	const uint64_t *w = p;
	const uint8_t *b = p;
	size_t words = MIN(m, n & ~(size_t)7) / 8;

	for (size_t i = 0; i < words; i++)
		if (w[i] != v + i * GOLDEN)
			for (size_t j = i * 8;; j++)
				if (b[j] != pattern_byte(j, n, v))
					return j;
	for (size_t j = words * 8; j < m; j++)
		if (b[j] != pattern_byte(j, n, v))
			return j;
	return m;
}

/* True if the n bytes at p all hold c. */
static bool all_bytes(const void *p, size_t n, uint8_t c)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != c)
			return false;
	return true;
}

/* ---- 100,000 random operations ---------------------------------------------- */

#define RANDOM_OPS   100000
#define RANDOM_SLOTS 512
#define CHECK_EVERY  10000

struct slot {
	uint8_t *p;    /* NULL: empty */
	size_t size;   /* bytes requested */
	uint64_t seed; /* the fill pattern's */
};

static struct slot slots[RANDOM_SLOTS];

/* A request size: mostly small, some up to a page, a few of pages (to 64 KiB). */
static size_t random_size(uint64_t *rng)
{
	uint64_t r = xorshift(rng);
	unsigned pick = (unsigned)(r % 100);

	r >>= 8;
	if (pick < 55)
		return r % 129;
	if (pick < 82)
		return r % 1025;
	if (pick < 96)
		return 1025 + r % (HEAP_LARGE_MIN - 1025);
	return HEAP_LARGE_MIN + r % (64 * KiB - HEAP_LARGE_MIN + 1);
}

/* Check slot i's contents; false (with t failed) if they are damaged. */
static bool slot_verify(struct ktest *t, unsigned i, uint64_t op)
{
	struct slot *s = &slots[i];
	size_t bad = verify(s->p, s->size, s->size, s->seed);
	size_t got;

	if (bad != s->size) {
		ktest_fail(t, __FILE__, __LINE__,
			   "op %llu: slot %u block %#lx (%zu bytes) damaged at offset %zu",
			   (unsigned long long)op, i, (unsigned long)s->p, s->size, bad);
		return false;
	}
	got = ksize(s->p);
	if (got != s->size) {
		ktest_fail(t, __FILE__, __LINE__, "op %llu: ksize(%#lx) is %zu, not %zu",
			   (unsigned long long)op, (unsigned long)s->p, got, s->size);
		return false;
	}
	return true;
}

/* Give slot i a new block p of size bytes (from allocation number n): fill it. */
static void slot_set(unsigned i, void *p, size_t size, uint64_t n)
{
	slots[i].p = p;
	slots[i].size = size;
	slots[i].seed = mix(((uint64_t)i << 40) ^ n);
	fill(p, size, slots[i].seed);
}

/* Allocate into the empty slot i one of five ways; false (t failed) on a bad result. */
static bool random_alloc(struct ktest *t, unsigned i, uint64_t *rng, uint64_t op)
{
	uint64_t r = xorshift(rng);
	unsigned how = (unsigned)(r % 100);
	size_t size = random_size(rng), align = HEAP_ALIGN;
	void *p;

	if (how < 50) {
		p = kmalloc(size);
	} else if (how < 70) {
		align = (size_t)16 << ((r >> 8) % 9); /* 16 .. 4096 */
		p = kmalloc_aligned(size, align);
	} else if (how < 92) {
		size_t n = 1 + (r >> 8) % 8;

		size = size / n * n;
		p = kcalloc(n, size / n);
		if (p && !all_bytes(p, size, 0)) {
			ktest_fail(t, __FILE__, __LINE__, "op %llu: kcalloc(%zu, %zu) not zeroed",
				   (unsigned long long)op, n, size / n);
			return false;
		}
	} else {
		p = krealloc(NULL, size);
	}
	if (!p || (uintptr_t)p % align) {
		ktest_fail(t, __FILE__, __LINE__, "op %llu: %zu bytes aligned %zu: got %#lx",
			   (unsigned long long)op, size, align, (unsigned long)p);
		return false;
	}
	slot_set(i, p, size, op);
	return true;
}

/* Free or resize the full slot i, after checking it; false (t failed) on a bad result. */
static bool random_change(struct ktest *t, unsigned i, uint64_t *rng, uint64_t op)
{
	struct slot *s = &slots[i];
	size_t size, keep, bad;
	uint8_t *q;

	if (!slot_verify(t, i, op))
		return false;
	if (xorshift(rng) % 100 < 55) {
		kfree(s->p);
		s->p = NULL;
		return true;
	}
	size = random_size(rng);
	q = krealloc(s->p, size);
	if (size == 0) { /* frees, returns NULL */
		if (q) {
			ktest_fail(t, __FILE__, __LINE__, "op %llu: krealloc(p, 0) gave %#lx",
				   (unsigned long long)op, (unsigned long)q);
			return false;
		}
		s->p = NULL;
		return true;
	}
	if (!q || (uintptr_t)q % HEAP_ALIGN) {
		ktest_fail(t, __FILE__, __LINE__, "op %llu: krealloc(%#lx, %zu) gave %#lx",
			   (unsigned long long)op, (unsigned long)s->p, size, (unsigned long)q);
		return false;
	}
	keep = MIN(size, s->size);
	bad = verify(q, keep, s->size, s->seed);
	if (bad != keep) {
		ktest_fail(t, __FILE__, __LINE__,
			   "op %llu: krealloc(%#lx, %zu -> %zu) = %#lx lost byte %zu",
			   (unsigned long long)op, (unsigned long)s->p, s->size, size,
			   (unsigned long)q, bad);
		return false;
	}
	slot_set(i, q, size, op);
	return true;
}

/* Every live slot intact, and the heap's counters agree with the table. */
static bool random_sweep(struct ktest *t, const struct heap_stats *base, uint64_t op)
{
	uint64_t live = 0, bytes = 0;
	struct heap_stats s;
	char msg[160];

	for (unsigned i = 0; i < RANDOM_SLOTS; i++) {
		if (!slots[i].p)
			continue;
		if (!slot_verify(t, i, op))
			return false;
		live++;
		bytes += slots[i].size;
	}
	if (kmalloc_check(msg, sizeof(msg)) != 0) {
		ktest_fail(t, __FILE__, __LINE__, "op %llu: kmalloc_check: %s",
			   (unsigned long long)op, msg);
		return false;
	}
	s = stats();
	if (s.live_blocks != base->live_blocks + live || s.live_bytes != base->live_bytes + bytes) {
		ktest_fail(
		    t, __FILE__, __LINE__,
		    "op %llu: heap counts %llu blocks / %llu bytes live, the table %llu / %llu",
		    (unsigned long long)op, (unsigned long long)(s.live_blocks - base->live_blocks),
		    (unsigned long long)(s.live_bytes - base->live_bytes), (unsigned long long)live,
		    (unsigned long long)bytes);
		return false;
	}
	return true;
}

static void random_free_all(void)
{
	for (unsigned i = 0; i < RANDOM_SLOTS; i++) {
		kfree(slots[i].p);
		slots[i].p = NULL;
	}
}

KTEST(heap, kmalloc_random_100000_ops_keep_contents)
{
	struct baseline b = baseline_take();
	uint64_t rng = 0x2545f4914f6cdd1dull, peak_chunks = 0, peak_large = 0;
	uint64_t t0 = arch_timestamp();
	bool ok = true;

	memset(slots, 0, sizeof(slots));
	for (uint64_t op = 1; ok && op <= RANDOM_OPS; op++) {
		unsigned i = (unsigned)(xorshift(&rng) % RANDOM_SLOTS);

		ok = slots[i].p ? random_change(t, i, &rng, op) : random_alloc(t, i, &rng, op);
		if (ok && op % CHECK_EVERY == 0) {
			struct heap_stats s = stats();

			peak_chunks = MAX(peak_chunks, s.chunk_bytes);
			peak_large = MAX(peak_large, s.large_bytes);
			ok = random_sweep(t, &b.heap, op);
		}
	}
	random_free_all();
	if (!ok)
		return;
	kprintf("# heap: %d random operations over %d slots in %llu emulated TSC cycles; at the "
		"checks up to %llu KiB of chunks and %llu KiB of large blocks mapped\n",
		RANDOM_OPS, RANDOM_SLOTS, (unsigned long long)(arch_timestamp() - t0),
		(unsigned long long)(peak_chunks / KiB), (unsigned long long)(peak_large / KiB));
	EXPECT_HEAP_OK(t);
	EXPECT_BASELINE(t, b);
}

/* ---- exhaustion --------------------------------------------------------------- */

#define EXHAUST_MAX  1024
#define EXHAUST_KEEP (32 * MiB / PAGE_SIZE) /* frames left for the heap to exhaust */
#define HELD_MAX     64

static void *exhaust_blocks[EXHAUST_MAX];

/* Runs of frames taken straight from the pmm, so the heap has less to map. */
static struct {
	paddr_t pa;
	uint64_t count;
} held[HELD_MAX];

/*
 * Take frames from pmm_kernel in large runs until about EXHAUST_KEEP are
 * left: running the heap dry then maps 32 MiB, not all of RAM (seconds of
 * TCG with 8 GiB). Returns the number of runs held.
 */
static size_t hold_frames(void)
{
	uint64_t count = 1ull << 20;
	size_t n = 0;

	while (n < HELD_MAX) {
		uint64_t free = pmm_kernel_free_frames(), want;
		paddr_t pa;

		if (free <= EXHAUST_KEEP + 512)
			break;
		want = MIN(count, free - EXHAUST_KEEP);
		pa = pmm_alloc_run(&pmm_kernel, want, PAGE_SIZE);
		if (pa == PADDR_INVALID) {
			count = want / 2;
			if (count < 512)
				break;
			continue;
		}
		held[n].pa = pa;
		held[n++].count = want;
	}
	return n;
}

static void release_frames(size_t n)
{
	while (n--)
		KASSERT(pmm_free_run(&pmm_kernel, held[n].pa, held[n].count) == 0);
}

/* Allocate blocks of size bytes into exhaust_blocks from *n on, until NULL or full. */
static void exhaust_with(size_t size, size_t *n)
{
	while (*n < EXHAUST_MAX) {
		void *p = kmalloc(size);

		if (!p)
			return;
		exhaust_blocks[(*n)++] = p;
	}
}

KTEST(heap, kmalloc_exhaustion_returns_null_and_recovers)
{
	struct baseline b = baseline_take();
	size_t runs = hold_frames(), n = 0, n_big;
	uint64_t held_frames = b.frames - pmm_kernel_free_frames(), left;
	struct heap_stats s;
	void *small, *p;

	exhaust_with(MiB, &n);
	n_big = n;
	exhaust_with(64 * KiB, &n); /* down to what is left beside the page tables */
	s = stats();
	left = pmm_kernel_free_frames();
	small = kmalloc(64); /* may work (room in a chunk) or not, but returns */
	if (small)
		memset(small, 0x5a, 64);
	kfree(small);
	for (size_t i = 0; i < n; i++)
		kfree(exhaust_blocks[i]);
	release_frames(runs);
	kprintf("# heap: exhaustion (%llu MiB held back in %zu runs): %zu blocks of 1 MiB and %zu "
		"of 64 KiB before NULL, %llu frames left; a 64-byte kmalloc then %s\n",
		(unsigned long long)(held_frames * PAGE_SIZE / MiB), runs, n_big, n - n_big,
		(unsigned long long)left, small ? "succeeded" : "failed");
	KEXPECT(t, n < EXHAUST_MAX);
	KEXPECT(t, n_big > 0);
	KEXPECT(t, s.failures >= b.heap.failures + 2);
	KEXPECT(t, left < 128); /* less than a 64 KiB block, or a chunk for its record */
	EXPECT_BASELINE(t, b);

	p = kmalloc(MiB);
	KEXPECT(t, p != NULL);
	memset(p, 0x33, MiB);
	KEXPECT(t, all_bytes(p, MiB, 0x33));
	kfree(p);
	EXPECT_BASELINE(t, b);
}

/* ---- the API's edges ------------------------------------------------------------ */

KTEST(heap, kmalloc_aligned_honours_16_to_4096)
{
	static const size_t sizes[] = {0, 1, 24, 100, 1000, 2000, 4000, 4096, 5000, 20000};
	struct baseline b = baseline_take();
	void *p[ARRAY_SIZE(sizes)][9];

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		for (unsigned k = 0; k < 9; k++) {
			size_t align = (size_t)16 << k;

			p[i][k] = kmalloc_aligned(sizes[i], align);
			KEXPECT(t, p[i][k] != NULL);
			KEXPECT_EQ(t, (uintptr_t)p[i][k] % align, 0);
			KEXPECT_EQ(t, ksize(p[i][k]), sizes[i]);
			fill(p[i][k], sizes[i], i * 16 + k);
		}
	}
	EXPECT_HEAP_OK(t);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		for (unsigned k = 0; k < 9; k++) {
			KEXPECT_EQ(t, verify(p[i][k], sizes[i], sizes[i], i * 16 + k), sizes[i]);
			kfree(p[i][k]);
		}
	/* Plain kmalloc: 16-byte aligned at every size. */
	for (size_t size = 0; size < 600; size += 7) {
		void *q = kmalloc(size);

		KEXPECT(t, q != NULL);
		KEXPECT_EQ(t, (uintptr_t)q % HEAP_ALIGN, 0);
		kfree(q);
	}
	EXPECT_BASELINE(t, b);
}

KTEST(heap, kmalloc_aligned_refuses_bad_alignments)
{
	struct baseline b = baseline_take();
	void *p;

	KEXPECT(t, kmalloc_aligned(64, 24) == NULL);
	KEXPECT(t, kmalloc_aligned(64, 48) == NULL);
	KEXPECT(t, kmalloc_aligned(64, 4097) == NULL);
	KEXPECT(t, kmalloc_aligned(64, 8192) == NULL);
	KEXPECT(t, kmalloc_aligned(8192, 8192) == NULL);
	/* Below HEAP_ALIGN means HEAP_ALIGN (include/mm/heap.h). */
	for (size_t align = 0; align < HEAP_ALIGN; align++) {
		p = kmalloc_aligned(64, align);
		KEXPECT(t, p != NULL && (uintptr_t)p % HEAP_ALIGN == 0);
		kfree(p);
	}
	EXPECT_BASELINE(t, b);
}

KTEST(heap, kmalloc_zero_is_unique_kfree_null_is_noop)
{
	struct baseline b = baseline_take();
	void *a = kmalloc(0), *c = kmalloc(0), *z = kcalloc(0, 8);

	KEXPECT(t, a != NULL && c != NULL && z != NULL);
	KEXPECT(t, a != c && a != z && c != z);
	KEXPECT_EQ(t, ksize(a), 0);
	KEXPECT_EQ(t, stats().live_blocks, b.heap.live_blocks + 3);
	kfree(a);
	kfree(c);
	kfree(z);
	kfree(NULL);
	KEXPECT_EQ(t, stats().live_blocks, b.heap.live_blocks);
	EXPECT_BASELINE(t, b);
}

KTEST(heap, kmalloc_huge_and_kcalloc_overflow_return_null)
{
	struct baseline b = baseline_take();
	uint64_t failures = b.heap.failures;

	KEXPECT(t, kcalloc(SIZE_MAX / 2 + 1, 2) == NULL);
	KEXPECT(t, kcalloc((size_t)1 << 32, (size_t)1 << 32) == NULL);
	KEXPECT(t, kcalloc(2, SIZE_MAX) == NULL);
	KEXPECT(t, kmalloc(SIZE_MAX) == NULL);
	KEXPECT(t, kmalloc((size_t)1 << 40) == NULL); /* larger than any slot class */
	KEXPECT(t, krealloc(NULL, SIZE_MAX) == NULL);
	KEXPECT(t, stats().failures >= failures + 3);
	EXPECT_BASELINE(t, b);
}

KTEST(heap, krealloc_grows_in_place_into_free_neighbour)
{
	struct baseline b = baseline_take();
	/*
	 * Earlier tests leave holes: take blocks until three in a row are
	 * neighbours (a, n, c), holding the others. n's free goes to this
	 * CPU's front cache (a coarse class), so the heap is trimmed on the
	 * same CPU to put it in the lists, merged, where a can grow over it.
	 */
	uint8_t *blk[32], *a = NULL, *n = NULL, *c = NULL, *q;
	size_t k = 0;

	for (; k < 32 && !c; k++) {
		blk[k] = kmalloc(1100);
		if (k >= 2 && blk[k] == blk[k - 1] + heap_block_for(1100) &&
		    blk[k - 1] == blk[k - 2] + heap_block_for(1100)) {
			a = blk[k - 2];
			n = blk[k - 1];
			c = blk[k];
		}
	}
	KEXPECT(t, a && n && c);
	if (!c)
		goto out;
	k -= 3; /* blk[0..k) are the others */
	fill(a, 1100, 0xa);
	preempt_disable();
	kfree(n);
	heap_trim(kmalloc_heap());
	preempt_enable();
	q = krealloc(a, 2000);
	KEXPECT_EQ(t, (uintptr_t)q, (uintptr_t)a);
	KEXPECT_EQ(t, ksize(a), 2000);
	KEXPECT_EQ(t, verify(a, 1100, 1100, 0xa), 1100);
	EXPECT_HEAP_OK(t);
	/* Shrinking stays in place too. */
	q = krealloc(a, 300);
	KEXPECT_EQ(t, (uintptr_t)q, (uintptr_t)a);
	KEXPECT_EQ(t, verify(a, 300, 1100, 0xa), 300);
	EXPECT_HEAP_OK(t);
	/* No room behind c: it moves, keeping the contents. */
	fill(c, 1100, 0xc);
	q = krealloc(c, 3000);
	KEXPECT(t, q != NULL);
	KEXPECT_EQ(t, verify(q, 1100, 1100, 0xc), 1100);
	kfree(q);
	kfree(a);
out:
	while (k--)
		kfree(blk[k]);
	EXPECT_BASELINE(t, b);
}

KTEST(heap, krealloc_large_grows_in_its_slot)
{
	struct baseline b = baseline_take();
	uint8_t *p = kmalloc(5000), *q; /* 2 pages in a slot of 4 */

	KEXPECT(t, p != NULL);
	fill(p, 5000, 0x55);
	q = krealloc(p, 3 * PAGE_SIZE);
	KEXPECT_EQ(t, (uintptr_t)q, (uintptr_t)p);
	KEXPECT_EQ(t, ksize(p), 3 * PAGE_SIZE);
	KEXPECT_EQ(t, verify(p, 5000, 5000, 0x55), 5000);
	fill(p, 3 * PAGE_SIZE, 0x56);
	q = krealloc(p, 4 * PAGE_SIZE); /* 4 pages and a guard do not fit 4 */
	KEXPECT(t, q != NULL && q != p);
	KEXPECT_EQ(t, verify(q, 3 * PAGE_SIZE, 3 * PAGE_SIZE, 0x56), 3 * PAGE_SIZE);
	p = krealloc(q, 100); /* down to a small block */
	KEXPECT(t, p != NULL);
	KEXPECT_EQ(t, verify(p, 100, 3 * PAGE_SIZE, 0x56), 100);
	kfree(p);
	EXPECT_BASELINE(t, b);
}

KTEST(heap, kmalloc_debug_fill_fills_new_blocks)
{
	struct baseline b = baseline_take();
	struct heap *h = kmalloc_heap();
	uint32_t saved = h->debug;
	uint8_t *p, *q;

	h->debug = HEAP_DEBUG_FILL | HEAP_DEBUG_VERIFY;
	p = kmalloc(200);
	q = kmalloc(3 * PAGE_SIZE);
	h->debug = saved;
	KEXPECT(t, p && q);
	KEXPECT(t, all_bytes(p, 200, HEAP_FILL));
	KEXPECT(t, all_bytes(q, 3 * PAGE_SIZE, HEAP_FILL));
	kfree(p);
	kfree(q);
	EXPECT_BASELINE(t, b);
}

/* ---- guard pages, protections, poison ----------------------------------------- */

/*
 * An access at a that must fault as not present. Until the page-fault
 * handler names heap guards the kind is "unmapped address"; after, guard
 * pages of live blocks are FAULT_GUARD. Either is right.
 */
static bool expect_unmapped(struct ktest *t, int line, vaddr_t a, bool write)
{
	struct fault_info f = {0};
	uint64_t v;
	bool faulted = write ? probe_write(a, 0x77, &f) : probe_read(a, &v, &f);

	if (!faulted)
		ktest_fail(t, __FILE__, line, "%s at %#lx did not fault", write ? "write" : "read",
			   (unsigned long)a);
	else if ((f.kind != FAULT_NOT_PRESENT && f.kind != FAULT_GUARD) || f.vector != 14 ||
		 (f.error & 1) || f.addr != a)
		ktest_fail(t, __FILE__, line,
			   "%#lx: kind \"%s\", vector %llu, error %#llx, addr %#lx: not a "
			   "not-present page fault",
			   (unsigned long)a, fault_kind_name(f.kind), (unsigned long long)f.vector,
			   (unsigned long long)f.error, (unsigned long)f.addr);
	return !t->failed;
}

#define EXPECT_UNMAPPED(t, a, write)                                                               \
	do {                                                                                       \
		if (!expect_unmapped(t, __LINE__, (vaddr_t)(a), write))                            \
			return;                                                                    \
	} while (0)

KTEST(heap, kmalloc_large_block_has_guard_pages)
{
	struct baseline b = baseline_take();
	uint8_t *p = kmalloc(3 * PAGE_SIZE);
	struct fault_info f;
	uint64_t v;

	KEXPECT(t, p != NULL);
	KEXPECT_EQ(t, (uintptr_t)p % PAGE_SIZE, 0);
	KEXPECT(t, !probe_write((vaddr_t)p, 1, &f));
	KEXPECT(t, !probe_read((vaddr_t)p + 3 * PAGE_SIZE - 8, &v, &f));
	EXPECT_UNMAPPED(t, p - 8, false);
	EXPECT_UNMAPPED(t, p - PAGE_SIZE, true);
	EXPECT_UNMAPPED(t, p + 3 * PAGE_SIZE, false);
	EXPECT_UNMAPPED(t, p + 3 * PAGE_SIZE + 8, true);
	kfree(p);
	/* Freed: every page of it is gone. */
	for (int i = 0; i < 3; i++)
		EXPECT_UNMAPPED(t, p + i * PAGE_SIZE, false);
	EXPECT_BASELINE(t, b);
}

KTEST(heap, kmalloc_chunk_is_followed_by_unmapped_pages)
{
	struct baseline b = baseline_take();
	struct heap *h = kmalloc_heap();
	uint8_t *p = kmalloc(64);
	uintptr_t chunk;

	KEXPECT(t, p != NULL);
	chunk = h->base + ALIGN_DOWN((uintptr_t)p - h->base, HEAP_CHUNK_STRIDE);
	KEXPECT(t, !probe_read(chunk + HEAP_CHUNK_SIZE - 8, &(uint64_t){0}, NULL));
	EXPECT_UNMAPPED(t, chunk + HEAP_CHUNK_SIZE, false);
	EXPECT_UNMAPPED(t, chunk + HEAP_CHUNK_STRIDE - 8, true);
	kfree(p);
	EXPECT_BASELINE(t, b);
}

/* Call a `ret` written into heap memory at p: it must fault as NX. */
static bool expect_nx(struct ktest *t, int line, uint8_t *p)
{
	struct fault_info f = {0};

	p[0] = 0xc3;
	if (!probe_exec((vaddr_t)p, &f))
		ktest_fail(t, __FILE__, line, "heap memory at %#lx is executable",
			   (unsigned long)p);
	else if (f.kind != FAULT_NX || f.addr != (vaddr_t)p || f.rip != (vaddr_t)p)
		ktest_fail(t, __FILE__, line, "exec at %#lx: kind \"%s\", addr %#lx, rip %#lx",
			   (unsigned long)p, fault_kind_name(f.kind), (unsigned long)f.addr,
			   (unsigned long)f.rip);
	return !t->failed;
}

KTEST(heap, kmalloc_memory_is_not_executable)
{
	struct baseline b = baseline_take();
	uint8_t *small = kmalloc(64), *large = kmalloc(2 * PAGE_SIZE);
	bool ok;

	KEXPECT(t, small && large);
	ok = expect_nx(t, __LINE__, small) && expect_nx(t, __LINE__, large + PAGE_SIZE);
	kfree(small);
	kfree(large);
	if (!ok)
		return;
	EXPECT_BASELINE(t, b);
}

/*
 * The heap refuses a CPU without its own front cache (no shared fallback:
 * docs/heap.md), so every CPU that is up must have attached one, and no
 * two the same.
 */
KTEST(heap, every_online_cpu_has_its_own_heap_cache)
{
	uint64_t online = arch_smp_online();
	struct heap *h = kmalloc_heap();
	unsigned n = 0;

	for (unsigned cpu = 0; cpu < 64; cpu++) {
		if (!(online >> cpu & 1))
			continue;
		struct heap_cache *c = &arch_percpu_of(cpu)->heap_cache;
		bool listed = false;

		KEXPECT_EQ(t, (uintptr_t)c->owner, (uintptr_t)h);
		for (unsigned i = 1; i < h->ncaches; i++)
			listed |= h->caches[i] == c;
		KEXPECT(t, listed);
		n++;
	}
	KEXPECT(t, n >= 1);
	KEXPECT_EQ(t, h->ncaches, n + 1); /* the heap's own, then one per CPU */
}

KTEST(heap, kfree_poisons_freed_blocks)
{
	struct baseline b = baseline_take();
	/* 2000 bytes: over HEAP_CACHE_MAX, so the block goes to the lists. */
	uint8_t *listed = kmalloc(2000), *keep = kmalloc(2000), *cached = kmalloc(100);

	KEXPECT(t, listed && keep && cached); /* keep holds the chunk mapped */
	memset(listed, 0x11, 2000);
	memset(cached, 0x22, 100);
	kfree(listed);
	kfree(cached);
	/* A free block keeps its list links in the first 16 bytes, a cached one its link in 8. */
	KEXPECT(t, all_bytes(listed + sizeof(struct heap_free_links),
			     2000 - sizeof(struct heap_free_links), HEAP_POISON));
	KEXPECT(t, all_bytes(cached + sizeof(void *), 100 - sizeof(void *), HEAP_POISON));
	EXPECT_HEAP_OK(t);
	kfree(keep);
	EXPECT_BASELINE(t, b);
}

/* ---- timings ----------------------------------------------------------------------- */

#define SMALL_ROUNDS 1001
#define PAGE_ROUNDS  101

static uint64_t samples[SMALL_ROUNDS];
static size_t random_sizes[SMALL_ROUNDS];

/* Median cycles of kmalloc(sizes[r] or size) + kfree over rounds; 0 if one failed. */
static uint64_t time_pairs(size_t size, const size_t *sizes, size_t rounds)
{
	kfree(kmalloc(size)); /* warm: the chunk or slot record exists */
	for (size_t r = 0; r < rounds; r++) {
		size_t n = sizes ? sizes[r] : size;
		uint64_t t0 = arch_timestamp();
		void *p = kmalloc(n);

		kfree(p);
		samples[r] = arch_timestamp() - t0;
		if (!p)
			return 0;
	}
	return ktest_median(samples, rounds);
}

KTEST(heap, kmalloc_timings_emulated)
{
	struct baseline b = baseline_take();
	uint64_t rng = 0x9e3779b97f4a7c15ull, small, mixed, page;

	for (size_t r = 0; r < SMALL_ROUNDS; r++)
		random_sizes[r] = 16 + xorshift(&rng) % (512 - 16 + 1);
	small = time_pairs(64, NULL, SMALL_ROUNDS);
	mixed = time_pairs(512, random_sizes, SMALL_ROUNDS);
	page = time_pairs(16 * KiB, NULL, PAGE_ROUNDS);
	KEXPECT(t, small && mixed && page);
	kprintf("# heap: emulated TSC cycles (QEMU TCG, not hardware), median kmalloc+kfree "
		"pair: 64 B %llu, random 16-512 B %llu (%d rounds), 16 KiB (own pages, map + "
		"unmap) %llu (%d rounds)\n",
		(unsigned long long)small, (unsigned long long)mixed, SMALL_ROUNDS,
		(unsigned long long)page, PAGE_ROUNDS);
	EXPECT_BASELINE(t, b);
}
