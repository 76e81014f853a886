/*
 * Entry stubs for the exception vectors 0-31 and the interrupt vectors
 * Aerie uses (the remapped PICs' 0x20-0x2f, the APIC timer's 0xec and the
 * spurious 0xff: include/arch/x86_64/apic.h). Each pushes a zero where the CPU
 * pushes no error code, then its vector, and joins isr_common, which saves
 * the general registers as a struct trap_frame (include/arch/x86_64/trap.h)
 * and calls trap_dispatch. If that returns, the frame is restored.
 */
	.text

.macro stub vec, has_error
	.align 16
isr_\vec:
	.if \has_error == 0
	pushq	$0
	.endif
	pushq	$\vec
	jmp	isr_common
.endm

isr_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	cld
	mov	%rsp, %rdi
	/* The CPU aligned the stack before its pushes; 22 quadwords keep it so. */
	call	trap_dispatch
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	add	$16, %rsp		/* vector and error code */
	iretq

/* Vectors with a CPU-pushed error code: 8, 10-14, 17, 21, 29, 30. */
stub 0, 0
stub 1, 0
stub 2, 0
stub 3, 0
stub 4, 0
stub 5, 0
stub 6, 0
stub 7, 0
stub 8, 1
stub 9, 0
stub 10, 1
stub 11, 1
stub 12, 1
stub 13, 1
stub 14, 1
stub 15, 0
stub 16, 0
stub 17, 1
stub 18, 0
stub 19, 0
stub 20, 0
stub 21, 1
stub 22, 0
stub 23, 0
stub 24, 0
stub 25, 0
stub 26, 0
stub 27, 0
stub 28, 0
stub 29, 1
stub 30, 1
stub 31, 0

/* Interrupts: the CPU pushes no error code. */
	.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,236,255
	stub \v, 0
	.endr

/* The stubs' addresses, for idt.c (relocated by the loader). */
	.section .data.rel.ro, "aw"
	.align 8
	.globl isr_stubs
	.hidden isr_stubs
isr_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr_\v
	.endr

/* The interrupt stubs as (vector, address) pairs, ended by a zero vector. */
	.align 8
	.globl irq_stubs
	.hidden irq_stubs
irq_stubs:
	.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,236,255
	.quad \v, isr_\v
	.endr
	.quad 0, 0

	.section .note.GNU-stack, "", @progbits
