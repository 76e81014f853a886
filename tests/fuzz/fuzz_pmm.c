/*
 * libFuzzer target for mm/pmm.c, the physical frame allocator. Decodes the
 * input into a small raw memory map (up to MAX_RAW entries of any type in
 * 0..64 GiB), normalises it, sets up an allocator over it and releases the
 * usable ranges (boot-services, loader and ACPI-reclaim ones by a flag).
 * Then it runs MAX_OPS allocs, aligned runs, frees (good, double, reserved,
 * misaligned, outside), run frees and releases, decoded from the rest of
 * the input and then from bytes seeded by it, mirrored on a per-frame
 * reference model that predicts every result exactly: the lowest free
 * frame, the lowest aligned run, the precise error. It compares the
 * counters after each operation, counts the report hook's calls against the
 * refused frees, and runs pmm_check() as it goes. Traps on any mismatch.
 */
#include <mm/pmm.h>
#include <mm/memmap.h>
#include <lib/errno.h>
#include <lib/string.h>

#include <stdlib.h>

#include "fuzz.h"

#define MAX_RAW	   16
#define MAX_MAP	   (2 * MAX_RAW + 1)
#define MAX_FRAMES (1u << 20) /* the largest span an input may have: 4 GiB */
#define MAX_OPS	   256
#define MAX_RUN	   600
#define P	   PAGE_SIZE
#define NONE	   UINT64_MAX

/* --- the report hook --------------------------------------------------------------- */

static uint64_t reports, refusals; /* calls seen; refused frees the model expects */
static paddr_t report_pa;

static void count_report(void *ctx, const char *reason, paddr_t pa, const void *caller)
{
	ASSERT(ctx == &reports);
	ASSERT(reason && reason[0]);
	ASSERT(caller);
	reports++;
	report_pa = pa;
}

static const struct pmm_ops ops = {.report = count_report};

/* --- the reference model ------------------------------------------------------------ */

/*
 * Frame index j stands for frame base + j of the span [base, base + n).
 * allocatable and free are plain bitmaps (free implies allocatable); the
 * allocated frames are also listed in vec (with pos[j] their slot) so a
 * test can pick one at random.
 */
static struct {
	uint64_t base, n, managed, free, lo; /* no free frame below index lo */
	uint64_t allocatable[MAX_FRAMES / 64], freebm[MAX_FRAMES / 64];
	uint32_t vec[MAX_FRAMES], pos[MAX_FRAMES], nvec;
} m;

static bool bit(const uint64_t *bm, uint64_t j)
{
	return bm[j / 64] >> (j % 64) & 1;
}

static void set_bit(uint64_t *bm, uint64_t j, bool v)
{
	if (v)
		bm[j / 64] |= 1ull << (j % 64);
	else
		bm[j / 64] &= ~(1ull << (j % 64));
}

/* The first index >= from whose free bit is want; m.n if there is none. */
static uint64_t m_next(uint64_t from, bool want)
{
	while (from < m.n) {
		uint64_t w = want ? m.freebm[from / 64] : ~m.freebm[from / 64];

		w &= ~0ull << (from % 64);
		if (w)
			return MIN(from / 64 * 64 + (uint64_t)__builtin_ctzll(w), m.n);
		from = (from / 64 + 1) * 64;
	}
	return m.n;
}

static enum pmm_frame_state m_state(paddr_t pa)
{
	uint64_t f = pa >> PAGE_SHIFT, j;

	if (f < m.base || f - m.base >= m.n)
		return PMM_FRAME_OUTSIDE;
	j = f - m.base;
	if (!bit(m.allocatable, j))
		return PMM_FRAME_RESERVED;
	return bit(m.freebm, j) ? PMM_FRAME_FREE : PMM_FRAME_ALLOCATED;
}

static void m_take(uint64_t j)
{
	set_bit(m.freebm, j, false);
	m.pos[j] = m.nvec;
	m.vec[m.nvec++] = (uint32_t)j;
	m.free--;
}

static void m_give(uint64_t j)
{
	uint32_t last = m.vec[--m.nvec];

	m.vec[m.pos[j]] = last;
	m.pos[last] = m.pos[j];
	set_bit(m.freebm, j, true);
	m.free++;
	m.lo = MIN(m.lo, j);
}

/* The first index of count frames from pa, or NONE if misaligned, empty, outside or wrapping. */
static uint64_t m_range(paddr_t pa, uint64_t count)
{
	uint64_t f = pa >> PAGE_SHIFT;

	if (pa % P || count == 0 || f < m.base || f - m.base >= m.n || count > m.n - (f - m.base))
		return NONE;
	return f - m.base;
}

static int m_release(paddr_t pa, uint64_t len)
{
	uint64_t i = len % P ? NONE : m_range(pa, len / P);

	if (i == NONE)
		return -EINVAL;
	for (uint64_t j = i; j < i + len / P; j++)
		if (bit(m.allocatable, j))
			return -EEXIST;
	for (uint64_t j = i; j < i + len / P; j++) {
		if (m.base + j == 0) /* frame 0 stays reserved */
			continue;
		set_bit(m.allocatable, j, true);
		set_bit(m.freebm, j, true);
		m.managed++;
		m.free++;
		m.lo = MIN(m.lo, j);
	}
	return 0;
}

/* The lowest run of count free frames at a multiple of align, now allocated; or PADDR_INVALID. */
static paddr_t m_alloc_run(uint64_t count, uint64_t align)
{
	uint64_t a, b, s, al;

	if (count == 0 || align < P || (align & (align - 1)))
		return PADDR_INVALID;
	al = align / P;
	for (uint64_t from = m.lo; (a = m_next(from, true)) < m.n; from = b) {
		if (from == m.lo)
			m.lo = a;
		b = m_next(a, false); /* the free run is [a, b) */
		s = ALIGN_UP(m.base + a, al) - m.base;
		if (s < b && b - s >= count) {
			for (uint64_t j = s; j < s + count; j++)
				m_take(j);
			return (m.base + s) * P;
		}
	}
	return PADDR_INVALID;
}

/*
 * What freeing count frames from pa must return, applied if 0. A run with
 * both a reserved and a free frame may be refused for either: *alt is then
 * the other error.
 */
static int m_free_run(paddr_t pa, uint64_t count, int *alt)
{
	uint64_t i = m_range(pa, count);
	bool perm = false, already = false;

	*alt = 0;
	if (i == NONE)
		return -EINVAL;
	for (uint64_t j = i; j < i + count; j++) {
		perm |= !bit(m.allocatable, j);
		already |= bit(m.freebm, j);
	}
	if (perm && already)
		*alt = -EALREADY;
	if (perm)
		return -EPERM;
	if (already)
		return -EALREADY;
	for (uint64_t j = i; j < i + count; j++)
		m_give(j);
	return 0;
}

/* --- the instance ---------------------------------------------------------------------- */

static struct memmap_entry raw[MAX_RAW], map[MAX_MAP];
static struct pmm pm;

/* Decode one raw entry near off, or anywhere in 0..64 GiB. */
static void decode_entry(struct reader *r, uint64_t off, struct memmap_entry *e)
{
	uint8_t ctl = (uint8_t)rd(r, 1);

	switch ((ctl >> 4) & 3) {
	case 0: /* dense: often right at the 1 GiB boundary */
		e->base = off + rd(r, 1) * P;
		break;
	case 1: /* unaligned */
		e->base = off + rd(r, 3) * 16;
		break;
	case 2:
		e->base = off + rd(r, 2) * P;
		break;
	default: /* far away: usually too big a span, sometimes fine */
		e->base = (rd(r, 1) % 64) * GiB + rd(r, 2) * P;
		break;
	}
	switch (ctl >> 6) {
	case 0:
		e->length = rd(r, 1) * P;
		break;
	case 1: /* unaligned */
		e->length = rd(r, 2) * 64;
		break;
	case 2:
		e->length = rd(r, 2) * P;
		break;
	default:
		e->length = rd(r, 1) * 4 * MiB;
		break;
	}
	e->type = ctl & 15;
	e->reserved = 0;
}

/* An address to free, release or query: mostly in the span, sometimes not, sometimes odd. */
static paddr_t pick_addr(struct reader *r)
{
	uint8_t sel = (uint8_t)rd(r, 1);
	uint64_t x = rd(r, 3);

	switch (sel % 8) {
	case 4: /* just outside either end */
		return sel & 8 ? (m.base + m.n + x % 4) * P : (m.base - 1 - x % 4) * P;
	case 5: /* misaligned */
		return (m.base + x % m.n) * P + 1 + (sel >> 3) * 127 % (P - 1);
	case 6:
		switch ((sel >> 3) % 5) {
		case 0:
			return 0;
		case 1:
			return P;
		case 2:
			return PADDR_INVALID;
		case 3:
			return UINT64_MAX & ~PAGE_MASK;
		default:
			return (m.base + m.n) * P;
		}
	case 7:
		return rd(r, 8);
	default:
		return (m.base + x % m.n) * P;
	}
}

/*
 * An allocated frame's address (maybe moved back a little), or PADDR_INVALID:
 * any of them, or the first at or after a low index, where the allocations
 * are dense and where every search for a free frame or run starts.
 */
static paddr_t pick_allocated(struct reader *r, uint64_t back)
{
	uint64_t x = rd(r, 3), j;

	if (m.nvec == 0)
		return PADDR_INVALID;
	j = m.vec[(x >> 1) % m.nvec];
	if (x & 1)
		for (uint64_t k = (x >> 1) % 1024; k < MIN(m.n, (x >> 1) % 1024 + 4096); k++)
			if (bit(m.allocatable, k) && !bit(m.freebm, k)) {
				j = k;
				break;
			}
	return (m.base + j) * P - back * P;
}

static void check_counters(void)
{
	struct pmm_stats s;

	pmm_stats(&pm, &s);
	ASSERT(s.span_frames == m.n);
	ASSERT(s.managed_frames == m.managed);
	ASSERT(s.free_frames == m.free);
	ASSERT(reports == refusals);
}

/* How many allocated frames in a row start at pa (at most MAX_RUN). */
static uint64_t allocated_from(paddr_t pa)
{
	uint64_t count = 0;

	while (count < MAX_RUN && m_state(pa + count * P) == PMM_FRAME_ALLOCATED)
		count++;
	return count;
}

/* A refused free of count frames from pa with error rc: the report names a culprit. */
static void check_report(paddr_t pa, uint64_t count, int rc)
{
	if (rc == -EINVAL) {
		ASSERT(report_pa == pa || (count == 1 && report_pa == ALIGN_DOWN(pa, P)));
		return;
	}
	ASSERT(report_pa >= pa && report_pa - pa < count * P);
	ASSERT(m_state(report_pa) == (rc == -EPERM ? PMM_FRAME_RESERVED : PMM_FRAME_FREE));
}

static void op_free_run(struct reader *r, uint8_t kind)
{
	uint8_t c = (uint8_t)rd(r, 1);
	paddr_t pa = kind & 0x80 ? pick_addr(r) : pick_allocated(r, c & 3);
	uint64_t count = 1 + (c >> 2) % 80;
	int rc, exp, alt;

	if (pa == PADDR_INVALID && !(kind & 0x80))
		pa = pick_addr(r);
	if ((kind & 0x60) == 0x20) { /* the allocated stretch at pa, one more, or one less */
		count = allocated_from(pa) + (c % 3 == 1);
		if (c % 3 == 2 && count > 1)
			count--;
		count = MAX(count, 1);
	}
	if ((kind & 0x70) == 0x70) /* odd counts: none, or wrapping */
		count = kind & 8 ? 0 : UINT64_MAX / P + 1 + c;
	if (count == 0) { /* unspecified: refused or a no-op, and nothing changes */
		rc = pmm_free_run(&pm, pa, 0);
		ASSERT(rc == 0 || rc == -EINVAL);
		refusals += rc != 0;
		return;
	}
	exp = m_free_run(pa, count, &alt);
	rc = pmm_free_run(&pm, pa, count);
	ASSERT(rc == exp || (alt && rc == alt));
	if (rc) {
		refusals++;
		check_report(pa, count, rc);
	}
}

static void op(struct reader *r)
{
	uint8_t kind = (uint8_t)rd(r, 1);
	uint64_t count, align, len;
	paddr_t pa;
	int exp, alt;

	switch (kind % 8) {
	case 0:
	case 1:
		pa = m_alloc_run(1, P);
		ASSERT(pmm_alloc(&pm) == pa);
		break;
	case 2:
		count = rd(r, 2); /* small, around the 64 and 127 of whole words, or any */
		count = count % 3 == 0	 ? 1 + count / 3 % 8
			: count % 3 == 1 ? 60 + count / 3 % 72
					 : 1 + count / 3 % MAX_RUN;
		align = rd(r, 1);
		align = P << (align & 0x80 ? align % 52 : align % 12);
		switch (kind >> 3) { /* bad or extreme arguments now and then */
		case 0:
			count = 0;
			break;
		case 1:
			align = P / 2;
			break;
		case 2:
			align = 3 * P;
			break;
		case 3:
			align = 0;
			break;
		case 4:
			count = UINT64_MAX - kind;
			break;
		case 5:
			count = m.free + 1;
			break;
		case 6:
			align = 1ull << 63;
			break;
		}
		pa = m_alloc_run(count, align);
		ASSERT(pmm_alloc_run(&pm, count, align) == pa);
		break;
	case 3:
		pa = pick_allocated(r, 0);
		if (pa == PADDR_INVALID) {
			ASSERT(pmm_alloc(&pm) == m_alloc_run(1, P));
			break;
		}
		ASSERT(m_free_run(pa, 1, &alt) == 0);
		ASSERT(pmm_free(&pm, pa) == 0);
		break;
	case 4:
		pa = pick_addr(r);
		exp = m_free_run(pa, 1, &alt);
		ASSERT(pmm_free(&pm, pa) == exp);
		if (exp) {
			refusals++;
			check_report(pa, 1, exp);
		}
		break;
	case 5:
		op_free_run(r, kind);
		break;
	case 6:
		pa = pick_addr(r);
		len = rd(r, 2);
		len = kind & 0x80 ? len : (len % 512 + (kind >> 6 & 1)) * P;
		exp = m_release(pa, len);
		ASSERT(pmm_release(&pm, pa, len) == exp);
		break;
	default:
		pa = pick_addr(r);
		ASSERT(pmm_frame_state(&pm, pa) == m_state(pa));
		ASSERT(pmm_check(&pm));
		break;
	}
	check_counters();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = {data, size, 0};
	uint8_t flags = (uint8_t)rd(&r, 1);
	uint64_t off = (rd(&r, 1) % 64) * GiB, lo = NONE, hi = 0, ram_lo = NONE, ram_hi = 0;
	size_t nraw = (size_t)rd(&r, 1) % (MAX_RAW + 1), n, meta_size;
	void *meta;
	int k;

	for (size_t i = 0; i < nraw; i++)
		decode_entry(&r, off, &raw[i]);
	k = memmap_normalise(raw, nraw, map, MAX_MAP);
	ASSERT(k >= 0);
	n = (size_t)k;
	for (size_t i = 0; i < n; i++) {
		uint64_t b = map[i].base, e = b + map[i].length;

		if (map[i].type >= MEMMAP_USABLE && map[i].type <= MEMMAP_KERNEL)
			lo = MIN(lo, b), hi = MAX(hi, e); /* what a caller may release */
		if (memmap_type_is_ram(map[i].type))
			ram_lo = MIN(ram_lo, b), ram_hi = MAX(ram_hi, e);
	}

	meta_size = pmm_metadata_size(map, n);
	ASSERT(meta_size % P == 0);
	if (ram_hi == 0 || (hi == 0 && meta_size == 0)) {
		/* No RAM; or only firmware-owned RAM, which need not be tracked. */
		ASSERT(meta_size == 0);
		ASSERT(pmm_init(&pm, map, n, NULL, 0, &ops, &reports) == -ENOMEM);
		return 0;
	}
	ASSERT(meta_size > 0);
	ASSERT(pmm_init(&pm, map, n, NULL, 0, &ops, &reports) == -ENOSPC);
	if (meta_size > MAX_FRAMES / 4 + 4 * P) /* two bits per frame: too big a span */
		return 0;
	meta = malloc(meta_size);
	memset(meta, flags, meta_size);
	ASSERT(pmm_init(&pm, map, n, meta, meta_size, &ops, &reports) == 0);

	/* The span starts on a 1 GiB boundary and covers everything releasable. */
	ASSERT(pm.base_frame % (GiB / P) == 0);
	ASSERT(pm.base_frame * P >= ALIGN_DOWN(ram_lo, GiB));
	ASSERT(pm.base_frame * P <= MIN(lo, ram_hi));
	ASSERT(hi == 0 || (pm.base_frame + pm.nframes) * P >= hi);
	ASSERT((pm.base_frame + pm.nframes) * P <= ALIGN_UP(ram_hi, GiB));
	ASSERT(pm.nframes > 0);
	if (pm.nframes > MAX_FRAMES) {
		free(meta);
		return 0;
	}

	m.base = pm.base_frame;
	m.n = pm.nframes;
	m.managed = m.free = 0;
	m.lo = m.n;
	m.nvec = 0;
	memset(m.allocatable, 0, (m.n + 63) / 64 * 8);
	memset(m.freebm, 0, (m.n + 63) / 64 * 8);
	reports = refusals = 0;
	check_counters();
	ASSERT(pmm_check(&pm));
	ASSERT(pmm_alloc(&pm) == PADDR_INVALID);

	for (size_t i = 0; i < n; i++) {
		uint32_t t = map[i].type;

		if (t == MEMMAP_USABLE || (t == MEMMAP_BOOT_SERVICES && (flags & 1)) ||
		    (t == MEMMAP_LOADER && (flags & 2)) ||
		    (t == MEMMAP_ACPI_RECLAIM && (flags & 4))) {
			ASSERT(m_release(map[i].base, map[i].length) == 0);
			ASSERT(pmm_release(&pm, map[i].base, map[i].length) == 0);
		}
	}
	check_counters();
	ASSERT(pmm_check(&pm));

	r.rng = fuzz_seed(data, size);
	for (int i = 0; i < MAX_OPS; i++) {
		op(&r);
		if (i % 16 == 15)
			ASSERT(pmm_check(&pm));
	}
	ASSERT(pmm_check(&pm));

	/* Every frame (or a spread sample of a big span) agrees with the model. */
	for (uint64_t j = 0, step = m.n > 65536 ? m.n / 4096 + 1 : 1; j < m.n; j += step)
		ASSERT(pmm_frame_state(&pm, (m.base + j) * P) == m_state((m.base + j) * P));
	ASSERT(pmm_frame_state(&pm, (m.base + m.n) * P) == PMM_FRAME_OUTSIDE);

	/* Give everything back: all frees succeed and everything is free again. */
	while (m.nvec) {
		paddr_t pa = (m.base + m.vec[m.nvec - 1]) * P;
		int alt;

		ASSERT(m_free_run(pa, 1, &alt) == 0);
		ASSERT(pmm_free(&pm, pa) == 0);
	}
	check_counters();
	ASSERT(m.free == m.managed);
	ASSERT(pmm_check(&pm));
	free(meta);
	return 0;
}
