/*
 * tests/string_kernel.S: the kernel's memset and memcpy, renamed for host
 * programs. Same contract as the C library's.
 */
#pragma once

#include <stddef.h>

void *kernel_memset(void *dst, int c, size_t n);
void *kernel_memcpy(void *dst, const void *src, size_t n);
