/*
 * The machine side of user access (include/kernel/uaccess.h): open and
 * close the window in which the kernel may touch user pages (SMAP's
 * RFLAGS.AC on x86-64), and the copy primitives whose faults the
 * exception-fixup table turns into -EFAULT (arch/x86_64/uaccess.S).
 * Kept trivial and static inline: STAC/CLAC only when SMAP is on (they
 * are invalid opcodes on a CPU without it).
 */
#pragma once

#include <lib/types.h>

/* Set by the MMU setup when CR4.SMAP is on (arch/x86_64/mmu.c reads the features). */
extern bool arch_smap_on;

static inline void arch_user_access_begin(void)
{
	if (arch_smap_on)
		__asm__ volatile("stac" ::: "memory");
}

static inline void arch_user_access_end(void)
{
	if (arch_smap_on)
		__asm__ volatile("clac" ::: "memory");
}

/*
 * Copy n bytes from src to dst, one of them user memory, inside an open
 * window. 0, or -EFAULT if an access faulted (part may have been copied).
 */
int arch_copy_user(void *dst, const void *src, size_t n);

/*
 * Copy a NUL-terminated string of at most max bytes (with the NUL) from
 * user src to dst. The length without the NUL, max if no NUL came within
 * max bytes, or -EFAULT.
 */
long arch_strncpy_user(char *dst, const char *src, size_t max);
