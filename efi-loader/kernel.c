/*
 * Loading the kernel: read /aerie/kernel.elf (or the file kernel= names),
 * check its SHA-256 against the pinned one (verify.c), check it strictly
 * (lib/elf.c),
 * copy its segments into one physically contiguous block and apply its
 * relocations for the chosen virtual base. mm/bootmap.c maps it.
 */
#include "loader.h"

#include <mm/layout.h>
#include <mm/memmap.h>

/*
 * The firmware's form of a path on the loader's volume: UCS-2 with
 * backslashes. False if it does not fit or is not plain printable ASCII.
 */
static bool efi_path(const char *path, CHAR16 *out, size_t capacity)
{
	size_t i;

	for (i = 0; path[i]; i++) {
		if (i + 1 >= capacity || path[i] < ' ' || path[i] > '~')
			return false;
		out[i] = path[i] == '/' ? L'\\' : (CHAR16)path[i];
	}
	out[i] = 0;
	return i > 0;
}

/* Read the kernel file; its pages are kept for the kernel's symbol lookups. */
static EFI_STATUS read_kernel_file(struct loaded_kernel *k, const char *path)
{
	CHAR16 wpath[KERNEL_PATH_MAX];
	EFI_STATUS st;

	if (!efi_path(path, wpath, ARRAY_SIZE(wpath))) {
		loader_error("bad kernel path \"%s\"", path);
		return EFI_INVALID_PARAMETER;
	}
	st = file_read(wpath, MEMMAP_BOOTDATA, &k->file_pa, &k->file_size);
	if (st == EFI_NOT_FOUND) {
		loader_error("kernel not found: %s is missing", path);
		return st;
	}
	if (st == EFI_OUT_OF_RESOURCES) {
		loader_error("cannot read %s: the firmware has no memory left for it", path);
		return st;
	}
	if (EFI_ERROR(st)) {
		loader_error("cannot read %s (EFI status %#lx)", path, (unsigned long)st);
		return st;
	}
	if (k->file_size == 0) {
		loader_error("bad kernel: %s is empty", path);
		return EFI_LOAD_ERROR;
	}
	return EFI_SUCCESS;
}

/*
 * Read the kernel file at path (on the loader's volume, '/'-separated),
 * check that it is the kernel this loader was built with (verify.c), then
 * check its ELF strictly. On failure, prints the reason and returns an EFI
 * error: a bad kernel is never entered.
 */
EFI_STATUS kernel_read(struct loaded_kernel *k, const char *path)
{
	const char *why = "unknown";
	EFI_STATUS st = read_kernel_file(k, path);

	if (!EFI_ERROR(st))
		st = kernel_verify(path, (const void *)k->file_pa, k->file_size);
	if (EFI_ERROR(st))
		return st;
	if (elf_parse((const void *)k->file_pa, k->file_size, &k->elf, &why) != 0) {
		loader_error("bad kernel: %s", why);
		return EFI_LOAD_ERROR;
	}
	return EFI_SUCCESS;
}

/* Copy the checked kernel to phys_base and relocate it to run at virt_base. */
EFI_STATUS kernel_place(struct loaded_kernel *k, paddr_t phys_base, vaddr_t virt_base)
{
	if (phys_base == PADDR_INVALID) {
		loader_error("out of memory for the kernel image (%lu KiB)",
			     (unsigned long)(k->elf.span / 1024));
		return EFI_OUT_OF_RESOURCES;
	}
	k->phys_base = phys_base;
	k->virt_base = virt_base;
	elf_load(&k->elf, (void *)phys_base);
	elf_relocate(&k->elf, (void *)phys_base, virt_base);
	loader_log("kernel: %lu KiB, %zu segments, %zu relocations",
		   (unsigned long)(k->elf.span / 1024), k->elf.nsegs, k->elf.rela_count);
	return EFI_SUCCESS;
}
