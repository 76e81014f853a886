/*
 * The kernel command line: the first line of /aerie/cmdline, then any load
 * options the firmware or the UEFI shell passed to the loader.
 */
#include "loader.h"

#include <lib/string.h>

static EFI_GUID loaded_image_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;

/* Append the n characters at s to buf (size bytes), space separated. */
static void append(char *buf, size_t size, const char *s, size_t n, bool *cut)
{
	size_t len = strlen(buf);

	if (n == 0)
		return;
	if (len > 0 && len + 1 < size)
		buf[len++] = ' ';
	if (len + n >= size) {
		*cut = true;
		n = size - 1 - len;
	}
	memcpy(buf + len, s, n);
	buf[len + n] = 0;
}

/* The first line of /aerie/cmdline, appended to buf. */
static void read_file_line(char *buf, size_t size, bool *cut)
{
	paddr_t pa;
	size_t len, n = 0;
	EFI_STATUS st = file_read(L"\\aerie\\cmdline", MEMMAP_LOADER, &pa, &len);

	if (st == EFI_NOT_FOUND || (!EFI_ERROR(st) && len == 0))
		return;
	if (EFI_ERROR(st)) {
		loader_warn("cannot read /aerie/cmdline (EFI status %lu)", (unsigned long)st);
		return;
	}
	const char *text = (const char *)pa;
	while (n < len && text[n] != '\n' && text[n] != '\r' && text[n] != 0)
		n++;
	append(buf, size, text, n, cut);
	loader_free_pages(pa, ALIGN_UP(len, PAGE_SIZE) / PAGE_SIZE);
}

static bool ends_with_efi(const char *s, size_t n)
{
	static const char ext[] = ".efi";

	if (n < 4)
		return false;
	for (size_t i = 0; i < 4; i++) {
		char c = s[n - 4 + i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != ext[i])
			return false;
	}
	return true;
}

/*
 * Load options are UCS-2 text from the shell ("\EFI\BOOT\BOOTX64.EFI ktest")
 * or opaque bytes from a boot entry. Take them only if they are printable
 * ASCII, and drop a leading image path.
 */
static void read_load_options(char *buf, size_t size, bool *cut)
{
	EFI_LOADED_IMAGE *li;
	char opts[BOOT_CMDLINE_MAX];
	size_t n = 0;

	if (EFI_ERROR(loader_bs->HandleProtocol(loader_image, &loaded_image_guid, (void **)&li)))
		return;
	const CHAR16 *w = li->LoadOptions;
	size_t count = li->LoadOptionsSize / sizeof(CHAR16);
	for (size_t i = 0; w && i < count && w[i]; i++) {
		if (w[i] < 0x20 || w[i] > 0x7e)
			return; /* not text: a boot entry's private data */
		if (n + 1 < sizeof(opts))
			opts[n++] = (char)w[i];
	}
	opts[n] = 0;
	const char *s = opts;
	size_t first = 0;
	while (s[first] && s[first] != ' ')
		first++;
	if (ends_with_efi(s, first))
		s += first;
	while (*s == ' ')
		s++;
	append(buf, size, s, strlen(s), cut);
}

void loader_cmdline_read(char *buf, size_t size)
{
	bool cut = false;

	buf[0] = 0;
	read_file_line(buf, size, &cut);
	read_load_options(buf, size, &cut);
	if (cut)
		loader_warn("command line too long: cut to %zu bytes", size - 1);
}
