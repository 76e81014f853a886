/*
 * The stack protector's canary (-fstack-protector-strong, global guard:
 * -mstack-protector-guard=global). Every protected frame stores
 * __stack_chk_guard between its arrays and its saved registers and checks
 * it before returning; a mismatch calls __stack_chk_fail, which panics.
 */
#pragma once

#include <boot/boot_info.h>
#include <lib/types.h>

/* The live canary; the compiler reads it by this name. Set once, at boot. */
extern uint64_t __stack_chk_guard;

/*
 * The canary for a seed: its low byte is zero, so a string copy that runs
 * past an array stops at it instead of rewriting it, and the other seven
 * bytes are never all zero.
 */
uint64_t stack_protector_canary(uint64_t seed);

/*
 * Draw the canary from the loader's seed (bi->random_seed[2]).
 * => in kmain, right after boot_info_accept(), while no protected frame is
 *    open: a frame set up with the old canary would fail its check.
 */
void stack_protector_init(const struct boot_info *bi);

/* Called by protected code when a canary is wrong: panics naming the frame. */
__noreturn void __stack_chk_fail(void);
