/*
 * The register frame isr.S builds on every exception. Field order is the
 * reverse of the pushes in isr.S; the static asserts pin it.
 */
#pragma once

#include <lib/types.h>

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector;		   /* pushed by the stub */
	uint64_t error;			   /* pushed by the CPU, or 0 by the stub */
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

_Static_assert(sizeof(struct trap_frame) == 22 * 8, "isr.S pushes 22 quadwords");
_Static_assert(__builtin_offsetof(struct trap_frame, vector) == 15 * 8, "isr.S layout");
_Static_assert(__builtin_offsetof(struct trap_frame, rip) == 17 * 8, "isr.S layout");

#define VEC_DE	0
#define VEC_NMI 2
#define VEC_BP	3
#define VEC_DF	8
#define VEC_GP	13
#define VEC_PF	14
#define VEC_MC	18

/*
 * Page-fault error code:
 *   bit 0 P    0 = page not present, 1 = protection violation
 *   bit 1 W/R  1 = write          bit 2 U/S  1 = user mode
 *   bit 3 RSVD reserved bit set   bit 4 I/D  1 = instruction fetch
 *   bit 5 PK   protection key     bit 6 SS   shadow stack
 */
#define PF_P	(1u << 0)
#define PF_W	(1u << 1)
#define PF_U	(1u << 2)
#define PF_RSVD (1u << 3)
#define PF_ID	(1u << 4)
#define PF_PK	(1u << 5)
#define PF_SS	(1u << 6)

/* Called by isr.S with the frame on the stack. */
void trap_dispatch(struct trap_frame *f);

/*
 * Segment selectors in our GDT. SYSCALL loads CS from STAR[47:32] and SS
 * = that + 8; SYSRET loads SS = STAR[63:48] + 8 and CS = STAR[63:48] + 16
 * (both with RPL 3): kernel code, kernel data, then user data before user
 * code, the order STAR needs (arch/x86_64/syscall.c).
 */
#define GDT_KERNEL_CODE	     0x08
#define GDT_KERNEL_DATA	     0x10
#define GDT_USER_DATA	     0x1b /* index 3, RPL 3 */
#define GDT_USER_CODE	     0x23 /* index 4, RPL 3 */
#define GDT_TSS		     0x28 /* index 5-6 */
#define GDT_STAR_SYSRET_BASE 0x13 /* user data - 8, RPL 3: STAR[63:48] */

/* IST slots (1-based, as in the IDT gate). */
#define IST_DOUBLE_FAULT  1
#define IST_NMI		  2
#define IST_MACHINE_CHECK 3

void gdt_init(void);
/* Set TSS.rsp0: the stack an interrupt or exception from ring 3 starts on. */
void gdt_set_kernel_stack(uint64_t top);
/* The stack top the TSS gives IST slot (1-3) now (tests). */
uint64_t gdt_ist_top(unsigned int slot);
void idt_init(void);
