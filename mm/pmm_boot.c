/*
 * Setting up the kernel's frame allocator from boot_info: where its
 * metadata lives, which memory types become free frames and when, and the
 * boot-time statistics. The allocator itself is mm/pmm.c.
 */
#include <arch/percpu.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <kernel/symbols.h>
#include <lib/errno.h>
#include <mm/addr.h>
#include <mm/pmm_boot.h>
#include <mm/remote_reclaim.h>

struct pmm pmm_kernel;
uint64_t pmm_boot_reports;

static paddr_t metadata_base;
static uint64_t metadata_length;

/*
 * Types that hold nothing the kernel needs once it runs on its own page
 * tables with the lower half dropped: the loader's code and pool data, and
 * the firmware's boot-services memory (runtime services are never called
 * with it, and runtime regions stay reserved). Boot data (boot_info, the
 * boot stack, the kernel file), page tables and the kernel stay reserved.
 */
static bool free_at_boot(uint32_t type)
{
	return type == MEMMAP_USABLE || type == MEMMAP_LOADER || type == MEMMAP_BOOT_SERVICES;
}

/* Metadata goes at the top of the highest usable range that fits, away from low memory. */
static void place_metadata(const struct memmap_entry *map, uint32_t n, size_t bytes)
{
	for (uint32_t i = n; i-- > 0;) {
		if (map[i].type == MEMMAP_USABLE && map[i].length >= bytes) {
			metadata_length = bytes;
			metadata_base = map[i].base + map[i].length - bytes;
			return;
		}
	}
	panic("pmm: no usable range holds %zu KiB of frame-allocator metadata", bytes / 1024);
}

/* [lo, hi) minus [hole, hole_end), as up to two ranges released into pmm_kernel. */
static void release_around(paddr_t lo, paddr_t hi, paddr_t hole, paddr_t hole_end)
{
	paddr_t cut_lo = MAX(lo, MIN(hole, hi)), cut_hi = MIN(hi, MAX(hole_end, lo));
	int err = 0;

	if (lo >= hi)
		return;
	if (cut_lo >= cut_hi) /* no overlap */
		cut_lo = cut_hi = hi;
	if (lo < cut_lo)
		err = pmm_release(&pmm_kernel, lo, cut_lo - lo);
	if (!err && cut_hi < hi)
		err = pmm_release(&pmm_kernel, cut_hi, hi - cut_hi);
	if (err)
		panic("pmm: releasing [%#llx, %#llx) failed: %d", (unsigned long long)lo,
		      (unsigned long long)hi, err);
}

/* The page holding the ACPI RSDP stays reserved even where firmware left it in free memory. */
static void release_entry(const struct boot_info *bi, const struct memmap_entry *e)
{
	paddr_t lo = e->base, hi = e->base + e->length;
	paddr_t rsdp = ALIGN_DOWN(bi->rsdp_phys, PAGE_SIZE);

	if (bi->rsdp_phys && rsdp >= lo && rsdp < hi) {
		release_around(lo, rsdp, metadata_base, metadata_base + metadata_length);
		lo = MIN(hi, rsdp + 2 * PAGE_SIZE); /* the 36-byte RSDP may cross a page */
	}
	if (lo < hi)
		release_around(lo, hi, metadata_base, metadata_base + metadata_length);
}

static uint64_t frames_of(const struct memmap_entry *map, uint32_t n, uint32_t type)
{
	return memmap_total(map, n, type) >> PAGE_SHIFT;
}

uint64_t pmm_kernel_free_frames(void)
{
	struct pmm_stats s;

	pmm_stats(&pmm_kernel, &s);
	return s.free_frames;
}

/* One line a script can check against the map, then the totals by type. */
static void print_stats(const struct memmap_entry *map, uint32_t n)
{
	struct pmm_stats s;

	pmm_stats(&pmm_kernel, &s);
	kinfo("pmm: %llu frames free (%llu KiB) of %llu managed; metadata %llu KiB (%llu frames)",
	      (unsigned long long)s.free_frames, (unsigned long long)(s.free_frames * 4),
	      (unsigned long long)s.managed_frames, (unsigned long long)(s.metadata_bytes / 1024),
	      (unsigned long long)(metadata_length >> PAGE_SHIFT));
	kinfo(
	    "pmm: free from usable %llu MiB, reclaimed loader %llu KiB and boot-services %llu KiB",
	    (unsigned long long)(memmap_total(map, n, MEMMAP_USABLE) / MiB),
	    (unsigned long long)frames_of(map, n, MEMMAP_LOADER) * 4,
	    (unsigned long long)frames_of(map, n, MEMMAP_BOOT_SERVICES) * 4);
	kinfo("pmm: reserved kernel %llu KiB, page tables %llu KiB, boot data %llu KiB, "
	      "ACPI %llu KiB, runtime %llu KiB",
	      (unsigned long long)frames_of(map, n, MEMMAP_KERNEL) * 4,
	      (unsigned long long)frames_of(map, n, MEMMAP_PAGETABLE) * 4,
	      (unsigned long long)frames_of(map, n, MEMMAP_BOOTDATA) * 4,
	      (unsigned long long)(frames_of(map, n, MEMMAP_ACPI_RECLAIM) +
				   frames_of(map, n, MEMMAP_ACPI_NVS)) *
		  4,
	      (unsigned long long)frames_of(map, n, MEMMAP_RUNTIME) * 4);
}

/*
 * A refused free: count it and log an error naming the caller as
 * function+offset only (the raw return address would give away where
 * KASLR put the kernel; only panics print raw addresses).
 */
static void report_refusal(void *ctx, const char *reason, paddr_t pa, const void *caller)
{
	char where[96];

	pmm_boot_reports++;
	symbols_lookup((uint64_t)caller, where, sizeof(where)); /* "?" if nothing names it */
	kerror("pmm: %s at %#llx, from %s", reason, (unsigned long long)pa, where);
}

/* This CPU's frame cache. => interrupts off, so the CPU cannot change under us */
static struct pmm_cache *this_cpu_cache(void *ctx)
{
	return &arch_percpu()->pmm_cache;
}

/* Frames only other CPUs have cached are asked back from them (mm/remote_reclaim.c). */
static const struct pmm_ops kernel_ops = {
    .report = report_refusal, .cache = this_cpu_cache, .reclaim = remote_reclaim_frames};

void pmm_boot_init(const struct boot_info *bi)
{
	const struct memmap_entry *map = boot_info_memmap(bi);
	uint32_t n = bi->memmap_count;
	size_t bytes = pmm_metadata_size(map, n);

	place_metadata(map, n, bytes);
	int err =
	    pmm_init(&pmm_kernel, map, n, phys_to_virt(metadata_base), bytes, &kernel_ops, NULL);
	if (err)
		panic("pmm: init failed: %d", err);
	for (uint32_t i = 0; i < n; i++)
		if (free_at_boot(map[i].type))
			release_entry(bi, &map[i]);
	KASSERT(pmm_check(&pmm_kernel));
	print_stats(map, n);
	/* The boot CPU's frame cache; SMP attaches each other CPU's as it starts. */
	if (pmm_cache_attach(&pmm_kernel, &arch_percpu()->pmm_cache))
		panic("pmm: cannot attach the boot CPU's frame cache");
}

void pmm_boot_cpu_init(void)
{
	if (pmm_cache_attach(&pmm_kernel, &arch_percpu()->pmm_cache))
		panic("pmm: cannot attach CPU %u's frame cache", arch_percpu()->cpu);
}

void pmm_boot_metadata(paddr_t *base, uint64_t *length)
{
	*base = metadata_base;
	*length = metadata_length;
}
