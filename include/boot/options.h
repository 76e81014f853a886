/*
 * Every command-line option the loader or the kernel understands. The
 * loader warns about any other (and the rest of the line still applies).
 */
#pragma once

#include <lib/types.h>

static const char *const boot_known_options[] = {
	"loglevel", /* error | warn | info | debug */
	"nokaslr",  /* fixed, documented bases (include/mm/layout.h) */
	"ktest",    /* run in-kernel tests: ktest or ktest=suite,suite */
	"crash",    /* crash=panic|pagefault|gp|ud: fault on purpose */
	NULL,
};
