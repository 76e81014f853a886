/*
 * The MMU from the CPU's side (include/arch/mmu.h): which protections and
 * paging features the boot CPU has and which we turn on, the PAT layout the
 * PT_* cache flags assume, loading tables and flushing the TLB.
 *
 * PCID: the kernel's address space is PCID 0. With PCIDE on, a full flush
 * is INVPCID "all contexts, globals included" when INVPCID exists, which
 * avoids the two serialising CR4 writes of the fallback (clearing and
 * setting CR4.PGE). Single pages always use INVLPG, which drops the entry
 * for the current PCID and global entries alike. User spaces get PCIDs
 * 1..4095 from mm/aspace.c, which drops a non-live PCID's stale entries by
 * loading it without CR3_NOFLUSH, and all of them with arch_tlb_flush_all()
 * (INVPCID all-contexts, or toggling CR4.PGE, which drops every PCID's
 * entries, SDM 4.10.4.1).
 */
#include <arch/mmu.h>
#include <arch/uaccess.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/pgtable.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <lib/cmdline.h>
#include <mm/addr.h>

/*
 * PAT entries 0-3 (and again 4-7): WB, WC, UC-, UC. PWT alone selects entry
 * 1 (write-combining), PCD | PWT entry 3 (uncached), nothing entry 0 (WB).
 * Entries 0, 2 and 3 match the power-on default, so tables built before
 * this (the loader's) mean the same under both.
 */
#define PAT_WB	   0x06ull
#define PAT_WC	   0x01ull
#define PAT_UC	   0x00ull
#define PAT_UCM	   0x07ull
#define PAT_LAYOUT ((PAT_WB | PAT_WC << 8 | PAT_UCM << 16 | PAT_UC << 24) * 0x100000001ull)

static struct arch_mmu_features features;
bool arch_smap_on; /* include/arch/uaccess.h */

static unsigned int cpu_phys_bits(void)
{
	if (cpuid(0x80000000, 0).eax >= 0x80000008)
		return cpuid(0x80000008, 0).eax & 0xff;
	return 36; /* the architectural default without the leaf */
}

static bool cpu_has_nx(void)
{
	return cpuid(0x80000000, 0).eax >= 0x80000001 && (cpuid(0x80000001, 0).edx & (1u << 20));
}

/* CPUID leaf 7 sub-leaf 0, or zeros if the CPU has no leaf 7. */
static struct cpuid_regs leaf7(void)
{
	if (cpuid(0, 0).eax < 7)
		return (struct cpuid_regs){0};
	return cpuid(7, 0);
}

static void program_pat(void)
{
	/* SDM 11.12.4: caches and TLBs must not hold lines typed by the old PAT. */
	wbinvd();
	wrmsr(MSR_PAT, PAT_LAYOUT);
	wbinvd();
}

/* Which features exist, minus the ones the command line turns off. */
static void detect(const char *cmdline)
{
	struct cpuid_regs l1 = cpuid(1, 0), l7 = leaf7();

	features.phys_bits = cpu_phys_bits();
	features.huge_1g = cpu_has_1g_pages();
	features.pat = l1.edx & (1u << 16);
	features.pge = l1.edx & (1u << 13);
	features.pcid = (l1.ecx & (1u << 17)) && !cmdline_has(cmdline, "nopcid");
	/* INVPCID's all-contexts flush works without PCIDE too. */
	features.invpcid = (l7.ebx & (1u << 10)) && !cmdline_has(cmdline, "noinvpcid");
	features.smep = (l7.ebx & (1u << 7)) && !cmdline_has(cmdline, "nosmep");
	features.smap = (l7.ebx & (1u << 20)) && !cmdline_has(cmdline, "nosmap");
	features.umip = (l7.ecx & (1u << 2)) && !cmdline_has(cmdline, "noumip");
}

static const char *on(bool b)
{
	return b ? "on" : "off";
}

void arch_mmu_init(const char *cmdline)
{
	uint64_t cr4;

	if (!cpu_has_nx())
		panic("cpu: no NX bit: W^X cannot be enforced");
	detect(cmdline);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
	write_cr0(read_cr0() | CR0_WP);
	cr4 = read_cr4();
	cr4 |= features.pge ? CR4_PGE : 0;
	cr4 |= features.smep ? CR4_SMEP : 0;
	cr4 |= features.smap ? CR4_SMAP : 0;
	cr4 |= features.umip ? CR4_UMIP : 0;
	/* PCIDE may only be set while CR3[11:0] is 0, as it is (PCID 0, no PWT/PCD). */
	cr4 |= features.pcid ? CR4_PCIDE : 0;
	write_cr4(cr4);
	arch_smap_on = features.smap; /* STAC/CLAC around user copies (include/arch/uaccess.h) */
	if (features.pat)
		program_pat();
	kinfo("cpu: WP on, NX on, SMEP %s, SMAP %s, UMIP %s", on(features.smep), on(features.smap),
	      on(features.umip));
	kinfo("cpu: PGE %s, PCID %s, INVPCID %s, PAT %s, 1 GiB pages %s, %u-bit physical",
	      on(features.pge), on(features.pcid), on(features.invpcid),
	      features.pat ? "WB/WC/UC-/UC" : "off", on(features.huge_1g), features.phys_bits);
}

const struct arch_mmu_features *arch_mmu_features(void)
{
	return &features;
}

paddr_t arch_tables_root(void)
{
	return read_cr3() & PTE_ADDR;
}

void arch_tables_load(paddr_t root)
{
	write_cr3(root); /* PCID 0; without CR3_NOFLUSH its non-global entries go */
}

void arch_tables_load_pcid(paddr_t root, unsigned int pcid, bool noflush)
{
	KASSERT(pcid <= ARCH_MMU_TAG_MAX && (features.pcid || (!pcid && !noflush)));
	write_cr3(root | pcid | (noflush ? CR3_NOFLUSH : 0));
}

uint64_t *arch_live_pte(vaddr_t va)
{
	uint64_t *table = phys_to_virt(arch_tables_root());

	for (int shift = 39; shift > 12; shift -= 9) {
		uint64_t e = table[(va >> shift) & (PTE_ENTRIES - 1)];
		if (!(e & PTE_P) || (e & PTE_PS))
			return NULL;
		table = phys_to_virt(e & PTE_ADDR);
	}
	return &table[(va >> 12) & (PTE_ENTRIES - 1)];
}

void arch_tlb_flush_page(vaddr_t va)
{
	invlpg(va);
}

void arch_tlb_flush_all(void)
{
	uint64_t cr4;

	if (features.invpcid) {
		invpcid(INVPCID_ALL_GLOBAL, 0, 0);
		return;
	}
	cr4 = read_cr4();
	if (cr4 & CR4_PGE) {
		write_cr4(cr4 & ~CR4_PGE); /* toggling PGE drops every entry, global too */
		write_cr4(cr4);
	} else {
		write_cr3(read_cr3());
	}
}
