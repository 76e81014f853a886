/*
 * Exception dispatch: int3 is counted and returns; every other exception is
 * decoded (name, error code, CR2) and ends in a panic with the frame.
 */
#include <arch/arch.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/trap.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <lib/fmt.h>

static const char *const vector_names[32] = {
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range exceeded",
    "#UD invalid opcode",
    "#NM device not available",
    "#DF double fault",
    "coprocessor segment overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack-segment fault",
    "#GP general protection",
    "#PF page fault",
    "reserved (15)",
    "#MF x87 floating-point error",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD floating-point error",
    "#VE virtualization exception",
    "#CP control protection",
    "reserved (22)",
    "reserved (23)",
    "reserved (24)",
    "reserved (25)",
    "reserved (26)",
    "reserved (27)",
    "#HV hypervisor injection",
    "#VC VMM communication",
    "#SX security exception",
    "reserved (31)",
};

static uint64_t breakpoints;

uint64_t arch_breakpoint_count(void)
{
	return breakpoints;
}

/*
 * Page-fault error code:
 *   bit 0 P    0 = page not present, 1 = protection violation
 *   bit 1 W/R  1 = write          bit 2 U/S  1 = user mode
 *   bit 3 RSVD reserved bit set   bit 4 I/D  1 = instruction fetch
 *   bit 5 PK   protection key     bit 6 SS   shadow stack
 */
static void decode_pf(uint64_t e, char *buf, size_t size)
{
	fmt_snprintf(buf, size, "%s, %s, %s%s%s%s%s",
		     (e & 1) ? "protection violation" : "not present",
		     (e & 16)  ? "instruction fetch"
		     : (e & 2) ? "write"
			       : "read",
		     (e & 4) ? "user" : "supervisor", (e & 8) ? ", reserved bit set" : "",
		     (e & 32) ? ", protection key" : "", (e & 64) ? ", shadow stack" : "", "");
}

/*
 * Selector error code (#TS #NP #SS #GP): bit 0 EXT external event, bit 1
 * IDT (index is an IDT vector), bit 2 TI (LDT), bits 3-15 the index.
 */
static void decode_selector(uint64_t e, char *buf, size_t size)
{
	if (e == 0) {
		fmt_snprintf(buf, size, "no selector");
		return;
	}
	fmt_snprintf(buf, size, "%s index %llu%s",
		     (e & 2)   ? "IDT"
		     : (e & 4) ? "LDT"
			       : "GDT",
		     (unsigned long long)((e >> 3) & 0x1fff), (e & 1) ? ", external event" : "");
}

static bool has_selector_error(uint64_t vec)
{
	return vec == 10 || vec == 11 || vec == 12 || vec == 13;
}

/* Report an unexpected exception and panic. */
static __noreturn void fatal_exception(struct trap_frame *f)
{
	const char *name = vector_names[f->vector & 31];
	char detail[128] = "";

	if (f->vector == VEC_PF)
		decode_pf(f->error, detail, sizeof(detail));
	else if (has_selector_error(f->vector))
		decode_selector(f->error, detail, sizeof(detail));
	if (f->vector == VEC_PF)
		panic_trap(f, "%s at %#llx (%s), error %#llx", name, (unsigned long long)read_cr2(),
			   detail, (unsigned long long)f->error);
	if (detail[0])
		panic_trap(f, "%s (vector %llu), error %#llx: %s", name,
			   (unsigned long long)f->vector, (unsigned long long)f->error, detail);
	panic_trap(f, "%s (vector %llu), error %#llx", name, (unsigned long long)f->vector,
		   (unsigned long long)f->error);
}

void trap_dispatch(struct trap_frame *f)
{
	if (f->vector == VEC_BP) {
		breakpoints++;
		kdebug("breakpoint at %#llx", (unsigned long long)f->rip - 1);
		return;
	}
	fatal_exception(f);
}
