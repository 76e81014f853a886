/*
 * The GDT and the TSS. Long mode ignores most of a segment descriptor; what
 * matters is a 64-bit code and a data segment for ring 0 and for ring 3
 * (in the order SYSCALL/SYSRET need) and the TSS, whose rsp0 is the
 * running thread's kernel stack (entries from ring 3) and whose
 * IST slots give #DF, NMI and #MC known-good stacks even when the current
 * stack is the problem. Those start as small static arrays (no guard: the
 * vmm does not work yet) and move to guarded kernel stacks once it does.
 */
#include <arch/arch.h>
#include <arch/percpu.h>
#include <arch/x86_64/trap.h>
#include <kernel/panic.h>
#include <lib/string.h>
#include <mm/kstack.h>

#define IST_STACK_SIZE (16 * 1024) /* the early, unguarded ones */

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7]; /* ist[0] is IST slot 1 */
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __packed;

_Static_assert(sizeof(struct tss) == 104, "TSS layout is fixed by the CPU");

struct gdt_pointer {
	uint16_t limit;
	uint64_t base;
} __packed;

static struct tss tss;
static uint64_t gdt[7];
static uint8_t ist_stacks[3][IST_STACK_SIZE] __attribute__((aligned(16)));
static struct kstack ist_kstacks[3];
/* Owners as the overflow report names them, by IST slot - 1. */
static const char *const ist_owners[3] = {"#DF IST", "NMI IST", "#MC IST"};
_Static_assert(IST_DOUBLE_FAULT == 1 && IST_NMI == 2 && IST_MACHINE_CHECK == 3,
	       "ist_owners follows the IST slots");

/* Descriptors: present, DPL 0 or 3; code is L=1 (64-bit) executable/readable. */
#define GDT_CODE64	0x00af9a000000ffffull
#define GDT_DATA	0x00cf92000000ffffull
#define GDT_USER_CODE64 0x00affa000000ffffull
#define GDT_USER_DATA64 0x00cff2000000ffffull

/* The 16-byte TSS descriptor (type 9: available 64-bit TSS) in slots 5-6. */
static void set_tss_descriptor(void)
{
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;

	gdt[5] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
		 (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[6] = base >> 32;
}

/*
 * Load the GDTR, reload every segment register (CS by a far return) and TR.
 * Unprotected: it returns with the GS base zeroed, where no canary is.
 */
static __attribute__((no_stack_protector)) void load_gdt(void)
{
	struct gdt_pointer p = {sizeof(gdt) - 1, (uint64_t)gdt};

	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "mov %2, %%ds\n\t"
			 "mov %2, %%es\n\t"
			 "mov %2, %%ss\n\t"
			 "mov %3, %%fs\n\t"
			 "mov %3, %%gs\n\t"
			 "ltr %w4"
			 :
			 : "m"(p), "i"(GDT_KERNEL_CODE), "r"(GDT_KERNEL_DATA), "r"(0), "r"(GDT_TSS)
			 : "rax", "memory");
}

void gdt_init(void)
{
	memset(&tss, 0, sizeof(tss));
	for (int i = 0; i < 3; i++)
		tss.ist[i] = (uint64_t)&ist_stacks[i][IST_STACK_SIZE];
	tss.iomap_base = sizeof(tss); /* no I/O permission bitmap */
	gdt[0] = 0;
	gdt[1] = GDT_CODE64;
	gdt[2] = GDT_DATA;
	gdt[3] = GDT_USER_DATA64; /* SYSRET: SS = STAR[63:48] + 8 */
	gdt[4] = GDT_USER_CODE64; /* SYSRET: CS = STAR[63:48] + 16 */
	set_tss_descriptor();
	/*
	 * Loading GS zeroes its base, which holds this CPU's per-CPU area (and
	 * with it the stack canary every protected frame checks): put it back.
	 */
	struct percpu *cpu = arch_percpu();
	load_gdt();
	arch_percpu_install(cpu);
}

void arch_ist_stacks_init(void)
{
	for (int i = 0; i < 3; i++) {
		int err = kstack_alloc(&ist_kstacks[i], ist_owners[i]);
		if (err)
			panic("gdt: no guarded stack for the %s (%d)", ist_owners[i], err);
		/* Not in use: no #DF, NMI or #MC handler is running. */
		tss.ist[i] = ist_kstacks[i].top;
	}
}

void gdt_set_kernel_stack(uint64_t top)
{
	tss.rsp[0] = top;
}

uint64_t gdt_ist_top(unsigned int slot)
{
	return slot >= 1 && slot <= 3 ? tss.ist[slot - 1] : 0;
}
