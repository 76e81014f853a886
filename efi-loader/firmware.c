/*
 * What the kernel needs from the firmware besides memory: the GOP
 * framebuffer and the ACPI RSDP.
 */
#include "loader.h"

#include <lib/string.h>

static EFI_GUID gop_guid = EFI_GRAPHICS_OUTPUT_PROTOCOL_GUID;
static EFI_GUID acpi20_guid = ACPI_20_TABLE_GUID;
static EFI_GUID acpi10_guid = ACPI_TABLE_GUID;

/* Bytes a pixel takes whose channels use the bits in mask: 2, 3, 4, or 0 if none fits. */
static uint32_t pixel_bytes(uint32_t mask)
{
	uint32_t bits = 0;

	while (bits < 32 && (mask >> bits))
		bits++;
	return bits > 8 ? (bits + 7) / 8 : 0;
}

/* The masks of a PixelBitMask mode, or why they cannot be drawn. */
static const char *bitmask_format(const EFI_PIXEL_BITMASK *m, struct boot_fb *fb)
{
	uint32_t r = m->RedMask, g = m->GreenMask, b = m->BlueMask;

	if (!r || !g || !b || (r & g) || (r & b) || (g & b))
		return "unusable GOP bit-mask format (a channel is missing or they overlap)";
	fb->bytes_per_pixel = pixel_bytes(r | g | b | m->ReservedMask);
	if (!fb->bytes_per_pixel)
		return "unusable GOP bit-mask format (fewer than 9 bits a pixel)";
	fb->format = BOOT_FB_BITMASK;
	fb->red_mask = r;
	fb->green_mask = g;
	fb->blue_mask = b;
	return NULL;
}

/*
 * Describe the current GOP mode in *fb: RGBX, BGRX, or any bit-mask layout
 * at 16, 24 or 32 bits a pixel. If it is unusable, format is BOOT_FB_NONE
 * and the return value says why; NULL if it is usable.
 */
const char *firmware_find_framebuffer(struct boot_fb *fb)
{
	EFI_GRAPHICS_OUTPUT_PROTOCOL *gop;
	const char *why = NULL;

	memset(fb, 0, sizeof(*fb));
	if (EFI_ERROR(loader_bs->LocateProtocol(&gop_guid, NULL, (void **)&gop)) || !gop->Mode)
		return "no framebuffer (no GOP)";
	const EFI_GRAPHICS_OUTPUT_MODE_INFORMATION *info = gop->Mode->Info;
	if (info->PixelFormat == PixelRedGreenBlueReserved8BitPerColor)
		*fb = (struct boot_fb){.format = BOOT_FB_RGBX,
				       .red_mask = 0xff,
				       .green_mask = 0xff00,
				       .blue_mask = 0xff0000,
				       .bytes_per_pixel = 4};
	else if (info->PixelFormat == PixelBlueGreenRedReserved8BitPerColor)
		*fb = (struct boot_fb){.format = BOOT_FB_BGRX,
				       .red_mask = 0xff0000,
				       .green_mask = 0xff00,
				       .blue_mask = 0xff,
				       .bytes_per_pixel = 4};
	else if (info->PixelFormat == PixelBitMask)
		why = bitmask_format(&info->PixelInformation, fb);
	else
		why = "no linear framebuffer (GOP mode is BltOnly)";
	if (why) {
		memset(fb, 0, sizeof(*fb));
		return why;
	}
	fb->phys = gop->Mode->FrameBufferBase;
	fb->size = gop->Mode->FrameBufferSize;
	fb->width = info->HorizontalResolution;
	fb->height = info->VerticalResolution;
	fb->pitch = info->PixelsPerScanLine * fb->bytes_per_pixel;
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
