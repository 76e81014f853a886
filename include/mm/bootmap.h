/*
 * The kernel's first address space, as a plan, the one function that
 * derives the plan from boot_info, and the one that maps it. Portable C:
 * the loader maps it on real memory and the kernel maps it again into its
 * own tables, host tests run it on a simulated one and walk the result, so
 * the W^X proof covers the very code that builds the boot tables.
 */
#pragma once

#include <boot/boot_info.h>
#include <lib/elf.h>
#include <mm/memmap.h>
#include <mm/pgtable.h>

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

/*
 * The plan for the address space bi describes: the kernel image at
 * kernel_{phys,virt}_base, the direct map at direct_map_base, the boot
 * stack, the framebuffer if bi->fb.virt, and the trampoline page. The loader
 * calls it once bi holds all of these and maps the result; the kernel calls
 * it with the boot_info it was given to build the same tables again (less
 * the trampoline, which it has dropped by then).
 * => kernel: the ELF at kernel_file_phys, checked by elf_parse.
 * => map: the memory map whose RAM is direct-mapped: the loader's snapshot
 *    (boot_info's own map is only filled at exit from boot services), the
 *    kernel's boot_info_memmap(bi).
 * => huge_1g: the CPU has 1 GiB pages.
 */
void bootmap_plan_from(struct bootmap_plan *p, const struct boot_info *bi,
		       const struct elf_image *kernel, const struct memmap_entry *map,
		       size_t map_count, bool huge_1g);

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
