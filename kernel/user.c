/*
 * The report of a fault from ring 3 that nothing resolved
 * (include/kernel/user.h): one line naming the process, what it did and
 * where, then the process ends. Only user-half addresses are printed: a
 * kernel address in a line a program can provoke would give away KASLR.
 */
#include <kernel/console.h>
#include <kernel/process.h>
#include <kernel/user.h>
#include <lib/fmt.h>
#include <mm/layout.h>

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
	struct process *p = process_current();
	char a[24], i[24];

	user_addr(a, sizeof(a), addr);
	user_addr(i, sizeof(i), ip);
	kinfo("user fault: pid %llu (%s): %s at %s ip %s", (unsigned long long)p->pid, p->name,
	      what, a, i);
	process_exit(PROCESS_KILLED);
}
