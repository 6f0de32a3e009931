/* tests/check_pack.c: the MessagePack value layer (engine/pack.c) — round
 * trips of every format letter (int64 limits, doubles, empty and binary
 * strings, nested arrays and maps, refs and locations over IPv4 and IPv6),
 * the exact wire layout of the ref and location extensions, agreement with
 * msgpack-c in both directions, ac_msg_repr text and truncation, and hostile
 * input: format/payload mismatches, every truncated prefix of a valid
 * encoding, random and mutated bytes from a fixed-seed PRNG, lying counts,
 * too-deep nesting, malformed extension bodies, strings too long for the
 * caller's buffer. No scheduler is needed: messages work without one.
 *
 * The wire's hot-path coders (ac__pack_uint, ac__pack_send, ...) are
 * internal to the library, so engine/pack.c is compiled into this program
 * (with stand-ins for the two internals it calls) and every test here runs
 * against that copy; they must write exactly what ac_pack writes and read
 * back what it reads. */
#include "tests/testutil.h"

#include "engine/engine.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include <msgpack.h>

/* ---- stand-ins for the library's internals engine/pack.c calls ---------------- */

void ac__assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}

ac_msg *ac__msg_alloc(size_t len)
{
	return ac_msg_alloc(len);
}

/* ---- helpers ------------------------------------------------------------------ */

/* xorshift64*: the tests' own PRNG, so runs are identical everywhere. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static ac_addr addr_of(const char *text)
{
	ac_addr a;
	CK_OK(ac_addr_parse(&a, text, 0));
	return a;
}

static ac_ref ref_of(uint32_t kind, const char *loc, uint64_t inc, uint64_t id)
{
	ac_ref r = ac_ref_null();
	r.kind = kind;
	r.inc = inc;
	r.id = id;
	if (loc != NULL)
		r.loc = addr_of(loc);
	return r;
}

/* The payload of m must be exactly the n bytes at want. */
static void ck_bytes(const ac_msg *m, const void *want, size_t n)
{
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(ac_msg_len(m), n);
	ck_assert_int_eq(memcmp(ac_msg_data(m), want, n), 0);
}

/* Pack one int64 with 'i', check its encoded size, read it back as 'i',
 * as 'u' (when non-negative) and as 'd'. */
static void ck_int_round(int64_t v, size_t enc_len)
{
	ac_msg *m = ac_msg_pack("i", v);
	int64_t i = 0;
	uint64_t u = 0;
	double d = 0;

	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(ac_msg_len(m), enc_len);
	CK_OK(ac_msg_unpack(m, "i", &i));
	ck_assert(i == v);
	if (v >= 0) {
		CK_OK(ac_msg_unpack(m, "u", &u));
		ck_assert(u == (uint64_t)v);
	} else {
		CK_RC(ac_msg_unpack(m, "u", &u), -EBADMSG);
	}
	CK_OK(ac_msg_unpack(m, "d", &d));
	ck_assert(d == (double)v);
	CK_RC(ac_msg_unpack(m, "b", &(int){0}), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "s", (char[8]){0}, (size_t)8), -EBADMSG);
	ac_msg_free(m);
}

/* ---- scalars ---------------------------------------------------------------- */

START_TEST(test_nil_bool)
{
	ac_msg *m = ac_msg_pack("[n b b b]", 1, 0, 7);
	int a = -1, b = -1, c = -1;
	static const uint8_t want[] = { 0x94, 0xc0, 0xc3, 0xc2, 0xc3 };

	ck_bytes(m, want, sizeof(want));
	CK_OK(ac_msg_unpack(m, "[n b b b]", &a, &b, &c));
	ck_assert_int_eq(a, 1);
	ck_assert_int_eq(b, 0);
	ck_assert_int_eq(c, 1);
	CK_RC(ac_msg_unpack(m, "[b b b b]", &a, &a, &b, &c), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "[n n b b]", &a, &b), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "[n i b b]", &(int64_t){0}, &b, &c), -EBADMSG);
	CK_OK(ac_msg_unpack(m, "[n * * b]", &c));
	CK_OK(ac_msg_unpack(m, "*"));
	ac_msg_free(m);
}
END_TEST

START_TEST(test_int_limits)
{
	ck_int_round(0, 1);
	ck_int_round(1, 1);
	ck_int_round(127, 1);
	ck_int_round(128, 2);
	ck_int_round(255, 2);
	ck_int_round(256, 3);
	ck_int_round(65535, 3);
	ck_int_round(65536, 5);
	ck_int_round(UINT32_MAX, 5);
	ck_int_round((int64_t)UINT32_MAX + 1, 9);
	ck_int_round(INT64_MAX, 9);
	ck_int_round(-1, 1);
	ck_int_round(-32, 1);
	ck_int_round(-33, 2);
	ck_int_round(-128, 2);
	ck_int_round(-129, 3);
	ck_int_round(INT16_MIN, 3);
	ck_int_round((int64_t)INT16_MIN - 1, 5);
	ck_int_round(INT32_MIN, 5);
	ck_int_round((int64_t)INT32_MIN - 1, 9);
	ck_int_round(INT64_MIN + 1, 9);
	ck_int_round(INT64_MIN, 9);
}
END_TEST

START_TEST(test_uint_limits)
{
	static const uint64_t vals[] = { 0, 1, 127, 128, UINT32_MAX,
	                                 (uint64_t)INT64_MAX,
	                                 (uint64_t)INT64_MAX + 1, UINT64_MAX };
	size_t k;

	for (k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
		ac_msg *m = ac_msg_pack("u", vals[k]);
		uint64_t u = 0;
		int64_t i = 0;
		ck_assert_ptr_nonnull(m);
		CK_OK(ac_msg_unpack(m, "u", &u));
		ck_assert(u == vals[k]);
		if (vals[k] <= (uint64_t)INT64_MAX) {
			CK_OK(ac_msg_unpack(m, "i", &i));
			ck_assert(i == (int64_t)vals[k]);
		} else {
			CK_RC(ac_msg_unpack(m, "i", &i), -EBADMSG);
		}
		ac_msg_free(m);
	}
}
END_TEST

/* Other encoders may use wider or signed forms than msgpack-c does. */
START_TEST(test_int_other_encodings)
{
	static const uint8_t int8_pos[] = { 0xd0, 0x05 };
	static const uint8_t int64_pos[] = { 0xd3, 0, 0, 0, 0, 0, 0, 0, 9 };
	static const uint8_t uint64_one[] = { 0xcf, 0, 0, 0, 0, 0, 0, 0, 1 };
	static const uint8_t int16_neg[] = { 0xd1, 0xff, 0x00 };
	static const uint8_t u64_max[] = { 0xcf, 0xff, 0xff, 0xff, 0xff,
	                                   0xff, 0xff, 0xff, 0xff };
	int64_t i = 0;
	uint64_t u = 0;

	CK_OK(ac_unpack(int8_pos, sizeof(int8_pos), "i", &i));
	ck_assert(i == 5);
	CK_OK(ac_unpack(int8_pos, sizeof(int8_pos), "u", &u));
	ck_assert(u == 5);
	CK_OK(ac_unpack(int64_pos, sizeof(int64_pos), "u", &u));
	ck_assert(u == 9);
	CK_OK(ac_unpack(uint64_one, sizeof(uint64_one), "i", &i));
	ck_assert(i == 1);
	CK_OK(ac_unpack(int16_neg, sizeof(int16_neg), "i", &i));
	ck_assert(i == -256);
	CK_RC(ac_unpack(int16_neg, sizeof(int16_neg), "u", &u), -EBADMSG);
	CK_RC(ac_unpack(u64_max, sizeof(u64_max), "i", &i), -EBADMSG);
}
END_TEST

START_TEST(test_doubles)
{
	const double vals[] = { 0.0, -0.0, 1.5, -2.25, 0.1, 1e308, DBL_MAX,
	                        DBL_MIN, 5e-324, -DBL_MAX, INFINITY, -INFINITY,
	                        NAN };
	static const uint8_t f32[] = { 0xca, 0x3f, 0xc0, 0x00, 0x00 };
	size_t k;
	double d = 0;
	int64_t i;

	for (k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
		ac_msg *m = ac_msg_pack("d", vals[k]);
		ck_assert_ptr_nonnull(m);
		ck_assert_uint_eq(ac_msg_len(m), 9);
		ck_assert_uint_eq(((const uint8_t *)ac_msg_data(m))[0], 0xcb);
		CK_OK(ac_msg_unpack(m, "d", &d));
		ck_assert_int_eq(memcmp(&d, &vals[k], sizeof(d)), 0);
		CK_RC(ac_msg_unpack(m, "i", &i), -EBADMSG);
		CK_RC(ac_msg_unpack(m, "u", &(uint64_t){0}), -EBADMSG);
		ac_msg_free(m);
	}
	CK_OK(ac_unpack(f32, sizeof(f32), "d", &d));
	ck_assert(d == 1.5);
	CK_RC(ac_unpack(f32, sizeof(f32), "i", &i), -EBADMSG);
}
END_TEST

/* ---- strings and bytes -------------------------------------------------------- */

/* A string of n bytes at each str8/16/32 boundary round trips. */
static void ck_string_len(size_t n)
{
	char *s = malloc(n + 1), *got = malloc(n + 1);
	const void *p = NULL;
	size_t len = 0, k;
	ac_msg *m;

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(got);
	for (k = 0; k < n; k++)
		s[k] = (char)('a' + k % 26);
	s[n] = '\0';
	m = ac_msg_pack("s", s);
	ck_assert_ptr_nonnull(m);
	CK_OK(ac_msg_unpack(m, "s", got, n + 1));
	ck_assert_str_eq(got, s);
	CK_RC(ac_msg_unpack(m, "s", got, n), -EMSGSIZE);
	CK_OK(ac_msg_unpack(m, "S", &p, &len));
	ck_assert_uint_eq(len, n);
	/* Zero copy: the bytes are inside the payload. */
	ck_assert((const char *)p >= (const char *)ac_msg_data(m));
	ck_assert((const char *)p + len ==
	          (const char *)ac_msg_data(m) + ac_msg_len(m));
	ck_assert_int_eq(memcmp(p, s, n), 0);
	ac_msg_free(m);
	free(s);
	free(got);
}

START_TEST(test_strings)
{
	static const size_t lens[] = { 0, 1, 31, 32, 255, 256, 65535, 65536,
	                               100000 };
	size_t k;
	char buf[4];
	ac_msg *m;

	for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++)
		ck_string_len(lens[k]);
	m = ac_msg_pack("s", "");
	ck_assert_ptr_nonnull(m);
	CK_RC(ac_msg_unpack(m, "s", buf, (size_t)0), -EMSGSIZE);
	CK_OK(ac_msg_unpack(m, "s", buf, (size_t)1));
	ck_assert_str_eq(buf, "");
	CK_RC(ac_msg_unpack(m, "s", NULL, sizeof(buf)), -EINVAL);
	CK_RC(ac_msg_unpack(m, "i", &(int64_t){0}), -EBADMSG);
	ac_msg_free(m);
	ck_assert_ptr_null(ac_msg_pack("s", (const char *)NULL));
	ck_assert_ptr_null(ac_msg_pack("[i s]", (int64_t)1, (const char *)NULL));
}
END_TEST

START_TEST(test_binary)
{
	static const char bin[] = { 'a', 0, 'b', 0, (char)0xff };
	static const uint8_t want[] = { 0xc4, 5, 'a', 0, 'b', 0, 0xff };
	const void *p = NULL;
	size_t len = 99;
	char buf[16];
	ac_msg *m = ac_msg_pack("S", bin, sizeof(bin));

	ck_bytes(m, want, sizeof(want));
	CK_OK(ac_msg_unpack(m, "S", &p, &len));
	ck_assert_uint_eq(len, sizeof(bin));
	ck_assert_int_eq(memcmp(p, bin, sizeof(bin)), 0);
	ck_assert_ptr_eq(p, (const char *)ac_msg_data(m) + 2);
	/* A C string cannot hold the NULs. */
	CK_RC(ac_msg_unpack(m, "s", buf, sizeof(buf)), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "S", &p, NULL), -EINVAL);
	ac_msg_free(m);

	m = ac_msg_pack("S", NULL, (size_t)0);
	ck_bytes(m, "\xc4\x00", 2);
	CK_OK(ac_msg_unpack(m, "S", &p, &len));
	ck_assert_uint_eq(len, 0);
	CK_OK(ac_msg_unpack(m, "s", buf, sizeof(buf)));
	ck_assert_str_eq(buf, "");
	ac_msg_free(m);
	ck_assert_ptr_null(ac_msg_pack("S", NULL, (size_t)3));

	/* 's' and 'S' accept both str and bin. */
	m = ac_msg_pack("[S s]", "xyz", (size_t)3, "uvw");
	CK_OK(ac_msg_unpack(m, "[s S]", buf, sizeof(buf), &p, &len));
	ck_assert_str_eq(buf, "xyz");
	ck_assert_uint_eq(len, 3);
	ck_assert_int_eq(memcmp(p, "uvw", 3), 0);
	ac_msg_free(m);
}
END_TEST

/* ---- arrays and maps ------------------------------------------------------------ */

START_TEST(test_nested)
{
	ac_msg *m = ac_msg_pack("{s: [i, {s: b, s: []}], s: n, i: [[[d]]], s: {}}",
	                        "a", (int64_t)-3, "t", 1, "e", "nil",
	                        (int64_t)7, 2.5, "m");
	int64_t i = 0, k = 0;
	int b = 0;
	double d = 0;
	char s1[8], s2[8], s3[8], s4[8], s5[8];

	ck_assert_ptr_nonnull(m);
	CK_OK(ac_msg_unpack(m, "{s: [i, {s: b, s: []}], s: n, i: [[[d]]], s: {}}",
	                    s1, sizeof(s1), &i, s2, sizeof(s2), &b, s3,
	                    sizeof(s3), s4, sizeof(s4), &k, &d, s5, sizeof(s5)));
	ck_assert_str_eq(s1, "a");
	ck_assert(i == -3);
	ck_assert_str_eq(s2, "t");
	ck_assert_int_eq(b, 1);
	ck_assert_str_eq(s3, "e");
	ck_assert_str_eq(s4, "nil");
	ck_assert(k == 7);
	ck_assert(d == 2.5);
	ck_assert_str_eq(s5, "m");
	/* Skipping whole sub-trees. */
	CK_OK(ac_msg_unpack(m, "{* * * n * * s *}", s5, sizeof(s5)));
	ck_assert_str_eq(s5, "m");
	CK_OK(ac_msg_unpack(m, "*"));
	/* Counts must match exactly. */
	CK_RC(ac_msg_unpack(m, "{* * * n * *}"), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "{* * * n * * * * * *}"), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "{* [i] * n * * * *}", &i), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "{* [i * *] * n * * * *}", &i), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "[* * * * * * * *]"), -EBADMSG);
	ac_msg_free(m);
}
END_TEST

START_TEST(test_map_pairs_in_order)
{
	ac_msg *m = ac_msg_pack("{sisi}", "x", (int64_t)1, "y", (int64_t)2);
	char k1[4], k2[4];
	int64_t v1 = 0, v2 = 0;
	static const uint8_t want[] = { 0x82, 0xa1, 'x', 1, 0xa1, 'y', 2 };

	ck_bytes(m, want, sizeof(want));
	CK_OK(ac_msg_unpack(m, "{sisi}", k1, sizeof(k1), &v1, k2, sizeof(k2),
	                    &v2));
	ck_assert_str_eq(k1, "x");
	ck_assert_str_eq(k2, "y");
	ck_assert(v1 == 1 && v2 == 2);
	CK_RC(ac_msg_unpack(m, "{si}", k1, sizeof(k1), &v1), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "[sisi]", k1, sizeof(k1), &v1, k2, sizeof(k2),
	                    &v2), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "{isis}", &v1, k1, sizeof(k1), &v2, k2,
	                    sizeof(k2)), -EBADMSG);
	ac_msg_free(m);
}
END_TEST

START_TEST(test_mismatch)
{
	ac_msg *m = ac_msg_pack("[i s]", (int64_t)5, "five");
	int64_t i = 0;
	char s[8];
	uint8_t two[] = { 0x01, 0x02 };

	ck_assert_ptr_nonnull(m);
	CK_RC(ac_msg_unpack(m, "[s i]", s, sizeof(s), &i), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "[i]", &i), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "[i s n]", &i, s, sizeof(s)), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "{i s}", &i, s, sizeof(s)), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "i", &i), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "[i s]", &i, s, (size_t)4), -EMSGSIZE);
	CK_OK(ac_msg_unpack(m, "[i s]", &i, s, (size_t)5));
	ck_assert_str_eq(s, "five");
	ac_msg_free(m);
	/* Bytes after the value, and no value at all. */
	CK_RC(ac_unpack(two, sizeof(two), "i", &i), -EBADMSG);
	CK_RC(ac_unpack(two, sizeof(two), "*"), -EBADMSG);
	CK_RC(ac_unpack(two, 0, "*"), -EBADMSG);
	CK_RC(ac_unpack(NULL, 0, "*"), -EBADMSG);
	CK_RC(ac_unpack(NULL, 3, "*"), -EINVAL);
	CK_OK(ac_unpack(two, 1, "i", &i));
	ck_assert(i == 1);
}
END_TEST

/* ---- formats -------------------------------------------------------------------- */

/* "[[[ ... n ... ]]]" with depth brackets, in a static buffer. */
static const char *deep_fmt(char *buf, int depth)
{
	int k;
	for (k = 0; k < depth; k++)
		buf[k] = '[';
	buf[depth] = 'n';
	for (k = 0; k < depth; k++)
		buf[depth + 1 + k] = ']';
	buf[2 * depth + 1] = '\0';
	return buf;
}

START_TEST(test_bad_formats)
{
	static const char *const bad[] = { "", "  ", "ii", "[i", "i]", "[}", "{i}",
	                                   "x", "*", "{[}]", "[i]]", "{{}", "i i" };
	char fmt[2 * AC_PACK_DEPTH_MAX + 8];
	void *out = NULL;
	size_t len = 0, k;
	ac_msg *m;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		ck_assert_msg(ac_msg_pack(bad[k], (int64_t)1, (int64_t)2) == NULL,
		              "format \"%s\" accepted", bad[k]);
		CK_RC(ac_pack(&out, &len, bad[k], (int64_t)1), -EINVAL);
	}
	ck_assert_ptr_null(ac_msg_pack(NULL));
	CK_RC(ac_pack(NULL, &len, "n"), -EINVAL);
	CK_RC(ac_pack(&out, NULL, "n"), -EINVAL);
	ck_assert_ptr_null(ac_msg_pack(deep_fmt(fmt, AC_PACK_DEPTH_MAX + 1)));
	m = ac_msg_pack(deep_fmt(fmt, AC_PACK_DEPTH_MAX));
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(ac_msg_len(m), AC_PACK_DEPTH_MAX + 1);
	CK_OK(ac_msg_unpack(m, fmt));
	CK_OK(ac_msg_unpack(m, "*"));
	CK_RC(ac_msg_unpack(m, deep_fmt(fmt, AC_PACK_DEPTH_MAX + 1)), -EINVAL);
	/* Unpacking: the same rules, '*' allowed, NULLs refused. */
	CK_RC(ac_msg_unpack(m, "[*"), -EINVAL);
	CK_RC(ac_msg_unpack(m, "**"), -EINVAL);
	CK_RC(ac_msg_unpack(m, "q"), -EINVAL);
	CK_RC(ac_msg_unpack(m, NULL), -EINVAL);
	CK_RC(ac_msg_unpack(NULL, "*"), -EINVAL);
	ac_msg_free(m);
	m = ac_msg_pack("i", (int64_t)1);
	CK_RC(ac_msg_unpack(m, "i", NULL), -EINVAL);
	CK_RC(ac_msg_unpack(m, "u", NULL), -EINVAL);
	ac_msg_free(m);
}
END_TEST

START_TEST(test_ac_pack_raw)
{
	char big[1000];
	void *out = NULL;
	size_t len = 0;
	const void *p;
	size_t plen;
	ac_msg *m;

	/* Small (kept on the stack while packing) and large (heap) outputs. */
	CK_OK(ac_pack(&out, &len, "[i s]", (int64_t)-1, "x"));
	ck_assert_uint_eq(len, 4);
	ck_assert_int_eq(memcmp(out, "\x92\xff\xa1x", 4), 0);
	free(out);
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CK_OK(ac_pack(&out, &len, "{s: s}", "k", big));
	m = ac_msg_pack("{s: s}", "k", big);
	ck_bytes(m, out, len);
	CK_OK(ac_unpack(out, len, "{* S}", &p, &plen));
	ck_assert_uint_eq(plen, sizeof(big) - 1);
	ck_assert_int_eq(memcmp(p, big, plen), 0);
	ac_msg_free(m);
	free(out);
	/* A bad argument after the buffer moved to the heap frees it. */
	CK_RC(ac_pack(&out, &len, "[s s]", big, (const char *)NULL), -EINVAL);
}
END_TEST

/* ---- refs and locations ---------------------------------------------------------- */

START_TEST(test_refs_locations)
{
	ac_ref r4 = ref_of(AC_REF_CORO, "10.1.2.3:5000", 0x1122334455667788ULL,
	                   5 | (uint64_t)2 << 32);
	ac_ref r6 = ref_of(AC_REF_CHAN, "[fe80::1:2]:65535", UINT64_MAX,
	                   UINT64_MAX);
	ac_ref rn = ac_ref_null(), rr = ref_of(AC_REF_RCI, NULL, 1, 2);
	ac_ref g4, g6, gn, gr;
	ac_addr l4 = addr_of("192.168.0.1:80"), l6 = addr_of("[::1]:1"), ln;
	ac_addr h4, h6, hn;
	ac_msg *m;

	r6.loc.scope = 0xdeadbeef;
	ac_addr_init(&ln);
	m = ac_msg_pack("[r r r r l l l]", r4, r6, rn, rr, &l4, &l6, &ln);
	ck_assert_ptr_nonnull(m);
	memset(&g4, 0xaa, sizeof(g4));
	CK_OK(ac_msg_unpack(m, "[r r r r l l l]", &g4, &g6, &gn, &gr, &h4, &h6,
	                    &hn));
	ck_assert(ac_ref_eq(g4, r4));
	ck_assert(ac_ref_eq(g6, r6));
	ck_assert(ac_ref_eq(gn, rn));
	ck_assert(ac_ref_is_null(gn));
	ck_assert(ac_ref_eq(gr, rr));
	ck_assert(!ac_ref_eq(g4, g6));
	ck_assert_uint_eq(g4.pad, 0);
	ck_assert(ac_addr_eq(&h4, &l4));
	ck_assert(ac_addr_eq(&h6, &l6));
	ck_assert(ac_addr_eq(&hn, &ln));
	/* Decoded addresses are canonical. */
	ck_assert_int_eq(memcmp(&h4, &l4, sizeof(h4)), 0);
	ck_assert_int_eq(memcmp(&g6.loc, &r6.loc, sizeof(ac_addr)), 0);
	/* A ref is not a location and the other way round. */
	CK_RC(ac_msg_unpack(m, "[l * * * * * *]", &h4), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "[* * * * r * *]", &g4), -EBADMSG);
	CK_RC(ac_msg_unpack(m, "[* * * * * * r]", NULL), -EINVAL);
	ac_msg_free(m);
}
END_TEST

/* The documented layout, byte by byte (see the top of engine/pack.c). */
START_TEST(test_ext_layout)
{
	ac_ref r = ref_of(AC_REF_CORO, "10.0.0.1:4660", 0x0102030405060708ULL,
	                  0x1112131415161718ULL);
	ac_addr a = addr_of("[2001:db8::7]:258");
	static const uint8_t want_ref[] = {
		0xc7, 40, 1, /* ext 8, 40 bytes, type 1 */
		1, 4, 0x12, 0x34, 0, 0, 0, 0, /* kind, family, port, scope */
		10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18
	};
	static const uint8_t want_loc[] = {
		0xc7, 23, 2, 6, 0x01, 0x02, 0, 0, 0, 9,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7
	};
	ac_msg *m;

	/* Bytes past an IPv4 address are not sent. */
	memset(r.loc.ip + 4, 0xee, 12);
	m = ac_msg_pack("r", r);
	ck_bytes(m, want_ref, sizeof(want_ref));
	ac_msg_free(m);
	a.scope = 9;
	m = ac_msg_pack("l", &a);
	ck_bytes(m, want_loc, sizeof(want_loc));
	ac_msg_free(m);
}
END_TEST

/* Unpack 'r' (or 'l' when loc) from an ext of the given type and body. */
static int unpack_ext(int type, const uint8_t *body, size_t n, int loc)
{
	uint8_t buf[64];
	ac_ref r;
	ac_addr a;

	ck_assert_uint_le(n + 3, sizeof(buf));
	buf[0] = 0xc7;
	buf[1] = (uint8_t)n;
	buf[2] = (uint8_t)type;
	memcpy(buf + 3, body, n);
	return loc ? ac_unpack(buf, n + 3, "l", &a) : ac_unpack(buf, n + 3, "r", &r);
}

START_TEST(test_bad_ext)
{
	ac_ref r = ref_of(AC_REF_CORO, "[::1]:9", 1, 1);
	ac_addr a = addr_of("1.2.3.4:5");
	uint8_t ref[48] = { 0 }, loc[32] = { 0 };
	uint8_t fix16[18] = { 0xd8, 1 };
	void *out;
	size_t len;

	CK_OK(ac_pack(&out, &len, "r", r));
	ck_assert_uint_eq(len, 43);
	memcpy(ref, (uint8_t *)out + 3, 40);
	free(out);
	CK_OK(ac_pack(&out, &len, "l", &a));
	ck_assert_uint_eq(len, 26);
	memcpy(loc, (uint8_t *)out + 3, 23);
	free(out);
	CK_OK(unpack_ext(1, ref, 40, 0));
	CK_OK(unpack_ext(2, loc, 23, 1));
	/* Wrong sizes and types. */
	CK_RC(unpack_ext(1, ref, 39, 0), -EBADMSG);
	CK_RC(unpack_ext(1, ref, 41, 0), -EBADMSG);
	CK_RC(unpack_ext(1, ref, 0, 0), -EBADMSG);
	CK_RC(unpack_ext(2, loc, 22, 1), -EBADMSG);
	CK_RC(unpack_ext(2, loc, 24, 1), -EBADMSG);
	CK_RC(unpack_ext(3, ref, 40, 0), -EBADMSG);
	CK_RC(unpack_ext(2, ref, 40, 0), -EBADMSG);
	CK_RC(unpack_ext(1, loc, 23, 1), -EBADMSG);
	CK_RC(unpack_ext(-1, ref, 40, 0), -EBADMSG);
	CK_RC(ac_unpack(fix16, sizeof(fix16), "r", &r), -EBADMSG);
	fix16[1] = 2;
	CK_RC(ac_unpack(fix16, sizeof(fix16), "l", &a), -EBADMSG);
	CK_OK(ac_unpack(fix16, sizeof(fix16), "*"));
	/* Bad contents: kind, family, bytes past the address. */
	ref[0] = 4;
	CK_RC(unpack_ext(1, ref, 40, 0), -EBADMSG);
	ref[0] = AC_REF_RCI;
	ref[1] = 5;
	CK_RC(unpack_ext(1, ref, 40, 0), -EBADMSG);
	loc[0] = AC_AF_INET6 + 1;
	CK_RC(unpack_ext(2, loc, 23, 1), -EBADMSG);
	loc[0] = AC_AF_INET;
	loc[7 + 4] = 1;
	CK_RC(unpack_ext(2, loc, 23, 1), -EBADMSG);
	loc[7 + 4] = 0;
	loc[7 + 15] = 1;
	CK_RC(unpack_ext(2, loc, 23, 1), -EBADMSG);
	memset(loc, 0, sizeof(loc));
	loc[7] = 1; /* family NONE with an address byte */
	CK_RC(unpack_ext(2, loc, 23, 1), -EBADMSG);
	loc[7] = 0;
	CK_OK(unpack_ext(2, loc, 23, 1));
	/* The encoder refuses what the decoder would refuse. */
	r.kind = 4;
	ck_assert_ptr_null(ac_msg_pack("r", r));
	r.kind = AC_REF_CORO;
	r.loc.family = 5;
	ck_assert_ptr_null(ac_msg_pack("r", r));
	a.family = 3;
	ck_assert_ptr_null(ac_msg_pack("l", &a));
	ck_assert_ptr_null(ac_msg_pack("l", (const ac_addr *)NULL));
}
END_TEST

/* ---- agreement with msgpack-c ----------------------------------------------------- */

static int sbuf_write(void *data, const char *buf, size_t len)
{
	return msgpack_sbuffer_write(data, buf, len);
}

/* msgpack-c encodes (including float32, which we never write); we decode. */
START_TEST(test_msgpack_c_to_us)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int64_t i;
	uint64_t u;
	double d, f;
	int b;
	char s[16];
	const void *p;
	size_t plen;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, sbuf_write);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str_with_body(&pk, "key", 3);
	msgpack_pack_array(&pk, 7);
	msgpack_pack_int64(&pk, INT64_MIN);
	msgpack_pack_uint64(&pk, UINT64_MAX);
	msgpack_pack_double(&pk, -0.5);
	msgpack_pack_float(&pk, 0.25f);
	msgpack_pack_true(&pk);
	msgpack_pack_str_with_body(&pk, "hello", 5);
	msgpack_pack_bin_with_body(&pk, "\0\1", 2);
	CK_OK(ac_unpack(sb.data, sb.size, "{s: [i u d d b s S]}", s, sizeof(s),
	                &i, &u, &d, &f, &b, s, sizeof(s), &p, &plen));
	ck_assert(i == INT64_MIN);
	ck_assert(u == UINT64_MAX);
	ck_assert(d == -0.5);
	ck_assert(f == 0.25);
	ck_assert_int_eq(b, 1);
	ck_assert_str_eq(s, "hello");
	ck_assert_uint_eq(plen, 2);
	ck_assert_int_eq(memcmp(p, "\0\1", 2), 0);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* We encode; msgpack-c decodes. */
START_TEST(test_us_to_msgpack_c)
{
	ac_ref r = ref_of(AC_REF_CORO, "1.2.3.4:5", 1, 2);
	msgpack_unpacked u;
	msgpack_object *o;
	void *out;
	size_t len, off = 0;

	CK_OK(ac_pack(&out, &len, "[i u d s S b n r]", (int64_t)-70000,
	              (uint64_t)1 << 40, 3.5, "str", "b\0n", (size_t)3, 0, r));
	msgpack_unpacked_init(&u);
	ck_assert_int_eq(msgpack_unpack_next(&u, out, len, &off),
	                 MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, len);
	ck_assert_int_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(u.data.via.array.size, 8);
	o = u.data.via.array.ptr;
	ck_assert_int_eq(o[0].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
	ck_assert(o[0].via.i64 == -70000);
	ck_assert_int_eq(o[1].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	ck_assert(o[1].via.u64 == (uint64_t)1 << 40);
	ck_assert_int_eq(o[2].type, MSGPACK_OBJECT_FLOAT64);
	ck_assert(o[2].via.f64 == 3.5);
	ck_assert_int_eq(o[3].type, MSGPACK_OBJECT_STR);
	ck_assert_int_eq(memcmp(o[3].via.str.ptr, "str", 3), 0);
	ck_assert_int_eq(o[4].type, MSGPACK_OBJECT_BIN);
	ck_assert_uint_eq(o[4].via.bin.size, 3);
	ck_assert_int_eq(o[5].type, MSGPACK_OBJECT_BOOLEAN);
	ck_assert(!o[5].via.boolean);
	ck_assert_int_eq(o[6].type, MSGPACK_OBJECT_NIL);
	ck_assert_int_eq(o[7].type, MSGPACK_OBJECT_EXT);
	ck_assert_int_eq(o[7].via.ext.type, 1);
	ck_assert_uint_eq(o[7].via.ext.size, 40);
	msgpack_unpacked_destroy(&u);
	free(out);
}
END_TEST

/* ---- hostile input ------------------------------------------------------------------ */

/* A payload with one of everything, and the format that reads it. */
#define RICH_FMT "{s:[n b i u d], s:S, s:r, s:l, s:{i:[s]}, s:[]}"

static void rich_pack(void **out, size_t *len)
{
	ac_ref r = ref_of(AC_REF_CORO, "[fe80::9]:77", 42, 43);
	ac_addr a = addr_of("127.0.0.1:9");
	CK_OK(ac_pack(out, len, RICH_FMT, "v", 1, (int64_t)-300,
	              (uint64_t)70000, 0.125, "b", "\0\1\2", (size_t)3, "r", r,
	              "l", &a, "m", (int64_t)-1, "deep", "e"));
}

/* Unpack the rich payload's first len bytes with its format. */
static int rich_unpack(const void *buf, size_t len)
{
	char s[16];
	int b;
	int64_t i;
	uint64_t u;
	double d;
	const void *p;
	size_t plen;
	ac_ref r;
	ac_addr a;
	return ac_unpack(buf, len, RICH_FMT, s, sizeof(s), &b, &i, &u, &d, s,
	                 sizeof(s), &p, &plen, s, sizeof(s), &r, s, sizeof(s), &a,
	                 s, sizeof(s), &i, s, sizeof(s), s, sizeof(s));
}

START_TEST(test_truncated_prefixes)
{
	void *out;
	size_t len, n;
	char text[256];

	rich_pack(&out, &len);
	CK_OK(rich_unpack(out, len));
	CK_OK(ac_unpack(out, len, "*"));
	for (n = 0; n < len; n++) {
		ac_msg *m = ac_msg_new(out, n);
		CK_RC(rich_unpack(out, n), -EBADMSG);
		CK_RC(ac_unpack(out, n, "*"), -EBADMSG);
		ck_assert_ptr_nonnull(m);
		ac_msg_repr(m, text, sizeof(text));
		ck_assert_msg(strncmp(text, "<raw ", 5) == 0, "prefix %zu: %s", n,
		              text);
		ac_msg_free(m);
	}
	free(out);
}
END_TEST

/* Every result must be one of the documented ones; a payload we accept must
 * be valid MessagePack for msgpack-c too. (We never hand msgpack-c a
 * payload we rejected: it may try huge allocations on lying counts.) */
static int fuzz_one(const uint8_t *buf, size_t n)
{
	char s[8], text[64];
	int64_t i;
	int rc = ac_unpack(buf, n, "*");
	int rc2 = ac_unpack(buf, n, "[i s]", &i, s, sizeof(s));
	ac_msg *m = ac_msg_new(buf, n);

	ck_assert(rc == 0 || rc == -EBADMSG);
	ck_assert(rc2 == 0 || rc2 == -EBADMSG || rc2 == -EMSGSIZE);
	if (rc2 == 0)
		ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(m);
	ac_msg_repr(m, text, sizeof(text));
	ck_assert_uint_lt(strlen(text), sizeof(text));
	ck_assert_int_eq(strncmp(text, "<raw ", 5) == 0, rc != 0);
	ac_msg_free(m);
	if (rc == 0) {
		msgpack_unpacked u;
		size_t off = 0;
		msgpack_unpacked_init(&u);
		ck_assert_int_eq(msgpack_unpack_next(&u, (const char *)buf, n, &off),
		                 MSGPACK_UNPACK_SUCCESS);
		ck_assert_uint_eq(off, n);
		msgpack_unpacked_destroy(&u);
	}
	return rc == 0;
}

/* Header bytes that make random input interesting (containers, lengths). */
static const uint8_t fuzz_heads[] = { 0x91, 0x92, 0x9f, 0x81, 0x8f, 0xdc, 0xdd,
                                      0xde, 0xdf, 0xc4, 0xd9, 0xdb, 0xc7, 0xd8,
                                      0xca, 0xcb, 0xcf, 0xd3, 0xc1, 0xa3 };

START_TEST(test_random_garbage)
{
	uint64_t seed = 0x5eed0001;
	uint8_t buf[48];
	int ok = 0, iter;

	for (iter = 0; iter < 10000; iter++) {
		size_t n = rng_next(&seed) % (sizeof(buf) + 1), k;
		for (k = 0; k < n; k++) {
			uint64_t x = rng_next(&seed);
			buf[k] = (x & 3) == 0
			                 ? fuzz_heads[(x >> 8) % sizeof(fuzz_heads)]
			                 : (uint8_t)(x >> 16);
		}
		ok += fuzz_one(buf, n);
	}
	/* Both outcomes happened. */
	ck_assert_int_gt(ok, 100);
	ck_assert_int_lt(ok, 9900);
}
END_TEST

START_TEST(test_mutated)
{
	uint64_t seed = 0x5eed0002;
	uint8_t buf[256];
	void *out;
	size_t len;
	int ok = 0, iter;

	rich_pack(&out, &len);
	ck_assert_uint_le(len, sizeof(buf));
	for (iter = 0; iter < 10000; iter++) {
		int flips = 1 + (int)(rng_next(&seed) % 3), k;
		size_t n = len;
		memcpy(buf, out, len);
		for (k = 0; k < flips; k++) {
			uint64_t x = rng_next(&seed);
			buf[(x >> 8) % len] = (x & 1) ? (uint8_t)(x >> 32)
			                              : fuzz_heads[(x >> 40) % sizeof(fuzz_heads)];
		}
		if (rng_next(&seed) % 4 == 0)
			n = rng_next(&seed) % len;
		ok += fuzz_one(buf, n);
		if (rich_unpack(buf, n) == 0)
			ck_assert_int_eq(n, len);
	}
	ck_assert_int_gt(ok, 0);
	ck_assert_int_lt(ok, 10000);
	free(out);
}
END_TEST

START_TEST(test_deep_and_lying)
{
	static const uint8_t lies[][5] = {
		{ 0xdd, 0xff, 0xff, 0xff, 0xff }, /* array of 4G elements */
		{ 0xdf, 0xff, 0xff, 0xff, 0xff }, /* map of 4G pairs */
		{ 0xdb, 0xff, 0xff, 0xff, 0xff }, /* str of 4 GiB */
		{ 0xc6, 0x7f, 0xff, 0xff, 0xff }, /* bin of 2 GiB */
		{ 0xc9, 0xff, 0xff, 0xff, 0xff }, /* ext of 4 GiB */
		{ 0x9f, 0xc0, 0xc0, 0xc0, 0xc0 }, /* 15 elements, 4 present */
		{ 0x83, 0xc0, 0xc0, 0xc0, 0xc0 }, /* 3 pairs, 2 present */
	};
	size_t big = 100000, k;
	uint8_t *deep = malloc(big + 1);
	char text[32];
	ac_msg *m;

	for (k = 0; k < sizeof(lies) / sizeof(lies[0]); k++)
		CK_RC(ac_unpack(lies[k], sizeof(lies[k]), "*"), -EBADMSG);
	ck_assert_ptr_nonnull(deep);
	memset(deep, 0x91, big);
	deep[AC_PACK_DEPTH_MAX] = 0xc0;
	CK_OK(ac_unpack(deep, AC_PACK_DEPTH_MAX + 1, "*"));
	memset(deep, 0x91, big);
	deep[AC_PACK_DEPTH_MAX + 1] = 0xc0;
	CK_RC(ac_unpack(deep, AC_PACK_DEPTH_MAX + 2, "*"), -EBADMSG);
	/* Maps nest the same way: {nil: {nil: ...}}. */
	for (k = 0; k + 2 <= big; k += 2) {
		deep[k] = 0x81;
		deep[k + 1] = 0xc0;
	}
	deep[2 * AC_PACK_DEPTH_MAX] = 0xc0;
	CK_OK(ac_unpack(deep, 2 * AC_PACK_DEPTH_MAX + 1, "*"));
	deep[2 * AC_PACK_DEPTH_MAX] = 0x81;
	deep[2 * AC_PACK_DEPTH_MAX + 2] = 0xc0;
	CK_RC(ac_unpack(deep, 2 * AC_PACK_DEPTH_MAX + 3, "*"), -EBADMSG);
	/* Very deep input ends early, without exhausting the C stack. */
	memset(deep, 0x91, big);
	deep[big] = 0xc0;
	CK_RC(ac_unpack(deep, big + 1, "*"), -EBADMSG);
	m = ac_msg_new(deep, big + 1);
	ac_msg_repr(m, text, sizeof(text));
	ck_assert_int_eq(strncmp(text, "<raw 100001 bytes \"", 19), 0);
	ac_msg_free(m);
	free(deep);
}
END_TEST

/* ---- ac_msg_repr --------------------------------------------------------------------- */

static void ck_repr(ac_msg *m, const char *want)
{
	char text[512];
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_eq(ac_msg_repr(m, text, sizeof(text)), text);
	ck_assert_str_eq(text, want);
	ac_msg_free(m);
}

START_TEST(test_repr_values)
{
	ac_ref r = ref_of(AC_REF_CORO, "10.1.2.3:5000", 9, 5 | (uint64_t)2 << 32);
	ac_addr a6 = addr_of("[::1]:80"), none;
	static const uint8_t ext5[] = { 0xd6, 5, 1, 2, 3, 4 };

	ac_addr_init(&none);
	ck_repr(ac_msg_pack("{s:[n,b,i,u,d], s:S, s:d}", "a", 1, (int64_t)-5,
	                    (uint64_t)7, 1.5, "b", "x\0y\xff", (size_t)4, "c", 2.0),
	        "{\"a\": [null, true, -5, 7, 1.5], \"b\": b\"x\\x00y\\xff\", "
	        "\"c\": 2.0}");
	ck_repr(ac_msg_pack("[r l l]", r, &a6, &none),
	        "[<ref coro/5.2@10.1.2.3:5000>, <loc [::1]:80>, <loc none>]");
	ck_repr(ac_msg_pack("r", ac_ref_null()), "<ref none/0.0@local>");
	ck_repr(ac_msg_pack("[d d d d d d]", 0.1, -0.0, 1e300, NAN, -INFINITY,
	                    1.0 / 3),
	        "[0.1, -0.0, 1e+300, NaN, -Infinity, 0.3333333333333333]");
	ck_repr(ac_msg_pack("[i i u]", INT64_MIN, INT64_MAX, UINT64_MAX),
	        "[-9223372036854775808, 9223372036854775807, "
	        "18446744073709551615]");
	ck_repr(ac_msg_pack("s", "q\"b\\s\n\t\x01 h\xc3\xa9"),
	        "\"q\\\"b\\\\s\\n\\t\\u0001 h\xc3\xa9\"");
	ck_repr(ac_msg_pack("[[] {} [[]]]"), "[[], {}, [[]]]");
	ck_repr(ac_msg_new(ext5, sizeof(ext5)), "<ext 5, 4 bytes>");
	/* Not one MessagePack value: shown raw. */
	ck_repr(ac_msg_str("hello"), "<raw 5 bytes \"hello\">");
	ck_repr(ac_msg_new("", 0), "<raw 0 bytes \"\">");
	ck_repr(ac_msg_new("\xc1\x80\n", 3), "<raw 3 bytes \"\\xc1\\x80\\n\">");
}
END_TEST

START_TEST(test_repr_truncation)
{
	ac_msg *m = ac_msg_pack("{s: [i i i], s: s}", "key", (int64_t)1,
	                        (int64_t)22, (int64_t)333, "other", "a long value");
	char full[256], text[256];
	size_t n, flen;

	ck_assert_ptr_nonnull(m);
	ac_msg_repr(m, full, sizeof(full));
	ck_assert_str_eq(full, "{\"key\": [1, 22, 333], \"other\": \"a long value\"}");
	flen = strlen(full);
	memset(text, 'Z', sizeof(text));
	ck_assert_ptr_eq(ac_msg_repr(m, text, 0), text);
	ck_assert_int_eq(text[0], 'Z');
	ck_assert_ptr_null(ac_msg_repr(m, NULL, 10));
	for (n = 1; n <= flen + 1; n++) {
		memset(text, 'Z', sizeof(text));
		ac_msg_repr(m, text, n);
		ck_assert_uint_lt(strlen(text), n);
		ck_assert_int_eq(text[n], 'Z'); /* nothing written past buf */
		if (n == flen + 1) {
			ck_assert_str_eq(text, full);
		} else if (n >= 4) {
			ck_assert_uint_eq(strlen(text), n - 1);
			ck_assert_int_eq(strncmp(text, full, n - 4), 0);
			ck_assert_str_eq(text + n - 4, "...");
		}
	}
	ck_assert_str_eq(ac_msg_repr(NULL, text, sizeof(text)), "<null>");
	ac_msg_free(m);
}
END_TEST

/* ---- the wire's hot path (engine/pack.c, compiled into this program) ------- */

/* Unsigned integers at every boundary of the MessagePack forms. */
static const uint64_t wire_uints[] = {
	0, 1, 127, 128, 255, 256, 65535, 65536, 0x7fffffffu, 0xffffffffu,
	0x100000000ULL, UINT64_MAX - 1, UINT64_MAX,
};

/* ac__pack_uint writes what ac_pack writes for "u" (the shortest form),
 * ac_unpack and ac__unpack_uint read it back, and every shorter prefix is
 * refused. */
START_TEST(test_wire_uint)
{
	size_t i;
	for (i = 0; i < sizeof(wire_uints) / sizeof(wire_uints[0]); i++) {
		uint64_t v = wire_uints[i], got = 0;
		uint8_t buf[AC__PACK_UINT_MAX + 1];
		ac_msg *want = ac_msg_pack("u", v);
		size_t n = ac__pack_uint(buf, v), k;
		ck_assert_uint_le(n, AC__PACK_UINT_MAX);
		CK_OK(ac_unpack(buf, n, "u", &got));
		ck_assert_msg(got == v, "%" PRIu64 " came back as %" PRIu64, v, got);
		ck_bytes(want, buf, n);
		ac_msg_free(want);
		got = ~v;
		ck_assert_uint_eq(ac__unpack_uint(buf, n, &got), n);
		ck_assert(got == v);
		for (k = 0; k < n; k++)
			ck_assert_uint_eq(ac__unpack_uint(buf, k, &got), 0);
	}
	/* not unsigned integers: a negative fixint, int 8, nil, a str */
	ck_assert_uint_eq(ac__unpack_uint((const uint8_t *)"\xff", 1, &(uint64_t){0}), 0);
	ck_assert_uint_eq(ac__unpack_uint((const uint8_t *)"\xd0\x01", 2, &(uint64_t){0}), 0);
	ck_assert_uint_eq(ac__unpack_uint((const uint8_t *)"\xc0", 1, &(uint64_t){0}), 0);
	ck_assert_uint_eq(ac__unpack_uint((const uint8_t *)"\xa1x", 2, &(uint64_t){0}), 0);
}
END_TEST

/* bin headers of every size class, read back by ac_unpack "S". */
START_TEST(test_wire_bin)
{
	static const size_t lens[] = {0, 1, 255, 256, 65535, 65536, 70000};
	uint8_t *buf = malloc(AC__PACK_BIN_HDR_MAX + 70000);
	size_t i;
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = ac__pack_bin_hdr(buf, lens[i]), got = 0, k;
		const void *p = NULL;
		ac_msg *want;
		memset(buf + n, 'b', lens[i]);
		want = ac_msg_pack("S", buf + n, lens[i]);
		ck_bytes(want, buf, n + lens[i]);
		ac_msg_free(want);
		CK_OK(ac_unpack(buf, n + lens[i], "S", &p, &got));
		ck_assert_uint_eq(got, lens[i]);
		ck_assert_ptr_eq(p, buf + n);
		ck_assert_uint_eq(ac__unpack_bin_hdr(buf, n, &got), n);
		ck_assert_uint_eq(got, lens[i]);
		for (k = 0; k < n; k++)
			ck_assert_uint_eq(ac__unpack_bin_hdr(buf, k, &got), 0);
	}
	ck_assert_uint_eq(ac__unpack_bin_hdr((const uint8_t *)"\xa1x", 2, &(size_t){0}), 0);
	free(buf);
}
END_TEST

/* A remote message body [to kind aux from payload]: the same bytes as
 * ac_pack "[r u u r S]", decoded back; other valid encodings decode too;
 * broken ones are refused. */
START_TEST(test_wire_send)
{
	ac_ref to = ref_of(AC_REF_CORO, "10.0.0.1:9000", 7, 70000);
	ac_ref from = ref_of(AC_REF_CORO, "[fe80::1]:51234", 0x123456789aULL, 1);
	static const uint16_t vals[] = {0, 2, 127, 128, 255, 256, 65535};
	uint8_t *buf = malloc(AC__PACK_SEND_MAX + 300);
	size_t i;
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		ac_msg *m = ac_msg_alloc(i * 40);
		void *want;
		size_t wlen, n, dlen = 0;
		ac_ref t2, f2;
		uint64_t kind = 0, aux = 0;
		const void *data = NULL;
		ck_assert_ptr_nonnull(m);
		memset(ac_msg_wdata(m), 'p', ac_msg_len(m));
		m->m_kind = vals[i];
		m->m_aux = vals[sizeof(vals) / sizeof(vals[0]) - 1 - i];
		m->m_from = from;
		n = ac__pack_send(buf, &to, m);
		ck_assert_uint_le(n, AC__PACK_SEND_MAX + ac_msg_len(m));
		CK_OK(ac_pack(&want, &wlen, "[r u u r S]", to, (uint64_t)m->m_kind,
		              (uint64_t)m->m_aux, from, ac_msg_data(m), ac_msg_len(m)));
		ck_assert_uint_eq(n, wlen);
		ck_assert_int_eq(memcmp(buf, want, n), 0);
		free(want);
		CK_OK(ac__unpack_send(buf, n, &t2, &kind, &aux, &f2, &data, &dlen));
		ck_assert(ac_ref_eq(t2, to) && ac_ref_eq(f2, from));
		ck_assert(kind == m->m_kind && aux == m->m_aux);
		ck_assert_uint_eq(dlen, ac_msg_len(m));
		ck_assert_ptr_eq(data, buf + n - dlen);
		/* one byte short, one byte more: refused */
		CK_RC(ac__unpack_send(buf, n - 1, &t2, &kind, &aux, &f2, &data, &dlen),
		      -EBADMSG);
		CK_RC(ac__unpack_send(buf, n + 1, &t2, &kind, &aux, &f2, &data, &dlen),
		      -EBADMSG);
		ac_msg_free(m);
	}
	free(buf);
}
END_TEST

/* Encodings ac__pack_send does not write (a str payload, a kind as int 8)
 * still decode, through ac_unpack; the wrong shape does not. */
START_TEST(test_wire_send_other)
{
	ac_ref to = ref_of(AC_REF_CORO, "10.0.0.1:9000", 7, 1), t2, f2;
	void *b;
	size_t len, dlen = 0, k;
	uint64_t kind = 9, aux = 9;
	const void *data = NULL;
	uint8_t *p;
	CK_OK(ac_pack(&b, &len, "[r u u r s]", to, (uint64_t)1, (uint64_t)300,
	                ac_ref_null(), "hello"));
	CK_OK(ac__unpack_send(b, len, &t2, &kind, &aux, &f2, &data, &dlen));
	ck_assert(kind == 1 && aux == 300 && dlen == 5);
	ck_assert_int_eq(memcmp(data, "hello", 5), 0);
	free(b);
	CK_OK(ac_pack(&b, &len, "[r u u r S]", to, (uint64_t)2, (uint64_t)0,
	                ac_ref_null(), "x", (size_t)1));
	p = b;
	k = 1 + AC__PACK_REF_MAX;
	ck_assert_int_eq(p[k], 2);
	p[k] = 0x00; /* kind 0 written as a positive fixint: still the fast path */
	CK_OK(ac__unpack_send(b, len, &t2, &kind, &aux, &f2, &data, &dlen));
	ck_assert(kind == 0 && aux == 0 && dlen == 1);
	free(b);
	CK_OK(ac_pack(&b, &len, "[r i u r S]", to, (int64_t)-1, (uint64_t)0,
	                ac_ref_null(), "x", (size_t)1));
	CK_RC(ac__unpack_send(b, len, &t2, &kind, &aux, &f2, &data, &dlen), -EBADMSG);
	free(b);
	CK_OK(ac_pack(&b, &len, "[r u u r S n]", to, (uint64_t)0, (uint64_t)0,
	                ac_ref_null(), "x", (size_t)1));
	CK_RC(ac__unpack_send(b, len, &t2, &kind, &aux, &f2, &data, &dlen), -EBADMSG);
	free(b);
	CK_RC(ac__unpack_send(NULL, 0, &t2, &kind, &aux, &f2, &data, &dlen), -EBADMSG);
}
END_TEST

/* The FILE_DATA header: [xfer offset bytes] with the chunk right behind. */
START_TEST(test_wire_chunk_hdr)
{
	uint8_t buf[AC__PACK_CHUNK_HDR + 3];
	uint64_t xfer = 0, off = 0;
	const void *data = NULL;
	size_t dlen = 0;
	ac__pack_chunk_hdr(buf, 0xfffffffeu, 0x123456789abcdefULL, 3);
	memcpy(buf + AC__PACK_CHUNK_HDR, "abc", 3);
	CK_OK(ac_unpack(buf, sizeof(buf), "[u u S]", &xfer, &off, &data, &dlen));
	ck_assert(xfer == 0xfffffffeu && off == 0x123456789abcdefULL);
	ck_assert_uint_eq(dlen, 3);
	ck_assert_ptr_eq(data, buf + AC__PACK_CHUNK_HDR);
	CK_RC(ac_unpack(buf, sizeof(buf) - 1, "[u u S]", &xfer, &off, &data, &dlen),
	        -EBADMSG);
}
END_TEST

/* ---- the suite ----------------------------------------------------------------------- */

static Suite *pack_suite(void)
{
	Suite *s = suite_create("pack");
	TCase *tc = tcase_create("values");
	TCase *th = tcase_create("hostile");
	TCase *tw = tcase_create("wire");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_nil_bool);
	tcase_add_test(tc, test_int_limits);
	tcase_add_test(tc, test_uint_limits);
	tcase_add_test(tc, test_int_other_encodings);
	tcase_add_test(tc, test_doubles);
	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_binary);
	tcase_add_test(tc, test_nested);
	tcase_add_test(tc, test_map_pairs_in_order);
	tcase_add_test(tc, test_mismatch);
	tcase_add_test(tc, test_bad_formats);
	tcase_add_test(tc, test_ac_pack_raw);
	tcase_add_test(tc, test_refs_locations);
	tcase_add_test(tc, test_ext_layout);
	tcase_add_test(tc, test_bad_ext);
	tcase_add_test(tc, test_msgpack_c_to_us);
	tcase_add_test(tc, test_us_to_msgpack_c);
	tcase_add_test(tc, test_repr_values);
	tcase_add_test(tc, test_repr_truncation);
	suite_add_tcase(s, tc);
	tcase_set_timeout(th, 120);
	tcase_add_test(th, test_truncated_prefixes);
	tcase_add_test(th, test_random_garbage);
	tcase_add_test(th, test_mutated);
	tcase_add_test(th, test_deep_and_lying);
	suite_add_tcase(s, th);
	tcase_set_timeout(tw, 30);
	tcase_add_test(tw, test_wire_uint);
	tcase_add_test(tw, test_wire_bin);
	tcase_add_test(tw, test_wire_send);
	tcase_add_test(tw, test_wire_send_other);
	tcase_add_test(tw, test_wire_chunk_hdr);
	suite_add_tcase(s, tw);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pack_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
