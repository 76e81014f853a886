/*
 * Calibrating the local APIC timer and the TSC against the 8254 PIT, whose
 * input clock is 1.193182 MHz on every PC. Channel 2 is used because its
 * gate and output are wired to port 0x61: it counts down once without
 * raising an interrupt, and the kernel reads its count (and the output
 * bit, set once it passes zero) while the interrupts stay off. The ACPI PM timer would need the
 * FADT parsed first; the PIT needs nothing.
 */
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <kernel/panic.h>

#define PIT_HZ		  1193182ull
#define PIT_CH2_DATA	  0x42
#define PIT_CMD		  0x43
#define PIT_CMD_CH2_MODE0 0xb0 /* channel 2, low then high byte, mode 0, binary */
#define PORT_61		  0x61
#define PORT_61_GATE2	  (1u << 0) /* channel 2 counts while set */
#define PORT_61_SPEAKER	  (1u << 1) /* speaker data: kept off */
#define PORT_61_OUT2	  (1u << 5) /* channel 2 output: set at terminal count */

/*
 * One window is about 10 ms of PIT counts. Each end is read precisely
 * (the PIT's own count, latched, between two TSC reads; the tightest of
 * five), so a host that stops QEMU while the window runs lengthens the
 * window but does not skew it. The median of three windows rides out a
 * stall during a read.
 */
#define CAL_PIT_COUNT	  11932u
#define CAL_RUNS	  3
#define CAL_READS	  5
#define CAL_TRIES	  20
#define PIT_CMD_LATCH_CH2 0x80
#define CAL_MAX_POLLS	  (1u << 24)

/* Progress of the three clocks over one window. */
struct cal_sample {
	uint64_t pit, apic, tsc;
};

struct cal_point {
	uint64_t tsc;	/* midway between the TSC reads around the others */
	uint64_t width; /* TSC cycles between those reads */
	uint32_t apic;	/* the APIC timer's current count */
	uint16_t pit;	/* channel 2's count */
	bool wrapped;	/* channel 2 passed zero (OUT2 set): too late */
};

static uint16_t pit_ch2_count(void)
{
	uint8_t lo, hi;

	outb(PIT_CMD, PIT_CMD_LATCH_CH2);
	lo = inb(PIT_CH2_DATA);
	hi = inb(PIT_CH2_DATA);
	return (uint16_t)(hi << 8 | lo);
}

static struct cal_point cal_point(void)
{
	struct cal_point best = {.width = ~0ull};

	for (int i = 0; i < CAL_READS; i++) {
		uint64_t t0 = rdtsc();
		uint32_t apic = apic_read(APIC_TIMER_CURRENT);
		uint16_t pit = pit_ch2_count();
		uint64_t t1 = rdtsc();

		if (t1 - t0 < best.width)
			best = (struct cal_point){t0 + (t1 - t0) / 2, t1 - t0, apic, pit, false};
	}
	best.wrapped = inb(PORT_61) & PORT_61_OUT2;
	return best;
}

/* One window: false if the PIT passed zero before its end was read. */
static bool cal_window(struct cal_sample *s)
{
	uint8_t p61 = inb(PORT_61) & ~(PORT_61_GATE2 | PORT_61_SPEAKER);
	struct cal_point a, b;
	uint32_t polls = 0;

	outb(PORT_61, p61);
	outb(PIT_CMD, PIT_CMD_CH2_MODE0);
	outb(PIT_CH2_DATA, 0xff);
	outb(PIT_CH2_DATA, 0xff);
	apic_write(APIC_TIMER_INITIAL, 0xffffffffu);
	outb(PORT_61, p61 | PORT_61_GATE2);
	a = cal_point();
	while ((uint16_t)(a.pit - pit_ch2_count()) < CAL_PIT_COUNT)
		if (++polls == CAL_MAX_POLLS)
			panic("apic: the PIT's channel 2 does not count: "
			      "no 8254 to calibrate the timer against");
	b = cal_point();
	apic_write(APIC_TIMER_INITIAL, 0);
	outb(PORT_61, p61);
	if (a.wrapped || b.wrapped || a.pit <= b.pit)
		return false;
	s->pit = a.pit - b.pit;
	s->apic = a.apic - b.apic;
	s->tsc = b.tsc - a.tsc;
	return true;
}

static uint64_t median3(uint64_t a, uint64_t b, uint64_t c)
{
	if ((a <= b && b <= c) || (c <= b && b <= a))
		return b;
	if ((b <= a && a <= c) || (c <= a && a <= b))
		return a;
	return c;
}

/* Ticks of a clock per ms, from its progress over a window of the PIT's. */
static uint64_t per_ms(uint64_t ticks, uint64_t pit)
{
	return ticks * PIT_HZ / (pit * 1000);
}

void apic_calibrate(struct apic_calibration *c)
{
	struct cal_sample s[CAL_RUNS];
	int runs = 0;

	apic_write(APIC_TIMER_DIVIDE, APIC_TIMER_DIV_16);
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | VEC_TIMER); /* one-shot, silent */
	for (int i = 0; i < CAL_TRIES && runs < CAL_RUNS; i++)
		runs += cal_window(&s[runs]);
	if (runs < CAL_RUNS)
		panic("apic: calibration: the PIT wrapped in %d of %d windows", CAL_TRIES - runs,
		      CAL_TRIES);
	c->apic_per_ms = median3(per_ms(s[0].apic, s[0].pit), per_ms(s[1].apic, s[1].pit),
				 per_ms(s[2].apic, s[2].pit));
	c->tsc_khz = median3(per_ms(s[0].tsc, s[0].pit), per_ms(s[1].tsc, s[1].pit),
			     per_ms(s[2].tsc, s[2].pit));
	if (!c->apic_per_ms || !c->tsc_khz)
		panic("apic: calibration against the PIT measured nothing (APIC %llu, TSC %llu)",
		      (unsigned long long)c->apic_per_ms, (unsigned long long)c->tsc_khz);
}
