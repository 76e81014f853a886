/*
 * The AP trampoline: what a started CPU runs first, copied by smp.c to a
 * page below 1 MiB (the SIPI vector names the page; the CPU starts in real
 * mode with CS = page >> 4, IP = 0). It goes real mode -> 32-bit protected
 * mode -> long mode on temporary tables (smp.c builds them: the kernel's
 * upper half plus an identity map of the low 2 MiB, so this page stays
 * reachable while paging comes on), then jumps to smp_ap_entry in the
 * kernel's text, which loads the kernel's own tables. Nothing here is
 * executed in place: the copy runs, so this lives in .rodata.
 *
 * smp.c fills the data block at the end of the copy (the smp_tr_* offsets).
 * Everything is addressed relative to the copy: %ebx holds its linear base.
 */
#define TR(x) ((x) - smp_trampoline_start)
#define CR0_PE	 0x00000001
#define CR0_PG	 0x80000000
#define CR4_PAE	 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100
#define EFER_NXE 0x00000800
#define SEL_CODE32 0x08
#define SEL_DATA   0x10
#define SEL_CODE64 0x18

	.section .rodata, "a"
	.balign 16
	.globl smp_trampoline_start, smp_trampoline_end
	.globl smp_tr_gdt_ptr, smp_tr_far32, smp_tr_far64, smp_tr_cr3
	.globl smp_tr_started, smp_tr_stack, smp_tr_arg, smp_tr_entry
	.code16
smp_trampoline_start:
	cli
	cld
	mov	%cs, %ax
	mov	%ax, %ds
	movl	$1, TR(smp_tr_started)	/* the boot CPU's first sign of life */
	xor	%ebx, %ebx
	mov	%cs, %bx
	shl	$4, %ebx		/* linear base of this copy */
	lgdtl	TR(smp_tr_gdt_ptr)
	mov	%cr0, %eax
	or	$CR0_PE, %eax
	mov	%eax, %cr0
	ljmpl	*TR(smp_tr_far32)	/* to pm32 in the copy, CS = 32-bit code */

	.code32
pm32:
	mov	$SEL_DATA, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	TR(smp_tr_cr3)(%ebx), %eax /* the temporary tables, below 4 GiB */
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$(EFER_LME | EFER_NXE), %eax /* NXE: the kernel's entries carry NX */
	wrmsr
	mov	%cr0, %eax
	or	$(CR0_PG | CR0_PE), %eax
	mov	%eax, %cr0		/* long mode is active (compatibility mode) */
	ljmp	*TR(smp_tr_far64)(%ebx)

	.code64
lm64:
	mov	%ebx, %ebx		/* upper halves are undefined after the switch */
	mov	TR(smp_tr_stack)(%rbx), %rsp
	mov	TR(smp_tr_arg)(%rbx), %rdi
	jmp	*TR(smp_tr_entry)(%rbx)	/* smp_ap_entry, in the upper half */

	.balign 8
smp_tr_gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: 32-bit code, flat */
	.quad	0x00cf92000000ffff	/* 0x10: data, flat */
	.quad	0x00af9a000000ffff	/* 0x18: 64-bit code */
smp_tr_gdt_end:
	.balign 8
smp_tr_gdt_ptr:
	.word	smp_tr_gdt_end - smp_tr_gdt - 1
	.long	TR(smp_tr_gdt)		/* smp.c adds the copy's base */
	.balign 8
smp_tr_far32:
	.long	TR(pm32)		/* smp.c adds the copy's base */
	.word	SEL_CODE32
	.balign 8
smp_tr_far64:
	.long	TR(lm64)		/* smp.c adds the copy's base */
	.word	SEL_CODE64
	.balign 8
smp_tr_cr3:
	.long	0
smp_tr_started:
	.long	0
smp_tr_stack:
	.quad	0
smp_tr_arg:
	.quad	0
smp_tr_entry:
	.quad	0
smp_trampoline_end:

/*
 * smp_ap_entry(struct smp_cpu *cpu): the trampoline's jump target, on the
 * AP's own stack (rsp = its top, 16-byte aligned). The call leaves the
 * alignment the C ABI expects; smp_ap_main never returns.
 */
	.text
	.globl smp_ap_entry
	.type smp_ap_entry, @function
smp_ap_entry:
	xor	%ebp, %ebp		/* backtraces end here */
	call	smp_ap_main
	ud2
	.size smp_ap_entry, . - smp_ap_entry

	.section .note.GNU-stack, "", @progbits
