/* tests/check_tls_rec.c: our TLS 1.3 application-data record layer
 * (net/tls_rec.c) against stock OpenSSL on the other end of a BIO pair.
 * A real TLS 1.3 handshake runs between two SSL objects (a self-signed EC
 * certificate made at run time); the client's traffic secrets come from
 * the key log callback, and from then on the client side is our layer:
 * our records are read by the server's SSL_read, the server's SSL_write
 * records are opened by our layer — each suite we support, with and
 * without the server padding its records, many records of sizes 0..16384
 * (a sequence number out of step would not authenticate), records given
 * in pieces; a flipped bit anywhere in a record fails (both ways), a
 * replayed record fails; close_notify both ways and another alert reach
 * the caller as their content types; KeyUpdates both ways (ours every 3
 * records by the test hook, the server's SSL_key_update with and without
 * update_requested) move the keys exactly, malformed KeyUpdates and other
 * handshake messages are refused; oversized, short,
 * plaintext records and used-up sequence numbers are refused, and a
 * failed direction stays failed. The layer is internal (hidden in the
 * library), so this program compiles net/tls_rec.c itself.
 */
#include "tests/testutil.h"

#include "net/tls_rec.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* Both ends of one session; the client's secrets (0: client's, 1:
 * server's) once the handshake is done; rec: our layer as the client. */
static struct pair {
	SSL_CTX *cctx, *sctx;
	SSL *c, *s;
	BIO *cb; /* the client's end: we write our records and read the server's here */
	uint8_t sec[2][AC_TLS_SECRET_MAX];
	size_t seclen[2];
	unsigned suite;
	ac__tls_rec rec;
} P;

static uint8_t rbuf[4 * AC_TLS_REC_CMAX];
static uint8_t pbuf[AC_TLS_REC_MAX + 1];

static void keylog(const SSL *ssl, const char *line)
{
	static const char *const lab[2] = {"CLIENT_TRAFFIC_SECRET_0 ",
	                                   "SERVER_TRAFFIC_SECRET_0 "};
	const char *hex = strrchr(line, ' ') + 1;
	size_t k, i, n = strlen(hex) / 2;
	(void)ssl;
	for (k = 0; k < 2; k++) {
		if (strncmp(line, lab[k], strlen(lab[k])) != 0)
			continue;
		ck_assert_uint_le(n, AC_TLS_SECRET_MAX);
		for (i = 0; i < n; i++) {
			unsigned v;
			ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
			P.sec[k][i] = (uint8_t)v;
		}
		P.seclen[k] = n;
	}
}

/* A self-signed certificate and its key into ctx. */
static void selfsigned(SSL_CTX *ctx)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_nonnull(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"rec", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	ck_assert_int_gt(X509_sign(x, k, EVP_sha256()), 0);
	ck_assert_int_eq(SSL_CTX_use_certificate(ctx, x), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, k), 1);
	X509_free(x);
	EVP_PKEY_free(k);
}

static SSL_CTX *ctx13(const SSL_METHOD *m, const char *suites)
{
	SSL_CTX *ctx = SSL_CTX_new(m);
	ck_assert_ptr_nonnull(ctx);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	ck_assert_int_eq(SSL_CTX_set_ciphersuites(ctx, suites), 1);
	SSL_CTX_set_num_tickets(ctx, 0);
	return ctx;
}

/* A handshake over a BIO pair with the suite (IANA number) whose name is
 * suites, the server padding its records to pad bytes (0: none); then our
 * layer as the client. */
static void pair_open(const char *suites, unsigned suite, size_t pad)
{
	BIO *sb;
	int i, rc = 0;
	memset(&P, 0, sizeof(P));
	P.cctx = ctx13(TLS_client_method(), suites);
	P.sctx = ctx13(TLS_server_method(), suites);
	selfsigned(P.sctx);
	SSL_CTX_set_keylog_callback(P.cctx, keylog);
	P.c = SSL_new(P.cctx);
	P.s = SSL_new(P.sctx);
	ck_assert_int_eq(BIO_new_bio_pair(&P.cb, 1 << 20, &sb, 1 << 20), 1);
	SSL_set_bio(P.c, P.cb, P.cb);
	SSL_set_bio(P.s, sb, sb);
	if (pad)
		ck_assert_int_eq(SSL_set_block_padding(P.s, pad), 1);
	SSL_set_connect_state(P.c);
	SSL_set_accept_state(P.s);
	for (i = 0; i < 10 && rc != 2; i++)
		rc = (SSL_do_handshake(P.c) == 1) + (SSL_do_handshake(P.s) == 1);
	ck_assert_int_eq(rc, 2);
	ck_assert_uint_eq(SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(P.c)), suite);
	ck_assert_uint_eq(BIO_ctrl_pending(P.cb), 0); /* nothing after the handshake */
	P.suite = suite;
	CK_OK(ac__tls_rec_init(&P.rec, suite, P.sec[0], P.sec[1], P.seclen[0]));
}

static void pair_close(void)
{
	ac__tls_rec_fini(&P.rec);
	SSL_free(P.c);
	SSL_free(P.s);
	SSL_CTX_free(P.cctx);
	SSL_CTX_free(P.sctx);
	ERR_clear_error();
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	size_t i;
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

/* Seal one record of ours (in place or not) and hand it to the server. */
static void ours_send(uint8_t type, const uint8_t *in, size_t len, int inplace)
{
	ssize_t n;
	if (inplace) {
		memcpy(rbuf + AC_TLS_REC_HDR, in, len);
		in = rbuf + AC_TLS_REC_HDR;
	}
	n = ac__tls_rec_seal(&P.rec, type, in, len, rbuf);
	ck_assert_int_eq(n, (ssize_t)(len + AC_TLS_REC_OVER));
	ck_assert_int_eq(BIO_write(P.cb, rbuf, (int)n), (int)n);
}

/* Exactly len bytes from the server's SSL_read, compared with want. */
static void stock_read(const uint8_t *want, size_t len)
{
	static uint8_t got[AC_TLS_REC_MAX];
	size_t have = 0;
	while (have < len) {
		int r = SSL_read(P.s, got + have, (int)(len - have));
		ck_assert_msg(r > 0, "SSL_read: %d (error %d)", r, SSL_get_error(P.s, r));
		have += (size_t)r;
	}
	ck_assert_mem_eq(got, want, len);
}

/* The server's records waiting for us, into rbuf: their bytes. */
static size_t stock_take(void)
{
	int n = BIO_read(P.cb, rbuf, (int)sizeof(rbuf));
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(BIO_ctrl_pending(P.cb), 0);
	return (size_t)n;
}

/* Open the one record at rbuf[0..n) (given in two pieces first): its type
 * and content length; content at rbuf + AC_TLS_REC_HDR. */
static int ours_open(size_t n, uint8_t *type, size_t *len)
{
	char why[128] = "";
	size_t used;
	int rc = ac__tls_rec_open(&P.rec, rbuf, 3, &used, type, len, why, sizeof(why));
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(used, AC_TLS_REC_HDR);
	rc = ac__tls_rec_open(&P.rec, rbuf, n - 1, &used, type, len, why, sizeof(why));
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(used, n);
	rc = ac__tls_rec_open(&P.rec, rbuf, n, &used, type, len, why, sizeof(why));
	if (rc == 1)
		ck_assert_uint_eq(used, n);
	return rc;
}

static const struct suite_case {
	const char *name;
	unsigned id;
	size_t pad;
} SUITES[] = {
	{"TLS_AES_128_GCM_SHA256", 0x1301, 0},
	{"TLS_AES_256_GCM_SHA384", 0x1302, 0},
	{"TLS_AES_128_GCM_SHA256", 0x1301, 256},
	{"TLS_AES_256_GCM_SHA384", 0x1302, 4096},
};
#define NSUITES (int)(sizeof(SUITES) / sizeof(SUITES[0]))

/* The sizes of the many-records tests: 0..300, then coarser to 16384. */
static size_t size_at(int i)
{
	return i <= 300 ? (size_t)i : i < 400 ? (size_t)(i - 300) * 160 + 300
	                                      : (size_t)16384 - (size_t)(i - 400);
}
#define NSIZES 404

START_TEST(test_ours_to_stock)
{
	int i;
	pair_open(SUITES[_i].name, SUITES[_i].id, SUITES[_i].pad);
	for (i = 0; i < NSIZES; i++) {
		size_t len = size_at(i);
		ck_assert_uint_le(len, AC_TLS_REC_MAX);
		fill(pbuf, len, (unsigned)i);
		ours_send(AC_TLS_CT_APPDATA, pbuf, len, i % 2);
		if (len > 0)
			stock_read(pbuf, len);
	}
	ck_assert_uint_eq(P.rec.r_w.d_seq, NSIZES);
	/* A close_notify of ours ends the server's stream. */
	ours_send(AC_TLS_CT_ALERT, (const uint8_t *)"\1\0", 2, 0);
	i = SSL_read(P.s, pbuf, 16);
	ck_assert_int_le(i, 0);
	ck_assert_int_eq(SSL_get_error(P.s, i), SSL_ERROR_ZERO_RETURN);
	pair_close();
}
END_TEST

START_TEST(test_stock_to_ours)
{
	uint8_t type;
	size_t len;
	int i;
	pair_open(SUITES[_i].name, SUITES[_i].id, SUITES[_i].pad);
	for (i = 1; i < NSIZES; i++) { /* OpenSSL sends no empty record */
		size_t want = size_at(i), n;
		fill(pbuf, want, (unsigned)i);
		ck_assert_int_eq(SSL_write(P.s, pbuf, (int)want), (int)want);
		n = stock_take();
		ck_assert_int_eq(ours_open(n, &type, &len), 1);
		ck_assert_uint_eq(type, AC_TLS_CT_APPDATA);
		ck_assert_uint_eq(len, want);
		ck_assert_mem_eq(rbuf + AC_TLS_REC_HDR, pbuf, want);
	}
	ck_assert_uint_eq(P.rec.r_r.d_seq, NSIZES - 1);
	/* The server's close_notify. */
	ck_assert_int_eq(SSL_shutdown(P.s), 0);
	ck_assert_int_eq(ours_open(stock_take(), &type, &len), 1);
	ck_assert_uint_eq(type, AC_TLS_CT_ALERT);
	ck_assert_uint_eq(len, 2);
	ck_assert_uint_eq(rbuf[AC_TLS_REC_HDR + 1], 0); /* close_notify */
	pair_close();
}
END_TEST

/* A flipped bit in a server's record (_i: which byte, over header, body
 * and tag) fails; the direction stays failed after. */
START_TEST(test_flip_stock)
{
	char why[128] = "";
	uint8_t type;
	size_t len, used, n, at;
	int rc;
	pair_open("TLS_AES_128_GCM_SHA256", 0x1301, 0);
	fill(pbuf, 100, 1);
	ck_assert_int_eq(SSL_write(P.s, pbuf, 100), 100);
	n = stock_take();
	ck_assert_uint_eq(n, 100 + AC_TLS_REC_OVER);
	at = _i < 5 ? (size_t)_i : 5 + (size_t)(_i - 5) * 13 % (n - 5);
	rbuf[at] ^= (uint8_t)(1u << (_i % 8));
	rc = ac__tls_rec_open(&P.rec, rbuf, n, &used, &type, &len, why, sizeof(why));
	if (rc == 0) {
		/* A longer length: given the bytes it asks for, it fails. */
		ck_assert_uint_le(at, 4);
		ck_assert_uint_gt(used, n);
		memset(rbuf + n, 0, used - n);
		rc = ac__tls_rec_open(&P.rec, rbuf, used, &used, &type, &len, why,
		                      sizeof(why));
	}
	ck_assert_msg(rc < 0, "byte %zu flipped, opened: %d", at, rc);
	ck_assert(why[0] != '\0');
	ck_assert_int_lt(ac__tls_rec_open(&P.rec, rbuf, n, &used, &type, &len, why,
	                                  sizeof(why)), 0);
	pair_close();
}
END_TEST

/* A flipped bit in one of our records: the server's SSL_read fails and it
 * sends an alert (bad_record_mac), which our layer opens as one. */
START_TEST(test_flip_ours)
{
	uint8_t type;
	size_t len, n;
	int r;
	pair_open("TLS_AES_256_GCM_SHA384", 0x1302, 0);
	fill(pbuf, 64, 2);
	n = (size_t)ac__tls_rec_seal(&P.rec, AC_TLS_CT_APPDATA, pbuf, 64, rbuf);
	rbuf[AC_TLS_REC_HDR + (size_t)_i * 7 % (n - AC_TLS_REC_HDR)] ^= 0x40;
	ck_assert_int_eq(BIO_write(P.cb, rbuf, (int)n), (int)n);
	r = SSL_read(P.s, pbuf, 64);
	ck_assert_int_le(r, 0);
	ck_assert_int_eq(SSL_get_error(P.s, r), SSL_ERROR_SSL);
	ck_assert_int_eq(ours_open(stock_take(), &type, &len), 1);
	ck_assert_uint_eq(type, AC_TLS_CT_ALERT);
	ck_assert_uint_eq(len, 2);
	ck_assert_uint_eq(rbuf[AC_TLS_REC_HDR], 2);      /* fatal */
	ck_assert_uint_eq(rbuf[AC_TLS_REC_HDR + 1], 20); /* bad_record_mac */
	pair_close();
}
END_TEST

/* The same record twice: the second is out of sequence. */
START_TEST(test_replay)
{
	static uint8_t copy[sizeof(rbuf)];
	char why[128];
	uint8_t type;
	size_t len, used, n;
	pair_open("TLS_AES_128_GCM_SHA256", 0x1301, 0);
	ck_assert_int_eq(SSL_write(P.s, "hello", 5), 5);
	n = stock_take();
	memcpy(copy, rbuf, n);
	ck_assert_int_eq(ours_open(n, &type, &len), 1);
	memcpy(rbuf, copy, n);
	ck_assert_int_eq(ac__tls_rec_open(&P.rec, rbuf, n, &used, &type, &len, why,
	                                  sizeof(why)), -EBADMSG);
	pair_close();
}
END_TEST

/* Our sender with a KeyUpdate every 3 records (the test hook, _i: the
 * suite): 50 records of many sizes across 16 updates, each read in order
 * by the server's SSL_read (a wrong next key would not authenticate);
 * then the server's records still open (our read key did not move). */
START_TEST(test_update_ours)
{
	uint8_t type;
	size_t len, want, n;
	int i, ups = 0;
	ac__tls_rec_update_every = 3;
	pair_open(SUITES[_i].name, SUITES[_i].id, 0);
	ac__tls_rec_update_every = AC_TLS_REC_UPDATE_EVERY;
	ck_assert_uint_eq(P.rec.r_every, 3);
	for (i = 0; i < 50; i++) {
		len = (size_t)i * 331 % (AC_TLS_REC_MAX + 1);
		fill(pbuf, len, (unsigned)i);
		if (i % 2)
			memcpy(rbuf + AC_TLS_REC_HDR, pbuf, len);
		n = (size_t)ac__tls_rec_seal(&P.rec, AC_TLS_CT_APPDATA,
		                             i % 2 ? rbuf + AC_TLS_REC_HDR : pbuf, len, rbuf);
		/* Records 3, 6, ... come after a KeyUpdate of 27 bytes. */
		want = len + AC_TLS_REC_OVER + (i > 0 && i % 3 == 0 ? AC_TLS_REC_KU : 0);
		ck_assert_uint_eq(n, want);
		ups += n > len + AC_TLS_REC_OVER;
		ck_assert_int_eq(BIO_write(P.cb, rbuf, (int)n), (int)n);
		if (len > 0)
			stock_read(pbuf, len);
	}
	ck_assert_int_eq(ups, 16);
	ck_assert_uint_eq(P.rec.r_w.d_updates, 16);
	ck_assert_uint_eq(P.rec.r_w.d_seq, 2); /* records 48 and 49 */
	ck_assert_uint_eq(P.rec.r_r.d_updates, 0);
	ck_assert_int_eq(SSL_write(P.s, "back", 4), 4);
	ck_assert_int_eq(ours_open(stock_take(), &type, &len), 1);
	ck_assert_uint_eq(type, AC_TLS_CT_APPDATA);
	ck_assert_mem_eq(rbuf + AC_TLS_REC_HDR, "back", 4);
	pair_close();
}
END_TEST

/* The server's SSL_key_update (_i 0: update_not_requested, 1:
 * update_requested), then SSL_write, five times: we take the KeyUpdate
 * and open what follows under the next key; for update_requested our next
 * record comes after a KeyUpdate of ours, and the server reads both. */
START_TEST(test_update_stock)
{
	static const int mode[2] = {SSL_KEY_UPDATE_NOT_REQUESTED,
	                            SSL_KEY_UPDATE_REQUESTED};
	char why[128] = "";
	uint8_t type;
	size_t len, used, n, k;
	int i;
	pair_open("TLS_AES_256_GCM_SHA384", 0x1302, 0);
	for (i = 0; i < 5; i++) {
		fill(pbuf, 1000, (unsigned)i);
		ck_assert_int_eq(SSL_key_update(P.s, mode[_i]), 1);
		ck_assert_int_eq(SSL_write(P.s, pbuf, 1000), 1000);
		n = stock_take(); /* the KeyUpdate record, then the data */
		ck_assert_int_eq(ac__tls_rec_open(&P.rec, rbuf, n, &used, &type, &len,
		                                  why, sizeof(why)), 1);
		ck_assert_uint_eq(type, AC_TLS_CT_HANDSHAKE);
		ck_assert_uint_eq(len, 0);
		ck_assert_uint_lt(used, n);
		ck_assert_uint_eq(P.rec.r_r.d_updates, (uint64_t)i + 1);
		ck_assert_int_eq(P.rec.r_w.d_owed, _i);
		k = used;
		ck_assert_int_eq(ac__tls_rec_open(&P.rec, rbuf + k, n - k, &used, &type,
		                                  &len, why, sizeof(why)), 1);
		ck_assert_uint_eq(k + used, n);
		ck_assert_uint_eq(type, AC_TLS_CT_APPDATA);
		ck_assert_uint_eq(len, 1000);
		ck_assert_mem_eq(rbuf + k + AC_TLS_REC_HDR, pbuf, 1000);
		/* Our answer. */
		fill(pbuf, 500, (unsigned)i + 100);
		n = (size_t)ac__tls_rec_seal(&P.rec, AC_TLS_CT_APPDATA, pbuf, 500, rbuf);
		ck_assert_uint_eq(n, 500 + AC_TLS_REC_OVER + (_i ? AC_TLS_REC_KU : 0));
		ck_assert_uint_eq(P.rec.r_w.d_updates, _i ? (uint64_t)i + 1 : 0);
		ck_assert_int_eq(P.rec.r_w.d_owed, 0);
		ck_assert_int_eq(BIO_write(P.cb, rbuf, (int)n), (int)n);
		stock_read(pbuf, 500);
	}
	pair_close();
}
END_TEST

/* Handshake content a fake server (our layer with the server's secrets)
 * seals to us (_i: which); the last is a good KeyUpdate, the control. */
static const struct hs_case {
	uint8_t b[12];
	size_t len;
} HS[] = {
	{{24, 0, 0, 2, 0, 0}, 6},                 /* length 2 */
	{{24, 0, 0, 1, 2}, 5},                    /* request_update 2 */
	{{24, 0, 0, 1, 0xff}, 5},                 /* request_update 255 */
	{{24, 0, 0, 1}, 4},                       /* cut short */
	{{24, 0, 0, 1, 0, 0x17}, 6},              /* not at the record's end */
	{{24, 0, 0, 1, 0, 24, 0, 0, 1, 0}, 10},   /* two in one record */
	{{4, 0, 0, 5, 0, 0, 0, 0, 0}, 9},         /* a NewSessionTicket */
	{{25, 0, 0, 1, 0}, 5},                    /* another message type */
	{{24, 0, 0, 1, 0}, 5},                    /* a good one */
};
#define NHS (int)(sizeof(HS) / sizeof(HS[0]))

/* A refused one fails and the direction stays failed; after the good one
 * the fake server's next record under its old key does not authenticate
 * (the switch is exact), and one under its next key opens. */
START_TEST(test_update_bad)
{
	ac__tls_rec fake;
	char why[128] = "";
	uint8_t type;
	size_t len, used, n;
	int rc;
	pair_open("TLS_AES_128_GCM_SHA256", 0x1301, 0);
	CK_OK(ac__tls_rec_init(&fake, 0x1301, P.sec[1], P.sec[0], P.seclen[1]));
	n = (size_t)ac__tls_rec_seal(&fake, AC_TLS_CT_HANDSHAKE, HS[_i].b, HS[_i].len, rbuf);
	rc = ac__tls_rec_open(&P.rec, rbuf, n, &used, &type, &len, why, sizeof(why));
	if (_i < NHS - 1) {
		ck_assert_int_eq(rc, -EPROTO);
		ck_assert(why[0] != '\0');
		n = (size_t)ac__tls_rec_seal(&fake, AC_TLS_CT_APPDATA, pbuf, 10, rbuf);
		ck_assert_int_lt(ac__tls_rec_open(&P.rec, rbuf, n, &used, &type, &len,
		                                  why, sizeof(why)), 0);
	} else {
		ck_assert_int_eq(rc, 1);
		ck_assert_uint_eq(type, AC_TLS_CT_HANDSHAKE);
		/* The fake did not move its key (a KeyUpdate it sealed as content). */
		n = (size_t)ac__tls_rec_seal(&fake, AC_TLS_CT_APPDATA, pbuf, 10, rbuf);
		ck_assert_int_eq(ac__tls_rec_open(&P.rec, rbuf, n, &used, &type, &len,
		                                  why, sizeof(why)), -EBADMSG);
		/* Opened again by a fresh client: its next key does open. */
		ac__tls_rec_fini(&P.rec);
		CK_OK(ac__tls_rec_init(&P.rec, 0x1301, P.sec[0], P.sec[1], P.seclen[0]));
		ac__tls_rec_fini(&fake);
		CK_OK(ac__tls_rec_init(&fake, 0x1301, P.sec[1], P.sec[0], P.seclen[1]));
		fake.r_every = 1;
		fill(pbuf, 10, 3);
		n = (size_t)ac__tls_rec_seal(&fake, AC_TLS_CT_APPDATA, pbuf, 10, rbuf);
		ck_assert_uint_eq(n, 10 + AC_TLS_REC_OVER);
		ck_assert_int_eq(ac__tls_rec_open(&P.rec, rbuf, n, &used, &type, &len,
		                                  why, sizeof(why)), 1);
		n = (size_t)ac__tls_rec_seal(&fake, AC_TLS_CT_APPDATA, pbuf, 10, rbuf);
		ck_assert_uint_eq(n, 10 + AC_TLS_REC_OVER + AC_TLS_REC_KU);
		ck_assert_int_eq(ac__tls_rec_open(&P.rec, rbuf, n, &used, &type, &len,
		                                  why, sizeof(why)), 1);
		ck_assert_uint_eq(type, AC_TLS_CT_HANDSHAKE);
		ck_assert_int_eq(ac__tls_rec_open(&P.rec, rbuf + used, n - used, &used,
		                                  &type, &len, why, sizeof(why)), 1);
		ck_assert_uint_eq(type, AC_TLS_CT_APPDATA);
		ck_assert_mem_eq(rbuf + AC_TLS_REC_KU + AC_TLS_REC_HDR, pbuf, 10);
	}
	ac__tls_rec_fini(&fake);
	pair_close();
}
END_TEST

/* Headers refused before any decryption (_i: which). */
START_TEST(test_bad_header)
{
	static const uint8_t hdr[4][5] = {
		{0x17, 3, 3, 0x41, 0x01}, /* 2^14 + 257 bytes */
		{0x17, 3, 3, 0, 16},      /* no room for a content type */
		{0x16, 3, 3, 0, 40},      /* a plaintext handshake record */
		{0x17, 3, 1, 0, 40},      /* another legacy version */
	};
	static const int want[4] = {-EMSGSIZE, -EPROTO, -EPROTO, -EPROTO};
	char why[128] = "";
	uint8_t type;
	size_t len, used;
	pair_open("TLS_AES_128_GCM_SHA256", 0x1301, 0);
	memset(rbuf, 0, sizeof(rbuf));
	memcpy(rbuf, hdr[_i], 5);
	ck_assert_int_eq(ac__tls_rec_open(&P.rec, rbuf, sizeof(rbuf), &used, &type,
	                                  &len, why, sizeof(why)), want[_i]);
	ck_assert(why[0] != '\0');
	pair_close();
}
END_TEST

/* Sequence numbers stop one short of 2^64: no nonce twice. */
START_TEST(test_seq_end)
{
	char why[128];
	uint8_t type;
	size_t len, used;
	pair_open("TLS_AES_128_GCM_SHA256", 0x1301, 0);
	/* No KeyUpdate first (with one due at 2^64 - 1, none can be sealed). */
	P.rec.r_every = UINT64_MAX;
	P.rec.r_w.d_seq = UINT64_MAX - 1;
	ck_assert_int_eq(ac__tls_rec_seal(&P.rec, AC_TLS_CT_APPDATA, pbuf, 10, rbuf),
	                 10 + AC_TLS_REC_OVER);
	ck_assert_int_eq(ac__tls_rec_seal(&P.rec, AC_TLS_CT_APPDATA, pbuf, 10, rbuf),
	                 -EOVERFLOW);
	ck_assert_int_eq(ac__tls_rec_seal(&P.rec, AC_TLS_CT_APPDATA, pbuf, 10, rbuf),
	                 -EOVERFLOW);
	ck_assert_int_eq(SSL_write(P.s, "x", 1), 1);
	P.rec.r_r.d_seq = UINT64_MAX;
	ck_assert_int_eq(ac__tls_rec_open(&P.rec, rbuf, stock_take(), &used, &type,
	                                  &len, why, sizeof(why)), -EOVERFLOW);
	/* Content over 2^14 is not sealed. */
	ck_assert_int_lt(ac__tls_rec_seal(&P.rec, AC_TLS_CT_APPDATA, pbuf,
	                                  AC_TLS_REC_MAX + 1, rbuf), 0);
	pair_close();
}
END_TEST

START_TEST(test_init_args)
{
	ac__tls_rec r;
	uint8_t s[AC_TLS_SECRET_MAX] = {1};
	ck_assert_int_eq(ac__tls_rec_init(&r, 0x1303, s, s, 32), -ENOTSUP);
	ck_assert_int_eq(ac__tls_rec_init(&r, 0x1301, s, s, 48), -EINVAL);
	ck_assert_int_eq(ac__tls_rec_init(&r, 0x1302, s, s, 32), -EINVAL);
	CK_OK(ac__tls_rec_init(&r, 0x1302, s, s, 48));
	ac__tls_rec_fini(&r);
	ck_assert_ptr_null(r.r_w.d_ctx);
}
END_TEST

static Suite *rec_suite(void)
{
	Suite *su = suite_create("tls_rec");
	TCase *tc = tcase_create("records");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_ours_to_stock, 0, NSUITES);
	tcase_add_loop_test(tc, test_stock_to_ours, 0, NSUITES);
	tcase_add_loop_test(tc, test_flip_stock, 0, 5 + 24);
	tcase_add_loop_test(tc, test_flip_ours, 0, 12);
	tcase_add_test(tc, test_replay);
	tcase_add_loop_test(tc, test_update_ours, 0, 2);
	tcase_add_loop_test(tc, test_update_stock, 0, 2);
	tcase_add_loop_test(tc, test_update_bad, 0, NHS);
	tcase_add_loop_test(tc, test_bad_header, 0, 4);
	tcase_add_test(tc, test_seq_end);
	tcase_add_test(tc, test_init_args);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(rec_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
