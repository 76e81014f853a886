/*
 * The kernel's own frame allocator instance, built from boot_info's memory
 * map. Generic code allocates frames with pmm_alloc(&pmm_kernel), ...
 */
#pragma once

#include <boot/boot_info.h>
#include <mm/pmm.h>

/* Every RAM frame of the machine; valid after pmm_boot_init(). */
extern struct pmm pmm_kernel;

/*
 * Build pmm_kernel from the memory map: carve its metadata from the top of
 * usable RAM, then free usable RAM and the loader's and boot-services
 * memory (the lower half must already be dropped: nothing uses it now).
 * Prints the statistics. Panics if the map leaves no room for metadata.
 */
void pmm_boot_init(const struct boot_info *bi);

/* Free frames in pmm_kernel now (tests compare counts before and after). */
uint64_t pmm_kernel_free_frames(void);

/* Attach the calling CPU's frame cache (the boot CPU's at boot); each other CPU calls it once. */
void pmm_boot_cpu_init(void);

/* Physical range of the allocator's metadata (reserved, in usable RAM). */
void pmm_boot_metadata(paddr_t *base, uint64_t *length);

/* Refused frees reported so far (each also logged as an error). */
extern uint64_t pmm_boot_reports;
