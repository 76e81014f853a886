/*
 * Process tests (suite `process`): user/uproc.c's cases (fork and wait,
 * copy-on-write, the memory calls, isolation between processes, bad
 * pointers, a fork bomb, out of memory in a fault, timings) and
 * user/ufuzz.c's random system calls, each checked by exit status or
 * kill, then the kernel's state after: every frame back, no process left.
 */
#include <kernel/console.h>
#include <kernel/frame_hold.h>
#include <kernel/ktest.h>
#include <kernel/panic.h>
#include <kernel/process.h>
#include <kernel/thread.h>
#include <lib/errno.h>
#include <mm/aspace.h>
#include <mm/kmalloc.h>
#include <mm/kstack.h>
#include <mm/pmm.h>
#include <mm/pmm_boot.h>
#include <uapi/uproc.h>

_Static_assert(UP_KILLED == PROCESS_KILLED, "uproc's view of a killed child");

/* The kernel's state a case must leave as it found it. */
struct baseline {
	uint64_t frames, processes, spaces;
};

static uint64_t live_processes(void)
{
	struct process_stats s;

	process_stats(&s);
	return s.live;
}

/*
 * Free frames with the caches emptied, once orphans are reaped (the
 * reaper collects them a moment after they end).
 */
static struct baseline settle(uint64_t processes)
{
	struct aspace_stats as;
	struct baseline b;

	for (int i = 0; i < 100 && live_processes() > processes; i++)
		thread_sleep_ms(2);
	frame_caches_drain_all();
	aspace_stats(&as);
	b.frames = pmm_kernel_free_frames();
	b.processes = live_processes();
	b.spaces = as.live;
	return b;
}

#define EXPECT_BASELINE(t, b)                                                                      \
	do {                                                                                       \
		struct baseline now_ = settle((b).processes);                                      \
		KEXPECT_EQ(t, now_.processes, (b).processes);                                      \
		KEXPECT_EQ(t, now_.spaces, (b).spaces);                                            \
		KEXPECT_EQ(t, now_.frames, (b).frames);                                            \
	} while (0)

static int run(uint64_t c, uint64_t arg)
{
	uint64_t a[2] = {c, arg};

	return process_run("uproc", a, 2);
}

/* Warm the heap's and the stacks' caches with one fork, so baselines are steady. */
static struct baseline warm_baseline(void)
{
	run(UP_FORK, 0);
	return settle(0);
}

KTEST(process, fork_wait_basics)
{
	struct baseline b = warm_baseline();

	KEXPECT_EQ(t, run(UP_FORK, 0), 0);
	EXPECT_BASELINE(t, b);
}

KTEST(process, cow_private_writes)
{
	struct baseline b = warm_baseline();
	struct aspace_stats s0, s1;

	aspace_stats(&s0);
	KEXPECT_EQ(t, run(UP_COW, 0), 0);
	KEXPECT_EQ(t, run(UP_COW_MPROTECT, 0), 0);
	KEXPECT_EQ(t, run(UP_COW_SYSCALL, 0), 0);
	aspace_stats(&s1);
	KEXPECT(t, s1.cow_copies > s0.cow_copies);
	KEXPECT_EQ(t, s1.shared_frames, 0);
	EXPECT_BASELINE(t, b);
}

KTEST(process, mmap_calls)
{
	struct baseline b = warm_baseline();

	KEXPECT_EQ(t, run(UP_MMAP, 0), 0);
	KEXPECT_EQ(t, run(UP_MUNMAP_TOUCH, 0), PROCESS_KILLED);
	KEXPECT_EQ(t, run(UP_RDONLY_WRITE, 0), PROCESS_KILLED);
	EXPECT_BASELINE(t, b);
}

KTEST(process, isolation_between_processes)
{
	struct baseline b = warm_baseline();

	for (uint64_t mode = UP_TOUCH_READ; mode <= UP_TOUCH_EXEC; mode++)
		KEXPECT_EQ(t, run(UP_ISOLATION, mode), 0);
	EXPECT_BASELINE(t, b);
}

KTEST(process, pointer_args_efault)
{
	struct baseline b = warm_baseline();

	KEXPECT_EQ(t, run(UP_EFAULT, 0), 0);
	EXPECT_BASELINE(t, b);
}

/* The chain stops at PROCESS_MAX: -EAGAIN, then everything comes back. */
KTEST(process, fork_bomb_process_max)
{
	struct baseline b = warm_baseline();

	KEXPECT_EQ(t, run(UP_FORK_BOMB, 0), UP_BOMB_EAGAIN);
	EXPECT_BASELINE(t, b);
}

/*
 * With memory held back the bomb runs out of memory before PROCESS_MAX:
 * fork fails with -ENOMEM, or (just as clean) a process of the chain
 * takes a page fault no frame is left for and is killed with a report
 * line. Which comes first depends on where the last frames go.
 */
KTEST(process, fork_bomb_out_of_memory)
{
	struct baseline b = warm_baseline();
	struct frame_hold held;
	int status;

	frame_hold(&held, 2048);
	status = run(UP_FORK_BOMB, 0);
	frame_hold_release(&held);
	if (status != UP_BOMB_ENOMEM && status != UP_BOMB_KILLED)
		kprintf("# process: the fork bomb ended with status %d\n", status);
	KEXPECT(t, status == UP_BOMB_ENOMEM || status == UP_BOMB_KILLED);
	EXPECT_BASELINE(t, b);
}

/* Touching more mmap'd memory than is free kills the program, never the kernel. */
KTEST(process, fault_out_of_memory)
{
	struct baseline b = warm_baseline();
	struct process_stats s0, s1;
	struct frame_hold held;
	int status;

	frame_hold(&held, 1024);
	process_stats(&s0);
	status = run(UP_OOM_TOUCH, pmm_kernel_free_frames());
	process_stats(&s1);
	frame_hold_release(&held);
	KEXPECT_EQ(t, status, PROCESS_KILLED);
	KEXPECT_EQ(t, s1.killed, s0.killed + 1);
	EXPECT_BASELINE(t, b);
}

KTEST(process, bench_faults_fork_spawn)
{
	KEXPECT_EQ(t, run(UP_BENCH, 0), 0);
}

/* Random system calls with three seeds: no panic, and the kernel's state is back. */
KTEST(process, fuzz_syscalls)
{
	static const uint64_t seeds[] = {1, 0x243f6a8885a308d3ull, 0x13198a2e03707344ull};
	struct baseline b = warm_baseline();
	struct aspace_stats s;
	int killed = 0;

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		int status = process_run("ufuzz", &seeds[i], 1);

		KEXPECT(t, status == 0 || status == PROCESS_KILLED);
		killed += status == PROCESS_KILLED;
	}
	if (killed)
		kprintf("# process: ufuzz killed in %d of 3 runs\n", killed);
	EXPECT_BASELINE(t, b);
	aspace_stats(&s);
	KEXPECT_EQ(t, s.shared_frames, 0); /* nothing shared is left behind */
	KEXPECT(t, s.share_bytes < 64 * KiB);
}
