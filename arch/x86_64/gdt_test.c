/*
 * In-kernel tests of the TSS's IST stacks (ktest=kstack): once the vmm
 * works, #DF, NMI and #MC run on guarded kernel stacks of their own, so an
 * overflow of one of them is a named guard fault too.
 */
#include <arch/x86_64/trap.h>
#include <kernel/ktest.h>
#include <lib/string.h>
#include <mm/kstack.h>

KTEST(kstack, gdt_ist_stacks_are_guarded_kstacks)
{
	static const char *const owners[] = {"#DF IST", "NMI IST", "#MC IST"};
	static const unsigned int slots[] = {IST_DOUBLE_FAULT, IST_NMI, IST_MACHINE_CHECK};
	struct kstack ks;

	for (int i = 0; i < 3; i++) {
		uint64_t top = gdt_ist_top(slots[i]);
		KEXPECT_EQ(t, kstack_find(top - 8, &ks), KSTACK_INSIDE);
		KEXPECT_EQ(t, ks.top, top);
		KEXPECT(t, strcmp(ks.owner, owners[i]) == 0);
		KEXPECT_EQ(t, kstack_find(top, NULL), KSTACK_GUARD_ABOVE);
		KEXPECT_EQ(t, kstack_find(ks.bottom - 1, NULL), KSTACK_GUARD_BELOW);
	}
}
