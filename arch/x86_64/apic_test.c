/*
 * Tests of the x86 side of the timer (suite `timer`): the PICs are masked,
 * the APIC is enabled with the timer running periodically on its vector,
 * and the spurious vector is counted and never acknowledged.
 */
#include <arch/arch.h>
#include <arch/timer.h>
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <kernel/console.h>
#include <kernel/ktest.h>

#define APIC_ISR0 0x100 /* in-service bits: 8 registers, 16 bytes apart */

KTEST(timer, apic_pics_masked_apic_enabled)
{
	KEXPECT_EQ(t, inb(0x21), 0xff);
	KEXPECT_EQ(t, inb(0xa1), 0xff);
	KEXPECT(t, apic_read(APIC_SVR) & APIC_SVR_ENABLE);
	KEXPECT_EQ(t, apic_read(APIC_SVR) & 0xff, VEC_SPURIOUS);
	KEXPECT_EQ(t, apic_read(APIC_LVT_TIMER), APIC_LVT_PERIODIC | VEC_TIMER);
	KEXPECT(t, apic_read(APIC_TIMER_INITIAL) != 0);
}

/* No vector is in service while interrupts are off and no handler runs. */
static bool apic_none_in_service(void)
{
	for (uint32_t r = 0; r < 8; r++)
		if (apic_read(APIC_ISR0 + r * 16))
			return false;
	return true;
}

KTEST(timer, apic_spurious_counted_not_acknowledged)
{
	uint64_t before = arch_timer_info()->spurious;
	uint64_t cycles[101];

	for (int i = 0; i < 101; i++) {
		uint64_t start = arch_timestamp();

		__asm__ volatile("int $0xff" ::: "memory");
		cycles[i] = arch_timestamp() - start;
	}
	KEXPECT_EQ(t, arch_timer_info()->spurious, before + 101);
	KEXPECT(t, apic_none_in_service());
	kinfo("timer: software int to the spurious vector and back: %llu emulated TSC cycles "
	      "(median of 101)",
	      (unsigned long long)ktest_median(cycles, 101));
}
