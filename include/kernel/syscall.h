/*
 * The system-call dispatcher (kernel/syscall.c): the machine's entry
 * (arch/x86_64/syscall.c) hands it the call number and the six argument
 * registers of include/uapi/syscall.h and returns its result to ring 3.
 */
#pragma once

#include <lib/types.h>

/* The result of call nr with args: >= 0, or a negated errno (-ENOSYS if unknown). */
long syscall_dispatch(uint64_t nr, const uint64_t args[6]);
