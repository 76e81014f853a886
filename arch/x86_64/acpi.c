/*
 * Finding the MADT in physical memory: RSDP (from the loader), then the
 * XSDT (or the RSDT on ACPI 1.0), then each table's header until "APIC".
 * Tables are mapped write-back in the MMIO window (mm/mmio.c), a header
 * first and the whole table only once its length is known to be sane; the
 * parsing itself is lib/acpi.c. Tables in memory the frame allocator hands
 * out (usable, loader, boot-services RAM) are refused: they may be gone.
 */
#include <arch/x86_64/smp.h>
#include <kernel/console.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/memmap.h>
#include <mm/mmio.h>

#define ACPI_TABLE_MAX (64 * 1024) /* no table we read is longer: refuse larger lengths */

/* Bytes readable at pa once [pa, pa + len) is mapped: to the end of the last page. */
static size_t mapped_bytes(paddr_t pa, size_t len)
{
	return ALIGN_UP(pa + len, PAGE_SIZE) - pa;
}

/* False if [pa, pa + len) touches RAM the frame allocator may have handed out. */
static bool acpi_range_kept(const struct boot_info *bi, paddr_t pa, uint64_t len)
{
	const struct memmap_entry *map = boot_info_memmap(bi);

	for (uint32_t i = 0; i < bi->memmap_count; i++) {
		const struct memmap_entry *e = &map[i];
		bool freed = e->type == MEMMAP_USABLE || e->type == MEMMAP_LOADER ||
			     e->type == MEMMAP_BOOT_SERVICES;
		if (freed && pa < e->base + e->length && e->base < pa + len)
			return false;
	}
	return true;
}

/*
 * Map the table at pa if its signature is sig (any if NULL) and it passes
 * acpi_sdt_check(); its length goes to *len. NULL otherwise.
 */
static const void *acpi_map_table(const struct boot_info *bi, paddr_t pa, const char *sig,
				  size_t *len)
{
	const void *t;
	uint32_t length;

	if (!pa || !acpi_range_kept(bi, pa, ACPI_SDT_HEADER_SIZE))
		return NULL;
	t = mmio_map(pa, ACPI_SDT_HEADER_SIZE, 0);
	if (!t || (sig && memcmp(t, sig, 4) != 0))
		return NULL;
	length = acpi_sdt_length(t);
	if (length < ACPI_SDT_HEADER_SIZE || length > ACPI_TABLE_MAX ||
	    !acpi_range_kept(bi, pa, length))
		return NULL;
	if (length > mapped_bytes(pa, ACPI_SDT_HEADER_SIZE))
		t = mmio_map(pa, length, 0);
	if (!t || acpi_sdt_check(t, length, sig) != 0)
		return NULL;
	*len = length;
	return t;
}

/* The root table (XSDT, or RSDT before ACPI 2.0) through bi's RSDP. */
static const void *acpi_map_root(const struct boot_info *bi, bool *xsdt, size_t *len)
{
	struct acpi_rsdp rsdp;
	const void *r;
	int err;

	if (!bi->rsdp_phys)
		return NULL;
	r = mmio_map(bi->rsdp_phys, ACPI_RSDP_V2_SIZE, 0);
	if (!r)
		return NULL;
	err = acpi_rsdp_parse(r, mapped_bytes(bi->rsdp_phys, ACPI_RSDP_V2_SIZE), &rsdp);
	if (err) {
		kwarn("acpi: the RSDP is bad (%d): no CPUs but the boot CPU", err);
		return NULL;
	}
	*xsdt = rsdp.revision >= 2 && rsdp.xsdt;
	r = acpi_map_table(bi, *xsdt ? rsdp.xsdt : rsdp.rsdt, *xsdt ? "XSDT" : "RSDT", len);
	if (!r)
		kwarn("acpi: the %s fails its checks", *xsdt ? "XSDT" : "RSDT");
	return r;
}

int acpi_madt_find(const struct boot_info *bi, struct acpi_madt *out)
{
	const void *root, *madt = NULL;
	size_t len, n;
	bool xsdt;

	root = acpi_map_root(bi, &xsdt, &len);
	if (!root)
		return -ENOENT;
	n = acpi_root_count(root, xsdt);
	for (size_t i = 0; i < n && !madt; i++) {
		paddr_t pa = acpi_root_entry(root, xsdt, i);
		bool ok = pa && acpi_range_kept(bi, pa, ACPI_SDT_HEADER_SIZE);
		const void *hdr = ok ? mmio_map(pa, ACPI_SDT_HEADER_SIZE, 0) : NULL;
		if (hdr && memcmp(hdr, "APIC", 4) == 0)
			madt = acpi_map_table(bi, pa, "APIC", &len);
	}
	if (!madt)
		return -ENOENT;
	return acpi_madt_parse(madt, len, out);
}
