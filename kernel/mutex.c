/*
 * Sleeping mutexes (include/kernel/mutex.h) on a wait queue whose lock
 * also guards the owner field. Unlock hands ownership to the longest
 * waiter before waking it, so a thread that comes along in between cannot
 * take the mutex first and no waiter starves.
 */
#include <kernel/lockdebug.h>
#include <kernel/mutex.h>
#include <kernel/panic.h>
#include <kernel/thread.h>

void mutex_init(struct mutex *m, const char *name)
{
	*m = (struct mutex)MUTEX_INIT(name);
	spin_lock_init(&m->waiters.lock, "mutex (mutex_init)");
}

void mutex_lock(struct mutex *m)
{
	struct thread *self = thread_current();
	unsigned long flags;

	/* Checked before the wait queue's lock: interrupts as the caller has them. */
	if (lockdebug_enabled)
		lockdebug_might_sleep("mutex", m->name, NULL, __builtin_return_address(0));
	flags = wait_queue_lock(&m->waiters);
	if (m->owner == self)
		panic("mutex: thread %s locks mutex %s, which it already holds", self->name,
		      m->name);
	if (!m->owner)
		m->owner = self;
	while (m->owner != self) /* mutex_unlock hands it over */
		wait_queue_sleep(&m->waiters);
	wait_queue_unlock(&m->waiters, flags);
}

bool mutex_trylock(struct mutex *m)
{
	unsigned long flags = wait_queue_lock(&m->waiters);
	bool taken = !m->owner;

	if (taken)
		m->owner = thread_current();
	wait_queue_unlock(&m->waiters, flags);
	return taken;
}

void mutex_unlock(struct mutex *m)
{
	struct thread *self = thread_current();
	unsigned long flags = wait_queue_lock(&m->waiters);

	if (m->owner != self)
		panic("mutex: thread %s unlocks mutex %s, held by %s", self->name, m->name,
		      m->owner ? m->owner->name : "nobody");
	m->owner = m->waiters.head; /* the next owner, or NULL */
	wait_queue_wake_one(&m->waiters);
	wait_queue_unlock(&m->waiters, flags);
}

struct thread *mutex_owner(struct mutex *m)
{
	return __atomic_load_n(&m->owner, __ATOMIC_RELAXED);
}
