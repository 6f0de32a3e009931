/* tests/check_io.c: the Check suite of the io layer, driving the epoll backend
 * directly (no scheduler, no coroutines): address helpers, and what is
 * particular to epoll and the OS — connection resets by SO_LINGER, IPv6,
 * connects kept pending by a full accept queue, urgent data, a descriptor
 * table that grows, poll deadlines in real time, attached descriptors,
 * name resolution and symbolic links. io.h's contract (TCP and UDP
 * semantics, broadcasts, per-handle FIFO order of callbacks, cancel
 * outcomes, close cancelling, short reads, files, entropy) is tested on
 * both backends by tests/check_conform.c.
 *
 * Network safety: every socket lives on 127.0.0.0/8. Files live in a
 * mkdtemp directory under /tmp that each test removes.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asyncoro/io.h>

#include "tests/io_harness.h"

/* The backend under test, IO.io (set up for each test). */
static ac_io *io;

static void setup(void)
{
	io_open(0);
	io = IO.io;
}

static void teardown(void)
{
	io_close();
	io = NULL;
}

/* ---- addresses ---------------------------------------------------------------- */

/* Parse text and check that it formats back to want. */
static void roundtrip(const char *text, uint16_t def, const char *want)
{
	char buf[AC_ADDR_STRLEN];
	ac_addr a, b;

	ck_assert_msg(ac_addr_parse(&a, text, def) == 0, "parse %s", text);
	ck_assert_str_eq(ac_addr_format(&a, buf, sizeof(buf)), want);
	ck_assert_int_eq(ac_addr_parse(&b, buf, 0), 0);
	ck_assert(ac_addr_eq(&a, &b));
	ck_assert_int_eq(ac_addr_cmp(&a, &b), 0);
	ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);
}

START_TEST(test_addr_parse)
{
	static const char *const bad[] = {
		"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4:", "1.2.3.4:65536",
		"1.2.3.4:99999999", "1.2.3.4:-1", "1.2.3.4:8x", "1.2.3.4: 80", "[::1",
		"[::1]x", "[::1]:", "[::1]:70000", "[1.2.3.4]:80", "localhost", "host:80",
		"::g", "fe80::1%eth0", "[]:80", ":80", " 1.2.3.4"
	};
	ac_addr a;
	size_t i;

	roundtrip("1.2.3.4:80", 0, "1.2.3.4:80");
	roundtrip("127.0.0.1", 51350, "127.0.0.1:51350");
	roundtrip("0.0.0.0:65535", 0, "0.0.0.0:65535");
	roundtrip("::1", 7, "[::1]:7");
	roundtrip("[::1]:8080", 7, "[::1]:8080");
	roundtrip("[2001:db8::a:b]:0", 9, "[2001:db8::a:b]:0");
	roundtrip("fe80::1%2", 80, "[fe80::1%2]:80");
	roundtrip("[fe80::1%3]:443", 0, "[fe80::1%3]:443");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ac_addr_init(&a);
		a.port = 4242;
		ck_assert_msg(ac_addr_parse(&a, bad[i], 1) == -EINVAL, "accepted '%s'", bad[i]);
		ck_assert_int_eq(a.port, 4242); /* untouched on error */
	}
	ck_assert_int_eq(ac_addr_parse(&a, NULL, 1), -EINVAL);
}
END_TEST

START_TEST(test_addr_props)
{
	ac_addr a, b, c, none;
	char buf[AC_ADDR_STRLEN], small[6];

	ac_addr_init(&none);
	ck_assert_int_eq(none.family, AC_AF_NONE);
	ck_assert_int_eq(ac_addr_parse(&a, "127.1.2.3:5", 0), 0);
	ck_assert(ac_addr_is_loopback(&a));
	ck_assert(!ac_addr_is_any(&a));
	ck_assert_int_eq(ac_addr_parse(&b, "::1", 0), 0);
	ck_assert(ac_addr_is_loopback(&b));
	ck_assert_int_eq(ac_addr_parse(&c, "::ffff:127.0.0.1", 0), 0);
	ck_assert(ac_addr_is_loopback(&c));
	ck_assert_int_eq(ac_addr_parse(&c, "10.0.0.1", 0), 0);
	ck_assert(!ac_addr_is_loopback(&c));
	ck_assert_int_eq(ac_addr_parse(&c, "0.0.0.0", 0), 0);
	ck_assert(ac_addr_is_any(&c));
	ck_assert_int_eq(ac_addr_parse(&c, "::", 0), 0);
	ck_assert(ac_addr_is_any(&c));
	ck_assert(!ac_addr_is_any(&none));
	/* Order: family first (v4 < v6), then ip, then port. */
	ck_assert_int_lt(ac_addr_cmp(&a, &b), 0);
	ck_assert_int_gt(ac_addr_cmp(&b, &a), 0);
	ck_assert_int_eq(ac_addr_parse(&b, "127.1.2.3:6", 0), 0);
	ck_assert_int_lt(ac_addr_cmp(&a, &b), 0);
	ck_assert(!ac_addr_eq(&a, &b));
	ck_assert_int_eq(ac_addr_parse(&b, "127.1.2.4:1", 0), 0);
	ck_assert_int_lt(ac_addr_cmp(&a, &b), 0);
	ck_assert_str_eq(ac_addr_format_ip(&a, buf, sizeof(buf)), "127.1.2.3");
	ck_assert_str_eq(ac_addr_format(&a, small, sizeof(small)), "127.1");
	ck_assert_int_eq(strlen(ac_addr_format(&none, buf, sizeof(buf))) > 0, 1);
	ck_assert_int_eq(ac_addr_parse(&c, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]"
	                                   ":65535", 0), 0);
	ck_assert_str_eq(ac_addr_format(&c, buf, sizeof(buf)),
	                 "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
	buf[0] = 'x';
	ac_addr_format(&a, buf, 0);
	ck_assert_int_eq(buf[0], 'x');
}
END_TEST

/* ---- TCP ------------------------------------------------------------------------- */

START_TEST(test_tcp_reset)
{
	struct linger lg = { 1, 0 };
	char in[16];
	ac_op r;
	probe pr;
	int lh, ch, sh;

	tcp_pair(&lh, &ch, &sh);
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(io->ops->recv(io, sh, &r), AC_IO_PENDING);
	/* Linger 0 makes close() send a reset. */
	ck_assert_int_eq(setsockopt(ch, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	CK_OK(io->ops->close(io, ch));
	ck_assert_int_eq(op_wait(AC_IO_PENDING, &r), -ECONNRESET);
	CK_OK(io->ops->close(io, sh));
	CK_OK(io->ops->close(io, lh));
}
END_TEST

START_TEST(test_tcp_v6)
{
	char in[8];
	ac_addr a, pa;
	ac_op acc, con, s, r;
	probe pac, pc, ps, pr;
	int lh, ch, sh;

	ck_assert_int_eq(ac_addr_parse(&a, "[::1]:0", 0), 0);
	CK_OK(io->ops->tcp_listen(io, &a, 4, AC_IO_V6ONLY, &lh));
	CK_OK(io->ops->local_addr(io, lh, &a));
	ck_assert_int_eq(a.family, AC_AF_INET6);
	op_init(&acc, &pac, NULL, 0);
	op_init(&con, &pc, NULL, 0);
	con.addr = a;
	ck_assert_int_eq(io->ops->accept(io, lh, &acc), AC_IO_PENDING);
	ch = (int)op_wait(io->ops->connect(io, &con), &con);
	sh = (int)op_wait(AC_IO_PENDING, &acc);
	ck_assert_int_ge(ch, 0);
	ck_assert_int_ge(sh, 0);
	ck_assert_int_eq(acc.addr.family, AC_AF_INET6);
	CK_OK(io->ops->peer_addr(io, ch, &pa));
	ck_assert(ac_addr_eq(&pa, &a));
	op_init(&s, &ps, "six", 3);
	ck_assert_int_eq(op_wait(io->ops->send(io, ch, &s), &s), 3);
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(op_wait(io->ops->recv(io, sh, &r), &r), 3);
	ck_assert_int_eq(memcmp(in, "six", 3), 0);
	CK_OK(io->ops->close(io, ch));
	CK_OK(io->ops->close(io, sh));
	CK_OK(io->ops->close(io, lh));
}
END_TEST

START_TEST(test_connect_pending)
{
	enum { TRIES = 16 };
	ac_op con[TRIES], acc;
	probe pc[TRIES], pa;
	int lh, rc[TRIES], i, n, first = -1, second = -1, accepted = 0;
	ac_addr a;
	char buf;

	/* A listener whose accept queue is full drops SYNs, so a connect to it
	 * stays pending until the queue drains (and the SYN is retried). */
	ck_assert_int_eq(ac_addr_parse(&a, "127.0.0.1", 0), 0);
	CK_OK(io->ops->tcp_listen(io, &a, 1, 0, &lh));
	CK_OK(io->ops->local_addr(io, lh, &a));
	for (n = 0; n < TRIES && second < 0; n++) {
		op_init(&con[n], &pc[n], NULL, 0);
		con[n].addr = a;
		rc[n] = io->ops->connect(io, &con[n]);
		CK_OK(rc[n]);
		if (rc[n] == AC_IO_PENDING && first < 0)
			first = n;
		else if (rc[n] == AC_IO_PENDING)
			second = n;
	}
	ck_assert_int_ge(second, 0);
	ck_assert_int_eq(io->ops->pending(io), 2);
	/* Cancel one: its socket goes, its callback never runs. */
	ck_assert_int_eq(io->ops->cancel(io, &con[first]), 0);
	CK_RC(io->ops->close(io, con[first].h), -EBADF);
	op_init(&acc, &pa, &buf, 1);
	CK_RC(io->ops->recv(io, con[second].h, &acc), -ENOTCONN);
	/* Drain the accept queue; the other connect then completes. */
	while (pc[second].calls == 0) {
		op_init(&acc, &pa, NULL, 0);
		if (op_wait(io->ops->accept(io, lh, &acc), &acc) >= 0) {
			CK_OK(io->ops->close(io, (int)acc.res));
			accepted++;
		}
	}
	ck_assert_int_eq(pc[second].calls, 1);
	ck_assert_int_eq(con[second].res, con[second].h);
	ck_assert_int_eq(pc[first].calls, 0);
	ck_assert_int_ge(accepted, 1);
	for (i = 0; i < n; i++)
		if (i != first)
			CK_OK(io->ops->close(io, (int)con[i].res));
	CK_OK(io->ops->close(io, lh));
}
END_TEST

/* A recv stops short at an urgent mark with data behind it: that short read
 * does not mean the socket is empty, and the data after the mark must come
 * without the peer sending anything else. */
START_TEST(test_urgent_data)
{
	char in[64];
	ac_op r;
	probe pr;
	int lh, ch, sh;
	int64_t n;

	tcp_pair(&lh, &ch, &sh);
	ck_assert_int_eq(send(ch, "A", 1, 0), 1);
	ck_assert_int_eq(send(ch, "B", 1, MSG_OOB), 1);
	ck_assert_int_eq(send(ch, "CD", 2, 0), 2);
	/* Let the bytes arrive and their edges be taken before any read. */
	CK_OK(io->ops->poll(io, io_now() + 50 * MS));
	CK_OK(io->ops->poll(io, io_now() + 50 * MS));
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(op_wait(io->ops->recv(io, sh, &r), &r), 1);
	ck_assert_int_eq(in[0], 'A');
	op_init(&r, &pr, in, sizeof(in));
	n = op_wait(io->ops->recv(io, sh, &r), &r);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(memcmp(in, "CD", 2), 0);
	ck_assert_int_eq(io->ops->pending(io), 0);
	CK_OK(io->ops->close(io, ch));
	CK_OK(io->ops->close(io, sh));
	CK_OK(io->ops->close(io, lh));
}
END_TEST

START_TEST(test_many_conns)
{
	enum { N = 150 };
	int lh[N], ch[N], sh[N], i;
	char in[4];
	ac_op s, r;
	probe ps, pr;

	/* Enough descriptors to grow the backend's table several times. */
	for (i = 0; i < N; i++)
		tcp_pair(&lh[i], &ch[i], &sh[i]);
	for (i = 0; i < N; i++) {
		op_init(&s, &ps, &i, sizeof(i));
		ck_assert_int_eq(op_wait(io->ops->send(io, ch[i], &s), &s), (int64_t)sizeof(i));
		op_init(&r, &pr, in, sizeof(in));
		ck_assert_int_eq(op_wait(io->ops->recv(io, sh[i], &r), &r), (int64_t)sizeof(i));
		ck_assert_int_eq(memcmp(in, &i, sizeof(i)), 0);
	}
	for (i = 0; i < N; i++) {
		CK_OK(io->ops->close(io, ch[i]));
		CK_OK(io->ops->close(io, sh[i]));
		CK_OK(io->ops->close(io, lh[i]));
	}
}
END_TEST

/* ---- UDP ------------------------------------------------------------------------- */

/* ---- poll, time, entropy ---------------------------------------------------------- */

START_TEST(test_poll_deadline)
{
	int64_t t0, t1, w0;

	t0 = io_now();
	ck_assert_int_eq(io->ops->poll(io, t0 + 50 * MS), 0);
	t1 = io_now();
	ck_assert_int_ge(t1 - t0, 50 * MS);
	ck_assert_int_lt(t1 - t0, 5000 * MS);
	/* A deadline in the past or now: no waiting. */
	t0 = io_now();
	ck_assert_int_eq(io->ops->poll(io, 0), 0);
	ck_assert_int_eq(io->ops->poll(io, t0), 0);
	ck_assert_int_lt(io_now() - t0, 1000 * MS);
	/* A sub-millisecond deadline is not missed by much, nor early. */
	t0 = io_now();
	ck_assert_int_eq(io->ops->poll(io, t0 + 300000), 0);
	ck_assert_int_ge(io_now() - t0, 300000);
	/* Clocks move forward; wall time is after 2020. */
	ck_assert_int_ge(io_now(), t1);
	w0 = io->ops->wall_ns(io);
	ck_assert_int_gt(w0, INT64_C(1577836800) * 1000000000);
}
END_TEST

/* ---- attached descriptors ----------------------------------------------------------- */

/* Write 1 MiB through attached pipe ends (more than the pipe holds, so the
 * write stays pending while the reader drains it). */
static void pipe_bulk(int hr, int hw)
{
	const size_t total = 1u << 20;
	uint8_t *out = malloc(total), in[8192];
	size_t got = 0, i;
	ac_op r, w;
	probe pr, pw;

	ck_assert_ptr_nonnull(out);
	for (i = 0; i < total; i++)
		out[i] = (uint8_t)(i % 253);
	op_init(&w, &pw, out, total);
	ck_assert_int_eq(io->ops->write(io, hw, &w), AC_IO_PENDING);
	while (got < total) {
		int64_t n;
		op_init(&r, &pr, in, sizeof(in));
		n = op_wait(io->ops->read(io, hr, &r), &r);
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(memcmp(in, out + got, (size_t)n), 0);
		got += (size_t)n;
	}
	poll_until(&pw.calls, 1);
	ck_assert_int_eq(w.res, (int64_t)total);
	free(out);
}

START_TEST(test_fd_attach_pipe)
{
	char in[16];
	ac_op r, w;
	probe pr, pw;
	int fds[2], hr, hw, fl;

	ck_assert_int_eq(pipe(fds), 0);
	CK_OK(io->ops->fd_attach(io, fds[0], &hr));
	CK_OK(io->ops->fd_attach(io, fds[1], &hw));
	CK_RC(io->ops->fd_attach(io, fds[1], &hw), -EEXIST);
	ck_assert(fcntl(fds[0], F_GETFL) & O_NONBLOCK);
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(io->ops->read(io, hr, &r), AC_IO_PENDING);
	op_init(&w, &pw, "abc", 3);
	ck_assert_int_eq(io->ops->write(io, hw, &w), AC_IO_DONE);
	ck_assert_int_eq(w.res, 3);
	ck_assert_int_eq(op_wait(AC_IO_PENDING, &r), 3);
	ck_assert_int_eq(memcmp(in, "abc", 3), 0);
	pipe_bulk(hr, hw);
	/* close() detaches: the descriptor stays open, its flags restored. */
	CK_OK(io->ops->close(io, hw));
	fl = fcntl(fds[1], F_GETFL);
	ck_assert_int_ge(fl, 0);
	ck_assert_int_eq(fl & O_NONBLOCK, 0);
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(io->ops->read(io, hr, &r), AC_IO_PENDING);
	ck_assert_int_eq(close(fds[1]), 0);
	ck_assert_int_eq(op_wait(AC_IO_PENDING, &r), 0); /* end of file */
	CK_OK(io->ops->close(io, hr));
	ck_assert_int_eq(close(fds[0]), 0);
}
END_TEST

START_TEST(test_fd_attach_epipe)
{
	ac_op w;
	probe pw;
	int fds[2], hw;

	/* Writing to a pipe nobody reads: -EPIPE, and the process survives
	 * although SIGPIPE keeps its default (terminating) action. */
	signal(SIGPIPE, SIG_DFL);
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(close(fds[0]), 0);
	CK_OK(io->ops->fd_attach(io, fds[1], &hw));
	op_init(&w, &pw, "abc", 3);
	CK_RC(io->ops->write(io, hw, &w), -EPIPE);
	CK_OK(io->ops->close(io, hw));
	ck_assert_int_eq(close(fds[1]), 0);
	ck_assert_int_eq(pw.calls, 0);
}
END_TEST

START_TEST(test_fd_attach_file)
{
	char path[] = "/tmp/check_io_XXXXXX", in[8];
	ac_op r;
	probe pr;
	int fd, h;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "file", 4), 4);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	CK_OK(io->ops->fd_attach(io, fd, &h));
	op_init(&r, &pr, in, sizeof(in));
	ck_assert_int_eq(io->ops->read(io, h, &r), AC_IO_DONE); /* regular files: inline */
	ck_assert_int_eq(r.res, 4);
	ck_assert_int_eq(io->ops->read(io, h, &r), AC_IO_DONE);
	ck_assert_int_eq(r.res, 0);
	CK_OK(io->ops->close(io, h));
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(unlink(path), 0);
}
END_TEST

/* ---- names ------------------------------------------------------------------------ */

START_TEST(test_resolve)
{
	ac_addr out[8], want;
	int n, i;

	n = io->ops->resolve(io, "127.0.0.1", AC_AF_NONE, 99, out, 8);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(ac_addr_parse(&want, "127.0.0.1:99", 0), 0);
	ck_assert(ac_addr_eq(&out[0], &want));
	n = io->ops->resolve(io, "::1", AC_AF_INET6, 5, out, 8);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(ac_addr_parse(&want, "[::1]:5", 0), 0);
	ck_assert(ac_addr_eq(&out[0], &want));
	CK_RC(io->ops->resolve(io, "127.0.0.1", AC_AF_INET6, 5, out, 8), -ENOENT);
	CK_RC(io->ops->resolve(io, "127.0.0.1", 5, 5, out, 8), -EINVAL);
	CK_RC(io->ops->resolve(io, "127.0.0.1", AC_AF_NONE, 5, out, 0), -EINVAL);
	n = io->ops->host_addrs(io, out, 8);
	ck_assert_int_ge(n, 1);
	/* Loopback addresses come last. */
	for (i = 1; i < n; i++)
		ck_assert(ac_addr_is_loopback(&out[i - 1]) <= ac_addr_is_loopback(&out[i]));
}
END_TEST

/* ---- files ------------------------------------------------------------------------- */

/* path = dir + "/" + name. */
static char *join(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

/* Symbolic links (made through the OS: io.h cannot make one): file_stat
 * follows them unless nofollow is set, and unlink removes the link only.
 * The rest of io.h's files is tested on both backends by check_conform. */
START_TEST(test_file_symlink)
{
	char dir[] = "/tmp/check_io_XXXXXX", p1[128], p2[128];
	ac_stat st;
	int h;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	join(p1, sizeof(p1), dir, "b");
	join(p2, sizeof(p2), dir, "link");
	CK_OK(io->ops->file_open(io, p1, AC_FO_WRITE | AC_FO_CREATE, 0644, &h));
	ck_assert_int_eq(io->ops->file_pwrite(io, h, "0123456789", 10, 12), 10);
	CK_OK(io->ops->file_close(io, h));
	ck_assert_int_eq(symlink("b", p2), 0);
	CK_OK(io->ops->file_stat(io, p2, 1, &st));
	ck_assert_int_eq(st.type, AC_FT_LINK);
	CK_OK(io->ops->file_stat(io, p2, 0, &st));
	ck_assert_int_eq(st.type, AC_FT_FILE);
	ck_assert_int_eq(st.size, 22);
	CK_OK(io->ops->file_unlink(io, p2));
	CK_OK(io->ops->file_stat(io, p1, 1, &st));
	ck_assert_int_eq(st.type, AC_FT_FILE);
	CK_OK(io->ops->file_unlink(io, p1));
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *io_suite(void)
{
	Suite *s = suite_create("io");
	TCase *tc;

	tc = tcase_create("addr");
	tcase_add_test(tc, test_addr_parse);
	tcase_add_test(tc, test_addr_props);
	suite_add_tcase(s, tc);

	tc = tcase_create("epoll");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tcp_reset);
	tcase_add_test(tc, test_tcp_v6);
	tcase_add_test(tc, test_connect_pending);
	tcase_add_test(tc, test_urgent_data);
	tcase_add_test(tc, test_many_conns);
	tcase_add_test(tc, test_poll_deadline);
	tcase_add_test(tc, test_fd_attach_pipe);
	tcase_add_test(tc, test_fd_attach_epipe);
	tcase_add_test(tc, test_fd_attach_file);
	tcase_add_test(tc, test_resolve);
	tcase_add_test(tc, test_file_symlink);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(io_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
