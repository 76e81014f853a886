/*
 * The other allocators the heap suite measures against, in the same
 * process as glibc's: jemalloc and mimalloc.
 *
 * Debian builds both to replace malloc: libjemalloc exports malloc and free
 * without a prefix (there is no je_malloc), and libmimalloc.so.2 exports
 * malloc beside mi_malloc. Linking either as it is would make it the
 * process's malloc, so glibc could no longer be timed beside it.
 *  - jemalloc: build.ninja links its static library (libjemalloc_pic.a)
 *    with the malloc API renamed by objcopy to bench_je_malloc, ... Its
 *    shared library cannot be dlopen()ed: it uses initial-exec TLS ("cannot
 *    allocate memory in static TLS block").
 *  - mimalloc: dlopen() with RTLD_LOCAL (its malloc stays out of the global
 *    scope) and RTLD_DEEPBIND (it binds its own references to itself), then
 *    mi_malloc/mi_free through pointers.
 * Every reference is called through a pointer here: one indirect call each
 * way, as glibc's malloc is reached through the PLT.
 */
#define _GNU_SOURCE

#include "bench.h"

#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>

/* jemalloc's, renamed (build.ninja's jemalloc_rename rule). */
void *bench_je_malloc(size_t n);
void bench_je_free(void *p);
size_t bench_je_malloc_usable_size(void *p);

static const struct {
	const char *name, *lib, *malloc_sym, *free_sym, *usable_sym;
} ref_libs[BENCH_NMALLOC] = {
    [BENCH_GLIBC] = {"glibc", NULL, NULL, NULL, NULL},
    [BENCH_JEMALLOC] = {"jemalloc", NULL, NULL, NULL, NULL},
    [BENCH_MIMALLOC] = {"mimalloc", "libmimalloc.so.2", "mi_malloc", "mi_free", "mi_usable_size"},
};

static struct bench_malloc refs[BENCH_NMALLOC];

const struct bench_malloc *bench_malloc_ref(enum bench_malloc_kind k)
{
	struct bench_malloc *m = &refs[k];

	if (m->name)
		return m->malloc ? m : NULL;
	m->name = ref_libs[k].name;
	if (k == BENCH_GLIBC) {
		m->malloc = malloc;
		m->free = free;
		m->usable = malloc_usable_size;
		return m;
	}
	if (k == BENCH_JEMALLOC) {
		m->malloc = bench_je_malloc;
		m->free = bench_je_free;
		m->usable = bench_je_malloc_usable_size;
		return m;
	}
	void *h = dlopen(ref_libs[k].lib, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
	if (!h) {
		bench_info("%s not measured: %s (scripts/setup.sh installs it)", m->name,
			   dlerror());
		return NULL;
	}
	m->malloc = (void *(*)(size_t))dlsym(h, ref_libs[k].malloc_sym);
	m->free = (void (*)(void *))dlsym(h, ref_libs[k].free_sym);
	m->usable = (size_t(*)(void *))dlsym(h, ref_libs[k].usable_sym);
	if (!m->malloc || !m->free || !m->usable) {
		bench_info("%s not measured: a symbol is missing from %s", m->name,
			   ref_libs[k].lib);
		m->malloc = NULL;
		return NULL;
	}
	return m;
}
