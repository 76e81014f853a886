/*
 * libFuzzer target for mm/memmap.c. Decodes the input into up to MAX_IN raw
 * entries (clustered, unaligned, huge and wrapping ranges of types 0..15),
 * normalises them, checks the result against a per-page reference on a
 * bounded sample of pages, then applies a few memmap_set_type calls derived
 * from the input and checks the invariants again. Traps on any violation.
 */
#include <mm/memmap.h>
#include <lib/errno.h>
#include <lib/string.h>

#include "fuzz.h"

#define MAX_IN	    300
#define MAX_OUT	    (2 * MAX_IN + 1)
#define MAX_OPS	    8
#define MAX_SAMPLES 512
#define P	    PAGE_SIZE
#define TOP	    (UINT64_MAX - PAGE_SIZE + 1)

static struct memmap_entry in[MAX_IN], out[MAX_OUT], tight[MAX_OUT];
static struct memmap_entry map[MAX_OUT + 2 * MAX_OPS], prev[MAX_OUT + 2 * MAX_OPS];
static uint64_t samples[MAX_SAMPLES];
static size_t nsamples;

/* Decode one raw entry: byte 0 holds the type and how to read base and length. */
static void decode_entry(struct reader *r, struct memmap_entry *e)
{
	uint8_t ctl = (uint8_t)rd(r, 1);
	uint64_t x;

	switch ((ctl >> 4) & 3) {
	case 0: /* clustered, often unaligned */
		e->base = rd(r, 2) * 256;
		break;
	case 1: /* clustered, page aligned */
		e->base = rd(r, 1) * P;
		break;
	case 2: /* near the top of the address space */
		e->base = UINT64_MAX - rd(r, 2) * 256;
		break;
	default:
		e->base = rd(r, 8);
		break;
	}
	switch (ctl >> 6) {
	case 0: /* up to a few pages, often sub-page */
		e->length = rd(r, 1) * 64;
		break;
	case 1:
		e->length = rd(r, 2) * 256;
		break;
	case 2:
		e->length = rd(r, 1) * P;
		break;
	default:
		x = rd(r, 1);
		e->length = x & 1 ? UINT64_MAX - (x >> 1) : rd(r, 8);
		break;
	}
	e->type = ctl & 15;
	e->reserved = 0;
}

/* The type at addr in a normalised map (binary search), MEMMAP_NONE for a hole. */
static uint32_t type_at(const struct memmap_entry *m, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < m[mid].base)
			hi = mid;
		else if (addr - m[mid].base >= m[mid].length)
			lo = mid + 1;
		else
			return m[mid].type;
	}
	return MEMMAP_NONE;
}

/*
 * The reference type of page [addr, addr + P) from the raw entries: usable
 * only where it covers the whole page, anything else wherever it touches
 * the page, invalid types as reserved, the highest type winning. *touched
 * says whether any non-usable entry touches the page.
 */
static uint32_t ref_type(const struct memmap_entry *e, size_t n, uint64_t addr, bool *touched)
{
	uint32_t best = MEMMAP_NONE;

	*touched = false;
	if (addr >= TOP)
		return MEMMAP_NONE;
	for (size_t i = 0; i < n; i++) {
		uint64_t b = e[i].base, end = b + e[i].length;
		uint32_t t = e[i].type;
		bool hit;

		if (e[i].length == 0)
			continue;
		if (end < b || end > TOP)
			end = TOP;
		if (t == MEMMAP_NONE || t >= MEMMAP_TYPE_COUNT)
			t = MEMMAP_RESERVED;
		if (t == MEMMAP_USABLE) {
			hit = b <= addr && addr + P <= end;
		} else {
			hit = b < addr + P && end > addr;
			*touched |= hit;
		}
		if (hit && t > best)
			best = t;
	}
	return best;
}

/* Assert the header's invariants directly, and that memmap_is_normalised agrees. */
static void check_normalised(const struct memmap_entry *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ASSERT(m[i].length && (m[i].base | m[i].length) % P == 0);
		ASSERT(m[i].base + m[i].length > m[i].base);
		ASSERT(m[i].type > MEMMAP_NONE && m[i].type < MEMMAP_TYPE_COUNT);
		if (i)
			ASSERT(m[i - 1].base + m[i - 1].length < m[i].base ||
			       (m[i - 1].base + m[i - 1].length == m[i].base &&
				m[i - 1].type != m[i].type));
	}
	ASSERT(memmap_is_normalised(m, n));
}

/* Add the page containing addr, and its neighbours, to the sample set. */
static void sample(uint64_t addr)
{
	uint64_t a = ALIGN_DOWN(addr, P);

	for (int d = -1; d <= 1 && nsamples < MAX_SAMPLES; d++)
		samples[nsamples++] = a + (uint64_t)(int64_t)d * P; /* wraps harmlessly */
}

/* Check the normalised out[0..k) against the reference at the sampled pages. */
static void check_pages(size_t n, size_t k)
{
	bool touched;

	for (size_t s = 0; s < nsamples; s++) {
		uint64_t a = samples[s];
		uint32_t t = type_at(out, k, a);

		ASSERT(t == ref_type(in, n, a, &touched));
		ASSERT(!(t == MEMMAP_USABLE && touched));
	}
}

/* Bytes of [base, end) covered by m[0..n), in total and for type t. */
static uint64_t covered(const struct memmap_entry *m, size_t n, uint64_t base, uint64_t end,
			uint32_t t, uint64_t *of_type)
{
	uint64_t sum = 0;

	*of_type = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t lo = MAX(base, m[i].base), hi = MIN(end, m[i].base + m[i].length);

		if (lo < hi) {
			sum += hi - lo;
			if (m[i].type == t)
				*of_type += hi - lo;
		}
	}
	return sum;
}

/* Sum of all entry lengths. */
static uint64_t total_all(const struct memmap_entry *m, size_t n)
{
	uint64_t sum = 0;

	for (uint32_t t = MEMMAP_USABLE; t < MEMMAP_TYPE_COUNT; t++)
		sum += memmap_total(m, n, t);
	return sum;
}

/* Pick a set_type range from the input: mostly within or across entries. */
static void pick_range(struct reader *r, size_t n, uint64_t *base, uint64_t *len)
{
	uint8_t how = (uint8_t)rd(r, 1);
	size_t i = n ? (size_t)rd(r, 2) % n : 0, j = n ? MIN(n - 1, i + (how & 3)) : 0;
	uint64_t end;

	if (n == 0 || (how & 0xc0) == 0xc0) { /* raw: misaligned, holes, wrapping */
		*base = rd(r, 8);
		*len = rd(r, 8);
		return;
	}
	*base = map[i].base + rd(r, 1) % (map[i].length / P) * P;
	end = map[j].base + map[j].length - rd(r, 1) % (map[j].length / P) * P;
	if (end <= *base)
		end = *base + P;
	*len = end - *base;
	if (how & 0x20) /* occasionally misalign */
		*base += how & 0x10;
}

/* Apply one memmap_set_type call and check its result independently. */
static void check_set_type(struct reader *r, size_t *n)
{
	uint64_t base, len, end, in_range, of_type = 0, before, edges[4];
	size_t n0 = *n, cap;
	uint32_t type;
	bool valid;
	int rc;

	pick_range(r, *n, &base, &len);
	type = (uint32_t)rd(r, 1);
	cap = n0 + (type >> 4) % 3;
	type &= 15;
	end = base + len;
	memcpy(prev, map, n0 * sizeof(*map));
	valid = len && IS_ALIGNED(base, P) && IS_ALIGNED(len, P) && len <= UINT64_MAX - base &&
		type != MEMMAP_NONE && type < MEMMAP_TYPE_COUNT;
	in_range = valid ? covered(prev, n0, base, end, type, &of_type) : 0;
	rc = memmap_set_type(map, n, cap, base, len, type);
	if (rc) /* nothing may change on error */
		ASSERT(*n == n0 && memcmp(prev, map, n0 * sizeof(*map)) == 0);
	if (!valid || in_range != len) {
		ASSERT(rc == -EINVAL);
		return;
	}
	if (rc == -ENOSPC) { /* only if it really needs more room */
		ASSERT(cap < n0 + 2);
		rc = memmap_set_type(map, n, n0 + 2, base, len, type);
		ASSERT(rc == 0 && *n > cap);
	} else
		ASSERT(rc == 0 && *n <= cap);
	edges[0] = base - P, edges[1] = base, edges[2] = end - P, edges[3] = end;
	check_normalised(map, *n);
	ASSERT(*n <= n0 + 2);
	ASSERT(total_all(map, *n) == total_all(prev, n0));
	before = memmap_total(prev, n0, type);
	ASSERT(memmap_total(map, *n, type) == before + len - of_type);
	for (size_t s = 0; s < nsamples + ARRAY_SIZE(edges); s++) {
		uint64_t a = s < nsamples ? samples[s] : edges[s - nsamples];
		uint32_t want = a >= base && a < end ? type : type_at(prev, n0, a);

		ASSERT(type_at(map, *n, a) == want);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = {data, size, 0}; /* zeroes once the input runs out */
	size_t n = (size_t)rd(&r, 2) % (MAX_IN + 1), k, nmap;
	uint64_t raw_bytes = 0;
	int rc;

	for (size_t i = 0; i < n; i++)
		decode_entry(&r, &in[i]);
	rc = memmap_normalise(in, n, out, MAX_OUT);
	ASSERT(rc >= 0 && rc <= MAX_OUT);
	k = (size_t)rc;
	check_normalised(out, k);
	for (size_t i = 0; i < k; i++)
		raw_bytes += out[i].length;
	ASSERT(total_all(out, k) == raw_bytes);

	/* The no-scratch path (cap too small to sort in) must agree exactly. */
	ASSERT(memmap_normalise(in, n, tight, k) == rc);
	ASSERT(memcmp(tight, out, k * sizeof(*out)) == 0);
	if (k)
		ASSERT(memmap_normalise(in, n, tight, k - 1) == -ENOSPC);

	nsamples = 0;
	for (size_t i = 0; i < n && nsamples < MAX_SAMPLES / 2; i++) {
		sample(in[i].base);
		sample(in[i].base + in[i].length - 1);
	}
	for (size_t i = 0; i < k && nsamples < MAX_SAMPLES; i++) {
		sample(out[i].base);
		sample(out[i].base + out[i].length);
	}
	check_pages(n, k);

	nmap = k;
	memcpy(map, out, k * sizeof(*out));
	for (int op = 0; op < MAX_OPS && r.n; op++)
		check_set_type(&r, &nmap);
	return 0;
}
