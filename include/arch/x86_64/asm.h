/*
 * Shared by the kernel's assembly files (#include from .S; the C
 * preprocessor runs first): `func name` opens a global, hidden function
 * symbol aligned to 16 bytes; `extable insn, fixup` lists an access that
 * may fault in the exception-fixup table (arch/x86_64/fixup.c: two 32-bit
 * offsets relative to their fields, so the PIE kernel's table needs no
 * relocation). Also assembled natively for the host tests
 * and the bench (switch.S), so nothing here is kernel-only.
 */
#pragma once

.macro func name
	.globl	\name
	.hidden	\name
	.type	\name, @function
	.p2align 4
\name:
.endm

/* extable insn, fixup: a fault at insn resumes at fixup. */
.macro extable insn, fixup
	.pushsection extable, "a"
	.balign 4
	.long	\insn - .
	.long	\fixup - .
	.popsection
.endm
