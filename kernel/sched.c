/*
 * The scheduler (include/kernel/sched.h): a FIFO run queue per CPU, each
 * under its own lock; a CPU whose queue is empty steals from another's,
 * a woken thread goes to an idle CPU's queue or the waker's, a pinned one
 * to its CPU's. Each CPU has its own running thread, idle thread, slice
 * and need_resched in its per-CPU area.
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
#include <kernel/console.h>
#include <kernel/lockdebug.h>
#include <kernel/panic.h>
#include <kernel/sched.h>
#include <kernel/stack_protector.h>
#include <kernel/thread.h>
#include <kernel/timer.h>
#include <kernel/wait.h>
#include <lib/errno.h>
#include <lib/spinlock.h>
#include <mm/aspace.h>

/*
 * One run queue a CPU, each under its own lock: a CPU's timer path takes
 * its own lock only, so a lock holder the host does not run stalls its own
 * CPU's queue, not every CPU behind one ticket queue (docs/design.md). A
 * BLOCKED thread's state belongs to the lock of the CPU it last ran on
 * (thread->cpu): sched_block holds that one across the switch decision.
 */
struct run_queue {
	struct spinlock lock;
	struct thread *head, *tail;
	uint32_t len; /* written under lock, read without by stealers */
} __attribute__((aligned(64)));

#define SCHED_MAX_CPUS 64
static struct run_queue run_queues[SCHED_MAX_CPUS] = {
    [0 ... SCHED_MAX_CPUS - 1] = {.lock = SPINLOCK_INIT_NAMED("run queue")}};
static struct wait_queue sleepers = WAIT_QUEUE_INIT;
static struct sched_stats stats; /* atomics */
static uint64_t idle_cpus;	 /* CPUs running their idle thread (atomic) */

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

static struct run_queue *rq_of(unsigned int cpu)
{
	KASSERT(cpu < SCHED_MAX_CPUS);
	return &run_queues[cpu];
}

static struct run_queue *rq_here(void)
{
	return rq_of(arch_percpu()->cpu);
}

/* Append t to rq. => rq's lock held. */
static void enqueue(struct run_queue *rq, struct thread *t)
{
	KASSERT(t != arch_percpu()->idle_thread);
	t->state = THREAD_READY;
	t->next = NULL;
	if (rq->tail)
		rq->tail->next = t;
	else
		rq->head = t;
	rq->tail = t;
	__atomic_store_n(&rq->len, rq->len + 1, __ATOMIC_RELAXED);
}

/*
 * Whether CPU cpu may take t now: not pinned elsewhere, and not still on
 * another CPU (queued by a waker or its own yield before that CPU saved
 * its registers). Waiting for such a thread in switch_to could deadlock
 * two CPUs, each having taken the other's outgoing thread from a queue
 * the other does not lock; it is left for a later look (the next tick).
 */
static bool may_take(const struct thread *t, unsigned int cpu)
{
	if (t->pinned && t->pin_cpu != cpu)
		return false;
	return t == arch_percpu()->current_thread || !__atomic_load_n(&t->on_cpu, __ATOMIC_ACQUIRE);
}

/* The first thread in rq that CPU cpu may take now, removed, or NULL. => rq's lock held. */
static struct thread *dequeue(struct run_queue *rq, unsigned int cpu)
{
	struct thread *prev = NULL;

	for (struct thread *t = rq->head; t; prev = t, t = t->next) {
		if (!may_take(t, cpu))
			continue;
		if (prev)
			prev->next = t->next;
		else
			rq->head = t->next;
		if (rq->tail == t)
			rq->tail = prev;
		t->next = NULL;
		KASSERT(rq->len > 0);
		__atomic_store_n(&rq->len, rq->len - 1, __ATOMIC_RELAXED);
		return t;
	}
	return NULL;
}

/*
 * This CPU's queue is empty: take a thread from another CPU's. trylock
 * only: a stealer never waits in another CPU's ticket queue, and holding
 * its own lock meanwhile cannot deadlock. NULL if nothing was free.
 * => interrupts off.
 */
static struct thread *steal(void)
{
	unsigned int self = arch_percpu()->cpu;
	uint64_t cpus = sched_cpus() & ~(1ull << self);
	unsigned long flags;

	while (cpus) {
		unsigned int cpu = (unsigned int)__builtin_ctzll(cpus);
		struct run_queue *rq = rq_of(cpu);
		struct thread *t = NULL;

		cpus &= cpus - 1;
		if (!__atomic_load_n(&rq->len, __ATOMIC_RELAXED) ||
		    !spin_trylock_irqsave(&rq->lock, &flags))
			continue;
		t = dequeue(rq, self);
		spin_unlock_irqrestore(&rq->lock, flags);
		if (t) {
			__atomic_fetch_add(&stats.steals, 1, __ATOMIC_RELAXED);
			return t;
		}
	}
	return NULL;
}

/* Make CPU cpu look at its queue at its next interrupt exit, now if it can. */
static void kick_cpu(unsigned int cpu)
{
	struct percpu *pc = arch_percpu();

	__atomic_fetch_and(&idle_cpus, ~(1ull << cpu), __ATOMIC_RELAXED);
	if (cpu == pc->cpu) {
		pc->need_resched = true;
		return;
	}
	arch_percpu_of(cpu)->need_resched = true;
	__atomic_fetch_add(&stats.kicks, 1, __ATOMIC_RELAXED);
	arch_smp_resched(cpu);
}

/*
 * Which CPU's queue a thread made ready goes to: a pinned thread's own
 * CPU; else this CPU if it idles, else another idle CPU, else this one's
 * (the waker's). *kick says whether that CPU must look now.
 */
static unsigned int place(struct thread *t, bool *kick)
{
	unsigned int self = arch_percpu()->cpu;
	uint64_t idle = __atomic_load_n(&idle_cpus, __ATOMIC_RELAXED) & sched_cpus();

	*kick = true;
	if (t->pinned)
		return t->pin_cpu;
	if (idle & (1ull << self))
		return self;
	if (idle)
		return (unsigned int)__builtin_ctzll(idle);
	*kick = false;
	return self;
}

/* Queue t (READY from now on) where place() says, and kick that CPU. => interrupts off. */
static void push(struct thread *t)
{
	bool kick;
	unsigned int cpu = place(t, &kick);
	struct run_queue *rq = rq_of(cpu);
	unsigned long flags = spin_lock_irqsave(&rq->lock);

	enqueue(rq, t);
	spin_unlock_irqrestore(&rq->lock, flags);
	if (kick)
		kick_cpu(cpu);
}

void sched_add(struct thread *t)
{
	unsigned long flags = arch_irq_save();

	t->cpu = arch_percpu()->cpu;
	push(t);
	arch_irq_restore(flags);
}

void sched_wake(struct thread *t)
{
	struct run_queue *owner = rq_of(__atomic_load_n(&t->cpu, __ATOMIC_RELAXED));
	/* Wait for t's CPU to have decided its switch (sched_block holds this lock). */
	unsigned long flags = spin_lock_irqsave(&owner->lock);

	if (t->state != THREAD_BLOCKED)
		panic("sched: waking thread %s, which is not blocked (state %d)", t->name,
		      (int)t->state);
	t->state = THREAD_READY; /* no other waker touches it now */
	spin_unlock_irqrestore(&owner->lock, flags);
	flags = arch_irq_save();
	push(t);
	arch_irq_restore(flags);
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
 * Run next on this CPU in place of prev. => interrupts off, run queue
 * locks released, next picked by this CPU (nobody else can pick it).
 */
static void switch_to(struct thread *prev, struct thread *next)
{
	struct percpu *pc = arch_percpu();

	/* dequeue took it only once its last CPU had saved its registers. */
	KASSERT(!__atomic_load_n(&next->on_cpu, __ATOMIC_ACQUIRE));
	next->on_cpu = 1;
	__atomic_store_n(&next->cpu, pc->cpu, __ATOMIC_RELAXED); /* its wakers' lock from now on */
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

/*
 * What follows prev on this CPU: this CPU's queue first, then a thread
 * stolen from another CPU's, else the idle thread. => rq's lock held (it
 * is released here, interrupts stay off).
 */
static struct thread *pick_next(struct run_queue *rq, unsigned long flags)
{
	struct percpu *pc = arch_percpu();
	struct thread *next = dequeue(rq, pc->cpu);

	spin_unlock_irqrestore(&rq->lock, flags); /* interrupts stay off: the caller's rule */
	if (!next)
		next = steal();
	return next ? next : pc->idle_thread;
}

/* Decide what follows the current thread and switch to it. => own rq locked, irqs off. */
static void switch_locked(struct run_queue *rq, unsigned long flags)
{
	struct percpu *pc = arch_percpu();
	struct thread *prev = pc->current_thread, *next;
	bool move = false;

	KASSERT(prev && prev->on_cpu);
	KASSERT(rq == rq_here());
	pc->need_resched = false; /* a kick from now on is for what comes next */
	if (prev->state == THREAD_RUNNING)
		prev->state = THREAD_READY;
	if (prev->state == THREAD_READY && prev != pc->idle_thread) {
		move = prev->pinned && prev->pin_cpu != pc->cpu; /* thread_pin */
		if (!move)
			enqueue(rq, prev);
	}
	next = pick_next(rq, flags);
	if (move)
		push(prev); /* to its CPU's queue, which waits for its on_cpu to fall */
	next->state = THREAD_RUNNING;
	if (next == pc->idle_thread)
		__atomic_fetch_or(&idle_cpus, 1ull << pc->cpu, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&idle_cpus, ~(1ull << pc->cpu), __ATOMIC_RELAXED);
	pc->slice_left = SCHED_SLICE_TICKS;
	if (next != prev)
		switch_to(prev, next);
}

void sched_switch(void)
{
	struct run_queue *rq;
	unsigned long flags = arch_irq_save(); /* so that rq stays this CPU's */

	rq = rq_here();
	(void)spin_lock_irqsave(&rq->lock);
	switch_locked(rq, flags);
}

int thread_pin(unsigned int cpu)
{
	struct thread *self = sched_current();
	unsigned long flags;

	if (cpu >= SCHED_MAX_CPUS || !(sched_cpus() & (1ull << cpu)))
		return -EINVAL;
	flags = arch_irq_save(); /* only the running thread writes its own pin */
	self->pin_cpu = cpu;
	self->pinned = true;
	arch_irq_restore(flags);
	while (arch_percpu()->cpu != cpu) /* read with interrupts on: settles once there */
		thread_yield();
	return 0;
}

void thread_unpin(void)
{
	unsigned long flags = arch_irq_save();

	sched_current()->pinned = false;
	arch_irq_restore(flags);
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
	struct run_queue *rq = rq_here(); /* interrupts are off: held is a spinlock */
	unsigned long flags = spin_lock_irqsave(&rq->lock);

	KASSERT(sched_current()->state == THREAD_BLOCKED);
	KASSERT(sched_current()->cpu == arch_percpu()->cpu);
	/*
	 * A waker needs this CPU's queue lock to make us READY (our ->cpu is
	 * this CPU): it cannot until we have decided. held goes first, out of
	 * order on purpose; interrupts stay off.
	 */
	if (lockdebug_enabled)
		lockdebug_release_handoff(held);
	spin_unlock_raw(held);
	switch_locked(rq, flags);
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
	/*
	 * The boot CPU's tick alone wakes sleepers: a shared lock in every
	 * CPU's timer path is what per-CPU run queues are there to avoid.
	 */
	if (pc->cpu == 0 && !wait_queue_empty(&sleepers)) {
		now = arch_timestamp();
		flags = wait_queue_lock(&sleepers);
		wait_queue_wake_if(&sleepers, sleeper_due, &now);
		wait_queue_unlock(&sleepers, flags);
	}
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
	s->kicks = __atomic_load_n(&stats.kicks, __ATOMIC_RELAXED);
	s->steals = __atomic_load_n(&stats.steals, __ATOMIC_RELAXED);
}

/*
 * An AP's way in (arch_smp_release): its parking flow becomes its idle
 * thread, its timer starts with the boot CPU's calibration, and it takes
 * threads (stolen from other queues, or queued to it) from its first tick.
 */
static __noreturn void sched_ap_main(const struct kstack *stack)
{
	struct percpu *pc = arch_percpu();
	struct thread *idle = thread_cpu_idle(stack);
	unsigned long flags;

	idle->canary = stack_protector_current(); /* its open frames hold it */
	idle->cpu = pc->cpu;
	pc->idle_thread = idle;
	pc->slice_left = SCHED_SLICE_TICKS;
	pc->current_thread = idle;
	flags = arch_irq_save();
	__atomic_fetch_or(&idle_cpus, 1ull << pc->cpu, __ATOMIC_RELAXED);
	pc->need_resched = true; /* look for work to steal at the first interrupt */
	arch_irq_restore(flags);
	if (arch_timer_start_this_cpu(TIMER_HZ, sched_ap_tick))
		panic("sched: CPU %u cannot start its timer", pc->cpu);
	for (;;)
		arch_irq_enable_and_wait();
}

uint64_t sched_cpus(void)
{
	return arch_smp_online(); /* released at sched_init: every CPU that started */
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
	kinfo("sched: preemptive round robin on %u CPUs, a run queue each, %u ms slices; "
	      "interrupts on",
	      (unsigned int)__builtin_popcountll(sched_cpus()),
	      SCHED_SLICE_TICKS * 1000 / TIMER_HZ);
	arch_smp_release(sched_ap_main); /* the APs run threads from now on */
	arch_irq_enable();		 /* from here on, for good */
}
