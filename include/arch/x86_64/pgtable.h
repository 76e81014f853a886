/*
 * The x86-64 encoding behind <mm/pgtable.h>: 4-level tables of 512 64-bit
 * entries. Only arch/x86_64/ (and host tests that inspect raw entries)
 * include this; generic code speaks PT_* flags.
 *
 * Entry layout (every level):
 *
 *   63  62........52 51..................12 11..9 8 7  6 5 4   3   2 1 0
 *  +--+------------+----------------------+-----+-+--+-+-+---+---+-+-+-+
 *  |NX|  ignored   | physical frame number|avail|G|PS|D|A|PCD|PWT|U|W|P|
 *  +--+------------+----------------------+-----+-+--+-+-+---+---+-+-+-+
 *
 * PS (bit 7) marks a 1 GiB leaf in a PDPT entry or a 2 MiB leaf in a PD
 * entry; in a 4 KiB PTE bit 7 is PAT (never set: PWT and PCD pick the cache
 * type). Permissions live on leaves: upper entries are always present,
 * writable, executable and supervisor (user too above user leaves), so one
 * leaf tells the whole story.
 *
 * Cache types rely on the PAT layout arch/x86_64/mmu.c programs: PAT entry
 * 1 (PWT) is write-combining (PT_WC), entry 3 (PCD | PWT) uncached (PT_UC);
 * the firmware default makes entry 1 write-through, which is still safe.
 */
#pragma once

#include <lib/types.h>
#include <mm/pgtable.h>

#define PTE_P	    (1ull << 0)
#define PTE_W	    (1ull << 1)
#define PTE_U	    (1ull << 2)
#define PTE_PWT	    (1ull << 3)
#define PTE_PCD	    (1ull << 4)
#define PTE_A	    (1ull << 5)
#define PTE_D	    (1ull << 6)
#define PTE_PS	    (1ull << 7)
#define PTE_G	    (1ull << 8)
#define PTE_NX	    (1ull << 63)
#define PTE_ADDR    0x000ffffffffff000ull
#define PTE_ENTRIES 512

/*
 * Bits 52-58 are ignored by the CPU in every entry, present or not (bits
 * 59-62 would be protection keys). Entries 0 and 1 of each table carry the
 * table's count of present entries there (7 low bits, 7 high bits), so
 * unmapping knows in O(1) when a table has become empty.
 */
#define PTE_COUNT_SHIFT 52
#define PTE_COUNT_MASK	(0x7full << PTE_COUNT_SHIFT)

/*
 * Kernel only (arch/x86_64/mmu.c), for tests that plant a bad entry on
 * purpose: the live 4 KiB leaf entry for va, through the direct map; NULL
 * if va is unmapped or under a huge page. Flush after changing it.
 */
uint64_t *arch_live_pte(vaddr_t va);
