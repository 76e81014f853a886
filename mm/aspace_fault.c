/*
 * Faults in user address spaces and fork's copy (include/mm/aspace.h):
 * demand-zero pages, copy-on-write, the refusals with their phrases, and
 * aspace_clone().
 *
 * Copy-on-write: aspace_clone() maps every present page of the parent into
 * the child read-only, makes it read-only in the parent too, and counts one
 * more owner of the frame. A write to such a page in a writable region
 * faults: if the frame still has other owners it is copied into a new
 * frame, else (the others let go) the page is just made writable again.
 */
#include <kernel/panic.h>
#include <lib/errno.h>
#include <lib/fmt.h>
#include <lib/string.h>
#include <mm/addr.h>
#include <mm/layout.h>
#include <mm/pmm_boot.h>
#include <uapi/syscall.h>
#include "aspace_internal.h"

static enum aspace_fault_result refuse(struct vmm_fault_verdict *v, enum fault_kind kind,
				       const char *what)
{
	v->kind = kind;
	fmt_snprintf(v->what, sizeof(v->what), "%s", what);
	return ASPACE_FAULT_REFUSED;
}

static enum aspace_fault_result out_of_memory(struct vmm_fault_verdict *v)
{
	v->kind = FAULT_OTHER;
	fmt_snprintf(v->what, sizeof(v->what), "out of memory for a user page");
	return ASPACE_FAULT_OOM;
}

/* A zeroed frame at the page of addr with the region's prot. */
static enum aspace_fault_result demand_zero(struct aspace *as, vaddr_t page, unsigned int prot,
					    struct vmm_fault_verdict *v)
{
	paddr_t pa = aspace_frame_alloc();

	if (pa == PADDR_INVALID)
		return out_of_memory(v);
	if (pt_map(&as->pt, page, pa, PAGE_SIZE, aspace_pt_flags(prot))) {
		pmm_free(&pmm_kernel, pa);
		return out_of_memory(v); /* no frame for a table */
	}
	aspace_counters.demand_zero++;
	return ASPACE_FAULT_RESOLVED;
}

/* A write to the read-only page of a writable region: copy, or reuse if last owner. */
static enum aspace_fault_result cow(struct aspace *as, const struct pt_leaf *leaf,
				    unsigned int prot, struct vmm_fault_verdict *v)
{
	uint32_t flags = aspace_pt_flags(prot);
	paddr_t pa;

	if (frame_share_count(&aspace_share, leaf->pa) == 1) {
		KASSERT(!pt_protect(&as->pt, leaf->va, PAGE_SIZE, flags));
		aspace_counters.cow_reuses++;
		return ASPACE_FAULT_RESOLVED;
	}
	pa = pmm_alloc(&pmm_kernel);
	if (pa == PADDR_INVALID)
		return out_of_memory(v);
	memcpy(phys_to_virt(pa), phys_to_virt(leaf->pa), PAGE_SIZE);
	KASSERT(!pt_map(&as->pt, leaf->va, pa, PAGE_SIZE, flags | PT_REPLACE));
	aspace_frame_put(as, leaf->pa); /* another owner remains: never freed here */
	aspace_counters.cow_copies++;
	return ASPACE_FAULT_RESOLVED;
}

/* The refusal for an access the region's prot does not allow, or 0 if allowed. */
static const char *forbidden(const struct aspace_region *r, enum vmm_access access,
			     enum fault_kind *kind)
{
	if (r->kind == ASPACE_GUARD) {
		*kind = FAULT_GUARD;
		return "access to the guard page below the user stack";
	}
	if (r->prot == PROT_NONE) {
		*kind = FAULT_PROTECTION;
		return "access to a PROT_NONE page";
	}
	if (access == VMM_ACCESS_EXEC && !(r->prot & PROT_EXEC)) {
		*kind = FAULT_NX;
		return "instruction fetch from a user NX page";
	}
	if (access == VMM_ACCESS_WRITE && !(r->prot & PROT_WRITE)) {
		*kind = FAULT_WRITE_RO;
		return "write to a read-only user page";
	}
	return NULL;
}

static enum aspace_fault_result decide(struct aspace *as, vaddr_t addr, enum vmm_access access,
				       struct vmm_fault_verdict *v)
{
	vaddr_t page = ALIGN_DOWN(addr, PAGE_SIZE);
	int i = aspace_region_find(as, addr);
	struct aspace_region r;
	enum fault_kind kind;
	struct pt_leaf leaf;
	const char *why;

	if (i < 0)
		return refuse(v, addr < FAULT_NULL_LIMIT ? FAULT_NULL : FAULT_NOT_PRESENT,
			      addr < FAULT_NULL_LIMIT ? "NULL pointer dereference"
						      : "user address not mapped");
	r = as->regions[i];
	why = forbidden(&r, access, &kind);
	if (why)
		return refuse(v, kind, why);
	if (!pt_translate(&as->pt, page, &leaf))
		return demand_zero(as, page, r.prot, v);
	if (access == VMM_ACCESS_WRITE && !(leaf.flags & PT_WRITE))
		return cow(as, &leaf, r.prot, v);
	/* The page allows the access now (a stale TLB entry): retry after the flush. */
	if (as->flush.count < PT_FLUSH_MAX)
		as->flush.va[as->flush.count++] = page;
	else
		as->flush.all = true;
	return ASPACE_FAULT_RESOLVED;
}

enum aspace_fault_result aspace_fault(struct aspace *as, vaddr_t addr, enum vmm_access access,
				      uint32_t flags, struct vmm_fault_verdict *v)
{
	enum aspace_fault_result res;
	unsigned long irq;

	KASSERT(as && as->user);
	if (addr >= LAYOUT_LOWER_HALF_END)
		return refuse(v, FAULT_NOT_PRESENT, "kernel address from a user space");
	if (flags & VMM_FAULT_RESERVED)
		return refuse(v, FAULT_RESERVED, fault_kind_name(FAULT_RESERVED));
	/* Held by this CPU means held by the code that faulted, which would deadlock. */
	if (aspace_lock_held_here())
		return refuse(v, FAULT_OTHER, "fault with the address-space lock held");
	irq = aspace_lock_take();
	res = decide(as, addr, access, v);
	aspace_finish(as);
	aspace_lock_drop(irq);
	return res;
}

/* ---- clone ---- */

struct clone_walk {
	struct aspace *parent, *child;
	int err;
};

/* Share one parent page with the child, read-only. */
static int share_leaf(const struct pt_leaf *leaf, void *arg)
{
	struct clone_walk *w = arg;
	uint32_t flags = leaf->flags & (PT_USER | PT_EXEC);

	KASSERT(leaf->size == PAGE_SIZE);
	w->err = frame_share_get(&aspace_share, leaf->pa);
	if (w->err)
		return 1;
	w->err = pt_map(&w->child->pt, leaf->va, leaf->pa, PAGE_SIZE, flags);
	if (w->err) {
		KASSERT(frame_share_put(&aspace_share, leaf->pa));
		return 1;
	}
	return 0;
}

/* Make the parent's copy of a page the child now shares read-only too. */
static int parent_readonly(const struct pt_leaf *leaf, void *arg)
{
	struct clone_walk *w = arg;

	KASSERT(!pt_protect(&w->parent->pt, leaf->va, PAGE_SIZE, leaf->flags));
	return 0;
}

int aspace_clone(struct aspace *parent, struct aspace **out)
{
	struct clone_walk w = {parent, NULL, 0};
	unsigned long irq;
	int err = aspace_create(&w.child);

	if (err)
		return err;
	irq = aspace_lock_take();
	aspace_regions_copy(w.child, parent);
	aspace_walk_lower(parent, share_leaf, &w);
	if (!w.err)
		aspace_walk_lower(w.child, parent_readonly, &w);
	aspace_finish(parent);
	aspace_finish(w.child);
	aspace_lock_drop(irq);
	if (w.err) {
		aspace_destroy(w.child); /* drops the shares it took */
		return -ENOMEM;
	}
	*out = w.child;
	return 0;
}
