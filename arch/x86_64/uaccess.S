/*
 * User copies (include/arch/uaccess.h). Each instruction that touches user
 * memory has an `extable` entry (the same table as the probes,
 * arch/x86_64/fixup.c): a page fault there first goes to the fault policy
 * (arch/x86_64/fault.c asks vmm_fault() before any fixup, so a fault it
 * resolves, such as a demand-zero or copy-on-write page, just retries),
 * and only an unresolved one resumes at the fixup, which returns -EFAULT.
 * The caller has range-checked the user addresses and opened the window
 * (STAC).
 */
#include <arch/x86_64/asm.h>

#define EFAULT 14

	.text

/* int arch_copy_user(void *dst [rdi], const void *src [rsi], size_t n [rdx]) */
func arch_copy_user
	mov	%rdx, %rcx
1:	rep movsb
	xor	%eax, %eax
	ret
	extable	1b, uaccess_efault
	.size	arch_copy_user, . - arch_copy_user

/* long arch_strncpy_user(char *dst [rdi], const char *src [rsi], size_t max [rdx]) */
func arch_strncpy_user
	xor	%eax, %eax
2:	cmp	%rdx, %rax
	je	4f			/* max bytes, no NUL: the caller says too long */
3:	movzbl	(%rsi,%rax), %ecx
	mov	%cl, (%rdi,%rax)
	test	%ecx, %ecx
	jz	4f
	inc	%rax
	jmp	2b
4:	ret
	extable	3b, uaccess_efault
	.size	arch_strncpy_user, . - arch_strncpy_user

uaccess_efault:
	mov	$-EFAULT, %rax
	ret

	.section .note.GNU-stack, "", @progbits
