/* tests/check_conform.c: the conformance suite — the same test bodies run on
 * the epoll backend over 127.0.0.1 and on the simulator (a simulated node
 * with address 10.0.0.1), and must pass on both. A behaviour that differs
 * between them is a bug in one of the backends. Each test is a loop test:
 * _i = 0 runs it on epoll, _i = 1 in the simulated world. */
#include "tests/testutil.h"

#include <asyncoro/sim.h>

/* What a body gets: the address of the host it runs on (port 0). */
typedef struct conform {
	ac_addr host;
	int done;
} conform;

typedef void (*conform_body)(conform *c);

typedef struct conform_run {
	conform c;
	conform_body body;
} conform_run;

static void conform_coro(void *arg)
{
	conform_run *r = arg;
	r->body(&r->c);
	r->c.done = 1;
}

static void conform_sim_main(ac_sim_node *node, void *arg)
{
	conform_run *r = arg;
	ac_sim_node_addr(node, &r->c.host);
	CK_OK(ac_spawn(ac_sim_node_sched(node), conform_coro, r, NULL, NULL));
}

static int conform_go(conform_body body, int sim)
{
	conform_run r;
	memset(&r, 0, sizeof(r));
	r.body = body;
	if (!sim) {
		ac_sched *s = test_sched();
		CK_OK(ac_addr_parse(&r.c.host, "127.0.0.1", 0));
		CK_OK(ac_spawn(s, conform_coro, &r, NULL, NULL));
		CK_OK(ac_sched_run(s));
		ac_sched_free(s);
	} else {
		ac_sim_opts o;
		ac_sim *w;
		ac_sim_node *n;
		ac_sim_opts_init(&o);
		o.seed = 42;
		o.max_time_ns = 600LL * 1000000000;
		CK_OK(ac_sim_new(&o, &w));
		CK_OK(ac_sim_node_add(w, "host", &n));
		CK_OK(ac_sim_node_set_main(n, conform_sim_main, &r));
		ck_assert_int_eq(ac_sim_run(w, ac_sim_all_finished, NULL), AC_SIM_DONE);
		ac_sim_free(w);
	}
	ck_assert_msg(r.c.done, "the body did not finish (%s)", sim ? "sim" : "epoll");
	return r.c.done;
}

/* A listener on the host, port chosen by the backend; *addr gets it. */
static ac_sock *conform_listen(conform *c, ac_addr *addr)
{
	ac_sock *l;
	CK_OK(ac_sock_listen(NULL, &c->host, 8, 0, &l));
	CK_OK(ac_sock_local_addr(l, addr));
	ck_assert_uint_ne(addr->port, 0);
	return l;
}

/* ---- bodies --------------------------------------------------------------------- */

static void echo_server(void *arg)
{
	ac_sock *l = arg, *k;
	char buf[5];
	CK_OK(ac_sock_accept(l, 5000, &k));
	ck_assert_int_eq(ac_sock_recv_all(k, buf, 5, 5000), 5);
	ck_assert_int_eq(ac_sock_send_all(k, buf, 5, 5000), 5);
	CK_OK(ac_sock_shutdown(k));
	ck_assert_int_eq(ac_sock_recv(k, buf, 5, 5000), 0); /* client's end */
	ac_sock_close(k);
}

static void body_tcp_echo(conform *c)
{
	ac_addr a;
	ac_sock *l = conform_listen(c, &a), *k;
	ac_ref srv;
	char buf[8];
	CK_OK(ac_spawn(NULL, echo_server, l, NULL, &srv));
	CK_OK(ac_sock_connect(&a, 5000, &k));
	ck_assert_int_eq(ac_sock_send_all(k, "hello", 5, 5000), 5);
	ck_assert_int_eq(ac_sock_recv_all(k, buf, 5, 5000), 5);
	ck_assert(memcmp(buf, "hello", 5) == 0);
	ck_assert_int_eq(ac_sock_recv(k, buf, sizeof(buf), 5000), 0); /* EOF */
	CK_OK(ac_sock_shutdown(k));
	CK_OK(ac_finish(srv, 5000, NULL));
	ac_sock_close(k);
	ac_sock_close(l);
}

START_TEST(test_tcp_echo)
{
	ck_assert(conform_go(body_tcp_echo, _i));
}
END_TEST

static void body_refused(conform *c)
{
	ac_addr a = c->host;
	ac_sock *k;
	a.port = 1;
	CK_RC(ac_sock_connect(&a, 5000, &k), -ECONNREFUSED);
}

START_TEST(test_refused)
{
	ck_assert(conform_go(body_refused, _i));
}
END_TEST

static void idle_server(void *arg)
{
	ac_sock *l = arg, *k;
	char b;
	CK_OK(ac_sock_accept(l, 5000, &k));
	/* Wait for the client to give up and close. */
	ck_assert_int_eq(ac_sock_recv(k, &b, 1, 5000), 0);
	ac_sock_close(k);
}

static void body_timeouts(conform *c)
{
	ac_addr a;
	ac_sock *l = conform_listen(c, &a), *k, *none;
	ac_ref srv;
	char b;
	int64_t t0;
	ac_sched *s = ac_sched_self();
	t0 = ac_sched_now_ns(s);
	CK_RC(ac_sock_accept(l, 50, &none), -ETIMEDOUT);
	ck_assert_int_ge(ac_sched_now_ns(s) - t0, 50000000);
	CK_OK(ac_spawn(NULL, idle_server, l, NULL, &srv));
	CK_OK(ac_sock_connect(&a, 5000, &k));
	t0 = ac_sched_now_ns(s);
	CK_RC(ac_sock_recv(k, &b, 1, 100), -ETIMEDOUT);
	ck_assert_int_ge(ac_sched_now_ns(s) - t0, 100000000);
	ac_sock_close(k);
	CK_OK(ac_finish(srv, 5000, NULL));
	ac_sock_close(l);
}

START_TEST(test_timeouts)
{
	ck_assert(conform_go(body_timeouts, _i));
}
END_TEST

static void msg_server(void *arg)
{
	ac_sock *l = arg, *k;
	void *buf;
	size_t len;
	CK_OK(ac_sock_accept(l, 5000, &k));
	while (ac_sock_recv_msg(k, &buf, &len, 1 << 20, 5000) == 1) {
		CK_OK(ac_sock_send_msg(k, buf, len, 5000));
		free(buf);
	}
	ac_sock_close(k);
}

static void body_messages(conform *c)
{
	ac_addr a;
	ac_sock *l = conform_listen(c, &a), *k;
	ac_ref srv;
	size_t sizes[] = {0, 1, 1000, 100000, 1 << 20}, i, len;
	void *buf;
	char *big = malloc(1 << 20);
	ck_assert_ptr_nonnull(big);
	for (i = 0; i < (1 << 20); i++)
		big[i] = (char)(i * 7);
	CK_OK(ac_spawn(NULL, msg_server, l, NULL, &srv));
	CK_OK(ac_sock_connect(&a, 5000, &k));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		CK_OK(ac_sock_send_msg(k, big, sizes[i], 5000));
		ck_assert_int_eq(ac_sock_recv_msg(k, &buf, &len, 1 << 20, 5000), 1);
		ck_assert_uint_eq(len, sizes[i]);
		ck_assert(len == 0 || memcmp(buf, big, len) == 0);
		free(buf);
	}
	CK_OK(ac_sock_send_msg(k, big, 10, 5000));
	CK_RC(ac_sock_recv_msg(k, &buf, &len, 5, 5000), -EMSGSIZE);
	ac_sock_close(k);
	CK_OK(ac_finish(srv, 5000, NULL));
	ac_sock_close(l);
	free(big);
}

START_TEST(test_messages)
{
	ck_assert(conform_go(body_messages, _i));
}
END_TEST

static void body_udp(conform *c)
{
	ac_sock *u1, *u2;
	ac_addr a1, a2, from;
	char buf[16];
	CK_OK(ac_sock_udp(NULL, &c->host, 0, &u1));
	CK_OK(ac_sock_udp(NULL, &c->host, 0, &u2));
	CK_OK(ac_sock_local_addr(u1, &a1));
	CK_OK(ac_sock_local_addr(u2, &a2));
	ck_assert_int_eq(ac_sock_sendto(u1, "ping", 4, &a2, 1000), 4);
	ck_assert_int_eq(ac_sock_recvfrom(u2, buf, sizeof(buf), &from, 5000), 4);
	ck_assert(memcmp(buf, "ping", 4) == 0);
	ck_assert(ac_addr_eq(&from, &a1));
	CK_RC(ac_sock_recvfrom(u2, buf, sizeof(buf), &from, 50), -ETIMEDOUT);
	ac_sock_close(u1);
	ac_sock_close(u2);
}

START_TEST(test_udp)
{
	ck_assert(conform_go(body_udp, _i));
}
END_TEST

typedef struct close_case {
	ac_sock *k;
	int rc;
} close_case;

static void blocked_reader(void *arg)
{
	close_case *cc = arg;
	char b;
	cc->rc = (int)ac_sock_recv(cc->k, &b, 1, 5000);
}

static void body_close_wakes(conform *c)
{
	ac_addr a;
	ac_sock *l = conform_listen(c, &a), *srv;
	close_case cc = {NULL, 1};
	ac_ref r;
	CK_OK(ac_sock_connect(&a, 5000, &cc.k));
	CK_OK(ac_sock_accept(l, 5000, &srv));
	CK_OK(ac_spawn(NULL, blocked_reader, &cc, NULL, &r));
	CK_OK(ac_sleep(10));
	ac_sock_close(cc.k);
	CK_OK(ac_finish(r, 5000, NULL));
	ck_assert_msg(cc.rc < 0, "recv on a closed socket returned %d", cc.rc);
	ac_sock_close(srv);
	ac_sock_close(l);
}

START_TEST(test_close_wakes)
{
	ck_assert(conform_go(body_close_wakes, _i));
}
END_TEST

static void body_sleep(conform *c)
{
	ac_sched *s = ac_sched_self();
	int64_t t0 = ac_sched_now_ns(s);
	(void)c;
	CK_OK(ac_sleep(250));
	ck_assert_int_ge(ac_sched_now_ns(s) - t0, 250000000);
}

START_TEST(test_sleep)
{
	ck_assert(conform_go(body_sleep, _i));
}
END_TEST

static Suite *conform_suite(void)
{
	Suite *s = suite_create("conform");
	TCase *tc = tcase_create("epoll+sim");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_tcp_echo, 0, 2);
	tcase_add_loop_test(tc, test_refused, 0, 2);
	tcase_add_loop_test(tc, test_timeouts, 0, 2);
	tcase_add_loop_test(tc, test_messages, 0, 2);
	tcase_add_loop_test(tc, test_udp, 0, 2);
	tcase_add_loop_test(tc, test_close_wakes, 0, 2);
	tcase_add_loop_test(tc, test_sleep, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conform_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
