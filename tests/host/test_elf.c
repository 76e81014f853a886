/*
 * Host tests for lib/elf.c: a small builder writes a valid x86-64 PIE image
 * into a byte buffer, and each negative test mutates one thing in it. With
 * a path in argv[1], the real kernel ELF there is parsed as well.
 */
#include "check.h"

#include <stddef.h>

#include <lib/elf.h>
#include <lib/elf_format.h>
#include <lib/errno.h>

/* ELF constants the builder needs beyond include/lib/elf_format.h. */
#define PT_NOTE	    4
#define R_X86_64_64 1
#define STT_OBJECT  1
#define PF_R	    ELF_PF_R
#define PF_RX	    (ELF_PF_R | ELF_PF_X)
#define PF_RW	    (ELF_PF_R | ELF_PF_W)

/* Field offsets inside the ELF64 structures. */
#define E_IDENT	    offsetof(struct elf64_ehdr, e_ident)
#define E_TYPE	    offsetof(struct elf64_ehdr, e_type)
#define E_MACHINE   offsetof(struct elf64_ehdr, e_machine)
#define E_VERSION   offsetof(struct elf64_ehdr, e_version)
#define E_ENTRY	    offsetof(struct elf64_ehdr, e_entry)
#define E_PHOFF	    offsetof(struct elf64_ehdr, e_phoff)
#define E_SHOFF	    offsetof(struct elf64_ehdr, e_shoff)
#define E_PHENTSIZE offsetof(struct elf64_ehdr, e_phentsize)
#define E_PHNUM	    offsetof(struct elf64_ehdr, e_phnum)
#define E_SHNUM	    offsetof(struct elf64_ehdr, e_shnum)
#define P_TYPE	    offsetof(struct elf64_phdr, p_type)
#define P_FLAGS	    offsetof(struct elf64_phdr, p_flags)
#define P_OFFSET    offsetof(struct elf64_phdr, p_offset)
#define P_VADDR	    offsetof(struct elf64_phdr, p_vaddr)
#define P_FILESZ    offsetof(struct elf64_phdr, p_filesz)
#define P_MEMSZ	    offsetof(struct elf64_phdr, p_memsz)
#define SH_OFFSET   offsetof(struct elf64_shdr, sh_offset)
#define SH_SIZE	    offsetof(struct elf64_shdr, sh_size)
#define SH_LINK	    offsetof(struct elf64_shdr, sh_link)
#define PHDR_SIZE   sizeof(struct elf64_phdr)
#define SHDR_SIZE   sizeof(struct elf64_shdr)
#define SYM_SIZE    sizeof(struct elf64_sym)
#define RELA_SIZE   sizeof(struct elf64_rela)

/*
 * The built image; file offset == link address - lb:
 *   0x0000 R   headers, program headers at 0x40, RELA table at 0x800
 *   0x1000 RX  text: kstart [0x1000, 0x1040), helper [0x1040, 0x1060),
 *              marker at 0x1100 (size 0); entry 0x1010
 *   0x2000 RW  RELRO: dynamic table at 0x2000, pointer table at 0x2800
 *   0x3000 RW  data, 0x100 bytes from the file, bss up to 0x5000
 *   then, outside every segment: symtab 0x3100, strtab 0x3200, shdrs 0x3300
 */
enum { PH_R, PH_RX, PH_RELRO, PH_DATA, PH_DYN, PH_GNU_RELRO, NPH };
#define PHOFF	  0x40
#define RELA_OFF  0x800
#define NRELA	  4
#define DYN_OFF	  0x2000
#define SYM_OFF	  0x3100
#define NSYMS	  5
#define STR_OFF	  0x3200
#define SH_OFF	  0x3300
#define NSH	  3
#define FILE_SIZE (SH_OFF + NSH * SHDR_SIZE)
#define SPAN	  0x5000

static const char strtab[] = "\0kstart\0helper\0marker\0table";
#define STR_KSTART 1
#define STR_HELPER 8
#define STR_MARKER 15
#define STR_TABLE  22

static uint8_t buf[0x4000];
static size_t img_size;
static uint64_t lb; /* link address of file offset 0 */
static unsigned ndyn;

static void w16(uint64_t off, uint16_t v)
{
	memcpy(buf + off, &v, sizeof(v));
}

static void w32(uint64_t off, uint32_t v)
{
	memcpy(buf + off, &v, sizeof(v));
}

static void w64(uint64_t off, uint64_t v)
{
	memcpy(buf + off, &v, sizeof(v));
}

static uint64_t r64(const uint8_t *p, uint64_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint64_t ph(int i, int field)
{
	return PHOFF + (uint64_t)i * PHDR_SIZE + field;
}

static void set_phdr(int i, uint32_t type, uint32_t flags, uint64_t off, uint64_t filesz,
		     uint64_t memsz)
{
	w32(ph(i, P_TYPE), type);
	w32(ph(i, P_FLAGS), flags);
	w64(ph(i, P_OFFSET), off);
	w64(ph(i, P_VADDR), lb + off);
	w64(ph(i, P_FILESZ), filesz);
	w64(ph(i, P_MEMSZ), memsz);
}

/* Append a program header (phnum grows); returns its index. */
static int add_phdr(uint32_t type, uint32_t flags, uint64_t off, uint64_t filesz, uint64_t memsz)
{
	uint16_t n;

	memcpy(&n, buf + E_PHNUM, sizeof(n));
	set_phdr(n, type, flags, off, filesz, memsz);
	w16(E_PHNUM, n + 1);
	return n;
}

/* Append a dynamic entry before the DT_NULL. */
static void add_dyn(int64_t tag, uint64_t val)
{
	w64(DYN_OFF + ndyn * 16, (uint64_t)tag);
	w64(DYN_OFF + ndyn * 16 + 8, val);
	ndyn++;
	w64(DYN_OFF + ndyn * 16, DT_NULL);
	w64(DYN_OFF + ndyn * 16 + 8, 0);
	w64(ph(PH_DYN, P_FILESZ), (ndyn + 1) * 16);
}

/* Change the value of an existing dynamic entry. */
static void set_dyn(int64_t tag, uint64_t val)
{
	unsigned i;

	for (i = 0; i < ndyn; i++) {
		if (r64(buf, DYN_OFF + i * 16) == (uint64_t)tag)
			w64(DYN_OFF + i * 16 + 8, val);
	}
}

static void set_rela(int i, uint64_t where, uint64_t info, int64_t addend)
{
	w64(RELA_OFF + i * RELA_SIZE, where);
	w64(RELA_OFF + i * RELA_SIZE + 8, info);
	w64(RELA_OFF + i * RELA_SIZE + 16, (uint64_t)addend);
}

static void set_sym(int i, uint32_t name, uint8_t type, uint64_t value, uint64_t size)
{
	uint64_t o = SYM_OFF + i * SYM_SIZE;

	w32(o, name);
	buf[o + 4] = type; /* STB_LOCAL */
	w16(o + 6, 1);	   /* any defined section */
	w64(o + 8, value);
	w64(o + 16, size);
}

static void set_shdr(int i, uint32_t type, uint64_t off, uint64_t size, uint32_t link,
		     uint64_t entsize)
{
	uint64_t o = SH_OFF + i * SHDR_SIZE;

	w32(o + 4, type);
	w64(o + SH_OFFSET, off);
	w64(o + SH_SIZE, size);
	w32(o + SH_LINK, link);
	w64(o + 56, entsize);
}

/* Build the valid image, linked so that file offset 0 is link address base. */
static void build_at(uint64_t base)
{
	size_t i;

	memset(buf, 0, sizeof(buf));
	lb = base;
	ndyn = 0;
	img_size = FILE_SIZE;

	memcpy(buf, "\177ELF", 4);
	buf[4] = 2; /* ELFCLASS64 */
	buf[5] = 1; /* ELFDATA2LSB */
	buf[6] = 1; /* EV_CURRENT */
	w16(E_TYPE, 3);
	w16(E_MACHINE, 62);
	w32(E_VERSION, 1);
	w64(E_ENTRY, lb + 0x1010);
	w64(E_PHOFF, PHOFF);
	w64(E_SHOFF, SH_OFF);
	w16(52, 64);
	w16(E_PHENTSIZE, PHDR_SIZE);
	w16(58, SHDR_SIZE);
	w16(E_SHNUM, NSH);

	set_phdr(PH_R, PT_LOAD, PF_R, 0, 0x1000, 0x1000);
	set_phdr(PH_RX, PT_LOAD, PF_RX, 0x1000, 0x1000, 0x1000);
	set_phdr(PH_RELRO, PT_LOAD, PF_RW, 0x2000, 0x1000, 0x1000);
	set_phdr(PH_DATA, PT_LOAD, PF_RW, 0x3000, 0x100, 0x2000);
	set_phdr(PH_DYN, PT_DYNAMIC, PF_RW, DYN_OFF, 16, 16);
	set_phdr(PH_GNU_RELRO, PT_GNU_RELRO, ELF_PF_R, 0x2000, 0x1000, 0x1000);
	w16(E_PHNUM, NPH);

	add_dyn(DT_RELA, lb + RELA_OFF);
	add_dyn(DT_RELASZ, NRELA * RELA_SIZE);
	add_dyn(DT_RELAENT, RELA_SIZE);
	set_rela(0, lb + 0x2800, R_X86_64_RELATIVE, (int64_t)(lb + 0x1010));
	set_rela(1, lb + 0x2808, R_X86_64_RELATIVE, (int64_t)(lb + 0x1040));
	set_rela(2, 0xdeadbeef, R_X86_64_NONE, 0);
	set_rela(3, lb + SPAN - 8, R_X86_64_RELATIVE, (int64_t)(lb + 0x3000));

	for (i = 0; i < 0x1000; i++)
		buf[0x1000 + i] = 0xcc; /* int3 */
	for (i = 0; i < 0x100; i++)
		buf[0x3000 + i] = (uint8_t)(i + 1);

	set_sym(1, STR_KSTART, STT_FUNC, lb + 0x1000, 0x40);
	set_sym(2, STR_HELPER, STT_FUNC, lb + 0x1040, 0x20);
	set_sym(3, STR_MARKER, STT_FUNC, lb + 0x1100, 0);
	set_sym(4, STR_TABLE, STT_OBJECT, lb + 0x2800, 16);
	memcpy(buf + STR_OFF, strtab, sizeof(strtab));
	set_shdr(1, SHT_SYMTAB, SYM_OFF, NSYMS * SYM_SIZE, 2, SYM_SIZE);
	set_shdr(2, SHT_STRTAB, STR_OFF, sizeof(strtab), 0, 0);
}

static void build(void)
{
	build_at(0);
}

/* The image is parsed from an exact-size heap copy so ASan sees any overread. */
static uint8_t *heap;

static int parse(struct elf_image *img, const char **why)
{
	free(heap);
	heap = malloc(img_size ? img_size : 1);
	memcpy(heap, buf, img_size);
	*why = "(no reason)";
	return elf_parse(heap, img_size, img, why);
}

static bool find(uint64_t addr, const char **name, uint64_t *off)
{
	free(heap);
	heap = malloc(img_size ? img_size : 1);
	memcpy(heap, buf, img_size);
	*name = NULL;
	*off = ~0ull;
	return elf_find_symbol(heap, img_size, addr, name, off);
}

#define CHECK_REFUSED(reason)                                                                      \
	do {                                                                                       \
		struct elf_image img_;                                                             \
		const char *why_;                                                                  \
		CHECK_EQ(parse(&img_, &why_), -ENOEXEC);                                           \
		CHECK_STR(why_, reason);                                                           \
		CHECK_EQ(img_.nsegs, 0);                                                           \
	} while (0)

#define CHECK_ACCEPTED(img)                                                                        \
	do {                                                                                       \
		const char *why_;                                                                  \
		int ret_ = parse(&(img), &why_);                                                   \
		if (ret_)                                                                          \
			printf("# refused: %s\n", why_);                                           \
		CHECK_EQ(ret_, 0);                                                                 \
	} while (0)

TEST(elf_parse_accepts_valid_image)
{
	struct elf_image img;

	build();
	CHECK_ACCEPTED(img);
	CHECK(img.file == heap);
	CHECK_EQ(img.file_size, FILE_SIZE);
	CHECK_EQ(img.link_base, 0);
	CHECK_EQ(img.span, SPAN);
	CHECK_EQ(img.entry, 0x1010);
	CHECK_EQ(img.nsegs, 4);
	CHECK_EQ(img.segs[1].vaddr, 0x1000);
	CHECK_EQ(img.segs[1].flags, PF_RX);
	CHECK_EQ(img.segs[3].vaddr, 0x3000);
	CHECK_EQ(img.segs[3].offset, 0x3000);
	CHECK_EQ(img.segs[3].filesz, 0x100);
	CHECK_EQ(img.segs[3].memsz, 0x2000);
	CHECK_EQ(img.segs[3].flags, PF_RW);
	CHECK_EQ(img.relro_start, 0x2000);
	CHECK_EQ(img.relro_end, 0x3000);
	CHECK_EQ(img.rela_offset, RELA_OFF);
	CHECK_EQ(img.rela_count, NRELA);
}

TEST(elf_parse_accepts_high_link_base)
{
	struct elf_image img;

	build_at(0xffffffff80000000ull);
	CHECK_ACCEPTED(img);
	CHECK_EQ(img.link_base, 0xffffffff80000000ull);
	CHECK_EQ(img.span, SPAN);
	CHECK_EQ(img.entry, 0xffffffff80001010ull);
	CHECK_EQ(img.rela_offset, RELA_OFF);
}

TEST(elf_parse_sorts_segments)
{
	struct elf_image img;
	uint8_t tmp[PHDR_SIZE];
	size_t i;

	build();
	memcpy(tmp, buf + ph(PH_R, 0), PHDR_SIZE);
	memcpy(buf + ph(PH_R, 0), buf + ph(PH_DATA, 0), PHDR_SIZE);
	memcpy(buf + ph(PH_DATA, 0), tmp, PHDR_SIZE);
	CHECK_ACCEPTED(img);
	CHECK_EQ(img.nsegs, 4);
	for (i = 0; i < 4; i++)
		CHECK_EQ(img.segs[i].vaddr, i * 0x1000);
}

TEST(elf_parse_without_dynamic_has_no_relocs)
{
	struct elf_image img;

	build();
	w32(ph(PH_DYN, P_TYPE), PT_NOTE);
	CHECK_ACCEPTED(img);
	CHECK_EQ(img.rela_count, 0);
}

TEST(elf_parse_without_dt_rela_has_no_relocs)
{
	struct elf_image img;

	build();
	w64(DYN_OFF, DT_NULL); /* the first entry, DT_RELA, now ends the table */
	CHECK_ACCEPTED(img);
	CHECK_EQ(img.rela_count, 0);
}

TEST(elf_parse_rounds_relro_inward)
{
	struct elf_image img;

	build();
	w64(ph(PH_GNU_RELRO, P_VADDR), 0x1ff0);
	w64(ph(PH_GNU_RELRO, P_MEMSZ), 0x2020);
	CHECK_ACCEPTED(img);
	CHECK_EQ(img.relro_start, 0x2000);
	CHECK_EQ(img.relro_end, 0x4000);

	w64(ph(PH_GNU_RELRO, P_VADDR), 0x2010);
	w64(ph(PH_GNU_RELRO, P_MEMSZ), 0xff0);
	CHECK_ACCEPTED(img);
	CHECK_EQ(img.relro_start, img.relro_end);

	w32(ph(PH_GNU_RELRO, P_TYPE), PT_NOTE);
	CHECK_ACCEPTED(img);
	CHECK_EQ(img.relro_start, img.relro_end);
}

TEST(elf_parse_rejects_relro_outside_image)
{
	build();
	w64(ph(PH_GNU_RELRO, P_VADDR), 0x10000);
	CHECK_REFUSED("PT_GNU_RELRO outside the image");
	w64(ph(PH_GNU_RELRO, P_VADDR), 0xfffffffffffff800ull);
	CHECK_REFUSED("PT_GNU_RELRO address wraps");
}

TEST(elf_parse_accepts_same_permissions_sharing_a_page)
{
	struct elf_image img;

	build();
	w64(ph(PH_RELRO, P_FILESZ), 0x900);
	w64(ph(PH_RELRO, P_MEMSZ), 0x900);
	set_phdr(PH_DATA, PT_LOAD, PF_RW, 0x2900, 0x100, SPAN - 0x2900);
	CHECK_ACCEPTED(img);
	CHECK_EQ(img.span, SPAN);
}

TEST(elf_parse_accepts_unaligned_buffer)
{
	struct elf_image img;
	const char *why = NULL;
	uint8_t *p = malloc(FILE_SIZE + 1);

	build();
	memcpy(p + 1, buf, FILE_SIZE);
	CHECK_EQ(elf_parse(p + 1, FILE_SIZE, &img, &why), 0);
	CHECK_EQ(img.rela_count, NRELA);
	free(p);
}

TEST(elf_parse_rejects_short_file)
{
	build();
	img_size = 63;
	CHECK_REFUSED("file too small for an ELF header");
	img_size = 0;
	CHECK_REFUSED("file too small for an ELF header");
}

TEST(elf_parse_rejects_bad_magic)
{
	build();
	buf[1] = 'F';
	CHECK_REFUSED("bad ELF magic");
}

TEST(elf_parse_rejects_bad_class)
{
	build();
	buf[4] = 1;
	CHECK_REFUSED("not a 64-bit ELF (ELFCLASS64)");
}

TEST(elf_parse_rejects_big_endian)
{
	build();
	buf[5] = 2;
	CHECK_REFUSED("not little-endian");
}

TEST(elf_parse_rejects_bad_version)
{
	build();
	buf[6] = 0;
	CHECK_REFUSED("bad ELF version");
	build();
	w32(E_VERSION, 2);
	CHECK_REFUSED("bad ELF version");
}

TEST(elf_parse_rejects_other_machine)
{
	build();
	w16(E_MACHINE, 3); /* EM_386 */
	CHECK_REFUSED("not an x86-64 ELF");
}

TEST(elf_parse_rejects_non_pie)
{
	build();
	w16(E_TYPE, 2); /* ET_EXEC */
	CHECK_REFUSED("not a PIE (ET_DYN) kernel");
}

TEST(elf_parse_rejects_bad_phentsize)
{
	build();
	w16(E_PHENTSIZE, PHDR_SIZE - 1);
	CHECK_REFUSED("bad program header size");
}

TEST(elf_parse_rejects_too_many_phdrs)
{
	build();
	w16(E_PHNUM, ELF_MAX_PHNUM + 1);
	CHECK_REFUSED("too many program headers");
	w16(E_PHNUM, 0xffff); /* PN_XNUM */
	CHECK_REFUSED("too many program headers");
}

TEST(elf_parse_rejects_phdrs_outside_file)
{
	build();
	w64(E_PHOFF, FILE_SIZE - PHDR_SIZE);
	CHECK_REFUSED("program headers outside the file");
	w64(E_PHOFF, 0xffffffffffffffc0ull);
	CHECK_REFUSED("program headers outside the file");
	w64(E_PHOFF, ~0ull);
	CHECK_REFUSED("program headers outside the file");
}

TEST(elf_parse_rejects_no_load)
{
	build();
	w16(E_PHNUM, 0);
	CHECK_REFUSED("no loadable segment");
	build();
	w32(ph(PH_R, P_TYPE), PT_NOTE);
	w32(ph(PH_RX, P_TYPE), PT_NOTE);
	w32(ph(PH_RELRO, P_TYPE), PT_NOTE);
	w32(ph(PH_DATA, P_TYPE), PT_NOTE);
	CHECK_REFUSED("no loadable segment");
}

TEST(elf_parse_rejects_too_many_loads)
{
	int i;

	build();
	w16(E_PHNUM, 0);
	for (i = 0; i <= ELF_MAX_SEGMENTS; i++)
		add_phdr(PT_LOAD, PF_R, (uint64_t)i * 0x1000, 0, 0x10);
	CHECK_REFUSED("too many loadable segments");
}

TEST(elf_parse_rejects_segment_outside_file)
{
	build();
	w64(ph(PH_DATA, P_FILESZ), FILE_SIZE - 0x3000 + 1);
	CHECK_REFUSED("segment data outside the file");
	build();
	w64(ph(PH_DATA, P_OFFSET), 0xfffffffffffffff0ull);
	w64(ph(PH_DATA, P_FILESZ), 0x20);
	CHECK_REFUSED("segment data outside the file");
	w64(ph(PH_DATA, P_OFFSET), 0x10);
	w64(ph(PH_DATA, P_FILESZ), ~0ull);
	w64(ph(PH_DATA, P_MEMSZ), ~0ull);
	CHECK_REFUSED("segment data outside the file");
}

TEST(elf_parse_allows_bss_only_segment_offset_past_file)
{
	struct elf_image img;

	build();
	w64(ph(PH_DATA, P_OFFSET), 0xfffffffffffffff0ull);
	w64(ph(PH_DATA, P_FILESZ), 0);
	CHECK_ACCEPTED(img);
	CHECK_EQ(img.segs[3].filesz, 0);
	CHECK_EQ(img.segs[3].offset, 0);
}

TEST(elf_parse_rejects_filesz_above_memsz)
{
	build();
	w64(ph(PH_DATA, P_MEMSZ), 0xff);
	CHECK_REFUSED("segment p_filesz > p_memsz");
}

TEST(elf_parse_rejects_empty_segment)
{
	build();
	w64(ph(PH_DATA, P_FILESZ), 0);
	w64(ph(PH_DATA, P_MEMSZ), 0);
	CHECK_REFUSED("empty loadable segment");
}

TEST(elf_parse_rejects_wrapping_segment)
{
	build();
	w64(ph(PH_DATA, P_VADDR), 0xfffffffffffff000ull);
	CHECK_REFUSED("segment address wraps");
	w64(ph(PH_DATA, P_VADDR), 0xffffffffffffff00ull);
	w64(ph(PH_DATA, P_MEMSZ), 0x100); /* ends at 2^64: its page end wraps */
	CHECK_REFUSED("segment address wraps");
	w64(ph(PH_DATA, P_VADDR), 0x3000);
	w64(ph(PH_DATA, P_MEMSZ), ~0ull - 0x1000);
	CHECK_REFUSED("segment address wraps");
}

TEST(elf_parse_rejects_overlap)
{
	build();
	w64(ph(PH_DATA, P_VADDR), 0x2fff);
	CHECK_REFUSED("segments overlap");
}

TEST(elf_parse_rejects_huge_image)
{
	build();
	w64(ph(PH_DATA, P_MEMSZ), ELF_MAX_SPAN);
	CHECK_REFUSED("image too large");
	build();
	w64(ph(PH_DATA, P_VADDR), 0x3000 + ELF_MAX_SPAN);
	CHECK_REFUSED("image too large");
}

TEST(elf_parse_rejects_writable_executable)
{
	build();
	w32(ph(PH_RX, P_FLAGS), PF_RX | ELF_PF_W);
	CHECK_REFUSED("segment is both writable and executable");
}

TEST(elf_parse_rejects_mixed_permissions_in_a_page)
{
	build();
	w64(ph(PH_R, P_FILESZ), 0xe00);
	w64(ph(PH_R, P_MEMSZ), 0xe00);
	set_phdr(PH_RX, PT_LOAD, PF_RX, 0xf00, 0x1100, 0x1100);
	CHECK_REFUSED("segments with different permissions share a page");
}

TEST(elf_parse_rejects_interp)
{
	build();
	add_phdr(PT_INTERP, PF_R, 0x200, 0x10, 0x10);
	CHECK_REFUSED("PT_INTERP: kernel must be static");
}

TEST(elf_parse_rejects_tls)
{
	build();
	add_phdr(PT_TLS, PF_R, 0x3000, 0x10, 0x20);
	CHECK_REFUSED("PT_TLS is not supported");
}

TEST(elf_parse_rejects_dynamic_outside_file)
{
	build();
	w64(ph(PH_DYN, P_OFFSET), FILE_SIZE - 8);
	CHECK_REFUSED("dynamic section outside the file");
	w64(ph(PH_DYN, P_OFFSET), 0xfffffffffffffff8ull);
	CHECK_REFUSED("dynamic section outside the file");
}

TEST(elf_parse_rejects_two_dynamic)
{
	build();
	add_phdr(PT_DYNAMIC, PF_RW, DYN_OFF, 16, 16);
	CHECK_REFUSED("more than one PT_DYNAMIC");
}

TEST(elf_parse_rejects_needed)
{
	build();
	add_dyn(DT_NEEDED, 1);
	CHECK_REFUSED("DT_NEEDED: kernel must be self-contained");
}

TEST(elf_parse_rejects_rel)
{
	build();
	add_dyn(DT_REL, RELA_OFF);
	CHECK_REFUSED("DT_REL relocations are not supported");
}

TEST(elf_parse_rejects_relr)
{
	build();
	add_dyn(DT_RELR, RELA_OFF);
	CHECK_REFUSED("DT_RELR relocations are not supported");
}

TEST(elf_parse_rejects_jmprel)
{
	build();
	add_dyn(DT_JMPREL, RELA_OFF);
	CHECK_REFUSED("PLT relocations (DT_JMPREL) are not supported");
}

TEST(elf_parse_rejects_textrel)
{
	build();
	add_dyn(DT_TEXTREL, 0);
	CHECK_REFUSED("DT_TEXTREL: text relocations are not allowed");
	build();
	add_dyn(DT_FLAGS, DF_TEXTREL);
	CHECK_REFUSED("DT_TEXTREL: text relocations are not allowed");
}

TEST(elf_parse_ignores_tags_after_null)
{
	struct elf_image img;

	build();
	w64(DYN_OFF + ndyn * 16 + 16, DT_NEEDED);
	w64(ph(PH_DYN, P_FILESZ), (ndyn + 2) * 16);
	CHECK_ACCEPTED(img);
}

TEST(elf_parse_rejects_bad_relaent)
{
	build();
	set_dyn(DT_RELAENT, 16);
	CHECK_REFUSED("bad DT_RELAENT");
	build();
	set_dyn(DT_RELAENT, 0);
	w64(DYN_OFF + 2 * 16, 0x6ffffff9); /* DT_RELACOUNT instead of DT_RELAENT */
	CHECK_REFUSED("bad DT_RELAENT");
}

TEST(elf_parse_rejects_bad_relasz)
{
	build();
	set_dyn(DT_RELASZ, NRELA * RELA_SIZE - 1);
	CHECK_REFUSED("bad DT_RELASZ");
}

TEST(elf_parse_rejects_rela_outside_file)
{
	build();
	set_dyn(DT_RELA, 0x9000);
	CHECK_REFUSED("relocation table outside the file");
	set_dyn(DT_RELA, 0x3800); /* in bss: no file bytes */
	CHECK_REFUSED("relocation table outside the file");
	set_dyn(DT_RELA, 0x3100 - RELA_SIZE);
	set_dyn(DT_RELASZ, 2 * RELA_SIZE); /* runs past the file-backed part */
	CHECK_REFUSED("relocation table outside the file");
	set_dyn(DT_RELA, RELA_OFF);
	set_dyn(DT_RELASZ, 0xfffffffffffffff0ull); /* 24 * 0x0aaaaaaaaaaaaaaa */
	CHECK_REFUSED("relocation table outside the file");
	set_dyn(DT_RELA, ~0ull - 8);
	set_dyn(DT_RELASZ, RELA_SIZE);
	CHECK_REFUSED("relocation table outside the file");
}

TEST(elf_parse_rejects_unsupported_reloc)
{
	build();
	set_rela(1, 0x2808, (1ull << 32) | R_X86_64_64, 0);
	CHECK_REFUSED("unsupported relocation type");
}

TEST(elf_parse_rejects_reloc_outside_image)
{
	build();
	set_rela(0, 0x1000, R_X86_64_RELATIVE, 0); /* executable, not writable */
	CHECK_REFUSED("relocation outside the image");
	set_rela(0, SPAN - 4, R_X86_64_RELATIVE, 0); /* straddles the end */
	CHECK_REFUSED("relocation outside the image");
	set_rela(0, ~0ull - 3, R_X86_64_RELATIVE, 0);
	CHECK_REFUSED("relocation outside the image");
	set_rela(0, 0x9000, R_X86_64_RELATIVE, 0);
	CHECK_REFUSED("relocation outside the image");
}

TEST(elf_parse_rejects_no_entry)
{
	build();
	w64(E_ENTRY, 0);
	CHECK_REFUSED("no entry point");
}

TEST(elf_parse_rejects_entry_outside_text)
{
	build();
	w64(E_ENTRY, 0x2000);
	CHECK_REFUSED("entry point not in an executable segment");
	w64(E_ENTRY, 0xfff);
	CHECK_REFUSED("entry point not in an executable segment");
}

TEST(elf_load_copies_and_zeroes_bss)
{
	struct elf_image img;
	uint8_t *dst;
	size_t i;

	build();
	CHECK_ACCEPTED(img);
	dst = malloc(img.span);
	memset(dst, 0x5a, img.span);
	elf_load(&img, dst);
	CHECK(memcmp(dst, buf, 0x3100) == 0);
	for (i = 0x3100; i < SPAN; i++)
		CHECK_EQ(dst[i], 0);
	free(dst);
}

TEST(elf_load_zeroes_gaps)
{
	struct elf_image img;
	uint8_t *dst;
	size_t i;

	build();
	w64(ph(PH_RX, P_FILESZ), 0x800);
	w64(ph(PH_RX, P_MEMSZ), 0x800);
	CHECK_ACCEPTED(img);
	dst = malloc(img.span);
	memset(dst, 0x5a, img.span);
	elf_load(&img, dst);
	CHECK_EQ(dst[0x17ff], 0xcc);
	for (i = 0x1800; i < 0x2000; i++)
		CHECK_EQ(dst[i], 0);
	free(dst);
}

/* Load and relocate at load_base an image built at link base base; check every word. */
static bool relocates_right(uint64_t base, uint64_t load_base)
{
	struct elf_image img;
	const char *why;
	uint64_t bias = load_base - base;
	uint8_t *dst, *ref;
	size_t i;
	bool ok;

	build_at(base);
	if (parse(&img, &why) != 0)
		return false;
	dst = malloc(img.span);
	ref = malloc(img.span);
	elf_load(&img, ref);
	elf_load(&img, dst);
	elf_relocate(&img, dst, load_base);
	ok = r64(dst, 0x2800) == bias + base + 0x1010 && r64(dst, 0x2808) == bias + base + 0x1040 &&
	     r64(dst, SPAN - 8) == bias + base + 0x3000;
	for (i = 0; i < img.span; i += 8) {
		if (i != 0x2800 && i != 0x2808 && i != SPAN - 8 && r64(dst, i) != r64(ref, i))
			ok = false;
	}
	free(dst);
	free(ref);
	return ok;
}

TEST(elf_relocate_writes_bias_plus_addend)
{
	CHECK(relocates_right(0, 0xffffc00000000000ull));
	CHECK(relocates_right(0x200000, 0xffffc00000000000ull));
	CHECK(relocates_right(0xffffffff80000000ull, 0xffffc00000000000ull));
	CHECK(relocates_right(0x400000, 0x1000)); /* negative bias */
}

TEST(elf_relocate_at_link_base_changes_nothing)
{
	struct elf_image img;
	const char *why;
	uint8_t *dst;

	build();
	CHECK_EQ(parse(&img, &why), 0);
	dst = malloc(img.span);
	elf_load(&img, dst);
	elf_relocate(&img, dst, 0);
	CHECK_EQ(r64(dst, 0x2800), 0x1010);
	CHECK_EQ(r64(dst, 0x2808), 0x1040);
	free(dst);
}

TEST(elf_find_symbol_finds_function)
{
	const char *name;
	uint64_t off;

	build();
	CHECK(find(0x1000, &name, &off));
	CHECK_STR(name, "kstart");
	CHECK_EQ(off, 0);
	CHECK(find(0x1010, &name, &off));
	CHECK_STR(name, "kstart");
	CHECK_EQ(off, 0x10);
	CHECK(find(0x105f, &name, &off));
	CHECK_STR(name, "helper");
	CHECK_EQ(off, 0x1f);
	CHECK(find(0x1100, &name, &off));
	CHECK_STR(name, "marker");
	CHECK_EQ(off, 0);
}

TEST(elf_find_symbol_misses_outside_functions)
{
	const char *name;
	uint64_t off;

	build();
	CHECK(!find(0x1060, &name, &off)); /* just past helper */
	CHECK(!find(0x1101, &name, &off)); /* marker has size 0 */
	CHECK(!find(0x2800, &name, &off)); /* an object, not a function */
	CHECK(!find(0xfff, &name, &off));
	CHECK(!find(0, &name, &off)); /* the null symbol is not a function */
	CHECK(name == NULL);
}

TEST(elf_find_symbol_prefers_innermost)
{
	const char *name;
	uint64_t off;

	build();
	set_sym(4, STR_TABLE, STT_FUNC, 0x1000, 0x1000); /* covers the whole text */
	CHECK(find(0x1050, &name, &off));
	CHECK_STR(name, "helper");
	CHECK(find(0x1080, &name, &off));
	CHECK_STR(name, "table");
	CHECK_EQ(off, 0x80);
}

TEST(elf_find_symbol_needs_section_headers)
{
	const char *name;
	uint64_t off;

	build();
	w16(E_SHNUM, 0);
	CHECK(!find(0x1010, &name, &off));
	build();
	w64(E_SHOFF, 0);
	CHECK(!find(0x1010, &name, &off));
	w64(E_SHOFF, 0xffffffffffffffc0ull);
	CHECK(!find(0x1010, &name, &off));
	build();
	img_size = SH_OFF + 2 * SHDR_SIZE; /* the string table's header is cut off */
	CHECK(!find(0x1010, &name, &off));
	img_size = 40;
	CHECK(!find(0x1010, &name, &off));
}

TEST(elf_find_symbol_checks_tables)
{
	const char *name;
	uint64_t off;

	build();
	w32(SH_OFF + SHDR_SIZE + SH_LINK, NSH); /* link past the section headers */
	CHECK(!find(0x1010, &name, &off));
	build();
	w32(SH_OFF + SHDR_SIZE + SH_LINK, 1); /* link to a non-STRTAB */
	CHECK(!find(0x1010, &name, &off));
	build();
	w64(SH_OFF + SHDR_SIZE + SH_OFFSET, 0xfffffffffffffff0ull);
	CHECK(!find(0x1010, &name, &off));
	build();
	w64(SH_OFF + 2 * SHDR_SIZE + SH_SIZE, ~0ull);
	CHECK(!find(0x1010, &name, &off));
	build();
	w64(SH_OFF + SHDR_SIZE + 56, 16); /* bad sh_entsize */
	CHECK(!find(0x1010, &name, &off));
}

TEST(elf_find_symbol_skips_bad_names)
{
	const char *name;
	uint64_t off;

	build();
	w32(SYM_OFF + SYM_SIZE, 0x1000); /* kstart's name index past the strings */
	CHECK(!find(0x1010, &name, &off));
	w32(SYM_OFF + SYM_SIZE, ~0u);
	CHECK(!find(0x1010, &name, &off));
	CHECK(find(0x1040, &name, &off));
	CHECK_STR(name, "helper");

	build();
	w64(SH_OFF + 2 * SHDR_SIZE + SH_SIZE, STR_MARKER + 3); /* "mar" then no NUL */
	CHECK(!find(0x1100, &name, &off));
	CHECK(find(0x1040, &name, &off));
	CHECK_STR(name, "helper");
}

/* elf_symtab_check() on an exact-size copy of the built image: NULL if usable, else why not. */
static const char *symtab_why(void)
{
	const char *why = NULL;
	int ret;

	free(heap);
	heap = malloc(img_size ? img_size : 1);
	memcpy(heap, buf, img_size);
	ret = elf_symtab_check(heap, img_size, &why);
	if ((ret == 0) != (why == NULL))
		return "(return value and reason disagree)";
	return why;
}

TEST(elf_symtab_check_says_why)
{
	build();
	CHECK(symtab_why() == NULL);
	img_size = 0x3100; /* cut after the last segment's file bytes */
	CHECK_STR(symtab_why(), "section headers past the end of the file");
	img_size = 40;
	CHECK_STR(symtab_why(), "no ELF header");
	build();
	buf[0] = 0;
	CHECK_STR(symtab_why(), "not a little-endian ELF64 file");
	build();
	w32(SH_OFF + SHDR_SIZE + 4, SHT_STRTAB); /* stripped: no SHT_SYMTAB left */
	CHECK_STR(symtab_why(), "no .symtab section");
	build();
	w64(SH_OFF + SHDR_SIZE + 56, 16);
	CHECK_STR(symtab_why(), "bad .symtab section header");
	build();
	w64(SH_OFF + SHDR_SIZE + SH_OFFSET, 0xfffffffffffffff0ull);
	CHECK_STR(symtab_why(), ".symtab past the end of the file");
	build();
	w32(SH_OFF + SHDR_SIZE + SH_LINK, 1);
	CHECK_STR(symtab_why(), ".symtab links to no string table");
	build();
	w64(SH_OFF + 2 * SHDR_SIZE + SH_SIZE, ~0ull);
	CHECK_STR(symtab_why(), "symbol names past the end of the file");
	build();
	w64(SH_OFF + SHDR_SIZE + SH_SIZE, 0);
	CHECK_STR(symtab_why(), "empty .symtab");
}

/* --- user programs (elf_check_user) ---------------------------------------- */

static uint8_t *read_file(const char *path, size_t *size);

#define USER_MAX_SPAN (1ull << 32) /* LAYOUT_USER_PROGRAM_EXTENT */

/* elf_check_user's verdict on the image in buf, which elf_parse must accept. */
static int check_user(uint64_t max_span, const char **why)
{
	struct elf_image img;

	*why = "";
	if (parse(&img, why))
		return -1;
	return elf_check_user(&img, max_span, why);
}

TEST(elf_check_user_accepts_image_at_0)
{
	const char *why;

	build();
	CHECK_EQ(check_user(USER_MAX_SPAN, &why), 0);
}

TEST(elf_check_user_rejects_link_base)
{
	const char *why;

	build_at(0x400000);
	CHECK_EQ(check_user(USER_MAX_SPAN, &why), -ENOEXEC);
	CHECK_STR(why, "user program not linked at 0");
}

TEST(elf_check_user_rejects_large_span)
{
	const char *why;

	build();
	CHECK_EQ(check_user(SPAN - 4096, &why), -ENOEXEC);
	CHECK_STR(why, "user program larger than its window");
	CHECK_EQ(check_user(SPAN, &why), 0);
}

TEST(elf_check_user_rejects_unreadable_segment)
{
	const char *why;

	build();
	set_phdr(PH_DATA, PT_LOAD, ELF_PF_W, 0x3000, 0x100, 0x2000);
	CHECK_EQ(check_user(USER_MAX_SPAN, &why), -ENOEXEC);
	CHECK_STR(why, "user segment not readable");
}

static const char *real_kernel;

/* The user programs next to the real kernel (build/user/NAME.elf) pass every rule. */
TEST(elf_check_user_real_programs)
{
	static const char *const names[] = {"hello", "utest"};
	char path[512];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct elf_image img;
		const char *why = "(no reason)";
		size_t size = 0;
		const char *slash = strrchr(real_kernel, '/');
		int dir = slash ? (int)(slash - real_kernel) : 1;
		uint8_t *file;

		snprintf(path, sizeof(path), "%.*s/user/%s.elf", dir, slash ? real_kernel : ".",
			 names[i]);
		file = read_file(path, &size);
		CHECK(file != NULL);
		CHECK_EQ(elf_parse(file, size, &img, &why), 0);
		CHECK_EQ(elf_check_user(&img, USER_MAX_SPAN, &why), 0);
		printf("# %s: %zu segments, span %#llx, %zu relocations\n", path, img.nsegs,
		       (unsigned long long)img.span, img.rela_count);
		free(file);
	}
}

/* Read a whole file into a heap buffer; NULL on failure. */
static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		p = malloc((size_t)n);
		if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		}
		*size = (size_t)n;
	}
	fclose(f);
	return p;
}

/* The end of the last loadable segment's bytes in the file. */
static size_t loads_end(const struct elf_image *img)
{
	uint64_t end = 0;

	for (size_t i = 0; i < img->nsegs; i++)
		end = MAX(end, img->segs[i].offset + img->segs[i].filesz);
	return (size_t)end;
}

TEST(elf_parse_real_kernel)
{
	struct elf_image img;
	const char *why = "(no reason)", *name = NULL;
	uint64_t off = ~0ull;
	size_t size = 0;
	uint8_t *file = read_file(real_kernel, &size), *dst;
	int ret;

	CHECK(file != NULL);
	ret = elf_parse(file, size, &img, &why);
	if (ret)
		printf("# refused: %s\n", why);
	CHECK_EQ(ret, 0);
	CHECK(elf_find_symbol(file, size, img.entry, &name, &off));
	CHECK_EQ(elf_symtab_check(file, size, &why), 0);
	/* Cut short after its last loadable segment: it boots, but has no names. */
	CHECK_EQ(elf_symtab_check(file, loads_end(&img), &why), -ENOEXEC);
	CHECK_STR(why, "section headers past the end of the file");
	printf("# %s: %zu segments, span %#llx, %zu relocations, entry %s+%#llx\n", real_kernel,
	       img.nsegs, (unsigned long long)img.span, img.rela_count, name,
	       (unsigned long long)off);
	dst = malloc(img.span);
	CHECK(dst != NULL);
	elf_load(&img, dst);
	elf_relocate(&img, dst, 0xffffc00000000000ull);
	free(dst);
	free(file);
}

int main(int argc, char **argv)
{
	RUN(elf_parse_accepts_valid_image);
	RUN(elf_parse_accepts_high_link_base);
	RUN(elf_parse_sorts_segments);
	RUN(elf_parse_without_dynamic_has_no_relocs);
	RUN(elf_parse_without_dt_rela_has_no_relocs);
	RUN(elf_parse_rounds_relro_inward);
	RUN(elf_parse_rejects_relro_outside_image);
	RUN(elf_parse_accepts_same_permissions_sharing_a_page);
	RUN(elf_parse_accepts_unaligned_buffer);
	RUN(elf_parse_rejects_short_file);
	RUN(elf_parse_rejects_bad_magic);
	RUN(elf_parse_rejects_bad_class);
	RUN(elf_parse_rejects_big_endian);
	RUN(elf_parse_rejects_bad_version);
	RUN(elf_parse_rejects_other_machine);
	RUN(elf_parse_rejects_non_pie);
	RUN(elf_parse_rejects_bad_phentsize);
	RUN(elf_parse_rejects_too_many_phdrs);
	RUN(elf_parse_rejects_phdrs_outside_file);
	RUN(elf_parse_rejects_no_load);
	RUN(elf_parse_rejects_too_many_loads);
	RUN(elf_parse_rejects_segment_outside_file);
	RUN(elf_parse_allows_bss_only_segment_offset_past_file);
	RUN(elf_parse_rejects_filesz_above_memsz);
	RUN(elf_parse_rejects_empty_segment);
	RUN(elf_parse_rejects_wrapping_segment);
	RUN(elf_parse_rejects_overlap);
	RUN(elf_parse_rejects_huge_image);
	RUN(elf_parse_rejects_writable_executable);
	RUN(elf_parse_rejects_mixed_permissions_in_a_page);
	RUN(elf_parse_rejects_interp);
	RUN(elf_parse_rejects_tls);
	RUN(elf_parse_rejects_dynamic_outside_file);
	RUN(elf_parse_rejects_two_dynamic);
	RUN(elf_parse_rejects_needed);
	RUN(elf_parse_rejects_rel);
	RUN(elf_parse_rejects_relr);
	RUN(elf_parse_rejects_jmprel);
	RUN(elf_parse_rejects_textrel);
	RUN(elf_parse_ignores_tags_after_null);
	RUN(elf_parse_rejects_bad_relaent);
	RUN(elf_parse_rejects_bad_relasz);
	RUN(elf_parse_rejects_rela_outside_file);
	RUN(elf_parse_rejects_unsupported_reloc);
	RUN(elf_parse_rejects_reloc_outside_image);
	RUN(elf_parse_rejects_no_entry);
	RUN(elf_parse_rejects_entry_outside_text);
	RUN(elf_load_copies_and_zeroes_bss);
	RUN(elf_load_zeroes_gaps);
	RUN(elf_relocate_writes_bias_plus_addend);
	RUN(elf_relocate_at_link_base_changes_nothing);
	RUN(elf_find_symbol_finds_function);
	RUN(elf_find_symbol_misses_outside_functions);
	RUN(elf_find_symbol_prefers_innermost);
	RUN(elf_find_symbol_needs_section_headers);
	RUN(elf_find_symbol_checks_tables);
	RUN(elf_find_symbol_skips_bad_names);
	RUN(elf_symtab_check_says_why);
	RUN(elf_check_user_accepts_image_at_0);
	RUN(elf_check_user_rejects_link_base);
	RUN(elf_check_user_rejects_large_span);
	RUN(elf_check_user_rejects_unreadable_segment);
	if (argc >= 2) {
		real_kernel = argv[1];
		RUN(elf_parse_real_kernel);
		RUN(elf_check_user_real_programs);
	}
	free(heap);
	return check_done();
}
