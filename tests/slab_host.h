/*
 * The object caches' backend for host builds (the unit test and the
 * fuzzer): slab pages from aligned_alloc, counted so a test can check that
 * every page came back, and a CPU number the test sets to play several
 * CPUs' magazines. Each program adds its own secret and corruption hook.
 */
#pragma once

#include <mm/slab.h>
#include <stdlib.h>

static unsigned cur_cpu, pages_live;

static void *page_alloc(void)
{
	void *p = aligned_alloc(KMEM_SLAB_SIZE, KMEM_SLAB_SIZE);

	pages_live += p != NULL;
	return p;
}

static void page_free(void *p)
{
	pages_live--;
	free(p);
}

static unsigned cpu(void)
{
	return cur_cpu;
}
