/* tests/check_conform.c: the conformance suite — the same test bodies run on
 * the epoll backend over 127.0.0.1 and on the simulator (a simulated node
 * with address 10.0.0.1), and must pass on both. A behaviour that differs
 * between them is a bug in one of the backends. Each test is a loop test:
 * _i = 0 runs it on epoll, _i = 1 in the simulated world; the coroutine
 * bodies also run as _i = 2 and 3, the same with the recorder wrapped
 * around the backend (asyncoro/record.h), after which the record is
 * replayed (the body runs again against it) and must reach its end with
 * the recorded hash.
 *
 * Two kinds of bodies: coroutines using ac_sock on a scheduler (TCP echo,
 * refused connects, timeouts, messages, UDP, close waking a reader,
 * sleep, and the sweep of every blocking call of asyncoro.h with timeouts
 * 0, negative and AC_FOREVER), and io.h's contract driven directly through struct ac_io_ops
 * (tests/io_harness.h): TCP and UDP semantics, errors of a submit,
 * per-handle FIFO order of completions and callbacks, close cancelling
 * pending ops, cancel outcomes, short reads and a large send, broadcasts,
 * entropy and files.
 *
 * Network safety: on epoll every socket lives on 127.0.0.1 and the
 * broadcast goes to 127.255.255.255 only; files live in a directory under
 * /tmp that the test removes.
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include <asyncoro/record.h>
#include <asyncoro/sim.h>

#include "tests/io_harness.h"

/* The configurations (the loop index of every test). */
enum { CF_EPOLL, CF_SIM, CF_EPOLL_REC, CF_SIM_REC, CF_N };
static const char *const cf_names[CF_N] = {"epoll", "sim", "epoll+record", "sim+record"};

/* What a body gets: the address of the host it runs on (port 0), and
 * whether it runs over the real network (epoll, recorded or replayed). */
typedef struct conform {
	ac_addr host;
	int real;
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

/* A fresh record path. */
static void conform_path(char *buf, size_t len)
{
	const char *d = getenv("TMPDIR");
	static int n;
	snprintf(buf, len, "%s/ac-conform-%d-%d.rec", d && *d ? d : "/tmp", (int)getpid(), n++);
}

/* Run r's body on a scheduler over io (NULL: epoll). */
static void conform_epoll(conform_run *r, ac_io *io)
{
	ac_sched_opts o;
	ac_sched *s;
	ac_sched_opts_init(&o);
	o.io = io;
	CK_OK(ac_sched_new(&o, &s));
	CK_OK(ac_addr_parse(&r->c.host, "127.0.0.1", 0));
	r->c.real = 1;
	CK_OK(ac_spawn(s, conform_coro, r, NULL, NULL));
	CK_OK(ac_sched_run(s));
	ac_sched_free(s);
}

/* The hash a scheduler's "record PATH: N events, hash H" line gives. */
static uint64_t conform_logged_hash;

static void conform_log(void *arg, int level, const char *text)
{
	const char *h = strstr(text, ", hash ");
	(void)arg;
	(void)level;
	if (strstr(text, "record ") && h)
		conform_logged_hash = strtoull(h + 7, NULL, 16);
}

/* Run r's body on a simulated node "host" (seed 42); with path, the
 * node's scheduler records to it (AC_RECORD). */
static void conform_sim(conform_run *r, const char *path)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_node *n;
	ac_sim_opts_init(&o);
	o.seed = 42;
	o.max_time_ns = 600LL * 1000000000;
	o.log_fn = conform_log;
	if (path)
		setenv("AC_RECORD", path, 1);
	CK_OK(ac_sim_new(&o, &w));
	CK_OK(ac_sim_node_add(w, "host", &n));
	CK_OK(ac_sim_node_set_main(n, conform_sim_main, r));
	ck_assert_int_eq(ac_sim_run(w, ac_sim_all_finished, NULL), AC_SIM_DONE);
	ac_sim_free(w);
	unsetenv("AC_RECORD");
}

/* Replay the record at path with r's body, driven as recorded (stepped
 * like a sim node, or run); returns the replay's hash. */
static uint64_t conform_replay(conform_run *r, const char *path, int sim)
{
	ac_sched_opts so;
	ac_sched *s;
	ac_io *rp;
	uint64_t hash;
	CK_OK(ac_io_replay_new(path, &rp));
	if (!sim) {
		conform_epoll(r, rp);
	} else {
		ac_sched_opts_init(&so);
		so.io = rp;
		so.name = "host";
		CK_OK(ac_sched_new(&so, &s));
		ac_sched_step(s);
		CK_OK(ac_addr_parse(&r->c.host, "10.0.0.1", 0));
		CK_OK(ac_spawn(s, conform_coro, r, NULL, NULL));
		while (ac_io_replay_wants_poll(rp))
			ac_sched_step(s);
		ac_sched_free(s);
	}
	hash = ac_io_record_hash(rp, NULL);
	ac_io_replay_free(rp);
	return hash;
}

/* Record r's body (epoll or sim) to path; returns the record's hash. */
static uint64_t conform_record(conform_run *r, const char *path, int sim)
{
	ac_io *ep, *rec;
	uint64_t hash;
	if (sim) {
		conform_logged_hash = 0;
		conform_sim(r, path);
		ck_assert_uint_ne(conform_logged_hash, 0);
		return conform_logged_hash;
	}
	CK_OK(ac_io_epoll_new(&ep));
	CK_OK(ac_io_record_new(ep, path, &rec));
	conform_epoll(r, rec);
	hash = ac_io_record_hash(rec, NULL);
	ac_io_record_free(rec);
	ac_io_epoll_free(ep);
	return hash;
}

static int conform_go(conform_body body, int cf)
{
	conform_run r;
	char path[256];
	uint64_t h;
	memset(&r, 0, sizeof(r));
	r.body = body;
	if (cf == CF_EPOLL) {
		conform_epoll(&r, NULL);
	} else if (cf == CF_SIM) {
		conform_sim(&r, NULL);
	} else {
		conform_path(path, sizeof(path));
		h = conform_record(&r, path, cf == CF_SIM_REC);
		ck_assert_msg(r.c.done, "the body did not finish (%s)", cf_names[cf]);
		memset(&r.c, 0, sizeof(r.c));
		ck_assert_uint_eq(conform_replay(&r, path, cf == CF_SIM_REC), h);
		unlink(path);
	}
	ck_assert_msg(r.c.done, "the body did not finish (%s)", cf_names[cf]);
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

/* A raw io.h operation of a body, waited for by sleeping. */
typedef struct raw_op {
	ac_op op;
	int done;
} raw_op;

static void raw_cb(ac_op *op)
{
	((raw_op *)op->data)->done = 1;
}

static void raw_init(raw_op *r, void *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->op.cb = raw_cb;
	r->op.data = r;
	r->op.buf = buf;
	r->op.len = len;
}

/* The result of an op submitted with result rc, once it completed. */
static int64_t raw_wait(raw_op *r, int rc)
{
	if (rc < 0)
		return rc;
	if (rc == AC_IO_DONE)
		return r->op.res;
	while (!r->done)
		CK_OK(ac_sleep(1));
	return r->op.res;
}

/* Bytes of the stream to the end on handle h, checked against want;
 * returns how many came. */
static int64_t raw_drain(ac_io *io, int h, const uint8_t *want, size_t max)
{
	static uint8_t rx[1 << 16];
	raw_op r;
	int64_t got = 0, n;
	for (;;) {
		raw_init(&r, rx, sizeof(rx));
		n = raw_wait(&r, io->ops->recv(io, h, &r.op));
		CK_OK(n);
		if (n == 0)
			return got;
		ck_assert_int_le(got + n, (int64_t)max);
		ck_assert(memcmp(rx, want + got, (size_t)n) == 0);
		got += n;
	}
}

/* io.h version 3: a send cancelled while pending (0) reports in op->res
 * the bytes it had written, and exactly those reach the peer. */
static void body_cancel_send(conform *c)
{
	ac_io *io = ac_sched_io(ac_sched_self());
	const struct ac_io_ops *o = io->ops;
	size_t big = 32u << 20, i;
	uint8_t *buf = malloc(big);
	raw_op con, acc, snd;
	ac_addr a;
	int hl, hc, hs, rc;
	int64_t written;
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_ge(o->version, 3);
	for (i = 0; i < big; i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 12));
	CK_OK(o->tcp_listen(io, &c->host, 8, 0, &hl));
	CK_OK(o->local_addr(io, hl, &a));
	raw_init(&con, NULL, 0);
	con.op.addr = a;
	raw_init(&acc, NULL, 0);
	hc = (int)raw_wait(&con, o->connect(io, &con.op));
	CK_OK(hc);
	hs = (int)raw_wait(&acc, o->accept(io, hl, &acc.op));
	CK_OK(hs);
	/* Nobody reads: on epoll the socket buffers fill and the send waits. */
	raw_init(&snd, buf, big);
	rc = o->send(io, hc, &snd.op);
	CK_OK(rc);
	written = (int64_t)big;
	if (rc == AC_IO_PENDING) {
		rc = o->cancel(io, &snd.op);
		ck_assert(rc == 0 || rc == AC_IO_DONE);
		written = snd.op.res;
	}
	ck_assert_int_ge(written, 0);
	ck_assert_int_le(written, (int64_t)big);
	if (c->real)
		ck_assert_msg(written > 0 && written < (int64_t)big,
		              "epoll wrote %lld of %zu bytes at once", (long long)written, big);
	CK_OK(o->close(io, hc));
	ck_assert_int_eq(raw_drain(io, hs, buf, big), written);
	CK_OK(o->close(io, hs));
	CK_OK(o->close(io, hl));
	free(buf);
}

START_TEST(test_cancel_send)
{
	ck_assert(conform_go(body_cancel_send, _i));
}
END_TEST

/* ---- io.h bodies: the backend driven directly ------------------------------------ */

/* Each io body runs on IO (tests/io_harness.h): the epoll backend over
 * 127.0.0.1 (_i = 0) or a raw node of a simulated world (_i = 1). */

/* A pending recv completed by a send; a send that returns DONE never calls
 * back; data already there completes a recv inline; close twice: -EBADF. */
static void io_tcp_echo(void)
{
	ac_io *io = IO.io;
	char out[] = "hello, loopback", in[64];
	ac_addr pa, la;
	ac_op s, r;
	probe ps, pr;
	int lh, ch, sh, rc;
	tcp_pair(&lh, &ch, &sh);
	CK_OK(io->ops->peer_addr(io, ch, &pa));
	CK_OK(io->ops->local_addr(io, lh, &la));
	ck_assert(ac_addr_eq(&pa, &la));
	/* A recv with nothing to read is pending; the send then completes it. */
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(io->ops->recv(io, sh, &r), AC_IO_PENDING);
	ck_assert_int_eq(io->ops->pending(io), 1);
	op_init(&s, &ps, out, sizeof(out));
	ck_assert_int_eq(op_wait(io->ops->send(io, ch, &s), &s), (int64_t)sizeof(out));
	poll_until(&pr.calls, 1);
	ck_assert_int_eq(pr.calls, 1);
	ck_assert_int_eq(r.res, (int64_t)sizeof(out));
	ck_assert_str_eq(in, out);
	ck_assert_int_eq(ps.calls, 0); /* a send that returned DONE never calls back */
	/* Fast path: data already waiting completes the recv inline. */
	ck_assert_int_eq(io->ops->send(io, sh, &s), AC_IO_DONE);
	wait_arrival(ch);
	op_init(&r, &pr, in, sizeof(in));
	rc = io->ops->recv(io, ch, &r);
	ck_assert_int_eq(rc, AC_IO_DONE);
	ck_assert_int_eq(r.res, (int64_t)sizeof(out));
	ck_assert_int_eq(io_poll(0), 0);
	ck_assert_int_eq(pr.calls, 0);
	CK_OK(io->ops->close(io, ch));
	CK_OK(io->ops->close(io, sh));
	CK_OK(io->ops->close(io, lh));
	CK_RC(io->ops->close(io, lh), -EBADF);
}

/* The peer's shutdown ends a pending recv with 0, and later recvs inline;
 * the other direction still works; a send after shutdown: -EPIPE. */
static void io_tcp_eof(void)
{
	ac_io *io = IO.io;
	char in[16];
	ac_op r, s;
	probe pr, ps;
	int lh, ch, sh;
	tcp_pair(&lh, &ch, &sh);
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(io->ops->recv(io, sh, &r), AC_IO_PENDING);
	CK_OK(io->ops->shutdown(io, ch));
	ck_assert_int_eq(op_wait(AC_IO_PENDING, &r), 0);
	/* End of stream stays end of stream, inline now. */
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(io->ops->recv(io, sh, &r), AC_IO_DONE);
	ck_assert_int_eq(r.res, 0);
	/* The other direction still works. */
	op_init(&s, &ps, "x", 1);
	CK_RC(io->ops->send(io, ch, &s), -EPIPE);
	ck_assert_int_eq(op_wait(io->ops->send(io, sh, &s), &s), 1);
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(op_wait(io->ops->recv(io, ch, &r), &r), 1);
	ck_assert_int_eq(in[0], 'x');
	CK_OK(io->ops->close(io, ch));
	CK_OK(io->ops->close(io, sh));
	CK_OK(io->ops->close(io, lh));
}

/* A connect to a port nobody listens on: -ECONNREFUSED, nothing pending. */
static void io_tcp_refused(void)
{
	ac_io *io = IO.io;
	ac_addr a;
	ac_op con;
	probe pc;
	int lh, rc;
	/* A port that was just free: listen, learn it, close. */
	a = IO.host;
	CK_OK(io->ops->tcp_listen(io, &a, 1, 0, &lh));
	CK_OK(io->ops->local_addr(io, lh, &a));
	CK_OK(io->ops->close(io, lh));
	op_init(&con, &pc, NULL, 0);
	con.addr = a;
	rc = io->ops->connect(io, &con);
	ck_assert_int_eq(op_wait(rc, &con), -ECONNREFUSED);
	ck_assert_int_eq(pc.calls, rc == AC_IO_PENDING ? 1 : 0);
	ck_assert_int_eq(io->ops->pending(io), 0);
}

/* Errors of a submit: unknown handles -EBADF, a handle of the wrong kind
 * -EINVAL (or -EBADF for file_close), an op without callback, unknown
 * flags and no address: -EINVAL; no callback ever runs. */
static void io_bad_args(void)
{
	ac_io *io = IO.io;
	ac_addr a;
	ac_op op;
	probe p;
	char buf[4];
	int h;
	op_init(&op, &p, buf, sizeof(buf));
	CK_RC(io->ops->recv(io, -1, &op), -EBADF);
	CK_RC(io->ops->recv(io, 100000, &op), -EBADF);
	CK_RC(io->ops->close(io, 12345), -EBADF);
	CK_RC(io->ops->shutdown(io, 12345), -EBADF);
	a = IO.host;
	CK_OK(io->ops->tcp_listen(io, &a, 4, 0, &h));
	CK_RC(io->ops->recv(io, h, &op), -EINVAL);
	CK_RC(io->ops->sendto(io, h, &op), -EINVAL);
	CK_RC(io->ops->file_close(io, h), -EBADF);
	op.cb = NULL;
	CK_RC(io->ops->accept(io, h, &op), -EINVAL);
	CK_RC(io->ops->tcp_listen(io, &a, 4, 0x100, &h), -EINVAL);
	ac_addr_init(&a);
	CK_RC(io->ops->tcp_listen(io, &a, 4, 0, &h), -EINVAL);
	CK_OK(io->ops->close(io, h));
	ck_assert_int_eq(p.calls, 0);
}

/* Errors of a submit on a connected socket and a listener: a recv of
 * nothing or into no buffer, a send from no buffer, ops without a
 * callback, UDP ops and accept on TCP, shutdown of a listener: -EINVAL; a
 * listener has no peer: -ENOTCONN. The connection is not disturbed. */
static void io_bad_ops(void)
{
	ac_io *io = IO.io;
	ac_addr a;
	ac_op op;
	probe p;
	char buf[4];
	int lh, ch, sh;
	tcp_pair(&lh, &ch, &sh);
	op_init(&op, &p, buf, 0);
	CK_RC(io->ops->recv(io, sh, &op), -EINVAL);
	op_init(&op, &p, NULL, sizeof(buf));
	CK_RC(io->ops->recv(io, sh, &op), -EINVAL);
	CK_RC(io->ops->send(io, ch, &op), -EINVAL);
	op_init(&op, &p, buf, sizeof(buf));
	op.cb = NULL;
	CK_RC(io->ops->recv(io, sh, &op), -EINVAL);
	CK_RC(io->ops->send(io, ch, &op), -EINVAL);
	op_init(&op, &p, buf, sizeof(buf));
	op.addr = IO.host;
	op.addr.port = 9;
	CK_RC(io->ops->sendto(io, ch, &op), -EINVAL);
	CK_RC(io->ops->recvfrom(io, sh, &op), -EINVAL);
	CK_RC(io->ops->accept(io, sh, &op), -EINVAL);
	CK_RC(io->ops->shutdown(io, lh), -EINVAL);
	CK_RC(io->ops->peer_addr(io, lh, &a), -ENOTCONN);
	ck_assert_int_eq(io->ops->pending(io), 0);
	op_init(&op, &p, "ok", 2);
	ck_assert_int_eq(op_wait(io->ops->send(io, ch, &op), &op), 2);
	op_init(&op, &p, buf, sizeof(buf));
	ck_assert_int_eq(op_wait(io->ops->recv(io, sh, &op), &op), 2);
	ck_assert_int_eq(memcmp(buf, "ok", 2), 0);
	CK_OK(io->ops->close(io, ch));
	CK_OK(io->ops->close(io, sh));
	CK_OK(io->ops->close(io, lh));
}

/* Two recvs on one handle complete in the order they were submitted. */
static void io_fifo(void)
{
	ac_io *io = IO.io;
	char in1[8], in2[8];
	ac_op r1, r2, s;
	probe p1, p2, ps;
	int lh, ch, sh;
	tcp_pair(&lh, &ch, &sh);
	op_init(&r1, &p1, in1, sizeof(in1));
	op_init(&r2, &p2, in2, sizeof(in2));
	ck_assert_int_eq(io->ops->recv(io, sh, &r1), AC_IO_PENDING);
	ck_assert_int_eq(io->ops->recv(io, sh, &r2), AC_IO_PENDING);
	ck_assert_int_eq(io->ops->pending(io), 2);
	op_init(&s, &ps, "abcdefgh", 8);
	ck_assert_int_eq(op_wait(io->ops->send(io, ch, &s), &s), 8);
	poll_until(&p1.calls, 1);
	ck_assert_int_eq(r1.res, 8);
	ck_assert_int_eq(memcmp(in1, "abcdefgh", 8), 0);
	ck_assert_int_eq(p2.calls, 0);
	op_init(&s, &ps, "12", 2);
	ck_assert_int_eq(op_wait(io->ops->send(io, ch, &s), &s), 2);
	poll_until(&p2.calls, 1);
	ck_assert_int_eq(r2.res, 2);
	ck_assert_int_eq(memcmp(in2, "12", 2), 0);
	ck_assert_int_lt(p1.order, p2.order);
	ck_assert_int_eq(p1.calls + p2.calls, 2);
	CK_OK(io->ops->close(io, ch));
	CK_OK(io->ops->close(io, sh));
	CK_OK(io->ops->close(io, lh));
}

/* Ops io_ready_order's first callback works on. */
static struct {
	/* Three recvs of one byte, and the one the first callback submits. */
	ac_op r[4];
	probe p[4];
	char in[4];
	/* Results the first callback saw. */
	int rc_submit, rc_cancel;
	/* The handle the recvs read. */
	int h;
} ro;

/* First callback: submit r[3] while r[1] and r[2] await their callbacks,
 * then cancel r[2], the last op this poll was going to call back. */
static void ready_order_cb(ac_op *op)
{
	ac_io *io = IO.io;
	probe_cb(op);
	op_init(&ro.r[3], &ro.p[3], &ro.in[3], 1);
	ro.rc_submit = io->ops->recv(io, ro.h, &ro.r[3]);
	ro.rc_cancel = io->ops->cancel(io, &ro.r[2]);
}

/* FIFO holds for callbacks too: a recv that completes inline while recvs
 * of its handle wait for their callbacks is called back after them; a
 * cancel of a completed op whose callback has not run keeps its result. */
static void io_ready_order(void)
{
	ac_io *io = IO.io;
	ac_op s;
	probe ps;
	int lh, ch, i, n = 0;
	tcp_pair(&lh, &ch, &ro.h);
	for (i = 0; i < 3; i++) {
		op_init(&ro.r[i], &ro.p[i], &ro.in[i], 1);
		ck_assert_int_eq(io->ops->recv(io, ro.h, &ro.r[i]), AC_IO_PENDING);
	}
	ro.r[0].cb = ready_order_cb;
	op_init(&s, &ps, "abcd", 4);
	ck_assert_int_eq(op_wait(io->ops->send(io, ch, &s), &s), 4);
	wait_arrival(ro.h);
	while (n == 0)
		n = io_poll(io_now() + 100 * MS);
	/* r[0] and r[1] ran; r[2] was cancelled; r[3] completed inline but
	 * waits behind r[1], so it is called back by the next poll. */
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(ro.rc_submit, AC_IO_PENDING);
	ck_assert_int_eq(ro.rc_cancel, AC_IO_DONE);
	ck_assert_int_eq(ro.p[3].calls, 0);
	ck_assert_int_eq(io_poll(0), 1);
	ck_assert_int_eq(ro.p[0].calls + ro.p[1].calls + ro.p[2].calls + ro.p[3].calls, 3);
	ck_assert_int_eq(ro.p[2].calls, 0);
	ck_assert_int_eq(ro.r[2].res, 1); /* cancelled after completing: result kept */
	ck_assert_int_lt(ro.p[0].order, ro.p[1].order);
	ck_assert_int_lt(ro.p[1].order, ro.p[3].order);
	ck_assert_int_eq(memcmp(ro.in, "abcd", 4), 0);
	CK_OK(io->ops->close(io, ch));
	CK_OK(io->ops->close(io, ro.h));
	CK_OK(io->ops->close(io, lh));
}

/* close completes the handle's pending ops with -ECANCELED, from the next
 * poll (not inside close), in order. */
static void io_close_cancels(void)
{
	ac_io *io = IO.io;
	char in1[8], in2[8];
	ac_op r1, r2, acc;
	probe p1, p2, pa;
	int lh, ch, sh;
	tcp_pair(&lh, &ch, &sh);
	op_init(&r1, &p1, in1, sizeof(in1));
	op_init(&r2, &p2, in2, sizeof(in2));
	op_init(&acc, &pa, NULL, 0);
	ck_assert_int_eq(io->ops->recv(io, sh, &r1), AC_IO_PENDING);
	ck_assert_int_eq(io->ops->recv(io, sh, &r2), AC_IO_PENDING);
	ck_assert_int_eq(io->ops->accept(io, lh, &acc), AC_IO_PENDING);
	ck_assert_int_eq(io->ops->pending(io), 3);
	CK_OK(io->ops->close(io, sh));
	CK_OK(io->ops->close(io, lh));
	/* Not inside close: only from the next poll, all three, in order. */
	ck_assert_int_eq(p1.calls + p2.calls + pa.calls, 0);
	ck_assert_int_eq(io->ops->pending(io), 3);
	ck_assert_int_eq(io_poll(-1), 3);
	ck_assert_int_eq(p1.calls, 1);
	ck_assert_int_eq(p2.calls, 1);
	ck_assert_int_eq(pa.calls, 1);
	ck_assert_int_eq(r1.res, -ECANCELED);
	ck_assert_int_eq(r2.res, -ECANCELED);
	ck_assert_int_eq(acc.res, -ECANCELED);
	ck_assert_int_lt(p1.order, p2.order);
	ck_assert_int_eq(io->ops->pending(io), 0);
	CK_RC(io->ops->recv(io, sh, &r1), -EBADF);
	CK_OK(io->ops->close(io, ch));
}

/* The handle close_other_cb closes. */
static int close_target = -1;

/* A callback that also closes another handle. */
static void close_other_cb(ac_op *op)
{
	probe_cb(op);
	ck_assert_int_eq(IO.io->ops->close(IO.io, close_target), 0);
}

/* Ops cancelled by a close inside a callback are called back by the next
 * poll, not the running one. */
static void io_close_in_callback(void)
{
	ac_io *io = IO.io;
	char in1[8], in2[8];
	ac_op r1, r2, s;
	probe p1, p2, ps;
	int lh, ch, sh, lhb, chb, shb;
	tcp_pair(&lh, &ch, &sh);
	tcp_pair(&lhb, &chb, &shb);
	op_init(&r1, &p1, in1, sizeof(in1));
	op_init(&r2, &p2, in2, sizeof(in2));
	r1.cb = close_other_cb;
	close_target = shb;
	ck_assert_int_eq(io->ops->recv(io, sh, &r1), AC_IO_PENDING);
	ck_assert_int_eq(io->ops->recv(io, shb, &r2), AC_IO_PENDING);
	op_init(&s, &ps, "k", 1);
	ck_assert_int_eq(op_wait(io->ops->send(io, ch, &s), &s), 1);
	poll_until(&p1.calls, 1);
	ck_assert_int_eq(p2.calls, 0); /* queued by the close, not run yet */
	ck_assert_int_eq(io->ops->pending(io), 1);
	ck_assert_int_eq(io_poll(0), 1);
	ck_assert_int_eq(p2.calls, 1);
	ck_assert_int_eq(r2.res, -ECANCELED);
	CK_OK(io->ops->close(io, ch));
	CK_OK(io->ops->close(io, sh));
	CK_OK(io->ops->close(io, lh));
	CK_OK(io->ops->close(io, chb));
	CK_OK(io->ops->close(io, lhb));
}

/* cancel of a waiting op: 0, res -ECANCELED, no callback, nothing taken;
 * unknown ops (cancelled, never submitted, completed inline, or another
 * instance's): -ENOENT; a completed op not yet called back: AC_IO_DONE. */
static void io_cancel(void)
{
	ac_io *io = IO.io;
	char in[8];
	ac_op r, s, never;
	probe pr, ps, pn;
	int lh, ch, sh;
	tcp_pair(&lh, &ch, &sh);
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(io->ops->recv(io, sh, &r), AC_IO_PENDING);
	ck_assert_int_eq(io->ops->pending(io), 1);
	ck_assert_int_eq(io->ops->cancel(io, &r), 0);
	ck_assert_int_eq(r.res, -ECANCELED);
	ck_assert_int_eq(io->ops->pending(io), 0);
	CK_RC(io->ops->cancel(io, &r), -ENOENT);
	/* Data arriving later must not touch the cancelled op. */
	op_init(&s, &ps, "zz", 2);
	ck_assert_int_eq(op_wait(io->ops->send(io, ch, &s), &s), 2);
	wait_arrival(sh);
	ck_assert_int_eq(io_poll(io_now() + 20 * MS), 0);
	ck_assert_int_eq(pr.calls, 0);
	/* The data is still there for the next recv. */
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(op_wait(io->ops->recv(io, sh, &r), &r), 2);
	/* Another backend instance does not know the op. */
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(io->ops->recv(io, sh, &r), AC_IO_PENDING);
	CK_RC(IO.other->ops->cancel(IO.other, &r), -ENOENT);
	ck_assert_int_eq(io->ops->cancel(io, &r), 0);
	/* A never-submitted op and an op that completed inline are not pending. */
	op_init(&never, &pn, in, sizeof(in));
	CK_RC(io->ops->cancel(io, &never), -ENOENT);
	CK_RC(io->ops->cancel(io, &s), -ENOENT);
	/* An op completed (by close) whose callback has not run: cancel wins
	 * and reports the completion (AC_IO_DONE) with its result. */
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(io->ops->recv(io, ch, &r), AC_IO_PENDING);
	CK_OK(io->ops->close(io, ch));
	ck_assert_int_eq(io->ops->pending(io), 1);
	ck_assert_int_eq(io->ops->cancel(io, &r), AC_IO_DONE);
	ck_assert_int_eq(r.res, -ECANCELED);
	ck_assert_int_eq(io->ops->pending(io), 0);
	ck_assert_int_eq(io_poll(0), 0);
	ck_assert_int_eq(pr.calls, 0);
	CK_OK(io->ops->close(io, sh));
	CK_OK(io->ops->close(io, lh));
}

/* A cancelled connect takes its socket with it; a cancelled accept that
 * had completed would leak nothing (its connection is closed). */
static void io_cancel_connect(void)
{
	ac_io *io = IO.io;
	ac_addr a;
	ac_op acc, con;
	probe pa, pc;
	int lh, rc;
	a = IO.host;
	CK_OK(io->ops->tcp_listen(io, &a, 4, 0, &lh));
	CK_OK(io->ops->local_addr(io, lh, &a));
	op_init(&con, &pc, NULL, 0);
	con.addr = a;
	rc = io->ops->connect(io, &con);
	CK_OK(rc);
	if (rc == AC_IO_PENDING) {
		ck_assert_int_eq(io->ops->cancel(io, &con), 0);
		CK_RC(io->ops->close(io, con.h), -EBADF); /* the socket went with it */
	} else {
		CK_OK(io->ops->close(io, (int)con.res));
	}
	ck_assert_int_eq(io->ops->pending(io), 0);
	/* An accepted connection completed but not called back: cancel closes it. */
	op_init(&acc, &pa, NULL, 0);
	op_init(&con, &pc, NULL, 0);
	con.addr = a;
	{
		/* A new handle (closed below), not an error nor the listener. */
		int64_t h = op_wait(io->ops->connect(io, &con), &con);
		ck_assert_msg(h >= 0 && h != lh, "connect gave %lld", (long long)h);
	}
	rc = io->ops->accept(io, lh, &acc);
	if (rc == AC_IO_DONE) {
		CK_OK(io->ops->close(io, (int)acc.res));
	} else {
		ck_assert_int_eq(rc, AC_IO_PENDING);
		ck_assert_int_eq(io->ops->cancel(io, &acc), 0);
	}
	ck_assert_int_eq(pa.calls, 0);
	CK_OK(io->ops->close(io, (int)con.res));
	CK_OK(io->ops->close(io, lh));
}

/* After a recv that got less than it asked for, the next recv still sees
 * data sent later, data and the end of the stream together, and the end
 * alone (epoll waits for the read edge without a syscall then). */
static void io_short_read_then_more(void)
{
	ac_io *io = IO.io;
	char in[64];
	ac_op s, r;
	probe ps, pr;
	int lh, ch, sh, round;
	tcp_pair(&lh, &ch, &sh);
	for (round = 0; round < 3; round++) {
		char msg[2] = {(char)('a' + round), '!'};
		op_init(&s, &ps, msg, sizeof(msg));
		ck_assert_int_eq(op_wait(io->ops->send(io, ch, &s), &s), 2);
		op_init(&r, &pr, in, sizeof(in));
		ck_assert_int_eq(op_wait(io->ops->recv(io, sh, &r), &r), 2);
		ck_assert_int_eq(in[0], 'a' + round);
		/* Nothing is there now: the next recv is pending, and the
		 * bytes sent afterwards complete it. */
		op_init(&r, &pr, in, sizeof(in));
		ck_assert_int_eq(io->ops->recv(io, sh, &r), AC_IO_PENDING);
		op_init(&s, &ps, msg, 1);
		ck_assert_int_eq(op_wait(io->ops->send(io, ch, &s), &s), 1);
		poll_until(&pr.calls, 1);
		ck_assert_int_eq(r.res, 1);
	}
	/* The last bytes and the end of the stream arrive together. */
	op_init(&s, &ps, "xyz", 3);
	ck_assert_int_eq(op_wait(io->ops->send(io, ch, &s), &s), 3);
	CK_OK(io->ops->shutdown(io, ch));
	/* Their edge is taken by a poll before anyone reads. */
	CK_OK(io_poll(io_now() + 50 * MS));
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(op_wait(io->ops->recv(io, sh, &r), &r), 3);
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(op_wait(io->ops->recv(io, sh, &r), &r), 0);
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(op_wait(io->ops->recv(io, sh, &r), &r), 0);
	ck_assert_int_eq(io->ops->pending(io), 0);
	CK_OK(io->ops->close(io, ch));
	CK_OK(io->ops->close(io, sh));
	CK_OK(io->ops->close(io, lh));
}

/* 8 MiB in one send, read in 256 KiB recvs; shutdown waits for the send;
 * a send after it: -EPIPE; then the end of the stream. */
static void io_large_send(void)
{
	ac_io *io = IO.io;
	const size_t total = 8u << 20, chunk = 256u << 10;
	uint8_t *out = malloc(total), *in = malloc(chunk);
	size_t got = 0, i;
	ac_op s, r;
	probe ps, pr;
	int lh, ch, sh, rc_s;
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(in);
	for (i = 0; i < total; i++)
		out[i] = (uint8_t)(i * 7 + i / 251);
	tcp_pair(&lh, &ch, &sh);
	op_init(&s, &ps, out, total);
	rc_s = io->ops->send(io, ch, &s);
	CK_OK(rc_s);
	/* 8 MiB cannot fit the socket buffers (epoll's, the sim's): the send
	 * waits. */
	ck_assert_int_eq(rc_s, AC_IO_PENDING);
	/* shutdown waits for the queued send; later sends fail. */
	CK_OK(io->ops->shutdown(io, ch));
	op_init(&r, &pr, in, 1);
	CK_RC(io->ops->send(io, ch, &r), -EPIPE);
	while (got < total) {
		int64_t n;
		op_init(&r, &pr, in, chunk);
		n = op_wait(io->ops->recv(io, sh, &r), &r);
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(memcmp(in, out + got, (size_t)n), 0);
		got += (size_t)n;
	}
	ck_assert_uint_eq(got, total);
	if (rc_s == AC_IO_PENDING)
		poll_until(&ps.calls, 1);
	ck_assert_int_eq(ps.calls, rc_s == AC_IO_PENDING);
	ck_assert_int_eq(s.res, (int64_t)total);
	op_init(&r, &pr, in, chunk);
	ck_assert_int_eq(op_wait(io->ops->recv(io, sh, &r), &r), 0);
	ck_assert_int_eq(io->ops->pending(io), 0);
	CK_OK(io->ops->close(io, ch));
	CK_OK(io->ops->close(io, sh));
	CK_OK(io->ops->close(io, lh));
	free(out);
	free(in);
}

/* A datagram to a pending recvfrom with its source; truncation to the
 * buffer (res is what was copied, the rest is gone). */
static void io_udp(void)
{
	ac_io *io = IO.io;
	char in[16];
	ac_addr a, la, lb;
	ac_op s, r;
	probe ps, pr;
	int ha, hb;
	a = IO.host;
	CK_OK(io->ops->udp_bind(io, &a, 0, &ha));
	CK_OK(io->ops->udp_bind(io, &a, 0, &hb));
	CK_OK(io->ops->local_addr(io, ha, &la));
	CK_OK(io->ops->local_addr(io, hb, &lb));
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(io->ops->recvfrom(io, hb, &r), AC_IO_PENDING);
	op_init(&s, &ps, "datagram", 8);
	s.addr = lb;
	ck_assert_int_eq(op_wait(io->ops->sendto(io, ha, &s), &s), 8);
	ck_assert_int_eq(op_wait(AC_IO_PENDING, &r), 8);
	ck_assert_int_eq(memcmp(in, "datagram", 8), 0);
	ck_assert(ac_addr_eq(&r.addr, &la));
	/* Truncation: res is the number of bytes copied. */
	ck_assert_int_eq(op_wait(io->ops->sendto(io, ha, &s), &s), 8);
	op_init(&r, &pr, in, 3);
	ck_assert_int_eq(op_wait(io->ops->recvfrom(io, hb, &r), &r), 3);
	ck_assert_int_eq(memcmp(in, "dat", 3), 0);
	/* The rest of that datagram is gone: nothing left to read. */
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(io->ops->recvfrom(io, hb, &r), AC_IO_PENDING);
	ck_assert_int_eq(io_poll(io_now() + 20 * MS), 0);
	ck_assert_int_eq(io->ops->cancel(io, &r), 0);
	CK_OK(io->ops->close(io, ha));
	CK_OK(io->ops->close(io, hb));
}

/* A broadcast to 127.255.255.255 reaches every socket bound to that
 * address and port (sharing it with AC_IO_REUSEPORT), from its sender. */
static void io_udp_broadcast(void)
{
	ac_io *io = IO.io;
	const int flags = AC_IO_REUSEADDR | AC_IO_REUSEPORT | AC_IO_BROADCAST;
	char in1[16], in2[16];
	ac_addr bc, lo;
	ac_op s, r1, r2;
	probe ps, p1, p2;
	int h1, h2, hs;
	/* Receivers bound to the loopback broadcast address itself: they hear
	 * broadcasts on lo and nothing else. */
	ck_assert_int_eq(ac_addr_parse(&bc, "127.255.255.255", 0), 0);
	CK_OK(io->ops->udp_bind(io, &bc, flags, &h1));
	CK_OK(io->ops->local_addr(io, h1, &bc));
	ck_assert_int_ne(bc.port, 0);
	CK_OK(io->ops->udp_bind(io, &bc, flags, &h2));
	ck_assert_int_eq(ac_addr_parse(&lo, "127.0.0.1", 0), 0);
	CK_OK(io->ops->udp_bind(io, &lo, AC_IO_BROADCAST, &hs));
	op_init(&r1, &p1, in1, sizeof(in1));
	op_init(&r2, &p2, in2, sizeof(in2));
	ck_assert_int_eq(io->ops->recvfrom(io, h1, &r1), AC_IO_PENDING);
	ck_assert_int_eq(io->ops->recvfrom(io, h2, &r2), AC_IO_PENDING);
	op_init(&s, &ps, "hello all", 9);
	s.addr = bc;
	ck_assert_int_eq(op_wait(io->ops->sendto(io, hs, &s), &s), 9);
	poll_until(&p1.calls, 1);
	poll_until(&p2.calls, 1);
	ck_assert_int_eq(r1.res, 9);
	ck_assert_int_eq(r2.res, 9);
	ck_assert_int_eq(memcmp(in1, "hello all", 9), 0);
	ck_assert_int_eq(memcmp(in2, "hello all", 9), 0);
	CK_OK(io->ops->local_addr(io, hs, &lo));
	ck_assert(ac_addr_eq(&r1.addr, &lo));
	CK_OK(io->ops->close(io, h1));
	CK_OK(io->ops->close(io, h2));
	CK_OK(io->ops->close(io, hs));
}

/* Random bytes: two draws differ, and are not mostly zeros. */
static void io_entropy(void)
{
	ac_io *io = IO.io;
	uint8_t a[32], b[32], zero[32] = { 0 }, big[1000];
	size_t i, nz = 0;
	io->ops->entropy(io, a, sizeof(a));
	io->ops->entropy(io, b, sizeof(b));
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	ck_assert(memcmp(a, zero, sizeof(a)) != 0);
	io->ops->entropy(io, big, sizeof(big));
	for (i = 0; i < sizeof(big); i++)
		nz += big[i] != 0;
	ck_assert_uint_gt(nz, 900);
	io->ops->entropy(io, a, 0);
}

/* A fresh directory of the host's file system for a test: under
 * temp_dir, named after the process (epoll) or in the node's own disk. */
static void io_test_dir(char *dir, size_t len)
{
	ac_io *io = IO.io;
	snprintf(dir, len, "%s/check_conform_%ld", io->ops->temp_dir(io), (long)getpid());
	CK_OK(io->ops->file_mkdir(io, dir, 0700));
}

/* Files: open's errors (-ENOENT, -EEXIST), sparse writes, sync, fstat,
 * file handles closed by file_close only, reads at offsets and short at
 * the end, no writes through a read-only handle, rename, metadata (a
 * negative time leaves it), mkdir, unlink (-EISDIR for a directory). */
static void io_files(void)
{
	ac_io *io = IO.io;
	const int64_t mtime = INT64_C(1600000000123456789);
	char dir[128], p1[160], p2[160], p3[160], in[16];
	ac_stat st;
	int h;
	io_test_dir(dir, sizeof(dir));
	snprintf(p1, sizeof(p1), "%s/a", dir);
	snprintf(p2, sizeof(p2), "%s/b", dir);
	snprintf(p3, sizeof(p3), "%s/sub", dir);
	CK_RC(io->ops->file_open(io, p1, AC_FO_READ, 0, &h), -ENOENT);
	CK_OK(io->ops->file_open(io, p1, AC_FO_WRITE | AC_FO_CREATE | AC_FO_EXCL, 0644, &h));
	ck_assert_int_eq(io->ops->file_pwrite(io, h, "0123456789", 10, 0), 10);
	ck_assert_int_eq(io->ops->file_pwrite(io, h, "ab", 2, 20), 2);
	CK_OK(io->ops->file_sync(io, h));
	CK_OK(io->ops->file_fstat(io, h, &st));
	ck_assert_int_eq(st.size, 22);
	ck_assert_int_eq(st.type, AC_FT_FILE);
	CK_RC(io->ops->close(io, h), -EBADF); /* file handles close with file_close */
	CK_OK(io->ops->file_close(io, h));
	CK_RC(io->ops->file_close(io, h), -EBADF);
	CK_RC(io->ops->file_open(io, p1, AC_FO_WRITE | AC_FO_CREATE | AC_FO_EXCL, 0644, &h),
	      -EEXIST);
	CK_OK(io->ops->file_open(io, p1, AC_FO_READ, 0, &h));
	ck_assert_int_eq(io->ops->file_pread(io, h, in, 4, 3), 4);
	ck_assert_int_eq(memcmp(in, "3456", 4), 0);
	ck_assert_int_eq(io->ops->file_pread(io, h, in, 16, 18), 4); /* short at the end */
	ck_assert_int_eq(memcmp(in, "\0\0ab", 4), 0);
	CK_RC(io->ops->file_pwrite(io, h, "x", 1, 0), -EBADF); /* read-only */
	CK_OK(io->ops->file_close(io, h));
	CK_OK(io->ops->file_rename(io, p1, p2));
	CK_RC(io->ops->file_stat(io, p1, 0, &st), -ENOENT);
	CK_OK(io->ops->file_set_meta(io, p2, 0600, mtime));
	CK_OK(io->ops->file_stat(io, p2, 0, &st));
	ck_assert_int_eq(st.mode, 0600);
	ck_assert_int_eq(st.mtime_ns, mtime);
	CK_OK(io->ops->file_set_meta(io, p2, 0640, -1)); /* time left alone */
	CK_OK(io->ops->file_stat(io, p2, 1, &st));
	ck_assert_int_eq(st.mode, 0640);
	ck_assert_int_eq(st.mtime_ns, mtime);
	ck_assert_int_eq(st.size, 22);
	CK_OK(io->ops->file_mkdir(io, p3, 0755));
	CK_RC(io->ops->file_mkdir(io, p3, 0755), -EEXIST);
	CK_OK(io->ops->file_stat(io, p3, 1, &st));
	ck_assert_int_eq(st.type, AC_FT_DIR);
	CK_RC(io->ops->file_unlink(io, p3), -EISDIR);
	CK_OK(io->ops->file_unlink(io, p2));
	CK_RC(io->ops->file_unlink(io, p2), -ENOENT);
	if (!IO.sim) { /* io.h has no rmdir */
		ck_assert_int_eq(rmdir(p3), 0);
		ck_assert_int_eq(rmdir(dir), 0);
	}
}

/* A loop test running io body io_NAME on epoll (_i = 0) and in the sim (1). */
#define IO_TEST(name)                                                          \
	START_TEST(test_io_##name)                                             \
	{                                                                      \
		io_open(_i);                                                   \
		io_##name();                                                   \
		io_close();                                                    \
	}                                                                      \
	END_TEST

IO_TEST(tcp_echo)
IO_TEST(tcp_eof)
IO_TEST(tcp_refused)
IO_TEST(bad_args)
IO_TEST(bad_ops)
IO_TEST(fifo)
IO_TEST(ready_order)
IO_TEST(close_cancels)
IO_TEST(close_in_callback)
IO_TEST(cancel)
IO_TEST(cancel_connect)
IO_TEST(short_read_then_more)
IO_TEST(large_send)
IO_TEST(udp)
IO_TEST(files)
IO_TEST(udp_broadcast)
IO_TEST(entropy)

/* ---- timeouts: the sweep ------------------------------------------------------------ */

/* Every blocking call of asyncoro.h, in a situation where it has to wait:
 * with a timeout of 0 it returns its timeout result at once (asyncoro.h:
 * "0 does not wait"); with a negative timeout (-5: any negative value
 * waits without limit) and with AC_FOREVER it waits until a helper
 * coroutine resolves the situation 20 ms later, and returns its success.
 * The network calls of dis.h are swept in check_net_msgs.c
 * (test_locate_zero) and check_files.c (test_zero_timeouts). */
typedef struct zsweep {
	ac_ref me, holder, target;
	int held;
	ac_lock lock;
	ac_rlock rlock;
	ac_cond cond;
	ac_event go, ev;
	ac_sem sem;
	ac_waitq wq;
	ac_ref chan;
	ac_addr laddr, uaddr;
	ac_sock *l, *cli, *srv, *acc, *extra, *u, *usend;
	void *msg;
} zsweep;

static zsweep ZS;

typedef struct zentry {
	const char *name;
	/* Make the call wait (NULL: it waits as it is). */
	void (*setup)(void);
	int64_t (*call)(int64_t timeout_ms);
	/* Run by the helper 20 ms into the wait: lets the call succeed. */
	void (*wake)(void);
	/* After each call, with its result: release, free, undo setup. */
	void (*undo)(int64_t rc);
	int64_t want_zero;
	int64_t want_woken;
} zentry;

/* Holds lock, rlock or the cond's lock (arg 0, 1, 2) until ZS.go is set. */
static void zs_holder(void *arg)
{
	intptr_t which = (intptr_t)arg;
	if (which == 0)
		CK_OK(ac_lock_acquire(&ZS.lock, 0));
	else if (which == 1)
		CK_OK(ac_rlock_acquire(&ZS.rlock, 0));
	else
		CK_OK(ac_cond_acquire(&ZS.cond, 0));
	ZS.held = 1;
	CK_OK(ac_event_wait(&ZS.go, AC_FOREVER));
	if (which == 0)
		CK_OK(ac_lock_release(&ZS.lock));
	else if (which == 1)
		CK_OK(ac_rlock_release(&ZS.rlock));
	else
		CK_OK(ac_cond_release(&ZS.cond));
	ZS.held = 0;
}

static void zs_hold(intptr_t which)
{
	CK_OK(ac_spawn(NULL, zs_holder, (void *)which, NULL, &ZS.holder));
	while (!ZS.held)
		CK_OK(ac_yield());
}

/* Let the holder go and wait until it ended. */
static void zs_unhold(void)
{
	ac_event_set(&ZS.go);
	while (ac_is_alive(ZS.holder) == 1)
		CK_OK(ac_sleep(1));
	ac_event_clear(&ZS.go);
}

static void zs_setup_lock(void) { zs_hold(0); }
static void zs_setup_rlock(void) { zs_hold(1); }
static void zs_setup_cond(void) { zs_hold(2); }
static void zs_wake_go(void) { ac_event_set(&ZS.go); }

static int64_t zs_lock(int64_t to) { return ac_lock_acquire(&ZS.lock, to); }
static int64_t zs_rlock(int64_t to) { return ac_rlock_acquire(&ZS.rlock, to); }
static int64_t zs_cond_acq(int64_t to) { return ac_cond_acquire(&ZS.cond, to); }

static void zs_undo_lock(int64_t rc)
{
	if (rc == 0)
		CK_OK(ac_lock_release(&ZS.lock));
	zs_unhold();
}

static void zs_undo_rlock(int64_t rc)
{
	if (rc == 0)
		CK_OK(ac_rlock_release(&ZS.rlock));
	zs_unhold();
}

static void zs_undo_cond_acq(int64_t rc)
{
	if (rc == 0)
		CK_OK(ac_cond_release(&ZS.cond));
	zs_unhold();
}

/* cond_wait: the caller holds the lock; the helper notifies. */
static void zs_setup_cond_wait(void) { CK_OK(ac_cond_acquire(&ZS.cond, 0)); }
static int64_t zs_cond_wait(int64_t to) { return ac_cond_wait(&ZS.cond, to); }

static void zs_wake_cond(void)
{
	CK_OK(ac_cond_acquire(&ZS.cond, AC_FOREVER));
	ck_assert_int_eq(ac_cond_notify(&ZS.cond, 1), 1);
	CK_OK(ac_cond_release(&ZS.cond));
}

static void zs_undo_cond_wait(int64_t rc)
{
	(void)rc;
	CK_OK(ac_cond_release(&ZS.cond)); /* held again either way */
}

static int64_t zs_event(int64_t to) { return ac_event_wait(&ZS.ev, to); }
static void zs_wake_event(void) { ac_event_set(&ZS.ev); }
static void zs_undo_event(int64_t rc) { (void)rc; ac_event_clear(&ZS.ev); }
static int64_t zs_sem(int64_t to) { return ac_sem_acquire(&ZS.sem, to); }
static void zs_wake_sem(void) { ac_sem_release(&ZS.sem); }
static int64_t zs_waitq(int64_t to) { return ac_waitq_wait(&ZS.wq, to); }
static void zs_wake_waitq(void)
{
	ck_assert_int_eq(ac_waitq_wake(&ZS.wq, 1, 5), 1);
}

/* Messages: "w" any, "c" category 1, "m" matched. */
static int zs_cat(const ac_msg *m, void *arg)
{
	(void)arg;
	return ac_msg_is(m, "c") ? 1 : 0;
}

static int zs_match(const ac_msg *m, void *arg)
{
	(void)arg;
	return ac_msg_is(m, "m");
}

static int64_t zs_got(int rc, ac_msg *m)
{
	if (rc == 0)
		ac_msg_free(m);
	return rc;
}

static int64_t zs_recv(int64_t to)
{
	ac_msg *m = NULL;
	int rc = ac_receive(to, &m);
	return zs_got(rc, m);
}

static int64_t zs_recv_cat(int64_t to)
{
	ac_msg *m = NULL;
	int rc = ac_receive_cat(1, to, &m);
	return zs_got(rc, m);
}

static int64_t zs_recv_match(int64_t to)
{
	ac_msg *m = NULL;
	int rc = ac_receive_match(zs_match, NULL, to, &m);
	return zs_got(rc, m);
}

static void zs_wake_w(void) { CK_OK(ac_send(ZS.me, ac_msg_str("w"))); }
static void zs_wake_c(void) { CK_OK(ac_send(ZS.me, ac_msg_str("c"))); }
static void zs_wake_m(void) { CK_OK(ac_send(ZS.me, ac_msg_str("m"))); }

static int64_t zs_suspend(int64_t to)
{
	intptr_t v = 0;
	int rc = ac_suspend(to, &v);
	ck_assert(rc < 0 || v == 7);
	return rc;
}

static void zs_wake_resume(void) { CK_OK(ac_resume(ZS.me, 7)); }

/* finish: a target that ends when ZS.go is set. */
static void zs_target(void *arg)
{
	(void)arg;
	CK_OK(ac_event_wait(&ZS.go, AC_FOREVER));
}

static void zs_setup_finish(void)
{
	CK_OK(ac_spawn(NULL, zs_target, NULL, NULL, &ZS.target));
}

static int64_t zs_finish(int64_t to) { return ac_finish(ZS.target, to, NULL); }

static void zs_undo_finish(int64_t rc)
{
	(void)rc;
	ZS.holder = ZS.target;
	zs_unhold();
}

/* chan_deliver with n = 1 to a channel without subscribers: 0 (nobody);
 * woken by the helper subscribing, which then takes its copy. */
static int64_t zs_chan(int64_t to)
{
	return ac_chan_deliver(ZS.chan, ac_msg_str("d"), to, 1);
}

static void zs_wake_chan(void)
{
	ac_msg *m;
	CK_OK(ac_chan_subscribe(ZS.chan, ac_self(), 0));
	CK_OK(ac_receive(5000, &m));
	ac_msg_free(m);
	CK_OK(ac_chan_unsubscribe(ZS.chan, ac_self(), 0));
}

/* Sockets: a listener, a connected pair (cli → srv), a UDP pair. */
static void zs_acceptor(void *arg)
{
	(void)arg;
	CK_OK(ac_sock_accept(ZS.l, 5000, &ZS.srv));
}

static void zs_socks(conform *c)
{
	ac_ref r;
	ZS.l = conform_listen(c, &ZS.laddr);
	CK_OK(ac_spawn(NULL, zs_acceptor, NULL, NULL, &r));
	CK_OK(ac_sock_connect(&ZS.laddr, 5000, &ZS.cli));
	while (!ZS.srv) /* the acceptor may have ended already */
		CK_OK(ac_sleep(1));
	CK_OK(ac_sock_udp(NULL, &c->host, 0, &ZS.u));
	CK_OK(ac_sock_local_addr(ZS.u, &ZS.uaddr));
	CK_OK(ac_sock_udp(NULL, &c->host, 0, &ZS.usend));
}

static void zs_socks_close(void)
{
	ac_sock_close(ZS.cli);
	ac_sock_close(ZS.srv);
	ac_sock_close(ZS.l);
	ac_sock_close(ZS.u);
	ac_sock_close(ZS.usend);
}

static int64_t zs_accept(int64_t to)
{
	return ac_sock_accept(ZS.l, to, &ZS.acc);
}

static void zs_wake_connect(void)
{
	CK_OK(ac_sock_connect(&ZS.laddr, 5000, &ZS.extra));
}

static void zs_undo_accept(int64_t rc)
{
	if (rc == 0)
		ac_sock_close(ZS.acc);
	if (ZS.extra)
		ac_sock_close(ZS.extra);
	ZS.acc = ZS.extra = NULL;
}

static int64_t zs_recv1(int64_t to)
{
	char b[4];
	return ac_sock_recv(ZS.srv, b, 1, to);
}

static int64_t zs_recv_all(int64_t to)
{
	char b[4];
	return ac_sock_recv_all(ZS.srv, b, 2, to);
}

static int64_t zs_recv_line(int64_t to)
{
	char b[16];
	return ac_sock_recv_line(ZS.srv, b, sizeof(b), to);
}

static int64_t zs_recv_msg(int64_t to)
{
	size_t len = 0;
	int rc = ac_sock_recv_msg(ZS.srv, &ZS.msg, &len, 100, to);
	if (rc == 1)
		free(ZS.msg);
	ZS.msg = NULL;
	return rc;
}

static int64_t zs_recvfrom(int64_t to)
{
	char b[16];
	ac_addr from;
	return ac_sock_recvfrom(ZS.u, b, sizeof(b), &from, to);
}

static void zs_wake_x(void)
{
	ck_assert_int_eq(ac_sock_send_all(ZS.cli, "x", 1, 5000), 1);
}

static void zs_wake_xy(void)
{
	ck_assert_int_eq(ac_sock_send_all(ZS.cli, "xy", 2, 5000), 2);
}

static void zs_wake_line(void)
{
	ck_assert_int_eq(ac_sock_send_all(ZS.cli, "ab\n", 3, 5000), 3);
}

static void zs_wake_msg(void) { CK_OK(ac_sock_send_msg(ZS.cli, "q", 1, 5000)); }

static void zs_wake_udp(void)
{
	ck_assert_int_eq(ac_sock_sendto(ZS.usend, "u", 1, &ZS.uaddr, 5000), 1);
}

static const zentry zs_table[] = {
	{"lock_acquire", zs_setup_lock, zs_lock, zs_wake_go, zs_undo_lock, -ETIMEDOUT, 0},
	{"rlock_acquire", zs_setup_rlock, zs_rlock, zs_wake_go, zs_undo_rlock, -ETIMEDOUT, 0},
	{"cond_acquire", zs_setup_cond, zs_cond_acq, zs_wake_go, zs_undo_cond_acq, -ETIMEDOUT,
	 0},
	{"cond_wait", zs_setup_cond_wait, zs_cond_wait, zs_wake_cond, zs_undo_cond_wait,
	 -ETIMEDOUT, 0},
	{"event_wait", NULL, zs_event, zs_wake_event, zs_undo_event, -ETIMEDOUT, 0},
	{"sem_acquire", NULL, zs_sem, zs_wake_sem, NULL, -ETIMEDOUT, 0},
	{"waitq_wait", NULL, zs_waitq, zs_wake_waitq, NULL, -ETIMEDOUT, 5},
	{"receive", NULL, zs_recv, zs_wake_w, NULL, -ETIMEDOUT, 0},
	{"receive_cat", NULL, zs_recv_cat, zs_wake_c, NULL, -ETIMEDOUT, 0},
	{"receive_match", NULL, zs_recv_match, zs_wake_m, NULL, -ETIMEDOUT, 0},
	{"suspend", NULL, zs_suspend, zs_wake_resume, NULL, -ETIMEDOUT, 0},
	{"finish", zs_setup_finish, zs_finish, zs_wake_go, zs_undo_finish, -ETIMEDOUT, 0},
	{"chan_deliver", NULL, zs_chan, zs_wake_chan, NULL, 0, 1},
	{"sock_accept", NULL, zs_accept, zs_wake_connect, zs_undo_accept, -ETIMEDOUT, 0},
	{"sock_recv", NULL, zs_recv1, zs_wake_x, NULL, -ETIMEDOUT, 1},
	{"sock_recv_all", NULL, zs_recv_all, zs_wake_xy, NULL, -ETIMEDOUT, 2},
	{"sock_recv_line", NULL, zs_recv_line, zs_wake_line, NULL, -ETIMEDOUT, 3},
	{"sock_recv_msg", NULL, zs_recv_msg, zs_wake_msg, NULL, -ETIMEDOUT, 1},
	{"sock_recvfrom", NULL, zs_recvfrom, zs_wake_udp, NULL, -ETIMEDOUT, 1},
};

/* The helper: 20 ms into the wait, resolve it. */
static void zs_waker(void *arg)
{
	const zentry *e = arg;
	CK_OK(ac_sleep(20));
	e->wake();
}

/* One call of entry e with timeout to: its result must be want. */
static void zs_try(const zentry *e, int64_t to, int64_t want)
{
	ac_ref w = ac_ref_null();
	int64_t rc;
	if (e->setup)
		e->setup();
	if (to != 0)
		CK_OK(ac_spawn(NULL, zs_waker, (void *)e, NULL, &w));
	rc = e->call(to);
	ck_assert_msg(rc == want, "%s(timeout %lld): %lld (%s), want %lld", e->name,
	              (long long)to, (long long)rc, ac_strerror((int)rc), (long long)want);
	if (to != 0)
		while (ac_is_alive(w) == 1)
			CK_OK(ac_sleep(1));
	if (e->undo)
		e->undo(rc);
}

static void body_timeout_sweep(conform *c)
{
	size_t i;
	memset(&ZS, 0, sizeof(ZS));
	ZS.me = ac_self();
	ac_lock_init(&ZS.lock);
	ac_rlock_init(&ZS.rlock);
	ac_cond_init(&ZS.cond);
	ac_event_init(&ZS.go);
	ac_event_init(&ZS.ev);
	ac_sem_init(&ZS.sem, 0);
	ac_waitq_init(&ZS.wq);
	CK_OK(ac_chan_new(NULL, "sweep", &ZS.chan));
	CK_OK(ac_set_categorizer(zs_cat, NULL));
	zs_socks(c);
	for (i = 0; i < sizeof(zs_table) / sizeof(zs_table[0]); i++) {
		zs_try(&zs_table[i], 0, zs_table[i].want_zero);
		zs_try(&zs_table[i], -5, zs_table[i].want_woken);
		zs_try(&zs_table[i], AC_FOREVER, zs_table[i].want_woken);
	}
	/* ac_sleep is the exception: a negative time is -EINVAL */
	CK_RC(ac_sleep(-5), -EINVAL);
	CK_RC(ac_sleep(AC_FOREVER), -EINVAL);
	CK_OK(ac_sleep(0));
	zs_socks_close();
	CK_OK(ac_chan_close(ZS.chan));
	ck_assert_uint_eq(ac_queue_len(), 0);
}

START_TEST(test_timeout_sweep)
{
	ck_assert(conform_go(body_timeout_sweep, _i));
}
END_TEST

static Suite *conform_suite(void)
{
	Suite *s = suite_create("conform");
	TCase *tc = tcase_create("backends");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_tcp_echo, 0, CF_N);
	tcase_add_loop_test(tc, test_refused, 0, CF_N);
	tcase_add_loop_test(tc, test_timeouts, 0, CF_N);
	tcase_add_loop_test(tc, test_messages, 0, CF_N);
	tcase_add_loop_test(tc, test_udp, 0, CF_N);
	tcase_add_loop_test(tc, test_close_wakes, 0, CF_N);
	tcase_add_loop_test(tc, test_sleep, 0, CF_N);
	tcase_add_loop_test(tc, test_cancel_send, 0, CF_N);
	tcase_add_loop_test(tc, test_timeout_sweep, 0, CF_N);
	suite_add_tcase(s, tc);
	tc = tcase_create("io");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_io_tcp_echo, 0, 2);
	tcase_add_loop_test(tc, test_io_tcp_eof, 0, 2);
	tcase_add_loop_test(tc, test_io_tcp_refused, 0, 2);
	tcase_add_loop_test(tc, test_io_bad_args, 0, 2);
	tcase_add_loop_test(tc, test_io_bad_ops, 0, 2);
	tcase_add_loop_test(tc, test_io_fifo, 0, 2);
	tcase_add_loop_test(tc, test_io_ready_order, 0, 2);
	tcase_add_loop_test(tc, test_io_close_cancels, 0, 2);
	tcase_add_loop_test(tc, test_io_close_in_callback, 0, 2);
	tcase_add_loop_test(tc, test_io_cancel, 0, 2);
	tcase_add_loop_test(tc, test_io_cancel_connect, 0, 2);
	tcase_add_loop_test(tc, test_io_short_read_then_more, 0, 2);
	tcase_add_loop_test(tc, test_io_large_send, 0, 2);
	tcase_add_loop_test(tc, test_io_udp, 0, 2);
	tcase_add_loop_test(tc, test_io_files, 0, 2);
	tcase_add_loop_test(tc, test_io_udp_broadcast, 0, 2);
	tcase_add_loop_test(tc, test_io_entropy, 0, 2);
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
