/*
 * TLB shootdown (mm/vmm_shootdown.c): after a change that removes or
 * tightens a mapping, the other CPUs that may hold it in their TLB drop
 * it before the frames (or tables) behind it are reused. One request at a
 * time, for a whole change (a batch of pages, or everything), delivered
 * by the machine as a non-maskable interrupt (include/arch/smp.h), and
 * waited for until every target has acknowledged it.
 */
#pragma once

#include <lib/types.h>
#include <mm/pgtable.h>

struct aspace;

/*
 * Make every CPU in mask except this one drop what f records: for as ==
 * NULL kernel (global) entries, else as's entries if as is loaded there
 * (a CPU that no longer has it loaded does nothing: the caller marked as
 * stale for it). Returns once all have done it. Any context but an NMI;
 * interrupts may be off and locks held (the request is never masked).
 */
void vmm_shootdown(uint64_t mask, struct aspace *as, const struct pt_flush *f);

/*
 * The machine's NMI handler calls this: if a shootdown is pending for this
 * CPU, do it, acknowledge, and return true; false if the NMI was not one.
 */
bool vmm_shootdown_receive(void);

struct vmm_shootdown_stats {
	uint64_t requests; /* vmm_shootdown calls that sent something */
	uint64_t targets;  /* CPUs interrupted, over all requests */
	uint64_t received; /* requests this kernel's CPUs handled */
};
void vmm_shootdown_stats(struct vmm_shootdown_stats *s);
