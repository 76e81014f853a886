/*
 * x86-64 4-level page tables as data: build, translate and walk them.
 * Portable C with no CPU access, so the loader (tables in identity-mapped
 * firmware memory), the kernel (tables through the direct map) and host
 * tests (tables in a simulated physical memory) share it. The caller says
 * how to reach a table frame and where new ones come from.
 *
 * Entry layout (every level):
 *
 *   63  62........52 51..................12 11..9 8 7  6 5 4   3   2 1 0
 *  +--+------------+----------------------+-----+-+--+-+-+---+---+-+-+-+
 *  |NX|  ignored   | physical frame number|avail|G|PS|D|A|PCD|PWT|U|W|P|
 *  +--+------------+----------------------+-----+-+--+-+-+---+---+-+-+-+
 *
 * PS (bit 7) marks a 1 GiB leaf in a PDPT entry or a 2 MiB leaf in a PD
 * entry; in a 4 KiB PTE bit 7 is PAT (never set: PWT and PCD pick the cache
 * type). Permissions live on leaves: upper entries are always present,
 * writable, executable and supervisor (user too above user leaves), so one
 * leaf tells the whole story.
 */
#pragma once

#include <lib/types.h>

#define PTE_P	    (1ull << 0)
#define PTE_W	    (1ull << 1)
#define PTE_U	    (1ull << 2)
#define PTE_PWT	    (1ull << 3)
#define PTE_PCD	    (1ull << 4)
#define PTE_A	    (1ull << 5)
#define PTE_D	    (1ull << 6)
#define PTE_PS	    (1ull << 7)
#define PTE_G	    (1ull << 8)
#define PTE_NX	    (1ull << 63)
#define PTE_ADDR    0x000ffffffffff000ull
#define PTE_ENTRIES 512

/*
 * Bits 52-58 are ignored by the CPU in every entry, present or not (bits
 * 59-62 would be protection keys). Entries 0 and 1 of each table carry the
 * table's count of present entries there (7 low bits, 7 high bits), so
 * unmapping knows in O(1) when a table has become empty.
 */
#define PTE_COUNT_SHIFT 52
#define PTE_COUNT_MASK	(0x7full << PTE_COUNT_SHIFT)

#define PAGE_SIZE_2M (2ull << 20)
#define PAGE_SIZE_1G (1ull << 30)

/*
 * Mapping flags: what the caller asks for. Read and present are implied.
 * Cache types rely on the PAT layout arch code programs (arch/x86_64/mmu.c):
 * PAT entry 1 (PWT) is write-combining, entry 3 (PCD | PWT) uncached; the
 * firmware default makes entry 1 write-through, which is still safe.
 */
#define PT_WRITE   (1u << 0) /* writable */
#define PT_EXEC	   (1u << 1) /* executable (never together with PT_WRITE) */
#define PT_GLOBAL  (1u << 2) /* survives CR3 reloads (kernel mappings) */
#define PT_UC	   (1u << 3) /* uncached (MMIO): PCD | PWT */
#define PT_USER	   (1u << 4) /* user accessible: U on the leaf and every level above */
#define PT_HUGE_2M (1u << 5) /* may use 2 MiB leaves where aligned */
#define PT_HUGE_1G (1u << 6) /* may use 1 GiB leaves (CPU must support them) */
#define PT_WC	   (1u << 7) /* write-combining (framebuffer): PWT */
#define PT_REPLACE (1u << 8) /* pt_map may overwrite existing mappings */

#define PT_CACHE_MASK (PT_UC | PT_WC)

/* Highest physical address bit the format can hold (MAXPHYADDR <= 52). */
#define PT_MAX_PHYS_BITS 52

/*
 * TLB work a change leaves for the caller: one address in each leaf whose
 * translation changed or went away (INVLPG on it drops the whole entry), or
 * `all` when there were more than PT_FLUSH_MAX or a whole table of leaves
 * was dropped at once.
 */
#define PT_FLUSH_MAX 64
struct pt_flush {
	unsigned int count;
	bool all;
	vaddr_t va[PT_FLUSH_MAX];
};

struct pgtable {
	paddr_t root; /* PML4 frame */
	/* The table in frame pa is at (uint64_t *)(table_base + pa). */
	uintptr_t table_base;
	/* A zeroed 4 KiB frame for a new table, or PADDR_INVALID. */
	paddr_t (*alloc_table)(struct pgtable *pt);
	/* Take back a table that became empty; NULL keeps empty tables. */
	void (*free_table)(struct pgtable *pt, paddr_t pa);
	/* Where changes that need a TLB flush are recorded; NULL ignores them. */
	struct pt_flush *flush;
	unsigned int phys_bits; /* the CPU's MAXPHYADDR; 0 means PT_MAX_PHYS_BITS */
	void *ctx;		/* the caller's */
};

/* One leaf mapping as a walk reports it, with effective permissions. */
struct pt_leaf {
	vaddr_t va;
	paddr_t pa;
	uint64_t size;	/* 4 KiB, 2 MiB or 1 GiB */
	uint32_t flags; /* PT_WRITE / EXEC / USER effective; GLOBAL, UC, WC from the leaf */
};

/* True if va is canonical for 48-bit virtual addresses. */
bool pt_is_canonical(vaddr_t va);

/*
 * Map [va, va + size) to [pa, pa + size) with flags.
 * => va, pa, size 4 KiB aligned, size > 0, va range canonical, not wrapping
 *    and not crossing the canonical hole.
 * => uses 2 MiB / 1 GiB leaves only where the flags allow and both
 *    addresses are aligned.
 * Returns 0 or, with nothing changed:
 *   -EINVAL bad arguments, -EPERM PT_WRITE | PT_EXEC (W^X is policy),
 *   -ERANGE pa beyond phys_bits, -EEXIST a page is mapped already (without
 *   PT_REPLACE), -ENOMEM no table frame (with PT_REPLACE the range may then
 *   be partly replaced).
 * With PT_REPLACE, huge leaves overlapping the range are split and tables
 * under a new huge leaf are freed; replaced leaves go to pt->flush.
 */
int pt_map(struct pgtable *pt, vaddr_t va, paddr_t pa, uint64_t size, uint32_t flags);

/*
 * Unmap every page in [va, va + size); holes are fine. A huge leaf only
 * partly inside is split first, so the rest of it stays mapped. Tables left
 * empty go to pt->free_table. Returns 0, -EINVAL, or -ENOMEM (a split found
 * no frame; nothing was unmapped).
 */
int pt_unmap(struct pgtable *pt, vaddr_t va, uint64_t size);

/*
 * Give every page in [va, va + size) the permissions and cache type of flags
 * (PT_WRITE, PT_EXEC, PT_GLOBAL, PT_UC/PT_WC, PT_USER), splitting huge leaves
 * at the edges. Returns 0, -EINVAL, -EPERM (W+X), -ENOENT (a page in the
 * range is unmapped) or -ENOMEM (a split found no frame); on error nothing
 * changed.
 */
int pt_protect(struct pgtable *pt, vaddr_t va, uint64_t size, uint32_t flags);

/*
 * Look va up. Returns true and fills *leaf (va rounded down to the leaf) if
 * mapped; effective flags AND W down the levels and OR NX.
 */
bool pt_translate(const struct pgtable *pt, vaddr_t va, struct pt_leaf *leaf);

/*
 * The physical address va maps to, or PADDR_INVALID: the fast path, inline
 * because a call costs as much as the walk when the tables are in cache.
 */
static inline paddr_t pt_lookup(const struct pgtable *pt, vaddr_t va)
{
	const uint64_t *t = (const uint64_t *)(pt->table_base + pt->root);

	if ((uint64_t)((int64_t)va >> 47) + 1 > 1)
		return PADDR_INVALID; /* not canonical */
	for (int shift = 39;; shift -= 9) {
		uint64_t e = t[(va >> shift) & (PTE_ENTRIES - 1)];
		if (!(e & PTE_P))
			return PADDR_INVALID;
		if (shift == 12 || (shift < 39 && (e & PTE_PS))) {
			uint64_t offset = (1ull << shift) - 1;
			return (e & PTE_ADDR & ~offset) | (va & offset);
		}
		t = (const uint64_t *)(pt->table_base + (e & PTE_ADDR));
	}
}

/*
 * Call fn for every leaf mapping, in address order. Stops early and returns
 * fn's value if fn returns non-zero; else returns 0.
 */
int pt_walk(const struct pgtable *pt, int (*fn)(const struct pt_leaf *leaf, void *arg), void *arg);

/* Call fn for every table frame, root included (table frames to reclaim). */
void pt_walk_tables(const struct pgtable *pt, void (*fn)(paddr_t table, void *arg), void *arg);

/* What pt_check found. */
struct pt_check {
	uint64_t tables;       /* root included */
	uint64_t empty_tables; /* non-root tables with no present entry */
	uint64_t leaves[3];    /* 1 GiB, 2 MiB, 4 KiB */
	const char *problem;   /* first broken invariant, or NULL */
	vaddr_t problem_va;    /* where */
};

/*
 * Verify the invariants: each table's stored count equals its present
 * entries, no leaf is writable and executable, user leaves have U on every
 * level above, leaf addresses are aligned and below phys_bits, no bit we
 * never set (PAT, keys, reserved). Returns 0 or -EIO (see problem).
 */
int pt_check(const struct pgtable *pt, struct pt_check *c);

/* Kernel only (arch/x86_64/cpu.c): look va up in the live page tables. */
bool arch_translate(vaddr_t va, struct pt_leaf *leaf);
