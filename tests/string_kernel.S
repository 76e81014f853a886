/*
 * The kernel's memset and memcpy (arch/x86_64/string.S) under other
 * names, so the host tests and the bench run them in user mode beside the
 * host's own. Declared in tests/string_kernel.h.
 */
#define memset kernel_memset
#define memcpy kernel_memcpy
#include "../arch/x86_64/string.S"
