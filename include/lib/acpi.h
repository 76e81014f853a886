/*
 * ACPI table parsing (lib/acpi.c): pure functions over byte buffers, so the
 * host tests and the fuzzer run them as they are. The caller maps a table
 * and passes how many bytes it mapped; nothing here trusts a length field
 * before checking it against that. The machine side (arch/x86_64/acpi.c)
 * finds the tables in physical memory and maps them.
 *
 * ACPI 6.5: 5.2.5 RSDP, 5.2.6 system description table header, 5.2.7 RSDT,
 * 5.2.8 XSDT, 5.2.12 MADT.
 */
#pragma once

#include <lib/types.h>

#define ACPI_RSDP_V1_SIZE    20 /* ACPI 1.0 RSDP: checksum covers these bytes */
#define ACPI_RSDP_V2_SIZE    36 /* ACPI 2.0+: the extended checksum covers length bytes */
#define ACPI_SDT_HEADER_SIZE 36
#define ACPI_MADT_FIXED_SIZE 44 /* header, local APIC address, flags */

#define ACPI_MAX_CPUS	 64 /* CPUs kept from the MADT; more are counted as dropped */
#define ACPI_MAX_IOAPICS 8

/* MADT local APIC / x2APIC flags (ACPI 6.5 table 5.23). */
#define ACPI_CPU_ENABLED	(1u << 0)
#define ACPI_CPU_ONLINE_CAPABLE (1u << 1) /* not enabled now, may be hot-added */

/* What an RSDP says: where the root table is. */
struct acpi_rsdp {
	uint8_t revision; /* 0 for ACPI 1.0, 2 for 2.0+ */
	uint64_t rsdt;	  /* 32-bit root, always present */
	uint64_t xsdt;	  /* 64-bit root, 0 before ACPI 2.0 */
};

struct acpi_cpu {
	uint32_t apic_id;  /* local APIC (or x2APIC) id: the IPI destination */
	uint32_t acpi_uid; /* processor UID */
	uint32_t flags;	   /* ACPI_CPU_* */
	bool x2apic;	   /* listed by an x2APIC entry (type 9) */
};

struct acpi_ioapic {
	uint32_t id;
	uint32_t addr; /* physical address of its registers */
	uint32_t gsi_base;
};

/* What the MADT lists. */
struct acpi_madt {
	uint64_t lapic_addr;   /* local APIC registers (the override's if one is present) */
	bool lapic_overridden; /* a type 5 entry gave a 64-bit address */
	uint32_t flags;	       /* bit 0: PC-AT compatible 8259s present */
	size_t ncpus;	       /* entries in cpus[] */
	size_t cpus_dropped;   /* usable CPUs past ACPI_MAX_CPUS */
	size_t cpus_unusable;  /* entries neither enabled nor online-capable */
	size_t nioapics;       /* entries in ioapics[] */
	size_t overrides;      /* interrupt source overrides (type 2), counted */
	struct acpi_cpu cpus[ACPI_MAX_CPUS];
	struct acpi_ioapic ioapics[ACPI_MAX_IOAPICS];
};

/* True if the len bytes at buf sum to 0 (mod 256), the ACPI checksum rule. */
bool acpi_checksum_ok(const void *buf, size_t len);

/*
 * Parse an RSDP from the len bytes at buf.
 * Returns 0, -EINVAL for a bad signature or checksum (a revision 2+ RSDP
 * must pass both checksums and give a length of at least 36), or -ERANGE if
 * len is too short for what the RSDP says it is (the caller maps more).
 */
int acpi_rsdp_parse(const void *buf, size_t len, struct acpi_rsdp *out);

/*
 * The length a table's header claims. => len >= ACPI_SDT_HEADER_SIZE.
 * Unchecked: pass it to acpi_sdt_check() with the bytes actually mapped.
 */
uint32_t acpi_sdt_length(const void *hdr);

/*
 * Check a whole table: its length fits in the len mapped bytes and covers
 * at least the header, its checksum is right and, if sig is not NULL, its
 * 4-byte signature is sig. Returns 0, -ERANGE (truncated or a length that
 * lies) or -EINVAL (checksum or signature).
 */
int acpi_sdt_check(const void *buf, size_t len, const char *sig);

/*
 * Entries of a checked root table (XSDT: 8-byte addresses, RSDT: 4-byte).
 * => acpi_sdt_check(root, len, "XSDT" or "RSDT") returned 0.
 */
size_t acpi_root_count(const void *root, bool xsdt);
uint64_t acpi_root_entry(const void *root, bool xsdt, size_t i);

/*
 * Parse a checked MADT (acpi_sdt_check(buf, len, "APIC") == 0) into out.
 * Returns 0, or -EINVAL for a table shorter than its fixed part or an entry
 * whose length is under 2, overruns the table or is too short for its type.
 * CPUs neither enabled nor online-capable, and a repeated APIC id, are left
 * out (counted in cpus_unusable); xAPIC id 0xff is not a CPU.
 */
int acpi_madt_parse(const void *buf, size_t len, struct acpi_madt *out);
