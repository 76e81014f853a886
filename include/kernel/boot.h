/* The boot_info the loader passed, checked, and the boot summary. */
#pragma once

#include <boot/boot_info.h>

/* The checked boot_info; valid after boot_info_accept(). */
extern const struct boot_info *boot_info;

/* Check magic, version, size and the memory map; panic on any mismatch. */
void boot_info_accept(const struct boot_info *bi);

/* Print memory totals (and, at loglevel=debug, the layout). */
void boot_summary(void);
