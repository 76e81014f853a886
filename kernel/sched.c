/*
 * The scheduler (include/kernel/sched.h): one FIFO run queue under one
 * lock, shared by every CPU that runs threads; each CPU has its own
 * running thread, idle thread, slice and need_resched in its per-CPU area.
 * Round robin on the timer tick, preemption on the way out of the timer
 * interrupt. The idle thread is never queued: a CPU runs its own when the
 * queue is empty. Threads are kernel/thread.c; blocking is kernel/wait.c.
 *
 * The switch protocol, for several CPUs: a thread is "on a CPU" (on_cpu)
 * from the moment a CPU picks it until the thread that runs after it on
 * that CPU has finished the switch (sched_finish_switch), i.e. until its
 * registers are saved. A CPU that picks a thread waits for on_cpu to fall
 * before switching to it, so a thread that was queued (by a waker, or by
 * its own yield) before its context was saved is never resumed early.
 */
#include <arch/arch.h>
#include <arch/context.h>
#include <arch/irq.h>
#include <arch/percpu.h>
#include <arch/smp.h>
#include <arch/timer.h>
#include <kernel/boot.h>
#include <kernel/console.h>
#include <kernel/lockdebug.h>
#include <kernel/panic.h>
#include <kernel/sched.h>
#include <kernel/stack_protector.h>
#include <kernel/thread.h>
#include <kernel/timer.h>
#include <kernel/wait.h>
#include <lib/cmdline.h>
#include <lib/errno.h>
#include <lib/spinlock.h>
#include <mm/aspace.h>

static bool all_cpus; /* the APs run threads (smpsched) */
static struct spinlock run_lock =
    SPINLOCK_INIT_NAMED("run_lock"); /* the run queue and every thread's state */
static struct thread *run_head, *run_tail;
static struct wait_queue sleepers = WAIT_QUEUE_INIT;
static struct sched_stats stats; /* atomics */
static uint64_t idle_cpus;	 /* CPUs running their idle thread (run_lock) */

bool sched_running(void)
{
	return arch_percpu_current() != NULL;
}

struct thread *sched_current(void)
{
	return arch_percpu_current();
}

struct wait_queue *sched_sleepers(void)
{
	return &sleepers;
}

/* Append t to the run queue; the caller holds run_lock. */
static void enqueue(struct thread *t)
{
	KASSERT(t != arch_percpu()->idle_thread);
	t->state = THREAD_READY;
	t->next = NULL;
	if (run_tail)
		run_tail->next = t;
	else
		run_head = t;
	run_tail = t;
}

/*
 * The first queued thread this CPU may run (any, unless pinned elsewhere),
 * removed, or this CPU's idle thread; run_lock held.
 */
static struct thread *dequeue(void)
{
	unsigned int cpu = arch_percpu()->cpu;
	struct thread *prev = NULL;

	for (struct thread *t = run_head; t; prev = t, t = t->next) {
		if (t->pinned && t->pin_cpu != cpu)
			continue;
		if (prev)
			prev->next = t->next;
		else
			run_head = t->next;
		if (run_tail == t)
			run_tail = prev;
		t->next = NULL;
		return t;
	}
	return arch_percpu()->idle_thread;
}

/* Make CPU cpu look at the queue at its next interrupt exit, now if it can. => run_lock held. */
static void kick_cpu(unsigned int cpu)
{
	struct percpu *pc = arch_percpu();

	idle_cpus &= ~(1ull << cpu);
	if (cpu == pc->cpu) {
		pc->need_resched = true;
		return;
	}
	arch_percpu_of(cpu)->need_resched = true;
	__atomic_fetch_add(&stats.kicks, 1, __ATOMIC_RELAXED);
	arch_smp_resched(cpu);
}

/*
 * t was queued: make a CPU that may run it look at the queue now. A pinned
 * thread's own CPU, busy or not; else an idle CPU, if any (this one's own
 * need_resched, or a reschedule interrupt), each kicked once. => run_lock held.
 */
static void kick_for(struct thread *t)
{
	uint64_t self = 1ull << arch_percpu()->cpu;

	if (t->pinned)
		kick_cpu(t->pin_cpu);
	else if (idle_cpus & self)
		kick_cpu(arch_percpu()->cpu);
	else if (idle_cpus)
		kick_cpu((unsigned int)__builtin_ctzll(idle_cpus));
}

void sched_add(struct thread *t)
{
	unsigned long flags = spin_lock_irqsave(&run_lock);

	enqueue(t);
	kick_for(t);
	spin_unlock_irqrestore(&run_lock, flags);
}

void sched_wake(struct thread *t)
{
	unsigned long flags = spin_lock_irqsave(&run_lock);

	if (t->state != THREAD_BLOCKED)
		panic("sched: waking thread %s, which is not blocked (state %d)", t->name,
		      (int)t->state);
	enqueue(t);
	kick_for(t);
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
	struct thread *self = sched_current();

	self->aspace = as;
	switch_space(self);
	arch_irq_restore(flags);
}

void sched_finish_switch(void)
{
	struct percpu *pc = arch_percpu();
	struct thread *prev = pc->switch_prev;

	KASSERT(!arch_irqs_enabled());
	pc->switch_prev = NULL;
	if (prev) /* its registers are saved: another CPU may resume it now */
		__atomic_store_n(&prev->on_cpu, 0, __ATOMIC_RELEASE);
}

/*
 * Run next on this CPU in place of prev. => interrupts off, run_lock
 * released, next picked by this CPU (nobody else can pick it).
 */
static void switch_to(struct thread *prev, struct thread *next)
{
	struct percpu *pc = arch_percpu();

	/* prev's own CPU may not have saved next's registers yet. */
	while (__atomic_load_n(&next->on_cpu, __ATOMIC_ACQUIRE))
		arch_cpu_relax();
	next->on_cpu = 1;
	__atomic_fetch_add(&stats.switches, 1, __ATOMIC_RELAXED);
	pc->current_thread = next;
	pc->switch_prev = prev;
	/* next's frames were all set up under its own canary: make it the live one. */
	stack_protector_switch(next->canary);
	arch_thread_switch_hook(prev, next); /* user FPU state, kernel stack for ring 3 entries */
	switch_space(next);
	arch_context_switch(&prev->context, next->context);
	sched_finish_switch(); /* back on prev's stack, perhaps on another CPU */
}

/* Decide what follows the current thread and switch to it. => run_lock held, irqs off. */
static void switch_locked(unsigned long flags)
{
	struct percpu *pc = arch_percpu();
	struct thread *prev = pc->current_thread, *next;

	KASSERT(prev && prev->on_cpu);
	if (prev->state == THREAD_RUNNING)
		prev->state = THREAD_READY;
	if (prev->state == THREAD_READY && prev != pc->idle_thread) {
		enqueue(prev);
		if (prev->pinned && prev->pin_cpu != pc->cpu)
			kick_cpu(prev->pin_cpu); /* moving to its CPU (thread_pin) */
	}
	next = dequeue();
	next->state = THREAD_RUNNING;
	if (next == pc->idle_thread)
		idle_cpus |= 1ull << pc->cpu;
	else
		idle_cpus &= ~(1ull << pc->cpu);
	pc->need_resched = false;
	pc->slice_left = SCHED_SLICE_TICKS;
	spin_unlock_irqrestore(&run_lock, flags); /* interrupts stay off: the caller's rule */
	if (next != prev)
		switch_to(prev, next);
}

void sched_switch(void)
{
	switch_locked(spin_lock_irqsave(&run_lock));
}

int thread_pin(unsigned int cpu)
{
	struct thread *self = sched_current();
	unsigned long flags;

	if (cpu >= 64 || !(sched_cpus() & (1ull << cpu)))
		return -EINVAL;
	flags = spin_lock_irqsave(&run_lock);
	self->pin_cpu = cpu;
	self->pinned = true;
	spin_unlock_irqrestore(&run_lock, flags);
	while (arch_percpu()->cpu != cpu) /* read with interrupts on: settles once there */
		thread_yield();
	return 0;
}

void thread_unpin(void)
{
	unsigned long flags = spin_lock_irqsave(&run_lock);

	sched_current()->pinned = false;
	spin_unlock_irqrestore(&run_lock, flags);
}

struct on_cpu_call {
	unsigned int cpu;
	void (*fn)(void *arg);
	void *arg;
};

static long on_cpu_body(void *arg)
{
	struct on_cpu_call *c = arg;

	if (thread_pin(c->cpu) == 0)
		c->fn(c->arg);
	return 0;
}

void sched_on_each_cpu(void (*fn)(void *arg), void *arg)
{
	uint64_t online = sched_cpus();
	struct on_cpu_call calls[64];
	struct thread *threads[64] = {NULL};

	for (unsigned int cpu = 0; cpu < 64; cpu++) {
		if (!(online & (1ull << cpu)))
			continue;
		calls[cpu] = (struct on_cpu_call){cpu, fn, arg};
		threads[cpu] = thread_create(on_cpu_body, &calls[cpu], "on_each_cpu");
		if (!threads[cpu])
			panic("sched: no memory for a thread to run on CPU %u", cpu);
	}
	for (unsigned int cpu = 0; cpu < 64; cpu++)
		if (threads[cpu])
			thread_join(threads[cpu], NULL);
}

void sched_block(struct spinlock *held)
{
	unsigned long flags = spin_lock_irqsave(&run_lock);

	KASSERT(sched_current()->state == THREAD_BLOCKED);
	/*
	 * A waker needs run_lock to make us READY: it cannot until we have
	 * decided. held goes first, out of order on purpose; interrupts stay off.
	 */
	if (lockdebug_enabled)
		lockdebug_release_handoff(held);
	spin_unlock_raw(held);
	switch_locked(flags);
}

/* A sleeper is due when its TSC deadline has passed. */
static bool sleeper_due(struct thread *t, void *now)
{
	return t->wake_tsc <= *(uint64_t *)now;
}

/* An AP's timer tick: the same work as the boot CPU's, without the clock. */
static void sched_ap_tick(void)
{
	sched_tick(0);
}

void sched_tick(uint64_t tick)
{
	struct percpu *pc = arch_percpu();
	unsigned long flags;
	uint64_t now;

	(void)tick;
	pc->ticks++;
	if (!pc->current_thread)
		return;
	now = arch_timestamp();
	flags = wait_queue_lock(&sleepers);
	wait_queue_wake_if(&sleepers, sleeper_due, &now);
	wait_queue_unlock(&sleepers, flags);
	if (pc->slice_left > 1)
		pc->slice_left--;
	else
		pc->need_resched = true;
}

void sched_preempt_from_irq(void)
{
	struct percpu *pc = arch_percpu();

	if (!pc->current_thread || !pc->need_resched || pc->preempt_depth)
		return;
	__atomic_fetch_add(&stats.preemptions, 1, __ATOMIC_RELAXED);
	sched_switch(); /* the thread resumes here, then returns through its iretq */
}

/* The per-CPU count changes with interrupts off: no switch can come in between. */
void preempt_disable(void)
{
	unsigned long flags = arch_irq_save();

	arch_percpu()->preempt_depth++;
	arch_irq_restore(flags);
}

void preempt_enable(void)
{
	unsigned long flags = arch_irq_save();
	struct percpu *pc = arch_percpu();
	bool resched;

	if (!pc->preempt_depth)
		panic("sched: preempt_enable without preempt_disable");
	resched = --pc->preempt_depth == 0 && pc->need_resched;
	arch_irq_restore(flags);
	if (resched && arch_irqs_enabled())
		thread_yield();
}

unsigned int preempt_count(void)
{
	return arch_percpu()->preempt_depth; /* nonzero only where no switch can move us */
}

void sched_stats(struct sched_stats *s)
{
	s->switches = __atomic_load_n(&stats.switches, __ATOMIC_RELAXED);
	s->preemptions = __atomic_load_n(&stats.preemptions, __ATOMIC_RELAXED);
}

/*
 * An AP's way in (arch_smp_release): its parking flow becomes its idle
 * thread, its timer starts with the boot CPU's calibration, and it takes
 * threads from the run queue from its first tick or reschedule interrupt.
 */
static __noreturn void sched_ap_main(const struct kstack *stack)
{
	struct percpu *pc = arch_percpu();
	struct thread *idle = thread_cpu_idle(stack);
	unsigned long flags;

	idle->canary = stack_protector_current(); /* its open frames hold it */
	pc->idle_thread = idle;
	pc->slice_left = SCHED_SLICE_TICKS;
	pc->current_thread = idle;
	flags = spin_lock_irqsave(&run_lock);
	idle_cpus |= 1ull << pc->cpu;
	if (run_head)
		pc->need_resched = true;
	spin_unlock_irqrestore(&run_lock, flags);
	if (arch_timer_start_this_cpu(TIMER_HZ, sched_ap_tick))
		panic("sched: CPU %u cannot start its timer", pc->cpu);
	for (;;)
		arch_irq_enable_and_wait();
}

uint64_t sched_cpus(void)
{
	return all_cpus ? arch_smp_online() : 1;
}

void sched_init(const struct kstack *kmain_stack)
{
	struct percpu *pc = arch_percpu();
	struct thread *idle;
	struct thread *boot = thread_boot_init(kmain_stack, &idle);

	boot->on_cpu = 1;
	pc->idle_thread = idle;
	pc->slice_left = SCHED_SLICE_TICKS;
	pc->current_thread = boot;
	timer_set_hook(sched_tick);
	/* Opt-in for now: the process tests on 4 CPUs have hung under host load (docs/design.md).
	 */
	all_cpus = cmdline_has(boot_info->cmdline, "smpsched");
	kinfo(
	    "sched: preemptive round robin on %u CPUs, one run queue, %u ms slices; interrupts on",
	    all_cpus ? (unsigned int)__builtin_popcountll(arch_smp_online()) : 1u,
	    SCHED_SLICE_TICKS * 1000 / TIMER_HZ);
	if (all_cpus)
		arch_smp_release(sched_ap_main); /* the APs run threads from now on */
	arch_irq_enable();			 /* from here on, for good */
}
