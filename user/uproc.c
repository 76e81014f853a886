/*
 * The process test program: args[0] picks a case (UP_* in
 * include/uapi/uproc.h). fork, wait, spawn, copy-on-write, the memory
 * calls, bad pointers, a fork bomb, out of memory and timings.
 * kernel/process_test.c runs each case and checks the exit status (or the
 * kill) and the kernel's state after it.
 */
#include "ulib.h"
#include <uapi/uproc.h>

#define PAGE 4096ul
#define RW   (PROT_READ | PROT_WRITE)

static volatile u64 data_word = 0x1111; /* .data */
static volatile u64 bss_word;		/* .bss */
static int cow_v = 1;			/* UP_COW_SYSCALL's V */

/* fork returns 0 / the child's pid, pids differ, exit(n) is n & 0xff, and -ECHILD. */
static int fork_basics(void)
{
	long me = sys_getpid(), pid, grandchild;
	int st = -1;

	if (sys_wait(-1, 0) != -ECHILD || sys_wait(me, &st) != -ECHILD)
		return 1;
	pid = sys_fork();
	if (pid == 0)
		sys_exit(sys_getpid() != me ? 0x1234 : 1);
	if (pid <= 0 || pid == me)
		return 2;
	if (sys_wait(pid, &st) != pid || st != 0x34)
		return 3;
	if (sys_wait(pid, &st) != -ECHILD) /* collected already */
		return 4;
	/* A child that forks a grandchild and leaves it: not ours to wait for. */
	pid = sys_fork();
	if (pid == 0) {
		grandchild = sys_fork();
		if (grandchild == 0) {
			sys_sleep(20);
			sys_exit(0);
		}
		sys_exit(grandchild == sys_getpid() + 1 ? 300
							: 2); /* pids count up: 300 & 0xff = 44 */
	}
	if (sys_wait(-1, &st) != pid || st != 44)
		return 5;
	if (sys_wait(pid + 1, &st) != -ECHILD) /* the grandchild, alive or reaped */
		return 6;
	return sys_wait(-1, &st) == -ECHILD ? 0 : 7;
}

/* Write each of our pages with tag, sleep, and check they still hold it. */
static int write_pages(volatile u64 *stack, volatile u64 *mapped, u64 tag, u64 sleep_ms)
{
	*stack = tag + 1;
	data_word = tag + 2;
	bss_word = tag + 3;
	*mapped = tag + 4;
	sys_sleep(sleep_ms);
	return *stack == tag + 1 && data_word == tag + 2 && bss_word == tag + 3 &&
	       *mapped == tag + 4;
}

/* After fork, parent and child each see only their own writes. */
static int cow(void)
{
	volatile u64 stack_word = 0x2222;
	long m = sys_mmap(0, PAGE, RW), pid;
	int st = -1;

	if (m < 0)
		return 1;
	*(volatile u64 *)m = 0x3333;
	bss_word = 0x4444;
	pid = sys_fork();
	if (pid == 0)
		sys_exit(write_pages(&stack_word, (volatile u64 *)m, 0xc000, 20) ? 0 : 1);
	if (pid < 0)
		return 2;
	if (!write_pages(&stack_word, (volatile u64 *)m, 0xa000, 0))
		return 3;
	if (sys_wait(pid, &st) != pid || st != 0)
		return 4;
	return write_pages(&stack_word, (volatile u64 *)m, 0xa000, 0) ? 0 : 5;
}

/* The child makes a shared page read-only and writable again, then writes it. */
static int cow_mprotect(void)
{
	long m = sys_mmap(0, PAGE, RW), pid;
	volatile u64 *w = (volatile u64 *)m;
	int st = -1;

	if (m < 0)
		return 1;
	*w = 0x1234;
	pid = sys_fork();
	if (pid == 0) {
		if (sys_mprotect(m, PAGE, PROT_READ) || *w != 0x1234 || sys_mprotect(m, PAGE, RW))
			sys_exit(1);
		*w = 0x5678;
		sys_exit(*w == 0x5678 ? 0 : 2);
	}
	if (pid < 0 || sys_wait(pid, &st) != pid || st != 0)
		return 2;
	return *w == 0x1234 ? 0 : 3;
}

/*
 * wait() writes the status into cow_v's page, shared with child A: the
 * kernel's write must copy it first, so A still exits with its own V.
 */
static int cow_syscall(void)
{
	long a, b;
	int st = -1;

	a = sys_fork();
	if (a == 0) {
		sys_sleep(20); /* until the parent's wait(B) has written V */
		sys_exit(cow_v);
	}
	b = sys_fork();
	if (b == 0)
		sys_exit(7);
	if (a < 0 || b < 0 || sys_wait(b, &cow_v) != b || cow_v != 7)
		return 1;
	return sys_wait(a, &st) == a && st == 1 ? 0 : 2;
}

/* mmap, munmap, mprotect: contents, exact places and every refusal. */
static int mmap_calls(void)
{
	long m = sys_mmap(0, 3 * PAGE, RW);
	volatile u64 *w = (volatile u64 *)m;

	if (m <= 0 || (m & (PAGE - 1)))
		return 1;
	for (u64 i = 0; i < 3 * PAGE / 8; i++)
		if (w[i])
			return 2; /* demand-zero */
	w[PAGE / 8] = 1;
	if (sys_munmap(m + PAGE, PAGE) || sys_mprotect(m, PAGE, PROT_READ))
		return 3;
	if (sys_mmap(0, PAGE, PROT_WRITE | PROT_EXEC) != -EPERM ||
	    sys_mprotect(m, PAGE, PROT_WRITE | PROT_EXEC) != -EPERM)
		return 4;
	if (sys_mmap(0, 0, RW) != -EINVAL || sys_mmap(1, PAGE, RW) != -EINVAL ||
	    sys_mmap(0, PAGE, 8) != -EINVAL || sys_mmap(0, ~0ul, RW) != -EINVAL ||
	    sys_munmap(m + 1, PAGE) != -EINVAL || sys_munmap(m, 0) != -EINVAL ||
	    sys_mprotect(m, PAGE, 16) != -EINVAL || sys_mprotect(m + 8, PAGE, RW) != -EINVAL)
		return 5;
	if (sys_mmap(0, 1ul << 46, RW) != -ENOMEM || sys_mprotect(m, 3 * PAGE, RW) != -ENOMEM)
		return 6; /* more than all memory; a hole in the range */
	if (sys_mmap(m, PAGE, RW) != -EEXIST)
		return 7;
	if (sys_mmap(m + PAGE, PAGE, RW) != (long)(m + PAGE) || w[PAGE / 8] != 0)
		return 8; /* the hole again, zero again */
	return sys_munmap(m, 3 * PAGE) == 0 ? 0 : 9;
}

static int munmap_touch(void)
{
	long m = sys_mmap(0, 2 * PAGE, RW);

	if (m < 0)
		return 1;
	*(volatile u64 *)m = 1;
	if (sys_munmap(m, PAGE))
		return 2;
	(void)*(volatile u64 *)m;
	return UP_SURVIVED;
}

static int rdonly_write(void)
{
	long m = sys_mmap(0, PAGE, RW);

	if (m < 0)
		return 1;
	*(volatile u64 *)m = 1;
	if (sys_mprotect(m, PAGE, PROT_READ) || *(volatile u64 *)m != 1)
		return 2;
	*(volatile u64 *)m = 2;
	return UP_SURVIVED;
}

/* Touch addr (mode UP_TOUCH_*): a page of another process, so it must kill us. */
static int touch(u64 addr, u64 mode)
{
	volatile u64 *p = (volatile u64 *)addr;

	if (mode == UP_TOUCH_READ)
		(void)*p;
	else if (mode == UP_TOUCH_WRITE)
		*p = 0xbad;
	else
		__asm__ volatile("call *%0" : : "r"(addr) : "memory");
	return UP_SURVIVED;
}

/* A second uproc touching our page is killed; the page keeps our secret. */
static int isolation(u64 mode)
{
	long m = sys_mmap(0, PAGE, RW), pid;
	int st = -1;

	if (m < 0)
		return 1;
	*(volatile u64 *)m = UP_SECRET;
	pid = sys_spawn("uproc", (u64)m | mode);
	if (pid <= 0 || sys_wait(pid, &st) != pid)
		return 2;
	if (st != UP_KILLED)
		return 3;
	return *(volatile u64 *)m == UP_SECRET ? 0 : 4;
}

/* Whether every pointer in bad makes wait's status output fail with -EFAULT. */
static int wait_efault(long pid, const u64 *bad, int n)
{
	for (int i = 0; i < n; i++) {
		if (sys_wait(pid, (int *)bad[i]) != -EFAULT ||
		    sys_wait(-1, (int *)bad[i]) != -EFAULT)
			return 10 + i;
	}
	return 0;
}

/*
 * wait's status output and spawn's name, given bad pointers: -EFAULT each,
 * and the child stays to be waited for. A NULL status means "none" (wait's
 * ABI), so it is no bad pointer there.
 */
static int efault(void)
{
	long m = sys_mmap(0, 2 * PAGE, RW), ro = sys_mmap(0, PAGE, PROT_READ), pid;
	int st = -1, err;

	if (m < 0 || ro < 0 || sys_munmap(m + PAGE, PAGE)) /* m mapped, m + PAGE not */
		return 1;
	const u64 bad_out[] = {
	    0xffffc00000000000ul,
	    m + PAGE, /* kernel, unmapped */
	    m + PAGE - 2,
	    0xfffffffffffffffeul, /* straddles, wraps */
	    0x0000800000000000ul,
	    0x8000000000000000ul, /* non-canonical */
	    (u64)ro,		  /* read-only */
	};
	pid = sys_fork();
	if (pid == 0)
		sys_exit(5);
	if (pid < 0)
		return 2;
	err = wait_efault(pid, bad_out, sizeof(bad_out) / sizeof(bad_out[0]));
	if (err)
		return err;
	if (sys_wait(pid, &st) != pid || st != 5)
		return 3;
	memcpy((char *)m + PAGE - 3, "hel", 3); /* no NUL before the unmapped page */
	const u64 bad_name[] = {0,
				0xffffc00000000000ul,
				m + PAGE,
				m + PAGE - 3,
				0xfffffffffffffff0ul,
				0x0000800000000000ul};
	for (unsigned int i = 0; i < sizeof(bad_name) / sizeof(bad_name[0]); i++)
		if (sys_spawn((const char *)bad_name[i], 0) != -EFAULT)
			return 30 + (int)i;
	memset((char *)m, 'a', 64);
	((char *)m)[64] = 0;
	if (sys_spawn((const char *)m, 0) != -ENAMETOOLONG || sys_spawn("nosuch", 0) != -ENOENT)
		return 4;
	return sys_wait(-1, &st) == -ECHILD ? 0 : 5;
}

int uproc_bench(void);

/* Fork a chain until fork fails; each waits for its child and passes its status up. */
static int fork_bomb(void)
{
	long depth = 0, pid;
	int st = -1;

	while ((pid = sys_fork()) == 0)
		depth++;
	if (pid < 0) {
		uprintf("fork bomb: fork failed with %ld at depth %ld", pid, depth);
		return pid == -EAGAIN	? UP_BOMB_EAGAIN
		       : pid == -ENOMEM ? UP_BOMB_ENOMEM
					: UP_BOMB_OTHER;
	}
	if (sys_wait(pid, &st) != pid)
		return UP_BOMB_OTHER;
	return st == UP_KILLED ? UP_BOMB_KILLED : st;
}

static void touch_all(long m, u64 pages)
{
	for (u64 i = 0; i < pages; i++)
		((volatile char *)m)[i * PAGE] = 1;
}

/*
 * Map as much as mmap allows (it refuses more than is free) and touch it
 * all, then smaller pieces, then an untouched stack page: the page tables
 * need frames too, so a touch must find none and be killed.
 */
static int oom_touch(u64 pages)
{
	long m;

	while ((m = sys_mmap(0, pages * PAGE, RW)) == -ENOMEM && pages > 16)
		pages -= 16;
	if (m < 0)
		return 1;
	touch_all(m, pages);
	for (pages = 16; pages; pages /= 4) {
		while ((m = sys_mmap(0, pages * PAGE, RW)) > 0)
			touch_all(m, pages);
	}
	*(volatile char *)(ustack_top - 48 * 1024) = 1;
	return UP_SURVIVED;
}

int main(const u64 *a, u64 n)
{
	if (n == 1 && a[0] >= UP_CASE_MAX) /* spawned by isolation() */
		return touch(a[0] & ~(PAGE - 1), a[0] & (PAGE - 1));
	switch (n ? a[0] : ~0ul) {
	case UP_FORK:
		return fork_basics();
	case UP_COW:
		return cow();
	case UP_COW_MPROTECT:
		return cow_mprotect();
	case UP_COW_SYSCALL:
		return cow_syscall();
	case UP_MMAP:
		return mmap_calls();
	case UP_MUNMAP_TOUCH:
		return munmap_touch();
	case UP_RDONLY_WRITE:
		return rdonly_write();
	case UP_ISOLATION:
		return isolation(a[1]);
	case UP_EFAULT:
		return efault();
	case UP_FORK_BOMB:
		return fork_bomb();
	case UP_OOM_TOUCH:
		return oom_touch(a[1]);
	case UP_BENCH:
		return uproc_bench();
	}
	return UP_BAD_CASE;
}
