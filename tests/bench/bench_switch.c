/*
 * The "switch" bench suite: a context switch round trip (A->B->A, two
 * switches) with arch/x86_64/switch.S in user mode, against Boost.Context's
 * jump_fcontext and glibc's swapcontext, in the same run. Ours runs twice:
 * the host build (keeps MXCSR and the x87 control word, as jump_fcontext
 * does: the like-for-like comparison and the verdict) and the kernel's
 * build (tests/switch_kernel.S: callee-saved registers only). B is a
 * context on a malloc'd stack that switches straight back, forever.
 *
 * Two patterns: a) each side calls the switch from its own loop, as
 * coroutines do; b) both sides reach the switch through the same chain of
 * PATH_DEPTH + 1 nested calls, as threads reach it through the scheduler,
 * and return up it afterwards. Which one a design wins depends on how it
 * treats the CPU's return-stack predictor (arch/x86_64/switch.S says why).
 */
#include "bench.h"

#include "../switch_kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#define SUITE	      "switch"
#define STACK_BYTES   (64 * 1024)
#define ROUNDS	      9	   /* cases interleaved, so slow drifts reach all of them */
#define ROUND_BATCHES 23   /* batches per case per round */
#define OPS_FAST      5000 /* round trips per batch: ours and Boost, ~10 ns each */
#define OPS_SLOW      200  /* swapcontext: two system calls a round trip */
#define NSAMPLES      (ROUNDS * ROUND_BATCHES)
#define PATH_DEPTH    3 /* b: nested calls between the loop and the switch */

/* Boost.Context 1.74's C-linkage entry points (libboost_context.so; no C header). */
typedef void *fcontext_t;
typedef struct {
	fcontext_t fctx;
	void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

enum bench_case {
	C_HOST,
	C_KERNEL,
	C_BOOST,
	C_GLIBC,
	C_HOST_PATH,
	C_KERNEL_PATH,
	C_BOOST_PATH,
	NCASES
};

typedef void switch_fn(struct arch_context **save, struct arch_context *load);

/* One case: its B context, and round trips counted on both sides as a check. */
struct pingpong {
	void *stack;
	uint64_t trips, bounces;
	struct arch_context *main_ctx, *peer_ctx; /* ours */
	switch_fn *sw;				  /* ours, pattern b */
	fcontext_t boost_peer;
	ucontext_t uc_main, uc_peer;
};

static struct pingpong cases[NCASES];
static struct bench_anomalies anomalies;

static void never_exit(void *arg)
{
	fprintf(stderr, "bench_switch: a B context returned\n");
	abort();
}

/* ---- ours: host build and kernel build ---------------------------------------- */

static void host_bounce(void *arg)
{
	struct pingpong *p = arg;

	for (;;) {
		p->bounces++;
		arch_context_switch(&p->peer_ctx, p->main_ctx);
	}
}

static void host_trips(void *ctx, uint64_t ops)
{
	struct pingpong *p = ctx;

	for (uint64_t i = 0; i < ops; i++)
		arch_context_switch(&p->main_ctx, p->peer_ctx);
	p->trips += ops;
}

static void kernel_bounce(void *arg)
{
	struct pingpong *p = arg;

	for (;;) {
		p->bounces++;
		arch_context_switch_kernel(&p->peer_ctx, p->main_ctx);
	}
}

static void kernel_trips(void *ctx, uint64_t ops)
{
	struct pingpong *p = ctx;

	for (uint64_t i = 0; i < ops; i++)
		arch_context_switch_kernel(&p->main_ctx, p->peer_ctx);
	p->trips += ops;
}

/* b: reach sw(save, *load) through depth more nested calls, then return up them. */
__attribute__((noinline)) static void
via_path(unsigned depth, switch_fn *sw, struct arch_context **save, struct arch_context **load)
{
	if (depth)
		via_path(depth - 1, sw, save, load);
	else
		sw(save, *load);
	__asm__ volatile(""); /* not a tail call: every level returns */
}

static void path_bounce(void *arg)
{
	struct pingpong *p = arg;

	for (;;) {
		p->bounces++;
		via_path(PATH_DEPTH, p->sw, &p->peer_ctx, &p->main_ctx);
	}
}

static void path_trips(void *ctx, uint64_t ops)
{
	struct pingpong *p = ctx;

	for (uint64_t i = 0; i < ops; i++)
		via_path(PATH_DEPTH, p->sw, &p->main_ctx, &p->peer_ctx);
	p->trips += ops;
}

/* ---- Boost.Context ---------------------------------------------------------------- */

static void boost_bounce(transfer_t t)
{
	struct pingpong *p = t.data;

	for (;;) {
		p->bounces++;
		t = jump_fcontext(t.fctx, NULL);
	}
}

static void boost_trips(void *ctx, uint64_t ops)
{
	struct pingpong *p = ctx;

	for (uint64_t i = 0; i < ops; i++)
		p->boost_peer = jump_fcontext(p->boost_peer, p).fctx;
	p->trips += ops;
}

/* b for Boost: jump_fcontext(to) through depth more nested calls; returns the new peer. */
__attribute__((noinline)) static fcontext_t boost_via_path(unsigned depth, fcontext_t to)
{
	fcontext_t r = depth ? boost_via_path(depth - 1, to) : jump_fcontext(to, NULL).fctx;

	__asm__ volatile(""); /* not a tail call: every level returns */
	return r;
}

static void boost_path_bounce(transfer_t t)
{
	struct pingpong *p = &cases[C_BOOST_PATH]; /* the path passes no data */

	for (;;) {
		p->bounces++;
		t.fctx = boost_via_path(PATH_DEPTH, t.fctx);
	}
}

static void boost_path_trips(void *ctx, uint64_t ops)
{
	struct pingpong *p = ctx;

	for (uint64_t i = 0; i < ops; i++)
		p->boost_peer = boost_via_path(PATH_DEPTH, p->boost_peer);
	p->trips += ops;
}

/* ---- glibc ------------------------------------------------------------------------------ */

static struct pingpong *uc_case = &cases[C_GLIBC]; /* makecontext passes ints only */

static void glibc_bounce(void)
{
	for (;;) {
		uc_case->bounces++;
		swapcontext(&uc_case->uc_peer, &uc_case->uc_main);
	}
}

static void glibc_trips(void *ctx, uint64_t ops)
{
	struct pingpong *p = ctx;

	for (uint64_t i = 0; i < ops; i++)
		swapcontext(&p->uc_main, &p->uc_peer);
	p->trips += ops;
}

/* ---- the suite ---------------------------------------------------------------------- */

/* Stacks and B contexts for every case; false (an anomaly recorded) if one cannot be made. */
static bool setup(void)
{
	for (unsigned k = 0; k < NCASES; k++) {
		cases[k].stack = malloc(STACK_BYTES);
		if (!cases[k].stack) {
			bench_anomaly(&anomalies, "switch: no memory for a stack");
			return false;
		}
	}
	cases[C_HOST].peer_ctx = arch_context_init((char *)cases[C_HOST].stack + STACK_BYTES,
						   host_bounce, &cases[C_HOST], never_exit);
	cases[C_KERNEL].peer_ctx =
	    arch_context_init_kernel((char *)cases[C_KERNEL].stack + STACK_BYTES, kernel_bounce,
				     &cases[C_KERNEL], never_exit);
	cases[C_HOST_PATH].sw = arch_context_switch;
	cases[C_HOST_PATH].peer_ctx =
	    arch_context_init((char *)cases[C_HOST_PATH].stack + STACK_BYTES, path_bounce,
			      &cases[C_HOST_PATH], never_exit);
	cases[C_KERNEL_PATH].sw = arch_context_switch_kernel;
	cases[C_KERNEL_PATH].peer_ctx =
	    arch_context_init_kernel((char *)cases[C_KERNEL_PATH].stack + STACK_BYTES, path_bounce,
				     &cases[C_KERNEL_PATH], never_exit);
	cases[C_BOOST_PATH].boost_peer = make_fcontext(
	    (char *)cases[C_BOOST_PATH].stack + STACK_BYTES, STACK_BYTES, boost_path_bounce);
	cases[C_BOOST].boost_peer =
	    make_fcontext((char *)cases[C_BOOST].stack + STACK_BYTES, STACK_BYTES, boost_bounce);
	if (getcontext(&cases[C_GLIBC].uc_peer) != 0) {
		bench_anomaly(&anomalies, "switch: getcontext failed");
		return false;
	}
	cases[C_GLIBC].uc_peer.uc_stack.ss_sp = cases[C_GLIBC].stack;
	cases[C_GLIBC].uc_peer.uc_stack.ss_size = STACK_BYTES;
	cases[C_GLIBC].uc_peer.uc_link = NULL;
	makecontext(&cases[C_GLIBC].uc_peer, glibc_bounce, 0);
	return true;
}

static void sample_cases(struct bench_result r[NCASES])
{
	static bench_fn *const fns[NCASES] = {host_trips,      kernel_trips, boost_trips,
					      glibc_trips,     path_trips,   path_trips,
					      boost_path_trips};
	static const uint64_t ops[NCASES] = {OPS_FAST, OPS_FAST, OPS_FAST, OPS_SLOW,
					     OPS_FAST, OPS_FAST, OPS_FAST};
	static double v[NCASES][NSAMPLES];

	for (unsigned i = 0; i < ROUNDS; i++)
		for (unsigned k = 0; k < NCASES; k++)
			bench_sample(fns[k], &cases[k], ops[k], ROUND_BATCHES,
				     &v[k][i * ROUND_BATCHES]);
	for (unsigned k = 0; k < NCASES; k++) {
		bench_summarise(v[k], NSAMPLES, &r[k]);
		if (cases[k].bounces != cases[k].trips)
			bench_anomaly(&anomalies,
				      "switch: case %u made %llu round trips, B saw %llu", k,
				      (unsigned long long)cases[k].trips,
				      (unsigned long long)cases[k].bounces);
	}
}

void bench_switch(void)
{
	static const char *const names[NCASES] = {"a ours, host build",	   "a ours, kernel build",
						  "a Boost jump_fcontext", "a glibc swapcontext",
						  "b ours, host build",	   "b ours, kernel build",
						  "b Boost jump_fcontext"};
	struct bench_result r[NCASES];
	double ns[NCASES];

	if (!setup()) {
		bench_verdict(false, "switch: %s", anomalies.first);
		return;
	}
	sample_cases(r);
	for (unsigned k = 0; k < NCASES; k++) {
		unsigned ref = k >= C_HOST_PATH ? C_BOOST_PATH : C_BOOST;

		ns[k] = r[k].median / 2;
		bench_row(SUITE, names[k], "A->B->A", &r[k], "%.2f ns/switch, %.2fx Boost", ns[k],
			  r[k].median / r[ref].median);
	}
	bench_info("switch: a) switch from each side's own loop; b) both sides through the same "
		   "%d-deep call path, as a scheduler (ns per switch = round trip / 2)",
		   PATH_DEPTH + 1);
	if (anomalies.count)
		bench_verdict(false, "switch: %u anomalies, first: %s", anomalies.count,
			      anomalies.first);
	bench_verdict(ns[C_HOST] <= ns[C_BOOST],
		      "switch a (coroutine): ours (host build, MXCSR + x87 CW kept as Boost does) "
		      "%.2f ns/switch <= Boost jump_fcontext %.2f (ratio %.2f); kernel build %.2f, "
		      "glibc swapcontext %.1f",
		      ns[C_HOST], ns[C_BOOST], ns[C_HOST] / ns[C_BOOST], ns[C_KERNEL], ns[C_GLIBC]);
	bench_verdict(ns[C_HOST_PATH] <= ns[C_BOOST_PATH],
		      "switch b (scheduler path): ours (host build) %.2f ns/switch <= Boost "
		      "jump_fcontext %.2f (ratio %.2f); kernel build %.2f",
		      ns[C_HOST_PATH], ns[C_BOOST_PATH], ns[C_HOST_PATH] / ns[C_BOOST_PATH],
		      ns[C_KERNEL_PATH]);
	for (unsigned k = 0; k < NCASES; k++)
		free(cases[k].stack);
}
