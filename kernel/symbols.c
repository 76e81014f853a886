/*
 * Symbol names for backtraces, looked up in the kernel ELF file that the
 * loader left in memory (MEMMAP_BOOTDATA) and the kernel reads through the
 * direct map. Without a usable symbol table (a stripped or truncated file)
 * addresses in the image show as offsets, which addr2line takes as they are
 * (the kernel links at 0).
 */
#include <kernel/console.h>
#include <kernel/symbols.h>
#include <lib/elf.h>
#include <lib/fmt.h>
#include <mm/addr.h>

static const void *file; /* NULL if the file has no usable symbol table */
static size_t file_size;
static uint64_t kernel_base; /* run-time address of link address 0 */
static uint64_t kernel_size;

void symbols_init(const struct boot_info *bi)
{
	const char *why = "the loader kept no kernel file";

	/* Our kernel links at 0, so the virtual base is the bias. */
	kernel_base = bi->kernel_virt_base;
	kernel_size = bi->kernel_size;
	if (bi->kernel_file_size != 0 &&
	    elf_symtab_check(phys_to_virt(bi->kernel_file_phys), bi->kernel_file_size, &why) == 0) {
		file = phys_to_virt(bi->kernel_file_phys);
		file_size = bi->kernel_file_size;
		return;
	}
	/* Said once, now, rather than a "?" in every frame of a later panic. */
	kwarn("kernel symbols unavailable (%s): backtraces show offsets only", why);
}

bool symbols_lookup(uint64_t addr, char *buf, size_t size)
{
	const char *name;
	uint64_t off = addr - kernel_base;

	if (file && addr >= kernel_base && elf_find_symbol(file, file_size, off, &name, &off)) {
		fmt_snprintf(buf, size, "%s+%#llx", name, (unsigned long long)off);
		return true;
	}
	/* Without symbols the link address is the next best thing (addr2line takes it). */
	if (!file && addr >= kernel_base && off < kernel_size)
		fmt_snprintf(buf, size, "kernel+%#llx", (unsigned long long)off);
	else
		fmt_snprintf(buf, size, "?");
	return false;
}
