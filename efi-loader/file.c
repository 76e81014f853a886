/*
 * Reading files from the volume the loader itself was loaded from.
 */
#include "loader.h"

static EFI_GUID loaded_image_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
static EFI_GUID simple_fs_guid = EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID;
static EFI_GUID file_info_guid = EFI_FILE_INFO_ID;

/* The root directory of our own volume, opened once. */
static EFI_FILE_HANDLE cached;

static EFI_STATUS open_root(EFI_FILE_HANDLE *root)
{
	EFI_LOADED_IMAGE *li;
	EFI_SIMPLE_FILE_SYSTEM_PROTOCOL *fs;
	EFI_STATUS st;

	if (cached) {
		*root = cached;
		return EFI_SUCCESS;
	}
	st = loader_bs->HandleProtocol(loader_image, &loaded_image_guid, (void **)&li);
	if (EFI_ERROR(st))
		return st;
	st = loader_bs->HandleProtocol(li->DeviceHandle, &simple_fs_guid, (void **)&fs);
	if (EFI_ERROR(st))
		return st;
	st = fs->OpenVolume(fs, &cached);
	if (EFI_ERROR(st))
		cached = NULL;
	*root = cached;
	return st;
}

void file_close_root(void)
{
	if (cached)
		cached->Close(cached);
	cached = NULL;
}

/* The file's size from EFI_FILE_INFO. */
static EFI_STATUS file_size(EFI_FILE_HANDLE f, uint64_t *size)
{
	union {
		EFI_FILE_INFO info;
		char raw[sizeof(EFI_FILE_INFO) + 256 * sizeof(CHAR16)];
	} u;
	UINTN len = sizeof(u);
	EFI_STATUS st = f->GetInfo(f, &file_info_guid, &len, &u);

	if (!EFI_ERROR(st))
		*size = u.info.FileSize;
	return st;
}

/* Read all of f into pages at pa; a short read is an error. */
static EFI_STATUS read_all(EFI_FILE_HANDLE f, paddr_t pa, uint64_t size)
{
	uint64_t done = 0;

	while (done < size) {
		UINTN chunk = size - done;
		EFI_STATUS st = f->Read(f, &chunk, (char *)pa + done);
		if (EFI_ERROR(st))
			return st;
		if (chunk == 0)
			return EFI_END_OF_FILE;
		done += chunk;
	}
	return EFI_SUCCESS;
}

/*
 * Read the file at path (e.g. L"\\aerie\\kernel.elf") into fresh pages
 * labelled memmap_type. An empty file is returned as size 0 with no pages.
 * Returns EFI_NOT_FOUND if it does not exist, or another EFI error.
 */
EFI_STATUS file_read(const CHAR16 *path, uint32_t memmap_type, paddr_t *pa, size_t *size)
{
	EFI_FILE_HANDLE root, f;
	uint64_t len = 0;
	EFI_STATUS st = open_root(&root);

	*pa = PADDR_INVALID;
	*size = 0;
	if (EFI_ERROR(st))
		return st;
	st = root->Open(root, &f, (CHAR16 *)path, EFI_FILE_MODE_READ, 0);
	if (EFI_ERROR(st))
		return st;
	st = file_size(f, &len);
	if (!EFI_ERROR(st) && len > 0) {
		size_t pages = ALIGN_UP(len, PAGE_SIZE) / PAGE_SIZE;
		*pa = loader_alloc_pages(pages, memmap_type);
		if (*pa == PADDR_INVALID)
			st = EFI_OUT_OF_RESOURCES;
		else
			st = read_all(f, *pa, len);
		if (EFI_ERROR(st) && *pa != PADDR_INVALID) {
			loader_free_pages(*pa, pages);
			*pa = PADDR_INVALID;
		}
	}
	f->Close(f);
	if (!EFI_ERROR(st))
		*size = len;
	return st;
}
