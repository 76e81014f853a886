/*
 * Host tests for mm/bootmap.c: the loader's own code builds the
 * kernel's first page tables in a simulated physical memory (table frames
 * calloc'ed at a fake physical base, handed out by a bump allocator that can
 * be made to run out) for many seeded random plans, and every leaf is then
 * checked with effective permissions (W ANDed down the levels, NX ORed) to
 * prove W^X and the layout: kernel segments with their own permissions and
 * RELRO read-only, the direct map exactly over RAM, the boot stack with its
 * guard page, the framebuffer uncached, the trampoline alone in the lower
 * half. With a path in argv[1], the real kernel ELF there is mapped as well.
 */
#include <mm/bootmap.h>
#include <lib/elf.h>
#include <lib/errno.h>
#include <mm/layout.h>
#include <mm/memmap.h>

#include <stdarg.h>

#include "check.h"

#define P	       PAGE_SIZE
#define M2	       PAGE_SIZE_2M
#define G1	       PAGE_SIZE_1G
#define SIM_BASE       0x0000100000000000ull /* fake physical address of table frame 0 */
#define SIM_MAX_FRAMES 32768
#define RAW_MAX	       256
#define MAP_MAX	       1024
#define FLAG_MASK      (PT_WRITE | PT_EXEC | PT_USER | PT_GLOBAL | PT_UC)
#define RANDOM_PLANS   24

/* ---- simulated physical memory for table frames ------------------------ */

struct sim {
	struct pgtable pt;
	uint8_t *mem; /* SIM_MAX_FRAMES frames, the first `used` handed out */
	size_t used;  /* frames handed out, root included */
	size_t limit; /* alloc_table fails once used reaches this */
};

static struct sim sim;

static paddr_t sim_alloc(struct pgtable *pt)
{
	struct sim *s = pt->ctx;

	if (s->used >= s->limit || s->used >= SIM_MAX_FRAMES)
		return PADDR_INVALID;
	memset(s->mem + s->used * P, 0, P);
	return SIM_BASE + s->used++ * P;
}

static void sim_free(void)
{
	sim.used = 0;
}

/* A fresh, empty address space: the root frame plus at most limit - 1 tables. */
static struct pgtable *sim_new(size_t limit)
{
	sim_free();
	if (!sim.mem)
		sim.mem = malloc(SIM_MAX_FRAMES * P);
	if (!sim.mem)
		abort();
	sim.limit = SIM_MAX_FRAMES;
	sim.pt.table_base = (uintptr_t)sim.mem - SIM_BASE;
	sim.pt.alloc_table = sim_alloc;
	sim.pt.ctx = &sim;
	sim.pt.root = sim_alloc(&sim.pt);
	sim.limit = limit;
	return &sim.pt;
}

/* ---- failure messages from helpers and walk callbacks ------------------ */

static char why[512];

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
}

/* In a bool helper: record why and return false. */
#define VCHECK(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fail(__VA_ARGS__);                                                         \
			return false;                                                              \
		}                                                                                  \
	} while (0)

/* In a walk callback: record why and stop the walk. */
#define WCHECK(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fail(__VA_ARGS__);                                                         \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

/* In a test: fail it with the helper's reason. */
#define CHECK_OK(expr, label)                                                                      \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			check_fail(__FILE__, __LINE__, "%s: %s", label, why);                      \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define HX(v) ((unsigned long long)(v))

/* ---- plans --------------------------------------------------------------- */

struct config {
	struct elf_image img;
	struct memmap_entry raw[RAW_MAX];
	size_t nraw;
	struct memmap_entry map[MAP_MAX];
	size_t n;
	struct bootmap_plan plan;
};

static struct elf_image real_img;
static uint8_t *real_file;
static const char *real_kernel;

static uint64_t rnd(uint64_t n)
{
	return n ? rng() % n : 0;
}

static bool chance(unsigned int pct)
{
	return rnd(100) < pct;
}

/* Append a segment of pages pages at *a (its memsz ends inside the last page). */
static void add_seg(struct elf_image *img, uint64_t *a, uint64_t pages, uint32_t flags)
{
	struct elf_segment *s = &img->segs[img->nsegs++];

	s->vaddr = *a;
	s->memsz = (pages - 1) * P + 1 + rnd(P);
	s->filesz = (flags & ELF_PF_W) ? s->memsz / 2 : s->memsz;
	s->offset = *a - img->link_base;
	s->flags = flags;
	*a += pages * P;
}

/*
 * A kernel image like the linker makes: rodata R, text R-X, a RW segment
 * starting with RELRO, RW data + bss; page aligned, sorted, non-overlapping.
 */
static void make_image(struct elf_image *img)
{
	uint64_t base = chance(20) ? (1 + rnd(64)) * M2 : 0;
	uint64_t a = base, text, relro_seg, pages;

	memset(img, 0, sizeof(*img));
	img->link_base = base;
	add_seg(img, &a, 1 + rnd(8), ELF_PF_R);
	if (chance(30))
		a += (1 + rnd(3)) * P;
	text = a;
	add_seg(img, &a, 1 + rnd(64), ELF_PF_R | ELF_PF_X);
	relro_seg = a;
	pages = 1 + rnd(6);
	add_seg(img, &a, pages, ELF_PF_R | ELF_PF_W);
	if (chance(85)) {
		/* Usually from the segment's start; sometimes a page in, so all three parts occur.
		 */
		uint64_t skip = (pages > 1 && chance(25)) ? 1 : 0;
		img->relro_start = relro_seg + skip * P;
		img->relro_end = img->relro_start + (1 + rnd(pages - skip)) * P;
	}
	if (chance(85))
		add_seg(img, &a, 1 + rnd(32), ELF_PF_R | ELF_PF_W);
	img->span = a - base;
	img->entry = text;
}

static const uint32_t firmware_types[] = {
    MEMMAP_USABLE,	  MEMMAP_USABLE,     MEMMAP_USABLE,	  MEMMAP_BOOT_SERVICES,
    MEMMAP_BOOT_SERVICES, MEMMAP_LOADER,     MEMMAP_ACPI_RECLAIM, MEMMAP_ACPI_NVS,
    MEMMAP_RUNTIME,	  MEMMAP_PERSISTENT, MEMMAP_UNUSABLE,	  MEMMAP_RESERVED,
    MEMMAP_MMIO,	  MEMMAP_NONE,
};

static uint32_t random_type(void)
{
	return firmware_types[rnd(ARRAY_SIZE(firmware_types))];
}

static void add_raw(struct config *c, uint64_t base, uint64_t len, uint32_t type)
{
	if (c->nraw < RAW_MAX)
		c->raw[c->nraw++] = (struct memmap_entry){base, len, type, 0};
}

/*
 * A raw firmware-like map: runs of every type from 4 KiB to a few GiB, with
 * holes, 2 MiB / 1 GiB aligned runs, unaligned and overlapping entries.
 * Returns the highest address reached.
 */
static uint64_t make_raw(struct config *c)
{
	uint64_t pos = 0;
	int count = 6 + (int)rnd(40);

	c->nraw = 0;
	if (chance(50)) { /* the classic PC low memory */
		add_raw(c, 0, 0x9fc00, MEMMAP_USABLE);
		add_raw(c, 0x9fc00, 0x60400, MEMMAP_RESERVED);
		pos = 0x100000;
	}
	for (int i = 0; i < count && pos < 48 * G1; i++) {
		unsigned int gap = (unsigned int)rnd(100);
		unsigned int kind = (unsigned int)rnd(100);
		uint64_t len, b, l;

		if (gap < 15)
			pos += (1 + rnd(64)) * P;
		else if (gap < 22)
			pos += (1 + rnd(64)) * MiB;
		else if (gap < 26)
			pos = ALIGN_UP(pos + 1, G1);
		else if (gap < 29)
			pos = MAX(pos, 4 * G1);
		if (kind < 35) {
			len = (1 + rnd(64)) * P;
		} else if (kind < 60) {
			len = (1 + rnd(512 * 256)) * P;
		} else if (kind < 80) {
			pos = ALIGN_UP(pos, M2);
			len = (1 + rnd(512)) * M2;
		} else {
			pos = ALIGN_UP(pos, G1);
			len = (1 + rnd(4)) * G1;
		}
		b = pos;
		l = len;
		if (chance(10) && len > 2 * P) { /* unaligned: normalise rounds it */
			b += rnd(P);
			l = len - (b - pos) - rnd(P);
		}
		add_raw(c, b, l, random_type());
		if (chance(10) && len > 2 * P) /* overlapping: precedence decides */
			add_raw(c, pos + rnd(len / P) * P, (1 + rnd(4)) * P, random_type());
		if (chance(3))
			add_raw(c, pos, 0, random_type());
		pos += len;
	}
	return pos;
}

static void normalise(struct config *c)
{
	int k = memmap_normalise(c->raw, c->nraw, c->map, MAP_MAX);

	if (k <= 0 || !memmap_is_normalised(c->map, (size_t)k)) {
		fprintf(stderr, "memmap_normalise failed: %d\n", k);
		abort();
	}
	c->n = (size_t)k;
}

/*
 * Carve size bytes (align-aligned, ending below limit) out of a random usable
 * entry and label them type, as the loader does. PADDR_INVALID if none fits.
 */
static paddr_t place(struct config *c, uint64_t size, uint64_t align, uint32_t type, uint64_t limit)
{
	paddr_t found = PADDR_INVALID;
	unsigned int seen = 0;

	size = ALIGN_UP(size, P);
	for (size_t i = 0; i < c->n; i++) {
		uint64_t lo = ALIGN_UP(c->map[i].base, align);
		uint64_t hi = MIN(c->map[i].base + c->map[i].length, limit);
		if (c->map[i].type != MEMMAP_USABLE || lo >= hi || hi - lo < size)
			continue;
		if (rnd(++seen) == 0)
			found = lo + rnd((hi - lo - size) / align + 1) * align;
	}
	if (found != PADDR_INVALID && memmap_set_type(c->map, &c->n, MAP_MAX, found, size, type)) {
		fprintf(stderr, "memmap_set_type failed\n");
		abort();
	}
	return found;
}

static uint64_t ram_top(const struct config *c)
{
	uint64_t top = 0;

	for (size_t i = 0; i < c->n; i++)
		if (memmap_type_is_ram(c->map[i].type))
			top = c->map[i].base + c->map[i].length;
	return top;
}

/* Direct map base: 2 MiB aligned (sometimes 1 GiB), RAM top inside the window. */
static vaddr_t random_direct_map_base(const struct config *c, bool gig)
{
	uint64_t room = LAYOUT_DIRECT_MAP_SIZE - ALIGN_UP(ram_top(c), G1);

	return LAYOUT_DIRECT_MAP_START + ALIGN_DOWN(rnd(room), gig ? G1 : M2);
}

/* Stack, framebuffer virtual placement and the rest of the plan around the map. */
static void plan_common(struct config *c)
{
	struct bootmap_plan *p = &c->plan;
	uint64_t span = c->img.span;

	p->kernel = &c->img;
	p->map = c->map;
	p->map_count = c->n;
	p->kernel_virt = LAYOUT_KERNEL_START + rnd((LAYOUT_KERNEL_SIZE - span) / P) * P;
	if (chance(30))
		p->kernel_virt = ALIGN_DOWN(p->kernel_virt, M2);
	p->stack_bottom =
	    LAYOUT_STACK_START + P + rnd((LAYOUT_STACK_EXTENT - BOOT_STACK_SIZE - 2 * P) / P) * P;
	p->stack_size = BOOT_STACK_SIZE;
	if (p->fb_size)
		p->fb_virt = LAYOUT_MMIO_START + P +
			     rnd((LAYOUT_MMIO_EXTENT - p->fb_size - 3 * P) / P) * P +
			     (p->fb_phys & PAGE_MASK);
}

/* A random plan as the loader makes one; kernel NULL means a hand-made image. */
static void make_config(struct config *c, const struct elf_image *kernel)
{
	struct bootmap_plan *p = &c->plan;
	uint64_t top, span;

	memset(p, 0, sizeof(*p));
	if (kernel)
		c->img = *kernel;
	else
		make_image(&c->img);
	span = c->img.span;
	top = make_raw(c);
	if (chance(90)) {
		p->fb_phys = ALIGN_DOWN(rnd(top + 4 * G1), P);
		if (chance(30))
			p->fb_phys += rnd(P) & ~3ull;
		p->fb_size = (640 + rnd(3200)) * (480 + rnd(1700)) * 4;
		add_raw(c, p->fb_phys, p->fb_size, MEMMAP_MMIO);
	}
	normalise(c);
	p->kernel_phys = place(c, span, chance(50) ? M2 : P, MEMMAP_KERNEL, UINT64_MAX);
	if (p->kernel_phys == PADDR_INVALID) {
		add_raw(c, ALIGN_UP(top, G1) + G1, 64 * MiB, MEMMAP_USABLE);
		normalise(c);
		p->kernel_phys = place(c, span, M2, MEMMAP_KERNEL, UINT64_MAX);
	}
	p->stack_phys = place(c, BOOT_STACK_SIZE, P, MEMMAP_BOOTDATA, UINT64_MAX);
	if (p->stack_phys == PADDR_INVALID)
		p->stack_phys = ALIGN_DOWN(rnd(top), P);
	p->trampoline = place(c, P, P, MEMMAP_LOADER, 4 * G1);
	if (p->trampoline == PADDR_INVALID)
		p->trampoline = (1 + rnd(255)) * P;
	if (p->kernel_phys == PADDR_INVALID) {
		fprintf(stderr, "no room for the kernel\n");
		abort();
	}
	p->huge_1g = chance(50);
	plan_common(c);
	p->direct_map_base = random_direct_map_base(c, chance(30));
}

/* ---- the expected layout ------------------------------------------------- */

/* The flags the kernel page at link address la must have; false if unmapped. */
static bool kernel_page(const struct elf_image *img, uint64_t la, uint32_t *flags)
{
	for (size_t i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->segs[i];
		if (la < ALIGN_DOWN(s->vaddr, P) || la >= ALIGN_UP(s->vaddr + s->memsz, P))
			continue;
		*flags = PT_GLOBAL;
		if ((s->flags & ELF_PF_W) && !(la >= img->relro_start && la < img->relro_end))
			*flags |= PT_WRITE;
		if (s->flags & ELF_PF_X)
			*flags |= PT_EXEC;
		return true;
	}
	return false;
}

static const char *const mapping_names[] = {
    "kernel segment", "kernel data", "kernel relro", "direct map",
    "boot stack",     "framebuffer", "trampoline",
};

static bool known_name(const char *what)
{
	for (size_t i = 0; what && i < ARRAY_SIZE(mapping_names); i++)
		if (strcmp(what, mapping_names[i]) == 0)
			return true;
	return false;
}

/* ---- the log callback ---------------------------------------------------- */

static uint64_t log_bytes;
static size_t log_calls;
static bool log_bad;

static void log_mapping(const char *what, vaddr_t va, paddr_t pa, uint64_t size)
{
	(void)va;
	(void)pa;
	if (!known_name(what) || size == 0 || !IS_ALIGNED(size, P))
		log_bad = true;
	log_bytes += size;
	log_calls++;
}

static int build(const struct config *c, size_t limit, const char **what)
{
	log_bytes = 0;
	log_calls = 0;
	log_bad = false;
	*what = NULL;
	return bootmap_build(sim_new(limit), &c->plan, log_mapping, what);
}

/* ---- walking the result -------------------------------------------------- */

struct range {
	uint64_t start, end;
};

struct walk {
	const struct config *c;
	struct range *dm; /* direct-map leaves, merged, as physical ranges */
	size_t ndm, capdm;
	size_t n4k, n2m, n1g;	 /* all leaves */
	size_t dm4k, dm2m, dm1g; /* direct-map leaves */
	uint64_t bytes;		 /* mapped in all */
	uint64_t kernel_bytes, stack_bytes, fb_bytes, trampoline_bytes;
};

static struct walk walk_state;

/* [va, va + size) inside [start, start + len), without overflow at the top of the space. */
static bool inside(vaddr_t va, uint64_t size, vaddr_t start, uint64_t len)
{
	return LAYOUT_IN_WINDOW(va, size, start, len);
}

static int leaf_dm(struct walk *w, const struct pt_leaf *l)
{
	const struct bootmap_plan *p = &w->c->plan;

	WCHECK(l->va >= p->direct_map_base && l->va - p->direct_map_base == l->pa,
	       "direct-map leaf %#llx -> %#llx is not base %#llx + pa", HX(l->va), HX(l->pa),
	       HX(p->direct_map_base));
	WCHECK((l->flags & FLAG_MASK) == (PT_WRITE | PT_GLOBAL),
	       "direct-map leaf %#llx has flags %#x, want RW- NX global", HX(l->va), l->flags);
	w->dm4k += l->size == P;
	w->dm2m += l->size == M2;
	w->dm1g += l->size == G1;
	if (w->ndm && w->dm[w->ndm - 1].end == l->pa) {
		w->dm[w->ndm - 1].end += l->size;
		return 0;
	}
	if (w->ndm == w->capdm) {
		w->capdm = w->capdm ? 2 * w->capdm : 64;
		w->dm = realloc(w->dm, w->capdm * sizeof(*w->dm));
		if (!w->dm)
			abort();
	}
	w->dm[w->ndm++] = (struct range){l->pa, l->pa + l->size};
	return 0;
}

static int leaf_kernel(struct walk *w, const struct pt_leaf *l)
{
	const struct bootmap_plan *p = &w->c->plan;
	const struct elf_image *img = p->kernel;
	uint32_t want;

	WCHECK(inside(l->va, l->size, p->kernel_virt, img->span),
	       "kernel-window leaf %#llx+%#llx outside the image at %#llx", HX(l->va), HX(l->size),
	       HX(p->kernel_virt));
	WCHECK(l->pa == p->kernel_phys + (l->va - p->kernel_virt),
	       "kernel leaf %#llx -> %#llx, want %#llx", HX(l->va), HX(l->pa),
	       HX(p->kernel_phys + (l->va - p->kernel_virt)));
	for (uint64_t off = 0; off < l->size; off += P) {
		uint64_t la = img->link_base + (l->va - p->kernel_virt) + off;
		WCHECK(kernel_page(img, la, &want),
		       "kernel link address %#llx mapped outside segments", HX(la));
		WCHECK((l->flags & FLAG_MASK) == want,
		       "kernel link address %#llx has flags %#x, want %#x", HX(la), l->flags, want);
	}
	w->kernel_bytes += l->size;
	return 0;
}

/* Every leaf: effective W^X and supervisor, then the rules of its window. */
static int check_leaf(const struct pt_leaf *l, void *arg)
{
	struct walk *w = arg;
	const struct bootmap_plan *p = &w->c->plan;

	WCHECK(!((l->flags & PT_WRITE) && (l->flags & PT_EXEC)),
	       "leaf %#llx -> %#llx is writable and executable", HX(l->va), HX(l->pa));
	WCHECK(!(l->flags & PT_USER), "leaf %#llx is user accessible", HX(l->va));
	WCHECK(l->size == P || l->size == M2 || l->size == G1, "leaf %#llx has size %#llx",
	       HX(l->va), HX(l->size));
	w->n4k += l->size == P;
	w->n2m += l->size == M2;
	w->n1g += l->size == G1;
	w->bytes += l->size;
	if (l->va < LAYOUT_LOWER_HALF_END) {
		WCHECK(l->va == p->trampoline && l->pa == p->trampoline && l->size == P,
		       "lower-half leaf %#llx -> %#llx size %#llx is not the trampoline %#llx",
		       HX(l->va), HX(l->pa), HX(l->size), HX(p->trampoline));
		WCHECK((l->flags & (PT_WRITE | PT_EXEC | PT_UC)) == PT_EXEC,
		       "trampoline has flags %#x, want R-X", l->flags);
		w->trampoline_bytes += l->size;
		return 0;
	}
	if (inside(l->va, l->size, LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE))
		return leaf_dm(w, l);
	if (inside(l->va, l->size, LAYOUT_KERNEL_START, LAYOUT_KERNEL_SIZE))
		return leaf_kernel(w, l);
	if (inside(l->va, l->size, LAYOUT_STACK_START, LAYOUT_STACK_SIZE)) {
		WCHECK(inside(l->va, l->size, p->stack_bottom, p->stack_size),
		       "stack-window leaf %#llx outside the boot stack %#llx", HX(l->va),
		       HX(p->stack_bottom));
		WCHECK(l->pa == p->stack_phys + (l->va - p->stack_bottom),
		       "stack leaf %#llx -> %#llx", HX(l->va), HX(l->pa));
		WCHECK((l->flags & (PT_WRITE | PT_EXEC | PT_UC)) == PT_WRITE,
		       "stack leaf %#llx has flags %#x, want RW- NX", HX(l->va), l->flags);
		w->stack_bytes += l->size;
		return 0;
	}
	if (inside(l->va, l->size, LAYOUT_MMIO_START, LAYOUT_MMIO_SIZE)) {
		vaddr_t v0 = ALIGN_DOWN(p->fb_virt, P);
		WCHECK(p->fb_size &&
			   inside(l->va, l->size, v0, ALIGN_UP(p->fb_virt + p->fb_size, P) - v0),
		       "MMIO-window leaf %#llx outside the framebuffer", HX(l->va));
		WCHECK(l->pa == ALIGN_DOWN(p->fb_phys, P) + (l->va - v0),
		       "framebuffer leaf %#llx -> %#llx", HX(l->va), HX(l->pa));
		WCHECK((l->flags & (PT_WRITE | PT_EXEC | PT_UC)) == (PT_WRITE | PT_UC),
		       "framebuffer leaf %#llx has flags %#x, want RW- NX uncached", HX(l->va),
		       l->flags);
		w->fb_bytes += l->size;
		return 0;
	}
	fail("leaf %#llx -> %#llx outside every window", HX(l->va), HX(l->pa));
	return 1;
}

static struct walk *walk_all(const struct config *c)
{
	struct walk *w = &walk_state;
	struct range *dm = w->dm;
	size_t cap = w->capdm;

	memset(w, 0, sizeof(*w));
	w->dm = dm;
	w->capdm = cap;
	w->c = c;
	if (pt_walk(&sim.pt, check_leaf, w) != 0)
		return NULL;
	return w;
}

/* Translate va; pa and effective flags of that very byte. */
static bool xlate(vaddr_t va, paddr_t *pa, uint32_t *flags)
{
	struct pt_leaf leaf;

	if (!pt_translate(&sim.pt, va, &leaf))
		return false;
	*pa = leaf.pa + (va - leaf.va);
	*flags = leaf.flags & FLAG_MASK;
	return true;
}

static bool unmapped(vaddr_t va)
{
	paddr_t pa;
	uint32_t flags;

	return !xlate(va, &pa, &flags);
}

/* The page at physical pg through the direct map: mapped to itself iff RAM. */
static bool dm_page(const struct config *c, uint64_t pg, bool ram)
{
	uint64_t off = rnd(P);
	vaddr_t va = c->plan.direct_map_base + pg + off;
	paddr_t pa;
	uint32_t flags;

	if (!ram) {
		if (!inside(va, 1, LAYOUT_DIRECT_MAP_START, LAYOUT_DIRECT_MAP_SIZE))
			return true; /* beyond the window: some other region's business */
		VCHECK(!xlate(va, &pa, &flags), "non-RAM page %#llx is in the direct map", HX(pg));
		return true;
	}
	VCHECK(xlate(va, &pa, &flags), "RAM page %#llx is missing from the direct map", HX(pg));
	VCHECK(pa == pg + off, "direct map of %#llx leads to %#llx", HX(pg + off), HX(pa));
	VCHECK(flags == (PT_WRITE | PT_GLOBAL), "direct map of %#llx has flags %#x", HX(pg), flags);
	return true;
}

/* Walked direct-map leaves, merged, equal the RAM runs of the map exactly. */
static bool check_direct_exact(const struct config *c, const struct walk *w)
{
	size_t r = 0;

	for (size_t i = 0; i < c->n;) {
		uint64_t start, end;
		if (!memmap_type_is_ram(c->map[i].type)) {
			i++;
			continue;
		}
		start = c->map[i].base;
		end = start + c->map[i].length;
		for (i++; i < c->n && c->map[i].base == end && memmap_type_is_ram(c->map[i].type);
		     i++)
			end += c->map[i].length;
		VCHECK(r < w->ndm, "RAM run [%#llx, %#llx) is not direct-mapped", HX(start),
		       HX(end));
		VCHECK(w->dm[r].start == start && w->dm[r].end == end,
		       "direct map covers [%#llx, %#llx), RAM run is [%#llx, %#llx)",
		       HX(w->dm[r].start), HX(w->dm[r].end), HX(start), HX(end));
		r++;
	}
	VCHECK(r == w->ndm, "direct map covers [%#llx, %#llx) which is no RAM", HX(w->dm[r].start),
	       HX(w->dm[r].end));
	return true;
}

/* Sampled translations: RAM pages (first, last, random) map to themselves; others do not. */
static bool check_direct_sampled(const struct config *c)
{
	uint64_t prev_end = 0;

	for (size_t i = 0; i < c->n; i++) {
		const struct memmap_entry *e = &c->map[i];
		uint64_t end = e->base + e->length;
		bool ram = memmap_type_is_ram(e->type);
		if (e->base > prev_end) { /* a hole */
			if (!dm_page(c, prev_end, false) || !dm_page(c, e->base - P, false))
				return false;
		}
		if (!dm_page(c, e->base, ram) || !dm_page(c, end - P, ram))
			return false;
		for (int k = 0; k < 6; k++)
			if (!dm_page(c, e->base + rnd(e->length / P) * P, ram))
				return false;
		if (ALIGN_UP(e->base, M2) < end && !dm_page(c, ALIGN_UP(e->base, M2), ram))
			return false;
		prev_end = end;
	}
	return dm_page(c, prev_end, false) && dm_page(c, ALIGN_UP(prev_end, G1) + 5 * P, false);
}

/* Every page of the image by translation, and nothing just outside it. */
static bool check_kernel_pages(const struct config *c)
{
	const struct bootmap_plan *p = &c->plan;
	const struct elf_image *img = p->kernel;
	uint64_t mapped = 0;

	for (uint64_t off = 0; off < img->span; off += P) {
		uint64_t in = rnd(P);
		uint32_t want, flags;
		paddr_t pa;
		if (!kernel_page(img, img->link_base + off, &want)) {
			VCHECK(unmapped(p->kernel_virt + off),
			       "kernel gap page at link %#llx is mapped", HX(img->link_base + off));
			continue;
		}
		VCHECK(xlate(p->kernel_virt + off + in, &pa, &flags),
		       "kernel page at link %#llx is unmapped", HX(img->link_base + off));
		VCHECK(pa == p->kernel_phys + off + in, "kernel page at link %#llx -> %#llx",
		       HX(img->link_base + off), HX(pa));
		VCHECK(flags == want, "kernel page at link %#llx has flags %#x, want %#x",
		       HX(img->link_base + off), flags, want);
		mapped += P;
	}
	VCHECK(mapped == walk_state.kernel_bytes, "walk saw %#llx kernel bytes, pages %#llx",
	       HX(walk_state.kernel_bytes), HX(mapped));
	VCHECK(p->kernel_virt == LAYOUT_KERNEL_START || unmapped(p->kernel_virt - P),
	       "page below the kernel is mapped");
	VCHECK(unmapped(p->kernel_virt + img->span), "page above the kernel is mapped");
	return true;
}

static bool check_stack(const struct config *c)
{
	const struct bootmap_plan *p = &c->plan;
	paddr_t pa;
	uint32_t flags;

	VCHECK(unmapped(p->stack_bottom - P), "the stack guard page %#llx is mapped",
	       HX(p->stack_bottom - P));
	VCHECK(unmapped(p->stack_bottom - 1), "the stack guard page's last byte is mapped");
	for (uint64_t off = 0; off < p->stack_size; off += P) {
		VCHECK(xlate(p->stack_bottom + off + 8, &pa, &flags), "stack page +%#llx unmapped",
		       HX(off));
		VCHECK(pa == p->stack_phys + off + 8, "stack page +%#llx -> %#llx", HX(off),
		       HX(pa));
		VCHECK((flags & (PT_WRITE | PT_EXEC | PT_USER)) == PT_WRITE,
		       "stack page +%#llx has flags %#x, want RW- NX", HX(off), flags);
	}
	VCHECK(unmapped(p->stack_bottom + p->stack_size), "the page above the stack is mapped");
	VCHECK(walk_state.stack_bytes == p->stack_size, "walk saw %#llx stack bytes",
	       HX(walk_state.stack_bytes));
	return true;
}

static bool check_framebuffer(const struct config *c)
{
	const struct bootmap_plan *p = &c->plan;
	vaddr_t v0 = ALIGN_DOWN(p->fb_virt, P), v1 = ALIGN_UP(p->fb_virt + p->fb_size, P);
	paddr_t pa;
	uint32_t flags;

	if (!p->fb_size) {
		VCHECK(walk_state.fb_bytes == 0, "framebuffer mapped without one");
		return true;
	}
	VCHECK(xlate(p->fb_virt, &pa, &flags) && pa == p->fb_phys,
	       "framebuffer start %#llx does not lead to %#llx", HX(p->fb_virt), HX(p->fb_phys));
	VCHECK(xlate(p->fb_virt + p->fb_size - 1, &pa, &flags) && pa == p->fb_phys + p->fb_size - 1,
	       "framebuffer's last byte is not mapped to its place");
	for (vaddr_t va = v0; va < v1; va += P) {
		VCHECK(xlate(va, &pa, &flags), "framebuffer page %#llx unmapped", HX(va));
		VCHECK(pa == ALIGN_DOWN(p->fb_phys, P) + (va - v0),
		       "framebuffer page %#llx -> %#llx", HX(va), HX(pa));
		VCHECK((flags & (PT_WRITE | PT_EXEC | PT_USER | PT_UC)) == (PT_WRITE | PT_UC),
		       "framebuffer page %#llx has flags %#x, want RW- NX uncached", HX(va), flags);
	}
	VCHECK(unmapped(v0 - P) && unmapped(v1), "pages around the framebuffer are mapped");
	VCHECK(walk_state.fb_bytes == v1 - v0, "walk saw %#llx framebuffer bytes",
	       HX(walk_state.fb_bytes));
	return true;
}

static bool check_trampoline(const struct config *c)
{
	paddr_t t = c->plan.trampoline, pa;
	uint32_t flags;

	VCHECK(xlate(t + 0x10, &pa, &flags), "trampoline %#llx unmapped", HX(t));
	VCHECK(pa == t + 0x10, "trampoline is not identity-mapped");
	VCHECK((flags & (PT_WRITE | PT_EXEC | PT_USER)) == PT_EXEC,
	       "trampoline has flags %#x, want R-X", flags);
	VCHECK(t == 0 || unmapped(t - P), "page below the trampoline is mapped");
	VCHECK(unmapped(t + P), "page above the trampoline is mapped");
	VCHECK(walk_state.trampoline_bytes == P, "walk saw %#llx lower-half bytes",
	       HX(walk_state.trampoline_bytes));
	return true;
}

/* Everything the plan promises, for tables built from c. */
static bool verify(const struct config *c)
{
	const struct walk *w = walk_all(c);

	if (!w)
		return false;
	VCHECK(c->plan.huge_1g || w->n1g == 0, "%zu 1 GiB leaves without huge_1g", w->n1g);
	VCHECK(!log_bad, "log callback got a bad name or size");
	VCHECK(log_bytes == w->bytes, "logged %#llx bytes, walk found %#llx", HX(log_bytes),
	       HX(w->bytes));
	return check_direct_exact(c, w) && check_direct_sampled(c) && check_kernel_pages(c) &&
	       check_stack(c) && check_framebuffer(c) && check_trampoline(c);
}

/* ---- tests --------------------------------------------------------------- */

static struct config cfg;

static bool random_plans(const struct elf_image *kernel, uint64_t seed, int *failed_at)
{
	size_t entries = 0, l4k = 0, l2m = 0, l1g = 0, frames = 0, relro = 0;

	for (int i = 0; i < RANDOM_PLANS; i++) {
		const char *what;
		int err;
		rng_state = seed + (uint64_t)i * 0x9e3779b97f4a7c15ull;
		*failed_at = i;
		make_config(&cfg, kernel);
		err = build(&cfg, SIM_MAX_FRAMES, &what);
		VCHECK(err == 0, "bootmap_build returned %d (%s)", err, what ? what : "?");
		if (!verify(&cfg))
			return false;
		entries += cfg.n;
		frames += sim.used;
		l4k += walk_state.n4k;
		l2m += walk_state.n2m;
		l1g += walk_state.n1g;
		relro += cfg.img.relro_end > cfg.img.relro_start;
	}
	printf("# %d plans (%zu with RELRO): %zu map entries, %zu/%zu/%zu 4K/2M/1G leaves, "
	       "%zu table frames\n",
	       RANDOM_PLANS, relro, entries, l4k, l2m, l1g, frames);
	return true;
}

TEST(bootmap_random_plans_hand_made_kernel)
{
	int at = 0;
	char label[64];
	bool ok = random_plans(NULL, 0x5eed0001, &at);

	snprintf(label, sizeof(label), "plan %d", at);
	CHECK_OK(ok, label);
}

TEST(bootmap_random_plans_real_kernel)
{
	int at = 0;
	char label[64];
	bool ok = random_plans(&real_img, 0x5eed0002, &at);

	snprintf(label, sizeof(label), "plan %d", at);
	CHECK_OK(ok, label);
}

/* Pages 0-1 R, 2-4 R-X, 5 RELRO, 6 RW, 8-11 RW: checked against literal expectations. */
static void fixed_image(struct elf_image *img)
{
	memset(img, 0, sizeof(*img));
	img->segs[0] = (struct elf_segment){0x0000, 0x1848, 0x0000, 0x1848, ELF_PF_R};
	img->segs[1] = (struct elf_segment){0x2000, 0x2fff, 0x2000, 0x2fff, ELF_PF_R | ELF_PF_X};
	img->segs[2] = (struct elf_segment){0x5000, 0x1100, 0x5000, 0x1100, ELF_PF_R | ELF_PF_W};
	img->segs[3] = (struct elf_segment){0x8000, 0x3f00, 0x7000, 0x100, ELF_PF_R | ELF_PF_W};
	img->nsegs = 4;
	img->span = 0xc000;
	img->entry = 0x2000;
	img->relro_start = 0x5000;
	img->relro_end = 0x6000;
}

/* A small fixed map; the kernel, stack and trampoline in its RAM. */
static void fixed_config(struct config *c, bool huge_1g, vaddr_t dm_base)
{
	struct bootmap_plan *p = &c->plan;

	memset(p, 0, sizeof(*p));
	fixed_image(&c->img);
	c->nraw = 0;
	add_raw(c, 0, 0x9f000, MEMMAP_USABLE);
	add_raw(c, 0x9f000, 0x61000, MEMMAP_RESERVED);
	add_raw(c, 0x100000, 3 * G1 - 0x100000, MEMMAP_USABLE);
	add_raw(c, G1, 0x100000, MEMMAP_BOOT_SERVICES); /* RAM: merged into the run */
	add_raw(c, 3 * G1, G1, MEMMAP_MMIO);
	add_raw(c, 4 * G1, 8 * G1, MEMMAP_USABLE);
	normalise(c);
	if (memmap_set_type(c->map, &c->n, MAP_MAX, 0x1000000, c->img.span, MEMMAP_KERNEL) ||
	    memmap_set_type(c->map, &c->n, MAP_MAX, 0x2000000, BOOT_STACK_SIZE, MEMMAP_BOOTDATA))
		abort();
	p->kernel = &c->img;
	p->map = c->map;
	p->map_count = c->n;
	p->kernel_phys = 0x1000000;
	p->kernel_virt = LAYOUT_KERNEL_START + 0x3456000;
	p->direct_map_base = dm_base;
	p->huge_1g = huge_1g;
	p->stack_phys = 0x2000000;
	p->stack_bottom = LAYOUT_STACK_START + 0x100000 + P;
	p->stack_size = BOOT_STACK_SIZE;
	p->fb_phys = 3 * G1 + 0x40;
	p->fb_size = 1366 * 768 * 4;
	p->fb_virt = LAYOUT_MMIO_START + 0x40;
	p->trampoline = 0x8000;
}

/*
 * elf_parse accepts two segments with the same permissions on one page;
 * that page must be mapped once, not refused as already mapped.
 */
TEST(bootmap_maps_a_page_shared_by_same_permission_segments)
{
	const struct bootmap_plan *p = &cfg.plan;
	const char *what = NULL;
	paddr_t pa;
	uint32_t flags;

	rng_state = 0x5eed0009;
	fixed_config(&cfg, true, LAYOUT_DIRECT_MAP_START);
	cfg.img.segs[3] = (struct elf_segment){0x6800, 0x900, 0x6800, 0x100, ELF_PF_R | ELF_PF_W};
	CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), 0);
	CHECK(xlate(p->kernel_virt + 0x6000, &pa, &flags));
	CHECK_EQ(flags, PT_GLOBAL | PT_WRITE);
	CHECK(xlate(p->kernel_virt + 0x7000, &pa, &flags));
	CHECK_EQ(pa, p->kernel_phys + 0x7000);
	CHECK_EQ(flags, PT_GLOBAL | PT_WRITE);
	CHECK(unmapped(p->kernel_virt + 0x8000));
}

TEST(bootmap_kernel_segment_permissions)
{
	/* link page -> expected flags; -1: unmapped */
	static const int want[12] = {
	    PT_GLOBAL,
	    PT_GLOBAL,
	    PT_GLOBAL | PT_EXEC,
	    PT_GLOBAL | PT_EXEC,
	    PT_GLOBAL | PT_EXEC,
	    PT_GLOBAL,
	    PT_GLOBAL | PT_WRITE,
	    -1,
	    PT_GLOBAL | PT_WRITE,
	    PT_GLOBAL | PT_WRITE,
	    PT_GLOBAL | PT_WRITE,
	    PT_GLOBAL | PT_WRITE,
	};
	const struct bootmap_plan *p = &cfg.plan;
	const char *what;
	paddr_t pa;
	uint32_t flags;

	rng_state = 0x5eed0003;
	fixed_config(&cfg, true, LAYOUT_DIRECT_MAP_START);
	CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), 0);
	for (int i = 0; i < 12; i++) {
		vaddr_t va = p->kernel_virt + (uint64_t)i * P + 0x123;
		if (want[i] < 0) {
			CHECK(unmapped(va));
			continue;
		}
		CHECK(xlate(va, &pa, &flags));
		CHECK_EQ(pa, p->kernel_phys + (uint64_t)i * P + 0x123);
		CHECK_EQ(flags, want[i]);
	}
	CHECK(unmapped(p->kernel_virt + 12 * P));
	CHECK_OK(verify(&cfg), "fixed plan");
}

TEST(bootmap_real_kernel_relro_is_read_only)
{
	const struct bootmap_plan *p = &cfg.plan;
	const char *what;
	size_t rw = 0, relro = 0, text = 0;

	rng_state = 0x5eed0004;
	make_config(&cfg, &real_img);
	CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), 0);
	CHECK_OK(verify(&cfg), real_kernel);
	for (uint64_t off = 0; off < real_img.span; off += P) {
		uint64_t la = real_img.link_base + off;
		paddr_t pa;
		uint32_t flags;
		if (!xlate(p->kernel_virt + off, &pa, &flags))
			continue;
		text += (flags & PT_EXEC) != 0;
		rw += (flags & PT_WRITE) != 0;
		if (la >= real_img.relro_start && la < real_img.relro_end) {
			CHECK_EQ(flags & (PT_WRITE | PT_EXEC), 0);
			relro++;
		}
	}
	CHECK(text > 0 && rw > 0);
	CHECK_EQ(relro, (real_img.relro_end - real_img.relro_start) / P);
}

/* Direct-map leaf counts for the fixed map: RAM [0, 0x9f000), [1M, 3G), [4G, 12G). */
TEST(bootmap_uses_huge_pages_where_possible)
{
	const char *what;
	const struct walk *w;

	/* 1 GiB pages: [1G, 3G) and [4G, 12G); 2 MiB: [2M, 1G); 4 KiB: the rest. */
	fixed_config(&cfg, true, LAYOUT_DIRECT_MAP_START + 5 * G1);
	CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), 0);
	CHECK_OK(verify(&cfg), "huge_1g, 1 GiB aligned base");
	w = &walk_state;
	CHECK_EQ(w->dm1g, 2 + 8);
	CHECK_EQ(w->dm2m, 511);
	CHECK_EQ(w->dm4k, 0x9f + 0x100);

	/* No 1 GiB pages without the CPU feature. */
	fixed_config(&cfg, false, LAYOUT_DIRECT_MAP_START + 5 * G1);
	CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), 0);
	CHECK_OK(verify(&cfg), "no huge_1g");
	CHECK_EQ(w->n1g, 0);
	CHECK_EQ(w->dm2m, 511 + 1024 + 4096);
	CHECK_EQ(w->dm4k, 0x9f + 0x100);

	/* A base only 2 MiB aligned: 1 GiB pages cannot fit, 2 MiB ones still do. */
	fixed_config(&cfg, true, LAYOUT_DIRECT_MAP_START + 5 * G1 + M2);
	CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), 0);
	CHECK_OK(verify(&cfg), "huge_1g, 2 MiB aligned base");
	CHECK_EQ(w->n1g, 0);
	CHECK_EQ(w->dm2m, 511 + 1024 + 4096);

	/* The random plans use both sizes too. */
	size_t n2m = 0, n1g = 0;
	for (int i = 0; i < 8; i++) {
		rng_state = 0x5eed0100 + (uint64_t)i;
		make_config(&cfg, NULL);
		cfg.plan.huge_1g = true;
		cfg.plan.direct_map_base = random_direct_map_base(&cfg, true);
		CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), 0);
		CHECK_OK(verify(&cfg), "random, 1 GiB aligned base");
		n2m += w->dm2m;
		n1g += w->dm1g;
	}
	CHECK(n2m > 0);
	CHECK(n1g > 0);
}

TEST(bootmap_refuses_writable_executable_segment)
{
	const char *what;

	/* The hand-made image's text made RWX, as elf_parse would never allow. */
	fixed_config(&cfg, true, LAYOUT_DIRECT_MAP_START);
	cfg.img.segs[1].flags = ELF_PF_R | ELF_PF_W | ELF_PF_X;
	CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), -EPERM);
	CHECK(what != NULL);
	CHECK_STR(what, "kernel segment");
	CHECK(walk_all(&cfg) != NULL);
	CHECK_EQ(walk_state.bytes, 2 * P); /* only rodata so far */

	/* RWX data with RELRO over its first page: the writable rest is refused. */
	fixed_config(&cfg, true, LAYOUT_DIRECT_MAP_START);
	cfg.img.segs[2].flags = ELF_PF_R | ELF_PF_W | ELF_PF_X;
	CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), -EPERM);
	CHECK(what != NULL);
	CHECK_STR(what, "kernel data");

	/* The first segment, so nothing at all is mapped. */
	fixed_config(&cfg, true, LAYOUT_DIRECT_MAP_START);
	cfg.img.segs[0].flags = ELF_PF_R | ELF_PF_W | ELF_PF_X;
	CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), -EPERM);
	CHECK_STR(what, "kernel segment");
	CHECK_EQ(log_calls, 0);
}

/* Whatever was mapped before a failure still obeys W^X and stays supervisor. */
static int no_wx(const struct pt_leaf *l, void *arg)
{
	(void)arg;
	return (l->flags & PT_USER) || ((l->flags & PT_WRITE) && (l->flags & PT_EXEC));
}

/* Every limit up to 64 and the last few, about 64 evenly spaced in between. */
static size_t next_limit(size_t limit, size_t need)
{
	size_t step = need / 64 + 1;

	if (limit < 64 || limit + 4 >= need)
		return limit + 1;
	return MIN(limit + step, need - 4);
}

static bool out_of_frames(const struct config *c)
{
	const char *what;
	size_t need;
	int err = build(c, SIM_MAX_FRAMES, &what);

	VCHECK(err == 0, "bootmap_build returned %d", err);
	need = sim.used;
	VCHECK(need > 4, "only %zu table frames", need);
	for (size_t limit = 1; limit < need; limit = next_limit(limit, need)) {
		err = build(c, limit, &what);
		VCHECK(err == -ENOMEM, "limit %zu of %zu frames: returned %d", limit, need, err);
		VCHECK(known_name(what), "limit %zu: *what is %s", limit, what ? what : "NULL");
		VCHECK(limit > 1 || strcmp(what, "kernel segment") == 0,
		       "no table frame at all, failed at %s", what);
		VCHECK(limit < need - 1 || strcmp(what, "trampoline") == 0,
		       "one frame short, failed at %s", what);
		VCHECK(pt_walk(&sim.pt, no_wx, NULL) == 0, "limit %zu: a W+X or user leaf", limit);
	}
	return true;
}

TEST(bootmap_reports_table_exhaustion)
{
	fixed_config(&cfg, false, LAYOUT_DIRECT_MAP_START + M2);
	CHECK_OK(out_of_frames(&cfg), "fixed plan");
	for (int i = 0; i < 4; i++) {
		rng_state = 0x5eed0200 + (uint64_t)i;
		make_config(&cfg, NULL);
		CHECK_OK(out_of_frames(&cfg), "random plan");
	}
}

TEST(bootmap_without_framebuffer_or_trampoline)
{
	const char *what;

	fixed_config(&cfg, true, LAYOUT_DIRECT_MAP_START);
	cfg.plan.fb_size = 0;
	cfg.plan.fb_phys = 0;
	cfg.plan.fb_virt = 0;
	CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), 0);
	CHECK_OK(verify(&cfg), "no framebuffer");
	CHECK_EQ(walk_state.fb_bytes, 0);
	cfg.plan.trampoline = PADDR_INVALID;
	CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), 0);
	CHECK(walk_all(&cfg) != NULL);
	CHECK_EQ(walk_state.trampoline_bytes, 0);
	CHECK(unmapped(0x8000));
}

/* What the loader records in boot_info for plan p before it derives the plan. */
static void record_boot_info(const struct bootmap_plan *p, struct boot_info *bi)
{
	memset(bi, 0, sizeof(*bi));
	bi->kernel_phys_base = p->kernel_phys;
	bi->kernel_virt_base = p->kernel_virt;
	bi->kernel_size = p->kernel->span;
	bi->direct_map_base = p->direct_map_base;
	bi->stack_base = p->stack_bottom - P;
	bi->boot_stack_bottom = p->stack_bottom;
	bi->boot_stack_top = p->stack_bottom + p->stack_size;
	bi->boot_stack_phys = p->stack_phys;
	bi->trampoline_phys = p->trampoline;
	if (p->fb_size) {
		bi->fb =
		    (struct boot_fb){.phys = p->fb_phys, .virt = p->fb_virt, .size = p->fb_size};
	} else { /* found but unusable: never mapped */
		bi->fb = (struct boot_fb){.phys = 3 * G1, .size = 4 * MiB};
	}
}

static bool same_plan(const struct bootmap_plan *a, const struct bootmap_plan *b)
{
	VCHECK(a->kernel == b->kernel && a->kernel_phys == b->kernel_phys &&
		   a->kernel_virt == b->kernel_virt,
	       "kernel image placed differently");
	VCHECK(a->map == b->map && a->map_count == b->map_count &&
		   a->direct_map_base == b->direct_map_base && a->huge_1g == b->huge_1g,
	       "direct map differs");
	VCHECK(a->stack_phys == b->stack_phys && a->stack_bottom == b->stack_bottom &&
		   a->stack_size == b->stack_size,
	       "boot stack differs: %#llx at %#llx, %#llx bytes", HX(b->stack_phys),
	       HX(b->stack_bottom), HX(b->stack_size));
	VCHECK(a->fb_size == b->fb_size &&
		   (!a->fb_size || (a->fb_phys == b->fb_phys && a->fb_virt == b->fb_virt)),
	       "framebuffer differs: %#llx bytes at %#llx", HX(b->fb_size), HX(b->fb_virt));
	VCHECK(a->trampoline == b->trampoline, "trampoline %#llx, want %#llx", HX(b->trampoline),
	       HX(a->trampoline));
	return true;
}

static int digest_leaf(const struct pt_leaf *l, void *arg)
{
	uint64_t *h = arg;
	const uint64_t parts[] = {l->va, l->pa, l->size, l->flags};

	for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
		*h = (*h ^ parts[i]) * 0x100000001b3ull;
	return 0;
}

/* Every leaf of the tables in sim, in order, folded into one number. */
static uint64_t tables_digest(void)
{
	uint64_t h = 0xcbf29ce484222325ull;

	pt_walk(&sim.pt, digest_leaf, &h);
	return h;
}

/*
 * The plan bootmap_plan_from derives from the boot_info the loader records
 * is the loader's plan, and maps to the very same leaves.
 */
TEST(bootmap_plan_from_boot_info_is_the_loaders)
{
	struct boot_info bi;
	struct bootmap_plan derived;
	const char *what;
	char label[64];

	for (int i = 0; i < RANDOM_PLANS; i++) {
		rng_state = 0x5eed0300 + (uint64_t)i;
		make_config(&cfg, NULL);
		snprintf(label, sizeof(label), "plan %d", i);
		record_boot_info(&cfg.plan, &bi);
		bootmap_plan_from(&derived, &bi, &cfg.img, cfg.map, cfg.n, cfg.plan.huge_1g);
		CHECK_OK(same_plan(&cfg.plan, &derived), label);
		CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), 0);
		uint64_t want = tables_digest();
		cfg.plan = derived;
		CHECK_EQ(build(&cfg, SIM_MAX_FRAMES, &what), 0);
		CHECK_OK(verify(&cfg), label);
		CHECK_EQ(tables_digest(), want);
	}
}

static bool load_real_kernel(const char *path)
{
	FILE *f = fopen(path, "rb");
	long size;
	const char *reason = NULL;

	if (!f)
		return false;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	real_file = malloc(size > 0 ? (size_t)size : 1);
	if (!real_file || size <= 0 || fread(real_file, 1, (size_t)size, f) != (size_t)size) {
		fclose(f);
		return false;
	}
	fclose(f);
	if (elf_parse(real_file, (size_t)size, &real_img, &reason) != 0) {
		fprintf(stderr, "%s: %s\n", path, reason ? reason : "refused");
		return false;
	}
	printf("# %s: %zu segments, span %#llx, relro [%#llx, %#llx)\n", path, real_img.nsegs,
	       HX(real_img.span), HX(real_img.relro_start), HX(real_img.relro_end));
	return true;
}

TEST(bootmap_real_kernel_parses)
{
	CHECK(load_real_kernel(real_kernel));
}

int main(int argc, char **argv)
{
	RUN(bootmap_random_plans_hand_made_kernel);
	RUN(bootmap_kernel_segment_permissions);
	RUN(bootmap_maps_a_page_shared_by_same_permission_segments);
	RUN(bootmap_uses_huge_pages_where_possible);
	RUN(bootmap_refuses_writable_executable_segment);
	RUN(bootmap_reports_table_exhaustion);
	RUN(bootmap_without_framebuffer_or_trampoline);
	RUN(bootmap_plan_from_boot_info_is_the_loaders);
	if (argc >= 2) {
		real_kernel = argv[1];
		RUN(bootmap_real_kernel_parses);
		if (real_img.nsegs) {
			RUN(bootmap_random_plans_real_kernel);
			RUN(bootmap_real_kernel_relro_is_read_only);
		}
	}
	sim_free();
	free(walk_state.dm);
	free(real_file);
	return check_done();
}
