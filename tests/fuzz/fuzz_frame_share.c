/*
 * libFuzzer target for mm/frame_share.c, the copy-on-write sharing counts.
 * Runs gets and puts on frames picked from a small set of addresses (so
 * probe runs collide and removals shift entries), with allocation failures
 * injected, mirrored on a per-frame owner count that predicts every result;
 * traps on any mismatch and checks every count after each step.
 */
#include <mm/frame_share.h>
#include <lib/errno.h>

#include <stdlib.h>

#include "fuzz.h"

#define FRAMES	64
#define MAX_OPS 4096

static bool fail_next;

static void *fz_alloc(size_t n)
{
	if (fail_next)
		return NULL;
	return calloc(n, sizeof(struct frame_share_entry));
}

static void fz_free(void *p)
{
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = {data, size, 0};
	struct frame_share fs = {.alloc = fz_alloc, .free = fz_free};
	uint64_t model[FRAMES], spread = rd(&r, 1) % 40 + 12;

	for (size_t f = 0; f < FRAMES; f++)
		model[f] = 1;
	for (int op = 0; op < MAX_OPS && r.n; op++) {
		uint8_t b = (uint8_t)rd(&r, 1);
		size_t f = (b >> 2) % FRAMES;
		paddr_t pa = (paddr_t)f << spread;

		fail_next = (b & 3) == 3;
		if (b & 1) {
			int err = frame_share_get(&fs, pa);
			ASSERT(err == 0 || (err == -ENOMEM && fail_next));
			model[f] += err == 0;
		} else {
			ASSERT(frame_share_put(&fs, pa) == --model[f]);
			if (!model[f])
				model[f] = 1;
		}
		for (size_t g = 0; g < FRAMES; g++)
			ASSERT(frame_share_count(&fs, (paddr_t)g << spread) == model[g]);
	}
	free(fs.slots);
	return 0;
}
