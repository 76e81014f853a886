/*
 * Strict ELF64 checks, loading, relocation and symbol lookup for the kernel
 * image. Portable C with no firmware or CPU access: the loader, the kernel
 * (for symbols) and host tests and fuzzers all build it.
 *
 * Addresses: a "link address" is a p_vaddr as the linker wrote it. The image
 * is loaded as one contiguous block of span bytes whose first byte holds
 * link address link_base; at run time link address A lives at A + bias,
 * bias = load_base - link_base.
 */
#pragma once

#include <lib/types.h>

#define ELF_MAX_SEGMENTS 16
#define ELF_MAX_SPAN	 (1ull << 30) /* a larger kernel image is refused */
#define ELF_MAX_PHNUM	 64

/* Segment permission bits, as in p_flags. */
#define ELF_PF_X 1u
#define ELF_PF_W 2u
#define ELF_PF_R 4u

struct elf_segment {
	uint64_t vaddr;	 /* link address */
	uint64_t memsz;	 /* bytes in memory (> 0) */
	uint64_t offset; /* file offset of the data */
	uint64_t filesz; /* bytes from the file (<= memsz); the rest is zero */
	uint32_t flags;	 /* ELF_PF_* */
};

/* What elf_parse() learned; everything in it has been checked. */
struct elf_image {
	const uint8_t *file;
	size_t file_size;
	uint64_t link_base; /* lowest PT_LOAD vaddr, rounded down to a page */
	uint64_t span;	    /* bytes from link_base to the end of the last segment, page rounded */
	uint64_t entry;	    /* link address of the entry point, inside an executable segment */
	struct elf_segment segs[ELF_MAX_SEGMENTS]; /* PT_LOAD, sorted by vaddr */
	size_t nsegs;
	uint64_t relro_start; /* page-rounded inward; start == end if no PT_GNU_RELRO */
	uint64_t relro_end;
	uint64_t rela_offset; /* file offset of the RELA table; 0 count if none */
	size_t rela_count;
};

/*
 * Check file[0..size) as an x86-64 PIE kernel and fill *img.
 * Refuses, with a one-line reason in *why: short files, bad magic, class,
 * byte order, version, machine or type (only ET_DYN); program headers or
 * segment data outside the file; p_filesz > p_memsz; zero-size, wrapping,
 * overlapping or absurdly large segments; a segment both writable and
 * executable; segments of different permissions sharing a page; PT_INTERP,
 * PT_TLS, DT_NEEDED, DT_REL, DT_RELR, DT_JMPREL, DT_TEXTREL; relocation
 * types other than R_X86_64_RELATIVE and R_X86_64_NONE; relocations whose
 * 8 bytes are not inside a writable segment; an entry point outside every
 * executable segment.
 * Returns 0 or -ENOEXEC.
 */
int elf_parse(const void *file, size_t size, struct elf_image *img, const char **why);

/*
 * The extra rules for a user program (a static PIE, kernel/user_image.c),
 * on an image elf_parse() accepted (which already refuses W+X segments,
 * overlaps, mixed permissions in a page, relocations other than RELATIVE
 * or outside a writable segment, and interpreters): linked at 0, its span
 * at most max_span (the program window's extent), every segment readable.
 * Returns 0 or -ENOEXEC and sets *why.
 */
int elf_check_user(const struct elf_image *img, uint64_t max_span, const char **why);

/* Copy the segments into dst (img->span bytes) and zero the rest. */
void elf_load(const struct elf_image *img, void *dst);

/*
 * Apply the relocations checked by elf_parse() to the loaded copy at dst,
 * which will run at load_base (the address of dst[0] at run time).
 */
void elf_relocate(const struct elf_image *img, void *dst, uint64_t load_base);

/*
 * Whether file[0..size) has a symbol table elf_find_symbol() can use.
 * Returns 0, or -ENOEXEC and sets *why (e.g. "section headers past the end
 * of the file" for a file cut short after its segments).
 */
int elf_symtab_check(const void *file, size_t size, const char **why);

/*
 * Find the function symbol (STT_FUNC) in file[0..size) whose range contains
 * link address addr. Returns true and sets *name and *off (addr - symbol
 * start); false if the file has no usable symbol table or no symbol covers
 * addr. Never reads outside the file, whatever its contents.
 */
bool elf_find_symbol(const void *file, size_t size, uint64_t addr, const char **name,
		     uint64_t *off);
