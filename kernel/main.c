/*
 * Aerie's kernel, from the loader's hand-off to idle: a table of contents.
 * Each step's comment says what is true once it has run.
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <arch/smp.h>
#include <kernel/boot.h>
#include <kernel/console.h>
#include <kernel/crash.h>
#include <kernel/ktest.h>
#include <kernel/lockdebug.h>
#include <kernel/panic.h>
#include <kernel/process.h>
#include <kernel/random.h>
#include <kernel/sched.h>
#include <kernel/stack_protector.h>
#include <kernel/symbols.h>
#include <kernel/thread.h>
#include <kernel/timer.h>
#include <kernel/wx_audit.h>
#include <mm/addr.h>
#include <mm/kmalloc.h>
#include <mm/kstack.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>

__noreturn void kmain(const struct boot_info *bi);

/* The guarded stack kmain continues on, once the boot stack is left. */
static struct kstack kmain_stack;

/* The rest of the boot, on kmain_stack: an overflow now hits a named guard. */
static __noreturn void kmain_guarded(void *unused)
{
	arch_smp_init(boot_info->cmdline); /* other CPUs parked; none runs threads yet */
	wx_audit_boot();		   /* no W+X, lower-half or user mapping, or panic */
	boot_summary();
	sched_init(&kmain_stack); /* kmain is a thread; preemption and interrupts on */
	process_init();		  /* the reaper: user processes can run */
	crash_if_requested(boot_info->cmdline); /* boot scenarios test the panic path */
	if (ktest_requested(boot_info->cmdline))
		ktest_run(boot_info->cmdline); /* does not return */
	kinfo("ready");
	thread_exit(0); /* nobody joins kmain: the idle thread runs from now on */
}

__noreturn void kmain(const struct boot_info *bi)
{
	console_init();	   /* COM1: panics can be seen */
	arch_early_init(); /* GDT, TSS, IDT: exceptions are reported */
	kinfo("kernel starting");
	boot_info_accept(bi);		/* the loader's hand-off is checked */
	console_screen_init(boot_info); /* the screen shows the log too */
	/* The stack canary, from the loader's seed: no protected frame is open yet. */
	stack_protector_init(boot_info);
	console_set_level(boot_info->cmdline);
	random_init(boot_info->random_seed[1]); /* random_u64() is seeded */
	addr_init(boot_info);			/* phys_to_virt() works */
	symbols_init(boot_info);		/* backtraces name functions */
	lockdebug_init(boot_info->cmdline);	/* lock order checks, if asked for */
	arch_drop_lower_half();			/* the trampoline is gone: low addresses fault */
	/* A trampoline run below 1 MiB, kept out of the frame allocator. */
	arch_smp_reserve_low((struct boot_info *)boot_info);
	pmm_boot_init(boot_info);	   /* free frames: usable, loader and boot-services RAM */
	arch_mmu_init(boot_info->cmdline); /* WP, NX, SMEP, SMAP, UMIP, PCID, PAT */
	vmm_init(boot_info);		   /* the kernel's own tables; loader's freed */
	kmalloc_init(boot_info);	   /* kmalloc() works */
	timer_init();			   /* APIC timer ticks at 100 Hz; interrupts stay off */
	kstack_init(boot_info);		   /* kstack_alloc() works */
	arch_ist_stacks_init();		   /* #DF, NMI, #MC run on guarded stacks */
	if (kstack_alloc(&kmain_stack, "kmain"))
		panic("kmain: no guarded stack to leave the boot stack for");
	arch_run_on_stack(kmain_stack.top, kmain_guarded, NULL); /* the boot stack is left */
}
