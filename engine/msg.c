/* engine/msg.c: messages and message passing between coroutines — allocation
 * (with a per-scheduler cache of small messages), the per-coroutine queue,
 * send, deliver, receive with timeout, and receive by category or predicate
 * (asyncoro's CategorizeMessages).
 *
 * Ownership: a message belongs to whoever holds it; ac_send/ac_deliver take
 * it on success, the receiver owns what ac_receive returns. A magic word in
 * each message tells live, queued and freed apart, so freeing a message
 * twice or freeing one that sits in a queue is reported instead of
 * corrupting memory. Freed small messages go to the current scheduler's
 * cache (their memory stays valid, which is what makes the check safe);
 * large ones go back to malloc, where a second free cannot be detected.
 */
#include "engine/engine.h"

/* Most small messages a scheduler keeps for reuse. */
#define MSG_CACHE_MAX 4096

/* m_pad marks messages whose block can hold AC__MSG_SMALL bytes. */
#define MSG_SMALL_BLOCK 1u

ac_msg *ac__msg_alloc(size_t len)
{
	ac_sched *s = ac__tls_sched;
	ac_msg *m;
	if (len <= AC__MSG_SMALL) {
		if (s && s->s_mcache) {
			m = s->s_mcache;
			s->s_mcache = m->m_next;
			s->s_nmcache--;
		} else {
			m = ac__malloc(sizeof(*m) + AC__MSG_SMALL);
			if (!m)
				return NULL;
		}
		m->m_pad = MSG_SMALL_BLOCK;
	} else {
		if (len > SIZE_MAX - sizeof(*m))
			return NULL;
		m = ac__malloc(sizeof(*m) + len);
		if (!m)
			return NULL;
		m->m_pad = 0;
	}
	m->m_magic = AC__MSG_MAGIC_LIVE;
	m->m_kind = AC_MSG_DATA;
	m->m_aux = 0;
	m->m_cat = 0;
	m->m_next = NULL;
	m->m_acct = NULL;
	memset(&m->m_from, 0, sizeof(m->m_from));
	m->m_len = len;
	m->m_data = m->m_inline;
	return m;
}

void ac__msg_cache_fini(ac_sched *s)
{
	while (s->s_mcache) {
		ac_msg *m = s->s_mcache;
		s->s_mcache = m->m_next;
		ac__free(m);
	}
	s->s_nmcache = 0;
}

void ac_msg_free(ac_msg *m)
{
	ac_sched *s = ac__tls_sched;
	if (!m)
		return;
	if (AC_UNLIKELY(m->m_magic != AC__MSG_MAGIC_LIVE)) {
		const char *what = m->m_magic == AC__MSG_MAGIC_FREED
		                           ? "freed twice"
		                           : m->m_magic == AC__MSG_MAGIC_QUEUED
		                                     ? "freed while queued"
		                                     : "freed but is not a message";
		if (s)
			ac_log(s, AC_LOG_ERROR, "ac_msg_free: message %p %s; ignored",
			       (void *)m, what);
		return;
	}
	m->m_magic = AC__MSG_MAGIC_FREED;
	if (s && (m->m_pad & MSG_SMALL_BLOCK) && s->s_nmcache < MSG_CACHE_MAX) {
		m->m_next = s->s_mcache;
		s->s_mcache = m;
		s->s_nmcache++;
		return;
	}
	ac__free(m);
}

ac_msg *ac_msg_alloc(size_t len)
{
	return ac__msg_alloc(len);
}

ac_msg *ac_msg_new(const void *data, size_t len)
{
	ac_msg *m;
	if (!data && len)
		return NULL;
	m = ac__msg_alloc(len);
	if (m && len)
		memcpy(m->m_data, data, len);
	return m;
}

ac_msg *ac_msg_str(const char *s)
{
	return s ? ac_msg_new(s, strlen(s)) : NULL;
}

ac_msg *ac_msg_printf(const char *fmt, ...)
{
	va_list ap;
	int n;
	ac_msg *m;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	m = ac__msg_alloc((size_t)n + 1);
	if (!m)
		return NULL;
	va_start(ap, fmt);
	vsnprintf((char *)m->m_data, (size_t)n + 1, fmt, ap);
	va_end(ap);
	m->m_len = (size_t)n; /* the NUL is not part of the payload */
	return m;
}

ac_msg *ac_msg_dup(const ac_msg *m)
{
	ac_msg *d;
	if (!m)
		return NULL;
	d = ac__msg_alloc(m->m_len);
	if (!d)
		return NULL;
	d->m_kind = m->m_kind;
	d->m_aux = m->m_aux;
	d->m_cat = m->m_cat;
	d->m_from = m->m_from;
	if (m->m_len)
		memcpy(d->m_data, m->m_data, m->m_len);
	return d;
}

const void *ac_msg_data(const ac_msg *m) { return m->m_data; }
void *ac_msg_wdata(ac_msg *m) { return m->m_data; }
size_t ac_msg_len(const ac_msg *m) { return m->m_len; }
int ac_msg_kind(const ac_msg *m) { return m->m_kind; }
ac_ref ac_msg_from(const ac_msg *m) { return m->m_from; }
int ac_msg_category(const ac_msg *m) { return m->m_cat; }

int ac_msg_is(const ac_msg *m, const char *s)
{
	size_t n = strlen(s);
	return m && m->m_len == n && memcmp(m->m_data, s, n) == 0;
}

int ac_msg_exit(const ac_msg *m, ac_exit_info *out)
{
	if (!m || !out || m->m_kind != AC_MSG_EXIT)
		return -EINVAL;
	out->coro = m->m_from;
	out->how = m->m_aux;
	out->data = m->m_data;
	out->len = m->m_len;
	return 0;
}

const char *ac_exit_reason_name(int how)
{
	switch (how) {
	case AC_EXIT_RETURNED:
		return "returned";
	case AC_EXIT_FAILED:
		return "failed";
	case AC_EXIT_TERMINATED:
		return "terminated";
	case AC_EXIT_NODE_LOST:
		return "node lost";
	default:
		return "unknown";
	}
}

/* ---- the queue ------------------------------------------------------------------ */

static int msg_wanted(const ac_coro *c, const ac_msg *m)
{
	switch (c->c_rwait) {
	case AC__RW_ANY:
		return 1;
	case AC__RW_CAT:
		return m->m_cat == c->c_rwait_cat;
	case AC__RW_MATCH:
		return c->c_rwait_match(m, c->c_rwait_arg) != 0;
	default:
		return 0;
	}
}

void ac__enqueue(ac_coro *c, ac_msg *m)
{
	AC_DASSERT(m->m_magic == AC__MSG_MAGIC_LIVE);
	m->m_magic = AC__MSG_MAGIC_QUEUED;
	m->m_next = NULL;
	m->m_cat = c->c_categ ? c->c_categ(m, c->c_categ_arg) : 0;
	*c->c_mq.q_tail = m;
	c->c_mq.q_tail = &m->m_next;
	c->c_mq.q_len++;
	if (c->c_state == AC__PARKED && c->c_rwait && msg_wanted(c, m))
		ac__wake(c, 1);
}

void ac__inacct_release(ac__inacct *a)
{
	if (a && --a->a_refs == 0) {
		AC_ASSERT(a->a_bytes == 0);
		ac__free(a);
	}
}

/* m leaves queue q: its charge, if any, goes back, with m's reference to
 * the account (the owner's may be gone already: a peer record freed while
 * its messages wait; the last of them frees the account). */
static void msg_uncharge(ac__mq *q, ac_msg *m)
{
	ac__inacct *a = m->m_acct;
	size_t cost = AC__MSG_COST(m);
	if (!a)
		return;
	AC_ASSERT(q->q_in >= cost && a->a_bytes >= cost && a->a_refs >= 1);
	q->q_in -= cost;
	a->a_bytes -= cost;
	m->m_acct = NULL;
	ac__inacct_release(a);
}

int ac__enqueue_in(ac_coro *c, ac_msg *m, ac__inacct *a, size_t coro_max,
                   size_t acct_max)
{
	size_t cost = AC__MSG_COST(m);
	AC_ASSERT(a != NULL && a->a_refs > 0 && m->m_acct == NULL);
	/* Written so that nothing overflows: each difference is taken only
	 * when the left side is within its bound. */
	if (c->c_mq.q_in > coro_max || cost > coro_max - c->c_mq.q_in ||
	    a->a_bytes > acct_max || cost > acct_max - a->a_bytes)
		return -ENOBUFS;
	c->c_mq.q_in += cost;
	a->a_bytes += cost;
	a->a_refs++;
	m->m_acct = a;
	ac__enqueue(c, m);
	return 0;
}

void ac__mq_free_all(ac_sched *s, ac__mq *q)
{
	(void)s;
	while (q->q_head) {
		ac_msg *m = q->q_head;
		q->q_head = m->m_next;
		msg_uncharge(q, m);
		m->m_magic = AC__MSG_MAGIC_LIVE;
		ac_msg_free(m);
	}
	q->q_tail = &q->q_head;
	q->q_len = 0;
	AC_ASSERT(q->q_in == 0);
}

/* Unlink the first message the coroutine's current wait accepts. */
static ac_msg *msg_take(ac_coro *c)
{
	ac_msg **pp = &c->c_mq.q_head;
	ac_msg *m;
	while ((m = *pp) != NULL) {
		if (msg_wanted(c, m)) {
			*pp = m->m_next;
			if (c->c_mq.q_tail == &m->m_next)
				c->c_mq.q_tail = pp;
			c->c_mq.q_len--;
			m->m_next = NULL;
			msg_uncharge(&c->c_mq, m);
			m->m_magic = AC__MSG_MAGIC_LIVE;
			m->m_pad &= ~AC__MSG_NOTIFY;
			return m;
		}
		pp = &m->m_next;
	}
	return NULL;
}

static int msg_receive(ac_coro *c, int64_t timeout_ms, ac_msg **out)
{
	ac_sched *s = c->c_sched;
	ac_msg *m = msg_take(c);
	int r;
	if (!m && timeout_ms != 0) {
		r = ac__park(s, ac__deadline(s, timeout_ms), NULL, NULL);
		if (r == 1)
			m = msg_take(c);
	}
	c->c_rwait = AC__RW_NONE;
	if (!m)
		return -ETIMEDOUT;
	*out = m;
	return 0;
}

int ac_receive(int64_t timeout_ms, ac_msg **out)
{
	ac_coro *c = ac__cur();
	ac_msg *m;
	if (AC_UNLIKELY(!c))
		return -EPERM;
	if (AC_UNLIKELY(!out))
		return -EINVAL;
	m = c->c_mq.q_head;
	if (AC_LIKELY(m != NULL)) {
		/* Fast path: the oldest message. */
		c->c_mq.q_head = m->m_next;
		if (!m->m_next)
			c->c_mq.q_tail = &c->c_mq.q_head;
		c->c_mq.q_len--;
		m->m_next = NULL;
		if (AC_UNLIKELY(m->m_acct != NULL))
			msg_uncharge(&c->c_mq, m);
		m->m_magic = AC__MSG_MAGIC_LIVE;
		m->m_pad &= ~AC__MSG_NOTIFY;
		*out = m;
		return 0;
	}
	c->c_rwait = AC__RW_ANY;
	return msg_receive(c, timeout_ms, out);
}

int ac_receive_cat(int cat, int64_t timeout_ms, ac_msg **out)
{
	ac_coro *c = ac__cur();
	if (!c)
		return -EPERM;
	if (!out)
		return -EINVAL;
	c->c_rwait = AC__RW_CAT;
	c->c_rwait_cat = cat;
	return msg_receive(c, timeout_ms, out);
}

int ac_receive_match(int (*match)(const ac_msg *m, void *arg), void *arg,
                     int64_t timeout_ms, ac_msg **out)
{
	ac_coro *c = ac__cur();
	if (!c)
		return -EPERM;
	if (!out || !match)
		return -EINVAL;
	c->c_rwait = AC__RW_MATCH;
	c->c_rwait_match = match;
	c->c_rwait_arg = arg;
	return msg_receive(c, timeout_ms, out);
}

int ac_set_categorizer(int (*fn)(const ac_msg *m, void *arg), void *arg)
{
	ac_coro *c = ac__cur();
	ac_msg *m;
	if (!c)
		return -EPERM;
	c->c_categ = fn;
	c->c_categ_arg = arg;
	for (m = c->c_mq.q_head; m; m = m->m_next)
		m->m_cat = fn ? fn(m, arg) : 0;
	return 0;
}

size_t ac_queue_len(void)
{
	ac_coro *c = ac__cur();
	return c ? c->c_mq.q_len : 0;
}

/* ---- send and deliver ------------------------------------------------------------ */

int ac__send_msg(ac_sched *s, ac_ref to, ac_msg *m)
{
	ac_coro *c;
	if (AC_LIKELY(ac__ref_is_local(s, &to))) {
		c = ac__obj_get(s, to.id, AC_REF_CORO);
		if (AC_LIKELY(c != NULL && !c->c_ending))
			ac__enqueue(c, m);
		else
			ac_msg_free(m); /* dead recipient: dropped */
		return 0;
	}
	if (to.kind != AC_REF_CORO)
		return -EINVAL;
	if (s->s_remote)
		return s->s_remote->send(s->s_remote_arg, to, m);
	if (ac_addr_eq(&to.loc, &s->s_loc)) {
		/* An earlier incarnation of this node: the target is gone. */
		ac_msg_free(m);
		return 0;
	}
	return -EHOSTUNREACH;
}

int ac_send(ac_ref to, ac_msg *m)
{
	ac_sched *s = ac__tls_sched;
	if (AC_UNLIKELY(!s))
		return -EPERM;
	if (AC_UNLIKELY(!m || m->m_magic != AC__MSG_MAGIC_LIVE))
		return -EINVAL;
	if (to.kind == AC_REF_CHAN) {
		int rc = ac_chan_send(to, m);
		/* A channel that is gone drops the message, as a dead
		 * coroutine does: a stale ref is harmless for send. */
		if (rc == -ESRCH) {
			ac_msg_free(m);
			rc = 0;
		}
		return rc;
	}
	if (AC_UNLIKELY(to.kind != AC_REF_CORO))
		return -EINVAL;
	m->m_from = s->s_cur ? ac__ref_local(s, AC_REF_CORO, s->s_cur->c_id)
	                     : ac_ref_null();
	return ac__send_msg(s, to, m);
}

int ac_send_data(ac_ref to, const void *data, size_t len)
{
	ac_msg *m = ac_msg_new(data, len);
	int rc;
	if (!m)
		return -ENOMEM;
	rc = ac_send(to, m);
	if (rc < 0)
		ac_msg_free(m);
	return rc;
}

/* The undo of a remote deliver that holds its message (*arg) while it
 * waits for the reply. */
static void msg_held_free(void *arg)
{
	ac_msg_free(*(ac_msg **)arg);
}

/* A remote deliver: a coroutine terminated while it waits for the reply
 * frees the message (the callee frees it only after its wait). */
static int msg_deliver_remote(ac_sched *s, ac_ref to, ac_msg *m,
                              int64_t timeout_ms)
{
	ac__defer undo;
	int rc;
	if (s->s_cur)
		ac__defer_push(s->s_cur, &undo, msg_held_free, &m);
	rc = s->s_remote->deliver(s->s_remote_arg, to, m, timeout_ms);
	if (s->s_cur)
		ac__defer_pop(s->s_cur, &undo);
	return rc;
}

int ac_deliver(ac_ref to, ac_msg *m, int64_t timeout_ms)
{
	ac_sched *s = ac__tls_sched;
	ac_coro *c;
	if (!s)
		return -EPERM;
	if (!m || m->m_magic != AC__MSG_MAGIC_LIVE)
		return -EINVAL;
	if (to.kind == AC_REF_CHAN)
		return ac_chan_deliver(to, m, timeout_ms, 0);
	if (to.kind != AC_REF_CORO)
		return -EINVAL;
	m->m_from = s->s_cur ? ac__ref_local(s, AC_REF_CORO, s->s_cur->c_id)
	                     : ac_ref_null();
	if (ac__ref_is_local(s, &to)) {
		c = ac__obj_get(s, to.id, AC_REF_CORO);
		if (!c || c->c_ending)
			return -ESRCH;
		ac__enqueue(c, m);
		return 1;
	}
	if (s->s_remote)
		return msg_deliver_remote(s, to, m, timeout_ms);
	if (ac_addr_eq(&to.loc, &s->s_loc))
		return -ESRCH;
	return -EHOSTUNREACH;
}
