/*
 * Deliberate faults for boot scenarios (scripts/test.py): each must end in
 * a panic report naming the fault and a backtrace through this file.
 */
#include <kernel/console.h>
#include <kernel/crash.h>
#include <kernel/panic.h>
#include <lib/cmdline.h>
#include <lib/string.h>

static __attribute__((noinline)) void crash_read_null(void)
{
	volatile const int *p = NULL;
	(void)*p; /* the lower half is unmapped: #PF at 0 */
}

static __attribute__((noinline)) void crash_noncanonical(void)
{
	volatile const int *p = (const int *)0x8000000000000000ull;
	(void)*p; /* a non-canonical address: #GP */
}

void crash_if_requested(const char *cmdline)
{
	char what[16];

	if (cmdline_get(cmdline, "crash", what, sizeof(what)) <= 0)
		return;
	kinfo("crash=%s requested", what);
	if (strcmp(what, "panic") == 0)
		panic("crash=panic requested");
	if (strcmp(what, "pagefault") == 0)
		crash_read_null();
	if (strcmp(what, "gp") == 0)
		crash_noncanonical();
	if (strcmp(what, "ud") == 0)
		__asm__ volatile("ud2");
	kwarn("crash=%s: unknown, ignored", what);
}
