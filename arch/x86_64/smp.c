/*
 * Starting the other CPUs (the boot CPU's side): the MADT lists them, a
 * trampoline below 1 MiB takes each from real mode to long mode
 * (smp_trampoline.S), and INIT, SIPI, SIPI start it (Intel SDM vol. 3A
 * 9.4.4.1, MultiProcessor Specification 1.4 B.4): 10 ms after INIT, 200 us
 * after each SIPI, then up to SMP_START_TIMEOUT_MS for the trampoline's
 * first write and SMP_ONLINE_TIMEOUT_MS more to be parked. One CPU at a
 * time: they share the trampoline. The AP's side is smp_ap.c.
 *
 * The trampoline switches paging on with temporary tables in the reserved
 * low pages (the kernel's upper half, plus the low 2 MiB identity-mapped
 * so the trampoline keeps running); the AP leaves them for the kernel's
 * own tables at once. The kernel's tables never get a lower-half mapping.
 */
#include <arch/mmu.h>
#include <arch/timer.h>
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/pgtable.h>
#include <arch/x86_64/smp.h>
#include <kernel/boot.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <kernel/random.h>
#include <lib/cmdline.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/addr.h>
#include <mm/memmap.h>

#define SMP_LOW_PAGES	      4	       /* trampoline code, temporary PML4, PDPT, PD */
#define SMP_LOW_LIMIT	      0x100000 /* a SIPI vector names a page below 1 MiB */
#define SMP_INIT_DELAY_US     10000    /* after INIT (SDM 9.4.4.1, MP spec B.4.1) */
#define SMP_SIPI_DELAY_US     200      /* after each SIPI (same) */
#define SMP_START_TIMEOUT_MS  200      /* SIPI to the trampoline's first write */
#define SMP_ONLINE_TIMEOUT_MS 1000     /* trampoline to parked */

extern const char smp_trampoline_start[], smp_trampoline_end[];
extern const char smp_tr_gdt_ptr[], smp_tr_far32[], smp_tr_far64[], smp_tr_cr3[];
extern const char smp_tr_started[], smp_tr_stack[], smp_tr_arg[], smp_tr_entry[];

struct smp_cpu smp_cpus[SMP_MAX_CPUS];
struct smp_boot_state smp_boot_state;
static struct arch_smp_info info;
static paddr_t smp_low = PADDR_INVALID;

void arch_smp_reserve_low(struct boot_info *bi)
{
	struct memmap_entry *map = boot_info_memmap(bi);
	size_t n = bi->memmap_count;

	/* The highest free run below 1 MiB, never page 0. */
	for (size_t i = n; i-- > 0;) {
		uint64_t lo = MAX(ALIGN_UP(map[i].base, PAGE_SIZE), PAGE_SIZE);
		uint64_t hi =
		    ALIGN_DOWN(MIN(map[i].base + map[i].length, SMP_LOW_LIMIT), PAGE_SIZE);
		uint64_t base = hi - SMP_LOW_PAGES * PAGE_SIZE;
		if (map[i].type != MEMMAP_USABLE || hi < lo + SMP_LOW_PAGES * PAGE_SIZE)
			continue;
		if (memmap_set_type(map, &n, bi->memmap_capacity, base, SMP_LOW_PAGES * PAGE_SIZE,
				    MEMMAP_BOOTDATA) == 0) {
			bi->memmap_count = (uint32_t)n;
			smp_low = base;
		}
		return;
	}
}

/* The trampoline copy's field named by sym. */
static void *tr_field(const char *sym)
{
	return (char *)phys_to_virt(smp_low) + (sym - smp_trampoline_start);
}

/* Copy the trampoline, relocate its far pointers, build the temporary tables. */
static void smp_prepare_trampoline(void)
{
	uint64_t *pml4 = phys_to_virt(smp_low + PAGE_SIZE);
	uint64_t *pdpt = phys_to_virt(smp_low + 2 * PAGE_SIZE);
	uint64_t *pd = phys_to_virt(smp_low + 3 * PAGE_SIZE);

	KASSERT((uint64_t)(smp_trampoline_end - smp_trampoline_start) <= PAGE_SIZE);
	memcpy(phys_to_virt(smp_low), smp_trampoline_start,
	       smp_trampoline_end - smp_trampoline_start);
	*(uint32_t *)tr_field(smp_tr_gdt_ptr + 2) += (uint32_t)smp_low;
	*(uint32_t *)tr_field(smp_tr_far32) += (uint32_t)smp_low;
	*(uint32_t *)tr_field(smp_tr_far64) += (uint32_t)smp_low;
	*(uint32_t *)tr_field(smp_tr_cr3) = (uint32_t)(smp_low + PAGE_SIZE);
	*(uint64_t *)tr_field(smp_tr_entry) = (uint64_t)smp_ap_entry;
	memset(pml4, 0, PAGE_SIZE);
	memset(pdpt, 0, PAGE_SIZE);
	memset(pd, 0, PAGE_SIZE);
	pml4[0] = (smp_low + 2 * PAGE_SIZE) | PTE_P | PTE_W;
	pdpt[0] = (smp_low + 3 * PAGE_SIZE) | PTE_P | PTE_W;
	pd[0] = PTE_P | PTE_W | PTE_PS; /* [0, 2 MiB) identity, executable: APs only */
}

/*
 * The kernel's upper half into the temporary PML4, again before each
 * start: the AP's stack, just allocated, may sit under a top-level entry
 * that did not exist at the last copy (the AP pushes onto it before it
 * loads the kernel's own tables).
 */
static void smp_refresh_tables(void)
{
	uint64_t *pml4 = phys_to_virt(smp_low + PAGE_SIZE);
	const uint64_t *kernel = phys_to_virt(arch_tables_root());

	memcpy(pml4 + PTE_ENTRIES / 2, kernel + PTE_ENTRIES / 2, PAGE_SIZE / 2);
}

/* What each AP copies: the boot CPU's control registers, PAT, IDT, tables. */
static void smp_save_boot_state(void)
{
	struct smp_boot_state *s = &smp_boot_state;

	s->cr0 = read_cr0();
	s->cr4 = read_cr4();
	s->efer = rdmsr(MSR_EFER);
	s->pat = arch_mmu_features()->pat ? rdmsr(MSR_PAT) : 0;
	s->root = arch_tables_root();
	__asm__ volatile("sidt %0" : "=m"(s->idtr));
}

void smp_delay_us(uint64_t us)
{
	uint64_t start = rdtsc(), ticks = us * arch_timer_info()->tsc_khz / 1000;

	while (rdtsc() - start < ticks)
		__builtin_ia32_pause();
}

/* Wait up to ms for *p to become want. */
static bool smp_wait(const volatile uint32_t *p, uint32_t want, uint64_t ms)
{
	uint64_t start = rdtsc(), ticks = ms * arch_timer_info()->tsc_khz;

	while (*p != want) {
		if (rdtsc() - start >= ticks)
			return false;
		__builtin_ia32_pause();
	}
	return true;
}

/* INIT, wait, SIPI, wait, SIPI, wait (SDM 9.4.4.1). */
static void smp_send_startup(uint32_t apic)
{
	apic_send_ipi(apic, APIC_ICR_INIT | APIC_ICR_LEVEL | APIC_ICR_ASSERT);
	apic_send_ipi(apic, APIC_ICR_INIT | APIC_ICR_LEVEL); /* de-assert (older CPUs need it) */
	smp_delay_us(SMP_INIT_DELAY_US);
	for (int i = 0; i < 2; i++) {
		apic_send_ipi(apic, APIC_ICR_STARTUP | APIC_ICR_ASSERT | (uint32_t)(smp_low >> 12));
		smp_delay_us(SMP_SIPI_DELAY_US);
	}
}

/*
 * Start CPU cpu (unless skip) and wait for it. A CPU that does not answer
 * gets INIT again, back to waiting for a SIPI, so it cannot wake later in
 * a trampoline set up for another CPU. Returns false if it is not up;
 * *stuck if it may still be running the trampoline.
 */
static bool smp_start_cpu(unsigned int cpu, bool skip, bool *stuck)
{
	struct smp_cpu *c = &smp_cpus[cpu];
	volatile uint32_t *started = tr_field(smp_tr_started);
	uint64_t t0 = rdtsc();

	*started = 0;
	smp_refresh_tables();
	*(uint64_t *)tr_field(smp_tr_stack) = c->stack.top;
	*(uint64_t *)tr_field(smp_tr_arg) = (uint64_t)c;
	if (!skip)
		smp_send_startup(c->apic_id);
	*stuck = false;
	if (smp_wait(started, 1, SMP_START_TIMEOUT_MS) &&
	    smp_wait(&c->state, SMP_CPU_UP, SMP_ONLINE_TIMEOUT_MS)) {
		info.cpu_us[cpu] = (rdtsc() - t0) * 1000 / arch_timer_info()->tsc_khz;
		return true;
	}
	*stuck = *started;
	kwarn("smp: CPU %u (APIC id %u) did not start%s", cpu, c->apic_id,
	      *stuck ? ": it ran the trampoline but never got parked" : "");
	apic_send_ipi(c->apic_id, APIC_ICR_INIT | APIC_ICR_LEVEL | APIC_ICR_ASSERT);
	smp_offline(cpu); /* waiting for a SIPI it would never answer a shootdown */
	return false;
}

/* Per-CPU area, parking stack and descriptor tables for AP cpu. 0 or an error. */
static int smp_prepare_cpu(unsigned int cpu, uint32_t apic)
{
	struct smp_cpu *c = &smp_cpus[cpu];
	int err;

	c->apic_id = apic;
	c->percpu = (struct percpu){.self = &c->percpu, .cpu = cpu, .stack_canary = random_u64()};
	err = kstack_alloc(&c->stack, "AP parking");
	if (!err)
		err = gdt_cpu_prepare(cpu);
	return err;
}

/* The number in "name=N" on the command line, or -1. */
static long smp_option(const char *cmdline, const char *name)
{
	char buf[12];
	long v = 0;

	if (cmdline_get(cmdline, name, buf, sizeof(buf)) <= 0)
		return -1;
	for (const char *p = buf; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v;
}

/* Start every enabled CPU the MADT lists but this one, in MADT order. */
static void smp_start_all(const struct acpi_madt *m, const char *cmdline)
{
	long skip = smp_option(cmdline, "smp_skip");
	unsigned int next = 1;
	bool stuck = false;

	for (size_t i = 0; i < m->ncpus && next < SMP_MAX_CPUS && !stuck; i++) {
		const struct acpi_cpu *a = &m->cpus[i];
		if (!(a->flags & ACPI_CPU_ENABLED) || a->apic_id == smp_cpus[0].apic_id)
			continue;
		unsigned int cpu = next++;
		int err = smp_prepare_cpu(cpu, a->apic_id);
		if (err) {
			kwarn("smp: CPU %u (APIC id %u) not started: no memory for it (%d)", cpu,
			      a->apic_id, err);
			continue;
		}
		if (smp_start_cpu(cpu, skip == (long)cpu, &stuck))
			info.up++;
	}
	if (stuck)
		kwarn("smp: the trampoline may still be in use: no further CPU started");
}

static unsigned int smp_listed(const struct acpi_madt *m)
{
	unsigned int n = 0;

	for (size_t i = 0; i < m->ncpus; i++)
		n += (m->cpus[i].flags & ACPI_CPU_ENABLED) != 0;
	return n;
}

void arch_smp_init(const char *cmdline)
{
	static struct acpi_madt madt;
	uint64_t t0 = rdtsc();
	int err;

	smp_cpus[0] = (struct smp_cpu){.apic_id = apic_id(), .state = SMP_CPU_UP};
	info.up = 1;
	err = acpi_madt_find(boot_info, &madt);
	if (err) {
		kwarn("smp: no usable MADT (%d): only the boot CPU runs", err);
		return;
	}
	info.listed = smp_listed(&madt);
	kdebug("smp: MADT: %u CPUs enabled, %zu online-capable, %zu unusable, %zu I/O APICs, "
	       "local APIC at %#llx%s",
	       info.listed, madt.ncpus - info.listed, madt.cpus_unusable, madt.nioapics,
	       (unsigned long long)madt.lapic_addr, madt.lapic_overridden ? " (override)" : "");
	if (smp_low == PADDR_INVALID || cmdline_has(cmdline, "nosmp")) {
		kinfo("smp: 1 CPU up (of %u listed): %s", info.listed,
		      smp_low == PADDR_INVALID ? "no trampoline page below 1 MiB" : "nosmp");
		return;
	}
	smp_save_boot_state();
	smp_prepare_trampoline();
	smp_start_all(&madt, cmdline);
	info.bringup_us = (rdtsc() - t0) * 1000 / arch_timer_info()->tsc_khz;
	kinfo("smp: %u CPUs up (of %u listed), bring-up %llu ms (emulated)", info.up, info.listed,
	      (unsigned long long)(info.bringup_us / 1000));
	for (unsigned int cpu = 1; cpu < SMP_MAX_CPUS; cpu++)
		if (info.cpu_us[cpu])
			kdebug("smp: CPU %u (APIC id %u) up in %llu us (emulated)", cpu,
			       smp_cpus[cpu].apic_id, (unsigned long long)info.cpu_us[cpu]);
}

const struct arch_smp_info *arch_smp_info(void)
{
	return &info;
}

int smp_ping(unsigned int cpu, unsigned int timeout_ms)
{
	struct smp_cpu *c = &smp_cpus[cpu];
	uint64_t before, start, ticks;

	if (cpu == 0 || cpu >= SMP_MAX_CPUS || c->state != SMP_CPU_UP)
		return -EINVAL;
	before = c->pings;
	start = rdtsc();
	ticks = timeout_ms * arch_timer_info()->tsc_khz;
	apic_send_ipi(c->apic_id, VEC_PING | APIC_ICR_ASSERT);
	while (c->pings == before) {
		if (rdtsc() - start >= ticks)
			return -EAGAIN;
		__builtin_ia32_pause();
	}
	return 0;
}
