/*
 * Loading a user program (include/kernel/user.h): the kernel's ELF checks
 * (lib/elf.c) plus the user rules, relocation for a random base, one
 * image region per segment in the process's address space and one new
 * frame per page placed there.
 */
#include <kernel/random.h>
#include <mm/aspace.h>
#include <uapi/syscall.h>
#include <kernel/user.h>
#include <lib/elf.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/addr.h>
#include <mm/kmalloc.h>
#include <mm/layout.h>
#include <mm/pmm.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>

vaddr_t user_random_base(vaddr_t start, uint64_t size, uint64_t extent)
{
	uint64_t slots = (size - extent) / PAGE_SIZE + 1;

	return start + random_below(slots) * PAGE_SIZE;
}

static unsigned int segment_prot(const struct elf_segment *s)
{
	return PROT_READ | ((s->flags & ELF_PF_W) ? PROT_WRITE : 0) |
	       ((s->flags & ELF_PF_X) ? PROT_EXEC : 0);
}

/*
 * One image region per segment, page rounded. Two segments may share a
 * page only with the same permissions (elf_parse checks), so a region
 * starts where the one before ended.
 */
static int map_segments(const struct elf_image *img, vaddr_t base, struct aspace *as)
{
	vaddr_t done = base;

	for (size_t i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->segs[i];
		vaddr_t lo = base + (s->vaddr & ~PAGE_MASK);
		vaddr_t hi = base + ALIGN_UP(s->vaddr + s->memsz, PAGE_SIZE);
		int err;

		lo = lo > done ? lo : done;
		if (lo >= hi)
			continue;
		err = aspace_map_image(as, lo, hi - lo, segment_prot(s));
		if (err)
			return err;
		done = hi;
	}
	return 0;
}

/* Copy each page of the relocated copy buf that a segment covers into a new frame of as. */
static int place_pages(struct aspace *as, const uint8_t *buf, vaddr_t base, uint64_t span)
{
	struct aspace_region r;

	for (uint64_t off = 0; off < span; off += PAGE_SIZE) {
		paddr_t frame;
		int err;

		if (!aspace_region_at(as, base + off, &r))
			continue;
		frame = pmm_alloc(&pmm_kernel);
		if (frame == PADDR_INVALID)
			return -ENOMEM;
		memcpy(phys_to_virt(frame), buf + off, PAGE_SIZE);
		err = aspace_place_frame(as, base + off, frame);
		if (err) {
			pmm_free(&pmm_kernel, frame);
			return err;
		}
	}
	return 0;
}

int user_image_load(const void *file, uint64_t size, vaddr_t base, struct aspace *as,
		    struct user_image *out, const char **why)
{
	struct elf_image img;
	uint8_t *buf;
	int err;

	err = elf_parse(file, size, &img, why);
	if (!err)
		err = elf_check_user(&img, LAYOUT_USER_PROGRAM_EXTENT, why);
	if (err)
		return err;
	buf = kmalloc(img.span);
	if (!buf)
		return -ENOMEM;
	elf_load(&img, buf);
	elf_relocate(&img, buf, base);
	err = map_segments(&img, base, as);
	if (!err)
		err = place_pages(as, buf, base, img.span);
	kfree(buf);
	*out = (struct user_image){.base = base, .span = img.span, .entry = base + img.entry};
	return err;
}

extern const struct user_program user_programs[];

const struct user_program *user_program_find(const char *name)
{
	for (const struct user_program *p = user_programs; p->name; p++) {
		if (strcmp(p->name, name) == 0)
			return p;
	}
	return NULL;
}
