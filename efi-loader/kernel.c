/*
 * Loading the kernel: read /aerie/kernel.elf, check it strictly (lib/elf.c),
 * copy its segments into one physically contiguous block, apply its
 * relocations for the chosen virtual base, and map each segment with only
 * the permissions it asks for.
 */
#include "loader.h"

#include <arch/x86_64/pgtable.h>
#include <mm/layout.h>
#include <mm/memmap.h>

#define KERNEL_PATH L"\\aerie\\kernel.elf"

/* Read the kernel file; its pages are kept for the kernel's symbol lookups. */
static EFI_STATUS read_kernel_file(struct loaded_kernel *k)
{
	EFI_STATUS st = file_read(KERNEL_PATH, MEMMAP_BOOTDATA, &k->file_pa, &k->file_size);

	if (st == EFI_NOT_FOUND) {
		loader_error("kernel not found: /aerie/kernel.elf is missing");
		return st;
	}
	if (EFI_ERROR(st)) {
		loader_error("cannot read /aerie/kernel.elf (EFI status %#lx)", (unsigned long)st);
		return st;
	}
	if (k->file_size == 0) {
		loader_error("bad kernel: /aerie/kernel.elf is empty");
		return EFI_LOAD_ERROR;
	}
	return EFI_SUCCESS;
}

/*
 * Read /aerie/kernel.elf and check it strictly. On failure, prints the
 * reason and returns an EFI error: a bad kernel is never entered.
 */
EFI_STATUS kernel_read(struct loaded_kernel *k)
{
	const char *why = "unknown";
	EFI_STATUS st = read_kernel_file(k);

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

/* Mapping flags for a segment: W^X was enforced by elf_parse. */
static uint32_t segment_flags(const struct elf_segment *s)
{
	uint32_t flags = PT_GLOBAL;

	if (s->flags & ELF_PF_W)
		flags |= PT_WRITE;
	if (s->flags & ELF_PF_X)
		flags |= PT_EXEC;
	return flags;
}

/* Map [start, end) of the image (link addresses, page aligned) with flags. */
static EFI_STATUS map_part(const struct loaded_kernel *k, uint64_t start, uint64_t end,
			   uint32_t flags, const char *what)
{
	uint64_t off = start - k->elf.link_base;

	if (end <= start)
		return EFI_SUCCESS;
	return paging_map(k->virt_base + off, k->phys_base + off, end - start, flags, what);
}

/*
 * Map every segment: text R-X, rodata R--, data RW-; the part of a writable
 * segment inside PT_GNU_RELRO is mapped read-only, relocations being done.
 */
EFI_STATUS kernel_map(const struct loaded_kernel *k)
{
	uint64_t rs = k->elf.relro_start, re = k->elf.relro_end;

	for (size_t i = 0; i < k->elf.nsegs; i++) {
		const struct elf_segment *s = &k->elf.segs[i];
		uint64_t start = ALIGN_DOWN(s->vaddr, PAGE_SIZE);
		uint64_t end = ALIGN_UP(s->vaddr + s->memsz, PAGE_SIZE);
		uint32_t flags = segment_flags(s);
		EFI_STATUS st;

		if (!(flags & PT_WRITE) || re <= start || rs >= end) {
			st = map_part(k, start, end, flags, "kernel segment");
		} else {
			uint64_t lo = MAX(start, rs), hi = MIN(end, re);
			st = map_part(k, start, lo, flags, "kernel data");
			if (!EFI_ERROR(st))
				st = map_part(k, lo, hi, flags & ~PT_WRITE, "kernel relro");
			if (!EFI_ERROR(st))
				st = map_part(k, hi, end, flags, "kernel data");
		}
		if (EFI_ERROR(st))
			return st;
	}
	return EFI_SUCCESS;
}
