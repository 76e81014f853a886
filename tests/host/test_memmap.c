/*
 * Host tests for mm/memmap.c: normalising raw maps, re-typing ranges and the
 * small queries, checked against hand-worked maps and, for random maps, a
 * brute-force per-page reference.
 */
#include <mm/memmap.h>
#include <lib/errno.h>

#include "check.h"

#define P	   PAGE_SIZE
#define TOP	   (UINT64_MAX - PAGE_SIZE + 1) /* the highest representable end */
#define E(b, l, t) ((struct memmap_entry){(b), (l), (t), 0})

/* The type of the page at addr in a normalised map, MEMMAP_NONE for a hole. */
static uint32_t type_at(const struct memmap_entry *map, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= map[i].base && addr - map[i].base < map[i].length)
			return map[i].type;
	return MEMMAP_NONE;
}

/*
 * The reference: the type of page [addr, addr + P) straight from the raw
 * entries. Usable counts only if it covers the whole page; any other type
 * counts if it touches the page; invalid types are reserved; highest wins.
 */
static uint32_t ref_type(const struct memmap_entry *in, size_t n, uint64_t addr)
{
	uint32_t best = MEMMAP_NONE;

	if (addr >= TOP)
		return MEMMAP_NONE;
	for (size_t i = 0; i < n; i++) {
		uint64_t b = in[i].base, end = b + in[i].length;
		uint32_t t = in[i].type;

		if (in[i].length == 0)
			continue;
		if (end < b || end > TOP)
			end = TOP;
		if (t == MEMMAP_NONE || t >= MEMMAP_TYPE_COUNT)
			t = MEMMAP_RESERVED;
		if (t == MEMMAP_USABLE ? (b <= addr && addr + P <= end)
				       : (b < addr + P && end > addr))
			best = t > best ? t : best;
	}
	return best;
}

/* Compare out[0..k) with the expected entries. */
static int same_map(const struct memmap_entry *out, int k, const struct memmap_entry *exp, int n)
{
	if (k != n)
		return 0;
	for (int i = 0; i < n; i++)
		if (out[i].base != exp[i].base || out[i].length != exp[i].length ||
		    out[i].type != exp[i].type)
			return 0;
	return 1;
}

/* Normalise in[0..n) with ample room and check against exp[0..m). */
#define CHECK_NORMALISES(in, exp)                                                                  \
	do {                                                                                       \
		struct memmap_entry out_[2 * ARRAY_SIZE(in) + 1];                                  \
		int k_ = memmap_normalise(in, ARRAY_SIZE(in), out_, ARRAY_SIZE(out_));             \
		CHECK(memmap_is_normalised(out_, k_ < 0 ? 0 : (size_t)k_));                        \
		CHECK(same_map(out_, k_, exp, (int)ARRAY_SIZE(exp)));                              \
	} while (0)

TEST(memmap_normalise_empty_input)
{
	struct memmap_entry out[1];

	CHECK_EQ(memmap_normalise(NULL, 0, out, 0), 0);
	CHECK_EQ(memmap_normalise(NULL, 0, out, 1), 0);
}

TEST(memmap_normalise_sorts_unsorted_input)
{
	struct memmap_entry in[] = {E(0x5000, P, MEMMAP_USABLE), E(0x1000, P, MEMMAP_ACPI_NVS),
				    E(0x9000, 2 * P, MEMMAP_MMIO), E(0x3000, P, MEMMAP_KERNEL)};
	struct memmap_entry exp[] = {E(0x1000, P, MEMMAP_ACPI_NVS), E(0x3000, P, MEMMAP_KERNEL),
				     E(0x5000, P, MEMMAP_USABLE), E(0x9000, 2 * P, MEMMAP_MMIO)};

	CHECK_NORMALISES(in, exp);
}

TEST(memmap_normalise_reserved_beats_usable_overlap)
{
	struct memmap_entry in[] = {E(0, 16 * P, MEMMAP_USABLE), E(4 * P, 2 * P, MEMMAP_RESERVED)};
	struct memmap_entry exp[] = {E(0, 4 * P, MEMMAP_USABLE), E(4 * P, 2 * P, MEMMAP_RESERVED),
				     E(6 * P, 10 * P, MEMMAP_USABLE)};

	CHECK_NORMALISES(in, exp);
}

TEST(memmap_normalise_precedence_order)
{
	for (uint32_t lo = MEMMAP_USABLE; lo < MEMMAP_TYPE_COUNT; lo++) {
		for (uint32_t hi = lo + 1; hi < MEMMAP_TYPE_COUNT; hi++) {
			/* Both orders of input: the higher type takes the overlap. */
			struct memmap_entry in[] = {E(0, 4 * P, lo), E(2 * P, 4 * P, hi)};
			struct memmap_entry in2[] = {E(2 * P, 4 * P, hi), E(0, 4 * P, lo)};
			struct memmap_entry exp[] = {E(0, 2 * P, lo), E(2 * P, 4 * P, hi)};

			CHECK_NORMALISES(in, exp);
			CHECK_NORMALISES(in2, exp);
		}
	}
}

TEST(memmap_normalise_invalid_types_are_reserved)
{
	struct memmap_entry in[] = {E(0, 8 * P, MEMMAP_USABLE), E(P, P, MEMMAP_NONE),
				    E(3 * P, P, MEMMAP_TYPE_COUNT), E(5 * P, P, 0xffffffffu),
				    E(5 * P, P, MEMMAP_MMIO)};
	struct memmap_entry exp[] = {E(0, P, MEMMAP_USABLE),	    E(P, P, MEMMAP_RESERVED),
				     E(2 * P, P, MEMMAP_USABLE),    E(3 * P, P, MEMMAP_RESERVED),
				     E(4 * P, P, MEMMAP_USABLE),    E(5 * P, P, MEMMAP_MMIO),
				     E(6 * P, 2 * P, MEMMAP_USABLE)};

	CHECK_NORMALISES(in, exp);
}

TEST(memmap_normalise_drops_zero_length)
{
	struct memmap_entry in[] = {E(0x1234, 0, MEMMAP_RESERVED), E(0x4000, P, MEMMAP_USABLE),
				    E(0x4800, 0, MEMMAP_MMIO), E(0, 0, MEMMAP_USABLE)};
	struct memmap_entry exp[] = {E(0x4000, P, MEMMAP_USABLE)};

	CHECK_NORMALISES(in, exp);
}

TEST(memmap_normalise_shrinks_unaligned_usable)
{
	struct memmap_entry in[] = {E(0x1001, 0x4000, MEMMAP_USABLE)};
	struct memmap_entry exp[] = {E(0x2000, 0x3000, MEMMAP_USABLE)};

	CHECK_NORMALISES(in, exp);
}

TEST(memmap_normalise_grows_unaligned_reserved)
{
	struct memmap_entry in[] = {E(0x1001, 0x10, MEMMAP_RESERVED),
				    E(0x5fff, 2, MEMMAP_ACPI_RECLAIM)};
	struct memmap_entry exp[] = {E(0x1000, P, MEMMAP_RESERVED),
				     E(0x5000, 2 * P, MEMMAP_ACPI_RECLAIM)};

	CHECK_NORMALISES(in, exp);
}

TEST(memmap_normalise_reserved_takes_shared_page_from_usable)
{
	/* Usable ends mid-page 3 where reserved starts: page 2..3 go to reserved. */
	struct memmap_entry in[] = {E(0, 0x2800, MEMMAP_USABLE), E(0x2800, 0x2800, MEMMAP_RESERVED),
				    E(0x5000, 0x3000, MEMMAP_USABLE)};
	struct memmap_entry exp[] = {E(0, 2 * P, MEMMAP_USABLE), E(2 * P, 3 * P, MEMMAP_RESERVED),
				     E(5 * P, 3 * P, MEMMAP_USABLE)};
	/* Aligned usable sharing a page with an unaligned reserved end loses it. */
	struct memmap_entry in2[] = {E(0x1000, 0x1001, MEMMAP_BOOT_SERVICES),
				     E(0x2000, 0x3000, MEMMAP_USABLE)};
	struct memmap_entry exp2[] = {E(0x1000, 2 * P, MEMMAP_BOOT_SERVICES),
				      E(0x3000, 2 * P, MEMMAP_USABLE)};

	CHECK_NORMALISES(in, exp);
	CHECK_NORMALISES(in2, exp2);
}

TEST(memmap_normalise_merges_adjacent_same_type)
{
	struct memmap_entry in[] = {
	    E(0x3000, P, MEMMAP_USABLE),       E(0, 0x2000, MEMMAP_USABLE),
	    E(0x2000, P, MEMMAP_USABLE),       E(0x8000, 0x800, MEMMAP_RESERVED),
	    E(0x8800, 0x800, MEMMAP_RESERVED), E(0x8400, 0x2000, MEMMAP_RESERVED)};
	struct memmap_entry exp[] = {E(0, 4 * P, MEMMAP_USABLE), E(0x8000, 3 * P, MEMMAP_RESERVED)};

	CHECK_NORMALISES(in, exp);
}

TEST(memmap_normalise_keeps_adjacent_different_types)
{
	struct memmap_entry in[] = {E(0, P, MEMMAP_LOADER), E(P, P, MEMMAP_BOOTDATA),
				    E(2 * P, P, MEMMAP_LOADER)};

	CHECK_NORMALISES(in, in);
}

TEST(memmap_normalise_drops_sub_page_usable)
{
	struct memmap_entry in[] = {E(0x1800, 0x1000, MEMMAP_USABLE),
				    E(0x4000, 0xfff, MEMMAP_USABLE),
				    E(0x7001, 0x1ffe, MEMMAP_USABLE)};
	struct memmap_entry out[8];

	CHECK_EQ(memmap_normalise(in, ARRAY_SIZE(in), out, ARRAY_SIZE(out)), 0);
}

TEST(memmap_normalise_clips_at_top_of_address_space)
{
	/* Ends that wrap saturate at TOP; the last page cannot be described. */
	struct memmap_entry in[] = {E(UINT64_MAX - 3 * P, 10 * P, MEMMAP_USABLE),
				    E(UINT64_MAX, 1, MEMMAP_RESERVED),
				    E(UINT64_MAX - 10, UINT64_MAX, MEMMAP_MMIO),
				    E(TOP - 8 * P + 1, 2 * P, MEMMAP_RESERVED)};
	struct memmap_entry exp[] = {E(TOP - 8 * P, 3 * P, MEMMAP_RESERVED),
				     E(TOP - 2 * P, 2 * P, MEMMAP_USABLE)};
	struct memmap_entry all[] = {E(0, UINT64_MAX, MEMMAP_USABLE)};
	struct memmap_entry all_exp[] = {E(0, TOP, MEMMAP_USABLE)};
	struct memmap_entry huge[] = {E(5, UINT64_MAX, MEMMAP_MMIO)};
	struct memmap_entry huge_exp[] = {E(0, TOP, MEMMAP_MMIO)};

	CHECK_NORMALISES(in, exp);
	CHECK_NORMALISES(all, all_exp);
	CHECK_NORMALISES(huge, huge_exp);
}

/* Fill in[0..n) with random entries in [0, span), many overlapping and unaligned. */
static void random_map(struct memmap_entry *in, size_t n, uint64_t span)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t r = rng();

		in[i].base = rng() % span;
		if (r & 1)
			in[i].base &= ~PAGE_MASK;
		switch ((r >> 1) % 8) {
		case 0:
			in[i].length = 0;
			break;
		case 1:
			in[i].length = rng() % (2 * P);
			break;
		case 2:
			in[i].length = rng() % (span / 4);
			break;
		default:
			in[i].length = (rng() % 16) * P + ((r >> 8) & 1 ? rng() % P : 0);
			break;
		}
		/* Bias towards usable so it competes with everything else. */
		in[i].type = (r >> 16) % 3 == 0 ? MEMMAP_USABLE : (uint32_t)((r >> 20) % 16);
		in[i].reserved = 0;
	}
}

/* Check every page of [0, span) in a normalised map against the raw entries. */
static int matches_reference(const struct memmap_entry *in, size_t n,
			     const struct memmap_entry *out, size_t k, uint64_t span)
{
	size_t j = 0;

	for (uint64_t a = 0; a < span; a += P) {
		uint32_t t = MEMMAP_NONE;

		while (j < k && out[j].base + out[j].length <= a)
			j++;
		if (j < k && out[j].base <= a)
			t = out[j].type;
		if (t != ref_type(in, n, a))
			return 0;
	}
	return 1;
}

TEST(memmap_normalise_random_matches_reference)
{
	static struct memmap_entry in[600], out[2 * 600 + 1], small[2 * 600 + 1];
	static const uint64_t spans[] = {64 * P, 1024 * P, 8192 * P};

	for (int round = 0; round < 12; round++) {
		uint64_t span = spans[round % 3];
		int k, k2;

		rng_state = 0x9e3779b97f4a7c15ull + (uint64_t)round;
		random_map(in, ARRAY_SIZE(in), span);
		k = memmap_normalise(in, ARRAY_SIZE(in), out, ARRAY_SIZE(out));
		CHECK(k > 0);
		CHECK(memmap_is_normalised(out, (size_t)k));
		CHECK(matches_reference(in, ARRAY_SIZE(in), out, (size_t)k, span + span / 2));
		/* A cap of exactly the result takes the no-scratch path: same answer. */
		k2 = memmap_normalise(in, ARRAY_SIZE(in), small, (size_t)k);
		CHECK_EQ(k2, k);
		CHECK(same_map(small, k2, out, k));
		CHECK_EQ(memmap_normalise(in, ARRAY_SIZE(in), small, (size_t)k - 1), -ENOSPC);
	}
}

TEST(memmap_normalise_1000_entries)
{
	static struct memmap_entry in[1000], out[2 * 1000 + 1];
	int k;

	/* A firmware-like map: mostly disjoint, sorted backwards, some overlaps. */
	rng_state = 42;
	for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
		in[i] = E((ARRAY_SIZE(in) - i) * 16 * P, (1 + rng() % 20) * P, 1 + rng() % 13);
	}
	k = memmap_normalise(in, ARRAY_SIZE(in), out, ARRAY_SIZE(out));
	CHECK(k > 0);
	CHECK(memmap_is_normalised(out, (size_t)k));
	CHECK(matches_reference(in, ARRAY_SIZE(in), out, (size_t)k, 1002 * 16 * P));
}

TEST(memmap_normalise_enospc_when_cap_too_small)
{
	struct memmap_entry in[] = {E(0, 8 * P, MEMMAP_USABLE), E(2 * P, P, MEMMAP_RESERVED),
				    E(5 * P, P, MEMMAP_MMIO)};
	struct memmap_entry out[5];

	CHECK_EQ(memmap_normalise(in, ARRAY_SIZE(in), out, 0), -ENOSPC);
	CHECK_EQ(memmap_normalise(in, ARRAY_SIZE(in), out, 4), -ENOSPC);
	CHECK_EQ(memmap_normalise(in, ARRAY_SIZE(in), out, 5), 5);
	CHECK(memmap_is_normalised(out, 5));
	CHECK_EQ(out[4].base, 6 * P);
	CHECK_EQ(out[4].type, MEMMAP_USABLE);
}

/* A normalised map to re-type: usable [0,16P), reserved [16P,20P), usable [20P,32P). */
static size_t base_map(struct memmap_entry *map)
{
	map[0] = E(0, 16 * P, MEMMAP_USABLE);
	map[1] = E(16 * P, 4 * P, MEMMAP_RESERVED);
	map[2] = E(20 * P, 12 * P, MEMMAP_USABLE);
	return 3;
}

TEST(memmap_set_type_splits_middle_of_entry)
{
	struct memmap_entry map[8],
	    exp[] = {E(0, 4 * P, MEMMAP_USABLE), E(4 * P, 2 * P, MEMMAP_KERNEL),
		     E(6 * P, 10 * P, MEMMAP_USABLE), E(16 * P, 4 * P, MEMMAP_RESERVED),
		     E(20 * P, 12 * P, MEMMAP_USABLE)};
	size_t n = base_map(map);

	CHECK_EQ(memmap_set_type(map, &n, ARRAY_SIZE(map), 4 * P, 2 * P, MEMMAP_KERNEL), 0);
	CHECK(same_map(map, (int)n, exp, (int)ARRAY_SIZE(exp)));
}

TEST(memmap_set_type_covers_whole_entry)
{
	struct memmap_entry map[8],
	    exp[] = {E(0, 16 * P, MEMMAP_USABLE), E(16 * P, 4 * P, MEMMAP_ACPI_NVS),
		     E(20 * P, 12 * P, MEMMAP_USABLE)};
	struct memmap_entry exp2[] = {E(0, 32 * P, MEMMAP_USABLE)};
	size_t n = base_map(map);

	CHECK_EQ(memmap_set_type(map, &n, 3, 16 * P, 4 * P, MEMMAP_ACPI_NVS), 0);
	CHECK(same_map(map, (int)n, exp, (int)ARRAY_SIZE(exp)));
	/* Re-typing it to usable merges all three into one. */
	CHECK_EQ(memmap_set_type(map, &n, 3, 16 * P, 4 * P, MEMMAP_USABLE), 0);
	CHECK(same_map(map, (int)n, exp2, (int)ARRAY_SIZE(exp2)));
}

TEST(memmap_set_type_spans_two_entries)
{
	struct memmap_entry map[8],
	    exp[] = {E(0, 14 * P, MEMMAP_USABLE), E(14 * P, 4 * P, MEMMAP_LOADER),
		     E(18 * P, 2 * P, MEMMAP_RESERVED), E(20 * P, 12 * P, MEMMAP_USABLE)};
	struct memmap_entry exp2[] = {E(0, 14 * P, MEMMAP_USABLE), E(14 * P, 8 * P, MEMMAP_LOADER),
				      E(22 * P, 10 * P, MEMMAP_USABLE)};
	size_t n = base_map(map);

	CHECK_EQ(memmap_set_type(map, &n, ARRAY_SIZE(map), 14 * P, 4 * P, MEMMAP_LOADER), 0);
	CHECK(same_map(map, (int)n, exp, (int)ARRAY_SIZE(exp)));
	CHECK_EQ(memmap_set_type(map, &n, ARRAY_SIZE(map), 17 * P, 5 * P, MEMMAP_LOADER), 0);
	CHECK(same_map(map, (int)n, exp2, (int)ARRAY_SIZE(exp2)));
}

TEST(memmap_set_type_merges_with_neighbour)
{
	struct memmap_entry map[8];
	struct memmap_entry left[] = {E(0, 18 * P, MEMMAP_USABLE),
				      E(18 * P, 2 * P, MEMMAP_RESERVED),
				      E(20 * P, 12 * P, MEMMAP_USABLE)};
	struct memmap_entry right[] = {E(0, 16 * P, MEMMAP_USABLE),
				       E(16 * P, 6 * P, MEMMAP_RESERVED),
				       E(22 * P, 10 * P, MEMMAP_USABLE)};
	size_t n = base_map(map);

	CHECK_EQ(memmap_set_type(map, &n, 3, 16 * P, 2 * P, MEMMAP_USABLE), 0);
	CHECK(same_map(map, (int)n, left, (int)ARRAY_SIZE(left)));
	n = base_map(map);
	CHECK_EQ(memmap_set_type(map, &n, 3, 20 * P, 2 * P, MEMMAP_RESERVED), 0);
	CHECK(same_map(map, (int)n, right, (int)ARRAY_SIZE(right)));
	/* Same type as the whole entry: nothing changes. */
	n = base_map(map);
	CHECK_EQ(memmap_set_type(map, &n, 3, 2 * P, 3 * P, MEMMAP_USABLE), 0);
	CHECK_EQ(n, 3);
	CHECK_EQ(map[0].length, 16 * P);
}

TEST(memmap_set_type_rejects_misaligned_range)
{
	struct memmap_entry map[8];
	size_t n = base_map(map);

	CHECK_EQ(memmap_set_type(map, &n, 8, 0x800, P, MEMMAP_KERNEL), -EINVAL);
	CHECK_EQ(memmap_set_type(map, &n, 8, P, 0x800, MEMMAP_KERNEL), -EINVAL);
	CHECK_EQ(memmap_set_type(map, &n, 8, P, 0, MEMMAP_KERNEL), -EINVAL);
	CHECK_EQ(memmap_set_type(map, &n, 8, TOP - P, 2 * P, MEMMAP_KERNEL), -EINVAL);
	CHECK_EQ(n, 3);
	CHECK_EQ(map[0].type, MEMMAP_USABLE);
}

TEST(memmap_set_type_rejects_holes_and_bad_types)
{
	struct memmap_entry map[8] = {E(0, 4 * P, MEMMAP_USABLE), E(8 * P, 4 * P, MEMMAP_USABLE)};
	size_t n = 2;

	CHECK_EQ(memmap_set_type(map, &n, 8, 2 * P, 4 * P, MEMMAP_KERNEL), -EINVAL);
	CHECK_EQ(memmap_set_type(map, &n, 8, 4 * P, P, MEMMAP_KERNEL), -EINVAL);
	CHECK_EQ(memmap_set_type(map, &n, 8, 10 * P, 4 * P, MEMMAP_KERNEL), -EINVAL);
	CHECK_EQ(memmap_set_type(map, &n, 8, 20 * P, P, MEMMAP_KERNEL), -EINVAL);
	CHECK_EQ(memmap_set_type(map, &n, 8, 0, P, MEMMAP_NONE), -EINVAL);
	CHECK_EQ(memmap_set_type(map, &n, 8, 0, P, MEMMAP_TYPE_COUNT), -EINVAL);
	CHECK_EQ(memmap_set_type(map, &n, 0, 0, P, MEMMAP_KERNEL), -EINVAL);
	CHECK_EQ(n, 2);
	CHECK_EQ(map[0].type, MEMMAP_USABLE);
	CHECK_EQ(map[1].type, MEMMAP_USABLE);
}

TEST(memmap_set_type_enospc)
{
	struct memmap_entry map[6];
	size_t n = base_map(map);

	CHECK_EQ(memmap_set_type(map, &n, 4, 4 * P, P, MEMMAP_KERNEL), -ENOSPC);
	CHECK_EQ(n, 3);
	CHECK_EQ(map[0].length, 16 * P);
	CHECK_EQ(memmap_set_type(map, &n, 4, 0, P, MEMMAP_KERNEL), 0);
	CHECK_EQ(n, 4);
	CHECK_EQ(memmap_set_type(map, &n, 5, 4 * P, P, MEMMAP_KERNEL), -ENOSPC);
	CHECK_EQ(memmap_set_type(map, &n, 6, 4 * P, P, MEMMAP_KERNEL), 0);
	CHECK_EQ(n, 6);
	CHECK(memmap_is_normalised(map, n));
}

/* True if every page of [0, pages) in map[0..n) has the type model[] says. */
static int matches_model(const struct memmap_entry *map, size_t n, const uint32_t *model,
			 uint64_t pages)
{
	size_t j = 0;

	for (uint64_t p = 0; p < pages; p++) {
		uint32_t t = MEMMAP_NONE;

		while (j < n && map[j].base + map[j].length <= p * P)
			j++;
		if (j < n && map[j].base <= p * P)
			t = map[j].type;
		if (t != model[p])
			return 0;
	}
	return 1;
}

TEST(memmap_set_type_random_matches_page_model)
{
	enum { PAGES = 256 };
	static struct memmap_entry in[200], map[2 * 200 + 1 + 2 * 64];
	static uint32_t model[PAGES];
	size_t n;
	int k;

	rng_state = 7;
	random_map(in, ARRAY_SIZE(in), PAGES * P * 3 / 4);
	k = memmap_normalise(in, ARRAY_SIZE(in), map, ARRAY_SIZE(map));
	CHECK(k > 0);
	n = (size_t)k;
	for (uint64_t p = 0; p < PAGES; p++)
		model[p] = type_at(map, n, p * P);
	for (int op = 0; op < 2000; op++) {
		uint64_t first = rng() % PAGES, count = 1 + rng() % 16, p;
		uint32_t t = 1 + (uint32_t)(rng() % 13);
		int covered = first + count <= PAGES, rc;

		for (p = first; covered && p < first + count; p++)
			covered = model[p] != MEMMAP_NONE;
		rc = memmap_set_type(map, &n, ARRAY_SIZE(map), first * P, count * P, t);
		CHECK_EQ(rc, covered ? 0 : -EINVAL);
		for (p = first; covered && p < first + count; p++)
			model[p] = t;
		CHECK(memmap_is_normalised(map, n));
		CHECK(matches_model(map, n, model, PAGES));
	}
}

TEST(memmap_total_sums_type)
{
	struct memmap_entry map[8];
	size_t n = base_map(map);

	CHECK_EQ(memmap_total(map, n, MEMMAP_USABLE), 28 * P);
	CHECK_EQ(memmap_total(map, n, MEMMAP_RESERVED), 4 * P);
	CHECK_EQ(memmap_total(map, n, MEMMAP_MMIO), 0);
	CHECK_EQ(memmap_total(map, 0, MEMMAP_USABLE), 0);
}

TEST(memmap_is_normalised_rejects_bad_maps)
{
	struct memmap_entry good[] = {E(0, P, MEMMAP_USABLE), E(P, P, MEMMAP_RESERVED),
				      E(TOP - P, P, MEMMAP_MMIO)};
	struct memmap_entry unsorted[] = {E(P, P, MEMMAP_USABLE), E(0, P, MEMMAP_RESERVED)};
	struct memmap_entry overlap[] = {E(0, 2 * P, MEMMAP_USABLE), E(P, P, MEMMAP_RESERVED)};
	struct memmap_entry unmerged[] = {E(0, P, MEMMAP_USABLE), E(P, P, MEMMAP_USABLE)};
	struct memmap_entry empty[] = {E(0, 0, MEMMAP_USABLE)};
	struct memmap_entry base[] = {E(0x800, P, MEMMAP_USABLE)};
	struct memmap_entry len[] = {E(0, 0x1800, MEMMAP_USABLE)};
	struct memmap_entry none[] = {E(0, P, MEMMAP_NONE)};
	struct memmap_entry bad_type[] = {E(0, P, MEMMAP_TYPE_COUNT)};
	struct memmap_entry wrap[] = {E(TOP, P, MEMMAP_RESERVED)};

	CHECK(memmap_is_normalised(good, ARRAY_SIZE(good)));
	CHECK(memmap_is_normalised(NULL, 0));
	CHECK(!memmap_is_normalised(unsorted, 2));
	CHECK(!memmap_is_normalised(overlap, 2));
	CHECK(!memmap_is_normalised(unmerged, 2));
	CHECK(!memmap_is_normalised(empty, 1));
	CHECK(!memmap_is_normalised(base, 1));
	CHECK(!memmap_is_normalised(len, 1));
	CHECK(!memmap_is_normalised(none, 1));
	CHECK(!memmap_is_normalised(bad_type, 1));
	CHECK(!memmap_is_normalised(wrap, 1));
}

TEST(memmap_type_name_names)
{
	CHECK_STR(memmap_type_name(MEMMAP_USABLE), "usable");
	CHECK_STR(memmap_type_name(MEMMAP_BOOT_SERVICES), "boot-services");
	CHECK_STR(memmap_type_name(MEMMAP_ACPI_RECLAIM), "acpi-reclaim");
	CHECK_STR(memmap_type_name(MEMMAP_ACPI_NVS), "acpi-nvs");
	CHECK_STR(memmap_type_name(MEMMAP_RESERVED), "reserved");
	CHECK_STR(memmap_type_name(MEMMAP_MMIO), "mmio");
	CHECK_STR(memmap_type_name(MEMMAP_TYPE_COUNT), "unknown");
	CHECK_STR(memmap_type_name(0xffffffffu), "unknown");
	for (uint32_t t = MEMMAP_USABLE; t < MEMMAP_TYPE_COUNT; t++)
		CHECK(memmap_type_name(t) && strcmp(memmap_type_name(t), "unknown") != 0);
}

TEST(memmap_type_is_ram_classifies)
{
	for (uint32_t t = MEMMAP_USABLE; t <= MEMMAP_RUNTIME; t++)
		CHECK(memmap_type_is_ram(t));
	CHECK(!memmap_type_is_ram(MEMMAP_NONE));
	CHECK(!memmap_type_is_ram(MEMMAP_UNUSABLE));
	CHECK(!memmap_type_is_ram(MEMMAP_RESERVED));
	CHECK(!memmap_type_is_ram(MEMMAP_MMIO));
	CHECK(!memmap_type_is_ram(MEMMAP_TYPE_COUNT));
}

int main(void)
{
	RUN(memmap_normalise_empty_input);
	RUN(memmap_normalise_sorts_unsorted_input);
	RUN(memmap_normalise_reserved_beats_usable_overlap);
	RUN(memmap_normalise_precedence_order);
	RUN(memmap_normalise_invalid_types_are_reserved);
	RUN(memmap_normalise_drops_zero_length);
	RUN(memmap_normalise_shrinks_unaligned_usable);
	RUN(memmap_normalise_grows_unaligned_reserved);
	RUN(memmap_normalise_reserved_takes_shared_page_from_usable);
	RUN(memmap_normalise_merges_adjacent_same_type);
	RUN(memmap_normalise_keeps_adjacent_different_types);
	RUN(memmap_normalise_drops_sub_page_usable);
	RUN(memmap_normalise_clips_at_top_of_address_space);
	RUN(memmap_normalise_random_matches_reference);
	RUN(memmap_normalise_1000_entries);
	RUN(memmap_normalise_enospc_when_cap_too_small);
	RUN(memmap_set_type_splits_middle_of_entry);
	RUN(memmap_set_type_covers_whole_entry);
	RUN(memmap_set_type_spans_two_entries);
	RUN(memmap_set_type_merges_with_neighbour);
	RUN(memmap_set_type_rejects_misaligned_range);
	RUN(memmap_set_type_rejects_holes_and_bad_types);
	RUN(memmap_set_type_enospc);
	RUN(memmap_set_type_random_matches_page_model);
	RUN(memmap_total_sums_type);
	RUN(memmap_is_normalised_rejects_bad_maps);
	RUN(memmap_type_name_names);
	RUN(memmap_type_is_ram_classifies);
	return check_done();
}
