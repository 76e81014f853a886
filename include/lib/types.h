/*
 * Fixed-width types shared by the loader, the kernel and host builds.
 * Owns the address types; nothing here touches hardware.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A physical address. Not a pointer: convert with phys_to_virt(). */
typedef uint64_t paddr_t;
/* A virtual address in some address space, possibly not the current one. */
typedef uint64_t vaddr_t;

/* Physical address 0 is real memory, so "no address" needs its own value. */
#define PADDR_INVALID ((paddr_t)-1)

#define PAGE_SHIFT 12
#define PAGE_SIZE  4096ull
#define PAGE_MASK  (PAGE_SIZE - 1)

#define ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a)-1))
#define ALIGN_UP(x, a)	 ALIGN_DOWN((uint64_t)(x) + (a)-1, (a))
#define IS_ALIGNED(x, a) (((uint64_t)(x) & ((uint64_t)(a)-1)) == 0)
#define ARRAY_SIZE(a)	 (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)	 ((a) < (b) ? (a) : (b))
#define MAX(a, b)	 ((a) > (b) ? (a) : (b))
#define KiB		 1024ull
#define MiB		 (1024ull * KiB)
#define GiB		 (1024ull * MiB)

#define __packed       __attribute__((packed))
#define __noreturn     __attribute__((noreturn))
#define __unused       __attribute__((unused))
#define __printf(a, b) __attribute__((format(printf, a, b)))
