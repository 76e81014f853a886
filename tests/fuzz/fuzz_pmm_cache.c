/*
 * libFuzzer target for mm/pmm_cache.c, the per-CPU frame cache, with
 * mm/pmm.c behind it. The input picks up to 8 usable ranges in the first
 * 16 MiB, then a sequence of operations, each on one of three simulated
 * CPUs (the ops' cache hook returns the current one's cache): allocations,
 * frees of allocated frames and of any address (double, reserved,
 * misaligned, outside), drains, aligned runs and run frees. A per-frame
 * model predicts every result: a free's exact error wherever the frame
 * sits (another CPU's cache included), an allocation's failure exactly
 * when every free frame sits in other CPUs' caches, a run's address (the
 * lowest run of frames free and in no cache). Counters, report calls and
 * pmm_check() are compared after every operation. Traps on any mismatch.
 */
#include <mm/memmap.h>
#include <mm/pmm.h>
#include <lib/errno.h>
#include <lib/string.h>

#include "fuzz.h"

#define SPAN   4096 /* frames: the first 16 MiB */
#define NCPUS  3
#define NOPS   400
#define P      PAGE_SIZE
#define MAXRUN 8

enum { RESERVED, FREE, ALLOCATED };

static uint8_t state[SPAN];
static uint64_t free_count, reports;
static struct pmm pm;
static struct pmm_cache caches[NCPUS];
static unsigned cpu;
static uint64_t meta[4096];

static void count_report(void *ctx, const char *reason, paddr_t pa, const void *caller)
{
	ASSERT(reason && reason[0] && caller);
	reports++;
}

static struct pmm_cache *current(void *ctx)
{
	return &caches[cpu];
}

static const struct pmm_ops ops = {.report = count_report, .cache = current};

static bool cached(uint64_t j)
{
	for (unsigned i = 0; i < NCPUS; i++)
		if (caches[i].word == j / 64 && (caches[i].mask >> (j % 64) & 1))
			return true;
	return false;
}

/* Free frames in caches other than the current CPU's. */
static uint64_t cached_elsewhere(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < NCPUS; i++)
		if (i != cpu)
			n += (uint64_t)__builtin_popcountll(caches[i].mask);
	return n;
}

static void op_alloc(void)
{
	uint64_t elsewhere = cached_elsewhere();
	paddr_t pa = pmm_alloc(&pm);

	if (pa == PADDR_INVALID) {
		ASSERT(free_count == elsewhere);
		return;
	}
	ASSERT(pa % P == 0 && pa / P < SPAN && state[pa / P] == FREE);
	state[pa / P] = ALLOCATED;
	free_count--;
}

/* The error a free of pa must get, from the model. */
static int expect_free(paddr_t pa)
{
	if (pa % P || pa / P >= SPAN)
		return -EINVAL;
	if (state[pa / P] == RESERVED)
		return -EPERM;
	return state[pa / P] == FREE ? -EALREADY : 0;
}

static void op_free(paddr_t pa)
{
	int exp = expect_free(pa);
	uint64_t before = reports;

	ASSERT(pmm_free(&pm, pa) == exp);
	ASSERT(reports == before + (exp != 0));
	if (!exp) {
		state[pa / P] = FREE;
		free_count++;
	}
}

/* An allocated frame near a random index, or the index itself. */
static paddr_t pick_allocated(struct reader *r)
{
	uint64_t j = rd(r, 2) % SPAN;

	for (uint64_t k = 0; k < SPAN; k++)
		if (state[(j + k) % SPAN] == ALLOCATED)
			return (j + k) % SPAN * P;
	return j * P;
}

static void op_run(struct reader *r)
{
	uint64_t count = rd(r, 1) % MAXRUN + 1, align = 1ull << (rd(r, 1) % 4), exp = UINT64_MAX;

	for (uint64_t j = 0; exp == UINT64_MAX && j + count <= SPAN; j += align) {
		uint64_t k = 0;
		while (k < count && state[j + k] == FREE && !cached(j + k))
			k++;
		if (k == count)
			exp = j;
	}
	paddr_t pa = pmm_alloc_run(&pm, count, align * P);
	ASSERT(exp == UINT64_MAX ? pa == PADDR_INVALID : pa == exp * P);
	for (uint64_t k = 0; pa != PADDR_INVALID && k < count; k++)
		state[exp + k] = ALLOCATED;
	free_count -= pa == PADDR_INVALID ? 0 : count;
}

static void op_free_run(struct reader *r)
{
	paddr_t pa = pick_allocated(r);
	uint64_t count = rd(r, 1) % 3 + 1;
	int exp = 0;

	for (uint64_t k = 0; k < count; k++) { /* -EINVAL, then -EPERM, then -EALREADY */
		int e = expect_free(pa + k * P);
		if (e == -EINVAL || (e == -EPERM && exp != -EINVAL) || (e && !exp))
			exp = e;
	}
	ASSERT(pmm_free_run(&pm, pa, count) == exp);
	for (uint64_t k = 0; !exp && k < count; k++)
		state[pa / P + k] = FREE;
	free_count += exp ? 0 : count;
}

static void check_all(void)
{
	struct pmm_stats s;
	uint64_t n = 0;

	pmm_stats(&pm, &s);
	ASSERT(s.free_frames == free_count);
	for (unsigned i = 0; i < NCPUS; i++)
		n += (uint64_t)__builtin_popcountll(caches[i].mask);
	ASSERT(s.cached_frames == n);
	ASSERT(pmm_check(&pm));
}

static void op(struct reader *r)
{
	uint8_t b = (uint8_t)rd(r, 1);

	cpu = b % NCPUS;
	switch (b / NCPUS % 8) {
	case 0:
	case 1:
	case 2:
		op_alloc();
		break;
	case 3:
	case 4:
		op_free(pick_allocated(r));
		break;
	case 5:
		op_free(rd(r, 3) % (SPAN + 16) * P + (rd(r, 1) % 8 == 0 ? 8 : 0));
		break;
	case 6:
		if (b & 0x80)
			op_free_run(r);
		else
			pmm_cache_drain(&pm, &caches[cpu]);
		break;
	default:
		op_run(r);
		break;
	}
	check_all();
}

/* Up to 8 usable ranges in the span; frame 0 is never released. */
static void setup(struct reader *r)
{
	struct memmap_entry raw[9], map[19];
	size_t nraw = rd(r, 1) % 8 + 1;

	for (size_t i = 0; i < nraw; i++) {
		uint64_t base = rd(r, 2) % SPAN, len = rd(r, 2) % 512 + 1;
		raw[i] =
		    (struct memmap_entry){base * P, MIN(len, SPAN - base) * P, MEMMAP_USABLE, 0};
	}
	/* The last frame, kernel-owned (tracked, never released), fixes the span's end. */
	raw[nraw] = (struct memmap_entry){(SPAN - 1) * P, P, MEMMAP_KERNEL, 0};
	int n = memmap_normalise(raw, nraw + 1, map, 19);
	ASSERT(n >= 0);
	ASSERT(pmm_init(&pm, map, (size_t)n, meta, sizeof(meta), &ops, NULL) == 0);
	memset(state, RESERVED, sizeof(state));
	free_count = reports = 0;
	for (int i = 0; i < n; i++) {
		if (map[i].type != MEMMAP_USABLE)
			continue;
		ASSERT(pmm_release(&pm, map[i].base, map[i].length) == 0);
		for (uint64_t j = map[i].base / P; j < (map[i].base + map[i].length) / P; j++)
			if (j != 0 && state[j] == RESERVED) {
				state[j] = FREE;
				free_count++;
			}
	}
	for (unsigned i = 0; i < NCPUS; i++)
		ASSERT(pmm_cache_attach(&pm, &caches[i]) == 0);
	check_all();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = {data, size, fuzz_seed(data, size)};
	setup(&r);
	for (int i = 0; i < NOPS; i++)
		op(&r);
	/* Give everything back through the caches, drain them: all free, whole again. */
	for (uint64_t j = 0; j < SPAN; j++)
		if (state[j] == ALLOCATED) {
			cpu = (unsigned)(j % NCPUS);
			op_free(j * P);
		}
	for (unsigned i = 0; i < NCPUS; i++)
		pmm_cache_drain(&pm, &caches[i]);
	check_all();
	struct pmm_stats s;
	pmm_stats(&pm, &s);
	ASSERT(s.free_frames == s.managed_frames && s.cached_frames == 0);
	for (uint64_t j = 0; j < SPAN; j++)
		ASSERT(pmm_frame_state(&pm, j * P) ==
		       (state[j] == FREE ? PMM_FRAME_FREE : PMM_FRAME_RESERVED));
	return 0;
}
