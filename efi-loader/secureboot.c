/*
 * Whether the firmware enforces Secure Boot: the global variables
 * SecureBoot (1: images are verified) and SetupMode (1: no platform key
 * enrolled, so nothing is verified). With it on, the loader drops the
 * command-line options that weaken protections (options.c) and tells the
 * kernel through BOOT_FLAG_SECURE_BOOT.
 */
#include "loader.h"
#include "options.h"

static EFI_GUID global_variable_guid = EFI_GLOBAL_VARIABLE;

/* The one-byte global variable name, or -1 if it is absent or not one byte. */
static int global_u8(CHAR16 *name)
{
	UINT8 value = 0;
	UINTN size = sizeof(value);
	EFI_STATUS st = loader_st->RuntimeServices->GetVariable(name, &global_variable_guid, NULL,
								&size, &value);

	return EFI_ERROR(st) || size != 1 ? -1 : value;
}

enum secure_boot secure_boot_state(void)
{
	int sb = global_u8(L"SecureBoot"), setup = global_u8(L"SetupMode");

	if (setup == 1)
		return SECURE_BOOT_SETUP;
	return sb == 1 ? SECURE_BOOT_ON : SECURE_BOOT_OFF;
}

static void warn_dropped(const char *tok, size_t len, void *ctx)
{
	(void)ctx;
	loader_warn("Secure Boot: \"%.*s\" ignored", (int)len, tok);
}

/* Log the state; with Secure Boot on, drop the weakening options from cmdline. */
bool secure_boot_apply(char *cmdline)
{
	static const char *const names[] = {
	    [SECURE_BOOT_OFF] = "off",
	    [SECURE_BOOT_ON] = "on",
	    [SECURE_BOOT_SETUP] = "setup mode (no platform key: nothing is verified)",
	};
	enum secure_boot state = secure_boot_state();

	loader_log("Secure Boot: %s", names[state]);
	if (state != SECURE_BOOT_ON)
		return false;
	options_secure_filter(cmdline, warn_dropped, NULL);
	return true;
}
