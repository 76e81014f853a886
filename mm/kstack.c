/*
 * Guarded kernel stacks (include/mm/kstack.h). A table records every stack
 * that holds address space (handed out, cached, or being mapped or
 * unmapped), so a new slot never overlaps one, and so a fault handler can
 * name the stack whose guard was hit without taking a lock.
 *
 * A slot is KSTACK_SPAN bytes: guard page, KSTACK_SIZE of stack, guard
 * page. Its position is drawn uniformly among the page-aligned positions
 * of the stack window (docs/layout.md counts the bits); a draw that
 * overlaps something is drawn again.
 */
#include <kernel/panic.h>
#include <kernel/random.h>
#include <lib/errno.h>
#include <lib/spinlock.h>
#include <lib/string.h>
#include <mm/kstack.h>
#include <mm/layout.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>

#define STACK_PAGES (KSTACK_SIZE / PAGE_SIZE)
#define SLOT_TRIES  64 /* draws before giving up: each fails with p < 1/2^12 */

enum rec_state {
	REC_FREE,
	REC_BUSY,   /* being mapped or unmapped: its slot is taken, no one owns it */
	REC_LIVE,   /* handed out */
	REC_CACHED, /* freed, still mapped */
};

struct rec {
	vaddr_t bottom;
	const char *owner;
	enum rec_state state;
};

static struct rec recs[KSTACK_MAX]; /* written under kstack_lock, read lock-free */
static struct spinlock kstack_lock = SPINLOCK_INIT_NAMED("kstack_lock");
static vaddr_t window;		 /* 0 until kstack_init */
static vaddr_t boot_lo, boot_hi; /* the boot stack with its guards, never drawn */
static unsigned int n_live, n_cached;

void kstack_init(const struct boot_info *bi)
{
	window = bi->stack_base;
	boot_lo = bi->boot_stack_bottom - PAGE_SIZE;
	boot_hi = bi->boot_stack_top + PAGE_SIZE;
}

static bool spans_overlap(vaddr_t a, vaddr_t a_end, vaddr_t b, vaddr_t b_end)
{
	return a < b_end && b < a_end;
}

/* True if the slot starting at lo overlaps no recorded slot and not the boot stack. */
static bool slot_free(vaddr_t lo)
{
	vaddr_t hi = lo + KSTACK_SPAN;

	if (spans_overlap(lo, hi, boot_lo, boot_hi))
		return false;
	for (size_t i = 0; i < KSTACK_MAX; i++) {
		vaddr_t r = recs[i].bottom - KSTACK_GUARD;
		if (recs[i].state != REC_FREE && spans_overlap(lo, hi, r, r + KSTACK_SPAN))
			return false;
	}
	return true;
}

/* A random free slot's start, or 0. Under kstack_lock. */
static vaddr_t draw_slot(void)
{
	uint64_t positions = (LAYOUT_STACK_EXTENT - KSTACK_SPAN) / PAGE_SIZE + 1;

	for (int i = 0; i < SLOT_TRIES; i++) {
		vaddr_t lo = window + random_below(positions) * PAGE_SIZE;
		if (slot_free(lo))
			return lo;
	}
	return 0;
}

/* Record a new slot for owner as REC_BUSY. 0, -ENOSPC. */
static int reserve(const char *owner, struct rec **out)
{
	unsigned long irq = spin_lock_irqsave(&kstack_lock);
	struct rec *r = NULL;
	vaddr_t lo = 0;

	for (size_t i = 0; i < KSTACK_MAX && !r; i++)
		if (recs[i].state == REC_FREE)
			r = &recs[i];
	if (r)
		lo = draw_slot();
	if (lo)
		*r = (struct rec){lo + KSTACK_GUARD, owner, REC_BUSY};
	spin_unlock_irqrestore(&kstack_lock, irq);
	*out = lo ? r : NULL;
	return lo ? 0 : -ENOSPC;
}

/* A cached stack, now REC_BUSY, or NULL if the cache is empty. */
static struct rec *take_cached(void)
{
	unsigned long irq = spin_lock_irqsave(&kstack_lock);
	struct rec *r = NULL;

	for (size_t i = 0; i < KSTACK_MAX && n_cached && !r; i++) {
		if (recs[i].state == REC_CACHED) {
			r = &recs[i];
			r->state = REC_BUSY;
			n_cached--;
		}
	}
	spin_unlock_irqrestore(&kstack_lock, irq);
	return r;
}

/* Move r to state with owner (REC_FREE forgets the slot). */
static void settle(struct rec *r, enum rec_state state, const char *owner)
{
	unsigned long irq = spin_lock_irqsave(&kstack_lock);

	r->owner = owner;
	r->state = state;
	if (state == REC_FREE)
		r->bottom = 0;
	if (state == REC_LIVE)
		n_live++;
	if (state == REC_CACHED)
		n_cached++;
	spin_unlock_irqrestore(&kstack_lock, irq);
}

/* Unmap the first pages pages at bottom, then free their frames (after the flush). */
static void unmap_pages(vaddr_t bottom, unsigned int pages)
{
	paddr_t frames[STACK_PAGES];

	for (unsigned int i = 0; i < pages; i++)
		frames[i] = vmm_translate(bottom + i * PAGE_SIZE);
	if (pages)
		vmm_unmap(bottom, pages * PAGE_SIZE);
	for (unsigned int i = 0; i < pages; i++)
		pmm_free(&pmm_kernel, frames[i]);
}

/* Back [bottom, bottom + KSTACK_SIZE) with fresh frames, RW NX. 0 or -ENOMEM, undone. */
static int map_pages(vaddr_t bottom)
{
	for (unsigned int i = 0; i < STACK_PAGES; i++) {
		paddr_t pa = pmm_alloc(&pmm_kernel);
		int err = pa == PADDR_INVALID
			      ? -ENOMEM
			      : vmm_map(bottom + i * PAGE_SIZE, pa, PAGE_SIZE, VMM_WRITE);
		if (err) {
			if (pa != PADDR_INVALID)
				pmm_free(&pmm_kernel, pa);
			unmap_pages(bottom, i);
			return err == -EEXIST ? -ENOSPC : -ENOMEM;
		}
	}
	return 0;
}

int kstack_alloc(struct kstack *ks, const char *owner)
{
	struct rec *r;
	int err;

	if (!window)
		return -EINVAL;
	r = take_cached();
	if (!r) {
		err = reserve(owner, &r);
		if (!err)
			err = map_pages(r->bottom);
		if (err) {
			if (r)
				settle(r, REC_FREE, NULL);
			return err;
		}
	}
	memset((void *)r->bottom, 0, KSTACK_SIZE); /* no trace of a previous owner */
	settle(r, REC_LIVE, owner);
	*ks = (struct kstack){r->bottom, r->bottom + KSTACK_SIZE, owner};
	return 0;
}

/* The live record of the stack at bottom, now REC_BUSY; panics if there is none. */
static struct rec *take_live(vaddr_t bottom, bool *to_cache)
{
	unsigned long irq = spin_lock_irqsave(&kstack_lock);
	struct rec *r = NULL;

	for (size_t i = 0; i < KSTACK_MAX && !r; i++)
		if (recs[i].state == REC_LIVE && recs[i].bottom == bottom)
			r = &recs[i];
	if (r) {
		r->state = REC_BUSY;
		n_live--;
		*to_cache = n_cached < KSTACK_CACHE;
	}
	spin_unlock_irqrestore(&kstack_lock, irq);
	if (!r)
		panic("kstack_free: %#llx is not a live stack", (unsigned long long)bottom);
	return r;
}

void kstack_free(struct kstack *ks)
{
	bool to_cache;
	struct rec *r = take_live(ks->bottom, &to_cache);

	if (to_cache) {
		settle(r, REC_CACHED, "a freed stack");
	} else {
		unmap_pages(r->bottom, STACK_PAGES);
		settle(r, REC_FREE, NULL);
	}
	*ks = (struct kstack){0};
}

unsigned int kstack_cache_drain(void)
{
	unsigned int n = 0;
	struct rec *r;

	while ((r = take_cached())) {
		unmap_pages(r->bottom, STACK_PAGES);
		settle(r, REC_FREE, NULL);
		n++;
	}
	return n;
}

enum kstack_where kstack_find(vaddr_t addr, struct kstack *ks)
{
	for (size_t i = 0; i < KSTACK_MAX; i++) {
		const struct rec *r = &recs[i];
		vaddr_t bottom = r->bottom, top = bottom + KSTACK_SIZE;
		enum kstack_where w = KSTACK_NONE;

		if (r->state == REC_FREE || addr < bottom - KSTACK_GUARD ||
		    addr >= top + KSTACK_GUARD)
			continue;
		w = addr < bottom ? KSTACK_GUARD_BELOW
		    : addr >= top ? KSTACK_GUARD_ABOVE
				  : KSTACK_INSIDE;
		if (ks)
			*ks = (struct kstack){bottom, top, r->owner};
		return w;
	}
	return KSTACK_NONE;
}

void kstack_stats(struct kstack_stats *s)
{
	unsigned long irq = spin_lock_irqsave(&kstack_lock);

	s->live = n_live;
	s->cached = n_cached;
	spin_unlock_irqrestore(&kstack_lock, irq);
}
