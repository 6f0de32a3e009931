/* net/files_recv.c: the receiving end of send_file and del_file — the
 * handlers of FILE_BEGIN, FILE_DATA, FILE_END and DEL_FILE and the node's
 * incoming transfers (net/files_send.c is the other end and describes the
 * exchange).
 *
 * Handlers run in the connection's reader and never yield, so frames are
 * handled in order. They apply the path rules of net/files.h, refuse a
 * symlink anywhere under dest_path, create missing directories 0700, and
 * write the data to ".<name>.ac-tmp-<xfer>-<random hex>" next to the final
 * name (created exclusively). Chunks must arrive in order and within the
 * declared size, which is within max_file_size. FILE_END fsyncs, sets mode
 * and mtime and renames over the final name: the directory holds the whole
 * new file or the old one, never a part. A transfer ends with its
 * connection (ac__file_drop_peer), at its first error, or when a transfer
 * begins after it had FILES_IDLE_NS without a frame (a sender that vanished
 * without a word); its temporary file goes with it.
 *
 * Permission bits are kept without setuid, setgid and sticky
 * (AC__FILE_MODE_MASK): a peer must not plant set-id programs. Every field
 * from the wire is checked: names and paths by the rules, sizes against
 * max_file_size and INT64_MAX, transfer ids against the peer that opened
 * them, offsets against what was written. A body that does not decode
 * closes the connection; a request that breaks a rule gets an error reply.
 */
#include "net/net.h"
#include "net/files.h"

/* A transfer without a frame for this long (or twice peer_lost_ms, if that
 * is longer) is dropped when the next one begins. */
#define FILES_IDLE_NS ((int64_t)60 * 1000000000)
/* Random bytes in a temporary file's name. */
#define FILES_TMP_RANDOM 8
/* Longest part of the file name kept in a temporary file's name, so that
 * the whole stays within 255 bytes. */
#define FILES_TMP_NAME 200

AC_STATIC_ASSERT(FILES_TMP_NAME + sizeof(AC__FILE_TMP_MARK) + 2 * FILES_TMP_RANDOM + 12 <=
                 AC_WIRE_NAME_MAX);

/* An incoming transfer: the node's record plus what only this file uses. */
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
	char *s = ac__malloc(la + 1 + lb + 1);
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

/* ---- transfers ---------------------------------------------------------------- */

/* Transfer id of p, or NULL: a peer only reaches its own transfers. */
static ac__xfer *files_xfer_find(ac_peer *p, uint64_t id)
{
	ac__xfer *x;
	for (x = p->p_node->n_xfers; x; x = x->x_next) {
		AC_ASSERT(x->x_peer != NULL && x->x_final != NULL);
		if (x->x_id == id && x->x_peer == p)
			return x;
	}
	return NULL;
}

/* Close and remove the temporary file of x, if any. */
static void files_xfer_discard(ac_node *n, ac__xfer *x)
{
	ac_io *io = n->n_io;
	/* An open file always has its temporary name. */
	AC_ASSERT(x->x_fh < 0 || x->x_tmp != NULL);
	if (x->x_fh >= 0)
		io->ops->file_close(io, x->x_fh);
	x->x_fh = -1;
	if (x->x_tmp) {
		io->ops->file_unlink(io, x->x_tmp);
		ac__free(x->x_tmp);
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
	ac__free(x->x_final);
	ac__free((files_xfer *)x);
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
	/* A transfer begins only while fewer are open (files_begin_open). */
	AC_ASSERT(left <= AC_WIRE_XFERS_MAX);
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
	AC_ASSERT(x->x_tmp == NULL && x->x_fh < 0);
	x->x_tmp = ac__malloc(cap);
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
		ac__free(x->x_tmp);
		x->x_tmp = NULL;
		return rc;
	}
	AC_ASSERT(strlen(ac__file_basename(x->x_tmp)) <= AC_WIRE_NAME_MAX);
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
	AC_ASSERT(id != 0 && r->b_mode <= 07777);
	if (files_xfer_find(p, id))
		return -EBUSY; /* a request id in use: only a broken peer does that */
	f = ac__calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	x = &f->f_x;
	x->x_id = id;
	x->x_peer = p;
	x->x_fh = -1;
	x->x_size = (int64_t)r->b_size;
	x->x_mtime_ns = r->b_mtime_ns;
	x->x_mode = (uint32_t)r->b_mode & AC__FILE_MODE_MASK;
	x->x_final = final;
	f->f_overwrite = r->b_overwrite;
	f->f_last_ns = ac_sched_now_ns(n->n_sched);
	rc = files_tmp_open(n, x);
	if (rc < 0) {
		ac__free(f);
		return rc;
	}
	x->x_next = n->n_xfers;
	n->n_xfers = x;
	AC_ASSERT(x->x_mode <= AC__FILE_MODE_MASK && x->x_size >= 0);
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
	char *path = ac__malloc(base + 1 + dlen + 1);
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
		ac__free(path);
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
	    st->mode == ((uint32_t)r->b_mode & AC__FILE_MODE_MASK))
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
	ac__free(dir);
	if (!final)
		return -ENOMEM;
	rc = n->n_io->ops->file_stat(n->n_io, final, 1, st);
	if (rc == 0)
		rc = files_existing(st, r);
	else if (rc == -ENOENT)
		rc = 0;
	if (rc == 0) {
		rc = files_xfer_new(p, id, r, final, out);
		if (rc == 0) {
			AC_ASSERT((*out)->x_id == id && (*out)->x_final == final);
			return 0;
		}
	}
	ac__free(final);
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
	AC_ASSERT(x->x_written <= x->x_size);
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
	AC_ASSERT(x->x_written <= x->x_size);
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
		AC_ASSERT(x->x_fh < 0);
		ac__free(x->x_tmp);
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
	ac__free(d);
	if (!path)
		return -ENOMEM;
	rc = io->ops->file_stat(io, path, 1, &st);
	if (rc == 0 && st.type == AC_FT_DIR)
		rc = -EISDIR;
	else if (rc == 0 && st.type != AC_FT_FILE)
		rc = -EINVAL;
	if (rc == 0)
		rc = io->ops->file_unlink(io, path);
	ac__free(path);
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
