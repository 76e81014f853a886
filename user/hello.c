/*
 * The smallest user program: print through write() and exit with 42. Its
 * table of string pointers needs RELATIVE relocations, so loading it
 * checks that the kernel applied them for the random base.
 */
#include "ulib.h"

static const char *const words[] = {"hello", "from", "ring 3"};

int main(const u64 *args, u64 nargs)
{
	const char *const *volatile w = words; /* read the table, do not fold it */
	long pid = sys_getpid();

	uprintf("%s %s %s, pid %ld, %lu args", w[0], w[1], w[2], pid, nargs);
	return pid > 0 ? 42 : 1;
}
