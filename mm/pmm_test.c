/* In-kernel tests of the frame allocator on the real memory map and MMU. */
#include <arch/irq.h>
#include <arch/percpu.h>
#include <kernel/boot.h>
#include <kernel/frame_hold.h>
#include <kernel/ktest.h>
#include <kernel/thread.h>
#include <kernel/panic.h>
#include <lib/errno.h>
#include <mm/addr.h>
#include <mm/kmalloc.h>
#include <mm/kstack.h>
#include <mm/pmm_boot.h>
#include <mm/slab.h>
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
 * The first frame taken in each SAMPLE_SPAN of physical memory is written
 * and read back; the others are only counted. Touching every frame would
 * make the host back all of the guest's RAM (zeroing it: with 8 GiB, 10 s
 * of a 14 s boot); one frame per 64 MiB still reaches every 1 GiB page of
 * the direct map.
 */
#define SAMPLE_SPAN (64 * MiB)

/* True for the first frame seen in a new SAMPLE_SPAN (frames come in address order). */
static bool sample(paddr_t pa, uint64_t *span)
{
	if (pa / SAMPLE_SPAN == *span)
		return false;
	*span = pa / SAMPLE_SPAN;
	return true;
}

/* The frames take_all() took: one bit per frame the allocator covers. */
struct taken_set {
	uint64_t *bits;
	uint64_t nframes;
};

static bool taken_set_init(struct taken_set *s)
{
	s->nframes = pmm_kernel.nframes;
	s->bits = kcalloc((s->nframes + 63) / 64, sizeof(uint64_t));
	return s->bits != NULL;
}

/*
 * Take every free frame, recording each in s (a frame handed out twice
 * fails), and mark the sampled ones with their address at both ends, so
 * aliasing would show. Returns the number taken.
 */
static uint64_t take_all(struct ktest *t, struct taken_set *s)
{
	paddr_t meta, pa;
	uint64_t meta_len, taken = 0, span = UINT64_MAX;
	uint32_t cursor = 0;

	pmm_boot_metadata(&meta, &meta_len);
	while ((pa = pmm_alloc(&pmm_kernel)) != PADDR_INVALID) {
		const struct memmap_entry *e = entry_of(pa, &cursor);
		uint64_t i = pa / PAGE_SIZE - pmm_kernel.base_frame;
		if (!e || !freed_at_boot(e->type) || pa == 0 ||
		    (pa >= meta && pa < meta + meta_len) || i >= s->nframes ||
		    (s->bits[i / 64] & (1ull << (i % 64)))) {
			ktest_fail(t, __FILE__, __LINE__, "frame %#llx is not free RAM",
				   (unsigned long long)pa);
			break;
		}
		s->bits[i / 64] |= 1ull << (i % 64);
		taken++;
		if (sample(pa, &span)) {
			uint64_t *frame = phys_to_virt(pa);
			frame[0] = pa ^ PATTERN;
			frame[PAGE_SIZE / 8 - 1] = pa ^ PATTERN;
		}
	}
	return taken;
}

/* Free what take_all() took, in address order, checking the sampled frames' contents. */
static uint64_t give_back(struct ktest *t, struct taken_set *s)
{
	uint64_t given = 0, span = UINT64_MAX;

	for (uint64_t w = 0; w < (s->nframes + 63) / 64; w++) {
		for (uint64_t bits = s->bits[w]; bits; bits &= bits - 1) {
			uint64_t i = w * 64 + (uint64_t)__builtin_ctzll(bits);
			paddr_t pa = (pmm_kernel.base_frame + i) * PAGE_SIZE;
			uint64_t *frame = phys_to_virt(pa);
			given++;
			if (sample(pa, &span) && !t->failed &&
			    (frame[0] != (pa ^ PATTERN) ||
			     frame[PAGE_SIZE / 8 - 1] != (pa ^ PATTERN)))
				ktest_fail(t, __FILE__, __LINE__, "frame %#llx lost its contents",
					   (unsigned long long)pa);
			if (pmm_free(&pmm_kernel, pa) != 0 && !t->failed)
				ktest_fail(t, __FILE__, __LINE__, "free of %#llx refused",
					   (unsigned long long)pa);
		}
	}
	return given;
}

KTEST(pmm, pmm_alloc_until_exhausted_then_free_all)
{
	struct taken_set set;

	/*
	 * One CPU, every cache empty: frames in another CPU's frame cache
	 * count as free but only that CPU hands them out.
	 */
	KASSERT(thread_pin(0) == 0);
	frame_caches_drain_all();
	KASSERT(taken_set_init(&set)); /* before counting: it takes frames itself */
	/* Frames come lowest first once this CPU's cache holds no older word. */
	unsigned long irq = arch_irq_save();
	pmm_cache_drain(&pmm_kernel, &arch_percpu()->pmm_cache);
	arch_irq_restore(irq);
	uint64_t before = pmm_kernel_free_frames();
	KEXPECT(t, before > 0);
	uint64_t taken = take_all(t, &set);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), 0);
	KEXPECT_EQ(t, pmm_alloc(&pmm_kernel), PADDR_INVALID); /* still a clean refusal */
	KEXPECT_EQ(t, pmm_alloc_run(&pmm_kernel, 1, PAGE_SIZE), PADDR_INVALID);
	uint64_t given = give_back(t, &set);
	KEXPECT_EQ(t, taken, before);
	KEXPECT_EQ(t, given, taken);
	KEXPECT_EQ(t, pmm_kernel_free_frames(), before);
	KEXPECT(t, pmm_check(&pmm_kernel));
	kfree(set.bits);
	thread_unpin();
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

/* A frame freed into this CPU's cache is free to every reader, and drains back. */
KTEST(pmm, pmm_cache_frames_count_as_free_and_drain)
{
	struct pmm_cache *c = &arch_percpu()->pmm_cache;
	unsigned long irq = arch_irq_save(); /* stay on this CPU's cache */
	uint64_t before = pmm_kernel_free_frames(), refills = c->refills;
	pmm_cache_drain(&pmm_kernel, c);
	paddr_t a = pmm_alloc(&pmm_kernel), b = pmm_alloc(&pmm_kernel);
	struct pmm_stats s;

	KEXPECT(t, a != PADDR_INVALID && b != PADDR_INVALID && a != b);
	KEXPECT(t, c->refills > refills); /* drained: the first alloc claimed a word */
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, a), 0);
	KEXPECT_EQ(t, pmm_frame_state(&pmm_kernel, a), PMM_FRAME_FREE);
	KEXPECT_EQ(t, pmm_frame_state(&pmm_kernel, b), PMM_FRAME_ALLOCATED);
	pmm_stats(&pmm_kernel, &s);
	KEXPECT(t, s.cached_frames >= 1);
	KEXPECT(t, c->mask != 0); /* a's frame, in this CPU's cache */
	KEXPECT_EQ(t, s.free_frames, before - 1);
	KEXPECT(t, pmm_check(&pmm_kernel));
	KEXPECT_EQ(t, pmm_free(&pmm_kernel, b), 0);
	pmm_cache_drain(&pmm_kernel, c);
	pmm_stats(&pmm_kernel, &s);
	KEXPECT_EQ(t, c->mask, 0); /* other CPUs' caches may hold frames of their own */
	KEXPECT_EQ(t, s.free_frames, before);
	KEXPECT_EQ(t, pmm_frame_state(&pmm_kernel, a), PMM_FRAME_FREE);
	KEXPECT(t, pmm_check(&pmm_kernel));
	arch_irq_restore(irq);
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

static void add_slab_pages(struct kmem_cache *c, void *ctx)
{
	struct kmem_cache_info i;

	kmem_cache_info(c, &i);
	*(uint64_t *)ctx += i.bytes >> PAGE_SHIFT;
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
	uint64_t slab_pages = 0;
	kmem_cache_each(add_slab_pages, &slab_pages);
	KEXPECT_EQ(t, s.managed_frames, expect);
	/*
	 * The kernel's page tables, its stacks (kmain's, the IST ones, the
	 * threads'), the heap's mapped pages and the object caches' slabs
	 * (thread structs) hold the rest.
	 */
	KEXPECT_EQ(t, s.free_frames,
		   expect - v.tables - (k.live + k.cached) * (KSTACK_SIZE / PAGE_SIZE) -
		       (h.chunk_bytes + h.large_bytes) / PAGE_SIZE - slab_pages);
	KEXPECT(t, s.metadata_bytes <= meta_len);
}
