/* net/remote_msg.c: messages to coroutines of other nodes — both ends of
 * send (AC_WT_SEND, one-way), deliver (AC_WT_DELIVER, a request answered
 * with 1 once the message is in the recipient's queue) and exit
 * notifications (AC_WT_EXIT), and the message fields on the wire.
 *
 * Body of all three: [to kind aux from payload]. SEND is the path of every
 * remote message: its body is written straight into the peer's queue and
 * read back by the hand-written coders of engine/pack.c; large ones go
 * through ac_pack, which may compress them.
 *
 * An exit notification for a monitor on another node is, unlike a send,
 * confirmed (an AC_WT_EXIT request) and retried by a daemon "ac-notify"
 * until the monitor's node has it, restarted, or has been out of reach long
 * enough to have reported "node lost" itself (4 peer-lost timeouts +
 * MSG_NOTIFY_MIN_NS), so a connection lost on the way, or a peer briefly
 * offline to us, cannot swallow it. The receiver delivers it only against
 * the monitor's watch record (net/remote_monitor.c), which it consumes, so a
 * retry never doubles it and each monitor hears exactly once.
 */
#include "net/remote.h"

/* The shortest time an exit notification is retried. */
#define MSG_NOTIFY_MIN_NS (30LL * 1000000000)

/* ---- message fields -------------------------------------------------------------- */

int ac__msg_pack(const ac_msg *m, void **out, size_t *len)
{
	return ac_pack(out, len, "[u u r S]", (uint64_t)m->m_kind,
	               (uint64_t)m->m_aux, m->m_from, m->m_data, m->m_len);
}

int ac__remote_msg_ok(uint64_t kind, uint64_t aux, size_t len)
{
	/* AC_MSG_PEER too: a coroutine may pass on a peer-status message it
	 * received, and its node sends it like any other (check_net_msgs.c
	 * test_forward_kinds); refusing it here dropped the connection. The
	 * receiver then drops it as a forgery (ac__remote_from_ok). */
	return kind <= AC_MSG_PEER && aux <= 0xffff && len <= AC_WIRE_PAYLOAD_MAX;
}

ac_msg *ac__remote_msg_new(uint64_t kind, uint64_t aux, ac_ref from,
                           const void *data, size_t len)
{
	ac_msg *m;
	if (!ac__remote_msg_ok(kind, aux, len))
		return NULL;
	m = ac__msg_alloc(len);
	if (!m)
		return NULL;
	AC_ASSERT(m->m_len == len);
	m->m_kind = (uint16_t)kind;
	m->m_aux = (uint16_t)aux;
	m->m_from = from;
	if (len)
		memcpy(m->m_data, data, len);
	return m;
}

int ac__remote_from_ok(ac_peer *p, uint64_t kind, const ac_ref *from)
{
	ac_node *n = p->p_node;
	char text[AC_ADDR_STRLEN];
	int *logged;
	const char *what;
	if (kind == AC_MSG_PEER) {
		/* Peer-status messages are made by the receiving node alone. */
		logged = &p->p_forged_peer_logged;
		what = "a peer-status message (only a node itself makes those)";
	} else if (kind != AC_MSG_EXIT ||
	           (from->kind == AC_REF_CORO && from->inc == p->p_inc &&
	            ac_addr_eq(&from->loc, &p->p_loc))) {
		return 1;
	} else {
		logged = &p->p_forged_logged;
		what = "an exit notice about a coroutine of another node";
	}
	n->n_forged++;
	if (!*logged) {
		*logged = 1;
		ac__nlog(n, AC_LOG_WARN,
		         "peer \"%s\" at %s sent %s: dropped (logged once per peer)",
		         p->p_name, ac_addr_format(&p->p_loc, text, sizeof(text)), what);
	}
	return 0;
}

/* ---- exit notifications: the sender ---------------------------------------------- */

typedef struct notify_arg {
	ac_node *node;
	ac_ref to;
	ac_msg *m;
} notify_arg;

/* One exit notice fewer in flight: an orderly stop waits for none. */
static void notify_done(ac_node *n)
{
	AC_ASSERT(n->n_notifying > 0);
	if (--n->n_notifying == 0)
		ac_waitq_wake(&n->n_notify_wq, INT32_MAX, 1);
}

static void notify_arg_free(void *arg)
{
	notify_arg *a = arg;
	notify_done(a->node);
	ac_msg_free(a->m);
	ac__free(a);
}

/* One EXIT request: 1 when the monitor's node confirmed it, else 0. */
static int msg_notify_once(ac_peer *p, const notify_arg *a)
{
	ac__pending pend;
	int64_t r = 0;
	int ok;
	int rc = ac__remote_call(p, AC_WT_EXIT, 2000, &pend, "[r u u r S]", a->to,
	                         (uint64_t)a->m->m_kind, (uint64_t)a->m->m_aux,
	                         a->m->m_from, a->m->m_data, a->m->m_len);
	if (rc < 0)
		return 0;
	ok = ac_unpack(pend.pd_body, pend.pd_len, "[i]", &r) == 0;
	ac__free(pend.pd_body);
	return ok;
}

static void msg_notifier(void *arg)
{
	notify_arg a = *(notify_arg *)arg;
	ac_node *n = a.node;
	int64_t give_up;
	ac__free(arg);
	AC_ASSERT(a.m->m_kind == AC_MSG_EXIT);
	if (ac_coro_defer((void (*)(void *))notify_done, n) < 0) {
		notify_done(n);
		ac_msg_free(a.m);
		return;
	}
	if (ac_coro_defer((void (*)(void *))ac_msg_free, a.m) < 0) {
		ac_msg_free(a.m);
		return;
	}
	give_up = ac_sched_now_ns(n->n_sched) + MSG_NOTIFY_MIN_NS + 4 * n->n_lost_ns;
	while (!n->n_stopped && ac_sched_now_ns(n->n_sched) < give_up) {
		int err;
		ac_peer *p = ac__peer_for_ref(n, &a.to, &err);
		if (!p && err != -EHOSTUNREACH)
			return; /* its node restarted: that monitor is gone */
		if (!p && n->n_stopping)
			return; /* we are leaving: it will hear "node lost" */
		/* Offline to us, maybe not to it: while it may still count us
		 * online, it waits for this exit (it reports "node lost" itself
		 * only once it gave up on us). */
		if (p && msg_notify_once(p, &a))
			return;
		ac_sleep(200);
	}
}

static int msg_notify(ac_node *n, ac_ref to, ac_msg *m)
{
	ac_spawn_opts so = {.name = "ac-notify", .daemon = 1,
	                    .arg_free = notify_arg_free};
	notify_arg *a = ac__malloc(sizeof(*a));
	int rc;
	AC_ASSERT((m->m_pad & AC__MSG_NOTIFY) && m->m_kind == AC_MSG_EXIT);
	if (!a)
		return -ENOMEM;
	a->node = n;
	a->to = to;
	a->m = m;
	n->n_notifying++;
	rc = ac__spawn_service(n->n_sched, msg_notifier, a, &so, NULL);
	if (rc < 0) {
		n->n_notifying--;
		ac__free(a);
	}
	return rc;
}

/* ---- send and deliver: the client ------------------------------------------------- */

/* A message too large for the fast path's reservation, to a peer that takes
 * zlib: the generic path, which compresses. */
static int msg_send_packed(ac_peer *p, ac_ref to, ac_msg *m)
{
	void *b;
	size_t len;
	int rc = ac_pack(&b, &len, "[r u u r S]", to, (uint64_t)m->m_kind,
	                 (uint64_t)m->m_aux, m->m_from, m->m_data, m->m_len);
	if (rc < 0)
		return rc;
	rc = ac__peer_queue(p, AC_WT_SEND, 0, 0, b, len, NULL);
	ac__free(b);
	if (rc == 0)
		ac_msg_free(m);
	return rc;
}

int ac__remote_send(void *arg, ac_ref to, ac_msg *m)
{
	ac_node *n = arg;
	uint8_t *body;
	size_t len;
	int err;
	ac_peer *p;
	if (m->m_pad & AC__MSG_NOTIFY)
		ac__monitoring_done(n, to, m->m_from);
	p = ac__peer_for_ref(n, &to, &err);
	if (!p) {
		if (err == -ESRCH) {
			ac_msg_free(m); /* its node restarted: the target is gone */
			return 0;
		}
		if (err == -EHOSTUNREACH && (m->m_pad & AC__MSG_NOTIFY))
			return msg_notify(n, to, m); /* it may be back soon */
		return err;
	}
	if (m->m_pad & AC__MSG_NOTIFY)
		return msg_notify(n, to, m);
	if (m->m_len > AC_WIRE_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (n->n_compress_min && m->m_len >= n->n_compress_min &&
	    (p->p_caps & n->n_caps & AC_CAP_ZLIB))
		return msg_send_packed(p, to, m);
	body = ac__peer_reserve(p, AC__PACK_SEND_MAX + m->m_len);
	if (!body)
		return -ENOBUFS;
	len = ac__pack_send(body, &to, m);
	if (len == 0)
		return -EINVAL;
	AC_ASSERT(len <= AC__PACK_SEND_MAX + m->m_len);
	AC_DASSERT(ac_unpack(body, len, "[r u u r S]", &(ac_ref){0},
	                     &(uint64_t){0}, &(uint64_t){0}, &(ac_ref){0},
	                     &(const void *){0}, &(size_t){0}) == 0);
	ac__peer_commit(p, AC_WT_SEND, 0, 0, len, NULL);
	ac_msg_free(m);
	return 0;
}

int ac__remote_deliver(void *arg, ac_ref to, ac_msg *m, int64_t timeout_ms)
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
	/* As in a send: the peer would take a larger payload for a bad frame
	 * and close the connection (check_net_msgs.c test_send_big). */
	if (m->m_len > AC_WIRE_PAYLOAD_MAX)
		return -EMSGSIZE;
	rc = ac__remote_call(p, AC_WT_DELIVER, timeout_ms, &pend, "[r u u r S]", to,
	                     (uint64_t)m->m_kind, (uint64_t)m->m_aux, m->m_from,
	                     m->m_data, m->m_len);
	if (rc == -ETIMEDOUT) {
		ac_msg_free(m); /* outcome unknown */
		return 0;
	}
	if (rc < 0)
		return rc;
	if (ac_unpack(pend.pd_body, pend.pd_len, "[i]", &r) < 0)
		r = -EPROTO;
	ac__free(pend.pd_body);
	if (r == 1)
		ac_msg_free(m);
	return r == 1 ? 1 : (r < 0 ? (int)r : -EPROTO);
}

/* ---- send, deliver, exit: the server ---------------------------------------------- */

ac__inacct *ac__peer_inacct(ac_peer *p)
{
	ac_node *n = p->p_node;
	if (!p->p_in) {
		p->p_in = ac__calloc(1, sizeof(*p->p_in));
		if (!p->p_in)
			return NULL;
		p->p_in->a_refs = 1; /* the peer's */
		p->p_in->a_coro_max = n->n_max_coro_in;
		p->p_in->a_max = n->n_max_peer_in;
	}
	return p->p_in;
}

void ac__peer_in_refused(ac_peer *p, uint64_t count)
{
	ac_node *n = p->p_node;
	char text[AC_ADDR_STRLEN];
	AC_ASSERT(count > 0 && p->p_in != NULL);
	n->n_in_refused += count;
	if (p->p_in_logged)
		return;
	p->p_in_logged = 1;
	ac__nlog(n, AC_LOG_WARN,
	         "peer \"%s\" at %s: inbound queue full (%zu bytes of its messages "
	         "queued; max_coro_inbound %zu, max_peer_inbound %zu): its "
	         "messages are refused (%llu so far)",
	         p->p_name, ac_addr_format(&p->p_loc, text, sizeof(text)),
	         p->p_in->a_bytes, n->n_max_coro_in, n->n_max_peer_in,
	         (unsigned long long)n->n_in_refused);
}

/* Queue m, from p, at coroutine c within the inbound bounds (ac_node_opts
 * max_coro_inbound, max_peer_inbound): 0, or -ENOBUFS / -ENOMEM with m
 * still the caller's — counted and logged (ac__peer_in_refused). */
static int msg_enqueue_in(ac_peer *p, ac_coro *c, ac_msg *m)
{
	ac_node *n = p->p_node;
	ac__inacct *a = ac__peer_inacct(p);
	if (!a)
		return -ENOMEM;
	if (ac__enqueue_in(c, m, a, n->n_max_coro_in, n->n_max_peer_in) == 0) {
		if (a->a_bytes <= n->n_max_peer_in / 2 &&
		    c->c_mq.q_in <= n->n_max_coro_in / 2)
			p->p_in_logged = 0;
		return 0;
	}
	ac__peer_in_refused(p, 1);
	return -ENOBUFS;
}

int ac__on_send(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b, size_t len)
{
	ac_node *n = p->p_node;
	ac_ref to, from;
	uint64_t kind, aux;
	const void *data;
	size_t dlen;
	ac_coro *c;
	ac_msg *m;
	(void)h;
	if (ac__unpack_send(b, len, &to, &kind, &aux, &from, &data, &dlen) < 0 ||
	    !ac__remote_msg_ok(kind, aux, dlen))
		return -EBADMSG;
	if (!ac__remote_from_ok(p, kind, &from))
		return 0; /* a forged exit notice: dropped */
	m = ac__remote_msg_new(kind, aux, from, data, dlen);
	if (!m)
		return -EBADMSG;
	c = to.kind == AC_REF_CORO && ac__remote_local(n, &to)
	            ? ac__coro_get(n->n_sched, to)
	            : NULL;
	/* Not ours (an older incarnation), ended, or over a bound: dropped. */
	if (!c || c->c_ending || msg_enqueue_in(p, c, m) < 0)
		ac_msg_free(m);
	return 0;
}

int ac__on_deliver(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b,
                   size_t len)
{
	ac_node *n = p->p_node;
	ac_ref to, from;
	uint64_t kind, aux;
	const void *data;
	size_t dlen;
	ac_coro *c;
	ac_msg *m;
	int rc;
	AC_ASSERT(h->req_id != 0);
	if (ac_unpack(b, len, "[r u u r S]", &to, &kind, &aux, &from, &data,
	              &dlen) < 0)
		return -EBADMSG;
	if (!ac__remote_msg_ok(kind, aux, dlen))
		return -EBADMSG;
	if (!ac__remote_from_ok(p, kind, &from))
		return ac__reply(p, AC_WT_DELIVER, h->req_id, "[i]", (int64_t)-EPERM);
	c = ac__remote_local(n, &to) ? ac__coro_get(n->n_sched, to) : NULL;
	if (!c || c->c_ending)
		return ac__reply(p, AC_WT_DELIVER, h->req_id, "[i]", (int64_t)-ESRCH);
	m = ac__remote_msg_new(kind, aux, from, data, dlen);
	if (!m)
		return -EBADMSG;
	rc = msg_enqueue_in(p, c, m);
	if (rc < 0)
		ac_msg_free(m);
	return ac__reply(p, AC_WT_DELIVER, h->req_id, "[i]",
	                 (int64_t)(rc < 0 ? rc : 1));
}

/* An exit notification: delivered only against the monitor's record, which
 * it consumes (a retry, or one after "node lost" was reported, is
 * dropped); acknowledged either way, so the sender stops retrying. */
int ac__on_exit(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b, size_t len)
{
	ac_node *n = p->p_node;
	ac_ref to, from;
	uint64_t kind, aux;
	const void *data;
	size_t dlen;
	ac_msg *m;
	AC_ASSERT(h->req_id != 0);
	if (ac_unpack(b, len, "[r u u r S]", &to, &kind, &aux, &from, &data,
	              &dlen) < 0 || kind != AC_MSG_EXIT)
		return -EBADMSG;
	if (ac__remote_local(n, &to) && ac__remote_from_ok(p, kind, &from) &&
	    ac__watch_take(p, to, from)) {
		m = ac__remote_msg_new(kind, aux, from, data, dlen);
		if (!m)
			return -EBADMSG;
		if (ac__send_msg(n->n_sched, to, m) < 0)
			ac_msg_free(m);
	}
	return ac__reply(p, AC_WT_EXIT, h->req_id, "[i]", (int64_t)1);
}
