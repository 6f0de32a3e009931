/* sim/sim_endpoint.c: the sockets of the simulated network — what TCP
 * (sim_tcp.c) and UDP (sim_udp.c) share.
 *
 * An endpoint (ac__sim_ep) is a TCP listener, a TCP connection end or a UDP
 * socket of a node. This file creates endpoints (in the world's list, in
 * creation order, so that teardown is deterministic), counts their
 * references and frees them at zero (see sim/sim.h for who holds one),
 * lets a closed TCP end with nothing left to send go of its peer, binds
 * them (which addresses a node may bind, the two port spaces, conflicts and
 * SO_REUSEADDR/SO_REUSEPORT sharing, ephemeral ports), routes a destination
 * to its node, closes them (pending operations complete with -ECANCELED) and
 * makes them vanish in a crash (pending operations are forgotten), and hands
 * the network's events to TCP or UDP. The kind-specific part of closing is
 * in sim_tcp.c and sim_udp.c.
 *
 * Addresses: every node has 10.0.0.(index + 1); 127.0.0.0/8 and 0.0.0.0 are
 * the node itself; the subnet's broadcast addresses are UDP only.
 */
#include "sim/sim.h"

/* ---- endpoints ------------------------------------------------------------------- */

ac__sim_ep *ac__sim_ep_new(ac_sim_node *n, uint32_t kind)
{
	ac_sim *w = n->n_world;
	ac__sim_ep *e;
	AC_ASSERT(kind == AC__SIM_EP_LISTEN || kind == AC__SIM_EP_TCP ||
	          kind == AC__SIM_EP_UDP);
	e = calloc(1, sizeof(*e));
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
	AC_ASSERT(w->w_eps != NULL && e->e_wnext == NULL);
	return e;
}

void ac__sim_segs_free(ac__sim_seg **head, ac__sim_seg **tail)
{
	while (*head) {
		ac__sim_seg *g = *head;
		*head = g->g_next;
		if (!*head)
			AC_ASSERT(g == *tail);
		free(g);
	}
	*tail = NULL;
}

void ac__sim_dq_free(ac__sim_ep *e)
{
	uint32_t k = 0;
	while (e->e_dq_head) {
		ac__sim_dgram *g = e->e_dq_head;
		e->e_dq_head = g->d_next;
		free(g);
		k++;
	}
	/* Only UDP sockets queue datagrams, and e_dq_n counts them. */
	if (k)
		AC_ASSERT(e->e_kind == AC__SIM_EP_UDP);
	AC_ASSERT(k == e->e_dq_n);
	e->e_dq_tail = NULL;
	e->e_dq_n = 0;
}

void ac__sim_ep_destroy(ac_sim *w, ac__sim_ep *e)
{
	AC_ASSERT((e->e_wprev == NULL) == (w->w_eps == e));
	AC_ASSERT((e->e_wnext == NULL) == (w->w_eps_tail == e));
	if (e->e_wprev)
		e->e_wprev->e_wnext = e->e_wnext;
	else
		w->w_eps = e->e_wnext;
	if (e->e_wnext)
		e->e_wnext->e_wprev = e->e_wprev;
	else
		w->w_eps_tail = e->e_wprev;
	ac__sim_segs_free(&e->e_out_head, &e->e_out_tail);
	ac__sim_segs_free(&e->e_sq_head, &e->e_sq_tail);
	ac__sim_segs_free(&e->e_rx_head, &e->e_rx_tail);
	ac__sim_dq_free(e);
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
	AC_ASSERT(!e->e_open);
	AC_ASSERT(!e->e_pumping);
	AC_ASSERT(e->e_h < 0);
	p = e->e_peer;
	e->e_peer = NULL;
	ac__sim_ep_destroy(w, e);
	if (p)
		ac__sim_ep_put(w, p);
}

void ac__sim_ep_detach(ac_sim *w, ac__sim_ep *e)
{
	ac__sim_ep *p = e->e_peer;
	if (e->e_open || e->e_out_head || e->e_sq_head || !p)
		return;
	/* Only TCP ends have peers, and a peer points back or has let go. */
	AC_ASSERT(e->e_kind == AC__SIM_EP_TCP && p->e_kind == AC__SIM_EP_TCP);
	AC_ASSERT(p->e_peer == e || p->e_peer == NULL);
	e->e_peer = NULL;
	ac__sim_ep_put(w, p);
}

/* ---- addresses, ports, binding, routes ------------------------------------------- */

/* 0 when node n may bind ip, else a negative errno. */
static int sim_bind_ip_ok(const ac_sim_node *n, const ac_addr *a, int udp)
{
	if (a->family != AC_AF_INET && a->family != AC_AF_INET6)
		return -EINVAL; /* no address at all, as on epoll */
	if (a->family != AC_AF_INET)
		return -EAFNOSUPPORT;
	if (ac__sim_ip_any(a) || ac__sim_ip_loopback(a) ||
	    ac__sim_ip_eq(a, &n->n_addr))
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
	/* Port 0 asks for an ephemeral port instead. */
	AC_ASSERT(a->port != 0);
	AC_ASSERT(udp == 0 || udp == 1);
	for (h = 0; h < n->n_nh; h++) {
		ac__sim_ep *e = n->n_h[h].h_ptr;
		int shared;
		/* Connections never block a listen (SO_REUSEADDR). */
		if (n->n_h[h].h_kind != AC__SIM_H_EP ||
		    e->e_kind == AC__SIM_EP_TCP ||
		    sim_kind_udp(e->e_kind) != udp || e->e_local.port != a->port)
			continue;
		if (!ac__sim_ip_any(a) && !ac__sim_ip_any(&e->e_local) &&
		    !ac__sim_ip_eq(a, &e->e_local))
			continue;
		shared = flags & e->e_flags & AC_IO_REUSEPORT;
		if (udp)
			shared |= flags & e->e_flags & AC_IO_REUSEADDR;
		if (!shared)
			return 1;
	}
	return 0;
}

/* 1 when a socket of the port space (udp) of node n is bound to port. */
static int sim_port_used(ac_sim_node *n, int udp, uint16_t port)
{
	uint32_t h;
	AC_ASSERT(port >= AC__SIM_PORT_EPHEMERAL);
	for (h = 0; h < n->n_nh; h++) {
		ac__sim_ep *e = n->n_h[h].h_ptr;
		if (n->n_h[h].h_kind == AC__SIM_H_EP &&
		    sim_kind_udp(e->e_kind) == udp && e->e_local.port == port)
			return 1;
	}
	return 0;
}

uint16_t ac__sim_ephemeral(ac_sim_node *n, int udp)
{
	uint32_t i;
	AC_STATIC_ASSERT(AC__SIM_PORT_EPHEMERAL + AC__SIM_PORT_RANGE <= 65536);
	for (i = 0; i < AC__SIM_PORT_RANGE; i++) {
		uint16_t port = (uint16_t)(AC__SIM_PORT_EPHEMERAL +
		                           n->n_next_port++ % AC__SIM_PORT_RANGE);
		if (!sim_port_used(n, udp, port))
			return port;
	}
	return 0;
}

int ac__sim_bind(ac_sim_node *n, uint32_t kind, const ac_addr *addr,
                 int flags, ac__sim_ep **out)
{
	int udp = sim_kind_udp(kind), rc;
	ac_addr a;
	ac__sim_ep *e;
	/* Connection ends are made by connect and accept, never bound. */
	AC_ASSERT(kind == AC__SIM_EP_LISTEN || kind == AC__SIM_EP_UDP);
	rc = ac__sim_node_usable(n);
	if (rc < 0)
		return rc;
	if (!addr || (flags & ~(AC_IO_REUSEADDR | AC_IO_REUSEPORT | AC_IO_BROADCAST |
	                        AC_IO_V6ONLY)))
		return -EINVAL;
	rc = sim_bind_ip_ok(n, addr, udp);
	if (rc < 0)
		return rc;
	a = *addr;
	if (a.port == 0)
		a.port = ac__sim_ephemeral(n, udp);
	else if (sim_port_conflict(n, udp, &a, flags))
		return -EADDRINUSE;
	if (a.port == 0)
		return -EADDRINUSE;
	e = ac__sim_ep_new(n, kind);
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
	AC_ASSERT(n->n_h[rc].h_ptr == e && e->e_local.port != 0);
	*out = e;
	return rc;
}

int ac__sim_route(ac_sim_node *n, const ac_addr *dst, ac_sim_node **d)
{
	if (dst->family != AC_AF_INET)
		return -ENETUNREACH;
	*d = n;
	if (ac__sim_ip_loopback(dst) || ac__sim_ip_any(dst))
		return 0;
	if (ac__sim_is_broadcast(dst))
		return -ENETUNREACH;
	if (!ac__sim_in_subnet(dst))
		return -ENETUNREACH;
	*d = ac__sim_node_by_ip(n->n_world, dst);
	if (*d)
		AC_ASSERT((*d)->n_world == n->n_world && ac__sim_ip_eq(dst,
		          &(*d)->n_addr));
	return 0;
}

/* ---- closing and vanishing ------------------------------------------------------- */

void ac__sim_ep_close(ac_sim_node *n, ac__sim_ep *e)
{
	ac_sim *w = n->n_world;
	/* A handle means open (connect failures and aborts free theirs). */
	AC_ASSERT(e->e_open && e->e_node == n);
	AC_ASSERT(e->e_h >= 0 && n->n_h[e->e_h].h_ptr == e);
	ac__sim_oplist_fail(n, &e->e_rxops, -ECANCELED);
	ac__sim_oplist_fail(n, &e->e_txops, -ECANCELED);
	ac__sim_oplist_fail(n, &e->e_conn, -ECANCELED);
	if (e->e_kind == AC__SIM_EP_UDP)
		ac__sim_dq_free(e);
	else
		ac__sim_tcp_close(w, e);
	e->e_tx_shut = 1;
	ac__sim_h_free(n, e->e_h);
	e->e_h = -1;
	e->e_open = 0;
	ac__sim_ep_detach(w, e);
	ac__sim_ep_put(w, e);
}

void ac__sim_ep_vanish(ac_sim_node *n, ac__sim_ep *e)
{
	ac_sim *w = n->n_world;
	AC_ASSERT(n->n_crashing && e->e_node == n);
	AC_ASSERT(e->e_open && e->e_h >= 0);
	ac__sim_oplist_forget(n, &e->e_rxops);
	ac__sim_oplist_forget(n, &e->e_txops);
	ac__sim_oplist_forget(n, &e->e_conn);
	if (e->e_kind == AC__SIM_EP_UDP)
		ac__sim_dq_free(e);
	else
		ac__sim_tcp_vanish(w, e);
	e->e_h = -1;
	e->e_open = 0;
	ac__sim_ep_detach(w, e);
	ac__sim_ep_put(w, e);
}

/* ---- addresses and events -------------------------------------------------------- */

int ac__sim_local_addr(ac_io *io, int h, ac_addr *out)
{
	ac__sim_ep *e;
	int rc = ac__sim_h_ep(ac__sim_io_node(io), h, &e);
	if (rc < 0)
		return rc;
	/* Bound, connected and accepted ends all have an IPv4 address. */
	AC_ASSERT(e->e_local.family == AC_AF_INET);
	*out = e->e_local;
	return 0;
}

void ac__sim_net_event(ac_sim *w, ac__sim_ev *ev)
{
	AC_ASSERT(ev->v_ptr != NULL);
	switch (ev->v_kind) {
	case AC__SIM_EV_PUMP:
	case AC__SIM_EV_SYN:
	case AC__SIM_EV_REFUSE:
		ac__sim_tcp_event(w, ev);
		break;
	case AC__SIM_EV_UDP:
		ac__sim_udp_event(w, ev);
		break;
	default:
		AC_ASSERT(!"unknown event");
	}
}
