/*
 * Page tables as data (include/mm/pgtable.h) in the x86-64 encoding
 * (include/arch/x86_64/pgtable.h): turns PT_* flags into entry bits and
 * back. Never touches CR3 or the TLB: callers load and flush, guided by
 * what pt->flush records.
 *
 * Range operations work on 48-bit addresses (bits 63..48 dropped, so the
 * upper half is one contiguous range above 2^47) and turn them back into
 * canonical ones only when reporting.
 */
#include <arch/x86_64/pgtable.h>
#include <lib/errno.h>
#include <mm/pgtable.h>

#define LEVELS	 4 /* PML4, PDPT, PD, PT */
#define VA_BITS	 48
#define VA_MASK	 ((1ull << VA_BITS) - 1)
#define ENTRY_HW (~PTE_COUNT_MASK) /* the bits the CPU reads */

/* Bytes one entry covers at each level: index 0 is the PML4. */
static const uint64_t level_span[LEVELS] = {512 * PAGE_SIZE_1G, PAGE_SIZE_1G, PAGE_SIZE_2M,
					    PAGE_SIZE};

static inline unsigned int index_at(vaddr_t va, int level)
{
	return (va >> (39 - 9 * level)) & (PTE_ENTRIES - 1);
}

static inline uint64_t *table_at(const struct pgtable *pt, paddr_t pa)
{
	return (uint64_t *)(pt->table_base + pa);
}

static inline bool is_leaf(uint64_t e, int level)
{
	return level == LEVELS - 1 || (level > 0 && (e & PTE_PS));
}

bool pt_is_canonical(vaddr_t va)
{
	uint64_t top = va >> 47;

	return top == 0 || top == 0x1ffff;
}

/* Sign-extend bit 47 so reports carry canonical addresses. */
static vaddr_t canonical(vaddr_t va)
{
	return (va & (1ull << 47)) ? (va | ~VA_MASK) : va;
}

/* ---- present-entry counts, kept in ignored bits of entries 0 and 1 ---- */

static unsigned int count_get(const uint64_t *t)
{
	return ((t[0] >> PTE_COUNT_SHIFT) & 0x7f) | (((t[1] >> PTE_COUNT_SHIFT) & 0x7f) << 7);
}

static void count_set(uint64_t *t, unsigned int n)
{
	t[0] = (t[0] & ENTRY_HW) | ((uint64_t)(n & 0x7f) << PTE_COUNT_SHIFT);
	t[1] = (t[1] & ENTRY_HW) | ((uint64_t)(n >> 7) << PTE_COUNT_SHIFT);
}

/* Entry i's hardware bits. */
static inline uint64_t entry_get(const uint64_t *t, unsigned int i)
{
	return t[i] & ENTRY_HW;
}

/* Overwrite entry i's hardware bits, keeping the count bits it may carry. */
static inline void entry_put(uint64_t *t, unsigned int i, uint64_t v)
{
	t[i] = (t[i] & PTE_COUNT_MASK) | v;
}

/*
 * Add delta to the count. The low 7 bits sit in entry 0: adding there and
 * carrying into entry 1 touches entry 1 only when the low part wraps.
 */
static void count_add(uint64_t *t, int delta)
{
	unsigned int low = ((t[0] >> PTE_COUNT_SHIFT) & 0x7f) + delta;

	if (low > 0x7f) {
		count_set(t, count_get(t) + delta);
		return;
	}
	t[0] = (t[0] & ENTRY_HW) | ((uint64_t)low << PTE_COUNT_SHIFT);
}

static void entry_add(uint64_t *t, unsigned int i, uint64_t v)
{
	entry_put(t, i, v);
	count_add(t, 1);
}

static void entry_remove(uint64_t *t, unsigned int i)
{
	entry_put(t, i, 0);
	count_add(t, -1);
}

/* ---- encoding ---- */

static uint64_t leaf_bits(uint32_t flags, int level)
{
	uint64_t e = PTE_P;

	if (flags & PT_WRITE)
		e |= PTE_W;
	if (!(flags & PT_EXEC))
		e |= PTE_NX;
	if (flags & PT_GLOBAL)
		e |= PTE_G;
	if (flags & PT_USER)
		e |= PTE_U;
	if (flags & PT_UC)
		e |= PTE_PCD | PTE_PWT;
	else if (flags & PT_WC)
		e |= PTE_PWT;
	if (level < LEVELS - 1)
		e |= PTE_PS;
	return e;
}

/* An entry pointing at a table: everything allowed, the leaves decide. */
static uint64_t table_bits(paddr_t frame, bool user)
{
	return frame | PTE_P | PTE_W | (user ? PTE_U : 0);
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

/* ---- TLB bookkeeping ---- */

static void flush_note(struct pgtable *pt, vaddr_t va48)
{
	struct pt_flush *f = pt->flush;

	if (!f)
		return;
	if (f->count < PT_FLUSH_MAX)
		f->va[f->count++] = canonical(va48);
	else
		f->all = true;
}

static void flush_everything(struct pgtable *pt)
{
	if (pt->flush)
		pt->flush->all = true;
}

/* ---- splitting and freeing ---- */

/*
 * Replace the huge leaf at t[i] (level, mapping va48) by a table of 512
 * leaves one level down with the same translation and flags.
 */
static int split_leaf(struct pgtable *pt, uint64_t *t, unsigned int i, int level, vaddr_t va48)
{
	uint64_t e = entry_get(t, i), step = level_span[level + 1];
	paddr_t pa = e & PTE_ADDR & ~(level_span[level] - 1);
	uint64_t bits = (e & ~PTE_ADDR & ~PTE_PS) | (level + 1 < LEVELS - 1 ? PTE_PS : 0);
	paddr_t frame = pt->alloc_table(pt);

	if (frame == PADDR_INVALID)
		return -ENOMEM;
	uint64_t *child = table_at(pt, frame);
	for (unsigned int j = 0; j < PTE_ENTRIES; j++)
		child[j] = (pa + j * step) | bits;
	count_set(child, PTE_ENTRIES);
	entry_put(t, i, table_bits(frame, e & PTE_U));
	flush_note(pt, va48); /* the page size changed: drop the huge TLB entry */
	return 0;
}

/* Free the table at frame (level) and every table below it. */
static void free_tree(struct pgtable *pt, paddr_t frame, int level)
{
	uint64_t *t = table_at(pt, frame);

	for (unsigned int i = 0; i < PTE_ENTRIES; i++) {
		uint64_t e = t[i];
		if ((e & PTE_P) && !is_leaf(e, level))
			free_tree(pt, e & PTE_ADDR, level + 1);
	}
	if (pt->free_table)
		pt->free_table(pt, frame);
}

/* Split huge leaves until a leaf boundary falls at va48. */
static int split_at(struct pgtable *pt, vaddr_t va48)
{
	uint64_t *t = table_at(pt, pt->root);

	if (IS_ALIGNED(va48, PAGE_SIZE_1G))
		return 0; /* a boundary at every level below the root */
	for (int l = 0; l < LEVELS - 1; l++) {
		unsigned int i = index_at(va48, l);
		uint64_t e = t[i];
		if (!(e & PTE_P))
			return 0;
		if (is_leaf(e, l)) {
			if (IS_ALIGNED(va48, level_span[l]))
				return 0;
			int err = split_leaf(pt, t, i, l, ALIGN_DOWN(va48, level_span[l]));
			if (err)
				return err;
		}
		t = table_at(pt, t[i] & PTE_ADDR);
	}
	return 0;
}

/*
 * Free the tables on a walked path that hold no entry, deepest first:
 * path[l] is the table at level l on va48's path, for 0 <= l <= depth.
 * Each freed table is noted for a flush (paging-structure caches may hold
 * the entry that pointed at it). Without free_table, empty tables stay.
 */
static void free_empty_path(struct pgtable *pt, uint64_t *const *path, int depth, vaddr_t va48)
{
	for (int l = depth; l > 0 && pt->free_table; l--) {
		uint64_t *parent = path[l - 1];
		unsigned int i = index_at(va48, l - 1);
		paddr_t frame = parent[i] & PTE_ADDR;
		if (!(parent[i] & PTE_P) || count_get(table_at(pt, frame)) != 0)
			return;
		entry_remove(parent, i);
		pt->free_table(pt, frame);
		flush_note(pt, ALIGN_DOWN(va48, level_span[l - 1]));
	}
}

/* The tables on va48's path left empty after a map ran out of frames half-way down. */
static void prune_path(struct pgtable *pt, vaddr_t va48)
{
	uint64_t *path[LEVELS];
	uint64_t *t = table_at(pt, pt->root);
	int depth = 0;

	for (; depth < LEVELS - 1; depth++) {
		uint64_t e = t[index_at(va48, depth)];
		path[depth] = t;
		if (!(e & PTE_P) || is_leaf(e, depth))
			break;
		t = table_at(pt, e & PTE_ADDR);
		path[depth + 1] = t;
	}
	free_empty_path(pt, path, depth, va48);
}

/* ---- map ---- */

static int map_args(const struct pgtable *pt, vaddr_t va, paddr_t pa, uint64_t size, uint32_t flags)
{
	unsigned int bits = pt->phys_bits ? pt->phys_bits : PT_MAX_PHYS_BITS;

	if (!IS_ALIGNED(va | pa | size, PAGE_SIZE) || size == 0)
		return -EINVAL;
	if (va + size - 1 < va || pa + size - 1 < pa)
		return -EINVAL;
	if (!pt_is_canonical(va) || !pt_is_canonical(va + size - 1))
		return -EINVAL;
	/* Both ends canonical but in different halves means it crosses the hole. */
	if ((va >> 63) != ((va + size - 1) >> 63))
		return -EINVAL;
	if ((flags & PT_WRITE) && (flags & PT_EXEC))
		return -EPERM;
	if (bits > PT_MAX_PHYS_BITS || ((pa + size - 1) >> bits) != 0)
		return -ERANGE;
	return 0;
}

/*
 * The table at level on va's path, creating the tables above it. A huge leaf
 * on the way is split when replacing, else it is -EEXIST.
 */
static uint64_t *table_for(struct pgtable *pt, vaddr_t va, int level, uint32_t flags, int *err)
{
	uint64_t *t = table_at(pt, pt->root);

	for (int l = 0; l < level; l++) {
		unsigned int i = index_at(va, l);
		uint64_t e = t[i];
		if (!(e & PTE_P)) {
			paddr_t frame = pt->alloc_table(pt);
			if (frame == PADDR_INVALID) {
				*err = -ENOMEM;
				return NULL;
			}
			entry_add(t, i, table_bits(frame, flags & PT_USER));
		} else if (is_leaf(e, l)) {
			if (!(flags & PT_REPLACE)) {
				*err = -EEXIST;
				return NULL;
			}
			*err = split_leaf(pt, t, i, l, ALIGN_DOWN(va & VA_MASK, level_span[l]));
			if (*err)
				return NULL;
		}
		if ((flags & PT_USER) && !(t[i] & PTE_U))
			entry_put(t, i, entry_get(t, i) | PTE_U); /* user leaves need U above */
		t = table_at(pt, t[i] & PTE_ADDR);
	}
	return t;
}

/* Install one leaf at level for va -> pa. */
static int map_one(struct pgtable *pt, vaddr_t va, paddr_t pa, int level, uint32_t flags)
{
	int err = 0;
	uint64_t *t = table_for(pt, va, level, flags, &err);

	if (!t)
		return err;
	unsigned int i = index_at(va, level);
	uint64_t old = t[i], v = pa | leaf_bits(flags, level);
	if (!(old & PTE_P)) {
		entry_add(t, i, v);
		return 0;
	}
	if (!(flags & PT_REPLACE))
		return -EEXIST;
	if (!is_leaf(old, level)) {
		free_tree(pt, old & PTE_ADDR, level + 1); /* a huge leaf replaces a table */
		flush_everything(pt);
	} else if ((old & ENTRY_HW) != v) {
		flush_note(pt, va & VA_MASK);
	}
	entry_put(t, i, v);
	return 0;
}

static void unmap_range(struct pgtable *pt, vaddr_t va48, vaddr_t end48);

int pt_map(struct pgtable *pt, vaddr_t va, paddr_t pa, uint64_t size, uint32_t flags)
{
	int err = map_args(pt, va, pa, size, flags);
	vaddr_t start = va;

	if (err)
		return err;
	while (size) {
		int level = leaf_level(va, pa, size, flags);
		err = map_one(pt, va, pa, level, flags);
		if (err)
			break;
		va += level_span[level];
		pa += level_span[level];
		size -= level_span[level];
	}
	if (err == -ENOMEM)
		prune_path(pt, va & VA_MASK);
	if (err && !(flags & PT_REPLACE) && va != start)
		unmap_range(pt, start & VA_MASK, va & VA_MASK); /* all ours: no split needed */
	return err;
}

/* ---- unmap and protect ---- */

static bool range_args_ok(vaddr_t va, uint64_t size)
{
	if (!IS_ALIGNED(va | size, PAGE_SIZE) || size == 0 || va + size - 1 < va)
		return false;
	if (!pt_is_canonical(va) || !pt_is_canonical(va + size - 1))
		return false;
	return (va >> 63) == ((va + size - 1) >> 63);
}

/*
 * Clear the leaves of table t (level, covering from base48) inside
 * [va48, end48), which holds no partly covered huge leaf. Tables left empty
 * are freed.
 */
static void unmap_table(struct pgtable *pt, uint64_t *t, int level, vaddr_t base48, vaddr_t va48,
			vaddr_t end48)
{
	uint64_t span = level_span[level];
	unsigned int last = index_at(end48 - 1, level);

	for (unsigned int i = index_at(va48, level); i <= last; i++) {
		uint64_t e = t[i];
		vaddr_t lo = base48 + i * span;
		if (!(e & PTE_P))
			continue;
		if (is_leaf(e, level)) {
			entry_remove(t, i);
			flush_note(pt, lo);
			continue;
		}
		uint64_t *child = table_at(pt, e & PTE_ADDR);
		unmap_table(pt, child, level + 1, lo, MAX(va48, lo), MIN(end48, lo + span));
		if (count_get(child) == 0 && pt->free_table) {
			entry_remove(t, i);
			pt->free_table(pt, e & PTE_ADDR);
			flush_note(pt, lo); /* paging-structure caches may hold it */
		}
	}
}

static void unmap_range(struct pgtable *pt, vaddr_t va48, vaddr_t end48)
{
	unmap_table(pt, table_at(pt, pt->root), 0, 0, va48, end48);
}

/* Split at both ends of [va48, end48) so no huge leaf is partly inside. */
static int split_edges(struct pgtable *pt, vaddr_t va48, vaddr_t end48)
{
	int err = split_at(pt, va48);

	if (!err && !(end48 >> VA_BITS))
		err = split_at(pt, end48);
	return err;
}

/*
 * The common case, one walk instead of three: [va48, end48) lies inside one
 * 2 MiB region. Clears the leaves in its page table, writes the count once
 * and frees emptied tables back up the path. Returns false, having done
 * nothing, when a huge leaf is on the path (the general code splits it).
 */
static bool unmap_in_pt(struct pgtable *pt, vaddr_t va48, vaddr_t end48)
{
	uint64_t *path[LEVELS];
	uint64_t *t = table_at(pt, pt->root);

	for (int l = 0; l < LEVELS - 1; l++) {
		uint64_t e = t[index_at(va48, l)];
		path[l] = t;
		if (!(e & PTE_P))
			return true; /* nothing mapped there */
		if (is_leaf(e, l))
			return false;
		t = table_at(pt, e & PTE_ADDR);
	}
	path[LEVELS - 1] = t;
	unsigned int n = count_get(t), removed = 0;
	unsigned int last = index_at(end48 - 1, LEVELS - 1);
	for (unsigned int i = index_at(va48, LEVELS - 1); i <= last; i++) {
		if (!(t[i] & PTE_P))
			continue;
		entry_put(t, i, 0);
		removed++;
		flush_note(pt, (va48 & ~(PAGE_SIZE_2M - 1)) + (uint64_t)i * PAGE_SIZE);
	}
	if (!removed)
		return true;
	count_set(t, n - removed);
	if (n == removed)
		free_empty_path(pt, path, LEVELS - 1, va48);
	return true;
}

int pt_unmap(struct pgtable *pt, vaddr_t va, uint64_t size)
{
	vaddr_t va48 = va & VA_MASK;
	int err;

	if (!range_args_ok(va, size))
		return -EINVAL;
	if (size <= PAGE_SIZE_2M && (va48 >> 21) == ((va48 + size - 1) >> 21) &&
	    unmap_in_pt(pt, va48, va48 + size))
		return 0;
	err = split_edges(pt, va48, va48 + size);
	if (!err)
		unmap_range(pt, va48, va48 + size);
	return err;
}

/* True if every page of [va48, end48) under table t (level, from base48) is mapped. */
static bool range_mapped(const struct pgtable *pt, const uint64_t *t, int level, vaddr_t base48,
			 vaddr_t va48, vaddr_t end48)
{
	uint64_t span = level_span[level];
	unsigned int last = index_at(end48 - 1, level);

	for (unsigned int i = index_at(va48, level); i <= last; i++) {
		uint64_t e = t[i];
		vaddr_t lo = base48 + i * span;
		if (!(e & PTE_P))
			return false;
		if (!is_leaf(e, level) && !range_mapped(pt, table_at(pt, e & PTE_ADDR), level + 1,
							lo, MAX(va48, lo), MIN(end48, lo + span)))
			return false;
	}
	return true;
}

/* Give the leaves of t inside [va48, end48) the bits of flags. */
static void protect_table(struct pgtable *pt, uint64_t *t, int level, vaddr_t base48, vaddr_t va48,
			  vaddr_t end48, uint32_t flags)
{
	uint64_t span = level_span[level];
	unsigned int last = index_at(end48 - 1, level);

	for (unsigned int i = index_at(va48, level); i <= last; i++) {
		uint64_t e = entry_get(t, i);
		vaddr_t lo = base48 + i * span;
		if (!is_leaf(e, level)) {
			if ((flags & PT_USER) && !(e & PTE_U))
				entry_put(t, i, e | PTE_U);
			protect_table(pt, table_at(pt, e & PTE_ADDR), level + 1, lo, MAX(va48, lo),
				      MIN(end48, lo + span), flags);
			continue;
		}
		uint64_t v = (e & PTE_ADDR) | leaf_bits(flags, level);
		if (v != e) {
			entry_put(t, i, v);
			flush_note(pt, lo);
		}
	}
}

int pt_protect(struct pgtable *pt, vaddr_t va, uint64_t size, uint32_t flags)
{
	vaddr_t va48 = va & VA_MASK, end48 = va48 + size;
	uint64_t *root = table_at(pt, pt->root);
	int err;

	if (!range_args_ok(va, size))
		return -EINVAL;
	if ((flags & PT_WRITE) && (flags & PT_EXEC))
		return -EPERM;
	if (!range_mapped(pt, root, 0, 0, va48, end48))
		return -ENOENT;
	err = split_edges(pt, va48, end48);
	if (!err)
		protect_table(pt, root, 0, 0, va48, end48, flags);
	return err;
}

/* ---- lookups and walks ---- */

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

static void fill_leaf(struct pt_leaf *leaf, vaddr_t va48, uint64_t e, int level, uint32_t flags)
{
	leaf->size = level_span[level];
	leaf->va = canonical(ALIGN_DOWN(va48, leaf->size));
	leaf->pa = e & PTE_ADDR & ~(leaf->size - 1);
	leaf->flags = flags;
	if (e & PTE_G)
		leaf->flags |= PT_GLOBAL;
	if (e & PTE_PCD)
		leaf->flags |= PT_UC;
	else if (e & PTE_PWT)
		leaf->flags |= PT_WC;
}

bool pt_translate(const struct pgtable *pt, vaddr_t va, struct pt_leaf *leaf)
{
	const uint64_t *t = table_at(pt, pt->root);
	uint64_t all = ~0ull, any = 0; /* AND and OR of the entries on the path */

	if (!pt_is_canonical(va))
		return false;
	for (int level = 0; level < LEVELS; level++) {
		uint64_t e = t[index_at(va, level)];
		if (!(e & PTE_P))
			return false;
		all &= e;
		any |= e;
		if (is_leaf(e, level)) {
			uint32_t flags = (all & PTE_W ? PT_WRITE : 0) |
					 (any & PTE_NX ? 0 : PT_EXEC) | (all & PTE_U ? PT_USER : 0);
			fill_leaf(leaf, va & VA_MASK, e, level, flags);
			return true;
		}
		t = table_at(pt, e & PTE_ADDR);
	}
	return false;
}

/*
 * The walk of pt_translate without the flags. Out of line since generic
 * code must not see entry bits; docs/bench.md has what the call costs.
 */
paddr_t pt_lookup(const struct pgtable *pt, vaddr_t va)
{
	const uint64_t *t = table_at(pt, pt->root);

	if (!pt_is_canonical(va))
		return PADDR_INVALID;
	for (int shift = 39;; shift -= 9) {
		uint64_t e = t[(va >> shift) & (PTE_ENTRIES - 1)];
		if (!(e & PTE_P))
			return PADDR_INVALID;
		if (shift == 12 || (shift < 39 && (e & PTE_PS))) {
			uint64_t offset = (1ull << shift) - 1;
			return (e & PTE_ADDR & ~offset) | (va & offset);
		}
		t = table_at(pt, e & PTE_ADDR);
	}
}

/* Walk one table at level covering addresses from base48; see pt_walk(). */
static int walk_table(const struct pgtable *pt, paddr_t frame, int level, vaddr_t base48,
		      uint32_t flags, int (*fn)(const struct pt_leaf *, void *), void *arg)
{
	const uint64_t *table = table_at(pt, frame);

	for (unsigned int i = 0; i < PTE_ENTRIES; i++) {
		uint64_t e = table[i];
		if (!(e & PTE_P))
			continue;
		vaddr_t va48 = base48 + i * level_span[level];
		uint32_t f = fold_flags(flags, e);
		int ret;
		if (is_leaf(e, level)) {
			struct pt_leaf leaf;
			fill_leaf(&leaf, va48, e, level, f);
			ret = fn(&leaf, arg);
		} else {
			ret = walk_table(pt, e & PTE_ADDR, level + 1, va48, f, fn, arg);
		}
		if (ret)
			return ret;
	}
	return 0;
}

int pt_walk(const struct pgtable *pt, int (*fn)(const struct pt_leaf *leaf, void *arg), void *arg)
{
	return walk_table(pt, pt->root, 0, 0, PT_WRITE | PT_EXEC | PT_USER, fn, arg);
}

static void walk_tables(const struct pgtable *pt, paddr_t frame, int level,
			void (*fn)(paddr_t, void *), void *arg)
{
	const uint64_t *t = table_at(pt, frame);

	for (unsigned int i = 0; i < PTE_ENTRIES; i++)
		if ((t[i] & PTE_P) && !is_leaf(t[i], level))
			walk_tables(pt, t[i] & PTE_ADDR, level + 1, fn, arg);
	fn(frame, arg);
}

void pt_walk_tables(const struct pgtable *pt, void (*fn)(paddr_t table, void *arg), void *arg)
{
	walk_tables(pt, pt->root, 0, fn, arg);
}

/* ---- invariants ---- */

static void check_fail(struct pt_check *c, const char *problem, vaddr_t va48)
{
	if (!c->problem) {
		c->problem = problem;
		c->problem_va = canonical(va48);
	}
}

/* The bits no entry of ours ever sets: PAT, protection keys, ignored ones. */
static bool entry_bits_ok(uint64_t e, int level, uint64_t phys_limit)
{
	uint64_t addr = e & PTE_ADDR;

	if (e & (0x7full << 52 | 0xfull << 59 | 0xe00ull))
		return false;
	if (!is_leaf(e, level))
		return !(e & (PTE_PS | PTE_NX | PTE_G)) && (e & PTE_W) && addr < phys_limit;
	if (level == LEVELS - 1 && (e & PTE_PS))
		return false; /* the PAT bit of a 4 KiB entry */
	if (level < LEVELS - 1 && !IS_ALIGNED(addr, level_span[level]))
		return false; /* also catches the huge-page PAT bit (12) */
	return addr + level_span[level] - 1 < phys_limit;
}

/* user_path: every entry above this table has U. */
static void check_table(const struct pgtable *pt, paddr_t frame, int level, vaddr_t base48,
			bool user_path, uint64_t phys_limit, struct pt_check *c)
{
	const uint64_t *t = table_at(pt, frame);
	unsigned int present = 0;

	c->tables++;
	for (unsigned int i = 0; i < PTE_ENTRIES; i++) {
		uint64_t e = entry_get(t, i);
		vaddr_t va48 = base48 + i * level_span[level];
		if (!(e & PTE_P)) {
			if (e)
				check_fail(c, "stray bits in a non-present entry", va48);
			continue;
		}
		present++;
		if (!entry_bits_ok(e, level, phys_limit))
			check_fail(c, "bad bits in an entry", va48);
		if (!is_leaf(e, level)) {
			check_table(pt, e & PTE_ADDR, level + 1, va48, user_path && (e & PTE_U),
				    phys_limit, c);
			continue;
		}
		c->leaves[level - 1]++;
		if ((e & PTE_W) && !(e & PTE_NX))
			check_fail(c, "writable and executable leaf", va48);
		if ((e & PTE_U) && !user_path)
			check_fail(c, "user leaf under a supervisor entry", va48);
	}
	if (present != count_get(t))
		check_fail(c, "stored count differs from present entries", base48);
	if (present == 0 && level > 0)
		c->empty_tables++;
}

int pt_check(const struct pgtable *pt, struct pt_check *c)
{
	unsigned int bits = pt->phys_bits ? pt->phys_bits : PT_MAX_PHYS_BITS;

	*c = (struct pt_check){0};
	check_table(pt, pt->root, 0, 0, true, 1ull << bits, c);
	return c->problem ? -EIO : 0;
}
