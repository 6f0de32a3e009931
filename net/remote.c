/* net/remote.c: the frames a peer sends after the handshake, dispatched by
 * type to the handlers of net/remote_*.c and net/files_recv.c, plus what
 * every remote feature uses: the peer of a ref, requests that wait for a
 * reply, replies, the coroutine a waiting request runs in, and the table of
 * the engine's remote hooks (ac__net_remote_ops). net/remote.h describes
 * how the features are split and the rules every handler follows.
 *
 * A frame is one-way (request id 0) or a request (id != 0, answered by a
 * reply of the same type and id); each type has a handler for one or both
 * forms. A one-way frame of a type that only comes as a request is a bad
 * frame (-EBADMSG); a request of a type that never is one (the handshake's,
 * ANNOUNCE) is -EPROTO. A reply goes to the request waiting for it.
 */
#include "net/remote.h"

/* ---- the peer of a ref ------------------------------------------------------------ */

ac_peer *ac__peer_for_ref(ac_node *n, const ac_ref *r, int *err)
{
	ac_peer *p;
	if (n->n_stopped) {
		*err = -ESHUTDOWN;
		return NULL;
	}
	p = ac__peer_find(n, &r->loc);
	/* Unknown, gone, or never reached and its last attempt failed (a
	 * wrong secret): one answer for all three. */
	if (!p || p->p_state == AC__PEER_OFFLINE ||
	    (p->p_state == AC__PEER_NEW && p->p_last_err < 0)) {
		*err = -EHOSTUNREACH;
		return NULL;
	}
	if (p->p_inc && p->p_inc != r->inc) {
		*err = -ESRCH; /* an earlier incarnation of that node */
		return NULL;
	}
	AC_ASSERT(p->p_node == n);
	*err = 0;
	return p;
}

/* ---- requests and replies ------------------------------------------------------------ */

int ac__remote_call(ac_peer *p, uint8_t type, int64_t timeout_ms,
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
	AC_ASSERT(pend->pd_id != 0);
	/* A timeout of 0 does not wait (dis.h): the request is queued, and
	 * -ETIMEDOUT at once (its reply, if any, is dropped). */
	ac__request_wait(&pend, 1, ac__deadline(p->p_node->n_sched, timeout_ms));
	AC_ASSERT(pend->pd_done && (pend->pd_err < 0 || pend->pd_body != NULL));
	return pend->pd_err;
}

int ac__remote_rc(ac_peer *p, uint8_t type, int64_t timeout_ms,
                  const char *fmt, ac_ref a, ac_ref b)
{
	ac__pending pend;
	int64_t r = 0;
	int rc = ac__remote_call(p, type, timeout_ms, &pend, fmt, a, b);
	if (rc < 0)
		return rc;
	if (ac_unpack(pend.pd_body, pend.pd_len, "[i]", &r) < 0 || r > 0 ||
	    r < -4095)
		r = -EPROTO;
	ac__free(pend.pd_body);
	AC_ASSERT(r <= 0);
	return (int)r;
}

int ac__reply(ac_peer *p, uint8_t type, uint32_t id, const char *fmt, ...)
{
	int rc;
	va_list ap;
	ac_msg *tmp;
	AC_ASSERT(id != 0);
	va_start(ap, fmt);
	tmp = ac_msg_vpack(fmt, ap);
	va_end(ap);
	if (!tmp)
		return -ENOMEM;
	rc = ac__peer_queue(p, type, AC_WF_REPLY, id, tmp->m_data, tmp->m_len, NULL);
	ac_msg_free(tmp);
	return rc;
}

/* A request served by a coroutine of its own: while it runs, its peer's
 * record stays (p_inflight), whether it ends or is ended before it ran; it
 * is on the peer's p_reqs list, so the peer's departure ends it. */
typedef struct ac__remote_req {
	struct ac__remote_req *r_next;
	struct ac__remote_req **r_prevp;
	ac_ref r_coro;
	ac_peer *r_peer;
	ac_coro_fn r_fn;
	void *r_arg;
	void (*r_arg_free)(void *);
} remote_req;

static void remote_req_done(void *arg)
{
	remote_req *q = arg;
	ac_peer *p = q->r_peer;
	AC_ASSERT(p->p_inflight > 0 && p->p_nreqs > 0);
	p->p_inflight--;
	if (--p->p_nreqs + p->p_nrcis == 0)
		p->p_reqs_logged = 0;
	*q->r_prevp = q->r_next;
	if (q->r_next)
		q->r_next->r_prevp = q->r_prevp;
	ac__free(q);
}

/* Ended before it ran: the handler's argument is freed too. */
static void remote_req_free(void *arg)
{
	remote_req *q = arg;
	if (q->r_arg_free)
		q->r_arg_free(q->r_arg);
	remote_req_done(q);
}

static void remote_req_body(void *arg)
{
	remote_req *q = arg;
	if (ac_coro_defer(remote_req_done, q) < 0) {
		remote_req_free(q);
		return;
	}
	q->r_fn(q->r_arg);
}

int ac__remote_busy(const ac_peer *p)
{
	return p->p_nreqs + p->p_nrcis >= p->p_node->n_max_requests;
}

int ac__remote_refuse(ac_peer *p)
{
	ac_node *n = p->p_node;
	char text[AC_ADDR_STRLEN];
	n->n_req_refused++;
	if (!p->p_reqs_logged) {
		p->p_reqs_logged = 1;
		ac__nlog(n, AC_LOG_WARN,
		         "peer \"%s\" at %s has %u requests in progress "
		         "(max_peer_requests): more are refused with -EBUSY",
		         p->p_name, ac_addr_format(&p->p_loc, text, sizeof(text)),
		         (unsigned)(p->p_nreqs + p->p_nrcis));
	}
	return -EBUSY;
}

int ac__remote_spawn(ac_peer *p, ac_coro_fn fn, void *arg,
                     void (*arg_free)(void *))
{
	ac_spawn_opts so = {.name = "ac-request", .daemon = 1,
	                    .arg_free = remote_req_free};
	remote_req *q;
	AC_ASSERT(fn != NULL && arg != NULL);
	if (ac__remote_busy(p))
		return ac__remote_refuse(p);
	q = ac__malloc(sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->r_peer = p;
	q->r_fn = fn;
	q->r_arg = arg;
	q->r_arg_free = arg_free;
	q->r_next = p->p_reqs;
	q->r_prevp = &p->p_reqs;
	if (q->r_next)
		q->r_next->r_prevp = &q->r_next;
	p->p_reqs = q;
	p->p_inflight++;
	p->p_nreqs++;
	if (ac__spawn_service(p->p_node->n_sched, remote_req_body, q, &so,
	                      &q->r_coro) < 0) {
		remote_req_done(q);
		return -ENOMEM;
	}
	return 0;
}

void ac__remote_end_requests(ac_peer *p)
{
	ac_sched *s = p->p_node->n_sched;
	uint32_t guard = p->p_nreqs;
	/* Each termination unlinks its request (remote_req_done), so the scan
	 * starts over; one that is the current coroutine (a request whose
	 * reply failed) is passed over and ends by itself. */
	while (guard-- > 0) {
		remote_req *q = p->p_reqs;
		while (q && ac__coro_get(s, q->r_coro) == s->s_cur)
			q = q->r_next;
		if (!q)
			break;
		ac_terminate(q->r_coro);
	}
}

/* ---- the engine's remote hooks --------------------------------------------------------- */

const struct ac__remote_ops ac__net_remote_ops = {
	.watched = ac__remote_watched,
	.deliver_many = ac__remote_deliver_many,
	.send = ac__remote_send,
	.deliver = ac__remote_deliver,
	.monitor = ac__remote_monitor,
	.terminate = ac__remote_terminate,
	.finish = ac__remote_finish,
	.chan_op = ac__remote_chan_op,
};

/* ---- dispatch ---------------------------------------------------------------------------- */

/* PING: a request is answered at once; a one-way one only counted as
 * traffic (by the reader). */
static int on_ping(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b, size_t len)
{
	(void)b;
	(void)len;
	return h->req_id ? ac__reply(p, AC_WT_PING, h->req_id, "[]") : 0;
}

/* BYE: the peer leaves in order. */
static int on_bye(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b, size_t len)
{
	(void)h;
	(void)b;
	(void)len;
	ac__peer_offline(p, 0);
	return 0;
}

/* The file handlers of net/files_recv.c take the request id. */
static int on_file_begin(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b,
                         size_t len)
{
	return ac__file_begin(p, h->req_id, b, len);
}

static int on_file_data(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b,
                        size_t len)
{
	return ac__file_data(p, h->req_id, b, len);
}

static int on_file_end(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b,
                       size_t len)
{
	return ac__file_end(p, h->req_id, b, len);
}

static int on_file_del(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b,
                       size_t len)
{
	return ac__file_del(p, h->req_id, b, len);
}

/* Per frame type: the handler of its one-way form and of its request form
 * (NULL: that form is not allowed). SEND and BYE are handled alike with or
 * without an id. */
static const struct {
	ac__frame_fn *oneway;
	ac__frame_fn *request;
} dispatch_tab[AC_WT_MAX + 1] = {
	[AC_WT_PING] = {on_ping, on_ping},
	[AC_WT_BYE] = {on_bye, on_bye},
	[AC_WT_SEND] = {ac__on_send, ac__on_send},
	[AC_WT_DELIVER] = {NULL, ac__on_deliver},
	[AC_WT_LOCATE] = {NULL, ac__on_locate},
	[AC_WT_MONITOR] = {ac__on_watched, ac__on_monitor},
	[AC_WT_TERMINATE] = {NULL, ac__on_terminate},
	[AC_WT_FINISH] = {NULL, ac__on_finish},
	[AC_WT_CHAN] = {ac__on_chan_send, ac__on_chan},
	[AC_WT_RCI_CALL] = {NULL, ac__on_rci},
	[AC_WT_FILE_BEGIN] = {NULL, on_file_begin},
	[AC_WT_FILE_DATA] = {NULL, on_file_data},
	[AC_WT_FILE_END] = {NULL, on_file_end},
	[AC_WT_DEL_FILE] = {NULL, on_file_del},
	[AC_WT_EXIT] = {NULL, ac__on_exit},
};

int ac__peer_reply_in(ac_peer *p, uint32_t id, const uint8_t *body, size_t len);

int ac__dispatch(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b, size_t len)
{
	ac__frame_fn *fn;
	/* The reader checked the length and inflated a compressed body. */
	AC_ASSERT(len <= AC_WIRE_BODY_MAX && !(h->flags & AC_WF_ZLIB));
	if (h->flags & AC_WF_REPLY)
		return h->req_id ? ac__peer_reply_in(p, h->req_id, b, len) : -EBADMSG;
	if (!h->req_id) {
		fn = h->type <= AC_WT_MAX ? dispatch_tab[h->type].oneway : NULL;
		return fn ? fn(p, h, b, len) : -EBADMSG; /* the rest are requests */
	}
	fn = h->type <= AC_WT_MAX ? dispatch_tab[h->type].request : NULL;
	return fn ? fn(p, h, b, len) : -EPROTO; /* handshake frames or unknown types */
}
