/*
 * The firmware memory map: fetching it (with room to spare, since every
 * allocation can change it) and turning EFI descriptors into raw memmap
 * entries for lib's normaliser.
 */
#include "loader.h"

#include <mm/memmap.h>

/* Descriptors of slack added whenever the buffer has to grow. */
#define MAP_SLACK 32

/*
 * Fill m with the current map, growing m->buf as needed. Only call this
 * before a first ExitBootServices attempt when m->buf is too small: growing
 * allocates. Returns EFI_SUCCESS or the firmware's error.
 */
EFI_STATUS efi_map_get(struct efi_map *m)
{
	for (int tries = 0; tries < 8; tries++) {
		UINTN size = m->buf_size;
		EFI_STATUS st = loader_bs->GetMemoryMap(&size, m->buf, &m->key, &m->desc_size,
							&m->desc_version);
		if (st == EFI_SUCCESS) {
			m->map_size = size;
			/* The walk strides by desc_size; a smaller one is firmware nonsense. */
			return m->desc_size >= sizeof(EFI_MEMORY_DESCRIPTOR) ? st : EFI_UNSUPPORTED;
		}
		if (st != EFI_BUFFER_TOO_SMALL)
			return st;
		if (m->buf)
			loader_bs->FreePool(m->buf);
		m->buf_size = size + MAP_SLACK * (m->desc_size ? m->desc_size : 64);
		st = loader_fw_pool(m->buf_size, &m->buf);
		if (EFI_ERROR(st)) {
			m->buf = NULL;
			m->buf_size = 0;
			return st;
		}
	}
	return EFI_BUFFER_TOO_SMALL;
}

/* Our type for an EFI memory type, attributes aside. */
static uint32_t efi_type(uint32_t efi)
{
	switch (efi) {
	case EfiConventionalMemory:
		return MEMMAP_USABLE;
	case EfiLoaderCode:
	case EfiLoaderData:
		return MEMMAP_LOADER;
	case EfiBootServicesCode:
	case EfiBootServicesData:
		return MEMMAP_BOOT_SERVICES;
	case EfiRuntimeServicesCode:
	case EfiRuntimeServicesData:
		return MEMMAP_RUNTIME;
	case EfiACPIReclaimMemory:
		return MEMMAP_ACPI_RECLAIM;
	case EfiACPIMemoryNVS:
		return MEMMAP_ACPI_NVS;
	case EfiUnusableMemory:
		return MEMMAP_UNUSABLE;
	case EfiMemoryMappedIO:
	case EfiMemoryMappedIOPortSpace:
		return MEMMAP_MMIO;
	case 14: /* EfiPersistentMemory, newer than gnu-efi's headers */
		return MEMMAP_PERSISTENT;
	default: /* reserved, PAL code, unaccepted, OEM and OS types */
		return MEMMAP_RESERVED;
	}
}

/*
 * Our type for an EFI descriptor. The runtime attribute turns RAM into
 * runtime memory (the OS must keep it), but firmware also sets it on MMIO
 * such as the flash window, which must stay MMIO: never RAM in the direct map.
 */
static uint32_t efi_type_to_memmap(const EFI_MEMORY_DESCRIPTOR *d)
{
	uint32_t type = efi_type(d->Type);

	if ((d->Attribute & EFI_MEMORY_RUNTIME) && memmap_type_is_ram(type))
		return MEMMAP_RUNTIME;
	return type;
}

/*
 * Rewrite m's descriptors as struct memmap_entry, in place (an entry is
 * smaller than any descriptor, so writes never overtake reads). Returns the
 * number of entries at m->buf. Allocates nothing: safe after
 * ExitBootServices.
 */
size_t efi_map_to_raw(struct efi_map *m)
{
	struct memmap_entry *out = m->buf;
	size_t n = m->map_size / m->desc_size;

	for (size_t i = 0; i < n; i++) {
		const EFI_MEMORY_DESCRIPTOR *d = (const void *)((char *)m->buf + i * m->desc_size);
		struct memmap_entry e = {
		    .base = d->PhysicalStart,
		    /* A nonsense page count saturates; the normaliser clips it. */
		    .length =
			d->NumberOfPages >= (1ull << 52) ? ~0ull : d->NumberOfPages * PAGE_SIZE,
		    .type = efi_type_to_memmap(d),
		};
		out[i] = e;
	}
	return n;
}

/*
 * A normalised copy of the current firmware map in a fresh pool buffer
 * (*map, *n entries; the caller frees it). Prints the reason on failure.
 */
EFI_STATUS efi_map_snapshot(struct memmap_entry **map, size_t *n)
{
	struct efi_map m = {0};
	EFI_STATUS st = efi_map_get(&m);
	int count = -1;

	*map = NULL;
	if (EFI_ERROR(st)) {
		loader_error("cannot read the memory map (EFI status %#lx)", (unsigned long)st);
		return st;
	}
	size_t raw = efi_map_to_raw(&m), cap = 2 * raw + 1;
	st = loader_fw_pool(cap * sizeof(**map), (void **)map);
	if (!EFI_ERROR(st))
		count = memmap_normalise(m.buf, raw, *map, cap);
	loader_bs->FreePool(m.buf);
	if (count < 0) {
		loader_error("cannot normalise the firmware memory map");
		if (*map)
			loader_bs->FreePool(*map);
		*map = NULL;
		return EFI_LOAD_ERROR;
	}
	*n = (size_t)count;
	return EFI_SUCCESS;
}
