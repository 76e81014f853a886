/*
 * The kernel's memset and memcpy, for a kernel that may not touch vector
 * registers (-mgeneral-regs-only). Two ways, chosen by length:
 *
 * - Up to STRING_LOOP_MAX bytes, 8-byte moves. memset: 32-byte steps
 *   from the start, then the last 32 bytes overlapping the last step
 *   (16 and 16 up to 32 bytes), in address order. memcpy: the first 16
 *   bytes, 32-byte steps over the middle, then the last 32, all loaded
 *   before the middle's stores.
 * - Longer, `rep stosq` / `rep movsq`, with the last 8 bytes moved by one
 *   overlapping access instead of byte steps.
 *
 * Why not string instructions throughout: their start-up cost. On an AMD
 * Zen 5 (EPYC, virtual) with ERMS and FSRM, `rep stosb` filled up to 127
 * bytes in about 5 TSC cycles but took 27-30 from 128 to 512 bytes, where
 * these stores take 6-18 (docs/bench.md, "The kernel's fill"). Into hot
 * lines the microcode's line-wide stores win past about 1 KiB, into cold
 * ones sooner: at 512 bytes the stores here took 0.93 of their time, at
 * 768 1.11, at 1000 1.3. So the switch sits at 768. The heap's poison
 * fill of every freed block is the main customer.
 *
 * Quadword, not byte, steps for the long way: under QEMU TCG, where our
 * tests run, each REP iteration is emulated one by one, and `rep stosb`
 * made a demand-zero fault 3x slower (14,690 against 4,966 emulated
 * cycles; ktest=process, 2026-12-04). These replace lib/string.c's
 * portable loops, which are weak symbols for this; the loader keeps those.
 * tests/string_kernel.S builds this file under other names for the host
 * tests and the bench.
 */
#include <arch/x86_64/asm.h>

#define STRING_LOOP_MAX 768

	.text

/* void *memset(void *dst [rdi], int c [esi], size_t n [rdx]) */
func memset
	mov	%rdi, %r9		/* the return value */
	movzbl	%sil, %eax
	movabs	$0x0101010101010101, %r8
	imul	%r8, %rax		/* the byte in all eight */
	cmp	$16, %rdx
	jb	.Lset_under16
	cmp	$STRING_LOOP_MAX, %rdx
	ja	.Lset_rep
	lea	(%rdi,%rdx), %rcx	/* the end */
	cmp	$32, %rdx
	ja	1f
	mov	%rax, (%rdi)		/* 16-32: the first 16 and the last 16 */
	mov	%rax, 8(%rdi)
	mov	%rax, -16(%rcx)
	mov	%rax, -8(%rcx)
	jmp	.Lset_done
1:	sub	$32, %rcx		/* over 32: 32-byte steps from the start */
2:	mov	%rax, (%rdi)		/* while a whole step ends before the */
	mov	%rax, 8(%rdi)		/* last 32 bytes, then those (the steps */
	mov	%rax, 16(%rdi)		/* go up in address order, as the */
	mov	%rax, 24(%rdi)		/* hardware's prefetch of cold lines */
	add	$32, %rdi		/* expects) */
	cmp	%rcx, %rdi
	jb	2b
	mov	%rax, (%rcx)
	mov	%rax, 8(%rcx)
	mov	%rax, 16(%rcx)
	mov	%rax, 24(%rcx)
.Lset_done:
	mov	%r9, %rax
	ret
.Lset_under16:
	cmp	$8, %edx
	jb	5f
	mov	%rax, (%rdi)		/* 8-15 */
	mov	%rax, -8(%rdi,%rdx)
	jmp	.Lset_done
5:	cmp	$4, %edx
	jb	6f
	mov	%eax, (%rdi)		/* 4-7 */
	mov	%eax, -4(%rdi,%rdx)
	jmp	.Lset_done
6:	test	%edx, %edx
	jz	.Lset_done
	mov	%al, (%rdi)		/* 1-3 */
	cmp	$2, %edx
	jb	.Lset_done
	mov	%ax, -2(%rdi,%rdx)
	jmp	.Lset_done
.Lset_rep:
	mov	%rdx, %rcx
	shr	$3, %rcx
	cld
	rep stosq
	mov	%rax, -8(%r9,%rdx)	/* the last 8 bytes: no byte steps */
	jmp	.Lset_done
	.size	memset, . - memset

/* void *memcpy(void *dst [rdi], const void *src [rsi], size_t n [rdx]) */
func memcpy
	mov	%rdi, %rax
	cmp	$16, %rdx
	jb	.Lcpy_under16
	cmp	$STRING_LOOP_MAX, %rdx
	ja	.Lcpy_rep
	mov	(%rsi), %r8		/* 16-32: the first 16 and the last 16, */
	mov	8(%rsi), %r9		/* all loaded before any store */
	mov	-16(%rsi,%rdx), %r10
	mov	-8(%rsi,%rdx), %r11
	cmp	$32, %rdx
	ja	4f
	mov	%r8, (%rdi)
	mov	%r9, 8(%rdi)
	mov	%r10, -16(%rdi,%rdx)
	mov	%r11, -8(%rdi,%rdx)
	ret
4:	mov	%r8, (%rdi)		/* over 32: the first 16 now, the last */
	mov	%r9, 8(%rdi)		/* 32 after the middle */
	mov	-32(%rsi,%rdx), %r8
	mov	-24(%rsi,%rdx), %r9
	mov	$16, %ecx		/* the middle: [16, n - 32) in 32-byte */
	sub	$32, %rdx		/* steps; the last may run into the tail */
	jmp	6f
5:	mov	(%rsi,%rcx), %rax
	mov	%rax, (%rdi,%rcx)
	mov	8(%rsi,%rcx), %rax
	mov	%rax, 8(%rdi,%rcx)
	mov	16(%rsi,%rcx), %rax
	mov	%rax, 16(%rdi,%rcx)
	mov	24(%rsi,%rcx), %rax
	mov	%rax, 24(%rdi,%rcx)
	add	$32, %rcx
6:	cmp	%rdx, %rcx
	jb	5b
	mov	%r8, (%rdi,%rdx)
	mov	%r9, 8(%rdi,%rdx)
	mov	%r10, 16(%rdi,%rdx)
	mov	%r11, 24(%rdi,%rdx)
	mov	%rdi, %rax
	ret
.Lcpy_under16:
	cmp	$8, %edx
	jb	7f
	mov	(%rsi), %r8		/* 8-15 */
	mov	-8(%rsi,%rdx), %r9
	mov	%r8, (%rdi)
	mov	%r9, -8(%rdi,%rdx)
	ret
7:	cmp	$4, %edx
	jb	8f
	mov	(%rsi), %r8d		/* 4-7 */
	mov	-4(%rsi,%rdx), %r9d
	mov	%r8d, (%rdi)
	mov	%r9d, -4(%rdi,%rdx)
	ret
8:	test	%edx, %edx
	jz	9f
	movzbl	(%rsi), %r8d		/* 1-3: both loads before a store */
	cmp	$2, %edx
	jb	10f
	movzwl	-2(%rsi,%rdx), %r9d
	mov	%r9w, -2(%rdi,%rdx)
10:	mov	%r8b, (%rdi)
9:	ret
.Lcpy_rep:
	mov	-8(%rsi,%rdx), %r8	/* the last 8 bytes: no byte steps */
	lea	-8(%rdi,%rdx), %r9
	mov	%rdx, %rcx
	shr	$3, %rcx
	cld
	rep movsq
	mov	%r8, (%r9)
	ret
	.size	memcpy, . - memcpy

	.section .note.GNU-stack, "", @progbits
