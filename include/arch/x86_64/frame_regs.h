/*
 * The general registers of a struct trap_frame (include/arch/x86_64/trap.h),
 * pushed and popped in its order: save_regs after the vector and error
 * code are on the stack, restore_regs pops them all and drops those two.
 * Shared by the interrupt entry (isr.S) and the system-call paths
 * (syscall_entry.S).
 */
#pragma once

.macro save_regs
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
.endm

.macro restore_regs
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
.endm
