/*
 * TLB shootdown (include/mm/vmm_shootdown.h). A single request slot under
 * shoot_lock: the sender fills it, sets the pending mask, has the machine
 * interrupt each target, and spins until every target has cleared its bit.
 * The interrupt is non-maskable, so a target that spins on a lock the
 * sender holds (interrupts off) still answers, and two senders never wait
 * for each other: the second spins on shoot_lock, answering the first.
 * The receiver takes no lock and touches nothing but the TLB and its bit.
 */
#include <arch/mmu.h>
#include <arch/percpu.h>
#include <arch/smp.h>
#include <kernel/panic.h>
#include <lib/spinlock.h>
#include <lib/string.h>
#include <mm/vmm.h>
#include <mm/vmm_shootdown.h>

static struct spinlock shoot_lock = SPINLOCK_INIT;
static struct {
	struct aspace *as; /* NULL: kernel entries */
	bool all;	   /* drop everything (of as, or global too for the kernel) */
	unsigned int count;
	vaddr_t va[PT_FLUSH_MAX];
} req;				  /* written under shoot_lock while pending is 0 */
static volatile uint64_t pending; /* targets that have not acknowledged yet */
static struct vmm_shootdown_stats stats;

void vmm_shootdown(uint64_t mask, struct aspace *as, const struct pt_flush *f)
{
	unsigned long irq;

	mask &= arch_smp_online() & ~(1ull << arch_percpu()->cpu);
	if (!mask || (!f->all && !f->count))
		return;
	irq = spin_lock_irqsave(&shoot_lock);
	req.as = as;
	req.all = f->all || f->count > VMM_FLUSH_THRESHOLD;
	req.count = req.all ? 0 : f->count;
	memcpy(req.va, f->va, req.count * sizeof(req.va[0]));
	__atomic_store_n(&pending, mask, __ATOMIC_SEQ_CST);
	arch_smp_shootdown_send(mask);
	while (__atomic_load_n(&pending, __ATOMIC_ACQUIRE))
		arch_cpu_relax();
	stats.requests++;
	stats.targets += (uint64_t)__builtin_popcountll(mask);
	spin_unlock_irqrestore(&shoot_lock, irq);
}

bool vmm_shootdown_receive(void)
{
	struct percpu *pc = arch_percpu();
	uint64_t bit = 1ull << pc->cpu;

	if (!(__atomic_load_n(&pending, __ATOMIC_ACQUIRE) & bit))
		return false;
	if (!req.as && req.all) {
		arch_tlb_flush_all();
	} else if (!req.as || pc->aspace == req.as) {
		/* as's load and this request are both under aspace_lock: it is loaded here. */
		if (req.all)
			arch_tlb_flush_loaded();
		for (unsigned int i = 0; i < req.count; i++)
			arch_tlb_flush_page(req.va[i]);
	}
	__atomic_fetch_add(&stats.received, 1, __ATOMIC_RELAXED);
	__atomic_fetch_and(&pending, ~bit, __ATOMIC_RELEASE);
	return true;
}

void vmm_shootdown_stats(struct vmm_shootdown_stats *s)
{
	unsigned long irq = spin_lock_irqsave(&shoot_lock);

	*s = stats;
	s->received = __atomic_load_n(&stats.received, __ATOMIC_RELAXED);
	spin_unlock_irqrestore(&shoot_lock, irq);
}
