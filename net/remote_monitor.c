/* net/remote_monitor.c: monitors across nodes and what ends a remote
 * coroutine — both ends of MONITOR (as a request: monitor a coroutine of
 * that node; one-way: a coroutine of that node made one of ours its monitor
 * with ac_notify), TERMINATE and FINISH, and the watch records behind "node
 * lost".
 *
 * Bodies: MONITOR [monitor target] → [rc]; TERMINATE [target none] → [rc];
 * FINISH [target timeout_ms] → [rc [kind aux from payload]] or [rc nil].
 *
 * A monitor of a remote coroutine is recorded per peer (ac__watch) before
 * the request goes out, so an exit racing the reply finds it: an exit
 * notification from the target's node consumes the record
 * (net/remote_msg.c); when the node is lost, the remaining records turn
 * into "node lost" exits. A late exit for a record already consumed is
 * dropped, so each monitor hears exactly once.
 *
 * FINISH may wait for the target to end: the handler decodes and checks
 * the request, then a coroutine of its own waits and replies, so the reader
 * keeps serving the connection meanwhile.
 */
#include "net/remote.h"

/* ---- watch records ---------------------------------------------------------------- */

/* Record that monitor (ours) watches target (p's); twice is once: 0,
 * -ENOBUFS over the node's max_peer_watches (logged once per peer),
 * -ENOMEM. O(1) on average. */
static int watch_add(ac_peer *p, ac_ref monitor, ac_ref target)
{
	ac_node *n = p->p_node;
	char text[AC_ADDR_STRLEN];
	int rc;
	if (!p->p_watches.rs_cap)
		p->p_watches.rs_key = ac__sched_hash_key(n->n_sched);
	rc = ac__refset_add(&p->p_watches, monitor, target, n->n_max_watches);
	if (rc == -ENOBUFS && !p->p_watch_logged) {
		p->p_watch_logged = 1;
		ac__nlog(n, AC_LOG_WARN,
		         "peer \"%s\" at %s: %u watch records (max_peer_watches): "
		         "more monitors are refused",
		         p->p_name, ac_addr_format(&p->p_loc, text, sizeof(text)),
		         (unsigned)p->p_watches.rs_n);
	}
	return rc < 0 ? rc : 0;
}

int ac__watch_take(ac_peer *p, ac_ref monitor, ac_ref target)
{
	return ac__refset_del(&p->p_watches, monitor, target);
}

void ac__watch_node_lost(ac_peer *p)
{
	ac_sched *s = p->p_node->n_sched;
	ac__refset w = p->p_watches;
	uint32_t i;
	/* Taken off the peer first: the exits go to coroutines of ours. */
	memset(&p->p_watches, 0, sizeof(p->p_watches));
	p->p_watches.rs_key = w.rs_key;
	p->p_watch_logged = 0;
	for (i = 0; i < w.rs_cap; i++) {
		const ac__refpair *e = &w.rs_tab[i];
		ac_msg *m;
		if (e->a.kind == AC_REF_NONE)
			continue;
		/* Monitors in records are ours: both callers of watch_add check. */
		AC_ASSERT(ac__ref_is_local(s, &e->a));
		m = ac__exit_msg(e->b, AC_EXIT_NODE_LOST, NULL, 0);
		if (m && ac__send_msg(s, e->a, m) < 0)
			ac_msg_free(m);
	}
	ac__refset_free(&w);
}

/* ---- the client ----------------------------------------------------------------------- */

int ac__remote_monitor(void *arg, ac_ref monitor, ac_ref target)
{
	ac_node *n = arg;
	int err, rc;
	ac_peer *p;
	if (!ac__ref_is_local(n->n_sched, &monitor))
		return -EINVAL; /* node-lost tracking needs a local monitor */
	p = ac__peer_for_ref(n, &target, &err);
	if (!p)
		return err;
	if (!ac__cur())
		return -EPERM;
	/* Record first: an exit racing the reply must find the record. */
	rc = watch_add(p, monitor, target);
	if (rc < 0)
		return rc;
	AC_ASSERT(p->p_watches.rs_n > 0);
	rc = ac__remote_rc(p, AC_WT_MONITOR, AC_REMOTE_WAIT_MS, "[r r]", monitor, target);
	if (rc < 0)
		ac__watch_take(p, monitor, target);
	return rc;
}

/* A local coroutine got a monitor on another node (ac_notify): a one-way
 * MONITOR tells that node to record the watch; per-pair order puts it
 * before any exit message of the target. */
int ac__remote_watched(void *arg, ac_ref monitor, ac_ref target)
{
	ac_node *n = arg;
	void *body;
	size_t len;
	int err, rc;
	ac_peer *p = ac__peer_for_ref(n, &monitor, &err);
	/* The engine calls this for a target of ours and a monitor elsewhere. */
	AC_ASSERT(ac__ref_is_local(n->n_sched, &target));
	AC_ASSERT(!ac__ref_is_local(n->n_sched, &monitor));
	if (!p)
		return err;
	rc = ac_pack(&body, &len, "[r r]", monitor, target);
	if (rc < 0)
		return rc;
	rc = ac__peer_queue(p, AC_WT_MONITOR, 0, 0, body, len, NULL);
	ac__free(body);
	return rc;
}

int ac__remote_terminate(void *arg, ac_ref target)
{
	ac_node *n = arg;
	int err;
	ac_peer *p = ac__peer_for_ref(n, &target, &err);
	if (!p)
		return err;
	if (!ac__cur())
		return -EPERM;
	return ac__remote_rc(p, AC_WT_TERMINATE, AC_REMOTE_WAIT_MS, "[r r]", target,
	                     ac_ref_null());
}

int ac__remote_finish(void *arg, ac_ref target, int64_t timeout_ms,
                      ac_msg **exit_msg)
{
	ac_node *n = arg;
	ac__pending pend;
	int64_t r = 0;
	uint64_t kind, aux;
	ac_ref from;
	const void *data;
	size_t len;
	int err, rc;
	ac_peer *p = ac__peer_for_ref(n, &target, &err);
	if (!p)
		return err;
	if (!ac__cur())
		return -EPERM;
	rc = ac__remote_call(p, AC_WT_FINISH,
	                     timeout_ms < 0 ? AC_FOREVER : timeout_ms + 1000, &pend,
	                     "[r i]", target, (int64_t)timeout_ms);
	if (rc < 0)
		return rc;
	if (ac_unpack(pend.pd_body, pend.pd_len, "[i [u u r S]]", &r, &kind, &aux,
	              &from, &data, &len) < 0) {
		if (ac_unpack(pend.pd_body, pend.pd_len, "[i n]", &r) < 0 || r >= 0)
			r = -EPROTO;
	} else if (kind != AC_MSG_EXIT || !ac_ref_eq(from, target)) {
		r = -EPROTO; /* an exit notice of that coroutine, nothing else */
	} else if (exit_msg) {
		*exit_msg = ac__remote_msg_new(kind, aux, from, data, len);
		if (!*exit_msg)
			r = -EPROTO;
	}
	ac__free(pend.pd_body);
	return (int)r;
}

/* ---- the server ----------------------------------------------------------------------- */

/* The note sent by ac__remote_watched: a coroutine of ours monitors one of
 * p's. */
int ac__on_watched(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b,
                   size_t len)
{
	ac_ref mon, target;
	AC_ASSERT(h->req_id == 0);
	if (ac_unpack(b, len, "[r r]", &mon, &target) < 0 ||
	    mon.kind != AC_REF_CORO || target.kind != AC_REF_CORO ||
	    !ac_addr_eq(&target.loc, &p->p_loc))
		return -EBADMSG;
	if (!ac__remote_local(p->p_node, &mon))
		return 0; /* an earlier incarnation of ours: nobody to tell */
	/* Over the bound: dropped (logged); that monitor will hear nothing
	 * should this node be lost. */
	return watch_add(p, mon, target) == -ENOMEM ? -ENOMEM : 0;
}

/* A coroutine of p's (mon) monitors target, ours: recorded against p's
 * bound (max_peer_watches: -ENOBUFS over it, logged once per peer), then
 * added to the target's monitors. 0 or the error for the reply. */
static int monitoring_add(ac_peer *p, ac_ref mon, ac_ref target)
{
	ac_node *n = p->p_node;
	char text[AC_ADDR_STRLEN];
	int added, rc;
	if (!p->p_monitoring.rs_cap)
		p->p_monitoring.rs_key = ac__sched_hash_key(n->n_sched);
	added = ac__refset_add(&p->p_monitoring, mon, target, n->n_max_watches);
	if (added == -ENOBUFS && !p->p_monitoring_logged) {
		p->p_monitoring_logged = 1;
		ac__nlog(n, AC_LOG_WARN,
		         "peer \"%s\" at %s: %u monitors of its coroutines on ours "
		         "(max_peer_watches): more monitors are refused",
		         p->p_name, ac_addr_format(&p->p_loc, text, sizeof(text)),
		         (unsigned)p->p_monitoring.rs_n);
	}
	if (added < 0)
		return added;
	rc = ac_monitor_ref(mon, target);
	if (rc < 0 && added == 1)
		ac__refset_del(&p->p_monitoring, mon, target);
	return rc;
}

void ac__monitoring_done(ac_node *n, ac_ref mon, ac_ref target)
{
	ac_peer *p = ac__peer_find(n, &mon.loc);
	if (p && p->p_inc == mon.inc)
		ac__refset_del(&p->p_monitoring, mon, target);
}

int ac__on_monitor(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b,
                   size_t len)
{
	ac_node *n = p->p_node;
	ac_ref mon, target;
	int rc;
	AC_ASSERT(h->req_id != 0);
	if (ac_unpack(b, len, "[r r]", &mon, &target) < 0 ||
	    mon.kind != AC_REF_CORO || !ac_addr_eq(&mon.loc, &p->p_loc))
		return -EBADMSG;
	rc = ac__remote_local(n, &target) ? monitoring_add(p, mon, target) : -ESRCH;
	return ac__reply(p, AC_WT_MONITOR, h->req_id, "[i]", (int64_t)rc);
}

int ac__on_terminate(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b,
                     size_t len)
{
	ac_node *n = p->p_node;
	ac_ref target, none;
	ac_coro *c;
	int rc = -ESRCH;
	AC_ASSERT(h->req_id != 0);
	if (ac_unpack(b, len, "[r r]", &target, &none) < 0)
		return -EBADMSG;
	c = ac__remote_local(n, &target) ? ac__coro_get(n->n_sched, target) : NULL;
	/* Never the node's own service coroutines (acceptor, readers,
	 * writers, ...), whose ids a peer could guess. */
	if (c && c != n->n_sched->s_cur && !c->c_service)
		rc = ac_terminate(target);
	else if (c)
		rc = -EPERM;
	return ac__reply(p, AC_WT_TERMINATE, h->req_id, "[i]", (int64_t)rc);
}

/* A FINISH request, decoded and checked: what its coroutine needs. */
typedef struct finish_req {
	ac_peer *f_peer;
	uint32_t f_id;
	ac_ref f_target;
	int64_t f_timeout_ms;
} finish_req;

/* Wait for the target to end (up to the request's timeout) and reply. */
static void finish_body(void *arg)
{
	finish_req q = *(finish_req *)arg;
	ac_msg *exit_msg = NULL;
	int rc;
	ac__free(arg);
	AC_ASSERT(q.f_id != 0);
	rc = ac__remote_local(q.f_peer->p_node, &q.f_target)
	             ? ac_finish(q.f_target, q.f_timeout_ms, &exit_msg)
	             : -ESRCH;
	if (rc == 0 && exit_msg) {
		ac__reply(q.f_peer, AC_WT_FINISH, q.f_id, "[i [u u r S]]", (int64_t)0,
		          (uint64_t)exit_msg->m_kind, (uint64_t)exit_msg->m_aux,
		          exit_msg->m_from, exit_msg->m_data, exit_msg->m_len);
		ac_msg_free(exit_msg);
		return;
	}
	ac__reply(q.f_peer, AC_WT_FINISH, q.f_id, "[i n]",
	          (int64_t)(rc < 0 ? rc : -EIO));
}

int ac__on_finish(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b,
                  size_t len)
{
	finish_req *q;
	ac_ref target;
	int64_t timeout_ms;
	int rc;
	AC_ASSERT(h->req_id != 0);
	if (ac_unpack(b, len, "[r i]", &target, &timeout_ms) < 0)
		return -EBADMSG;
	q = ac__malloc(sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->f_peer = p;
	q->f_id = h->req_id;
	q->f_target = target;
	q->f_timeout_ms = timeout_ms;
	rc = ac__remote_spawn(p, finish_body, q, ac__free_fn);
	if (rc < 0) {
		ac__free(q);
		return ac__reply(p, AC_WT_FINISH, h->req_id, "[i n]", (int64_t)rc);
	}
	return 0;
}
