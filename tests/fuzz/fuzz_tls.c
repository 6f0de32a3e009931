/* tests/fuzz/fuzz_tls.c: fuzz target of the TLS path (net/tls.c and the
 * handshake above it, net/peer.c): a stranger's byte stream against a
 * real node with certfile set, in the simulator (tests/fuzz/fuzz_net.h,
 * FZ_NET_TLS). The first input byte is a mode:
 *   bit 0 clear  the rest is the raw stream, ClientHello on: garbage and
 *                truncated records, plaintext asyncoro, and (from the
 *                seeds) a real client's bytes with mutations;
 *   bit 0 set    the harness first completes a real TLS 1.3 handshake as
 *                a client with OpenSSL through memory BIOs (it presents
 *                the certificate the node trusts: acsim's test one), then
 *                sends the rest as application data, so it reaches the
 *                asyncoro handshake and frames decrypted;
 *   bit 1 set    the stream is written in pieces of 1..64 bytes (sizes
 *                taken from the input's bytes) instead of at once;
 *   bit 2 set    before writing, the harness stalls for 6 s of virtual
 *                time (past the node's 5 s handshake step).
 * Then it reads what the node answers until the node closes or stays
 * silent for 2 s (virtual), and closes. The properties are the node's, as
 * for the frames target: no crash, no sanitizer report, no library
 * assertion, the canary and the world's bounds. The client's own
 * randomness (its ClientHello random and key share) is OpenSSL's, not the
 * world's: inputs of mode bit 0 take different bytes on every run, which
 * the node must take the same way.
 *
 * FUZZ_TLS_SAVE=PATH (with replay_tls and one input of bit 0 set) writes
 * the bytes the client sent on the wire, behind a mode byte 0, to PATH:
 * tests/fuzz/seeds.sh makes the "real handshake" seeds that way.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_net.h"

/* The client's side of a TLS session over an engine socket. */
typedef struct tl_cli {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in;  /* what came from the node, for OpenSSL to read */
	BIO *out; /* what OpenSSL wrote, for the node */
	ac_sock *k;
	FILE *save;
} tl_cli;

static uint8_t tl_buf[16384];

/* Move what OpenSSL wrote onto the socket. 0 or -1. */
static int tl_flush(tl_cli *c)
{
	int n;
	while ((n = BIO_read(c->out, tl_buf, sizeof(tl_buf))) > 0) {
		if (c->save)
			fwrite(tl_buf, 1, (size_t)n, c->save);
		if (ac_sock_send_all(c->k, tl_buf, (size_t)n, 5000) != n)
			return -1;
	}
	return 0;
}

/* Feed OpenSSL what the node sends next (waits up to ms). 0 or -1. */
static int tl_fill(tl_cli *c, int64_t ms)
{
	ssize_t r = ac_sock_recv(c->k, tl_buf, sizeof(tl_buf), ms);
	if (r <= 0)
		return -1;
	return BIO_write(c->in, tl_buf, (int)r) == (int)r ? 0 : -1;
}

/* The certificate and key on the attacker's disk (fuzz_net.c put them). */
static int tl_load(SSL_CTX *ctx)
{
	static char pem[8192];
	ac_io *io = ac_sched_io(ac_sched_self());
	X509 *x = NULL;
	EVP_PKEY *key = NULL;
	BIO *b;
	int64_t n;
	int h, ok = 0;
	fz_check(io->ops->file_open(io, FZ_TLS_CERT, AC_FO_READ, 0, &h) == 0);
	n = io->ops->file_pread(io, h, pem, sizeof(pem), 0);
	io->ops->file_close(io, h);
	fz_check(n > 0 && n < (int64_t)sizeof(pem));
	b = BIO_new_mem_buf(pem, (int)n);
	if (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL &&
	    (key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) != NULL &&
	    SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
	    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), x) == 1)
		ok = 1;
	X509_free(x);
	EVP_PKEY_free(key);
	BIO_free(b);
	return ok ? 0 : -1;
}

static void tl_close(tl_cli *c)
{
	SSL_free(c->ssl); /* frees the BIOs too */
	SSL_CTX_free(c->ctx);
	if (c->save)
		fclose(c->save);
	ERR_clear_error();
}

/* A real TLS 1.3 handshake as a client. 0 when it completed. */
static int tl_connect(tl_cli *c)
{
	int i;
	c->ctx = SSL_CTX_new(TLS_client_method());
	fz_check(c->ctx != NULL);
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	fz_check(tl_load(c->ctx) == 0);
	c->ssl = SSL_new(c->ctx);
	c->in = BIO_new(BIO_s_mem());
	c->out = BIO_new(BIO_s_mem());
	fz_check(c->ssl && c->in && c->out);
	SSL_set_bio(c->ssl, c->in, c->out);
	SSL_set_connect_state(c->ssl);
	for (i = 0; i < 64; i++) {
		int r = SSL_do_handshake(c->ssl);
		if (tl_flush(c) < 0)
			return -1;
		if (r == 1)
			return 0;
		if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ || tl_fill(c, 5000) < 0)
			return -1;
	}
	return -1;
}

/* Write p[0..n): raw, or through the session; at once or in pieces. */
static int tl_write(tl_cli *c, const uint8_t *p, size_t n, int mode)
{
	size_t at = 0, i = 0;
	while (at < n) {
		size_t piece = (mode & 2) ? (size_t)(1 + p[i++ % n] % 64) : n - at;
		if (piece > n - at)
			piece = n - at;
		if (!(mode & 1)) {
			if (ac_sock_send_all(c->k, p + at, piece, 5000) != (ssize_t)piece)
				return -1;
		} else if (SSL_write(c->ssl, p + at, (int)piece) != (int)piece ||
		           tl_flush(c) < 0) {
			return -1;
		}
		at += piece;
	}
	return 0;
}

/* Read the node's answers (decrypted in mode bit 0) until the end or a
 * quiet spell. */
static void tl_drain(tl_cli *c, int mode)
{
	static uint8_t plain[16384];
	int i;
	for (i = 0; i < 4096; i++) {
		if (!(mode & 1)) {
			if (ac_sock_recv(c->k, tl_buf, sizeof(tl_buf), 2000) <= 0)
				return;
			continue;
		}
		int r = SSL_read(c->ssl, plain, sizeof(plain));
		if (r > 0)
			continue;
		if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ)
			return; /* closed, or the session failed */
		if (getenv("FUZZ_LOG"))
			fprintf(stderr, "[atk] waiting for TLS records\n");
		tl_flush(c); /* a KeyUpdate answer, an alert */
		if (tl_fill(c, 2000) < 0)
			return;
	}
}

static void tl_attack(fz_net *net)
{
	int mode = net->len ? net->in[0] : 0;
	const uint8_t *p = net->in + (net->len ? 1 : 0);
	size_t n = net->len ? net->len - 1 : 0;
	const char *save = getenv("FUZZ_TLS_SAVE");
	tl_cli c;
	memset(&c, 0, sizeof(c));
	if (ac_sock_connect(&net->srv, 5000, &c.k) < 0)
		fz_fail("cannot connect to the node");
	if ((mode & 1) && save && (c.save = fopen(save, "wb")) != NULL)
		fputc(0, c.save);
	if (mode & 4)
		ac_sleep(6000);
	if ((mode & 1) && tl_connect(&c) < 0) {
		if (getenv("FUZZ_LOG"))
			fprintf(stderr, "[atk] TLS handshake failed: %s\n",
			        ERR_reason_error_string(ERR_peek_error()));
		tl_close(&c);
		ac_sock_close(c.k);
		return;
	}
	if (getenv("FUZZ_LOG") && (mode & 1))
		fprintf(stderr, "[atk] TLS handshake done\n");
	if (tl_write(&c, p, n, mode) < 0) {
		tl_close(&c);
		ac_sock_close(c.k);
		return;
	}
	tl_drain(&c, mode);
	tl_close(&c);
	ac_sock_close(c.k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_net_run_ex(data, size, FZ_NET_TLS, tl_attack);
	return 0;
}
