/*
 * In-kernel fuzz from ring 3: UF_CALLS random system calls (xorshift64
 * from the seed in args[0]) with arguments drawn from interesting values:
 * 0, -1, small numbers, aligned and unaligned addresses in its own
 * mappings, kernel and non-canonical addresses, huge lengths. It keeps
 * itself alive on purpose: no exit until the end, forked children exit at
 * once, sleeps are short, munmap/mprotect of its own memory stay inside a
 * scratch area, pointers into its memory point only at that area (or
 * where an mmap hint put memory) or at a read-only page of newlines
 * (write prints nothing from it, wait cannot write it); other writes from
 * user memory are kept short. Exit status 0; kernel/process_test.c checks
 * the kernel after.
 */
#include "ulib.h"

#define PAGE	 4096ul
#define UF_CALLS 2000
#define SCRATCH	 (16 * PAGE)

static u64 rng;
static long scratch, text; /* SCRATCH bytes; one page of '\n', read-only, unmapped after */
static u64 calls_ok, calls_failed, children;

static u64 next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* An address: in the scratch area, the text page (or just past it), or somewhere bad. */
static u64 address(void)
{
	static const u64 bad[] = {0,
				  8,
				  0xffffc00000000000ul, /* kernel image's place */
				  0xffff800000000000ul, /* direct map */
				  0x0000800000000000ul, /* first non-canonical */
				  0x8000000000000000ul,
				  0xfffffffffffff000ul,
				  ~0ul,
				  0x7fffffffe000ul,
				  0x10000ul};
	u64 r = next();

	switch (r % 5) {
	case 0:
		return scratch + (next() % (SCRATCH / PAGE)) * PAGE;
	case 1:
		return scratch + next() % SCRATCH;
	case 2:
		return text + (next() % 2 ? PAGE - next() % 64 : next() % PAGE);
	default:
		return bad[next() % (sizeof(bad) / sizeof(bad[0]))];
	}
}

/* A length or count: small, a page multiple, or huge. */
static u64 length(void)
{
	static const u64 odd[] = {0, 1, ~0ul, 1ul << 47, 1ul << 40, 0x8000000000000000ul, PAGE - 1};
	u64 r = next();

	switch (r % 4) {
	case 0:
		return next() % 64;
	case 1:
		return (1 + next() % 4) * PAGE;
	default:
		return odd[next() % (sizeof(odd) / sizeof(odd[0]))];
	}
}

static u64 argument(void)
{
	switch (next() % 4) {
	case 0:
		return address();
	case 1:
		return length();
	case 2:
		return next() % 8; /* prot bits, small pids */
	default:
		return next();
	}
}

/* Keep the process alive and quiet: arguments the calls must not get. */
static void tame(u64 nr, u64 *a)
{
	if (nr == SYS_SLEEP) /* a sleep lasts at least a 10 ms tick: rarely */
		a[0] = next() % 16 == 0;
	/* Short writes from user memory, except from the text page (only newlines). */
	if (nr == SYS_WRITE && a[0] < 0x0000800000000000ul && a[0] - (u64)text >= 2 * PAGE)
		a[1] %= 65;
	if ((nr == SYS_MUNMAP || nr == SYS_MPROTECT) && a[0] < 0x0000800000000000ul) {
		a[0] = scratch + (a[0] % SCRATCH); /* inside scratch, clamped to it */
		if (a[1] > (u64)scratch + SCRATCH - a[0])
			a[1] = (u64)scratch + SCRATCH - a[0];
	}
	if (nr == SYS_WAIT && next() % 2) { /* collect children often */
		a[0] = (u64)-1;
		a[1] = next() % 2 ? 0 : a[1];
	}
	if (nr == SYS_SPAWN && next() % 32 == 0)
		a[0] = (u64) "hello";
}

static void one_call(void)
{
	u64 nr = next() % (SYS_COUNT + 2), a[6];
	long ret;

	if (nr == SYS_EXIT)
		nr = SYS_COUNT + 5; /* -ENOSYS */
	for (int i = 0; i < 6; i++)
		a[i] = argument();
	tame(nr, a);
	ret = syscall6((long)nr, (long)a[0], (long)a[1], (long)a[2], (long)a[3], (long)a[4],
		       (long)a[5]);
	if (nr == SYS_FORK && ret == 0)
		sys_exit(0);
	if ((nr == SYS_FORK || nr == SYS_SPAWN) && ret > 0)
		children++;
	if (ret < 0)
		calls_failed++;
	else
		calls_ok++;
}

int main(const u64 *args, u64 nargs)
{
	long left = 0;

	rng = nargs && args[0] ? args[0] : 0x9e3779b97f4a7c15ul;
	scratch = sys_mmap(0, SCRATCH, PROT_READ | PROT_WRITE);
	text = sys_mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE);
	if (scratch < 0 || text < 0)
		return 1;
	memset((void *)text, '\n', PAGE);
	memset((void *)scratch, '\n', SCRATCH);
	if (sys_mprotect(text, PAGE, PROT_READ) || sys_munmap(text + PAGE, PAGE))
		return 2;
	for (int i = 0; i < UF_CALLS; i++)
		one_call();
	while (sys_wait(-1, 0) > 0)
		left++;
	uprintf("# ufuzz: %d calls, %lu succeeded, %lu failed, %lu children (%ld waited at the "
		"end)",
		UF_CALLS, calls_ok, calls_failed, children, left);
	return 0;
}
