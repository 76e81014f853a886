/*
 * Taking the address space over from the loader (vmm_init, include/mm/vmm.h).
 *
 * The kernel builds its own tables with the very code the loader used: the
 * plan derived from boot_info (bootmap_plan_from, with the kernel ELF file
 * the loader kept) and bootmap_build, so both sides share one W^X proof and
 * one reading of boot_info. Then it checks the loader's tables
 * against them: every loader mapping of the kernel image, boot stack and
 * framebuffer must translate the same in the new tables and be no more
 * permissive there. Only then are the new tables loaded and the loader's
 * table frames handed to the frame allocator. On top of the loader's layout
 * the kernel makes two changes: the framebuffer becomes write-combining, and
 * the direct map's alias of the kernel image becomes read-only, so kernel
 * text and data cannot be patched through it.
 */
#include <mm/bootmap.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <lib/elf.h>
#include <mm/addr.h>
#include <mm/layout.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>

#include "vmm_internal.h"

static void log_mapping(const char *what, vaddr_t va, paddr_t pa, uint64_t size)
{
	kdebug("vmm: mapped %s: %#llx -> %#llx, %llu KiB", what, (unsigned long long)va,
	       (unsigned long long)pa, (unsigned long long)(size / KiB));
}

/* Map everything the loader mapped except the trampoline, the same way. */
static void build_tables(const struct boot_info *bi, struct elf_image *img)
{
	const char *why = "?", *what = "?";
	struct bootmap_plan plan;
	int err;

	if (elf_parse(phys_to_virt(bi->kernel_file_phys), bi->kernel_file_size, img, &why))
		panic("vmm: the kernel file the loader kept does not parse: %s", why);
	bootmap_plan_from(&plan, bi, img, boot_info_memmap(bi), bi->memmap_count,
			  arch_mmu_features()->huge_1g);
	plan.trampoline = PADDR_INVALID; /* arch_drop_lower_half() dropped it */
	err = bootmap_build(&vmm_kernel_pt, &plan, log_mapping, &what);
	if (err)
		panic("vmm: cannot map %s in the kernel's tables (error %d)", what, err);
}

/* The kernel's two changes to the loader's layout (see the top of the file). */
static void tighten(const struct boot_info *bi)
{
	vaddr_t alias = bi->direct_map_base + bi->kernel_phys_base;
	int err =
	    pt_protect(&vmm_kernel_pt, alias, ALIGN_UP(bi->kernel_size, PAGE_SIZE), PT_GLOBAL);

	if (!err && bi->fb.virt) {
		vaddr_t va = ALIGN_DOWN(bi->fb.virt, PAGE_SIZE);
		err = pt_protect(&vmm_kernel_pt, va,
				 ALIGN_UP(bi->fb.virt + bi->fb.size, PAGE_SIZE) - va,
				 PT_WRITE | PT_GLOBAL | PT_WC);
	}
	if (err)
		panic("vmm: cannot tighten the kernel's tables (error %d)", err);
}

struct compare {
	const struct boot_info *bi;
	uint64_t leaves;
	uint64_t direct_missing; /* direct-map pages the final memory map dropped */
};

/* True if new flags allow nothing old did not (cache type aside). */
static bool no_wider(uint32_t new_flags, uint32_t old)
{
	uint32_t perms = PT_WRITE | PT_EXEC | PT_USER;

	return ((new_flags & perms) & ~(old & perms)) == 0;
}

static bool same_page(vaddr_t va, paddr_t pa, uint32_t old_flags)
{
	struct pt_leaf now;

	return pt_translate(&vmm_kernel_pt, va, &now) && now.pa + (va - now.va) == pa &&
	       no_wider(now.flags, old_flags);
}

/* One loader leaf: its first and last page must mean the same in the new tables. */
static int compare_leaf(const struct pt_leaf *leaf, void *arg)
{
	struct compare *c = arg;
	vaddr_t last = leaf->va + leaf->size - PAGE_SIZE;
	bool direct =
	    LAYOUT_IN_WINDOW(leaf->va, leaf->size, LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE);

	c->leaves++;
	if (same_page(leaf->va, leaf->pa, leaf->flags) &&
	    same_page(last, leaf->pa + leaf->size - PAGE_SIZE, leaf->flags))
		return 0;
	if (direct && !pt_translate(&vmm_kernel_pt, leaf->va, &(struct pt_leaf){0}) &&
	    !pt_translate(&vmm_kernel_pt, last, &(struct pt_leaf){0})) {
		c->direct_missing += leaf->size / PAGE_SIZE;
		return 0;
	}
	panic("vmm: the loader maps %#llx -> %#llx (flags %#x) and the kernel's tables do not "
	      "agree",
	      (unsigned long long)leaf->va, (unsigned long long)leaf->pa, leaf->flags);
}

struct table_frames {
	const struct boot_info *bi;
	uint64_t count;
};

/* Every loader table frame must lie in MEMMAP_PAGETABLE memory, which is released whole. */
static void check_table_frame(paddr_t pa, void *arg)
{
	struct table_frames *t = arg;
	const struct memmap_entry *e = boot_info_memmap(t->bi);

	t->count++;
	for (uint32_t i = 0; i < t->bi->memmap_count; i++)
		if (e[i].type == MEMMAP_PAGETABLE && pa >= e[i].base &&
		    pa - e[i].base < e[i].length)
			return;
	panic("vmm: loader page table at %#llx lies outside page-table memory",
	      (unsigned long long)pa);
}

/* Give the loader's page-table memory to the frame allocator. Returns frames. */
static uint64_t release_loader_tables(const struct boot_info *bi)
{
	const struct memmap_entry *e = boot_info_memmap(bi);
	uint64_t frames = 0;

	for (uint32_t i = 0; i < bi->memmap_count; i++) {
		if (e[i].type != MEMMAP_PAGETABLE)
			continue;
		int err = pmm_release(&pmm_kernel, e[i].base, e[i].length);
		if (err)
			panic("vmm: cannot release loader tables at %#llx (error %d)",
			      (unsigned long long)e[i].base, err);
		frames += e[i].length / PAGE_SIZE;
	}
	return frames;
}

void vmm_init(const struct boot_info *bi)
{
	struct pgtable loader = {.root = arch_tables_root(), .table_base = addr_bases.direct_map};
	struct compare cmp = {.bi = bi};
	struct table_frames loader_tables = {.bi = bi};
	struct elf_image img;
	struct pt_check check;
	paddr_t root;

	root = vmm_table_alloc();
	if (root == PADDR_INVALID)
		panic("vmm: no frame for the kernel's page-table root");
	vmm_tables_setup(root);
	build_tables(bi, &img);
	tighten(bi);
	if (pt_check(&vmm_kernel_pt, &check))
		panic("vmm: the kernel's tables are broken: %s at %#llx", check.problem,
		      (unsigned long long)check.problem_va);
	pt_walk(&loader, compare_leaf, &cmp);
	pt_walk_tables(&loader, check_table_frame, &loader_tables);

	arch_tables_load(root);
	arch_tlb_flush_all(); /* global entries still carry the loader's types and rights */
	vmm_finish_change();  /* discard what building recorded: all of it is flushed */
	uint64_t released = release_loader_tables(bi);
	if (vmm_guard_add(bi->boot_stack_bottom - PAGE_SIZE, PAGE_SIZE, "boot stack"))
		panic("vmm: no room for the boot stack guard");

	kinfo("vmm: kernel tables loaded: %llu tables (%llu KiB), %llu leaves, checked against "
	      "%llu loader mappings",
	      (unsigned long long)check.tables, (unsigned long long)(check.tables * 4),
	      (unsigned long long)(check.leaves[0] + check.leaves[1] + check.leaves[2]),
	      (unsigned long long)cmp.leaves);
	kinfo("vmm: loader's tables released: %llu frames (%llu in use, %llu KiB)",
	      (unsigned long long)released, (unsigned long long)loader_tables.count,
	      (unsigned long long)(released * 4));
	if (cmp.direct_missing)
		kwarn("vmm: %llu direct-map pages of the loader are not RAM in the final memory "
		      "map; left unmapped",
		      (unsigned long long)cmp.direct_missing);
}
