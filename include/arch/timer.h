/*
 * What the generic timer (kernel/timer.c) asks of the machine: a periodic
 * interrupt at a chosen rate, calibrated against a clock of known rate.
 * On x86-64 it is the local APIC timer (arch/x86_64/apic.c); interrupt
 * masking is <arch/irq.h> (arch_irq_enable, arch_irq_disable, ...).
 */
#pragma once

#include <lib/types.h>

/* What arch_timer_init() found. */
struct arch_timer_info {
	const char *name;      /* "local APIC timer" */
	const char *reference; /* the clock it was calibrated against */
	uint64_t ticks_per_ms; /* the timer's input clock, ticks per millisecond */
	uint64_t tsc_khz;      /* arch_timestamp() ticks per millisecond */
	uint64_t stray;	       /* interrupts from the masked legacy PICs */
	uint64_t spurious;     /* spurious interrupts (counted, never acknowledged) */
};

/*
 * Find the interrupt controller and timer, route legacy interrupts away
 * from the exception vectors, and calibrate. Interrupts stay off.
 * Panics if the CPU has no usable timer (the message says what is missing).
 */
void arch_timer_init(void);

/*
 * Start the periodic timer at hz ticks a second; tick() then runs in
 * interrupt context, interrupts off, once per tick (the arch acknowledges
 * the interrupt after it returns). Returns 0, or -EINVAL if hz is 0 or
 * beyond what the calibrated clock can divide.
 */
int arch_timer_start(unsigned int hz, void (*tick)(void));

/*
 * Start this AP's timer with the boot CPU's calibration (the same count):
 * tick runs on this CPU only, and the boot CPU's tick is left alone.
 * 0 or -EINVAL (as arch_timer_start).
 */
int arch_timer_start_this_cpu(unsigned int hz, void (*tick)(void));

/* Stop the timer; no tick() runs after this returns. */
void arch_timer_stop(void);

const struct arch_timer_info *arch_timer_info(void);

/*
 * The running timer's counter: what is left of the current period, in the
 * timer's input ticks (it counts down and reloads to *period), read at
 * once with the TSC into *tsc. For tests that time the timer itself,
 * without interrupts.
 */
uint64_t arch_timer_counter(uint64_t *tsc, uint64_t *period);
