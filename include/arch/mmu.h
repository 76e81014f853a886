/*
 * What generic memory management may ask of the MMU (arch/x86_64/mmu.c):
 * CPU protections and features, the TLB, and which tables are live. The
 * page-table format itself is portable C in <arch/x86_64/pgtable.h>, which
 * this header brings in for struct pgtable and the PT_* flags.
 */
#pragma once

#include <arch/x86_64/pgtable.h>
#include <lib/types.h>

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
 * For tests that plant a bad entry on purpose: the live 4 KiB leaf entry
 * for va, through the direct map; NULL if va is unmapped or under a huge
 * page. Flush after changing it.
 */
uint64_t *arch_live_pte(vaddr_t va);

/* Drop the TLB entry for one page (any size) holding va. */
void arch_tlb_flush_page(vaddr_t va);
/* Drop every TLB entry, global ones included. */
void arch_tlb_flush_all(void);
