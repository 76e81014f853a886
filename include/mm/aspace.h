/*
 * Address spaces (mm/aspace*.c): the kernel's own, in which kernel threads
 * run, and user spaces, each with its own top-level table whose upper half
 * is the kernel's (kept in step by vmm whenever a kernel top-level entry
 * changes), and whose lower half holds regions of user memory.
 *
 * A region is [start, end) page aligned inside [LAYOUT_USER_START,
 * LAYOUT_USER_END) with PROT_* protections and a kind. Pages of a region
 * are mapped on first touch (demand-zero) or placed by the ELF loader;
 * every present user page is owned by the space, shared with others after
 * aspace_clone() (copy-on-write, counted in a frame_share table).
 *
 * Errors (nothing changed): -EINVAL unaligned, zero-length, wrapping or
 * out-of-range arguments or bad prot bits; -EPERM PROT_WRITE | PROT_EXEC;
 * -EEXIST a fixed place overlaps a region; -ENOENT (protect) part of the
 * range is in no region; -ENOMEM no frame, no table, no free place, or
 * more than ASPACE_MAX_REGIONS regions.
 *
 * Locking: one global lock serialises every space's regions and tables and
 * the share table (one CPU today); the list of live spaces and the kernel
 * half are under vmm's lock. Never call with the aspace lock held.
 */
#pragma once

#include <lib/types.h>
#include <mm/pgtable.h>
#include <mm/vmm_fault.h>

/* Regions per space; one more split beyond it fails with -ENOMEM. */
#define ASPACE_MAX_REGIONS 128

enum aspace_kind {
	ASPACE_ANON,  /* anonymous memory: demand-zero */
	ASPACE_IMAGE, /* a program segment: frames placed by the loader, the rest demand-zero */
	ASPACE_STACK, /* a stack: demand-zero, an ASPACE_GUARD region right below */
	ASPACE_GUARD, /* never mapped: a fault here is named "guard page below the stack" */
};

struct aspace_region {
	vaddr_t start, end;
	uint8_t prot; /* PROT_* */
	uint8_t kind; /* enum aspace_kind */
};

struct aspace;

/* The kernel's space (no regions, empty lower half) and the one now loaded. */
struct aspace *aspace_kernel(void);
struct aspace *aspace_current(void);

/* A new empty user space. 0 or -ENOMEM. */
int aspace_create(struct aspace **out);
/*
 * Free the space, every frame it owns (shared ones once their last owner
 * goes) and every table. If it is loaded, the kernel's space is loaded first.
 */
void aspace_destroy(struct aspace *as);
/*
 * Load as (the kernel's space for NULL). With PCIDs, a space keeps its TLB
 * entries across switches unless a change made them stale.
 */
void aspace_activate(struct aspace *as);

/*
 * Anonymous memory: len bytes (page multiple) with prot. hint 0 picks a
 * random free place in the LAYOUT_USER_MMAP window (log2 of the number of
 * page-aligned places: 34 bits for one page); a non-zero hint is the exact
 * place (-EEXIST if taken). *va gets the start.
 */
int aspace_map_anon(struct aspace *as, vaddr_t hint, uint64_t len, unsigned int prot, vaddr_t *va);
/*
 * A stack of size bytes (page multiple, at most LAYOUT_USER_STACK_EXTENT
 * minus the guard) read-write, at a random place in the LAYOUT_USER_STACK
 * window, with one guard page below. *top gets the end (initial stack pointer).
 */
int aspace_map_stack(struct aspace *as, uint64_t size, vaddr_t *top);
/* A program segment region at exactly [va, va + len) with prot (ELF loader). */
int aspace_map_image(struct aspace *as, vaddr_t va, uint64_t len, unsigned int prot);
/*
 * Place the frame pa (filled by the caller) at va inside an ASPACE_IMAGE
 * region, mapped with the region's prot. On success the space owns pa
 * (freed with the page); on error the caller still does. -EEXIST if a page
 * is there already, -ENOENT outside an image region.
 */
int aspace_place_frame(struct aspace *as, vaddr_t va, paddr_t pa);

/*
 * Tests only: map the frame pa at va in the gap between LAYOUT_USER_END and
 * the canonical hole, where no region may go, outside any region. A test
 * of the SYSRET edge needs code in the last page below 2^47; nothing else
 * may put anything there. The space owns pa from then on. -EINVAL outside
 * the gap.
 */
int aspace_map_edge_page(struct aspace *as, vaddr_t va, paddr_t pa, unsigned int prot);

/* Remove [va, va + len) from every region (holes are fine), free its frames. */
int aspace_unmap(struct aspace *as, vaddr_t va, uint64_t len);
/*
 * Give [va, va + len) the protection prot. Every page must lie in a region
 * (not a guard). Write permission is withheld from shared frames (their
 * first write copies them). PROT_NONE keeps the pages' contents but makes
 * them inaccessible from user mode (mapped supervisor-only, read-only, NX).
 */
int aspace_protect(struct aspace *as, vaddr_t va, uint64_t len, unsigned int prot);

/*
 * A copy of parent for fork: the same regions; every page shared, and
 * read-only in both until one side writes (copy-on-write). 0 or -ENOMEM
 * (then no child, and the parent is intact).
 */
int aspace_clone(struct aspace *parent, struct aspace **child);

enum aspace_fault_result {
	ASPACE_FAULT_RESOLVED, /* a page is now mapped or writable: retry the access */
	ASPACE_FAULT_REFUSED,  /* *v says what was hit: kill the process */
	ASPACE_FAULT_OOM,      /* no frame for it: kill the process (never a panic) */
};

/*
 * Decide a fault at the lower-half address addr of as: demand-zero,
 * copy-on-write, or refuse (not mapped, guard page below the stack, write
 * to read-only, exec of NX, PROT_NONE). flags: VMM_FAULT_*.
 */
enum aspace_fault_result aspace_fault(struct aspace *as, vaddr_t addr, enum vmm_access access,
				      uint32_t flags, struct vmm_fault_verdict *v);

/* The region holding addr (guards included): false if none. */
bool aspace_region_at(struct aspace *as, vaddr_t addr, struct aspace_region *r);
/* The frame va is mapped to in as, or PADDR_INVALID (tests, the loader). */
paddr_t aspace_lookup(struct aspace *as, vaddr_t va);
/* The number of regions of as. */
unsigned int aspace_region_count(struct aspace *as);

struct aspace_stats {
	uint64_t live;		  /* user spaces */
	uint64_t demand_zero;	  /* pages mapped on first touch */
	uint64_t cow_copies;	  /* shared frames copied on a write */
	uint64_t cow_reuses;	  /* writes by the last owner: made writable, no copy */
	uint64_t shared_frames;	  /* frames with more than one owner now */
	uint64_t share_bytes;	  /* the share table's memory */
	uint64_t pcid_rollovers;  /* PCID generations used up (all flushed) */
	uint64_t pcid_flush_load; /* switches that dropped the space's TLB entries */
};
void aspace_stats(struct aspace_stats *s);

/*
 * Call fn for every leaf in the lower half of every live user space (the
 * W^X audit), with the aspace lock held; stops at fn's first non-zero value.
 */
int aspace_walk_user(int (*fn)(const struct pt_leaf *leaf, void *arg), void *arg);
