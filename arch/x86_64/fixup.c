/*
 * The exception-fixup table and the C half of the probes
 * (include/arch/x86_64/fixup.h, include/kernel/fault.h). probe.S lists each
 * access that may fault in the `extable` section; a fault there resumes at
 * its fixup instead of being reported, and the probe gets the classified
 * fault. Owns nothing else: classification is fault.c's and mm's.
 */
#include <arch/arch.h>
#include <arch/x86_64/fixup.h>
#include <arch/x86_64/trap.h>
#include <kernel/fault.h>

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
bool fixup_probe_result(struct fault_info *out);
bool fixup_probe_result(struct fault_info *out)
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

bool fixup_apply(struct trap_frame *tf, const struct fault_info *fi)
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
