/*
 * Host tests for lib/sha256.c: the FIPS 180-4 example messages (the empty
 * string, "abc", the 448- and 896-bit messages, one million 'a'), and
 * pseudo-random messages of every length from 0 to 299 bytes (so every
 * padding case around the 56- and 64-byte block boundaries) whose digests
 * Python's hashlib gave (see pattern_byte for the generator).
 */
#include <lib/sha256.h>
#include <lib/types.h>

#include "check.h"

/* digest as 64 lowercase hex characters. */
static void hex(const uint8_t *digest, char out[2 * SHA256_DIGEST_SIZE + 1])
{
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static void digest_hex(const void *data, size_t len, char *got)
{
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256(data, len, d);
	hex(d, got);
}

#define CHECK_SHA256(data, len, want)                                                              \
	do {                                                                                       \
		char got_[2 * SHA256_DIGEST_SIZE + 1];                                             \
		digest_hex(data, len, got_);                                                       \
		CHECK_STR(got_, want);                                                             \
	} while (0)

TEST(sha256_fips_short_messages)
{
	CHECK_SHA256("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK_SHA256("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(sha256_fips_448_and_896_bit_messages)
{
	static const char m448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char m896[] =
	    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
	    "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

	CHECK_EQ(sizeof(m448) - 1, 56);
	CHECK_SHA256(m448, 56, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	CHECK_SHA256(m896, 112, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

/* One million 'a', fed in uneven pieces to exercise the partial-block path. */
TEST(sha256_fips_million_a)
{
	static uint8_t a[1024]; /* pieces are 13 to 1009 bytes */
	struct sha256 ctx;
	uint8_t d[SHA256_DIGEST_SIZE];
	char got[2 * SHA256_DIGEST_SIZE + 1];
	size_t done = 0, piece = 1;

	memset(a, 'a', sizeof(a));
	sha256_init(&ctx);
	while (done < 1000000) {
		size_t n = MIN(piece, 1000000 - done);
		sha256_update(&ctx, a, n);
		done += n;
		piece = piece % 997 + 13;
	}
	sha256_final(&ctx, d);
	hex(d, got);
	CHECK_STR(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* The test messages: Python's bytes(((i*i*31+i*7+1)>>3)&0xff for i in range(n)). */
static uint8_t pattern_byte(size_t i)
{
	return (uint8_t)(((i * i * 31 + i * 7 + 1) >> 3) & 0xff);
}

static uint8_t pattern[5000];

static void fill_pattern(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = pattern_byte(i);
}

/* hashlib's digests of pattern[:n] around the block boundaries. */
TEST(sha256_matches_hashlib_at_block_boundaries)
{
	static const struct {
		size_t len;
		const char *digest;
	} cases[] = {
	    {55, "cd0541a550a6b45921b0ded73eb7bb3f44970f7731406a497d62f85c23944c31"},
	    {56, "11ad89e2d933eaeaa37bd693891e4206f6690b8e3cb150a16e8354b291fcf531"},
	    {63, "9ea9b937701f82ebca50f6bccf41397e84551a8575630610e1c76386063dacf2"},
	    {64, "59829ac27e59d533762a80193c0c67dbead6a311fc66060ef5483dc0869a9860"},
	    {65, "721343d293f57e6f14834db3bc186d26a3c705488725060d2f8b9a881de004a4"},
	    {119, "3815747158b191f3c903f0a15f4a350110d4d2b107a69508ed84384fc1011065"},
	    {120, "514bdcc4f8d903bd51de384e5766b4befb9054835fb93db977cb8b668085983d"},
	    {128, "ee827bc84eb9fe0e66964ac2c524ed275e695f53389cb853805e4699c22db54b"},
	    {4999, "23944513db08330a22ecd57eb18162b4326b8aa70665a939fca7641ed55a71ed"},
	};

	fill_pattern();
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		CHECK_SHA256(pattern, cases[i].len, cases[i].digest);
}

/*
 * Every length from 0 to 299: the digest of the 300 digests concatenated,
 * as hashlib computes it (h = sha256(); for n in range(300):
 * h.update(sha256(data[:n]).digest())).
 */
TEST(sha256_matches_hashlib_for_every_length_to_299)
{
	struct sha256 all;
	uint8_t d[SHA256_DIGEST_SIZE];
	char got[2 * SHA256_DIGEST_SIZE + 1];

	fill_pattern();
	sha256_init(&all);
	for (size_t n = 0; n < 300; n++) {
		sha256(pattern, n, d);
		sha256_update(&all, d, sizeof(d));
	}
	sha256_final(&all, d);
	hex(d, got);
	CHECK_STR(got, "3074214b00cb582e9c8bc6663932fdef6516cebd8c91f24cff2b385065b7761f");
}

/* Any split of a message into two updates gives the one-shot digest. */
TEST(sha256_split_updates_match_one_shot)
{
	uint8_t one[SHA256_DIGEST_SIZE], two[SHA256_DIGEST_SIZE];
	struct sha256 ctx;

	fill_pattern();
	sha256(pattern, 200, one);
	for (size_t cut = 0; cut <= 200; cut++) {
		sha256_init(&ctx);
		sha256_update(&ctx, pattern, cut);
		sha256_update(&ctx, pattern + cut, 200 - cut);
		sha256_final(&ctx, two);
		CHECK(memcmp(one, two, sizeof(one)) == 0);
	}
}

int main(void)
{
	RUN(sha256_fips_short_messages);
	RUN(sha256_fips_448_and_896_bit_messages);
	RUN(sha256_fips_million_a);
	RUN(sha256_matches_hashlib_at_block_boundaries);
	RUN(sha256_matches_hashlib_for_every_length_to_299);
	RUN(sha256_split_updates_match_one_shot);
	return check_done();
}
