/* tests/check_sim_udp.c: UDP of the sim backend driven through raw io
 * operations — loss and duplication in exact counts, reordering, fixed
 * per-direction latencies to the nanosecond, and broadcasts reaching every
 * node (and every socket sharing the port) but refused without
 * AC_IO_BROADCAST.
 */
#include "config.h"

#include "tests/sim_harness.h"

/* ---- loss, duplication, reordering, latency, broadcast ------------------------------- */

/* 100 datagrams from b to a with the given loss and duplication
 * probabilities: how many a received. */
static int udp_loss_run(double loss, double dup)
{
	ac_sim *w = world(41);
	ac_sim_node *a = node(w, "a"), *b = node(w, "b");
	udp_sink u;
	int got;
	CK_OK(ac_sim_set_udp_faults(w, loss, dup, 0.0));
	udp_sink_start(&u, ac_sim_node_io(a), "0.0.0.0:9000", 0);
	udp_blast(ac_sim_node_io(b), "10.0.0.1:9000", 100, 0);
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	got = u.got;
	ac_sim_free(w);
	return got;
}

START_TEST(test_udp_loss)
{
	ck_assert_int_eq(udp_loss_run(0.0, 0.0), 100);
	ck_assert_int_eq(udp_loss_run(1.0, 0.0), 0);
	ck_assert(udp_loss_run(0.5, 0.0) > 20 && udp_loss_run(0.5, 0.0) < 80);
}
END_TEST

START_TEST(test_udp_dup)
{
	ck_assert_int_eq(udp_loss_run(0.0, 1.0), 200);
}
END_TEST

START_TEST(test_udp_reorder)
{
	ac_sim *w = world(43);
	ac_sim_node *a = node(w, "a"), *b = node(w, "b");
	ac_io *ia = ac_sim_node_io(a), *ib = ac_sim_node_io(b);
	ac_addr bind = parse("0.0.0.0:9000"), any = parse("0.0.0.0:0");
	uint8_t seq;
	int h, hs, i, inversions = 0, last = -1;
	ac_op op;
	CK_OK(ac_sim_set_udp_faults(w, 0.0, 0.0, 0.5));
	CK_OK(ia->ops->udp_bind(ia, &bind, 0, &h));
	CK_OK(ib->ops->udp_bind(ib, &any, 0, &hs));
	for (i = 0; i < 100; i++) {
		seq = (uint8_t)i;
		memset(&op, 0, sizeof(op));
		op.cb = never_cb;
		op.buf = &seq;
		op.len = 1;
		op.addr = parse("10.0.0.1:9000");
		ck_assert_int_eq(ib->ops->sendto(ib, hs, &op), AC_IO_DONE);
	}
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	for (i = 0; i < 100; i++) {
		memset(&op, 0, sizeof(op));
		op.cb = never_cb;
		op.buf = &seq;
		op.len = 1;
		ck_assert_int_eq(ia->ops->recvfrom(ia, h, &op), AC_IO_DONE);
		inversions += seq < last;
		last = seq;
	}
	/* All arrived, some out of order. */
	ck_assert_int_gt(inversions, 5);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_latency)
{
	ac_sim *w = world(45);
	ac_sim_node *a = node(w, "a"), *b = node(w, "b");
	udp_sink ua, ub;
	CK_OK(ac_sim_set_latency(w, NULL, NULL, 10 * MS, 10 * MS, 0));
	CK_OK(ac_sim_set_latency(w, b, a, 30 * MS, 30 * MS, 0));
	ck_assert_int_eq(ac_sim_set_latency(w, a, NULL, 0, 0, 0), -EINVAL);
	udp_sink_start(&ua, ac_sim_node_io(a), "0.0.0.0:9000", 0);
	udp_sink_start(&ub, ac_sim_node_io(b), "0.0.0.0:9000", 0);
	udp_blast(ac_sim_node_io(a), "10.0.0.2:9000", 1, 0);
	udp_blast(ac_sim_node_io(b), "10.0.0.1:9000", 1, 0);
	/* Fixed latencies: a -> b 10 ms, b -> a 30 ms. */
	ck_assert_int_eq(ac_sim_run_for(w, 10 * MS - 1), AC_SIM_DONE);
	ck_assert_int_eq(ub.got, 0);
	ck_assert_int_eq(ac_sim_run_for(w, 1), AC_SIM_DONE);
	ck_assert_int_eq(ub.got, 1);
	ck_assert_int_eq(ac_sim_run_for(w, 20 * MS - 1), AC_SIM_DONE);
	ck_assert_int_eq(ua.got, 0);
	ck_assert_int_eq(ac_sim_run_for(w, 1), AC_SIM_DONE);
	ck_assert_int_eq(ua.got, 1);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_udp_broadcast)
{
	ac_sim *w = world(44);
	ac_sim_node *n[3];
	udp_sink u[4];
	ac_io *io;
	ac_op op;
	int i, h;
	char buf[AC_ADDR_STRLEN];
	for (i = 0; i < 3; i++) {
		n[i] = node(w, NULL);
		udp_sink_start(&u[i], ac_sim_node_io(n[i]), "0.0.0.0:51350",
		               AC_IO_REUSEPORT | AC_IO_BROADCAST);
	}
	/* Two sockets share the port on node 3: each gets a copy. */
	udp_sink_start(&u[3], ac_sim_node_io(n[2]), "0.0.0.0:51350",
	               AC_IO_REUSEPORT | AC_IO_BROADCAST);
	udp_blast(ac_sim_node_io(n[0]), "10.0.0.255:51350", 1, AC_IO_BROADCAST);
	udp_blast(ac_sim_node_io(n[1]), "127.255.255.255:51350", 1,
	          AC_IO_BROADCAST);
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(u[i].got, 2);
	ck_assert_str_eq(ac_addr_format_ip(&u[0].from, buf, sizeof(buf)),
	                 "10.0.0.2");
	/* Without AC_IO_BROADCAST: refused like the kernel does. */
	io = ac_sim_node_io(n[0]);
	CK_OK(io->ops->udp_bind(io, &(ac_addr){ .family = AC_AF_INET }, 0, &h));
	memset(&op, 0, sizeof(op));
	op.cb = never_cb;
	op.buf = "x";
	op.len = 1;
	op.addr = parse("10.0.0.255:51350");
	CK_RC(io->ops->sendto(io, h, &op), -EACCES);
	ac_sim_free(w);
}
END_TEST

/* ---- the suite ---------------------------------------------------------------------- */

int main(void)
{
	Suite *s = suite_create("sim_udp");
	TCase *tc = tcase_create("udp");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_udp_loss);
	tcase_add_test(tc, test_udp_dup);
	tcase_add_test(tc, test_udp_reorder);
	tcase_add_test(tc, test_latency);
	tcase_add_test(tc, test_udp_broadcast);
	suite_add_tcase(s, tc);
	return sim_suite_main(s);
}
