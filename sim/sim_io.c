/* sim/sim_io.c: the sim backend's struct ac_io_ops — a node's clock,
 * entropy, poll, handle table, operation lists, cancel, close and names.
 *
 * A node's io never blocks: poll() runs the callbacks of the node's
 * operations that have completed (those queued when it was entered) and
 * returns; the world loop, not poll, moves virtual time. An operation is
 * always on exactly one list while pending — a socket's list, or the node's
 * list of completed operations (n_done; n_running while a poll runs their
 * callbacks) — and op->io_priv[0] names that list, so cancel() is O(1).
 * cancel() of a waiting operation other than a send sets op->res to
 * -ECANCELED; of one that completed but whose callback has not run yet it
 * removes it and returns AC_IO_DONE with op->res set, which ac__io_wait in
 * the engine relies on so that a result (bytes already read, a connection
 * already accepted) is not lost. As on epoll, FIFO holds for callbacks
 * too: an operation that completes at once while earlier ones of its
 * handle and side wait for their callbacks goes on n_done behind them
 * (AC_IO_PENDING). A send waits while the connection's send buffer has
 * no room for the rest of it (flow control, sim_tcp.c); cancelled then (0),
 * it reports in op->res the bytes already in the stream, as io.h (version
 * 3) asks.
 *
 * While a node crashes (n_crashing) or is down, its io is inert: cancel and
 * close succeed without effect, new operations fail with -ENETDOWN or
 * -EBADF, so that the scheduler can be torn down without touching the
 * network.
 */
#include "sim/sim.h"

/* ---- clock and entropy ---------------------------------------------------------- */

static int64_t sim_now_ns(ac_io *io)
{
	ac_sim_node *n = ac__sim_io_node(io);
	return ac__sim_node_clock(n, n->n_world->w_now);
}

static int64_t sim_wall_ns(ac_io *io)
{
	return ac__sim_node_wall(ac__sim_io_node(io));
}

static void sim_entropy(ac_io *io, void *buf, size_t len)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac_sim *w = n->n_world;
	uint8_t *p = buf;
	size_t i = 0;
	while (i < len) {
		uint64_t r = ac__sim_rng_next(&w->w_rng);
		size_t k;
		for (k = 0; k < 8 && i < len; k++, i++)
			p[i] = (uint8_t)(r >> (8 * k));
	}
	ac__sim_trace(w, AC__SIM_T_ENTROPY, n->n_idx, len, 0);
}

/* ---- operation lists --------------------------------------------------------------- */

void ac__sim_oplist_push(ac__sim_oplist *l, ac_op *op)
{
	op->io_next = NULL;
	op->io_prev = l->l_tail;
	if (l->l_tail)
		l->l_tail->io_next = op;
	else
		l->l_head = op;
	l->l_tail = op;
	l->l_n++;
	op->io_priv[0] = (uint64_t)(uintptr_t)l;
}

void ac__sim_oplist_unlink(ac__sim_oplist *l, ac_op *op)
{
	AC_ASSERT(op->io_priv[0] == (uint64_t)(uintptr_t)l);
	if (op->io_prev)
		op->io_prev->io_next = op->io_next;
	else
		l->l_head = op->io_next;
	if (op->io_next)
		op->io_next->io_prev = op->io_prev;
	else
		l->l_tail = op->io_prev;
	op->io_next = op->io_prev = NULL;
	op->io_priv[0] = 0;
	AC_ASSERT(l->l_n > 0);
	l->l_n--;
}

ac_op *ac__sim_oplist_pop(ac__sim_oplist *l)
{
	ac_op *op = l->l_head;
	if (op)
		ac__sim_oplist_unlink(l, op);
	return op;
}

void ac__sim_op_wait(ac_sim_node *n, ac__sim_oplist *l, ac_op *op, void *ctx)
{
	ac__sim_oplist_push(l, op);
	op->io_priv[1] = (uint64_t)(uintptr_t)ctx;
	n->n_pending++;
}

void ac__sim_op_complete(ac_sim_node *n, ac_op *op, int64_t res)
{
	ac__sim_oplist *l = (ac__sim_oplist *)(uintptr_t)op->io_priv[0];
	AC_ASSERT(l != NULL && l != &n->n_done && l != &n->n_running);
	ac__sim_oplist_unlink(l, op);
	op->res = res;
	ac__sim_oplist_push(&n->n_done, op);
}

/* 1 for the ops of a descriptor's read side (accept, recv, recvfrom,
 * read), 0 for its write side. */
static int sim_op_reads(int type)
{
	return type == AC_OP_ACCEPT || type == AC_OP_RECV || type == AC_OP_RECVFROM ||
	       type == AC_OP_READ;
}

/* 1 when an op of op's handle and side is on list l. */
static int sim_side_on(const ac__sim_oplist *l, const ac_op *op)
{
	const ac_op *o;
	for (o = l->l_head; o; o = o->io_next)
		if (o->h == op->h && sim_op_reads(o->type) == sim_op_reads(op->type))
			return 1;
	return 0;
}

/* 1 when an op of op's handle and side has completed but its callback has
 * not run yet. */
static int sim_done_ahead(const ac_sim_node *n, const ac_op *op)
{
	return sim_side_on(&n->n_running, op) || sim_side_on(&n->n_done, op);
}

int ac__sim_op_now(ac_sim_node *n, ac_op *op, int64_t res)
{
	ac_sim *w = n->n_world;
	op->res = res;
	if (sim_done_ahead(n, op)) {
		/* FIFO holds for callbacks too, as on epoll: an op that
		 * completes at once while earlier ones of its handle and side
		 * wait for their callbacks is called back after them. */
		ac__sim_op_wait(n, &n->n_done, op, NULL);
		return AC_IO_PENDING;
	}
	w->w_stats.completions++;
	ac__sim_trace(w, AC__SIM_T_SYNC, n->n_idx, (uint64_t)op->type,
	              (uint64_t)res);
	return AC_IO_DONE;
}

void ac__sim_oplist_fail(ac_sim_node *n, ac__sim_oplist *l, int64_t res)
{
	while (l->l_head)
		ac__sim_op_complete(n, l->l_head, res);
}

void ac__sim_oplist_forget(ac_sim_node *n, ac__sim_oplist *l)
{
	ac_op *op;
	while ((op = ac__sim_oplist_pop(l)) != NULL)
		n->n_pending--;
	AC_ASSERT(n->n_pending >= 0);
}

int ac__sim_node_poll(ac_sim_node *n)
{
	ac_sim *w = n->n_world;
	ac_op *op;
	int ran = 0;
	/* Only what completed before entry (as on epoll): callbacks that
	 * complete more operations leave them on n_done for the next poll,
	 * also when a callback cancels one of those taken here. */
	while ((op = ac__sim_oplist_pop(&n->n_done)) != NULL)
		ac__sim_oplist_push(&n->n_running, op);
	while ((op = ac__sim_oplist_pop(&n->n_running)) != NULL) {
		n->n_pending--;
		AC_ASSERT(n->n_pending >= 0);
		w->w_stats.completions++;
		ac__sim_trace(w, AC__SIM_T_DONE, n->n_idx, (uint64_t)op->type,
		              (uint64_t)op->res);
		ran++;
		op->cb(op);
	}
	return ran;
}

static int sim_poll(ac_io *io, int64_t deadline_ns)
{
	ac_sim_node *n = ac__sim_io_node(io);
	(void)deadline_ns;
	if (n->n_crashing || !n->n_up)
		return 0;
	return ac__sim_node_poll(n);
}

static int sim_pending(ac_io *io)
{
	return (int)ac__sim_io_node(io)->n_pending;
}

static int sim_cancel(ac_io *io, ac_op *op)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac__sim_oplist *l = (ac__sim_oplist *)(uintptr_t)op->io_priv[0];
	ac__sim_ep *e = (ac__sim_ep *)(uintptr_t)op->io_priv[1];
	int done = l == &n->n_done || l == &n->n_running;
	if (n->n_crashing || !n->n_up)
		return 0;
	/* Not pending, or pending on another node's io: unknown here. */
	if (!l || (!done && (!e || e->e_node != n)))
		return -ENOENT;
	ac__sim_oplist_unlink(l, op);
	n->n_pending--;
	AC_ASSERT(n->n_pending >= 0);
	if (done)
		return AC_IO_DONE;
	/* A waiting send keeps in op->res the bytes it has put into the
	 * stream (sim_tcp.c): a cancelled one reports them (io.h version 3);
	 * other operations did nothing. */
	if (op->type != AC_OP_SEND && op->type != AC_OP_WRITE)
		op->res = -ECANCELED;
	ac__sim_trace(n->n_world, AC__SIM_T_CANCEL, n->n_idx, (uint64_t)op->type,
	              0);
	if (op->type == AC_OP_CONNECT)
		ac__sim_connect_abort(n, e);
	else if (op->type == AC_OP_SEND)
		ac__sim_tcp_send_cancelled(n->n_world, e);
	return 0;
}

/* ---- handles ---------------------------------------------------------------------- */

int ac__sim_h_alloc(ac_sim_node *n, uint32_t kind, void *ptr)
{
	uint32_t h;
	for (h = 0; h < n->n_nh; h++)
		if (n->n_h[h].h_kind == AC__SIM_H_FREE)
			break;
	if (h == n->n_nh) {
		if (h >= AC__SIM_HANDLES_MAX)
			return -EMFILE;
		if (h == n->n_caph) {
			uint32_t cap = n->n_caph ? 2 * n->n_caph : 16;
			ac__sim_handle *t = realloc(n->n_h, cap * sizeof(*t));
			if (!t)
				return -ENOMEM;
			n->n_h = t;
			n->n_caph = cap;
		}
		n->n_nh++;
	}
	n->n_h[h].h_kind = kind;
	n->n_h[h].h_flags = 0;
	n->n_h[h].h_ptr = ptr;
	return (int)h;
}

void ac__sim_h_free(ac_sim_node *n, int h)
{
	AC_ASSERT(h >= 0 && (uint32_t)h < n->n_nh);
	AC_ASSERT(n->n_h[h].h_kind != AC__SIM_H_FREE);
	n->n_h[h].h_kind = AC__SIM_H_FREE;
	n->n_h[h].h_ptr = NULL;
	while (n->n_nh && n->n_h[n->n_nh - 1].h_kind == AC__SIM_H_FREE)
		n->n_nh--;
}

void *ac__sim_h_get(ac_sim_node *n, int h, uint32_t kind)
{
	if (h < 0 || (uint32_t)h >= n->n_nh || n->n_h[h].h_kind != kind)
		return NULL;
	return n->n_h[h].h_ptr;
}

int ac__sim_h_ep(ac_sim_node *n, int h, ac__sim_ep **out)
{
	if (h < 0 || (uint32_t)h >= n->n_nh || !n->n_up || n->n_crashing)
		return -EBADF;
	if (n->n_h[h].h_kind == AC__SIM_H_FILE)
		return -ENOTSOCK;
	if (n->n_h[h].h_kind != AC__SIM_H_EP)
		return -EBADF;
	*out = n->n_h[h].h_ptr;
	return 0;
}

int ac__sim_node_usable(const ac_sim_node *n)
{
	return n->n_up && !n->n_crashing ? 0 : -ENETDOWN;
}

static int sim_close(ac_io *io, int h)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac__sim_ep *e;
	int rc;
	if (n->n_crashing || !n->n_up)
		return 0;
	if (ac__sim_h_get(n, h, AC__SIM_H_FILE))
		return -EBADF; /* file handles close with file_close, as on epoll */
	rc = ac__sim_h_ep(n, h, &e);
	if (rc < 0)
		return rc;
	ac__sim_ep_close(n, e);
	return 0;
}

void ac__sim_node_vanish(ac_sim_node *n)
{
	uint32_t h;
	for (h = 0; h < n->n_nh; h++) {
		ac__sim_handle *s = &n->n_h[h];
		if (s->h_kind == AC__SIM_H_EP)
			ac__sim_ep_vanish(n, s->h_ptr);
		else if (s->h_kind == AC__SIM_H_FILE)
			ac__sim_file_release(&n->n_fs, s->h_ptr);
		s->h_kind = AC__SIM_H_FREE;
		s->h_ptr = NULL;
	}
	n->n_nh = 0;
	ac__sim_tcp_crash_orphans(n->n_world, n);
	ac__sim_oplist_forget(n, &n->n_running);
	ac__sim_oplist_forget(n, &n->n_done);
	AC_ASSERT(n->n_pending == 0);
}

void ac__sim_node_io_reset(ac_sim_node *n)
{
	AC_ASSERT(n->n_nh == 0 && n->n_pending == 0);
	AC_ASSERT(n->n_done.l_head == NULL && n->n_running.l_head == NULL);
	n->n_paused_until = 0;
	n->n_ready = 0;
}

/* ---- descriptors: none in the simulation ---------------------------------------- */

static int sim_fd_attach(ac_io *io, int fd, int *h_out)
{
	(void)io;
	(void)fd;
	(void)h_out;
	return -ENOTSUP;
}

static int sim_fd_op(ac_io *io, int h, ac_op *op)
{
	(void)io;
	(void)h;
	(void)op;
	return -EBADF;
}

/* ---- names -------------------------------------------------------------------------- */

static int sim_resolve(ac_io *io, const char *host, int family, uint16_t port,
                       ac_addr *out, int max)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac_sim *w = n->n_world;
	ac_addr a;
	uint32_t i;
	if (!host || !out || max < 1)
		return -EINVAL;
	if (ac_addr_parse(&a, host, port) == 0) {
		if (family != AC_AF_NONE && family != a.family)
			return -ENOENT;
		a.port = port;
		out[0] = a;
		return 1;
	}
	if (family == AC_AF_INET6)
		return -ENOENT;
	ac_addr_init(&a);
	if (strcmp(host, "localhost") == 0) {
		a.family = AC_AF_INET;
		a.ip[0] = 127;
		a.ip[3] = 1;
	} else {
		for (i = 0; i < w->w_nnodes; i++)
			if (strcmp(w->w_nodes[i]->n_name, host) == 0)
				break;
		if (i == w->w_nnodes)
			return -ENOENT;
		a = w->w_nodes[i]->n_addr;
	}
	a.port = port;
	out[0] = a;
	return 1;
}

static int sim_host_addrs(ac_io *io, ac_addr *out, int max)
{
	ac_sim_node *n = ac__sim_io_node(io);
	if (!out || max < 1)
		return -EINVAL;
	out[0] = n->n_addr;
	if (max < 2)
		return 1;
	ac_addr_init(&out[1]);
	out[1].family = AC_AF_INET;
	out[1].ip[0] = 127;
	out[1].ip[3] = 1;
	return 2;
}

const struct ac_io_ops ac__sim_io_ops = {
	.version = AC_IO_VERSION,
	.name = "sim",
	.now_ns = sim_now_ns,
	.wall_ns = sim_wall_ns,
	.entropy = sim_entropy,
	.poll = sim_poll,
	.pending = sim_pending,
	.tcp_listen = ac__sim_tcp_listen,
	.accept = ac__sim_accept,
	.connect = ac__sim_connect,
	.recv = ac__sim_recv,
	.send = ac__sim_send,
	.shutdown = ac__sim_shutdown,
	.udp_bind = ac__sim_udp_bind,
	.sendto = ac__sim_sendto,
	.recvfrom = ac__sim_recvfrom,
	.local_addr = ac__sim_local_addr,
	.peer_addr = ac__sim_peer_addr,
	.cancel = sim_cancel,
	.close = sim_close,
	.fd_attach = sim_fd_attach,
	.read = sim_fd_op,
	.write = sim_fd_op,
	.resolve = sim_resolve,
	.host_addrs = sim_host_addrs,
	.file_open = ac__sim_file_open,
	.file_pread = ac__sim_file_pread,
	.file_pwrite = ac__sim_file_pwrite,
	.file_sync = ac__sim_file_sync,
	.file_close = ac__sim_file_close,
	.file_fstat = ac__sim_file_fstat,
	.file_stat = ac__sim_file_stat,
	.file_rename = ac__sim_file_rename,
	.file_unlink = ac__sim_file_unlink,
	.file_mkdir = ac__sim_file_mkdir,
	.file_set_meta = ac__sim_file_set_meta,
	.temp_dir = ac__sim_temp_dir,
	.buggify = ac__sim_buggify,
};
