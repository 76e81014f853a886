/*
 * Leaving the firmware: take the final memory map, ExitBootServices (with
 * the retry the spec requires, since the map key changes under us),
 * normalise the map into boot_info, label the loader's allocations, set the
 * CPU state the kernel's tables need and jump through the trampoline.
 */
#include "loader.h"

#include <arch/x86_64/cpu.h>
#include <lib/fmt.h>
#include <lib/string.h>
#include <mm/memmap.h>

extern char trampoline_start[], trampoline_end[];

#define EBS_TRIES 8
#define COM1	  0x3f8

static struct efi_map final_map;
static paddr_t trampoline;
static paddr_t trampoline_page = PADDR_INVALID; /* our own page for it, if any */

/*
 * EFI_TIMER_ARCH_PROTOCOL (PI specification, DXE architectural protocols):
 * the firmware's periodic tick. EDK2's ExitBootServices stops it before it
 * checks the map key and leaves it stopped when the key is stale (the UEFI
 * spec allows such a partial shutdown). With no tick, no timer event fires
 * again: the shell's keyboard and serial input are polled by timer events,
 * so a loader that gives up would return to a deaf shell.
 */
#define TIMER_ARCH_PROTOCOL_GUID                                                                   \
	{                                                                                          \
		0x26baccb3, 0x6f42, 0x11d4,                                                        \
		{                                                                                  \
			0xbc, 0xe7, 0x00, 0x80, 0xc7, 0x3c, 0x88, 0x81                             \
		}                                                                                  \
	}
struct timer_arch_protocol {
	void *register_handler;
	EFI_STATUS(EFIAPI *set_period)(struct timer_arch_protocol *self, UINT64 period);
	EFI_STATUS(EFIAPI *get_period)(struct timer_arch_protocol *self, UINT64 *period);
	void *generate_soft_interrupt;
};

static struct timer_arch_protocol *fw_timer;
static UINT64 fw_timer_period; /* 100 ns units; 0 = stopped */

/*
 * After ExitBootServices the firmware console is gone: write straight to
 * COM1 (waiting a bounded time for room in its FIFO; with no port there,
 * the status register reads all ones and nothing waits).
 */
static void com1_write(const char *s)
{
	for (; *s; s++) {
		for (int spin = 0; spin < 100000 && !(inb(COM1 + 5) & 0x20); spin++)
			;
		outb(COM1, *s);
	}
}

/* Print an error on COM1, then stop. Only reachable if the map outgrew every estimate. */
static __noreturn void fail_after_exit(const char *msg)
{
	com1_write("aerie-loader: error: ");
	com1_write(msg);
	com1_write("\n");
	for (;;) {
		cli();
		hlt();
	}
}

/* Descriptors of room left in the final map's buffer for later allocations. */
#define FINAL_MAP_SLACK 128

/* Size final_map's buffer with generous slack: nothing may allocate after the last GetMemoryMap. */
static EFI_STATUS reserve_final_map(void)
{
	EFI_STATUS st = efi_map_get(&final_map);

	if (EFI_ERROR(st))
		return st;
	loader_bs->FreePool(final_map.buf);
	final_map.buf_size = final_map.map_size + FINAL_MAP_SLACK * final_map.desc_size;
	st = loader_fw_pool(final_map.buf_size, &final_map.buf);
	if (EFI_ERROR(st))
		final_map.buf = NULL;
	return st;
}

/*
 * The page the hand-off jumps through, identity-mapped in the kernel's
 * tables too: a copy of the trampoline in a page of its own, made
 * executable (efi-loader/nx.c). If the firmware keeps that page
 * non-executable, the trampoline runs from the loader's own code instead,
 * which the firmware must map executable since it runs it. Sets
 * bi->trampoline_phys; PADDR_INVALID on failure.
 */
paddr_t handoff_trampoline(struct boot_info *bi)
{
	EFI_PHYSICAL_ADDRESS pa;
	EFI_STATUS st = loader_fw_pages(AllocateAnyPages, EfiLoaderCode, 1, &pa);

	if (EFI_ERROR(st) || pa + PAGE_SIZE > (1ull << 47)) {
		loader_error("cannot allocate the hand-off trampoline page");
		return PADDR_INVALID;
	}
	memcpy((void *)pa, trampoline_start, trampoline_end - trampoline_start);
	trampoline = pa;
	trampoline_page = pa;
	if (!nx_make_executable(pa)) {
		nx_undo(pa);
		loader_bs->FreePages(pa, 1);
		trampoline_page = PADDR_INVALID;
		trampoline = (paddr_t)trampoline_start;
		pa = trampoline & ~(paddr_t)PAGE_MASK;
		if (!nx_live_executable(trampoline)) {
			loader_error("the firmware maps the loader's own code non-executable");
			return PADDR_INVALID;
		}
		loader_warn("the firmware keeps fresh pages non-executable: the hand-off runs "
			    "from the loader's own code");
	}
	bi->trampoline_phys = pa;
	return pa;
}

/*
 * Everything that must be allocated before the final memory map: the map
 * buffer itself. Sets *memmap_capacity to the entries boot_info must hold so
 * that normalising and labelling the final map cannot run out of room.
 */
EFI_STATUS handoff_prepare(size_t *memmap_capacity)
{
	static EFI_GUID timer_guid = TIMER_ARCH_PROTOCOL_GUID;
	EFI_STATUS st = reserve_final_map();

	/* The tick to restart if ExitBootServices stops it and we give up. */
	fw_timer = NULL;
	if (EFI_ERROR(loader_bs->LocateProtocol(&timer_guid, NULL, (void **)&fw_timer)) ||
	    EFI_ERROR(fw_timer->get_period(fw_timer, &fw_timer_period)))
		fw_timer = NULL;

	if (EFI_ERROR(st)) {
		loader_error("cannot read the memory map (EFI status %#lx)", (unsigned long)st);
		return st;
	}
	/* memmap_normalise needs 2n + 1; each label can split one entry in three. */
	*memmap_capacity =
	    2 * (final_map.buf_size / final_map.desc_size) + 1 + 2 * LOADER_MAX_ALLOCS;
	return EFI_SUCCESS;
}

/*
 * GetMemoryMap and ExitBootServices until the key is current (anything the
 * firmware does in between may change the map). efifail=N hands the first
 * N attempts a stale key, so the firmware refuses them as it would after a
 * change. Sets *retries to the failed attempts. Between attempts only
 * GetMemoryMap is called, into a buffer sized with slack beforehand.
 */
static EFI_STATUS exit_boot_services(const char *cmdline, unsigned int *retries)
{
	unsigned int forced = loader_option_uint(cmdline, "efifail", 999999, 0);
	EFI_STATUS st = EFI_SUCCESS;

	for (*retries = 0; *retries < EBS_TRIES; ++*retries) {
		st = efi_map_get(&final_map);
		if (EFI_ERROR(st))
			return st;
		UINTN key = final_map.key + (*retries < forced ? 1 : 0);
		st = loader_bs->ExitBootServices(loader_image, key);
		if (!EFI_ERROR(st))
			return st;
	}
	loader_error("ExitBootServices failed %u times in a row (%u forced by efifail): "
		     "the memory map keeps changing; giving up",
		     *retries, forced < *retries ? forced : *retries);
	return st;
}

/* Say on COM1 (the firmware console is gone) how many attempts failed. */
static void report_retries(unsigned int retries)
{
	char line[96];

	if (retries == 0)
		return;
	fmt_snprintf(line, sizeof(line),
		     "aerie-loader: ExitBootServices succeeded after %u retries "
		     "(stale memory map key)\n",
		     retries);
	com1_write(line);
}

/*
 * At loglevel=debug, say on COM1 how the loader's time split: from
 * efi_main to the ExitBootServices call, and the call itself (retries
 * included). Raw TSC cycles: the loader never calibrates the TSC; the
 * kernel's timer line gives its rate (scripts/matrix.py converts).
 */
static void report_timing(uint64_t entry, uint64_t ebs_start, uint64_t ebs_done)
{
	char line[128];

	if (!loader_debug)
		return;
	fmt_snprintf(line, sizeof(line),
		     "aerie-loader: timing: %llu TSC cycles before ExitBootServices, "
		     "%llu in it\n",
		     (unsigned long long)(ebs_start - entry),
		     (unsigned long long)(ebs_done - ebs_start));
	com1_write(line);
}

/* Turn the final firmware map into boot_info's normalised, labelled map. */
static void build_boot_memmap(struct boot_info *bi)
{
	size_t n = efi_map_to_raw(&final_map), count, nallocs;
	struct memmap_entry *map = boot_info_memmap(bi);
	int ret = memmap_normalise(final_map.buf, n, map, bi->memmap_capacity);

	if (ret < 0)
		fail_after_exit("memory map does not fit in boot_info");
	count = (size_t)ret;
	const struct loader_alloc *a = loader_allocations(&nallocs);
	for (size_t i = 0; i < nallocs; i++) {
		if (memmap_set_type(map, &count, bi->memmap_capacity, a[i].base, a[i].size,
				    a[i].type) != 0)
			fail_after_exit("cannot label the loader's allocations");
	}
	bi->memmap_count = count;
}

/*
 * Undo what the hand-off set up, for a loader that returns to the firmware:
 * restart the firmware's tick if a failed ExitBootServices stopped it, free
 * the final map's buffer and the trampoline page (its attributes restored).
 * Safe to call whether or not handoff_trampoline/handoff_prepare ran.
 */
void handoff_undo(void)
{
	UINT64 now = 0;

	if (fw_timer && fw_timer_period && !EFI_ERROR(fw_timer->get_period(fw_timer, &now)) &&
	    now != fw_timer_period) {
		fw_timer->set_period(fw_timer, fw_timer_period);
		loader_debugf("restarted the firmware timer (%llu x 100 ns) that "
			      "ExitBootServices stopped",
			      (unsigned long long)fw_timer_period);
	}
	fw_timer = NULL;
	if (final_map.buf)
		loader_bs->FreePool(final_map.buf);
	final_map = (struct efi_map){0};
	if (trampoline_page != PADDR_INVALID) {
		nx_undo(trampoline_page);
		loader_bs->FreePages(trampoline_page, 1);
	}
	trampoline_page = PADDR_INVALID;
}

/*
 * Leave boot services and enter the kernel at entry with boot_info at
 * bi_virt, on the page tables at pml4. Returns only if ExitBootServices
 * failed, with boot services still usable.
 */
EFI_STATUS handoff(struct boot_info *bi, paddr_t pml4, vaddr_t entry)
{
	vaddr_t bi_virt = bi->direct_map_base + bi->boot_info_phys;
	unsigned int retries;
	uint64_t ebs_start = rdtsc();
	EFI_STATUS st = exit_boot_services(bi->cmdline, &retries);
	uint64_t ebs_done = rdtsc();

	if (EFI_ERROR(st)) {
		loader_error("ExitBootServices failed (EFI status %#lx)", (unsigned long)st);
		return st;
	}
	cli();
	report_retries(retries);
	report_timing(bi->tsc_at_entry, ebs_start, ebs_done);
	build_boot_memmap(bi);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE); /* before any NX bit is live */
	write_cr0(read_cr0() | CR0_WP);
	write_cr4(read_cr4() | CR4_PGE);
	bi->tsc_at_exit = rdtsc();
	((void (*)(uint64_t, uint64_t, uint64_t, uint64_t))trampoline)(bi_virt, pml4,
								       bi->boot_stack_top, entry);
	__builtin_unreachable();
}
