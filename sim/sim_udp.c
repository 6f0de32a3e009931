/* sim/sim_udp.c: UDP in the simulated network — sendto, recvfrom and the
 * datagrams on their way.
 *
 * A datagram is copied per destination node at sendto(), lost, duplicated
 * or delayed (reordered) by the knobs, and on arrival dropped when the link
 * is cut or nobody is bound; clogs delay it. The broadcast address reaches
 * every node, and on each node every socket bound to the port (any address)
 * gets a copy; a unicast datagram goes to one of the sockets sharing a port.
 * A socket queues at most AC__SIM_UDP_QUEUE_MAX datagrams; later arrivals
 * are lost. Invariant: a socket never has both a waiting recvfrom and queued
 * datagrams.
 *
 * Endpoints, binding and routes are sim_endpoint.c's.
 */
#include "sim/sim.h"

int ac__sim_udp_bind(ac_io *io, const ac_addr *addr, int flags, int *h_out)
{
	ac__sim_ep *e;
	int h;
	if (!h_out)
		return -EINVAL;
	h = ac__sim_bind(ac__sim_io_node(io), AC__SIM_EP_UDP, addr, flags, &e);
	if (h < 0)
		return h;
	AC_ASSERT(e->e_kind == AC__SIM_EP_UDP && e->e_h == h);
	*h_out = h;
	return 0;
}

/* A datagram reaches socket e (g is consumed). */
static void sim_udp_enqueue(ac_sim *w, ac__sim_ep *e, ac__sim_dgram *g)
{
	ac_sim_node *n = e->e_node;
	ac_op *op = e->e_rxops.l_head;
	AC_ASSERT(e->e_kind == AC__SIM_EP_UDP && e->e_open);
	if (op)
		AC_ASSERT(e->e_dq_head == NULL);
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
		ac__sim_cap_udp(w, g->d_from, n->n_idx, &g->d_src, &g->d_dst, g->d_data,
		                g->d_len, AC__SIM_CAP_QUEUE, (int)g->d_dup);
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
	AC_ASSERT(e->e_dq_n <= AC__SIM_UDP_QUEUE_MAX);
}

/* 1 when socket e takes datagram g (bcast: g is to a broadcast address). */
static int sim_udp_match(const ac__sim_ep *e, const ac__sim_dgram *g,
                         int bcast)
{
	if (e->e_kind != AC__SIM_EP_UDP || e->e_local.port != g->d_dst.port)
		return 0;
	if (ac__sim_ip_any(&e->e_local))
		return 1;
	if (bcast)
		return ac__sim_is_broadcast(&e->e_local);
	return ac__sim_ip_eq(&e->e_local, &g->d_dst);
}

/* A copy of g, or NULL when out of memory. */
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
	AC_ASSERT(d->n_up && !d->n_crashing);
	for (h = 0; h < d->n_nh; h++)
		if (d->n_h[h].h_kind == AC__SIM_H_EP &&
		    sim_udp_match(d->n_h[h].h_ptr, g, bcast))
			k++;
	ac__sim_cap_udp(w, g->d_from, d->n_idx, &g->d_src, &g->d_dst, g->d_data,
	                g->d_len, k ? AC__SIM_CAP_OK : AC__SIM_CAP_NOPORT, (int)g->d_dup);
	if (k && !bcast)
		pick = g->d_src.port % k;
	AC_ASSERT(pick == 0 || pick < k);
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

/* Datagram g reaches node d (g is consumed): held while the link is
 * clogged, lost while it is cut or d is down, else delivered. */
static void sim_udp_arrive(ac_sim *w, ac__sim_dgram *g, uint32_t d)
{
	ac_sim_node *dn;
	const ac__sim_link *k;
	AC_ASSERT(d < w->w_nnodes && g->d_from < w->w_nnodes);
	AC_ASSERT(g->d_len <= AC__SIM_UDP_MAX);
	dn = w->w_nodes[d];
	k = ac__sim_link_of(w, g->d_from, d);
	if (dn->n_up && !dn->n_crashing && k->k_clog_until > w->w_now) {
		if (ac__sim_ev_push(w, k->k_clog_until, AC__SIM_EV_UDP, d, g, 0) < 0)
			free(g);
		return;
	}
	if (!dn->n_up || dn->n_crashing || k->k_cut_until > w->w_now) {
		ac__sim_cap_udp(w, g->d_from, d, &g->d_src, &g->d_dst, g->d_data, g->d_len,
		                dn->n_up && !dn->n_crashing ? AC__SIM_CAP_CUT : AC__SIM_CAP_DOWN,
		                (int)g->d_dup);
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
	AC_ASSERT(d < w->w_nnodes);
	AC_ASSERT(op->len <= AC__SIM_UDP_MAX);
	w->w_stats.udp_sent++;
	ac__sim_trace(w, AC__SIM_T_UDP_SEND, n->n_idx, d, op->len);
	if (remote && ac__sim_rng_chance(&w->w_rng, w->w_opts.udp_loss)) {
		ac__sim_cap_udp(w, n->n_idx, d, src, dst, op->buf, op->len,
		                AC__SIM_CAP_LOSS, 0);
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
		g->d_dup = i > 0;
		memcpy(g->d_data, op->buf, op->len);
		if (ac__sim_ev_push(w, w->w_now + lat, AC__SIM_EV_UDP, d, g, 0) < 0)
			free(g);
	}
}

int ac__sim_sendto(ac_io *io, int h, ac_op *op)
{
	ac_sim_node *n = ac__sim_io_node(io), *d = NULL;
	ac_sim *w = n->n_world;
	ac_addr src;
	ac__sim_ep *e;
	uint32_t i;
	int rc = ac__sim_h_ep(n, h, &e), bcast;
	if (rc < 0)
		return rc;
	if (e->e_kind != AC__SIM_EP_UDP)
		return -EINVAL;
	if ((rc = ac__sim_op_args(op, AC_OP_SENDTO)) < 0)
		return rc;
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
	if (!bcast && (rc = ac__sim_route(n, &op->addr, &d)) < 0)
		return rc;
	src = e->e_local;
	if (ac__sim_ip_any(&src) || ac__sim_is_broadcast(&src)) {
		src = n->n_addr;
		if (d == n && ac__sim_ip_loopback(&op->addr))
			ac__sim_ip_set_loopback(&src);
		src.port = e->e_local.port;
	}
	AC_ASSERT(src.port == e->e_local.port && src.port != 0);
	if (bcast)
		AC_ASSERT(d == NULL);
	if (bcast) {
		for (i = 0; i < w->w_nnodes; i++)
			sim_udp_send_one(w, n, i, &src, &op->addr, op);
	} else if (d) {
		sim_udp_send_one(w, n, d->n_idx, &src, &op->addr, op);
	} else {
		ac__sim_cap_udp(w, n->n_idx, UINT32_MAX, &src, &op->addr, op->buf, op->len,
		                AC__SIM_CAP_NOHOST, 0);
		w->w_stats.udp_sent++;
		w->w_stats.udp_lost++;
	}
	return ac__sim_op_now(n, op, (int64_t)op->len);
}

int ac__sim_recvfrom(ac_io *io, int h, ac_op *op)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac__sim_dgram *g;
	ac__sim_ep *e;
	size_t k;
	int rc = ac__sim_h_ep(n, h, &e);
	if (rc < 0)
		return rc;
	if (e->e_kind != AC__SIM_EP_UDP)
		return -EINVAL;
	if ((rc = ac__sim_op_args(op, AC_OP_RECVFROM)) < 0)
		return rc;
	op->type = AC_OP_RECVFROM;
	op->h = h;
	/* Never both a waiting recvfrom and a queued datagram. */
	if (e->e_rxops.l_head)
		AC_ASSERT(e->e_dq_head == NULL);
	g = e->e_dq_head;
	if (!g || e->e_rxops.l_head) {
		ac__sim_op_wait(n, &e->e_rxops, op, e);
		return AC_IO_PENDING;
	}
	e->e_dq_head = g->d_next;
	if (!e->e_dq_head)
		e->e_dq_tail = NULL;
	AC_ASSERT(e->e_dq_n > 0);
	e->e_dq_n--;
	AC_ASSERT((e->e_dq_n == 0) == (e->e_dq_head == NULL));
	k = g->d_len < op->len ? g->d_len : op->len;
	memcpy(op->buf, g->d_data, k);
	op->addr = g->d_src;
	free(g);
	return ac__sim_op_now(n, op, (int64_t)k);
}

void ac__sim_udp_event(ac_sim *w, ac__sim_ev *ev)
{
	AC_ASSERT(ev->v_kind == AC__SIM_EV_UDP);
	AC_ASSERT(ev->v_ptr != NULL);
	sim_udp_arrive(w, ev->v_ptr, ev->v_node);
}
