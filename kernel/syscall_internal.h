/* The system calls kernel/syscall.c's table holds from other files. */
#pragma once

#include <lib/types.h>

long sys_mmap(const uint64_t a[6]);
long sys_munmap(const uint64_t a[6]);
long sys_mprotect(const uint64_t a[6]);
