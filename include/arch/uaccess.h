/*
 * Opening and closing the kernel's access to user pages around a copy
 * (SMAP on x86: STAC sets EFLAGS.AC, CLAC clears it). Only when SMAP is on:
 * STAC/CLAC fault as undefined opcodes on CPUs without SMAP. Keep the
 * window as short as the copy: a kernel access to user memory outside it
 * is a SMAP fault.
 */
#pragma once

#include <arch/mmu.h>

static inline void arch_user_access_begin(void)
{
	if (arch_mmu_features()->smap)
		__asm__ volatile("stac" ::: "memory");
}

static inline void arch_user_access_end(void)
{
	if (arch_mmu_features()->smap)
		__asm__ volatile("clac" ::: "memory");
}
