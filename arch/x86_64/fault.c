/*
 * What an exception means and what to do about it: classify #PF and #GP
 * faults (enum fault_kind, include/kernel/fault.h), map demand-zero pages,
 * resume probes through the exception-fixup table, and otherwise panic
 * with a one-line verdict before the register dump. Double faults are
 * checked for kernel stack overflow. trap.c only dispatches here.
 *
 * The classification is the single source of truth: a panic report and a
 * probe (arch/x86_64/probe.S) see the same kind for the same fault.
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/pgtable.h>
#include <arch/x86_64/trap.h>
#include <kernel/console.h>
#include <kernel/fault.h>
#include <kernel/panic.h>
#include <kernel/symbols.h>
#include <lib/fmt.h>
#include <mm/addr.h>
#include <mm/kmalloc.h>
#include <mm/layout.h>
#include <mm/vmm.h>

/*
 * Page-fault error code:
 *   bit 0 P    0 = page not present, 1 = protection violation
 *   bit 1 W/R  1 = write          bit 2 U/S  1 = user mode
 *   bit 3 RSVD reserved bit set   bit 4 I/D  1 = instruction fetch
 *   bit 5 PK   protection key     bit 6 SS   shadow stack
 */
#define PF_P	(1u << 0)
#define PF_W	(1u << 1)
#define PF_U	(1u << 2)
#define PF_RSVD (1u << 3)
#define PF_ID	(1u << 4)
#define PF_PK	(1u << 5)
#define PF_SS	(1u << 6)

#define RFLAGS_AC (1ull << 18) /* SMAP checks are off while set (STAC) */

static const char *const vector_names[32] = {
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range exceeded",
    "#UD invalid opcode",
    "#NM device not available",
    "#DF double fault",
    "coprocessor segment overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack-segment fault",
    "#GP general protection",
    "#PF page fault",
    "reserved (15)",
    "#MF x87 floating-point error",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD floating-point error",
    "#VE virtualization exception",
    "#CP control protection",
    "reserved (22)",
    "reserved (23)",
    "reserved (24)",
    "reserved (25)",
    "reserved (26)",
    "reserved (27)",
    "#HV hypervisor injection",
    "#VC VMM communication",
    "#SX security exception",
    "reserved (31)",
};

static const char *const kind_names[FAULT_KIND_COUNT] = {
    [FAULT_NONE] = "no fault",
    [FAULT_NULL] = "NULL pointer dereference",
    [FAULT_GUARD] = "guard page",
    [FAULT_NOT_PRESENT] = "unmapped address",
    [FAULT_NX] = "instruction fetch from an NX page",
    [FAULT_WRITE_TEXT] = "write to kernel text",
    [FAULT_WRITE_RO] = "write to a read-only page",
    [FAULT_SMAP] = "SMAP violation (supervisor access to a user page)",
    [FAULT_SMEP] = "SMEP violation (supervisor fetch from a user page)",
    [FAULT_RESERVED] = "reserved bit set in a page-table entry",
    [FAULT_PROTECTION] = "protection violation",
    [FAULT_NONCANONICAL] = "probably a non-canonical address",
    [FAULT_GP] = "general protection",
    [FAULT_OTHER] = "exception",
};

const char *fault_kind_name(enum fault_kind kind)
{
	if ((unsigned int)kind >= FAULT_KIND_COUNT)
		return "?";
	return kind_names[kind];
}

/* What the one-line report adds to the kind. */
struct fault_detail {
	const char *guard;   /* FAULT_GUARD: whose guard */
	char heap_guard[64]; /* its name, when the heap has the guard */
	char operand[48];    /* FAULT_NONCANONICAL: "[rdi+0x8]" or "in rax" */
};

/* --- decoding and classification ------------------------------------------ */

static void decode_pf(uint64_t e, char *buf, size_t size)
{
	fmt_snprintf(buf, size, "%s, %s, %s%s%s%s",
		     (e & PF_P) ? "protection violation" : "not present",
		     (e & PF_ID)  ? "instruction fetch"
		     : (e & PF_W) ? "write"
				  : "read",
		     (e & PF_U) ? "user" : "supervisor", (e & PF_RSVD) ? ", reserved bit set" : "",
		     (e & PF_PK) ? ", protection key" : "", (e & PF_SS) ? ", shadow stack" : "");
}

/*
 * Selector error code (#TS #NP #SS #GP): bit 0 EXT external event, bit 1
 * IDT (index is an IDT vector), bit 2 TI (LDT), bits 3-15 the index.
 */
static void decode_selector(uint64_t e, char *buf, size_t size)
{
	if (e == 0) {
		fmt_snprintf(buf, size, "no selector");
		return;
	}
	fmt_snprintf(buf, size, "%s index %llu%s",
		     (e & 2)   ? "IDT"
		     : (e & 4) ? "LDT"
			       : "GDT",
		     (unsigned long long)((e >> 3) & 0x1fff), (e & 1) ? ", external event" : "");
}

static bool has_selector_error(uint64_t vec)
{
	return vec == 10 || vec == 11 || vec == 12 || vec == 13;
}

static bool in_kernel_image(vaddr_t va)
{
	return va - addr_bases.kernel_virt < addr_bases.kernel_size;
}

/* A supervisor access to a page the live tables mark user-accessible. */
static bool supervisor_on_user_page(uint64_t error, vaddr_t addr)
{
	struct pt_leaf leaf;

	return !(error & PF_U) && arch_translate(addr, &leaf) && (leaf.flags & PT_USER);
}

/*
 * Classify a page fault at addr. The reserved-bit and guard checks come
 * first: they name the cause whatever else the error code says.
 */
static enum fault_kind classify_pf(const struct trap_frame *tf, vaddr_t addr,
				   struct fault_detail *d)
{
	uint64_t e = tf->error, cr4 = read_cr4();
	struct pt_leaf leaf;

	if (e & PF_RSVD)
		return FAULT_RESERVED;
	d->guard = vmm_guard_find(addr);
	if (!d->guard && kmalloc_guard_name(addr, d->heap_guard, sizeof(d->heap_guard)))
		d->guard = d->heap_guard;
	if (d->guard)
		return FAULT_GUARD;
	if (!(e & PF_P))
		return addr < FAULT_NULL_LIMIT ? FAULT_NULL : FAULT_NOT_PRESENT;
	if (e & PF_ID) {
		bool smep = (cr4 & CR4_SMEP) && supervisor_on_user_page(e, addr);
		return smep ? FAULT_SMEP : FAULT_NX;
	}
	if ((cr4 & CR4_SMAP) && !(tf->rflags & RFLAGS_AC) && supervisor_on_user_page(e, addr))
		return FAULT_SMAP;
	if (e & PF_W) {
		bool text =
		    in_kernel_image(addr) && arch_translate(addr, &leaf) && (leaf.flags & PT_EXEC);
		return text ? FAULT_WRITE_TEXT : FAULT_WRITE_RO;
	}
	return FAULT_PROTECTION;
}

/* General registers in ModRM/SIB numbering. */
static const char *const gpr_names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					  "r8",	 "r9",	"r10", "r11", "r12", "r13", "r14", "r15"};

static uint64_t gpr(const struct trap_frame *tf, unsigned int n)
{
	const uint64_t v[16] = {tf->rax, tf->rcx, tf->rdx, tf->rbx, tf->rsp, tf->rbp,
				tf->rsi, tf->rdi, tf->r8,  tf->r9,  tf->r10, tf->r11,
				tf->r12, tf->r13, tf->r14, tf->r15};
	return v[n & 15];
}

static bool is_prefix(uint8_t b)
{
	return b == 0x66 || b == 0x67 || b == 0xf0 || b == 0xf2 || b == 0xf3 || b == 0x26 ||
	       b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 || b == 0x65;
}

/* Common opcodes that access memory through a ModRM operand (not LEA). */
static bool has_modrm(uint8_t op, bool two_byte)
{
	if (two_byte)
		return (op >= 0x40 && op <= 0x4f) || op == 0xaf || op == 0xb0 || op == 0xb1 ||
		       op == 0xb6 || op == 0xb7 || op == 0xbe || op == 0xbf || op == 0xc0 ||
		       op == 0xc1;
	if (op < 0x40)
		return (op & 7) < 4; /* ALU ops: add, or, adc, sbb, and, sub, xor, cmp */
	return (op >= 0x80 && op <= 0x8b) || op == 0x63 || op == 0x69 || op == 0x6b || op == 0x8f ||
	       op == 0xc0 || op == 0xc1 || op == 0xc6 || op == 0xc7 || (op >= 0xd0 && op <= 0xd3) ||
	       op == 0xf6 || op == 0xf7 || op == 0xfe || op == 0xff;
}

static int32_t read_s32(const uint8_t *p)
{
	return (int32_t)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24);
}

/*
 * ModRM byte: mod (7-6) 3 = register operand, else memory with no, 8- or
 * 32-bit displacement; rm (2-0) 4 = a SIB byte follows, 5 with mod 0 =
 * RIP-relative. SIB: scale (7-6), index (5-3, 4 = none), base (2-0, 5 with
 * mod 0 = none, disp32). REX.B and REX.X extend base and index to 4 bits.
 *
 * The memory operand of the instruction at tf->rip, for the common opcodes
 * above: true with its effective address and a "[base+index*scale+disp]"
 * description, false if the instruction is not one of them.
 */
static bool memory_operand(const struct trap_frame *tf, vaddr_t *ea, char *buf, size_t size)
{
	const uint8_t *p = (const uint8_t *)tf->rip;
	int base = -1, index = -1, scale = 1, n;
	uint8_t rex = 0, modrm, mod;
	bool addr32 = false;
	int64_t disp = 0;

	if (!arch_is_mapped(tf->rip) || !arch_is_mapped(tf->rip + 15))
		return false;
	for (int i = 0; i < 4 && is_prefix(*p); i++)
		addr32 |= *p++ == 0x67;
	if ((*p & 0xf0) == 0x40)
		rex = *p++;
	if (!(*p == 0x0f ? has_modrm(*++p, true) : has_modrm(*p, false)))
		return false;
	modrm = *++p;
	p++;
	mod = modrm >> 6;
	if (mod == 3 || (mod == 0 && (modrm & 7) == 5))
		return false; /* a register, or RIP-relative (always canonical) */
	if ((modrm & 7) == 4) {
		uint8_t sib = *p++;
		scale = 1 << (sib >> 6);
		index = ((sib >> 3) & 7) | (rex & 2) << 2;
		index = index == 4 ? -1 : index;
		base = (sib & 7) | (rex & 1) << 3;
		if ((sib & 7) == 5 && mod == 0) {
			base = -1;
			disp = read_s32(p);
		}
	} else {
		base = (modrm & 7) | (rex & 1) << 3;
	}
	if (mod == 1)
		disp = (int8_t)*p;
	else if (mod == 2)
		disp = read_s32(p);
	*ea = (base >= 0 ? gpr(tf, base) : 0) + (index >= 0 ? gpr(tf, index) * scale : 0) + disp;
	if (addr32)
		*ea = (uint32_t)*ea;
	n = fmt_snprintf(buf, size, "[%s%s%s", base >= 0 ? gpr_names[base] : "",
			 index >= 0 && base >= 0 ? "+" : "", index >= 0 ? gpr_names[index] : "");
	if (index >= 0 && scale > 1)
		n += fmt_snprintf(buf + n, size - n, "*%d", scale);
	if (disp)
		n += fmt_snprintf(buf + n, size - n, "%s0x%llx", disp < 0 ? "-" : "+",
				  (unsigned long long)(disp < 0 ? -disp : disp));
	fmt_snprintf(buf + n, size - n, "]");
	return true;
}

/*
 * A #GP has no address. Without a selector it is most often a
 * non-canonical memory operand: decode the instruction's operand if it is
 * a common one, else name the first register (RIP first: QEMU reports a
 * jump to a non-canonical address at the target) that holds a
 * non-canonical value. Either is a guess, which the report says.
 */
static enum fault_kind classify_gp(const struct trap_frame *tf, vaddr_t *addr,
				   struct fault_detail *d)
{
	vaddr_t ea;

	if (tf->error)
		return FAULT_GP;
	if (memory_operand(tf, &ea, d->operand, sizeof(d->operand))) {
		if (pt_is_canonical(ea))
			return FAULT_GP;
		*addr = ea;
		return FAULT_NONCANONICAL;
	}
	if (!pt_is_canonical(tf->rip)) {
		*addr = tf->rip;
		fmt_snprintf(d->operand, sizeof(d->operand), "in rip");
		return FAULT_NONCANONICAL;
	}
	for (unsigned int i = 0; i < 16; i++) {
		if (i != 4 && !pt_is_canonical(gpr(tf, i))) {
			*addr = gpr(tf, i);
			fmt_snprintf(d->operand, sizeof(d->operand), "in %s", gpr_names[i]);
			return FAULT_NONCANONICAL;
		}
	}
	return FAULT_GP;
}

/* Fill fi (and d) for the exception in tf; cr2 is CR2 as read on entry. */
static void classify(const struct trap_frame *tf, vaddr_t cr2, struct fault_info *fi,
		     struct fault_detail *d)
{
	*d = (struct fault_detail){0};
	*fi = (struct fault_info){.vector = tf->vector, .error = tf->error, .rip = tf->rip};
	if (tf->vector == VEC_PF) {
		fi->addr = cr2;
		fi->kind = classify_pf(tf, cr2, d);
	} else if (tf->vector == VEC_GP) {
		fi->kind = classify_gp(tf, &fi->addr, d);
	} else {
		fi->kind = FAULT_OTHER;
	}
}

/* --- the exception-fixup table and probes ----------------------------------- */

/*
 * One entry of the `extable` section (written by probe.S's `extable`
 * macro): a fault at the instruction resumes at the fixup. Each field is
 * the target's offset from the field itself, so the PIE kernel's table
 * needs no relocation.
 */
struct extable_entry {
	int32_t insn;
	int32_t fixup;
};
_Static_assert(sizeof(struct extable_entry) == 8, "probe.S writes two .long");

extern const struct extable_entry __start_extable[], __stop_extable[];

/* The call target probe_exec armed (0 is a valid one), and the fault a fixup saw. */
vaddr_t probe_exec_target;
bool probe_exec_armed;
static struct fault_info probe_fault;

/* Called (tail-jumped) from probe.S's fixups: hand over the fault, return true. */
bool fault_probe_result(struct fault_info *out);
bool fault_probe_result(struct fault_info *out)
{
	if (out)
		*out = probe_fault;
	return true;
}

/* Where a fault at rip resumes, or 0 if rip has no fixup. */
static uint64_t extable_find(uint64_t rip)
{
	for (const struct extable_entry *e = __start_extable; e < __stop_extable; e++) {
		if ((uint64_t)&e->insn + (int64_t)e->insn == rip)
			return (uint64_t)&e->fixup + (int64_t)e->fixup;
	}
	return 0;
}

/*
 * A fetch fault at the target probe_exec armed: the call pushed a return
 * address, which has a fixup of its own. Pop it and resume there. (A
 * non-canonical target is a #GP: on the call on Intel CPUs, which the
 * table covers, at the target under QEMU's TCG, which this covers.)
 */
static uint64_t exec_probe_fixup(struct trap_frame *tf)
{
	bool fetch = (tf->vector == VEC_PF && (tf->error & PF_ID)) || tf->vector == VEC_GP;

	uint64_t ret, to;

	if (!probe_exec_armed || !fetch || tf->rip != probe_exec_target || !arch_is_mapped(tf->rsp))
		return 0;
	ret = *(const uint64_t *)tf->rsp;
	to = extable_find(ret);
	if (to)
		tf->rsp += 8;
	return to;
}

/* Resume at a fixup if the faulting instruction has one; fi goes to the probe. */
static bool try_fixup(struct trap_frame *tf, const struct fault_info *fi)
{
	uint64_t to;

	if (tf->vector == VEC_NMI || tf->vector == VEC_DF || tf->vector == VEC_MC)
		return false; /* not caused by the instruction at rip */
	to = exec_probe_fixup(tf);
	if (!to)
		to = extable_find(tf->rip);
	if (!to)
		return false;
	probe_exec_armed = false;
	probe_fault = *fi;
	tf->rip = to;
	return true;
}

/* --- reports ------------------------------------------------------------------ */

/* "name+0xoff" for a kernel address, else its hex value. */
static void symbolise(uint64_t addr, char *buf, size_t size)
{
	if (!symbols_lookup(addr, buf, size))
		fmt_snprintf(buf, size, "0x%llx", (unsigned long long)addr);
}

/* The kind with what else is known about it, e.g. "write to kernel text (kmain+0x10)". */
static void describe(const struct trap_frame *tf, const struct fault_info *fi,
		     const struct fault_detail *d, char *buf, size_t size)
{
	const char *what = fault_kind_name(fi->kind);
	char sym[96];

	switch (fi->kind) {
	case FAULT_GUARD:
		/* At or just below the stack pointer: the stack ran into it. */
		if (fi->addr <= tf->rsp && tf->rsp - fi->addr < 64 * KiB)
			fmt_snprintf(buf, size, "stack overflow into the guard page of %s",
				     d->guard);
		else
			fmt_snprintf(buf, size, "access to the guard page of %s", d->guard);
		return;
	case FAULT_WRITE_TEXT:
		symbolise(fi->addr, sym, sizeof(sym));
		fmt_snprintf(buf, size, "%s (%s)", what, sym);
		return;
	case FAULT_WRITE_RO:
		if (in_kernel_image(fi->addr)) {
			fmt_snprintf(buf, size, "%s (kernel image +0x%llx)", what,
				     (unsigned long long)(fi->addr - addr_bases.kernel_virt));
			return;
		}
		break;
	case FAULT_NOT_PRESENT:
		if (fi->addr < LAYOUT_LOWER_HALF_END) {
			fmt_snprintf(buf, size, "%s (lower half)", what);
			return;
		}
		break;
	default:
		break;
	}
	fmt_snprintf(buf, size, "%s", what);
}

/*
 * ", called from f+0x1c" when rip is a call target that faulted on fetch:
 * the caller is then only in the return address at RSP, not in the
 * frame-pointer chain the backtrace walks.
 */
static void describe_caller(const struct trap_frame *tf, vaddr_t addr, char *buf, size_t size)
{
	char sym[96];

	buf[0] = 0;
	if (tf->vector != VEC_PF || !(tf->error & PF_ID) || tf->rip != addr ||
	    !arch_is_mapped(tf->rsp) || !arch_is_mapped(tf->rsp + 7))
		return;
	symbolise(*(const uint64_t *)tf->rsp - 1, sym, sizeof(sym));
	fmt_snprintf(buf, size, ", called from %s", sym);
}

/* The one-line verdict, then panic_trap's registers and backtrace. */
static __noreturn void report(const struct trap_frame *tf, const struct fault_info *fi,
			      const struct fault_detail *d)
{
	char what[128], rip[96], caller[112], error[128];
	unsigned long long addr = fi->addr, code = fi->error;

	symbolise(tf->rip, rip, sizeof(rip));
	if (tf->vector == VEC_PF) {
		describe(tf, fi, d, what, sizeof(what));
		describe_caller(tf, fi->addr, caller, sizeof(caller));
		decode_pf(code, error, sizeof(error));
		panic_trap(tf, "page fault: %s at 0x%llx, rip %s%s (error 0x%llx: %s)", what, addr,
			   rip, caller, code, error);
	}
	if (tf->vector == VEC_GP) {
		decode_selector(code, error, sizeof(error));
		if (fi->kind == FAULT_NONCANONICAL)
			panic_trap(tf,
				   "general protection fault: %s 0x%llx (%s), rip %s "
				   "(error 0x%llx: %s)",
				   fault_kind_name(fi->kind), addr, d->operand, rip, code, error);
		panic_trap(tf, "general protection fault, rip %s (error 0x%llx: %s)", rip, code,
			   error);
	}
	const char *name = vector_names[tf->vector & 31];
	if (has_selector_error(tf->vector)) {
		decode_selector(code, error, sizeof(error));
		panic_trap(tf, "%s (vector %llu), error 0x%llx: %s, rip %s", name,
			   (unsigned long long)tf->vector, code, error, rip);
	}
	panic_trap(tf, "%s (vector %llu), error 0x%llx, rip %s", name,
		   (unsigned long long)tf->vector, code, rip);
}

void fault_handle(struct trap_frame *tf)
{
	vaddr_t cr2 = tf->vector == VEC_PF ? read_cr2() : 0;
	struct fault_detail d;
	struct fault_info fi;

	/* Demand-zero regions live in the upper half: map the page and retry. */
	if (tf->vector == VEC_PF && !(tf->error & PF_P) && cr2 >= LAYOUT_DIRECT_MAP_START &&
	    vmm_demand_fault(cr2))
		return;
	classify(tf, cr2, &fi, &d);
	if (try_fixup(tf, &fi))
		return;
	report(tf, &fi, &d);
}

/*
 * A double fault on the IST stack. The usual cause is a kernel stack
 * overflow: a push into the guard page faults, and so does pushing that
 * #PF's frame. CR2 then holds the guard address.
 */
void fault_double(struct trap_frame *tf)
{
	vaddr_t cr2 = read_cr2();
	const char *guard = vmm_guard_find(cr2);
	char rip[96];

	if (!guard && tf->rsp)
		guard = vmm_guard_find(tf->rsp - 1);
	symbolise(tf->rip, rip, sizeof(rip));
	if (guard)
		panic_trap(tf,
			   "double fault: kernel stack overflow into the guard page of %s "
			   "(cr2 0x%llx, rsp 0x%llx), rip %s",
			   guard, (unsigned long long)cr2, (unsigned long long)tf->rsp, rip);
	panic_trap(tf, "double fault (cr2 0x%llx, rsp 0x%llx), rip %s", (unsigned long long)cr2,
		   (unsigned long long)tf->rsp, rip);
}
