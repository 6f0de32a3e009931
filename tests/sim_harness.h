/* tests/sim_harness.h: what the simulator suites (tests/check_sim_*.c) share
 * — worlds with a clean network, nodes and their addresses, completion
 * probes for raw io operations and running a world until one completes,
 * a TCP connection between two raw nodes, UDP sinks that count datagrams
 * and senders that blast them, and the suites' main. Everything is static
 * inline: each suite is one program that includes this header.
 */
#ifndef AC_TESTS_SIM_HARNESS_H
#define AC_TESTS_SIM_HARNESS_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/asyncoro.h>
#include <asyncoro/sim.h>

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

/* The callback of a probe's op. */
static inline void probe_cb(ac_op *op)
{
	probe *p = op->data;
	p->calls++;
	p->res = op->res;
}

/* An op whose callback is probe_cb, reading into the probe's buffer. */
static inline void probe_init(probe *p)
{
	memset(p, 0, sizeof(*p));
	p->op.cb = probe_cb;
	p->op.data = p;
	p->op.buf = p->buf;
	p->op.len = sizeof(p->buf);
}

/* A world with a clean network and the given seed. */
static inline ac_sim *world(uint64_t seed)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_opts_init(&o);
	o.seed = seed;
	CK_OK(ac_sim_new(&o, &w));
	return w;
}

/* Add a raw node named name (NULL: "nodeN") to w. */
static inline ac_sim_node *node(ac_sim *w, const char *name)
{
	ac_sim_node *n;
	CK_OK(ac_sim_node_add(w, name, &n));
	return n;
}

/* Node n's address (10.0.0.N) with the given port. */
static inline ac_addr node_addr(ac_sim_node *n, uint16_t port)
{
	ac_addr a;
	ac_sim_node_addr(n, &a);
	a.port = port;
	return a;
}

/* A numeric address "ip[:port]"; the test fails when it does not parse. */
static inline ac_addr parse(const char *text)
{
	ac_addr a;
	CK_OK(ac_addr_parse(&a, text, 0));
	return a;
}

/* The callback of ops expected to complete at once (AC_IO_DONE): it must
 * never run (a backend refuses an op without a callback). */
static inline void never_cb(ac_op *op)
{
	(void)op;
	ck_abort_msg("an op that completed at once was called back");
}

/* Predicate: the probe has seen at least one callback. */
static inline int probe_called(ac_sim *w, void *arg)
{
	(void)w;
	return ((probe *)arg)->calls > 0;
}

/* Run until p's callback ran; fails the test when it never does. */
static inline void run_until(ac_sim *w, probe *p)
{
	ck_assert_int_eq(ac_sim_run(w, probe_called, p), AC_SIM_DONE);
	ck_assert_int_eq(p->calls, 1);
}

/* Submit a recv into p on handle h: pending expected. */
static inline void recv_pending(ac_io *io, int h, probe *p)
{
	probe_init(p);
	ck_assert_int_eq(io->ops->recv(io, h, &p->op), AC_IO_PENDING);
}

/* Receive into p on handle h, running the world until it completes;
 * returns the result. */
static inline int64_t recv_some(ac_sim *w, ac_io *io, int h, probe *p)
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
static inline void send_str(ac_io *io, int h, const char *s)
{
	ac_op op;
	memset(&op, 0, sizeof(op));
	op.cb = never_cb;
	op.buf = (void *)s;
	op.len = strlen(s);
	ck_assert_int_eq(io->ops->send(io, h, &op), AC_IO_DONE);
	ck_assert_int_eq(op.res, (int64_t)strlen(s));
}

/* Two raw nodes a and b with a TCP connection: *ha on a, *hb on b. */
static inline void sim_pair(ac_sim *w, ac_sim_node **a, ac_sim_node **b, int *ha,
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
	CK_OK(ia->ops->tcp_listen(ia, &addr, 8, 0, &lh));
	probe_init(&acc);
	probe_init(&con);
	ck_assert_int_eq(ia->ops->accept(ia, lh, &acc.op), AC_IO_PENDING);
	con.op.addr = addr;
	ck_assert_int_eq(ib->ops->connect(ib, &con.op), AC_IO_PENDING);
	run_until(w, &con);
	if (!acc.calls)
		run_until(w, &acc);
	CK_OK(con.res);
	CK_OK(acc.res);
	CK_OK(ia->ops->close(ia, lh));
	*ha = (int)acc.res;
	*hb = (int)con.res;
}

/* ---- UDP ----------------------------------------------------------------------------- */

/* Count datagrams on a UDP handle, re-posting the recvfrom. */
typedef struct udp_sink {
	ac_op op;
	ac_io *io;
	int h;
	int got;
	ac_addr from;
	char buf[64];
} udp_sink;

/* The callback of a sink's recvfrom: count, and receive again. */
static inline void udp_sink_cb(ac_op *op)
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

/* Bind a UDP socket of io to bind (with flags) and count what it receives. */
static inline void udp_sink_start(udp_sink *u, ac_io *io, const char *bind,
                                  int flags)
{
	ac_addr a = parse(bind);
	memset(u, 0, sizeof(*u));
	u->io = io;
	CK_OK(io->ops->udp_bind(io, &a, flags, &u->h));
	u->op.cb = udp_sink_cb;
	u->op.data = u;
	u->op.buf = u->buf;
	u->op.len = sizeof(u->buf);
	ck_assert_int_eq(io->ops->recvfrom(io, u->h, &u->op), AC_IO_PENDING);
}

/* Send count datagrams from a new socket of io to dst. */
static inline void udp_blast(ac_io *io, const char *dst, int count, int flags)
{
	ac_addr any = parse("0.0.0.0:0");
	ac_op op;
	int h, i;
	CK_OK(io->ops->udp_bind(io, &any, flags, &h));
	for (i = 0; i < count; i++) {
		memset(&op, 0, sizeof(op));
		op.cb = never_cb;
		op.buf = "datagram";
		op.len = 8;
		op.addr = parse(dst);
		ck_assert_int_eq(io->ops->sendto(io, h, &op), AC_IO_DONE);
		ck_assert_int_eq(op.res, 8);
	}
}

/* ---- main -------------------------------------------------------------------------- */

/* Run suite s (each test in its own process); the exit status of main. */
static inline int sim_suite_main(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* AC_TESTS_SIM_HARNESS_H */
