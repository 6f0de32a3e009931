/* tests/check_files.c: send_file and del_file (net/files_send.c,
 * net/files_recv.c, net/files_path.c).
 *
 * "paths": the pure rules that keep a peer inside dest_path — hostile
 * directories ("../x", "a/../../x", "/etc", "a//b", "."), names with '/',
 * "." and "..", names and paths over the limits, NUL bytes hidden in wire
 * strings, the reserved temporary-file marker — plus basename.
 *
 * "e2e": two nodes on 127.0.0.1 in one process, each on its own scheduler,
 * driven by stepping both schedulers in turn within a time budget. Node A
 * sends to node B (dest_path a fresh directory, max_file_size 4 MiB): a new
 * file (0), the same again (1), a different one without overwrite (-EEXIST
 * and B's stat), with overwrite (0), a file of many chunks (0, byte-equal),
 * one over max_file_size (-EFBIG), a hostile dir (-EINVAL), a dir through a
 * symlink under dest_path (-EINVAL, nothing written outside), nested dirs
 * (created), del_file (0 then -ENOENT), local errors (-ENOENT, -EISDIR),
 * misuse outside a coroutine (-EPERM); and transfers cut short by
 * terminating the sender or closing the connection, which leave neither the
 * partial file nor its temporary file. After each test no temporary file is
 * left anywhere under dest_path.
 */
#include "tests/testutil.h"

#include <asyncoro/dis.h>

#include "net/files.h"
#include "net/wire.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- paths --------------------------------------------------------------------- */

START_TEST(test_path_ok)
{
	static const char *const dirs[] = {"", "a", "a/b/c", "a/b/", "..a", "a..",
	                                   ".hidden", "a/.b/c", "x y/z"};
	size_t i;
	CK_OK(ac__file_path_ok(NULL, "f"));
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		ck_assert_msg(ac__file_path_ok(dirs[i], "f") == 0, "dir \"%s\"", dirs[i]);
	CK_OK(ac__file_path_ok(NULL, ".hidden"));
	CK_OK(ac__file_path_ok(NULL, "..x"));
	CK_OK(ac__file_path_ok(NULL, "x.."));
	CK_OK(ac__file_path_ok(NULL, "a b.txt"));
}
END_TEST

START_TEST(test_path_hostile_dirs)
{
	static const char *const dirs[] = {"..", "../x", "a/../../x", "a/..", "a/../b", "/etc",
	                                   "/", "//", "a//b", "a//", ".", "./a", "a/.", "a/./b",
	                                   "../../../../etc", "/tmp/x", "a/b/../../.."};
	size_t i;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		ck_assert_msg(ac__file_path_ok(dirs[i], "f") == -EINVAL, "dir \"%s\" passed",
		              dirs[i]);
}
END_TEST

START_TEST(test_path_hostile_names)
{
	static const char *const names[] = {"", ".", "..", "a/b", "/etc/passwd", "../x", "x/",
	                                    "/", ".f" AC__FILE_TMP_MARK "1-ab",
	                                    "x" AC__FILE_TMP_MARK};
	size_t i;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_msg(ac__file_path_ok("a", names[i]) == -EINVAL, "name \"%s\" passed",
		              names[i]);
	CK_RC(ac__file_path_ok("a", NULL), -EINVAL);
}
END_TEST

START_TEST(test_path_limits)
{
	char name[AC_WIRE_NAME_MAX + 2], dir[AC_WIRE_PATH_MAX + 2];
	size_t i;
	memset(name, 'n', sizeof(name));
	name[AC_WIRE_NAME_MAX] = '\0';
	ck_assert_int_eq(ac__file_path_ok(NULL, name), 0);
	name[AC_WIRE_NAME_MAX] = 'n';
	name[AC_WIRE_NAME_MAX + 1] = '\0';
	ck_assert_int_eq(ac__file_path_ok(NULL, name), -EINVAL);
	/* A component over the name limit. */
	ck_assert_int_eq(ac__file_path_ok(name, "f"), -EINVAL);
	/* "aaa/aaa/…" of exactly AC_WIRE_PATH_MAX bytes, then one more. */
	for (i = 0; i < AC_WIRE_PATH_MAX; i++)
		dir[i] = i % 4 == 3 ? '/' : 'a';
	dir[AC_WIRE_PATH_MAX - 1] = 'a';
	dir[AC_WIRE_PATH_MAX] = '\0';
	ck_assert_int_eq(ac__file_path_ok(dir, "f"), 0);
	dir[AC_WIRE_PATH_MAX] = 'a';
	dir[AC_WIRE_PATH_MAX + 1] = '\0';
	ck_assert_int_eq(ac__file_path_ok(dir, "f"), -EINVAL);
}
END_TEST

START_TEST(test_path_wire_bytes)
{
	/* Lengths as they come off the wire: NUL inside is refused. */
	ck_assert_int_eq(ac__file_path_check("ab", 2, "fg", 2), 0);
	ck_assert_int_eq(ac__file_path_check("a/b/", 4, "f", 1), 0);
	ck_assert_int_eq(ac__file_path_check("a\0b", 3, "f", 1), -EINVAL);
	ck_assert_int_eq(ac__file_path_check("ab", 2, "f\0g", 3), -EINVAL);
	ck_assert_int_eq(ac__file_path_check("ab", 2, "f\0", 2), -EINVAL);
	ck_assert_int_eq(ac__file_path_check("\0", 1, "f", 1), -EINVAL);
	ck_assert_int_eq(ac__file_path_check(NULL, 1, "f", 1), -EINVAL);
	ck_assert_int_eq(ac__file_path_check(NULL, 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(ac__file_path_check(NULL, 0, "f", 0), -EINVAL);
	/* Only the given bytes count: "../x" cut to ".." is still refused,
	 * "ab/../x" cut to "ab" is fine. */
	ck_assert_int_eq(ac__file_path_check("../x", 2, "f", 1), -EINVAL);
	ck_assert_int_eq(ac__file_path_check("ab/../x", 2, "f", 1), 0);
	ck_assert_int_eq(ac__file_path_check(NULL, 0, "f/g", 1), 0);
}
END_TEST

START_TEST(test_basename)
{
	ck_assert_str_eq(ac__file_basename("a/b/c.txt"), "c.txt");
	ck_assert_str_eq(ac__file_basename("c.txt"), "c.txt");
	ck_assert_str_eq(ac__file_basename("/c"), "c");
	ck_assert_str_eq(ac__file_basename("a/"), "");
}
END_TEST

/* ---- two nodes in one process -------------------------------------------------- */

#define LONG_MS 20000
#define MAX_FILE (4 * 1024 * 1024)

typedef struct pair {
	ac_sched *a, *b;
	ac_node *na, *nb;
	ac_addr locb;
	/* Local files, A's dest_path, B's dest_path. */
	char src[64], adest[64], dest[64];
	int done;
} pair;

static void pair_node(ac_sched **s, ac_node **n, const char *dest, int64_t max_file)
{
	ac_node_opts o;
	ac_node_opts_init(&o);
	o.node = "127.0.0.1";
	o.discover_peers = 0;
	o.udp_port = 51399;
	o.secret = "s";
	o.dest_path = dest;
	o.max_file_size = max_file;
	*s = test_sched();
	CK_OK(ac_node_start(*s, &o, n));
}

static void pair_start(pair *e)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->src, sizeof(e->src), "/tmp/acf-src-XXXXXX");
	snprintf(e->adest, sizeof(e->adest), "/tmp/acf-a-XXXXXX");
	snprintf(e->dest, sizeof(e->dest), "/tmp/acf-b-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(e->src));
	ck_assert_ptr_nonnull(mkdtemp(e->adest));
	ck_assert_ptr_nonnull(mkdtemp(e->dest));
	pair_node(&e->a, &e->na, e->adest, 0);
	pair_node(&e->b, &e->nb, e->dest, MAX_FILE);
	e->locb = ac_node_location(e->nb);
}

/* Run fn(e) as a coroutine of A, stepping A and B until it ends. */
static void pair_run(pair *e, ac_coro_fn fn)
{
	/* Slow runs (valgrind) stretch the budget. */
	int64_t end = test_wall_ms() + 60000 * test_time_scale();
	e->done = 0;
	CK_OK(ac_spawn(e->a, fn, e, NULL, NULL));
	while (!e->done) {
		ac_sched_step(e->a);
		ac_sched_step(e->b);
		ck_assert_msg(test_wall_ms() < end, "two-node test over its time budget");
	}
}

/* The size of a file under dir whose name has the temporary-file marker,
 * or -1 when there is none. */
static off_t tmp_size(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	off_t found = -1;
	if (!d)
		return -1;
	while (found < 0 && (de = readdir(d)) != NULL) {
		char sub[1024];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (lstat(sub, &st) < 0)
			continue;
		if (strstr(de->d_name, AC__FILE_TMP_MARK))
			found = st.st_size;
		else if (S_ISDIR(st.st_mode))
			found = tmp_size(sub);
	}
	closedir(d);
	return found;
}

static int tmp_left(const char *dir)
{
	return tmp_size(dir) >= 0;
}

static void rm_tree(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void pair_free(pair *e)
{
	int left = tmp_left(e->dest);
	ac_sched_free(e->a);
	ac_sched_free(e->b);
	rm_tree(e->src);
	rm_tree(e->adest);
	rm_tree(e->dest);
	ck_assert_msg(!left, "a temporary file was left in dest_path");
}

/* Write size bytes of a pattern drawn from seed to dir/name, with mode and
 * mtime (seconds + ns) set; returns the path in a static-free buffer. */
static void make_file(char *path, size_t cap, const char *dir, const char *name, size_t size,
                      unsigned seed, mode_t mode, time_t mtime)
{
	struct timespec ts[2] = {{0, UTIME_OMIT}, {mtime, 123456789}};
	unsigned char *buf = malloc(size ? size : 1);
	size_t i;
	FILE *f;
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < size; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
	snprintf(path, cap, "%s/%s", dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, size, f), size);
	ck_assert_int_eq(fclose(f), 0);
	free(buf);
	ck_assert_int_eq(chmod(path, mode), 0);
	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* The two files have the same bytes, permission bits and mtime. */
static void same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	FILE *fa, *fb;
	int ca, cb;
	ck_assert_int_eq(stat(a, &sa), 0);
	ck_assert_int_eq(stat(b, &sb), 0);
	ck_assert_int_eq(sa.st_size, sb.st_size);
	ck_assert_int_eq(sa.st_mode & 0777, sb.st_mode & 0777);
	ck_assert_int_eq(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec);
	ck_assert_int_eq(sa.st_mtim.tv_nsec, sb.st_mtim.tv_nsec);
	fa = fopen(a, "rb");
	fb = fopen(b, "rb");
	ck_assert_ptr_nonnull(fa);
	ck_assert_ptr_nonnull(fb);
	do {
		ca = getc(fa);
		cb = getc(fb);
		ck_assert_int_eq(ca, cb);
	} while (ca != EOF);
	fclose(fa);
	fclose(fb);
}

static void body_send_same_exists(void *arg)
{
	pair *e = arg;
	char path[256], there[256];
	ac_stat st;
	make_file(path, sizeof(path), e->src, "f1", 1000, 1, 0640, 1600000000);
	snprintf(there, sizeof(there), "%s/f1", e->dest);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, NULL, 0, LONG_MS, NULL), 0);
	same_file(path, there);
	/* The same file again. */
	memset(&st, 0, sizeof(st));
	CK_RC(ac_node_send_file(e->na, &e->locb, path, NULL, 0, LONG_MS, &st), 1);
	ck_assert_int_eq(st.size, 1000);
	/* A different file of that name: kept without overwrite, B's stat. */
	make_file(path, sizeof(path), e->src, "f1", 777, 2, 0600, 1700000000);
	memset(&st, 0, sizeof(st));
	CK_RC(ac_node_send_file(e->na, &e->locb, path, "", 0, LONG_MS, &st), -EEXIST);
	ck_assert_int_eq(st.size, 1000);
	ck_assert_int_eq(st.mtime_ns, 1600000000 * (int64_t)1000000000 + 123456789);
	ck_assert_uint_eq(st.mode, 0640);
	ck_assert_uint_eq(st.type, AC_FT_FILE);
	/* Replaced with overwrite. */
	CK_RC(ac_node_send_file(e->na, &e->locb, path, NULL, 1, LONG_MS, NULL), 0);
	same_file(path, there);
	e->done = 1;
}

START_TEST(test_send_same_exists)
{
	pair e;
	pair_start(&e);
	pair_run(&e, body_send_same_exists);
	pair_free(&e);
}
END_TEST

static void body_send_big(void *arg)
{
	pair *e = arg;
	char path[256], there[256];
	size_t size = 3 * 1024 * 1024 + 12345; /* more chunks than the window */
	make_file(path, sizeof(path), e->src, "big.bin", size, 3, 0755, 1500000000);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, "sub/deeper/", 0, LONG_MS, NULL), 0);
	snprintf(there, sizeof(there), "%s/sub/deeper/big.bin", e->dest);
	same_file(path, there);
	/* Empty files too. */
	make_file(path, sizeof(path), e->src, "empty", 0, 4, 0600, 1500000000);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, "sub", 0, LONG_MS, NULL), 0);
	snprintf(there, sizeof(there), "%s/sub/empty", e->dest);
	same_file(path, there);
	/* Over B's max_file_size: refused, nothing there. */
	make_file(path, sizeof(path), e->src, "huge", MAX_FILE + 1, 5, 0600, 1500000000);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, NULL, 0, LONG_MS, NULL), -EFBIG);
	snprintf(there, sizeof(there), "%s/huge", e->dest);
	ck_assert_int_ne(access(there, F_OK), 0);
	e->done = 1;
}

START_TEST(test_send_big_and_limits)
{
	pair e;
	pair_start(&e);
	pair_run(&e, body_send_big);
	pair_free(&e);
}
END_TEST

static void body_send_hostile(void *arg)
{
	pair *e = arg;
	char path[256], link[256], outside[256];
	ac_stat st;
	make_file(path, sizeof(path), e->src, "f", 10, 6, 0600, 1500000000);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, "../x", 0, LONG_MS, NULL), -EINVAL);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, "a/../../x", 0, LONG_MS, NULL),
	      -EINVAL);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, "/etc", 0, LONG_MS, NULL), -EINVAL);
	CK_RC(ac_node_del_file(e->na, &e->locb, "f", "../x", LONG_MS), -EINVAL);
	CK_RC(ac_node_del_file(e->na, &e->locb, "../f", NULL, LONG_MS), -EINVAL);
	/* A symlink under dest_path is refused by the receiver, as a dir and
	 * as the file itself. */
	snprintf(link, sizeof(link), "%s/link", e->dest);
	ck_assert_int_eq(symlink(e->src, link), 0);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, "link", 1, LONG_MS, NULL), -EINVAL);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, "link/deeper", 1, LONG_MS, NULL),
	      -EINVAL);
	snprintf(outside, sizeof(outside), "%s/deeper", e->src);
	ck_assert_int_ne(access(outside, F_OK), 0);
	snprintf(link, sizeof(link), "%s/f", e->dest);
	ck_assert_int_eq(symlink(path, link), 0);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, NULL, 1, LONG_MS, NULL), -EINVAL);
	CK_RC(ac_node_del_file(e->na, &e->locb, "f", NULL, LONG_MS), -EINVAL);
	ck_assert_int_eq(access(path, F_OK), 0);
	/* Local errors. */
	CK_RC(ac_node_send_file(e->na, &e->locb, "/nonexistent/x", NULL, 0, LONG_MS, NULL),
	      -ENOENT);
	CK_RC(ac_node_send_file(e->na, &e->locb, e->src, NULL, 0, LONG_MS, NULL), -EISDIR);
	snprintf(outside, sizeof(outside), "%s/", e->src);
	CK_RC(ac_node_send_file(e->na, &e->locb, outside, NULL, 0, LONG_MS, &st), -EINVAL);
	e->done = 1;
}

START_TEST(test_send_hostile)
{
	pair e;
	pair_start(&e);
	pair_run(&e, body_send_hostile);
	pair_free(&e);
}
END_TEST

static void body_del(void *arg)
{
	pair *e = arg;
	char path[256], there[256];
	make_file(path, sizeof(path), e->src, "gone", 100, 7, 0600, 1500000000);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, "d", 0, LONG_MS, NULL), 0);
	snprintf(there, sizeof(there), "%s/d/gone", e->dest);
	ck_assert_int_eq(access(there, F_OK), 0);
	CK_RC(ac_node_del_file(e->na, &e->locb, "gone", "d", LONG_MS), 0);
	ck_assert_int_ne(access(there, F_OK), 0);
	CK_RC(ac_node_del_file(e->na, &e->locb, "gone", "d", LONG_MS), -ENOENT);
	CK_RC(ac_node_del_file(e->na, &e->locb, "gone", "nodir", LONG_MS), -ENOENT);
	CK_RC(ac_node_del_file(e->na, &e->locb, "d", NULL, LONG_MS), -EISDIR);
	e->done = 1;
}

START_TEST(test_del)
{
	pair e;
	pair_start(&e);
	pair_run(&e, body_del);
	pair_free(&e);
}
END_TEST

/* ---- transfers cut short: no partial file, no temporary file ------------------- */

typedef struct cut {
	pair e;
	char path[256];
	ac_ref sender;
	int rc;
	int sender_done;
} cut;

static void body_cut_sender(void *arg)
{
	cut *c = arg;
	c->rc = ac_node_send_file(c->e.na, &c->e.locb, c->path, NULL, 0, LONG_MS, NULL);
	c->sender_done = 1;
}

static void body_cut_terminate(void *arg)
{
	cut *c = arg;
	CK_OK(ac_terminate(c->sender));
	c->e.done = 1;
}

static void body_cut_close(void *arg)
{
	cut *c = arg;
	CK_OK(ac_node_close_peer(c->e.na, &c->e.locb, LONG_MS));
	while (!c->sender_done)
		ac_sleep(1);
	c->e.done = 1;
}

/* Start sending a file of nearly MAX_FILE bytes, step until B's temporary
 * file holds at least min bytes, cut the transfer with fn, and check that
 * B keeps neither a partial file nor the temporary one. */
static void cut_run(ac_coro_fn fn, off_t min)
{
	cut c;
	char there[256];
	int64_t end;
	int i;
	memset(&c, 0, sizeof(c));
	pair_start(&c.e);
	make_file(c.path, sizeof(c.path), c.e.src, "cut", MAX_FILE - 1, 8, 0600, 1500000000);
	CK_OK(ac_spawn(c.e.a, body_cut_sender, &c, NULL, &c.sender));
	end = test_wall_ms() + 30000;
	while (tmp_size(c.e.dest) < min) {
		ac_sched_step(c.e.a);
		ac_sched_step(c.e.b);
		ck_assert_msg(!c.sender_done, "the transfer ended before it could be cut");
		ck_assert_msg(test_wall_ms() < end, "no transfer seen");
	}
	pair_run(&c.e, fn);
	/* Let B notice (the abort frame, or the closed connection). */
	for (i = 0; i < 100000 && tmp_left(c.e.dest); i++) {
		ac_sched_step(c.e.a);
		ac_sched_step(c.e.b);
	}
	if (c.sender_done)
		ck_assert_int_lt(c.rc, 0);
	snprintf(there, sizeof(there), "%s/cut", c.e.dest);
	ck_assert_int_ne(access(there, F_OK), 0);
	pair_free(&c.e);
}

/* At FILE_BEGIN (before the sender knows the answer), then with data in. */
START_TEST(test_sender_terminated)
{
	cut_run(body_cut_terminate, _i ? 1024 * 1024 : 0);
}
END_TEST

START_TEST(test_connection_closed)
{
	cut_run(body_cut_close, _i ? 1024 * 1024 : 0);
}
END_TEST

START_TEST(test_outside_coroutine)
{
	pair e;
	pair_start(&e);
	CK_RC(ac_node_send_file(e.na, &e.locb, "/etc/hostname", NULL, 0, 100, NULL), -EPERM);
	CK_RC(ac_node_del_file(e.na, &e.locb, "x", NULL, 100), -EPERM);
	CK_RC(ac_node_send_file(NULL, &e.locb, "/etc/hostname", NULL, 0, 100, NULL), -EINVAL);
	pair_free(&e);
}
END_TEST

/* Timeouts of 0 and 1 ms. With 0 a call makes its local checks and
 * returns -ETIMEDOUT at once, sending nothing (dis.h); with 1 ms it gives
 * up at its deadline with -ETIMEDOUT unless the answers were there by then
 * (0 or 1), and leaves the whole file or nothing: 200 of them in a row
 * (100 with 1 ms: more than the receiver's 64 incoming transfers) do not
 * keep a later transfer out, and no temporary file stays (pair_free). */
static void body_zero_timeouts(void *arg)
{
	pair *e = arg;
	char path[256], there[256], nosuch[300];
	int i, rc;
	make_file(path, sizeof(path), e->src, "z", 70000, 9, 0600, 1500000000);
	snprintf(there, sizeof(there), "%s/z", e->dest);
	snprintf(nosuch, sizeof(nosuch), "%s.none", path);
	/* 0: local errors first, then -ETIMEDOUT; nothing arrives */
	CK_RC(ac_node_send_file(e->na, &e->locb, nosuch, NULL, 0, 0, NULL), -ENOENT);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, "../x", 0, 0, NULL), -EINVAL);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, NULL, 0, 0, NULL), -ETIMEDOUT);
	CK_OK(ac_sleep(200));
	ck_assert_int_ne(access(there, F_OK), 0);
	CK_RC(ac_node_send_file(e->na, &e->locb, path, NULL, 0, LONG_MS, NULL), 0);
	CK_RC(ac_node_del_file(e->na, &e->locb, "z", NULL, 0), -ETIMEDOUT);
	CK_OK(ac_sleep(200));
	ck_assert_int_eq(access(there, F_OK), 0);
	CK_RC(ac_node_del_file(e->na, &e->locb, "z", NULL, LONG_MS), 0);
	for (i = 0; i < 200; i++) {
		if (i % 10 == 1) /* not the same file there: a transfer each time */
			ac_node_del_file(e->na, &e->locb, "z", NULL, 1);
		rc = ac_node_send_file(e->na, &e->locb, path, NULL, 0, i % 2, NULL);
		ck_assert_msg(rc == -ETIMEDOUT || (i % 2 && (rc == 0 || rc == 1)),
		              "send_file(timeout %d): %s", i % 2, ac_strerror(rc));
	}
	CK_OK(ac_sleep(200));
	rc = ac_node_del_file(e->na, &e->locb, "z", NULL, LONG_MS);
	ck_assert_msg(rc == 0 || rc == -ENOENT, "del_file: %s", ac_strerror(rc));
	CK_RC(ac_node_send_file(e->na, &e->locb, path, NULL, 0, LONG_MS, NULL), 0);
	ck_assert_int_eq(access(there, F_OK), 0);
	e->done = 1;
}

START_TEST(test_zero_timeouts)
{
	pair e;
	pair_start(&e);
	pair_run(&e, body_zero_timeouts);
	pair_free(&e);
}
END_TEST

static Suite *files_suite(void)
{
	Suite *s = suite_create("files");
	TCase *tc = tcase_create("paths");
	tcase_add_test(tc, test_path_ok);
	tcase_add_test(tc, test_path_hostile_dirs);
	tcase_add_test(tc, test_path_hostile_names);
	tcase_add_test(tc, test_path_limits);
	tcase_add_test(tc, test_path_wire_bytes);
	tcase_add_test(tc, test_basename);
	suite_add_tcase(s, tc);
	tc = tcase_create("e2e");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_send_same_exists);
	tcase_add_test(tc, test_send_big_and_limits);
	tcase_add_test(tc, test_send_hostile);
	tcase_add_test(tc, test_del);
	tcase_add_test(tc, test_zero_timeouts);
	tcase_add_loop_test(tc, test_sender_terminated, 0, 6);
	tcase_add_loop_test(tc, test_connection_closed, 0, 2);
	tcase_add_test(tc, test_outside_coroutine);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(files_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
