/*
 * Page-fault policy for the kernel's address space (mm/vmm_fault.c). The
 * machine side decodes what the CPU reported into a struct vmm_fault_desc
 * and calls vmm_fault() once: the policy resolves what it can (a
 * demand-zero page) and otherwise says what was hit, in a fault kind and a
 * phrase for the report. The machine side then resumes a probe or panics.
 *
 * The policy knows the regions (demand-zero, guards, the heap's guards,
 * the kernel image); the machine side knows the error-code bits. User
 * address spaces extend the policy here, not in arch/.
 */
#pragma once

#include <kernel/fault.h>
#include <lib/types.h>

/* The kind of access that faulted. */
enum vmm_access {
	VMM_ACCESS_READ,
	VMM_ACCESS_WRITE,
	VMM_ACCESS_EXEC, /* instruction fetch */
};

/* What else the CPU said about the fault (vmm_fault_desc.flags). */
#define VMM_FAULT_PRESENT  (1u << 0) /* the page was mapped: a protection violation */
#define VMM_FAULT_USER	   (1u << 1) /* the access came from user mode */
#define VMM_FAULT_RESERVED (1u << 2) /* a paging entry has a reserved bit set */
/* A supervisor access to a user page, refused (SMAP/SMEP). */
#define VMM_FAULT_USER_PAGE (1u << 3)

/* A page fault, as the machine side decoded it. */
struct vmm_fault_desc {
	vaddr_t addr; /* the address accessed */
	vaddr_t ip;   /* the faulting instruction */
	vaddr_t sp;   /* the stack pointer: an overflow faults just below it */
	enum vmm_access access;
	uint32_t flags; /* VMM_FAULT_* */
};

#define VMM_FAULT_WHAT_LEN 192

/* What vmm_fault() found, when it could not resolve the fault. */
struct vmm_fault_verdict {
	enum fault_kind kind;
	/* the kind with what was hit, e.g. "write to kernel text (kmain+0x10)" */
	char what[VMM_FAULT_WHAT_LEN];
	/* No frame for a user page (aspace_fault): kill the process, do not panic. */
	bool oom;
};

/*
 * Handle the page fault f. Returns true if it is resolved (a zeroed page
 * now backs a demand-zero region, or a user page was filled or copied:
 * retry the access); else false with *v filled. A lower-half fault while a
 * user space is loaded goes to aspace_fault() (include/mm/aspace.h),
 * unless it is a SMAP/SMEP refusal. Safe in any context a fault can happen in: a fault taken with
 * the vmm lock held is never resolved (that would deadlock), and naming a heap guard takes no lock.
 */
bool vmm_fault(const struct vmm_fault_desc *f, struct vmm_fault_verdict *v);

/*
 * The overflow report for a fault at addr with the stack pointer at sp,
 * when addr lies in a stack's guard page: "kernel stack overflow into the
 * guard page below the stack of kmain [bottom, top), rsp 0x..." into buf,
 * and true. False if addr guards no stack. Takes no lock: for the double
 * fault handler, where an overflow that could not push a page fault's
 * frame ends up.
 */
bool vmm_fault_stack_overflow(vaddr_t addr, vaddr_t sp, char *buf, size_t len);
