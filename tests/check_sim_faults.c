/* tests/check_sim_faults.c: the simulator's faults, each doing what it says
 * (each test fails without the fault's effect) — partitions that stall TCP
 * (both ways or one way) and lose UDP, a connect that times out against an
 * isolated node, clogs that delay without losing, crashes that reset the
 * peers (or not, while partitioned), restarts with a new incarnation,
 * random connection resets, partial reads and segmented sends, and
 * BUGGIFY points firing only when enabled.
 */
#include "config.h"

#include "tests/sim_harness.h"

/* ---- partitions and clogs ------------------------------------------------------------ */

/* Cancel a recv when a timer-based timeout passes (ac_sim_at). */
static void give_up_cb(ac_sim *w, void *arg)
{
	probe *p = arg;
	ac_io *io = ac_sim_node_io(ac_sim_node_at(w, 0));
	(void)w;
	p->res = io->ops->cancel(io, &p->op);
	p->calls = 100;
}

START_TEST(test_partition_stalls_tcp)
{
	ac_sim *w = world(11);
	ac_sim_node *a, *b;
	ac_io *ia, *ib;
	ac_sim_stats st;
	probe r;
	int ha, hb;
	sim_pair(w, &a, &b, &ha, &hb);
	ia = ac_sim_node_io(a);
	ib = ac_sim_node_io(b);
	CK_OK(ac_sim_partition(w, a, b, 0, -1));
	recv_pending(ia, ha, &r);
	send_str(ib, hb, "held");
	/* The waiter gives up when its timeout passes: nothing arrived. */
	CK_OK(ac_sim_at(w, ac_sim_now_ns(w) + 2 * SEC, give_up_cb, &r));
	ck_assert_int_eq(ac_sim_run(w, probe_called, &r), AC_SIM_DONE);
	ck_assert_int_eq(r.calls, 100);
	ck_assert_int_eq(r.res, 0);
	/* Still nothing while the partition lasts... */
	recv_pending(ia, ha, &r);
	ck_assert_int_eq(ac_sim_run_for(w, 30 * SEC), AC_SIM_DONE);
	ck_assert_int_eq(r.calls, 0);
	ac_sim_get_stats(w, &st);
	ck_assert_uint_gt(st.tcp_stalls, 5);
	/* ...and the held bytes arrive once it heals (nothing lost). */
	ac_sim_heal(w);
	ck_assert_int_eq(ac_sim_run_for(w, 5 * SEC), AC_SIM_DONE);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.res, 4);
	ck_assert(memcmp(r.buf, "held", 4) == 0);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_partition_oneway)
{
	ac_sim *w = world(12);
	ac_sim_node *a, *b;
	ac_io *ia, *ib;
	probe ra, rb;
	int ha, hb;
	sim_pair(w, &a, &b, &ha, &hb);
	ia = ac_sim_node_io(a);
	ib = ac_sim_node_io(b);
	/* Only a -> b is cut, for 3 s. */
	CK_OK(ac_sim_partition(w, a, b, 1, 3 * SEC));
	recv_pending(ia, ha, &ra);
	recv_pending(ib, hb, &rb);
	send_str(ia, ha, "a2b");
	send_str(ib, hb, "b2a");
	ck_assert_int_eq(ac_sim_run_for(w, 1 * SEC), AC_SIM_DONE);
	ck_assert_int_eq(ra.calls, 1);
	ck_assert_int_eq(rb.calls, 0);
	ck_assert_int_eq(ac_sim_run_for(w, 5 * SEC), AC_SIM_DONE);
	ck_assert_int_eq(rb.calls, 1);
	ck_assert_int_eq(rb.res, 3);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_partition_connect_times_out)
{
	ac_sim *w = world(13);
	ac_sim_node *a = node(w, "a"), *b = node(w, "b");
	ac_io *ia = ac_sim_node_io(a), *ib = ac_sim_node_io(b);
	ac_addr addr = node_addr(a, PORT);
	probe con;
	int lh;
	CK_OK(ia->ops->tcp_listen(ia, &addr, 4, 0, &lh));
	CK_OK(ac_sim_isolate(w, a, -1));
	probe_init(&con);
	con.op.addr = addr;
	ck_assert_int_eq(ib->ops->connect(ib, &con.op), AC_IO_PENDING);
	run_until(w, &con);
	CK_RC(con.res, -ETIMEDOUT);
	/* SYN retransmitted 6 times: 1 + 2 + ... + 64 s. */
	ck_assert_int_ge(ac_sim_now_ns(w), 127 * SEC);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_clog_delays_tcp)
{
	ac_sim *w = world(14);
	ac_sim_node *a, *b;
	ac_io *ia, *ib;
	char want[201], got[201];
	size_t have = 0;
	int64_t t0;
	int ha, hb, i;
	sim_pair(w, &a, &b, &ha, &hb);
	ia = ac_sim_node_io(a);
	ib = ac_sim_node_io(b);
	t0 = ac_sim_now_ns(w);
	CK_OK(ac_sim_clog(w, a, b, 2 * SEC));
	for (i = 0; i < 20; i++) {
		char line[16];
		snprintf(line, sizeof(line), "msg%06d\n", i);
		memcpy(want + 10 * i, line, 11);
		send_str(ib, hb, line);
	}
	while (have < 200) {
		probe r;
		int64_t k = recv_some(w, ia, ha, &r);
		ck_assert_int_gt(k, 0);
		/* Nothing arrives before the clog ends. */
		ck_assert_int_ge(ac_sim_now_ns(w), t0 + 2 * SEC);
		memcpy(got + have, r.buf, (size_t)k);
		have += (size_t)k;
	}
	/* Everything arrives, in order. */
	ck_assert_uint_eq(have, 200);
	ck_assert(memcmp(got, want, 200) == 0);
	ac_sim_free(w);
}
END_TEST

/* ---- crashes and restarts ---------------------------------------------------------- */

START_TEST(test_crash_resets_peer)
{
	ac_sim *w = world(21);
	ac_sim_node *a, *b;
	ac_io *ia, *ib;
	ac_sim_stats st;
	probe r, r2;
	int ha, hb;
	sim_pair(w, &a, &b, &ha, &hb);
	ia = ac_sim_node_io(a);
	ib = ac_sim_node_io(b);
	recv_pending(ib, hb, &r);
	recv_pending(ia, ha, &r2);
	ck_assert_int_eq(ia->ops->pending(ia), 1);
	CK_OK(ac_sim_crash(a));
	ck_assert_int_eq(ac_sim_crash(a), -EALREADY);
	ck_assert_int_eq(ac_sim_node_is_up(a), 0);
	/* The crashed node's operations are forgotten, its handles gone. */
	ck_assert_int_eq(ia->ops->pending(ia), 0);
	ck_assert_int_eq(ia->ops->recv(ia, ha, &r2.op), -EBADF);
	run_until(w, &r);
	CK_RC(r.res, -ECONNRESET);
	ck_assert_int_eq(r2.calls, 0);
	probe_init(&r);
	CK_RC(ib->ops->send(ib, hb, &r.op), -ECONNRESET);
	CK_RC(ib->ops->recv(ib, hb, &r.op), -ECONNRESET);
	CK_OK(ib->ops->close(ib, hb));
	ac_sim_get_stats(w, &st);
	ck_assert_uint_eq(st.crashes, 1);
	ck_assert_uint_eq(st.tcp_resets, 1);
	/* The reset has been delivered: nothing is left to happen. */
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	ac_sim_get_stats(w, &st);
	ck_assert_uint_eq(st.endpoints_live, 0);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_crash_while_partitioned_is_silent)
{
	ac_sim *w = world(22);
	ac_sim_node *a, *b;
	ac_io *ib;
	probe r;
	int ha, hb;
	sim_pair(w, &a, &b, &ha, &hb);
	ib = ac_sim_node_io(b);
	CK_OK(ac_sim_partition(w, a, b, 0, -1));
	recv_pending(ib, hb, &r);
	CK_OK(ac_sim_crash(a));
	ck_assert_int_eq(ac_sim_run_for(w, 20 * SEC), AC_SIM_DONE);
	ck_assert_int_eq(r.calls, 0);
	ac_sim_heal(w);
	ck_assert_int_eq(ac_sim_run_for(w, 5 * SEC), AC_SIM_DONE);
	ck_assert_int_eq(r.calls, 1);
	CK_RC(r.res, -ECONNRESET);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_restart_new_incarnation)
{
	ac_sim *w = world(23);
	ac_sim_node *a = node(w, "a"), *b = node(w, "b");
	ac_io *ia = ac_sim_node_io(a), *ib = ac_sim_node_io(b);
	ac_addr addr = node_addr(a, PORT);
	uint64_t before, after;
	probe con;
	int lh;
	CK_OK(ia->ops->tcp_listen(ia, &addr, 4, 0, &lh));
	ia->ops->entropy(ia, &before, sizeof(before));
	CK_OK(ac_sim_crash(a));
	ck_assert_int_eq(ac_sim_restart(b), -EALREADY);
	/* While down, connections are refused (the host answers). */
	probe_init(&con);
	con.op.addr = addr;
	ck_assert_int_eq(ib->ops->connect(ib, &con.op), AC_IO_PENDING);
	run_until(w, &con);
	CK_RC(con.res, -ECONNREFUSED);
	CK_OK(ac_sim_restart(a));
	ck_assert_int_eq(ac_sim_node_incarnation(a), 2);
	ia->ops->entropy(ia, &after, sizeof(after));
	ck_assert_uint_ne(before, after);
	/* The old listener is gone: its port is free again. */
	CK_OK(ia->ops->tcp_listen(ia, &addr, 4, 0, &lh));
	ac_sim_free(w);
}
END_TEST

/* ---- random resets, partial reads and segmented sends -------------------------------- */

START_TEST(test_random_close)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_node *a, *b;
	ac_io *ia, *ib;
	probe r, s;
	int ha, hb;
	ac_sim_opts_init(&o);
	o.tcp_close_prob = 1.0;
	CK_OK(ac_sim_new(&o, &w));
	sim_pair(w, &a, &b, &ha, &hb);
	ia = ac_sim_node_io(a);
	ib = ac_sim_node_io(b);
	recv_pending(ia, ha, &r);
	probe_init(&s);
	s.op.len = 3;
	CK_RC(ib->ops->send(ib, hb, &s.op), -ECONNRESET);
	run_until(w, &r);
	CK_RC(r.res, -ECONNRESET);
	ac_sim_free(w);
}
END_TEST

/* Random resets are faults: none after faults_until_ns (sim.h). */
START_TEST(test_random_close_ends)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_node *a, *b;
	ac_io *ib;
	probe s;
	int ha, hb;
	ac_sim_opts_init(&o);
	o.tcp_close_prob = 1.0;
	o.faults_until_ns = 1000000000;
	CK_OK(ac_sim_new(&o, &w));
	ac_sim_run_for(w, 2000000000);
	ck_assert_int_ge(ac_sim_now_ns(w), o.faults_until_ns);
	sim_pair(w, &a, &b, &ha, &hb);
	ib = ac_sim_node_io(b);
	probe_init(&s);
	s.op.len = 3;
	ck_assert_int_ne(ib->ops->send(ib, hb, &s.op), -ECONNRESET);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_partial_io)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_node *a, *b;
	ac_io *ia, *ib;
	char big[4000], got[4000];
	size_t have = 0;
	int ha, hb, reads = 0, i;
	probe s;
	ac_sim_opts_init(&o);
	o.partial_prob = 1.0;
	o.seed = 31;
	CK_OK(ac_sim_new(&o, &w));
	sim_pair(w, &a, &b, &ha, &hb);
	ia = ac_sim_node_io(a);
	ib = ac_sim_node_io(b);
	for (i = 0; i < 4000; i++)
		big[i] = (char)(i * 7);
	probe_init(&s);
	s.op.buf = big;
	s.op.len = sizeof(big);
	/* The send completes whole, later. */
	ck_assert_int_eq(ib->ops->send(ib, hb, &s.op), AC_IO_PENDING);
	while (have < sizeof(big)) {
		probe r;
		int64_t k = recv_some(w, ia, ha, &r);
		ck_assert_int_gt(k, 0);
		memcpy(got + have, r.buf, (size_t)k);
		have += (size_t)k;
		reads++;
	}
	ck_assert_int_eq(s.calls, 1);
	ck_assert_int_eq(s.res, 4000);
	ck_assert(memcmp(got, big, sizeof(big)) == 0);
	/* 256-byte reads would need 16; partial reads need more. */
	ck_assert_int_gt(reads, 16);
	ac_sim_free(w);
}
END_TEST

/* ---- UDP under partitions and clogs ------------------------------------------------- */

START_TEST(test_udp_partition_loses)
{
	ac_sim *w = world(42);
	ac_sim_node *a = node(w, "a"), *b = node(w, "b");
	udp_sink u;
	CK_OK(ac_sim_partition(w, b, a, 1, -1));
	udp_sink_start(&u, ac_sim_node_io(a), "0.0.0.0:9000", 0);
	udp_blast(ac_sim_node_io(b), "10.0.0.1:9000", 10, 0);
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	ck_assert_int_eq(u.got, 0);
	/* Clogged: delayed, not lost. */
	ac_sim_heal(w);
	CK_OK(ac_sim_clog(w, a, b, 1 * SEC));
	udp_blast(ac_sim_node_io(b), "10.0.0.1:9000", 10, 0);
	ck_assert_int_eq(ac_sim_run_for(w, SEC - MS), AC_SIM_DONE);
	ck_assert_int_eq(u.got, 0);
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	ck_assert_int_eq(u.got, 10);
	ac_sim_free(w);
}
END_TEST

/* ---- BUGGIFY ------------------------------------------------------------------------- */

START_TEST(test_buggify)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_node *a;
	ac_io *io;
	char site[32];
	int i, j, enabled = 0, fired = 0, calls = 0;
	ac_sim_opts_init(&o);
	o.seed = 7;
	CK_OK(ac_sim_new(&o, &w));
	a = node(w, "a");
	io = ac_sim_node_io(a);
	/* Off: never fires. */
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(ac_buggify(io, "site"), 0);
	ck_assert_int_eq(ac_buggify(NULL, "site"), 0);
	ac_sim_free(w);
	o.buggify = 1;
	CK_OK(ac_sim_new(&o, &w));
	a = node(w, "a");
	io = ac_sim_node_io(a);
	for (i = 0; i < 64; i++) {
		int f = 0;
		snprintf(site, sizeof(site), "site-%d", i);
		for (j = 0; j < 400; j++)
			f += ac_buggify(io, site);
		enabled += f > 0;
		fired += f;
		calls += f ? 400 : 0;
	}
	/* About a quarter of the sites, each firing about a quarter of the
	 * time. */
	ck_assert(enabled >= 6 && enabled <= 30);
	ck_assert(fired * 5 > calls && fired * 3 < calls);
	ac_sim_free(w);
}
END_TEST

/* ---- the suite ---------------------------------------------------------------------- */

int main(void)
{
	Suite *s = suite_create("sim_faults");
	TCase *tc = tcase_create("faults");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_partition_stalls_tcp);
	tcase_add_test(tc, test_partition_oneway);
	tcase_add_test(tc, test_partition_connect_times_out);
	tcase_add_test(tc, test_clog_delays_tcp);
	tcase_add_test(tc, test_crash_resets_peer);
	tcase_add_test(tc, test_crash_while_partitioned_is_silent);
	tcase_add_test(tc, test_restart_new_incarnation);
	tcase_add_test(tc, test_random_close);
	tcase_add_test(tc, test_random_close_ends);
	tcase_add_test(tc, test_partial_io);
	tcase_add_test(tc, test_udp_partition_loses);
	tcase_add_test(tc, test_buggify);
	suite_add_tcase(s, tc);
	return sim_suite_main(s);
}
