/*
 * Loading a user program (include/kernel/user.h): the kernel's ELF checks
 * (lib/elf.c) plus the user rules, relocation for a random base, and one
 * new frame per page handed to a placement callback.
 */
#include <kernel/random.h>
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

/* The VMM_* protection of the page at offset off, or -1 if no segment covers it. */
static int64_t page_prot(const struct elf_image *img, uint64_t off)
{
	for (size_t i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->segs[i];
		uint64_t lo = s->vaddr & ~PAGE_MASK, hi = s->vaddr + s->memsz;

		if (off >= lo && off < hi)
			return VMM_USER | ((s->flags & ELF_PF_W) ? VMM_WRITE : 0) |
			       ((s->flags & ELF_PF_X) ? VMM_EXEC : 0);
	}
	return -1;
}

/* Copy each covered page of the relocated copy buf into a new frame and place it. */
static int place_pages(const struct elf_image *img, const uint8_t *buf, vaddr_t base,
		       const struct user_image_ops *ops, void *ctx)
{
	for (uint64_t off = 0; off < img->span; off += PAGE_SIZE) {
		int64_t prot = page_prot(img, off);
		paddr_t frame;
		int err;

		if (prot < 0)
			continue;
		frame = pmm_alloc(&pmm_kernel);
		if (frame == PADDR_INVALID)
			return -ENOMEM;
		memcpy(phys_to_virt(frame), buf + off, PAGE_SIZE);
		err = ops->place(ctx, base + off, frame, (uint32_t)prot);
		if (err) {
			pmm_free(&pmm_kernel, frame);
			return err;
		}
	}
	return 0;
}

int user_image_load(const void *file, uint64_t size, vaddr_t base, const struct user_image_ops *ops,
		    void *ctx, struct user_image *out, const char **why)
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
	err = place_pages(&img, buf, base, ops, ctx);
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
