/*
 * The loader -> kernel contract. One versioned struct of fixed-width fields,
 * no pointers: everything variable (the memory map) sits at an offset inside
 * the same allocation, so the struct means the same at any address.
 *
 * The loader places boot_info in MEMMAP_BOOTDATA pages and passes the kernel
 * its direct-map address. The kernel refuses a magic, version or size it does
 * not know. The loader and the kernel both derive the kernel's first
 * address space from it (bootmap_plan_from, include/mm/bootmap.h).
 */
#pragma once

#include <lib/types.h>
#include <mm/memmap.h>

#define BOOT_INFO_MAGIC 0x4f464e4945495241ull /* "AERIEINFO"-ish, little endian */
/*
 * Bump BOOT_INFO_VERSION on any change of layout or meaning; BOOT_INFO_SIZE
 * is pinned by a static assert below, so a layout change without a bump
 * stops the build. Version 2 added boot_stack_phys, version 3 the
 * framebuffer's channel masks, version 4 BOOT_FLAG_SECURE_BOOT.
 */
#define BOOT_INFO_VERSION 4
#define BOOT_INFO_SIZE	  792
#define BOOT_CMDLINE_MAX  512

/* boot_info.entropy_sources bits: which randomness sources worked. */
#define BOOT_ENTROPY_RDSEED  (1u << 0)
#define BOOT_ENTROPY_RDRAND  (1u << 1)
#define BOOT_ENTROPY_EFI_RNG (1u << 2)
#define BOOT_ENTROPY_TSC     (1u << 3)

/* boot_info.flags bits. */
#define BOOT_FLAG_KASLR (1u << 0) /* region bases were randomised */
#define BOOT_FLAG_SECURE_BOOT                                                                      \
	(1u << 1) /* firmware verified the loader; weakening options dropped */

/* Framebuffer pixel layouts (boot_fb.format); the masks say the same for each. */
enum boot_fb_format {
	BOOT_FB_NONE = 0,
	BOOT_FB_RGBX = 1,    /* byte 0 red */
	BOOT_FB_BGRX = 2,    /* byte 0 blue */
	BOOT_FB_BITMASK = 3, /* GOP's PixelBitMask: 16, 24 or 32 bits a pixel */
};

struct boot_fb {
	uint64_t phys;	/* physical base */
	uint64_t virt;	/* mapped in the MMIO window, RW NX; 0 if none */
	uint64_t size;	/* bytes */
	uint32_t width; /* pixels */
	uint32_t height;
	uint32_t pitch;	 /* bytes per scan line */
	uint32_t format; /* enum boot_fb_format */
	/* Where each channel sits in a little-endian pixel, for every format. */
	uint32_t red_mask, green_mask, blue_mask;
	uint32_t bytes_per_pixel; /* 2, 3 or 4 */
};

struct boot_info {
	uint64_t magic;	     /* BOOT_INFO_MAGIC */
	uint32_t version;    /* BOOT_INFO_VERSION */
	uint32_t size;	     /* sizeof(struct boot_info) */
	uint64_t total_size; /* bytes, including the memory map after the struct */

	/* Normalised memory map: memmap_count entries at (char *)bi + memmap_offset. */
	uint32_t memmap_offset;
	uint32_t memmap_count;
	uint32_t memmap_capacity;
	uint32_t flags; /* BOOT_FLAG_* */

	/* Kernel image: [virt_base, virt_base + size) maps [phys_base, ...). */
	uint64_t kernel_phys_base;
	uint64_t kernel_virt_base;
	uint64_t kernel_size;
	/* The untouched kernel ELF file, for symbols (MEMMAP_BOOTDATA). */
	uint64_t kernel_file_phys;
	uint64_t kernel_file_size;

	/* Region bases chosen by the loader, each inside its window. */
	uint64_t direct_map_base;
	uint64_t heap_base;
	uint64_t stack_base;
	uint64_t mmio_base;

	/*
	 * Boot stack, [bottom, top), with an unmapped guard page below bottom;
	 * its top - bottom bytes lie at boot_stack_phys (MEMMAP_BOOTDATA).
	 */
	uint64_t boot_stack_bottom;
	uint64_t boot_stack_top;
	uint64_t boot_stack_phys;

	uint64_t boot_info_phys;  /* where this struct lives */
	uint64_t pml4_phys;	  /* the loader-built top-level table */
	uint64_t trampoline_phys; /* identity-mapped hand-off page; drop it */

	struct boot_fb fb;
	uint64_t rsdp_phys; /* ACPI RSDP, 0 if none */
	uint32_t rsdp_revision;
	uint32_t entropy_sources; /* BOOT_ENTROPY_* */
	uint64_t random_seed[4];  /* for the kernel's own use */

	uint64_t tsc_at_entry; /* loader's efi_main */
	uint64_t tsc_at_exit;  /* just before the jump to the kernel */

	char cmdline[BOOT_CMDLINE_MAX]; /* NUL terminated */
};

_Static_assert(sizeof(struct boot_fb) == 56, "boot_fb layout is a contract");
_Static_assert(sizeof(struct boot_info) == BOOT_INFO_SIZE,
	       "boot_info layout changed: bump BOOT_INFO_VERSION and BOOT_INFO_SIZE");
_Static_assert(sizeof(struct boot_info) % 8 == 0, "memory map follows, 8-aligned");

/* The memory map that follows the struct. */
static inline struct memmap_entry *boot_info_memmap(const struct boot_info *bi)
{
	return (struct memmap_entry *)((char *)bi + bi->memmap_offset);
}
