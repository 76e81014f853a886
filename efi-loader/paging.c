/*
 * The kernel's first page tables. Table frames come from a few contiguous
 * chunks labelled MEMMAP_PAGETABLE so the kernel knows which frames hold
 * live tables; the firmware identity-maps them, so the loader writes them
 * through their physical addresses.
 */
#include "loader.h"

#include <mm/bootmap.h>
#include <lib/errno.h>
#include <mm/memmap.h>

#define CHUNK_PAGES 64

static struct pgtable table;
static paddr_t chunk;	   /* current chunk of table frames */
static size_t chunk_used;  /* frames handed out from it */
static size_t tables_used; /* all frames, for the debug log */

/* A zeroed frame for a table (chunks are zeroed when allocated). */
static paddr_t alloc_table(struct pgtable *pt)
{
	(void)pt;
	if (chunk == PADDR_INVALID || chunk_used == CHUNK_PAGES) {
		chunk = loader_alloc_pages(CHUNK_PAGES, MEMMAP_PAGETABLE);
		chunk_used = 0;
		if (chunk == PADDR_INVALID)
			return PADDR_INVALID;
	}
	tables_used++;
	return chunk + PAGE_SIZE * chunk_used++;
}

/* Allocate an empty PML4. */
EFI_STATUS paging_init(struct pgtable **pt)
{
	chunk = PADDR_INVALID;
	table.table_base = 0; /* identity-mapped by the firmware */
	table.alloc_table = alloc_table;
	table.root = alloc_table(&table);
	if (table.root == PADDR_INVALID) {
		loader_error("out of memory for page tables");
		return EFI_OUT_OF_RESOURCES;
	}
	*pt = &table;
	return EFI_SUCCESS;
}

static void log_mapping(const char *what, vaddr_t va, paddr_t pa, uint64_t size)
{
	loader_debugf("mapped %s: %#lx -> %#lx, %lu KiB (%zu tables so far)", what,
		      (unsigned long)va, (unsigned long)pa, (unsigned long)(size / 1024),
		      tables_used);
}

/* Build the kernel's address space from plan; a failure names the mapping. */
EFI_STATUS paging_build(const struct bootmap_plan *plan)
{
	const char *what = "?";
	int err = bootmap_build(&table, plan, log_mapping, &what);

	if (err == -ENOMEM) {
		loader_error("out of memory for page tables (mapping %s)", what);
		return EFI_OUT_OF_RESOURCES;
	}
	if (err) {
		loader_error("cannot map %s (error %d)", what, err);
		return EFI_LOAD_ERROR;
	}
	return EFI_SUCCESS;
}
