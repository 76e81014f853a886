/*
 * Host tests of the context switch: arch/x86_64/switch.S as the host
 * builds it (-DAERIE_HOST: it also keeps MXCSR and the x87 control word)
 * and as the kernel builds it (tests/switch_kernel.S), each test on both.
 * Three contexts (main and two on malloc'd stacks) go round 10,000 times;
 * every switch goes through a helper that loads distinct patterns into all
 * six callee-saved registers and reads them back after the switch returns,
 * and each context checks a pattern on its own stack, and (host build) its
 * own FP control words, every time it runs again.
 *
 * ASan: the switch is told to ASan with __sanitizer_start_switch_fiber /
 * __sanitizer_finish_switch_fiber around every switch (and a NULL fake
 * stack for a context that ends), so ASan knows which stack is current and
 * the test runs fully instrumented rather than without the sanitizer.
 */
#define _GNU_SOURCE /* fork, rlimit */

#include "check.h"

#include "../switch_kernel.h"

#include <lib/pattern.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#include <sanitizer/common_interface_defs.h>
#endif
#endif

#define ROUNDS	    10000
#define STACK_BYTES (256 * 1024) /* ASan frames are large */
#define FILL_WORDS  512		 /* a 4 KiB pattern in each context's frame */
#define FLOOR_WORDS 512		 /* a 4 KiB pattern at the bottom of each malloc'd stack */
#define NREGS	    6		 /* rbx, rbp, r12, r13, r14, r15 */
#define NFIBERS	    3

/* A flow of control: main's own, or one on a malloc'd stack. */
struct fiber {
	struct arch_context *ctx;
	unsigned id;
	struct fiber *next; /* the one it switches to in the round */
	uint64_t *stack;    /* NULL for main */
	bool exited;
	void *exit_arg;
	/* For ASan: this fiber's stack bounds and its saved fake stack. */
	const void *bottom;
	size_t size;
	void *fake_stack;
};

/* One build of the switch; the tests run on each. */
struct variant {
	void (*sw)(struct arch_context **save, struct arch_context *load);
	struct arch_context *(*init)(void *stack_top, void (*entry)(void *arg), void *arg,
				     void (*exit)(void *arg));
	bool keeps_fp; /* MXCSR and the x87 control word survive a switch */
};

static const struct variant host_build = {arch_context_switch, arch_context_init, true};
static const struct variant kernel_build = {arch_context_switch_kernel, arch_context_init_kernel,
					    false};
static const struct variant *v = &host_build;

static struct fiber fibers[NFIBERS];
static struct fiber *switching_from; /* whose bounds the resumed side records */
/*
 * Where an ending context saves itself: not a local, because ending tells
 * ASan to free that context's fake stack, where locals may live.
 */
static struct arch_context *ended;

/* What the fibers found wrong: counted, the first kept (they cannot CHECK and return). */
static unsigned fiber_errors;
static char fiber_error[256];

__attribute__((format(printf, 1, 2))) static void fiber_fail(const char *fmt, ...)
{
	__builtin_va_list ap;

	if (fiber_errors++)
		return;
	__builtin_va_start(ap, fmt);
	vsnprintf(fiber_error, sizeof(fiber_error), fmt, ap);
	__builtin_va_end(ap);
}

/* ---- switching, told to ASan --------------------------------------------------- */

static void before_switch(struct fiber *from, struct fiber *to, bool ending)
{
	switching_from = from;
#ifdef HAVE_ASAN
	__sanitizer_start_switch_fiber(ending ? NULL : &from->fake_stack, to->bottom, to->size);
#endif
}

static void after_switch(struct fiber *self)
{
#ifdef HAVE_ASAN
	__sanitizer_finish_switch_fiber(self->fake_stack, &switching_from->bottom,
					&switching_from->size);
#endif
}

/*
 * switch_with_regs(save, load, in, out, sw): load rbx, rbp, r12-r15 from
 * in[], call sw(save, load), and when it returns store the six
 * registers in out[]. In assembly because C cannot hold values in chosen
 * callee-saved registers across a call; the caller's own values of those
 * registers are kept on the stack around it.
 */
void switch_with_regs(struct arch_context **save, struct arch_context *load, const uint64_t *in,
		      uint64_t *out,
		      void (*sw)(struct arch_context **save, struct arch_context *load));
__asm__(".text\n"
	".p2align 4\n"
	".type switch_with_regs, @function\n"
	"switch_with_regs:\n"
	"	push %rbp\n"
	"	push %rbx\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	push %r15\n"
	"	push %rcx\n" /* out: caller-saved, so kept here; rsp is now 16-aligned */
	"	mov 0(%rdx), %rbx\n"
	"	mov 8(%rdx), %rbp\n"
	"	mov 16(%rdx), %r12\n"
	"	mov 24(%rdx), %r13\n"
	"	mov 32(%rdx), %r14\n"
	"	mov 40(%rdx), %r15\n"
	"	call *%r8\n"
	"	pop %rcx\n"
	"	mov %rbx, 0(%rcx)\n"
	"	mov %rbp, 8(%rcx)\n"
	"	mov %r12, 16(%rcx)\n"
	"	mov %r13, 24(%rcx)\n"
	"	mov %r14, 32(%rcx)\n"
	"	mov %r15, 40(%rcx)\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbx\n"
	"	pop %rbp\n"
	"	ret\n"
	".size switch_with_regs, . - switch_with_regs\n");

/* Switch from self to self->next in round i; check the registers came back. */
static void checked_switch(struct fiber *self, unsigned i)
{
	uint64_t in[NREGS], out[NREGS];

	for (unsigned r = 0; r < NREGS; r++)
		in[r] = pattern_mix((uint64_t)self->id << 40 | (uint64_t)i << 8 | r);
	before_switch(self, self->next, false);
	switch_with_regs(&self->ctx, self->next->ctx, in, out, v->sw);
	after_switch(self);
	for (unsigned r = 0; r < NREGS; r++)
		if (out[r] != in[r])
			fiber_fail(
			    "fiber %u round %u: callee-saved register %u is %#llx, not %#llx",
			    self->id, i, r, (unsigned long long)out[r], (unsigned long long)in[r]);
}

/* ---- per-context state that must survive ------------------------------------- */

/* The FP control words of a context: rounding mode and masks differ per fiber. */
struct fp_control {
	uint32_t mxcsr;
	uint16_t fcw;
};

static struct fp_control fp_get(void)
{
	struct fp_control c;

	__asm__ volatile("stmxcsr %0; fnstcw %1" : "=m"(c.mxcsr), "=m"(c.fcw));
	return c;
}

static void fp_set(struct fp_control c)
{
	__asm__ volatile("ldmxcsr %0; fldcw %1" : : "m"(c.mxcsr), "m"(c.fcw));
}

/* Fiber id's control words: the default masks, rounding control = id (bits 13-14, 10-11). */
static struct fp_control fp_for(unsigned id)
{
	return (struct fp_control){0x1f80 | (id & 3) << 13, (uint16_t)(0x037f | (id & 3) << 10)};
}

static void check_fp(unsigned id, unsigned i)
{
	struct fp_control c = fp_get(), want = fp_for(id);

	if (c.mxcsr != want.mxcsr || c.fcw != want.fcw)
		fiber_fail("fiber %u round %u: MXCSR %#x x87 CW %#x, not %#x %#x", id, i, c.mxcsr,
			   c.fcw, want.mxcsr, want.fcw);
}

/* The round every context runs: switch on, then check what must not have changed. */
static void run_rounds(struct fiber *self)
{
	uint64_t fill[FILL_WORDS];
	uint64_t seed = pattern_mix(self->id);

	pattern_fill(fill, FILL_WORDS, seed);
	if (v->keeps_fp)
		fp_set(fp_for(self->id));
	for (unsigned i = 0; i < ROUNDS; i++) {
		size_t k;

		checked_switch(self, i);
		k = pattern_first_changed(fill, FILL_WORDS, seed);
		if (k != FILL_WORDS)
			fiber_fail("fiber %u round %u: its stack pattern changed at word %zu",
				   self->id, i, k);
		if (v->keeps_fp)
			check_fp(self->id, i);
	}
}

static void fiber_entry(void *arg)
{
	struct fiber *self = arg;

	after_switch(self);
	run_rounds(self);
}

/* Runs when fiber_entry returns: record it, then leave for main for good. */
static void fiber_exit(void *arg)
{
	struct fiber *self = arg;

	self->exited = true;
	self->exit_arg = arg;
	before_switch(self, &fibers[0], true);
	v->sw(&ended, fibers[0].ctx);
	abort(); /* nothing resumes a context that has ended */
}

static void fiber_start(struct fiber *f, unsigned id, struct fiber *next)
{
	f->id = id;
	f->next = next;
	f->stack = malloc(STACK_BYTES);
	f->bottom = f->stack;
	f->size = STACK_BYTES;
	pattern_fill(f->stack, FLOOR_WORDS, pattern_mix(~(uint64_t)id));
	f->ctx = v->init((char *)f->stack + STACK_BYTES, fiber_entry, f, fiber_exit);
}

/* Main and two fibers go round ROUNDS times, then each fiber returns from its entry. */
static void three_contexts_keep_registers_stacks_and_fp_control(void)
{
	struct fp_control saved = fp_get();
	struct fiber *m = &fibers[0];

	fiber_errors = 0;
	memset(fibers, 0, sizeof(fibers));
	m->id = 0;
	m->next = &fibers[1];
	fiber_start(&fibers[1], 1, &fibers[2]);
	fiber_start(&fibers[2], 2, m);
	run_rounds(m);
	fp_set(saved);
	/* One more switch to each: its round loop ends, entry returns, exit comes back here. */
	for (unsigned f = 1; f < NFIBERS; f++) {
		before_switch(m, &fibers[f], false);
		v->sw(&m->ctx, fibers[f].ctx);
		after_switch(m);
	}
	CHECK_STR(fiber_errors ? fiber_error : "", "");
	for (unsigned f = 1; f < NFIBERS; f++) {
		CHECK(fibers[f].exited);
		CHECK(fibers[f].exit_arg == &fibers[f]);
		CHECK_EQ(
		    pattern_first_changed(fibers[f].stack, FLOOR_WORDS, pattern_mix(~(uint64_t)f)),
		    FLOOR_WORDS);
		free(fibers[f].stack);
	}
}

/* ---- the first frame --------------------------------------------------------- */

static struct fiber solo_main, solo;
static uint64_t solo_entry_rbp, solo_entry_saved_rbp;
static int solo_exit_calls;

static void solo_entry(void *arg)
{
	uint64_t *fp = __builtin_frame_address(0);

	after_switch(&solo);
	solo_entry_rbp = (uint64_t)fp;
	solo_entry_saved_rbp = fp[0];
	*(int *)arg += 1;
}

static void solo_exit(void *arg)
{
	solo_exit_calls = *(int *)arg;
	before_switch(&solo, &solo_main, true);
	v->sw(&ended, solo_main.ctx);
	abort();
}

/* entry(arg) runs with an aligned stack and a zero caller frame; its return calls exit(arg). */
static void init_calls_entry_then_exit(void)
{
	int calls = 0;

	solo.stack = malloc(STACK_BYTES);
	solo.bottom = solo.stack;
	solo.size = STACK_BYTES;
	solo.ctx = v->init((char *)solo.stack + STACK_BYTES, solo_entry, &calls, solo_exit);
	before_switch(&solo_main, &solo, false);
	v->sw(&solo_main.ctx, solo.ctx);
	after_switch(&solo_main);
	free(solo.stack);
	CHECK_EQ(calls, 1);
	CHECK_EQ(solo_exit_calls, 1);
	CHECK_EQ(solo_entry_rbp % 16, 0);
	CHECK_EQ(solo_entry_saved_rbp, 0);
}

/* The initial frame stays within ARCH_CONTEXT_INIT_BYTES below an unaligned top. */
static void init_writes_only_its_frame(void)
{
	unsigned char buf[512];
	size_t top = 400 + 3;
	uintptr_t ctx;

	memset(buf, 0xa5, sizeof(buf));
	ctx = (uintptr_t)v->init(buf + top, solo_entry, NULL, solo_exit);
	CHECK(ctx >= (uintptr_t)(buf + top - ARCH_CONTEXT_INIT_BYTES));
	CHECK(ctx < (uintptr_t)(buf + top));
	CHECK_EQ(ctx % 8, 0);
	for (size_t k = 0; k < sizeof(buf); k++)
		if (k < top - ARCH_CONTEXT_INIT_BYTES || k >= top)
			CHECK_EQ(buf[k], 0xa5);
}

static void returning_exit(void *arg)
{
}

/* An exit function that returns ends in ud2 (SIGILL), never a return into nothing. */
static void exit_that_returns_faults(void)
{
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		struct rlimit none = {0, 0};
		static uint64_t stack[4096];
		struct arch_context *here, *ctx;

		setrlimit(RLIMIT_CORE, &none);
		ctx = v->init(stack + 4096, returning_exit, NULL, returning_exit);
		v->sw(&here, ctx);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), SIGILL);
}

/* Each test as switch_<test>_host and switch_<test>_kernel, for the two builds. */
#define BOTH_BUILDS(test)                                                                          \
	TEST(switch_##test##_host)                                                                 \
	{                                                                                          \
		v = &host_build;                                                                   \
		test();                                                                            \
	}                                                                                          \
	TEST(switch_##test##_kernel)                                                               \
	{                                                                                          \
		v = &kernel_build;                                                                 \
		test();                                                                            \
	}

BOTH_BUILDS(three_contexts_keep_registers_stacks_and_fp_control)
BOTH_BUILDS(init_calls_entry_then_exit)
BOTH_BUILDS(init_writes_only_its_frame)
BOTH_BUILDS(exit_that_returns_faults)

int main(void)
{
	RUN(switch_three_contexts_keep_registers_stacks_and_fp_control_host);
	RUN(switch_three_contexts_keep_registers_stacks_and_fp_control_kernel);
	RUN(switch_init_calls_entry_then_exit_host);
	RUN(switch_init_calls_entry_then_exit_kernel);
	RUN(switch_init_writes_only_its_frame_host);
	RUN(switch_init_writes_only_its_frame_kernel);
	RUN(switch_exit_that_returns_faults_host);
	RUN(switch_exit_that_returns_faults_kernel);
	return check_done();
}
