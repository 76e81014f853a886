/*
 * The local APIC (arch/x86_64/apic.c) and the 8259 PICs it replaces:
 * register offsets, the vectors Aerie uses, the entry points trap.c calls.
 * Intel SDM vol. 3A ch. 11 (xAPIC registers at 16-byte strides in a 4 KiB
 * MMIO page; in x2APIC mode the same register is MSR 0x800 + offset / 16).
 */
#pragma once

#include <lib/types.h>

#define MSR_APIC_BASE	 0x1bu
#define APIC_BASE_X2APIC (1ull << 10) /* x2APIC mode: registers are MSRs */
#define APIC_BASE_ENABLE (1ull << 11) /* global enable */
#define APIC_BASE_ADDR	 0x000ffffffffff000ull
#define MSR_X2APIC_FIRST 0x800u
#define CPUID_1_EDX_APIC (1u << 9)

#define APIC_ID		   0x020
#define APIC_VERSION	   0x030
#define APIC_TPR	   0x080 /* task priority: 0 accepts every vector */
#define APIC_EOI	   0x0b0
#define APIC_SVR	   0x0f0 /* spurious vector; bit 8 enables the APIC */
#define APIC_SVR_ENABLE	   (1u << 8)
#define APIC_ICR_LOW	   0x300 /* interrupt command; x2APIC: one 64-bit MSR */
#define APIC_ICR_HIGH	   0x310
#define APIC_LVT_TIMER	   0x320
#define APIC_LVT_LINT0	   0x350
#define APIC_LVT_ERROR	   0x370
#define APIC_TIMER_INITIAL 0x380
#define APIC_TIMER_CURRENT 0x390
#define APIC_TIMER_DIVIDE  0x3e0
#define APIC_TIMER_DIV_16  0x3 /* divide configuration encoding for 16 */
#define APIC_LVT_MASKED	   (1u << 16)
#define APIC_LVT_PERIODIC  (1u << 17)

/*
 * Vectors. The PICs are remapped to 0x20-0x2f and masked, so even a stray
 * PIC interrupt lands on a vector of its own, never on an exception's. The
 * timer sits in the highest priority class below the spurious vector,
 * which must end in 0xf on older CPUs. The ping IPI (parked APs) sits just
 * below the spurious vector.
 */
#define VEC_PIC_BASE 0x20
#define VEC_PIC_LAST 0x2f
#define VEC_TIMER    0xec
#define VEC_RECLAIM  0xfb /* smp_ipi.c: give this CPU's caches back (remote_reclaim.c) */
#define VEC_RESCHED  0xfc /* smp_ipi.c: look at need_resched (wakes an idle CPU) */
#define VEC_PING     0xfd /* smp.c: an AP answers by counting it */
#define VEC_SPURIOUS 0xff

/* Local APIC timer ticks per millisecond at APIC_TIMER_DIV_16, and the TSC's rate. */
struct apic_calibration {
	uint64_t apic_per_ms;
	uint64_t tsc_khz;
};

/* Register access, xAPIC (MMIO) or x2APIC (MSRs) as the firmware left it. */
uint32_t apic_read(uint32_t reg);
void apic_write(uint32_t reg, uint32_t v);

/*
 * Measure the APIC timer (at APIC_TIMER_DIV_16) and the TSC against PIT
 * channel 2; the APIC must be enabled and its timer idle. Panics if the
 * PIT does not count.
 */
void apic_calibrate(struct apic_calibration *c);

/* Called by trap_dispatch for vectors 0x20 and up. */
void apic_interrupt(uint64_t vector);
