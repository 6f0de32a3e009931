/* tools/acpcap_flow.c: packets to frames (see acpcap_flow.h). Every
 * header length is checked against the bytes captured before it is used.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "tools/acpcap_flow.h"
#include "tools/acpcap_map.h"

enum { TF_FIN = 1, TF_SYN = 2, TF_RST = 4, TF_ACK = 16 };

/* A segment waiting for a gap to fill. */
struct flow_seg {
	struct flow_seg *g_next;
	uint32_t g_seq;
	uint32_t g_len;
	uint8_t g_data[];
};

/* One direction of a connection. */
struct flow_dir {
	/* Next sequence number expected (valid when d_have). */
	uint32_t d_next;
	uint8_t d_have;
	uint8_t d_syn;
	/* FIN reached in order; FIN seen at d_fin_seq (maybe ahead). */
	uint8_t d_fin;
	uint8_t d_fin_seen;
	uint32_t d_fin_seq;
	uint32_t d_isn;
	/* Segments ahead of d_next, sorted by sequence number. */
	struct flow_seg *d_ooo;
	size_t d_ooo_bytes;
	unsigned d_ooo_n;
	uint64_t d_missing;
	acp_split d_split;
};

struct flow_conn {
	/* Next connection with the same map key. */
	struct flow_conn *c_next;
	uint64_t c_key;
	acp_conn_info c_info;
	struct flow_dir c_dir[2];
	/* Retired: replaced on its 4-tuple, reported already. */
	int c_done;
};

struct acp_flow {
	acp_item_fn f_item;
	acp_conn_fn f_conn;
	void *f_arg;
	/* Tuple key -> the live connection(s) of that key. */
	acp_map f_live;
	/* Every connection, by number - 1. */
	struct flow_conn **f_all;
	size_t f_nall;
	size_t f_capall;
	acp_flow_stats f_stats;
	int f_oom;
};

/* What a frame callback needs to build its item. */
struct flow_ctx {
	acp_flow *x_flow;
	struct flow_conn *x_conn;
	int x_dir;
	int64_t x_ts;
};

/* A parsed packet. */
struct flow_pkt {
	int64_t k_ts;
	ac_addr k_src;
	ac_addr k_dst;
	/* 6 or 17. */
	int k_proto;
	uint32_t k_seq;
	int k_flags;
	const uint8_t *k_data;
	size_t k_len;
};

static uint32_t get16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

/* ---- link layers and IP ---------------------------------------------------------- */

int acp_flow_dlt_ok(int dlt)
{
	return dlt == DLT_RAW || dlt == DLT_IPV4 || dlt == DLT_IPV6 ||
	       dlt == DLT_EN10MB || dlt == DLT_NULL || dlt == DLT_LOOP ||
	       dlt == DLT_LINUX_SLL || dlt == DLT_LINUX_SLL2;
}

/* Ethernet type after Ethernet headers and VLAN tags. Returns the offset
 * of the network header (0 when none), *type its Ethernet type. */
static size_t flow_ether(const uint8_t *p, size_t n, uint32_t *type)
{
	size_t off = 12;
	int tags = 0;
	while (off + 2 <= n) {
		*type = get16(p + off);
		if ((*type != 0x8100 && *type != 0x88a8 && *type != 0x9100) || tags == 2)
			return off + 2;
		off += 4;
		tags++;
	}
	return 0;
}

/* The IP packet inside a link-layer frame: returns its offset, or
 * (size_t)-1 when there is none (not IP, or too short). */
static size_t flow_link(int dlt, const uint8_t *p, size_t n)
{
	uint32_t type = 0, fam;
	size_t off;
	switch (dlt) {
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return 0;
	case DLT_NULL:
	case DLT_LOOP:
		if (n < 4)
			return (size_t)-1;
		/* Host byte order of the capturing machine (DLT_NULL), network
		 * order (DLT_LOOP): a family is small, so try both. */
		fam = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		      (uint32_t)p[3] << 24;
		if (fam > 0xffff)
			fam = get16(p + 2);
		return (fam == 2 || fam == 10 || fam == 24 || fam == 28 || fam == 30)
		           ? 4 : (size_t)-1;
	case DLT_EN10MB:
		off = flow_ether(p, n, &type);
		break;
	case DLT_LINUX_SLL:
		off = n >= 16 ? 16 : 0;
		type = n >= 16 ? get16(p + 14) : 0;
		break;
	case DLT_LINUX_SLL2:
		off = n >= 20 ? 20 : 0;
		type = n >= 20 ? get16(p) : 0;
		break;
	default:
		return (size_t)-1;
	}
	return off != 0 && (type == 0x0800 || type == 0x86dd) ? off : (size_t)-1;
}

/* IPv4: fills addresses and protocol; returns the transport header offset,
 * or 0 with *why = 1 (skip) or 2 (malformed). *end: end of the packet. */
static size_t flow_ipv4(const uint8_t *p, size_t n, struct flow_pkt *k,
                        size_t *end, int *why)
{
	size_t ihl, tot;
	*why = 2;
	if (n < 20 || (ihl = (size_t)(p[0] & 15) * 4) < 20 || ihl > n)
		return 0;
	tot = get16(p + 2);
	if (tot < ihl || tot > n)
		return 0;
	*why = 1;
	if ((get16(p + 6) & 0x3fff) != 0)
		return 0; /* a fragment */
	k->k_proto = p[9];
	k->k_src.family = k->k_dst.family = AC_AF_INET;
	memcpy(k->k_src.ip, p + 12, 4);
	memcpy(k->k_dst.ip, p + 16, 4);
	*end = tot;
	return ihl;
}

/* IPv6, walking extension headers (at most 8); as flow_ipv4. */
static size_t flow_ipv6(const uint8_t *p, size_t n, struct flow_pkt *k,
                        size_t *end, int *why)
{
	size_t off = 40, tot;
	int nh, i;
	*why = 2;
	if (n < 40 || (tot = 40 + get16(p + 4)) > n || tot == 40)
		return 0;
	nh = p[6];
	/* hop-by-hop, routing, destination options, authentication */
	for (i = 0; i < 8 && (nh == 0 || nh == 43 || nh == 60 || nh == 51); i++) {
		size_t hl;
		if (off + 8 > tot)
			return 0;
		hl = nh == 51 ? (size_t)(p[off + 1] + 2) * 4 : (size_t)(p[off + 1] + 1) * 8;
		nh = p[off];
		off += hl;
	}
	*why = 1;
	if (nh == 44 || off > tot)
		return 0; /* a fragment, or headers past the end */
	k->k_proto = nh;
	k->k_src.family = k->k_dst.family = AC_AF_INET6;
	memcpy(k->k_src.ip, p + 8, 16);
	memcpy(k->k_dst.ip, p + 24, 16);
	*end = tot;
	return off;
}

/* The transport header at p (n bytes to the end of the IP packet): fills
 * ports, TCP sequence and flags, payload. Returns 0, 1 (skip) or 2
 * (malformed). */
static int flow_transport(const uint8_t *p, size_t n, struct flow_pkt *k)
{
	size_t hl;
	if (k->k_proto == 6) {
		if (n < 20 || (hl = (size_t)(p[12] >> 4) * 4) < 20 || hl > n)
			return 2;
		k->k_seq = (uint32_t)get16(p + 4) << 16 | get16(p + 6);
		k->k_flags = p[13];
		k->k_data = p + hl;
		k->k_len = n - hl;
	} else if (k->k_proto == 17) {
		if (n < 8 || (hl = get16(p + 4)) < 8 || hl > n)
			return 2;
		k->k_data = p + 8;
		k->k_len = hl - 8;
	} else {
		return 1;
	}
	k->k_src.port = (uint16_t)get16(p);
	k->k_dst.port = (uint16_t)get16(p + 2);
	return 0;
}

/* Parse a whole packet. Returns 0, 1 (skip) or 2 (malformed). */
static int flow_parse(int dlt, const uint8_t *p, size_t n, struct flow_pkt *k)
{
	size_t off = flow_link(dlt, p, n), l4, end = 0;
	int why;
	if (off == (size_t)-1 || off >= n)
		return 1;
	p += off;
	n -= off;
	ac_addr_init(&k->k_src);
	ac_addr_init(&k->k_dst);
	if ((p[0] >> 4) == 4)
		l4 = flow_ipv4(p, n, k, &end, &why);
	else if ((p[0] >> 4) == 6)
		l4 = flow_ipv6(p, n, k, &end, &why);
	else
		return 1;
	if (l4 == 0)
		return why;
	return flow_transport(p + l4, end - l4, k);
}

/* ---- connections -------------------------------------------------------------------- */

/* Map key of the unordered pair {a, b}. */
static uint64_t flow_key(const ac_addr *a, const ac_addr *b)
{
	int lt = memcmp(a, b, sizeof(*a)) < 0;
	uint64_t h = acp_fnv(ACP_FNV_INIT, lt ? a : b, sizeof(*a));
	return acp_fnv(h, lt ? b : a, sizeof(*a)) | 1;
}

/* The live connection between src and dst (either way), or NULL. */
static struct flow_conn *flow_find(acp_flow *f, const struct flow_pkt *k,
                                   uint64_t key)
{
	struct flow_conn *c = acp_map_get(&f->f_live, key);
	for (; c != NULL; c = c->c_next) {
		if ((ac_addr_eq(&c->c_info.ci_cli, &k->k_src) &&
		     ac_addr_eq(&c->c_info.ci_srv, &k->k_dst)) ||
		    (ac_addr_eq(&c->c_info.ci_cli, &k->k_dst) &&
		     ac_addr_eq(&c->c_info.ci_srv, &k->k_src)))
			return c;
	}
	return NULL;
}

static void flow_dir_fini(struct flow_dir *d)
{
	struct flow_seg *g;
	while ((g = d->d_ooo) != NULL) {
		d->d_ooo = g->g_next;
		free(g);
	}
	d->d_ooo_bytes = 0;
	d->d_ooo_n = 0;
	acp_split_fini(&d->d_split);
}

/* Report a connection (once) and free its buffers. Bytes still waiting
 * behind a gap count as missing (the gap, as far as known). */
static void flow_retire(acp_flow *f, struct flow_conn *c)
{
	int i;
	if (c->c_done)
		return;
	for (i = 0; i < 2; i++) {
		struct flow_dir *d = &c->c_dir[i];
		if (d->d_ooo != NULL)
			d->d_missing += (uint32_t)(d->d_ooo->g_seq - d->d_next);
		c->c_info.ci_split[i] = d->d_split.sp_state;
		c->c_info.ci_missing[i] = d->d_missing;
		c->c_info.ci_fin[i] = d->d_fin;
		c->c_info.ci_syn[i] = d->d_syn;
		flow_dir_fini(d);
	}
	c->c_done = 1;
	if (f->f_conn != NULL)
		f->f_conn(f->f_arg, &c->c_info);
}

/* Take c out of the live map. */
static void flow_unlink(acp_flow *f, struct flow_conn *c)
{
	struct flow_conn *h = acp_map_get(&f->f_live, c->c_key), **pp = &h;
	while (*pp != NULL && *pp != c)
		pp = &(*pp)->c_next;
	if (*pp == c)
		*pp = c->c_next;
	if (h == NULL)
		acp_map_del(&f->f_live, c->c_key);
	else if (acp_map_put(&f->f_live, c->c_key, h) < 0)
		f->f_oom = 1;
}

/* A new connection for packet k: the client is the SYN's sender. */
static struct flow_conn *flow_new_conn(acp_flow *f, const struct flow_pkt *k,
                                       uint64_t key)
{
	struct flow_conn *c, **all;
	int from_srv = (k->k_flags & (TF_SYN | TF_ACK)) == (TF_SYN | TF_ACK);
	if (f->f_nall == f->f_capall) {
		size_t cap = f->f_capall ? f->f_capall * 2 : 64;
		if ((all = realloc(f->f_all, cap * sizeof(*all))) == NULL)
			return NULL;
		f->f_all = all;
		f->f_capall = cap;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->c_key = key;
	c->c_info.ci_conn = (uint32_t)f->f_nall + 1;
	c->c_info.ci_cli = from_srv ? k->k_dst : k->k_src;
	c->c_info.ci_srv = from_srv ? k->k_src : k->k_dst;
	acp_split_init(&c->c_dir[0].d_split);
	acp_split_init(&c->c_dir[1].d_split);
	c->c_next = acp_map_get(&f->f_live, key);
	if (acp_map_put(&f->f_live, key, c) < 0) {
		free(c);
		return NULL;
	}
	f->f_all[f->f_nall++] = c;
	f->f_stats.fs_conns++;
	return c;
}

/* The connection packet k belongs to, replacing a finished or different
 * one on its 4-tuple when k is a new SYN; NULL on ENOMEM. */
static struct flow_conn *flow_conn_of(acp_flow *f, const struct flow_pkt *k)
{
	uint64_t key = flow_key(&k->k_src, &k->k_dst);
	struct flow_conn *c = flow_find(f, k, key);
	struct flow_dir *d;

	if (c != NULL && (k->k_flags & (TF_SYN | TF_ACK)) == TF_SYN) {
		d = &c->c_dir[ac_addr_eq(&c->c_info.ci_cli, &k->k_src) ? 0 : 1];
		if (!(d->d_syn && d->d_isn == k->k_seq) &&
		    (c->c_dir[0].d_have || c->c_dir[1].d_have)) {
			/* Not a retransmitted SYN: a new connection. */
			flow_unlink(f, c);
			flow_retire(f, c);
			c = NULL;
		}
	}
	return c != NULL ? c : flow_new_conn(f, k, key);
}

/* A frame completed in direction x->x_dir of x->x_conn. */
static void flow_frame_cb(void *arg, const acp_frame *fr)
{
	struct flow_ctx *x = arg;
	acp_conn_info *ci = &x->x_conn->c_info;
	acp_item it;

	memset(&it, 0, sizeof(it));
	it.it_ts_ns = x->x_ts;
	it.it_conn = ci->ci_conn;
	it.it_to_srv = x->x_dir == 0;
	it.it_src = x->x_dir == 0 ? ci->ci_cli : ci->ci_srv;
	it.it_dst = x->x_dir == 0 ? ci->ci_srv : ci->ci_cli;
	it.it_frame = fr;
	ci->ci_frames[x->x_dir]++;
	x->x_flow->f_stats.fs_frames++;
	x->x_flow->f_item(x->x_flow->f_arg, &it);
}

/* In-order bytes of a direction. */
static void flow_deliver(struct flow_ctx *x, const uint8_t *p, size_t n)
{
	struct flow_dir *d = &x->x_conn->c_dir[x->x_dir];
	d->d_next += (uint32_t)n;
	x->x_conn->c_info.ci_bytes[x->x_dir] += n;
	acp_split_feed(&d->d_split, p, n, flow_frame_cb, x);
}

/* Deliver what is new in a segment at seq; returns the bytes seen before. */
static size_t flow_take(struct flow_ctx *x, uint32_t seq, const uint8_t *p,
                        size_t n)
{
	struct flow_dir *d = &x->x_conn->c_dir[x->x_dir];
	size_t old = (size_t)(uint32_t)(d->d_next - seq);
	if (old >= n)
		return n;
	flow_deliver(x, p + old, n - old);
	return old;
}

/* Deliver the waiting segments the stream has reached. */
static void flow_drain(struct flow_ctx *x)
{
	struct flow_dir *d = &x->x_conn->c_dir[x->x_dir];
	struct flow_seg *g;
	while ((g = d->d_ooo) != NULL && (int32_t)(g->g_seq - d->d_next) <= 0) {
		d->d_ooo = g->g_next;
		d->d_ooo_n--;
		d->d_ooo_bytes -= g->g_len;
		x->x_flow->f_stats.fs_dup_bytes += flow_take(x, g->g_seq, g->g_data, g->g_len);
		free(g);
	}
}

/* Give up the gap before the first waiting segment: its bytes are
 * missing, and frame boundaries with them. */
static void flow_skip_gap(struct flow_ctx *x)
{
	struct flow_dir *d = &x->x_conn->c_dir[x->x_dir];
	d->d_missing += (uint32_t)(d->d_ooo->g_seq - d->d_next);
	d->d_next = d->d_ooo->g_seq;
	if (d->d_split.sp_state == ACP_SPLIT_OK)
		d->d_split.sp_state = ACP_SPLIT_LOST;
	flow_drain(x);
}

/* Keep a segment ahead of the stream, sorted. Returns -ENOMEM or 0. */
static int flow_hold(struct flow_ctx *x, uint32_t seq, const uint8_t *p, size_t n)
{
	struct flow_dir *d = &x->x_conn->c_dir[x->x_dir];
	struct flow_seg *g, **pp = &d->d_ooo;

	while (d->d_ooo != NULL &&
	       (d->d_ooo_n >= ACP_OOO_SEGS || d->d_ooo_bytes + n > ACP_OOO_BYTES))
		flow_skip_gap(x);
	if ((int32_t)(seq - d->d_next) <= 0) { /* the gap was given up */
		x->x_flow->f_stats.fs_dup_bytes += flow_take(x, seq, p, n);
		return 0;
	}
	if ((g = malloc(sizeof(*g) + n)) == NULL)
		return -ENOMEM;
	g->g_seq = seq;
	g->g_len = (uint32_t)n;
	memcpy(g->g_data, p, n);
	while (*pp != NULL && (int32_t)((*pp)->g_seq - seq) <= 0)
		pp = &(*pp)->g_next;
	g->g_next = *pp;
	*pp = g;
	d->d_ooo_n++;
	d->d_ooo_bytes += n;
	x->x_flow->f_stats.fs_ooo_segs++;
	return 0;
}

/* A TCP segment. Returns 0 or -ENOMEM. */
static int flow_tcp(acp_flow *f, const struct flow_pkt *k)
{
	struct flow_conn *c = flow_conn_of(f, k);
	struct flow_ctx x = {f, c, 0, k->k_ts};
	struct flow_dir *d;
	uint32_t seq = k->k_seq;
	int32_t off;

	if (c == NULL)
		return -ENOMEM;
	x.x_dir = ac_addr_eq(&c->c_info.ci_cli, &k->k_src) ? 0 : 1;
	d = &c->c_dir[x.x_dir];
	if (k->k_flags & TF_RST) {
		c->c_info.ci_rst = 1;
		return 0;
	}
	if ((k->k_flags & TF_SYN) && !d->d_syn) {
		d->d_syn = 1;
		d->d_isn = seq;
		d->d_have = 1;
		d->d_next = seq + 1;
	}
	seq += (k->k_flags & TF_SYN) ? 1 : 0;
	if (!d->d_have) {
		/* The capture began inside the stream: the first segment with
		 * data or FIN fixes it (not a bare ACK: a keep-alive probe
		 * carries the sequence number before the next byte). */
		if (k->k_len == 0 && !(k->k_flags & TF_FIN))
			return 0;
		d->d_have = 1;
		d->d_next = seq;
	}
	if ((k->k_flags & TF_FIN) && !d->d_fin_seen) {
		d->d_fin_seen = 1;
		d->d_fin_seq = seq + (uint32_t)k->k_len;
	}
	off = (int32_t)(seq - d->d_next);
	if (d->d_fin) /* nothing comes after a FIN */
		f->f_stats.fs_dup_bytes += k->k_len;
	else if (k->k_len > 0 && off <= 0)
		f->f_stats.fs_dup_bytes += flow_take(&x, seq, k->k_data, k->k_len);
	else if (k->k_len > 0 && flow_hold(&x, seq, k->k_data, k->k_len) < 0)
		return -ENOMEM;
	flow_drain(&x);
	if (d->d_fin_seen && !d->d_fin && d->d_next == d->d_fin_seq) {
		d->d_fin = 1;
		d->d_next++;
	}
	return 0;
}

/* A UDP datagram: an asyncoro announcement, or counted as another. */
static void flow_udp(acp_flow *f, const struct flow_pkt *k)
{
	acp_frame fr;
	acp_item it;
	const uint8_t *mac;

	f->f_stats.fs_udp++;
	if (acp_announce_parse(k->k_data, k->k_len, &fr, &mac) < 0) {
		f->f_stats.fs_udp_other++;
		return;
	}
	memset(&it, 0, sizeof(it));
	it.it_ts_ns = k->k_ts;
	it.it_udp = 1;
	it.it_src = k->k_src;
	it.it_dst = k->k_dst;
	it.it_frame = &fr;
	it.it_mac = mac;
	f->f_stats.fs_frames++;
	f->f_item(f->f_arg, &it);
}

/* ---- the interface ------------------------------------------------------------------ */

acp_flow *acp_flow_new(acp_item_fn item, acp_conn_fn conn, void *arg)
{
	acp_flow *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->f_item = item;
	f->f_conn = conn;
	f->f_arg = arg;
	acp_map_init(&f->f_live);
	return f;
}

int acp_flow_packet(acp_flow *f, int dlt, int64_t ts_ns, const uint8_t *p,
                    size_t caplen)
{
	struct flow_pkt k;
	int rc;

	if (f->f_oom)
		return -ENOMEM;
	f->f_stats.fs_packets++;
	memset(&k, 0, sizeof(k));
	k.k_ts = ts_ns;
	rc = flow_parse(dlt, p, caplen, &k);
	if (rc != 0) {
		if (rc == 1)
			f->f_stats.fs_skipped++;
		else
			f->f_stats.fs_malformed++;
		return 0;
	}
	if (k.k_proto == 17) {
		flow_udp(f, &k);
		return 0;
	}
	f->f_stats.fs_tcp++;
	if (flow_tcp(f, &k) < 0)
		f->f_oom = 1;
	return f->f_oom ? -ENOMEM : 0;
}

void acp_flow_finish(acp_flow *f)
{
	size_t i;
	for (i = 0; i < f->f_nall; i++)
		flow_retire(f, f->f_all[i]);
}

int acp_flow_failed(const acp_flow *f)
{
	return f->f_oom;
}

const acp_flow_stats *acp_flow_counts(const acp_flow *f)
{
	return &f->f_stats;
}

void acp_flow_free(acp_flow *f)
{
	size_t i;
	if (f == NULL)
		return;
	for (i = 0; i < f->f_nall; i++) {
		flow_dir_fini(&f->f_all[i]->c_dir[0]);
		flow_dir_fini(&f->f_all[i]->c_dir[1]);
		free(f->f_all[i]);
	}
	free(f->f_all);
	acp_map_fini(&f->f_live);
	free(f);
}
