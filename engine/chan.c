/* engine/chan.c: local channels (asyncoro's Channel) — named broadcast
 * points with subscribers that are coroutines or other channels, local or
 * remote.
 *
 * send applies the transform and gives every subscriber its own copy;
 * deliver first waits (up to its timeout) until at least n subscribers
 * exist, then delivers and returns how many got the message, counting a
 * subscribed channel's own recipients. A subscriber coroutine that has ended
 * is dropped the next time the channel fans out. Channel-to-channel
 * subscriptions that would form a cycle are refused (-ELOOP), so fan-out
 * always ends. Operations on a channel of another node go to the network
 * layer through the scheduler's remote hooks (dis.h).
 */
#include "engine/engine.h"


struct ac_chan {
	/* Object id in the scheduler's table. */
	uint64_t ch_id;
	ac_sched *ch_sched;
	/* Subscribers (coroutine or channel refs), in subscription order. */
	ac_ref *ch_subs;
	uint32_t ch_nsubs;
	uint32_t ch_capsubs;
	/* Transform applied before fan-out (NULL: none). */
	ac_chan_transform_fn ch_tf;
	void *ch_tf_arg;
	/* Delivers waiting for enough subscribers. */
	ac_waitq ch_wq;
	char ch_name[AC_NAME_MAX + 1];
};

static ac_chan *chan_get(ac_sched *s, ac_ref r)
{
	ac_chan *ch;
	if (r.kind != AC_REF_CHAN || !ac__ref_is_local(s, &r))
		return NULL;
	ch = ac__obj_get(s, r.id, AC_REF_CHAN);
	/* The table hands out channels of this scheduler under their own id. */
	AC_ASSERT(!ch || (ch->ch_sched == s && ch->ch_id == r.id));
	return ch;
}

#ifdef AC_DEBUG
/* 1 when ch's subscriber list is well formed (debug checks, O(n)): within
 * its capacity, only coroutines and channels, never ch itself. */
static int chan_ok(ac_sched *s, const ac_chan *ch)
{
	uint32_t i;
	if (ch->ch_sched != s || ch->ch_nsubs > ch->ch_capsubs ||
	    (ch->ch_capsubs && !ch->ch_subs))
		return 0;
	for (i = 0; i < ch->ch_nsubs; i++) {
		const ac_ref *r = &ch->ch_subs[i];
		if (r->kind != AC_REF_CORO && r->kind != AC_REF_CHAN)
			return 0;
		if (r->kind == AC_REF_CHAN && ac__ref_is_local(s, r) &&
		    r->id == ch->ch_id)
			return 0;
	}
	return 1;
}
#endif

/* Resolve r: the local channel, or NULL with *err (-EREMOTE for another
 * node's channel). */
static ac_chan *chan_lookup(ac_ref r, ac_sched **sp, int *err)
{
	ac_sched *s = ac__tls_sched;
	ac_chan *ch;
	*sp = s;
	if (!s) {
		*err = -EPERM;
		return NULL;
	}
	if (r.kind != AC_REF_CHAN) {
		*err = -EINVAL;
		return NULL;
	}
	if (!ac__ref_is_local(s, &r)) {
		*err = ac_addr_eq(&r.loc, &s->s_loc) ? -ESRCH : -EREMOTE;
		return NULL;
	}
	ch = ac__obj_get(s, r.id, AC_REF_CHAN);
	*err = ch ? 0 : -ESRCH;
	AC_ASSERT(!ch || ch->ch_sched == s);
	AC_DASSERT(!ch || chan_ok(s, ch));
	return ch;
}

static int chan_remote(ac_sched *s, int op, ac_ref chan, ac_ref sub, ac_msg *m,
                       int64_t timeout_ms, int n)
{
	AC_ASSERT(op >= AC__CHAN_SUBSCRIBE && op <= AC__CHAN_DELIVER);
	/* Only a channel's ref reaches here (-EREMOTE or a fan-out to one). */
	AC_ASSERT(chan.kind == AC_REF_CHAN && n >= 0);
	if (!s->s_remote || !s->s_remote->chan_op)
		return -EHOSTUNREACH;
	return s->s_remote->chan_op(s->s_remote_arg, op, chan, sub, m,
	                            timeout_ms, n);
}

int ac_chan_new(ac_sched *s, const char *name, ac_ref *out)
{
	ac_chan *ch;
	s = s ? s : ac__tls_sched;
	if (!s)
		return -EPERM;
	if (!name || !*name || !out)
		return -EINVAL;
	if (strlen(name) > AC_NAME_MAX)
		return -ENAMETOOLONG;
	ch = ac__calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->ch_id = ac__obj_add(s, AC_REF_CHAN, ch);
	if (!ch->ch_id) {
		ac__free(ch);
		return -ENOMEM;
	}
	ch->ch_sched = s;
	ac_waitq_init(&ch->ch_wq);
	snprintf(ch->ch_name, sizeof(ch->ch_name), "%s", name);
	*out = ac__ref_local(s, AC_REF_CHAN, ch->ch_id);
	AC_ASSERT(ac__obj_get(s, ch->ch_id, AC_REF_CHAN) == ch);
	AC_ASSERT(ch->ch_nsubs == 0 && !ch->ch_tf);
	return 0;
}

/* 1 when channel `from` (transitively) fans out to channel `to`. */
static int chan_reaches(ac_sched *s, ac_chan *from, ac_chan *to, int depth)
{
	uint32_t i;
	/* Every step down is one subscription deeper, at most 65. */
	AC_ASSERT(from && to && depth >= 0 && depth <= 65);
	if (from == to)
		return 1;
	if (depth > 64)
		return 1; /* treat absurd depth as a cycle */
	for (i = 0; i < from->ch_nsubs; i++) {
		ac_chan *sub = chan_get(s, from->ch_subs[i]);
		if (sub && chan_reaches(s, sub, to, depth + 1))
			return 1;
	}
	return 0;
}

static int chan_find(const ac_chan *ch, ac_ref sub)
{
	uint32_t i;
	AC_ASSERT(ch->ch_nsubs <= ch->ch_capsubs && ch->ch_nsubs <= INT32_MAX);
	for (i = 0; i < ch->ch_nsubs; i++)
		if (ac_ref_eq(ch->ch_subs[i], sub))
			return (int)i;
	return -1;
}

int ac_chan_subscribe(ac_ref chan, ac_ref sub, int64_t timeout_ms)
{
	ac_sched *s;
	int err;
	ac_chan *ch = chan_lookup(chan, &s, &err), *subch;
	if (!ch) {
		if (err == -EREMOTE)
			return chan_remote(s, AC__CHAN_SUBSCRIBE, chan, sub, NULL,
			                   timeout_ms, 0);
		return err;
	}
	if (sub.kind != AC_REF_CORO && sub.kind != AC_REF_CHAN)
		return -EINVAL;
	if (chan_find(ch, sub) >= 0)
		return 0;
	subch = chan_get(s, sub);
	if (subch && chan_reaches(s, subch, ch, 0))
		return -ELOOP;
	AC_ASSERT(subch != ch); /* a channel never subscribes to itself */
	if (ch->ch_nsubs == ch->ch_capsubs) {
		uint32_t cap = ch->ch_capsubs ? ch->ch_capsubs * 2 : 4;
		ac_ref *n = ac__realloc(ch->ch_subs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		ch->ch_subs = n;
		ch->ch_capsubs = cap;
	}
	ch->ch_subs[ch->ch_nsubs++] = sub;
	AC_ASSERT(ch->ch_nsubs <= ch->ch_capsubs);
	/* Each subscriber once: the new one is the only entry equal to sub. */
	AC_DASSERT(chan_find(ch, sub) == (int)ch->ch_nsubs - 1 && chan_ok(s, ch));
	/* Delivers waiting for subscribers re-check their count. */
	ac_waitq_wake(&ch->ch_wq, INT32_MAX, 1);
	return 0;
}

static void chan_remove_at(ac_chan *ch, uint32_t i)
{
	AC_ASSERT(i < ch->ch_nsubs && ch->ch_nsubs <= ch->ch_capsubs);
	memmove(&ch->ch_subs[i], &ch->ch_subs[i + 1],
	        (ch->ch_nsubs - i - 1) * sizeof(ch->ch_subs[0]));
	ch->ch_nsubs--;
}

/* Drop the subscribers that can never receive again: local coroutines that
 * have ended and local channels that were closed. Fan-out drops them too;
 * this is for the counts ("at least n subscribers", ac_chan_nsubs), which
 * must not include them. */
static void chan_prune(ac_sched *s, ac_chan *ch)
{
	uint32_t i = 0, before = ch->ch_nsubs;
	while (i < ch->ch_nsubs) {
		ac_ref sub = ch->ch_subs[i];
		int gone = 0;
		if (ac__ref_is_local(s, &sub)) {
			if (sub.kind == AC_REF_CHAN) {
				gone = chan_get(s, sub) == NULL;
			} else {
				ac_coro *co = ac__obj_get(s, sub.id, AC_REF_CORO);
				gone = !co || co->c_ending;
			}
		}
		if (gone)
			chan_remove_at(ch, i);
		else
			i++;
	}
	AC_ASSERT(i == ch->ch_nsubs && ch->ch_nsubs <= before);
	AC_DASSERT(chan_ok(s, ch));
}

int ac_chan_unsubscribe(ac_ref chan, ac_ref sub, int64_t timeout_ms)
{
	ac_sched *s;
	int err, i;
	ac_chan *ch = chan_lookup(chan, &s, &err);
	if (!ch) {
		if (err == -EREMOTE)
			return chan_remote(s, AC__CHAN_UNSUBSCRIBE, chan, sub, NULL,
			                   timeout_ms, 0);
		return err;
	}
	i = chan_find(ch, sub);
	if (i < 0)
		return -ENOENT;
	chan_remove_at(ch, (uint32_t)i);
	/* Subscribers are unique: none is left equal to sub. */
	AC_DASSERT(chan_find(ch, sub) < 0);
	return 0;
}

/* Refs collected for the second phase of a fan-out. */
typedef struct chan_refs {
	ac_ref *r;
	size_t n;
	size_t cap;
} chan_refs;

static void chan_refs_add(chan_refs *l, ac_ref r)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		ac_ref *nr = ac__realloc(l->r, cap * sizeof(*nr));
		if (!nr)
			return; /* that subscriber misses this message */
		l->r = nr;
		l->cap = cap;
	}
	l->r[l->n++] = r;
	AC_ASSERT(l->n <= l->cap);
}

static int chan_fanout(ac_sched *s, ac_chan *ch, ac_msg *m, int deliver,
                       int64_t timeout_ms, int depth);

/* Queue copy c at local subscriber co: charged to the account the
 * current coroutine relays for (a channel operation a peer asked for,
 * c_on_behalf), within its bounds; over them c is freed, counted in the
 * account, and -ENOBUFS returned. */
static int chan_enqueue(ac_sched *s, ac_coro *co, ac_msg *c)
{
	ac__inacct *a = s->s_cur ? s->s_cur->c_on_behalf : NULL;
	if (!a) {
		ac__enqueue(co, c);
		return 0;
	}
	if (ac__enqueue_in(co, c, a, a->a_coro_max, a->a_max) == 0)
		return 0;
	a->a_refused++;
	ac_msg_free(c);
	return -ENOBUFS;
}

/* Phase 1: everything that cannot wait — local coroutines get their copy,
 * ended subscribers are dropped, remote ones are collected. Returns the
 * number of local recipients. */
static int chan_fanout_local(ac_sched *s, ac_chan *ch, const ac_msg *m,
                             int deliver, chan_refs *chans, chan_refs *remote)
{
	uint32_t i = 0;
	int count = 0;
	AC_ASSERT(chans->n == 0 && remote->n == 0);
	while (i < ch->ch_nsubs) {
		ac_ref sub = ch->ch_subs[i];
		ac_coro *co;
		ac_msg *c;
		if (sub.kind == AC_REF_CHAN) {
			if (!chan_get(s, sub) && ac__ref_is_local(s, &sub)) {
				chan_remove_at(ch, i); /* closed channel */
				continue;
			}
			chan_refs_add(chans, sub);
			i++;
			continue;
		}
		if (!ac__ref_is_local(s, &sub)) {
			if (deliver && s->s_remote) {
				chan_refs_add(remote, sub);
			} else if ((c = ac_msg_dup(m)) != NULL) {
				int r = ac__send_msg(s, sub, c);
				if (r < 0)
					ac_msg_free(c);
				count += r == 0;
			}
			i++;
			continue;
		}
		co = ac__obj_get(s, sub.id, AC_REF_CORO);
		if (!co || co->c_ending) {
			chan_remove_at(ch, i); /* ended subscriber */
			continue;
		}
		if ((c = ac_msg_dup(m)) != NULL && chan_enqueue(s, co, c) == 0)
			count++;
		i++;
	}
	/* Each subscriber kept counts once at most: here, or in a list. */
	AC_ASSERT(count >= 0 && (size_t)count + chans->n + remote->n <= ch->ch_nsubs);
	return count;
}

/* Give m (consumed) to every subscriber of ch; returns recipients. With
 * `deliver`, remote subscribers are confirmed (counting only successes).
 * The second phase may wait (remote confirmations), so it works on the refs
 * collected in the first and never touches ch again: ch may be closed
 * meanwhile. */
/* What a fan-out holds while it may wait, freed by its undo when the
 * coroutine is terminated meanwhile. */
typedef struct chan_hold {
	chan_refs *h_chans;
	chan_refs *h_remote;
	ac_msg *h_msg;
	/* A copy on its way to a channel of another node, or NULL. */
	ac_msg *h_copy;
} chan_hold;

static void chan_hold_free(void *arg)
{
	chan_hold *h = arg;
	ac__free(h->h_chans->r);
	ac__free(h->h_remote->r);
	ac_msg_free(h->h_msg);
	ac_msg_free(h->h_copy);
}

static int chan_fanout(ac_sched *s, ac_chan *ch, ac_msg *m, int deliver,
                       int64_t timeout_ms, int depth)
{
	chan_refs chans = {NULL, 0, 0}, remote = {NULL, 0, 0};
	chan_hold hold = {&chans, &remote, NULL, NULL};
	ac__defer undo;
	ac_coro *self = s->s_cur;
	size_t i;
	int count;
	/* Callers recurse only below 64 (cycles are refused at subscribe). */
	AC_ASSERT(depth >= 0 && depth <= 64);
	AC_ASSERT(m->m_magic == AC__MSG_MAGIC_LIVE);
	if (ch->ch_tf) {
		ac_ref from = m->m_from;
		m = ch->ch_tf(m, ch->ch_tf_arg);
		if (!m)
			return 0;
		/* A replacement made by the transform (even one that reuses
		 * m's memory) still comes from the original sender. */
		m->m_from = from;
	}
	count = chan_fanout_local(s, ch, m, deliver, &chans, &remote);
	/* The second phase may wait (a deliver to other nodes): a coroutine
	 * terminated meanwhile leaves nothing behind. */
	hold.h_msg = m;
	if (self)
		ac__defer_push(self, &undo, chan_hold_free, &hold);
	for (i = 0; i < chans.n; i++) {
		ac_chan *subch = chan_get(s, chans.r[i]);
		ac_msg *c = ac_msg_dup(m);
		int r = -ENOMEM;
		if (c && subch && depth < 64)
			r = chan_fanout(s, subch, c, deliver, timeout_ms, depth + 1);
		else if (c && !subch) {
			hold.h_copy = c;
			r = chan_remote(s, deliver ? AC__CHAN_DELIVER : AC__CHAN_SEND,
			                chans.r[i], ac_ref_null(), c, timeout_ms, 0);
			hold.h_copy = NULL;
		} else
			ac_msg_free(c), c = NULL;
		if (r < 0 && c && !subch)
			ac_msg_free(c);
		count += r > 0 ? r : (r == 0 && !deliver && c != NULL);
	}
	if (remote.n) {
		int r = s->s_remote->deliver_many(s->s_remote_arg, remote.r,
		                                  (int)remote.n, m, timeout_ms);
		count += r > 0 ? r : 0;
	}
	if (self)
		ac__defer_pop(self, &undo);
	ac__free(chans.r);
	ac__free(remote.r);
	ac_msg_free(m);
	AC_ASSERT(count >= 0);
	return count;
}

/* The current coroutine as the sender of m (outside a coroutine m keeps
 * the sender it has). */
static void chan_stamp(ac_sched *s, ac_msg *m)
{
	AC_ASSERT(m != NULL && m->m_magic == AC__MSG_MAGIC_LIVE); /* callers check */
	if (s && s->s_cur)
		m->m_from = ac__ref_local(s, AC_REF_CORO, s->s_cur->c_id);
}

int ac__chan_relay_send(ac_ref chan, ac_msg *m)
{
	ac_sched *s;
	int err;
	ac_chan *ch = chan_lookup(chan, &s, &err);
	if (!m || m->m_magic != AC__MSG_MAGIC_LIVE)
		return -EINVAL;
	if (!ch) {
		if (err == -EREMOTE)
			return chan_remote(s, AC__CHAN_SEND, chan, ac_ref_null(), m, 0, 0);
		return err;
	}
	chan_fanout(s, ch, m, 0, 0, 0);
	return 0;
}

int ac_chan_send(ac_ref chan, ac_msg *m)
{
	if (m && m->m_magic == AC__MSG_MAGIC_LIVE)
		chan_stamp(ac__tls_sched, m);
	return ac__chan_relay_send(chan, m);
}

/* The undo of a deliver that holds its message (*arg) while it waits. */
static void chan_msg_undo(void *arg)
{
	ac_msg **held = arg;
	ac_msg_free(*held);
}

/* ac__chan_relay_deliver's work, with *held the message while it is the
 * caller's (set to NULL when it is handed on or freed). */
static int chan_deliver_held(ac_ref chan, ac_msg **held, int64_t timeout_ms,
                             int n)
{
	ac_sched *s;
	int err;
	int64_t deadline_ns;
	ac_msg *m = *held;
	ac_chan *ch = chan_lookup(chan, &s, &err);
	if (!ch) {
		if (err != -EREMOTE)
			return err;
		/* Consumed when it succeeds; held through its wait. */
		err = chan_remote(s, AC__CHAN_DELIVER, chan, ac_ref_null(), m,
		                  timeout_ms, n);
		if (err >= 0)
			*held = NULL;
		return err;
	}
	deadline_ns = ac__deadline(s, timeout_ms);
	for (;;) {
		int64_t left_ms;
		int r;
		chan_prune(s, ch);
		if (ch->ch_nsubs >= (uint32_t)n) {
			*held = NULL; /* the fan-out's from here on */
			return chan_fanout(s, ch, m, 1, timeout_ms, 0);
		}
		AC_ASSERT(n > 0); /* only a deliver that needs subscribers waits */
		if (timeout_ms == 0)
			break;
		if (!s->s_cur)
			return -EPERM; /* it would have to wait: coroutine only */
		left_ms = deadline_ns < 0 ? AC_FOREVER
		                       : (deadline_ns - ac_sched_now_ns(s) + 999999) /
		                                 1000000;
		if (deadline_ns >= 0 && left_ms <= 0)
			break;
		AC_ASSERT(left_ms != 0);
		r = ac_waitq_wait(&ch->ch_wq, left_ms);
		/* The channel may have been closed (and freed) meanwhile, also
		 * when the wait timed out: a close that runs after the timeout
		 * fired but before this coroutine resumed skips its waiter. So
		 * look it up again before any use, whatever the result. */
		ch = chan_get(s, chan);
		if (!ch || r < 0)
			break;
	}
	*held = NULL;
	ac_msg_free(m);
	return 0;
}

int ac__chan_relay_deliver(ac_ref chan, ac_msg *m, int64_t timeout_ms, int n)
{
	ac_coro *self = ac__cur();
	ac__defer undo;
	ac_msg *held = m;
	int rc;
	if (!m || m->m_magic != AC__MSG_MAGIC_LIVE || n < 0)
		return -EINVAL;
	/* A coroutine terminated while it waits (for subscribers, or a
	 * channel's node) leaves nothing behind. */
	if (self)
		ac__defer_push(self, &undo, chan_msg_undo, &held);
	rc = chan_deliver_held(chan, &held, timeout_ms, n);
	if (self)
		ac__defer_pop(self, &undo);
	return rc;
}

int ac_chan_deliver(ac_ref chan, ac_msg *m, int64_t timeout_ms, int n)
{
	if (m && m->m_magic == AC__MSG_MAGIC_LIVE)
		chan_stamp(ac__tls_sched, m);
	return ac__chan_relay_deliver(chan, m, timeout_ms, n);
}

int ac_chan_set_transform(ac_ref chan, ac_chan_transform_fn fn, void *arg)
{
	ac_sched *s;
	int err;
	ac_chan *ch = chan_lookup(chan, &s, &err);
	if (!ch)
		return err == -EREMOTE ? -EINVAL : err;
	ch->ch_tf = fn;
	ch->ch_tf_arg = arg;
	return 0;
}

int ac_chan_nsubs(ac_ref chan)
{
	ac_sched *s;
	int err;
	ac_chan *ch = chan_lookup(chan, &s, &err);
	if (!ch)
		return err;
	chan_prune(s, ch);
	AC_ASSERT(ch->ch_nsubs <= INT32_MAX);
	return (int)ch->ch_nsubs;
}

int ac_chan_name(ac_ref chan, char *buf, size_t len)
{
	ac_sched *s;
	int err;
	ac_chan *ch = chan_lookup(chan, &s, &err);
	if (!ch)
		return err;
	snprintf(buf, len, "%s", ch->ch_name);
	return 0;
}

static void chan_free(ac_sched *s, ac_chan *ch)
{
	AC_ASSERT(ch->ch_sched == s && ac__obj_get(s, ch->ch_id, AC_REF_CHAN) == ch);
	ac__obj_del(s, ch->ch_id);
	AC_ASSERT(!ac__obj_get(s, ch->ch_id, AC_REF_CHAN)); /* its refs are stale */
	/* Waiting delivers wake, find the channel gone and return 0. */
	ac_waitq_wake(&ch->ch_wq, INT32_MAX, 1);
	ac__free(ch->ch_subs);
	ac__free(ch);
}

int ac_chan_close(ac_ref chan)
{
	ac_sched *s;
	int err;
	ac_chan *ch = chan_lookup(chan, &s, &err);
	if (!ch)
		return err == -EREMOTE ? -EINVAL : err;
	chan_free(s, ch);
	AC_ASSERT(!chan_get(s, chan)); /* closed: its ref names nothing now */
	return 0;
}

void ac__chan_drop_node(ac_sched *s, const ac_addr *loc)
{
	uint32_t i, j;
	AC_ASSERT(loc != NULL);
	for (i = 1; i < s->s_nobj; i++) {
		ac_chan *ch;
		if (s->s_obj[i].o_kind != AC_REF_CHAN)
			continue;
		ch = s->s_obj[i].o_ptr;
		j = 0;
		while (j < ch->ch_nsubs) {
			if (!ac__ref_is_local(s, &ch->ch_subs[j]) &&
			    ac_addr_eq(&ch->ch_subs[j].loc, loc))
				chan_remove_at(ch, j);
			else
				j++;
		}
		AC_ASSERT(ch->ch_sched == s && ch->ch_nsubs <= ch->ch_capsubs);
	}
}

void ac__chan_free_all(ac_sched *s)
{
	uint32_t i;
	for (i = 1; i < s->s_nobj; i++)
		if (s->s_obj[i].o_kind == AC_REF_CHAN)
			chan_free(s, s->s_obj[i].o_ptr);
#ifdef AC_DEBUG
	for (i = 1; i < s->s_nobj; i++) /* none left: every slot was visited */
		AC_DASSERT(s->s_obj[i].o_kind != AC_REF_CHAN);
#endif
}
