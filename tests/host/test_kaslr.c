/*
 * Host tests for mm/kaslr.c: slot counts and bases in hand-made and real
 * (include/mm/layout.h) windows, the entropy estimate against log2, unbiased
 * draws with scripted and random inputs, the health check, the mixer, and
 * physical placement against a brute-force enumeration of every position.
 */
#include <mm/kaslr.h>
#include <mm/layout.h>

#include <math.h>

#include "check.h"

#define P		  PAGE_SIZE
#define TWO63		  (1ull << 63)
#define E(b, l, t)	  ((struct memmap_entry){(b), (l), (t), 0})
#define R(s, sz, ext, al) ((struct kaslr_region){(s), (sz), (ext), (al)})

/* The offset of the end of the region placed at slot in r, from the window start. */
static uint64_t end_offset(const struct kaslr_region *r, uint64_t slot)
{
	return kaslr_base(r, slot) - r->start + r->extent;
}

/* True if slot's base is aligned and [base, base + extent) lies inside the window. */
static int slot_inside(const struct kaslr_region *r, uint64_t slot)
{
	uint64_t base = kaslr_base(r, slot);

	return IS_ALIGNED(base, r->align) && LAYOUT_IN_WINDOW(base, r->extent, r->start, r->size);
}

TEST(kaslr_slots_counts_aligned_bases)
{
	struct kaslr_region a = R(0x10000, 16 * P, 4 * P, P);
	struct kaslr_region b = R(0x10000, 16 * P, 4 * P, 2 * P);
	struct kaslr_region c = R(0x40000, 10 * P, 3 * P, 4 * P);
	struct kaslr_region d = R(2 * MiB, 64 * MiB, 6 * MiB, 2 * MiB);

	CHECK_EQ(kaslr_slots(&a), 13);
	CHECK_EQ(kaslr_slots(&b), 7);
	CHECK_EQ(kaslr_slots(&c), 2); /* bases 0x40000 and 0x44000; 0x48000 would overrun */
	CHECK_EQ(kaslr_slots(&d), 30);
	CHECK_EQ(kaslr_base(&a, 0), 0x10000);
	CHECK_EQ(kaslr_base(&a, 12), 0x10000 + 12 * P);
	CHECK_EQ(kaslr_base(&b, 3), 0x10000 + 6 * P);
	CHECK_EQ(kaslr_base(&c, 1), 0x44000);
	CHECK_EQ(kaslr_base(&d, 29), 60 * MiB);
}

TEST(kaslr_slots_extent_equal_to_size_gives_one)
{
	struct kaslr_region a = R(0x200000, 8 * P, 8 * P, P);
	struct kaslr_region b = R(LAYOUT_MMIO_START, LAYOUT_MMIO_SIZE, LAYOUT_MMIO_SIZE, 2 * MiB);

	CHECK_EQ(kaslr_slots(&a), 1);
	CHECK_EQ(kaslr_base(&a, 0), 0x200000);
	CHECK_EQ(kaslr_slots(&b), 1);
	CHECK_EQ(kaslr_base(&b, 0), LAYOUT_MMIO_START);
}

TEST(kaslr_slots_extent_larger_than_size_gives_zero)
{
	struct kaslr_region a = R(0x200000, 8 * P, 8 * P + 1, P);
	struct kaslr_region b = R(0x200000, 8 * P, 9 * P, P);
	struct kaslr_region c = R(LAYOUT_HEAP_START, LAYOUT_HEAP_SIZE, UINT64_MAX, P);
	struct kaslr_region d = R(LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE,
				  LAYOUT_DIRECT_MAP_SIZE + 2 * MiB, LAYOUT_DIRECT_MAP_ALIGN);

	CHECK_EQ(kaslr_slots(&a), 0);
	CHECK_EQ(kaslr_slots(&b), 0);
	CHECK_EQ(kaslr_slots(&c), 0);
	CHECK_EQ(kaslr_slots(&d), 0);
}

TEST(kaslr_base_last_slot_ends_at_window_end)
{
	/* (size - extent) a multiple of align: the last region ends exactly at the end. */
	static const struct kaslr_region exact[] = {
	    R(0x10000, 16 * P, 4 * P, P),
	    R(0x10000, 16 * P, 4 * P, 2 * P),
	    R(0, 1 * GiB, 3 * MiB, MiB),
	    R(LAYOUT_MMIO_START, LAYOUT_MMIO_SIZE, LAYOUT_MMIO_EXTENT, P),
	    R(LAYOUT_HEAP_START, LAYOUT_HEAP_SIZE, LAYOUT_HEAP_EXTENT, LAYOUT_HEAP_ALIGN),
	};

	for (size_t i = 0; i < ARRAY_SIZE(exact); i++) {
		uint64_t last = kaslr_slots(&exact[i]) - 1;

		CHECK(kaslr_slots(&exact[i]) > 0);
		CHECK(slot_inside(&exact[i], last));
		CHECK_EQ(end_offset(&exact[i], last), exact[i].size);
	}

	/* Random aligned windows: the last slot fits, one more step would not. */
	rng_state = 0x243f6a8885a308d3ull;
	for (int i = 0; i < 10000; i++) {
		uint64_t align = P << (rng() % 10);
		uint64_t size = (1 + rng() % 5000) * P;
		uint64_t extent = 1 + rng() % size;
		struct kaslr_region r = R(ALIGN_DOWN(rng() >> 1, align), size, extent, align);
		uint64_t n = kaslr_slots(&r);

		CHECK(n > 0);
		CHECK(slot_inside(&r, 0));
		CHECK(slot_inside(&r, n - 1));
		CHECK(end_offset(&r, n - 1) <= size);
		CHECK(end_offset(&r, n - 1) + align > size);
		CHECK_EQ(n, (size - extent) / align + 1);
		if ((size - extent) % align == 0)
			CHECK_EQ(end_offset(&r, n - 1), size);
	}
}

TEST(kaslr_slots_kernel_window_has_30_bits)
{
	/* The loader places a 96 KiB image at any 4 KiB step of the 16 TiB window. */
	struct kaslr_region r = R(LAYOUT_KERNEL_START, LAYOUT_KERNEL_SIZE, 96 * KiB, P);
	uint64_t n = kaslr_slots(&r);

	CHECK_EQ(n, (1ull << 32) - 24 + 1);
	CHECK(n >= 1ull << 30);
	CHECK(kaslr_bits_x10(n) >= 300);
	CHECK_EQ(kaslr_bits_x10(n), 319);
	CHECK_EQ(end_offset(&r, n - 1), LAYOUT_KERNEL_SIZE);
}

TEST(kaslr_slots_direct_map_1tib_has_24_bits)
{
	uint64_t ram_top = 1ull << 40;
	struct kaslr_region r =
	    R(LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE,
	      ALIGN_UP(ram_top, LAYOUT_DIRECT_MAP_ALIGN), LAYOUT_DIRECT_MAP_ALIGN);
	uint64_t n = kaslr_slots(&r);

	CHECK_EQ(n, (1ull << 25) - (1ull << 19) + 1);
	CHECK(n >= 1ull << 24);
	CHECK(kaslr_bits_x10(n) >= 240);
	CHECK_EQ(kaslr_bits_x10(n), 249);
}

/* Slots of r, checked against LAYOUT_KASLR_MIN_BITS both ways the code counts them. */
static int has_min_bits(const struct kaslr_region *r)
{
	uint64_t n = kaslr_slots(r);

	return n >= 1ull << LAYOUT_KASLR_MIN_BITS &&
	       kaslr_bits_x10(n) >= 10 * LAYOUT_KASLR_MIN_BITS &&
	       LAYOUT_KASLR_ENOUGH(r->size, r->extent, r->align);
}

TEST(kaslr_every_region_has_24_bits)
{
	/* As efi-loader/layout.c builds them; the direct map up to 32 TiB of RAM. */
	static const struct kaslr_region regions[] = {
	    R(LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE, 256 * MiB, LAYOUT_DIRECT_MAP_ALIGN),
	    R(LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE, 16ull << 40,
	      LAYOUT_DIRECT_MAP_ALIGN),
	    R(LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE, 32ull << 40,
	      LAYOUT_DIRECT_MAP_ALIGN),
	    R(LAYOUT_KERNEL_START, LAYOUT_KERNEL_SIZE, 64 * MiB, P),
	    R(LAYOUT_HEAP_START, LAYOUT_HEAP_SIZE, LAYOUT_HEAP_EXTENT, LAYOUT_HEAP_ALIGN),
	    R(LAYOUT_STACK_START, LAYOUT_STACK_SIZE, LAYOUT_STACK_EXTENT, P),
	    R(LAYOUT_MMIO_START, LAYOUT_MMIO_SIZE, LAYOUT_MMIO_EXTENT, P),
	};
	struct kaslr_region over =
	    R(LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE,
	      (32ull << 40) + 2 * LAYOUT_DIRECT_MAP_ALIGN, LAYOUT_DIRECT_MAP_ALIGN);

	for (size_t i = 0; i < ARRAY_SIZE(regions); i++)
		CHECK(has_min_bits(&regions[i]));
	/* Past 32 TiB of RAM the direct map falls short: the loader warns. */
	CHECK(!has_min_bits(&over));
}

TEST(kaslr_slots_heap_window_has_24_5_bits)
{
	/* 4 TiB kept free in 16 TiB, 512 KiB steps: (12 TiB / 512 KiB) + 1 = 24 * 2^20 + 1. */
	struct kaslr_region r =
	    R(LAYOUT_HEAP_START, LAYOUT_HEAP_SIZE, LAYOUT_HEAP_EXTENT, LAYOUT_HEAP_ALIGN);
	uint64_t n = kaslr_slots(&r);

	CHECK_EQ(n, 24 * (1ull << 20) + 1);
	CHECK_EQ(kaslr_bits_x10(n), 245);
	CHECK_EQ(end_offset(&r, n - 1), LAYOUT_HEAP_SIZE);
}

TEST(kaslr_layout_regions_every_slot_in_window)
{
	/* The regions exactly as the loader builds them (efi-loader/layout.c). */
	static const struct kaslr_region regions[] = {
	    R(LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE, 1ull << 40, LAYOUT_DIRECT_MAP_ALIGN),
	    R(LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE, 8 * GiB, LAYOUT_DIRECT_MAP_ALIGN),
	    R(LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE, LAYOUT_DIRECT_MAP_SIZE,
	      LAYOUT_DIRECT_MAP_ALIGN),
	    R(LAYOUT_KERNEL_START, LAYOUT_KERNEL_SIZE, 96 * KiB, P),
	    R(LAYOUT_KERNEL_START, LAYOUT_KERNEL_SIZE, 4 * MiB + 12 * KiB, P),
	    R(LAYOUT_HEAP_START, LAYOUT_HEAP_SIZE, LAYOUT_HEAP_EXTENT, LAYOUT_HEAP_ALIGN),
	    R(LAYOUT_STACK_START, LAYOUT_STACK_SIZE, LAYOUT_STACK_EXTENT, P),
	    R(LAYOUT_MMIO_START, LAYOUT_MMIO_SIZE, LAYOUT_MMIO_EXTENT, P),
	};

	rng_state = 0x13198a2e03707344ull;
	for (size_t i = 0; i < ARRAY_SIZE(regions); i++) {
		const struct kaslr_region *r = &regions[i];
		uint64_t n = kaslr_slots(r);

		CHECK(n > 0);
		/* Bases are start + k * align, so the ends and random slots cover all. */
		CHECK_EQ(kaslr_base(r, 0), r->start);
		CHECK(slot_inside(r, 0));
		CHECK(slot_inside(r, n - 1));
		CHECK(end_offset(r, n - 1) + r->align > r->size);
		for (int k = 0; k < 20000; k++) {
			uint64_t s = rng() % n;

			CHECK(slot_inside(r, s));
			CHECK_EQ(kaslr_base(r, s) - r->start, s * r->align);
		}
	}
	/* Smaller windows with the real alignments: every slot, one by one. */
	for (uint64_t extent = P; extent <= 64 * MiB; extent += 3 * MiB + 5 * P) {
		struct kaslr_region r = R(LAYOUT_HEAP_START, 64 * MiB, extent, LAYOUT_HEAP_ALIGN);
		uint64_t n = kaslr_slots(&r);

		CHECK(n > 0);
		for (uint64_t s = 0; s < n; s++)
			CHECK(slot_inside(&r, s));
		CHECK(end_offset(&r, n - 1) + r.align > r.size);
	}
}

TEST(kaslr_bits_x10_powers_of_two)
{
	for (unsigned int k = 0; k < 64; k++) {
		CHECK_EQ(kaslr_bits_x10(1ull << k), 10 * k);
		if (k >= 4) {
			/* 10 * log2(1 +- 2^-k) stays within (-1, 1) from k = 4 on. */
			CHECK_EQ(kaslr_bits_x10((1ull << k) - 1), 10 * k - 1);
			CHECK_EQ(kaslr_bits_x10((1ull << k) + 1), 10 * k);
		}
	}
}

TEST(kaslr_bits_x10_known_values)
{
	CHECK_EQ(kaslr_bits_x10(0), 0);
	CHECK_EQ(kaslr_bits_x10(1), 0);
	CHECK_EQ(kaslr_bits_x10(2), 10);
	CHECK_EQ(kaslr_bits_x10(3), 15);  /* log2 3 = 1.585 */
	CHECK_EQ(kaslr_bits_x10(10), 33); /* 3.322 */
	CHECK_EQ(kaslr_bits_x10(1000), 99);
	CHECK_EQ(kaslr_bits_x10(1000000), 199);
	CHECK_EQ(kaslr_bits_x10(TWO63 + 1), 630);
	CHECK_EQ(kaslr_bits_x10(TWO63 + (TWO63 >> 1)), 635); /* 63.585 */
	CHECK_EQ(kaslr_bits_x10(UINT64_MAX - 1), 639);
	CHECK_EQ(kaslr_bits_x10(UINT64_MAX), 639);
}

TEST(kaslr_bits_x10_matches_log2)
{
	int compared = 0;

	rng_state = 0xa4093822299f31d0ull;
	for (int i = 0; i < 200000; i++) {
		/* Every bit length equally often, so small n are swept as well. */
		unsigned int len = 1 + (unsigned int)(rng() % 64);
		uint64_t n = (rng() >> (64 - len)) | (1ull << (len - 1));
		double ref = 10.0 * log2((double)n);

		/* Too close to a boundary for double precision to say which side. */
		if (fabs(ref - nearbyint(ref)) < 1e-9)
			continue;
		CHECK_EQ(kaslr_bits_x10(n), (unsigned int)floor(ref));
		compared++;
	}
	CHECK(compared > 190000);
	/* Every n below 2^16, exhaustively. */
	for (uint64_t n = 2; n < 1u << 16; n++) {
		double ref = 10.0 * log2((double)n);

		if (fabs(ref - nearbyint(ref)) < 1e-9)
			continue;
		CHECK_EQ(kaslr_bits_x10(n), (unsigned int)floor(ref));
	}
}

/* floor(log2(n^10)) exactly, with n^10 as a multi-word integer: the reference. */
static unsigned int exact_bits_x10(uint64_t n)
{
	uint32_t w[21] = {1}; /* 672 bits: n^10 < 2^640 */

	for (int i = 0; i < 10; i++) {
		uint64_t carry = 0;

		for (size_t j = 0; j < ARRAY_SIZE(w); j++) {
			unsigned __int128 t = (unsigned __int128)w[j] * n + carry;
			w[j] = (uint32_t)t;
			carry = (uint64_t)(t >> 32);
		}
	}
	for (size_t j = ARRAY_SIZE(w); j-- > 0;)
		if (w[j])
			return (unsigned int)(j * 32 + 31 - (unsigned int)__builtin_clz(w[j]));
	return 0;
}

TEST(kaslr_bits_x10_exact_at_tenth_boundaries)
{
	/*
	 * The first n reaching each tenth of a bit, and its neighbours, against
	 * exact integer arithmetic. Below 2^24 (k < 240: the smallest entropy the
	 * loader's regions have) the Q32 arithmetic has ample headroom for every
	 * boundary; for n above about 2^26 it can read a tenth low within ~1e-8
	 * of a boundary, so those are left to the sweep above.
	 */
	for (unsigned int k = 1; k < 240; k++) {
		uint64_t n0 = (uint64_t)ceil(pow(2.0, k / 10.0));

		for (uint64_t n = n0 > 3 ? n0 - 2 : 2; n <= n0 + 2; n++)
			CHECK_EQ(kaslr_bits_x10(n), exact_bits_x10(n));
	}
}

/* A draw from rng(). */
static uint64_t rng_draw(void *ctx)
{
	(void)ctx;
	return rng();
}

/* A draw function that plays back a fixed sequence and counts what it gave. */
struct script {
	const uint64_t *v;
	size_t n, used;
};

static uint64_t script_draw(void *ctx)
{
	struct script *s = ctx;

	/* Past the end: count it (the test sees used > n) and give something valid. */
	return s->used < s->n ? s->v[s->used++] : (s->used++, 0);
}

/* kaslr_uniform(n) over the draws v[0..count): the result and how many draws it took. */
#define CHECK_SCRIPT(nn, expect, expect_used, ...)                                                 \
	do {                                                                                       \
		static const uint64_t v_[] = {__VA_ARGS__};                                        \
		struct script s_ = {v_, ARRAY_SIZE(v_), 0};                                        \
		CHECK(kaslr_uniform((nn), script_draw, &s_) == (uint64_t)(expect));                \
		CHECK_EQ(s_.used, (expect_used));                                                  \
	} while (0)

TEST(kaslr_uniform_always_below_n)
{
	static const uint64_t ns[] = {1,
				      2,
				      3,
				      5,
				      10,
				      1000,
				      (1ull << 32) - 1,
				      (1ull << 32) + 1,
				      TWO63 - 1,
				      TWO63,
				      TWO63 + 1,
				      UINT64_MAX / 3 * 2,
				      UINT64_MAX - 1,
				      UINT64_MAX};

	rng_state = 0x082efa98ec4e6c89ull;
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++)
		for (int k = 0; k < 5000; k++)
			CHECK(kaslr_uniform(ns[i], rng_draw, NULL) < ns[i]);
	for (int i = 0; i < 20000; i++) {
		uint64_t n = rng() >> (rng() % 64);

		if (n == 0)
			n = 1;
		CHECK(kaslr_uniform(n, rng_draw, NULL) < n);
	}
	for (int k = 0; k < 100; k++)
		CHECK_EQ(kaslr_uniform(1, rng_draw, NULL), 0);
}

TEST(kaslr_uniform_rejects_draws_above_limit)
{
	/*
	 * n = 2^63 + 1: 2^64 holds only one whole copy of [0, n), so exactly
	 * draws <= 2^63 are accepted (as themselves) and any draw >= n is redrawn.
	 */
	CHECK_SCRIPT(TWO63 + 1, TWO63, 3, UINT64_MAX, TWO63 + 1, TWO63);
	CHECK_SCRIPT(TWO63 + 1, 5, 2, TWO63 + 1, 5);
	CHECK_SCRIPT(TWO63 + 1, 0, 1, 0);
	CHECK_SCRIPT(TWO63 + 1, 12345, 4, UINT64_MAX, UINT64_MAX - 1, TWO63 + 2, 12345);
	/* n = 2^64 - 1: only the one draw 2^64 - 1 is redrawn. */
	CHECK_SCRIPT(UINT64_MAX, UINT64_MAX - 1, 2, UINT64_MAX, UINT64_MAX - 1);
	CHECK_SCRIPT(UINT64_MAX, 0, 1, 0);
	/* n = 3: 2^64 = 1 (mod 3), so only 2^64 - 1 is redrawn. */
	CHECK_SCRIPT(3, 1, 2, UINT64_MAX, 7);
	CHECK_SCRIPT(3, 2, 1, UINT64_MAX - 1);
	/* n = 10: 2^64 = 6 (mod 10): the top six values are redrawn. */
	CHECK_SCRIPT(10, 9, 7, UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 2, UINT64_MAX - 3,
		     UINT64_MAX - 4, UINT64_MAX - 5, UINT64_MAX - 6);
	/* A power of two divides 2^64: nothing is ever redrawn. */
	CHECK_SCRIPT(1, 0, 1, UINT64_MAX);
	CHECK_SCRIPT(2, 1, 1, UINT64_MAX);
	CHECK_SCRIPT(TWO63, TWO63 - 1, 1, UINT64_MAX);
	CHECK_SCRIPT(1ull << 20, 0xfffff, 1, UINT64_MAX);
}

TEST(kaslr_uniform_limit_matches_whole_copies)
{
	/*
	 * For any n, accepted draws are exactly [0, n * floor(2^64 / n)): the
	 * last value of that range is taken at once, the first past it redrawn.
	 */
	rng_state = 0xbe5466cf34e90c6cull;
	for (int i = 0; i < 20000; i++) {
		uint64_t n = rng() >> (rng() % 64);
		unsigned __int128 top = (unsigned __int128)1 << 64;

		if (n == 0)
			n = 1;
		if (i < 64)
			n = TWO63 + 1 + (uint64_t)i * 0x0123456789abcdefull; /* above 2^63 */
		unsigned __int128 bound = top / n * n;
		uint64_t last = (uint64_t)(bound - 1), after = (uint64_t)bound;
		uint64_t v[2] = {after, 0}, w[1] = {last};
		struct script s = {v, 2, 0}, t = {w, 1, 0};

		CHECK(kaslr_uniform(n, script_draw, &t) == last % n);
		CHECK_EQ(t.used, 1);
		if (bound == top)
			continue; /* a power of two: no draw is redrawn */
		v[1] = rng();
		CHECK(kaslr_uniform(n, script_draw, &s) == v[1] % n || v[1] >= bound);
		CHECK(s.used >= 2);
	}
}

TEST(kaslr_uniform_buckets_within_5_percent)
{
	enum { N = 10, DRAWS = 100000 };
	unsigned int count[N] = {0};
	double chi2 = 0, mean = (double)DRAWS / N;

	rng_state = 0x452821e638d01377ull;
	for (int i = 0; i < DRAWS; i++) {
		uint64_t x = kaslr_uniform(N, rng_draw, NULL);

		CHECK(x < N);
		count[x]++;
	}
	for (int i = 0; i < N; i++) {
		CHECK(count[i] >= mean * 0.95 && count[i] <= mean * 1.05);
		chi2 += (count[i] - mean) * (count[i] - mean) / mean;
	}
	/* 27.88 is the 99.9th percentile of chi-square with 9 degrees of freedom. */
	CHECK(chi2 < 27.88);
}

TEST(kaslr_samples_healthy_rejects_stuck_values)
{
	uint64_t zero_first[] = {0, 0x1234, 0x5678};
	uint64_t zero_last[] = {0x1234, 0x5678, 0};
	uint64_t ones[] = {0x1234, UINT64_MAX, 0x5678};
	uint64_t ones_last[] = {0x1234, 0x5678, 0x9abc, UINT64_MAX};
	uint64_t pair[] = {0xdeadbeefcafef00dull, 0xdeadbeefcafef00dull};
	uint64_t apart[] = {0x1111, 0x2222, 0x3333, 0x4444, 0x1111};
	uint64_t single_zero[] = {0};
	uint64_t single_ones[] = {UINT64_MAX};

	CHECK(!kaslr_samples_healthy(zero_first, ARRAY_SIZE(zero_first)));
	CHECK(!kaslr_samples_healthy(zero_last, ARRAY_SIZE(zero_last)));
	CHECK(!kaslr_samples_healthy(ones, ARRAY_SIZE(ones)));
	CHECK(!kaslr_samples_healthy(ones_last, ARRAY_SIZE(ones_last)));
	CHECK(!kaslr_samples_healthy(pair, ARRAY_SIZE(pair)));
	CHECK(!kaslr_samples_healthy(apart, ARRAY_SIZE(apart)));
	CHECK(!kaslr_samples_healthy(single_zero, 1));
	CHECK(!kaslr_samples_healthy(single_ones, 1));
	/* Only the first n samples are looked at. */
	CHECK(kaslr_samples_healthy(apart, 4));
}

TEST(kaslr_samples_healthy_accepts_distinct_random)
{
	uint64_t s[64];

	rng_state = 0xc0ac29b7c97c50ddull;
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < ARRAY_SIZE(s); i++)
			s[i] = rng(); /* xorshift64 never repeats or gives 0 within its period */
		CHECK(kaslr_samples_healthy(s, ARRAY_SIZE(s)));
		CHECK(kaslr_samples_healthy(s, 1));
	}
	CHECK(kaslr_samples_healthy(s, 0));
	s[0] = 1;
	s[1] = UINT64_MAX - 1;
	CHECK(kaslr_samples_healthy(s, 2));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

TEST(kaslr_mix_no_collisions)
{
	enum { COUNT = 100000 };
	static uint64_t out[COUNT];
	static const uint64_t starts[] = {0, 0x3f84d5b5b5470917ull, UINT64_MAX - COUNT / 2};

	for (size_t s = 0; s < ARRAY_SIZE(starts); s++) {
		for (uint64_t i = 0; i < COUNT; i++)
			out[i] = kaslr_mix(starts[s] + i); /* the last start wraps through 0 */
		qsort(out, COUNT, sizeof(out[0]), cmp_u64);
		for (size_t i = 1; i < COUNT; i++)
			CHECK(out[i] != out[i - 1]);
	}
}

TEST(kaslr_mix_every_bit_flip_changes_output)
{
	enum { TRIALS = 2000 };
	static unsigned int flips[64][64]; /* [input bit][output bit] */

	memset(flips, 0, sizeof(flips));
	rng_state = 0x9216d5d98979fb1bull;
	for (int t = 0; t < TRIALS; t++) {
		uint64_t x = t < 2 ? (t ? UINT64_MAX : 0) : rng(), y = kaslr_mix(x);

		for (int b = 0; b < 64; b++) {
			uint64_t d = y ^ kaslr_mix(x ^ (1ull << b));

			CHECK(d != 0);
			for (int o = 0; o < 64; o++)
				flips[b][o] += (d >> o) & 1;
		}
	}
	/* Every input bit flips every output bit about half the time. */
	for (int b = 0; b < 64; b++)
		for (int o = 0; o < 64; o++)
			CHECK(flips[b][o] > TRIALS * 2 / 5 && flips[b][o] < TRIALS * 3 / 5);
}

/* A normalised map with every kind of entry the loader sees. */
static const struct memmap_entry mixed_map[] = {
    E(0, 0x9f000, MEMMAP_USABLE),		     /* below 1 MiB */
    E(0x9f000, 0x61000, MEMMAP_RESERVED),	     /* [0x9f000, 1 MiB) */
    E(1 * MiB, 1 * MiB, MEMMAP_BOOT_SERVICES),	     /* [1, 2) MiB */
    E(2 * MiB, 16 * P, MEMMAP_USABLE),		     /* 16 pages */
    E(2 * MiB + 16 * P, 4 * P, MEMMAP_LOADER),	     /* */
    E(2 * MiB + 20 * P, 8 * P, MEMMAP_USABLE),	     /* 8 pages */
    E(2 * MiB + 28 * P, 64 * P, MEMMAP_ACPI_NVS),    /* */
    E(3 * MiB, 2 * MiB, MEMMAP_BOOT_SERVICES),	     /* [3, 5) MiB */
    E(5 * MiB, 3 * P, MEMMAP_USABLE),		     /* too small for 4 pages */
    E(5 * MiB + 3 * P, 32 * P, MEMMAP_RUNTIME),	     /* */
    E(6 * MiB, 8 * MiB, MEMMAP_ACPI_RECLAIM),	     /* */
    E(4 * GiB, 4 * GiB, MEMMAP_USABLE),		     /* [4, 8) GiB */
    E(8 * GiB, 1 * GiB, MEMMAP_BOOT_SERVICES),	     /* */
    E(0xfd00000000ull, 0x300000000ull, MEMMAP_MMIO), /* */
};

TEST(kaslr_phys_slots_counts_only_usable)
{
	const struct memmap_entry *m = mixed_map;
	size_t n = ARRAY_SIZE(mixed_map);
	uint64_t high = (4 * GiB - 4 * P) / P + 1;

	/* 13 + 5 + 0 + high with min 1 MiB: the boot-services entries add nothing. */
	CHECK_EQ(kaslr_phys_slots(m, n, 4 * P, 1 * MiB), 13 + 5 + high);
	/* Min 0 adds the 0x9f pages below 1 MiB: 0x9f - 4 + 1 positions. */
	CHECK_EQ(kaslr_phys_slots(m, n, 4 * P, 0), 0x9c + 13 + 5 + high);
	CHECK_EQ(kaslr_phys_slots(m, n, 3 * P, 1 * MiB), 14 + 6 + 1 + (4 * GiB - 3 * P) / P + 1);
	/* 16 MiB: only the 4 GiB entry. */
	CHECK_EQ(kaslr_phys_slots(m, n, 16 * MiB, 1 * MiB), (4 * GiB - 16 * MiB) / P + 1);
	CHECK_EQ(kaslr_phys_base(m, n, 16 * MiB, 1 * MiB, 0), 4 * GiB);
	CHECK_EQ(kaslr_phys_base(m, n, 16 * MiB, 1 * MiB, (4 * GiB - 16 * MiB) / P),
		 8 * GiB - 16 * MiB);
	/* Slots run through the usable entries in map order. */
	CHECK_EQ(kaslr_phys_base(m, n, 4 * P, 1 * MiB, 0), 2 * MiB);
	CHECK_EQ(kaslr_phys_base(m, n, 4 * P, 1 * MiB, 12), 2 * MiB + 12 * P);
	CHECK_EQ(kaslr_phys_base(m, n, 4 * P, 1 * MiB, 13), 2 * MiB + 20 * P);
	CHECK_EQ(kaslr_phys_base(m, n, 4 * P, 1 * MiB, 17), 2 * MiB + 24 * P);
	CHECK_EQ(kaslr_phys_base(m, n, 4 * P, 1 * MiB, 18), 4 * GiB);
	/* A map of only boot-services, loader and reserved memory has no slot. */
	CHECK_EQ(kaslr_phys_slots(m + 1, 2, P, 0), 0);
	CHECK_EQ(kaslr_phys_slots(m + 6, 2, P, 0), 0);
	CHECK_EQ(kaslr_phys_slots(m + 9, 2, P, 0), 0);
	CHECK_EQ(kaslr_phys_slots(m + 12, 2, P, 0), 0);
	CHECK_EQ(kaslr_phys_base(m + 12, 2, P, 0, 0), PADDR_INVALID);
	CHECK_EQ(kaslr_phys_slots(m, 0, P, 0), 0);
	CHECK_EQ(kaslr_phys_base(m, 0, P, 0, 0), PADDR_INVALID);
}

TEST(kaslr_phys_min_addr_clips_entry)
{
	struct memmap_entry m[] = {E(0, 64 * P, MEMMAP_USABLE), E(64 * P, 16 * P, MEMMAP_RESERVED),
				   E(80 * P, 16 * P, MEMMAP_USABLE)};

	CHECK_EQ(kaslr_phys_slots(m, 3, 4 * P, 0), 61 + 13);
	CHECK_EQ(kaslr_phys_slots(m, 3, 4 * P, 16 * P), 45 + 13);
	CHECK_EQ(kaslr_phys_base(m, 3, 4 * P, 16 * P, 0), 16 * P);
	CHECK_EQ(kaslr_phys_base(m, 3, 4 * P, 16 * P, 44), 60 * P);
	CHECK_EQ(kaslr_phys_base(m, 3, 4 * P, 16 * P, 45), 80 * P);
	/* An unaligned minimum rounds up: nothing may start below it. */
	CHECK_EQ(kaslr_phys_slots(m, 3, 4 * P, 16 * P + 1), 44 + 13);
	CHECK_EQ(kaslr_phys_base(m, 3, 4 * P, 16 * P + 1, 0), 17 * P);
	CHECK_EQ(kaslr_phys_slots(m, 3, 4 * P, 17 * P - 1), 44 + 13);
	/* The clipped tail of the first entry: exactly one spot, then none. */
	CHECK_EQ(kaslr_phys_slots(m, 3, 4 * P, 60 * P), 1 + 13);
	CHECK_EQ(kaslr_phys_base(m, 3, 4 * P, 60 * P, 0), 60 * P);
	CHECK_EQ(kaslr_phys_slots(m, 3, 4 * P, 61 * P), 13);
	CHECK_EQ(kaslr_phys_base(m, 3, 4 * P, 61 * P, 0), 80 * P);
	/* A minimum inside the reserved gap or past everything. */
	CHECK_EQ(kaslr_phys_slots(m, 3, 4 * P, 70 * P), 13);
	CHECK_EQ(kaslr_phys_slots(m, 3, 4 * P, 84 * P), 9);
	CHECK_EQ(kaslr_phys_base(m, 3, 4 * P, 84 * P, 0), 84 * P);
	CHECK_EQ(kaslr_phys_slots(m, 3, 4 * P, 93 * P), 0);
	CHECK_EQ(kaslr_phys_slots(m, 3, 4 * P, 96 * P), 0);
	CHECK_EQ(kaslr_phys_slots(m, 3, 4 * P, 1ull << 40), 0);
	CHECK_EQ(kaslr_phys_base(m, 3, 4 * P, 1ull << 40, 0), PADDR_INVALID);
}

TEST(kaslr_phys_span_larger_than_every_entry)
{
	const struct memmap_entry *m = mixed_map;
	size_t n = ARRAY_SIZE(mixed_map);
	struct memmap_entry small[] = {E(0, 64 * P, MEMMAP_USABLE), E(64 * P, P, MEMMAP_RESERVED),
				       E(65 * P, 64 * P, MEMMAP_USABLE)};

	CHECK_EQ(kaslr_phys_slots(m, n, 4 * GiB + P, 0), 0);
	CHECK_EQ(kaslr_phys_base(m, n, 4 * GiB + P, 0, 0), PADDR_INVALID);
	CHECK_EQ(kaslr_phys_slots(m, n, 4 * GiB, 0), 1);
	CHECK_EQ(kaslr_phys_base(m, n, 4 * GiB, 0, 0), 4 * GiB);
	/* Two usable entries with one page between: a span never bridges the gap. */
	CHECK_EQ(kaslr_phys_slots(small, 3, 64 * P + 1, 0), 0);
	CHECK_EQ(kaslr_phys_slots(small, 3, 65 * P, 0), 0);
	CHECK_EQ(kaslr_phys_slots(small, 3, 64 * P, 0), 2);
	CHECK_EQ(kaslr_phys_base(small, 3, 64 * P, 0, 1), 65 * P);
	/* An unaligned span needs its partial last page inside the entry too. */
	CHECK_EQ(kaslr_phys_slots(small, 3, 63 * P + 1, 0), 2);
	CHECK_EQ(kaslr_phys_slots(small, 3, 63 * P, 0), 4);
}

/* A random normalised map of up to cap entries starting at first; returns the count. */
static size_t random_normalised_map(struct memmap_entry *m, size_t cap, uint64_t first)
{
	static const uint32_t types[] = {MEMMAP_USABLE,	       MEMMAP_USABLE, MEMMAP_USABLE,
					 MEMMAP_BOOT_SERVICES, MEMMAP_LOADER, MEMMAP_RESERVED,
					 MEMMAP_ACPI_RECLAIM,  MEMMAP_KERNEL};
	uint64_t a = first;
	size_t n = 0, want = 1 + rng() % cap;

	while (n < want) {
		uint64_t gap = rng() % 3 == 0 ? (rng() % 4) * P : 0;
		uint64_t len = (1 + rng() % 24) * P;
		uint32_t t = types[rng() % ARRAY_SIZE(types)];

		a += gap;
		if (n > 0 && gap == 0 && m[n - 1].type == t) {
			m[n - 1].length += len; /* adjacent and same type: merged */
		} else {
			m[n++] = E(a, len, t);
		}
		a += len;
	}
	return n;
}

/* True if [base, base + span) lies inside one usable entry. */
static int in_usable(const struct memmap_entry *m, size_t n, uint64_t base, uint64_t span)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].type == MEMMAP_USABLE && base >= m[i].base && span <= m[i].length &&
		    base - m[i].base <= m[i].length - span)
			return 1;
	return 0;
}

TEST(kaslr_phys_base_every_slot_matches_brute_force)
{
	static struct memmap_entry m[24];
	static uint64_t expect[4096];

	rng_state = 0x38d01377be5466cfull;
	for (int round = 0; round < 400; round++) {
		uint64_t first = (rng() % 3 == 0) ? (rng() % 4096) * P : 0;
		size_t n = random_normalised_map(m, ARRAY_SIZE(m), first);
		uint64_t end = m[n - 1].base + m[n - 1].length;
		uint64_t span = rng() % 2 ? (1 + rng() % 12) * P : 1 + rng() % (12 * P);
		uint64_t min = rng() % 2 ? 0 : first + rng() % (end - first + 2 * P);
		uint64_t total = kaslr_phys_slots(m, n, span, min), count = 0;

		/* Every page-aligned position, in address order. */
		for (uint64_t a = ALIGN_DOWN(first, P); a < end; a += P)
			if (a >= min && in_usable(m, n, a, span)) {
				CHECK(count < ARRAY_SIZE(expect));
				expect[count++] = a;
			}
		CHECK_EQ(total, count);
		/* Slot i is the i-th position: every position is hit exactly once. */
		for (uint64_t s = 0; s < total; s++) {
			uint64_t base = kaslr_phys_base(m, n, span, min, s);

			CHECK(IS_ALIGNED(base, P));
			CHECK(base >= min);
			CHECK(in_usable(m, n, base, span));
			CHECK_EQ(base, expect[s]);
		}
		CHECK_EQ(kaslr_phys_base(m, n, span, min, total), PADDR_INVALID);
		CHECK_EQ(kaslr_phys_base(m, n, span, min, total + 1000), PADDR_INVALID);
		CHECK_EQ(kaslr_phys_base(m, n, span, min, UINT64_MAX), PADDR_INVALID);
	}
}

TEST(kaslr_phys_base_out_of_range_is_invalid)
{
	const struct memmap_entry *m = mixed_map;
	size_t n = ARRAY_SIZE(mixed_map);
	uint64_t total = kaslr_phys_slots(m, n, 4 * P, 1 * MiB);

	CHECK_EQ(kaslr_phys_base(m, n, 4 * P, 1 * MiB, total - 1), 8 * GiB - 4 * P);
	CHECK_EQ(kaslr_phys_base(m, n, 4 * P, 1 * MiB, total), PADDR_INVALID);
	CHECK_EQ(kaslr_phys_base(m, n, 4 * P, 1 * MiB, total + 1), PADDR_INVALID);
	CHECK_EQ(kaslr_phys_base(m, n, 4 * P, 1 * MiB, UINT64_MAX), PADDR_INVALID);
}

int main(void)
{
	RUN(kaslr_slots_counts_aligned_bases);
	RUN(kaslr_slots_extent_equal_to_size_gives_one);
	RUN(kaslr_slots_extent_larger_than_size_gives_zero);
	RUN(kaslr_base_last_slot_ends_at_window_end);
	RUN(kaslr_slots_kernel_window_has_30_bits);
	RUN(kaslr_slots_direct_map_1tib_has_24_bits);
	RUN(kaslr_every_region_has_24_bits);
	RUN(kaslr_slots_heap_window_has_24_5_bits);
	RUN(kaslr_layout_regions_every_slot_in_window);
	RUN(kaslr_bits_x10_powers_of_two);
	RUN(kaslr_bits_x10_known_values);
	RUN(kaslr_bits_x10_matches_log2);
	RUN(kaslr_bits_x10_exact_at_tenth_boundaries);
	RUN(kaslr_uniform_always_below_n);
	RUN(kaslr_uniform_rejects_draws_above_limit);
	RUN(kaslr_uniform_limit_matches_whole_copies);
	RUN(kaslr_uniform_buckets_within_5_percent);
	RUN(kaslr_samples_healthy_rejects_stuck_values);
	RUN(kaslr_samples_healthy_accepts_distinct_random);
	RUN(kaslr_mix_no_collisions);
	RUN(kaslr_mix_every_bit_flip_changes_output);
	RUN(kaslr_phys_slots_counts_only_usable);
	RUN(kaslr_phys_min_addr_clips_entry);
	RUN(kaslr_phys_span_larger_than_every_entry);
	RUN(kaslr_phys_base_every_slot_matches_brute_force);
	RUN(kaslr_phys_base_out_of_range_is_invalid);
	return check_done();
}
