/* tests/check_engine.c: the scheduler and coroutines — spawn, receive with
 * timeout, send/deliver to live and dead refs, sleep, suspend/resume,
 * terminate, exit values, monitors (exactly one notification whatever the
 * cause), finish, daemons, deadlock detection, categories, yield order,
 * misuse from outside coroutines, and 100,000 coroutines without a leak. */
#include "tests/testutil.h"

#include <stdio.h>

/* ---- basics ------------------------------------------------------------------ */

static void body_set(void *arg)
{
	*(int *)arg = 42;
}

START_TEST(test_spawn_runs)
{
	int v = 0;
	ck_assert_uint_eq(test_run(body_set, &v), 1);
	ck_assert_int_eq(v, 42);
}
END_TEST

START_TEST(test_spawn_invalid)
{
	ac_sched *s = test_sched();
	ac_sched_stats st;
	CK_RC(ac_spawn(s, NULL, NULL, NULL, NULL), -EINVAL);
	/* Nothing was created. */
	ac_sched_get_stats(s, &st);
	ck_assert_uint_eq(st.spawned, 0);
	ck_assert_uint_eq(st.live, 0);
	ac_sched_free(s);
}
END_TEST

static void body_timeout(void *arg)
{
	int *done = arg;
	ac_msg *m = (ac_msg *)arg;
	int64_t t0 = ac_sched_now_ns(ac_sched_self());
	CK_RC(ac_receive(30, &m), -ETIMEDOUT);
	ck_assert_ptr_eq(m, arg); /* untouched on timeout */
	ck_assert_int_ge(ac_sched_now_ns(ac_sched_self()) - t0, 29000000);
	CK_RC(ac_receive(0, &m), -ETIMEDOUT);
	CK_RC(ac_receive(10, NULL), -EINVAL);
	*done = 1;
}

START_TEST(test_receive_timeout)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_timeout, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

START_TEST(test_receive_outside)
{
	ac_msg *m = NULL;
	ac_sched *s = test_sched();
	CK_RC(ac_receive(0, &m), -EPERM);
	CK_RC(ac_sleep(1), -EPERM);
	CK_RC(ac_yield(), -EPERM);
	CK_RC(ac_monitor(ac_ref_null()), -EPERM);
	ck_assert(ac_ref_is_null(ac_self()));
	ac_sched_free(s);
}
END_TEST

/* ---- send, receive, deliver --------------------------------------------------- */

/* Messages "m0", "m1", ... counted by a receiver. */
typedef struct counted {
	/* How many to send. */
	int n;
	/* Received in order so far. */
	int got;
} counted;

/* Receive c->n messages "m0", "m1", ..., counting those in order. */
static void body_echo_n(void *arg)
{
	counted *c = arg;
	int i;
	for (i = 0; i < c->n; i++) {
		ac_msg *m;
		char want[32];
		CK_OK(ac_receive(1000, &m));
		snprintf(want, sizeof(want), "m%d", i);
		ck_assert_msg(ac_msg_is(m, want), "message %d out of order", i);
		ac_msg_free(m);
		c->got++;
	}
}

static void body_sender(void *arg)
{
	counted *c = arg;
	ac_ref r;
	int i;
	CK_OK(ac_spawn(NULL, body_echo_n, c, NULL, &r));
	for (i = 0; i < c->n; i++)
		CK_OK(ac_send(r, ac_msg_printf("m%d", i)));
	CK_OK(ac_finish(r, 1000, NULL));
}

START_TEST(test_send_fifo)
{
	counted c = {.n = 100};
	/* The sender and its receiver, which got all 100 in order. */
	ck_assert_uint_eq(test_run(body_sender, &c), 2);
	ck_assert_int_eq(c.got, 100);
}
END_TEST

/* Who sent a message, and who its receiver says sent it. */
typedef struct sender_seen {
	ac_ref sender;
	ac_ref from;
	int kind;
} sender_seen;

static void body_recv_from(void *arg)
{
	sender_seen *ss = arg;
	ac_msg *m;
	CK_OK(ac_receive(1000, &m));
	ss->kind = ac_msg_kind(m);
	ss->from = ac_msg_from(m);
	ac_msg_free(m);
}

static void body_from(void *arg)
{
	sender_seen *ss = arg;
	ac_ref r;
	ss->sender = ac_self();
	CK_OK(ac_spawn(NULL, body_recv_from, ss, NULL, &r));
	CK_OK(ac_send_data(r, "x", 1));
	CK_OK(ac_finish(r, 1000, NULL));
}

START_TEST(test_send_sets_sender)
{
	sender_seen ss = {.kind = -1};
	ss.from = ac_ref_null();
	ck_assert_uint_eq(test_run(body_from, &ss), 2);
	ck_assert(!ac_ref_is_null(ss.sender));
	ck_assert(ac_ref_eq(ss.from, ss.sender));
	ck_assert_int_eq(ss.kind, AC_MSG_DATA);
}
END_TEST

static void body_noop(void *arg)
{
	(void)arg;
}

static void body_dead_ref(void *arg)
{
	int *done = arg;
	ac_ref r;
	ac_msg *m;
	CK_OK(ac_spawn(NULL, body_noop, NULL, NULL, &r));
	CK_OK(ac_finish(r, 1000, NULL));
	ck_assert_int_eq(ac_is_alive(r), 0);
	/* send to a dead coroutine: dropped silently, consumed */
	CK_OK(ac_send(r, ac_msg_str("lost")));
	/* deliver to a dead coroutine: -ESRCH, caller keeps the message */
	m = ac_msg_str("kept");
	CK_RC(ac_deliver(r, m, 100), -ESRCH);
	ck_assert(ac_msg_is(m, "kept"));
	ac_msg_free(m);
	/* invalid refs */
	m = ac_msg_str("x");
	CK_RC(ac_send(ac_ref_null(), m), -EINVAL);
	CK_RC(ac_deliver(ac_ref_null(), m, 0), -EINVAL);
	CK_RC(ac_send(r, NULL), -EINVAL);
	ac_msg_free(m);
	*done = 1;
}

START_TEST(test_dead_ref)
{
	int done = 0;
	/* The body and the coroutine that ended before it was sent to. */
	ck_assert_uint_eq(test_run(body_dead_ref, &done), 2);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_deliver_live(void *arg)
{
	counted *c = arg;
	ac_ref r;
	CK_OK(ac_spawn(NULL, body_echo_n, c, NULL, &r));
	ck_assert_int_eq(ac_deliver(r, ac_msg_str("m0"), 100), 1);
	CK_OK(ac_finish(r, 1000, NULL));
}

START_TEST(test_deliver_live)
{
	counted c = {.n = 1};
	ck_assert_uint_eq(test_run(body_deliver_live, &c), 2);
	ck_assert_int_eq(c.got, 1);
}
END_TEST

static void body_stale_slot(void *arg)
{
	int *done = arg;
	ac_ref a, b;
	CK_OK(ac_spawn(NULL, body_noop, NULL, NULL, &a));
	CK_OK(ac_finish(a, 1000, NULL));
	CK_OK(ac_spawn(NULL, body_noop, NULL, NULL, &b));
	/* the slot is reused, the id is not */
	ck_assert_uint_eq((uint32_t)a.id, (uint32_t)b.id);
	ck_assert(!ac_ref_eq(a, b));
	ck_assert_int_eq(ac_is_alive(a), 0);
	ck_assert_int_eq(ac_is_alive(b), 1);
	CK_OK(ac_finish(b, 1000, NULL));
	*done = 1;
}

START_TEST(test_stale_ref_slot_reuse)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_stale_slot, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

START_TEST(test_msg_double_free)
{
	ac_sched *s = test_sched();
	ac_msg *m = ac_msg_str("once");
	ck_assert_ptr_nonnull(m);
	ac_msg_free(m);
	ac_msg_free(m); /* reported, ignored */
	ac_msg_free(NULL);
	ac_sched_free(s);
}
END_TEST

/* ---- categories and matching ----------------------------------------------------- */

static int categ_first_byte(const ac_msg *m, void *arg)
{
	(void)arg;
	return ac_msg_len(m) ? ((const char *)ac_msg_data(m))[0] : 0;
}

static int match_b(const ac_msg *m, void *arg)
{
	return ac_msg_is(m, (const char *)arg);
}

static void body_cat(void *arg)
{
	int *done = arg;
	ac_ref me = ac_self();
	ac_msg *m;
	CK_OK(ac_send(me, ac_msg_str("a1")));
	CK_OK(ac_send(me, ac_msg_str("b1")));
	CK_OK(ac_set_categorizer(categ_first_byte, NULL));
	CK_OK(ac_send(me, ac_msg_str("a2")));
	CK_OK(ac_send(me, ac_msg_str("b2")));
	CK_OK(ac_receive_cat('b', 0, &m));
	ck_assert(ac_msg_is(m, "b1"));
	ck_assert_int_eq(ac_msg_category(m), 'b');
	ac_msg_free(m);
	CK_OK(ac_receive_match(match_b, "a2", 0, &m));
	ck_assert(ac_msg_is(m, "a2"));
	ac_msg_free(m);
	CK_RC(ac_receive_cat('c', 20, &m), -ETIMEDOUT);
	ck_assert_uint_eq(ac_queue_len(), 2);
	CK_OK(ac_receive(0, &m)); /* others stayed in order */
	ck_assert(ac_msg_is(m, "a1"));
	ac_msg_free(m);
	CK_OK(ac_receive(0, &m));
	ck_assert(ac_msg_is(m, "b2"));
	ac_msg_free(m);
	*done = 1;
}

START_TEST(test_categories)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_cat, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_cat_wait(void *arg)
{
	ac_msg *m;
	int *got = arg;
	CK_OK(ac_set_categorizer(categ_first_byte, NULL));
	CK_OK(ac_receive_cat('z', 1000, &m));
	ck_assert(ac_msg_is(m, "z!"));
	ac_msg_free(m);
	ck_assert_uint_eq(ac_queue_len(), 1);
	*got = 1;
}

static void body_cat_sender(void *arg)
{
	ac_ref r;
	CK_OK(ac_spawn(NULL, body_cat_wait, arg, NULL, &r));
	ac_yield();
	CK_OK(ac_send(r, ac_msg_str("a"))); /* does not wake it */
	ac_yield();
	ck_assert_int_eq(*(int *)arg, 0);
	CK_OK(ac_send(r, ac_msg_str("z!")));
	CK_OK(ac_finish(r, 1000, NULL));
}

START_TEST(test_category_wait)
{
	int got = 0;
	ck_assert_uint_eq(test_run(body_cat_sender, &got), 2);
	ck_assert_int_eq(got, 1);
}
END_TEST

/* ---- sleep, yield, suspend/resume --------------------------------------------- */

/* Sleep 20 ms; *arg gets how long it took, ns. */
static void body_sleep(void *arg)
{
	int64_t t0 = ac_sched_now_ns(ac_sched_self());
	CK_RC(ac_sleep(-1), -EINVAL);
	CK_OK(ac_sleep(20));
	*(int64_t *)arg = ac_sched_now_ns(ac_sched_self()) - t0;
}

START_TEST(test_sleep)
{
	int64_t slept = -1;
	ck_assert_uint_eq(test_run(body_sleep, &slept), 1);
	ck_assert_int_ge(slept, 20000000);
	ck_assert_int_lt(slept, 20000000000LL);
}
END_TEST

static void body_yielder(void *arg)
{
	char *log = arg;
	int i;
	for (i = 0; i < 3; i++) {
		strncat(log, ac_self_name(), 1);
		ac_yield();
	}
}

START_TEST(test_yield_interleaves)
{
	char log[16] = "";
	ac_sched *s = test_sched();
	ac_spawn_opts a = {.name = "a"}, b = {.name = "b"};
	CK_OK(ac_spawn(s, body_yielder, log, &a, NULL));
	CK_OK(ac_spawn(s, body_yielder, log, &b, NULL));
	CK_OK(ac_sched_run(s));
	ck_assert_str_eq(log, "ababab");
	ac_sched_free(s);
}
END_TEST

static void body_suspended(void *arg)
{
	intptr_t v = 0;
	CK_RC(ac_suspend(10, &v), -ETIMEDOUT);
	CK_OK(ac_suspend(1000, &v));
	*(intptr_t *)arg = v;
}

static void body_resumer(void *arg)
{
	ac_ref r;
	CK_OK(ac_spawn(NULL, body_suspended, arg, NULL, &r));
	CK_RC(ac_resume(r, 1), -EAGAIN); /* not suspended yet */
	CK_OK(ac_sleep(30));
	CK_OK(ac_resume(r, 77));
	CK_RC(ac_resume(r, 78), -EAGAIN); /* already resumed */
	CK_OK(ac_finish(r, 1000, NULL));
	CK_RC(ac_resume(r, 1), -ESRCH);
}

START_TEST(test_suspend_resume)
{
	intptr_t v = 0;
	ck_assert_uint_eq(test_run(body_resumer, &v), 2);
	ck_assert_int_eq(v, 77);
}
END_TEST

/* ---- ending, monitors, finish ------------------------------------------------------ */

static void body_block_forever(void *arg)
{
	ac_msg *m;
	(void)arg;
	ac_receive(AC_FOREVER, &m);
	ck_abort_msg("a terminated coroutine was resumed");
}

static void body_returns_value(void *arg)
{
	(void)arg;
	ac_return(ac_msg_str("the value"));
}

static void body_fails(void *arg)
{
	ac_fail("invalid invocation: %d", *(int *)arg);
}

static void body_big_value(void *arg)
{
	ac_msg *v = ac_msg_alloc(5000);
	(void)arg;
	memset(ac_msg_wdata(v), 'v', 5000);
	ac_return(v);
}

/* Spawn body, monitor it (twice: one monitor), make it end, and check
 * exactly one exit message with the expected reason; count it in *exits. */
static void monitor_case(int *exits, ac_coro_fn body, void *barg, int terminate,
                         int want_how, const char *want_text)
{
	ac_ref r;
	ac_msg *m;
	ac_exit_info ei;
	CK_OK(ac_spawn(NULL, body, barg, NULL, &r));
	CK_OK(ac_monitor(r));
	CK_OK(ac_monitor(r));
	if (terminate) {
		ac_yield();
		CK_OK(ac_terminate(r));
	}
	CK_OK(ac_receive(1000, &m));
	CK_OK(ac_msg_exit(m, &ei));
	ck_assert(ac_ref_eq(ei.coro, r));
	ck_assert_int_eq(ei.how, want_how);
	if (want_text) {
		ck_assert_uint_eq(ei.len, strlen(want_text));
		ck_assert(memcmp(ei.data, want_text, ei.len) == 0);
	}
	ac_msg_free(m);
	CK_RC(ac_receive(30, &m), -ETIMEDOUT); /* exactly one */
	ck_assert_int_eq(ac_is_alive(r), 0);
	CK_RC(ac_monitor(r), -ESRCH);
	(*exits)++;
}

static void body_monitors(void *arg)
{
	int *exits = arg, odd = 3;
	monitor_case(exits, body_noop, NULL, 0, AC_EXIT_RETURNED, "");
	monitor_case(exits, body_returns_value, NULL, 0, AC_EXIT_RETURNED, "the value");
	monitor_case(exits, body_fails, &odd, 0, AC_EXIT_FAILED,
	             "invalid invocation: 3");
	monitor_case(exits, body_block_forever, NULL, 1, AC_EXIT_TERMINATED, NULL);
}

START_TEST(test_monitor_exactly_once)
{
	int exits = 0;
	/* The body and the four monitored coroutines; one exit message each. */
	ck_assert_uint_eq(test_run(body_monitors, &exits), 5);
	ck_assert_int_eq(exits, 4);
}
END_TEST

static void body_notify_target(void *arg)
{
	CK_OK(ac_notify(*(ac_ref *)arg));
}

/* The exit message a coroutine asked for with ac_notify. */
typedef struct notified {
	ac_ref target;
	ac_exit_info ei;
} notified;

static void body_notify(void *arg)
{
	notified *nf = arg;
	ac_ref me = ac_self();
	ac_msg *m;
	CK_OK(ac_spawn(NULL, body_notify_target, &me, NULL, &nf->target));
	CK_OK(ac_receive(1000, &m));
	CK_OK(ac_msg_exit(m, &nf->ei));
	ac_msg_free(m);
}

START_TEST(test_notify)
{
	notified nf;
	memset(&nf, 0, sizeof(nf));
	nf.ei.how = -1;
	ck_assert_uint_eq(test_run(body_notify, &nf), 2);
	ck_assert(ac_ref_eq(nf.ei.coro, nf.target));
	ck_assert_int_eq(nf.ei.how, AC_EXIT_RETURNED);
}
END_TEST

static void body_finish(void *arg)
{
	int *done = arg;
	ac_ref r;
	ac_msg *m = NULL;
	ac_exit_info ei;
	CK_OK(ac_spawn(NULL, body_big_value, NULL, NULL, &r));
	CK_OK(ac_finish(r, 1000, &m));
	CK_OK(ac_msg_exit(m, &ei));
	ck_assert_uint_eq(ei.len, 5000);
	ck_assert_int_eq(((const char *)ei.data)[4999], 'v');
	ac_msg_free(m);
	CK_RC(ac_finish(r, 10, NULL), -ESRCH);
	CK_RC(ac_finish(ac_self(), 10, NULL), -EDEADLK);
	CK_OK(ac_spawn(NULL, body_block_forever, NULL, NULL, &r));
	CK_RC(ac_finish(r, 20, NULL), -ETIMEDOUT);
	CK_RC(ac_finish(r, 0, NULL), -ETIMEDOUT);
	CK_OK(ac_terminate(r));
	CK_RC(ac_terminate(r), -ESRCH);
	*done = 1;
}

START_TEST(test_finish)
{
	int done = 0;
	/* The body, the returning coroutine and the terminated one. */
	ck_assert_uint_eq(test_run(body_finish, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void defer_count(void *arg)
{
	(*(int *)arg)++;
}

static void body_defer_then_block(void *arg)
{
	ac_msg *m;
	CK_OK(ac_coro_defer(defer_count, arg));
	CK_OK(ac_coro_defer(defer_count, arg));
	ac_receive(AC_FOREVER, &m);
}

static void body_self_terminate(void *arg)
{
	CK_OK(ac_coro_defer(defer_count, arg));
	ac_terminate(ac_self());
	ck_abort_msg("ac_terminate(self) returned");
}

static void atexit_order(void *arg)
{
	int *v = arg;
	*v = *v * 10 + 1;
}

static void atexit_order2(void *arg)
{
	int *v = arg;
	*v = *v * 10 + 2;
}

START_TEST(test_daemon_and_finish)
{
	int defers = 0, order = 0;
	ac_sched *s = test_sched();
	ac_spawn_opts d = {.name = "daemon", .daemon = 1};
	ac_ref r;
	CK_OK(ac_spawn(s, body_defer_then_block, &defers, &d, &r));
	CK_OK(ac_spawn(s, body_self_terminate, &defers, NULL, NULL));
	CK_OK(ac_sched_atexit(s, atexit_order, &order));
	CK_OK(ac_sched_atexit(s, atexit_order2, &order));
	CK_OK(ac_sched_run(s)); /* returns although the daemon blocks */
	ck_assert_int_eq(defers, 1);
	ck_assert_int_eq(ac_is_alive(r), 1);
	ck_assert_uint_eq(ac_sched_live(s), 0);
	CK_OK(ac_sched_finish(s)); /* terminates the daemon */
	ck_assert_int_eq(defers, 3);
	ck_assert_int_eq(ac_is_alive(r), 0);
	ck_assert_int_eq(order, 21); /* last registered runs first */
	ac_sched_free(s);
}
END_TEST

START_TEST(test_deadlock_detected)
{
	ac_sched *s = test_sched();
	ac_ref r;
	CK_OK(ac_spawn(s, body_block_forever, NULL, NULL, &r));
	CK_RC(ac_sched_run(s), -EDEADLK);
	ck_assert_int_eq(ac_is_alive(r), 1);
	ac_sched_terminate(s);
	ck_assert_int_eq(ac_is_alive(r), 0);
	ac_sched_free(s);
}
END_TEST

static void body_nested_run(void *arg)
{
	CK_RC(ac_sched_run((ac_sched *)arg), -EPERM);
	CK_RC(ac_sched_step((ac_sched *)arg), -EPERM);
}

START_TEST(test_run_from_coroutine)
{
	ac_sched *s = test_sched();
	ac_sched_stats st;
	ac_ref r;
	CK_OK(ac_spawn(s, body_nested_run, s, NULL, &r));
	ck_assert_int_eq(ac_sched_run(s), 0);
	/* The nested calls were refused and the body went on to its end. */
	ck_assert_int_eq(ac_is_alive(r), 0);
	ac_sched_get_stats(s, &st);
	ck_assert_uint_eq(st.ended, 1);
	ac_sched_free(s);
}
END_TEST

static void body_set_daemon(void *arg)
{
	ac_msg *m;
	CK_OK(ac_set_daemon(ac_self(), 1));
	ac_receive(AC_FOREVER, &m);
	(void)arg;
}

START_TEST(test_set_daemon)
{
	ac_sched *s = test_sched();
	ac_ref r;
	CK_OK(ac_spawn(s, body_set_daemon, NULL, NULL, &r));
	/* The run ends although the coroutine still waits: it is a daemon. */
	ck_assert_int_eq(ac_sched_run(s), 0);
	ck_assert_int_eq(ac_is_alive(r), 1);
	ac_sched_free(s);
}
END_TEST

/* ---- many coroutines ----------------------------------------------------------------- */

static void body_count(void *arg)
{
	(*(long *)arg)++;
}

START_TEST(test_100k_coroutines)
{
	long n = 0, i;
	ac_sched *s = test_sched();
	ac_sched_stats st;
	for (i = 0; i < 100000; i++) {
		CK_OK(ac_spawn(s, body_count, &n, NULL, NULL));
		if (i % 1000 == 999)
			CK_OK(ac_sched_run(s));
	}
	CK_OK(ac_sched_run(s));
	ck_assert_int_eq(n, 100000);
	ac_sched_get_stats(s, &st);
	ck_assert_uint_eq(st.spawned, 100000);
	ck_assert_uint_eq(st.ended, 100000);
	ck_assert_uint_eq(st.live, 0);
	/* stacks are reused: no more mapped than were alive at once */
	ck_assert_uint_le(st.stacks_mapped, 1000);
	ac_sched_free(s);
}
END_TEST

static void body_wait_any(void *arg)
{
	ac_msg *m;
	CK_OK(ac_receive(AC_FOREVER, &m));
	ac_msg_free(m);
	(*(long *)arg)++;
}

START_TEST(test_10k_blocked_then_woken)
{
	enum { N = 10000 };
	long n = 0;
	int i;
	ac_ref *refs = calloc(N, sizeof(*refs));
	ac_sched *s = test_sched();
	for (i = 0; i < N; i++)
		CK_OK(ac_spawn(s, body_wait_any, &n, NULL, &refs[i]));
	CK_OK(ac_sched_step(s) >= 0 ? 0 : -1);
	while (ac_sched_step(s) == 1)
		;
	for (i = 0; i < N; i++)
		CK_OK(ac_send(refs[i], ac_msg_str("go")));
	CK_OK(ac_sched_run(s));
	ck_assert_int_eq(n, N);
	ac_sched_free(s);
	free(refs);
}
END_TEST

START_TEST(test_two_schedulers_one_thread)
{
	int a = 0, b = 0;
	ac_sched *s1 = test_sched(), *s2 = test_sched();
	ck_assert(ac_sched_incarnation(s1) != ac_sched_incarnation(s2));
	CK_OK(ac_spawn(s1, body_set, &a, NULL, NULL));
	CK_OK(ac_spawn(s2, body_set, &b, NULL, NULL));
	CK_OK(ac_sched_run(s2));
	ck_assert_int_eq(b, 42);
	ck_assert_int_eq(a, 0);
	CK_OK(ac_sched_run(s1));
	ck_assert_int_eq(a, 42);
	ac_sched_free(s1);
	ac_sched_free(s2);
}
END_TEST

/* ---- the header's contracts, one call at a time ----------------------------- */

static void body_ended(void *arg)
{
	(void)arg;
}

static void body_wait_one(void *arg)
{
	ac_msg *m;
	(void)arg;
	CK_OK(ac_receive(AC_FOREVER, &m));
	ac_msg_free(m);
}

static int atexit_seen[2], atexit_n;

static void atexit_mark(void *arg)
{
	ck_assert_int_lt(atexit_n, 2);
	atexit_seen[atexit_n++] = (int)(intptr_t)arg;
}

/* asyncoro.h: ac_sched_opts_init's documented defaults; ac_sched_new,
 * ac_sched_run and ac_sched_finish on NULL (-EINVAL, no crash); at-exit
 * hooks run last registered first, once; outside a coroutine the waiting
 * calls are -EPERM and ac_self/ac_self_name/ac_sched_self are null/""/NULL;
 * ac_spawn on no scheduler is -EPERM. */
START_TEST(test_contract_sched)
{
	ac_sched_opts o;
	ac_sched *s;
	ac_ref dead;
	ac_msg *m = NULL;
	intptr_t v;
	memset(&o, 0xa5, sizeof(o));
	ac_sched_opts_init(&o);
	ck_assert_ptr_null(o.io);
	ck_assert_uint_eq(o.stack_size, 64 * 1024);
	ck_assert_int_eq(o.stack_guard, 1);
	ck_assert_uint_eq(o.stack_pool_max, 1024);
	ck_assert_ptr_null(o.log_fn);
	ck_assert_int_eq(o.log_level, AC_LOG_INFO);
	ck_assert_str_eq(o.name, "node");
	ck_assert_ptr_null(o.record_path);
	ck_assert_uint_eq(o.max_monitors, 65536);
	CK_RC(ac_sched_new(NULL, NULL), -EINVAL);
	CK_RC(ac_sched_run(NULL), -EINVAL);
	CK_RC(ac_sched_finish(NULL), -EINVAL);
	CK_RC(ac_sched_step(NULL), -EINVAL);
	ac_sched_terminate(NULL);
	ac_sched_free(NULL);
	s = test_sched();
	CK_RC(ac_sched_atexit(s, NULL, NULL), -EINVAL);
	CK_OK(ac_sched_atexit(s, atexit_mark, (void *)1));
	CK_OK(ac_sched_atexit(s, atexit_mark, (void *)2));
	CK_OK(ac_spawn(s, body_ended, NULL, NULL, &dead));
	CK_OK(ac_sched_run(s));
	ck_assert_ptr_null(ac_sched_self());
	ck_assert(ac_ref_is_null(ac_self()));
	ck_assert_str_eq(ac_self_name(), "");
	CK_RC(ac_yield(), -EPERM);
	CK_RC(ac_sleep(1), -EPERM);
	CK_RC(ac_suspend(0, &v), -EPERM);
	CK_RC(ac_receive(0, &m), -EPERM);
	CK_RC(ac_receive_cat(0, 0, &m), -EPERM);
	ck_assert_ptr_null(m);
	CK_RC(ac_finish(dead, 0, NULL), -EPERM);
	CK_RC(ac_monitor(dead), -EPERM);
	CK_RC(ac_coro_defer(body_ended, NULL), -EPERM);
	CK_RC(ac_set_categorizer(NULL, NULL), -EPERM);
	ck_assert_uint_eq(ac_queue_len(), 0);
	CK_OK(ac_sched_finish(s));
	ck_assert_int_eq(atexit_n, 2);
	ck_assert_int_eq(atexit_seen[0], 2);
	ck_assert_int_eq(atexit_seen[1], 1);
	ac_sched_free(s);
	ck_assert_int_eq(atexit_n, 2); /* once */
	CK_RC(ac_spawn(NULL, body_ended, NULL, NULL, NULL), -EPERM);
}
END_TEST

static void body_fail_long(void *arg)
{
	char text[700];
	(void)arg;
	memset(text, 'f', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	ac_fail("%s", text);
}

static void body_contract_coro(void *arg)
{
	ac_ref me = ac_self(), dead, r;
	char name[100], buf[128];
	ac_msg *m;
	ac_spawn_opts so = {.name = name};
	(void)arg;
	CK_OK(ac_spawn(NULL, body_ended, NULL, NULL, &dead));
	CK_OK(ac_yield());
	CK_RC(ac_is_alive(dead), 0);
	CK_RC(ac_is_alive(me), 1);
	CK_RC(ac_sched_run(ac_sched_self()), -EPERM);
	CK_RC(ac_sched_finish(ac_sched_self()), -EPERM);
	CK_RC(ac_sleep(-1), -EINVAL);
	CK_RC(ac_sleep(AC_FOREVER), -EINVAL);
	CK_RC(ac_sleep(0), 0);
	CK_RC(ac_suspend(0, NULL), -ETIMEDOUT);
	CK_RC(ac_resume(me, 1), -EAGAIN);
	CK_RC(ac_resume(dead, 1), -ESRCH);
	CK_RC(ac_terminate(dead), -ESRCH);
	CK_RC(ac_finish(dead, 0, NULL), -ESRCH);
	CK_RC(ac_finish(me, 0, NULL), -EDEADLK);
	CK_RC(ac_monitor(dead), -ESRCH);
	CK_RC(ac_set_daemon(dead, 1), -ESRCH);
	CK_RC(ac_coro_name(dead, buf, sizeof(buf)), -ESRCH);
	/* Names: cut to 63 bytes; default "coro". */
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	CK_OK(ac_spawn(NULL, body_wait_one, NULL, &so, &r));
	CK_OK(ac_coro_name(r, buf, sizeof(buf)));
	ck_assert_uint_eq(strlen(buf), 63);
	CK_OK(ac_send_data(r, "q", 1));
	CK_OK(ac_spawn(NULL, body_wait_one, NULL, NULL, &r));
	CK_OK(ac_coro_name(r, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "coro");
	/* Monitoring twice is one monitor; a timeout of 0 looks once. */
	CK_OK(ac_monitor(r));
	CK_OK(ac_monitor(r));
	CK_RC(ac_finish(r, 0, NULL), -ETIMEDOUT);
	CK_OK(ac_send_data(r, "q", 1));
	CK_OK(ac_finish(r, 1000, NULL));
	CK_OK(ac_receive(1000, &m));
	CK_RC(ac_msg_kind(m), AC_MSG_EXIT);
	ac_msg_free(m);
	CK_RC(ac_receive(50, &m), -ETIMEDOUT);
	/* Send and deliver: bad arguments, dead recipients, ownership. */
	CK_RC(ac_send(me, NULL), -EINVAL);
	m = ac_msg_str("x");
	CK_RC(ac_send(ac_ref_null(), m), -EINVAL); /* the caller keeps m */
	CK_RC(ac_deliver(ac_ref_null(), m, 0), -EINVAL);
	CK_RC(ac_deliver(dead, m, 0), -ESRCH);
	CK_RC(ac_deliver(me, m, 0), 1); /* the callee's now */
	CK_OK(ac_receive(0, &m));
	ck_assert(ac_msg_is(m, "x"));
	ck_assert(ac_ref_eq(ac_msg_from(m), me));
	CK_RC(ac_send(dead, m), 0); /* dropped and freed */
	CK_RC(ac_send_data(dead, "x", 1), 0);
	CK_RC(ac_queue_len(), 0);
	ck_assert_str_eq(ac_exit_reason_name(99), "unknown");
	ck_assert_str_eq(ac_exit_reason_name(AC_EXIT_NODE_LOST), "node lost");
	/* A ref of the wrong kind is -EINVAL. */
	CK_RC(ac_is_alive(ac_ref_null()), -EINVAL);
	CK_RC(ac_terminate(ac_ref_null()), -EINVAL);
	CK_RC(ac_resume(ac_ref_null(), 0), -EINVAL);
	CK_RC(ac_finish(ac_ref_null(), 0, NULL), -EINVAL);
	CK_RC(ac_monitor_ref(ac_ref_null(), me), -EINVAL);
	/* ac_fail's text is cut to 511 bytes. */
	CK_OK(ac_spawn(NULL, body_fail_long, NULL, NULL, &r));
	CK_OK(ac_finish(r, 1000, &m));
	{
		ac_exit_info ei;
		CK_OK(ac_msg_exit(m, &ei));
		ck_assert_int_eq(ei.how, AC_EXIT_FAILED);
		ck_assert_uint_eq(ei.len, 511);
		ck_assert(ac_ref_eq(ei.coro, r));
	}
	ac_msg_free(m);
}

START_TEST(test_contract_coro)
{
	/* The body, dead, the two named ones and the failing one. */
	ck_assert_uint_eq(test_run(body_contract_coro, NULL), 5);
}
END_TEST

static Suite *engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_spawn_runs);
	tcase_add_test(tc, test_spawn_invalid);
	tcase_add_test(tc, test_receive_timeout);
	tcase_add_test(tc, test_receive_outside);
	tcase_add_test(tc, test_send_fifo);
	tcase_add_test(tc, test_send_sets_sender);
	tcase_add_test(tc, test_dead_ref);
	tcase_add_test(tc, test_deliver_live);
	tcase_add_test(tc, test_stale_ref_slot_reuse);
	tcase_add_test(tc, test_msg_double_free);
	tcase_add_test(tc, test_categories);
	tcase_add_test(tc, test_category_wait);
	tcase_add_test(tc, test_sleep);
	tcase_add_test(tc, test_yield_interleaves);
	tcase_add_test(tc, test_suspend_resume);
	tcase_add_test(tc, test_monitor_exactly_once);
	tcase_add_test(tc, test_notify);
	tcase_add_test(tc, test_finish);
	tcase_add_test(tc, test_daemon_and_finish);
	tcase_add_test(tc, test_deadlock_detected);
	tcase_add_test(tc, test_run_from_coroutine);
	tcase_add_test(tc, test_set_daemon);
	tcase_add_test(tc, test_100k_coroutines);
	tcase_add_test(tc, test_10k_blocked_then_woken);
	tcase_add_test(tc, test_two_schedulers_one_thread);
	tcase_add_test(tc, test_contract_sched);
	tcase_add_test(tc, test_contract_coro);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(engine_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
