/*
 * Command-line options: space-separated words, each `name` or `name=value`.
 * Portable C: the loader and the kernel share it.
 */
#pragma once

#include <lib/types.h>

/* True if the option name appears, with or without a value. */
bool cmdline_has(const char *cmdline, const char *name);

/*
 * Copy the value of the first `name=value` into buf (size bytes, NUL
 * terminated). Returns the value's length, 0 for a bare `name`, or -1 if
 * the option is absent. A value longer than size - 1 is cut short.
 */
int cmdline_get(const char *cmdline, const char *name, char *buf, size_t size);

/*
 * Call fn(name, namelen, ctx) for each option whose name is not in the
 * NULL-terminated list known[]. Returns how many such options there were.
 */
int cmdline_unknown(const char *cmdline, const char *const *known,
		    void (*fn)(const char *name, size_t len, void *ctx), void *ctx);
