/*
 * The clock tick: starts the machine's periodic timer (include/arch/timer.h)
 * and counts its interrupts. The scheduler hooks in here next.
 */
#include <arch/timer.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <kernel/timer.h>

static volatile uint64_t ticks;
static volatile timer_hook_fn tick_hook;

/* Interrupt context, interrupts off. */
static void timer_tick(void)
{
	timer_hook_fn hook = tick_hook;
	uint64_t n = ticks + 1;

	ticks = n;
	if (hook)
		hook(n);
}

void timer_init(void)
{
	const struct arch_timer_info *ti;
	int err;

	arch_timer_init();
	ti = arch_timer_info();
	err = arch_timer_start(TIMER_HZ, timer_tick);
	if (err)
		panic("timer: cannot run the %s at %u Hz (error %d)", ti->name, TIMER_HZ, err);
	kinfo("timer: %s %u Hz (calibrated against %s: %llu ticks/ms, TSC %llu kHz)", ti->name,
	      TIMER_HZ, ti->reference, (unsigned long long)ti->ticks_per_ms,
	      (unsigned long long)ti->tsc_khz);
}

int timer_set_rate(unsigned int hz)
{
	return arch_timer_start(hz, timer_tick);
}

uint64_t timer_ticks(void)
{
	return ticks;
}

timer_hook_fn timer_set_hook(timer_hook_fn hook)
{
	timer_hook_fn old = tick_hook;

	tick_hook = hook;
	return old;
}
