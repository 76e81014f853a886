/*
 * Just enough x86-64 instruction decoding for a fault report: the memory
 * operand of the common instructions that take one, and the general
 * registers by their ModRM/SIB number (arch/x86_64/insn_decode.c). Used by
 * the #GP report, which has no fault address of its own.
 */
#pragma once

#include <lib/types.h>

struct trap_frame;

/*
 * The memory operand of the instruction at tf->rip: true with its effective
 * address in *ea and "[base+index*scale+disp]" in buf; false if the
 * instruction is not one of the common ones decoded, or its operand is a
 * register or RIP-relative (never non-canonical).
 */
bool insn_memory_operand(const struct trap_frame *tf, vaddr_t *ea, char *buf, size_t size);

/* General register n (0-15, ModRM/SIB numbering: rax, rcx, ...) in tf. */
uint64_t insn_gpr(const struct trap_frame *tf, unsigned int n);

/* Its name, "rax" ... "r15". */
const char *insn_gpr_name(unsigned int n);
