/* Tests of the x86-64 exception path and CPU state. */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/pgtable.h>
#include <kernel/boot.h>
#include <kernel/ktest.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>

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

/* A W+X page planted behind the vmm's back, and a user page: the audit sees both. */
KTEST(arch, arch_wx_audit_catches_planted_mappings)
{
	paddr_t pa = pmm_alloc(&pmm_kernel);
	vaddr_t va = ktest_scratch_va(PAGE_SIZE_2M, 13);
	vaddr_t user = 0x400000;
	struct wx_audit a;
	uint64_t *pte;

	KEXPECT(t, pa != PADDR_INVALID);
	KEXPECT_EQ(t, vmm_map(va, pa, PAGE_SIZE, 0), 0);
	pte = arch_live_pte(va);
	KEXPECT(t, pte != NULL);
	*pte = (*pte | PTE_W) & ~PTE_NX;
	arch_tlb_flush_page(va);
	arch_wx_audit(&a);
	*pte = (*pte & ~PTE_W) | PTE_NX;
	arch_tlb_flush_page(va);
	KEXPECT_EQ(t, a.wx, 1);
	KEXPECT_EQ(t, a.first_bad, va);
	KEXPECT_EQ(t, vmm_map(user, pa, PAGE_SIZE, VMM_USER), 0);
	arch_wx_audit(&a);
	KEXPECT_EQ(t, vmm_unmap(user, PAGE_SIZE), 0);
	KEXPECT_EQ(t, a.wx, 0);
	KEXPECT_EQ(t, a.lower_half, 1);
	KEXPECT_EQ(t, a.user, 1);
	KEXPECT_EQ(t, a.first_bad, user);
	KEXPECT_EQ(t, vmm_unmap(va, PAGE_SIZE), 0);
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, pa), 0);
	arch_wx_audit(&a);
	KEXPECT_EQ(t, a.wx + a.lower_half + a.user, 0);
}

KTEST(arch, cpu_protections_match_the_boot_log)
{
	const struct arch_mmu_features *f = arch_mmu_features();
	uint64_t cr4 = read_cr4();

	KEXPECT_EQ(t, !!(cr4 & CR4_SMEP), f->smep);
	KEXPECT_EQ(t, !!(cr4 & CR4_SMAP), f->smap);
	KEXPECT_EQ(t, !!(cr4 & CR4_UMIP), f->umip);
	KEXPECT_EQ(t, !!(cr4 & CR4_PCIDE), f->pcid);
	KEXPECT_EQ(t, !!(cr4 & CR4_PGE), f->pge);
	if (f->pat)
		KEXPECT_EQ(t, rdmsr(MSR_PAT), 0x0007010600070106ull); /* WB WC UC- UC, twice */
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
