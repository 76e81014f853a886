/*
 * The entry of every user program. The kernel starts it with rsp = the
 * top of its stack, rdi = the address of its argument words on that
 * stack, rsi = their count (kernel/user.c), interrupts on, every other
 * register zero. main's result is the exit status.
 */
	.text
	.globl	_start
	.type	_start, @function
_start:
	xor	%ebp, %ebp		/* backtraces end here */
	and	$-16, %rsp		/* SysV: aligned at the call */
	call	user_start
	ud2				/* user_start never returns */
	.size	_start, . - _start

	.section .note.GNU-stack, "", @progbits
