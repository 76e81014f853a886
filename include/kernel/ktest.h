/*
 * In-kernel tests. A test lives next to the code it tests and registers
 * itself in the ktest_cases linker section:
 *
 *	KTEST(pmm, pmm_alloc_returns_ram) { KEXPECT(t, ...); }
 *
 * `ktest` on the command line runs every test, `ktest=pmm,boot` the named
 * suites. Output is KTAP, then "N passed, N failed"; QEMU exits with 0x10
 * if all passed, 0x11 if not. A name that is no suite runs nothing: an
 * error names it and the real suites, and QEMU exits with 0x11.
 */
#pragma once

#include <lib/types.h>

struct ktest {
	bool failed;
	bool skipped;
	char reason[160];
};

struct ktest_case {
	const char *suite;
	const char *name;
	void (*fn)(struct ktest *t);
};

#define KTEST(suite_, name_)                                                                       \
	static void ktest_fn_##name_(struct ktest *t);                                             \
	static const struct ktest_case ktest_case_##name_                                          \
	    __attribute__((used, section("ktest_cases"), aligned(8))) = {#suite_, #name_,          \
									 ktest_fn_##name_};        \
	static void ktest_fn_##name_(struct ktest *t)

/* Record a failure with a formatted reason; the test should then return. */
void ktest_fail(struct ktest *t, const char *file, int line, const char *fmt, ...) __printf(4, 5);
/* Mark the test skipped with a reason; the test should then return. */
void ktest_skip(struct ktest *t, const char *fmt, ...) __printf(2, 3);

#define KEXPECT(t, cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			ktest_fail(t, __FILE__, __LINE__, "%s", #cond);                            \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define KEXPECT_EQ(t, a, b)                                                                        \
	do {                                                                                       \
		unsigned long long ka_ = (unsigned long long)(a), kb_ = (unsigned long long)(b);   \
		if (ka_ != kb_) {                                                                  \
			ktest_fail(t, __FILE__, __LINE__, "%s == %s (%#llx != %#llx)", #a, #b,     \
				   ka_, kb_);                                                      \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/*
 * A scratch address for tests that map pages for a while: slot * align past
 * a 1 GiB boundary in the middle of the larger gap beside the heap's extent
 * in the heap window, where nothing else maps. align: up to 1 GiB.
 */
vaddr_t ktest_scratch_va(uint64_t align, uint64_t slot);

/* The median of n samples (timings); sorts v. */
uint64_t ktest_median(uint64_t *v, size_t n);

/* True if the command line asks for tests. */
bool ktest_requested(const char *cmdline);

/* Run the requested tests, report, and exit QEMU (or halt). */
__noreturn void ktest_run(const char *cmdline);
