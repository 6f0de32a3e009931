/* sim/sim_tcp.c: TCP in the simulated network — listen, connect, accept,
 * the byte stream between two connection ends, shutdown, resets.
 *
 * connect() queues a SYN that arrives after the link's latency; the target
 * answers with a reset (-ECONNREFUSED after another latency) when nothing
 * listens there or the node is down, or creates the server end of the
 * connection, puts it into the listener's backlog (or completes a pending
 * accept) and queues a SYNACK back. A SYN that meets a cut link or a full
 * backlog is retransmitted after 1, 2, 4 ... seconds, and connect fails with
 * -ETIMEDOUT after AC__SIM_SYN_TRIES of them (as Linux does).
 *
 * Each TCP end has an out queue of segments (data, SYNACK, FIN, RST), each
 * with the earliest time it may arrive; the times never decrease along the
 * queue, so a stream stays ordered. One PUMP event per end moves the head
 * of the queue into the peer's receive queue when it is due. While the link
 * is cut (partition) the pump waits a retransmission timeout (200 ms,
 * doubling up to 2 s) and tries again; while it is clogged it waits for the
 * clog to end. Nothing is lost while the connection lives. close() and
 * shutdown() queue a FIN (the peer reads end of stream) behind the data
 * still to send; a crash queues an RST (the peer's next recv or send fails
 * with -ECONNRESET) and drops the send buffer.
 *
 * Flow control: send() moves what fits into the end's send buffer (the
 * send queue, at most tcp_sndbuf data bytes) and completes when all of it
 * is in; otherwise it stays pending with op->res = the bytes taken so far
 * (a cancel reports them, io.h) and takes more as room appears — a partial
 * write is normal, and a writer whose peer does not read blocks. Data
 * leaves the send queue for the out queue while the peer's window allows:
 * the bytes transmitted and not yet acknowledged (e_unacked) never exceed
 * tcp_rcvbuf, so neither does the peer's rx queue. Reading acknowledges:
 * the reader queues a WND segment (coalesced while queued) back to the
 * writer once a quarter of the window has been read or its rx queue is
 * empty; it travels like data (latency, stalls), and its arrival reopens
 * the window. Data reaching an end that can no longer take it (closed,
 * reset), and unread data of an end being closed, is dropped and
 * acknowledged at once, so that a writer never waits on a dead reader.
 *
 * Endpoints, references, binding and routes are sim_endpoint.c's.
 */
#include "sim/sim.h"

/* Largest TCP segment queued at once. */
#define SIM_SEG_MAX (1u << 20)

/* ---- TCP: queues and delivery ---------------------------------------------------- */

/* Queue the PUMP event of e for time at. */
static int sim_pump_arm(ac_sim *w, ac__sim_ep *e, int64_t at)
{
	/* One PUMP event per end at a time. */
	AC_ASSERT(!e->e_pumping);
	AC_ASSERT(e->e_kind == AC__SIM_EP_TCP);
	if (ac__sim_ev_push(w, at, AC__SIM_EV_PUMP, e->e_node->n_idx, e, 0) < 0)
		return -ENOMEM;
	e->e_pumping = 1;
	return 0;
}

/* A new segment of kind with a copy of len bytes of data, or NULL. */
static ac__sim_seg *sim_seg_new(uint32_t kind, const void *data, uint32_t len)
{
	ac__sim_seg *g = malloc(sizeof(*g) + len);
	if (!g)
		return NULL;
	g->g_next = NULL;
	g->g_kind = kind;
	g->g_len = len;
	g->g_off = 0;
	g->g_ready = 0;
	if (len)
		memcpy(g->g_data, data, len);
	return g;
}

/* Transmit segment g (consumed) from e to its peer: it joins e's out queue
 * with its arrival time (dropped when there is no peer). 0 or -ENOMEM. */
static int sim_tcp_put(ac_sim *w, ac__sim_ep *e, ac__sim_seg *g)
{
	ac__sim_ep *p = e->e_peer;
	int64_t ready;
	AC_ASSERT(e->e_kind == AC__SIM_EP_TCP);
	g->g_next = NULL;
	if (!p) {
		free(g);
		return 0;
	}
	/* A peer points back at e, or has let go of it. */
	AC_ASSERT(p->e_peer == e || p->e_peer == NULL);
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

/* Transmit a new segment from e to its peer, bypassing the send queue
 * (SYNACK, RST). */
static int sim_tcp_queue(ac_sim *w, ac__sim_ep *e, uint32_t kind,
                         const void *data, uint32_t len)
{
	ac__sim_seg *g;
	if (!e->e_peer)
		return 0;
	g = sim_seg_new(kind, data, len);
	return g ? sim_tcp_put(w, e, g) : -ENOMEM;
}

/* Append g to e's send queue. */
static void sim_sq_append(ac__sim_ep *e, ac__sim_seg *g)
{
	AC_ASSERT(g->g_kind == AC__SIM_SEG_DATA || g->g_kind == AC__SIM_SEG_FIN);
	g->g_next = NULL;
	if (e->e_sq_tail)
		e->e_sq_tail->g_next = g;
	else
		e->e_sq_head = g;
	e->e_sq_tail = g;
	e->e_sq_bytes += g->g_kind == AC__SIM_SEG_DATA ? g->g_len : 0;
}

/* Drop e's send queue. */
static void sim_sq_drop(ac__sim_ep *e)
{
	ac__sim_segs_free(&e->e_sq_head, &e->e_sq_tail);
	e->e_sq_bytes = 0;
}

/* Transmit from e's send queue what the peer's window admits (a FIN when
 * it is at the head). */
static void sim_tcp_xmit(ac_sim *w, ac__sim_ep *e)
{
	ac__sim_seg *g;
	while ((g = e->e_sq_head) != NULL) {
		int64_t wnd = w->w_opts.tcp_rcvbuf - e->e_unacked;
		uint32_t k = g->g_len - g->g_off;
		ac__sim_seg *t = g;
		if (!e->e_peer) {
			sim_sq_drop(e);
			return;
		}
		if (g->g_kind == AC__SIM_SEG_DATA) {
			if (wnd <= 0)
				return;
			if (k > wnd) {
				k = (uint32_t)wnd;
				t = sim_seg_new(AC__SIM_SEG_DATA, g->g_data + g->g_off, k);
				if (!t)
					return; /* retried at the next window update */
				g->g_off += k;
			}
		}
		if (t == g) {
			if (g->g_off) {
				memmove(g->g_data, g->g_data + g->g_off, k);
				g->g_len = k;
				g->g_off = 0;
			}
			e->e_sq_head = g->g_next;
			if (!e->e_sq_head)
				e->e_sq_tail = NULL;
		}
		if (t->g_kind == AC__SIM_SEG_DATA) {
			e->e_sq_bytes -= k;
			e->e_unacked += k;
		}
		AC_ASSERT(e->e_sq_bytes >= 0 && e->e_unacked <= w->w_opts.tcp_rcvbuf);
		if (sim_tcp_put(w, e, t) < 0)
			return; /* the pump is not armed: only under ENOMEM */
	}
}

/* Move up to what is left of send op into e's send queue, as far as it
 * has room (in random pieces when partial); op->res counts the bytes
 * taken. Returns the bytes taken now, or -ENOMEM. */
static int64_t sim_tcp_take(ac_sim *w, ac__sim_ep *e, ac_op *op, int partial)
{
	const uint8_t *buf = op->buf;
	int64_t room = w->w_opts.tcp_sndbuf - e->e_sq_bytes, took = 0;
	AC_ASSERT(op->res >= 0 && (uint64_t)op->res <= op->len);
	while (room > 0 && (uint64_t)op->res < op->len) {
		uint64_t k = op->len - (uint64_t)op->res;
		ac__sim_seg *g;
		if (k > (uint64_t)room)
			k = (uint64_t)room;
		if (k > SIM_SEG_MAX)
			k = SIM_SEG_MAX;
		if (partial && k > 1)
			k = (uint64_t)ac__sim_rng_range(&w->w_rng, 1, (int64_t)k);
		g = sim_seg_new(AC__SIM_SEG_DATA, buf + op->res, (uint32_t)k);
		if (!g)
			return -ENOMEM;
		sim_sq_append(e, g);
		op->res += (int64_t)k;
		room -= (int64_t)k;
		took += (int64_t)k;
	}
	return took;
}

/* Queue the FIN that waited for e's pending sends once none is left. */
static void sim_tcp_fin_check(ac_sim *w, ac__sim_ep *e)
{
	ac__sim_seg *g;
	if (!e->e_fin_wait || e->e_txops.l_head)
		return;
	g = sim_seg_new(AC__SIM_SEG_FIN, NULL, 0);
	if (!g)
		return; /* tried again at the next window update */
	e->e_fin_wait = 0;
	sim_sq_append(e, g);
	sim_tcp_xmit(w, e);
}

/* Serve e's waiting sends from the room in its send queue and transmit,
 * until neither moves. */
static void sim_tcp_flow(ac_sim *w, ac__sim_ep *e)
{
	ac_op *op;
	for (;;) {
		int64_t took = 0;
		sim_tcp_xmit(w, e);
		while ((op = e->e_txops.l_head) != NULL) {
			int64_t k = sim_tcp_take(w, e, op, 0);
			if (k < 0) {
				ac__sim_op_complete(e->e_node, op, k);
				continue;
			}
			took += k;
			if ((uint64_t)op->res < op->len)
				break;
			ac__sim_op_complete(e->e_node, op, (int64_t)op->len);
		}
		if (!took)
			break;
	}
	sim_tcp_fin_check(w, e);
}

/* k bytes that e transmitted are acknowledged: the window reopens. */
static void sim_tcp_credit(ac_sim *w, ac__sim_ep *e, int64_t k)
{
	if (e->e_rx_err || k <= 0)
		return; /* a reset stream has nothing in flight any more */
	AC_ASSERT(k <= e->e_unacked);
	e->e_unacked -= k;
	sim_tcp_flow(w, e);
}

/* Reader p tells its writer about the bytes it read (coalesced into a
 * window update still queued). */
static void sim_tcp_wnd_send(ac_sim *w, ac__sim_ep *p)
{
	ac__sim_seg *t = p->e_out_tail;
	uint64_t v = (uint64_t)p->e_wnd_owed, old;
	if (!p->e_peer || p->e_rx_err)
		return;
	if (t && t->g_kind == AC__SIM_SEG_WND) {
		memcpy(&old, t->g_data, sizeof(old));
		v += old;
		memcpy(t->g_data, &v, sizeof(v));
	} else if (sim_tcp_queue(w, p, AC__SIM_SEG_WND, &v, sizeof(v)) < 0) {
		return; /* owed still: sent with the next read */
	}
	p->e_wnd_owed = 0;
}

/* Copy up to len received bytes of e into buf (fewer when a partial read is
 * drawn); returns the count (> 0: e has data). */
static size_t sim_tcp_read(ac_sim *w, ac__sim_ep *e, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;
	AC_ASSERT(e->e_rx_head != NULL);
	AC_ASSERT(len > 0);
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
	AC_ASSERT(got > 0 && got <= len);
	e->e_rx_bytes -= (int64_t)got;
	e->e_wnd_owed += (int64_t)got;
	AC_ASSERT(e->e_rx_bytes >= 0 && (e->e_rx_bytes == 0) == !e->e_rx_head);
	if (!e->e_rx_head || e->e_wnd_owed >= w->w_opts.tcp_rcvbuf / 4)
		sim_tcp_wnd_send(w, e);
	return got;
}

/* Complete pending recvs of e from what it has received. */
static void sim_tcp_serve(ac_sim *w, ac__sim_ep *e)
{
	ac_sim_node *n = e->e_node;
	ac_op *op;
	AC_ASSERT(e->e_kind == AC__SIM_EP_TCP);
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
	/* A recv still waits only when there is nothing to give it. */
	if (e->e_rxops.l_head)
		AC_ASSERT(!e->e_rx_head && !e->e_rx_err && !e->e_rx_eof);
}

/* e learns that the connection is reset. */
static void sim_tcp_reset_local(ac_sim *w, ac__sim_ep *e)
{
	e->e_rx_err = -ECONNRESET;
	ac__sim_segs_free(&e->e_rx_head, &e->e_rx_tail);
	ac__sim_segs_free(&e->e_out_head, &e->e_out_tail);
	sim_sq_drop(e);
	e->e_rx_bytes = e->e_wnd_owed = e->e_unacked = 0;
	e->e_fin_wait = 0;
	sim_tcp_serve(w, e);
	ac__sim_oplist_fail(e->e_node, &e->e_txops, -ECONNRESET);
	AC_ASSERT(e->e_rxops.l_head == NULL);
	AC_ASSERT(e->e_out_head == NULL && e->e_rx_head == NULL);
}

/* A connect fails with err: the op completes, the endpoint closes. */
static void sim_connect_fail(ac_sim *w, ac__sim_ep *e, int err)
{
	ac_sim_node *n = e->e_node;
	AC_ASSERT(e->e_open);
	AC_ASSERT(e->e_state == AC__SIM_TCP_CONNECTING);
	AC_ASSERT(err < 0);
	e->e_state = AC__SIM_TCP_FAILED;
	if (e->e_conn.l_head)
		ac__sim_op_complete(n, e->e_conn.l_head, err);
	AC_ASSERT(e->e_conn.l_head == NULL);
	ac__sim_h_free(n, e->e_h);
	e->e_h = -1;
	e->e_open = 0;
	w->w_stats.tcp_refused++;
	ac__sim_trace(w, AC__SIM_T_REFUSE, n->n_idx, e->e_id, (uint64_t)err);
	ac__sim_ep_detach(w, e);
	ac__sim_ep_put(w, e);
}

/* The SYNACK arrives at the connecting end e: the connect completes (or,
 * when e was closed meanwhile, the server end gets a reset). */
static void sim_tcp_synack(ac_sim *w, ac__sim_ep *e)
{
	ac_sim_node *n = e->e_node;
	AC_ASSERT(e->e_kind == AC__SIM_EP_TCP);
	/* Only a closed end lets go of its peer (which sent this). */
	if (e->e_open)
		AC_ASSERT(e->e_peer != NULL);
	if (!e->e_open) {
		sim_tcp_queue(w, e, AC__SIM_SEG_RST, NULL, 0);
		return;
	}
	if (e->e_state != AC__SIM_TCP_CONNECTING || !e->e_conn.l_head)
		return;
	/* Open with a pending connect: connect gave it a handle. */
	AC_ASSERT(e->e_h >= 0 && n->n_h[e->e_h].h_ptr == e);
	e->e_state = AC__SIM_TCP_OPEN;
	w->w_stats.tcp_conns++;
	ac__sim_trace(w, AC__SIM_T_ESTAB, n->n_idx, e->e_id, (uint64_t)e->e_h);
	ac__sim_op_complete(n, e->e_conn.l_head, e->e_h);
}

/* A window update of k bytes arrives at end p. */
static void sim_tcp_wnd_arrive(ac_sim *w, ac__sim_ep *p, uint64_t k)
{
	if (p->e_rx_err)
		return;
	w->w_stats.tcp_window_updates++;
	ac__sim_trace(w, AC__SIM_T_WND, p->e_node->n_idx, p->e_id, k);
	sim_tcp_credit(w, p, (int64_t)k);
}

/* Segment g from end e arrives at end p (g is consumed). Returns the data
 * bytes that p could not take (dropped: e is to be credited for them). */
static uint32_t sim_tcp_arrive(ac_sim *w, ac__sim_ep *e, ac__sim_ep *p,
                               ac__sim_seg *g)
{
	uint32_t node = p->e_node->n_idx;
	AC_ASSERT(p->e_kind == AC__SIM_EP_TCP && e->e_peer == p);
	/* Nothing reads a segment before it arrives. */
	AC_ASSERT(g->g_off == 0 && g->g_ready <= w->w_now);
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
		p->e_rx_bytes += g->g_len;
		/* The window bounds what the reader holds. */
		AC_ASSERT(p->e_rx_bytes <= w->w_opts.tcp_rcvbuf);
		sim_tcp_serve(w, p);
		return 0;
	}
	if (g->g_kind == AC__SIM_SEG_DATA) {
		uint32_t dropped = g->g_len;
		free(g);
		return dropped;
	}
	if (g->g_kind == AC__SIM_SEG_WND) {
		uint64_t k;
		memcpy(&k, g->g_data, sizeof(k));
		sim_tcp_wnd_arrive(w, p, k);
	} else if (g->g_kind == AC__SIM_SEG_SYNACK)
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
	return 0;
}

/* The PUMP event of end e: move due segments to the peer. */
static void sim_pump(ac_sim *w, ac__sim_ep *e)
{
	ac__sim_seg *g;
	int64_t dropped = 0;
	int armed;
	/* The event's reference keeps e. */
	AC_ASSERT(e->e_pumping && e->e_refs > 0);
	e->e_pumping = 0;
	while ((g = e->e_out_head) != NULL) {
		ac__sim_ep *p = e->e_peer;
		const ac__sim_link *k;
		if (!p) {
			for (; g; g = g->g_next)
				ac__sim_cap_seg(w, e, NULL, g, AC__SIM_CAP_GONE);
			ac__sim_segs_free(&e->e_out_head, &e->e_out_tail);
			break;
		}
		k = ac__sim_link_of(w, e->e_node->n_idx, p->e_node->n_idx);
		if (g->g_ready > w->w_now) {
			sim_pump_arm(w, e, g->g_ready);
			break;
		}
		if (k->k_cut_until > w->w_now) {
			ac__sim_cap_seg(w, e, p, g, AC__SIM_CAP_CUT);
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
		ac__sim_cap_seg(w, e, p, g, AC__SIM_CAP_OK);
		e->e_out_head = g->g_next;
		if (!e->e_out_head)
			e->e_out_tail = NULL;
		dropped += sim_tcp_arrive(w, e, p, g);
	}
	/* Re-armed by the loop: the event's reference goes to the new event
	 * (one that sim_tcp_put arms below takes a reference of its own). */
	armed = e->e_pumping;
	sim_tcp_credit(w, e, dropped);
	if (armed)
		return;
	ac__sim_ep_detach(w, e);
	ac__sim_ep_put(w, e);
}

/* ---- TCP: listen and connect ----------------------------------------------------- */

int ac__sim_tcp_listen(ac_io *io, const ac_addr *addr, int backlog,
                       int flags, int *h_out)
{
	ac__sim_ep *e;
	int h;
	if (!h_out)
		return -EINVAL;
	h = ac__sim_bind(ac__sim_io_node(io), AC__SIM_EP_LISTEN, addr, flags, &e);
	if (h < 0)
		return h;
	if (backlog < 1)
		backlog = 1;
	e->e_bl_max = backlog > AC__SIM_BACKLOG_MAX ? AC__SIM_BACKLOG_MAX
	                                            : backlog;
	*h_out = h;
	return 0;
}

/* Retransmit e's SYN to node d later, or fail the connect. */
static void sim_syn_retry(ac_sim *w, ac__sim_ep *e, uint32_t d)
{
	int64_t wait;
	int rc;
	/* Only a live connect retries (the callers check). */
	AC_ASSERT(e->e_open && e->e_state == AC__SIM_TCP_CONNECTING);
	AC_ASSERT(d < w->w_nnodes);
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
	int64_t t;
	AC_ASSERT(e->e_open && e->e_state == AC__SIM_TCP_CONNECTING);
	AC_ASSERT(d < w->w_nnodes);
	t = w->w_now + ac__sim_latency(w, d, e->e_node->n_idx);
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
		if (ac__sim_ip_any(&e->e_local) || ac__sim_ip_eq(&e->e_local, dst))
			found[k++] = e;
	}
	if (k == 0)
		return NULL;
	AC_ASSERT(found[src->port % k]->e_node == d);
	return found[src->port % k];
}

/* Hand a new server end s to listener l: to a pending accept or the
 * backlog. */
static void sim_listener_offer(ac_sim *w, ac__sim_ep *l, ac__sim_ep *s)
{
	ac_sim_node *d = l->e_node;
	ac_op *op = l->e_rxops.l_head;
	int h;
	AC_ASSERT(l->e_kind == AC__SIM_EP_LISTEN && s->e_kind == AC__SIM_EP_TCP);
	AC_ASSERT(s->e_h < 0 && s->e_bl_next == NULL);
	if (!op) {
		if (l->e_bl_tail)
			l->e_bl_tail->e_bl_next = s;
		else
			l->e_bl_head = s;
		l->e_bl_tail = s;
		l->e_bl_n++;
		/* A SYN meeting a full backlog waits (sim_syn). */
		AC_ASSERT(l->e_bl_n <= l->e_bl_max);
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
	ac__sim_ep *s;
	/* One SYN event per connect at a time: e is not accepted yet. */
	AC_ASSERT(e->e_peer == NULL);
	AC_ASSERT(l->e_node == d);
	s = ac__sim_ep_new(d, AC__SIM_EP_TCP);
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
		ac__sim_ep_detach(w, s);
		ac__sim_ep_put(w, s);
		return -ENOMEM;
	}
	ac__sim_trace(w, AC__SIM_T_ACCEPT, d->n_idx, e->e_node->n_idx,
	              e->e_remote.port);
	AC_ASSERT(e->e_peer == s && s->e_peer == e);
	sim_listener_offer(w, l, s);
	return 0;
}

/* The SYN of e arrives at node d (the event's reference is ours). */
static void sim_syn(ac_sim *w, ac__sim_ep *e, uint32_t d)
{
	ac_sim_node *dn;
	const ac__sim_link *k;
	ac__sim_ep *l;
	AC_ASSERT(d < w->w_nnodes);
	AC_ASSERT(e->e_kind == AC__SIM_EP_TCP && e->e_refs > 0);
	dn = w->w_nodes[d];
	k = ac__sim_link_of(w, e->e_node->n_idx, d);
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
		ac__sim_cap_syn(w, e, d, AC__SIM_CAP_CUT);
		sim_syn_retry(w, e, d);
		return;
	}
	l = dn->n_up && !dn->n_crashing
	    ? sim_find_listener(dn, &e->e_remote, &e->e_local) : NULL;
	if (!l) {
		ac__sim_cap_syn(w, e, d, AC__SIM_CAP_OK);
		sim_refuse(w, e, d);
		return;
	}
	if (l->e_bl_n >= l->e_bl_max && !l->e_rxops.l_head) {
		ac__sim_cap_syn(w, e, d, AC__SIM_CAP_BACKLOG);
		sim_syn_retry(w, e, d);
		return;
	}
	ac__sim_cap_syn(w, e, d, AC__SIM_CAP_OK);
	if (sim_accept_syn(w, e, dn, l) < 0)
		sim_connect_fail(w, e, -ENOMEM);
	ac__sim_ep_put(w, e);
}

/* The answer to e's SYN arrives: refused (the event's reference is ours). */
static void sim_refuse_ev(ac_sim *w, ac__sim_ep *e, uint32_t d, int err)
{
	AC_ASSERT(err < 0);
	AC_ASSERT(d == UINT32_MAX || d < w->w_nnodes);
	if (!e->e_open || e->e_state != AC__SIM_TCP_CONNECTING) {
		ac__sim_ep_put(w, e);
		return;
	}
	if (d != UINT32_MAX &&
	    ac__sim_link_of(w, d, e->e_node->n_idx)->k_cut_until > w->w_now) {
		ac__sim_cap_refuse(w, e, d, AC__SIM_CAP_CUT);
		sim_syn_retry(w, e, d);
		return;
	}
	ac__sim_cap_refuse(w, e, d, AC__SIM_CAP_OK);
	sim_connect_fail(w, e, err);
	ac__sim_ep_put(w, e);
}

int ac__sim_connect(ac_io *io, ac_op *op)
{
	ac_sim_node *n = ac__sim_io_node(io), *d;
	ac_sim *w = n->n_world;
	ac__sim_ep *e;
	int rc = ac__sim_node_usable(n), h;
	if (rc == 0)
		rc = ac__sim_op_args(op, AC_OP_CONNECT);
	if (rc < 0)
		return rc;
	op->type = AC_OP_CONNECT;
	op->h = -1;
	rc = ac__sim_route(n, &op->addr, &d);
	if (rc < 0)
		return rc;
	e = ac__sim_ep_new(n, AC__SIM_EP_TCP);
	if (!e)
		return -ENOMEM;
	e->e_state = AC__SIM_TCP_CONNECTING;
	e->e_remote = op->addr;
	e->e_local = n->n_addr;
	if (d == n && (ac__sim_ip_loopback(&op->addr) ||
	               ac__sim_ip_any(&op->addr))) {
		ac__sim_ip_set_loopback(&e->e_local);
		ac__sim_ip_set_loopback(&e->e_remote);
	}
	e->e_local.port = ac__sim_ephemeral(n, 0);
	h = e->e_local.port ? ac__sim_h_alloc(n, AC__SIM_H_EP, e) : -EADDRNOTAVAIL;
	if (h >= 0) {
		/* Like epoll, the op names the new socket from the start. */
		e->e_h = op->h = h;
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
		e->e_h = op->h = -1;
		ac__sim_ep_put(w, e);
		return h;
	}
	e->e_refs++;
	/* The application's reference and the SYN (or REFUSE) event's. */
	AC_ASSERT(e->e_refs == 2 && e->e_h == h);
	ac__sim_op_wait(n, &e->e_conn, op, e);
	ac__sim_trace(w, AC__SIM_T_CONNECT, n->n_idx, d ? d->n_idx : UINT32_MAX,
	              op->addr.port);
	return AC_IO_PENDING;
}

void ac__sim_connect_abort(ac_sim_node *n, ac__sim_ep *e)
{
	ac_sim *w = n->n_world;
	AC_ASSERT(e->e_kind == AC__SIM_EP_TCP && e->e_open);
	/* The connect was pending: not completed, not failed. */
	AC_ASSERT(e->e_state == AC__SIM_TCP_CONNECTING && e->e_h >= 0);
	e->e_state = AC__SIM_TCP_FAILED;
	ac__sim_h_free(n, e->e_h);
	e->e_h = -1;
	e->e_open = 0;
	sim_tcp_queue(w, e, AC__SIM_SEG_RST, NULL, 0);
	ac__sim_ep_detach(w, e);
	ac__sim_ep_put(w, e);
}

/* ---- TCP: accept, recv, send, shutdown ------------------------------------------- */

int ac__sim_accept(ac_io *io, int h, ac_op *op)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac__sim_ep *e, *c;
	int rc = ac__sim_h_ep(n, h, &e), hc;
	if (rc < 0)
		return rc;
	if (e->e_kind != AC__SIM_EP_LISTEN)
		return -EINVAL;
	if ((rc = ac__sim_op_args(op, AC_OP_ACCEPT)) < 0)
		return rc;
	op->type = AC_OP_ACCEPT;
	op->h = h;
	c = e->e_bl_head;
	if (!c || e->e_rxops.l_head) {
		ac__sim_op_wait(n, &e->e_rxops, op, e);
		return AC_IO_PENDING;
	}
	/* Backlog ends are open, TCP, and have no handle yet. */
	AC_ASSERT(c->e_kind == AC__SIM_EP_TCP && c->e_open && c->e_h < 0);
	hc = ac__sim_h_alloc(n, AC__SIM_H_EP, c);
	if (hc < 0)
		return hc;
	e->e_bl_head = c->e_bl_next;
	if (!e->e_bl_head)
		e->e_bl_tail = NULL;
	c->e_bl_next = NULL;
	e->e_bl_n--;
	AC_ASSERT(e->e_bl_n >= 0 && (e->e_bl_n == 0) == (e->e_bl_head == NULL));
	c->e_h = hc;
	op->addr = c->e_remote;
	return ac__sim_op_now(n, op, hc);
}

/* The TCP connection end behind handle h, open for data: -EBADF, -EINVAL
 * (a listener or UDP socket) or -ENOTCONN (not connected yet or any
 * more), as on epoll. */
static int sim_tcp_get(ac_sim_node *n, int h, ac__sim_ep **out)
{
	int rc = ac__sim_h_ep(n, h, out);
	if (rc < 0)
		return rc;
	if ((*out)->e_kind != AC__SIM_EP_TCP)
		return -EINVAL;
	if ((*out)->e_state != AC__SIM_TCP_OPEN)
		return -ENOTCONN;
	AC_ASSERT((*out)->e_node == n && (*out)->e_open);
	return 0;
}

int ac__sim_recv(ac_io *io, int h, ac_op *op)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac__sim_ep *e;
	int rc = sim_tcp_get(n, h, &e);
	if (rc == 0)
		rc = ac__sim_op_args(op, AC_OP_RECV);
	if (rc < 0)
		return rc;
	op->type = AC_OP_RECV;
	op->h = h;
	if (!e->e_rxops.l_head) {
		if (e->e_rx_head)
			return ac__sim_op_now(n, op, (int64_t)sim_tcp_read(n->n_world,
			                      e, op->buf, op->len));
		if (e->e_rx_err)
			return e->e_rx_err;
		if (e->e_rx_eof)
			return ac__sim_op_now(n, op, 0);
	}
	/* It waits behind another recv, or for something to arrive. */
	AC_ASSERT(e->e_rxops.l_head != NULL ||
	          (!e->e_rx_head && !e->e_rx_err && !e->e_rx_eof));
	ac__sim_op_wait(n, &e->e_rxops, op, e);
	return AC_IO_PENDING;
}

/* Reset the connection from this end (random close). */
static void sim_tcp_abort(ac_sim *w, ac__sim_ep *e)
{
	AC_ASSERT(e->e_state == AC__SIM_TCP_OPEN && !e->e_rx_err);
	ac__sim_trace(w, AC__SIM_T_RST, e->e_node->n_idx, e->e_id, 1);
	sim_tcp_reset_local(w, e);
	sim_tcp_queue(w, e, AC__SIM_SEG_RST, NULL, 0);
	AC_ASSERT(e->e_rx_err == -ECONNRESET);
}

int ac__sim_send(ac_io *io, int h, ac_op *op)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac_sim *w = n->n_world;
	ac__sim_ep *e;
	int64_t took;
	int rc = sim_tcp_get(n, h, &e), partial;
	if (rc == 0)
		rc = ac__sim_op_args(op, AC_OP_SEND);
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
	if ((w->w_opts.faults_until_ns <= 0 || w->w_now < w->w_opts.faults_until_ns) &&
	    ac__sim_rng_chance(&w->w_rng, w->w_opts.tcp_close_prob)) {
		sim_tcp_abort(w, e);
		return -ECONNRESET;
	}
	op->res = 0;
	if (e->e_txops.l_head) {
		/* Behind an earlier send that waits for room. */
		w->w_stats.tcp_send_waits++;
		ac__sim_op_wait(n, &e->e_txops, op, e);
		return AC_IO_PENDING;
	}
	partial = ac__sim_rng_chance(&w->w_rng, w->w_opts.partial_prob);
	took = sim_tcp_take(w, e, op, partial);
	if (took < 0 && op->res == 0)
		return -ENOMEM;
	if ((uint64_t)op->res < op->len) {
		/* Part of it (maybe nothing) is in the stream; the rest waits
		 * for room (a partial write) — what the window admits now is
		 * transmitted and makes room at once. */
		w->w_stats.tcp_send_waits++;
		ac__sim_op_wait(n, &e->e_txops, op, e);
		sim_tcp_flow(w, e);
		return AC_IO_PENDING;
	}
	sim_tcp_xmit(w, e);
	if (!partial)
		return ac__sim_op_now(n, op, (int64_t)op->len);
	ac__sim_op_wait(n, &n->n_done, op, NULL);
	return AC_IO_PENDING;
}

/* Queue a FIN behind e's unsent data and its pending sends (it waits for
 * them), and transmit what may go. */
static int sim_tcp_fin(ac_sim *w, ac__sim_ep *e)
{
	ac__sim_seg *g;
	if (e->e_txops.l_head) {
		e->e_fin_wait = 1;
		return 0;
	}
	g = sim_seg_new(AC__SIM_SEG_FIN, NULL, 0);
	if (!g)
		return -ENOMEM;
	sim_sq_append(e, g);
	sim_tcp_xmit(w, e);
	return 0;
}

void ac__sim_tcp_send_cancelled(ac_sim *w, ac__sim_ep *e)
{
	AC_ASSERT(e->e_kind == AC__SIM_EP_TCP);
	sim_tcp_fin_check(w, e);
}

int ac__sim_shutdown(ac_io *io, int h)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac__sim_ep *e;
	int rc = sim_tcp_get(n, h, &e);
	if (rc < 0)
		return rc;
	if (!e->e_tx_shut && !e->e_rx_err && sim_tcp_fin(n->n_world, e) < 0)
		return -ENOMEM;
	e->e_tx_shut = 1;
	AC_ASSERT(e->e_open && e->e_h == h);
	return 0;
}

int ac__sim_peer_addr(ac_io *io, int h, ac_addr *out)
{
	ac__sim_ep *e;
	int rc = sim_tcp_get(ac__sim_io_node(io), h, &e);
	if (rc == -EINVAL)
		return -ENOTCONN; /* getpeername of a listener or UDP socket */
	if (rc < 0)
		return rc;
	AC_ASSERT(e->e_remote.family == AC_AF_INET && e->e_remote.port != 0);
	*out = e->e_remote;
	return 0;
}

/* ---- TCP: closing and vanishing -------------------------------------------------- */

/* A connection end the application never took (backlog) is reset. */
static void sim_tcp_kill(ac_sim *w, ac__sim_ep *c)
{
	AC_ASSERT(c->e_kind == AC__SIM_EP_TCP && c->e_open);
	AC_ASSERT(c->e_h < 0);
	c->e_open = 0;
	c->e_bl_next = NULL;
	if (!c->e_rx_err)
		sim_tcp_queue(w, c, AC__SIM_SEG_RST, NULL, 0);
	ac__sim_ep_detach(w, c);
	ac__sim_ep_put(w, c);
}

/* Reset every connection in listener l's backlog. */
static void sim_backlog_kill(ac_sim *w, ac__sim_ep *l)
{
	int k = 0;
	AC_ASSERT(l->e_kind == AC__SIM_EP_LISTEN);
	while (l->e_bl_head) {
		ac__sim_ep *c = l->e_bl_head;
		l->e_bl_head = c->e_bl_next;
		sim_tcp_kill(w, c);
		k++;
	}
	AC_ASSERT(k == l->e_bl_n);
	l->e_bl_tail = NULL;
	l->e_bl_n = 0;
}

/* The application lets go of e: what it did not read is dropped and
 * acknowledged to the writer at once (with what it read and not yet
 * acknowledged). */
static void sim_tcp_forget_rx(ac_sim *w, ac__sim_ep *e)
{
	ac__sim_ep *p = e->e_peer;
	int64_t k = e->e_rx_bytes + e->e_wnd_owed;
	ac__sim_segs_free(&e->e_rx_head, &e->e_rx_tail);
	e->e_rx_bytes = e->e_wnd_owed = 0;
	if (p && p->e_peer == e)
		sim_tcp_credit(w, p, k);
}

void ac__sim_tcp_close(ac_sim *w, ac__sim_ep *e)
{
	AC_ASSERT(e->e_kind == AC__SIM_EP_LISTEN || e->e_kind == AC__SIM_EP_TCP);
	if (e->e_kind == AC__SIM_EP_LISTEN) {
		sim_backlog_kill(w, e);
	} else {
		/* Pending sends were failed: a FIN waiting for them goes. */
		AC_ASSERT(e->e_txops.l_head == NULL);
		if (e->e_state == AC__SIM_TCP_OPEN && !e->e_tx_shut &&
		    !e->e_rx_err)
			sim_tcp_fin(w, e);
		sim_tcp_fin_check(w, e);
		sim_tcp_forget_rx(w, e);
	}
	AC_ASSERT(e->e_bl_head == NULL && e->e_bl_n == 0);
}

void ac__sim_tcp_vanish(ac_sim *w, ac__sim_ep *e)
{
	AC_ASSERT(e->e_kind == AC__SIM_EP_LISTEN || e->e_kind == AC__SIM_EP_TCP);
	if (e->e_kind == AC__SIM_EP_LISTEN)
		sim_backlog_kill(w, e);
	else if (!e->e_rx_err)
		sim_tcp_queue(w, e, AC__SIM_SEG_RST, NULL, 0);
	if (e->e_kind == AC__SIM_EP_TCP)
		sim_sq_drop(e);
	AC_ASSERT(e->e_bl_head == NULL && e->e_bl_n == 0);
}

void ac__sim_tcp_crash_orphans(ac_sim *w, ac_sim_node *n)
{
	ac__sim_ep *e;
	for (e = w->w_eps; e; e = e->e_wnext) {
		if (e->e_node != n || e->e_open || e->e_kind != AC__SIM_EP_TCP ||
		    !e->e_sq_head)
			continue;
		sim_sq_drop(e);
		if (!e->e_rx_err)
			sim_tcp_queue(w, e, AC__SIM_SEG_RST, NULL, 0);
		e->e_rx_err = -ECONNRESET;
	}
}

/* ---- TCP: events ------------------------------------------------------------------ */

void ac__sim_tcp_event(ac_sim *w, ac__sim_ev *ev)
{
	ac__sim_ep *e = ev->v_ptr;
	AC_ASSERT(e->e_kind == AC__SIM_EP_TCP);
	switch (ev->v_kind) {
	case AC__SIM_EV_PUMP:
		sim_pump(w, e);
		break;
	case AC__SIM_EV_SYN:
		sim_syn(w, e, ev->v_node);
		break;
	case AC__SIM_EV_REFUSE:
		sim_refuse_ev(w, e, ev->v_node, ev->v_arg);
		break;
	default:
		AC_ASSERT(!"not a TCP event");
	}
}
