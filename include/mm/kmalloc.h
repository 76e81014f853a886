/*
 * The kernel heap (mm/kmalloc.c): one instance of the heap allocator
 * (include/mm/heap.h) over the heap window that the loader placed at
 * boot_info->heap_base, LAYOUT_HEAP_EXTENT bytes long. Its memory is frames
 * from pmm_kernel mapped read-write, no-execute by the vmm.
 *
 * Every function may be called with interrupts on or off. Bad frees, double
 * frees and overwritten headers or canaries panic with "heap: <what>".
 */
#pragma once

#include <boot/boot_info.h>
#include <lib/types.h>
#include <mm/heap.h>

/*
 * Set the heap up over its window (nothing is mapped until the first
 * allocation). The cmdline option heapdebug fills new blocks and verifies
 * the whole heap every HEAP_KERNEL_VERIFY_EVERY (64) calls.
 */
void kmalloc_init(const struct boot_info *bi);

/* size bytes, 16-byte aligned; NULL if there is no memory. kmalloc(0) is a unique pointer. */
/*
 * Attach the calling CPU's front cache of the kernel heap (the boot CPU's
 * at kmalloc_init). Every other CPU calls it before it allocates: a CPU
 * without one would share the heap's fallback cache, which only
 * interrupts-off protects.
 */
void kmalloc_cpu_init(void);

void *kmalloc(size_t size);
/*
 * size bytes aligned to align: a power of two up to 4096 (below 16 means
 * 16); NULL for another alignment or if there is no memory.
 */
void *kmalloc_aligned(size_t size, size_t align);
/* n * size zeroed bytes; NULL if the product overflows or there is no memory. */
void *kcalloc(size_t n, size_t size);
/* Resize as heap_realloc(): in place when it can; NULL leaves p as it was. */
void *krealloc(void *p, size_t size);
/* Free p; NULL does nothing. */
void kfree(void *p);
/* The bytes requested for p (0 for NULL); checks p as kfree() does. */
size_t ksize(const void *p);

/*
 * Put the blocks of hc, this CPU's heap front cache, back in the kernel
 * heap's lists (heap_cache_give_back(): no unmap, only the heap's lock).
 * For the reclaim interrupt (mm/remote_reclaim.c). => interrupts off
 */
void kmalloc_give_back(struct heap_cache *hc);
/* Give every free chunk and cached block back (heap_trim()), and shrink the object caches. */
void kmalloc_trim(void);
/* heap_check() on the kernel heap: 0, or -EIO with msg filled. */
int kmalloc_check(char *msg, size_t len);
void kmalloc_stats(struct heap_stats *s);
/*
 * For the page-fault handler: if addr is a guard page of the heap (past a
 * live large block, or beside a chunk), name it in buf, e.g. "heap block
 * 0x... (5000 bytes)". Takes no lock: it may run while the heap's is held.
 */
bool kmalloc_guard_name(vaddr_t addr, char *buf, size_t len);

/* The kernel's heap instance, for tests that set debug flags. */
struct heap *kmalloc_heap(void);
