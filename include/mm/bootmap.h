/*
 * The kernel's first address space, as a plan and one function that maps
 * it. Portable C: the loader runs it on real memory, host tests run it on a
 * simulated one and walk the result, so the W^X proof covers the very code
 * that builds the boot tables.
 */
#pragma once

#include <mm/pgtable.h>
#include <lib/elf.h>
#include <mm/memmap.h>

struct bootmap_plan {
	const struct elf_image *kernel; /* checked by elf_parse */
	paddr_t kernel_phys;		/* where link_base was loaded */
	vaddr_t kernel_virt;		/* where link_base runs */
	const struct memmap_entry *map; /* normalised; its RAM is direct-mapped */
	size_t map_count;
	vaddr_t direct_map_base;
	bool huge_1g;	      /* the CPU has 1 GiB pages */
	paddr_t stack_phys;   /* boot stack: stack_size bytes ... */
	vaddr_t stack_bottom; /* ... mapped here; the page below stays unmapped */
	uint64_t stack_size;
	paddr_t fb_phys; /* framebuffer, fb_size bytes (0: none) ... */
	uint64_t fb_size;
	vaddr_t fb_virt;    /* ... mapped here (same offset within a page) */
	paddr_t trampoline; /* identity-mapped R-X hand-off page, or PADDR_INVALID */
};

/* Called for each range mapped, for the loader's debug log; may be NULL. */
typedef void (*bootmap_log_fn)(const char *what, vaddr_t va, paddr_t pa, uint64_t size);

/*
 * Map everything in p into pt:
 *   kernel segments with their own permissions (text R-X, rodata R--,
 *   data RW-, RELRO pages R-- since relocation is done), global;
 *   every RAM range of the map at direct_map_base + pa, RW- NX, global,
 *   2 MiB / 1 GiB pages where aligned; the boot stack RW- NX with its guard
 *   page unmapped; the framebuffer RW- NX uncached; the trampoline R-X.
 * Nothing is ever writable and executable (pt_map refuses it).
 * Returns 0 or pt_map's error, with *what naming the mapping that failed.
 */
int bootmap_build(struct pgtable *pt, const struct bootmap_plan *p, bootmap_log_fn log,
		  const char **what);
