/*
 * The user runtime (user/ulib.c): system-call wrappers for
 * include/uapi/syscall.h, a few string helpers and a small printf.
 * Freestanding: no libc, no headers outside include/uapi and lib/errno.h.
 */
#pragma once

#include <lib/errno.h>
#include <uapi/syscall.h>

typedef unsigned long u64;
typedef __SIZE_TYPE__ size_t;

static inline long syscall3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long sys_write(const void *buf, size_t len)
{
	return syscall3(SYS_WRITE, (long)buf, (long)len, 0);
}

static inline long sys_getpid(void)
{
	return syscall3(SYS_GETPID, 0, 0, 0);
}

static inline long sys_yield(void)
{
	return syscall3(SYS_YIELD, 0, 0, 0);
}

static inline long sys_sleep(u64 ms)
{
	return syscall3(SYS_SLEEP, (long)ms, 0, 0);
}

__attribute__((noreturn)) void sys_exit(int status);

static inline u64 rdtsc(void)
{
	unsigned int lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

size_t ustrlen(const char *s);
/* printf for %s %c %d %u %x %ld %lu %lx (and %ll*): one write() per call. */
int uprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What the program defines: args are the words the spawner passed. */
int main(const u64 *args, u64 nargs);
/* The stack pointer the program started with: the top of its stack. */
extern u64 ustack_top;
