/*
 * Thin inline wrappers over x86-64 instructions: CPUID, MSRs, control
 * registers, port I/O, TSC. Shared by the loader and the kernel; nothing
 * generic includes this (generic code calls arch_* hooks).
 */
#pragma once

#include <lib/types.h>

#define MSR_EFER  0xc0000080u
#define MSR_PAT	  0x277u
#define EFER_NXE  (1ull << 11)
#define CR0_WP	  (1ull << 16)
#define CR4_PGE	  (1ull << 7)
#define CR4_UMIP  (1ull << 11)
#define CR4_PCIDE (1ull << 17)
#define CR4_SMEP  (1ull << 20)
#define CR4_SMAP  (1ull << 21)
#define CR3_NOFLUSH (1ull << 63) /* with PCIDE: keep this PCID's TLB entries */
#define RFLAGS_IF (1ull << 9)

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_regs r;
	__asm__ volatile("cpuid"
			 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

#define DEFINE_CR(n)                                                                               \
	static inline uint64_t read_cr##n(void)                                                    \
	{                                                                                          \
		uint64_t v;                                                                        \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));                                  \
		return v;                                                                          \
	}                                                                                          \
	static inline void write_cr##n(uint64_t v)                                                 \
	{                                                                                          \
		__asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory");                         \
	}
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

static inline uint64_t read_rflags(void)
{
	uint64_t v;
	__asm__ volatile("pushfq; popq %0" : "=r"(v));
	return v;
}

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void cli(void)
{
	__asm__ volatile("cli" ::: "memory");
}

static inline void sti(void)
{
	__asm__ volatile("sti" ::: "memory");
}

static inline void hlt(void)
{
	__asm__ volatile("hlt" ::: "memory");
}

/* INVPCID types: one address in one PCID, one PCID, all incl. global, all but global. */
#define INVPCID_ADDRESS	   0
#define INVPCID_CONTEXT	   1
#define INVPCID_ALL_GLOBAL 2
#define INVPCID_ALL	   3

static inline void invpcid(uint64_t type, uint64_t pcid, vaddr_t va)
{
	struct {
		uint64_t pcid, va;
	} desc = {pcid, va};
	__asm__ volatile("invpcid %0, %1" : : "m"(desc), "r"(type) : "memory");
}

static inline void wbinvd(void)
{
	__asm__ volatile("wbinvd" ::: "memory");
}

static inline void invlpg(vaddr_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

/* True if the CPU can map 1 GiB pages (CPUID 0x80000001 EDX bit 26). */
static inline bool cpu_has_1g_pages(void)
{
	if (cpuid(0x80000000, 0).eax < 0x80000001)
		return false;
	return cpuid(0x80000001, 0).edx & (1u << 26);
}

/* True if running under a hypervisor (CPUID 1 ECX bit 31). */
static inline bool cpu_is_virtualised(void)
{
	return cpuid(1, 0).ecx & (1u << 31);
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

/* RDRAND (CPUID 1 ECX bit 30) and RDSEED (CPUID 7 EBX bit 18). */
static inline bool cpu_has_rdrand(void)
{
	return cpuid(1, 0).ecx & (1u << 30);
}

static inline bool cpu_has_rdseed(void)
{
	return cpuid(0, 0).eax >= 7 && (cpuid(7, 0).ebx & (1u << 18));
}

/* One RDRAND / RDSEED read; false if the CPU had no value ready (CF = 0). */
static inline bool rdrand64(uint64_t *v)
{
	bool ok;
	__asm__ volatile("rdrand %0" : "=r"(*v), "=@ccc"(ok));
	return ok;
}

static inline bool rdseed64(uint64_t *v)
{
	bool ok;
	__asm__ volatile("rdseed %0" : "=r"(*v), "=@ccc"(ok));
	return ok;
}
