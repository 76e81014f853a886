/*
 * Host tests for lib/cmdline.c: cmdline_has, cmdline_get and
 * cmdline_unknown, including separators, prefixes, empty and cut-short
 * values, repeated names and NULL command lines.
 */
#include <lib/cmdline.h>
#include <lib/types.h>

#include "check.h"

TEST(cmdline_has_finds_bare_and_valued_names)
{
	const char *line = "quiet ktest=pmm loglevel=7 nosmp";

	CHECK(cmdline_has(line, "quiet"));
	CHECK(cmdline_has(line, "ktest"));
	CHECK(cmdline_has(line, "loglevel"));
	CHECK(cmdline_has(line, "nosmp"));
	CHECK(!cmdline_has(line, "debug"));
}

TEST(cmdline_has_compares_names_exactly)
{
	CHECK(!cmdline_has("ktestx", "ktest"));
	CHECK(!cmdline_has("xktest", "ktest"));
	CHECK(!cmdline_has("ktest", "ktestx"));
	CHECK(!cmdline_has("kte", "ktest"));
	CHECK(!cmdline_has("ktestx=1", "ktest"));
	CHECK(!cmdline_has("a=ktest", "ktest"));
	CHECK(!cmdline_has("ktest=pmm", "pmm"));
	CHECK(!cmdline_has("ktest=pmm", "ktest=pmm"));
	CHECK(cmdline_has("ktestx ktest", "ktest"));
	CHECK(cmdline_has("ktest=pmm", "ktest"));
}

TEST(cmdline_has_handles_empty_and_null)
{
	CHECK(!cmdline_has(NULL, "quiet"));
	CHECK(!cmdline_has("", "quiet"));
	CHECK(!cmdline_has("   \t \r\n", "quiet"));
	CHECK(!cmdline_has("quiet", ""));
	CHECK(!cmdline_has("", ""));
}

TEST(cmdline_has_splits_on_all_separators)
{
	const char *line = "  \ta\t\tb  c\r\nd\n";

	CHECK(cmdline_has(line, "a"));
	CHECK(cmdline_has(line, "b"));
	CHECK(cmdline_has(line, "c"));
	CHECK(cmdline_has(line, "d"));
	CHECK(!cmdline_has(line, "d\n"));
	CHECK(!cmdline_has(line, "c\r"));
	CHECK(cmdline_has("quiet\n", "quiet"));
	CHECK(cmdline_has("quiet\r\n", "quiet"));
}

TEST(cmdline_get_returns_value)
{
	char buf[32];

	CHECK_EQ(cmdline_get("quiet ktest=pmm loglevel=7", "ktest", buf, sizeof(buf)), 3);
	CHECK_STR(buf, "pmm");
	CHECK_EQ(cmdline_get("quiet ktest=pmm loglevel=7", "loglevel", buf, sizeof(buf)), 1);
	CHECK_STR(buf, "7");
	CHECK_EQ(cmdline_get("root=/dev/sda1", "root", buf, sizeof(buf)), 9);
	CHECK_STR(buf, "/dev/sda1");
}

TEST(cmdline_get_keeps_everything_after_first_equals)
{
	char buf[32];

	CHECK_EQ(cmdline_get("opt=a=b=c", "opt", buf, sizeof(buf)), 5);
	CHECK_STR(buf, "a=b=c");
	CHECK_EQ(cmdline_get("opt==", "opt", buf, sizeof(buf)), 1);
	CHECK_STR(buf, "=");
}

TEST(cmdline_get_returns_zero_for_bare_name)
{
	char buf[8] = "junk";

	CHECK_EQ(cmdline_get("quiet nosmp", "quiet", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "");
}

TEST(cmdline_get_returns_zero_for_empty_value)
{
	char buf[8] = "junk";

	CHECK_EQ(cmdline_get("a= b=2", "a", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "");
	CHECK_EQ(cmdline_get("a= b=2", "b", buf, sizeof(buf)), 1);
	CHECK_STR(buf, "2");
	CHECK_EQ(cmdline_get("x a=", "a", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "");
	CHECK(cmdline_has("a=", "a"));
}

TEST(cmdline_get_returns_minus_one_when_absent)
{
	char buf[8] = "junk";

	CHECK_EQ(cmdline_get("quiet ktestx=1", "ktest", buf, sizeof(buf)), -1);
	CHECK_STR(buf, "");
	CHECK_EQ(cmdline_get("", "ktest", buf, sizeof(buf)), -1);
	CHECK_EQ(cmdline_get(NULL, "ktest", buf, sizeof(buf)), -1);
	CHECK_EQ(cmdline_get("ktest=pmm", "pmm", buf, sizeof(buf)), -1);
	CHECK_EQ(cmdline_get("quiet", "ktest", NULL, 0), -1);
}

TEST(cmdline_get_cuts_long_values_short)
{
	char buf[4];
	char big[64];

	memset(big, '#', sizeof(big));
	CHECK_EQ(cmdline_get("name=abcdefgh x", "name", buf, sizeof(buf)), 8);
	CHECK_STR(buf, "abc");
	CHECK_EQ(cmdline_get("name=abc", "name", buf, sizeof(buf)), 3);
	CHECK_STR(buf, "abc");
	CHECK_EQ(cmdline_get("name=abcd", "name", buf, 1), 4);
	CHECK_STR(buf, "");
	CHECK_EQ(cmdline_get("name=abcd", "name", NULL, 0), 4);
	CHECK_EQ(cmdline_get("name=abcd", "name", big, 3), 4);
	CHECK(memcmp(big, "ab\0###", 6) == 0);
}

TEST(cmdline_get_stops_at_separators)
{
	char buf[16];

	CHECK_EQ(cmdline_get("a=1\tb=2", "a", buf, sizeof(buf)), 1);
	CHECK_STR(buf, "1");
	CHECK_EQ(cmdline_get("a=1\tb=2\n", "b", buf, sizeof(buf)), 1);
	CHECK_STR(buf, "2");
	CHECK_EQ(cmdline_get("  a=value\r\n", "a", buf, sizeof(buf)), 5);
	CHECK_STR(buf, "value");
}

TEST(cmdline_get_uses_first_occurrence)
{
	char buf[16];

	CHECK_EQ(cmdline_get("ktest=pmm ktest=vmm", "ktest", buf, sizeof(buf)), 3);
	CHECK_STR(buf, "pmm");
	CHECK_EQ(cmdline_get("ktest ktest=vmm", "ktest", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "");
	CHECK_EQ(cmdline_get("ktestx=1 ktest=22 ktest=333", "ktest", buf, sizeof(buf)), 2);
	CHECK_STR(buf, "22");
}

/* Records the unknown names cmdline_unknown reports, space-separated. */
struct seen {
	char names[128];
	int calls;
};

static void record(const char *name, size_t len, void *ctx)
{
	struct seen *s = ctx;
	size_t used = strlen(s->names);

	if (used + len + 2 > sizeof(s->names))
		return;
	if (used)
		s->names[used++] = ' ';
	memcpy(s->names + used, name, len);
	s->names[used + len] = '\0';
	s->calls++;
}

TEST(cmdline_unknown_reports_unknown_names)
{
	static const char *const known[] = {"quiet", "ktest", "loglevel", NULL};
	struct seen s = {"", 0};

	CHECK_EQ(
	    cmdline_unknown("quiet bogus ktest=pmm  weird=1\tloglevel=3 x\n", known, record, &s),
	    3);
	CHECK_EQ(s.calls, 3);
	CHECK_STR(s.names, "bogus weird x");
}

TEST(cmdline_unknown_compares_names_exactly)
{
	static const char *const known[] = {"ktest", NULL};
	struct seen s = {"", 0};

	CHECK_EQ(cmdline_unknown("ktestx kte ktest=ktestx ktest", known, record, &s), 2);
	CHECK_STR(s.names, "ktestx kte");
}

TEST(cmdline_unknown_counts_repeats)
{
	static const char *const known[] = {NULL};
	struct seen s = {"", 0};

	CHECK_EQ(cmdline_unknown("a a=1 a", known, record, &s), 3);
	CHECK_STR(s.names, "a a a");
}

TEST(cmdline_unknown_handles_empty_and_null)
{
	static const char *const known[] = {"quiet", NULL};
	struct seen s = {"", 0};

	CHECK_EQ(cmdline_unknown(NULL, known, record, &s), 0);
	CHECK_EQ(cmdline_unknown("", known, record, &s), 0);
	CHECK_EQ(cmdline_unknown(" \t\r\n ", known, record, &s), 0);
	CHECK_EQ(cmdline_unknown("quiet", known, record, &s), 0);
	CHECK_EQ(s.calls, 0);
	CHECK_EQ(cmdline_unknown("quiet loud", known, NULL, NULL), 1);
	CHECK_EQ(cmdline_unknown("quiet loud", NULL, record, &s), 2);
	CHECK_STR(s.names, "quiet loud");
}

TEST(cmdline_unknown_reports_empty_name)
{
	static const char *const known[] = {"a", NULL};
	struct seen s = {"", 0};

	/* "=x" is an option with an empty name and the value x */
	CHECK_EQ(cmdline_unknown("a =x", known, record, &s), 1);
	CHECK_EQ(s.calls, 1);
	CHECK_STR(s.names, "");
}

int main(void)
{
	RUN(cmdline_has_finds_bare_and_valued_names);
	RUN(cmdline_has_compares_names_exactly);
	RUN(cmdline_has_handles_empty_and_null);
	RUN(cmdline_has_splits_on_all_separators);
	RUN(cmdline_get_returns_value);
	RUN(cmdline_get_keeps_everything_after_first_equals);
	RUN(cmdline_get_returns_zero_for_bare_name);
	RUN(cmdline_get_returns_zero_for_empty_value);
	RUN(cmdline_get_returns_minus_one_when_absent);
	RUN(cmdline_get_cuts_long_values_short);
	RUN(cmdline_get_stops_at_separators);
	RUN(cmdline_get_uses_first_occurrence);
	RUN(cmdline_unknown_reports_unknown_names);
	RUN(cmdline_unknown_compares_names_exactly);
	RUN(cmdline_unknown_counts_repeats);
	RUN(cmdline_unknown_handles_empty_and_null);
	RUN(cmdline_unknown_reports_empty_name);
	return check_done();
}
