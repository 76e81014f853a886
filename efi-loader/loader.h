/*
 * The loader's internal interfaces. Only efi-loader/ includes <efi.h>;
 * everything the kernel needs crosses over in struct boot_info.
 */
#pragma once

#include <efi.h>
#include <boot/boot_info.h>
#include <lib/elf.h>
#include <lib/types.h>

/* The firmware's tables, set once by efi_main. */
extern EFI_HANDLE loader_image;
extern EFI_SYSTEM_TABLE *loader_st;
extern EFI_BOOT_SERVICES *loader_bs;

/* console.c: every line starts "aerie-loader: ". */
extern bool loader_debug; /* loglevel=debug */
void loader_log(const char *fmt, ...) __printf(1, 2);
void loader_debugf(const char *fmt, ...) __printf(1, 2);
void loader_warn(const char *fmt, ...) __printf(1, 2);
void loader_error(const char *fmt, ...) __printf(1, 2);

/* alloc.c: the firmware's allocators (garbage-filled with `garbage`). */
#define GARBAGE_BYTE 0xa5
extern bool loader_garbage;
EFI_STATUS loader_fw_pages(EFI_ALLOCATE_TYPE how, EFI_MEMORY_TYPE type, size_t pages,
			   EFI_PHYSICAL_ADDRESS *pa);
EFI_STATUS loader_fw_pool(size_t bytes, void **p);

/* alloc.c: page allocations that the boot memory map will label. */
#define LOADER_MAX_ALLOCS 64
paddr_t loader_alloc_pages(size_t pages, uint32_t memmap_type);
paddr_t loader_record_pages(paddr_t pa, size_t pages, uint32_t memmap_type);
void loader_free_pages(paddr_t pa, size_t pages);
/* Free every allocation still recorded (the loader is returning to the firmware). */
void loader_free_all(void);
struct loader_alloc {
	paddr_t base;
	uint64_t size;
	uint32_t type; /* enum memmap_type */
};
/* Every live allocation made through loader_alloc_pages, n in *count. */
const struct loader_alloc *loader_allocations(size_t *count);

/* file.c: read a whole file from the loader's own volume. */
EFI_STATUS file_read(const CHAR16 *path, uint32_t memmap_type, paddr_t *pa, size_t *size);
/* Close the volume file_read opened, if it did. */
void file_close_root(void);

/* cmdline.c: /aerie/cmdline plus the image's load options. */
void loader_cmdline_read(char *buf, size_t size);
unsigned int loader_option_uint(const char *cmdline, const char *name, unsigned int max,
				unsigned int dflt);

/* memmap.c */
struct efi_map {
	void *buf;	/* GetMemoryMap's buffer */
	UINTN buf_size; /* bytes allocated */
	UINTN map_size; /* bytes filled */
	UINTN key;
	UINTN desc_size;
	UINT32 desc_version;
};
EFI_STATUS efi_map_get(struct efi_map *m);
/* Convert the map in m into raw memmap entries in place; returns the count. */
size_t efi_map_to_raw(struct efi_map *m);

/* paging.c */
struct pgtable;
struct bootmap_plan;
EFI_STATUS paging_init(struct pgtable **pt);
EFI_STATUS paging_build(const struct bootmap_plan *plan);

/* kernel.c */
struct loaded_kernel {
	struct elf_image elf;
	paddr_t file_pa;
	size_t file_size;
	paddr_t phys_base;
	vaddr_t virt_base;
};
/* verify.c: refuses (with the error printed) a file that is not the pinned kernel. */
EFI_STATUS kernel_verify(const char *path, const void *file, size_t size);

/* secureboot.c */
enum secure_boot { SECURE_BOOT_OFF, SECURE_BOOT_ON, SECURE_BOOT_SETUP };
enum secure_boot secure_boot_state(void);
/* Log the state; if on, drop weakening options from cmdline and return true. */
bool secure_boot_apply(char *cmdline);

#define KERNEL_PATH_DEFAULT "/aerie/kernel.elf"
#define KERNEL_PATH_MAX	    128 /* characters, with the terminator */
_Static_assert(sizeof(KERNEL_PATH_DEFAULT) <= KERNEL_PATH_MAX, "default kernel path fits");
EFI_STATUS kernel_read(struct loaded_kernel *k, const char *path);
EFI_STATUS kernel_place(struct loaded_kernel *k, paddr_t phys_base, vaddr_t virt_base);

/* cpucheck.c: every CPU feature the kernel needs; one error per missing one. */
EFI_STATUS cpu_check(void);

/* firmware.c: framebuffer and ACPI. */
const char *firmware_find_framebuffer(struct boot_fb *fb);
void firmware_find_rsdp(struct boot_info *bi);

/* entropy.c: fresh random bits from every working source. */
uint32_t entropy_init(void);
uint64_t entropy_u64(void);
uint64_t entropy_below(uint64_t n);

/* layout.c: region bases and the kernel's physical spot (KASLR or fixed). */
EFI_STATUS layout_choose(struct boot_info *bi, uint64_t kernel_span, uint64_t ram_top, bool kaslr);
paddr_t layout_kernel_phys(const struct memmap_entry *map, size_t n, uint64_t span, bool kaslr);

/* memmap.c: a normalised snapshot of the current map (caller frees with FreePool). */
EFI_STATUS efi_map_snapshot(struct memmap_entry **map, size_t *n);

/* nx.c: whether (and making) a page executable under the firmware's tables. */
bool nx_make_executable(paddr_t pa);
bool nx_live_executable(uint64_t va);
/* Restore the page's attributes from before nx_make_executable. */
void nx_undo(paddr_t pa);

/* handoff.c */
paddr_t handoff_trampoline(struct boot_info *bi);
EFI_STATUS handoff_prepare(size_t *memmap_capacity);
EFI_STATUS handoff(struct boot_info *bi, paddr_t pml4, vaddr_t entry);
/* After a failure: restart the firmware's tick, free the hand-off's memory. */
void handoff_undo(void);
