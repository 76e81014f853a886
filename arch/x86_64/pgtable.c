/*
 * x86-64 page tables as data (see include/arch/x86_64/pgtable.h).
 * Owns the PTE encoding; never touches CR3 or the TLB: callers load and
 * flush.
 */
#include <arch/x86_64/pgtable.h>
#include <lib/errno.h>

#define LEVELS 4 /* PML4, PDPT, PD, PT */

/* Bytes one entry covers at each level: index 0 is the PML4. */
static const uint64_t level_span[LEVELS] = {512 * PAGE_SIZE_1G, PAGE_SIZE_1G, PAGE_SIZE_2M,
					    PAGE_SIZE};

static unsigned int index_at(vaddr_t va, int level)
{
	return (va >> (39 - 9 * level)) & (PTE_ENTRIES - 1);
}

bool pt_is_canonical(vaddr_t va)
{
	uint64_t top = va >> 47;

	return top == 0 || top == 0x1ffff;
}

/* Sign-extend bit 47 so a walk reports canonical addresses. */
static vaddr_t canonical(vaddr_t va)
{
	return (va & (1ull << 47)) ? (va | 0xffff000000000000ull) : va;
}

/* The leaf PTE bits for mapping flags at a level (PS for huge leaves). */
static uint64_t leaf_bits(uint32_t flags, int level)
{
	uint64_t e = PTE_P;

	if (flags & PT_WRITE)
		e |= PTE_W;
	if (!(flags & PT_EXEC))
		e |= PTE_NX;
	if (flags & PT_GLOBAL)
		e |= PTE_G;
	if (flags & PT_NOCACHE)
		e |= PTE_PCD | PTE_PWT;
	if (level < LEVELS - 1)
		e |= PTE_PS;
	return e;
}

/* The deepest level whose leaf can map va -> pa with size bytes left. */
static int leaf_level(vaddr_t va, paddr_t pa, uint64_t left, uint32_t flags)
{
	if ((flags & PT_HUGE_1G) && IS_ALIGNED(va | pa, PAGE_SIZE_1G) && left >= PAGE_SIZE_1G)
		return 1;
	if ((flags & PT_HUGE_2M) && IS_ALIGNED(va | pa, PAGE_SIZE_2M) && left >= PAGE_SIZE_2M)
		return 2;
	return 3;
}

/*
 * The table that entry e (at level) points to, allocating one if e is empty.
 * Returns NULL with *err set: -EEXIST if e is a huge leaf, -ENOMEM.
 */
static uint64_t *next_table(struct pgtable *pt, uint64_t *e, int level, int *err)
{
	if (*e & PTE_P) {
		if (level > 0 && (*e & PTE_PS)) {
			*err = -EEXIST;
			return NULL;
		}
		return pt->table(pt, *e & PTE_ADDR);
	}
	paddr_t frame = pt->alloc_table(pt);
	if (frame == PADDR_INVALID) {
		*err = -ENOMEM;
		return NULL;
	}
	*e = frame | PTE_P | PTE_W;
	return pt->table(pt, frame);
}

/* Install one leaf at level for va -> pa. Returns 0, -EEXIST or -ENOMEM. */
static int map_one(struct pgtable *pt, vaddr_t va, paddr_t pa, int level, uint32_t flags)
{
	uint64_t *table = pt->table(pt, pt->root);
	int err = 0;

	for (int l = 0; l < level; l++) {
		table = next_table(pt, &table[index_at(va, l)], l, &err);
		if (!table)
			return err;
	}
	uint64_t *e = &table[index_at(va, level)];
	if (*e & PTE_P)
		return -EEXIST;
	*e = pa | leaf_bits(flags, level);
	return 0;
}

static bool map_args_ok(vaddr_t va, paddr_t pa, uint64_t size, uint32_t flags)
{
	if (!IS_ALIGNED(va | pa | size, PAGE_SIZE) || size == 0)
		return false;
	if ((flags & PT_WRITE) && (flags & PT_EXEC))
		return false;
	if (va + size - 1 < va || pa + size - 1 < pa)
		return false;
	if (!pt_is_canonical(va) || !pt_is_canonical(va + size - 1))
		return false;
	/* Both ends canonical but in different halves means it crosses the hole. */
	if ((va >> 63) != ((va + size - 1) >> 63))
		return false;
	return ((pa + size - 1) >> PT_MAX_PHYS_BITS) == 0;
}

int pt_map(struct pgtable *pt, vaddr_t va, paddr_t pa, uint64_t size, uint32_t flags)
{
	if (!map_args_ok(va, pa, size, flags))
		return -EINVAL;
	while (size) {
		int level = leaf_level(va, pa, size, flags);
		int err = map_one(pt, va, pa, level, flags);
		if (err)
			return err;
		va += level_span[level];
		pa += level_span[level];
		size -= level_span[level];
	}
	return 0;
}

/* Effective flags after one more level: W only if every level has it, X if no NX. */
static uint32_t fold_flags(uint32_t flags, uint64_t e)
{
	if (!(e & PTE_W))
		flags &= ~PT_WRITE;
	if (e & PTE_NX)
		flags &= ~PT_EXEC;
	if (!(e & PTE_U))
		flags &= ~PT_USER;
	return flags;
}

static void fill_leaf(struct pt_leaf *leaf, vaddr_t va, uint64_t e, int level, uint32_t flags)
{
	leaf->size = level_span[level];
	leaf->va = canonical(ALIGN_DOWN(va, leaf->size));
	leaf->pa = e & PTE_ADDR & ~(leaf->size - 1);
	leaf->flags = flags;
	if (e & PTE_G)
		leaf->flags |= PT_GLOBAL;
	if (e & PTE_PCD)
		leaf->flags |= PT_NOCACHE;
}

static bool is_leaf(uint64_t e, int level)
{
	return level == LEVELS - 1 || (level > 0 && (e & PTE_PS));
}

bool pt_translate(struct pgtable *pt, vaddr_t va, struct pt_leaf *leaf)
{
	uint64_t *table = pt->table(pt, pt->root);
	uint32_t flags = PT_WRITE | PT_EXEC | PT_USER;

	if (!pt_is_canonical(va))
		return false;
	for (int level = 0; level < LEVELS; level++) {
		uint64_t e = table[index_at(va, level)];
		if (!(e & PTE_P))
			return false;
		flags = fold_flags(flags, e);
		if (is_leaf(e, level)) {
			fill_leaf(leaf, va, e, level, flags);
			return true;
		}
		table = pt->table(pt, e & PTE_ADDR);
	}
	return false;
}

/* Walk one table at level covering addresses from base; see pt_walk(). */
static int walk_table(struct pgtable *pt, paddr_t frame, int level, vaddr_t base, uint32_t flags,
		      int (*fn)(const struct pt_leaf *, void *), void *arg)
{
	uint64_t *table = pt->table(pt, frame);

	for (unsigned int i = 0; i < PTE_ENTRIES; i++) {
		uint64_t e = table[i];
		if (!(e & PTE_P))
			continue;
		vaddr_t va = base + i * level_span[level];
		uint32_t f = fold_flags(flags, e);
		int ret;
		if (is_leaf(e, level)) {
			struct pt_leaf leaf;
			fill_leaf(&leaf, va, e, level, f);
			ret = fn(&leaf, arg);
		} else {
			ret = walk_table(pt, e & PTE_ADDR, level + 1, va, f, fn, arg);
		}
		if (ret)
			return ret;
	}
	return 0;
}

int pt_walk(struct pgtable *pt, int (*fn)(const struct pt_leaf *leaf, void *arg), void *arg)
{
	return walk_table(pt, pt->root, 0, 0, PT_WRITE | PT_EXEC | PT_USER, fn, arg);
}
