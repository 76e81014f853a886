/*
 * Entry stubs for the exception vectors 0-31 and the interrupt vectors
 * Aerie uses (the remapped PICs' 0x20-0x2f, the APIC timer's 0xec, the ping IPI's 0xfd and the
 * spurious 0xff: include/arch/x86_64/apic.h). Each pushes a zero where the CPU
 * pushes no error code, then its vector, and joins isr_common, which saves
 * the general registers as a struct trap_frame (include/arch/x86_64/trap.h)
 * and calls trap_dispatch. If that returns, the frame is restored.
 *
 * SWAPGS: in the kernel the GS base is this CPU's per-CPU area (every
 * protected function reads its canary at %gs:40); in ring 3 it is the
 * user's (0: user code can change it only by loading a selector, which
 * gives 0 or keeps it; CR4.FSGSBASE stays off, so no wrgsbase). isr_common
 * swaps when the saved CS says ring 3, and also when the kernel faulted
 * at user_iret (the iretq back to ring 3 runs after the exit's swapgs).
 * NMI, #DF and #MC can arrive anywhere, also between SYSCALL and its
 * swapgs or between the exit's swapgs and SYSRET/IRET, so CS does not
 * tell: paranoid_common reads MSR GS_BASE and swaps only if it is not a
 * kernel (upper-half) address, then swaps back on the way out.
 */
#include <arch/x86_64/asm.h>
#include <arch/x86_64/frame_regs.h>

#define MSR_GS_BASE 0xc0000101
#define FRAME_RIP   (17 * 8)
#define FRAME_CS    (18 * 8)

	.text

.macro stub vec, has_error, paranoid=0
	.align 16
isr_\vec:
	.if \has_error == 0
	pushq	$0
	.endif
	pushq	$\vec
	.if \paranoid
	jmp	paranoid_common
	.else
	jmp	isr_common
	.endif
.endm

isr_common:
	save_regs
	testb	$3, FRAME_CS(%rsp)
	jnz	1f
	lea	user_iret(%rip), %rax
	cmp	%rax, FRAME_RIP(%rsp)
	jne	2f			/* from the kernel, kernel GS */
1:	swapgs
2:	mov	%rsp, %rdi
	/* The CPU aligned the stack before its pushes; 22 quadwords keep it so. */
	call	trap_dispatch
	restore_regs
	testb	$3, 8(%rsp)		/* the saved CS */
	jnz	return_to_user
	iretq

/* rbx (callee-saved, so it survives trap_dispatch) = 1 if entry swapped. */
paranoid_common:
	save_regs
	xor	%ebx, %ebx
	mov	$MSR_GS_BASE, %ecx
	rdmsr
	test	%edx, %edx
	js	1f			/* upper half: the kernel's GS already */
	swapgs
	mov	$1, %ebx
1:	mov	%rsp, %rdi
	call	trap_dispatch
	test	%ebx, %ebx
	jz	2f
	swapgs
2:	restore_regs
	iretq

/*
 * Every return to ring 3 by IRET ends here, with the IRET frame at rsp,
 * interrupts off and the user's registers loaded. A fault at user_iret
 * itself (a bad frame) is taken in ring 0 with the user's GS: isr_common
 * checks for this address.
 */
func return_to_user
	swapgs
	.globl	user_iret
	.hidden	user_iret
user_iret:
	iretq
	.size	return_to_user, . - return_to_user

/* Vectors with a CPU-pushed error code: 8, 10-14, 17, 21, 29, 30. */
stub 0, 0
stub 1, 0
stub 2, 0, 1
stub 3, 0
stub 4, 0
stub 5, 0
stub 6, 0
stub 7, 0
stub 8, 1, 1
stub 9, 0
stub 10, 1
stub 11, 1
stub 12, 1
stub 13, 1
stub 14, 1
stub 15, 0
stub 16, 0
stub 17, 1
stub 18, 0, 1
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
	.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,236,251,252,253,255
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
	.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,236,251,252,253,255
	.quad \v, isr_\v
	.endr
	.quad 0, 0

	.section .note.GNU-stack, "", @progbits
