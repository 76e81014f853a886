/*
 * Page-fault policy (include/mm/vmm_fault.h): lower-half faults of a
 * loaded user space go to aspace_fault(), demand-zero regions are
 * filled, and every other fault is classified and named: NULL page, a
 * guard page (a kernel stack's with its owner and range, a registered
 * one such as the boot stack's, or the heap's with the block), kernel
 * text, a read-only or NX page. The CPU's error code is decoded by the
 * machine side before it gets here; nothing here reads a CPU register.
 */
#include <arch/mmu.h>
#include <kernel/fault.h>
#include <kernel/symbols.h>
#include <lib/fmt.h>
#include <mm/addr.h>
#include <mm/aspace.h>
#include <mm/kmalloc.h>
#include <mm/kstack.h>
#include <mm/layout.h>
#include <mm/vmm.h>
#include <mm/vmm_fault.h>

/* A guard page this close below the stack pointer was hit by the stack itself. */
#define STACK_REACH (64 * KiB)

static bool in_kernel_image(vaddr_t va)
{
	return va - addr_bases.kernel_virt < addr_bases.kernel_size;
}

/* Executable pages of the kernel image: its text. Reads the live tables, lock-free. */
static bool in_kernel_text(vaddr_t va)
{
	struct pt_leaf leaf;

	return in_kernel_image(va) && arch_translate(va, &leaf) && (leaf.flags & VMM_EXEC);
}

/*
 * A stack's guard page at addr, described into buf ("the guard page below
 * the stack of kmain [bottom, top)", or "the guard page of boot stack" for
 * a registered guard); *overflow is set if the stack pointer sp is on that
 * stack, so the stack itself ran into it. False if addr guards no stack.
 */
static bool stack_guard(vaddr_t addr, vaddr_t sp, char *buf, size_t len, bool *overflow)
{
	struct kstack ks, on;
	enum kstack_where w = kstack_find(addr, &ks);
	const char *name;

	if (w == KSTACK_GUARD_BELOW || w == KSTACK_GUARD_ABOVE) {
		fmt_snprintf(buf, len, "the guard page %s the stack of %s [0x%llx, 0x%llx)",
			     w == KSTACK_GUARD_BELOW ? "below" : "above", ks.owner,
			     (unsigned long long)ks.bottom, (unsigned long long)ks.top);
		*overflow = kstack_find(sp, &on) != KSTACK_NONE && on.bottom == ks.bottom;
		return true;
	}
	name = vmm_guard_find(addr);
	if (!name)
		return false;
	fmt_snprintf(buf, len, "the guard page of %s", name);
	*overflow = addr <= sp && sp - addr < STACK_REACH;
	return true;
}

bool vmm_fault_stack_overflow(vaddr_t addr, vaddr_t sp, char *buf, size_t len)
{
	char guard[VMM_FAULT_WHAT_LEN];
	bool overflow;

	if (!stack_guard(addr, sp, guard, sizeof(guard), &overflow))
		return false;
	fmt_snprintf(buf, len, "kernel stack overflow into %s, rsp 0x%llx", guard,
		     (unsigned long long)sp);
	return true;
}

/* Name the guard covering addr into buf: a stack's, or the heap's ("the guard page of heap block
 * ..."). */
static bool guard_name(const struct vmm_fault_desc *f, char *buf, size_t len, bool *overflow)
{
	char heap[96];

	if (stack_guard(f->addr, f->sp, buf, len, overflow))
		return true;
	*overflow = false;
	if (!kmalloc_guard_name(f->addr, heap, sizeof(heap)))
		return false;
	fmt_snprintf(buf, len, "the guard page of %s", heap);
	return true;
}

/*
 * The kind of an unresolved fault. A reserved bit and a guard come first:
 * they name the cause whatever the access was.
 */
static enum fault_kind classify(const struct vmm_fault_desc *f, char *guard, size_t len,
				bool *overflow)
{
	if (f->flags & VMM_FAULT_RESERVED)
		return FAULT_RESERVED;
	if (guard_name(f, guard, len, overflow))
		return FAULT_GUARD;
	if (!(f->flags & VMM_FAULT_PRESENT))
		return f->addr < FAULT_NULL_LIMIT ? FAULT_NULL : FAULT_NOT_PRESENT;
	if (f->access == VMM_ACCESS_EXEC)
		return (f->flags & VMM_FAULT_USER_PAGE) ? FAULT_SMEP : FAULT_NX;
	if (f->flags & VMM_FAULT_USER_PAGE)
		return FAULT_SMAP;
	if (f->access == VMM_ACCESS_WRITE)
		return in_kernel_text(f->addr) ? FAULT_WRITE_TEXT : FAULT_WRITE_RO;
	return FAULT_PROTECTION;
}

/* The report's phrase: the kind and, where known, what was hit. */
static void describe(const struct vmm_fault_desc *f, struct vmm_fault_verdict *v, const char *guard,
		     bool overflow)
{
	const char *what = fault_kind_name(v->kind);
	char sym[96];

	switch (v->kind) {
	case FAULT_GUARD:
		if (overflow)
			fmt_snprintf(v->what, sizeof(v->what),
				     "kernel stack overflow into %s, rsp 0x%llx", guard,
				     (unsigned long long)f->sp);
		else
			fmt_snprintf(v->what, sizeof(v->what), "access to %s", guard);
		return;
	case FAULT_WRITE_TEXT:
		if (!symbols_lookup(f->addr, sym, sizeof(sym)))
			fmt_snprintf(sym, sizeof(sym), "0x%llx", (unsigned long long)f->addr);
		fmt_snprintf(v->what, sizeof(v->what), "%s (%s)", what, sym);
		return;
	case FAULT_WRITE_RO:
		if (in_kernel_image(f->addr)) {
			fmt_snprintf(v->what, sizeof(v->what), "%s (kernel image +0x%llx)", what,
				     (unsigned long long)(f->addr - addr_bases.kernel_virt));
			return;
		}
		break;
	case FAULT_NOT_PRESENT:
		if (f->addr < LAYOUT_LOWER_HALF_END) {
			fmt_snprintf(v->what, sizeof(v->what), "%s (lower half)", what);
			return;
		}
		break;
	default:
		break;
	}
	fmt_snprintf(v->what, sizeof(v->what), "%s", what);
}

bool vmm_fault(const struct vmm_fault_desc *f, struct vmm_fault_verdict *v)
{
	char guard[VMM_FAULT_WHAT_LEN];
	bool overflow = false;
	struct aspace *as = aspace_current();

	v->oom = false;
	if (f->addr < LAYOUT_LOWER_HALF_END && as != aspace_kernel() &&
	    !(f->flags & VMM_FAULT_USER_PAGE)) {
		enum aspace_fault_result r = aspace_fault(as, f->addr, f->access, f->flags, v);
		v->oom = r == ASPACE_FAULT_OOM;
		return r == ASPACE_FAULT_RESOLVED;
	}
	/* Demand-zero regions live in the upper half: map the page, the access retries. */
	if (!(f->flags & VMM_FAULT_PRESENT) && f->addr >= LAYOUT_DIRECT_MAP_START &&
	    vmm_demand_fault(f->addr))
		return true;
	v->kind = classify(f, guard, sizeof(guard), &overflow);
	describe(f, v, guard, overflow);
	return false;
}
