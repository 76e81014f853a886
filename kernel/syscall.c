/*
 * System calls (include/uapi/syscall.h): a table by number, the console
 * and process calls here, the memory ones in kernel/syscall_mm.c. Every
 * user pointer goes through include/kernel/uaccess.h; nothing returned
 * holds a kernel address.
 */
#include <kernel/console.h>
#include <kernel/process.h>
#include <kernel/syscall.h>
#include <kernel/thread.h>
#include <kernel/uaccess.h>
#include "syscall_internal.h"
#include <lib/errno.h>
#include <uapi/syscall.h>

#define WRITE_MAX   4096 /* bytes one write() takes; the rest is a short write */
#define WRITE_CHUNK 256	 /* copied from user memory at a time */
#define LINE_LEN    120	 /* a console line's text, without the prefix */
#define SLEEP_MAX   60000

struct line {
	char text[LINE_LEN + 1];
	size_t len;
};

/* Print the line with the program's name in front: "hello: text". */
static void line_flush(struct line *l)
{
	if (!l->len)
		return;
	l->text[l->len] = 0;
	kprintf("%s: %s\n", process_current()->name, l->text);
	l->len = 0;
}

static void line_add(struct line *l, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' || l->len == LINE_LEN)
			line_flush(l);
		if (s[i] != '\n')
			l->text[l->len++] = s[i] ? s[i] : ' ';
	}
}

static long sys_write(const uint64_t a[6])
{
	vaddr_t buf = a[0];
	size_t len = a[1] < WRITE_MAX ? a[1] : WRITE_MAX;
	char chunk[WRITE_CHUNK];
	struct line l = {.len = 0};

	if (!user_range_ok(buf, len))
		return -EFAULT;
	for (size_t done = 0; done < len;) {
		size_t n = len - done < WRITE_CHUNK ? len - done : WRITE_CHUNK;

		if (copy_from_user(chunk, buf + done, n)) {
			line_flush(&l);
			return -EFAULT;
		}
		line_add(&l, chunk, n);
		done += n;
	}
	line_flush(&l);
	return (long)len;
}

static long sys_exit(const uint64_t a[6])
{
	process_exit((int)(a[0] & 0xff));
}

static long sys_yield(const uint64_t a[6])
{
	thread_yield();
	return 0;
}

static long sys_getpid(const uint64_t a[6])
{
	return (long)process_current()->pid;
}

static long sys_sleep(const uint64_t a[6])
{
	thread_sleep_ms(a[0] < SLEEP_MAX ? a[0] : SLEEP_MAX);
	return 0;
}

/* Copy a child's status to the user's int at *uaddr (a vaddr_t), if one was given (not 0). */
static int status_to_user(int status, void *uaddr)
{
	vaddr_t va = *(const vaddr_t *)uaddr;

	return va && copy_to_user(va, &status, sizeof(status)) ? -EFAULT : 0;
}

/*
 * wait(pid, status): the status (an int, or 0 for none) is written before
 * the child is collected, so a bad pointer is -EFAULT with the child left
 * to wait for. Written once the child has ended, so a copy-on-write page
 * it shared is usually the parent's alone by then (no copy).
 */
static long sys_wait(const uint64_t a[6])
{
	vaddr_t status = a[1]; /* a user address: handed over as one, never as a kernel pointer */

	return process_wait_deliver(process_current(), (int64_t)a[0], status_to_user, &status);
}

static long sys_fork(const uint64_t a[6])
{
	return process_fork();
}

/* spawn(name, arg): the program gets arg as its one argument word. */
static long sys_spawn(const uint64_t a[6])
{
	char name[PROCESS_NAME_LEN];
	long len = strncpy_from_user(name, a[0], sizeof(name));
	struct process *p;
	int err;

	if (len == -E2BIG)
		return -ENAMETOOLONG;
	if (len < 0)
		return len;
	err = process_spawn(name, &a[1], 1, process_current(), &p);
	return err ? err : (long)p->pid;
}

static long (*const calls[SYS_COUNT])(const uint64_t a[6]) = {
    [SYS_EXIT] = sys_exit,	   [SYS_WRITE] = sys_write, [SYS_YIELD] = sys_yield,
    [SYS_GETPID] = sys_getpid,	   [SYS_SLEEP] = sys_sleep, [SYS_WAIT] = sys_wait,
    [SYS_FORK] = sys_fork,	   [SYS_MMAP] = sys_mmap,   [SYS_MUNMAP] = sys_munmap,
    [SYS_MPROTECT] = sys_mprotect, [SYS_SPAWN] = sys_spawn,
};

long syscall_dispatch(uint64_t nr, const uint64_t args[6])
{
	if (nr >= SYS_COUNT || !calls[nr])
		return -ENOSYS;
	return calls[nr](args);
}
