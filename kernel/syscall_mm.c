/*
 * The memory system calls (include/uapi/syscall.h): mmap, munmap and
 * mprotect on the caller's address space (mm/aspace). Memory is anonymous
 * and demand-zero. A mapping larger than all free memory is refused at
 * once (-ENOMEM): it could never be backed, so failing the call is kinder
 * than killing the process at some later touch. Anything smaller is
 * allowed, and a touch that finds no frame kills the process cleanly.
 */
#include <kernel/process.h>
#include <lib/errno.h>
#include <mm/aspace.h>
#include <mm/pmm.h>
#include <mm/pmm_boot.h>
#include <uapi/syscall.h>

#include "syscall_internal.h"

#define PROT_ALL (PROT_READ | PROT_WRITE | PROT_EXEC)

/* len rounded up to pages into *out; false if zero or so large it wraps. */
static bool page_len(uint64_t len, uint64_t *out)
{
	if (len == 0 || len > UINT64_MAX - PAGE_MASK)
		return false;
	*out = ALIGN_UP(len, PAGE_SIZE);
	return true;
}

/* mmap(hint, len, prot): the start of the new mapping. */
long sys_mmap(const uint64_t a[6])
{
	uint64_t len, prot = a[2];
	vaddr_t va;
	int err;

	if (!page_len(a[1], &len) || (prot & ~(uint64_t)PROT_ALL) || (a[0] & PAGE_MASK))
		return -EINVAL;
	if (len / PAGE_SIZE > pmm_kernel_free_frames())
		return -ENOMEM;
	err = aspace_map_anon(process_current()->as, a[0], len, (unsigned int)prot, &va);
	return err ? err : (long)va;
}

long sys_munmap(const uint64_t a[6])
{
	uint64_t len;

	if (!page_len(a[1], &len) || (a[0] & PAGE_MASK))
		return -EINVAL;
	return aspace_unmap(process_current()->as, a[0], len);
}

/* mprotect(addr, len, prot): as POSIX says, a hole in the range is -ENOMEM. */
long sys_mprotect(const uint64_t a[6])
{
	uint64_t len, prot = a[2];
	int err;

	if (!page_len(a[1], &len) || (prot & ~(uint64_t)PROT_ALL) || (a[0] & PAGE_MASK))
		return -EINVAL;
	err = aspace_protect(process_current()->as, a[0], len, (unsigned int)prot);
	return err == -ENOENT ? -ENOMEM : err;
}
