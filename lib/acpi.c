/*
 * ACPI table parsing over byte buffers (include/lib/acpi.h): the RSDP, the
 * common table header, the root tables and the MADT. Every read is bounded
 * by the bytes the caller says are mapped, never by a field of the table
 * alone. Portable: the host tests and fuzz_acpi build this file unchanged.
 */
#include <lib/acpi.h>
#include <lib/errno.h>
#include <lib/string.h>

/* RSDP fields (ACPI 6.5 table 5.3). */
#define RSDP_CHECKSUM_END 20
#define RSDP_REVISION	  15
#define RSDP_RSDT	  16
#define RSDP_LENGTH	  20
#define RSDP_XSDT	  24

/* System description table header fields (table 5.4). */
#define SDT_LENGTH 4

/* MADT entry types (table 5.21) and their minimum lengths. */
#define MADT_LAPIC	    0
#define MADT_IOAPIC	    1
#define MADT_OVERRIDE	    2
#define MADT_LAPIC_ADDRESS  5
#define MADT_X2APIC	    9
#define MADT_LAPIC_LEN	    8
#define MADT_IOAPIC_LEN	    12
#define MADT_LAPIC_ADDR_LEN 12
#define MADT_X2APIC_LEN	    16
#define XAPIC_BROADCAST	    0xff /* not a CPU's id */

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

bool acpi_checksum_ok(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return sum == 0;
}

int acpi_rsdp_parse(const void *buf, size_t len, struct acpi_rsdp *out)
{
	const uint8_t *p = buf;
	uint32_t length;

	if (len < ACPI_RSDP_V1_SIZE)
		return -ERANGE;
	if (memcmp(p, "RSD PTR ", 8) != 0 || !acpi_checksum_ok(p, RSDP_CHECKSUM_END))
		return -EINVAL;
	*out = (struct acpi_rsdp){.revision = p[RSDP_REVISION], .rsdt = rd32(p + RSDP_RSDT)};
	if (out->revision < 2)
		return 0;
	if (len < ACPI_RSDP_V2_SIZE)
		return -ERANGE;
	length = rd32(p + RSDP_LENGTH);
	if (length < ACPI_RSDP_V2_SIZE)
		return -EINVAL;
	if (length > len)
		return -ERANGE;
	if (!acpi_checksum_ok(p, length))
		return -EINVAL;
	out->xsdt = rd64(p + RSDP_XSDT);
	return 0;
}

uint32_t acpi_sdt_length(const void *hdr)
{
	return rd32((const uint8_t *)hdr + SDT_LENGTH);
}

int acpi_sdt_check(const void *buf, size_t len, const char *sig)
{
	uint32_t length;

	if (len < ACPI_SDT_HEADER_SIZE)
		return -ERANGE;
	length = acpi_sdt_length(buf);
	if (length < ACPI_SDT_HEADER_SIZE || length > len)
		return -ERANGE;
	if (sig && memcmp(buf, sig, 4) != 0)
		return -EINVAL;
	return acpi_checksum_ok(buf, length) ? 0 : -EINVAL;
}

size_t acpi_root_count(const void *root, bool xsdt)
{
	return (acpi_sdt_length(root) - ACPI_SDT_HEADER_SIZE) / (xsdt ? 8 : 4);
}

uint64_t acpi_root_entry(const void *root, bool xsdt, size_t i)
{
	const uint8_t *p = (const uint8_t *)root + ACPI_SDT_HEADER_SIZE;

	return xsdt ? rd64(p + 8 * i) : rd32(p + 4 * i);
}

/* Add one processor entry, unless unusable, a repeat, or past the array. */
static void madt_add_cpu(struct acpi_madt *m, uint32_t apic_id, uint32_t uid, uint32_t flags,
			 bool x2apic)
{
	if (!(flags & (ACPI_CPU_ENABLED | ACPI_CPU_ONLINE_CAPABLE))) {
		m->cpus_unusable++;
		return;
	}
	for (size_t i = 0; i < m->ncpus; i++) {
		if (m->cpus[i].apic_id == apic_id) {
			m->cpus_unusable++;
			return;
		}
	}
	if (m->ncpus == ACPI_MAX_CPUS) {
		m->cpus_dropped++;
		return;
	}
	m->cpus[m->ncpus++] = (struct acpi_cpu){apic_id, uid, flags, x2apic};
}

static void madt_add_ioapic(struct acpi_madt *m, const uint8_t *e)
{
	if (m->nioapics < ACPI_MAX_IOAPICS)
		m->ioapics[m->nioapics++] = (struct acpi_ioapic){e[2], rd32(e + 4), rd32(e + 8)};
}

/* The minimum length of an entry of this type; 2 for types we skip. */
static size_t madt_min_length(uint8_t type)
{
	switch (type) {
	case MADT_LAPIC:
		return MADT_LAPIC_LEN;
	case MADT_IOAPIC:
		return MADT_IOAPIC_LEN;
	case MADT_LAPIC_ADDRESS:
		return MADT_LAPIC_ADDR_LEN;
	case MADT_X2APIC:
		return MADT_X2APIC_LEN;
	default:
		return 2;
	}
}

/* One entry of at least madt_min_length(e[0]) bytes. */
static void madt_entry(struct acpi_madt *m, const uint8_t *e)
{
	switch (e[0]) {
	case MADT_LAPIC:
		if (e[3] != XAPIC_BROADCAST)
			madt_add_cpu(m, e[3], e[2], rd32(e + 4), false);
		else
			m->cpus_unusable++;
		break;
	case MADT_IOAPIC:
		madt_add_ioapic(m, e);
		break;
	case MADT_OVERRIDE:
		m->overrides++;
		break;
	case MADT_LAPIC_ADDRESS:
		m->lapic_addr = rd64(e + 4);
		m->lapic_overridden = true;
		break;
	case MADT_X2APIC:
		madt_add_cpu(m, rd32(e + 4), rd32(e + 12), rd32(e + 8), true);
		break;
	}
}

int acpi_madt_parse(const void *buf, size_t len, struct acpi_madt *out)
{
	const uint8_t *p = buf;
	size_t end = MIN((size_t)acpi_sdt_length(buf), len);

	memset(out, 0, sizeof(*out));
	if (end < ACPI_MADT_FIXED_SIZE)
		return -EINVAL;
	out->flags = rd32(p + 40);
	/* The 32-bit address first: an override entry anywhere replaces it. */
	out->lapic_addr = rd32(p + 36);
	for (size_t off = ACPI_MADT_FIXED_SIZE; off < end;) {
		if (end - off < 2)
			return -EINVAL;
		uint8_t type = p[off], elen = p[off + 1];
		if (elen < 2 || elen > end - off || elen < madt_min_length(type))
			return -EINVAL;
		off += elen;
	}
	for (size_t off = ACPI_MADT_FIXED_SIZE; off < end; off += p[off + 1])
		madt_entry(out, p + off);
	return 0;
}
