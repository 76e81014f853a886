/*
 * Lock debugging (kernel/lockdebug.c), on with the `lockdebug` option.
 * Spinlocks report themselves through the hooks in include/lib/spinlock.h;
 * sleeping locks call lockdebug_might_sleep. Each report is an error line
 * starting `aerie: lockdebug:` that names classes and call sites (function
 * and offset, never an address at the default log level).
 */
#pragma once

#include <lib/spinlock.h>
#include <lib/types.h>

/* Turn the checks on if the command line has `lockdebug`. => one CPU, early. */
void lockdebug_init(const char *cmdline);

/* Turn the checks on or off (tests); forgets nothing already recorded. */
void lockdebug_set(bool on);

/*
 * About to sleep on a lock called what/name (a mutex, a wait queue): report
 * it if interrupts are off or this CPU holds a spinlock other than allowed
 * (the wait queue's own, NULL for none). Never sleeps itself.
 */
void lockdebug_might_sleep(const char *what, const char *name, struct spinlock *allowed,
			   void *site);

/* How many reports lockdebug has printed since boot (tests). */
unsigned int lockdebug_reports(void);

/*
 * l is released while a lock taken after it stays held, on purpose: a
 * hand-over (sched_block gives a wait queue's lock up for the run queue's,
 * interrupts staying off). Not reported as out of order.
 */
void lockdebug_release_handoff(struct spinlock *l);

/*
 * wait_queue_sleep took l again after its switch, with interrupts off by
 * design: the caller's state (checked before the sleep) still counts.
 */
void lockdebug_relocked_after_sleep(struct spinlock *l);
