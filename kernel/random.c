/*
 * The kernel's pseudo-random generator (include/kernel/random.h):
 * xoshiro256** (Blackman and Vigna, 2018) with its state filled by
 * splitmix64 from one 64-bit boot seed, so even a poor seed gives a
 * well-mixed, non-zero state. Not for cryptography.
 */
#include <kernel/random.h>
#include <lib/spinlock.h>

static uint64_t state[4];
static bool seeded;
static struct spinlock random_lock = SPINLOCK_INIT_NAMED("random_lock");

/* splitmix64: one step of a Weyl sequence through a bijective mixer. */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* One xoshiro256** step; the caller holds random_lock. */
static uint64_t next(void)
{
	uint64_t result = rotl(state[1] * 5, 7) * 9, t = state[1] << 17;

	state[2] ^= state[0];
	state[3] ^= state[1];
	state[1] ^= state[2];
	state[0] ^= state[3];
	state[2] ^= t;
	state[3] = rotl(state[3], 45);
	return result;
}

void random_init(uint64_t seed)
{
	unsigned long irq = spin_lock_irqsave(&random_lock);

	for (int i = 0; i < 4; i++)
		state[i] = splitmix64(&seed);
	seeded = true;
	spin_unlock_irqrestore(&random_lock, irq);
}

uint64_t random_u64(void)
{
	unsigned long irq = spin_lock_irqsave(&random_lock);
	uint64_t v;

	if (!seeded) {
		uint64_t fixed = 0;

		for (int i = 0; i < 4; i++)
			state[i] = splitmix64(&fixed);
		seeded = true;
	}
	v = next();
	spin_unlock_irqrestore(&random_lock, irq);
	return v;
}

/*
 * Rejection sampling: values in the incomplete last block of n are drawn
 * again, so every result in [0, n) is equally likely.
 */
uint64_t random_below(uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;

	do
		v = random_u64();
	while (v >= limit);
	return v % n;
}
