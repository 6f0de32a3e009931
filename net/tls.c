/* net/tls.c: TLS 1.3 between nodes with OpenSSL 3 through memory BIOs (see
 * net/tls.h for the contract).
 *
 * A session's SSL object has one BIO of our own (tls_bio_meth) over two
 * buffers of the session: it reads the encrypted bytes that were received
 * on the ac_sock straight out of t_ibuf, and appends the records it makes
 * to t_obuf, which is sent from where it is — one copy of each encrypted
 * byte fewer each way than a pair of memory BIOs. OpenSSL calls never
 * block and never yield, the waiting happens in ac_sock calls (io.h) in
 * between. Two locks order the socket: t_wlock makes one ac__tls_send_all
 * at a time (whole batches stay whole), t_slock makes one coroutine at a
 * time send encrypted bytes (the reader may have to send too: a KeyUpdate
 * answer), so records leave in the order OpenSSL made them; the sender
 * swaps t_obuf with the spare t_sbuf and sends that, so OpenSSL can go on
 * appending to t_obuf meanwhile.
 *
 * After the handshake our record layer (net/tls_rec.h) takes over, as
 * kernel TLS offload would (tls_takeover): the key log callback, always
 * installed, hands it the two application traffic secrets; the writer
 * seals records of up to 16 KiB straight into t_obuf (up to TLS_CHUNK
 * bytes of content per flush), the reader opens them in place in t_ibuf
 * and copies their content out. KeyUpdates are the record layer's: the
 * writer's seal puts one before a record every AC_TLS_REC_UPDATE_EVERY
 * records, the reader takes the peer's (an update_requested one is
 * answered by the writer's next seal), so the reader still never sends.
 * OpenSSL keeps the session for the exporter value, and all of
 * it if the takeover cannot happen (another suite, bytes it already took).
 *
 * Determinism: a RAND_METHOD installed once draws from the io entropy of
 * the node OpenSSL is working for (tls_cur_io, set around every OpenSSL
 * call of a node), and from OpenSSL's own generator outside such calls;
 * each session's verification time is the node's wall clock (io.h); session
 * tickets and the session cache (which read time()) are off. Our record
 * layer draws no randomness.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* RAND_METHOD: the one hook for all */
#include "net/tls.h"
#include "net/tls_rec.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Largest PEM file read. */
#define TLS_FILE_MAX (1 << 20)
/* Plaintext per SSL_write, and encrypted bytes per socket read. */
#define TLS_CHUNK (64 * 1024)
#define TLS_NETBUF (TLS_CHUNK + 1024)
/* First size of the output buffers (they grow to what one flush needs). */
#define TLS_OBUF_MIN (16 * 1024)
/* The exporter label (RFC 8446 7.5). */
#define TLS_LABEL "EXPORTER-asyncoro-handshake"

struct ac__tls_ctx {
	int c_refs;
	SSL_CTX *c_ssl;
	ac_io *c_io;
	/* Key log file handle (-1: none); lines are appended. */
	int c_keylog;
};

struct ac__tls {
	int t_refs;
	ac__tls_ctx *t_ctx;
	ac_node *t_node;
	ac_sock *t_sock;
	SSL *t_ssl;
	ac_lock t_wlock;
	ac_lock t_slock;
	/* Encrypted bytes received and not yet read by OpenSSL:
	 * t_ibuf[t_ipos..t_ilen) of TLS_NETBUF. */
	uint8_t *t_ibuf;
	size_t t_ipos;
	size_t t_ilen;
	/* Encrypted bytes OpenSSL made and nobody sends yet: t_obuf[0..t_olen)
	 * of t_ocap; t_sbuf (t_scap) is the spare the holder of t_slock swaps
	 * in and sends from. */
	uint8_t *t_obuf;
	size_t t_olen;
	size_t t_ocap;
	uint8_t *t_sbuf;
	size_t t_scap;
	/* A fatal failure (sticky) and its reason. */
	int t_err;
	char t_why[160];
	/* The last alert the peer sent (-1: none). */
	int t_alert;
	/* After the handshake, our record layer (net/tls_rec.h) instead of
	 * OpenSSL's (NULL: OpenSSL's throughout): records are opened in place
	 * in t_ibuf, their content t_ibuf[t_ppos..t_pend) not yet taken;
	 * t_eof once the peer's close_notify was opened. */
	ac__tls_rec *t_rec;
	size_t t_ppos;
	size_t t_pend;
	int t_eof;
	/* The application traffic secrets (client's, server's) the key log
	 * callback saw during the handshake; wiped when t_rec takes them. */
	uint8_t t_sec[2][AC_TLS_SECRET_MAX];
	size_t t_seclen[2];
};

/* ---- randomness from io.h ---------------------------------------------------- */

/* The io whose entropy OpenSSL uses now (NULL: OpenSSL's own). */
static __thread ac_io *tls_cur_io;
static const RAND_METHOD *tls_rand_prev;
static CRYPTO_ONCE tls_once = CRYPTO_ONCE_STATIC_INIT;
/* The sessions' BIO (made once, kept for the life of the process). */
static BIO_METHOD *tls_bio_meth;

static int tls_rand_bytes(unsigned char *buf, int num)
{
	if (num < 0)
		return 0;
	if (tls_cur_io) {
		tls_cur_io->ops->entropy(tls_cur_io, buf, (size_t)num);
		return 1;
	}
	return tls_rand_prev->bytes(buf, num);
}

static int tls_rand_status(void)
{
	return 1;
}

static RAND_METHOD tls_rand_meth = {
	.bytes = tls_rand_bytes,
	.pseudorand = tls_rand_bytes,
	.status = tls_rand_status,
};

static void tls_bio_install(void);

/* Once per process: the randomness hook and the sessions' BIO method. */
static void tls_rand_install(void)
{
	tls_rand_prev = RAND_get_rand_method();
	if (tls_rand_prev && tls_rand_prev->bytes)
		RAND_set_rand_method(&tls_rand_meth);
	tls_bio_install();
}

/* Enter/leave OpenSSL on behalf of a node (nests: returns the previous). */
static ac_io *tls_enter(ac_io *io)
{
	ac_io *prev = tls_cur_io;
	tls_cur_io = io;
	return prev;
}

static void tls_leave(ac_io *prev)
{
	tls_cur_io = prev;
}

/* ---- files through io.h --------------------------------------------------------- */

static int tls_read_file(ac_io *io, const char *path, char **out, size_t *len)
{
	ac_stat st;
	int h, rc;
	int64_t off = 0;
	char *buf;
	rc = io->ops->file_open(io, path, AC_FO_READ, 0, &h);
	if (rc < 0)
		return rc;
	rc = io->ops->file_fstat(io, h, &st);
	if (rc == 0 && (st.size <= 0 || st.size > TLS_FILE_MAX))
		rc = -EINVAL;
	buf = rc == 0 ? ac__malloc((size_t)st.size + 1) : NULL;
	if (rc == 0 && !buf)
		rc = -ENOMEM;
	while (rc == 0 && off < st.size) {
		int64_t r = io->ops->file_pread(io, h, buf + off, (size_t)(st.size - off),
		                                off);
		if (r <= 0)
			rc = r < 0 ? (int)r : -EIO;
		off += r > 0 ? r : 0;
	}
	io->ops->file_close(io, h);
	if (rc < 0) {
		ac__free(buf);
		return rc;
	}
	AC_ASSERT(off == st.size);
	buf[off] = '\0';
	*out = buf;
	*len = (size_t)off;
	return 0;
}

/* A memory BIO over the contents of path. */
static int tls_file_bio(ac_io *io, const char *path, BIO **out, char **mem)
{
	size_t len;
	int rc = tls_read_file(io, path, mem, &len);
	if (rc < 0)
		return rc;
	*out = BIO_new_mem_buf(*mem, (int)len);
	if (!*out) {
		ac__free(*mem);
		return -ENOMEM;
	}
	return 0;
}

/* ---- the context --------------------------------------------------------------- */

static void tls_fail_log(ac_node *n, const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	char msg[256] = "";
	if (e)
		ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	ac__nlog(n, AC_LOG_ERROR, "TLS: %s %s%s%s", what, path, msg[0] ? ": " : "",
	         msg);
}

/* The certificate (and its chain) of certfile. */
static int tls_load_cert(ac_node *n, SSL_CTX *ctx, const char *path)
{
	BIO *b;
	char *mem;
	X509 *x;
	int rc = tls_file_bio(n->n_io, path, &b, &mem);
	if (rc < 0) {
		ac__nlog(n, AC_LOG_ERROR, "TLS: certfile %s: %s", path, ac_strerror(rc));
		return rc;
	}
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (!x || SSL_CTX_use_certificate(ctx, x) != 1) {
		tls_fail_log(n, "no usable certificate in", path);
		rc = -EINVAL;
	}
	X509_free(x);
	while (rc == 0 && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			rc = -ENOMEM;
		}
	}
	ERR_clear_error(); /* the end of the file */
	BIO_free(b);
	ac__free(mem);
	return rc;
}

static int tls_load_key(ac_node *n, SSL_CTX *ctx, const char *path)
{
	BIO *b;
	char *mem;
	EVP_PKEY *k;
	int rc = tls_file_bio(n->n_io, path, &b, &mem);
	if (rc < 0) {
		ac__nlog(n, AC_LOG_ERROR, "TLS: keyfile %s: %s", path, ac_strerror(rc));
		return rc;
	}
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	if (!k) {
		tls_fail_log(n, "no private key (unencrypted PEM) in", path);
		rc = -EINVAL;
	} else if (SSL_CTX_use_PrivateKey(ctx, k) != 1 ||
	           SSL_CTX_check_private_key(ctx) != 1) {
		tls_fail_log(n, "the key does not match the certificate:", path);
		rc = -EINVAL;
	}
	EVP_PKEY_free(k);
	BIO_free(b);
	ac__free(mem);
	return rc;
}

/* Every certificate of cafile becomes a trusted root. */
static int tls_load_ca(ac_node *n, SSL_CTX *ctx, const char *path)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	BIO *b;
	char *mem;
	X509 *x;
	int count = 0, rc = tls_file_bio(n->n_io, path, &b, &mem);
	if (rc < 0) {
		ac__nlog(n, AC_LOG_ERROR, "TLS: cafile %s: %s", path, ac_strerror(rc));
		return rc;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(store, x) == 1)
			count++;
		X509_free(x);
	}
	ERR_clear_error();
	BIO_free(b);
	ac__free(mem);
	if (count == 0) {
		ac__nlog(n, AC_LOG_ERROR, "TLS: no certificate in cafile %s", path);
		return -EINVAL;
	}
	return 0;
}

/* An application traffic secret of the key log line (its last field, in
 * hex) kept in the session for its record layer. */
static void tls_keep_secret(const SSL *ssl, const char *line)
{
	static const char *const label[2] = {"CLIENT_TRAFFIC_SECRET_0 ",
	                                     "SERVER_TRAFFIC_SECRET_0 "};
	ac__tls *t = SSL_get_app_data(ssl);
	const char *hex = strrchr(line, ' ');
	size_t i, k, n = hex ? strlen(hex + 1) : 0;
	for (k = 0; k < 2 && strncmp(line, label[k], strlen(label[k])) != 0; k++)
		;
	if (!t || k == 2 || n % 2 || n / 2 > AC_TLS_SECRET_MAX)
		return;
	for (i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(hex + 1 + 2 * i, "%2x", &v) != 1)
			return;
		t->t_sec[k][i] = (uint8_t)v;
	}
	t->t_seclen[k] = n / 2;
}

/* One NSS key log line per secret: the record layer's secrets kept, the
 * line appended to the key log file (if any) through io.h. */
static void tls_keylog_line(const SSL *ssl, const char *line)
{
	ac__tls_ctx *c = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	size_t len = strlen(line);
	ac_stat st;
	char *buf;
	tls_keep_secret(ssl, line);
	buf = c && c->c_keylog >= 0 ? ac__malloc(len + 1) : NULL;
	if (!buf) {
		ac__free(buf);
		return;
	}
	memcpy(buf, line, len);
	buf[len] = '\n';
	/* At the end as it is now: nodes of one process may share the file. */
	if (c->c_io->ops->file_fstat(c->c_io, c->c_keylog, &st) == 0)
		c->c_io->ops->file_pwrite(c->c_io, c->c_keylog, buf, len + 1, st.size);
	ac__free(buf);
}

static int tls_keylog_open(ac_node *n, ac__tls_ctx *c, const ac_node_opts *o)
{
	const char *path = o->keylogfile ? o->keylogfile : ac__io_keylog_env();
	ac_stat st;
	int rc;
	c->c_keylog = -1;
	if (!path || !*path)
		return 0;
	rc = n->n_io->ops->file_open(n->n_io, path, AC_FO_WRITE | AC_FO_CREATE, 0600,
	                             &c->c_keylog);
	if (rc == 0)
		rc = n->n_io->ops->file_fstat(n->n_io, c->c_keylog, &st);
	if (rc < 0) {
		ac__nlog(n, AC_LOG_ERROR, "TLS: key log %s: %s", path, ac_strerror(rc));
		if (c->c_keylog >= 0)
			n->n_io->ops->file_close(n->n_io, c->c_keylog);
		c->c_keylog = -1;
		return rc;
	}
	ac__nlog(n, AC_LOG_WARN, "TLS: writing session keys to %s (debugging only)",
	         path);
	return 0;
}

static SSL_CTX *tls_ssl_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
	                                 SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_max_early_data(ctx, 0);
	SSL_CTX_set_recv_max_early_data(ctx, 0);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
	                   NULL);
	SSL_CTX_set_verify_depth(ctx, 8);
	/* The suites our record layer takes over (net/tls_rec.h); the key
	 * log callback hands it the traffic secrets. */
	if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:"
	                             "TLS_AES_256_GCM_SHA384") != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_keylog_callback(ctx, tls_keylog_line);
	return ctx;
}

int ac__tls_ctx_new(ac_node *n, const ac_node_opts *o, ac__tls_ctx **out)
{
	ac__tls_ctx *c;
	ac_io *prev;
	int rc = 0;
	AC_ASSERT(o->certfile != NULL);
	CRYPTO_THREAD_run_once(&tls_once, tls_rand_install);
	c = ac__calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->c_refs = 1;
	c->c_io = n->n_io;
	c->c_keylog = -1;
	prev = tls_enter(n->n_io);
	c->c_ssl = tls_ssl_ctx();
	if (!c->c_ssl)
		rc = -ENOMEM;
	else
		SSL_CTX_set_app_data(c->c_ssl, c);
	if (rc == 0)
		rc = tls_load_cert(n, c->c_ssl, o->certfile);
	if (rc == 0)
		rc = tls_load_key(n, c->c_ssl, o->keyfile ? o->keyfile : o->certfile);
	if (rc == 0)
		rc = tls_load_ca(n, c->c_ssl, o->cafile ? o->cafile : o->certfile);
	if (rc == 0)
		rc = tls_keylog_open(n, c, o);
	tls_leave(prev);
	if (rc < 0) {
		ac__tls_ctx_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void ac__tls_ctx_free(ac__tls_ctx *c)
{
	if (!c || --c->c_refs > 0)
		return;
	AC_ASSERT(c->c_refs == 0);
	if (c->c_keylog >= 0)
		c->c_io->ops->file_close(c->c_io, c->c_keylog);
	SSL_CTX_free(c->c_ssl);
	ac__free(c);
}

/* ---- the sessions' BIO ------------------------------------------------------- */

/* OpenSSL takes encrypted bytes from t_ibuf; none left: "retry" (WANT_READ),
 * never end of file (the caller sees the end of the TCP stream itself). */
static int tls_bio_read(BIO *b, char *out, int len)
{
	ac__tls *t = BIO_get_data(b);
	size_t n = t->t_ilen - t->t_ipos;
	BIO_clear_retry_flags(b);
	if (n == 0 || len <= 0) {
		BIO_set_retry_read(b);
		return -1;
	}
	if (n > (size_t)len)
		n = (size_t)len;
	memcpy(out, t->t_ibuf + t->t_ipos, n);
	t->t_ipos += n;
	AC_ASSERT(t->t_ipos <= t->t_ilen);
	return (int)n;
}

/* Room for more bytes at the end of t_obuf (grown as needed): 0 or
 * -ENOMEM. */
static int tls_obuf_room(ac__tls *t, size_t more)
{
	size_t need = t->t_olen + more;
	if (need > t->t_ocap) {
		size_t cap = t->t_ocap ? 2 * t->t_ocap : TLS_OBUF_MIN;
		uint8_t *nb;
		while (cap < need)
			cap *= 2;
		nb = ac__realloc(t->t_obuf, cap);
		if (!nb)
			return -ENOMEM;
		t->t_obuf = nb;
		t->t_ocap = cap;
	}
	return 0;
}

/* OpenSSL's records are appended to t_obuf. */
static int tls_bio_write(BIO *b, const char *in, int len)
{
	ac__tls *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (tls_obuf_room(t, (size_t)len) < 0)
		return -1; /* not a retry: the session fails */
	memcpy(t->t_obuf + t->t_olen, in, (size_t)len);
	t->t_olen += (size_t)len;
	return len;
}

static long tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	ac__tls *t = BIO_get_data(b);
	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1; /* sent by tls_flush */
	case BIO_CTRL_PENDING:
		return t ? (long)(t->t_ilen - t->t_ipos) : 0;
	case BIO_CTRL_WPENDING:
		return t ? (long)t->t_olen : 0;
	default:
		return 0;
	}
}

static int tls_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void tls_bio_install(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	                             "asyncoro TLS session");
	if (m && BIO_meth_set_read(m, tls_bio_read) == 1 &&
	    BIO_meth_set_write(m, tls_bio_write) == 1 &&
	    BIO_meth_set_ctrl(m, tls_bio_ctrl) == 1 &&
	    BIO_meth_set_create(m, tls_bio_create) == 1) {
		tls_bio_meth = m;
		return;
	}
	BIO_meth_free(m); /* then every session fails with -ENOMEM */
}

/* ---- sessions ---------------------------------------------------------------------- */

void ac__tls_hold(ac__tls *t)
{
	AC_ASSERT(t->t_refs > 0);
	t->t_refs++;
}

void ac__tls_drop(ac__tls *t)
{
	ac_io *prev;
	if (!t || --t->t_refs > 0)
		return;
	prev = tls_enter(t->t_node->n_io);
	SSL_free(t->t_ssl);
	tls_leave(prev);
	if (t->t_rec)
		ac__tls_rec_fini(t->t_rec);
	ac__free(t->t_rec);
	OPENSSL_cleanse(t->t_sec, sizeof(t->t_sec));
	ac__sock_drop(t->t_sock);
	ac__tls_ctx_free(t->t_ctx);
	ac__free(t->t_obuf);
	ac__free(t->t_sbuf);
	ac__free(t->t_ibuf);
	ac__free(t);
}

static void tls_guard_drop(void *t)
{
	ac__tls_drop(t);
}

int ac__tls_guard(ac__tls *t)
{
	ac__tls_hold(t);
	if (ac_coro_defer(tls_guard_drop, t) < 0) {
		ac__tls_drop(t);
		return -ENOMEM;
	}
	return 0;
}

void ac__tls_unguard(ac__tls *t)
{
	ac_coro *c = ac__cur();
	ac__defer **pp;
	AC_ASSERT(c != NULL); /* guards belong to coroutines */
	for (pp = &c->c_defer; *pp; pp = &(*pp)->d_next) {
		ac__defer *d = *pp;
		if (d->d_fn == tls_guard_drop && d->d_arg == t) {
			*pp = d->d_next;
			ac__free(d);
			ac__tls_drop(t);
			return;
		}
	}
	AC_ASSERT(0 && "ac__tls_unguard without ac__tls_guard");
}

const char *ac__tls_why(const ac__tls *t)
{
	return t->t_why;
}

/* Remember alerts the peer sends (they explain its refusals). */
static void tls_info(const SSL *ssl, int where, int ret)
{
	ac__tls *t = SSL_get_app_data(ssl);
	/* SSL_CB_READ_ALERT shares its alert bit with SSL_CB_WRITE_ALERT. */
	if (t && (where & SSL_CB_ALERT) && (where & SSL_CB_READ))
		t->t_alert = ret & 0xff;
}

static int tls_new(ac_node *n, ac__tls_ctx *c, ac_sock *k, int initiator,
                   ac__tls **out)
{
	ac__tls *t = ac__calloc(1, sizeof(*t));
	BIO *b;
	if (!t)
		return -ENOMEM;
	t->t_refs = 1;
	t->t_node = n;
	t->t_alert = -1;
	t->t_ibuf = ac__malloc(TLS_NETBUF);
	t->t_ssl = SSL_new(c->c_ssl);
	b = tls_bio_meth ? BIO_new(tls_bio_meth) : NULL;
	if (!t->t_ibuf || !t->t_ssl || !b) {
		BIO_free(b);
		SSL_free(t->t_ssl);
		ac__free(t->t_ibuf);
		ac__free(t);
		return -ENOMEM;
	}
	BIO_set_data(b, t);
	SSL_set_bio(t->t_ssl, b, b); /* one reference, for both directions */
	SSL_set_app_data(t->t_ssl, t);
	SSL_set_info_callback(t->t_ssl, tls_info);
	X509_VERIFY_PARAM_set_time(SSL_get0_param(t->t_ssl),
	                           (time_t)(n->n_io->ops->wall_ns(n->n_io) / 1000000000));
	if (initiator)
		SSL_set_connect_state(t->t_ssl);
	else
		SSL_set_accept_state(t->t_ssl);
	ac_lock_init(&t->t_wlock);
	ac_lock_init(&t->t_slock);
	c->c_refs++;
	t->t_ctx = c;
	ac__sock_hold(k);
	t->t_sock = k;
	*out = t;
	return 0;
}

static int64_t tls_left_ms(ac__tls *t, int64_t deadline_ns)
{
	int64_t left;
	if (deadline_ns < 0)
		return AC_FOREVER;
	left = (deadline_ns - ac_sched_now_ns(t->t_node->n_sched) + 999999) / 1000000;
	return left > 0 ? left : 0;
}

/* Send what OpenSSL wrote, one coroutine at a time: t_obuf is swapped with
 * the spare and sent from there (OpenSSL may append to the new t_obuf
 * meanwhile). The time left is read from the clock again only after a
 * wait (one clock read for a flush that does not wait). */
static int tls_flush(ac__tls *t, int64_t deadline_ns)
{
	int rc;
	while (t->t_olen > 0 && t->t_err == 0) {
		int64_t ms = tls_left_ms(t, deadline_ns);
		int waited = t->t_slock.owner != 0;
		rc = ac_lock_acquire(&t->t_slock, ms);
		if (rc < 0)
			return rc;
		while (t->t_olen > 0 && t->t_err == 0) {
			uint8_t *b = t->t_obuf;
			size_t len = t->t_olen, cap = t->t_ocap;
			ssize_t r;
			t->t_obuf = t->t_sbuf;
			t->t_ocap = t->t_scap;
			t->t_olen = 0;
			t->t_sbuf = b;
			t->t_scap = cap;
			if (waited)
				ms = tls_left_ms(t, deadline_ns);
			r = ac_sock_send_all(t->t_sock, b, len, ms);
			waited = 1;
			if (r < 0)
				t->t_err = (int)r;
		}
		ac_lock_release(&t->t_slock);
	}
	return t->t_err;
}

/* The error that an alert a the peer sent means, with its reason in t_why:
 * -EKEYREJECTED for the alerts about our certificate, else -EPROTO. */
static int tls_alert_error(ac__tls *t, int a)
{
	int cert = a == 42 || (a >= 43 && a <= 46) || a == 48 || a == 49 ||
	           a == 51 || a == 116;
	snprintf(t->t_why, sizeof(t->t_why), "the peer refused %s: %s",
	         cert ? "our certificate" : "the session",
	         SSL_alert_desc_string_long(a));
	return cert ? -EKEYREJECTED : -EPROTO;
}

/* The error of a failed OpenSSL call, with its reason in t_why. */
static int tls_error(ac__tls *t, int ret, const char *what)
{
	int e = SSL_get_error(t->t_ssl, ret);
	long v = SSL_get_verify_result(t->t_ssl);
	unsigned long q = ERR_peek_last_error();
	char msg[120] = "";
	int rc = -EPROTO;
	if (q)
		ERR_error_string_n(q, msg, sizeof(msg));
	ERR_clear_error();
	if (v != X509_V_OK) {
		snprintf(t->t_why, sizeof(t->t_why), "the peer's certificate does "
		         "not verify: %s", X509_verify_cert_error_string(v));
		rc = -EKEYREJECTED;
	} else if (t->t_alert >= 0) {
		rc = tls_alert_error(t, t->t_alert);
	} else if (e == SSL_ERROR_SSL) {
		snprintf(t->t_why, sizeof(t->t_why), "TLS %s failed: %s", what,
		         msg[0] ? msg : "protocol error");
	} else {
		snprintf(t->t_why, sizeof(t->t_why), "TLS %s failed (error %d)", what, e);
	}
	return rc;
}

/* The first bytes of the other side, before OpenSSL sees them: a plaintext
 * asyncoro node is told apart from garbage (a frame header starts with a
 * small big-endian length, a TLS record with its type 0x14..0x17). */
static int tls_check_first(ac__tls *t, int initiator, const uint8_t *b,
                           size_t len)
{
	int tls = initiator ? b[0] >= 0x14 && b[0] <= 0x17 : b[0] == 0x16;
	int frame = len >= 5 && ac_wire_get32(b) <= AC_WIRE_HELLO_MAX &&
	            b[4] == (initiator ? AC_WT_REFUSE : AC_WT_HELLO);
	if (tls)
		return 0;
	if (frame && initiator) {
		snprintf(t->t_why, sizeof(t->t_why), "the peer does not use TLS "
		         "(it answered our ClientHello in plaintext)");
		return -ENOPROTOOPT;
	}
	if (frame) {
		snprintf(t->t_why, sizeof(t->t_why), "the peer does not use TLS "
		         "(plaintext HELLO) and this node requires it");
		return -ENOPROTOOPT;
	}
	snprintf(t->t_why, sizeof(t->t_why), "not TLS: garbage instead of a %s",
	         initiator ? "ServerHello" : "ClientHello");
	return -EPROTO;
}

/* Receive more encrypted bytes into t_ibuf (after what OpenSSL has not
 * read yet, moved to the front): > 0, 0 at the end of the stream, or a
 * negative errno. */
static ssize_t tls_recv_more(ac__tls *t, int64_t timeout_ms)
{
	ssize_t r;
	if (t->t_ipos > 0) {
		memmove(t->t_ibuf, t->t_ibuf + t->t_ipos, t->t_ilen - t->t_ipos);
		t->t_ilen -= t->t_ipos;
		t->t_ipos = 0;
	}
	AC_ASSERT(t->t_ilen < TLS_NETBUF); /* OpenSSL reads all it is given */
	r = ac_sock_recv(t->t_sock, t->t_ibuf + t->t_ilen, TLS_NETBUF - t->t_ilen,
	                 timeout_ms);
	if (r > 0)
		t->t_ilen += (size_t)r;
	return r;
}

/* Read more encrypted bytes into the session (first: check them first). */
static int tls_fill(ac__tls *t, int64_t timeout_ms, int first, int initiator)
{
	size_t at = t->t_ilen - t->t_ipos;
	ssize_t r = tls_recv_more(t, timeout_ms);
	if (r == 0)
		return -ECONNRESET;
	if (r < 0)
		return (int)r;
	if (first)
		return tls_check_first(t, initiator, t->t_ibuf + at, (size_t)r);
	return 0;
}

/* Right after the handshake, our record layer takes the session over from
 * OpenSSL. Both sides are at sequence number 0 in both directions then:
 * each application traffic key is new, the server sends no session ticket
 * (num_tickets 0), and neither side has sent application data (the
 * secret handshake of net/peer.c comes after ac__tls_open). OpenSSL reads
 * no further than the record it needs (no read-ahead), so what follows
 * the handshake is still in t_ibuf for us; if OpenSSL does hold bytes, or
 * a secret is missing, or the suite is not ours (none of these happens
 * between nodes), OpenSSL keeps the session. Returns 0, or -ENOMEM /
 * -EPROTO when our layer could not be set up (the session fails: it does
 * not depend on memory which layer carries it). */
static int tls_takeover(ac__tls *t, int initiator)
{
	const SSL_CIPHER *cs = SSL_get_current_cipher(t->t_ssl);
	ac__tls_rec *r = NULL;
	int me = initiator ? 0 : 1, rc = -ENOTSUP;
	if (cs && !SSL_has_pending(t->t_ssl) && t->t_olen == 0 &&
	    t->t_seclen[0] == t->t_seclen[1] && t->t_seclen[0] > 0) {
		r = ac__malloc(sizeof(*r));
		/* ac__tls_rec_init fails with nothing to free. */
		rc = r ? ac__tls_rec_init(r, SSL_CIPHER_get_protocol_id(cs), t->t_sec[me],
		                          t->t_sec[1 - me], t->t_seclen[me])
		       : -ENOMEM;
	}
	if (rc == 0) {
		t->t_rec = r;
		r = NULL;
	}
	ac__free(r);
	OPENSSL_cleanse(t->t_sec, sizeof(t->t_sec));
	ac__nlog(t->t_node, AC_LOG_DEBUG, "TLS: %s, records by %s",
	         cs ? SSL_CIPHER_standard_name(cs) : "no suite",
	         t->t_rec ? "asyncoro" : "OpenSSL");
	if (rc == -ENOMEM || rc == -EPROTO) {
		snprintf(t->t_why, sizeof(t->t_why), "TLS record layer: %s",
		         ac_strerror(rc));
		return rc;
	}
	return 0;
}

int ac__tls_open(ac_node *n, ac__tls_ctx *c, ac_sock *k, int initiator,
                 int64_t deadline_ns, ac__tls **out, char *why, size_t whylen)
{
	ac__tls *t;
	ac_io *prev = tls_enter(n->n_io);
	int rc = tls_new(n, c, k, initiator, &t), first = 1;
	tls_leave(prev);
	if (rc < 0)
		return rc;
	/* Ours from here on, guarded: a coroutine killed meanwhile (its
	 * scheduler freed) releases it. */
	rc = ac__tls_guard(t);
	ac__tls_drop(t);
	if (rc < 0)
		return rc;
	for (;;) {
		int ret, e;
		prev = tls_enter(n->n_io);
		ret = SSL_do_handshake(t->t_ssl);
		e = ret == 1 ? SSL_ERROR_NONE : SSL_get_error(t->t_ssl, ret);
		if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ)
			rc = tls_error(t, ret, "handshake");
		tls_leave(prev);
		/* Send what it made, alerts included. */
		if (tls_flush(t, deadline_ns) < 0 && rc == 0)
			rc = t->t_err;
		if (rc < 0 || e == SSL_ERROR_NONE)
			break;
		if (tls_left_ms(t, deadline_ns) == 0) {
			rc = -ETIMEDOUT;
			snprintf(t->t_why, sizeof(t->t_why), "the TLS handshake stalled");
			break;
		}
		rc = tls_fill(t, tls_left_ms(t, deadline_ns), first, initiator);
		first = 0;
		if (rc == -ETIMEDOUT)
			snprintf(t->t_why, sizeof(t->t_why), "the TLS handshake stalled");
		if (rc < 0)
			break;
	}
	snprintf(why, whylen, "%s", t->t_why);
	if (rc < 0) {
		ac__tls_unguard(t);
		return rc;
	}
	t->t_why[0] = '\0';
	rc = tls_takeover(t, initiator);
	if (rc < 0) {
		snprintf(why, whylen, "%s", t->t_why);
		ac__tls_unguard(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* Seal up to TLS_CHUNK bytes of buf as records of at most AC_TLS_REC_MAX
 * bytes each at the end of t_obuf (our record layer): the bytes taken, or
 * a negative errno (the reason in t_why). */
static ssize_t tls_rec_put(ac__tls *t, const uint8_t *buf, size_t len)
{
	size_t take = len < TLS_CHUNK ? len : TLS_CHUNK, off = 0;
	size_t nrec = (take + AC_TLS_REC_MAX - 1) / AC_TLS_REC_MAX;
	/* Each record may have a KeyUpdate before it. */
	int rc = tls_obuf_room(t, take + nrec * (AC_TLS_REC_OVER + AC_TLS_REC_KU));
	if (rc < 0)
		return rc;
	while (off < take) {
		size_t n = take - off < AC_TLS_REC_MAX ? take - off : AC_TLS_REC_MAX;
		ssize_t w = ac__tls_rec_seal(t->t_rec, AC_TLS_CT_APPDATA, buf + off, n,
		                             t->t_obuf + t->t_olen);
		if (w < 0) {
			snprintf(t->t_why, sizeof(t->t_why), "TLS write failed: %s",
			         w == -EOVERFLOW ? "record sequence numbers used up"
			                         : "cipher failure");
			return w;
		}
		if ((size_t)w > n + AC_TLS_REC_OVER)
			ac__nlog(t->t_node, AC_LOG_DEBUG, "TLS: sending keys updated "
			         "(%llu so far)", (unsigned long long)t->t_rec->r_w.d_updates);
		t->t_olen += (size_t)w;
		off += n;
	}
	return (ssize_t)take;
}

/* Encrypt some of buf into t_obuf, by our record layer or OpenSSL's: the
 * bytes taken (> 0), or a negative errno (t_err set). */
static ssize_t tls_put(ac__tls *t, const uint8_t *buf, size_t len)
{
	size_t chunk = len < TLS_CHUNK ? len : TLS_CHUNK;
	ac_io *prev;
	ssize_t w;
	int r;
	if (t->t_rec) {
		w = tls_rec_put(t, buf, len);
		if (w < 0)
			t->t_err = (int)w;
		return w;
	}
	prev = tls_enter(t->t_node->n_io);
	r = SSL_write(t->t_ssl, buf, (int)chunk);
	if (r <= 0)
		t->t_err = tls_error(t, r, "write");
	tls_leave(prev);
	return r > 0 ? r : t->t_err;
}

ssize_t ac__tls_send_all(ac__tls *t, const void *buf, size_t len,
                         int64_t timeout_ms)
{
	int64_t deadline_ns = timeout_ms < 0 ? -1
	                      : ac_sched_now_ns(t->t_node->n_sched) + timeout_ms * 1000000;
	size_t off = 0;
	int rc;
	if (t->t_err)
		return t->t_err;
	rc = ac_lock_acquire(&t->t_wlock, timeout_ms);
	if (rc < 0)
		return rc;
	while (off < len && rc == 0) {
		ssize_t w = tls_put(t, (const uint8_t *)buf + off, len - off);
		if (w < 0)
			rc = (int)w;
		else
			off += (size_t)w;
		if (rc == 0)
			rc = tls_flush(t, deadline_ns);
	}
	ac_lock_release(&t->t_wlock);
	AC_ASSERT(rc < 0 || off == len);
	return rc < 0 ? rc : (ssize_t)len;
}

/* Decrypt what is buffered into buf: > 0 bytes, 0 (needs more), or < 0:
 * -ECONNRESET for a close_notify, else the failure. */
static ssize_t tls_read_some(ac__tls *t, uint8_t *buf, size_t len)
{
	size_t got = 0;
	ac_io *prev = tls_enter(t->t_node->n_io);
	ssize_t rc = 0;
	while (got < len) {
		size_t want = len - got < INT32_MAX ? len - got : INT32_MAX;
		int r, e;
		/* Nothing received that OpenSSL has not taken, nothing buffered
		 * in it, no close_notify seen: SSL_read could only say
		 * WANT_READ (it costs as much as a record), so it is not asked.
		 * After a close_notify it says so again. */
		if (t->t_ipos == t->t_ilen && !SSL_has_pending(t->t_ssl) &&
		    !(SSL_get_shutdown(t->t_ssl) & SSL_RECEIVED_SHUTDOWN))
			break;
		r = SSL_read(t->t_ssl, buf + got, (int)want);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		e = SSL_get_error(t->t_ssl, r);
		if (e == SSL_ERROR_ZERO_RETURN)
			rc = -ECONNRESET;
		else if (e != SSL_ERROR_WANT_READ)
			rc = t->t_err = tls_error(t, r, "read");
		break;
	}
	tls_leave(prev);
	return got > 0 ? (ssize_t)got : rc;
}

/* Open the next record in t_ibuf (our record layer): 1 when one was
 * opened (its content in t_ibuf[t_ppos..t_pend), or t_eof set by a
 * close_notify; or a KeyUpdate taken, nothing to read), 0 when its bytes
 * are not all there yet, or a negative errno with the reason in t_why: any
 * other alert, or what ac__tls_rec_open refuses (handshake content other
 * than one well-formed KeyUpdate: a NewSessionTicket, a malformed one). */
static int tls_rec_next(ac__tls *t)
{
	uint8_t *rec = t->t_ibuf + t->t_ipos, type;
	size_t used, len;
	int r = ac__tls_rec_open(t->t_rec, rec, t->t_ilen - t->t_ipos, &used, &type,
	                         &len, t->t_why, sizeof(t->t_why));
	/* Our records are at most AC_TLS_REC_MAX + AC_TLS_REC_OVER bytes. */
	AC_ASSERT(AC_TLS_REC_HDR + AC_TLS_REC_CMAX < TLS_NETBUF);
	if (r <= 0)
		return r < 0 ? -EPROTO : 0;
	t->t_ppos = t->t_ipos + AC_TLS_REC_HDR;
	t->t_ipos += used;
	t->t_pend = t->t_ppos;
	if (type == AC_TLS_CT_APPDATA) {
		t->t_pend += len;
		return 1;
	}
	if (type == AC_TLS_CT_ALERT && len == 2 && rec[AC_TLS_REC_HDR + 1] == 0) {
		t->t_eof = 1; /* close_notify */
		return 1;
	}
	if (type == AC_TLS_CT_ALERT && len == 2) {
		t->t_alert = rec[AC_TLS_REC_HDR + 1];
		return tls_alert_error(t, t->t_alert);
	}
	if (type == AC_TLS_CT_HANDSHAKE) {
		/* A KeyUpdate, taken by the record layer (nothing else is
		 * opened as a handshake record). */
		ac__nlog(t->t_node, AC_LOG_DEBUG, "TLS: a KeyUpdate from the peer "
		         "taken (%llu so far)", (unsigned long long)t->t_rec->r_r.d_updates);
		return 1;
	}
	snprintf(t->t_why, sizeof(t->t_why), "a TLS record of unexpected "
	         "content type %u", type);
	return -EPROTO;
}

/* ac__tls_recv by our record layer. */
static ssize_t tls_rec_recv(ac__tls *t, uint8_t *buf, size_t len,
                            int64_t deadline_ns)
{
	for (;;) {
		ssize_t r;
		if (t->t_err)
			return t->t_err;
		if (t->t_ppos < t->t_pend) {
			size_t n = t->t_pend - t->t_ppos < len ? t->t_pend - t->t_ppos : len;
			memcpy(buf, t->t_ibuf + t->t_ppos, n);
			t->t_ppos += n;
			return (ssize_t)n;
		}
		if (t->t_eof)
			return 0;
		r = tls_rec_next(t);
		if (r < 0)
			return t->t_err = (int)r;
		if (r > 0)
			continue;
		r = tls_recv_more(t, tls_left_ms(t, deadline_ns));
		if (r == 0 && t->t_ipos < t->t_ilen) {
			snprintf(t->t_why, sizeof(t->t_why), "the connection ended "
			         "inside a TLS record (truncated)");
			return t->t_err = -EBADMSG;
		}
		if (r <= 0)
			return r;
	}
}

ssize_t ac__tls_recv(ac__tls *t, void *buf, size_t len, int64_t timeout_ms)
{
	int64_t deadline_ns = timeout_ms < 0 ? -1
	                      : ac_sched_now_ns(t->t_node->n_sched) + timeout_ms * 1000000;
	if (t->t_rec)
		return tls_rec_recv(t, buf, len, deadline_ns);
	for (;;) {
		ssize_t r;
		int rc;
		if (t->t_err)
			return t->t_err;
		r = tls_read_some(t, buf, len);
		/* Answers OpenSSL owes the peer (a KeyUpdate) leave now — or
		 * with the bytes of the coroutine sending meanwhile, which
		 * drains the output BIO before it lets go (waiting for it could
		 * stall this reader behind a peer that is not reading). */
		rc = t->t_slock.owner ? 0 : tls_flush(t, deadline_ns);
		if (r > 0)
			return r;
		if (r == -ECONNRESET)
			return 0; /* close_notify: the peer closed */
		if (r < 0)
			return r;
		if (rc < 0)
			return rc;
		r = tls_recv_more(t, tls_left_ms(t, deadline_ns));
		if (r == 0 && (t->t_ipos < t->t_ilen || SSL_has_pending(t->t_ssl))) {
			snprintf(t->t_why, sizeof(t->t_why), "the connection ended "
			         "inside a TLS record (truncated)");
			return t->t_err = -EBADMSG;
		}
		if (r <= 0)
			return r;
	}
}

ssize_t ac__tls_recv_all(ac__tls *t, void *buf, size_t len, int64_t timeout_ms)
{
	int64_t deadline_ns = timeout_ms < 0 ? -1
	                      : ac_sched_now_ns(t->t_node->n_sched) + timeout_ms * 1000000;
	size_t got = 0;
	while (got < len) {
		ssize_t r = ac__tls_recv(t, (uint8_t *)buf + got, len - got,
		                         tls_left_ms(t, deadline_ns));
		if (r == 0)
			return got ? -EPIPE : 0;
		if (r < 0)
			return r;
		got += (size_t)r;
	}
	return (ssize_t)len;
}

void ac__tls_binding(ac__tls *t, uint8_t out[AC_TLS_BINDING])
{
	ac_io *prev = tls_enter(t->t_node->n_io);
	int ok = SSL_export_keying_material(t->t_ssl, out, AC_TLS_BINDING, TLS_LABEL,
	                                    strlen(TLS_LABEL), NULL, 0, 0);
	tls_leave(prev);
	/* Only after a completed handshake, which always has the secret. */
	AC_ASSERT(ok == 1);
}
