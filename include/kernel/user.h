/*
 * User programs and the threads that run them (kernel/user.c,
 * kernel/user_image.c, kernel/user_programs.S). Programs are static PIE
 * ELF files built from user/ and shipped inside kernel.elf (so the Secure
 * Boot hash of the kernel covers them), found by name.
 *
 * Until per-process address spaces land (issue 15, mm/aspace), every user
 * thread maps its image and stack into the kernel's own tables' lower half
 * at random bases, so several can run at once; the frame placement goes
 * through struct user_image_ops so that it can target an aspace instead.
 */
#pragma once

#include <lib/types.h>

struct user_program {
	const char *name;
	const uint8_t *image;
	uint64_t size;
};

/* The shipped program called name, or NULL. */
const struct user_program *user_program_find(const char *name);

/* Where the frames of a loaded image go: map frame at va with prot (VMM_* flags). */
struct user_image_ops {
	int (*place)(void *ctx, vaddr_t va, paddr_t frame, uint32_t prot);
};

struct user_image {
	vaddr_t base;  /* where the image's link address 0 is */
	uint64_t span; /* bytes from base, page rounded */
	vaddr_t entry;
};

/*
 * Check file[0..size) with the kernel's ELF rules plus the user ones
 * (elf_check_user), relocate it for base and hand each page's new frame to
 * ops->place. 0, -ENOEXEC (and *why), -ENOMEM, or place's error (the
 * frames placed so far stay placed: the caller's teardown frees them).
 */
int user_image_load(const void *file, uint64_t size, vaddr_t base, const struct user_image_ops *ops,
		    void *ctx, struct user_image *out, const char **why);

/* A random page-aligned base in [start, start + size) with extent bytes above it. */
vaddr_t user_random_base(vaddr_t start, uint64_t size, uint64_t extent);

/* The exit status of a program the kernel killed (a fault, a bad call). */
#define USER_STATUS_KILLED (-1)

struct user_proc;

/* Argument words a program gets (copied to the top of its stack). */
#define USER_MAX_ARGS 4

/*
 * Start the program called name on a thread of its own, in ring 3 with
 * rdi = the address of its nargs argument words (on its stack), rsi =
 * nargs. NULL if there is no such program or no memory. => nargs <= USER_MAX_ARGS.
 */
struct user_proc *user_spawn(const char *name, const uint64_t *args, size_t nargs);

/* Wait for p to end, free everything it had; its exit status (or USER_STATUS_KILLED). */
int user_wait(struct user_proc *p);

/* The calling user thread's process id and name (for system calls and reports). */
uint64_t user_pid(void);
const char *user_name(void);

/* End the calling user thread with status. */
__noreturn void user_exit(int status);

/*
 * A fault from ring 3 nothing resolved: print one line
 * "aerie: user fault: pid P (name): <what> at 0x<addr> ip 0x<ip>" and end
 * the thread. addr is printed only when it is a user-half address.
 */
__noreturn void user_fault(const char *what, vaddr_t addr, vaddr_t ip);
