/*
 * KASLR bookkeeping, portable: how many equally likely bases a region has
 * in its window, which base a slot number means, unbiased draws, entropy in
 * bits, and the health check for hardware random samples. The loader draws
 * the numbers; this file only does the arithmetic, so host tests cover it.
 */
#pragma once

#include <lib/types.h>
#include <mm/memmap.h>

/* A region to place: base in [start, start + size - extent], aligned to align. */
struct kaslr_region {
	uint64_t start; /* the window, half-open [start, start + size) */
	uint64_t size;
	uint64_t extent; /* bytes the region may use above its base */
	uint64_t align;	 /* a power of two >= 4 KiB */
};

/* Number of possible bases; 0 if the extent does not fit the window. */
uint64_t kaslr_slots(const struct kaslr_region *r);

/* The base for slot (0 <= slot < kaslr_slots(r)). */
uint64_t kaslr_base(const struct kaslr_region *r, uint64_t slot);

/*
 * A uniformly distributed integer in [0, n), n > 0, from draw(ctx) (64
 * random bits per call). Rejection sampling, so no modulo bias.
 */
uint64_t kaslr_uniform(uint64_t n, uint64_t (*draw)(void *ctx), void *ctx);

/* floor(10 * log2(n)): the entropy of n equally likely choices, in tenths of a bit. */
unsigned int kaslr_bits_x10(uint64_t n);

/*
 * True if n hardware samples look random: none is 0 or all ones (the
 * failure mode of some AMD RDRAND parts) and no two are equal.
 */
bool kaslr_samples_healthy(const uint64_t *s, size_t n);

/* A bijective 64-bit mixer (every input bit affects every output bit). */
uint64_t kaslr_mix(uint64_t x);

/*
 * Physical placement: the number of 4 KiB-aligned bases at or above
 * min_addr where span bytes fit inside one MEMMAP_USABLE entry of a
 * normalised map, and the base for slot number slot.
 */
uint64_t kaslr_phys_slots(const struct memmap_entry *map, size_t n, uint64_t span,
			  uint64_t min_addr);
uint64_t kaslr_phys_base(const struct memmap_entry *map, size_t n, uint64_t span, uint64_t min_addr,
			 uint64_t slot);
