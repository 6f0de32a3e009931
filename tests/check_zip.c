/* tests/check_zip.c: zlib compression of frame bodies (net/zip.c) — round
 * trips of empty, tiny, text-like, incompressible and large bodies, the
 * output bound (exactly max passes, one byte more fails, a decompression
 * bomb fails with -EMSGSIZE under both the protocol limit and a small one),
 * and every way a peer can send a bad stream: empty, garbage, every
 * truncation, a flipped byte, bytes after the end, a stream with a preset
 * dictionary. The helpers are internal (hidden in the library), so this
 * program compiles net/zip.c itself.
 */
#include "tests/testutil.h"

#include "net/net.h"

#include <zlib.h>

/* A deterministic pseudo-random byte stream (xorshift64). */
static void fill_random(uint8_t *p, size_t len, uint64_t seed)
{
	uint64_t x = seed ? seed : 1;
	size_t i;
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 24);
	}
}

/* Text-like bytes: words from a small vocabulary. */
static void fill_text(uint8_t *p, size_t len)
{
	static const char *const words[] = {"coroutine ", "message ", "node ",
	                                    "peer ", "channel ", "send ", "42 "};
	size_t off = 0, i = 0;
	while (off < len) {
		const char *w = words[(i * 7 + i / 3) % 7];
		size_t wl = strlen(w);
		if (wl > len - off)
			wl = len - off;
		memcpy(p + off, w, wl);
		off += wl;
		i++;
	}
}

/* Compress then inflate with bound max; the result must equal the input. */
static void round_trip(const uint8_t *in, size_t len, size_t max)
{
	void *z = NULL, *back = NULL;
	size_t zlen = 0, blen = 1;
	CK_OK(ac__zip(in, len, &z, &zlen));
	ck_assert_ptr_nonnull(z);
	ck_assert_uint_gt(zlen, 0);
	CK_OK(ac__unzip(z, zlen, max, &back, &blen));
	ck_assert_ptr_nonnull(back);
	ck_assert_uint_eq(blen, len);
	if (len)
		ck_assert_int_eq(memcmp(in, back, len), 0);
	free(z);
	free(back);
}

/* unzip must fail with want and leave the outputs alone. */
static void unzip_fails(const void *in, size_t len, size_t max, int want)
{
	void *out = (void *)&out;
	size_t olen = 12345;
	CK_RC(ac__unzip(in, len, max, &out, &olen), want);
	ck_assert_ptr_eq(out, (void *)&out);
	ck_assert_uint_eq(olen, 12345);
}

START_TEST(test_round_trips)
{
	static const size_t sizes[] = {1, 2, 100, 1023, 1024, 1025, 4096, 65536,
	                               1000003};
	size_t i;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = malloc(sizes[i]);
		ck_assert_ptr_nonnull(p);
		fill_text(p, sizes[i]);
		round_trip(p, sizes[i], AC_WIRE_BODY_MAX);
		fill_random(p, sizes[i], i + 1);
		round_trip(p, sizes[i], AC_WIRE_BODY_MAX);
		free(p);
	}
}
END_TEST

START_TEST(test_empty)
{
	void *z = NULL, *back = NULL;
	size_t zlen = 0, blen = 1;
	CK_OK(ac__zip(NULL, 0, &z, &zlen));
	ck_assert_uint_gt(zlen, 0); /* a zlib stream is never empty */
	CK_OK(ac__unzip(z, zlen, AC_WIRE_BODY_MAX, &back, &blen));
	ck_assert_uint_eq(blen, 0);
	ck_assert_ptr_nonnull(back); /* free()-able either way */
	free(back);
	/* An empty body inflates fine even with max 0. */
	CK_OK(ac__unzip(z, zlen, 0, &back, &blen));
	ck_assert_uint_eq(blen, 0);
	free(back);
	free(z);
}
END_TEST

START_TEST(test_compresses)
{
	size_t len = 1 << 20;
	uint8_t *p = malloc(len);
	void *z = NULL;
	size_t zlen = 0;
	ck_assert_ptr_nonnull(p);
	fill_text(p, len);
	CK_OK(ac__zip(p, len, &z, &zlen));
	ck_assert_uint_lt(zlen, len / 10);
	free(z);
	free(p);
}
END_TEST

START_TEST(test_incompressible)
{
	size_t len = 256 * 1024;
	uint8_t *p = malloc(len);
	void *z = NULL;
	size_t zlen = 0;
	ck_assert_ptr_nonnull(p);
	fill_random(p, len, 99);
	CK_OK(ac__zip(p, len, &z, &zlen));
	/* Stored blocks: a little larger than the input, never much. */
	ck_assert_uint_le(zlen, compressBound(len));
	free(z);
	round_trip(p, len, len);
	free(p);
}
END_TEST

/* The cheap test before deflating: random bytes are not worth it at any
 * size; text, zeros, base64 and small bodies are tried. */
START_TEST(test_likely)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len = 256 * 1024, sizes[] = {1000, 4096, 4097, 65536, 256 * 1024, 64, 200};
	uint8_t *p = malloc(len);
	size_t i;
	ck_assert_ptr_nonnull(p);
	for (i = 0; i < 5; i++) {
		fill_random(p, sizes[i], 7 + i);
		ck_assert_msg(!ac__zip_likely(p, sizes[i]), "random %zu", sizes[i]);
	}
	fill_text(p, len);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		ck_assert_msg(ac__zip_likely(p, sizes[i]), "text %zu", sizes[i]);
	memset(p, 0, len);
	ck_assert(ac__zip_likely(p, len));
	fill_random(p, len, 3);
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)b64[p[i] % 64];
	ck_assert(ac__zip_likely(p, len));
	/* Half text, half random: the sample sees both, and tries. */
	fill_text(p, len / 2);
	fill_random(p + len / 2, len / 2, 5);
	ck_assert(ac__zip_likely(p, len));
	/* Too few bytes to judge: deflate decides. */
	fill_random(p, 255, 11);
	ck_assert(ac__zip_likely(p, 255));
	ck_assert(!ac__zip_likely(p, 0));
	ck_assert(!ac__zip_likely(NULL, 10));
	free(p);
}
END_TEST

START_TEST(test_full_body)
{
	/* A body of exactly the protocol limit, random so that the inflated
	 * size is reached through many buffer growths. */
	size_t len = AC_WIRE_BODY_MAX;
	uint8_t *p = malloc(len);
	ck_assert_ptr_nonnull(p);
	fill_random(p, len, 7);
	memset(p + len / 2, 'x', len / 4);
	round_trip(p, len, AC_WIRE_BODY_MAX);
	free(p);
}
END_TEST

START_TEST(test_exact_bound)
{
	size_t len = 5000;
	uint8_t *p = malloc(len);
	void *z = NULL;
	size_t zlen = 0;
	ck_assert_ptr_nonnull(p);
	fill_text(p, len);
	CK_OK(ac__zip(p, len, &z, &zlen));
	round_trip(p, len, len);
	unzip_fails(z, zlen, len - 1, -EMSGSIZE);
	unzip_fails(z, zlen, 0, -EMSGSIZE);
	free(z);
	free(p);
}
END_TEST

START_TEST(test_bomb)
{
	/* 64 MiB of zeros deflate to under 1 MiB (about 290 KiB at level 1). */
	size_t len = (size_t)64 << 20;
	uint8_t *p = calloc(1, len);
	void *z = NULL;
	size_t zlen = 0;
	ck_assert_ptr_nonnull(p);
	CK_OK(ac__zip(p, len, &z, &zlen));
	free(p);
	ck_assert_uint_lt(zlen, 1 << 20);
	unzip_fails(z, zlen, AC_WIRE_BODY_MAX, -EMSGSIZE);
	unzip_fails(z, zlen, 1000, -EMSGSIZE);
	/* The bomb cut short is still too big before it is found truncated. */
	unzip_fails(z, zlen / 2, AC_WIRE_BODY_MAX, -EMSGSIZE);
	free(z);
}
END_TEST

START_TEST(test_truncated)
{
	size_t len = 20000, cut;
	uint8_t *p = malloc(len);
	void *z = NULL;
	size_t zlen = 0;
	ck_assert_ptr_nonnull(p);
	fill_text(p, len / 2);
	fill_random(p + len / 2, len / 2, 3);
	CK_OK(ac__zip(p, len, &z, &zlen));
	for (cut = 0; cut < zlen; cut++)
		unzip_fails(z, cut, AC_WIRE_BODY_MAX, -EBADMSG);
	free(z);
	free(p);
}
END_TEST

START_TEST(test_garbage)
{
	static const char hello[] = "hello, world";
	uint8_t junk[4096];
	uint64_t seed;
	size_t i;
	unzip_fails(hello, sizeof(hello), AC_WIRE_BODY_MAX, -EBADMSG);
	for (seed = 1; seed <= 200; seed++) {
		fill_random(junk, sizeof(junk), seed);
		unzip_fails(junk, sizeof(junk), AC_WIRE_BODY_MAX, -EBADMSG);
	}
	/* A valid zlib header followed by garbage. */
	for (seed = 1; seed <= 200; seed++) {
		fill_random(junk, sizeof(junk), seed + 1000);
		junk[0] = 0x78;
		junk[1] = 0x01;
		for (i = 2; i < 8; i++)
			junk[i] |= 0x06; /* not a stored block: deflate data */
		unzip_fails(junk, sizeof(junk), AC_WIRE_BODY_MAX, -EBADMSG);
	}
}
END_TEST

START_TEST(test_corrupt_and_trailing)
{
	size_t len = 30000, i;
	uint8_t *p = malloc(len), *z2;
	void *z = NULL;
	size_t zlen = 0;
	ck_assert_ptr_nonnull(p);
	fill_text(p, len);
	CK_OK(ac__zip(p, len, &z, &zlen));
	z2 = malloc(zlen + 1);
	ck_assert_ptr_nonnull(z2);
	/* Every flipped byte: a data error or a checksum mismatch. */
	for (i = 0; i < zlen; i++) {
		memcpy(z2, z, zlen);
		z2[i] ^= 0x55;
		unzip_fails(z2, zlen, AC_WIRE_BODY_MAX, -EBADMSG);
	}
	/* One byte after a complete stream. */
	memcpy(z2, z, zlen);
	z2[zlen] = 0;
	unzip_fails(z2, zlen + 1, AC_WIRE_BODY_MAX, -EBADMSG);
	free(z2);
	free(z);
	free(p);
}
END_TEST

START_TEST(test_dictionary)
{
	/* A stream that needs a preset dictionary is not ours: -EBADMSG. */
	static const char dict[] = "coroutine message node";
	uint8_t in[256], out[512];
	z_stream s;
	fill_text(in, sizeof(in));
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(deflateInit(&s, Z_DEFAULT_COMPRESSION), Z_OK);
	ck_assert_int_eq(deflateSetDictionary(&s, (const Bytef *)dict, sizeof(dict) - 1),
	                 Z_OK);
	s.next_in = in;
	s.avail_in = sizeof(in);
	s.next_out = out;
	s.avail_out = sizeof(out);
	ck_assert_int_eq(deflate(&s, Z_FINISH), Z_STREAM_END);
	unzip_fails(out, s.total_out, AC_WIRE_BODY_MAX, -EBADMSG);
	deflateEnd(&s);
}
END_TEST

START_TEST(test_bad_args)
{
	void *out = NULL;
	size_t olen = 0;
	CK_RC(ac__zip(NULL, 1, &out, &olen), -EINVAL);
	CK_RC(ac__zip("x", 1, NULL, &olen), -EINVAL);
	CK_RC(ac__unzip(NULL, 1, 10, &out, &olen), -EINVAL);
	CK_RC(ac__unzip("x", 1, 10, NULL, &olen), -EINVAL);
	unzip_fails(NULL, 0, 10, -EBADMSG);
}
END_TEST

static Suite *zip_suite(void)
{
	Suite *s = suite_create("zip");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_round_trips);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_compresses);
	tcase_add_test(tc, test_incompressible);
	tcase_add_test(tc, test_likely);
	tcase_add_test(tc, test_full_body);
	tcase_add_test(tc, test_exact_bound);
	tcase_add_test(tc, test_bomb);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_corrupt_and_trailing);
	tcase_add_test(tc, test_dictionary);
	tcase_add_test(tc, test_bad_args);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(zip_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
