/*
 * The object caches' backend for host builds (the unit test and the
 * fuzzer): slabs from aligned_alloc, their pages counted so a test can
 * check that every page came back, and a CPU number the test sets to play several
 * CPUs' magazines. Each program adds its own secret and corruption hook.
 */
#pragma once

#include <mm/slab.h>
#include <stdlib.h>

static unsigned cur_cpu, pages_live;

static void *page_alloc(size_t size)
{
	void *p = aligned_alloc(size, size);

	if (p)
		pages_live += (unsigned)(size / KMEM_SLAB_MIN);
	return p;
}

static void page_free(void *p, size_t size)
{
	pages_live -= (unsigned)(size / KMEM_SLAB_MIN);
	free(p);
}

static unsigned cpu(void)
{
	return cur_cpu;
}
