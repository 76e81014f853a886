/*
 * Host tests for mm/pmm.c, the physical frame allocator: metadata sizing and
 * pmm_init(), pmm_release() and its errors, lowest-first pmm_alloc(), aligned
 * pmm_alloc_run() runs that never cross reserved frames or holes, refused
 * frees (each reported exactly once, changing nothing), maps with holes and
 * with RAM only high up, and random maps and operation sequences checked
 * step by step against a per-frame reference model.
 */
#include <mm/pmm.h>
#include <mm/memmap.h>
#include <lib/errno.h>

#include "check.h"

#define P	   PAGE_SIZE
#define E(b, l, t) ((struct memmap_entry){(b), (l), (t), 0})
#define FRAMES_1G  (GiB / P)
#define INVALID	   PADDR_INVALID

/* --- the report hook: every refused free lands here ----------------------------- */

struct report_log {
	unsigned count;
	const char *reason;
	paddr_t pa;
	const void *caller;
};

static struct report_log rep;

static void record_report(void *ctx, const char *reason, paddr_t pa, const void *caller)
{
	struct report_log *log = ctx;

	log->count++;
	log->reason = reason;
	log->pa = pa;
	log->caller = caller;
}

static const struct pmm_ops ops = {.report = record_report};

/* --- the instance under test --------------------------------------------------- */

static struct pmm pm;
static void *meta;
static size_t meta_size;
static struct memmap_entry map[128];
static size_t nmap;

/* Normalise raw[0..n) into map. */
static bool load(const struct memmap_entry *raw, size_t n)
{
	int k = memmap_normalise(raw, n, map, ARRAY_SIZE(map));

	if (k < 0)
		return false;
	nmap = (size_t)k;
	return memmap_is_normalised(map, nmap);
}

/*
 * pmm_init() over map with a fresh buffer of exactly pmm_metadata_size()
 * bytes (so ASan sees any overrun), filled with garbage as carved RAM would
 * be, and a garbage struct pmm.
 */
static int init_map(void)
{
	free(meta);
	meta_size = pmm_metadata_size(map, nmap);
	meta = meta_size ? malloc(meta_size) : NULL;
	if (meta)
		memset(meta, 0xa5, meta_size);
	memset(&pm, 0x5a, sizeof(pm));
	return pmm_init(&pm, map, nmap, meta, meta_size, &ops, &rep);
}

#define SETUP(raw)                                                                                 \
	do {                                                                                       \
		CHECK(load(raw, ARRAY_SIZE(raw)));                                                 \
		CHECK_EQ(init_map(), 0);                                                           \
		CHECK(pmm_check(&pm));                                                             \
	} while (0)

/* Release every entry of type t in map. */
static bool release_type(uint32_t t)
{
	for (size_t i = 0; i < nmap; i++)
		if (map[i].type == t && pmm_release(&pm, map[i].base, map[i].length) != 0)
			return false;
	return true;
}

/* The type of addr in map, MEMMAP_NONE in a hole. */
static uint32_t type_at(uint64_t addr)
{
	for (size_t i = 0; i < nmap; i++)
		if (addr >= map[i].base && addr - map[i].base < map[i].length)
			return map[i].type;
	return MEMMAP_NONE;
}

static struct pmm_stats stats(void)
{
	struct pmm_stats s;

	pmm_stats(&pm, &s);
	return s;
}

static bool same_stats(struct pmm_stats a, struct pmm_stats b)
{
	return a.span_frames == b.span_frames && a.managed_frames == b.managed_frames &&
	       a.free_frames == b.free_frames && a.metadata_bytes == b.metadata_bytes;
}

static enum pmm_frame_state state(paddr_t pa)
{
	return pmm_frame_state(&pm, pa);
}

/* True if all count frames from pa are in state s. */
static bool run_is(paddr_t pa, uint64_t count, enum pmm_frame_state s)
{
	for (uint64_t i = 0; i < count; i++)
		if (state(pa + i * P) != s)
			return false;
	return true;
}

/* The call must fail with err, report exactly once and change nothing. */
#define CHECK_REFUSED(call, err)                                                                   \
	do {                                                                                       \
		struct pmm_stats before_ = stats();                                                \
		unsigned reports_ = rep.count;                                                     \
		rep.reason = NULL;                                                                 \
		rep.caller = NULL;                                                                 \
		CHECK_EQ((call), (err));                                                           \
		CHECK_EQ(rep.count, reports_ + 1);                                                 \
		CHECK(rep.reason &&rep.reason[0]);                                                 \
		CHECK(rep.caller != NULL);                                                         \
		CHECK(same_stats(before_, stats()));                                               \
		CHECK(pmm_check(&pm));                                                             \
	} while (0)

/* A refused pmm_free(pa) of an aligned pa: also reports that very frame. */
#define CHECK_FREE_REFUSED(addr, err)                                                              \
	do {                                                                                       \
		CHECK_REFUSED(pmm_free(&pm, (addr)), (err));                                       \
		CHECK_EQ(rep.pa, (addr));                                                          \
	} while (0)

/* The call must succeed without a report. */
#define CHECK_FREED(call)                                                                          \
	do {                                                                                       \
		unsigned reports_ = rep.count;                                                     \
		CHECK_EQ((call), 0);                                                               \
		CHECK_EQ(rep.count, reports_);                                                     \
	} while (0)

/* The call must fail with err and change nothing (pmm_release: no report). */
#define CHECK_UNCHANGED(call, err)                                                                 \
	do {                                                                                       \
		struct pmm_stats before_ = stats();                                                \
		unsigned reports_ = rep.count;                                                     \
		CHECK_EQ((call), (err));                                                           \
		CHECK_EQ(rep.count, reports_);                                                     \
		CHECK(same_stats(before_, stats()));                                               \
		CHECK(pmm_check(&pm));                                                             \
	} while (0)

/* pmm_alloc_run() must return PADDR_INVALID and change nothing. */
#define CHECK_NO_RUN(count, align)                                                                 \
	do {                                                                                       \
		struct pmm_stats before_ = stats();                                                \
		CHECK_EQ(pmm_alloc_run(&pm, (count), (align)), INVALID);                           \
		CHECK(same_stats(before_, stats()));                                               \
	} while (0)

/* pmm_alloc_run() must return want, now allocated, taking exactly count frames. */
#define CHECK_RUN(count, align, want)                                                              \
	do {                                                                                       \
		uint64_t free_ = stats().free_frames;                                              \
		CHECK_EQ(pmm_alloc_run(&pm, (count), (align)), (want));                            \
		CHECK(IS_ALIGNED((want), (align)));                                                \
		CHECK(run_is((want), (count), PMM_FRAME_ALLOCATED));                               \
		CHECK_EQ(stats().free_frames, free_ - (count));                                    \
		CHECK(pmm_check(&pm));                                                             \
	} while (0)

/* --- metadata and init ---------------------------------------------------------- */

TEST(pmm_metadata_size_zero_without_ram)
{
	static uint64_t buf[1024];
	struct memmap_entry none[] = {E(0, 16 * P, MEMMAP_MMIO), E(MiB, MiB, MEMMAP_RESERVED),
				      E(4 * GiB, GiB, MEMMAP_UNUSABLE)};

	CHECK_EQ(pmm_metadata_size(NULL, 0), 0);
	CHECK_EQ(pmm_init(&pm, NULL, 0, NULL, 0, &ops, &rep), -ENOMEM);
	CHECK_EQ(pmm_init(&pm, NULL, 0, buf, sizeof(buf), &ops, &rep), -ENOMEM);
	CHECK(load(none, ARRAY_SIZE(none)));
	CHECK_EQ(pmm_metadata_size(map, nmap), 0);
	CHECK_EQ(pmm_init(&pm, map, nmap, NULL, 0, &ops, &rep), -ENOMEM);
	CHECK_EQ(pmm_init(&pm, map, nmap, buf, sizeof(buf), &ops, &rep), -ENOMEM);
}

/* pmm_metadata_size() of one usable range [base, base + length). */
static size_t meta_for(uint64_t base, uint64_t length)
{
	struct memmap_entry e = E(base, length, MEMMAP_USABLE);

	return pmm_metadata_size(&e, 1);
}

TEST(pmm_metadata_size_page_aligned_and_small)
{
	static const uint64_t sizes[] = {GiB, 64 * GiB};
	size_t prev = 0;

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t s = meta_for(0, sizes[i]);

		printf("# metadata for %llu GiB: %zu bytes = %.5f%% of RAM\n",
		       (unsigned long long)(sizes[i] / GiB), s,
		       100.0 * (double)s / (double)sizes[i]);
		CHECK(s > 0 && IS_ALIGNED(s, P));
		CHECK(s <= sizes[i] / 10000 + P); /* 0.01% of RAM, plus the rounding */
		CHECK(s >= sizes[i] / P / 4);	  /* at least two bits per frame */
		CHECK(s >= prev);
		prev = s;
	}
	/* Tiny maps still need whole pages. */
	CHECK_EQ(meta_for(MiB, P), P);
	CHECK_EQ(meta_for(MiB, 5 * P), P);
	CHECK(IS_ALIGNED(meta_for(0, 3 * GiB + 7 * P), P));
	/* RAM high up costs what its own span costs, not what [0, RAM) would. */
	CHECK(meta_for(8 * GiB, GiB / 2) <= GiB / 2 / 10000 + P);
	CHECK(meta_for(8 * GiB, GiB / 2) * 8 < meta_for(0, 8 * GiB + GiB / 2));
}

TEST(pmm_init_einval_without_report_hook)
{
	static uint64_t buf[1024];
	static const struct pmm_ops no_report = {0};
	struct memmap_entry raw[] = {E(MiB, MiB, MEMMAP_USABLE)};
	struct pmm before;

	CHECK(load(raw, ARRAY_SIZE(raw)));
	CHECK(pmm_metadata_size(map, nmap) <= sizeof(buf));
	memset(&pm, 0x5a, sizeof(pm));
	before = pm;
	CHECK_EQ(pmm_init(&pm, map, nmap, buf, sizeof(buf), NULL, &rep), -EINVAL);
	CHECK_EQ(pmm_init(&pm, map, nmap, buf, sizeof(buf), &no_report, &rep), -EINVAL);
	CHECK(memcmp(&pm, &before, sizeof(pm)) == 0); /* left as it was */
}

TEST(pmm_init_enospc_when_buffer_too_small)
{
	struct memmap_entry raw[] = {E(0, GiB, MEMMAP_USABLE)};
	size_t need;
	void *small;
	struct pmm_stats s;

	CHECK(load(raw, ARRAY_SIZE(raw)));
	need = pmm_metadata_size(map, nmap);
	CHECK(need > 2 * 8);
	CHECK_EQ(pmm_init(&pm, map, nmap, NULL, 0, &ops, &rep), -ENOSPC);
	small = malloc(8); /* ASan catches any write into a refused buffer */
	CHECK_EQ(pmm_init(&pm, map, nmap, small, 8, &ops, &rep), -ENOSPC);
	free(small);
	small = malloc(need / 2);
	CHECK_EQ(pmm_init(&pm, map, nmap, small, need / 2, &ops, &rep), -ENOSPC);
	free(small);

	/* A bigger buffer than needed is fine. */
	free(meta);
	meta_size = need + 3 * P;
	meta = malloc(meta_size);
	memset(meta, 0xff, meta_size);
	CHECK_EQ(pmm_init(&pm, map, nmap, meta, meta_size, &ops, &rep), 0);
	CHECK(pmm_check(&pm));

	CHECK_EQ(init_map(), 0);
	CHECK(pmm_check(&pm));
	s = stats();
	CHECK_EQ(s.span_frames, FRAMES_1G);
	CHECK(s.metadata_bytes > 0 && s.metadata_bytes <= need);
	CHECK(s.metadata_bytes >= 2 * FRAMES_1G / 8);
	CHECK_EQ(s.managed_frames, 0);
	CHECK_EQ(s.free_frames, 0);
}

TEST(pmm_init_reserves_everything)
{
	struct memmap_entry raw[] = {
	    E(0, 640 * KiB, MEMMAP_USABLE),	  E(640 * KiB, 384 * KiB, MEMMAP_RESERVED),
	    E(MiB, 31 * MiB, MEMMAP_USABLE),	  E(32 * MiB, MiB, MEMMAP_ACPI_RECLAIM),
	    E(33 * MiB, 31 * MiB, MEMMAP_USABLE), E(3 * GiB, GiB, MEMMAP_MMIO)};
	struct pmm_stats s;
	uint64_t end;

	SETUP(raw);
	s = stats();
	end = s.span_frames * P;
	CHECK_EQ(s.managed_frames, 0);
	CHECK_EQ(s.free_frames, 0);
	CHECK(end >= 64 * MiB && end <= GiB);
	CHECK_EQ(pm.base_frame, 0);
	CHECK_EQ(pmm_alloc(&pm), INVALID);
	CHECK_EQ(pmm_alloc_run(&pm, 1, P), INVALID);
	for (uint64_t a = 0; a < 64 * MiB; a += P)
		CHECK_EQ(state(a), PMM_FRAME_RESERVED);
	CHECK_EQ(state(0x1234), PMM_FRAME_RESERVED);
	CHECK_EQ(state(end - 1), PMM_FRAME_RESERVED);
	CHECK_EQ(state(end), PMM_FRAME_OUTSIDE);
	CHECK_EQ(state(3 * GiB + GiB / 2), PMM_FRAME_OUTSIDE);
	CHECK_EQ(state(UINT64_MAX - P), PMM_FRAME_OUTSIDE);
	CHECK_EQ(state(PADDR_INVALID), PMM_FRAME_OUTSIDE);
	CHECK_FREE_REFUSED(MiB, -EPERM);
	CHECK_FREE_REFUSED(640 * KiB, -EPERM);
	CHECK(pmm_check(&pm));
}

/* --- release and single frames ---------------------------------------------------- */

TEST(pmm_release_then_alloc_lowest_first)
{
	struct memmap_entry raw[] = {E(0, MiB + 5 * P, MEMMAP_USABLE)};
	static paddr_t order[260];
	const uint64_t n = 260; /* 261 frames; frame 0 never counts */

	SETUP(raw);
	CHECK_EQ(pmm_release(&pm, 0, MiB + 5 * P), 0);
	CHECK_EQ(stats().managed_frames, n);
	CHECK_EQ(stats().free_frames, n);
	CHECK_EQ(state(0), PMM_FRAME_RESERVED);
	CHECK_EQ(state(P), PMM_FRAME_FREE);
	CHECK_EQ(state(MiB + 4 * P), PMM_FRAME_FREE);
	CHECK(pmm_check(&pm));

	for (uint64_t i = 1; i <= n; i++) {
		CHECK_EQ(pmm_alloc(&pm), i * P);
		CHECK_EQ(state(i * P), PMM_FRAME_ALLOCATED);
		CHECK_EQ(stats().free_frames, n - i);
		CHECK(pmm_check(&pm));
	}
	CHECK_EQ(pmm_alloc(&pm), INVALID);
	CHECK_EQ(pmm_alloc(&pm), INVALID);
	CHECK_EQ(pmm_alloc_run(&pm, 1, P), INVALID);
	CHECK_EQ(stats().managed_frames, n);

	/* The lowest free frame always comes first. */
	CHECK_FREED(pmm_free(&pm, 10 * P));
	CHECK_EQ(state(10 * P), PMM_FRAME_FREE);
	CHECK_EQ(pmm_alloc(&pm), 10 * P);
	CHECK_FREED(pmm_free(&pm, 200 * P));
	CHECK_FREED(pmm_free(&pm, 7 * P));
	CHECK_FREED(pmm_free(&pm, MiB + 4 * P));
	CHECK_EQ(pmm_alloc(&pm), 7 * P);
	CHECK_EQ(pmm_alloc(&pm), 200 * P);
	CHECK_EQ(pmm_alloc(&pm), MiB + 4 * P);
	CHECK_EQ(pmm_alloc(&pm), INVALID);
	CHECK_FREE_REFUSED(0, -EPERM);

	/* Free everything in a shuffled order. */
	for (uint64_t i = 0; i < n; i++)
		order[i] = (i + 1) * P;
	rng_state = 7;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rng() % (i + 1);
		paddr_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (uint64_t i = 0; i < n; i++) {
		CHECK_FREED(pmm_free(&pm, order[i]));
		CHECK_EQ(stats().free_frames, i + 1);
		CHECK(pmm_check(&pm));
	}
	CHECK_EQ(stats().free_frames, n);
	CHECK(run_is(P, n, PMM_FRAME_FREE));
	CHECK_EQ(pmm_alloc(&pm), P);

	/* pmm_init() again starts over with everything reserved. */
	CHECK_EQ(init_map(), 0);
	CHECK_EQ(stats().managed_frames, 0);
	CHECK_EQ(pmm_alloc(&pm), INVALID);
	CHECK_EQ(state(P), PMM_FRAME_RESERVED);
	CHECK(pmm_check(&pm));
}

TEST(pmm_release_skips_frame_0)
{
	struct memmap_entry raw[] = {E(0, 64 * P, MEMMAP_USABLE)};

	SETUP(raw);
	/* [0, P) is only frame 0: nothing to make allocatable, not an error. */
	CHECK_EQ(pmm_release(&pm, 0, P), 0);
	CHECK_EQ(stats().managed_frames, 0);
	CHECK_EQ(state(0), PMM_FRAME_RESERVED);
	CHECK_EQ(pmm_release(&pm, 0, 64 * P), 0);
	CHECK_EQ(stats().managed_frames, 63);
	CHECK_EQ(state(0), PMM_FRAME_RESERVED);
	CHECK_EQ(state(P), PMM_FRAME_FREE);
	CHECK(pmm_check(&pm));
	CHECK_FREE_REFUSED(0, -EPERM);
	CHECK_NO_RUN(64, P);
	CHECK_RUN(63, P, P);
	CHECK_EQ(pmm_alloc(&pm), INVALID);
	CHECK_EQ(state(0), PMM_FRAME_RESERVED);
}

TEST(pmm_release_only_the_given_range)
{
	struct memmap_entry raw[] = {E(0, 4 * MiB, MEMMAP_USABLE)};

	SETUP(raw);
	CHECK_EQ(pmm_release(&pm, MiB, MiB), 0);
	CHECK_EQ(stats().managed_frames, 256);
	CHECK_EQ(state(MiB - P), PMM_FRAME_RESERVED);
	CHECK_EQ(state(2 * MiB), PMM_FRAME_RESERVED);
	for (uint64_t i = 0; i < 256; i++)
		CHECK_EQ(pmm_alloc(&pm), MiB + i * P);
	CHECK_EQ(pmm_alloc(&pm), INVALID);
	CHECK_FREE_REFUSED(3 * MiB, -EPERM);
	CHECK_FREE_REFUSED(MiB - P, -EPERM);
	CHECK_FREE_REFUSED(2 * MiB, -EPERM);
	CHECK(pmm_check(&pm));
}

TEST(pmm_release_rejects_bad_ranges)
{
	struct memmap_entry raw[] = {E(0, 4 * MiB, MEMMAP_USABLE)};
	const uint64_t top = UINT64_MAX & ~PAGE_MASK;
	uint64_t end;

	SETUP(raw);
	end = stats().span_frames * P;
	CHECK(end >= 4 * MiB);
	CHECK_UNCHANGED(pmm_release(&pm, P + 1, P), -EINVAL);
	CHECK_UNCHANGED(pmm_release(&pm, P + 2048, P), -EINVAL);
	CHECK_UNCHANGED(pmm_release(&pm, P, P + 1), -EINVAL);
	CHECK_UNCHANGED(pmm_release(&pm, P, 2048), -EINVAL);
	CHECK_UNCHANGED(pmm_release(&pm, P, 0), -EINVAL);
	CHECK_UNCHANGED(pmm_release(&pm, 0, 0), -EINVAL);
	CHECK_UNCHANGED(pmm_release(&pm, end, P), -EINVAL);
	CHECK_UNCHANGED(pmm_release(&pm, end - P, 2 * P), -EINVAL);
	CHECK_UNCHANGED(pmm_release(&pm, 0, end + P), -EINVAL);
	CHECK_UNCHANGED(pmm_release(&pm, 4 * GiB, P), -EINVAL);
	CHECK_UNCHANGED(pmm_release(&pm, P, top), -EINVAL);	/* wraps */
	CHECK_UNCHANGED(pmm_release(&pm, top, 2 * P), -EINVAL); /* wraps */
	CHECK_UNCHANGED(pmm_release(&pm, top, P), -EINVAL);	/* far outside */
	CHECK_UNCHANGED(pmm_release(&pm, PADDR_INVALID, P), -EINVAL);
	CHECK_EQ(stats().managed_frames, 0);
	CHECK(run_is(0, end / P, PMM_FRAME_RESERVED));

	/* The last frame of the span is a fine range of its own. */
	CHECK_EQ(pmm_release(&pm, end - P, P), 0);
	CHECK_EQ(state(end - P), PMM_FRAME_FREE);

	/* Overlapping anything already allocatable: -EEXIST, nothing changes. */
	CHECK_EQ(pmm_release(&pm, P, 15 * P), 0);
	CHECK_UNCHANGED(pmm_release(&pm, 15 * P, 5 * P), -EEXIST);
	CHECK(run_is(16 * P, 4, PMM_FRAME_RESERVED));
	CHECK_UNCHANGED(pmm_release(&pm, 0, 2 * P), -EEXIST);
	CHECK_UNCHANGED(pmm_release(&pm, 2 * P, P), -EEXIST);
	CHECK_UNCHANGED(pmm_release(&pm, P, 15 * P), -EEXIST);
	CHECK_UNCHANGED(pmm_release(&pm, 0, 64 * P), -EEXIST);
	CHECK_UNCHANGED(pmm_release(&pm, 0, end), -EEXIST);
	CHECK_UNCHANGED(pmm_release(&pm, end - 2 * P, 2 * P), -EEXIST);
	CHECK(run_is(16 * P, end / P - 17, PMM_FRAME_RESERVED));
	/* An allocated frame is still allocatable: -EEXIST too. */
	CHECK_EQ(pmm_alloc(&pm), P);
	CHECK_UNCHANGED(pmm_release(&pm, P, P), -EEXIST);
	CHECK_EQ(state(P), PMM_FRAME_ALLOCATED);
	/* Right next to a released range is fine. */
	CHECK_EQ(pmm_release(&pm, 16 * P, 4 * P), 0);
	CHECK_EQ(stats().managed_frames, 20);
	CHECK_EQ(stats().free_frames, 19);
	CHECK(pmm_check(&pm));
}

TEST(pmm_free_refusals_change_nothing)
{
	struct memmap_entry raw[] = {E(0, MiB, MEMMAP_USABLE), E(MiB, MiB, MEMMAP_KERNEL),
				     E(2 * MiB, 2 * MiB, MEMMAP_USABLE)};
	unsigned reports0;
	uint64_t end;
	paddr_t a, b;

	SETUP(raw);
	CHECK(release_type(MEMMAP_USABLE));
	end = stats().span_frames * P;
	reports0 = rep.count;
	a = pmm_alloc(&pm);
	CHECK_EQ(a, P);
	CHECK_FREED(pmm_free(&pm, a));
	CHECK_FREE_REFUSED(a, -EALREADY); /* double free */
	CHECK_EQ(state(a), PMM_FRAME_FREE);
	b = pmm_alloc(&pm);
	CHECK_EQ(b, P);

	CHECK_FREE_REFUSED(MiB, -EPERM); /* the kernel image: never released */
	CHECK_FREE_REFUSED(2 * MiB - P, -EPERM);
	CHECK_FREE_REFUSED(0, -EPERM);
	CHECK_FREE_REFUSED(3 * MiB, -EALREADY); /* released, never handed out */
	CHECK_FREE_REFUSED(end, -EINVAL);
	CHECK_FREE_REFUSED(8 * GiB, -EINVAL);
	CHECK_FREE_REFUSED(UINT64_MAX & ~PAGE_MASK, -EINVAL);
	CHECK_REFUSED(pmm_free(&pm, PADDR_INVALID), -EINVAL);
	CHECK_REFUSED(pmm_free(&pm, b + 1), -EINVAL);
	CHECK(rep.pa == b + 1 || rep.pa == b);
	CHECK_REFUSED(pmm_free(&pm, b + 2048), -EINVAL);
	CHECK(rep.pa == b + 2048 || rep.pa == b);
	CHECK_REFUSED(pmm_free(&pm, MiB + 8), -EINVAL);
	CHECK_EQ(rep.count, reports0 + 12);

	CHECK_EQ(state(b), PMM_FRAME_ALLOCATED);
	CHECK_EQ(state(MiB), PMM_FRAME_RESERVED);
	CHECK_FREED(pmm_free(&pm, b));
	CHECK_EQ(stats().free_frames, stats().managed_frames);
	CHECK_EQ(rep.count, reports0 + 12);
}

TEST(pmm_frame_state_follows_a_frame)
{
	struct memmap_entry raw[] = {E(0, MiB, MEMMAP_USABLE)};

	SETUP(raw);
	CHECK_EQ(state(5 * P + 17), PMM_FRAME_RESERVED);
	CHECK_EQ(pmm_release(&pm, 4 * P, 4 * P), 0);
	CHECK_EQ(state(5 * P), PMM_FRAME_FREE);
	CHECK_EQ(state(5 * P + P - 1), PMM_FRAME_FREE);
	CHECK_RUN(4, P, 4 * P);
	CHECK_EQ(state(5 * P + 2048), PMM_FRAME_ALLOCATED);
	CHECK_FREED(pmm_free(&pm, 5 * P));
	CHECK_EQ(state(5 * P), PMM_FRAME_FREE);
	CHECK_EQ(state(4 * P), PMM_FRAME_ALLOCATED);
	CHECK_EQ(state(8 * P), PMM_FRAME_RESERVED);
}

/* --- runs ----------------------------------------------------------------------------- */

TEST(pmm_alloc_run_honours_alignment)
{
	struct memmap_entry raw[] = {E(0, 3 * GiB, MEMMAP_USABLE)};

	SETUP(raw);
	CHECK(release_type(MEMMAP_USABLE));
	CHECK_EQ(stats().managed_frames, 3 * FRAMES_1G - 1);
	CHECK_EQ(pmm_alloc(&pm), P);
	CHECK_RUN(1, 64 * KiB, 64 * KiB);
	CHECK_RUN(3, 2 * MiB, 2 * MiB);
	CHECK_RUN(1, P, 2 * P);
	CHECK_RUN(512, GiB, GiB);
	CHECK_RUN(FRAMES_1G, GiB, 2 * GiB); /* [GiB, 2 GiB) is no longer whole */
	CHECK_NO_RUN(1, GiB);		    /* frame 0 never counts */
	CHECK_RUN(2, 64 * KiB, 128 * KiB);
	CHECK_RUN(16, 64 * KiB, 192 * KiB);
	CHECK_EQ(state(192 * KiB - P), PMM_FRAME_FREE);
	CHECK_EQ(state(256 * KiB), PMM_FRAME_FREE);
	CHECK_RUN(1, 2 * MiB, 4 * MiB);
	CHECK_RUN(512, 2 * MiB, 6 * MiB);
	CHECK_EQ(state(4 * MiB + P), PMM_FRAME_FREE);
	CHECK_EQ(pmm_alloc(&pm), 3 * P);
	CHECK(pmm_check(&pm));
}

TEST(pmm_alloc_run_counts)
{
	static const uint64_t counts[] = {1, 3, 64, 65, 512, 513};
	struct memmap_entry raw[] = {E(0, 16 * MiB, MEMMAP_USABLE)};
	uint64_t next = 1, managed;

	SETUP(raw);
	CHECK(release_type(MEMMAP_USABLE));
	managed = stats().managed_frames;
	CHECK_EQ(managed, 4095);
	for (size_t i = 0; i < ARRAY_SIZE(counts); i++) {
		CHECK_RUN(counts[i], P, next * P);
		CHECK_EQ(state((next + counts[i]) * P), PMM_FRAME_FREE);
		next += counts[i];
	}
	CHECK_EQ(next, 1159);
	CHECK_RUN(512, 2 * MiB, 6 * MiB); /* 2 MiB and 4 MiB are partly taken */
	CHECK_RUN(513, 2 * MiB, 8 * MiB);
	CHECK_EQ(pmm_alloc(&pm), next * P);

	/* Give it all back. */
	CHECK_FREED(pmm_free(&pm, next * P));
	CHECK_FREED(pmm_free_run(&pm, P, next - 1));
	CHECK_FREED(pmm_free_run(&pm, 6 * MiB, 512));
	CHECK_FREED(pmm_free_run(&pm, 8 * MiB, 513));
	CHECK_EQ(stats().free_frames, managed);
	CHECK(pmm_check(&pm));
	CHECK_RUN(managed, P, P);
	CHECK_EQ(pmm_alloc(&pm), INVALID);
}

TEST(pmm_alloc_run_rejects_bad_arguments)
{
	struct memmap_entry raw[] = {E(0, 16 * MiB, MEMMAP_USABLE)};
	uint64_t managed;

	SETUP(raw);
	CHECK(release_type(MEMMAP_USABLE));
	managed = stats().managed_frames;
	CHECK_NO_RUN(0, P);
	CHECK_NO_RUN(1, 0);
	CHECK_NO_RUN(1, 1);
	CHECK_NO_RUN(1, 2048);
	CHECK_NO_RUN(1, 3 * P);
	CHECK_NO_RUN(1, 6144);
	CHECK_NO_RUN(1, P + 1);
	CHECK_NO_RUN(1, (1ull << 63) + P);
	CHECK_NO_RUN(1, UINT64_MAX);
	CHECK_NO_RUN(managed + 1, P);
	CHECK_NO_RUN(UINT64_MAX, P);
	CHECK_NO_RUN(UINT64_MAX / P + 1, P);
	CHECK_NO_RUN(1ull << 52, P);
	CHECK_NO_RUN(1, 1ull << 63); /* valid, but only 0 is that aligned here */
	CHECK_NO_RUN(1, 32 * MiB);
	CHECK_EQ(stats().free_frames, managed);
	CHECK(pmm_check(&pm));
}

TEST(pmm_alloc_run_never_crosses_reserved_or_hole)
{
	/* Free runs: [1, 64) [65, 200) [210, 300) [310, 400), split by reserved, MMIO, a hole. */
	struct memmap_entry raw[] = {
	    E(0, 64 * P, MEMMAP_USABLE),	E(64 * P, P, MEMMAP_RESERVED),
	    E(65 * P, 135 * P, MEMMAP_USABLE),	E(200 * P, 10 * P, MEMMAP_MMIO),
	    E(210 * P, 90 * P, MEMMAP_USABLE),	E(310 * P, 90 * P, MEMMAP_USABLE),
	    E(400 * P, 16 * P, MEMMAP_BOOTDATA)};

	SETUP(raw);
	CHECK(release_type(MEMMAP_USABLE));
	CHECK_EQ(stats().managed_frames, 63 + 135 + 90 + 90);
	CHECK_NO_RUN(136, P);
	CHECK_RUN(91, P, 65 * P);
	CHECK_NO_RUN(91, P);
	CHECK_RUN(64, P, 210 * P);
	CHECK_RUN(80, P, 310 * P);
	CHECK_RUN(63, P, P);
	CHECK_NO_RUN(45, P); /* left: [156, 200) [274, 300) [390, 400) */
	CHECK_RUN(44, P, 156 * P);
	CHECK_NO_RUN(27, P);
	CHECK_RUN(26, P, 274 * P);
	CHECK_NO_RUN(11, P);
	CHECK_RUN(10, P, 390 * P);
	CHECK_EQ(stats().free_frames, 0);
	CHECK_EQ(state(64 * P), PMM_FRAME_RESERVED);
	CHECK(run_is(200 * P, 10, PMM_FRAME_RESERVED));
	CHECK(run_is(300 * P, 10, PMM_FRAME_RESERVED));
	CHECK(run_is(400 * P, 16, PMM_FRAME_RESERVED));
}

TEST(pmm_alloc_run_fragmented_and_lowest)
{
	struct memmap_entry raw[] = {E(0, 8 * MiB, MEMMAP_USABLE)};
	uint64_t n;

	SETUP(raw);
	CHECK(release_type(MEMMAP_USABLE));
	n = stats().managed_frames;
	CHECK_EQ(n, 2047);
	for (uint64_t i = 1; i <= n; i++)
		CHECK_EQ(pmm_alloc(&pm), i * P);
	for (uint64_t i = 2; i <= n; i += 2)
		CHECK_FREED(pmm_free(&pm, i * P));
	CHECK(pmm_check(&pm));
	CHECK_EQ(stats().free_frames, 1023);
	CHECK_NO_RUN(2, P);
	CHECK_NO_RUN(2, 2 * P);
	CHECK_RUN(1, P, 2 * P);
	CHECK_RUN(1, 8 * P, 8 * P);
	CHECK_RUN(1, 2 * P, 4 * P);
	CHECK_FREED(pmm_free(&pm, 4 * P));
	CHECK_FREED(pmm_free(&pm, 5 * P)); /* 4, 5, 6 free */
	CHECK_RUN(2, 2 * P, 4 * P);
	CHECK_NO_RUN(2, P);
	CHECK_FREED(pmm_free(&pm, 11 * P)); /* 10, 11, 12 free */
	CHECK_NO_RUN(4, P);
	CHECK_RUN(3, P, 10 * P);
	for (uint64_t i = 1; i <= n; i += 2)
		CHECK_EQ(state(i * P), PMM_FRAME_ALLOCATED);

	/* Two free runs of 10: the lower comes first, whichever was freed last. */
	while (pmm_alloc(&pm) != INVALID)
		;
	CHECK_EQ(stats().free_frames, 0);
	CHECK_FREED(pmm_free_run(&pm, 100 * P, 10));
	CHECK_FREED(pmm_free_run(&pm, 50 * P, 10));
	CHECK_RUN(10, P, 50 * P);
	CHECK_RUN(10, P, 100 * P);
	CHECK_NO_RUN(2, P);
	CHECK(pmm_check(&pm));
}

TEST(pmm_alloc_run_fits_exactly_at_the_end)
{
	struct memmap_entry raw[] = {E(MiB, 3 * MiB, MEMMAP_USABLE)};
	struct memmap_entry raw2[] = {E(0, 100 * P, MEMMAP_USABLE)};

	SETUP(raw);
	CHECK(release_type(MEMMAP_USABLE));
	CHECK_EQ(stats().span_frames * P, 4 * MiB);
	CHECK_NO_RUN(513, 2 * MiB);
	CHECK_RUN(512, 2 * MiB, 2 * MiB); /* [2 MiB, 4 MiB): the last frame is the span's */
	CHECK_EQ(state(4 * MiB), PMM_FRAME_OUTSIDE);
	CHECK_NO_RUN(257, P);
	CHECK_RUN(256, P, MiB);
	CHECK_EQ(pmm_alloc(&pm), INVALID);
	CHECK_FREED(pmm_free(&pm, 4 * MiB - P));
	CHECK_EQ(pmm_alloc(&pm), 4 * MiB - P);

	SETUP(raw2);
	CHECK(release_type(MEMMAP_USABLE));
	CHECK_NO_RUN(100, P);
	CHECK_RUN(99, P, P);
	CHECK_EQ(pmm_alloc(&pm), INVALID);
}

TEST(pmm_free_run_all_or_nothing)
{
	struct memmap_entry raw[] = {E(0, MiB, MEMMAP_USABLE), E(MiB, 16 * P, MEMMAP_KERNEL),
				     E(MiB + 16 * P, MiB - 16 * P, MEMMAP_USABLE)};
	uint64_t end, n;
	unsigned r0;
	int rc;

	SETUP(raw);
	CHECK(release_type(MEMMAP_USABLE));
	end = stats().span_frames * P;
	CHECK_EQ(end, 2 * MiB);
	CHECK_RUN(10, P, P);
	CHECK_FREED(pmm_free(&pm, 5 * P));
	CHECK_REFUSED(pmm_free_run(&pm, P, 10), -EALREADY);
	CHECK_EQ(rep.pa, 5 * P);
	CHECK(run_is(P, 4, PMM_FRAME_ALLOCATED));
	CHECK_EQ(state(5 * P), PMM_FRAME_FREE);
	CHECK(run_is(6 * P, 5, PMM_FRAME_ALLOCATED));
	CHECK_REFUSED(pmm_free_run(&pm, 0, 3), -EPERM);
	CHECK_EQ(rep.pa, 0);
	CHECK(run_is(P, 2, PMM_FRAME_ALLOCATED));
	CHECK_REFUSED(pmm_free_run(&pm, P + 1, 1), -EINVAL);
	CHECK_REFUSED(pmm_free_run(&pm, end - P, 2), -EINVAL);
	CHECK_REFUSED(pmm_free_run(&pm, end, 1), -EINVAL);
	CHECK_REFUSED(pmm_free_run(&pm, P, UINT64_MAX), -EINVAL);
	CHECK_REFUSED(pmm_free_run(&pm, P, UINT64_MAX / P + 2), -EINVAL);
	CHECK_REFUSED(pmm_free_run(&pm, P, end / P), -EINVAL);
	/* count 0 frees nothing: either refused or a no-op, reported only if refused. */
	r0 = rep.count;
	rc = pmm_free_run(&pm, P, 0);
	CHECK(rc == 0 || rc == -EINVAL);
	CHECK_EQ(rep.count, r0 + (rc != 0));
	CHECK(run_is(P, 4, PMM_FRAME_ALLOCATED));

	CHECK_FREED(pmm_free_run(&pm, P, 4));
	CHECK_FREED(pmm_free_run(&pm, 6 * P, 5));
	CHECK_EQ(stats().free_frames, stats().managed_frames);

	/* A run reaching into the kernel image is refused whole. */
	n = stats().managed_frames;
	for (uint64_t i = 0; i < n; i++)
		CHECK(pmm_alloc(&pm) != INVALID);
	CHECK_EQ(pmm_alloc(&pm), INVALID);
	CHECK_REFUSED(pmm_free_run(&pm, MiB - 2 * P, 4), -EPERM);
	CHECK(rep.pa == MiB || rep.pa == MiB + P);
	CHECK(run_is(MiB - 2 * P, 2, PMM_FRAME_ALLOCATED));
	CHECK_REFUSED(pmm_free_run(&pm, MiB + 15 * P, 3), -EPERM);
	CHECK_EQ(rep.pa, MiB + 15 * P);
	CHECK(run_is(MiB + 16 * P, 2, PMM_FRAME_ALLOCATED));
	CHECK_FREED(pmm_free_run(&pm, MiB - 2 * P, 2));
	CHECK_FREED(pmm_free_run(&pm, MiB + 16 * P, 2));
	CHECK_EQ(stats().free_frames, 4);
	CHECK(pmm_check(&pm));
}

/* --- whole maps ---------------------------------------------------------------------- */

TEST(pmm_map_with_holes)
{
	struct memmap_entry raw[] = {E(0, 640 * KiB, MEMMAP_USABLE),
				     E(640 * KiB, 384 * KiB, MEMMAP_RESERVED),
				     E(MiB, 3 * GiB - MiB, MEMMAP_USABLE),
				     E(3 * GiB, GiB, MEMMAP_MMIO), E(4 * GiB, GiB, MEMMAP_USABLE)};
	const uint64_t low = 159, mid = (3 * GiB - MiB) / P;

	SETUP(raw);
	CHECK_EQ(stats().span_frames * P, 5 * GiB);
	CHECK(meta_size <= 5 * GiB / 10000 + P);
	CHECK_EQ(state(640 * KiB), PMM_FRAME_RESERVED);
	CHECK_EQ(state(3 * GiB + GiB / 2), PMM_FRAME_RESERVED);
	CHECK_EQ(state(5 * GiB - P), PMM_FRAME_RESERVED);
	CHECK_EQ(state(5 * GiB), PMM_FRAME_OUTSIDE);
	CHECK(release_type(MEMMAP_USABLE));
	CHECK_EQ(stats().managed_frames, low + mid + FRAMES_1G);
	CHECK_EQ(state(640 * KiB - P), PMM_FRAME_FREE);
	CHECK_EQ(state(640 * KiB), PMM_FRAME_RESERVED);
	CHECK_EQ(state(3 * GiB), PMM_FRAME_RESERVED);
	CHECK_EQ(state(4 * GiB), PMM_FRAME_FREE);
	CHECK_FREE_REFUSED(3 * GiB + GiB / 2, -EPERM);
	CHECK_FREE_REFUSED(768 * KiB, -EPERM);
	CHECK_FREE_REFUSED(5 * GiB, -EINVAL);
	CHECK_UNCHANGED(pmm_release(&pm, 5 * GiB, P), -EINVAL);
	CHECK_UNCHANGED(pmm_release(&pm, 4 * GiB, GiB + P), -EINVAL);

	CHECK_EQ(pmm_alloc(&pm), P);
	CHECK_RUN(1, 4 * GiB, 4 * GiB); /* physical alignment, beyond the 1 GiB base */
	CHECK_NO_RUN(1, 4 * GiB);
	CHECK_NO_RUN(mid + 1, P); /* only by crossing the MMIO hole */
	CHECK_RUN(mid, P, MiB);
	CHECK_NO_RUN(FRAMES_1G, P);
	CHECK_RUN(FRAMES_1G - 1, P, 4 * GiB + P); /* up to the very end */
	for (uint64_t i = 2; i <= low; i++)
		CHECK_EQ(pmm_alloc(&pm), i * P);
	CHECK_EQ(pmm_alloc(&pm), INVALID);
	CHECK_EQ(stats().free_frames, 0);
	CHECK_FREED(pmm_free_run(&pm, MiB, mid));
	CHECK_EQ(stats().free_frames, mid);
	CHECK(pmm_check(&pm));
	CHECK_RUN(512, GiB, GiB);
	CHECK_RUN(FRAMES_1G, GiB, 2 * GiB);
	CHECK_NO_RUN(2 * FRAMES_1G, P);
	CHECK(pmm_check(&pm));
}

TEST(pmm_map_with_only_high_ram)
{
	struct memmap_entry raw[] = {E(0, MiB, MEMMAP_RESERVED), E(0xfee00000, P, MEMMAP_MMIO),
				     E(8 * GiB, GiB / 2, MEMMAP_USABLE)};
	const uint64_t n = GiB / 2 / P;

	SETUP(raw);
	CHECK_EQ(pm.base_frame % FRAMES_1G, 0);
	CHECK_EQ(pm.base_frame, 8 * FRAMES_1G);
	CHECK_EQ(stats().span_frames, n);
	CHECK(meta_size <= GiB / 2 / 10000 + P);
	CHECK_EQ(state(0), PMM_FRAME_OUTSIDE);
	CHECK_EQ(state(4 * GiB), PMM_FRAME_OUTSIDE);
	CHECK_EQ(state(8 * GiB - P), PMM_FRAME_OUTSIDE);
	CHECK_EQ(state(8 * GiB), PMM_FRAME_RESERVED);
	CHECK_EQ(state(8 * GiB + GiB / 2 - P), PMM_FRAME_RESERVED);
	CHECK_EQ(state(8 * GiB + GiB / 2), PMM_FRAME_OUTSIDE);
	CHECK_FREE_REFUSED(0, -EINVAL);
	CHECK_FREE_REFUSED(8 * GiB - P, -EINVAL);
	CHECK_FREE_REFUSED(8 * GiB, -EPERM);
	CHECK_UNCHANGED(pmm_release(&pm, 0, P), -EINVAL);
	CHECK_UNCHANGED(pmm_release(&pm, 8 * GiB - P, 2 * P), -EINVAL);

	CHECK(release_type(MEMMAP_USABLE));
	CHECK_EQ(stats().managed_frames, n); /* no frame 0 to skip up here */
	CHECK_EQ(pmm_alloc(&pm), 8 * GiB);
	CHECK_NO_RUN(1, GiB);
	CHECK_RUN(1, 2 * MiB, 8 * GiB + 2 * MiB);
	CHECK_FREED(pmm_free(&pm, 8 * GiB));
	CHECK_FREED(pmm_free(&pm, 8 * GiB + 2 * MiB));
	CHECK_NO_RUN(n + 1, P);
	CHECK_NO_RUN(1, 16 * GiB);
	CHECK_RUN(n, GiB, 8 * GiB);
	CHECK_EQ(pmm_alloc(&pm), INVALID);
	CHECK_FREED(pmm_free_run(&pm, 8 * GiB, n));
	CHECK_RUN(1, 8 * GiB, 8 * GiB);
	CHECK(pmm_check(&pm));
}

TEST(pmm_hands_out_only_released_types)
{
	struct memmap_entry raw[MEMMAP_TYPE_COUNT];
	uint64_t got = 0;
	paddr_t pa;

	/* Type t at [64(t-1), 64t) frames for every type, then usable again. */
	for (uint32_t t = MEMMAP_USABLE; t < MEMMAP_TYPE_COUNT; t++)
		raw[t - 1] = E((t - 1) * 64 * P, 64 * P, t);
	raw[MEMMAP_TYPE_COUNT - 1] = E((MEMMAP_TYPE_COUNT - 1) * 64 * P, 64 * P, MEMMAP_USABLE);
	SETUP(raw);
	CHECK_EQ(nmap, MEMMAP_TYPE_COUNT);
	CHECK(stats().span_frames >= MEMMAP_TYPE_COUNT * 64);

	CHECK(release_type(MEMMAP_USABLE));
	while ((pa = pmm_alloc(&pm)) != INVALID) {
		CHECK_EQ(type_at(pa), MEMMAP_USABLE);
		got++;
	}
	CHECK_EQ(got, 63 + 64);
	CHECK_FREE_REFUSED(6 * 64 * P, -EPERM);			    /* kernel */
	CHECK_FREE_REFUSED((MEMMAP_ACPI_NVS - 1) * 64 * P, -EPERM); /* ACPI NVS */
	CHECK_FREE_REFUSED((MEMMAP_MMIO - 1) * 64 * P + P, -EPERM); /* inside the span */

	CHECK(release_type(MEMMAP_BOOT_SERVICES));
	CHECK(release_type(MEMMAP_LOADER));
	got = 0;
	while ((pa = pmm_alloc(&pm)) != INVALID) {
		CHECK(type_at(pa) == MEMMAP_BOOT_SERVICES || type_at(pa) == MEMMAP_LOADER);
		got++;
	}
	CHECK_EQ(got, 128);
	for (uint32_t t = MEMMAP_ACPI_RECLAIM; t < MEMMAP_TYPE_COUNT; t++)
		CHECK(run_is((t - 1) * 64 * P, 64, PMM_FRAME_RESERVED));
	CHECK_EQ(stats().managed_frames, 63 + 64 + 128);
	CHECK(pmm_check(&pm));
}

TEST(pmm_64_gib)
{
	struct memmap_entry raw[] = {E(0, 64 * GiB, MEMMAP_USABLE)};
	struct pmm_stats s;

	SETUP(raw);
	s = stats();
	CHECK_EQ(s.span_frames, 64 * FRAMES_1G);
	CHECK(meta_size <= 64 * GiB / 10000 + P);
	CHECK(s.metadata_bytes <= meta_size);
	CHECK(release_type(MEMMAP_USABLE));
	CHECK_EQ(stats().managed_frames, 64 * FRAMES_1G - 1);
	CHECK(pmm_check(&pm));
	CHECK_EQ(pmm_alloc(&pm), P);
	CHECK_EQ(state(64 * GiB - P), PMM_FRAME_FREE);
	CHECK_EQ(state(64 * GiB), PMM_FRAME_OUTSIDE);
	/* Whole GiBs, the last ending exactly at the end of memory. */
	for (uint64_t g = 1; g < 64; g++)
		CHECK_EQ(pmm_alloc_run(&pm, FRAMES_1G, GiB), g * GiB);
	CHECK_EQ(state(64 * GiB - P), PMM_FRAME_ALLOCATED);
	CHECK_NO_RUN(1, GiB);
	CHECK_NO_RUN(FRAMES_1G, P);
	CHECK_EQ(pmm_alloc(&pm), 2 * P);
	CHECK_EQ(stats().free_frames, FRAMES_1G - 3);
	CHECK(pmm_check(&pm));
	CHECK_FREED(pmm_free_run(&pm, 63 * GiB, FRAMES_1G));
	CHECK_EQ(state(64 * GiB - P), PMM_FRAME_FREE);
	CHECK_REFUSED(pmm_free_run(&pm, 63 * GiB, FRAMES_1G), -EALREADY);
	CHECK_EQ(pmm_alloc_run(&pm, FRAMES_1G, GiB), 63 * GiB);
	CHECK(pmm_check(&pm));
}

/* --- random maps and operations against a reference model --------------------------------- */

/* The model: one state per frame of the span [base, base + n), counters, a hint. */
static struct {
	uint64_t base, n;
	uint8_t *st; /* enum pmm_frame_state */
	uint64_t managed, free;
	uint64_t lo; /* no free frame below this index */
} m;

static unsigned refusals; /* refused frees so far, by the model */

static enum pmm_frame_state m_state(paddr_t pa)
{
	uint64_t f = pa >> PAGE_SHIFT;

	if (f < m.base || f - m.base >= m.n)
		return PMM_FRAME_OUTSIDE;
	return m.st[f - m.base];
}

/* Index of count frames from pa in the span, or -1 if misaligned, empty, outside or wrapping. */
static int64_t m_range(paddr_t pa, uint64_t count)
{
	uint64_t f = pa >> PAGE_SHIFT;

	if (!IS_ALIGNED(pa, P) || count == 0 || f < m.base || f - m.base >= m.n ||
	    count > m.n - (f - m.base))
		return -1;
	return (int64_t)(f - m.base);
}

static int m_release(paddr_t pa, uint64_t len)
{
	int64_t i = IS_ALIGNED(len, P) ? m_range(pa, len / P) : -1;

	if (i < 0)
		return -EINVAL;
	for (uint64_t j = (uint64_t)i; j < (uint64_t)i + len / P; j++)
		if (m.st[j] == PMM_FRAME_FREE || m.st[j] == PMM_FRAME_ALLOCATED)
			return -EEXIST;
	for (uint64_t j = (uint64_t)i; j < (uint64_t)i + len / P; j++) {
		if (m.base + j == 0)
			continue;
		m.st[j] = PMM_FRAME_FREE;
		m.managed++;
		m.free++;
		m.lo = MIN(m.lo, j);
	}
	return 0;
}

static paddr_t m_alloc_run(uint64_t count, uint64_t align)
{
	uint64_t run = 0, al;

	if (count == 0 || align < P || (align & (align - 1)))
		return INVALID;
	al = align / P;
	for (uint64_t j = m.lo; j < m.n; j++) {
		run = m.st[j] == PMM_FRAME_FREE ? run + 1 : 0;
		if (run >= count && (m.base + j + 1 - count) % al == 0) {
			for (uint64_t k = j + 1 - count; k <= j; k++)
				m.st[k] = PMM_FRAME_ALLOCATED;
			m.free -= count;
			return (m.base + j + 1 - count) * P;
		}
	}
	return INVALID;
}

static paddr_t m_alloc(void)
{
	while (m.lo < m.n && m.st[m.lo] != PMM_FRAME_FREE)
		m.lo++;
	return m_alloc_run(1, P);
}

/*
 * What freeing count frames from pa must return, applied if 0. A run with
 * both a reserved and a free frame may be refused for either: *either is
 * then the other error.
 */
static int m_free_run(paddr_t pa, uint64_t count, int *either)
{
	int64_t i = m_range(pa, count);
	bool perm = false, already = false;

	*either = 0;
	if (i < 0)
		return -EINVAL;
	for (uint64_t j = (uint64_t)i; j < (uint64_t)i + count; j++) {
		perm |= m.st[j] == PMM_FRAME_RESERVED;
		already |= m.st[j] == PMM_FRAME_FREE;
	}
	if (perm && already)
		*either = -EALREADY;
	if (perm)
		return -EPERM;
	if (already)
		return -EALREADY;
	for (uint64_t j = (uint64_t)i; j < (uint64_t)i + count; j++)
		m.st[j] = PMM_FRAME_FREE;
	m.free += count;
	m.lo = MIN(m.lo, (uint64_t)i);
	return 0;
}

/* A random raw map of up to 24 entries in a 24 MiB window at one of a few places. */
static size_t random_raw(struct memmap_entry *raw)
{
	static const uint64_t where[] = {0, GiB, 7 * GiB, 64 * GiB + GiB / 2};
	uint64_t off = where[rng() % ARRAY_SIZE(where)], window = 24 * MiB;
	size_t n = 1 + rng() % 24;

	for (size_t i = 0; i < n; i++) {
		uint64_t r = rng();

		raw[i].base = off + rng() % window;
		if (r & 1)
			raw[i].base &= ~PAGE_MASK;
		switch ((r >> 1) % 4) {
		case 0:
			raw[i].length = rng() % (2 * P);
			break;
		case 1:
			raw[i].length = (rng() % 64) * P + ((r >> 8) & 1 ? rng() % P : 0);
			break;
		case 2:
			raw[i].length = rng() % (2 * MiB);
			break;
		default:
			raw[i].length = rng() % (window / 2);
			break;
		}
		raw[i].type = (r >> 16) % 3 ? MEMMAP_USABLE : (uint32_t)((r >> 20) % 16);
		raw[i].reserved = 0;
	}
	return n;
}

/* A random frame address in or near the span, sometimes misaligned. */
static paddr_t random_addr(void)
{
	uint64_t r = rng(), f = m.base + rng() % (m.n + 8);
	paddr_t pa;

	if (r % 16 == 0 && m.base >= 4)
		f = m.base - 1 - rng() % 4;
	pa = f * P;
	if ((r >> 4) % 8 == 0)
		pa += 1 + rng() % (P - 1);
	if ((r >> 8) % 64 == 0)
		pa = (r >> 16) % 2 ? PADDR_INVALID : 0;
	return pa;
}

/* A random allocated frame, or PADDR_INVALID if there is none. */
static paddr_t random_allocated(void)
{
	uint64_t start = rng() % m.n;

	for (uint64_t k = 0; k < m.n; k++) {
		uint64_t j = (start + k) % m.n;

		if (m.st[j] == PMM_FRAME_ALLOCATED)
			return (m.base + j) * P;
	}
	return INVALID;
}

static bool same_as_model(void)
{
	struct pmm_stats s = stats();

	return s.span_frames == m.n && s.managed_frames == m.managed && s.free_frames == m.free &&
	       rep.count == refusals;
}

static bool all_states_match(void)
{
	for (uint64_t j = 0; j < m.n; j++)
		if (state((m.base + j) * P) != m.st[j])
			return false;
	return state((m.base + m.n) * P) == PMM_FRAME_OUTSIDE &&
	       (m.base == 0 || state((m.base - 1) * P) == PMM_FRAME_OUTSIDE);
}

/* One random operation on both; false on any disagreement. */
static bool random_step(void)
{
	uint64_t r = rng() % 100, count, align;
	paddr_t pa, want;
	int rc, exp, either;

	if (r < 35) {
		want = m_alloc();
		return pmm_alloc(&pm) == want;
	}
	if (r < 50) {
		count = 1 + rng() % (r & 1 ? 8 : 600);
		align = P << (rng() % 14);
		if (r % 7 == 0) /* bad arguments now and then */
			align = rng() % (2 * P);
		want = m_alloc_run(count, align);
		return pmm_alloc_run(&pm, count, align) == want;
	}
	if (r < 78) {
		pa = random_allocated();
		if (pa == INVALID)
			return pmm_alloc(&pm) == m_alloc();
		exp = m_free_run(pa, 1, &either);
		return exp == 0 && pmm_free(&pm, pa) == 0;
	}
	if (r < 88) {
		pa = random_addr();
		exp = m_free_run(pa, 1, &either);
		refusals += exp != 0;
		rc = pmm_free(&pm, pa);
		if (rc != exp)
			return false;
		return exp == 0 || rep.pa == pa || rep.pa == ALIGN_DOWN(pa, P);
	}
	if (r < 96) {
		pa = r % 2 ? random_allocated() : random_addr();
		if (pa == INVALID)
			pa = random_addr();
		count = 1 + rng() % 40;
		exp = m_free_run(pa, count, &either);
		refusals += exp != 0;
		rc = pmm_free_run(&pm, pa, count);
		if (rc != exp && !(either && rc == either))
			return false;
		/* A refusal names the offending frame (or pa itself if the range is bad). */
		return rc == 0 || rc == -EINVAL ||
		       (rep.pa >= pa && rep.pa - pa < count * P &&
			m_state(rep.pa) == (rc == -EPERM ? PMM_FRAME_RESERVED : PMM_FRAME_FREE));
	}
	pa = random_addr();
	count = rng() % 4 ? (1 + rng() % 64) * P : rng() % (64 * P);
	exp = m_release(pa, count);
	return pmm_release(&pm, pa, count) == exp;
}

TEST(pmm_random_against_model)
{
	static struct memmap_entry raw[24];
	unsigned steps = 0;

	for (int round = 0; round < 40; round++) {
		size_t n;
		uint64_t lo = UINT64_MAX, hi = 0, ram_lo = UINT64_MAX, ram_hi = 0;
		int rc;

		rng_state = 0x5eed0000ull + (uint64_t)round;
		n = random_raw(raw);
		CHECK(load(raw, n));
		for (size_t i = 0; i < nmap; i++) {
			uint64_t b = map[i].base, e = b + map[i].length;

			if (map[i].type >= MEMMAP_USABLE && map[i].type <= MEMMAP_KERNEL)
				lo = MIN(lo, b), hi = MAX(hi, e); /* what a caller may release */
			if (memmap_type_is_ram(map[i].type))
				ram_lo = MIN(ram_lo, b), ram_hi = MAX(ram_hi, e);
		}
		rc = init_map();
		if (ram_hi == 0) {
			CHECK_EQ(meta_size, 0);
			CHECK_EQ(rc, -ENOMEM);
			continue;
		}
		if (hi == 0 && rc == -ENOMEM) /* only firmware-owned RAM: may be untracked */
			continue;
		CHECK_EQ(rc, 0);
		CHECK(pmm_check(&pm));

		/* The span: from a 1 GiB boundary, covering everything releasable. */
		CHECK_EQ(pm.base_frame % FRAMES_1G, 0);
		CHECK(pm.base_frame * P >= ALIGN_DOWN(ram_lo, GiB));
		CHECK(pm.base_frame * P <= MIN(lo, ram_hi));
		CHECK(hi == 0 || (pm.base_frame + pm.nframes) * P >= hi);
		CHECK((pm.base_frame + pm.nframes) * P <= ALIGN_UP(ram_hi, GiB));
		m.base = pm.base_frame;
		m.n = pm.nframes;
		free(m.st);
		m.st = malloc(m.n);
		memset(m.st, PMM_FRAME_RESERVED, m.n);
		m.managed = m.free = 0;
		m.lo = m.n;
		refusals = rep.count;
		CHECK(all_states_match());

		for (size_t i = 0; i < nmap; i++) {
			uint32_t t = map[i].type;

			if (t == MEMMAP_USABLE ||
			    ((t == MEMMAP_BOOT_SERVICES || t == MEMMAP_LOADER ||
			      t == MEMMAP_ACPI_RECLAIM) &&
			     rng() % 2)) {
				CHECK_EQ(m_release(map[i].base, map[i].length), 0);
				CHECK_EQ(pmm_release(&pm, map[i].base, map[i].length), 0);
			}
		}
		CHECK(same_as_model());
		CHECK(pmm_check(&pm));
		for (int s = 0; s < 1500; s++, steps++) {
			CHECK(random_step());
			CHECK(same_as_model());
			CHECK(pmm_check(&pm));
			if (s % 256 == 0)
				CHECK(all_states_match());
		}
		CHECK(all_states_match());
	}
	printf("# %u random steps\n", steps);
	free(m.st);
	m.st = NULL;
}

int main(void)
{
	RUN(pmm_metadata_size_zero_without_ram);
	RUN(pmm_metadata_size_page_aligned_and_small);
	RUN(pmm_init_einval_without_report_hook);
	RUN(pmm_init_enospc_when_buffer_too_small);
	RUN(pmm_init_reserves_everything);
	RUN(pmm_release_then_alloc_lowest_first);
	RUN(pmm_release_skips_frame_0);
	RUN(pmm_release_only_the_given_range);
	RUN(pmm_release_rejects_bad_ranges);
	RUN(pmm_free_refusals_change_nothing);
	RUN(pmm_frame_state_follows_a_frame);
	RUN(pmm_alloc_run_honours_alignment);
	RUN(pmm_alloc_run_counts);
	RUN(pmm_alloc_run_rejects_bad_arguments);
	RUN(pmm_alloc_run_never_crosses_reserved_or_hole);
	RUN(pmm_alloc_run_fragmented_and_lowest);
	RUN(pmm_alloc_run_fits_exactly_at_the_end);
	RUN(pmm_free_run_all_or_nothing);
	RUN(pmm_map_with_holes);
	RUN(pmm_map_with_only_high_ram);
	RUN(pmm_hands_out_only_released_types);
	RUN(pmm_64_gib);
	RUN(pmm_random_against_model);
	free(meta);
	return check_done();
}
