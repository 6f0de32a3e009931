/* tests/check_chan.c: local channels (engine/chan.c) — creation and names,
 * subscription of coroutines and channels (once only, -ENOENT, -ELOOP for
 * cycles), send giving every subscriber its own copy with the sender kept,
 * transforms that modify, replace or drop, deliver counting recipients and
 * waiting for n subscribers (released by a subscribe, or timing out with
 * nobody receiving), fan-out through subscribed channels, dropping of ended
 * subscribers, close (waiting delivers return 0, later use -ESRCH, also
 * when a deliver's timeout fires in the same scheduler pass as the close),
 * and ac_send/ac_deliver to a channel ref.
 *
 * Most bodies run as coroutines (test_run). Recipients are "collectors":
 * coroutines that log every payload until a direct "end" message, so that
 * "nobody received anything" is an exact assertion, not a timeout.
 */
#include "tests/testutil.h"

#include <stdio.h>

/* ---- collectors ---------------------------------------------------------- */

/* A coroutine that records what it receives until "end". */
typedef struct collector {
	/* The collecting coroutine. */
	ac_ref ref;
	/* Messages received before "end". */
	int n;
	/* Their payloads, each followed by ';'. */
	char log[512];
	/* Sender of the last message. */
	ac_ref last_from;
} collector;

static void body_collect(void *arg)
{
	collector *c = arg;
	for (;;) {
		ac_msg *m;
		size_t used = strlen(c->log);
		CK_OK(ac_receive(10000, &m));
		if (ac_msg_is(m, "end")) {
			ac_msg_free(m);
			return;
		}
		c->n++;
		c->last_from = ac_msg_from(m);
		snprintf(c->log + used, sizeof(c->log) - used, "%.*s;",
		         (int)ac_msg_len(m), (const char *)ac_msg_data(m));
		ac_msg_free(m);
	}
}

static void collector_start(collector *c)
{
	memset(c, 0, sizeof(*c));
	CK_OK(ac_spawn(NULL, body_collect, c, NULL, &c->ref));
}

/* Tell the collector to stop (after everything sent before) and wait. */
static void collector_stop(collector *c)
{
	CK_OK(ac_send(c->ref, ac_msg_str("end")));
	test_join(c->ref);
}

static void body_noop(void *arg)
{
	(void)arg;
}

/* ---- creation and names -------------------------------------------------- */

START_TEST(test_new_and_name)
{
	ac_sched *s = test_sched();
	ac_ref a, b, r;
	char name[AC_NAME_MAX + 8], long_name[AC_NAME_MAX + 8];
	ac_sched_free(s);
	CK_RC(ac_chan_new(NULL, "orphan", &a), -EPERM); /* no scheduler */
	s = test_sched();
	CK_RC(ac_chan_new(s, NULL, &a), -EINVAL);
	CK_RC(ac_chan_new(s, "", &a), -EINVAL);
	CK_RC(ac_chan_new(s, "x", NULL), -EINVAL);
	memset(long_name, 'n', AC_NAME_MAX + 1);
	long_name[AC_NAME_MAX + 1] = '\0';
	CK_RC(ac_chan_new(s, long_name, &a), -ENAMETOOLONG); /* one too many */
	long_name[AC_NAME_MAX] = '\0';
	CK_OK(ac_chan_new(s, long_name, &a)); /* exactly the limit */
	CK_OK(ac_chan_name(a, name, sizeof(name)));
	ck_assert_str_eq(name, long_name);
	CK_OK(ac_chan_new(NULL, "news", &b)); /* the current scheduler */
	ck_assert_int_eq(b.kind, AC_REF_CHAN);
	ck_assert(!ac_ref_eq(a, b));
	CK_OK(ac_chan_name(b, name, sizeof(name)));
	ck_assert_str_eq(name, "news");
	CK_OK(ac_chan_name(b, name, 3)); /* truncated, NUL-terminated */
	ck_assert_str_eq(name, "ne");
	ck_assert_int_eq(ac_chan_nsubs(b), 0);
	/* not a channel ref */
	CK_RC(ac_chan_nsubs(ac_ref_null()), -EINVAL);
	CK_RC(ac_chan_name(ac_ref_null(), name, sizeof(name)), -EINVAL);
	CK_OK(ac_spawn(s, body_noop, NULL, NULL, &r));
	CK_RC(ac_chan_nsubs(r), -EINVAL);
	CK_RC(ac_chan_close(r), -EINVAL);
	CK_OK(ac_chan_close(a));
	CK_OK(ac_sched_run(s));
	ac_sched_free(s); /* frees channel b, never closed */
}
END_TEST

/* ---- subscribe, unsubscribe ---------------------------------------------- */

static void body_subscribe(void *arg)
{
	int *done = arg;
	collector c;
	ac_ref ch, other;
	collector_start(&c);
	CK_OK(ac_chan_new(NULL, "subs", &ch));
	CK_OK(ac_chan_subscribe(ch, c.ref, 0));
	CK_OK(ac_chan_subscribe(ch, c.ref, 0)); /* twice: one subscription */
	ck_assert_int_eq(ac_chan_nsubs(ch), 1);
	CK_OK(ac_chan_subscribe(ch, ac_self(), 0));
	ck_assert_int_eq(ac_chan_nsubs(ch), 2);
	/* a message reaches each subscriber once */
	CK_OK(ac_chan_send(ch, ac_msg_str("once")));
	CK_OK(ac_chan_unsubscribe(ch, c.ref, 0));
	ck_assert_int_eq(ac_chan_nsubs(ch), 1);
	CK_RC(ac_chan_unsubscribe(ch, c.ref, 0), -ENOENT);
	CK_OK(ac_spawn(NULL, body_noop, NULL, NULL, &other));
	CK_RC(ac_chan_unsubscribe(ch, other, 0), -ENOENT);
	/* an unsubscribed coroutine gets nothing more */
	CK_OK(ac_chan_send(ch, ac_msg_str("after")));
	/* bad refs */
	CK_RC(ac_chan_subscribe(ch, ac_ref_null(), 0), -EINVAL);
	CK_RC(ac_chan_subscribe(other, c.ref, 0), -EINVAL); /* not a channel */
	CK_RC(ac_chan_subscribe(ac_ref_null(), c.ref, 0), -EINVAL);
	CK_RC(ac_chan_unsubscribe(other, c.ref, 0), -EINVAL);
	ck_assert_int_eq(ac_chan_nsubs(ch), 1);
	/* subscribing again after unsubscribing works */
	CK_OK(ac_chan_subscribe(ch, c.ref, 0));
	ck_assert_int_eq(ac_chan_nsubs(ch), 2);
	CK_OK(ac_chan_send(ch, ac_msg_str("again")));
	collector_stop(&c);
	ck_assert_str_eq(c.log, "once;again;");
	ck_assert_uint_eq(ac_queue_len(), 3); /* once, after, again */
	CK_OK(ac_chan_close(ch));
	*done = 1;
}

START_TEST(test_subscribe_unsubscribe)
{
	int done = 0;
	/* The body, its collector and the coroutine never subscribed. */
	ck_assert_uint_eq(test_run(body_subscribe, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- send ---------------------------------------------------------------- */

typedef struct scribble {
	ac_ref sender;
	int done;
} scribble;

/* Receive the channel message, check it, then overwrite this copy and let
 * the others read theirs: a shared copy would show the overwrite. */
static void body_scribble(void *arg)
{
	scribble *sc = arg;
	ac_msg *m;
	CK_OK(ac_receive(10000, &m));
	ck_assert(ac_msg_is(m, "payload"));
	ck_assert(ac_ref_eq(ac_msg_from(m), sc->sender));
	ck_assert_int_eq(ac_msg_kind(m), AC_MSG_DATA);
	memset(ac_msg_wdata(m), 'X', ac_msg_len(m));
	ac_yield();
	ac_yield();
	ac_msg_free(m);
	sc->done++;
}

static void body_send_copies(void *arg)
{
	int *done = arg;
	scribble sc = {.sender = ac_self(), .done = 0};
	ac_ref ch, r[4];
	int i;
	CK_OK(ac_chan_new(NULL, "copies", &ch));
	CK_OK(ac_chan_send(ch, ac_msg_str("nobody"))); /* no subscriber: ok */
	for (i = 0; i < 4; i++) {
		CK_OK(ac_spawn(NULL, body_scribble, &sc, NULL, &r[i]));
		CK_OK(ac_chan_subscribe(ch, r[i], 0));
	}
	CK_OK(ac_chan_send(ch, ac_msg_str("payload")));
	for (i = 0; i < 4; i++)
		test_join(r[i]);
	ck_assert_int_eq(sc.done, 4);
	CK_RC(ac_chan_send(ch, NULL), -EINVAL);
	CK_OK(ac_chan_close(ch));
	*done = 1;
}

START_TEST(test_send_own_copies)
{
	int done = 0;
	/* The body and its four subscribers. */
	ck_assert_uint_eq(test_run(body_send_copies, &done), 5);
	ck_assert_int_eq(done, 1);
}
END_TEST

START_TEST(test_send_from_outside)
{
	ac_sched *s = test_sched();
	collector c;
	ac_ref ch;
	memset(&c, 0, sizeof(c));
	CK_OK(ac_spawn(s, body_collect, &c, NULL, &c.ref));
	CK_OK(ac_chan_new(s, "outside", &ch));
	CK_OK(ac_chan_subscribe(ch, c.ref, 0));
	CK_OK(ac_chan_send(ch, ac_msg_str("from main")));
	/* no subscriber is missing, so deliver does not have to wait */
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("d"), 1000, 1), 1);
	CK_OK(ac_send(c.ref, ac_msg_str("end")));
	CK_OK(ac_sched_run(s));
	ck_assert_str_eq(c.log, "from main;d;");
	ck_assert(ac_ref_is_null(c.last_from)); /* not sent by a coroutine */
	ac_sched_free(s);
}
END_TEST

/* ---- transforms ---------------------------------------------------------- */

typedef struct tf_state {
	int calls;
} tf_state;

/* "drop" is dropped, "new" is replaced by a new message, anything else is
 * upper-cased in place. */
static ac_msg *tf_upper(ac_msg *m, void *arg)
{
	tf_state *st = arg;
	char *p = ac_msg_wdata(m);
	size_t i;
	st->calls++;
	if (ac_msg_is(m, "drop")) {
		ac_msg_free(m);
		return NULL;
	}
	if (ac_msg_is(m, "new")) {
		ac_msg *n = ac_msg_printf("replaced(%zu)", ac_msg_len(m));
		ac_msg_free(m);
		return n;
	}
	for (i = 0; i < ac_msg_len(m); i++)
		if (p[i] >= 'a' && p[i] <= 'z')
			p[i] = (char)(p[i] - 'a' + 'A');
	return m;
}

static void body_transform(void *arg)
{
	int *done = arg;
	tf_state st = {0};
	collector a, b;
	ac_ref ch;
	collector_start(&a);
	collector_start(&b);
	CK_OK(ac_chan_new(NULL, "tf", &ch));
	CK_OK(ac_chan_subscribe(ch, a.ref, 0));
	CK_OK(ac_chan_subscribe(ch, b.ref, 0));
	CK_OK(ac_chan_set_transform(ch, tf_upper, &st));
	CK_OK(ac_chan_send(ch, ac_msg_str("abc")));
	CK_OK(ac_chan_send(ch, ac_msg_str("drop")));
	CK_OK(ac_chan_send(ch, ac_msg_str("new")));
	/* a dropped message reaches nobody, and deliver counts nobody */
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("drop"), 1000, 0), 0);
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("xy"), 1000, 2), 2);
	ck_assert_int_eq(st.calls, 5); /* once per message, not per subscriber */
	CK_OK(ac_chan_set_transform(ch, NULL, NULL));
	CK_OK(ac_chan_send(ch, ac_msg_str("raw")));
	ck_assert_int_eq(st.calls, 5);
	collector_stop(&a);
	collector_stop(&b);
	ck_assert_str_eq(a.log, "ABC;replaced(3);XY;raw;");
	ck_assert_str_eq(b.log, "ABC;replaced(3);XY;raw;");
	CK_OK(ac_chan_close(ch));
	*done = 1;
}

START_TEST(test_transform)
{
	int done = 0;
	/* The body and its two collectors. */
	ck_assert_uint_eq(test_run(body_transform, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* A message a transform replaces still comes from the sender. */
static void body_transform_from(void *arg)
{
	int *done = arg;
	tf_state st = {0};
	collector a;
	ac_ref ch;
	collector_start(&a);
	CK_OK(ac_chan_new(NULL, "tf-from", &ch));
	CK_OK(ac_chan_subscribe(ch, a.ref, 0));
	CK_OK(ac_chan_set_transform(ch, tf_upper, &st));
	CK_OK(ac_chan_send(ch, ac_msg_str("new")));
	collector_stop(&a);
	ck_assert_int_eq(a.n, 1);
	ck_assert(ac_ref_eq(a.last_from, ac_self()));
	CK_OK(ac_chan_close(ch));
	*done = 1;
}

START_TEST(test_transform_keeps_sender)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_transform_from, &done), 2);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- deliver ------------------------------------------------------------- */

static void body_deliver_count(void *arg)
{
	int *done = arg;
	collector c[3];
	ac_ref ch;
	ac_msg *m;
	int64_t t0;
	int i;
	CK_OK(ac_chan_new(NULL, "count", &ch));
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("none"), 1000, 0), 0);
	for (i = 0; i < 3; i++) {
		collector_start(&c[i]);
		CK_OK(ac_chan_subscribe(ch, c[i].ref, 0));
	}
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("all"), 1000, 0), 3);
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("three"), 1000, 3), 3);
	/* n not reached and no time to wait: nobody gets it, at once */
	t0 = test_now_ms();
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("four"), 0, 4), 0);
	ck_assert_int_lt(test_now_ms() - t0, 1000);
	/* bad arguments: the caller keeps the message */
	m = ac_msg_str("kept");
	CK_RC(ac_chan_deliver(ch, m, 0, -1), -EINVAL);
	CK_RC(ac_chan_deliver(ch, NULL, 0, 0), -EINVAL);
	CK_RC(ac_chan_deliver(ac_ref_null(), m, 0, 0), -EINVAL);
	ck_assert(ac_msg_is(m, "kept"));
	ac_msg_free(m);
	for (i = 0; i < 3; i++) {
		collector_stop(&c[i]);
		ck_assert_str_eq(c[i].log, "all;three;");
		ck_assert(ac_ref_eq(c[i].last_from, ac_self()));
	}
	CK_OK(ac_chan_close(ch));
	*done = 1;
}

START_TEST(test_deliver_count)
{
	int done = 0;
	/* The body and its three collectors. */
	ck_assert_uint_eq(test_run(body_deliver_count, &done), 4);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_deliver_timeout(void *arg)
{
	int *done = arg;
	collector c;
	ac_ref ch;
	int64_t t0;
	collector_start(&c);
	CK_OK(ac_chan_new(NULL, "short", &ch));
	CK_OK(ac_chan_subscribe(ch, c.ref, 0));
	t0 = test_now_ms();
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("lost"), 50, 2), 0);
	ck_assert_int_ge(test_now_ms() - t0, 45);
	ck_assert_int_eq(ac_chan_nsubs(ch), 1);
	collector_stop(&c);
	ck_assert_int_eq(c.n, 0); /* at timeout nobody receives */
	CK_OK(ac_chan_close(ch));
	*done = 1;
}

START_TEST(test_deliver_timeout_nobody)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_deliver_timeout, &done), 2);
	ck_assert_int_eq(done, 1);
}
END_TEST

typedef struct late {
	ac_ref ch;
	collector *c;
	int64_t delay_ms;
} late;

/* Subscribe a new collector after a delay. */
static void body_late_subscriber(void *arg)
{
	late *l = arg;
	CK_OK(ac_sleep(l->delay_ms));
	collector_start(l->c);
	CK_OK(ac_chan_subscribe(l->ch, l->c->ref, 0));
}

static void body_deliver_released(void *arg)
{
	int *done = arg;
	collector a, b, x;
	late l;
	ac_ref ch, r;
	collector_start(&a);
	CK_OK(ac_chan_new(NULL, "wait", &ch));
	CK_OK(ac_chan_subscribe(ch, a.ref, 0));
	l.ch = ch;
	l.c = &b;
	l.delay_ms = 20;
	CK_OK(ac_spawn(NULL, body_late_subscriber, &l, NULL, &r));
	/* released by the second subscription, long before the timeout */
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("both"), 10000, 2), 2);
	test_join(r);
	/* one more subscriber arriving is not enough for n = 4 */
	l.c = &x;
	CK_OK(ac_spawn(NULL, body_late_subscriber, &l, NULL, &r));
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("four"), 300, 4), 0);
	test_join(r);
	ck_assert_int_eq(ac_chan_nsubs(ch), 3);
	collector_stop(&a);
	collector_stop(&b);
	collector_stop(&x);
	ck_assert_str_eq(a.log, "both;");
	ck_assert_str_eq(b.log, "both;");
	ck_assert_int_eq(x.n, 0);
	CK_OK(ac_chan_close(ch));
	*done = 1;
}

START_TEST(test_deliver_released_by_subscribe)
{
	int done = 0;
	/* The body, three collectors and two late subscribers. */
	ck_assert_uint_eq(test_run(body_deliver_released, &done), 6);
	ck_assert_int_eq(done, 1);
}
END_TEST

START_TEST(test_deliver_wait_outside)
{
	ac_sched *s = test_sched();
	ac_ref ch;
	ac_msg *m = ac_msg_str("must wait");
	CK_OK(ac_chan_new(s, "outside", &ch));
	/* waiting is for coroutines only; the caller keeps the message */
	CK_RC(ac_chan_deliver(ch, m, 1000, 1), -EPERM);
	ck_assert(ac_msg_is(m, "must wait"));
	/* without waiting it is allowed */
	ck_assert_int_eq(ac_chan_deliver(ch, m, 0, 1), 0);
	ac_sched_free(s);
}
END_TEST

/* ---- channels subscribed to channels ------------------------------------- */

static void body_chan_of_chan(void *arg)
{
	int *done = arg;
	tf_state st = {0};
	collector c1, c2, c3;
	ac_ref top, sub;
	collector_start(&c1);
	collector_start(&c2);
	collector_start(&c3);
	CK_OK(ac_chan_new(NULL, "top", &top));
	CK_OK(ac_chan_new(NULL, "sub", &sub));
	CK_OK(ac_chan_subscribe(top, c1.ref, 0));
	CK_OK(ac_chan_subscribe(top, sub, 0));
	CK_OK(ac_chan_subscribe(top, sub, 0)); /* once */
	CK_OK(ac_chan_subscribe(sub, c2.ref, 0));
	CK_OK(ac_chan_subscribe(sub, c3.ref, 0));
	ck_assert_int_eq(ac_chan_nsubs(top), 2);
	ck_assert_int_eq(ac_chan_nsubs(sub), 2);
	/* the sub-channel counts its own recipients */
	ck_assert_int_eq(ac_chan_deliver(top, ac_msg_str("d1"), 1000, 0), 3);
	ck_assert_int_eq(ac_chan_deliver(top, ac_msg_str("d2"), 1000, 2), 3);
	CK_OK(ac_chan_send(top, ac_msg_str("s1")));
	/* the sub-channel's transform applies to what passes through it */
	CK_OK(ac_chan_set_transform(sub, tf_upper, &st));
	ck_assert_int_eq(ac_chan_deliver(top, ac_msg_str("drop"), 1000, 0), 1);
	CK_OK(ac_chan_send(top, ac_msg_str("s2")));
	ck_assert_int_eq(st.calls, 2);
	CK_OK(ac_chan_unsubscribe(top, sub, 0));
	ck_assert_int_eq(ac_chan_deliver(top, ac_msg_str("d3"), 1000, 0), 1);
	collector_stop(&c1);
	collector_stop(&c2);
	collector_stop(&c3);
	ck_assert_str_eq(c1.log, "d1;d2;s1;drop;s2;d3;");
	ck_assert_str_eq(c2.log, "d1;d2;s1;S2;");
	ck_assert_str_eq(c3.log, "d1;d2;s1;S2;");
	/* the sender survives the hop through the sub-channel */
	ck_assert(ac_ref_eq(c2.last_from, ac_self()));
	CK_OK(ac_chan_close(top));
	CK_OK(ac_chan_close(sub));
	*done = 1;
}

START_TEST(test_chan_of_chan)
{
	int done = 0;
	/* The body and its three collectors. */
	ck_assert_uint_eq(test_run(body_chan_of_chan, &done), 4);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_cycles(void *arg)
{
	int *done = arg;
	ac_ref a, b, c, d;
	CK_OK(ac_chan_new(NULL, "a", &a));
	CK_OK(ac_chan_new(NULL, "b", &b));
	CK_OK(ac_chan_new(NULL, "c", &c));
	CK_OK(ac_chan_new(NULL, "d", &d));
	CK_RC(ac_chan_subscribe(a, a, 0), -ELOOP);
	CK_OK(ac_chan_subscribe(a, b, 0)); /* a -> b */
	CK_RC(ac_chan_subscribe(b, a, 0), -ELOOP);
	CK_OK(ac_chan_subscribe(b, c, 0)); /* a -> b -> c */
	CK_RC(ac_chan_subscribe(c, a, 0), -ELOOP);
	CK_RC(ac_chan_subscribe(c, b, 0), -ELOOP);
	/* shared descendants are not cycles */
	CK_OK(ac_chan_subscribe(a, d, 0));
	CK_OK(ac_chan_subscribe(d, c, 0));
	ck_assert_int_eq(ac_chan_nsubs(a), 2);
	ck_assert_int_eq(ac_chan_nsubs(c), 0);
	/* fan-out terminates */
	ck_assert_int_eq(ac_chan_deliver(a, ac_msg_str("x"), 1000, 0), 0);
	/* after the cycle is broken, the reverse link is allowed */
	CK_OK(ac_chan_unsubscribe(b, c, 0));
	CK_OK(ac_chan_unsubscribe(d, c, 0));
	CK_OK(ac_chan_subscribe(c, a, 0));
	CK_OK(ac_chan_close(a));
	CK_OK(ac_chan_close(b));
	CK_OK(ac_chan_close(c));
	CK_OK(ac_chan_close(d));
	*done = 1;
}

START_TEST(test_cycles_refused)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_cycles, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- subscribers that went away ------------------------------------------ */

static void body_block(void *arg)
{
	ac_msg *m;
	(void)arg;
	ac_receive(AC_FOREVER, &m);
	ck_abort_msg("a terminated coroutine was resumed");
}

static void body_dead_subs(void *arg)
{
	int *done = arg;
	collector live;
	ac_ref ch, sub, ended, killed;
	collector_start(&live);
	CK_OK(ac_chan_new(NULL, "dead", &ch));
	CK_OK(ac_chan_new(NULL, "dead-sub", &sub));
	CK_OK(ac_spawn(NULL, body_noop, NULL, NULL, &ended));
	CK_OK(ac_spawn(NULL, body_block, NULL, NULL, &killed));
	CK_OK(ac_chan_subscribe(ch, live.ref, 0));
	CK_OK(ac_chan_subscribe(ch, ended, 0));
	CK_OK(ac_chan_subscribe(ch, killed, 0));
	CK_OK(ac_chan_subscribe(ch, sub, 0));
	ck_assert_int_eq(ac_chan_nsubs(ch), 4);
	test_join(ended);
	ac_yield();
	CK_OK(ac_terminate(killed));
	CK_OK(ac_chan_close(sub));
	/* gone subscribers are not recipients and do not count towards n */
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("wait"), 50, 2), 0);
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("one"), 1000, 0), 1);
	CK_OK(ac_chan_send(ch, ac_msg_str("two")));
	ck_assert_int_eq(ac_chan_nsubs(ch), 1);
	collector_stop(&live);
	ck_assert_str_eq(live.log, "one;two;");
	/* the last subscriber ended too: nobody is left */
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("three"), 1000, 0), 0);
	ck_assert_int_eq(ac_chan_nsubs(ch), 0);
	CK_OK(ac_chan_close(ch));
	*done = 1;
}

START_TEST(test_dead_subscribers_dropped)
{
	int done = 0;
	/* The body, the live collector, the ended and the killed subscriber. */
	ck_assert_uint_eq(test_run(body_dead_subs, &done), 4);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- close --------------------------------------------------------------- */

typedef struct closer {
	ac_ref ch;
	int64_t delay_ms;
} closer;

static void body_closer(void *arg)
{
	closer *cl = arg;
	CK_OK(ac_sleep(cl->delay_ms));
	CK_OK(ac_chan_close(cl->ch));
}

static void body_close(void *arg)
{
	int *done = arg;
	collector c;
	closer cl;
	ac_ref ch, other, r;
	ac_msg *m;
	char name[16];
	collector_start(&c);
	CK_OK(ac_chan_new(NULL, "closing", &ch));
	CK_OK(ac_chan_new(NULL, "other", &other));
	CK_OK(ac_chan_subscribe(ch, c.ref, 0));
	CK_OK(ac_chan_subscribe(other, ch, 0));
	cl.ch = ch;
	cl.delay_ms = 20;
	CK_OK(ac_spawn(NULL, body_closer, &cl, NULL, &r));
	/* a deliver waiting for subscribers returns 0 when the channel closes */
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("never"), 10000, 3), 0);
	test_join(r);
	/* every later use: -ESRCH, and the caller keeps the message */
	m = ac_msg_str("kept");
	CK_RC(ac_chan_send(ch, m), -ESRCH);
	CK_RC(ac_chan_deliver(ch, m, 0, 0), -ESRCH);
	CK_RC(ac_deliver(ch, m, 0), -ESRCH);
	ck_assert(ac_msg_is(m, "kept"));
	ac_msg_free(m);
	CK_RC(ac_chan_subscribe(ch, c.ref, 0), -ESRCH);
	CK_RC(ac_chan_unsubscribe(ch, c.ref, 0), -ESRCH);
	CK_RC(ac_chan_nsubs(ch), -ESRCH);
	CK_RC(ac_chan_name(ch, name, sizeof(name)), -ESRCH);
	CK_RC(ac_chan_set_transform(ch, NULL, NULL), -ESRCH);
	CK_RC(ac_chan_close(ch), -ESRCH);
	/* a send to a gone object drops the message, as for coroutines */
	CK_OK(ac_send(ch, ac_msg_str("dropped")));
	/* the closed channel is no longer a recipient of "other" */
	ck_assert_int_eq(ac_chan_deliver(other, ac_msg_str("o"), 1000, 0), 0);
	ck_assert_int_eq(ac_chan_nsubs(other), 0);
	collector_stop(&c);
	ck_assert_int_eq(c.n, 0);
	CK_OK(ac_chan_close(other));
	*done = 1;
}

START_TEST(test_close)
{
	int done = 0;
	/* The body, its collector and the closer. */
	ck_assert_uint_eq(test_run(body_close, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

typedef struct race {
	ac_ref ch;
	int result;
} race;

static void body_race_deliver(void *arg)
{
	race *rc = arg;
	rc->result = ac_chan_deliver(rc->ch, ac_msg_str("late"), 300, 2);
}

/* The deliver's timeout and the closer's sleep both expire while a spinner
 * holds the CPU, so the closer (earlier deadline) runs first and closes the
 * channel while the deliver has timed out but not yet run. A new channel
 * made right after (likely in the freed memory) with enough subscribers
 * must not receive the stale deliver. */
static void body_deliver_closed_meanwhile(void *arg)
{
	int *done = arg;
	race rc = {.result = 99};
	collector c, n1, n2;
	ac_ref d, fresh;
	int spin_ms = 1000;
	collector_start(&c);
	collector_start(&n1);
	collector_start(&n2);
	CK_OK(ac_chan_new(NULL, "race", &rc.ch));
	CK_OK(ac_chan_subscribe(rc.ch, c.ref, 0));
	CK_OK(ac_spawn(NULL, body_race_deliver, &rc, NULL, &d));
	ac_yield(); /* the deliver starts waiting */
	CK_OK(ac_spawn(NULL, test_spin, &spin_ms, NULL, NULL));
	CK_OK(ac_sleep(10));
	CK_OK(ac_chan_close(rc.ch));
	CK_OK(ac_chan_new(NULL, "fresh", &fresh));
	CK_OK(ac_chan_subscribe(fresh, n1.ref, 0));
	CK_OK(ac_chan_subscribe(fresh, n2.ref, 0));
	test_join(d);
	ck_assert_int_eq(rc.result, 0);
	collector_stop(&c);
	collector_stop(&n1);
	collector_stop(&n2);
	ck_assert_int_eq(c.n, 0);
	ck_assert_int_eq(n1.n, 0);
	ck_assert_int_eq(n2.n, 0);
	CK_OK(ac_chan_close(fresh));
	*done = 1;
}

START_TEST(test_deliver_timeout_closed_meanwhile)
{
	int done = 0;
	/* The body, three collectors, the deliverer and the spinner. */
	ck_assert_uint_eq(test_run(body_deliver_closed_meanwhile, &done), 6);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- ac_send / ac_deliver to a channel ref ------------------------------- */

static void body_send_to_chan(void *arg)
{
	int *done = arg;
	collector a, b;
	ac_ref ch;
	collector_start(&a);
	collector_start(&b);
	CK_OK(ac_chan_new(NULL, "route", &ch));
	CK_OK(ac_chan_subscribe(ch, a.ref, 0));
	CK_OK(ac_send(ch, ac_msg_str("via send")));
	CK_OK(ac_send_data(ch, "data", 4));
	ck_assert_int_eq(ac_deliver(ch, ac_msg_str("via deliver"), 1000), 1);
	CK_OK(ac_chan_subscribe(ch, b.ref, 0));
	CK_OK(ac_send(ch, ac_msg_str("both")));
	collector_stop(&a);
	collector_stop(&b);
	ck_assert_str_eq(a.log, "via send;data;via deliver;both;");
	ck_assert_str_eq(b.log, "both;");
	ck_assert(ac_ref_eq(a.last_from, ac_self()));
	CK_OK(ac_chan_close(ch));
	*done = 1;
}

START_TEST(test_send_to_chan_ref)
{
	int done = 0;
	/* The body and its two collectors. */
	ck_assert_uint_eq(test_run(body_send_to_chan, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- many subscribers ---------------------------------------------------- */

static void body_recv_one(void *arg)
{
	ac_msg *m;
	CK_OK(ac_receive(10000, &m));
	ck_assert(ac_msg_is(m, "fan"));
	ac_msg_free(m);
	(*(int *)arg)++;
}

enum { MANY = 1000 };

typedef struct many {
	/* Subscribers that received the deliver. */
	int got;
	/* Set on the body's last line. */
	int done;
} many;

/* MANY subscribers each receive one deliver. */
static void body_many(void *arg)
{
	many *mn = arg;
	ac_ref ch, r;
	int i;
	CK_OK(ac_chan_new(NULL, "many", &ch));
	for (i = 0; i < MANY; i++) {
		CK_OK(ac_spawn(NULL, body_recv_one, &mn->got, NULL, &r));
		CK_OK(ac_chan_subscribe(ch, r, 0));
	}
	ck_assert_int_eq(ac_chan_nsubs(ch), MANY);
	ck_assert_int_eq(ac_chan_deliver(ch, ac_msg_str("fan"), 1000, MANY), MANY);
	while (mn->got < MANY)
		CK_OK(ac_sleep(1));
	ck_assert_int_eq(ac_chan_nsubs(ch), 0); /* all ended */
	CK_OK(ac_chan_close(ch));
	mn->done = 1;
}

START_TEST(test_many_subscribers)
{
	many mn = {0, 0};
	ck_assert_uint_eq(test_run(body_many, &mn), 1 + MANY);
	ck_assert_int_eq(mn.got, MANY);
	ck_assert_int_eq(mn.done, 1);
}
END_TEST

/* asyncoro.h's channel contracts one call at a time: a name cut to the
 * buffer, each documented code for a ref that is not a channel, another
 * node's channel and a closed one (the message stays the caller's on an
 * error), ac_deliver to a channel (how many got it), and delivers that
 * time out (0 and 20 ms) consuming their message: nobody gets it. */
static void body_chan_contract(void *arg)
{
	int *done = arg;
	collector a, b;
	ac_ref ch, far, closed;
	char buf[8];
	ac_msg *m;
	CK_OK(ac_chan_new(NULL, "a-long-name", &ch));
	CK_OK(ac_chan_new(NULL, "closed", &closed));
	CK_OK(ac_chan_close(closed));
	far = ch;
	far.loc.port = (uint16_t)(far.loc.port + 1);
	far.inc ^= 1;
	CK_OK(ac_chan_name(ch, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "a-long-");
	CK_RC(ac_chan_name(closed, buf, sizeof(buf)), -ESRCH);
	CK_RC(ac_chan_name(ac_self(), buf, sizeof(buf)), -EINVAL);
	CK_RC(ac_chan_name(far, buf, sizeof(buf)), -EREMOTE);
	CK_RC(ac_chan_nsubs(closed), -ESRCH);
	CK_RC(ac_chan_nsubs(ac_self()), -EINVAL);
	CK_RC(ac_chan_nsubs(far), -EREMOTE);
	CK_RC(ac_chan_set_transform(closed, NULL, NULL), -ESRCH);
	CK_RC(ac_chan_set_transform(far, NULL, NULL), -EINVAL);
	CK_RC(ac_chan_close(far), -EINVAL);
	CK_RC(ac_chan_subscribe(ac_self(), ac_self(), 0), -EINVAL);
	CK_RC(ac_chan_subscribe(closed, ac_self(), 0), -ESRCH);
	CK_RC(ac_chan_subscribe(ch, ac_ref_null(), 0), -EINVAL);
	CK_RC(ac_chan_unsubscribe(closed, ac_self(), 0), -ESRCH);
	/* No node: another node's channel is unreachable; m stays ours. */
	m = ac_msg_str("x");
	CK_RC(ac_chan_send(far, m), -EHOSTUNREACH);
	CK_RC(ac_chan_deliver(far, m, 0, 0), -EHOSTUNREACH);
	CK_RC(ac_chan_deliver(ch, m, 0, -1), -EINVAL);
	CK_RC(ac_chan_send(ch, NULL), -EINVAL);
	/* ac_deliver to a channel: how many got it. */
	collector_start(&a);
	collector_start(&b);
	CK_OK(ac_chan_subscribe(ch, a.ref, 0));
	CK_OK(ac_chan_subscribe(ch, b.ref, 0));
	CK_RC(ac_deliver(ch, m, 0), 2);
	/* Three wanted, two there, timeout 0: nobody gets it, m is consumed. */
	CK_RC(ac_chan_deliver(ch, ac_msg_str("y"), 0, 3), 0);
	CK_RC(ac_chan_deliver(ch, ac_msg_str("z"), 20, 3), 0);
	collector_stop(&a);
	collector_stop(&b);
	ck_assert_str_eq(a.log, "x;");
	ck_assert_str_eq(b.log, "x;");
	CK_OK(ac_chan_close(ch));
	*done = 1;
}

START_TEST(test_chan_contract)
{
	int done = 0;
	/* The body and its two collectors. */
	ck_assert_uint_eq(test_run(body_chan_contract, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

static Suite *chan_suite(void)
{
	Suite *s = suite_create("chan");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_new_and_name);
	tcase_add_test(tc, test_chan_contract);
	tcase_add_test(tc, test_subscribe_unsubscribe);
	tcase_add_test(tc, test_send_own_copies);
	tcase_add_test(tc, test_send_from_outside);
	tcase_add_test(tc, test_transform);
	tcase_add_test(tc, test_transform_keeps_sender);
	tcase_add_test(tc, test_deliver_count);
	tcase_add_test(tc, test_deliver_timeout_nobody);
	tcase_add_test(tc, test_deliver_released_by_subscribe);
	tcase_add_test(tc, test_deliver_wait_outside);
	tcase_add_test(tc, test_chan_of_chan);
	tcase_add_test(tc, test_cycles_refused);
	tcase_add_test(tc, test_dead_subscribers_dropped);
	tcase_add_test(tc, test_close);
	tcase_add_test(tc, test_deliver_timeout_closed_meanwhile);
	tcase_add_test(tc, test_send_to_chan_ref);
	tcase_add_test(tc, test_many_subscribers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(chan_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
