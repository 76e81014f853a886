/*
 * The IDT: a gate for each of the 32 exception vectors and for the
 * interrupt vectors in use (apic.h), pointing at the stubs in isr.S. #DF,
 * NMI and #MC switch to their IST stacks. Other vectors have no gate: an
 * `int` to one is a #GP naming the IDT entry.
 */
#include <arch/x86_64/trap.h>

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type; /* P=1, DPL=0, type 0xe: 64-bit interrupt gate */
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
} __packed;

_Static_assert(sizeof(struct idt_gate) == 16, "IDT gate layout is fixed by the CPU");

struct idt_pointer {
	uint16_t limit;
	uint64_t base;
} __packed;

#define GATE_INTERRUPT 0x8e

struct irq_stub {
	uint64_t vector; /* 0 ends the table */
	uint64_t handler;
};

extern const uint64_t isr_stubs[32];
extern const struct irq_stub irq_stubs[];
static struct idt_gate idt[256];

static void set_gate(int vec, uint64_t handler, uint8_t ist)
{
	idt[vec] = (struct idt_gate){
	    .offset_low = handler & 0xffff,
	    .selector = GDT_KERNEL_CODE,
	    .ist = ist,
	    .type = GATE_INTERRUPT,
	    .offset_mid = (handler >> 16) & 0xffff,
	    .offset_high = handler >> 32,
	};
}

void idt_init(void)
{
	for (int v = 0; v < 32; v++)
		set_gate(v, isr_stubs[v], 0);
	idt[VEC_DF].ist = IST_DOUBLE_FAULT;
	idt[VEC_NMI].ist = IST_NMI;
	idt[VEC_MC].ist = IST_MACHINE_CHECK;
	for (const struct irq_stub *s = irq_stubs; s->vector; s++)
		set_gate((int)s->vector, s->handler, 0);

	struct idt_pointer p = {sizeof(idt) - 1, (uint64_t)idt};
	__asm__ volatile("lidt %0" : : "m"(p));
}
