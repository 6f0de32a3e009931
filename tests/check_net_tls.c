/* tests/check_net_tls.c: TLS between nodes (dis.h certfile/keyfile/cafile,
 * net/tls.c) over real loopback TCP, with certificates made at run time by
 * OpenSSL's API in the test's directory (no key is committed): a CA, node
 * certificates it signed, an expired one, a not-yet-valid one, one from
 * another CA, a forged one (the CA's name, another key's signature), and a
 * self-signed certificate+key in one file (the spec's recipe).
 *
 * Cases: the shared self-signed model; CA-signed certificates with a
 * separate keyfile and every request type over TLS (send, deliver, locate,
 * node locate, monitor, channels, RCI, send_file of a file with its content
 * checked); each refusal reason in both directions (-EKEYREJECTED, reason
 * logged on both sides); a key that does not match its certificate;
 * plaintext/TLS mismatch both ways (-ENOPROTOOPT, logged on both sides);
 * a wrong secret inside TLS; a relay that terminates TLS on both sides and
 * forwards the secret handshake (the exporter binding makes it fail); the
 * key log (option and SSLKEYLOGFILE); hostile input (garbage instead of a
 * ClientHello, a stalled handshake, a TLS 1.2 client, a truncated record, a
 * close_notify in the middle of a frame) after which the node still serves
 * a good peer; and determinism: a simulated TLS world hashes the same for
 * one seed (and certificates are checked against virtual time there).
 */
#include "tests/net_harness.h"

#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

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

/* A world and its certificates. */
static void tls_world(void)
{
	world_init(0, 0);
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
	o->secret = "s";
	o->dest_path = dest;
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

START_TEST(test_selfsigned)
{
	echo e;
	tls_world();
	tls_node(F.ss, NULL, NULL);
	tls_node(F.ss, NULL, NULL);
	world_peer(1, 0);
	start_echo(0, &e, "echo");
	ck_assert(logged(0, "online"));
	ck_assert(!logged(0, "failed") && !logged(1, "failed"));
	tls_world_fini();
}
END_TEST

static Suite *net_tls_suite(void)
{
	Suite *s = suite_create("net_tls");
	TCase *tc = tcase_create("verify");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_selfsigned);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return net_harness_main(net_tls_suite());
}
