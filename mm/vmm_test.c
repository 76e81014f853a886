/*
 * In-kernel tests of the kernel's address space on the real MMU (ktest=vmm).
 * Test mappings live at ktest_scratch_va(), beside the heap; each test
 * leaves the tables and the free-frame count as it found them. The timing
 * test prints TSC figures as KTAP diagnostics: under QEMU's TCG they are
 * emulated cycles, useful as ratios only.
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <kernel/boot.h>
#include <kernel/console.h>
#include <kernel/ktest.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/addr.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>

#define TEST_PAGES 10000
#define PATTERN	   0x5a17e5a17e5a17e5ull

static paddr_t frames[TEST_PAGES];

/* A test address aligned to align, offset by slot * align, where nothing else maps. */
static vaddr_t test_va(uint64_t align, uint64_t slot)
{
	return ktest_scratch_va(align, slot);
}

static uint64_t tables(void)
{
	struct vmm_stats s;

	vmm_stats(&s);
	return s.tables;
}

static volatile uint64_t *word(vaddr_t va)
{
	return (volatile uint64_t *)va;
}

KTEST(vmm, vmm_translate_round_trips_all_page_sizes)
{
	paddr_t small = pmm_alloc(&pmm_kernel);
	paddr_t run = pmm_alloc_run(&pmm_kernel, 512, PAGE_SIZE_2M);
	vaddr_t v4k = test_va(PAGE_SIZE, 7), v2m = test_va(PAGE_SIZE_2M, 1);
	vaddr_t v1g = test_va(PAGE_SIZE_1G, 1);
	uint64_t before = tables();
	struct pt_leaf leaf;

	KEXPECT(t, small != PADDR_INVALID && run != PADDR_INVALID);
	*(uint64_t *)phys_to_virt(small + 8) = PATTERN;
	*(uint64_t *)phys_to_virt(run + PAGE_SIZE_2M - 8) = ~PATTERN;
	KEXPECT_EQ(t, vmm_map(v4k, small, PAGE_SIZE, VMM_WRITE), 0);
	KEXPECT_EQ(t, vmm_map(v2m, run, PAGE_SIZE_2M, VMM_WRITE | VMM_HUGE), 0);
	/* 1 GiB of physical address space from 0, read-only and never touched. */
	KEXPECT_EQ(t, vmm_map(v1g, 0, PAGE_SIZE_1G, VMM_HUGE), 0);

	KEXPECT_EQ(t, vmm_translate(v4k + 0x123), small + 0x123);
	KEXPECT(t, vmm_query(v2m + 0x12345, &leaf));
	KEXPECT_EQ(t, leaf.size, PAGE_SIZE_2M);
	KEXPECT_EQ(t, leaf.pa, run);
	KEXPECT_EQ(t, leaf.flags & (PT_WRITE | PT_EXEC | PT_GLOBAL), PT_WRITE | PT_GLOBAL);
	KEXPECT(t, vmm_query(v1g + 0x3fffffff, &leaf));
	KEXPECT_EQ(t, leaf.size, arch_mmu_features()->huge_1g ? PAGE_SIZE_1G : PAGE_SIZE_2M);
	KEXPECT_EQ(t, leaf.flags & PT_WRITE, 0);
	KEXPECT_EQ(t, vmm_translate(v1g + 0x3fffffff), 0x3fffffff);
	KEXPECT_EQ(t, vmm_translate(v1g + PAGE_SIZE_1G), PADDR_INVALID);
	/* Reads through the new mappings see what the direct map wrote. */
	KEXPECT_EQ(t, *word(v4k + 8), PATTERN);
	KEXPECT_EQ(t, *word(v2m + PAGE_SIZE_2M - 8), ~PATTERN);

	KEXPECT_EQ(t, vmm_unmap(v4k, PAGE_SIZE), 0);
	KEXPECT_EQ(t, vmm_unmap(v2m, PAGE_SIZE_2M), 0);
	KEXPECT_EQ(t, vmm_unmap(v1g, PAGE_SIZE_1G), 0);
	KEXPECT_EQ(t, vmm_translate(v4k), PADDR_INVALID);
	KEXPECT_EQ(t, tables(), before);
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, small), 0);
	KEXPECT_EQ(t, pmm_free_run(&pmm_kernel, run, 512), 0);
}

/* Map frames[0..n) page by page from va; returns the first error. */
static int map_frames(vaddr_t va, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int err = vmm_map(va + i * PAGE_SIZE, frames[i], PAGE_SIZE, VMM_WRITE);
		if (err)
			return err;
	}
	return 0;
}

KTEST(vmm, vmm_map_unmap_10000_pages_free_count_exact)
{
	vaddr_t va = test_va(PAGE_SIZE_1G, 2) - 5 * PAGE_SIZE; /* straddles a 1 GiB line */
	uint64_t free_before = pmm_kernel_free_frames(), tables_before = tables();
	size_t n = 0;

	for (; n < TEST_PAGES; n++) {
		frames[n] = pmm_alloc(&pmm_kernel);
		if (frames[n] == PADDR_INVALID)
			break;
		*(uint64_t *)phys_to_virt(frames[n]) = frames[n] ^ PATTERN;
	}
	KEXPECT_EQ(t, n, TEST_PAGES);
	KEXPECT_EQ(t, map_frames(va, n), 0);
	for (size_t i = 0; i < n; i++)
		KEXPECT_EQ(t, *word(va + i * PAGE_SIZE), frames[i] ^ PATTERN);
	KEXPECT(t, tables() > tables_before);
	KEXPECT_EQ(t, vmm_unmap(va, n * PAGE_SIZE), 0);
	KEXPECT_EQ(t, vmm_translate(va), PADDR_INVALID);
	KEXPECT_EQ(t, vmm_translate(va + (n - 1) * PAGE_SIZE), PADDR_INVALID);
	KEXPECT_EQ(t, tables(), tables_before);
	for (size_t i = 0; i < n; i++)
		KEXPECT_EQ(t, pmm_free(&pmm_kernel, frames[i]), 0);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), free_before);
}

KTEST(vmm, vmm_huge_page_split_keeps_other_mappings)
{
	paddr_t run = pmm_alloc_run(&pmm_kernel, 512, PAGE_SIZE_2M);
	vaddr_t va = test_va(PAGE_SIZE_2M, 3), v1g = test_va(PAGE_SIZE_1G, 3);
	uint64_t before = tables();
	struct pt_leaf leaf;

	KEXPECT(t, run != PADDR_INVALID);
	for (uint64_t off = 0; off < PAGE_SIZE_2M; off += PAGE_SIZE)
		*(uint64_t *)phys_to_virt(run + off) = (run + off) ^ PATTERN;
	KEXPECT_EQ(t, vmm_map(va, run, PAGE_SIZE_2M, VMM_WRITE | VMM_HUGE), 0);
	KEXPECT_EQ(t, vmm_protect(va + 5 * PAGE_SIZE, PAGE_SIZE, 0), 0); /* splits */
	KEXPECT_EQ(t, vmm_unmap(va + 9 * PAGE_SIZE, 2 * PAGE_SIZE), 0);
	for (uint64_t off = 0; off < PAGE_SIZE_2M; off += PAGE_SIZE) {
		bool gone = off == 9 * PAGE_SIZE || off == 10 * PAGE_SIZE;
		KEXPECT_EQ(t, vmm_query(va + off, &leaf), !gone);
		if (gone)
			continue;
		KEXPECT_EQ(t, leaf.size, PAGE_SIZE);
		KEXPECT_EQ(t, leaf.pa, run + off);
		KEXPECT_EQ(t, !!(leaf.flags & PT_WRITE), off != 5 * PAGE_SIZE);
		KEXPECT_EQ(t, *word(va + off), (run + off) ^ PATTERN);
	}
	/* A 1 GiB leaf (read-only, never touched) split twice by a 4 KiB hole. */
	KEXPECT_EQ(t, vmm_map(v1g, 0, PAGE_SIZE_1G, VMM_HUGE), 0);
	KEXPECT_EQ(t, vmm_unmap(v1g + 0x12345000, PAGE_SIZE), 0);
	KEXPECT_EQ(t, vmm_translate(v1g + 0x12345000), PADDR_INVALID);
	KEXPECT_EQ(t, vmm_translate(v1g + 0x12344fff), 0x12344fff);
	KEXPECT_EQ(t, vmm_translate(v1g + 0x12346000), 0x12346000);
	KEXPECT_EQ(t, vmm_translate(v1g), 0);
	KEXPECT_EQ(t, vmm_translate(v1g + PAGE_SIZE_1G - 1), PAGE_SIZE_1G - 1);
	KEXPECT(t, vmm_query(v1g + 0x20000000, &leaf));
	KEXPECT_EQ(t, leaf.size, PAGE_SIZE_2M);

	KEXPECT_EQ(t, vmm_unmap(va, PAGE_SIZE_2M), 0);
	KEXPECT_EQ(t, vmm_unmap(v1g, PAGE_SIZE_1G), 0);
	KEXPECT_EQ(t, tables(), before);
	KEXPECT_EQ(t, pmm_free_run(&pmm_kernel, run, 512), 0);
}

KTEST(vmm, vmm_refuses_bad_requests_and_changes_nothing)
{
	paddr_t pa = pmm_alloc(&pmm_kernel);
	vaddr_t va = test_va(PAGE_SIZE_2M, 5);
	paddr_t beyond = 1ull << arch_mmu_features()->phys_bits;
	uint64_t before = tables();

	KEXPECT(t, pa != PADDR_INVALID);
	KEXPECT_EQ(t, vmm_map(va, pa, PAGE_SIZE, VMM_WRITE | VMM_EXEC), -EPERM);
	KEXPECT_EQ(t, vmm_map(0x0000800000000000ull, pa, PAGE_SIZE, 0), -EINVAL);
	KEXPECT_EQ(t, vmm_map(va + 8, pa, PAGE_SIZE, 0), -EINVAL);
	KEXPECT_EQ(t, vmm_map(va, pa + 8, PAGE_SIZE, 0), -EINVAL);
	KEXPECT_EQ(t, vmm_map(va, pa, 0, 0), -EINVAL);
	KEXPECT_EQ(t, vmm_map(va, beyond, PAGE_SIZE, 0), -ERANGE);
	KEXPECT_EQ(t, vmm_map(0x400000, pa, PAGE_SIZE, 0), -EINVAL);  /* lower half, not user */
	KEXPECT_EQ(t, vmm_map(va, pa, PAGE_SIZE, VMM_USER), -EINVAL); /* upper half, user */
	KEXPECT_EQ(t, tables(), before);
	KEXPECT_EQ(t, vmm_translate(va), PADDR_INVALID);

	/* Over an existing page: refused, and the pages before it are not left mapped. */
	KEXPECT_EQ(t, vmm_map(va + 2 * PAGE_SIZE, pa, PAGE_SIZE, 0), 0);
	KEXPECT_EQ(t, vmm_map(va, pa, 4 * PAGE_SIZE, 0), -EEXIST);
	KEXPECT_EQ(t, vmm_translate(va), PADDR_INVALID);
	KEXPECT_EQ(t, vmm_protect(va, 4 * PAGE_SIZE, 0), -ENOENT);
	KEXPECT_EQ(t, vmm_protect(va + 2 * PAGE_SIZE, PAGE_SIZE, VMM_WRITE | VMM_EXEC), -EPERM);
	KEXPECT_EQ(t, vmm_map(va + 2 * PAGE_SIZE, pa, PAGE_SIZE, VMM_WRITE | VMM_REPLACE), 0);
	KEXPECT_EQ(t, vmm_unmap(va + 1, PAGE_SIZE), -EINVAL);
	KEXPECT_EQ(t, vmm_unmap(va, 4 * PAGE_SIZE), 0); /* holes are fine */
	KEXPECT_EQ(t, tables(), before);
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, pa), 0);
}

KTEST(vmm, vmm_remap_is_seen_after_flush)
{
	enum { N = 2 * VMM_FLUSH_THRESHOLD }; /* exercises the full-flush path too */
	paddr_t a = pmm_alloc_run(&pmm_kernel, N, PAGE_SIZE);
	paddr_t b = pmm_alloc_run(&pmm_kernel, N, PAGE_SIZE);
	vaddr_t va = test_va(PAGE_SIZE_2M, 7);
	struct vmm_stats s0, s1;

	KEXPECT(t, a != PADDR_INVALID && b != PADDR_INVALID);
	for (int i = 0; i < N; i++) {
		*(uint64_t *)phys_to_virt(a + i * PAGE_SIZE) = 0xa0 + i;
		*(uint64_t *)phys_to_virt(b + i * PAGE_SIZE) = 0xb0 + i;
	}
	KEXPECT_EQ(t, vmm_map(va, a, N * PAGE_SIZE, VMM_WRITE), 0);
	for (int i = 0; i < N; i++)
		KEXPECT_EQ(t, *word(va + i * PAGE_SIZE), 0xa0 + i); /* now in the TLB */
	vmm_stats(&s0);
	KEXPECT_EQ(t, vmm_map(va, b, PAGE_SIZE, VMM_WRITE | VMM_REPLACE), 0); /* INVLPG */
	KEXPECT_EQ(t, *word(va), 0xb0);
	KEXPECT_EQ(t, vmm_map(va, b, N * PAGE_SIZE, VMM_WRITE | VMM_REPLACE), 0); /* full */
	vmm_stats(&s1);
	KEXPECT_EQ(t, s1.flush_pages - s0.flush_pages, 1);
	KEXPECT_EQ(t, s1.flush_all - s0.flush_all, 1);
	for (int i = 0; i < N; i++)
		KEXPECT_EQ(t, *word(va + i * PAGE_SIZE), 0xb0 + i);
	KEXPECT_EQ(t, vmm_unmap(va, N * PAGE_SIZE), 0);
	KEXPECT_EQ(t, pmm_free_run(&pmm_kernel, a, N), 0);
	KEXPECT_EQ(t, pmm_free_run(&pmm_kernel, b, N), 0);
}

KTEST(vmm, vmm_demand_zero_first_touch_reads_zero)
{
	vaddr_t va = test_va(PAGE_SIZE_2M, 9);
	uint64_t free_before = pmm_kernel_free_frames(), tables_before = tables();
	struct vmm_stats s0, s1;

	KEXPECT_EQ(t, vmm_demand_reserve(va, 16 * PAGE_SIZE, VMM_WRITE), 0);
	KEXPECT_EQ(t, vmm_demand_reserve(va + PAGE_SIZE, PAGE_SIZE, 0), -EEXIST);
	KEXPECT_EQ(t, vmm_demand_reserve(va, PAGE_SIZE, VMM_WRITE | VMM_EXEC), -EPERM);
	KEXPECT_EQ(t, vmm_translate(va), PADDR_INVALID);
	vmm_stats(&s0);
	for (size_t i = 0; i < PAGE_SIZE / 8; i++)
		KEXPECT_EQ(t, word(va)[i], 0); /* the first read maps a zeroed page */
	word(va + 5 * PAGE_SIZE)[3] = PATTERN; /* the first write too */
	KEXPECT_EQ(t, word(va + 5 * PAGE_SIZE)[3], PATTERN);
	vmm_stats(&s1);
	KEXPECT_EQ(t, s1.demand_faults - s0.demand_faults, 2);
	KEXPECT(t, vmm_translate(va) != PADDR_INVALID);
	KEXPECT_EQ(t, vmm_translate(va + PAGE_SIZE), PADDR_INVALID);
	KEXPECT_EQ(t, vmm_demand_release(va + PAGE_SIZE), -ENOENT);
	KEXPECT_EQ(t, vmm_demand_release(va), 0);
	KEXPECT_EQ(t, vmm_translate(va), PADDR_INVALID);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), free_before);
	KEXPECT_EQ(t, tables(), tables_before);
	KEXPECT(t, !vmm_demand_fault(va)); /* released: a touch would be reported */
}

KTEST(vmm, vmm_boot_layout_framebuffer_wc_kernel_alias_read_only)
{
	vaddr_t alias = boot_info->direct_map_base + boot_info->kernel_phys_base;
	struct pt_leaf leaf;
	struct pt_check c;

	KEXPECT(t, vmm_query(alias, &leaf));
	KEXPECT_EQ(t, leaf.flags & (PT_WRITE | PT_EXEC), 0);
	KEXPECT(t, vmm_query(alias + boot_info->kernel_size - 1, &leaf));
	KEXPECT_EQ(t, leaf.flags & (PT_WRITE | PT_EXEC), 0);
	KEXPECT(t, vmm_query((vaddr_t)&frames[0], &leaf)); /* kernel data: still writable */
	KEXPECT_EQ(t, leaf.flags & (PT_WRITE | PT_EXEC | PT_GLOBAL), PT_WRITE | PT_GLOBAL);
	if (boot_info->fb.virt) {
		KEXPECT(t, vmm_query(boot_info->fb.virt, &leaf));
		KEXPECT_EQ(t, leaf.flags & (PT_WRITE | PT_EXEC | PT_CACHE_MASK), PT_WRITE | PT_WC);
	}
	/* MMIO: the local APIC's page, uncached, in the MMIO window; never touched. */
	vaddr_t mmio = ALIGN_UP(boot_info->mmio_base, PAGE_SIZE_2M) + PAGE_SIZE_1G;
	KEXPECT_EQ(t, vmm_map(mmio, 0xfee00000, PAGE_SIZE, VMM_WRITE | VMM_UC), 0);
	KEXPECT(t, vmm_query(mmio, &leaf));
	KEXPECT_EQ(t, leaf.flags & (PT_WRITE | PT_EXEC | PT_CACHE_MASK), PT_WRITE | PT_UC);
	KEXPECT_EQ(t, vmm_unmap(mmio, PAGE_SIZE), 0);
	KEXPECT_EQ(t, vmm_check(&c), 0);
	KEXPECT_EQ(t, c.empty_tables, 0);
	KEXPECT_EQ(t, c.tables, tables());
	KEXPECT(t, vmm_guard_find(boot_info->boot_stack_bottom - 1) != NULL);
	KEXPECT(t, vmm_guard_find(boot_info->boot_stack_bottom) == NULL);
}

#define ROUNDS 15

/* Cycles of map + unmap of one 4 KiB page, and of a demand fault. */
static void time_map_and_fault(struct ktest *t, vaddr_t va, paddr_t pa)
{
	uint64_t map[ROUNDS], unmap[ROUNDS], fault[ROUNDS];

	KEXPECT_EQ(t, vmm_map(va + PAGE_SIZE, pa, PAGE_SIZE, 0), 0); /* keeps the PT alive */
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = arch_timestamp();
		int e1 = vmm_map(va, pa, PAGE_SIZE, VMM_WRITE);
		uint64_t t1 = arch_timestamp();
		int e2 = vmm_unmap(va, PAGE_SIZE);
		uint64_t t2 = arch_timestamp();
		KEXPECT(t, e1 == 0 && e2 == 0);
		map[r] = t1 - t0;
		unmap[r] = t2 - t1;
	}
	KEXPECT_EQ(t, vmm_unmap(va + PAGE_SIZE, PAGE_SIZE), 0);
	KEXPECT_EQ(t, vmm_demand_reserve(va, ROUNDS * PAGE_SIZE, VMM_WRITE), 0);
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = arch_timestamp();
		(void)*word(va + r * PAGE_SIZE);
		fault[r] = arch_timestamp() - t0;
	}
	KEXPECT_EQ(t, vmm_demand_release(va), 0);
	kprintf("# vmm: emulated TSC cycles (QEMU TCG, not hardware): map 4 KiB %llu, unmap 4 KiB "
		"%llu (with INVLPG), demand-zero fault %llu\n",
		(unsigned long long)ktest_median(map, ROUNDS),
		(unsigned long long)ktest_median(unmap, ROUNDS),
		(unsigned long long)ktest_median(fault, ROUNDS));
}

/* Touch n pages from va, one read each. */
static void touch(vaddr_t va, size_t n)
{
	for (size_t i = 0; i < n; i++)
		(void)*word(va + i * PAGE_SIZE);
}

/*
 * INVLPG of n pages against one full flush, each followed by re-reading a
 * working set of 64 pages (the cost of a full flush is mostly the misses
 * after it).
 */
static void time_flushes(vaddr_t va)
{
	static const size_t ns[] = {1, 8, 32, 64};
	enum { WORKING_SET = 64 };
	uint64_t inv[ROUNDS], full[ROUNDS];

	for (size_t k = 0; k < ARRAY_SIZE(ns); k++) {
		for (int r = 0; r < ROUNDS; r++) {
			touch(va, WORKING_SET);
			uint64_t t0 = arch_timestamp();
			for (size_t i = 0; i < ns[k]; i++)
				arch_tlb_flush_page(va + i * PAGE_SIZE);
			touch(va, WORKING_SET);
			uint64_t t1 = arch_timestamp();
			arch_tlb_flush_all();
			touch(va, WORKING_SET);
			uint64_t t2 = arch_timestamp();
			inv[r] = t1 - t0;
			full[r] = t2 - t1;
		}
		kprintf(
		    "# vmm: emulated TSC cycles: INVLPG x%zu + refill %llu, full flush + refill "
		    "%llu (working set %d pages)\n",
		    ns[k], (unsigned long long)ktest_median(inv, ROUNDS),
		    (unsigned long long)ktest_median(full, ROUNDS), WORKING_SET);
	}
}

KTEST(vmm, vmm_timings_emulated)
{
	paddr_t run = pmm_alloc_run(&pmm_kernel, 64, PAGE_SIZE);
	vaddr_t va = test_va(PAGE_SIZE_2M, 11);

	KEXPECT(t, run != PADDR_INVALID);
	time_map_and_fault(t, va, run);
	if (t->failed)
		return;
	KEXPECT_EQ(t, vmm_map(va, run, 64 * PAGE_SIZE, 0), 0);
	time_flushes(va);
	KEXPECT_EQ(t, vmm_unmap(va, 64 * PAGE_SIZE), 0);
	KEXPECT_EQ(t, pmm_free_run(&pmm_kernel, run, 64), 0);
}
