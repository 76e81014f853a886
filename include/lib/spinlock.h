/*
 * IRQ-safe, fair spinlocks: ticket locks. Holding one keeps interrupts off
 * on this CPU, so an interrupt handler can never spin on a lock its own CPU
 * holds. A taker draws a ticket (an atomic add on `next`) and waits until
 * `owner` shows it; unlock serves the next ticket. Waiters are served in the
 * order they came (FIFO), so none starves.
 *
 *	unsigned long flags = spin_lock_irqsave(&l);
 *	...
 *	spin_unlock_irqrestore(&l, flags);
 *
 * Why tickets and not a queued (MCS) lock: the machines have a few CPUs,
 * where spinning on one shared word costs little, and a ticket lock needs
 * no per-CPU queue node, so it is the same few lines in the kernel and in
 * host builds and stays two words. Ordering: the winning load of `owner` is
 * an acquire, the unlock's store a release; waiters read with relaxed loads
 * and pause between them.
 *
 * Lock debugging (kernel/lockdebug.c, the `lockdebug` option): every lock
 * has a class, its `cls` (a static one per spin_lock_init site or
 * SPINLOCK_INIT_NAMED definition) or, when NULL, the lock itself (locks
 * defined with plain SPINLOCK_INIT: reports call them unnamed). With the option off, the hooks cost
 *one predictable branch.
 *
 * Portable: host builds (AERIE_HOST) use the same lock (the interrupt half
 * is a no-op there, include/arch/irq.h) and a weak, always-false switch.
 */
#pragma once

#include <arch/irq.h>
#include <lib/types.h>

struct lock_class {
	const char *name;
};

struct spinlock {
	uint32_t owner;		      /* the ticket being served */
	uint32_t next;		      /* the next ticket to hand out */
	const struct lock_class *cls; /* NULL: the lock is its own class */
};

#define SPINLOCK_INIT                                                                              \
	{                                                                                          \
		.owner = 0, .next = 0, .cls = NULL                                                 \
	}

/*
 * Debug hooks (kernel/lockdebug.c), only called while lockdebug_enabled.
 * site: the caller to name, NULL for the hook's own return address. try:
 * a trylock, which cannot deadlock, so it records no order. lockdebug_lock
 * is the whole of spin_lock_irqsave_at with the checks (interrupts go off
 * before this CPU's held stack changes: a preemption in between would show
 * the lock on the next thread's stack).
 */
extern bool lockdebug_enabled;
unsigned long lockdebug_lock(struct spinlock *l, void *site);
void lockdebug_acquire(struct spinlock *l, void *site, bool try, bool irqs_were_on);
void lockdebug_release(struct spinlock *l, void *site);

#ifdef AERIE_HOST
/* Host builds have no lockdebug.c: the switch stays off (weak, so one per program). */
__attribute__((weak)) bool lockdebug_enabled;
__attribute__((weak)) unsigned long lockdebug_lock(struct spinlock *l, void *site)
{
	(void)l, (void)site;
	return 0;
}
__attribute__((weak)) void lockdebug_acquire(struct spinlock *l, void *site, bool try,
					     bool irqs_were_on)
{
	(void)l, (void)site, (void)try, (void)irqs_were_on;
}
__attribute__((weak)) void lockdebug_release(struct spinlock *l, void *site)
{
	(void)l, (void)site;
}
#endif

/* A lock defined at file scope with a class of its own, named for lockdebug's reports. */
#define SPINLOCK_INIT_NAMED(name_)                                                                 \
	{                                                                                          \
		.owner = 0, .next = 0, .cls = &(const struct lock_class)                           \
		{                                                                                  \
			.name = (name_)                                                            \
		}                                                                                  \
	}

/* Initialise l at run time, of a class shared by every lock this line initialises. */
#define spin_lock_init(l, name_)                                                                   \
	do {                                                                                       \
		static const struct lock_class spin_class_ = {.name = (name_)};                    \
		spin_lock_init_class((l), &spin_class_);                                           \
	} while (0)

static inline void spin_lock_init_class(struct spinlock *l, const struct lock_class *cls)
{
	l->owner = 0;
	l->next = 0;
	l->cls = cls;
}

/* Take l with interrupts already off, no debug hook (lockdebug's own lock). */
static inline void spin_lock_raw(struct spinlock *l)
{
	uint32_t ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);

	while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != ticket)
		arch_cpu_relax();
}

/* Serve the next ticket. => l held by this CPU. */
static inline void spin_unlock_raw(struct spinlock *l)
{
	/* Only the holder writes owner: a plain read of it is exact. */
	__atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
}

/* Take l if nobody holds or waits for it; true if taken. */
static inline bool spin_trylock_raw(struct spinlock *l)
{
	uint32_t ticket = __atomic_load_n(&l->owner, __ATOMIC_ACQUIRE);

	/* next == owner: free. owner cannot pass next, so it is still ticket. */
	return __atomic_compare_exchange_n(&l->next, &ticket, ticket + 1, false, __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

/*
 * Disable interrupts, take the lock; returns the interrupt state to restore.
 * The _at forms name site (a caller's caller) in lockdebug's reports.
 */
__attribute__((always_inline)) static inline unsigned long spin_lock_irqsave_at(struct spinlock *l,
										void *site)
{
	unsigned long flags;

	if (__builtin_expect(lockdebug_enabled, 0))
		return lockdebug_lock(l, site);
	flags = arch_irq_save();
	spin_lock_raw(l);
	return flags;
}

__attribute__((always_inline)) static inline unsigned long spin_lock_irqsave(struct spinlock *l)
{
	return spin_lock_irqsave_at(l, NULL);
}

/* Disable interrupts and take l if it is free; true if taken (*flags to restore then). */
__attribute__((always_inline)) static inline bool spin_trylock_irqsave(struct spinlock *l,
								       unsigned long *flags)
{
	*flags = arch_irq_save();
	if (!spin_trylock_raw(l)) {
		arch_irq_restore(*flags);
		return false;
	}
	if (__builtin_expect(lockdebug_enabled, 0))
		lockdebug_acquire(l, NULL, true, false);
	return true;
}

/* Release the lock, then restore the interrupt state saved by the lock. */
__attribute__((always_inline)) static inline void
spin_unlock_irqrestore_at(struct spinlock *l, unsigned long flags, void *site)
{
	if (__builtin_expect(lockdebug_enabled, 0))
		lockdebug_release(l, site);
	spin_unlock_raw(l);
	arch_irq_restore(flags);
}

__attribute__((always_inline)) static inline void spin_unlock_irqrestore(struct spinlock *l,
									 unsigned long flags)
{
	spin_unlock_irqrestore_at(l, flags, NULL);
}

/* True if the lock is held (by anyone): for assertions. */
static inline bool spin_is_locked(struct spinlock *l)
{
	return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) !=
	       __atomic_load_n(&l->next, __ATOMIC_RELAXED);
}
