/*
 * The kernel's address space (mm/vmm.c): one set of page tables, owned by
 * the kernel from early boot on, and the API to change it.
 *
 * Flags are the portable PT_* page-table flags: VMM_WRITE, VMM_EXEC (never
 * both), VMM_WC (write-combining), VMM_UC (uncached MMIO), VMM_HUGE (use
 * 2 MiB / 1 GiB pages where both addresses are aligned), VMM_REPLACE (map
 * over whatever is there). Mappings in the upper half are always global and
 * supervisor; the lower half is for user mappings (VMM_USER) only.
 *
 * Errors, with nothing changed: -EINVAL misaligned, zero-sized or
 * non-canonical range, or the wrong half for the flags; -EPERM write and
 * execute together; -ERANGE a physical address beyond the CPU's width;
 * -EEXIST something is mapped there (without VMM_REPLACE); -ENOENT (protect)
 * a page of the range is unmapped; -ENOMEM no frame for a page table.
 */
#pragma once

#include <boot/boot_info.h>
#include <lib/types.h>
#include <mm/pgtable.h>

#define VMM_WRITE   PT_WRITE
#define VMM_EXEC    PT_EXEC
#define VMM_USER    PT_USER
#define VMM_WC	    PT_WC
#define VMM_UC	    PT_UC
#define VMM_HUGE    (PT_HUGE_2M | PT_HUGE_1G)
#define VMM_REPLACE PT_REPLACE

/*
 * Take the address space over from the loader: build the kernel's own
 * tables (see mm/vmm_boot.c), load them, give the loader's table frames to
 * the frame allocator. Panics if the loader's tables fail validation.
 */
void vmm_init(const struct boot_info *bi);

int vmm_map(vaddr_t va, paddr_t pa, uint64_t size, uint32_t flags);
int vmm_unmap(vaddr_t va, uint64_t size);
int vmm_protect(vaddr_t va, uint64_t size, uint32_t flags);

/* The physical address va maps to, or PADDR_INVALID. */
paddr_t vmm_translate(vaddr_t va);
/* The leaf mapping va with its effective flags; false if unmapped. */
bool vmm_query(vaddr_t va, struct pt_leaf *leaf);

/* Pages at most this many are flushed one by one (INVLPG); more flush all. */
#define VMM_FLUSH_THRESHOLD 32

struct vmm_stats {
	uint64_t tables;	/* page-table frames in use, root included */
	uint64_t flush_pages;	/* single-page flushes done */
	uint64_t flush_all;	/* full flushes done */
	uint64_t demand_faults; /* pages mapped on first touch */
};
void vmm_stats(struct vmm_stats *s);

/* Walk every leaf of the kernel's tables (W^X audit, tests). */
int vmm_walk(int (*fn)(const struct pt_leaf *leaf, void *arg), void *arg);
/* pt_check on the kernel's tables. */
int vmm_check(struct pt_check *c);

/*
 * Demand-zero regions: [va, va + size) is reserved with flags but nothing is
 * mapped; the first touch of a page maps a zeroed frame. Regions lie in the
 * upper half, page aligned, never overlap. Up to VMM_DEMAND_MAX regions.
 * Returns 0, -EINVAL, -EEXIST (overlaps a region or a mapping), -ENOSPC.
 */
#define VMM_DEMAND_MAX 16
int vmm_demand_reserve(vaddr_t va, uint64_t size, uint32_t flags);
/* Unmap the region starting at va and free its frames. 0 or -ENOENT. */
int vmm_demand_release(vaddr_t va);
/*
 * Called by the page-fault handler for a not-present fault at addr: true if
 * addr lies in a demand region and a zeroed page is now mapped there.
 */
bool vmm_demand_fault(vaddr_t addr);

/*
 * Guard pages: ranges that must stay unmapped, with the name of what they
 * guard, so a fault there is reported as "stack overflow (boot stack)".
 */
#define VMM_GUARD_MAX 16
int vmm_guard_add(vaddr_t va, uint64_t size, const char *name);
/* The name of the guard covering addr, or NULL. */
const char *vmm_guard_find(vaddr_t addr);
