/*
 * Access to user memory from the kernel (kernel/uaccess.c). Every pointer
 * a system call receives goes through these: the range is checked against
 * the user window [LAYOUT_USER_START, LAYOUT_USER_END) without overflow
 * (n = 0 is fine anywhere; a wrapping or non-canonical range is refused),
 * user access is enabled (STAC) only around the copy, and a fault inside
 * it becomes -EFAULT through the exception-fixup table, never a panic.
 * A kernel access to user memory anywhere else is a SMAP fault.
 */
#pragma once

#include <lib/types.h>

/* True if [uaddr, uaddr + n) lies inside the user window (n = 0: true). */
bool user_range_ok(vaddr_t uaddr, size_t n);

/* 0, or -EFAULT (bad range or a fault: part of dst may have been written). */
int copy_from_user(void *dst, vaddr_t usrc, size_t n);
int copy_to_user(vaddr_t udst, const void *src, size_t n);

/*
 * Copy the NUL-terminated user string at usrc into dst (max bytes with
 * the NUL). Its length, -EFAULT, or -E2BIG if no NUL came within max.
 * => max >= 1.
 */
long strncpy_from_user(char *dst, vaddr_t usrc, size_t max);
