/*
 * The exception-fixup table (arch/x86_64/fixup.c): instructions that may
 * fault on purpose (the probes of arch/x86_64/probe.S) and where each
 * resumes when it does. The fault handler asks here before it reports.
 */
#pragma once

#include <lib/types.h>

struct trap_frame;
struct fault_info;

/*
 * If the fault in tf was taken at an instruction with a fixup (or is a
 * fetch fault at the target an armed probe_exec called), hand fi to the
 * waiting probe, point tf at the fixup and return true; else false and
 * tf is untouched. Never for NMI, #DF or #MC: rip did not cause those.
 */
bool fixup_apply(struct trap_frame *tf, const struct fault_info *fi);
