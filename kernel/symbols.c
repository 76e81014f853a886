/*
 * Symbol names for backtraces, looked up in the kernel ELF file that the
 * loader left in memory (MEMMAP_BOOTDATA) and the kernel reads through the
 * direct map.
 */
#include <kernel/symbols.h>
#include <lib/elf.h>
#include <lib/fmt.h>
#include <mm/addr.h>

static const void *file;
static size_t file_size;
static uint64_t kernel_base; /* run-time address of link address 0 */

void symbols_init(const struct boot_info *bi)
{
	file = phys_to_virt(bi->kernel_file_phys);
	file_size = bi->kernel_file_size;
	/* Our kernel links at 0, so the virtual base is the bias. */
	kernel_base = bi->kernel_virt_base;
}

bool symbols_lookup(uint64_t addr, char *buf, size_t size)
{
	const char *name;
	uint64_t off;

	if (file && addr >= kernel_base &&
	    elf_find_symbol(file, file_size, addr - kernel_base, &name, &off)) {
		fmt_snprintf(buf, size, "%s+%#llx", name, (unsigned long long)off);
		return true;
	}
	fmt_snprintf(buf, size, "?");
	return false;
}
