/*
 * The boot CPU's local APIC and its timer (include/arch/timer.h): find the
 * APIC, map its registers, route the legacy 8259 PICs away from the
 * exception vectors, run the timer periodically and dispatch the
 * interrupts that arrive on vectors 0x20 and up; each AP's APIC and the
 * inter-processor interrupts smp.c sends. Calibration against the
 * PIT is apic_calibrate.c. Interrupt masking is <arch/irq.h>.
 */
#include <arch/irq.h>
#include <arch/percpu.h>
#include <arch/timer.h>
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/smp.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <lib/errno.h>
#include <mm/mmio.h>
#include <mm/remote_reclaim.h>
#include <mm/vmm.h>

/* 8259 PIC ports and initialisation words (ICW1: init + ICW4 follows; ICW4: 8086 mode). */
#define PIC1_CMD	0x20
#define PIC1_DATA	0x21
#define PIC2_CMD	0xa0
#define PIC2_DATA	0xa1
#define PIC_ICW1_INIT	0x11
#define PIC_ICW4_8086	0x01
#define PIC_EOI		0x20
#define PIC_CASCADE_IRQ 2

static void apic_local_setup(void);
static volatile uint32_t *apic_mmio; /* xAPIC registers; NULL in x2APIC mode */
static void (*volatile timer_tick)(void);
static void (*volatile ap_tick[SMP_MAX_CPUS])(void); /* each AP's own tick (index: CPU) */
static struct arch_timer_info timer_info = {.name = "local APIC timer"};

uint32_t apic_read(uint32_t reg)
{
	if (!apic_mmio)
		return (uint32_t)rdmsr(MSR_X2APIC_FIRST + reg / 16);
	return apic_mmio[reg / 4];
}

void apic_write(uint32_t reg, uint32_t v)
{
	if (!apic_mmio)
		wrmsr(MSR_X2APIC_FIRST + reg / 16, v);
	else
		apic_mmio[reg / 4] = v;
}

/*
 * Reprogram both PICs to vectors 0x20-0x2f (the firmware may have left
 * them on 0x08-0x0f, #DF's to #GP's), then mask every line: the APIC takes
 * over, and the only interrupts a masked PIC still raises are spurious
 * IRQ 7 and 15, which now arrive on vectors of their own.
 */
static void apic_pic_disable(void)
{
	outb(PIC1_CMD, PIC_ICW1_INIT);
	outb(PIC2_CMD, PIC_ICW1_INIT);
	outb(PIC1_DATA, VEC_PIC_BASE);		/* ICW2: master's vector base */
	outb(PIC2_DATA, VEC_PIC_BASE + 8);	/* ICW2: slave's vector base */
	outb(PIC1_DATA, 1u << PIC_CASCADE_IRQ); /* ICW3: slave on IRQ 2 */
	outb(PIC2_DATA, PIC_CASCADE_IRQ);	/* ICW3: slave's cascade identity */
	outb(PIC1_DATA, PIC_ICW4_8086);
	outb(PIC2_DATA, PIC_ICW4_8086);
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
}

/*
 * Find the local APIC (CPUID.1:EDX.APIC, IA32_APIC_BASE), make its
 * registers reachable (MMIO uncached, or MSRs if the firmware left x2APIC
 * mode on) and software-enable it with all local interrupts masked.
 */
static void apic_enable(void)
{
	uint64_t base;

	if (!(cpuid(1, 0).edx & CPUID_1_EDX_APIC))
		panic("apic: this CPU has no local APIC (CPUID.1:EDX.APIC is 0); "
		      "Aerie needs it for its timer");
	base = rdmsr(MSR_APIC_BASE);
	if (!(base & APIC_BASE_ENABLE))
		wrmsr(MSR_APIC_BASE, base |= APIC_BASE_ENABLE);
	if (!(base & APIC_BASE_X2APIC)) {
		apic_mmio = mmio_map(base & APIC_BASE_ADDR, PAGE_SIZE, VMM_UC);
		if (!apic_mmio)
			panic("apic: cannot map the local APIC's registers");
	}
	apic_local_setup();
	kdebug("apic: local APIC id %u version %#x, %s", apic_id(), apic_read(APIC_VERSION) & 0xff,
	       apic_mmio ? "xAPIC (MMIO)" : "x2APIC (MSRs)");
}

/*
 * Each CPU's APIC sits at the same address (or MSRs), so an AP reuses the
 * boot CPU's mapping; it only has to switch to the boot CPU's mode.
 */
void apic_ap_enable(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);

	if (!(base & APIC_BASE_ENABLE))
		wrmsr(MSR_APIC_BASE, base |= APIC_BASE_ENABLE);
	if (!apic_mmio && !(base & APIC_BASE_X2APIC)) /* enabled xAPIC -> x2APIC is allowed */
		wrmsr(MSR_APIC_BASE, base | APIC_BASE_X2APIC);
	apic_local_setup();
}

uint32_t apic_id(void)
{
	return apic_mmio ? apic_read(APIC_ID) >> 24 : apic_read(APIC_ID);
}

/*
 * xAPIC: destination in ICR[63:56] (written first), then the low word,
 * which sends; delivery status says when the APIC has taken it. x2APIC:
 * one 64-bit MSR write, destination in the high half.
 */
void apic_send_ipi(uint32_t dest, uint32_t low)
{
	unsigned long flags;

	if (!apic_mmio) {
		wrmsr(MSR_X2APIC_FIRST + APIC_ICR_LOW / 16, (uint64_t)dest << 32 | low);
		return;
	}
	/* An interrupt handler that sends (a wake-up's IPI) must not come between the halves. */
	flags = arch_irq_save();
	apic_write(APIC_ICR_HIGH, dest << 24);
	apic_write(APIC_ICR_LOW, low);
	while (apic_read(APIC_ICR_LOW) & APIC_ICR_PENDING)
		__builtin_ia32_pause();
	arch_irq_restore(flags);
}

/* Software-enable this CPU's APIC with every local interrupt masked. */
static void apic_local_setup(void)
{
	apic_write(APIC_TPR, 0);
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | VEC_TIMER);
	apic_write(APIC_LVT_LINT0, APIC_LVT_MASKED); /* the PICs' virtual wire */
	apic_write(APIC_LVT_ERROR, APIC_LVT_MASKED);
	apic_write(APIC_SVR, APIC_SVR_ENABLE | VEC_SPURIOUS);
}

void arch_timer_init(void)
{
	struct apic_calibration c;

	apic_pic_disable();
	apic_enable();
	apic_calibrate(&c);
	timer_info.reference = "the PIT";
	timer_info.ticks_per_ms = c.apic_per_ms;
	timer_info.tsc_khz = c.tsc_khz;
}

/* Program this CPU's timer periodic at hz with the boot CPU's calibration. */
static int apic_timer_program(unsigned int hz)
{
	uint64_t count;

	if (!hz)
		return -EINVAL;
	count = timer_info.ticks_per_ms * 1000 / hz;
	if (!count || count > 0xffffffffu)
		return -EINVAL;
	apic_write(APIC_TIMER_DIVIDE, APIC_TIMER_DIV_16);
	apic_write(APIC_LVT_TIMER, APIC_LVT_PERIODIC | VEC_TIMER);
	apic_write(APIC_TIMER_INITIAL, (uint32_t)count);
	return 0;
}

uint64_t arch_timer_counter(uint64_t *tsc, uint64_t *period)
{
	uint32_t left;

	*period = apic_read(APIC_TIMER_INITIAL);
	*tsc = rdtsc();
	left = apic_read(APIC_TIMER_CURRENT);
	return left;
}

int arch_timer_start(unsigned int hz, void (*tick)(void))
{
	timer_tick = tick;
	return apic_timer_program(hz);
}

int arch_timer_start_this_cpu(unsigned int hz, void (*tick)(void))
{
	unsigned int cpu = arch_percpu()->cpu;

	KASSERT(cpu != 0 && cpu < SMP_MAX_CPUS);
	ap_tick[cpu] = tick;
	return apic_timer_program(hz);
}

void arch_timer_stop(void)
{
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | VEC_TIMER);
	apic_write(APIC_TIMER_INITIAL, 0);
	timer_tick = NULL; /* a tick already pending in the APIC finds no handler */
}

const struct arch_timer_info *arch_timer_info(void)
{
	return &timer_info;
}

/*
 * One interrupt on vector 0x20 or up, interrupts off. The timer's is
 * acknowledged after its handler; a spurious one must not be (the APIC set
 * no in-service bit for it); a stray PIC line is counted, and for the
 * slave's spurious IRQ 15 the master, which did see its cascade line,
 * gets its end-of-interrupt.
 */
void apic_interrupt(uint64_t vector)
{
	unsigned int cpu = arch_percpu()->cpu;
	void (*tick)(void) = cpu ? ap_tick[cpu] : timer_tick;

	if (vector == VEC_TIMER) {
		if (tick)
			tick();
		apic_write(APIC_EOI, 0);
	} else if (vector == VEC_PING) {
		smp_ping_received();
		apic_write(APIC_EOI, 0);
	} else if (vector == VEC_RECLAIM) {
		remote_reclaim_receive(); /* interrupts were on: no cache fast path, no lock */
		apic_write(APIC_EOI, 0);
	} else if (vector == VEC_RESCHED) {
		apic_write(APIC_EOI, 0); /* the interrupt exit looks at need_resched */
	} else if (vector == VEC_SPURIOUS) {
		timer_info.spurious++;
	} else if (vector >= VEC_PIC_BASE && vector <= VEC_PIC_LAST) {
		timer_info.stray++;
		if (vector >= VEC_PIC_BASE + 8)
			outb(PIC1_CMD, PIC_EOI);
	} else {
		panic("apic: interrupt on vector %llu, which has no handler",
		      (unsigned long long)vector);
	}
}
