/* tests/check_acpcap.c: acpcap's modules on hand-built record events and
 * bytes — the pcap synthesizer (tools/acpcap_synth.c: handshakes, sequence
 * and acknowledgement numbers, checksums recomputed here independently,
 * segmentation, FIN/RST, UDP, determinism, the event -> frame map), the
 * reassembler (tools/acpcap_flow.c: duplicates and reordering), the frame
 * splitter and body renderer (tools/acpcap_proto.c), JSON escaping
 * (tools/acpcap_out.c), record files read back (tools/acpcap_rec.c), and
 * 10,000 random byte strings through every decoder (which must neither
 * crash nor read out of bounds: run under tools/test.sh --sanitizers too).
 *
 * With ACPCAP_TEST_RECORD=PATH, test_rec_demo leaves its record of
 * hand-built events (two TCP connections, 2,000 frames in one write, a
 * deflated frame, a UDP announcement) at PATH for tests/acpcap.test.
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>
#include <zlib.h>

#include <pcap/pcap.h>

#include "testutil.h"

#include "tools/acpcap.h"
#include "tools/acpcap_flow.h"
#include "tools/acpcap_out.h"
#include "tools/acpcap_proto.h"
#include "tools/acpcap_synth.h"

#define WALL0 1700000000000000000LL

/* ---- captured packets ------------------------------------------------------ */

struct pkt {
	int64_t ts;
	size_t len;
	uint8_t *data;
};

struct cap {
	struct pkt *p;
	size_t n;
	size_t cap;
};

static void cap_emit(void *arg, int64_t ts, const uint8_t *data, size_t len)
{
	struct cap *c = arg;
	ck_assert_uint_le(len, ACP_SNAPLEN);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->p = realloc(c->p, c->cap * sizeof(*c->p));
		ck_assert_ptr_nonnull(c->p);
	}
	c->p[c->n].ts = ts;
	c->p[c->n].len = len;
	c->p[c->n].data = malloc(len);
	ck_assert_ptr_nonnull(c->p[c->n].data);
	memcpy(c->p[c->n].data, data, len);
	c->n++;
}

static void cap_free(struct cap *c)
{
	size_t i;
	for (i = 0; i < c->n; i++)
		free(c->p[i].data);
	free(c->p);
	memset(c, 0, sizeof(*c));
}

/* ---- events ------------------------------------------------------------------ */

/* Events fed in order to a synthesizer writing into a cap, and to a
 * record file when w is set. */
struct feed {
	acp_synth *s;
	struct cap cap;
	uint64_t seq;
	ac_rec_writer *w;
};

static void feed_init(struct feed *f)
{
	memset(f, 0, sizeof(*f));
	f->s = acp_synth_new(WALL0, 0, cap_emit, &f->cap);
	ck_assert_ptr_nonnull(f->s);
}

static void feed_fini(struct feed *f)
{
	acp_synth_free(f->s);
	cap_free(&f->cap);
}

static ac_rec_event ev(uint32_t kind)
{
	ac_rec_event e;
	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.h = -1;
	ac_addr_init(&e.addr);
	ac_addr_init(&e.addr2);
	return e;
}

/* Feed e; returns the packets it made. */
static int feed(struct feed *f, ac_rec_event e)
{
	int n;
	e.seq = f->seq++;
	if (f->w != NULL)
		CK_OK(ac__recw_event(f->w, &e));
	n = acp_synth_event(f->s, &e);
	ck_assert_int_ge(n, 0);
	return n;
}

static ac_addr addr(const char *text)
{
	ac_addr a;
	ck_assert_int_eq(ac_addr_parse(&a, text, 0), 0);
	return a;
}

static void ev_now(struct feed *f, int64_t t)
{
	ac_rec_event e = ev(AC_REC_NOW);
	e.rc = t;
	feed(f, e);
}

/* connect (pending) + completion as handle h + the CONN note. */
static void ev_connect(struct feed *f, uint64_t op, int h, ac_addr local, ac_addr peer)
{
	ac_rec_event e = ev(AC_REC_SUBMIT);
	e.call = AC_OP_CONNECT;
	e.op = op;
	e.addr = peer;
	e.rc = AC_IO_PENDING;
	ck_assert_int_eq(feed(f, e), 0);
	e = ev(AC_REC_COMPLETE);
	e.op = op;
	e.res = h;
	ck_assert_int_eq(feed(f, e), 0);
	e = ev(AC_REC_CONN);
	e.h = h;
	e.addr = local;
	e.addr2 = peer;
	ck_assert_int_eq(feed(f, e), 3);
}

/* A send of len bytes on h; pending ones complete at once after. */
static int ev_send(struct feed *f, uint64_t op, int h, const void *p, size_t len,
                   int pending)
{
	ac_rec_event e = ev(AC_REC_SUBMIT);
	int n;
	e.call = AC_OP_SEND;
	e.op = op;
	e.h = h;
	e.a = (int64_t)len;
	e.data = p;
	e.dlen = len;
	e.rc = pending ? AC_IO_PENDING : AC_IO_DONE;
	e.res = pending ? 0 : (int64_t)len;
	n = feed(f, e);
	if (!pending)
		return n;
	ck_assert_int_eq(n, 0);
	e = ev(AC_REC_COMPLETE);
	e.op = op;
	e.res = (int64_t)len;
	return feed(f, e);
}

/* A recv on h that returned res with len bytes (pending or at once). */
static int ev_recv(struct feed *f, uint64_t op, int h, const void *p, size_t len,
                   int64_t res, int pending)
{
	ac_rec_event e = ev(AC_REC_SUBMIT);
	e.call = AC_OP_RECV;
	e.op = op;
	e.h = h;
	e.a = 65536;
	e.rc = pending ? AC_IO_PENDING : AC_IO_DONE;
	if (pending) {
		ck_assert_int_eq(feed(f, e), 0);
		e = ev(AC_REC_COMPLETE);
		e.op = op;
	}
	e.res = res;
	e.data2 = p;
	e.dlen2 = len;
	return feed(f, e);
}

static int ev_call(struct feed *f, uint32_t call, int h, int64_t rc)
{
	ac_rec_event e = ev(AC_REC_CALL);
	e.call = call;
	e.h = h;
	e.rc = rc;
	return feed(f, e);
}

/* ---- frames ----------------------------------------------------------------------- */

/* A whole frame (header + body) in a malloc'ed buffer. */
struct wframe {
	uint8_t *p;
	size_t len;
};

static struct wframe wframe(uint8_t type, uint8_t flags, uint32_t id,
                            const void *body, size_t blen)
{
	struct wframe w;
	w.len = AC_WIRE_HDR + blen;
	w.p = malloc(w.len);
	ck_assert_ptr_nonnull(w.p);
	ac_wire_hdr_put(w.p, type, flags, id, (uint32_t)blen);
	if (blen > 0)
		memcpy(w.p + AC_WIRE_HDR, body, blen);
	return w;
}

static ac_ref test_ref(uint32_t kind, uint32_t slot, uint32_t gen, const char *loc)
{
	ac_ref r;
	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.id = (uint64_t)gen << 32 | slot;
	r.inc = 0x1234567890abcdefULL;
	r.loc = addr(loc);
	return r;
}

/* A SEND frame: [to, kind 0, aux 0, from, payload]. */
static struct wframe send_frame(const char *payload)
{
	ac_ref to = test_ref(1, 3, 1, "127.0.0.1:9000");
	ac_ref from = test_ref(1, 7, 2, "127.0.0.1:40000");
	struct wframe w;
	void *body;
	size_t blen;
	CK_OK(ac_pack(&body, &blen, "[r u u r S]", to, (uint64_t)0, (uint64_t)0, from,
	                payload, strlen(payload)));
	w = wframe(AC_WT_SEND, 0, 0, body, blen);
	free(body);
	return w;
}

/* The four handshake frames and a SEND. */
struct session {
	struct wframe hello, hello_ack, auth, auth_ok, send;
};

static void session_init(struct session *x)
{
	uint8_t nonce[32], mac[32];
	ac_addr lc = addr("127.0.0.1:40000"), ls = addr("127.0.0.1:9000");
	void *b;
	size_t n;
	memset(nonce, 0xab, sizeof(nonce));
	memset(mac, 0xcd, sizeof(mac));
	CK_OK(ac_pack(&b, &n, "[u u S s l u u u]", (uint64_t)AC_WIRE_MAGIC, (uint64_t)1,
	                nonce, sizeof(nonce), "client", &lc, (uint64_t)77, (uint64_t)1,
	                (uint64_t)51350));
	x->hello = wframe(AC_WT_HELLO, 0, 0, b, n);
	free(b);
	CK_OK(ac_pack(&b, &n, "[u u S s l u u u S]", (uint64_t)AC_WIRE_MAGIC, (uint64_t)1,
	                nonce, sizeof(nonce), "server", &ls, (uint64_t)88, (uint64_t)1,
	                (uint64_t)51350, mac, sizeof(mac)));
	x->hello_ack = wframe(AC_WT_HELLO_ACK, 0, 0, b, n);
	free(b);
	CK_OK(ac_pack(&b, &n, "[S]", mac, sizeof(mac)));
	x->auth = wframe(AC_WT_AUTH, 0, 0, b, n);
	free(b);
	x->auth_ok = wframe(AC_WT_AUTH_OK, 0, 0, NULL, 0);
	x->send = send_frame("hello there");
}

static void session_fini(struct session *x)
{
	free(x->hello.p);
	free(x->hello_ack.p);
	free(x->auth.p);
	free(x->auth_ok.p);
	free(x->send.p);
}

/* The client's record of a session: connect, handshake, a SEND, the
 * server's FIN, close. */
static void session_feed(struct feed *f, const struct session *x)
{
	ac_addr lc = addr("127.0.0.1:40000"), ls = addr("127.0.0.1:9000");
	ev_now(f, 1000);
	ev_connect(f, 1, 5, lc, ls);
	ev_now(f, 2000);
	ck_assert_int_eq(ev_send(f, 2, 5, x->hello.p, x->hello.len, 0), 1);
	ck_assert_int_eq(ev_recv(f, 3, 5, x->hello_ack.p, x->hello_ack.len,
	                         (int64_t)x->hello_ack.len, 1), 1);
	ck_assert_int_eq(ev_send(f, 4, 5, x->auth.p, x->auth.len, 1), 1);
	ck_assert_int_eq(ev_recv(f, 5, 5, x->auth_ok.p, x->auth_ok.len,
	                         (int64_t)x->auth_ok.len, 0), 1);
	ev_now(f, 3000);
	ck_assert_int_eq(ev_send(f, 6, 5, x->send.p, x->send.len, 0), 1);
	ck_assert_int_eq(ev_recv(f, 7, 5, NULL, 0, 0, 1), 1); /* FIN in */
	ck_assert_int_eq(ev_call(f, AC_RC_CLOSE, 5, 0), 1);   /* FIN out */
}

/* ---- an independent reading of the packets ------------------------------------------- */

enum { F_FIN = 1, F_SYN = 2, F_RST = 4, F_PSH = 8, F_ACK = 16 };

/* Ones' complement sum of n bytes added to sum, folded to 16 bits. */
static uint32_t t_csum(const uint8_t *p, size_t n, uint32_t sum)
{
	size_t i;
	for (i = 0; i < n; i++)
		sum += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	while (sum > 0xffff)
		sum = (sum >> 16) + (sum & 0xffff);
	return sum;
}

struct tp {
	ac_addr src, dst;
	int proto;
	uint32_t seq, ack;
	int flags;
	const uint8_t *pl;
	size_t plen;
};

/* Parse one synthesized packet, checking lengths and every checksum. */
static void t_parse(const struct pkt *k, struct tp *t)
{
	const uint8_t *p = k->data, *l4;
	size_t ihl = (p[0] >> 4) == 6 ? 40 : 20, l4len = k->len - ihl, al = ihl == 40 ? 16 : 4;
	uint32_t ps;

	memset(t, 0, sizeof(*t));
	ac_addr_init(&t->src);
	ac_addr_init(&t->dst);
	t->src.family = t->dst.family = ihl == 40 ? AC_AF_INET6 : AC_AF_INET;
	if (ihl == 20) {
		ck_assert_uint_eq(p[0], 0x45);
		ck_assert_uint_eq((size_t)(p[2] << 8 | p[3]), k->len);
		ck_assert_uint_eq(t_csum(p, 20, 0), 0xffff);
		t->proto = p[9];
	} else {
		ck_assert_uint_eq((size_t)(p[4] << 8 | p[5]), l4len);
		t->proto = p[6];
	}
	memcpy(t->src.ip, p + (ihl == 20 ? 12 : 8), al);
	memcpy(t->dst.ip, p + (ihl == 20 ? 16 : 24), al);
	l4 = p + ihl;
	ps = t_csum(p + (ihl == 20 ? 12 : 8), 2 * al, (uint32_t)t->proto + (uint32_t)l4len);
	ck_assert_uint_eq(t_csum(l4, l4len, ps), 0xffff);
	t->src.port = (uint16_t)(l4[0] << 8 | l4[1]);
	t->dst.port = (uint16_t)(l4[2] << 8 | l4[3]);
	if (t->proto == 17) {
		ck_assert_uint_eq((size_t)(l4[4] << 8 | l4[5]), l4len);
		t->pl = l4 + 8;
		t->plen = l4len - 8;
		return;
	}
	ck_assert_int_eq(t->proto, 6);
	t->seq = (uint32_t)l4[4] << 24 | (uint32_t)l4[5] << 16 | (uint32_t)l4[6] << 8 | l4[7];
	t->ack = (uint32_t)l4[8] << 24 | (uint32_t)l4[9] << 16 | (uint32_t)l4[10] << 8 | l4[11];
	t->flags = l4[13];
	t->pl = l4 + (l4[12] >> 4) * 4;
	t->plen = l4len - (size_t)(l4[12] >> 4) * 4;
}

/* The two directions of one connection as the packets tell them. */
struct tcpc {
	ac_addr local;
	uint32_t next[2];
	int have[2];
	uint8_t *stream[2];
	size_t slen[2];
	int syn[2], fin[2], rst;
	size_t maxseg;
};

static void tcpc_pkt(struct tcpc *c, const struct pkt *k)
{
	struct tp t;
	int d;
	t_parse(k, &t);
	d = ac_addr_eq(&t.src, &c->local) ? 0 : 1;
	ck_assert(ac_addr_eq(d ? &t.dst : &t.src, &c->local));
	if (t.flags & F_SYN) {
		ck_assert(!c->have[d]);
		c->have[d] = 1;
		c->next[d] = t.seq + 1;
		c->syn[d]++;
	} else {
		ck_assert(c->have[d]);
		ck_assert_uint_eq(t.seq, c->next[d]);
		ck_assert_int_eq(c->fin[d], 0); /* nothing after a FIN */
		if (!(t.flags & F_RST))
			c->next[d] += (uint32_t)t.plen + ((t.flags & F_FIN) ? 1 : 0);
		c->fin[d] += (t.flags & F_FIN) != 0;
		c->rst += (t.flags & F_RST) != 0;
		c->stream[d] = realloc(c->stream[d], c->slen[d] + t.plen + 1);
		memcpy(c->stream[d] + c->slen[d], t.pl, t.plen);
		c->slen[d] += t.plen;
	}
	if (t.plen > c->maxseg)
		c->maxseg = t.plen;
	/* Every segment but the first SYN acknowledges all the other side
	 * sent so far. */
	if (t.flags & F_ACK)
		ck_assert_uint_eq(t.ack, c->next[!d]);
	else
		ck_assert(t.flags == F_SYN && !c->have[!d]);
}

static void tcpc_run(struct tcpc *c, const struct cap *cap, const char *local)
{
	size_t i;
	memset(c, 0, sizeof(*c));
	c->local = addr(local);
	for (i = 0; i < cap->n; i++)
		tcpc_pkt(c, &cap->p[i]);
}

static void tcpc_fini(struct tcpc *c)
{
	free(c->stream[0]);
	free(c->stream[1]);
}

/* The stream bytes dir must be the concatenation of the n frames. */
static void stream_is(const struct tcpc *c, int dir, const struct wframe *w, int n)
{
	size_t off = 0;
	int i;
	for (i = 0; i < n; i++) {
		ck_assert_uint_le(off + w[i].len, c->slen[dir]);
		ck_assert_mem_eq(c->stream[dir] + off, w[i].p, w[i].len);
		off += w[i].len;
	}
	ck_assert_uint_eq(off, c->slen[dir]);
}

/* ---- frames decoded from packets ------------------------------------------------------ */

struct got1 {
	uint8_t type, flags;
	uint32_t id;
	uint32_t conn;
	int to_srv, udp;
	int64_t ts;
	char body[512];
};

struct got {
	int n;
	struct got1 f[300];
};

static void got_item(void *arg, const acp_item *it)
{
	struct got *g = arg;
	struct got1 *x;
	ck_assert_int_lt(g->n, 300);
	x = &g->f[g->n++];
	x->type = it->it_frame->f_type;
	x->flags = it->it_frame->f_flags;
	x->id = it->it_frame->f_req_id;
	x->conn = it->it_conn;
	x->to_srv = it->it_to_srv;
	x->udp = it->it_udp;
	x->ts = it->it_ts_ns;
	acp_body_render(it->it_frame, x->body, sizeof(x->body));
}

/* Feed the packets at order[0..n) (all in order when order is NULL). */
static void got_run(const struct cap *cap, const size_t *order, size_t n, struct got *g)
{
	acp_flow *f = acp_flow_new(got_item, NULL, g);
	size_t i;
	ck_assert_ptr_nonnull(f);
	memset(g, 0, sizeof(*g));
	for (i = 0; i < (order ? n : cap->n); i++) {
		const struct pkt *k = &cap->p[order ? order[i] : i];
		ck_assert_int_eq(acp_flow_packet(f, DLT_RAW, k->ts, k->data, k->len), 0);
	}
	acp_flow_finish(f);
	acp_flow_free(f);
}

/* ---- tests: the synthesizer ------------------------------------------------------------ */

START_TEST(test_synth_session)
{
	struct session x;
	struct feed f;
	struct tcpc c;
	struct wframe out[3], in[2];

	session_init(&x);
	feed_init(&f);
	session_feed(&f, &x);
	ck_assert_uint_eq(f.cap.n, 10);
	ck_assert_uint_eq(acp_synth_frames(f.s), 10);
	ck_assert_uint_eq(acp_synth_ignored(f.s), 0);
	tcpc_run(&c, &f.cap, "127.0.0.1:40000");
	ck_assert_int_eq(c.syn[0], 1); /* the client sent the SYN */
	ck_assert_int_eq(c.syn[1], 1);
	ck_assert_int_eq(c.fin[0], 1);
	ck_assert_int_eq(c.fin[1], 1);
	ck_assert_int_eq(c.rst, 0);
	out[0] = x.hello, out[1] = x.auth, out[2] = x.send;
	in[0] = x.hello_ack, in[1] = x.auth_ok;
	stream_is(&c, 0, out, 3);
	stream_is(&c, 1, in, 2);
	/* Times: the header's wall clock plus the monotonic readings. */
	ck_assert_int_eq(f.cap.p[0].ts, WALL0 + 1000);
	ck_assert_int_eq(f.cap.p[3].ts, WALL0 + 2000);
	ck_assert_int_eq(f.cap.p[9].ts, WALL0 + 3000);
	tcpc_fini(&c);
	feed_fini(&f);
	session_fini(&x);
}
END_TEST

/* The server's side: the peer sends the SYN. */
START_TEST(test_synth_accept)
{
	ac_addr ls = addr("127.0.0.1:9000"), lc = addr("127.0.0.1:40000");
	struct tcpc c;
	struct feed f;
	ac_rec_event e = ev(AC_REC_SUBMIT);

	feed_init(&f);
	e.call = AC_OP_ACCEPT;
	e.op = 1;
	e.h = 3;
	e.rc = AC_IO_DONE;
	e.res = 4;
	e.addr = lc;
	feed(&f, e);
	e = ev(AC_REC_CONN);
	e.h = 4;
	e.addr = ls;
	e.addr2 = lc;
	ck_assert_int_eq(feed(&f, e), 3);
	ck_assert_int_eq(ev_call(&f, AC_RC_SHUTDOWN, 4, 0), 1);
	ck_assert_int_eq(ev_call(&f, AC_RC_CLOSE, 4, 0), 0); /* FIN already sent */
	tcpc_run(&c, &f.cap, "127.0.0.1:9000");
	ck_assert_int_eq(c.syn[1], 1);
	ck_assert_int_eq(c.fin[0], 1);
	ck_assert_int_eq(c.fin[1], 0);
	/* The first packet is the client's SYN. */
	ck_assert_uint_eq(f.cap.p[0].data[33], F_SYN);
	tcpc_fini(&c);
	feed_fini(&f);
}
END_TEST

static void serialize(const struct cap *c, uint8_t **out, size_t *len)
{
	size_t i, n = 0;
	for (i = 0; i < c->n; i++)
		n += sizeof(int64_t) + c->p[i].len;
	*out = malloc(n);
	*len = n;
	for (n = 0, i = 0; i < c->n; i++) {
		memcpy(*out + n, &c->p[i].ts, sizeof(int64_t));
		memcpy(*out + n + sizeof(int64_t), c->p[i].data, c->p[i].len);
		n += sizeof(int64_t) + c->p[i].len;
	}
}

START_TEST(test_synth_deterministic)
{
	struct session x;
	struct feed a, b;
	uint8_t *pa, *pb;
	size_t la, lb;

	session_init(&x);
	feed_init(&a);
	feed_init(&b);
	session_feed(&a, &x);
	session_feed(&b, &x);
	serialize(&a.cap, &pa, &la);
	serialize(&b.cap, &pb, &lb);
	ck_assert_uint_eq(a.cap.n, 10);
	ck_assert_uint_eq(la, lb);
	ck_assert_mem_eq(pa, pb, la);
	free(pa);
	free(pb);
	feed_fini(&a);
	feed_fini(&b);
	session_fini(&x);
}
END_TEST

/* 200 KB in one send: segments of at most 65,495 bytes (IPv4) or what
 * fits the snapshot length (IPv6), the stream intact. */
START_TEST(test_synth_segments)
{
	const char *l = _i ? "[::1]:40000" : "127.0.0.1:40000";
	size_t len = 200 * 1000, i, max = _i ? 65535 - 40 - 20 : ACP_SEG_MAX;
	uint8_t *big = malloc(len);
	struct wframe w;
	struct tcpc c;
	struct feed f;

	for (i = 0; i < len; i++)
		big[i] = (uint8_t)(i * 7 + (i >> 9));
	feed_init(&f);
	ev_connect(&f, 1, 5, addr(l), addr(_i ? "[::1]:9000" : "127.0.0.1:9000"));
	ck_assert_int_eq(ev_send(&f, 2, 5, big, len, 1), (int)((len + max - 1) / max));
	tcpc_run(&c, &f.cap, l);
	ck_assert_uint_eq(c.maxseg, max);
	ck_assert_uint_le(c.maxseg, 65495);
	for (i = 0; i < f.cap.n; i++)
		ck_assert_uint_le(f.cap.p[i].len, 65535);
	w.p = big;
	w.len = len;
	stream_is(&c, 0, &w, 1);
	tcpc_fini(&c);
	feed_fini(&f);
	free(big);
}
END_TEST

/* A cancelled send counts the bytes it had written; -ECONNRESET is a RST
 * from the peer, after which the connection carries nothing. */
START_TEST(test_synth_cancel_reset)
{
	uint8_t buf[1000];
	struct tcpc c;
	struct feed f;
	ac_rec_event e;
	struct wframe w = {buf, 300};

	memset(buf, 'x', sizeof(buf));
	feed_init(&f);
	ev_connect(&f, 1, 5, addr("127.0.0.1:40000"), addr("127.0.0.1:9000"));
	e = ev(AC_REC_SUBMIT);
	e.call = AC_OP_SEND, e.op = 2, e.h = 5, e.data = buf, e.dlen = sizeof(buf);
	e.rc = AC_IO_PENDING;
	ck_assert_int_eq(feed(&f, e), 0);
	e = ev(AC_REC_CANCEL);
	e.op = 2, e.rc = 0, e.a = 300;
	ck_assert_int_eq(feed(&f, e), 1);
	ck_assert_int_eq(ev_recv(&f, 3, 5, NULL, 0, -ECONNRESET, 1), 1);
	ck_assert_int_eq(ev_send(&f, 4, 5, buf, 10, 0), 0);
	ck_assert_int_eq(ev_call(&f, AC_RC_CLOSE, 5, 0), 0);
	tcpc_run(&c, &f.cap, "127.0.0.1:40000");
	stream_is(&c, 0, &w, 1);
	ck_assert_int_eq(c.rst, 1);
	ck_assert_int_eq(c.fin[0], 0);
	tcpc_fini(&c);
	feed_fini(&f);
}
END_TEST

/* A handle closed and reused: a completion of the old connection's recv
 * (-ECANCELED) does not touch the new one, whose ISNs differ (the same
 * 4-tuple a second time). */
START_TEST(test_synth_reuse)
{
	ac_addr l = addr("127.0.0.1:40000"), r = addr("127.0.0.1:9000");
	struct feed f;
	struct tp a, b;
	ac_rec_event e = ev(AC_REC_SUBMIT);

	feed_init(&f);
	ev_connect(&f, 1, 5, l, r);
	e.call = AC_OP_RECV, e.op = 2, e.h = 5, e.a = 100, e.rc = AC_IO_PENDING;
	feed(&f, e);
	ck_assert_int_eq(ev_call(&f, AC_RC_CLOSE, 5, 0), 1);
	ev_connect(&f, 3, 5, l, r);
	e = ev(AC_REC_COMPLETE);
	e.op = 2, e.res = -ECANCELED;
	ck_assert_int_eq(feed(&f, e), 0);
	ck_assert_uint_eq(f.cap.n, 7);
	t_parse(&f.cap.p[0], &a);
	t_parse(&f.cap.p[4], &b);
	ck_assert_int_eq(b.flags, F_SYN);
	ck_assert_uint_ne(a.seq, b.seq);
	feed_fini(&f);
}
END_TEST

/* Both ends in one record: the first end's packets show both directions
 * once; the second end adds nothing. */
START_TEST(test_synth_mirror)
{
	ac_addr a = addr("127.0.0.1:40000"), b = addr("127.0.0.1:9000");
	struct wframe out[1], in[1];
	struct session x;
	struct tcpc c;
	struct feed f;
	ac_rec_event e;

	session_init(&x);
	feed_init(&f);
	ev_connect(&f, 1, 5, a, b);
	e = ev(AC_REC_CONN);
	e.h = 6, e.addr = b, e.addr2 = a;
	ck_assert_int_eq(feed(&f, e), 0);
	ck_assert_int_eq(ev_send(&f, 2, 5, x.hello.p, x.hello.len, 0), 1);
	ck_assert_int_eq(ev_recv(&f, 3, 6, x.hello.p, x.hello.len, (int64_t)x.hello.len, 0), 0);
	ck_assert_int_eq(ev_send(&f, 4, 6, x.auth_ok.p, x.auth_ok.len, 1), 0);
	ck_assert_int_eq(ev_recv(&f, 5, 5, x.auth_ok.p, x.auth_ok.len,
	                         (int64_t)x.auth_ok.len, 1), 1);
	ck_assert_int_eq(ev_call(&f, AC_RC_CLOSE, 6, 0), 0);
	ck_assert_int_eq(ev_recv(&f, 7, 5, NULL, 0, 0, 0), 1);
	ck_assert_int_eq(ev_call(&f, AC_RC_CLOSE, 5, 0), 1);
	ck_assert_uint_eq(acp_synth_ignored(f.s), 0);
	tcpc_run(&c, &f.cap, "127.0.0.1:40000");
	out[0] = x.hello;
	in[0] = x.auth_ok;
	stream_is(&c, 0, out, 1);
	stream_is(&c, 1, in, 1);
	ck_assert_int_eq(c.fin[0] + c.fin[1], 2);
	tcpc_fini(&c);
	feed_fini(&f);
	session_fini(&x);
}
END_TEST

/* UDP: a sendto from a socket bound to 0.0.0.0 leaves from 127.0.0.1 to
 * the loopback broadcast address; a recvfrom arrives from its source. */
START_TEST(test_synth_udp)
{
	uint8_t dg[AC_WIRE_HDR + 3 + AC_WIRE_MAC];
	struct feed f;
	struct tp t;
	struct got g;
	ac_rec_event e = ev(AC_REC_CALL);

	ac_wire_hdr_put(dg, AC_WT_ANNOUNCE, 0, 0, 3);
	memcpy(dg + AC_WIRE_HDR, "\x92\x01\x02", 3);
	memset(dg + AC_WIRE_HDR + 3, 0xee, AC_WIRE_MAC);
	feed_init(&f);
	e.call = AC_RC_UDP_BIND, e.addr = addr("0.0.0.0:51350"), e.rc = 0, e.res = 7;
	ck_assert_int_eq(feed(&f, e), 0);
	e = ev(AC_REC_SUBMIT);
	e.call = AC_OP_SENDTO, e.op = 1, e.h = 7, e.addr = addr("127.255.255.255:51350");
	e.data = dg, e.dlen = sizeof(dg), e.rc = AC_IO_DONE, e.res = sizeof(dg);
	ck_assert_int_eq(feed(&f, e), 1);
	e = ev(AC_REC_SUBMIT);
	e.call = AC_OP_RECVFROM, e.op = 2, e.h = 7, e.a = 2048, e.rc = AC_IO_PENDING;
	ck_assert_int_eq(feed(&f, e), 0);
	e = ev(AC_REC_COMPLETE);
	e.op = 2, e.res = sizeof(dg), e.addr = addr("127.0.0.2:51350");
	e.data2 = dg, e.dlen2 = sizeof(dg);
	ck_assert_int_eq(feed(&f, e), 1);
	t_parse(&f.cap.p[0], &t);
	ck_assert_int_eq(t.proto, 17);
	ck_assert(ac_addr_eq(&t.src, &(ac_addr){AC_AF_INET, 0, 51350, 0, {127, 0, 0, 1}}));
	ck_assert(ac_addr_eq(&t.dst, &(ac_addr){AC_AF_INET, 0, 51350, 0, {127, 255, 255, 255}}));
	ck_assert_uint_eq(t.plen, sizeof(dg));
	ck_assert_mem_eq(t.pl, dg, sizeof(dg));
	t_parse(&f.cap.p[1], &t);
	ck_assert_uint_eq(t.src.ip[3], 2);
	got_run(&f.cap, NULL, 0, &g);
	ck_assert_int_eq(g.n, 2);
	ck_assert_int_eq(g.f[0].udp, 1);
	ck_assert_int_eq(g.f[0].type, AC_WT_ANNOUNCE);
	ck_assert_str_eq(g.f[0].body, "[1, 2]");
	feed_fini(&f);
}
END_TEST

/* Event numbers to pcap frame numbers. */
START_TEST(test_synth_frame_of)
{
	struct session x;
	struct feed f;
	uint64_t fr;

	session_init(&x);
	feed_init(&f);
	session_feed(&f, &x);
	/* 0 NOW, 1 SUBMIT connect, 2 COMPLETE, 3 CONN (frames 1-3), 4 NOW,
	 * 5 SUBMIT send HELLO (frame 4). */
	ck_assert_int_eq(acp_synth_frame_of(f.s, 0, &fr), 0);
	ck_assert_uint_eq(fr, 0);
	ck_assert_int_eq(acp_synth_frame_of(f.s, 3, &fr), 1);
	ck_assert_uint_eq(fr, 1);
	ck_assert_int_eq(acp_synth_frame_of(f.s, 4, &fr), 0);
	ck_assert_uint_eq(fr, 3);
	ck_assert_int_eq(acp_synth_frame_of(f.s, 5, &fr), 1);
	ck_assert_uint_eq(fr, 4);
	ck_assert_int_eq(acp_synth_frame_of(f.s, 1000, &fr), 0);
	ck_assert_uint_eq(fr, 10);
	feed_fini(&f);
	session_fini(&x);
}
END_TEST

/* ---- tests: reassembly ------------------------------------------------------------------ */

static void expect_session(const struct got *g)
{
	static const uint8_t types[] = {AC_WT_HELLO, AC_WT_HELLO_ACK, AC_WT_AUTH,
	                                AC_WT_AUTH_OK, AC_WT_SEND};
	static const int to_srv[] = {1, 0, 1, 0, 1};
	int i;
	ck_assert_int_eq(g->n, 5);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(g->f[i].type, types[i]);
		ck_assert_int_eq(g->f[i].to_srv, to_srv[i]);
		ck_assert_uint_eq(g->f[i].conn, 1);
	}
	ck_assert_str_eq(g->f[3].body, "");
	ck_assert_ptr_nonnull(strstr(g->f[4].body, "b\"hello there\""));
}

START_TEST(test_flow_session)
{
	struct session x;
	struct feed f;
	struct got g;

	session_init(&x);
	feed_init(&f);
	session_feed(&f, &x);
	got_run(&f.cap, NULL, 0, &g);
	expect_session(&g);
	ck_assert_int_eq(g.f[0].ts, WALL0 + 2000);
	feed_fini(&f);
	session_fini(&x);
}
END_TEST

/* Wrap p (an IP packet) in the link header of dlt; returns the length. */
static size_t link_wrap(int dlt, const struct pkt *k, uint8_t *out)
{
	int v6 = (k->data[0] >> 4) == 6;
	uint8_t et0 = v6 ? 0x86 : 0x08, et1 = v6 ? 0xdd : 0x00;
	size_t h = 0;
	switch (dlt) {
	case DLT_EN10MB: /* MACs, an 802.1Q tag, the type */
		memset(out, 0, 12);
		out[12] = 0x81, out[13] = 0x00, out[14] = 0, out[15] = 5;
		out[16] = et0, out[17] = et1;
		h = 18;
		break;
	case DLT_LINUX_SLL:
		memset(out, 0, 16);
		out[14] = et0, out[15] = et1;
		h = 16;
		break;
	case DLT_LINUX_SLL2:
		memset(out, 0, 20);
		out[0] = et0, out[1] = et1;
		h = 20;
		break;
	case DLT_NULL: /* host order, little-endian here */
		out[0] = v6 ? 30 : 2, out[1] = out[2] = out[3] = 0;
		h = 4;
		break;
	case DLT_LOOP: /* network order */
		out[0] = out[1] = out[2] = 0, out[3] = v6 ? 30 : 2;
		h = 4;
		break;
	}
	memcpy(out + h, k->data, k->len);
	return h + k->len;
}

/* The same frames through every link layer acpcap reads. */
START_TEST(test_flow_links)
{
	static const int dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL,
	                           DLT_LOOP};
	uint8_t buf[ACP_SNAPLEN + 64];
	struct session x;
	struct feed f;
	struct got g;
	acp_flow *fl;
	size_t i, n;

	session_init(&x);
	feed_init(&f);
	session_feed(&f, &x);
	ck_assert(acp_flow_dlt_ok(dlts[_i]));
	ck_assert_ptr_nonnull(fl = acp_flow_new(got_item, NULL, &g));
	memset(&g, 0, sizeof(g));
	for (i = 0; i < f.cap.n; i++) {
		n = link_wrap(dlts[_i], &f.cap.p[i], buf);
		ck_assert_int_eq(acp_flow_packet(fl, dlts[_i], f.cap.p[i].ts, buf, n), 0);
	}
	acp_flow_finish(fl);
	ck_assert_uint_eq(acp_flow_counts(fl)->fs_skipped, 0);
	acp_flow_free(fl);
	expect_session(&g);
	feed_fini(&f);
	session_fini(&x);
}
END_TEST

/* Every packet twice, and the data segments of each direction swapped in
 * pairs: the same frames, once each. */
START_TEST(test_flow_dup_reorder)
{
	struct session x;
	struct feed f;
	struct got g;
	size_t order[64], n = 0, i;
	/* 0-2 handshake, 3 HELLO, 4 HELLO_ACK, 5 AUTH, 6 AUTH_OK, 7 SEND,
	 * 8 FIN in, 9 FIN out: AUTH before HELLO and SEND before both,
	 * duplicated. */
	static const size_t perm[] = {0, 1, 2, 7, 5, 4, 3, 3, 6, 5, 4, 7, 8, 9, 9};

	session_init(&x);
	feed_init(&f);
	session_feed(&f, &x);
	for (i = 0; i < sizeof(perm) / sizeof(perm[0]); i++)
		order[n++] = perm[i];
	got_run(&f.cap, order, n, &g);
	/* Frames come out when the gap fills: HELLO_ACK is the first whole
	 * frame, then HELLO, AUTH and SEND at once, then AUTH_OK. */
	ck_assert_int_eq(g.n, 5);
	ck_assert_int_eq(g.f[0].type, AC_WT_HELLO_ACK);
	ck_assert_int_eq(g.f[1].type, AC_WT_HELLO);
	ck_assert_int_eq(g.f[2].type, AC_WT_AUTH);
	ck_assert_int_eq(g.f[3].type, AC_WT_SEND);
	ck_assert_int_eq(g.f[4].type, AC_WT_AUTH_OK);
	feed_fini(&f);
	session_fini(&x);
}
END_TEST

/* Many frames in one big write, cut in segments that arrive shuffled. */
START_TEST(test_flow_many_frames)
{
	struct wframe w[200];
	size_t total = 0, off = 0, i, order[64];
	uint8_t *all;
	struct feed f;
	struct got g;
	char text[2048];

	for (i = 0; i < 200; i++) {
		memset(text, 'a' + (int)(i % 26), sizeof(text) - 1);
		text[(i * 37) % 2000 + 1] = '\0';
		w[i] = send_frame(text);
		total += w[i].len;
	}
	all = malloc(total);
	for (i = 0; i < 200; off += w[i].len, i++)
		memcpy(all + off, w[i].p, w[i].len);
	feed_init(&f);
	ev_connect(&f, 1, 5, addr("127.0.0.1:40000"), addr("127.0.0.1:9000"));
	ev_send(&f, 2, 5, all, total, 0);
	ck_assert_uint_lt(f.cap.n, 64);
	for (i = 0; i < f.cap.n; i++) /* handshake, then the segments backwards */
		order[i] = i < 3 ? i : f.cap.n - 1 - (i - 3);
	got_run(&f.cap, order, f.cap.n, &g);
	ck_assert_int_eq(g.n, 200);
	for (i = 0; i < 200; i++)
		ck_assert_int_eq(g.f[i].type, AC_WT_SEND);
	for (i = 0; i < 200; i++)
		free(w[i].p);
	free(all);
	feed_fini(&f);
}
END_TEST

/* ---- tests: frames and bodies ------------------------------------------------------------ */

/* A SEND body shows its refs as ac_ref_format does, plain or deflated. */
START_TEST(test_proto_send_ref)
{
	struct wframe w = send_frame("hi");
	char out[1024], want[128], rt[AC_ADDR_STRLEN + 32];
	acp_frame fr;
	uLongf zlen = compressBound((uLong)w.len);
	uint8_t *z = malloc(zlen);

	ck_assert_int_eq(acp_frame_parse(w.p, w.len, &fr), (long)w.len);
	ck_assert_int_eq(acp_frame_parse(w.p, w.len - 1, &fr), 0);
	ck_assert_int_eq(fr.f_type, AC_WT_SEND);
	ck_assert_str_eq(acp_type_name(fr.f_type), "SEND");
	acp_body_render(&fr, out, sizeof(out));
	snprintf(want, sizeof(want), "[<ref %s>, 0, 0, ",
	         ac_ref_format(test_ref(1, 3, 1, "127.0.0.1:9000"), rt, sizeof(rt)));
	ck_assert_str_eq(want, "[<ref coro/3.1@127.0.0.1:9000>, 0, 0, ");
	ck_assert_int_eq(strncmp(out, want, strlen(want)), 0);
	ck_assert_str_eq(out + strlen(want), "<ref coro/7.2@127.0.0.1:40000>, b\"hi\"]");
	/* The same body deflated, flagged ZLIB. */
	ck_assert_int_eq(compress2(z, &zlen, fr.f_body, fr.f_body_len, 6), Z_OK);
	fr.f_body = z;
	fr.f_body_len = (uint32_t)zlen;
	fr.f_flags = AC_WF_ZLIB;
	acp_body_render(&fr, want, sizeof(want));
	ck_assert_str_eq(want, out);
	/* A bad zlib body says so. */
	z[zlen / 2] ^= 0xff;
	acp_body_render(&fr, want, sizeof(want));
	ck_assert_ptr_nonnull(strstr(want, "does not inflate"));
	free(z);
	free(w.p);
}
END_TEST

START_TEST(test_proto_names)
{
	char b[32];
	acp_frame fr = {0};
	ck_assert_str_eq(acp_flags_str(0, b, sizeof(b)), "-");
	ck_assert_str_eq(acp_flags_str(AC_WF_REPLY, b, sizeof(b)), "REPLY");
	ck_assert_str_eq(acp_flags_str(AC_WF_REPLY | AC_WF_ZLIB, b, sizeof(b)), "REPLY|ZLIB");
	ck_assert_str_eq(acp_flags_str(0x82, b, sizeof(b)), "ZLIB|0x80");
	ck_assert_str_eq(acp_type_str(AC_WT_HELLO_ACK, b, sizeof(b)), "HELLO_ACK");
	ck_assert_str_eq(acp_type_str(99, b, sizeof(b)), "TYPE_99");
	ck_assert_ptr_null(acp_type_name(0));
	fr.f_type = AC_WT_AUTH_OK;
	ck_assert_str_eq(acp_frame_step(&fr), "4/4 auth-ok");
	fr.f_type = AC_WT_SEND;
	ck_assert_ptr_null(acp_frame_step(&fr));
}
END_TEST

static void count_frame(void *arg, const acp_frame *f)
{
	int *n = arg;
	ck_assert_int_eq(f->f_type, AC_WT_SEND);
	(*n)++;
}

/* Byte by byte, the splitter gives every frame; a foreign stream gives
 * none and is not buffered; an impossible length later loses the rest. */
START_TEST(test_proto_split)
{
	struct wframe w = send_frame("split me");
	acp_split sp;
	int n = 0, i, k;
	uint8_t bad[AC_WIRE_HDR] = {0, 0, 0, 2};

	acp_split_init(&sp);
	for (k = 0; k < 3; k++)
		for (i = 0; i < (int)w.len; i++)
			ck_assert_int_eq(acp_split_feed(&sp, w.p + i, 1, count_frame, &n),
			                 ACP_SPLIT_OK);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(acp_split_feed(&sp, bad, sizeof(bad), count_frame, &n),
	                 ACP_SPLIT_LOST);
	ck_assert_int_eq(acp_split_feed(&sp, w.p, w.len, count_frame, &n), ACP_SPLIT_LOST);
	ck_assert_int_eq(n, 3);
	acp_split_fini(&sp);
	acp_split_init(&sp);
	ck_assert_int_eq(acp_split_feed(&sp, (const uint8_t *)"GET / HTTP/1.1\r\n", 16,
	                                count_frame, &n), ACP_SPLIT_FOREIGN);
	ck_assert_uint_eq(sp.sp_len, 0);
	acp_split_fini(&sp);
	free(w.p);
}
END_TEST

START_TEST(test_json_escape)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(fp);
	acp_json_str(fp, "a\"b\\c\n\x01\xff \xc3\xa9 \xe2\x82");
	fclose(fp);
	ck_assert_str_eq(buf, "\"a\\\"b\\\\c\\n\\u0001\\ufffd \xc3\xa9 \\ufffd\\ufffd\"");
	free(buf);
}
END_TEST

/* ---- tests: record files ------------------------------------------------------------------ */

/* The command line stored in the records this suite writes: `acpcap
 * replay` runs it (tests/acpcap.test checks what it prints). With
 * ACPCAP_TEST_DIVERGE=E it plays a replay that diverged at event E: it
 * writes that to the report descriptor and exits 3. */
static char *rec_argv[] = {"/bin/sh", "-c",
                           "echo replaying \"$AC_REPLAY\" until ${AC_REPLAY_UNTIL:-none}; "
                           "[ -z \"$ACPCAP_TEST_DIVERGE\" ] || { echo \"diverged "
                           "$ACPCAP_TEST_DIVERGE\" >/proc/self/fd/$AC_REPLAY_REPORT_FD; "
                           "exit 3; }"};

static void rec_header(ac_rec_header *h)
{
	memset(h, 0, sizeof(*h));
	h->version = AC_REC_VERSION;
	h->io_version = AC_IO_VERSION;
	snprintf(h->backend, sizeof(h->backend), "epoll");
	h->argc = 3;
	h->argv = rec_argv;
	h->wall_ns = WALL0;
	h->mono_ns = 0;
	snprintf(h->name, sizeof(h->name), "acpcap-test");
}

/* Start recording f's events to path. */
static void feed_record(struct feed *f, const char *path)
{
	ac_rec_header h;
	rec_header(&h);
	CK_OK(ac__recw_open(path, &h, NULL, NULL, &f->w));
}

static void feed_record_end(struct feed *f)
{
	CK_OK(ac__recw_end(f->w));
	ac__recw_free(f->w);
	f->w = NULL;
}

/* An announcement datagram: [magic, version, name, loc, inc, udp, relay]
 * and a made-up MAC. */
static struct wframe announce(void)
{
	ac_addr loc = addr("127.0.0.1:9000");
	struct wframe w;
	void *b;
	size_t n;
	CK_OK(ac_pack(&b, &n, "[u u s l u u b]", (uint64_t)AC_WIRE_MAGIC, (uint64_t)1,
	                "server", &loc, (uint64_t)88, (uint64_t)51350, 0));
	w = wframe(AC_WT_ANNOUNCE, 0, 0, b, n);
	free(b);
	w.p = realloc(w.p, w.len + AC_WIRE_MAC);
	memset(w.p + w.len, 0x5a, AC_WIRE_MAC);
	w.len += AC_WIRE_MAC;
	return w;
}

/* A second connection (accepted) carrying n SEND frames in one write and
 * a deflated one, and an announcement over UDP. */
static void demo_feed(struct feed *f, int n)
{
	struct wframe w = send_frame("a message in a batch"), z;
	uLongf zlen = compressBound((uLong)w.len);
	uint8_t *all = malloc((size_t)n * w.len), *zb = malloc(zlen);
	ac_rec_event e = ev(AC_REC_SUBMIT);
	int i;

	for (i = 0; i < n; i++)
		memcpy(all + (size_t)i * w.len, w.p, w.len);
	e.call = AC_OP_ACCEPT, e.op = 100, e.h = 3, e.rc = AC_IO_DONE, e.res = 6;
	e.addr = addr("127.0.0.1:40001");
	feed(f, e);
	e = ev(AC_REC_CONN);
	e.h = 6, e.addr = addr("127.0.0.1:9000"), e.addr2 = addr("127.0.0.1:40001");
	feed(f, e);
	ev_now(f, 4000);
	ev_send(f, 101, 6, all, (size_t)n * w.len, 1);
	ck_assert_int_eq(compress2(zb, &zlen, w.p + AC_WIRE_HDR, w.len - AC_WIRE_HDR, 6), Z_OK);
	z = wframe(AC_WT_SEND, AC_WF_ZLIB, 0, zb, zlen);
	ev_send(f, 102, 6, z.p, z.len, 0);
	ev_call(f, AC_RC_CLOSE, 6, 0);
	/* An announcement (its MAC made up). */
	e = ev(AC_REC_CALL);
	e.call = AC_RC_UDP_BIND, e.addr = addr("0.0.0.0:51350"), e.rc = 0, e.res = 7;
	feed(f, e);
	free(z.p);
	z = announce();
	e = ev(AC_REC_SUBMIT);
	e.call = AC_OP_SENDTO, e.op = 103, e.h = 7, e.addr = addr("127.255.255.255:51350");
	e.data = z.p, e.dlen = z.len, e.rc = AC_IO_DONE, e.res = (int64_t)z.len;
	feed(f, e);
	free(z.p);
	free(zb);
	free(all);
	free(w.p);
}

static void tmp_path(char *buf, size_t len, const char *tag)
{
	const char *d = getenv("TMPDIR");
	snprintf(buf, len, "%s/ac-acpcap-%d-%s.rec", d && *d ? d : "/tmp", (int)getpid(), tag);
}

/* A record file read back gives the same packets as its events did. */
START_TEST(test_rec_walk)
{
	char path[256];
	struct session x;
	struct feed f;
	struct cap back = {0};
	acp_rec *r;
	uint8_t *pa, *pb;
	size_t la, lb;

	tmp_path(path, sizeof(path), "walk");
	session_init(&x);
	feed_init(&f);
	feed_record(&f, path);
	session_feed(&f, &x);
	demo_feed(&f, 50);
	feed_record_end(&f);
	ck_assert_int_eq(acp_rec_open(path, &r), 1);
	ck_assert_int_eq(acp_rec_header(r)->argc, 3);
	ck_assert_int_eq(acp_rec_walk(r, cap_emit, &back, NULL, NULL), 0);
	acp_rec_close(r);
	ck_assert_uint_gt(f.cap.n, 15);
	serialize(&f.cap, &pa, &la);
	serialize(&back, &pb, &lb);
	ck_assert_uint_eq(la, lb);
	ck_assert_mem_eq(pa, pb, la);
	free(pa);
	free(pb);
	cap_free(&back);
	feed_fini(&f);
	session_fini(&x);
	unlink(path);
}
END_TEST

/* A cut record gives the packets of its whole events and an error. The
 * record's stream is in blocks (doc/record.md), and a reader uses whole
 * blocks only: a session, then 70 KB of random bytes (an event that large
 * ends a block, and its bytes make one of their own), then a second
 * connection, in the last block, which the cut takes. */
START_TEST(test_rec_cut)
{
	static uint8_t bytes[70000];
	char path[256];
	struct session x;
	struct feed f;
	struct cap back = {0};
	ac_rec_event e = ev(AC_REC_ENTROPY);
	acp_rec *r;
	FILE *fp;
	long size;
	size_t i;

	tmp_path(path, sizeof(path), "cut");
	session_init(&x);
	feed_init(&f);
	feed_record(&f, path);
	session_feed(&f, &x);
	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)((i * 2654435761u) >> 13);
	e.a = (int64_t)sizeof(bytes);
	e.data = bytes;
	e.dlen = sizeof(bytes);
	ck_assert_int_eq(feed(&f, e), 0);
	demo_feed(&f, 3);
	feed_record_end(&f);
	ck_assert_ptr_nonnull(fp = fopen(path, "r+"));
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	ck_assert_int_eq(ftruncate(fileno(fp), size - 30), 0);
	fclose(fp);
	ck_assert_int_eq(acp_rec_open(path, &r), 1);
	ck_assert_int_eq(acp_rec_walk(r, cap_emit, &back, NULL, NULL), -1);
	acp_rec_close(r);
	ck_assert_uint_gt(back.n, 0);
	ck_assert_uint_lt(back.n, f.cap.n);
	cap_free(&back);
	feed_fini(&f);
	session_fini(&x);
	unlink(path);
}
END_TEST

/* The demo record: to $ACPCAP_TEST_RECORD when set (tests/acpcap.test
 * runs this case alone for it), else to a temporary file; either way it
 * must read back whole. */
START_TEST(test_rec_demo)
{
	const char *env = getenv("ACPCAP_TEST_RECORD");
	char path[256];
	struct session x;
	struct feed f;
	struct cap back = {0};
	acp_rec *r;

	tmp_path(path, sizeof(path), "demo");
	if (env != NULL && *env != '\0')
		snprintf(path, sizeof(path), "%s", env);
	session_init(&x);
	feed_init(&f);
	feed_record(&f, path);
	session_feed(&f, &x);
	demo_feed(&f, 2000);
	feed_record_end(&f);
	ck_assert_int_eq(acp_rec_open(path, &r), 1);
	ck_assert_int_eq(acp_rec_walk(r, cap_emit, &back, NULL, NULL), 0);
	acp_rec_close(r);
	ck_assert_uint_eq(back.n, f.cap.n);
	cap_free(&back);
	feed_fini(&f);
	session_fini(&x);
	if (env == NULL || *env == '\0')
		unlink(path);
}
END_TEST

/* ---- tests: random bytes ------------------------------------------------------------------ */

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* Random bytes, biased towards MessagePack headers so that the renderer
 * gets deep; when framed, a frame header that holds together comes first
 * (random type, flags, id). */
static size_t rnd_bytes(uint8_t *p, size_t max, int framed)
{
	static const uint8_t marks[] = {0x91, 0x93, 0x9f, 0xdc, 0xdd, 0x81, 0xde, 0xc7,
	                                0xd4, 0xc4, 0xa5, 0xd9, 0xcb, 0xcf, 0xc0, 0x00};
	size_t len = rnd() % max, i, start = framed ? AC_WIRE_HDR : 0;
	if (len < start)
		len = start;
	for (i = start; i < len; i++)
		p[i] = (rnd() & 1) ? marks[rnd() % sizeof(marks)] : (uint8_t)rnd();
	if (framed)
		ac_wire_hdr_put(p, (uint8_t)(rnd() % 23), (uint8_t)(rnd() % 4),
		                (uint32_t)rnd(), (uint32_t)(len - AC_WIRE_HDR));
	return len;
}

static void render_check(const acp_frame *f)
{
	char small[16], big[4096];
	acp_body_render(f, small, sizeof(small));
	ck_assert_uint_lt(strlen(small), sizeof(small));
	acp_body_render(f, big, sizeof(big));
	ck_assert_uint_lt(strlen(big), sizeof(big));
}

static void fuzz_frame_cb(void *arg, const acp_frame *f)
{
	int *n = arg;
	render_check(f);
	(*n)++;
}

static void fuzz_item_cb(void *arg, const acp_item *it)
{
	int *n = arg;
	render_check(it->it_frame);
	(*n)++;
}

/* A random packet behind a plausible IPv4 + TCP/UDP header on 127.0.0.1,
 * few ports and sequence numbers near each other, so reassembly works. */
static size_t rnd_packet(uint8_t *p, size_t max)
{
	size_t len = 40 + rnd_bytes(p + 40, max - 40, rnd() & 1);
	int udp = (rnd() % 4) == 0;
	memset(p, 0, 40);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8), p[3] = (uint8_t)len;
	p[9] = udp ? 17 : 6;
	p[12] = p[16] = 127, p[15] = 1, p[19] = (uint8_t)(1 + rnd() % 2);
	p[20] = 0x9c, p[21] = (uint8_t)(rnd() % 3), p[23] = (uint8_t)(rnd() % 3);
	if (udp) {
		p[24] = (uint8_t)((len - 20) >> 8), p[25] = (uint8_t)(len - 20);
		return len;
	}
	p[26] = (uint8_t)(rnd() % 2), p[27] = (uint8_t)rnd(); /* seq: near 0 */
	p[32] = 0x50;
	p[33] = (uint8_t)(rnd() % 8 == 0 ? rnd() & 0x17 : 0x10);
	return len;
}

START_TEST(test_fuzz_decoders)
{
	static const int dlts[] = {DLT_RAW, DLT_EN10MB, DLT_NULL, DLT_LINUX_SLL,
	                           DLT_LINUX_SLL2};
	uint8_t *buf = malloc(4096);
	int frames = 0, items = 0, i;
	acp_flow *fl = acp_flow_new(fuzz_item_cb, NULL, &items);
	acp_split sp;
	acp_frame f;
	const uint8_t *mac;

	rnd_state = 0x9e3779b97f4a7c15ULL;
	acp_split_init(&sp);
	for (i = 0; i < 10000; i++) {
		size_t n = rnd_bytes(buf, 600, i % 2), off = 0;
		long r = acp_frame_parse(buf, n, &f);
		ck_assert_int_le(r, (long)n);
		if (r > 0)
			fuzz_frame_cb(&frames, &f);
		acp_announce_parse(buf, n, &f, &mac);
		while (off < n) { /* random chunks, a fresh splitter when it gives up */
			size_t k = 1 + rnd() % (n - off);
			int st = acp_split_feed(&sp, buf + off, k, fuzz_frame_cb, &frames);
			if (st != ACP_SPLIT_OK) {
				acp_split_fini(&sp);
				acp_split_init(&sp);
			}
			off += k;
		}
		ck_assert_int_eq(acp_flow_packet(fl, dlts[i % 5], i, buf, n), 0);
		n = rnd_packet(buf, 1500);
		ck_assert_int_eq(acp_flow_packet(fl, DLT_RAW, i, buf, n), 0);
	}
	acp_flow_finish(fl);
	/* The random bytes did reach the renderer, through both paths. */
	ck_assert_int_gt(frames, 2000);
	ck_assert_int_gt(items, 10);
	acp_flow_free(fl);
	acp_split_fini(&sp);
	free(buf);
}
END_TEST

/* A random address: none, IPv4 or IPv6, a few ports. */
static ac_addr rnd_addr(void)
{
	ac_addr a;
	ac_addr_init(&a);
	a.family = (uint8_t)((int[]){AC_AF_NONE, AC_AF_INET, AC_AF_INET6})[rnd() % 3];
	a.port = (uint16_t)(9000 + rnd() % 3);
	if (a.family == AC_AF_INET)
		a.ip[0] = 127, a.ip[3] = (uint8_t)(1 + rnd() % 2);
	else if (a.family == AC_AF_INET6)
		a.ip[15] = (uint8_t)(1 + rnd() % 2);
	return a;
}

/* Every packet the synthesizer makes from random events parses, with good
 * checksums, and goes through the reassembler. */
static void fuzz_emit(void *arg, int64_t ts, const uint8_t *data, size_t len)
{
	acp_flow *fl = arg;
	struct pkt k = {ts, len, (uint8_t *)(uintptr_t)data};
	struct tp t;
	ck_assert_uint_le(len, ACP_SNAPLEN);
	t_parse(&k, &t);
	ck_assert_int_eq(acp_flow_packet(fl, DLT_RAW, ts, data, len), 0);
}

START_TEST(test_fuzz_synth)
{
	static const int64_t rcs[] = {-ECONNRESET, -ECANCELED, -EPIPE, 0, 1, 0, 1};
	uint8_t *buf = malloc(70000);
	int items = 0, i, rc;
	uint64_t emitted = 0;
	acp_flow *fl = acp_flow_new(fuzz_item_cb, NULL, &items);
	acp_synth *sy = acp_synth_new(WALL0, 0, fuzz_emit, fl);
	ac_rec_event e;

	rnd_state = 0x0123456789abcdefULL;
	for (i = 0; i < 70000; i++)
		buf[i] = (uint8_t)rnd();
	for (i = 0; i < 20000; i++) {
		e = ev((uint32_t)(1 + rnd() % 13));
		e.seq = (uint64_t)i;
		e.call = (uint32_t)(rnd() % 24);
		e.op = rnd() % 40;
		e.h = (int32_t)(rnd() % 12) - 1;
		e.a = (int64_t)(rnd() % 3000) - 10;
		e.rc = rcs[rnd() % 7];
		e.res = (rnd() % 3) ? (int64_t)(rnd() % 3000) : rcs[rnd() % 7];
		e.addr = rnd_addr();
		e.addr2 = rnd_addr();
		e.dlen = (rnd() % 4 == 0) ? rnd() % 70000 : rnd() % 300;
		e.dlen2 = rnd() % 300;
		e.data = e.dlen ? buf : NULL;
		e.data2 = e.dlen2 ? buf : NULL;
		rc = acp_synth_event(sy, &e);
		ck_assert_int_ge(rc, 0);
		emitted += (uint64_t)rc;
	}
	/* What each event said it emitted is what the synthesizer counted. */
	ck_assert_uint_eq(acp_synth_frames(sy), emitted);
	ck_assert_uint_gt(acp_synth_frames(sy), 100);
	acp_flow_finish(fl);
	acp_synth_free(sy);
	acp_flow_free(fl);
	free(buf);
}
END_TEST

static Suite *acpcap_suite(void)
{
	Suite *s = suite_create("acpcap");
	TCase *tc = tcase_create("synth");
	tcase_add_test(tc, test_synth_session);
	tcase_add_test(tc, test_synth_accept);
	tcase_add_test(tc, test_synth_deterministic);
	tcase_add_loop_test(tc, test_synth_segments, 0, 2);
	tcase_add_test(tc, test_synth_cancel_reset);
	tcase_add_test(tc, test_synth_reuse);
	tcase_add_test(tc, test_synth_mirror);
	tcase_add_test(tc, test_synth_udp);
	tcase_add_test(tc, test_synth_frame_of);
	suite_add_tcase(s, tc);
	tc = tcase_create("flow");
	tcase_add_test(tc, test_flow_session);
	tcase_add_loop_test(tc, test_flow_links, 0, 5);
	tcase_add_test(tc, test_flow_dup_reorder);
	tcase_add_test(tc, test_flow_many_frames);
	suite_add_tcase(s, tc);
	tc = tcase_create("proto");
	tcase_add_test(tc, test_proto_send_ref);
	tcase_add_test(tc, test_proto_names);
	tcase_add_test(tc, test_proto_split);
	tcase_add_test(tc, test_json_escape);
	suite_add_tcase(s, tc);
	tc = tcase_create("record");
	tcase_add_test(tc, test_rec_walk);
	tcase_add_test(tc, test_rec_cut);
	tcase_add_test(tc, test_rec_demo);
	suite_add_tcase(s, tc);
	tc = tcase_create("fuzz");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fuzz_decoders);
	tcase_add_test(tc, test_fuzz_synth);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(acpcap_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
