/*
 * ktests for kernel/lockdebug.c (suite lockdebug): each provokes one kind
 * of report on test locks and checks it is reported exactly once. They
 * need the `lockdebug` option (turning it on mid-run could find locks
 * taken unseen) and are skipped without it.
 */
#include <arch/irq.h>
#include <kernel/ktest.h>
#include <kernel/lockdebug.h>
#include <kernel/mutex.h>

static struct spinlock lockdebug_test_a = SPINLOCK_INIT_NAMED("lockdebug test a");
static struct spinlock lockdebug_test_b = SPINLOCK_INIT_NAMED("lockdebug test b");

/* Take outer then inner, release in order. */
static void take_pair(struct spinlock *outer, struct spinlock *inner)
{
	unsigned long f1 = spin_lock_irqsave(outer);
	unsigned long f2 = spin_lock_irqsave(inner);

	spin_unlock_irqrestore(inner, f2);
	spin_unlock_irqrestore(outer, f1);
}

KTEST(lockdebug, lockdebug_inversion_reported_once)
{
	unsigned int before = lockdebug_reports();

	if (!lockdebug_enabled) {
		ktest_skip(t, "needs the lockdebug option");
		return;
	}
	take_pair(&lockdebug_test_a, &lockdebug_test_b);
	take_pair(&lockdebug_test_a, &lockdebug_test_b); /* the same order again: fine */
	KEXPECT_EQ(t, lockdebug_reports(), before);
	take_pair(&lockdebug_test_b, &lockdebug_test_a); /* inverted: one report */
	KEXPECT_EQ(t, lockdebug_reports(), before + 1);
	take_pair(&lockdebug_test_b, &lockdebug_test_a); /* already reported */
	KEXPECT_EQ(t, lockdebug_reports(), before + 1);
}

KTEST(lockdebug, lockdebug_mutex_with_interrupts_off_reported)
{
	static struct mutex m;
	unsigned int before = lockdebug_reports();
	unsigned long flags;

	if (!lockdebug_enabled) {
		ktest_skip(t, "needs the lockdebug option");
		return;
	}
	mutex_init(&m, "lockdebug test mutex");
	mutex_lock(&m); /* interrupts on, nothing held: fine */
	mutex_unlock(&m);
	KEXPECT_EQ(t, lockdebug_reports(), before);
	flags = arch_irq_save();
	mutex_lock(&m); /* uncontended: reported, never sleeps */
	mutex_unlock(&m);
	arch_irq_restore(flags);
	KEXPECT_EQ(t, lockdebug_reports(), before + 1);
}

KTEST(lockdebug, lockdebug_mutex_under_spinlock_reported)
{
	static struct mutex m = MUTEX_INIT("lockdebug test mutex 2");
	static struct spinlock held;
	unsigned int before = lockdebug_reports();
	unsigned long flags;

	if (!lockdebug_enabled) {
		ktest_skip(t, "needs the lockdebug option");
		return;
	}
	spin_lock_init(&held, "lockdebug test spinlock");
	flags = spin_lock_irqsave(&held);
	mutex_lock(&m);
	mutex_unlock(&m);
	spin_unlock_irqrestore(&held, flags);
	/* Interrupts were off too (the spinlock's): both said, as one report. */
	KEXPECT_EQ(t, lockdebug_reports(), before + 1);
}

KTEST(lockdebug, lockdebug_bad_releases_reported)
{
	static struct spinlock a = SPINLOCK_INIT, b = SPINLOCK_INIT;
	unsigned int before = lockdebug_reports();
	unsigned long fa, fb;

	if (!lockdebug_enabled) {
		ktest_skip(t, "needs the lockdebug option");
		return;
	}
	fa = arch_irq_save();
	spin_lock_raw(&a); /* taken behind lockdebug's back */
	spin_unlock_irqrestore(&a, fa);
	KEXPECT_EQ(t, lockdebug_reports(), before + 1);
	fa = spin_lock_irqsave(&a);
	fb = spin_lock_irqsave(&b);
	spin_unlock_irqrestore(&a, fb); /* the outer one first (flags swapped to stay off) */
	spin_unlock_irqrestore(&b, fa);
	KEXPECT_EQ(t, lockdebug_reports(), before + 2);
	KEXPECT(t, !spin_is_locked(&a) && !spin_is_locked(&b));
}

KTEST(lockdebug, lockdebug_trylock_records_no_order)
{
	static struct spinlock a, b;
	unsigned int before = lockdebug_reports();
	unsigned long fa, fb;

	spin_lock_init(&a, "lockdebug trylock a");
	spin_lock_init(&b, "lockdebug trylock b");
	fa = spin_lock_irqsave(&a);
	KEXPECT(t, spin_trylock_irqsave(&b, &fb));
	KEXPECT(t, spin_is_locked(&b));
	spin_unlock_irqrestore(&b, fb);
	spin_unlock_irqrestore(&a, fa);
	take_pair(&b, &a); /* a trylock cannot deadlock: no inversion */
	KEXPECT_EQ(t, lockdebug_reports(), before);
	fa = spin_lock_irqsave(&a);
	KEXPECT(t, !spin_trylock_irqsave(&a, &fb)); /* held: refused, not a recursion */
	spin_unlock_irqrestore(&a, fa);
}
