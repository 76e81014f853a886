/*
 * The "threads" bench suite (issue 16, "Measured"): does each allocator's
 * per-CPU fast path scale to two cores? For the frame allocator (alloc+free
 * pairs through its per-CPU cache), the heap (small pairs through its
 * per-CPU front cache) and the object caches (pairs through the per-CPU
 * magazines), it times THREAD_PAIRS pairs on one thread, then the same
 * number on each of two threads at once, and reports the throughput of
 * both and their ratio, with a verdict against LIMIT_SCALING. glibc,
 * jemalloc and mimalloc pairs on the same sizes, timed the same way, give
 * the same ratio for reference.
 *
 * Each thread is pinned to its own core (sched_setaffinity) and plays one
 * CPU: a thread-local CPU number is what the allocators' ops hooks return,
 * so each thread has its own pmm_cache, heap_cache and magazine, as each
 * CPU has in the kernel. On the host interrupts are never masked, so the
 * fast paths here cost no pushf/cli.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */

#include "bench.h"

#include "../heap_host.h"

#include <mm/memmap.h>
#include <mm/pmm.h>
#include <mm/pmm_cache.h>
#include <mm/slab.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUITE	      "thread"
#define NTHREADS      2
#define THREAD_PAIRS  2000000 /* pairs per thread per round */
#define ROUNDS	      7	      /* rounds per figure; 1 and 2 threads alternate */
#define PMM_RAM	      (4 * GiB)
#define HEAP_WINDOW   (1 * GiB)
#define HEAP_SECRET   0x5eed5eed5eed5eedull
#define SIZES	      4096 /* the small-pair size table, as the heap suite's */
#define SMALL_MIN     16
#define SMALL_MAX     512
#define OBJ_SIZE      64
#define LIMIT_SCALING 1.8 /* 2-thread throughput over 1-thread, at least */

enum alloc_id { T_PMM, T_HEAP, T_SLAB, T_GLIBC, T_JEMALLOC, T_MIMALLOC, NALLOCS };

static const char *const alloc_names[NALLOCS] = {"pmm cache pair",	 "heap pair 16-512",
						 "kmem_cache pair 64",	 "glibc pair 16-512",
						 "jemalloc pair 16-512", "mimalloc pair 16-512"};

/* The CPU this thread plays: what every ops hook below returns. */
static __thread unsigned tl_cpu;

static struct bench_anomalies anomalies;
static uint16_t sizes[SIZES];
static const struct bench_malloc *refs[NALLOCS];

/* ---- the frame allocator: a 4 GiB machine, one cache per thread ---------- */

static struct pmm pmm;
/* Each cache on lines of its own, as each CPU's lives in its per-CPU area. */
static struct {
	_Alignas(64) struct pmm_cache c;
} pmm_caches[NTHREADS];
static struct memmap_entry pmm_map[2] = {
    {.base = 0x100000, .length = PMM_RAM - 0x100000, .type = MEMMAP_USABLE},
};

static struct pmm_cache *pmm_cache_hook(void *ctx)
{
	(void)ctx;
	return &pmm_caches[tl_cpu].c;
}

static void pmm_report(void *ctx, const char *reason, paddr_t pa, const void *caller)
{
	(void)ctx;
	(void)caller;
	bench_anomaly(&anomalies, "pmm refused a free of %#llx: %s", (unsigned long long)pa,
		      reason);
}

static bool pmm_setup(void)
{
	static const struct pmm_ops ops = {.report = pmm_report, .cache = pmm_cache_hook};
	size_t meta_size = pmm_metadata_size(pmm_map, 1);
	void *meta = aligned_alloc(64, ALIGN_UP(meta_size, 64));
	int err = meta ? pmm_init(&pmm, pmm_map, 1, meta, meta_size, &ops, NULL) : -1;

	if (!err)
		err = pmm_release(&pmm, pmm_map[0].base, pmm_map[0].length);
	for (unsigned i = 0; !err && i < NTHREADS; i++)
		err = pmm_cache_attach(&pmm, &pmm_caches[i].c);
	if (err)
		bench_anomaly(&anomalies, "pmm set-up failed: %d", err);
	return !err;
}

static void work_pmm(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		paddr_t pa = pmm_alloc(&pmm);

		bench_keep(pa);
		pmm_free(&pmm, pa);
	}
}

/* ---- the heap: one front cache per thread ------------------------------- */

static struct host_heap hh;
static struct {
	_Alignas(64) struct heap_cache c;
} heap_caches[NTHREADS]; /* each on lines of its own */
static struct heap_ops heap_ops;

static struct heap_cache *heap_cache_hook(void *ctx)
{
	(void)ctx;
	return &heap_caches[tl_cpu].c;
}

static bool heap_setup(void)
{
	int err = host_heap_create(&hh, HEAP_WINDOW, HEAP_SECRET);

	heap_ops = host_heap_ops;
	heap_ops.cache = heap_cache_hook;
	hh.heap.ops = &heap_ops;
	for (unsigned i = 0; !err && i < NTHREADS; i++)
		err = heap_cache_attach(&hh.heap, &heap_caches[i].c);
	if (err)
		bench_anomaly(&anomalies, "heap set-up failed: %d", err);
	return !err;
}

/*
 * The kernel's kmalloc/kfree (mm/kmalloc.c): this CPU's cache directly,
 * the heap's ordinary path on a miss.
 */
static void work_heap(uint64_t n)
{
	struct heap_cache *hc = &heap_caches[tl_cpu].c;

	for (uint64_t i = 0; i < n; i++) {
		void *p = heap_cache_alloc(&hh.heap, hc, sizes[i % SIZES]);

		if (!p)
			p = heap_alloc(&hh.heap, sizes[i % SIZES], 0);
		bench_keep((uintptr_t)p);
		if (!heap_cache_free(&hh.heap, hc, p))
			heap_free(&hh.heap, p);
	}
}

/* ---- the object caches: magazine per thread -------------------------- */

static uint64_t slab_bytes; /* slab bytes live, atomically counted */

static void *slab_page_alloc(size_t size)
{
	void *p = aligned_alloc(size, size);

	if (p)
		__atomic_add_fetch(&slab_bytes, size, __ATOMIC_RELAXED);
	return p;
}

static void slab_page_free(void *p, size_t size)
{
	__atomic_sub_fetch(&slab_bytes, size, __ATOMIC_RELAXED);
	free(p);
}

static unsigned slab_cpu(void)
{
	return tl_cpu;
}

static uint64_t slab_secret(void)
{
	return 0x9e3779b97f4a7c15ull;
}

static __noreturn void slab_corrupt(const char *msg)
{
	fprintf(stderr, "bench threads: object cache corrupt: %s\n", msg);
	abort();
}

static const struct kmem_backend bench_kmem_backend = {slab_page_alloc, slab_page_free, slab_cpu,
						       slab_secret, slab_corrupt};
const struct kmem_backend *kmem_backend = &bench_kmem_backend;

static struct kmem_cache obj_cache;

static void work_slab(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		void *p = kmem_cache_alloc(&obj_cache);

		bench_keep((uintptr_t)p);
		kmem_cache_free(&obj_cache, p);
	}
}

/* ---- the references: malloc+free pairs on the heap's sizes ---------------- */

static void work_ref(enum alloc_id id, uint64_t n)
{
	const struct bench_malloc *m = refs[id];

	for (uint64_t i = 0; i < n; i++) {
		void *p = m->malloc(sizes[i % SIZES]);

		bench_keep((uintptr_t)p);
		m->free(p);
	}
}

static void work(enum alloc_id id, uint64_t n)
{
	switch (id) {
	case T_PMM:
		work_pmm(n);
		break;
	case T_HEAP:
		work_heap(n);
		break;
	case T_SLAB:
		work_slab(n);
		break;
	default:
		work_ref(id, n);
	}
}

/* ---- running threads: pinned, started together, timed to the last ---------- */

static int cpus[NTHREADS]; /* the core each thread is pinned to */

struct run {
	enum alloc_id id;
	unsigned nthreads;
	unsigned ready;	   /* threads waiting at the start line */
	bool go;	   /* set once every thread is ready */
	uint64_t start_ns; /* when go was set */
	uint64_t end_ns[NTHREADS];
};

struct worker {
	struct run *run;
	unsigned cpu;
};

static bool pin_to(int core)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(core, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;

	tl_cpu = w->cpu;
	if (!pin_to(cpus[w->cpu]))
		bench_anomaly(&anomalies, "cannot pin a thread to CPU %d", cpus[w->cpu]);
	work(r->id, THREAD_PAIRS / 16); /* warm this thread's cache and the CPU */
	__atomic_add_fetch(&r->ready, 1, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&r->go, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
	work(r->id, THREAD_PAIRS);
	r->end_ns[w->cpu] = bench_now_ns();
	return NULL;
}

/* Pairs per second of nthreads threads doing THREAD_PAIRS pairs each, to the last one's end. */
static double run_once(enum alloc_id id, unsigned nthreads)
{
	struct run r = {.id = id, .nthreads = nthreads};
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	uint64_t end = 0;

	for (unsigned i = 0; i < nthreads; i++) {
		w[i] = (struct worker){&r, i};
		if (pthread_create(&t[i], NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "bench threads: pthread_create failed\n");
			exit(2);
		}
	}
	while (__atomic_load_n(&r.ready, __ATOMIC_ACQUIRE) != nthreads)
		sched_yield(); /* main sits on a worker's core: let it run */
	r.start_ns = bench_now_ns();
	__atomic_store_n(&r.go, true, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		end = MAX(end, r.end_ns[i]);
	}
	return (double)nthreads * THREAD_PAIRS / ((double)(end - r.start_ns) * 1e-9);
}

/* ---- the suite ------------------------------------------------------------ */

/* CPUs 0 and 1 when two are online; false if fewer are. */
static bool pick_cpus(void)
{
	if (sysconf(_SC_NPROCESSORS_ONLN) < NTHREADS)
		return false;
	for (int c = 0; c < NTHREADS; c++)
		cpus[c] = c;
	return true;
}

static void sizes_setup(void)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	for (unsigned i = 0; i < SIZES; i++)
		sizes[i] = SMALL_MIN + bench_xorshift(&rng) % (SMALL_MAX - SMALL_MIN + 1);
}

static bool setup(bool ready[NALLOCS])
{
	sizes_setup();
	ready[T_PMM] = pmm_setup();
	ready[T_HEAP] = heap_setup();
	ready[T_SLAB] = kmem_cache_create(&obj_cache, "bench64", OBJ_SIZE, 8) == 0;
	refs[T_GLIBC] = bench_malloc_ref(BENCH_GLIBC);
	refs[T_JEMALLOC] = bench_malloc_ref(BENCH_JEMALLOC);
	refs[T_MIMALLOC] = bench_malloc_ref(BENCH_MIMALLOC);
	for (unsigned id = T_GLIBC; id < NALLOCS; id++)
		ready[id] = refs[id] != NULL;
	return true;
}

/* Leaks and broken invariants after the runs: each an anomaly. */
static void check_after(const bool ready[NALLOCS])
{
	struct pmm_stats ps;
	char msg[160];

	for (unsigned i = 0; ready[T_PMM] && i < NTHREADS; i++)
		pmm_cache_drain(&pmm, &pmm_caches[i].c);
	pmm_stats(&pmm, &ps);
	if (ready[T_PMM] && (ps.free_frames != ps.managed_frames || !pmm_check(&pmm)))
		bench_anomaly(&anomalies, "pmm: frames leaked or pmm_check failed");
	if (ready[T_HEAP] && heap_check(&hh.heap, msg, sizeof(msg)) != 0)
		bench_anomaly(&anomalies, "heap_check: %s", msg);
	if (ready[T_SLAB] && !kmem_cache_check(&obj_cache))
		bench_anomaly(&anomalies, "kmem_cache_check failed");
}

static double ratio_of(const struct bench_result *r)
{
	return r[0].median > 0 ? r[1].median / r[0].median : 0;
}

static void report(const bool ready[NALLOCS], struct bench_result res[NALLOCS][2])
{
	char refs_text[120] = "";
	size_t len = 0;

	for (unsigned id = 0; id < NALLOCS; id++) {
		if (!ready[id])
			continue;
		bench_row_value(SUITE, alloc_names[id], "1 thr", res[id][0].median / 1e6,
				res[id][0].min / 1e6, "Mop/s", "pairs/s; p99 column: worst round");
		bench_row_value(SUITE, alloc_names[id], "2 thr", res[id][1].median / 1e6,
				res[id][1].min / 1e6, "Mop/s", "2 / 1 thread: %.2f%s",
				ratio_of(res[id]), id >= T_GLIBC ? " (reference)" : "");
	}
	for (unsigned id = T_GLIBC; id < NALLOCS; id++)
		if (ready[id])
			len +=
			    (size_t)snprintf(refs_text + len, sizeof(refs_text) - len, "%s%s %.2f",
					     len ? ", " : "", alloc_names[id], ratio_of(res[id]));
	for (unsigned id = T_PMM; id <= T_SLAB; id++)
		if (ready[id])
			bench_verdict(ratio_of(res[id]) >= LIMIT_SCALING,
				      "%s, 2 threads on 2 cores vs 1: %.2fx (limit %.1f); refs: %s",
				      alloc_names[id], ratio_of(res[id]), LIMIT_SCALING, refs_text);
	bench_verdict(anomalies.count == 0, "threads: %u anomalies%s%s", anomalies.count,
		      anomalies.count ? ": " : "", anomalies.first);
}

void bench_threads(void)
{
	static double v[NALLOCS][2][ROUNDS];
	struct bench_result res[NALLOCS][2];
	bool ready[NALLOCS];

	if (!pick_cpus()) {
		bench_info("threads: fewer than %d CPUs online: not measured", NTHREADS);
		return;
	}
	setup(ready);
	bench_info("threads: CPUs %d and %d; %d pairs per thread, median of %d rounds; %s", cpus[0],
		   cpus[1], THREAD_PAIRS, ROUNDS,
		   "Mop/s = million alloc+free pairs per second, all threads together");
	for (unsigned k = 0; k < ROUNDS; k++)
		for (unsigned id = 0; id < NALLOCS; id++)
			for (unsigned t = 0; ready[id] && t < 2; t++)
				v[id][t][k] = run_once(id, t + 1);
	for (unsigned id = 0; id < NALLOCS; id++)
		for (unsigned t = 0; t < 2; t++)
			bench_summarise(v[id][t], ROUNDS, &res[id][t]);
	check_after(ready);
	report(ready, res);
}
