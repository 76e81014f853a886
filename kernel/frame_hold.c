/*
 * Making memory scarce for a test (include/kernel/frame_hold.h): runs
 * first, halving the size whenever none is left, then single frames for
 * what no run of 512 can take.
 */
#include <arch/irq.h>
#include <arch/percpu.h>
#include <kernel/frame_hold.h>
#include <kernel/panic.h>
#include <kernel/sched.h>
#include <kernel/thread.h>
#include <mm/addr.h>
#include <mm/kmalloc.h>
#include <mm/kstack.h>
#include <mm/pmm_cache.h>
#include <mm/pmm.h>
#include <mm/pmm_boot.h>

#define RUN_MIN 512 /* frames: smaller remainders are taken one by one */

static void hold_runs(struct frame_hold *h, uint64_t keep)
{
	uint64_t want = 1ull << 20;

	while (h->runs < FRAME_HOLD_RUNS && want >= RUN_MIN) {
		uint64_t free = pmm_kernel_free_frames();
		paddr_t pa;

		if (free < keep + RUN_MIN)
			return;
		want = want < free - keep ? want : free - keep;
		pa = pmm_alloc_run(&pmm_kernel, want, PAGE_SIZE);
		if (pa == PADDR_INVALID) {
			want /= 2;
			continue;
		}
		h->run[h->runs] = pa;
		h->count[h->runs++] = want;
		h->held += want;
	}
}

void frame_hold(struct frame_hold *h, uint64_t keep)
{
	*h = (struct frame_hold){.singles = PADDR_INVALID};
	hold_runs(h, keep);
	while (pmm_kernel_free_frames() > keep) {
		paddr_t pa = pmm_alloc(&pmm_kernel);

		if (pa == PADDR_INVALID)
			break;
		*(paddr_t *)phys_to_virt(pa) = h->singles;
		h->singles = pa;
		h->held++;
	}
}

void frame_hold_release(struct frame_hold *h)
{
	while (h->singles != PADDR_INVALID) {
		paddr_t next = *(paddr_t *)phys_to_virt(h->singles);

		KASSERT(pmm_free(&pmm_kernel, h->singles) == 0);
		h->singles = next;
	}
	while (h->runs) {
		h->runs--;
		KASSERT(pmm_free_run(&pmm_kernel, h->run[h->runs], h->count[h->runs]) == 0);
	}
	h->held = 0;
}

/* This CPU's caches, on a thread pinned here. */
static void drain_this_cpu(void *unused)
{
	unsigned long irq;

	kmalloc_trim(); /* heap front cache and chunks, object-cache magazines */
	irq = arch_irq_save();
	pmm_cache_drain(&pmm_kernel, &arch_percpu()->pmm_cache);
	arch_irq_restore(irq);
}

/*
 * Pinned for the whole drain, so that every free after a CPU's drain (the
 * helper threads' structs and stacks, freed by their joins here, and what
 * kstack_cache_drain and kmalloc_trim give back) lands in this CPU's
 * caches, which are drained last. Unpinned, the caller could join on one
 * CPU and drain another, leaving a frame in the first one's caches.
 */
void frame_caches_drain_all(void)
{
	struct thread *self = thread_current();
	bool was_pinned = self->pinned;

	if (!was_pinned)
		KASSERT(thread_pin(arch_percpu()->cpu) == 0); /* stay where we are */
	sched_on_each_cpu(drain_this_cpu, NULL);
	kstack_cache_drain();
	drain_this_cpu(NULL); /* what the drains freed into this CPU's caches */
	if (!was_pinned)
		thread_unpin();
}
