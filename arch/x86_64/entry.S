/*
 * Kernel entry. The loader's trampoline arrives here with interrupts off,
 * rdi = boot_info (direct-map address), rsp = top of the boot stack with a
 * zero return address pushed, CR3 = the loader-built tables, and the
 * firmware's GDT still loaded (unmapped now: no segment loads until
 * gdt_init).
 *
 * Before any C runs, the GS base becomes the boot CPU's per-CPU area
 * (arch/x86_64/percpu.c): every protected function reads its canary at
 * %gs:40, so a GS base left by the firmware would be a wild read. The kernel
 * is a PIE, so the area's address is taken RIP-relatively. wrmsr needs no
 * segment load, and writing the MSR leaves the GS selector alone.
 */
#define MSR_GS_BASE 0xc0000101

	.text
	.globl _start
	.type _start, @function
_start:
	xor	%ebp, %ebp		/* backtraces stop here */
	and	$-16, %rsp		/* SysV: 16-byte aligned at the call */
	lea	percpu_boot(%rip), %rax
	mov	%rax, %rdx
	shr	$32, %rdx		/* edx:eax = the area's address */
	mov	$MSR_GS_BASE, %ecx
	wrmsr				/* rdi (boot_info) is untouched */
	call	kmain
1:	cli
	hlt
	jmp	1b
	.size _start, . - _start

	.section .note.GNU-stack, "", @progbits
