/*
 * Tests of fault classification and the probes (include/kernel/fault.h):
 * each runs an access that must fault, on the real MMU, and checks the
 * kind, address and error code the handler reported. Every test unmaps
 * and frees what it mapped, so the boot-time W^X audit still holds after.
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <arch/x86_64/pgtable.h>
#include <arch/x86_64/trap.h>
#include <kernel/boot.h>
#include <kernel/fault.h>
#include <kernel/ktest.h>
#include <lib/string.h>
#include <mm/addr.h>
#include <mm/layout.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>

/* Page-fault error bits (include/arch/x86_64/trap.h draws the layout). */
#define ERR_P	 0x01
#define ERR_W	 0x02
#define ERR_RSVD 0x08
#define ERR_ID	 0x10

#define OP_RET	     0xc3
#define NONCANONICAL 0x8000000000000000ull

/* Lower-half addresses for user pages (SMAP, SMEP): nothing else is there. */
#define USER_TEST_VA 0x0000000040000000ull

#define EXPECT_FAULT(t, faulted, f, vec, kind_, addr_, err)                                        \
	do {                                                                                       \
		if (!expect_fault(t, __LINE__, faulted, f, vec, kind_, addr_, err))                \
			return;                                                                    \
	} while (0)

/* True if the probe faulted as expected, else records why in t. */
static bool expect_fault(struct ktest *t, int line, bool faulted, const struct fault_info *f,
			 uint64_t vector, enum fault_kind kind, vaddr_t addr, uint64_t error)
{
	if (!faulted)
		ktest_fail(t, __FILE__, line, "no fault at %#llx", (unsigned long long)addr);
	else if (f->kind != kind)
		ktest_fail(t, __FILE__, line,
			   "kind \"%s\", expected \"%s\" (vector %llu, error %#llx)",
			   fault_kind_name(f->kind), fault_kind_name(kind),
			   (unsigned long long)f->vector, (unsigned long long)f->error);
	else if (f->vector != vector || f->addr != addr || f->error != error)
		ktest_fail(t, __FILE__, line,
			   "vector %llu addr %#llx error %#llx, expected %llu %#llx %#llx",
			   (unsigned long long)f->vector, (unsigned long long)f->addr,
			   (unsigned long long)f->error, (unsigned long long)vector,
			   (unsigned long long)addr, (unsigned long long)error);
	return !t->failed;
}

/* A free page-aligned address where tests may map (ktest_scratch_va()). */
static vaddr_t heap_window_va(unsigned int page)
{
	return ktest_scratch_va(PAGE_SIZE, page);
}

struct test_page {
	vaddr_t va;
	paddr_t pa;
};

/*
 * Map a fresh frame at va with flags, filled with `ret` bytes (written
 * through the direct map) so an exec probe that does not fault returns.
 * Returns false, with t failed, if it could not.
 */
static bool page_map(struct ktest *t, struct test_page *p, vaddr_t va, uint32_t flags)
{
	int err;

	p->va = va;
	p->pa = pmm_alloc(&pmm_kernel);
	if (p->pa == PADDR_INVALID) {
		ktest_fail(t, __FILE__, __LINE__, "no free frame");
		return false;
	}
	memset(phys_to_virt(p->pa), OP_RET, PAGE_SIZE);
	err = vmm_map(va, p->pa, PAGE_SIZE, flags);
	if (err) {
		pmm_free(&pmm_kernel, p->pa);
		ktest_fail(t, __FILE__, __LINE__, "vmm_map(%#llx, flags %#x): %d",
			   (unsigned long long)va, flags, err);
		return false;
	}
	return true;
}

static void page_unmap(struct ktest *t, struct test_page *p)
{
	int err = vmm_unmap(p->va, PAGE_SIZE);

	if (err && !t->failed)
		ktest_fail(t, __FILE__, __LINE__, "vmm_unmap(%#llx): %d", (unsigned long long)p->va,
			   err);
	if (!err)
		pmm_free(&pmm_kernel, p->pa); /* never free a frame still mapped */
}

static void fault_test_ret(void)
{
}

static const uint64_t ro_word = 0x726f; /* .rodata */
static uint64_t rw_word = 0x7277;	/* .data */

KTEST(fault, probe_mapped_addresses_do_not_fault)
{
	struct fault_info f = {0};
	uint64_t v = 0, local = 0;

	KEXPECT(t, !probe_read((vaddr_t)&ro_word, &v, &f));
	KEXPECT_EQ(t, v, 0x726f);
	KEXPECT(t, !probe_write((vaddr_t)&rw_word, 0x1234, &f));
	KEXPECT_EQ(t, rw_word, 0x1234);
	KEXPECT(t, !probe_write((vaddr_t)&local, 42, &f));
	KEXPECT_EQ(t, local, 42);
	KEXPECT(t, !probe_exec((vaddr_t)fault_test_ret, &f));
	KEXPECT_EQ(t, f.kind, FAULT_NONE);
}

KTEST(fault, probe_read_page_zero_is_null)
{
	struct fault_info f;
	uint64_t v = 7;

	EXPECT_FAULT(t, probe_read(0, &v, &f), &f, VEC_PF, FAULT_NULL, 0, 0);
	KEXPECT_EQ(t, v, 7);
	EXPECT_FAULT(t, probe_read(0x18, &v, &f), &f, VEC_PF, FAULT_NULL, 0x18, 0);
}

KTEST(fault, probe_exec_null_is_null)
{
	struct fault_info f;

	EXPECT_FAULT(t, probe_exec(0, &f), &f, VEC_PF, FAULT_NULL, 0, ERR_ID);
	KEXPECT_EQ(t, f.rip, 0);
}

KTEST(fault, probe_read_unmapped_heap_window_is_not_present)
{
	vaddr_t va = heap_window_va(0) + 8;
	struct fault_info f;
	uint64_t v;

	KEXPECT(t, !vmm_query(va, &(struct pt_leaf){0}));
	EXPECT_FAULT(t, probe_read(va, &v, &f), &f, VEC_PF, FAULT_NOT_PRESENT, va, 0);
	EXPECT_FAULT(t, probe_write(va, 1, &f), &f, VEC_PF, FAULT_NOT_PRESENT, va, ERR_W);
	KEXPECT(t, !vmm_query(va, &(struct pt_leaf){0}));
}

KTEST(fault, probe_read_demand_page_maps_without_fault)
{
	vaddr_t va = heap_window_va(4);
	struct fault_info f;
	uint64_t v = 1;
	bool faulted;
	int err;

	err = vmm_demand_reserve(va, PAGE_SIZE, VMM_WRITE);
	if (err) {
		ktest_fail(t, __FILE__, __LINE__, "vmm_demand_reserve: %d", err);
		return;
	}
	faulted = probe_read(va + 16, &v, &f);
	err = vmm_demand_release(va);
	KEXPECT(t, !faulted);
	KEXPECT_EQ(t, v, 0);
	KEXPECT_EQ(t, err, 0);
	KEXPECT(t, !vmm_query(va, &(struct pt_leaf){0}));
}

KTEST(fault, probe_read_boot_stack_guard_is_guard)
{
	vaddr_t va = boot_info->boot_stack_bottom - 64;
	struct fault_info f;
	uint64_t v;

	if (!vmm_guard_find(va)) {
		ktest_skip(t, "the boot stack's guard page is not registered");
		return;
	}
	EXPECT_FAULT(t, probe_read(va, &v, &f), &f, VEC_PF, FAULT_GUARD, va, 0);
}

KTEST(fault, probe_write_kernel_text_is_write_to_text)
{
	vaddr_t text = (vaddr_t)fault_kind_name;
	uint64_t before = *(const uint64_t *)text;
	struct fault_info f;

	EXPECT_FAULT(t, probe_write(text, 0xcccccccccccccccc, &f), &f, VEC_PF, FAULT_WRITE_TEXT,
		     text, ERR_P | ERR_W);
	KEXPECT_EQ(t, *(const uint64_t *)text, before);
}

KTEST(fault, probe_write_read_only_is_write_to_ro)
{
	struct test_page p;
	struct fault_info f;
	uint64_t v = 0;
	bool faulted;

	EXPECT_FAULT(t, probe_write((vaddr_t)&ro_word, 1, &f), &f, VEC_PF, FAULT_WRITE_RO,
		     (vaddr_t)&ro_word, ERR_P | ERR_W);
	KEXPECT_EQ(t, ro_word, 0x726f);
	if (!page_map(t, &p, heap_window_va(8), 0))
		return;
	faulted = probe_write(p.va, 1, &f);
	probe_read(p.va, &v, NULL);
	page_unmap(t, &p);
	EXPECT_FAULT(t, faulted, &f, VEC_PF, FAULT_WRITE_RO, p.va, ERR_P | ERR_W);
	KEXPECT_EQ(t, v, 0xc3c3c3c3c3c3c3c3);
}

/* Call va (which holds `ret`): it must fault as NX. */
static void expect_nx(struct ktest *t, vaddr_t va)
{
	struct fault_info f;

	EXPECT_FAULT(t, probe_exec(va, &f), &f, VEC_PF, FAULT_NX, va, ERR_P | ERR_ID);
	KEXPECT_EQ(t, f.rip, va);
}

KTEST(fault, probe_exec_heap_window_is_nx)
{
	struct test_page p;

	if (!page_map(t, &p, heap_window_va(12), VMM_WRITE))
		return;
	expect_nx(t, p.va);
	page_unmap(t, &p);
}

KTEST(fault, probe_exec_stack_is_nx)
{
	uint8_t code[16];

	memset(code, OP_RET, sizeof(code));
	expect_nx(t, (vaddr_t)code);
}

KTEST(fault, probe_exec_direct_map_is_nx)
{
	paddr_t pa = pmm_alloc(&pmm_kernel);

	if (pa == PADDR_INVALID) {
		ktest_fail(t, __FILE__, __LINE__, "no free frame");
		return;
	}
	memset(phys_to_virt(pa), OP_RET, PAGE_SIZE);
	expect_nx(t, (vaddr_t)phys_to_virt(pa));
	pmm_free(&pmm_kernel, pa);
}

KTEST(fault, probe_read_reserved_bit_is_reserved)
{
	unsigned int bits = arch_mmu_features()->phys_bits;
	struct test_page p;
	struct fault_info f;
	uint64_t *pte, saved, v;
	bool faulted;

	if (bits >= PT_MAX_PHYS_BITS) {
		ktest_skip(t, "MAXPHYADDR is %u: no reserved address bit", bits);
		return;
	}
	if (!page_map(t, &p, heap_window_va(16), VMM_WRITE))
		return;
	pte = arch_live_pte(p.va);
	if (!pte) {
		ktest_fail(t, __FILE__, __LINE__, "no 4 KiB PTE for %#llx",
			   (unsigned long long)p.va);
		page_unmap(t, &p);
		return;
	}
	saved = *pte;
	*pte = saved | (1ull << 51); /* above MAXPHYADDR: must be zero */
	arch_tlb_flush_page(p.va);
	faulted = probe_read(p.va, &v, &f);
	*pte = saved;
	arch_tlb_flush_page(p.va);
	page_unmap(t, &p);
	/* CPUs set P with RSVD (SDM 4.7); QEMU 7.2's TCG leaves it clear. */
	if (faulted && f.error == ERR_RSVD)
		f.error |= ERR_P;
	EXPECT_FAULT(t, faulted, &f, VEC_PF, FAULT_RESERVED, p.va, ERR_P | ERR_RSVD);
}

KTEST(fault, probe_read_user_page_is_smap)
{
	struct test_page p;
	struct fault_info f;
	uint64_t v;
	bool faulted;

	if (!arch_mmu_features()->smap) {
		ktest_skip(t, "SMAP is off (the CPU lacks it, or nosmap)");
		return;
	}
	if (!page_map(t, &p, USER_TEST_VA, VMM_USER | VMM_WRITE))
		return;
	faulted = probe_read(p.va, &v, &f);
	page_unmap(t, &p);
	EXPECT_FAULT(t, faulted, &f, VEC_PF, FAULT_SMAP, p.va, ERR_P);
}

KTEST(fault, probe_exec_user_page_is_smep)
{
	struct test_page p;
	struct fault_info f;
	bool faulted;

	if (!arch_mmu_features()->smep) {
		ktest_skip(t, "SMEP is off (the CPU lacks it, or nosmep)");
		return;
	}
	if (!page_map(t, &p, USER_TEST_VA + PAGE_SIZE, VMM_USER | VMM_EXEC))
		return;
	faulted = probe_exec(p.va, &f);
	page_unmap(t, &p);
	EXPECT_FAULT(t, faulted, &f, VEC_PF, FAULT_SMEP, p.va, ERR_P | ERR_ID);
	KEXPECT_EQ(t, f.rip, p.va);
}

KTEST(fault, probe_noncanonical_is_gp)
{
	struct fault_info f;
	uint64_t v;

	EXPECT_FAULT(t, probe_read(NONCANONICAL, &v, &f), &f, VEC_GP, FAULT_NONCANONICAL,
		     NONCANONICAL, 0);
	EXPECT_FAULT(t, probe_write(NONCANONICAL + 8, 0, &f), &f, VEC_GP, FAULT_NONCANONICAL,
		     NONCANONICAL + 8, 0);
	EXPECT_FAULT(t, probe_exec(NONCANONICAL + 16, &f), &f, VEC_GP, FAULT_NONCANONICAL,
		     NONCANONICAL + 16, 0);
}

KTEST(fault, fault_kind_name_names_every_kind)
{
	for (int a = 0; a < FAULT_KIND_COUNT; a++) {
		KEXPECT(t, fault_kind_name(a)[0] != '?');
		for (int b = 0; b < a; b++)
			KEXPECT(t, strcmp(fault_kind_name(a), fault_kind_name(b)) != 0);
	}
	KEXPECT(t, strcmp(fault_kind_name(FAULT_KIND_COUNT), "?") == 0);
}

/* Last in the suite: the tests above left no mapping behind. */
KTEST(fault, fault_tests_leave_wx_audit_clean)
{
	struct wx_audit a;

	arch_wx_audit(&a);
	KEXPECT_EQ(t, a.wx, 0);
	KEXPECT_EQ(t, a.lower_half, 0);
	KEXPECT_EQ(t, a.user, 0);
	KEXPECT(t, !vmm_query(heap_window_va(0), &(struct pt_leaf){0}));
	KEXPECT(t, !vmm_query(USER_TEST_VA, &(struct pt_leaf){0}));
}
