/*
 * Host tests for arch/x86_64/pgtable.c: building, translating and walking
 * page tables kept in a simulated physical memory (an arena of 4 KiB frames
 * at a fake physical base with a bump allocator that can be made to run
 * out), checked against hand-worked cases, hand-crafted upper-level entries,
 * loader-like layouts for random memory maps and a per-page model.
 */
#include <arch/x86_64/pgtable.h>
#include <lib/errno.h>

#include "check.h"

#define P	   PAGE_SIZE
#define M2	   PAGE_SIZE_2M
#define G1	   PAGE_SIZE_1G
#define SIM_BASE   0x100000ull /* fake physical address of frame 0 */
#define SIM_FRAMES 256
#define DMAP	   0xffff800000000000ull /* direct map */
#define KBASE	   0xffffc00000000000ull /* kernel image */
#define SBASE	   0xffffe00000000000ull /* stack guard page; stack above it */
#define PERM	   (PT_WRITE | PT_EXEC | PT_USER | PT_GLOBAL | PT_UC)

/* Simulated physical memory for table frames. */
struct sim {
	struct pgtable pt;
	uint8_t mem[SIM_FRAMES * P];
	size_t used;  /* frames handed out, root included */
	size_t limit; /* alloc_table fails once used reaches this */
};

static struct sim *sim_of(struct pgtable *pt)
{
	return pt->ctx;
}

static uint64_t *sim_table(struct pgtable *pt, paddr_t pa)
{
	struct sim *s = sim_of(pt);

	if (pa < SIM_BASE || !IS_ALIGNED(pa, P) || (pa - SIM_BASE) / P >= s->used) {
		fprintf(stderr, "table(): bad frame %#llx\n", (unsigned long long)pa);
		abort();
	}
	return (uint64_t *)(s->mem + (pa - SIM_BASE));
}

static paddr_t sim_alloc(struct pgtable *pt)
{
	struct sim *s = sim_of(pt);

	if (s->used >= s->limit || s->used >= SIM_FRAMES)
		return PADDR_INVALID;
	memset(s->mem + s->used * P, 0, P);
	return SIM_BASE + s->used++ * P;
}

/*
 * A fresh address space: garbage-filled memory, one root frame, limit frames
 * in all. There is one simulated memory, so this discards the previous one.
 */
static struct sim *sim_new(size_t limit)
{
	static struct sim sim;
	struct sim *s = &sim;

	memset(s->mem, 0xa5, sizeof(s->mem));
	s->used = 0;
	s->limit = SIM_FRAMES;
	s->pt.table_base = (uintptr_t)s->mem - SIM_BASE;
	s->pt.alloc_table = sim_alloc;
	s->pt.ctx = s;
	s->pt.root = sim_alloc(&s->pt);
	s->limit = limit;
	return s;
}

/* The entry for va at level (0 = PML4) or NULL if an upper entry is absent or a leaf. */
static uint64_t *entry_at(struct sim *s, vaddr_t va, int level)
{
	uint64_t *t = sim_table(&s->pt, s->pt.root);

	for (int l = 0;; l++) {
		uint64_t *e = &t[(va >> (39 - 9 * l)) & 511];
		if (l == level)
			return e;
		if (!(*e & PTE_P) || (l > 0 && (*e & PTE_PS)))
			return NULL;
		t = sim_table(&s->pt, *e & PTE_ADDR);
	}
}

/* Collects the leaves a walk reports. */
struct leaves {
	struct pt_leaf l[8192];
	int n;
	int stop_after; /* return n from the callback once n reaches this; 0: never */
};

static int collect(const struct pt_leaf *leaf, void *arg)
{
	struct leaves *ls = arg;

	if (ls->n < (int)ARRAY_SIZE(ls->l))
		ls->l[ls->n] = *leaf;
	ls->n++;
	if (ls->stop_after && ls->n >= ls->stop_after)
		return ls->n;
	return 0;
}

static struct leaves *walk_all(struct sim *s)
{
	static struct leaves ls;

	memset(&ls, 0, sizeof(ls));
	if (pt_walk(&s->pt, collect, &ls) != 0)
		abort();
	return &ls;
}

TEST(pt_is_canonical_boundaries)
{
	CHECK(pt_is_canonical(0));
	CHECK(pt_is_canonical(0x00007fffffffffffull));
	CHECK(!pt_is_canonical(0x0000800000000000ull));
	CHECK(!pt_is_canonical(0x1234000000000000ull));
	CHECK(!pt_is_canonical(0xffff7fffffffffffull));
	CHECK(pt_is_canonical(0xffff800000000000ull));
	CHECK(pt_is_canonical(0xffffffffffffffffull));
}

TEST(pt_map_maps_4k_pages)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_leaf leaf;

	CHECK_EQ(pt_map(&s->pt, 0x400000, 0x7000000, 4 * P, 0), 0);
	CHECK_EQ(s->used, 4); /* PML4, PDPT, PD, PT */
	for (int i = 0; i < 4; i++) {
		CHECK(pt_translate(&s->pt, 0x400000 + i * P + 0x123, &leaf));
		CHECK_EQ(leaf.va, 0x400000 + i * P);
		CHECK_EQ(leaf.pa, 0x7000000 + i * P);
		CHECK_EQ(leaf.size, P);
		CHECK_EQ(leaf.flags, 0);
	}
	CHECK(!pt_translate(&s->pt, 0x400000 - P, &leaf));
	CHECK(!pt_translate(&s->pt, 0x400000 + 4 * P, &leaf));
	CHECK(!pt_translate(&s->pt, 0, &leaf));

	uint64_t *e = entry_at(s, 0x400000, 3);
	CHECK(e);
	CHECK_EQ(*e, 0x7000000 | PTE_P | PTE_NX);
	/* Upper entries are present and writable, never NX, U or PS. */
	for (int l = 0; l < 3; l++) {
		uint64_t u = *entry_at(s, 0x400000, l);
		CHECK_EQ(u & ~PTE_ADDR, PTE_P | PTE_W);
	}
}

TEST(pt_map_flags_reach_leaf)
{
	static const struct {
		uint32_t flags;
		uint64_t bits; /* besides P */
	} cases[] = {
	    {0, PTE_NX},
	    {PT_WRITE, PTE_W | PTE_NX},
	    {PT_EXEC, 0},
	    {PT_GLOBAL, PTE_G | PTE_NX},
	    {PT_UC, PTE_PCD | PTE_PWT | PTE_NX},
	    {PT_WRITE | PT_GLOBAL | PT_UC, PTE_W | PTE_G | PTE_PCD | PTE_PWT | PTE_NX},
	    {PT_EXEC | PT_GLOBAL, PTE_G},
	};
	struct sim *s = sim_new(SIM_FRAMES);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		vaddr_t va = 0xffffc00000000000ull + i * P;
		paddr_t pa = 0x200000 + i * P;
		struct pt_leaf leaf;

		CHECK_EQ(pt_map(&s->pt, va, pa, P, cases[i].flags), 0);
		CHECK(pt_translate(&s->pt, va, &leaf));
		CHECK_EQ(leaf.va, va);
		CHECK_EQ(leaf.pa, pa);
		CHECK_EQ(leaf.size, P);
		CHECK_EQ(leaf.flags, cases[i].flags);
		CHECK_EQ(*entry_at(s, va, 3), pa | PTE_P | cases[i].bits);
	}
}

TEST(pt_map_uses_2m_leaves_when_allowed)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_leaf leaf;

	CHECK_EQ(pt_map(&s->pt, 0x40000000, 0x80000000, 2 * M2, PT_WRITE | PT_HUGE_2M), 0);
	CHECK_EQ(s->used, 3); /* no page table */
	struct leaves *ls = walk_all(s);
	CHECK_EQ(ls->n, 2);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(ls->l[i].va, 0x40000000 + i * M2);
		CHECK_EQ(ls->l[i].pa, 0x80000000 + i * M2);
		CHECK_EQ(ls->l[i].size, M2);
		CHECK_EQ(ls->l[i].flags, PT_WRITE);
	}
	CHECK_EQ(*entry_at(s, 0x40000000, 2), 0x80000000 | PTE_P | PTE_W | PTE_PS | PTE_NX);

	/* The middle of a huge page reports the huge page. */
	CHECK(pt_translate(&s->pt, 0x40000000 + M2 + 0x12345, &leaf));
	CHECK_EQ(leaf.va, 0x40000000 + M2);
	CHECK_EQ(leaf.pa, 0x80000000 + M2);
	CHECK_EQ(leaf.size, M2);
	CHECK_EQ(leaf.flags, PT_WRITE);

	/* Bit 12 of a huge leaf is PAT, not part of the address. */
	*entry_at(s, 0x40000000 + M2, 2) |= 1ull << 12;
	CHECK(pt_translate(&s->pt, 0x40000000 + M2, &leaf));
	CHECK_EQ(leaf.pa, 0x80000000 + M2);
	CHECK_EQ(walk_all(s)->l[1].pa, 0x80000000 + M2);
}

TEST(pt_map_uses_1g_leaves_when_allowed)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_leaf leaf;
	vaddr_t va = DMAP + 4 * G1;

	CHECK_EQ(pt_map(&s->pt, va, 4 * G1, G1, PT_HUGE_1G | PT_HUGE_2M | PT_GLOBAL), 0);
	CHECK_EQ(s->used, 2); /* PML4 and PDPT only */
	CHECK_EQ(*entry_at(s, va, 1), 4 * G1 | PTE_P | PTE_PS | PTE_G | PTE_NX);
	CHECK(pt_translate(&s->pt, va + G1 - 1, &leaf));
	CHECK_EQ(leaf.va, va);
	CHECK_EQ(leaf.pa, 4 * G1);
	CHECK_EQ(leaf.size, G1);
	CHECK_EQ(leaf.flags, PT_GLOBAL);
	CHECK(!pt_translate(&s->pt, va + G1, &leaf));
	CHECK(!pt_translate(&s->pt, va - 1, &leaf));
}

TEST(pt_map_1g_range_without_1g_flag_uses_2m)
{
	struct sim *s = sim_new(SIM_FRAMES);

	CHECK_EQ(pt_map(&s->pt, G1, 0, G1, PT_HUGE_2M), 0);
	struct leaves *ls = walk_all(s);
	CHECK_EQ(ls->n, 512);
	for (int i = 0; i < 512; i++) {
		CHECK_EQ(ls->l[i].va, G1 + i * M2);
		CHECK_EQ(ls->l[i].pa, i * M2);
		CHECK_EQ(ls->l[i].size, M2);
	}
}

TEST(pt_map_1g_flag_alone_does_not_allow_2m)
{
	struct sim *s = sim_new(SIM_FRAMES);

	CHECK_EQ(pt_map(&s->pt, M2, M2, M2, PT_HUGE_1G), 0);
	struct leaves *ls = walk_all(s);
	CHECK_EQ(ls->n, 512);
	CHECK_EQ(ls->l[0].size, P);
}

TEST(pt_map_no_huge_flags_uses_4k)
{
	struct sim *s = sim_new(SIM_FRAMES);

	CHECK_EQ(pt_map(&s->pt, G1, G1, M2, PT_WRITE), 0);
	struct leaves *ls = walk_all(s);
	CHECK_EQ(ls->n, 512);
	for (int i = 0; i < 512; i++) {
		CHECK_EQ(ls->l[i].va, G1 + i * P);
		CHECK_EQ(ls->l[i].pa, G1 + i * P);
		CHECK_EQ(ls->l[i].size, P);
	}
}

TEST(pt_map_mixes_2m_and_4k)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct leaves *ls;

	/* 2 MiB + 4 KiB from an aligned start: one huge leaf then one page. */
	CHECK_EQ(pt_map(&s->pt, 0x600000, 0x1000000, M2 + P, PT_HUGE_2M), 0);
	ls = walk_all(s);
	CHECK_EQ(ls->n, 2);
	CHECK_EQ(ls->l[0].va, 0x600000);
	CHECK_EQ(ls->l[0].pa, 0x1000000);
	CHECK_EQ(ls->l[0].size, M2);
	CHECK_EQ(ls->l[1].va, 0x800000);
	CHECK_EQ(ls->l[1].pa, 0x1200000);
	CHECK_EQ(ls->l[1].size, P);

	/* 4 KiB + 2 MiB ending aligned: one page then one huge leaf. */
	s = sim_new(SIM_FRAMES);
	CHECK_EQ(pt_map(&s->pt, 0x600000 - P, 0x1000000 - P, M2 + P, PT_HUGE_2M), 0);
	ls = walk_all(s);
	CHECK_EQ(ls->n, 2);
	CHECK_EQ(ls->l[0].va, 0x600000 - P);
	CHECK_EQ(ls->l[0].size, P);
	CHECK_EQ(ls->l[1].va, 0x600000);
	CHECK_EQ(ls->l[1].pa, 0x1000000);
	CHECK_EQ(ls->l[1].size, M2);

	/* 4 KiB + 1 GiB + 2 MiB + 4 KiB with both huge sizes allowed. */
	s = sim_new(SIM_FRAMES);
	CHECK_EQ(pt_map(&s->pt, DMAP + G1 - P, G1 - P, P + G1 + M2 + P, PT_HUGE_2M | PT_HUGE_1G),
		 0);
	ls = walk_all(s);
	CHECK_EQ(ls->n, 4);
	CHECK_EQ(ls->l[0].va, DMAP + G1 - P);
	CHECK_EQ(ls->l[0].size, P);
	CHECK_EQ(ls->l[1].va, DMAP + G1);
	CHECK_EQ(ls->l[1].pa, G1);
	CHECK_EQ(ls->l[1].size, G1);
	CHECK_EQ(ls->l[2].va, DMAP + 2 * G1);
	CHECK_EQ(ls->l[2].pa, 2 * G1);
	CHECK_EQ(ls->l[2].size, M2);
	CHECK_EQ(ls->l[3].va, DMAP + 2 * G1 + M2);
	CHECK_EQ(ls->l[3].pa, 2 * G1 + M2);
	CHECK_EQ(ls->l[3].size, P);
}

TEST(pt_map_unaligned_pa_forces_4k)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct leaves *ls;

	/* va aligned, pa only 4 KiB aligned. */
	CHECK_EQ(pt_map(&s->pt, 0x200000, 0x201000, M2, PT_HUGE_2M | PT_HUGE_1G), 0);
	ls = walk_all(s);
	CHECK_EQ(ls->n, 512);
	for (int i = 0; i < 512; i++) {
		CHECK_EQ(ls->l[i].size, P);
		CHECK_EQ(ls->l[i].pa, 0x201000 + i * P);
	}

	/* pa 2 MiB but not 1 GiB aligned: 2 MiB leaves for a 1 GiB range. */
	s = sim_new(SIM_FRAMES);
	CHECK_EQ(pt_map(&s->pt, G1, M2, G1, PT_HUGE_2M | PT_HUGE_1G), 0);
	ls = walk_all(s);
	CHECK_EQ(ls->n, 512);
	CHECK_EQ(ls->l[0].size, M2);
	CHECK_EQ(ls->l[511].pa, 512 * M2);

	/* Aligned but too short for a huge leaf. */
	s = sim_new(SIM_FRAMES);
	CHECK_EQ(pt_map(&s->pt, 0x200000, 0x400000, M2 - P, PT_HUGE_2M), 0);
	ls = walk_all(s);
	CHECK_EQ(ls->n, 511);
	CHECK_EQ(ls->l[0].size, P);
}

TEST(pt_map_rejects_write_exec)
{
	struct sim *s = sim_new(SIM_FRAMES);

	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, P, PT_WRITE | PT_EXEC), -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0x200000, 0x200000, M2, PT_WRITE | PT_EXEC | PT_HUGE_2M), -EINVAL);
	CHECK_EQ(s->used, 1);
	CHECK_EQ(walk_all(s)->n, 0);
}

TEST(pt_map_rejects_bad_arguments)
{
	struct sim *s = sim_new(SIM_FRAMES);
	const uint64_t top_pa = 1ull << PT_MAX_PHYS_BITS;

	/* Misaligned va, pa, size; size 0. */
	CHECK_EQ(pt_map(&s->pt, 0x1001, 0x1000, P, 0), -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1800, P, 0), -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, P + 1, 0), -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, 100, 0), -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, 0, 0), -EINVAL);
	/* Non-canonical start, end in the hole, lower half crossing into the upper half. */
	CHECK_EQ(pt_map(&s->pt, 0x0000800000000000ull, 0x1000, P, 0), -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0xffff7ffffffff000ull, 0x1000, P, 0), -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0x1234000000000000ull, 0x1000, P, 0), -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0x00007ffffffff000ull, 0x1000, 2 * P, 0), -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0x00007ffffffff000ull, 0x1000,
			0xffff800000001000ull - 0x00007ffffffff000ull, 0),
		 -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0, 0, 0xffff800000000000ull, 0), -EINVAL);
	/* Wrapping ranges. */
	CHECK_EQ(pt_map(&s->pt, 0xfffffffffffff000ull, 0x1000, 2 * P, 0), -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0xffff800000000000ull, 0x1000, 0x0000800000000000ull + P, 0),
		 -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0x1000, 0xfffffffffffff000ull, 2 * P, 0), -EINVAL);
	/* pa beyond 2^52, at the start or the end. */
	CHECK_EQ(pt_map(&s->pt, 0x1000, top_pa, P, 0), -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0x1000, top_pa - P, 2 * P, 0), -EINVAL);
	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x8000000000000000ull, P, 0), -EINVAL);
	CHECK_EQ(s->used, 1);
	CHECK_EQ(walk_all(s)->n, 0);

	/* The extremes that are fine. */
	struct pt_leaf leaf;
	CHECK_EQ(pt_map(&s->pt, 0x1000, top_pa - P, P, 0), 0);
	CHECK(pt_translate(&s->pt, 0x1000, &leaf));
	CHECK_EQ(leaf.pa, top_pa - P);
	CHECK_EQ(pt_map(&s->pt, 0x00007ffffffff000ull, 0, P, 0), 0);
	CHECK_EQ(pt_map(&s->pt, 0xffff800000000000ull, 0, P, 0), 0);
	CHECK_EQ(pt_map(&s->pt, 0xfffffffffffff000ull, 0, P, 0), 0);
	CHECK(pt_translate(&s->pt, 0xffffffffffffffffull, &leaf));
	CHECK_EQ(leaf.va, 0xfffffffffffff000ull);
	CHECK_EQ(walk_all(s)->n, 4);
}

TEST(pt_map_eexist_on_remap)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_leaf leaf;

	CHECK_EQ(pt_map(&s->pt, 0x5000, 0xa000, P, PT_WRITE), 0);
	CHECK_EQ(pt_map(&s->pt, 0x5000, 0xa000, P, PT_WRITE), -EEXIST);
	CHECK_EQ(pt_map(&s->pt, 0x5000, 0xb000, P, 0), -EEXIST);
	/* Pages before the conflict stay mapped; the original is unchanged. */
	CHECK_EQ(pt_map(&s->pt, 0x2000, 0x100000, 5 * P, PT_EXEC), -EEXIST);
	CHECK(pt_translate(&s->pt, 0x2000, &leaf));
	CHECK_EQ(leaf.pa, 0x100000);
	CHECK(pt_translate(&s->pt, 0x4000, &leaf));
	CHECK_EQ(leaf.pa, 0x102000);
	CHECK_EQ(leaf.flags, PT_EXEC);
	CHECK(pt_translate(&s->pt, 0x5000, &leaf));
	CHECK_EQ(leaf.pa, 0xa000);
	CHECK_EQ(leaf.flags, PT_WRITE);
	CHECK(!pt_translate(&s->pt, 0x6000, &leaf));
}

TEST(pt_map_eexist_inside_huge_page)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_leaf leaf;

	CHECK_EQ(pt_map(&s->pt, 0x400000, 0x400000, M2, PT_HUGE_2M), 0);
	CHECK_EQ(pt_map(&s->pt, 0x400000 + 5 * P, 0x1000, P, 0), -EEXIST);
	CHECK_EQ(pt_map(&s->pt, 0x400000, 0x400000, M2, PT_HUGE_2M), -EEXIST);
	CHECK_EQ(pt_map(&s->pt, 0x400000, 0x400000, M2, 0), -EEXIST);
	CHECK_EQ(pt_map(&s->pt, 0x400000 - P, 0x1000, 2 * P, 0), -EEXIST);
	CHECK(pt_translate(&s->pt, 0x400000 - P, &leaf));	 /* before the conflict */
	CHECK_EQ(pt_map(&s->pt, 0, 0, G1, PT_HUGE_1G), -EEXIST); /* over a PD */

	CHECK_EQ(pt_map(&s->pt, DMAP, 0, G1, PT_HUGE_1G), 0);
	CHECK_EQ(pt_map(&s->pt, DMAP + 7 * M2, 0, M2, PT_HUGE_2M), -EEXIST);
	CHECK_EQ(pt_map(&s->pt, DMAP + G1 - P, 0, P, 0), -EEXIST);

	/* A huge leaf over a table that has a page in it. */
	CHECK_EQ(pt_map(&s->pt, 0xc00000 + 511 * P, 0, P, 0), 0);
	CHECK_EQ(pt_map(&s->pt, 0xc00000, 0, M2, PT_HUGE_2M), -EEXIST);

	CHECK(pt_translate(&s->pt, 0x400000 + 5 * P, &leaf));
	CHECK_EQ(leaf.size, M2);
	CHECK_EQ(leaf.pa, 0x400000);
	CHECK_EQ(walk_all(s)->n, 4);
}

TEST(pt_map_enomem_when_frames_run_out)
{
	for (size_t limit = 1; limit < 4; limit++) {
		struct sim *s = sim_new(limit);
		struct pt_leaf leaf;

		CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, P, 0), -ENOMEM);
		CHECK_EQ(s->used, limit);
		CHECK(!pt_translate(&s->pt, 0x1000, &leaf));
		CHECK_EQ(walk_all(s)->n, 0);
		/* With the frames it needs it succeeds on the partly built tables. */
		s->limit = 4;
		CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, P, 0), 0);
		CHECK(pt_translate(&s->pt, 0x1000, &leaf));
		CHECK_EQ(s->used, 4);
	}

	/* Running out part way through a range keeps what was mapped. */
	struct sim *s = sim_new(4);
	struct pt_leaf leaf;
	CHECK_EQ(pt_map(&s->pt, M2 - P, 0, 2 * P, 0), -ENOMEM);
	CHECK(pt_translate(&s->pt, M2 - P, &leaf));
	CHECK(!pt_translate(&s->pt, M2, &leaf));
	/* A 2 MiB leaf needs no page table. */
	CHECK_EQ(pt_map(&s->pt, M2, 0, M2, PT_HUGE_2M), 0);
}

TEST(pt_translate_rejects_non_canonical)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_leaf leaf;

	CHECK_EQ(pt_map(&s->pt, 0x00007ffffffff000ull, 0x1000, P, 0), 0);
	CHECK_EQ(pt_map(&s->pt, 0xffff800000000000ull, 0x2000, P, 0), 0);
	CHECK(!pt_translate(&s->pt, 0x0000800000000000ull, &leaf));
	CHECK(!pt_translate(&s->pt, 0xffff7ffffffff000ull, &leaf));
	CHECK(!pt_translate(&s->pt, 0x00ff800000000000ull, &leaf));
	CHECK(pt_translate(&s->pt, 0xffff800000000fffull, &leaf));
	CHECK_EQ(leaf.va, 0xffff800000000000ull);
	CHECK_EQ(leaf.pa, 0x2000);
}

TEST(pt_walk_visits_leaves_in_order)
{
	static const struct {
		vaddr_t va;
		paddr_t pa;
		uint64_t size;
		uint32_t flags;
	} maps[] = {
	    /* Mapped in scrambled order; listed here in address order. */
	    {0x1000, 0x5000, P, PT_EXEC},
	    {0x200000, 0x400000, M2, PT_WRITE | PT_HUGE_2M},
	    {0x00007fffffe00000ull, 0x600000, P, PT_UC},
	    {0xffff800000000000ull, 0, G1, PT_WRITE | PT_GLOBAL | PT_HUGE_1G},
	    {0xffff800040000000ull, 0x40000000, P, PT_WRITE | PT_GLOBAL},
	    {0xffffc00000000000ull, 0x1000000, P, PT_EXEC | PT_GLOBAL},
	    {0xffffffffc0000000ull, 0x2000000, M2, PT_HUGE_2M | PT_HUGE_1G},
	    {0xfffffffffffff000ull, 0x3000, P, PT_WRITE},
	};
	static const int order[] = {5, 0, 7, 2, 3, 6, 1, 4};
	struct sim *s = sim_new(SIM_FRAMES);

	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		int k = order[i];
		CHECK_EQ(pt_map(&s->pt, maps[k].va, maps[k].pa, maps[k].size, maps[k].flags), 0);
	}
	struct leaves *ls = walk_all(s);
	CHECK_EQ(ls->n, (int)ARRAY_SIZE(maps));
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		CHECK_EQ(ls->l[i].va, maps[i].va);
		CHECK_EQ(ls->l[i].pa, maps[i].pa);
		CHECK_EQ(ls->l[i].size, maps[i].size);
		CHECK_EQ(ls->l[i].flags, maps[i].flags & PERM);
	}
}

TEST(pt_walk_empty_and_early_stop)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct leaves *ls = walk_all(s);
	static struct leaves stop;

	CHECK_EQ(ls->n, 0);
	CHECK_EQ(pt_map(&s->pt, DMAP, 0x100000, 10 * P, PT_WRITE), 0);
	CHECK_EQ(pt_map(&s->pt, 0x10000, 0x100000, 3 * P, 0), 0);
	memset(&stop, 0, sizeof(stop));
	stop.stop_after = 5;
	CHECK_EQ(pt_walk(&s->pt, collect, &stop), 5);
	CHECK_EQ(stop.n, 5);
	CHECK_EQ(stop.l[0].va, 0x10000);
	CHECK_EQ(stop.l[2].va, 0x12000);
	CHECK_EQ(stop.l[3].va, DMAP);
	CHECK_EQ(stop.l[4].va, DMAP + P);
	/* Stopping at the very first leaf. */
	memset(&stop, 0, sizeof(stop));
	stop.stop_after = 1;
	CHECK_EQ(pt_walk(&s->pt, collect, &stop), 1);
	CHECK_EQ(stop.n, 1);
	CHECK_EQ(walk_all(s)->n, 13);
}

/* The leaf walk reports for va, or a zeroed leaf if the walk has none. */
static struct pt_leaf walk_leaf(struct sim *s, vaddr_t va)
{
	struct leaves *ls = walk_all(s);
	struct pt_leaf none = {0};

	for (int i = 0; i < ls->n; i++)
		if (va >= ls->l[i].va && va - ls->l[i].va < ls->l[i].size)
			return ls->l[i];
	return none;
}

TEST(pt_effective_flags_fold_upper_levels)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_leaf leaf;
	const vaddr_t a = 0x40000000, b = 0x80000000, c = DMAP, d = DMAP + 0x8000000000ull;

	CHECK_EQ(pt_map(&s->pt, a, 0x1000, P, PT_WRITE), 0);
	CHECK_EQ(pt_map(&s->pt, a + P, 0x2000, P, PT_EXEC), 0);
	CHECK_EQ(pt_map(&s->pt, b, 0, M2, PT_WRITE | PT_HUGE_2M), 0);
	CHECK_EQ(pt_map(&s->pt, c, 0x3000, P, PT_EXEC | PT_GLOBAL), 0);
	CHECK_EQ(pt_map(&s->pt, d, 0x4000, P, PT_WRITE), 0);

	/* Read-only PD entry above a: W gone, X untouched. */
	*entry_at(s, a, 2) &= ~PTE_W;
	CHECK(pt_translate(&s->pt, a, &leaf));
	CHECK_EQ(leaf.flags, 0);
	CHECK_EQ(walk_leaf(s, a).flags, 0);
	CHECK(pt_translate(&s->pt, a + P, &leaf));
	CHECK_EQ(leaf.flags, PT_EXEC);
	CHECK_EQ(walk_leaf(s, a + P).flags, PT_EXEC);

	/* NX on the PDPT entry above a (and a + P): X gone. */
	*entry_at(s, a, 1) |= PTE_NX;
	CHECK(pt_translate(&s->pt, a + P, &leaf));
	CHECK_EQ(leaf.flags, 0);
	CHECK_EQ(walk_leaf(s, a + P).flags, 0);

	/* Read-only PML4 entry above the 2 MiB leaf at b. */
	CHECK(pt_translate(&s->pt, b, &leaf));
	CHECK_EQ(leaf.flags, PT_WRITE);
	*entry_at(s, b, 0) &= ~PTE_W;
	CHECK(pt_translate(&s->pt, b + 0x1234, &leaf));
	CHECK_EQ(leaf.flags, 0);
	CHECK_EQ(leaf.size, M2);
	CHECK_EQ(walk_leaf(s, b).flags, 0);
	CHECK_EQ(walk_leaf(s, b).size, M2);

	/* NX on the PML4 entry above c; G still reported from the leaf. */
	*entry_at(s, c, 0) |= PTE_NX;
	CHECK(pt_translate(&s->pt, c, &leaf));
	CHECK_EQ(leaf.flags, PT_GLOBAL);
	CHECK_EQ(walk_leaf(s, c).flags, PT_GLOBAL);

	/* U only when every level has it. */
	CHECK(pt_translate(&s->pt, d, &leaf));
	CHECK_EQ(leaf.flags, PT_WRITE);
	for (int l = 0; l < 4; l++) {
		*entry_at(s, d, l) |= PTE_U;
		CHECK(pt_translate(&s->pt, d, &leaf));
		CHECK_EQ(leaf.flags, l == 3 ? PT_WRITE | PT_USER : PT_WRITE);
	}
	CHECK_EQ(walk_leaf(s, d).flags, PT_WRITE | PT_USER);

	/* A hand-made W+X leaf is reported as such (so W^X checks can see it). */
	*entry_at(s, d, 3) &= ~PTE_NX;
	CHECK(pt_translate(&s->pt, d, &leaf));
	CHECK_EQ(leaf.flags, PT_WRITE | PT_EXEC | PT_USER);
	*entry_at(s, d, 2) &= ~PTE_W;
	CHECK(pt_translate(&s->pt, d, &leaf));
	CHECK_EQ(leaf.flags, PT_EXEC | PT_USER);
	CHECK_EQ(walk_leaf(s, d).flags, PT_EXEC | PT_USER);
}

/* --- W^X property over loader-like layouts ----------------------------- */

struct region {
	vaddr_t va;
	paddr_t pa;
	uint64_t size;
	uint32_t flags; /* as requested */
	uint64_t covered;
};

struct layout {
	struct region r[32];
	int n;
	vaddr_t guard;
	/* walk state */
	vaddr_t next_va;
	int leaves, leaves_1g, leaves_2m;
	const char *bad;
	vaddr_t bad_va;
};

static int layout_map(struct sim *s, struct layout *lo, vaddr_t va, paddr_t pa, uint64_t size,
		      uint32_t flags)
{
	lo->r[lo->n++] = (struct region){va, pa, size, flags, 0};
	return pt_map(&s->pt, va, pa, size, flags);
}

static int layout_check_leaf(const struct pt_leaf *leaf, void *arg)
{
	struct layout *lo = arg;
	int i;

	lo->bad_va = leaf->va;
	if ((leaf->flags & PT_WRITE) && (leaf->flags & PT_EXEC))
		lo->bad = "leaf is writable and executable";
	else if (!(leaf->va >> 63))
		lo->bad = "lower-half leaf";
	else if (leaf->va < lo->next_va)
		lo->bad = "leaves out of order or overlapping";
	if (lo->bad)
		return 1;
	lo->next_va = leaf->va + leaf->size;
	lo->leaves++;
	lo->leaves_1g += leaf->size == G1;
	lo->leaves_2m += leaf->size == M2;
	for (i = 0; i < lo->n; i++)
		if (leaf->va >= lo->r[i].va && leaf->va - lo->r[i].va < lo->r[i].size)
			break;
	if (i == lo->n)
		lo->bad = "leaf outside every region";
	else if (leaf->size > lo->r[i].size - (leaf->va - lo->r[i].va))
		lo->bad = "leaf runs past its region";
	else if (leaf->pa != lo->r[i].pa + (leaf->va - lo->r[i].va))
		lo->bad = "leaf has the wrong pa";
	else if (leaf->flags != (lo->r[i].flags & PERM))
		lo->bad = "leaf has the wrong flags";
	if (lo->bad)
		return 1;
	lo->r[i].covered += leaf->size;
	return 0;
}

/* A random sorted, disjoint RAM map below 64 GiB: gaps and lengths of mixed granularity. */
static int random_ram(uint64_t (*ram)[2], int max)
{
	static const uint64_t units[] = {P, 64 * P, M2, G1};
	uint64_t at = (rng() % 256) * P;
	int n = 0;

	while (n < max) {
		uint64_t len = (1 + rng() % 8) * units[rng() % 4] + (rng() % 3) * (rng() % 512) * P;
		if (at + len > 64 * G1)
			break;
		ram[n][0] = at;
		ram[n][1] = len;
		n++;
		at += len + (1 + rng() % 4) * units[rng() % 4] + (rng() % 2) * (rng() % 512) * P;
	}
	return n;
}

TEST(pt_loader_layout_is_w_xor_x)
{
	int total_1g = 0, total_2m = 0;

	for (uint64_t seed = 1; seed <= 40; seed++) {
		struct sim *s = sim_new(SIM_FRAMES);
		static struct layout lo;
		uint64_t ram[12][2];
		int nram, big = 0;

		rng_state = seed * 0x9e3779b97f4a7c15ull;
		do
			nram = random_ram(ram, 1 + rng() % 12);
		while (nram == 0);
		memset(&lo, 0, sizeof(lo));

		/* Direct map of RAM. */
		for (int i = 0; i < nram; i++) {
			CHECK_EQ(layout_map(s, &lo, DMAP + ram[i][0], ram[i][0], ram[i][1],
					    PT_WRITE | PT_GLOBAL | PT_HUGE_2M | PT_HUGE_1G),
				 0);
			if (ram[i][1] > ram[big][1])
				big = i;
		}

		/* Kernel image: text R-X, rodata R--, data RW-, back to back in some RAM. */
		uint64_t text = (1 + rng() % 300) * P, ro = (1 + rng() % 100) * P;
		uint64_t data = (1 + rng() % 200) * P;
		uint64_t img = text + ro + data;
		paddr_t kpa = ram[big][0];
		if (ram[big][1] > img)
			kpa += ALIGN_DOWN(rng() % (ram[big][1] - img), P);
		CHECK_EQ(layout_map(s, &lo, KBASE, kpa, text, PT_EXEC | PT_GLOBAL), 0);
		CHECK_EQ(layout_map(s, &lo, KBASE + text, kpa + text, ro, PT_GLOBAL), 0);
		CHECK_EQ(layout_map(s, &lo, KBASE + text + ro, kpa + text + ro, data,
				    PT_WRITE | PT_GLOBAL),
			 0);

		/* Stack above an unmapped guard page. */
		uint64_t stack = (1 + rng() % 16) * P;
		paddr_t spa = ram[0][0] + ALIGN_DOWN(rng() % ram[0][1], P);
		lo.guard = SBASE + (rng() % 1024) * P;
		CHECK_EQ(layout_map(s, &lo, lo.guard + P, spa, stack, PT_WRITE), 0);

		/* Every leaf: not W+X, higher half, in order, inside a region with its pa. */
		CHECK_EQ(pt_walk(&s->pt, layout_check_leaf, &lo), 0);
		if (lo.bad) {
			check_fail(__FILE__, __LINE__, "seed %llu va %#llx: %s",
				   (unsigned long long)seed, (unsigned long long)lo.bad_va, lo.bad);
			return;
		}
		total_1g += lo.leaves_1g;
		total_2m += lo.leaves_2m;

		struct pt_leaf leaf;
		CHECK(!pt_translate(&s->pt, lo.guard, &leaf));
		CHECK(!pt_translate(&s->pt, lo.guard + P - 1, &leaf));
		CHECK(!pt_translate(&s->pt, 0, &leaf));
		for (int i = 0; i < lo.n; i++) {
			struct region *r = &lo.r[i];
			CHECK_EQ(r->covered, r->size);
			/* First, last and random bytes translate to the expected pa. */
			for (int k = 0; k < 18; k++) {
				uint64_t off = k == 0 ? 0 : k == 1 ? r->size - 1 : rng() % r->size;
				CHECK(pt_translate(&s->pt, r->va + off, &leaf));
				CHECK_EQ(leaf.pa + (r->va + off - leaf.va), r->pa + off);
				CHECK_EQ(leaf.flags, r->flags & PERM);
			}
			if (i < nram) {
				/* Just outside a RAM range is unmapped unless another range is
				 * there. */
				bool next_adj =
				    i + 1 < nram && ram[i + 1][0] == ram[i][0] + ram[i][1];
				CHECK(next_adj || !pt_translate(&s->pt, r->va + r->size, &leaf));
			}
		}
	}
	/* The random maps did exercise huge leaves. */
	CHECK(total_1g > 0);
	CHECK(total_2m > 0);
}

/* --- randomized model test ----------------------------------------------- */

#define WIN_PAGES 4096 /* 16 MiB */

struct model_page {
	bool mapped;
	paddr_t pa;
	uint32_t flags;
	vaddr_t leaf_va;
	uint64_t leaf_size;
};

static struct model_page model[WIN_PAGES];

/* Check every page of the window against the model; returns the bad page or -1. */
static int model_mismatch(struct sim *s, vaddr_t base)
{
	for (int i = 0; i < WIN_PAGES; i++) {
		struct pt_leaf leaf;
		vaddr_t va = base + i * P;
		bool got = pt_translate(&s->pt, va + (i % 7) * 0x111, &leaf);

		if (got != model[i].mapped)
			return i;
		if (!got)
			continue;
		if (leaf.va != model[i].leaf_va || leaf.size != model[i].leaf_size ||
		    leaf.pa + (va - leaf.va) != model[i].pa || leaf.flags != model[i].flags)
			return i;
	}
	return -1;
}

static const uint32_t model_flags[] = {
    0,
    PT_WRITE,
    PT_EXEC,
    PT_GLOBAL,
    PT_UC,
    PT_WRITE | PT_GLOBAL,
    PT_EXEC | PT_GLOBAL,
    PT_WRITE | PT_UC,
    PT_WRITE | PT_EXEC,
};

TEST(pt_map_random_ops_match_model)
{
	/*
	 * 16 MiB windows straddling a PML4 boundary in each half and at the very
	 * top; many short rounds so the window does not just fill up.
	 */
	static const vaddr_t bases[] = {0x0000008000000000ull - 8 * MiB,
					0xffff808000000000ull - 8 * MiB, 0xffffffffff000000ull};

	for (size_t w = 0; w < 40 * ARRAY_SIZE(bases); w++) {
		vaddr_t base = bases[w % ARRAY_SIZE(bases)];
		struct sim *s = sim_new(SIM_FRAMES);
		int bad;

		rng_state = 0x1234567 + w;
		memset(model, 0, sizeof(model));
		for (int op = 0; op < 75; op++) {
			uint64_t first = rng() % WIN_PAGES, n;
			uint64_t kind = rng() % 4;

			/* Small runs, medium runs and huge-page-sized runs (often aligned). */
			if (rng() % (kind == 3 ? 2 : 4) == 0)
				first = ALIGN_DOWN(first, 512);
			if (kind < 2)
				n = 1 + rng() % 16;
			else if (kind == 2)
				n = 1 + rng() % 300;
			else
				n = 512 * (1 + rng() % 2) + rng() % 3;
			n = MIN(n, WIN_PAGES - first);

			vaddr_t va = base + first * P;
			paddr_t pa = (rng() % (1 << 20)) * M2;
			pa += rng() % 4 ? (va & (M2 - 1)) : (rng() % 512) * P;
			uint32_t flags = model_flags[rng() % ARRAY_SIZE(model_flags)];
			if (rng() % 2)
				flags |= PT_HUGE_2M;
			if (rng() % 4 == 0)
				flags |= PT_HUGE_1G;

			/* What the model expects, chunk by chunk as the contract lays leaves. */
			int expect = 0;
			if ((flags & PT_WRITE) && (flags & PT_EXEC)) {
				expect = -EINVAL;
			} else {
				uint64_t i = 0;
				while (i < n && !expect) {
					vaddr_t cva = va + i * P;
					paddr_t cpa = pa + i * P;
					uint64_t len = 1;
					if ((flags & PT_HUGE_2M) && IS_ALIGNED(cva | cpa, M2) &&
					    n - i >= 512)
						len = 512;
					for (uint64_t j = 0; j < len; j++)
						if (model[first + i + j].mapped)
							expect = -EEXIST;
					for (uint64_t j = 0; j < len && !expect; j++) {
						struct model_page *m = &model[first + i + j];
						m->mapped = true;
						m->pa = cpa + j * P;
						m->flags = flags & PERM;
						m->leaf_va = cva;
						m->leaf_size = len * P;
					}
					i += len;
				}
			}
			int got = pt_map(&s->pt, va, pa, n * P, flags);
			if (got != expect) {
				check_fail(__FILE__, __LINE__,
					   "round %zu op %d: pt_map(%#llx, %#llx, %llu pages, %#x) "
					   "= %d, model says %d",
					   w, op, (unsigned long long)va, (unsigned long long)pa,
					   (unsigned long long)n, flags, got, expect);
				return;
			}
			if (op % 25 == 0 && (bad = model_mismatch(s, base)) >= 0) {
				check_fail(__FILE__, __LINE__, "round %zu op %d: page %d differs",
					   w, op, bad);
				return;
			}
		}
		bad = model_mismatch(s, base);
		if (bad >= 0) {
			check_fail(__FILE__, __LINE__, "round %zu: page %d differs", w, bad);
			return;
		}

		/* The walk reports exactly the model's leaves, in order. */
		struct leaves *ls = walk_all(s);
		int k = 0;
		for (int i = 0; i < WIN_PAGES; i++) {
			struct model_page *m = &model[i];
			if (!m->mapped || m->leaf_va != base + i * P)
				continue;
			CHECK(k < ls->n);
			CHECK_EQ(ls->l[k].va, m->leaf_va);
			CHECK_EQ(ls->l[k].size, m->leaf_size);
			CHECK_EQ(ls->l[k].pa, m->pa);
			CHECK_EQ(ls->l[k].flags, m->flags);
			k++;
		}
		CHECK_EQ(k, ls->n);
		CHECK(k > 0 && ls->n <= (int)ARRAY_SIZE(ls->l));
	}
}

int main(void)
{
	RUN(pt_is_canonical_boundaries);
	RUN(pt_map_maps_4k_pages);
	RUN(pt_map_flags_reach_leaf);
	RUN(pt_map_uses_2m_leaves_when_allowed);
	RUN(pt_map_uses_1g_leaves_when_allowed);
	RUN(pt_map_1g_range_without_1g_flag_uses_2m);
	RUN(pt_map_1g_flag_alone_does_not_allow_2m);
	RUN(pt_map_no_huge_flags_uses_4k);
	RUN(pt_map_mixes_2m_and_4k);
	RUN(pt_map_unaligned_pa_forces_4k);
	RUN(pt_map_rejects_write_exec);
	RUN(pt_map_rejects_bad_arguments);
	RUN(pt_map_eexist_on_remap);
	RUN(pt_map_eexist_inside_huge_page);
	RUN(pt_map_enomem_when_frames_run_out);
	RUN(pt_translate_rejects_non_canonical);
	RUN(pt_walk_visits_leaves_in_order);
	RUN(pt_walk_empty_and_early_stop);
	RUN(pt_effective_flags_fold_upper_levels);
	RUN(pt_loader_layout_is_w_xor_x);
	RUN(pt_map_random_ops_match_model);
	return check_done();
}
