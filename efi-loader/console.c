/*
 * Loader console: formats with lib/fmt and writes to the firmware's ConOut
 * (the screen, and the serial port on OVMF). Usable only before
 * ExitBootServices.
 */
#include "loader.h"

#include <lib/fmt.h>
#include <stdarg.h>

bool loader_debug;

/* Write an ASCII line to ConOut, turning \n into \r\n. */
static void con_write(const char *s)
{
	CHAR16 buf[128];
	size_t n = 0;

	if (!loader_st || !loader_st->ConOut)
		return;
	for (; *s; s++) {
		if (n + 3 >= ARRAY_SIZE(buf)) {
			buf[n] = 0;
			loader_st->ConOut->OutputString(loader_st->ConOut, buf);
			n = 0;
		}
		if (*s == '\n')
			buf[n++] = '\r';
		buf[n++] = (CHAR16)(unsigned char)*s;
	}
	buf[n] = 0;
	loader_st->ConOut->OutputString(loader_st->ConOut, buf);
}

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	char line[256];
	size_t n = fmt_snprintf(line, sizeof(line), "aerie-loader: %s", prefix);

	if (n < sizeof(line))
		fmt_vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	con_write(line);
	con_write("\n");
}

void loader_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void loader_debugf(const char *fmt, ...)
{
	va_list ap;
	if (!loader_debug)
		return;
	va_start(ap, fmt);
	vlog("debug: ", fmt, ap);
	va_end(ap);
}

void loader_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("warning: ", fmt, ap);
	va_end(ap);
}

void loader_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("error: ", fmt, ap);
	va_end(ap);
}
