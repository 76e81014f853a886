/*
 * memmap: the normalised physical memory map. Owns turning the firmware's
 * raw, unordered, overlapping map into the sorted, page-aligned,
 * non-overlapping form described in <mm/memmap.h>, re-typing ranges of a
 * normalised map, and the small queries on it. No allocation, no recursion,
 * no floating point; portable C that builds freestanding and on the host.
 *
 * The last page of the 64-bit space, [2^64 - PAGE_SIZE, 2^64), cannot be
 * described (base + length would wrap), so raw entries are clipped to end at
 * MEMMAP_TOP at most.
 */
#include <mm/memmap.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <lib/types.h>

#define MEMMAP_TOP     ALIGN_DOWN(UINT64_MAX, PAGE_SIZE) /* highest representable end */
#define MEMMAP_NOPOS   UINT64_MAX			 /* "no boundary": above MEMMAP_TOP */
#define MEMMAP_INT_MAX ((size_t)0x7fffffff)		 /* INT_MAX: the return type's limit */

/* One page-rounded raw entry: [start, end) of a valid type. */
struct memmap_range {
	uint64_t start;
	uint64_t end;
	uint32_t type;
};

static const char *const memmap_names[MEMMAP_TYPE_COUNT] = {
    [MEMMAP_NONE] = "none",
    [MEMMAP_USABLE] = "usable",
    [MEMMAP_BOOT_SERVICES] = "boot-services",
    [MEMMAP_LOADER] = "loader",
    [MEMMAP_ACPI_RECLAIM] = "acpi-reclaim",
    [MEMMAP_BOOTDATA] = "bootdata",
    [MEMMAP_PAGETABLE] = "pagetable",
    [MEMMAP_KERNEL] = "kernel",
    [MEMMAP_PERSISTENT] = "persistent",
    [MEMMAP_ACPI_NVS] = "acpi-nvs",
    [MEMMAP_RUNTIME] = "runtime",
    [MEMMAP_UNUSABLE] = "unusable",
    [MEMMAP_RESERVED] = "reserved",
    [MEMMAP_MMIO] = "mmio",
};

/* A short constant name for a type; "unknown" for anything out of range. */
const char *memmap_type_name(uint32_t type)
{
	if (type >= MEMMAP_TYPE_COUNT)
		return "unknown";
	return memmap_names[type];
}

/* True for the RAM types the direct map covers: USABLE..RUNTIME, not UNUSABLE/RESERVED/MMIO. */
bool memmap_type_is_ram(uint32_t type)
{
	return type >= MEMMAP_USABLE && type <= MEMMAP_RUNTIME;
}

/* True if type is a real entry type (not NONE, not out of range). */
static bool memmap_type_valid(uint32_t type)
{
	return type > MEMMAP_NONE && type < MEMMAP_TYPE_COUNT;
}

/*
 * Round one raw entry to pages: usable shrinks inward, anything else grows
 * outward, invalid types become reserved. Returns false if nothing is left.
 */
static bool memmap_round(const struct memmap_entry *e, struct memmap_range *r)
{
	uint64_t end;

	if (e->length == 0)
		return false;
	r->type = memmap_type_valid(e->type) ? e->type : MEMMAP_RESERVED;
	end = e->length > UINT64_MAX - e->base ? UINT64_MAX : e->base + e->length;
	end = MIN(end, MEMMAP_TOP);
	if (r->type == MEMMAP_USABLE) {
		r->start = e->base > MEMMAP_TOP ? MEMMAP_TOP : ALIGN_UP(e->base, PAGE_SIZE);
		r->end = ALIGN_DOWN(end, PAGE_SIZE);
	} else {
		r->start = ALIGN_DOWN(e->base, PAGE_SIZE);
		r->end = ALIGN_UP(end, PAGE_SIZE); /* end <= MEMMAP_TOP: cannot wrap */
	}
	return r->start < r->end;
}

/*
 * Append [start, end) of type to out[0..*k), merging with the last entry when
 * it is adjacent and of the same type. Returns 0 or -ENOSPC.
 */
static int memmap_emit(struct memmap_entry *out, size_t *k, size_t cap, uint64_t start,
		       uint64_t end, uint32_t type)
{
	struct memmap_entry *last = *k ? &out[*k - 1] : NULL;

	if (last && last->type == type && last->base + last->length == start) {
		last->length += end - start;
		return 0;
	}
	if (*k >= cap)
		return -ENOSPC;
	out[*k].base = start;
	out[*k].length = end - start;
	out[*k].type = type;
	out[*k].reserved = 0;
	(*k)++;
	return 0;
}

/* Sift a[i] down the max-heap a[0..n) ordered by base. */
static void memmap_sift(struct memmap_entry *a, size_t i, size_t n)
{
	struct memmap_entry tmp;
	size_t child;

	while ((child = 2 * i + 1) < n) {
		if (child + 1 < n && a[child + 1].base > a[child].base)
			child++;
		if (a[child].base <= a[i].base)
			break;
		tmp = a[i];
		a[i] = a[child];
		a[child] = tmp;
		i = child;
	}
}

/* Heapsort a[0..n) by base, in place. */
static void memmap_sort(struct memmap_entry *a, size_t n)
{
	struct memmap_entry tmp;
	size_t i;

	for (i = n / 2; i-- > 0;)
		memmap_sift(a, i, n);
	for (i = n; i-- > 1;) {
		tmp = a[0];
		a[0] = a[i];
		a[i] = tmp;
		memmap_sift(a, 0, i);
	}
}

/*
 * Sweep m rounded ranges, sorted by base, stored at out[cap - m..cap), and
 * write the result from out[0]. reach[t] is the highest end of any type-t
 * range started so far, so pos is covered by type t iff reach[t] > pos.
 * Needs cap >= 2 * m: at most 2c outputs exist once c ranges are consumed,
 * so the writes never catch up with unread input. Returns the entry count.
 */
static int memmap_sweep(struct memmap_entry *out, size_t m, size_t cap)
{
	const struct memmap_entry *r = out + (cap - m);
	uint64_t reach[MEMMAP_TYPE_COUNT] = {0};
	uint64_t pos = r[0].base, next;
	size_t j = 0, k = 0;
	uint32_t t, type;

	for (;;) {
		for (; j < m && r[j].base <= pos; j++)
			reach[r[j].type] = MAX(reach[r[j].type], r[j].base + r[j].length);
		next = j < m ? r[j].base : MEMMAP_NOPOS;
		type = MEMMAP_NONE;
		for (t = MEMMAP_USABLE; t < MEMMAP_TYPE_COUNT; t++) {
			if (reach[t] > pos) {
				type = t;
				next = MIN(next, reach[t]);
			}
		}
		if (next == MEMMAP_NOPOS)
			return (int)k;
		if (type != MEMMAP_NONE)
			memmap_emit(out, &k, cap, pos, next, type); /* fits: see above */
		pos = next;
	}
}

/*
 * Normalise without scratch space, for a cap too small to hold a sorted copy:
 * each step rescans the raw entries for the type at pos and the next
 * boundary. O(n) per output boundary. Returns the entry count or -ENOSPC.
 */
static int memmap_scan(const struct memmap_entry *in, size_t n, struct memmap_entry *out,
		       size_t cap)
{
	struct memmap_range r;
	uint64_t pos = 0, next;
	uint32_t type;
	size_t i, k = 0;

	for (;;) {
		next = MEMMAP_NOPOS;
		type = MEMMAP_NONE;
		for (i = 0; i < n; i++) {
			if (!memmap_round(&in[i], &r) || r.end <= pos)
				continue;
			if (r.start > pos) {
				next = MIN(next, r.start);
			} else {
				type = MAX(type, r.type);
				next = MIN(next, r.end);
			}
		}
		if (next == MEMMAP_NOPOS)
			return (int)k;
		if (type != MEMMAP_NONE && memmap_emit(out, &k, cap, pos, next, type))
			return -ENOSPC;
		pos = next;
	}
}

/*
 * Normalise n raw entries into out (see <mm/memmap.h>). With room for twice
 * the surviving ranges, sort them in the tail of out and sweep in
 * O(n log n); otherwise fall back to the O(n^2) rescan. Returns the entry
 * count or -ENOSPC.
 */
int memmap_normalise(const struct memmap_entry *in, size_t n, struct memmap_entry *out, size_t cap)
{
	struct memmap_range r;
	struct memmap_entry *dst;
	size_t i, m = 0;

	cap = MIN(cap, MEMMAP_INT_MAX);
	for (i = 0; i < n; i++)
		m += memmap_round(&in[i], &r);
	if (m == 0)
		return 0;
	if (m > cap / 2)
		return memmap_scan(in, n, out, cap);
	dst = out + (cap - m);
	for (i = 0; i < n; i++) {
		if (!memmap_round(&in[i], &r))
			continue;
		dst->base = r.start;
		dst->length = r.end - r.start;
		dst->type = r.type;
		dst->reserved = 0;
		dst++;
	}
	memmap_sort(out + (cap - m), m);
	return memmap_sweep(out, m, cap);
}

/* True if e is non-empty, page aligned, of a valid type and does not wrap. */
static bool memmap_entry_ok(const struct memmap_entry *e)
{
	return e->length && IS_ALIGNED(e->base, PAGE_SIZE) && IS_ALIGNED(e->length, PAGE_SIZE) &&
	       e->length <= UINT64_MAX - e->base && memmap_type_valid(e->type);
}

/* True if map[0..n) satisfies every invariant in <mm/memmap.h>. */
bool memmap_is_normalised(const struct memmap_entry *map, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!memmap_entry_ok(&map[i]))
			return false;
		if (i == 0)
			continue;
		if (map[i - 1].base + map[i - 1].length > map[i].base)
			return false;
		if (map[i - 1].base + map[i - 1].length == map[i].base &&
		    map[i - 1].type == map[i].type)
			return false;
	}
	return true;
}

/* Sum of the lengths of all entries of the given type. */
uint64_t memmap_total(const struct memmap_entry *map, size_t n, uint32_t type)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (map[i].type == type)
			sum += map[i].length;
	return sum;
}

/*
 * Find the entries map[*a..*b] that overlap [base, end) and check that they
 * cover it with no hole. Returns false if any page of the range is a hole.
 */
static bool memmap_find_cover(const struct memmap_entry *map, size_t n, uint64_t base, uint64_t end,
			      size_t *a, size_t *b)
{
	size_t i;

	for (i = 0; i < n && map[i].base + map[i].length <= base; i++)
		;
	if (i == n || map[i].base > base)
		return false;
	*a = i;
	for (; map[i].base + map[i].length < end; i++)
		if (i + 1 == n || map[i + 1].base != map[i].base + map[i].length)
			return false;
	*b = i;
	return true;
}

/*
 * Re-type [base, base + length) in the normalised map[0..*n) (capacity cap).
 * The range must be page aligned, non-empty and lie wholly inside existing
 * entries: re-typing a hole is -EINVAL, since the map cannot know the hole
 * is memory. type must be a real type (not MEMMAP_NONE, not out of range).
 * A map that is not normalised, or *n > cap, is -EINVAL. Nothing changes on
 * error.
 * Returns 0, -EINVAL or -ENOSPC.
 */
int memmap_set_type(struct memmap_entry *map, size_t *n, size_t cap, uint64_t base, uint64_t length,
		    uint32_t type)
{
	struct memmap_entry piece[3], right = {0};
	uint64_t end = base + length, lo_base = base, hi_end = end, b_end;
	size_t a, b, lo, hi, cnt = 0, i;

	if (!length || !IS_ALIGNED(base, PAGE_SIZE) || !IS_ALIGNED(length, PAGE_SIZE) ||
	    length > UINT64_MAX - base || !memmap_type_valid(type) || *n > cap ||
	    !memmap_is_normalised(map, *n) || !memmap_find_cover(map, *n, base, end, &a, &b))
		return -EINVAL;
	lo = a;
	hi = b;
	/* Keep map[a]'s left remainder, or absorb it or the entry before if same type. */
	if (map[a].base < base && map[a].type != type)
		piece[cnt++] =
		    (struct memmap_entry){map[a].base, base - map[a].base, map[a].type, 0};
	else if (map[a].base < base)
		lo_base = map[a].base;
	else if (a > 0 && map[a - 1].base + map[a - 1].length == base && map[a - 1].type == type)
		lo_base = map[--lo].base;
	/* Likewise map[b]'s right remainder, or the entry after it. */
	b_end = map[b].base + map[b].length;
	if (b_end > end && map[b].type != type) {
		right = (struct memmap_entry){end, b_end - end, map[b].type, 0};
	} else if (b_end > end) {
		hi_end = b_end;
	} else if (b + 1 < *n && map[b + 1].base == end && map[b + 1].type == type) {
		hi++;
		hi_end = map[hi].base + map[hi].length;
	}
	piece[cnt++] = (struct memmap_entry){lo_base, hi_end - lo_base, type, 0};
	if (right.length)
		piece[cnt++] = right;
	if (*n - (hi - lo + 1) + cnt > cap)
		return -ENOSPC;
	memmove(&map[lo + cnt], &map[hi + 1], (*n - hi - 1) * sizeof(*map));
	for (i = 0; i < cnt; i++)
		map[lo + i] = piece[i];
	*n = *n - (hi - lo + 1) + cnt;
	return 0;
}
