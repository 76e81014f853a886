/*
 * Interrupt masking for locks: arch_irq_save() turns interrupts off and
 * returns the previous state for arch_irq_restore(). Inline, because locks
 * sit on hot paths. Host builds (tests, fuzzers, benches: -DAERIE_HOST) run
 * in user mode, where there are no interrupts to mask.
 */
#pragma once

#include <lib/types.h>

#ifdef AERIE_HOST
static inline unsigned long arch_irq_save(void)
{
	return 0;
}
static inline void arch_irq_restore(unsigned long flags)
{
	(void)flags;
}
static inline bool arch_irqs_enabled(void)
{
	return false;
}
static inline void arch_irq_enable_and_wait(void)
{
	__builtin_ia32_pause();
}
static inline void arch_cpu_relax(void)
{
	__builtin_ia32_pause();
}
#else
#include <arch/x86_64/irq.h>
#endif
