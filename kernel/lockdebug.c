/*
 * lockdebug: the `lockdebug` option's checks on every lock.
 *
 * Lock order. Every spinlock has a class (include/lib/spinlock.h): the
 * spin_lock_init site's, or the lock itself for locks defined with
 * SPINLOCK_INIT. Each CPU keeps the stack of locks it holds (spinlocks keep
 * interrupts off, so nothing migrates or preempts while one is held). The
 * first time class B is taken while A is held, the edge A->B goes into a
 * small table; taking A while B is held after that is an inversion, which
 * could deadlock two CPUs, and is reported once with both classes and both
 * call sites. Only direct edges are kept: a cycle through three classes
 * is not looked for.
 *
 * Context. A sleeping lock taken with interrupts off or with a spinlock
 * held (sleep in atomic context), a spinlock released by a CPU that does
 * not hold it, or released out of order (its saved interrupt state would
 * turn interrupts on under the inner lock) are reported.
 *
 * Reports print through the console, whose own lock comes back here: a
 * per-CPU flag keeps the hooks out while a report is being written.
 * Owns nothing of the locks themselves; never takes a hooked lock itself.
 */
#include <arch/irq.h>
#include <arch/percpu.h>
#include <kernel/console.h>
#include <kernel/lockdebug.h>
#include <kernel/panic.h>
#include <kernel/symbols.h>
#include <lib/cmdline.h>
#include <lib/fmt.h>

#define LOCKDEBUG_CPUS	  64  /* CPUs followed; others are not checked */
#define LOCKDEBUG_DEPTH	  16  /* spinlocks one CPU holds at once */
#define LOCKDEBUG_EDGES	  256 /* distinct A->B orders remembered */
#define LOCKDEBUG_SITES	  32  /* sleep-check reports, one per call site */
#define LOCKDEBUG_NAMELEN 64

struct held {
	struct spinlock *lock;
	const void *key; /* its class */
	void *site;	 /* where it was taken */
	bool irqs_were_on;
};

struct cpu_locks {
	struct held held[LOCKDEBUG_DEPTH];
	unsigned int depth;
	unsigned int lost; /* pushes past LOCKDEBUG_DEPTH: their pops are not checked */
	bool reporting;	   /* a report is being printed: the hooks stand aside */
};

/* "from held (taken at from_site), then to taken at to_site": seen once. */
struct edge {
	const void *from, *to;
	const struct spinlock *from_lock, *to_lock; /* one lock of each class, for names */
	void *from_site, *to_site;
	bool reported; /* its inversion was reported */
};

bool lockdebug_enabled;
static struct cpu_locks cpus[LOCKDEBUG_CPUS];
static struct edge edges[LOCKDEBUG_EDGES];
static unsigned int edge_count;
static bool edges_full_reported;
static void *sleep_sites[LOCKDEBUG_SITES];
static unsigned int sleep_site_count;
static struct spinlock table_lock = SPINLOCK_INIT; /* edges, sleep_sites: raw use only */
static unsigned int reports;

void lockdebug_init(const char *cmdline)
{
	if (!cmdline_has(cmdline, "lockdebug"))
		return;
	lockdebug_enabled = true;
	kinfo("lockdebug: lock order and context checks on");
}

void lockdebug_set(bool on)
{
	__atomic_store_n(&lockdebug_enabled, on, __ATOMIC_RELAXED);
}

unsigned int lockdebug_reports(void)
{
	return __atomic_load_n(&reports, __ATOMIC_RELAXED);
}

/* This CPU's stack, or NULL past LOCKDEBUG_CPUS. => interrupts off. */
static struct cpu_locks *this_cpu(void)
{
	uint32_t cpu = arch_percpu()->cpu;

	return cpu < LOCKDEBUG_CPUS ? &cpus[cpu] : NULL;
}

static const void *class_of(const struct spinlock *l)
{
	return l->cls ? (const void *)l->cls : (const void *)l;
}

/* The class's name: its init site's, else the lock's symbol ("?" if none). */
static void class_name(const struct spinlock *l, char *buf, size_t size)
{
	if (l->cls) {
		fmt_snprintf(buf, size, "%s", l->cls->name);
		return;
	}
	if (!symbols_lookup((uint64_t)l, buf, size))
		fmt_snprintf(buf, size, "an unnamed lock");
	kdebug("lockdebug: %s is the lock at %p", buf, (const void *)l);
}

static void site_name(void *site, char *buf)
{
	symbols_lookup((uint64_t)site, buf, LOCKDEBUG_NAMELEN);
}

/* Start a report on c; false if one is already being printed on this CPU. */
static bool report_begin(struct cpu_locks *c)
{
	if (c->reporting)
		return false;
	c->reporting = true;
	__atomic_fetch_add(&reports, 1, __ATOMIC_RELAXED);
	return true;
}

static void report_end(struct cpu_locks *c)
{
	c->reporting = false;
}

/* The edge from->to, or NULL. => table_lock held. */
static struct edge *edge_find(const void *from, const void *to)
{
	for (unsigned int i = 0; i < edge_count; i++)
		if (edges[i].from == from && edges[i].to == to)
			return &edges[i];
	return NULL;
}

/* Remember that h was held when l was taken at site. => table_lock held. */
static void edge_record(const struct held *h, struct spinlock *l, void *site, bool *full)
{
	if (edge_find(h->key, class_of(l)))
		return;
	if (edge_count == LOCKDEBUG_EDGES) {
		*full = !edges_full_reported;
		edges_full_reported = true;
		return;
	}
	edges[edge_count++] = (struct edge){.from = h->key,
					    .to = class_of(l),
					    .from_lock = h->lock,
					    .to_lock = l,
					    .from_site = h->site,
					    .to_site = site};
}

/*
 * Record the orders "each held lock, then l"; if one of them was seen the
 * other way round before and not reported yet, copy that earlier edge and
 * the held entry to *earlier and *now and return true.
 */
static bool order_check(struct cpu_locks *c, struct spinlock *l, void *site, struct edge *earlier,
			struct held *now, bool *full)
{
	const void *key = class_of(l);
	bool found = false;

	spin_lock_raw(&table_lock);
	for (unsigned int i = 0; i < c->depth; i++) {
		struct held *h = &c->held[i];
		struct edge *back;

		if (h->key == key) /* same class nested (per-object locks): no order */
			continue;
		edge_record(h, l, site, full);
		back = edge_find(key, h->key);
		if (!found && back && !back->reported) {
			back->reported = true;
			*earlier = *back;
			*now = *h;
			found = true;
		}
	}
	spin_unlock_raw(&table_lock);
	return found;
}

/* Print an inversion: now.lock held, l taken at site; earlier the other way. */
static void report_inversion(struct cpu_locks *c, struct spinlock *l, void *site,
			     const struct edge *earlier, const struct held *now)
{
	char a[LOCKDEBUG_NAMELEN], b[LOCKDEBUG_NAMELEN], s1[LOCKDEBUG_NAMELEN],
	    s2[LOCKDEBUG_NAMELEN], s3[LOCKDEBUG_NAMELEN], s4[LOCKDEBUG_NAMELEN];

	if (!report_begin(c))
		return;
	class_name(now->lock, a, sizeof(a));
	class_name(l, b, sizeof(b));
	site_name(now->site, s1);
	site_name(site, s2);
	site_name(earlier->from_site, s3);
	site_name(earlier->to_site, s4);
	kerror("lockdebug: lock order inversion: %s taken at %s while %s held (taken at %s); "
	       "earlier %s was taken at %s while %s held (taken at %s)",
	       b, s2, a, s1, a, s4, b, s3);
	report_end(c);
}

/* Taking a lock this CPU already holds spins forever: say which, and stop. */
static void check_recursion(struct cpu_locks *c, struct spinlock *l, void *site)
{
	char name[LOCKDEBUG_NAMELEN], s1[LOCKDEBUG_NAMELEN], s2[LOCKDEBUG_NAMELEN];

	for (unsigned int i = 0; i < c->depth; i++) {
		if (c->held[i].lock != l)
			continue;
		c->reporting = true;
		class_name(l, name, sizeof(name));
		site_name(c->held[i].site, s1);
		site_name(site, s2);
		panic("lockdebug: %s taken again at %s by the CPU that holds it (taken at %s)",
		      name, s2, s1);
	}
}

static void push(struct cpu_locks *c, struct spinlock *l, void *site, bool irqs_on)
{
	if (c->depth == LOCKDEBUG_DEPTH) {
		c->lost++;
		return;
	}
	c->held[c->depth++] =
	    (struct held){.lock = l, .key = class_of(l), .site = site, .irqs_were_on = irqs_on};
}

void lockdebug_acquire(struct spinlock *l, void *site, bool try, bool irqs_on)
{
	bool full = false;
	unsigned long flags = arch_irq_save();
	struct cpu_locks *c = this_cpu();
	struct edge earlier;
	struct held now;

	if (!site)
		site = __builtin_return_address(0);
	if (c && !c->reporting) {
		check_recursion(c, l, site);
		if (!try && order_check(c, l, site, &earlier, &now, &full))
			report_inversion(c, l, site, &earlier, &now);
		if (full && report_begin(c)) {
			kerror("lockdebug: order table full (%u edges): later orders unchecked",
			       LOCKDEBUG_EDGES);
			report_end(c);
		}
		push(c, l, site, irqs_on);
	}
	arch_irq_restore(flags);
}

unsigned long lockdebug_lock(struct spinlock *l, void *site)
{
	bool irqs_on = arch_irqs_enabled();
	unsigned long flags = arch_irq_save();

	lockdebug_acquire(l, site ? site : __builtin_return_address(0), false, irqs_on);
	spin_lock_raw(l);
	return flags;
}

/* Report l released at site while it is not on c's stack, or not on top. */
static void report_release(struct cpu_locks *c, struct spinlock *l, void *site,
			   const struct held *top)
{
	char name[LOCKDEBUG_NAMELEN], where[LOCKDEBUG_NAMELEN], inner[LOCKDEBUG_NAMELEN],
	    inner_site[LOCKDEBUG_NAMELEN];

	if (!report_begin(c))
		return;
	class_name(l, name, sizeof(name));
	site_name(site, where);
	if (!top) {
		kerror("lockdebug: %s released at %s by a CPU that does not hold it", name, where);
	} else {
		class_name(top->lock, inner, sizeof(inner));
		site_name(top->site, inner_site);
		kerror("lockdebug: %s released at %s out of order: %s (taken at %s) is still "
		       "held and its interrupts would come back on",
		       name, where, inner, inner_site);
	}
	report_end(c);
}

/* Drop l from this CPU's held stack; report a release out of order if ordered. */
static void release(struct spinlock *l, void *site, bool ordered)
{
	unsigned long flags = arch_irq_save();
	struct cpu_locks *c = this_cpu();
	unsigned int i;

	if (!site)
		site = __builtin_return_address(0);
	if (!c || c->reporting)
		goto out;
	for (i = c->depth; i > 0 && c->held[i - 1].lock != l; i--)
		;
	if (i == 0) {
		if (c->lost) /* it was one of the pushes past the stack's end */
			c->lost--;
		else
			report_release(c, l, site, NULL);
		goto out;
	}
	if (i != c->depth && ordered) {
		struct held top = c->held[c->depth - 1];

		report_release(c, l, site, &top);
	}
	for (; i < c->depth; i++) /* drop entry i - 1 */
		c->held[i - 1] = c->held[i];
	c->depth--;
out:
	arch_irq_restore(flags);
}

void lockdebug_release(struct spinlock *l, void *site)
{
	release(l, site ? site : __builtin_return_address(0), true);
}

void lockdebug_release_handoff(struct spinlock *l)
{
	release(l, __builtin_return_address(0), false);
}

/* True the first time site asks; later reports from it are left out. */
static bool first_at(void *site)
{
	bool first = true;

	spin_lock_raw(&table_lock);
	for (unsigned int i = 0; i < sleep_site_count; i++)
		first &= sleep_sites[i] != site;
	if (first && sleep_site_count < LOCKDEBUG_SITES)
		sleep_sites[sleep_site_count++] = site;
	spin_unlock_raw(&table_lock);
	return first;
}

/* The first held lock other than allowed, or NULL; *irqs_on from allowed's entry. */
static const struct held *other_held(struct cpu_locks *c, struct spinlock *allowed, bool *irqs_on)
{
	const struct held *other = NULL;

	for (unsigned int i = 0; i < c->depth; i++) {
		if (c->held[i].lock == allowed)
			*irqs_on = c->held[i].irqs_were_on;
		else if (!other)
			other = &c->held[i];
	}
	return other;
}

void lockdebug_might_sleep(const char *what, const char *name, struct spinlock *allowed, void *site)
{
	bool irqs_on = arch_irqs_enabled();
	unsigned long flags = arch_irq_save();
	struct cpu_locks *c = this_cpu();
	char where[LOCKDEBUG_NAMELEN], lock[LOCKDEBUG_NAMELEN], taken[LOCKDEBUG_NAMELEN];
	const struct held *other;

	if (!__atomic_load_n(&lockdebug_enabled, __ATOMIC_RELAXED) || !c || c->reporting)
		goto out;
	other = other_held(c, allowed, &irqs_on);
	if ((irqs_on && !other) || !first_at(site) || !report_begin(c))
		goto out;
	site_name(site, where);
	if (!irqs_on)
		kerror("lockdebug: sleep in atomic context: %s %s taken at %s with interrupts off",
		       what, name, where);
	if (other) {
		class_name(other->lock, lock, sizeof(lock));
		site_name(other->site, taken);
		kerror("lockdebug: sleep in atomic context: %s %s taken at %s with spinlock %s "
		       "held (taken at %s)",
		       what, name, where, lock, taken);
	}
	report_end(c);
out:
	arch_irq_restore(flags);
}

void lockdebug_relocked_after_sleep(struct spinlock *l)
{
	unsigned long flags = arch_irq_save();
	struct cpu_locks *c = this_cpu();

	for (unsigned int i = 0; c && i < c->depth; i++)
		if (c->held[i].lock == l)
			c->held[i].irqs_were_on = true;
	arch_irq_restore(flags);
}
