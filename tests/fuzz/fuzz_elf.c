/*
 * libFuzzer target for lib/elf.c: any input must either be refused by
 * elf_parse() or yield a struct elf_image whose invariants hold and which
 * loads and relocates without touching memory outside the span. Symbol
 * lookup runs on every input. ASan and UBSan catch the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lib/elf.h>
#include <lib/errno.h>

/* Larger images are checked but not loaded, to keep the fuzzer fast. */
#define FUZZ_MAX_LOAD (64ull << 20)

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

/* Reads a little-endian u64 from an unaligned pointer. */
static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Traps unless the image obeys every promise elf_parse() makes. */
static void check_image(const struct elf_image *img, const uint8_t *data, size_t size)
{
	bool entry_ok = false;
	size_t i;

	REQUIRE(img->file == data && img->file_size == size);
	REQUIRE(img->nsegs >= 1 && img->nsegs <= ELF_MAX_SEGMENTS);
	REQUIRE(img->link_base % 4096 == 0 && img->span % 4096 == 0);
	REQUIRE(img->span > 0 && img->span <= ELF_MAX_SPAN);
	for (i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->segs[i];

		REQUIRE(s->memsz > 0 && s->filesz <= s->memsz);
		REQUIRE(s->offset <= size && s->filesz <= size - s->offset);
		REQUIRE(s->vaddr >= img->link_base);
		REQUIRE(s->vaddr - img->link_base <= img->span);
		REQUIRE(s->memsz <= img->span - (s->vaddr - img->link_base));
		REQUIRE(!((s->flags & ELF_PF_W) && (s->flags & ELF_PF_X)));
		if (i > 0)
			REQUIRE(img->segs[i - 1].vaddr + img->segs[i - 1].memsz <= s->vaddr);
		if ((s->flags & ELF_PF_X) && img->entry >= s->vaddr &&
		    img->entry - s->vaddr < s->memsz)
			entry_ok = true;
	}
	REQUIRE(entry_ok);
	REQUIRE(img->relro_start <= img->relro_end);
	if (img->relro_start != img->relro_end) {
		REQUIRE(img->relro_start >= img->link_base);
		REQUIRE(img->relro_end - img->link_base <= img->span);
	}
	REQUIRE(img->rela_offset <= size);
	REQUIRE(img->rela_count <= (size - img->rela_offset) / 24);
	for (i = 0; i < img->rela_count; i++) {
		const uint8_t *r = data + img->rela_offset + i * 24;
		uint64_t where = rd64(r), type = (uint32_t)rd64(r + 8);

		REQUIRE(type == 0 || type == 8);
		if (type == 8)
			REQUIRE(where >= img->link_base && where - img->link_base <= img->span - 8);
	}
}

/* elf_check_user: accepted only at link address 0, within the span, all readable. */
static void check_user(const struct elf_image *img)
{
	const char *why = NULL;
	int ret = elf_check_user(img, 1ull << 32, &why);

	REQUIRE(ret == 0 || ret == -ENOEXEC);
	if (ret) {
		REQUIRE(why != NULL && why[0] != '\0');
		return;
	}
	REQUIRE(img->link_base == 0 && img->span <= (1ull << 32));
	for (size_t i = 0; i < img->nsegs; i++)
		REQUIRE(img->segs[i].flags & ELF_PF_R);
}

/* Loads and relocates into a heap block of exactly span bytes. */
static void load_image(const struct elf_image *img)
{
	uint8_t *dst;

	if (img->span > FUZZ_MAX_LOAD)
		return;
	dst = malloc(img->span);
	if (!dst)
		return;
	elf_load(img, dst);
	elf_relocate(img, dst, 0xffffc00000000000ull);
	free(dst);
}

/* Looks up a few addresses; any answer must name a string inside the input. */
static void lookup(const uint8_t *data, size_t size, uint64_t addr)
{
	const char *name;
	uint64_t off;

	if (elf_find_symbol(data, size, addr, &name, &off)) {
		const uint8_t *p = (const uint8_t *)name;

		REQUIRE(p >= data && p < data + size);
		REQUIRE(memchr(p, 0, (size_t)(data + size - p)) != NULL);
		REQUIRE(off <= addr);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elf_image img;
	const char *why = NULL;
	int ret;

	ret = elf_parse(data, size, &img, &why);
	REQUIRE(ret == 0 || ret == -ENOEXEC);
	if (ret == 0) {
		check_image(&img, data, size);
		check_user(&img);
		load_image(&img);
		lookup(data, size, img.entry);
		lookup(data, size, img.link_base);
	} else {
		REQUIRE(why != NULL && why[0] != '\0');
	}
	/* A usable symbol table is exactly what the kernel will look names up in. */
	ret = elf_symtab_check(data, size, &why);
	REQUIRE(ret == 0 ? why == NULL : ret == -ENOEXEC && why != NULL && why[0] != '\0');
	lookup(data, size, 0);
	lookup(data, size, size >= 8 ? rd64(data + size - 8) : 0x1000);
	return 0;
}
