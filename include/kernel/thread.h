/*
 * Kernel threads (kernel/thread.c). Each runs on its own guarded kernel
 * stack (kstack_alloc, owner = the thread's name, so an overflow report
 * names the thread), is scheduled round robin and preempted by the timer
 * (kernel/sched.c), and starts with interrupts on. The boot flow becomes
 * the first thread, "kmain"; an idle thread halts with interrupts on when
 * nothing else can run.
 */
#pragma once

#include <kernel/wait.h>
#include <lib/types.h>
#include <mm/kstack.h>

#define THREAD_NAME_LEN 40 /* with the NUL; longer names are cut */

enum thread_state {
	THREAD_RUNNING, /* on the CPU */
	THREAD_READY,	/* in the run queue */
	THREAD_BLOCKED, /* on a wait queue */
	THREAD_DEAD,	/* exited, waiting for thread_join */
};

struct arch_context;
struct aspace;
struct process;

struct thread {
	uint64_t id;
	char name[THREAD_NAME_LEN];
	enum thread_state state;
	struct kstack stack;
	struct arch_context *context; /* saved while not running */
	/*
	 * This thread's stack-protector canary (low byte zero), drawn at
	 * creation; kmain's is the boot canary its open frames hold.
	 */
	uint64_t canary;
	struct thread *next; /* link in the run queue or one wait queue */
	/*
	 * 1 from the moment a CPU picks it to run until its registers are
	 * saved after it switched away (kernel/sched.c): while set, no other
	 * CPU may resume it, and thread_join may not free its stack.
	 */
	volatile uint32_t on_cpu;
	/*
	 * The CPU that last picked it: while it is BLOCKED, that CPU's run
	 * queue lock guards its state (kernel/sched.c, sched_wake).
	 */
	uint32_t cpu;
	bool pinned; /* runs only on pin_cpu (thread_pin) */
	uint32_t pin_cpu;
	long (*fn)(void *arg);
	void *arg;
	long exit_value;
	struct wait_queue joiners; /* thread_join sleeps here until DEAD */
	uint64_t wake_tsc;	   /* thread_sleep_ms: the TSC deadline to wake at */
	void *fpu;		   /* a user thread's FPU/SSE save area, else NULL */
	struct process *process;   /* a user thread's process, else NULL */
	struct aspace *aspace;	   /* the space it runs in; NULL: the kernel's */
};

/*
 * A new thread that runs fn(arg) with interrupts on; fn's return value is
 * its exit value. It is ready at once (it may run before this returns).
 * Returns NULL if there is no memory for its struct or stack.
 */
struct thread *thread_create(long (*fn)(void *arg), void *arg, const char *name);

/* End the calling thread with value for thread_join. => not kmain's idle. */
__noreturn void thread_exit(long value);

/*
 * Wait until t has exited, store its exit value in *value (value may be
 * NULL), and free its stack and struct: t is gone afterwards.
 * => t is not the caller, and only one thread joins it.
 */
void thread_join(struct thread *t, long *value);

/* Give the CPU to the next ready thread, if any; back in the run queue. */
void thread_yield(void);

/*
 * Sleep for at least ms milliseconds. Tick-based: TIMER_HZ = 100 gives a
 * 10 ms granularity; ms is rounded up to whole ticks and one more tick is
 * added for the part of the current one already gone, so the sleep lasts
 * between ms and ms + 10 ms (more if the host stalls QEMU).
 */
void thread_sleep_ms(uint64_t ms);

/*
 * Make as (NULL: the kernel's) the space the calling thread runs in from
 * now on, and load it: the scheduler loads a thread's space whenever it
 * runs it, so a space loaded any other way would not survive a switch.
 */
void thread_use_aspace(struct aspace *as);

/*
 * Run the calling thread only on CPU cpu from now on, and move there
 * before returning (at most a slice's wait). 0, or -EINVAL if that CPU is
 * not online. For work that must happen on each CPU: its caches, its
 * state (sched_on_each_cpu).
 */
int thread_pin(unsigned int cpu);
/* Let the calling thread run on any CPU again. */
void thread_unpin(void);

/* The running thread. => after sched_init(). */
struct thread *thread_current(void);

/*
 * Make the calling flow, an AP's, running on stack, that CPU's idle thread
 * (it runs on, with its own canary installed by the caller). => sched only.
 */
struct thread *thread_cpu_idle(const struct kstack *stack);

/*
 * Make the boot flow, running on stack, the first thread "kmain" (its
 * canary is the boot one) and build the idle thread. => sched_init only.
 * Returns kmain's thread and sets *idle.
 */
struct thread *thread_boot_init(const struct kstack *stack, struct thread **idle);
