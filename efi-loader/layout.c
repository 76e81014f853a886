/*
 * Choosing where everything goes. With KASLR each region's base is a fresh,
 * uniform draw over every aligned slot of its window (include/mm/layout.h);
 * `nokaslr` gives the fixed, documented bases. docs/layout.md has the
 * arithmetic of how many bits each region gets.
 */
#include "loader.h"

#include <mm/kaslr.h>
#include <mm/layout.h>

/* Kernel below 1 MiB would collide with legacy uses of low memory. */
#define KERNEL_PHYS_MIN (1ull << 20)
#define PHYS_TRIES	8

static void log_choice(const char *what, uint64_t base, uint64_t slots)
{
	unsigned int bits = kaslr_bits_x10(slots);

	loader_debugf("kaslr: %s at %#lx (%lu slots, %u.%u bits)", what, (unsigned long)base,
		      (unsigned long)slots, bits / 10, bits % 10);
}

/* A fresh uniform base for r, or fixed if KASLR is off. */
static uint64_t place(const char *what, struct kaslr_region r, uint64_t fixed, bool kaslr)
{
	uint64_t slots = kaslr_slots(&r);

	if (!kaslr)
		return fixed;
	if (slots == 0) {
		loader_warn("kaslr: %s does not fit its window: fixed base", what);
		return fixed;
	}
	uint64_t base = kaslr_base(&r, entropy_below(slots));
	log_choice(what, base, slots);
	/* layout.h asserts the rest: only a direct map of RAM above 32 TiB gets here. */
	if (slots < 1ull << LAYOUT_KASLR_MIN_BITS)
		loader_warn("kaslr: %s has only %u.%u bits of entropy (fewer than %u)", what,
			    kaslr_bits_x10(slots) / 10, kaslr_bits_x10(slots) % 10,
			    LAYOUT_KASLR_MIN_BITS);
	return base;
}

/*
 * Fill the region bases of bi. The direct map must cover RAM up to ram_top;
 * the kernel image needs kernel_span bytes.
 */
EFI_STATUS layout_choose(struct boot_info *bi, uint64_t kernel_span, uint64_t ram_top, bool kaslr)
{
	if (ram_top > LAYOUT_DIRECT_MAP_SIZE) {
		loader_error("RAM above %lu TiB cannot be direct-mapped",
			     (unsigned long)(LAYOUT_DIRECT_MAP_SIZE >> 40));
		return EFI_UNSUPPORTED;
	}
	/* 2 MiB steps keep 2 MiB pages usable for the direct map. */
	bi->direct_map_base =
	    place("direct map",
		  (struct kaslr_region){LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE,
					ALIGN_UP(ram_top, LAYOUT_DIRECT_MAP_ALIGN),
					LAYOUT_DIRECT_MAP_ALIGN},
		  LAYOUT_DIRECT_MAP_FIXED_BASE, kaslr);
	bi->kernel_virt_base = place(
	    "kernel (virtual)",
	    (struct kaslr_region){LAYOUT_KERNEL_START, LAYOUT_KERNEL_SIZE, kernel_span, PAGE_SIZE},
	    LAYOUT_KERNEL_FIXED_BASE, kaslr);
	bi->heap_base = place("heap",
			      (struct kaslr_region){LAYOUT_HEAP_START, LAYOUT_HEAP_SIZE,
						    LAYOUT_HEAP_EXTENT, LAYOUT_HEAP_ALIGN},
			      LAYOUT_HEAP_FIXED_BASE, kaslr);
	bi->stack_base = place("stacks",
			       (struct kaslr_region){LAYOUT_STACK_START, LAYOUT_STACK_SIZE,
						     LAYOUT_STACK_EXTENT, PAGE_SIZE},
			       LAYOUT_STACK_FIXED_BASE, kaslr);
	bi->mmio_base = place("mmio",
			      (struct kaslr_region){LAYOUT_MMIO_START, LAYOUT_MMIO_SIZE,
						    LAYOUT_MMIO_EXTENT, PAGE_SIZE},
			      LAYOUT_MMIO_FIXED_BASE, kaslr);
	if (kaslr)
		bi->flags |= BOOT_FLAG_KASLR;
	return EFI_SUCCESS;
}

/* Try to allocate pages at exactly pa. */
static bool alloc_at(paddr_t pa, size_t pages)
{
	EFI_PHYSICAL_ADDRESS addr = pa;

	return !EFI_ERROR(loader_fw_pages(AllocateAddress, EfiLoaderData, pages, &addr));
}

/*
 * Physical pages for the kernel image: with KASLR a uniform draw over every
 * 4 KiB-aligned position in conventional memory (never boot-services
 * memory) where the image fits, from the map snapshot; the firmware may have
 * used a spot since, so a taken one is redrawn. Returns PADDR_INVALID if
 * memory is short.
 */
paddr_t layout_kernel_phys(const struct memmap_entry *map, size_t n, uint64_t span, bool kaslr)
{
	uint64_t slots = kaslr_phys_slots(map, n, span, KERNEL_PHYS_MIN);

	for (int i = 0; kaslr && slots && i < PHYS_TRIES; i++) {
		paddr_t pa = kaslr_phys_base(map, n, span, KERNEL_PHYS_MIN, entropy_below(slots));
		if (alloc_at(pa, span / PAGE_SIZE)) {
			log_choice("kernel (physical)", pa, slots);
			return loader_record_pages(pa, span / PAGE_SIZE, MEMMAP_KERNEL);
		}
	}
	if (kaslr)
		loader_warn("kaslr: no random physical spot for the kernel: using any free pages");
	return loader_alloc_pages(span / PAGE_SIZE, MEMMAP_KERNEL);
}
