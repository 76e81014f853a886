/*
 * A small vsnprintf for the kernel and the loader (no floating point).
 * Conversions: %d %i %u %x %X %o %c %s %p %%, flags '-' '0' ' ' '+' '#',
 * a width and precision (numbers or '*'), length modifiers hh h l ll z t j.
 * %p prints 0x and 16 hex digits. A NULL %s prints "(null)".
 */
#pragma once

#include <lib/types.h>
#include <stdarg.h>

/*
 * Format into buf (size bytes, always NUL terminated when size > 0).
 * Returns the length the full output would have, like C's vsnprintf.
 */
int fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int fmt_snprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);
