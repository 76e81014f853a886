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
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/fixup.h>
#include <arch/x86_64/insn_decode.h>
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
	if (insn_memory_operand(tf, &ea, d->operand, sizeof(d->operand))) {
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
		if (i != 4 && !pt_is_canonical(insn_gpr(tf, i))) {
			*addr = insn_gpr(tf, i);
			fmt_snprintf(d->operand, sizeof(d->operand), "in %s", insn_gpr_name(i));
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
	if (fixup_apply(tf, &fi))
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
