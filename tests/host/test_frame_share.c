/*
 * Host tests for mm/frame_share.c, the sharing counts of copy-on-write
 * frames: implicit count 1, get/put round trips, removal keeping probe
 * runs reachable (colliding keys), growth, allocation failure changing
 * nothing, and a long random sequence against a per-frame array model.
 */
#include <mm/frame_share.h>
#include <lib/errno.h>

#include "check.h"

static bool fail_alloc;
static size_t allocs;

static void *test_alloc(size_t n)
{
	if (fail_alloc)
		return NULL;
	allocs++;
	return calloc(n, sizeof(struct frame_share_entry));
}

static void test_free(void *p)
{
	allocs--;
	free(p);
}

static struct frame_share fresh(void)
{
	fail_alloc = false;
	return (struct frame_share){.alloc = test_alloc, .free = test_free};
}

static void release(struct frame_share *fs)
{
	if (fs->slots)
		test_free(fs->slots);
}

TEST(unshared_frame_counts_one_and_costs_nothing)
{
	struct frame_share fs = fresh();

	CHECK_EQ(frame_share_count(&fs, 0x5000), 1);
	CHECK_EQ(frame_share_put(&fs, 0x5000), 0);
	CHECK_EQ(frame_share_bytes(&fs), 0);
}

TEST(get_then_put_returns_owners_left)
{
	struct frame_share fs = fresh();

	CHECK_EQ(frame_share_get(&fs, 0x5000), 0);
	CHECK_EQ(frame_share_count(&fs, 0x5000), 2);
	CHECK_EQ(frame_share_get(&fs, 0x5000), 0);
	CHECK_EQ(frame_share_count(&fs, 0x5000), 3);
	CHECK_EQ(frame_share_put(&fs, 0x5000), 2);
	CHECK_EQ(frame_share_put(&fs, 0x5000), 1);
	CHECK_EQ(fs.used, 0);
	CHECK_EQ(frame_share_count(&fs, 0x5000), 1);
	CHECK_EQ(frame_share_put(&fs, 0x5000), 0);
	release(&fs);
}

TEST(frame_zero_is_a_key_like_any_other)
{
	struct frame_share fs = fresh();

	CHECK_EQ(frame_share_get(&fs, 0), 0);
	CHECK_EQ(frame_share_count(&fs, 0), 2);
	CHECK_EQ(frame_share_count(&fs, PAGE_SIZE), 1);
	release(&fs);
}

TEST(growth_keeps_every_count)
{
	struct frame_share fs = fresh();

	for (uint64_t i = 0; i < 5000; i++)
		for (uint64_t k = 0; k <= i % 3; k++)
			CHECK_EQ(frame_share_get(&fs, i * PAGE_SIZE), 0);
	CHECK_EQ(fs.used, 5000);
	CHECK(fs.cap >= 5000 * 4 / 3);
	for (uint64_t i = 0; i < 5000; i++)
		CHECK_EQ(frame_share_count(&fs, i * PAGE_SIZE), 2 + i % 3);
	CHECK_EQ(allocs, 1);
	release(&fs);
}

TEST(failed_growth_changes_nothing)
{
	struct frame_share fs = fresh();
	size_t i = 0;

	while (fs.used + 1 <= fs.cap * 3 / 4 || !fs.cap) {
		CHECK_EQ(frame_share_get(&fs, i++ * PAGE_SIZE), 0);
		if (fs.cap && (fs.used + 1) * 4 > fs.cap * 3)
			break;
	}
	fail_alloc = true;
	CHECK_EQ(frame_share_get(&fs, 999999 * PAGE_SIZE), -ENOMEM);
	CHECK_EQ(frame_share_count(&fs, 999999 * PAGE_SIZE), 1);
	CHECK_EQ(fs.used, i);
	/* An existing entry still counts up without room. */
	CHECK_EQ(frame_share_get(&fs, 0), 0);
	CHECK_EQ(frame_share_count(&fs, 0), 3);
	release(&fs);
}

/* Random gets and puts over few frames (many collisions) against an array. */
TEST(random_sequence_matches_model)
{
	enum { FRAMES = 300 };
	static uint64_t model[FRAMES];
	struct frame_share fs = fresh();

	rng_state = 0x1234567;
	for (size_t f = 0; f < FRAMES; f++)
		model[f] = 1;
	for (int step = 0; step < 200000; step++) {
		uint64_t f = rng() % FRAMES, pa = (f * 7919 % 4096) << 12 | (f / 4096) << 24;
		if (rng() % 2) {
			CHECK_EQ(frame_share_get(&fs, pa), 0);
			model[f]++;
		} else {
			CHECK_EQ(frame_share_put(&fs, pa), --model[f]);
			if (!model[f])
				model[f] = 1; /* freed, then allocated to a new sole owner */
		}
		CHECK_EQ(frame_share_count(&fs, pa), model[f]);
	}
	release(&fs);
}

int main(void)
{
	RUN(unshared_frame_counts_one_and_costs_nothing);
	RUN(get_then_put_returns_owners_left);
	RUN(frame_zero_is_a_key_like_any_other);
	RUN(growth_keeps_every_count);
	RUN(failed_growth_changes_nothing);
	RUN(random_sequence_matches_model);
	return check_done();
}
