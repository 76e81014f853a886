/*
 * Host tests for mm/pmm_cache.c, the per-CPU frame cache in front of
 * mm/pmm.c: refill claims the lowest non-empty word, the fast paths hand
 * out and take back that word's frames, every double free is refused
 * whichever cache (or none) holds the frame, cached frames count as free,
 * drain gives them back, the reclaim hook gets other caches' frames for
 * an allocation that found none, and pmm_check() sees a broken cache. Three caches
 * stand for three CPUs; the ops' cache hook returns the "current" one.
 */
#include <mm/memmap.h>
#include <mm/pmm.h>
#include <lib/errno.h>

#include "check.h"

#define P     PAGE_SIZE
#define NCPUS 3

static unsigned reports;
static const char *last_reason;
static struct pmm_cache cpu_cache[NCPUS];
static unsigned cpu; /* the "current" CPU */

static void record_report(void *ctx, const char *reason, paddr_t pa, const void *caller)
{
	reports++;
	last_reason = reason;
}

static struct pmm_cache *current_cache(void *ctx)
{
	return &cpu_cache[cpu];
}

static const struct pmm_ops ops = {.report = record_report, .cache = current_cache};

static struct pmm pm;
static uint64_t meta[4096];

/* 1 MiB..1 MiB + frames * P usable, every cache attached, CPU 0 current. */
static bool setup(uint64_t frames)
{
	struct memmap_entry map[] = {{MiB, frames * P, MEMMAP_USABLE, 0}};

	reports = 0;
	cpu = 0;
	if (pmm_init(&pm, map, 1, meta, sizeof(meta), &ops, NULL) ||
	    pmm_release(&pm, MiB, frames * P))
		return false;
	for (unsigned i = 0; i < NCPUS; i++)
		if (pmm_cache_attach(&pm, &cpu_cache[i]))
			return false;
	return pmm_check(&pm);
}

static uint64_t free_frames(void)
{
	struct pmm_stats s;

	pmm_stats(&pm, &s);
	return s.free_frames;
}

TEST(pmm_cache_refill_takes_the_lowest_word)
{
	CHECK(setup(200));
	paddr_t a = pmm_alloc(&pm), b = pmm_alloc(&pm);
	CHECK_EQ(a, MiB);
	CHECK_EQ(b, MiB + P);
	CHECK_EQ(cpu_cache[0].refills, 1);
	CHECK_EQ(cpu_cache[0].word, (MiB / P) % 262144 / 64);
	CHECK_EQ(__builtin_popcountll(cpu_cache[0].mask), 62);
	CHECK_EQ(free_frames(), 198);
	CHECK_EQ(pmm_free(&pm, a), 0); /* back into the cache */
	CHECK_EQ(pmm_alloc(&pm), a);
	CHECK_EQ(cpu_cache[0].refills, 1);
	CHECK(pmm_check(&pm));
}

TEST(pmm_cache_double_free_in_own_cache_is_refused)
{
	CHECK(setup(200));
	paddr_t a = pmm_alloc(&pm);
	CHECK_EQ(pmm_free(&pm, a), 0);
	CHECK_EQ(pmm_free(&pm, a), -EALREADY);
	CHECK_EQ(reports, 1);
	CHECK_STR(last_reason, "double free");
	CHECK_EQ(free_frames(), 200);
	CHECK_EQ(pmm_frame_state(&pm, a), PMM_FRAME_FREE);
	CHECK(pmm_check(&pm));
}

TEST(pmm_cache_double_free_of_another_cpus_frame_is_refused)
{
	CHECK(setup(200));
	paddr_t a = pmm_alloc(&pm);
	CHECK_EQ(pmm_free(&pm, a), 0); /* cached on CPU 0 */
	cpu = 1;
	CHECK_EQ(pmm_free(&pm, a), -EALREADY); /* CPU 1 owns no word: the locked path */
	CHECK_EQ(reports, 1);
	paddr_t b = pmm_alloc(&pm); /* CPU 1 claims the next word */
	CHECK_EQ(b, MiB + 64 * P);
	CHECK_EQ(pmm_free(&pm, b), 0);
	CHECK_EQ(pmm_free(&pm, b), -EALREADY);
	cpu = 0;
	CHECK_EQ(pmm_free(&pm, b), -EALREADY); /* in CPU 1's mask */
	CHECK_EQ(pmm_free_run(&pm, b, 2), -EALREADY);
	CHECK_EQ(reports, 4);
	CHECK_EQ(free_frames(), 200);
	CHECK(pmm_check(&pm));
}

TEST(pmm_cache_frees_across_cpus_land_in_the_bitmap)
{
	CHECK(setup(200));
	paddr_t a = pmm_alloc(&pm);
	cpu = 1;
	CHECK_EQ(pmm_free(&pm, a), 0); /* not CPU 1's word: locked, into the freemap */
	CHECK_EQ(pmm_frame_state(&pm, a), PMM_FRAME_FREE);
	CHECK_EQ(pmm_free(&pm, a), -EALREADY);
	CHECK_EQ(pmm_alloc_run(&pm, 1, P), a); /* the locked path sees it */
	cpu = 0;
	CHECK_EQ(pmm_free(&pm, a), 0); /* CPU 0's word again: into its mask */
	CHECK_EQ(free_frames(), 200);
	CHECK(pmm_check(&pm));
}

TEST(pmm_cache_refusals_of_bad_frees)
{
	CHECK(setup(200));
	paddr_t a = pmm_alloc(&pm);
	CHECK_EQ(pmm_free(&pm, a + 8), -EINVAL);
	CHECK_EQ(pmm_free(&pm, MiB - P), -EPERM);
	CHECK_EQ(pmm_free(&pm, 0), -EPERM); /* tracked, never allocatable */
	CHECK_EQ(pmm_free(&pm, 64 * GiB), -EINVAL);
	CHECK_EQ(reports, 4);
	CHECK_EQ(free_frames(), 199);
	CHECK(pmm_check(&pm));
}

TEST(pmm_cache_exhaustion_counts_exactly_then_drains)
{
	CHECK(setup(130)); /* words of 64, 64 and 2 frames */
	paddr_t got[130];
	unsigned n = 0;
	for (unsigned i = 0; i < 130; i++) {
		cpu = i % NCPUS;
		got[n] = pmm_alloc(&pm);
		if (got[n] != PADDR_INVALID)
			n++;
	}
	/* Each CPU's last word may still hold frames another CPU could not take. */
	uint64_t cached = 0;
	for (unsigned i = 0; i < NCPUS; i++)
		cached += (uint64_t)__builtin_popcountll(cpu_cache[i].mask);
	CHECK_EQ(n + cached, 130);
	CHECK_EQ(free_frames(), cached);
	for (unsigned i = 0; i < NCPUS; i++)
		pmm_cache_drain(&pm, &cpu_cache[i]);
	CHECK_EQ(free_frames(), cached);
	for (unsigned i = 0; i < n; i++) {
		cpu = (i * 7) % NCPUS;
		CHECK_EQ(pmm_free(&pm, got[i]), 0);
	}
	CHECK_EQ(free_frames(), 130);
	CHECK_EQ(reports, 0);
	CHECK(pmm_check(&pm));
	for (unsigned i = 0; i < NCPUS; i++)
		pmm_cache_drain(&pm, &cpu_cache[i]);
	CHECK_EQ(free_frames(), 130);
	CHECK_EQ(pmm_alloc_run(&pm, 130, P), MiB); /* all back in the bitmaps, whole */
	CHECK(pmm_check(&pm));
}

TEST(pmm_cache_check_catches_a_broken_cache)
{
	CHECK(setup(200));
	paddr_t a = pmm_alloc(&pm);
	CHECK(pmm_check(&pm));
	cpu_cache[0].mask |= 1ull << (((a / P) % 64)); /* a is allocated, not cached */
	pm.freemap.level[0][cpu_cache[0].word] |= cpu_cache[0].mask;
	CHECK(!pmm_check(&pm)); /* a frame both free and cached */
	CHECK(setup(200));
	pmm_alloc(&pm);
	cpu_cache[1].word = cpu_cache[0].word;
	CHECK(!pmm_check(&pm)); /* a word with two owners */
}

TEST(pmm_cache_attach_is_bounded)
{
	static struct pmm_cache extra[PMM_MAX_CACHES];

	CHECK(setup(200));
	for (unsigned i = NCPUS; i < PMM_MAX_CACHES; i++)
		CHECK_EQ(pmm_cache_attach(&pm, &extra[i]), 0);
	CHECK_EQ(pmm_cache_attach(&pm, &extra[0]), -ENOSPC);
	CHECK(pmm_check(&pm));
}

static unsigned reclaims;

/* The kernel asks the other CPUs by interrupt; single-threaded, draining them here is the same. */
static void drain_others(void *ctx)
{
	reclaims++;
	for (unsigned i = 0; i < NCPUS; i++)
		if (i != cpu)
			pmm_cache_drain(&pm, &cpu_cache[i]);
}

TEST(pmm_cache_reclaim_hook_gets_other_cpus_frames)
{
	static const struct pmm_ops reclaiming = {
	    .report = record_report, .cache = current_cache, .reclaim = drain_others};
	struct memmap_entry map[] = {{MiB, 130 * P, MEMMAP_USABLE, 0}}; /* words of 64, 64, 2 */
	paddr_t got[130], first[NCPUS];
	unsigned n = 0;

	reclaims = 0;
	CHECK_EQ(pmm_init(&pm, map, 1, meta, sizeof(meta), &reclaiming, NULL), 0);
	CHECK_EQ(pmm_release(&pm, MiB, 130 * P), 0);
	for (unsigned i = 0; i < NCPUS; i++)
		CHECK_EQ(pmm_cache_attach(&pm, &cpu_cache[i]), 0);
	for (cpu = 0; cpu < NCPUS; cpu++) /* a word each: 63, 63 and 1 frames cached */
		first[cpu] = pmm_alloc(&pm);
	CHECK_EQ(first[1], MiB + 64 * P);
	CHECK_EQ(first[2], MiB + 128 * P);
	cpu = 0;
	/* A run: only CPU 1's and 2's frames could make one; asked back, they do. */
	CHECK_EQ(pmm_alloc_run(&pm, 63, P), MiB + 65 * P);
	CHECK_EQ(reclaims, 1);
	CHECK_EQ(pmm_free_run(&pm, MiB + 65 * P, 63), 0);
	cpu = 1;
	CHECK_EQ(pmm_alloc(&pm), MiB + 65 * P); /* CPU 1 claims its word again: 62 cached */
	/* CPU 0 takes its own 63, then CPU 1's 62 and CPU 2's 1, asked back. */
	cpu = 0;
	while (n < 130 && (got[n] = pmm_alloc(&pm)) != PADDR_INVALID)
		n++;
	CHECK_EQ(n, 63 + 62 + 1);
	CHECK_EQ(reclaims, 2); /* and none once no cache held a frame */
	CHECK_EQ(free_frames(), 0);
	CHECK(pmm_check(&pm));
	while (n--)
		CHECK_EQ(pmm_free(&pm, got[n]), 0);
	CHECK_EQ(pmm_free(&pm, MiB + 65 * P), 0);
	for (cpu = 0; cpu < NCPUS; cpu++)
		CHECK_EQ(pmm_free(&pm, first[cpu]), 0);
	cpu = 0;
	CHECK_EQ(free_frames(), 130);
	CHECK_EQ(reports, 0);
	CHECK(pmm_check(&pm));
}

TEST(pmm_without_cache_hook_stays_lowest_first)
{
	static const struct pmm_ops plain = {.report = record_report};
	struct memmap_entry map[] = {{MiB, 200 * P, MEMMAP_USABLE, 0}};

	CHECK_EQ(pmm_init(&pm, map, 1, meta, sizeof(meta), &plain, NULL), 0);
	CHECK_EQ(pmm_release(&pm, MiB, 200 * P), 0);
	CHECK_EQ(pmm_cache_attach(&pm, &cpu_cache[0]), 0); /* attached, but no hook returns it */
	paddr_t a = pmm_alloc(&pm), b = pmm_alloc(&pm);
	CHECK_EQ(pmm_free(&pm, a), 0);
	CHECK_EQ(pmm_alloc(&pm), a);
	CHECK_EQ(b, a + P);
	CHECK_EQ(cpu_cache[0].refills, 0);
	CHECK(pmm_check(&pm));
}

int main(void)
{
	RUN(pmm_cache_refill_takes_the_lowest_word);
	RUN(pmm_cache_double_free_in_own_cache_is_refused);
	RUN(pmm_cache_double_free_of_another_cpus_frame_is_refused);
	RUN(pmm_cache_frees_across_cpus_land_in_the_bitmap);
	RUN(pmm_cache_refusals_of_bad_frees);
	RUN(pmm_cache_exhaustion_counts_exactly_then_drains);
	RUN(pmm_cache_check_catches_a_broken_cache);
	RUN(pmm_cache_attach_is_bounded);
	RUN(pmm_cache_reclaim_hook_gets_other_cpus_frames);
	RUN(pmm_without_cache_hook_stays_lowest_first);
	return check_done();
}
