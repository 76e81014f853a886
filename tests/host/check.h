/*
 * A tiny test framework for host unit tests. Each test binary prints one
 * TAP line per test ("ok N name" or "not ok N name # reason") and exits 1
 * if any failed. Use: TEST(name) { CHECK(...); } and in main RUN(name).
 */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_count, check_failures;

/* Deterministic xorshift64 so random tests are reproducible: seed rng_state first. */
static uint64_t rng_state;

static inline uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}
static const char *check_reason_file;
static int check_reason_line;
static char check_reason[256];

#define TEST(name) static void name(void)

/* Fail the current test and return from it. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			check_fail(__FILE__, __LINE__, "%s", #cond);                               \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);                    \
		if (check_a_ != check_b_) {                                                        \
			check_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", #a, #b,          \
				   check_a_, check_b_);                                            \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *check_a_ = (a), *check_b_ = (b);                                       \
		if (strcmp(check_a_, check_b_) != 0) {                                             \
			check_fail(__FILE__, __LINE__, "%s: \"%s\" != \"%s\"", #a, check_a_,       \
				   check_b_);                                                      \
			return;                                                                    \
		}                                                                                  \
	} while (0)

__attribute__((format(printf, 3, 4))) static void check_fail(const char *file, int line,
							     const char *fmt, ...)
{
	__builtin_va_list ap;
	__builtin_va_start(ap, fmt);
	vsnprintf(check_reason, sizeof(check_reason), fmt, ap);
	__builtin_va_end(ap);
	check_reason_file = file;
	check_reason_line = line;
}

static void check_run(const char *name, void (*fn)(void))
{
	check_reason_file = NULL;
	fn();
	check_count++;
	if (check_reason_file) {
		check_failures++;
		printf("not ok %d %s # %s:%d: %s\n", check_count, name, check_reason_file,
		       check_reason_line, check_reason);
	} else {
		printf("ok %d %s\n", check_count, name);
	}
	fflush(stdout);
}

#define RUN(name) check_run(#name, name)

/* Print the plan and return main's exit status. */
static int check_done(void)
{
	printf("1..%d\n", check_count);
	return check_failures ? 1 : 0;
}
