/*
 * Accepting the loader's boot_info: the kernel trusts nothing in it until
 * the magic, version, size and memory-map invariants have been checked.
 */
#include <arch/arch.h>
#include <arch/timer.h>
#include <kernel/boot.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <lib/string.h>
#include <mm/layout.h>
#include <mm/memmap.h>

const struct boot_info *boot_info;

/* The ELF header: lld puts it at link address 0, the image's first byte. */
extern const char __ehdr_start[];

void boot_info_accept(const struct boot_info *bi)
{
	if (bi->magic != BOOT_INFO_MAGIC)
		panic("boot_info: bad magic %#llx (expected %#llx): not an Aerie loader?",
		      (unsigned long long)bi->magic, BOOT_INFO_MAGIC);
	if (bi->version != BOOT_INFO_VERSION)
		panic("boot_info: version %u, this kernel speaks version %u: update the loader",
		      bi->version, BOOT_INFO_VERSION);
	if (bi->size != sizeof(*bi))
		panic("boot_info: size %u, expected %zu", bi->size, sizeof(*bi));
	if (bi->memmap_offset < sizeof(*bi) || bi->memmap_count > bi->memmap_capacity ||
	    bi->memmap_offset + (uint64_t)bi->memmap_capacity * sizeof(struct memmap_entry) >
		bi->total_size)
		panic("boot_info: memory map outside boot_info");
	if (!memmap_is_normalised(boot_info_memmap(bi), bi->memmap_count))
		panic("boot_info: memory map is not normalised");
	if (!IS_ALIGNED(bi->boot_stack_phys | bi->boot_stack_bottom | bi->boot_stack_top,
			PAGE_SIZE) ||
	    bi->boot_stack_top <= bi->boot_stack_bottom)
		panic("boot_info: boot stack [%#llx, %#llx) at %#llx is not a page-aligned range",
		      (unsigned long long)bi->boot_stack_bottom,
		      (unsigned long long)bi->boot_stack_top,
		      (unsigned long long)bi->boot_stack_phys);
	if (strnlen(bi->cmdline, BOOT_CMDLINE_MAX) == BOOT_CMDLINE_MAX)
		panic("boot_info: command line is not terminated");
	if ((uint64_t)__ehdr_start != bi->kernel_virt_base)
		panic("boot_info: kernel_virt_base %#llx, but the kernel runs at %p",
		      (unsigned long long)bi->kernel_virt_base, (const void *)__ehdr_start);
	boot_info = bi;
}

static void print_layout(const struct boot_info *bi)
{
	kdebug("layout: direct map %#llx, kernel %#llx (phys %#llx, %llu KiB)",
	       (unsigned long long)bi->direct_map_base, (unsigned long long)bi->kernel_virt_base,
	       (unsigned long long)bi->kernel_phys_base,
	       (unsigned long long)bi->kernel_size / 1024);
	kdebug("layout: heap %#llx, stacks %#llx, mmio %#llx", (unsigned long long)bi->heap_base,
	       (unsigned long long)bi->stack_base, (unsigned long long)bi->mmio_base);
	const struct memmap_entry *map = boot_info_memmap(bi);
	for (uint32_t i = 0; i < bi->memmap_count; i++)
		kdebug("memmap: [%#014llx, %#014llx) %s", (unsigned long long)map[i].base,
		       (unsigned long long)(map[i].base + map[i].length),
		       memmap_type_name(map[i].type));
}

/*
 * How long the boot took so far, from the TSC: the loader (efi_main to the
 * jump) and the kernel (the jump to here, just before ktest or ready). Under
 * QEMU TCG these are emulated cycles, not a real machine's time.
 */
static void print_boot_time(const struct boot_info *bi)
{
	uint64_t khz = arch_timer_info()->tsc_khz, now = arch_timestamp();

	if (khz == 0)
		return;
	kdebug("boot: loader %llu ms, kernel %llu ms (emulated TSC)",
	       (unsigned long long)((bi->tsc_at_exit - bi->tsc_at_entry) / khz),
	       (unsigned long long)((now - bi->tsc_at_exit) / khz));
}

void boot_summary(void)
{
	const struct boot_info *bi = boot_info;
	const struct memmap_entry *map = boot_info_memmap(bi);
	uint64_t ram = 0;

	for (uint32_t i = 0; i < bi->memmap_count; i++)
		if (memmap_type_is_ram(map[i].type))
			ram += map[i].length;
	kinfo("memory: %llu MiB RAM, %llu MiB usable now, %llu MiB reclaimable after boot",
	      (unsigned long long)(ram / MiB),
	      (unsigned long long)(memmap_total(map, bi->memmap_count, MEMMAP_USABLE) / MiB),
	      (unsigned long long)((memmap_total(map, bi->memmap_count, MEMMAP_BOOT_SERVICES) +
				    memmap_total(map, bi->memmap_count, MEMMAP_LOADER)) /
				   MiB));
	kinfo("memory map: %u entries; kernel image %llu KiB", bi->memmap_count,
	      (unsigned long long)(bi->kernel_size / 1024));
	if (bi->fb.format != BOOT_FB_NONE)
		kinfo("framebuffer: %ux%u", bi->fb.width, bi->fb.height);
	kinfo("ACPI: %s",
	      bi->rsdp_phys ? (bi->rsdp_revision >= 2 ? "RSDP 2.0+" : "RSDP 1.0") : "no RSDP");
	kinfo("Secure Boot: %s", (bi->flags & BOOT_FLAG_SECURE_BOOT) ? "on" : "off");
	kinfo("KASLR: %s; entropy from%s%s%s%s",
	      (bi->flags & BOOT_FLAG_KASLR) ? "on" : "off (nokaslr)",
	      (bi->entropy_sources & BOOT_ENTROPY_RDSEED) ? " RDSEED" : "",
	      (bi->entropy_sources & BOOT_ENTROPY_RDRAND) ? " RDRAND" : "",
	      (bi->entropy_sources & BOOT_ENTROPY_EFI_RNG) ? " EFI_RNG" : "",
	      (bi->entropy_sources & BOOT_ENTROPY_TSC) ? " TSC" : "");
	if (!(bi->entropy_sources & ~BOOT_ENTROPY_TSC))
		kwarn("no hardware entropy source: the layout came from the TSC alone");
	if (console_level_enabled(LOG_DEBUG)) {
		print_layout(bi);
		print_boot_time(bi);
	}
}
