/*
 * panic(): report and stop. A fault while panicking is caught by the
 * nesting guard: the second report is cut short so it cannot loop.
 */
#include <arch/arch.h>
#include <kernel/console.h>
#include <kernel/panic.h>

static int depth;

static __noreturn void vpanic(const struct trap_frame *frame, const char *fmt, va_list ap)
{
	console_break_lock(); /* this CPU may hold it: the fault was inside kprintf */
	if (++depth > 1) {
		kprintf("aerie: panic: nested panic, stopping\n");
		arch_exit_emulator(EXIT_PANIC);
		arch_halt();
	}
	kprintf("aerie: panic: ");
	kvprintf(fmt, ap);
	kprintf("\n");
	arch_panic_report(frame);
	arch_exit_emulator(EXIT_PANIC);
	arch_halt();
}

void panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vpanic(NULL, fmt, ap);
}

void panic_trap(const struct trap_frame *frame, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vpanic(frame, fmt, ap);
}
