/*
 * What generic kernel code may ask of the machine layer (arch/x86_64/).
 * Generic code includes only include/arch/ headers (this one, mmu.h for the
 * live MMU, irq.h for interrupt masking), never arch/x86_64/ ones.
 */
#pragma once

#include <boot/boot_info.h>
#include <lib/types.h>

/* Descriptor tables: GDT, TSS with IST stacks, IDT for all exceptions. */
void arch_early_init(void);

/*
 * Give #DF, NMI and #MC guarded stacks of their own (kstack_alloc), in place
 * of the static ones they use until the vmm works. => after kstack_init().
 */
void arch_ist_stacks_init(void);

/*
 * Leave the current stack for good: switch to the stack ending at top
 * (16-byte aligned) and call fn(arg) there. fn must not return.
 */
__noreturn void arch_run_on_stack(vaddr_t top, void (*fn)(void *), void *arg);

/* Serial port (COM1): set up, and write bytes. Safe before anything else. */
void arch_serial_init(void);
void arch_serial_write(const char *s, size_t n);

/* Remove the loader's lower-half (trampoline) mappings from the live tables. */
void arch_drop_lower_half(void);

/* Stop this CPU for good, interrupts off. */
__noreturn void arch_halt(void);

/*
 * Under an emulator with an isa-debug-exit device, exit it with code (QEMU
 * then exits with (code << 1) | 1). Returns if there is no such device.
 */
void arch_exit_emulator(uint8_t code);

/* Print registers and a backtrace for a panic; frame may be NULL (current state). */
struct trap_frame;
void arch_panic_report(const struct trap_frame *frame);

/* True if va is mapped in the live page tables (safe to read). */
bool arch_is_mapped(vaddr_t va);

/* What the W^X audit found in the live page tables. */
struct wx_audit {
	uint64_t mappings;   /* leaf entries */
	uint64_t wx;	     /* writable and executable (effective) */
	uint64_t lower_half; /* mapped below LAYOUT_LOWER_HALF_END */
	uint64_t user;	     /* user accessible */
	vaddr_t first_bad;   /* address of the first violation, if any */
};

/* Walk every leaf of the live tables with effective permissions. */
void arch_wx_audit(struct wx_audit *a);

/* Times int3 has been handled (the breakpoint handler returns). */
uint64_t arch_breakpoint_count(void);

/* A timestamp counter (the TSC). */
uint64_t arch_timestamp(void);
