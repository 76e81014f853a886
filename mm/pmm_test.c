/* In-kernel tests of the frame allocator on the real memory map and MMU. */
#include <arch/irq.h>
#include <kernel/boot.h>
#include <kernel/ktest.h>
#include <lib/errno.h>
#include <mm/addr.h>
#include <mm/kmalloc.h>
#include <mm/kstack.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>

#define PATTERN 0x5aa5c33c0ff0e11eull

/* Types whose frames the allocator may hand out at boot (see mm/pmm_boot.c). */
/* Types the frame allocator gets: at pmm_boot_init, and the loader's tables at vmm_init. */
static bool freed_at_boot(uint32_t type)
{
	return type == MEMMAP_USABLE || type == MEMMAP_LOADER || type == MEMMAP_BOOT_SERVICES ||
	       type == MEMMAP_PAGETABLE;
}

/*
 * The map entry holding pa, searching forward from *cursor: frames come out
 * lowest first, so one pass over the map checks them all.
 */
static const struct memmap_entry *entry_of(paddr_t pa, uint32_t *cursor)
{
	const struct memmap_entry *map = boot_info_memmap(boot_info);

	while (*cursor < boot_info->memmap_count && map[*cursor].base + map[*cursor].length <= pa)
		(*cursor)++;
	if (*cursor == boot_info->memmap_count || map[*cursor].base > pa)
		return NULL;
	return &map[*cursor];
}

/*
 * Take every free frame, chaining them through their own first word, and
 * mark each with its address in its last word, so aliasing would show.
 * Returns the number taken; *head is the last frame taken.
 */
static uint64_t take_all(struct ktest *t, paddr_t *head)
{
	paddr_t meta, pa, prev = PADDR_INVALID;
	uint64_t meta_len, taken = 0;
	uint32_t cursor = 0;

	pmm_boot_metadata(&meta, &meta_len);
	while ((pa = pmm_alloc(&pmm_kernel)) != PADDR_INVALID) {
		const struct memmap_entry *e = entry_of(pa, &cursor);
		if (!e || !freed_at_boot(e->type) || pa == 0 ||
		    (pa >= meta && pa < meta + meta_len)) {
			ktest_fail(t, __FILE__, __LINE__, "frame %#llx is not free RAM",
				   (unsigned long long)pa);
			break;
		}
		uint64_t *frame = phys_to_virt(pa);
		frame[0] = prev;
		frame[PAGE_SIZE / 8 - 1] = pa ^ PATTERN;
		prev = pa;
		taken++;
	}
	*head = prev;
	return taken;
}

/* Free the chain from take_all(), checking each frame kept what was written. */
static uint64_t give_back(struct ktest *t, paddr_t head)
{
	uint64_t given = 0;

	while (head != PADDR_INVALID) {
		uint64_t *frame = phys_to_virt(head);
		paddr_t next = frame[0];
		if (frame[PAGE_SIZE / 8 - 1] != (head ^ PATTERN) && !t->failed)
			ktest_fail(t, __FILE__, __LINE__, "frame %#llx lost its contents",
				   (unsigned long long)head);
		if (pmm_free(&pmm_kernel, head) != 0 && !t->failed)
			ktest_fail(t, __FILE__, __LINE__, "free of %#llx refused",
				   (unsigned long long)head);
		head = next;
		given++;
	}
	return given;
}

KTEST(pmm, pmm_alloc_until_exhausted_then_free_all)
{
	uint64_t before = pmm_kernel_free_frames();
	paddr_t head;

	KEXPECT(t, before > 0);
	uint64_t taken = take_all(t, &head);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), 0);
	KEXPECT_EQ(t, pmm_alloc(&pmm_kernel), PADDR_INVALID); /* still a clean refusal */
	KEXPECT_EQ(t, pmm_alloc_run(&pmm_kernel, 1, PAGE_SIZE), PADDR_INVALID);
	uint64_t given = give_back(t, head);
	KEXPECT_EQ(t, taken, before);
	KEXPECT_EQ(t, given, taken);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before);
	KEXPECT(t, pmm_check(&pmm_kernel));
}

KTEST(pmm, pmm_free_double_free_is_refused_and_reported)
{
	paddr_t pa = pmm_alloc(&pmm_kernel);
	uint64_t reports = pmm_boot_reports;

	KEXPECT(t, pa != PADDR_INVALID);
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, pa), 0);
	uint64_t before = pmm_kernel_free_frames();
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, pa), -EALREADY);
	KEXPECT_EQ(t, pmm_boot_reports, reports + 1);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before);
	KEXPECT_EQ(t, pmm_frame_state(&pmm_kernel, pa), PMM_FRAME_FREE);
	KEXPECT(t, pmm_check(&pmm_kernel));
}

KTEST(pmm, pmm_free_of_never_allocatable_is_refused)
{
	paddr_t meta, kernel = boot_info->kernel_phys_base;
	uint64_t meta_len, before = pmm_kernel_free_frames(), reports = pmm_boot_reports;

	pmm_boot_metadata(&meta, &meta_len);
	KEXPECT_EQ(t, pmm_frame_state(&pmm_kernel, kernel), PMM_FRAME_RESERVED);
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, kernel), -EPERM);
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, boot_info->boot_info_phys), -EPERM);
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, meta), -EPERM);
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, 0), -EPERM);
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, kernel + 8), -EINVAL);
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, 1ull << 51), -EINVAL);
	KEXPECT_EQ(t, pmm_free_run(&pmm_kernel, kernel, 2), -EPERM);
	KEXPECT_EQ(t, pmm_boot_reports, reports + 7);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before);
	KEXPECT(t, pmm_check(&pmm_kernel));
}

KTEST(pmm, pmm_alloc_run_2mib_aligned_is_writable)
{
	uint64_t before = pmm_kernel_free_frames();
	paddr_t pa = pmm_alloc_run(&pmm_kernel, 512, 2 * MiB);

	KEXPECT(t, pa != PADDR_INVALID);
	KEXPECT(t, IS_ALIGNED(pa, 2 * MiB));
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before - 512);
	for (uint64_t i = 0; i < 512; i++) {
		uint64_t *frame = phys_to_virt(pa + i * PAGE_SIZE);
		KEXPECT_EQ(t, pmm_frame_state(&pmm_kernel, pa + i * PAGE_SIZE),
			   PMM_FRAME_ALLOCATED);
		frame[0] = pa + i;
		KEXPECT_EQ(t, frame[0], pa + i);
	}
	KEXPECT_EQ(t, pmm_free_run(&pmm_kernel, pa, 512), 0);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before);
}

KTEST(pmm, pmm_free_run_is_all_or_nothing)
{
	paddr_t pa = pmm_alloc_run(&pmm_kernel, 4, 4 * PAGE_SIZE);
	uint64_t reports = pmm_boot_reports;

	KEXPECT(t, pa != PADDR_INVALID && IS_ALIGNED(pa, 4 * PAGE_SIZE));
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, pa + 2 * PAGE_SIZE), 0);
	uint64_t before = pmm_kernel_free_frames();
	KEXPECT_EQ(t, pmm_free_run(&pmm_kernel, pa, 4), -EALREADY);
	KEXPECT_EQ(t, pmm_boot_reports, reports + 1);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before);
	KEXPECT_EQ(t, pmm_frame_state(&pmm_kernel, pa), PMM_FRAME_ALLOCATED);
	KEXPECT_EQ(t, pmm_free_run(&pmm_kernel, pa, 2), 0);
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, pa + 3 * PAGE_SIZE), 0);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before + 3);
}

KTEST(pmm, pmm_lock_released_and_irq_state_kept)
{
	bool irqs = arch_irqs_enabled();
	paddr_t pa = pmm_alloc(&pmm_kernel);

	KEXPECT(t, pa != PADDR_INVALID);
	KEXPECT(t, !spin_is_locked(&pmm_kernel.lock));
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, pa), 0);
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, pa), -EALREADY); /* the error path too */
	KEXPECT(t, !spin_is_locked(&pmm_kernel.lock));
	KEXPECT_EQ(t, arch_irqs_enabled(), irqs);
}

/* What the map says should be free, computed independently of mm/pmm_boot.c's loop. */
KTEST(pmm, pmm_free_count_matches_map)
{
	const struct memmap_entry *map = boot_info_memmap(boot_info);
	paddr_t meta;
	uint64_t meta_len, expect = 0;

	pmm_boot_metadata(&meta, &meta_len);
	for (uint32_t i = 0; i < boot_info->memmap_count; i++)
		if (freed_at_boot(map[i].type))
			expect += map[i].length >> PAGE_SHIFT;
	if (map[0].base == 0 && freed_at_boot(map[0].type))
		expect--; /* frame 0 */
	expect -= meta_len >> PAGE_SHIFT;
	struct pmm_stats s;
	struct vmm_stats v;
	struct kstack_stats k;
	struct heap_stats h;
	pmm_stats(&pmm_kernel, &s);
	vmm_stats(&v);
	kstack_stats(&k);
	kmalloc_stats(&h);
	KEXPECT_EQ(t, s.managed_frames, expect);
	/*
	 * The kernel's page tables, its stacks (kmain's, the IST ones, the
	 * threads') and the heap's mapped pages (thread structs) hold the rest.
	 */
	KEXPECT_EQ(t, s.free_frames,
		   expect - v.tables - (k.live + k.cached) * (KSTACK_SIZE / PAGE_SIZE) -
		       (h.chunk_bytes + h.large_bytes) / PAGE_SIZE);
	KEXPECT(t, s.metadata_bytes <= meta_len);
}
