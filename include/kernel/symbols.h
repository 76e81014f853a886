/* Kernel symbol lookup for backtraces, from the ELF file the loader kept. */
#pragma once

#include <boot/boot_info.h>
#include <lib/types.h>

void symbols_init(const struct boot_info *bi);

/*
 * Write "name+0xoff" for addr into buf and return true; false if no symbol
 * names it, writing "kernel+0xoff" (its link address) for an address in the
 * image when the kernel file has no usable symbols, else "?".
 */
bool symbols_lookup(uint64_t addr, char *buf, size_t size);
