/*
 * The machine half of a panic report: registers and a frame-pointer
 * backtrace (the kernel keeps frame pointers: -fno-omit-frame-pointer).
 * Every frame is checked to be mapped before it is read, so a corrupt
 * chain ends the backtrace rather than faulting inside the panic.
 */
#include <arch/arch.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/trap.h>
#include <kernel/console.h>
#include <kernel/symbols.h>

#define MAX_FRAMES 32

/* Capture the caller's general registers into f (RIP and RSP are approximate). */
static __attribute__((noinline)) void capture(struct trap_frame *f)
{
	__asm__ volatile("mov %%rax, %0\n\tmov %%rbx, %1\n\tmov %%rcx, %2\n\tmov %%rdx, %3"
			 : "=m"(f->rax), "=m"(f->rbx), "=m"(f->rcx), "=m"(f->rdx));
	__asm__ volatile("mov %%rsi, %0\n\tmov %%rdi, %1\n\tmov %%r8, %2\n\tmov %%r9, %3"
			 : "=m"(f->rsi), "=m"(f->rdi), "=m"(f->r8), "=m"(f->r9));
	__asm__ volatile("mov %%r10, %0\n\tmov %%r11, %1\n\tmov %%r12, %2\n\tmov %%r13, %3"
			 : "=m"(f->r10), "=m"(f->r11), "=m"(f->r12), "=m"(f->r13));
	__asm__ volatile("mov %%r14, %0\n\tmov %%r15, %1" : "=m"(f->r14), "=m"(f->r15));
	/* A selector moved to a register zero-extends; to memory it writes only 16 bits. */
	__asm__ volatile("mov %%cs, %0\n\tmov %%ss, %1" : "=r"(f->cs), "=r"(f->ss));
	/* Our caller's frame: its RBP, and our return address as its RIP. */
	uint64_t *fp = __builtin_frame_address(0);
	f->rbp = fp[0];
	f->rip = fp[1];
	f->rsp = (uint64_t)(fp + 2);
	f->rflags = read_rflags();
	f->vector = f->error = 0;
}

static void print_symbol_line(const char *prefix, uint64_t addr)
{
	char sym[96];

	symbols_lookup(addr, sym, sizeof(sym));
	kprintf("%s%#018llx %s\n", prefix, (unsigned long long)addr, sym);
}

static void print_registers(const struct trap_frame *f)
{
	print_symbol_line("  rip ", f->rip);
	kprintf("  rax %016llx rbx %016llx rcx %016llx\n", (unsigned long long)f->rax,
		(unsigned long long)f->rbx, (unsigned long long)f->rcx);
	kprintf("  rdx %016llx rsi %016llx rdi %016llx\n", (unsigned long long)f->rdx,
		(unsigned long long)f->rsi, (unsigned long long)f->rdi);
	kprintf("  rbp %016llx rsp %016llx r8  %016llx\n", (unsigned long long)f->rbp,
		(unsigned long long)f->rsp, (unsigned long long)f->r8);
	kprintf("  r9  %016llx r10 %016llx r11 %016llx\n", (unsigned long long)f->r9,
		(unsigned long long)f->r10, (unsigned long long)f->r11);
	kprintf("  r12 %016llx r13 %016llx r14 %016llx\n", (unsigned long long)f->r12,
		(unsigned long long)f->r13, (unsigned long long)f->r14);
	kprintf("  r15 %016llx rflags %08llx cs %04llx ss %04llx\n", (unsigned long long)f->r15,
		(unsigned long long)f->rflags, (unsigned long long)f->cs,
		(unsigned long long)f->ss);
	kprintf("  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx\n",
		(unsigned long long)read_cr0(), (unsigned long long)read_cr2(),
		(unsigned long long)read_cr3(), (unsigned long long)read_cr4());
}

/* Walk saved-RBP links from rbp; each frame holds [saved rbp, return address]. */
static void print_backtrace(uint64_t rip, uint64_t rbp)
{
	kprintf("  backtrace:\n");
	print_symbol_line("    ", rip);
	for (int i = 0; i < MAX_FRAMES && rbp; i++) {
		if ((rbp & 7) || !arch_is_mapped(rbp) || !arch_is_mapped(rbp + 15))
			break;
		uint64_t next = ((uint64_t *)rbp)[0], ret = ((uint64_t *)rbp)[1];
		if (!ret)
			break;
		/* ret - 1 is still inside the call, so it names the right function. */
		print_symbol_line("    ", ret - 1);
		if (next <= rbp)
			break; /* stacks grow down: a frame link must go up */
		rbp = next;
	}
}

void arch_panic_report(const struct trap_frame *frame)
{
	struct trap_frame now;

	if (!frame) {
		capture(&now);
		frame = &now;
	}
	print_registers(frame);
	print_backtrace(frame->rip, frame->rbp);
}
