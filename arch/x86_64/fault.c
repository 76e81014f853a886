/*
 * What an exception means to the machine: decode #PF and #GP faults,
 * ask the fault policy (mm/vmm_fault.c) about page faults, resume probes
 * through the exception-fixup table (fixup.c), and otherwise panic with a
 * one-line verdict before the register dump. Double faults are checked for
 * kernel stack overflow. trap.c only dispatches here.
 *
 * A page fault's kind and phrase come from the policy, a #GP's from the
 * instruction decoder (insn_decode.c): a panic report and a probe
 * (arch/x86_64/probe.S) see the same kind for the same fault.
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/fixup.h>
#include <arch/x86_64/insn_decode.h>
#include <arch/x86_64/trap.h>
#include <kernel/fault.h>
#include <kernel/panic.h>
#include <kernel/symbols.h>
#include <kernel/user.h>
#include <lib/fmt.h>
#include <mm/layout.h>
#include <mm/vmm.h>
#include <mm/vmm_fault.h>

#define RFLAGS_AC (1ull << 18) /* SMAP checks are off while set (STAC) */

static void fault_handle_kernel(struct trap_frame *tf);

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

/* What the one-line report adds to the kind. */
struct fault_detail {
	struct vmm_fault_verdict pf; /* #PF: the policy's verdict */
	char operand[48];	     /* FAULT_NONCANONICAL: "[rdi+0x8]" or "in rax" */
};

/* --- decoding ------------------------------------------------------------------ */

static void decode_pf_error(uint64_t e, char *buf, size_t size)
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

/*
 * A supervisor access to a page the live tables mark user-accessible, with
 * the protection against it on: SMEP for a fetch, SMAP (unless RFLAGS.AC
 * lifts it) for data.
 */
static bool user_page_refused(const struct trap_frame *tf, vaddr_t addr)
{
	uint64_t e = tf->error, cr4 = read_cr4();
	bool on = (e & PF_ID) ? (cr4 & CR4_SMEP) : (cr4 & CR4_SMAP) && !(tf->rflags & RFLAGS_AC);
	struct pt_leaf leaf;

	return on && !(e & PF_U) && arch_translate(addr, &leaf) && (leaf.flags & PT_USER);
}

/* The page fault in tf, with CR2 as read on entry, for the policy. */
static void decode_pf(const struct trap_frame *tf, vaddr_t cr2, struct vmm_fault_desc *f)
{
	uint64_t e = tf->error;

	*f = (struct vmm_fault_desc){.addr = cr2, .ip = tf->rip, .sp = tf->rsp};
	f->access = (e & PF_ID) ? VMM_ACCESS_EXEC : (e & PF_W) ? VMM_ACCESS_WRITE : VMM_ACCESS_READ;
	if (e & PF_P)
		f->flags |= VMM_FAULT_PRESENT;
	if (e & PF_U)
		f->flags |= VMM_FAULT_USER;
	if (e & PF_RSVD)
		f->flags |= VMM_FAULT_RESERVED;
	else if ((e & PF_P) && user_page_refused(tf, cr2))
		f->flags |= VMM_FAULT_USER_PAGE;
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

/* --- reports ------------------------------------------------------------------ */

/* "name+0xoff" for a kernel address, else its hex value. */
static void symbolise(uint64_t addr, char *buf, size_t size)
{
	if (!symbols_lookup(addr, buf, size))
		fmt_snprintf(buf, size, "0x%llx", (unsigned long long)addr);
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

static __noreturn void report_pf(const struct trap_frame *tf, const struct fault_info *fi,
				 const struct fault_detail *d)
{
	char rip[96], caller[112], error[128];

	symbolise(tf->rip, rip, sizeof(rip));
	describe_caller(tf, fi->addr, caller, sizeof(caller));
	decode_pf_error(fi->error, error, sizeof(error));
	panic_trap(tf, "page fault: %s at 0x%llx, rip %s%s (error 0x%llx: %s)", d->pf.what,
		   (unsigned long long)fi->addr, rip, caller, (unsigned long long)fi->error, error);
}

/* The one-line verdict, then panic_trap's registers and backtrace. */
static __noreturn void report(const struct trap_frame *tf, const struct fault_info *fi,
			      const struct fault_detail *d)
{
	char rip[96], error[128];
	unsigned long long addr = fi->addr, code = fi->error;

	if (tf->vector == VEC_PF)
		report_pf(tf, fi, d);
	symbolise(tf->rip, rip, sizeof(rip));
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

/* The iretq back to ring 3 (arch/x86_64/isr.S); a fault there is the user's. */
extern const char user_iret[];

/*
 * A fault from ring 3, or at user_iret (a frame the CPU refused, e.g. a
 * non-canonical RIP on a CPU that checks it in IRET): the user's RIP is in
 * that frame then. Page faults on the user half go to the policy first
 * (demand-zero, later copy-on-write): returns if it resolved the fault.
 * The rest kill the thread with one report line. A user #GP is not decoded: that would read user
 * memory.
 */
static void fault_from_user(struct trap_frame *tf)
{
	const uint64_t *iret = (const uint64_t *)tf->rsp;
	vaddr_t ip = (tf->cs & 3) ? tf->rip : iret[0];
	struct fault_detail d = {0};
	struct vmm_fault_desc f;
	char what[64];

	if (tf->vector == VEC_PF) {
		decode_pf(tf, read_cr2(), &f);
		/* Kernel addresses: one kind, mapped or not (no KASLR probe by report). */
		d.pf.kind = FAULT_PROTECTION;
		if (f.addr < LAYOUT_LOWER_HALF_END && vmm_fault(&f, &d.pf))
			return; /* resolved: the access retries */
		if (d.pf.oom)
			user_fault("out of memory on a page fault", f.addr, ip);
		fmt_snprintf(what, sizeof(what), "page fault (%s, %s)",
			     (tf->error & PF_ID)  ? "fetch"
			     : (tf->error & PF_W) ? "write"
						  : "read",
			     fault_kind_name(d.pf.kind));
		user_fault(what, f.addr, ip);
	}
	user_fault(vector_names[tf->vector & 31], ip, ip); /* no address but the instruction's */
}

void fault_handle(struct trap_frame *tf)
{
	if ((tf->cs & 3) || tf->rip == (uint64_t)user_iret)
		fault_from_user(tf); /* returns only if resolved */
	else
		fault_handle_kernel(tf);
}

static void fault_handle_kernel(struct trap_frame *tf)
{
	struct fault_info fi = {.vector = tf->vector, .error = tf->error, .rip = tf->rip};
	struct fault_detail d = {0};
	struct vmm_fault_desc f;

	if (tf->vector == VEC_PF) {
		decode_pf(tf, read_cr2(), &f);
		if (vmm_fault(&f, &d.pf))
			return; /* resolved: the access retries */
		fi.addr = f.addr;
		fi.kind = d.pf.kind;
	} else if (tf->vector == VEC_GP) {
		fi.kind = classify_gp(tf, &fi.addr, &d);
	} else {
		fi.kind = FAULT_OTHER;
	}
	if (fixup_apply(tf, &fi))
		return;
	report(tf, &fi, &d);
}

/*
 * A double fault on the IST stack. The usual cause is a kernel stack
 * overflow: a push (or a stack-clash probe) into the guard page faults,
 * and so does pushing that #PF's frame. CR2 then holds the guard address;
 * the fault policy names the stack, its range and which guard.
 */
void fault_double(struct trap_frame *tf)
{
	vaddr_t cr2 = read_cr2();
	char rip[96], what[VMM_FAULT_WHAT_LEN];

	symbolise(tf->rip, rip, sizeof(rip));
	if (vmm_fault_stack_overflow(cr2, tf->rsp, what, sizeof(what)))
		panic_trap(tf, "double fault: %s at 0x%llx, rip %s", what, (unsigned long long)cr2,
			   rip);
	if (tf->rsp && vmm_fault_stack_overflow(tf->rsp - 1, tf->rsp, what, sizeof(what)))
		panic_trap(tf, "double fault: %s at 0x%llx (cr2 0x%llx), rip %s", what,
			   (unsigned long long)(tf->rsp - 1), (unsigned long long)cr2, rip);
	panic_trap(tf, "double fault (cr2 0x%llx, rsp 0x%llx), rip %s", (unsigned long long)cr2,
		   (unsigned long long)tf->rsp, rip);
}
