/* net/remote_chan.c: channels of other nodes — both ends of AC_WT_CHAN
 * (subscribe, unsubscribe, send and deliver on a channel that lives on the
 * peer), and the deliver that a local channel fans out to subscribers on
 * other nodes (AC_WT_DELIVER, one request per recipient, all in flight at
 * once).
 *
 * Body: [op chan sub [kind aux from payload] timeout_ms n] → [rc]. Send
 * (op 3) is one-way; subscribe, unsubscribe and deliver (ops 1, 2, 4) are
 * requests; rc of a deliver is the number of recipients. A request may wait
 * (deliver waits for n subscribers), so its handler decodes and checks it
 * — the operation, the message fields, n — and a coroutine of its own
 * serves it: the reader keeps serving the connection meanwhile. A request
 * that breaks a range is a bad frame; one about a channel that is not there
 * gets an error reply.
 */
#include "net/remote.h"

/* ---- the client ------------------------------------------------------------------------ */

/* A one-way CHAN send: m is consumed on 0. */
static int chan_send_oneway(ac_peer *p, ac_ref chan, ac_ref sub, ac_msg *m)
{
	void *body;
	size_t len;
	int rc = ac_pack(&body, &len, "[u r r [u u r S] i i]", (uint64_t)AC__CHAN_SEND,
	                 chan, sub, (uint64_t)m->m_kind, (uint64_t)m->m_aux,
	                 m->m_from, m->m_data, m->m_len, (int64_t)0, (int64_t)0);
	if (rc < 0)
		return rc;
	rc = ac__peer_queue(p, AC_WT_CHAN, 0, 0, body, len, NULL);
	ac__free(body);
	if (rc == 0)
		ac_msg_free(m);
	return rc;
}

int ac__remote_chan_op(void *arg, int op, ac_ref chan, ac_ref sub, ac_msg *m,
                       int64_t timeout_ms, int nmin)
{
	ac_node *n = arg;
	ac__pending pend;
	ac_msg empty;
	int64_t r = 0;
	int err, rc;
	ac_peer *p = ac__peer_for_ref(n, &chan, &err);
	AC_ASSERT(op >= AC__CHAN_SUBSCRIBE && op <= AC__CHAN_DELIVER);
	AC_ASSERT(op != AC__CHAN_SEND || m != NULL); /* it consumes m */
	if (!p)
		return err;
	memset(&empty, 0, sizeof(empty));
	if (!m)
		m = &empty;
	if (m->m_len > AC_WIRE_PAYLOAD_MAX)
		return -EMSGSIZE; /* see ac__remote_deliver */
	if (op == AC__CHAN_SEND)
		return chan_send_oneway(p, chan, sub, m);
	if (!ac__cur())
		return -EPERM;
	rc = ac__remote_call(p, AC_WT_CHAN,
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
	if (ac_unpack(pend.pd_body, pend.pd_len, "[i]", &r) < 0)
		r = -EPROTO;
	ac__free(pend.pd_body);
	if (op == AC__CHAN_DELIVER && r >= 0 && m != &empty)
		ac_msg_free(m);
	return (int)r;
}

int ac__remote_deliver_many(void *arg, const ac_ref *to, int n,
                            const ac_msg *m, int64_t timeout_ms)
{
	ac_node *node = arg;
	ac_sched *s = node->n_sched;
	/* One block for the requests and the list of them: it is freed by the
	 * wait's undo when this coroutine is terminated while it waits. */
	void *block = ac__calloc((size_t)n ? (size_t)n : 1,
	                     sizeof(ac__pending) + sizeof(ac__pending *));
	ac__pending *pend = block;
	ac__pending **pp = block ? (ac__pending **)(pend + n) : NULL;
	int i, started = 0, count = 0;
	AC_ASSERT(n >= 0);
	/* Too large for the wire (see ac__remote_deliver): nobody gets it. */
	if (!block || !ac__cur() || m->m_len > AC_WIRE_PAYLOAD_MAX) {
		ac__free(block);
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
		ac__free(body);
	}
	AC_ASSERT(started <= n);
	ac__request_wait_owned(pp, started,
	                       ac__deadline(s, timeout_ms == 0 ? 1 : timeout_ms),
	                       block);
	for (i = 0; i < started; i++) {
		int64_t r = 0;
		AC_ASSERT(pend[i].pd_done);
		if (pend[i].pd_err == 0 &&
		    ac_unpack(pend[i].pd_body, pend[i].pd_len, "[i]", &r) == 0 && r == 1)
			count++;
		ac__free(pend[i].pd_body);
	}
	ac__free(block);
	return count;
}

/* ---- the server ------------------------------------------------------------------------ */

/* A CHAN body as it comes off the wire. */
typedef struct chan_body {
	uint64_t op;
	ac_ref chan;
	ac_ref sub;
	uint64_t kind;
	uint64_t aux;
	ac_ref from;
	const void *data;
	size_t dlen;
	int64_t timeout_ms;
	int64_t nmin;
} chan_body;

/* Decode a CHAN body: 0 or -EBADMSG. */
static int chan_decode(const uint8_t *b, size_t len, chan_body *c)
{
	if (ac_unpack(b, len, "[u r r [u u r S] i i]", &c->op, &c->chan, &c->sub,
	              &c->kind, &c->aux, &c->from, &c->data, &c->dlen,
	              &c->timeout_ms, &c->nmin) < 0)
		return -EBADMSG;
	return 0;
}

int ac__remote_chan_relay(ac_peer *p, int deliver, ac_ref chan, ac_msg *m,
                          int64_t timeout_ms, int nmin)
{
	ac_coro *self = ac__cur();
	ac__inacct *a = ac__peer_inacct(p);
	uint64_t refused;
	int rc;
	AC_ASSERT(self != NULL && self->c_on_behalf == NULL);
	if (!a)
		return -ENOMEM;
	/* The peer's record, and so its account, outlive this call: the
	 * reader runs it, or a request coroutine (p_inflight). */
	refused = a->a_refused;
	self->c_on_behalf = a;
	rc = deliver ? ac__chan_relay_deliver(chan, m, timeout_ms, nmin)
	             : ac__chan_relay_send(chan, m);
	self->c_on_behalf = NULL;
	if (a->a_refused > refused)
		ac__peer_in_refused(p, a->a_refused - refused);
	return rc;
}

/* A one-way channel send. */
int ac__on_chan_send(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b,
                     size_t len)
{
	chan_body c;
	ac_msg *m;
	AC_ASSERT(h->req_id == 0);
	if (chan_decode(b, len, &c) < 0 || c.op != AC__CHAN_SEND)
		return -EBADMSG;
	if (!ac__remote_local(p->p_node, &c.chan) ||
	    !ac__remote_from_ok(p, c.kind, &c.from))
		return 0; /* not ours, or a forged exit notice: dropped */
	m = ac__remote_msg_new(c.kind, c.aux, c.from, c.data, c.dlen);
	if (!m)
		return -EBADMSG;
	/* The sender is the remote coroutine: keep it. */
	if (ac__remote_chan_relay(p, 0, c.chan, m, 0, 0) < 0)
		ac_msg_free(m);
	return 0;
}

/* A CHAN request, decoded and checked: what its coroutine needs. */
typedef struct chan_req {
	ac_peer *q_peer;
	uint32_t q_id;
	int q_op;
	ac_ref q_chan;
	ac_ref q_sub;
	int64_t q_timeout_ms;
	int q_nmin;
	/* Deliver: the message (the coroutine's until ac_chan_deliver takes
	 * it); else NULL. */
	ac_msg *q_msg;
} chan_req;

/* The request's coroutine was terminated before it ran. */
static void chan_req_free(void *arg)
{
	chan_req *q = arg;
	ac_msg_free(q->q_msg);
	ac__free(q);
}

static void chan_req_body(void *arg)
{
	chan_req q = *(chan_req *)arg;
	int rc;
	ac__free(arg);
	AC_ASSERT((q.q_msg != NULL) == (q.q_op == AC__CHAN_DELIVER));
	if (!ac__remote_local(q.q_peer->p_node, &q.q_chan)) {
		rc = -ESRCH;
	} else if (q.q_op == AC__CHAN_SUBSCRIBE) {
		rc = ac_chan_subscribe(q.q_chan, q.q_sub, 0);
	} else if (q.q_op == AC__CHAN_UNSUBSCRIBE) {
		rc = ac_chan_unsubscribe(q.q_chan, q.q_sub, 0);
	} else {
		rc = ac__remote_chan_relay(q.q_peer, 1, q.q_chan, q.q_msg,
		                           q.q_timeout_ms, q.q_nmin);
		if (rc >= 0)
			q.q_msg = NULL; /* taken */
	}
	ac_msg_free(q.q_msg);
	ac__reply(q.q_peer, AC_WT_CHAN, q.q_id, "[i]", (int64_t)rc);
}

/* What a CHAN request must keep to: an operation that comes as a request,
 * message fields the wire allows, n within an int. */
static int chan_req_ok(const chan_body *c)
{
	return (c->op == AC__CHAN_SUBSCRIBE || c->op == AC__CHAN_UNSUBSCRIBE ||
	        c->op == AC__CHAN_DELIVER) &&
	       c->nmin >= 0 && c->nmin <= INT32_MAX &&
	       ac__remote_msg_ok(c->kind, c->aux, c->dlen);
}

int ac__on_chan(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b, size_t len)
{
	chan_body c;
	chan_req *q;
	int rc;
	AC_ASSERT(h->req_id != 0);
	if (chan_decode(b, len, &c) < 0 || !chan_req_ok(&c))
		return -EBADMSG;
	if (c.op == AC__CHAN_DELIVER && !ac__remote_from_ok(p, c.kind, &c.from))
		return ac__reply(p, AC_WT_CHAN, h->req_id, "[i]", (int64_t)-EPERM);
	q = ac__calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->q_peer = p;
	q->q_id = h->req_id;
	q->q_op = (int)c.op;
	q->q_chan = c.chan;
	q->q_sub = c.sub;
	q->q_timeout_ms = c.timeout_ms;
	q->q_nmin = (int)c.nmin;
	if (c.op == AC__CHAN_DELIVER) {
		q->q_msg = ac__remote_msg_new(c.kind, c.aux, c.from, c.data, c.dlen);
		if (!q->q_msg) {
			ac__free(q);
			return ac__reply(p, AC_WT_CHAN, h->req_id, "[i]", (int64_t)-ENOMEM);
		}
	}
	rc = ac__remote_spawn(p, chan_req_body, q, chan_req_free);
	if (rc < 0) {
		chan_req_free(q);
		return ac__reply(p, AC_WT_CHAN, h->req_id, "[i]", (int64_t)rc);
	}
	return 0;
}
