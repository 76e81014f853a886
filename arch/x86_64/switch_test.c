/*
 * In-kernel smoke tests of the context switch (ktest=switch): the kernel's
 * build of arch/x86_64/switch.S on the real CPU, with contexts on kmalloc'd
 * 16 KiB buffers (guarded stacks and threads are built on top of it
 * elsewhere). Timings are emulated TSC cycles (QEMU TCG), ratios only.
 */
#include <arch/arch.h>
#include <arch/context.h>
#include <kernel/console.h>
#include <kernel/ktest.h>
#include <lib/fmt.h>
#include <lib/pattern.h>
#include <mm/kmalloc.h>
#include <mm/pmm_boot.h>

#define STACK_BYTES (16 * KiB)
#define ROUNDS	    10000
#define FILL_WORDS  128 /* 1 KiB pattern in each context's frame */
#define FLOOR_WORDS 512 /* 4 KiB pattern at the bottom of each buffer: never reached */
#define TIME_BATCH  100 /* round trips per timed batch */
#define TIME_RUNS   31

struct pingpong {
	struct arch_context *ctx;
	struct arch_context **main_slot; /* where the test saved itself: exit goes there */
	struct pingpong *peer;		 /* NULL: switch back to the test instead */
	uint64_t *stack;
	unsigned id;
	unsigned rounds; /* switches to make */
	unsigned rounds_done;
	bool exited;
};

/* Where an ended context saves itself; nothing resumes it. */
static struct arch_context *switch_ended;

/* What the contexts found wrong: counted, the first kept for the test's reason. */
static unsigned switch_errors;
static char switch_error[128];

/* Switch to the peer (or the test) self->rounds times, checking this frame's pattern each time. */
static void pingpong_entry(void *arg)
{
	struct pingpong *self = arg;
	uint64_t fill[FILL_WORDS];
	uint64_t seed = pattern_mix(self->id);

	pattern_fill(fill, FILL_WORDS, seed);
	for (unsigned i = 0; i < self->rounds; i++) {
		size_t k;

		arch_context_switch(&self->ctx, self->peer ? self->peer->ctx : *self->main_slot);
		k = pattern_first_changed(fill, FILL_WORDS, seed);
		if (k != FILL_WORDS && !switch_errors++)
			fmt_snprintf(switch_error, sizeof(switch_error),
				     "context %u round %u: stack pattern changed at word %zu",
				     self->id, i, k);
		self->rounds_done = i + 1;
	}
}

/* Runs when pingpong_entry returns: back to the test for good. */
static void pingpong_exit(void *arg)
{
	struct pingpong *self = arg;

	self->exited = true;
	arch_context_switch(&switch_ended, *self->main_slot);
}

/* A context on a fresh 16 KiB buffer whose bottom 4 KiB hold a pattern; false if no memory. */
static bool pingpong_setup(struct pingpong *p, unsigned id, struct pingpong *peer, unsigned rounds,
			   struct arch_context **main_slot)
{
	*p = (struct pingpong){.id = id, .peer = peer, .rounds = rounds, .main_slot = main_slot};
	p->stack = kmalloc(STACK_BYTES);
	if (!p->stack)
		return false;
	pattern_fill(p->stack, FLOOR_WORDS, ~(uint64_t)id);
	p->ctx =
	    arch_context_init((char *)p->stack + STACK_BYTES, pingpong_entry, p, pingpong_exit);
	return true;
}

/*
 * Free frames with the heap trimmed: taken before a test and compared after
 * it, so the stacks it borrowed are back (later tests count free frames).
 */
/* Free frames once the heap has given back its empty chunks. */
static uint64_t switch_free_frames(void)
{
	kmalloc_trim();
	return pmm_kernel_free_frames();
}

/* The context ran all its rounds, ended through exit, and its buffer's floor is intact. */
static bool pingpong_finished(const struct pingpong *p)
{
	return p->exited && p->rounds_done == p->rounds &&
	       pattern_first_changed(p->stack, FLOOR_WORDS, ~(uint64_t)p->id) == FLOOR_WORDS;
}

/*
 * Two contexts on kmalloc'd stacks switch to each other 10,000 times each
 * and check a pattern in their frames after every switch; the test's own
 * frame keeps one too.
 */
KTEST(switch, switch_pingpong_keeps_stacks)
{
	static struct pingpong a, b;
	struct arch_context *main_ctx;
	uint64_t fill[FILL_WORDS], t0, cycles, frames = switch_free_frames();

	switch_errors = 0;
	pattern_fill(fill, FILL_WORDS, 0x5157);
	KEXPECT(t, pingpong_setup(&a, 1, &b, ROUNDS, &main_ctx));
	KEXPECT(t, pingpong_setup(&b, 2, &a, ROUNDS, &main_ctx));
	t0 = arch_timestamp();
	/* Comes back when a has ended: 1 + ROUNDS + ROUNDS + 1 switches. */
	arch_context_switch(&main_ctx, a.ctx);
	cycles = arch_timestamp() - t0;
	/* b waits in its last switch: let it end too. */
	arch_context_switch(&main_ctx, b.ctx);
	if (switch_errors) {
		ktest_fail(t, __FILE__, __LINE__, "%s (%u errors)", switch_error, switch_errors);
		return;
	}
	KEXPECT(t, pingpong_finished(&a));
	KEXPECT(t, pingpong_finished(&b));
	KEXPECT_EQ(t, pattern_first_changed(fill, FILL_WORDS, 0x5157), FILL_WORDS);
	kfree(a.stack);
	kfree(b.stack);
	KEXPECT_EQ(t, switch_free_frames(), frames);
	kprintf("# switch: %d switches with a 1 KiB pattern check after each: %llu emulated TSC "
		"cycles per switch (QEMU TCG, not hardware)\n",
		2 * ROUNDS + 2, (unsigned long long)(cycles / (2 * ROUNDS + 2)));
}

/* The median cost of a bare switch: round trips to a context that switches straight back. */
KTEST(switch, switch_round_trip_timing_emulated)
{
	static struct pingpong c;
	struct arch_context *main_ctx;
	uint64_t samples[TIME_RUNS], frames = switch_free_frames();

	switch_errors = 0;
	KEXPECT(t, pingpong_setup(&c, 3, NULL, TIME_RUNS * TIME_BATCH, &main_ctx));
	for (unsigned r = 0; r < TIME_RUNS; r++) {
		uint64_t t0 = arch_timestamp();

		for (unsigned i = 0; i < TIME_BATCH; i++)
			arch_context_switch(&main_ctx, c.ctx);
		samples[r] = arch_timestamp() - t0;
	}
	arch_context_switch(&main_ctx, c.ctx); /* its loop ends: it exits back here */
	KEXPECT_EQ(t, switch_errors, 0);
	KEXPECT(t, pingpong_finished(&c));
	kfree(c.stack);
	KEXPECT_EQ(t, switch_free_frames(), frames);
	kprintf("# switch: median of %d batches of %d round trips: %llu emulated TSC cycles per "
		"switch (QEMU TCG, not hardware)\n",
		TIME_RUNS, TIME_BATCH,
		(unsigned long long)(ktest_median(samples, TIME_RUNS) / (2 * TIME_BATCH)));
}
