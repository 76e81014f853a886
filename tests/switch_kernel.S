/*
 * The kernel's build of arch/x86_64/switch.S (callee-saved registers only,
 * no MXCSR or x87 control word) under other names, so the host tests and
 * the bench run it in user mode next to the host build of the same file.
 * Declared in tests/switch_kernel.h.
 */
#undef AERIE_HOST
#define arch_context_switch arch_context_switch_kernel
#define arch_context_init   arch_context_init_kernel
#define context_trampoline  context_trampoline_kernel
#include "../arch/x86_64/switch.S"
