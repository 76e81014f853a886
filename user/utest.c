/*
 * The ring-3 test program: args[0] picks a case (UT_* in
 * include/uapi/utest.h), the rest are its parameters. kernel/user_test.c
 * runs each case and checks the exit status (or the kill).
 */
#include "ulib.h"
#include <uapi/utest.h>

/* Privileged instructions: each must kill the program (#GP in ring 3). */
static int privileged(u64 which)
{
	static const struct {
		unsigned short limit;
		unsigned long base;
	} __attribute__((packed)) gdtr = {0, 0};

	switch (which) {
	case UT_PRIV_CLI:
		__asm__ volatile("cli");
		break;
	case UT_PRIV_HLT:
		__asm__ volatile("hlt");
		break;
	case UT_PRIV_MOV_CR3:
		__asm__ volatile("mov %0, %%cr3" : : "r"(0ul));
		break;
	case UT_PRIV_WRMSR:
		__asm__ volatile("wrmsr" : : "c"(0xc0000101u), "a"(0), "d"(0));
		break;
	case UT_PRIV_LGDT:
		__asm__ volatile("lgdt %0" : : "m"(gdtr));
		break;
	}
	return UT_SURVIVED;
}

/* Read, write or jump to addr: each must kill the program for a kernel address. */
static int touch(u64 addr, u64 mode)
{
	volatile u64 *p = (volatile u64 *)addr;

	if (mode == UT_TOUCH_READ)
		(void)*p;
	else if (mode == UT_TOUCH_WRITE)
		*p = 0x5a5a;
	else /* with a getpid number in rax, for the SYSRET page of user_test.c */
		__asm__ volatile("jmp *%0" : : "r"(addr), "a"((long)SYS_GETPID));
	return UT_SURVIVED;
}

/* write() with bad buffers: -EFAULT each; the exit status names the first miss. */
static int efault(void)
{
	u64 guard = ustack_top - UT_STACK_SIZE - 4096;
	const struct {
		u64 buf, len;
	} bad[] = {
	    {0, 1},			  /* NULL */
	    {0xffffc00000000000ul, 8},	  /* a kernel address */
	    {guard, 8},			  /* the unmapped guard page */
	    {ustack_top - 8, 16},	  /* mapped, then unmapped */
	    {guard + 4096 - 8, 16},	  /* unmapped, then mapped */
	    {0xfffffffffffffff0ul, 0x20}, /* wraps */
	    {0x0000800000000000ul, 8},	  /* non-canonical */
	    {0x8000000000000000ul, 8},	  /* non-canonical */
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sys_write((const void *)bad[i].buf, bad[i].len) != -EFAULT)
			return 10 + (int)i;
	}
	return sys_write("efault: all refused", 19) == 19 ? 0 : 9;
}

/* Spin for cycles TSC cycles with values in registers: they must survive preemption. */
static int spin(u64 cycles)
{
	u64 start = rdtsc(), sum = 0, n = 0;

	while (rdtsc() - start < cycles) {
		sum += n * 3 + 1;
		n++;
	}
	/* sum of 3k + 1 for k < n */
	return sum == 3 * (n * (n - 1) / 2) + n ? 0 : 1;
}

/* FPU/SSE: a clean state at start, and our own xmm values across preemption. */
static int fpu(u64 seed, u64 cycles)
{
	unsigned int mxcsr;
	unsigned short fcw;
	u64 out0, out15, start = rdtsc();

	__asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(fcw));
	if (mxcsr != 0x1f80 || fcw != 0x37f)
		return 1;
	__asm__ volatile("movq %0, %%xmm0\n\tmovq %1, %%xmm15" : : "r"(seed), "r"(~seed));
	while (rdtsc() - start < cycles)
		__asm__ volatile("pause");
	__asm__ volatile("movq %%xmm0, %0\n\tmovq %%xmm15, %1" : "=r"(out0), "=r"(out15));
	return out0 == seed && out15 == ~seed ? 0 : 2;
}

/* A null system call's round trip: the median of UT_BENCH_RUNS getpid()s, in TSC cycles. */
static int bench(void)
{
	u64 t[UT_BENCH_RUNS];

	for (int i = 0; i < UT_BENCH_RUNS; i++) {
		u64 t0 = rdtsc();
		sys_getpid();
		t[i] = rdtsc() - t0;
	}
	for (int i = 1; i < UT_BENCH_RUNS; i++) { /* insertion sort */
		u64 v = t[i];
		int j = i;
		for (; j > 0 && t[j - 1] > v; j--)
			t[j] = t[j - 1];
		t[j] = v;
	}
	uprintf("getpid round trip: median %lu, min %lu TSC cycles (emulated)",
		t[UT_BENCH_RUNS / 2], t[0]);
	return 0;
}

int main(const u64 *a, u64 n)
{
	switch (n ? a[0] : ~0ul) {
	case UT_PRIV:
		return privileged(a[1]);
	case UT_TOUCH:
		return touch(a[1], a[2]);
	case UT_EFAULT:
		return efault();
	case UT_SPIN:
		return spin(a[1]);
	case UT_FPU:
		return fpu(a[1], a[2]);
	case UT_BENCH:
		return bench();
	}
	return UT_BAD_CASE;
}
