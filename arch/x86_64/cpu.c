/*
 * Machine hooks for generic code (include/arch/arch.h): descriptor tables,
 * the live page tables, halting and leaving the emulator.
 */
#include <arch/arch.h>
#include <arch/context.h>
#include <arch/mmu.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/pgtable.h>
#include <arch/x86_64/trap.h>
#include <mm/addr.h>
#include <mm/layout.h>

#define PIC1_DATA	0x21
#define PIC2_DATA	0xa1
#define DEBUG_EXIT_PORT 0xf4

void arch_early_init(void)
{
	gdt_init();
	idt_init();
	arch_syscall_init();
	/* The legacy PICs would deliver IRQs on exception vectors: mask them all. */
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
}

/* The live page tables, read through the direct map. */
static struct pgtable live_tables(void)
{
	return (struct pgtable){.root = read_cr3() & PTE_ADDR, .table_base = addr_bases.direct_map};
}

void arch_drop_lower_half(void)
{
	struct pgtable pt = live_tables();
	uint64_t *pml4 = phys_to_virt(pt.root);

	for (int i = 0; i < PTE_ENTRIES / 2; i++)
		pml4[i] = 0;
	write_cr3(read_cr3()); /* flush: lower-half entries are not global */
}

bool arch_translate(vaddr_t va, struct pt_leaf *leaf)
{
	struct pgtable pt = live_tables();

	if (!addr_bases.direct_map)
		return false; /* too early: the tables cannot be read yet */
	return pt_translate(&pt, va, leaf);
}

bool arch_is_mapped(vaddr_t va)
{
	struct pt_leaf leaf;

	return arch_translate(va, &leaf);
}

static int audit_leaf(const struct pt_leaf *leaf, void *arg)
{
	struct wx_audit *a = arg;
	bool wx = (leaf->flags & PT_WRITE) && (leaf->flags & PT_EXEC);
	bool low = leaf->va < LAYOUT_LOWER_HALF_END;
	bool user = leaf->flags & PT_USER;

	a->mappings++;
	a->wx += wx;
	a->lower_half += low;
	a->user += user;
	if ((wx || low || user) && !a->first_bad)
		a->first_bad = leaf->va;
	return 0;
}

void arch_wx_audit(struct wx_audit *a)
{
	struct pgtable pt = live_tables();

	*a = (struct wx_audit){0};
	pt_walk(&pt, audit_leaf, a);
}

__noreturn void arch_halt(void)
{
	for (;;) {
		cli();
		hlt();
	}
}

void arch_exit_emulator(uint8_t code)
{
	/* Port 0xf4 means nothing on real hardware: only poke it under a hypervisor. */
	if (cpu_is_virtualised())
		outl(DEBUG_EXIT_PORT, code);
}

uint64_t arch_timestamp(void)
{
	return rdtsc();
}
