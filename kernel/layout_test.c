/*
 * Tests of the layout the loader chose (include/mm/layout.h): every region
 * inside its window and aligned, and randomised unless `nokaslr`.
 */
#include <kernel/boot.h>
#include <kernel/ktest.h>
#include <mm/layout.h>

struct region {
	const char *name;
	uint64_t base, start, size, extent, align, fixed;
};

static void regions(struct region r[5])
{
	const struct boot_info *bi = boot_info;

	r[0] = (struct region){"direct map",
			       bi->direct_map_base,
			       LAYOUT_DIRECT_MAP_START,
			       LAYOUT_DIRECT_MAP_SIZE,
			       0,
			       LAYOUT_DIRECT_MAP_ALIGN,
			       LAYOUT_DIRECT_MAP_FIXED_BASE};
	r[1] = (struct region){"kernel",
			       bi->kernel_virt_base,
			       LAYOUT_KERNEL_START,
			       LAYOUT_KERNEL_SIZE,
			       bi->kernel_size,
			       PAGE_SIZE,
			       LAYOUT_KERNEL_FIXED_BASE};
	r[2] = (struct region){"heap",
			       bi->heap_base,
			       LAYOUT_HEAP_START,
			       LAYOUT_HEAP_SIZE,
			       LAYOUT_HEAP_EXTENT,
			       LAYOUT_HEAP_ALIGN,
			       LAYOUT_HEAP_FIXED_BASE};
	r[3] = (struct region){"stacks",
			       bi->stack_base,
			       LAYOUT_STACK_START,
			       LAYOUT_STACK_SIZE,
			       LAYOUT_STACK_EXTENT,
			       PAGE_SIZE,
			       LAYOUT_STACK_FIXED_BASE};
	r[4] = (struct region){"mmio",
			       bi->mmio_base,
			       LAYOUT_MMIO_START,
			       LAYOUT_MMIO_SIZE,
			       LAYOUT_MMIO_EXTENT,
			       PAGE_SIZE,
			       LAYOUT_MMIO_FIXED_BASE};
}

KTEST(layout, layout_bases_inside_windows_and_aligned)
{
	struct region r[5];

	regions(r);
	for (int i = 0; i < 5; i++) {
		if (!LAYOUT_IN_WINDOW(r[i].base, r[i].extent, r[i].start, r[i].size) ||
		    !IS_ALIGNED(r[i].base, r[i].align)) {
			ktest_fail(t, __FILE__, __LINE__,
				   "%s base %#llx outside its window or unaligned", r[i].name,
				   (unsigned long long)r[i].base);
			return;
		}
	}
}

KTEST(layout, layout_bases_random_unless_nokaslr)
{
	bool kaslr = boot_info->flags & BOOT_FLAG_KASLR;
	struct region r[5];

	regions(r);
	for (int i = 0; i < 5; i++) {
		if ((r[i].base != r[i].fixed) != kaslr) {
			ktest_fail(t, __FILE__, __LINE__,
				   "%s base %#llx %s the nokaslr base with KASLR %s", r[i].name,
				   (unsigned long long)r[i].base, kaslr ? "equals" : "differs from",
				   kaslr ? "on" : "off");
			return;
		}
	}
}

KTEST(layout, layout_direct_map_covers_ram)
{
	const struct boot_info *bi = boot_info;
	const struct memmap_entry *map = boot_info_memmap(bi);

	for (uint32_t i = 0; i < bi->memmap_count; i++)
		if (memmap_type_is_ram(map[i].type))
			KEXPECT(t, map[i].base + map[i].length <=
				       LAYOUT_DIRECT_MAP_SIZE -
					   (bi->direct_map_base - LAYOUT_DIRECT_MAP_START));
}
