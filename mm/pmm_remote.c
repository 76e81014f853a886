/*
 * Asking other CPUs for the frames in their frame caches
 * (include/mm/pmm_remote.h). pmm_kernel calls pmm_remote_reclaim() when an
 * allocation finds nothing outside the caches; the CPUs holding frames get
 * the reclaim interrupt, give their cache back under the pmm lock and clear
 * their bit in `pending`. Why an interrupt and why the waits are bounded as
 * they are: docs/design.md, "Frames in other CPUs' caches".
 */
#include <arch/arch.h>
#include <arch/irq.h>
#include <arch/percpu.h>
#include <arch/smp.h>
#include <arch/timer.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <mm/pmm_boot.h>
#include <mm/pmm_remote.h>

/* How long a requester waits for the answers, by the caller's context. */
#define WAIT_ATOMIC_MS 50   /* interrupts off: it may hold a lock an asked CPU spins on */
#define WAIT_MS	       1000 /* interrupts on: nothing of ours holds an asked CPU up */

static uint64_t pending; /* CPUs asked for their cached frames, not yet answered (atomic) */
static struct pmm_remote_stats stats; /* atomics */

static void count(uint64_t *field, uint64_t n)
{
	__atomic_fetch_add(field, n, __ATOMIC_RELAXED);
}

/* The online CPUs but self whose frame cache holds frames: a hint, read without their help. */
static uint64_t holders(unsigned int self)
{
	uint64_t cpus = arch_smp_online() & ~(1ull << self), want = 0;

	while (cpus) {
		unsigned int cpu = (unsigned int)__builtin_ctzll(cpus);

		cpus &= cpus - 1;
		if (__atomic_load_n(&arch_percpu_of(cpu)->pmm_cache.mask, __ATOMIC_RELAXED))
			want |= 1ull << cpu;
	}
	return want;
}

bool pmm_remote_receive(void)
{
	struct percpu *pc = arch_percpu();
	uint64_t me = 1ull << pc->cpu;

	KASSERT(!arch_irqs_enabled());
	if (!(__atomic_load_n(&pending, __ATOMIC_ACQUIRE) & me))
		return false;
	pmm_cache_drain(&pmm_kernel, &pc->pmm_cache);
	count(&stats.answers, 1);
	/* After the drain: a requester that sees the bit clear finds the frames free. */
	__atomic_fetch_and(&pending, ~me, __ATOMIC_RELEASE);
	return true;
}

/* Whether a frame is free outside the caches: another try may get it (a hint). */
static bool frame_free_outside_caches(void)
{
	return __atomic_load_n(&pmm_kernel.free, __ATOMIC_RELAXED) != 0;
}

/*
 * Wait until every CPU in want has answered, a frame is free, or limit
 * TSC cycles have passed. With interrupts off, answer requests made of
 * this CPU meanwhile: two CPUs asking each other with interrupts off
 * would otherwise each wait for the other. Returns the cycles waited.
 */
static uint64_t wait_answers(uint64_t want, bool irqs_on, uint64_t limit)
{
	uint64_t start = arch_timestamp(), waited = 0;

	while (__atomic_load_n(&pending, __ATOMIC_ACQUIRE) & want) {
		if (frame_free_outside_caches()) {
			count(&stats.early, 1);
			break;
		}
		if (!irqs_on)
			pmm_remote_receive();
		waited = arch_timestamp() - start;
		if (waited > limit) {
			uint64_t late = __atomic_load_n(&pending, __ATOMIC_RELAXED) & want;

			count(&stats.timeouts, 1);
			if (irqs_on) /* a CPU stuck with interrupts off: worth a line */
				kwarn("pmm: CPUs %#llx kept their cached frames for %u ms",
				      (unsigned long long)late, WAIT_MS);
			break;
		}
		arch_cpu_relax();
	}
	return arch_timestamp() - start;
}

void pmm_remote_reclaim(void *ctx)
{
	bool irqs_on = arch_irqs_enabled();
	unsigned long flags = arch_irq_save(); /* our CPU number stays ours while we read it */
	uint64_t want = holders(arch_percpu()->cpu), waited, max;

	arch_irq_restore(flags);
	if (!want)
		return;
	count(&stats.requests, 1);
	count(&stats.asked, (uint64_t)__builtin_popcountll(want));
	__atomic_fetch_or(&pending, want, __ATOMIC_SEQ_CST);
	arch_smp_reclaim_send(want);
	waited = wait_answers(want, irqs_on,
			      arch_timer_info()->tsc_khz * (irqs_on ? WAIT_MS : WAIT_ATOMIC_MS));
	max = __atomic_load_n(&stats.max_wait_cycles, __ATOMIC_RELAXED);
	while (waited > max &&
	       !__atomic_compare_exchange_n(&stats.max_wait_cycles, &max, waited, true,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void pmm_remote_stats(struct pmm_remote_stats *s)
{
	s->requests = __atomic_load_n(&stats.requests, __ATOMIC_RELAXED);
	s->asked = __atomic_load_n(&stats.asked, __ATOMIC_RELAXED);
	s->answers = __atomic_load_n(&stats.answers, __ATOMIC_RELAXED);
	s->early = __atomic_load_n(&stats.early, __ATOMIC_RELAXED);
	s->timeouts = __atomic_load_n(&stats.timeouts, __ATOMIC_RELAXED);
	s->max_wait_cycles = __atomic_load_n(&stats.max_wait_cycles, __ATOMIC_RELAXED);
}
