/*
 * Address spaces (include/mm/aspace.h): creating, loading and destroying
 * them, PCIDs, the kernel half, and the TLB work of a change. Regions are
 * in mm/aspace_region.c, faults and clone in mm/aspace_fault.c.
 *
 * Kernel half: a user root gets a copy of the kernel root's 256 upper
 * top-level entries when it is created; vmm calls aspace_sync_kernel_half()
 * after every change to the kernel's tables, which compares those entries
 * with the last copy (2 KiB) and, only if one changed (a new or freed
 * third-level table: rare), copies them into every live root. The cost is
 * 2 KiB compared per kernel mapping change and nothing per space, instead
 * of 1 MiB of preallocated third-level tables. The copied entries are not
 * in the pgtable code's per-table counts (they are raw entries it never
 * wrote), so walks of a user root stop at the first upper-half leaf and
 * destroy clears them before it frees the lower tables.
 *
 * PCIDs: the kernel's space is PCID 0; user spaces take 1..4095 in turn,
 * tagged with a generation. When they run out, the generation goes up, the
 * whole TLB is flushed (every PCID) and numbering starts again; a space
 * whose generation is old gets a fresh PCID when next loaded, with a
 * flushing load. A change to a space that is not loaded marks it stale:
 * its next load flushes its PCID's entries instead of keeping them.
 * Without PCIDs every load is a plain CR3 write.
 */
#include <arch/mmu.h>
#include <arch/percpu.h>
#include <arch/smp.h>
#include <kernel/panic.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/addr.h>
#include <mm/aspace.h>
#include <mm/kmalloc.h>
#include <mm/layout.h>
#include <mm/pmm_boot.h>
#include <mm/slab.h>
#include <mm/vmm.h>
#include <mm/vmm_shootdown.h>
#include "aspace_internal.h"
#include "vmm_internal.h"

#define UPPER_FIRST 256 /* first top-level entry of the upper half */
#define ENTRIES	    512

struct owned_lock aspace_lock = OWNED_LOCK_INIT_NAMED("aspace_lock");
struct aspace_stats aspace_counters;

static void *share_alloc(size_t n)
{
	return kcalloc(n, sizeof(struct frame_share_entry));
}

struct frame_share aspace_share = {.alloc = share_alloc, .free = kfree};

static struct aspace kernel_space;
/* User spaces (over 3 KiB each: multi-page slabs); `ktest=slab` lists it. */
static struct kmem_cache aspace_cache = KMEM_CACHE_INIT("aspace", struct aspace);
static struct aspace *live; /* user spaces, under vmm_lock */
static uint64_t kernel_half[ENTRIES - UPPER_FIRST];
static uint64_t pcid_gen = 1;
unsigned int aspace_pcid_next = 1;

struct aspace *aspace_kernel(void)
{
	kernel_space.pt.root = vmm_kernel_pt.root; /* the root vmm_init loaded */
	return &kernel_space;
}

/* This CPU's loaded space; a thread's own space is the same wherever it runs. */
struct aspace *aspace_current(void)
{
	struct aspace *as = arch_percpu()->aspace;

	return as ? as : &kernel_space;
}

/* The CPUs that have as loaded now. => aspace_lock held (loads take it too). */
static uint64_t loaded_on(struct aspace *as)
{
	uint64_t online = arch_smp_online(), mask = 0;

	for (unsigned int cpu = 0; online; cpu++, online >>= 1)
		if ((online & 1) && arch_percpu_of(cpu)->aspace == as)
			mask |= 1ull << cpu;
	return mask;
}

/* ---- frames and tables ---- */

paddr_t aspace_frame_alloc(void)
{
	paddr_t pa = pmm_alloc(&pmm_kernel);

	if (pa != PADDR_INVALID)
		memset(phys_to_virt(pa), 0, PAGE_SIZE);
	return pa;
}

static paddr_t table_alloc(struct pgtable *pt)
{
	(void)pt;
	return aspace_frame_alloc();
}

static void table_free(struct pgtable *pt, paddr_t pa)
{
	struct aspace *as = pt->ctx;

	*(paddr_t *)phys_to_virt(pa) = as->tables_to_free;
	as->tables_to_free = pa;
}

void aspace_frame_put(struct aspace *as, paddr_t pa)
{
	if (frame_share_put(&aspace_share, pa))
		return;
	*(paddr_t *)phys_to_virt(pa) = as->frames_to_free;
	as->frames_to_free = pa;
}

static void free_chain(paddr_t *head)
{
	while (*head != PADDR_INVALID) {
		paddr_t next = *(paddr_t *)phys_to_virt(*head);
		pmm_free(&pmm_kernel, *head);
		*head = next;
	}
}

/* Flush what f records from this CPU's TLB, where as is loaded. */
static void flush_here(struct aspace *as, const struct pt_flush *f)
{
	if (f->all || f->count > VMM_FLUSH_THRESHOLD)
		arch_mmu_features()->pcid ? arch_tables_load_pcid(as->pt.root, as->pcid, false)
					  : arch_tables_load(as->pt.root);
	else
		for (unsigned int i = 0; i < f->count; i++)
			arch_tlb_flush_page(f->va[i]);
}

/*
 * The TLB work of a change: each CPU that has the space loaded flushes the
 * pages (or its whole PCID): this one directly, the others through one
 * shootdown for the whole change (mm/vmm_shootdown.c). Every other CPU is
 * marked stale for it, since with PCIDs its entries may outlive a switch
 * away (without PCIDs the next load flushes anyway): its next load
 * flushes. Loads take aspace_lock too, so "loaded" cannot change meanwhile.
 * Frames and tables go back only after all of that.
 */
void aspace_finish(struct aspace *as)
{
	struct pt_flush *f = &as->flush;
	uint64_t self = 1ull << arch_percpu()->cpu, loaded;

	KASSERT(aspace_lock_held_here());
	if (f->count || f->all) {
		loaded = loaded_on(as);
		as->stale_cpus = ~loaded;
		vmm_shootdown(loaded, as, f); /* never this CPU */
		if (loaded & self)
			flush_here(as, f);
	}
	f->count = 0;
	f->all = false;
	free_chain(&as->frames_to_free);
	free_chain(&as->tables_to_free);
}

/* ---- walks ---- */

struct lower_walk {
	int (*fn)(const struct pt_leaf *leaf, void *arg);
	void *arg;
	bool upper; /* reached the kernel half */
};

static int lower_leaf(const struct pt_leaf *leaf, void *arg)
{
	struct lower_walk *w = arg;

	if (leaf->va >= LAYOUT_LOWER_HALF_END) {
		w->upper = true;
		return 1;
	}
	return w->fn(leaf, w->arg);
}

int aspace_walk_lower(struct aspace *as, int (*fn)(const struct pt_leaf *leaf, void *arg),
		      void *arg)
{
	struct lower_walk w = {fn, arg, false};
	int r = pt_walk(&as->pt, lower_leaf, &w);

	return w.upper ? 0 : r;
}

int aspace_walk_user(int (*fn)(const struct pt_leaf *leaf, void *arg), void *arg)
{
	unsigned long irq = aspace_lock_take(), irq2 = vmm_lock_take();
	int r = 0;

	for (struct aspace *as = live; as && !r; as = as->next)
		r = aspace_walk_lower(as, fn, arg);
	vmm_lock_drop(irq2);
	aspace_lock_drop(irq);
	return r;
}

/* ---- the kernel half ---- */

static uint64_t *root_entries(paddr_t root)
{
	return phys_to_virt(root);
}

void aspace_sync_kernel_half(void)
{
	const uint64_t *k = root_entries(vmm_kernel_pt.root) + UPPER_FIRST;

	if (!memcmp(kernel_half, k, sizeof(kernel_half)))
		return;
	memcpy(kernel_half, k, sizeof(kernel_half));
	for (struct aspace *as = live; as; as = as->next)
		memcpy(root_entries(as->pt.root) + UPPER_FIRST, kernel_half, sizeof(kernel_half));
}

/* ---- create, destroy ---- */

int aspace_create(struct aspace **out)
{
	struct aspace *as = kmem_cache_zalloc(&aspace_cache);
	unsigned long irq;

	if (!as)
		return -ENOMEM;
	as->user = true;
	as->tables_to_free = as->frames_to_free = PADDR_INVALID;
	as->pt = (struct pgtable){
	    .root = aspace_frame_alloc(),
	    .table_base = addr_bases.direct_map,
	    .alloc_table = table_alloc,
	    .free_table = table_free,
	    .flush = &as->flush,
	    .phys_bits = arch_mmu_features()->phys_bits,
	    .ctx = as,
	};
	if (as->pt.root == PADDR_INVALID) {
		kmem_cache_free(&aspace_cache, as);
		return -ENOMEM;
	}
	irq = vmm_lock_take();
	memcpy(kernel_half, root_entries(vmm_kernel_pt.root) + UPPER_FIRST, sizeof(kernel_half));
	memcpy(root_entries(as->pt.root) + UPPER_FIRST, kernel_half, sizeof(kernel_half));
	as->next = live;
	live = as;
	aspace_counters.live++;
	vmm_lock_drop(irq);
	*out = as;
	return 0;
}

static int put_leaf(const struct pt_leaf *leaf, void *arg)
{
	KASSERT(leaf->size == PAGE_SIZE);
	aspace_frame_put(arg, leaf->pa);
	return 0;
}

static void free_table_now(paddr_t table, void *arg)
{
	(void)arg;
	pmm_free(&pmm_kernel, table);
}

void aspace_destroy(struct aspace *as)
{
	unsigned long irq;

	KASSERT(as && as->user);
	if (as == aspace_current())
		aspace_activate(NULL);
	irq = vmm_lock_take();
	for (struct aspace **p = &live; *p; p = &(*p)->next)
		if (*p == as) {
			*p = as->next;
			break;
		}
	aspace_counters.live--;
	memset(root_entries(as->pt.root) + UPPER_FIRST, 0, sizeof(kernel_half));
	vmm_lock_drop(irq);

	irq = aspace_lock_take();
	/* Its threads have switched away everywhere (thread_join waits for that). */
	KASSERT(!loaded_on(as));
	aspace_walk_lower(as, put_leaf, as);
	/* Not loaded, and its PCID is never reused in this generation: no flush needed. */
	free_chain(&as->frames_to_free);
	pt_walk_tables(&as->pt, free_table_now, NULL); /* children first, root last */
	aspace_lock_drop(irq);
	kmem_cache_free(&aspace_cache, as);
}

/* ---- loading ---- */

/* A PCID for as in the current generation; a new generation flushes every PCID. */
static bool pcid_assign(struct aspace *as)
{
	if (as->pcid_gen == pcid_gen)
		return false;
	if (aspace_pcid_next > ARCH_MMU_TAG_MAX) {
		pcid_gen++; /* every CPU flushes all at its next user load (aspace_activate) */
		aspace_pcid_next = 1;
		aspace_counters.pcid_rollovers++;
	}
	as->pcid = aspace_pcid_next++;
	as->pcid_gen = pcid_gen;
	return true;
}

void aspace_activate(struct aspace *as)
{
	unsigned long irq = aspace_lock_take();
	struct percpu *pc = arch_percpu();
	uint64_t bit = 1ull << pc->cpu;
	bool flush;

	if (!as)
		as = aspace_kernel();
	if (!arch_mmu_features()->pcid) {
		arch_tables_load(as->pt.root);
	} else if (!as->user) {
		/* PCID 0 holds only global kernel entries: nothing to drop. */
		arch_tables_load_pcid(as->pt.root, 0, true);
	} else {
		flush = pcid_assign(as) || (as->stale_cpus & bit);
		as->stale_cpus &= ~bit;
		if (pc->pcid_gen != pcid_gen) { /* PCIDs were handed out again since */
			arch_tlb_flush_all();
			pc->pcid_gen = pcid_gen;
		}
		aspace_counters.pcid_flush_load += flush;
		arch_tables_load_pcid(as->pt.root, as->pcid, !flush);
	}
	pc->aspace = as == &kernel_space ? NULL : as;
	aspace_lock_drop(irq);
}

void aspace_stats(struct aspace_stats *s)
{
	unsigned long irq = aspace_lock_take();

	*s = aspace_counters;
	s->shared_frames = aspace_share.used;
	s->share_bytes = frame_share_bytes(&aspace_share);
	aspace_lock_drop(irq);
}
