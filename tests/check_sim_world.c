/* tests/check_sim_world.c: the simulated world itself — its PRNG (reference
 * vectors and distributions), worlds and nodes (names, addresses, quiet
 * worlds, ac_sim_at, clock drift), name resolution inside the world, and
 * a failed assertion naming its seed (and not once the world is gone),
 * and determinism: a workload of raw nodes (a TCP echo and UDP broadcasts
 * on a faulty network) gives the same trace hash for the same seed and
 * different ones across seeds, swarm draws the same knobs from the same
 * seed, and the trace file records the run.
 */
#include "config.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/sim.h"
#include "tests/sim_harness.h"

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
	CK_OK(ac_sim_node_add(w, NULL, &b));
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
	CK_OK(ac_sim_at(w, 3 * SEC, at_cb, &when));
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
	CK_OK(ac_sim_new(&o, &w));
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
	CK_RC(io->ops->resolve(io, "gamma", AC_AF_NONE, 80, out, 4), -ENOENT);
	CK_RC(io->ops->resolve(io, "beta", AC_AF_INET6, 80, out, 4), -ENOENT);
	ck_assert_int_eq(io->ops->host_addrs(io, out, 4), 2);
	ck_assert_str_eq(ac_addr_format_ip(&out[0], buf, sizeof(buf)),
	                 "10.0.0.1");
	ck_assert(ac_addr_is_loopback(&out[1]));
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
		CK_OK(c->c_io->ops->close(c->c_io, c->c_h));
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
		op.cb = never_cb;
		op.buf = "tick";
		op.len = 4;
		op.addr = parse("10.0.0.255:9000");
		rc = io->ops->sendto(io, x->u[i].h, &op);
		/* A crashed (raw) node has lost its socket for good. */
		if (ac_sim_node_incarnation(x->n[i]) == 1 && ac_sim_node_is_up(x->n[i]))
			ck_assert_int_eq(rc, AC_IO_DONE);
	}
	if (++x->ticks < WL_TICKS)
		CK_OK(ac_sim_at(w, ac_sim_now_ns(w) + 10 * MS, wl_tick, x));
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
	CK_OK(io->ops->tcp_listen(io, &addr, 8, 0, &x->lh));
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
	CK_OK(ac_sim_at(x->w, 10 * MS, wl_tick, x));
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
	CK_OK(ac_sim_new(&o, &x->w));
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
	CK_OK(ac_sim_new(&o, &w1));
	CK_OK(ac_sim_new(&o, &w2));
	ac_sim_get_opts(w1, &a);
	ac_sim_get_opts(w2, &b);
	ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
	o.seed = 100;
	ac_sim_free(w2);
	CK_OK(ac_sim_new(&o, &w2));
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

/* ---- the suite ---------------------------------------------------------------------- */

int main(void)
{
	Suite *s = suite_create("sim_world");
	TCase *tc = tcase_create("world");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_rng_vectors);
	tcase_add_test(tc, test_rng_distributions);
	tcase_add_test(tc, test_world_basics);
	tcase_add_test(tc, test_world_at);
	tcase_add_test(tc, test_clock_drift);
	tcase_add_test(tc, test_resolve);
	tcase_add_test(tc, test_assert_names_seed);
	tcase_add_test(tc, test_determinism);
	tcase_add_test(tc, test_swarm);
	tcase_add_test(tc, test_trace_file);
	suite_add_tcase(s, tc);
	return sim_suite_main(s);
}
