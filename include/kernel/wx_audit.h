/* The boot-time W^X audit of the live page tables (kernel/wx_audit.c). */
#pragma once

struct wx_audit;

/* Print "W^X audit: N mappings, 0 W+X, ..." and panic on any violation. */
void wx_audit_boot(void);

/*
 * The same rules for the lower half of every live user space: no leaf
 * writable and executable, every user leaf inside [LAYOUT_USER_START,
 * LAYOUT_USER_END). lower_half counts the leaves walked, user the
 * user-accessible ones (the rest are PROT_NONE pages).
 */
void wx_audit_user(struct wx_audit *a);
