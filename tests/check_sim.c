/* tests/check_sim.c: the simulated world — its PRNG, the sim backend driven
 * through raw io operations (no scheduler), every fault doing what it says
 * (each test fails without the fault's effect), determinism over seeds,
 * the in-memory file system, BUGGIFY, a failed assertion naming its seed,
 * and coroutines of the engine running on simulated nodes.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asyncoro/asyncoro.h>
#include <asyncoro/sim.h>

#include "sim/sim.h"
#include "tests/testutil.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define PORT 5000

/* ---- helpers --------------------------------------------------------------------- */

/* A completion probe: counts callbacks and keeps the last result. */
typedef struct probe {
	ac_op op;
	int calls;
	int64_t res;
	char buf[256];
} probe;

static void probe_cb(ac_op *op)
{
	probe *p = op->data;
	p->calls++;
	p->res = op->res;
}

static void probe_init(probe *p)
{
	memset(p, 0, sizeof(*p));
	p->op.cb = probe_cb;
	p->op.data = p;
	p->op.buf = p->buf;
	p->op.len = sizeof(p->buf);
}

/* A world with a clean network and the given seed. */
static ac_sim *world(uint64_t seed)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_opts_init(&o);
	o.seed = seed;
	CK_PASS(ac_sim_new(&o, &w));
	return w;
}

static ac_sim_node *node(ac_sim *w, const char *name)
{
	ac_sim_node *n;
	CK_PASS(ac_sim_node_add(w, name, &n));
	return n;
}

static ac_addr node_addr(ac_sim_node *n, uint16_t port)
{
	ac_addr a;
	ac_sim_node_addr(n, &a);
	a.port = port;
	return a;
}

static ac_addr parse(const char *text)
{
	ac_addr a;
	CK_PASS(ac_addr_parse(&a, text, 0));
	return a;
}

/* Predicate: the probe has seen at least one callback. */
static int probe_called(ac_sim *w, void *arg)
{
	(void)w;
	return ((probe *)arg)->calls > 0;
}

/* Run until p's callback ran; fails the test when it never does. */
static void run_until(ac_sim *w, probe *p)
{
	ck_assert_int_eq(ac_sim_run(w, probe_called, p), AC_SIM_DONE);
	ck_assert_int_eq(p->calls, 1);
}

/* Submit a recv into p on handle h: pending expected. */
static void recv_pending(ac_io *io, int h, probe *p)
{
	probe_init(p);
	ck_assert_int_eq(io->ops->recv(io, h, &p->op), AC_IO_PENDING);
}

/* Receive into p on handle h, running the world until it completes;
 * returns the result. */
static int64_t recv_some(ac_sim *w, ac_io *io, int h, probe *p)
{
	int rc;
	probe_init(p);
	rc = io->ops->recv(io, h, &p->op);
	if (rc == AC_IO_DONE)
		return p->op.res;
	ck_assert_int_eq(rc, AC_IO_PENDING);
	run_until(w, p);
	return p->res;
}

/* Send a C string on TCP handle h; sends complete at once here. */
static void send_str(ac_io *io, int h, const char *s)
{
	ac_op op;
	memset(&op, 0, sizeof(op));
	op.buf = (void *)s;
	op.len = strlen(s);
	ck_assert_int_eq(io->ops->send(io, h, &op), AC_IO_DONE);
	ck_assert_int_eq(op.res, (int64_t)strlen(s));
}

/* Two raw nodes a and b with a TCP connection: *ha on a, *hb on b. */
static void sim_pair(ac_sim *w, ac_sim_node **a, ac_sim_node **b, int *ha,
                     int *hb)
{
	probe acc, con;
	ac_addr addr;
	ac_io *ia, *ib;
	int lh;
	*a = node(w, "a");
	*b = node(w, "b");
	ia = ac_sim_node_io(*a);
	ib = ac_sim_node_io(*b);
	addr = node_addr(*a, PORT);
	CK_PASS(ia->ops->tcp_listen(ia, &addr, 8, 0, &lh));
	probe_init(&acc);
	probe_init(&con);
	ck_assert_int_eq(ia->ops->accept(ia, lh, &acc.op), AC_IO_PENDING);
	con.op.addr = addr;
	ck_assert_int_eq(ib->ops->connect(ib, &con.op), AC_IO_PENDING);
	run_until(w, &con);
	if (!acc.calls)
		run_until(w, &acc);
	CK_PASS(con.res);
	CK_PASS(acc.res);
	CK_PASS(ia->ops->close(ia, lh));
	*ha = (int)acc.res;
	*hb = (int)con.res;
}

/* ---- the PRNG ------------------------------------------------------------------------ */

START_TEST(test_rng_vectors)
{
	static const uint64_t xo[6] = {
		11520ULL, 0ULL, 1509978240ULL, 1215971899390074240ULL,
		1216172134540287360ULL, 607988272756665600ULL
	};
	static const uint64_t sm[3] = {
		6457827717110365317ULL, 3203168211198807973ULL,
		9817491932198370423ULL
	};
	ac__sim_rng r = { { 1, 2, 3, 4 } };
	uint64_t st = 1234567;
	int i;
	/* xoshiro256** from state {1, 2, 3, 4}; splitmix64 from 1234567. */
	for (i = 0; i < 6; i++)
		ck_assert_uint_eq(ac__sim_rng_next(&r), xo[i]);
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(ac__sim_splitmix64(&st), sm[i]);
	/* Seeding expands through splitmix64: seed 0. */
	ac__sim_rng_seed(&r, 0);
	ck_assert_uint_eq(ac__sim_rng_next(&r), 11091344671253066420ULL);
	ck_assert_uint_eq(ac__sim_rng_next(&r), 13793997310169335082ULL);
	/* FNV-1a 64 of "a". */
	ck_assert_uint_eq(ac__sim_fnv1a(AC__SIM_FNV_OFFSET, "a", 1),
	                  0xaf63dc4c8601ec8cULL);
}
END_TEST

START_TEST(test_rng_distributions)
{
	ac__sim_rng r;
	int64_t sum = 0, v;
	int i, hits = 0, seen[7] = { 0 };
	ac__sim_rng_seed(&r, 42);
	for (i = 0; i < 70000; i++) {
		v = ac__sim_rng_range(&r, -3, 3);
		ck_assert(v >= -3 && v <= 3);
		seen[v + 3]++;
	}
	for (i = 0; i < 7; i++)
		ck_assert_int_gt(seen[i], 9000);
	for (i = 0; i < 100000; i++) {
		v = ac__sim_rng_exp(&r, 1000);
		ck_assert(v >= 0 && v <= 10000);
		sum += v;
		hits += ac__sim_rng_chance(&r, 0.25);
	}
	/* Mean of the exponential near 1000, chance near 1/4. */
	ck_assert(sum / 100000 > 950 && sum / 100000 < 1050);
	ck_assert(hits > 24000 && hits < 26000);
	ck_assert_int_eq(ac__sim_rng_chance(&r, 0.0), 0);
	ck_assert_int_eq(ac__sim_rng_chance(&r, 1.0), 1);
}
END_TEST

/* ---- worlds and nodes ------------------------------------------------------------------ */

START_TEST(test_world_basics)
{
	ac_sim *w = world(1);
	ac_sim_node *a = node(w, "alpha"), *b, *n;
	ac_sim *bad;
	ac_sim_opts o;
	ac_addr ad;
	char buf[AC_ADDR_STRLEN];
	ck_assert_int_eq(ac_sim_node_add(w, "alpha", &n), -EEXIST);
	CK_PASS(ac_sim_node_add(w, NULL, &b));
	ck_assert_str_eq(ac_sim_node_name(b), "node2");
	ac_sim_node_addr(a, &ad);
	ck_assert_str_eq(ac_addr_format_ip(&ad, buf, sizeof(buf)), "10.0.0.1");
	ac_sim_node_addr(b, &ad);
	ck_assert_str_eq(ac_addr_format_ip(&ad, buf, sizeof(buf)), "10.0.0.2");
	ck_assert_ptr_eq(ac_sim_node_of(ac_sim_node_io(b)), b);
	ck_assert_ptr_eq(ac_sim_node_at(w, 0), a);
	ck_assert_uint_eq(ac_sim_nodes(w), 2);
	ck_assert_str_eq(ac_sim_node_io(a)->ops->name, "sim");
	ck_assert_int_eq(ac_sim_node_incarnation(a), 1);
	/* Nothing to do: the world is quiet at once, and run_for moves time. */
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	ck_assert_int_eq(ac_sim_run_for(w, 5 * SEC), AC_SIM_DONE);
	ck_assert_int_eq(ac_sim_now_ns(w), 5 * SEC);
	ck_assert_int_eq(ac_sim_node_now_ns(a), 5 * SEC);
	ac_sim_opts_init(&o);
	o.udp_loss = 1.5;
	ck_assert_int_eq(ac_sim_new(&o, &bad), -EINVAL);
	ck_assert_ptr_null(bad);
	ac_sim_free(w);
}
END_TEST

static void at_cb(ac_sim *w, void *arg)
{
	int64_t *when = arg;
	*when = ac_sim_now_ns(w);
}

START_TEST(test_world_at)
{
	ac_sim *w = world(1);
	int64_t when = -1;
	CK_PASS(ac_sim_at(w, 3 * SEC, at_cb, &when));
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	ck_assert_int_eq(when, 3 * SEC);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_clock_drift)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_node *a, *b;
	int64_t a0, b0, a1, b1;
	ac_sim_opts_init(&o);
	o.drift_ppm_max = 1000;
	o.seed = 5;
	CK_PASS(ac_sim_new(&o, &w));
	a = node(w, "a");
	b = node(w, "b");
	a0 = ac_sim_node_now_ns(a);
	b0 = ac_sim_node_now_ns(b);
	ck_assert_int_eq(ac_sim_run_for(w, 100 * SEC), AC_SIM_DONE);
	a1 = ac_sim_node_now_ns(a) - a0;
	b1 = ac_sim_node_now_ns(b) - b0;
	/* Each clock moved 100 s +- 0.1 %, and they disagree. */
	ck_assert(a1 >= 100 * SEC - 100 * MS && a1 <= 100 * SEC + 100 * MS);
	ck_assert(b1 >= 100 * SEC - 100 * MS && b1 <= 100 * SEC + 100 * MS);
	ck_assert(a1 != b1 || a0 != b0);
	ac_sim_free(w);
}
END_TEST

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
	CK_PASS(ia->ops->peer_addr(ia, ha, &pa));
	ck_assert_str_eq(ac_addr_format_ip(&pa, buf, sizeof(buf)), "10.0.0.2");
	CK_PASS(ib->ops->local_addr(ib, hb, &la));
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
	CK_PASS(ib->ops->shutdown(ib, hb));
	recv_pending(ia, ha, &r);
	run_until(w, &r);
	ck_assert_int_eq(r.res, 0);
	ck_assert_int_eq(ib->ops->send(ib, hb, &r.op), -EPIPE);
	recv_pending(ib, hb, &r);
	CK_PASS(ia->ops->close(ia, ha));
	run_until(w, &r);
	ck_assert_int_eq(r.res, 0);
	CK_PASS(ib->ops->close(ib, hb));
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
	CK_PASS(ia->ops->tcp_listen(ia, &addr, 4, 0, &lh));
	probe_init(&con);
	con.op.addr = addr;
	ck_assert_int_eq(ib->ops->connect(ib, &con.op), AC_IO_PENDING);
	run_until(w, &con);
	CK_PASS(con.res);
	send_str(ib, (int)con.res, "early");
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	/* Connected and data arrived before accept: accept and recv complete
	 * at once. */
	probe_init(&acc);
	ck_assert_int_eq(ia->ops->accept(ia, lh, &acc.op), AC_IO_DONE);
	CK_PASS(acc.op.res);
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
	CK_FAIL(con.res, -ECONNREFUSED);
	ck_assert_int_gt(ac_sim_now_ns(w), 0);
	/* An unused address of the subnet: unreachable after a while. */
	probe_init(&con);
	con.op.addr = parse("10.0.0.77:80");
	ck_assert_int_eq(ib->ops->connect(ib, &con.op), AC_IO_PENDING);
	run_until(w, &con);
	CK_FAIL(con.res, -EHOSTUNREACH);
	/* Outside the subnet: at once. */
	probe_init(&con);
	con.op.addr = parse("192.168.1.1:80");
	CK_FAIL(ib->ops->connect(ib, &con.op), -ENETUNREACH);
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
	CK_PASS(io->ops->tcp_listen(io, &any, 4, 0, &l1));
	ck_assert_int_eq(io->ops->tcp_listen(io, &lo, 4, 0, &l2), -EADDRINUSE);
	ck_assert_int_eq(io->ops->tcp_listen(io, &other, 4, 0, &l2),
	                 -EADDRNOTAVAIL);
	any.port = 0;
	CK_PASS(io->ops->tcp_listen(io, &any, 4, 0, &l3));
	CK_PASS(io->ops->local_addr(io, l3, &got));
	ck_assert_int_ge(got.port, AC__SIM_PORT_EPHEMERAL);
	/* A node reaches itself through 127.0.0.1. */
	probe_init(&con);
	probe_init(&acc);
	con.op.addr = lo;
	ck_assert_int_eq(io->ops->accept(io, l1, &acc.op), AC_IO_PENDING);
	ck_assert_int_eq(io->ops->connect(io, &con.op), AC_IO_PENDING);
	run_until(w, &con);
	CK_PASS(con.res);
	CK_PASS(io->ops->peer_addr(io, (int)con.res, &got));
	ck_assert(ac_addr_eq(&got, &lo));
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	ck_assert_int_eq(acc.calls, 1);
	CK_PASS(acc.res);
	/* Bad handles, non-sockets and descriptors. */
	ck_assert_int_eq(io->ops->recv(io, 999, &con.op), -EBADF);
	ck_assert_int_eq(io->ops->recv(io, l1, &con.op), -ENOTCONN);
	ck_assert_int_eq(io->ops->fd_attach(io, 0, &l2), -ENOTSUP);
	ac_sim_free(w);
}
END_TEST

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
	CK_PASS(ac_sim_partition(w, a, b, 0, -1));
	recv_pending(ia, ha, &r);
	send_str(ib, hb, "held");
	/* The waiter gives up when its timeout passes: nothing arrived. */
	CK_PASS(ac_sim_at(w, ac_sim_now_ns(w) + 2 * SEC, give_up_cb, &r));
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
	CK_PASS(ac_sim_partition(w, a, b, 1, 3 * SEC));
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
	CK_PASS(ia->ops->tcp_listen(ia, &addr, 4, 0, &lh));
	CK_PASS(ac_sim_isolate(w, a, -1));
	probe_init(&con);
	con.op.addr = addr;
	ck_assert_int_eq(ib->ops->connect(ib, &con.op), AC_IO_PENDING);
	run_until(w, &con);
	CK_FAIL(con.res, -ETIMEDOUT);
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
	CK_PASS(ac_sim_clog(w, a, b, 2 * SEC));
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
	CK_PASS(ac_sim_crash(a));
	ck_assert_int_eq(ac_sim_crash(a), -EALREADY);
	ck_assert_int_eq(ac_sim_node_is_up(a), 0);
	/* The crashed node's operations are forgotten, its handles gone. */
	ck_assert_int_eq(ia->ops->pending(ia), 0);
	ck_assert_int_eq(ia->ops->recv(ia, ha, &r2.op), -EBADF);
	run_until(w, &r);
	CK_FAIL(r.res, -ECONNRESET);
	ck_assert_int_eq(r2.calls, 0);
	probe_init(&r);
	CK_FAIL(ib->ops->send(ib, hb, &r.op), -ECONNRESET);
	CK_FAIL(ib->ops->recv(ib, hb, &r.op), -ECONNRESET);
	CK_PASS(ib->ops->close(ib, hb));
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
	CK_PASS(ac_sim_partition(w, a, b, 0, -1));
	recv_pending(ib, hb, &r);
	CK_PASS(ac_sim_crash(a));
	ck_assert_int_eq(ac_sim_run_for(w, 20 * SEC), AC_SIM_DONE);
	ck_assert_int_eq(r.calls, 0);
	ac_sim_heal(w);
	ck_assert_int_eq(ac_sim_run_for(w, 5 * SEC), AC_SIM_DONE);
	ck_assert_int_eq(r.calls, 1);
	CK_FAIL(r.res, -ECONNRESET);
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
	CK_PASS(ia->ops->tcp_listen(ia, &addr, 4, 0, &lh));
	ia->ops->entropy(ia, &before, sizeof(before));
	CK_PASS(ac_sim_crash(a));
	ck_assert_int_eq(ac_sim_restart(b), -EALREADY);
	/* While down, connections are refused (the host answers). */
	probe_init(&con);
	con.op.addr = addr;
	ck_assert_int_eq(ib->ops->connect(ib, &con.op), AC_IO_PENDING);
	run_until(w, &con);
	CK_FAIL(con.res, -ECONNREFUSED);
	CK_PASS(ac_sim_restart(a));
	ck_assert_int_eq(ac_sim_node_incarnation(a), 2);
	ia->ops->entropy(ia, &after, sizeof(after));
	ck_assert_uint_ne(before, after);
	/* The old listener is gone: its port is free again. */
	CK_PASS(ia->ops->tcp_listen(ia, &addr, 4, 0, &lh));
	ac_sim_free(w);
}
END_TEST

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
	CK_PASS(ac_sim_new(&o, &w));
	sim_pair(w, &a, &b, &ha, &hb);
	ia = ac_sim_node_io(a);
	ib = ac_sim_node_io(b);
	recv_pending(ia, ha, &r);
	probe_init(&s);
	s.op.len = 3;
	CK_FAIL(ib->ops->send(ib, hb, &s.op), -ECONNRESET);
	run_until(w, &r);
	CK_FAIL(r.res, -ECONNRESET);
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
	CK_PASS(ac_sim_new(&o, &w));
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
	CK_PASS(ac_sim_pause(a, 10 * SEC));
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

/* ---- UDP ---------------------------------------------------------------------------- */

/* Count datagrams on a UDP handle, re-posting the recvfrom. */
typedef struct udp_sink {
	ac_op op;
	ac_io *io;
	int h;
	int got;
	ac_addr from;
	char buf[64];
} udp_sink;

static void udp_sink_cb(ac_op *op)
{
	udp_sink *u = op->data;
	int rc;
	do {
		if (u->op.res < 0)
			return;
		u->got++;
		u->from = u->op.addr;
		rc = u->io->ops->recvfrom(u->io, u->h, &u->op);
	} while (rc == AC_IO_DONE);
}

static void udp_sink_start(udp_sink *u, ac_io *io, const char *bind, int flags)
{
	ac_addr a = parse(bind);
	memset(u, 0, sizeof(*u));
	u->io = io;
	CK_PASS(io->ops->udp_bind(io, &a, flags, &u->h));
	u->op.cb = udp_sink_cb;
	u->op.data = u;
	u->op.buf = u->buf;
	u->op.len = sizeof(u->buf);
	ck_assert_int_eq(io->ops->recvfrom(io, u->h, &u->op), AC_IO_PENDING);
}

/* Send count datagrams from a new socket of io to dst. */
static void udp_blast(ac_io *io, const char *dst, int count, int flags)
{
	ac_addr any = parse("0.0.0.0:0");
	ac_op op;
	int h, i;
	CK_PASS(io->ops->udp_bind(io, &any, flags, &h));
	for (i = 0; i < count; i++) {
		memset(&op, 0, sizeof(op));
		op.buf = "datagram";
		op.len = 8;
		op.addr = parse(dst);
		ck_assert_int_eq(io->ops->sendto(io, h, &op), AC_IO_DONE);
		ck_assert_int_eq(op.res, 8);
	}
}

static int udp_loss_run(double loss, double dup)
{
	ac_sim *w = world(41);
	ac_sim_node *a = node(w, "a"), *b = node(w, "b");
	udp_sink u;
	int got;
	CK_PASS(ac_sim_set_udp_faults(w, loss, dup, 0.0));
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

START_TEST(test_udp_partition_loses)
{
	ac_sim *w = world(42);
	ac_sim_node *a = node(w, "a"), *b = node(w, "b");
	udp_sink u;
	CK_PASS(ac_sim_partition(w, b, a, 1, -1));
	udp_sink_start(&u, ac_sim_node_io(a), "0.0.0.0:9000", 0);
	udp_blast(ac_sim_node_io(b), "10.0.0.1:9000", 10, 0);
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	ck_assert_int_eq(u.got, 0);
	/* Clogged: delayed, not lost. */
	ac_sim_heal(w);
	CK_PASS(ac_sim_clog(w, a, b, 1 * SEC));
	udp_blast(ac_sim_node_io(b), "10.0.0.1:9000", 10, 0);
	ck_assert_int_eq(ac_sim_run_for(w, SEC - MS), AC_SIM_DONE);
	ck_assert_int_eq(u.got, 0);
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	ck_assert_int_eq(u.got, 10);
	ac_sim_free(w);
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
	CK_PASS(ac_sim_set_udp_faults(w, 0.0, 0.0, 0.5));
	CK_PASS(ia->ops->udp_bind(ia, &bind, 0, &h));
	CK_PASS(ib->ops->udp_bind(ib, &any, 0, &hs));
	for (i = 0; i < 100; i++) {
		seq = (uint8_t)i;
		memset(&op, 0, sizeof(op));
		op.buf = &seq;
		op.len = 1;
		op.addr = parse("10.0.0.1:9000");
		ck_assert_int_eq(ib->ops->sendto(ib, hs, &op), AC_IO_DONE);
	}
	ck_assert_int_eq(ac_sim_run(w, NULL, NULL), AC_SIM_QUIET);
	for (i = 0; i < 100; i++) {
		memset(&op, 0, sizeof(op));
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
	CK_PASS(ac_sim_set_latency(w, NULL, NULL, 10 * MS, 10 * MS, 0));
	CK_PASS(ac_sim_set_latency(w, b, a, 30 * MS, 30 * MS, 0));
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
	CK_PASS(io->ops->udp_bind(io, &(ac_addr){ .family = AC_AF_INET }, 0, &h));
	memset(&op, 0, sizeof(op));
	op.buf = "x";
	op.len = 1;
	op.addr = parse("10.0.0.255:51350");
	CK_FAIL(io->ops->sendto(io, h, &op), -EACCES);
	ac_sim_free(w);
}
END_TEST

/* ---- determinism: a TCP echo and UDP broadcasts between 3 raw nodes ------------------ */

enum { WL_MSGS = 20, WL_MSG = 100, WL_TICKS = 50, WL_SRV = 8 };

typedef struct wl wl;

/* One end of a workload connection. */
typedef struct wl_conn {
	wl *c_wl;
	ac_io *c_io;
	/* Handle, -1 when closed. */
	int c_h;
	ac_op c_rop;
	ac_op c_sop;
	ac_op c_cop;
	uint8_t c_rbuf[WL_MSG];
	uint8_t c_sbuf[WL_MSG];
	/* Client: bytes of the current echo received, messages done. */
	size_t c_have;
	int c_msgs;
} wl_conn;

struct wl {
	ac_sim *w;
	ac_sim_node *n[3];
	int lh;
	ac_op aop;
	wl_conn srv[WL_SRV];
	int nsrv;
	wl_conn cli[2];
	udp_sink u[3];
	int ticks;
	int done;
	int errors;
};

static void wl_close(wl_conn *c)
{
	if (c->c_h >= 0)
		CK_PASS(c->c_io->ops->close(c->c_io, c->c_h));
	c->c_h = -1;
}

static void wl_srv_recv(wl_conn *c);

/* Echo res bytes; 1 when the next recv may follow at once. */
static int wl_srv_got(wl_conn *c, int64_t res)
{
	int rc;
	if (res <= 0) {
		wl_close(c);
		return 0;
	}
	c->c_sop.buf = c->c_rbuf;
	c->c_sop.len = (size_t)res;
	rc = c->c_io->ops->send(c->c_io, c->c_h, &c->c_sop);
	if (rc < 0)
		wl_close(c);
	return rc == AC_IO_DONE;
}

static void wl_srv_sent(ac_op *op)
{
	wl_conn *c = op->data;
	if (op->res < 0)
		wl_close(c);
	else
		wl_srv_recv(c);
}

static void wl_srv_rcvd(ac_op *op)
{
	wl_conn *c = op->data;
	if (wl_srv_got(c, op->res))
		wl_srv_recv(c);
}

static void wl_srv_recv(wl_conn *c)
{
	for (;;) {
		int rc;
		c->c_rop.buf = c->c_rbuf;
		c->c_rop.len = sizeof(c->c_rbuf);
		rc = c->c_io->ops->recv(c->c_io, c->c_h, &c->c_rop);
		if (rc == AC_IO_PENDING)
			return;
		if (!wl_srv_got(c, rc < 0 ? rc : c->c_rop.res))
			return;
	}
}

static void wl_accepted(ac_op *op)
{
	wl *x = op->data;
	ac_io *io = ac_sim_node_io(x->n[0]);
	do {
		wl_conn *c;
		if (op->res < 0 || x->nsrv == WL_SRV) {
			x->errors += op->res < 0;
			return;
		}
		c = &x->srv[x->nsrv++];
		c->c_wl = x;
		c->c_io = io;
		c->c_h = (int)op->res;
		c->c_rop.cb = wl_srv_rcvd;
		c->c_rop.data = c;
		c->c_sop.cb = wl_srv_sent;
		c->c_sop.data = c;
		wl_srv_recv(c);
	} while (io->ops->accept(io, x->lh, op) == AC_IO_DONE);
}

static void wl_cli_recv(wl_conn *c);

static void wl_cli_send(wl_conn *c)
{
	int rc;
	memset(c->c_sbuf, 'a' + c->c_msgs % 26, sizeof(c->c_sbuf));
	c->c_sop.buf = c->c_sbuf;
	c->c_sop.len = sizeof(c->c_sbuf);
	rc = c->c_io->ops->send(c->c_io, c->c_h, &c->c_sop);
	if (rc < 0)
		wl_close(c);
	else if (rc == AC_IO_DONE)
		wl_cli_recv(c);
}

static void wl_cli_sent(ac_op *op)
{
	wl_conn *c = op->data;
	if (op->res < 0)
		wl_close(c);
	else
		wl_cli_recv(c);
}

/* Take res echoed bytes; 1 when more are expected for this message. */
static int wl_cli_got(wl_conn *c, int64_t res)
{
	size_t i;
	if (res <= 0) {
		c->c_wl->errors++;
		wl_close(c);
		return 0;
	}
	for (i = 0; i < (size_t)res; i++)
		c->c_wl->errors += c->c_rbuf[c->c_have + i] != 'a' + c->c_msgs % 26;
	c->c_have += (size_t)res;
	if (c->c_have < WL_MSG)
		return 1;
	c->c_have = 0;
	if (++c->c_msgs == WL_MSGS) {
		c->c_wl->done++;
		wl_close(c);
	} else {
		wl_cli_send(c);
	}
	return 0;
}

static void wl_cli_rcvd(ac_op *op)
{
	wl_conn *c = op->data;
	if (wl_cli_got(c, op->res))
		wl_cli_recv(c);
}

static void wl_cli_recv(wl_conn *c)
{
	for (;;) {
		int rc;
		c->c_rop.buf = c->c_rbuf + c->c_have;
		c->c_rop.len = WL_MSG - c->c_have;
		rc = c->c_io->ops->recv(c->c_io, c->c_h, &c->c_rop);
		if (rc == AC_IO_PENDING)
			return;
		if (!wl_cli_got(c, rc < 0 ? rc : c->c_rop.res))
			return;
	}
}

static void wl_connected(ac_op *op)
{
	wl_conn *c = op->data;
	if (op->res < 0) {
		c->c_wl->errors++;
		return;
	}
	c->c_h = (int)op->res;
	wl_cli_send(c);
}

/* Every 10 ms, each node broadcasts a datagram. */
static void wl_tick(ac_sim *w, void *arg)
{
	wl *x = arg;
	ac_op op;
	int i;
	for (i = 0; i < 3; i++) {
		ac_io *io = ac_sim_node_io(x->n[i]);
		int rc;
		memset(&op, 0, sizeof(op));
		op.buf = "tick";
		op.len = 4;
		op.addr = parse("10.0.0.255:9000");
		rc = io->ops->sendto(io, x->u[i].h, &op);
		/* A crashed (raw) node has lost its socket for good. */
		if (ac_sim_node_incarnation(x->n[i]) == 1 && ac_sim_node_is_up(x->n[i]))
			ck_assert_int_eq(rc, AC_IO_DONE);
	}
	if (++x->ticks < WL_TICKS)
		CK_PASS(ac_sim_at(w, ac_sim_now_ns(w) + 10 * MS, wl_tick, x));
}

static int wl_finished(ac_sim *w, void *arg)
{
	wl *x = arg;
	(void)w;
	return x->done == 2 && x->ticks == WL_TICKS;
}

static void wl_setup(wl *x)
{
	ac_addr addr;
	ac_io *io;
	int i;
	for (i = 0; i < 3; i++) {
		x->n[i] = node(x->w, NULL);
		udp_sink_start(&x->u[i], ac_sim_node_io(x->n[i]), "0.0.0.0:9000",
		               AC_IO_BROADCAST);
	}
	io = ac_sim_node_io(x->n[0]);
	addr = node_addr(x->n[0], PORT);
	CK_PASS(io->ops->tcp_listen(io, &addr, 8, 0, &x->lh));
	x->aop.cb = wl_accepted;
	x->aop.data = x;
	ck_assert_int_eq(io->ops->accept(io, x->lh, &x->aop), AC_IO_PENDING);
	for (i = 0; i < 2; i++) {
		wl_conn *c = &x->cli[i];
		c->c_wl = x;
		c->c_io = ac_sim_node_io(x->n[i + 1]);
		c->c_h = -1;
		c->c_cop.cb = wl_connected;
		c->c_cop.data = c;
		c->c_cop.addr = addr;
		c->c_rop.cb = wl_cli_rcvd;
		c->c_rop.data = c;
		c->c_sop.cb = wl_cli_sent;
		c->c_sop.data = c;
		ck_assert_int_eq(c->c_io->ops->connect(c->c_io, &c->c_cop),
		                 AC_IO_PENDING);
	}
	CK_PASS(ac_sim_at(x->w, 10 * MS, wl_tick, x));
}

/* Run the workload on a faulty network; returns the trace hash. */
static uint64_t wl_run(uint64_t seed, int swarm, FILE *trace)
{
	ac_sim_opts o;
	wl *x = calloc(1, sizeof(*x));
	uint64_t h;
	int rc;
	ck_assert_ptr_nonnull(x);
	ac_sim_opts_init(&o);
	o.seed = seed;
	o.jitter_ns = 1 * MS;
	o.udp_loss = 0.1;
	o.udp_dup = 0.05;
	o.udp_reorder = 0.2;
	o.partial_prob = 0.3;
	o.clog_prob = 0.05;
	o.clog_mean_ns = 50 * MS;
	o.pause_prob = 0.01;
	o.pause_max_ns = 20 * MS;
	o.drift_ppm_max = 100;
	o.swarm = swarm;
	o.max_time_ns = swarm ? 60 * SEC : 600 * SEC;
	CK_PASS(ac_sim_new(&o, &x->w));
	ac_sim_trace_file(x->w, trace);
	wl_setup(x);
	rc = ac_sim_run(x->w, wl_finished, x);
	if (!swarm) {
		/* Loss, duplication, reordering, clogs, pauses and partial
		 * reads change nothing a TCP stream delivers. */
		ck_assert_int_eq(rc, AC_SIM_DONE);
		ck_assert_int_eq(x->errors, 0);
		ck_assert_int_gt(x->u[0].got + x->u[1].got + x->u[2].got, 0);
	} else {
		/* Swarm may crash nodes or reset connections. */
		ck_assert(rc == AC_SIM_DONE || rc == AC_SIM_TIME_LIMIT);
	}
	h = ac_sim_trace_hash(x->w);
	ac_sim_free(x->w);
	free(x);
	return h;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

START_TEST(test_determinism)
{
	enum { SEEDS = 200 };
	uint64_t h[SEEDS];
	int i, distinct = 1;
	for (i = 0; i < SEEDS; i++) {
		h[i] = wl_run((uint64_t)i, 0, NULL);
		ck_assert_msg(wl_run((uint64_t)i, 0, NULL) == h[i],
		              "seed %d: two runs differ", i);
	}
	qsort(h, SEEDS, sizeof(h[0]), u64_cmp);
	for (i = 1; i < SEEDS; i++)
		distinct += h[i] != h[i - 1];
	ck_assert_int_ge(distinct, SEEDS - 2);
}
END_TEST

START_TEST(test_swarm)
{
	ac_sim_opts o, a, b;
	ac_sim *w1, *w2;
	int i;
	/* Swarm draws the knobs from the seed: same seed, same knobs. */
	ac_sim_opts_init(&o);
	o.swarm = 1;
	o.seed = 99;
	CK_PASS(ac_sim_new(&o, &w1));
	CK_PASS(ac_sim_new(&o, &w2));
	ac_sim_get_opts(w1, &a);
	ac_sim_get_opts(w2, &b);
	ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
	o.seed = 100;
	ac_sim_free(w2);
	CK_PASS(ac_sim_new(&o, &w2));
	ac_sim_get_opts(w2, &b);
	ck_assert(a.latency_min_ns != b.latency_min_ns);
	{
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		ck_assert_ptr_nonnull(f);
		ac_sim_describe(w1, f);
		fclose(f);
		ck_assert_ptr_nonnull(strstr(text, "seed 99 swarm"));
		ck_assert_ptr_nonnull(strstr(text, "udp loss"));
		free(text);
	}
	ac_sim_free(w1);
	ac_sim_free(w2);
	for (i = 0; i < 40; i++)
		ck_assert_uint_eq(wl_run(1000 + (uint64_t)i, 1, NULL),
		                  wl_run(1000 + (uint64_t)i, 1, NULL));
}
END_TEST

START_TEST(test_trace_file)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	wl_run(5, 0, f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, " step n0"));
	ck_assert_ptr_nonnull(strstr(text, " udp-send n1"));
	ck_assert_ptr_nonnull(strstr(text, " estab n"));
	free(text);
}
END_TEST

/* ---- files --------------------------------------------------------------------------- */

START_TEST(test_files)
{
	ac_sim *w = world(51);
	ac_sim_node *a = node(w, "a");
	ac_io *io = ac_sim_node_io(a);
	const struct ac_io_ops *o = io->ops;
	char buf[64];
	ac_stat st;
	int h, h2;
	ck_assert_str_eq(o->temp_dir(io), "/tmp");
	CK_PASS(o->file_stat(io, "/tmp", 0, &st));
	ck_assert_uint_eq(st.type, AC_FT_DIR);
	CK_FAIL(o->file_open(io, "/tmp/x", AC_FO_READ, 0644, &h), -ENOENT);
	CK_PASS(o->file_open(io, "/tmp/x", AC_FO_WRITE | AC_FO_CREATE, 0640, &h));
	CK_FAIL(o->file_open(io, "/tmp/x", AC_FO_WRITE | AC_FO_CREATE | AC_FO_EXCL,
	                     0640, &h2), -EEXIST);
	ck_assert_int_eq(o->file_pwrite(io, h, "hello", 5, 0), 5);
	ck_assert_int_eq(o->file_pwrite(io, h, "!", 1, 9), 1);
	CK_FAIL(o->file_pread(io, h, buf, sizeof(buf), 0), -EBADF);
	CK_PASS(o->file_fstat(io, h, &st));
	ck_assert_int_eq(st.size, 10);
	ck_assert_uint_eq(st.mode, 0640);
	ck_assert_int_ge(st.mtime_ns, AC__SIM_EPOCH_NS);
	CK_PASS(o->file_sync(io, h));
	CK_PASS(o->file_close(io, h));
	CK_FAIL(o->file_close(io, h), -EBADF);
	CK_PASS(o->file_open(io, "tmp//./x", AC_FO_READ, 0, &h));
	ck_assert_int_eq(o->file_pread(io, h, buf, sizeof(buf), 0), 10);
	ck_assert(memcmp(buf, "hello\0\0\0\0!", 10) == 0);
	ck_assert_int_eq(o->file_pread(io, h, buf, sizeof(buf), 10), 0);
	CK_FAIL(o->file_pwrite(io, h, "x", 1, 0), -EBADF);
	/* Unlinked while open: still readable through the handle. */
	CK_PASS(o->file_unlink(io, "/tmp/x"));
	CK_FAIL(o->file_stat(io, "/tmp/x", 0, &st), -ENOENT);
	ck_assert_int_eq(o->file_pread(io, h, buf, 5, 0), 5);
	CK_PASS(o->file_close(io, h));
	CK_FAIL(o->file_unlink(io, "/tmp"), -EISDIR);
	CK_FAIL(o->file_open(io, "/nope/x", AC_FO_WRITE | AC_FO_CREATE, 0, &h),
	        -ENOENT);
	CK_FAIL(o->file_open(io, "/tmp", AC_FO_WRITE, 0, &h), -EISDIR);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_files_rename_mkdir)
{
	ac_sim *w = world(52);
	ac_sim_node *a = node(w, "a");
	ac_io *io = ac_sim_node_io(a);
	const struct ac_io_ops *o = io->ops;
	char buf[8];
	ac_stat st;
	int h;
	CK_PASS(o->file_mkdir(io, "/d", 0755));
	CK_FAIL(o->file_mkdir(io, "/d", 0755), -EEXIST);
	CK_PASS(o->file_mkdir(io, "/d/e", 0700));
	CK_PASS(o->file_open(io, "/d/f.tmp", AC_FO_WRITE | AC_FO_CREATE, 0600, &h));
	ck_assert_int_eq(o->file_pwrite(io, h, "new", 3, 0), 3);
	CK_PASS(o->file_close(io, h));
	CK_PASS(o->file_open(io, "/d/f", AC_FO_WRITE | AC_FO_CREATE, 0600, &h));
	ck_assert_int_eq(o->file_pwrite(io, h, "old", 3, 0), 3);
	CK_PASS(o->file_close(io, h));
	/* temp file + rename replaces the old file atomically. */
	CK_PASS(o->file_rename(io, "/d/f.tmp", "/d/f"));
	CK_FAIL(o->file_stat(io, "/d/f.tmp", 0, &st), -ENOENT);
	CK_PASS(o->file_open(io, "/d/f", AC_FO_READ, 0, &h));
	ck_assert_int_eq(o->file_pread(io, h, buf, sizeof(buf), 0), 3);
	ck_assert(memcmp(buf, "new", 3) == 0);
	CK_PASS(o->file_close(io, h));
	CK_FAIL(o->file_rename(io, "/d", "/d/e/x"), -EINVAL);
	CK_FAIL(o->file_rename(io, "/d/f", "/d/e"), -EISDIR);
	CK_FAIL(o->file_rename(io, "/tmp", "/d"), -ENOTEMPTY);
	CK_FAIL(o->file_rename(io, "/d/e", "/d/f"), -ENOTDIR);
	CK_FAIL(o->file_rename(io, "/missing", "/d/g"), -ENOENT);
	CK_PASS(o->file_rename(io, "/d/e", "/e2"));
	CK_PASS(o->file_set_meta(io, "/e2", 0711, 12345));
	CK_PASS(o->file_stat(io, "/e2", 1, &st));
	ck_assert_uint_eq(st.mode, 0711);
	ck_assert_int_eq(st.mtime_ns, 12345);
	CK_FAIL(o->file_stat(io, "/d/f/x", 0, &st), -ENOTDIR);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_files_survive_crash)
{
	ac_sim_opts opts;
	ac_sim *w;
	ac_sim_node *a;
	ac_io *io;
	char buf[4];
	int h;
	ac_sim_opts_init(&opts);
	opts.disk_bytes_max = 100;
	CK_PASS(ac_sim_new(&opts, &w));
	a = node(w, "a");
	io = ac_sim_node_io(a);
	CK_PASS(io->ops->file_open(io, "/f", AC_FO_WRITE | AC_FO_CREATE, 0600, &h));
	ck_assert_int_eq(io->ops->file_pwrite(io, h, "keep", 4, 0), 4);
	CK_FAIL(io->ops->file_pwrite(io, h, buf, 1, 100), -ENOSPC);
	CK_PASS(ac_sim_crash(a));
	CK_PASS(ac_sim_restart(a));
	/* The open handle vanished; the file did not. */
	CK_FAIL(io->ops->file_pread(io, h, buf, 4, 0), -EBADF);
	CK_PASS(io->ops->file_open(io, "/f", AC_FO_READ, 0, &h));
	ck_assert_int_eq(io->ops->file_pread(io, h, buf, 4, 0), 4);
	ck_assert(memcmp(buf, "keep", 4) == 0);
	ac_sim_free(w);
}
END_TEST

/* ---- names ---------------------------------------------------------------------------- */

START_TEST(test_resolve)
{
	ac_sim *w = world(61);
	ac_sim_node *a = node(w, "alpha"), *b = node(w, "beta");
	ac_io *io = ac_sim_node_io(a);
	ac_addr out[4];
	char buf[AC_ADDR_STRLEN];
	(void)b;
	ck_assert_int_eq(io->ops->resolve(io, "beta", AC_AF_NONE, 80, out, 4), 1);
	ck_assert_str_eq(ac_addr_format(&out[0], buf, sizeof(buf)),
	                 "10.0.0.2:80");
	ck_assert_int_eq(io->ops->resolve(io, "10.0.0.7", AC_AF_INET, 9, out, 4),
	                 1);
	ck_assert_str_eq(ac_addr_format(&out[0], buf, sizeof(buf)), "10.0.0.7:9");
	ck_assert_int_eq(io->ops->resolve(io, "localhost", AC_AF_NONE, 1, out, 4),
	                 1);
	ck_assert(ac_addr_is_loopback(&out[0]));
	CK_FAIL(io->ops->resolve(io, "gamma", AC_AF_NONE, 80, out, 4), -ENOENT);
	CK_FAIL(io->ops->resolve(io, "beta", AC_AF_INET6, 80, out, 4), -ENOENT);
	ck_assert_int_eq(io->ops->host_addrs(io, out, 4), 2);
	ck_assert_str_eq(ac_addr_format_ip(&out[0], buf, sizeof(buf)),
	                 "10.0.0.1");
	ck_assert(ac_addr_is_loopback(&out[1]));
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
	CK_PASS(ac_sim_new(&o, &w));
	a = node(w, "a");
	io = ac_sim_node_io(a);
	/* Off: never fires. */
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(ac_buggify(io, "site"), 0);
	ck_assert_int_eq(ac_buggify(NULL, "site"), 0);
	ac_sim_free(w);
	o.buggify = 1;
	CK_PASS(ac_sim_new(&o, &w));
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

/* ---- a failed assertion names the seed ------------------------------------------- */

/* Run fn in a child process whose standard error goes to out (len bytes,
 * NUL-terminated); returns the child's wait status. */
static int death_run(void (*fn)(void), char *out, size_t len)
{
	int fds[2], status = 0;
	size_t got = 0;
	ssize_t k;
	pid_t pid;
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 2);
		fn();
		_exit(0);
	}
	close(fds[1]);
	while (got + 1 < len && (k = read(fds[0], out + got, len - 1 - got)) > 0)
		got += (size_t)k;
	out[got] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

/* A node program that breaks a rule of the API: it runs its own world from
 * inside a step, which the world asserts against. */
static void nested_run_main(ac_sim_node *n, void *arg)
{
	(void)arg;
	ac_sim_run(ac_sim_node_world(n), NULL, NULL);
}

/* Child: seed 4242's node "culprit" breaks the rule. */
static void assert_in_world(void)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_node *n;
	ac_sim_opts_init(&o);
	o.seed = 4242;
	if (ac_sim_new(&o, &w) < 0 || ac_sim_node_add(w, "culprit", &n) < 0 ||
	    ac_sim_node_set_main(n, nested_run_main, NULL) < 0)
		_exit(3);
	ac_sim_run(w, NULL, NULL);
}

/* A coroutine that frees its own scheduler (an engine assertion). */
static void free_own_sched(void *arg)
{
	(void)arg;
	ac_sched_free(ac_sched_self());
}

/* Child: a world of seed 4242 runs and ends, then an engine assertion fails
 * outside any world. */
static void assert_after_world(void)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sched *s;
	ac_sim_opts_init(&o);
	o.seed = 4242;
	if (ac_sim_new(&o, &w) < 0)
		_exit(3);
	ac_sim_run(w, NULL, NULL);
	ac_sim_free(w);
	if (ac_sched_new(NULL, &s) < 0 || ac_spawn(s, free_own_sched, NULL, NULL,
	                                           NULL) < 0)
		_exit(3);
	ac_sched_run(s);
}

START_TEST(test_assert_names_seed)
{
	char out[2048];
	int st = death_run(assert_in_world, out, sizeof(out));
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
	              "status %#x, output: %s", (unsigned)st, out);
	ck_assert_msg(strstr(out, "asyncoro: assertion failed: w->w_cur == NULL (")
	              != NULL && strstr(out, "sim/sim_world.c:") != NULL,
	              "output: %s", out);
	ck_assert_msg(strstr(out, "[sim seed 4242, t 0.000000000 s, node culprit]")
	              != NULL, "output: %s", out);
	/* Once the world is gone, a failure does not name it. */
	st = death_run(assert_after_world, out, sizeof(out));
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
	              "status %#x, output: %s", (unsigned)st, out);
	ck_assert_msg(strstr(out, "asyncoro: assertion failed: ") != NULL &&
	              strstr(out, "engine/sched.c:") != NULL, "output: %s", out);
	ck_assert_msg(strstr(out, "seed") == NULL && strchr(out, '[') == NULL,
	              "output: %s", out);
}
END_TEST

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
	CK_PASS(ac_coro_defer(sock_close_hook, k));
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
	CK_PASS(ac_sock_listen(NULL, &any, 16, 0, &l));
	CK_PASS(ac_coro_defer(sock_close_hook, l));
	while (ac_sock_accept(l, AC_FOREVER, &k) == 0)
		CK_PASS(ac_spawn(NULL, echo_conn, k, &so, NULL));
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
	CK_PASS(ac_spawn(s, echo_server, st, &so, NULL));
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
	CK_PASS(ac_coro_defer(sock_slot_hook, k));
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
		CK_PASS(ac_spawn(ac_sim_node_sched(n), echo_client, st, NULL, NULL));
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
	CK_PASS(ac_sim_new(&o, &w));
	*srv = node(w, "srv");
	*cli = node(w, "cli");
	st->srv = node_addr(*srv, PORT);
	CK_PASS(ac_sim_node_set_main(*srv, echo_srv_main, st));
	CK_PASS(ac_sim_node_set_main(*cli, echo_cli_main, st));
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
	CK_PASS(ac_sim_crash(arg));
}

static void restart_cb(ac_sim *w, void *arg)
{
	(void)w;
	CK_PASS(ac_sim_restart(arg));
}

START_TEST(test_engine_crash_restart)
{
	echo_st st = { .msgs = 40, .clients = 1, .retry = 1 };
	ac_sim_node *srv, *cli;
	ac_sim *w = echo_world(3, &st, &srv, &cli);
	/* The client paces itself: one exchange per 1 ms of latency and
	 * more; crash the server in the middle, restart it 2 s later. */
	CK_PASS(ac_sim_at(w, 4 * MS, crash_cb, srv));
	CK_PASS(ac_sim_at(w, 2 * SEC, restart_cb, srv));
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
	CK_PASS(ac_sim_at(w, 20 * MS, crash_cb, srv));
	ck_assert_int_eq(ac_sim_run(w, ac_sim_all_finished, NULL), AC_SIM_DONE);
	/* The client's exchange in flight saw the peer's reset. */
	ck_assert_int_eq(st.errors, 1);
	CK_FAIL(st.last_err, -ECONNRESET);
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
	CK_PASS(ac_sock_connect(&ps->e.srv, 5000, &k));
	ck_assert_int_eq(echo_once(k, 0, 5000), 1);
	CK_PASS(ac_sim_partition(ac_sim_node_world(n), n,
	                         ac_sim_node_at(ac_sim_node_world(n), 0), 0, -1));
	ck_assert_int_eq(ac_sock_send_all(k, "held", 4, 1000), 4);
	t0 = ac_sched_now_ns(s);
	ps->rc = ac_sock_recv(k, buf, sizeof(buf), 1500);
	ps->waited_ms = (ac_sched_now_ns(s) - t0) / MS;
	ac_sock_close(k);
}

static void part_cli_main(ac_sim_node *n, void *arg)
{
	CK_PASS(ac_spawn(ac_sim_node_sched(n), part_client, arg, NULL, NULL));
}

START_TEST(test_engine_partition_timeout)
{
	part_st ps = { .e = { .msgs = 1, .clients = 1 } };
	ac_sim_node *srv, *cli;
	ac_sim *w = echo_world(5, &ps.e, &srv, &cli);
	CK_PASS(ac_sim_node_set_main(cli, part_cli_main, &ps));
	ck_assert_int_eq(ac_sim_run(w, ac_sim_all_finished, NULL), AC_SIM_DONE);
	/* The engine's own timeout ended the wait. */
	CK_FAIL(ps.rc, -ETIMEDOUT);
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
	CK_PASS(ac_spawn(NULL, ticker, arg, &so, &r));
	ck_assert_uint_eq(r.inc, ac_sched_incarnation(ac_sim_node_sched(n)));
}

START_TEST(test_engine_pause)
{
	ac_sim *w = world(6);
	ac_sim_node *a = node(w, "a"), *b = node(w, "b");
	int ticks = 0, before, other = 0;
	/* b starts too, so that a's main does not run right after a start
	 * of its own scheduler only by luck. */
	CK_PASS(ac_sim_node_set_main(b, ticker_main, &other));
	CK_PASS(ac_sim_node_set_main(a, ticker_main, &ticks));
	ck_assert_int_eq(ac_sim_run_for(w, 500 * MS), AC_SIM_DONE);
	ck_assert(ticks >= 49 && ticks <= 50);
	before = ticks;
	CK_PASS(ac_sim_pause(a, 1 * SEC));
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
	CK_PASS(ac_sim_crash(n));
	ck_assert_int_eq(ac_sim_node_is_up(n), 1);
	ac_sleep(10);
	*stage = 2;
}

static void suicide_main(ac_sim_node *n, void *arg)
{
	CK_PASS(ac_spawn(ac_sim_node_sched(n), suicide, arg, NULL, NULL));
}

START_TEST(test_engine_self_crash)
{
	ac_sim *w = world(8);
	ac_sim_node *a = node(w, "a");
	int stage = 0;
	CK_PASS(ac_sim_node_set_main(a, suicide_main, &stage));
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
	CK_PASS(ac_sim_new(&o, &w));
	srv = node(w, "srv");
	cli = node(w, "cli");
	st.srv = node_addr(srv, PORT);
	CK_PASS(ac_sim_node_set_main(srv, echo_srv_main, &st));
	CK_PASS(ac_sim_node_set_main(cli, echo_cli_main, &st));
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

static Suite *sim_suite(void)
{
	Suite *s = suite_create("sim");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_rng_vectors);
	tcase_add_test(tc, test_rng_distributions);
	tcase_add_test(tc, test_world_basics);
	tcase_add_test(tc, test_world_at);
	tcase_add_test(tc, test_clock_drift);
	tcase_add_test(tc, test_tcp_stream);
	tcase_add_test(tc, test_tcp_backlog_then_accept);
	tcase_add_test(tc, test_tcp_refused);
	tcase_add_test(tc, test_tcp_loopback_and_ports);
	tcase_add_test(tc, test_partition_stalls_tcp);
	tcase_add_test(tc, test_partition_oneway);
	tcase_add_test(tc, test_partition_connect_times_out);
	tcase_add_test(tc, test_clog_delays_tcp);
	tcase_add_test(tc, test_crash_resets_peer);
	tcase_add_test(tc, test_crash_while_partitioned_is_silent);
	tcase_add_test(tc, test_restart_new_incarnation);
	tcase_add_test(tc, test_random_close);
	tcase_add_test(tc, test_partial_io);
	tcase_add_test(tc, test_cancel_completed);
	tcase_add_test(tc, test_udp_loss);
	tcase_add_test(tc, test_udp_dup);
	tcase_add_test(tc, test_udp_partition_loses);
	tcase_add_test(tc, test_udp_reorder);
	tcase_add_test(tc, test_latency);
	tcase_add_test(tc, test_udp_broadcast);
	tcase_add_test(tc, test_files);
	tcase_add_test(tc, test_files_rename_mkdir);
	tcase_add_test(tc, test_files_survive_crash);
	tcase_add_test(tc, test_resolve);
	tcase_add_test(tc, test_buggify);
	tcase_add_test(tc, test_assert_names_seed);
	tcase_add_test(tc, test_determinism);
	tcase_add_test(tc, test_swarm);
	tcase_add_test(tc, test_trace_file);
	suite_add_tcase(s, tc);
	tc = tcase_create("engine");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_engine_echo);
	tcase_add_test(tc, test_engine_crash_restart);
	tcase_add_test(tc, test_engine_reset_seen);
	tcase_add_test(tc, test_engine_partition_timeout);
	tcase_add_test(tc, test_engine_pause);
	tcase_add_test(tc, test_engine_self_crash);
	tcase_add_test(tc, test_engine_swarm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sim_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
