/*
 * The "pmm" bench suite: times mm/pmm.c over simulated PC memory maps from
 * 1 GiB to 1 TiB against the limits (alloc+free <= 2x its lock floor, flat
 * within +-20% across sizes, metadata <= 0.01% of RAM, 64 GiB init <= 5 ms),
 * next to a naive linear-scan bitmap that grows with RAM. Only the
 * allocator's metadata is real memory; frames are just numbers, never
 * touched. Its pmm instances report refused frees to count_refusal().
 */
#include "bench.h"

#include <mm/memmap.h>
#include <mm/pmm.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUITE		"pmm"
#define NSIZES		5
#define BATCH		256  /* frames per batch workload */
#define FILL_RUN	4096 /* frames per pmm_alloc_run() while filling */
#define FRAG_GAP	199  /* gaps between freed frames uniform in [1, 199]: mean 100, 1% free */
#define ROUNDS		9    /* each figure pools rounds interleaved across sizes: drifts spread */
#define ROUND_BATCHES	23   /* batches per figure per round */
#define NSAMPLES	(ROUNDS * ROUND_BATCHES)
#define RUNFRAG_BATCHES 11 /* d' costs milliseconds at 1 TiB: last round only */
#define INIT_RUNS	3  /* pmm_init + releases timed per round */
#define MAP_MAX		8

#define LIMIT_PAIR_LOCK	  2.0 /* a locked pair: at most twice its lock's round trips */
#define LIMIT_CACHE_RATIO 3.0 /* a cached pair: at most 3x an array pop+push */
#define LIMIT_FLAT	  1.20
#define LIMIT_META_PCT	  0.01
#define LIMIT_INIT_MS	  5.0
#define INIT_LIMIT_RAM	  (64 * GiB)

static const uint64_t sizes[NSIZES] = {1 * GiB, 16 * GiB, 64 * GiB, 256 * GiB, 1024 * GiB};

enum bench_case { C_EMPTY, C_BATCH, C_HALF, C_FRAG, C_RUN, C_RUNFRAG, C_REF, NCASES };

static const char *const case_names[NCASES] = {
    [C_EMPTY] = "a alloc+free, empty",	    [C_BATCH] = "b batch 256, empty",
    [C_HALF] = "a' alloc+free, half full",  [C_FRAG] = "c batch 256, full+frag",
    [C_RUN] = "d run 512 @2MiB, empty",	    [C_RUNFRAG] = "d' run 512 @2MiB, full+frag",
    [C_REF] = "ref linear scan, half full",
};

/* One simulated machine: its map, the allocator, and a fill cursor. */
struct sim {
	uint64_t ram;
	struct memmap_entry map[MAP_MAX];
	size_t n;
	void *meta;
	size_t meta_size;
	struct pmm pmm;
	size_t fill_entry;  /* the map entry being filled */
	paddr_t fill_pa;    /* next frame to allocate in it */
	uint64_t allocated; /* frames allocated by sim_fill() */
};

/* What one size measured, kept for the grouped table and the verdicts. */
struct size_result {
	bool ok;
	struct bench_result r[NCASES];
	uint64_t ops[NCASES];
	double v[NCASES][NSAMPLES]; /* ns per op of each batch, all rounds */
	unsigned nv[NCASES];
	double init_v[ROUNDS * INIT_RUNS]; /* ms */
	unsigned ninit;
	struct bench_result init_ms;
	size_t meta_bytes, meta_in_use;
	uint64_t usable, managed, frag_freed;
	double fill_ms, frag_ms;
	bool check_ok;
};

static struct size_result results[NSIZES];
static struct bench_result lock_floor; /* the reference of the locked pairs' verdicts */

/* Refused frees (each one a bench bug) and other surprises, for the verdicts. */
static uint64_t refused;
static char refused_first[128];
static struct bench_anomalies anomalies;

static void count_refusal(void *ctx, const char *reason, paddr_t pa, const void *caller)
{
	if (refused++ == 0)
		snprintf(refused_first, sizeof(refused_first), "%s at %#llx", reason,
			 (unsigned long long)pa);
}

/* ---- the simulated machine ---------------------------------------------- */

static void add_entry(struct sim *s, uint64_t base, uint64_t end, uint32_t type)
{
	s->map[s->n++] = (struct memmap_entry){base, end - base, type, 0};
}

/*
 * A PC-like normalised map with ram bytes of RAM: usable 4 KiB-640 KiB,
 * reserved to 1 MiB, usable to 3 GiB, MMIO 3-4 GiB, the rest usable above 4 GiB.
 */
static void sim_map(struct sim *s, uint64_t ram)
{
	s->ram = ram;
	s->n = 0;
	add_entry(s, 4 * KiB, 640 * KiB, MEMMAP_USABLE);
	add_entry(s, 640 * KiB, 1 * MiB, MEMMAP_RESERVED);
	add_entry(s, 1 * MiB, MIN(ram, 3 * GiB), MEMMAP_USABLE);
	if (ram > 3 * GiB) {
		add_entry(s, 3 * GiB, 4 * GiB, MEMMAP_MMIO);
		add_entry(s, 4 * GiB, 4 * GiB + ram - 3 * GiB, MEMMAP_USABLE);
	}
	if (!memmap_is_normalised(s->map, s->n))
		bench_anomaly(&anomalies, "the simulated %llu GiB map is not normalised",
			      (unsigned long long)(ram / GiB));
}

/* pmm_init() then pmm_release() of every usable entry: what the kernel does at boot. */
static int sim_boot(struct sim *s)
{
	static const struct pmm_ops ops = {.report = count_refusal};
	int err = pmm_init(&s->pmm, s->map, s->n, s->meta, s->meta_size, &ops, NULL);

	for (size_t i = 0; !err && i < s->n; i++)
		if (s->map[i].type == MEMMAP_USABLE)
			err = pmm_release(&s->pmm, s->map[i].base, s->map[i].length);
	s->fill_entry = 0;
	s->fill_pa = 0;
	s->allocated = 0;
	return err;
}

/*
 * Allocate from the bottom until target frames are allocated: runs of up to
 * FILL_RUN frames that tile each usable entry exactly (shorter at its end,
 * single pmm_alloc() for one frame), so no hole stays below the frontier.
 * The allocator hands out the lowest fit, so each run must land at the cursor.
 */
static void sim_fill(struct sim *s, uint64_t target)
{
	while (s->allocated < target && s->fill_entry < s->n) {
		const struct memmap_entry *e = &s->map[s->fill_entry];
		uint64_t end = e->base + e->length, count;
		paddr_t pa;

		if (e->type != MEMMAP_USABLE || s->fill_pa >= end) {
			s->fill_entry++;
			s->fill_pa = 0;
			continue;
		}
		s->fill_pa = MAX(s->fill_pa, MAX(e->base, PAGE_SIZE));
		count = MIN((end - s->fill_pa) / PAGE_SIZE, FILL_RUN);
		count = MIN(count, target - s->allocated);
		pa = count == 1 ? pmm_alloc(&s->pmm) : pmm_alloc_run(&s->pmm, count, PAGE_SIZE);
		if (pa != s->fill_pa) {
			bench_anomaly(&anomalies,
				      "fill: %llu frames landed at %#llx, expected %#llx",
				      (unsigned long long)count, (unsigned long long)pa,
				      (unsigned long long)s->fill_pa);
			return;
		}
		s->fill_pa += count * PAGE_SIZE;
		s->allocated += count;
	}
}

/* Free about 1% of all (allocated) usable frames, spread uniformly. Returns how many. */
static uint64_t sim_fragment(struct sim *s)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull, freed = 0;

	for (size_t i = 0; i < s->n; i++) {
		const struct memmap_entry *e = &s->map[i];
		uint64_t end = e->base + e->length;
		paddr_t pa = MAX(e->base, PAGE_SIZE) + bench_xorshift(&rng) % FRAG_GAP * PAGE_SIZE;

		if (e->type != MEMMAP_USABLE)
			continue;
		for (; pa < end; pa += (1 + bench_xorshift(&rng) % FRAG_GAP) * PAGE_SIZE)
			freed += pmm_free(&s->pmm, pa) == 0;
	}
	return freed;
}

static uint64_t sim_free_frames(struct sim *s)
{
	struct pmm_stats st;

	pmm_stats(&s->pmm, &st);
	return st.free_frames;
}

/* ---- workloads: each op is one alloc+free pair ----------------------------- */

struct batch {
	struct pmm *p;
	paddr_t pa[BATCH];
	uint16_t perm[BATCH]; /* the order frees go in: a fixed shuffle */
};

/* a: allocate a frame and free it again. */
static void work_single(void *ctx, uint64_t ops)
{
	struct pmm *p = ctx;

	for (uint64_t i = 0; i < ops; i++)
		pmm_free(p, pmm_alloc(p));
}

/* b, c: allocate BATCH frames, free them in shuffled order; ops is a multiple of BATCH. */
static void work_batch(void *ctx, uint64_t ops)
{
	struct batch *b = ctx;

	for (uint64_t r = 0; r < ops / BATCH; r++) {
		for (unsigned i = 0; i < BATCH; i++)
			b->pa[i] = pmm_alloc(b->p);
		for (unsigned i = 0; i < BATCH; i++)
			pmm_free(b->p, b->pa[b->perm[i]]);
	}
}

/* d: a 2 MiB-aligned run of 512 frames, as a huge-page mapping would take. */
static void work_run(void *ctx, uint64_t ops)
{
	struct pmm *p = ctx;

	for (uint64_t i = 0; i < ops; i++)
		pmm_free_run(p, pmm_alloc_run(p, 512, 2 * MiB), 512);
}

/* d': the same on full, fragmented memory, where no run fits: counts the ones that do. */
static uint64_t runs_fitted;

static void work_run_nofit(void *ctx, uint64_t ops)
{
	struct pmm *p = ctx;

	for (uint64_t i = 0; i < ops; i++) {
		paddr_t pa = pmm_alloc_run(p, 512, 2 * MiB);

		if (pa != PADDR_INVALID) {
			runs_fitted++;
			pmm_free_run(p, pa, 512);
		}
	}
}

static void batch_setup(struct batch *b, struct pmm *p)
{
	uint64_t rng = 0x2545f4914f6cdd1dull;

	b->p = p;
	for (unsigned i = 0; i < BATCH; i++)
		b->perm[i] = (uint16_t)i;
	for (unsigned i = BATCH - 1; i > 0; i--) {
		unsigned j = (unsigned)(bench_xorshift(&rng) % (i + 1));
		uint16_t t = b->perm[i];

		b->perm[i] = b->perm[j];
		b->perm[j] = t;
	}
}

/* ---- the reference: one bit per frame (set = used), first fit from frame 0 ---- */

struct ref {
	uint64_t *bits;
	uint64_t nwords;
};

static uint64_t ref_alloc(struct ref *r)
{
	for (uint64_t w = 0; w < r->nwords; w++) {
		if (r->bits[w] != ~0ull) {
			unsigned b = (unsigned)__builtin_ctzll(~r->bits[w]);

			r->bits[w] |= 1ull << b;
			return w * 64 + b;
		}
	}
	return UINT64_MAX;
}

static void ref_free(struct ref *r, uint64_t f)
{
	r->bits[f / 64] &= ~(1ull << (f % 64));
}

static void work_ref(void *ctx, uint64_t ops)
{
	struct ref *r = ctx;

	for (uint64_t i = 0; i < ops; i++) {
		uint64_t f = ref_alloc(r);

		bench_keep(f);
		ref_free(r, f);
	}
}

/* The reference over ram bytes with the low half of its frames used, workload a. */
static void measure_ref(uint64_t ram, struct size_result *res)
{
	struct ref r = {.nwords = ram / PAGE_SIZE / 64};
	uint64_t ops;

	r.bits = calloc(r.nwords, sizeof(*r.bits));
	if (!r.bits) {
		bench_anomaly(&anomalies, "reference: out of memory");
		return;
	}
	memset(r.bits, 0xff, r.nwords / 2 * sizeof(*r.bits));
	/* Each op scans nwords / 2 words: about 4M words per batch, 1 to 4096 ops. */
	ops = MIN(MAX((4ull << 20) / (r.nwords / 2), 1), 4096);
	bench_run(work_ref, &r, ops, BENCH_BATCHES, &res->r[C_REF]);
	res->ops[C_REF] = ops;
	free(r.bits);
}

/* ---- one size ---------------------------------------------------------------- */

static double ms_since(uint64_t t0)
{
	return (double)(bench_now_ns() - t0) / 1e6;
}

/* Metadata for the map, page-faulted in up front as the kernel's would be. */
static bool size_setup(struct sim *s, uint64_t ram, struct size_result *res)
{
	sim_map(s, ram);
	res->usable = memmap_total(s->map, s->n, MEMMAP_USABLE);
	s->meta_size = pmm_metadata_size(s->map, s->n);
	res->meta_bytes = s->meta_size;
	s->meta = s->meta_size ? aligned_alloc(PAGE_SIZE, s->meta_size) : NULL;
	if (!s->meta) {
		bench_anomaly(&anomalies, "%llu GiB: no metadata (size %zu)",
			      (unsigned long long)(ram / GiB), s->meta_size);
		return false;
	}
	memset(s->meta, 0xa5, s->meta_size);
	return true;
}

/* e: pmm_init() and the releases, INIT_RUNS times; leaves the allocator booted and empty. */
static bool measure_init(struct sim *s, struct size_result *res)
{
	struct pmm_stats st;

	for (unsigned i = 0; i < INIT_RUNS; i++) {
		uint64_t t0 = bench_now_ns();
		int err = sim_boot(s);

		res->init_v[res->ninit++] = ms_since(t0);
		if (err) {
			bench_anomaly(&anomalies, "%llu GiB: boot failed: %d",
				      (unsigned long long)(s->ram / GiB), err);
			return false;
		}
	}
	pmm_stats(&s->pmm, &st);
	res->meta_in_use = st.metadata_bytes;
	res->managed = st.managed_frames;
	if (st.free_frames != st.managed_frames || st.managed_frames != res->usable / PAGE_SIZE)
		bench_anomaly(
		    &anomalies, "%llu GiB after boot: %llu free, %llu managed, %llu usable frames",
		    (unsigned long long)(s->ram / GiB), (unsigned long long)st.free_frames,
		    (unsigned long long)st.managed_frames,
		    (unsigned long long)(res->usable / PAGE_SIZE));
	return true;
}

/* One round's batches of case c, added to the size's samples. */
static void sample(struct size_result *res, enum bench_case c, bench_fn *fn, void *ctx,
		   uint64_t ops)
{
	bench_sample(fn, ctx, ops, ROUND_BATCHES, &res->v[c][res->nv[c]]);
	res->nv[c] += ROUND_BATCHES;
	res->ops[c] = ops;
}

/* a, b and d on empty memory. */
static void measure_empty(struct sim *s, struct size_result *res, struct batch *b)
{
	sample(res, C_EMPTY, work_single, &s->pmm, 4096);
	sample(res, C_BATCH, work_batch, b, 16 * BATCH);
	sample(res, C_RUN, work_run, &s->pmm, 256);
	if (sim_free_frames(s) != res->managed)
		bench_anomaly(&anomalies, "%llu GiB: frames leaked by a, b or d",
			      (unsigned long long)(s->ram / GiB));
}

/* a' with the low half allocated, then c: everything allocated, ~1% freed uniformly. */
static void measure_full(struct sim *s, struct size_result *res, struct batch *b)
{
	uint64_t t0;

	sim_fill(s, res->managed / 2);
	sample(res, C_HALF, work_single, &s->pmm, 4096);
	t0 = bench_now_ns();
	sim_fill(s, UINT64_MAX);
	res->fill_ms = ms_since(t0);
	if (sim_free_frames(s) != 0)
		bench_anomaly(&anomalies, "%llu GiB: %llu frames free after filling",
			      (unsigned long long)(s->ram / GiB),
			      (unsigned long long)sim_free_frames(s));
	t0 = bench_now_ns();
	res->frag_freed = sim_fragment(s);
	res->frag_ms = ms_since(t0);
	sample(res, C_FRAG, work_batch, b, 16 * BATCH);
	if (res->nv[C_RUNFRAG] == 0 && res->nv[C_FRAG] == NSAMPLES) { /* last round only: slow */
		bench_sample(work_run_nofit, &s->pmm, 1, RUNFRAG_BATCHES, res->v[C_RUNFRAG]);
		res->nv[C_RUNFRAG] = RUNFRAG_BATCHES;
		res->ops[C_RUNFRAG] = 1;
	}
	if (sim_free_frames(s) != res->frag_freed)
		bench_anomaly(&anomalies, "%llu GiB: free count %llu after fragmenting, freed %llu",
			      (unsigned long long)(s->ram / GiB),
			      (unsigned long long)sim_free_frames(s),
			      (unsigned long long)res->frag_freed);
	res->check_ok &= pmm_check(&s->pmm);
}

/* One round at one size: boot, the empty cases, then fill and fragment. */
static void measure_round(uint64_t ram, struct size_result *res)
{
	struct sim *s = calloc(1, sizeof(*s));
	struct batch *b = calloc(1, sizeof(*b));

	if (s && b && size_setup(s, ram, res) && measure_init(s, res)) {
		batch_setup(b, &s->pmm);
		measure_empty(s, res, b);
		measure_full(s, res, b);
	} else {
		res->ok = false;
	}
	if (s)
		free(s->meta);
	free(s);
	free(b);
}

/* Every round over every size, then the reference, then the summaries. */
static void measure_all(void)
{
	for (unsigned i = 0; i < NSIZES; i++)
		results[i].ok = results[i].check_ok = true;
	for (unsigned r = 0; r < ROUNDS; r++)
		for (unsigned i = 0; i < NSIZES; i++)
			if (results[i].ok)
				measure_round(sizes[i], &results[i]);
	for (unsigned i = 0; i < NSIZES; i++) {
		struct size_result *res = &results[i];

		measure_ref(sizes[i], res);
		for (unsigned c = 0; c < NCASES; c++)
			if (c != C_REF)
				bench_summarise(res->v[c], res->nv[c], &res->r[c]);
		bench_summarise(res->init_v, res->ninit, &res->init_ms);
	}
}

/* ---- the table and the verdicts ---------------------------------------------- */

static const char *size_name(unsigned i)
{
	static char names[NSIZES][16];

	return bench_size_name(names[i], sizeof(names[i]), sizes[i]);
}

static void print_case(enum bench_case c, unsigned i)
{
	static const char *const first_note[NCASES] = {
	    [C_EMPTY] = "the same frame each time",
	    [C_BATCH] = "256 allocs, then frees in a fixed shuffled order",
	    [C_HALF] = "every frame below the middle allocated",
	    [C_RUN] = "pmm_alloc_run + pmm_free_run",
	    [C_RUNFRAG] = "no run fits: one look at the fullmap answers",
	};
	const struct size_result *res = &results[i];

	if (c == C_FRAG)
		bench_row(SUITE, case_names[c], size_name(i), &res->r[c],
			  "setup: fill %.1f ms, free %.2f%% in %.1f ms", res->fill_ms,
			  100.0 * (double)res->frag_freed / (double)res->managed, res->frag_ms);
	else if (c == C_REF)
		bench_row(SUITE, case_names[c], size_name(i), &res->r[c],
			  "%llu ops/batch; x%.0f pmm a'", (unsigned long long)res->ops[c],
			  res->ok ? res->r[c].median / res->r[C_HALF].median : 0);
	else
		bench_row(SUITE, case_names[c], size_name(i), &res->r[c], "%s",
			  i == 0 && first_note[c] ? first_note[c] : "");
}

static void print_table(void)
{
	for (unsigned c = 0; c < NCASES; c++)
		for (unsigned i = 0; i < NSIZES; i++)
			if (results[i].ok || c == C_REF)
				print_case(c, i);
			else
				bench_row_value(SUITE, case_names[c], size_name(i), -1, -1, "-",
						"not measured");
	for (unsigned i = 0; i < NSIZES; i++)
		if (results[i].ok)
			bench_row_value(SUITE, "e init + release", size_name(i),
					results[i].init_ms.median, results[i].init_ms.p99, "ms",
					"%s", sizes[i] == INIT_LIMIT_RAM ? "limit 5 ms" : "");
	for (unsigned i = 0; i < NSIZES; i++)
		if (results[i].ok)
			bench_row_value(
			    SUITE, "f metadata", size_name(i), (double)results[i].meta_bytes / KiB,
			    -1, "KiB", "%.4f%% of usable RAM (limit 0.01%%); %zu B in use",
			    100.0 * (double)results[i].meta_bytes / (double)results[i].usable,
			    results[i].meta_in_use);
}

/* The 25 ns limit and the +-20% flatness for one workload, over every measured size. */
static void verdict_pair(enum bench_case c)
{
	unsigned worst = 0, n = 0;
	double lo = 0, hi = 0;

	for (unsigned i = 0; i < NSIZES; i++) {
		double m = results[i].r[c].median;

		if (!results[i].ok)
			continue;
		if (n++ == 0 || m > hi) {
			hi = m;
			worst = i;
		}
		if (n == 1 || m < lo)
			lo = m;
	}
	if (n < NSIZES) {
		bench_verdict(false, "%s: measured at %u of %d sizes", case_names[c], n, NSIZES);
		return;
	}
	bench_verdict(hi <= LIMIT_PAIR_LOCK * lock_floor.median,
		      "alloc+free (%s): worst %.1f ns at %s, %.2f x the lock floor (limit %.1f)",
		      case_names[c], hi, size_name(worst), hi / lock_floor.median, LIMIT_PAIR_LOCK);
	bench_verdict(hi / lo <= LIMIT_FLAT,
		      "flatness (%s): max/min %s..%s = %.2f (limit %.2f i.e. +-20%%)",
		      case_names[c], size_name(0), size_name(NSIZES - 1), hi / lo, LIMIT_FLAT);
}

static void verdict_memory(void)
{
	unsigned worst = 0;
	double pct = -1;

	for (unsigned i = 0; i < NSIZES; i++) {
		double p = 100.0 * (double)results[i].meta_bytes / (double)results[i].usable;

		if (results[i].ok && p > pct) {
			pct = p;
			worst = i;
		}
		if (results[i].ok && sizes[i] == INIT_LIMIT_RAM)
			bench_verdict(results[i].init_ms.median <= LIMIT_INIT_MS,
				      "init %s: %.2f ms median of %u (limit %.0f)", size_name(i),
				      results[i].init_ms.median, results[i].init_ms.samples,
				      LIMIT_INIT_MS);
	}
	bench_verdict(pct >= 0 && pct <= LIMIT_META_PCT,
		      "metadata: worst %.4f%% of usable RAM at %s (limit %.2f%%)", pct,
		      size_name(worst), LIMIT_META_PCT);
}

/* How a workload that is expected to grow with RAM grew from the smallest size to the largest. */
static void info_growth(const char *what, enum bench_case c)
{
	double lo = results[0].r[c].median, hi = results[NSIZES - 1].r[c].median;
	char a[32], b[32];

	if (lo > 0 && hi > 0)
		bench_info("%s: %s at %s, %s at %s (x%.0f)", what, bench_duration(a, sizeof(a), lo),
			   size_name(0), bench_duration(b, sizeof(b), hi), size_name(NSIZES - 1),
			   hi / lo);
}

static void verdict_sanity(void)
{
	bool checked = true;

	for (unsigned i = 0; i < NSIZES; i++)
		checked &= results[i].ok && results[i].check_ok;
	bench_verdict(refused == 0 && anomalies.count == 0 && checked,
		      "bench sanity: %llu refused frees%s%s, %u anomalies%s%s, pmm_check %s",
		      (unsigned long long)refused, refused ? ", first: " : "", refused_first,
		      anomalies.count, anomalies.count ? ", first: " : "", anomalies.first,
		      checked ? "ok at every size" : "FAILED");
	info_growth("d' run 512 @2MiB on full+frag memory (no fit)", C_RUNFRAG);
	info_growth("reference linear scan, half full", C_REF);
	if (runs_fitted)
		bench_info("d': %llu runs fitted where none should",
			   (unsigned long long)runs_fitted);
}

/* Two lock round trips, as one alloc+free pair takes: the floor under every pair. */
static void lock_pairs(void *ctx, uint64_t ops)
{
	struct spinlock *l = ctx;

	for (uint64_t i = 0; i < ops; i++) {
		spin_unlock_irqrestore(l, spin_lock_irqsave(l));
		spin_unlock_irqrestore(l, spin_lock_irqsave(l));
	}
}

static void print_lock_floor(void)
{
	static struct spinlock lock = SPINLOCK_INIT;

	bench_run(lock_pairs, &lock, 100000, BENCH_BATCHES, &lock_floor);
	bench_row(SUITE, "lock floor: 2 x lock+unlock", "-", &lock_floor,
		  "what one alloc+free pair spends on its lock; the a-c verdicts' reference");
}

/* ---- f: the per-CPU frame cache against a bare array ------------------------- */

/* The floor under any frame allocator: pop a frame number off an array, push it back. */
struct frame_stack {
	uint64_t n;
	uint64_t v[BATCH];
};

/* Out of line, as pmm_alloc()/pmm_free() are: the floor pays the same two calls. */
__attribute__((noinline)) static uint64_t floor_pop(struct frame_stack *st)
{
	return st->v[--st->n];
}

__attribute__((noinline)) static void floor_push(struct frame_stack *st, uint64_t f)
{
	st->v[st->n++] = f;
}

static void work_floor(void *ctx, uint64_t ops)
{
	struct frame_stack *st = ctx;

	for (uint64_t i = 0; i < ops; i++) {
		uint64_t f = floor_pop(st);
		bench_keep(f);
		floor_push(st, f);
	}
}

/* The same pop and push inline in the loop: no allocator API can get here. */
static void work_floor_inline(void *ctx, uint64_t ops)
{
	struct frame_stack *st = ctx;

	for (uint64_t i = 0; i < ops; i++) {
		uint64_t f = st->v[--st->n];
		bench_keep(f); /* a memory clobber: n and v really go through memory */
		st->v[st->n++] = f;
	}
}

static struct pmm_cache bench_cache;

static struct pmm_cache *bench_cache_hook(void *ctx)
{
	return &bench_cache;
}

static struct bench_result cache_pair, cache_batch, floor_pair, floor_inline;

/* f: a 64 GiB machine whose pmm_alloc()/pmm_free() go through one attached cache. */
static void measure_cache(void)
{
	static const struct pmm_ops ops = {.report = count_refusal, .cache = bench_cache_hook};
	static struct frame_stack st = {.n = BATCH};
	static struct sim s;
	static struct size_result scratch;
	static struct batch b;
	int err;

	if (!size_setup(&s, 64 * GiB, &scratch))
		return;
	err = pmm_init(&s.pmm, s.map, s.n, s.meta, s.meta_size, &ops, NULL);
	for (size_t i = 0; !err && i < s.n; i++)
		if (s.map[i].type == MEMMAP_USABLE)
			err = pmm_release(&s.pmm, s.map[i].base, s.map[i].length);
	if (err || pmm_cache_attach(&s.pmm, &bench_cache)) {
		bench_anomaly(&anomalies, "cache: set-up failed: %d", err);
		return;
	}
	b.p = &s.pmm;
	for (unsigned i = 0; i < BATCH; i++)
		b.perm[i] = (uint16_t)((i * 97) % BATCH); /* 97 is odd: a permutation */
	bench_run(work_single, &s.pmm, 4096, BENCH_BATCHES, &cache_pair);
	bench_run(work_floor, &st, 4096, BENCH_BATCHES, &floor_pair);
	bench_run(work_floor_inline, &st, 4096, BENCH_BATCHES, &floor_inline);
	bench_run(work_batch, &b, 16 * BATCH, BENCH_BATCHES, &cache_batch);
	pmm_cache_drain(&s.pmm, &bench_cache);
	if (sim_free_frames(&s) != memmap_total(s.map, s.n, MEMMAP_USABLE) / PAGE_SIZE ||
	    !pmm_check(&s.pmm))
		bench_anomaly(&anomalies, "cache: frames leaked or pmm_check failed");
	bench_row(SUITE, "f cache alloc+free", "64 GiB", &cache_pair,
		  "per-CPU cache in front; %llu refills", (unsigned long long)bench_cache.refills);
	bench_row(SUITE, "f array pop+push (floor)", "-", &floor_pair,
		  "a frame number off an array and back, two calls as the API: cache/floor %.2f",
		  floor_pair.median > 0 ? cache_pair.median / floor_pair.median : 0);
	bench_row(SUITE, "f array pop+push, inline", "-", &floor_inline,
		  "the same without the calls: cache/this %.2f",
		  floor_inline.median > 0 ? cache_pair.median / floor_inline.median : 0);
	bench_row(SUITE, "f cache batch 256", "64 GiB", &cache_batch,
		  "more than a word: refills and locked frees; per pair");
	bench_verdict(
	    cache_pair.median <= LIMIT_CACHE_RATIO * floor_pair.median,
	    "frame cache alloc+free vs array pop+push: %.2f (limit %.1f); %.1f vs %.1f ns",
	    floor_pair.median > 0 ? cache_pair.median / floor_pair.median : 0, LIMIT_CACHE_RATIO,
	    cache_pair.median, floor_pair.median);
	free(s.meta);
}

void bench_pmm(void)
{
	bench_info("pmm: each figure pools %d rounds x %d batches, rounds interleaved across sizes;"
		   " ref: %d batches",
		   ROUNDS, ROUND_BATCHES, BENCH_BATCHES);
	measure_all();
	print_table();
	print_lock_floor();
	measure_cache();
	verdict_pair(C_EMPTY);
	verdict_pair(C_BATCH);
	verdict_pair(C_HALF);
	verdict_pair(C_FRAG);
	verdict_memory();
	verdict_sanity();
}
