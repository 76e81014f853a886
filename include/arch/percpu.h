/*
 * How generic code reaches this CPU's per-CPU area (include/kernel/percpu.h).
 * On x86-64 the area's address is the GS base (arch/x86_64/percpu.c), which
 * _start sets to the boot CPU's area before the first C function runs.
 */
#pragma once

#include <kernel/percpu.h>

/*
 * Make area this CPU's per-CPU area (area->self must already point at it).
 * => interrupts off; every protected frame open now was set up with
 *    area->stack_canary, or it fails its check on return.
 */
void arch_percpu_install(struct percpu *area);

/* This CPU's per-CPU area. Valid from the kernel's first instruction on. */
struct percpu *arch_percpu(void);

/*
 * This CPU's running thread (its area's current_thread), read in one
 * instruction: a thread that is preempted and moved to another CPU between
 * finding its area and reading the field would read another CPU's thread.
 */
void *arch_percpu_current(void);

/* CPU cpu's area (cpu is up: arch_smp_online). */
struct percpu *arch_percpu_of(unsigned int cpu);

/* The boot CPU's area: static, installed by _start. */
extern struct percpu percpu_boot;
