/*
 * The "vmm" bench suite: times arch/x86_64/pgtable.c natively on simulated
 * physical memory: an arena of 4 KiB table frames (2 MiB aligned, THP
 * requested, as the kernel's direct map uses huge pages) behind a LIFO
 * free-list allocator whose alloc returns zeroed frames. Against the
 * issue's limits (a 4 KiB map+unmap pair in a warm 2 MiB block <= 40 ns,
 * a 4 KiB pt_lookup <= 5 ns), next to a reference that re-creates the old
 * design: the table behind each level reached through an indirect call
 * (the old struct pgtable's table() callback), no present-entry counts, no
 * table frees, no flush records.
 *
 * Only the page-table work is timed. The TLB cost is excluded: pt->flush
 * records are reset after every operation, never acted on (no INVLPG, no
 * CR3 reload, no shootdown), and nothing is ever accessed through the
 * simulated mappings.
 */
#define _GNU_SOURCE /* madvise(MADV_HUGEPAGE) */

#include "bench.h"

#include <arch/x86_64/pgtable.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SUITE	      "vmm"
#define SIM_BASE      0x100000ull /* fake physical address of arena frame 0 */
#define ARENA_FRAMES  2048	  /* 8 MiB of table frames; about 1050 are used */
#define HOLE_STRIDE   8		  /* warm blocks: every 8th page unmapped, 64 holes */
#define NHOLES	      (512 / HOLE_STRIDE)
#define ROUNDS	      9	 /* each figure pools rounds interleaved across cases */
#define ROUND_BATCHES 23 /* batches per case per round */
#define NSAMPLES      (ROUNDS * ROUND_BATCHES)

#define LIMIT_PAIR_NS	40.0
#define LIMIT_LOOKUP_NS 5.0

#define FLAGS (PT_WRITE | PT_GLOBAL) /* kernel data */

/* Virtual layout: one PML4 slot (512 GiB) per region. */
#define VA_WARM	   0xffff800000000000ull    /* 2 MiB of 4 KiB pages with 64 holes */
#define VA_PROT	   (VA_WARM + PAGE_SIZE_2M) /* 2 MiB of 4 KiB pages, protected */
#define VA_EMPTY1G (VA_WARM + PAGE_SIZE_1G) /* an empty 1 GiB: a map there needs PD + PT */
#define VA_FRESH   0xffff880000000000ull    /* an empty PML4 slot: PDPT + PD + PT */
#define VA_4K	   0xffff900000000000ull    /* 1 GiB of 4 KiB pages: 512 PTs */
#define VA_2M	   0xffffa00000000000ull    /* 512 GiB of 2 MiB pages: 512 PDs */
#define VA_1G	   0xffffb00000000000ull    /* 512 GiB of 1 GiB pages: one PDPT */
#define VA_REF	   0xffffc00000000000ull    /* the reference's warm block, own root */

#define PA_4K	 (8 * GiB)
#define PA_2M	 (1024 * GiB)
#define PA_1G	 (2048 * GiB)
#define PA_SMALL (4 * GiB) /* the warm, protect and alloc/free blocks */

/* The simulated machine: the page tables and their frames. */
struct vmm {
	struct pgtable pt;
	struct pt_flush flush;
	uint8_t *arena;
	paddr_t free_head; /* LIFO free list linked through word 0 of each frame */
	uint64_t free_frames;
	uint64_t errors; /* failed calls inside timed workloads */
};

static struct vmm vm;

static struct bench_anomalies anomalies;

/*
 * The random offsets of the workloads: a 64-bit LCG's top 40 bits. Cheaper in
 * cache than a table of addresses (a 512 KiB one cost the 1 GiB lookups about
 * 1 ns), and the lookups do not wait for it: nothing feeds back into it.
 */
static inline uint64_t lcg(uint64_t *x)
{
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return *x >> 24;
}

static void reset_flush(void)
{
	vm.flush.count = 0;
	vm.flush.all = false;
}

/* ---- the simulated physical memory ---------------------------------------- */

static uint64_t *frame_at(paddr_t pa)
{
	return (uint64_t *)(vm.arena + (pa - SIM_BASE));
}

static paddr_t frame_alloc(void)
{
	paddr_t pa = vm.free_head;

	if (pa == PADDR_INVALID)
		return PADDR_INVALID;
	vm.free_head = frame_at(pa)[0];
	vm.free_frames--;
	memset(frame_at(pa), 0, PAGE_SIZE);
	return pa;
}

static void frame_free(paddr_t pa)
{
	frame_at(pa)[0] = vm.free_head;
	vm.free_head = pa;
	vm.free_frames++;
}

static paddr_t sim_alloc_table(struct pgtable *pt)
{
	return frame_alloc();
}

static void sim_free_table(struct pgtable *pt, paddr_t pa)
{
	frame_free(pa);
}

/* The arena, garbage-filled (so zeroing is real work), every frame on the free list. */
static bool arena_setup(void)
{
	size_t bytes = ARENA_FRAMES * PAGE_SIZE;

	vm.arena = aligned_alloc(PAGE_SIZE_2M, bytes);
	if (!vm.arena)
		return false;
	madvise(vm.arena, bytes, MADV_HUGEPAGE);
	memset(vm.arena, 0xa5, bytes);
	vm.free_head = PADDR_INVALID;
	vm.free_frames = 0;
	for (unsigned i = ARENA_FRAMES; i-- > 0;)
		frame_free(SIM_BASE + i * PAGE_SIZE); /* lowest frame on top */
	vm.pt = (struct pgtable){
	    .table_base = (uintptr_t)vm.arena - SIM_BASE,
	    .alloc_table = sim_alloc_table,
	    .free_table = sim_free_table,
	    .flush = &vm.flush,
	    .ctx = &vm,
	};
	vm.pt.root = frame_alloc();
	return true;
}

/* The process's AnonHugePages in KiB (the arena is most of it), or -1. */
static long anon_huge_kib(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[128];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* ---- the reference: the old design, the table behind each level via a callback ---- */

struct ref_pt {
	paddr_t root;
	uint64_t *(*table)(const struct ref_pt *rp, paddr_t pa);
	paddr_t (*alloc_table)(struct ref_pt *rp);
};

static const uint64_t ref_span[4] = {512 * PAGE_SIZE_1G, PAGE_SIZE_1G, PAGE_SIZE_2M, PAGE_SIZE};

static struct ref_pt ref_shared; /* walks pgtable.c's tables: lookups only */
static struct ref_pt ref_own;	 /* its own root and tables: map and unmap */

__attribute__((noinline)) static uint64_t *ref_table(const struct ref_pt *rp, paddr_t pa)
{
	return (uint64_t *)(vm.pt.table_base + pa);
}

__attribute__((noinline)) static paddr_t ref_alloc_table(struct ref_pt *rp)
{
	return frame_alloc();
}

static unsigned ref_index(vaddr_t va, int level)
{
	return (va >> (39 - 9 * level)) & 511;
}

static bool ref_canonical(vaddr_t va)
{
	return (va >> 47) == 0 || (va >> 47) == 0x1ffff;
}

/* The old pt_translate's walk, returning only the address. */
__attribute__((noinline)) static paddr_t ref_lookup(const struct ref_pt *rp, vaddr_t va)
{
	const uint64_t *t = rp->table(rp, rp->root);

	if (!ref_canonical(va))
		return PADDR_INVALID;
	for (int level = 0; level < 4; level++) {
		uint64_t e = t[ref_index(va, level)];
		if (!(e & PTE_P))
			return PADDR_INVALID;
		if (level == 3 || (level > 0 && (e & PTE_PS))) {
			uint64_t offset = ref_span[level] - 1;
			return (e & PTE_ADDR & ~offset) | (va & offset);
		}
		t = rp->table(rp, e & PTE_ADDR);
	}
	return PADDR_INVALID;
}

/* The old pt_map for one 4 KiB page: argument checks, tables made on the way. */
__attribute__((noinline)) static int ref_map(struct ref_pt *rp, vaddr_t va, paddr_t pa,
					     uint64_t bits)
{
	uint64_t *t = rp->table(rp, rp->root);

	if (!IS_ALIGNED(va | pa, PAGE_SIZE) || !ref_canonical(va) || (pa >> PT_MAX_PHYS_BITS))
		return -1;
	for (int level = 0; level < 3; level++) {
		uint64_t *e = &t[ref_index(va, level)];
		if (!(*e & PTE_P)) {
			paddr_t frame = rp->alloc_table(rp);
			if (frame == PADDR_INVALID)
				return -1;
			*e = frame | PTE_P | PTE_W;
		} else if (level > 0 && (*e & PTE_PS)) {
			return -1;
		}
		t = rp->table(rp, *e & PTE_ADDR);
	}
	uint64_t *e = &t[ref_index(va, 3)];
	if (*e & PTE_P)
		return -1;
	*e = pa | bits;
	return 0;
}

/* Clear one 4 KiB leaf; tables stay (nothing counts their entries). */
__attribute__((noinline)) static int ref_unmap(struct ref_pt *rp, vaddr_t va)
{
	uint64_t *t = rp->table(rp, rp->root);

	if (!IS_ALIGNED(va, PAGE_SIZE) || !ref_canonical(va))
		return -1;
	for (int level = 0; level < 3; level++) {
		uint64_t e = t[ref_index(va, level)];
		if (!(e & PTE_P) || (level > 0 && (e & PTE_PS)))
			return -1;
		t = rp->table(rp, e & PTE_ADDR);
	}
	t[ref_index(va, 3)] = 0;
	return 0;
}

/* ---- workloads ----------------------------------------------------------- */

/* A range lookups pick random addresses in. */
struct range {
	vaddr_t base;
	uint64_t mask; /* size - 1 */
	paddr_t pa;
	uint64_t rng; /* lcg() state */
	struct ref_pt *ref;
};

/* A warm block: 4 KiB pages with a hole every HOLE_STRIDE pages, mapped and unmapped in turn. */
struct warm {
	vaddr_t base;
	paddr_t pa;
	unsigned hole;
	struct ref_pt *ref; /* NULL: pgtable.c */
};

/* Map a hole, unmap it; the next op takes the next hole. */
static void work_warm_pair(void *ctx, uint64_t ops)
{
	struct warm *w = ctx;
	uint64_t err = 0;

	for (uint64_t i = 0; i < ops; i++) {
		uint64_t off = (uint64_t)w->hole * HOLE_STRIDE * PAGE_SIZE;

		err |= (uint64_t)pt_map(&vm.pt, w->base + off, w->pa + off, PAGE_SIZE, FLAGS);
		err |= (uint64_t)pt_unmap(&vm.pt, w->base + off, PAGE_SIZE);
		reset_flush();
		w->hole = (w->hole + 1) % NHOLES;
	}
	vm.errors += err != 0;
}

static void work_ref_pair(void *ctx, uint64_t ops)
{
	struct warm *w = ctx;
	uint64_t err = 0, bits = PTE_P | PTE_W | PTE_NX | PTE_G;

	for (uint64_t i = 0; i < ops; i++) {
		uint64_t off = (uint64_t)w->hole * HOLE_STRIDE * PAGE_SIZE;

		err |= (uint64_t)ref_map(w->ref, w->base + off, w->pa + off, bits);
		err |= (uint64_t)ref_unmap(w->ref, w->base + off);
		w->hole = (w->hole + 1) % NHOLES;
	}
	vm.errors += err != 0;
}

/* Unmap a random page of the fully mapped range and map it back. */
static void work_random_pair(void *ctx, uint64_t ops)
{
	struct range *r = ctx;
	uint64_t x = r->rng, mask = r->mask;
	vaddr_t base = r->base;
	uint64_t err = 0;

	for (uint64_t i = 0; i < ops; i++) {
		uint64_t off = lcg(&x) & mask & ~PAGE_MASK;

		err |= (uint64_t)pt_unmap(&vm.pt, base + off, PAGE_SIZE);
		err |= (uint64_t)pt_map(&vm.pt, base + off, r->pa + off, PAGE_SIZE, FLAGS);
		reset_flush();
	}
	vm.errors += err != 0;
	r->rng = x;
}

/* Map one page where tables are missing (they get allocated), unmap it (they get freed). */
static void work_alloc_pair(void *ctx, uint64_t ops)
{
	vaddr_t va = *(const vaddr_t *)ctx;
	uint64_t err = 0;

	for (uint64_t i = 0; i < ops; i++) {
		err |= (uint64_t)pt_map(&vm.pt, va, PA_SMALL, PAGE_SIZE, FLAGS);
		err |= (uint64_t)pt_unmap(&vm.pt, va, PAGE_SIZE);
		reset_flush();
	}
	vm.errors += err != 0;
}

/* Alternate a 2 MiB block of 4 KiB pages between read-only and read-write. */
static unsigned protect_toggle;

static void work_protect(void *ctx, uint64_t ops)
{
	uint64_t err = 0;

	for (uint64_t i = 0; i < ops; i++) {
		uint32_t flags = (protect_toggle ^= 1) ? PT_GLOBAL : FLAGS;

		err |= (uint64_t)pt_protect(&vm.pt, VA_PROT, PAGE_SIZE_2M, flags);
		reset_flush();
	}
	vm.errors += err != 0;
}

/* Throughput: lookups whose addresses do not depend on each other, so they overlap. */
static void work_lookup(void *ctx, uint64_t ops)
{
	struct range *r = ctx;
	uint64_t x = r->rng, mask = r->mask;
	vaddr_t base = r->base;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < ops; i++)
		sum += pt_lookup(&vm.pt, base + (lcg(&x) & mask));
	bench_keep(sum);
	r->rng = x;
}

/*
 * Latency: each address depends on the previous result (pa >> 63 is 0 for a
 * mapped address, but the compiler cannot know), so lookups run one at a time.
 */
static void work_lookup_chain(void *ctx, uint64_t ops)
{
	struct range *r = ctx;
	uint64_t x = r->rng, mask = r->mask;
	vaddr_t base = r->base;
	uint64_t sum = 0;
	paddr_t pa = 0;

	for (uint64_t i = 0; i < ops; i++) {
		pa = pt_lookup(&vm.pt, base + (lcg(&x) & mask) + (pa >> 63));
		sum += pa;
	}
	bench_keep(sum);
	r->rng = x;
}

static void work_translate(void *ctx, uint64_t ops)
{
	struct range *r = ctx;
	uint64_t x = r->rng, mask = r->mask;
	vaddr_t base = r->base;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < ops; i++) {
		struct pt_leaf leaf;

		if (pt_translate(&vm.pt, base + (lcg(&x) & mask), &leaf))
			sum += leaf.pa + leaf.flags + leaf.size;
	}
	bench_keep(sum);
	r->rng = x;
}

static void work_ref_lookup(void *ctx, uint64_t ops)
{
	struct range *r = ctx;
	uint64_t x = r->rng, mask = r->mask;
	vaddr_t base = r->base;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < ops; i++)
		sum += ref_lookup(r->ref, base + (lcg(&x) & mask));
	bench_keep(sum);
	r->rng = x;
}

static void work_ref_lookup_chain(void *ctx, uint64_t ops)
{
	struct range *r = ctx;
	uint64_t x = r->rng, mask = r->mask;
	vaddr_t base = r->base;
	uint64_t sum = 0;
	paddr_t pa = 0;

	for (uint64_t i = 0; i < ops; i++) {
		pa = ref_lookup(r->ref, base + (lcg(&x) & mask) + (pa >> 63));
		sum += pa;
	}
	bench_keep(sum);
	r->rng = x;
}

/* ---- the cases ------------------------------------------------------------- */

static struct range r4k_hot = {.base = VA_4K, .mask = PAGE_SIZE_2M - 1, .pa = PA_4K};
static struct range r4k_64m = {.base = VA_4K, .mask = 64 * MiB - 1, .pa = PA_4K};
static struct range r4k = {.base = VA_4K, .mask = PAGE_SIZE_1G - 1, .pa = PA_4K};
static struct range r4k_pairs = {.base = VA_4K, .mask = PAGE_SIZE_1G - 1, .pa = PA_4K};
static struct range r2m = {.base = VA_2M, .mask = 512 * PAGE_SIZE_1G - 1, .pa = PA_2M};
static struct range r1g = {.base = VA_1G, .mask = 512 * PAGE_SIZE_1G - 1, .pa = PA_1G};
static struct range r4k_ref = {
    .base = VA_4K, .mask = PAGE_SIZE_1G - 1, .pa = PA_4K, .ref = &ref_shared};
static struct warm warm = {.base = VA_WARM, .pa = PA_SMALL};
static struct warm warm_ref = {.base = VA_REF, .pa = PA_SMALL, .ref = &ref_own};
static const vaddr_t va_empty1g = VA_EMPTY1G, va_fresh = VA_FRESH;

enum vmm_case {
	C_WARM,
	C_RANDOM,
	C_ALLOC2,
	C_ALLOC3,
	C_PROTECT,
	C_L4K_HOT,
	C_L4K_HOT_LAT,
	C_L4K_64M,
	C_L4K,
	C_L4K_LAT,
	C_L2M,
	C_L2M_LAT,
	C_L1G,
	C_L1G_LAT,
	C_TRANSLATE,
	C_REF_L4K,
	C_REF_L4K_LAT,
	C_REF_WARM,
	NCASES
};

struct vmm_case_def {
	const char *name;
	const char *size;
	bench_fn *fn;
	void *ctx;
	uint64_t ops; /* per batch */
	const char *note;
};

static const struct vmm_case_def cases[NCASES] = {
    [C_WARM] = {"map+unmap 4K, warm block", "2 MiB", work_warm_pair, &warm, 2048,
		"PT exists, 448 neighbours mapped; 64 holes in turn"},
    [C_RANDOM] = {"unmap+map 4K, random page", "1 GiB", work_random_pair, &r4k_pairs, 2048,
		  "fully mapped, 512 PTs (2 MiB of tables)"},
    [C_ALLOC2] = {"map+unmap 4K, +2 tables", "1 GiB", work_alloc_pair, (void *)&va_empty1g, 512,
		  "empty 1 GiB: alloc+zero PD, PT; both freed"},
    [C_ALLOC3] = {"map+unmap 4K, +3 tables", "512 GiB", work_alloc_pair, (void *)&va_fresh, 512,
		  "empty PML4 slot: PDPT, PD, PT; all freed"},
    [C_PROTECT] = {"protect 512x4K RW<->RO", "2 MiB", work_protect, NULL, 32, NULL},
    [C_L4K_HOT] = {"lookup 4K tput (independent)", "2 MiB", work_lookup, &r4k_hot, 8192,
		   "one PT: every level in L1"},
    [C_L4K_HOT_LAT] = {"lookup 4K latency (chained)", "2 MiB", work_lookup_chain, &r4k_hot, 8192,
		       "each address depends on the previous result"},
    [C_L4K_64M] = {"lookup 4K tput (independent)", "64 MiB", work_lookup, &r4k_64m, 8192,
		   "random over 32 PTs (128 KiB of tables, in L2)"},
    [C_L4K] = {"lookup 4K tput (independent)", "1 GiB", work_lookup, &r4k, 8192,
	       "random over 512 PTs (2 MiB of tables)"},
    [C_L4K_LAT] = {"lookup 4K latency (chained)", "1 GiB", work_lookup_chain, &r4k, 8192, NULL},
    [C_L2M] = {"lookup 2M tput (independent)", "512 GiB", work_lookup, &r2m, 8192,
	       "random over 512 PDs (2 MiB of tables)"},
    [C_L2M_LAT] = {"lookup 2M latency (chained)", "512 GiB", work_lookup_chain, &r2m, 8192, NULL},
    [C_L1G] = {"lookup 1G tput (independent)", "512 GiB", work_lookup, &r1g, 8192, "one PDPT"},
    [C_L1G_LAT] = {"lookup 1G latency (chained)", "512 GiB", work_lookup_chain, &r1g, 8192, NULL},
    [C_TRANSLATE] = {"translate 4K tput (indep.)", "1 GiB", work_translate, &r4k, 8192, NULL},
    [C_REF_L4K] = {"ref lookup 4K tput (indep.)", "1 GiB", work_ref_lookup, &r4k_ref, 8192, NULL},
    [C_REF_L4K_LAT] = {"ref lookup 4K latency", "1 GiB", work_ref_lookup_chain, &r4k_ref, 8192,
		       NULL},
    [C_REF_WARM] = {"ref map+unmap 4K, warm block", "2 MiB", work_ref_pair, &warm_ref, 2048, NULL},
};

/* What each case measured, every round's batches pooled. */
static double samples[NCASES][NSAMPLES];
static unsigned nsamples[NCASES];
static struct bench_result results[NCASES];

/* ---- set-up and checks ---------------------------------------------------- */

/* Unmap every HOLE_STRIDE-th page of the block at va. */
static void punch_holes(vaddr_t va)
{
	for (unsigned h = 0; h < NHOLES; h++)
		if (pt_unmap(&vm.pt, va + (uint64_t)h * HOLE_STRIDE * PAGE_SIZE, PAGE_SIZE))
			bench_anomaly(&anomalies, "set-up: unmapping hole %u failed", h);
}

static void must_map(vaddr_t va, paddr_t pa, uint64_t size, uint32_t flags)
{
	int err = pt_map(&vm.pt, va, pa, size, flags);

	if (err)
		bench_anomaly(&anomalies, "set-up: pt_map(%#llx, %llu bytes) = %d",
			      (unsigned long long)va, (unsigned long long)size, err);
}

static bool build(void)
{
	if (!arena_setup())
		return false;
	must_map(VA_WARM, PA_SMALL, PAGE_SIZE_2M, FLAGS);
	punch_holes(VA_WARM);
	must_map(VA_PROT, PA_SMALL, PAGE_SIZE_2M, FLAGS);
	must_map(VA_4K, PA_4K, PAGE_SIZE_1G, FLAGS);
	must_map(VA_2M, PA_2M, 512 * PAGE_SIZE_1G, FLAGS | PT_HUGE_2M);
	must_map(VA_1G, PA_1G, 512 * PAGE_SIZE_1G, FLAGS | PT_HUGE_1G | PT_HUGE_2M);
	reset_flush();

	ref_shared = (struct ref_pt){vm.pt.root, ref_table, ref_alloc_table};
	ref_own = (struct ref_pt){frame_alloc(), ref_table, ref_alloc_table};
	for (unsigned p = 0; p < 512; p++)
		if (p % HOLE_STRIDE &&
		    ref_map(&ref_own, VA_REF + p * PAGE_SIZE, PA_SMALL + p * PAGE_SIZE,
			    PTE_P | PTE_W | PTE_NX | PTE_G))
			bench_anomaly(&anomalies, "set-up: ref_map of page %u failed", p);
	return true;
}

/* pt_check and the expected shape: tables and leaves of every size. */
static bool check_shape(const char *when)
{
	struct pt_check c;
	uint64_t tables = 1 + 4 + 514 + 513 + 1;
	uint64_t leaves4k = 512 - NHOLES + 512 + 262144;

	if (pt_check(&vm.pt, &c)) {
		bench_anomaly(&anomalies, "%s: pt_check: %s at %#llx", when, c.problem,
			      (unsigned long long)c.problem_va);
		return false;
	}
	if (c.tables != tables || c.empty_tables || c.leaves[0] != 512 || c.leaves[1] != 262144 ||
	    c.leaves[2] != leaves4k) {
		bench_anomaly(&anomalies, "%s: %llu tables (%llu empty), leaves %llu/%llu/%llu",
			      when, (unsigned long long)c.tables,
			      (unsigned long long)c.empty_tables, (unsigned long long)c.leaves[0],
			      (unsigned long long)c.leaves[1], (unsigned long long)c.leaves[2]);
		return false;
	}
	return true;
}

/* Random addresses of every range: pt_lookup, pt_translate and the reference agree. */
static void check_lookups(void)
{
	const struct range *ranges[] = {&r4k, &r2m, &r1g};
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	for (unsigned k = 0; k < ARRAY_SIZE(ranges); k++) {
		for (unsigned i = 0; i < 4096; i++) {
			uint64_t off = bench_xorshift(&rng) & ranges[k]->mask;
			vaddr_t va = ranges[k]->base + off;
			paddr_t want = ranges[k]->pa + off;
			struct pt_leaf leaf;

			if (pt_lookup(&vm.pt, va) != want || ref_lookup(&ref_shared, va) != want ||
			    !pt_translate(&vm.pt, va, &leaf) || leaf.pa + (va - leaf.va) != want) {
				bench_anomaly(&anomalies, "lookup of %#llx disagrees",
					      (unsigned long long)va);
				return;
			}
		}
	}
	for (unsigned p = 0; p < 512; p++) {
		vaddr_t va = VA_REF + p * PAGE_SIZE;
		paddr_t want = p % HOLE_STRIDE ? PA_SMALL + p * PAGE_SIZE : PADDR_INVALID;

		if (ref_lookup(&ref_own, va) != want) {
			bench_anomaly(&anomalies, "reference block: page %u wrong", p);
			return;
		}
	}
}

/* ---- running and reporting ---------------------------------------------------- */

static void measure_all(void)
{
	for (unsigned r = 0; r < ROUNDS; r++) {
		for (unsigned c = 0; c < NCASES; c++) {
			bench_sample(cases[c].fn, cases[c].ctx, cases[c].ops, ROUND_BATCHES,
				     &samples[c][nsamples[c]]);
			nsamples[c] += ROUND_BATCHES;
		}
	}
	for (unsigned c = 0; c < NCASES; c++)
		bench_summarise(samples[c], nsamples[c], &results[c]);
}

static double ratio(enum vmm_case a, enum vmm_case b)
{
	return results[b].median > 0 ? results[a].median / results[b].median : 0;
}

static void print_table(void)
{
	for (unsigned c = 0; c < NCASES; c++) {
		const struct vmm_case_def *d = &cases[c];
		const struct bench_result *r = &results[c];

		switch (c) {
		case C_WARM:
			bench_row(SUITE, d->name, d->size, r, "%s; limit %.0f ns", d->note,
				  LIMIT_PAIR_NS);
			break;
		case C_PROTECT:
			bench_row(SUITE, d->name, d->size, r, "one pt_protect call: %.2f ns/page",
				  r->median / 512);
			break;
		case C_L4K_64M:
			bench_row(SUITE, d->name, d->size, r, "%s; limit %.0f ns", d->note,
				  LIMIT_LOOKUP_NS);
			break;
		case C_TRANSLATE:
			bench_row(SUITE, d->name, d->size, r,
				  "pt_translate (leaf, flags); x%.2f pt_lookup", ratio(c, C_L4K));
			break;
		case C_REF_L4K:
			bench_row(SUITE, d->name, d->size, r,
				  "table() call per level; x%.2f pt_lookup", ratio(c, C_L4K));
			break;
		case C_REF_L4K_LAT:
			bench_row(SUITE, d->name, d->size, r, "chained; x%.2f pt_lookup",
				  ratio(c, C_L4K_LAT));
			break;
		case C_REF_WARM:
			bench_row(SUITE, d->name, d->size, r,
				  "no counts/frees/flush; x%.2f pt pair", ratio(c, C_WARM));
			break;
		default:
			bench_row(SUITE, d->name, d->size, r, "%s", d->note ? d->note : "");
		}
	}
}

static void print_verdicts(bool shape_ok)
{
	char a[32], b[32];
	long huge = anon_huge_kib();

	bench_verdict(results[C_WARM].median <= LIMIT_PAIR_NS,
		      "map+unmap 4K pair, warm 2 MiB block: %.1f ns median (limit %.0f)",
		      results[C_WARM].median, LIMIT_PAIR_NS);
	bench_verdict(results[C_L4K_64M].median <= LIMIT_LOOKUP_NS,
		      "pt_lookup 4K, random in 64 MiB, independent: %.2f ns median (limit %.0f)",
		      results[C_L4K_64M].median, LIMIT_LOOKUP_NS);
	bench_info("pt_lookup 4K, random in 1 GiB (2 MiB of tables, beyond L2): %.2f ns median",
		   results[C_L4K].median);
	bench_info("pt_lookup 4K: %s independent / %s chained in one hot PT",
		   bench_duration(a, sizeof(a), results[C_L4K_HOT].median),
		   bench_duration(b, sizeof(b), results[C_L4K_HOT_LAT].median));
	bench_info("pt_lookup 4K over 1 GiB: %s chained (one walk at a time)",
		   bench_duration(a, sizeof(a), results[C_L4K_LAT].median));
	bench_verdict(anomalies.count == 0 && vm.errors == 0 && shape_ok,
		      "vmm bench sanity: %u anomalies%s%s, %llu failing batches, pt_check %s",
		      anomalies.count, anomalies.count ? ", first: " : "", anomalies.first,
		      (unsigned long long)vm.errors, shape_ok ? "ok before and after" : "FAILED");
	bench_info("vmm: TLB cost excluded: flush records are reset, never acted on (no INVLPG,"
		   " no shootdown)");
	bench_info("vmm: tables in an arena of %d frames (%llu KiB), THP asked for: process"
		   " AnonHugePages %ld KiB; LIFO free list, zeroed on alloc",
		   ARENA_FRAMES, (unsigned long long)(ARENA_FRAMES * PAGE_SIZE / KiB), huge);
	bench_info("vmm: ref = the old design: table() via an indirect call per level, no counts,"
		   " no table frees");
	bench_info("vmm: each figure pools %d rounds x %d batches, rounds interleaved across"
		   " cases",
		   ROUNDS, ROUND_BATCHES);
}

void bench_vmm(void)
{
	bool shape_ok;
	uint64_t frames;

	if (!build()) {
		bench_verdict(false, "vmm: out of memory for the arena");
		return;
	}
	check_lookups();
	shape_ok = check_shape("after set-up");
	frames = vm.free_frames;
	measure_all();
	shape_ok &= check_shape("after the runs");
	check_lookups();
	if (vm.free_frames != frames)
		bench_anomaly(&anomalies, "%lld table frames leaked",
			      (long long)frames - (long long)vm.free_frames);
	print_table();
	print_verdicts(shape_ok);
	free(vm.arena);
}
