/*
 * The "string" bench suite: the kernel's memset and memcpy
 * (arch/x86_64/string.S, built renamed by tests/string_kernel.S) against
 * string instructions alone (`rep stosq`/`rep movsq` and a byte tail, the
 * kernel's way until 2026-12-05) and glibc's vector versions, which no
 * kernel without vector registers can use, at the lengths the kernel
 * asks for: the heap's poison fills of freed small blocks (random 24-520
 * bytes), fixed lengths either side of the switch to string instructions,
 * and a page; and fills and copies into cold lines, at random places in
 * COLD_BUF bytes. The three ways are sampled in alternating rounds.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "bench.h"

#include "../string_kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SUITE	      "string"
#define OPS	      4096 /* calls per batch */
#define ROUNDS	      9
#define ROUND_BATCHES 23
#define NSAMPLES      (ROUNDS * ROUND_BATCHES)
#define BUF	      8192
#define COLD_BUF      (128ul << 20) /* beyond the caches: each call's lines are cold */
#define LIMIT_FILL    1.0	    /* the heap's fill: no slower than string instructions */

enum way { W_KERNEL, W_REP, W_LIBC, NWAYS };
enum op { O_SET, O_COPY, NOPS };

static const char *const way_names[NWAYS] = {"kernel", "rep", "glibc"};

/* A length set: fixed (lo == hi) or random multiples of 16 in [lo, hi]; cold: see above. */
struct lengths {
	const char *name;
	unsigned lo, hi;
	bool cold;
};

static const struct lengths length_sets[] = {
    {"24-520", 24, 520, false},	  {"64", 64, 64, false},	   {"256", 256, 256, false},
    {"1000", 1000, 1000, false},  {"2048", 2048, 2048, false},	   {"4096", 4096, 4096, false},
    {"512 cold", 512, 512, true}, {"1000 cold", 1000, 1000, true},
};
#define NLENGTHS (sizeof(length_sets) / sizeof(length_sets[0]))

static _Alignas(64) unsigned char dst_buf[BUF + 64], src_buf[BUF + 64];
static unsigned lens[OPS];
static unsigned char *cold_buf;
static uint32_t cold_off[OPS]; /* a destination for each call: 16 mod 64, as a payload */
static bool cold;

static void *rep_memset(void *dst, int c, size_t n)
{
	uint64_t v = 0x0101010101010101ull * (unsigned char)c;
	size_t q = n / 8, r = n % 8;
	void *d = dst;

	__asm__ volatile("cld; rep stosq" : "+D"(d), "+c"(q) : "a"(v) : "memory");
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(r) : "a"(v) : "memory");
	return dst;
}

static void *rep_memcpy(void *dst, const void *src, size_t n)
{
	size_t q = n / 8, r = n % 8;
	void *d = dst;

	__asm__ volatile("cld; rep movsq" : "+D"(d), "+S"(src), "+c"(q) : : "memory");
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(r) : : "memory");
	return dst;
}

typedef void *set_fn(void *, int, size_t);
typedef void *copy_fn(void *, const void *, size_t);

/* Indirect through volatile pointers: the compiler must not inline glibc's as a builtin. */
static set_fn *volatile set_fns[NWAYS] = {kernel_memset, rep_memset, memset};
static copy_fn *volatile copy_fns[NWAYS] = {kernel_memcpy, rep_memcpy, memcpy};

struct job {
	enum op op;
	enum way way;
};

static void work(void *ctx, uint64_t ops)
{
	const struct job *j = ctx;
	unsigned char *d = dst_buf + 16; /* as a heap payload: 16 mod 64 */

	for (uint64_t i = 0; i < ops; i++) {
		if (cold)
			d = cold_buf + cold_off[i % OPS];
		if (j->op == O_SET)
			set_fns[j->way](d, 0x6b, lens[i % OPS]);
		else
			copy_fns[j->way](d, src_buf + 8, lens[i % OPS]);
	}
	bench_keep(d[0]);
}

static void set_lengths(const struct lengths *l)
{
	uint64_t s = 0x5eed;

	cold = l->cold;
	for (unsigned i = 0; i < OPS && cold; i++)
		cold_off[i] = (uint32_t)(bench_xorshift(&s) % (COLD_BUF - 2 * BUF) & ~63ul) + 16;

	for (unsigned i = 0; i < OPS; i++)
		lens[i] =
		    l->lo == l->hi
			? l->lo
			: l->lo + 16 * (unsigned)(bench_xorshift(&s) % ((l->hi - l->lo) / 16 + 1));
}

/* Every way of one op over one length set, in alternating rounds. */
static void measure(enum op op, struct bench_result r[NWAYS])
{
	static double v[NWAYS][NSAMPLES];
	struct job jobs[NWAYS];

	for (unsigned w = 0; w < NWAYS; w++)
		jobs[w] = (struct job){op, w};
	for (unsigned i = 0; i < ROUNDS; i++)
		for (unsigned w = 0; w < NWAYS; w++)
			bench_sample(work, &jobs[w], OPS, ROUND_BATCHES, &v[w][i * ROUND_BATCHES]);
	for (unsigned w = 0; w < NWAYS; w++)
		bench_summarise(v[w], NSAMPLES, &r[w]);
}

void bench_string(void)
{
	static const char *const op_names[NOPS] = {"memset", "memcpy"};
	struct bench_result r[NOPS][NLENGTHS][NWAYS];
	char name[48];

	cold_buf = mmap(NULL, COLD_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (cold_buf == MAP_FAILED) {
		bench_verdict(false, "string: no memory for the cold buffer");
		return;
	}
	memset(cold_buf, 1, COLD_BUF); /* backed now, not by the first timed calls */

	for (unsigned l = 0; l < NLENGTHS; l++) {
		set_lengths(&length_sets[l]);
		for (unsigned o = 0; o < NOPS; o++)
			measure(o, r[o][l]);
	}
	for (unsigned o = 0; o < NOPS; o++)
		for (unsigned l = 0; l < NLENGTHS; l++)
			for (unsigned w = 0; w < NWAYS; w++) {
				snprintf(name, sizeof(name), "%s %s", way_names[w], op_names[o]);
				bench_row(SUITE, name, length_sets[l].name, &r[o][l][w],
					  w == W_KERNEL ? "kernel/rep %.2f, kernel/glibc %.2f"
							: NULL,
					  r[o][l][W_KERNEL].median / r[o][l][W_REP].median,
					  r[o][l][W_KERNEL].median / r[o][l][W_LIBC].median);
			}
	double fill = r[O_SET][0][W_KERNEL].median / r[O_SET][0][W_REP].median;

	bench_verdict(fill <= LIMIT_FILL,
		      "the heap's poison fill (random 24-520 B) by the kernel's memset vs string "
		      "instructions alone: %.2f (limit %.2f); glibc's vector memset %.2f of it",
		      fill, LIMIT_FILL, r[O_SET][0][W_LIBC].median / r[O_SET][0][W_KERNEL].median);
}
