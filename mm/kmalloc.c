/*
 * The kernel heap (include/mm/kmalloc.h): the portable allocator of
 * mm/heap.c bound to the kernel's heap window, with frames from pmm_kernel
 * mapped by the vmm, and a panic for what its hardening checks find.
 */
#include <arch/irq.h>
#include <arch/percpu.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <lib/cmdline.h>
#include <lib/errno.h>
#include <mm/kmalloc.h>
#include <mm/slab.h>
#include <mm/layout.h>
#include <mm/pmm_boot.h>
#include <mm/remote_reclaim.h>
#include <mm/vmm.h>

static struct heap kernel_heap;

_Static_assert(LAYOUT_HEAP_ALIGN % HEAP_CHUNK_STRIDE == 0,
	       "every base the loader may draw for the heap must suit heap_init()");

/* With heapdebug, heap_check() runs after every this many heap calls. */
#define HEAP_KERNEL_VERIFY_EVERY 64

/* Pages unmapped per vmm_unmap() call: their frames wait in an array until the flush. */
#define UNMAP_BATCH 32

static void kheap_unmap(void *ctx, uintptr_t va, size_t size)
{
	paddr_t frames[UNMAP_BATCH];

	for (size_t done = 0; done < size;) {
		size_t n = MIN((size - done) / PAGE_SIZE, (size_t)UNMAP_BATCH);

		for (size_t i = 0; i < n; i++) {
			frames[i] = vmm_translate(va + done + i * PAGE_SIZE);
			KASSERT(frames[i] != PADDR_INVALID);
		}
		/* The frames are reused only after the TLB forgets them. */
		KASSERT(vmm_unmap(va + done, n * PAGE_SIZE) == 0);
		for (size_t i = 0; i < n; i++)
			KASSERT(pmm_free(&pmm_kernel, frames[i]) == 0);
		done += n * PAGE_SIZE;
	}
}

static int kheap_map(void *ctx, uintptr_t va, size_t size)
{
	for (size_t off = 0; off < size; off += PAGE_SIZE) {
		paddr_t pa = pmm_alloc(&pmm_kernel);

		if (pa != PADDR_INVALID && vmm_map(va + off, pa, PAGE_SIZE, VMM_WRITE) == 0)
			continue;
		if (pa != PADDR_INVALID)
			pmm_free(&pmm_kernel, pa);
		if (off)
			kheap_unmap(ctx, va, off);
		return -ENOMEM;
	}
	return 0;
}

static __noreturn void kheap_corrupt(void *ctx, const char *msg)
{
	panic("heap: %s", msg);
}

/* This CPU's front cache. => interrupts off, so the CPU cannot change under us */
static struct heap_cache *kheap_cache(void *ctx)
{
	return &arch_percpu()->heap_cache;
}

static const struct heap_ops kheap_ops = {
    .map = kheap_map,
    .unmap = kheap_unmap,
    .corrupt = kheap_corrupt,
    .cache = kheap_cache,
    .reclaim = remote_reclaim_heap, /* blocks other CPUs' front caches hold */
};

void kmalloc_init(const struct boot_info *bi)
{
	/* random_seed[0] is the heap's: its check words and canaries. */
	if (heap_init(&kernel_heap, bi->heap_base, LAYOUT_HEAP_EXTENT, &kheap_ops, NULL,
		      bi->random_seed[0]) != 0)
		panic("kmalloc_init: heap window %#llx is not usable",
		      (unsigned long long)bi->heap_base);
	/* The boot CPU's front cache; SMP attaches each other CPU's as it starts. */
	if (heap_cache_attach(&kernel_heap, &arch_percpu()->heap_cache))
		panic("kmalloc_init: cannot attach the boot CPU's heap cache");
	if (cmdline_has(bi->cmdline, "heapdebug")) {
		kernel_heap.debug = HEAP_DEBUG_FILL | HEAP_DEBUG_VERIFY;
		/* A whole-heap check is a scan of every free byte: every call would crawl. */
		kernel_heap.verify_every = HEAP_KERNEL_VERIFY_EVERY;
	}
	/* No base here: a default-level log must not undo KASLR ("layout:" has it at debug). */
	kinfo("heap: %llu TiB window: %llu KiB chunks for small blocks, pages of their own from "
	      "%llu KiB%s",
	      (unsigned long long)(LAYOUT_HEAP_EXTENT >> 40),
	      (unsigned long long)(HEAP_CHUNK_SIZE / KiB),
	      (unsigned long long)(HEAP_LARGE_MIN / KiB),
	      kernel_heap.debug ? ", debug checks on" : "");
}

/*
 * The front cache's hit path with this CPU's cache found here, not through
 * the ops' indirect call: interrupts stay off from finding the CPU's cache
 * to leaving it. A miss (or a request not for the cache) takes the heap's
 * ordinary path, with interrupts as the caller had them.
 */
void *kmalloc(size_t size)
{
	unsigned long irq = arch_irq_save();
	void *p = heap_cache_alloc(&kernel_heap, &arch_percpu()->heap_cache, size);

	arch_irq_restore(irq);
	return p ? p : heap_alloc(&kernel_heap, size, 0);
}

void *kmalloc_aligned(size_t size, size_t align)
{
	return heap_alloc(&kernel_heap, size, align);
}

void *kcalloc(size_t n, size_t size)
{
	return heap_calloc(&kernel_heap, n, size);
}

void *krealloc(void *p, size_t size)
{
	return heap_realloc(&kernel_heap, p, size);
}

/* As kmalloc(): the hit path inline, the rest through heap_free(). */
void kfree(void *p)
{
	unsigned long irq = arch_irq_save();
	bool cached = heap_cache_free(&kernel_heap, &arch_percpu()->heap_cache, p);

	arch_irq_restore(irq);
	if (!cached)
		heap_free(&kernel_heap, p);
}

size_t ksize(const void *p)
{
	return heap_size(&kernel_heap, p);
}

void kmalloc_trim(void)
{
	heap_trim(&kernel_heap);
	kmem_shrink_all(); /* object caches sit on the same frames */
}

void kmalloc_give_back(struct heap_cache *hc)
{
	heap_cache_give_back(&kernel_heap, hc);
}

void kmalloc_cpu_init(void)
{
	if (heap_cache_attach(&kernel_heap, &arch_percpu()->heap_cache))
		panic("kmalloc: cannot attach CPU %u's heap cache", arch_percpu()->cpu);
}

int kmalloc_check(char *msg, size_t len)
{
	return heap_check(&kernel_heap, msg, len);
}

void kmalloc_stats(struct heap_stats *s)
{
	heap_stats(&kernel_heap, s);
}

bool kmalloc_guard_name(vaddr_t addr, char *buf, size_t len)
{
	return kernel_heap.ops && heap_guard_name(&kernel_heap, addr, buf, len);
}

struct heap *kmalloc_heap(void)
{
	return &kernel_heap;
}
