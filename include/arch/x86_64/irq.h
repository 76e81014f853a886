/* x86-64 interrupt flag (RFLAGS.IF, bit 9) control. Include <arch/irq.h>. */
#pragma once

#include <lib/types.h>

#define X86_RFLAGS_IF (1ul << 9)

static inline unsigned long arch_irq_save(void)
{
	unsigned long flags;

	__asm__ volatile("pushfq; popq %0; cli" : "=r"(flags) : : "memory");
	return flags;
}

/* Re-enable interrupts only if they were on when arch_irq_save() ran. */
static inline void arch_irq_restore(unsigned long flags)
{
	if (flags & X86_RFLAGS_IF)
		__asm__ volatile("sti" : : : "memory");
}

static inline bool arch_irqs_enabled(void)
{
	unsigned long flags;

	__asm__ volatile("pushfq; popq %0" : "=r"(flags));
	return flags & X86_RFLAGS_IF;
}

static inline void arch_irq_enable(void)
{
	__asm__ volatile("sti" : : : "memory");
}

static inline void arch_irq_disable(void)
{
	__asm__ volatile("cli" : : : "memory");
}

/*
 * Turn interrupts on and halt until one arrives (the idle loop). sti holds
 * interrupts off for one more instruction, so none can slip in between
 * and leave the CPU halted with work to do.
 */
static inline void arch_irq_enable_and_wait(void)
{
	__asm__ volatile("sti; hlt" : : : "memory");
}

static inline void arch_cpu_relax(void)
{
	__asm__ volatile("pause");
}
