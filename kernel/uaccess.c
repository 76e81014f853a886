/*
 * User copies (include/kernel/uaccess.h): the range rules here, the copy
 * and its fault fixups in the machine's part (include/arch/uaccess.h).
 */
#include <arch/mmu.h>
#include <arch/uaccess.h>
#include <kernel/panic.h>
#include <kernel/uaccess.h>
#include <lib/errno.h>
#include <mm/layout.h>

bool user_range_ok(vaddr_t uaddr, size_t n)
{
	if (n == 0)
		return true;
	/* The window ends below the canonical hole: in range means canonical. */
	return LAYOUT_IN_WINDOW(uaddr, (uint64_t)n, LAYOUT_USER_START,
				LAYOUT_USER_END - LAYOUT_USER_START);
}

/*
 * False if a page of [uaddr, uaddr + n) is mapped but not for user mode:
 * a PROT_NONE page of the process (mm/aspace keeps its contents in a
 * supervisor-only mapping), which the copy, running with the kernel's
 * rights, could otherwise read. Unmapped pages are fine here: the copy's
 * fault decides (demand-zero, or -EFAULT). => the range is in the window.
 */
static bool user_pages_ok(vaddr_t uaddr, size_t n)
{
	struct pt_leaf leaf;

	for (vaddr_t va = uaddr & ~PAGE_MASK; va < uaddr + n; va += PAGE_SIZE) {
		if (arch_translate(va, &leaf) && !(leaf.flags & PT_USER))
			return false;
	}
	return true;
}

int copy_from_user(void *dst, vaddr_t usrc, size_t n)
{
	int err;

	if (!user_range_ok(usrc, n) || !user_pages_ok(usrc, n))
		return -EFAULT;
	if (n == 0)
		return 0;
	arch_user_access_begin();
	err = arch_copy_user(dst, (const void *)usrc, n);
	arch_user_access_end();
	return err;
}

int copy_to_user(vaddr_t udst, const void *src, size_t n)
{
	int err;

	if (!user_range_ok(udst, n) || !user_pages_ok(udst, n))
		return -EFAULT;
	if (n == 0)
		return 0;
	arch_user_access_begin();
	err = arch_copy_user((void *)udst, src, n);
	arch_user_access_end();
	return err;
}

long strncpy_from_user(char *dst, vaddr_t usrc, size_t max)
{
	size_t room;
	long len;

	KASSERT(max >= 1);
	if (usrc < LAYOUT_USER_START || usrc >= LAYOUT_USER_END)
		return -EFAULT;
	/* Never read past the window's end: a string there ends or is refused. */
	room = LAYOUT_USER_END - usrc < max ? LAYOUT_USER_END - usrc : max;
	arch_user_access_begin();
	len = arch_strncpy_user(dst, (const char *)usrc, room);
	arch_user_access_end();
	if (len < 0)
		return len;
	/* The pages it read, checked after: a string may end before a PROT_NONE page. */
	if (!user_pages_ok(usrc, (size_t)len < room ? (size_t)len + 1 : room))
		return -EFAULT;
	if ((size_t)len == room) {
		dst[max - 1] = 0;
		return room < max ? -EFAULT : -E2BIG;
	}
	return len;
}
