/*
 * Names of the fault kinds (include/kernel/fault.h), shared by the fault
 * policy (mm/vmm_fault.c), the machine side's reports and the tests.
 */
#include <kernel/fault.h>

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
