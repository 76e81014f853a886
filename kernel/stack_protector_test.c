/*
 * Tests of the stack protector (suite stackprot): the live canary's shape
 * and origin, a protected frame that holds it and returns normally, and
 * what a check costs (emulated TSC cycles under QEMU TCG: a ratio only).
 */
#include <arch/arch.h>
#include <kernel/boot.h>
#include <kernel/console.h>
#include <kernel/ktest.h>
#include <kernel/stack_protector.h>

KTEST(stackprot, canary_low_byte_zero_rest_nonzero)
{
	KEXPECT_EQ(t, __stack_chk_guard & 0xff, 0);
	KEXPECT(t, (__stack_chk_guard >> 8) != 0);
}

KTEST(stackprot, canary_is_drawn_from_loader_seed)
{
	KEXPECT_EQ(t, __stack_chk_guard, stack_protector_canary(boot_info->random_seed[2]));
}

KTEST(stackprot, canary_of_degenerate_seeds)
{
	uint64_t zero = stack_protector_canary(0), low = stack_protector_canary(0xff);

	KEXPECT_EQ(t, stack_protector_canary(0x0123456789abcdefull), 0x0123456789abcd00ull);
	KEXPECT(t, zero != 0 && (zero & 0xff) == 0);
	KEXPECT_EQ(t, low, zero);
}

#define BIG_FRAME 2048

/* True if a word in [from, to) equals the live canary (stack words, read in place). */
static bool frame_holds_canary(const void *from, const void *to)
{
	const volatile uint64_t *w = (const volatile uint64_t *)ALIGN_UP((uintptr_t)from, 8);

	for (; (const void *)w < to; w++)
		if (*w == __stack_chk_guard)
			return true;
	return false;
}

/*
 * A protected function with a big array: fills and sums it, and looks for
 * the canary between the array's end and the saved frame pointer, where
 * the protector puts it.
 */
static __attribute__((noinline)) uint64_t big_frame(uint8_t seed, bool *canary_found)
{
	uint8_t buf[BIG_FRAME];
	uint64_t sum = 0;

	for (size_t i = 0; i < BIG_FRAME; i++)
		buf[i] = (uint8_t)(seed + i);
	__asm__ volatile("" : : "r"(buf) : "memory"); /* buf stays in memory */
	for (size_t i = 0; i < BIG_FRAME; i++)
		sum += buf[i];
	*canary_found = frame_holds_canary(buf + BIG_FRAME, __builtin_frame_address(0));
	return sum;
}

KTEST(stackprot, protected_big_frame_returns_normally)
{
	uint64_t expect = 0;
	bool found = false;

	for (size_t i = 0; i < BIG_FRAME; i++)
		expect += (uint8_t)(7 + i);
	KEXPECT_EQ(t, big_frame(7, &found), expect);
	KEXPECT(t, found);
}

/* The same small body, protected and not: the difference is the check. */
#define SMALL_FRAME_BODY(x)                                                                        \
	char buf[64];                                                                              \
	for (int i = 0; i < 64; i += 8)                                                            \
		buf[i] = (char)((x) + i);                                                          \
	__asm__ volatile("" : : "r"(buf) : "memory");                                              \
	return (uint64_t)buf[(x)&56]

static __attribute__((noinline)) uint64_t small_protected(uint64_t x)
{
	SMALL_FRAME_BODY(x);
}

static __attribute__((noinline, no_stack_protector)) uint64_t small_unprotected(uint64_t x)
{
	SMALL_FRAME_BODY(x);
}

#define CALLS  1000
#define ROUNDS 51

static uint64_t samples[ROUNDS];

/* Median emulated cycles of CALLS calls of fn; *check gets their summed results. */
static uint64_t time_calls(uint64_t (*volatile fn)(uint64_t), uint64_t *check)
{
	*check = 0;
	for (size_t r = 0; r < ROUNDS; r++) {
		uint64_t t0 = arch_timestamp();

		for (uint64_t i = 0; i < CALLS; i++)
			*check += fn(i);
		samples[r] = arch_timestamp() - t0;
	}
	return ktest_median(samples, ROUNDS);
}

KTEST(stackprot, check_overhead_emulated)
{
	uint64_t sum_p, sum_u;
	uint64_t p = time_calls(small_protected, &sum_p);
	uint64_t u = time_calls(small_unprotected, &sum_u);

	KEXPECT_EQ(t, sum_p, sum_u);
	kprintf("# stackprot: emulated TSC cycles (QEMU TCG, not hardware), median of %d rounds "
		"of %d calls of a function with a 64-byte array, per call: protected %llu.%02llu, "
		"unprotected %llu.%02llu\n",
		ROUNDS, CALLS, (unsigned long long)(p / CALLS),
		(unsigned long long)(p % CALLS / 10), (unsigned long long)(u / CALLS),
		(unsigned long long)(u % CALLS / 10));
}
