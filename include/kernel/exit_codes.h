/*
 * What the kernel writes to QEMU's isa-debug-exit port (0xf4) when it is
 * done: QEMU then exits with status (code << 1) | 1 (33, 35, 37).
 * scripts/qemu.py reads this file: it is the one place for these values.
 */
#pragma once

#define EXIT_TESTS_PASSED 0x10 /* ktest: every test passed */
#define EXIT_TESTS_FAILED 0x11 /* ktest: a test failed, or nothing ran */
#define EXIT_PANIC	  0x12 /* panic() */
