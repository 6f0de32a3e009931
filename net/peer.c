/* net/peer.c: connections between nodes — the authenticated handshake, the
 * per-peer writer that owns the outbound queue (and connects on demand),
 * the per-connection reader that splits the byte stream into frames, and
 * requests with ids whose replies wake the waiting coroutine.
 *
 * Handshake (both directions proven, secret never sent, fresh nonces):
 *
 *   client                               server
 *   HELLO [magic ver nonce_c name loc inc caps udp]  →
 *        ← HELLO_ACK [magic ver nonce_s name loc inc caps udp mac_s]
 *   AUTH [mac_c]                          →
 *        ← AUTH_OK []   (or REFUSE [reason], then close)
 *
 *   mac_s = HMAC-SHA256(secret, "S" | nonce_c | nonce_s)
 *   mac_c = HMAC-SHA256(secret, "C" | nonce_c | nonce_s)
 *
 * The different labels stop a reflected MAC; the nonces stop replays. A
 * node acts on nothing from a connection before AUTH/AUTH_OK.
 *
 * With TLS (net/tls.h) the TLS 1.3 handshake comes first, and these frames
 * and all later ones travel inside it; both MACs then also cover the
 * session's exporter value (32 bytes, the same on both ends of one TLS
 * session only), so a relay that terminates TLS towards each side holds two
 * sessions whose MACs do not match: it cannot splice them. A TLS node and a
 * plaintext node tell each other apart by the first bytes (a ClientHello
 * against a HELLO frame) and refuse at once (REFUSE in plaintext).
 *
 * Frames are appended to the peer's queue in order and the writer sends
 * whole batches of queued frames with one write, which is where per-pair
 * FIFO order and the throughput of small messages come from.
 */
#include "net/net.h"
#include "net/tls.h"

#include <openssl/hmac.h>
#include <openssl/crypto.h>

/* REFUSE reason when the other direction's connection won. */
#define PEER_DUPLICATE "duplicate connection"
/* REFUSE reason when the peer table is full (see max_peers). */
#define PEER_FULL "too many peers"
/* REFUSE reasons when one side uses TLS and the other does not. */
#define PEER_NEEDTLS "this node requires TLS"
#define PEER_NOTLS "this node does not use TLS"
/* Time allowed for connect + handshake (ac_node_peer's timeout instead,
 * when it gives one). */
#define PEER_HANDSHAKE_MS 5000
/* Reader buffer (first size). */
#define PEER_RBUF (256 * 1024)
/* Frames from this size on are read up to their end and no further, and
 * the buffer holds two of them up to PEER_RBUF_BIG (see peer_reader). */
#define PEER_BIGFRAME (64 * 1024)
#define PEER_RBUF_BIG (1024 * 1024)

/* ---- auth ------------------------------------------------------------------- */

void ac__hmac(ac_node *n, const void *const *parts, const size_t *lens,
              int nparts, uint8_t mac[AC_WIRE_MAC])
{
	/* Everything MAC'ed is small (handshake nonces, announcements), so the
	 * parts are joined and given to the one-shot HMAC. */
	uint8_t buf[2 * AC_WIRE_ANNOUNCE_MAX];
	size_t off = 0;
	unsigned int len = AC_WIRE_MAC;
	int i;
	for (i = 0; i < nparts; i++) {
		AC_ASSERT(lens[i] <= sizeof(buf) - off);
		memcpy(buf + off, parts[i], lens[i]);
		off += lens[i];
	}
	AC_ASSERT(HMAC(EVP_sha256(), n->n_secret, (int)n->n_secret_len, buf, off,
	               mac, &len) != NULL);
	AC_ASSERT(len == AC_WIRE_MAC);
}

int ac__mac_eq(const uint8_t *a, const uint8_t *b)
{
	return CRYPTO_memcmp(a, b, AC_WIRE_MAC) == 0;
}

/* The MAC of one side; with TLS (t) bound to the session. */
static void peer_mac(ac_node *n, ac__tls *t, char label, const uint8_t *nc,
                     const uint8_t *ns, uint8_t *mac)
{
	uint8_t bind[AC_TLS_BINDING];
	const void *parts[4] = {&label, nc, ns, bind};
	size_t lens[4] = {1, AC_WIRE_NONCE, AC_WIRE_NONCE, AC_TLS_BINDING};
	/* The server proves with 'S', the client with 'C' (no reflection). */
	AC_ASSERT(label == 'S' || label == 'C');
	AC_ASSERT(nc != ns); /* two nonces, one of each side */
	AC_ASSERT(!t == !n->n_tls); /* a TLS node's connections are all TLS */
	if (t)
		ac__tls_binding(t, bind);
	ac__hmac(n, parts, lens, t ? 4 : 3, mac);
}

/* ---- the connection's byte stream: TLS (t) or plain ------------------------ */

static ssize_t conn_send_all(ac_sock *k, ac__tls *t, const void *buf,
                             size_t len, int64_t timeout_ms)
{
	return t ? ac__tls_send_all(t, buf, len, timeout_ms)
	         : ac_sock_send_all(k, buf, len, timeout_ms);
}

static ssize_t conn_recv_all(ac_sock *k, ac__tls *t, void *buf, size_t len,
                             int64_t timeout_ms)
{
	return t ? ac__tls_recv_all(t, buf, len, timeout_ms)
	         : ac_sock_recv_all(k, buf, len, timeout_ms);
}

/* ---- frames on a socket (handshake only; later frames go through the
 * queue and the reader) ------------------------------------------------------ */

/* The deadline PEER_HANDSHAKE_MS from now. Handshakes run in coroutines. */
static int64_t peer_hs_deadline(void)
{
	return ac_sched_now_ns(ac_sched_self()) + PEER_HANDSHAKE_MS * 1000000LL;
}

/* Milliseconds left until deadline_ns, rounded up; 0 once it passed (a
 * read or write then still takes what is there at once). */
static int64_t peer_ms_left(int64_t deadline_ns)
{
	int64_t left = deadline_ns - ac_sched_now_ns(ac_sched_self());
	return left > 0 ? (left + 999999) / 1000000 : 0;
}

static int peer_send_frame(ac_sock *k, ac__tls *t, uint8_t type,
                           const void *body, size_t len, int64_t deadline_ns)
{
	/* One write: nothing else can get between the header and the body. */
	uint8_t small[AC_WIRE_HDR + 1024], *f = small;
	ssize_t r;
	/* Handshake frames only, within what the other side reads of them. */
	AC_ASSERT(type >= AC_WT_HELLO && type <= AC_WT_REFUSE);
	AC_ASSERT(len <= AC_WIRE_HELLO_MAX && (body || !len));
	if (len > sizeof(small) - AC_WIRE_HDR && !(f = ac__malloc(AC_WIRE_HDR + len)))
		return -ENOMEM;
	ac_wire_hdr_put(f, type, 0, 0, (uint32_t)len);
	if (len)
		memcpy(f + AC_WIRE_HDR, body, len);
	r = conn_send_all(k, t, f, AC_WIRE_HDR + len, peer_ms_left(deadline_ns));
	if (f != small)
		ac__free(f);
	return r < 0 ? (int)r : 0;
}

/* Read one handshake frame of type want (or REFUSE) into buf. */
static int peer_recv_frame(ac_sock *k, ac__tls *t, uint8_t want, uint8_t *buf,
                           size_t cap, size_t *len, char *why, size_t whylen,
                           int64_t deadline_ns)
{
	uint8_t hdr[AC_WIRE_HDR];
	ac_wire_hdr h;
	/* The connection closed between frames: -ECONNRESET (routine); in
	 * the middle of one: -EBADMSG (a truncated frame). */
	ssize_t r;
	AC_ASSERT(want >= AC_WT_HELLO && want <= AC_WT_AUTH_OK && cap <= UINT32_MAX);
	r = conn_recv_all(k, t, hdr, sizeof(hdr), peer_ms_left(deadline_ns));
	if (r == 0)
		return -ECONNRESET;
	if (r < 0 && t)
		snprintf(why, whylen, "%s", ac__tls_why(t));
	if (r < 0)
		return r == -EPIPE ? -EBADMSG : (int)r;
	if (!t && hdr[0] == 0x16 && hdr[1] == 0x03) {
		/* A TLS record (ClientHello) where a frame header belongs. */
		snprintf(why, whylen, "the peer uses TLS and this node does not "
		         "(no certfile)");
		return -ENOPROTOOPT;
	}
	if (ac_wire_hdr_get(hdr, (uint32_t)cap, &h) < 0 || h.flags != 0)
		return -EPROTO;
	AC_ASSERT(h.len <= cap); /* the header check bounds the body by cap */
	if (h.len) {
		r = conn_recv_all(k, t, buf, h.len, peer_ms_left(deadline_ns));
		if (r != (ssize_t)h.len)
			return r < 0 && r != -EPIPE ? (int)r : -EBADMSG;
	}
	*len = h.len;
	if (h.type == AC_WT_REFUSE) {
		if (ac_unpack(buf, h.len, "[s]", why, whylen) < 0)
			snprintf(why, whylen, "(unreadable reason)");
		/* The other direction's connection won: not a refusal. */
		if (strcmp(why, PEER_DUPLICATE) == 0)
			return -EALREADY;
		if (!strcmp(why, PEER_NEEDTLS) || !strcmp(why, PEER_NOTLS))
			return -ENOPROTOOPT;
		return strcmp(why, PEER_FULL) == 0 ? -EUSERS : -EACCES;
	}
	return h.type == want ? 0 : -EPROTO;
}

/* What the two HELLOs carry. */
typedef struct peer_hello {
	uint8_t nonce[AC_WIRE_NONCE];
	char name[AC_WIRE_NAME_MAX + 1];
	ac_addr loc;
	uint64_t inc;
	uint64_t caps;
	uint64_t udp;
	uint8_t mac[AC_WIRE_MAC];
} peer_hello;

static int peer_hello_pack(ac_node *n, const uint8_t *nonce, const uint8_t *mac,
                           void **out, size_t *len)
{
	int rc;
	/* What the other side checks in peer_hello_unpack. */
	AC_ASSERT(n->n_loc.family != AC_AF_NONE && n->n_sched->s_inc != 0);
	if (mac)
		rc = ac_pack(out, len, "[u u S s l u u u S]",
		             (uint64_t)AC_WIRE_MAGIC, (uint64_t)AC_WIRE_VERSION,
		             nonce, (size_t)AC_WIRE_NONCE, n->n_name, &n->n_loc,
		             n->n_sched->s_inc, (uint64_t)n->n_caps,
		             (uint64_t)n->n_udp_port, mac, (size_t)AC_WIRE_MAC);
	else
		rc = ac_pack(out, len, "[u u S s l u u u]", (uint64_t)AC_WIRE_MAGIC,
		             (uint64_t)AC_WIRE_VERSION, nonce, (size_t)AC_WIRE_NONCE,
		             n->n_name, &n->n_loc, n->n_sched->s_inc,
		             (uint64_t)n->n_caps, (uint64_t)n->n_udp_port);
	/* Within what the other side reads of a handshake frame. */
	AC_ASSERT(rc < 0 || *len <= AC_WIRE_HELLO_MAX);
	return rc;
}

static int peer_hello_unpack(const uint8_t *b, size_t len, int with_mac,
                             peer_hello *h)
{
	uint64_t magic, ver;
	const void *nonce, *mac = NULL;
	size_t nlen, mlen = 0;
	int rc;
	if (with_mac)
		rc = ac_unpack(b, len, "[u u S s l u u u S]", &magic, &ver, &nonce,
		               &nlen, h->name, sizeof(h->name), &h->loc, &h->inc,
		               &h->caps, &h->udp, &mac, &mlen);
	else
		rc = ac_unpack(b, len, "[u u S s l u u u]", &magic, &ver, &nonce,
		               &nlen, h->name, sizeof(h->name), &h->loc, &h->inc,
		               &h->caps, &h->udp);
	if (rc < 0 || magic != AC_WIRE_MAGIC || nlen != AC_WIRE_NONCE ||
	    h->udp > 65535 || h->loc.family == AC_AF_NONE || h->inc == 0)
		return -EPROTO;
	if (ver != AC_WIRE_VERSION)
		return -EPROTONOSUPPORT;
	if (with_mac && mlen != AC_WIRE_MAC)
		return -EPROTO;
	/* Checked above: what the handshake relies on. */
	AC_ASSERT(h->loc.family != AC_AF_NONE && h->inc != 0 && h->udp <= 65535);
	AC_ASSERT(!with_mac || mac != NULL);
	memcpy(h->nonce, nonce, AC_WIRE_NONCE);
	if (mac)
		memcpy(h->mac, mac, AC_WIRE_MAC);
	return 0;
}

static void peer_refuse(ac_sock *k, ac__tls *t, const char *why)
{
	void *b;
	size_t len;
	if (ac_pack(&b, &len, "[s]", why) == 0) {
		peer_send_frame(k, t, AC_WT_REFUSE, b, len, peer_hs_deadline());
		ac__free(b);
	}
}

/* ---- installing a connection ------------------------------------------------ */

typedef struct peer_conn_arg {
	ac_peer *a_peer;
	ac_sock *a_sock;
	/* The connection's TLS session (a reference), or NULL. */
	ac__tls *a_tls;
	/* p_conn_gen when the connection was installed: once it differs, the
	 * socket was closed (and freed) by whoever replaced or dropped it. */
	uint64_t a_gen;
} peer_conn_arg;

static void peer_reader(void *arg);

/* The reader was terminated before it ran: release what it was handed. */
static void peer_reader_arg_free(void *arg)
{
	peer_conn_arg *a = arg;
	ac__sock_drop(a->a_sock);
	ac__tls_drop(a->a_tls);
	ac__free(a);
}

/* Make k the connection of p. When p already has one, the connection
 * opened by the node with the smaller location wins (see net.h). Returns
 * 0, or -EALREADY when k lost and must be closed. */
static int peer_install(ac_peer *p, ac_sock *k, ac__tls *t, int initiator)
{
	ac_node *n = p->p_node;
	peer_conn_arg *a;
	ac_spawn_opts so = {.name = "ac-reader", .daemon = 1,
	                    .arg_free = peer_reader_arg_free};
	int we_win = ac_addr_cmp(&n->n_loc, &p->p_loc) < 0;
	AC_ASSERT(k != NULL && p->p_node == n && (initiator == 0 || initiator == 1));
	if (p->p_conn) {
		/* Two connections opened from opposite ends: keep the winner's.
		 * Two from the same end: the newer replaces a dead one. */
		if (p->p_conn_ours != initiator && p->p_conn_ours == we_win)
			return -EALREADY;
		ac__peer_disconnect(p);
		AC_ASSERT(!p->p_conn);
	}
	a = ac__malloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->a_peer = p;
	a->a_sock = k;
	a->a_tls = t;
	a->a_gen = ++p->p_conn_gen;
	p->p_conn = k;
	p->p_tls = t;
	p->p_conn_ours = initiator;
	p->p_idle_closed = 0;
	p->p_last_rx = ac_sched_now_ns(n->n_sched);
	/* The reader holds the socket: it may first run after the socket was
	 * closed by a replacement, and must find valid memory. */
	ac__sock_hold(k);
	if (t) {
		ac__tls_hold(t); /* the reader's */
		ac__tls_hold(t); /* the peer's (p_tls) */
	}
	if (ac__spawn_service(n->n_sched, peer_reader, a, &so, &p->p_reader) < 0) {
		ac__sock_drop(k);
		p->p_conn = NULL;
		p->p_tls = NULL;
		if (t) {
			ac__tls_drop(t);
			ac__tls_drop(t);
		}
		ac__free(a);
		return -ENOMEM;
	}
	/* The reader is spawned, not run: the connection is still k. */
	AC_ASSERT(p->p_conn == k && p->p_conn_gen == a->a_gen);
	return 0;
}

/* The peer that a handshake identified, after the auth succeeded. */
static ac_peer *peer_identified(ac_node *n, const peer_hello *h)
{
	ac_peer *p = ac__peer_get(n, &h->loc);
	if (!p)
		return NULL;
	if (p->p_inc && p->p_inc != h->inc && p->p_state == AC__PEER_ONLINE) {
		/* A new incarnation at the same location: the old one is gone. */
		ac__peer_offline(p, 1);
	}
	p->p_inc = h->inc;
	p->p_caps = (uint32_t)h->caps;
	p->p_udp_port = (uint16_t)h->udp;
	snprintf(p->p_name, sizeof(p->p_name), "%s", h->name);
	AC_ASSERT(p->p_node == n && p->p_inc != 0);
	AC_ASSERT(ac_addr_eq(&p->p_loc, &h->loc)); /* the record of that location */
	return p;
}

static int peer_handshake_client(ac_node *n, ac_sock *k, ac__tls *t,
                                 peer_hello *h, uint8_t *nonce, char *why,
                                 size_t whylen, int64_t dl)
{
	uint8_t buf[AC_WIRE_HELLO_MAX], mac[AC_WIRE_MAC];
	void *out;
	size_t len;
	int rc = peer_hello_pack(n, nonce, NULL, &out, &len);
	if (rc < 0)
		return rc;
	rc = peer_send_frame(k, t, AC_WT_HELLO, out, len, dl);
	ac__free(out);
	if (rc == 0)
		rc = peer_recv_frame(k, t, AC_WT_HELLO_ACK, buf, sizeof(buf), &len, why,
		                     whylen, dl);
	if (rc == 0)
		rc = peer_hello_unpack(buf, len, 1, h);
	if (rc < 0)
		return rc;
	peer_mac(n, t, 'S', nonce, h->nonce, mac);
	if (!ac__mac_eq(mac, h->mac)) {
		snprintf(why, whylen, "the peer does not know our secret");
		peer_refuse(k, t, "authentication failed (secret mismatch)");
		return -EACCES;
	}
	peer_mac(n, t, 'C', nonce, h->nonce, mac);
	rc = ac_pack(&out, &len, "[S]", mac, (size_t)AC_WIRE_MAC);
	if (rc < 0)
		return rc;
	rc = peer_send_frame(k, t, AC_WT_AUTH, out, len, dl);
	ac__free(out);
	if (rc == 0)
		rc = peer_recv_frame(k, t, AC_WT_AUTH_OK, buf, sizeof(buf), &len, why,
		                     whylen, dl);
	AC_ASSERT(rc < 0 || h->inc != 0); /* a HELLO_ACK was read and checked */
	return rc;
}

static int peer_handshake_server(ac_node *n, ac_sock *k, ac__tls *t,
                                 peer_hello *h, uint8_t *nonce, char *why,
                                 size_t whylen, int64_t dl)
{
	uint8_t buf[AC_WIRE_HELLO_MAX], mac[AC_WIRE_MAC];
	const void *got;
	size_t len, glen;
	void *out;
	int rc = peer_recv_frame(k, t, AC_WT_HELLO, buf, sizeof(buf), &len, why,
	                         whylen, dl);
	if (rc == 0)
		rc = peer_hello_unpack(buf, len, 0, h);
	if (rc < 0) {
		if (rc == -EPROTONOSUPPORT)
			peer_refuse(k, t, "unsupported protocol version");
		if (rc == -ENOPROTOOPT)
			peer_refuse(k, NULL, PEER_NOTLS); /* in plaintext, as TLS is not */
		return rc;
	}
	peer_mac(n, t, 'S', h->nonce, nonce, mac);
	rc = peer_hello_pack(n, nonce, mac, &out, &len);
	if (rc < 0)
		return rc;
	rc = peer_send_frame(k, t, AC_WT_HELLO_ACK, out, len, dl);
	ac__free(out);
	if (rc == 0)
		rc = peer_recv_frame(k, t, AC_WT_AUTH, buf, sizeof(buf), &len, why,
		                     whylen, dl);
	if (rc < 0)
		return rc;
	if (ac_unpack(buf, len, "[S]", &got, &glen) < 0 || glen != AC_WIRE_MAC)
		return -EPROTO;
	peer_mac(n, t, 'C', h->nonce, nonce, mac);
	if (!ac__mac_eq(mac, got)) {
		snprintf(why, whylen, "the peer does not know our secret");
		peer_refuse(k, t, "authentication failed (secret mismatch)");
		return -EACCES;
	}
	AC_ASSERT(h->inc != 0 && h->loc.family != AC_AF_NONE); /* a checked HELLO */
	return 0;
}

/* Who a handshake is with, for the log: the location it claims once its
 * HELLO was read, else the address it connects from (without the port,
 * which changes on every attempt: repeated failures log the same line). */
static void peer_who(ac_sock *k, const ac_addr *want, const peer_hello *h,
                     char *who, size_t len)
{
	char claim[AC_ADDR_STRLEN], src[AC_ADDR_STRLEN] = "?";
	ac_addr from;
	if (want) {
		ac_addr_format(want, who, len);
		return;
	}
	if (ac_sock_peer_addr(k, &from) == 0)
		ac_addr_format_ip(&from, src, sizeof(src));
	if (h->loc.family != AC_AF_NONE)
		snprintf(who, len, "%s (from %s)",
		         ac_addr_format(&h->loc, claim, sizeof(claim)), src);
	else
		snprintf(who, len, "%s", src);
}

/* Log a failed handshake: a refusal is worth a warning, a peer breaking
 * the protocol or stalling is worth a line, a lost race or a connection
 * that went away (a port scan, a node that stopped) is routine. */
static void peer_log_failure(ac_node *n, const char *who, int rc,
                             const char *why)
{
	int lvl = rc == -EACCES || rc == -EUSERS || rc == -EKEYREJECTED ||
	                  rc == -ENOPROTOOPT
	                  ? AC_LOG_WARN
	          : rc == -EALREADY || rc == -ECONNRESET || rc == -EPIPE ||
	                    rc == -ECANCELED
	                  ? AC_LOG_DEBUG
	                  : AC_LOG_INFO;
	AC_ASSERT(rc < 0 && why != NULL); /* failures only */
	ac__nlog_class_v(n, AC__NLOG_HANDSHAKE, lvl, "handshake with %s failed: %s%s%s",
	                 who, ac_strerror(rc), why[0] ? ": " : "", why);
}

/* After the proofs: refuse a new peer when the table is full. */
static int peer_check_room(ac_node *n, ac_sock *k, ac__tls *t, int initiator,
                           const peer_hello *h, const char *who)
{
	AC_ASSERT(h->loc.family != AC_AF_NONE);
	if (ac__peer_find(n, &h->loc) || !ac__peer_table_full(n))
		return 0;
	AC_ASSERT(n->n_npeers == n->n_max_peers);
	ac__nlog(n, AC_LOG_WARN, "refusing %s: %s (max_peers %u)", who, PEER_FULL,
	         n->n_max_peers);
	if (!initiator)
		peer_refuse(k, t, PEER_FULL);
	return -EUSERS;
}

/* The undo of a hold on a peer record (p_inflight) across a wait. */
static void peer_inflight_undo(void *arg)
{
	ac_peer *p = arg;
	AC_ASSERT(p->p_inflight > 0);
	p->p_inflight--;
}

/* After the proofs: the peer record gets the connection (and session t,
 * which it holds from then on), and goes online. */
static int peer_handshake_done(ac_node *n, ac_sock *k, ac__tls *t,
                               int initiator, const peer_hello *h,
                               const char *who, ac_peer **out)
{
	ac_peer *p;
	int rc;
	if (ac_addr_eq(&h->loc, &n->n_loc) && h->inc == n->n_sched->s_inc)
		return -ELOOP; /* we reached ourselves */
	/* Authenticated: no more a stranger's handshake that a newer one may
	 * close for room (which would end it inside AUTH_OK's write). */
	if (!initiator)
		ac__node_hs_authed(n, k);
	rc = peer_check_room(n, k, t, initiator, h, who);
	if (rc < 0)
		return rc;
	p = peer_identified(n, h);
	if (!p)
		return -ENOMEM;
	rc = peer_install(p, k, t, initiator);
	if (rc == -EALREADY && !initiator) {
		peer_refuse(k, t, PEER_DUPLICATE);
		return rc;
	}
	/* Installed, the socket is the peer's: a failed AUTH_OK is noticed
	 * by its reader, and the caller must not close it. */
	if (rc == 0 && !initiator) {
		/* The send may yield: keep the record from being reclaimed
		 * meanwhile (its connection may fail); a coroutine ended in
		 * it all the same (the node stopping) gives the hold back. */
		ac__defer undo;
		p->p_inflight++;
		ac__defer_push(ac__cur(), &undo, peer_inflight_undo, p);
		peer_send_frame(k, t, AC_WT_AUTH_OK, NULL, 0, peer_hs_deadline());
		ac__defer_pop(ac__cur(), &undo);
		p->p_inflight--;
	}
	if (rc < 0)
		return rc;
	if (out)
		*out = p;
	if (p->p_state != AC__PEER_ONLINE)
		ac__peer_online(p);
	AC_ASSERT(p->p_state == AC__PEER_ONLINE && p->p_node == n);
	ac_waitq_wake(&p->p_wq, INT32_MAX, 1); /* the writer may send now */
	return 0;
}

int ac__handshake(ac_node *n, ac_sock *k, int initiator, const ac_addr *want,
                  ac_peer **out, int64_t deadline_ns)
{
	uint8_t nonce[AC_WIRE_NONCE];
	char why[160] = "", who[2 * AC_ADDR_STRLEN + 16] = "?";
	peer_hello h;
	ac__tls *t = NULL;
	int rc = 0;
	/* We connect to a location we want (ac_node_peer, the writer), or
	 * accept one that tells us its own. */
	AC_ASSERT(k != NULL && (initiator ? want != NULL : (want == NULL && !out)));
	memset(&h, 0, sizeof(h));
	ac_addr_init(&h.loc);
	if (deadline_ns < 0)
		deadline_ns = peer_hs_deadline();
	if (n->n_tls) {
		rc = ac__tls_open(n, n->n_tls, k, initiator, deadline_ns, &t, why,
		                  sizeof(why));
		if (rc == -ENOPROTOOPT && !initiator)
			peer_refuse(k, NULL, PEER_NEEDTLS); /* it reads plaintext */
	}
	n->n_io->ops->entropy(n->n_io, nonce, sizeof(nonce));
	if (rc == 0 && initiator)
		rc = peer_handshake_client(n, k, t, &h, nonce, why, sizeof(why),
		                           deadline_ns);
	else if (rc == 0)
		rc = peer_handshake_server(n, k, t, &h, nonce, why, sizeof(why),
		                           deadline_ns);
	peer_who(k, want, &h, who, sizeof(who));
	if (rc < 0)
		peer_log_failure(n, who, rc, why);
	else
		rc = peer_handshake_done(n, k, t, initiator, &h, who, out);
	if (t)
		ac__tls_unguard(t); /* the peer holds it when installed */
	return rc;
}

/* ---- the outbound queue and the writer --------------------------------------- */

uint8_t *ac__peer_reserve(ac_peer *p, size_t body_max)
{
	size_t need = AC_WIRE_HDR + body_max;
	AC_ASSERT(ac__peer_queue_ok(p));
	if (body_max > AC_WIRE_BODY_MAX)
		return NULL;
	if (p->p_olen + need > p->p_ocap) {
		size_t cap = p->p_ocap ? p->p_ocap : 4096;
		uint8_t *nb;
		while (cap < p->p_olen + need)
			cap *= 2;
		if (cap > AC_WIRE_QUEUE_MAX + AC_WIRE_BODY_MAX + AC_WIRE_HDR &&
		    p->p_olen > 0)
			return NULL;
		nb = ac__realloc(p->p_obuf, cap);
		if (!nb)
			return NULL;
		p->p_obuf = nb;
		p->p_ocap = cap;
	}
	AC_ASSERT(p->p_olen + need <= p->p_ocap); /* room for header and body */
	return p->p_obuf + p->p_olen + AC_WIRE_HDR;
}

void ac__peer_commit(ac_peer *p, uint8_t type, uint8_t flags, uint32_t id,
                     size_t len, ac__pending *pend)
{
	size_t need = AC_WIRE_HDR + len;
	AC_ASSERT(p->p_olen + need <= p->p_ocap);
	AC_ASSERT(len <= AC_WIRE_BODY_MAX && type >= 1 && type <= AC_WT_MAX);
	ac_wire_hdr_put(p->p_obuf + p->p_olen, type, flags, id, (uint32_t)len);
	p->p_olen += need;
	p->p_queued_total += need;
	if (pend)
		pend->pd_mark = p->p_queued_total;
	AC_ASSERT(ac__peer_queue_ok(p));
	if (p->p_olen == need)
		ac_waitq_wake(&p->p_wq, 1, 1);
}

/* 1 when a body of len bytes to p should be compressed. */
static int peer_compress(ac_peer *p, const void *body, size_t len)
{
	const ac_node *n = p->p_node;
	AC_ASSERT(p->p_zip_skip >= 0 && p->p_zip_skip <= 64);
	if (!n->n_compress_min || len < n->n_compress_min ||
	    !(p->p_caps & n->n_caps & AC_CAP_ZLIB))
		return 0;
	/* Adaptive: after a body that did not shrink by a tenth (already
	 * compressed data, most file chunks), skip the next few large ones. */
	if (p->p_zip_skip > 0) {
		p->p_zip_skip--;
		return 0;
	}
	/* Random or already compressed bytes are not worth a deflate. */
	return ac__zip_likely(body, len);
}

int ac__peer_queue(ac_peer *p, uint8_t type, uint8_t flags, uint32_t id,
                   const void *body, size_t len, ac__pending *pend)
{
	uint8_t *b;
	/* The queue sets AC_WF_ZLIB itself, when it compresses. */
	AC_ASSERT(!(flags & AC_WF_ZLIB) && (body || !len));
	if (len > AC_WIRE_BODY_MAX)
		return -EMSGSIZE;
	if (peer_compress(p, body, len)) {
		void *z;
		size_t zl;
		if (ac__zip(body, len, &z, &zl) == 0) {
			int rc = -ENOBUFS;
			if (zl > len - len / 10)
				p->p_zip_skip = 64;
			if (zl < len && (b = ac__peer_reserve(p, zl)) != NULL) {
				memcpy(b, z, zl);
				ac__peer_commit(p, type, flags | AC_WF_ZLIB, id, zl, pend);
				rc = 0;
			}
			ac__free(z);
			if (rc == 0 || zl < len)
				return rc;
		}
	}
	b = ac__peer_reserve(p, len);
	if (!b)
		return -ENOBUFS;
	if (len)
		memcpy(b, body, len);
	ac__peer_commit(p, type, flags, id, len, pend);
	AC_ASSERT(!pend || pend->pd_mark == p->p_queued_total);
	return 0;
}

void ac__peer_commit_body(ac_peer *p, uint8_t type, uint32_t id, size_t len,
                          ac__pending *pend)
{
	uint8_t *b = p->p_obuf + p->p_olen + AC_WIRE_HDR, flags = 0;
	AC_ASSERT(p->p_olen + AC_WIRE_HDR + len <= p->p_ocap); /* reserved */
	if (peer_compress(p, b, len)) {
		void *z;
		size_t zl;
		if (ac__zip(b, len, &z, &zl) == 0) {
			if (zl > len - len / 10)
				p->p_zip_skip = 64;
			if (zl < len) {
				memcpy(b, z, zl);
				len = zl;
				flags = AC_WF_ZLIB;
			}
			ac__free(z);
		}
	}
	ac__peer_commit(p, type, flags, id, len, pend);
}

/* Connect to p and handshake (from its writer). */
static int peer_connect(ac_peer *p)
{
	ac_node *n = p->p_node;
	ac_sock *k;
	ac_peer *got = NULL;
	int rc;
	AC_ASSERT(!p->p_conn && p->p_node == n); /* from the writer, to connect */
	/* Fault point: a connection attempt that fails at once. */
	if (AC_BUGGIFY(n->n_io, "peer-connect-fail")) {
		p->p_last_err = -ECONNRESET;
		return -ECONNRESET;
	}
	rc = ac_sock_connect(&p->p_loc, PEER_HANDSHAKE_MS, &k);
	if (rc == 0) {
		rc = ac__handshake(n, k, 1, &p->p_loc, &got, -1);
		if (rc == 0 && got != p)
			rc = -EPROTO; /* someone else answers at that location */
		if (rc < 0 && rc != -EALREADY)
			ac_sock_close(k);
		else if (rc == -EALREADY)
			rc = 0, ac_sock_close(k); /* the other direction won */
	}
	AC_ASSERT(rc <= 0 && (rc < 0 || !got || got == p));
	p->p_last_err = rc;
	return rc;
}

/* The pause after p_failures failed connection attempts in a row: 50 ms
 * doubling up to 1 s, or up to 10 s while the peer refuses us (a wrong
 * secret, a full peer table, a certificate that does not verify, TLS on
 * one side only), which another attempt will not change soon. */
static int64_t peer_backoff_ms(const ac_peer *p)
{
	int e = p->p_last_err;
	int64_t cap = e == -EACCES || e == -EUSERS || e == -EKEYREJECTED ||
	                      e == -ENOPROTOOPT
	                      ? 10000 : 1000;
	int shift = p->p_failures > 1 ? p->p_failures - 1 : 0;
	int64_t ms = shift >= 8 ? cap : (50LL << shift < cap ? 50LL << shift : cap);
	AC_ASSERT(p->p_failures > 0); /* called after a failed attempt */
	AC_ASSERT(ms >= 50 && ms <= cap);
	return ms;
}

/* Drop what is queued for p (it went offline). */
static void peer_drop_queue(ac_peer *p)
{
	AC_ASSERT(p->p_state != AC__PEER_ONLINE); /* only for a peer not reached */
	p->p_sent_total += p->p_olen; /* counted as gone, never written */
	p->p_olen = 0;
	AC_ASSERT(ac__peer_queue_ok(p));
}

/* Send what is queued: the queue buffer is swapped with the writer's spare
 * one, so senders keep appending while the batch is on its way. */
static void peer_write_batch(ac_peer *p)
{
	ac_node *n = p->p_node;
	uint8_t *batch = p->p_obuf;
	size_t take = p->p_olen, cap = p->p_ocap;
	ac__tls *t;
	ssize_t r;
	/* One batch at a time, of whole frames, on a live connection. */
	AC_ASSERT(p->p_conn && take >= AC_WIRE_HDR && take <= cap && !p->p_sending);
	AC_ASSERT(ac__peer_queue_ok(p));
	p->p_obuf = p->p_wbuf;
	p->p_ocap = p->p_wcap;
	p->p_olen = 0;
	p->p_wbuf = NULL;
	p->p_wcap = 0;
	/* Owned by the peer while on its way (the writer may be terminated). */
	p->p_sending = batch;
	/* The connection may be dropped meanwhile, the writer ended. */
	t = p->p_tls && ac__tls_guard(p->p_tls) == 0 ? p->p_tls : NULL;
	if (p->p_tls && !t)
		r = -ENOMEM;
	else
		r = conn_send_all(p->p_conn, t, batch, take, n->n_lost_ns / 1000000);
	if (t)
		ac__tls_unguard(t);
	p->p_sending = NULL;
	p->p_sent_total += take;
	p->p_last_tx = ac_sched_now_ns(n->n_sched);
	/* Keep the larger buffer as the spare, free the other. */
	if (!p->p_wbuf) {
		p->p_wbuf = batch;
		p->p_wcap = cap;
	} else {
		ac__free(batch);
	}
	if (r < 0)
		ac__peer_disconnect(p);
	AC_ASSERT(!p->p_sending && ac__peer_queue_ok(p)); /* the batch is counted */
}

static void peer_writer(void *arg)
{
	ac_peer *p = arg;
	ac_node *n = p->p_node;
	AC_ASSERT(ac_node_of(ac__tls_sched) == n);
	while (!n->n_stopped) {
		AC_ASSERT(ac__peer_queue_ok(p) && !p->p_sending); /* only we write */
		if (p->p_olen == 0 || p->p_state == AC__PEER_OFFLINE) {
			/* Without stream_send an idle connection is closed after a
			 * heartbeat interval; heartbeats reopen it, so liveness
			 * detection keeps working. */
			int64_t idle_ms = AC_FOREVER;
			int rc;
			if (!p->p_stream_send && p->p_conn && !p->p_pending)
				idle_ms = n->n_hb_ns / 1000000;
			p->p_writer_idle = p->p_olen == 0;
			rc = ac_waitq_wait(&p->p_wq, idle_ms);
			p->p_writer_idle = 0;
			if (rc == -ETIMEDOUT && p->p_olen == 0 && !p->p_pending &&
			    !p->p_stream_send) {
				p->p_idle_closed = 1;
				ac__peer_disconnect(p);
			}
			continue;
		}
		if (!p->p_conn && peer_connect(p) < 0) {
			p->p_failures++;
			if (p->p_state == AC__PEER_ONLINE &&
			    (p->p_last_err == -ECONNREFUSED || p->p_failures > 3))
				ac__peer_offline(p, 1);
			else if (p->p_state != AC__PEER_ONLINE) {
				peer_drop_queue(p);
				ac__peer_fail_pending(p, -EHOSTUNREACH);
			}
			ac_sleep(peer_backoff_ms(p));
			continue;
		}
		if (!p->p_conn)
			continue;
		p->p_failures = 0;
		/* Coalesce: when other coroutines are ready (producers), let them
		 * run once first, so that one write carries more frames. */
		if (n->n_sched->s_rhead && p->p_olen < 65536)
			ac_yield();
		if (p->p_conn && p->p_olen)
			peer_write_batch(p);
	}
}

int ac__peer_start(ac_peer *p)
{
	ac_spawn_opts so = {.name = "ac-writer", .daemon = 1};
	int rc;
	if (!ac_ref_is_null(p->p_writer) && ac_is_alive(p->p_writer) == 1)
		return 0;
	rc = ac__spawn_service(p->p_node->n_sched, peer_writer, p, &so,
	                       &p->p_writer);
	/* One writer per peer: a new one only once the last has ended. */
	AC_ASSERT(rc < 0 || ac_is_alive(p->p_writer) == 1);
	return rc;
}

void ac__peer_disconnect(ac_peer *p)
{
	ac_sock *k = p->p_conn;
	ac__tls *t = p->p_tls;
	if (!k)
		return;
	p->p_conn = NULL;
	p->p_tls = NULL;
	/* The reader ends when its socket closes (it frees its argument). */
	ac_sock_close(k);
	ac__tls_drop(t); /* freed once the reader and writer let go too */
	ac__file_drop_peer(p);
	ac__peer_fail_pending(p, 0);
	/* Requests written on it have no reply coming; nothing reconnected. */
	AC_ASSERT(!p->p_conn && !p->p_pending);
}

/* ---- the reader --------------------------------------------------------------------- */

/* Is the reader's connection still p's live one? */
static int peer_conn_live(const ac_peer *p, const peer_conn_arg *a)
{
	return p->p_conn == a->a_sock && p->p_conn_gen == a->a_gen;
}

static void peer_reader_end(ac_peer *p, const peer_conn_arg *a, int rc)
{
	ac_node *n = p->p_node;
	char who[AC_ADDR_STRLEN];
	AC_ASSERT(a->a_peer == p && a->a_gen <= p->p_conn_gen);
	if (!peer_conn_live(p, a))
		return; /* closed (and freed) by whoever replaced or dropped it */
	/* Routine (the peer closed an idle connection, or said goodbye in
	 * the frames just read): the peer's status lines tell the operator. */
	if (rc != -ECANCELED && !n->n_stopped && !n->n_leaving &&
	    !p->p_idle_closed)
		ac__nlog(n, rc < 0 ? AC_LOG_INFO : AC_LOG_DEBUG,
		         "connection to %s (%s) closed%s%s",
		         p->p_name, ac_addr_format(&p->p_loc, who, sizeof(who)),
		         rc < 0 ? ": " : " by the peer", rc < 0 ? ac_strerror(rc) : "");
	ac__peer_disconnect(p);
	AC_ASSERT(!peer_conn_live(p, a));
	/* Wake the writer: it reconnects when frames are queued, and finds out
	 * quickly whether the peer is still there. */
	ac_waitq_wake(&p->p_wq, 1, 1);
}

/* Dispatch one frame, inflating a compressed body first (bounded by the
 * frame limit: a decompression bomb is a bad frame). */
static int peer_dispatch(ac_peer *p, ac_wire_hdr *h, const uint8_t *body)
{
	void *raw;
	size_t rlen;
	int rc;
	AC_ASSERT(h->len <= AC_WIRE_BODY_MAX); /* checked with the header */
	if (!(h->flags & AC_WF_ZLIB))
		return ac__dispatch(p, h, body, h->len);
	if (!(p->p_node->n_caps & AC_CAP_ZLIB))
		return -EPROTO;
	rc = ac__unzip(body, h->len, AC_WIRE_BODY_MAX, &raw, &rlen);
	if (rc < 0)
		return rc;
	AC_ASSERT(rlen <= AC_WIRE_BODY_MAX); /* inflated within the frame limit */
	h->flags &= (uint8_t)~AC_WF_ZLIB;
	rc = ac__dispatch(p, h, raw, rlen);
	ac__free(raw);
	return rc;
}

/* Split buf[0..len) into frames and dispatch them; returns bytes used or a
 * negative errno for a bad frame. */
static ssize_t peer_frames(ac_peer *p, const peer_conn_arg *a,
                           const uint8_t *buf, size_t len)
{
	size_t off = 0;
	AC_ASSERT(a->a_peer == p);
	while (len - off >= AC_WIRE_HDR && peer_conn_live(p, a)) {
		ac_wire_hdr h;
		int rc = ac_wire_hdr_get(buf + off, AC_WIRE_BODY_MAX, &h);
		if (rc < 0)
			return rc;
		if (len - off - AC_WIRE_HDR < h.len)
			break;
		rc = peer_dispatch(p, &h, buf + off + AC_WIRE_HDR);
		if (rc < 0)
			return rc;
		off += AC_WIRE_HDR + h.len;
		AC_ASSERT(off <= len); /* a whole frame was in the buffer */
	}
	return (ssize_t)off;
}

static void peer_tls_drop(void *t)
{
	ac__tls_drop(t);
}

/* The reader's holds and buffer are released when it ends, however it
 * ends (deferred); on failure the caller releases nothing. */
static int peer_reader_defers(const peer_conn_arg *a, uint8_t *buf)
{
	if (ac_coro_defer(ac__sock_drop, a->a_sock) < 0) {
		ac__sock_drop(a->a_sock);
		ac__tls_drop(a->a_tls);
		ac__free(buf);
		return -ENOMEM;
	}
	if (a->a_tls && ac_coro_defer(peer_tls_drop, a->a_tls) < 0) {
		ac__tls_drop(a->a_tls);
		ac__free(buf);
		return -ENOMEM;
	}
	if (!buf || ac_coro_defer(ac__free_fn, buf) < 0) {
		ac__free(buf);
		return -ENOMEM;
	}
	return 0;
}

/* Read more of the connection's (plaintext) stream after have bytes: > 0,
 * or the reader's end code: 0 (closed between frames), -EBADMSG (closed
 * within a frame), another negative errno (a TLS failure is logged). */
static ssize_t peer_read(ac_peer *p, const peer_conn_arg *a, uint8_t *buf,
                         size_t have, size_t cap)
{
	ssize_t r = a->a_tls
	            ? ac__tls_recv(a->a_tls, buf + have, cap - have, AC_FOREVER)
	            : ac_sock_recv(a->a_sock, buf + have, cap - have, AC_FOREVER);
	if (r > 0)
		return r;
	if (r < 0 && a->a_tls && ac__tls_why(a->a_tls)[0])
		ac__nlog(p->p_node, AC_LOG_WARN, "TLS connection to %s: %s",
		         p->p_name, ac__tls_why(a->a_tls));
	/* 0: the peer closed it — in the middle of a frame, that frame is
	 * cut short. */
	return r == 0 && have > 0 ? -EBADMSG : r;
}

/* Bytes the frame at b takes in all (have of them read): its length when
 * its header was read (peer_frames checked it then), else the header's. */
static size_t peer_frame_size(const uint8_t *b, size_t have)
{
	return have >= AC_WIRE_HDR ? 4 + (size_t)ac_wire_get32(b) : AC_WIRE_HDR;
}

/* Make room in the reader's buffer for the frame at *start, which has
 * *have - *start bytes read. The buffer grows (the old one is freed at the
 * end by its defer) to hold the frame, and a large frame twice (up to
 * PEER_RBUF_BIG), so that the start of one like it read behind it fits
 * too; else the frame's bytes move to the front when it would not fit
 * behind, or when it is small and less than PEER_BIGFRAME bytes are free
 * behind it (reads stay large). Afterwards *have > 0 exactly when part of a
 * frame was read. Returns 0 or -EMSGSIZE. */
static int peer_rbuf_room(uint8_t **buf, size_t *cap, size_t *start, size_t *have)
{
	size_t part = *have - *start, size = peer_frame_size(*buf + *start, part);
	size_t want = size, need;
	uint8_t *nb;
	AC_ASSERT(part < size && size <= AC_WIRE_HDR + (size_t)AC_WIRE_BODY_MAX);
	if (size >= PEER_BIGFRAME && 2 * size <= PEER_RBUF_BIG)
		want = 2 * size;
	if (want > *cap) {
		need = want < 2 * *cap ? 2 * *cap : want; /* few growths */
		nb = ac__malloc(need);
		if (!nb || ac_coro_defer(ac__free_fn, nb) < 0) {
			ac__free(nb);
			return -EMSGSIZE;
		}
		memcpy(nb, *buf + *start, part);
		*buf = nb;
		*cap = need;
	} else if (part > 0 && (*start + size <= *cap &&
	                        (size >= PEER_BIGFRAME || *cap - *have >= PEER_BIGFRAME))) {
		return 0; /* read on behind it */
	} else {
		memmove(*buf, *buf + *start, part);
	}
	*start = 0;
	*have = part;
	return 0;
}

/* The connection's reader. Frames are dispatched where they were read; the
 * bytes of a frame not yet complete move to the front of the buffer only
 * when the frame would not fit behind them, and a read that reaches into a
 * large frame stops at its end, so large frames (file chunks) are never
 * moved: the next one starts at the front again. */
static void peer_reader(void *arg)
{
	peer_conn_arg a = *(peer_conn_arg *)arg;
	ac_peer *p = a.a_peer;
	ac_node *n = p->p_node;
	size_t cap = PEER_RBUF, have = 0, start = 0;
	uint8_t *buf = ac__malloc(cap);
	int rc = 0;
	ac__free(arg);
	if (peer_reader_defers(&a, buf) < 0) {
		peer_reader_end(p, &a, -ENOMEM);
		return;
	}
	for (;;) {
		ssize_t r, used;
		size_t end = cap, size;
		rc = peer_rbuf_room(&buf, &cap, &start, &have);
		if (rc < 0 || !peer_conn_live(p, &a))
			break; /* out of memory, or replaced before or while we ran */
		size = peer_frame_size(buf + start, have - start);
		if (size >= PEER_BIGFRAME)
			end = start + size;
		AC_ASSERT(start <= have && have < end && end <= cap);
		r = peer_read(p, &a, buf, have, end);
		if (r <= 0) {
			rc = (int)r;
			break;
		}
		have += (size_t)r;
		p->p_last_rx = ac_sched_now_ns(n->n_sched);
		used = peer_frames(p, &a, buf + start, have - start);
		if (used < 0) {
			rc = (int)used;
			ac__nlog(n, AC_LOG_WARN, "bad frame from %s: %s; closing",
			         p->p_name, ac_strerror(rc));
			break;
		}
		if (!peer_conn_live(p, &a))
			break; /* BYE or replaced */
		start += (size_t)used;
		AC_ASSERT(start <= have && have <= cap);
		/* Let the recipients run before reading more: a receive that
		 * completes at once never yields, and a peer sending without
		 * pause would otherwise pile its messages up in their queues. */
		if (n->n_sched->s_rhead)
			ac_yield();
	}
	peer_reader_end(p, &a, rc);
}

/* ---- requests ------------------------------------------------------------------------- */

#ifdef AC_DEBUG
/* 1 when pend is on p's list of requests in flight (debug checks, O(n)). */
static int peer_pending_has(const ac_peer *p, const ac__pending *pend)
{
	const ac__pending *q;
	for (q = p->p_pending; q; q = q->pd_next)
		if (q == pend)
			return 1;
	return 0;
}
#endif

static void peer_pending_unlink(ac_peer *p, ac__pending *pend)
{
	ac__pending **pp = &p->p_pending;
	AC_ASSERT(pend->pd_peer == p && !pend->pd_done); /* done ones are off */
	while (*pp && *pp != pend)
		pp = &(*pp)->pd_next;
	if (*pp)
		*pp = pend->pd_next;
	AC_DASSERT(!peer_pending_has(p, pend));
}

static void peer_pending_cancel(ac_coro *c, void *obj)
{
	ac__pending *pend = obj;
	(void)c;
	/* A done request is off its peer's list, and that peer's record may
	 * already be reclaimed. */
	AC_ASSERT(pend->pd_id != 0 && pend->pd_peer != NULL); /* it was started */
	if (!pend->pd_done)
		peer_pending_unlink(pend->pd_peer, pend);
	ac__free(pend->pd_body);
	pend->pd_body = NULL;
}

/* The first half of starting a request: pend gets its id (the writer runs). */
static int request_begin(ac_peer *p, ac__pending *pend)
{
	ac_node *n = p->p_node;
	ac_sched *s = n->n_sched;
	memset(pend, 0, sizeof(*pend));
	if (!s->s_cur)
		return -EPERM;
	if (p->p_state == AC__PEER_OFFLINE)
		return -EHOSTUNREACH;
	pend->pd_id = ++n->n_next_req ? n->n_next_req : ++n->n_next_req;
	pend->pd_coro = s->s_cur;
	pend->pd_peer = p;
	return ac__peer_start(p);
}

/* The second half, once its frame is queued: it waits for its reply. */
static void request_link(ac_peer *p, ac__pending *pend)
{
	AC_DASSERT(!peer_pending_has(p, pend));
	pend->pd_next = p->p_pending;
	p->p_pending = pend;
	/* Queued, not yet written: its mark is past what was sent. */
	AC_ASSERT(pend->pd_id != 0 && pend->pd_mark > p->p_sent_total);
}

int ac__request_start(ac_peer *p, uint8_t type, const void *body, size_t len,
                      ac__pending *pend)
{
	int rc = request_begin(p, pend);
	if (rc < 0)
		return rc;
	rc = ac__peer_queue(p, type, 0, pend->pd_id, body, len, pend);
	if (rc < 0)
		return rc;
	request_link(p, pend);
	return 0;
}

int ac__request_start_reserved(ac_peer *p, uint8_t type, size_t len,
                               ac__pending *pend)
{
	int rc = request_begin(p, pend);
	if (rc < 0)
		return rc;
	ac__peer_commit_body(p, type, pend->pd_id, len, pend);
	request_link(p, pend);
	return 0;
}

/* The requests a coroutine waits for, for the termination undo, and the
 * caller's block that holds them (freed last, or NULL). */
typedef struct peer_waitset {
	ac__pending **w_pends;
	int w_n;
	void *w_block;
} peer_waitset;

static void peer_waitset_cancel(ac_coro *c, void *obj)
{
	peer_waitset *ws = obj;
	int i;
	for (i = 0; i < ws->w_n; i++)
		peer_pending_cancel(c, ws->w_pends[i]);
	ac__free(ws->w_block);
}

void ac__request_wait(ac__pending **pends, int n, int64_t deadline_ns)
{
	ac__request_wait_owned(pends, n, deadline_ns, NULL);
}

void ac__request_wait_owned(ac__pending **pends, int n, int64_t deadline_ns,
                            void *block)
{
	ac_sched *s = ac__tls_sched;
	peer_waitset ws = {pends, n, block};
	int i;
	AC_ASSERT(n >= 0 && s && s->s_cur); /* a coroutine waits */
	for (;;) {
		int left = 0;
		for (i = 0; i < n; i++) {
			AC_ASSERT(pends[i]->pd_id != 0); /* started */
			left += !pends[i]->pd_done;
		}
		if (!left)
			return;
		if (deadline_ns >= 0 && ac_sched_now_ns(s) >= deadline_ns)
			break;
		ac__park(s, deadline_ns, peer_waitset_cancel, &ws);
	}
	for (i = 0; i < n; i++) {
		if (pends[i]->pd_done)
			continue;
		peer_pending_unlink(pends[i]->pd_peer, pends[i]);
		pends[i]->pd_done = 1;
		pends[i]->pd_err = -ETIMEDOUT;
	}
	AC_ASSERT(deadline_ns >= 0); /* only a deadline leaves requests undone */
}

int ac__request(ac_peer *p, uint8_t type, const void *body, size_t len,
                int64_t timeout_ms, ac__pending *pend)
{
	ac_sched *s = p->p_node->n_sched;
	int rc = ac__request_start(p, type, body, len, pend);
	if (rc < 0)
		return rc;
	/* 0: queued, -ETIMEDOUT at once (see ac__remote_call). */
	ac__request_wait(&pend, 1, ac__deadline(s, timeout_ms));
	AC_ASSERT(pend->pd_done && pend->pd_err <= 0);
	return pend->pd_err;
}

void ac__peer_fail_pending(ac_peer *p, int err)
{
	ac__pending *pend;
	AC_ASSERT(err <= 0);
	while ((pend = p->p_pending) != NULL) {
		AC_ASSERT(!pend->pd_done && pend->pd_peer == p);
		p->p_pending = pend->pd_next;
		pend->pd_done = 1;
		/* Written but unanswered: the outcome is unknown (0 → timeout-like
		 * for deliver); never written: certainly not done. */
		pend->pd_err = err ? err
		                  : (p->p_sent_total >= pend->pd_mark ? -ETIMEDOUT
		                                                      : -EHOSTUNREACH);
		AC_ASSERT(pend->pd_err < 0);
		ac__wake(pend->pd_coro, 1);
	}
}

/* A reply arrived: hand its body to the waiting request. */
int ac__peer_reply_in(ac_peer *p, uint32_t id, const uint8_t *body, size_t len);
int ac__peer_reply_in(ac_peer *p, uint32_t id, const uint8_t *body, size_t len)
{
	ac__pending *pend = p->p_pending;
	AC_ASSERT(id != 0); /* replies to one-way frames are bad frames */
	while (pend && pend->pd_id != id)
		pend = pend->pd_next;
	if (!pend)
		return 0; /* its requester gave up: dropped */
	peer_pending_unlink(p, pend);
	pend->pd_inc = p->p_inc;
	pend->pd_body = ac__malloc(len ? len : 1);
	if (!pend->pd_body) {
		pend->pd_err = -ENOMEM;
	} else {
		memcpy(pend->pd_body, body, len);
		pend->pd_len = len;
	}
	pend->pd_done = 1;
	AC_ASSERT(pend->pd_err < 0 || pend->pd_body != NULL);
	ac__wake(pend->pd_coro, 1);
	return 0;
}
