/* net/discover.c: UDP discovery — nodes announce themselves on udp_port and
 * the nodes that hear an announcement connect to the announcer (the
 * announcer itself never connects: it does not know who heard it).
 *
 * An announcement is one datagram: a frame of type AC_WT_ANNOUNCE (header
 * as in wire.h, flags 0, id 0) whose body is the MessagePack array
 *
 *   [magic, version, name, loc, inc, udp_port, relay]
 *
 * followed by AC_WIRE_MAC bytes of HMAC-SHA256 under the secret over the
 * frame. A datagram whose MAC fails (another secret), that is malformed in
 * any field, or that announces ourselves is dropped; nothing is sent back
 * over UDP. A MAC failure is logged at INFO once per source of the last
 * 16, and such lines, over all sources, at most 10 per 10 s with a count
 * of the rest (net/nlog.c: rotating or spoofed sources cannot flood the
 * log); every other drop at DEBUG.
 *
 * relay = 1 is only ever set on a unicast announcement (peer() with port 0
 * and broadcast on): the node that receives it re-broadcasts it once to its
 * own broadcast address with relay cleared, so relays never loop. Several
 * nodes of a host share udp_port (SO_REUSEPORT): a broadcast reaches all of
 * them, a unicast datagram reaches one of them (the kernel picks).
 */
#include "net/net.h"

/* Announcements broadcast at start, and the gap between them. */
#define DISC_REPEAT 3
#define DISC_GAP_MS 100
/* Later announcements: one every this many heartbeat intervals. */
#define DISC_PERIOD_HB 5
/* Time allowed to hand a datagram to the network. */
#define DISC_SEND_MS 1000
/* Sources of failed MACs remembered (each logged once at INFO). */
#define DISC_BADMAC_MAX 16
/* Pause after an unexpected receive error. */
#define DISC_ERR_PAUSE_MS 100

/* The fields of an announcement. */
typedef struct disc_ann {
	char name[AC_WIRE_NAME_MAX + 1];
	ac_addr loc;
	uint64_t inc;
	uint64_t udp;
	int relay;
} disc_ann;

/* State of the discovery coroutine. */
typedef struct disc_state {
	ac_node *d_node;
	ac_addr d_badmac[DISC_BADMAC_MAX];
	unsigned d_nbadmac;
	unsigned d_next_badmac;
} disc_state;

/* ---- building and checking datagrams ----------------------------------------- */

static int disc_check_frame(ac_node *n, const uint8_t *buf, size_t len,
                            size_t *blen);

/* Encode a into buf (AC_WIRE_ANNOUNCE_MAX bytes): frame then MAC. */
static int disc_build(ac_node *n, const disc_ann *a, uint8_t *buf,
                      size_t *len)
{
	const void *parts[1];
	size_t lens[1];
	void *body;
	size_t blen;
	int rc;
	AC_ASSERT(a->inc != 0 && a->udp <= 65535 && (a->relay == 0 || a->relay == 1));
	rc = ac_pack(&body, &blen, "[u u s l u u b]", (uint64_t)AC_WIRE_MAGIC,
	             (uint64_t)AC_WIRE_VERSION, a->name, &a->loc, a->inc, a->udp,
	             a->relay);
	if (rc < 0)
		return rc;
	if (AC_WIRE_HDR + blen + AC_WIRE_MAC > AC_WIRE_ANNOUNCE_MAX) {
		ac__free(body);
		return -EMSGSIZE;
	}
	ac_wire_hdr_put(buf, AC_WT_ANNOUNCE, 0, 0, (uint32_t)blen);
	memcpy(buf + AC_WIRE_HDR, body, blen);
	ac__free(body);
	parts[0] = buf;
	lens[0] = AC_WIRE_HDR + blen;
	ac__hmac(n, parts, lens, 1, buf + lens[0]);
	*len = lens[0] + AC_WIRE_MAC;
	AC_ASSERT(*len <= AC_WIRE_ANNOUNCE_MAX);
	/* What we send passes our own check (any receiver with our secret). */
	AC_DASSERT(disc_check_frame(n, buf, *len, &blen) == 0 &&
	           blen + AC_WIRE_HDR + AC_WIRE_MAC == *len);
	return 0;
}

/* Check the frame and MAC of a datagram: 0, -EBADMSG (malformed) or
 * -EACCES (MAC failed); *blen gets the body length. */
static int disc_check_frame(ac_node *n, const uint8_t *buf, size_t len,
                            size_t *blen)
{
	const void *parts[1];
	size_t lens[1];
	uint8_t mac[AC_WIRE_MAC];
	ac_wire_hdr h;
	if (len < AC_WIRE_HDR + AC_WIRE_MAC || len > AC_WIRE_ANNOUNCE_MAX)
		return -EBADMSG;
	if (ac_wire_hdr_get(buf, AC_WIRE_ANNOUNCE_MAX, &h) < 0 ||
	    h.type != AC_WT_ANNOUNCE || h.flags != 0 || h.req_id != 0 ||
	    (size_t)h.len != len - AC_WIRE_HDR - AC_WIRE_MAC)
		return -EBADMSG;
	parts[0] = buf;
	lens[0] = AC_WIRE_HDR + h.len;
	ac__hmac(n, parts, lens, 1, mac);
	if (!ac__mac_eq(mac, buf + lens[0]))
		return -EACCES;
	*blen = h.len;
	/* The body and the MAC fill the datagram exactly. */
	AC_ASSERT(AC_WIRE_HDR + *blen + AC_WIRE_MAC == len);
	return 0;
}

/* Decode and check the body fields: 0 or -EBADMSG / -EPROTONOSUPPORT. */
static int disc_parse_body(const uint8_t *body, size_t blen, disc_ann *a)
{
	uint64_t magic, ver;
	memset(a, 0, sizeof(*a));
	if (ac_unpack(body, blen, "[u u s l u u b]", &magic, &ver, a->name,
	              sizeof(a->name), &a->loc, &a->inc, &a->udp, &a->relay) < 0)
		return -EBADMSG;
	if (magic != AC_WIRE_MAGIC)
		return -EBADMSG;
	if (ver != AC_WIRE_VERSION)
		return -EPROTONOSUPPORT;
	if (!a->name[0] || a->inc == 0 || a->udp == 0 || a->udp > 65535 ||
	    a->loc.family == AC_AF_NONE || a->loc.port == 0 ||
	    ac_addr_is_any(&a->loc))
		return -EBADMSG;
	/* What disc_heard relies on: a named node at a reachable location. */
	AC_ASSERT(a->loc.family != AC_AF_NONE && a->loc.port != 0 && a->inc != 0);
	AC_ASSERT(a->relay == 0 || a->relay == 1);
	return 0;
}

/* ---- sending --------------------------------------------------------------------- */

/* Send a datagram to `to` on the node's socket, or on a short-lived one
 * when discovery is off (peer() with port 0 works without it). */
static int disc_send(ac_node *n, const uint8_t *buf, size_t len,
                     const ac_addr *to)
{
	ac_sock *k = n->n_udp;
	ac_addr any;
	ssize_t r;
	int rc;
	AC_ASSERT(len > AC_WIRE_HDR + AC_WIRE_MAC && len <= AC_WIRE_ANNOUNCE_MAX);
	AC_ASSERT(to->family != AC_AF_NONE);
	if (!k) {
		ac_addr_parse(&any, to->family == AC_AF_INET6 ? "::" : "0.0.0.0", 0);
		rc = ac_sock_udp(n->n_sched, &any, AC_IO_BROADCAST, &k);
		if (rc < 0)
			return rc;
	}
	r = ac_sock_sendto(k, buf, len, to, DISC_SEND_MS);
	if (k != n->n_udp)
		ac_sock_close(k);
	return r < 0 ? (int)r : 0;
}

int ac__announce(ac_node *n, const ac_addr *to, int relay)
{
	uint8_t buf[AC_WIRE_ANNOUNCE_MAX];
	char text[AC_ADDR_STRLEN];
	disc_ann a;
	size_t len;
	int rc;
	if (!n || !to || to->family == AC_AF_NONE || to->port == 0)
		return -EINVAL;
	if (n->n_stopped)
		return -ESHUTDOWN;
	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "%s", n->n_name);
	a.loc = n->n_loc;
	a.inc = n->n_sched->s_inc;
	a.udp = n->n_udp_port;
	a.relay = relay ? 1 : 0;
	AC_ASSERT(a.name[0] != '\0' && a.inc != 0); /* a started node's */
	rc = disc_build(n, &a, buf, &len);
	if (rc == 0)
		rc = disc_send(n, buf, len, to);
	ac__nlog(n, rc < 0 ? AC_LOG_INFO : AC_LOG_DEBUG, "announce to %s%s: %s",
	         ac_addr_format(to, text, sizeof(text)), relay ? " (relay)" : "",
	         ac_strerror(rc));
	AC_ASSERT(rc <= 0);
	return rc;
}

/* ---- receiving ----------------------------------------------------------------- */

/* Log a failed MAC at INFO the first time a source is seen (bounded). */
static void disc_badmac(disc_state *d, const ac_addr *from)
{
	ac_node *n = d->d_node;
	char text[AC_ADDR_STRLEN];
	ac_addr src = *from;
	unsigned i;
	AC_ASSERT(d->d_nbadmac <= DISC_BADMAC_MAX && d->d_next_badmac < DISC_BADMAC_MAX);
	src.port = 0; /* one entry per host */
	ac_addr_format_ip(&src, text, sizeof(text));
	for (i = 0; i < d->d_nbadmac; i++) {
		if (ac_addr_eq(&d->d_badmac[i], &src)) {
			ac__nlog(n, AC_LOG_DEBUG, "discovery: bad MAC from %s", text);
			return;
		}
	}
	ac__nlog_class_v(n, AC__NLOG_BADMAC, AC_LOG_INFO,
	                 "discovery: announcement from %s dropped: bad MAC "
	                 "(another secret?)", text);
	d->d_badmac[d->d_next_badmac] = src;
	d->d_next_badmac = (d->d_next_badmac + 1) % DISC_BADMAC_MAX;
	if (d->d_nbadmac < DISC_BADMAC_MAX)
		d->d_nbadmac++;
	AC_ASSERT(d->d_nbadmac <= DISC_BADMAC_MAX && d->d_next_badmac < DISC_BADMAC_MAX);
}

/* Re-broadcast a relay request once on our own network, relay cleared. */
static void disc_relay(ac_node *n, const disc_ann *a)
{
	uint8_t buf[AC_WIRE_ANNOUNCE_MAX];
	char text[AC_ADDR_STRLEN];
	disc_ann copy = *a;
	size_t len;
	int rc;
	AC_ASSERT(a->relay == 1); /* only a relay request is relayed */
	if (n->n_bcast.family == AC_AF_NONE) {
		ac__nlog(n, AC_LOG_DEBUG, "discovery: relay asked, no broadcast address");
		return;
	}
	copy.relay = 0; /* relayed once: never again */
	rc = disc_build(n, &copy, buf, &len);
	if (rc == 0)
		rc = disc_send(n, buf, len, &n->n_bcast);
	ac__nlog(n, rc < 0 ? AC_LOG_INFO : AC_LOG_DEBUG, "discovery: relay of %s to %s: %s",
	         a->name, ac_addr_format(&n->n_bcast, text, sizeof(text)),
	         ac_strerror(rc));
}

/* A valid announcement of another node: connect unless already connected
 * to that incarnation. Connecting goes through the peer's writer: a PING
 * queued for a peer without a connection makes the writer connect and
 * handshake (which tells name, incarnation and caps). */
static void disc_heard(ac_node *n, const disc_ann *a)
{
	char text[AC_ADDR_STRLEN];
	ac_peer *p = ac__peer_find(n, &a->loc);
	AC_ASSERT(!ac_addr_eq(&a->loc, &n->n_loc)); /* not ourselves */
	if (p && p->p_state == AC__PEER_ONLINE && p->p_inc == a->inc)
		return; /* known and online */
	if (!p)
		p = ac__peer_get(n, &a->loc);
	if (!p) {
		ac__nlog(n, AC_LOG_INFO, "discovery: no room for peer %s", a->name);
		return;
	}
	ac__nlog(n, AC_LOG_DEBUG, "discovery: \"%s\" at %s (incarnation %llx)", a->name,
	         ac_addr_format(&a->loc, text, sizeof(text)), (unsigned long long)a->inc);
	if (p->p_state == AC__PEER_OFFLINE)
		p->p_state = AC__PEER_NEW; /* back: connect on demand again */
	/* Online with another incarnation: the ping finds out whether the old
	 * connection still works; the handshake of a new one sorts it out. */
	if (p->p_olen == 0 && (p->p_state == AC__PEER_ONLINE || !p->p_conn))
		ac__peer_queue(p, AC_WT_PING, 0, 0, NULL, 0, NULL);
	AC_ASSERT(p->p_node == n && p->p_state != AC__PEER_OFFLINE);
}

/* Handle one datagram of len bytes from `from`. */
static void disc_datagram(disc_state *d, const uint8_t *buf, size_t len,
                          const ac_addr *from)
{
	ac_node *n = d->d_node;
	char text[AC_ADDR_STRLEN];
	disc_ann a;
	size_t blen = 0;
	int rc;
	AC_ASSERT(len <= AC_WIRE_ANNOUNCE_MAX + 1); /* the loop's buffer */
	rc = disc_check_frame(n, buf, len, &blen);
	if (rc == -EACCES) {
		disc_badmac(d, from);
		return;
	}
	if (rc == 0)
		rc = disc_parse_body(buf + AC_WIRE_HDR, blen, &a);
	if (rc < 0) {
		ac__nlog(n, AC_LOG_DEBUG, "discovery: %zu bytes from %s dropped: %s", len,
		         ac_addr_format(from, text, sizeof(text)), ac_strerror(rc));
		return;
	}
	/* Relay first: a unicast to a host whose nodes share udp_port may
	 * reach the announcer itself, which then relays like any other. */
	if (a.relay)
		disc_relay(n, &a);
	if (ac_addr_eq(&a.loc, &n->n_loc))
		return; /* ourselves (or a stale copy of us) */
	/* A node serving on loopback only ever connects to loopback nodes:
	 * the socket hears the whole host, the node must not reach out. */
	if (ac_addr_is_loopback(&n->n_loc) && !ac_addr_is_loopback(&a.loc)) {
		ac__nlog(n, AC_LOG_DEBUG, "discovery: %s is not on loopback; ignored",
		         ac_addr_format(&a.loc, text, sizeof(text)));
		return;
	}
	disc_heard(n, &a);
}

/* The discovery coroutine: the start-up announcements, interleaved with
 * receiving datagrams until the socket closes. */
static void disc_loop(void *arg)
{
	disc_state d;
	ac_node *n = arg;
	uint8_t buf[AC_WIRE_ANNOUNCE_MAX + 1]; /* one more: too long shows */
	int left = n->n_bcast.family != AC_AF_NONE ? DISC_REPEAT : 0;
	int64_t next = ac_sched_now_ns(n->n_sched);
	memset(&d, 0, sizeof(d));
	d.d_node = n;
	while (!n->n_stopped && n->n_udp) {
		int64_t wait = AC_FOREVER, now = ac_sched_now_ns(n->n_sched);
		ac_addr from;
		ssize_t r;
		AC_ASSERT(left >= 0 && left <= DISC_REPEAT);
		if (left > 0 && now >= next) {
			ac__announce(n, &n->n_bcast, 0);
			left--;
			next = now + (int64_t)DISC_GAP_MS * 1000000;
			if (left == 0) {
				/* After the start-up burst, one announcement every few
				 * heartbeats: a node whose burst was lost is found too. */
				left = 1;
				next = now + DISC_PERIOD_HB * n->n_hb_ns;
			}
			continue;
		}
		if (left > 0)
			wait = (next - now + 999999) / 1000000;
		r = ac_sock_recvfrom(n->n_udp, buf, sizeof(buf), &from, wait);
		if (r == -ETIMEDOUT)
			continue;
		if (r == -ECANCELED || r == -EBADF || n->n_stopped)
			break;
		AC_ASSERT(r <= (ssize_t)sizeof(buf));
		if (r < 0) {
			ac__nlog(n, AC_LOG_DEBUG, "discovery: receive: %s", ac_strerror((int)r));
			ac_sleep(DISC_ERR_PAUSE_MS);
			continue;
		}
		disc_datagram(&d, buf, (size_t)r, &from);
	}
}

int ac__discover_start(ac_node *n)
{
	ac_spawn_opts so = {.name = "ac-discovery", .daemon = 1};
	ac_addr any;
	int rc;
	AC_ASSERT(n->n_udp == NULL && n->n_udp_port != 0); /* once, at start */
	ac_addr_parse(&any, n->n_bind.family == AC_AF_INET6 ? "::" : "0.0.0.0",
	              n->n_udp_port);
	rc = ac_sock_udp(n->n_sched, &any,
	                 AC_IO_REUSEADDR | AC_IO_REUSEPORT | AC_IO_BROADCAST, &n->n_udp);
	if (rc < 0) {
		n->n_udp = NULL;
		if (rc == -ENOMEM)
			return rc;
		ac__nlog(n, AC_LOG_WARN, "discovery on udp port %u: %s", n->n_udp_port,
		         ac_strerror(rc));
		return 0;
	}
	rc = ac__spawn_service(n->n_sched, disc_loop, n, &so, &n->n_discovery);
	if (rc < 0) {
		ac_sock_close(n->n_udp);
		n->n_udp = NULL;
		return rc;
	}
	AC_ASSERT(n->n_udp != NULL && !ac_ref_is_null(n->n_discovery));
	return 0;
}
