/* The boot-time W^X audit of the live page tables (kernel/wx_audit.c). */
#pragma once

/* Print "W^X audit: N mappings, 0 W+X, ..." and panic on any violation. */
void wx_audit_boot(void);
