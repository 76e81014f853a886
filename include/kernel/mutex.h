/*
 * Sleeping mutexes (kernel/mutex.c) on a wait queue. The owner is
 * recorded: locking a mutex one already holds, or unlocking one held by
 * another thread (or by nobody), panics naming the mutex and the threads.
 * Unlock hands the mutex straight to the longest waiter (FIFO, no
 * stealing). Threads only: never from an interrupt handler.
 */
#pragma once

#include <kernel/wait.h>

struct mutex {
	struct wait_queue waiters; /* its lock also guards owner */
	struct thread *owner;	   /* NULL when free */
	const char *name;	   /* for reports */
};

#define MUTEX_INIT(name_)                                                                          \
	{                                                                                          \
		.waiters = WAIT_QUEUE_INIT, .owner = NULL, .name = (name_)                         \
	}

void mutex_init(struct mutex *m, const char *name);

/* Take m, sleeping while another thread holds it. Panics if this thread holds it. */
void mutex_lock(struct mutex *m);

/* Take m if it is free; true if taken. Never sleeps. */
bool mutex_trylock(struct mutex *m);

/* Release m (to the longest waiter, if any). Panics unless this thread holds it. */
void mutex_unlock(struct mutex *m);

/* The thread holding m, or NULL (a hint: it may change at once). */
struct thread *mutex_owner(struct mutex *m);
