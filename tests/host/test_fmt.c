/*
 * Host tests for lib/fmt.c: fmt_snprintf / fmt_vsnprintf are compared
 * against the C library's snprintf over tables of formats and values, an
 * exhaustive sweep of integer specifications, a seeded random differential
 * test and truncation at every buffer size.
 */
#include <lib/fmt.h>
#include <lib/types.h>
#include <stdarg.h>
#include <stdio.h>

#include "check.h"

typedef int (*snprintf_fn)(char *buf, size_t size, const char *fmt, ...);

static char mismatch[512];

/* Record a mismatch between ours (a, na) and the reference (b, nb). */
static bool report(const char *fmt, const char *a, int na, const char *b, int nb)
{
	snprintf(mismatch, sizeof(mismatch), "fmt \"%s\": got \"%s\" (%d), want \"%s\" (%d)", fmt,
		 a, na, b, nb);
	return false;
}

/* Fill both buffers with '#' and a final NUL, so they print safely. */
static void fill(char *a, char *b, size_t n)
{
	memset(a, '#', n - 1);
	memset(b, '#', n - 1);
	a[n - 1] = b[n - 1] = '\0';
}

/* Compare two outputs of the given buffer size, including the bytes after them. */
static bool outputs_equal(const char *a, const char *b, size_t size, int na, int nb)
{
	return na == nb && memcmp(a, b, size) == 0;
}

/*
 * Format with fmt_vsnprintf and with vsnprintf (the va_list is passed down
 * as the kernel console does) and say whether both agree.
 */
__attribute__((format(printf, 1, 2))) static bool same(const char *fmt, ...)
{
	char a[256], b[256];
	va_list ap, aq;
	int na, nb;

	fill(a, b, sizeof(a));
	va_start(ap, fmt);
	va_copy(aq, ap);
	na = fmt_vsnprintf(a, sizeof(a) - 1, fmt, ap);
	nb = vsnprintf(b, sizeof(b) - 1, fmt, aq);
	va_end(aq);
	va_end(ap);
	if (!outputs_equal(a, b, sizeof(a), na, nb))
		return report(fmt, a, na, b, nb);
	return true;
}

/* Format with fmt_snprintf into a 256-byte buffer and return it. */
__attribute__((format(printf, 1, 2))) static const char *ours(const char *fmt, ...)
{
	static char buf[256];
	va_list ap;

	va_start(ap, fmt);
	fmt_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

#define SAME(...)                                                                                  \
	do {                                                                                       \
		if (!same(__VA_ARGS__)) {                                                          \
			check_fail(__FILE__, __LINE__, "%s", mismatch);                            \
			return;                                                                    \
		}                                                                                  \
	} while (0)

TEST(fmt_snprintf_prints_plain_text)
{
	SAME("");
	SAME("hello, world");
	SAME("100%% sure %%");
	SAME("tab\tnewline\n");
}

TEST(fmt_vsnprintf_formats_decimal)
{
	SAME("%d %i %d %d", 0, 42, -42, 7);
	SAME("%d %d", INT32_MAX, INT32_MIN);
	SAME("%lld %lld %lld", (long long)INT64_MAX, (long long)INT64_MIN, -1LL);
	SAME("%ld %li", (long)INT64_MIN, (long)INT64_MAX);
	SAME("%u %u %u", 0u, 1u, UINT32_MAX);
	SAME("%llu %lu", (unsigned long long)UINT64_MAX, (unsigned long)UINT64_MAX);
	SAME("%jd %ju", (intmax_t)INT64_MIN, (uintmax_t)UINT64_MAX);
	SAME("%zu %zd %zx", (size_t)SIZE_MAX, (size_t)12345, (size_t)0xabc);
	SAME("%td %tu %tx", (ptrdiff_t)-77, (ptrdiff_t)77, (ptrdiff_t)255);
}

/*
 * The table tests below pass deliberately odd formats: ints out of range
 * for hh / h, flags that cancel out ('0' with '-', ' ' with '+'), flags C
 * leaves undefined and conversions we do not know. Silence -Wformat here.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
#pragma GCC diagnostic ignored "-Wformat-invalid-specifier"

TEST(fmt_vsnprintf_truncates_hh_and_h)
{
	SAME("%hhd %hhd %hhd %hhd", 127, 128, 255, 300);
	SAME("%hhu %hhu %hhx %hho", 255, 256, 0x1ff, 0777);
	SAME("%hhd %hhu", -1, -1);
	SAME("%hd %hd %hd %hd", 32767, 32768, 65535, 70000);
	SAME("%hu %hx %hX %ho", 65535, 0x12345, 0xfffff, 0777777);
	SAME("%hd %hu", -1, -1);
	SAME("[%.0hhd] [%.3hd]", 256, 65536);
}

TEST(fmt_vsnprintf_formats_hex_and_octal)
{
	SAME("%x %X %o", 0u, 0u, 0u);
	SAME("%x %X %o", 0xdeadbeefu, 0xdeadbeefu, 01234567u);
	SAME("%llx %llX %llo", (unsigned long long)UINT64_MAX, (unsigned long long)UINT64_MAX,
	     (unsigned long long)UINT64_MAX);
	SAME("%#x %#X %#o", 0x1fu, 0x1fu, 8u);
	SAME("%#x %#X %#o", 0u, 0u, 0u);
	SAME("%#llx %#llo", (unsigned long long)UINT64_MAX, (unsigned long long)UINT64_MAX);
}

TEST(fmt_vsnprintf_pads_with_zeroes)
{
	SAME("[%05d] [%05d] [%05u] [%05x]", 42, -42, 42u, 0xabu);
	SAME("[%020lld] [%020lld]", (long long)INT64_MIN, (long long)INT64_MAX);
	SAME("[%0+6d] [%0 6d] [%0+6d]", 42, 42, -42);
	SAME("[%#010x] [%#010X] [%#010o]", 0xbeefu, 0xbeefu, 8u);
	SAME("[%#08o] [%#08x]", 0u, 0u);
	SAME("[%01d] [%02d] [%00d]", 123, 123, 5);
	SAME("[%05.3d] [%08.3x] [%05.0d]", 7, 0xau, 0);
}

TEST(fmt_vsnprintf_pads_left_and_right)
{
	SAME("[%5d] [%-5d] [%5d] [%-5d]", 42, 42, -42, -42);
	SAME("[%-05d] [%-08x]", 42, 0xffu);
	SAME("[%1d] [%2d] [%25lld]", 12345, -12345, (long long)INT64_MIN);
	SAME("[%-+5d] [%- 5d] [%-#8x] [%-#8o]", 1, 1, 0x7u, 7u);
}

TEST(fmt_vsnprintf_prints_signs)
{
	SAME("[%+d] [%+d] [%+d]", 0, 5, -5);
	SAME("[% d] [% d] [% d]", 0, 5, -5);
	SAME("[%+ d] [% +d]", 5, 5);
	SAME("[%+lld] [% lld]", (long long)INT64_MAX, (long long)INT64_MIN);
	SAME("[%+5d] [% 5d] [%+.3d] [% .3d]", 3, 3, 3, 3);
}

TEST(fmt_vsnprintf_applies_integer_precision)
{
	SAME("[%.0d] [%.0i] [%.0u] [%.0x] [%.0o]", 0, 0, 0u, 0u, 0u);
	SAME("[%5.0d] [%-5.0d] [%+.0d] [% .0d]", 0, 0, 0, 0);
	SAME("[%#.0x] [%#.0o] [%#.0X] [%#5.0o]", 0u, 0u, 0u, 0u);
	SAME("[%.d] [%.x] [%.d]", 0, 0u, 17);
	SAME("[%.1d] [%.5d] [%.5d] [%.25lld]", 0, 42, -42, (long long)INT64_MIN);
	SAME("[%8.5d] [%-8.5d] [%08.5d] [%+08.5d]", 42, 42, 42, -42);
	SAME("[%.5x] [%#.5x] [%#.5o] [%#.2o] [%#.3o]", 0xabu, 0xabu, 8u, 8u, 8u);
}

TEST(fmt_vsnprintf_takes_width_and_precision_from_args)
{
	SAME("[%*d] [%-*d] [%*d]", 6, 42, 6, 42, -6, 42);
	SAME("[%.*d] [%.*d] [%.*d]", 4, 42, 0, 0, -1, 0);
	SAME("[%*.*d] [%*.*x]", 8, 4, -42, -8, 3, 0xfu);
	SAME("[%0*d] [%0*d]", 5, 42, -5, 42);
	SAME("[%*s] [%-*s] [%*s]", 5, "ab", 5, "ab", -5, "ab");
	SAME("[%.*s] [%.*s] [%*.*s]", 2, "abcdef", -1, "abcdef", 6, 3, "abcdef");
	SAME("[%*c] [%*c]", 3, 'x', -3, 'y');
	SAME("[%*d]", 0, 7);
}

TEST(fmt_vsnprintf_formats_chars)
{
	SAME("[%c] [%c] [%c]", 'a', 'Z', ' ');
	SAME("[%5c] [%-5c] [%1c]", 'a', 'b', 'c');
	SAME("[%c%c%c]", 'x', 0x100 + 'y', 'z');
	SAME("[%c]", '\xff');
}

TEST(fmt_vsnprintf_writes_nul_char)
{
	char buf[8];

	memset(buf, '#', sizeof(buf));
	CHECK_EQ(fmt_snprintf(buf, sizeof(buf), "a%cb", 0), 3);
	CHECK(memcmp(buf, "a\0b\0", 4) == 0);
	SAME("a%cb", 0);
}

TEST(fmt_vsnprintf_formats_strings)
{
	SAME("[%s] [%s] [%s]", "", "a", "hello");
	SAME("[%10s] [%-10s] [%2s]", "abc", "abc", "abcdef");
	SAME("[%.0s] [%.1s] [%.3s] [%.10s]", "abcdef", "abcdef", "abcdef", "abcdef");
	SAME("[%8.3s] [%-8.3s] [%.3s]", "abcdef", "abcdef", "");
	SAME("[%.s]", "abc");
}

TEST(fmt_vsnprintf_prints_null_string)
{
	const char *null = NULL;

	CHECK_STR(ours("%s", null), "(null)");
	CHECK_STR(ours("[%8s] [%-8s]", null, null), "[  (null)] [(null)  ]");
	CHECK_STR(ours("[%.6s] [%.7s] [%.3s]", null, null, null), "[(null)] [(null)] []");
	SAME("[%s] [%10s] [%-10s] [%.6s] [%.7s]", null, null, null, null, null);
	SAME("[%.3s] [%5.5s] [%.0s]", null, null, null);
}

TEST(fmt_vsnprintf_does_not_read_past_precision)
{
	/* exactly sized heap blocks so ASan catches a read past the end */
	char *abc = malloc(3), *one = malloc(1);

	CHECK(abc && one);
	memcpy(abc, "abc", 3);
	one[0] = 'z';
	CHECK_STR(ours("[%.3s]", abc), "[abc]");
	CHECK_STR(ours("[%.2s]", abc), "[ab]");
	CHECK_STR(ours("[%5.3s]", abc), "[  abc]");
	CHECK_STR(ours("[%-5.*s]", 3, abc), "[abc  ]");
	CHECK_STR(ours("[%.1s%.0s]", one, one), "[z]");
	free(abc);
	free(one);
}

TEST(fmt_vsnprintf_formats_pointers)
{
	int x;
	char want[64];

	CHECK_STR(ours("%p", (void *)0), "0x0000000000000000");
	CHECK_STR(ours("%p", (void *)0x1234), "0x0000000000001234");
	CHECK_STR(ours("%p", (void *)UINTPTR_MAX), "0xffffffffffffffff");
	CHECK_STR(ours("%p", (void *)0xffff800000abcdefull), "0xffff800000abcdef");
	CHECK_STR(ours("[%20p]", (void *)0xab), "[  0x00000000000000ab]");
	CHECK_STR(ours("[%-20p]", (void *)0xab), "[0x00000000000000ab  ]");
	CHECK_STR(ours("[%*p]", -19, (void *)1), "[0x0000000000000001 ]");
	CHECK_STR(ours("[%5p]", (void *)1), "[0x0000000000000001]");
	snprintf(want, sizeof(want), "0x%016llx", (unsigned long long)(uintptr_t)&x);
	CHECK_STR(ours("%p", (void *)&x), want);
}

TEST(fmt_vsnprintf_mixes_conversions)
{
	SAME("pid %d (%s) at %#llx: %5.2s|%-4c|%+.3d|%%|%o", 17, "init",
	     (unsigned long long)0xffffffff80000000ull, "xyz", 'q', 9, 8u);
	SAME("%s=%d %s=%u %s=%x", "a", -1, "b", 1u, "c", 0xcu);
	SAME("%hhd %lld %hd %zu %d", 1, 2LL, 3, (size_t)4, 5);
}

TEST(fmt_vsnprintf_ignores_meaningless_flags)
{
	/* undefined in C; glibc ignores these flags and so do we */
	SAME("[%05s] [%05c] [%+s] [% c] [%#s]", "ab", 'x', "ab", 'y', "cd");
	SAME("[%#d] [%#i] [%#u] [%+u] [% u] [%+x] [% o]", 5, 5, 5u, 5u, 5u, 5u, 5u);
	SAME("[%.3c]", 'x');
}

TEST(fmt_vsnprintf_prints_percent_spec)
{
	SAME("[%%] [%%%d]", 5);
	CHECK_STR(ours("[%5%]"), "[%]");
	CHECK_STR(ours("[%-5%]"), "[%]");
}

TEST(fmt_vsnprintf_prints_unknown_conversion_literally)
{
	CHECK_STR(ours("[%q]"), "[%q]");
	CHECK_STR(ours("[%5q]"), "[%5q]");
	CHECK_STR(ours("[%-08.3lq]"), "[%-08.3lq]");
	CHECK_STR(ours("[%y%w]"), "[%y%w]");
	/* no floating point: %f is not a conversion and takes no argument */
	CHECK_STR(ours("%f %d", 7), "%f 7");
	CHECK_STR(ours("%.2e|%g|%a|%n", 1), "%.2e|%g|%a|%n");
	/* a lone '%' at the end, with or without a specification */
	CHECK_STR(ours("abc%"), "abc%");
	CHECK_STR(ours("abc%-5"), "abc%-5");
	CHECK_STR(ours("abc%ll"), "abc%ll");
	CHECK_EQ(fmt_snprintf(NULL, 0, "%q%"), 3);
}

#pragma GCC diagnostic pop

TEST(fmt_vsnprintf_returns_full_length)
{
	char buf[4];

	CHECK_EQ(fmt_snprintf(buf, sizeof(buf), "hello"), 5);
	CHECK_STR(buf, "hel");
	CHECK_EQ(fmt_snprintf(buf, sizeof(buf), "%d", 123456), 6);
	CHECK_STR(buf, "123");
	CHECK_EQ(fmt_snprintf(buf, sizeof(buf), "%s", ""), 0);
	CHECK_STR(buf, "");
	CHECK_EQ(fmt_snprintf(buf, sizeof(buf), "%100d", 1), 100);
	CHECK_STR(buf, "   ");
	CHECK_EQ(fmt_snprintf(buf, sizeof(buf), "%lld", (long long)INT64_MIN), 20);
	CHECK_STR(buf, "-92");
}

TEST(fmt_vsnprintf_handles_size_zero_and_one)
{
	char buf[2] = {'x', 'y'};

	CHECK_EQ(fmt_snprintf(NULL, 0, "%s %d", "abc", 12345), 9);
	CHECK_EQ(fmt_snprintf(buf, 0, "%s", "abc"), 3);
	CHECK(buf[0] == 'x' && buf[1] == 'y');
	CHECK_EQ(fmt_snprintf(buf, 1, "%s", "abc"), 3);
	CHECK(buf[0] == '\0' && buf[1] == 'y');
	CHECK_EQ(fmt_snprintf(buf, 1, ""), 0);
	CHECK(buf[0] == '\0');
	CHECK_EQ(fmt_snprintf(buf, 2, "%c", 'q'), 1);
	CHECK(buf[0] == 'q' && buf[1] == '\0');
}

/* Compare ours and the reference at every buffer size from 0 to past the end. */
__attribute__((format(printf, 1, 2))) static bool same_at_all_sizes(const char *fmt, ...)
{
	char a[128], b[128];
	va_list ap, aq;
	size_t size;
	int na, nb;

	for (size = 0; size < sizeof(a) - 1; size++) {
		fill(a, b, sizeof(a));
		va_start(ap, fmt);
		va_copy(aq, ap);
		na = fmt_vsnprintf(size ? a : NULL, size, fmt, ap);
		nb = vsnprintf(size ? b : NULL, size, fmt, aq);
		va_end(aq);
		va_end(ap);
		if (!outputs_equal(a, b, sizeof(a), na, nb))
			return report(fmt, a, na, b, nb);
		if (size > (size_t)na + 2)
			break;
	}
	return true;
}

#define SAME_ALL_SIZES(...)                                                                        \
	do {                                                                                       \
		if (!same_at_all_sizes(__VA_ARGS__)) {                                             \
			check_fail(__FILE__, __LINE__, "%s", mismatch);                            \
			return;                                                                    \
		}                                                                                  \
	} while (0)

TEST(fmt_vsnprintf_truncates_at_every_size)
{
	SAME_ALL_SIZES("hello world");
	SAME_ALL_SIZES("%d|%s|%x", -12345, "string", 0xabcdefu);
	SAME_ALL_SIZES("[%-10s][%10s]", "ab", "cd");
	SAME_ALL_SIZES("%#020llx", (unsigned long long)UINT64_MAX);
	SAME_ALL_SIZES("%+.15lld", (long long)INT64_MIN);
	SAME_ALL_SIZES("%c%c%c", 'a', 0, 'b');
	SAME_ALL_SIZES("%.3s%%%5c", "abcdef", 'z');
}

/* Call f with nstar leading '*' arguments, then v. */
#define WITH_STARS(v)                                                                              \
	(nstar == 0   ? f(buf, size, fmt, v)                                                       \
	 : nstar == 1 ? f(buf, size, fmt, star[0], v)                                              \
		      : f(buf, size, fmt, star[0], star[1], v))

/*
 * Call f with the star arguments then one integer argument of the type the
 * length modifier len selects ('H' for hh, 'L' for ll, '\0' for none).
 */
static int call_int(snprintf_fn f, char *buf, size_t size, const char *fmt, int nstar,
		    const int *star, char len, bool sgn, uint64_t raw)
{
	switch (len) {
	case 'l':
		return sgn ? WITH_STARS((long)raw) : WITH_STARS((unsigned long)raw);
	case 'L':
		return sgn ? WITH_STARS((long long)raw) : WITH_STARS((unsigned long long)raw);
	case 'z':
		return WITH_STARS((size_t)raw);
	case 't':
		return WITH_STARS((ptrdiff_t)raw);
	case 'j':
		return sgn ? WITH_STARS((intmax_t)raw) : WITH_STARS((uintmax_t)raw);
	default:
		return sgn ? WITH_STARS((int)raw) : WITH_STARS((unsigned int)raw);
	}
}

/* Call f with the star arguments then a string or a char argument. */
static int call_text(snprintf_fn f, char *buf, size_t size, const char *fmt, int nstar,
		     const int *star, char conv, const char *s)
{
	if (conv == 'c')
		return WITH_STARS((int)(unsigned char)s[0]);
	return WITH_STARS(s);
}

#undef WITH_STARS

/* Edge values for the integer conversions, at every width. */
/* clang-format off */
static const uint64_t interesting[] = {
	0, 1, 2, 7, 8, 9, 10, 15, 16, 100, 127, 128, 255, 256,
	32767, 32768, 65535, 65536, INT32_MAX, 0x80000000, UINT32_MAX, 0x100000000ull,
	INT64_MAX, (uint64_t)INT64_MIN, UINT64_MAX, UINT64_MAX - 1,
	(uint64_t)-100, (uint64_t)-128, (uint64_t)-129, (uint64_t)-32768, (uint64_t)-32769,
	(uint64_t)INT32_MIN, (uint64_t)INT32_MIN - 1,
};
/* clang-format on */

/* Length modifiers and the codes call_int() takes for them. */
static const char *const lens[] = {"", "hh", "h", "l", "ll", "z", "t", "j"};
static const char lcode[] = {0, 'H', 'h', 'l', 'L', 'z', 't', 'j'};

/* Strings for %s and (their first byte) for %c. */
static const char *const strings[] = {"", "a", "ab", "hello", "hello, world", "x\ty", "%d"};

/* Pick an interesting value, or a random one of random bit width. */
static uint64_t random_value(void)
{
	uint64_t r = rng();

	if (r & 1)
		return interesting[(r >> 1) % ARRAY_SIZE(interesting)];
	return rng() >> (rng() % 64);
}

/*
 * Append a random width or precision to p, as digits or as '*' with a
 * possibly negative argument stored in star[]; returns the new end.
 */
static char *random_number(char *p, int *star, int *nstar)
{
	static const int nums[] = {0, 1, 2, 3, 5, 8, 17, 20, 25, 40};
	uint64_t r = rng();

	if (r % 3 == 0) {
		*p++ = '*';
		star[(*nstar)++] = nums[(r >> 2) % ARRAY_SIZE(nums)] * ((r & 0x100) ? -1 : 1);
		return p;
	}
	return p + sprintf(p, "%d", nums[(r >> 2) % ARRAY_SIZE(nums)]);
}

/*
 * Build a random specification into fmt for conversion conv (flags allowed
 * by C for it, width, precision, length) and return its length modifier.
 */
static char random_spec(char *fmt, char conv, int *star, int *nstar)
{
	bool text = conv == 's' || conv == 'c';
	const char *flags = text ? "-" : (conv == 'd' || conv == 'i') ? "-0 +" : "-0#";
	uint64_t r = rng();
	char *p = fmt;
	size_t i, nl = text ? 1 : ARRAY_SIZE(lens);

	*p++ = '%';
	for (i = 0; flags[i]; i++)
		if (r & (1u << i))
			*p++ = flags[i];
	if (r & 0x100)
		p = random_number(p, star, nstar);
	if (r & 0x200 && conv != 'c') {
		*p++ = '.';
		if (r & 0x400)
			p = random_number(p, star, nstar);
	}
	i = (r >> 12) % nl;
	p += sprintf(p, "%s%c", lens[i], conv);
	*p = '\0';
	return lcode[i];
}

/* Run one random case; on a mismatch describe it in mismatch[]. */
static bool same_for_random_case(void)
{
	static const char convs[] = "diuxXocs";
	char conv = convs[rng() % (sizeof(convs) - 1)], fmt[64], a[256], b[256], len;
	uint64_t v = random_value();
	const char *s = strings[v % ARRAY_SIZE(strings)];
	size_t size = rng() % 4 ? sizeof(a) - 1 : rng() % 8;
	int na, nb, star[2] = {0, 0}, nstar = 0;

	len = random_spec(fmt, conv, star, &nstar);
	fill(a, b, sizeof(a));
	if (conv == 's' || conv == 'c') {
		na = call_text(fmt_snprintf, a, size, fmt, nstar, star, conv, s);
		nb = call_text(snprintf, b, size, fmt, nstar, star, conv, s);
	} else {
		bool sgn = conv == 'd' || conv == 'i';

		na = call_int(fmt_snprintf, a, size, fmt, nstar, star, len, sgn, v);
		nb = call_int(snprintf, b, size, fmt, nstar, star, len, sgn, v);
	}
	if (outputs_equal(a, b, sizeof(a), na, nb))
		return true;
	report(fmt, a, na, b, nb);
	snprintf(mismatch + strlen(mismatch), 64, " [value %llu, size %zu, stars %d %d]",
		 (unsigned long long)v, size, star[0], star[1]);
	return false;
}

TEST(fmt_vsnprintf_matches_snprintf_randomly)
{
	int i;
	rng_state = 0x9e3779b97f4a7c15ull;

	for (i = 0; i < 20000; i++) {
		if (!same_for_random_case()) {
			check_fail(__FILE__, __LINE__, "case %d: %s", i, mismatch);
			return;
		}
	}
}

/* Compare ours and the reference for fmt over every interesting value. */
static bool same_for_all_values(const char *fmt, char len, bool sgn)
{
	char a[64], b[64];
	size_t v;
	int na, nb;

	for (v = 0; v < ARRAY_SIZE(interesting); v++) {
		na = call_int(fmt_snprintf, a, sizeof(a), fmt, 0, NULL, len, sgn, interesting[v]);
		nb = call_int(snprintf, b, sizeof(b), fmt, 0, NULL, len, sgn, interesting[v]);
		if (na != nb || strcmp(a, b) != 0)
			return report(fmt, a, na, b, nb);
	}
	return true;
}

/*
 * Build integer specification number i of the exhaustive sweep into fmt:
 * every subset of the flags, a few widths and precisions, every length and
 * integer conversion. Returns false for combinations C leaves undefined.
 */
static bool sweep_spec(char *fmt, unsigned int i, char *len, bool *sgn)
{
	static const char *const widths[] = {"", "1", "5", "24"};
	static const char *const precs[] = {"", ".", ".0", ".1", ".4", ".22"};
	static const char convs[] = "diuxXo";
	unsigned int fl = i % 32, w, pr, l, c, bit;
	char *p = fmt;

	i /= 32;
	w = i % ARRAY_SIZE(widths), i /= ARRAY_SIZE(widths);
	pr = i % ARRAY_SIZE(precs), i /= ARRAY_SIZE(precs);
	l = i % ARRAY_SIZE(lens), i /= ARRAY_SIZE(lens);
	c = i % (sizeof(convs) - 1);
	*sgn = convs[c] == 'd' || convs[c] == 'i';
	*len = lcode[l];
	if ((fl & 0x10) && (*sgn || convs[c] == 'u'))
		return false; /* '#' is undefined for d, i and u */
	*p++ = '%';
	for (bit = 0; bit < 5; bit++)
		if (fl & (1u << bit))
			*p++ = "-0 +#"[bit];
	sprintf(p, "%s%s%s%c", widths[w], precs[pr], lens[l], convs[c]);
	return true;
}

TEST(fmt_vsnprintf_matches_snprintf_exhaustively)
{
	unsigned int i, total = 32 * 4 * 6 * ARRAY_SIZE(lens) * 6;
	char fmt[32], len;
	bool sgn;

	for (i = 0; i < total; i++) {
		if (!sweep_spec(fmt, i, &len, &sgn))
			continue;
		if (!same_for_all_values(fmt, len, sgn)) {
			check_fail(__FILE__, __LINE__, "%s", mismatch);
			return;
		}
	}
}

int main(void)
{
	RUN(fmt_snprintf_prints_plain_text);
	RUN(fmt_vsnprintf_formats_decimal);
	RUN(fmt_vsnprintf_truncates_hh_and_h);
	RUN(fmt_vsnprintf_formats_hex_and_octal);
	RUN(fmt_vsnprintf_pads_with_zeroes);
	RUN(fmt_vsnprintf_pads_left_and_right);
	RUN(fmt_vsnprintf_prints_signs);
	RUN(fmt_vsnprintf_applies_integer_precision);
	RUN(fmt_vsnprintf_takes_width_and_precision_from_args);
	RUN(fmt_vsnprintf_formats_chars);
	RUN(fmt_vsnprintf_writes_nul_char);
	RUN(fmt_vsnprintf_formats_strings);
	RUN(fmt_vsnprintf_prints_null_string);
	RUN(fmt_vsnprintf_does_not_read_past_precision);
	RUN(fmt_vsnprintf_formats_pointers);
	RUN(fmt_vsnprintf_mixes_conversions);
	RUN(fmt_vsnprintf_ignores_meaningless_flags);
	RUN(fmt_vsnprintf_prints_percent_spec);
	RUN(fmt_vsnprintf_prints_unknown_conversion_literally);
	RUN(fmt_vsnprintf_returns_full_length);
	RUN(fmt_vsnprintf_handles_size_zero_and_one);
	RUN(fmt_vsnprintf_truncates_at_every_size);
	RUN(fmt_vsnprintf_matches_snprintf_randomly);
	RUN(fmt_vsnprintf_matches_snprintf_exhaustively);
	return check_done();
}
