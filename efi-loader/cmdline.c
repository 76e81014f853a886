/*
 * The kernel command line: the first line of /aerie/cmdline, then any load
 * options the firmware or the UEFI shell passed to the loader.
 */
#include "loader.h"

#include <lib/cmdline.h>
#include <lib/string.h>

static EFI_GUID loaded_image_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
static EFI_GUID shell_parameters_guid = EFI_SHELL_PARAMETERS_PROTOCOL_GUID;

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
 * Copy UCS-2 text w (at most count characters, up to a NUL) to out as
 * ASCII. False if it is not printable ASCII.
 */
static bool ascii_from_ucs2(const CHAR16 *w, size_t count, char *out, size_t size, size_t *n)
{
	for (size_t i = 0; w && i < count && w[i]; i++) {
		if (w[i] < 0x20 || w[i] > 0x7e)
			return false;
		if (*n + 1 < size)
			out[(*n)++] = (char)w[i];
	}
	out[*n] = 0;
	return true;
}

/*
 * Started by the UEFI shell 2.x, the loader has the shell's parameters
 * protocol: Argv[0] is the program as typed ("loader.efi", "\EFI\BOOT\BOOTX64"),
 * the options follow. False if the protocol is absent.
 */
static bool read_shell_arguments(char *buf, size_t size, bool *cut)
{
	EFI_SHELL_PARAMETERS_PROTOCOL *sp;
	char arg[BOOT_CMDLINE_MAX];

	if (EFI_ERROR(
		loader_bs->HandleProtocol(loader_image, &shell_parameters_guid, (void **)&sp)))
		return false;
	for (UINTN i = 1; i < sp->Argc; i++) {
		size_t n = 0;
		if (ascii_from_ucs2(sp->Argv[i], SIZE_MAX, arg, sizeof(arg), &n))
			append(buf, size, arg, n, cut);
		else
			loader_warn("shell argument %lu is not plain text: ignored",
				    (unsigned long)i);
	}
	return true;
}

/*
 * Load options without the shell's protocol are UCS-2 text from an older
 * shell ("\EFI\BOOT\BOOTX64.EFI ktest") or opaque bytes from a boot
 * entry. Take them only if they are printable ASCII, and drop a leading
 * image path.
 */
static void read_load_options(char *buf, size_t size, bool *cut)
{
	EFI_LOADED_IMAGE *li;
	char opts[BOOT_CMDLINE_MAX];
	size_t n = 0;

	if (EFI_ERROR(loader_bs->HandleProtocol(loader_image, &loaded_image_guid, (void **)&li)))
		return;
	if (!ascii_from_ucs2(li->LoadOptions, li->LoadOptionsSize / sizeof(CHAR16), opts,
			     sizeof(opts), &n))
		return; /* not text: a boot entry's private data */
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
	if (!read_shell_arguments(buf, size, &cut))
		read_load_options(buf, size, &cut);
	if (cut)
		loader_warn("command line too long: cut to %zu bytes", size - 1);
}

/*
 * The value of name=N on cmdline as a decimal number from 0 to max, or dflt
 * if the option is absent or its value is not such a number.
 */
unsigned int loader_option_uint(const char *cmdline, const char *name, unsigned int max,
				unsigned int dflt)
{
	char value[8];
	unsigned int n = 0;
	int len = cmdline_get(cmdline, name, value, sizeof(value));

	if (len <= 0 || len > 6)
		return dflt;
	for (int i = 0; i < len; i++) {
		if (value[i] < '0' || value[i] > '9')
			return dflt;
		n = n * 10 + (unsigned int)(value[i] - '0');
	}
	return n <= max ? n : dflt;
}
