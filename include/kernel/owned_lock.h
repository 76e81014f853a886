/*
 * A spinlock that records which CPU holds it, so that a path which may run
 * inside the lock's own critical section (the page-fault handler, under
 * the vmm and aspace locks) can tell "held by the code that faulted on this
 * CPU" (taking it would deadlock) from "held by another CPU" (it only has
 * to wait).
 */
#pragma once

#include <arch/percpu.h>
#include <lib/spinlock.h>

struct owned_lock {
	struct spinlock lock;
	volatile unsigned int cpu; /* the holder's CPU number + 1; 0: free */
};

#define OWNED_LOCK_INIT_NAMED(name_)                                                               \
	{                                                                                          \
		.lock = SPINLOCK_INIT_NAMED(name_), .cpu = 0                                       \
	}

static inline unsigned long owned_lock_take(struct owned_lock *l)
{
	unsigned long irq = spin_lock_irqsave(&l->lock);

	l->cpu = arch_percpu()->cpu + 1;
	return irq;
}

static inline void owned_lock_drop(struct owned_lock *l, unsigned long irq)
{
	l->cpu = 0;
	spin_unlock_irqrestore(&l->lock, irq);
}

/* True if this CPU holds l. */
static inline bool owned_lock_held_here(const struct owned_lock *l)
{
	return l->cpu == arch_percpu()->cpu + 1;
}
