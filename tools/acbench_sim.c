/* tools/acbench_sim.c: how fast the simulator runs, for acbench's `sim`
 * figure (simbench_run).
 *
 * Two workloads, each bounded in virtual time and in steps:
 *  - completions: 64 TCP connections between two raw nodes (callbacks only,
 *    no scheduler) ping-pong 64-byte messages; the figure is I/O completions
 *    (callbacks run plus submits that completed at once) per wall second;
 *  - timers: 8 nodes with schedulers, 100 coroutines each, sleeping a
 *    random 10..1000 virtual ms in a loop (heartbeat-like timers, about 1600
 *    wake-ups per virtual second in all) for 60 virtual seconds; the figure
 *    is virtual seconds per wall second. NOTE: with 1..100 ms sleeps (ten
 *    times denser) the ratio is about ten times lower: a wake-up costs about
 *    0.5 us, most of it in the engine's timer heap.
 * It uses the public API only (asyncoro/sim.h and the raw io operations of a
 * node) and reads the real clock (CLOCK_MONOTONIC) to time the runs; it was
 * sim/sim_bench.c (ac_sim_bench) inside the library until measuring moved
 * out to the tool that reports it.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <asyncoro/asyncoro.h>
#include <asyncoro/sim.h>

#include "tools/acbench.h"

enum {
	BENCH_CONNS = 64,
	BENCH_MSG = 64,
	BENCH_PORT = 7000,
	BENCH_NODES = 8,
	BENCH_COROS = 100
};

/* One end of a ping-pong connection. */
typedef struct bench_conn {
	/* The node's io and the connection's handle. */
	ac_io *io;
	int h;
	/* Receive and send operations and the message buffer. */
	ac_op rop;
	ac_op sop;
	uint8_t buf[BENCH_MSG];
} bench_conn;

/* State of the completion benchmark. */
typedef struct bench_pp {
	/* Server and client ends. */
	bench_conn srv[BENCH_CONNS];
	bench_conn cli[BENCH_CONNS];
	/* Operations of the listener and of the connects. */
	ac_op aop;
	ac_op cop[BENCH_CONNS];
	/* Listener handle, accepted count. */
	int lh;
	int accepted;
	/* Errors seen (must stay 0). */
	int errors;
} bench_pp;

static double bench_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench_recv_cb(ac_op *op);

/* Sends complete at once on a clean network; a late one needs nothing. */
static void bench_send_cb(ac_op *op)
{
	(void)op;
}

/* Echo what arrived and receive again, until a receive is pending. */
static void bench_echo(bench_conn *c, int64_t got)
{
	for (;;) {
		int rc;
		if (got <= 0)
			return;
		c->sop.buf = c->buf;
		c->sop.len = (size_t)got;
		c->sop.cb = bench_send_cb;
		if (c->io->ops->send(c->io, c->h, &c->sop) != AC_IO_DONE)
			return;
		c->rop.cb = bench_recv_cb;
		c->rop.data = c;
		c->rop.buf = c->buf;
		c->rop.len = sizeof(c->buf);
		rc = c->io->ops->recv(c->io, c->h, &c->rop);
		if (rc != AC_IO_DONE)
			return;
		got = c->rop.res;
	}
}

static void bench_recv_cb(ac_op *op)
{
	bench_echo(op->data, op->res);
}

static void bench_start(bench_conn *c, ac_io *io, int h, int first)
{
	c->io = io;
	c->h = h;
	memset(c->buf, 'p', sizeof(c->buf));
	if (first) {
		bench_echo(c, BENCH_MSG);
		return;
	}
	c->rop.cb = bench_recv_cb;
	c->rop.data = c;
	c->rop.buf = c->buf;
	c->rop.len = sizeof(c->buf);
	if (io->ops->recv(io, h, &c->rop) == AC_IO_DONE)
		bench_echo(c, c->rop.res);
}

static void bench_accept_cb(ac_op *op)
{
	bench_pp *pp = op->data;
	ac_io *io = pp->srv[0].io;
	for (;;) {
		if (op->res < 0) {
			pp->errors++;
			return;
		}
		bench_start(&pp->srv[pp->accepted++], io, (int)op->res, 0);
		if (pp->accepted == BENCH_CONNS)
			return;
		if (io->ops->accept(io, pp->lh, op) != AC_IO_DONE)
			return;
	}
}

static void bench_connect_cb(ac_op *op)
{
	bench_conn *c = op->data;
	if (op->res < 0)
		return;
	bench_start(c, c->io, (int)op->res, 1);
}

/* Set up the ping-pong between two raw nodes of w. */
static int bench_pp_setup(ac_sim *w, bench_pp *pp)
{
	ac_sim_node *a, *b;
	ac_io *ia, *ib;
	ac_addr addr;
	int i, rc;
	if (ac_sim_node_add(w, "srv", &a) < 0 || ac_sim_node_add(w, "cli", &b) < 0)
		return -ENOMEM;
	ia = ac_sim_node_io(a);
	ib = ac_sim_node_io(b);
	ac_sim_node_addr(a, &addr);
	addr.port = BENCH_PORT;
	rc = ia->ops->tcp_listen(ia, &addr, BENCH_CONNS, 0, &pp->lh);
	if (rc < 0)
		return rc;
	pp->srv[0].io = ia;
	pp->aop.cb = bench_accept_cb;
	pp->aop.data = pp;
	if (ia->ops->accept(ia, pp->lh, &pp->aop) != AC_IO_PENDING)
		return -EIO;
	for (i = 0; i < BENCH_CONNS; i++) {
		pp->cli[i].io = ib;
		pp->cop[i].cb = bench_connect_cb;
		pp->cop[i].data = &pp->cli[i];
		pp->cop[i].addr = addr;
		if (ib->ops->connect(ib, &pp->cop[i]) != AC_IO_PENDING)
			return -EIO;
	}
	return 0;
}

static int bench_completions(double *per_s)
{
	ac_sim_opts o;
	ac_sim_stats st;
	bench_pp *pp = calloc(1, sizeof(*pp));
	ac_sim *w;
	double t0, t1;
	int rc;
	if (!pp)
		return -ENOMEM;
	ac_sim_opts_init(&o);
	o.seed = 1;
	o.max_steps = 400000;
	rc = ac_sim_new(&o, &w);
	if (rc < 0) {
		free(pp);
		return rc;
	}
	rc = bench_pp_setup(w, pp);
	t0 = bench_wall();
	if (rc == 0)
		rc = ac_sim_run(w, NULL, NULL);
	t1 = bench_wall();
	ac_sim_get_stats(w, &st);
	ac_sim_free(w);
	if (rc >= 0 && (pp->errors || pp->accepted != BENCH_CONNS))
		rc = -EIO;
	free(pp);
	if (rc < 0)
		return rc;
	*per_s = (double)st.completions / (t1 - t0 > 1e-9 ? t1 - t0 : 1e-9);
	return 0;
}

/* ---- timers ------------------------------------------------------------------------- */

/* A sleeper: until the deadline passes, sleep a random 10..1000 ms. */
static void bench_sleeper(void *arg)
{
	const int64_t *end_ns = arg;
	ac_sched *s = ac_sched_self();
	ac_io *io = ac_sched_io(s);
	while (ac_sched_now_ns(s) < *end_ns) {
		uint16_t r;
		io->ops->entropy(io, &r, sizeof(r));
		ac_sleep(10 + r % 991);
	}
}

static void bench_timer_main(ac_sim_node *n, void *arg)
{
	ac_sched *s = ac_sim_node_sched(n);
	int i;
	for (i = 0; i < BENCH_COROS; i++)
		ac_spawn(s, bench_sleeper, arg, NULL, NULL);
}

static int bench_timers(double *ratio)
{
	const int64_t virt_ns = 60LL * 1000000000LL;
	int64_t end_ns[BENCH_NODES];
	ac_sim_opts o;
	ac_sim *w;
	double t0, t1;
	int i, rc;
	ac_sim_opts_init(&o);
	o.seed = 2;
	o.max_time_ns = 2 * virt_ns;
	rc = ac_sim_new(&o, &w);
	if (rc < 0)
		return rc;
	for (i = 0; i < BENCH_NODES && rc >= 0; i++) {
		ac_sim_node *n;
		rc = ac_sim_node_add(w, NULL, &n);
		if (rc < 0)
			break;
		end_ns[i] = ac_sim_node_now_ns(n) + virt_ns;
		rc = ac_sim_node_set_main(n, bench_timer_main, &end_ns[i]);
	}
	t0 = bench_wall();
	if (rc >= 0)
		rc = ac_sim_run(w, ac_sim_all_finished, NULL);
	t1 = bench_wall();
	if (rc == AC_SIM_DONE)
		*ratio = (double)ac_sim_now_ns(w) * 1e-9 /
		         (t1 - t0 > 1e-9 ? t1 - t0 : 1e-9);
	ac_sim_free(w);
	if (rc < 0)
		return rc;
	return rc == AC_SIM_DONE ? 0 : -EIO;
}

int simbench_run(double *completions_per_s, double *sim_to_wall_ratio)
{
	int rc = bench_completions(completions_per_s);
	if (rc < 0)
		return rc;
	return bench_timers(sim_to_wall_ratio);
}
