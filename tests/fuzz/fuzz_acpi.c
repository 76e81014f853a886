/*
 * libFuzzer target for lib/acpi.c: the input is a table as mapped (RSDP,
 * root table or MADT; the first byte picks which reading is tried first,
 * every one runs). Parsers must refuse or return results within the
 * buffer's bounds; ASan catches a read past the mapping, UBSan the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include <lib/acpi.h>

/* Every parser over the len bytes at buf; each result must stay within them. */
static void check_tables(const uint8_t *buf, size_t len)
{
	struct acpi_rsdp r;
	static struct acpi_madt m;

	if (acpi_rsdp_parse(buf, len, &r) == 0)
		ASSERT(r.revision < 2 || len >= ACPI_RSDP_V2_SIZE);
	for (int xsdt = 0; xsdt < 2; xsdt++) {
		if (acpi_sdt_check(buf, len, xsdt ? "XSDT" : "RSDT") != 0)
			continue;
		size_t n = acpi_root_count(buf, xsdt);
		ASSERT(ACPI_SDT_HEADER_SIZE + n * (xsdt ? 8 : 4) <= len);
		for (size_t i = 0; i < n; i++)
			(void)acpi_root_entry(buf, xsdt, i);
	}
	if (acpi_sdt_check(buf, len, NULL) == 0 || len >= ACPI_SDT_HEADER_SIZE) {
		if (acpi_madt_parse(buf, len, &m) == 0) {
			ASSERT(m.ncpus <= ACPI_MAX_CPUS && m.nioapics <= ACPI_MAX_IOAPICS);
			for (size_t i = 0; i < m.ncpus; i++) {
				ASSERT(m.cpus[i].flags &
				       (ACPI_CPU_ENABLED | ACPI_CPU_ONLINE_CAPABLE));
				for (size_t j = 0; j < i; j++)
					ASSERT(m.cpus[i].apic_id != m.cpus[j].apic_id);
			}
		}
	}
}

/* The input copied to a buffer exactly as long, so ASan sees any read past it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	check_tables(copy, size);
	/* A checksum-correct variant, so the parsers get past the checksum test. */
	if (size >= ACPI_SDT_HEADER_SIZE) {
		uint8_t sum = 0;
		size_t len = acpi_sdt_length(copy) <= size ? acpi_sdt_length(copy) : size;
		copy[9] = 0;
		for (size_t i = 0; i < len; i++)
			sum += copy[i];
		copy[9] = (uint8_t)-sum;
		check_tables(copy, size);
	}
	free(copy);
	return 0;
}
