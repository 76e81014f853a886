/*
 * KASLR arithmetic (see include/mm/kaslr.h). No randomness lives here: the
 * loader passes its draws in, so every function is deterministic and
 * tested on the host.
 */
#include <lib/types.h>
#include <mm/kaslr.h>

uint64_t kaslr_slots(const struct kaslr_region *r)
{
	if (r->extent > r->size || r->align == 0)
		return 0;
	return (r->size - r->extent) / r->align + 1;
}

uint64_t kaslr_base(const struct kaslr_region *r, uint64_t slot)
{
	return r->start + slot * r->align;
}

uint64_t kaslr_uniform(uint64_t n, uint64_t (*draw)(void *ctx), void *ctx)
{
	/* Values below limit are a whole number of copies of [0, n). */
	uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
	uint64_t x;

	do {
		x = draw(ctx);
	} while (x > limit);
	return x % n;
}

unsigned int kaslr_bits_x10(uint64_t n)
{
	unsigned int whole = 0, tenths = 0;

	if (n <= 1)
		return 0;
	while (n >> whole > 1)
		whole++;
	/* n / 2^whole in [1, 2) as a Q32 fixed-point number. */
	uint64_t m = whole >= 32 ? n >> (whole - 32) : n << (32 - whole);
	/* Raise to the 10th power, renormalising, to count tenths of a bit. */
	uint64_t p = 1ull << 32;
	for (int i = 0; i < 10; i++) {
		p = (uint64_t)(((unsigned __int128)p * m) >> 32);
		while (p >= (2ull << 32)) {
			p >>= 1;
			tenths++;
		}
	}
	return whole * 10 + tenths;
}

bool kaslr_samples_healthy(const uint64_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == 0 || s[i] == UINT64_MAX)
			return false;
		for (size_t j = 0; j < i; j++)
			if (s[i] == s[j])
				return false;
	}
	return true;
}

uint64_t kaslr_mix(uint64_t x)
{
	/* The MurmurHash3 64-bit finaliser: invertible, full avalanche. */
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Slots inside one usable entry for span bytes at or above min_addr. */
static uint64_t entry_slots(const struct memmap_entry *e, uint64_t span, uint64_t min_addr)
{
	uint64_t start = MAX(e->base, ALIGN_UP(min_addr, PAGE_SIZE));
	uint64_t end = e->base + e->length;

	if (e->type != MEMMAP_USABLE || start >= end || end - start < span)
		return 0;
	return (end - start - span) / PAGE_SIZE + 1;
}

uint64_t kaslr_phys_slots(const struct memmap_entry *map, size_t n, uint64_t span,
			  uint64_t min_addr)
{
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += entry_slots(&map[i], span, min_addr);
	return total;
}

uint64_t kaslr_phys_base(const struct memmap_entry *map, size_t n, uint64_t span, uint64_t min_addr,
			 uint64_t slot)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t k = entry_slots(&map[i], span, min_addr);
		if (slot < k)
			return MAX(map[i].base, ALIGN_UP(min_addr, PAGE_SIZE)) + slot * PAGE_SIZE;
		slot -= k;
	}
	return PADDR_INVALID;
}
