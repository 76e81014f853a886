/*
 * Ring 3 <-> ring 0 by SYSCALL/SYSRET, and the first entry to ring 3 by
 * IRET. arch/x86_64/syscall.c programs the MSRs and holds the C side.
 *
 * syscall_entry: the CPU arrives with RIP = LSTAR, CS/SS from STAR, rcx =
 * the user RIP, r11 = the user RFLAGS, RFLAGS masked by FMASK (IF, TF, DF,
 * AC, NT clear), still on the user's stack and with the user's GS base.
 * It swaps GS, parks the user rsp in the per-CPU area, takes the thread's
 * kernel stack top from there (no user memory is touched), and builds a
 * struct trap_frame (include/arch/x86_64/trap.h) as an interrupt from ring
 * 3 would, vector SYSCALL_VECTOR. The C side runs with interrupts on and
 * says how to return: SYSRET (rax = 1) only when the return RIP is
 * canonical and below LAYOUT_USER_END, else the IRET path, so a
 * non-canonical RIP can never make SYSRET fault in ring 0 on the user's
 * stack (the Intel SYSRET problem); the IRET then faults in ring 3, or at
 * user_iret in ring 0, which the fault handler treats as the user's fault.
 */
#include <arch/x86_64/asm.h>
#include <arch/x86_64/frame_regs.h>

#define PERCPU_USER_RSP	  24 /* include/kernel/percpu.h */
#define PERCPU_KSTACK_TOP 32
#define USER_DATA	  0x1b /* include/arch/x86_64/trap.h */
#define USER_CODE	  0x23
#define SYSCALL_VECTOR	  0x100

	.text

func syscall_entry
	swapgs
	mov	%rsp, %gs:PERCPU_USER_RSP
	mov	%gs:PERCPU_KSTACK_TOP, %rsp
	pushq	$USER_DATA		/* ss */
	pushq	%gs:PERCPU_USER_RSP	/* rsp */
	pushq	%r11			/* rflags */
	pushq	$USER_CODE		/* cs */
	pushq	%rcx			/* rip */
	pushq	$0			/* error */
	pushq	$SYSCALL_VECTOR
	save_regs
	xor	%ebp, %ebp		/* backtraces end here */
	mov	%rsp, %rdi
	sti
	call	syscall_frame		/* bool: may return by SYSRET */
	cli
	mov	%eax, %r12d		/* restored from the frame below */
	test	%r12d, %r12d
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11			/* syscall_frame set it to the RFLAGS */
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx			/* syscall_frame set it to the RIP */
	popq	%rbx
	popq	%rax
	lea	16(%rsp), %rsp		/* vector and error code; keeps ZF */
	jz	return_to_user		/* the IRET way (arch/x86_64/isr.S) */
	mov	24(%rsp), %rsp		/* the user's rsp; interrupts are off */
	swapgs
	sysretq
	.size	syscall_entry, . - syscall_entry

/*
 * __noreturn void arch_enter_user(vaddr_t entry [rdi], vaddr_t sp [rsi],
 *                                 uint64_t arg0 [rdx], uint64_t arg1 [rcx])
 * The first entry of a thread to ring 3: rdi = arg0, rsi = arg1, every
 * other register zero, interrupts on once there.
 */
func arch_enter_user
	cli
	pushq	$USER_DATA
	pushq	%rsi
	pushq	$0x202			/* IF and the reserved bit 1 */
	pushq	$USER_CODE
	pushq	%rdi
	mov	%rdx, %rdi
	mov	%rcx, %rsi
	xor	%eax, %eax
	xor	%ebx, %ebx
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%ebp, %ebp
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	xor	%r12d, %r12d
	xor	%r13d, %r13d
	xor	%r14d, %r14d
	xor	%r15d, %r15d
	jmp	return_to_user
	.size	arch_enter_user, . - arch_enter_user

/*
 * __noreturn void enter_user_frame(const struct trap_frame *f [rdi])
 * Return to ring 3 with every register from f (fork's child): f was
 * checked by arch_enter_user_regs (user selectors, clean flags). Copied
 * onto this stack first, since f may be in the caller's frame.
 */
func enter_user_frame
	cli
	sub	$176, %rsp
	mov	%rdi, %rsi
	mov	%rsp, %rdi
	mov	$22, %ecx
	cld
	rep movsq
	restore_regs
	jmp	return_to_user
	.size	enter_user_frame, . - enter_user_frame

	.section .note.GNU-stack, "", @progbits
