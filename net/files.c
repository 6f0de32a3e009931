/* net/files.c: send_file and del_file, both ends of a file transfer.
 *
 * Sender (the coroutine in ac_node_send_file):
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
 * time. A transfer that stops after FILE_BEGIN was
 * queued sends FILE_END without waiting for the reply; the receiver then
 * keeps the file only if every byte arrived.
 *
 * Receiver (handlers run by the connection's reader; they never yield, so
 * frames are handled in order): the path rules of net/files.h, no symlink
 * anywhere under dest_path, missing directories created 0700, and the data
 * written to ".<name>.ac-tmp-<xfer>-<random hex>" next to the final name
 * (created exclusively). Chunks must arrive in order and within the
 * declared size, which is within max_file_size. FILE_END fsyncs, sets mode
 * and mtime and renames over the final name: the directory holds the whole
 * new file or the old one, never a part. A transfer ends with its
 * connection (ac__file_drop_peer), at its first error, or when a transfer
 * begins after it had FILES_IDLE_NS without a frame (a sender that vanished
 * without a word); its temporary file goes with it.
 *
 * Permission bits travel without setuid, setgid and sticky
 * (FILES_MODE_MASK): a peer must not plant set-id programs. Every field
 * from the wire is checked: names and paths by the rules, sizes against
 * max_file_size and INT64_MAX, transfer ids against the peer that opened
 * them, offsets against what was written. A body that does not decode
 * closes the connection; a request that breaks a rule gets an error reply.
 */
#include "net/net.h"
#include "net/files.h"

/* Chunk requests in flight per transfer. */
#define FILES_WINDOW 4
/* A transfer without a frame for this long (or twice peer_lost_ms, if that
 * is longer) is dropped when the next one begins. */
#define FILES_IDLE_NS ((int64_t)60 * 1000000000)
/* Permission bits kept: no setuid, setgid or sticky from a peer. */
#define FILES_MODE_MASK 0777u
/* FILE_DATA body header, encoded by hand (files_data_hdr). */
#define FILES_DATA_HDR 20
/* Random bytes in a temporary file's name. */
#define FILES_TMP_RANDOM 8
/* Longest part of the file name kept in a temporary file's name, so that
 * the whole stays within 255 bytes. */
#define FILES_TMP_NAME 200

AC_STATIC_ASSERT(FILES_WINDOW * (size_t)AC_WIRE_CHUNK <= AC_WIRE_QUEUE_MAX);
AC_STATIC_ASSERT(FILES_DATA_HDR + (size_t)AC_WIRE_CHUNK <= AC_WIRE_BODY_MAX);
AC_STATIC_ASSERT(FILES_TMP_NAME + sizeof(AC__FILE_TMP_MARK) + 2 * FILES_TMP_RANDOM + 12 <=
                 AC_WIRE_NAME_MAX);

/* An incoming transfer: the shared record plus what only this file uses. */
typedef struct files_xfer {
	/* First, so that the node's list of ac__xfer links these. */
	ac__xfer f_x;
	/* Replace a different file at the final name. */
	int f_overwrite;
	/* Last frame of this transfer (monotonic ns), for the idle sweep. */
	int64_t f_last_ns;
} files_xfer;

static void files_log(ac_peer *p, const char *name, const char *what, int rc)
{
	ac__nlog(p->p_node, rc == -EINVAL ? AC_LOG_WARN : AC_LOG_INFO,
	         "file \"%s\" from %s: %s: %s", name, p->p_name, what,
	         ac_strerror(rc));
}

/* "a/b" in a new string, or NULL. */
static char *files_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + 1 + lb + 1);
	if (!s)
		return NULL;
	memcpy(s, a, la);
	s[la] = '/';
	memcpy(s + la + 1, b, lb + 1);
	return s;
}

/* Check a (name, dir) pair off the wire and copy it into name[] and dir[]
 * (sizes AC_WIRE_NAME_MAX + 1 and AC_WIRE_PATH_MAX + 1). */
static int files_names(const void *name, size_t nlen, const void *dir,
                       size_t dlen, char *nbuf, char *dbuf)
{
	if (ac__file_path_check(dir, dlen, name, nlen) < 0)
		return -EINVAL;
	AC_ASSERT(nlen <= AC_WIRE_NAME_MAX && dlen <= AC_WIRE_PATH_MAX);
	memcpy(nbuf, name, nlen);
	nbuf[nlen] = '\0';
	if (dlen)
		memcpy(dbuf, dir, dlen);
	dbuf[dlen] = '\0';
	return 0;
}

/* ---- the receiver: transfers -------------------------------------------------- */

/* Transfer id of p, or NULL: a peer only reaches its own transfers. */
static ac__xfer *files_xfer_find(ac_peer *p, uint64_t id)
{
	ac__xfer *x;
	for (x = p->p_node->n_xfers; x; x = x->x_next)
		if (x->x_id == id && x->x_peer == p)
			return x;
	return NULL;
}

/* Close and remove the temporary file of x, if any. */
static void files_xfer_discard(ac_node *n, ac__xfer *x)
{
	ac_io *io = n->n_io;
	if (x->x_fh >= 0)
		io->ops->file_close(io, x->x_fh);
	x->x_fh = -1;
	if (x->x_tmp) {
		io->ops->file_unlink(io, x->x_tmp);
		free(x->x_tmp);
		x->x_tmp = NULL;
	}
}

/* The transfer failed: remember why (later frames get the same answer) and
 * drop its file now. */
static void files_xfer_fail(ac_node *n, ac__xfer *x, int err)
{
	AC_ASSERT(err < 0);
	if (!x->x_err) {
		x->x_err = err;
		files_log(x->x_peer, x->x_final, "receiving", err);
	}
	files_xfer_discard(n, x);
}

static void files_xfer_free(ac_node *n, ac__xfer *x)
{
	ac__xfer **pp = &n->n_xfers;
	while (*pp && *pp != x)
		pp = &(*pp)->x_next;
	AC_ASSERT(*pp == x);
	*pp = x->x_next;
	files_xfer_discard(n, x);
	free(x->x_final);
	free((files_xfer *)x);
}

/* Drop transfers that stayed silent too long; returns how many remain. */
static uint32_t files_sweep(ac_node *n)
{
	int64_t now = ac_sched_now_ns(n->n_sched);
	int64_t idle = 2 * n->n_lost_ns > FILES_IDLE_NS ? 2 * n->n_lost_ns : FILES_IDLE_NS;
	ac__xfer *x = n->n_xfers, *next;
	uint32_t left = 0;
	for (; x; x = next) {
		next = x->x_next;
		if (now - ((files_xfer *)x)->f_last_ns > idle) {
			files_log(x->x_peer, x->x_final, "dropped", -ETIMEDOUT);
			files_xfer_free(n, x);
		} else {
			left++;
		}
	}
	return left;
}

static void files_hex(char *out, const uint8_t *b, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;
	for (i = 0; i < len; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * len] = '\0';
}

/* Create x's temporary file next to x->x_final, exclusively. */
static int files_tmp_open(ac_node *n, ac__xfer *x)
{
	ac_io *io = n->n_io;
	const char *name = ac__file_basename(x->x_final);
	size_t dlen = (size_t)(name - x->x_final), cap = dlen + AC_WIRE_NAME_MAX + 1;
	uint8_t rnd[FILES_TMP_RANDOM];
	char hex[2 * FILES_TMP_RANDOM + 1];
	int rc = -EEXIST, tries;
	x->x_tmp = malloc(cap);
	if (!x->x_tmp)
		return -ENOMEM;
	memcpy(x->x_tmp, x->x_final, dlen);
	for (tries = 0; tries < 4 && rc == -EEXIST; tries++) {
		io->ops->entropy(io, rnd, sizeof(rnd));
		files_hex(hex, rnd, sizeof(rnd));
		snprintf(x->x_tmp + dlen, cap - dlen, ".%.*s" AC__FILE_TMP_MARK "%u-%s",
		         FILES_TMP_NAME, name, (unsigned)x->x_id, hex);
		rc = io->ops->file_open(io, x->x_tmp, AC_FO_WRITE | AC_FO_CREATE | AC_FO_EXCL,
		                        0600, &x->x_fh);
	}
	if (rc < 0) {
		x->x_fh = -1;
		free(x->x_tmp);
		x->x_tmp = NULL;
	}
	return rc;
}

/* What FILE_BEGIN asks for, checked. */
typedef struct files_begin_req {
	char b_name[AC_WIRE_NAME_MAX + 1];
	char b_dir[AC_WIRE_PATH_MAX + 1];
	uint64_t b_size;
	int64_t b_mtime_ns;
	uint64_t b_mode;
	int b_overwrite;
} files_begin_req;

/* A new transfer id of p into final (taken over on success). */
static int files_xfer_new(ac_peer *p, uint32_t id, const files_begin_req *r,
                          char *final, ac__xfer **out)
{
	ac_node *n = p->p_node;
	files_xfer *f;
	ac__xfer *x;
	int rc;
	if (files_xfer_find(p, id))
		return -EBUSY; /* a request id in use: only a broken peer does that */
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	x = &f->f_x;
	x->x_id = id;
	x->x_peer = p;
	x->x_fh = -1;
	x->x_size = (int64_t)r->b_size;
	x->x_mtime_ns = r->b_mtime_ns;
	x->x_mode = (uint32_t)r->b_mode & FILES_MODE_MASK;
	x->x_final = final;
	f->f_overwrite = r->b_overwrite;
	f->f_last_ns = ac_sched_now_ns(n->n_sched);
	rc = files_tmp_open(n, x);
	if (rc < 0) {
		free(f);
		return rc;
	}
	x->x_next = n->n_xfers;
	n->n_xfers = x;
	*out = x;
	return 0;
}

/* path is a directory (created 0700 when missing and create is set), not a
 * symlink. */
static int files_dir_step(ac_io *io, const char *path, int create)
{
	ac_stat st;
	int rc = io->ops->file_stat(io, path, 1, &st);
	if (rc == -ENOENT && create) {
		rc = io->ops->file_mkdir(io, path, 0700);
		if (rc != -EEXIST)
			return rc;
		rc = io->ops->file_stat(io, path, 1, &st); /* made meanwhile */
	}
	if (rc < 0)
		return rc;
	if (st.type == AC_FT_LINK)
		return -EINVAL;
	return st.type == AC_FT_DIR ? 0 : -ENOTDIR;
}

/* dest_path/dir (dir already follows the rules) with each component under
 * dest_path checked by files_dir_step. Returns 0 and *out (malloc'ed). */
static int files_dir(ac_node *n, const char *dir, int create, char **out)
{
	size_t base = strlen(n->n_dest), dlen = strlen(dir), i;
	char *path = malloc(base + 1 + dlen + 1);
	int rc = 0;
	if (!path)
		return -ENOMEM;
	memcpy(path, n->n_dest, base + 1);
	if (dlen) {
		path[base] = '/';
		memcpy(path + base + 1, dir, dlen + 1);
		if (path[base + dlen] == '/')
			path[base + dlen] = '\0'; /* the allowed trailing '/' */
		for (i = base + 1; rc == 0; i++) {
			char c = path[i];
			if (c != '/' && c != '\0')
				continue;
			path[i] = '\0';
			rc = files_dir_step(n->n_io, path, create);
			path[i] = c;
			if (c == '\0')
				break;
		}
	}
	if (rc < 0) {
		free(path);
		return rc;
	}
	*out = path;
	return 0;
}

/* A file is at the final name: 1 the same, -EEXIST keep it, 0 replace it. */
static int files_existing(const ac_stat *st, const files_begin_req *r)
{
	if (st->type == AC_FT_LINK)
		return -EINVAL;
	if (st->type == AC_FT_DIR)
		return -EISDIR;
	if (st->type != AC_FT_FILE)
		return -EINVAL;
	if (st->size == (int64_t)r->b_size && st->mtime_ns == r->b_mtime_ns &&
	    st->mode == ((uint32_t)r->b_mode & FILES_MODE_MASK))
		return 1;
	return r->b_overwrite ? 0 : -EEXIST;
}

/* Decide FILE_BEGIN request id: 1 or -EEXIST (*st: the file there), 0 and
 * a new transfer in *out, or a negative errno. */
static int files_begin_open(ac_peer *p, uint32_t id, const files_begin_req *r,
                            ac_stat *st, ac__xfer **out)
{
	ac_node *n = p->p_node;
	char *dir, *final;
	int rc;
	if (r->b_size > INT64_MAX)
		return -EFBIG;
	if (n->n_max_file > 0 && r->b_size > (uint64_t)n->n_max_file)
		return -EFBIG;
	if (files_sweep(n) >= AC_WIRE_XFERS_MAX)
		return -EBUSY;
	rc = files_dir(n, r->b_dir, 1, &dir);
	if (rc < 0)
		return rc;
	final = files_join(dir, r->b_name);
	free(dir);
	if (!final)
		return -ENOMEM;
	rc = n->n_io->ops->file_stat(n->n_io, final, 1, st);
	if (rc == 0)
		rc = files_existing(st, r);
	else if (rc == -ENOENT)
		rc = 0;
	if (rc == 0) {
		rc = files_xfer_new(p, id, r, final, out);
		if (rc == 0)
			return 0;
	}
	free(final);
	return rc;
}

/* Decode FILE_BEGIN: 0, -EINVAL (breaks a rule: reply), -EBADMSG (close). */
static int files_begin_decode(const uint8_t *b, size_t len, files_begin_req *r)
{
	const void *name = NULL, *dir = NULL;
	size_t nlen = 0, dlen = 0;
	if (ac_unpack(b, len, "[S S u i u b]", &name, &nlen, &dir, &dlen, &r->b_size,
	              &r->b_mtime_ns, &r->b_mode, &r->b_overwrite) < 0) {
		dir = NULL;
		dlen = 0;
		if (ac_unpack(b, len, "[S n u i u b]", &name, &nlen, &r->b_size,
		              &r->b_mtime_ns, &r->b_mode, &r->b_overwrite) < 0)
			return -EBADMSG;
	}
	if (r->b_mode > 07777)
		return -EINVAL;
	return files_names(name, nlen, dir, dlen, r->b_name, r->b_dir);
}

int ac__file_begin(ac_peer *p, uint32_t id, const uint8_t *body, size_t len)
{
	files_begin_req r;
	ac_stat st;
	ac__xfer *x = NULL;
	int rc;
	if (!id)
		return -EBADMSG; /* nobody would learn the transfer's id */
	memset(&st, 0, sizeof(st));
	r.b_name[0] = '\0';
	rc = files_begin_decode(body, len, &r);
	if (rc == -EBADMSG)
		return rc;
	if (rc == 0)
		rc = files_begin_open(p, id, &r, &st, &x);
	if (rc < 0 && rc != -EEXIST)
		files_log(p, r.b_name[0] ? r.b_name : "(refused path)", "refused", rc);
	if (rc == 0)
		return ac__reply(p, AC_WT_FILE_BEGIN, id, "[i u i i u]", (int64_t)0,
		                 (uint64_t)x->x_id, x->x_size, x->x_mtime_ns,
		                 (uint64_t)x->x_mode);
	return ac__reply(p, AC_WT_FILE_BEGIN, id, "[i u i i u]", (int64_t)rc,
	                 (uint64_t)0, st.size, st.mtime_ns, (uint64_t)st.mode);
}

/* Write one chunk of x: in order, within the declared size. */
static int files_write(ac_node *n, ac__xfer *x, uint64_t off, const void *data,
                       size_t len)
{
	ac_io *io = n->n_io;
	int64_t w;
	if (x->x_err)
		return x->x_err;
	AC_ASSERT(x->x_fh >= 0 && x->x_written <= x->x_size);
	((files_xfer *)x)->f_last_ns = ac_sched_now_ns(n->n_sched);
	if (off != (uint64_t)x->x_written) {
		files_xfer_fail(n, x, -EPROTO);
		return x->x_err;
	}
	if (len > (uint64_t)(x->x_size - x->x_written)) {
		files_xfer_fail(n, x, -EFBIG); /* more than announced */
		return x->x_err;
	}
	if (len == 0)
		return 0;
	w = io->ops->file_pwrite(io, x->x_fh, data, len, x->x_written);
	if (w != (int64_t)len) {
		files_xfer_fail(n, x, w < 0 ? (int)w : -EIO);
		return x->x_err;
	}
	x->x_written += (int64_t)len;
	return 0;
}

int ac__file_data(ac_peer *p, uint32_t id, const uint8_t *body, size_t len)
{
	uint64_t xid, off;
	const void *data;
	size_t dlen;
	ac__xfer *x;
	int rc;
	if (ac_unpack(body, len, "[u u S]", &xid, &off, &data, &dlen) < 0)
		return -EBADMSG;
	x = files_xfer_find(p, xid);
	rc = x ? files_write(p->p_node, x, off, data, dlen) : -ESTALE;
	return id ? ac__reply(p, AC_WT_FILE_DATA, id, "[i]", (int64_t)rc) : 0;
}

/* The last step of x: every byte there, on disk, then renamed into place. */
static int files_commit(ac_node *n, ac__xfer *x)
{
	ac_io *io = n->n_io;
	ac_stat st;
	int rc;
	if (x->x_err)
		return x->x_err;
	if (x->x_written != x->x_size)
		return -ECANCELED; /* ended early: the sender gave up */
	rc = io->ops->file_sync(io, x->x_fh);
	if (rc == 0) {
		rc = io->ops->file_close(io, x->x_fh);
		x->x_fh = -1;
	}
	/* Without overwrite, a file that appeared since FILE_BEGIN stays. */
	if (rc == 0 && !((files_xfer *)x)->f_overwrite &&
	    io->ops->file_stat(io, x->x_final, 1, &st) == 0)
		rc = -EEXIST;
	if (rc == 0)
		rc = io->ops->file_set_meta(io, x->x_tmp, x->x_mode, x->x_mtime_ns);
	if (rc == 0)
		rc = io->ops->file_rename(io, x->x_tmp, x->x_final);
	if (rc == 0) {
		free(x->x_tmp);
		x->x_tmp = NULL;
	}
	return rc;
}

int ac__file_end(ac_peer *p, uint32_t id, const uint8_t *body, size_t len)
{
	uint64_t xid;
	ac__xfer *x;
	int rc;
	if (ac_unpack(body, len, "[u]", &xid) < 0)
		return -EBADMSG;
	x = files_xfer_find(p, xid);
	if (!x) {
		rc = -ESTALE;
	} else {
		rc = files_commit(p->p_node, x);
		if (rc < 0 && rc != -ECANCELED && !x->x_err)
			files_log(p, x->x_final, "not kept", rc);
		files_xfer_free(p->p_node, x);
	}
	return id ? ac__reply(p, AC_WT_FILE_END, id, "[i]", (int64_t)rc) : 0;
}

void ac__file_drop_peer(ac_peer *p)
{
	ac_node *n = p->p_node;
	ac__xfer *x = n->n_xfers, *next;
	for (; x; x = next) {
		next = x->x_next;
		if (x->x_peer == p)
			files_xfer_free(n, x);
	}
}

/* Remove dest_path/dir/name: a regular file, no symlink on the way. */
static int files_remove(ac_node *n, const char *dir, const char *name)
{
	ac_io *io = n->n_io;
	ac_stat st;
	char *d, *path;
	int rc = files_dir(n, dir, 0, &d);
	if (rc < 0)
		return rc;
	path = files_join(d, name);
	free(d);
	if (!path)
		return -ENOMEM;
	rc = io->ops->file_stat(io, path, 1, &st);
	if (rc == 0 && st.type == AC_FT_DIR)
		rc = -EISDIR;
	else if (rc == 0 && st.type != AC_FT_FILE)
		rc = -EINVAL;
	if (rc == 0)
		rc = io->ops->file_unlink(io, path);
	free(path);
	return rc;
}

int ac__file_del(ac_peer *p, uint32_t id, const uint8_t *body, size_t len)
{
	char name[AC_WIRE_NAME_MAX + 1], dir[AC_WIRE_PATH_MAX + 1];
	const void *nb = NULL, *db = NULL;
	size_t nlen = 0, dlen = 0;
	int rc;
	if (ac_unpack(body, len, "[S S]", &nb, &nlen, &db, &dlen) < 0) {
		db = NULL;
		dlen = 0;
		if (ac_unpack(body, len, "[S n]", &nb, &nlen) < 0)
			return -EBADMSG;
	}
	name[0] = '\0';
	rc = files_names(nb, nlen, db, dlen, name, dir);
	if (rc == 0)
		rc = files_remove(p->p_node, dir, name);
	if (rc < 0 && rc != -ENOENT)
		files_log(p, name[0] ? name : "(refused path)", "not deleted", rc);
	return id ? ac__reply(p, AC_WT_DEL_FILE, id, "[i]", (int64_t)rc) : 0;
}

/* ---- the sender ----------------------------------------------------------------- */

/* A sender's state: its requests in flight (its own pendings, answered in
 * order), the local file and the chunk buffer. It lives on the sending
 * coroutine's stack; files_tx_close undoes it, called by the sender or by
 * the cancel hook of its waits when the coroutine is terminated (parked,
 * or woken by one reply but not yet run: its other requests are still
 * linked to the peer either way). */
typedef struct files_tx {
	ac_node *t_node;
	ac_peer *t_peer;
	/* The local file, or -1. */
	int t_fh;
	/* FILES_DATA_HDR + AC_WIRE_CHUNK bytes, or NULL. */
	uint8_t *t_buf;
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
	return id ? id : ++n->n_next_req;
}

static void files_pend_unlink(ac_peer *p, ac__pending *pend)
{
	ac__pending **pp = &p->p_pending;
	while (*pp && *pp != pend)
		pp = &(*pp)->p_next;
	if (*pp)
		*pp = pend->p_next;
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
	AC_ASSERT(pend->p_id != 0 && !pend->p_done);
	t->t_count++;
	return 0;
}

/* FILE_END before the last byte: the receiver drops the temporary file
 * (its reply finds no pending request and is dropped). */
static void files_tx_abort(files_tx *t)
{
	void *body;
	size_t len;
	if (t->t_peer->p_state != AC__PEER_OFFLINE &&
	    ac_pack(&body, &len, "[u]", (uint64_t)t->t_xfer) == 0) {
		ac__peer_queue(t->t_peer, AC_WT_FILE_END, 0, files_req_id(t->t_node),
		               body, len, NULL);
		free(body);
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
		if (!pend->p_done)
			files_pend_unlink(t->t_peer, pend);
		free(pend->p_body);
		pend->p_body = NULL;
		t->t_head = (t->t_head + 1) % FILES_WINDOW;
		t->t_count--;
	}
	if (t->t_xfer)
		files_tx_abort(t);
	if (t->t_fh >= 0)
		io->ops->file_close(io, t->t_fh);
	t->t_fh = -1;
	free(t->t_buf);
	t->t_buf = NULL;
}

static void files_tx_cancel(ac_coro *c, void *obj)
{
	(void)c;
	files_tx_close(obj);
}

/* Wait for the oldest request's reply: 0 and its body (free it), or the
 * request's error, or -ETIMEDOUT. */
static int files_tx_wait(files_tx *t, int64_t deadline, uint8_t **body,
                         size_t *len)
{
	ac__pending *pend;
	AC_ASSERT(t->t_count > 0);
	pend = &t->t_pend[t->t_head];
	while (!pend->p_done) {
		int r = ac__park(t->t_node->n_sched, deadline, files_tx_cancel, t);
		if (r == -ETIMEDOUT && !pend->p_done)
			return -ETIMEDOUT;
	}
	t->t_head = (t->t_head + 1) % FILES_WINDOW;
	t->t_count--;
	*body = pend->p_body;
	*len = pend->p_len;
	pend->p_body = NULL;
	if (pend->p_err) {
		free(*body);
		*body = NULL;
		return pend->p_err;
	}
	return 0;
}

/* Wait for the oldest request's "[rc]" reply and return rc. */
static int files_tx_ack(files_tx *t, int64_t deadline)
{
	uint8_t *body;
	size_t len;
	int64_t r;
	int rc = files_tx_wait(t, deadline, &body, &len);
	if (rc < 0)
		return rc;
	if (ac_unpack(body, len, "[i]", &r) < 0 || r > 0 || r < -4095)
		r = -EPROTO;
	free(body);
	return (int)r;
}

static int64_t files_left_ms(ac_node *n, int64_t deadline)
{
	int64_t left;
	if (deadline < 0)
		return AC_FOREVER;
	left = (deadline - ac_sched_now_ns(n->n_sched)) / 1000000;
	return left > 0 ? left : 0;
}

/* Start t: the peer at loc, online (connected now if need be). */
static int files_tx_init(files_tx *t, ac_node *n, const ac_addr *loc,
                         int64_t deadline)
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
		                  files_left_ms(n, deadline));
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
	int rc = io->ops->file_open(io, path, AC_FO_READ, 0, &t->t_fh);
	if (rc < 0) {
		t->t_fh = -1;
		return rc;
	}
	rc = io->ops->file_fstat(io, t->t_fh, st);
	if (rc < 0)
		return rc;
	if (st->type != AC_FT_FILE)
		return st->type == AC_FT_DIR ? -EISDIR : -EINVAL;
	t->t_buf = malloc(FILES_DATA_HDR + AC_WIRE_CHUNK);
	return t->t_buf ? 0 : -ENOMEM;
}

/* FILE_BEGIN: 0 (t->t_xfer is the transfer), or the receiver's answer. */
static int files_tx_begin(files_tx *t, const char *name, const char *dir,
                          const ac_stat *st, int overwrite, int64_t deadline,
                          ac_stat *remote)
{
	uint64_t size = (uint64_t)st->size, mode = st->mode & FILES_MODE_MASK, xid;
	int64_t r, rsize, rmtime;
	uint8_t *rb;
	void *b;
	size_t len;
	int rc;
	if (dir && *dir)
		rc = ac_pack(&b, &len, "[s s u i u b]", name, dir, size, st->mtime_ns,
		             mode, overwrite ? 1 : 0);
	else
		rc = ac_pack(&b, &len, "[s n u i u b]", name, size, st->mtime_ns, mode,
		             overwrite ? 1 : 0);
	if (rc < 0)
		return rc;
	rc = files_tx_send(t, AC_WT_FILE_BEGIN, b, len);
	free(b);
	if (rc < 0)
		return rc;
	/* From here on the receiver may hold a transfer: files_tx_close ends it. */
	t->t_xfer = t->t_pend[(t->t_head + t->t_count - 1) % FILES_WINDOW].p_id;
	rc = files_tx_wait(t, deadline, &rb, &len);
	if (rc < 0)
		return rc;
	rc = ac_unpack(rb, len, "[i u i i u]", &r, &xid, &rsize, &rmtime, &mode);
	free(rb);
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

/* The FILE_DATA body header [xfer, offset, bin32 of len]: encoded by hand
 * so that the chunk is read straight behind it (one copy less). */
static void files_data_hdr(uint8_t *b, uint32_t xfer, uint64_t off, uint32_t len)
{
	b[0] = 0x93; /* fixarray of 3 */
	b[1] = 0xce; /* uint32 */
	ac_wire_put32(b + 2, xfer);
	b[6] = 0xcf; /* uint64 */
	ac_wire_put32(b + 7, (uint32_t)(off >> 32));
	ac_wire_put32(b + 11, (uint32_t)off);
	b[15] = 0xc6; /* bin32 */
	ac_wire_put32(b + 16, len);
}

/* Read and queue the chunk at off: returns its length or a negative errno. */
static int files_tx_chunk(files_tx *t, int64_t off, int64_t size)
{
	ac_io *io = t->t_node->n_io;
	size_t n = size - off < AC_WIRE_CHUNK ? (size_t)(size - off) : AC_WIRE_CHUNK;
	int64_t r = io->ops->file_pread(io, t->t_fh, t->t_buf + FILES_DATA_HDR, n, off);
	int rc;
	if (r < 0)
		return (int)r;
	if (r != (int64_t)n)
		return -EIO; /* the file shrank while being sent */
	files_data_hdr(t->t_buf, t->t_xfer, (uint64_t)off, (uint32_t)n);
	AC_DASSERT(ac_unpack(t->t_buf, FILES_DATA_HDR + n, "[u u S]", &(uint64_t){0},
	                     &(uint64_t){0}, &(const void *){NULL}, &(size_t){0}) == 0);
	rc = files_tx_send(t, AC_WT_FILE_DATA, t->t_buf, FILES_DATA_HDR + n);
	return rc < 0 ? rc : (int)n;
}

/* Every chunk, FILES_WINDOW requests in flight at most. */
static int files_tx_data(files_tx *t, int64_t size, int64_t deadline)
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
			return 0;
		}
		rc = files_tx_ack(t, deadline);
		if (rc < 0)
			return rc;
	}
}

static int files_tx_end(files_tx *t, int64_t deadline)
{
	void *b;
	size_t len;
	int rc = ac_pack(&b, &len, "[u]", (uint64_t)t->t_xfer);
	if (rc < 0)
		return rc;
	rc = files_tx_send(t, AC_WT_FILE_END, b, len);
	free(b);
	if (rc < 0)
		return rc;
	t->t_xfer = 0; /* queued: the receiver ends the transfer either way */
	return files_tx_ack(t, deadline);
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
	int64_t deadline;
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
	deadline = ac__deadline(n->n_sched, timeout_ms);
	rc = files_tx_init(&t, n, loc, deadline);
	if (rc == 0)
		rc = files_tx_open(&t, path, &st);
	if (rc == 0)
		rc = files_tx_begin(&t, name, dir, &st, overwrite, deadline, remote);
	if (rc == 0)
		rc = files_tx_data(&t, st.size, deadline);
	if (rc == 0)
		rc = files_tx_end(&t, deadline);
	files_tx_close(&t);
	return rc;
}

int ac_node_del_file(ac_node *n, const ac_addr *loc, const char *file,
                     const char *dir, int64_t timeout_ms)
{
	files_tx t;
	int64_t deadline;
	void *b;
	size_t len;
	int rc;
	if (!n || !loc || !file)
		return -EINVAL;
	if (!files_in_coro(n))
		return -EPERM;
	if (ac__file_path_ok(dir, file) < 0)
		return -EINVAL;
	deadline = ac__deadline(n->n_sched, timeout_ms);
	rc = files_tx_init(&t, n, loc, deadline);
	if (rc == 0 && dir && *dir)
		rc = ac_pack(&b, &len, "[s s]", file, dir);
	else if (rc == 0)
		rc = ac_pack(&b, &len, "[s n]", file);
	if (rc == 0) {
		rc = files_tx_send(&t, AC_WT_DEL_FILE, b, len);
		free(b);
	}
	if (rc == 0)
		rc = files_tx_ack(&t, deadline);
	files_tx_close(&t);
	return rc;
}
