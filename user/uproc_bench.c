/*
 * uproc's timings (case UP_BENCH), in TSC cycles read from ring 3: under
 * QEMU TCG these are emulated cycles, which the lines say. A demand-zero
 * fault, a copy-on-write fault, fork of a process with 4 MiB touched plus
 * the wait for its child (which exits at once), spawn + wait of hello.
 */
#include "ulib.h"

#define PAGE	 4096ul
#define RW	 (PROT_READ | PROT_WRITE)
#define FAULTS	 64
#define FORKS	 5
#define FORK_MEM (4ul << 20)

int uproc_bench(void);

static u64 median(u64 *t, int n)
{
	for (int i = 1; i < n; i++) { /* insertion sort */
		u64 v = t[i];
		int j = i;
		for (; j > 0 && t[j - 1] > v; j--)
			t[j] = t[j - 1];
		t[j] = v;
	}
	return t[n / 2];
}

/* The first write of each page of m, timed: the median. */
static u64 time_writes(long m)
{
	u64 t[FAULTS];

	for (int i = 0; i < FAULTS; i++) {
		u64 t0 = rdtsc();
		((volatile char *)m)[i * PAGE] = 1;
		t[i] = rdtsc() - t0;
	}
	return median(t, FAULTS);
}

/* The child writes pages it shares with its parent: each is copied. */
static int cow_faults(long m)
{
	long pid = sys_fork();
	int st = -1;

	if (pid == 0) {
		uprintf("# copy-on-write fault from ring 3: median %lu TSC cycles (emulated, %d "
			"pages)",
			time_writes(m), FAULTS);
		sys_exit(0);
	}
	return pid > 0 && sys_wait(pid, &st) == pid && st == 0 ? 0 : 1;
}

/* fork with FORK_MEM touched + wait for the child, which exits at once. */
static int fork_wait(void)
{
	long m = sys_mmap(0, FORK_MEM, RW), pid;
	u64 t[FORKS];
	int st;

	if (m < 0)
		return 1;
	for (u64 i = 0; i < FORK_MEM / PAGE; i++)
		((volatile char *)m)[i * PAGE] = 1;
	for (int i = 0; i < FORKS; i++) {
		u64 t0 = rdtsc();
		pid = sys_fork();
		if (pid == 0)
			sys_exit(0);
		if (pid < 0 || sys_wait(pid, &st) != pid)
			return 2;
		t[i] = rdtsc() - t0;
	}
	uprintf("# fork with 4 MiB touched + wait: median %lu TSC cycles (emulated, %d runs)",
		median(t, FORKS), FORKS);
	return sys_munmap(m, FORK_MEM) == 0 ? 0 : 3;
}

static int spawn_wait(void)
{
	u64 t[3];
	int st;

	for (int i = 0; i < 3; i++) {
		u64 t0 = rdtsc();
		long pid = sys_spawn("hello", 0);
		if (pid <= 0 || sys_wait(pid, &st) != pid || st != 42)
			return 1;
		t[i] = rdtsc() - t0;
	}
	uprintf("# spawn + wait of hello: median %lu TSC cycles (emulated, 3 runs)", median(t, 3));
	return 0;
}

int uproc_bench(void)
{
	long m = sys_mmap(0, FAULTS * PAGE, RW);

	if (m < 0)
		return 1;
	uprintf("# demand-zero fault from ring 3: median %lu TSC cycles (emulated, %d pages)",
		time_writes(m), FAULTS);
	if (cow_faults(m))
		return 2;
	if (fork_wait())
		return 3;
	return spawn_wait() ? 4 : 0;
}
