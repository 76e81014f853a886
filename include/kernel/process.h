/*
 * Processes (kernel/process.c): a user address space (mm/aspace) with one
 * thread running a program in ring 3. They form a tree: spawn and fork
 * make children, exit leaves a zombie holding the exit status until its
 * parent's wait collects it. Processes the kernel starts (tests) have the
 * kernel process, pid 0, as parent; a process whose parent is gone is
 * collected by the reaper thread as soon as it ends.
 *
 * Memory: exit frees the address space at once (every frame and table);
 * the zombie keeps only its struct and its thread's stack until collected.
 * Out of memory anywhere in spawn or fork is a clean -ENOMEM with nothing
 * left behind; in a page fault it kills the process with a report line.
 *
 * Locking: one IRQ-safe lock (the exit wait queue's) covers the tree, the
 * states and the counts. Process ids count up from 1 and are never reused.
 */
#pragma once

#include <kernel/wait.h>
#include <lib/types.h>

#define PROCESS_NAME_LEN 32  /* with the NUL */
#define PROCESS_MAX	 256 /* live processes (zombies included); more: -EAGAIN */
#define PROCESS_ARGS	 4   /* argument words a spawned program gets */

/*
 * Exit statuses as wait reports them: exit(n) gives n & 0xff; a process
 * the kernel ended (a fault, out of memory) gives PROCESS_KILLED, which no
 * exit value can.
 */
#define PROCESS_KILLED 256

enum process_state {
	PROCESS_ALIVE,
	PROCESS_ZOMBIE, /* ended; its status waits for the parent */
};

struct aspace;
struct thread;

struct process {
	uint64_t pid;
	char name[PROCESS_NAME_LEN];
	enum process_state state;
	int status;		     /* once a zombie */
	struct aspace *as;	     /* NULL once ended (or for the kernel's) */
	struct thread *thread;	     /* its one thread */
	struct process *parent;	     /* NULL: orphaned, the reaper collects it */
	struct process *children;    /* first child */
	struct process *sibling;     /* next child of the same parent */
	struct process *reap_next;   /* on the reaper's list */
	bool collecting;	     /* a zombie a waiter is delivering the status of */
	void *fpu;		     /* the thread's FPU/SSE save area */
	void *fork_regs;	     /* a forked child's first registers (until it runs) */
	uint64_t args[PROCESS_ARGS]; /* a spawned child's argument words (until it runs) */
	size_t nargs;
	vaddr_t entry, stack_top; /* where a spawned child starts */
};

/* The kernel's own process (pid 0): the parent of what the kernel starts. */
extern struct process process_kernel;

/* Start the reaper. => threads work. */
void process_init(void);

/*
 * Start the shipped program name in a new process, child of parent, with
 * nargs argument words: its main gets rdi = a pointer to them on its stack,
 * rsi = nargs. 0 and *out, or -ENOENT (no such program), -ENOEXEC (the ELF
 * checks refused it), -ENOMEM, -EAGAIN (PROCESS_MAX reached).
 * => nargs <= PROCESS_ARGS.
 */
int process_spawn(const char *name, const uint64_t *args, size_t nargs, struct process *parent,
		  struct process **out);

/*
 * Start name as a child of the kernel's process and wait for it: its exit
 * status (PROCESS_KILLED if the kernel ended it), or process_spawn's
 * error (< 0). For tests and, later, the kernel's own programs.
 */
int process_run(const char *name, const uint64_t *args, size_t nargs);

/*
 * process_spawn, with prepare(as, ctx) called on the new process's address
 * space after its program is loaded and before its thread starts (tests
 * that need something in place before the first instruction runs).
 */
int process_spawn_prepared(const char *name, const uint64_t *args, size_t nargs,
			   struct process *parent, void (*prepare)(struct aspace *as, void *ctx),
			   void *ctx, struct process **out);

/*
 * fork: a child of the calling process with a copy-on-write copy of its
 * memory and its registers, returning 0 from the same system call. The
 * child's pid, or -ENOMEM / -EAGAIN with nothing changed.
 */
long process_fork(void);

/*
 * Wait for a child of parent (pid, or any for -1) to end and collect it:
 * its pid and *status. -ECHILD if parent has no such child.
 */
long process_wait(struct process *parent, int64_t pid, int *status);

/*
 * process_wait, handing the status to deliver(status, ctx) before the
 * child is collected: if deliver fails (a system call's copy to user
 * memory), its error is returned and the child stays a zombie to wait for.
 */
long process_wait_deliver(struct process *parent, int64_t pid,
			  int (*deliver)(int status, void *ctx), void *ctx);

/* End the calling process with status (PROCESS_KILLED or an exit value). */
__noreturn void process_exit(int status);

/* The calling thread's process; NULL on a kernel thread. */
struct process *process_current(void);

struct process_stats {
	uint64_t live;	  /* processes not yet collected (zombies included) */
	uint64_t started; /* spawned or forked since boot */
	uint64_t killed;  /* ended by the kernel */
};
void process_stats(struct process_stats *s);
