/*
 * Kernel threads (include/kernel/thread.h): creation on a guarded stack,
 * exit and join, yield and sleep. Which thread runs when is
 * kernel/sched.c; sleeping and waking is kernel/wait.c.
 */
#include <arch/arch.h>
#include <arch/context.h>
#include <arch/irq.h>
#include <arch/timer.h>
#include <kernel/panic.h>
#include <kernel/sched.h>
#include <kernel/stack_protector.h>
#include <kernel/thread.h>
#include <kernel/timer.h>
#include <lib/fmt.h>
#include <mm/kmalloc.h>
#include <mm/slab.h>

static uint64_t next_id; /* under thread_id_lock */
static struct spinlock thread_id_lock = SPINLOCK_INIT_NAMED("thread_id_lock");

struct thread *thread_current(void)
{
	return sched_current();
}

static struct kmem_cache thread_cache = KMEM_CACHE_INIT("thread", struct thread);

/* A zeroed struct with an id, a name (cut to fit) and a canary; NULL if out of memory. */
static struct thread *thread_alloc(const char *name)
{
	struct thread *t = kmem_cache_zalloc(&thread_cache);
	unsigned long flags;

	if (!t)
		return NULL;
	flags = spin_lock_irqsave(&thread_id_lock);
	t->id = next_id++;
	spin_unlock_irqrestore(&thread_id_lock, flags);
	fmt_snprintf(t->name, sizeof(t->name), "%s", name);
	t->canary = stack_protector_new_canary();
	wait_queue_init(&t->joiners);
	return t;
}

/* Where every new thread begins, interrupts off (as every switch leaves them). */
static void thread_start(void *arg)
{
	struct thread *self = arg;

	sched_finish_switch(); /* what every switch does once it is on the new stack */
	arch_irq_enable();
	thread_exit(self->fn(self->arg));
}

/* thread_start never returns; arch_context_init still wants an exit. */
static void thread_start_returned(void *arg)
{
	panic("thread: %s returned from its start function", ((struct thread *)arg)->name);
}

/* Build t on a new stack so that its first switch runs thread_start(t). 0 or -ENOMEM/... */
static int thread_setup(struct thread *t, void (*entry)(void *))
{
	int err = kstack_alloc(&t->stack, t->name);

	if (err)
		return err;
	t->context = arch_context_init((void *)t->stack.top, entry, t, thread_start_returned);
	return 0;
}

struct thread *thread_create(long (*fn)(void *arg), void *arg, const char *name)
{
	struct thread *t = thread_alloc(name);

	if (!t)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	if (thread_setup(t, thread_start)) {
		kmem_cache_free(&thread_cache, t);
		return NULL;
	}
	sched_add(t);
	return t;
}

__noreturn void thread_exit(long value)
{
	struct thread *self = thread_current();

	self->exit_value = value;
	(void)wait_queue_lock(&self->joiners); /* interrupts stay off until we are gone */
	self->state = THREAD_DEAD;
	wait_queue_wake_all(&self->joiners);
	spin_unlock_irqrestore(&self->joiners.lock, arch_irq_save());
	sched_switch(); /* never returns: DEAD threads are not queued */
	panic("thread: %s ran again after it exited", self->name);
}

void thread_join(struct thread *t, long *value)
{
	unsigned long flags;

	if (t == thread_current())
		panic("thread: %s joins itself", t->name);
	flags = wait_queue_lock(&t->joiners);
	while (t->state != THREAD_DEAD)
		wait_queue_sleep(&t->joiners);
	wait_queue_unlock(&t->joiners, flags);
	/* DEAD is set before its last switch: wait until its CPU has left its stack. */
	while (__atomic_load_n(&t->on_cpu, __ATOMIC_ACQUIRE))
		arch_cpu_relax();
	if (value)
		*value = t->exit_value;
	kstack_free(&t->stack);
	kmem_cache_free(&thread_cache, t);
}

void thread_yield(void)
{
	unsigned long flags = arch_irq_save();

	sched_switch(); /* RUNNING: back to the run queue's tail */
	arch_irq_restore(flags);
}

/*
 * A sleeper has a TSC deadline; sched_tick wakes it at the first tick that
 * finds the deadline passed. So a sleep lasts at least ms by the TSC, and
 * at most about one tick more: a tick count alone can run ahead of the
 * TSC when the emulator delivers late ticks together.
 */
void thread_sleep_ms(uint64_t ms)
{
	struct thread *self = thread_current();
	struct wait_queue *wq = sched_sleepers();
	unsigned long flags = wait_queue_lock(wq);

	self->wake_tsc = arch_timestamp() + ms * arch_timer_info()->tsc_khz;
	while (arch_timestamp() < self->wake_tsc)
		wait_queue_sleep(wq);
	wait_queue_unlock(wq, flags);
}

/* The idle thread: halt with interrupts on until an interrupt makes someone ready. */
static void thread_idle(void *unused)
{
	(void)unused;
	sched_finish_switch(); /* its first run starts here, not in thread_start */
	for (;;)
		arch_irq_enable_and_wait();
}

struct thread *thread_cpu_idle(const struct kstack *stack)
{
	struct thread *t = thread_alloc("idle");

	if (!t)
		panic("thread: no memory for an idle thread");
	t->stack = *stack;
	t->state = THREAD_RUNNING;
	t->on_cpu = 1;
	return t;
}

struct thread *thread_boot_init(const struct kstack *stack, struct thread **idle)
{
	struct thread *boot = thread_alloc("kmain"), *t = thread_alloc("idle");

	if (!boot || !t || thread_setup(t, thread_idle))
		panic("thread: no memory for the kmain and idle threads");
	boot->stack = *stack;
	boot->canary = stack_protector_current(); /* the frames open on kmain's stack hold it */
	boot->state = THREAD_RUNNING;
	t->state = THREAD_READY; /* never queued: sched runs it when nothing else is ready */
	*idle = t;
	return boot;
}
