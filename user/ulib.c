/*
 * The user runtime: the C entry (from crt0.S), exit, the memory helpers
 * clang may call in freestanding code, and uprintf.
 */
#include "ulib.h"

u64 ustack_top;

__attribute__((noreturn)) void sys_exit(int status)
{
	syscall3(SYS_EXIT, status, 0, 0);
	__builtin_unreachable();
}

__attribute__((noreturn)) void user_start(const u64 *args, u64 nargs);
__attribute__((noreturn)) void user_start(const u64 *args, u64 nargs)
{
	ustack_top = ((u64)args + 4095) & ~4095ul;
	sys_exit(main(args, nargs));
}

void *memcpy(void *d, const void *s, size_t n)
{
	char *dd = d;
	const char *ss = s;

	while (n--)
		*dd++ = *ss++;
	return d;
}

void *memset(void *d, int c, size_t n)
{
	char *dd = d;

	while (n--)
		*dd++ = (char)c;
	return d;
}

size_t ustrlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

struct out {
	char buf[256];
	size_t len;
};

static void put(struct out *o, char c)
{
	if (o->len < sizeof(o->buf))
		o->buf[o->len++] = c;
}

static void put_num(struct out *o, unsigned long long v, unsigned int base, int neg)
{
	char tmp[24];
	int n = 0;

	if (neg)
		put(o, '-');
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n)
		put(o, tmp[--n]);
}

/* One conversion at *f (after the '%'); returns the format position after it. */
static const char *convert(struct out *o, const char *f, __builtin_va_list *ap)
{
	int longs = 0;

	while (*f == 'l') {
		longs++;
		f++;
	}
	if (*f == 's') {
		for (const char *s = __builtin_va_arg(*ap, const char *); *s; s++)
			put(o, *s);
	} else if (*f == 'c') {
		put(o, (char)__builtin_va_arg(*ap, int));
	} else if (*f == 'd') {
		long long v = longs ? __builtin_va_arg(*ap, long long) : __builtin_va_arg(*ap, int);
		put_num(o, v < 0 ? -(unsigned long long)v : (unsigned long long)v, 10, v < 0);
	} else if (*f == 'u' || *f == 'x') {
		unsigned long long v = longs ? __builtin_va_arg(*ap, unsigned long long)
					     : __builtin_va_arg(*ap, unsigned int);
		put_num(o, v, *f == 'x' ? 16 : 10, 0);
	} else {
		put(o, '%');
		put(o, *f);
	}
	return *f ? f + 1 : f;
}

int uprintf(const char *fmt, ...)
{
	struct out o = {.len = 0};
	__builtin_va_list ap;

	__builtin_va_start(ap, fmt);
	while (*fmt) {
		if (*fmt != '%')
			put(&o, *fmt++);
		else
			fmt = convert(&o, fmt + 1, &ap);
	}
	__builtin_va_end(ap);
	return (int)sys_write(o.buf, o.len);
}
