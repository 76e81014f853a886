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
 * entry; in a 4 KiB PTE bit 7 is PAT. Permissions live on leaves: upper
 * entries are always present, writable, executable, supervisor, so one leaf
 * tells the whole story.
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

#define PAGE_SIZE_2M (2ull << 20)
#define PAGE_SIZE_1G (1ull << 30)

/* Mapping flags: what the caller asks for. Read and present are implied. */
#define PT_WRITE   (1u << 0) /* writable */
#define PT_EXEC	   (1u << 1) /* executable (never together with PT_WRITE) */
#define PT_GLOBAL  (1u << 2) /* survives CR3 reloads (kernel mappings) */
#define PT_NOCACHE (1u << 3) /* uncached: PCD | PWT */
#define PT_USER	   (1u << 4) /* user accessible (reported by walks; never mapped yet) */
#define PT_HUGE_2M (1u << 5) /* may use 2 MiB leaves where aligned */
#define PT_HUGE_1G (1u << 6) /* may use 1 GiB leaves (CPU must support them) */

/* Highest physical address bit the format can hold (MAXPHYADDR <= 52). */
#define PT_MAX_PHYS_BITS 52

struct pgtable {
	paddr_t root; /* PML4 frame */
	/* Pointer through which the table in frame pa can be read and written. */
	uint64_t *(*table)(struct pgtable *pt, paddr_t pa);
	/* A zeroed 4 KiB frame for a new table, or PADDR_INVALID. */
	paddr_t (*alloc_table)(struct pgtable *pt);
	void *ctx; /* the caller's */
};

/* One leaf mapping as a walk reports it, with effective permissions. */
struct pt_leaf {
	vaddr_t va;
	paddr_t pa;
	uint64_t size;	/* 4 KiB, 2 MiB or 1 GiB */
	uint32_t flags; /* PT_WRITE / PT_EXEC / PT_USER / PT_GLOBAL / PT_NOCACHE, effective */
};

/* True if va is canonical for 48-bit virtual addresses. */
bool pt_is_canonical(vaddr_t va);

/*
 * Map [va, va + size) to [pa, pa + size) with flags.
 * => va, pa, size 4 KiB aligned, size > 0, va range canonical, not wrapping
 *    and not crossing the canonical hole; pa below 2^52.
 * => refuses PT_WRITE | PT_EXEC together (W^X is policy).
 * => uses 2 MiB / 1 GiB leaves only where the flags allow and both
 *    addresses are aligned.
 * Returns 0, -EINVAL for bad arguments, -EEXIST if any page is already
 * mapped (pages before it stay mapped), -ENOMEM if no table frame.
 */
int pt_map(struct pgtable *pt, vaddr_t va, paddr_t pa, uint64_t size, uint32_t flags);

/*
 * Look va up. Returns true and fills *leaf (va rounded down to the leaf) if
 * mapped; effective flags AND W down the levels and OR NX.
 */
bool pt_translate(struct pgtable *pt, vaddr_t va, struct pt_leaf *leaf);

/*
 * Call fn for every leaf mapping, in address order. Stops early and returns
 * fn's value if fn returns non-zero; else returns 0.
 */
int pt_walk(struct pgtable *pt, int (*fn)(const struct pt_leaf *leaf, void *arg), void *arg);

/* Kernel only (arch/x86_64/cpu.c): look va up in the live page tables. */
bool arch_translate(vaddr_t va, struct pt_leaf *leaf);
