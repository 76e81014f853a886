/*
 * In-kernel tests of user address spaces (suite aspace) on the real MMU:
 * exact frame counts after destroy and clone, demand-zero and
 * copy-on-write through real faults (kernel accesses with user access
 * opened by arch_user_access_begin), region splits and merges, W^X and bad
 * ranges refused, the stack guard named, out of memory in a fault as a
 * clean verdict, PCID reuse and rollover, and emulated timings (QEMU TCG
 * TSC cycles, not hardware).
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <arch/uaccess.h>
#include <kernel/console.h>
#include <kernel/fault.h>
#include <kernel/frame_hold.h>
#include <kernel/ktest.h>
#include <kernel/thread.h>
#include <kernel/wx_audit.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/addr.h>
#include <mm/aspace.h>
#include <mm/layout.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>
#include <uapi/syscall.h>
#include "aspace_internal.h"
#include "vmm_internal.h"

#define RW   (PROT_READ | PROT_WRITE)
#define P    PAGE_SIZE
#define BASE (LAYOUT_USER_MMAP_START + 0x100000000ull) /* a fixed place for tests */

static void uwrite(vaddr_t va, uint64_t v)
{
	arch_user_access_begin();
	*(volatile uint64_t *)va = v;
	arch_user_access_end();
}

static uint64_t uread(vaddr_t va)
{
	uint64_t v;

	arch_user_access_begin();
	v = *(volatile uint64_t *)va;
	arch_user_access_end();
	return v;
}

/* Read through the direct map: no fault, no SMAP. */
static uint64_t peek(struct aspace *as, vaddr_t va)
{
	paddr_t pa = aspace_lookup(as, va);

	return pa == PADDR_INVALID ? ~0ull : *(uint64_t *)phys_to_virt(pa); /* pa has va's offset */
}

/* Create, map n pages at BASE and write i + tag to each (real faults). */
static struct aspace *filled(struct ktest *t, size_t n, uint64_t tag)
{
	struct aspace *as;
	vaddr_t va;

	if (aspace_create(&as)) {
		ktest_fail(t, __FILE__, __LINE__, "aspace_create failed");
		return NULL;
	}
	if (aspace_map_anon(as, BASE, n * P, RW, &va)) {
		ktest_fail(t, __FILE__, __LINE__, "aspace_map_anon failed");
		aspace_destroy(as);
		return NULL;
	}
	thread_use_aspace(as);
	for (size_t i = 0; i < n; i++)
		uwrite(BASE + i * P, i + tag);
	thread_use_aspace(NULL);
	return as;
}

/* Clone a filled space, write on both sides, destroy both. */
static void clone_round(struct ktest *t, size_t n)
{
	struct aspace *parent = filled(t, n, 100), *child = NULL;

	if (!parent)
		return;
	KEXPECT_EQ(t, aspace_clone(parent, &child), 0);
	if (child) {
		thread_use_aspace(child);
		uwrite(BASE, 7);
		thread_use_aspace(parent);
		uwrite(BASE + P, 8);
		thread_use_aspace(NULL);
		aspace_destroy(child);
	}
	aspace_destroy(parent);
}

KTEST(aspace, aspace_destroy_returns_every_frame)
{
	uint64_t before;

	clone_round(t, 4); /* warm the heap and the share table: they keep memory */
	before = pmm_kernel_free_frames();
	struct aspace *as = filled(t, 64, 0);
	KEXPECT(t, pmm_kernel_free_frames() < before - 64);
	aspace_destroy(as);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before);
	clone_round(t, 32);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before);
}

KTEST(aspace, aspace_demand_zero_reads_zero_then_keeps_writes)
{
	struct aspace *as;
	struct aspace_stats s0, s1;
	vaddr_t va;

	KEXPECT_EQ(t, aspace_create(&as), 0);
	KEXPECT_EQ(t, aspace_map_anon(as, 0, 3 * P, RW, &va), 0);
	KEXPECT(t, va >= LAYOUT_USER_MMAP_START &&
		       va + 3 * P <= LAYOUT_USER_MMAP_START + LAYOUT_USER_MMAP_SIZE);
	KEXPECT_EQ(t, aspace_lookup(as, va), PADDR_INVALID);
	aspace_stats(&s0);
	thread_use_aspace(as);
	KEXPECT_EQ(t, aspace_current(), as);
	KEXPECT_EQ(t, uread(va + P + 8), 0);
	uwrite(va + P + 8, 0xabcd);
	KEXPECT_EQ(t, uread(va + P + 8), 0xabcd);
	thread_use_aspace(NULL);
	aspace_stats(&s1);
	KEXPECT_EQ(t, s1.demand_zero - s0.demand_zero, 1);
	KEXPECT_EQ(t, peek(as, va + P + 8), 0xabcd);
	KEXPECT_EQ(t, aspace_lookup(as, va), PADDR_INVALID); /* untouched pages stay unmapped */
	aspace_destroy(as);
}

KTEST(aspace, aspace_clone_each_side_sees_only_its_writes)
{
	struct aspace *parent = filled(t, 4, 100), *child = NULL;
	struct aspace_stats s0, s1;

	if (!parent)
		return;
	aspace_stats(&s0);
	KEXPECT_EQ(t, aspace_clone(parent, &child), 0);
	if (!child)
		return;
	KEXPECT_EQ(t, aspace_lookup(parent, BASE), aspace_lookup(child, BASE));
	thread_use_aspace(child);
	for (int i = 0; i < 4; i++) {
		KEXPECT_EQ(t, uread(BASE + i * P), 100 + i);
		uwrite(BASE + i * P, 200 + i);
	}
	thread_use_aspace(parent);
	for (int i = 0; i < 4; i++) {
		KEXPECT_EQ(t, uread(BASE + i * P), 100 + i);
		uwrite(BASE + i * P, 300 + i);
	}
	thread_use_aspace(child);
	for (int i = 0; i < 4; i++)
		KEXPECT_EQ(t, uread(BASE + i * P), 200 + i);
	thread_use_aspace(NULL);
	aspace_stats(&s1);
	/* The child copied each page; the parent, then the last owner, copied none. */
	KEXPECT_EQ(t, s1.cow_copies - s0.cow_copies, 4);
	KEXPECT_EQ(t, s1.cow_reuses - s0.cow_reuses, 4);
	KEXPECT_EQ(t, s1.shared_frames, 0);
	KEXPECT(t, aspace_lookup(parent, BASE) != aspace_lookup(child, BASE));
	aspace_destroy(child);
	aspace_destroy(parent);
}

KTEST(aspace, aspace_last_owner_keeps_frame_without_copy)
{
	struct aspace *parent = filled(t, 2, 5), *child = NULL;
	struct aspace_stats s0, s1;
	paddr_t pa;

	if (!parent)
		return;
	pa = aspace_lookup(parent, BASE);
	KEXPECT_EQ(t, aspace_clone(parent, &child), 0);
	if (!child)
		return;
	aspace_destroy(child);
	aspace_stats(&s0);
	thread_use_aspace(parent);
	uwrite(BASE, 6);
	thread_use_aspace(NULL);
	aspace_stats(&s1);
	KEXPECT_EQ(t, s1.cow_copies, s0.cow_copies);
	KEXPECT_EQ(t, s1.cow_reuses - s0.cow_reuses, 1);
	KEXPECT_EQ(t, aspace_lookup(parent, BASE), pa);
	KEXPECT_EQ(t, peek(parent, BASE), 6);
	aspace_destroy(parent);
}

KTEST(aspace, aspace_unmap_middle_splits_and_frees)
{
	struct aspace *as = filled(t, 8, 0);
	struct aspace_region r;
	struct vmm_fault_verdict v;
	uint64_t before;

	if (!as)
		return;
	KEXPECT_EQ(t, aspace_region_count(as), 1);
	before = pmm_kernel_free_frames();
	KEXPECT_EQ(t, aspace_unmap(as, BASE + 3 * P, 2 * P), 0);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before + 2);
	KEXPECT_EQ(t, aspace_region_count(as), 2);
	KEXPECT(t, aspace_region_at(as, BASE, &r) && r.end == BASE + 3 * P);
	KEXPECT(t, aspace_region_at(as, BASE + 5 * P, &r) && r.start == BASE + 5 * P &&
		       r.end == BASE + 8 * P);
	KEXPECT(t, !aspace_region_at(as, BASE + 4 * P, &r));
	KEXPECT_EQ(t, aspace_lookup(as, BASE + 3 * P), PADDR_INVALID);
	KEXPECT_EQ(t, aspace_fault(as, BASE + 4 * P, VMM_ACCESS_READ, 0, &v), ASPACE_FAULT_REFUSED);
	KEXPECT_EQ(t, v.kind, FAULT_NOT_PRESENT);
	KEXPECT_EQ(t, peek(as, BASE + 5 * P), 5);
	/* Unmapping a hole and an edge works; mapping the hole again merges. */
	KEXPECT_EQ(t, aspace_unmap(as, BASE + 2 * P, 3 * P), 0);
	KEXPECT_EQ(t, aspace_region_count(as), 2);
	vaddr_t va;
	KEXPECT_EQ(t, aspace_map_anon(as, BASE + 2 * P, 3 * P, RW, &va), 0);
	KEXPECT_EQ(t, aspace_region_count(as), 1);
	aspace_destroy(as);
}

KTEST(aspace, aspace_protect_part_splits_flushes_and_merges)
{
	struct aspace *as = filled(t, 6, 0);
	struct fault_info f;
	struct aspace_region r;
	bool faulted;

	if (!as)
		return;
	KEXPECT_EQ(t, aspace_protect(as, BASE + 2 * P, 2 * P, PROT_READ), 0);
	KEXPECT_EQ(t, aspace_region_count(as), 3);
	KEXPECT(t, aspace_region_at(as, BASE + 2 * P, &r) && r.prot == PROT_READ &&
		       r.end == BASE + 4 * P);
	thread_use_aspace(as);
	/* The page was writable and cached in the TLB: the protect must have flushed it. */
	arch_user_access_begin();
	faulted = probe_write(BASE + 2 * P, 1, &f);
	arch_user_access_end();
	KEXPECT(t, faulted);
	KEXPECT_EQ(t, f.kind, FAULT_WRITE_RO);
	uwrite(BASE + P, 11); /* the neighbours stay writable */
	uwrite(BASE + 4 * P, 12);
	thread_use_aspace(NULL);
	KEXPECT_EQ(t, peek(as, BASE + 2 * P), 2);
	KEXPECT_EQ(t, aspace_protect(as, BASE + 2 * P, 2 * P, RW), 0);
	KEXPECT_EQ(t, aspace_region_count(as), 1);
	KEXPECT_EQ(t, aspace_protect(as, BASE + 5 * P, 2 * P, PROT_READ), -ENOENT);
	KEXPECT_EQ(t, aspace_protect(as, BASE, P, PROT_NONE), 0);
	KEXPECT_EQ(t, peek(as, BASE), 0); /* contents kept under PROT_NONE */
	aspace_destroy(as);
}

KTEST(aspace, aspace_wx_refused)
{
	struct aspace *as;
	vaddr_t va;

	KEXPECT_EQ(t, aspace_create(&as), 0);
	KEXPECT_EQ(t, aspace_map_anon(as, 0, P, PROT_WRITE | PROT_EXEC, &va), -EPERM);
	KEXPECT_EQ(t, aspace_map_anon(as, BASE, P, PROT_READ | PROT_EXEC, &va), 0);
	KEXPECT_EQ(t, aspace_protect(as, BASE, P, RW | PROT_EXEC), -EPERM);
	KEXPECT_EQ(t, aspace_map_image(as, BASE + P, P, PROT_WRITE | PROT_EXEC), -EPERM);
	KEXPECT_EQ(t, aspace_protect(as, BASE, P, RW), 0);
	aspace_destroy(as);
}

KTEST(aspace, aspace_bad_ranges_refused)
{
	struct aspace *as;
	vaddr_t va;

	KEXPECT_EQ(t, aspace_create(&as), 0);
	KEXPECT_EQ(t, aspace_map_anon(as, BASE, 0, RW, &va), -EINVAL);
	KEXPECT_EQ(t, aspace_map_anon(as, BASE + 1, P, RW, &va), -EINVAL);
	KEXPECT_EQ(t, aspace_map_anon(as, BASE, P + 1, RW, &va), -EINVAL);
	KEXPECT_EQ(t, aspace_map_anon(as, BASE, -P, RW, &va), -EINVAL); /* wraps */
	KEXPECT_EQ(t, aspace_map_anon(as, LAYOUT_USER_END - P, 2 * P, RW, &va), -EINVAL);
	KEXPECT_EQ(t, aspace_map_anon(as, LAYOUT_LOWER_HALF_END, P, RW, &va), -EINVAL); /* hole */
	KEXPECT_EQ(t, aspace_map_anon(as, 0xffff800000000000ull, P, RW, &va), -EINVAL);
	KEXPECT_EQ(t, aspace_map_anon(as, LAYOUT_USER_START - P, P, RW, &va), -EINVAL);
	KEXPECT_EQ(t, aspace_map_anon(as, BASE, P, 8, &va), -EINVAL);
	KEXPECT_EQ(t, aspace_map_anon(as, 0, LAYOUT_USER_MMAP_SIZE + P, RW, &va), -ENOMEM);
	KEXPECT_EQ(t, aspace_unmap(as, BASE, -P), -EINVAL);
	KEXPECT_EQ(t, aspace_unmap(as, 0xffffffff80000000ull, P), -EINVAL);
	KEXPECT_EQ(t, aspace_protect(as, BASE, 0, RW), -EINVAL);
	KEXPECT_EQ(t, aspace_protect(as, BASE, P, RW), -ENOENT);
	KEXPECT_EQ(t, aspace_map_stack(as, 0, &va), -EINVAL);
	KEXPECT_EQ(t, aspace_map_stack(as, LAYOUT_USER_STACK_EXTENT, &va), -EINVAL);
	KEXPECT_EQ(t, aspace_region_count(as), 0);
	KEXPECT_EQ(t, aspace_map_anon(as, BASE, P, RW, &va), 0);
	KEXPECT_EQ(t, aspace_map_anon(as, BASE, P, RW, &va), -EEXIST);
	aspace_destroy(as);
}

KTEST(aspace, aspace_region_limit_is_enomem)
{
	struct aspace *as;
	vaddr_t va;
	unsigned int i;

	KEXPECT_EQ(t, aspace_create(&as), 0);
	for (i = 0; i < ASPACE_MAX_REGIONS; i++)
		if (aspace_map_anon(as, BASE + 2 * i * P, P, RW, &va))
			break;
	KEXPECT_EQ(t, i, ASPACE_MAX_REGIONS);
	KEXPECT_EQ(t, aspace_map_anon(as, 0, P, RW, &va), -ENOMEM);
	KEXPECT_EQ(t, aspace_map_stack(as, P, &va), -ENOMEM);
	/* Joining two neighbours frees a slot; a split of a full set is refused. */
	KEXPECT_EQ(t, aspace_map_anon(as, BASE + P, P, RW, &va), 0);
	KEXPECT_EQ(t, aspace_region_count(as), ASPACE_MAX_REGIONS - 1);
	KEXPECT_EQ(t, aspace_map_anon(as, BASE + 5 * P, P, PROT_READ, &va), 0);
	KEXPECT_EQ(t, aspace_unmap(as, BASE + P, P), -ENOMEM);
	KEXPECT_EQ(t, aspace_region_count(as), ASPACE_MAX_REGIONS);
	aspace_destroy(as);
}

KTEST(aspace, aspace_stack_guard_named)
{
	struct aspace *as;
	struct vmm_fault_verdict v;
	struct aspace_region r;
	vaddr_t top;

	KEXPECT_EQ(t, aspace_create(&as), 0);
	KEXPECT_EQ(t, aspace_map_stack(as, 4 * P, &top), 0);
	KEXPECT(t, top > LAYOUT_USER_STACK_START &&
		       top <= LAYOUT_USER_STACK_START + LAYOUT_USER_STACK_SIZE);
	KEXPECT(t, aspace_region_at(as, top - 8, &r) && r.kind == ASPACE_STACK);
	KEXPECT_EQ(t, aspace_fault(as, top - 8, VMM_ACCESS_WRITE, 0, &v), ASPACE_FAULT_RESOLVED);
	KEXPECT_EQ(t, aspace_fault(as, top - 4 * P - 8, VMM_ACCESS_WRITE, 0, &v),
		   ASPACE_FAULT_REFUSED);
	KEXPECT_EQ(t, v.kind, FAULT_GUARD);
	KEXPECT(t, !strcmp(v.what, "access to the guard page below the user stack"));
	KEXPECT_EQ(t, aspace_fault(as, top - 8, VMM_ACCESS_EXEC, 0, &v), ASPACE_FAULT_REFUSED);
	KEXPECT_EQ(t, v.kind, FAULT_NX);
	KEXPECT_EQ(t, aspace_fault(as, 8, VMM_ACCESS_READ, 0, &v), ASPACE_FAULT_REFUSED);
	KEXPECT_EQ(t, v.kind, FAULT_NULL);
	aspace_destroy(as);
}

KTEST(aspace, aspace_image_frames_placed_and_owned)
{
	struct aspace *as;
	struct vmm_fault_verdict v;
	paddr_t pa = aspace_frame_alloc();
	uint64_t before;

	KEXPECT(t, pa != PADDR_INVALID);
	*(uint64_t *)phys_to_virt(pa) = 0x1234;
	before = pmm_kernel_free_frames();
	KEXPECT_EQ(t, aspace_create(&as), 0);
	KEXPECT_EQ(t, aspace_place_frame(as, BASE, pa), -ENOENT);
	KEXPECT_EQ(t, aspace_map_image(as, BASE, 2 * P, PROT_READ | PROT_EXEC), 0);
	KEXPECT_EQ(t, aspace_place_frame(as, BASE, pa), 0);
	KEXPECT_EQ(t, aspace_place_frame(as, BASE, pa), -EEXIST);
	KEXPECT_EQ(t, peek(as, BASE), 0x1234);
	KEXPECT_EQ(t, aspace_fault(as, BASE, VMM_ACCESS_WRITE, VMM_FAULT_PRESENT, &v),
		   ASPACE_FAULT_REFUSED);
	KEXPECT_EQ(t, v.kind, FAULT_WRITE_RO);
	aspace_destroy(as); /* frees pa too */
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before + 1);
}

KTEST(aspace, aspace_fault_out_of_memory_is_a_verdict)
{
	struct aspace *as = filled(t, 1, 0), *child = NULL;
	struct vmm_fault_verdict v;
	enum aspace_fault_result dz, cw;
	struct frame_hold held;

	if (!as)
		return;
	KEXPECT_EQ(t, aspace_clone(as, &child), 0);
	frame_hold(&held, 0);
	dz = aspace_fault(as, BASE + P / 2 + P, VMM_ACCESS_READ, 0, &v); /* outside: refused */
	KEXPECT_EQ(t, dz, ASPACE_FAULT_REFUSED);
	KEXPECT_EQ(t, aspace_map_anon(as, BASE + P, P, RW, &(vaddr_t){0}), 0);
	dz = aspace_fault(as, BASE + P, VMM_ACCESS_WRITE, 0, &v);
	cw = aspace_fault(child, BASE, VMM_ACCESS_WRITE, VMM_FAULT_PRESENT, &v);
	frame_hold_release(&held);
	KEXPECT_EQ(t, dz, ASPACE_FAULT_OOM);
	KEXPECT_EQ(t, cw, ASPACE_FAULT_OOM);
	KEXPECT(t, !strcmp(v.what, "out of memory for a user page"));
	KEXPECT_EQ(t, aspace_fault(as, BASE + P, VMM_ACCESS_WRITE, 0, &v), ASPACE_FAULT_RESOLVED);
	KEXPECT_EQ(t, aspace_fault(child, BASE, VMM_ACCESS_WRITE, VMM_FAULT_PRESENT, &v),
		   ASPACE_FAULT_RESOLVED);
	if (child)
		aspace_destroy(child);
	aspace_destroy(as);
}

KTEST(aspace, aspace_pcid_kept_across_switches_and_rollover)
{
	struct aspace *a = filled(t, 1, 40), *b = filled(t, 1, 50);
	struct aspace_stats s0, s1;

	if (!a || !b)
		return;
	thread_use_aspace(a);
	thread_use_aspace(b);
	aspace_stats(&s0);
	thread_use_aspace(a); /* unchanged since its last load: no flush with PCIDs */
	KEXPECT_EQ(t, uread(BASE), 40);
	thread_use_aspace(b);
	KEXPECT_EQ(t, uread(BASE), 50);
	aspace_stats(&s1);
	if (arch_mmu_features()->pcid)
		KEXPECT_EQ(t, s1.pcid_flush_load, s0.pcid_flush_load);
	/* A change while not loaded forces the next load to flush. */
	KEXPECT_EQ(t, aspace_protect(a, BASE, P, PROT_READ), 0);
	thread_use_aspace(a);
	aspace_stats(&s0);
	if (arch_mmu_features()->pcid) {
		KEXPECT_EQ(t, s0.pcid_flush_load, s1.pcid_flush_load + 1);
		aspace_pcid_next = ARCH_MMU_TAG_MAX + 1; /* the next new PCID rolls over */
		struct aspace *c = filled(t, 1, 60);
		aspace_stats(&s1);
		KEXPECT_EQ(t, s1.pcid_rollovers, s0.pcid_rollovers + 1);
		thread_use_aspace(b); /* old generation: a fresh PCID */
		KEXPECT_EQ(t, uread(BASE), 50);
		thread_use_aspace(c);
		KEXPECT_EQ(t, uread(BASE), 60);
		thread_use_aspace(NULL);
		if (c)
			aspace_destroy(c);
	}
	thread_use_aspace(NULL);
	aspace_destroy(a);
	aspace_destroy(b);
}

KTEST(aspace, aspace_wx_audit_walks_user_spaces)
{
	struct aspace *as = filled(t, 3, 0);
	struct wx_audit a;

	if (!as)
		return;
	wx_audit_user(&a);
	KEXPECT(t, a.mappings >= 3);
	KEXPECT_EQ(t, a.wx, 0);
	KEXPECT_EQ(t, a.first_bad, 0);
	aspace_destroy(as);
}

/*
 * A top-level slot of the MMIO window with nothing under it in the kernel's
 * root, or 0. An entry of all zeros is empty in any format we build.
 */
static vaddr_t empty_kernel_slot(void)
{
	const uint64_t *root = phys_to_virt(vmm_kernel_pt.root);

	for (vaddr_t va = LAYOUT_MMIO_START; va >= LAYOUT_MMIO_START; va += 1ull << 39)
		if (!root[(va >> 39) & 511])
			return va;
	return 0;
}

KTEST(aspace, aspace_kernel_mapping_made_later_is_seen_in_user_spaces)
{
	struct aspace *as = filled(t, 1, 9);
	vaddr_t va = empty_kernel_slot();
	paddr_t pa = aspace_frame_alloc();

	if (!as || !va || pa == PADDR_INVALID) {
		ktest_fail(t, __FILE__, __LINE__, "no space, slot or frame");
		return;
	}
	*(uint64_t *)phys_to_virt(pa) = 0x5a5a;
	/* A new third-level table in the kernel's root: copied into the user root. */
	KEXPECT_EQ(t, vmm_map(va, pa, P, VMM_WRITE), 0);
	KEXPECT_EQ(t, pt_lookup(&as->pt, va), pa);
	thread_use_aspace(as);
	KEXPECT_EQ(t, *(volatile uint64_t *)va, 0x5a5a); /* through the user root */
	KEXPECT_EQ(t, uread(BASE), 9);
	KEXPECT_EQ(t, vmm_unmap(va, P), 0);
	thread_use_aspace(NULL);
	KEXPECT_EQ(t, pt_lookup(&as->pt, va), PADDR_INVALID);
	KEXPECT_EQ(t, ((uint64_t *)phys_to_virt(as->pt.root))[(va >> 39) & 511], 0);
	pmm_free(&pmm_kernel, pa);
	aspace_destroy(as);
}

#define ROUNDS 64

static uint64_t cycles_since(uint64_t t0)
{
	return arch_timestamp() - t0;
}

KTEST(aspace, aspace_timings_emulated)
{
	uint64_t dz[ROUNDS], cw[ROUNDS], sw[ROUNDS], t0;
	struct aspace *a = filled(t, 1, 0), *b = NULL, *child = NULL;
	vaddr_t va;

	if (!a || aspace_create(&b))
		return;
	KEXPECT_EQ(t, aspace_map_anon(a, BASE + 2 * P, ROUNDS * P, RW, &va), 0);
	KEXPECT_EQ(t, aspace_clone(a, &child), 0);
	thread_use_aspace(a);
	for (int i = 0; i < ROUNDS; i++) { /* a demand-zero fault and the write that took it */
		t0 = arch_timestamp();
		uwrite(va + i * P, i);
		dz[i] = cycles_since(t0);
	}
	thread_use_aspace(NULL);
	aspace_destroy(child);
	KEXPECT_EQ(t, aspace_clone(a, &child), 0);
	thread_use_aspace(child);
	for (int i = 0; i < ROUNDS; i++) { /* copy-on-write: the child copies */
		t0 = arch_timestamp();
		uwrite(va + i * P, i + 1);
		cw[i] = cycles_since(t0);
	}
	for (int i = 0; i < ROUNDS; i++) { /* a switch there and back, and one access */
		t0 = arch_timestamp();
		thread_use_aspace(b);
		thread_use_aspace(child);
		(void)uread(va);
		sw[i] = cycles_since(t0) / 2;
	}
	thread_use_aspace(NULL);
	kprintf("# aspace: emulated TSC cycles (QEMU TCG, not hardware), PCID %s: median "
		"demand-zero fault %llu, copy-on-write fault %llu, address-space switch %llu\n",
		arch_mmu_features()->pcid ? "on" : "off",
		(unsigned long long)ktest_median(dz, ROUNDS),
		(unsigned long long)ktest_median(cw, ROUNDS),
		(unsigned long long)ktest_median(sw, ROUNDS));
	aspace_destroy(child);
	aspace_destroy(b);
	aspace_destroy(a);
}
