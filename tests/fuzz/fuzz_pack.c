/* tests/fuzz/fuzz_pack.c: fuzz target of the MessagePack decoders a peer
 * reaches (engine/pack.c): ac_unpack against every body format of
 * doc/protocol.md, the '*' skipper, ac_msg_repr (the generic walker that
 * renders any payload for logs), and the wire's hot-path reader
 * ac__unpack_send with its helpers. Besides surviving any bytes, each
 * input is held to properties:
 *  - ac__unpack_send and the general decoder ("[r u u r S]") agree on
 *    every input, in the result and in every value;
 *  - what a format accepts is one valid value: "*" accepts it too, and
 *    ac_msg_repr does not show it as <raw ...>;
 *  - a decoded value re-encodes (ac_pack) to bytes that decode to the same
 *    values (for the formats with scalars, strings, refs and locations).
 * The decoders are internal (hidden in the library): this target compiles
 * engine/pack.c itself (and io/io_assert.c), as tests/check_pack does,
 * with a stand-in for the one other internal it calls.
 */
#include "config.h"

#include <string.h>

#include "engine/engine.h"
#include "tests/fuzz/fuzz.h"

/* Stand-in for the library's internal allocator of messages. */
ac_msg *ac__msg_alloc(size_t len)
{
	return ac_msg_alloc(len);
}

/* Every body format of the protocol (doc/protocol.md), and a few more. */
static const char *const pack_fmts[] = {
	"[u u S s l u u u]",   /* HELLO */
	"[u u S s l u u u S]", /* HELLO_ACK */
	"[S]",                 /* AUTH */
	"[s]",                 /* REFUSE */
	"[r u u r S]",         /* SEND, DELIVER */
	"[i]",                 /* replies */
	"[u s]",               /* LOCATE */
	"[i r]",               /* LOCATE reply, RCI_CALL reply */
	"[r r]",               /* MONITOR, TERMINATE */
	"[r i]",               /* FINISH */
	"[i [u u r S]]",       /* FINISH reply */
	"[u r r [u u r S] i i]", /* CHAN */
	"[r [u u r S]]",       /* RCI_CALL */
	"[s * u i u b]",       /* FILE_BEGIN (dir: str or nil) */
	"[i u u i u]",         /* FILE_BEGIN reply */
	"[u u S]",             /* FILE_DATA */
	"[u]",                 /* FILE_END */
	"[s *]",               /* DEL_FILE */
	"[u u s l u u b]",     /* ANNOUNCE */
	"[r u u r S]",         /* EXIT */
	"{s i s [d n]}",
	"[[[[[[[[*]]]]]]]]",
	"d",
	"*",
};

static void pack_send_agree(const uint8_t *p, size_t n)
{
	ac_ref to1, from1, to2, from2;
	uint64_t k1, a1, k2, a2;
	const void *d1, *d2;
	size_t l1, l2;
	int r1 = ac__unpack_send(p, n, &to1, &k1, &a1, &from1, &d1, &l1);
	int r2 = ac_unpack(p, n, "[r u u r S]", &to2, &k2, &a2, &from2, &d2,
	                   &l2);
	fz_check((r1 == 0) == (r2 == 0));
	if (r1 != 0)
		return;
	fz_check(ac_ref_eq(to1, to2) && ac_ref_eq(from1, from2));
	fz_check(k1 == k2 && a1 == a2 && d1 == d2 && l1 == l2);
	fz_check((const uint8_t *)d1 >= p && l1 <= n &&
	         (const uint8_t *)d1 + l1 <= p + n);
}

/* A decoded location is canonical: ac_pack accepts it and gives back the
 * same address. */
static void pack_loc_round(const ac_addr *a)
{
	void *b;
	size_t len;
	ac_addr back;
	fz_check(ac_pack(&b, &len, "l", a) == 0);
	fz_check(ac_unpack(b, len, "l", &back) == 0);
	fz_check(memcmp(&back, a, sizeof(back)) == 0);
	free(b);
}

/* HELLO's format: decode, re-encode, decode again. */
static int pack_hello(const uint8_t *p, size_t n)
{
	const char *fmt = "[u u S s l u u u]";
	uint64_t u[8];
	const void *S;
	size_t Sl, len;
	char s[64];
	ac_addr l;
	void *b;
	int rc = ac_unpack(p, n, fmt, &u[0], &u[1], &S, &Sl, s, sizeof(s), &l, &u[2],
	                   &u[3], &u[4]);
	if (rc != 0)
		return rc;
	fz_check(ac_pack(&b, &len, fmt, u[0], u[1], S, Sl, s, &l, u[2], u[3], u[4]) == 0);
	fz_check(ac_unpack(b, len, "[u u * s l u u u]", &u[5], &u[6], s, sizeof(s), &l,
	                   &u[7], &u[3], &u[4]) == 0);
	fz_check(u[5] == u[0] && u[6] == u[1] && u[7] == u[2]);
	free(b);
	pack_loc_round(&l);
	return 0;
}

/* Decode with one format into scratch outputs (re-encoding some): the
 * result, or -1 for a format not handled here. */
static int pack_try(const char *fmt, const uint8_t *p, size_t n)
{
	uint64_t u[8];
	int64_t i64[4];
	ac_ref r[4];
	ac_addr l;
	const void *S[2];
	size_t Sl[2];
	char s[64];
	int rc;
	if (!strcmp(fmt, "[u u S s l u u u]"))
		return pack_hello(p, n);
	if (!strcmp(fmt, "[r u u r S]"))
		return ac_unpack(p, n, fmt, &r[0], &u[0], &u[1], &r[1], &S[0],
		                 &Sl[0]);
	if (!strcmp(fmt, "[u s]"))
		return ac_unpack(p, n, fmt, &u[0], s, sizeof(s));
	if (!strcmp(fmt, "[i r]")) {
		rc = ac_unpack(p, n, fmt, &i64[0], &r[0]);
		if (rc == 0) {
			void *b;
			size_t len;
			fz_check(ac_pack(&b, &len, fmt, i64[0], r[0]) == 0);
			fz_check(ac_unpack(b, len, fmt, &i64[1], &r[1]) == 0);
			fz_check(i64[1] == i64[0] && ac_ref_eq(r[0], r[1]) &&
			         memcmp(&r[0], &r[1], sizeof(r[0])) == 0);
			free(b);
		}
		return rc;
	}
	if (!strcmp(fmt, "[r r]"))
		return ac_unpack(p, n, fmt, &r[0], &r[1]);
	if (!strcmp(fmt, "[u r r [u u r S] i i]"))
		return ac_unpack(p, n, fmt, &u[0], &r[0], &r[1], &u[1], &u[2],
		                 &r[2], &S[0], &Sl[0], &i64[0], &i64[1]);
	if (!strcmp(fmt, "[s * u i u b]")) {
		int b;
		return ac_unpack(p, n, fmt, s, sizeof(s), &u[0], &i64[0], &u[1],
		                 &b);
	}
	if (!strcmp(fmt, "[u u s l u u b]")) {
		int b;
		rc = ac_unpack(p, n, fmt, &u[0], &u[1], s, sizeof(s), &l, &u[2],
		               &u[3], &b);
		if (rc == 0) {
			fz_check(b == 0 || b == 1);
			fz_check(strlen(s) < sizeof(s));
			pack_loc_round(&l);
		}
		return rc;
	}
	if (!strcmp(fmt, "d")) {
		double d;
		return ac_unpack(p, n, fmt, &d);
	}
	return -1; /* not decoded here; see pack_fuzz_fmt */
}

/* Formats pack_try does not know: decode with generic outputs through
 * '*', which is exactly as strict about validity as any letter. */
static int pack_generic(const char *fmt, const uint8_t *p, size_t n)
{
	char f[64];
	size_t i, k = 0;
	/* Replace every letter by '*': the shape is still checked. */
	for (i = 0; fmt[i] && k + 1 < sizeof(f); i++)
		f[k++] = (fmt[i] >= 'a' && fmt[i] <= 'z') || (fmt[i] >= 'A' && fmt[i] <= 'Z')
		                 ? '*'
		                 : fmt[i];
	f[k] = '\0';
	return ac_unpack(p, n, f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i, nf = sizeof(pack_fmts) / sizeof(pack_fmts[0]);
	int valid = ac_unpack(data, size, "*") == 0;
	char text[256];
	ac_msg *m;
	pack_send_agree(data, size);
	for (i = 0; i < nf; i++) {
		int rc = pack_try(pack_fmts[i], data, size);
		if (rc == -1)
			rc = pack_generic(pack_fmts[i], data, size);
		/* Anything a format accepts is one valid value. */
		if (rc == 0)
			fz_check(valid);
	}
	m = ac_msg_new(data, size);
	if (m) {
		ac_msg_repr(m, text, sizeof(text));
		fz_check(strlen(text) < sizeof(text));
		if (valid)
			fz_check(strncmp(text, "<raw ", 5) != 0);
		ac_msg_free(m);
	}
	return 0;
}
