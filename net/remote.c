/* net/remote.c: refs of other nodes — the engine's remote hooks (send,
 * deliver, monitor, terminate, finish, channel operations), locate by name,
 * RCIs, and the handlers of the frames a peer sends after the handshake.
 *
 * Every field from the wire is decoded with a format that fixes its type and
 * checked before use: a ref must be of our incarnation to reach a local
 * object, names are bounded (AC_WIRE_NAME_MAX), kinds and channel
 * operations are range-checked. A frame that does not decode closes the
 * connection (the caller logs why); a well-formed request about something
 * that does not exist gets an error reply and changes nothing.
 *
 * Requests that may wait — FINISH and channel DELIVER — run in a coroutine
 * of their own, so the reader keeps serving the connection meanwhile.
 *
 * Monitors of remote coroutines are recorded per peer (ac__watch): an exit
 * message arriving from the target's node consumes the record; a lost node
 * turns the remaining records into "node lost" exits. A late exit message
 * for a record already consumed is dropped, so each monitor hears exactly
 * once.
 */
#include "net/net.h"

/* ---- messages on the wire -------------------------------------------------- */

int ac__msg_pack(const ac_msg *m, void **out, size_t *len)
{
	return ac_pack(out, len, "[u u r S]", (uint64_t)m->m_kind,
	               (uint64_t)m->m_aux, m->m_from, m->m_data, m->m_len);
}

/* Decode "[to kind aux from payload]"-style message fields into a new
 * message. Returns NULL on a bad value (kind out of range, too long). */
static ac_msg *remote_msg_new(uint64_t kind, uint64_t aux, ac_ref from,
                              const void *data, size_t len)
{
	ac_msg *m;
	/* AC_MSG_PEER too: a coroutine may pass on a peer-status message it
	 * received, and its node sends it like any other (check_net.c
	 * test_forward_kinds); refusing it here dropped the connection. */
	if (kind > AC_MSG_PEER || aux > 0xffff || len > AC_WIRE_PAYLOAD_MAX)
		return NULL;
	m = ac__msg_alloc(len);
	if (!m)
		return NULL;
	m->m_kind = (uint16_t)kind;
	m->m_aux = (uint16_t)aux;
	m->m_from = from;
	if (len)
		memcpy(m->m_data, data, len);
	return m;
}

int ac__reply(ac_peer *p, uint8_t type, uint32_t id, const char *fmt, ...)
{
	void *body;
	size_t len;
	int rc;
	va_list ap;
	ac_msg *tmp;
	va_start(ap, fmt);
	tmp = ac_msg_vpack(fmt, ap);
	va_end(ap);
	if (!tmp)
		return -ENOMEM;
	body = tmp->m_data;
	len = tmp->m_len;
	rc = ac__peer_queue(p, type, AC_WF_REPLY, id, body, len, NULL);
	ac_msg_free(tmp);
	return rc;
}

/* A local target of a request: its ref must be of our incarnation. */
static int handler_local(ac_node *n, const ac_ref *r)
{
	return ac__ref_is_local(n->n_sched, r);
}

/* ---- finding the peer of a ref -------------------------------------------------- */

ac_peer *ac__peer_for_ref(ac_node *n, const ac_ref *r, int *err)
{
	ac_peer *p;
	if (n->n_stopped) {
		*err = -ESHUTDOWN;
		return NULL;
	}
	p = ac__peer_find(n, &r->loc);
	if (!p || p->p_state == AC__PEER_OFFLINE) {
		*err = -EHOSTUNREACH;
		return NULL;
	}
	if (p->p_inc && p->p_inc != r->inc) {
		*err = -ESRCH; /* an earlier incarnation of that node */
		return NULL;
	}
	*err = 0;
	return p;
}

/* ---- the engine's remote hooks ---------------------------------------------------- */

/* An exit notification for a monitor on another node: unlike a send, it is
 * confirmed (AC_WT_EXIT request) and retried until the monitor's node has
 * it, restarted, or has been out of reach long enough to have reported
 * "node lost" itself (4 peer-lost timeouts + REMOTE_NOTIFY_MIN_NS), so a
 * connection lost on the way, or a peer briefly offline to us, cannot
 * swallow it; the receiver consumes the monitor's record, so a retry never
 * doubles it. */
#define REMOTE_NOTIFY_MIN_NS (30LL * 1000000000)
static int remote_call(ac_peer *p, uint8_t type, int64_t timeout_ms,
                       ac__pending *pend, const char *fmt, ...);

typedef struct notify_arg {
	ac_ref to;
	ac_msg *m;
} notify_arg;

static void notify_arg_free(void *arg)
{
	notify_arg *a = arg;
	ac_msg_free(a->m);
	free(a);
}

static void remote_notifier(void *arg)
{
	notify_arg a = *(notify_arg *)arg;
	ac_node *n = ac_node_of(ac_sched_self());
	int64_t give_up;
	free(arg);
	if (ac_coro_defer((void (*)(void *))ac_msg_free, a.m) < 0) {
		ac_msg_free(a.m);
		return;
	}
	if (!n)
		return;
	give_up = ac_sched_now_ns(n->n_sched) + REMOTE_NOTIFY_MIN_NS +
	          4 * n->n_lost_ns;
	while (!n->n_stopped && ac_sched_now_ns(n->n_sched) < give_up) {
		ac__pending pend;
		int64_t r = 0;
		int err, rc;
		ac_peer *p = ac__peer_for_ref(n, &a.to, &err);
		if (!p && err != -EHOSTUNREACH)
			return; /* its node restarted: that monitor is gone */
		if (!p) {
			/* Offline to us, maybe not to it: while it may still
			 * count us online, it waits for this exit (it reports
			 * "node lost" itself only once it gave up on us). */
			ac_sleep(200);
			continue;
		}
		rc = remote_call(p, AC_WT_EXIT, 2000, &pend, "[r u u r S]", a.to,
		                 (uint64_t)a.m->m_kind, (uint64_t)a.m->m_aux,
		                 a.m->m_from, a.m->m_data, a.m->m_len);
		if (rc == 0) {
			int ok = ac_unpack(pend.p_body, pend.p_len, "[i]", &r) == 0;
			free(pend.p_body);
			if (ok)
				return;
		}
		ac_sleep(200);
	}
}

static int remote_notify(ac_node *n, ac_ref to, ac_msg *m)
{
	ac_spawn_opts so = {.name = "ac-notify", .daemon = 1,
	                    .arg_free = notify_arg_free};
	notify_arg *a = malloc(sizeof(*a));
	int rc;
	if (!a)
		return -ENOMEM;
	a->to = to;
	a->m = m;
	rc = ac_spawn(n->n_sched, remote_notifier, a, &so, NULL);
	if (rc < 0)
		free(a);
	return rc;
}

static int remote_send(void *arg, ac_ref to, ac_msg *m)
{
	ac_node *n = arg;
	uint8_t *body;
	size_t len;
	int err;
	ac_peer *p = ac__peer_for_ref(n, &to, &err);
	if (!p) {
		if (err == -ESRCH) {
			ac_msg_free(m); /* its node restarted: the target is gone */
			return 0;
		}
		if (err == -EHOSTUNREACH && (m->m_pad & AC__MSG_NOTIFY))
			return remote_notify(n, to, m); /* it may be back soon */
		return err;
	}
	if (m->m_pad & AC__MSG_NOTIFY)
		return remote_notify(n, to, m);
	if (m->m_len > AC_WIRE_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (n->n_compress_min && m->m_len >= n->n_compress_min &&
	    (p->p_caps & n->n_caps & AC_CAP_ZLIB)) {
		/* Large: the generic path, which compresses. */
		void *b;
		int rc = ac_pack(&b, &len, "[r u u r S]", to, (uint64_t)m->m_kind,
		                 (uint64_t)m->m_aux, m->m_from, m->m_data, m->m_len);
		if (rc < 0)
			return rc;
		rc = ac__peer_queue(p, AC_WT_SEND, 0, 0, b, len, NULL);
		free(b);
		if (rc == 0)
			ac_msg_free(m);
		return rc;
	}
	body = ac__peer_reserve(p, AC__PACK_SEND_MAX + m->m_len);
	if (!body)
		return -ENOBUFS;
	len = ac__pack_send(body, &to, m);
	if (len == 0)
		return -EINVAL;
	AC_DASSERT(ac_unpack(body, len, "[r u u r S]", &(ac_ref){0},
	                     &(uint64_t){0}, &(uint64_t){0}, &(ac_ref){0},
	                     &(const void *){0}, &(size_t){0}) == 0);
	ac__peer_commit(p, AC_WT_SEND, 0, 0, len, NULL);
	ac_msg_free(m);
	return 0;
}

/* Send a request with a packed body and decode "[i ...]" replies: returns
 * the request's error or 0 with *pend holding the reply. */
static int remote_call(ac_peer *p, uint8_t type, int64_t timeout_ms,
                       ac__pending *pend, const char *fmt, ...)
{
	ac_msg *tmp;
	va_list ap;
	int rc;
	va_start(ap, fmt);
	tmp = ac_msg_vpack(fmt, ap);
	va_end(ap);
	if (!tmp)
		return -ENOMEM;
	/* The body is copied into the queue: free it before waiting, so a
	 * coroutine terminated while it waits leaves nothing behind. */
	rc = ac__request_start(p, type, tmp->m_data, tmp->m_len, pend);
	ac_msg_free(tmp);
	if (rc < 0)
		return rc;
	if (timeout_ms == 0)
		timeout_ms = 1; /* a request needs at least a moment */
	ac__request_wait(&pend, 1, ac__deadline(p->p_node->n_sched, timeout_ms));
	return pend->p_err;
}

static int remote_deliver(void *arg, ac_ref to, ac_msg *m, int64_t timeout_ms)
{
	ac_node *n = arg;
	ac__pending pend;
	int64_t r = 0;
	int err, rc;
	ac_peer *p = ac__peer_for_ref(n, &to, &err);
	if (!p)
		return err;
	if (!ac__cur())
		return -EPERM;
	/* As in remote_send: the peer would take a larger payload for a bad
	 * frame and close the connection (tests/check_net.c test_send_big). */
	if (m->m_len > AC_WIRE_PAYLOAD_MAX)
		return -EMSGSIZE;
	rc = remote_call(p, AC_WT_DELIVER, timeout_ms, &pend, "[r u u r S]", to,
	                 (uint64_t)m->m_kind, (uint64_t)m->m_aux, m->m_from,
	                 m->m_data, m->m_len);
	if (rc == -ETIMEDOUT) {
		ac_msg_free(m); /* outcome unknown */
		return 0;
	}
	if (rc < 0)
		return rc;
	if (ac_unpack(pend.p_body, pend.p_len, "[i]", &r) < 0)
		r = -EPROTO;
	free(pend.p_body);
	if (r == 1)
		ac_msg_free(m);
	return r == 1 ? 1 : (r < 0 ? (int)r : -EPROTO);
}

/* One "[i]" request: returns the remote rc. */
static int remote_rc(ac_peer *p, uint8_t type, int64_t timeout_ms,
                     const char *fmt, ac_ref a, ac_ref b)
{
	ac__pending pend;
	int64_t r = 0;
	int rc = remote_call(p, type, timeout_ms, &pend, fmt, a, b);
	if (rc < 0)
		return rc;
	if (ac_unpack(pend.p_body, pend.p_len, "[i]", &r) < 0 || r > 0 ||
	    r < -4095)
		r = -EPROTO;
	free(pend.p_body);
	return (int)r;
}

static int remote_watch_add(ac_peer *p, ac_ref monitor, ac_ref target)
{
	uint32_t i;
	for (i = 0; i < p->p_nwatch; i++)
		if (ac_ref_eq(p->p_watch[i].w_monitor, monitor) &&
		    ac_ref_eq(p->p_watch[i].w_target, target))
			return 0;
	if (p->p_nwatch == p->p_capwatch) {
		uint32_t cap = p->p_capwatch ? p->p_capwatch * 2 : 8;
		ac__watch *nw = realloc(p->p_watch, cap * sizeof(*nw));
		if (!nw)
			return -ENOMEM;
		p->p_watch = nw;
		p->p_capwatch = cap;
	}
	p->p_watch[p->p_nwatch].w_monitor = monitor;
	p->p_watch[p->p_nwatch].w_target = target;
	p->p_nwatch++;
	return 0;
}

/* Consume the watch (monitor, target): 1 when it was there. */
static int remote_watch_take(ac_peer *p, ac_ref monitor, ac_ref target)
{
	uint32_t i;
	for (i = 0; i < p->p_nwatch; i++) {
		if (ac_ref_eq(p->p_watch[i].w_monitor, monitor) &&
		    ac_ref_eq(p->p_watch[i].w_target, target)) {
			p->p_watch[i] = p->p_watch[--p->p_nwatch];
			return 1;
		}
	}
	return 0;
}

void ac__watch_node_lost(ac_peer *p)
{
	ac_sched *s = p->p_node->n_sched;
	while (p->p_nwatch) {
		ac__watch w = p->p_watch[--p->p_nwatch];
		ac_msg *m = ac__exit_msg(w.w_target, AC_EXIT_NODE_LOST, NULL, 0);
		if (m && ac__send_msg(s, w.w_monitor, m) < 0)
			ac_msg_free(m);
	}
}

static int remote_monitor(void *arg, ac_ref monitor, ac_ref target)
{
	ac_node *n = arg;
	int err, rc;
	ac_peer *p = ac__peer_for_ref(n, &target, &err);
	if (!p)
		return err;
	if (!ac__cur())
		return -EPERM;
	if (!ac__ref_is_local(n->n_sched, &monitor))
		return -EINVAL; /* node-lost tracking needs a local monitor */
	/* Record first: an exit racing the reply must find the record. */
	rc = remote_watch_add(p, monitor, target);
	if (rc < 0)
		return rc;
	rc = remote_rc(p, AC_WT_MONITOR, 10000, "[r r]", monitor, target);
	if (rc < 0)
		remote_watch_take(p, monitor, target);
	return rc;
}

static int remote_terminate(void *arg, ac_ref target)
{
	ac_node *n = arg;
	int err;
	ac_peer *p = ac__peer_for_ref(n, &target, &err);
	if (!p)
		return err;
	if (!ac__cur())
		return -EPERM;
	return remote_rc(p, AC_WT_TERMINATE, 10000, "[r r]", target,
	                 ac_ref_null());
}

static int remote_finish(void *arg, ac_ref target, int64_t timeout_ms,
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
	rc = remote_call(p, AC_WT_FINISH, timeout_ms < 0 ? AC_FOREVER
	                                                 : timeout_ms + 1000,
	                 &pend, "[r i]", target, (int64_t)timeout_ms);
	if (rc < 0)
		return rc;
	if (ac_unpack(pend.p_body, pend.p_len, "[i [u u r S]]", &r, &kind, &aux,
	              &from, &data, &len) < 0) {
		if (ac_unpack(pend.p_body, pend.p_len, "[i n]", &r) < 0 || r >= 0)
			r = -EPROTO;
	} else if (exit_msg) {
		*exit_msg = remote_msg_new(kind, aux, from, data, len);
		if (!*exit_msg)
			r = -EPROTO;
	}
	free(pend.p_body);
	return (int)r;
}

static int remote_chan_op(void *arg, int op, ac_ref chan, ac_ref sub,
                          ac_msg *m, int64_t timeout_ms, int nmin)
{
	ac_node *n = arg;
	ac__pending pend;
	ac_msg empty;
	int64_t r = 0;
	int err, rc;
	ac_peer *p = ac__peer_for_ref(n, &chan, &err);
	if (!p)
		return err == -ESRCH ? -ESRCH : err;
	memset(&empty, 0, sizeof(empty));
	if (!m)
		m = &empty;
	if (m->m_len > AC_WIRE_PAYLOAD_MAX)
		return -EMSGSIZE; /* see remote_deliver */
	if (op == AC__CHAN_SEND) {
		void *body;
		size_t len;
		rc = ac_pack(&body, &len, "[u r r [u u r S] i i]", (uint64_t)op,
		             chan, sub, (uint64_t)m->m_kind, (uint64_t)m->m_aux,
		             m->m_from, m->m_data, m->m_len, (int64_t)0, (int64_t)0);
		if (rc < 0)
			return rc;
		rc = ac__peer_queue(p, AC_WT_CHAN, 0, 0, body, len, NULL);
		free(body);
		if (rc == 0)
			ac_msg_free(m);
		return rc;
	}
	if (!ac__cur())
		return -EPERM;
	rc = remote_call(p, AC_WT_CHAN,
	                 timeout_ms < 0 ? AC_FOREVER : timeout_ms + 1000, &pend,
	                 "[u r r [u u r S] i i]", (uint64_t)op, chan, sub,
	                 (uint64_t)m->m_kind, (uint64_t)m->m_aux, m->m_from,
	                 m->m_data, m->m_len, (int64_t)timeout_ms, (int64_t)nmin);
	if (rc == -ETIMEDOUT && op == AC__CHAN_DELIVER) {
		ac_msg_free(m);
		return 0;
	}
	if (rc < 0)
		return rc;
	if (ac_unpack(pend.p_body, pend.p_len, "[i]", &r) < 0)
		r = -EPROTO;
	free(pend.p_body);
	if (op == AC__CHAN_DELIVER && r >= 0 && m != &empty)
		ac_msg_free(m);
	return (int)r;
}

static int remote_deliver_many(void *arg, const ac_ref *to, int n,
                               const ac_msg *m, int64_t timeout_ms)
{
	ac_node *node = arg;
	ac_sched *s = node->n_sched;
	ac__pending *pend = calloc((size_t)n, sizeof(*pend));
	ac__pending **pp = calloc((size_t)n, sizeof(*pp));
	int i, started = 0, count = 0;
	/* Too large for the wire (see remote_deliver): nobody gets it. */
	if (!pend || !pp || !ac__cur() || m->m_len > AC_WIRE_PAYLOAD_MAX) {
		free(pend);
		free(pp);
		return 0;
	}
	for (i = 0; i < n; i++) {
		int err;
		void *body;
		size_t len;
		ac_peer *p = ac__peer_for_ref(node, &to[i], &err);
		if (!p || ac_pack(&body, &len, "[r u u r S]", to[i],
		                  (uint64_t)m->m_kind, (uint64_t)m->m_aux,
		                  m->m_from, m->m_data, m->m_len) < 0)
			continue;
		if (ac__request_start(p, AC_WT_DELIVER, body, len, &pend[started]) == 0)
			pp[started] = &pend[started], started++;
		free(body);
	}
	ac__request_wait(pp, started, ac__deadline(s, timeout_ms == 0 ? 1
	                                                              : timeout_ms));
	for (i = 0; i < started; i++) {
		int64_t r = 0;
		if (pend[i].p_err == 0 &&
		    ac_unpack(pend[i].p_body, pend[i].p_len, "[i]", &r) == 0 && r == 1)
			count++;
		free(pend[i].p_body);
	}
	free(pend);
	free(pp);
	return count;
}

/* A local coroutine got a monitor on another node (ac_notify): a one-way
 * MONITOR tells that node to record the watch; per-pair order puts it
 * before any exit message of the target. */
static int remote_watched(void *arg, ac_ref monitor, ac_ref target)
{
	ac_node *n = arg;
	void *body;
	size_t len;
	int err, rc;
	ac_peer *p = ac__peer_for_ref(n, &monitor, &err);
	if (!p)
		return err;
	rc = ac_pack(&body, &len, "[r r]", monitor, target);
	if (rc < 0)
		return rc;
	rc = ac__peer_queue(p, AC_WT_MONITOR, 0, 0, body, len, NULL);
	free(body);
	return rc;
}

/* The note sent by remote_watched: a coroutine of ours monitors one of p's. */
static int handle_watched(ac_peer *p, const uint8_t *b, size_t len)
{
	ac_ref mon, target;
	if (ac_unpack(b, len, "[r r]", &mon, &target) < 0 ||
	    mon.kind != AC_REF_CORO || target.kind != AC_REF_CORO ||
	    !ac_addr_eq(&target.loc, &p->p_loc))
		return -EBADMSG;
	if (!handler_local(p->p_node, &mon))
		return 0; /* an earlier incarnation of ours: nobody to tell */
	return remote_watch_add(p, mon, target) < 0 ? -ENOMEM : 0;
}

const struct ac__remote_ops ac__net_remote_ops = {
	.watched = remote_watched,
	.deliver_many = remote_deliver_many,
	.send = remote_send,
	.deliver = remote_deliver,
	.monitor = remote_monitor,
	.terminate = remote_terminate,
	.finish = remote_finish,
	.chan_op = remote_chan_op,
};

/* ---- locate ------------------------------------------------------------------------- */

/* Ask peer p for name: 0 and *out, -ENOENT, or a request error. */
static int remote_locate_one(ac_peer *p, uint32_t kind, const char *name,
                             int64_t timeout_ms, ac_ref *out)
{
	ac__pending pend;
	int64_t r = 0;
	ac_ref ref;
	int rc = remote_call(p, AC_WT_LOCATE, timeout_ms, &pend, "[u s]",
	                     (uint64_t)kind, name);
	if (rc < 0)
		return rc;
	if (ac_unpack(pend.p_body, pend.p_len, "[i r]", &r, &ref) < 0 || r > 0)
		r = -EPROTO;
	free(pend.p_body);
	if (r == 0) {
		/* The answer must name an object of that node, of that kind. */
		if (ref.kind != kind || !ac_addr_eq(&ref.loc, &p->p_loc) ||
		    ref.inc != p->p_inc)
			return -EPROTO;
		*out = ref;
	}
	return (int)r;
}

/* One round over the candidates; 0 when found. */
static int remote_locate_round(ac_node *n, uint32_t kind, const char *name,
                               const ac_addr *loc, int64_t left_ms, ac_ref *out)
{
	uint32_t i;
	int64_t each = left_ms < 0 || left_ms > 2000 ? 2000 : left_ms;
	const ac__name *e;
	if (!loc || ac_addr_eq(loc, &n->n_loc)) {
		e = ac__name_find(n, kind, name);
		if (e) {
			*out = e->n_ref;
			return 0;
		}
		if (loc)
			return -ENOENT;
	}
	if (loc) {
		ac_peer *p = ac__peer_get(n, loc);
		if (!p)
			return -ENOMEM;
		return remote_locate_one(p, kind, name, each, out);
	}
	for (i = 0; i < n->n_npeers; i++) {
		ac_peer *p = n->n_peers[i];
		if (p->p_state == AC__PEER_ONLINE &&
		    remote_locate_one(p, kind, name, each, out) == 0)
			return 0;
	}
	return -ENOENT;
}

static int remote_locate(uint32_t kind, const char *name, const ac_addr *loc,
                         int64_t timeout_ms, ac_ref *out)
{
	ac_sched *s = ac__tls_sched;
	ac_node *n = ac_node_of(s);
	int64_t deadline;
	if (!name || !out || !*name || strlen(name) > AC_WIRE_NAME_MAX)
		return -EINVAL;
	if (!ac__cur())
		return -EPERM;
	if (!n) {
		/* No network: only this scheduler's objects (channels). */
		return -ENOTCONN;
	}
	deadline = ac__deadline(s, timeout_ms);
	for (;;) {
		int64_t left = deadline < 0 ? AC_FOREVER
		                            : (deadline - ac_sched_now_ns(s)) / 1000000;
		int rc;
		if (deadline >= 0 && left <= 0)
			return -ETIMEDOUT;
		rc = remote_locate_round(n, kind, name, loc, left, out);
		if (rc == 0)
			return 0;
		if (n->n_stopped)
			return -ESHUTDOWN;
		left = deadline < 0 ? 200 : (deadline - ac_sched_now_ns(s)) / 1000000;
		if (left <= 0)
			return -ETIMEDOUT;
		/* Wait for a new peer, or retry soon (the name may appear). */
		ac_waitq_wait(&n->n_peer_wq, left < 200 ? left : 200);
	}
}

int ac_locate(const char *name, const ac_addr *loc, int64_t timeout_ms,
              ac_ref *out)
{
	return remote_locate(AC_REF_CORO, name, loc, timeout_ms, out);
}

int ac_chan_locate(const char *name, const ac_addr *loc, int64_t timeout_ms,
                   ac_ref *out)
{
	return remote_locate(AC_REF_CHAN, name, loc, timeout_ms, out);
}

int ac_rci_locate(const char *name, const ac_addr *loc, int64_t timeout_ms,
                  ac_ref *out)
{
	return remote_locate(AC_REF_RCI, name, loc, timeout_ms, out);
}

/* ---- RCI ------------------------------------------------------------------------------ */

static void rci_free_at_end(void *arg)
{
	free(arg);
}

int ac_rci_new(ac_sched *s, const char *name, ac_rci_fn fn, ac_ref *out)
{
	ac__rci *r;
	s = s ? s : ac__tls_sched;
	if (!s)
		return -EPERM;
	if (!name || !*name || strlen(name) > AC_WIRE_NAME_MAX || !fn || !out)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->r_fn = fn;
	snprintf(r->r_name, sizeof(r->r_name), "%s", name);
	r->r_id = ac__obj_add(s, AC_REF_RCI, r);
	if (!r->r_id) {
		free(r);
		return -ENOMEM;
	}
	if (ac_sched_atexit(s, rci_free_at_end, r) < 0) {
		ac__obj_del(s, r->r_id);
		free(r);
		return -ENOMEM;
	}
	*out = ac__ref_local(s, AC_REF_RCI, r->r_id);
	return 0;
}

static ac__rci *rci_get(ac_sched *s, ac_ref rci)
{
	if (rci.kind != AC_REF_RCI || !ac__ref_is_local(s, &rci))
		return NULL;
	return ac__obj_get(s, rci.id, AC_REF_RCI);
}

int ac_rci_register(ac_ref rci)
{
	ac_sched *s = ac__tls_sched;
	ac_node *n = ac_node_of(s);
	ac__rci *r;
	if (!n)
		return -ENOTCONN;
	r = rci_get(s, rci);
	if (!r)
		return -EINVAL;
	return ac__name_add(n, AC_REF_RCI, r->r_name, rci);
}

int ac_rci_unregister(ac_ref rci)
{
	ac_sched *s = ac__tls_sched;
	ac_node *n = ac_node_of(s);
	ac__rci *r;
	if (!n)
		return -ENOTCONN;
	r = rci_get(s, rci);
	if (!r)
		return -EINVAL;
	return ac__name_del(n, AC_REF_RCI, r->r_name, rci);
}

typedef struct rci_start {
	ac_rci_fn fn;
	ac_msg *args;
} rci_start;

static void rci_body(void *arg)
{
	rci_start st = *(rci_start *)arg;
	free(arg);
	st.fn(st.args);
}

/* The RCI's coroutine was terminated before it ran. */
static void rci_start_free(void *arg)
{
	rci_start *st = arg;
	ac_msg_free(st->args);
	free(st);
}

/* Start the RCI's coroutine locally; args consumed on success. */
static int rci_spawn(ac_sched *s, ac__rci *r, ac_msg *args, ac_ref *coro)
{
	ac_spawn_opts so = {.name = r->r_name, .arg_free = rci_start_free};
	rci_start *st = malloc(sizeof(*st));
	int rc;
	if (!st)
		return -ENOMEM;
	st->fn = r->r_fn;
	st->args = args;
	rc = ac_spawn(s, rci_body, st, &so, coro);
	if (rc < 0)
		free(st);
	return rc;
}

int ac_rci_call(ac_ref rci, ac_msg *args, int64_t timeout_ms, ac_ref *coro)
{
	ac_sched *s = ac__tls_sched;
	ac_node *n;
	ac__pending pend;
	ac__rci *r;
	ac_peer *p;
	int64_t rc64 = 0;
	int err, rc;
	if (!s)
		return -EPERM;
	if (!args || !coro || rci.kind != AC_REF_RCI)
		return -EINVAL;
	r = rci_get(s, rci);
	if (r)
		return rci_spawn(s, r, args, coro);
	if (ac__ref_is_local(s, &rci))
		return -ESRCH;
	n = ac_node_of(s);
	if (!n)
		return -EHOSTUNREACH;
	p = ac__peer_for_ref(n, &rci, &err);
	if (!p)
		return err;
	if (!ac__cur())
		return -EPERM;
	if (args->m_len > AC_WIRE_PAYLOAD_MAX)
		return -EMSGSIZE; /* see remote_deliver */
	rc = remote_call(p, AC_WT_RCI_CALL, timeout_ms, &pend, "[r [u u r S]]",
	                 rci, (uint64_t)args->m_kind, (uint64_t)args->m_aux,
	                 ac_self(), args->m_data, args->m_len);
	if (rc < 0)
		return rc;
	if (ac_unpack(pend.p_body, pend.p_len, "[i r]", &rc64, coro) < 0 ||
	    rc64 > 0 || (rc64 == 0 && (coro->kind != AC_REF_CORO ||
	                               !ac_addr_eq(&coro->loc, &p->p_loc))))
		rc64 = -EPROTO;
	free(pend.p_body);
	if (rc64 == 0)
		ac_msg_free(args);
	return (int)rc64;
}

/* ---- handlers ---------------------------------------------------------------------------- */


static int handle_send(ac_peer *p, const uint8_t *b, size_t len)
{
	ac_node *n = p->p_node;
	ac_ref to, from;
	uint64_t kind, aux;
	const void *data;
	size_t dlen;
	ac_msg *m;
	if (ac__unpack_send(b, len, &to, &kind, &aux, &from, &data, &dlen) < 0)
		return -EBADMSG;
	m = remote_msg_new(kind, aux, from, data, dlen);
	if (!m)
		return -EBADMSG;
	if (to.kind != AC_REF_CORO || !handler_local(n, &to)) {
		ac_msg_free(m); /* not ours (an older incarnation): dropped */
		return 0;
	}
	if (ac__send_msg(n->n_sched, to, m) < 0)
		ac_msg_free(m);
	return 0;
}

static int handle_deliver(ac_peer *p, uint32_t id, const uint8_t *b, size_t len)
{
	ac_node *n = p->p_node;
	ac_ref to, from;
	uint64_t kind, aux;
	const void *data;
	size_t dlen;
	ac_coro *c;
	ac_msg *m;
	if (ac_unpack(b, len, "[r u u r S]", &to, &kind, &aux, &from, &data,
	              &dlen) < 0)
		return -EBADMSG;
	c = handler_local(n, &to) ? ac__coro_get(n->n_sched, to) : NULL;
	if (!c || c->c_ending)
		return ac__reply(p, AC_WT_DELIVER, id, "[i]", (int64_t)-ESRCH);
	m = remote_msg_new(kind, aux, from, data, dlen);
	if (!m)
		return -EBADMSG;
	ac__enqueue(c, m);
	return ac__reply(p, AC_WT_DELIVER, id, "[i]", (int64_t)1);
}

/* An exit notification: delivered only against the monitor's record, which
 * it consumes (a retry, or one after "node lost" was reported, is
 * dropped); acknowledged either way, so the sender stops retrying. */
static int handle_exit(ac_peer *p, uint32_t id, const uint8_t *b, size_t len)
{
	ac_node *n = p->p_node;
	ac_ref to, from;
	uint64_t kind, aux;
	const void *data;
	size_t dlen;
	ac_msg *m;
	if (ac_unpack(b, len, "[r u u r S]", &to, &kind, &aux, &from, &data,
	              &dlen) < 0 || kind != AC_MSG_EXIT)
		return -EBADMSG;
	if (handler_local(n, &to) && remote_watch_take(p, to, from)) {
		m = remote_msg_new(kind, aux, from, data, dlen);
		if (!m)
			return -EBADMSG;
		if (ac__send_msg(n->n_sched, to, m) < 0)
			ac_msg_free(m);
	}
	return ac__reply(p, AC_WT_EXIT, id, "[i]", (int64_t)1);
}

static int handle_locate(ac_peer *p, uint32_t id, const uint8_t *b, size_t len)
{
	ac_node *n = p->p_node;
	char name[AC_WIRE_NAME_MAX + 1];
	uint64_t kind;
	const ac__name *e;
	if (ac_unpack(b, len, "[u s]", &kind, name, sizeof(name)) < 0 ||
	    kind < AC_REF_CORO || kind > AC_REF_RCI)
		return -EBADMSG;
	e = ac__name_find(n, (uint32_t)kind, name);
	if (!e)
		return ac__reply(p, AC_WT_LOCATE, id, "[i r]", (int64_t)-ENOENT,
		                 ac_ref_null());
	return ac__reply(p, AC_WT_LOCATE, id, "[i r]", (int64_t)0, e->n_ref);
}

static int handle_monitor(ac_peer *p, uint32_t id, const uint8_t *b, size_t len)
{
	ac_node *n = p->p_node;
	ac_ref mon, target;
	int rc;
	if (ac_unpack(b, len, "[r r]", &mon, &target) < 0 ||
	    mon.kind != AC_REF_CORO || !ac_addr_eq(&mon.loc, &p->p_loc))
		return -EBADMSG;
	rc = handler_local(n, &target) ? ac_monitor_ref(mon, target) : -ESRCH;
	return ac__reply(p, AC_WT_MONITOR, id, "[i]", (int64_t)rc);
}

static int handle_terminate(ac_peer *p, uint32_t id, const uint8_t *b,
                            size_t len)
{
	ac_node *n = p->p_node;
	ac_ref target, none;
	ac_coro *c;
	int rc = -ESRCH;
	if (ac_unpack(b, len, "[r r]", &target, &none) < 0)
		return -EBADMSG;
	c = handler_local(n, &target) ? ac__coro_get(n->n_sched, target) : NULL;
	/* Never the node's own coroutines (acceptor, readers, writers, ...:
	 * all named "ac-..."), whose ids a peer could guess. */
	if (c && c != n->n_sched->s_cur && strncmp(c->c_name, "ac-", 3) != 0)
		rc = ac_terminate(target);
	else if (c)
		rc = -EPERM;
	return ac__reply(p, AC_WT_TERMINATE, id, "[i]", (int64_t)rc);
}

static int handle_rci(ac_peer *p, uint32_t id, const uint8_t *b, size_t len)
{
	ac_node *n = p->p_node;
	ac_ref rci, from, coro = ac_ref_null();
	uint64_t kind, aux;
	const void *data;
	size_t dlen;
	ac__rci *r;
	ac_msg *m;
	int rc;
	if (ac_unpack(b, len, "[r [u u r S]]", &rci, &kind, &aux, &from, &data,
	              &dlen) < 0)
		return -EBADMSG;
	r = handler_local(n, &rci) ? rci_get(n->n_sched, rci) : NULL;
	if (!r)
		return ac__reply(p, AC_WT_RCI_CALL, id, "[i r]", (int64_t)-ESRCH,
		                 coro);
	m = remote_msg_new(kind, aux, from, data, dlen);
	if (!m)
		return -EBADMSG;
	rc = rci_spawn(n->n_sched, r, m, &coro);
	if (rc < 0)
		ac_msg_free(m);
	return ac__reply(p, AC_WT_RCI_CALL, id, "[i r]", (int64_t)rc, coro);
}

/* Requests that wait run in a coroutine of their own. */
typedef struct slow_req {
	ac_peer *q_peer;
	uint32_t q_id;
	uint8_t q_type;
	size_t q_len;
	uint8_t q_body[];
} slow_req;

static void slow_finish(slow_req *q)
{
	ac_peer *p = q->q_peer;
	ac_ref target;
	int64_t timeout_ms;
	ac_msg *exit_msg = NULL;
	int rc;
	if (ac_unpack(q->q_body, q->q_len, "[r i]", &target, &timeout_ms) < 0)
		return;
	rc = handler_local(p->p_node, &target)
	             ? ac_finish(target, timeout_ms, &exit_msg)
	             : -ESRCH;
	if (rc == 0 && exit_msg) {
		ac__reply(p, AC_WT_FINISH, q->q_id, "[i [u u r S]]", (int64_t)0,
		          (uint64_t)exit_msg->m_kind, (uint64_t)exit_msg->m_aux,
		          exit_msg->m_from, exit_msg->m_data, exit_msg->m_len);
		ac_msg_free(exit_msg);
		return;
	}
	ac__reply(p, AC_WT_FINISH, q->q_id, "[i n]", (int64_t)(rc < 0 ? rc : -EIO));
}

static void slow_chan(slow_req *q)
{
	ac_peer *p = q->q_peer;
	ac_node *n = p->p_node;
	uint64_t op, kind, aux;
	ac_ref chan, sub, from;
	const void *data;
	size_t dlen;
	int64_t timeout_ms, nmin;
	ac_msg *m = NULL;
	int rc;
	if (ac_unpack(q->q_body, q->q_len, "[u r r [u u r S] i i]", &op, &chan,
	              &sub, &kind, &aux, &from, &data, &dlen, &timeout_ms,
	              &nmin) < 0)
		return;
	if (!handler_local(n, &chan)) {
		rc = -ESRCH;
	} else if (op == AC__CHAN_SUBSCRIBE) {
		rc = ac_chan_subscribe(chan, sub, 0);
	} else if (op == AC__CHAN_UNSUBSCRIBE) {
		rc = ac_chan_unsubscribe(chan, sub, 0);
	} else if (op == AC__CHAN_DELIVER && nmin >= 0 && nmin <= INT32_MAX) {
		m = remote_msg_new(kind, aux, from, data, dlen);
		rc = m ? ac_chan_deliver(chan, m, timeout_ms, (int)nmin) : -ENOMEM;
		if (rc < 0)
			ac_msg_free(m);
	} else {
		rc = -EINVAL;
	}
	ac__reply(p, AC_WT_CHAN, q->q_id, "[i]", (int64_t)rc);
}

static void slow_body(void *arg)
{
	slow_req *q = arg;
	if (ac_coro_defer(free, q) < 0) {
		free(q);
		return;
	}
	if (q->q_type == AC_WT_FINISH)
		slow_finish(q);
	else
		slow_chan(q);
}

static int handle_slow(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b,
                       size_t len)
{
	ac_spawn_opts so = {.name = "ac-request", .daemon = 1, .arg_free = free};
	slow_req *q = malloc(sizeof(*q) + len);
	if (!q)
		return -ENOMEM;
	q->q_peer = p;
	q->q_id = h->req_id;
	q->q_type = h->type;
	q->q_len = len;
	memcpy(q->q_body, b, len);
	if (ac_spawn(p->p_node->n_sched, slow_body, q, &so, NULL) < 0) {
		free(q);
		return -ENOMEM;
	}
	return 0;
}

/* A one-way channel send. */
static int handle_chan_send(ac_peer *p, const uint8_t *b, size_t len)
{
	ac_node *n = p->p_node;
	uint64_t op, kind, aux;
	ac_ref chan, sub, from;
	const void *data;
	size_t dlen;
	int64_t t, nmin;
	ac_msg *m;
	if (ac_unpack(b, len, "[u r r [u u r S] i i]", &op, &chan, &sub, &kind,
	              &aux, &from, &data, &dlen, &t, &nmin) < 0 ||
	    op != AC__CHAN_SEND)
		return -EBADMSG;
	if (!handler_local(n, &chan))
		return 0;
	m = remote_msg_new(kind, aux, from, data, dlen);
	if (!m)
		return -EBADMSG;
	/* The sender is the remote coroutine: keep it. */
	if (ac_chan_send(chan, m) < 0)
		ac_msg_free(m);
	return 0;
}

int ac__peer_reply_in(ac_peer *p, uint32_t id, const uint8_t *body, size_t len);

int ac__dispatch(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b, size_t len)
{
	if (h->flags & AC_WF_REPLY)
		return h->req_id ? ac__peer_reply_in(p, h->req_id, b, len) : -EBADMSG;
	switch (h->type) {
	case AC_WT_PING:
		return h->req_id ? ac__reply(p, AC_WT_PING, h->req_id, "[]") : 0;
	case AC_WT_BYE:
		ac__peer_offline(p, 0);
		return 0;
	case AC_WT_SEND:
		return handle_send(p, b, len);
	case AC_WT_CHAN:
		if (!h->req_id)
			return handle_chan_send(p, b, len);
		return handle_slow(p, h, b, len);
	case AC_WT_FINISH:
		return h->req_id ? handle_slow(p, h, b, len) : -EBADMSG;
	case AC_WT_MONITOR:
		if (!h->req_id)
			return handle_watched(p, b, len);
		break;
	default:
		break;
	}
	if (!h->req_id)
		return -EBADMSG; /* the rest are requests */
	switch (h->type) {
	case AC_WT_DELIVER:
		return handle_deliver(p, h->req_id, b, len);
	case AC_WT_LOCATE:
		return handle_locate(p, h->req_id, b, len);
	case AC_WT_MONITOR:
		return handle_monitor(p, h->req_id, b, len);
	case AC_WT_TERMINATE:
		return handle_terminate(p, h->req_id, b, len);
	case AC_WT_RCI_CALL:
		return handle_rci(p, h->req_id, b, len);
	case AC_WT_FILE_BEGIN:
		return ac__file_begin(p, h->req_id, b, len);
	case AC_WT_FILE_DATA:
		return ac__file_data(p, h->req_id, b, len);
	case AC_WT_FILE_END:
		return ac__file_end(p, h->req_id, b, len);
	case AC_WT_DEL_FILE:
		return ac__file_del(p, h->req_id, b, len);
	case AC_WT_EXIT:
		return handle_exit(p, h->req_id, b, len);
	default:
		return -EPROTO; /* handshake frames or unknown types */
	}
}
