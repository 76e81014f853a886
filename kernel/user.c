/*
 * User threads (include/kernel/user.h): spawn a shipped program into the
 * lower half of the kernel's tables (until per-process address spaces),
 * run it in ring 3, end it on exit or on a fault it caused, and give back
 * every frame when its parent waits for it.
 *
 * Bases (LAYOUT_USER_* windows, page granular): the program image anywhere
 * its 4 GiB extent fits in its 16 TiB window, (2^44 - 2^32) / 2^12 + 1
 * slots, 32 bits; the stack's 1 GiB reserve in its 15 TiB window, 31.9
 * bits. The stack is the top USER_STACK_SIZE of the reserve; the page
 * below it is never mapped (the guard), nor is the rest of the reserve.
 */
#include <arch/context.h>
#include <arch/irq.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <kernel/thread.h>
#include <kernel/user.h>
#include <lib/errno.h>
#include <lib/fmt.h>
#include <lib/string.h>
#include <mm/addr.h>
#include <mm/kmalloc.h>
#include <mm/layout.h>
#include <mm/pmm.h>
#include <mm/pmm_boot.h>
#include <mm/vmm.h>
#include <uapi/utest.h>

#define USER_STACK_SIZE (64 * 1024)
#define PLACE_TRIES	8  /* random bases tried before giving up (others may overlap) */
#define ARGS_BYTES	64 /* the argument words at the stack top, 16-byte aligned */
_Static_assert(USER_MAX_ARGS * 8 <= ARGS_BYTES, "args fit");
_Static_assert(USER_STACK_SIZE == UT_STACK_SIZE, "user/utest.c finds the guard page");

struct user_proc {
	struct thread *thread;
	const struct user_program *prog;
	struct user_image image;
	vaddr_t stack_lo, stack_hi; /* the mapped stack; the guard page is below stack_lo */
	uint64_t args[USER_MAX_ARGS];
	size_t nargs;
	void *fpu;
	int status;
};

static int place_kernel_tables(void *ctx, vaddr_t va, paddr_t frame, uint32_t prot)
{
	return vmm_map(va, frame, PAGE_SIZE, prot);
}

static const struct user_image_ops kernel_tables_ops = {.place = place_kernel_tables};

/* Unmap [lo, hi) of the lower half and free the frames that were there. */
static void unmap_range(vaddr_t lo, vaddr_t hi)
{
	for (vaddr_t va = lo; va < hi; va += PAGE_SIZE) {
		paddr_t pa = vmm_translate(va);

		if (pa == PADDR_INVALID)
			continue;
		KASSERT(vmm_unmap(va, PAGE_SIZE) == 0);
		pmm_free(&pmm_kernel, pa & ~PAGE_MASK);
	}
}

static void proc_unmap(struct user_proc *p)
{
	if (p->image.span)
		unmap_range(p->image.base, p->image.base + p->image.span);
	if (p->stack_hi)
		unmap_range(p->stack_lo, p->stack_hi);
	p->image.span = 0;
	p->stack_hi = 0;
}

static int map_stack(struct user_proc *p)
{
	vaddr_t reserve = user_random_base(LAYOUT_USER_STACK_START, LAYOUT_USER_STACK_SIZE,
					   LAYOUT_USER_STACK_EXTENT);

	p->stack_hi = reserve + LAYOUT_USER_STACK_EXTENT;
	p->stack_lo = p->stack_hi - USER_STACK_SIZE;
	for (vaddr_t va = p->stack_lo; va < p->stack_hi; va += PAGE_SIZE) {
		paddr_t frame = pmm_alloc(&pmm_kernel);
		int err;

		if (frame == PADDR_INVALID)
			return -ENOMEM;
		memset(phys_to_virt(frame), 0, PAGE_SIZE);
		err = vmm_map(va, frame, PAGE_SIZE, VMM_USER | VMM_WRITE);
		if (err) {
			pmm_free(&pmm_kernel, frame);
			return err;
		}
	}
	return 0;
}

/* Image and stack at fresh random bases; another program may hold one: retry. */
static int proc_load(struct user_proc *p)
{
	const char *why = "";
	int err = -EEXIST;

	for (int i = 0; i < PLACE_TRIES && err == -EEXIST; i++) {
		vaddr_t base = user_random_base(LAYOUT_USER_PROGRAM_START, LAYOUT_USER_PROGRAM_SIZE,
						LAYOUT_USER_PROGRAM_EXTENT);

		err = user_image_load(p->prog->image, p->prog->size, base, &kernel_tables_ops, NULL,
				      &p->image, &why);
		if (!err)
			err = map_stack(p);
		if (err)
			proc_unmap(p);
	}
	if (err == -ENOEXEC)
		kerror("user: %s refused: %s", p->prog->name, why);
	return err;
}

/* The thread's body: a clean FPU state, then ring 3. */
static long user_thread(void *arg)
{
	struct user_proc *p = arg;
	struct thread *self = thread_current();

	(void)arch_irq_save(); /* off until arch_enter_user's IRET */
	self->user = p;
	self->fpu = p->fpu; /* first: a switch now saves into it, init then overwrites */
	arch_fpu_state_init(p->fpu);
	arch_user_kernel_stack(self->stack.top);
	arch_enter_user(p->image.entry, p->stack_hi - ARGS_BYTES, p->stack_hi - ARGS_BYTES,
			p->nargs);
}

/* The argument words into the top stack page, through the direct map. */
static void put_args(struct user_proc *p)
{
	paddr_t top = vmm_translate(p->stack_hi - PAGE_SIZE);
	uint64_t *words = (uint64_t *)((uint8_t *)phys_to_virt(top) + PAGE_SIZE - ARGS_BYTES);

	KASSERT(top != PADDR_INVALID);
	memcpy(words, p->args, p->nargs * sizeof(uint64_t));
}

struct user_proc *user_spawn(const char *name, const uint64_t *args, size_t nargs)
{
	const struct user_program *prog = user_program_find(name);
	struct user_proc *p;

	if (!prog)
		return NULL;
	p = kcalloc(1, sizeof(*p));
	if (!p)
		return NULL;
	KASSERT(nargs <= USER_MAX_ARGS);
	p->prog = prog;
	memcpy(p->args, args, nargs * sizeof(uint64_t));
	p->nargs = nargs;
	p->fpu = kmalloc_aligned(ARCH_FPU_STATE_SIZE, ARCH_FPU_STATE_ALIGN);
	if (p->fpu && proc_load(p) == 0) {
		put_args(p);
		p->thread = thread_create(user_thread, p, name);
	}
	if (!p->thread) {
		proc_unmap(p);
		kfree(p->fpu);
		kfree(p);
		return NULL;
	}
	return p;
}

int user_wait(struct user_proc *p)
{
	int status;

	thread_join(p->thread, NULL);
	status = p->status;
	proc_unmap(p);
	kfree(p->fpu);
	kfree(p);
	return status;
}

static struct user_proc *current_proc(void)
{
	struct user_proc *p = thread_current()->user;

	KASSERT(p);
	return p;
}

uint64_t user_pid(void)
{
	return thread_current()->id;
}

const char *user_name(void)
{
	return current_proc()->prog->name;
}

__noreturn void user_exit(int status)
{
	current_proc()->status = status;
	thread_exit(status);
}

/* "0x1234" for a user-half address; a kernel one is never printed (KASLR). */
static void user_addr(char *buf, size_t len, vaddr_t a)
{
	if (a < LAYOUT_DIRECT_MAP_START) /* the user half, or a non-canonical value */
		fmt_snprintf(buf, len, "0x%llx", (unsigned long long)a);
	else
		fmt_snprintf(buf, len, "a kernel address");
}

__noreturn void user_fault(const char *what, vaddr_t addr, vaddr_t ip)
{
	char a[24], i[24];

	user_addr(a, sizeof(a), addr);
	user_addr(i, sizeof(i), ip);
	kinfo("user fault: pid %llu (%s): %s at %s ip %s", (unsigned long long)user_pid(),
	      user_name(), what, a, i);
	user_exit(USER_STATUS_KILLED);
}
