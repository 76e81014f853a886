/*
 * Deliberate faults for boot scenarios (scripts/test.py): each must end in
 * a panic report that classifies the fault and names a function in this
 * file.
 *
 *   crash=panic      panic() itself
 *   crash=null       read through a NULL pointer (crash=pagefault is an alias)
 *   crash=nx         call into read-only data, which is no-execute
 *   crash=wtext      write to kernel text
 *   crash=overflow   unbounded recursion on the boot stack: #DF on its guard
 *   crash=gp         read through a non-canonical pointer
 *   crash=ud         an undefined instruction
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

static const uint8_t crash_nx_code[] = {0xc3}; /* `ret`, in .rodata */

static __attribute__((noinline)) void crash_exec_nx(void)
{
	void (*volatile fn)(void) = (void (*)(void))(uintptr_t)crash_nx_code;

	fn();				   /* .rodata is NX: #PF on the fetch */
	__asm__ volatile("" ::: "memory"); /* not a tail call: the report names us */
}

static __attribute__((noinline)) void crash_write_text(void)
{
	volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)crash_if_requested;

	*p = 0xcc; /* text is mapped read-only: #PF */
}

static volatile uint64_t crash_depth;

/* Recurse until the boot stack's guard page stops it (the test never ends). */
static __attribute__((noinline)) uint64_t crash_recurse(uint64_t n)
{
	volatile uint8_t frame[256];

	frame[0] = (uint8_t)n;
	crash_depth = n;
	if (n == UINT64_MAX)
		return frame[0];
	return crash_recurse(n + 1) + frame[0]; /* not a tail call */
}

void crash_if_requested(const char *cmdline)
{
	char what[16];

	if (cmdline_get(cmdline, "crash", what, sizeof(what)) <= 0)
		return;
	kinfo("crash=%s requested", what);
	if (strcmp(what, "panic") == 0)
		panic("crash=panic requested");
	if (strcmp(what, "null") == 0 || strcmp(what, "pagefault") == 0)
		crash_read_null();
	if (strcmp(what, "nx") == 0)
		crash_exec_nx();
	if (strcmp(what, "wtext") == 0)
		crash_write_text();
	if (strcmp(what, "overflow") == 0)
		crash_recurse(0);
	if (strcmp(what, "gp") == 0)
		crash_noncanonical();
	if (strcmp(what, "ud") == 0)
		__asm__ volatile("ud2");
	kwarn("crash=%s: unknown, ignored", what);
}
