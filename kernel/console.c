/*
 * The kernel console: formats with lib/fmt and writes to COM1. The
 * framebuffer console will be a second sink here.
 *
 * Threads and interrupt handlers print at any time: each kprintf and each
 * klog line is written whole under one IRQ-safe lock, so lines from
 * different threads never interleave (tests parse them). panic() breaks
 * the lock first, so a panic raised while it is held still prints.
 */
#include <arch/arch.h>
#include <kernel/console.h>
#include <lib/cmdline.h>
#include <lib/fmt.h>
#include <lib/spinlock.h>
#include <lib/string.h>

#define LINE_MAX 320 /* longer output is cut, keeping its line break */

static enum log_level level = LOG_INFO;
static struct spinlock console_lock = SPINLOCK_INIT;
static volatile bool lock_broken;

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

void console_break_lock(void)
{
	lock_broken = true;
}

/* Write n bytes at once: no other kprintf lands inside them. */
static void console_write(const char *s, size_t n)
{
	unsigned long irq;

	if (n == 0)
		return;
	if (lock_broken) {
		arch_serial_write(s, n);
		return;
	}
	irq = spin_lock_irqsave(&console_lock);
	arch_serial_write(s, n);
	spin_unlock_irqrestore(&console_lock, irq);
}

/* Format into buf after its first used bytes; returns the new length, cut to fit. */
static size_t format_into(char *buf, size_t used, const char *fmt, va_list ap)
{
	int n = fmt_vsnprintf(buf + used, LINE_MAX - used, fmt, ap);

	if (n < 0)
		return used;
	if (used + (size_t)n >= LINE_MAX) {
		buf[LINE_MAX - 2] = '\n'; /* keep the line break of a cut line */
		return LINE_MAX - 1;
	}
	return used + (size_t)n;
}

void kvprintf(const char *fmt, va_list ap)
{
	char buf[LINE_MAX];

	console_write(buf, format_into(buf, 0, fmt, ap));
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
	char buf[LINE_MAX];
	size_t used;
	va_list ap;

	if (!console_level_enabled(l))
		return;
	used = (size_t)fmt_snprintf(buf, LINE_MAX, "aerie: %s", prefix[l]);
	va_start(ap, fmt);
	used = format_into(buf, used, fmt, ap);
	va_end(ap);
	if (used < LINE_MAX - 1)
		buf[used++] = '\n';
	else
		buf[LINE_MAX - 2] = '\n';
	console_write(buf, used);
}
