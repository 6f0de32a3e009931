/* tests/check_conform.c: the conformance suite — the same test bodies run on
 * the epoll backend over 127.0.0.1 and on the simulator (a simulated node
 * with address 10.0.0.1), and must pass on both. A behaviour that differs
 * between them is a bug in one of the backends. Each test is a loop test
 * over four configurations: _i = 0 runs it on epoll, 1 in the simulated
 * world, 2 and 3 the same with the recorder wrapped around the backend
 * (asyncoro/record.h) — after which the record is replayed (the body runs
 * again against it) and must reach its end with the recorded hash. */
#include "tests/testutil.h"

#include <stdio.h>
#include <unistd.h>

#include <asyncoro/record.h>
#include <asyncoro/sim.h>

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
	CK_PASS(ac_spawn(ac_sim_node_sched(node), conform_coro, r, NULL, NULL));
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
	CK_PASS(ac_sched_new(&o, &s));
	CK_PASS(ac_addr_parse(&r->c.host, "127.0.0.1", 0));
	r->c.real = 1;
	CK_PASS(ac_spawn(s, conform_coro, r, NULL, NULL));
	CK_PASS(ac_sched_run(s));
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
	CK_PASS(ac_sim_new(&o, &w));
	CK_PASS(ac_sim_node_add(w, "host", &n));
	CK_PASS(ac_sim_node_set_main(n, conform_sim_main, r));
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
	CK_PASS(ac_io_replay_new(path, &rp));
	if (!sim) {
		conform_epoll(r, rp);
	} else {
		ac_sched_opts_init(&so);
		so.io = rp;
		so.name = "host";
		CK_PASS(ac_sched_new(&so, &s));
		ac_sched_step(s);
		CK_PASS(ac_addr_parse(&r->c.host, "10.0.0.1", 0));
		CK_PASS(ac_spawn(s, conform_coro, r, NULL, NULL));
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
	CK_PASS(ac_io_epoll_new(&ep));
	CK_PASS(ac_io_record_new(ep, path, &rec));
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
	CK_PASS(ac_sock_listen(NULL, &c->host, 8, 0, &l));
	CK_PASS(ac_sock_local_addr(l, addr));
	ck_assert_uint_ne(addr->port, 0);
	return l;
}

/* ---- bodies --------------------------------------------------------------------- */

static void echo_server(void *arg)
{
	ac_sock *l = arg, *k;
	char buf[5];
	CK_PASS(ac_sock_accept(l, 5000, &k));
	ck_assert_int_eq(ac_sock_recv_all(k, buf, 5, 5000), 5);
	ck_assert_int_eq(ac_sock_send_all(k, buf, 5, 5000), 5);
	CK_PASS(ac_sock_shutdown(k));
	ck_assert_int_eq(ac_sock_recv(k, buf, 5, 5000), 0); /* client's end */
	ac_sock_close(k);
}

static void body_tcp_echo(conform *c)
{
	ac_addr a;
	ac_sock *l = conform_listen(c, &a), *k;
	ac_ref srv;
	char buf[8];
	CK_PASS(ac_spawn(NULL, echo_server, l, NULL, &srv));
	CK_PASS(ac_sock_connect(&a, 5000, &k));
	ck_assert_int_eq(ac_sock_send_all(k, "hello", 5, 5000), 5);
	ck_assert_int_eq(ac_sock_recv_all(k, buf, 5, 5000), 5);
	ck_assert(memcmp(buf, "hello", 5) == 0);
	ck_assert_int_eq(ac_sock_recv(k, buf, sizeof(buf), 5000), 0); /* EOF */
	CK_PASS(ac_sock_shutdown(k));
	CK_PASS(ac_finish(srv, 5000, NULL));
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
	CK_FAIL(ac_sock_connect(&a, 5000, &k), -ECONNREFUSED);
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
	CK_PASS(ac_sock_accept(l, 5000, &k));
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
	CK_FAIL(ac_sock_accept(l, 50, &none), -ETIMEDOUT);
	ck_assert_int_ge(ac_sched_now_ns(s) - t0, 50000000);
	CK_PASS(ac_spawn(NULL, idle_server, l, NULL, &srv));
	CK_PASS(ac_sock_connect(&a, 5000, &k));
	t0 = ac_sched_now_ns(s);
	CK_FAIL(ac_sock_recv(k, &b, 1, 100), -ETIMEDOUT);
	ck_assert_int_ge(ac_sched_now_ns(s) - t0, 100000000);
	ac_sock_close(k);
	CK_PASS(ac_finish(srv, 5000, NULL));
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
	CK_PASS(ac_sock_accept(l, 5000, &k));
	while (ac_sock_recv_msg(k, &buf, &len, 1 << 20, 5000) == 1) {
		CK_PASS(ac_sock_send_msg(k, buf, len, 5000));
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
	CK_PASS(ac_spawn(NULL, msg_server, l, NULL, &srv));
	CK_PASS(ac_sock_connect(&a, 5000, &k));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		CK_PASS(ac_sock_send_msg(k, big, sizes[i], 5000));
		ck_assert_int_eq(ac_sock_recv_msg(k, &buf, &len, 1 << 20, 5000), 1);
		ck_assert_uint_eq(len, sizes[i]);
		ck_assert(len == 0 || memcmp(buf, big, len) == 0);
		free(buf);
	}
	CK_PASS(ac_sock_send_msg(k, big, 10, 5000));
	CK_FAIL(ac_sock_recv_msg(k, &buf, &len, 5, 5000), -EMSGSIZE);
	ac_sock_close(k);
	CK_PASS(ac_finish(srv, 5000, NULL));
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
	CK_PASS(ac_sock_udp(NULL, &c->host, 0, &u1));
	CK_PASS(ac_sock_udp(NULL, &c->host, 0, &u2));
	CK_PASS(ac_sock_local_addr(u1, &a1));
	CK_PASS(ac_sock_local_addr(u2, &a2));
	ck_assert_int_eq(ac_sock_sendto(u1, "ping", 4, &a2, 1000), 4);
	ck_assert_int_eq(ac_sock_recvfrom(u2, buf, sizeof(buf), &from, 5000), 4);
	ck_assert(memcmp(buf, "ping", 4) == 0);
	ck_assert(ac_addr_eq(&from, &a1));
	CK_FAIL(ac_sock_recvfrom(u2, buf, sizeof(buf), &from, 50), -ETIMEDOUT);
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
	CK_PASS(ac_sock_connect(&a, 5000, &cc.k));
	CK_PASS(ac_sock_accept(l, 5000, &srv));
	CK_PASS(ac_spawn(NULL, blocked_reader, &cc, NULL, &r));
	CK_PASS(ac_sleep(10));
	ac_sock_close(cc.k);
	CK_PASS(ac_finish(r, 5000, NULL));
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
	CK_PASS(ac_sleep(250));
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
		CK_PASS(ac_sleep(1));
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
		CK_PASS(n);
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
	CK_PASS(o->tcp_listen(io, &c->host, 8, 0, &hl));
	CK_PASS(o->local_addr(io, hl, &a));
	raw_init(&con, NULL, 0);
	con.op.addr = a;
	raw_init(&acc, NULL, 0);
	hc = (int)raw_wait(&con, o->connect(io, &con.op));
	CK_PASS(hc);
	hs = (int)raw_wait(&acc, o->accept(io, hl, &acc.op));
	CK_PASS(hs);
	/* Nobody reads: on epoll the socket buffers fill and the send waits. */
	raw_init(&snd, buf, big);
	rc = o->send(io, hc, &snd.op);
	CK_PASS(rc);
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
	CK_PASS(o->close(io, hc));
	ck_assert_int_eq(raw_drain(io, hs, buf, big), written);
	CK_PASS(o->close(io, hs));
	CK_PASS(o->close(io, hl));
	free(buf);
}

START_TEST(test_cancel_send)
{
	ck_assert(conform_go(body_cancel_send, _i));
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
