/*
 * Allocation stress for ktests (include/kernel/alloc_stress.h): the same
 * heap-and-frame traffic from the timer interrupt and from threads.
 */
#include <arch/arch.h>
#include <arch/timer.h>
#include <kernel/alloc_stress.h>
#include <kernel/timer.h>
#include <mm/kmalloc.h>
#include <mm/pmm_boot.h>

static volatile uint64_t hook_runs, hook_failures;
static unsigned int hook_every;
static timer_hook_fn prev_hook;

/* Every tick: the previous hook's work, then on some ticks a block and a frame, written and given
 * back. */
static void alloc_hook(uint64_t tick)
{
	size_t size = 16 + (tick * 37) % 1000;
	uint8_t *p;
	paddr_t pa;

	if (prev_hook)
		prev_hook(tick);
	if (tick % hook_every)
		return;
	p = kmalloc(size);
	pa = pmm_alloc(&pmm_kernel);
	if (!p || pa == PADDR_INVALID)
		hook_failures++;
	for (size_t i = 0; p && i < size; i++)
		p[i] = (uint8_t)tick;
	kfree(p);
	if (pa != PADDR_INVALID && pmm_free(&pmm_kernel, pa) != 0)
		hook_failures++;
	hook_runs++;
}

void alloc_stress_hook_start(unsigned int every)
{
	hook_runs = hook_failures = 0;
	hook_every = every ? every : 1;
	prev_hook = timer_set_hook(alloc_hook);
}

struct alloc_stress_hook_stats alloc_stress_hook_stop(void)
{
	timer_set_hook(prev_hook);
	return (struct alloc_stress_hook_stats){hook_runs, hook_failures};
}

/* Free slot i's block and frame; returns 1 if the frame's free was refused. */
static long release(void **blocks, paddr_t *frames, int i)
{
	long refused = frames[i] != PADDR_INVALID && pmm_free(&pmm_kernel, frames[i]) != 0;

	kfree(blocks[i]);
	blocks[i] = NULL;
	frames[i] = PADDR_INVALID;
	return refused;
}

long alloc_stress_loop(uint64_t min_ms, uint64_t min_runs, uint64_t salt)
{
	uint64_t tsc_ms = arch_timer_info()->tsc_khz, start = arch_timestamp();
	void *blocks[8] = {0};
	paddr_t frames[8];
	long failures = 0;

	for (int i = 0; i < 8; i++)
		frames[i] = PADDR_INVALID;
	for (uint64_t n = 0; arch_timestamp() - start < min_ms * tsc_ms ||
			     (hook_runs < min_runs && arch_timestamp() - start < 2000 * tsc_ms);
	     n++) {
		int i = n % 8;

		failures += release(blocks, frames, i);
		blocks[i] = kmalloc(8 + (n * 131 + salt * 17) % 2000);
		frames[i] = pmm_alloc(&pmm_kernel);
		failures += !blocks[i] || frames[i] == PADDR_INVALID;
	}
	for (int i = 0; i < 8; i++)
		failures += release(blocks, frames, i);
	return failures;
}
