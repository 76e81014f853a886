/*
 * The kernel's virtual memory layout: the one place that knows the windows.
 * Regions are half-open [START, START + SIZE). 4-level paging, 48-bit.
 *
 *   0x0000_0000_0000_0000  lower half: nothing mapped once the kernel runs
 *   0xffff_8000_0000_0000  direct map of all RAM, RW, NX       (64 TiB)
 *   0xffff_c000_0000_0000  kernel image (PIE)                  (16 TiB)
 *   0xffff_d000_0000_0000  heap                                (16 TiB)
 *   0xffff_e000_0000_0000  kernel stacks with guard pages      (16 TiB)
 *   0xffff_f000_0000_0000  MMIO: framebuffer, devices          (16 TiB)
 *
 * The *_FIXED_BASE values are the `nokaslr` bases, documented for GDB.
 */
#pragma once

#define LAYOUT_DIRECT_MAP_START 0xffff800000000000ull
#define LAYOUT_DIRECT_MAP_SIZE	0x0000400000000000ull
#define LAYOUT_KERNEL_START	0xffffc00000000000ull
#define LAYOUT_KERNEL_SIZE	0x0000100000000000ull
#define LAYOUT_HEAP_START	0xffffd00000000000ull
#define LAYOUT_HEAP_SIZE	0x0000100000000000ull
#define LAYOUT_STACK_START	0xffffe00000000000ull
#define LAYOUT_STACK_SIZE	0x0000100000000000ull
#define LAYOUT_MMIO_START	0xfffff00000000000ull
#define LAYOUT_MMIO_SIZE	0x0000100000000000ull

/* Highest user-half address + 1: everything below is the lower half. */
#define LAYOUT_LOWER_HALF_END 0x0000800000000000ull

/*
 * The lower half of a user address space (128 TiB). Nothing is ever mapped
 * below LAYOUT_USER_START, so a NULL pointer (plus a small offset) always
 * faults. Each window gets a base drawn at random per process, page
 * aligned, so that base + extent stays inside it:
 *
 *   0x0000_0000_0001_0000  program image (static PIE)   window 16 TiB
 *   0x0000_1000_0000_0000  mmap area                    window 64 TiB
 *   0x0000_7000_0000_0000  stack, guard page below      window 15 TiB
 *   0x0000_7fff_0000_0000  top 4 GiB: never mapped (SYSRET needs a gap
 *                          below the canonical hole)
 */
#define LAYOUT_USER_START	   0x0000000000010000ull
#define LAYOUT_USER_PROGRAM_START  LAYOUT_USER_START
#define LAYOUT_USER_PROGRAM_SIZE   0x0000100000000000ull
#define LAYOUT_USER_PROGRAM_EXTENT (1ull << 32) /* largest image: 4 GiB */
#define LAYOUT_USER_MMAP_START	   0x0000100000000000ull
#define LAYOUT_USER_MMAP_SIZE	   0x0000400000000000ull
#define LAYOUT_USER_MMAP_EXTENT	   (16ull << 40) /* mappings of one process: 16 TiB */
#define LAYOUT_USER_STACK_START	   0x0000700000000000ull
#define LAYOUT_USER_STACK_SIZE	   0x00000f0000000000ull
#define LAYOUT_USER_STACK_EXTENT   (1ull << 30) /* reserve + guard: 1 GiB at most */
#define LAYOUT_USER_END		   0x00007fff00000000ull

#define LAYOUT_DIRECT_MAP_FIXED_BASE LAYOUT_DIRECT_MAP_START
#define LAYOUT_KERNEL_FIXED_BASE     LAYOUT_KERNEL_START
#define LAYOUT_HEAP_FIXED_BASE	     LAYOUT_HEAP_START
#define LAYOUT_STACK_FIXED_BASE	     LAYOUT_STACK_START
#define LAYOUT_MMIO_FIXED_BASE	     LAYOUT_MMIO_START

/*
 * KASLR: how much of each window a region may use above its base (the base
 * is drawn so that base + extent stays inside the window), and the step
 * between possible bases. docs/layout.md works out the entropy.
 */
#define LAYOUT_DIRECT_MAP_ALIGN (2ull << 20) /* keeps 2 MiB pages possible */
#define LAYOUT_HEAP_EXTENT	(4ull << 40)
#define LAYOUT_HEAP_ALIGN	(512ull << 10) /* HEAP_CHUNK_STRIDE: heap_init()'s finest */
#define LAYOUT_STACK_EXTENT	(1ull << 40)
#define LAYOUT_MMIO_EXTENT	(1ull << 40)

/*
 * Every randomised region gets at least this many bits. The fixed-extent
 * regions are checked here; the loader warns if the direct map (RAM above
 * 32 TiB) or the kernel (an image near 16 TiB) would fall short.
 */
#define LAYOUT_KASLR_MIN_BITS			24
#define LAYOUT_KASLR_SLOTS(size, extent, align) (((size) - (extent)) / (align) + 1)
#define LAYOUT_KASLR_ENOUGH(size, extent, align)                                                   \
	(LAYOUT_KASLR_SLOTS(size, extent, align) >= 1ull << LAYOUT_KASLR_MIN_BITS)

_Static_assert(LAYOUT_KASLR_ENOUGH(LAYOUT_HEAP_SIZE, LAYOUT_HEAP_EXTENT, LAYOUT_HEAP_ALIGN),
	       "heap: fewer than 24 bits of KASLR");
_Static_assert(LAYOUT_KASLR_ENOUGH(LAYOUT_STACK_SIZE, LAYOUT_STACK_EXTENT, 4096),
	       "stacks: fewer than 24 bits of KASLR");
_Static_assert(LAYOUT_KASLR_ENOUGH(LAYOUT_MMIO_SIZE, LAYOUT_MMIO_EXTENT, 4096),
	       "mmio: fewer than 24 bits of KASLR");

/* Boot stack: BOOT_STACK_SIZE bytes with an unmapped guard page below. */
#define BOOT_STACK_SIZE (64 * 1024)

/* True if [va, va + len) lies inside the window [start, start + size). */
#define LAYOUT_IN_WINDOW(va, len, start, size)                                                     \
	((va) >= (start) && (len) <= (size) && (va) - (start) <= (size) - (len))
