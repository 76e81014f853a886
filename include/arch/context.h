/*
 * Execution contexts: what generic code (threads, the scheduler) asks of the
 * machine to run several flows of control on stacks of their own. The
 * implementation is arch/x86_64/switch.S; this header includes no x86
 * header. The same assembly is built into the host tests and the bench
 * (-DAERIE_HOST), where it runs in user mode on malloc'd stacks.
 *
 * A switched-out context is nothing but its saved stack pointer: the
 * callee-saved registers and the address to resume at sit on its own stack.
 * struct arch_context is never defined; a pointer to it is that saved
 * stack pointer, valid until the context runs again.
 */
#pragma once

#include <lib/types.h>

struct arch_context;

/*
 * Save the current context's callee-saved registers on its stack, store its
 * stack pointer in *save, then resume load. Returns when some context
 * switches back to the one saved in *save.
 *  => load came from arch_context_init() or from a switch-out, and has not
 *     been resumed since (resuming a context twice runs on a stale stack).
 *  => save may point into the caller's own thread structure; it is written
 *     before load runs.
 *  => interrupts: untouched (the caller decides whether the switch may be
 *     interrupted). Saves no FPU/SSE state: the kernel is built
 *     -mgeneral-regs-only; host builds also keep MXCSR and the x87 control
 *     word, which the SysV ABI makes callee-saved.
 */
void arch_context_switch(struct arch_context **save, struct arch_context *load);

/*
 * Build a first frame below stack_top so that the first switch to the
 * returned context calls entry(arg) with a 16-byte aligned stack and a zero
 * frame pointer (backtraces end there). If entry returns, exit(arg) is
 * called; exit must not return (if it does, the CPU executes ud2: an
 * invalid-opcode fault, never a return into nothing).
 *  => stack_top: one past the highest usable byte; aligned down to 16 here.
 *  => at most ARCH_CONTEXT_INIT_BYTES below stack_top are written.
 * Returns the context to pass to arch_context_switch() as load.
 */
struct arch_context *arch_context_init(void *stack_top, void (*entry)(void *arg), void *arg,
				       void (*exit)(void *arg));

/* Bytes of stack the initial frame of arch_context_init() may use (with alignment). */
#define ARCH_CONTEXT_INIT_BYTES 80

/* --- ring 3 (arch/x86_64/syscall.c, syscall_entry.S) ---------------------- */

struct thread;

/* A user thread's saved FPU/SSE registers (FXSAVE: 512 bytes, 16-aligned). */
#define ARCH_FPU_STATE_SIZE  512
#define ARCH_FPU_STATE_ALIGN 16

/* SYSCALL on, its MSRs, SSE for ring 3. => after the GDT is loaded. */
void arch_syscall_init(void);

/* Reset this CPU's FPU/SSE registers to the power-on state and save it in area. */
void arch_fpu_state_init(void *area);

/* Entries from ring 3 start at top (the running thread's kernel stack top). */
void arch_user_kernel_stack(vaddr_t top);

/*
 * Called by the scheduler just before it switches from prev to next
 * (interrupts off): save prev's and load next's user FPU state (where a
 * thread has one) and point entries from ring 3 at next's kernel stack.
 */
void arch_thread_switch_hook(struct thread *prev, struct thread *next);

/*
 * Leave for ring 3 at entry with stack pointer sp, arg0 and arg1 in the
 * first two argument registers, every other register zero (FPU: as last
 * loaded), interrupts on there.
 * => arch_user_kernel_stack(this thread's top) was called.
 */
__noreturn void arch_enter_user(vaddr_t entry, vaddr_t sp, uint64_t arg0, uint64_t arg1);

/*
 * A user thread's registers as its last entry from ring 3 saved them: at
 * the top of its kernel stack (entries from ring 3 always start there).
 * fork copies them for the child, whose first return to ring 3 resumes the
 * parent's system call with another result.
 */
#define ARCH_USER_REGS_SIZE 176

/* Copy the calling thread's saved user registers (kernel stack top kstack_top) into regs. */
void arch_user_regs_get(void *regs, vaddr_t kstack_top);
/* Make value the result of the system call the registers in regs return from. */
void arch_user_regs_set_return(void *regs, uint64_t value);
/*
 * Leave for ring 3 with the registers in regs (from arch_user_regs_get),
 * their flags cleaned as every return to ring 3 cleans them.
 * => arch_user_kernel_stack(this thread's top) was called.
 */
__noreturn void arch_enter_user_regs(const void *regs);
/* Save this CPU's FPU/SSE registers (the running user thread's) into area. */
void arch_fpu_state_save(void *area);
/* Load this CPU's FPU/SSE registers from area. */
void arch_fpu_state_load(const void *area);
