/*
 * What the x86-64 SMP bring-up (arch/x86_64/smp.c) shares with the rest of
 * arch/x86_64: per-CPU descriptor tables (gdt.c), the MADT lookup
 * (acpi.c), inter-processor interrupts (apic.c) and the trampoline
 * (smp_trampoline.S). Generic code uses include/arch/smp.h.
 */
#pragma once

#include <arch/smp.h>
#include <boot/boot_info.h>
#include <kernel/percpu.h>
#include <lib/acpi.h>
#include <mm/kstack.h>

/*
 * Give AP cpu its own GDT, TSS and guarded #DF/NMI/#MC stacks.
 * Returns 0, -ENOMEM or kstack_alloc()'s error.
 */
int gdt_cpu_prepare(unsigned int cpu);
/* Load cpu's GDT and TSS on this CPU. => its per-CPU area is installed. */
void gdt_cpu_load(unsigned int cpu);
/* For tests: cpu's tables and IST slot tops (0 / NULL if cpu has none). */
uint64_t gdt_cpu_ist_top(unsigned int cpu, unsigned int slot);
const void *gdt_cpu_tss(unsigned int cpu);
const void *gdt_cpu_gdt(unsigned int cpu);

/*
 * Find and parse the MADT through the RSDP in bi, mapping each table read
 * only (never past what its checked length allows). 0, -ENOENT if there is
 * no RSDP or no MADT, -EINVAL for a table that fails its checks.
 */
int acpi_madt_find(const struct boot_info *bi, struct acpi_madt *out);

/* ICR commands (SDM vol. 3A 11.6.1): delivery mode, level, trigger. */
#define APIC_ICR_INIT	 0x00000500u
#define APIC_ICR_STARTUP 0x00000600u
#define APIC_ICR_ASSERT	 (1u << 14)
#define APIC_ICR_LEVEL	 (1u << 15)
#define APIC_ICR_PENDING (1u << 12) /* xAPIC delivery status: not yet accepted */

/* This CPU's local APIC id. */
uint32_t apic_id(void);
/* Send the ICR command low to the CPU with APIC id dest; waits until sent. */
void apic_send_ipi(uint32_t dest, uint32_t low);
/* Enable this AP's local APIC like the boot CPU's (same mode), all LVTs masked. */
void apic_ap_enable(void);

/* The ping IPI arrived on this CPU (apic.c calls it, smp.c counts it). */
void smp_ping_received(void);

/* One CPU as the bring-up sees it; smp_cpus[0] is the boot CPU. */
enum smp_cpu_state {
	SMP_CPU_OFF = 0, /* not started, or did not answer */
	SMP_CPU_UP = 1,	 /* set up like the boot CPU and parked (smp_ap.c) */
};

struct smp_cpu {
	struct percpu percpu;	 /* an AP's own area (its GS base); unused for CPU 0 */
	uint32_t apic_id;	 /* IPI destination */
	volatile uint32_t state; /* enum smp_cpu_state, written by the AP */
	volatile uint64_t pings; /* ping IPIs this CPU has answered */
	struct kstack stack;	 /* the AP's parking stack (guarded) */
	/* What the AP found once set up, for ktest=smp to compare with the boot CPU. */
	uint64_t seen_cr0, seen_cr4, seen_efer, seen_cr3, seen_gs_canary;
};

/* What every AP copies from the boot CPU (smp.c fills it before the first SIPI). */
struct smp_boot_state {
	uint64_t cr0, cr4, efer, pat;
	paddr_t root; /* the kernel's page tables (PCID 0) */
	struct {
		uint16_t limit;
		uint64_t base;
	} __packed idtr;
};

extern struct smp_cpu smp_cpus[SMP_MAX_CPUS];

/* This AP takes TLB shootdowns from now on (smp_ipi.c); flushes its TLB. */
void smp_online_this_cpu(void);
/* Take cpu out of the shootdown set again (it was given INIT after all). */
void smp_offline(unsigned int cpu);
/* If the scheduler has released the APs, become c's idle thread (no return). */
void smp_ap_enter_scheduler(struct smp_cpu *c);
extern struct smp_boot_state smp_boot_state;

/* The trampoline's entry target (smp_trampoline.S) and its C half (smp_ap.c). */
void smp_ap_entry(void);
__noreturn void smp_ap_main(struct smp_cpu *c);

/*
 * Send CPU cpu a ping IPI and wait up to timeout_ms for its answer.
 * 0, -EINVAL for a CPU that is not up, -EAGAIN if it did not answer.
 */
int smp_ping(unsigned int cpu, unsigned int timeout_ms);

/* Spin for us microseconds on the calibrated TSC. */
void smp_delay_us(uint64_t us);
