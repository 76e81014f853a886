/*
 * Demand-zero regions and guard pages of the kernel's address space
 * (include/mm/vmm.h). A demand region is reserved address space whose pages
 * get a zeroed frame on first touch, from the page-fault handler. A guard is
 * a range that stays unmapped and has a name, so a fault there can say
 * whose stack overflowed.
 */
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/addr.h>
#include <mm/layout.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>

#include "vmm_internal.h"

struct range {
	vaddr_t va;
	uint64_t size; /* 0: free slot */
	uint32_t flags;
	const char *name;
};

static struct range demand[VMM_DEMAND_MAX]; /* under vmm_lock */
static struct range guards[VMM_GUARD_MAX];  /* added at boot, read by fault handlers */

static bool overlaps(const struct range *r, vaddr_t va, uint64_t size)
{
	return r->size && va < r->va + r->size && r->va < va + size;
}

static bool range_ok(vaddr_t va, uint64_t size)
{
	return IS_ALIGNED(va | size, PAGE_SIZE) && size && va >= LAYOUT_DIRECT_MAP_START &&
	       va + size - 1 >= va;
}

static struct range *find(struct range *set, size_t n, vaddr_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (overlaps(&set[i], addr, 1))
			return &set[i];
	return NULL;
}

int vmm_demand_reserve(vaddr_t va, uint64_t size, uint32_t flags)
{
	struct range *slot = NULL;
	unsigned long irq;
	int err = 0;

	if (!range_ok(va, size) || (flags & ~(VMM_WRITE | VMM_EXEC)))
		return -EINVAL;
	if ((flags & VMM_WRITE) && (flags & VMM_EXEC))
		return -EPERM;
	irq = vmm_lock_take();
	for (size_t i = 0; i < VMM_DEMAND_MAX; i++) {
		if (overlaps(&demand[i], va, size))
			err = -EEXIST;
		else if (!demand[i].size && !slot)
			slot = &demand[i];
	}
	if (!err && !slot)
		err = -ENOSPC;
	if (!err)
		*slot = (struct range){va, size, flags | PT_GLOBAL, "demand"};
	vmm_lock_drop(irq);
	return err;
}

/*
 * Unmap up to PT_FLUSH_MAX mapped pages of r from *va on, flush, then free
 * their frames (only after the flush: the TLB may still reach them).
 */
static void release_batch(struct range *r, vaddr_t *va)
{
	paddr_t frames[PT_FLUSH_MAX];
	unsigned int n = 0;

	for (; *va < r->va + r->size && n < PT_FLUSH_MAX; *va += PAGE_SIZE) {
		paddr_t pa = pt_lookup(&vmm_kernel_pt, *va);
		if (pa == PADDR_INVALID)
			continue;
		pt_unmap(&vmm_kernel_pt, *va, PAGE_SIZE); /* a 4 KiB leaf: cannot fail */
		frames[n++] = pa;
	}
	vmm_finish_change();
	for (unsigned int i = 0; i < n; i++)
		pmm_free(&pmm_kernel, frames[i]);
}

int vmm_demand_release(vaddr_t va)
{
	unsigned long irq = vmm_lock_take();
	struct range *r = find(demand, VMM_DEMAND_MAX, va);
	int err = -ENOENT;

	if (r && r->va == va) {
		for (vaddr_t at = r->va; at < r->va + r->size;)
			release_batch(r, &at);
		r->size = 0;
		err = 0;
	}
	vmm_lock_drop(irq);
	return err;
}

bool vmm_demand_fault(vaddr_t addr)
{
	vaddr_t page = ALIGN_DOWN(addr, PAGE_SIZE);
	struct range *r;
	paddr_t frame;
	bool mapped = false;

	/* A fault inside vmm code itself would deadlock: leave it to the report. */
	if (vmm_lock_held_here())
		return false;
	unsigned long irq = vmm_lock_take();
	r = find(demand, VMM_DEMAND_MAX, addr);
	frame = r ? pmm_alloc(&pmm_kernel) : PADDR_INVALID;
	if (frame != PADDR_INVALID) {
		memset(phys_to_virt(frame), 0, PAGE_SIZE);
		mapped = pt_map(&vmm_kernel_pt, page, frame, PAGE_SIZE, r->flags) == 0;
		vmm_finish_change();
		if (!mapped)
			pmm_free(&pmm_kernel, frame);
		else
			vmm_count_demand_fault();
	}
	vmm_lock_drop(irq);
	return mapped;
}

int vmm_guard_add(vaddr_t va, uint64_t size, const char *name)
{
	if (!range_ok(va, size))
		return -EINVAL;
	for (size_t i = 0; i < VMM_GUARD_MAX; i++) {
		if (!guards[i].size) {
			guards[i] = (struct range){va, size, 0, name};
			return 0;
		}
	}
	return -ENOSPC;
}

const char *vmm_guard_find(vaddr_t addr)
{
	struct range *g = find(guards, VMM_GUARD_MAX, addr);

	return g ? g->name : NULL;
}
