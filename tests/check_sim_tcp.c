/* tests/check_sim_tcp.c: TCP of the sim backend driven through raw io
 * operations (no scheduler) on a clean network — a stream in order with
 * shutdown and close, connections and data that arrive before accept,
 * refused, unreachable and out-of-subnet connects, ports (in use, not
 * available, ephemeral), a node reaching itself through 127.0.0.1, bad
 * handles, and cancel of a recv that completed but was not called back.
 */
#include "config.h"

#include "sim/sim.h"
#include "tests/sim_harness.h"

/* ---- TCP ------------------------------------------------------------------------------ */

START_TEST(test_tcp_stream)
{
	ac_sim *w = world(7);
	ac_sim_node *a, *b;
	ac_io *ia, *ib;
	ac_addr pa, la;
	probe r;
	int ha, hb;
	char buf[AC_ADDR_STRLEN];
	sim_pair(w, &a, &b, &ha, &hb);
	ia = ac_sim_node_io(a);
	ib = ac_sim_node_io(b);
	/* The connection took at least two one-way latencies (SYN, SYNACK). */
	ck_assert_int_ge(ac_sim_now_ns(w), 2 * 50000);
	CK_OK(ia->ops->peer_addr(ia, ha, &pa));
	ck_assert_str_eq(ac_addr_format_ip(&pa, buf, sizeof(buf)), "10.0.0.2");
	CK_OK(ib->ops->local_addr(ib, hb, &la));
	ck_assert(ac_addr_eq(&pa, &la));
	recv_pending(ia, ha, &r);
	send_str(ib, hb, "hello");
	send_str(ib, hb, " world");
	run_until(w, &r);
	/* Bytes come in order; a later recv gets the rest. */
	ck_assert_int_ge(r.res, 5);
	if (r.res < 11) {
		probe r2;
		recv_pending(ia, ha, &r2);
		run_until(w, &r2);
		memcpy(r.buf + r.res, r2.buf, (size_t)r2.res);
		r.res += r2.res;
	}
	ck_assert_int_eq(r.res, 11);
	ck_assert(memcmp(r.buf, "hello world", 11) == 0);
	/* shutdown: the peer reads end of stream; close: likewise. */
	CK_OK(ib->ops->shutdown(ib, hb));
	recv_pending(ia, ha, &r);
	run_until(w, &r);
	ck_assert_int_eq(r.res, 0);
	ck_assert_int_eq(ib->ops->send(ib, hb, &r.op), -EPIPE);
	recv_pending(ib, hb, &r);
	CK_OK(ia->ops->close(ia, ha));
	run_until(w, &r);
	ck_assert_int_eq(r.res, 0);
	CK_OK(ib->ops->close(ib, hb));
	ck_assert_int_eq(ib->ops->close(ib, hb), -EBADF);
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_tcp_backlog_then_accept)
{
	ac_sim *w = world(3);
	ac_sim_node *a = node(w, "a"), *b = node(w, "b");
	ac_io *ia = ac_sim_node_io(a), *ib = ac_sim_node_io(b);
	ac_addr addr = node_addr(a, PORT);
	probe con, acc, r;
	int lh;
	CK_OK(ia->ops->tcp_listen(ia, &addr, 4, 0, &lh));
	probe_init(&con);
	con.op.addr = addr;
	ck_assert_int_eq(ib->ops->connect(ib, &con.op), AC_IO_PENDING);
	run_until(w, &con);
	CK_OK(con.res);
	send_str(ib, (int)con.res, "early");
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	/* Connected and data arrived before accept: accept and recv complete
	 * at once. */
	probe_init(&acc);
	ck_assert_int_eq(ia->ops->accept(ia, lh, &acc.op), AC_IO_DONE);
	CK_OK(acc.op.res);
	probe_init(&r);
	ck_assert_int_eq(ia->ops->recv(ia, (int)acc.op.res, &r.op), AC_IO_DONE);
	ck_assert_int_eq(r.op.res, 5);
	ck_assert_int_eq(acc.calls + r.calls, 0);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_tcp_refused)
{
	ac_sim *w = world(1);
	ac_sim_node *a = node(w, "a"), *b = node(w, "b");
	ac_io *ib = ac_sim_node_io(b);
	probe con;
	(void)a;
	probe_init(&con);
	con.op.addr = node_addr(a, PORT + 1);
	ck_assert_int_eq(ib->ops->connect(ib, &con.op), AC_IO_PENDING);
	run_until(w, &con);
	CK_RC(con.res, -ECONNREFUSED);
	ck_assert_int_gt(ac_sim_now_ns(w), 0);
	/* An unused address of the subnet: unreachable after a while. */
	probe_init(&con);
	con.op.addr = parse("10.0.0.77:80");
	ck_assert_int_eq(ib->ops->connect(ib, &con.op), AC_IO_PENDING);
	run_until(w, &con);
	CK_RC(con.res, -EHOSTUNREACH);
	/* Outside the subnet: at once. */
	probe_init(&con);
	con.op.addr = parse("192.168.1.1:80");
	CK_RC(ib->ops->connect(ib, &con.op), -ENETUNREACH);
	ck_assert_int_eq(ib->ops->pending(ib), 0);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_tcp_loopback_and_ports)
{
	ac_sim *w = world(1);
	ac_sim_node *a = node(w, "a");
	ac_io *io = ac_sim_node_io(a);
	ac_addr any = parse("0.0.0.0:6000"), lo = parse("127.0.0.1:6000");
	ac_addr other = parse("10.0.0.9:6000"), got;
	probe con, acc;
	int l1, l2, l3;
	CK_OK(io->ops->tcp_listen(io, &any, 4, 0, &l1));
	ck_assert_int_eq(io->ops->tcp_listen(io, &lo, 4, 0, &l2), -EADDRINUSE);
	ck_assert_int_eq(io->ops->tcp_listen(io, &other, 4, 0, &l2),
	                 -EADDRNOTAVAIL);
	any.port = 0;
	CK_OK(io->ops->tcp_listen(io, &any, 4, 0, &l3));
	CK_OK(io->ops->local_addr(io, l3, &got));
	ck_assert_int_ge(got.port, AC__SIM_PORT_EPHEMERAL);
	/* A node reaches itself through 127.0.0.1. */
	probe_init(&con);
	probe_init(&acc);
	con.op.addr = lo;
	ck_assert_int_eq(io->ops->accept(io, l1, &acc.op), AC_IO_PENDING);
	ck_assert_int_eq(io->ops->connect(io, &con.op), AC_IO_PENDING);
	run_until(w, &con);
	CK_OK(con.res);
	CK_OK(io->ops->peer_addr(io, (int)con.res, &got));
	ck_assert(ac_addr_eq(&got, &lo));
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	ck_assert_int_eq(acc.calls, 1);
	CK_OK(acc.res);
	/* Bad handles, non-sockets and descriptors. */
	ck_assert_int_eq(io->ops->recv(io, 999, &con.op), -EBADF);
	ck_assert_int_eq(io->ops->recv(io, l1, &con.op), -EINVAL); /* as on epoll */
	ck_assert_int_eq(io->ops->fd_attach(io, 0, &l2), -ENOTSUP);
	ac_sim_free(w);
}
END_TEST


START_TEST(test_cancel_completed)
{
	ac_sim *w = world(32);
	ac_sim_node *a, *b;
	ac_io *ia, *ib;
	probe r;
	int ha, hb;
	sim_pair(w, &a, &b, &ha, &hb);
	ia = ac_sim_node_io(a);
	ib = ac_sim_node_io(b);
	recv_pending(ia, ha, &r);
	send_str(ib, hb, "xyz");
	/* a is paused: the data arrives, but a's callback cannot run. */
	CK_OK(ac_sim_pause(a, 10 * SEC));
	ck_assert_int_eq(ac_sim_run_for(w, 1 * SEC), AC_SIM_DONE);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_ptr_nonnull(a->n_done.l_head);
	ck_assert_int_eq(ia->ops->cancel(ia, &r.op), AC_IO_DONE);
	ck_assert_int_eq(r.op.res, 3);
	ck_assert_int_eq(ia->ops->cancel(ia, &r.op), -ENOENT);
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	ck_assert_int_eq(r.calls, 0);
	/* Cancel of a pending recv: 0, no callback. */
	recv_pending(ia, ha, &r);
	ck_assert_int_eq(ia->ops->cancel(ia, &r.op), 0);
	ck_assert_int_eq(ia->ops->pending(ia), 0);
	ac_sim_free(w);
}
END_TEST

/* ---- the suite ---------------------------------------------------------------------- */

int main(void)
{
	Suite *s = suite_create("sim_tcp");
	TCase *tc = tcase_create("tcp");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_tcp_stream);
	tcase_add_test(tc, test_tcp_backlog_then_accept);
	tcase_add_test(tc, test_tcp_refused);
	tcase_add_test(tc, test_tcp_loopback_and_ports);
	tcase_add_test(tc, test_cancel_completed);
	suite_add_tcase(s, tc);
	return sim_suite_main(s);
}
