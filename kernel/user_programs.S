/*
 * The user programs shipped inside kernel.elf (built from user/ by
 * configure.py's user rules): each ELF file as read-only data, and the
 * table user_program_find() (kernel/user_image.c) searches: struct
 * user_program {name, image, size} entries, ended by a NULL name.
 */
.macro program name
	.section .rodata.user_programs, "a"
	.balign	16
image_\name:
	.incbin	"build/user/\name\().elf"
image_\name\()_end:
	.section .rodata.str1.1, "aMS", @progbits, 1
name_\name:
	.asciz	"\name"
	.section .data.rel.ro, "aw"
	.balign	8
	.quad	name_\name, image_\name, image_\name\()_end - image_\name
.endm

	.section .data.rel.ro, "aw"
	.balign	8
	.globl	user_programs
	.hidden	user_programs
user_programs:
	program hello
	program utest
	program uproc
	program ufuzz
	.section .data.rel.ro, "aw"
	.quad	0, 0, 0

	.section .note.GNU-stack, "", @progbits
