/*
 * Every command-line option the loader or the kernel understands. The
 * loader warns about any other (and the rest of the line still applies).
 */
#pragma once

#include <lib/types.h>

static const char *const boot_known_options[] = {
    "loglevel",	 /* error | warn | info | debug */
    "nokaslr",	 /* fixed, documented bases (include/mm/layout.h) */
    "ktest",	 /* run in-kernel tests: ktest or ktest=suite,suite */
    "crash",	 /* crash=panic|null|nx|wtext|overflow|gp|ud|canary|screen|double-free|bad-free|
		    overrun|heap-header|heap-guard: fault or break a heap rule on purpose */
    "nosmep",	 /* leave CR4.SMEP off */
    "nosmap",	 /* leave CR4.SMAP off */
    "noumip",	 /* leave CR4.UMIP off */
    "nopcid",	 /* leave CR4.PCIDE off */
    "noinvpcid", /* flush with CR4.PGE toggles instead of INVPCID */
    "heapdebug", /* fill new heap blocks, verify the whole heap every 64 calls */
    "nosmp",	 /* start no other CPU: threads run on the boot CPU alone */
    "smp_skip",	 /* smp_skip=N: leave CPU N unstarted (tests the "did not start" path) */
    "lockdebug", /* check lock order and the context locks are taken in */
    "kernel",	 /* loader: kernel=/path/on/the/volume.elf instead of /aerie/kernel.elf */
    "errorwait", /* loader: seconds an error stays on screen (0 to 60, default 10) */
    "efifail",	 /* loader debug: the first N ExitBootServices calls get a stale map key */
    "garbage",	 /* loader debug: fill every page the loader allocates with a pattern first */
    NULL,
};
