/*
 * The kernel console: formats with lib/fmt and writes every line to COM1
 * (if there is one) and to the screen (lib/fbcon.c over the loader's GOP
 * framebuffer, if there is one), coloured by log level.
 *
 * Threads and interrupt handlers print at any time: each kprintf and each
 * klog line is written whole under one IRQ-safe lock, so lines from
 * different threads never interleave (tests parse them). panic() breaks
 * the lock first, so a panic raised while it is held still prints. The
 * screen takes no lock of its own: a line that finds a screen update
 * interrupted (a panic from inside it) redraws the whole screen, and one
 * that finds two (the redraw faulted too) leaves the screen alone.
 */
#include <arch/arch.h>
#include <kernel/console.h>
#include <lib/cmdline.h>
#include <lib/fbcon.h>
#include <lib/fmt.h>
#include <lib/spinlock.h>
#include <lib/string.h>

#define LINE_MAX 320 /* longer output is cut, keeping its line break */

static enum log_level level = LOG_INFO;
static struct spinlock console_lock = SPINLOCK_INIT_NAMED("console_lock");
static volatile bool lock_broken;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* The screen: text for at most SCREEN_COLS x SCREEN_ROWS cells, in .bss. */
#define SCREEN_COLS 320
#define SCREEN_ROWS 128
static struct fbcon screen;
static struct fbcon_cell screen_text[SCREEN_COLS * SCREEN_ROWS];
static struct fbcon_cell screen_shown[SCREEN_COLS * SCREEN_ROWS];
static bool screen_on;
/* An update is under way; found set on entry, it was interrupted (by a panic). */
static volatile bool screen_busy;
static volatile bool screen_recovering; /* redrawing after an interrupted update */
static volatile bool screen_dead;	/* the redraw was interrupted too: give up */
static volatile bool screen_fault_next; /* crash=screen: fault inside the next update */

static const uint8_t level_attr[] = {
    FBCON_ATTR(FBCON_RED + 8, FBCON_BLACK),    /* error: bright red */
    FBCON_ATTR(FBCON_YELLOW + 8, FBCON_BLACK), /* warning: bright yellow */
    FBCON_ATTR_DEFAULT,
    FBCON_ATTR_DEFAULT,
};

void console_init(void)
{
	arch_serial_init();
}

void console_screen_init(const struct boot_info *bi)
{
	const struct boot_fb *fb = &bi->fb;
	struct fbcon_format format = {fb->red_mask, fb->green_mask, fb->blue_mask,
				      fb->bytes_per_pixel};
	uint32_t cols, rows;

	if (fb->virt == 0 || fb->format == BOOT_FB_NONE)
		return; /* fbcon_init() refuses masks it cannot draw */
	fbcon_geometry(fb->width, fb->height, &cols, &rows);
	cols = MIN(cols, SCREEN_COLS);
	rows = MIN(rows, SCREEN_ROWS);
	if ((uint64_t)fb->pitch * fb->height > fb->size ||
	    fbcon_init(&screen, (void *)fb->virt, fb->width, fb->height, fb->pitch, &format,
		       screen_text, screen_shown, cols, rows)) {
		kwarn("screen: cannot draw on the %ux%u framebuffer: serial only", fb->width,
		      fb->height);
		return;
	}
	fbcon_clear_margins(&screen); /* the firmware's text may be there */
	screen_on = true;
	kinfo("screen: %ux%u text cells on the %ux%u framebuffer", cols, rows, fb->width,
	      fb->height);
}

/* crash=screen: a NULL read in the middle of a screen update (text stored, not drawn). */
static __attribute__((noinline)) void screen_injected_fault(void)
{
	volatile const int *p = NULL;

	screen_fault_next = false;
	(void)*p;
}

/*
 * Show n bytes on the screen in colour attr. Called with the lock held or
 * broken (a panic), so the only way in while an update runs is a panic
 * from inside it (a fault, NMI or #DF): the screen is then in an unknown
 * state, and the next update redraws all of it. If that redraw is
 * interrupted too, the screen is given up (serial goes on).
 */
static void screen_write(const char *s, size_t n, uint8_t attr)
{
	if (!screen_on || screen_dead)
		return;
	if (screen_busy) {
		if (screen_recovering) {
			screen_dead = true;
			return;
		}
		screen_recovering = true;
		fbcon_invalidate(&screen);
	}
	screen_busy = true;
	fbcon_set_attr(&screen, attr);
	fbcon_write(&screen, s, n);
	if (screen_fault_next)
		screen_injected_fault();
	fbcon_flush(&screen);
	screen_busy = false;
	screen_recovering = false;
}

const struct fbcon *console_screen(void)
{
	return screen_on && !screen_dead ? &screen : NULL;
}

void console_screen_interrupt(void)
{
	screen_busy = true;
}

void console_screen_fault_next(void)
{
	screen_fault_next = true;
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

/* Write n bytes at once, in colour attr on screen: no other kprintf lands inside them. */
static void console_write(const char *s, size_t n, uint8_t attr)
{
	unsigned long irq;

	if (n == 0)
		return;
	if (lock_broken) { /* a panic: its report is red on screen */
		arch_serial_write(s, n);
		screen_write(s, n, attr == FBCON_ATTR_DEFAULT ? level_attr[LOG_ERROR] : attr);
		return;
	}
	irq = spin_lock_irqsave(&console_lock);
	arch_serial_write(s, n);
	screen_write(s, n, attr);
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

	console_write(buf, format_into(buf, 0, fmt, ap), FBCON_ATTR_DEFAULT);
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
	console_write(buf, used, level_attr[l]);
}
