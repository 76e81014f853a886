/*
 * The machine side of ring 3: SYSCALL's MSRs, the C half of the syscall
 * entry (arch/x86_64/syscall_entry.S), the per-thread switch hook (the TSS
 * and per-CPU kernel stack top, the user FPU/SSE state) and a clean FPU
 * state for a new user thread. The system calls themselves are generic
 * (kernel/syscall.c).
 */
#include <arch/context.h>
#include <arch/percpu.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/trap.h>
#include <kernel/panic.h>
#include <kernel/syscall.h>
#include <kernel/thread.h>
#include <lib/string.h>
#include <mm/layout.h>

#define MSR_STAR	   0xc0000081u
#define MSR_LSTAR	   0xc0000082u
#define MSR_FMASK	   0xc0000084u
#define MSR_KERNEL_GS_BASE 0xc0000102u
#define EFER_SCE	   (1ull << 0)

#define RFLAGS_TF (1ull << 8)
#define RFLAGS_DF (1ull << 10)
#define RFLAGS_NT (1ull << 14)
#define RFLAGS_AC (1ull << 18)
/* What a user program may keep in RFLAGS: arithmetic flags, TF, DF, AC, ID. */
#define RFLAGS_USER  0x00240dd5ull
#define RFLAGS_FIXED (1ull << 1)

#define CR0_MP	       (1ull << 1)
#define CR0_EM	       (1ull << 2)
#define CR0_TS	       (1ull << 3)
#define CR4_OSFXSR     (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define MXCSR_DEFAULT  0x1f80u

void syscall_entry(void);
bool syscall_frame(struct trap_frame *f);

void arch_syscall_init(void)
{
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	/* SYSCALL: CS 0x08, SS 0x10. SYSRET: SS 0x1b, CS 0x23 (trap.h). */
	wrmsr(MSR_STAR, ((uint64_t)GDT_STAR_SYSRET_BASE << 48) | ((uint64_t)GDT_KERNEL_CODE << 32));
	wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
	wrmsr(MSR_FMASK, RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC | RFLAGS_NT);
	/* The GS base ring 3 starts with (swapgs swaps it in): never a kernel address. */
	wrmsr(MSR_KERNEL_GS_BASE, 0);
	/* SSE for user programs: FXSAVE/FXRSTOR and #XM on, no emulation, no lazy #NM. */
	write_cr0((read_cr0() | CR0_MP) & ~(CR0_EM | CR0_TS));
	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
}

/*
 * The C half of syscall_entry, interrupts on. Returns true if the return
 * may use SYSRET: the RIP is in the user window (canonical, below
 * LAYOUT_USER_END); else the IRET path, whose fault is taken in ring 3.
 */
bool syscall_frame(struct trap_frame *f)
{
	const uint64_t args[6] = {f->rdi, f->rsi, f->rdx, f->r10, f->r8, f->r9};

	f->rax = (uint64_t)syscall_dispatch(f->rax, args);
	/* Also for the IRET path, which would load IOPL from the frame. */
	f->rflags = (f->rflags & RFLAGS_USER) | RFLAGS_IF | RFLAGS_FIXED;
	f->rcx = f->rip; /* SYSRET takes RIP from rcx and RFLAGS from r11 */
	f->r11 = f->rflags;
	return f->rip >= LAYOUT_USER_START && f->rip < LAYOUT_USER_END;
}

_Static_assert(ARCH_USER_REGS_SIZE == sizeof(struct trap_frame), "the saved user registers");

void arch_user_regs_get(void *regs, vaddr_t kstack_top)
{
	const struct trap_frame *f = (const struct trap_frame *)kstack_top - 1;

	KASSERT((f->cs & 3) == 3); /* a frame from ring 3 is there */
	memcpy(regs, f, sizeof(*f));
}

void arch_user_regs_set_return(void *regs, uint64_t value)
{
	((struct trap_frame *)regs)->rax = value;
}

/* The IRET half (syscall_entry.S): loads the frame at f and returns to ring 3. */
__noreturn void enter_user_frame(const struct trap_frame *f);

__noreturn void arch_enter_user_regs(const void *regs)
{
	struct trap_frame f;

	memcpy(&f, regs, sizeof(f));
	f.cs = GDT_USER_CODE;
	f.ss = GDT_USER_DATA;
	f.rflags = (f.rflags & RFLAGS_USER) | RFLAGS_IF | RFLAGS_FIXED;
	enter_user_frame(&f);
}

static void fxsave(void *area)
{
	__asm__ volatile("fxsave64 %0" : "=m"(*(uint8_t(*)[ARCH_FPU_STATE_SIZE])area));
}

static void fxrstor(const void *area)
{
	__asm__ volatile("fxrstor64 %0" : : "m"(*(const uint8_t(*)[ARCH_FPU_STATE_SIZE])area));
}

void arch_fpu_state_init(void *area)
{
	uint32_t mxcsr = MXCSR_DEFAULT;

	KASSERT(((uintptr_t)area & (ARCH_FPU_STATE_ALIGN - 1)) == 0);
	/* The caller is the thread itself, before its first entry to ring 3. */
	__asm__ volatile("fninit\n\tldmxcsr %0" : : "m"(mxcsr));
	fxsave(area);
}

void arch_fpu_state_save(void *area)
{
	KASSERT(((uintptr_t)area & (ARCH_FPU_STATE_ALIGN - 1)) == 0);
	fxsave(area);
}

void arch_fpu_state_load(const void *area)
{
	KASSERT(((uintptr_t)area & (ARCH_FPU_STATE_ALIGN - 1)) == 0);
	fxrstor(area);
}

void arch_user_kernel_stack(vaddr_t top)
{
	arch_percpu()->kernel_stack_top = top;
	gdt_set_kernel_stack(top);
}

void arch_thread_switch_hook(struct thread *prev, struct thread *next)
{
	/* Eager: each user thread's registers go out and in on every switch. */
	if (prev->fpu)
		fxsave(prev->fpu);
	if (next->fpu)
		fxrstor(next->fpu);
	arch_user_kernel_stack(next->stack.top);
}
