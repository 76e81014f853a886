/*
 * Device registers in the MMIO window (mm/mmio.c): mmio_map() gives each
 * device range its own pages at the next free address of the window, with
 * an unmapped guard page after it. Mappings are never taken back (devices
 * stay for the kernel's lifetime). Generic: the caller names the caching.
 */
#pragma once

#include <lib/types.h>

/*
 * Map the physical range [pa, pa + size) read-write, no-execute, with
 * flags added (VMM_UC for registers, VMM_WC for frame buffers).
 * => size > 0; flags without VMM_EXEC or VMM_USER
 * Returns the virtual address of pa (same offset in its page), or NULL if
 * the window is full or the mapping failed.
 */
void *mmio_map(paddr_t pa, uint64_t size, uint32_t flags);
