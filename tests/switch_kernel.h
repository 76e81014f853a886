/*
 * tests/switch_kernel.S: the kernel's build of the context switch, renamed
 * for host programs. Same contract as include/arch/context.h, but MXCSR and
 * the x87 control word are not kept (the kernel never uses them), so a
 * host program must not change them between its switches.
 */
#pragma once

#include <arch/context.h>

void arch_context_switch_kernel(struct arch_context **save, struct arch_context *load);
struct arch_context *arch_context_init_kernel(void *stack_top, void (*entry)(void *arg), void *arg,
					      void (*exit)(void *arg));
