/*
 * The W^X audit: at every boot, after the kernel owns its address space,
 * walk every mapping and refuse to go on if any is writable and executable,
 * sits in the lower half or is user accessible. W^X is checked, not hoped for.
 * The lower halves of user spaces get the same check (wx_audit_user), with
 * user leaves allowed there and only there.
 */
#include <arch/arch.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <kernel/wx_audit.h>
#include <mm/aspace.h>
#include <mm/layout.h>

static int audit_user_leaf(const struct pt_leaf *leaf, void *arg)
{
	struct wx_audit *a = arg;
	bool wx = (leaf->flags & PT_WRITE) && (leaf->flags & PT_EXEC);
	bool user = leaf->flags & PT_USER;
	bool outside = leaf->va < LAYOUT_USER_START || leaf->va + leaf->size > LAYOUT_USER_END;

	a->mappings++;
	a->wx += wx;
	a->lower_half++;
	a->user += user;
	if ((wx || outside) && !a->first_bad)
		a->first_bad = leaf->va;
	return 0;
}

void wx_audit_user(struct wx_audit *a)
{
	*a = (struct wx_audit){0};
	aspace_walk_user(audit_user_leaf, a);
}

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
