/*
 * Tests of the console under threads (suite `console`): two threads print
 * lines as fast as they can while a 1000 Hz tick preempts them. The lines
 * must come out whole; the boot scenario `ktest=console` (scripts/test.py)
 * reads the serial log and fails on any line cut by another.
 */
#include <kernel/console.h>
#include <kernel/ktest.h>
#include <kernel/sched.h>
#include <kernel/thread.h>
#include <kernel/timer.h>

#define LINES 100

/* "x" * 60: long enough that a line takes many preemptible byte writes. */
static const char filler[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

static long print_lines(void *name)
{
	for (int i = 0; i < LINES; i++)
		kprintf("# console: thread %s line %d %s\n", (const char *)name, i, filler);
	return LINES;
}

KTEST(console, console_lines_from_two_preempted_threads_stay_whole)
{
	struct sched_stats before, after;
	struct thread *a, *b;
	long done_a = 0, done_b = 0;

	sched_stats(&before);
	KEXPECT_EQ(t, timer_set_rate(1000), 0);
	a = thread_create(print_lines, "a", "console-a");
	b = thread_create(print_lines, "b", "console-b");
	if (a)
		thread_join(a, &done_a);
	if (b)
		thread_join(b, &done_b);
	timer_set_rate(TIMER_HZ);
	sched_stats(&after);
	KEXPECT(t, a != NULL && b != NULL);
	KEXPECT_EQ(t, done_a, LINES);
	KEXPECT_EQ(t, done_b, LINES);
	/* Else the threads never met mid-output, and the scenario proves nothing. */
	KEXPECT(t, after.preemptions > before.preemptions);
	kprintf("# console: %llu preemptions while printing\n",
		(unsigned long long)(after.preemptions - before.preemptions));
}
