/* sim/sim_fs.c: each node's disk — an in-memory file system behind the file
 * members of ac_io_ops, so that file transfers run deterministically in the
 * simulated world.
 *
 * POSIX-like semantics with the errno codes Linux gives: a tree of
 * directories (entries kept sorted by name) and regular files; paths are
 * absolute (a relative path is taken from "/"), "." and ".." work, there are
 * no symbolic links, no permission checks and no hard links. An unlinked file
 * lives on while a handle has it open. rename() replaces a file or an empty
 * directory atomically, refuses to move a directory into itself. The disk
 * survives a crash of its node (open handles do not); data is durable at
 * once (sync is accepted and does nothing). Writes that would make the
 * node's files exceed disk_bytes_max fail with -ENOSPC.
 */
#include "sim/sim.h"

/* Largest offset + length of a file. */
#define SIM_FILE_MAX ((int64_t)1 << 40)

static ac__sim_inode *sim_inode_new(uint32_t type, uint32_t mode,
                                    int64_t mtime_ns)
{
	ac__sim_inode *ino = calloc(1, sizeof(*ino));
	if (!ino)
		return NULL;
	ino->i_type = type;
	ino->i_mode = mode & 07777;
	ino->i_mtime_ns = mtime_ns;
	return ino;
}

/* Free ino (and, for a directory, everything below it). */
static void sim_inode_free(ac__sim_fs *fs, ac__sim_inode *ino)
{
	size_t i;
	for (i = 0; i < ino->i_nents; i++) {
		ac__sim_inode *c = ino->i_ents[i].d_ino;
		free(ino->i_ents[i].d_name);
		c->i_nlink = 0;
		if (c->i_open == 0)
			sim_inode_free(fs, c);
		else if (c->i_type == AC_FT_DIR)
			c->i_parent = c;
	}
	fs->f_bytes -= (int64_t)ino->i_size;
	free(ino->i_ents);
	free(ino->i_data);
	free(ino);
}

static void sim_inode_maybe_free(ac__sim_fs *fs, ac__sim_inode *ino)
{
	if (ino->i_nlink == 0 && ino->i_open == 0)
		sim_inode_free(fs, ino);
}

void ac__sim_file_release(ac__sim_fs *fs, ac__sim_inode *ino)
{
	AC_ASSERT(ino->i_open > 0);
	ino->i_open--;
	sim_inode_maybe_free(fs, ino);
}

/* ---- directories ------------------------------------------------------------------- */

/* Index of name in dir, or -(insertion point) - 1. */
static ssize_t sim_dir_find(const ac__sim_inode *dir, const char *name)
{
	size_t lo = 0, hi = dir->i_nents;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(dir->i_ents[mid].d_name, name);
		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(ssize_t)lo - 1;
}

static int sim_dir_reserve(ac__sim_inode *dir)
{
	size_t cap;
	ac__sim_dirent *t;
	if (dir->i_nents < dir->i_capents)
		return 0;
	cap = dir->i_capents ? 2 * dir->i_capents : 8;
	t = realloc(dir->i_ents, cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	dir->i_ents = t;
	dir->i_capents = cap;
	return 0;
}

/* Insert (name, ino) into dir; name is taken over (malloc'ed). Room must
 * have been reserved. */
static void sim_dir_insert(ac__sim_inode *dir, char *name, ac__sim_inode *ino)
{
	ssize_t at = sim_dir_find(dir, name);
	size_t i;
	AC_ASSERT(at < 0 && dir->i_nents < dir->i_capents);
	i = (size_t)(-at - 1);
	memmove(&dir->i_ents[i + 1], &dir->i_ents[i],
	        (dir->i_nents - i) * sizeof(dir->i_ents[0]));
	dir->i_ents[i].d_name = name;
	dir->i_ents[i].d_ino = ino;
	dir->i_nents++;
	ino->i_nlink = 1;
	if (ino->i_type == AC_FT_DIR)
		ino->i_parent = dir;
}

/* Remove name from dir; returns its inode (not freed). */
static ac__sim_inode *sim_dir_remove(ac__sim_inode *dir, const char *name)
{
	ssize_t at = sim_dir_find(dir, name);
	ac__sim_inode *ino;
	size_t i;
	AC_ASSERT(at >= 0);
	i = (size_t)at;
	ino = dir->i_ents[i].d_ino;
	free(dir->i_ents[i].d_name);
	memmove(&dir->i_ents[i], &dir->i_ents[i + 1],
	        (dir->i_nents - i - 1) * sizeof(dir->i_ents[0]));
	dir->i_nents--;
	ino->i_nlink = 0;
	return ino;
}

/* Create an empty directory (caller storage for the root). */
int ac__sim_fs_init(ac__sim_fs *fs, int64_t now_wall_ns)
{
	ac__sim_inode *tmp;
	char *name;
	fs->f_bytes = 0;
	fs->f_root = sim_inode_new(AC_FT_DIR, 0755, now_wall_ns);
	tmp = sim_inode_new(AC_FT_DIR, 01777, now_wall_ns);
	name = strdup("tmp");
	if (!fs->f_root || !tmp || !name || sim_dir_reserve(fs->f_root) < 0) {
		free(name);
		free(tmp);
		if (fs->f_root)
			sim_inode_free(fs, fs->f_root);
		fs->f_root = NULL;
		return -ENOMEM;
	}
	fs->f_root->i_parent = fs->f_root;
	fs->f_root->i_nlink = 1;
	sim_dir_insert(fs->f_root, name, tmp);
	return 0;
}

void ac__sim_fs_fini(ac__sim_fs *fs)
{
	if (fs->f_root)
		sim_inode_free(fs, fs->f_root);
	fs->f_root = NULL;
}

/* ---- paths ------------------------------------------------------------------------- */

/* Where a path leads. */
typedef struct sim_walk {
	/* Directory holding the last component. */
	ac__sim_inode *w_dir;
	/* The inode named, or NULL when the last component does not exist. */
	ac__sim_inode *w_ino;
	/* Last component ("" for "/", "." or ".."). */
	char w_name[AC__SIM_NAME_MAX + 1];
	/* The path ends with '/'. */
	int w_slash;
} sim_walk;

/* Step from ino into component c (length len) of a path. */
static int sim_walk_step(sim_walk *r, const char *c, size_t len)
{
	ssize_t at;
	if (!r->w_ino)
		return -ENOENT;
	if (r->w_ino->i_type != AC_FT_DIR)
		return -ENOTDIR;
	if (len > AC__SIM_NAME_MAX)
		return -ENAMETOOLONG;
	r->w_name[0] = 0;
	if (len == 1 && c[0] == '.')
		return 0;
	if (len == 2 && c[0] == '.' && c[1] == '.') {
		r->w_ino = r->w_ino->i_parent;
		r->w_dir = r->w_ino->i_parent;
		return 0;
	}
	memcpy(r->w_name, c, len);
	r->w_name[len] = 0;
	r->w_dir = r->w_ino;
	at = sim_dir_find(r->w_dir, r->w_name);
	r->w_ino = at >= 0 ? r->w_dir->i_ents[at].d_ino : NULL;
	return 0;
}

static int sim_walk_path(ac__sim_fs *fs, const char *path, sim_walk *r)
{
	size_t len;
	if (!path || !*path)
		return -ENOENT;
	len = strlen(path);
	if (len >= AC__SIM_PATH_MAX)
		return -ENAMETOOLONG;
	r->w_dir = fs->f_root;
	r->w_ino = fs->f_root;
	r->w_name[0] = 0;
	r->w_slash = path[len - 1] == '/';
	while (*path) {
		const char *q;
		int rc;
		while (*path == '/')
			path++;
		if (!*path)
			break;
		q = strchr(path, '/');
		if (!q)
			q = path + strlen(path);
		rc = sim_walk_step(r, path, (size_t)(q - path));
		if (rc < 0)
			return rc;
		path = q;
	}
	if (r->w_slash && r->w_ino && r->w_ino->i_type != AC_FT_DIR)
		return -ENOTDIR;
	return 0;
}

/* ---- file handles ------------------------------------------------------------------ */

static int sim_file_get(ac_sim_node *n, int h, ac__sim_inode **ino,
                        uint32_t *flags)
{
	if (n->n_crashing || !n->n_up)
		return -EBADF;
	*ino = ac__sim_h_get(n, h, AC__SIM_H_FILE);
	if (!*ino)
		return -EBADF;
	if (flags)
		*flags = n->n_h[h].h_flags;
	return 0;
}

/* Find or create the file of an open. */
static int sim_open_target(ac_sim_node *n, const char *path, int flags,
                           uint32_t mode, ac__sim_inode **out)
{
	sim_walk r;
	char *name;
	int rc = sim_walk_path(&n->n_fs, path, &r);
	if (rc < 0)
		return rc;
	if (r.w_ino) {
		if ((flags & AC_FO_CREATE) && (flags & AC_FO_EXCL))
			return -EEXIST;
		if (r.w_ino->i_type == AC_FT_DIR && (flags & AC_FO_WRITE))
			return -EISDIR;
		*out = r.w_ino;
		return 0;
	}
	if (!(flags & AC_FO_CREATE))
		return -ENOENT;
	if (r.w_slash || !r.w_name[0])
		return -EISDIR;
	name = strdup(r.w_name);
	*out = sim_inode_new(AC_FT_FILE, mode, ac__sim_node_wall(n));
	if (!name || !*out || sim_dir_reserve(r.w_dir) < 0) {
		free(name);
		free(*out);
		return -ENOMEM;
	}
	sim_dir_insert(r.w_dir, name, *out);
	r.w_dir->i_mtime_ns = ac__sim_node_wall(n);
	return 0;
}

int ac__sim_file_open(ac_io *io, const char *path, int flags, uint32_t mode,
                      int *h_out)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac__sim_inode *ino;
	int rc, h;
	if (n->n_crashing || !n->n_up)
		return -EIO;
	if (!h_out || !(flags & (AC_FO_READ | AC_FO_WRITE)))
		return -EINVAL;
	rc = sim_open_target(n, path, flags, mode, &ino);
	if (rc < 0)
		return rc;
	h = ac__sim_h_alloc(n, AC__SIM_H_FILE, ino);
	if (h < 0) {
		sim_inode_maybe_free(&n->n_fs, ino);
		return h;
	}
	n->n_h[h].h_flags = (uint32_t)flags;
	ino->i_open++;
	if ((flags & AC_FO_TRUNC) && (flags & AC_FO_WRITE) &&
	    ino->i_type == AC_FT_FILE) {
		n->n_fs.f_bytes -= (int64_t)ino->i_size;
		ino->i_size = 0;
		ino->i_mtime_ns = ac__sim_node_wall(n);
	}
	*h_out = h;
	return 0;
}

int64_t ac__sim_file_pread(ac_io *io, int h, void *buf, size_t len,
                           int64_t off)
{
	ac__sim_inode *ino;
	uint32_t flags;
	size_t k;
	int rc = sim_file_get(ac__sim_io_node(io), h, &ino, &flags);
	if (rc < 0)
		return rc;
	if (!(flags & AC_FO_READ))
		return -EBADF;
	if (ino->i_type == AC_FT_DIR)
		return -EISDIR;
	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= ino->i_size)
		return 0;
	k = ino->i_size - (size_t)off;
	if (k > len)
		k = len;
	memcpy(buf, ino->i_data + off, k);
	return (int64_t)k;
}

/* Make room for size bytes in file ino of node n. */
static int sim_file_grow(ac_sim_node *n, ac__sim_inode *ino, size_t size)
{
	int64_t max = n->n_world->w_opts.disk_bytes_max;
	size_t cap;
	uint8_t *d;
	if (size <= ino->i_size)
		return 0;
	if (max > 0 && n->n_fs.f_bytes + (int64_t)(size - ino->i_size) > max)
		return -ENOSPC;
	if (size > ino->i_cap) {
		cap = ino->i_cap ? ino->i_cap : 4096;
		while (cap < size)
			cap *= 2;
		d = realloc(ino->i_data, cap);
		if (!d)
			return -ENOSPC;
		ino->i_data = d;
		ino->i_cap = cap;
	}
	memset(ino->i_data + ino->i_size, 0, size - ino->i_size);
	n->n_fs.f_bytes += (int64_t)(size - ino->i_size);
	ino->i_size = size;
	return 0;
}

int64_t ac__sim_file_pwrite(ac_io *io, int h, const void *buf, size_t len,
                            int64_t off)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac__sim_inode *ino;
	uint32_t flags;
	int rc = sim_file_get(n, h, &ino, &flags);
	if (rc < 0)
		return rc;
	if (!(flags & AC_FO_WRITE))
		return -EBADF;
	if (ino->i_type == AC_FT_DIR)
		return -EISDIR;
	if (off < 0)
		return -EINVAL;
	if (len == 0)
		return 0;
	if (len > (size_t)SIM_FILE_MAX || off > SIM_FILE_MAX - (int64_t)len)
		return -EFBIG;
	rc = sim_file_grow(n, ino, (size_t)off + len);
	if (rc < 0)
		return rc;
	memcpy(ino->i_data + off, buf, len);
	ino->i_mtime_ns = ac__sim_node_wall(n);
	return (int64_t)len;
}

int ac__sim_file_sync(ac_io *io, int h)
{
	ac__sim_inode *ino;
	return sim_file_get(ac__sim_io_node(io), h, &ino, NULL);
}

int ac__sim_file_close(ac_io *io, int h)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac__sim_inode *ino;
	int rc;
	if (n->n_crashing || !n->n_up)
		return 0;
	rc = sim_file_get(n, h, &ino, NULL);
	if (rc < 0)
		return rc;
	ac__sim_h_free(n, h);
	ac__sim_file_release(&n->n_fs, ino);
	return 0;
}

static void sim_fill_stat(const ac__sim_inode *ino, ac_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->size = ino->i_type == AC_FT_DIR ? 4096 : (int64_t)ino->i_size;
	st->mtime_ns = ino->i_mtime_ns;
	st->mode = ino->i_mode;
	st->type = ino->i_type;
}

int ac__sim_file_fstat(ac_io *io, int h, ac_stat *st)
{
	ac__sim_inode *ino;
	int rc = sim_file_get(ac__sim_io_node(io), h, &ino, NULL);
	if (rc < 0)
		return rc;
	sim_fill_stat(ino, st);
	return 0;
}

/* ---- operations on paths ----------------------------------------------------------- */

/* Walk path on a usable node; -ENOENT when the target does not exist. */
static int sim_walk_existing(ac_sim_node *n, const char *path, sim_walk *r)
{
	int rc;
	if (n->n_crashing || !n->n_up)
		return -EIO;
	rc = sim_walk_path(&n->n_fs, path, r);
	if (rc < 0)
		return rc;
	return r->w_ino ? 0 : -ENOENT;
}

int ac__sim_file_stat(ac_io *io, const char *path, int nofollow, ac_stat *st)
{
	sim_walk r;
	int rc = sim_walk_existing(ac__sim_io_node(io), path, &r);
	(void)nofollow;
	if (rc < 0)
		return rc;
	sim_fill_stat(r.w_ino, st);
	return 0;
}

/* 1 when dir is d or lies below it. */
static int sim_is_below(const ac__sim_inode *dir, const ac__sim_inode *d,
                        const ac__sim_inode *root)
{
	for (;;) {
		if (dir == d)
			return 1;
		if (dir == root)
			return 0;
		dir = dir->i_parent;
	}
}

/* Check a rename of f onto t (t may be NULL) into directory tdir. */
static int sim_rename_check(ac__sim_fs *fs, const sim_walk *f,
                            const sim_walk *t)
{
	if (f->w_ino == fs->f_root || !f->w_name[0] || !t->w_name[0])
		return -EBUSY;
	if (f->w_ino->i_type == AC_FT_DIR &&
	    sim_is_below(t->w_dir, f->w_ino, fs->f_root))
		return -EINVAL;
	if (f->w_ino->i_type != AC_FT_DIR && t->w_slash)
		return -ENOTDIR;
	if (!t->w_ino)
		return 0;
	if (f->w_ino->i_type == AC_FT_DIR) {
		if (t->w_ino->i_type != AC_FT_DIR)
			return -ENOTDIR;
		if (t->w_ino->i_nents)
			return -ENOTEMPTY;
	} else if (t->w_ino->i_type == AC_FT_DIR) {
		return -EISDIR;
	}
	return 0;
}

int ac__sim_file_rename(ac_io *io, const char *from, const char *to)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac__sim_fs *fs = &n->n_fs;
	sim_walk f, t;
	char *name;
	int rc = sim_walk_existing(n, from, &f);
	if (rc < 0)
		return rc;
	rc = sim_walk_path(fs, to, &t);
	if (rc < 0)
		return rc;
	if (f.w_ino == t.w_ino)
		return 0;
	rc = sim_rename_check(fs, &f, &t);
	if (rc < 0)
		return rc;
	name = strdup(t.w_name);
	if (!name || sim_dir_reserve(t.w_dir) < 0) {
		free(name);
		return -ENOMEM;
	}
	if (t.w_ino)
		sim_inode_maybe_free(fs, sim_dir_remove(t.w_dir, t.w_name));
	sim_dir_remove(f.w_dir, f.w_name);
	sim_dir_insert(t.w_dir, name, f.w_ino);
	f.w_dir->i_mtime_ns = t.w_dir->i_mtime_ns = ac__sim_node_wall(n);
	return 0;
}

int ac__sim_file_unlink(ac_io *io, const char *path)
{
	ac_sim_node *n = ac__sim_io_node(io);
	sim_walk r;
	int rc = sim_walk_existing(n, path, &r);
	if (rc < 0)
		return rc;
	if (r.w_ino->i_type == AC_FT_DIR)
		return -EISDIR;
	sim_inode_maybe_free(&n->n_fs, sim_dir_remove(r.w_dir, r.w_name));
	r.w_dir->i_mtime_ns = ac__sim_node_wall(n);
	return 0;
}

int ac__sim_file_mkdir(ac_io *io, const char *path, uint32_t mode)
{
	ac_sim_node *n = ac__sim_io_node(io);
	ac__sim_inode *d;
	sim_walk r;
	char *name;
	int rc;
	if (n->n_crashing || !n->n_up)
		return -EIO;
	rc = sim_walk_path(&n->n_fs, path, &r);
	if (rc < 0)
		return rc;
	if (r.w_ino)
		return -EEXIST;
	name = strdup(r.w_name);
	d = sim_inode_new(AC_FT_DIR, mode, ac__sim_node_wall(n));
	if (!name || !d || sim_dir_reserve(r.w_dir) < 0) {
		free(name);
		free(d);
		return -ENOMEM;
	}
	sim_dir_insert(r.w_dir, name, d);
	r.w_dir->i_mtime_ns = d->i_mtime_ns;
	return 0;
}

int ac__sim_file_set_meta(ac_io *io, const char *path, uint32_t mode,
                          int64_t mtime_ns)
{
	sim_walk r;
	int rc = sim_walk_existing(ac__sim_io_node(io), path, &r);
	if (rc < 0)
		return rc;
	r.w_ino->i_mode = mode & 07777;
	if (mtime_ns >= 0)
		r.w_ino->i_mtime_ns = mtime_ns;
	return 0;
}

const char *ac__sim_temp_dir(ac_io *io)
{
	(void)io;
	return "/tmp";
}
