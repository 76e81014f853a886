/*
 * libFuzzer target for arch/x86_64/pgtable.c. Decodes the input into a
 * physical address width, a limit on table frames and MAX_OPS operations
 * (from bytes seeded by the input once it runs out): pt_map with and
 * without PT_REPLACE, pt_unmap, pt_protect, malformed calls and lookups, on
 * two 2 GiB windows, [511 GiB, 513 GiB) across a PML4 entry in the lower
 * half and the top 2 GiB of the upper half, so 4 KiB, 2 MiB and 1 GiB
 * leaves all occur and get split. A per-page model predicts every result
 * exactly except -ENOMEM, which must come from a refused frame and change
 * nothing (without PT_REPLACE; with it each page is the old or the new
 * mapping). After each operation the range's pages translate as the model
 * says, every old leaf whose translation changed is in the flush record,
 * pt_check passes with no empty table and counts as tables exactly the
 * frames in use, which pt_walk_tables visits once each. At the end a full
 * walk matches the model and unmapping the windows gives every table back.
 * Traps on any mismatch.
 */
#include <arch/x86_64/pgtable.h>
#include <lib/errno.h>
#include <lib/string.h>

#include "fuzz.h"

#define P	   PAGE_SIZE
#define M2	   PAGE_SIZE_2M
#define G1	   PAGE_SIZE_1G
#define NWIN	   2
#define WIN_PAGES  (2 * G1 / P)
#define NPAGES	   (NWIN * WIN_PAGES)
#define NCHUNKS	   (NPAGES / 512) /* 2 MiB each */
#define MAX_FRAMES 72
#define SIM_BASE   0x200000ull /* fake physical address of frame 0 */
#define MAX_OPS	   40
#define NO_PA	   PADDR_INVALID

/*
 * The model's bookkeeping and the page-by-page comparisons run millions of
 * times per second of fuzzing: without coverage hooks they are several times
 * faster, and their branches tell libFuzzer nothing about pgtable.c anyway.
 */
#define CHECKER __attribute__((no_sanitize("coverage"), noinline))

static const vaddr_t win_base[NWIN] = {511 * G1, 0xffffffff80000000ull};

/* --- simulated physical memory for table frames ------------------------------- */

static struct {
	struct pgtable pt;
	struct pt_flush flush;
	_Alignas(4096) uint8_t mem[MAX_FRAMES * P];
	bool in_use[MAX_FRAMES];
	uint32_t seen[MAX_FRAMES]; /* walk generation that last visited the frame */
	uint32_t gen;
	uint16_t free_list[MAX_FRAMES];
	size_t nfree, next, used, limit;
	uint64_t refused; /* alloc_table calls turned down */
} sim;

static size_t frame_index(paddr_t pa)
{
	ASSERT(pa >= SIM_BASE && IS_ALIGNED(pa, P) && (pa - SIM_BASE) / P < MAX_FRAMES);
	return (pa - SIM_BASE) / P;
}

static paddr_t sim_alloc(struct pgtable *pt)
{
	size_t i;

	if (sim.used >= sim.limit) {
		sim.refused++;
		return PADDR_INVALID;
	}
	i = sim.nfree ? sim.free_list[--sim.nfree] : sim.next++;
	ASSERT(i < MAX_FRAMES && !sim.in_use[i]);
	memset(sim.mem + i * P, 0, P);
	sim.in_use[i] = true;
	sim.used++;
	return SIM_BASE + i * P;
}

/* Take a table back, poisoned (present entries to nowhere) so a later use shows. */
static void sim_free(struct pgtable *pt, paddr_t pa)
{
	size_t i = frame_index(pa);

	ASSERT(sim.in_use[i] && pa != pt->root);
	memset(sim.mem + i * P, 0xa5, P);
	sim.in_use[i] = false;
	sim.free_list[sim.nfree++] = (uint16_t)i;
	sim.used--;
}

static void sim_reset(size_t limit, unsigned int phys_bits, bool flush)
{
	memset(sim.in_use, 0, sizeof(sim.in_use));
	sim.nfree = sim.next = sim.used = 0;
	sim.limit = 1;
	sim.pt = (struct pgtable){0};
	sim.pt.table_base = (uintptr_t)sim.mem - SIM_BASE;
	sim.pt.alloc_table = sim_alloc;
	sim.pt.free_table = sim_free;
	sim.pt.flush = flush ? &sim.flush : NULL;
	sim.pt.phys_bits = phys_bits;
	sim.pt.root = sim_alloc(&sim.pt);
	ASSERT(sim.pt.root != PADDR_INVALID);
	sim.limit = limit;
}

/* --- the per-page model ------------------------------------------------------------ */

/* Page i of the model is win_base[i / WIN_PAGES] + (i % WIN_PAGES) * P. */
static struct {
	paddr_t pa[NPAGES]; /* NO_PA: unmapped */
	uint8_t fl[NPAGES]; /* what pt_translate reports: PT_WRITE ... PT_WC */
	uint16_t chunk_mapped[NCHUNKS];
	bool dirty[NCHUNKS]; /* changed since the last reset */
	uint64_t mapped;     /* pages */
	bool ready;
} m;

static vaddr_t page_va(uint64_t i)
{
	return win_base[i / WIN_PAGES] + (i % WIN_PAGES) * P;
}

/* The permissions and cache type a leaf made with flags reports. */
static uint8_t perm(uint32_t flags)
{
	uint32_t f = flags & (PT_WRITE | PT_EXEC | PT_GLOBAL | PT_USER);

	if (flags & PT_UC)
		f |= PT_UC;
	else if (flags & PT_WC)
		f |= PT_WC;
	return (uint8_t)f;
}

CHECKER static void m_set(uint64_t i, paddr_t pa, uint8_t fl)
{
	if (m.pa[i] == NO_PA) {
		m.chunk_mapped[i / 512]++;
		m.mapped++;
	}
	m.pa[i] = pa;
	m.fl[i] = fl;
	m.dirty[i / 512] = true;
}

CHECKER static void m_clear_range(uint64_t first, uint64_t n)
{
	for (uint64_t i = first; i < first + n; i++) {
		if (i % 512 == 0 && m.chunk_mapped[i / 512] == 0 && first + n - i >= 512) {
			i += 511;
			continue;
		}
		if (m.pa[i] != NO_PA) {
			m.chunk_mapped[i / 512]--;
			m.mapped--;
			m.pa[i] = NO_PA;
			m.fl[i] = 0;
		}
	}
}

/* How many pages of [first, first + n) the model maps. */
CHECKER static uint64_t m_count(uint64_t first, uint64_t n)
{
	uint64_t count = 0;

	for (uint64_t i = first; i < first + n; i++) {
		if (i % 512 == 0 && first + n - i >= 512) {
			count += m.chunk_mapped[i / 512];
			i += 511;
			continue;
		}
		count += m.pa[i] != NO_PA;
	}
	return count;
}

CHECKER static void m_reset(void)
{
	if (!m.ready) {
		for (uint64_t i = 0; i < NPAGES; i++)
			m.pa[i] = NO_PA;
		m.ready = true;
	}
	for (uint64_t c = 0; c < NCHUNKS; c++) {
		if (!m.dirty[c])
			continue;
		for (uint64_t i = c * 512; i < (c + 1) * 512; i++)
			m.pa[i] = NO_PA;
		memset(&m.fl[c * 512], 0, 512);
		m.chunk_mapped[c] = 0;
		m.dirty[c] = false;
	}
	m.mapped = 0;
}

enum { OP_MAP, OP_UNMAP, OP_PROTECT };

/* What a successful operation did to pages [first, first + n). */
CHECKER static void m_apply(int kind, uint64_t first, uint64_t n, paddr_t pa, uint8_t fl)
{
	for (uint64_t i = first; i < first + n; i++) {
		if (kind == OP_MAP)
			m_set(i, pa + (i - first) * P, fl);
		else if (kind == OP_PROTECT)
			m_set(i, m.pa[i], fl);
	}
	if (kind == OP_UNMAP)
		m_clear_range(first, n);
}

/* --- checking the tables against the model ------------------------------------------ */

/* Pages from va to the end of the hole there (va must be unmapped), read from the entries. */
CHECKER static uint64_t hole_pages(vaddr_t va)
{
	const uint64_t *t = (const uint64_t *)(sim.pt.table_base + sim.pt.root);

	for (int level = 0; level < 4; level++) {
		unsigned int shift = 39 - 9 * level;
		uint64_t e = t[(va >> shift) & 511], span = 1ull << shift;

		if (!(e & PTE_P))
			return (span - (va & (span - 1))) / P;
		ASSERT(level < 3 && (level == 0 || !(e & PTE_PS)));
		t = (const uint64_t *)(sim.pt.table_base + (e & PTE_ADDR));
	}
	__builtin_trap();
}

/* A mapping each page of a replaced range may have taken instead of the model's. */
struct alt {
	uint64_t first, n;
	paddr_t pa;
	uint8_t fl;
};

/*
 * Pages [lo, hi) of one window against the model, a leaf at a time. With
 * alt, a page may hold alt's mapping instead, and the model takes it.
 */
CHECKER static void check_pages(uint64_t lo, uint64_t hi, const struct alt *alt)
{
	for (uint64_t i = lo; i < hi;) {
		vaddr_t va = page_va(i);
		struct pt_leaf l;

		if (!pt_translate(&sim.pt, va, &l)) {
			uint64_t end = MIN(hi, i + hole_pages(va));
			ASSERT(pt_lookup(&sim.pt, va + (i % P)) == PADDR_INVALID);
			ASSERT(m_count(i, end - i) == 0);
			i = end;
			continue;
		}
		ASSERT(l.size == P || l.size == M2 || l.size == G1);
		ASSERT(IS_ALIGNED(l.va | l.pa, l.size) && va - l.va < l.size);
		ASSERT((va - l.va) / P <= i % WIN_PAGES); /* the leaf starts in the window */
		uint64_t first = i - (va - l.va) / P, end = MIN(hi, first + l.size / P);
		uint64_t off = (i * 0x9e3779b97f4a7c15ull) % ((end - i) * P);
		if (i == lo || i % 16 == 0) /* the fast path agrees, at a sample of leaves */
			ASSERT(pt_lookup(&sim.pt, va + off) == l.pa + (va - l.va) + off);
		for (; i < end; i++) {
			paddr_t pa = l.pa + (i - first) * P;
			if (m.pa[i] == pa && m.fl[i] == l.flags)
				continue;
			ASSERT(alt && i - alt->first < alt->n);
			ASSERT(pa == alt->pa + (i - alt->first) * P && l.flags == alt->fl);
			m_set(i, pa, l.flags);
		}
	}
}

/* The leaves over [first, first + n) before an operation, and whether one sticks out. */
static struct pt_leaf old[WIN_PAGES];
static uint64_t nold;

CHECKER static void collect_old(uint64_t first, uint64_t n)
{
	nold = 0;
	for (uint64_t i = first; i < first + n;) {
		vaddr_t va = page_va(i);
		struct pt_leaf l;

		if (!pt_translate(&sim.pt, va, &l)) {
			i += hole_pages(va);
			continue;
		}
		old[nold++] = l;
		i += (l.va + l.size - va) / P;
	}
}

CHECKER static bool old_sticks_out(uint64_t first, uint64_t n)
{
	return nold && (old[0].va < page_va(first) ||
			old[nold - 1].va + old[nold - 1].size - 1 > page_va(first + n - 1) + P - 1);
}

/* Every old leaf whose translation changed has an address in the flush record. */
CHECKER static void check_flush(void)
{
	const struct pt_flush *f = &sim.flush;

	ASSERT(f->count <= PT_FLUSH_MAX);
	for (unsigned int k = 0; k < f->count; k++)
		ASSERT(pt_is_canonical(f->va[k]) && IS_ALIGNED(f->va[k], P));
	if (f->all)
		return;
	for (uint64_t j = 0; j < nold; j++) {
		const struct pt_leaf *l = &old[j];
		uint64_t w = l->va >= win_base[1],
			 first = w * WIN_PAGES + (l->va - win_base[w]) / P;
		bool changed = false, named = false;

		for (uint64_t i = first; i < first + l->size / P && !changed; i++)
			changed = m.pa[i] != l->pa + (i - first) * P || m.fl[i] != l->flags;
		for (unsigned int k = 0; k < f->count && changed && !named; k++)
			named = f->va[k] - l->va < l->size;
		ASSERT(!changed || named);
	}
}

CHECKER static void seen_table(paddr_t table, void *arg)
{
	size_t i = frame_index(table);

	ASSERT(sim.in_use[i] && sim.seen[i] != sim.gen);
	sim.seen[i] = sim.gen;
	(*(uint64_t *)arg)++;
}

/*
 * pt_check passes and its counts match the model and the frames in use; with
 * walk, pt_walk_tables visits exactly those frames.
 */
static void check_global(bool walk)
{
	struct pt_check c;
	uint64_t tables = 0;

	ASSERT(pt_check(&sim.pt, &c) == 0);
	ASSERT(c.problem == NULL && c.empty_tables == 0 && c.tables == sim.used);
	ASSERT(c.leaves[0] * (G1 / P) + c.leaves[1] * (M2 / P) + c.leaves[2] == m.mapped);
	if (!walk)
		return;
	sim.gen++;
	pt_walk_tables(&sim.pt, seen_table, &tables);
	ASSERT(tables == sim.used);
}

/* Every leaf lies in a window and matches the model page by page. */
CHECKER static int check_leaf(const struct pt_leaf *l, void *arg)
{
	uint64_t w = l->va >= win_base[1], first;

	ASSERT(l->va >= win_base[w] && l->va - win_base[w] + l->size <= WIN_PAGES * P);
	first = w * WIN_PAGES + (l->va - win_base[w]) / P;
	for (uint64_t i = first; i < first + l->size / P; i++)
		ASSERT(m.pa[i] == l->pa + (i - first) * P && m.fl[i] == l->flags);
	*(uint64_t *)arg += l->size / P;
	return 0;
}

/* --- decoding operations ------------------------------------------------------------------ */

static unsigned int phys_bits; /* effective: never 0 */
static uint64_t nchanges;      /* operations that may change the tables */

/*
 * A range in one window: starts in 4 KiB, 2 MiB and 1 GiB steps, lengths
 * in pages, 2 MiB or 1 GiB steps; nudged by a page or two either way.
 */
static void pick_range(struct reader *r, uint64_t *first, uint64_t *n)
{
	static const uint64_t unit[8] = {1, 512, G1 / P, 1, G1 / P, 512, 1, 512};
	uint8_t sel = (uint8_t)rd(r, 1), len = (uint8_t)rd(r, 1);
	uint64_t x = rd(r, 3), y = rd(r, 2), u = unit[(sel >> 1) & 3], v = unit[len & 7];
	uint64_t f = (x % (WIN_PAGES / u)) * u, count;

	if (sel & 0x20)
		f += y % 3;
	if (sel & 0x40)
		f -= MIN(f, (y >> 2) % 3);
	f = MIN(f, WIN_PAGES - 1);
	count = (1 + (len >> 3) % (v == 1 ? 24 : v == 512 ? 6 : 2)) * v;
	if (v == 1 && (len & 0x80))
		count += y % 600;
	if (sel & 0x80)
		count = count + (y >> 12) % 3 - MIN(count - 1, (y >> 14) % 2);
	*first = (sel & 1) * WIN_PAGES + f;
	*n = MIN(count, WIN_PAGES - f);
}

/*
 * Mostly move the range to start at the next mapped page (a random page of
 * a huge leaf there, now and then) and, for pt_protect, mostly keep it to
 * the mapped run there, so changes to mappings are common and succeed.
 */
CHECKER static void onto_mapped(struct reader *r, int kind, uint64_t *first, uint64_t *n)
{
	uint8_t sel = (uint8_t)rd(r, 1);
	uint64_t i = *first, end = (*first / WIN_PAGES + 1) * WIN_PAGES, run = 0;
	struct pt_leaf l;

	if ((sel & 3) == 0)
		return;
	while (i < end && m.pa[i] == NO_PA)
		i = i % 512 == 0 && m.chunk_mapped[i / 512] == 0 ? i + 512 : i + 1;
	if (i >= end)
		return;
	if ((sel & 0xc) == 0 && pt_translate(&sim.pt, page_va(i), &l) && l.size > P)
		i += (rd(r, 3) % (l.va + l.size - page_va(i))) / P;
	while (kind == OP_PROTECT && run < *n && i + run < end && m.pa[i + run] != NO_PA)
		run++;
	*first = i;
	*n = MIN(kind == OP_PROTECT && (sel & 0x30) ? run : *n, end - i);
}

/* A physical address for va: same alignment as va, 2 MiB-compatible, anywhere, or near the top. */
static paddr_t pick_pa(struct reader *r, uint64_t first, uint64_t n)
{
	uint8_t sel = (uint8_t)rd(r, 1);
	uint64_t x = rd(r, 2), off = (first % WIN_PAGES) * P, top = 1ull << phys_bits;

	switch (sel % 8) {
	case 0:
	case 1:
	case 2:
		return (x % 64) * G1 + off; /* windows are 1 GiB aligned */
	case 3:
		return (x % 4096) * M2 + off % M2;
	case 4:
		return (x | rd(r, 1) << 16) * P;
	case 5: /* ending just below, at or above the top */
		return top - n * P - P + (x % 3) * P;
	case 6:
		return top - (1 + x % 3) * G1 + off % G1;
	default:
		return rd(r, 7) & ~PAGE_MASK;
	}
}

static uint32_t pick_flags(struct reader *r)
{
	uint32_t flags = (uint32_t)rd(r, 2);

	if ((flags & PT_WRITE) && (flags & PT_EXEC) && !(flags & 0x8000))
		flags &= ~PT_EXEC; /* W+X now and then, not a quarter of the time */
	return flags & 0x1ff;
}

/* --- operations ---------------------------------------------------------------------------- */

static void op_change(struct reader *r, int kind, bool replace)
{
	uint64_t first, n, refused = sim.refused, used = sim.used;
	uint32_t flags = kind == OP_UNMAP ? 0 : pick_flags(r);
	int expect = 0, got;

	pick_range(r, &first, &n);
	if (kind != OP_MAP || replace)
		onto_mapped(r, kind, &first, &n);
	vaddr_t va = page_va(first);
	paddr_t pa = kind == OP_MAP ? pick_pa(r, first, n) : 0;
	uint8_t fl = perm(flags);
	bool wx = (flags & PT_WRITE) && (flags & PT_EXEC);

	if (kind == OP_MAP) {
		flags = (flags & ~PT_REPLACE) | (replace ? PT_REPLACE : 0);
		if (wx)
			expect = -EPERM;
		else if ((pa + n * P - 1) >> phys_bits)
			expect = -ERANGE;
		else if (!replace && m_count(first, n))
			expect = -EEXIST;
	} else if (kind == OP_PROTECT) {
		if (wx)
			expect = -EPERM;
		else if (m_count(first, n) != n)
			expect = -ENOENT;
	}

	collect_old(first, n);
	memset(&sim.flush, 0, sizeof(sim.flush));
	if (kind == OP_MAP)
		got = pt_map(&sim.pt, va, pa, n * P, flags);
	else if (kind == OP_UNMAP)
		got = pt_unmap(&sim.pt, va, n * P);
	else
		got = pt_protect(&sim.pt, va, n * P, flags);

	struct alt alt = {first, n, pa, fl};
	const struct alt *maybe = NULL;
	if (got == -ENOMEM) {
		/* Only for want of a frame, and only where one could be wanted. */
		ASSERT(sim.refused > refused);
		ASSERT(expect == 0 || expect == -EEXIST);
		if (kind != OP_MAP)
			ASSERT(old_sticks_out(first, n));
		if (kind == OP_MAP && replace)
			maybe = &alt; /* each page old or new */
	} else {
		ASSERT(got == expect);
		ASSERT(sim.refused == refused); /* a refused frame always ends in -ENOMEM */
	}
	if (got == 0)
		m_apply(kind, first, n, pa, fl);
	if (got && got != -ENOMEM && got != -EEXIST && sim.pt.flush)
		ASSERT(sim.flush.count == 0 && !sim.flush.all);
	/* A refused map leaves no table behind; only a failed split may have split one edge. */
	if (got && (kind == OP_MAP ? !replace : got != -ENOMEM))
		ASSERT(sim.used == used);

	check_pages(first, first + n, maybe);
	if (sim.pt.flush)
		check_flush();
	check_global(++nchanges % 8 == 0);
}

/* Calls the contract calls malformed: -EINVAL, whatever else is wrong, and no change. */
static void op_malformed(struct reader *r)
{
	uint8_t sel = (uint8_t)rd(r, 1);
	uint64_t first, n, refused = sim.refused, used = sim.used, mapped = m.mapped;
	int got;

	pick_range(r, &first, &n);
	vaddr_t va = page_va(first);
	paddr_t pa = (first % WIN_PAGES) * P;
	uint32_t flags = pick_flags(r) | (sel & 0x80 ? PT_WRITE | PT_EXEC : 0);

	memset(&sim.flush, 0, sizeof(sim.flush));
	switch (sel % 12) {
	case 0:
		got = pt_map(&sim.pt, va + 1 + sel * 13, pa, n * P, flags);
		break;
	case 1:
		got = pt_map(&sim.pt, va, pa | 0x800, n * P, flags);
		break;
	case 2:
		got = pt_map(&sim.pt, va, pa, 0, flags);
		break;
	case 3:
		got = pt_map(&sim.pt, va, pa, n * P + 0x10, flags);
		break;
	case 4:
		got = pt_unmap(&sim.pt, 0x0000800000000000ull + (sel >> 4) * G1, n * P);
		break;
	case 5:
		got = pt_unmap(&sim.pt, 0x0000800000000000ull - P, n * P + P);
		break;
	case 6:
		got = pt_protect(&sim.pt, 0xfffffffffffff000ull, 2 * P, flags);
		break;
	case 7:
		got = pt_map(&sim.pt, 0xffff7ffffffff000ull, pa, P, flags);
		break;
	case 8:
		got = pt_map(&sim.pt, va, 0xfffffffffffff000ull, n * P + P, flags);
		break;
	case 9:
		got = pt_protect(&sim.pt, va + P / 2, n * P, flags);
		break;
	case 10:
		got = pt_unmap(&sim.pt, va, 0);
		break;
	default:
		got = pt_protect(&sim.pt, va, n * P - 1, flags);
		break;
	}
	ASSERT(got == -EINVAL);
	ASSERT(sim.refused == refused && sim.used == used && m.mapped == mapped);
	ASSERT(sim.flush.count == 0 && !sim.flush.all);
	check_global(false);
}

/* pt_lookup and pt_translate at a few addresses, inside the windows and outside. */
static void op_lookup(struct reader *r)
{
	for (int k = 0; k < 8; k++) {
		uint64_t x = rd(r, 3), i = x % NPAGES;
		vaddr_t va = page_va(i) + rd(r, 2) % P;
		struct pt_leaf l;
		bool got = pt_translate(&sim.pt, va, &l);

		ASSERT(got == (m.pa[i] != NO_PA));
		ASSERT(pt_lookup(&sim.pt, va) == (got ? m.pa[i] + va % P : PADDR_INVALID));
		ASSERT(!got || (l.flags == m.fl[i] && l.pa + (va - l.va) == m.pa[i] + va % P));
		/* The same address with other bits 63..48: mostly non-canonical. */
		va = (va & 0x0000ffffffffffffull) | ((x >> 8) & 0x7fff) << 48;
		if (!pt_is_canonical(va)) {
			ASSERT(!pt_translate(&sim.pt, va, &l));
			ASSERT(pt_lookup(&sim.pt, va) == PADDR_INVALID);
		}
	}
}

static void op(struct reader *r)
{
	uint8_t kind = (uint8_t)rd(r, 1);

	switch (kind % 16) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
		op_change(r, OP_MAP, false);
		break;
	case 5:
	case 6:
	case 7:
		op_change(r, OP_MAP, true);
		break;
	case 8:
	case 9:
	case 10:
		op_change(r, OP_UNMAP, false);
		break;
	case 11:
	case 12:
	case 13:
		op_change(r, OP_PROTECT, false);
		break;
	case 14:
		op_malformed(r);
		break;
	default:
		op_lookup(r);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = {data, size, 0};
	uint8_t bits = (uint8_t)rd(&r, 1), lim = (uint8_t)rd(&r, 1);
	size_t limit = lim & 0x80 ? 8 + (lim & 0x3f) : 1 + (lim & 0xf);
	uint64_t pages = 0;

	phys_bits = bits % 4 == 0 ? PT_MAX_PHYS_BITS : 32 + bits % 21;
	sim_reset(MIN(limit, MAX_FRAMES), bits % 4 == 0 ? 0 : phys_bits, !(bits & 0x80));
	m_reset();
	check_global(true);

	r.rng = fuzz_seed(data, size);
	for (int i = 0; i < MAX_OPS; i++)
		op(&r);

	/* The whole address space against the model. */
	ASSERT(pt_walk(&sim.pt, check_leaf, &pages) == 0);
	ASSERT(pages == m.mapped);

	/* The windows' edges split nothing, so unmapping them always works and frees all. */
	for (int w = 0; w < NWIN; w++)
		ASSERT(pt_unmap(&sim.pt, win_base[w], WIN_PAGES * P) == 0);
	m_clear_range(0, NPAGES);
	ASSERT(sim.used == 1);
	check_global(true);
	return 0;
}
