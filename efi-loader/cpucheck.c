/*
 * The CPU features the kernel cannot run without, checked before the
 * loader touches anything: a missing one is named in a clear error while
 * the firmware can still show it, instead of a silent reset at the switch.
 * Optional features (1 GiB pages, PCID, SMEP, SMAP, RDRAND...) are the
 * kernel's and the loader's own business and are not checked here.
 */
#include "loader.h"

#include <arch/x86_64/cpu.h>

#define CR0_PG	 (1ull << 31)
#define CR4_PAE	 (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)

/* A required CPUID bit: leaf, register (edx or ecx) and bit, and its name. */
struct cpu_need {
	uint32_t leaf;
	bool ecx; /* the bit is in ECX, else EDX */
	uint8_t bit;
	const char *what;
};

/*
 * What the loader and the kernel use without asking first: the TSC (boot
 * timing, calibration), MSRs (EFER, PAT, GS base), PAE and global pages
 * (the loader sets CR4.PGE and marks kernel mappings global), the local
 * APIC (the timer), and long mode itself.
 */
static const struct cpu_need needs[] = {
    {1, false, 4, "TSC (time-stamp counter, CPUID.1:EDX bit 4)"},
    {1, false, 5, "MSRs (RDMSR/WRMSR, CPUID.1:EDX bit 5)"},
    {1, false, 6, "PAE (physical address extension, CPUID.1:EDX bit 6)"},
    {1, false, 9, "a local APIC (CPUID.1:EDX bit 9)"},
    {1, false, 13, "PGE (global pages, CPUID.1:EDX bit 13)"},
    {0x80000001, false, 29, "long mode (CPUID.80000001h:EDX bit 29)"},
};

static bool cpuid_bit(uint32_t leaf, bool ecx, unsigned int bit)
{
	uint32_t top = cpuid(leaf & 0x80000000u, 0).eax;
	struct cpuid_regs r;

	if (top < leaf)
		return false;
	r = cpuid(leaf, 0);
	return ((ecx ? r.ecx : r.edx) >> bit) & 1;
}

/*
 * NX: CPUID.80000001h:EDX bit 20, and EFER.NXE must stick once set. A
 * firmware's "Execute Disable Bit" switch hides the CPUID bit (through
 * IA32_MISC_ENABLE), so the error names that setting.
 */
static bool nx_usable(void)
{
	if (!cpuid_bit(0x80000001, false, 20))
		return false;
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
	return rdmsr(MSR_EFER) & EFER_NXE;
}

/* The firmware runs in 4-level long mode: the kernel's tables are 4-level. */
static bool paging_mode_ok(void)
{
	bool ok = true;

	if (!(read_cr0() & CR0_PG) || !(read_cr4() & CR4_PAE) || !(rdmsr(MSR_EFER) & EFER_LMA)) {
		loader_error("the firmware does not run in long mode with paging on");
		ok = false;
	}
	if (read_cr4() & CR4_LA57) {
		loader_error("the firmware runs with 5-level paging (CR4.LA57); Aerie's page "
			     "tables are 4-level: turn 5-level paging off in the firmware setup");
		ok = false;
	}
	return ok;
}

/*
 * Check every required feature, printing one error per missing one.
 * Returns EFI_SUCCESS or EFI_UNSUPPORTED.
 */
EFI_STATUS cpu_check(void)
{
	bool ok = true;

	for (size_t i = 0; i < ARRAY_SIZE(needs); i++) {
		if (!cpuid_bit(needs[i].leaf, needs[i].ecx, needs[i].bit)) {
			loader_error("the CPU has no %s, which Aerie needs", needs[i].what);
			ok = false;
		}
	}
	if (!nx_usable()) {
		loader_error("the CPU has no NX (no-execute) support, or it is turned off: turn "
			     "on \"Execute Disable Bit\" / \"NX\" in the firmware setup");
		ok = false;
	}
	if (!paging_mode_ok())
		ok = false;
	return ok ? EFI_SUCCESS : EFI_UNSUPPORTED;
}
