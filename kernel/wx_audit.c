/*
 * The W^X audit: at every boot, after the kernel owns its address space,
 * walk every mapping and refuse to go on if any is writable and executable,
 * sits in the lower half or is user accessible. W^X is checked, not hoped for.
 */
#include <arch/arch.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <kernel/wx_audit.h>

void wx_audit_boot(void)
{
	struct wx_audit a;

	arch_wx_audit(&a);
	kinfo("W^X audit: %llu mappings, %llu W+X, %llu lower-half, %llu user",
	      (unsigned long long)a.mappings, (unsigned long long)a.wx,
	      (unsigned long long)a.lower_half, (unsigned long long)a.user);
	if (a.wx || a.lower_half || a.user)
		panic("W^X audit failed: first bad mapping at %#llx",
		      (unsigned long long)a.first_bad);
}
