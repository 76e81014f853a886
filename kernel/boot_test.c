/*
 * Tests of the hand-off: boot_info is sane, and the kernel really runs in
 * the higher half with the loader's relocations applied.
 */
#include <kernel/boot.h>
#include <kernel/ktest.h>
#include <kernel/thread.h>
#include <lib/string.h>
#include <mm/addr.h>
#include <mm/kstack.h>
#include <mm/layout.h>
#include <mm/memmap.h>
#include <mm/vmm.h>

KTEST(boot, boot_info_valid)
{
	const struct boot_info *bi = boot_info;

	KEXPECT_EQ(t, bi->magic, BOOT_INFO_MAGIC);
	KEXPECT_EQ(t, bi->version, BOOT_INFO_VERSION);
	KEXPECT_EQ(t, bi->size, sizeof(*bi));
	KEXPECT(t, bi->memmap_count > 0);
	KEXPECT(t, memmap_is_normalised(boot_info_memmap(bi), bi->memmap_count));
	KEXPECT(t, memmap_total(boot_info_memmap(bi), bi->memmap_count, MEMMAP_USABLE) > 0);
	KEXPECT(t, memmap_total(boot_info_memmap(bi), bi->memmap_count, MEMMAP_KERNEL) >=
		       bi->kernel_size);
	KEXPECT(t, bi->tsc_at_exit > bi->tsc_at_entry);
}

/* The memory map labels what the loader left for the kernel. */
KTEST(boot, boot_info_memmap_labels_kernel_and_tables)
{
	const struct boot_info *bi = boot_info;
	const struct memmap_entry *map = boot_info_memmap(bi);
	bool kernel = false, pml4 = false;

	for (uint32_t i = 0; i < bi->memmap_count; i++) {
		uint64_t end = map[i].base + map[i].length;
		if (map[i].type == MEMMAP_KERNEL && bi->kernel_phys_base >= map[i].base &&
		    bi->kernel_phys_base + bi->kernel_size <= end)
			kernel = true;
		if (map[i].type == MEMMAP_PAGETABLE && bi->pml4_phys >= map[i].base &&
		    bi->pml4_phys < end)
			pml4 = true;
	}
	KEXPECT(t, kernel);
	KEXPECT(t, pml4);
}

/* The boot stack's recorded frames are boot data, and what its pages map to. */
KTEST(boot, boot_info_boot_stack_phys)
{
	const struct boot_info *bi = boot_info;
	const struct memmap_entry *map = boot_info_memmap(bi);
	uint64_t size = bi->boot_stack_top - bi->boot_stack_bottom;
	bool bootdata = false;

	for (uint32_t i = 0; i < bi->memmap_count; i++)
		if (map[i].type == MEMMAP_BOOTDATA && bi->boot_stack_phys >= map[i].base &&
		    bi->boot_stack_phys + size <= map[i].base + map[i].length)
			bootdata = true;
	KEXPECT(t, bootdata);
	KEXPECT_EQ(t, vmm_translate(bi->boot_stack_bottom), bi->boot_stack_phys);
	KEXPECT_EQ(t, vmm_translate(bi->boot_stack_top - 1), bi->boot_stack_phys + size - 1);
}

static bool in_window(uint64_t va, uint64_t start, uint64_t size)
{
	return LAYOUT_IN_WINDOW(va, 1, start, size);
}

KTEST(boot, kmain_rip_in_kernel_window)
{
	uint64_t rip = (uint64_t)__builtin_return_address(0);

	KEXPECT(t, in_window(rip, LAYOUT_KERNEL_START, LAYOUT_KERNEL_SIZE));
	KEXPECT(t, rip >= boot_info->kernel_virt_base &&
		       rip < boot_info->kernel_virt_base + boot_info->kernel_size);
}

KTEST(boot, kmain_stack_in_stack_window)
{
	uint64_t sp = (uint64_t)__builtin_frame_address(0);

	struct kstack ks;

	KEXPECT(t, in_window(sp, LAYOUT_STACK_START, LAYOUT_STACK_SIZE));
	/*
	 * The boot stack was left early for kmain's guarded one, and every
	 * thread has its own: this case runs on a thread named after it.
	 */
	KEXPECT_EQ(t, kstack_find(sp, &ks), KSTACK_INSIDE);
	KEXPECT(t, strcmp(ks.owner, thread_current()->name) == 0);
}

KTEST(boot, boot_info_in_direct_map)
{
	uint64_t va = (uint64_t)boot_info;

	KEXPECT(t, in_window(va, LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE));
	KEXPECT_EQ(t, virt_to_phys(boot_info), boot_info->boot_info_phys);
}

/*
 * A table of pointers in .data holds absolute addresses: only the loader's
 * R_X86_64_RELATIVE processing makes them right. Compare each with the
 * address the compiler computes RIP-relatively.
 */
static const char reloc_str_a[] = "alpha", reloc_str_b[] = "beta";
static int reloc_int;
static void reloc_fn(void)
{
}
void *reloc_table[] = {(void *)reloc_str_a, (void *)reloc_str_b, &reloc_int, (void *)reloc_fn};

KTEST(boot, elf_relocate_pointer_table_in_data)
{
	void *volatile *table = (void *volatile *)reloc_table;

	KEXPECT(t, table[0] == (void *)reloc_str_a);
	KEXPECT(t, table[1] == (void *)reloc_str_b);
	KEXPECT(t, table[2] == (void *)&reloc_int);
	KEXPECT(t, table[3] == (void *)reloc_fn);
	KEXPECT(t, memcmp(table[0], "alpha", 6) == 0);
	KEXPECT(t, memcmp(table[1], "beta", 5) == 0);
	for (int i = 0; i < 4; i++)
		KEXPECT(t,
			(uint64_t)table[i] - boot_info->kernel_virt_base < boot_info->kernel_size);
}
