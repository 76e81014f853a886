/*
 * Processes (include/kernel/process.h): creation by spawn and fork, the
 * tree, exit, wait and the reaper. Each process has one thread; the
 * scheduler loads its address space (thread->aspace) when it runs.
 *
 * A new thread first enters its process (enter_process: fields, space,
 * FPU state, kernel stack for entries from ring 3, all with interrupts off
 * so no switch sees half of it), then leaves for ring 3 and never returns:
 * it ends in process_exit, from the exit system call or a fault.
 */
#include <arch/context.h>
#include <arch/irq.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <kernel/process.h>
#include <kernel/thread.h>
#include <kernel/uaccess.h>
#include <kernel/user.h>
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/aspace.h>
#include <mm/kmalloc.h>
#include <mm/layout.h>

#define USER_STACK_SIZE (64 * 1024)
#define ARGS_BYTES	64 /* the argument words at the stack top, 16-byte aligned */
_Static_assert(PROCESS_ARGS * 8 <= ARGS_BYTES, "the argument words fit");

struct process process_kernel = {.pid = 0, .name = "kernel"};

/* Its lock covers the tree, states, the reaper's list and counts; parents sleep on it. */
static struct wait_queue exits = WAIT_QUEUE_INIT;
static struct process *reap_list;
static uint64_t next_pid = 1;
static struct process_stats counts;

struct process *process_current(void)
{
	return thread_current()->process;
}

static struct process *process_alloc(const char *name)
{
	struct process *p = kcalloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->fpu = kmalloc_aligned(ARCH_FPU_STATE_SIZE, ARCH_FPU_STATE_ALIGN);
	if (!p->fpu) {
		kfree(p);
		return NULL;
	}
	size_t n = strnlen(name, PROCESS_NAME_LEN - 1);
	memcpy(p->name, name, n);
	p->name[n] = 0;
	return p;
}

/* Free what is left of a process that never ran, or was collected. */
static void process_free(struct process *p)
{
	if (p->as)
		aspace_destroy(p->as);
	kfree(p->fork_regs);
	kfree(p->fpu);
	kfree(p);
}

/* Give p a pid and link it under parent. -EAGAIN at PROCESS_MAX. */
static int adopt(struct process *p, struct process *parent)
{
	unsigned long flags = wait_queue_lock(&exits);
	int err = 0;

	if (counts.live >= PROCESS_MAX) {
		err = -EAGAIN;
	} else {
		p->pid = next_pid++;
		p->parent = parent;
		p->sibling = parent->children;
		parent->children = p;
		counts.live++;
		counts.started++;
	}
	wait_queue_unlock(&exits, flags);
	return err;
}

/* Take p out of its parent's children. => exits locked. */
static void unlink_child(struct process *p)
{
	struct process **pp = &p->parent->children;

	while (*pp != p)
		pp = &(*pp)->sibling;
	*pp = p->sibling;
	p->parent = NULL;
}

/* Run fn on p's thread; on failure undo adopt(). 0 or -ENOMEM. */
static int start(struct process *p, long (*fn)(void *arg))
{
	struct thread *t = thread_create(fn, p, p->name);
	unsigned long flags;

	if (t)
		return 0; /* p->thread is set by the thread itself, first thing */
	flags = wait_queue_lock(&exits);
	unlink_child(p);
	counts.live--;
	counts.started--;
	wait_queue_unlock(&exits, flags);
	return -ENOMEM;
}

/*
 * Make the calling (new) thread p's: its space loaded, its FPU registers
 * live (forked: the parent's copy; spawned: a clean state), entries from
 * ring 3 on its own kernel stack.
 */
static void enter_process(struct process *p, bool forked)
{
	struct thread *self = thread_current();
	unsigned long flags = arch_irq_save();

	p->thread = self;
	self->process = p;
	self->fpu = p->fpu;
	thread_use_aspace(p->as);
	if (forked)
		arch_fpu_state_load(p->fpu);
	else
		arch_fpu_state_init(p->fpu);
	arch_user_kernel_stack(self->stack.top);
	arch_irq_restore(flags);
}

/* A spawned process's thread: the argument words onto its stack, then its entry. */
static long spawn_entry(void *arg)
{
	struct process *p = arg;
	vaddr_t sp = p->stack_top - ARGS_BYTES;

	enter_process(p, false);
	/* The stack is demand-zero: this copy maps its top page. */
	if (copy_to_user(sp, p->args, p->nargs * sizeof(uint64_t)) != 0) {
		kinfo("process: pid %llu (%s): no memory for its stack", (unsigned long long)p->pid,
		      p->name);
		process_exit(PROCESS_KILLED);
	}
	arch_enter_user(p->entry, sp, sp, p->nargs);
}

/* The image at a random base and a stack with its guard, in p's new space. */
static int load(struct process *p, const struct user_program *prog)
{
	vaddr_t base = user_random_base(LAYOUT_USER_PROGRAM_START, LAYOUT_USER_PROGRAM_SIZE,
					LAYOUT_USER_PROGRAM_EXTENT);
	struct user_image img;
	const char *why = "";
	int err = aspace_create(&p->as);

	if (!err)
		err = user_image_load(prog->image, prog->size, base, p->as, &img, &why);
	if (err == -ENOEXEC)
		kerror("process: %s refused: %s", prog->name, why);
	if (!err)
		err = aspace_map_stack(p->as, USER_STACK_SIZE, &p->stack_top);
	p->entry = img.entry;
	return err;
}

int process_spawn(const char *name, const uint64_t *args, size_t nargs, struct process *parent,
		  struct process **out)
{
	return process_spawn_prepared(name, args, nargs, parent, NULL, NULL, out);
}

int process_spawn_prepared(const char *name, const uint64_t *args, size_t nargs,
			   struct process *parent, void (*prepare)(struct aspace *as, void *ctx),
			   void *ctx, struct process **out)
{
	const struct user_program *prog = user_program_find(name);
	struct process *p;
	int err;

	KASSERT(nargs <= PROCESS_ARGS);
	if (!prog)
		return -ENOENT;
	p = process_alloc(name);
	if (!p)
		return -ENOMEM;
	memcpy(p->args, args, nargs * sizeof(uint64_t));
	p->nargs = nargs;
	err = load(p, prog);
	if (!err && prepare)
		prepare(p->as, ctx);
	if (!err)
		err = adopt(p, parent);
	if (!err) {
		*out = p; /* before it runs: it may end, and be collected, at once */
		err = start(p, spawn_entry);
	}
	if (err)
		process_free(p);
	return err;
}

/* A forked process's thread: back to ring 3 with the parent's registers, result 0. */
static long fork_entry(void *arg)
{
	struct process *p = arg;
	uint64_t regs[ARCH_USER_REGS_SIZE / 8];

	enter_process(p, true);
	memcpy(regs, p->fork_regs, sizeof(regs));
	kfree(p->fork_regs);
	p->fork_regs = NULL;
	arch_enter_user_regs(regs);
}

long process_fork(void)
{
	struct process *parent = process_current(), *p = process_alloc(parent->name);
	long pid;
	int err = -ENOMEM;

	if (!p)
		return -ENOMEM;
	p->fork_regs = kmalloc(ARCH_USER_REGS_SIZE);
	if (p->fork_regs) {
		arch_user_regs_get(p->fork_regs, thread_current()->stack.top);
		arch_user_regs_set_return(p->fork_regs, 0);
		arch_fpu_state_save(p->fpu); /* the parent's registers are the live ones */
		err = aspace_clone(parent->as, &p->as);
	}
	if (!err)
		err = adopt(p, parent);
	pid = (long)p->pid; /* before it runs: once it has, the parent may collect it */
	if (!err)
		err = start(p, fork_entry);
	if (err) {
		process_free(p);
		return err;
	}
	return pid;
}

/*
 * Whether t may be waiting on exits for a child of parent: a thread of
 * parent, or a kernel thread (the reaper, process_run's callers).
 */
static bool waits_for(struct thread *t, void *parent)
{
	return t->process == NULL || t->process == parent;
}

/*
 * Wake those who may wait for a child of parent, not every waiter: a fork
 * bomb's 255 parents each woken at every exit made 255 x 255 wake-ups, all
 * through exits' lock, which on 4 vCPUs over 2 busy host cores stalled
 * the process suite (docs/design.md). => exits locked.
 */
static void wake_waiters(struct process *parent)
{
	wait_queue_wake_if(&exits, waits_for, parent);
}

/* Hand p to the reaper. => exits locked. */
static void reap_later(struct process *p)
{
	p->reap_next = reap_list;
	reap_list = p;
}

__noreturn void process_exit(int status)
{
	struct process *p = process_current();
	unsigned long flags = arch_irq_save();
	struct aspace *as = p->as;

	/* Out of the space before it goes: the kernel's is loaded from now on. */
	thread_use_aspace(NULL);
	p->as = NULL;
	arch_irq_restore(flags);
	aspace_destroy(as);

	flags = wait_queue_lock(&exits);
	for (struct process *c = p->children; c; c = c->sibling) {
		c->parent = NULL; /* orphaned: the reaper collects it once it ends */
		if (c->state == PROCESS_ZOMBIE)
			reap_later(c);
	}
	p->children = NULL;
	p->state = PROCESS_ZOMBIE;
	p->status = status;
	counts.killed += status == PROCESS_KILLED;
	if (!p->parent)
		reap_later(p);
	wake_waiters(p->parent); /* the reaper, a kernel thread, is among them */
	wait_queue_unlock(&exits, flags);
	thread_exit(status);
}

/* Free a zombie nobody can reach any more: its thread, then the rest. */
static void collect(struct process *p)
{
	unsigned long flags;

	thread_join(p->thread, NULL);
	process_free(p);
	flags = wait_queue_lock(&exits); /* last: once live drops, all of p is free */
	counts.live--;
	wait_queue_unlock(&exits, flags);
}

/*
 * A zombie child of parent matching pid (-1: any) that no other waiter is
 * collecting; *any says whether a child matches at all. => exits locked.
 */
static struct process *zombie_child(struct process *parent, int64_t pid, bool *any)
{
	*any = false;
	for (struct process *c = parent->children; c; c = c->sibling) {
		if (pid != -1 && c->pid != (uint64_t)pid)
			continue;
		*any = true;
		if (c->state == PROCESS_ZOMBIE && !c->collecting)
			return c;
	}
	return NULL;
}

long process_wait_deliver(struct process *parent, int64_t pid,
			  int (*deliver)(int status, void *ctx), void *ctx)
{
	unsigned long flags = wait_queue_lock(&exits);
	struct process *c;
	bool any;
	int err;

	while (!(c = zombie_child(parent, pid, &any)) && any)
		wait_queue_sleep(&exits);
	if (c)
		c->collecting = true;
	wait_queue_unlock(&exits, flags);
	if (!c)
		return -ECHILD;
	/* Outside the lock: delivering may fault (a copy-on-write page of the parent). */
	err = deliver(c->status, ctx);
	flags = wait_queue_lock(&exits);
	c->collecting = false;
	if (err) {
		wake_waiters(parent); /* still a zombie: another waiter may take it */
		wait_queue_unlock(&exits, flags);
		return err;
	}
	unlink_child(c);
	wait_queue_unlock(&exits, flags);
	pid = (int64_t)c->pid;
	collect(c);
	return (long)pid;
}

static int store_status(int status, void *out)
{
	*(int *)out = status;
	return 0;
}

long process_wait(struct process *parent, int64_t pid, int *status)
{
	return process_wait_deliver(parent, pid, store_status, status);
}

int process_run(const char *name, const uint64_t *args, size_t nargs)
{
	struct process *p;
	int status, err = process_spawn(name, args, nargs, &process_kernel, &p);
	int64_t pid;

	if (err)
		return err;
	pid = (int64_t)p->pid; /* p is gone once collected */
	KASSERT(process_wait(&process_kernel, pid, &status) == pid);
	return status;
}

/* Collects processes that ended with no parent left to wait for them. */
static long reaper(void *arg)
{
	for (;;) {
		unsigned long flags = wait_queue_lock(&exits);
		struct process *p;

		while (!reap_list)
			wait_queue_sleep(&exits);
		p = reap_list;
		reap_list = p->reap_next;
		wait_queue_unlock(&exits, flags);
		collect(p);
	}
}

void process_init(void)
{
	if (!thread_create(reaper, NULL, "reaper"))
		panic("process: no memory for the reaper thread");
}

void process_stats(struct process_stats *s)
{
	unsigned long flags = wait_queue_lock(&exits);

	*s = counts;
	wait_queue_unlock(&exits, flags);
}
