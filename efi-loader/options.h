/*
 * What Secure Boot does to each command-line option: portable C (no
 * <efi.h>) so tests/host/test_options.c checks the table and the filter.
 */
#pragma once

#include <lib/types.h>

enum sb_policy {
	SB_KEEP,	 /* honoured: does not weaken a protection */
	SB_DROP,	 /* weakens a protection: ignored with Secure Boot on */
	SB_DROP_IF_VALUE /* ignored only with the value in .value */
};

struct option_policy {
	const char *name;
	enum sb_policy policy;
	const char *value; /* for SB_DROP_IF_VALUE */
};

/* Every option of include/boot/options.h, classified; ends with a NULL name. */
extern const struct option_policy option_policies[];

/* The policy entry for the name of length len, or NULL if unknown. */
const struct option_policy *option_policy_find(const char *name, size_t len);

/*
 * Remove, in place, every option that Secure Boot ignores from cmdline
 * (with its value), calling dropped(token, len, ctx) for each; the rest of
 * the line keeps its order, single-space separated. Returns how many went.
 */
int options_secure_filter(char *cmdline, void (*dropped)(const char *tok, size_t len, void *ctx),
			  void *ctx);
