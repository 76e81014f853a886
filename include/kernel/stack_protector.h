/*
 * The stack protector's canary (-fstack-protector-strong with the guard in
 * the per-CPU area: -mstack-protector-guard=tls, reg gs, offset
 * PERCPU_CANARY_OFFSET). Every protected frame stores the live canary,
 * arch_percpu()->stack_canary, between its arrays and its saved registers
 * and checks it before returning; a mismatch calls __stack_chk_fail, which
 * panics. The scheduler makes the canary per thread with
 * stack_protector_switch().
 */
#pragma once

#include <boot/boot_info.h>
#include <lib/types.h>

/*
 * The canary from the kernel's first instruction until stack_protector_init:
 * non-zero so early code is protected by something, but never secret.
 */
#define STACK_PROTECTOR_BOOT_CANARY 0x2f8a1d6b3c95e700ull

/*
 * The canary for a seed: its low byte is zero, so a string copy that runs
 * past an array stops at it instead of rewriting it, and the other seven
 * bytes are never all zero.
 */
uint64_t stack_protector_canary(uint64_t seed);

/*
 * Draw the boot canary from the loader's seed (bi->random_seed[2]) into
 * this CPU's per-CPU area.
 * => in kmain, right after boot_info_accept(), while no protected frame is
 *    open: a frame set up with the old canary would fail its check.
 */
void stack_protector_init(const struct boot_info *bi);

/*
 * A fresh canary for a new thread, from the kernel RNG (random_u64): low
 * byte zero, the other seven bytes never all zero.
 */
uint64_t stack_protector_new_canary(void);

/*
 * Make canary the live one on this CPU. The scheduler calls it on every
 * switch with the incoming thread's canary:
 * => interrupts off, after the outgoing thread's last protected frame that
 *    will return before it runs again has returned, and before the incoming
 *    thread's first protected frame returns: in practice immediately before
 *    arch_context_switch(), in the same function. Frames left open on the
 *    outgoing stack are checked only after that thread is switched back in,
 *    under its own canary again.
 * => the caller itself must not return between this call and the switch
 *    (it may be protected: its own check runs after it is switched back in).
 */
void stack_protector_switch(uint64_t canary);

/* The live canary on this CPU (the value protected frames store now). */
uint64_t stack_protector_current(void);

/* The canary stack_protector_init() drew: the boot thread's ("kmain"). */
uint64_t stack_protector_boot_canary(void);

/* Called by protected code when a canary is wrong: panics naming the frame. */
__noreturn void __stack_chk_fail(void);
