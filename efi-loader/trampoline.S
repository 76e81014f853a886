/*
 * The hand-off trampoline. handoff.c copies these bytes to a page that is
 * identity-mapped in both the firmware's and the kernel's page tables, so
 * execution survives the CR3 switch. Position independent; no stack use
 * between the CR3 load and the stack switch.
 *
 * SysV arguments: rdi = boot_info (kernel virtual address), rsi = new CR3,
 * rdx = kernel stack top, rcx = kernel entry point.
 */
	.text
	.globl trampoline_start, trampoline_end
	.balign	64		/* never across a page: it may run in place (handoff.c) */
trampoline_start:
	cli
	mov	%rsi, %cr3
	mov	%rdx, %rsp
	xor	%ebp, %ebp
	pushq	$0		/* a zero return address ends backtraces */
	jmp	*%rcx
trampoline_end:

	.section .note.GNU-stack, "", @progbits
