/*
 * Kernel entry. The loader's trampoline arrives here with interrupts off,
 * rdi = boot_info (direct-map address), rsp = top of the boot stack with a
 * zero return address pushed, CR3 = the loader-built tables, and the
 * firmware's GDT still loaded (unmapped now: no segment loads until
 * gdt_init).
 */
	.text
	.globl _start
	.type _start, @function
_start:
	xor	%ebp, %ebp		/* backtraces stop here */
	and	$-16, %rsp		/* SysV: 16-byte aligned at the call */
	call	kmain
1:	cli
	hlt
	jmp	1b
	.size _start, . - _start

	.section .note.GNU-stack, "", @progbits
