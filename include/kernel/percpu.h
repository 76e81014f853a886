/*
 * The per-CPU area: what each CPU keeps for itself, reached through the
 * machine's per-CPU register (GS on x86-64, include/arch/percpu.h). The
 * boot CPU's is static in arch/, each AP's sits in its bring-up record
 * (arch_percpu_of). The stack protector's canary lives here so that the
 * scheduler can load each thread's own (kernel/stack_protector.c).
 */
#pragma once

#include <lib/types.h>
#include <mm/heap.h>
#include <mm/pmm_cache.h>

/*
 * Where the canary sits. The compiler reads it as %gs:PERCPU_CANARY_OFFSET
 * in every protected function (configure.py passes the same number to
 * -mstack-protector-guard-offset), so it can never move: 40, as in Linux.
 */
#define PERCPU_CANARY_OFFSET 40
/* Where the area's own address sits: arch_percpu() reads it with one load. */
#define PERCPU_SELF_OFFSET 0
/* Where the running thread sits: arch_percpu_current() reads it with one load. */
#define PERCPU_CURRENT_THREAD_OFFSET 8
/* The syscall entry's two slots (arch/x86_64/syscall_entry.S reads them by number). */
#define PERCPU_USER_RSP_OFFSET	 24
#define PERCPU_KSTACK_TOP_OFFSET 32

struct percpu {
	struct percpu *self;  /* 0: this area's address, for arch_percpu() */
	void *current_thread; /* 8: the running thread (kernel/sched.c; NULL before it runs here) */
	uint32_t cpu;	      /* 16: this CPU's number, 0 for the boot CPU */
	uint32_t reserved0;
	uint64_t user_rsp;	   /* 24: the user stack pointer, saved by the syscall entry */
	uint64_t kernel_stack_top; /* 32: the running thread's kernel stack top (syscall entry) */
	uint64_t stack_canary;	   /* 40: the canary every protected frame checks */
	/* The scheduler's (kernel/sched.c): written by this CPU, need_resched also by a waker. */
	void *idle_thread;		/* this CPU's idle thread, never queued */
	void *switch_prev;		/* the thread this CPU is switching away from */
	volatile uint32_t need_resched; /* switch at the next interrupt exit */
	uint32_t preempt_depth;		/* preempt_disable nesting on this CPU */
	uint32_t slice_left;		/* timer ticks left in the running thread's slice */
	/* The address space this CPU has loaded (mm/aspace.c; NULL: the kernel's). */
	void *aspace;
	uint64_t pcid_gen;	    /* the PCID generation this CPU's TLB has been flushed for */
	uint64_t ticks;		    /* timer ticks this CPU's scheduler has taken (sched_tick) */
	struct pmm_cache pmm_cache; /* this CPU's frames of pmm_kernel (mm/pmm_boot.c) */
	struct heap_cache
	    heap_cache; /* this CPU's small blocks of the kernel heap (mm/kmalloc.c) */
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct percpu, current_thread) == PERCPU_CURRENT_THREAD_OFFSET,
	       "arch_percpu_current() reads the running thread at this offset");
_Static_assert(offsetof(struct percpu, self) == PERCPU_SELF_OFFSET,
	       "arch_percpu() reads the self pointer at this offset");
_Static_assert(offsetof(struct percpu, user_rsp) == PERCPU_USER_RSP_OFFSET, "syscall entry");
_Static_assert(offsetof(struct percpu, kernel_stack_top) == PERCPU_KSTACK_TOP_OFFSET,
	       "syscall entry");
_Static_assert(offsetof(struct percpu, stack_canary) == PERCPU_CANARY_OFFSET,
	       "the canary's offset is baked into every protected function");

/* configure.py defines this next to -mstack-protector-guard-offset. */
#ifndef STACK_PROTECTOR_GUARD_OFFSET
#error "kernel code is built with configure.py's kflags (-mstack-protector-guard-offset)"
#endif
_Static_assert(STACK_PROTECTOR_GUARD_OFFSET == PERCPU_CANARY_OFFSET,
	       "-mstack-protector-guard-offset must be the canary's offset");
