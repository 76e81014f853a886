/*
 * Probes (include/kernel/fault.h): one access each that may fault, for
 * tests that expect a fault and check which one they got.
 *
 * Every such access is listed in the exception-fixup table, the `extable`
 * section (lld defines __start_extable and __stop_extable): an entry is two
 * 32-bit offsets, to the instruction that may fault and to where execution
 * resumes if it does, each relative to the field that holds it, so the
 * PIE kernel's table needs no relocation (struct extable_entry in
 * arch/x86_64/fixup.c). On a fault arch/x86_64/fixup.c records the
 * classified fault and resumes at the fixup, which tail-calls
 * fixup_probe_result(f): that copies the fault to *f and returns true.
 */

#include <arch/x86_64/asm.h>

	.text

/* bool probe_read(vaddr_t a [rdi], uint64_t *v [rsi], struct fault_info *f [rdx]) */
func probe_read
1:	mov	(%rdi), %rcx
	mov	%rcx, (%rsi)
	xor	%eax, %eax
	ret
	extable	1b, probe_faulted
	.size	probe_read, . - probe_read

/* bool probe_write(vaddr_t a [rdi], uint64_t v [rsi], struct fault_info *f [rdx]) */
func probe_write
1:	mov	%rsi, (%rdi)
	xor	%eax, %eax
	ret
	extable	1b, probe_faulted
	.size	probe_write, . - probe_write

/*
 * bool probe_exec(vaddr_t a [rdi], struct fault_info *f [rsi])
 * Arms probe_exec_target with a (and probe_exec_armed) and calls it. A #GP on the call itself (a
 * non-canonical a) is an ordinary fixup; a fetch fault at a reaches fixup.c
 * with RIP == a, which pops the return address (2:) and resumes at its fixup.
 */
func probe_exec
	push	%rsi			/* f; also aligns the stack for the call */
	mov	%rdi, probe_exec_target(%rip)
	movb	$1, probe_exec_armed(%rip)
1:	call	*%rdi
2:	movb	$0, probe_exec_armed(%rip)
	pop	%rsi
	xor	%eax, %eax
	ret
3:	movb	$0, probe_exec_armed(%rip)
	pop	%rdx
	jmp	probe_faulted
	extable	1b, 3b
	extable	2b, 3b
	.size	probe_exec, . - probe_exec

/* The shared fixup: f in rdx, the stack as at the probe's entry. */
	.type	probe_faulted, @function
probe_faulted:
	mov	%rdx, %rdi
	jmp	fixup_probe_result
	.size	probe_faulted, . - probe_faulted

	.section .note.GNU-stack, "", @progbits
