/*
 * The kernel's first page tables (see include/mm/bootmap.h): the plan from
 * boot_info, and the mapping of a plan.
 */
#include <lib/errno.h>
#include <mm/bootmap.h>

void bootmap_plan_from(struct bootmap_plan *p, const struct boot_info *bi,
		       const struct elf_image *kernel, const struct memmap_entry *map,
		       size_t map_count, bool huge_1g)
{
	bool fb = bi->fb.virt != 0; /* the loader found a usable framebuffer */

	*p = (struct bootmap_plan){
	    .kernel = kernel,
	    .kernel_phys = bi->kernel_phys_base,
	    .kernel_virt = bi->kernel_virt_base,
	    .map = map,
	    .map_count = map_count,
	    .direct_map_base = bi->direct_map_base,
	    .huge_1g = huge_1g,
	    .stack_phys = bi->boot_stack_phys,
	    .stack_bottom = bi->boot_stack_bottom,
	    .stack_size = bi->boot_stack_top - bi->boot_stack_bottom,
	    .fb_phys = fb ? bi->fb.phys : 0,
	    .fb_size = fb ? bi->fb.size : 0,
	    .fb_virt = bi->fb.virt,
	    .trampoline = bi->trampoline_phys,
	};
}

struct mapper {
	struct pgtable *pt;
	bootmap_log_fn log;
	const char **what;
};

static int map(struct mapper *m, const char *what, vaddr_t va, paddr_t pa, uint64_t size,
	       uint32_t flags)
{
	int err;

	if (size == 0)
		return 0;
	err = pt_map(m->pt, va, pa, size, flags);
	if (err) {
		*m->what = what;
		return err;
	}
	if (m->log)
		m->log(what, va, pa, size);
	return 0;
}

static uint32_t segment_flags(const struct elf_segment *s)
{
	uint32_t flags = PT_GLOBAL;

	if (s->flags & ELF_PF_W)
		flags |= PT_WRITE;
	if (s->flags & ELF_PF_X)
		flags |= PT_EXEC;
	return flags;
}

/* Map [start, end) of the image (link addresses, page aligned). */
static int map_image_part(struct mapper *m, const struct bootmap_plan *p, const char *what,
			  uint64_t start, uint64_t end, uint32_t flags)
{
	uint64_t off = start - p->kernel->link_base;

	if (end <= start)
		return 0;
	return map(m, what, p->kernel_virt + off, p->kernel_phys + off, end - start, flags);
}

/*
 * One segment, from mapped_from on (elf_parse allows a page to be shared only
 * by segments with the same permissions, and the previous one mapped it).
 * The part of a writable segment inside RELRO becomes read-only.
 */
static int map_segment(struct mapper *m, const struct bootmap_plan *p, const struct elf_segment *s,
		       uint64_t mapped_from)
{
	uint64_t rs = p->kernel->relro_start, re = p->kernel->relro_end;
	uint64_t start = MAX(ALIGN_DOWN(s->vaddr, PAGE_SIZE), mapped_from);
	uint64_t end = ALIGN_UP(s->vaddr + s->memsz, PAGE_SIZE);
	uint32_t flags = segment_flags(s);
	int err;

	if (!(flags & PT_WRITE) || re <= start || rs >= end)
		return map_image_part(m, p, "kernel segment", start, end, flags);
	uint64_t lo = MAX(start, rs), hi = MIN(end, re);
	err = map_image_part(m, p, "kernel data", start, lo, flags);
	if (!err)
		err = map_image_part(m, p, "kernel relro", lo, hi, flags & ~PT_WRITE);
	if (!err)
		err = map_image_part(m, p, "kernel data", hi, end, flags);
	return err;
}

/* Every RAM run of the map, merged across types so huge pages fit. */
static int map_direct(struct mapper *m, const struct bootmap_plan *p)
{
	uint32_t flags = PT_WRITE | PT_GLOBAL | PT_HUGE_2M | (p->huge_1g ? PT_HUGE_1G : 0);
	const struct memmap_entry *e = p->map;
	int err = 0;

	for (size_t i = 0; i < p->map_count && !err; i++) {
		uint64_t base = e[i].base, end = base + e[i].length;
		if (!memmap_type_is_ram(e[i].type))
			continue;
		while (i + 1 < p->map_count && e[i + 1].base == end &&
		       memmap_type_is_ram(e[i + 1].type))
			end += e[++i].length;
		err = map(m, "direct map", p->direct_map_base + base, base, end - base, flags);
	}
	return err;
}

int bootmap_build(struct pgtable *pt, const struct bootmap_plan *p, bootmap_log_fn log,
		  const char **what)
{
	struct mapper m = {pt, log, what};
	uint64_t mapped_end = 0; /* link address up to which the image is mapped */
	int err = 0;

	for (size_t i = 0; i < p->kernel->nsegs && !err; i++) {
		const struct elf_segment *s = &p->kernel->segs[i];
		err = map_segment(&m, p, s, mapped_end);
		mapped_end = MAX(mapped_end, ALIGN_UP(s->vaddr + s->memsz, PAGE_SIZE));
	}
	if (!err)
		err = map_direct(&m, p);
	if (!err)
		err = map(&m, "boot stack", p->stack_bottom, p->stack_phys, p->stack_size,
			  PT_WRITE | PT_GLOBAL);
	if (!err && p->fb_size) {
		paddr_t start = ALIGN_DOWN(p->fb_phys, PAGE_SIZE);
		err = map(&m, "framebuffer", ALIGN_DOWN(p->fb_virt, PAGE_SIZE), start,
			  ALIGN_UP(p->fb_phys + p->fb_size, PAGE_SIZE) - start,
			  PT_WRITE | PT_GLOBAL | PT_UC);
	}
	if (!err && p->trampoline != PADDR_INVALID)
		err = map(&m, "trampoline", p->trampoline, p->trampoline, PAGE_SIZE, PT_EXEC);
	return err;
}
