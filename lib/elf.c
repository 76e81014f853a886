/*
 * ELF64 support for the kernel image: owns the strict checks of an x86-64
 * PIE (elf_parse), copying it into place (elf_load), applying its
 * R_X86_64_RELATIVE relocations (elf_relocate) and function symbol lookup
 * (elf_find_symbol).
 *
 * The file is hostile and may be unaligned: every field is copied out with
 * memcpy and every offset and size is checked against the file, without
 * overflow, before it is used. Fields are ELFDATA2LSB and are read in host
 * byte order, so the host must be little-endian.
 */
#include <lib/elf.h>
#include <lib/elf_format.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <lib/types.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lib/elf.c reads little-endian ELF fields in host byte order"
#endif

/* State shared by the elf_parse() steps. */
struct parser {
	const uint8_t *file;
	size_t size;
	struct elf_image *img;
	struct elf64_ehdr eh;
	struct elf64_phdr dyn;	 /* PT_DYNAMIC, if have_dyn */
	struct elf64_phdr relro; /* PT_GNU_RELRO, if have_relro */
	bool have_dyn;
	bool have_relro;
	const char *why;
};

/* Records why the file is refused; returns -ENOEXEC. */
static int refuse(struct parser *p, const char *why)
{
	p->why = why;
	return -ENOEXEC;
}

/* Whether [off, off + len) lies inside a file of size bytes. */
static bool in_file(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

/* Whether [addr, addr + len), rounded up to a page, stays below 2^64. */
static bool addr_range_ok(uint64_t addr, uint64_t len)
{
	return addr <= UINT64_MAX - PAGE_MASK && len <= UINT64_MAX - PAGE_MASK - addr;
}

/* Whether addr..addr+7 lies inside [base, base + len). */
static bool holds_u64(uint64_t base, uint64_t len, uint64_t addr)
{
	return addr >= base && len >= 8 && addr - base <= len - 8;
}

/* Checks the ELF header and locates the program headers; returns 0 or -ENOEXEC. */
static int check_header(struct parser *p)
{
	const struct elf64_ehdr *eh = &p->eh;

	if (p->size < sizeof(*eh))
		return refuse(p, "file too small for an ELF header");
	memcpy(&p->eh, p->file, sizeof(p->eh));
	if (memcmp(eh->e_ident, "\177ELF", 4) != 0)
		return refuse(p, "bad ELF magic");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return refuse(p, "not a 64-bit ELF (ELFCLASS64)");
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return refuse(p, "not little-endian");
	if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
		return refuse(p, "bad ELF version");
	if (eh->e_machine != EM_X86_64)
		return refuse(p, "not an x86-64 ELF");
	if (eh->e_type != ET_DYN)
		return refuse(p, "not a PIE (ET_DYN) kernel");
	if (eh->e_phentsize != sizeof(struct elf64_phdr))
		return refuse(p, "bad program header size");
	if (eh->e_phnum > ELF_MAX_PHNUM)
		return refuse(p, "too many program headers");
	if (!in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(struct elf64_phdr), p->size))
		return refuse(p, "program headers outside the file");
	return 0;
}

/* Checks one PT_LOAD on its own and appends it to img->segs; returns 0 or -ENOEXEC. */
static int add_load(struct parser *p, const struct elf64_phdr *ph)
{
	struct elf_image *img = p->img;
	struct elf_segment *s;
	uint32_t flags = ph->p_flags & ELF_PF_RWX;

	if (img->nsegs == ELF_MAX_SEGMENTS)
		return refuse(p, "too many loadable segments");
	if (ph->p_filesz && !in_file(ph->p_offset, ph->p_filesz, p->size))
		return refuse(p, "segment data outside the file");
	if (ph->p_filesz > ph->p_memsz)
		return refuse(p, "segment p_filesz > p_memsz");
	if (ph->p_memsz == 0)
		return refuse(p, "empty loadable segment");
	if (!addr_range_ok(ph->p_vaddr, ph->p_memsz))
		return refuse(p, "segment address wraps");
	if ((flags & ELF_PF_W) && (flags & ELF_PF_X))
		return refuse(p, "segment is both writable and executable");

	s = &img->segs[img->nsegs++];
	s->vaddr = ph->p_vaddr;
	s->memsz = ph->p_memsz;
	s->offset = ph->p_filesz ? ph->p_offset : 0;
	s->filesz = ph->p_filesz;
	s->flags = flags;
	return 0;
}

/* Handles one program header of any type; returns 0 or -ENOEXEC. */
static int check_phdr(struct parser *p, const struct elf64_phdr *ph)
{
	switch (ph->p_type) {
	case PT_LOAD:
		return add_load(p, ph);
	case PT_INTERP:
		return refuse(p, "PT_INTERP: kernel must be static");
	case PT_TLS:
		return refuse(p, "PT_TLS is not supported");
	case PT_DYNAMIC:
		if (p->have_dyn)
			return refuse(p, "more than one PT_DYNAMIC");
		if (!in_file(ph->p_offset, ph->p_filesz, p->size))
			return refuse(p, "dynamic section outside the file");
		p->dyn = *ph;
		p->have_dyn = true;
		return 0;
	case PT_GNU_RELRO:
		if (p->have_relro)
			return refuse(p, "more than one PT_GNU_RELRO");
		p->relro = *ph;
		p->have_relro = true;
		return 0;
	default:
		return 0; /* PT_NOTE, PT_PHDR, PT_GNU_STACK, ...: nothing to check */
	}
}

/* Walks the program headers and sorts the PT_LOADs by vaddr; returns 0 or -ENOEXEC. */
static int check_phdrs(struct parser *p)
{
	struct elf_image *img = p->img;
	struct elf64_phdr ph;
	struct elf_segment tmp;
	size_t i, j;
	int ret;

	for (i = 0; i < p->eh.e_phnum; i++) {
		memcpy(&ph, p->file + p->eh.e_phoff + i * sizeof(ph), sizeof(ph));
		ret = check_phdr(p, &ph);
		if (ret)
			return ret;
	}
	if (img->nsegs == 0)
		return refuse(p, "no loadable segment");

	for (i = 1; i < img->nsegs; i++) {
		tmp = img->segs[i];
		for (j = i; j > 0 && img->segs[j - 1].vaddr > tmp.vaddr; j--)
			img->segs[j] = img->segs[j - 1];
		img->segs[j] = tmp;
	}
	return 0;
}

/* Whether the page-rounded ranges of two segments intersect. */
static bool share_page(const struct elf_segment *a, const struct elf_segment *b)
{
	return ALIGN_DOWN(a->vaddr, PAGE_SIZE) < ALIGN_UP(b->vaddr + b->memsz, PAGE_SIZE) &&
	       ALIGN_DOWN(b->vaddr, PAGE_SIZE) < ALIGN_UP(a->vaddr + a->memsz, PAGE_SIZE);
}

/* Checks how the sorted segments sit together and sets link_base and span. */
static int check_layout(struct parser *p)
{
	struct elf_image *img = p->img;
	const struct elf_segment *last = &img->segs[img->nsegs - 1];
	uint64_t end;
	size_t i, j;

	for (i = 1; i < img->nsegs; i++) {
		if (img->segs[i - 1].vaddr + img->segs[i - 1].memsz > img->segs[i].vaddr)
			return refuse(p, "segments overlap");
	}
	for (i = 0; i < img->nsegs; i++) {
		for (j = i + 1; j < img->nsegs; j++) {
			if (img->segs[i].flags != img->segs[j].flags &&
			    share_page(&img->segs[i], &img->segs[j]))
				return refuse(p,
					      "segments with different permissions share a page");
		}
	}

	/* Sorted and disjoint: the last segment ends highest. */
	img->link_base = ALIGN_DOWN(img->segs[0].vaddr, PAGE_SIZE);
	end = ALIGN_UP(last->vaddr + last->memsz, PAGE_SIZE);
	if (end - img->link_base > ELF_MAX_SPAN)
		return refuse(p, "image too large");
	img->span = end - img->link_base;
	return 0;
}

/* Records PT_GNU_RELRO rounded inward to pages; returns 0 or -ENOEXEC. */
static int check_relro(struct parser *p)
{
	struct elf_image *img = p->img;
	uint64_t start, end;

	if (!p->have_relro)
		return 0;
	if (!addr_range_ok(p->relro.p_vaddr, p->relro.p_memsz))
		return refuse(p, "PT_GNU_RELRO address wraps");
	start = ALIGN_UP(p->relro.p_vaddr, PAGE_SIZE);
	end = ALIGN_DOWN(p->relro.p_vaddr + p->relro.p_memsz, PAGE_SIZE);
	if (start >= end)
		return 0;
	if (start < img->link_base || end - img->link_base > img->span)
		return refuse(p, "PT_GNU_RELRO outside the image");
	img->relro_start = start;
	img->relro_end = end;
	return 0;
}

/* Checks that the entry point lies in an executable segment. */
static int check_entry(struct parser *p)
{
	struct elf_image *img = p->img;
	uint64_t entry = p->eh.e_entry;
	size_t i;

	if (entry == 0)
		return refuse(p, "no entry point");
	for (i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->segs[i];

		if ((s->flags & ELF_PF_X) && entry >= s->vaddr && entry - s->vaddr < s->memsz) {
			img->entry = entry;
			return 0;
		}
	}
	return refuse(p, "entry point not in an executable segment");
}

/* What PT_DYNAMIC says about the RELA table. */
struct rela_info {
	bool have_rela;
	bool have_relaent;
	uint64_t rela;
	uint64_t relasz;
	uint64_t relaent;
};

/* Checks one dynamic entry; sets *done at DT_NULL. Returns 0 or -ENOEXEC. */
static int check_dyn(struct parser *p, const struct elf64_dyn *d, struct rela_info *ri, bool *done)
{
	switch (d->d_tag) {
	case DT_NULL:
		*done = true;
		return 0;
	case DT_NEEDED:
		return refuse(p, "DT_NEEDED: kernel must be self-contained");
	case DT_REL:
		return refuse(p, "DT_REL relocations are not supported");
	case DT_RELR:
		return refuse(p, "DT_RELR relocations are not supported");
	case DT_JMPREL:
		return refuse(p, "PLT relocations (DT_JMPREL) are not supported");
	case DT_TEXTREL:
		return refuse(p, "DT_TEXTREL: text relocations are not allowed");
	case DT_FLAGS:
		if (d->d_val & DF_TEXTREL)
			return refuse(p, "DT_TEXTREL: text relocations are not allowed");
		return 0;
	case DT_RELA:
		ri->have_rela = true;
		ri->rela = d->d_val;
		return 0;
	case DT_RELASZ:
		ri->relasz = d->d_val;
		return 0;
	case DT_RELAENT:
		ri->have_relaent = true;
		ri->relaent = d->d_val;
		return 0;
	default:
		return 0;
	}
}

/* Finds the RELA table's file offset through the PT_LOAD that holds it. */
static int locate_rela(struct parser *p, const struct rela_info *ri)
{
	struct elf_image *img = p->img;
	size_t i;

	if (!ri->have_relaent || ri->relaent != sizeof(struct elf64_rela))
		return refuse(p, "bad DT_RELAENT");
	if (ri->relasz % sizeof(struct elf64_rela))
		return refuse(p, "bad DT_RELASZ");
	for (i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->segs[i];

		if (ri->rela >= s->vaddr && ri->relasz <= s->filesz &&
		    ri->rela - s->vaddr <= s->filesz - ri->relasz) {
			img->rela_offset = s->offset + (ri->rela - s->vaddr);
			img->rela_count = ri->relasz / sizeof(struct elf64_rela);
			return 0;
		}
	}
	return refuse(p, "relocation table outside the file");
}

/* Walks PT_DYNAMIC, refusing what the kernel cannot do, and locates the RELA table. */
static int check_dynamic(struct parser *p)
{
	struct rela_info ri = {0};
	struct elf64_dyn d;
	uint64_t i, n;
	bool done = false;
	int ret;

	if (!p->have_dyn)
		return 0;
	n = p->dyn.p_filesz / sizeof(d);
	for (i = 0; i < n && !done; i++) {
		memcpy(&d, p->file + p->dyn.p_offset + i * sizeof(d), sizeof(d));
		ret = check_dyn(p, &d, &ri, &done);
		if (ret)
			return ret;
	}
	if (!ri.have_rela)
		return 0;
	return locate_rela(p, &ri);
}

/* Whether the 8 bytes at link address addr lie inside one writable segment. */
static bool in_writable(const struct elf_image *img, uint64_t addr)
{
	size_t i;

	for (i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->segs[i];

		if ((s->flags & ELF_PF_W) && holds_u64(s->vaddr, s->memsz, addr))
			return true;
	}
	return false;
}

/* Checks every relocation's type and target; returns 0 or -ENOEXEC. */
static int check_relocs(struct parser *p)
{
	const struct elf_image *img = p->img;
	struct elf64_rela r;
	size_t i;

	for (i = 0; i < img->rela_count; i++) {
		memcpy(&r, p->file + img->rela_offset + i * sizeof(r), sizeof(r));
		if (ELF64_R_TYPE(r.r_info) == R_X86_64_NONE)
			continue;
		if (ELF64_R_TYPE(r.r_info) != R_X86_64_RELATIVE)
			return refuse(p, "unsupported relocation type");
		if (!in_writable(img, r.r_offset))
			return refuse(p, "relocation outside the image");
	}
	return 0;
}

/*
 * Runs every check in order; the first failure wins. On failure *img is
 * zeroed and *why (if why is not NULL) names the reason; on success *why is
 * left alone.
 */
int elf_parse(const void *file, size_t size, struct elf_image *img, const char **why)
{
	static int (*const steps[])(struct parser *) = {
	    check_header, check_phdrs,	 check_layout, check_relro,
	    check_entry,  check_dynamic, check_relocs,
	};
	struct parser p = {.file = file, .size = size, .img = img};
	size_t i;
	int ret;

	memset(img, 0, sizeof(*img));
	img->file = file;
	img->file_size = size;
	for (i = 0; i < ARRAY_SIZE(steps); i++) {
		ret = steps[i](&p);
		if (ret) {
			memset(img, 0, sizeof(*img));
			if (why)
				*why = p.why;
			return ret;
		}
	}
	return 0;
}

int elf_check_user(const struct elf_image *img, uint64_t max_span, const char **why)
{
	const char *reason = NULL;

	if (img->nsegs == 0)
		reason = "no loadable segment";
	else if (img->link_base != 0)
		reason = "user program not linked at 0";
	else if (img->span == 0 || img->span > max_span)
		reason = "user program larger than its window";
	for (size_t i = 0; !reason && i < img->nsegs; i++) {
		if (!(img->segs[i].flags & ELF_PF_R))
			reason = "user segment not readable";
	}
	if (!reason)
		return 0;
	if (why)
		*why = reason;
	return -ENOEXEC;
}

/* Zeroes dst[0..span) and copies each segment's file bytes into place. */
void elf_load(const struct elf_image *img, void *dst)
{
	uint8_t *d = dst;
	size_t i;

	memset(d, 0, img->span);
	for (i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->segs[i];

		if (s->filesz)
			memcpy(d + (s->vaddr - img->link_base), img->file + s->offset, s->filesz);
	}
}

/* Applies R_X86_64_RELATIVE (B + A) to the loaded copy; R_X86_64_NONE is skipped. */
void elf_relocate(const struct elf_image *img, void *dst, uint64_t load_base)
{
	uint8_t *d = dst;
	uint64_t bias = load_base - img->link_base;
	uint64_t val;
	struct elf64_rela r;
	size_t i;

	for (i = 0; i < img->rela_count; i++) {
		memcpy(&r, img->file + img->rela_offset + i * sizeof(r), sizeof(r));
		if (ELF64_R_TYPE(r.r_info) != R_X86_64_RELATIVE)
			continue;
		val = bias + (uint64_t)r.r_addend;
		memcpy(d + (r.r_offset - img->link_base), &val, sizeof(val));
	}
}

/* The symbols and strings of a checked SHT_SYMTAB. */
struct symtab {
	const uint8_t *syms;
	uint64_t nsyms;
	const char *strs;
	uint64_t strsz;
};

/* Copies section header i out of a table already checked to be in the file. */
static void read_shdr(const uint8_t *file, const struct elf64_ehdr *eh, uint64_t i,
		      struct elf64_shdr *sh)
{
	memcpy(sh, file + eh->e_shoff + i * sizeof(*sh), sizeof(*sh));
}

/* Finds the first SHT_SYMTAB and its string table; NULL, or why there is none usable. */
static const char *find_symtab(const uint8_t *file, size_t size, struct symtab *st)
{
	struct elf64_ehdr eh;
	struct elf64_shdr sh, str;
	uint64_t i;

	if (size < sizeof(eh))
		return "no ELF header";
	memcpy(&eh, file, sizeof(eh));
	if (memcmp(eh.e_ident, "\177ELF", 4) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_shentsize != sizeof(sh))
		return "not a little-endian ELF64 file";
	if (!in_file(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(sh), size))
		return "section headers past the end of the file";
	for (i = 0; i < eh.e_shnum; i++) {
		read_shdr(file, &eh, i, &sh);
		if (sh.sh_type == SHT_SYMTAB)
			break;
	}
	if (i == eh.e_shnum)
		return "no .symtab section";
	if (sh.sh_entsize != sizeof(struct elf64_sym) || sh.sh_link >= eh.e_shnum)
		return "bad .symtab section header";
	if (!in_file(sh.sh_offset, sh.sh_size, size))
		return ".symtab past the end of the file";
	read_shdr(file, &eh, sh.sh_link, &str);
	if (str.sh_type != SHT_STRTAB)
		return ".symtab links to no string table";
	if (!in_file(str.sh_offset, str.sh_size, size))
		return "symbol names past the end of the file";
	st->syms = file + sh.sh_offset;
	st->nsyms = sh.sh_size / sizeof(struct elf64_sym);
	st->strs = (const char *)file + str.sh_offset;
	st->strsz = str.sh_size;
	return st->nsyms ? NULL : "empty .symtab";
}

int elf_symtab_check(const void *file, size_t size, const char **why)
{
	struct symtab st;

	*why = find_symtab(file, size, &st);
	return *why ? -ENOEXEC : 0;
}

/* Whether sym is a defined function covering addr (a size of 0 covers one address). */
static bool sym_covers(const struct elf64_sym *sym, uint64_t addr)
{
	if (ELF64_ST_TYPE(sym->st_info) != STT_FUNC || sym->st_shndx == SHN_UNDEF ||
	    addr < sym->st_value)
		return false;
	if (sym->st_size == 0)
		return addr == sym->st_value;
	return addr - sym->st_value < sym->st_size;
}

/* The symbol's name if non-empty and NUL-terminated inside the string table, else NULL. */
static const char *sym_name(const struct symtab *st, const struct elf64_sym *sym)
{
	const char *name;
	uint64_t room;

	if (sym->st_name >= st->strsz)
		return NULL;
	name = st->strs + sym->st_name;
	room = st->strsz - sym->st_name;
	if (name[0] == '\0' || strnlen(name, room) == room)
		return NULL;
	return name;
}

/*
 * Looks addr up among the STT_FUNC symbols; if several cover it, the one
 * starting highest (then the first in the table) wins.
 */
bool elf_find_symbol(const void *file, size_t size, uint64_t addr, const char **name, uint64_t *off)
{
	struct symtab st;
	struct elf64_sym sym;
	const char *nm;
	uint64_t i, best = 0;
	bool found = false;

	if (find_symtab(file, size, &st))
		return false;
	for (i = 0; i < st.nsyms; i++) {
		memcpy(&sym, st.syms + i * sizeof(sym), sizeof(sym));
		if (!sym_covers(&sym, addr) || (found && sym.st_value <= best))
			continue;
		nm = sym_name(&st, &sym);
		if (!nm)
			continue;
		found = true;
		best = sym.st_value;
		*name = nm;
		*off = addr - best;
	}
	return found;
}
