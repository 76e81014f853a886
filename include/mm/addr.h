/*
 * Conversions between physical addresses and kernel pointers. Two kinds of
 * kernel pointer reach physical memory: the direct map (all RAM, at
 * direct_map_base) and the kernel image (at its own virtual base). They
 * have separate conversions so a mix-up is visible in the source.
 */
#pragma once

#include <boot/boot_info.h>
#include <lib/types.h>

struct addr_bases {
	uint64_t direct_map;  /* virtual address of physical 0 */
	uint64_t kernel_virt; /* kernel image: virtual base ... */
	uint64_t kernel_phys; /* ... and the physical address it maps */
	uint64_t kernel_size;
};
extern struct addr_bases addr_bases;

/* Record the bases the loader chose; call before any conversion. */
void addr_init(const struct boot_info *bi);

/* A direct-map pointer to physical address pa. */
static inline void *phys_to_virt(paddr_t pa)
{
	return (void *)(addr_bases.direct_map + pa);
}

/* The physical address behind a direct-map pointer. */
static inline paddr_t virt_to_phys(const void *p)
{
	return (uint64_t)p - addr_bases.direct_map;
}

/* The physical address behind a pointer into the kernel image. */
static inline paddr_t kernel_virt_to_phys(const void *p)
{
	return (uint64_t)p - addr_bases.kernel_virt + addr_bases.kernel_phys;
}
