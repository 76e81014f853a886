/*
 * Wait queues (kernel/wait.c): threads sleep on a queue until another
 * thread or an interrupt handler wakes them. The queue's IRQ-safe lock
 * covers both the condition the sleeper waits for and the queue, so a
 * wakeup can never slip in between "the condition is false" and "asleep":
 *
 *	unsigned long flags = wait_queue_lock(&wq);
 *	while (!condition)
 *		wait_queue_sleep(&wq);
 *	wait_queue_unlock(&wq, flags);
 *
 * and the waker, from a thread or an interrupt handler:
 *
 *	flags = wait_queue_lock(&wq); condition = true; wait_queue_wake_all(&wq);
 *	wait_queue_unlock(&wq, flags);
 *
 * Mutexes, thread_join and thread_sleep_ms are built on it. The sleeper
 * hands the queue's lock over to the run queue's (sched_block), so a waker
 * on another CPU cannot make it READY before it has switched out.
 */
#pragma once

#include <lib/spinlock.h>
#include <lib/types.h>

struct thread;

struct wait_queue {
	struct spinlock lock;
	struct thread *head, *tail; /* FIFO, linked through thread->next */
};

#define WAIT_QUEUE_INIT                                                                            \
	{                                                                                          \
		.lock = SPINLOCK_INIT, .head = NULL, .tail = NULL                                  \
	}

void wait_queue_init(struct wait_queue *wq);

/* Take the queue's lock (interrupts off); returns the state to restore. */
unsigned long wait_queue_lock(struct wait_queue *wq);
void wait_queue_unlock(struct wait_queue *wq, unsigned long flags);

/*
 * Sleep until woken, then return with the lock held again; the caller
 * re-checks its condition.
 *  => wq locked by this thread (wait_queue_lock); a thread, not
 *     an interrupt handler; preemption not disabled (panics otherwise).
 */
void wait_queue_sleep(struct wait_queue *wq);

/*
 * Wake the longest sleeper; returns it, or NULL if none sleeps.
 * => wq locked. Any context, interrupt handlers included.
 */
struct thread *wait_queue_wake_one(struct wait_queue *wq);

/* Wake every sleeper; returns how many. => wq locked. Any context. */
unsigned int wait_queue_wake_all(struct wait_queue *wq);

/* Wake the sleepers for which due(t, arg) is true; returns how many. => wq locked. */
unsigned int wait_queue_wake_if(struct wait_queue *wq, bool (*due)(struct thread *t, void *arg),
				void *arg);

/* True if nobody sleeps on wq (a hint unless wq is locked). */
bool wait_queue_empty(struct wait_queue *wq);
