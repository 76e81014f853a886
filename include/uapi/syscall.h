/*
 * The system call ABI, shared by the kernel and the user runtime (user/).
 * Nothing here includes a kernel header: user programs build against it.
 *
 * A call is the `syscall` instruction with the number in rax and up to six
 * arguments in rdi, rsi, rdx, r10, r8, r9 (r10 instead of rcx, which the
 * instruction overwrites). The result comes back in rax: a value >= 0, or
 * a negated error number (include/lib/errno.h: -EFAULT for a bad pointer,
 * -ENOMEM, -EINVAL, ...). rcx and r11 are clobbered; every other register
 * is preserved.
 */
#pragma once

enum {
	SYS_EXIT = 0,	  /* exit(status): never returns; wait sees status & 0xff */
	SYS_WRITE = 1,	  /* write(buf, len): to the console; bytes written */
	SYS_YIELD = 2,	  /* yield(): 0 */
	SYS_GETPID = 3,	  /* getpid(): the caller's process id */
	SYS_SLEEP = 4,	  /* sleep(ms): 0 */
	SYS_WAIT = 5,	  /* wait(pid or -1, int *status or 0): the pid that ended, -ECHILD */
	SYS_FORK = 6,	  /* fork(): child pid in the parent, 0 in the child */
	SYS_MMAP = 7,	  /* mmap(addr hint or 0, len, prot): anonymous, demand-zero */
	SYS_MUNMAP = 8,	  /* munmap(addr, len): 0 */
	SYS_MPROTECT = 9, /* mprotect(addr, len, prot): 0; write+exec refused */
	SYS_SPAWN = 10,	  /* spawn(name, arg): start a shipped program with one argument; its pid */
	SYS_COUNT
};

/* mmap / mprotect protections. PROT_WRITE | PROT_EXEC together: -EPERM. */
#define PROT_NONE  0
#define PROT_READ  1
#define PROT_WRITE 2
#define PROT_EXEC  4
