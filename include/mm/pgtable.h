/*
 * Page tables as data, the portable interface: build, translate and walk a
 * tree of tables in terms of PT_* flags. The machine's entry encoding lives
 * behind it (arch/x86_64/pgtable.c, bits in include/arch/x86_64/pgtable.h),
 * so generic code never sees a hardware bit.
 *
 * No CPU access, so the loader (tables in identity-mapped firmware memory),
 * the kernel (tables through the direct map) and host tests (tables in a
 * simulated physical memory) share the code. The caller says how to reach a
 * table frame and where new ones come from; it loads tables and flushes the
 * TLB itself, guided by what pt->flush records. Permissions live on leaves:
 * a walk reports one leaf's effective permissions as the whole story.
 */
#pragma once

#include <lib/types.h>

/* The larger leaf sizes PT_HUGE_2M and PT_HUGE_1G allow. */
#define PAGE_SIZE_2M (2ull << 20)
#define PAGE_SIZE_1G (1ull << 30)

/*
 * Mapping flags: what the caller asks for. Read and present are implied.
 * How a cache type reaches the hardware is the machine's business (the PAT
 * layout arch code programs, on x86).
 */
#define PT_WRITE   (1u << 0) /* writable */
#define PT_EXEC	   (1u << 1) /* executable (never together with PT_WRITE) */
#define PT_GLOBAL  (1u << 2) /* survives address-space switches (kernel mappings) */
#define PT_UC	   (1u << 3) /* uncached (MMIO) */
#define PT_USER	   (1u << 4) /* user accessible: on the leaf and every level above */
#define PT_HUGE_2M (1u << 5) /* may use 2 MiB leaves where aligned */
#define PT_HUGE_1G (1u << 6) /* may use 1 GiB leaves (CPU must support them) */
#define PT_WC	   (1u << 7) /* write-combining (framebuffer) */
#define PT_REPLACE (1u << 8) /* pt_map may overwrite existing mappings */

#define PT_CACHE_MASK (PT_UC | PT_WC)

/* Highest physical address bit the format can hold (MAXPHYADDR <= 52). */
#define PT_MAX_PHYS_BITS 52

/*
 * TLB work a change leaves for the caller: one address in each leaf whose
 * translation changed or went away (flushing it drops the whole entry), or
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
	paddr_t root; /* top-level table frame */
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
	uint64_t size;	/* PAGE_SIZE, PAGE_SIZE_2M or PAGE_SIZE_1G */
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
 * mapped; effective flags: writable and user only if every level allows it,
 * executable only if no level forbids it.
 */
bool pt_translate(const struct pgtable *pt, vaddr_t va, struct pt_leaf *leaf);

/* The physical address va maps to, or PADDR_INVALID: pt_translate's fast path. */
paddr_t pt_lookup(const struct pgtable *pt, vaddr_t va);

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
 * entries, no leaf is writable and executable, user leaves are user on every
 * level above, leaf addresses are aligned and below phys_bits, no entry
 * carries a bit this code never sets. Returns 0 or -EIO (see problem).
 */
int pt_check(const struct pgtable *pt, struct pt_check *c);
