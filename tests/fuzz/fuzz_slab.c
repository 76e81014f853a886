/*
 * libFuzzer target for mm/slab.c, the object caches. The input picks two
 * caches' object sizes (one in eight up to KMEM_MAX_SIZE, so slabs of 1
 * to 8 pages, the others up to 1 KiB) and alignments, then up to MAX_OPS operations on
 * SLOTS model slots, each on one of four simulated CPUs: allocate (zeroed
 * or not), free, check a live object's pattern. Every live object holds a
 * pattern from its slot, verified before it is freed; no two live objects
 * overlap (they are distinct slots of the right stride); kmem_cache_info()
 * must count exactly the live objects, and kmem_cache_check() must pass as
 * it goes. At the end everything is freed and both caches destroyed with
 * no page left; before that, for one input in four, a misuse (a double
 * free on some CPU, a pointer inside an object) must reach the corrupt
 * hook and change nothing. Traps on any violation.
 */
#include <mm/slab.h>
#include <lib/errno.h>
#include <lib/string.h>

#include <setjmp.h>
#include <stdlib.h>

#include "fuzz.h"
#include "../slab_host.h"

#define SLOTS	64
#define MAX_OPS 600
#define NCPUS	4

static jmp_buf on_corrupt;
static bool expect_corrupt;

static uint64_t secret(void)
{
	return 0x2545f4914f6cdd1dull;
}

static __noreturn void on_corruption(const char *msg)
{
	ASSERT(expect_corrupt && msg && msg[0]);
	longjmp(on_corrupt, 1);
}

static const struct kmem_backend fuzz_backend = {page_alloc, page_free, cpu, secret, on_corruption};
const struct kmem_backend *kmem_backend = &fuzz_backend;

static struct kmem_cache caches[2];
static struct slot {
	uint8_t *p;
	uint8_t cache, seed;
} slots[SLOTS];
static uint64_t live[2];

static void fill(struct slot *s)
{
	for (uint32_t i = 0; i < caches[s->cache].size; i++)
		s->p[i] = (uint8_t)(s->seed + i);
}

static void verify(const struct slot *s)
{
	for (uint32_t i = 0; i < caches[s->cache].size; i++)
		ASSERT(s->p[i] == (uint8_t)(s->seed + i));
}

static void check_counts(void)
{
	for (unsigned c = 0; c < 2; c++) {
		struct kmem_cache_info info;
		kmem_cache_info(&caches[c], &info);
		ASSERT(info.active == live[c]);
		ASSERT(info.total == info.slabs * info.per_slab &&
		       info.active + info.cached <= info.total);
	}
}

static void op_alloc(struct reader *r, struct slot *s)
{
	s->cache = (uint8_t)(rd(r, 1) & 1);
	s->seed = (uint8_t)rd(r, 1);
	struct kmem_cache *c = &caches[s->cache];
	bool zero = s->seed & 1;
	s->p = zero ? kmem_cache_zalloc(c) : kmem_cache_alloc(c);
	ASSERT(s->p && (uintptr_t)s->p % c->align == 0);
	if (zero)
		for (uint32_t i = 0; i < c->size; i++)
			ASSERT(s->p[i] == 0);
	for (unsigned i = 0; i < SLOTS; i++) /* distinct from every live object */
		ASSERT(&slots[i] == s || !slots[i].p || slots[i].p + c->stride <= s->p ||
		       s->p + c->stride <= slots[i].p);
	fill(s);
	live[s->cache]++;
}

static void op_free(struct slot *s)
{
	verify(s);
	kmem_cache_free(&caches[s->cache], s->p);
	live[s->cache]--;
	s->p = NULL;
}

/*
 * A misuse that must reach corrupt() before it changes anything, so the
 * caches stay whole and are cleaned up as usual afterwards: a double free
 * (the second on any CPU) or a pointer inside an object. (A forged
 * freelist link is reported under the cache's lock, which leaves the cache
 * unusable: tests/host/test_slab.c covers it.)
 */
static void misuse(struct reader *r)
{
	struct slot *s = &slots[rd(r, 1) % SLOTS];
	bool twice = rd(r, 1) & 1;

	if (!s->p)
		op_alloc(r, s);
	struct kmem_cache *c = &caches[s->cache];
	uint8_t *p = s->p;
	if (twice) {
		op_free(s);
		cur_cpu = (unsigned)rd(r, 1) % NCPUS;
	} else {
		p += 1 + rd(r, 1) % (c->stride - 1);
	}
	expect_corrupt = true;
	if (!setjmp(on_corrupt)) {
		kmem_cache_free(c, p);
		ASSERT(!"the misuse was not reported");
	}
	expect_corrupt = false;
	check_counts();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = {data, size, fuzz_seed(data, size)};
	for (unsigned c = 0; c < 2; c++) {
		/* One cache in eight past 1 KiB (multi-page slabs): the pattern loops cost per
		 * byte. */
		size_t range = rd(&r, 1) < 32 ? KMEM_MAX_SIZE : 1024;
		size_t sz = 1 + rd(&r, 2) % range, align = 1ull << (rd(&r, 1) % 7);
		ASSERT(kmem_cache_create(&caches[c], "fuzz", sz, align) == 0);
	}
	memset(slots, 0, sizeof(slots));
	live[0] = live[1] = 0;
	unsigned ops = (unsigned)rd(&r, 2) % MAX_OPS;
	for (unsigned i = 0; i < ops; i++) {
		uint8_t k = (uint8_t)rd(&r, 1);
		struct slot *s = &slots[rd(&r, 1) % SLOTS];
		cur_cpu = k % NCPUS;
		if (!s->p)
			op_alloc(&r, s);
		else if (k < 160)
			op_free(s);
		else
			verify(s);
		check_counts();
		if (i % 32 == 31)
			ASSERT(kmem_cache_check(&caches[0]) && kmem_cache_check(&caches[1]));
	}
	if (rd(&r, 1) % 4 == 0)
		misuse(&r);
	for (unsigned i = 0; i < SLOTS; i++)
		if (slots[i].p)
			op_free(&slots[i]);
	check_counts();
	ASSERT(kmem_cache_check(&caches[0]) && kmem_cache_check(&caches[1]));
	ASSERT(kmem_cache_destroy(&caches[0]) == 0 && kmem_cache_destroy(&caches[1]) == 0);
	ASSERT(pages_live == 0);
	return 0;
}
