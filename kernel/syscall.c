/*
 * System calls (include/uapi/syscall.h): a table by number. Every user
 * pointer goes through include/kernel/uaccess.h; nothing returned holds a
 * kernel address. The calls that need address spaces and processes (wait,
 * fork, mmap, munmap, mprotect, spawn) answer -ENOSYS until they land.
 */
#include <kernel/console.h>
#include <kernel/syscall.h>
#include <kernel/thread.h>
#include <kernel/uaccess.h>
#include <kernel/user.h>
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
	kprintf("%s: %s\n", user_name(), l->text);
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
	user_exit((int)a[0]);
}

static long sys_yield(const uint64_t a[6])
{
	thread_yield();
	return 0;
}

static long sys_getpid(const uint64_t a[6])
{
	return (long)user_pid();
}

static long sys_sleep(const uint64_t a[6])
{
	thread_sleep_ms(a[0] < SLEEP_MAX ? a[0] : SLEEP_MAX);
	return 0;
}

static long (*const calls[SYS_COUNT])(const uint64_t a[6]) = {
    [SYS_EXIT] = sys_exit,     [SYS_WRITE] = sys_write, [SYS_YIELD] = sys_yield,
    [SYS_GETPID] = sys_getpid, [SYS_SLEEP] = sys_sleep,
};

long syscall_dispatch(uint64_t nr, const uint64_t args[6])
{
	if (nr >= SYS_COUNT || !calls[nr])
		return -ENOSYS;
	return calls[nr](args);
}
