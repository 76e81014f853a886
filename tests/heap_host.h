/*
 * A heap window for host builds (unit tests, the fuzzer, `ninja bench`):
 * address space reserved with no access, so a heap's unmapped pages fault
 * here as they do in the kernel, and map/unmap that change the access and
 * give the memory back. A byte budget makes map fail on purpose, for
 * exhaustion tests. corrupt() long-jumps to host_heap.on_corrupt if a test
 * set it (keeping the message), else prints it and aborts.
 *
 * Include it before any system header: mmap's flags need _DEFAULT_SOURCE.
 */
#pragma once

#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif

#include <mm/heap.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct host_heap {
	struct heap heap;
	void *reservation;
	size_t reservation_size;
	uint64_t mapped;       /* bytes mapped now */
	uint64_t budget;       /* map fails beyond this many bytes; 0: no limit */
	uint64_t maps, unmaps; /* calls */
	jmp_buf *on_corrupt;   /* where corrupt() jumps, if set */
	char corrupt_msg[256]; /* the last report */
};

static int host_heap_map(void *ctx, uintptr_t va, size_t size)
{
	struct host_heap *hh = ctx;

	if (hh->budget && hh->mapped + size > hh->budget)
		return -12; /* -ENOMEM */
	if (mprotect((void *)va, size, PROT_READ | PROT_WRITE) != 0)
		return -12;
	hh->mapped += size;
	hh->maps++;
	return 0;
}

static void host_heap_unmap(void *ctx, uintptr_t va, size_t size)
{
	struct host_heap *hh = ctx;

	/* Drop the contents (the next map reads zeroes) and the access. */
	if (madvise((void *)va, size, MADV_DONTNEED) != 0 ||
	    mprotect((void *)va, size, PROT_NONE) != 0) {
		perror("host_heap_unmap");
		abort();
	}
	hh->mapped -= size;
	hh->unmaps++;
}

__attribute__((noreturn)) static void host_heap_corrupt(void *ctx, const char *msg)
{
	struct host_heap *hh = ctx;

	snprintf(hh->corrupt_msg, sizeof(hh->corrupt_msg), "%s", msg);
	if (hh->on_corrupt)
		longjmp(*hh->on_corrupt, 1);
	fprintf(stderr, "heap corrupt: %s\n", msg);
	abort();
}

static const struct heap_ops host_heap_ops = {
    .map = host_heap_map,
    .unmap = host_heap_unmap,
    .corrupt = host_heap_corrupt,
};

/*
 * Reserve a window of size bytes (a multiple of HEAP_CHUNK_STRIDE) and set
 * hh's heap up over it. Returns 0, or -1 if the reservation failed.
 */
static inline int host_heap_create(struct host_heap *hh, uint64_t size, uint64_t secret)
{
	size_t reserve = size + HEAP_CHUNK_STRIDE;
	void *p;
	uintptr_t base;

	memset(hh, 0, sizeof(*hh));
	p = mmap(NULL, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	hh->reservation = p;
	hh->reservation_size = reserve;
	base = ((uintptr_t)p + HEAP_CHUNK_STRIDE - 1) & ~(uintptr_t)(HEAP_CHUNK_STRIDE - 1);
	if (heap_init(&hh->heap, base, size, &host_heap_ops, hh, secret) != 0) {
		munmap(p, reserve);
		return -1;
	}
	return 0;
}

/* Release the whole window, whatever the heap still holds. */
static inline void host_heap_destroy(struct host_heap *hh)
{
	munmap(hh->reservation, hh->reservation_size);
	hh->reservation = NULL;
}
