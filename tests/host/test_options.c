/*
 * Host tests for efi-loader/options.c: every option of
 * include/boot/options.h has exactly one Secure Boot policy, the weakening
 * ones are the ones docs/design.md lists, and the filter removes exactly
 * those (with their values) and keeps the rest of the line in order.
 */
#include "../../efi-loader/options.h"

#include <boot/options.h>
#include <lib/types.h>

#include "check.h"

TEST(options_every_known_option_has_one_policy)
{
	size_t known = 0, classified = 0;

	for (const char *const *o = boot_known_options; *o; o++, known++)
		CHECK(option_policy_find(*o, strlen(*o)) != NULL);
	for (const struct option_policy *p = option_policies; p->name; p++, classified++) {
		bool listed = false;
		for (const char *const *o = boot_known_options; *o; o++)
			listed |= strcmp(*o, p->name) == 0;
		CHECK(listed);
		CHECK((p->policy == SB_DROP_IF_VALUE) == (p->value != NULL));
	}
	CHECK_EQ(classified, known);
}

TEST(options_weakening_ones_are_dropped)
{
	static const char *const dropped[] = {"nokaslr", "crash", "nosmep", "nosmap", "noumip"};
	static const char *const kept[] = {"ktest",	"nopcid", "noinvpcid", "heapdebug",
					   "lockdebug", "kernel", "errorwait", "efifail",
					   "garbage",	"nosmp",  "smp_skip"};

	for (size_t i = 0; i < ARRAY_SIZE(dropped); i++)
		CHECK_EQ(option_policy_find(dropped[i], strlen(dropped[i]))->policy, SB_DROP);
	for (size_t i = 0; i < ARRAY_SIZE(kept); i++)
		CHECK_EQ(option_policy_find(kept[i], strlen(kept[i]))->policy, SB_KEEP);
	const struct option_policy *lv = option_policy_find("loglevel", 8);
	CHECK_EQ(lv->policy, SB_DROP_IF_VALUE);
	CHECK_STR(lv->value, "debug");
}

static char seen[256];

static void record(const char *tok, size_t len, void *ctx)
{
	(void)ctx;
	snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "[%.*s]", (int)len, tok);
}

/* Filter line; check what is left and what was reported. */
static int filter(const char *line, char *out, size_t size)
{
	seen[0] = 0;
	snprintf(out, size, "%s", line);
	return options_secure_filter(out, record, NULL);
}

TEST(options_filter_removes_weakening_options_and_values)
{
	char buf[256];

	CHECK_EQ(
	    filter("nokaslr ktest=vmm crash=null  nosmep\tnosmap noumip nopcid", buf, sizeof(buf)),
	    5);
	CHECK_STR(buf, "ktest=vmm nopcid");
	CHECK_STR(seen, "[nokaslr][crash=null][nosmep][nosmap][noumip]");
}

TEST(options_filter_drops_loglevel_debug_only)
{
	char buf[256];

	CHECK_EQ(filter("loglevel=debug ktest", buf, sizeof(buf)), 1);
	CHECK_STR(buf, "ktest");
	CHECK_STR(seen, "[loglevel=debug]");
	CHECK_EQ(filter("loglevel=info loglevel=debugx loglevel", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "loglevel=info loglevel=debugx loglevel");
}

TEST(options_filter_keeps_unknown_and_lookalike_names)
{
	char buf[256];

	CHECK_EQ(filter("nokaslrx xnokaslr crashy=1 kernel=/aerie/k.elf", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "nokaslrx xnokaslr crashy=1 kernel=/aerie/k.elf");
	CHECK_STR(seen, "");
}

TEST(options_filter_handles_empty_and_all_dropped)
{
	char buf[256];

	CHECK_EQ(filter("", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "");
	CHECK_EQ(filter("  \r\n", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "");
	CHECK_EQ(filter(" nokaslr  nosmep ", buf, sizeof(buf)), 2);
	CHECK_STR(buf, "");
}

int main(void)
{
	RUN(options_every_known_option_has_one_policy);
	RUN(options_weakening_ones_are_dropped);
	RUN(options_filter_removes_weakening_options_and_values);
	RUN(options_filter_drops_loglevel_debug_only);
	RUN(options_filter_keeps_unknown_and_lookalike_names);
	RUN(options_filter_handles_empty_and_all_dropped);
	return check_done();
}
