/*
 * Large heap blocks (requests of HEAP_LARGE_MIN bytes or more): whole pages
 * of their own in the second half of the heap's window.
 *
 * That half is cut into HEAP_LARGE_CLASSES regions of equal size; region k
 * holds slots of 2^k pages. A block of n pages goes in a slot of the
 * smallest class with 2^k >= n + 1, payload at the slot's start. The rest
 * of the slot stays unmapped, so every block has an unmapped page after it
 * and (the previous slot's tail) before it. A block can grow in place up to
 * its slot. Freed slots are reused oldest first, so a stale pointer keeps
 * faulting for as long as possible.
 *
 * Each slot has a record (struct heap_large) in a small block, found
 * through a hash of the slot address. All of it is under h->lock.
 */
#include <lib/fmt.h>
#include <lib/string.h>
#include "heap_internal.h"

/* The slot class for a block of pages pages: the least k >= 1 with 2^k >= pages + 1. */
static unsigned slot_class(uint64_t pages)
{
	return 64 - (unsigned)__builtin_clzll(pages);
}

static uintptr_t region_base(const struct heap *h, unsigned cls)
{
	return h->large_base + cls * h->large_region;
}

static uint64_t slots_in(const struct heap *h, unsigned cls)
{
	return h->large_region >> (cls + PAGE_SHIFT);
}

static struct heap_large **hash_bucket(struct heap *h, uintptr_t slot)
{
	return &h->large_hash[((slot >> PAGE_SHIFT) * 0x9e3779b97f4a7c15ull) >> 54];
}
_Static_assert(HEAP_LARGE_BUCKETS == 1u << 10, "hash_bucket() takes the top 10 bits");

/* The oldest freed slot of class cls, or a new one with its record; NULL if none. */
static struct heap_large *slot_get(struct heap *h, unsigned cls)
{
	struct heap_large *r = h->large_free[cls];

	if (r) {
		h->large_free[cls] = r->free_next;
		if (!r->free_next)
			h->large_free_tail[cls] = NULL;
		return r;
	}
	if (h->large_next[cls] >= slots_in(h, cls))
		return NULL;
	r = heap_small_alloc_locked(h, sizeof(*r), HEAP_ALIGN);
	if (!r)
		return NULL;
	/* Records are the heap's own: not counted as live blocks. */
	heap_this_cache(h)->live_base--; /* under the lock: interrupts are off */
	heap_this_cache(h)->live_bytes -= sizeof(*r);
	h->large_records++;
	memset(r, 0, sizeof(*r));
	r->slot = region_base(h, cls) + (h->large_next[cls]++ << (cls + PAGE_SHIFT));
	r->cls = cls;
	r->hash_next = *hash_bucket(h, r->slot);
	*hash_bucket(h, r->slot) = r;
	return r;
}

/* Queue r's slot for reuse: at the back after a free, at the front if it was never used. */
static void slot_put(struct heap *h, struct heap_large *r, bool front)
{
	unsigned cls = r->cls;

	r->free_next = NULL;
	if (front) {
		r->free_next = h->large_free[cls];
		h->large_free[cls] = r;
		if (!h->large_free_tail[cls])
			h->large_free_tail[cls] = r;
	} else {
		if (h->large_free_tail[cls])
			h->large_free_tail[cls]->free_next = r;
		else
			h->large_free[cls] = r;
		h->large_free_tail[cls] = r;
	}
}

/* Write the canary into the slack after req bytes, as much as the last page has room for. */
static void canary_put(struct heap *h, const struct heap_large *r)
{
	uint64_t room = r->pages * PAGE_SIZE - r->req;

	if (room)
		heap_canary_put(h, (void *)r->slot, r->req, (unsigned)MIN(room, HEAP_CANARY_SIZE));
}

static bool canary_ok(struct heap *h, const struct heap_large *r)
{
	uint64_t room = r->pages * PAGE_SIZE - r->req;

	return !room ||
	       heap_canary_ok(h, (void *)r->slot, r->req, (unsigned)MIN(room, HEAP_CANARY_SIZE));
}

static void account(struct heap *h, const struct heap_large *r, int sign)
{
	h->large_live += (uint64_t)sign;
	h->large_bytes += (uint64_t)sign * r->pages * PAGE_SIZE;
	h->large_req += (uint64_t)sign * r->req;
}

/* Pages for size bytes; sizes too big for any slot stay too big without overflowing. */
static uint64_t pages_for(uint64_t size)
{
	return ALIGN_UP(MIN(size, 1ull << 62), PAGE_SIZE) >> PAGE_SHIFT;
}

void *heap_large_alloc(struct heap *h, uint64_t size)
{
	uint64_t pages = pages_for(size);
	unsigned cls = slot_class(pages);
	unsigned long irq = spin_lock_irqsave(&h->lock);
	struct heap_large *r = cls < HEAP_LARGE_CLASSES ? slot_get(h, cls) : NULL;

	if (r && h->ops->map(h->ctx, r->slot, pages * PAGE_SIZE) != 0) {
		slot_put(h, r, true);
		r = NULL;
	}
	if (!r) {
		h->failures++;
		spin_unlock_irqrestore(&h->lock, irq);
		return NULL;
	}
	r->pages = pages;
	r->req = size;
	r->live = true;
	account(h, r, 1);
	canary_put(h, r);
	spin_unlock_irqrestore(&h->lock, irq);
	return (void *)r->slot;
}

/* The record of the slot holding addr (live or not), or NULL. No lock. */
static struct heap_large *record_at(struct heap *h, uintptr_t addr)
{
	uint64_t cls = (addr - h->large_base) / h->large_region;
	struct heap_large *r;
	uintptr_t slot;

	if (cls == 0 || cls >= HEAP_LARGE_CLASSES)
		return NULL;
	slot = addr - ((addr - region_base(h, (unsigned)cls)) & ((PAGE_SIZE << cls) - 1));
	for (r = *hash_bucket(h, slot); r && r->slot != slot; r = r->hash_next)
		;
	return r;
}

/* The live record of p, or a report (bad free, double free, overrun). Lock held. */
static struct heap_large *record_of(struct heap *h, const void *p)
{
	uintptr_t a = (uintptr_t)p;
	struct heap_large *r = record_at(h, a);

	if (!r || r->slot != a)
		heap_fail(h,
			  "bad free of %#lx: not a block from this heap (in its large-block area)",
			  (unsigned long)a);
	if (!r->live)
		heap_fail(h, "double free of %#lx (a large block, slot of %lu pages)",
			  (unsigned long)a, 1ul << r->cls);
	if (!canary_ok(h, r))
		heap_fail(
		    h,
		    "buffer overrun: the canary after the %lu bytes of block %#lx (%lu pages) "
		    "is overwritten",
		    (unsigned long)r->req, (unsigned long)a, (unsigned long)r->pages);
	return r;
}

void heap_large_free(struct heap *h, void *p)
{
	unsigned long irq = spin_lock_irqsave(&h->lock);
	struct heap_large *r = record_of(h, p);

	h->ops->unmap(h->ctx, r->slot, r->pages * PAGE_SIZE);
	account(h, r, -1);
	r->live = false;
	r->pages = 0;
	slot_put(h, r, false);
	spin_unlock_irqrestore(&h->lock, irq);
}

/* Resize r to pages pages inside its slot: false if it does not fit or cannot be mapped. */
static bool resize_in_slot(struct heap *h, struct heap_large *r, uint64_t pages, uint64_t size)
{
	uintptr_t end = r->slot + r->pages * PAGE_SIZE;

	if (pages + 1 > 1ull << r->cls)
		return false;
	if (pages > r->pages && h->ops->map(h->ctx, end, (pages - r->pages) * PAGE_SIZE) != 0)
		return false;
	if (pages < r->pages)
		h->ops->unmap(h->ctx, r->slot + pages * PAGE_SIZE, (r->pages - pages) * PAGE_SIZE);
	account(h, r, -1);
	r->pages = pages;
	r->req = size;
	account(h, r, 1);
	canary_put(h, r);
	return true;
}

void *heap_large_realloc(struct heap *h, void *p, uint64_t size)
{
	unsigned long irq = spin_lock_irqsave(&h->lock);
	struct heap_large *r = record_of(h, p);
	uint64_t old = r->req;
	bool done = size >= HEAP_LARGE_MIN && resize_in_slot(h, r, pages_for(size), size);
	void *q;

	spin_unlock_irqrestore(&h->lock, irq);
	if (done)
		return p;
	q = heap_alloc(h, size, 0);
	if (!q)
		return NULL;
	memcpy(q, p, MIN(old, size));
	heap_large_free(h, p);
	return q;
}

uint64_t heap_large_size(struct heap *h, const void *p)
{
	unsigned long irq = spin_lock_irqsave(&h->lock);
	uint64_t req = record_of(h, p)->req;

	spin_unlock_irqrestore(&h->lock, irq);
	return req;
}

bool heap_guard_name(struct heap *h, uintptr_t addr, char *buf, size_t len)
{
	uint64_t off = addr - h->base;
	struct heap_large *r;

	if (heap_is_large(h, addr)) {
		r = record_at(h, addr);
		if (!r || !r->live || addr < r->slot + r->pages * PAGE_SIZE)
			return false;
		fmt_snprintf(buf, len, "heap block %#lx (%lu bytes)", (unsigned long)r->slot,
			     (unsigned long)r->req);
		return true;
	}
	if (off >= h->size || off / HEAP_CHUNK_STRIDE >= h->max_chunks ||
	    off % HEAP_CHUNK_STRIDE < HEAP_CHUNK_SIZE ||
	    heap_chunk_of(h, ALIGN_DOWN(addr, HEAP_CHUNK_STRIDE)) < 0)
		return false;
	fmt_snprintf(buf, len, "heap chunk %#lx",
		     (unsigned long)ALIGN_DOWN(addr, HEAP_CHUNK_STRIDE));
	return true;
}

/* Unlink r from its hash chain and give its small block back. */
static void record_drop(struct heap *h, struct heap_large *r)
{
	struct heap_large **link = hash_bucket(h, r->slot);
	struct heap_block *b = heap_header(r);

	while (*link != r)
		link = &(*link)->hash_next;
	*link = r->hash_next;
	heap_poison(r, heap_block_size(b) - sizeof(*b));
	heap_small_free_locked(h, b);
	h->large_records--;
}

/*
 * Forget the freed slots above the highest live one in each class, so the
 * records of a class go away once none of its blocks is live. Lock held.
 */
void heap_large_trim(struct heap *h)
{
	for (unsigned cls = 1; cls < HEAP_LARGE_CLASSES; cls++) {
		uint64_t top = 0; /* one past the highest live slot */
		struct heap_large **link = &h->large_free[cls], *r;

		for (unsigned i = 0; i < HEAP_LARGE_BUCKETS; i++)
			for (r = h->large_hash[i]; r; r = r->hash_next)
				if (r->cls == cls && r->live)
					top = MAX(top, ((r->slot - region_base(h, cls)) >>
							(cls + PAGE_SHIFT)) +
							   1);
		h->large_free_tail[cls] = NULL;
		while ((r = *link)) {
			if (((r->slot - region_base(h, cls)) >> (cls + PAGE_SHIFT)) < top) {
				h->large_free_tail[cls] = r;
				link = &r->free_next;
				continue;
			}
			*link = r->free_next;
			record_drop(h, r);
		}
		h->large_next[cls] = top;
	}
}

/* heap_check()'s part: every record, the reuse queues and the counters. Lock held. */
int heap_large_check(struct heap *h, char *msg, size_t len)
{
	uint64_t records = 0, live = 0, bytes = 0, req = 0, queued = 0;

	for (unsigned i = 0; i < HEAP_LARGE_BUCKETS; i++) {
		for (struct heap_large *r = h->large_hash[i]; r; r = r->hash_next) {
			uint64_t off = r->slot - region_base(h, r->cls);

			if (++records > h->large_records || r->cls == 0 ||
			    r->cls >= HEAP_LARGE_CLASSES || off % (PAGE_SIZE << r->cls) ||
			    (off >> (r->cls + PAGE_SHIFT)) >= h->large_next[r->cls] ||
			    hash_bucket(h, r->slot) != &h->large_hash[i])
				return heap_check_fail(msg, len, "large record %#lx is damaged",
						       (unsigned long)r->slot);
			if (!r->live)
				continue;
			if (!r->pages || r->pages + 1 > 1ull << r->cls ||
			    ALIGN_UP(r->req, PAGE_SIZE) >> PAGE_SHIFT != r->pages ||
			    !canary_ok(h, r))
				return heap_check_fail(
				    msg, len, "large block %#lx (%lu bytes): size or canary wrong",
				    (unsigned long)r->slot, (unsigned long)r->req);
			live++;
			bytes += r->pages * PAGE_SIZE;
			req += r->req;
		}
	}
	for (unsigned c = 0; c < HEAP_LARGE_CLASSES; c++)
		for (struct heap_large *r = h->large_free[c]; r; r = r->free_next)
			if (++queued > records || r->live || r->cls != c)
				return heap_check_fail(msg, len, "large-slot queue %u is damaged",
						       c);
	if (records != h->large_records || live != h->large_live || bytes != h->large_bytes ||
	    req != h->large_req || queued != records - live)
		return heap_check_fail(msg, len, "large-block counters disagree with the records");
	return 0;
}
