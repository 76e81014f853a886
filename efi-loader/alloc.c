/*
 * Page allocations that outlive the loader. Each one is recorded with the
 * memory-map type it should carry for the kernel (kernel image, page
 * tables, boot data), and the hand-off relabels the final firmware map
 * with them. Firmware-specific OEM memory types would do the same job but
 * are handled unevenly by real firmware, so the loader keeps its own list.
 */
#include "loader.h"

#include <mm/memmap.h>

static struct loader_alloc allocs[LOADER_MAX_ALLOCS];
static size_t nallocs;

bool loader_garbage;

/*
 * The firmware's AllocatePages; with `garbage` on the command line the
 * pages are filled with GARBAGE_BYTE first, as RAM that nobody zeroed
 * (some laptops hand out such pages), so nothing may rely on zeroed memory.
 */
EFI_STATUS loader_fw_pages(EFI_ALLOCATE_TYPE how, EFI_MEMORY_TYPE type, size_t pages,
			   EFI_PHYSICAL_ADDRESS *pa)
{
	EFI_STATUS st = loader_bs->AllocatePages(how, type, pages, pa);

	if (!EFI_ERROR(st) && loader_garbage)
		loader_bs->SetMem((void *)*pa, pages * PAGE_SIZE, GARBAGE_BYTE);
	return st;
}

/* The firmware's AllocatePool (EfiLoaderData), garbage-filled as above. */
EFI_STATUS loader_fw_pool(size_t bytes, void **p)
{
	EFI_STATUS st = loader_bs->AllocatePool(EfiLoaderData, bytes, p);

	if (!EFI_ERROR(st) && loader_garbage)
		loader_bs->SetMem(*p, bytes, GARBAGE_BYTE);
	return st;
}

/*
 * Zero and record pages the firmware already allocated (as EfiLoaderData)
 * so the hand-off labels them memmap_type. Returns pa, or PADDR_INVALID
 * (pages freed) if the list is full.
 */
paddr_t loader_record_pages(paddr_t pa, size_t pages, uint32_t memmap_type)
{
	if (nallocs == LOADER_MAX_ALLOCS) {
		loader_bs->FreePages(pa, pages);
		return PADDR_INVALID;
	}
	loader_bs->SetMem((void *)pa, pages * PAGE_SIZE, 0);
	allocs[nallocs++] = (struct loader_alloc){pa, pages * PAGE_SIZE, memmap_type};
	return pa;
}

/* Allocate zeroed pages labelled memmap_type. Returns PADDR_INVALID on failure. */
paddr_t loader_alloc_pages(size_t pages, uint32_t memmap_type)
{
	EFI_PHYSICAL_ADDRESS pa = 0;

	if (pages == 0 || EFI_ERROR(loader_fw_pages(AllocateAnyPages, EfiLoaderData, pages, &pa)))
		return PADDR_INVALID;
	return loader_record_pages(pa, pages, memmap_type);
}

/* Free pages from loader_alloc_pages and forget their label. */
void loader_free_pages(paddr_t pa, size_t pages)
{
	for (size_t i = 0; i < nallocs; i++) {
		if (allocs[i].base == pa) {
			allocs[i] = allocs[--nallocs];
			break;
		}
	}
	loader_bs->FreePages(pa, pages);
}

void loader_free_all(void)
{
	while (nallocs > 0) {
		const struct loader_alloc *a = &allocs[--nallocs];
		loader_bs->FreePages(a->base, a->size / PAGE_SIZE);
	}
}

const struct loader_alloc *loader_allocations(size_t *count)
{
	*count = nallocs;
	return allocs;
}
