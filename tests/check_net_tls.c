/* tests/check_net_tls.c: TLS between nodes (dis.h certfile/keyfile/cafile,
 * net/tls.c) over real loopback TCP, with certificates made at run time by
 * OpenSSL's API in the test's directory (no key is committed): a CA, node
 * certificates it signed, an expired one, a not-yet-valid one, one from
 * another CA, a forged one (the CA's name, another key's signature), and a
 * self-signed certificate+key in one file (the spec's recipe).
 *
 * Cases: the shared self-signed model (after the handshake both nodes'
 * sessions are carried by asyncoro's record layer, net/tls_rec.c, with the
 * AES-128-GCM suite both prefer); CA-signed certificates with a
 * separate keyfile and every request type over TLS (send, deliver, locate,
 * node locate, monitor, channels, RCI, send_file of a file with its content
 * checked; AC_TLS_FILE_MB=100 for a 100 MB one), stream_send off (idle
 * closes, new sessions) and heartbeat liveness; each refusal reason in
 * both directions (-EKEYREJECTED, reason logged on both sides); bad files
 * (a key that does not match its certificate, no key, no certificate);
 * plaintext/TLS mismatch both ways (-ENOPROTOOPT, logged on both sides);
 * a wrong secret inside TLS; a relay that terminates TLS on both sides and
 * forwards the secret handshake (the exporter binding makes it fail); the
 * key log (option, SSLKEYLOGFILE, two nodes on one file); hostile input
 * (garbage instead of a ClientHello, a stalled handshake, a TLS 1.2 client,
 * a truncated record, a close_notify in the middle of a frame, during the
 * handshake and after it; after it a NewSessionTicket and a malformed
 * KeyUpdate, which the node's record layer refuses) after which the node
 * still serves a good peer; KeyUpdates from a stock OpenSSL peer, with and
 * without update_requested, which the node takes (and answers under its
 * own next key); and determinism: a
 * simulated TLS world hashes the same for one seed (certificates are
 * checked against virtual time there), and a TLS node's record replays.
 */
#include "tests/net_harness.h"
#include "net/tls_rec.h" /* compiled in here: records a stock peer cannot make */

#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <asyncoro/record.h>
#include <asyncoro/sim.h>

/* ---- certificates ------------------------------------------------------------------ */

enum { DAY = 86400 };

typedef struct ident {
	EVP_PKEY *key;
	X509 *cert;
} ident;

static void ident_free(ident *d)
{
	EVP_PKEY_free(d->key);
	X509_free(d->cert);
	memset(d, 0, sizeof(*d));
}

/* A certificate for cn valid [from, to] (Unix seconds), signed by issuer
 * (NULL: self-signed), with its own fresh P-256 key; signer overrides the
 * signing key (a forgery). */
static ident mkcert(const char *cn, const ident *issuer, int ca, time_t from,
                    time_t to, EVP_PKEY *signer)
{
	static long serial = 1;
	ident d;
	X509_NAME *nm;
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	d.key = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(d.key);
	d.cert = X509_new();
	ck_assert_ptr_nonnull(d.cert);
	X509_set_version(d.cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(d.cert), serial++);
	ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notBefore(d.cert), from));
	ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notAfter(d.cert), to));
	X509_set_pubkey(d.cert, d.key);
	nm = X509_get_subject_name(d.cert);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn,
	                           -1, -1, 0);
	X509_set_issuer_name(d.cert, issuer ? X509_get_subject_name(issuer->cert) : nm);
	X509V3_set_ctx(&v3, issuer ? issuer->cert : d.cert, d.cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
	                          ca ? "critical,CA:TRUE" : "CA:FALSE");
	ck_assert_ptr_nonnull(ext);
	X509_add_ext(d.cert, ext, -1);
	X509_EXTENSION_free(ext);
	ck_assert_int_gt(X509_sign(d.cert, signer ? signer
	                                 : issuer ? issuer->key : d.key, EVP_sha256()), 0);
	return d;
}

/* Write cert (and key when with_key) to dir/name. */
static void pem_write(const char *name, const ident *d, int cert, int key,
                      char *path, size_t len)
{
	BIO *b;
	snprintf(path, len, "%s/%s", W.dir, name);
	b = BIO_new_file(path, "w");
	ck_assert_ptr_nonnull(b);
	if (cert)
		ck_assert_int_eq(PEM_write_bio_X509(b, d->cert), 1);
	if (key)
		ck_assert_int_eq(PEM_write_bio_PrivateKey(b, d->key, NULL, NULL, 0, NULL,
		                                          NULL), 1);
	BIO_free(b);
}

#define PATHLEN 160

/* The files of a test (under W.dir). */
static struct files {
	char ca[PATHLEN];     /* CA 1's certificate */
	char ca2[PATHLEN];    /* CA 2's certificate */
	char ss[PATHLEN];     /* self-signed certificate + key */
	char a[PATHLEN];      /* node A's certificate (CA 1) ... */
	char a_key[PATHLEN];  /* ... and its key, apart */
	char b[PATHLEN];      /* node B's certificate + key (CA 1) */
	char c[PATHLEN];      /* node C's certificate + key (CA 1) */
	char expired[PATHLEN];
	char notyet[PATHLEN];
	char other[PATHLEN];  /* certificate + key from CA 2 */
	char forged[PATHLEN]; /* CA 1's name, CA 2's signature */
} F;

/* Identities kept for the test-side TLS endpoints. */
static ident CA1, CA2, IDA, IDB;

static void certs_make(void)
{
	time_t now = time(NULL);
	ident ss, c, ex, ny, ot, fg;
	CA1 = mkcert("asyncoro test CA", NULL, 1, now - DAY, now + 30 * DAY, NULL);
	CA2 = mkcert("another CA", NULL, 1, now - DAY, now + 30 * DAY, NULL);
	ss = mkcert("sskeycert", NULL, 1, now - DAY, now + 30 * DAY, NULL);
	IDA = mkcert("node A", &CA1, 0, now - DAY, now + 30 * DAY, NULL);
	IDB = mkcert("node B", &CA1, 0, now - DAY, now + 30 * DAY, NULL);
	c = mkcert("node C", &CA1, 0, now - DAY, now + 30 * DAY, NULL);
	ex = mkcert("expired", &CA1, 0, now - 10 * DAY, now - DAY, NULL);
	ny = mkcert("not yet", &CA1, 0, now + DAY, now + 10 * DAY, NULL);
	ot = mkcert("other", &CA2, 0, now - DAY, now + 30 * DAY, NULL);
	fg = mkcert("forged", &CA1, 0, now - DAY, now + 30 * DAY, CA2.key);
	pem_write("ca.pem", &CA1, 1, 0, F.ca, PATHLEN);
	pem_write("ca2.pem", &CA2, 1, 0, F.ca2, PATHLEN);
	pem_write("ss.pem", &ss, 1, 1, F.ss, PATHLEN);
	pem_write("a.pem", &IDA, 1, 0, F.a, PATHLEN);
	pem_write("a.key", &IDA, 0, 1, F.a_key, PATHLEN);
	pem_write("b.pem", &IDB, 1, 1, F.b, PATHLEN);
	pem_write("c.pem", &c, 1, 1, F.c, PATHLEN);
	pem_write("expired.pem", &ex, 1, 1, F.expired, PATHLEN);
	pem_write("notyet.pem", &ny, 1, 1, F.notyet, PATHLEN);
	pem_write("other.pem", &ot, 1, 1, F.other, PATHLEN);
	pem_write("forged.pem", &fg, 1, 1, F.forged, PATHLEN);
	ident_free(&ss);
	ident_free(&c);
	ident_free(&ex);
	ident_free(&ny);
	ident_free(&ot);
	ident_free(&fg);
}

static void certs_free(void)
{
	ident_free(&CA1);
	ident_free(&CA2);
	ident_free(&IDA);
	ident_free(&IDB);
}

/* The secret of the nodes a test starts. */
static const char *SECRET = "s";

/* A world and its certificates. */
static void tls_world_hb(int64_t hb_ms, int64_t lost_ms)
{
	world_init(hb_ms, lost_ms);
	SECRET = "s";
	certs_make();
}

static void tls_world(void)
{
	world_init(0, 0);
	SECRET = "s";
	certs_make();
}

static void tls_world_fini(void)
{
	world_fini();
	certs_free();
}

/* ---- nodes -------------------------------------------------------------------------- */

static void node_opts(int i, ac_node_opts *o, char *name, char *dest)
{
	snprintf(name, 16, "node%d", i);
	snprintf(dest, 128, "%s/n%d", W.dir, i);
	ac_node_opts_init(o);
	o->node = "127.0.0.1";
	o->udp_port = (uint16_t)(40000 + getpid() % 20000);
	o->discover_peers = 0;
	o->name = name;
	o->secret = SECRET;
	o->dest_path = dest;
	if (W.hb_ms)
		o->heartbeat_ms = W.hb_ms;
	if (W.lost_ms)
		o->peer_lost_ms = W.lost_ms;
}

/* Start node i with TLS (certfile NULL: plaintext); returns the result of
 * ac_node_start (the world knows the node on success). */
static int tls_node_try(int i, const char *cert, const char *key,
                        const char *ca, const char *keylog)
{
	ac_node_opts o;
	char name[16], dest[128];
	int rc;
	world_sched_at(i);
	node_opts(i, &o, name, dest);
	o.certfile = cert;
	o.keyfile = key;
	o.cafile = ca;
	o.keylogfile = keylog;
	rc = ac_node_start(W.s[i], &o, &W.node[i]);
	if (rc < 0)
		return rc;
	W.loc[i] = ac_node_location(W.node[i]);
	ac_addr_format(&W.loc[i], W.locs[i], sizeof(W.locs[i]));
	return 0;
}

static int tls_node(const char *cert, const char *key, const char *ca)
{
	int i = W.n;
	CK_OK(tls_node_try(i, cert, key, ca, NULL));
	return i;
}

/* ---- the shared self-signed certificate ------------------------------------------- */

static void stune_debug(int i, ac_sched_opts *o)
{
	(void)i;
	o->log_level = AC_LOG_DEBUG;
}

START_TEST(test_selfsigned)
{
	echo e;
	tls_world();
	W.stune = stune_debug;
	tls_node(F.ss, NULL, NULL);
	tls_node(F.ss, NULL, NULL);
	world_peer(1, 0);
	start_echo(0, &e, "echo");
	ck_assert(logged(0, "online"));
	ck_assert(!logged(0, "failed") && !logged(1, "failed"));
	/* After the handshake, our record layer carries the session (the
	 * node's preferred suite). */
	ck_assert(logged(0, "TLS: TLS_AES_128_GCM_SHA256, records by asyncoro"));
	ck_assert(logged(1, "TLS: TLS_AES_128_GCM_SHA256, records by asyncoro"));
	tls_world_fini();
}
END_TEST


/* ---- every request type over TLS ------------------------------------------------- */

static struct rq {
	echo e;
	int owner_ready;
	int done;
	int chan_got;
	char src[PATHLEN];
	char dst[PATHLEN];
} RQ;

static void rq_rci(ac_msg *args)
{
	ac_ref from;
	if (ac_msg_unpack(args, "[r]", &from) == 0)
		ac_send(from, ac_msg_str("rci ran"));
	ac_msg_free(args);
}

/* Node 0: a channel and an RCI, registered. */
static void body_rq_owner(void *arg)
{
	ac_ref ch, rci;
	(void)arg;
	CK_OK(ac_chan_new(NULL, "tchan", &ch));
	CK_OK(ac_chan_register(ch, "tchan"));
	CK_OK(ac_rci_new(NULL, "trci", rq_rci, &rci));
	CK_OK(ac_rci_register(rci));
	RQ.owner_ready = 1;
	while (!RQ.done)
		ac_sleep(20);
}

static void rq_monitor_echo(void)
{
	ac_msg *m;
	ac_exit_info ei;
	CK_OK(ac_monitor(RQ.e.ref));
	CK_OK(ac_send(RQ.e.ref, ac_msg_str("quit")));
	CK_OK(ac_receive(LONG_MS, &m));
	CK_OK(ac_msg_exit(m, &ei));
	ck_assert(ac_ref_eq(ei.coro, RQ.e.ref));
	ck_assert_int_eq(ei.how, AC_EXIT_RETURNED);
	ac_msg_free(m);
}

/* Node 1: everything against node 0. */
static void body_rq_client(void *arg)
{
	ac_ref r, ch, rci, c;
	ac_addr loc;
	(void)arg;
	CK_OK(ac_node_locate(W.node[1], "node0", LONG_MS, &loc));
	ck_assert(ac_addr_eq(&loc, &W.loc[0]));
	CK_OK(ac_locate("echo", NULL, LONG_MS, &r));
	ck_assert(ac_ref_eq(r, RQ.e.ref));
	CK_OK(ac_send(r, ac_msg_str("over tls")));
	recv_is("over tls");
	ck_assert_int_eq(ac_deliver(r, ac_msg_str("delivered"), LONG_MS), 1);
	recv_is("delivered");
	CK_OK(ac_chan_locate("tchan", &W.loc[0], LONG_MS, &ch));
	CK_OK(ac_chan_subscribe(ch, ac_self(), LONG_MS));
	CK_OK(ac_chan_send(ch, ac_msg_str("to subscribers")));
	recv_is("to subscribers");
	RQ.chan_got = 1;
	CK_OK(ac_rci_locate("trci", NULL, LONG_MS, &rci));
	CK_OK(ac_rci_call(rci, ac_msg_pack("[r]", ac_self()), LONG_MS, &c));
	ck_assert(ac_addr_eq(&c.loc, &W.loc[0]));
	recv_is("rci ran");
	CK_RC(ac_node_send_file(W.node[1], &W.loc[0], RQ.src, "sub", 0, 6 * LONG_MS,
	                        NULL), 0);
	rq_monitor_echo();
	RQ.done = 1;
}

/* A file of size bytes of a pattern that does not compress well. */
static void make_file(const char *path, size_t size)
{
	FILE *f = fopen(path, "wb");
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t i;
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < size; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ck_assert_uint_eq(fwrite(&x, 1, size - i < 8 ? size - i : 8, f),
		                  size - i < 8 ? size - i : 8);
	}
	ck_assert_int_eq(fclose(f), 0);
}

static void same_files(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	static char ba[65536], bb[65536];
	size_t ra, rb, total = 0;
	ck_assert_ptr_nonnull(fa);
	ck_assert_msg(fb != NULL, "%s missing", b);
	do {
		ra = fread(ba, 1, sizeof(ba), fa);
		rb = fread(bb, 1, sizeof(bb), fb);
		ck_assert_uint_eq(ra, rb);
		ck_assert_msg(memcmp(ba, bb, ra) == 0, "differ after %zu bytes", total);
		total += ra;
	} while (ra > 0);
	fclose(fa);
	fclose(fb);
}

/* File size for send_file over TLS (AC_TLS_FILE_MB overrides: 100 for the
 * issue's large-file check). */
static size_t rq_file_size(void)
{
	const char *v = getenv("AC_TLS_FILE_MB");
	long mb = v ? atol(v) : 12;
	return (size_t)(mb > 0 ? mb : 12) * 1024 * 1024 + 12345;
}

START_TEST(test_requests)
{
	tls_world();
	memset(&RQ, 0, sizeof(RQ));
	tls_node(F.a, F.a_key, F.ca);
	tls_node(F.b, NULL, F.ca);
	snprintf(RQ.src, PATHLEN, "%s/big.bin", W.dir);
	snprintf(RQ.dst, PATHLEN, "%s/n0/sub/big.bin", W.dir);
	make_file(RQ.src, rq_file_size());
	world_peer(1, 0);
	start_echo(0, &RQ.e, "echo");
	spawn_on(0, body_rq_owner, NULL);
	RUN_UNTIL(RQ.owner_ready, 1, LONG_MS);
	spawn_on(1, body_rq_client, NULL);
	RUN_UNTIL(RQ.done, 1, 12 * LONG_MS);
	same_files(RQ.src, RQ.dst);
	ck_assert(!logged(0, "bad frame") && !logged(1, "bad frame"));
	tls_world_fini();
}
END_TEST

/* ---- liveness and stream_send off over TLS ------------------------------------- */

static struct idle {
	ac_ref echo;
	int rounds;
	int done;
} ID;

/* Node 1, a peer without stream_send: a round trip, an idle pause that
 * closes the connection, another round trip on a new TLS session. */
static void body_idle(void *arg)
{
	ac_ref r;
	int i;
	(void)arg;
	CK_OK(ac_node_peer(W.node[1], W.locs[0], 0, 0, 0, LONG_MS));
	CK_OK(ac_locate("echo", NULL, LONG_MS, &r));
	for (i = 0; i < 3; i++) {
		CK_OK(ac_send(r, ac_msg_str("again")));
		recv_is("again");
		ID.rounds++;
		ac_sleep(800); /* > heartbeat_ms: the idle connection closes */
	}
	ID.done = 1;
}

START_TEST(test_stream_send_off)
{
	echo e;
	tls_world_hb(200, 5000);
	memset(&ID, 0, sizeof(ID));
	tls_node(F.b, NULL, F.ca);
	tls_node(F.c, NULL, F.ca);
	start_echo(0, &e, "echo");
	spawn_on(1, body_idle, NULL);
	RUN_UNTIL(ID.done, 1, 3 * LONG_MS);
	ck_assert_int_eq(ID.rounds, 3);
	ck_assert_int_eq(npeers(0), 1); /* idle closes are not Offline */
	ck_assert(!logged(0, "failed") && !logged(1, "failed"));
	tls_world_fini();
}
END_TEST

/* Heartbeats keep an idle TLS connection Online; a silent peer goes
 * Offline after peer_lost_ms. */
START_TEST(test_liveness)
{
	int64_t t0;
	tls_world_hb(100, 800);
	tls_node(F.b, NULL, F.ca);
	tls_node(F.c, NULL, F.ca);
	world_peer(1, 0);
	run_for(1500); /* idle, longer than peer_lost_ms: heartbeats */
	ck_assert_int_eq(npeers(0), 1);
	ck_assert_int_eq(npeers(1), 1);
	W.frozen[0] = 1;
	t0 = wall_ms();
	wait_npeers(1, 0);
	ck_assert_int_ge(wall_ms() - t0, 600);
	ck_assert(logged(1, "lost"));
	W.frozen[0] = 0;
	tls_world_fini();
}
END_TEST

/* ---- refusals ---------------------------------------------------------------------- */

enum { R_EXPIRED, R_NOTYET, R_UNKNOWN_CA, R_FORGED, R_NCASES };

static const char *refuse_file(int c)
{
	return c == R_EXPIRED ? F.expired : c == R_NOTYET ? F.notyet
	       : c == R_UNKNOWN_CA ? F.other : F.forged;
}

/* What the verifying side logs for each. */
static const char *const refuse_reason[R_NCASES] = {
	"certificate has expired", "certificate is not yet valid",
	"unable to get local issuer certificate", "certificate signature failure"
};

/* _i: case * 2 + (1: the bad certificate is the client's, 0: the
 * server's). Either way the connecting side's ac_node_peer gets
 * -EKEYREJECTED, the verifier logs the exact reason, the other side logs
 * that its certificate was refused, and neither lists the other. */
START_TEST(test_refuse)
{
	int c = _i / 2, bad_client = _i % 2, server, client, verifier, refused;
	tls_world();
	if (bad_client) {
		server = tls_node(F.b, NULL, F.ca);
		client = tls_node(refuse_file(c), NULL, F.ca);
	} else {
		server = tls_node(refuse_file(c), NULL, F.ca);
		client = tls_node(F.b, NULL, F.ca);
	}
	verifier = bad_client ? server : client;
	refused = bad_client ? client : server;
	CK_RC(peer_loc(client, W.locs[server]), -EKEYREJECTED);
	run_for(100);
	ck_assert_msg(logged(verifier, refuse_reason[c]), "verifier: no \"%s\"",
	              refuse_reason[c]);
	ck_assert(logged(verifier, "does not verify"));
	ck_assert_msg(logged(refused, "refused our certificate"), "refused side");
	ck_assert_int_eq(npeers(server), 0);
	ck_assert_int_eq(npeers(client), 0);
	tls_world_fini();
}
END_TEST

/* Bad files: ac_node_start refuses with a logged reason. */
START_TEST(test_bad_files)
{
	char missing[PATHLEN];
	tls_world();
	snprintf(missing, PATHLEN, "%s/nosuch.pem", W.dir);
	/* B's key with A's certificate */
	CK_RC(tls_node_try(0, F.a, F.b, F.ca, NULL), -EINVAL);
	ck_assert(logged(0, "does not match"));
	ac_sched_free(W.s[0]);
	W.s[0] = NULL;
	CK_RC(tls_node_try(0, F.a, NULL, F.ca, NULL), -EINVAL); /* no key */
	ck_assert(logged(0, "no private key"));
	ac_sched_free(W.s[0]);
	W.s[0] = NULL;
	CK_RC(tls_node_try(0, F.a_key, F.a_key, F.ca, NULL), -EINVAL);
	ck_assert(logged(0, "no usable certificate"));
	ac_sched_free(W.s[0]);
	W.s[0] = NULL;
	CK_RC(tls_node_try(0, missing, NULL, NULL, NULL), -ENOENT);
	ac_sched_free(W.s[0]);
	W.s[0] = NULL;
	CK_RC(tls_node_try(0, F.b, NULL, F.a_key, NULL), -EINVAL); /* no CA */
	ac_sched_free(W.s[0]);
	W.s[0] = NULL;
	CK_RC(tls_node_try(0, NULL, F.a_key, NULL, NULL), -EINVAL);
	ac_sched_free(W.s[0]);
	W.s[0] = NULL;
	CK_RC(tls_node_try(0, NULL, NULL, F.ca, NULL), -EINVAL);
	ac_sched_free(W.s[0]);
	W.s[0] = NULL;
	tls_world_fini();
}
END_TEST

/* _i 0: a plaintext node contacts a TLS node; 1: the reverse. */
START_TEST(test_mismatch)
{
	int tls_first = _i == 0, t, p;
	tls_world();
	if (tls_first) {
		t = tls_node(F.b, NULL, F.ca);
		p = world_node("s");
	} else {
		p = world_node("s");
		t = tls_node(F.b, NULL, F.ca);
	}
	CK_RC(peer_loc(1, W.locs[0]), -ENOPROTOOPT);
	run_for(100);
	if (tls_first) {
		ck_assert(logged(t, "does not use TLS (plaintext HELLO)"));
		ck_assert(logged(p, "requires TLS"));
	} else {
		ck_assert(logged(p, "the peer uses TLS and this node does not"));
		ck_assert(logged(t, "does not use TLS (it answered our ClientHello"));
	}
	ck_assert_int_eq(npeers(0), 0);
	ck_assert_int_eq(npeers(1), 0);
	tls_world_fini();
}
END_TEST

/* The secret still decides inside TLS. */
START_TEST(test_secret)
{
	tls_world();
	tls_node(F.b, NULL, F.ca);
	SECRET = "other";
	tls_node(F.c, NULL, F.ca);
	CK_RC(peer_loc(1, W.locs[0]), -EACCES);
	ck_assert(logged(0, "secret") || logged(1, "secret"));
	ck_assert_int_eq(npeers(0), 0);
	tls_world_fini();
}
END_TEST

/* ---- a test-side TLS endpoint on an ac_sock (memory BIOs) ------------------------ */

typedef struct tep {
	ac_sock *k;
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in;
	BIO *out;
	uint8_t buf[32768];
} tep;

/* A context presenting id, trusting CA 1; maxver 0: TLS 1.3 allowed. */
static SSL_CTX *tep_ctx(const ident *id, int maxver)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(SSL_CTX_use_certificate(ctx, id->cert), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, id->key), 1);
	ck_assert_int_eq(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), CA1.cert), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (maxver)
		SSL_CTX_set_max_proto_version(ctx, maxver);
	return ctx;
}

static int tep_flush(tep *t)
{
	while (BIO_ctrl_pending(t->out) > 0) {
		int n = BIO_read(t->out, t->buf, sizeof(t->buf));
		if (n <= 0 || ac_sock_send_all(t->k, t->buf, (size_t)n, LONG_MS) < 0)
			return -1;
	}
	return 0;
}

static int tep_fill(tep *t, int64_t ms)
{
	ssize_t n = ac_sock_recv(t->k, t->buf, sizeof(t->buf), ms);
	if (n <= 0)
		return -1;
	return BIO_write(t->in, t->buf, (int)n) == (int)n ? 0 : -1;
}

/* Handshake on connected k: 0 or -1. */
static int tep_open(tep *t, ac_sock *k, SSL_CTX *ctx, int server)
{
	memset(t, 0, sizeof(*t));
	t->k = k;
	t->ctx = ctx;
	t->ssl = SSL_new(ctx);
	t->in = BIO_new(BIO_s_mem());
	t->out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(t->in, -1);
	SSL_set_bio(t->ssl, t->in, t->out);
	if (server)
		SSL_set_accept_state(t->ssl);
	else
		SSL_set_connect_state(t->ssl);
	for (;;) {
		int r = SSL_do_handshake(t->ssl);
		if (tep_flush(t) < 0)
			return -1;
		if (r == 1)
			return 0;
		if (SSL_get_error(t->ssl, r) != SSL_ERROR_WANT_READ || tep_fill(t, LONG_MS) < 0)
			return -1;
	}
}

static ssize_t tep_read(tep *t, void *buf, size_t len)
{
	for (;;) {
		int r = SSL_read(t->ssl, buf, (int)len);
		if (r > 0)
			return r;
		if (SSL_get_error(t->ssl, r) != SSL_ERROR_WANT_READ)
			return -1;
		if (tep_flush(t) < 0 || tep_fill(t, LONG_MS) < 0)
			return -1;
	}
}

static int tep_write(tep *t, const void *buf, size_t len)
{
	if (SSL_write(t->ssl, buf, (int)len) != (int)len)
		return -1;
	return tep_flush(t);
}

static void tep_close(tep *t)
{
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	t->ssl = NULL;
	t->ctx = NULL;
}

/* ---- a relay that terminates TLS on both sides ------------------------------------ */

static struct relay {
	ac_sock *l;
	ac_addr addr;
	char addrs[AC_ADDR_STRLEN];
	tep *up;   /* towards node 0 */
	tep *down; /* towards node 1 */
	int64_t up_bytes;
	int ready;
	int ends;
} RL;

/* Forward decrypted bytes from one side to the other until either ends. */
static void relay_pump(tep *from, tep *to, int64_t *count)
{
	static char b[2][16384];
	char *buf = b[from == RL.up];
	for (;;) {
		ssize_t n = tep_read(from, buf, sizeof(b[0]));
		if (n <= 0 || tep_write(to, buf, (size_t)n) < 0)
			break;
		if (count)
			*count += n;
	}
	if (RL.ends++ == 0) {
		/* The first to end closes both (the other's read then ends). */
		ac_sock_close(from->k);
		ac_sock_close(to->k);
	}
}

static void body_relay_up(void *arg)
{
	(void)arg;
	relay_pump(RL.up, RL.down, &RL.up_bytes);
}

static void body_relay(void *arg)
{
	ac_sock *kd, *ku;
	(void)arg;
	RL.ready = 1;
	CK_OK(ac_sock_accept(RL.l, LONG_MS, &kd));
	CK_OK(tep_open(RL.down, kd, tep_ctx(&IDA, 0), 1));
	CK_OK(ac_sock_connect(&W.loc[0], LONG_MS, &ku));
	CK_OK(tep_open(RL.up, ku, tep_ctx(&IDB, 0), 0));
	ac_spawn(NULL, body_relay_up, NULL, NULL, NULL);
	relay_pump(RL.down, RL.up, NULL);
}

/* Node 1 reaches node 0 through the relay, which holds certificates of the
 * CA and forwards the secret handshake: the MACs, bound to two different
 * TLS sessions, do not match, and no one becomes a peer. */
START_TEST(test_relay)
{
	int r;
	ac_addr any;
	tls_world();
	memset(&RL, 0, sizeof(RL));
	RL.up = calloc(1, sizeof(tep));
	RL.down = calloc(1, sizeof(tep));
	tls_node(F.b, NULL, F.ca);
	tls_node(F.c, NULL, F.ca);
	r = world_sched();
	CK_OK(ac_addr_parse(&any, "127.0.0.1:0", 0));
	CK_OK(ac_sock_listen(W.s[r], &any, 4, 0, &RL.l));
	CK_OK(ac_sock_local_addr(RL.l, &RL.addr));
	ac_addr_format(&RL.addr, RL.addrs, sizeof(RL.addrs));
	spawn_on(r, body_relay, NULL);
	RUN_UNTIL(RL.ready, 1, LONG_MS);
	CK_RC(peer_loc(1, RL.addrs), -EACCES);
	RUN_UNTIL(RL.ends, 2, LONG_MS);
	ck_assert_int_gt(RL.up_bytes, AC_WIRE_HDR); /* node 0's HELLO_ACK passed */
	ck_assert(logged(1, "does not know our secret"));
	ck_assert_int_eq(npeers(0), 0);
	ck_assert_int_eq(npeers(1), 0);
	ac_sock_close(RL.l);
	tep_close(RL.up);
	tep_close(RL.down);
	free(RL.up);
	free(RL.down);
	tls_world_fini();
}
END_TEST

/* ---- the key log ------------------------------------------------------------------- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	ck_assert_msg(f != NULL, "%s missing", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* The lines of a key log, each checked: "LABEL <64 hex> <hex>". */
static int keylog_lines(const char *path)
{
	char *all = slurp(path), *line, *save = NULL;
	int n = 0;
	ck_assert_msg(all[0] == '\0' || all[strlen(all) - 1] == '\n', "cut line");
	for (line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char label[64], rnd[80], secret[160];
		ck_assert_msg(sscanf(line, "%63s %79s %159s", label, rnd, secret) == 3,
		              "bad line: %s", line);
		ck_assert_msg(strstr(label, "SECRET") != NULL, "bad label: %s", label);
		ck_assert_uint_eq(strlen(rnd), 64);
		n++;
	}
	free(all);
	return n;
}

START_TEST(test_keylog)
{
	char k0[PATHLEN], k1[PATHLEN], rnd[65];
	char *a, *b, *p;
	tls_world();
	snprintf(k0, PATHLEN, "%s/keys0.log", W.dir);
	snprintf(k1, PATHLEN, "%s/keys1.log", W.dir);
	CK_OK(tls_node_try(0, F.b, NULL, F.ca, k0));
	setenv("SSLKEYLOGFILE", k1, 1);
	CK_OK(tls_node_try(1, F.c, NULL, F.ca, NULL));
	unsetenv("SSLKEYLOGFILE");
	ck_assert(logged(0, "writing session keys") && logged(1, "writing session keys"));
	world_peer(1, 0);
	a = slurp(k0);
	b = slurp(k1);
	ck_assert_ptr_nonnull(strstr(a, "CLIENT_HANDSHAKE_TRAFFIC_SECRET "));
	ck_assert_ptr_nonnull(strstr(a, "SERVER_TRAFFIC_SECRET_0 "));
	ck_assert_ptr_nonnull(strstr(b, "CLIENT_TRAFFIC_SECRET_0 "));
	/* One session, one client random, in both logs. */
	p = strstr(b, "CLIENT_TRAFFIC_SECRET_0 ");
	memcpy(rnd, p + strlen("CLIENT_TRAFFIC_SECRET_0 "), 64);
	rnd[64] = '\0';
	ck_assert_ptr_nonnull(strstr(a, rnd));
	free(a);
	free(b);
	/* A third node appends to node 0's file: both write whole lines. */
	CK_OK(tls_node_try(2, F.c, NULL, F.ca, k0));
	ck_assert_int_eq(keylog_lines(k0), 5);
	world_peer(0, 2);
	ck_assert_int_eq(keylog_lines(k0), 15); /* 5 per side per session */
	tls_world_fini();
}
END_TEST

/* ---- hostile input ------------------------------------------------------------------ */

enum { H_GARBAGE, H_STALL, H_TLS12, H_TRUNCATED, H_NOTIFY, H_NCASES };

static struct hostile {
	int which;
	int done;
	int closed; /* the node closed the connection */
} HS;

/* Wait until the node closes k (end of stream or reset). */
static int wait_closed(ac_sock *k, int64_t ms)
{
	char buf[512];
	int64_t end = wall_ms() + ms;
	while (wall_ms() < end) {
		ssize_t r = ac_sock_recv(k, buf, sizeof(buf), 500);
		if (r == 0 || (r < 0 && r != -ETIMEDOUT))
			return 1;
	}
	return 0;
}

static void hostile_tls(ac_sock *k)
{
	static tep t; /* too large for a coroutine's stack */
	uint8_t rec[15] = {0x17, 0x03, 0x03, 0x00, 0xc8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	uint8_t half[6] = {0, 0, 0, 100, AC_WT_HELLO, 0};
	int maxver = HS.which == H_TLS12 ? TLS1_2_VERSION : 0;
	int rc = tep_open(&t, k, tep_ctx(&IDA, maxver), 0);
	if (HS.which == H_TLS12) {
		ck_assert_int_eq(rc, -1); /* refused */
	} else if (HS.which == H_TRUNCATED) {
		CK_OK(rc);
		/* A record header announcing 200 bytes, 10 of them, then the end. */
		ck_assert_int_eq(ac_sock_send_all(k, rec, sizeof(rec), LONG_MS), sizeof(rec));
		ac_sock_shutdown(k);
	} else {
		CK_OK(rc);
		/* Half a frame header, then close_notify. */
		CK_OK(tep_write(&t, half, sizeof(half)));
		ck_assert_int_eq(SSL_shutdown(t.ssl), 0);
		CK_OK(tep_flush(&t));
	}
	HS.closed = wait_closed(k, 3 * LONG_MS / 2);
	tep_close(&t);
}

static void body_hostile(void *arg)
{
	ac_sock *k;
	(void)arg;
	CK_OK(ac_sock_connect(&W.loc[0], LONG_MS, &k));
	if (HS.which == H_GARBAGE) {
		const char *g = "GET / HTTP/1.0\r\n\r\n";
		ck_assert_int_eq(ac_sock_send_all(k, g, strlen(g), LONG_MS), strlen(g));
		HS.closed = wait_closed(k, LONG_MS);
	} else if (HS.which == H_STALL) {
		static const uint8_t part[3] = {0x16, 0x03, 0x01};
		ck_assert_int_eq(ac_sock_send_all(k, part, 3, LONG_MS), 3);
		HS.closed = wait_closed(k, 3 * LONG_MS / 2);
	} else {
		hostile_tls(k);
	}
	ac_sock_close(k);
	HS.done = 1;
}

/* What node 0 logs for each case. */
static const char *const hostile_log[H_NCASES] = {
	"garbage instead of a ClientHello", "the TLS handshake stalled",
	"TLS handshake failed", "truncated", "Bad message"
};

START_TEST(test_hostile)
{
	int r;
	tls_world();
	memset(&HS, 0, sizeof(HS));
	HS.which = _i;
	tls_node(F.b, NULL, F.ca);
	tls_node(F.c, NULL, F.ca);
	r = world_sched();
	spawn_on(r, body_hostile, NULL);
	RUN_UNTIL(HS.done, 1, 2 * LONG_MS);
	ck_assert_msg(HS.closed, "node 0 kept the connection open");
	ck_assert_msg(logged(0, hostile_log[_i]), "node 0 did not log \"%s\"",
	              hostile_log[_i]);
	ck_assert_int_eq(npeers(0), 0);
	/* It still serves a good peer. */
	world_peer(1, 0);
	tls_world_fini();
}
END_TEST

/* ---- after the handshake: a raw TLS peer that knows the secret ----------------------- */

static int tep_read_all(tep *t, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = tep_read(t, (uint8_t *)buf + got, len - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* One frame: its type, flags, id; body into buf (cap bytes), *len. */
static void tep_frame(tep *t, uint8_t *type, uint8_t *flags, uint32_t *id,
                      uint8_t *buf, size_t cap, size_t *len)
{
	uint8_t hdr[AC_WIRE_HDR];
	CK_OK(tep_read_all(t, hdr, sizeof(hdr)));
	*type = hdr[4];
	*flags = hdr[5];
	*id = ac_wire_get32(hdr + 8);
	*len = ac_wire_get32(hdr) - (AC_WIRE_HDR - 4);
	ck_assert_uint_le(*len, cap);
	if (*len)
		CK_OK(tep_read_all(t, buf, *len));
}

static void tep_send_frame(tep *t, uint8_t type, uint32_t id, const void *body,
                           size_t len)
{
	uint8_t f[AC_WIRE_HDR + 512];
	ck_assert_uint_le(len, 512);
	ac_wire_hdr_put(f, type, 0, id, (uint32_t)len);
	if (len)
		memcpy(f + AC_WIRE_HDR, body, len);
	CK_OK(tep_write(t, f, AC_WIRE_HDR + len));
}

/* HMAC(secret, label | nc | ns | exporter of t's session). */
static void tep_mac(tep *t, char label, const uint8_t *nc, const uint8_t *ns,
                    uint8_t *mac)
{
	static const char lab[] = "EXPORTER-asyncoro-handshake";
	uint8_t buf[1 + 3 * 32];
	unsigned int len = AC_WIRE_MAC;
	buf[0] = (uint8_t)label;
	memcpy(buf + 1, nc, 32);
	memcpy(buf + 33, ns, 32);
	ck_assert_int_eq(SSL_export_keying_material(t->ssl, buf + 65, 32, lab,
	                                            strlen(lab), NULL, 0, 0), 1);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), "s", 1, buf, sizeof(buf), mac, &len));
}

/* The secret handshake inside t as node "raw". */
static void tep_auth(tep *t)
{
	uint8_t nc[32], buf[1024], mac[AC_WIRE_MAC], type, flags;
	const void *ns, *mac_s;
	char name[AC_WIRE_NAME_MAX + 1];
	uint64_t magic, ver, inc, caps, udp;
	size_t len, nlen, mlen;
	uint32_t id;
	ac_addr fake = W.loc[0], loc;
	void *b;
	memset(nc, 7, sizeof(nc));
	fake.port = closed_port();
	CK_OK(ac_pack(&b, &len, "[u u S s l u u u]", (uint64_t)AC_WIRE_MAGIC,
	              (uint64_t)AC_WIRE_VERSION, nc, (size_t)32, "raw", &fake,
	              (uint64_t)0x1234567890abcdefULL, (uint64_t)0, (uint64_t)0));
	tep_send_frame(t, AC_WT_HELLO, 0, b, len);
	free(b);
	tep_frame(t, &type, &flags, &id, buf, sizeof(buf), &len);
	ck_assert_int_eq(type, AC_WT_HELLO_ACK);
	CK_OK(ac_unpack(buf, len, "[u u S s l u u u S]", &magic, &ver, &ns, &nlen,
	                name, sizeof(name), &loc, &inc, &caps, &udp, &mac_s, &mlen));
	ck_assert_uint_eq(caps & 2, 2); /* AC_CAP_TLS */
	tep_mac(t, 'S', nc, ns, mac);
	ck_assert_msg(memcmp(mac, mac_s, AC_WIRE_MAC) == 0, "node 0's proof");
	tep_mac(t, 'C', nc, ns, mac);
	CK_OK(ac_pack(&b, &len, "[S]", mac, (size_t)AC_WIRE_MAC));
	tep_send_frame(t, AC_WT_AUTH, 0, b, len);
	free(b);
	tep_frame(t, &type, &flags, &id, buf, sizeof(buf), &len);
	ck_assert_int_eq(type, AC_WT_AUTH_OK);
}

/* A PING with id want and its reply (other frames are skipped). */
static void tep_ping(tep *t, uint32_t want)
{
	static uint8_t buf[AC_WIRE_BODY_MAX];
	uint8_t type, flags;
	uint32_t id;
	size_t len;
	tep_send_frame(t, AC_WT_PING, want, NULL, 0);
	do
		tep_frame(t, &type, &flags, &id, buf, sizeof(buf), &len);
	while (!(type == AC_WT_PING && (flags & AC_WF_REPLY) && id == want));
}

static struct post {
	int which; /* 0: KeyUpdates; 1: half a frame, then close_notify; 2: a
	            * NewSessionTicket; 3: a malformed KeyUpdate */
	int done;
	int closed;
	uint8_t sec[AC_TLS_SECRET_MAX]; /* the client's traffic secret 0 */
	size_t seclen;
} PH;

static void post_keylog(const SSL *ssl, const char *line)
{
	static const char lab[] = "CLIENT_TRAFFIC_SECRET_0 ";
	const char *hex = strrchr(line, ' ') + 1;
	size_t i;
	(void)ssl;
	if (strncmp(line, lab, strlen(lab)) != 0)
		return;
	PH.seclen = strlen(hex) / 2;
	ck_assert_uint_le(PH.seclen, AC_TLS_SECRET_MAX);
	for (i = 0; i < PH.seclen; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		PH.sec[i] = (uint8_t)v;
	}
}

/* After t's KeyUpdate (its write key now secret 1, sequence 0), one record
 * of handshake content msg sealed under that key by our record layer (the
 * KeyUpdate before it, made to move the key, is not sent). */
static void post_forged(tep *t, const uint8_t *msg, size_t len)
{
	static uint8_t out[AC_TLS_REC_KU + 64 + AC_TLS_REC_OVER];
	ac__tls_rec r;
	ssize_t n;
	ck_assert_uint_le(len, 64);
	ck_assert_int_eq(SSL_key_update(t->ssl, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
	ck_assert_int_eq(SSL_do_handshake(t->ssl), 1);
	CK_OK(tep_flush(t));
	CK_OK(ac__tls_rec_init(&r, SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(t->ssl)),
	                       PH.sec, PH.sec, PH.seclen));
	r.r_w.d_owed = 1;
	n = ac__tls_rec_seal(&r, AC_TLS_CT_HANDSHAKE, msg, len, out);
	ck_assert_int_eq(n, (ssize_t)(AC_TLS_REC_KU + len + AC_TLS_REC_OVER));
	ck_assert_uint_eq(r.r_w.d_seq, 1);
	CK_OK(ac_sock_send_all(t->k, out + AC_TLS_REC_KU, (size_t)n - AC_TLS_REC_KU,
	                       LONG_MS));
	ac__tls_rec_fini(&r);
}

static void body_post(void *arg)
{
	static tep t;
	static const uint8_t half[6] = {0, 0, 0, 100, AC_WT_PING, 0};
	static const uint8_t nst[9] = {4, 0, 0, 5, 0, 0, 0, 0, 0};
	static const uint8_t badku[5] = {24, 0, 0, 1, 9};
	SSL_CTX *ctx = tep_ctx(&IDA, 0);
	ac_sock *k;
	int i;
	(void)arg;
	SSL_CTX_set_keylog_callback(ctx, post_keylog);
	CK_OK(ac_sock_connect(&W.loc[0], LONG_MS, &k));
	CK_OK(tep_open(&t, k, ctx, 0));
	tep_auth(&t);
	tep_ping(&t, 7);
	tep_ping(&t, 8);
	if (PH.which == 0) {
		/* KeyUpdates, each followed by a ping the node answers: with
		 * update_requested its answer comes under its next key. */
		for (i = 0; i < 6; i++) {
			ck_assert_int_eq(SSL_key_update(t.ssl, i % 2 ? SSL_KEY_UPDATE_REQUESTED
			                                             : SSL_KEY_UPDATE_NOT_REQUESTED), 1);
			tep_ping(&t, 9 + (uint32_t)i);
		}
		ck_assert_int_eq(SSL_shutdown(t.ssl), 0);
	} else if (PH.which == 1) {
		/* Half a frame header, then close_notify. */
		CK_OK(tep_write(&t, half, sizeof(half)));
		ck_assert_int_eq(SSL_shutdown(t.ssl), 0);
	} else {
		post_forged(&t, PH.which == 2 ? nst : badku,
		            PH.which == 2 ? sizeof(nst) : sizeof(badku));
	}
	CK_OK(tep_flush(&t));
	PH.closed = wait_closed(k, LONG_MS);
	tep_close(&t);
	ac_sock_close(k);
	PH.done = 1;
}

START_TEST(test_post_handshake)
{
	int r;
	tls_world();
	memset(&PH, 0, sizeof(PH));
	PH.which = _i;
	tls_node(F.b, NULL, F.ca);
	tls_node(F.c, NULL, F.ca);
	r = world_sched();
	spawn_on(r, body_post, NULL);
	RUN_UNTIL(PH.done, 1, 2 * LONG_MS);
	ck_assert(PH.closed);
	ck_assert(logged(0, "peer \"raw\""));
	if (_i == 0)
		ck_assert_msg(!logged(0, "after the handshake"), "a KeyUpdate refused");
	else if (_i == 1)
		ck_assert_msg(logged(0, "closed: Bad message"), "no log of the cut frame");
	else if (_i == 2)
		ck_assert_msg(logged(0, "a TLS NewSessionTicket after the handshake"),
		              "no log of the NewSessionTicket refused");
	else
		ck_assert_msg(logged(0, "not one well-formed KeyUpdate"),
		              "no log of the malformed KeyUpdate refused");
	world_peer(1, 0);
	tls_world_fini();
}
END_TEST

/* ---- determinism in the simulator -------------------------------------------------------- */

static struct simrun {
	char *pem;
	size_t pem_len;
	ac_node *node[2];
	int rc;
	int done;
} SR;

/* PEM (certificate + key) of a self-signed certificate valid [from, to]. */
static void sim_pem(time_t from, time_t to)
{
	ident d = mkcert("sim", NULL, 1, from, to, NULL);
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;
	ck_assert_int_eq(PEM_write_bio_X509(b, d.cert), 1);
	ck_assert_int_eq(PEM_write_bio_PrivateKey(b, d.key, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(b, &p);
	free(SR.pem);
	SR.pem = malloc((size_t)n);
	ck_assert_ptr_nonnull(SR.pem);
	memcpy(SR.pem, p, (size_t)n);
	SR.pem_len = (size_t)n;
	BIO_free(b);
	ident_free(&d);
}

/* Write the PEM into a simulated node's filesystem. */
static void sim_put(ac_sim_node *sn)
{
	ac_io *io = ac_sim_node_io(sn);
	int h;
	io->ops->file_mkdir(io, "/tls", 0700);
	CK_OK(io->ops->file_open(io, "/tls/node.pem",
	                         AC_FO_WRITE | AC_FO_CREATE | AC_FO_TRUNC, 0600, &h));
	ck_assert_int_eq(io->ops->file_pwrite(io, h, SR.pem, SR.pem_len, 0),
	                 (int64_t)SR.pem_len);
	CK_OK(io->ops->file_close(io, h));
}

static void sim_echo(void *arg)
{
	ac_msg *m;
	(void)arg;
	if (ac_register("echo") < 0)
		return;
	while (ac_receive(AC_FOREVER, &m) == 0)
		if (ac_send(ac_msg_from(m), m) < 0)
			ac_msg_free(m);
}

static void sim_client(void *arg)
{
	ac_ref r;
	ac_msg *m;
	int i;
	(void)arg;
	SR.rc = ac_node_peer(SR.node[1], "10.0.0.1:7000", 0, 1, 0, 5000);
	for (i = 0; SR.rc == 0 && i < 20; i++) {
		SR.rc = ac_locate("echo", NULL, 5000, &r);
		if (SR.rc == 0)
			SR.rc = ac_send(r, ac_msg_str("ping"));
		if (SR.rc == 0)
			SR.rc = ac_receive(5000, &m);
		if (SR.rc == 0 && !ac_msg_is(m, "ping"))
			SR.rc = -EBADMSG;
		if (SR.rc == 0)
			ac_msg_free(m);
	}
	SR.done = 1;
}

/* Node i's program on s (simulated, or replaying node i's record). */
static void sim_start(ac_sched *s, int i)
{
	ac_spawn_opts d = {.name = "echo", .daemon = 1};
	ac_node_opts o;
	char addr[32];
	snprintf(addr, sizeof(addr), "10.0.0.%d", i + 1);
	ac_node_opts_init(&o);
	o.node = addr;
	o.tcp_port = 7000;
	o.discover_peers = 0;
	o.secret = "sim";
	o.certfile = "/tls/node.pem";
	o.dest_path = "/dest";
	if (ac_node_start(s, &o, &SR.node[i]) < 0) {
		SR.rc = -EINVAL;
		SR.done = 1;
		return;
	}
	if (i == 0)
		ac_spawn(s, sim_echo, NULL, &d, NULL);
	else
		ac_spawn(s, sim_client, NULL, NULL, NULL);
}

static void sim_main(ac_sim_node *sn, void *arg)
{
	sim_start(ac_sim_node_sched(sn), (int)(intptr_t)arg);
}

static int sim_done(ac_sim *w, void *arg)
{
	(void)w;
	(void)arg;
	return SR.done;
}

/* One simulated run of two TLS nodes: the trace hash; *rc the client's. */
static uint64_t sim_run_rec(uint64_t seed, const char *record_dir, int *rc)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_node *sn[2];
	uint64_t h;
	int i;
	SR.done = 0;
	SR.rc = 0;
	ac_sim_opts_init(&o);
	o.seed = seed;
	o.record_dir = record_dir;
	CK_OK(ac_sim_new(&o, &w));
	for (i = 0; i < 2; i++) {
		CK_OK(ac_sim_node_add(w, NULL, &sn[i]));
		sim_put(sn[i]);
		CK_OK(ac_sim_node_set_main(sn[i], sim_main, (void *)(intptr_t)i));
	}
	ac_sim_run(w, sim_done, NULL);
	ck_assert_msg(SR.done, "the simulated run did not finish");
	h = ac_sim_trace_hash(w);
	ac_sim_free(w);
	*rc = SR.rc;
	return h;
}

static uint64_t sim_run(uint64_t seed, int *rc)
{
	return sim_run_rec(seed, NULL, rc);
}

START_TEST(test_sim_determinism)
{
	uint64_t h1, h2, h3;
	int rc;
	memset(&SR, 0, sizeof(SR));
	/* Valid 2020..2033: the virtual wall clock starts in 2023. */
	sim_pem(1577836800, 2000000000);
	h1 = sim_run(7, &rc);
	CK_OK(rc);
	h2 = sim_run(7, &rc);
	CK_OK(rc);
	h3 = sim_run(8, &rc);
	CK_OK(rc);
	ck_assert_msg(h1 == h2, "seed 7 hashed %016llx then %016llx",
	              (unsigned long long)h1, (unsigned long long)h2);
	ck_assert(h1 != h3);
	/* Valid from yesterday (real time): not yet valid in virtual time. */
	sim_pem(time(NULL) - DAY, time(NULL) + DAY);
	sim_run(7, &rc);
	CK_RC(rc, -EKEYREJECTED);
	free(SR.pem);
	SR.pem = NULL;
}
END_TEST

/* A record of the TLS client node replays: the same program against the
 * record (PEM file, entropy, clock and every TLS byte from it) runs its 20
 * round trips again without diverging (a divergence ends the process). */
START_TEST(test_sim_replay)
{
	char dir[64], path[128];
	ac_sched_opts so;
	ac_sched *s;
	ac_io *rp;
	uint64_t events = 0;
	int rc;
	memset(&SR, 0, sizeof(SR));
	snprintf(dir, sizeof(dir), "/tmp/ac-check-tls-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	sim_pem(1577836800, 2000000000);
	sim_run_rec(7, dir, &rc);
	CK_OK(rc);
	snprintf(path, sizeof(path), "%s/node2.1.acrec", dir);
	CK_OK(ac_io_replay_new(path, &rp));
	ac_sched_opts_init(&so);
	so.io = rp;
	so.name = "node2";
	CK_OK(ac_sched_new(&so, &s));
	SR.done = 0;
	SR.rc = -1;
	ac_sched_step(s);
	sim_start(s, 1);
	while (ac_io_replay_wants_poll(rp))
		ac_sched_step(s);
	ck_assert_msg(SR.done, "the replayed client did not finish");
	CK_OK(SR.rc);
	ac_sched_free(s);
	ac_io_record_hash(rp, &events);
	ck_assert_uint_gt(events, 100);
	ac_io_replay_free(rp);
	unlink(path);
	snprintf(path, sizeof(path), "%s/node1.1.acrec", dir);
	unlink(path);
	rmdir(dir);
	free(SR.pem);
	SR.pem = NULL;
}
END_TEST

static Suite *net_tls_suite(void)
{
	Suite *s = suite_create("net_tls");
	TCase *tc = tcase_create("verify");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_selfsigned);
	tcase_add_loop_test(tc, test_refuse, 0, 2 * R_NCASES);
	tcase_add_test(tc, test_bad_files);
	tcase_add_loop_test(tc, test_mismatch, 0, 2);
	tcase_add_test(tc, test_secret);
	tcase_add_test(tc, test_relay);
	tcase_add_test(tc, test_keylog);
	suite_add_tcase(s, tc);
	tc = tcase_create("requests");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_requests);
	tcase_add_test(tc, test_stream_send_off);
	tcase_add_test(tc, test_liveness);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_hostile, 0, H_NCASES);
	tcase_add_loop_test(tc, test_post_handshake, 0, 4);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sim_determinism);
	tcase_add_test(tc, test_sim_replay);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return net_harness_main(net_tls_suite());
}
