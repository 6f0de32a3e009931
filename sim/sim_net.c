/* sim/sim_net.c: the simulated network — TCP and UDP between nodes.
 *
 * TCP. connect() queues a SYN that arrives after the link's latency; the
 * target answers with a reset (-ECONNREFUSED after another latency) when
 * nothing listens there or the node is down, or creates the server end of
 * the connection, puts it into the listener's backlog (or completes a
 * pending accept) and queues a SYNACK back. A SYN that meets a cut link or
 * a full backlog is retransmitted after 1, 2, 4 ... seconds, and connect
 * fails with -ETIMEDOUT after AC__SIM_SYN_TRIES of them (as Linux does).
 *
 * Each TCP end has an out queue of segments (data, SYNACK, FIN, RST), each
 * with the earliest time it may arrive; the times never decrease along the
 * queue, so a stream stays ordered. One PUMP event per end moves the head
 * of the queue into the peer's receive queue when it is due. While the link
 * is cut (partition) the pump waits a retransmission timeout (200 ms,
 * doubling up to 2 s) and tries again; while it is clogged it waits for the
 * clog to end. Nothing is lost while the connection lives. close() and
 * shutdown() queue a FIN (the peer reads end of stream); a crash queues an
 * RST (the peer's next recv or send fails with -ECONNRESET); send() never
 * blocks (no flow control: buffers are unbounded).
 *
 * UDP. A datagram is copied per destination node at sendto(), lost, duplicated
 * or delayed (reordered) by the knobs, and on arrival dropped when the link
 * is cut or nobody is bound; clogs delay it. The broadcast address reaches
 * every node, and on each node every socket bound to the port (any address)
 * gets a copy; a unicast datagram goes to one of the sockets sharing a port.
 */
#include "sim/sim.h"

/* Largest TCP segment queued at once. */
#define SIM_SEG_MAX (1u << 20)

static ac_sim_node *sim_node(ac_io *io)
{
	AC_ASSERT(io->ops == &ac__sim_io_ops);
	return (ac_sim_node *)io;
}

/* ---- endpoints --------------------------------------------------------------- */

static ac__sim_ep *sim_ep_new(ac_sim_node *n, uint32_t kind)
{
	ac_sim *w = n->n_world;
	ac__sim_ep *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->e_kind = kind;
	e->e_refs = 1;
	e->e_open = 1;
	e->e_h = -1;
	e->e_node = n;
	e->e_id = ++w->w_ep_ids;
	e->e_rto = AC__SIM_RTO_MIN_NS;
	ac_addr_init(&e->e_local);
	ac_addr_init(&e->e_remote);
	e->e_wprev = w->w_eps_tail;
	if (w->w_eps_tail)
		w->w_eps_tail->e_wnext = e;
	else
		w->w_eps = e;
	w->w_eps_tail = e;
	w->w_stats.endpoints_live++;
	return e;
}

static void sim_segs_free(ac__sim_seg **head, ac__sim_seg **tail)
{
	while (*head) {
		ac__sim_seg *g = *head;
		*head = g->g_next;
		free(g);
	}
	*tail = NULL;
}

static void sim_dq_free(ac__sim_ep *e)
{
	while (e->e_dq_head) {
		ac__sim_dgram *g = e->e_dq_head;
		e->e_dq_head = g->d_next;
		free(g);
	}
	e->e_dq_tail = NULL;
	e->e_dq_n = 0;
}

void ac__sim_ep_destroy(ac_sim *w, ac__sim_ep *e)
{
	if (e->e_wprev)
		e->e_wprev->e_wnext = e->e_wnext;
	else
		w->w_eps = e->e_wnext;
	if (e->e_wnext)
		e->e_wnext->e_wprev = e->e_wprev;
	else
		w->w_eps_tail = e->e_wprev;
	sim_segs_free(&e->e_out_head, &e->e_out_tail);
	sim_segs_free(&e->e_rx_head, &e->e_rx_tail);
	sim_dq_free(e);
	AC_ASSERT(w->w_stats.endpoints_live > 0);
	w->w_stats.endpoints_live--;
	free(e);
}

void ac__sim_ep_put(ac_sim *w, ac__sim_ep *e)
{
	ac__sim_ep *p;
	AC_ASSERT(e->e_refs > 0);
	if (--e->e_refs > 0)
		return;
	AC_ASSERT(!e->e_open && !e->e_pumping && e->e_h < 0);
	p = e->e_peer;
	e->e_peer = NULL;
	ac__sim_ep_destroy(w, e);
	if (p)
		ac__sim_ep_put(w, p);
}

/* A closed end with nothing left to send lets go of its peer. */
static void sim_ep_maybe_detach(ac_sim *w, ac__sim_ep *e)
{
	ac__sim_ep *p = e->e_peer;
	if (e->e_open || e->e_out_head || !p)
		return;
	e->e_peer = NULL;
	ac__sim_ep_put(w, p);
}

/* ---- addresses and ports ------------------------------------------------------ */

static int sim_is_loopback(const ac_addr *a)
{
	return a->family == AC_AF_INET && a->ip[0] == 127;
}

static int sim_is_any(const ac_addr *a)
{
	return a->family == AC_AF_INET && !a->ip[0] && !a->ip[1] && !a->ip[2] &&
	       !a->ip[3];
}

static int sim_ip_eq(const ac_addr *a, const ac_addr *b)
{
	return a->family == b->family && memcmp(a->ip, b->ip, 4) == 0;
}

static void sim_set_loopback(ac_addr *a)
{
	memset(a->ip, 0, sizeof(a->ip));
	a->family = AC_AF_INET;
	a->ip[0] = 127;
	a->ip[3] = 1;
}

/* 0 when node n may bind ip, else a negative errno. */
static int sim_bind_ip_ok(const ac_sim_node *n, const ac_addr *a, int udp)
{
	if (a->family != AC_AF_INET)
		return -EAFNOSUPPORT;
	if (sim_is_any(a) || sim_is_loopback(a) || sim_ip_eq(a, &n->n_addr))
		return 0;
	if (udp && ac__sim_is_broadcast(a))
		return 0;
	return -EADDRNOTAVAIL;
}

/* 1 when endpoint kind belongs to the UDP port space. */
static int sim_kind_udp(uint32_t kind)
{
	return kind == AC__SIM_EP_UDP;
}

/* 1 when binding a with flags collides with a socket of the same port
 * space on node n. */
static int sim_port_conflict(ac_sim_node *n, int udp, const ac_addr *a,
                             int flags)
{
	uint32_t h;
	for (h = 0; h < n->n_nh; h++) {
		ac__sim_ep *e = n->n_h[h].h_ptr;
		int shared;
		/* Connections never block a listen (SO_REUSEADDR). */
		if (n->n_h[h].h_kind != AC__SIM_H_EP ||
		    e->e_kind == AC__SIM_EP_TCP ||
		    sim_kind_udp(e->e_kind) != udp || e->e_local.port != a->port)
			continue;
		if (!sim_is_any(a) && !sim_is_any(&e->e_local) &&
		    !sim_ip_eq(a, &e->e_local))
			continue;
		shared = flags & e->e_flags & AC_IO_REUSEPORT;
		if (udp)
			shared |= flags & e->e_flags & AC_IO_REUSEADDR;
		if (!shared)
			return 1;
	}
	return 0;
}

static int sim_port_used(ac_sim_node *n, int udp, uint16_t port)
{
	uint32_t h;
	for (h = 0; h < n->n_nh; h++) {
		ac__sim_ep *e = n->n_h[h].h_ptr;
		if (n->n_h[h].h_kind == AC__SIM_H_EP &&
		    sim_kind_udp(e->e_kind) == udp && e->e_local.port == port)
			return 1;
	}
	return 0;
}

/* A free ephemeral port of node n, or 0. */
static uint16_t sim_ephemeral(ac_sim_node *n, int udp)
{
	uint32_t i;
	for (i = 0; i < AC__SIM_PORT_RANGE; i++) {
		uint16_t port = (uint16_t)(AC__SIM_PORT_EPHEMERAL +
		                           n->n_next_port++ % AC__SIM_PORT_RANGE);
		if (!sim_port_used(n, udp, port))
			return port;
	}
	return 0;
}

/* Create a bound endpoint of kind on node n and give it a handle. */
static int sim_bind(ac_sim_node *n, uint32_t kind, const ac_addr *addr,
                    int flags, ac__sim_ep **out)
{
	int udp = sim_kind_udp(kind), rc;
	ac_addr a;
	ac__sim_ep *e;
	rc = ac__sim_node_usable(n);
	if (rc < 0)
		return rc;
	if (!addr)
		return -EINVAL;
	rc = sim_bind_ip_ok(n, addr, udp);
	if (rc < 0)
		return rc;
	a = *addr;
	if (a.port == 0)
		a.port = sim_ephemeral(n, udp);
	else if (sim_port_conflict(n, udp, &a, flags))
		return -EADDRINUSE;
	if (a.port == 0)
		return -EADDRINUSE;
	e = sim_ep_new(n, kind);
	if (!e)
		return -ENOMEM;
	e->e_local = a;
	e->e_flags = flags;
	e->e_state = AC__SIM_TCP_OPEN;
	rc = ac__sim_h_alloc(n, AC__SIM_H_EP, e);
	if (rc < 0) {
		e->e_open = 0;
		ac__sim_ep_put(n->n_world, e);
		return rc;
	}
	e->e_h = rc;
	*out = e;
	return rc;
}

int ac__sim_tcp_listen(ac_io *io, const ac_addr *addr, int backlog,
                       int flags, int *h_out)
{
	ac__sim_ep *e;
	int h;
	if (!h_out)
		return -EINVAL;
	h = sim_bind(sim_node(io), AC__SIM_EP_LISTEN, addr, flags, &e);
	if (h < 0)
		return h;
	if (backlog < 1)
		backlog = 1;
	e->e_bl_max = backlog > AC__SIM_BACKLOG_MAX ? AC__SIM_BACKLOG_MAX
	                                            : backlog;
	*h_out = h;
	return 0;
}

int ac__sim_udp_bind(ac_io *io, const ac_addr *addr, int flags, int *h_out)
{
	ac__sim_ep *e;
	int h;
	if (!h_out)
		return -EINVAL;
	h = sim_bind(sim_node(io), AC__SIM_EP_UDP, addr, flags, &e);
	if (h < 0)
		return h;
	*h_out = h;
	return 0;
}

/* ---- TCP: queues and delivery ---------------------------------------------------- */

static int sim_pump_arm(ac_sim *w, ac__sim_ep *e, int64_t at)
{
	if (ac__sim_ev_push(w, at, AC__SIM_EV_PUMP, e->e_node->n_idx, e, 0) < 0)
		return -ENOMEM;
	e->e_pumping = 1;
	return 0;
}

/* Queue a segment from e to its peer (dropped when there is no peer). */
static int sim_tcp_queue(ac_sim *w, ac__sim_ep *e, uint32_t kind,
                         const void *data, uint32_t len)
{
	ac__sim_ep *p = e->e_peer;
	ac__sim_seg *g;
	int64_t ready;
	if (!p)
		return 0;
	g = malloc(sizeof(*g) + len);
	if (!g)
		return -ENOMEM;
	g->g_next = NULL;
	g->g_kind = kind;
	g->g_len = len;
	g->g_off = 0;
	if (len)
		memcpy(g->g_data, data, len);
	ready = w->w_now + ac__sim_latency(w, e->e_node->n_idx, p->e_node->n_idx);
	if (ready < e->e_out_last)
		ready = e->e_out_last;
	e->e_out_last = g->g_ready = ready;
	if (e->e_out_tail)
		e->e_out_tail->g_next = g;
	else
		e->e_out_head = g;
	e->e_out_tail = g;
	if (!e->e_pumping) {
		if (sim_pump_arm(w, e, ready) < 0)
			return -ENOMEM;
		e->e_refs++;
	}
	return 0;
}

/* Copy up to len received bytes of e into buf (fewer when a partial read is
 * drawn); returns the count (> 0: e has data). */
static size_t sim_tcp_read(ac_sim *w, ac__sim_ep *e, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;
	AC_ASSERT(e->e_rx_head && len > 0);
	if (len > 1 && ac__sim_rng_chance(&w->w_rng, w->w_opts.partial_prob))
		len = (size_t)ac__sim_rng_range(&w->w_rng, 1, (int64_t)len);
	while (got < len && e->e_rx_head) {
		ac__sim_seg *g = e->e_rx_head;
		size_t k = g->g_len - g->g_off;
		if (k > len - got)
			k = len - got;
		memcpy(p + got, g->g_data + g->g_off, k);
		got += k;
		g->g_off += (uint32_t)k;
		if (g->g_off == g->g_len) {
			e->e_rx_head = g->g_next;
			if (!e->e_rx_head)
				e->e_rx_tail = NULL;
			free(g);
		}
	}
	return got;
}

/* Complete pending recvs of e from what it has received. */
static void sim_tcp_serve(ac_sim *w, ac__sim_ep *e)
{
	ac_sim_node *n = e->e_node;
	ac_op *op;
	while ((op = e->e_rxops.l_head) != NULL) {
		if (e->e_rx_head)
			ac__sim_op_complete(n, op,
			                    (int64_t)sim_tcp_read(w, e, op->buf, op->len));
		else if (e->e_rx_err)
			ac__sim_op_complete(n, op, e->e_rx_err);
		else if (e->e_rx_eof)
			ac__sim_op_complete(n, op, 0);
		else
			break;
	}
}

/* e learns that the connection is reset. */
static void sim_tcp_reset_local(ac_sim *w, ac__sim_ep *e)
{
	e->e_rx_err = -ECONNRESET;
	sim_segs_free(&e->e_rx_head, &e->e_rx_tail);
	sim_segs_free(&e->e_out_head, &e->e_out_tail);
	sim_tcp_serve(w, e);
}

/* A connect fails with err: the op completes, the endpoint closes. */
static void sim_connect_fail(ac_sim *w, ac__sim_ep *e, int err)
{
	ac_sim_node *n = e->e_node;
	AC_ASSERT(e->e_open && e->e_state == AC__SIM_TCP_CONNECTING);
	e->e_state = AC__SIM_TCP_FAILED;
	if (e->e_conn.l_head)
		ac__sim_op_complete(n, e->e_conn.l_head, err);
	ac__sim_h_free(n, e->e_h);
	e->e_h = -1;
	e->e_open = 0;
	w->w_stats.tcp_refused++;
	ac__sim_trace(w, AC__SIM_T_REFUSE, n->n_idx, e->e_id, (uint64_t)err);
	sim_ep_maybe_detach(w, e);
	ac__sim_ep_put(w, e);
}

static void sim_tcp_synack(ac_sim *w, ac__sim_ep *e)
{
	ac_sim_node *n = e->e_node;
	if (!e->e_open) {
		sim_tcp_queue(w, e, AC__SIM_SEG_RST, NULL, 0);
		return;
	}
	if (e->e_state != AC__SIM_TCP_CONNECTING || !e->e_conn.l_head)
		return;
	e->e_state = AC__SIM_TCP_OPEN;
	w->w_stats.tcp_conns++;
	ac__sim_trace(w, AC__SIM_T_ESTAB, n->n_idx, e->e_id, (uint64_t)e->e_h);
	ac__sim_op_complete(n, e->e_conn.l_head, e->e_h);
}

/* Segment g arrives at end p (g is consumed). */
static void sim_tcp_arrive(ac_sim *w, ac__sim_ep *p, ac__sim_seg *g)
{
	uint32_t node = p->e_node->n_idx;
	g->g_next = NULL;
	if (g->g_kind == AC__SIM_SEG_DATA && p->e_open && !p->e_rx_err &&
	    !p->e_rx_eof && p->e_state == AC__SIM_TCP_OPEN) {
		w->w_stats.tcp_segments++;
		ac__sim_trace(w, AC__SIM_T_SEG, node, p->e_id, g->g_len);
		if (p->e_rx_tail)
			p->e_rx_tail->g_next = g;
		else
			p->e_rx_head = g;
		p->e_rx_tail = g;
		sim_tcp_serve(w, p);
		return;
	}
	if (g->g_kind == AC__SIM_SEG_SYNACK)
		sim_tcp_synack(w, p);
	else if (g->g_kind == AC__SIM_SEG_FIN && p->e_open && !p->e_rx_err) {
		p->e_rx_eof = 1;
		ac__sim_trace(w, AC__SIM_T_FIN, node, p->e_id, 0);
		sim_tcp_serve(w, p);
	} else if (g->g_kind == AC__SIM_SEG_RST && p->e_open && !p->e_rx_err) {
		w->w_stats.tcp_resets++;
		ac__sim_trace(w, AC__SIM_T_RST, node, p->e_id, 0);
		if (p->e_state == AC__SIM_TCP_CONNECTING)
			sim_connect_fail(w, p, -ECONNREFUSED);
		else
			sim_tcp_reset_local(w, p);
	}
	free(g);
}

/* The PUMP event of end e: move due segments to the peer. */
static void sim_pump(ac_sim *w, ac__sim_ep *e)
{
	ac__sim_seg *g;
	e->e_pumping = 0;
	while ((g = e->e_out_head) != NULL) {
		ac__sim_ep *p = e->e_peer;
		const ac__sim_link *k;
		if (!p) {
			sim_segs_free(&e->e_out_head, &e->e_out_tail);
			break;
		}
		k = ac__sim_link_of(w, e->e_node->n_idx, p->e_node->n_idx);
		if (g->g_ready > w->w_now) {
			sim_pump_arm(w, e, g->g_ready);
			break;
		}
		if (k->k_cut_until > w->w_now) {
			w->w_stats.tcp_stalls++;
			ac__sim_trace(w, AC__SIM_T_STALL, e->e_node->n_idx, e->e_id, 0);
			sim_pump_arm(w, e, w->w_now + e->e_rto);
			e->e_rto = e->e_rto * 2 > AC__SIM_RTO_MAX_NS
			           ? AC__SIM_RTO_MAX_NS : e->e_rto * 2;
			break;
		}
		if (k->k_clog_until > w->w_now) {
			sim_pump_arm(w, e, k->k_clog_until);
			break;
		}
		e->e_rto = AC__SIM_RTO_MIN_NS;
		e->e_out_head = g->g_next;
		if (!e->e_out_head)
			e->e_out_tail = NULL;
		sim_tcp_arrive(w, p, g);
	}
	if (e->e_pumping)
		return;
	sim_ep_maybe_detach(w, e);
	ac__sim_ep_put(w, e);
}

/* ---- TCP: connect ------------------------------------------------------------------ */

/* Retransmit e's SYN to node d later, or fail the connect. */
static void sim_syn_retry(ac_sim *w, ac__sim_ep *e, uint32_t d)
{
	int64_t wait;
	int rc;
	e->e_syn_tries++;
	w->w_stats.tcp_stalls++;
	ac__sim_trace(w, AC__SIM_T_STALL, e->e_node->n_idx, e->e_id, 1);
	wait = AC__SIM_SYN_RTO_NS << (e->e_syn_tries - 1);
	/* After the last retransmission, one more wait, then give up. */
	if (e->e_syn_tries > AC__SIM_SYN_TRIES)
		rc = ac__sim_ev_push(w, w->w_now + wait, AC__SIM_EV_REFUSE,
		                     UINT32_MAX, e, -ETIMEDOUT);
	else
		rc = ac__sim_ev_push(w, w->w_now + wait, AC__SIM_EV_SYN, d, e, 0);
	if (rc < 0) {
		sim_connect_fail(w, e, -ENOMEM);
		ac__sim_ep_put(w, e);
	}
}

/* The reset answering e's SYN travels back from node d. */
static void sim_refuse(ac_sim *w, ac__sim_ep *e, uint32_t d)
{
	int64_t t = w->w_now + ac__sim_latency(w, d, e->e_node->n_idx);
	if (ac__sim_ev_push(w, t, AC__SIM_EV_REFUSE, d, e, -ECONNREFUSED) < 0) {
		sim_connect_fail(w, e, -ENOMEM);
		ac__sim_ep_put(w, e);
	}
}

/* The listener of node d for a connection to dst from src, or NULL. */
static ac__sim_ep *sim_find_listener(ac_sim_node *d, const ac_addr *dst,
                                     const ac_addr *src)
{
	ac__sim_ep *found[16];
	uint32_t h, k = 0;
	for (h = 0; h < d->n_nh && k < 16; h++) {
		ac__sim_ep *e = d->n_h[h].h_ptr;
		if (d->n_h[h].h_kind != AC__SIM_H_EP ||
		    e->e_kind != AC__SIM_EP_LISTEN || e->e_local.port != dst->port)
			continue;
		if (sim_is_any(&e->e_local) || sim_ip_eq(&e->e_local, dst))
			found[k++] = e;
	}
	if (k == 0)
		return NULL;
	return found[src->port % k];
}

/* Hand a new server end s to listener l: to a pending accept or the
 * backlog. */
static void sim_listener_offer(ac_sim *w, ac__sim_ep *l, ac__sim_ep *s)
{
	ac_sim_node *d = l->e_node;
	ac_op *op = l->e_rxops.l_head;
	int h;
	if (!op) {
		if (l->e_bl_tail)
			l->e_bl_tail->e_bl_next = s;
		else
			l->e_bl_head = s;
		l->e_bl_tail = s;
		l->e_bl_n++;
		return;
	}
	h = ac__sim_h_alloc(d, AC__SIM_H_EP, s);
	if (h < 0) {
		ac__sim_op_complete(d, op, h);
		s->e_open = 0;
		sim_tcp_queue(w, s, AC__SIM_SEG_RST, NULL, 0);
		ac__sim_ep_put(w, s);
		return;
	}
	s->e_h = h;
	op->addr = s->e_remote;
	ac__sim_op_complete(d, op, h);
}

/* The server end of a connection from e, on node d, for listener l. */
static int sim_accept_syn(ac_sim *w, ac__sim_ep *e, ac_sim_node *d,
                          ac__sim_ep *l)
{
	ac__sim_ep *s = sim_ep_new(d, AC__SIM_EP_TCP);
	if (!s)
		return -ENOMEM;
	s->e_state = AC__SIM_TCP_OPEN;
	s->e_local = e->e_remote;
	s->e_remote = e->e_local;
	s->e_peer = e;
	e->e_refs++;
	e->e_peer = s;
	s->e_refs++;
	if (sim_tcp_queue(w, s, AC__SIM_SEG_SYNACK, NULL, 0) < 0) {
		s->e_open = 0;
		sim_ep_maybe_detach(w, s);
		ac__sim_ep_put(w, s);
		return -ENOMEM;
	}
	ac__sim_trace(w, AC__SIM_T_ACCEPT, d->n_idx, e->e_node->n_idx,
	              e->e_remote.port);
	sim_listener_offer(w, l, s);
	return 0;
}

/* The SYN of e arrives at node d (the event's reference is ours). */
static void sim_syn(ac_sim *w, ac__sim_ep *e, uint32_t d)
{
	ac_sim_node *dn = w->w_nodes[d];
	const ac__sim_link *k = ac__sim_link_of(w, e->e_node->n_idx, d);
	ac__sim_ep *l;
	if (!e->e_open || e->e_state != AC__SIM_TCP_CONNECTING) {
		ac__sim_ep_put(w, e);
		return;
	}
	if (k->k_clog_until > w->w_now) {
		if (ac__sim_ev_push(w, k->k_clog_until, AC__SIM_EV_SYN, d, e, 0) < 0)
			ac__sim_ep_put(w, e);
		return;
	}
	if (k->k_cut_until > w->w_now) {
		sim_syn_retry(w, e, d);
		return;
	}
	l = dn->n_up && !dn->n_crashing
	    ? sim_find_listener(dn, &e->e_remote, &e->e_local) : NULL;
	if (!l) {
		sim_refuse(w, e, d);
		return;
	}
	if (l->e_bl_n >= l->e_bl_max && !l->e_rxops.l_head) {
		sim_syn_retry(w, e, d);
		return;
	}
	if (sim_accept_syn(w, e, dn, l) < 0)
		sim_connect_fail(w, e, -ENOMEM);
	ac__sim_ep_put(w, e);
}

/* The answer to e's SYN arrives: refused (the event's reference is ours). */
static void sim_refuse_ev(ac_sim *w, ac__sim_ep *e, uint32_t d, int err)
{
	if (!e->e_open || e->e_state != AC__SIM_TCP_CONNECTING) {
		ac__sim_ep_put(w, e);
		return;
	}
	if (d != UINT32_MAX &&
	    ac__sim_link_of(w, d, e->e_node->n_idx)->k_cut_until > w->w_now) {
		sim_syn_retry(w, e, d);
		return;
	}
	sim_connect_fail(w, e, err);
	ac__sim_ep_put(w, e);
}

/* Where a connection to dst from node n goes: *d (NULL: no such host), or a
 * negative errno. */
static int sim_route(ac_sim_node *n, const ac_addr *dst, ac_sim_node **d)
{
	if (dst->family != AC_AF_INET)
		return -ENETUNREACH;
	*d = n;
	if (sim_is_loopback(dst) || sim_is_any(dst))
		return 0;
	if (ac__sim_is_broadcast(dst))
		return -ENETUNREACH;
	if (!ac__sim_in_subnet(dst))
		return -ENETUNREACH;
	*d = ac__sim_node_by_ip(n->n_world, dst);
	return 0;
}

int ac__sim_connect(ac_io *io, ac_op *op)
{
	ac_sim_node *n = sim_node(io), *d;
	ac_sim *w = n->n_world;
	ac__sim_ep *e;
	int rc = ac__sim_node_usable(n), h;
	if (rc < 0)
		return rc;
	op->type = AC_OP_CONNECT;
	op->h = -1;
	rc = sim_route(n, &op->addr, &d);
	if (rc < 0)
		return rc;
	e = sim_ep_new(n, AC__SIM_EP_TCP);
	if (!e)
		return -ENOMEM;
	e->e_state = AC__SIM_TCP_CONNECTING;
	e->e_remote = op->addr;
	e->e_local = n->n_addr;
	if (d == n && (sim_is_loopback(&op->addr) || sim_is_any(&op->addr))) {
		sim_set_loopback(&e->e_local);
		sim_set_loopback(&e->e_remote);
	}
	e->e_local.port = sim_ephemeral(n, 0);
	h = e->e_local.port ? ac__sim_h_alloc(n, AC__SIM_H_EP, e) : -EADDRNOTAVAIL;
	if (h >= 0) {
		e->e_h = h;
		rc = d ? ac__sim_ev_push(w, w->w_now + ac__sim_latency(w, n->n_idx,
		                         d->n_idx), AC__SIM_EV_SYN, d->n_idx, e, 0)
		       : ac__sim_ev_push(w, w->w_now + AC__SIM_ARP_TIMEOUT_NS,
		                         AC__SIM_EV_REFUSE, UINT32_MAX, e,
		                         -EHOSTUNREACH);
		if (rc < 0)
			ac__sim_h_free(n, h);
		h = rc < 0 ? rc : h;
	}
	if (h < 0) {
		e->e_open = 0;
		e->e_h = -1;
		ac__sim_ep_put(w, e);
		return h;
	}
	e->e_refs++;
	ac__sim_op_wait(n, &e->e_conn, op, e);
	ac__sim_trace(w, AC__SIM_T_CONNECT, n->n_idx, d ? d->n_idx : UINT32_MAX,
	              op->addr.port);
	return AC_IO_PENDING;
}

void ac__sim_connect_abort(ac_sim_node *n, ac__sim_ep *e)
{
	ac_sim *w = n->n_world;
	AC_ASSERT(e->e_kind == AC__SIM_EP_TCP && e->e_open);
	e->e_state = AC__SIM_TCP_FAILED;
	ac__sim_h_free(n, e->e_h);
	e->e_h = -1;
	e->e_open = 0;
	sim_tcp_queue(w, e, AC__SIM_SEG_RST, NULL, 0);
	sim_ep_maybe_detach(w, e);
	ac__sim_ep_put(w, e);
}

/* ---- TCP: accept, recv, send, shutdown ------------------------------------------ */

int ac__sim_accept(ac_io *io, int h, ac_op *op)
{
	ac_sim_node *n = sim_node(io);
	ac__sim_ep *e, *c;
	int rc = ac__sim_h_ep(n, h, &e), hc;
	if (rc < 0)
		return rc;
	if (e->e_kind != AC__SIM_EP_LISTEN)
		return -EINVAL;
	op->type = AC_OP_ACCEPT;
	op->h = h;
	c = e->e_bl_head;
	if (!c || e->e_rxops.l_head) {
		ac__sim_op_wait(n, &e->e_rxops, op, e);
		return AC_IO_PENDING;
	}
	hc = ac__sim_h_alloc(n, AC__SIM_H_EP, c);
	if (hc < 0)
		return hc;
	e->e_bl_head = c->e_bl_next;
	if (!e->e_bl_head)
		e->e_bl_tail = NULL;
	c->e_bl_next = NULL;
	e->e_bl_n--;
	c->e_h = hc;
	op->addr = c->e_remote;
	return ac__sim_op_now(n, op, hc);
}

/* The TCP connection end behind handle h, open for data. */
static int sim_tcp_get(ac_sim_node *n, int h, ac__sim_ep **out)
{
	int rc = ac__sim_h_ep(n, h, out);
	if (rc < 0)
		return rc;
	if ((*out)->e_kind != AC__SIM_EP_TCP ||
	    (*out)->e_state != AC__SIM_TCP_OPEN)
		return -ENOTCONN;
	return 0;
}

int ac__sim_recv(ac_io *io, int h, ac_op *op)
{
	ac_sim_node *n = sim_node(io);
	ac__sim_ep *e;
	int rc = sim_tcp_get(n, h, &e);
	if (rc < 0)
		return rc;
	op->type = AC_OP_RECV;
	op->h = h;
	if (op->len == 0)
		return ac__sim_op_now(n, op, 0);
	if (!e->e_rxops.l_head) {
		if (e->e_rx_head)
			return ac__sim_op_now(n, op, (int64_t)sim_tcp_read(n->n_world,
			                      e, op->buf, op->len));
		if (e->e_rx_err)
			return e->e_rx_err;
		if (e->e_rx_eof)
			return ac__sim_op_now(n, op, 0);
	}
	ac__sim_op_wait(n, &e->e_rxops, op, e);
	return AC_IO_PENDING;
}

/* Reset the connection from this end (random close). */
static void sim_tcp_abort(ac_sim *w, ac__sim_ep *e)
{
	ac__sim_trace(w, AC__SIM_T_RST, e->e_node->n_idx, e->e_id, 1);
	sim_tcp_reset_local(w, e);
	sim_tcp_queue(w, e, AC__SIM_SEG_RST, NULL, 0);
}

int ac__sim_send(ac_io *io, int h, ac_op *op)
{
	ac_sim_node *n = sim_node(io);
	ac_sim *w = n->n_world;
	const uint8_t *buf = op->buf;
	size_t off = 0;
	ac__sim_ep *e;
	int rc = sim_tcp_get(n, h, &e), partial;
	if (rc < 0)
		return rc;
	op->type = AC_OP_SEND;
	op->h = h;
	if (e->e_rx_err)
		return e->e_rx_err;
	if (e->e_tx_shut)
		return -EPIPE;
	if (op->len == 0)
		return ac__sim_op_now(n, op, 0);
	if (ac__sim_rng_chance(&w->w_rng, w->w_opts.tcp_close_prob)) {
		sim_tcp_abort(w, e);
		return -ECONNRESET;
	}
	partial = ac__sim_rng_chance(&w->w_rng, w->w_opts.partial_prob);
	while (off < op->len) {
		size_t k = op->len - off;
		if (k > SIM_SEG_MAX)
			k = SIM_SEG_MAX;
		if (partial && k > 1)
			k = (size_t)ac__sim_rng_range(&w->w_rng, 1, (int64_t)k);
		if (sim_tcp_queue(w, e, AC__SIM_SEG_DATA, buf + off, (uint32_t)k))
			return -ENOMEM;
		off += k;
	}
	if (!partial)
		return ac__sim_op_now(n, op, (int64_t)op->len);
	ac__sim_op_wait(n, &n->n_done, op, NULL);
	op->res = (int64_t)op->len;
	return AC_IO_PENDING;
}

int ac__sim_shutdown(ac_io *io, int h)
{
	ac_sim_node *n = sim_node(io);
	ac__sim_ep *e;
	int rc = sim_tcp_get(n, h, &e);
	if (rc < 0)
		return rc;
	if (!e->e_tx_shut && !e->e_rx_err &&
	    sim_tcp_queue(n->n_world, e, AC__SIM_SEG_FIN, NULL, 0) < 0)
		return -ENOMEM;
	e->e_tx_shut = 1;
	return 0;
}

/* ---- closing and vanishing --------------------------------------------------------- */

/* A connection end the application never took (backlog) is reset. */
static void sim_tcp_kill(ac_sim *w, ac__sim_ep *c)
{
	c->e_open = 0;
	c->e_bl_next = NULL;
	if (!c->e_rx_err)
		sim_tcp_queue(w, c, AC__SIM_SEG_RST, NULL, 0);
	sim_ep_maybe_detach(w, c);
	ac__sim_ep_put(w, c);
}

static void sim_backlog_kill(ac_sim *w, ac__sim_ep *l)
{
	while (l->e_bl_head) {
		ac__sim_ep *c = l->e_bl_head;
		l->e_bl_head = c->e_bl_next;
		sim_tcp_kill(w, c);
	}
	l->e_bl_tail = NULL;
	l->e_bl_n = 0;
}

void ac__sim_ep_close(ac_sim_node *n, ac__sim_ep *e)
{
	ac_sim *w = n->n_world;
	ac__sim_oplist_fail(n, &e->e_rxops, -ECANCELED);
	ac__sim_oplist_fail(n, &e->e_conn, -ECANCELED);
	if (e->e_kind == AC__SIM_EP_LISTEN)
		sim_backlog_kill(w, e);
	else if (e->e_kind == AC__SIM_EP_UDP)
		sim_dq_free(e);
	else if (e->e_state == AC__SIM_TCP_OPEN && !e->e_tx_shut &&
	         !e->e_rx_err)
		sim_tcp_queue(w, e, AC__SIM_SEG_FIN, NULL, 0);
	e->e_tx_shut = 1;
	ac__sim_h_free(n, e->e_h);
	e->e_h = -1;
	e->e_open = 0;
	sim_ep_maybe_detach(w, e);
	ac__sim_ep_put(w, e);
}

void ac__sim_ep_vanish(ac_sim_node *n, ac__sim_ep *e)
{
	ac_sim *w = n->n_world;
	ac__sim_oplist_forget(n, &e->e_rxops);
	ac__sim_oplist_forget(n, &e->e_conn);
	if (e->e_kind == AC__SIM_EP_LISTEN)
		sim_backlog_kill(w, e);
	else if (e->e_kind == AC__SIM_EP_UDP)
		sim_dq_free(e);
	else if (!e->e_rx_err)
		sim_tcp_queue(w, e, AC__SIM_SEG_RST, NULL, 0);
	e->e_h = -1;
	e->e_open = 0;
	sim_ep_maybe_detach(w, e);
	ac__sim_ep_put(w, e);
}

/* ---- UDP ------------------------------------------------------------------------------ */

/* A datagram reaches socket e (g is consumed). */
static void sim_udp_enqueue(ac_sim *w, ac__sim_ep *e, ac__sim_dgram *g)
{
	ac_sim_node *n = e->e_node;
	ac_op *op = e->e_rxops.l_head;
	w->w_stats.udp_delivered++;
	ac__sim_trace(w, AC__SIM_T_UDP_RECV, n->n_idx, g->d_from, g->d_len);
	if (op) {
		size_t k = g->d_len < op->len ? g->d_len : op->len;
		memcpy(op->buf, g->d_data, k);
		op->addr = g->d_src;
		ac__sim_op_complete(n, op, (int64_t)k);
		free(g);
		return;
	}
	if (e->e_dq_n >= AC__SIM_UDP_QUEUE_MAX) {
		w->w_stats.udp_delivered--;
		w->w_stats.udp_lost++;
		free(g);
		return;
	}
	g->d_next = NULL;
	if (e->e_dq_tail)
		e->e_dq_tail->d_next = g;
	else
		e->e_dq_head = g;
	e->e_dq_tail = g;
	e->e_dq_n++;
}

static int sim_udp_match(const ac__sim_ep *e, const ac__sim_dgram *g,
                         int bcast)
{
	if (e->e_kind != AC__SIM_EP_UDP || e->e_local.port != g->d_dst.port)
		return 0;
	if (sim_is_any(&e->e_local))
		return 1;
	if (bcast)
		return ac__sim_is_broadcast(&e->e_local);
	return sim_ip_eq(&e->e_local, &g->d_dst);
}

static ac__sim_dgram *sim_dgram_dup(const ac__sim_dgram *g)
{
	ac__sim_dgram *c = malloc(sizeof(*c) + g->d_len);
	if (c)
		memcpy(c, g, sizeof(*c) + g->d_len);
	return c;
}

/* Datagram g arrives at node d: to one matching socket (unicast) or every
 * one (broadcast). g is consumed. */
static void sim_udp_deliver(ac_sim *w, ac_sim_node *d, ac__sim_dgram *g)
{
	int bcast = ac__sim_is_broadcast(&g->d_dst);
	ac__sim_ep *last = NULL;
	uint32_t h, k = 0, pick = 0;
	for (h = 0; h < d->n_nh; h++)
		if (d->n_h[h].h_kind == AC__SIM_H_EP &&
		    sim_udp_match(d->n_h[h].h_ptr, g, bcast))
			k++;
	if (k && !bcast)
		pick = g->d_src.port % k;
	for (h = 0, k = 0; h < d->n_nh; h++) {
		ac__sim_ep *e = d->n_h[h].h_ptr;
		ac__sim_dgram *c;
		if (d->n_h[h].h_kind != AC__SIM_H_EP || !sim_udp_match(e, g, bcast))
			continue;
		if (!bcast && k++ != pick)
			continue;
		if (last && (c = sim_dgram_dup(g)) != NULL)
			sim_udp_enqueue(w, last, c);
		last = e;
	}
	if (last) {
		sim_udp_enqueue(w, last, g);
		return;
	}
	w->w_stats.udp_lost++;
	ac__sim_trace(w, AC__SIM_T_UDP_LOST, d->n_idx, g->d_from, g->d_len);
	free(g);
}

static void sim_udp_arrive(ac_sim *w, ac__sim_dgram *g, uint32_t d)
{
	ac_sim_node *dn = w->w_nodes[d];
	const ac__sim_link *k = ac__sim_link_of(w, g->d_from, d);
	if (dn->n_up && !dn->n_crashing && k->k_clog_until > w->w_now) {
		if (ac__sim_ev_push(w, k->k_clog_until, AC__SIM_EV_UDP, d, g, 0) < 0)
			free(g);
		return;
	}
	if (!dn->n_up || dn->n_crashing || k->k_cut_until > w->w_now) {
		w->w_stats.udp_lost++;
		ac__sim_trace(w, AC__SIM_T_UDP_LOST, d, g->d_from, g->d_len);
		free(g);
		return;
	}
	sim_udp_deliver(w, dn, g);
}

/* Send one datagram from node n to node d: loss, duplication, delay. */
static void sim_udp_send_one(ac_sim *w, ac_sim_node *n, uint32_t d,
                             const ac_addr *src, const ac_addr *dst,
                             const ac_op *op)
{
	int copies = 1, i, remote = d != n->n_idx;
	w->w_stats.udp_sent++;
	ac__sim_trace(w, AC__SIM_T_UDP_SEND, n->n_idx, d, op->len);
	if (remote && ac__sim_rng_chance(&w->w_rng, w->w_opts.udp_loss)) {
		w->w_stats.udp_lost++;
		ac__sim_trace(w, AC__SIM_T_UDP_LOST, d, n->n_idx, op->len);
		return;
	}
	if (remote && ac__sim_rng_chance(&w->w_rng, w->w_opts.udp_dup)) {
		copies = 2;
		w->w_stats.udp_dups++;
		ac__sim_trace(w, AC__SIM_T_UDP_DUP, n->n_idx, d, 0);
	}
	for (i = 0; i < copies; i++) {
		int64_t lat = ac__sim_latency(w, n->n_idx, d);
		ac__sim_dgram *g = malloc(sizeof(*g) + op->len);
		if (!g)
			return;
		if (remote && ac__sim_rng_chance(&w->w_rng, w->w_opts.udp_reorder))
			lat += ac__sim_rng_range(&w->w_rng, 0,
			                         w->w_opts.reorder_delay_ns);
		g->d_next = NULL;
		g->d_src = *src;
		g->d_dst = *dst;
		g->d_from = n->n_idx;
		g->d_len = (uint32_t)op->len;
		memcpy(g->d_data, op->buf, op->len);
		if (ac__sim_ev_push(w, w->w_now + lat, AC__SIM_EV_UDP, d, g, 0) < 0)
			free(g);
	}
}

int ac__sim_sendto(ac_io *io, int h, ac_op *op)
{
	ac_sim_node *n = sim_node(io), *d = NULL;
	ac_sim *w = n->n_world;
	ac_addr src;
	ac__sim_ep *e;
	uint32_t i;
	int rc = ac__sim_h_ep(n, h, &e), bcast;
	if (rc < 0)
		return rc;
	if (e->e_kind != AC__SIM_EP_UDP)
		return -EINVAL;
	op->type = AC_OP_SENDTO;
	op->h = h;
	if (op->len > AC__SIM_UDP_MAX)
		return -EMSGSIZE;
	if (op->addr.family != AC_AF_INET)
		return -EAFNOSUPPORT;
	if (op->addr.port == 0)
		return -EINVAL;
	bcast = ac__sim_is_broadcast(&op->addr);
	if (bcast && !(e->e_flags & AC_IO_BROADCAST))
		return -EACCES;
	if (!bcast && (rc = sim_route(n, &op->addr, &d)) < 0)
		return rc;
	src = e->e_local;
	if (sim_is_any(&src) || ac__sim_is_broadcast(&src)) {
		src = n->n_addr;
		if (d == n && sim_is_loopback(&op->addr))
			sim_set_loopback(&src);
		src.port = e->e_local.port;
	}
	if (bcast) {
		for (i = 0; i < w->w_nnodes; i++)
			sim_udp_send_one(w, n, i, &src, &op->addr, op);
	} else if (d) {
		sim_udp_send_one(w, n, d->n_idx, &src, &op->addr, op);
	} else {
		w->w_stats.udp_sent++;
		w->w_stats.udp_lost++;
	}
	return ac__sim_op_now(n, op, (int64_t)op->len);
}

int ac__sim_recvfrom(ac_io *io, int h, ac_op *op)
{
	ac_sim_node *n = sim_node(io);
	ac__sim_dgram *g;
	ac__sim_ep *e;
	size_t k;
	int rc = ac__sim_h_ep(n, h, &e);
	if (rc < 0)
		return rc;
	if (e->e_kind != AC__SIM_EP_UDP)
		return -EINVAL;
	op->type = AC_OP_RECVFROM;
	op->h = h;
	g = e->e_dq_head;
	if (!g || e->e_rxops.l_head) {
		ac__sim_op_wait(n, &e->e_rxops, op, e);
		return AC_IO_PENDING;
	}
	e->e_dq_head = g->d_next;
	if (!e->e_dq_head)
		e->e_dq_tail = NULL;
	e->e_dq_n--;
	k = g->d_len < op->len ? g->d_len : op->len;
	memcpy(op->buf, g->d_data, k);
	op->addr = g->d_src;
	free(g);
	return ac__sim_op_now(n, op, (int64_t)k);
}

/* ---- addresses and events --------------------------------------------------------- */

int ac__sim_local_addr(ac_io *io, int h, ac_addr *out)
{
	ac__sim_ep *e;
	int rc = ac__sim_h_ep(sim_node(io), h, &e);
	if (rc < 0)
		return rc;
	*out = e->e_local;
	return 0;
}

int ac__sim_peer_addr(ac_io *io, int h, ac_addr *out)
{
	ac__sim_ep *e;
	int rc = sim_tcp_get(sim_node(io), h, &e);
	if (rc < 0)
		return rc;
	*out = e->e_remote;
	return 0;
}

void ac__sim_net_event(ac_sim *w, ac__sim_ev *ev)
{
	switch (ev->v_kind) {
	case AC__SIM_EV_PUMP:
		sim_pump(w, ev->v_ptr);
		break;
	case AC__SIM_EV_SYN:
		sim_syn(w, ev->v_ptr, ev->v_node);
		break;
	case AC__SIM_EV_REFUSE:
		sim_refuse_ev(w, ev->v_ptr, ev->v_node, ev->v_arg);
		break;
	case AC__SIM_EV_UDP:
		sim_udp_arrive(w, ev->v_ptr, ev->v_node);
		break;
	default:
		AC_ASSERT(!"unknown event");
	}
}
