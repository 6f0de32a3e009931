/* tests/check_sock.c: coroutine sockets (engine/sock.c) over the real epoll
 * backend, on 127.0.0.1 only — listening on port 0, connect/accept, exact
 * reads and writes up to 4 MiB, end of stream before and inside a read,
 * timeouts that lose no data, refused connections, length-prefixed
 * messages, line reads (CR LF, a last unended line, lines too long), UDP,
 * attached pipes, closing a socket under a blocked reader, terminating a
 * blocked reader, misuse from outside a coroutine, and name resolution of
 * "localhost", and fairness: a reader whose data is always there still
 * lets the others run, and can be terminated or closed while it does.
 *
 * Every socket a test opens is closed by it, so the leak checkers (valgrind,
 * ASan) see any ac_sock the engine fails to release.
 */
#include "tests/testutil.h"

#include <stdio.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------- */

/* Generous timeout for operations that must succeed. */
#define LONG_MS 10000

static ac_addr lo_addr(uint16_t port)
{
	ac_addr a;
	CK_OK(ac_addr_parse(&a, "127.0.0.1", port));
	return a;
}

/* A listener on 127.0.0.1, port chosen by the system; *bound gets it. */
static ac_sock *listen_lo(ac_addr *bound)
{
	ac_addr a = lo_addr(0);
	ac_sock *l = NULL;
	CK_OK(ac_sock_listen(NULL, &a, 16, 0, &l));
	ck_assert_ptr_nonnull(l);
	CK_OK(ac_sock_local_addr(l, bound));
	ck_assert_int_eq(bound->family, AC_AF_INET);
	ck_assert_uint_ne(bound->port, 0);
	ck_assert(ac_addr_is_loopback(bound));
	return l;
}

/* A connected TCP pair over loopback. */
static void tcp_pair(ac_sock **cli, ac_sock **srv)
{
	ac_addr a;
	ac_sock *l = listen_lo(&a);
	CK_OK(ac_sock_connect(&a, LONG_MS, cli));
	CK_OK(ac_sock_accept(l, LONG_MS, srv));
	ac_sock_close(l);
}

/* One side of a transfer, run as a coroutine. */
typedef struct side {
	ac_sock *k;
	const void *buf;
	size_t len;
	/* Pause before sending, ms. */
	int64_t delay_ms;
	/* 1: shut down after sending; 2: close after sending. */
	int end;
	/* Result of the call; 99 until it returned. */
	ssize_t rc;
} side;

static void side_init(side *sd, ac_sock *k, const void *buf, size_t len,
                      int end)
{
	memset(sd, 0, sizeof(*sd));
	sd->k = k;
	sd->buf = buf;
	sd->len = len;
	sd->end = end;
	sd->rc = 99;
}

static void side_end(side *sd)
{
	if (sd->end == 1)
		CK_OK(ac_sock_shutdown(sd->k));
	else if (sd->end == 2)
		ac_sock_close(sd->k);
}

static void body_send_all(void *arg)
{
	side *sd = arg;
	if (sd->delay_ms)
		CK_OK(ac_sleep(sd->delay_ms));
	sd->rc = ac_sock_send_all(sd->k, sd->buf, sd->len, LONG_MS);
	side_end(sd);
}

static void body_send_msg(void *arg)
{
	side *sd = arg;
	/* buf holds the messages back to back, lengths in `lens` */
	const size_t *lens = (const size_t *)sd->buf;
	const char *p = (const char *)(lens + sd->len);
	size_t i;
	for (i = 0; i < sd->len; i++) {
		sd->rc = ac_sock_send_msg(sd->k, p, lens[i], LONG_MS);
		if (sd->rc < 0)
			break;
		p += lens[i];
	}
	side_end(sd);
}

/* ---- connect, accept, addresses ------------------------------------------ */

static void body_connect_accept(void *arg)
{
	int *done = arg;
	ac_addr la, ca, sa, cp, sp;
	ac_sock *l, *cli, *srv;
	char buf[8];
	l = listen_lo(&la);
	CK_OK(ac_sock_connect(&la, LONG_MS, &cli));
	CK_OK(ac_sock_accept(l, LONG_MS, &srv));
	CK_OK(ac_sock_local_addr(cli, &ca));
	CK_OK(ac_sock_peer_addr(cli, &cp));
	CK_OK(ac_sock_local_addr(srv, &sa));
	CK_OK(ac_sock_peer_addr(srv, &sp));
	ck_assert(ac_addr_eq(&cp, &la)); /* the client reached the listener */
	ck_assert(ac_addr_eq(&sp, &ca)); /* the server sees the client */
	ck_assert(ac_addr_eq(&sa, &la));
	ck_assert(ac_addr_is_loopback(&ca));
	CK_RC(ac_sock_peer_addr(l, &cp), -ENOTCONN);
	ck_assert_int_eq(ac_sock_send_all(cli, "ping", 4, LONG_MS), 4);
	ck_assert_int_eq(ac_sock_recv_all(srv, buf, 4, LONG_MS), 4);
	ck_assert(memcmp(buf, "ping", 4) == 0);
	ck_assert_int_eq(ac_sock_send_all(srv, "pong", 4, LONG_MS), 4);
	ck_assert_int_eq(ac_sock_recv_all(cli, buf, 4, LONG_MS), 4);
	ck_assert(memcmp(buf, "pong", 4) == 0);
	ck_assert_int_eq(ac_sock_send_all(cli, "", 0, LONG_MS), 0);
	ac_sock_close(cli);
	ac_sock_close(srv);
	ac_sock_close(l);
	ac_sock_close(NULL); /* harmless */
	*done = 1;
}

START_TEST(test_connect_accept)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_connect_accept, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- exact reads and writes ---------------------------------------------- */

static void body_exact(void *arg)
{
	int *done = arg;
	enum { BIG = 4 << 20 };
	ac_sock *cli, *srv;
	unsigned char *out = malloc(BIG), *in = malloc(BIG);
	char small[16];
	side sd;
	ac_ref r;
	size_t i, got;
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(in);
	for (i = 0; i < BIG; i++)
		out[i] = (unsigned char)(i * 7 + (i >> 13));
	tcp_pair(&cli, &srv);
	/* recv gives 1..len bytes: gather 10 with reads of at most 3 */
	ck_assert_int_eq(ac_sock_send_all(cli, "0123456789", 10, LONG_MS), 10);
	for (got = 0; got < 10;) {
		ssize_t n = ac_sock_recv(srv, small + got,
		                         10 - got < 3 ? 10 - got : 3, LONG_MS);
		ck_assert_int_ge(n, 1);
		ck_assert_int_le(n, 3);
		got += (size_t)n;
	}
	ck_assert(memcmp(small, "0123456789", 10) == 0);
	/* 4 MiB in one call each way, sender and receiver concurrent */
	side_init(&sd, cli, out, BIG, 1);
	CK_OK(ac_spawn(NULL, body_send_all, &sd, NULL, &r));
	memset(in, 0, BIG);
	ck_assert_int_eq(ac_sock_recv_all(srv, in, BIG, 20000), BIG);
	test_join(r);
	ck_assert_int_eq(sd.rc, BIG);
	ck_assert(memcmp(in, out, BIG) == 0);
	/* then the clean end of stream */
	ck_assert_int_eq(ac_sock_recv_all(srv, small, 1, LONG_MS), 0);
	ck_assert_int_eq(ac_sock_recv(srv, small, 1, LONG_MS), 0);
	/* and the other direction still works after our shutdown */
	side_init(&sd, srv, out, BIG, 0);
	CK_OK(ac_spawn(NULL, body_send_all, &sd, NULL, &r));
	ck_assert_int_eq(ac_sock_recv_all(cli, in, BIG, 20000), BIG);
	test_join(r);
	ck_assert(memcmp(in, out, BIG) == 0);
	ac_sock_close(cli);
	ac_sock_close(srv);
	free(out);
	free(in);
	*done = 1;
}

START_TEST(test_send_recv_exact)
{
	int done = 0;
	/* The body and its two senders. */
	ck_assert_uint_eq(test_run(body_exact, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_eof(void *arg)
{
	int *done = arg;
	ac_sock *cli, *srv;
	char buf[16];
	/* clean end before the first byte */
	tcp_pair(&cli, &srv);
	CK_OK(ac_sock_shutdown(cli));
	ck_assert_int_eq(ac_sock_recv_all(srv, buf, 10, LONG_MS), 0);
	ac_sock_close(cli);
	ac_sock_close(srv);
	/* the stream ends in the middle of the read */
	tcp_pair(&cli, &srv);
	ck_assert_int_eq(ac_sock_send_all(cli, "abc", 3, LONG_MS), 3);
	ac_sock_close(cli);
	CK_RC(ac_sock_recv_all(srv, buf, 10, LONG_MS), -EPIPE);
	ac_sock_close(srv);
	/* exactly the bytes there are, then the end */
	tcp_pair(&cli, &srv);
	ck_assert_int_eq(ac_sock_send_all(cli, "abc", 3, LONG_MS), 3);
	ac_sock_close(cli);
	ck_assert_int_eq(ac_sock_recv_all(srv, buf, 3, LONG_MS), 3);
	ck_assert_int_eq(ac_sock_recv_all(srv, buf, 3, LONG_MS), 0);
	ac_sock_close(srv);
	*done = 1;
}

START_TEST(test_recv_all_end_of_stream)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_eof, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- timeouts ------------------------------------------------------------ */

static void body_recv_timeout(void *arg)
{
	int *done = arg;
	ac_sock *cli, *srv;
	char buf[16];
	int64_t t0;
	side sd;
	ac_ref r;
	tcp_pair(&cli, &srv);
	t0 = test_now_ms();
	CK_RC(ac_sock_recv(srv, buf, sizeof(buf), 50), -ETIMEDOUT);
	ck_assert_int_ge(test_now_ms() - t0, 45);
	CK_RC(ac_sock_recv(srv, buf, sizeof(buf), 0), -ETIMEDOUT);
	/* a recv that timed out took nothing: later bytes all arrive */
	ck_assert_int_eq(ac_sock_send_all(cli, "x", 1, LONG_MS), 1);
	ck_assert_int_eq(ac_sock_recv(srv, buf, sizeof(buf), LONG_MS), 1);
	ck_assert_int_eq(buf[0], 'x');
	/* data arriving during a long wait ends it */
	side_init(&sd, cli, "late", 4, 0);
	sd.delay_ms = 30;
	CK_OK(ac_spawn(NULL, body_send_all, &sd, NULL, &r));
	ck_assert_int_eq(ac_sock_recv_all(srv, buf, 4, LONG_MS), 4);
	ck_assert(memcmp(buf, "late", 4) == 0);
	test_join(r);
	/* recv_all that times out midway: the socket is unusable after */
	ck_assert_int_eq(ac_sock_send_all(cli, "abc", 3, LONG_MS), 3);
	CK_RC(ac_sock_recv_all(srv, buf, 10, 50), -ETIMEDOUT);
	ck_assert_int_lt(ac_sock_recv(srv, buf, sizeof(buf), 50), 0);
	ac_sock_close(cli);
	ac_sock_close(srv);
	*done = 1;
}

START_TEST(test_recv_timeout)
{
	int done = 0;
	/* The body and its late sender. */
	ck_assert_uint_eq(test_run(body_recv_timeout, &done), 2);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_accept_timeout(void *arg)
{
	int *done = arg;
	ac_addr a;
	ac_sock *l = listen_lo(&a), *cli, *srv = NULL;
	int64_t t0 = test_now_ms();
	CK_RC(ac_sock_accept(l, 50, &srv), -ETIMEDOUT);
	ck_assert_int_ge(test_now_ms() - t0, 45);
	ck_assert_ptr_null(srv);
	CK_RC(ac_sock_accept(l, 0, &srv), -ETIMEDOUT);
	/* the listener still works */
	CK_OK(ac_sock_connect(&a, LONG_MS, &cli));
	CK_OK(ac_sock_accept(l, LONG_MS, &srv));
	ac_sock_close(cli);
	ac_sock_close(srv);
	ac_sock_close(l);
	*done = 1;
}

START_TEST(test_accept_timeout)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_accept_timeout, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_refused(void *arg)
{
	int *done = arg;
	ac_addr a;
	ac_sock *l = listen_lo(&a), *cli = NULL;
	ac_sock_close(l); /* nobody listens on a's port any more */
	CK_RC(ac_sock_connect(&a, LONG_MS, &cli), -ECONNREFUSED);
	ck_assert_ptr_null(cli);
	CK_RC(ac_sock_connect(NULL, LONG_MS, &cli), -EINVAL);
	CK_RC(ac_sock_connect(&a, LONG_MS, NULL), -EINVAL);
	*done = 1;
}

START_TEST(test_connect_refused)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_refused, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- length-prefixed messages -------------------------------------------- */

static void body_msgs(void *arg)
{
	int *done = arg;
	enum { BIG = 100000 };
	ac_sock *cli, *srv;
	size_t *lens = malloc(3 * sizeof(size_t) + 5 + BIG);
	char *p = (char *)(lens + 3);
	void *out = NULL;
	size_t len = 0, i;
	side sd;
	ac_ref r;
	lens[0] = 5;
	lens[1] = 0;
	lens[2] = BIG;
	memcpy(p, "hello", 5);
	for (i = 0; i < BIG; i++)
		p[5 + i] = (char)(i % 251);
	tcp_pair(&cli, &srv);
	side_init(&sd, cli, lens, 3, 1); /* three messages, then shutdown */
	CK_OK(ac_spawn(NULL, body_send_msg, &sd, NULL, &r));
	ck_assert_int_eq(ac_sock_recv_msg(srv, &out, &len, BIG, LONG_MS), 1);
	ck_assert_uint_eq(len, 5);
	ck_assert(memcmp(out, "hello", 5) == 0);
	free(out);
	out = NULL;
	ck_assert_int_eq(ac_sock_recv_msg(srv, &out, &len, BIG, LONG_MS), 1);
	ck_assert_uint_eq(len, 0); /* zero-length message */
	ck_assert_ptr_nonnull(out);
	free(out);
	ck_assert_int_eq(ac_sock_recv_msg(srv, &out, &len, BIG, LONG_MS), 1);
	ck_assert_uint_eq(len, BIG); /* exactly max is allowed */
	ck_assert(memcmp(out, p + 5, BIG) == 0);
	free(out);
	/* clean end between messages */
	out = NULL;
	ck_assert_int_eq(ac_sock_recv_msg(srv, &out, &len, BIG, LONG_MS), 0);
	ck_assert_ptr_null(out);
	test_join(r);
	ck_assert_int_eq(sd.rc, 0);
	CK_RC(ac_sock_recv_msg(srv, NULL, &len, BIG, LONG_MS), -EINVAL);
	ac_sock_close(cli);
	ac_sock_close(srv);
	free(lens);
	*done = 1;
}

START_TEST(test_msg_round_trip)
{
	int done = 0;
	/* The body and its sender. */
	ck_assert_uint_eq(test_run(body_msgs, &done), 2);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* What a timeout leaves (asyncoro.h): a read that timed out before its
 * first byte took nothing and the socket stays usable; one that timed out
 * inside its data or message broke the socket: -EPIPE from then on. */
static void check_broken(ac_sock *k)
{
	char buf[8];
	void *out = NULL;
	size_t len = 0;
	CK_RC(ac_sock_recv(k, buf, sizeof(buf), 50), -EPIPE);
	CK_RC(ac_sock_recv_all(k, buf, 2, 50), -EPIPE);
	CK_RC(ac_sock_recv_line(k, buf, sizeof(buf), 50), -EPIPE);
	CK_RC(ac_sock_recv_msg(k, &out, &len, 100, 50), -EPIPE);
	CK_RC(ac_sock_send_all(k, "z", 1, 50), -EPIPE);
	ck_assert_ptr_null(out);
}

static void body_timeout_state(void *arg)
{
	static const unsigned char hdr4[] = {0, 0, 0, 4};
	int *done = arg;
	ac_sock *cli, *srv;
	char buf[16];
	void *out = NULL;
	size_t len = 0;
	int64_t to;
	tcp_pair(&cli, &srv);
	/* nothing came: recv_all and recv_msg (timeouts 50 and 0) take nothing */
	for (to = 50; to >= 0; to -= 50) {
		CK_RC(ac_sock_recv_all(srv, buf, 4, to), -ETIMEDOUT);
		CK_RC(ac_sock_recv_msg(srv, &out, &len, 100, to), -ETIMEDOUT);
	}
	ck_assert_int_eq(ac_sock_send_all(cli, "wxyz", 4, LONG_MS), 4);
	ck_assert_int_eq(ac_sock_recv_all(srv, buf, 4, LONG_MS), 4);
	ck_assert(memcmp(buf, "wxyz", 4) == 0);
	CK_OK(ac_sock_send_msg(cli, "msg", 3, LONG_MS));
	CK_RC(ac_sock_recv_msg(srv, &out, &len, 100, LONG_MS), 1);
	ck_assert(len == 3 && memcmp(out, "msg", 3) == 0);
	free(out);
	out = NULL;
	ck_assert_int_eq(ac_sock_send_all(srv, "ok", 2, LONG_MS), 2);
	ck_assert_int_eq(ac_sock_recv_all(cli, buf, 2, LONG_MS), 2);
	/* recv_all times out inside its data: broken */
	ck_assert_int_eq(ac_sock_send_all(cli, "abc", 3, LONG_MS), 3);
	CK_RC(ac_sock_recv_all(srv, buf, 10, 50), -ETIMEDOUT);
	ck_assert_int_eq(ac_sock_send_all(cli, "defghijk", 8, LONG_MS), 8);
	check_broken(srv);
	ac_sock_close(cli);
	ac_sock_close(srv);
	/* recv_msg times out after the length, before the body: broken */
	tcp_pair(&cli, &srv);
	ck_assert_int_eq(ac_sock_send_all(cli, hdr4, sizeof(hdr4), LONG_MS), 4);
	CK_RC(ac_sock_recv_msg(srv, &out, &len, 100, 50), -ETIMEDOUT);
	ck_assert_int_eq(ac_sock_send_all(cli, "abcd", 4, LONG_MS), 4);
	check_broken(srv);
	ac_sock_close(cli);
	ac_sock_close(srv);
	*done = 1;
}

START_TEST(test_timeout_state)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_timeout_state, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_msg_errors(void *arg)
{
	int *done = arg;
	static const unsigned char hdr10[] = {0, 0, 0, 10, 'a', 'b', 'c'};
	ac_sock *cli, *srv;
	void *out = NULL;
	size_t len = 0;
	/* longer than max */
	tcp_pair(&cli, &srv);
	CK_OK(ac_sock_send_msg(cli, "0123456789", 10, LONG_MS));
	CK_RC(ac_sock_recv_msg(srv, &out, &len, 9, LONG_MS), -EMSGSIZE);
	ck_assert_ptr_null(out);
	ac_sock_close(cli);
	ac_sock_close(srv);
	/* the stream ends inside the body */
	tcp_pair(&cli, &srv);
	ck_assert_int_eq(ac_sock_send_all(cli, hdr10, sizeof(hdr10), LONG_MS),
	                 sizeof(hdr10));
	ac_sock_close(cli);
	CK_RC(ac_sock_recv_msg(srv, &out, &len, 100, LONG_MS), -EPIPE);
	ck_assert_ptr_null(out);
	ac_sock_close(srv);
	/* the stream ends inside the length */
	tcp_pair(&cli, &srv);
	ck_assert_int_eq(ac_sock_send_all(cli, hdr10, 2, LONG_MS), 2);
	ac_sock_close(cli);
	CK_RC(ac_sock_recv_msg(srv, &out, &len, 100, LONG_MS), -EPIPE);
	ck_assert_ptr_null(out);
	ac_sock_close(srv);
	*done = 1;
}

START_TEST(test_msg_errors)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_msg_errors, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- lines --------------------------------------------------------------- */

static void body_lines(void *arg)
{
	int *done = arg;
	static const char rest[] = "o\n\nthree\r\nhdr\nBINARY\nlast";
	ac_sock *cli, *srv;
	char line[64];
	side sd;
	ac_ref r;
	tcp_pair(&cli, &srv);
	/* a line split across two writes */
	ck_assert_int_eq(ac_sock_send_all(cli, "one\r\ntw", 7, LONG_MS), 7);
	ck_assert_int_eq(ac_sock_recv_line(srv, line, sizeof(line), LONG_MS), 5);
	ck_assert_str_eq(line, "one");
	side_init(&sd, cli, rest, strlen(rest), 1);
	sd.delay_ms = 20;
	CK_OK(ac_spawn(NULL, body_send_all, &sd, NULL, &r));
	ck_assert_int_eq(ac_sock_recv_line(srv, line, sizeof(line), LONG_MS), 4);
	ck_assert_str_eq(line, "two");
	ck_assert_int_eq(ac_sock_recv_line(srv, line, sizeof(line), LONG_MS), 1);
	ck_assert_str_eq(line, ""); /* an empty line: told apart from the end */
	ck_assert_int_eq(ac_sock_recv_line(srv, line, sizeof(line), LONG_MS), 7);
	ck_assert_str_eq(line, "three");
	ck_assert_int_eq(ac_sock_recv_line(srv, line, sizeof(line), LONG_MS), 4);
	ck_assert_str_eq(line, "hdr");
	/* binary reads take the read-ahead first */
	ck_assert_int_eq(ac_sock_recv_all(srv, line, 7, LONG_MS), 7);
	ck_assert(memcmp(line, "BINARY\n", 7) == 0);
	/* the last line has no newline: returned at the end of stream */
	ck_assert_int_eq(ac_sock_recv_line(srv, line, sizeof(line), LONG_MS), 4);
	ck_assert_str_eq(line, "last");
	ck_assert_int_eq(ac_sock_recv_line(srv, line, sizeof(line), LONG_MS), 0);
	test_join(r);
	ck_assert_int_eq(sd.rc, (ssize_t)strlen(rest));
	ac_sock_close(cli);
	ac_sock_close(srv);
	*done = 1;
}

START_TEST(test_recv_line)
{
	int done = 0;
	/* The body and its sender. */
	ck_assert_uint_eq(test_run(body_lines, &done), 2);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_long_lines(void *arg)
{
	int *done = arg;
	enum { LONG = 5000 };
	ac_sock *cli, *srv;
	char *big = malloc(LONG + 2), *line = malloc(LONG + 100);
	char small[5];
	side sd;
	ac_ref r;
	memset(big, 'L', LONG);
	big[LONG] = '\n';
	tcp_pair(&cli, &srv);
	/* "abcd" fits a 5-byte buffer (with its NUL), "abcde" does not */
	ck_assert_int_eq(ac_sock_send_all(cli, "abcd\nabcde\n", 11, LONG_MS), 11);
	ck_assert_int_eq(ac_sock_recv_line(srv, small, sizeof(small), LONG_MS), 5);
	ck_assert_str_eq(small, "abcd");
	CK_RC(ac_sock_recv_line(srv, small, sizeof(small), LONG_MS), -EMSGSIZE);
	ac_sock_close(srv);
	ac_sock_close(cli);
	/* a line longer than the internal read-ahead, into a buffer it fits */
	tcp_pair(&cli, &srv);
	side_init(&sd, cli, big, LONG + 1, 1);
	CK_OK(ac_spawn(NULL, body_send_all, &sd, NULL, &r));
	ck_assert_int_eq(ac_sock_recv_line(srv, line, LONG + 100, LONG_MS), LONG + 1);
	ck_assert_uint_eq(strlen(line), LONG);
	ck_assert_int_eq(line[LONG - 1], 'L');
	ck_assert_int_eq(ac_sock_recv_line(srv, line, LONG + 100, LONG_MS), 0);
	test_join(r);
	ac_sock_close(srv);
	ac_sock_close(cli);
	/* no newline for longer than the caller's buffer */
	tcp_pair(&cli, &srv);
	side_init(&sd, cli, big, LONG, 0);
	CK_OK(ac_spawn(NULL, body_send_all, &sd, NULL, &r));
	CK_RC(ac_sock_recv_line(srv, line, 100, LONG_MS), -EMSGSIZE);
	test_join(r);
	ac_sock_close(srv);
	ac_sock_close(cli);
	free(big);
	free(line);
	*done = 1;
}

START_TEST(test_recv_line_too_long)
{
	int done = 0;
	/* The body and its two senders. */
	ck_assert_uint_eq(test_run(body_long_lines, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* The last line has no newline and the client only shut down its side: the
 * server reads the line, then 0 from every read, and can still answer (a
 * half-close). Before the fix, reads after that line were -EPIPE and the
 * answer was refused with -EPIPE. A line too long for the buffer stays
 * buffered: a larger buffer reads it. */
static void body_line_half_close(void *arg)
{
	int *done = arg;
	ac_sock *cli, *srv;
	char line[64], small[4];
	void *out = NULL;
	size_t len = 0;
	tcp_pair(&cli, &srv);
	ck_assert_int_eq(ac_sock_send_all(cli, "toolong\nlast", 12, LONG_MS), 12);
	CK_OK(ac_sock_shutdown(cli));
	CK_RC(ac_sock_recv_line(srv, small, sizeof(small), LONG_MS), -EMSGSIZE);
	CK_RC(ac_sock_recv_line(srv, line, sizeof(line), LONG_MS), 8);
	ck_assert_str_eq(line, "toolong");
	CK_RC(ac_sock_recv_line(srv, line, sizeof(line), LONG_MS), 4);
	ck_assert_str_eq(line, "last");
	CK_RC(ac_sock_recv_line(srv, line, sizeof(line), 0), 0);
	CK_RC(ac_sock_recv(srv, line, sizeof(line), 0), 0);
	CK_RC(ac_sock_recv_all(srv, line, 4, 0), 0);
	CK_RC(ac_sock_recv_msg(srv, &out, &len, 100, 0), 0);
	ck_assert_ptr_null(out);
	CK_RC(ac_sock_send_all(srv, "ok", 2, LONG_MS), 2);
	CK_RC(ac_sock_recv_all(cli, line, 2, LONG_MS), 2);
	ck_assert(memcmp(line, "ok", 2) == 0);
	ac_sock_close(cli);
	ac_sock_close(srv);
	/* recv_msg over max: its body is not read, the socket is done. */
	tcp_pair(&cli, &srv);
	CK_OK(ac_sock_send_msg(cli, "0123456789", 10, LONG_MS));
	CK_OK(ac_sock_send_msg(cli, "ab", 2, LONG_MS));
	CK_RC(ac_sock_recv_msg(srv, &out, &len, 9, LONG_MS), -EMSGSIZE);
	CK_RC(ac_sock_recv_msg(srv, &out, &len, 100, LONG_MS), -EPIPE);
	CK_RC(ac_sock_send_all(srv, "x", 1, LONG_MS), -EPIPE);
	ck_assert_ptr_null(out);
	ac_sock_close(cli);
	ac_sock_close(srv);
	*done = 1;
}

START_TEST(test_recv_line_half_close)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_line_half_close, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- UDP ----------------------------------------------------------------- */

static void body_udp(void *arg)
{
	int *done = arg;
	ac_addr any = lo_addr(0), a1, a2, from;
	ac_sock *u1, *u2;
	char buf[32];
	int64_t t0;
	CK_OK(ac_sock_udp(NULL, &any, 0, &u1));
	CK_OK(ac_sock_udp(NULL, &any, 0, &u2));
	CK_OK(ac_sock_local_addr(u1, &a1));
	CK_OK(ac_sock_local_addr(u2, &a2));
	ck_assert(ac_addr_is_loopback(&a1));
	ck_assert_uint_ne(a2.port, 0);
	t0 = test_now_ms();
	CK_RC(ac_sock_recvfrom(u2, buf, sizeof(buf), &from, 30), -ETIMEDOUT);
	ck_assert_int_ge(test_now_ms() - t0, 25);
	ck_assert_int_eq(ac_sock_sendto(u1, "datagram", 8, &a2, LONG_MS), 8);
	ac_addr_init(&from);
	ck_assert_int_eq(ac_sock_recvfrom(u2, buf, sizeof(buf), &from, LONG_MS), 8);
	ck_assert(memcmp(buf, "datagram", 8) == 0);
	ck_assert(ac_addr_eq(&from, &a1));
	/* datagram boundaries are kept; a short buffer truncates */
	ck_assert_int_eq(ac_sock_sendto(u2, "a", 1, &a1, LONG_MS), 1);
	ck_assert_int_eq(ac_sock_sendto(u2, "0123456789", 10, &a1, LONG_MS), 10);
	ck_assert_int_eq(ac_sock_recvfrom(u1, buf, sizeof(buf), NULL, LONG_MS), 1);
	ck_assert_int_eq(buf[0], 'a');
	ck_assert_int_eq(ac_sock_recvfrom(u1, buf, 4, &from, LONG_MS), 4);
	ck_assert(memcmp(buf, "0123", 4) == 0);
	ck_assert(ac_addr_eq(&from, &a2));
	/* stream calls on a datagram socket */
	CK_RC(ac_sock_recv(u1, buf, sizeof(buf), 0), -EINVAL);
	CK_RC(ac_sock_send_all(u1, "x", 1, 0), -EINVAL);
	CK_RC(ac_sock_send_msg(u1, "x", 1, 0), -EINVAL);
	CK_RC(ac_sock_shutdown(u1), -EINVAL);
	CK_RC(ac_sock_sendto(u1, "x", 1, NULL, 0), -EINVAL);
	ac_sock_close(u1);
	ac_sock_close(u2);
	*done = 1;
}

START_TEST(test_udp)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_udp, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- attached descriptors ------------------------------------------------ */

typedef struct pipe_writer {
	int fd;
} pipe_writer;

static void body_pipe_writer(void *arg)
{
	pipe_writer *pw = arg;
	CK_OK(ac_sleep(20));
	ck_assert_int_eq(write(pw->fd, "alpha\nbe", 8), 8);
	CK_OK(ac_sleep(20));
	ck_assert_int_eq(write(pw->fd, "ta\r\ngamma", 9), 9);
	CK_OK(ac_sleep(20));
	close(pw->fd); /* end of stream for the reader */
}

static void body_pipe(void *arg)
{
	int *done = arg;
	int fds[2];
	pipe_writer pw;
	ac_sock *k, *w;
	char line[32];
	ac_ref r;
	ck_assert_int_eq(pipe(fds), 0);
	CK_RC(ac_sock_attach_fd(NULL, -1, &k), -EINVAL);
	CK_OK(ac_sock_attach_fd(NULL, fds[0], &k));
	CK_RC(ac_sock_recv(k, line, sizeof(line), 20), -ETIMEDOUT);
	pw.fd = fds[1];
	CK_OK(ac_spawn(NULL, body_pipe_writer, &pw, NULL, &r));
	ck_assert_int_eq(ac_sock_recv_line(k, line, sizeof(line), LONG_MS), 6);
	ck_assert_str_eq(line, "alpha");
	ck_assert_int_eq(ac_sock_recv_line(k, line, sizeof(line), LONG_MS), 6);
	ck_assert_str_eq(line, "beta"); /* "beta\r\n" */
	ck_assert_int_eq(ac_sock_recv_line(k, line, sizeof(line), LONG_MS), 5);
	ck_assert_str_eq(line, "gamma"); /* no newline: at the end */
	ck_assert_int_eq(ac_sock_recv_line(k, line, sizeof(line), LONG_MS), 0);
	test_join(r);
	ac_sock_close(k); /* detaches; the descriptor is still ours */
	ck_assert_int_eq(close(fds[0]), 0);
	/* both ends attached: write through one, read through the other */
	ck_assert_int_eq(pipe(fds), 0);
	CK_OK(ac_sock_attach_fd(NULL, fds[0], &k));
	CK_OK(ac_sock_attach_fd(NULL, fds[1], &w));
	ck_assert_int_eq(ac_sock_send_all(w, "via sock\n", 9, LONG_MS), 9);
	ck_assert_int_eq(ac_sock_recv_line(k, line, sizeof(line), LONG_MS), 9);
	ck_assert_str_eq(line, "via sock");
	ac_sock_close(w);
	ac_sock_close(k);
	ck_assert_int_eq(close(fds[0]), 0);
	ck_assert_int_eq(close(fds[1]), 0);
	*done = 1;
}

START_TEST(test_attach_pipe)
{
	int done = 0;
	/* The body and its pipe writer. */
	ck_assert_uint_eq(test_run(body_pipe, &done), 2);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- closing and terminating under blocked callers ----------------------- */

enum { OP_RECV, OP_RECV_ALL, OP_RECV_LINE, OP_RECV_MSG, OP_ACCEPT };

typedef struct blocked {
	ac_sock *k;
	int op;
	/* Result; 99 until the call returned. */
	ssize_t rc;
} blocked;

static void body_blocked(void *arg)
{
	blocked *b = arg;
	char buf[16];
	void *out = NULL;
	size_t len;
	ac_sock *acc = NULL;
	switch (b->op) {
	case OP_RECV:
		b->rc = ac_sock_recv(b->k, buf, sizeof(buf), AC_FOREVER);
		break;
	case OP_RECV_ALL:
		b->rc = ac_sock_recv_all(b->k, buf, sizeof(buf), AC_FOREVER);
		break;
	case OP_RECV_LINE:
		b->rc = ac_sock_recv_line(b->k, buf, sizeof(buf), AC_FOREVER);
		break;
	case OP_RECV_MSG:
		b->rc = ac_sock_recv_msg(b->k, &out, &len, 100, AC_FOREVER);
		break;
	default:
		b->rc = ac_sock_accept(b->k, AC_FOREVER, &acc);
		ck_assert_ptr_null(acc);
		break;
	}
	ck_assert_ptr_null(out);
}

static void check_closed_rc(ssize_t rc)
{
	ck_assert_msg(rc == -ECANCELED || rc == -EBADF, "blocked call got %zd (%s)",
	              rc, ac_strerror((int)rc));
}

static void body_close_under_reader(void *arg)
{
	int *done = arg;
	ac_sock *cli, *srv, *l;
	ac_addr a;
	blocked b[4];
	ac_ref r[4];
	char buf[4];
	int i;
	/* four readers of different kinds on one socket */
	tcp_pair(&cli, &srv);
	for (i = 0; i < 4; i++) {
		b[i].k = srv;
		b[i].op = OP_RECV + i;
		b[i].rc = 99;
		CK_OK(ac_spawn(NULL, body_blocked, &b[i], NULL, &r[i]));
	}
	test_settle();
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(b[i].rc, 99);
	ac_sock_close(srv);
	for (i = 0; i < 4; i++) {
		test_join(r[i]);
		check_closed_rc(b[i].rc);
	}
	/* the peer sees the end of the stream */
	ck_assert_int_eq(ac_sock_recv(cli, buf, sizeof(buf), LONG_MS), 0);
	ac_sock_close(cli);
	/* an accept */
	l = listen_lo(&a);
	b[0].k = l;
	b[0].op = OP_ACCEPT;
	b[0].rc = 99;
	CK_OK(ac_spawn(NULL, body_blocked, &b[0], NULL, &r[0]));
	test_settle();
	ac_sock_close(l);
	test_join(r[0]);
	check_closed_rc(b[0].rc);
	*done = 1;
}

START_TEST(test_close_while_blocked)
{
	int done = 0;
	/* The body, four readers and an acceptor, all woken by the close. */
	ck_assert_uint_eq(test_run(body_close_under_reader, &done), 6);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_terminate_reader(void *arg)
{
	int *done = arg;
	ac_sock *cli, *srv, *l;
	ac_addr a;
	blocked b;
	ac_ref r;
	char buf[4];
	/* terminated while blocked, then the socket is still usable */
	tcp_pair(&cli, &srv);
	b.k = srv;
	b.op = OP_RECV_LINE;
	b.rc = 99;
	CK_OK(ac_spawn(NULL, body_blocked, &b, NULL, &r));
	test_settle();
	CK_OK(ac_terminate(r));
	ck_assert_int_eq(b.rc, 99);
	ck_assert_int_eq(ac_sock_send_all(cli, "z", 1, LONG_MS), 1);
	ck_assert_int_eq(ac_sock_recv(srv, buf, sizeof(buf), LONG_MS), 1);
	ck_assert_int_eq(buf[0], 'z');
	ac_sock_close(srv);
	ac_sock_close(cli);
	/* closed first, terminated before the cancellation reached it */
	tcp_pair(&cli, &srv);
	b.k = srv;
	b.op = OP_RECV;
	CK_OK(ac_spawn(NULL, body_blocked, &b, NULL, &r));
	test_settle();
	ac_sock_close(srv);
	CK_OK(ac_terminate(r));
	ck_assert_int_eq(b.rc, 99);
	/* terminated, then closed */
	ac_sock_close(cli);
	tcp_pair(&cli, &srv);
	b.k = srv;
	b.op = OP_RECV_ALL;
	CK_OK(ac_spawn(NULL, body_blocked, &b, NULL, &r));
	test_settle();
	CK_OK(ac_terminate(r));
	ac_sock_close(srv);
	ac_sock_close(cli);
	/* an accept */
	l = listen_lo(&a);
	b.k = l;
	b.op = OP_ACCEPT;
	CK_OK(ac_spawn(NULL, body_blocked, &b, NULL, &r));
	test_settle();
	CK_OK(ac_terminate(r));
	ac_sock_close(l);
	ck_assert_int_eq(b.rc, 99);
	*done = 1;
}

START_TEST(test_terminate_blocked_then_close)
{
	int done = 0;
	/* The body and four terminated callers. */
	ck_assert_uint_eq(test_run(body_terminate_reader, &done), 5);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- misuse -------------------------------------------------------------- */

static void body_wrong_types(void *arg)
{
	int *done = arg;
	ac_addr a;
	ac_sock *cli, *srv, *l, *acc;
	char buf[8];
	void *out;
	size_t len;
	tcp_pair(&cli, &srv);
	l = listen_lo(&a);
	CK_RC(ac_sock_recv(l, buf, sizeof(buf), 0), -EINVAL);
	CK_RC(ac_sock_recv_line(l, buf, sizeof(buf), 0), -EINVAL);
	CK_RC(ac_sock_send_all(l, "x", 1, 0), -EINVAL);
	CK_RC(ac_sock_shutdown(l), -EINVAL);
	CK_RC(ac_sock_accept(cli, 0, &acc), -EINVAL);
	CK_RC(ac_sock_accept(l, 0, NULL), -EINVAL);
	CK_RC(ac_sock_recvfrom(cli, buf, sizeof(buf), NULL, 0), -EINVAL);
	CK_RC(ac_sock_sendto(cli, "x", 1, &a, 0), -EINVAL);
	CK_RC(ac_sock_recv(cli, buf, 0, 0), -EINVAL);
	CK_RC(ac_sock_recv(cli, NULL, 1, 0), -EINVAL);
	CK_RC(ac_sock_recv_line(cli, buf, 0, 0), -EINVAL);
	CK_RC(ac_sock_recv_msg(cli, &out, NULL, 10, 0), -EINVAL);
	CK_RC(ac_sock_recv(NULL, buf, 1, 0), -EINVAL);
	CK_RC(ac_sock_local_addr(NULL, &a), -EBADF);
	/* none of that disturbed the connection */
	ck_assert_int_eq(ac_sock_send_all(cli, "ok", 2, LONG_MS), 2);
	ck_assert_int_eq(ac_sock_recv_all(srv, buf, 2, LONG_MS), 2);
	ck_assert(memcmp(buf, "ok", 2) == 0);
	(void)len;
	ac_sock_close(l);
	ac_sock_close(cli);
	ac_sock_close(srv);
	*done = 1;
}

START_TEST(test_wrong_socket_types)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_wrong_types, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

typedef struct foreign {
	ac_sock *k;
	int rc;
} foreign;

/* A coroutine of another scheduler may not block on the socket. */
static void body_foreign(void *arg)
{
	foreign *f = arg;
	ac_sock *acc = NULL;
	f->rc = ac_sock_accept(f->k, 0, &acc);
}

START_TEST(test_outside_coroutine)
{
	ac_sched *s = test_sched(), *s2;
	ac_addr a = lo_addr(0), bound;
	ac_sock *l, *u, *k = NULL;
	char buf[8];
	void *out = NULL;
	size_t len;
	foreign f;
	CK_OK(ac_sock_listen(s, &a, 4, 0, &l));
	CK_OK(ac_sock_udp(s, &a, 0, &u));
	CK_OK(ac_sock_local_addr(l, &bound));
	ck_assert(ac_addr_is_loopback(&bound));
	CK_RC(ac_sock_accept(l, 0, &k), -EPERM);
	CK_RC(ac_sock_connect(&bound, 100, &k), -EPERM);
	CK_RC(ac_sock_recv(l, buf, sizeof(buf), 0), -EPERM);
	CK_RC(ac_sock_recv_all(l, buf, sizeof(buf), 0), -EPERM);
	CK_RC(ac_sock_send_all(l, buf, sizeof(buf), 0), -EPERM);
	CK_RC(ac_sock_recv_line(l, buf, sizeof(buf), 0), -EPERM);
	CK_RC(ac_sock_send_msg(l, buf, sizeof(buf), 0), -EPERM);
	CK_RC(ac_sock_recv_msg(l, &out, &len, 10, 0), -EPERM);
	CK_RC(ac_sock_sendto(u, buf, 1, &bound, 0), -EPERM);
	CK_RC(ac_sock_recvfrom(u, buf, sizeof(buf), NULL, 0), -EPERM);
	ck_assert_ptr_null(k);
	ck_assert_ptr_null(out);
	s2 = test_sched();
	f.k = l;
	f.rc = 99;
	CK_OK(ac_spawn(s2, body_foreign, &f, NULL, NULL));
	CK_OK(ac_sched_run(s2));
	CK_RC(f.rc, -EPERM);
	ac_sched_free(s2);
	ac_sock_close(l);
	ac_sock_close(u);
	ac_sched_free(s);
	/* no scheduler at all */
	CK_RC(ac_sock_listen(NULL, &a, 4, 0, &l), -EPERM);
	CK_RC(ac_sock_udp(NULL, &a, 0, &u), -EPERM);
	CK_RC(ac_resolve(NULL, "127.0.0.1", 1, &bound), -EPERM);
}
END_TEST

/* ---- resolution ---------------------------------------------------------- */

static void body_resolve(void *arg)
{
	int *done = arg;
	ac_addr a, want;
	CK_OK(ac_resolve(NULL, "localhost", 8080, &a));
	ck_assert(ac_addr_is_loopback(&a));
	ck_assert_uint_eq(a.port, 8080);
	CK_OK(ac_resolve(NULL, "127.0.0.1", 7, &a));
	want = lo_addr(7);
	ck_assert(ac_addr_eq(&a, &want));
	CK_OK(ac_resolve(NULL, "::1", 9, &a));
	ck_assert_int_eq(a.family, AC_AF_INET6);
	ck_assert(ac_addr_is_loopback(&a));
	CK_RC(ac_resolve(NULL, NULL, 1, &a), -EINVAL);
	CK_RC(ac_resolve(NULL, "localhost", 1, NULL), -EINVAL);
	*done = 1;
}

START_TEST(test_resolve_localhost)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_resolve, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

START_TEST(test_resolve_outside)
{
	ac_sched *s = test_sched();
	ac_addr a;
	CK_OK(ac_resolve(s, "localhost", 1, &a)); /* not a blocking call */
	ck_assert(ac_addr_is_loopback(&a));
	ac_sched_free(s);
}
END_TEST

/* ---- reproducer of an engine bug (see the top of the file) ---------------- */

typedef struct timed_reader {
	ac_sock *k;
	ssize_t rc;
} timed_reader;

static void body_timed_reader(void *arg)
{
	timed_reader *t = arg;
	char buf[4];
	t->rc = ac_sock_recv(t->k, buf, sizeof(buf), 300);
}

/* The reader's timeout and our sleep expire while a spinner holds the CPU;
 * we resume first and terminate the reader, whose recv timed out but was
 * not cancelled yet. Its operation must not stay in the backend and eat
 * the next bytes. */
static void body_killed_after_timeout(void *arg)
{
	int *done = arg;
	ac_sock *cli, *srv;
	timed_reader t = {.rc = 99};
	char buf[4];
	int spin = 1000;
	ac_ref r;
	tcp_pair(&cli, &srv);
	t.k = srv;
	CK_OK(ac_spawn(NULL, body_timed_reader, &t, NULL, &r));
	ac_yield();
	CK_OK(ac_spawn(NULL, test_spin, &spin, NULL, NULL));
	CK_OK(ac_sleep(10));
	CK_OK(ac_terminate(r));
	ck_assert_int_eq(ac_sock_send_all(cli, "z", 1, LONG_MS), 1);
	ck_assert_int_eq(ac_sock_recv(srv, buf, sizeof(buf), 1000), 1);
	ck_assert_int_eq(buf[0], 'z');
	ac_sock_close(srv);
	ac_sock_close(cli);
	*done = 1;
}

START_TEST(test_killed_after_timeout_leaves_backend)
{
	int done = 0;
	/* The body, the terminated reader and the spinner. */
	ck_assert_uint_eq(test_run(body_killed_after_timeout, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- fairness: operations that complete at once still let others run ---- */

typedef struct fair {
	ac_sock *k;
	long reads;   /* 1-byte reads done by the reader */
	long seen_at; /* reads done when the other coroutine first ran */
	ssize_t last; /* the reader's last result */
} fair;

static void body_fair_ticker(void *arg)
{
	fair *f = arg;
	f->seen_at = f->reads;
}

/* Reads one byte at a time until an error or the end of the stream. */
static void body_fair_reader(void *arg)
{
	fair *f = arg;
	char c;
	while ((f->last = ac_sock_recv(f->k, &c, 1, LONG_MS)) == 1) {
		ck_assert_int_eq(c, (char)('a' + f->reads % 26));
		f->reads++;
	}
}

static void fill(char *buf, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		buf[i] = (char)('a' + i % 26);
}

/* A reader whose data is always there never waits; the coroutine that was
 * ready before it must still run long before it has read everything. */
static void body_fair_pipe(void *arg)
{
	int *done = arg;
	int fds[2];
	char data[4096];
	fair f = {.seen_at = -1};
	ac_ref r;
	fill(data, sizeof(data));
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(write(fds[1], data, sizeof(data)), (ssize_t)sizeof(data));
	ck_assert_int_eq(close(fds[1]), 0);
	CK_OK(ac_sock_attach_fd(NULL, fds[0], &f.k));
	CK_OK(ac_spawn(NULL, body_fair_ticker, &f, NULL, &r));
	body_fair_reader(&f);
	ck_assert_int_eq(f.last, 0); /* the end of the pipe */
	ck_assert_int_eq(f.reads, (long)sizeof(data));
	ck_assert_int_ge(f.seen_at, 0);
	ck_assert_int_lt(f.seen_at, 200);
	test_join(r);
	ac_sock_close(f.k);
	ck_assert_int_eq(close(fds[0]), 0);
	*done = 1;
}

START_TEST(test_busy_reader_lets_others_run)
{
	int done = 0;
	/* The body and the ticker. */
	ck_assert_uint_eq(test_run(body_fair_pipe, &done), 2);
	ck_assert_int_eq(done, 1);
}
END_TEST

typedef struct fair_kill {
	/* 0: the reader is terminated; 1: its socket is closed. */
	int how;
	/* Set on the body's last line. */
	int done;
} fair_kill;

/* A busy reader is terminated (or its socket closed) while it stands
 * aside for the others: the socket is released as after any other
 * operation, so closing it closes the connection. */
static void body_fair_kill(void *arg)
{
	fair_kill *fk = arg;
	int how = fk->how;
	ac_sock *cli, *srv;
	char data[4096], c;
	fair f = {.seen_at = -1, .last = 99};
	ac_ref r;
	ssize_t rc;
	fill(data, sizeof(data));
	tcp_pair(&cli, &srv);
	ck_assert_int_eq(ac_sock_send_all(cli, data, sizeof(data), LONG_MS),
	                 (ssize_t)sizeof(data));
	test_settle(); /* the bytes are there: every read completes at once */
	f.k = srv;
	CK_OK(ac_spawn(NULL, body_fair_reader, &f, NULL, &r));
	ac_yield(); /* the reader runs until it stands aside */
	ck_assert_int_gt(f.reads, 0);
	ck_assert_int_lt(f.reads, (long)sizeof(data));
	ck_assert_int_eq(ac_is_alive(r), 1);
	if (how == 0) {
		CK_OK(ac_terminate(r));
		ac_sock_close(srv);
	} else {
		ac_sock_close(srv);
		test_join(r);
		ck_assert_msg(f.last == -ECANCELED || f.last == -EBADF,
		              "reader got %zd", f.last);
	}
	ck_assert_int_eq(ac_is_alive(r), 0);
	/* srv's descriptor is closed now (not at the scheduler's end). */
	rc = ac_sock_recv(cli, &c, 1, 5000);
	ck_assert_msg(rc == 0 || rc == -ECONNRESET, "peer got %zd (%s)", rc,
	              ac_strerror((int)rc));
	ac_sock_close(cli);
	fk->done = 1;
}

START_TEST(test_busy_reader_terminated_or_closed)
{
	fair_kill fk = {.how = _i};
	/* The body and the reader. */
	ck_assert_uint_eq(test_run(body_fair_kill, &fk), 2);
	ck_assert_int_eq(fk.done, 1);
}
END_TEST

/* Two coroutines send length-prefixed messages on one socket at once (one
 * with ac_sock_send_msg, one framing its own): every message arrives
 * whole, each writer's in its order. */
typedef struct msg_writer {
	ac_sock *k;
	ac_sock *side; /* a pipe: writes that shift the count of operations */
	uint8_t id;
	int count;
	int rc;
} msg_writer;

static void body_msg_writer(void *arg)
{
	msg_writer *w = arg;
	int i;
	for (i = 0; i < w->count && w->rc == 0; i++) {
		size_t len = 3 + (size_t)(i * 37 + w->id * 11) % 6000;
		uint8_t m[8000];
		memset(m, w->id, len);
		m[1] = (uint8_t)(i >> 8);
		m[2] = (uint8_t)i;
		if (w->id == 1) {
			int extra;
			for (extra = 0; extra < i % 3; extra++)
				ck_assert_int_eq(ac_sock_send_all(w->side, "x", 1, LONG_MS), 1);
			w->rc = ac_sock_send_msg(w->k, m, len, LONG_MS);
		} else {
			/* The same framing in one write: the two writers then
			 * do different numbers of operations per message. */
			uint8_t f[8004];
			f[0] = f[1] = 0;
			f[2] = (uint8_t)(len >> 8);
			f[3] = (uint8_t)len;
			memcpy(f + 4, m, len);
			w->rc = ac_sock_send_all(w->k, f, len + 4, LONG_MS) ==
			                (ssize_t)(len + 4)
			                ? 0
			                : -EIO;
		}
	}
}

static void body_msg_writers(void *arg)
{
	int *done = arg;
	enum { N = 600 };
	ac_sock *cli, *srv;
	msg_writer w[2];
	ac_ref r[2];
	int next[2] = {0, 0}, got, i, fds[2];
	ac_sock *pw;
	tcp_pair(&cli, &srv);
	ck_assert_int_eq(pipe(fds), 0);
	CK_OK(ac_sock_attach_fd(NULL, fds[1], &pw));
	for (i = 0; i < 2; i++) {
		w[i] = (msg_writer){.k = cli, .side = pw, .id = (uint8_t)(i + 1),
		                    .count = N};
		CK_OK(ac_spawn(NULL, body_msg_writer, &w[i], NULL, &r[i]));
	}
	for (got = 0; got < 2 * N; got++) {
		void *out = NULL;
		size_t len = 0, j;
		uint8_t *m;
		int who;
		ck_assert_int_eq(ac_sock_recv_msg(srv, &out, &len, 8000, LONG_MS), 1);
		m = out;
		ck_assert_uint_ge(len, 3);
		ck_assert_msg(m[0] == 1 || m[0] == 2, "message %d from %d", got, m[0]);
		who = m[0] - 1;
		ck_assert_int_eq((m[1] << 8) | m[2], next[who]);
		ck_assert_uint_eq(len, 3 + (size_t)(next[who] * 37 + m[0] * 11) % 6000);
		for (j = 3; j < len; j++)
			ck_assert_int_eq(m[j], m[0]);
		next[who]++;
		free(out);
	}
	for (i = 0; i < 2; i++) {
		test_join(r[i]);
		ck_assert_int_eq(w[i].rc, 0);
		ck_assert_int_eq(next[i], N);
	}
	ac_sock_close(cli);
	ac_sock_close(srv);
	ac_sock_close(pw);
	ck_assert_int_eq(close(fds[0]), 0);
	ck_assert_int_eq(close(fds[1]), 0);
	*done = 1;
}

START_TEST(test_msg_concurrent_writers)
{
	int done = 0;
	/* The body and its two writers. */
	ck_assert_uint_eq(test_run(body_msg_writers, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

static Suite *sock_suite(void)
{
	Suite *s = suite_create("sock");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_connect_accept);
	tcase_add_test(tc, test_send_recv_exact);
	tcase_add_test(tc, test_recv_all_end_of_stream);
	tcase_add_test(tc, test_recv_timeout);
	tcase_add_test(tc, test_timeout_state);
	tcase_add_test(tc, test_accept_timeout);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_msg_round_trip);
	tcase_add_test(tc, test_msg_errors);
	tcase_add_test(tc, test_recv_line);
	tcase_add_test(tc, test_recv_line_too_long);
	tcase_add_test(tc, test_recv_line_half_close);
	tcase_add_test(tc, test_udp);
	tcase_add_test(tc, test_attach_pipe);
	tcase_add_test(tc, test_close_while_blocked);
	tcase_add_test(tc, test_terminate_blocked_then_close);
	tcase_add_test(tc, test_wrong_socket_types);
	tcase_add_test(tc, test_outside_coroutine);
	tcase_add_test(tc, test_resolve_localhost);
	tcase_add_test(tc, test_resolve_outside);
	tcase_add_test(tc, test_killed_after_timeout_leaves_backend);
	tcase_add_test(tc, test_busy_reader_lets_others_run);
	tcase_add_loop_test(tc, test_busy_reader_terminated_or_closed, 0, 2);
	tcase_add_test(tc, test_msg_concurrent_writers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sock_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
