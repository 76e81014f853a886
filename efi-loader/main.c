/*
 * Aerie's UEFI loader: a table of contents. Reads and checks the kernel,
 * builds its first page tables, fills boot_info and hands over. Any failure
 * prints "aerie-loader: error: <reason>" and returns an EFI error to the
 * firmware; the kernel is never entered in a doubtful state.
 */
#include "loader.h"

#include <arch/x86_64/cpu.h>
#include <arch/x86_64/pgtable.h>
#include <lib/cmdline.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/layout.h>
#include <mm/memmap.h>

EFI_HANDLE loader_image;
EFI_SYSTEM_TABLE *loader_st;
EFI_BOOT_SERVICES *loader_bs;

/* Seconds an error stays on screen before control returns to the firmware. */
#define ERROR_PAUSE_SECONDS 10

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

/* Region bases. KASLR will draw these; today they are the nokaslr bases. */
static void choose_layout(struct boot_info *bi)
{
	bi->direct_map_base = LAYOUT_DIRECT_MAP_FIXED_BASE;
	bi->kernel_virt_base = LAYOUT_KERNEL_FIXED_BASE;
	bi->heap_base = LAYOUT_HEAP_FIXED_BASE;
	bi->stack_base = LAYOUT_STACK_FIXED_BASE;
	bi->mmio_base = LAYOUT_MMIO_FIXED_BASE;
}

/* Map every RAM range of the current firmware map at direct_map_base, RW NX. */
static EFI_STATUS map_direct(const struct boot_info *bi)
{
	struct efi_map m = {0};
	struct memmap_entry *norm = NULL;
	uint32_t flags = PT_WRITE | PT_GLOBAL | PT_HUGE_2M;
	EFI_STATUS st = efi_map_get(&m);

	if (EFI_ERROR(st)) {
		loader_error("cannot read the memory map (EFI status %#lx)", (unsigned long)st);
		return st;
	}
	size_t n = efi_map_to_raw(&m), cap = 2 * n + 1;
	st = loader_bs->AllocatePool(EfiLoaderData, cap * sizeof(*norm), (void **)&norm);
	int count = EFI_ERROR(st) ? -ENOMEM : memmap_normalise(m.buf, n, norm, cap);
	if (cpu_has_1g_pages())
		flags |= PT_HUGE_1G;
	for (int i = 0; i < count && !EFI_ERROR(st); i++) {
		uint64_t base = norm[i].base, end = base + norm[i].length;
		if (!memmap_type_is_ram(norm[i].type))
			continue;
		while (i + 1 < count && norm[i + 1].base == end &&
		       memmap_type_is_ram(norm[i + 1].type))
			end += norm[++i].length; /* one run, so huge pages fit */
		st = paging_map(bi->direct_map_base + base, base, end - base, flags, "direct map");
	}
	if (count < 0)
		loader_error("cannot normalise the firmware memory map");
	if (norm)
		loader_bs->FreePool(norm);
	loader_bs->FreePool(m.buf);
	return count < 0 ? EFI_LOAD_ERROR : st;
}

/* The boot stack, RW NX, with the guard page at stack_base left unmapped. */
static EFI_STATUS map_boot_stack(struct boot_info *bi)
{
	paddr_t pa = loader_alloc_pages(BOOT_STACK_SIZE / PAGE_SIZE, MEMMAP_BOOTDATA);

	if (pa == PADDR_INVALID) {
		loader_error("out of memory for the boot stack");
		return EFI_OUT_OF_RESOURCES;
	}
	bi->boot_stack_bottom = bi->stack_base + PAGE_SIZE;
	bi->boot_stack_top = bi->boot_stack_bottom + BOOT_STACK_SIZE;
	return paging_map(bi->boot_stack_bottom, pa, BOOT_STACK_SIZE, PT_WRITE | PT_GLOBAL,
			  "boot stack");
}

/* The framebuffer at the bottom of the MMIO window, RW NX uncached. */
static EFI_STATUS map_framebuffer(struct boot_info *bi)
{
	struct boot_fb *fb = &bi->fb;

	firmware_find_framebuffer(fb);
	if (fb->format == BOOT_FB_NONE || fb->size == 0) {
		loader_log("no usable framebuffer: serial console only");
		return EFI_SUCCESS;
	}
	paddr_t start = ALIGN_DOWN(fb->phys, PAGE_SIZE);
	uint64_t size = ALIGN_UP(fb->phys + fb->size, PAGE_SIZE) - start;
	fb->virt = bi->mmio_base + (fb->phys - start);
	loader_log("framebuffer: %ux%u", fb->width, fb->height);
	return paging_map(bi->mmio_base, start, size, PT_WRITE | PT_GLOBAL | PT_NOCACHE,
			  "framebuffer");
}

/* The boot_info pages: the struct, then room for the memory map. */
static struct boot_info *alloc_boot_info(size_t capacity)
{
	size_t bytes = sizeof(struct boot_info) + capacity * sizeof(struct memmap_entry);
	paddr_t pa = loader_alloc_pages(ALIGN_UP(bytes, PAGE_SIZE) / PAGE_SIZE, MEMMAP_BOOTDATA);

	if (pa == PADDR_INVALID) {
		loader_error("out of memory for boot_info");
		return NULL;
	}
	struct boot_info *bi = (struct boot_info *)pa;
	bi->magic = BOOT_INFO_MAGIC;
	bi->version = BOOT_INFO_VERSION;
	bi->size = sizeof(*bi);
	bi->total_size = bytes;
	bi->memmap_offset = sizeof(*bi);
	bi->memmap_capacity = capacity;
	bi->boot_info_phys = pa;
	return bi;
}

/* Copy what the early steps gathered (in a stack copy) into the real boot_info. */
static void fill_boot_info(struct boot_info *bi, const struct boot_info *early,
			   const struct loaded_kernel *k, paddr_t pml4)
{
	bi->flags = early->flags;
	bi->direct_map_base = early->direct_map_base;
	bi->heap_base = early->heap_base;
	bi->stack_base = early->stack_base;
	bi->mmio_base = early->mmio_base;
	bi->boot_stack_bottom = early->boot_stack_bottom;
	bi->boot_stack_top = early->boot_stack_top;
	bi->trampoline_phys = early->trampoline_phys;
	bi->fb = early->fb;
	bi->tsc_at_entry = early->tsc_at_entry;
	memcpy(bi->cmdline, early->cmdline, sizeof(bi->cmdline));
	bi->kernel_phys_base = k->phys_base;
	bi->kernel_virt_base = k->virt_base;
	bi->kernel_size = k->elf.span;
	bi->kernel_file_phys = k->file_pa;
	bi->kernel_file_size = k->file_size;
	bi->pml4_phys = pml4;
	firmware_find_rsdp(bi);
}

/* Keep an error readable on a laptop screen before the firmware moves on. */
static EFI_STATUS fail(EFI_STATUS st)
{
	loader_log("returning to the firmware in %d seconds", ERROR_PAUSE_SECONDS);
	loader_bs->Stall(ERROR_PAUSE_SECONDS * 1000000ull);
	return st;
}

/* Everything before the jump; returns only on failure. */
static EFI_STATUS boot(struct boot_info *early)
{
	static struct loaded_kernel k;
	struct pgtable *pt;
	struct boot_info *bi;
	size_t capacity;
	EFI_STATUS st;

	choose_layout(early);
	st = paging_init(&pt);
	if (!EFI_ERROR(st))
		st = kernel_load(&k, early->kernel_virt_base);
	if (!EFI_ERROR(st))
		st = kernel_map(&k);
	if (!EFI_ERROR(st))
		st = map_direct(early);
	if (!EFI_ERROR(st))
		st = map_boot_stack(early);
	if (!EFI_ERROR(st))
		st = map_framebuffer(early);
	if (!EFI_ERROR(st))
		st = handoff_prepare(early, &capacity);
	if (EFI_ERROR(st))
		return st;
	bi = alloc_boot_info(capacity);
	if (!bi)
		return EFI_OUT_OF_RESOURCES;
	fill_boot_info(bi, early, &k, pt->root);
	loader_log("starting the kernel");
	return handoff(bi, pt->root, k.virt_base + (k.elf.entry - k.elf.link_base));
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
		return fail(EFI_LOAD_ERROR);
	}
	loader_cmdline_read(early.cmdline, sizeof(early.cmdline));
	char level[16];
	loader_debug = cmdline_get(early.cmdline, "loglevel", level, sizeof(level)) > 0 &&
		       strcmp(level, "debug") == 0;
	loader_log("command line: \"%s\"", early.cmdline);
	return fail(boot(&early));
}
