/*
 * The regions of a user address space (include/mm/aspace.h): argument
 * checks, the sorted region array (split, merge, random placement), and the
 * calls behind mmap, munmap and mprotect and the ELF loader's.
 *
 * Regions live in a sorted array of ASPACE_MAX_REGIONS inside the space:
 * a lookup, split or merge is a scan and a memmove of at most 3 KiB, which
 * beats a tree at this size. Every change checks first that the splits it
 * needs fit, so a refused call changes nothing.
 */
#include <kernel/panic.h>
#include <kernel/random.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/layout.h>
#include <uapi/syscall.h>
#include "aspace_internal.h"

#define PROT_ALL    (PROT_READ | PROT_WRITE | PROT_EXEC)
#define PLACE_TRIES 64

uint32_t aspace_pt_flags(unsigned int prot)
{
	if (prot == PROT_NONE)
		return 0;
	return PT_USER | ((prot & PROT_WRITE) ? PT_WRITE : 0) | ((prot & PROT_EXEC) ? PT_EXEC : 0);
}

/* [va, va + len) page aligned, non-empty, not wrapping, inside the user window. */
static int check_range(vaddr_t va, uint64_t len)
{
	if (!len || !IS_ALIGNED(va, PAGE_SIZE) || !IS_ALIGNED(len, PAGE_SIZE))
		return -EINVAL;
	if (va < LAYOUT_USER_START || va >= LAYOUT_USER_END || len > LAYOUT_USER_END - va)
		return -EINVAL;
	return 0;
}

static int check_prot(unsigned int prot)
{
	if (prot & ~PROT_ALL)
		return -EINVAL;
	if ((prot & PROT_WRITE) && (prot & PROT_EXEC))
		return -EPERM;
	return 0;
}

/* check_prot, then check_range: a region's protections and place. */
static int check_region(vaddr_t va, uint64_t len, unsigned int prot)
{
	int err = check_prot(prot);

	return err ? err : check_range(va, len);
}

/* ---- the region array ---- */

int aspace_region_find(const struct aspace *as, vaddr_t addr)
{
	for (unsigned int i = 0; i < as->nregions && as->regions[i].start <= addr; i++)
		if (addr < as->regions[i].end)
			return (int)i;
	return -1;
}

static bool overlaps(const struct aspace *as, vaddr_t start, vaddr_t end)
{
	for (unsigned int i = 0; i < as->nregions; i++)
		if (as->regions[i].start < end && start < as->regions[i].end)
			return true;
	return false;
}

static void insert_at(struct aspace *as, unsigned int i, struct aspace_region r)
{
	KASSERT(as->nregions <= ASPACE_MAX_REGIONS);
	memmove(&as->regions[i + 1], &as->regions[i], (as->nregions - i) * sizeof(r));
	as->regions[i] = r;
	as->nregions++;
}

static void remove_at(struct aspace *as, unsigned int i)
{
	memmove(&as->regions[i], &as->regions[i + 1],
		(as->nregions - i - 1) * sizeof(as->regions[0]));
	as->nregions--;
}

/* How many neighbours a new region r would merge with (0..2). */
static unsigned int joins(const struct aspace *as, struct aspace_region r)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < as->nregions; i++) {
		const struct aspace_region *o = &as->regions[i];
		if ((o->end == r.start || o->start == r.end) && o->prot == r.prot &&
		    o->kind == r.kind && r.kind != ASPACE_GUARD)
			n++;
	}
	return n;
}

/* Insert a region that overlaps none, in order. */
static void insert(struct aspace *as, struct aspace_region r)
{
	unsigned int i = 0;

	while (i < as->nregions && as->regions[i].start < r.start)
		i++;
	insert_at(as, i, r);
}

/* Join neighbours that touch and agree in prot and kind (guards stay apart). */
static void merge_all(struct aspace *as)
{
	for (unsigned int i = 0; i + 1 < as->nregions;) {
		struct aspace_region *a = &as->regions[i], *b = a + 1;
		if (a->end == b->start && a->prot == b->prot && a->kind == b->kind &&
		    a->kind != ASPACE_GUARD) {
			a->end = b->end;
			remove_at(as, i + 1);
		} else {
			i++;
		}
	}
}

/* Split the region holding addr (if any, and addr inside it) in two at addr. */
static void split_at(struct aspace *as, vaddr_t addr)
{
	int i = aspace_region_find(as, addr);
	struct aspace_region r;

	if (i < 0 || as->regions[i].start == addr)
		return;
	r = as->regions[i];
	r.start = addr;
	as->regions[i].end = addr;
	insert_at(as, (unsigned int)i + 1, r);
}

/* Splits [start, end) needs: one per edge that falls strictly inside a region. */
static unsigned int splits_needed(const struct aspace *as, vaddr_t start, vaddr_t end)
{
	int a = aspace_region_find(as, start), b = aspace_region_find(as, end);

	return (a >= 0 && as->regions[a].start != start) + (b >= 0 && as->regions[b].start != end);
}

/* Remove [start, end) from every region. */
static void carve(struct aspace *as, vaddr_t start, vaddr_t end)
{
	split_at(as, start);
	split_at(as, end);
	for (unsigned int i = 0; i < as->nregions;)
		if (as->regions[i].start >= start && as->regions[i].end <= end)
			remove_at(as, i);
		else
			i++;
}

/*
 * A random free place for len bytes in [lo, hi): PLACE_TRIES uniform draws,
 * then the first gap that fits. 0 if none.
 */
static vaddr_t place(const struct aspace *as, vaddr_t lo, vaddr_t hi, uint64_t len)
{
	uint64_t slots;
	vaddr_t va = lo;

	if (len > hi - lo)
		return 0;
	slots = (hi - lo - len) / PAGE_SIZE + 1;
	for (int t = 0; t < PLACE_TRIES; t++) {
		vaddr_t try = lo + random_below(slots) * PAGE_SIZE;
		if (!overlaps(as, try, try + len))
			return try;
	}
	for (unsigned int i = 0; i <= as->nregions; i++) {
		vaddr_t gap_end = i < as->nregions ? MIN(as->regions[i].start, hi) : hi;
		if (gap_end >= va && gap_end - va >= len)
			return va;
		if (i < as->nregions)
			va = MAX(va, as->regions[i].end);
	}
	return 0;
}

/* ---- the calls ---- */

int aspace_map_anon(struct aspace *as, vaddr_t hint, uint64_t len, unsigned int prot, vaddr_t *va)
{
	int err = check_region(hint ? hint : LAYOUT_USER_MMAP_START, len, prot);
	unsigned long irq;
	vaddr_t at = hint;

	if (err)
		return err;
	irq = aspace_lock_take();
	if (hint && overlaps(as, hint, hint + len))
		err = -EEXIST;
	else if (!hint && !(at = place(as, LAYOUT_USER_MMAP_START,
				       LAYOUT_USER_MMAP_START + LAYOUT_USER_MMAP_SIZE, len)))
		err = -ENOMEM;
	else if (as->nregions + 1 -
		     joins(as, (struct aspace_region){at, at + len, (uint8_t)prot, ASPACE_ANON}) >
		 ASPACE_MAX_REGIONS)
		err = -ENOMEM;
	if (!err) {
		insert(as, (struct aspace_region){at, at + len, (uint8_t)prot, ASPACE_ANON});
		merge_all(as);
		*va = at;
	}
	aspace_lock_drop(irq);
	return err;
}

int aspace_map_stack(struct aspace *as, uint64_t size, vaddr_t *top)
{
	unsigned long irq;
	vaddr_t base;
	int err = 0;

	if (!size || !IS_ALIGNED(size, PAGE_SIZE) || size > LAYOUT_USER_STACK_EXTENT - PAGE_SIZE)
		return -EINVAL;
	irq = aspace_lock_take();
	if (as->nregions + 2 > ASPACE_MAX_REGIONS ||
	    !(base = place(as, LAYOUT_USER_STACK_START,
			   LAYOUT_USER_STACK_START + LAYOUT_USER_STACK_SIZE, size + PAGE_SIZE)))
		err = -ENOMEM;
	if (!err) {
		insert(as, (struct aspace_region){base, base + PAGE_SIZE, PROT_NONE, ASPACE_GUARD});
		insert(as, (struct aspace_region){base + PAGE_SIZE, base + PAGE_SIZE + size,
						  PROT_READ | PROT_WRITE, ASPACE_STACK});
		*top = base + PAGE_SIZE + size;
	}
	aspace_lock_drop(irq);
	return err;
}

int aspace_map_image(struct aspace *as, vaddr_t va, uint64_t len, unsigned int prot)
{
	int err = check_region(va, len, prot);
	unsigned long irq;

	if (err)
		return err;
	irq = aspace_lock_take();
	if (as->nregions >= ASPACE_MAX_REGIONS)
		err = -ENOMEM;
	else if (overlaps(as, va, va + len))
		err = -EEXIST;
	else
		insert(as, (struct aspace_region){va, va + len, (uint8_t)prot, ASPACE_IMAGE});
	aspace_lock_drop(irq);
	return err;
}

int aspace_place_frame(struct aspace *as, vaddr_t va, paddr_t pa)
{
	int err = check_range(va, PAGE_SIZE), i;
	unsigned long irq;

	if (err || !IS_ALIGNED(pa, PAGE_SIZE))
		return -EINVAL;
	irq = aspace_lock_take();
	i = aspace_region_find(as, va);
	if (i < 0 || as->regions[i].kind != ASPACE_IMAGE)
		err = -ENOENT;
	else
		err = pt_map(&as->pt, va, pa, PAGE_SIZE, aspace_pt_flags(as->regions[i].prot));
	aspace_finish(as);
	aspace_lock_drop(irq);
	return err;
}

int aspace_map_edge_page(struct aspace *as, vaddr_t va, paddr_t pa, unsigned int prot)
{
	unsigned long irq;
	int err;

	if (va < LAYOUT_USER_END || va >= LAYOUT_LOWER_HALF_END || !IS_ALIGNED(va, PAGE_SIZE) ||
	    !IS_ALIGNED(pa, PAGE_SIZE))
		return -EINVAL;
	irq = aspace_lock_take();
	err = pt_map(&as->pt, va, pa, PAGE_SIZE, aspace_pt_flags(prot));
	aspace_finish(as);
	aspace_lock_drop(irq);
	return err;
}

struct range_walk {
	struct aspace *as;
	vaddr_t start, end;
	uint32_t flags; /* protect: the new leaf flags */
};

static int unmap_leaf(const struct pt_leaf *leaf, void *arg)
{
	struct range_walk *w = arg;

	if (leaf->va >= w->start && leaf->va < w->end)
		aspace_frame_put(w->as, leaf->pa);
	return 0;
}

int aspace_unmap(struct aspace *as, vaddr_t va, uint64_t len)
{
	struct range_walk w = {as, va, va + len, 0};
	int err = check_range(va, len);
	unsigned long irq;

	if (err)
		return err;
	irq = aspace_lock_take();
	if (as->nregions + splits_needed(as, va, va + len) > ASPACE_MAX_REGIONS) {
		err = -ENOMEM;
	} else {
		carve(as, va, va + len);
		aspace_walk_lower(as, unmap_leaf, &w);
		err = pt_unmap(&as->pt, va, len); /* 4 KiB leaves only: nothing to split */
		KASSERT(!err);
	}
	aspace_finish(as);
	aspace_lock_drop(irq);
	return err;
}

/* Shared frames stay read-only: their first write copies them. */
static int protect_leaf(const struct pt_leaf *leaf, void *arg)
{
	struct range_walk *w = arg;
	uint32_t flags = w->flags;

	if (leaf->va < w->start || leaf->va >= w->end)
		return 0;
	if ((flags & PT_WRITE) && frame_share_count(&aspace_share, leaf->pa) > 1)
		flags &= ~PT_WRITE;
	/* Only this leaf's entry changes (4 KiB, no split): safe inside the walk. */
	KASSERT(!pt_protect(&w->as->pt, leaf->va, PAGE_SIZE, flags));
	return 0;
}

/* Every page of [start, end) lies in a region other than a guard. */
static bool covered(const struct aspace *as, vaddr_t start, vaddr_t end)
{
	for (vaddr_t at = start; at < end;) {
		int i = aspace_region_find(as, at);
		if (i < 0 || as->regions[i].kind == ASPACE_GUARD)
			return false;
		at = as->regions[i].end;
	}
	return true;
}

int aspace_protect(struct aspace *as, vaddr_t va, uint64_t len, unsigned int prot)
{
	struct range_walk w = {as, va, va + len, aspace_pt_flags(prot)};
	int err = check_region(va, len, prot);
	unsigned long irq;

	if (err)
		return err;
	irq = aspace_lock_take();
	if (!covered(as, va, va + len)) {
		err = -ENOENT;
	} else if (as->nregions + splits_needed(as, va, va + len) > ASPACE_MAX_REGIONS) {
		err = -ENOMEM;
	} else {
		split_at(as, va);
		split_at(as, va + len);
		for (unsigned int i = 0; i < as->nregions; i++)
			if (as->regions[i].start >= va && as->regions[i].end <= va + len)
				as->regions[i].prot = (uint8_t)prot;
		merge_all(as);
		aspace_walk_lower(as, protect_leaf, &w);
	}
	aspace_finish(as);
	aspace_lock_drop(irq);
	return err;
}

void aspace_regions_copy(struct aspace *child, const struct aspace *parent)
{
	memcpy(child->regions, parent->regions, parent->nregions * sizeof(parent->regions[0]));
	child->nregions = parent->nregions;
}

bool aspace_region_at(struct aspace *as, vaddr_t addr, struct aspace_region *r)
{
	unsigned long irq = aspace_lock_take();
	int i = aspace_region_find(as, addr);

	if (i >= 0)
		*r = as->regions[i];
	aspace_lock_drop(irq);
	return i >= 0;
}

unsigned int aspace_region_count(struct aspace *as)
{
	return as->nregions;
}

paddr_t aspace_lookup(struct aspace *as, vaddr_t va)
{
	unsigned long irq = aspace_lock_take();
	paddr_t pa = va < LAYOUT_LOWER_HALF_END ? pt_lookup(&as->pt, va) : PADDR_INVALID;

	aspace_lock_drop(irq);
	return pa;
}
