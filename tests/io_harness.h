/* tests/io_harness.h: driving an io.h backend directly (no scheduler, no
 * coroutines), the same way on the epoll backend over 127.0.0.1 and on the
 * simulator (a raw node, 10.0.0.1, in a world with a clean network): op
 * probes that count their callbacks and record their order, poll with a
 * deadline, waiting for a callback or for bytes to arrive, and a TCP
 * connection of the backend to itself. Used by tests/check_io.c (epoll
 * only) and tests/check_conform.c (both backends). Everything is static
 * inline: each suite is one program that includes this header.
 *
 * In the simulator, time moves only while the world runs: io_poll runs the
 * world until a callback ran (or the deadline passed, or nothing can happen
 * any more), so it returns after one poll of the node, as epoll's poll
 * returns after one round of callbacks.
 */
#ifndef AC_TESTS_IO_HARNESS_H
#define AC_TESTS_IO_HARNESS_H

#include <poll.h>

#include <asyncoro/io.h>
#include <asyncoro/sim.h>

#include "tests/testutil.h"

#define MS (INT64_C(1000000))

/* The backend an io body drives. */
typedef struct io_env {
	/* The backend under test. */
	ac_io *io;
	/* A second instance of the same backend (another node in the sim). */
	ac_io *other;
	/* 127.0.0.1 on epoll, the node's own 10.0.0.1 in the sim; port 0. */
	ac_addr host;
	/* 1 in the simulator. */
	int sim;
	ac_sim *w;
	ac_sim_node *n;
	/* Probe callbacks run so far (a probe's order is this count). */
	int seq;
} io_env;

/* The environment of the current test (each test runs in its own process,
 * or one after the other with CK_FORK=no: io_open resets it). */
static io_env IO;

/* What a test op's callback records. */
typedef struct probe {
	/* Times the callback ran. */
	int calls;
	/* IO.seq value at the last call (1 = first callback of the test). */
	int order;
} probe;

/* The callback of test ops: count the call and record its order. */
static inline void probe_cb(ac_op *op)
{
	probe *p = op->data;
	p->calls++;
	p->order = ++IO.seq;
}

/* A fresh op with callback probe_cb recording into p, on buf/len. */
static inline void op_init(ac_op *op, probe *p, void *buf, size_t len)
{
	memset(op, 0, sizeof(*op));
	memset(p, 0, sizeof(*p));
	op->cb = probe_cb;
	op->data = p;
	op->buf = buf;
	op->len = len;
}

/* Set up IO on the epoll backend (sim = 0) or in a simulated world. */
static inline void io_open(int sim)
{
	memset(&IO, 0, sizeof(IO));
	IO.sim = sim;
	if (!sim) {
		CK_RC(ac_io_epoll_new(&IO.io), 0);
		CK_RC(ac_io_epoll_new(&IO.other), 0);
		ck_assert_str_eq(IO.io->ops->name, "epoll");
		CK_RC(ac_addr_parse(&IO.host, "127.0.0.1", 0), 0);
	} else {
		ac_sim_opts o;
		ac_sim_node *other;
		ac_sim_opts_init(&o);
		o.seed = 42;
		o.max_time_ns = 600LL * 1000000000;
		CK_RC(ac_sim_new(&o, &IO.w), 0);
		CK_RC(ac_sim_node_add(IO.w, "host", &IO.n), 0);
		CK_RC(ac_sim_node_add(IO.w, "other", &other), 0);
		IO.io = ac_sim_node_io(IO.n);
		IO.other = ac_sim_node_io(other);
		ck_assert_str_eq(IO.io->ops->name, "sim");
		ac_sim_node_addr(IO.n, &IO.host);
	}
	ck_assert_int_eq(IO.io->ops->version, AC_IO_VERSION);
}

/* Tear IO down; nothing may be left pending. */
static inline void io_close(void)
{
	ck_assert_int_eq(IO.io->ops->pending(IO.io), 0);
	if (!IO.sim) {
		ac_io_epoll_free(IO.io);
		ac_io_epoll_free(IO.other);
	} else {
		ac_sim_free(IO.w);
	}
	memset(&IO, 0, sizeof(IO));
}

/* The backend's monotonic clock, ns. */
static inline int64_t io_now(void)
{
	return IO.io->ops->now_ns(IO.io);
}

/* Predicate of io_poll in the simulator: a callback ran or the deadline
 * (arg, < 0: none) passed. */
static inline int io_polled(ac_sim *w, void *arg)
{
	const int64_t *cut = arg;
	(void)w;
	return IO.seq != (int)cut[0] || (cut[1] >= 0 && io_now() >= cut[1]);
}

/* io->ops->poll(io, deadline_ns): the number of callbacks it ran. In the
 * simulator the world runs until the node's next poll ran a callback or
 * the deadline passed (when nothing can happen any more, time moves to the
 * deadline at once; without a deadline it returns 0). */
static inline int io_poll(int64_t deadline_ns)
{
	int64_t cut[2];
	int rc;
	if (!IO.sim || (deadline_ns >= 0 && deadline_ns <= io_now()))
		return IO.io->ops->poll(IO.io, deadline_ns);
	cut[0] = IO.seq;
	cut[1] = deadline_ns;
	rc = ac_sim_run(IO.w, io_polled, cut);
	ck_assert_msg(rc == AC_SIM_DONE || rc == AC_SIM_QUIET, "ac_sim_run: %d", rc);
	if (rc == AC_SIM_QUIET && deadline_ns > io_now())
		ac_sim_run_for(IO.w, deadline_ns - io_now());
	return IO.seq - (int)cut[0];
}

/* Poll until *calls reaches target (at most 20 s). */
static inline void poll_until(const int *calls, int target)
{
	int64_t end = io_now() + 20000 * MS;
	while (*calls < target) {
		ck_assert_msg(io_now() < end, "timed out waiting for a callback");
		CK_OK(io_poll(io_now() + 100 * MS));
	}
}

/* rc is a submit's result for op: wait for the callback when pending and
 * return op->res; an error is returned as is. */
static inline int64_t op_wait(int rc, ac_op *op)
{
	probe *p = op->data;
	if (rc < 0)
		return rc;
	if (rc == AC_IO_DONE) {
		ck_assert_int_eq(p->calls, 0);
		return op->res;
	}
	ck_assert_int_eq(rc, AC_IO_PENDING);
	poll_until(&p->calls, 1);
	ck_assert_int_eq(p->calls, 1);
	return op->res;
}

/* Wait, without running any callback, until what was sent to handle h has
 * arrived: on epoll, h readable (it is a descriptor); in the simulator,
 * 50 ms of virtual time with the node paused (its network still
 * receives). */
static inline void wait_arrival(int h)
{
	if (!IO.sim) {
		struct pollfd p = {.fd = h, .events = POLLIN};
		ck_assert_int_eq(poll(&p, 1, 10000), 1);
	} else {
		CK_OK(ac_sim_pause(IO.n, 50 * MS));
		ck_assert_int_eq(ac_sim_run_for(IO.w, 50 * MS - 1), AC_SIM_DONE);
	}
}

/* A listener on the host (*lh) and a connection to it: *ch the connecting
 * side, *sh the accepted side. */
static inline void tcp_pair(int *lh, int *ch, int *sh)
{
	ac_addr a = IO.host;
	ac_op acc, con;
	probe pa, pc;
	int rca, rcc;
	ac_io *io = IO.io;
	CK_OK(io->ops->tcp_listen(io, &a, 16, AC_IO_REUSEADDR, lh));
	CK_OK(io->ops->local_addr(io, *lh, &a));
	ck_assert_int_ne(a.port, 0);
	op_init(&acc, &pa, NULL, 0);
	op_init(&con, &pc, NULL, 0);
	con.addr = a;
	rca = io->ops->accept(io, *lh, &acc);
	rcc = io->ops->connect(io, &con);
	*ch = (int)op_wait(rcc, &con);
	*sh = (int)op_wait(rca, &acc);
	ck_assert_int_ge(*ch, 0);
	ck_assert_int_ge(*sh, 0);
	ck_assert_int_eq(con.h, *ch);
	/* The accepted side's peer is the connecting side. */
	CK_OK(io->ops->local_addr(io, *ch, &a));
	ck_assert(ac_addr_eq(&acc.addr, &a));
}

#endif /* AC_TESTS_IO_HARNESS_H */
