/* Stopping the kernel when an invariant breaks. */
#pragma once

#include <kernel/exit_codes.h>
#include <lib/types.h>

struct trap_frame;

/*
 * Print "aerie: panic: <what>", registers, a symbolised backtrace, then
 * exit QEMU with 0x12 (isa-debug-exit) if present, else halt.
 */
__noreturn void panic(const char *fmt, ...) __printf(1, 2);

/* The same, for an exception: registers and backtrace come from frame. */
__noreturn void panic_trap(const struct trap_frame *frame, const char *fmt, ...) __printf(2, 3);

/* Cheap invariant checks: always on. */
#define KASSERT(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			panic("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__);          \
	} while (0)
