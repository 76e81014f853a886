/*
 * In-kernel tests of the object caches (mm/slab.c) on real frames (one- and
 * multi-page slabs), frees on every CPU the scheduler runs, and the
 * slabinfo listing: `ktest=slab` prints one line per cache (objects,
 * slabs, memory), as Linux's /proc/slabinfo does.
 */
#include <arch/percpu.h>
#include <kernel/console.h>
#include <kernel/ktest.h>
#include <kernel/sched.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/aspace.h>
#include <mm/pmm_boot.h>
#include <mm/slab.h>

KTEST(slab, slab_alloc_free_returns_every_frame)
{
	static struct kmem_cache c;
	static void *objs[600];
	uint64_t before = pmm_kernel_free_frames();

	KEXPECT_EQ(t, kmem_cache_create(&c, "ktest-200", 200, 8), 0);
	for (unsigned i = 0; i < 600; i++) {
		objs[i] = kmem_cache_alloc(&c);
		KEXPECT(t, objs[i] != NULL);
		*(uint64_t *)objs[i] = i;
	}
	KEXPECT(t, pmm_kernel_free_frames() < before);
	for (unsigned i = 0; i < 600; i++)
		KEXPECT_EQ(t, *(uint64_t *)objs[i], i);
	KEXPECT(t, kmem_cache_check(&c));
	KEXPECT_EQ(t, kmem_cache_destroy(&c), -EBUSY);
	for (unsigned i = 0; i < 600; i++)
		kmem_cache_free(&c, objs[i]);
	KEXPECT(t, kmem_cache_check(&c));
	KEXPECT_EQ(t, kmem_cache_destroy(&c), 0);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before);
}

/* Objects over 1 KiB: slabs of several frames, aligned to their size, all given back. */
KTEST(slab, slab_multi_page_slabs_return_every_frame)
{
	static struct kmem_cache c;
	static char *objs[40];
	uint64_t before = pmm_kernel_free_frames();

	KEXPECT_EQ(t, kmem_cache_create(&c, "ktest-3000", 3000, 64), 0);
	KEXPECT_EQ(t, c.slab_size, 8 * PAGE_SIZE); /* 10 objects; 4 pages would hold 5 */
	KEXPECT_EQ(t, c.per_slab, 10);
	for (unsigned i = 0; i < 40; i++) {
		objs[i] = kmem_cache_alloc(&c);
		KEXPECT(t, objs[i] != NULL && (uintptr_t)objs[i] % 64 == 0);
		memset(objs[i], (int)i, 3000);
	}
	for (unsigned i = 0; i < 40; i++)
		KEXPECT(t, objs[i][0] == (char)i && objs[i][2999] == (char)i);
	KEXPECT(t, kmem_cache_check(&c));
	for (unsigned i = 0; i < 40; i++)
		kmem_cache_free(&c, objs[i]);
	KEXPECT(t, kmem_cache_check(&c));
	KEXPECT_EQ(t, kmem_cache_destroy(&c), 0);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before);
}

#define SPREAD 256 /* objects the CPUs free between them */

static struct kmem_cache spread_cache;
static void *spread[SPREAD];

/* On each CPU: free the objects whose index is this CPU's number modulo 64. */
static void free_share(void *unused)
{
	unsigned cpu = arch_percpu()->cpu;

	for (unsigned i = cpu; i < SPREAD; i += KMEM_MAX_CPUS)
		kmem_cache_free(&spread_cache, spread[i]);
}

/* Objects allocated here, freed on every CPU into its own magazine, all accounted for. */
KTEST(slab, slab_frees_on_every_cpu_come_back)
{
	struct kmem_cache_info info;
	unsigned freed = 0;

	KEXPECT_EQ(t, kmem_cache_create(&spread_cache, "ktest-spread", 128, 64), 0);
	for (unsigned i = 0; i < SPREAD; i++)
		KEXPECT(t, (spread[i] = kmem_cache_alloc(&spread_cache)) != NULL);
	sched_on_each_cpu(free_share, NULL);
	for (unsigned i = 0; i < SPREAD; i++) /* the shares of CPUs that did not run */
		if (!(sched_cpus() & (1ull << (i % KMEM_MAX_CPUS))))
			kmem_cache_free(&spread_cache, spread[i]);
		else
			freed++;
	KEXPECT(t, freed >= SPREAD / KMEM_MAX_CPUS);
	KEXPECT(t, kmem_cache_check(&spread_cache));
	kmem_cache_info(&spread_cache, &info);
	KEXPECT_EQ(t, info.active, 0);
	KEXPECT_EQ(t, kmem_cache_destroy(&spread_cache), 0);
}

struct listing {
	unsigned caches;
	bool thread, aspace;
	uint64_t aspace_active;
	uint32_t aspace_slab;
};

static void print_cache(struct kmem_cache *c, void *ctx)
{
	struct listing *l = ctx;
	struct kmem_cache_info i;

	kmem_cache_info(c, &i);
	kinfo("slabinfo: %-12s %4u B (%4u stride) %6llu active %4llu cached %6llu total, %4llu "
	      "slabs of %3u (%2u KiB), %llu KiB",
	      i.name, i.size, i.stride, (unsigned long long)i.active, (unsigned long long)i.cached,
	      (unsigned long long)i.total, (unsigned long long)i.slabs, i.per_slab,
	      i.slab_size / 1024, (unsigned long long)(i.bytes / 1024));
	l->caches++;
	l->thread |= !strcmp(i.name, "thread");
	if (!strcmp(i.name, "aspace")) {
		l->aspace = true;
		l->aspace_active = i.active;
		l->aspace_slab = i.slab_size;
	}
}

/* The listing: every cache the kernel has set up, threads' and address spaces' among them. */
KTEST(slab, slabinfo_lists_every_cache)
{
	static struct kmem_cache c;
	struct listing l = {0};
	struct aspace *as;

	KEXPECT_EQ(t, kmem_cache_create(&c, "ktest-64", 64, 64), 0);
	void *p = kmem_cache_alloc(&c);
	KEXPECT(t, p != NULL);
	KEXPECT_EQ(t, aspace_create(&as), 0); /* a user address space: from its cache */
	kmem_cache_each(print_cache, &l);
	aspace_destroy(as);
	KEXPECT(t, l.caches >= 3 && l.thread && l.aspace);
	KEXPECT(t, l.aspace_active >= 1 && l.aspace_slab > PAGE_SIZE);
	kmem_cache_free(&c, p);
	KEXPECT_EQ(t, kmem_cache_destroy(&c), 0);
}
