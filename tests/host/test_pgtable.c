/*
 * Host tests for arch/x86_64/pgtable.c: building, changing, translating,
 * walking and checking page tables kept in a simulated physical memory (an
 * arena of 4 KiB frames at a fake physical base, with a free list so tables
 * given back are reused and leaks show, and a limit to make it run out).
 * Checked against hand-worked cases, hand-crafted entries, loader-like
 * layouts for random memory maps and a per-page model of map, unmap,
 * protect and replace that predicts every leaf.
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
#define TOP_PAGE   0xfffffffffffff000ull

/* Simulated physical memory for table frames. */
struct sim {
	struct pgtable pt;
	struct pt_flush flush; /* where pt.flush points once a test asks for it */
	_Alignas(4096) uint8_t mem[SIM_FRAMES * P];
	bool in_use[SIM_FRAMES];
	uint16_t free_list[SIM_FRAMES];
	size_t nfree;
	size_t next;  /* frames from here up were never handed out */
	size_t used;  /* frames in use, root included */
	size_t limit; /* alloc_table fails while used is at this */
	size_t freed; /* frames given back through free_table */
};

static struct sim *sim_of(struct pgtable *pt)
{
	return pt->ctx;
}

/* The frame index of table pa; aborts unless pa is a table frame in use. */
static size_t sim_frame(struct sim *s, paddr_t pa, const char *who)
{
	size_t i = (pa - SIM_BASE) / P;

	if (pa < SIM_BASE || !IS_ALIGNED(pa, P) || i >= SIM_FRAMES || !s->in_use[i]) {
		fprintf(stderr, "%s: bad frame %#llx\n", who, (unsigned long long)pa);
		abort();
	}
	return i;
}

static uint64_t *sim_table(struct sim *s, paddr_t pa)
{
	return (uint64_t *)(s->mem + sim_frame(s, pa, "sim_table") * P);
}

static paddr_t sim_alloc(struct pgtable *pt)
{
	struct sim *s = sim_of(pt);
	size_t i;

	if (s->used >= s->limit || (s->nfree == 0 && s->next >= SIM_FRAMES))
		return PADDR_INVALID;
	i = s->nfree ? s->free_list[--s->nfree] : s->next++;
	memset(s->mem + i * P, 0, P);
	s->in_use[i] = true;
	s->used++;
	return SIM_BASE + i * P;
}

/* Take a table back, poisoned so a later use of it shows. */
static void sim_free(struct pgtable *pt, paddr_t pa)
{
	struct sim *s = sim_of(pt);
	size_t i = sim_frame(s, pa, "free_table");

	if (pa == pt->root) {
		fprintf(stderr, "free_table: the root\n");
		abort();
	}
	memset(s->mem + i * P, 0xa5, P);
	s->in_use[i] = false;
	s->free_list[s->nfree++] = (uint16_t)i;
	s->used--;
	s->freed++;
}

/*
 * A fresh address space: garbage-filled memory, one root frame, limit frames
 * in all, free_table set, no flush record. There is one simulated memory, so
 * this discards the previous one.
 */
static struct sim *sim_new(size_t limit)
{
	static struct sim sim;
	struct sim *s = &sim;

	memset(s, 0, sizeof(*s));
	memset(s->mem, 0xa5, sizeof(s->mem));
	s->limit = SIM_FRAMES;
	s->pt.table_base = (uintptr_t)s->mem - SIM_BASE;
	s->pt.alloc_table = sim_alloc;
	s->pt.free_table = sim_free;
	s->pt.ctx = s;
	s->pt.root = sim_alloc(&s->pt);
	s->limit = limit;
	return s;
}

/* Record TLB work in s->flush from now on, starting empty. */
static struct pt_flush *sim_flush(struct sim *s)
{
	memset(&s->flush, 0, sizeof(s->flush));
	s->pt.flush = &s->flush;
	return &s->flush;
}

/*
 * What is wrong with s, or NULL: pt_check must pass, count exactly the
 * frames in use as tables and (with free_table set) find no empty table.
 */
static const char *sim_problem(struct sim *s)
{
	static char why[200];
	struct pt_check c;

	if (pt_check(&s->pt, &c) != 0)
		snprintf(why, sizeof(why), "pt_check: %s at %#llx", c.problem,
			 (unsigned long long)c.problem_va);
	else if (c.tables != s->used)
		snprintf(why, sizeof(why), "pt_check counts %llu tables, %zu frames in use",
			 (unsigned long long)c.tables, s->used);
	else if (s->pt.free_table && c.empty_tables)
		snprintf(why, sizeof(why), "%llu empty tables kept",
			 (unsigned long long)c.empty_tables);
	else
		return NULL;
	return why;
}

#define CHECK_SIM(s)                                                                               \
	do {                                                                                       \
		const char *why_ = sim_problem(s);                                                 \
		if (why_) {                                                                        \
			check_fail(__FILE__, __LINE__, "%s", why_);                                \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/* An entry's hardware bits: without the present-entry count entries 0 and 1 carry. */
static uint64_t hw(uint64_t e)
{
	return e & ~PTE_COUNT_MASK;
}

/* The entry for va at level (0 = PML4) or NULL if an upper entry is absent or a leaf. */
static uint64_t *entry_at(struct sim *s, vaddr_t va, int level)
{
	uint64_t *t = sim_table(s, s->pt.root);

	for (int l = 0;; l++) {
		uint64_t *e = &t[(va >> (39 - 9 * l)) & 511];
		if (l == level)
			return e;
		if (!(*e & PTE_P) || (l > 0 && (*e & PTE_PS)))
			return NULL;
		t = sim_table(s, *e & PTE_ADDR);
	}
}

/* The table holding va's entry at level (see entry_at). */
static uint64_t *table_of(struct sim *s, vaddr_t va, int level)
{
	uint64_t *e = entry_at(s, va, level);

	return e ? e - ((va >> (39 - 9 * level)) & 511) : NULL;
}

/* The permissions and cache type pt_translate reports for a mapping made with flags. */
static uint32_t perm_of(uint32_t flags)
{
	uint32_t f = flags & (PT_WRITE | PT_EXEC | PT_GLOBAL | PT_USER);

	if (flags & PT_UC)
		f |= PT_UC;
	else if (flags & PT_WC)
		f |= PT_WC;
	return f;
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

/* True if va translates to pa with flags in a leaf of size bytes. */
static bool maps_as(struct sim *s, vaddr_t va, paddr_t pa, uint32_t flags, uint64_t size)
{
	struct pt_leaf leaf;

	return pt_translate(&s->pt, va, &leaf) && leaf.pa + (va - leaf.va) == pa &&
	       leaf.flags == flags && leaf.size == size && pt_lookup(&s->pt, va) == pa;
}

/* True if no page of [va, va + size) translates. */
static bool unmapped(struct sim *s, vaddr_t va, uint64_t size)
{
	struct pt_leaf leaf;

	for (uint64_t off = 0; off < size; off += P)
		if (pt_translate(&s->pt, va + off, &leaf) ||
		    pt_lookup(&s->pt, va + off) != PADDR_INVALID)
			return false;
	return true;
}

/* True if the flush record names an address in [va, va + size). */
static bool flushed(const struct pt_flush *f, vaddr_t va, uint64_t size)
{
	for (unsigned int i = 0; i < f->count && i < PT_FLUSH_MAX; i++)
		if (f->va[i] - va < size)
			return true;
	return false;
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
	CHECK_EQ(hw(*e), 0x7000000 | PTE_P | PTE_NX);
	/* Upper entries are present and writable, never NX, U or PS. */
	for (int l = 0; l < 3; l++) {
		uint64_t u = *entry_at(s, 0x400000, l);
		CHECK_EQ(hw(u) & ~PTE_ADDR, PTE_P | PTE_W);
	}
	/* Entry 0 of each table carries its count of present entries (low 7 bits). */
	CHECK_EQ((*e & PTE_COUNT_MASK) >> PTE_COUNT_SHIFT, 4);
	CHECK_SIM(s);
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
		CHECK_EQ(hw(*entry_at(s, va, 3)), pa | PTE_P | cases[i].bits);
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
	CHECK_EQ(hw(*entry_at(s, 0x40000000, 2)), 0x80000000 | PTE_P | PTE_W | PTE_PS | PTE_NX);
	CHECK_SIM(s);

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
	CHECK_EQ(hw(*entry_at(s, va, 1)), 4 * G1 | PTE_P | PTE_PS | PTE_G | PTE_NX);
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

	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, P, PT_WRITE | PT_EXEC), -EPERM);
	CHECK_EQ(pt_map(&s->pt, 0x200000, 0x200000, M2, PT_WRITE | PT_EXEC | PT_HUGE_2M), -EPERM);
	/* Not even to replace an existing mapping. */
	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, P, PT_WRITE), 0);
	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, P, PT_WRITE | PT_EXEC | PT_REPLACE), -EPERM);
	CHECK(maps_as(s, 0x1000, 0x1000, PT_WRITE, P));
	CHECK_EQ(s->used, 4);
	CHECK_EQ(walk_all(s)->n, 1);
	CHECK_SIM(s);
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
	/* Bad arguments win over W+X. */
	CHECK_EQ(pt_map(&s->pt, 0x1001, 0x1000, P, PT_WRITE | PT_EXEC), -EINVAL);
	/* pa beyond 2^52, at the start or the end: out of range, not malformed. */
	CHECK_EQ(pt_map(&s->pt, 0x1000, top_pa, P, 0), -ERANGE);
	CHECK_EQ(pt_map(&s->pt, 0x1000, top_pa - P, 2 * P, 0), -ERANGE);
	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x8000000000000000ull, P, 0), -ERANGE);
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
	CHECK_SIM(s);
}

TEST(pt_map_eexist_on_remap)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_leaf leaf;

	CHECK_EQ(pt_map(&s->pt, 0x5000, 0xa000, P, PT_WRITE), 0);
	CHECK_EQ(pt_map(&s->pt, 0x5000, 0xa000, P, PT_WRITE), -EEXIST);
	CHECK_EQ(pt_map(&s->pt, 0x5000, 0xb000, P, 0), -EEXIST);
	/* Pages before the conflict are not mapped either; the original is unchanged. */
	CHECK_EQ(pt_map(&s->pt, 0x2000, 0x100000, 5 * P, PT_EXEC), -EEXIST);
	CHECK(!pt_translate(&s->pt, 0x2000, &leaf));
	CHECK(!pt_translate(&s->pt, 0x4000, &leaf));
	CHECK(pt_translate(&s->pt, 0x5000, &leaf));
	CHECK_EQ(leaf.pa, 0xa000);
	CHECK_EQ(leaf.flags, PT_WRITE);
	CHECK(!pt_translate(&s->pt, 0x6000, &leaf));
	CHECK_EQ(walk_all(s)->n, 1);
	CHECK_SIM(s);

	/* A conflict after pages that needed new tables gives those tables back. */
	CHECK_EQ(pt_map(&s->pt, 511 * G1 + M2 - P, 0, P, 0), 0);
	CHECK_EQ(s->used, 6);
	CHECK_EQ(pt_map(&s->pt, 510 * G1, 0, G1 + M2, PT_HUGE_2M), -EEXIST);
	CHECK_EQ(s->used, 6);
	CHECK(unmapped(s, 510 * G1, G1 + M2 - P));
	CHECK_EQ(walk_all(s)->n, 2);
	CHECK_SIM(s);
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
	CHECK(!pt_translate(&s->pt, 0x400000 - P, &leaf));	 /* before the conflict */
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
	CHECK_EQ(walk_all(s)->n, 3);
	CHECK_SIM(s);
}

TEST(pt_map_enomem_changes_nothing)
{
	struct pt_leaf leaf;

	for (size_t limit = 1; limit < 4; limit++) {
		struct sim *s = sim_new(limit);

		CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, P, 0), -ENOMEM);
		CHECK_EQ(s->used, 1); /* the tables built on the way were given back */
		CHECK_EQ(s->freed, limit - 1);
		CHECK(!pt_translate(&s->pt, 0x1000, &leaf));
		CHECK_EQ(walk_all(s)->n, 0);
		CHECK_SIM(s);
		/* With the frames it needs it succeeds. */
		s->limit = 4;
		CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, P, 0), 0);
		CHECK(pt_translate(&s->pt, 0x1000, &leaf));
		CHECK_EQ(s->used, 4);
		CHECK_SIM(s);
	}

	/* Running out part way through a range maps none of it. */
	struct sim *s = sim_new(4);
	CHECK_EQ(pt_map(&s->pt, M2 - P, 0, 2 * P, 0), -ENOMEM);
	CHECK(!pt_translate(&s->pt, M2 - P, &leaf));
	CHECK(!pt_translate(&s->pt, M2, &leaf));
	CHECK_EQ(s->used, 1);
	CHECK_SIM(s);
	/* A 2 MiB leaf needs no page table. */
	s->limit = 3;
	CHECK_EQ(pt_map(&s->pt, M2, 0, M2, PT_HUGE_2M), 0);
	/* Running out next to existing mappings leaves them and their tables alone. */
	CHECK_EQ(pt_map(&s->pt, M2 - 2 * P, 0x5000, 2 * P, PT_WRITE), -ENOMEM);
	CHECK(unmapped(s, M2 - 2 * P, 2 * P));
	CHECK(maps_as(s, M2, 0, 0, M2));
	CHECK_EQ(s->used, 3);
	CHECK_EQ(walk_all(s)->n, 1);
	CHECK_SIM(s);
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
		CHECK_EQ(ls->l[i].flags, perm_of(maps[i].flags));
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

/* --- flags: cache types, user, physical address width --------------------------- */

TEST(pt_map_cache_types_reach_leaf_and_translate)
{
	static const struct {
		uint32_t flags;
		uint64_t bits; /* besides P and NX */
		uint32_t reported;
	} cases[] = {
	    {PT_WC, PTE_PWT, PT_WC},
	    {PT_UC, PTE_PCD | PTE_PWT, PT_UC},
	    {PT_UC | PT_WC, PTE_PCD | PTE_PWT, PT_UC}, /* uncached wins */
	    {PT_WRITE | PT_WC, PTE_W | PTE_PWT, PT_WRITE | PT_WC},
	    {PT_GLOBAL | PT_WC, PTE_G | PTE_PWT, PT_GLOBAL | PT_WC},
	};
	struct sim *s = sim_new(SIM_FRAMES);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		vaddr_t va = KBASE + i * P, hva = DMAP + i * M2;
		paddr_t pa = 0x200000 + i * P, hpa = (i + 1) * M2;

		CHECK_EQ(pt_map(&s->pt, va, pa, P, cases[i].flags), 0);
		CHECK(maps_as(s, va, pa, cases[i].reported, P));
		CHECK_EQ(hw(*entry_at(s, va, 3)), pa | PTE_P | PTE_NX | cases[i].bits);
		/* 2 MiB leaves the same way; PAT (bit 12 there) stays clear. */
		CHECK_EQ(pt_map(&s->pt, hva, hpa, M2, cases[i].flags | PT_HUGE_2M), 0);
		CHECK(maps_as(s, hva + 7 * P, hpa + 7 * P, cases[i].reported, M2));
		CHECK_EQ(hw(*entry_at(s, hva, 2)), hpa | PTE_P | PTE_PS | PTE_NX | cases[i].bits);
	}
	/* pt_protect changes the cache type both ways. */
	CHECK_EQ(pt_protect(&s->pt, KBASE, P, PT_UC), 0);
	CHECK(maps_as(s, KBASE, 0x200000, PT_UC, P));
	CHECK_EQ(pt_protect(&s->pt, KBASE + P, P, PT_WC), 0);
	CHECK(maps_as(s, KBASE + P, 0x201000, PT_WC, P));
	CHECK_EQ(pt_protect(&s->pt, DMAP, M2, 0), 0);
	CHECK(maps_as(s, DMAP, M2, 0, M2));
	CHECK_EQ(hw(*entry_at(s, DMAP, 2)), M2 | PTE_P | PTE_PS | PTE_NX);
	CHECK_SIM(s);
}

TEST(pt_map_user_sets_u_on_every_level)
{
	struct sim *s = sim_new(SIM_FRAMES);

	CHECK_EQ(pt_map(&s->pt, 0x400000, 0x1000, P, PT_USER | PT_WRITE), 0);
	for (int l = 0; l < 4; l++)
		CHECK(*entry_at(s, 0x400000, l) & PTE_U);
	CHECK(maps_as(s, 0x400000, 0x1000, PT_USER | PT_WRITE, P));
	/* A supervisor page beside it: no U on its leaf, so supervisor. */
	CHECK_EQ(pt_map(&s->pt, 0x401000, 0x2000, P, 0), 0);
	CHECK(!(*entry_at(s, 0x401000, 3) & PTE_U));
	CHECK(maps_as(s, 0x401000, 0x2000, 0, P));

	/* A user page under tables built for a supervisor page lifts U on the way down. */
	CHECK_EQ(pt_map(&s->pt, KBASE, 0x3000, P, 0), 0);
	for (int l = 0; l < 4; l++)
		CHECK(!(*entry_at(s, KBASE, l) & PTE_U));
	CHECK_EQ(pt_map(&s->pt, KBASE + P, 0x4000, P, PT_USER), 0);
	for (int l = 0; l < 3; l++)
		CHECK(*entry_at(s, KBASE, l) & PTE_U);
	CHECK(maps_as(s, KBASE + P, 0x4000, PT_USER, P));
	CHECK(maps_as(s, KBASE, 0x3000, 0, P));

	/* Huge user leaves. */
	CHECK_EQ(pt_map(&s->pt, DMAP, 0, G1, PT_USER | PT_HUGE_1G), 0);
	CHECK_EQ(hw(*entry_at(s, DMAP, 1)), PTE_P | PTE_PS | PTE_U | PTE_NX);
	CHECK(*entry_at(s, DMAP, 0) & PTE_U);
	CHECK(maps_as(s, DMAP + 5 * P, 5 * P, PT_USER, G1));

	/* pt_protect to PT_USER lifts U above too; taking it away leaves the leaf deciding. */
	CHECK_EQ(pt_map(&s->pt, 0x80000000, 0x5000, P, 0), 0);
	CHECK_EQ(pt_protect(&s->pt, 0x80000000, P, PT_USER), 0);
	for (int l = 0; l < 4; l++)
		CHECK(*entry_at(s, 0x80000000, l) & PTE_U);
	CHECK(maps_as(s, 0x80000000, 0x5000, PT_USER, P));
	CHECK_EQ(pt_protect(&s->pt, 0x80000000, P, 0), 0);
	CHECK(maps_as(s, 0x80000000, 0x5000, 0, P));
	CHECK_SIM(s);
}

TEST(pt_map_replace_user_page_inside_supervisor_huge_leaf)
{
	struct sim *s = sim_new(SIM_FRAMES);

	/* The split turns the 2 MiB leaf into a table entry; the user page needs U on it. */
	CHECK_EQ(pt_map(&s->pt, M2, 3 * M2, M2, PT_HUGE_2M), 0);
	CHECK_EQ(pt_map(&s->pt, M2 + P, 0x9000, P, PT_USER | PT_REPLACE), 0);
	CHECK(maps_as(s, M2, 3 * M2, 0, P));
	CHECK(maps_as(s, M2 + P, 0x9000, PT_USER, P));
	for (int l = 0; l < 4; l++)
		CHECK(*entry_at(s, M2 + P, l) & PTE_U);

	/* Two splits on the way down from a 1 GiB leaf. */
	CHECK_EQ(pt_map(&s->pt, G1, G1, G1, PT_WRITE | PT_HUGE_1G), 0);
	CHECK_EQ(pt_map(&s->pt, G1 + M2 + P, 0xa000, P, PT_USER | PT_REPLACE), 0);
	CHECK(maps_as(s, G1, G1, PT_WRITE, M2));
	CHECK(maps_as(s, G1 + M2, G1 + M2, PT_WRITE, P));
	CHECK(maps_as(s, G1 + M2 + P, 0xa000, PT_USER, P));
	CHECK_SIM(s);
}

TEST(pt_map_phys_bits_limits_pa)
{
	struct sim *s = sim_new(SIM_FRAMES);
	const uint64_t top = 1ull << 36;

	s->pt.phys_bits = 36;
	CHECK_EQ(pt_map(&s->pt, 0x1000, top, P, 0), -ERANGE);
	CHECK_EQ(pt_map(&s->pt, 0x1000, top - P, 2 * P, 0), -ERANGE);
	CHECK_EQ(pt_map(&s->pt, G1, top, G1, PT_HUGE_1G), -ERANGE);
	CHECK_EQ(pt_map(&s->pt, 0x1000, top, P, PT_REPLACE), -ERANGE);
	CHECK_EQ(pt_map(&s->pt, 0x1000, top, P, PT_WRITE | PT_EXEC), -EPERM); /* W^X first */
	CHECK_EQ(s->used, 1);
	CHECK_EQ(pt_map(&s->pt, 0x1000, top - P, P, 0), 0);
	CHECK(maps_as(s, 0x1000, top - P, 0, P));
	CHECK_EQ(pt_map(&s->pt, G1, top - G1, G1, PT_HUGE_1G), 0);
	CHECK(maps_as(s, G1 + 5 * P, top - G1 + 5 * P, 0, G1));
	CHECK_SIM(s);

	/* 0 means all the format's 52 bits. */
	s->pt.phys_bits = 0;
	CHECK_EQ(pt_map(&s->pt, 0x2000, top, P, 0), 0);
	CHECK_EQ(pt_map(&s->pt, 0x3000, (1ull << 52) - P, P, 0), 0);
	CHECK_EQ(pt_map(&s->pt, 0x4000, 1ull << 52, P, 0), -ERANGE);
	CHECK_EQ(walk_all(s)->n, 4);
	CHECK_SIM(s);
}

/* --- pt_unmap -------------------------------------------------------------------- */

TEST(pt_unmap_4k_pages_and_holes)
{
	struct sim *s = sim_new(SIM_FRAMES);

	CHECK_EQ(pt_map(&s->pt, 0x10000, 0x80000, 8 * P, PT_WRITE), 0);
	CHECK_EQ(pt_unmap(&s->pt, 0x12000, 2 * P), 0);
	CHECK(maps_as(s, 0x11000, 0x81000, PT_WRITE, P));
	CHECK(unmapped(s, 0x12000, 2 * P));
	CHECK(maps_as(s, 0x14000, 0x84000, PT_WRITE, P));
	/* Holes are fine: from below the first page, and over the gap. */
	CHECK_EQ(pt_unmap(&s->pt, 0, 0x12000), 0);
	CHECK_EQ(pt_unmap(&s->pt, 0x13000, 3 * P), 0);
	CHECK(unmapped(s, 0, 0x16000));
	CHECK(maps_as(s, 0x16000, 0x86000, PT_WRITE, P));
	CHECK(maps_as(s, 0x17000, 0x87000, PT_WRITE, P));
	/* Nothing mapped at all there. */
	CHECK_EQ(pt_unmap(&s->pt, DMAP, G1), 0);
	CHECK_EQ(pt_unmap(&s->pt, 0x18000, P), 0);
	CHECK_EQ(walk_all(s)->n, 2);
	CHECK_EQ(s->used, 4);
	CHECK_SIM(s);
}

TEST(pt_unmap_whole_huge_leaves)
{
	struct sim *s = sim_new(SIM_FRAMES);

	CHECK_EQ(pt_map(&s->pt, M2, 0x400000, M2, PT_HUGE_2M), 0);
	CHECK_EQ(pt_map(&s->pt, DMAP + G1, G1, G1, PT_WRITE | PT_HUGE_1G), 0);
	CHECK_EQ(pt_map(&s->pt, 4 * M2, 0x400000, M2, PT_HUGE_2M), 0);
	CHECK_EQ(s->used, 4);
	CHECK_EQ(pt_unmap(&s->pt, M2, M2), 0);
	CHECK(unmapped(s, M2, M2));
	CHECK_EQ(pt_unmap(&s->pt, DMAP + G1, G1), 0);
	CHECK(unmapped(s, DMAP + G1, 4 * P));
	CHECK(unmapped(s, DMAP + 2 * G1 - 4 * P, 4 * P));
	CHECK_EQ(s->used, 3); /* the PDPT of the direct map went with its last leaf */
	/* A range holding a huge leaf and holes either side. */
	CHECK_EQ(pt_unmap(&s->pt, 3 * M2, 3 * M2), 0);
	CHECK(unmapped(s, 4 * M2, M2));
	CHECK_EQ(s->used, 1);
	CHECK_EQ(walk_all(s)->n, 0);
	CHECK_SIM(s);
}

TEST(pt_unmap_splits_2m_leaf)
{
	struct sim *s = sim_new(SIM_FRAMES);
	const vaddr_t va = G1 + M2;
	const paddr_t pa = 0x80000000;

	CHECK_EQ(pt_map(&s->pt, va, pa, M2, PT_WRITE | PT_GLOBAL | PT_HUGE_2M), 0);
	CHECK_EQ(s->used, 3);
	CHECK_EQ(pt_unmap(&s->pt, va + 5 * P, 2 * P), 0);
	CHECK_EQ(s->used, 4);
	for (int i = 0; i < 512; i++) {
		if (i == 5 || i == 6)
			CHECK(unmapped(s, va + i * P, P));
		else
			CHECK(maps_as(s, va + i * P, pa + i * P, PT_WRITE | PT_GLOBAL, P));
	}
	CHECK_EQ(walk_all(s)->n, 510);
	CHECK_SIM(s);

	/* Across the boundary of two 2 MiB leaves: both split, the rest stays. */
	CHECK_EQ(pt_map(&s->pt, DMAP, 0, 2 * M2, PT_EXEC | PT_HUGE_2M), 0);
	CHECK_EQ(pt_unmap(&s->pt, DMAP + M2 - P, 2 * P), 0);
	CHECK(maps_as(s, DMAP, 0, PT_EXEC, P));
	CHECK(maps_as(s, DMAP + M2 - 2 * P, M2 - 2 * P, PT_EXEC, P));
	CHECK(unmapped(s, DMAP + M2 - P, 2 * P));
	CHECK(maps_as(s, DMAP + M2 + P, M2 + P, PT_EXEC, P));
	CHECK(maps_as(s, DMAP + 2 * M2 - P, 2 * M2 - P, PT_EXEC, P));
	CHECK_EQ(walk_all(s)->n, 510 + 1022);
	CHECK_SIM(s);
}

TEST(pt_unmap_splits_1g_leaf)
{
	struct sim *s = sim_new(SIM_FRAMES);
	const vaddr_t va = 4 * G1, hole = va + 3 * M2 + 5 * P;
	const paddr_t pa = 8 * G1;
	const uint32_t flags = PT_WRITE | PT_GLOBAL;

	CHECK_EQ(pt_map(&s->pt, va, pa, G1, flags | PT_HUGE_1G | PT_HUGE_2M), 0);
	CHECK_EQ(s->used, 2);
	CHECK_EQ(pt_unmap(&s->pt, hole, P), 0);
	CHECK_EQ(s->used, 4); /* a PD, and a PT for the 2 MiB around the hole */
	CHECK(unmapped(s, hole, P));
	struct leaves *ls = walk_all(s);
	CHECK_EQ(ls->n, 511 + 511);
	uint64_t bytes = 0;
	for (int i = 0; i < ls->n; i++) {
		bool small = ls->l[i].va >= va + 3 * M2 && ls->l[i].va < va + 4 * M2;
		CHECK_EQ(ls->l[i].size, small ? P : M2);
		CHECK_EQ(ls->l[i].pa, pa + (ls->l[i].va - va));
		CHECK_EQ(ls->l[i].flags, flags);
		bytes += ls->l[i].size;
	}
	CHECK_EQ(bytes, G1 - P);
	CHECK_SIM(s);

	/* 2 MiB out of a 1 GiB leaf needs one split only. */
	CHECK_EQ(pt_map(&s->pt, DMAP + 2 * G1, 0, G1, PT_HUGE_1G | PT_HUGE_2M), 0);
	CHECK_EQ(s->used, 5);
	CHECK_EQ(pt_unmap(&s->pt, DMAP + 2 * G1 + 7 * M2, M2), 0);
	CHECK_EQ(s->used, 6);
	CHECK(maps_as(s, DMAP + 2 * G1 + 6 * M2, 6 * M2, 0, M2));
	CHECK(unmapped(s, DMAP + 2 * G1 + 7 * M2, M2));
	CHECK(maps_as(s, DMAP + 3 * G1 - 1, G1 - 1, 0, M2));
	CHECK_SIM(s);
}

TEST(pt_unmap_frees_empty_tables)
{
	static const struct {
		vaddr_t va;
		paddr_t pa;
		uint64_t size;
		uint32_t flags;
	} maps[] = {
	    {0x1000, 0x1000, P, 0},
	    {5 * G1, 0, 2 * M2, PT_HUGE_2M},
	    {0x00007ffffffff000ull, 0x2000, P, PT_WRITE},
	    {DMAP, 0, G1, PT_HUGE_1G},
	    {KBASE, 0x100000, 3 * P, PT_EXEC},
	    {TOP_PAGE, 0x3000, P, PT_WRITE},
	};
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_check c;

	for (size_t i = 0; i < ARRAY_SIZE(maps); i++)
		CHECK_EQ(pt_map(&s->pt, maps[i].va, maps[i].pa, maps[i].size, maps[i].flags), 0);
	CHECK_EQ(s->used, 15);
	CHECK_SIM(s);
	/* Part of a table's pages: the table stays. */
	CHECK_EQ(pt_unmap(&s->pt, KBASE, P), 0);
	CHECK_EQ(s->used, 15);
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		CHECK_EQ(pt_unmap(&s->pt, maps[i].va, maps[i].size), 0);
		CHECK_SIM(s);
	}
	CHECK_EQ(s->used, 1);
	CHECK_EQ(s->freed, 14);
	CHECK_EQ(pt_check(&s->pt, &c), 0);
	CHECK_EQ(c.tables, 1);
	CHECK_EQ(walk_all(s)->n, 0);

	/* Mapping and unmapping again reuses the frames given back. */
	size_t high = s->next;
	for (int round = 0; round < 3; round++) {
		CHECK_EQ(pt_map(&s->pt, G1 - 300 * P, 0, 600 * P, PT_WRITE), 0);
		CHECK_EQ(s->used, 6);
		CHECK_EQ(pt_unmap(&s->pt, G1 - 300 * P, 600 * P), 0);
		CHECK_EQ(s->used, 1);
		CHECK_SIM(s);
	}
	CHECK_EQ(s->next, high);
}

TEST(pt_unmap_rejects_bad_arguments)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_flush *f = sim_flush(s);

	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, 2 * P, 0), 0);
	CHECK_EQ(pt_map(&s->pt, TOP_PAGE, 0x1000, P, 0), 0);
	memset(f, 0, sizeof(*f));
	CHECK_EQ(pt_unmap(&s->pt, 0x1001, P), -EINVAL);
	CHECK_EQ(pt_unmap(&s->pt, 0x1000, P + 1), -EINVAL);
	CHECK_EQ(pt_unmap(&s->pt, 0x1000, 0x800), -EINVAL);
	CHECK_EQ(pt_unmap(&s->pt, 0x1000, 0), -EINVAL);
	CHECK_EQ(pt_unmap(&s->pt, 0x0000800000000000ull, P), -EINVAL);
	CHECK_EQ(pt_unmap(&s->pt, 0x1234000000001000ull, P), -EINVAL);
	CHECK_EQ(pt_unmap(&s->pt, 0x00007ffffffff000ull, 2 * P), -EINVAL);
	CHECK_EQ(pt_unmap(&s->pt, 0, 0xffff800000000000ull), -EINVAL);
	CHECK_EQ(pt_unmap(&s->pt, TOP_PAGE, 2 * P), -EINVAL);
	CHECK_EQ(pt_unmap(&s->pt, 0x1000, UINT64_MAX - P + 1), -EINVAL);
	CHECK(maps_as(s, 0x1000, 0x1000, 0, P));
	CHECK(maps_as(s, 0x2000, 0x2000, 0, P));
	CHECK(maps_as(s, TOP_PAGE, 0x1000, 0, P));
	CHECK_EQ(f->count, 0);
	CHECK(!f->all);
	/* The extremes that are fine. */
	CHECK_EQ(pt_unmap(&s->pt, TOP_PAGE, P), 0);
	CHECK_EQ(pt_unmap(&s->pt, 0, 0x0000800000000000ull), 0);
	CHECK_EQ(s->used, 1);
	CHECK_SIM(s);
}

TEST(pt_unmap_enomem_on_split_unmaps_nothing)
{
	struct sim *s = sim_new(3);
	struct pt_flush *f = sim_flush(s);

	CHECK_EQ(pt_map(&s->pt, M2, 0x400000, M2, PT_WRITE | PT_HUGE_2M), 0);
	CHECK_EQ(pt_unmap(&s->pt, M2 + P, P), -ENOMEM);
	CHECK(maps_as(s, M2 + P, 0x401000, PT_WRITE, M2));
	CHECK_EQ(walk_all(s)->n, 1);
	CHECK_EQ(f->count, 0);
	CHECK_SIM(s);
	/* The whole leaf needs no split. */
	CHECK_EQ(pt_unmap(&s->pt, M2, M2), 0);
	CHECK_EQ(s->used, 1);

	/* From a 1 GiB leaf the first split works, the second finds no frame. */
	s = sim_new(3);
	CHECK_EQ(pt_map(&s->pt, G1, 0, G1, PT_HUGE_1G | PT_HUGE_2M), 0);
	CHECK_EQ(pt_unmap(&s->pt, G1 + M2 + P, P), -ENOMEM);
	CHECK(maps_as(s, G1 + M2 + P, M2 + P, 0, M2)); /* split once: same translation */
	struct leaves *ls = walk_all(s);
	CHECK_EQ(ls->n, 512);
	CHECK_EQ(ls->l[511].va + ls->l[511].size, 2 * G1);
	CHECK_SIM(s);
	s->limit = 4;
	CHECK_EQ(pt_unmap(&s->pt, G1 + M2 + P, P), 0);
	CHECK(unmapped(s, G1 + M2 + P, P));
	CHECK(maps_as(s, G1 + M2, M2, 0, P));
	CHECK(maps_as(s, G1 + M2 + 2 * P, M2 + 2 * P, 0, P));
	CHECK_SIM(s);
}

TEST(pt_unmap_without_free_table_keeps_tables)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_check c;

	s->pt.free_table = NULL;
	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, P, 0), 0);
	CHECK_EQ(pt_unmap(&s->pt, 0x1000, P), 0);
	CHECK(unmapped(s, 0x1000, P));
	CHECK_EQ(s->used, 4);
	CHECK_EQ(pt_check(&s->pt, &c), 0);
	CHECK_EQ(c.tables, 4);
	CHECK_EQ(c.empty_tables, 1);
	CHECK_EQ(pt_map(&s->pt, 0x2000, 0x1000, P, 0), 0);
	CHECK_EQ(s->used, 4);
	CHECK_EQ(s->freed, 0);
	CHECK_SIM(s);
}

/* --- pt_protect -------------------------------------------------------------------- */

TEST(pt_protect_changes_flags)
{
	struct sim *s = sim_new(SIM_FRAMES);

	CHECK_EQ(pt_map(&s->pt, KBASE, 0x100000, 4 * P, PT_WRITE | PT_GLOBAL), 0);
	CHECK_EQ(pt_protect(&s->pt, KBASE + P, 2 * P, PT_GLOBAL), 0);
	CHECK(maps_as(s, KBASE, 0x100000, PT_WRITE | PT_GLOBAL, P));
	CHECK(maps_as(s, KBASE + P, 0x101000, PT_GLOBAL, P));
	CHECK(maps_as(s, KBASE + 2 * P, 0x102000, PT_GLOBAL, P));
	CHECK(maps_as(s, KBASE + 3 * P, 0x103000, PT_WRITE | PT_GLOBAL, P));
	CHECK_EQ(pt_protect(&s->pt, KBASE, 4 * P, PT_EXEC | PT_GLOBAL), 0);
	for (int i = 0; i < 4; i++)
		CHECK(maps_as(s, KBASE + i * P, 0x100000 + i * P, PT_EXEC | PT_GLOBAL, P));
	CHECK_EQ(hw(*entry_at(s, KBASE, 3)), 0x100000 | PTE_P | PTE_G);
	/* A whole huge leaf keeps its size. */
	CHECK_EQ(pt_map(&s->pt, DMAP, 0, M2, PT_WRITE | PT_HUGE_2M), 0);
	size_t used = s->used;
	CHECK_EQ(pt_protect(&s->pt, DMAP, M2, 0), 0);
	CHECK(maps_as(s, DMAP + M2 - 1, M2 - 1, 0, M2));
	CHECK_EQ(s->used, used);
	CHECK_SIM(s);
}

TEST(pt_protect_splits_at_edges)
{
	struct sim *s = sim_new(SIM_FRAMES);
	const vaddr_t va = 0x40000000;
	const paddr_t pa = 0x80000000;

	CHECK_EQ(pt_map(&s->pt, va, pa, M2, PT_WRITE | PT_HUGE_2M), 0);
	CHECK_EQ(pt_protect(&s->pt, va + 4 * P, 8 * P, 0), 0);
	CHECK_EQ(s->used, 4);
	for (int i = 0; i < 512; i++)
		CHECK(maps_as(s, va + i * P, pa + i * P, i >= 4 && i < 12 ? 0 : PT_WRITE, P));
	CHECK_SIM(s);

	/* 2 MiB inside a 1 GiB leaf: one split, 2 MiB leaves either side. */
	CHECK_EQ(pt_map(&s->pt, DMAP, 0, G1, PT_WRITE | PT_GLOBAL | PT_HUGE_1G | PT_HUGE_2M), 0);
	size_t used = s->used;
	CHECK_EQ(pt_protect(&s->pt, DMAP + 3 * M2, M2, PT_GLOBAL), 0);
	CHECK_EQ(s->used, used + 1);
	CHECK(maps_as(s, DMAP + 3 * M2 + 9 * P, 3 * M2 + 9 * P, PT_GLOBAL, M2));
	CHECK(maps_as(s, DMAP + 2 * M2, 2 * M2, PT_WRITE | PT_GLOBAL, M2));
	CHECK(maps_as(s, DMAP + 4 * M2, 4 * M2, PT_WRITE | PT_GLOBAL, M2));
	/* Two pages across a 2 MiB boundary: both leaves split. */
	CHECK_EQ(pt_protect(&s->pt, DMAP + 5 * M2 - P, 2 * P, PT_EXEC | PT_GLOBAL), 0);
	CHECK_EQ(s->used, used + 3);
	CHECK(maps_as(s, DMAP + 5 * M2 - 2 * P, 5 * M2 - 2 * P, PT_WRITE | PT_GLOBAL, P));
	CHECK(maps_as(s, DMAP + 5 * M2 - P, 5 * M2 - P, PT_EXEC | PT_GLOBAL, P));
	CHECK(maps_as(s, DMAP + 5 * M2, 5 * M2, PT_EXEC | PT_GLOBAL, P));
	CHECK(maps_as(s, DMAP + 5 * M2 + P, 5 * M2 + P, PT_WRITE | PT_GLOBAL, P));
	CHECK(maps_as(s, DMAP + 6 * M2, 6 * M2, PT_WRITE | PT_GLOBAL, M2));
	CHECK_SIM(s);
}

TEST(pt_protect_hole_is_enoent_and_changes_nothing)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_flush *f = sim_flush(s);

	CHECK_EQ(pt_map(&s->pt, M2, M2, M2, PT_WRITE | PT_HUGE_2M), 0);
	CHECK_EQ(pt_map(&s->pt, 2 * M2 + P, 0x1000, 2 * P, PT_WRITE), 0);
	size_t used = s->used;
	/* Part of the huge leaf, the hole at 2 * M2, a mapped page. */
	CHECK_EQ(pt_protect(&s->pt, M2 + P, M2 + 2 * P, 0), -ENOENT);
	CHECK_EQ(s->used, used); /* no split */
	CHECK(maps_as(s, M2 + P, M2 + P, PT_WRITE, M2));
	CHECK(maps_as(s, 2 * M2 + P, 0x1000, PT_WRITE, P));
	/* Mapped pages first, the hole last. */
	CHECK_EQ(pt_protect(&s->pt, 2 * M2 + P, 3 * P, 0), -ENOENT);
	CHECK(maps_as(s, 2 * M2 + P, 0x1000, PT_WRITE, P));
	CHECK(maps_as(s, 2 * M2 + 2 * P, 0x2000, PT_WRITE, P));
	/* Nothing mapped at all. */
	CHECK_EQ(pt_protect(&s->pt, DMAP, G1, 0), -ENOENT);
	CHECK_EQ(pt_protect(&s->pt, 0x1000, P, 0), -ENOENT);
	CHECK_EQ(f->count, 0);
	CHECK(!f->all);
	CHECK_SIM(s);
}

TEST(pt_protect_rejects_write_exec_and_bad_arguments)
{
	struct sim *s = sim_new(SIM_FRAMES);

	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x1000, 2 * P, PT_WRITE), 0);
	CHECK_EQ(pt_protect(&s->pt, 0x1000, 2 * P, PT_WRITE | PT_EXEC), -EPERM);
	CHECK(maps_as(s, 0x1000, 0x1000, PT_WRITE, P));
	CHECK_EQ(pt_protect(&s->pt, 0x1000, 2 * P, PT_EXEC), 0);
	CHECK_EQ(pt_protect(&s->pt, 0x2000, P, PT_WRITE | PT_EXEC | PT_GLOBAL), -EPERM);
	CHECK(maps_as(s, 0x2000, 0x2000, PT_EXEC, P));
	CHECK_EQ(pt_protect(&s->pt, 0x100000, P, PT_WRITE | PT_EXEC), -EPERM); /* before -ENOENT */

	CHECK_EQ(pt_protect(&s->pt, 0x1001, P, 0), -EINVAL);
	CHECK_EQ(pt_protect(&s->pt, 0x1000, P + 1, 0), -EINVAL);
	CHECK_EQ(pt_protect(&s->pt, 0x1000, 0, 0), -EINVAL);
	CHECK_EQ(pt_protect(&s->pt, 0x1000, 0, PT_WRITE | PT_EXEC), -EINVAL);
	CHECK_EQ(pt_protect(&s->pt, 0x0000800000000000ull, P, 0), -EINVAL);
	CHECK_EQ(pt_protect(&s->pt, 0x00007ffffffff000ull, 2 * P, 0), -EINVAL);
	CHECK_EQ(pt_protect(&s->pt, TOP_PAGE, 2 * P, 0), -EINVAL);
	CHECK(maps_as(s, 0x1000, 0x1000, PT_EXEC, P));
	CHECK_SIM(s);
}

TEST(pt_protect_enomem_changes_nothing)
{
	struct sim *s = sim_new(3);

	CHECK_EQ(pt_map(&s->pt, M2, M2, M2, PT_WRITE | PT_HUGE_2M), 0);
	CHECK_EQ(pt_protect(&s->pt, M2 + P, P, 0), -ENOMEM);
	CHECK(maps_as(s, M2 + P, M2 + P, PT_WRITE, M2));
	CHECK_SIM(s);

	/* The first split of a 1 GiB leaf works, the second does not. */
	s = sim_new(3);
	CHECK_EQ(pt_map(&s->pt, G1, 0, G1, PT_WRITE | PT_HUGE_1G), 0);
	CHECK_EQ(pt_protect(&s->pt, G1 + M2 + P, P, 0), -ENOMEM);
	struct leaves *ls = walk_all(s);
	CHECK_EQ(ls->n, 512);
	for (int i = 0; i < ls->n; i++)
		CHECK_EQ(ls->l[i].flags, PT_WRITE);
	/* The far edge needs the frame the near one took. */
	s = sim_new(4);
	CHECK_EQ(pt_map(&s->pt, G1, 0, 2 * M2, PT_WRITE | PT_HUGE_2M), 0);
	CHECK_EQ(pt_protect(&s->pt, G1 + P, M2, 0), -ENOMEM);
	CHECK(maps_as(s, G1 + P, P, PT_WRITE, P));
	CHECK(maps_as(s, G1 + M2, M2, PT_WRITE, M2));
	CHECK_SIM(s);
}

/* --- PT_REPLACE ---------------------------------------------------------------------- */

TEST(pt_map_replace_over_4k_pages)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_flush *f = sim_flush(s);

	CHECK_EQ(pt_map(&s->pt, 0x5000, 0xa000, P, PT_WRITE), 0);
	CHECK_EQ(pt_map(&s->pt, 0x5000, 0xb000, P, PT_EXEC | PT_REPLACE), 0);
	CHECK(maps_as(s, 0x5000, 0xb000, PT_EXEC, P));
	CHECK_EQ(f->count, 1);
	CHECK_EQ(f->va[0], 0x5000);
	/* The same mapping again changes nothing to flush. */
	memset(f, 0, sizeof(*f));
	CHECK_EQ(pt_map(&s->pt, 0x5000, 0xb000, P, PT_EXEC | PT_REPLACE), 0);
	CHECK_EQ(f->count, 0);
	/* Over mapped and unmapped pages alike. */
	CHECK_EQ(pt_map(&s->pt, 0x3000, 0x20000, 4 * P, PT_GLOBAL | PT_REPLACE), 0);
	for (int i = 0; i < 4; i++)
		CHECK(maps_as(s, 0x3000 + i * P, 0x20000 + i * P, PT_GLOBAL, P));
	/* Over nothing it is a plain map. */
	CHECK_EQ(pt_map(&s->pt, DMAP, 0, P, PT_REPLACE), 0);
	CHECK(maps_as(s, DMAP, 0, 0, P));
	CHECK_EQ(walk_all(s)->n, 5);
	CHECK_SIM(s);
}

TEST(pt_map_replace_inside_huge_leaf_splits_it)
{
	struct sim *s = sim_new(SIM_FRAMES);

	CHECK_EQ(pt_map(&s->pt, M2, 3 * M2, M2, PT_WRITE | PT_HUGE_2M), 0);
	CHECK_EQ(s->used, 3);
	CHECK_EQ(pt_map(&s->pt, M2 + 10 * P, 0x9000, 2 * P, PT_EXEC | PT_REPLACE), 0);
	CHECK_EQ(s->used, 4);
	for (int i = 0; i < 512; i++) {
		if (i == 10 || i == 11)
			CHECK(maps_as(s, M2 + i * P, 0x9000 + (i - 10) * P, PT_EXEC, P));
		else
			CHECK(maps_as(s, M2 + i * P, 3 * M2 + i * P, PT_WRITE, P));
	}
	CHECK_SIM(s);

	/* A 2 MiB leaf inside a 1 GiB one: one split. */
	CHECK_EQ(pt_map(&s->pt, 2 * G1, 3 * G1, G1, PT_WRITE | PT_GLOBAL | PT_HUGE_1G), 0);
	size_t used = s->used;
	CHECK_EQ(pt_map(&s->pt, 2 * G1 + 4 * M2, 9 * M2, M2, PT_EXEC | PT_HUGE_2M | PT_REPLACE), 0);
	CHECK_EQ(s->used, used + 1);
	CHECK(maps_as(s, 2 * G1 + 4 * M2 + P, 9 * M2 + P, PT_EXEC, M2));
	CHECK(maps_as(s, 2 * G1 + 3 * M2, 3 * G1 + 3 * M2, PT_WRITE | PT_GLOBAL, M2));
	CHECK(maps_as(s, 2 * G1 + 5 * M2, 3 * G1 + 5 * M2, PT_WRITE | PT_GLOBAL, M2));
	CHECK_EQ(walk_all(s)->n, 512 + 512);
	CHECK_SIM(s);
}

TEST(pt_map_replace_by_huge_leaf_frees_tables)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_flush *f = sim_flush(s);

	/* A table of a few 4 KiB pages under [M2, 2 * M2), and a page after it. */
	CHECK_EQ(pt_map(&s->pt, M2, 0x1000, P, PT_WRITE), 0);
	CHECK_EQ(pt_map(&s->pt, M2 + 100 * P, 0x2000, P, PT_WRITE), 0);
	CHECK_EQ(pt_map(&s->pt, 2 * M2 - P, 0x3000, P, PT_WRITE), 0);
	CHECK_EQ(pt_map(&s->pt, 2 * M2, 0x4000, P, PT_WRITE), 0);
	CHECK_EQ(s->used, 5);
	memset(f, 0, sizeof(*f));
	CHECK_EQ(pt_map(&s->pt, M2, 4 * M2, M2, PT_GLOBAL | PT_HUGE_2M | PT_REPLACE), 0);
	CHECK_EQ(s->used, 4);
	CHECK_EQ(s->freed, 1);
	CHECK(f->all); /* a whole table of leaves went at once */
	CHECK(maps_as(s, M2 + 100 * P, 4 * M2 + 100 * P, PT_GLOBAL, M2));
	CHECK(maps_as(s, 2 * M2, 0x4000, PT_WRITE, P));
	CHECK_SIM(s);

	/* A 1 GiB leaf over a PD holding a 2 MiB leaf and a table of 4 KiB pages. */
	CHECK_EQ(pt_map(&s->pt, G1, 0, M2, PT_HUGE_2M), 0);
	CHECK_EQ(pt_map(&s->pt, G1 + 5 * M2, 0, 3 * P, 0), 0);
	CHECK_EQ(s->used, 6);
	CHECK_EQ(pt_map(&s->pt, G1, 0, G1, PT_HUGE_1G | PT_REPLACE), 0);
	CHECK_EQ(s->used, 4);
	CHECK_EQ(s->freed, 3);
	CHECK(maps_as(s, G1 + 5 * M2 + P, 5 * M2 + P, 0, G1));
	CHECK_SIM(s);
}

TEST(pt_map_replace_enomem)
{
	struct sim *s = sim_new(3);

	/* No frame to split the leaf: nothing replaced. */
	CHECK_EQ(pt_map(&s->pt, M2, 3 * M2, M2, PT_WRITE | PT_HUGE_2M), 0);
	CHECK_EQ(pt_map(&s->pt, M2 + P, 0x9000, P, PT_REPLACE), -ENOMEM);
	CHECK(maps_as(s, M2 + P, 3 * M2 + P, PT_WRITE, M2));
	CHECK_SIM(s);

	/* Pages before the shortage may be replaced; nothing after it is; no table leaks. */
	s = sim_new(4);
	CHECK_EQ(pt_map(&s->pt, M2 - P, 0xa000, P, PT_WRITE), 0);
	CHECK_EQ(pt_map(&s->pt, M2 - P, 0xb000, 2 * P, PT_REPLACE), -ENOMEM);
	CHECK(maps_as(s, M2 - P, 0xa000, PT_WRITE, P) || maps_as(s, M2 - P, 0xb000, 0, P));
	CHECK(unmapped(s, M2, P));
	CHECK_EQ(s->used, 4);
	CHECK_SIM(s);
}

/* --- TLB flush records ---------------------------------------------------------------- */

TEST(pt_flush_records_changed_leaves)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_flush *f = sim_flush(s);

	/* New mappings leave nothing to flush. */
	CHECK_EQ(pt_map(&s->pt, DMAP, 0x100000, 8 * P, PT_WRITE), 0);
	CHECK_EQ(f->count, 0);
	CHECK(!f->all);
	CHECK_EQ(pt_unmap(&s->pt, DMAP + P, P), 0);
	CHECK_EQ(f->count, 1);
	CHECK_EQ(f->va[0], DMAP + P); /* canonical */

	memset(f, 0, sizeof(*f));
	CHECK_EQ(pt_protect(&s->pt, DMAP + 2 * P, 2 * P, PT_WRITE), 0);
	CHECK_EQ(f->count, 0); /* same flags */
	CHECK_EQ(pt_protect(&s->pt, DMAP + 2 * P, 2 * P, 0), 0);
	CHECK_EQ(f->count, 2);
	CHECK_EQ(f->va[0], DMAP + 2 * P);
	CHECK_EQ(f->va[1], DMAP + 3 * P);

	/* Refused operations record nothing. */
	memset(f, 0, sizeof(*f));
	CHECK_EQ(pt_map(&s->pt, DMAP, 0, P, PT_WRITE | PT_EXEC | PT_REPLACE), -EPERM);
	CHECK_EQ(pt_map(&s->pt, DMAP, 0, P, 0), -EEXIST);
	CHECK_EQ(pt_protect(&s->pt, DMAP, 2 * P, 0), -ENOENT);
	CHECK_EQ(pt_unmap(&s->pt, DMAP + 1, P), -EINVAL);
	CHECK_EQ(f->count, 0);
	CHECK(!f->all);

	/* Unmapping the rest names every page that went (and the tables freed). */
	CHECK_EQ(pt_unmap(&s->pt, DMAP, 8 * P), 0);
	CHECK(!f->all);
	CHECK(f->count >= 7);
	for (int i = 0; i < 8; i++)
		CHECK(i == 1 || flushed(f, DMAP + i * P, P));
	for (unsigned int i = 0; i < f->count; i++)
		CHECK(f->va[i] >> 48 == 0xffff);
	CHECK_EQ(s->used, 1);

	/* A split and an unmap inside a huge leaf: an address in the old leaf. */
	CHECK_EQ(pt_map(&s->pt, DMAP + M2, 0, M2, PT_HUGE_2M), 0);
	memset(f, 0, sizeof(*f));
	CHECK_EQ(pt_unmap(&s->pt, DMAP + M2 + 5 * P, P), 0);
	CHECK(!f->all);
	CHECK(flushed(f, DMAP + M2 + 5 * P, P));
	CHECK_SIM(s);
}

TEST(pt_flush_all_when_many_or_a_table_goes)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_flush *f = sim_flush(s);

	/* Exactly PT_FLUSH_MAX leaves fit (a page stays, so the table does). */
	CHECK_EQ(pt_map(&s->pt, 0x400000, 0, (PT_FLUSH_MAX + 2) * P, 0), 0);
	CHECK_EQ(pt_unmap(&s->pt, 0x400000, PT_FLUSH_MAX * P), 0);
	CHECK_EQ(f->count, PT_FLUSH_MAX);
	CHECK(!f->all);
	for (int i = 0; i < PT_FLUSH_MAX; i++)
		CHECK_EQ(f->va[i], 0x400000 + i * P);
	memset(f, 0, sizeof(*f));
	CHECK_EQ(pt_map(&s->pt, 0x400000, 0, PT_FLUSH_MAX * P, 0), 0);
	CHECK_EQ(pt_unmap(&s->pt, 0x400000, (PT_FLUSH_MAX + 1) * P), 0);
	CHECK(f->all);
	CHECK_EQ(f->count, PT_FLUSH_MAX);

	/* A huge leaf replacing a table of leaves. */
	CHECK_EQ(pt_map(&s->pt, DMAP + M2, 0, 512 * P, 0), 0);
	memset(f, 0, sizeof(*f));
	CHECK_EQ(pt_map(&s->pt, DMAP + M2, M2, M2, PT_HUGE_2M | PT_REPLACE), 0);
	CHECK(f->all);
	CHECK_SIM(s);
}

/* --- lookups, walks and checks ---------------------------------------------------------- */

TEST(pt_lookup_matches_translate)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_leaf leaf;

	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x7000, 3 * P, PT_WRITE), 0);
	CHECK_EQ(pt_map(&s->pt, 0x40000000, 0x80000000, 3 * M2, PT_HUGE_2M), 0);
	CHECK_EQ(pt_map(&s->pt, 0xc0000000, 0x40000000, G1, PT_HUGE_1G), 0);
	CHECK_EQ(pt_map(&s->pt, DMAP, 0, 2 * G1 + 3 * M2 + 5 * P, PT_HUGE_1G | PT_HUGE_2M), 0);
	CHECK_EQ(pt_map(&s->pt, TOP_PAGE - M2, 0x123000, M2, PT_EXEC), 0);
	CHECK_EQ(pt_unmap(&s->pt, DMAP + G1 + 3 * P, P), 0);

	rng_state = 0x5eed;
	int hits = 0;
	for (int i = 0; i < 100000; i++) {
		static const vaddr_t near[] = {0,    0x40000000, 0xc0000000,
					       DMAP, DMAP + G1,	 TOP_PAGE - M2};
		uint64_t r = rng();
		vaddr_t va;
		switch (r % 4) {
		case 0:
			va = rng() % (4 * G1);
			break;
		case 1:
			va = near[rng() % ARRAY_SIZE(near)] + rng() % (4 * M2);
			break;
		case 2:
			va = DMAP + rng() % (3 * G1);
			break;
		default:
			va = rng(); /* mostly non-canonical */
			break;
		}
		paddr_t want = PADDR_INVALID;
		if (pt_translate(&s->pt, va, &leaf)) {
			want = leaf.pa + (va - leaf.va);
			hits++;
		}
		if (pt_lookup(&s->pt, va) != want) {
			check_fail(
			    __FILE__, __LINE__, "pt_lookup(%#llx) = %#llx, translate says %#llx",
			    (unsigned long long)va, (unsigned long long)pt_lookup(&s->pt, va),
			    (unsigned long long)want);
			return;
		}
	}
	CHECK(hits > 10000);
	CHECK_EQ(pt_lookup(&s->pt, DMAP + G1 + 3 * P), PADDR_INVALID);
	CHECK_EQ(pt_lookup(&s->pt, DMAP + G1 + 4 * P + 5), G1 + 4 * P + 5);
	CHECK_EQ(pt_lookup(&s->pt, 0x0000800000001000ull), PADDR_INVALID);
	CHECK_EQ(pt_lookup(&s->pt, 0x7fff000000001000ull), PADDR_INVALID);
}

struct frames_seen {
	struct sim *s;
	int n;
	bool seen[SIM_FRAMES];
	bool bad;
};

static void note_frame(paddr_t table, void *arg)
{
	struct frames_seen *fs = arg;
	size_t i = (table - SIM_BASE) / P;

	if (table < SIM_BASE || !IS_ALIGNED(table, P) || i >= SIM_FRAMES || !fs->s->in_use[i] ||
	    fs->seen[i])
		fs->bad = true;
	else
		fs->seen[i] = true;
	fs->n++;
}

TEST(pt_walk_tables_visits_every_table_once)
{
	struct sim *s = sim_new(SIM_FRAMES);
	static struct frames_seen fs;

	memset(&fs, 0, sizeof(fs));
	fs.s = s;
	pt_walk_tables(&s->pt, note_frame, &fs);
	CHECK(!fs.bad);
	CHECK_EQ(fs.n, 1);

	CHECK_EQ(pt_map(&s->pt, 0x1000, 0, 3 * P, 0), 0);
	CHECK_EQ(pt_map(&s->pt, G1 - P, 0, 2 * P, 0), 0);
	CHECK_EQ(pt_map(&s->pt, 3 * G1, 0, G1, PT_HUGE_1G), 0);
	CHECK_EQ(pt_map(&s->pt, DMAP + M2, 0, 3 * M2, PT_HUGE_2M), 0);
	CHECK_EQ(pt_map(&s->pt, TOP_PAGE, 0, P, 0), 0);
	CHECK_EQ(pt_unmap(&s->pt, DMAP + 2 * M2 + P, P), 0); /* split: one more table */
	memset(&fs, 0, sizeof(fs));
	fs.s = s;
	pt_walk_tables(&s->pt, note_frame, &fs);
	CHECK(!fs.bad);
	CHECK_EQ(fs.n, 13);
	CHECK_EQ((size_t)fs.n, s->used);
	for (size_t i = 0; i < SIM_FRAMES; i++)
		CHECK_EQ(fs.seen[i], s->in_use[i]);
	CHECK_SIM(s);
}

TEST(pt_check_counts_and_catches_corruption)
{
	struct sim *s = sim_new(SIM_FRAMES);
	struct pt_check c;
	uint64_t *e, saved;

	CHECK_EQ(pt_check(&s->pt, &c), 0);
	CHECK_EQ(c.tables, 1);
	CHECK_EQ(pt_map(&s->pt, 0x1000, 0x7000000000ull, P, PT_WRITE), 0);
	CHECK_EQ(pt_map(&s->pt, 2 * M2, 0, M2, PT_HUGE_2M), 0);
	CHECK_EQ(pt_map(&s->pt, DMAP, 0, G1, PT_HUGE_1G), 0);
	CHECK_EQ(pt_map(&s->pt, KBASE, 0x100000, 3 * P, PT_EXEC), 0);
	CHECK_EQ(pt_check(&s->pt, &c), 0);
	CHECK(c.problem == NULL);
	CHECK_EQ(c.tables, s->used);
	CHECK_EQ(c.empty_tables, 0);
	CHECK_EQ(c.leaves[0], 1);
	CHECK_EQ(c.leaves[1], 1);
	CHECK_EQ(c.leaves[2], 4);

	/* A count one off, in either half. */
	uint64_t *t = table_of(s, KBASE, 3);
	t[0] ^= 1ull << PTE_COUNT_SHIFT;
	CHECK_EQ(pt_check(&s->pt, &c), -EIO);
	CHECK(c.problem != NULL);
	CHECK_EQ(c.problem_va, KBASE);
	t[0] ^= 1ull << PTE_COUNT_SHIFT;
	t[1] ^= 1ull << PTE_COUNT_SHIFT;
	CHECK_EQ(pt_check(&s->pt, &c), -EIO);
	CHECK_EQ(c.problem_va, KBASE);
	t[1] ^= 1ull << PTE_COUNT_SHIFT;
	CHECK_EQ(pt_check(&s->pt, &c), 0);

	/* A W+X leaf written by hand, 4 KiB and 2 MiB. */
	e = entry_at(s, KBASE + P, 3);
	saved = *e;
	*e |= PTE_W;
	CHECK_EQ(pt_check(&s->pt, &c), -EIO);
	CHECK(c.problem && strstr(c.problem, "writable"));
	CHECK_EQ(c.problem_va, KBASE + P);
	*e = saved;
	e = entry_at(s, 2 * M2, 2);
	saved = *e;
	*e = (*e | PTE_W) & ~PTE_NX;
	CHECK_EQ(pt_check(&s->pt, &c), -EIO);
	CHECK_EQ(c.problem_va, 2 * M2);
	*e = saved;
	CHECK_EQ(pt_check(&s->pt, &c), 0);

	/* Stray bits in an absent entry; a huge leaf's address not aligned (PAT). */
	e = entry_at(s, KBASE + 10 * P, 3);
	*e = 0x5000;
	CHECK_EQ(pt_check(&s->pt, &c), -EIO);
	CHECK_EQ(c.problem_va, KBASE + 10 * P);
	*e = 0;
	e = entry_at(s, 2 * M2, 2);
	*e |= 1ull << 12;
	CHECK_EQ(pt_check(&s->pt, &c), -EIO);
	CHECK_EQ(c.problem_va, 2 * M2);
	*e &= ~(1ull << 12);
	CHECK_EQ(pt_check(&s->pt, &c), 0);

	/* A leaf beyond phys_bits. */
	s->pt.phys_bits = 36;
	CHECK_EQ(pt_check(&s->pt, &c), -EIO);
	CHECK_EQ(c.problem_va, 0x1000);
	s->pt.phys_bits = 39;
	CHECK_EQ(pt_check(&s->pt, &c), 0);

	/* Upper entries stay plain: no NX, PS at the top, or read-only. */
	e = entry_at(s, KBASE, 2);
	*e |= PTE_NX;
	CHECK_EQ(pt_check(&s->pt, &c), -EIO);
	*e &= ~PTE_NX;
	*e &= ~PTE_W;
	CHECK_EQ(pt_check(&s->pt, &c), -EIO);
	*e |= PTE_W;
	CHECK_SIM(s);
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
	else if (leaf->flags != perm_of(lo->r[i].flags))
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
				CHECK_EQ(leaf.flags, perm_of(r->flags));
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

/* What one page of the window translates to, leaf included. */
struct model_page {
	bool mapped;
	paddr_t pa;
	uint32_t flags;
	vaddr_t leaf_va;
	uint64_t leaf_size;
};

static struct model_page model[WIN_PAGES], before[WIN_PAGES];

/* The same translation (leaf sizes aside). */
static bool page_same(const struct model_page *a, const struct model_page *b)
{
	return a->mapped == b->mapped && (!a->mapped || (a->pa == b->pa && a->flags == b->flags));
}

/* Check pages [lo, hi) of the window against the model; returns the bad page or -1. */
static int model_mismatch(struct sim *s, vaddr_t base, uint64_t lo, uint64_t hi)
{
	for (uint64_t i = lo; i < hi; i++) {
		struct pt_leaf leaf;
		vaddr_t va = base + i * P, at = va + (i % 7) * 0x111;
		bool got = pt_translate(&s->pt, at, &leaf);

		if (got != model[i].mapped)
			return (int)i;
		if (pt_lookup(&s->pt, at) != (got ? model[i].pa + (at - va) : PADDR_INVALID))
			return (int)i;
		if (!got)
			continue;
		if (leaf.va != model[i].leaf_va || leaf.size != model[i].leaf_size ||
		    leaf.pa + (va - leaf.va) != model[i].pa || leaf.flags != model[i].flags)
			return (int)i;
	}
	return -1;
}

/* Turn the model's huge leaf holding page i (if any) into 4 KiB leaves, as a split does. */
static void model_split(vaddr_t base, uint64_t i)
{
	if (i >= WIN_PAGES || !model[i].mapped || model[i].leaf_size == P)
		return;
	uint64_t first = (model[i].leaf_va - base) / P, n = model[i].leaf_size / P;
	for (uint64_t j = first; j < first + n; j++) {
		model[j].leaf_va = base + j * P;
		model[j].leaf_size = P;
	}
}

/* Split the leaf straddling the boundary before page i, if one does. */
static void model_split_at(vaddr_t base, uint64_t i)
{
	if (i < WIN_PAGES && model[i].mapped && model[i].leaf_va != base + i * P)
		model_split(base, i);
}

/* What pt_map must return; the model follows when it is 0. */
static int model_map(vaddr_t base, uint64_t first, uint64_t n, paddr_t pa, uint32_t flags)
{
	vaddr_t va = base + first * P;

	if ((flags & PT_WRITE) && (flags & PT_EXEC))
		return -EPERM;
	if (!(flags & PT_REPLACE))
		for (uint64_t i = first; i < first + n; i++)
			if (model[i].mapped)
				return -EEXIST;
	/* Chunk by chunk as the contract lays leaves (no 1 GiB leaf fits the window). */
	for (uint64_t i = 0; i < n;) {
		vaddr_t cva = va + i * P;
		paddr_t cpa = pa + i * P;
		uint64_t len = 1;
		if ((flags & PT_HUGE_2M) && IS_ALIGNED(cva | cpa, M2) && n - i >= 512)
			len = 512;
		else
			model_split(base, first + i); /* a page replaced inside a huge leaf */
		for (uint64_t j = 0; j < len; j++)
			model[first + i + j] =
			    (struct model_page){true, cpa + j * P, perm_of(flags), cva, len * P};
		i += len;
	}
	return 0;
}

static int model_unmap(vaddr_t base, uint64_t first, uint64_t n)
{
	model_split_at(base, first);
	model_split_at(base, first + n);
	memset(&model[first], 0, n * sizeof(model[0]));
	return 0;
}

static int model_protect(vaddr_t base, uint64_t first, uint64_t n, uint32_t flags)
{
	if ((flags & PT_WRITE) && (flags & PT_EXEC))
		return -EPERM;
	for (uint64_t i = first; i < first + n; i++)
		if (!model[i].mapped)
			return -ENOENT;
	model_split_at(base, first);
	model_split_at(base, first + n);
	for (uint64_t i = first; i < first + n; i++)
		model[i].flags = perm_of(flags);
	return 0;
}

static const uint32_t model_flags[] = {
    0,
    PT_WRITE,
    PT_EXEC,
    PT_GLOBAL,
    PT_UC,
    PT_WC,
    PT_USER,
    PT_WRITE | PT_GLOBAL,
    PT_EXEC | PT_GLOBAL,
    PT_WRITE | PT_UC,
    PT_WRITE | PT_USER,
    PT_EXEC | PT_USER,
    PT_WRITE | PT_EXEC,
};

TEST(pt_random_ops_match_model)
{
	/*
	 * 16 MiB windows straddling a PML4 boundary in each half and at the very
	 * top; many short rounds so the window does not just fill up.
	 */
	static const vaddr_t bases[] = {0x0000008000000000ull - 8 * MiB,
					0xffff808000000000ull - 8 * MiB, 0xffffffffff000000ull};
	static const char *const names[] = {"pt_map", "pt_map (replace)", "pt_unmap", "pt_protect"};
	int succeeded[4] = {0};

	for (size_t w = 0; w < 40 * ARRAY_SIZE(bases); w++) {
		vaddr_t base = bases[w % ARRAY_SIZE(bases)];
		struct sim *s = sim_new(SIM_FRAMES);
		struct pt_flush *f = sim_flush(s);
		const char *why;
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

			/*
			 * 0-2 map, 3 replace, 4-5 unmap, 6-7 protect; replace and protect
			 * often start at a mapped page, or inside a huge leaf (protect 7:
			 * then over part of its run).
			 */
			int what = rng() % 8, which, expect, got;
			if ((what == 3 || what == 7) && rng() % 2) {
				bool huge = rng() % 2;
				uint64_t i = first;
				while (i < WIN_PAGES &&
				       !(model[i].mapped && (!huge || model[i].leaf_size > P)))
					i++;
				if (i < WIN_PAGES && huge) {
					first = i + rng() % (512 - i % 512);
					if (rng() % 2)
						n = 1 + rng() % 4;
				} else if (i < WIN_PAGES) {
					first = i;
				}
				n = MIN(n, WIN_PAGES - first);
			}
			if (what == 7 && model[first].mapped) {
				uint64_t run = 1;
				while (first + run < WIN_PAGES && model[first + run].mapped &&
				       run < 1100)
					run++;
				n = 1 + rng() % run;
			}

			vaddr_t va = base + first * P;
			paddr_t pa = (rng() % (1 << 20)) * M2;
			pa += rng() % 4 ? (va & (M2 - 1)) : (rng() % 512) * P;
			uint32_t flags = model_flags[rng() % ARRAY_SIZE(model_flags)];
			if (rng() % 2 || kind == 3) /* huge-page-sized runs nearly always may */
				flags |= PT_HUGE_2M;
			if (rng() % 4 == 0)
				flags |= PT_HUGE_1G;

			memcpy(before, model, sizeof(model));
			memset(f, 0, sizeof(*f));
			if (what <= 3) {
				which = what == 3;
				if (which)
					flags |= PT_REPLACE;
				expect = model_map(base, first, n, pa, flags);
				got = pt_map(&s->pt, va, pa, n * P, flags);
			} else if (what <= 5) {
				which = 2;
				expect = model_unmap(base, first, n);
				got = pt_unmap(&s->pt, va, n * P);
			} else {
				which = 3;
				expect = model_protect(base, first, n, flags);
				got = pt_protect(&s->pt, va, n * P, flags);
			}
			if (got != expect) {
				check_fail(
				    __FILE__, __LINE__,
				    "round %zu op %d: %s(%#llx, %llu pages, pa %#llx, flags %#x) "
				    "= %d, model says %d",
				    w, op, names[which], (unsigned long long)va,
				    (unsigned long long)n, (unsigned long long)pa, flags, got,
				    expect);
				return;
			}
			succeeded[which] += got == 0;
			if ((why = sim_problem(s))) {
				check_fail(__FILE__, __LINE__, "round %zu op %d: %s: %s", w, op,
					   names[which], why);
				return;
			}
			/* The pages around the operation, whole 2 MiB blocks for the splits. */
			bad = model_mismatch(s, base, ALIGN_DOWN(first, 512),
					     MIN(ALIGN_UP(first + n, 512), WIN_PAGES));
			if (bad < 0 && op % 25 == 24)
				bad = model_mismatch(s, base, 0, WIN_PAGES);
			if (bad >= 0) {
				check_fail(__FILE__, __LINE__,
					   "round %zu op %d: %s: page %d differs", w, op,
					   names[which], bad);
				return;
			}
			/* Every page whose translation changed had its old leaf flushed. */
			for (int i = 0; i < WIN_PAGES && !f->all; i++) {
				if (!before[i].mapped || page_same(&before[i], &model[i]) ||
				    flushed(f, before[i].leaf_va, before[i].leaf_size))
					continue;
				check_fail(__FILE__, __LINE__,
					   "round %zu op %d: %s: page %d not flushed", w, op,
					   names[which], i);
				return;
			}
		}
		bad = model_mismatch(s, base, 0, WIN_PAGES);
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
		CHECK(ls->n <= (int)ARRAY_SIZE(ls->l));

		/* Unmapping the window gives every table back. */
		CHECK_EQ(pt_unmap(&s->pt, base, WIN_PAGES * P), 0);
		CHECK_EQ(s->used, 1);
		CHECK_SIM(s);
	}
	/* Every kind of operation succeeded often enough to mean something. */
	for (int i = 0; i < 4; i++)
		CHECK(succeeded[i] > 300);
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
	RUN(pt_map_enomem_changes_nothing);
	RUN(pt_translate_rejects_non_canonical);
	RUN(pt_walk_visits_leaves_in_order);
	RUN(pt_walk_empty_and_early_stop);
	RUN(pt_effective_flags_fold_upper_levels);
	RUN(pt_map_cache_types_reach_leaf_and_translate);
	RUN(pt_map_user_sets_u_on_every_level);
	RUN(pt_map_replace_user_page_inside_supervisor_huge_leaf);
	RUN(pt_map_phys_bits_limits_pa);
	RUN(pt_unmap_4k_pages_and_holes);
	RUN(pt_unmap_whole_huge_leaves);
	RUN(pt_unmap_splits_2m_leaf);
	RUN(pt_unmap_splits_1g_leaf);
	RUN(pt_unmap_frees_empty_tables);
	RUN(pt_unmap_rejects_bad_arguments);
	RUN(pt_unmap_enomem_on_split_unmaps_nothing);
	RUN(pt_unmap_without_free_table_keeps_tables);
	RUN(pt_protect_changes_flags);
	RUN(pt_protect_splits_at_edges);
	RUN(pt_protect_hole_is_enoent_and_changes_nothing);
	RUN(pt_protect_rejects_write_exec_and_bad_arguments);
	RUN(pt_protect_enomem_changes_nothing);
	RUN(pt_map_replace_over_4k_pages);
	RUN(pt_map_replace_inside_huge_leaf_splits_it);
	RUN(pt_map_replace_by_huge_leaf_frees_tables);
	RUN(pt_map_replace_enomem);
	RUN(pt_flush_records_changed_leaves);
	RUN(pt_flush_all_when_many_or_a_table_goes);
	RUN(pt_lookup_matches_translate);
	RUN(pt_walk_tables_visits_every_table_once);
	RUN(pt_check_counts_and_catches_corruption);
	RUN(pt_loader_layout_is_w_xor_x);
	RUN(pt_random_ops_match_model);
	return check_done();
}
