/*
 * The kernel this loader trusts: the SHA-256 of build/kernel.elf, fixed in
 * the loader at build time (scripts/kernel_hash.py writes the header).
 * kernel_read checks the file it read against it before parsing a byte of
 * it, with Secure Boot on or off, so a signed loader starts only its own
 * kernel (docs/design.md, Secure Boot chain of trust).
 */
#include "loader.h"

#include <arch/x86_64/cpu.h>
#include <kernel_sha256.h>
#include <lib/sha256.h>
#include <lib/string.h>

/*
 * The marker lets scripts/test.py find the digest in a copy of the PE and
 * pin that copy to a test kernel, as the build would have had it been built
 * with that kernel. Read through a volatile pointer so the comparison uses
 * the bytes in the file, never a copy the compiler folded into the code.
 */
struct pin {
	char marker[24];
	uint8_t digest[SHA256_DIGEST_SIZE];
};
static const struct pin pinned
    __attribute__((used)) = {"AERIE-KERNEL-SHA256-PIN", {KERNEL_SHA256_PINNED}};

/* The first 8 bytes of digest as 16 hex digits, for the error line. */
static void hex_prefix(const uint8_t *digest, char out[17])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 8; i++) {
		out[2 * i] = digits[digest[i] >> 4];
		out[2 * i + 1] = digits[digest[i] & 15];
	}
	out[16] = 0;
}

EFI_STATUS kernel_verify(const char *path, const void *file, size_t size)
{
	const volatile uint8_t *want = pinned.digest;
	uint8_t found[SHA256_DIGEST_SIZE], expected[SHA256_DIGEST_SIZE];
	char want_hex[17], found_hex[17];
	uint64_t start = rdtsc();

	sha256(file, size, found);
	loader_debugf("kernel SHA-256 of %lu KiB in %lu TSC cycles (emulated under TCG)",
		      (unsigned long)(size / 1024), (unsigned long)(rdtsc() - start));
	for (size_t i = 0; i < SHA256_DIGEST_SIZE; i++)
		expected[i] = want[i];
	if (memcmp(found, expected, sizeof(found)) == 0)
		return EFI_SUCCESS;
	hex_prefix(expected, want_hex);
	hex_prefix(found, found_hex);
	loader_error("kernel refused: %s is not the kernel this loader was built with "
		     "(SHA-256 expected %s..., found %s...)",
		     path, want_hex, found_hex);
	return EFI_SECURITY_VIOLATION;
}
