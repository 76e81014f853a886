/*
 * What the libFuzzer targets share: a trap-on-failure assertion, a
 * reader that turns the input into little-endian integers, and the seed
 * for what it reads past the input's end.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define ASSERT(c)                                                                                  \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

/*
 * The input as a byte stream. Once it runs out, bytes come from an
 * xorshift seeded by a hash of the whole input if rng is non-zero (so short
 * inputs still drive a long, reproducible operation sequence), else zeroes.
 */
struct reader {
	const uint8_t *p;
	size_t n;
	uint64_t rng;
};

static inline uint8_t rd_byte(struct reader *r)
{
	if (r->n) {
		r->n--;
		return *r->p++;
	}
	if (!r->rng)
		return 0;
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return (uint8_t)(r->rng >> 32);
}

/* Read a little-endian integer of the given width. */
static inline uint64_t rd(struct reader *r, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)rd_byte(r) << (8 * i);
	return v;
}

/* FNV-1a of the input, never 0: a reader's seed for the bytes after its end. */
static inline uint64_t fuzz_seed(const uint8_t *data, size_t size)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	return h | 1;
}
