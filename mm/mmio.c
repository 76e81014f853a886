/*
 * The MMIO window's allocator: a bump pointer over the window the loader
 * placed at boot_info->mmio_base. The framebuffer (mapped by the loader at
 * the window's base) and the vmm tests' scratch page (2 MiB-aligned base +
 * 1 GiB) sit below MMIO_DEVICES_OFFSET; device mappings go above it, each
 * followed by an unmapped page so an overrun of one device's registers
 * faults instead of reaching the next device.
 */
#include <kernel/boot.h>
#include <lib/spinlock.h>
#include <mm/layout.h>
#include <mm/mmio.h>
#include <mm/vmm.h>

/* Devices start 2 GiB into the window: past a framebuffer of up to 1 GiB and vmm_test's page. */
#define MMIO_DEVICES_OFFSET (2ull << 30)

static struct spinlock mmio_lock = SPINLOCK_INIT_NAMED("mmio_lock");
static vaddr_t mmio_next; /* next free address; 0 until the first call */

void *mmio_map(paddr_t pa, uint64_t size, uint32_t flags)
{
	paddr_t start = ALIGN_DOWN(pa, PAGE_SIZE);
	uint64_t len = ALIGN_UP(pa + size, PAGE_SIZE) - start;
	vaddr_t end = boot_info->mmio_base + LAYOUT_MMIO_EXTENT;
	void *result = NULL;

	if (!size || (flags & (VMM_EXEC | VMM_USER)) || pa + size < pa)
		return NULL;
	unsigned long irq = spin_lock_irqsave(&mmio_lock);
	if (!mmio_next)
		mmio_next = ALIGN_UP(boot_info->mmio_base, PAGE_SIZE_2M) + MMIO_DEVICES_OFFSET;
	if (len < end - mmio_next && vmm_map(mmio_next, start, len, flags | VMM_WRITE) == 0) {
		result = (void *)(mmio_next + (pa - start));
		mmio_next += len + PAGE_SIZE; /* the guard page */
	}
	spin_unlock_irqrestore(&mmio_lock, irq);
	return result;
}
