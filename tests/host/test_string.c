/*
 * Host tests for the kernel's memset and memcpy (arch/x86_64/string.S,
 * built renamed by tests/string_kernel.S). Every length from 0 past the
 * switch to string instructions, at every alignment of 16, with the buffer
 * ending exactly at a page that may not be touched, and then starting
 * exactly after one: a store or load one byte out of bounds faults (the
 * assembly is not instrumented by ASan, so the guard pages are the check).
 * The 64 bytes on each side of the target (inside the area) are checked
 * unchanged.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../string_kernel.h"
#include "check.h"

#define MAX_LEN 2200 /* past STRING_LOOP_MAX, into the rep way */
#define PAGE	4096
#define AREA	(3 * PAGE)
#define MARGIN	64

/* Two readable pages with an inaccessible page on each side. */
static unsigned char *guarded_area(void)
{
	unsigned char *a =
	    mmap(NULL, AREA + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (a == MAP_FAILED || mprotect(a + PAGE, AREA, PROT_READ | PROT_WRITE) != 0)
		abort();
	return a + PAGE;
}

static void fill_random(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)rng();
}

/* The window checked around [dst, dst + len): MARGIN bytes each side, inside the area. */
static void window(const unsigned char *area, const unsigned char *dst, size_t len, size_t *lo,
		   size_t *hi)
{
	size_t off = (size_t)(dst - area);

	*lo = off > MARGIN ? off - MARGIN : 0;
	*hi = off + len + MARGIN < AREA ? off + len + MARGIN : AREA;
}

/* dst, of len bytes, is all c and its window's margins are still as saved. */
static bool set_ok(const unsigned char *area, const unsigned char *saved, const unsigned char *dst,
		   size_t len, unsigned char c)
{
	size_t off = (size_t)(dst - area), lo, hi;

	window(area, dst, len, &lo, &hi);
	for (size_t i = 0; i < len; i++)
		if (dst[i] != c)
			return false;
	return memcmp(area + lo, saved + lo, off - lo) == 0 &&
	       memcmp(area + off + len, saved + off + len, hi - off - len) == 0;
}

/* Fresh random bytes in dst's window, saved. */
static void prepare(unsigned char *area, unsigned char *saved, const unsigned char *dst, size_t len)
{
	size_t lo, hi;

	window(area, dst, len, &lo, &hi);
	fill_random(area + lo, hi - lo);
	memcpy(saved + lo, area + lo, hi - lo);
}

/* Both ends of the area, every alignment: dst + len at the guard, then dst at it. */
TEST(memset_every_length_alignment_and_edge)
{
	unsigned char *area = guarded_area();
	static unsigned char saved[AREA];

	rng_state = 11;
	for (size_t len = 0; len <= MAX_LEN; len++) {
		for (size_t align = 0; align < 16; align++) {
			unsigned char *at_end = area + AREA - len - align;
			unsigned char *at_start = area + align;
			unsigned char c = (unsigned char)(len * 7 + align);

			prepare(area, saved, at_end, len);
			CHECK(kernel_memset(at_end, c | 0x300, len) == at_end);
			CHECK(set_ok(area, saved, at_end, len, c));
			prepare(area, saved, at_start, len);
			CHECK(kernel_memset(at_start, c, len) == at_start);
			CHECK(set_ok(area, saved, at_start, len, c));
		}
	}
	munmap(area - PAGE, AREA + 2 * PAGE);
}

/* A copy with the source and the destination each at an edge of its area. */
static bool copy_ok(unsigned char *dst_area, unsigned char *src_area, size_t len, size_t dalign,
		    size_t salign, bool dst_at_end)
{
	static unsigned char saved[AREA];
	unsigned char *dst = dst_at_end ? dst_area + AREA - len - dalign : dst_area + dalign;
	unsigned char *src = dst_at_end ? src_area + salign : src_area + AREA - len - salign;
	size_t off = (size_t)(dst - dst_area), lo, hi;

	prepare(dst_area, saved, dst, len);
	fill_random(src, len);
	window(dst_area, dst, len, &lo, &hi);
	if (kernel_memcpy(dst, src, len) != dst)
		return false;
	return memcmp(dst, src, len) == 0 && memcmp(dst_area + lo, saved + lo, off - lo) == 0 &&
	       memcmp(dst_area + off + len, saved + off + len, hi - off - len) == 0;
}

TEST(memcpy_every_length_alignment_and_edge)
{
	unsigned char *dst_area = guarded_area(), *src_area = guarded_area();

	rng_state = 12;
	for (size_t len = 0; len <= MAX_LEN; len++) {
		for (size_t align = 0; align < 16; align++) {
			size_t salign = (align * 5 + len) % 16;

			CHECK(copy_ok(dst_area, src_area, len, align, salign, true));
			CHECK(copy_ok(dst_area, src_area, len, align, salign, false));
		}
	}
	munmap(dst_area - PAGE, AREA + 2 * PAGE);
	munmap(src_area - PAGE, AREA + 2 * PAGE);
}

/* The page-sized calls the kernel makes most (zeroing and copying frames). */
TEST(whole_pages)
{
	unsigned char *a = guarded_area(), *b = guarded_area();

	rng_state = 13;
	fill_random(a, AREA);
	CHECK(kernel_memset(a, 0, AREA) == a);
	for (size_t i = 0; i < AREA; i++)
		CHECK(a[i] == 0);
	fill_random(b, AREA);
	CHECK(kernel_memcpy(a, b, AREA) == a);
	CHECK(memcmp(a, b, AREA) == 0);
	munmap(a - PAGE, AREA + 2 * PAGE);
	munmap(b - PAGE, AREA + 2 * PAGE);
}

int main(void)
{
	RUN(memset_every_length_alignment_and_edge);
	RUN(memcpy_every_length_alignment_and_edge);
	RUN(whole_pages);
	return check_done();
}
