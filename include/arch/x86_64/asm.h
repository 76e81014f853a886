/*
 * Shared by the kernel's assembly files (#include from .S; the C
 * preprocessor runs first): `func name` opens a global, hidden function
 * symbol aligned to 16 bytes. Also assembled natively for the host tests
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
