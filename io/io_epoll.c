/* io/io_epoll.c: the real backend of io.h, completions built on Linux epoll.
 *
 * Handles are the OS descriptors. Each socket is registered once, when it is
 * created, for EPOLLIN|EPOLLOUT|EPOLLRDHUP in edge-triggered mode, and is never
 * touched with epoll_ctl again: no syscall per operation beyond the I/O itself.
 * Every descriptor has two FIFO queues of pending operations, the read side
 * (accept, recv, recvfrom, read) and the write side (connect, send, sendto,
 * write). A submit first tries its syscall inline when its side's queue is
 * empty; when that completes, the submit returns AC_IO_DONE (the fast path:
 * a recv with data waiting costs one recv()). Otherwise the op is queued.
 * A TCP recv that got less than it asked for emptied the receive queue: the
 * next recv on that socket waits for the read edge without a syscall (a
 * recv that would only say EAGAIN), as libuv does after a partial read;
 * once an event reported the peer's shutdown, an error or urgent data
 * (EPOLLPRI: a recv stops short at the urgent mark with data behind it), no
 * such guess is made again on that socket: every recv tries its syscall.
 * Edge-triggered readiness is safe because of one invariant: a non-empty queue
 * means its head last saw EAGAIN, so the kernel owes us an edge; on that edge
 * the queue is drained until EAGAIN or empty. A completed op moves to the
 * ready list, and poll() runs the callbacks of the ready list in order.
 *
 * Decisions (a simulated backend should make the same ones):
 *  - An inline failure is the submit's return value (op->res holds it too), so
 *    AC_IO_DONE always means op->res >= 0.
 *  - FIFO holds for callbacks too: while a side of a descriptor has completed
 *    ops whose callbacks have not run, a new op that completes inline goes to
 *    the ready list behind them (AC_IO_PENDING) instead of returning DONE.
 *  - pending() counts ops whose callback has not run yet, including completed
 *    ops waiting on the ready list, so "0 pending" means nothing can call back.
 *  - cancel() of a waiting op sets op->res to -ECANCELED and returns 0;
 *    for a send or write, op->res is the bytes it had already written.
 *    cancel() of a completed op whose callback has not run removes it from
 *    the ready list and returns AC_IO_DONE, leaving op->res as completed (so
 *    a caller can still use bytes a recv took off the socket, or the handle
 *    an accept or connect produced: the caller must close it). Cancelling a
 *    send that wrote part of its buffer leaves that part in the stream.
 *    Cancelling a pending connect closes its socket.
 *  - close() queues -ECANCELED completions for the handle's pending ops; poll()
 *    runs at most the callbacks that were ready when it started running
 *    callbacks, so callbacks queued by a callback run from the next poll().
 *  - shutdown() waits for queued sends to finish before SHUT_WR.
 *  - recvfrom truncates a datagram to len; res is the number of bytes copied.
 *  - Attached descriptors get O_NONBLOCK (restored by close(), which never
 *    closes them). Ones epoll cannot watch (regular files) complete inline.
 *    Writes to attached pipes block SIGPIPE around write() and consume a
 *    SIGPIPE they raised, so a closed reader yields -EPIPE, never a signal.
 *  - resolve() uses getaddrinfo and may block; file ops are synchronous.
 *  - A peer or local address that is IPv4-mapped IPv6 is reported as IPv4.
 *  - Errors of a submit: unknown handle -EBADF; handle of the wrong kind
 *    (recv on a listener, close() of a file_open handle, file_close of a
 *    socket) -EINVAL or -EBADF; op on a connect in progress -ENOTCONN; send
 *    after shutdown -EPIPE.
 *  - poll() interrupted by a signal stops waiting and returns the number of
 *    callbacks it ran (possibly 0).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include <asyncoro/io.h>

#include "io/io_assert.h"

/* epoll_pwait2 (nanosecond timeouts) is declared by glibc 2.35 and later;
 * without it, timeouts are rounded up to whole milliseconds. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define EPOLL_HAVE_PWAIT2 1
#endif

/* Events fetched per epoll wait. */
#define EPOLL_EVENTS_MAX 256
/* Slots in the descriptor table at creation. */
#define EPOLL_FDS_MIN 64
/* High bits of ac_op.io_priv[1] while the backend owns the op. */
#define EPOLL_OP_MAGIC 0x45504f4c00000000ull
#define EPOLL_OP_MAGIC_MASK 0xffffffff00000000ull
/* ac_op.io_priv[1] of an op the backend owns: magic, side, state. */
#define EPOLL_OP_ST(state, side) (EPOLL_OP_MAGIC | ((uint64_t)(side) << 8) | (state))

/* Where an op is (low byte of io_priv[1]). */
enum { EPOLL_OP_IDLE = 0, EPOLL_OP_QUEUED = 1, EPOLL_OP_READY = 2 };
/* The two queues of a descriptor. */
enum { EPOLL_RD = 0, EPOLL_WR = 1 };
/* What a table slot holds. */
enum epoll_kind {
	EPOLL_K_FREE = 0, /* unused slot */
	EPOLL_K_LISTEN,   /* TCP listener */
	EPOLL_K_TCP,      /* TCP connection (or connect in progress) */
	EPOLL_K_UDP,      /* UDP socket */
	EPOLL_K_ATTACHED, /* caller's descriptor (stdin, pipe) */
	EPOLL_K_FILE      /* file from file_open */
};

/* A FIFO of ops linked through io_next/io_prev. */
typedef struct epoll_q {
	/* Oldest op, or NULL. */
	ac_op *q_head;
	/* Newest op, or NULL. */
	ac_op *q_tail;
} epoll_q;

/* Per-descriptor state, indexed by the descriptor number. */
typedef struct epoll_fd {
	/* enum epoll_kind; EPOLL_K_FREE when the slot is unused. */
	uint8_t f_kind;
	/* 1 while a nonblocking connect is in progress. */
	uint8_t f_connecting;
	/* 1 when the descriptor is in the epoll set. */
	uint8_t f_polled;
	/* 1 when shutdown() was asked for; done once the write queue drains. */
	uint8_t f_shut;
	/* 1 when an attached descriptor is a socket (send with MSG_NOSIGNAL). */
	uint8_t f_is_sock;
	/* Socket address family (AF_INET, AF_INET6), 0 for others. */
	uint8_t f_family;
	/* TCP: 1 after a recv that got less than it asked for, until the next
	 * read edge: the receive queue was empty, so the next recv waits for
	 * the edge instead of trying a syscall that would say EAGAIN. */
	uint8_t f_rd_drained;
	/* 1 once an event said the peer shut down, the socket failed (no edge
	 * follows those) or urgent data came (a short read may stop at its
	 * mark with data behind): every recv tries its syscall from then on. */
	uint8_t f_rd_end;
	/* Attached: file status flags to restore at close, or -1. */
	int f_orig_flags;
	/* Bumped when the slot is released; tags epoll events and ready ops. */
	uint32_t f_gen;
	/* Per side: completed ops on the ready list whose callback has not run. */
	uint32_t f_done[2];
	/* Per side: queued ops, oldest first. */
	epoll_q f_q[2];
} epoll_fd;

/* The backend instance. */
typedef struct epoll_io {
	/* Base class: must be first. */
	ac_io e_base;
	/* The epoll descriptor. */
	int e_epfd;
	/* 1 when epoll_pwait2 is unusable (old kernel, valgrind). */
	int e_no_pwait2;
	/* 1 while poll() runs callbacks (poll is not reentrant). */
	int e_polling;
	/* Ops whose callback has not run yet. */
	int e_pending;
	/* Descriptor table and its number of slots. */
	epoll_fd *e_fds;
	int e_nfds;
	/* Completed ops, callbacks to run, oldest first. */
	epoll_q e_ready;
	/* Last ready op the running poll() will call back; NULL: none. */
	ac_op *e_run_last;
	/* temp_dir() answer (TMPDIR or "/tmp"), owned. */
	char *e_tmpdir;
	/* Buffer for epoll_wait. */
	struct epoll_event e_events[EPOLL_EVENTS_MAX];
} epoll_io;

static const struct ac_io_ops epoll_ops;

static epoll_io *epoll_of(ac_io *io)
{
	AC_ASSERT(io != NULL && io->ops == &epoll_ops);
	return (epoll_io *)io;
}

/* ---- queues ---------------------------------------------------------------------- */

static void epoll_q_push(epoll_q *q, ac_op *op)
{
	op->io_next = NULL;
	op->io_prev = q->q_tail;
	if (q->q_tail)
		q->q_tail->io_next = op;
	else
		q->q_head = op;
	q->q_tail = op;
}

static void epoll_q_unlink(epoll_q *q, ac_op *op)
{
	if (op->io_prev)
		op->io_prev->io_next = op->io_next;
	else
		q->q_head = op->io_next;
	if (op->io_next)
		op->io_next->io_prev = op->io_prev;
	else
		q->q_tail = op->io_prev;
	op->io_next = op->io_prev = NULL;
}

static int epoll_side(int type)
{
	switch (type) {
	case AC_OP_CONNECT:
	case AC_OP_SEND:
	case AC_OP_SENDTO:
	case AC_OP_WRITE:
		return EPOLL_WR;
	default:
		return EPOLL_RD;
	}
}

/* ---- addresses ------------------------------------------------------------------- */

/* Fill *ss from a for a socket of family sock_af (0: a's own family); IPv4
 * goes IPv4-mapped on an IPv6 socket. Returns the length, or 0 when a cannot
 * be expressed. */
static socklen_t epoll_sa_from_addr(const ac_addr *a, int sock_af,
                                    struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AC_AF_INET && sock_af != AF_INET6) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, a->ip, 4);
		return sizeof(*s4);
	}
	if (a->family == AC_AF_INET6 || a->family == AC_AF_INET) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		if (sock_af == AF_INET)
			return 0;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		if (a->family == AC_AF_INET) {
			s6->sin6_addr.s6_addr[10] = 0xff;
			s6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&s6->sin6_addr.s6_addr[12], a->ip, 4);
		} else {
			memcpy(&s6->sin6_addr, a->ip, 16);
			s6->sin6_scope_id = a->scope;
		}
		return sizeof(*s6);
	}
	return 0;
}

/* Fill *a from an OS address (IPv4-mapped IPv6 becomes IPv4). */
static void epoll_addr_from_sa(ac_addr *a, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	ac_addr_init(a);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		a->family = AC_AF_INET;
		a->port = ntohs(s4->sin_port);
		memcpy(a->ip, &s4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		a->port = ntohs(s6->sin6_port);
		if (memcmp(s6->sin6_addr.s6_addr, mapped, 12) == 0) {
			a->family = AC_AF_INET;
			memcpy(a->ip, &s6->sin6_addr.s6_addr[12], 4);
		} else {
			a->family = AC_AF_INET6;
			memcpy(a->ip, &s6->sin6_addr, 16);
			a->scope = s6->sin6_scope_id;
		}
	}
}

/* ---- the descriptor table -------------------------------------------------------- */

static epoll_fd *epoll_fd_get(epoll_io *e, int h)
{
	if (h < 0 || h >= e->e_nfds || e->e_fds[h].f_kind == EPOLL_K_FREE)
		return NULL;
	return &e->e_fds[h];
}

/* Make the table hold slot fd. Returns 0 or -ENOMEM. */
static int epoll_fd_grow(epoll_io *e, int fd)
{
	epoll_fd *t;
	int n = e->e_nfds;

	if (fd < n)
		return 0;
	while (n <= fd)
		n *= 2;
	t = realloc(e->e_fds, (size_t)n * sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	memset(t + e->e_nfds, 0, (size_t)(n - e->e_nfds) * sizeof(*t));
	e->e_fds = t;
	e->e_nfds = n;
	return 0;
}

/* Take slot fd for kind; with poll set, add fd to the epoll set (an attached
 * descriptor epoll refuses with EPERM stays unpolled). Pointers into the
 * table are invalid afterwards. Returns 0 or a negative errno; the caller
 * still owns fd on error. */
static int epoll_fd_add(epoll_io *e, int fd, int kind, int family, int poll)
{
	struct epoll_event ev;
	epoll_fd *f;
	int rc = epoll_fd_grow(e, fd);

	if (rc < 0)
		return rc;
	f = &e->e_fds[fd];
	AC_ASSERT(f->f_kind == EPOLL_K_FREE);
	AC_ASSERT(f->f_q[0].q_head == NULL && f->f_q[1].q_head == NULL);
	if (poll) {
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET;
		ev.data.u64 = ((uint64_t)f->f_gen << 32) | (uint32_t)fd;
		if (epoll_ctl(e->e_epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			if (errno != EPERM || kind != EPOLL_K_ATTACHED)
				return -errno;
			poll = 0;
		}
	}
	f->f_kind = (uint8_t)kind;
	f->f_polled = (uint8_t)poll;
	f->f_family = (uint8_t)family;
	f->f_connecting = 0;
	f->f_shut = 0;
	f->f_is_sock = 0;
	f->f_rd_drained = 0;
	f->f_rd_end = 0;
	f->f_orig_flags = -1;
	f->f_done[0] = f->f_done[1] = 0;
	return 0;
}

/* Free slot h: detach (attached) or close the descriptor. Its queues must be
 * empty. Returns 0 or close()'s negative errno. */
static int epoll_fd_release(epoll_io *e, int h)
{
	epoll_fd *f = &e->e_fds[h];
	int rc = 0;

	AC_ASSERT(f->f_kind != EPOLL_K_FREE);
	AC_ASSERT(f->f_q[0].q_head == NULL && f->f_q[1].q_head == NULL);
	if (f->f_kind == EPOLL_K_ATTACHED) {
		if (f->f_polled)
			epoll_ctl(e->e_epfd, EPOLL_CTL_DEL, h, NULL);
		if (f->f_orig_flags >= 0)
			fcntl(h, F_SETFL, f->f_orig_flags);
	} else if (close(h) < 0 && errno != EINTR) {
		rc = -errno;
	}
	f->f_kind = EPOLL_K_FREE;
	f->f_gen++;
	f->f_done[0] = f->f_done[1] = 0;
	return rc;
}

/* ---- completing ------------------------------------------------------------------ */

/* Put op (unlinked from its queue, res set) on the ready list. */
static void epoll_complete(epoll_io *e, epoll_fd *f, ac_op *op, int side)
{
	op->io_priv[0] = f->f_gen;
	op->io_priv[1] = EPOLL_OP_ST(EPOLL_OP_READY, side);
	f->f_done[side]++;
	epoll_q_push(&e->e_ready, op);
}

/* Take op off the ready list; its callback will not be run from there. */
static void epoll_ready_unlink(epoll_io *e, ac_op *op)
{
	int side = (int)((op->io_priv[1] >> 8) & 1);
	epoll_fd *f = epoll_fd_get(e, op->h);

	if (op == e->e_run_last)
		e->e_run_last = op->io_prev;
	epoll_q_unlink(&e->e_ready, op);
	if (f != NULL && f->f_gen == (uint32_t)op->io_priv[0]) {
		AC_ASSERT(f->f_done[side] > 0);
		f->f_done[side]--;
	}
	op->io_priv[1] = EPOLL_OP_IDLE;
	e->e_pending--;
	AC_ASSERT(e->e_pending >= 0);
}

/* The queue op is linked in (a descriptor's queue or the ready list), or
 * NULL. io_priv[1] says where to look; the walk makes sure, so a stale op
 * (say, one left pending when another backend instance was freed) is never
 * mistaken for a live one. Queues are short except in rare cases. */
static epoll_q *epoll_op_queue(epoll_io *e, const ac_op *op)
{
	uint64_t st = op->io_priv[1];
	epoll_fd *f = epoll_fd_get(e, op->h);
	epoll_q *q;
	ac_op *o;

	if ((st & EPOLL_OP_MAGIC_MASK) != EPOLL_OP_MAGIC)
		return NULL;
	if ((st & 0xff) == EPOLL_OP_READY)
		q = &e->e_ready;
	else if ((st & 0xff) == EPOLL_OP_QUEUED && f != NULL)
		q = &f->f_q[(st >> 8) & 1];
	else
		return NULL;
	for (o = q->q_head; o != NULL; o = o->io_next)
		if (o == op)
			return q;
	return NULL;
}

/* Complete every queued op of h with -ECANCELED and release h. */
static int epoll_close_handle(epoll_io *e, int h)
{
	epoll_fd *f = &e->e_fds[h];
	ac_op *op;
	int side;

	for (side = 0; side < 2; side++) {
		while ((op = f->f_q[side].q_head) != NULL) {
			epoll_q_unlink(&f->f_q[side], op);
			op->res = -ECANCELED;
			epoll_complete(e, f, op, side);
		}
	}
	return epoll_fd_release(e, h);
}

/* ---- syscalls of each operation -------------------------------------------------- */

/* Shorthand: 1 for "completed" after storing res. */
static int epoll_done(ac_op *op, int64_t res)
{
	op->res = res;
	return 1;
}

static void epoll_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int epoll_try_accept(epoll_io *e, ac_op *op)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, rc;

	for (;;) {
		sl = sizeof(ss);
		fd = accept4(op->h, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return epoll_done(op, -errno);
	}
	epoll_nodelay(fd);
	rc = epoll_fd_add(e, fd, EPOLL_K_TCP, ss.ss_family, 1);
	if (rc < 0) {
		close(fd);
		return epoll_done(op, rc);
	}
	epoll_addr_from_sa(&op->addr, (struct sockaddr *)&ss);
	return epoll_done(op, fd);
}

/* A connect in progress on op->h: finished, failed, or still going? */
static int epoll_try_connect(epoll_io *e, ac_op *op)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(int);
	int err = 0;

	if (getsockopt(op->h, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
		err = errno;
	if (err == 0) {
		sl = sizeof(ss);
		if (getpeername(op->h, (struct sockaddr *)&ss, &sl) < 0) {
			if (errno == ENOTCONN)
				return 0;
			err = errno;
		}
	}
	if (err != 0)
		return epoll_done(op, -err);
	e->e_fds[op->h].f_connecting = 0;
	return epoll_done(op, op->h);
}

static int epoll_try_recv(epoll_io *e, ac_op *op)
{
	ssize_t n;

	for (;;) {
		if (op->type == AC_OP_RECV) {
			n = recv(op->h, op->buf, op->len, 0);
			/* A short read emptied the stream's receive queue: data
			 * arriving later raises a new edge (see f_rd_drained). */
			if (n > 0 && (size_t)n < op->len && !e->e_fds[op->h].f_rd_end)
				e->e_fds[op->h].f_rd_drained = 1;
		} else {
			n = read(op->h, op->buf, op->len);
		}
		if (n >= 0)
			return epoll_done(op, n);
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return epoll_done(op, -errno);
	}
}

/* write() to a pipe or terminal without SIGPIPE: block it, write, consume a
 * SIGPIPE the write raised (not one that was pending before), restore. */
static ssize_t epoll_write_nosig(int fd, const void *buf, size_t len)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t pipe_set, old, pend;
	int was_pending, saved;
	ssize_t n;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pend);
	was_pending = sigismember(&pend, SIGPIPE);
	n = write(fd, buf, len);
	saved = errno;
	if (n < 0 && saved == EPIPE && !was_pending) {
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

/* Send or write all of op->buf; io_priv[0] counts the bytes already out. */
static int epoll_try_send(epoll_io *e, ac_op *op)
{
	const uint8_t *buf = op->buf;
	uint64_t done = op->io_priv[0];
	int sock = op->type == AC_OP_SEND || e->e_fds[op->h].f_is_sock;
	ssize_t n;

	while (done < op->len) {
		if (sock)
			n = send(op->h, buf + done, op->len - done, MSG_NOSIGNAL);
		else
			n = epoll_write_nosig(op->h, buf + done, op->len - done);
		if (n > 0) {
			done += (uint64_t)n;
			continue;
		}
		if (n == 0)
			return epoll_done(op, -EIO);
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			op->io_priv[0] = done;
			return 0;
		}
		return epoll_done(op, -errno);
	}
	return epoll_done(op, (int64_t)op->len);
}

static int epoll_try_recvfrom(ac_op *op)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	ssize_t n;

	for (;;) {
		sl = sizeof(ss);
		n = recvfrom(op->h, op->buf, op->len, 0, (struct sockaddr *)&ss, &sl);
		if (n >= 0) {
			epoll_addr_from_sa(&op->addr, (struct sockaddr *)&ss);
			return epoll_done(op, n);
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return epoll_done(op, -errno);
	}
}

static int epoll_try_sendto(epoll_io *e, ac_op *op)
{
	struct sockaddr_storage ss;
	socklen_t sl = epoll_sa_from_addr(&op->addr, e->e_fds[op->h].f_family, &ss);
	ssize_t n;

	if (sl == 0)
		return epoll_done(op, -EAFNOSUPPORT);
	for (;;) {
		n = sendto(op->h, op->buf, op->len, MSG_NOSIGNAL, (struct sockaddr *)&ss, sl);
		if (n >= 0)
			return epoll_done(op, (int64_t)op->len);
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return epoll_done(op, -errno);
	}
}

/* Try op's syscall once. Returns 1 when op completed (res set), 0 when it
 * would block. Pointers into the table are invalid afterwards (accept). */
static int epoll_try(epoll_io *e, ac_op *op)
{
	switch (op->type) {
	case AC_OP_ACCEPT:
		return epoll_try_accept(e, op);
	case AC_OP_CONNECT:
		return epoll_try_connect(e, op);
	case AC_OP_RECV:
	case AC_OP_READ:
		return epoll_try_recv(e, op);
	case AC_OP_SEND:
	case AC_OP_WRITE:
		return epoll_try_send(e, op);
	case AC_OP_RECVFROM:
		return epoll_try_recvfrom(op);
	case AC_OP_SENDTO:
		return epoll_try_sendto(e, op);
	default:
		AC_ASSERT(!"unknown op type");
		return 0;
	}
}

/* ---- queue draining -------------------------------------------------------------- */

/* The write queue of h is empty: do a shutdown() that waited for it. */
static void epoll_shut_if_drained(epoll_io *e, int h)
{
	epoll_fd *f = &e->e_fds[h];

	if (f->f_shut == 1 && f->f_q[EPOLL_WR].q_head == NULL) {
		f->f_shut = 2;
		shutdown(h, SHUT_WR);
	}
}

/* Run the queued ops of one side of h until one would block. */
static void epoll_drain(epoll_io *e, int h, int side)
{
	for (;;) {
		epoll_fd *f = &e->e_fds[h];
		ac_op *op = f->f_q[side].q_head;

		if (f->f_kind == EPOLL_K_FREE || op == NULL)
			break;
		if (!epoll_try(e, op))
			return;
		f = &e->e_fds[h];
		epoll_q_unlink(&f->f_q[side], op);
		epoll_complete(e, f, op, side);
		if (op->type == AC_OP_CONNECT && op->res < 0) {
			epoll_close_handle(e, h);
			return;
		}
	}
	if (side == EPOLL_WR && e->e_fds[h].f_kind == EPOLL_K_TCP)
		epoll_shut_if_drained(e, h);
}

/* Dispatch the events of one epoll wait. */
static void epoll_dispatch(epoll_io *e, int n)
{
	const uint32_t rd = EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
	const uint32_t wr = EPOLLOUT | EPOLLHUP | EPOLLERR;
	int i;

	for (i = 0; i < n; i++) {
		uint32_t ev = e->e_events[i].events;
		uint64_t d = e->e_events[i].data.u64;
		int h = (int)(uint32_t)d;

		if (epoll_fd_get(e, h) == NULL || e->e_fds[h].f_gen != (uint32_t)(d >> 32))
			continue;
		if (ev & rd) {
			e->e_fds[h].f_rd_drained = 0;
			if (ev & (EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				e->e_fds[h].f_rd_end = 1;
			epoll_drain(e, h, EPOLL_RD);
		}
		if ((ev & wr) && e->e_fds[h].f_gen == (uint32_t)(d >> 32))
			epoll_drain(e, h, EPOLL_WR);
	}
}

/* ---- submitting ------------------------------------------------------------------ */

/* The kind of handle an op type works on. */
static int epoll_kind_for(int type)
{
	switch (type) {
	case AC_OP_ACCEPT:
		return EPOLL_K_LISTEN;
	case AC_OP_RECV:
	case AC_OP_SEND:
		return EPOLL_K_TCP;
	case AC_OP_RECVFROM:
	case AC_OP_SENDTO:
		return EPOLL_K_UDP;
	default:
		return EPOLL_K_ATTACHED;
	}
}

/* Check a submit's arguments; 0 or a negative errno. */
static int epoll_check(epoll_io *e, int h, const ac_op *op, int type)
{
	epoll_fd *f = epoll_fd_get(e, h);
	int side = epoll_side(type);

	if (f == NULL)
		return -EBADF;
	if (f->f_kind != epoll_kind_for(type))
		return -EINVAL;
	if (op->cb == NULL || (op->buf == NULL && op->len > 0 && type != AC_OP_ACCEPT))
		return -EINVAL;
	if ((type == AC_OP_RECV || type == AC_OP_READ) && op->len == 0)
		return -EINVAL;
	if (f->f_connecting)
		return -ENOTCONN;
	if (side == EPOLL_WR && f->f_shut)
		return -EPIPE;
	/* Submitting an op that is still pending is a programmer error. */
	AC_ASSERT(epoll_op_queue(e, op) == NULL);
	return 0;
}

/* Submit op of type on h: inline attempt when the side's queue is empty,
 * else (or when it would block) queue it. */
static int epoll_submit(ac_io *io, int h, ac_op *op, int type)
{
	epoll_io *e = epoll_of(io);
	int side = epoll_side(type);
	int rc = epoll_check(e, h, op, type);
	epoll_fd *f;

	if (rc < 0)
		return rc;
	op->type = type;
	op->h = h;
	op->io_priv[0] = 0;
	op->io_priv[1] = EPOLL_OP_IDLE;
	if (e->e_fds[h].f_q[side].q_head == NULL &&
	    !(type == AC_OP_RECV && e->e_fds[h].f_rd_drained)) {
		if (epoll_try(e, op)) {
			f = &e->e_fds[h];
			if (f->f_done[side] == 0)
				return op->res < 0 ? (int)op->res : AC_IO_DONE;
			e->e_pending++;
			epoll_complete(e, f, op, side);
			return AC_IO_PENDING;
		}
		if (!e->e_fds[h].f_polled)
			return -EAGAIN;
	}
	f = &e->e_fds[h];
	op->io_priv[1] = EPOLL_OP_ST(EPOLL_OP_QUEUED, side);
	epoll_q_push(&f->f_q[side], op);
	e->e_pending++;
	return AC_IO_PENDING;
}

static int epoll_accept(ac_io *io, int h, ac_op *op)
{
	return epoll_submit(io, h, op, AC_OP_ACCEPT);
}

static int epoll_recv(ac_io *io, int h, ac_op *op)
{
	return epoll_submit(io, h, op, AC_OP_RECV);
}

static int epoll_send(ac_io *io, int h, ac_op *op)
{
	return epoll_submit(io, h, op, AC_OP_SEND);
}

static int epoll_sendto(ac_io *io, int h, ac_op *op)
{
	return epoll_submit(io, h, op, AC_OP_SENDTO);
}

static int epoll_recvfrom(ac_io *io, int h, ac_op *op)
{
	return epoll_submit(io, h, op, AC_OP_RECVFROM);
}

static int epoll_read(ac_io *io, int h, ac_op *op)
{
	return epoll_submit(io, h, op, AC_OP_READ);
}

static int epoll_write(ac_io *io, int h, ac_op *op)
{
	return epoll_submit(io, h, op, AC_OP_WRITE);
}

static int epoll_connect(ac_io *io, ac_op *op)
{
	epoll_io *e = epoll_of(io);
	struct sockaddr_storage ss;
	socklen_t sl = epoll_sa_from_addr(&op->addr, 0, &ss);
	int fd, rc;

	if (sl == 0 || op->cb == NULL)
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	epoll_nodelay(fd);
	op->type = AC_OP_CONNECT;
	op->h = fd;
	op->io_priv[0] = 0;
	op->io_priv[1] = EPOLL_OP_IDLE;
	rc = connect(fd, (struct sockaddr *)&ss, sl);
	if (rc < 0 && errno != EINPROGRESS && errno != EINTR) {
		rc = -errno;
		close(fd);
		return (int)(op->res = rc);
	}
	rc = epoll_fd_add(e, fd, EPOLL_K_TCP, ss.ss_family, 1);
	if (rc < 0) {
		close(fd);
		return (int)(op->res = rc);
	}
	if (epoll_try_connect(e, op)) {
		if (op->res >= 0)
			return AC_IO_DONE;
		rc = (int)op->res;
		epoll_fd_release(e, fd);
		return rc;
	}
	e->e_fds[fd].f_connecting = 1;
	op->io_priv[1] = EPOLL_OP_ST(EPOLL_OP_QUEUED, EPOLL_WR);
	epoll_q_push(&e->e_fds[fd].f_q[EPOLL_WR], op);
	e->e_pending++;
	return AC_IO_PENDING;
}

/* ---- cancel, close, shutdown ----------------------------------------------------- */

static int epoll_cancel(ac_io *io, ac_op *op)
{
	epoll_io *e = epoll_of(io);
	epoll_q *q = epoll_op_queue(e, op);
	epoll_fd *f;
	int h;

	if (q == NULL)
		return -ENOENT;
	if (q != &e->e_ready) {
		epoll_q_unlink(q, op);
		op->io_priv[1] = EPOLL_OP_IDLE;
		/* A send or write reports what already left (io.h, version 3). */
		if (op->type == AC_OP_SEND || op->type == AC_OP_WRITE)
			op->res = (int64_t)op->io_priv[0];
		else
			op->res = -ECANCELED;
		e->e_pending--;
		if (op->type == AC_OP_CONNECT)
			epoll_fd_release(e, op->h);
		else if (op->type == AC_OP_SEND)
			epoll_shut_if_drained(e, op->h);
		return 0;
	}
	epoll_ready_unlink(e, op);
	/* Completed, callback not run: the caller gets the result (io.h). A
	 * completion with an error is reported the same way. */
	(void)f;
	(void)h;
	return AC_IO_DONE;
}

static int epoll_close(ac_io *io, int h)
{
	epoll_io *e = epoll_of(io);
	epoll_fd *f = epoll_fd_get(e, h);

	if (f == NULL || f->f_kind == EPOLL_K_FILE)
		return -EBADF;
	return epoll_close_handle(e, h);
}

static int epoll_shutdown(ac_io *io, int h)
{
	epoll_io *e = epoll_of(io);
	epoll_fd *f = epoll_fd_get(e, h);

	if (f == NULL)
		return -EBADF;
	if (f->f_kind != EPOLL_K_TCP)
		return -EINVAL;
	if (f->f_connecting)
		return -ENOTCONN;
	if (f->f_shut)
		return 0;
	f->f_shut = 1;
	if (f->f_q[EPOLL_WR].q_head != NULL)
		return 0;
	f->f_shut = 2;
	return shutdown(h, SHUT_WR) < 0 ? -errno : 0;
}

/* ---- poll and time --------------------------------------------------------------- */

static int64_t epoll_now_ns(ac_io *io)
{
	struct timespec ts;

	(void)io;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t epoll_wall_ns(ac_io *io)
{
	struct timespec ts;

	(void)io;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wait for events for at most timeout_ns (< 0: forever). Returns the number
 * of events or a negative errno (-EINTR included). */
static int epoll_wait_ns(epoll_io *e, int64_t timeout_ns)
{
	int n, ms;

#ifdef EPOLL_HAVE_PWAIT2
	if (!e->e_no_pwait2 && timeout_ns > 0) {
		struct timespec ts = { (time_t)(timeout_ns / 1000000000),
		                       (long)(timeout_ns % 1000000000) };
		n = epoll_pwait2(e->e_epfd, e->e_events, EPOLL_EVENTS_MAX, &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n >= 0 ? n : -errno;
		e->e_no_pwait2 = 1;
	}
#endif
	if (timeout_ns < 0)
		ms = -1;
	else if (timeout_ns >= (int64_t)INT32_MAX * 1000000)
		ms = INT32_MAX;
	else
		ms = (int)((timeout_ns + 999999) / 1000000);
	n = epoll_wait(e->e_epfd, e->e_events, EPOLL_EVENTS_MAX, ms);
	return n >= 0 ? n : -errno;
}

/* Run the callbacks of the ops that are ready now; returns how many ran. */
static int epoll_run_ready(epoll_io *e)
{
	int count = 0;
	ac_op *op;

	e->e_run_last = e->e_ready.q_tail;
	while (e->e_run_last != NULL && (op = e->e_ready.q_head) != NULL) {
		ac_op_cb cb = op->cb;
		if (op == e->e_run_last)
			e->e_run_last = NULL;
		epoll_ready_unlink(e, op);
		count++;
		cb(op);
	}
	e->e_run_last = NULL;
	return count;
}

static int epoll_poll(ac_io *io, int64_t deadline_ns)
{
	epoll_io *e = epoll_of(io);
	int64_t wait_ns;
	int n, count;

	AC_ASSERT(!e->e_polling);
	for (;;) {
		wait_ns = -1;
		if (e->e_ready.q_head != NULL)
			wait_ns = 0;
		else if (deadline_ns >= 0)
			wait_ns = deadline_ns - epoll_now_ns(io);
		if (wait_ns < 0 && deadline_ns >= 0)
			wait_ns = 0;
		n = epoll_wait_ns(e, wait_ns);
		if (n == -EINTR)
			break;
		if (n < 0)
			return n;
		epoll_dispatch(e, n);
		if (e->e_ready.q_head != NULL || wait_ns == 0)
			break;
		if (deadline_ns >= 0 && epoll_now_ns(io) >= deadline_ns)
			break;
	}
	e->e_polling = 1;
	count = epoll_run_ready(e);
	e->e_polling = 0;
	return count;
}

static int epoll_pending(ac_io *io)
{
	return epoll_of(io)->e_pending;
}

static void epoll_entropy(ac_io *io, void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	(void)io;
	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		AC_ASSERT(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* ---- sockets --------------------------------------------------------------------- */

/* Apply AC_IO_* flags to a new socket of family af. Returns 0 or -errno. */
static int epoll_sockopts(int fd, int af, int flags)
{
	int one = 1, v6only = (flags & AC_IO_V6ONLY) != 0;

	if ((flags & AC_IO_REUSEADDR) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	if ((flags & AC_IO_REUSEPORT) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		return -errno;
	if ((flags & AC_IO_BROADCAST) &&
	    setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0)
		return -errno;
	if (af == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
		return -errno;
	return 0;
}

/* A nonblocking socket of type bound to addr with flags, in the table as
 * kind. Returns 0 and *h_out, or a negative errno. */
static int epoll_bound(epoll_io *e, const ac_addr *addr, int type, int flags,
                       int kind, int backlog, int *h_out)
{
	struct sockaddr_storage ss;
	socklen_t sl = epoll_sa_from_addr(addr, 0, &ss);
	int fd, rc;

	if (sl == 0 || h_out == NULL || (flags & ~(AC_IO_REUSEADDR | AC_IO_REUSEPORT |
	                                          AC_IO_BROADCAST | AC_IO_V6ONLY)))
		return -EINVAL;
	fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = epoll_sockopts(fd, ss.ss_family, flags);
	if (rc == 0 && bind(fd, (struct sockaddr *)&ss, sl) < 0)
		rc = -errno;
	if (rc == 0 && kind == EPOLL_K_LISTEN &&
	    listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
		rc = -errno;
	if (rc == 0)
		rc = epoll_fd_add(e, fd, kind, ss.ss_family, 1);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*h_out = fd;
	return 0;
}

static int epoll_tcp_listen(ac_io *io, const ac_addr *addr, int backlog, int flags,
                            int *h_out)
{
	if (flags & AC_IO_BROADCAST)
		return -EINVAL;
	return epoll_bound(epoll_of(io), addr, SOCK_STREAM, flags, EPOLL_K_LISTEN, backlog,
	                   h_out);
}

static int epoll_udp_bind(ac_io *io, const ac_addr *addr, int flags, int *h_out)
{
	return epoll_bound(epoll_of(io), addr, SOCK_DGRAM, flags, EPOLL_K_UDP, 0, h_out);
}

/* getsockname (peer 0) or getpeername (peer 1) of a socket handle. */
static int epoll_sock_addr(ac_io *io, int h, ac_addr *out, int peer)
{
	epoll_fd *f = epoll_fd_get(epoll_of(io), h);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int rc;

	if (f == NULL)
		return -EBADF;
	if (f->f_kind != EPOLL_K_LISTEN && f->f_kind != EPOLL_K_TCP && f->f_kind != EPOLL_K_UDP)
		return -ENOTSOCK;
	if (peer)
		rc = getpeername(h, (struct sockaddr *)&ss, &sl);
	else
		rc = getsockname(h, (struct sockaddr *)&ss, &sl);
	if (rc < 0)
		return -errno;
	epoll_addr_from_sa(out, (struct sockaddr *)&ss);
	return 0;
}

static int epoll_local_addr(ac_io *io, int h, ac_addr *out)
{
	return epoll_sock_addr(io, h, out, 0);
}

static int epoll_peer_addr(ac_io *io, int h, ac_addr *out)
{
	return epoll_sock_addr(io, h, out, 1);
}

static int epoll_fd_attach(ac_io *io, int fd, int *h_out)
{
	epoll_io *e = epoll_of(io);
	struct stat st;
	int fl, orig = -1, rc;

	if (fd < 0 || fd == e->e_epfd || h_out == NULL)
		return -EINVAL;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (epoll_fd_get(e, fd) != NULL)
		return -EEXIST;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0)
		orig = fl;
	rc = epoll_fd_add(e, fd, EPOLL_K_ATTACHED, 0, 1);
	if (rc < 0 || !e->e_fds[fd].f_polled) {
		/* Not pollable (regular file): blocking I/O completes inline. */
		if (orig >= 0)
			fcntl(fd, F_SETFL, orig);
		orig = -1;
	}
	if (rc < 0)
		return rc;
	e->e_fds[fd].f_orig_flags = orig;
	e->e_fds[fd].f_is_sock = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
	*h_out = fd;
	return 0;
}

/* ---- names ----------------------------------------------------------------------- */

static int epoll_gai_err(int rc)
{
	switch (rc) {
	case EAI_FAMILY:
	case EAI_BADFLAGS:
	case EAI_SERVICE:
	case EAI_SOCKTYPE:
		return -EINVAL;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return errno ? -errno : -EIO;
	default:
		return -ENOENT;
	}
}

/* Append a to out[0..*n) unless present or full. */
static void epoll_addr_add(ac_addr *out, int max, int *n, const ac_addr *a)
{
	int i;

	for (i = 0; i < *n; i++)
		if (ac_addr_eq(&out[i], a))
			return;
	if (*n < max)
		out[(*n)++] = *a;
}

static int epoll_resolve(ac_io *io, const char *host, int family, uint16_t port,
                         ac_addr *out, int max)
{
	struct addrinfo hints, *res, *ai;
	ac_addr a;
	int rc, n = 0;

	(void)io;
	if (host == NULL || out == NULL || max <= 0)
		return -EINVAL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (family == AC_AF_INET)
		hints.ai_family = AF_INET;
	else if (family == AC_AF_INET6)
		hints.ai_family = AF_INET6;
	else if (family == AC_AF_NONE)
		hints.ai_family = AF_UNSPEC;
	else
		return -EINVAL;
	errno = 0;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		return epoll_gai_err(rc);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		epoll_addr_from_sa(&a, ai->ai_addr);
		if (family != AC_AF_NONE && a.family != family)
			continue;
		a.port = port;
		epoll_addr_add(out, max, &n, &a);
	}
	freeaddrinfo(res);
	return n > 0 ? n : -ENOENT;
}

static int epoll_host_addrs(ac_io *io, ac_addr *out, int max)
{
	struct ifaddrs *ifs, *i;
	ac_addr a;
	int n = 0, loop;

	(void)io;
	if (out == NULL || max < 0)
		return -EINVAL;
	if (getifaddrs(&ifs) < 0)
		return -errno;
	for (loop = 0; loop < 2; loop++) {
		for (i = ifs; i != NULL; i = i->ifa_next) {
			if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP))
				continue;
			if (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6)
				continue;
			epoll_addr_from_sa(&a, i->ifa_addr);
			if (ac_addr_is_loopback(&a) == loop)
				epoll_addr_add(out, max, &n, &a);
		}
	}
	freeifaddrs(ifs);
	return n;
}

/* ---- files ----------------------------------------------------------------------- */

/* The file handle h, or NULL. */
static epoll_fd *epoll_file(ac_io *io, int h)
{
	epoll_fd *f = epoll_fd_get(epoll_of(io), h);

	return f != NULL && f->f_kind == EPOLL_K_FILE ? f : NULL;
}

static int epoll_file_open(ac_io *io, const char *path, int flags, uint32_t mode,
                           int *h_out)
{
	int rw = flags & (AC_FO_READ | AC_FO_WRITE);
	int of = O_CLOEXEC, fd, rc;

	if (rw == 0 || h_out == NULL || (flags & ~0x1f))
		return -EINVAL;
	of |= rw == (AC_FO_READ | AC_FO_WRITE) ? O_RDWR : rw == AC_FO_WRITE ? O_WRONLY : O_RDONLY;
	if (flags & AC_FO_CREATE)
		of |= O_CREAT;
	if (flags & AC_FO_EXCL)
		of |= O_EXCL;
	if (flags & AC_FO_TRUNC)
		of |= O_TRUNC;
	do
		fd = open(path, of, (mode_t)(mode & 07777));
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	rc = epoll_fd_add(epoll_of(io), fd, EPOLL_K_FILE, 0, 0);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*h_out = fd;
	return 0;
}

/* pread (is_write 0) or pwrite (is_write 1) until len bytes, end of file or error. */
static int64_t epoll_file_rw(ac_io *io, int h, void *buf, size_t len, int64_t off,
                             int is_write)
{
	uint8_t *p = buf;
	size_t done = 0;
	ssize_t n;

	if (epoll_file(io, h) == NULL)
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	while (done < len) {
		if (is_write)
			n = pwrite(h, p + done, len - done, (off_t)(off + (int64_t)done));
		else
			n = pread(h, p + done, len - done, (off_t)(off + (int64_t)done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return done > 0 ? (int64_t)done : -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (int64_t)done;
}

static int64_t epoll_file_pread(ac_io *io, int h, void *buf, size_t len, int64_t off)
{
	return epoll_file_rw(io, h, buf, len, off, 0);
}

static int64_t epoll_file_pwrite(ac_io *io, int h, const void *buf, size_t len,
                                 int64_t off)
{
	return epoll_file_rw(io, h, (void *)(uintptr_t)buf, len, off, 1);
}

static int epoll_file_sync(ac_io *io, int h)
{
	if (epoll_file(io, h) == NULL)
		return -EBADF;
	return fsync(h) < 0 ? -errno : 0;
}

static int epoll_file_close(ac_io *io, int h)
{
	if (epoll_file(io, h) == NULL)
		return -EBADF;
	return epoll_fd_release(epoll_of(io), h);
}

static void epoll_stat_fill(ac_stat *out, const struct stat *st)
{
	memset(out, 0, sizeof(*out));
	out->size = (int64_t)st->st_size;
	out->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	out->mode = (uint32_t)(st->st_mode & 07777);
	if (S_ISREG(st->st_mode))
		out->type = AC_FT_FILE;
	else if (S_ISDIR(st->st_mode))
		out->type = AC_FT_DIR;
	else if (S_ISLNK(st->st_mode))
		out->type = AC_FT_LINK;
	else
		out->type = AC_FT_OTHER;
}

static int epoll_file_fstat(ac_io *io, int h, ac_stat *out)
{
	struct stat st;

	if (epoll_file(io, h) == NULL)
		return -EBADF;
	if (fstat(h, &st) < 0)
		return -errno;
	epoll_stat_fill(out, &st);
	return 0;
}

static int epoll_file_stat(ac_io *io, const char *path, int nofollow, ac_stat *out)
{
	struct stat st;

	(void)io;
	if ((nofollow ? lstat(path, &st) : stat(path, &st)) < 0)
		return -errno;
	epoll_stat_fill(out, &st);
	return 0;
}

static int epoll_file_rename(ac_io *io, const char *from, const char *to)
{
	(void)io;
	return rename(from, to) < 0 ? -errno : 0;
}

static int epoll_file_unlink(ac_io *io, const char *path)
{
	(void)io;
	return unlink(path) < 0 ? -errno : 0;
}

static int epoll_file_mkdir(ac_io *io, const char *path, uint32_t mode)
{
	(void)io;
	return mkdir(path, (mode_t)(mode & 07777)) < 0 ? -errno : 0;
}

static int epoll_file_set_meta(ac_io *io, const char *path, uint32_t mode, int64_t mtime_ns)
{
	struct timespec ts[2];

	(void)io;
	if (fchmodat(AT_FDCWD, path, (mode_t)(mode & 07777), 0) < 0)
		return -errno;
	if (mtime_ns < 0)
		return 0;
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = (time_t)(mtime_ns / 1000000000);
	ts[1].tv_nsec = (long)(mtime_ns % 1000000000);
	return utimensat(AT_FDCWD, path, ts, 0) < 0 ? -errno : 0;
}

static const char *epoll_temp_dir(ac_io *io)
{
	return epoll_of(io)->e_tmpdir;
}

/* ---- the backend ----------------------------------------------------------------- */

static const struct ac_io_ops epoll_ops = {
	.version = AC_IO_VERSION,
	.name = "epoll",
	.now_ns = epoll_now_ns,
	.wall_ns = epoll_wall_ns,
	.entropy = epoll_entropy,
	.poll = epoll_poll,
	.pending = epoll_pending,
	.tcp_listen = epoll_tcp_listen,
	.accept = epoll_accept,
	.connect = epoll_connect,
	.recv = epoll_recv,
	.send = epoll_send,
	.shutdown = epoll_shutdown,
	.udp_bind = epoll_udp_bind,
	.sendto = epoll_sendto,
	.recvfrom = epoll_recvfrom,
	.local_addr = epoll_local_addr,
	.peer_addr = epoll_peer_addr,
	.cancel = epoll_cancel,
	.close = epoll_close,
	.fd_attach = epoll_fd_attach,
	.read = epoll_read,
	.write = epoll_write,
	.resolve = epoll_resolve,
	.host_addrs = epoll_host_addrs,
	.file_open = epoll_file_open,
	.file_pread = epoll_file_pread,
	.file_pwrite = epoll_file_pwrite,
	.file_sync = epoll_file_sync,
	.file_close = epoll_file_close,
	.file_fstat = epoll_file_fstat,
	.file_stat = epoll_file_stat,
	.file_rename = epoll_file_rename,
	.file_unlink = epoll_file_unlink,
	.file_mkdir = epoll_file_mkdir,
	.file_set_meta = epoll_file_set_meta,
	.temp_dir = epoll_temp_dir,
};

int ac_io_epoll_new(ac_io **out)
{
	const char *tmp = getenv("TMPDIR");
	epoll_io *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return -ENOMEM;
	e->e_base.ops = &epoll_ops;
	e->e_nfds = EPOLL_FDS_MIN;
	e->e_fds = calloc((size_t)e->e_nfds, sizeof(*e->e_fds));
	e->e_tmpdir = strdup(tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	e->e_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->e_fds == NULL || e->e_tmpdir == NULL || e->e_epfd < 0) {
		int rc = e->e_epfd < 0 && e->e_fds && e->e_tmpdir ? -errno : -ENOMEM;
		if (e->e_epfd >= 0)
			close(e->e_epfd);
		free(e->e_fds);
		free(e->e_tmpdir);
		free(e);
		return rc;
	}
#ifdef RUNNING_ON_VALGRIND
	/* valgrind before 3.20 does not know epoll_pwait2 and warns loudly. */
	e->e_no_pwait2 = RUNNING_ON_VALGRIND != 0;
#endif
	*out = &e->e_base;
	return 0;
}

void ac_io_epoll_free(ac_io *io)
{
	epoll_io *e;
	int h;

	if (io == NULL)
		return;
	e = epoll_of(io);
	AC_ASSERT(!e->e_polling);
	/* Forget queued and ready ops: their callbacks never run. */
	for (h = 0; h < e->e_nfds; h++) {
		epoll_fd *f = &e->e_fds[h];
		f->f_q[0].q_head = f->f_q[0].q_tail = NULL;
		f->f_q[1].q_head = f->f_q[1].q_tail = NULL;
		if (f->f_kind != EPOLL_K_FREE)
			epoll_fd_release(e, h);
	}
	close(e->e_epfd);
	free(e->e_fds);
	free(e->e_tmpdir);
	free(e);
}
