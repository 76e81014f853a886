/*
 * The kernel's address space (include/mm/vmm.h): the API over the portable
 * page-table code, with the kernel's policy (halves, global, flags), a lock,
 * table frames from the frame allocator and the TLB work each change needs.
 *
 * TLB: the page-table code records every leaf that changed or went away.
 * Up to VMM_FLUSH_THRESHOLD of them are flushed one by one, more with one
 * full flush (docs/vmm.md has the measurements behind the threshold).
 * Table frames that became empty are freed only after that flush, since
 * paging-structure caches may still point at them until then.
 */
#include <arch/mmu.h>
#include <lib/spinlock.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/addr.h>
#include <mm/layout.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>
#include <mm/vmm_shootdown.h>
#include "vmm_internal.h"

struct pgtable vmm_kernel_pt;
struct owned_lock vmm_lock = OWNED_LOCK_INIT_NAMED("vmm_lock");

static struct pt_flush pending;		       /* TLB work of the current change */
static paddr_t tables_to_free = PADDR_INVALID; /* linked through their first word */
static struct vmm_stats stats;

/* ---- table frames ---- */

static paddr_t table_alloc(struct pgtable *pt)
{
	paddr_t pa = pmm_alloc(&pmm_kernel);

	(void)pt;
	if (pa == PADDR_INVALID)
		return pa;
	memset(phys_to_virt(pa), 0, PAGE_SIZE);
	stats.tables++;
	return pa;
}

/* Queue a table that became empty: it is freed after the TLB flush. */
static void table_free(struct pgtable *pt, paddr_t pa)
{
	(void)pt;
	*(paddr_t *)phys_to_virt(pa) = tables_to_free;
	tables_to_free = pa;
}

void vmm_tables_setup(paddr_t root)
{
	vmm_kernel_pt = (struct pgtable){
	    .root = root,
	    .table_base = addr_bases.direct_map,
	    .alloc_table = table_alloc,
	    .free_table = table_free,
	    .flush = &pending,
	    .phys_bits = arch_mmu_features()->phys_bits,
	};
}

paddr_t vmm_table_alloc(void)
{
	return table_alloc(&vmm_kernel_pt);
}

/* Flush what the last change recorded, then free the tables it emptied. */
void vmm_finish_change(void)
{
	/*
	 * User roots share the upper top-level entries: copy them first if a
	 * third-level table came or went. A freed table may still sit in the
	 * paging-structure caches of other PCIDs, which INVLPG does not reach.
	 */
	aspace_sync_kernel_half();
	if (tables_to_free != PADDR_INVALID && arch_mmu_features()->pcid)
		pending.all = true;
	if (pending.all || pending.count > VMM_FLUSH_THRESHOLD) {
		arch_tlb_flush_all();
		stats.flush_all++;
	} else {
		for (unsigned int i = 0; i < pending.count; i++)
			arch_tlb_flush_page(pending.va[i]);
		stats.flush_pages += pending.count;
	}
	/* Kernel entries may sit in any CPU's TLB: all of them drop these too. */
	vmm_shootdown(~0ull, NULL, &pending);
	pending.count = 0;
	pending.all = false;
	while (tables_to_free != PADDR_INVALID) {
		paddr_t next = *(paddr_t *)phys_to_virt(tables_to_free);
		pmm_free(&pmm_kernel, tables_to_free);
		stats.tables--;
		tables_to_free = next;
	}
}

/* ---- policy ---- */

#define MAP_FLAGS  (VMM_WRITE | VMM_EXEC | VMM_USER | VMM_WC | VMM_UC | VMM_HUGE | VMM_REPLACE)
#define PROT_FLAGS (VMM_WRITE | VMM_EXEC | VMM_USER | VMM_WC | VMM_UC)

/*
 * The page-table flags for a request, or 0 with *err set: upper-half
 * mappings are global and supervisor, lower-half ones user and not global.
 */
static uint32_t policy_flags(vaddr_t va, uint32_t flags, uint32_t allowed, int *err)
{
	bool lower = va < LAYOUT_LOWER_HALF_END;

	*err = 0;
	if ((flags & ~allowed) || lower != !!(flags & VMM_USER)) {
		*err = -EINVAL;
		return 0;
	}
	if (!arch_mmu_features()->huge_1g)
		flags &= ~PT_HUGE_1G;
	return lower ? flags : flags | PT_GLOBAL;
}

int vmm_map(vaddr_t va, paddr_t pa, uint64_t size, uint32_t flags)
{
	int err;
	uint32_t pt_flags = policy_flags(va, flags, MAP_FLAGS, &err);
	unsigned long irq;

	if (err)
		return err;
	irq = vmm_lock_take();
	err = pt_map(&vmm_kernel_pt, va, pa, size, pt_flags);
	vmm_finish_change();
	vmm_lock_drop(irq);
	return err;
}

int vmm_unmap(vaddr_t va, uint64_t size)
{
	unsigned long irq = vmm_lock_take();
	int err = pt_unmap(&vmm_kernel_pt, va, size);

	vmm_finish_change();
	vmm_lock_drop(irq);
	return err;
}

int vmm_protect(vaddr_t va, uint64_t size, uint32_t flags)
{
	int err;
	uint32_t pt_flags = policy_flags(va, flags, PROT_FLAGS, &err);
	unsigned long irq;

	if (err)
		return err;
	irq = vmm_lock_take();
	err = pt_protect(&vmm_kernel_pt, va, size, pt_flags);
	vmm_finish_change();
	vmm_lock_drop(irq);
	return err;
}

paddr_t vmm_translate(vaddr_t va)
{
	unsigned long irq = vmm_lock_take();
	paddr_t pa = pt_lookup(&vmm_kernel_pt, va);

	vmm_lock_drop(irq);
	return pa;
}

bool vmm_query(vaddr_t va, struct pt_leaf *leaf)
{
	unsigned long irq = vmm_lock_take();
	bool mapped = pt_translate(&vmm_kernel_pt, va, leaf);

	vmm_lock_drop(irq);
	return mapped;
}

int vmm_walk(int (*fn)(const struct pt_leaf *leaf, void *arg), void *arg)
{
	unsigned long irq = vmm_lock_take();
	int ret = pt_walk(&vmm_kernel_pt, fn, arg);

	vmm_lock_drop(irq);
	return ret;
}

int vmm_check(struct pt_check *c)
{
	unsigned long irq = vmm_lock_take();
	int ret = pt_check(&vmm_kernel_pt, c);

	vmm_lock_drop(irq);
	return ret;
}

void vmm_stats(struct vmm_stats *s)
{
	unsigned long irq = vmm_lock_take();

	*s = stats;
	vmm_lock_drop(irq);
}

void vmm_count_demand_fault(void)
{
	stats.demand_faults++;
}
