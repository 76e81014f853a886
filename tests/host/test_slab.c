/*
 * Host tests for mm/slab.c, the object caches: geometry, allocation through
 * the magazines and back, slabs given back when empty, counts in
 * kmem_cache_info(), several CPUs, destroy refusing while objects live,
 * and the hardening: double frees (in a magazine or in a slab), foreign
 * pointers, a use after free and an overwritten freelist link are all
 * reported (the corrupt hook longjmps back into the test).
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
	CHECK(c.per_slab >= 120 && c.first + c.per_slab * c.stride <= KMEM_SLAB_SIZE);
	CHECK_EQ(c.first % 16, 0);
	CHECK_EQ(kmem_cache_destroy(&c), 0);
	CHECK_EQ(kmem_cache_create(&c, "c1000", 1000, 64), 0);
	CHECK_EQ(c.stride, 1024);
	CHECK_EQ(c.per_slab, 3);
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
	CHECK(info.total >= 2000 && info.bytes == info.slabs * KMEM_SLAB_SIZE);
	CHECK_EQ(pages_live, info.slabs);
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

int main(void)
{
	RUN(slab_create_checks_arguments_and_sizes_slabs);
	RUN(slab_alloc_free_many_then_destroy);
	RUN(slab_magazine_reuses_last_freed);
	RUN(slab_double_free_is_caught_in_magazine_and_slab);
	RUN(slab_foreign_and_misaligned_pointers_are_caught);
	RUN(slab_use_after_free_and_forged_link_are_caught);
	RUN(slab_static_cache_is_ready_on_first_use);
	return check_done();
}
