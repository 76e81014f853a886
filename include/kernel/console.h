/*
 * The kernel console: printf-style output to every console device (COM1 and
 * the GOP framebuffer), with log levels. Lines from klog start "aerie: ".
 */
#pragma once

#include <boot/boot_info.h>
#include <lib/types.h>
#include <stdarg.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void console_init(void);
/*
 * Add the screen as a second sink, if the loader handed over a framebuffer.
 * => boot_info accepted; bi->fb.virt is mapped (the loader's tables do).
 */
void console_screen_init(const struct boot_info *bi);

/* For tests: the screen's renderer (read only), or NULL if there is no screen. */
struct fbcon;
const struct fbcon *console_screen(void);
/* For tests: act as if a panic had interrupted a screen update. */
void console_screen_interrupt(void);
/* For crash=screen: the next screen update faults half-way (a NULL read). */
void console_screen_fault_next(void);
/* Take loglevel=error|warn|info|debug from the command line. */
void console_set_level(const char *cmdline);
bool console_level_enabled(enum log_level level);

/* Raw output, no prefix. */
void kprintf(const char *fmt, ...) __printf(1, 2);
void kvprintf(const char *fmt, va_list ap);

/*
 * Stop taking the console lock from now on: panic() calls it first, so a
 * panic raised while the lock is held (a fault inside kprintf) still prints.
 */
void console_break_lock(void);

/* One "aerie: " line at level (a newline is added). */
void klog(enum log_level level, const char *fmt, ...) __printf(2, 3);

#define kerror(...) klog(LOG_ERROR, __VA_ARGS__)
#define kwarn(...)  klog(LOG_WARN, __VA_ARGS__)
#define kinfo(...)  klog(LOG_INFO, __VA_ARGS__)
#define kdebug(...) klog(LOG_DEBUG, __VA_ARGS__)
