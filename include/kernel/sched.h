/*
 * The scheduler (kernel/sched.c): a locked FIFO run queue per CPU (work
 * stealing when one is empty), round robin
 * with SCHED_SLICE_TICKS-tick slices; each CPU keeps its running thread,
 * idle thread, slice and need_resched in its per-CPU area. The timer tick
 * counts the running thread's slice down and wakes sleepers; when the
 * slice is used up it sets need_resched, and the arch's interrupt path
 * calls sched_preempt_from_irq() on its way out (after the EOI, still on
 * the interrupted thread's stack, interrupts off) to switch. The
 * preempted thread later resumes there and returns through the same iretq.
 *
 * Every switch happens with interrupts off; the sleeping CPU's run queue lock orders
 * wakers against sleepers (sched_block), and a thread's on_cpu flag keeps
 * any CPU from resuming it before its registers are saved.
 */
#pragma once

#include <lib/types.h>
#include <mm/kstack.h>

struct spinlock;
struct thread;

#define SCHED_SLICE_TICKS 1 /* 10 ms at TIMER_HZ = 100 */

/*
 * Make the boot flow (running on kmain_stack) the first thread, start the
 * idle thread, hook the timer tick and turn interrupts on, for good.
 * Prints the scheduler's boot line. => after timer_init and kstack_init.
 */
void sched_init(const struct kstack *kmain_stack);

/* True once sched_init has run. */
bool sched_running(void);

/* The running thread (NULL before sched_init). */
struct thread *sched_current(void);

/*
 * Switch to the next ready thread (the idle thread if none). What becomes
 * of the current one depends on its state, set by the caller: READY goes
 * to the run queue's tail, BLOCKED waits for sched_wake, DEAD never runs
 * again. Returns when the current thread is switched back to.
 *  => interrupts off; no spinlock held.
 */
void sched_switch(void);

/*
 * Switch out the current thread, which has made itself BLOCKED on a wait
 * queue whose lock, held, is released only once the run queue's lock is
 * taken: a waker cannot make it READY before the switch has decided.
 *  => held locked by the caller (interrupts off); state BLOCKED.
 */
void sched_block(struct spinlock *held);

/*
 * The end of every switch, on the new thread's stack: the thread this CPU
 * switched away from has its registers saved, and may run elsewhere now.
 * New threads call it first thing. => interrupts off.
 */
void sched_finish_switch(void);

/* Make a BLOCKED thread READY (run queue tail). Any context; interrupts off. */
void sched_wake(struct thread *t);

/* Add a new thread to the run queue. */
void sched_add(struct thread *t);

/*
 * The timer hook: counts the slice down, wakes sleepers whose tick has
 * come. Interrupt context. Tests that install a hook of their own chain
 * to it so that scheduling goes on.
 */
void sched_tick(uint64_t tick);

/*
 * Called by the arch's interrupt exit path, after the interrupt is
 * acknowledged, on the interrupted thread's stack with interrupts off:
 * switches if the slice is used up (or a thread woke while idle) and
 * preemption is enabled.
 */
void sched_preempt_from_irq(void);

/* Hold off preemption for a short section (nests). Blocking while held panics. */
void preempt_disable(void);
/* Undo one preempt_disable; at zero, switch now if a preemption was held off. */
void preempt_enable(void);
/* The nesting depth of preempt_disable. */
unsigned int preempt_count(void);

/* The sleepers' queue (thread_sleep_ms): woken by sched_tick. */
struct wait_queue *sched_sleepers(void);

struct sched_stats {
	uint64_t switches;    /* context switches */
	uint64_t preemptions; /* of them, from the timer interrupt */
	uint64_t kicks;	      /* reschedule interrupts sent to idle CPUs */
	uint64_t steals;      /* threads a CPU took from another CPU's queue */
};
void sched_stats(struct sched_stats *s);

/*
 * Run fn(arg) once on every online CPU, each on a thread pinned there, and
 * return when all are done. => a thread, with memory for one thread a CPU.
 */
void sched_on_each_cpu(void (*fn)(void *arg), void *arg);

/*
 * The CPUs that run threads, one bit each: every online CPU once
 * sched_init() has released them (the boot CPU alone with `nosmp`).
 */
uint64_t sched_cpus(void);
