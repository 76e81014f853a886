/*
 * Asking other CPUs for what their caches hold
 * (include/mm/remote_reclaim.h): frames of pmm_kernel's per-CPU caches and
 * blocks of the kernel heap's front caches. An allocator calls its hook
 * when it finds nothing outside the caches; the CPUs holding some get the
 * reclaim interrupt, give their cache back under the allocator's lock and
 * clear their bit in the kind's `pending` mask. Why an interrupt and why
 * the waits are bounded as they are: docs/design.md, "Frames in other
 * CPUs' caches".
 */
#include <arch/arch.h>
#include <arch/irq.h>
#include <arch/percpu.h>
#include <arch/smp.h>
#include <arch/timer.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <mm/kmalloc.h>
#include <mm/pmm_boot.h>
#include <mm/remote_reclaim.h>

/* How long a requester waits for the answers, by the caller's context. */
#define WAIT_ATOMIC_MS 50   /* interrupts off: it may hold a lock an asked CPU spins on */
#define WAIT_MS	       1000 /* interrupts on: nothing of ours holds an asked CPU up */

/* What differs between the kinds. */
struct kind {
	const char *what;		      /* for the warning */
	bool (*holds)(unsigned int cpu);      /* a hint, read without that CPU */
	void (*give_back)(struct percpu *pc); /* this CPU's cache; interrupts off */
	bool (*enough)(void);		      /* a wait may end before every answer */
	uint32_t answers_while_waiting;	      /* kinds an asker of this one answers */
};

static bool frames_held(unsigned int cpu)
{
	return __atomic_load_n(&arch_percpu_of(cpu)->pmm_cache.mask, __ATOMIC_RELAXED) != 0;
}

static void frames_give_back(struct percpu *pc)
{
	pmm_cache_drain(&pmm_kernel, &pc->pmm_cache);
}

/* A frame free outside the caches: another try may get it (a hint). */
static bool frame_free_outside_caches(void)
{
	return __atomic_load_n(&pmm_kernel.free, __ATOMIC_RELAXED) != 0;
}

static bool blocks_held(unsigned int cpu)
{
	return heap_cache_holds(&arch_percpu_of(cpu)->heap_cache);
}

static void blocks_give_back(struct percpu *pc)
{
	kmalloc_give_back(&pc->heap_cache);
}

/*
 * While it waits with interrupts off, an asker answers what it may: a
 * frame asker only frames (it may hold the heap's lock: the heap grows
 * under it), a heap asker both (the heap calls it without its lock).
 */
static const struct kind kinds[REMOTE_KINDS] = {
    [REMOTE_FRAMES] = {"frames", frames_held, frames_give_back, frame_free_outside_caches,
		       1u << REMOTE_FRAMES},
    [REMOTE_HEAP] = {"heap blocks", blocks_held, blocks_give_back, NULL,
		     1u << REMOTE_FRAMES | 1u << REMOTE_HEAP},
};

static uint64_t pending[REMOTE_KINDS];			/* CPUs asked, not yet answered (atomic) */
static struct remote_reclaim_stats stats[REMOTE_KINDS]; /* atomics */

static void count(uint64_t *field, uint64_t n)
{
	__atomic_fetch_add(field, n, __ATOMIC_RELAXED);
}

/* The online CPUs but self whose cache of kind k holds something: a hint. */
static uint64_t holders(enum remote_kind k, unsigned int self)
{
	uint64_t cpus = arch_smp_online() & ~(1ull << self), want = 0;

	while (cpus) {
		unsigned int cpu = (unsigned int)__builtin_ctzll(cpus);

		cpus &= cpus - 1;
		if (kinds[k].holds(cpu))
			want |= 1ull << cpu;
	}
	return want;
}

/* Answer the requests of the kinds in mask made of this CPU, in kind order. */
static bool receive(uint32_t mask)
{
	struct percpu *pc = arch_percpu();
	uint64_t me = 1ull << pc->cpu;
	bool asked = false;

	KASSERT(!arch_irqs_enabled());
	for (unsigned int k = 0; k < REMOTE_KINDS; k++) {
		if (!(mask & 1u << k) || !(__atomic_load_n(&pending[k], __ATOMIC_ACQUIRE) & me))
			continue;
		kinds[k].give_back(pc);
		count(&stats[k].answers, 1);
		/* After the give-back: a requester that sees the bit clear finds it all back. */
		__atomic_fetch_and(&pending[k], ~me, __ATOMIC_RELEASE);
		asked = true;
	}
	return asked;
}

bool remote_reclaim_receive(void)
{
	return receive((1u << REMOTE_KINDS) - 1);
}

/*
 * Wait until every CPU in want has answered, the kind's enough() holds,
 * or limit TSC cycles have passed. With interrupts off, answer the
 * requests this asker may answer meanwhile: two CPUs asking each other
 * with interrupts off would otherwise each wait for the other. Returns
 * the cycles waited.
 */
static uint64_t wait_answers(enum remote_kind k, uint64_t want, bool irqs_on, uint64_t limit)
{
	uint64_t start = arch_timestamp(), waited = 0;

	while (__atomic_load_n(&pending[k], __ATOMIC_ACQUIRE) & want) {
		if (kinds[k].enough && kinds[k].enough()) {
			count(&stats[k].early, 1);
			break;
		}
		if (!irqs_on)
			receive(kinds[k].answers_while_waiting);
		waited = arch_timestamp() - start;
		if (waited > limit) {
			uint64_t late = __atomic_load_n(&pending[k], __ATOMIC_RELAXED) & want;

			count(&stats[k].timeouts, 1);
			if (irqs_on) /* a CPU stuck with interrupts off: worth a line */
				kwarn("remote reclaim: CPUs %#llx kept their cached %s for %u ms",
				      (unsigned long long)late, kinds[k].what, WAIT_MS);
			break;
		}
		arch_cpu_relax();
	}
	return arch_timestamp() - start;
}

static void reclaim(enum remote_kind k)
{
	bool irqs_on = arch_irqs_enabled();
	unsigned long flags = arch_irq_save(); /* our CPU number stays ours while we read it */
	uint64_t want = holders(k, arch_percpu()->cpu), waited, max;

	arch_irq_restore(flags);
	if (!want)
		return;
	count(&stats[k].requests, 1);
	count(&stats[k].asked, (uint64_t)__builtin_popcountll(want));
	__atomic_fetch_or(&pending[k], want, __ATOMIC_SEQ_CST);
	arch_smp_reclaim_send(want);
	waited = wait_answers(k, want, irqs_on,
			      arch_timer_info()->tsc_khz * (irqs_on ? WAIT_MS : WAIT_ATOMIC_MS));
	max = __atomic_load_n(&stats[k].max_wait_cycles, __ATOMIC_RELAXED);
	while (waited > max &&
	       !__atomic_compare_exchange_n(&stats[k].max_wait_cycles, &max, waited, true,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void remote_reclaim_frames(void *ctx)
{
	reclaim(REMOTE_FRAMES);
}

void remote_reclaim_heap(void *ctx)
{
	reclaim(REMOTE_HEAP);
}

void remote_reclaim_stats(enum remote_kind k, struct remote_reclaim_stats *s)
{
	s->requests = __atomic_load_n(&stats[k].requests, __ATOMIC_RELAXED);
	s->asked = __atomic_load_n(&stats[k].asked, __ATOMIC_RELAXED);
	s->answers = __atomic_load_n(&stats[k].answers, __ATOMIC_RELAXED);
	s->early = __atomic_load_n(&stats[k].early, __ATOMIC_RELAXED);
	s->timeouts = __atomic_load_n(&stats[k].timeouts, __ATOMIC_RELAXED);
	s->max_wait_cycles = __atomic_load_n(&stats[k].max_wait_cycles, __ATOMIC_RELAXED);
}
