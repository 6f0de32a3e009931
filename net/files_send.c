/* net/files_send.c: the sending end of send_file and del_file (the
 * receiver is net/files_recv.c).
 *
 * The coroutine in ac_node_send_file:
 *
 *   FILE_BEGIN [name dir size mtime_ns mode overwrite] → [rc xfer size mtime_ns mode]
 *   FILE_DATA  [xfer offset bytes] → [rc]     AC_WIRE_CHUNK bytes at a time
 *   FILE_END   [xfer] → [rc]
 *
 * rc of FILE_BEGIN: 0 go on with transfer xfer; 1 the same file (size, mtime,
 * mode) is there; -EEXIST a different one is there (its stat follows);
 * -EFBIG, -EINVAL, ... The transfer's id xfer is the request id of its
 * FILE_BEGIN (unique per peer), so the sender can end a transfer whose
 * reply it has not seen yet. Up to FILES_WINDOW chunk requests are in
 * flight at once (1 MiB: as fast on loopback as 2 or 4 MiB, and it keeps
 * the peer's output queue short), so the sender waits on pending requests
 * of its own (files_tx) rather than on ac__request, which allows one at a
 * time. A FILE_DATA body is a header written by ac__pack_chunk_hdr with the
 * chunk read from the file straight behind it, both written in place at the
 * end of the peer's output queue (ac__request_start_reserved: the chunk is
 * not copied on its way to the connection). A transfer that stops after
 * FILE_BEGIN was queued sends FILE_END without waiting for the reply; the
 * receiver then keeps the file only if every byte arrived.
 *
 * ac_node_del_file sends DEL_FILE [name dir] → [rc]. With a timeout of 0
 * both stop after the local checks (-ETIMEDOUT, nothing sent). Both check the path
 * rules of net/files.h before anything goes out (an early -EINVAL) and send
 * permission bits without setuid, setgid and sticky (AC__FILE_MODE_MASK).
 */
#include "net/net.h"
#include "net/files.h"

/* Chunk requests in flight per transfer. */
#define FILES_WINDOW 4

AC_STATIC_ASSERT(FILES_WINDOW * (size_t)AC_WIRE_CHUNK <= AC_WIRE_QUEUE_MAX);
AC_STATIC_ASSERT(AC__PACK_CHUNK_HDR + (size_t)AC_WIRE_CHUNK <= AC_WIRE_BODY_MAX);

/* A sender's state: its requests in flight (its own pendings, answered in
 * order) and the local file. It lives on the sending
 * coroutine's stack; files_tx_close undoes it, called by the sender or by
 * the cancel hook of its waits when the coroutine is terminated (parked,
 * or woken by one reply but not yet run: its other requests are still
 * linked to the peer either way). */
typedef struct files_tx {
	ac_node *t_node;
	ac_peer *t_peer;
	/* The local file, or -1. */
	int t_fh;
	/* The receiver's transfer (the id of FILE_BEGIN) from when FILE_BEGIN
	 * is queued until FILE_END is, unless FILE_BEGIN failed; else 0. */
	uint32_t t_xfer;
	/* Requests in flight: t_count of them from t_head on, oldest first. */
	unsigned t_head;
	unsigned t_count;
	ac__pending t_pend[FILES_WINDOW];
} files_tx;

static uint32_t files_req_id(ac_node *n)
{
	uint32_t id = ++n->n_next_req;
	if (!id)
		id = ++n->n_next_req;
	AC_ASSERT(id != 0);
	return id;
}

static void files_pend_unlink(ac_peer *p, ac__pending *pend)
{
	ac__pending **pp = &p->p_pending;
	AC_ASSERT(!pend->pd_done && pend->pd_peer == p);
	while (*pp && *pp != pend)
		pp = &(*pp)->pd_next;
	/* Unanswered, so still linked: a reply or a lost connection unlinks a
	 * request and marks it done at once. */
	AC_ASSERT(*pp == pend);
	*pp = pend->pd_next;
}

/* Queue a request of t without waiting: its reply is waited for, in order,
 * by files_tx_wait (not ac__request_wait, which waits for all at once and
 * whose undo would not reach the other requests in flight). */
static int files_tx_send(files_tx *t, uint8_t type, const void *body, size_t len)
{
	ac_peer *p = t->t_peer;
	ac__pending *pend;
	int rc;
	AC_ASSERT(t->t_count < FILES_WINDOW);
	pend = &t->t_pend[(t->t_head + t->t_count) % FILES_WINDOW];
	rc = ac__request_start(p, type, body, len, pend);
	if (rc < 0)
		return rc;
	AC_ASSERT(pend->pd_id != 0 && !pend->pd_done);
	t->t_count++;
	return 0;
}

/* FILE_END before the last byte: the receiver drops the temporary file
 * (its reply finds no pending request and is dropped). */
static void files_tx_abort(files_tx *t)
{
	void *body;
	size_t len;
	AC_ASSERT(t->t_xfer != 0);
	if (t->t_peer->p_state != AC__PEER_OFFLINE &&
	    ac_pack(&body, &len, "[u]", (uint64_t)t->t_xfer) == 0) {
		ac__peer_queue(t->t_peer, AC_WT_FILE_END, 0, files_req_id(t->t_node),
		               body, len, NULL);
		ac__free(body);
	}
	t->t_xfer = 0;
}

/* Forget the requests in flight, end the transfer, release the file (once:
 * a second call finds nothing left to do). */
static void files_tx_close(files_tx *t)
{
	ac_io *io = t->t_node->n_io;
	while (t->t_count) {
		ac__pending *pend = &t->t_pend[t->t_head];
		if (!pend->pd_done)
			files_pend_unlink(t->t_peer, pend);
		ac__free(pend->pd_body);
		pend->pd_body = NULL;
		t->t_head = (t->t_head + 1) % FILES_WINDOW;
		t->t_count--;
	}
	if (t->t_xfer)
		files_tx_abort(t);
	if (t->t_fh >= 0)
		io->ops->file_close(io, t->t_fh);
	t->t_fh = -1;
	AC_ASSERT(t->t_count == 0 && t->t_xfer == 0);
}

static void files_tx_cancel(ac_coro *c, void *obj)
{
	(void)c;
	files_tx_close(obj);
}

/* Wait for the oldest request's reply: 0 and its body (free it), or the
 * request's error, or -ETIMEDOUT. */
static int files_tx_wait(files_tx *t, int64_t deadline_ns, uint8_t **body,
                         size_t *len)
{
	ac__pending *pend;
	AC_ASSERT(t->t_count > 0);
	pend = &t->t_pend[t->t_head];
	while (!pend->pd_done) {
		int r = ac__park(t->t_node->n_sched, deadline_ns, files_tx_cancel, t);
		if (r == -ETIMEDOUT && !pend->pd_done)
			return -ETIMEDOUT;
	}
	t->t_head = (t->t_head + 1) % FILES_WINDOW;
	t->t_count--;
	*body = pend->pd_body;
	*len = pend->pd_len;
	pend->pd_body = NULL;
	if (pend->pd_err) {
		ac__free(*body);
		*body = NULL;
		return pend->pd_err;
	}
	AC_ASSERT(*body != NULL); /* a reply without an error has its body */
	return 0;
}

/* Wait for the oldest request's "[rc]" reply and return rc. */
static int files_tx_ack(files_tx *t, int64_t deadline_ns)
{
	uint8_t *body;
	size_t len;
	int64_t r;
	int rc = files_tx_wait(t, deadline_ns, &body, &len);
	if (rc < 0)
		return rc;
	if (ac_unpack(body, len, "[i]", &r) < 0 || r > 0 || r < -4095)
		r = -EPROTO;
	ac__free(body);
	return (int)r;
}

static int64_t files_left_ms(ac_node *n, int64_t deadline_ns)
{
	int64_t left;
	if (deadline_ns < 0)
		return AC_FOREVER;
	left = (deadline_ns - ac_sched_now_ns(n->n_sched)) / 1000000;
	return left > 0 ? left : 0;
}

/* Start t: the peer at loc, online (connected now if need be). */
static int files_tx_init(files_tx *t, ac_node *n, const ac_addr *loc,
                         int64_t deadline_ns)
{
	char text[AC_ADDR_STRLEN];
	ac_peer *p;
	int rc;
	memset(t, 0, sizeof(*t));
	t->t_node = n;
	t->t_fh = -1;
	if (n->n_stopped)
		return -ESHUTDOWN;
	if (loc->family == AC_AF_NONE || loc->port == 0)
		return -EINVAL;
	p = ac__peer_find(n, loc);
	if (!p || p->p_state != AC__PEER_ONLINE) {
		rc = ac_node_peer(n, ac_addr_format(loc, text, sizeof(text)), 0,
		                  p ? p->p_stream_send : n->n_stream_send, 0,
		                  files_left_ms(n, deadline_ns));
		if (rc < 0)
			return rc;
		p = ac__peer_find(n, loc);
	}
	if (!p || p->p_state != AC__PEER_ONLINE)
		return -EHOSTUNREACH;
	t->t_peer = p;
	return 0;
}

/* The local file: open, a regular file, *st its stat now. */
static int files_tx_open(files_tx *t, const char *path, ac_stat *st)
{
	ac_io *io = t->t_node->n_io;
	int rc;
	AC_ASSERT(t->t_fh < 0);
	rc = io->ops->file_open(io, path, AC_FO_READ, 0, &t->t_fh);
	if (rc < 0) {
		t->t_fh = -1;
		return rc;
	}
	rc = io->ops->file_fstat(io, t->t_fh, st);
	if (rc < 0)
		return rc;
	if (st->type != AC_FT_FILE)
		return st->type == AC_FT_DIR ? -EISDIR : -EINVAL;
	return 0;
}

/* FILE_BEGIN: 0 (t->t_xfer is the transfer), or the receiver's answer. */
static int files_tx_begin(files_tx *t, const char *name, const char *dir,
                          const ac_stat *st, int overwrite, int64_t deadline_ns,
                          ac_stat *remote)
{
	uint64_t size = (uint64_t)st->size, mode = st->mode & AC__FILE_MODE_MASK, xid;
	int64_t r, rsize, rmtime;
	uint8_t *rb;
	void *b;
	size_t len;
	int rc;
	AC_ASSERT(t->t_count == 0 && t->t_xfer == 0);
	if (dir && *dir)
		rc = ac_pack(&b, &len, "[s s u i u b]", name, dir, size, st->mtime_ns,
		             mode, overwrite ? 1 : 0);
	else
		rc = ac_pack(&b, &len, "[s n u i u b]", name, size, st->mtime_ns, mode,
		             overwrite ? 1 : 0);
	if (rc < 0)
		return rc;
	rc = files_tx_send(t, AC_WT_FILE_BEGIN, b, len);
	ac__free(b);
	if (rc < 0)
		return rc;
	/* From here on the receiver may hold a transfer: files_tx_close ends it. */
	t->t_xfer = t->t_pend[(t->t_head + t->t_count - 1) % FILES_WINDOW].pd_id;
	AC_ASSERT(t->t_count == 1 && t->t_xfer != 0);
	rc = files_tx_wait(t, deadline_ns, &rb, &len);
	if (rc < 0)
		return rc;
	rc = ac_unpack(rb, len, "[i u i i u]", &r, &xid, &rsize, &rmtime, &mode);
	ac__free(rb);
	if (rc < 0 || r > 1 || r < -4095 || mode > 07777 || rsize < 0)
		return -EPROTO;
	if (r == 0 && xid != t->t_xfer)
		return -EPROTO;
	if (r != 0)
		t->t_xfer = 0; /* no transfer there */
	if (remote && (r == 1 || r == -EEXIST))
		*remote = (ac_stat){.size = rsize, .mtime_ns = rmtime,
		                    .mode = (uint32_t)mode, .type = AC_FT_FILE};
	return (int)r;
}

/* Read the chunk at off into the peer's output queue and queue it there as
 * a request: returns its length or a negative errno (-ENOBUFS: the queue
 * is full). */
static int files_tx_chunk(files_tx *t, int64_t off, int64_t size)
{
	ac_io *io = t->t_node->n_io;
	size_t n = size - off < AC_WIRE_CHUNK ? (size_t)(size - off) : AC_WIRE_CHUNK;
	ac__pending *pend;
	uint8_t *b;
	int64_t r;
	int rc;
	AC_ASSERT(off < size && t->t_xfer != 0 && t->t_count < FILES_WINDOW);
	/* File reads are synchronous: nothing else queues until the commit. */
	b = ac__peer_reserve(t->t_peer, AC__PACK_CHUNK_HDR + n);
	if (!b)
		return -ENOBUFS;
	r = io->ops->file_pread(io, t->t_fh, b + AC__PACK_CHUNK_HDR, n, off);
	if (r < 0)
		return (int)r;
	if (r != (int64_t)n)
		return -EIO; /* the file shrank while being sent */
	ac__pack_chunk_hdr(b, t->t_xfer, (uint64_t)off, (uint32_t)n);
	AC_DASSERT(ac_unpack(b, AC__PACK_CHUNK_HDR + n, "[u u S]", &(uint64_t){0},
	                     &(uint64_t){0}, &(const void *){NULL}, &(size_t){0}) == 0);
	pend = &t->t_pend[(t->t_head + t->t_count) % FILES_WINDOW];
	rc = ac__request_start_reserved(t->t_peer, AC_WT_FILE_DATA,
	                                AC__PACK_CHUNK_HDR + n, pend);
	if (rc < 0)
		return rc;
	AC_ASSERT(pend->pd_id != 0 && !pend->pd_done);
	t->t_count++;
	return (int)n;
}

/* Every chunk, FILES_WINDOW requests in flight at most. */
static int files_tx_data(files_tx *t, int64_t size, int64_t deadline_ns)
{
	int64_t off = 0;
	for (;;) {
		int rc;
		if (off < size && t->t_count < FILES_WINDOW) {
			rc = files_tx_chunk(t, off, size);
			if (rc > 0) {
				off += rc;
				continue;
			}
			/* A full output queue drains as replies come in. */
			if (rc != -ENOBUFS || t->t_count == 0)
				return rc < 0 ? rc : -EIO;
		} else if (t->t_count == 0) {
			AC_ASSERT(off == size);
			return 0;
		}
		rc = files_tx_ack(t, deadline_ns);
		if (rc < 0)
			return rc;
	}
}

static int files_tx_end(files_tx *t, int64_t deadline_ns)
{
	void *b;
	size_t len;
	int rc;
	AC_ASSERT(t->t_count == 0 && t->t_xfer != 0); /* every chunk acknowledged */
	rc = ac_pack(&b, &len, "[u]", (uint64_t)t->t_xfer);
	if (rc < 0)
		return rc;
	rc = files_tx_send(t, AC_WT_FILE_END, b, len);
	ac__free(b);
	if (rc < 0)
		return rc;
	t->t_xfer = 0; /* queued: the receiver ends the transfer either way */
	return files_tx_ack(t, deadline_ns);
}

/* A timeout of 0: a transfer or a deletion always waits for the
 * receiver's answer, so after the local checks it is -ETIMEDOUT at once,
 * nothing sent and no connection made (dis.h). */
static int files_zero(ac_node *n, const ac_addr *loc)
{
	if (n->n_stopped)
		return -ESHUTDOWN;
	if (loc->family == AC_AF_NONE || loc->port == 0)
		return -EINVAL;
	return -ETIMEDOUT;
}

/* Callable here: a coroutine of n's scheduler. */
static int files_in_coro(ac_node *n)
{
	ac_coro *c = ac__cur();
	return c && c->c_sched == n->n_sched;
}

int ac_node_send_file(ac_node *n, const ac_addr *loc, const char *path,
                      const char *dir, int overwrite, int64_t timeout_ms,
                      ac_stat *remote)
{
	files_tx t;
	ac_stat st;
	int64_t deadline_ns;
	const char *name;
	int rc;
	if (!n || !loc || !path)
		return -EINVAL;
	if (!files_in_coro(n))
		return -EPERM;
	name = ac__file_basename(path);
	if (ac__file_path_ok(dir, name) < 0)
		return -EINVAL;
	rc = n->n_io->ops->file_stat(n->n_io, path, 0, &st);
	if (rc < 0)
		return rc;
	if (st.type != AC_FT_FILE)
		return st.type == AC_FT_DIR ? -EISDIR : -EINVAL;
	if (timeout_ms == 0)
		return files_zero(n, loc);
	deadline_ns = ac__deadline(n->n_sched, timeout_ms);
	rc = files_tx_init(&t, n, loc, deadline_ns);
	if (rc == 0)
		rc = files_tx_open(&t, path, &st);
	if (rc == 0)
		rc = files_tx_begin(&t, name, dir, &st, overwrite, deadline_ns, remote);
	if (rc == 0)
		rc = files_tx_data(&t, st.size, deadline_ns);
	if (rc == 0)
		rc = files_tx_end(&t, deadline_ns);
	files_tx_close(&t);
	return rc;
}

int ac_node_del_file(ac_node *n, const ac_addr *loc, const char *file,
                     const char *dir, int64_t timeout_ms)
{
	files_tx t;
	int64_t deadline_ns;
	void *b;
	size_t len;
	int rc;
	if (!n || !loc || !file)
		return -EINVAL;
	if (!files_in_coro(n))
		return -EPERM;
	if (ac__file_path_ok(dir, file) < 0)
		return -EINVAL;
	if (timeout_ms == 0)
		return files_zero(n, loc);
	deadline_ns = ac__deadline(n->n_sched, timeout_ms);
	rc = files_tx_init(&t, n, loc, deadline_ns);
	if (rc == 0 && dir && *dir)
		rc = ac_pack(&b, &len, "[s s]", file, dir);
	else if (rc == 0)
		rc = ac_pack(&b, &len, "[s n]", file);
	if (rc == 0) {
		rc = files_tx_send(&t, AC_WT_DEL_FILE, b, len);
		ac__free(b);
	}
	if (rc == 0)
		rc = files_tx_ack(&t, deadline_ns);
	files_tx_close(&t);
	return rc;
}
