/*
 * Host tests for mm/slab.c, the object caches: geometry, allocation through
 * the magazines and back, slabs given back when empty, counts in
 * kmem_cache_info(), several CPUs and frees on a CPU other than the
 * allocating one, multi-page slabs, a magazine hit that writes no slab
 * header, destroy refusing while objects live, and the hardening: double
 * frees (in any CPU's magazine or in a slab), foreign pointers, a use
 * after free (of a slab object or a magazine object) and an overwritten
 * or bit-flipped freelist link are all reported (the corrupt hook
 * longjmps back into the test).
 */
#include <mm/slab.h>
#include <lib/errno.h>

#include <setjmp.h>
#include <stdlib.h>

#include "check.h"
#include "../slab_host.h"

static jmp_buf on_corrupt;
static const char *corrupt_msg;

static uint64_t secret(void)
{
	return 0x9e3779b97f4a7c15ull;
}

static __noreturn void on_corruption(const char *msg)
{
	corrupt_msg = msg;
	longjmp(on_corrupt, 1);
}

static const struct kmem_backend host_backend = {page_alloc, page_free, cpu, secret, on_corruption};
const struct kmem_backend *kmem_backend = &host_backend;

/* Run stmt expecting a corruption report containing msg. */
#define CHECK_CORRUPT(stmt, msg)                                                                   \
	do {                                                                                       \
		corrupt_msg = NULL;                                                                \
		if (!setjmp(on_corrupt)) {                                                         \
			stmt;                                                                      \
		}                                                                                  \
		CHECK(corrupt_msg &&strstr(corrupt_msg, msg));                                     \
	} while (0)

TEST(slab_create_checks_arguments_and_sizes_slabs)
{
	struct kmem_cache c;

	CHECK_EQ(kmem_cache_create(&c, "bad", 0, 8), -EINVAL);
	CHECK_EQ(kmem_cache_create(&c, "bad", KMEM_MAX_SIZE + 1, 8), -EINVAL);
	CHECK_EQ(kmem_cache_create(&c, "bad", 64, 3), -EINVAL);
	CHECK_EQ(kmem_cache_create(&c, "c24", 24, 8), 0);
	CHECK_EQ(c.stride, 32);
	CHECK(c.per_slab >= 120 && c.slab_size == KMEM_SLAB_MIN &&
	      c.first + c.per_slab * c.stride <= KMEM_SLAB_MIN);
	CHECK_EQ(c.first % 16, 0);
	CHECK_EQ(kmem_cache_destroy(&c), 0);
	CHECK_EQ(kmem_cache_create(&c, "c1000", 1000, 64), 0);
	CHECK_EQ(c.stride, 1024);
	CHECK_EQ(c.slab_size, 4 * KMEM_SLAB_MIN); /* 1 and 2 pages hold fewer than 8 */
	CHECK_EQ(c.per_slab, 15);
	CHECK_EQ(kmem_cache_destroy(&c), 0);
}

TEST(slab_alloc_free_many_then_destroy)
{
	static struct kmem_cache c;
	static void *objs[2000];

	CHECK_EQ(kmem_cache_create(&c, "obj100", 100, 8), 0);
	for (unsigned i = 0; i < 2000; i++) {
		cur_cpu = i % 3;
		objs[i] = kmem_cache_alloc(&c);
		CHECK(objs[i] != NULL);
		CHECK_EQ((uintptr_t)objs[i] % 8, 0);
		memset(objs[i], (int)i, 100);
	}
	for (unsigned i = 0; i < 2000; i++)
		for (unsigned j = 0; j < 100; j += 33)
			CHECK_EQ(((unsigned char *)objs[i])[j], (unsigned char)i);
	struct kmem_cache_info info;
	kmem_cache_info(&c, &info);
	CHECK_EQ(info.active, 2000);
	CHECK(info.total >= 2000 && info.bytes == info.slabs * c.slab_size);
	CHECK_EQ(pages_live, info.bytes / KMEM_SLAB_MIN);
	CHECK(kmem_cache_check(&c));
	CHECK_EQ(kmem_cache_destroy(&c), -EBUSY);
	for (unsigned i = 0; i < 2000; i++) {
		cur_cpu = (i * 7) % 5;
		kmem_cache_free(&c, objs[(i * 13) % 2000]);
	}
	CHECK(kmem_cache_check(&c));
	kmem_cache_info(&c, &info);
	CHECK_EQ(info.active, 0);
	CHECK(info.slabs <= KMEM_KEEP_EMPTY + info.cached); /* each cached object pins one */
	CHECK_EQ(kmem_cache_destroy(&c), 0);
	CHECK_EQ(pages_live, 0);
	cur_cpu = 0;
}

TEST(slab_magazine_reuses_last_freed)
{
	static struct kmem_cache c;

	CHECK_EQ(kmem_cache_create(&c, "reuse", 64, 16), 0);
	void *a = kmem_cache_alloc(&c);
	kmem_cache_free(&c, a);
	CHECK(kmem_cache_alloc(&c) == a);
	CHECK_EQ(((unsigned char *)a)[10], KMEM_POISON); /* freed memory was poisoned */
	void *z = kmem_cache_zalloc(&c);
	CHECK_EQ(((unsigned char *)z)[63], 0);
	kmem_cache_free(&c, a);
	kmem_cache_free(&c, z);
	CHECK_EQ(kmem_cache_destroy(&c), 0);
}

TEST(slab_double_free_is_caught_in_magazine_and_slab)
{
	static struct kmem_cache c;
	static void *objs[100];

	CHECK_EQ(kmem_cache_create(&c, "df", 48, 8), 0);
	void *a = kmem_cache_alloc(&c);
	kmem_cache_free(&c, a);
	CHECK_CORRUPT(kmem_cache_free(&c, a), "double free"); /* a is in the magazine */
	cur_cpu = 1;
	CHECK_CORRUPT(kmem_cache_free(&c, a), "double free"); /* another CPU's magazine */
	cur_cpu = 0;
	for (unsigned i = 0; i < 100; i++)
		objs[i] = kmem_cache_alloc(&c);
	for (unsigned i = 0; i < 100; i++)
		kmem_cache_free(&c, objs[i]); /* most go back to their slabs */
	CHECK_CORRUPT(kmem_cache_free(&c, objs[0]), "double free");
	CHECK(kmem_cache_check(&c));
	CHECK_EQ(kmem_cache_destroy(&c), 0);
}

TEST(slab_foreign_and_misaligned_pointers_are_caught)
{
	static struct kmem_cache c, d;

	CHECK_EQ(kmem_cache_create(&c, "c", 64, 8), 0);
	CHECK_EQ(kmem_cache_create(&d, "d", 64, 8), 0);
	char *a = kmem_cache_alloc(&c);
	CHECK_CORRUPT(kmem_cache_free(&d, a), "never handed out");
	CHECK_CORRUPT(kmem_cache_free(&c, a + 8), "never handed out");
	kmem_cache_free(&c, a);
	CHECK_EQ(kmem_cache_destroy(&c), 0);
	CHECK_EQ(kmem_cache_destroy(&d), 0);
}

/* Fill a cache's slab, free it all back so objects sit on the freelist, then return one. */
static char *freelist_object(struct kmem_cache *c)
{
	static void *objs[300];
	unsigned n = c->per_slab + KMEM_MAG_SIZE;

	for (unsigned i = 0; i < n; i++)
		objs[i] = kmem_cache_alloc(c);
	for (unsigned i = 0; i < n; i++)
		kmem_cache_free(c, objs[i]);
	return objs[0]; /* the oldest: flushed to its slab first */
}

TEST(slab_use_after_free_and_forged_link_are_caught)
{
	static struct kmem_cache c;

	CHECK_EQ(kmem_cache_create(&c, "uaf", 64, 8), 0);
	char *o = freelist_object(&c);
	o[20] = 1; /* a write after free */
	CHECK_CORRUPT(for (unsigned i = 0; i < 2 * c.per_slab; i++) kmem_cache_alloc(&c),
		      "use after free");

	static struct kmem_cache e;
	CHECK_EQ(kmem_cache_create(&e, "steer", 64, 8), 0);
	o = freelist_object(&e);
	static char target[64];
	*(uint64_t *)o = (uintptr_t)target; /* a plain pointer: decodes to garbage */
	CHECK_CORRUPT(for (unsigned i = 0; i < 2 * e.per_slab; i++) kmem_cache_alloc(&e),
		      "link was overwritten");
}

TEST(slab_static_cache_is_ready_on_first_use)
{
	static struct kmem_cache t = KMEM_CACHE_INIT(
	    "static", struct { uint64_t a[5]; });
	struct kmem_cache_info info;
	unsigned listed = 0;

	void *p = kmem_cache_alloc(&t);
	CHECK(p != NULL && t.ready && t.stride == 48);
	kmem_cache_info(&t, &info);
	CHECK_STR(info.name, "static");
	CHECK_EQ(info.active, 1);
	for (struct kmem_cache *c = &t; c; c = c->next_cache)
		listed++;
	CHECK(listed >= 1);
	kmem_cache_free(&t, p);
	CHECK_EQ(kmem_cache_destroy(&t), 0);
}

/* Objects allocated on CPU 0, freed on CPU 1; a second free on any CPU, wherever it sits. */
TEST(slab_cross_cpu_double_free_is_caught_on_every_path)
{
	static struct kmem_cache c;
	static void *objs[200];

	unsigned pages = pages_live; /* other tests' caches left corrupt keep theirs */

	CHECK_EQ(kmem_cache_create(&c, "xcpu", 96, 32), 0);
	cur_cpu = 0;
	for (unsigned i = 0; i < 200; i++)
		objs[i] = kmem_cache_alloc(&c);
	cur_cpu = 1;
	/* The even ones: into CPU 1's magazine, most flushed to their slabs (kept by the odd). */
	for (unsigned i = 0; i < 200; i += 2)
		kmem_cache_free(&c, objs[i]);
	CHECK(kmem_cache_check(&c));
	struct kmem_cache_info info;
	kmem_cache_info(&c, &info);
	CHECK(info.cached > 0 && info.active == 100);
	for (unsigned i = 0; i < 200; i += 2) {
		cur_cpu = i / 2 % 4; /* CPU 1's own, and three others */
		CHECK_CORRUPT(kmem_cache_free(&c, objs[i]), "double free");
	}
	CHECK(kmem_cache_check(&c)); /* the refused frees changed nothing */
	for (unsigned i = 1; i < 200; i += 2) {
		cur_cpu = 3;
		kmem_cache_free(&c, objs[i]);
	}
	cur_cpu = 1;
	void *a = kmem_cache_alloc(&c); /* the last freed, from CPU 1's magazine */
	CHECK(a == objs[198]);
	cur_cpu = 2;
	kmem_cache_free(&c, a); /* now in CPU 2's magazine */
	cur_cpu = 1;
	CHECK_CORRUPT(kmem_cache_free(&c, a), "double free");
	CHECK(kmem_cache_check(&c));
	CHECK_EQ(kmem_cache_destroy(&c), 0); /* drains every CPU's magazine */
	CHECK_EQ(pages_live, pages);
	cur_cpu = 0;
}

/* A write to a freed object sitting in a magazine (its tag) is caught when it leaves. */
TEST(slab_write_to_cached_object_is_caught)
{
	static struct kmem_cache c, d;

	CHECK_EQ(kmem_cache_create(&c, "uaf-mag", 64, 8), 0);
	char *a = kmem_cache_alloc(&c);
	kmem_cache_free(&c, a);
	*(uint64_t *)a = 0; /* a use after free that hits the tag */
	CHECK_CORRUPT(kmem_cache_alloc(&c), "written to");

	/* The same write found when the magazine is flushed back to its slab. */
	static void *objs[64];
	CHECK_EQ(kmem_cache_create(&d, "uaf-flush", 64, 8), 0);
	for (unsigned i = 0; i < 64; i++)
		objs[i] = kmem_cache_alloc(&d);
	kmem_cache_free(&d, objs[0]); /* the oldest in the magazine: flushed first */
	*(uint64_t *)objs[0] = 1;
	CHECK_CORRUPT(for (unsigned i = 1; i < 64; i++) kmem_cache_free(&d, objs[i]), "written to");
	/* d's lock is held by the report: d is not used again. */
}

/* One flipped bit in an encoded link makes it point off an object boundary: reported. */
TEST(slab_bit_flipped_link_is_caught)
{
	static struct kmem_cache c;

	CHECK_EQ(kmem_cache_create(&c, "flip", 64, 8), 0);
	char *o = freelist_object(&c);
	*(uint64_t *)o ^= 1u << 4; /* 16 bytes off: inside an object */
	CHECK_CORRUPT(for (unsigned i = 0; i < 2 * c.per_slab; i++) kmem_cache_alloc(&c),
		      "link was overwritten");
}

/* Objects over 1 KiB: slabs of several pages, aligned to their size, all given back. */
TEST(slab_multi_page_slabs)
{
	static struct kmem_cache c, d;
	static char *objs[100];
	unsigned pages = pages_live;

	CHECK_EQ(kmem_cache_create(&c, "big", 3728, 8), 0); /* struct aspace's size */
	CHECK_EQ(c.slab_size, 8 * KMEM_SLAB_MIN);
	CHECK_EQ(c.per_slab, 8);
	CHECK(c.first + c.per_slab * c.stride <= c.slab_size);
	CHECK_EQ(kmem_cache_create(&d, "big2", KMEM_MAX_SIZE, 64), 0);
	CHECK(d.slab_size == KMEM_SLAB_MAX && d.per_slab >= 3);
	for (unsigned i = 0; i < 100; i++) {
		cur_cpu = i % 3;
		objs[i] = kmem_cache_alloc(&c);
		CHECK(objs[i] != NULL);
		memset(objs[i], (int)i, 3728);
	}
	struct kmem_cache_info info;
	kmem_cache_info(&c, &info);
	CHECK_EQ(pages_live - pages, info.slabs * 8);
	CHECK_EQ(info.bytes, info.slabs * c.slab_size);
	CHECK_CORRUPT(kmem_cache_free(&d, objs[5]), "never handed out");
	CHECK_CORRUPT(kmem_cache_free(&c, objs[5] + c.stride / 2), "never handed out");
	for (unsigned i = 0; i < 100; i++) {
		CHECK(objs[i][0] == (char)i && objs[i][3727] == (char)i);
		cur_cpu = (i + 1) % 3;
		kmem_cache_free(&c, objs[i]);
	}
	CHECK(kmem_cache_check(&c));
	CHECK_EQ(kmem_cache_destroy(&c), 0);
	CHECK_EQ(kmem_cache_destroy(&d), 0);
	CHECK_EQ(pages_live, pages);
	cur_cpu = 0;
}

/* A magazine hit (alloc then free) writes no byte of the slab's header or state. */
TEST(slab_magazine_hit_writes_no_slab_header)
{
	static struct kmem_cache c;
	static unsigned char before[KMEM_SLAB_MIN];

	CHECK_EQ(kmem_cache_create(&c, "hit", 64, 64), 0);
	CHECK_EQ(c.first % KMEM_LINE, 0); /* line-sized objects start on a line */
	void *a = kmem_cache_alloc(&c);	  /* refills the magazine */
	unsigned char *slab = (unsigned char *)((uintptr_t)a & ~(uintptr_t)(c.slab_size - 1));
	memcpy(before, slab, c.first);
	for (unsigned i = 0; i < 100; i++) {
		kmem_cache_free(&c, a);
		a = kmem_cache_alloc(&c);
	}
	CHECK(memcmp(before, slab, c.first) == 0);
	kmem_cache_free(&c, a);
	CHECK_EQ(kmem_cache_destroy(&c), 0);
}

int main(void)
{
	RUN(slab_create_checks_arguments_and_sizes_slabs);
	RUN(slab_alloc_free_many_then_destroy);
	RUN(slab_magazine_reuses_last_freed);
	RUN(slab_double_free_is_caught_in_magazine_and_slab);
	RUN(slab_foreign_and_misaligned_pointers_are_caught);
	RUN(slab_use_after_free_and_forged_link_are_caught);
	RUN(slab_static_cache_is_ready_on_first_use);
	RUN(slab_cross_cpu_double_free_is_caught_on_every_path);
	RUN(slab_write_to_cached_object_is_caught);
	RUN(slab_bit_flipped_link_is_caught);
	RUN(slab_multi_page_slabs);
	RUN(slab_magazine_hit_writes_no_slab_header);
	return check_done();
}
