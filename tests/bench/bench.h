/*
 * The harness behind `ninja bench`: the list of suites, a monotonic clock,
 * batch timing with median and p99 per operation, the results table and
 * the verdict list printed after it. Host-only (-DAERIE_HOST, libc).
 *
 * A suite is a file tests/bench/bench_<name>.c defining void bench_<name>(void)
 * that times its workloads with bench_run(), prints rows with bench_row*()
 * and states its requirements with bench_verdict().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Every suite, in running order. Adding a suite is one X(name) here, plus its
 * file in build.ninja's build/bench/bench line.
 */
#define BENCH_SUITES(X) X(pmm) X(vmm) X(heap) X(string) X(switch) X(threads)

#define BENCH_DECLARE_SUITE(name) void bench_##name(void);
BENCH_SUITES(BENCH_DECLARE_SUITE)
#undef BENCH_DECLARE_SUITE

/* Batches per bench_run() measurement: >= 100 gives a true p99, not the worst batch. */
#define BENCH_BATCHES 101

/* Median and tail of a set of samples (ns per operation, or any unit). */
struct bench_result {
	double median;
	double p99; /* the worst sample when there are fewer than 100 */
	double min;
	unsigned samples;
};

/* A workload: perform ops operations on ctx. */
typedef void bench_fn(void *ctx, uint64_t ops);

/* Nanoseconds from CLOCK_MONOTONIC. */
uint64_t bench_now_ns(void);

/*
 * Time fn: one untimed warm-up batch, then batches batches of ops operations
 * each; v[i] gets batch i's mean ns per operation. The caller chooses ops so
 * that a batch lasts well over a microsecond (the clock costs tens of ns).
 * Samples from several calls may be pooled and summarised together, which
 * lets a suite interleave its cases so that slow drifts of the machine
 * (frequency, neighbours) spread over all of them.
 */
void bench_sample(bench_fn *fn, void *ctx, uint64_t ops, unsigned batches, double *v);

/* bench_sample() into r, summarised. */
void bench_run(bench_fn *fn, void *ctx, uint64_t ops, unsigned batches, struct bench_result *r);

/* Summarise n samples (sorted in place) into r. */
void bench_summarise(double *v, unsigned n, struct bench_result *r);

/* What a suite's set-up and checks found wrong: counted, the first kept for its verdict. */
struct bench_anomalies {
	unsigned count;
	char first[160];
};
__attribute__((format(printf, 2, 3))) void bench_anomaly(struct bench_anomalies *a, const char *fmt,
							 ...);

/* A fast deterministic generator for workloads (xorshift64). */
static inline uint64_t bench_xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Make the compiler believe v is used, so the work producing it stays. */
static inline void bench_keep(uint64_t v)
{
	__asm__ volatile("" : : "r"(v) : "memory");
}

/* "1 GiB", "64 GiB", "1 TiB", "512 MiB": a byte count as a short name. */
const char *bench_size_name(char *buf, size_t len, uint64_t bytes);

/* "850 ns", "7.85 us", "10.1 ms", "1.20 s": a duration for prose (verdict lines). */
const char *bench_duration(char *buf, size_t len, double ns);

/* A table row of ns per operation from bench_run(); note is printf-style, may be NULL. */
void bench_row(const char *suite, const char *name, const char *size, const struct bench_result *r,
	       const char *note, ...) __attribute__((format(printf, 5, 6)));

/* A table row of another unit; p99 < 0 prints "-". */
void bench_row_value(const char *suite, const char *name, const char *size, double median,
		     double p99, const char *unit, const char *note, ...)
    __attribute__((format(printf, 7, 8)));

/*
 * Record a requirement's outcome, printed in the verdict section after the
 * table: "PASS" or "FAIL" then the text. A FAIL never changes the exit status
 * (the bench measures; it does not gate). bench_info() records a line
 * without an outcome.
 */
void bench_verdict(bool pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bench_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The reference mallocs (tests/bench/bench_refs.c): glibc's, jemalloc's
 * (statically linked, renamed) and mimalloc's (dlopen()ed), all three in
 * one process.
 */
enum bench_malloc_kind { BENCH_GLIBC, BENCH_JEMALLOC, BENCH_MIMALLOC, BENCH_NMALLOC };

struct bench_malloc {
	const char *name;
	void *(*malloc)(size_t);
	void (*free)(void *);
	size_t (*usable)(void *);
};

/* The allocator of kind k, loaded on first use; NULL (and an info line) if it is missing. */
const struct bench_malloc *bench_malloc_ref(enum bench_malloc_kind k);
