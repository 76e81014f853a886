/*
 * In-kernel tests of the object caches (mm/slab.c) on real frames, and the
 * slabinfo listing: `ktest=slab` prints one line per cache (objects,
 * slabs, memory), as Linux's /proc/slabinfo does.
 */
#include <kernel/console.h>
#include <kernel/ktest.h>
#include <lib/errno.h>
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

static void print_cache(struct kmem_cache *c, void *ctx)
{
	struct kmem_cache_info i;

	kmem_cache_info(c, &i);
	kinfo("slabinfo: %-12s %4u B (%4u stride) %6llu active %4llu cached %6llu total, %4llu "
	      "slabs of %3u, %llu KiB",
	      i.name, i.size, i.stride, (unsigned long long)i.active, (unsigned long long)i.cached,
	      (unsigned long long)i.total, (unsigned long long)i.slabs, i.per_slab,
	      (unsigned long long)(i.bytes / 1024));
	(*(unsigned *)ctx)++;
}

/* The listing: every cache the kernel has set up, threads' among them. */
KTEST(slab, slabinfo_lists_every_cache)
{
	static struct kmem_cache c;
	unsigned listed = 0;

	KEXPECT_EQ(t, kmem_cache_create(&c, "ktest-64", 64, 64), 0);
	void *p = kmem_cache_alloc(&c);
	KEXPECT(t, p != NULL);
	kmem_cache_each(print_cache, &listed);
	KEXPECT(t, listed >= 2); /* this one and the threads' */
	kmem_cache_free(&c, p);
	KEXPECT_EQ(t, kmem_cache_destroy(&c), 0);
}
