/*
 * User copies (include/kernel/uaccess.h): the range rules here, the copy
 * and its fault fixups in the machine's part (include/arch/uaccess.h).
 */
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

int copy_from_user(void *dst, vaddr_t usrc, size_t n)
{
	int err;

	if (!user_range_ok(usrc, n))
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

	if (!user_range_ok(udst, n))
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
	if ((size_t)len == room) {
		dst[max - 1] = 0;
		return room < max ? -EFAULT : -E2BIG;
	}
	return len;
}
