/*
 * The scheduler (include/kernel/sched.h): one CPU, a FIFO run queue,
 * round robin on the timer tick, preemption on the way out of the timer
 * interrupt. The idle thread is never queued: it runs when the queue is
 * empty. Threads are kernel/thread.c; blocking is kernel/wait.c.
 */
#include <arch/arch.h>
#include <arch/context.h>
#include <mm/aspace.h>
#include <arch/irq.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <kernel/sched.h>
#include <kernel/stack_protector.h>
#include <kernel/thread.h>
#include <kernel/timer.h>
#include <kernel/wait.h>
#include <lib/spinlock.h>

static struct spinlock run_lock = SPINLOCK_INIT_NAMED("run_lock"); /* run queue */
static struct thread *run_head, *run_tail;
static struct thread *current, *idle;
static volatile bool need_resched;
static volatile unsigned int preempt_depth;
static volatile unsigned int slice_left;
static struct wait_queue sleepers = WAIT_QUEUE_INIT;
static struct sched_stats stats;

bool sched_running(void)
{
	return current != NULL;
}

struct thread *sched_current(void)
{
	return current;
}

struct wait_queue *sched_sleepers(void)
{
	return &sleepers;
}

/* Append t to the run queue; the caller holds run_lock. */
static void enqueue(struct thread *t)
{
	t->state = THREAD_READY;
	t->next = NULL;
	if (run_tail)
		run_tail->next = t;
	else
		run_head = t;
	run_tail = t;
}

/* The head of the run queue, removed, or the idle thread; the caller holds run_lock. */
static struct thread *dequeue(void)
{
	struct thread *t = run_head;

	if (!t)
		return idle;
	run_head = t->next;
	if (!run_head)
		run_tail = NULL;
	t->next = NULL;
	return t;
}

void sched_add(struct thread *t)
{
	unsigned long flags = spin_lock_irqsave(&run_lock);

	enqueue(t);
	spin_unlock_irqrestore(&run_lock, flags);
}

void sched_wake(struct thread *t)
{
	unsigned long flags = spin_lock_irqsave(&run_lock);

	if (t->state != THREAD_BLOCKED)
		panic("sched: waking thread %s, which is not blocked (state %d)", t->name,
		      (int)t->state);
	enqueue(t);
	if (current == idle)
		need_resched = true; /* leave idle at the next interrupt exit */
	spin_unlock_irqrestore(&run_lock, flags);
}

/* Load next's address space if another one is loaded. => interrupts off. */
static void switch_space(struct thread *next)
{
	struct aspace *want = next->aspace ? next->aspace : aspace_kernel();

	if (aspace_current() != want)
		aspace_activate(want);
}

void thread_use_aspace(struct aspace *as)
{
	unsigned long flags = arch_irq_save();

	current->aspace = as;
	switch_space(current);
	arch_irq_restore(flags);
}

void sched_switch(void)
{
	struct thread *prev = current, *next;
	unsigned long flags = spin_lock_irqsave(&run_lock);

	if (prev->state == THREAD_RUNNING)
		prev->state = THREAD_READY;
	if (prev->state == THREAD_READY && prev != idle)
		enqueue(prev);
	next = dequeue();
	next->state = THREAD_RUNNING;
	need_resched = false;
	slice_left = SCHED_SLICE_TICKS;
	spin_unlock_irqrestore(&run_lock, flags); /* interrupts stay off: the caller's rule */
	if (next == prev)
		return;
	stats.switches++;
	current = next;
	/* next's frames were all set up under its own canary: make it the live one. */
	stack_protector_switch(next->canary);
	arch_thread_switch_hook(prev, next); /* user FPU state, kernel stack for ring 3 entries */
	switch_space(next);
	arch_context_switch(&prev->context, next->context);
}

/* A sleeper is due when its TSC deadline has passed. */
static bool sleeper_due(struct thread *t, void *now)
{
	return t->wake_tsc <= *(uint64_t *)now;
}

void sched_tick(uint64_t tick)
{
	unsigned long flags;
	uint64_t now;

	if (!current)
		return;
	now = arch_timestamp();
	flags = wait_queue_lock(&sleepers);
	wait_queue_wake_if(&sleepers, sleeper_due, &now);
	wait_queue_unlock(&sleepers, flags);
	if (slice_left > 1)
		slice_left--;
	else
		need_resched = true;
}

void sched_preempt_from_irq(void)
{
	if (!current || !need_resched || preempt_depth)
		return;
	stats.preemptions++;
	sched_switch(); /* the thread resumes here, then returns through its iretq */
}

void preempt_disable(void)
{
	preempt_depth++;
	__asm__ volatile("" ::: "memory");
}

void preempt_enable(void)
{
	__asm__ volatile("" ::: "memory");
	if (!preempt_depth)
		panic("sched: preempt_enable without preempt_disable");
	if (--preempt_depth == 0 && need_resched && arch_irqs_enabled())
		thread_yield();
}

unsigned int preempt_count(void)
{
	return preempt_depth;
}

void sched_stats(struct sched_stats *s)
{
	unsigned long flags = arch_irq_save();

	*s = stats;
	arch_irq_restore(flags);
}

void sched_init(const struct kstack *kmain_stack)
{
	struct thread *boot = thread_boot_init(kmain_stack, &idle);

	slice_left = SCHED_SLICE_TICKS;
	current = boot;
	timer_set_hook(sched_tick);
	kinfo("sched: preemptive round robin, %u ms slices; interrupts on",
	      SCHED_SLICE_TICKS * 1000 / TIMER_HZ);
	arch_irq_enable(); /* from here on, for good */
}
