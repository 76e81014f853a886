/*
 * The kernel console: formats with lib/fmt and writes to COM1. The
 * framebuffer console will be a second sink here.
 */
#include <arch/arch.h>
#include <kernel/console.h>
#include <lib/cmdline.h>
#include <lib/fmt.h>
#include <lib/string.h>

static enum log_level level = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void console_init(void)
{
	arch_serial_init();
}

void console_set_level(const char *cmdline)
{
	char want[16];

	if (cmdline_get(cmdline, "loglevel", want, sizeof(want)) <= 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcmp(want, level_names[i]) == 0) {
			level = (enum log_level)i;
			return;
		}
	}
	kwarn("unknown loglevel \"%s\": keeping \"%s\"", want, level_names[level]);
}

bool console_level_enabled(enum log_level l)
{
	return l <= level;
}

void kvprintf(const char *fmt, va_list ap)
{
	char buf[256];
	int n = fmt_vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n >= (int)sizeof(buf)) {
		n = sizeof(buf) - 1;
		buf[n - 1] = '\n'; /* keep the line break of a cut line */
	}
	if (n > 0)
		arch_serial_write(buf, (size_t)n);
}

void kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

void klog(enum log_level l, const char *fmt, ...)
{
	static const char *const prefix[] = {"error: ", "warning: ", "", ""};
	va_list ap;

	if (!console_level_enabled(l))
		return;
	kprintf("aerie: %s", prefix[l]);
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
}
