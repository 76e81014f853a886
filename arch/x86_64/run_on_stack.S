/*
 * arch_run_on_stack(top, fn, arg) (include/arch/arch.h): leave the current
 * stack for good and call fn(arg) on the one ending at top. The call
 * pushes a return address into this function, so a backtrace from fn
 * shows where the stack was changed; RBP = 0 ends the walk there.
 */
	.text
	.globl arch_run_on_stack
	.type arch_run_on_stack, @function
arch_run_on_stack:
	mov	%rdi, %rsp		/* top is 16-byte aligned: so is RSP at the call */
	xor	%ebp, %ebp
	mov	%rdx, %rdi
	call	*%rsi
1:	ud2				/* fn returned: a bug, reported as #UD here */
	jmp	1b
	.size arch_run_on_stack, . - arch_run_on_stack

	.section .note.GNU-stack, "", @progbits
