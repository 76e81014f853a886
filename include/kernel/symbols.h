/* Kernel symbol lookup for backtraces, from the ELF file the loader kept. */
#pragma once

#include <boot/boot_info.h>
#include <lib/types.h>

void symbols_init(const struct boot_info *bi);

/* Write "name+0xoff" for addr into buf; false (and "?") if unknown. */
bool symbols_lookup(uint64_t addr, char *buf, size_t size);
