/*
 * Aerie's UEFI loader: a table of contents. Reads and checks the kernel,
 * builds its first page tables, fills boot_info and hands over. Any failure
 * prints "aerie-loader: error: <reason>" and returns an EFI error to the
 * firmware; the kernel is never entered in a doubtful state.
 */
#include "loader.h"

#include <arch/x86_64/cpu.h>
#include <boot/options.h>
#include <lib/cmdline.h>
#include <lib/string.h>
#include <mm/bootmap.h>
#include <mm/layout.h>
#include <mm/memmap.h>

EFI_HANDLE loader_image;
EFI_SYSTEM_TABLE *loader_st;
EFI_BOOT_SERVICES *loader_bs;

/*
 * Seconds an error stays on screen before control returns to the firmware;
 * errorwait=N (0 to 60) changes it, for a shell script that runs the loader
 * several times.
 */
#define ERROR_PAUSE_SECONDS	10
#define ERROR_PAUSE_MAX_SECONDS 60

/*
 * gnu-efi's crt0 has applied our own relocations before efi_main. A table
 * of pointers in .data shows whether it did: each entry must equal the
 * address the compiler computes RIP-relatively.
 */
static const char reloc_probe_a[] = "a", reloc_probe_b[] = "b";
static const char *const reloc_probe[] = {reloc_probe_a, reloc_probe_b};

static bool relocations_ok(void)
{
	return reloc_probe[0] == reloc_probe_a && reloc_probe[1] == reloc_probe_b;
}

/* The end of the highest RAM range: the direct map must reach it. */
static uint64_t ram_top(const struct memmap_entry *map, size_t n)
{
	uint64_t top = 0;

	for (size_t i = 0; i < n; i++)
		if (memmap_type_is_ram(map[i].type))
			top = map[i].base + map[i].length;
	return top;
}

/* Pages for the boot stack; it goes above the guard page at stack_base. */
static EFI_STATUS alloc_boot_stack(struct boot_info *bi)
{
	bi->boot_stack_phys = loader_alloc_pages(BOOT_STACK_SIZE / PAGE_SIZE, MEMMAP_BOOTDATA);
	if (bi->boot_stack_phys == PADDR_INVALID) {
		loader_error("out of memory for the boot stack");
		return EFI_OUT_OF_RESOURCES;
	}
	bi->boot_stack_bottom = bi->stack_base + PAGE_SIZE;
	bi->boot_stack_top = bi->boot_stack_bottom + BOOT_STACK_SIZE;
	return EFI_SUCCESS;
}

/* The GOP framebuffer, if usable, goes at the bottom of the MMIO window. */
static void place_framebuffer(struct boot_info *bi)
{
	struct boot_fb *fb = &bi->fb;
	const char *why = firmware_find_framebuffer(fb);

	if (why) {
		fb->format = BOOT_FB_NONE;
		loader_warn("%s: serial only", why);
		return;
	}
	fb->virt = bi->mmio_base + (fb->phys & PAGE_MASK);
	loader_log("framebuffer: %ux%u", fb->width, fb->height);
}

/* Where the kernel went, and the file it came from (for its symbols). */
static void record_kernel(struct boot_info *bi, const struct loaded_kernel *k)
{
	bi->kernel_phys_base = k->phys_base;
	bi->kernel_virt_base = k->virt_base;
	bi->kernel_size = k->elf.span;
	bi->kernel_file_phys = k->file_pa;
	bi->kernel_file_size = k->file_size;
}

/*
 * The boot_info pages: the struct, then room for the memory map. Starts as
 * a copy of what the early steps gathered in *early, so no field is lost.
 */
static struct boot_info *alloc_boot_info(size_t capacity, const struct boot_info *early)
{
	size_t bytes = sizeof(struct boot_info) + capacity * sizeof(struct memmap_entry);
	paddr_t pa = loader_alloc_pages(ALIGN_UP(bytes, PAGE_SIZE) / PAGE_SIZE, MEMMAP_BOOTDATA);

	if (pa == PADDR_INVALID) {
		loader_error("out of memory for boot_info");
		return NULL;
	}
	struct boot_info *bi = (struct boot_info *)pa;
	*bi = *early;
	bi->magic = BOOT_INFO_MAGIC;
	bi->version = BOOT_INFO_VERSION;
	bi->size = sizeof(*bi);
	bi->total_size = bytes;
	bi->memmap_offset = sizeof(*bi);
	bi->memmap_capacity = capacity;
	bi->boot_info_phys = pa;
	return bi;
}

/* What only the end of loading knows: the tables, seeds, ACPI. */
static void fill_boot_info(struct boot_info *bi, paddr_t pml4)
{
	for (size_t i = 0; i < ARRAY_SIZE(bi->random_seed); i++)
		bi->random_seed[i] = entropy_u64();
	bi->pml4_phys = pml4;
	firmware_find_rsdp(bi);
}

/* The errorwait= value, or the default if it is absent or not 0 to 60. */
static unsigned int error_pause_seconds(const char *cmdline)
{
	return loader_option_uint(cmdline, "errorwait", ERROR_PAUSE_MAX_SECONDS,
				  ERROR_PAUSE_SECONDS);
}

/* Keep an error readable on a laptop screen before the firmware moves on. */
static EFI_STATUS fail(EFI_STATUS st, const char *cmdline)
{
	unsigned int seconds = error_pause_seconds(cmdline);

	loader_log("returning to the firmware in %u seconds", seconds);
	loader_bs->Stall(seconds * 1000000ull);
	return st;
}

/*
 * Choose the layout, place the kernel, stack, framebuffer and trampoline,
 * recording each in boot_info, then build the kernel's address space from
 * the plan boot_info gives (the kernel derives it the same way).
 */
static EFI_STATUS load_and_map(struct boot_info *early, struct loaded_kernel *k,
			       const struct memmap_entry *map, size_t n)
{
	bool kaslr = !cmdline_has(early->cmdline, "nokaslr");
	struct bootmap_plan plan;
	EFI_STATUS st = layout_choose(early, k->elf.span, ram_top(map, n), kaslr);

	if (!EFI_ERROR(st))
		st = kernel_place(k, layout_kernel_phys(map, n, k->elf.span, kaslr),
				  early->kernel_virt_base);
	if (!EFI_ERROR(st))
		st = alloc_boot_stack(early);
	if (EFI_ERROR(st))
		return st;
	record_kernel(early, k);
	place_framebuffer(early);
	if (handoff_trampoline(early) == PADDR_INVALID)
		return EFI_OUT_OF_RESOURCES;
	bootmap_plan_from(&plan, early, &k->elf, map, n, cpu_has_1g_pages());
	return paging_build(&plan);
}

/* Everything before the jump; returns only on failure. */
static EFI_STATUS boot(struct boot_info *early)
{
	static struct loaded_kernel k;
	struct memmap_entry *map = NULL;
	struct pgtable *pt;
	struct boot_info *bi;
	size_t n = 0, capacity;
	EFI_STATUS st;

	char path[KERNEL_PATH_MAX];

	st = cpu_check();
	if (EFI_ERROR(st))
		return st;
	if (cmdline_get(early->cmdline, "kernel", path, sizeof(path)) <= 0)
		memcpy(path, KERNEL_PATH_DEFAULT, sizeof(KERNEL_PATH_DEFAULT));
	early->entropy_sources = entropy_init();
	st = kernel_read(&k, path);
	if (!EFI_ERROR(st))
		st = paging_init(&pt);
	if (!EFI_ERROR(st))
		st = efi_map_snapshot(&map, &n);
	if (!EFI_ERROR(st))
		st = load_and_map(early, &k, map, n);
	if (map)
		loader_bs->FreePool(map);
	if (!EFI_ERROR(st))
		st = handoff_prepare(&capacity);
	if (EFI_ERROR(st))
		return st;
	bi = alloc_boot_info(capacity, early);
	if (!bi)
		return EFI_OUT_OF_RESOURCES;
	fill_boot_info(bi, pt->root);
	loader_log("starting the kernel");
	return handoff(bi, pt->root, k.virt_base + (k.elf.entry - k.elf.link_base));
}

/*
 * A UEFI application that returns an error leaves the firmware as it found
 * it: the tick a failed ExitBootServices stopped runs again, and every page,
 * pool and file handle the loader took is given back.
 */
static void release(void)
{
	handoff_undo();
	loader_free_all();
	file_close_root();
}

/* Warn about each option nobody understands; the rest of the line still applies. */
static void warn_unknown_option(const char *name, size_t len, void *ctx)
{
	(void)ctx;
	loader_warn("unknown option \"%.*s\" ignored", (int)len, name);
}

/* gnu-efi's crt0 calls this with the SysV ABI: no EFIAPI here. */
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st)
{
	static struct boot_info early;

	early.tsc_at_entry = rdtsc();
	loader_image = image;
	loader_st = st;
	loader_bs = st->BootServices;
	loader_bs->SetWatchdogTimer(0, 0, 0, NULL); /* the firmware's 5-minute reset */
	loader_log("Aerie loader");
	if (!relocations_ok()) {
		loader_error("loader relocations were not applied; rebuild the loader");
		return fail(EFI_LOAD_ERROR, "");
	}
	loader_cmdline_read(early.cmdline, sizeof(early.cmdline));
	if (secure_boot_apply(early.cmdline))
		early.flags |= BOOT_FLAG_SECURE_BOOT;
	char level[16];
	loader_debug = cmdline_get(early.cmdline, "loglevel", level, sizeof(level)) > 0 &&
		       strcmp(level, "debug") == 0;
	loader_log("command line: \"%s\"", early.cmdline);
	cmdline_unknown(early.cmdline, boot_known_options, warn_unknown_option, NULL);
	loader_garbage = cmdline_has(early.cmdline, "garbage");
	if (loader_garbage)
		loader_log("garbage: every page the loader allocates is filled with %#x first",
			   GARBAGE_BYTE);
	EFI_STATUS ret = boot(&early); /* returns only on failure */

	release();
	return fail(ret, early.cmdline);
}
