/*
 * IRQ-safe spinlocks. Holding one keeps interrupts off on this CPU, so an
 * interrupt handler can never spin on a lock its own CPU holds; the flag is
 * a real atomic, so the same code is correct once there are more CPUs.
 *
 *	unsigned long flags = spin_lock_irqsave(&l);
 *	...
 *	spin_unlock_irqrestore(&l, flags);
 *
 * Portable: host builds (AERIE_HOST) keep the atomic and make the interrupt
 * half a no-op (include/arch/irq.h), so the portable allocators (pmm, heap)
 * lock the same way in the kernel and in host tests, and their headers need
 * no kernel header.
 */
#pragma once

#include <arch/irq.h>
#include <lib/types.h>

struct spinlock {
	uint32_t locked; /* 0 free, 1 held */
};

#define SPINLOCK_INIT                                                                              \
	{                                                                                          \
		.locked = 0                                                                        \
	}

/* Disable interrupts, take the lock; returns the interrupt state to restore. */
static inline unsigned long spin_lock_irqsave(struct spinlock *l)
{
	unsigned long flags = arch_irq_save();

	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			arch_cpu_relax();
	return flags;
}

/* Release the lock, then restore the interrupt state saved by the lock. */
static inline void spin_unlock_irqrestore(struct spinlock *l, unsigned long flags)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
	arch_irq_restore(flags);
}

/* True if the lock is held (by anyone): for assertions. */
static inline bool spin_is_locked(struct spinlock *l)
{
	return __atomic_load_n(&l->locked, __ATOMIC_RELAXED) != 0;
}
