/* Tests of the x86-64 exception path and CPU state. */
#include <arch/arch.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/pgtable.h>
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

KTEST(arch, arch_wx_audit_live_tables_clean)
{
	struct wx_audit a;

	arch_wx_audit(&a);
	KEXPECT(t, a.mappings > 0);
	KEXPECT_EQ(t, a.wx, 0);
	KEXPECT_EQ(t, a.lower_half, 0);
	KEXPECT_EQ(t, a.user, 0);
}

/* Effective permissions of one kernel address in the live tables. */
static bool leaf_of(const void *p, struct pt_leaf *leaf)
{
	return arch_translate((vaddr_t)p, leaf);
}

extern const uint64_t isr_stubs[32]; /* in .data.rel.ro: RELRO */
static const char rodata_probe[] = "read-only";
static int data_probe = 1;

KTEST(arch, pt_kernel_sections_have_segment_permissions)
{
	struct pt_leaf text, rodata, relro, data, stack;
	int local = 0;

	KEXPECT(t, leaf_of((const void *)arch_wx_audit, &text));
	KEXPECT(t, leaf_of(rodata_probe, &rodata));
	KEXPECT(t, leaf_of(isr_stubs, &relro));
	KEXPECT(t, leaf_of(&data_probe, &data));
	KEXPECT(t, leaf_of(&local, &stack));
	KEXPECT_EQ(t, text.flags & (PT_WRITE | PT_EXEC), PT_EXEC);
	KEXPECT_EQ(t, rodata.flags & (PT_WRITE | PT_EXEC), 0);
	KEXPECT_EQ(t, relro.flags & (PT_WRITE | PT_EXEC), 0);
	KEXPECT_EQ(t, data.flags & (PT_WRITE | PT_EXEC), PT_WRITE);
	KEXPECT_EQ(t, stack.flags & (PT_WRITE | PT_EXEC), PT_WRITE);
}
