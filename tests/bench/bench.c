/*
 * The harness behind `ninja bench`: main(), the machine header, the suite
 * filter, batch timing and statistics, the results table and the verdict
 * section. Owns nothing about any allocator; suites are bench_<name>.c.
 */
#define _GNU_SOURCE /* clock_gettime, sched_getcpu, sched_setaffinity */

#include "bench.h"

#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VERDICT_MAX  64
#define VERDICT_LEN  200
#define NOTE_LEN     160
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Columns: suite, case, size, median, p99, unit, note (as wide as it needs). */
#define TABLE_FORMAT "%-6s | %-28s | %-7s | %10s | %10s | %-5s | %s\n"

struct suite {
	const char *name;
	void (*run)(void);
};

#define BENCH_SUITE_ENTRY(name) {#name, bench_##name},
static const struct suite suites[] = {BENCH_SUITES(BENCH_SUITE_ENTRY)};

/* The verdict section, filled by suites and printed after the table. */
static char verdicts[VERDICT_MAX][VERDICT_LEN];
static unsigned nverdicts, npass, nfail;

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void bench_summarise(double *v, unsigned n, struct bench_result *r)
{
	unsigned i99;

	memset(r, 0, sizeof(*r));
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	/* Nearest rank: the smallest sample with at least 99% of samples at or below it. */
	i99 = (unsigned)ceil(0.99 * n) - 1;
	r->median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	r->p99 = v[i99];
	r->min = v[0];
	r->samples = n;
}

void bench_sample(bench_fn *fn, void *ctx, uint64_t ops, unsigned batches, double *v)
{
	fn(ctx, ops);
	for (unsigned b = 0; b < batches; b++) {
		uint64_t t0 = bench_now_ns();

		fn(ctx, ops);
		v[b] = (double)(bench_now_ns() - t0) / (double)ops;
	}
}

void bench_run(bench_fn *fn, void *ctx, uint64_t ops, unsigned batches, struct bench_result *r)
{
	double *v = calloc(batches, sizeof(*v));

	if (!v) {
		fprintf(stderr, "bench_run: out of memory\n");
		exit(2);
	}
	bench_sample(fn, ctx, ops, batches, v);
	bench_summarise(v, batches, r);
	free(v);
}

const char *bench_size_name(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	unsigned u = 0;

	while (u + 1 < ARRAY_LEN(units) && bytes >= 1024 && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu %s", (unsigned long long)bytes, units[u]);
	return buf;
}

const char *bench_duration(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.1f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.3g us", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.3g ms", ns / 1e6);
	else
		snprintf(buf, len, "%.3g s", ns / 1e9);
	return buf;
}

/* A figure for the table: a decimal below a million, an integer above, never wider than 10. */
static void format_figure(char *buf, size_t len, double v)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else if (v < 10)
		snprintf(buf, len, "%.2f", v);
	else if (v < 1e6)
		snprintf(buf, len, "%.1f", v);
	else if (v < 1e10)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.3g", v);
}

static void print_row(const char *suite, const char *name, const char *size, double median,
		      double p99, const char *unit, const char *note, va_list ap)
{
	char m[32], p[32], n[NOTE_LEN] = "";

	format_figure(m, sizeof(m), median);
	format_figure(p, sizeof(p), p99);
	if (note)
		vsnprintf(n, sizeof(n), note, ap);
	printf(TABLE_FORMAT, suite, name, size, m, p, unit, n);
	fflush(stdout);
}

void bench_row(const char *suite, const char *name, const char *size, const struct bench_result *r,
	       const char *note, ...)
{
	va_list ap;

	va_start(ap, note);
	print_row(suite, name, size, r->median, r->p99, "ns/op", note, ap);
	va_end(ap);
}

void bench_row_value(const char *suite, const char *name, const char *size, double median,
		     double p99, const char *unit, const char *note, ...)
{
	va_list ap;

	va_start(ap, note);
	print_row(suite, name, size, median, p99, unit, note, ap);
	va_end(ap);
}

static void add_verdict(const char *tag, const char *fmt, va_list ap)
{
	int n;

	if (nverdicts == VERDICT_MAX)
		return;
	n = snprintf(verdicts[nverdicts], VERDICT_LEN, "%-8s ", tag);
	vsnprintf(verdicts[nverdicts] + n, VERDICT_LEN - (size_t)n, fmt, ap);
	nverdicts++;
}

void bench_verdict(bool pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_verdict(pass ? "PASS" : "**FAIL**", fmt, ap);
	va_end(ap);
	if (pass)
		npass++;
	else
		nfail++;
}

void bench_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_verdict("info", fmt, ap);
	va_end(ap);
}

/* The "model name" line of /proc/cpuinfo, or "unknown". */
static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) != 0 || !colon)
			continue;
		colon += 1 + (colon[1] == ' ');
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

/* Keep the process on the CPU it started on: no migrations mid-batch. Returns the CPU or -1. */
static int pin_cpu(void)
{
	int cpu = sched_getcpu();
	cpu_set_t set;

	if (cpu < 0)
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0 ? cpu : -1;
}

/* The line under the column titles: dashes as wide as TABLE_FORMAT's columns, + between. */
static void print_rule(void)
{
	static const int widths[] = {6, 28, 7, 10, 10, 5, 22};

	for (size_t c = 0; c < ARRAY_LEN(widths); c++) {
		int w = widths[c] + (c > 0) + (c + 1 < ARRAY_LEN(widths));

		printf("%s%.*s", c ? "+" : "", w, "----------------------------------------");
	}
	printf("\n");
}

/* The compiler and its version, without __clang_version__'s trailing space. */
static void compiler_name(char *buf, size_t len)
{
#ifdef __clang_version__
	snprintf(buf, len, "clang %s", __clang_version__);
#else
	snprintf(buf, len, "cc %s", __VERSION__);
#endif
	for (size_t n = strlen(buf); n && buf[n - 1] == ' '; n--)
		buf[n - 1] = '\0';
}

static void print_header(int cpu)
{
	char model[128], compiler[128], date[64];
	time_t now = time(NULL);

	cpu_model(model, sizeof(model));
	compiler_name(compiler, sizeof(compiler));
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
	printf("Aerie bench  %s\n", date);
	printf("machine:  %s, %ld cores online", model, sysconf(_SC_NPROCESSORS_ONLN));
	if (cpu >= 0)
		printf(", pinned to cpu %d", cpu);
	printf("\ncompiler: %s, -O2 -DAERIE_HOST\n", compiler);
	printf(
	    "Figures are host-native, single-thread, user mode. For the pmm the IRQ-disable half\n"
	    "of its lock is a no-op here; the lock's atomic exchange is included.\n"
	    "median and p99 are of per-batch means (ns per op; a batch is many ops); with fewer\n"
	    "than 100 batches the p99 column is the worst batch.\n\n");
	printf(TABLE_FORMAT, "suite", "case", "size", "median", "p99", "unit", "note");
	print_rule();
}

static void print_verdicts(void)
{
	printf("\nverdicts\n");
	for (unsigned i = 0; i < nverdicts; i++)
		printf("  %s\n", verdicts[i]);
	if (nfail)
		printf("\n**FAIL**: %u of %u requirements not met (a measurement: exit status 0)\n",
		       nfail, npass + nfail);
	else
		printf("\nall %u requirements met\n", npass);
}

/* True if the suite runs: no filter, or its name contains one of the arguments. */
static bool selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

static void usage(const char *argv0)
{
	printf("usage: %s [suite...]   runs the suites whose name contains an argument; suites:",
	       argv0);
	for (size_t s = 0; s < ARRAY_LEN(suites); s++)
		printf(" %s", suites[s].name);
	printf("\n");
}

int main(int argc, char **argv)
{
	size_t matched = 0;

	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-') {
			usage(argv[0]);
			return strcmp(argv[i], "-h") && strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	for (size_t s = 0; s < ARRAY_LEN(suites); s++)
		matched += selected(suites[s].name, argc, argv);
	if (!matched) {
		fprintf(stderr, "bench: no suite matches the arguments\n");
		usage(argv[0]);
		return 2;
	}
	print_header(pin_cpu());
	for (size_t s = 0; s < ARRAY_LEN(suites); s++)
		if (selected(suites[s].name, argc, argv))
			suites[s].run();
	print_verdicts();
	return 0;
}

void bench_anomaly(struct bench_anomalies *a, const char *fmt, ...)
{
	va_list ap;

	if (a->count++)
		return;
	va_start(ap, fmt);
	vsnprintf(a->first, sizeof(a->first), fmt, ap);
	va_end(ap);
}
