/*
 * What the libFuzzer targets share: a trap-on-failure assertion and a
 * reader that turns the input into little-endian integers.
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
