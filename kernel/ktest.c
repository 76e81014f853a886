/*
 * The in-kernel test runner: finds the tests in the ktest_cases section,
 * runs those the command line selects, each on a thread of its own, and
 * prints KTAP.
 */
#include <arch/arch.h>
#include <kernel/boot.h>
#include <kernel/console.h>
#include <kernel/ktest.h>
#include <kernel/panic.h>
#include <kernel/thread.h>
#include <lib/cmdline.h>
#include <lib/fmt.h>
#include <lib/string.h>
#include <mm/layout.h>

/* Bounds of the section, defined by the linker. */
extern const struct ktest_case __start_ktest_cases[], __stop_ktest_cases[];

void ktest_fail(struct ktest *t, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n = fmt_snprintf(t->reason, sizeof(t->reason), "%s:%d: ", file, line);

	t->failed = true;
	if (n < 0 || (size_t)n >= sizeof(t->reason))
		return;
	va_start(ap, fmt);
	fmt_vsnprintf(t->reason + n, sizeof(t->reason) - n, fmt, ap);
	va_end(ap);
}

void ktest_skip(struct ktest *t, const char *fmt, ...)
{
	va_list ap;

	t->skipped = true;
	va_start(ap, fmt);
	fmt_vsnprintf(t->reason, sizeof(t->reason), fmt, ap);
	va_end(ap);
}

vaddr_t ktest_scratch_va(uint64_t align, uint64_t slot)
{
	vaddr_t base = boot_info->heap_base, end = LAYOUT_HEAP_START + LAYOUT_HEAP_SIZE;
	vaddr_t above = base + LAYOUT_HEAP_EXTENT;
	vaddr_t mid = base - LAYOUT_HEAP_START >= end - above
			  ? LAYOUT_HEAP_START + (base - LAYOUT_HEAP_START) / 2
			  : above + (end - above) / 2;

	return ALIGN_UP(mid, GiB) + slot * align;
}

uint64_t ktest_median(uint64_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++) /* insertion sort: a few hundred samples */
		for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t x = v[j];

			v[j] = v[j - 1];
			v[j - 1] = x;
		}
	return v[n / 2];
}

bool ktest_requested(const char *cmdline)
{
	return cmdline_has(cmdline, "ktest");
}

/* True if suite is in the comma-separated list (an empty list selects all). */
static bool suite_selected(const char *list, const char *suite)
{
	size_t len = strlen(suite);

	if (!list[0])
		return true;
	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == len && memcmp(p, suite, n) == 0)
			return true;
		p += n + (end ? 1 : 0);
	}
	return false;
}

/* True if a case before c in the section has c's suite. */
static bool suite_exists_before(const struct ktest_case *c)
{
	for (const struct ktest_case *b = __start_ktest_cases; b < c; b++)
		if (strcmp(b->suite, c->suite) == 0)
			return true;
	return false;
}

/* True if some test belongs to the suite named name[0..n). */
static bool suite_exists(const char *name, size_t n)
{
	for (const struct ktest_case *c = __start_ktest_cases; c < __stop_ktest_cases; c++)
		if (strlen(c->suite) == n && memcmp(c->suite, name, n) == 0)
			return true;
	return false;
}

/* Every suite once, in link order, as "boot, arch, ..." in buf. */
static void suite_names(char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = 0;
	for (const struct ktest_case *c = __start_ktest_cases; c < __stop_ktest_cases; c++) {
		if (suite_exists_before(c) || len >= size)
			continue;
		int n = fmt_snprintf(buf + len, size - len, "%s%s", len ? ", " : "", c->suite);
		len += n < 0 ? 0 : (size_t)n;
	}
}

/*
 * Say which names in the comma-separated list name no suite, and the real
 * ones. Returns the number of unknown names (0: the list can run).
 */
static int report_unknown_suites(const char *list)
{
	char names[256]; /* every suite name, comma-separated (console lines hold 320) */
	int unknown = 0;

	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n && !suite_exists(p, n)) {
			if (!unknown++)
				suite_names(names, sizeof(names));
			kerror("ktest: unknown suite \"%.*s\"; suites: %s", (int)n, p, names);
		}
		p += n + (end ? 1 : 0);
	}
	return unknown;
}

static size_t count_selected(const char *list)
{
	size_t n = 0;

	for (const struct ktest_case *c = __start_ktest_cases; c < __stop_ktest_cases; c++)
		n += suite_selected(list, c->suite);
	return n;
}

/* What a case's thread runs: the case, with its own struct ktest. */
struct ktest_job {
	const struct ktest_case *c;
	struct ktest *t;
};

static long ktest_case_thread(void *arg)
{
	struct ktest_job *job = arg;

	job->c->fn(job->t);
	return 0;
}

/*
 * Run c on a thread of its own, named after it, on a fresh guarded stack,
 * and wait for it: one case's stack use or damage never reaches the next.
 */
static void ktest_run_case(const struct ktest_case *c, struct ktest *t)
{
	struct ktest_job job = {c, t};
	struct thread *th = thread_create(ktest_case_thread, &job, c->name);

	if (!th)
		panic("ktest: no memory for a thread to run %s", c->name);
	thread_join(th, NULL);
}

void ktest_run(const char *cmdline)
{
	char list[128];
	size_t passed = 0, failed = 0, skipped = 0, i = 0;

	if (cmdline_get(cmdline, "ktest", list, sizeof(list)) < 0)
		list[0] = 0;
	/* A mistyped suite would otherwise run nothing (or less) and fail unexplained. */
	if (report_unknown_suites(list)) {
		arch_exit_emulator(EXIT_TESTS_FAILED);
		arch_halt();
	}
	kprintf("KTAP version 1\n1..%zu\n", count_selected(list));
	for (const struct ktest_case *c = __start_ktest_cases; c < __stop_ktest_cases; c++) {
		struct ktest t = {0};
		if (!suite_selected(list, c->suite))
			continue;
		ktest_run_case(c, &t);
		i++;
		if (t.skipped) {
			skipped++;
			kprintf("ok %zu %s # SKIP %s\n", i, c->name, t.reason);
		} else if (t.failed) {
			failed++;
			kprintf("not ok %zu %s # %s\n", i, c->name, t.reason);
		} else {
			passed++;
			kprintf("ok %zu %s\n", i, c->name);
		}
	}
	if (skipped)
		kprintf("%zu passed, %zu failed, %zu skipped\n", passed, failed, skipped);
	else
		kprintf("%zu passed, %zu failed\n", passed, failed);
	arch_exit_emulator(failed || i == 0 ? EXIT_TESTS_FAILED : EXIT_TESTS_PASSED);
	arch_halt();
}
