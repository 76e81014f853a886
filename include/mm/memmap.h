/*
 * The normalised physical memory map: the form in which the loader hands
 * memory to the kernel. Portable C, shared by loader, kernel and host tests.
 *
 * A normalised map is sorted by base, its entries are non-empty, page
 * aligned and non-overlapping, and adjacent entries of the same type are
 * merged. Usable memory never overlaps anything else.
 */
#pragma once

#include <lib/types.h>

/*
 * Entry types, ordered by precedence: where raw entries overlap, the higher
 * value wins, so a reserved range always beats usable RAM.
 */
enum memmap_type {
	MEMMAP_NONE = 0,	  /* not a type: a hole */
	MEMMAP_USABLE = 1,	  /* free RAM */
	MEMMAP_BOOT_SERVICES = 2, /* firmware boot-services code/data: free after boot */
	MEMMAP_LOADER = 3,	  /* loader code/data: free once the kernel is up */
	MEMMAP_ACPI_RECLAIM = 4,  /* ACPI tables: free once parsed */
	MEMMAP_BOOTDATA = 5,	  /* boot_info, boot stack, kernel file copy */
	MEMMAP_PAGETABLE = 6,	  /* the loader-built page tables */
	MEMMAP_KERNEL = 7,	  /* the loaded kernel image */
	MEMMAP_PERSISTENT = 8,	  /* non-volatile RAM */
	MEMMAP_ACPI_NVS = 9,	  /* firmware NVS: never touch */
	MEMMAP_RUNTIME = 10,	  /* UEFI runtime services code/data */
	MEMMAP_UNUSABLE = 11,	  /* RAM with errors */
	MEMMAP_RESERVED = 12,	  /* firmware reserved */
	MEMMAP_MMIO = 13,	  /* memory-mapped I/O, not RAM */
	MEMMAP_TYPE_COUNT
};

struct memmap_entry {
	uint64_t base;	 /* physical, page aligned */
	uint64_t length; /* bytes, page aligned, > 0 */
	uint32_t type;	 /* enum memmap_type */
	uint32_t reserved;
};

_Static_assert(sizeof(struct memmap_entry) == 24, "memmap_entry is part of boot_info");

/* A short constant name for a type ("usable", "reserved", ...). */
const char *memmap_type_name(uint32_t type);

/* True if the type is RAM that the direct map should cover. */
bool memmap_type_is_ram(uint32_t type);

/*
 * Normalise n raw entries (any order, overlapping, unaligned, zero length)
 * into out, capacity cap entries.
 * => usable (MEMMAP_USABLE) ranges shrink inward to page boundaries; every
 *    other type grows outward, so rounding never turns reserved into usable.
 * => overlaps resolve to the type with the higher enum value.
 * => entries with type MEMMAP_NONE or out of range are treated as reserved.
 * => in and out must not overlap.
 * Returns the number of entries written, or -ENOSPC if cap is too small
 * (2 * n + 1 always suffices).
 */
int memmap_normalise(const struct memmap_entry *in, size_t n, struct memmap_entry *out, size_t cap);

/*
 * Re-type [base, base + length) in a normalised map of *n entries (capacity
 * cap), splitting entries as needed, and keep it normalised. base and length
 * must be page aligned. Used by the loader to label what it allocated.
 * Returns 0, -EINVAL for a misaligned or empty range, or -ENOSPC.
 */
int memmap_set_type(struct memmap_entry *map, size_t *n, size_t cap, uint64_t base, uint64_t length,
		    uint32_t type);

/* True if map[0..n) satisfies every invariant in this file's header. */
bool memmap_is_normalised(const struct memmap_entry *map, size_t n);

/* Sum of the lengths of all entries of the given type. */
uint64_t memmap_total(const struct memmap_entry *map, size_t n, uint32_t type);
