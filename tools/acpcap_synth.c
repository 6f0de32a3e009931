/* tools/acpcap_synth.c: record events to IP packets (see acpcap_synth.h).
 *
 * State: one slot per backend handle (TCP connection or UDP socket), one
 * entry per submitted operation that has not completed yet (its type,
 * handle and, for send/sendto, a copy of the bytes given: the event's
 * pointers die with the next event), and a count per 4-tuple for the
 * initial sequence numbers. A handle's slot carries a generation bumped
 * at close, so that an operation completing after its handle was closed
 * and reused (close completes pending operations with -ECANCELED) never
 * touches the new connection.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/acpcap_map.h"
#include "tools/acpcap_synth.h"

/* Handles above this are ignored (backends use small integers). */
#define SYNTH_HANDLE_MAX (1 << 20)

enum { SK_NONE, SK_TCP, SK_UDP };
enum { SO_UNKNOWN, SO_CONNECT, SO_ACCEPT };
enum { TH_FIN = 1, TH_SYN = 2, TH_RST = 4, TH_PSH = 8, TH_ACK = 16 };

/* What the synthesizer knows about one handle. */
struct synth_handle {
	/* SK_*. */
	uint8_t k_kind;
	/* SO_*: how the handle came to be (from the completion). */
	uint8_t k_origin;
	/* TCP: the connection is up (AC_REC_CONN seen). */
	uint8_t k_up;
	uint8_t k_fin_out;
	uint8_t k_fin_in;
	uint8_t k_rst;
	/* TCP: the other end of a connection of this record (both ends in
	 * one backend): the first end's packets show it all. */
	uint8_t k_mirror;
	/* Bumped when the handle is closed. */
	uint32_t k_gen;
	/* Next sequence number of each direction. */
	uint32_t k_snd_nxt;
	uint32_t k_rcv_nxt;
	/* TCP: the connection's ends; UDP: the bound address. */
	ac_addr k_local;
	ac_addr k_peer;
};

/* A submitted operation that has not completed. */
struct synth_op {
	int o_type;
	int32_t o_h;
	uint32_t o_gen;
	/* connect: the target; sendto: the destination. */
	ac_addr o_addr;
	/* send/sendto: a copy of the bytes given. */
	uint8_t *o_data;
	size_t o_len;
};

/* Event number -> first frame, for the events that made frames. */
struct synth_fmark {
	uint64_t f_ev;
	uint64_t f_frame;
};

struct acp_synth {
	acp_emit_fn s_emit;
	void *s_arg;
	int64_t s_wall0;
	int64_t s_mono0;
	/* Last monotonic reading, and the last timestamp given out. */
	int64_t s_mono;
	int64_t s_last_ts;
	struct synth_handle *s_h;
	size_t s_nh;
	/* op id -> struct synth_op. */
	acp_map s_ops;
	/* 4-tuple hash -> connections seen with it (as a pointer-sized int). */
	acp_map s_tuples;
	uint64_t s_frames;
	uint64_t s_ignored;
	/* Event being fed, and whether it made a frame yet. */
	uint64_t s_ev;
	int s_ev_marked;
	struct synth_fmark *s_fm;
	size_t s_nfm;
	size_t s_capfm;
	int s_oom;
	uint8_t s_pkt[ACP_SNAPLEN + 64];
};

/* ---- checksums and packets ------------------------------------------------ */

static uint32_t synth_sum(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;
	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t synth_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static size_t synth_iphdr_len(const ac_addr *a)
{
	return a->family == AC_AF_INET6 ? 40 : 20;
}

/* Largest TCP payload of a segment from src. */
static size_t synth_seg_max(const ac_addr *src)
{
	size_t max = ACP_SNAPLEN - synth_iphdr_len(src) - 20;
	return max < ACP_SEG_MAX ? max : ACP_SEG_MAX;
}

/* Write the IP header for l4len bytes of protocol proto; returns its
 * length, and the pseudo-header sum in *psum. */
static size_t synth_ip(uint8_t *p, const ac_addr *src, const ac_addr *dst,
                       int proto, size_t l4len, uint32_t *psum)
{
	uint8_t ph[4];
	if (src->family == AC_AF_INET6) {
		memset(p, 0, 40);
		p[0] = 0x60;
		put16(p + 4, (uint32_t)l4len);
		p[6] = (uint8_t)proto;
		p[7] = 64;
		memcpy(p + 8, src->ip, 16);
		memcpy(p + 24, dst->ip, 16);
		put32(ph, (uint32_t)l4len);
		*psum = synth_sum(synth_sum(0, p + 8, 32), ph, 4) + (uint32_t)proto;
		return 40;
	}
	memset(p, 0, 20);
	p[0] = 0x45;
	put16(p + 2, (uint32_t)(20 + l4len));
	p[6] = 0x40; /* don't fragment; id 0 */
	p[8] = 64;
	p[9] = (uint8_t)proto;
	memcpy(p + 12, src->ip, 4);
	memcpy(p + 16, dst->ip, 4);
	put16(p + 10, synth_fold(synth_sum(0, p, 20)));
	*psum = synth_sum(0, p + 12, 8) + (uint32_t)proto + (uint32_t)l4len;
	return 20;
}

/* Remember that the current event made frame number s->s_frames. */
static void synth_mark(acp_synth *s)
{
	struct synth_fmark *n;
	if (s->s_ev_marked)
		return;
	if (s->s_nfm == s->s_capfm) {
		size_t cap = s->s_capfm ? s->s_capfm * 2 : 256;
		n = realloc(s->s_fm, cap * sizeof(*n));
		if (n == NULL) {
			s->s_oom = 1;
			return;
		}
		s->s_fm = n;
		s->s_capfm = cap;
	}
	s->s_fm[s->s_nfm].f_ev = s->s_ev;
	s->s_fm[s->s_nfm].f_frame = s->s_frames;
	s->s_nfm++;
	s->s_ev_marked = 1;
}

static void synth_out(acp_synth *s, size_t len)
{
	int64_t ts = s->s_wall0 + (s->s_mono - s->s_mono0);
	if (ts < s->s_last_ts)
		ts = s->s_last_ts;
	if (ts < 0)
		ts = 0;
	s->s_last_ts = ts;
	s->s_frames++;
	synth_mark(s);
	s->s_emit(s->s_arg, ts, s->s_pkt, len);
}

/* One TCP segment from src to dst. */
static void synth_tcp(acp_synth *s, const ac_addr *src, const ac_addr *dst,
                      uint32_t seq, uint32_t ack, int flags,
                      const uint8_t *data, size_t len)
{
	uint8_t *p = s->s_pkt, *t;
	size_t thl = (flags & TH_SYN) ? 28 : 20, ihl;
	uint32_t sum;

	ihl = synth_ip(p, src, dst, 6, thl + len, &sum);
	t = p + ihl;
	memset(t, 0, thl);
	put16(t, src->port);
	put16(t + 2, dst->port);
	put32(t + 4, seq);
	put32(t + 8, (flags & TH_ACK) ? ack : 0);
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = (uint8_t)flags;
	put16(t + 14, 65535);
	if (flags & TH_SYN) {
		/* MSS (the largest segment made), NOP, window scale 14 */
		t[20] = 2;
		t[21] = 4;
		put16(t + 22, (uint32_t)synth_seg_max(src));
		t[24] = 1;
		t[25] = 3;
		t[26] = 3;
		t[27] = 14;
	}
	if (len > 0)
		memcpy(t + thl, data, len);
	put16(t + 16, synth_fold(synth_sum(sum, t, thl + len)));
	synth_out(s, ihl + thl + len);
}

/* One UDP datagram (cut to what fits in the snapshot length: a real one
 * could not be longer). */
static void synth_udp(acp_synth *s, const ac_addr *src, const ac_addr *dst,
                      const uint8_t *data, size_t len)
{
	uint8_t *p = s->s_pkt, *u;
	size_t ihl = synth_iphdr_len(src), max = ACP_SNAPLEN - ihl - 8;
	uint32_t sum;
	uint16_t c;

	if (len > max)
		len = max;
	ihl = synth_ip(p, src, dst, 17, 8 + len, &sum);
	u = p + ihl;
	put16(u, src->port);
	put16(u + 2, dst->port);
	put16(u + 4, (uint32_t)(8 + len));
	put16(u + 6, 0);
	if (len > 0)
		memcpy(u + 8, data, len);
	c = synth_fold(synth_sum(sum, u, 8 + len));
	put16(u + 6, c == 0 ? 0xffff : c);
	synth_out(s, ihl + 8 + len);
}

/* ---- connections ------------------------------------------------------------ */

/* The slot of handle h, growing the table; NULL for a bad handle or on
 * ENOMEM (then s_oom is set). */
static struct synth_handle *synth_slot(acp_synth *s, int64_t h)
{
	struct synth_handle *n;
	size_t cap;
	if (h < 0 || h >= SYNTH_HANDLE_MAX)
		return NULL;
	if ((size_t)h >= s->s_nh) {
		cap = s->s_nh ? s->s_nh : 16;
		while (cap <= (size_t)h)
			cap *= 2;
		n = realloc(s->s_h, cap * sizeof(*n));
		if (n == NULL) {
			s->s_oom = 1;
			return NULL;
		}
		memset(n + s->s_nh, 0, (cap - s->s_nh) * sizeof(*n));
		s->s_h = n;
		s->s_nh = cap;
	}
	return &s->s_h[h];
}

/* The current generation of handle h (0 for one never seen). */
static uint32_t synth_gen(const acp_synth *s, int64_t h)
{
	return h >= 0 && (size_t)h < s->s_nh ? s->s_h[h].k_gen : 0;
}

/* The slot of an established TCP connection on h that still carries
 * data, or NULL. */
static struct synth_handle *synth_conn(acp_synth *s, int64_t h, uint32_t gen)
{
	struct synth_handle *k;
	if (h < 0 || (size_t)h >= s->s_nh)
		return NULL;
	k = &s->s_h[h];
	if (k->k_kind != SK_TCP || !k->k_up || k->k_rst || k->k_mirror || k->k_gen != gen)
		return NULL;
	return k;
}

/* 1 when handle h is the second end of a connection of this record. */
static int synth_is_mirror(const acp_synth *s, int64_t h)
{
	return h >= 0 && (size_t)h < s->s_nh && s->s_h[h].k_mirror;
}

/* Initial sequence number of the direction src -> dst of the n-th
 * connection with this 4-tuple. */
static uint32_t synth_isn(const ac_addr *src, const ac_addr *dst, uint64_t n)
{
	uint64_t h = ACP_FNV_INIT;
	h = acp_fnv(h, &src->family, 1);
	h = acp_fnv(h, src->ip, 16);
	h = acp_fnv(h, &src->port, 2);
	h = acp_fnv(h, &dst->family, 1);
	h = acp_fnv(h, dst->ip, 16);
	h = acp_fnv(h, &dst->port, 2);
	h = acp_fnv(h, &n, sizeof(n));
	return (uint32_t)(h ^ (h >> 32));
}

/* How many connections had this 4-tuple before (either direction). */
static uint64_t synth_tuple_count(acp_synth *s, const ac_addr *a,
                                  const ac_addr *b)
{
	uint64_t ka = acp_fnv(ACP_FNV_INIT, a, sizeof(*a));
	uint64_t kb = acp_fnv(ACP_FNV_INIT, b, sizeof(*b));
	uint64_t key = (ka < kb ? ka * 31 + kb : kb * 31 + ka) | 1;
	uintptr_t n = (uintptr_t)acp_map_get(&s->s_tuples, key);
	if (acp_map_put(&s->s_tuples, key, (void *)(n + 1)) < 0)
		s->s_oom = 1;
	return n;
}

/* 1 when a live connection of this record is local <-> peer seen from
 * the other end. */
static int synth_has_mirror(const acp_synth *s, const ac_addr *local,
                            const ac_addr *peer)
{
	size_t i;
	for (i = 0; i < s->s_nh; i++) {
		const struct synth_handle *k = &s->s_h[i];
		if (k->k_kind == SK_TCP && k->k_up && !k->k_mirror &&
		    ac_addr_eq(&k->k_local, peer) && ac_addr_eq(&k->k_peer, local))
			return 1;
	}
	return 0;
}

static int synth_is_connect_to(const void *val, const void *arg)
{
	const struct synth_op *o = val;
	return o->o_type == AC_OP_CONNECT && ac_addr_eq(&o->o_addr, arg);
}

/* AC_REC_CONN: handle h connected, local address l, peer r. */
static void synth_on_conn(acp_synth *s, const ac_rec_event *e)
{
	struct synth_handle *k = synth_slot(s, e->h);
	const ac_addr *l = &e->addr, *r = &e->addr2;
	uint32_t io, ii;
	uint64_t n;
	int client;

	if (k == NULL || l->family == AC_AF_NONE || l->family != r->family) {
		s->s_ignored++;
		return;
	}
	client = k->k_origin == SO_CONNECT;
	if (k->k_origin == SO_UNKNOWN) /* the completion comes later */
		client = acp_map_find(&s->s_ops, synth_is_connect_to, r) != NULL;
	k->k_mirror = synth_has_mirror(s, l, r);
	k->k_kind = SK_TCP;
	k->k_up = 1;
	k->k_fin_out = k->k_fin_in = k->k_rst = 0;
	k->k_local = *l;
	k->k_peer = *r;
	if (k->k_mirror)
		return;
	n = synth_tuple_count(s, l, r);
	io = synth_isn(l, r, n);
	ii = synth_isn(r, l, n);
	if (client) {
		synth_tcp(s, l, r, io, 0, TH_SYN, NULL, 0);
		synth_tcp(s, r, l, ii, io + 1, TH_SYN | TH_ACK, NULL, 0);
		synth_tcp(s, l, r, io + 1, ii + 1, TH_ACK, NULL, 0);
	} else {
		synth_tcp(s, r, l, ii, 0, TH_SYN, NULL, 0);
		synth_tcp(s, l, r, io, ii + 1, TH_SYN | TH_ACK, NULL, 0);
		synth_tcp(s, r, l, ii + 1, io + 1, TH_ACK, NULL, 0);
	}
	k->k_snd_nxt = io + 1;
	k->k_rcv_nxt = ii + 1;
}

/* Bytes the node wrote (out) or read (!out) on connection k, cut into
 * segments. */
static void synth_data(acp_synth *s, struct synth_handle *k, int out,
                       const uint8_t *p, size_t len)
{
	size_t max = synth_seg_max(&k->k_local), n;
	while (len > 0) {
		n = len < max ? len : max;
		if (out) {
			synth_tcp(s, &k->k_local, &k->k_peer, k->k_snd_nxt, k->k_rcv_nxt,
			          TH_ACK | (n == len ? TH_PSH : 0), p, n);
			k->k_snd_nxt += (uint32_t)n;
		} else {
			synth_tcp(s, &k->k_peer, &k->k_local, k->k_rcv_nxt, k->k_snd_nxt,
			          TH_ACK | (n == len ? TH_PSH : 0), p, n);
			k->k_rcv_nxt += (uint32_t)n;
		}
		p += n;
		len -= n;
	}
}

/* FIN from the node (out) or from the peer, once per direction. */
static void synth_fin(acp_synth *s, struct synth_handle *k, int out)
{
	if (out && !k->k_fin_out) {
		synth_tcp(s, &k->k_local, &k->k_peer, k->k_snd_nxt, k->k_rcv_nxt,
		          TH_FIN | TH_ACK, NULL, 0);
		k->k_snd_nxt++;
		k->k_fin_out = 1;
	} else if (!out && !k->k_fin_in) {
		synth_tcp(s, &k->k_peer, &k->k_local, k->k_rcv_nxt, k->k_snd_nxt,
		          TH_FIN | TH_ACK, NULL, 0);
		k->k_rcv_nxt++;
		k->k_fin_in = 1;
	}
}

/* The peer reset the connection. */
static void synth_rst(acp_synth *s, struct synth_handle *k)
{
	synth_tcp(s, &k->k_peer, &k->k_local, k->k_rcv_nxt, k->k_snd_nxt,
	          TH_RST | TH_ACK, NULL, 0);
	k->k_rst = 1;
}

/* ---- datagrams ---------------------------------------------------------------- */

/* The address a UDP socket bound to `bound` uses with a peer: the
 * unspecified address becomes the loopback address when the peer is on
 * loopback (what the kernel picks), and takes the peer's family. */
static ac_addr synth_udp_local(const ac_addr *bound, const ac_addr *peer)
{
	ac_addr a = *bound;
	if (a.family == peer->family && !ac_addr_is_any(&a))
		return a;
	memset(a.ip, 0, sizeof(a.ip));
	a.family = peer->family;
	a.scope = 0;
	if (ac_addr_is_loopback(peer)) {
		if (a.family == AC_AF_INET)
			a.ip[0] = 127, a.ip[3] = 1;
		else
			a.ip[15] = 1;
	}
	return a;
}

static void synth_dgram(acp_synth *s, int32_t h, uint32_t gen, int out,
                        const ac_addr *peer, const uint8_t *p, size_t len)
{
	struct synth_handle *k;
	ac_addr l;
	if (h < 0 || (size_t)h >= s->s_nh || s->s_h[h].k_kind != SK_UDP ||
	    s->s_h[h].k_gen != gen ||
	    (peer->family != AC_AF_INET && peer->family != AC_AF_INET6)) {
		s->s_ignored++;
		return;
	}
	k = &s->s_h[h];
	l = synth_udp_local(&k->k_local, peer);
	if (out)
		synth_udp(s, &l, peer, p, len);
	else
		synth_udp(s, peer, &l, p, len);
}

/* ---- operations ------------------------------------------------------------------ */

/* An operation finished with res: addr and data2/dlen2 as the event
 * carries them (accept/recvfrom and recv/recvfrom). */
static void synth_done(acp_synth *s, const struct synth_op *o, int64_t res,
                       const ac_addr *addr, const uint8_t *d2, size_t dlen2)
{
	struct synth_handle *k;
	size_t n;

	if ((o->o_type == AC_OP_CONNECT || o->o_type == AC_OP_ACCEPT) && res >= 0) {
		k = synth_slot(s, res);
		if (k != NULL && !k->k_up)
			k->k_origin = o->o_type == AC_OP_CONNECT ? SO_CONNECT : SO_ACCEPT;
		return;
	}
	if (o->o_type == AC_OP_SENDTO || o->o_type == AC_OP_RECVFROM) {
		if (res < 0)
			return;
		n = o->o_type == AC_OP_SENDTO ? o->o_len : dlen2;
		if ((uint64_t)res < n)
			n = (size_t)res;
		synth_dgram(s, o->o_h, o->o_gen, o->o_type == AC_OP_SENDTO,
		            o->o_type == AC_OP_SENDTO ? &o->o_addr : addr,
		            o->o_type == AC_OP_SENDTO ? o->o_data : d2, n);
		return;
	}
	if (o->o_type != AC_OP_SEND && o->o_type != AC_OP_RECV)
		return;
	if ((k = synth_conn(s, o->o_h, o->o_gen)) == NULL) {
		s->s_ignored += res != -ECANCELED && !synth_is_mirror(s, o->o_h);
		return;
	}
	if (res == -ECONNRESET)
		synth_rst(s, k);
	else if (o->o_type == AC_OP_RECV && res == 0)
		synth_fin(s, k, 0);
	else if (res > 0 && o->o_type == AC_OP_SEND && !k->k_fin_out)
		synth_data(s, k, 1, o->o_data, (uint64_t)res < o->o_len ? (size_t)res : o->o_len);
	else if (res > 0 && o->o_type == AC_OP_RECV && !k->k_fin_in)
		synth_data(s, k, 0, d2, (uint64_t)res < dlen2 ? (size_t)res : dlen2);
}

static void synth_op_free(void *val)
{
	struct synth_op *o = val;
	if (o != NULL)
		free(o->o_data);
	free(o);
}

/* Describe the operation of a submit event in *o (its bytes not copied). */
static void synth_op_init(const acp_synth *s, const ac_rec_event *e,
                          struct synth_op *o)
{
	memset(o, 0, sizeof(*o));
	o->o_type = (int)e->call;
	o->o_h = e->h;
	o->o_gen = synth_gen(s, e->h);
	o->o_addr = e->addr;
}

static void synth_on_submit(acp_synth *s, const ac_rec_event *e)
{
	struct synth_op *o, now;
	int keep = e->call == AC_OP_SEND || e->call == AC_OP_SENDTO;

	if (e->rc < 0)
		return; /* failed at once: nothing happened */
	if (e->rc == AC_IO_DONE) {
		synth_op_init(s, e, &now);
		now.o_data = (uint8_t *)(uintptr_t)e->data;
		now.o_len = e->dlen;
		synth_done(s, &now, e->res, &e->addr, e->data2, e->dlen2);
		return;
	}
	if (e->op == 0) {
		s->s_ignored++;
		return;
	}
	/* Pending: keep what the completion needs, with a copy of the bytes
	 * given (the event's buffer dies with the next event). */
	o = malloc(sizeof(*o));
	if (o != NULL) {
		synth_op_init(s, e, o);
		if (keep && e->dlen > 0 && (o->o_data = malloc(e->dlen)) != NULL) {
			memcpy(o->o_data, e->data, e->dlen);
			o->o_len = e->dlen;
		}
	}
	/* An op id reused while pending (not in a sound record) replaces
	 * the older operation. */
	synth_op_free(acp_map_del(&s->s_ops, e->op));
	if (o == NULL || (keep && e->dlen > 0 && o->o_data == NULL) ||
	    acp_map_put(&s->s_ops, e->op, o) < 0) {
		s->s_oom = 1;
		synth_op_free(o);
	}
}

static void synth_on_complete(acp_synth *s, const ac_rec_event *e)
{
	struct synth_op *o = acp_map_del(&s->s_ops, e->op);
	if (o == NULL) {
		s->s_ignored++;
		return;
	}
	synth_done(s, o, e->res, &e->addr, e->data2, e->dlen2);
	synth_op_free(o);
}

/* cancel: 0 = forgotten (a send may have written e->a bytes), AC_IO_DONE =
 * had completed (as COMPLETE), -ENOENT = had already run. */
static void synth_on_cancel(acp_synth *s, const ac_rec_event *e)
{
	struct synth_op *o;
	if (e->rc != 0 && e->rc != AC_IO_DONE)
		return;
	if ((o = acp_map_del(&s->s_ops, e->op)) == NULL) {
		s->s_ignored++;
		return;
	}
	if (e->rc == AC_IO_DONE)
		synth_done(s, o, e->res, &e->addr, e->data2, e->dlen2);
	else if (o->o_type == AC_OP_SEND && e->a > 0)
		synth_done(s, o, e->a, &e->addr, NULL, 0);
	synth_op_free(o);
}

/* ---- synchronous calls ------------------------------------------------------------ */

static void synth_on_close(acp_synth *s, const ac_rec_event *e)
{
	struct synth_handle *k;
	if (e->h < 0 || (size_t)e->h >= s->s_nh)
		return;
	k = &s->s_h[e->h];
	if (k->k_kind == SK_TCP && k->k_up && !k->k_rst && !k->k_mirror)
		synth_fin(s, k, 1);
	k->k_kind = SK_NONE;
	k->k_mirror = 0;
	k->k_origin = SO_UNKNOWN;
	k->k_up = 0;
	k->k_gen++;
}

static void synth_on_call(acp_synth *s, const ac_rec_event *e)
{
	struct synth_handle *k;

	switch (e->call) {
	case AC_RC_SHUTDOWN:
		if (e->rc == 0 && (k = synth_conn(s, e->h, synth_gen(s, e->h))))
			synth_fin(s, k, 1);
		break;
	case AC_RC_CLOSE:
		synth_on_close(s, e);
		break;
	case AC_RC_UDP_BIND:
		if (e->rc == 0 && (k = synth_slot(s, e->res)) != NULL) {
			k->k_kind = SK_UDP;
			k->k_local = e->addr;
		}
		break;
	case AC_RC_LOCAL_ADDR:
		if (e->rc == 0 && e->h >= 0 && (size_t)e->h < s->s_nh &&
		    s->s_h[e->h].k_kind == SK_UDP)
			s->s_h[e->h].k_local = e->addr;
		break;
	default:
		break;
	}
}

/* ---- the interface ------------------------------------------------------------------ */

acp_synth *acp_synth_new(int64_t wall_ns, int64_t mono_ns, acp_emit_fn emit,
                         void *arg)
{
	acp_synth *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->s_emit = emit;
	s->s_arg = arg;
	s->s_wall0 = wall_ns;
	s->s_mono0 = mono_ns;
	s->s_mono = mono_ns;
	acp_map_init(&s->s_ops);
	acp_map_init(&s->s_tuples);
	return s;
}

int acp_synth_event(acp_synth *s, const ac_rec_event *e)
{
	uint64_t before = s->s_frames;

	if (s->s_oom)
		return -ENOMEM;
	s->s_ev = e->seq;
	s->s_ev_marked = 0;
	switch (e->kind) {
	case AC_REC_NOW:
		s->s_mono = e->rc;
		break;
	case AC_REC_SUBMIT:
		synth_on_submit(s, e);
		break;
	case AC_REC_COMPLETE:
		synth_on_complete(s, e);
		break;
	case AC_REC_CANCEL:
		synth_on_cancel(s, e);
		break;
	case AC_REC_CALL:
		synth_on_call(s, e);
		break;
	case AC_REC_CONN:
		synth_on_conn(s, e);
		break;
	default:
		break;
	}
	return s->s_oom ? -ENOMEM : (int)(s->s_frames - before);
}

uint64_t acp_synth_frames(const acp_synth *s)
{
	return s->s_frames;
}

uint64_t acp_synth_ignored(const acp_synth *s)
{
	return s->s_ignored;
}

int acp_synth_frame_of(const acp_synth *s, uint64_t ev, uint64_t *frame)
{
	size_t lo = 0, hi = s->s_nfm;
	/* The first mark with f_ev >= ev (marks are in event order). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->s_fm[mid].f_ev < ev)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->s_nfm && s->s_fm[lo].f_ev == ev) {
		*frame = s->s_fm[lo].f_frame;
		return 1;
	}
	/* None: the last frame made before ev. */
	*frame = lo < s->s_nfm ? s->s_fm[lo].f_frame - 1 : s->s_frames;
	return 0;
}

void acp_synth_free(acp_synth *s)
{
	if (s == NULL)
		return;
	acp_map_each(&s->s_ops, synth_op_free);
	acp_map_fini(&s->s_ops);
	acp_map_fini(&s->s_tuples);
	free(s->s_h);
	free(s->s_fm);
	free(s);
}
