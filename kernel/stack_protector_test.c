/*
 * Tests of the stack protector (suite stackprot): the per-CPU area that
 * holds the canary, the live canary's shape and origin, a protected frame
 * that holds it and returns normally, under the boot canary and under a
 * switched one, fresh canaries for threads, and what a check costs
 * (emulated TSC cycles under QEMU TCG: a ratio only).
 */
#include <arch/arch.h>
#include <arch/irq.h>
#include <arch/percpu.h>
#include <kernel/boot.h>
#include <kernel/console.h>
#include <kernel/ktest.h>
#include <kernel/stack_protector.h>
#include <kernel/thread.h>

/* The canary protected frames check now: %gs:PERCPU_CANARY_OFFSET. */
static uint64_t live_canary(void)
{
	return *(volatile uint64_t *)&arch_percpu()->stack_canary;
}

/* Threads run on every CPU: the area GS names is this CPU's, read with no switch in between. */
KTEST(stackprot, percpu_area_is_this_cpus)
{
	unsigned long flags = arch_irq_save();
	struct percpu *cpu = arch_percpu(), *of = arch_percpu_of(cpu->cpu);
	uint64_t live = live_canary(), current = stack_protector_current();
	void *running = arch_percpu_current();

	arch_irq_restore(flags);
	KEXPECT_EQ(t, (uintptr_t)cpu, (uintptr_t)of);
	KEXPECT_EQ(t, (uintptr_t)cpu->self, (uintptr_t)cpu);
	KEXPECT_EQ(t, (uintptr_t)running, (uintptr_t)thread_current());
	KEXPECT_EQ(t, live, current);
	KEXPECT_EQ(t, live, thread_current()->canary); /* the running thread's own */
	KEXPECT_EQ(t, (uintptr_t)arch_percpu_of(0), (uintptr_t)&percpu_boot);
}

KTEST(stackprot, canary_low_byte_zero_rest_nonzero)
{
	KEXPECT_EQ(t, live_canary() & 0xff, 0);
	KEXPECT(t, (live_canary() >> 8) != 0);
}

KTEST(stackprot, canary_is_drawn_from_loader_seed)
{
	uint64_t boot = stack_protector_boot_canary();

	KEXPECT_EQ(t, boot, stack_protector_canary(boot_info->random_seed[2]));
	KEXPECT(t, boot != STACK_PROTECTOR_BOOT_CANARY);
}

/* The case's own thread's canary, seen from a thread of its own. */
static long report_live_canary(void *out)
{
	*(volatile uint64_t *)out = live_canary();
	return (long)(thread_current()->canary == live_canary());
}

KTEST(stackprot, each_thread_runs_under_its_own_canary)
{
	uint64_t mine = live_canary(), theirs = 0;
	struct thread *other = thread_create(report_live_canary, &theirs, "canary-peer");
	long same = 0;

	KEXPECT_EQ(t, mine, thread_current()->canary);
	KEXPECT(t, mine != stack_protector_boot_canary()); /* ktest cases run on threads */
	KEXPECT(t, other != NULL);
	thread_join(other, &same);
	KEXPECT_EQ(t, same, 1);
	KEXPECT(t, theirs != 0 && theirs != mine);
	KEXPECT_EQ(t, live_canary(), mine); /* switched back to ours */
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
		if (*w == live_canary())
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

struct switched_run {
	uint64_t sum;	      /* big_frame's result */
	bool found;	      /* its frame held the switched canary */
	uint64_t live_inside; /* the live canary while switched */
	uint64_t live_after;  /* the live canary after switching back */
};

/*
 * The canary run_switched switches to. It is only ever read from memory
 * and passed straight to stack_protector_switch(), so no callee-saved
 * register holds it when big_frame pushes them into the frame it scans:
 * only the canary slot can hold it.
 */
static volatile uint64_t switch_to;

/*
 * Run big_frame under switch_to, then switch back. Unprotected: this frame
 * is open across both switches. big_frame's frame is set up and checked
 * under switch_to, so it returns normally, and it holds switch_to only if
 * the compiler reads the per-CPU slot: with a global guard it would hold
 * the global value and found would be false.
 */
static __attribute__((noinline, no_stack_protector)) void run_switched(struct switched_run *r)
{
	uint64_t saved = stack_protector_current();

	stack_protector_switch(switch_to);
	r->live_inside = live_canary();
	r->sum = big_frame(7, &r->found);
	stack_protector_switch(saved);
	r->live_after = live_canary();
}

KTEST(stackprot, protected_frame_checks_switched_canary)
{
	uint64_t boot = live_canary(), expect = 0;
	struct switched_run r = {0};

	for (size_t i = 0; i < BIG_FRAME; i++)
		expect += (uint8_t)(7 + i);
	switch_to = stack_protector_new_canary();
	KEXPECT(t, switch_to != boot);
	run_switched(&r);
	KEXPECT_EQ(t, r.live_inside, switch_to);
	KEXPECT_EQ(t, r.sum, expect);
	KEXPECT(t, r.found);
	KEXPECT_EQ(t, r.live_after, boot);
}

KTEST(stackprot, new_canaries_differ_low_byte_zero)
{
	uint64_t c[16];

	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		c[i] = stack_protector_new_canary();
		KEXPECT_EQ(t, c[i] & 0xff, 0);
		KEXPECT(t, c[i] != 0);
		KEXPECT(t, c[i] != live_canary());
		for (size_t j = 0; j < i; j++)
			KEXPECT(t, c[i] != c[j]);
	}
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
