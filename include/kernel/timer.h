/*
 * The kernel's clock tick (kernel/timer.c): a periodic timer interrupt at
 * TIMER_HZ, counted, with one hook the scheduler takes. Interrupts are
 * off until sched_init() turns them on for good.
 */
#pragma once

#include <lib/types.h>

/*
 * 100 Hz (10 ms slices and sleep steps), not 1000: under QEMU TCG one tick
 * costs 15-50 us of host time (measured: ktest=timer), 1.5-5% of a 1 ms
 * period; and QEMU drops every period its periodic timer misses while the
 * host does not run it, which on our shared 2-core machines lost up to
 * half the ticks at 1000 Hz and only a stall of 10 ms loses one at 100 Hz.
 * timer_set_rate() runs it faster for a while (tests).
 */
#define TIMER_HZ 100

/* Set up and calibrate the timer, start it at TIMER_HZ, print its line. Interrupts stay off. */
void timer_init(void);

/* Run the timer at hz from now on (timer_ticks() keeps counting). 0 or -EINVAL. */
int timer_set_rate(unsigned int hz);

/* Ticks since timer_init(). */
uint64_t timer_ticks(void);

/*
 * Run hook(tick) on every tick, in interrupt context with interrupts off
 * (for tests now, the scheduler later); NULL removes it. Returns the
 * previous hook.
 */
typedef void (*timer_hook_fn)(uint64_t tick);
timer_hook_fn timer_set_hook(timer_hook_fn hook);
