/*
 * The cases of the process test program user/uproc.c, shared with the
 * kernel side that runs them (kernel/process_test.c): args[0] is the case,
 * args[1] its parameter. A uproc spawned by another uproc gets one word
 * instead: an address (page aligned, above UP_CASE_MAX) plus a UP_TOUCH_*
 * mode in its low bits, and touches it (it must be killed).
 */
#pragma once

enum {
	UP_FORK = 1,	      /* fork, getpid, wait basics and -ECHILD; 0 */
	UP_COW = 2,	      /* stack, data, bss and mmap pages after fork; 0 */
	UP_COW_MPROTECT = 3,  /* the child re-protects a shared page and writes; 0 */
	UP_COW_SYSCALL = 4,   /* wait() writes a shared page: the sharing breaks first; 0 */
	UP_MMAP = 5,	      /* mmap/munmap/mprotect results; 0 */
	UP_MUNMAP_TOUCH = 6,  /* touches an unmapped page; must be killed */
	UP_RDONLY_WRITE = 7,  /* writes a page made read-only; must be killed */
	UP_ISOLATION = 8,     /* args[1]: UP_TOUCH_*; a spawned uproc touches our page; 0 */
	UP_EFAULT = 9,	      /* wait's status and spawn's name, bad pointers; 0 */
	UP_FORK_BOMB = 10,    /* forks a chain until fork fails: UP_BOMB_* */
	UP_OOM_TOUCH = 11,    /* args[1]: pages to map and touch; must be killed */
	UP_BENCH = 12,	      /* prints fault, fork and spawn timings; 0 */
	UP_CASE_MAX = 0x1000, /* a spawned toucher's word is above this */
};

enum { UP_TOUCH_READ, UP_TOUCH_WRITE, UP_TOUCH_EXEC };

/* The fork bomb's status: how the deepest fork failed. */
enum {
	UP_BOMB_EAGAIN = 1,
	UP_BOMB_ENOMEM = 2,
	UP_BOMB_OTHER = 3,  /* another error */
	UP_BOMB_KILLED = 4, /* a process of the chain was killed */
};

#define UP_SURVIVED 99 /* a case that should have been killed returned */
#define UP_BAD_CASE 98
#define UP_SECRET   0x5ec7e75ec7e75ec7ull
#define UP_KILLED   256 /* wait's status for a killed process (PROCESS_KILLED) */
