/*
 * In-kernel tests of the guarded kernel stacks (ktest=kstack), on the real
 * MMU: the guards fault and are named, many stacks are distinct and spread
 * over the window, a cached stack comes back zeroed, and every frame and
 * page table comes back. The timing test prints emulated TSC cycles (QEMU
 * TCG: ratios only, not hardware times).
 */
#include <arch/arch.h>
#include <kernel/boot.h>
#include <kernel/console.h>
#include <kernel/fault.h>
#include <kernel/ktest.h>
#include <kernel/thread.h>
#include <lib/string.h>
#include <mm/kstack.h>
#include <mm/layout.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>

#define MANY	    64
#define ROUNDS	    100
#define TAG	    0x6b737461636b0000ull /* "kstack" and an index */
#define TIME_ROUNDS 64

static struct kstack many[MANY];

static uint64_t tables(void)
{
	struct vmm_stats s;

	vmm_stats(&s);
	return s.tables;
}

/* True if [bottom - guard, top + guard) lies in the stack window. */
static bool in_window(const struct kstack *ks)
{
	return LAYOUT_IN_WINDOW(ks->bottom - KSTACK_GUARD, KSTACK_SPAN, boot_info->stack_base,
				LAYOUT_STACK_EXTENT);
}

/* True if a probe at va faults as a guard-page access at va. */
static bool guard_faults(vaddr_t va)
{
	struct fault_info f;
	uint64_t v;

	return probe_read(va, &v, &f) && f.kind == FAULT_GUARD && f.addr == va &&
	       probe_write(va, 1, &f) && f.kind == FAULT_GUARD && f.addr == va;
}

KTEST(kstack, kstack_alloc_guards_fault_and_are_named)
{
	struct kstack ks, found;
	struct pt_leaf leaf;
	struct fault_info f;
	uint64_t v = 1;

	KEXPECT_EQ(t, kstack_alloc(&ks, "ktest"), 0);
	KEXPECT_EQ(t, ks.top - ks.bottom, KSTACK_SIZE);
	KEXPECT(t, in_window(&ks) && IS_ALIGNED(ks.bottom | ks.top, PAGE_SIZE));
	KEXPECT(t, !probe_read(ks.bottom, &v, &f) && v == 0);
	KEXPECT(t, !probe_write(ks.top - 8, 7, &f));
	KEXPECT(t,
		vmm_query(ks.bottom, &leaf) && (leaf.flags & PT_WRITE) && !(leaf.flags & PT_EXEC));
	KEXPECT(t, guard_faults(ks.bottom - 1));
	KEXPECT(t, guard_faults(ks.bottom - KSTACK_GUARD));
	KEXPECT(t, guard_faults(ks.top));
	KEXPECT(t, guard_faults(ks.top + KSTACK_GUARD - 8));
	KEXPECT_EQ(t, kstack_find(ks.bottom - 1, &found), KSTACK_GUARD_BELOW);
	KEXPECT(t, found.bottom == ks.bottom && found.top == ks.top);
	KEXPECT(t, strcmp(found.owner, "ktest") == 0);
	KEXPECT_EQ(t, kstack_find(ks.top, NULL), KSTACK_GUARD_ABOVE);
	KEXPECT_EQ(t, kstack_find(ks.top - 1, NULL), KSTACK_INSIDE);
	kstack_free(&ks);
}

/*
 * The boot stack was left for kmain's guarded stack, and each ktest case
 * runs on a thread of its own: this one's stack is guarded and named
 * after it.
 */
KTEST(kstack, kstack_kmain_runs_on_a_guarded_stack)
{
	volatile uint64_t local = 0;
	struct kstack ks;

	KEXPECT_EQ(t, kstack_find((vaddr_t)&local, &ks), KSTACK_INSIDE);
	KEXPECT(t, strcmp(ks.owner, thread_current()->name) == 0);
	KEXPECT_EQ(t, ks.bottom, thread_current()->stack.bottom);
	KEXPECT(t, in_window(&ks));
}

/* The number of distinct 1 GiB regions the stacks in many[] start in. */
static unsigned int gib_regions(void)
{
	unsigned int n = 0;

	for (int i = 0; i < MANY; i++) {
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen |= many[i].bottom / GiB == many[j].bottom / GiB;
		n += !seen;
	}
	return n;
}

KTEST(kstack, kstack_alloc_many_are_distinct_and_spread)
{
	unsigned int regions;
	int i, j;

	for (i = 0; i < MANY; i++)
		KEXPECT_EQ(t, kstack_alloc(&many[i], "ktest many"), 0);
	for (i = 0; i < MANY; i++) {
		*(volatile uint64_t *)many[i].bottom = TAG | i;
		*(volatile uint64_t *)(many[i].top - 8) = ~(TAG | i);
	}
	for (i = 0; i < MANY; i++) {
		KEXPECT(t, in_window(&many[i]));
		KEXPECT_EQ(t, *(volatile uint64_t *)many[i].bottom, TAG | i);
		KEXPECT_EQ(t, *(volatile uint64_t *)(many[i].top - 8), ~(TAG | i));
		for (j = 0; j < i; j++) /* slots, guards included, are disjoint */
			KEXPECT(t, many[i].bottom - KSTACK_GUARD >= many[j].top + KSTACK_GUARD ||
				       many[j].bottom - KSTACK_GUARD >= many[i].top + KSTACK_GUARD);
	}
	regions = gib_regions();
	kprintf("# kstack: %d stacks in %u distinct 1 GiB regions of the 1 TiB window\n", MANY,
		regions);
	/* 64 uniform draws over 1024 GiB: about 62 distinct regions expected. */
	KEXPECT(t, regions >= MANY / 2);
	for (i = 0; i < MANY; i++)
		kstack_free(&many[i]);
}

KTEST(kstack, kstack_cache_returns_a_scrubbed_stack)
{
	struct kstack_stats s;
	struct kstack ks;
	vaddr_t first;

	kstack_cache_drain();
	KEXPECT_EQ(t, kstack_alloc(&ks, "ktest dirty"), 0);
	first = ks.bottom;
	memset((void *)ks.bottom, 0xa5, KSTACK_SIZE);
	kstack_free(&ks);
	kstack_stats(&s);
	KEXPECT_EQ(t, s.cached, 1);
	KEXPECT_EQ(t, kstack_alloc(&ks, "ktest clean"), 0);
	KEXPECT_EQ(t, ks.bottom, first); /* the cached one, not a fresh slot */
	for (vaddr_t va = ks.bottom; va < ks.top; va += 8)
		KEXPECT_EQ(t, *(const uint64_t *)va, 0);
	kstack_free(&ks);
	KEXPECT_EQ(t, kstack_cache_drain(), 1);
}

KTEST(kstack, kstack_free_returns_every_frame_after_drain)
{
	uint64_t frames, tabs;
	struct kstack_stats before, after;

	kstack_cache_drain();
	frames = pmm_kernel_free_frames();
	tabs = tables();
	kstack_stats(&before);
	for (int r = 0; r < ROUNDS / 10; r++) {
		for (int i = 0; i < MANY; i++)
			KEXPECT_EQ(t, kstack_alloc(&many[i], "ktest churn"), 0);
		for (int i = MANY - 1; i >= 0; i -= 2) /* every other one, then the rest */
			kstack_free(&many[i]);
		for (int i = MANY - 2; i >= 0; i -= 2)
			kstack_free(&many[i]);
	}
	kstack_stats(&after);
	KEXPECT_EQ(t, after.cached, KSTACK_CACHE);
	KEXPECT_EQ(t, kstack_cache_drain(), KSTACK_CACHE);
	kstack_stats(&after);
	KEXPECT_EQ(t, after.live, before.live);
	KEXPECT_EQ(t, after.cached, 0);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), frames);
	KEXPECT_EQ(t, tables(), tabs);
}

/* Median emulated TSC cycles of alloc+free, with drain after each if uncached. */
static uint64_t time_alloc_free(bool uncached)
{
	uint64_t samples[TIME_ROUNDS];
	struct kstack ks;

	for (int r = 0; r < TIME_ROUNDS; r++) {
		uint64_t t0 = arch_timestamp();
		if (kstack_alloc(&ks, "ktest timing"))
			return 0;
		kstack_free(&ks);
		if (uncached)
			kstack_cache_drain();
		samples[r] = arch_timestamp() - t0;
	}
	return ktest_median(samples, TIME_ROUNDS);
}

KTEST(kstack, kstack_alloc_free_timings)
{
	uint64_t frames, cached, uncached;

	kstack_cache_drain();
	frames = pmm_kernel_free_frames();
	uncached = time_alloc_free(true);
	cached = time_alloc_free(false);
	KEXPECT(t, cached && uncached);
	KEXPECT_EQ(t, kstack_cache_drain(), 1);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), frames);
	kprintf("# kstack: emulated TSC cycles (QEMU TCG, not hardware), median of %d: "
		"alloc+free from the cache %llu, uncached (map 16 pages, unmap) %llu\n",
		TIME_ROUNDS, (unsigned long long)cached, (unsigned long long)uncached);
}
