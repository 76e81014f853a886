/*
 * fmt: the kernel's and loader's vsnprintf. Owns format-string parsing and
 * the formatting of integers, characters, strings and pointers into a
 * bounded buffer. No floating point, no allocation, no recursion; portable
 * C that builds freestanding (-mgeneral-regs-only) and on the host.
 */
#include <lib/fmt.h>
#include <lib/string.h>
#include <lib/types.h>
#include <stdarg.h>

#define FL_LEFT	 0x01 /* '-': pad on the right */
#define FL_ZERO	 0x02 /* '0': pad numbers with zeroes */
#define FL_SPACE 0x04 /* ' ': space before positive signed numbers */
#define FL_PLUS	 0x08 /* '+': sign before positive signed numbers */
#define FL_ALT	 0x10 /* '#': 0x / 0 prefix */

#define WIDTH_MAX 0x7fffffff /* INT_MAX: widths and precisions clamp here */

/* Length modifiers, in the order of the C types they select. */
enum fmt_len { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_T, LEN_J };

/* One parsed conversion specification. */
struct fmt_spec {
	unsigned int flags;
	int width; /* 0 when absent */
	int prec;  /* -1 when absent */
	enum fmt_len len;
	char conv; /* the conversion character, '\0' at end of format */
};

/* The output buffer and how much the full output would take. */
struct fmt_out {
	char *buf;
	size_t size;
	size_t pos;
};

/* Append one character, dropping it (but counting it) once the buffer is full. */
static void out_char(struct fmt_out *o, char c)
{
	if (o->size && o->pos < o->size - 1)
		o->buf[o->pos] = c;
	o->pos++;
}

/* Append n copies of c; n <= 0 appends nothing. */
static void out_repeat(struct fmt_out *o, char c, int n)
{
	while (n-- > 0)
		out_char(o, c);
}

/* Append len characters from s. */
static void out_mem(struct fmt_out *o, const char *s, size_t len)
{
	while (len--)
		out_char(o, *s++);
}

/* Read a decimal number at *p, clamped to WIDTH_MAX, and advance *p past it. */
static int parse_num(const char **p)
{
	int n = 0;

	while (**p >= '0' && **p <= '9') {
		int d = *(*p)++ - '0';

		n = n > (WIDTH_MAX - d) / 10 ? WIDTH_MAX : n * 10 + d;
	}
	return n;
}

/* Parse the flag characters at *p into s->flags. */
static void parse_flags(const char **p, struct fmt_spec *s)
{
	for (;; (*p)++) {
		switch (**p) {
		case '-':
			s->flags |= FL_LEFT;
			break;
		case '0':
			s->flags |= FL_ZERO;
			break;
		case ' ':
			s->flags |= FL_SPACE;
			break;
		case '+':
			s->flags |= FL_PLUS;
			break;
		case '#':
			s->flags |= FL_ALT;
			break;
		default:
			return;
		}
	}
}

/* Parse the width and precision at *p; '*' takes an int argument. */
static void parse_width_prec(const char **p, struct fmt_spec *s, va_list *ap)
{
	if (**p == '*') {
		int w = va_arg(*ap, int);

		(*p)++;
		if (w < 0) {
			s->flags |= FL_LEFT;
			w = w < -WIDTH_MAX ? WIDTH_MAX : -w;
		}
		s->width = w;
	} else {
		s->width = parse_num(p);
	}
	if (**p != '.')
		return;
	(*p)++;
	if (**p == '*') {
		int pr = va_arg(*ap, int);

		(*p)++;
		s->prec = pr < 0 ? -1 : pr; /* a negative precision is no precision */
	} else {
		s->prec = parse_num(p);
	}
}

/* Parse the length modifier at *p into s->len. */
static void parse_len(const char **p, struct fmt_spec *s)
{
	switch (**p) {
	case 'h':
		s->len = (*p)[1] == 'h' ? LEN_HH : LEN_H;
		break;
	case 'l':
		s->len = (*p)[1] == 'l' ? LEN_LL : LEN_L;
		break;
	case 'z':
		s->len = LEN_Z;
		break;
	case 't':
		s->len = LEN_T;
		break;
	case 'j':
		s->len = LEN_J;
		break;
	default:
		return;
	}
	*p += (s->len == LEN_HH || s->len == LEN_LL) ? 2 : 1;
}

/*
 * Parse the specification after a '%' at *p, leaving *p just past the
 * conversion character (or on the terminating NUL).
 */
static void parse_spec(const char **p, struct fmt_spec *s, va_list *ap)
{
	s->flags = 0;
	s->width = 0;
	s->prec = -1;
	s->len = LEN_NONE;
	parse_flags(p, s);
	parse_width_prec(p, s, ap);
	parse_len(p, s);
	s->conv = **p;
	if (s->conv)
		(*p)++;
}

/* Fetch a signed integer argument of the spec's length, widened. */
static int64_t fetch_signed(const struct fmt_spec *s, va_list *ap)
{
	switch (s->len) {
	case LEN_HH:
		return (signed char)va_arg(*ap, int);
	case LEN_H:
		return (short)va_arg(*ap, int);
	case LEN_L:
		return va_arg(*ap, long);
	case LEN_LL:
		return va_arg(*ap, long long);
	case LEN_Z:
		return (ptrdiff_t)va_arg(*ap, size_t);
	case LEN_T:
		return va_arg(*ap, ptrdiff_t);
	case LEN_J:
		return va_arg(*ap, intmax_t);
	default:
		return va_arg(*ap, int);
	}
}

/* Fetch an unsigned integer argument of the spec's length, widened. */
static uint64_t fetch_unsigned(const struct fmt_spec *s, va_list *ap)
{
	switch (s->len) {
	case LEN_HH:
		return (unsigned char)va_arg(*ap, unsigned int);
	case LEN_H:
		return (unsigned short)va_arg(*ap, unsigned int);
	case LEN_L:
		return va_arg(*ap, unsigned long);
	case LEN_LL:
		return va_arg(*ap, unsigned long long);
	case LEN_Z:
		return va_arg(*ap, size_t);
	case LEN_T:
		return (size_t)va_arg(*ap, ptrdiff_t);
	case LEN_J:
		return va_arg(*ap, uintmax_t);
	default:
		return va_arg(*ap, unsigned int);
	}
}

/*
 * Write the digits of v in base so that they end just before end, and
 * return where they start. Writes nothing for v == 0 when zero_empty.
 */
static char *format_digits(char *end, uint64_t v, unsigned int base, bool upper, bool zero_empty)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char *p = end;

	if (v == 0 && zero_empty)
		return p;
	do {
		*--p = digits[v % base];
		v /= base;
	} while (v);
	return p;
}

/* The sign or radix prefix of a number: "-", "+", " ", "0x", "0X" or "". */
static const char *number_prefix(const struct fmt_spec *s, uint64_t mag, bool neg)
{
	bool is_signed = s->conv == 'd' || s->conv == 'i';
	bool is_hex = s->conv == 'x' || s->conv == 'X';

	if (neg)
		return "-";
	if (is_signed && (s->flags & FL_PLUS))
		return "+";
	if (is_signed && (s->flags & FL_SPACE))
		return " ";
	if (is_hex && (s->flags & FL_ALT) && mag)
		return s->conv == 'X' ? "0X" : "0x";
	return "";
}

/*
 * Format an integer: mag is its magnitude, neg its sign. Lays out
 * [spaces][sign or 0x][zeroes][digits][spaces] as C's printf does.
 */
static void format_number(struct fmt_out *o, const struct fmt_spec *s, uint64_t mag, bool neg)
{
	char dbuf[24]; /* 22 octal digits for 64 bits */
	char *end = dbuf + sizeof(dbuf);
	unsigned int base = s->conv == 'o' ? 8 : (s->conv == 'x' || s->conv == 'X') ? 16 : 10;
	char *d = format_digits(end, mag, base, s->conv == 'X', s->prec == 0);
	const char *prefix = number_prefix(s, mag, neg);
	int ndig = (int)(end - d), plen = (int)strlen(prefix), zeroes = 0, pad = 0;
	long long used;

	if (s->prec >= 0)
		zeroes = s->prec - ndig;
	else if ((s->flags & (FL_ZERO | FL_LEFT)) == FL_ZERO)
		zeroes = s->width - plen - ndig;
	zeroes = MAX(zeroes, 0);
	/* '#' with %o: the first digit must be a 0 */
	if (base == 8 && (s->flags & FL_ALT) && !zeroes && (!ndig || *d != '0'))
		zeroes = 1;
	used = (long long)plen + zeroes + ndig;
	if (used < s->width)
		pad = s->width - (int)used;

	if (!(s->flags & FL_LEFT))
		out_repeat(o, ' ', pad);
	out_mem(o, prefix, (size_t)plen);
	out_repeat(o, '0', zeroes);
	out_mem(o, d, (size_t)ndig);
	if (s->flags & FL_LEFT)
		out_repeat(o, ' ', pad);
}

/* Write len characters of str padded with spaces to the spec's width. */
static void format_padded(struct fmt_out *o, const struct fmt_spec *s, const char *str, size_t len)
{
	int pad = len >= (size_t)s->width ? 0 : s->width - (int)len;

	if (!(s->flags & FL_LEFT))
		out_repeat(o, ' ', pad);
	out_mem(o, str, len);
	if (s->flags & FL_LEFT)
		out_repeat(o, ' ', pad);
}

/*
 * Format a %s argument. The precision bounds how much of str is read, so
 * str need not be NUL terminated. NULL prints "(null)", or nothing when the
 * precision is too small to hold it (as glibc does).
 */
static void format_string(struct fmt_out *o, const struct fmt_spec *s, const char *str)
{
	size_t len;

	if (!str) {
		str = "(null)";
		if (s->prec >= 0 && s->prec < 6)
			str = "";
	}
	len = s->prec >= 0 ? strnlen(str, (size_t)s->prec) : strlen(str);
	format_padded(o, s, str, len);
}

/* Format a %p argument as 0x and 16 lowercase hex digits. */
static void format_pointer(struct fmt_out *o, const struct fmt_spec *s, const void *ptr)
{
	char pbuf[18];
	char *d = format_digits(pbuf + sizeof(pbuf), (uintptr_t)ptr, 16, false, false);

	while (d > pbuf + 2)
		*--d = '0';
	pbuf[0] = '0';
	pbuf[1] = 'x';
	format_padded(o, s, pbuf, sizeof(pbuf));
}

/*
 * Format one conversion whose specification starts at the '%' at start and
 * has been parsed into s. Unknown conversions are copied out literally.
 */
static void format_conv(struct fmt_out *o, const struct fmt_spec *s, const char *start,
			const char *end, va_list *ap)
{
	char c;
	int64_t v;

	switch (s->conv) {
	case 'd':
	case 'i':
		v = fetch_signed(s, ap);
		format_number(o, s, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0);
		break;
	case 'u':
	case 'x':
	case 'X':
	case 'o':
		format_number(o, s, fetch_unsigned(s, ap), false);
		break;
	case 'c':
		c = (char)va_arg(*ap, int);
		format_padded(o, s, &c, 1);
		break;
	case 's':
		format_string(o, s, va_arg(*ap, const char *));
		break;
	case 'p':
		format_pointer(o, s, va_arg(*ap, const void *));
		break;
	case '%':
		out_char(o, '%');
		break;
	default:
		out_mem(o, start, (size_t)(end - start));
		break;
	}
}

/* See fmt.h. Output longer than INT_MAX returns -1, as C's does. */
int fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct fmt_out o = {buf, buf ? size : 0, 0};
	struct fmt_spec s;
	const char *start;
	va_list args;

	va_copy(args, ap); /* a local va_list, so helpers can take its address */
	while (*fmt) {
		if (*fmt != '%') {
			out_char(&o, *fmt++);
			continue;
		}
		start = fmt++;
		parse_spec(&fmt, &s, &args);
		format_conv(&o, &s, start, fmt, &args);
	}
	va_end(args);
	if (o.size)
		o.buf[MIN(o.pos, o.size - 1)] = '\0';
	return o.pos > WIDTH_MAX ? -1 : (int)o.pos;
}

/* See fmt.h. */
int fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = fmt_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
