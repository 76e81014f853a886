/*
 * What the kernel needs from the firmware besides memory: the GOP
 * framebuffer and the ACPI RSDP.
 */
#include "loader.h"

#include <lib/string.h>

static EFI_GUID gop_guid = EFI_GRAPHICS_OUTPUT_PROTOCOL_GUID;
static EFI_GUID acpi20_guid = ACPI_20_TABLE_GUID;
static EFI_GUID acpi10_guid = ACPI_TABLE_GUID;

/*
 * Describe the current GOP mode in *fb. If it is unusable, format is
 * BOOT_FB_NONE and the return value says why; NULL if it is usable.
 */
const char *firmware_find_framebuffer(struct boot_fb *fb)
{
	EFI_GRAPHICS_OUTPUT_PROTOCOL *gop;

	memset(fb, 0, sizeof(*fb));
	if (EFI_ERROR(loader_bs->LocateProtocol(&gop_guid, NULL, (void **)&gop)) || !gop->Mode)
		return "no framebuffer (no GOP)";
	const EFI_GRAPHICS_OUTPUT_MODE_INFORMATION *info = gop->Mode->Info;
	if (info->PixelFormat == PixelRedGreenBlueReserved8BitPerColor)
		fb->format = BOOT_FB_RGBX;
	else if (info->PixelFormat == PixelBlueGreenRedReserved8BitPerColor)
		fb->format = BOOT_FB_BGRX;
	else if (info->PixelFormat == PixelBltOnly)
		return "no linear framebuffer (GOP mode is BltOnly)";
	else
		return "unsupported GOP pixel format (bit mask)";
	fb->phys = gop->Mode->FrameBufferBase;
	fb->size = gop->Mode->FrameBufferSize;
	fb->width = info->HorizontalResolution;
	fb->height = info->VerticalResolution;
	fb->pitch = info->PixelsPerScanLine * 4;
	return fb->size ? NULL : "the GOP framebuffer has size 0";
}

static bool guid_eq(const EFI_GUID *a, const EFI_GUID *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Find the RSDP in the configuration table, preferring ACPI 2.0+. */
void firmware_find_rsdp(struct boot_info *bi)
{
	bi->rsdp_phys = 0;
	bi->rsdp_revision = 0;
	for (UINTN i = 0; i < loader_st->NumberOfTableEntries; i++) {
		EFI_CONFIGURATION_TABLE *t = &loader_st->ConfigurationTable[i];
		if (guid_eq(&t->VendorGuid, &acpi20_guid)) {
			bi->rsdp_phys = (uint64_t)t->VendorTable;
			bi->rsdp_revision = 2;
			return;
		}
		if (guid_eq(&t->VendorGuid, &acpi10_guid) && !bi->rsdp_phys) {
			bi->rsdp_phys = (uint64_t)t->VendorTable;
			bi->rsdp_revision = 1;
		}
	}
}
