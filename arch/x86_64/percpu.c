/*
 * The per-CPU area on x86-64: its address is the GS base (IA32_GS_BASE), so
 * %gs:N reads field N of this CPU's struct percpu in one instruction, as the
 * stack protector's canary check does (%gs:PERCPU_CANARY_OFFSET). Owns the
 * boot CPU's static area; _start installs it before any C runs.
 */
#include <arch/percpu.h>
#include <arch/x86_64/cpu.h>
#include <kernel/stack_protector.h>

/* The GS base in 64-bit mode (entry.S writes it by number too). */
#define MSR_GS_BASE 0xc0000101u

/*
 * The boot CPU's area. Its canary starts as the fixed, non-secret boot
 * value, so code before stack_protector_init() is protected by something.
 */
struct percpu percpu_boot = {
    .self = &percpu_boot,
    .cpu = 0,
    .stack_canary = STACK_PROTECTOR_BOOT_CANARY,
};

void arch_percpu_install(struct percpu *area)
{
	wrmsr(MSR_GS_BASE, (uint64_t)area);
}

struct percpu *arch_percpu(void)
{
	struct percpu *self;

	__asm__ volatile("mov %%gs:%c1, %0" : "=r"(self) : "i"(PERCPU_SELF_OFFSET));
	return self;
}

void *arch_percpu_current(void)
{
	void *t;

	__asm__ volatile("mov %%gs:%c1, %0" : "=r"(t) : "i"(PERCPU_CURRENT_THREAD_OFFSET));
	return t;
}
