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

/* Six arguments: rdi, rsi, rdx, r10, r8, r9 (r10 for rcx, which syscall overwrites). */
static inline long syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
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

/* pid or -1 for any child; status (may be 0) gets its exit status. The pid, or -ECHILD. */
static inline long sys_wait(long pid, int *status)
{
	return syscall3(SYS_WAIT, pid, (long)status, 0);
}

/* The child's pid in the parent, 0 in the child; -ENOMEM or -EAGAIN. */
static inline long sys_fork(void)
{
	return syscall3(SYS_FORK, 0, 0, 0);
}

/* Start the shipped program name with arg as its one argument: its pid. */
static inline long sys_spawn(const char *name, u64 arg)
{
	return syscall3(SYS_SPAWN, (long)name, (long)arg, 0);
}

/* Anonymous demand-zero memory: its address (hint 0: anywhere), or a negative error. */
static inline long sys_mmap(u64 hint, u64 len, int prot)
{
	return syscall3(SYS_MMAP, (long)hint, (long)len, prot);
}

static inline long sys_munmap(u64 addr, u64 len)
{
	return syscall3(SYS_MUNMAP, (long)addr, (long)len, 0);
}

static inline long sys_mprotect(u64 addr, u64 len, int prot)
{
	return syscall3(SYS_MPROTECT, (long)addr, (long)len, prot);
}

__attribute__((noreturn)) void sys_exit(int status);

static inline u64 rdtsc(void)
{
	unsigned int lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
size_t ustrlen(const char *s);
/* printf for %s %c %d %u %x %ld %lu %lx (and %ll*): one write() per call. */
int uprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What the program defines: args are the words the spawner passed. */
int main(const u64 *args, u64 nargs);
/* The stack pointer the program started with: the top of its stack. */
extern u64 ustack_top;
