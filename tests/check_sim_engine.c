/* tests/check_sim_engine.c: coroutines of the engine running on simulated
 * nodes — an echo server and clients over ac_sock (same seed, same run),
 * a server crashed and restarted under a retrying client, a reset seen by
 * the exchange in flight, the engine's own timeout ending a wait that a
 * partition holds back, a paused node's coroutines not running, a
 * coroutine crashing its own node, and the echo programs on swarm-drawn
 * faulty worlds converging once the faults stop.
 */
#include "config.h"

#include "tests/sim_harness.h"

/* ---- coroutines of the engine on simulated nodes ----------------------------------- */

/* What the echo programs share with the test. */
typedef struct echo_st {
	/* The server's address. */
	ac_addr srv;
	/* Messages per client, clients per client node. */
	int msgs;
	int clients;
	/* Messages echoed intact, errors seen, the last error. */
	int echoed;
	int errors;
	int64_t last_err;
	/* Incarnations of the server's schedulers, in start order. */
	uint64_t inc[4];
	int starts;
	/* Client: retry after failures (for crash tests). */
	int retry;
} echo_st;

/* Close a socket however its coroutine ends (killed daemons too). */
static void sock_close_hook(void *arg)
{
	ac_sock_close(arg);
}

static void echo_conn(void *arg)
{
	ac_sock *k = arg;
	char buf[128];
	ssize_t n;
	CK_OK(ac_coro_defer(sock_close_hook, k));
	while ((n = ac_sock_recv(k, buf, sizeof(buf), AC_FOREVER)) > 0)
		if (ac_sock_send_all(k, buf, (size_t)n, AC_FOREVER) < 0)
			break;
}

static void echo_server(void *arg)
{
	echo_st *st = arg;
	ac_spawn_opts so = { .name = "conn", .daemon = 1 };
	ac_addr any = parse("0.0.0.0:0");
	ac_sock *l, *k;
	any.port = st->srv.port;
	CK_OK(ac_sock_listen(NULL, &any, 16, 0, &l));
	CK_OK(ac_coro_defer(sock_close_hook, l));
	while (ac_sock_accept(l, AC_FOREVER, &k) == 0)
		CK_OK(ac_spawn(NULL, echo_conn, k, &so, NULL));
}

static void echo_srv_main(ac_sim_node *n, void *arg)
{
	echo_st *st = arg;
	ac_spawn_opts so = { .name = "server", .daemon = 1 };
	ac_sched *s = ac_sim_node_sched(n);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_eq(ac_sched_io(s), ac_sim_node_io(n));
	if (st->starts < 4)
		st->inc[st->starts] = ac_sched_incarnation(s);
	st->starts++;
	CK_OK(ac_spawn(s, echo_server, st, &so, NULL));
}

/* One exchange on k: 1 when echoed intact, else a negative errno. */
static int echo_once(ac_sock *k, int i, int64_t timeout_ms)
{
	char msg[32], back[32];
	int len = snprintf(msg, sizeof(msg), "ping %d", i);
	ssize_t rc = ac_sock_send_all(k, msg, (size_t)len, timeout_ms);
	if (rc < 0)
		return (int)rc;
	rc = ac_sock_recv_all(k, back, (size_t)len, timeout_ms);
	if (rc < 0)
		return (int)rc;
	if (rc == 0)
		return -EPIPE;
	return memcmp(msg, back, (size_t)len) == 0 ? 1 : -EBADMSG;
}

/* Close the socket a heap slot holds, if any, and free the slot, however
 * the coroutine ends (the hooks run after a returning body's frame is
 * gone, so the slot cannot live there). */
static void sock_slot_hook(void *arg)
{
	ac_sock **kp = arg;
	if (*kp)
		ac_sock_close(*kp);
	free(kp);
}

static void echo_client(void *arg)
{
	echo_st *st = arg;
	ac_sock **k = calloc(1, sizeof(*k));
	int i = 0, rc;
	ck_assert_ptr_nonnull(k);
	CK_OK(ac_coro_defer(sock_slot_hook, k));
	while (i < st->msgs) {
		if (!*k && (rc = ac_sock_connect(&st->srv, 5000, k)) < 0) {
			*k = NULL;
		} else if ((rc = echo_once(*k, i, 5000)) == 1) {
			st->echoed++;
			i++;
			continue;
		} else {
			ac_sock_close(*k);
			*k = NULL;
		}
		st->errors++;
		st->last_err = rc;
		if (!st->retry)
			break;
		ac_sleep(500);
	}
}

static void echo_cli_main(ac_sim_node *n, void *arg)
{
	echo_st *st = arg;
	int i;
	for (i = 0; i < st->clients; i++)
		CK_OK(ac_spawn(ac_sim_node_sched(n), echo_client, st, NULL, NULL));
}

/* A world with an echo server node and a client node. */
static ac_sim *echo_world(uint64_t seed, echo_st *st, ac_sim_node **srv,
                          ac_sim_node **cli)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_opts_init(&o);
	o.seed = seed;
	o.jitter_ns = 500000;
	o.max_time_ns = 600 * SEC;
	CK_OK(ac_sim_new(&o, &w));
	*srv = node(w, "srv");
	*cli = node(w, "cli");
	st->srv = node_addr(*srv, PORT);
	CK_OK(ac_sim_node_set_main(*srv, echo_srv_main, st));
	CK_OK(ac_sim_node_set_main(*cli, echo_cli_main, st));
	return w;
}

static uint64_t echo_run(uint64_t seed, echo_st *st)
{
	ac_sim_node *srv, *cli;
	ac_sim *w = echo_world(seed, st, &srv, &cli);
	uint64_t h;
	ck_assert_int_eq(ac_sim_run(w, ac_sim_all_finished, NULL), AC_SIM_DONE);
	h = ac_sim_trace_hash(w);
	ac_sim_free(w);
	return h;
}

START_TEST(test_engine_echo)
{
	echo_st st = { .msgs = 10, .clients = 3 }, st2 = st, st3 = st;
	uint64_t h = echo_run(1, &st);
	ck_assert_int_eq(st.errors, 0);
	ck_assert_int_eq(st.echoed, 30);
	ck_assert_int_eq(st.starts, 1);
	/* Same seed, same run; another seed, another interleaving. */
	ck_assert_uint_eq(echo_run(1, &st2), h);
	ck_assert_uint_ne(echo_run(2, &st3), h);
	ck_assert_int_eq(st3.echoed, 30);
}
END_TEST

static void crash_cb(ac_sim *w, void *arg)
{
	(void)w;
	CK_OK(ac_sim_crash(arg));
}

static void restart_cb(ac_sim *w, void *arg)
{
	(void)w;
	CK_OK(ac_sim_restart(arg));
}

START_TEST(test_engine_crash_restart)
{
	echo_st st = { .msgs = 40, .clients = 1, .retry = 1 };
	ac_sim_node *srv, *cli;
	ac_sim *w = echo_world(3, &st, &srv, &cli);
	/* The client paces itself: one exchange per 1 ms of latency and
	 * more; crash the server in the middle, restart it 2 s later. */
	CK_OK(ac_sim_at(w, 4 * MS, crash_cb, srv));
	CK_OK(ac_sim_at(w, 2 * SEC, restart_cb, srv));
	ck_assert_int_eq(ac_sim_run(w, ac_sim_all_finished, NULL), AC_SIM_DONE);
	ck_assert_int_eq(st.echoed, 40);
	ck_assert_int_ge(st.errors, 1);
	ck_assert_int_eq(st.starts, 2);
	ck_assert_uint_ne(st.inc[0], st.inc[1]);
	ck_assert_int_eq(ac_sim_node_incarnation(srv), 2);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_engine_reset_seen)
{
	echo_st st = { .msgs = 1000, .clients = 1 };
	ac_sim_node *srv, *cli;
	ac_sim *w = echo_world(4, &st, &srv, &cli);
	CK_OK(ac_sim_at(w, 20 * MS, crash_cb, srv));
	ck_assert_int_eq(ac_sim_run(w, ac_sim_all_finished, NULL), AC_SIM_DONE);
	/* The client's exchange in flight saw the peer's reset. */
	ck_assert_int_eq(st.errors, 1);
	CK_RC(st.last_err, -ECONNRESET);
	ck_assert_int_gt(st.echoed, 0);
	ck_assert_int_lt(st.echoed, 1000);
	ac_sim_free(w);
}
END_TEST

/* A client that waits for an answer that a partition holds back. */
typedef struct part_st {
	echo_st e;
	int64_t waited_ms;
	int64_t rc;
} part_st;

static void part_client(void *arg)
{
	part_st *ps = arg;
	ac_sched *s = ac_sched_self();
	ac_sim_node *n = ac_sim_node_of(ac_sched_io(s));
	ac_sock *k;
	char buf[8];
	int64_t t0;
	CK_OK(ac_sock_connect(&ps->e.srv, 5000, &k));
	ck_assert_int_eq(echo_once(k, 0, 5000), 1);
	CK_OK(ac_sim_partition(ac_sim_node_world(n), n,
	                       ac_sim_node_at(ac_sim_node_world(n), 0), 0, -1));
	ck_assert_int_eq(ac_sock_send_all(k, "held", 4, 1000), 4);
	t0 = ac_sched_now_ns(s);
	ps->rc = ac_sock_recv(k, buf, sizeof(buf), 1500);
	ps->waited_ms = (ac_sched_now_ns(s) - t0) / MS;
	ac_sock_close(k);
}

static void part_cli_main(ac_sim_node *n, void *arg)
{
	CK_OK(ac_spawn(ac_sim_node_sched(n), part_client, arg, NULL, NULL));
}

START_TEST(test_engine_partition_timeout)
{
	part_st ps = { .e = { .msgs = 1, .clients = 1 } };
	ac_sim_node *srv, *cli;
	ac_sim *w = echo_world(5, &ps.e, &srv, &cli);
	CK_OK(ac_sim_node_set_main(cli, part_cli_main, &ps));
	ck_assert_int_eq(ac_sim_run(w, ac_sim_all_finished, NULL), AC_SIM_DONE);
	/* The engine's own timeout ended the wait. */
	CK_RC(ps.rc, -ETIMEDOUT);
	ck_assert_int_eq(ps.waited_ms, 1500);
	ac_sim_free(w);
}
END_TEST

/* Ticks of a coroutine that sleeps 10 ms in a loop. */
static void ticker(void *arg)
{
	int *ticks = arg;
	for (;;) {
		ac_sleep(10);
		(*ticks)++;
	}
}

static void ticker_main(ac_sim_node *n, void *arg)
{
	ac_spawn_opts so = { .name = "ticker", .daemon = 1 };
	ac_ref r;
	/* NULL: the node's own scheduler, current while main runs. */
	CK_OK(ac_spawn(NULL, ticker, arg, &so, &r));
	ck_assert_uint_eq(r.inc, ac_sched_incarnation(ac_sim_node_sched(n)));
}

START_TEST(test_engine_pause)
{
	ac_sim *w = world(6);
	ac_sim_node *a = node(w, "a"), *b = node(w, "b");
	int ticks = 0, before, other = 0;
	/* b starts too, so that a's main does not run right after a start
	 * of its own scheduler only by luck. */
	CK_OK(ac_sim_node_set_main(b, ticker_main, &other));
	CK_OK(ac_sim_node_set_main(a, ticker_main, &ticks));
	ck_assert_int_eq(ac_sim_run_for(w, 500 * MS), AC_SIM_DONE);
	ck_assert(ticks >= 49 && ticks <= 50);
	before = ticks;
	CK_OK(ac_sim_pause(a, 1 * SEC));
	ck_assert_int_eq(ac_sim_run_for(w, 999 * MS), AC_SIM_DONE);
	ck_assert_int_eq(ticks, before);
	ck_assert_int_eq(ac_sim_run_for(w, 501 * MS), AC_SIM_DONE);
	ck_assert_int_gt(ticks, before);
	ac_sim_free(w);
}
END_TEST

/* A coroutine that crashes its own node: the crash waits for the step. */
static void suicide(void *arg)
{
	int *stage = arg;
	ac_sim_node *n = ac_sim_node_of(ac_sched_io(ac_sched_self()));
	*stage = 1;
	CK_OK(ac_sim_crash(n));
	ck_assert_int_eq(ac_sim_node_is_up(n), 1);
	ac_sleep(10);
	*stage = 2;
}

static void suicide_main(ac_sim_node *n, void *arg)
{
	CK_OK(ac_spawn(ac_sim_node_sched(n), suicide, arg, NULL, NULL));
}

START_TEST(test_engine_self_crash)
{
	ac_sim *w = world(8);
	ac_sim_node *a = node(w, "a");
	int stage = 0;
	CK_OK(ac_sim_node_set_main(a, suicide_main, &stage));
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	ck_assert_int_eq(stage, 1);
	ck_assert_int_eq(ac_sim_node_is_up(a), 0);
	ck_assert_ptr_null(ac_sim_node_sched(a));
	ac_sim_free(w);
}
END_TEST

/* The echo programs on a swarm-drawn faulty world (crashes and restarts,
 * partitions, resets, clogs, pauses, partial I/O, drift) until the faults
 * stop at 60 s: the run must converge (every client done) by 120 s. */
static uint64_t swarm_echo(uint64_t seed, ac_sim_stats *ss)
{
	echo_st st = { .msgs = 20, .clients = 3, .retry = 1 };
	ac_sim_node *srv, *cli;
	ac_sim_opts o;
	ac_sim *w;
	uint64_t h;
	ac_sim_opts_init(&o);
	o.seed = seed;
	o.swarm = 1;
	o.max_time_ns = 120 * SEC;
	o.faults_until_ns = 60 * SEC;
	CK_OK(ac_sim_new(&o, &w));
	srv = node(w, "srv");
	cli = node(w, "cli");
	st.srv = node_addr(srv, PORT);
	CK_OK(ac_sim_node_set_main(srv, echo_srv_main, &st));
	CK_OK(ac_sim_node_set_main(cli, echo_cli_main, &st));
	ck_assert_msg(ac_sim_run(w, ac_sim_all_finished, NULL) == AC_SIM_DONE,
	              "seed %llu did not converge", (unsigned long long)seed);
	ck_assert_int_ge(st.echoed, 60);
	ac_sim_get_stats(w, ss);
	h = ac_sim_trace_hash(w);
	ac_sim_free(w);
	return h;
}

START_TEST(test_engine_swarm)
{
	ac_sim_stats a, b, sum;
	int i;
	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < 150; i++) {
		ck_assert_msg(swarm_echo((uint64_t)i, &a) == swarm_echo((uint64_t)i,
		              &b), "seed %d: two runs differ", i);
		sum.crashes += a.crashes;
		sum.partitions += a.partitions;
		sum.tcp_resets += a.tcp_resets;
	}
	/* The faults did happen. */
	ck_assert_uint_gt(sum.crashes, 5);
	ck_assert_uint_gt(sum.partitions, 20);
	ck_assert_uint_gt(sum.tcp_resets, 10);
}
END_TEST

/* ---- the suite ---------------------------------------------------------------------- */

int main(void)
{
	Suite *s = suite_create("sim_engine");
	TCase *tc = tcase_create("engine");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_engine_echo);
	tcase_add_test(tc, test_engine_crash_restart);
	tcase_add_test(tc, test_engine_reset_seen);
	tcase_add_test(tc, test_engine_partition_timeout);
	tcase_add_test(tc, test_engine_pause);
	tcase_add_test(tc, test_engine_self_crash);
	tcase_add_test(tc, test_engine_swarm);
	suite_add_tcase(s, tc);
	return sim_suite_main(s);
}
