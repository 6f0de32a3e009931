/* io/io_record.c: the recorder — a backend that wraps another one (epoll,
 * the simulator, any) and writes everything that crosses io.h to a record
 * (doc/record.md), in call order, while forwarding every call.
 *
 * Asynchronous operations are named by their submit order (op ids from 1),
 * never by pointer. The inner backend never sees the caller's ac_op: it
 * gets a shadow op (pooled here) with the same buffer and address and this
 * file's callback, so that when the inner poll runs it, the completion is
 * recorded (COMPLETE, then a CONN note for a new connection) before the
 * caller's callback runs. The caller's op belongs to this backend: its
 * io_priv[0] holds its id (tagged) and io_priv[1] its live shadow, which
 * cancel() uses. buggify is forwarded, and offered only when the inner
 * backend offers it (ac_buggify never asks a backend without one, so the
 * run is the same with and without the recorder).
 *
 * Shadows live until the recorder is freed: the inner backend must not run
 * callbacks of operations submitted here after that (free it next, or
 * cancel them first).
 */
#include "config.h"

#include <zlib.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/record.h>

#include "io/io.h"
#include "io/io_assert.h"
#include "io/record.h"

/* Tag in the high 16 bits of a caller's io_priv[0] (its op id below). */
#define REC_TAG 0x5243ull
#define REC_TAG_SHIFT 48
/* Shadows allocated at once. */
#define REC_SLAB 64

typedef struct rec_io rec_io;

/* What the inner backend sees of a caller's operation. */
typedef struct rec_shadow {
	/* The inner backend's op: first, so ac_op * converts back. */
	ac_op s_op;
	/* The caller's op while pending; NULL when free. */
	ac_op *s_user;
	uint64_t s_id;
	rec_io *s_rec;
	struct rec_shadow *s_next;
} rec_shadow;

typedef struct rec_slab {
	struct rec_slab *next;
	rec_shadow sh[REC_SLAB];
} rec_slab;

struct rec_io {
	/* Base class: must be first. */
	ac_io r_base;
	ac_io *r_inner;
	ac_rec_writer *r_w;
	/* Id of the last submitted op. */
	uint64_t r_last_id;
	rec_shadow *r_free;
	rec_slab *r_slabs;
	ac__rec_log_fn r_log;
	void *r_log_arg;
	char *r_path;
};

static const struct ac_io_ops rec_ops, rec_ops_buggify;

static rec_io *rec_of(ac_io *io)
{
	AC_ASSERT(io->ops == &rec_ops || io->ops == &rec_ops_buggify);
	return (rec_io *)io;
}

static void rec_put(rec_io *r, const ac_rec_event *ev)
{
	ac__recw_event(r->r_w, ev);
}

/* ---- shadows ---------------------------------------------------------------------- */

static rec_shadow *rec_shadow_get(rec_io *r)
{
	rec_shadow *s = r->r_free;
	int i;

	if (s == NULL) {
		rec_slab *b = calloc(1, sizeof(*b));
		if (b == NULL)
			return NULL;
		b->next = r->r_slabs;
		r->r_slabs = b;
		for (i = REC_SLAB - 1; i >= 0; i--) {
			b->sh[i].s_rec = r;
			b->sh[i].s_next = r->r_free;
			r->r_free = &b->sh[i];
		}
		s = r->r_free;
	}
	r->r_free = s->s_next;
	return s;
}

static void rec_shadow_put(rec_io *r, rec_shadow *s)
{
	if (s->s_user != NULL)
		s->s_user->io_priv[1] = 0;
	s->s_user = NULL;
	s->s_next = r->r_free;
	r->r_free = s;
}

/* The op id of a caller's op, or 0 when it never went through a recorder. */
static uint64_t rec_op_id(const ac_op *op)
{
	if ((op->io_priv[0] >> REC_TAG_SHIFT) != REC_TAG)
		return 0;
	return op->io_priv[0] & ((1ull << REC_TAG_SHIFT) - 1);
}

/* The live shadow of a caller's op, or NULL. */
static rec_shadow *rec_live(const ac_op *op)
{
	rec_shadow *s = (rec_shadow *)(uintptr_t)op->io_priv[1];

	if (rec_op_id(op) == 0 || s == NULL || s->s_user != op || s->s_id != rec_op_id(op))
		return NULL;
	return s;
}

/* ---- what an operation brings in ---------------------------------------------------- */

static int rec_receives(int type)
{
	return type == AC_OP_RECV || type == AC_OP_RECVFROM || type == AC_OP_READ;
}

static int rec_gives(int type)
{
	return type == AC_OP_SEND || type == AC_OP_SENDTO || type == AC_OP_WRITE;
}

/* The results of a completed op into ev: res, addr, data2. */
static void rec_results(ac_rec_event *ev, const ac_op *op)
{
	ev->res = op->res;
	if (op->type == AC_OP_ACCEPT || op->type == AC_OP_RECVFROM)
		ev->addr = op->addr;
	if (rec_receives(op->type) && op->res > 0) {
		ev->data2 = op->buf;
		ev->dlen2 = (size_t)op->res;
	}
}

/* A CONN note for a new TCP connection h (after connect or accept). */
static void rec_conn(rec_io *r, int64_t h)
{
	ac_io *in = r->r_inner;
	ac_rec_event ev;

	ac__rec_event_init(&ev, AC_REC_CONN);
	ev.h = (int32_t)h;
	if (in->ops->local_addr(in, (int)h, &ev.addr) < 0)
		ac_addr_init(&ev.addr);
	if (in->ops->peer_addr(in, (int)h, &ev.addr2) < 0)
		ac_addr_init(&ev.addr2);
	rec_put(r, &ev);
}

/* Copy an inner op's results to the caller's. */
static void rec_copy_back(ac_op *op, const ac_op *so)
{
	op->res = so->res;
	if (op->type == AC_OP_ACCEPT || op->type == AC_OP_RECVFROM)
		op->addr = so->addr;
	if (op->type == AC_OP_CONNECT)
		op->h = so->h;
}

static void rec_shadow_cb(ac_op *so)
{
	rec_shadow *s = (rec_shadow *)so;
	rec_io *r = s->s_rec;
	ac_op *op = s->s_user;
	ac_rec_event ev;

	rec_copy_back(op, so);
	ac__rec_event_init(&ev, AC_REC_COMPLETE);
	ev.op = s->s_id;
	rec_results(&ev, op);
	rec_put(r, &ev);
	if ((op->type == AC_OP_ACCEPT || op->type == AC_OP_CONNECT) && op->res >= 0)
		rec_conn(r, op->res);
	rec_shadow_put(r, s);
	op->cb(op);
}

/* ---- submitting ---------------------------------------------------------------------- */

static int rec_inner_submit(ac_io *in, int h, ac_op *so, int type)
{
	const struct ac_io_ops *o = in->ops;

	switch (type) {
	case AC_OP_ACCEPT: return o->accept(in, h, so);
	case AC_OP_CONNECT: return o->connect(in, so);
	case AC_OP_RECV: return o->recv(in, h, so);
	case AC_OP_SEND: return o->send(in, h, so);
	case AC_OP_RECVFROM: return o->recvfrom(in, h, so);
	case AC_OP_SENDTO: return o->sendto(in, h, so);
	case AC_OP_READ: return o->read(in, h, so);
	default: return o->write(in, h, so);
	}
}

/* The SUBMIT event of op (id), submitted with result rc. */
static void rec_submit_event(rec_io *r, const ac_op *op, uint64_t id, int h, int rc)
{
	ac_rec_event ev;

	ac__rec_event_init(&ev, AC_REC_SUBMIT);
	ev.call = (uint32_t)op->type;
	ev.op = id;
	ev.h = op->type == AC_OP_CONNECT ? -1 : h;
	ev.a = (int64_t)op->len;
	if (op->type == AC_OP_CONNECT || op->type == AC_OP_SENDTO)
		ev.addr = op->addr;
	if (rec_gives(op->type) && op->buf != NULL) {
		ev.data = op->buf;
		ev.dlen = op->len;
	}
	ev.rc = rc;
	if (rc == AC_IO_DONE)
		rec_results(&ev, op);
	rec_put(r, &ev);
}

static int rec_submit(ac_io *io, int h, ac_op *op, int type)
{
	rec_io *r = rec_of(io);
	rec_shadow *s = rec_shadow_get(r);
	uint64_t id = ++r->r_last_id;
	int rc = -ENOMEM;

	op->type = type;
	op->h = type == AC_OP_CONNECT ? -1 : h;
	op->io_priv[0] = (REC_TAG << REC_TAG_SHIFT) | id;
	op->io_priv[1] = 0;
	if (s != NULL) {
		memset(&s->s_op, 0, sizeof(s->s_op));
		s->s_op.cb = op->cb ? rec_shadow_cb : NULL;
		s->s_op.buf = op->buf;
		s->s_op.len = op->len;
		s->s_op.addr = op->addr;
		s->s_op.h = -1;
		s->s_user = op;
		s->s_id = id;
		rc = rec_inner_submit(r->r_inner, h, &s->s_op, type);
		rec_copy_back(op, &s->s_op);
	}
	if (s == NULL)
		op->res = rc;
	rec_submit_event(r, op, id, h, rc);
	if (rc == AC_IO_DONE && (type == AC_OP_ACCEPT || type == AC_OP_CONNECT))
		rec_conn(r, op->res);
	if (s != NULL && rc == AC_IO_PENDING)
		op->io_priv[1] = (uint64_t)(uintptr_t)s;
	else if (s != NULL)
		rec_shadow_put(r, s);
	return rc;
}

static int rec_accept(ac_io *io, int h, ac_op *op)
{
	return rec_submit(io, h, op, AC_OP_ACCEPT);
}

static int rec_connect(ac_io *io, ac_op *op)
{
	return rec_submit(io, -1, op, AC_OP_CONNECT);
}

static int rec_recv(ac_io *io, int h, ac_op *op)
{
	return rec_submit(io, h, op, AC_OP_RECV);
}

static int rec_send(ac_io *io, int h, ac_op *op)
{
	return rec_submit(io, h, op, AC_OP_SEND);
}

static int rec_recvfrom(ac_io *io, int h, ac_op *op)
{
	return rec_submit(io, h, op, AC_OP_RECVFROM);
}

static int rec_sendto(ac_io *io, int h, ac_op *op)
{
	return rec_submit(io, h, op, AC_OP_SENDTO);
}

static int rec_read(ac_io *io, int h, ac_op *op)
{
	return rec_submit(io, h, op, AC_OP_READ);
}

static int rec_write(ac_io *io, int h, ac_op *op)
{
	return rec_submit(io, h, op, AC_OP_WRITE);
}

static int rec_cancel(ac_io *io, ac_op *op)
{
	rec_io *r = rec_of(io);
	rec_shadow *s = rec_live(op);
	ac_rec_event ev;
	int rc = -ENOENT;

	if (s != NULL) {
		rc = r->r_inner->ops->cancel(r->r_inner, &s->s_op);
		if (rc == 0 || rc == AC_IO_DONE) {
			rec_copy_back(op, &s->s_op);
			rec_shadow_put(r, s);
		}
	}
	ac__rec_event_init(&ev, AC_REC_CANCEL);
	ev.op = rec_op_id(op);
	ev.rc = rc;
	if (rc == AC_IO_DONE)
		rec_results(&ev, op);
	if (rc == 0) {
		ev.res = op->res;
		if (op->type == AC_OP_SEND || op->type == AC_OP_WRITE)
			ev.a = op->res;
	}
	rec_put(r, &ev);
	if (rc == AC_IO_DONE && (op->type == AC_OP_ACCEPT || op->type == AC_OP_CONNECT) &&
	    op->res >= 0)
		rec_conn(r, op->res);
	return rc;
}

/* ---- clock, entropy, poll ------------------------------------------------------------ */

/* An event of kind with only rc. */
static void rec_rc(rec_io *r, uint32_t kind, int64_t rc)
{
	ac_rec_event ev;

	ac__rec_event_init(&ev, kind);
	ev.rc = rc;
	rec_put(r, &ev);
}

static int64_t rec_now_ns(ac_io *io)
{
	rec_io *r = rec_of(io);
	int64_t t = r->r_inner->ops->now_ns(r->r_inner);

	rec_rc(r, AC_REC_NOW, t);
	return t;
}

static int64_t rec_wall_ns(ac_io *io)
{
	rec_io *r = rec_of(io);
	int64_t t = r->r_inner->ops->wall_ns(r->r_inner);

	rec_rc(r, AC_REC_WALL, t);
	return t;
}

static void rec_entropy(ac_io *io, void *buf, size_t len)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev;

	r->r_inner->ops->entropy(r->r_inner, buf, len);
	ac__rec_event_init(&ev, AC_REC_ENTROPY);
	ev.a = (int64_t)len;
	ev.data = buf;
	ev.dlen = len;
	rec_put(r, &ev);
}

static int rec_poll(ac_io *io, int64_t deadline_ns)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev;
	int rc;

	ac__rec_event_init(&ev, AC_REC_POLL);
	ev.a = deadline_ns;
	rec_put(r, &ev);
	rc = r->r_inner->ops->poll(r->r_inner, deadline_ns);
	rec_rc(r, AC_REC_POLL_END, rc);
	return rc;
}

static int rec_pending(ac_io *io)
{
	rec_io *r = rec_of(io);
	int n = r->r_inner->ops->pending(r->r_inner);

	rec_rc(r, AC_REC_PENDING, n);
	return n;
}

/* ---- synchronous calls: sockets and names ----------------------------------------- */

/* A CALL event of call, for the caller to fill. */
static ac_rec_event rec_call(uint32_t call)
{
	ac_rec_event ev;

	ac__rec_event_init(&ev, AC_REC_CALL);
	ev.call = call;
	return ev;
}

/* A CALL with a handle in and only rc out. */
static int rec_h_rc(rec_io *r, uint32_t call, int h, int rc)
{
	ac_rec_event ev = rec_call(call);

	ev.h = h;
	ev.rc = rc;
	rec_put(r, &ev);
	return rc;
}

static int rec_tcp_listen(ac_io *io, const ac_addr *addr, int backlog, int flags,
                          int *h_out)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_TCP_LISTEN);
	int h = -1, rc = r->r_inner->ops->tcp_listen(r->r_inner, addr, backlog, flags, &h);

	if (addr)
		ev.addr = *addr;
	ev.a = backlog;
	ev.b = flags;
	ev.rc = rc;
	ev.res = rc == 0 ? h : 0;
	rec_put(r, &ev);
	if (rc == 0 && h_out)
		*h_out = h;
	return rc;
}

static int rec_udp_bind(ac_io *io, const ac_addr *addr, int flags, int *h_out)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_UDP_BIND);
	int h = -1, rc = r->r_inner->ops->udp_bind(r->r_inner, addr, flags, &h);

	if (addr)
		ev.addr = *addr;
	ev.b = flags;
	ev.rc = rc;
	ev.res = rc == 0 ? h : 0;
	rec_put(r, &ev);
	if (rc == 0 && h_out)
		*h_out = h;
	return rc;
}

static int rec_shutdown(ac_io *io, int h)
{
	rec_io *r = rec_of(io);

	return rec_h_rc(r, AC_RC_SHUTDOWN, h, r->r_inner->ops->shutdown(r->r_inner, h));
}

static int rec_close(ac_io *io, int h)
{
	rec_io *r = rec_of(io);

	return rec_h_rc(r, AC_RC_CLOSE, h, r->r_inner->ops->close(r->r_inner, h));
}

/* local_addr (peer 0) or peer_addr (1). */
static int rec_sock_addr(ac_io *io, int h, ac_addr *out, int peer)
{
	rec_io *r = rec_of(io);
	ac_io *in = r->r_inner;
	ac_rec_event ev = rec_call(peer ? AC_RC_PEER_ADDR : AC_RC_LOCAL_ADDR);
	int rc = peer ? in->ops->peer_addr(in, h, out) : in->ops->local_addr(in, h, out);

	ev.h = h;
	ev.rc = rc;
	if (rc == 0)
		ev.addr = *out;
	rec_put(r, &ev);
	return rc;
}

static int rec_local_addr(ac_io *io, int h, ac_addr *out)
{
	return rec_sock_addr(io, h, out, 0);
}

static int rec_peer_addr(ac_io *io, int h, ac_addr *out)
{
	return rec_sock_addr(io, h, out, 1);
}

static int rec_fd_attach(ac_io *io, int fd, int *h_out)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_FD_ATTACH);
	int h = -1, rc = r->r_inner->ops->fd_attach(r->r_inner, fd, &h);

	ev.a = fd;
	ev.rc = rc;
	ev.res = rc == 0 ? h : 0;
	rec_put(r, &ev);
	if (rc == 0 && h_out)
		*h_out = h;
	return rc;
}

static int rec_resolve(ac_io *io, const char *host, int family, uint16_t port,
                       ac_addr *out, int max)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_RESOLVE);
	int rc = r->r_inner->ops->resolve(r->r_inner, host, family, port, out, max);

	ev.data = (const uint8_t *)host;
	ev.dlen = host ? strlen(host) : 0;
	ev.a = family;
	ev.b = port;
	ev.c = max;
	ev.rc = rc;
	if (rc > 0 && out) {
		ev.data2 = (const uint8_t *)out;
		ev.dlen2 = (size_t)rc * sizeof(ac_addr);
	}
	rec_put(r, &ev);
	return rc;
}

static int rec_host_addrs(ac_io *io, ac_addr *out, int max)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_HOST_ADDRS);
	int rc = r->r_inner->ops->host_addrs(r->r_inner, out, max);

	ev.c = max;
	ev.rc = rc;
	if (rc > 0 && out) {
		ev.data2 = (const uint8_t *)out;
		ev.dlen2 = (size_t)rc * sizeof(ac_addr);
	}
	rec_put(r, &ev);
	return rc;
}

/* ---- synchronous calls: files -------------------------------------------------------- */

/* A path argument as data. */
static void rec_path_arg(ac_rec_event *ev, const char *path)
{
	ev->data = (const uint8_t *)path;
	ev->dlen = path ? strlen(path) : 0;
}

static int rec_file_open(ac_io *io, const char *path, int flags, uint32_t mode, int *h_out)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_FILE_OPEN);
	int h = -1, rc = r->r_inner->ops->file_open(r->r_inner, path, flags, mode, &h);

	rec_path_arg(&ev, path);
	ev.b = flags;
	ev.c = mode;
	ev.rc = rc;
	ev.res = rc == 0 ? h : 0;
	rec_put(r, &ev);
	if (rc == 0 && h_out)
		*h_out = h;
	return rc;
}

static int64_t rec_file_pread(ac_io *io, int h, void *buf, size_t len, int64_t off)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_FILE_PREAD);
	int64_t rc = r->r_inner->ops->file_pread(r->r_inner, h, buf, len, off);

	ev.h = h;
	ev.a = (int64_t)len;
	ev.b = off;
	ev.rc = rc;
	if (rc > 0) {
		ev.data2 = buf;
		ev.dlen2 = (size_t)rc;
	}
	rec_put(r, &ev);
	return rc;
}

static int64_t rec_file_pwrite(ac_io *io, int h, const void *buf, size_t len, int64_t off)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_FILE_PWRITE);
	int64_t rc = r->r_inner->ops->file_pwrite(r->r_inner, h, buf, len, off);

	ev.h = h;
	ev.data = buf;
	ev.dlen = buf ? len : 0;
	ev.b = off;
	ev.rc = rc;
	rec_put(r, &ev);
	return rc;
}

static int rec_file_sync(ac_io *io, int h)
{
	rec_io *r = rec_of(io);

	return rec_h_rc(r, AC_RC_FILE_SYNC, h, r->r_inner->ops->file_sync(r->r_inner, h));
}

static int rec_file_close(ac_io *io, int h)
{
	rec_io *r = rec_of(io);

	return rec_h_rc(r, AC_RC_FILE_CLOSE, h, r->r_inner->ops->file_close(r->r_inner, h));
}

static int rec_file_fstat(ac_io *io, int h, ac_stat *st)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_FILE_FSTAT);
	int rc = r->r_inner->ops->file_fstat(r->r_inner, h, st);

	ev.h = h;
	ev.rc = rc;
	if (rc == 0) {
		ev.data2 = (const uint8_t *)st;
		ev.dlen2 = sizeof(*st);
	}
	rec_put(r, &ev);
	return rc;
}

static int rec_file_stat(ac_io *io, const char *path, int nofollow, ac_stat *st)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_FILE_STAT);
	int rc = r->r_inner->ops->file_stat(r->r_inner, path, nofollow, st);

	rec_path_arg(&ev, path);
	ev.b = nofollow;
	ev.rc = rc;
	if (rc == 0) {
		ev.data2 = (const uint8_t *)st;
		ev.dlen2 = sizeof(*st);
	}
	rec_put(r, &ev);
	return rc;
}

static int rec_file_rename(ac_io *io, const char *from, const char *to)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_FILE_RENAME);

	ev.rc = r->r_inner->ops->file_rename(r->r_inner, from, to);
	rec_path_arg(&ev, from);
	ev.data2 = (const uint8_t *)to;
	ev.dlen2 = to ? strlen(to) : 0;
	rec_put(r, &ev);
	return (int)ev.rc;
}

static int rec_file_unlink(ac_io *io, const char *path)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_FILE_UNLINK);

	ev.rc = r->r_inner->ops->file_unlink(r->r_inner, path);
	rec_path_arg(&ev, path);
	rec_put(r, &ev);
	return (int)ev.rc;
}

static int rec_file_mkdir(ac_io *io, const char *path, uint32_t mode)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_FILE_MKDIR);

	ev.rc = r->r_inner->ops->file_mkdir(r->r_inner, path, mode);
	rec_path_arg(&ev, path);
	ev.c = mode;
	rec_put(r, &ev);
	return (int)ev.rc;
}

static int rec_file_set_meta(ac_io *io, const char *path, uint32_t mode, int64_t mtime_ns)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_FILE_SET_META);

	ev.rc = r->r_inner->ops->file_set_meta(r->r_inner, path, mode, mtime_ns);
	rec_path_arg(&ev, path);
	ev.c = mode;
	ev.b = mtime_ns;
	rec_put(r, &ev);
	return (int)ev.rc;
}

static const char *rec_temp_dir(ac_io *io)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_TEMP_DIR);
	const char *d = r->r_inner->ops->temp_dir(r->r_inner);

	ev.data2 = (const uint8_t *)d;
	ev.dlen2 = d ? strlen(d) : 0;
	rec_put(r, &ev);
	return d;
}

static int rec_buggify(ac_io *io, const char *site)
{
	rec_io *r = rec_of(io);
	ac_rec_event ev = rec_call(AC_RC_BUGGIFY);

	ev.rc = ac_buggify(r->r_inner, site);
	ev.data = (const uint8_t *)site;
	ev.dlen = site ? strlen(site) : 0;
	rec_put(r, &ev);
	return (int)ev.rc;
}

/* ---- the backend -------------------------------------------------------------------- */

#define REC_OPS_COMMON                                                        \
	.version = AC_IO_VERSION, .name = "record", .now_ns = rec_now_ns,     \
	.wall_ns = rec_wall_ns, .entropy = rec_entropy, .poll = rec_poll,     \
	.pending = rec_pending, .tcp_listen = rec_tcp_listen,                 \
	.accept = rec_accept, .connect = rec_connect, .recv = rec_recv,       \
	.send = rec_send, .shutdown = rec_shutdown, .udp_bind = rec_udp_bind, \
	.sendto = rec_sendto, .recvfrom = rec_recvfrom,                       \
	.local_addr = rec_local_addr, .peer_addr = rec_peer_addr,             \
	.cancel = rec_cancel, .close = rec_close, .fd_attach = rec_fd_attach, \
	.read = rec_read, .write = rec_write, .resolve = rec_resolve,         \
	.host_addrs = rec_host_addrs, .file_open = rec_file_open,             \
	.file_pread = rec_file_pread, .file_pwrite = rec_file_pwrite,         \
	.file_sync = rec_file_sync, .file_close = rec_file_close,             \
	.file_fstat = rec_file_fstat, .file_stat = rec_file_stat,             \
	.file_rename = rec_file_rename, .file_unlink = rec_file_unlink,       \
	.file_mkdir = rec_file_mkdir, .file_set_meta = rec_file_set_meta,     \
	.temp_dir = rec_temp_dir

/* Without buggify, for inner backends without it (epoll). */
static const struct ac_io_ops rec_ops = { REC_OPS_COMMON };
static const struct ac_io_ops rec_ops_buggify = { REC_OPS_COMMON, .buggify = rec_buggify };

/* The writer's "recording stopped" line, to the log function. */
static void rec_writer_log(void *arg, const char *line)
{
	rec_io *r = arg;

	if (r->r_log != NULL)
		r->r_log(r->r_log_arg, 1, line);
	else
		fprintf(stderr, "WARN %s\n", line);
}

int ac__io_record_new(ac_io *inner, const char *path, const char *name,
                      ac__rec_log_fn log, void *log_arg, ac_io **out)
{
	const struct ac_io_ops *o;
	ac_rec_header h;
	rec_io *r;
	int rc;

	if (inner == NULL || path == NULL || out == NULL || inner->ops->version < 1)
		return -EINVAL;
	o = inner->ops;
	r = calloc(1, sizeof(*r));
	if (r == NULL || (r->r_path = strdup(path)) == NULL) {
		free(r);
		return -ENOMEM;
	}
	r->r_base.ops = (o->version >= 2 && o->buggify != NULL) ? &rec_ops_buggify : &rec_ops;
	r->r_inner = inner;
	r->r_log = log;
	r->r_log_arg = log_arg;
	ac__rec_header_fill(&h, inner, name);
	rc = ac__recw_open(path, &h, rec_writer_log, r, &r->r_w);
	ac__rec_header_release(&h);
	if (rc < 0) {
		free(r->r_path);
		free(r);
		return rc;
	}
	*out = &r->r_base;
	return 0;
}

int ac_io_record_new(ac_io *inner, const char *path, ac_io **out)
{
	return ac__io_record_new(inner, path, "", NULL, NULL, out);
}

int ac__io_record_stopped(ac_io *io)
{
	return ac__recw_stopped(rec_of(io)->r_w);
}

ac_io *ac__io_record_inner(ac_io *io)
{
	if (io != NULL && (io->ops == &rec_ops || io->ops == &rec_ops_buggify))
		return ((rec_io *)io)->r_inner;
	return io;
}

void ac__io_record_note(ac_io *io, const char *key, const char *value)
{
	ac_rec_event ev;

	if (io == NULL || (io->ops != &rec_ops && io->ops != &rec_ops_buggify))
		return;
	ac__rec_event_init(&ev, AC_REC_META);
	ev.data = (const uint8_t *)key;
	ev.dlen = strlen(key);
	ev.data2 = (const uint8_t *)value;
	ev.dlen2 = strlen(value);
	rec_put(rec_of(io), &ev);
}

/* 1 for a recorder; the replay's own answer otherwise. */
int ac__io_record_kind(ac_io *io)
{
	if (io != NULL && (io->ops == &rec_ops || io->ops == &rec_ops_buggify))
		return 1;
	return ac__io_replay_is(io) ? 2 : 0;
}

const char *ac__io_record_path(ac_io *io)
{
	if (ac__io_record_kind(io) == 1)
		return ((rec_io *)io)->r_path;
	return ac__io_replay_path(io);
}

uint64_t ac_io_record_hash(ac_io *io, uint64_t *events)
{
	rec_io *r;

	if (ac__io_record_kind(io) != 1)
		return ac__io_replay_hash(io, events);
	r = (rec_io *)io;
	if (events)
		*events = ac__recw_count(r->r_w);
	return ac__recw_hash(r->r_w);
}

void ac_io_record_free(ac_io *io)
{
	rec_io *r;

	if (io == NULL)
		return;
	r = rec_of(io);
	ac__recw_end(r->r_w);
	ac__recw_free(r->r_w);
	while (r->r_slabs != NULL) {
		rec_slab *b = r->r_slabs;
		r->r_slabs = b->next;
		free(b);
	}
	free(r->r_path);
	free(r);
}
