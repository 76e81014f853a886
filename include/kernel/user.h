/*
 * User programs (kernel/user_image.c, kernel/user_programs.S) and the
 * report of a fault from ring 3 (kernel/user.c). Programs are static PIE
 * ELF files built from user/ and shipped inside kernel.elf (so the Secure
 * Boot hash of the kernel covers them), found by name; processes
 * (include/kernel/process.h) run them.
 */
#pragma once

#include <lib/types.h>

struct aspace;

struct user_program {
	const char *name;
	const uint8_t *image;
	uint64_t size;
};

/* The shipped program called name, or NULL. */
const struct user_program *user_program_find(const char *name);

struct user_image {
	vaddr_t base;  /* where the image's link address 0 is */
	uint64_t span; /* bytes from base, page rounded */
	vaddr_t entry;
};

/*
 * Check file[0..size) with the kernel's ELF rules plus the user ones
 * (elf_check_user), relocate it for base and place it in as: one region
 * per segment, a new frame per page. 0, -ENOEXEC (and *why), -ENOMEM, or
 * aspace's error (what was placed stays: destroying as frees it).
 */
int user_image_load(const void *file, uint64_t size, vaddr_t base, struct aspace *as,
		    struct user_image *out, const char **why);

/* A random page-aligned base in [start, start + size) with extent bytes above it. */
vaddr_t user_random_base(vaddr_t start, uint64_t size, uint64_t extent);

/*
 * A fault from ring 3 nothing resolved: print one line
 * "aerie: user fault: pid P (name): <what> at 0x<addr> ip 0x<ip>" and end
 * the process (status PROCESS_KILLED). addr is printed only when it is a
 * user-half address.
 */
__noreturn void user_fault(const char *what, vaddr_t addr, vaddr_t ip);
