/*
 * The kernel's pseudo-random numbers (kernel/random.c): a xoshiro256**
 * generator seeded once at boot from the loader's entropy
 * (boot_info->random_seed[1]). For layout choices such as where a kernel
 * stack goes: fast and well mixed, NOT for cryptography (its output
 * reveals its state).
 */
#pragma once

#include <lib/types.h>

/* Seed the generator; before that random_u64() uses a fixed seed. */
void random_init(uint64_t seed);

/* 64 uniformly distributed bits. Takes an IRQ-safe lock: any context. */
uint64_t random_u64(void);

/* A uniform value in [0, n) without modulo bias; n must be non-zero. */
uint64_t random_below(uint64_t n);
