/* net/tls.h: TLS 1.3 between nodes (net/tls.c) — the node's TLS context
 * (certificate, key, CA, key log) and one TLS session per connection, run
 * through a BIO of ours over the session's buffers: OpenSSL never touches
 * a socket or a file, every encrypted byte crosses io.h through the
 * connection's ac_sock, and the PEM files and the key log are read and
 * written through io.h file operations. While OpenSSL works for a node,
 * its randomness comes from that node's io entropy and certificates are
 * checked against its wall clock, so a simulated TLS run is as
 * deterministic as a plaintext one.
 *
 * Both sides present a certificate and verify the other's against the CA
 * (mutual TLS); no session tickets, resumption, early data or
 * renegotiation; the AES-GCM suites only. After the handshake the
 * application data records are ours (net/tls_rec.h): a KeyUpdate or any
 * other post-handshake message, or an alert other than close_notify, ends
 * the session. Names in certificates are not compared with addresses:
 * the CA says who belongs, the shared secret handshake (bound to the TLS
 * session with ac__tls_binding) says who is a peer.
 */
#ifndef AC_NET_TLS_H
#define AC_NET_TLS_H

#include "net/net.h"

/* Bytes of the exporter value that binds the secret handshake to a TLS
 * session. */
#define AC_TLS_BINDING 32

typedef struct ac__tls_ctx ac__tls_ctx;
typedef struct ac__tls ac__tls;

/* The node's TLS context from o->certfile (PEM: the certificate, further
 * certificates as its chain, and the key unless keyfile is given),
 * o->keyfile and o->cafile (NULL: certfile), and the key log (o->keylogfile,
 * else the SSLKEYLOGFILE environment variable, else none). Files are read
 * through n's io. Returns 0 and *out, or -EINVAL (a file that is not PEM,
 * no certificate or key in it, a key that does not match the certificate:
 * the reason is logged), -ENOENT / other errno of the files, -ENOMEM. */
int ac__tls_ctx_new(ac_node *n, const ac_node_opts *o, ac__tls_ctx **out);
/* Release the node's reference (sessions keep the context alive). */
void ac__tls_ctx_free(ac__tls_ctx *c);

/* Run the TLS handshake on the connected socket k (initiator: we are the
 * client) until deadline_ns (monotonic), in a coroutine. Returns 0 and *out
 * (one reference of the calling coroutine, guarded as by ac__tls_guard:
 * release it with ac__tls_unguard; the session holds k's memory), or:
 * -EKEYREJECTED (a certificate did not verify, on either side),
 * -ENOPROTOOPT (the other side speaks plaintext asyncoro), -EPROTO (not
 * TLS, or a TLS failure), -ETIMEDOUT, -ENOMEM, a socket errno. why
 * gets a reason for the log. */
int ac__tls_open(ac_node *n, ac__tls_ctx *c, ac_sock *k, int initiator,
                 int64_t deadline_ns, ac__tls **out, char *why, size_t whylen);
/* References: the session is freed (and k's memory released) with the
 * last one. */
void ac__tls_hold(ac__tls *t);
void ac__tls_drop(ac__tls *t);
/* A reference of the current coroutine that is released however the
 * coroutine ends (a scheduler freed in the middle of a call included),
 * until ac__tls_unguard releases it earlier. Coroutine only; 0 or
 * -ENOMEM (then no reference was taken). */
int ac__tls_guard(ac__tls *t);
void ac__tls_unguard(ac__tls *t);

/* Encrypt and send all len bytes (one writer at a time, in order).
 * Returns len or a negative errno (the session is unusable after). */
ssize_t ac__tls_send_all(ac__tls *t, const void *buf, size_t len,
                         int64_t timeout_ms);
/* Receive up to len plaintext bytes: > 0, 0 when the peer closed (TCP end
 * or close_notify), or a negative errno (-EPROTO for bad TLS input or an
 * alert or a post-handshake message from the peer, -EBADMSG when the
 * stream ends inside a record, with the reason in ac__tls_why;
 * -EKEYREJECTED when the peer refused our certificate, -ETIMEDOUT). */
ssize_t ac__tls_recv(ac__tls *t, void *buf, size_t len, int64_t timeout_ms);
/* Exactly len bytes: len, 0 (closed before any), -EPIPE (closed within),
 * or a negative errno as ac__tls_recv. */
ssize_t ac__tls_recv_all(ac__tls *t, void *buf, size_t len, int64_t timeout_ms);
/* The reason of the last failure ("" when none). */
const char *ac__tls_why(const ac__tls *t);
/* The session's exporter value (RFC 8446 7.5, label
 * "EXPORTER-asyncoro-handshake"): equal on both ends of one TLS session,
 * different for any other session. */
void ac__tls_binding(ac__tls *t, uint8_t out[AC_TLS_BINDING]);

#endif /* AC_NET_TLS_H */
