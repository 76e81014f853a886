/*
 * What other CPUs' caches hold is not lost to this CPU
 * (mm/remote_reclaim.c): frames in their frame caches (suite `pmm`) and
 * blocks in their kernel-heap front caches (suite `heap`), each taken
 * once with interrupts off (the bounded wait an atomic caller gets) and
 * once with them on.
 */
#include <arch/arch.h>
#include <arch/irq.h>
#include <arch/percpu.h>
#include <arch/timer.h>
#include <kernel/console.h>
#include <kernel/frame_hold.h>
#include <kernel/ktest.h>
#include <kernel/panic.h>
#include <kernel/sched.h>
#include <kernel/thread.h>
#include <mm/addr.h>
#include <mm/kmalloc.h>
#include <mm/pmm_boot.h>
#include <mm/remote_reclaim.h>

/*
 * Between the stats s0 and s1 of a round (printed): no wait ran out and,
 * with other CPUs up, they held something (held_elsewhere) and answered.
 */
static void expect_answered(struct ktest *t, unsigned int home,
			    const struct remote_reclaim_stats *s0,
			    const struct remote_reclaim_stats *s1, uint64_t held_elsewhere)
{
	kprintf("#   %llu requests asked %llu CPUs, %llu answers, %llu waits ran out\n",
		(unsigned long long)(s1->requests - s0->requests),
		(unsigned long long)(s1->asked - s0->asked),
		(unsigned long long)(s1->answers - s0->answers),
		(unsigned long long)(s1->timeouts - s0->timeouts));
	KEXPECT_EQ(t, s1->timeouts, s0->timeouts);
	if (sched_cpus() != 1ull << home) {
		KEXPECT(t, held_elsewhere > 0);
		KEXPECT(t, s1->answers > s0->answers);
	}
}

/* ---- frames ---- */

#define KEEP 512 /* frames left free by the hold: enough for a word on each CPU */

/* Pinned to each online CPU but home in turn, fn(arg) there; back on home at the end. */
static void on_each_other_cpu(unsigned int home, void (*fn)(void *arg), void *arg)
{
	uint64_t cpus = sched_cpus() & ~(1ull << home);

	while (cpus) {
		unsigned int cpu = (unsigned int)__builtin_ctzll(cpus);

		cpus &= cpus - 1;
		KASSERT(thread_pin(cpu) == 0);
		fn(arg);
	}
	KASSERT(thread_pin(home) == 0);
}

/* Take a frame and give it back: this CPU's cache then holds a word. */
static void seed_frame_cache(void *unused)
{
	paddr_t pa = pmm_alloc(&pmm_kernel);

	if (pa != PADDR_INVALID)
		KASSERT(pmm_free(&pmm_kernel, pa) == 0);
}

/* Frames the other CPUs' caches hold (they are idle: their masks stand still). */
static uint64_t cached_elsewhere(unsigned int home)
{
	uint64_t cpus = sched_cpus() & ~(1ull << home), n = 0;

	while (cpus) {
		unsigned int cpu = (unsigned int)__builtin_ctzll(cpus);

		cpus &= cpus - 1;
		n += (uint64_t)__builtin_popcountll(arch_percpu_of(cpu)->pmm_cache.mask);
	}
	return n;
}

/* Take frames until none is left, chained through their first word; the count. */
static uint64_t take_all(paddr_t *chain, bool irqs_off)
{
	unsigned long irq = irqs_off ? arch_irq_save() : 0;
	uint64_t n = 0;
	paddr_t pa;

	while ((pa = pmm_alloc(&pmm_kernel)) != PADDR_INVALID) {
		*(paddr_t *)phys_to_virt(pa) = *chain;
		*chain = pa;
		n++;
	}
	if (irqs_off)
		arch_irq_restore(irq);
	return n;
}

static void give_all(paddr_t chain)
{
	while (chain != PADDR_INVALID) {
		paddr_t next = *(paddr_t *)phys_to_virt(chain);

		KASSERT(pmm_free(&pmm_kernel, chain) == 0);
		chain = next;
	}
}

/* One round: seed the other caches, take everything from here, check, give back. */
static void round(struct ktest *t, unsigned int home, bool irqs_off)
{
	struct remote_reclaim_stats s0, s1;
	uint64_t elsewhere, free, taken;
	paddr_t chain = PADDR_INVALID;

	on_each_other_cpu(home, seed_frame_cache, NULL);
	elsewhere = cached_elsewhere(home);
	free = pmm_kernel_free_frames();
	remote_reclaim_stats(REMOTE_FRAMES, &s0);
	taken = take_all(&chain, irqs_off);
	remote_reclaim_stats(REMOTE_FRAMES, &s1);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), 0);
	give_all(chain);
	kprintf("# pmm: interrupts %s: %llu frames taken of %llu free, %llu of them cached by "
		"other CPUs\n",
		irqs_off ? "off" : "on", (unsigned long long)taken, (unsigned long long)free,
		(unsigned long long)elsewhere);
	KEXPECT_EQ(t, taken, free);
	expect_answered(t, home, &s0, &s1, elsewhere);
}

KTEST(pmm, pmm_alloc_gets_frames_other_cpus_cached)
{
	unsigned int home = 0;
	struct frame_hold held;
	struct remote_reclaim_stats s;
	uint64_t before;

	KASSERT(thread_pin(home) == 0);
	frame_caches_drain_all();
	before = pmm_kernel_free_frames();
	frame_hold(&held, KEEP);
	round(t, home, true);
	round(t, home, false);
	frame_hold_release(&held);
	frame_caches_drain_all();
	thread_unpin();
	remote_reclaim_stats(REMOTE_FRAMES, &s);
	kprintf("# pmm: longest wait for other CPUs' frames %llu us (emulated), %llu timeouts\n",
		(unsigned long long)(s.max_wait_cycles * 1000 / arch_timer_info()->tsc_khz),
		(unsigned long long)s.timeouts);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before);
	KEXPECT(t, pmm_check(&pmm_kernel));
}

/* ---- heap blocks ---- */

/*
 * Every other CPU allocates and frees some blocks of one size,
 * which stay in its front cache; with every frame held back, this CPU
 * allocates that size until the heap has none, once with interrupts off
 * and once with them on. It must get every one of those blocks.
 */
#define BLOCK_SIZE 200
#define PER_CPU	   6

/* The blocks the other CPUs cached: where they are. */
struct seeded {
	void *p[64 * PER_CPU];
	unsigned int n;
};

/* PER_CPU blocks allocated, then freed into this CPU's cache; their addresses kept. */
static void seed_heap_cache(void *arg)
{
	struct seeded *s = arg;
	unsigned int first = s->n;

	for (unsigned int i = 0; i < PER_CPU; i++)
		if ((s->p[s->n] = kmalloc(BLOCK_SIZE)) != NULL)
			s->n++;
	for (unsigned int i = first; i < s->n; i++)
		kfree(s->p[i]);
}

/* kmalloc(BLOCK_SIZE) until it fails, chained through the blocks; whether each seeded one came. */
static uint64_t take_all_blocks(void **chain, const struct seeded *seeded, bool irqs_off,
				unsigned int *found)
{
	unsigned long irq = irqs_off ? arch_irq_save() : 0;
	uint64_t n = 0;
	void *p;

	while ((p = kmalloc(BLOCK_SIZE)) != NULL) {
		*(void **)p = *chain;
		*chain = p;
		n++;
		for (unsigned int i = 0; i < seeded->n; i++)
			*found += p == seeded->p[i];
	}
	if (irqs_off)
		arch_irq_restore(irq);
	return n;
}

static void heap_round(struct ktest *t, unsigned int home, bool irqs_off)
{
	static struct seeded seeded; /* 3 KiB: off the stack */
	void *chain = NULL;
	struct remote_reclaim_stats s0, s1;
	unsigned int found = 0;
	struct frame_hold held;
	uint64_t taken;

	seeded.n = 0;
	on_each_other_cpu(home, seed_heap_cache, &seeded);
	frame_hold(&held, 0);
	remote_reclaim_stats(REMOTE_HEAP, &s0);
	taken = take_all_blocks(&chain, &seeded, irqs_off, &found);
	remote_reclaim_stats(REMOTE_HEAP, &s1);
	while (chain) {
		void *next = *(void **)chain;

		kfree(chain);
		chain = next;
	}
	frame_hold_release(&held);
	kprintf("# heap: interrupts %s: %llu blocks of %u bytes taken with every frame held; "
		"%u of the %u other CPUs had cached came back\n",
		irqs_off ? "off" : "on", (unsigned long long)taken, BLOCK_SIZE, found, seeded.n);
	KEXPECT_EQ(t, found, seeded.n);
	expect_answered(t, home, &s0, &s1, seeded.n);
}

KTEST(heap, kmalloc_gets_blocks_other_cpus_cached)
{
	unsigned int home = 0;
	uint64_t before;
	char msg[160];

	KASSERT(thread_pin(home) == 0);
	frame_caches_drain_all();
	before = pmm_kernel_free_frames();
	heap_round(t, home, true);
	heap_round(t, home, false);
	frame_caches_drain_all();
	thread_unpin();
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before);
	KEXPECT_EQ(t, kmalloc_check(msg, sizeof(msg)), 0);
}
