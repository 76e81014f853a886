/*
 * The cases of the ring-3 test program user/utest.c, shared with the
 * kernel side that runs them (kernel/user_test.c): args[0] is the case.
 */
#pragma once

enum {
	UT_PRIV = 1,   /* args[1]: UT_PRIV_*; must be killed */
	UT_TOUCH = 2,  /* args[1]: address, args[2]: UT_TOUCH_*; must be killed */
	UT_EFAULT = 3, /* write() with bad buffers; 0 if each got -EFAULT */
	UT_SPIN = 4,   /* args[1]: TSC cycles to spin; 0 if registers held */
	UT_FPU = 5,    /* args[1]: xmm seed, args[2]: TSC cycles; 0 if xmm held */
	UT_BENCH = 6,  /* prints the getpid round trip; 0 */
};

enum { UT_PRIV_CLI, UT_PRIV_HLT, UT_PRIV_MOV_CR3, UT_PRIV_WRMSR, UT_PRIV_LGDT, UT_PRIV_COUNT };
enum { UT_TOUCH_READ, UT_TOUCH_WRITE, UT_TOUCH_EXEC };

#define UT_SURVIVED   99 /* a case that should have been killed returned */
#define UT_BAD_CASE   98
#define UT_STACK_SIZE (64 * 1024) /* the mapped stack (kernel/user.c USER_STACK_SIZE) */
#define UT_BENCH_RUNS 201
