/*
 * The GDT and the TSS. Long mode ignores most of a segment descriptor; what
 * matters is a 64-bit code and a data segment for ring 0 and for ring 3
 * (in the order SYSCALL/SYSRET need) and the TSS, whose rsp0 is the
 * running thread's kernel stack (entries from ring 3) and whose
 * IST slots give #DF, NMI and #MC known-good stacks even when the current
 * stack is the problem. Those start as small static arrays (no guard: the
 * vmm does not work yet) and move to guarded kernel stacks once it does.
 * Each AP gets tables of its own with its own guarded IST stacks
 * (gdt_cpu_prepare, arch/x86_64/smp.c): a TSS is busy on one CPU only.
 */
#include <arch/arch.h>
#include <arch/percpu.h>
#include <arch/x86_64/smp.h>
#include <arch/x86_64/trap.h>
#include <kernel/panic.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/kmalloc.h>
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

/* One CPU's descriptor tables: the boot CPU's are static, each AP's kmalloc'd. */
struct gdt_cpu {
	uint64_t gdt[7];
	struct tss tss;
	struct kstack ist[3]; /* guarded IST stacks, once arch_ist_stacks_init() ran */
};

static struct gdt_cpu boot_tables;
static struct gdt_cpu *cpu_tables[SMP_MAX_CPUS] = {&boot_tables};
static uint8_t ist_stacks[3][IST_STACK_SIZE] __attribute__((aligned(16)));
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
static void set_tss_descriptor(struct gdt_cpu *t)
{
	uint64_t base = (uint64_t)&t->tss, limit = sizeof(t->tss) - 1;

	t->gdt[5] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
		    (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	t->gdt[6] = base >> 32;
}

/*
 * Load the GDTR, reload every segment register (CS by a far return) and TR.
 * Unprotected: it returns with the GS base zeroed, where no canary is.
 */
static __attribute__((no_stack_protector)) void load_gdt(struct gdt_cpu *t)
{
	struct gdt_pointer p = {sizeof(t->gdt) - 1, (uint64_t)t->gdt};

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

/* Fill t's GDT and TSS; IST slots get the tops in ist[0..2]. */
static void gdt_fill(struct gdt_cpu *t, const uint64_t ist[3])
{
	memset(&t->tss, 0, sizeof(t->tss));
	for (int i = 0; i < 3; i++)
		t->tss.ist[i] = ist[i];
	t->tss.iomap_base = sizeof(t->tss); /* no I/O permission bitmap */
	t->gdt[0] = 0;
	t->gdt[1] = GDT_CODE64;
	t->gdt[2] = GDT_DATA;
	t->gdt[3] = GDT_USER_DATA64; /* SYSRET: SS = STAR[63:48] + 8 */
	t->gdt[4] = GDT_USER_CODE64; /* SYSRET: CS = STAR[63:48] + 16 */
	set_tss_descriptor(t);
}

/*
 * Load t on this CPU. Loading GS zeroes its base, which holds this CPU's
 * per-CPU area (and with it the stack canary every protected frame
 * checks): put it back.
 */
static void gdt_load(struct gdt_cpu *t)
{
	struct percpu *cpu = arch_percpu();

	load_gdt(t);
	arch_percpu_install(cpu);
}

void gdt_init(void)
{
	uint64_t ist[3];

	for (int i = 0; i < 3; i++)
		ist[i] = (uint64_t)&ist_stacks[i][IST_STACK_SIZE];
	gdt_fill(&boot_tables, ist);
	gdt_load(&boot_tables);
}

/* Guarded IST stacks into t->ist. 0 or kstack_alloc's error (none kept then). */
static int ist_alloc(struct gdt_cpu *t)
{
	for (int i = 0; i < 3; i++) {
		int err = kstack_alloc(&t->ist[i], ist_owners[i]);
		if (err) {
			while (i-- > 0)
				kstack_free(&t->ist[i]);
			return err;
		}
	}
	return 0;
}

void arch_ist_stacks_init(void)
{
	int err = ist_alloc(&boot_tables);

	if (err)
		panic("gdt: no guarded IST stacks for the boot CPU (%d)", err);
	/* Not in use: no #DF, NMI or #MC handler is running. */
	for (int i = 0; i < 3; i++)
		boot_tables.tss.ist[i] = boot_tables.ist[i].top;
}

int gdt_cpu_prepare(unsigned int cpu)
{
	struct gdt_cpu *t;
	uint64_t ist[3];
	int err;

	KASSERT(cpu > 0 && cpu < SMP_MAX_CPUS && !cpu_tables[cpu]);
	t = kmalloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	err = ist_alloc(t);
	if (err) {
		kfree(t);
		return err;
	}
	for (int i = 0; i < 3; i++)
		ist[i] = t->ist[i].top;
	gdt_fill(t, ist);
	cpu_tables[cpu] = t;
	return 0;
}

void gdt_cpu_load(unsigned int cpu)
{
	KASSERT(cpu < SMP_MAX_CPUS && cpu_tables[cpu]);
	gdt_load(cpu_tables[cpu]);
}

void gdt_set_kernel_stack(uint64_t top)
{
	unsigned int cpu = arch_percpu()->cpu;

	/* This CPU's TSS: the next entry from ring 3 here starts at top. */
	if (cpu == 0)
		boot_tables.tss.rsp[0] = top;
	else
		cpu_tables[cpu]->tss.rsp[0] = top;
}

uint64_t gdt_cpu_ist_top(unsigned int cpu, unsigned int slot)
{
	if (cpu >= SMP_MAX_CPUS || !cpu_tables[cpu] || slot < 1 || slot > 3)
		return 0;
	return cpu_tables[cpu]->tss.ist[slot - 1];
}

const void *gdt_cpu_tss(unsigned int cpu)
{
	return cpu < SMP_MAX_CPUS && cpu_tables[cpu] ? &cpu_tables[cpu]->tss : NULL;
}

const void *gdt_cpu_gdt(unsigned int cpu)
{
	return cpu < SMP_MAX_CPUS && cpu_tables[cpu] ? cpu_tables[cpu]->gdt : NULL;
}

uint64_t gdt_ist_top(unsigned int slot)
{
	return gdt_cpu_ist_top(arch_percpu()->cpu, slot);
}
