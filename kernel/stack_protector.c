/*
 * The stack protector: the canary every protected frame checks, kept in
 * this CPU's per-CPU area (%gs:PERCPU_CANARY_OFFSET) so the scheduler can
 * give each thread its own; set from the loader's seed at boot, drawn from
 * the kernel RNG for new threads; and the report when a check fails.
 * Nothing in this file is itself protected (no_stack_protector): init and
 * switch change the canary under their own frames, and __stack_chk_fail
 * must not call itself.
 */
#include <arch/percpu.h>
#include <kernel/panic.h>
#include <kernel/random.h>
#include <kernel/stack_protector.h>
#include <kernel/symbols.h>

/* Used if a seed's upper seven bytes are all zero (the chance is 2^-56). */
#define CANARY_FALLBACK 0x5ca1ab1e0ddba100ull

uint64_t stack_protector_canary(uint64_t seed)
{
	uint64_t canary = seed & ~0xffull;

	return canary ? canary : CANARY_FALLBACK;
}

/* The boot thread's canary, kept for tests (threads have their own). */
static uint64_t boot_canary;

__attribute__((no_stack_protector)) void stack_protector_init(const struct boot_info *bi)
{
	/* random_seed[0] is the heap's, [1] the kernel RNG's. */
	boot_canary = stack_protector_canary(bi->random_seed[2]);
	stack_protector_switch(boot_canary);
}

uint64_t stack_protector_boot_canary(void)
{
	return boot_canary;
}

__attribute__((no_stack_protector)) uint64_t stack_protector_new_canary(void)
{
	uint64_t canary;

	do /* all-zero upper bytes: 2^-56 per draw */
		canary = random_u64() & ~0xffull;
	while (canary == 0);
	return canary;
}

__attribute__((no_stack_protector)) void stack_protector_switch(uint64_t canary)
{
	/* A volatile store: the compiler must not drop or move it. */
	*(volatile uint64_t *)&arch_percpu()->stack_canary = canary;
}

__attribute__((no_stack_protector)) uint64_t stack_protector_current(void)
{
	return *(volatile uint64_t *)&arch_percpu()->stack_canary;
}

/* Copy "name" out of symbols_lookup's "name+0xoff" into name. */
static __attribute__((no_stack_protector)) void strip_offset(char *name, const char *sym,
							     size_t size)
{
	size_t i = 0;

	while (sym[i] && sym[i] != '+' && i + 1 < size) {
		name[i] = sym[i];
		i++;
	}
	name[i] = '\0';
}

__attribute__((no_stack_protector)) void __stack_chk_fail(void)
{
	static bool failing;
	char where[96], name[96];
	/*
	 * The call is a protected function's last instruction, so the return
	 * address may already be the next function's first byte: ret - 1 is
	 * still inside the call, in the function whose frame was smashed.
	 */
	uint64_t site = (uint64_t)__builtin_return_address(0) - 1;

	if (failing)
		panic("stack protector: a canary was overwritten while reporting one");
	failing = true;
	symbols_lookup(site, where, sizeof(where));
	strip_offset(name, where, sizeof(name));
	panic("stack protector: the canary of %s's frame was overwritten (checked at %s)", name,
	      where);
}
