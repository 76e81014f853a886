/*
 * The kernel's backend for the object caches (mm/slab.c): slab pages are
 * frames of pmm_kernel reached through the direct map, magazines are
 * indexed by the CPU number in the per-CPU area, secrets come from the
 * kernel RNG, and corruption panics.
 */
#include <arch/percpu.h>
#include <kernel/panic.h>
#include <kernel/random.h>
#include <mm/addr.h>
#include <mm/pmm_boot.h>
#include <mm/slab.h>

static void *slab_page_alloc(void)
{
	paddr_t pa = pmm_alloc(&pmm_kernel);

	return pa == PADDR_INVALID ? NULL : phys_to_virt(pa);
}

static void slab_page_free(void *page)
{
	pmm_free(&pmm_kernel, virt_to_phys(page));
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
