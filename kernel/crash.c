/*
 * Deliberate faults for boot scenarios (scripts/test.py): each must end in
 * a panic report that classifies the fault and names a function in this
 * file.
 *
 *   crash=panic      panic() itself
 *   crash=null       read through a NULL pointer (crash=pagefault is an alias)
 *   crash=nx         call into read-only data, which is no-execute
 *   crash=wtext      write to kernel text
 *   crash=overflow   unbounded recursion on kmain's guarded stack: #DF on its guard
 *   crash=bigframe   recursion with one 16 KiB local array a frame: the
 *                    stack-clash probes hit the guard below, never jump it
 *   crash=gp         read through a non-canonical pointer
 *   crash=ud         an undefined instruction
 *   crash=canary     write past a local array over its frame's stack canary
 *   crash=screen     a NULL read inside a screen update: the panic report
 *                    must still reach the screen (after a full redraw)
 *
 * Heap hardening (include/mm/heap.h): each allocates with kmalloc, breaks a
 * rule, and must end in the heap's panic ("heap: ...") or a guard-page fault.
 *
 *   crash=double-free  kfree the same block twice
 *   crash=bad-free     kfree a pointer 16 bytes inside a block
 *   crash=overrun      write one byte past a 40-byte block, then kfree it
 *   crash=heap-header  overwrite a block's size field, then kfree it
 *   crash=heap-guard   write to the unmapped page after a 5000-byte block
 */
#include <arch/irq.h>
#include <kernel/console.h>
#include <kernel/crash.h>
#include <kernel/panic.h>
#include <kernel/thread.h>
#include <kernel/timer.h>
#include <lib/cmdline.h>
#include <lib/string.h>
#include <mm/kmalloc.h>

static __attribute__((noinline)) void crash_read_null(void)
{
	volatile const int *p = NULL;
	(void)*p; /* the lower half is unmapped: #PF at 0 */
}

static __attribute__((noinline)) void crash_noncanonical(void)
{
	volatile const int *p = (const int *)0x8000000000000000ull;
	(void)*p; /* a non-canonical address: #GP */
}

static const uint8_t crash_nx_code[] = {0xc3}; /* `ret`, in .rodata */

static __attribute__((noinline)) void crash_exec_nx(void)
{
	void (*volatile fn)(void) = (void (*)(void))(uintptr_t)crash_nx_code;

	fn();				   /* .rodata is NX: #PF on the fetch */
	__asm__ volatile("" ::: "memory"); /* not a tail call: the report names us */
}

static __attribute__((noinline)) void crash_write_text(void)
{
	volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)crash_if_requested;

	*p = 0xcc; /* text is mapped read-only: #PF */
}

static volatile uint64_t crash_depth;

/* Recurse until the stack's guard page stops it (the test never ends). */
static __attribute__((noinline)) uint64_t crash_recurse(uint64_t n)
{
	volatile uint8_t frame[256];

	frame[0] = (uint8_t)n;
	crash_depth = n;
	if (n == UINT64_MAX)
		return frame[0];
	return crash_recurse(n + 1) + frame[0]; /* not a tail call */
}

/* Keep p alive in a register the compiler cannot see through, and end no call as a tail call. */
#define CRASH_KEEP(p) __asm__ volatile("" : "+r"(p) : : "memory")

static __attribute__((noinline)) void crash_double_free(void)
{
	uint8_t *p = kmalloc(64);

	kfree(p);
	CRASH_KEEP(p);
	kfree(p); /* the block is in the front cache now: a double free */
	CRASH_KEEP(p);
}

static __attribute__((noinline)) void crash_bad_free(void)
{
	uint8_t *p = kmalloc(64);

	CRASH_KEEP(p);
	kfree(p + 16); /* inside the block, not its start */
	CRASH_KEEP(p);
}

static __attribute__((noinline)) void crash_overrun(void)
{
	volatile uint8_t *p = kmalloc(40);

	p[40] = (uint8_t)~p[40]; /* the first byte of the canary */
	kfree((void *)p);
	CRASH_KEEP(p);
}

static __attribute__((noinline)) void crash_heap_header(void)
{
	uint8_t *p = kmalloc(64);

	*(volatile uint64_t *)(p - 16) = 0x4141414141414141ull; /* the header's size field */
	kfree(p);
	CRASH_KEEP(p);
}

static __attribute__((noinline)) void crash_heap_guard(void)
{
	volatile uint8_t *p = kmalloc(5000); /* 2 pages in a slot of 4 */

	p[8192] = 1; /* the first unmapped page after it */
	CRASH_KEEP(p);
}

/*
 * Recurse with 16 KiB frames, each larger than the guard page. The array
 * is written at its far (lowest) end; without stack-clash probes the frame
 * that crosses the stack's bottom would jump the guard and write below it.
 * With them, the prologue touches each page on the way down and the first
 * touch of the guard faults.
 */
static __attribute__((noinline)) uint64_t crash_big_frame(uint64_t n)
{
	volatile uint8_t frame[16 * 1024];

	__asm__ volatile("" : : "r"(frame) : "memory"); /* the whole array is live */
	frame[0] = (uint8_t)n;
	crash_depth = n;
	if (n == UINT64_MAX)
		return frame[0];
	return crash_big_frame(n + 1) + frame[sizeof(frame) - 1]; /* not a tail call */
}

static __attribute__((noinline)) void crash_bigframe(void)
{
	arch_irq_disable(); /* as crash_overflow: the report is the recursion's own */
	crash_big_frame(0);
}

static __attribute__((noinline)) void crash_panic(void)
{
	panic("crash=panic requested");
}

/*
 * With interrupts masked: a timer tick that landed in the last few hundred
 * bytes would overflow inside its handler instead, a different (and
 * separately tested: crash=irq-overflow) report.
 */
static __attribute__((noinline)) void crash_overflow(void)
{
	arch_irq_disable();
	crash_recurse(0);
}

/*
 * Overrun a local array, as a runaway string copy would, up to the saved
 * frame pointer: over the canary the protector put above the array, but
 * not the saved RBP or return address, so the backtrace stays whole.
 */
static __attribute__((noinline)) void crash_canary(void)
{
	char buf[16];
	/* volatile: the compiler cannot see the overrun coming */
	volatile size_t end = (size_t)((char *)__builtin_frame_address(0) - buf);

	for (size_t i = 0; i < end; i++)
		buf[i] = 'A';
	__asm__ volatile("" : : "r"(buf) : "memory"); /* buf is used: the writes stay */
}

static struct thread *crash_irq_victim;

/* The timer hook: on the victim's stack, recurse in interrupt context until the guard. */
static __attribute__((noinline)) void crash_irq_hook(uint64_t tick)
{
	if (thread_current() == crash_irq_victim)
		crash_recurse(tick);
}

/* The victim: spins with interrupts on until a tick interrupts it. */
static long crash_irq_spin(void *unused)
{
	(void)unused;
	for (;;)
		__asm__ volatile("" ::: "memory");
	return 0;
}

static __attribute__((noinline)) void crash_irq_overflow(void)
{
	crash_irq_victim = thread_create(crash_irq_spin, NULL, "crash victim");
	if (!crash_irq_victim)
		panic("crash=irq-overflow: no memory for the victim thread");
	timer_set_hook(crash_irq_hook);
	thread_join(crash_irq_victim, NULL); /* never returns: the victim's overflow panics */
}

static __attribute__((noinline)) void crash_screen(void)
{
	console_screen_fault_next();
	kinfo("crash=screen: this line faults while it is drawn");
}

static __attribute__((noinline)) void crash_undefined(void)
{
	__asm__ volatile("ud2");
}

/* Every crash= value and what it does. */
static const struct {
	const char *name;
	void (*fn)(void);
} crash_kinds[] = {
    {"panic", crash_panic},
    {"null", crash_read_null},
    {"pagefault", crash_read_null},
    {"nx", crash_exec_nx},
    {"wtext", crash_write_text},
    {"overflow", crash_overflow},
    {"bigframe", crash_bigframe},
    {"gp", crash_noncanonical},
    {"ud", crash_undefined},
    {"canary", crash_canary},
    {"screen", crash_screen},
    {"irq-overflow", crash_irq_overflow},
    {"double-free", crash_double_free},
    {"bad-free", crash_bad_free},
    {"overrun", crash_overrun},
    {"heap-header", crash_heap_header},
    {"heap-guard", crash_heap_guard},
};

void crash_if_requested(const char *cmdline)
{
	char what[24];

	if (cmdline_get(cmdline, "crash", what, sizeof(what)) <= 0)
		return;
	kinfo("crash=%s requested", what);
	for (size_t i = 0; i < ARRAY_SIZE(crash_kinds); i++)
		if (strcmp(what, crash_kinds[i].name) == 0)
			crash_kinds[i].fn();
	kwarn("crash=%s: unknown, ignored", what);
}
