/*
 * The kernel's backend for the object caches (mm/slab.c): slabs are runs
 * of frames of pmm_kernel (aligned to their size) reached through the
 * direct map, magazines are
 * indexed by the CPU number in the per-CPU area, secrets come from the
 * kernel RNG, and corruption panics.
 */
#include <arch/percpu.h>
#include <kernel/panic.h>
#include <kernel/random.h>
#include <mm/addr.h>
#include <mm/pmm_boot.h>
#include <mm/slab.h>

/* One frame through this CPU's frame cache, or an aligned run for a larger slab. */
static void *slab_page_alloc(size_t size)
{
	uint64_t n = size >> PAGE_SHIFT;
	paddr_t pa = n == 1 ? pmm_alloc(&pmm_kernel) : pmm_alloc_run(&pmm_kernel, n, size);

	return pa == PADDR_INVALID ? NULL : phys_to_virt(pa);
}

static void slab_page_free(void *page, size_t size)
{
	uint64_t n = size >> PAGE_SHIFT;
	int err = n == 1 ? pmm_free(&pmm_kernel, virt_to_phys(page))
			 : pmm_free_run(&pmm_kernel, virt_to_phys(page), n);

	if (err)
		panic("slab: the frame allocator refused a slab back (%d)", err);
}

static unsigned slab_cpu(void)
{
	return arch_percpu()->cpu;
}

static __noreturn void slab_corrupt(const char *msg)
{
	panic("%s", msg);
}

static const struct kmem_backend kernel_backend = {
    .page_alloc = slab_page_alloc,
    .page_free = slab_page_free,
    .cpu = slab_cpu,
    .secret = random_u64,
    .corrupt = slab_corrupt,
};

const struct kmem_backend *kmem_backend = &kernel_backend;
