/*
 * Test patterns: memory filled with words derived from a seed, so a later
 * check finds the first word something else overwrote. Header only and
 * portable: kernel ktests and host tests share it.
 */
#pragma once

#include <lib/types.h>

/* splitmix64's finaliser: distinct inputs give unrelated words. */
static inline uint64_t pattern_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Fill n words at w with the pattern of seed. */
static inline void pattern_fill(uint64_t *w, size_t n, uint64_t seed)
{
	for (size_t k = 0; k < n; k++)
		w[k] = pattern_mix(seed ^ k);
}

/* The index of the first of n words at w that differs from pattern_fill(seed), or n. */
static inline size_t pattern_first_changed(const uint64_t *w, size_t n, uint64_t seed)
{
	for (size_t k = 0; k < n; k++)
		if (w[k] != pattern_mix(seed ^ k))
			return k;
	return n;
}
