/*
 * Ring 3 tests (suite `user`): programs from user/ run and are checked by
 * exit status, or by being killed with the user-fault report: privileged
 * instructions, kernel/direct-map/heap accesses, bad write() buffers, a
 * SYSRET to a non-canonical RIP, preemption and FPU state across it, the
 * user copies' range rules and fixups, and exact frame counts after.
 */
#include <arch/timer.h>
#include <kernel/fault.h>
#include <kernel/frame_hold.h>
#include <kernel/ktest.h>
#include <kernel/sched.h>
#include <kernel/thread.h>
#include <kernel/uaccess.h>
#include <kernel/panic.h>
#include <kernel/process.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/addr.h>
#include <mm/aspace.h>
#include <mm/kmalloc.h>
#include <mm/layout.h>
#include <mm/pmm.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>
#include <uapi/syscall.h>
#include <uapi/utest.h>

/* Run utest with args: its status, or a negative error if it did not start. */
static int run(const uint64_t *args, size_t n)
{
	return process_run("utest", args, n);
}

static uint64_t free_frames(void)
{
	struct pmm_stats s;

	pmm_stats(&pmm_kernel, &s);
	return s.free_frames;
}

/* Runs hello: with every CPU's caches emptied before and after, every frame is back. */
KTEST(user, hello)
{
	uint64_t before;
	struct process *p;

	frame_caches_drain_all();
	before = pmm_kernel_free_frames();
	KEXPECT_EQ(t, process_run("hello", NULL, 0), 42);
	frame_caches_drain_all();
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before); /* image, stack, tables: all back */
	KEXPECT_EQ(t, process_spawn("no-such-program", NULL, 0, &process_kernel, &p), -ENOENT);
}

KTEST(user, privileged)
{
	for (uint64_t i = 0; i < UT_PRIV_COUNT; i++) {
		uint64_t a[2] = {UT_PRIV, i};
		KEXPECT_EQ(t, run(a, 2), PROCESS_KILLED);
	}
}

KTEST(user, isolation)
{
	uint64_t *heap = kmalloc(64);
	const vaddr_t targets[3] = {(vaddr_t)&process_spawn,
				    (vaddr_t)phys_to_virt(virt_to_phys(heap)), (vaddr_t)heap};

	KEXPECT(t, heap);
	heap[0] = 0x1234;
	for (int i = 0; i < 3; i++) {
		for (uint64_t mode = UT_TOUCH_READ; mode <= UT_TOUCH_EXEC; mode++) {
			uint64_t a[3] = {UT_TOUCH, targets[i], mode};
			KEXPECT_EQ(t, run(a, 3), PROCESS_KILLED);
		}
	}
	KEXPECT_EQ(t, heap[0], 0x1234);
	kfree(heap);
}

KTEST(user, write_efault)
{
	uint64_t a[1] = {UT_EFAULT};

	KEXPECT_EQ(t, run(a, 1), 0);
}

/*
 * A syscall instruction in the last two bytes below 2^47: its return RIP
 * is 2^47, non-canonical. The kernel must return by IRET, and the fault
 * is the program's (killed), not a #GP in ring 0 on its stack.
 */
/* Put the code page of the SYSRET case into the program's space before it starts. */
static void map_syscall_page(struct aspace *as, void *frame)
{
	KASSERT(aspace_map_edge_page(as, LAYOUT_LOWER_HALF_END - PAGE_SIZE, (paddr_t)frame,
				     PROT_READ | PROT_EXEC) == 0);
}

/*
 * A `syscall` in the last two bytes below 2^47: its return RIP is 2^47,
 * non-canonical. SYSRET would fault in ring 0 on the user's stack (the
 * Intel SYSRET problem); the IRET path makes it the program's #GP at 2^47.
 * The frames are counted with every CPU's caches emptied: the process may
 * run and end on any CPU, and leave a heap chunk, a slab or cached frames
 * behind in some cache.
 */
KTEST(user, sysret_noncanonical)
{
	paddr_t frame = pmm_alloc(&pmm_kernel);
	uint8_t *code = phys_to_virt(frame);
	uint64_t a[3] = {UT_TOUCH, LAYOUT_LOWER_HALF_END - 2, UT_TOUCH_EXEC};
	uint64_t before;
	struct process *p;
	int status;

	KASSERT(frame != PADDR_INVALID);
	memset(code, 0xcc, PAGE_SIZE);
	code[PAGE_SIZE - 2] = 0x0f; /* syscall */
	code[PAGE_SIZE - 1] = 0x05;
	frame_caches_drain_all();
	before = pmm_kernel_free_frames();
	KEXPECT_EQ(t,
		   process_spawn_prepared("utest", a, 3, &process_kernel, map_syscall_page,
					  (void *)frame, &p),
		   0);
	long pid = (long)p->pid;
	KEXPECT_EQ(t, process_wait(&process_kernel, pid, &status), pid);
	KEXPECT_EQ(t, status, PROCESS_KILLED);
	frame_caches_drain_all();
	/* The space owned the frame, and freed it. */
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before + 1);
}

static volatile bool spin_done;

static long counter_thread(void *arg)
{
	uint64_t *n = arg;

	while (!spin_done) {
		(*n)++;
		thread_yield();
	}
	return 0;
}

/* A spinning program is preempted by the timer: another thread progresses, its registers hold. */
KTEST(user, preempt)
{
	uint64_t n = 0, a[2] = {UT_SPIN, 5 * arch_timer_info()->tsc_khz * 10}; /* 5 slices */
	struct sched_stats s0, s1;
	struct thread *c;

	spin_done = false;
	sched_stats(&s0);
	c = thread_create(counter_thread, &n, "user-counter");
	KEXPECT(t, c);
	KEXPECT_EQ(t, run(a, 2), 0);
	sched_stats(&s1);
	spin_done = true;
	thread_join(c, NULL);
	/* It never yields: only the timer took the CPU from it, several times. */
	KEXPECT(t, s1.preemptions - s0.preemptions >= 3);
	KEXPECT(t, n >= 3);
}

/* Two programs with different xmm values across preemption: each keeps its own. */
KTEST(user, fpu)
{
	uint64_t cycles = 4 * arch_timer_info()->tsc_khz * 10;
	uint64_t a1[3] = {UT_FPU, 0x1111222233334444ull, cycles};
	uint64_t a2[3] = {UT_FPU, 0x5555666677778888ull, cycles};
	struct process *p1, *p2;
	int s1 = -1, s2 = -1;

	KEXPECT_EQ(t, process_spawn("utest", a1, 3, &process_kernel, &p1), 0);
	KEXPECT_EQ(t, process_spawn("utest", a2, 3, &process_kernel, &p2), 0);
	long pid1 = (long)p1->pid, pid2 = (long)p2->pid; /* p1, p2 are gone once collected */
	KEXPECT_EQ(t, process_wait(&process_kernel, pid1, &s1), pid1);
	KEXPECT_EQ(t, process_wait(&process_kernel, pid2, &s2), pid2);
	KEXPECT_EQ(t, s1, 0);
	KEXPECT_EQ(t, s2, 0);
}

KTEST(user, bench_getpid)
{
	uint64_t a[1] = {UT_BENCH};

	KEXPECT_EQ(t, run(a, 1), 0);
}

/* The range rules of include/kernel/uaccess.h. */
KTEST(user, uaccess_ranges)
{
	KEXPECT(t, user_range_ok(0, 0));
	KEXPECT(t, !user_range_ok(0, 1));
	KEXPECT(t, !user_range_ok(LAYOUT_USER_START - 1, 1));
	KEXPECT(t, user_range_ok(LAYOUT_USER_START, 1));
	KEXPECT(t, user_range_ok(LAYOUT_USER_END - 8, 8));
	KEXPECT(t, !user_range_ok(LAYOUT_USER_END - 8, 9));
	KEXPECT(t, !user_range_ok(~0ull - 15, 32));	      /* wraps */
	KEXPECT(t, !user_range_ok(LAYOUT_USER_START, ~0ull)); /* wraps */
	KEXPECT(t, !user_range_ok(LAYOUT_LOWER_HALF_END, 8)); /* non-canonical */
	KEXPECT(t, !user_range_ok(LAYOUT_KERNEL_START, 8));   /* kernel */
}

/*
 * Copies against a page mapped user read-only: reads work, a write
 * faults (CR0.WP) and becomes -EFAULT, so do accesses to the unmapped
 * page after it; a plain kernel read of the page is a SMAP fault.
 */
KTEST(user, uaccess_copies)
{
	const vaddr_t va = LAYOUT_USER_STACK_START; /* below every random stack reserve */
	paddr_t frame = pmm_alloc(&pmm_kernel);
	char *k = phys_to_virt(frame), buf[16];
	struct fault_info f;
	uint64_t v;

	KEXPECT(t, frame != PADDR_INVALID);
	memset(k, 0, PAGE_SIZE);
	memcpy(k + PAGE_SIZE - 6, "hello", 6);
	KEXPECT_EQ(t, vmm_map(va, frame, PAGE_SIZE, VMM_USER), 0);
	KEXPECT_EQ(t, copy_from_user(buf, va + PAGE_SIZE - 6, 6), 0);
	KEXPECT(t, strcmp(buf, "hello") == 0);
	KEXPECT_EQ(t, copy_to_user(va, "x", 1), -EFAULT);		    /* read-only */
	KEXPECT_EQ(t, copy_from_user(buf, va + PAGE_SIZE - 4, 8), -EFAULT); /* straddles */
	KEXPECT_EQ(t, strncpy_from_user(buf, va + PAGE_SIZE - 6, sizeof(buf)), 5);
	KEXPECT_EQ(t, strncpy_from_user(buf, va + PAGE_SIZE - 6, 3), -E2BIG);
	KEXPECT_EQ(t, strncpy_from_user(buf, va + PAGE_SIZE - 1, sizeof(buf)), 0);
	k[PAGE_SIZE - 1] = 'z'; /* no NUL before the unmapped page */
	KEXPECT_EQ(t, strncpy_from_user(buf, va + PAGE_SIZE - 1, sizeof(buf)), -EFAULT);
	KEXPECT_EQ(t, strncpy_from_user(buf, 0, sizeof(buf)), -EFAULT);
	if (probe_read(va, &v, &f)) /* no fault means SMAP is off on this CPU */
		KEXPECT_EQ(t, f.kind, FAULT_SMAP);
	KEXPECT_EQ(t, vmm_unmap(va, PAGE_SIZE), 0);
	pmm_free(&pmm_kernel, frame);
}

/*
 * PROT_NONE pages keep their contents in a supervisor-only mapping: the
 * copies, which run with the kernel's rights, refuse them as the program
 * itself would be refused, and a string ending just before one is fine.
 */
KTEST(user, uaccess_refuses_prot_none)
{
	uint64_t before = free_frames();
	struct aspace *as;
	char buf[16];
	vaddr_t va;

	KASSERT(aspace_create(&as) == 0);
	KEXPECT_EQ(t, aspace_map_anon(as, 0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, &va), 0);
	thread_use_aspace(as);
	KEXPECT_EQ(t, copy_to_user(va, "abc", 4), 0); /* demand-zero, inside the copy */
	KEXPECT_EQ(t, copy_to_user(va + PAGE_SIZE - 3, "hi", 3), 0);
	KEXPECT_EQ(t, aspace_protect(as, va + PAGE_SIZE, PAGE_SIZE, PROT_NONE), 0);
	KEXPECT_EQ(t, strncpy_from_user(buf, va + PAGE_SIZE - 3, sizeof(buf)), 2);
	KEXPECT_EQ(t, copy_from_user(buf, va + PAGE_SIZE - 3, 4), -EFAULT); /* reaches it */
	KEXPECT_EQ(t, aspace_protect(as, va, PAGE_SIZE, PROT_NONE), 0);
	KEXPECT_EQ(t, copy_from_user(buf, va, 4), -EFAULT);
	KEXPECT_EQ(t, copy_to_user(va, "x", 1), -EFAULT);
	KEXPECT_EQ(t, strncpy_from_user(buf, va, sizeof(buf)), -EFAULT);
	KEXPECT_EQ(t, aspace_protect(as, va, PAGE_SIZE, PROT_READ), 0);
	KEXPECT_EQ(t, copy_from_user(buf, va, 4), 0); /* the contents were kept */
	KEXPECT(t, strcmp(buf, "abc") == 0);
	thread_use_aspace(NULL);
	aspace_destroy(as);
	KEXPECT_EQ(t, free_frames(), before);
}
