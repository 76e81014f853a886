/*
 * Host tests for lib/acpi.c: a builder writes an RSDP, root tables and a
 * MADT into byte buffers with correct checksums; each negative test breaks
 * one thing (a checksum, a length that lies, a truncated mapping, an entry
 * that overruns) and expects a refusal.
 */
#include "check.h"

#include <string.h>

#include <lib/acpi.h>
#include <lib/errno.h>

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* Set byte at so that the len bytes at p sum to zero. */
static void fix_sum(uint8_t *p, size_t len, size_t at)
{
	uint8_t sum = 0;

	p[at] = 0;
	for (size_t i = 0; i < len; i++)
		sum += p[i];
	p[at] = (uint8_t)-sum;
}

/* An ACPI 2.0 RSDP in 36 bytes pointing at rsdt and xsdt. */
static void make_rsdp(uint8_t *p, uint32_t rsdt, uint64_t xsdt)
{
	memset(p, 0, ACPI_RSDP_V2_SIZE);
	memcpy(p, "RSD PTR ", 8);
	p[15] = 2;
	put32(p + 16, rsdt);
	put32(p + 20, ACPI_RSDP_V2_SIZE);
	put64(p + 24, xsdt);
	fix_sum(p, 20, 8);
	fix_sum(p, ACPI_RSDP_V2_SIZE, 32);
}

/* A table header with signature sig and length len; checksum fixed by seal(). */
static void make_header(uint8_t *p, const char *sig, uint32_t len)
{
	memset(p, 0, ACPI_SDT_HEADER_SIZE);
	memcpy(p, sig, 4);
	put32(p + 4, len);
}

static void seal(uint8_t *p)
{
	fix_sum(p, acpi_sdt_length(p), 9);
}

/* A MADT: two xAPIC CPUs (one disabled), one x2APIC CPU, an I/O APIC, an override. */
static size_t make_madt(uint8_t *p)
{
	size_t off = ACPI_MADT_FIXED_SIZE;
	static const uint8_t lapic0[8] = {0, 8, 0, 0, 1, 0, 0, 0};
	static const uint8_t lapic1[8] = {0, 8, 1, 1, 0, 0, 0, 0}; /* neither flag */
	static const uint8_t lapic2[8] = {0, 8, 2, 3, 2, 0, 0, 0}; /* online-capable */
	static const uint8_t ioapic[12] = {1, 12, 7, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0};
	static const uint8_t iso[10] = {2, 10, 0, 0, 2, 0, 0, 0, 0, 0};
	uint8_t x2[16] = {9, 16};

	make_header(p, "APIC", 0);
	put32(p + 36, 0xfee00000u);
	put32(p + 40, 1);
	memcpy(p + off, lapic0, 8), off += 8;
	memcpy(p + off, lapic1, 8), off += 8;
	memcpy(p + off, lapic2, 8), off += 8;
	memcpy(p + off, ioapic, 12), off += 12;
	memcpy(p + off, iso, 10), off += 10;
	put32(x2 + 4, 300);
	put32(x2 + 8, ACPI_CPU_ENABLED);
	put32(x2 + 12, 9);
	memcpy(p + off, x2, 16), off += 16;
	put32(p + 4, (uint32_t)off);
	seal(p);
	return off;
}

TEST(rsdp_v2_parses)
{
	uint8_t b[64];
	struct acpi_rsdp r;

	make_rsdp(b, 0x1000, 0x123456789000ull);
	CHECK_EQ(acpi_rsdp_parse(b, sizeof(b), &r), 0);
	CHECK_EQ(r.revision, 2);
	CHECK_EQ(r.rsdt, 0x1000);
	CHECK_EQ(r.xsdt, 0x123456789000ull);
}

TEST(rsdp_v1_has_no_xsdt)
{
	uint8_t b[ACPI_RSDP_V2_SIZE];
	struct acpi_rsdp r;

	make_rsdp(b, 0x2000, 0); /* 36 bytes: a 1.0 RSDP is the first 20 */
	b[15] = 0;
	fix_sum(b, 20, 8);
	CHECK_EQ(acpi_rsdp_parse(b, ACPI_RSDP_V1_SIZE, &r), 0);
	CHECK_EQ(r.revision, 0);
	CHECK_EQ(r.xsdt, 0);
	CHECK_EQ(r.rsdt, 0x2000);
}

TEST(rsdp_bad_signature_and_checksums_refused)
{
	uint8_t b[64];
	struct acpi_rsdp r;

	make_rsdp(b, 0x1000, 0x2000);
	b[0] = 'X';
	CHECK_EQ(acpi_rsdp_parse(b, sizeof(b), &r), -EINVAL);
	make_rsdp(b, 0x1000, 0x2000);
	b[16] ^= 1; /* both checksums now fail */
	CHECK_EQ(acpi_rsdp_parse(b, sizeof(b), &r), -EINVAL);
	make_rsdp(b, 0x1000, 0x2000);
	b[24] ^= 1; /* only the extended one */
	CHECK_EQ(acpi_rsdp_parse(b, sizeof(b), &r), -EINVAL);
}

TEST(rsdp_truncated_or_lying_length_refused)
{
	uint8_t b[64];
	struct acpi_rsdp r;

	make_rsdp(b, 0x1000, 0x2000);
	CHECK_EQ(acpi_rsdp_parse(b, 19, &r), -ERANGE);
	CHECK_EQ(acpi_rsdp_parse(b, 30, &r), -ERANGE);
	put32(b + 20, 60); /* longer than the 40 bytes mapped */
	fix_sum(b, 60, 32);
	CHECK_EQ(acpi_rsdp_parse(b, 40, &r), -ERANGE);
	put32(b + 20, 24); /* shorter than a 2.0 RSDP */
	fix_sum(b, 24, 32);
	CHECK_EQ(acpi_rsdp_parse(b, sizeof(b), &r), -EINVAL);
}

TEST(sdt_check_length_checksum_signature)
{
	uint8_t b[64] = {0};

	make_header(b, "XSDT", 52);
	put64(b + 36, 0xabc000);
	put64(b + 44, 0xdef000);
	seal(b);
	CHECK_EQ(acpi_sdt_check(b, sizeof(b), "XSDT"), 0);
	CHECK_EQ(acpi_sdt_check(b, sizeof(b), NULL), 0);
	CHECK_EQ(acpi_sdt_check(b, sizeof(b), "RSDT"), -EINVAL);
	CHECK_EQ(acpi_sdt_check(b, 51, "XSDT"), -ERANGE); /* mapping shorter than the table */
	CHECK_EQ(acpi_sdt_check(b, 20, "XSDT"), -ERANGE); /* not even a header */
	CHECK_EQ(acpi_root_count(b, true), 2);
	CHECK_EQ(acpi_root_entry(b, true, 1), 0xdef000);
	b[40] ^= 1;
	CHECK_EQ(acpi_sdt_check(b, sizeof(b), "XSDT"), -EINVAL);
	put32(b + 4, 10); /* a length below the header's own */
	CHECK_EQ(acpi_sdt_check(b, sizeof(b), NULL), -ERANGE);
	put32(b + 4, 0xffffffffu); /* a length that lies */
	CHECK_EQ(acpi_sdt_check(b, sizeof(b), NULL), -ERANGE);
}

TEST(rsdt_entries_are_32_bit)
{
	uint8_t b[48];

	make_header(b, "RSDT", 44);
	put32(b + 36, 0x1000);
	put32(b + 40, 0xfff0000u);
	seal(b);
	CHECK_EQ(acpi_sdt_check(b, sizeof(b), "RSDT"), 0);
	CHECK_EQ(acpi_root_count(b, false), 2);
	CHECK_EQ(acpi_root_entry(b, false, 1), 0xfff0000u);
}

TEST(madt_lists_cpus_ioapics_and_flags)
{
	uint8_t b[256];
	struct acpi_madt m;
	size_t len = make_madt(b);

	CHECK_EQ(acpi_sdt_check(b, len, "APIC"), 0);
	CHECK_EQ(acpi_madt_parse(b, len, &m), 0);
	CHECK_EQ(m.lapic_addr, 0xfee00000u);
	CHECK(!m.lapic_overridden);
	CHECK_EQ(m.flags, 1);
	CHECK_EQ(m.ncpus, 3);
	CHECK_EQ(m.cpus_unusable, 1);
	CHECK_EQ(m.cpus[0].apic_id, 0);
	CHECK_EQ(m.cpus[0].flags, ACPI_CPU_ENABLED);
	CHECK_EQ(m.cpus[1].apic_id, 3);
	CHECK_EQ(m.cpus[1].flags, ACPI_CPU_ONLINE_CAPABLE);
	CHECK_EQ(m.cpus[2].apic_id, 300);
	CHECK(m.cpus[2].x2apic);
	CHECK_EQ(m.cpus[2].acpi_uid, 9);
	CHECK_EQ(m.nioapics, 1);
	CHECK_EQ(m.ioapics[0].id, 7);
	CHECK_EQ(m.ioapics[0].addr, 0xfec00000u);
	CHECK_EQ(m.overrides, 1);
}

TEST(madt_address_override_wins)
{
	uint8_t b[256];
	size_t len = make_madt(b);
	uint8_t ov[12] = {5, 12};
	struct acpi_madt m;

	put64(ov + 4, 0x1234567000ull);
	memcpy(b + len, ov, 12);
	put32(b + 4, (uint32_t)(len + 12));
	seal(b);
	CHECK_EQ(acpi_madt_parse(b, len + 12, &m), 0);
	CHECK(m.lapic_overridden);
	CHECK_EQ(m.lapic_addr, 0x1234567000ull);
}

TEST(madt_bad_entries_refused)
{
	uint8_t b[256];
	struct acpi_madt m;
	size_t len = make_madt(b);

	b[ACPI_MADT_FIXED_SIZE + 1] = 0; /* a zero length would loop for ever */
	CHECK_EQ(acpi_madt_parse(b, len, &m), -EINVAL);
	make_madt(b);
	b[ACPI_MADT_FIXED_SIZE + 1] = 4; /* shorter than a local APIC entry */
	CHECK_EQ(acpi_madt_parse(b, len, &m), -EINVAL);
	make_madt(b);
	b[len - 16 + 1] = 17; /* the last entry overruns the table */
	CHECK_EQ(acpi_madt_parse(b, len, &m), -EINVAL);
	make_madt(b);
	CHECK_EQ(acpi_madt_parse(b, 40, &m), -EINVAL); /* no fixed part */
	/* The table claims more than is mapped: only the mapped part is read. */
	make_madt(b);
	CHECK_EQ(acpi_madt_parse(b, len - 16, &m), 0);
	CHECK_EQ(m.ncpus, 2);
}

TEST(madt_repeats_and_too_many_cpus)
{
	static uint8_t b[ACPI_MADT_FIXED_SIZE + 8 * (ACPI_MAX_CPUS + 3)];
	struct acpi_madt m;
	size_t off = ACPI_MADT_FIXED_SIZE;

	make_header(b, "APIC", 0);
	for (uint32_t i = 0; i < ACPI_MAX_CPUS + 2; i++, off += 8) {
		uint8_t e[8] = {0, 8, (uint8_t)i, (uint8_t)i, 1, 0, 0, 0};
		memcpy(b + off, e, 8);
	}
	uint8_t dup[8] = {0, 8, 0, 5, 1, 0, 0, 0};
	memcpy(b + off, dup, 8), off += 8;
	put32(b + 4, (uint32_t)off);
	seal(b);
	CHECK_EQ(acpi_madt_parse(b, off, &m), 0);
	CHECK_EQ(m.ncpus, ACPI_MAX_CPUS);
	CHECK_EQ(m.cpus_dropped, 2);
	CHECK_EQ(m.cpus_unusable, 1);
}

int main(void)
{
	RUN(rsdp_v2_parses);
	RUN(rsdp_v1_has_no_xsdt);
	RUN(rsdp_bad_signature_and_checksums_refused);
	RUN(rsdp_truncated_or_lying_length_refused);
	RUN(sdt_check_length_checksum_signature);
	RUN(rsdt_entries_are_32_bit);
	RUN(madt_lists_cpus_ioapics_and_flags);
	RUN(madt_address_override_wins);
	RUN(madt_bad_entries_refused);
	RUN(madt_repeats_and_too_many_cpus);
	return check_done();
}
