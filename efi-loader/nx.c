/*
 * Making the hand-off trampoline executable under firmware that maps fresh
 * allocations non-executable (recent firmware does for images that declare
 * NX_COMPAT, as ours does: scripts/pe_nxcompat.py). The firmware's memory
 * attribute protocol (UEFI 2.10) clears EFI_MEMORY_XP where it exists; the
 * firmware's own page tables (identity-mapped, reached through CR3) then
 * tell whether the page really is executable.
 */
#include "loader.h"

#include <arch/x86_64/cpu.h>

/* EFI_MEMORY_ATTRIBUTE_PROTOCOL: newer than gnu-efi's headers. */
#define MEMORY_ATTRIBUTE_PROTOCOL_GUID                                                             \
	{                                                                                          \
		0xf4560cf6, 0x40ec, 0x4b4a,                                                        \
		{                                                                                  \
			0xa1, 0x92, 0xbf, 0x1d, 0x57, 0xd0, 0xb1, 0x89                             \
		}                                                                                  \
	}
#define MEMORY_RO 0x20000ull /* EFI_MEMORY_RO */

struct memory_attribute_protocol;
typedef EFI_STATUS(EFIAPI *memory_attribute_fn)(struct memory_attribute_protocol *self,
						EFI_PHYSICAL_ADDRESS base, UINT64 length,
						UINT64 attributes);
struct memory_attribute_protocol {
	EFI_STATUS(EFIAPI *get)
	(struct memory_attribute_protocol *self, EFI_PHYSICAL_ADDRESS base, UINT64 length,
	 UINT64 *attributes);
	memory_attribute_fn set;
	memory_attribute_fn clear;
};

#define PTE_P	     (1ull << 0)
#define PTE_PS	     (1ull << 7)
#define PTE_NX	     (1ull << 63)
#define PTE_ADDR_MSK 0x000ffffffffff000ull

/*
 * True if va is mapped and executable in the live (firmware) tables: present
 * at every level with no NX bit on the way (NX counts only with EFER.NXE).
 */
static bool live_page_executable(uint64_t va)
{
	bool nxe = rdmsr(MSR_EFER) & EFER_NXE;
	uint64_t table = read_cr3() & PTE_ADDR_MSK;

	for (int shift = 39; shift >= 12; shift -= 9) {
		uint64_t e = ((const uint64_t *)table)[(va >> shift) & 511];
		if (!(e & PTE_P) || (nxe && (e & PTE_NX)))
			return false;
		if (shift == 12 || (shift <= 30 && (e & PTE_PS)))
			return true;
		table = e & PTE_ADDR_MSK;
	}
	return false;
}

#define MEMORY_ACCESS (MEMORY_RO | EFI_MEMORY_XP)

/* The protocol, and the page's access attributes before we changed them. */
static struct memory_attribute_protocol *unlocked_by;
static UINT64 attrs_before;

/* Ask the firmware to make the page at pa read-only and executable. */
static const char *attribute_protocol_unlock(paddr_t pa)
{
	static EFI_GUID guid = MEMORY_ATTRIBUTE_PROTOCOL_GUID;
	struct memory_attribute_protocol *mem;
	UINT64 attrs = 0;

	if (EFI_ERROR(loader_bs->LocateProtocol(&guid, NULL, (void **)&mem)))
		return "absent";
	if (EFI_ERROR(mem->get(mem, pa, PAGE_SIZE, &attrs_before)))
		attrs_before = EFI_MEMORY_XP; /* what a fresh page has under NX_COMPAT */
	unlocked_by = mem;
	mem->set(mem, pa, PAGE_SIZE, MEMORY_RO); /* W^X here too; a refusal does no harm */
	if (EFI_ERROR(mem->clear(mem, pa, PAGE_SIZE, EFI_MEMORY_XP)))
		return "present, ClearMemoryAttributes(XP) failed";
	if (!EFI_ERROR(mem->get(mem, pa, PAGE_SIZE, &attrs)) && (attrs & EFI_MEMORY_XP))
		return "present, XP still set";
	return "present, XP cleared";
}

/*
 * Make the page at pa executable where the firmware lets us, and say
 * whether it is: true if its live mapping allows instruction fetches.
 */
bool nx_make_executable(paddr_t pa)
{
	const char *how = attribute_protocol_unlock(pa);
	bool exec = live_page_executable(pa);

	loader_debugf("trampoline page: memory attribute protocol %s; %s in the firmware's tables",
		      how, exec ? "executable" : "NOT executable");
	return exec;
}

bool nx_live_executable(uint64_t va)
{
	return live_page_executable(va);
}

/*
 * Give the page at pa back the access attributes it had before
 * nx_make_executable, so that it can be freed as the firmware handed it
 * out (a read-only page freed and handed out again would fault its next
 * owner).
 */
void nx_undo(paddr_t pa)
{
	struct memory_attribute_protocol *mem = unlocked_by;

	unlocked_by = NULL;
	if (!mem)
		return;
	if (attrs_before & MEMORY_ACCESS)
		mem->set(mem, pa, PAGE_SIZE, attrs_before & MEMORY_ACCESS);
	if (~attrs_before & MEMORY_ACCESS)
		mem->clear(mem, pa, PAGE_SIZE, ~attrs_before & MEMORY_ACCESS);
}
