/*
 * What went wrong when the CPU refused an access: the kinds of fault the
 * kernel tells apart, and probes that run an access expected to fault and
 * report the fault instead of panicking (for tests).
 *
 * Every page fault is classified once, by the fault policy
 * (mm/vmm_fault.c) from what the machine side (arch/x86_64/fault.c) decoded,
 * and every general-protection fault by the machine side; a panic report
 * and a probe see the same kind. Probes resume through the exception-fixup
 * table (arch/x86_64/probe.S, arch/x86_64/fixup.c).
 */
#pragma once

#include <lib/types.h>

enum fault_kind {
	FAULT_NONE,	    /* no fault */
	FAULT_NULL,	    /* not-present access below FAULT_NULL_LIMIT */
	FAULT_GUARD,	    /* a named guard page: a stack's or the heap's */
	FAULT_NOT_PRESENT,  /* any other unmapped address */
	FAULT_NX,	    /* instruction fetch from a no-execute page */
	FAULT_WRITE_TEXT,   /* write to the kernel's executable image */
	FAULT_WRITE_RO,	    /* write to any other read-only page */
	FAULT_SMAP,	    /* supervisor data access to a user page, SMAP on */
	FAULT_SMEP,	    /* supervisor fetch from a user page, SMEP on */
	FAULT_RESERVED,	    /* a reserved bit set in a paging entry */
	FAULT_PROTECTION,   /* another protection violation (keys, shadow stack) */
	FAULT_NONCANONICAL, /* #GP, probably a non-canonical address */
	FAULT_GP,	    /* #GP for another reason */
	FAULT_OTHER,	    /* some other exception */
	FAULT_KIND_COUNT
};

/* Accesses below this address that fault are reported as NULL pointer use. */
#define FAULT_NULL_LIMIT (64 * 1024)

struct fault_info {
	uint64_t vector; /* exception vector (14: #PF, 13: #GP) */
	uint64_t error;	 /* the CPU's error code */
	vaddr_t addr;	 /* #PF: CR2; FAULT_NONCANONICAL: the suspect value; else 0 */
	vaddr_t rip;	 /* the faulting instruction */
	enum fault_kind kind;
};

/* A short fixed phrase for kind, e.g. "write to kernel text" (kernel/fault.c). */
const char *fault_kind_name(enum fault_kind kind);

/*
 * Probes: do one access that may fault. Each returns false if the access
 * completed, true if it faulted; then *f says how (f may be NULL).
 * => probe_read: *v gets the 8 bytes at a (left alone on a fault).
 * => probe_exec: calls a. If a does not fault it must return at once
 *    (a single 0xc3 `ret` byte will do); a fetch fault at a itself, or a
 *    #GP on the call, resumes in the probe.
 * Only the first access is covered: a fault deeper inside a is a panic.
 */
bool probe_read(vaddr_t a, uint64_t *v, struct fault_info *f);
bool probe_write(vaddr_t a, uint64_t v, struct fault_info *f);
bool probe_exec(vaddr_t a, struct fault_info *f);

/*
 * The machine side's entry points from the exception path
 * (arch/x86_64/trap.c). fault_handle() returns if the fault was resolved (a
 * demand-zero page mapped, or a probe resumed), else panics with the
 * classified report; fault_double() reports a double fault and panics.
 */
struct trap_frame;
void fault_handle(struct trap_frame *tf);
__noreturn void fault_double(struct trap_frame *tf);
