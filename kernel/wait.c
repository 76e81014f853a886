/*
 * Wait queues (include/kernel/wait.h): a FIFO of blocked threads under an
 * IRQ-safe lock. A sleeper marks itself BLOCKED and enqueues itself under
 * the lock, then switches with interrupts still off, so a wakeup from an
 * interrupt handler either finds it on the queue or comes after the
 * condition the sleeper checked: never lost. The sleeper releases the
 * queue's lock only once it holds the run queue's (sched_block), so on
 * several CPUs a waker cannot requeue it before it has switched out. Waking moves a thread to the
 * run queue (sched_wake).
 */
#include <arch/irq.h>
#include <kernel/lockdebug.h>
#include <kernel/panic.h>
#include <kernel/sched.h>
#include <kernel/thread.h>
#include <kernel/wait.h>

void wait_queue_init(struct wait_queue *wq)
{
	*wq = (struct wait_queue)WAIT_QUEUE_INIT;
	spin_lock_init(&wq->lock, "wait queue (wait_queue_init)");
}

unsigned long wait_queue_lock(struct wait_queue *wq)
{
	return spin_lock_irqsave_at(&wq->lock, __builtin_return_address(0));
}

void wait_queue_unlock(struct wait_queue *wq, unsigned long flags)
{
	spin_unlock_irqrestore_at(&wq->lock, flags, __builtin_return_address(0));
}

void wait_queue_sleep(struct wait_queue *wq)
{
	struct thread *self = thread_current();

	if (preempt_count())
		panic("wait: thread %s would sleep with preemption disabled (depth %u)", self->name,
		      preempt_count());
	if (lockdebug_enabled)
		lockdebug_might_sleep("wait queue", "", &wq->lock, __builtin_return_address(0));
	self->state = THREAD_BLOCKED;
	self->next = NULL;
	if (wq->tail)
		wq->tail->next = self;
	else
		wq->head = self;
	wq->tail = self;
	/*
	 * Hand wq's lock over to the run queue's: a waker on another CPU can
	 * take us off wq now, but cannot make us READY before the scheduler
	 * has switched us out (sched_block).
	 */
	sched_block(&wq->lock); /* back once a waker made us READY and our turn came */
	/* Interrupts are off again; the caller's wait_queue_unlock restores its own state. */
	(void)spin_lock_irqsave(&wq->lock);
	if (lockdebug_enabled)
		lockdebug_relocked_after_sleep(&wq->lock);
}

/* Unlink t, whose predecessor on wq is prev (NULL: t is the head). */
static void unlink(struct wait_queue *wq, struct thread *prev, struct thread *t)
{
	if (prev)
		prev->next = t->next;
	else
		wq->head = t->next;
	if (wq->tail == t)
		wq->tail = prev;
	t->next = NULL;
}

struct thread *wait_queue_wake_one(struct wait_queue *wq)
{
	struct thread *t = wq->head;

	if (!t)
		return NULL;
	unlink(wq, NULL, t);
	sched_wake(t);
	return t;
}

unsigned int wait_queue_wake_all(struct wait_queue *wq)
{
	unsigned int n = 0;

	while (wait_queue_wake_one(wq))
		n++;
	return n;
}

unsigned int wait_queue_wake_if(struct wait_queue *wq, bool (*due)(struct thread *t, void *arg),
				void *arg)
{
	struct thread *prev = NULL, *t = wq->head;
	unsigned int n = 0;

	while (t) {
		struct thread *next = t->next;

		if (due(t, arg)) {
			unlink(wq, prev, t);
			sched_wake(t);
			n++;
		} else {
			prev = t;
		}
		t = next;
	}
	return n;
}

bool wait_queue_empty(struct wait_queue *wq)
{
	return __atomic_load_n(&wq->head, __ATOMIC_RELAXED) == NULL;
}
