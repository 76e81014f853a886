/* Tests of the x86-64 exception path and CPU state. */
#include <arch/arch.h>
#include <arch/x86_64/cpu.h>
#include <kernel/ktest.h>

KTEST(arch, trap_int3_returns)
{
	uint64_t before = arch_breakpoint_count();

	__asm__ volatile("int3");
	KEXPECT_EQ(t, arch_breakpoint_count(), before + 1);
	__asm__ volatile("int3");
	KEXPECT_EQ(t, arch_breakpoint_count(), before + 2);
}

KTEST(arch, cpu_nx_and_wp_enabled)
{
	KEXPECT(t, rdmsr(MSR_EFER) & EFER_NXE);
	KEXPECT(t, read_cr0() & CR0_WP);
}
