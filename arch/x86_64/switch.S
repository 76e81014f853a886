/*
 * The context switch (include/arch/context.h): arch_context_switch() and
 * arch_context_init(). Assembled for the kernel and, unchanged but for the
 * FP control words below, natively for the host tests and the bench
 * (-DAERIE_HOST, user mode): no privileged instruction here.
 *
 * Only what the SysV ABI makes callee-saved is kept: rbx, rbp, r12-r15 and
 * the return address; the caller of arch_context_switch() has already saved
 * everything else it needs, as for any call. A switched-out context's saved
 * stack pointer points at this frame on its own stack:
 *
 *	     kernel   host
 *	      sp+0     sp+0   MXCSR (4 bytes), x87 control word (2), pad (host only)
 *	      sp+0     sp+8   r15
 *	      sp+8    sp+16   r14
 *	     sp+16    sp+24   r13
 *	     sp+24    sp+32   r12
 *	     sp+32    sp+40   rbx
 *	     sp+40    sp+48   rbp
 *	     sp+48    sp+56   return address
 *
 * FP control: the SysV ABI makes the MXCSR control bits and the x87 control
 * word callee-saved. The kernel is built -mgeneral-regs-only and never
 * touches either (user FPU state is a separate matter, saved whole at the
 * user/kernel boundary), so the kernel's switch leaves them alone. In user
 * mode a context may change its rounding mode or exception masks
 * (fesetround), which must not leak into the next: host builds save and
 * restore both, as Boost.Context's jump_fcontext does, and a new context
 * starts with its creator's values, as a new pthread does.
 *
 * The switch ends in ret, not in pop + jmp as Boost.Context's does: every
 * call has its ret, so the CPU's return-stack predictor stays in step. In
 * the kernel every thread switches from the same scheduler call site, so
 * that ret and the rets after it are predicted; a jmp would leave the
 * predictor one entry off and every ret up the resumed thread's chain
 * mispredicts. Coroutines that switch from distinct call sites pay for
 * this with one mispredicted ret per switch (docs/bench.md has both cases).
 */
#ifdef AERIE_HOST
#define CONTEXT_FP_CONTROL 1
#endif

#include <arch/x86_64/asm.h>

	.text

/* void arch_context_switch(struct arch_context **save [rdi], struct arch_context *load [rsi]) */
func arch_context_switch
	push	%rbp
	push	%rbx
	push	%r12
	push	%r13
	push	%r14
	push	%r15
#ifdef CONTEXT_FP_CONTROL
	sub	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
#endif
	mov	%rsp, (%rdi)		/* the old context is complete: publish it */
	mov	%rsi, %rsp		/* from here on we run on the new context's stack */
#ifdef CONTEXT_FP_CONTROL
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	add	$8, %rsp
#endif
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbx
	pop	%rbp
	ret
	.size arch_context_switch, . - arch_context_switch

/*
 * struct arch_context *arch_context_init(void *stack_top [rdi],
 *	void (*entry)(void *) [rsi], void *arg [rdx], void (*exit)(void *) [rcx])
 *
 * Writes the frame above with rip = context_trampoline, r12 = entry,
 * r13 = arg, r14 = exit, rbp = rbx = r15 = 0. The return address sits just
 * below the aligned top, so the trampoline starts with rsp = top: 16-byte
 * aligned, as a call requires.
 */
func arch_context_init
	and	$-16, %rdi
	lea	context_trampoline(%rip), %rax
	mov	%rax, -8(%rdi)		/* return address */
	movq	$0, -16(%rdi)		/* rbp: the end of every backtrace */
	movq	$0, -24(%rdi)		/* rbx */
	mov	%rsi, -32(%rdi)		/* r12 = entry */
	mov	%rdx, -40(%rdi)		/* r13 = arg */
	mov	%rcx, -48(%rdi)		/* r14 = exit */
	movq	$0, -56(%rdi)		/* r15 */
	lea	-56(%rdi), %rax
#ifdef CONTEXT_FP_CONTROL
	sub	$8, %rax
	movq	$0, (%rax)
	stmxcsr	(%rax)			/* the creator's control words */
	fnstcw	4(%rax)
#endif
	ret
	.size arch_context_init, . - arch_context_init

/*
 * The first code of every new context: entry(arg), then exit(arg). Not a
 * function anyone calls; a zero rbp marks it as the outermost frame.
 */
	.p2align 4
	.type context_trampoline, @function
context_trampoline:
	mov	%r13, %rdi
	call	*%r12
	mov	%r13, %rdi
	call	*%r14
	ud2				/* exit returned: fault here, never run off */
	.size context_trampoline, . - context_trampoline

	.section .note.GNU-stack, "", @progbits
