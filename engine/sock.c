/* engine/sock.c: coroutine-facing sockets (asyncoro's AsyncSocket) — TCP
 * listen/accept/connect, exact reads and writes, line and length-prefixed
 * message framing, UDP, and attached descriptors such as stdin, all with
 * timeouts, on whatever io.h backend the scheduler uses (epoll or sim).
 *
 * Each call submits an io.h operation that lives on the calling coroutine's
 * stack and parks until it completes or the deadline passes (ac__io_wait).
 * Bytes read ahead by recv_line stay in a per-socket buffer that every read
 * consumes first, so line and binary reads can be mixed.
 *
 * Closing a socket that other coroutines are blocked on completes their
 * operations with -ECANCELED; the socket's memory is released when the last
 * of them has returned (k_inflight), never under their feet.
 */
#include "engine/engine.h"

#include <limits.h>

enum { SOCK_LISTEN = 1, SOCK_TCP, SOCK_UDP, SOCK_FD };

/* Initial read-ahead buffer size for recv_line (it grows for a longer line
 * when the caller's buffer can hold one). */
#define SOCK_RBUF 4096

struct ac_sock {
	ac_sched *k_sched;
	/* Links in the scheduler's list of open sockets (freed with it). */
	ac_sock *k_next;
	ac_sock *k_prev;
	/* Backend handle, -1 once closed. */
	int k_h;
	/* SOCK_LISTEN, SOCK_TCP, SOCK_UDP or SOCK_FD. */
	int k_type;
	/* Operations in flight (coroutines inside a call on this socket). */
	int k_inflight;
	/* Closed by ac_sock_close while operations were in flight (or held). */
	int k_closed;
	/* Holds by internal owners (ac__sock_hold): the memory stays until
	 * the last is dropped, even after ac_sock_close. */
	int k_holds;
	/* A timed-out send or read left the stream in an unknown state. */
	int k_broken;
	/* A read met the end of the stream (the peer's shutdown or close)
	 * while bytes were buffered: reads give those bytes, then 0. */
	int k_eof;
	/* Read-ahead bytes [k_rpos, k_rlen) of k_rbuf (k_rcap bytes). */
	char *k_rbuf;
	size_t k_rpos;
	size_t k_rlen;
	size_t k_rcap;
};

static int sock_new(ac_sched *s, int h, int type, ac_sock **out)
{
	ac_sock *k = ac__calloc(1, sizeof(*k));
	if (!k) {
		s->s_io->ops->close(s->s_io, h);
		return -ENOMEM;
	}
	k->k_sched = s;
	k->k_h = h;
	k->k_type = type;
	k->k_next = s->s_socks;
	if (s->s_socks)
		s->s_socks->k_prev = k;
	s->s_socks = k;
	*out = k;
	return 0;
}

static void sock_release(ac_sock *k)
{
	ac_sched *s = k->k_sched;
	if (k->k_prev)
		k->k_prev->k_next = k->k_next;
	else
		s->s_socks = k->k_next;
	if (k->k_next)
		k->k_next->k_prev = k->k_prev;
	ac__free(k->k_rbuf);
	ac__free(k);
}

/* Enter a blocking call: the caller must be a coroutine of k's scheduler. */
static int sock_enter(ac_sock *k)
{
	ac_coro *c = ac__cur();
	if (!k)
		return -EINVAL;
	if (!c || c->c_sched != k->k_sched)
		return -EPERM;
	if (k->k_h < 0 || k->k_closed)
		return -EBADF;
	k->k_inflight++;
	return 0;
}

/* Leave a blocking call; frees k when it was closed meanwhile and this was
 * the last call in flight. Returns rc, or -ECANCELED when closed. */
static int64_t sock_leave(ac_sock *k, int64_t rc)
{
	AC_ASSERT(k->k_inflight > 0);
	k->k_inflight--;
	if (k->k_closed) {
		if (k->k_inflight == 0 && k->k_holds == 0)
			sock_release(k);
		return rc < 0 ? rc : -ECANCELED;
	}
	return rc;
}

void ac__sock_hold(ac_sock *k)
{
	k->k_holds++;
}

void ac__sock_drop(void *arg)
{
	ac_sock *k = arg;
	AC_ASSERT(k->k_holds > 0);
	if (--k->k_holds == 0 && k->k_closed && k->k_inflight == 0)
		sock_release(k);
}

/* An operation in flight and its socket, for the termination undo. */
typedef struct sock_wait {
	ac_op w_op;
	ac_sock *w_sock;
} sock_wait;

/* A coroutine inside a call on k was terminated (while it waited or stood
 * aside): leave the socket as its call would have. */
static void sock_leave_killed(ac_coro *c, void *obj)
{
	ac_sock *k = obj;
	(void)c;
	AC_ASSERT(k->k_inflight > 0);
	k->k_inflight--;
	if (k->k_closed && k->k_inflight == 0 && k->k_holds == 0)
		sock_release(k);
}

/* The waiting coroutine was terminated: cancel its operation and leave
 * the socket. */
static void sock_kill_cancel(ac_coro *c, void *obj)
{
	sock_wait *w = obj;
	ac__io_forget(c->c_sched->s_io, &w->w_op);
	sock_leave_killed(c, w->w_sock);
}

/* Fairness: a coroutine whose operations keep completing at once (its peer
 * keeps it busy) would never let the others, the poll or the timers run.
 * After AC__INLINE_IO_MAX such operations in a row, the next one yields
 * first. Returns 0, or -ECANCELED when k was closed meanwhile. */
static int sock_fair_yield(ac_sock *k)
{
	ac_sched *s = k->k_sched;
	ac_coro *c = s->s_cur;
	s->s_inline_io = 0;
	c->c_cancel = sock_leave_killed;
	c->c_cancel_obj = k;
	ac_yield();
	c->c_cancel = NULL;
	c->c_cancel_obj = NULL;
	return k->k_closed || k->k_h < 0 ? -ECANCELED : 0;
}

static int sock_submit(ac_sock *k, int type, ac_op *op)
{
	ac_io *io = k->k_sched->s_io;
	switch (type) {
	case AC_OP_ACCEPT:
		return io->ops->accept(io, k->k_h, op);
	case AC_OP_RECV:
		return io->ops->recv(io, k->k_h, op);
	case AC_OP_SEND:
		return io->ops->send(io, k->k_h, op);
	case AC_OP_RECVFROM:
		return io->ops->recvfrom(io, k->k_h, op);
	case AC_OP_SENDTO:
		return io->ops->sendto(io, k->k_h, op);
	case AC_OP_READ:
		return io->ops->read(io, k->k_h, op);
	case AC_OP_WRITE:
		return io->ops->write(io, k->k_h, op);
	default:
		return -EINVAL;
	}
}

/* Submit the operation described by op and wait for it; returns its result
 * (and copies the peer address back into op). */
static int64_t sock_op(ac_sock *k, int type, ac_op *op, int64_t deadline_ns)
{
	ac_sched *s = k->k_sched;
	sock_wait w;
	int64_t r;
	int rc;
	if (k->k_h < 0)
		return -EBADF;
	if (s->s_inline_io >= AC__INLINE_IO_MAX && sock_fair_yield(k) < 0)
		return -ECANCELED;
	/* Fault point: a timeout much shorter than asked for. */
	if (deadline_ns >= 0 && AC_BUGGIFY(s->s_io, "sock-short-timeout"))
		deadline_ns = ac__deadline(s, 1);
	w.w_op = *op;
	w.w_sock = k;
	w.w_op.cb = ac__io_wake_cb;
	w.w_op.data = s->s_cur;
	rc = sock_submit(k, type, &w.w_op);
	if (rc < 0)
		return rc;
	if (rc == AC_IO_DONE) {
		r = w.w_op.res;
		s->s_inline_io++;
	} else {
		s->s_inline_io = 0;
		r = ac__io_wait_ex(s, &w.w_op, deadline_ns, sock_kill_cancel, &w);
	}
	op->addr = w.w_op.addr;
	op->res = r;
	return r;
}

int ac_sock_listen(ac_sched *s, const ac_addr *addr, int backlog, int flags,
                   ac_sock **out)
{
	int h, rc;
	s = s ? s : ac__tls_sched;
	if (!s)
		return -EPERM;
	if (!addr || !out)
		return -EINVAL;
	rc = s->s_io->ops->tcp_listen(s->s_io, addr, backlog > 0 ? backlog : 128,
	                              flags | AC_IO_REUSEADDR, &h);
	if (rc < 0)
		return rc;
	return sock_new(s, h, SOCK_LISTEN, out);
}

int ac_sock_accept(ac_sock *l, int64_t timeout_ms, ac_sock **out)
{
	ac_op op;
	int64_t r;
	int rc = sock_enter(l);
	if (rc < 0)
		return rc;
	if (l->k_type != SOCK_LISTEN || !out)
		return (int)sock_leave(l, -EINVAL);
	memset(&op, 0, sizeof(op));
	r = sock_op(l, AC_OP_ACCEPT, &op, ac__deadline(l->k_sched, timeout_ms));
	if (r >= 0 && !l->k_closed)
		return (int)sock_leave(l, sock_new(l->k_sched, (int)r, SOCK_TCP, out));
	if (r >= 0)
		l->k_sched->s_io->ops->close(l->k_sched->s_io, (int)r);
	return (int)sock_leave(l, r);
}

int ac_sock_connect(const ac_addr *addr, int64_t timeout_ms, ac_sock **out)
{
	ac_coro *c = ac__cur();
	ac_sched *s;
	ac_io *io;
	ac_op op;
	int64_t r;
	int rc;
	if (!c)
		return -EPERM;
	if (!addr || !out)
		return -EINVAL;
	s = c->c_sched;
	io = s->s_io;
	memset(&op, 0, sizeof(op));
	op.addr = *addr;
	op.cb = ac__io_wake_cb;
	op.data = c;
	rc = io->ops->connect(io, &op);
	if (rc < 0)
		return rc;
	r = rc == AC_IO_DONE ? op.res
	                     : ac__io_wait(s, &op, ac__deadline(s, timeout_ms));
	if (r < 0)
		return (int)r;
	return sock_new(s, (int)r, SOCK_TCP, out);
}

int ac_sock_udp(ac_sched *s, const ac_addr *addr, int flags, ac_sock **out)
{
	int h, rc;
	s = s ? s : ac__tls_sched;
	if (!s)
		return -EPERM;
	if (!addr || !out)
		return -EINVAL;
	rc = s->s_io->ops->udp_bind(s->s_io, addr, flags, &h);
	if (rc < 0)
		return rc;
	return sock_new(s, h, SOCK_UDP, out);
}

int ac_sock_attach_fd(ac_sched *s, int fd, ac_sock **out)
{
	int h, rc;
	s = s ? s : ac__tls_sched;
	if (!s)
		return -EPERM;
	if (fd < 0 || !out)
		return -EINVAL;
	rc = s->s_io->ops->fd_attach(s->s_io, fd, &h);
	if (rc < 0)
		return rc;
	return sock_new(s, h, SOCK_FD, out);
}

/* One read into buf: from the read-ahead buffer, else from the backend. */
static int64_t sock_read1(ac_sock *k, void *buf, size_t len, int64_t deadline_ns)
{
	ac_op op;
	if (k->k_rpos < k->k_rlen) {
		size_t n = k->k_rlen - k->k_rpos;
		if (n > len)
			n = len;
		memcpy(buf, k->k_rbuf + k->k_rpos, n);
		k->k_rpos += n;
		return (int64_t)n;
	}
	if (k->k_broken)
		return -EPIPE;
	if (k->k_eof)
		return 0;
	memset(&op, 0, sizeof(op));
	op.buf = buf;
	op.len = len;
	return sock_op(k, k->k_type == SOCK_FD ? AC_OP_READ : AC_OP_RECV, &op,
	               deadline_ns);
}

ssize_t ac_sock_recv(ac_sock *k, void *buf, size_t len, int64_t timeout_ms)
{
	int rc = sock_enter(k);
	if (rc < 0)
		return rc;
	if (k->k_type != SOCK_TCP && k->k_type != SOCK_FD)
		return (ssize_t)sock_leave(k, -EINVAL);
	if (!buf || len == 0)
		return (ssize_t)sock_leave(k, -EINVAL);
	return (ssize_t)sock_leave(
		k, sock_read1(k, buf, len, ac__deadline(k->k_sched, timeout_ms)));
}

/* Read exactly len bytes before deadline (see ac_sock_recv_all). */
static int64_t sock_read_all(ac_sock *k, void *buf, size_t len,
                             int64_t deadline_ns)
{
	size_t got = 0;
	while (got < len) {
		int64_t r = sock_read1(k, (char *)buf + got, len - got, deadline_ns);
		if (r == 0)
			return got == 0 ? 0 : -EPIPE;
		if (r < 0) {
			if (got > 0)
				k->k_broken = 1; /* the bytes read are lost */
			return r;
		}
		got += (size_t)r;
	}
	return (int64_t)len;
}

ssize_t ac_sock_recv_all(ac_sock *k, void *buf, size_t len, int64_t timeout_ms)
{
	int rc = sock_enter(k);
	if (rc < 0)
		return rc;
	if (k->k_type != SOCK_TCP && k->k_type != SOCK_FD)
		return (ssize_t)sock_leave(k, -EINVAL);
	if ((!buf && len) || len > (size_t)SSIZE_MAX)
		return (ssize_t)sock_leave(k, -EINVAL);
	return (ssize_t)sock_leave(
		k, sock_read_all(k, buf, len, ac__deadline(k->k_sched, timeout_ms)));
}

static int64_t sock_write_all(ac_sock *k, const void *buf, size_t len,
                              int64_t deadline_ns)
{
	ac_op op;
	int64_t r;
	if (k->k_broken)
		return -EPIPE;
	if (len == 0)
		return 0;
	memset(&op, 0, sizeof(op));
	op.buf = (void *)buf;
	op.len = len;
	r = sock_op(k, k->k_type == SOCK_FD ? AC_OP_WRITE : AC_OP_SEND, &op,
	            deadline_ns);
	if (r == -ETIMEDOUT)
		k->k_broken = 1; /* part of it may have been written */
	return r;
}

ssize_t ac_sock_send_all(ac_sock *k, const void *buf, size_t len,
                         int64_t timeout_ms)
{
	int rc = sock_enter(k);
	if (rc < 0)
		return rc;
	if (k->k_type != SOCK_TCP && k->k_type != SOCK_FD)
		return (ssize_t)sock_leave(k, -EINVAL);
	if ((!buf && len) || len > (size_t)SSIZE_MAX)
		return (ssize_t)sock_leave(k, -EINVAL);
	return (ssize_t)sock_leave(
		k, sock_write_all(k, buf, len, ac__deadline(k->k_sched, timeout_ms)));
}

/* Find a complete line in the read-ahead buffer, refilling it as needed. */
static int64_t sock_line(ac_sock *k, char *buf, size_t len, int64_t deadline_ns)
{
	for (;;) {
		char *nl = NULL;
		size_t n;
		int64_t r;
		if (k->k_rpos < k->k_rlen)
			nl = memchr(k->k_rbuf + k->k_rpos, '\n', k->k_rlen - k->k_rpos);
		n = nl ? (size_t)(nl - (k->k_rbuf + k->k_rpos))
		       : k->k_rlen - k->k_rpos;
		if (nl || (n > 0 && k->k_eof)) {
			size_t used = n + (nl ? 1 : 0);
			if (n > 0 && k->k_rbuf[k->k_rpos + n - 1] == '\r')
				n--;
			if (n >= len)
				return -EMSGSIZE;
			memcpy(buf, k->k_rbuf + k->k_rpos, n);
			buf[n] = '\0';
			k->k_rpos += used;
			return (int64_t)used;
		}
		if (k->k_broken)
			return -EPIPE;
		if (k->k_eof)
			return 0; /* the stream ended, every line was read */
		if (k->k_rlen - k->k_rpos >= k->k_rcap) {
			/* A full buffer and no newline. A line that fits the
			 * caller's len bytes (NUL included) takes at most len + 1
			 * bytes with its "\r\n": grow up to that, else the line
			 * cannot fit. */
			size_t cap = k->k_rcap * 2;
			char *nb;
			if (k->k_rcap >= len + 1)
				return -EMSGSIZE;
			if (cap > len + 1)
				cap = len + 1;
			nb = ac__realloc(k->k_rbuf, cap);
			if (!nb)
				return -ENOMEM;
			k->k_rbuf = nb;
			k->k_rcap = cap;
		}
		memmove(k->k_rbuf, k->k_rbuf + k->k_rpos, k->k_rlen - k->k_rpos);
		k->k_rlen -= k->k_rpos;
		k->k_rpos = 0;
		{
			ac_op op;
			memset(&op, 0, sizeof(op));
			op.buf = k->k_rbuf + k->k_rlen;
			op.len = k->k_rcap - k->k_rlen;
			r = sock_op(k, k->k_type == SOCK_FD ? AC_OP_READ : AC_OP_RECV,
			            &op, deadline_ns);
		}
		if (r < 0)
			return r;
		if (r == 0) {
			if (k->k_rlen == 0)
				return 0;
			/* End of stream: the last, unended line. Only reading
			 * ended: the socket can still send (a half-close). */
			k->k_eof = 1;
			continue;
		}
		k->k_rlen += (size_t)r;
	}
}

ssize_t ac_sock_recv_line(ac_sock *k, char *buf, size_t len,
                          int64_t timeout_ms)
{
	int rc = sock_enter(k);
	if (rc < 0)
		return rc;
	if ((k->k_type != SOCK_TCP && k->k_type != SOCK_FD) || !buf || !len)
		return (ssize_t)sock_leave(k, -EINVAL);
	if (!k->k_rbuf) {
		k->k_rbuf = ac__malloc(SOCK_RBUF);
		if (!k->k_rbuf)
			return (ssize_t)sock_leave(k, -ENOMEM);
		k->k_rcap = SOCK_RBUF;
	}
	return (ssize_t)sock_leave(
		k, sock_line(k, buf, len, ac__deadline(k->k_sched, timeout_ms)));
}

ssize_t ac_sock_sendto(ac_sock *k, const void *buf, size_t len,
                       const ac_addr *to, int64_t timeout_ms)
{
	ac_op op;
	int rc = sock_enter(k);
	if (rc < 0)
		return rc;
	if (k->k_type != SOCK_UDP || !to || (!buf && len))
		return (ssize_t)sock_leave(k, -EINVAL);
	memset(&op, 0, sizeof(op));
	op.buf = (void *)buf;
	op.len = len;
	op.addr = *to;
	return (ssize_t)sock_leave(
		k, sock_op(k, AC_OP_SENDTO, &op, ac__deadline(k->k_sched, timeout_ms)));
}

ssize_t ac_sock_recvfrom(ac_sock *k, void *buf, size_t len, ac_addr *from,
                         int64_t timeout_ms)
{
	ac_op op;
	int64_t r;
	int rc = sock_enter(k);
	if (rc < 0)
		return rc;
	if (k->k_type != SOCK_UDP || !buf)
		return (ssize_t)sock_leave(k, -EINVAL);
	memset(&op, 0, sizeof(op));
	op.buf = buf;
	op.len = len;
	r = sock_op(k, AC_OP_RECVFROM, &op, ac__deadline(k->k_sched, timeout_ms));
	if (r >= 0 && from)
		*from = op.addr;
	return (ssize_t)sock_leave(k, r);
}

/* Messages up to this size (with their header) go out in one write, whole
 * even when other coroutines send on the same socket. */
#define SOCK_MSG_WHOLE (64 * 1024)

/* The undo of a call that holds a buffer (*arg, or NULL) while it waits. */
static void sock_held_free(void *arg)
{
	ac__free(*(void **)arg);
}

int ac_sock_send_msg(ac_sock *k, const void *buf, size_t len,
                     int64_t timeout_ms)
{
	uint8_t small[4 + 1024], *out = small;
	void *held = NULL; /* out when allocated */
	ac__defer undo;
	int64_t deadline_ns, r;
	int rc = sock_enter(k);
	if (rc < 0)
		return rc;
	if (k->k_type != SOCK_TCP || (!buf && len) || len > UINT32_MAX)
		return (int)sock_leave(k, -EINVAL);
	deadline_ns = ac__deadline(k->k_sched, timeout_ms);
	if (len > sizeof(small) - 4 && len <= SOCK_MSG_WHOLE - 4)
		out = ac__malloc(len + 4);
	if (!out)
		return (int)sock_leave(k, -ENOMEM);
	if (out != small)
		held = out;
	/* A coroutine terminated while it waits frees the copy. */
	ac__defer_push(ac__cur(), &undo, sock_held_free, &held);
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	if (len <= SOCK_MSG_WHOLE - 4) {
		if (len)
			memcpy(out + 4, buf, len);
		r = sock_write_all(k, out, len + 4, deadline_ns);
	} else {
		/* Too large to copy: the header, then the body (another
		 * writer's bytes may come between: see asyncoro.h). */
		r = sock_write_all(k, out, 4, deadline_ns);
		if (r >= 0)
			r = sock_write_all(k, buf, len, deadline_ns);
	}
	ac__defer_pop(ac__cur(), &undo);
	ac__free(held);
	return (int)sock_leave(k, r < 0 ? r : 0);
}

int ac_sock_recv_msg(ac_sock *k, void **out, size_t *len, size_t max,
                     int64_t timeout_ms)
{
	uint8_t hdr[4];
	int64_t deadline_ns, r;
	size_t n;
	void *buf;
	ac__defer undo;
	int rc = sock_enter(k);
	if (rc < 0)
		return rc;
	if (k->k_type != SOCK_TCP || !out || !len)
		return (int)sock_leave(k, -EINVAL);
	deadline_ns = ac__deadline(k->k_sched, timeout_ms);
	r = sock_read_all(k, hdr, sizeof(hdr), deadline_ns);
	if (r <= 0)
		return (int)sock_leave(k, r);
	n = ((size_t)hdr[0] << 24) | ((size_t)hdr[1] << 16) |
	    ((size_t)hdr[2] << 8) | hdr[3];
	if (n > max) {
		k->k_broken = 1; /* the body is not consumed */
		return (int)sock_leave(k, -EMSGSIZE);
	}
	buf = ac__malloc(n ? n : 1);
	if (!buf)
		return (int)sock_leave(k, -ENOMEM);
	/* A coroutine terminated while it waits for the body frees it. */
	ac__defer_push(ac__cur(), &undo, sock_held_free, &buf);
	r = n ? sock_read_all(k, buf, n, deadline_ns) : 0;
	ac__defer_pop(ac__cur(), &undo);
	if (r == 0 && n)
		r = -EPIPE;
	if (r == -ETIMEDOUT)
		k->k_broken = 1; /* the length was consumed: the stream is out of step */
	if (r < 0) {
		ac__free(buf);
		return (int)sock_leave(k, r);
	}
	*out = buf;
	*len = n;
	return (int)sock_leave(k, 1);
}

int ac_sock_shutdown(ac_sock *k)
{
	if (!k || k->k_h < 0)
		return -EBADF;
	if (k->k_type != SOCK_TCP)
		return -EINVAL;
	return k->k_sched->s_io->ops->shutdown(k->k_sched->s_io, k->k_h);
}

void ac_sock_close(ac_sock *k)
{
	ac_io *io;
	if (!k || k->k_closed)
		return;
	io = k->k_sched->s_io;
	if (k->k_h >= 0)
		io->ops->close(io, k->k_h);
	k->k_h = -1;
	if (k->k_inflight > 0 || k->k_holds > 0) {
		k->k_closed = 1; /* freed by the last call to leave or drop */
		return;
	}
	sock_release(k);
}

int ac_sock_local_addr(ac_sock *k, ac_addr *out)
{
	if (!k || k->k_h < 0)
		return -EBADF;
	return k->k_sched->s_io->ops->local_addr(k->k_sched->s_io, k->k_h, out);
}

int ac_sock_peer_addr(ac_sock *k, ac_addr *out)
{
	if (!k || k->k_h < 0)
		return -EBADF;
	return k->k_sched->s_io->ops->peer_addr(k->k_sched->s_io, k->k_h, out);
}

int ac_resolve(ac_sched *s, const char *host, uint16_t port, ac_addr *out)
{
	int rc;
	s = s ? s : ac__tls_sched;
	if (!s)
		return -EPERM;
	if (!host || !out)
		return -EINVAL;
	if (ac_addr_parse(out, host, port) == 0)
		return 0;
	rc = s->s_io->ops->resolve(s->s_io, host, AC_AF_NONE, port, out, 1);
	return rc < 0 ? rc : 0;
}

void ac__sock_free_all(ac_sched *s)
{
	/* Every coroutine has ended: no call is in flight on any socket. */
	while (s->s_socks) {
		ac_sock *k = s->s_socks;
		AC_ASSERT(k->k_inflight == 0);
		k->k_holds = 0; /* their owners are gone with the scheduler */
		if (k->k_h >= 0)
			s->s_io->ops->close(s->s_io, k->k_h);
		k->k_h = -1;
		sock_release(k);
	}
}
