/*
 * Frames in other CPUs' frame caches are not lost to this CPU (suite
 * `pmm`, mm/pmm_remote.c): with memory nearly all held back, every other
 * CPU caches a word of frames; this CPU must still get every free frame,
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
#include <mm/pmm_boot.h>
#include <mm/pmm_remote.h>

#define KEEP 512 /* frames left free by the hold: enough for a word on each CPU */

/* On each other CPU, take a frame and give it back: its cache then holds a word. */
static void seed_other_caches(unsigned int home)
{
	uint64_t cpus = sched_cpus() & ~(1ull << home);

	while (cpus) {
		unsigned int cpu = (unsigned int)__builtin_ctzll(cpus);
		paddr_t pa;

		cpus &= cpus - 1;
		KASSERT(thread_pin(cpu) == 0);
		pa = pmm_alloc(&pmm_kernel);
		if (pa != PADDR_INVALID)
			KASSERT(pmm_free(&pmm_kernel, pa) == 0);
	}
	KASSERT(thread_pin(home) == 0);
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
	struct pmm_remote_stats s0, s1;
	uint64_t elsewhere, free, taken;
	paddr_t chain = PADDR_INVALID;

	seed_other_caches(home);
	elsewhere = cached_elsewhere(home);
	free = pmm_kernel_free_frames();
	pmm_remote_stats(&s0);
	taken = take_all(&chain, irqs_off);
	pmm_remote_stats(&s1);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), 0);
	give_all(chain);
	kprintf("# pmm: interrupts %s: %llu frames taken of %llu free, %llu of them cached by "
		"other CPUs; %llu requests asked %llu CPUs, %llu answers\n",
		irqs_off ? "off" : "on", (unsigned long long)taken, (unsigned long long)free,
		(unsigned long long)elsewhere, (unsigned long long)(s1.requests - s0.requests),
		(unsigned long long)(s1.asked - s0.asked),
		(unsigned long long)(s1.answers - s0.answers));
	KEXPECT_EQ(t, taken, free);
	KEXPECT_EQ(t, s1.timeouts, s0.timeouts);
	if (sched_cpus() != 1ull << home) {
		KEXPECT(t, elsewhere > 0);
		KEXPECT(t, s1.answers > s0.answers);
	}
}

KTEST(pmm, pmm_alloc_gets_frames_other_cpus_cached)
{
	unsigned int home = 0;
	struct frame_hold held;
	struct pmm_remote_stats s;
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
	pmm_remote_stats(&s);
	kprintf("# pmm: longest wait for other CPUs' frames %llu us (emulated), %llu timeouts\n",
		(unsigned long long)(s.max_wait_cycles * 1000 / arch_timer_info()->tsc_khz),
		(unsigned long long)s.timeouts);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before);
	KEXPECT(t, pmm_check(&pmm_kernel));
}
