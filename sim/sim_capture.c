/* sim/sim_capture.c: the network capture — what the simulated network did,
 * as a pcapng file (ac_sim_opts.record_dir/network.pcapng) that Wireshark,
 * tshark and tcpdump open.
 *
 * One frame per packet at the moment the network delivered or dropped it
 * (virtual time, shown from the virtual wall clock's epoch, 2023-11-14):
 * TCP SYN, SYN-ACK (and the synthesized ACK that completes the handshake),
 * data, FIN and RST segments; the RST that refuses a connect; every UDP
 * datagram per destination node. A packet the network did not deliver is
 * in the capture too, with a pcapng packet comment saying why ("lost: link
 * node0 -> node1 cut (partition) ...", "lost: random loss", "lost: node2 is
 * down", "dropped: no socket on port P", ...); a duplicate made by the
 * network says "duplicate". Delivered packets have no comment, so
 * `frame.comment` in a display filter lists every fault.
 *
 * Headers are synthesized: IPv4 (DLT_RAW) with an id counter, TCP with a
 * deterministic initial sequence number per connection end (a function of
 * its endpoint number) and seq/ack advanced by the bytes and FINs that
 * crossed; a lost segment is shown with the sequence number it will be
 * retransmitted with, so Wireshark marks the later one a retransmission.
 * Segments longer than 65,495 bytes are cut into several frames. Traffic
 * of 127.0.0.0/8 never crosses the network and is left out.
 *
 * Only observes: nothing here draws from the world's PRNG, queues an event
 * or folds into the trace hash. The file is a function of the seed.
 */
#include "sim/sim.h"

#include <errno.h>
#include <stdarg.h>

/* Largest TCP payload of one frame (IPv4 total length 65,535). */
#define CAP_TCP_MAX 65495u

enum { TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08,
       TCP_ACK = 0x10 };

struct ac__sim_cap {
	FILE *c_f;
	char *c_path;
	/* Next IPv4 identification. */
	uint16_t c_ipid;
	/* Frame buffer. */
	uint8_t c_pkt[65536];
};

/* ---- pcapng ------------------------------------------------------------------------ */

static void cap_u16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void cap_u32(uint8_t *p, uint32_t v)
{
	cap_u16(p, v & 0xffff);
	cap_u16(p + 2, v >> 16);
}

/* Write len bytes; a failed write stops the capture (one line). */
static void cap_write(ac_sim *w, const void *p, size_t len)
{
	ac__sim_cap *c = w->w_cap;
	if (!c || !c->c_f || fwrite(p, 1, len, c->c_f) == len)
		return;
	fprintf(stderr, "sim: network capture %s: write error (%s): capture stopped\n",
	        c->c_path, strerror(errno));
	fclose(c->c_f);
	c->c_f = NULL;
}

/* A pcapng option (code, value) into buf; returns its padded size. */
static size_t cap_opt(uint8_t *buf, uint16_t code, const void *v, size_t len)
{
	size_t pad = (len + 3) & ~(size_t)3;
	cap_u16(buf, code);
	cap_u16(buf + 2, (uint32_t)len);
	memcpy(buf + 4, v, len);
	memset(buf + 4 + len, 0, pad - len);
	return 4 + pad;
}

/* Section header and one interface: raw IPv4, nanosecond timestamps. */
static void cap_header(ac_sim *w)
{
	static const char app[] = "asyncoro simulator (network capture)";
	uint8_t b[128];
	size_t n = 0;
	uint8_t res = 9;
	cap_u32(b, 0x0A0D0D0A);
	cap_u32(b + 8, 0x1A2B3C4D);
	cap_u16(b + 12, 1);
	cap_u16(b + 14, 0);
	cap_u32(b + 16, 0xffffffff);
	cap_u32(b + 20, 0xffffffff);
	n = 24 + cap_opt(b + 24, 4, app, sizeof(app) - 1);
	cap_u32(b + n, 0); /* opt_endofopt */
	n += 4;
	cap_u32(b + 4, (uint32_t)n + 4);
	cap_u32(b + n, (uint32_t)n + 4);
	cap_write(w, b, n + 4);
	cap_u32(b, 1);
	cap_u16(b + 8, 101); /* LINKTYPE_RAW */
	cap_u16(b + 10, 0);
	cap_u32(b + 12, 0);
	n = 16 + cap_opt(b + 16, 2, "sim", 3);
	n += cap_opt(b + n, 9, &res, 1); /* if_tsresol: 10^-9 */
	cap_u32(b + n, 0);
	n += 4;
	cap_u32(b + 4, (uint32_t)n + 4);
	cap_u32(b + n, (uint32_t)n + 4);
	cap_write(w, b, n + 4);
}

/* One enhanced packet block: the len bytes of c_pkt, and a comment when
 * note is not empty. */
static void cap_frame(ac_sim *w, size_t len, const char *note)
{
	uint8_t h[28], t[16 + 4 + 260];
	uint64_t ts = (uint64_t)(AC__SIM_EPOCH_NS + w->w_now);
	size_t pad = (len + 3) & ~(size_t)3, nl = strlen(note), tn = 0;
	static const uint8_t zero[4];
	if (nl > 255)
		nl = 255;
	if (nl)
		tn = cap_opt(t, 1, note, nl);
	cap_u32(t + tn, 0);
	tn += 4;
	cap_u32(h, 6);
	cap_u32(h + 4, (uint32_t)(28 + pad + tn + 4));
	cap_u32(h + 8, 0);
	cap_u32(h + 12, (uint32_t)(ts >> 32));
	cap_u32(h + 16, (uint32_t)ts);
	cap_u32(h + 20, (uint32_t)len);
	cap_u32(h + 24, (uint32_t)len);
	cap_u32(t + tn, (uint32_t)(28 + pad + tn + 4));
	cap_write(w, h, sizeof(h));
	cap_write(w, w->w_cap->c_pkt, len);
	cap_write(w, zero, pad - len);
	cap_write(w, t, tn + 4);
}

/* ---- IPv4, TCP, UDP ------------------------------------------------------------------ */

static uint32_t cap_sum(uint32_t s, const uint8_t *p, size_t len)
{
	size_t i;
	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	return s;
}

static uint16_t cap_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void cap_be16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void cap_be32(uint8_t *p, uint32_t v)
{
	cap_be16(p, v >> 16);
	cap_be16(p + 2, v & 0xffff);
}

/* IPv4 header of a packet of len bytes after it (proto 6 or 17), then the
 * transport checksum over the pseudo-header at c_pkt + 20 + sum_off. */
static void cap_ip(ac_sim *w, const ac_addr *src, const ac_addr *dst, int proto,
                   size_t len, size_t sum_off)
{
	uint8_t *p = w->w_cap->c_pkt, ph[12];
	p[0] = 0x45;
	p[1] = 0;
	cap_be16(p + 2, (uint32_t)(20 + len));
	cap_be16(p + 4, w->w_cap->c_ipid++);
	cap_be16(p + 6, proto == 6 ? 0x4000 : 0);
	p[8] = 64;
	p[9] = (uint8_t)proto;
	cap_be16(p + 10, 0);
	memcpy(p + 12, src->ip, 4);
	memcpy(p + 16, dst->ip, 4);
	cap_be16(p + 10, cap_fold(cap_sum(0, p, 20)));
	memcpy(ph, src->ip, 4);
	memcpy(ph + 4, dst->ip, 4);
	ph[8] = 0;
	ph[9] = (uint8_t)proto;
	cap_be16(ph + 10, (uint32_t)len);
	cap_be16(p + 20 + sum_off, cap_fold(cap_sum(cap_sum(0, ph, 12), p + 20, len)));
	if (proto == 17 && p[20 + sum_off] == 0 && p[21 + sum_off] == 0)
		cap_be16(p + 20 + sum_off, 0xffff);
}

/* 1 when a packet between these addresses crosses the network. */
static int cap_wanted(const ac_sim *w, const ac_addr *a, const ac_addr *b)
{
	return w->w_cap && w->w_cap->c_f && a->family == AC_AF_INET &&
	       b->family == AC_AF_INET && !ac__sim_ip_loopback(a) &&
	       !ac__sim_ip_loopback(b);
}

/* One TCP frame. */
static void cap_tcp(ac_sim *w, const ac_addr *src, const ac_addr *dst, uint32_t seq,
                    uint32_t ack, int flags, const uint8_t *data, size_t len,
                    const char *note)
{
	uint8_t *t = w->w_cap->c_pkt + 20;
	cap_be16(t, src->port);
	cap_be16(t + 2, dst->port);
	cap_be32(t + 4, seq);
	cap_be32(t + 8, flags & TCP_ACK ? ack : 0);
	t[12] = 5 << 4;
	t[13] = (uint8_t)flags;
	cap_be16(t + 14, 65535);
	cap_be16(t + 16, 0);
	cap_be16(t + 18, 0);
	if (len)
		memcpy(t + 20, data, len);
	cap_ip(w, src, dst, 6, 20 + len, 16);
	cap_frame(w, 40 + len, note);
}

/* ---- what the network did ------------------------------------------------------------- */

/* A connection end's initial sequence number: a function of its endpoint
 * number only (no PRNG draw). */
static uint32_t cap_isn(const ac__sim_ep *e)
{
	uint64_t s = e->e_id * 0x9E3779B97F4A7C15ULL;
	return (uint32_t)ac__sim_splitmix64(&s);
}

static void cap_note(char *buf, size_t len, const char *fmt, ...) AC_PRINTF(3, 4);
static void cap_note(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Why a packet from node a to node b was not delivered. */
static void cap_why(ac_sim *w, int fate, uint32_t a, uint32_t b, int64_t rto,
                    char *buf, size_t len)
{
	const char *na = w->w_nodes[a]->n_name;
	const char *nb = b < w->w_nnodes ? w->w_nodes[b]->n_name : "?";
	buf[0] = '\0';
	switch (fate) {
	case AC__SIM_CAP_CUT:
		if (rto > 0)
			cap_note(buf, len, "lost: link %s -> %s cut (partition); "
			         "retransmitted in %lld ms", na, nb, (long long)(rto / 1000000));
		else
			cap_note(buf, len, "lost: link %s -> %s cut (partition)", na, nb);
		break;
	case AC__SIM_CAP_LOSS: cap_note(buf, len, "lost: random loss"); break;
	case AC__SIM_CAP_DOWN: cap_note(buf, len, "lost: %s is down", nb); break;
	case AC__SIM_CAP_NOHOST: cap_note(buf, len, "lost: no node has this address"); break;
	case AC__SIM_CAP_NOPORT:
		cap_note(buf, len, "dropped: no socket on %s for this port", nb);
		break;
	case AC__SIM_CAP_QUEUE:
		cap_note(buf, len, "dropped: receive queue full on %s", nb);
		break;
	case AC__SIM_CAP_BACKLOG:
		cap_note(buf, len, "dropped: listen backlog full on %s%s", nb,
		         rto > 0 ? "; retransmitted later" : "");
		break;
	case AC__SIM_CAP_CLOSED:
		cap_note(buf, len, "discarded: the receiving end on %s is closed or reset", nb);
		break;
	case AC__SIM_CAP_GONE:
		cap_note(buf, len, "dropped: the receiving end is gone");
		break;
	default: break;
	}
}

void ac__sim_cap_syn(ac_sim *w, const ac__sim_ep *e, uint32_t d, int fate)
{
	char note[256];
	if (!cap_wanted(w, &e->e_local, &e->e_remote))
		return;
	/* The wait sim_syn_retry will draw, none after the last try. */
	cap_why(w, fate, e->e_node->n_idx, d, e->e_syn_tries < AC__SIM_SYN_TRIES
	        ? AC__SIM_SYN_RTO_NS << e->e_syn_tries : 0, note, sizeof(note));
	cap_tcp(w, &e->e_local, &e->e_remote, cap_isn(e), 0, TCP_SYN, NULL, 0, note);
}

void ac__sim_cap_refuse(ac_sim *w, const ac__sim_ep *e, uint32_t d, int fate)
{
	char note[256];
	if (d == UINT32_MAX || !cap_wanted(w, &e->e_local, &e->e_remote))
		return;
	cap_why(w, fate, d, e->e_node->n_idx, 0, note, sizeof(note));
	if (fate == AC__SIM_CAP_OK)
		cap_note(note, sizeof(note), "connection refused: %s %s",
		         w->w_nodes[d]->n_name, w->w_nodes[d]->n_up && !w->w_nodes[d]->n_crashing
		         ? "has no listener on this port" : "is down");
	cap_tcp(w, &e->e_remote, &e->e_local, 0, cap_isn(e) + 1, TCP_RST | TCP_ACK, NULL,
	        0, note);
}

/* The data of segment g from e, in frames of at most CAP_TCP_MAX bytes. */
static void cap_data(ac_sim *w, ac__sim_ep *e, uint32_t ack, const ac__sim_seg *g,
                     const char *note)
{
	uint32_t off = 0, seq = cap_isn(e) + 1 + e->e_cap_tx;
	do {
		uint32_t k = g->g_len - off > CAP_TCP_MAX ? CAP_TCP_MAX : g->g_len - off;
		cap_tcp(w, &e->e_local, &e->e_remote, seq + off, ack, TCP_PSH | TCP_ACK,
		        g->g_data + off, k, note);
		off += k;
	} while (off < g->g_len);
}

void ac__sim_cap_seg(ac_sim *w, ac__sim_ep *e, ac__sim_ep *p, const ac__sim_seg *g,
                     int fate)
{
	uint32_t seq = cap_isn(e) + 1 + e->e_cap_tx, ack, to;
	char note[256];
	if (!cap_wanted(w, &e->e_local, &e->e_remote))
		return;
	if (p) {
		e->e_cap_ack = cap_isn(p) + 1 + p->e_cap_tx;
		to = p->e_node->n_idx;
	} else {
		to = UINT32_MAX;
	}
	ack = e->e_cap_ack;
	if (fate == AC__SIM_CAP_OK && g->g_kind == AC__SIM_SEG_DATA && p &&
	    !(p->e_open && !p->e_rx_err && !p->e_rx_eof && p->e_state == AC__SIM_TCP_OPEN))
		fate = AC__SIM_CAP_CLOSED;
	cap_why(w, fate, e->e_node->n_idx, to, e->e_rto, note, sizeof(note));
	switch (g->g_kind) {
	case AC__SIM_SEG_SYNACK:
		cap_tcp(w, &e->e_local, &e->e_remote, cap_isn(e), ack, TCP_SYN | TCP_ACK,
		        NULL, 0, note);
		if (fate == AC__SIM_CAP_OK && p && p->e_open &&
		    p->e_state == AC__SIM_TCP_CONNECTING && p->e_conn.l_head)
			cap_tcp(w, &p->e_local, &p->e_remote, cap_isn(p) + 1,
			        cap_isn(e) + 1, TCP_ACK, NULL, 0, "");
		return;
	case AC__SIM_SEG_DATA:
		cap_data(w, e, ack, g, note);
		break;
	case AC__SIM_SEG_FIN:
		cap_tcp(w, &e->e_local, &e->e_remote, seq, ack, TCP_FIN | TCP_ACK, NULL, 0,
		        note);
		break;
	default:
		cap_tcp(w, &e->e_local, &e->e_remote, seq, ack, TCP_RST | TCP_ACK, NULL, 0,
		        note);
		return;
	}
	/* A lost segment keeps its sequence numbers for the retransmission. */
	if (fate != AC__SIM_CAP_CUT)
		e->e_cap_tx += g->g_kind == AC__SIM_SEG_FIN ? 1 : g->g_len;
}

void ac__sim_cap_udp(ac_sim *w, uint32_t from, uint32_t to, const ac_addr *src,
                     const ac_addr *dst, const void *data, size_t len, int fate,
                     int dup)
{
	uint8_t *u;
	char note[300], why[256];
	if (!cap_wanted(w, src, dst) || len > AC__SIM_UDP_MAX)
		return;
	u = w->w_cap->c_pkt + 20;
	cap_be16(u, src->port);
	cap_be16(u + 2, dst->port);
	cap_be16(u + 4, (uint32_t)(8 + len));
	cap_be16(u + 6, 0);
	if (len)
		memcpy(u + 8, data, len);
	cap_ip(w, src, dst, 17, 8 + len, 6);
	cap_why(w, fate, from, to, 0, why, sizeof(why));
	note[0] = '\0';
	if (ac__sim_is_broadcast(dst) && to < w->w_nnodes)
		cap_note(note, sizeof(note), "broadcast copy for %s", w->w_nodes[to]->n_name);
	if (dup)
		cap_note(note + strlen(note), sizeof(note) - strlen(note), "%sduplicate",
		         note[0] ? "; " : "");
	if (why[0])
		cap_note(note + strlen(note), sizeof(note) - strlen(note), "%s%s",
		         note[0] ? "; " : "", why);
	cap_frame(w, 28 + len, note);
}

/* ---- opening and closing -------------------------------------------------------------- */

int ac__sim_cap_open(ac_sim *w, const char *dir)
{
	ac__sim_cap *c = calloc(1, sizeof(*c));
	size_t n = strlen(dir) + sizeof("/network.pcapng");
	if (!c || !(c->c_path = malloc(n))) {
		free(c);
		return -ENOMEM;
	}
	snprintf(c->c_path, n, "%s/network.pcapng", dir);
	c->c_f = fopen(c->c_path, "wb");
	if (!c->c_f) {
		int rc = -errno;
		fprintf(stderr, "sim: network capture %s: %s: not capturing\n", c->c_path,
		        strerror(errno));
		free(c->c_path);
		free(c);
		return rc;
	}
	w->w_cap = c;
	cap_header(w);
	return 0;
}

void ac__sim_cap_close(ac_sim *w)
{
	ac__sim_cap *c = w->w_cap;
	if (!c)
		return;
	if (c->c_f && fclose(c->c_f) != 0)
		fprintf(stderr, "sim: network capture %s: %s\n", c->c_path, strerror(errno));
	free(c->c_path);
	free(c);
	w->w_cap = NULL;
}
