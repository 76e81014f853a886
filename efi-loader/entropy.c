/*
 * Randomness for KASLR: RDSEED, RDRAND (both CPUID-gated, each read retried,
 * each passing a start-up health check), the firmware's EFI_RNG_PROTOCOL,
 * and the TSC, which is always mixed in but only trusted when nothing else
 * works (and then with a loud warning). Every entropy_u64() call is a fresh
 * draw from every working source: nothing is stretched from one seed.
 */
#include "loader.h"

#include <arch/x86_64/cpu.h>
#include <mm/kaslr.h>

#define HW_RETRIES     10
#define HEALTH_SAMPLES 8

static EFI_GUID rng_guid = EFI_RNG_PROTOCOL_GUID;
static EFI_RNG_PROTOCOL *efi_rng;
static uint32_t sources;
static uint64_t draws;

static bool read_rdrand(uint64_t *v)
{
	for (int i = 0; i < HW_RETRIES; i++)
		if (rdrand64(v))
			return true;
	return false;
}

static bool read_rdseed(uint64_t *v)
{
	for (int i = 0; i < HW_RETRIES; i++) {
		if (rdseed64(v))
			return true;
		__asm__ volatile("pause");
	}
	return false;
}

static bool read_efi_rng(uint64_t *v)
{
	return !EFI_ERROR(efi_rng->GetRNG(efi_rng, NULL, sizeof(*v), (UINT8 *)v));
}

/* Take HEALTH_SAMPLES reads; the source counts only if all succeed and look random. */
static bool healthy(bool (*read)(uint64_t *), const char *name)
{
	uint64_t s[HEALTH_SAMPLES];

	for (int i = 0; i < HEALTH_SAMPLES; i++) {
		if (!read(&s[i])) {
			loader_warn("%s: no value after %d tries: not used", name, HW_RETRIES);
			return false;
		}
	}
	if (!kaslr_samples_healthy(s, HEALTH_SAMPLES)) {
		loader_warn("%s: failed its health check (stuck or repeating values): not used",
			    name);
		return false;
	}
	return true;
}

/* Probe every source and check its health. Returns the BOOT_ENTROPY_* set. */
uint32_t entropy_init(void)
{
	sources = BOOT_ENTROPY_TSC;
	if (cpu_has_rdseed() && healthy(read_rdseed, "RDSEED"))
		sources |= BOOT_ENTROPY_RDSEED;
	if (cpu_has_rdrand() && healthy(read_rdrand, "RDRAND"))
		sources |= BOOT_ENTROPY_RDRAND;
	if (!EFI_ERROR(loader_bs->LocateProtocol(&rng_guid, NULL, (void **)&efi_rng)) &&
	    healthy(read_efi_rng, "EFI_RNG_PROTOCOL"))
		sources |= BOOT_ENTROPY_EFI_RNG;
	if (sources == BOOT_ENTROPY_TSC)
		loader_warn("NO HARDWARE ENTROPY (no RDSEED, RDRAND or EFI_RNG_PROTOCOL): "
			    "KASLR falls back to the TSC and is guessable");
	return sources;
}

/* 64 fresh bits: every working source XORed, the TSC mixed in, then mixed. */
uint64_t entropy_u64(void)
{
	uint64_t x = kaslr_mix(rdtsc() + ++draws * 0x9e3779b97f4a7c15ull), v;

	if ((sources & BOOT_ENTROPY_RDSEED) && read_rdseed(&v))
		x ^= v;
	if ((sources & BOOT_ENTROPY_RDRAND) && read_rdrand(&v))
		x ^= kaslr_mix(v);
	if ((sources & BOOT_ENTROPY_EFI_RNG) && read_efi_rng(&v))
		x ^= v;
	return kaslr_mix(x);
}

static uint64_t draw(void *ctx)
{
	(void)ctx;
	return entropy_u64();
}

/* Uniform in [0, n), n > 0. */
uint64_t entropy_below(uint64_t n)
{
	return kaslr_uniform(n, draw, NULL);
}
