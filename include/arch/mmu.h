/*
 * What generic memory management may ask of the live MMU (arch/x86_64/mmu.c,
 * cpu.c): CPU protections and features, the TLB, and which tables are live.
 * Page tables as data are <mm/pgtable.h>; their hardware encoding stays in
 * arch/x86_64/ and is not visible from here.
 */
#pragma once

#include <lib/types.h>
#include <mm/pgtable.h>

/* What the boot CPU offers and what arch_mmu_init() turned on. */
struct arch_mmu_features {
	unsigned int phys_bits; /* MAXPHYADDR */
	bool huge_1g;		/* 1 GiB pages */
	bool pat;		/* PAT programmed: PT_WC is write-combining */
	bool pge;		/* global pages (CR4.PGE) */
	bool pcid;		/* CR4.PCIDE on */
	bool invpcid;		/* INVPCID used for flushes */
	bool smep, smap, umip;	/* CR4 bits on */
};

/*
 * Turn on CR0.WP, EFER.NXE, CR4.PGE, and SMEP, SMAP, UMIP and PCID where
 * CPUID offers them (the command-line options nosmep, nosmap, noumip,
 * nopcid, noinvpcid turn them off); program the PAT. Before the kernel's own
 * tables are loaded.
 */
void arch_mmu_init(const char *cmdline);
const struct arch_mmu_features *arch_mmu_features(void);

/* Root of the live tables, and loading new ones (flushes non-global entries). */
paddr_t arch_tables_root(void);
void arch_tables_load(paddr_t root);

/*
 * Address-space tags (PCIDs on x86): 0 is the kernel's; user spaces get
 * 1..ARCH_MMU_TAG_MAX while features.pcid is on. Load root under tag pcid:
 * with noflush the TLB entries already tagged pcid are kept (they must
 * still be valid for this root), else they are dropped. Without PCID,
 * pcid must be 0 and noflush false (a plain load).
 */
#define ARCH_MMU_TAG_MAX 4095u
void arch_tables_load_pcid(paddr_t root, unsigned int pcid, bool noflush);

/*
 * Look va up in the live page tables (read through the direct map): true
 * and *leaf with effective flags if mapped; false if unmapped or before the
 * direct map is known.
 */
bool arch_translate(vaddr_t va, struct pt_leaf *leaf);

/* Drop the TLB entry for one page (any size) holding va. */
void arch_tlb_flush_page(vaddr_t va);
/* Drop every TLB entry, global ones included. */
void arch_tlb_flush_all(void);
/* Drop the non-global entries of the loaded tables' tag (PCID), keep the rest. */
void arch_tlb_flush_loaded(void);
