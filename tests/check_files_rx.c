/* tests/check_files_rx.c: the receiving end of file transfers (net/files_recv.c)
 * fed frame bodies directly, as a hostile or broken peer could send them.
 *
 * net/files_recv.c is compiled into this program, with stand-ins for the
 * few internal calls it makes into the rest of the library (ac__reply
 * records the reply). A fake node with a real epoll backend and a fresh
 * dest_path receives from two fake peers.
 * Covered: a whole transfer (temporary file, then the final name with mode
 * and mtime), chunks out of order or past the declared size, FILE_END
 * before the end, transfer ids of another peer or unknown, reused ids,
 * bodies that do not decode (the connection closes), names with NUL or too
 * long, hostile dirs, modes with set-id bits or out of range, sizes over
 * max_file_size and over INT64_MAX, symlinks and directories in the way, a
 * file appearing before FILE_END without overwrite, the limit on open
 * transfers, dropping a peer's transfers, and DEL_FILE.
 */
#include "tests/testutil.h"

#include "net/files.h"
#include "net/net.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- stand-ins for the library's internals ------------------------------------- */

__thread ac_sched *ac__tls_sched;

void ac__assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}

/* The last reply: its type, id and body. */
static uint8_t rx_type;
static uint32_t rx_id;
static uint8_t rx_body[4096];
static size_t rx_len;
static int rx_replies;

int ac__reply(ac_peer *p, uint8_t type, uint32_t id, const char *fmt, ...)
{
	va_list ap;
	ac_msg *m;
	(void)p;
	va_start(ap, fmt);
	m = ac_msg_vpack(fmt, ap);
	va_end(ap);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_le(m->m_len, sizeof(rx_body));
	memcpy(rx_body, m->m_data, m->m_len);
	rx_len = m->m_len;
	rx_type = type;
	rx_id = id;
	rx_replies++;
	ac_msg_free(m);
	return 0;
}

/* ---- a fake node and two peers ------------------------------------------------ */

#define RX_MAX (1024 * 1024)
#define RX_MTIME ((int64_t)1600000000 * 1000000000 + 987654321)

static ac_sched *rx_sched;
static ac_node rx_node;
static ac_peer rx_p, rx_q;
static char rx_dest[64];

static void rx_setup(void)
{
	CK_OK(ac_sched_new(NULL, &rx_sched));
	snprintf(rx_dest, sizeof(rx_dest), "/tmp/acf-rx-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(rx_dest));
	memset(&rx_node, 0, sizeof(rx_node));
	rx_node.n_sched = rx_sched;
	rx_node.n_io = ac_sched_io(rx_sched);
	rx_node.n_dest = rx_dest;
	rx_node.n_max_file = RX_MAX;
	rx_node.n_lost_ns = (int64_t)10 * 1000000000;
	memset(&rx_p, 0, sizeof(rx_p));
	memset(&rx_q, 0, sizeof(rx_q));
	rx_p.p_node = &rx_node;
	rx_q.p_node = &rx_node;
	snprintf(rx_p.p_name, sizeof(rx_p.p_name), "p");
	snprintf(rx_q.p_name, sizeof(rx_q.p_name), "q");
	rx_replies = 0;
}

static int rx_count_tmp(const char *dir);

static void rx_teardown(void)
{
	char cmd[256];
	int left;
	ac__file_drop_peer(&rx_p);
	ac__file_drop_peer(&rx_q);
	ck_assert_ptr_null(rx_node.n_xfers);
	left = rx_count_tmp(rx_dest);
	ac_sched_free(rx_sched);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s.outside'", rx_dest, rx_dest);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(left, 0);
}

/* Temporary files under dir (recursively). */
static int rx_count_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char sub[1024];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (strstr(de->d_name, AC__FILE_TMP_MARK))
			n++;
		else if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			n += rx_count_tmp(sub);
	}
	closedir(d);
	return n;
}

typedef int (*rx_handler)(ac_peer *p, uint32_t id, const uint8_t *body, size_t len);

/* Pack a body with fmt and hand it to h as request id; returns h's result
 * (negative: the connection would close). */
static int rx_call(rx_handler h, ac_peer *p, uint32_t id, const char *fmt, ...)
{
	va_list ap;
	ac_msg *m;
	int rc;
	va_start(ap, fmt);
	m = ac_msg_vpack(fmt, ap);
	va_end(ap);
	ck_assert_ptr_nonnull(m);
	rc = h(p, id, m->m_data, m->m_len);
	ac_msg_free(m);
	return rc;
}

/* The rc of the last reply, which must be of type and id. */
static int64_t rx_rc(uint8_t type, uint32_t id)
{
	int64_t rc;
	uint64_t x, mode;
	int64_t size, mtime;
	ck_assert_int_gt(rx_replies, 0);
	ck_assert_uint_eq(rx_type, type);
	ck_assert_uint_eq(rx_id, id);
	if (type == AC_WT_FILE_BEGIN)
		CK_OK(ac_unpack(rx_body, rx_len, "[i u i i u]", &rc, &x, &size, &mtime, &mode));
	else
		CK_OK(ac_unpack(rx_body, rx_len, "[i]", &rc));
	return rc;
}

/* FILE_BEGIN of name into dir (NULL: nil) as request id: the reply's rc. */
static int64_t rx_begin(ac_peer *p, uint32_t id, const char *name, const char *dir,
                        uint64_t size, uint64_t mode, int overwrite)
{
	if (dir)
		CK_OK(rx_call(ac__file_begin, p, id, "[s s u i u b]", name, dir, size, RX_MTIME,
		              mode, overwrite));
	else
		CK_OK(rx_call(ac__file_begin, p, id, "[s n u i u b]", name, size, RX_MTIME, mode,
		              overwrite));
	return rx_rc(AC_WT_FILE_BEGIN, id);
}

static int64_t rx_data(ac_peer *p, uint64_t xfer, uint64_t off, const void *b, size_t len)
{
	CK_OK(rx_call(ac__file_data, p, 77, "[u u S]", xfer, off, b, len));
	return rx_rc(AC_WT_FILE_DATA, 77);
}

static int64_t rx_end(ac_peer *p, uint64_t xfer)
{
	CK_OK(rx_call(ac__file_end, p, 78, "[u]", xfer));
	return rx_rc(AC_WT_FILE_END, 78);
}

static int64_t rx_del(ac_peer *p, const char *name, const char *dir)
{
	if (dir)
		CK_OK(rx_call(ac__file_del, p, 79, "[s s]", name, dir));
	else
		CK_OK(rx_call(ac__file_del, p, 79, "[s n]", name));
	return rx_rc(AC_WT_DEL_FILE, 79);
}

static int rx_exists(const char *rel)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", rx_dest, rel);
	return lstat(path, &st) == 0;
}

/* ---- tests ---------------------------------------------------------------------------- */

START_TEST(test_whole_transfer)
{
	static const char data[] = "hello, world";
	char path[512], got[64];
	struct stat st;
	FILE *f;
	ck_assert_int_eq(rx_begin(&rx_p, 5, "f.txt", "a/b", 12, 04751, 0), 0);
	/* The transfer's id is the request id, echoed in the reply. */
	{
		int64_t rc, size, mtime;
		uint64_t x, mode;
		CK_OK(ac_unpack(rx_body, rx_len, "[i u i i u]", &rc, &x, &size, &mtime, &mode));
		ck_assert_uint_eq(x, 5);
		ck_assert_int_eq(size, 12);
		ck_assert_int_eq(mtime, RX_MTIME);
		ck_assert_uint_eq(mode, 0751); /* no set-id bits from a peer */
	}
	ck_assert_int_eq(rx_count_tmp(rx_dest), 1);
	ck_assert(!rx_exists("a/b/f.txt"));
	ck_assert_int_eq(rx_data(&rx_p, 5, 0, data, 5), 0);
	ck_assert_int_eq(rx_data(&rx_p, 5, 5, data + 5, 0), 0);
	ck_assert_int_eq(rx_data(&rx_p, 5, 5, data + 5, 7), 0);
	ck_assert_int_eq(rx_end(&rx_p, 5), 0);
	ck_assert_int_eq(rx_count_tmp(rx_dest), 0);
	snprintf(path, sizeof(path), "%s/a/b/f.txt", rx_dest);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0751);
	ck_assert_int_eq((int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec, RX_MTIME);
	snprintf(path, sizeof(path), "%s/a", rx_dest);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/a/b/f.txt", rx_dest);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(got, 1, sizeof(got), f), 12);
	fclose(f);
	ck_assert_int_eq(memcmp(got, data, 12), 0);
	/* The same again: 1. Different without overwrite: -EEXIST. */
	ck_assert_int_eq(rx_begin(&rx_p, 6, "f.txt", "a/b/", 12, 0751, 0), 1);
	ck_assert_int_eq(rx_begin(&rx_p, 7, "f.txt", "a/b", 13, 0751, 0), -EEXIST);
	ck_assert_int_eq(rx_begin(&rx_p, 8, "f.txt", "a/b", 12, 0700, 0), -EEXIST);
	ck_assert_int_eq(rx_count_tmp(rx_dest), 0);
}
END_TEST

START_TEST(test_bad_chunks)
{
	static const char data[16] = "0123456789abcdef";
	/* Out of order: the transfer fails at once, and stays failed. */
	ck_assert_int_eq(rx_begin(&rx_p, 1, "a", NULL, 16, 0600, 0), 0);
	ck_assert_int_eq(rx_data(&rx_p, 1, 4, data, 4), -EPROTO);
	ck_assert_int_eq(rx_count_tmp(rx_dest), 0);
	ck_assert_int_eq(rx_data(&rx_p, 1, 0, data, 4), -EPROTO);
	ck_assert_int_eq(rx_end(&rx_p, 1), -EPROTO);
	ck_assert(!rx_exists("a"));
	/* Past the declared size. */
	ck_assert_int_eq(rx_begin(&rx_p, 2, "b", NULL, 8, 0600, 0), 0);
	ck_assert_int_eq(rx_data(&rx_p, 2, 0, data, 4), 0);
	ck_assert_int_eq(rx_data(&rx_p, 2, 4, data, 5), -EFBIG);
	ck_assert_int_eq(rx_end(&rx_p, 2), -EFBIG);
	ck_assert(!rx_exists("b"));
	/* Ended early: the sender gave up. */
	ck_assert_int_eq(rx_begin(&rx_p, 3, "c", NULL, 8, 0600, 0), 0);
	ck_assert_int_eq(rx_data(&rx_p, 3, 0, data, 4), 0);
	ck_assert_int_eq(rx_end(&rx_p, 3), -ECANCELED);
	ck_assert(!rx_exists("c"));
	/* Offsets near 2^64 do not wrap. */
	ck_assert_int_eq(rx_begin(&rx_p, 4, "d", NULL, 8, 0600, 0), 0);
	ck_assert_int_eq(rx_data(&rx_p, 4, UINT64_MAX, data, 4), -EPROTO);
	ck_assert_int_eq(rx_end(&rx_p, 4), -EPROTO);
	ck_assert_int_eq(rx_count_tmp(rx_dest), 0);
	/* A transfer ended is gone. */
	ck_assert_int_eq(rx_data(&rx_p, 4, 0, data, 4), -ESTALE);
	ck_assert_int_eq(rx_end(&rx_p, 4), -ESTALE);
}
END_TEST

START_TEST(test_foreign_ids)
{
	static const char data[4] = "abcd";
	ck_assert_int_eq(rx_begin(&rx_p, 9, "mine", NULL, 4, 0600, 0), 0);
	/* Another peer cannot touch it. */
	ck_assert_int_eq(rx_data(&rx_q, 9, 0, data, 4), -ESTALE);
	ck_assert_int_eq(rx_end(&rx_q, 9), -ESTALE);
	ck_assert_int_eq(rx_data(&rx_p, 12345, 0, data, 4), -ESTALE);
	ck_assert_int_eq(rx_data(&rx_p, (uint64_t)1 << 40 | 9, 0, data, 4), -ESTALE);
	/* The same id again from its peer is refused; from another, fine. */
	ck_assert_int_eq(rx_begin(&rx_p, 9, "other", NULL, 4, 0600, 0), -EBUSY);
	ck_assert_int_eq(rx_begin(&rx_q, 9, "other", NULL, 4, 0600, 0), 0);
	ck_assert_int_eq(rx_data(&rx_p, 9, 0, data, 4), 0);
	ck_assert_int_eq(rx_end(&rx_p, 9), 0);
	ck_assert(rx_exists("mine"));
	ck_assert_int_eq(rx_count_tmp(rx_dest), 1); /* q's */
}
END_TEST

START_TEST(test_bad_bodies)
{
	/* What does not decode closes the connection (negative result). */
	ck_assert_int_lt(rx_call(ac__file_begin, &rx_p, 1, "[s]", "x"), 0);
	ck_assert_int_lt(rx_call(ac__file_begin, &rx_p, 1, "[s u u i u b]", "x", (uint64_t)1,
	                         (uint64_t)1, (int64_t)0, (uint64_t)0600, 0), 0);
	ck_assert_int_lt(rx_call(ac__file_begin, &rx_p, 1, "[s n u i u i]", "x", (uint64_t)1,
	                         (int64_t)0, (uint64_t)0600, (int64_t)1), 0);
	ck_assert_int_lt(rx_call(ac__file_begin, &rx_p, 1, "[s n i i u b]", "x", (int64_t)-1,
	                         (int64_t)0, (uint64_t)0600, 0), 0);
	ck_assert_int_lt(rx_call(ac__file_begin, &rx_p, 1, "[s n u i u b n]", "x", (uint64_t)1,
	                         (int64_t)0, (uint64_t)0600, 0), 0);
	/* A FILE_BEGIN that is not a request: nobody would learn its id. */
	ck_assert_int_lt(rx_call(ac__file_begin, &rx_p, 0, "[s n u i u b]", "x", (uint64_t)1,
	                         (int64_t)0, (uint64_t)0600, 0), 0);
	ck_assert_int_lt(rx_call(ac__file_data, &rx_p, 1, "[u u]", (uint64_t)1, (uint64_t)0), 0);
	ck_assert_int_lt(rx_call(ac__file_data, &rx_p, 1, "[u i S]", (uint64_t)1, (int64_t)-1,
	                         "x", (size_t)1), 0);
	ck_assert_int_lt(rx_call(ac__file_end, &rx_p, 1, "[i]", (int64_t)-1), 0);
	ck_assert_int_lt(rx_call(ac__file_end, &rx_p, 1, "[u u]", (uint64_t)1, (uint64_t)1), 0);
	ck_assert_int_lt(rx_call(ac__file_del, &rx_p, 1, "[s]", "x"), 0);
	ck_assert_int_lt(rx_call(ac__file_del, &rx_p, 1, "[s u]", "x", (uint64_t)1), 0);
	ck_assert_int_lt(ac__file_begin(&rx_p, 1, (const uint8_t *)"\x96", 1), 0);
	ck_assert_int_eq(rx_replies, 0);
	ck_assert_ptr_null(rx_node.n_xfers);
}
END_TEST

START_TEST(test_hostile_names)
{
	char name[AC_WIRE_NAME_MAX + 2], dir[AC_WIRE_PATH_MAX + 2];
	ck_assert_int_eq(rx_begin(&rx_p, 1, "..", NULL, 1, 0600, 0), -EINVAL);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", "..", 1, 0600, 0), -EINVAL);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", "../x", 1, 0600, 0), -EINVAL);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", "a/../../x", 1, 0600, 0), -EINVAL);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", "/tmp", 1, 0600, 0), -EINVAL);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", "a//b", 1, 0600, 0), -EINVAL);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "a/b", NULL, 1, 0600, 0), -EINVAL);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "", NULL, 1, 0600, 0), -EINVAL);
	ck_assert_int_eq(rx_begin(&rx_p, 1, ".x" AC__FILE_TMP_MARK "1-00", NULL, 1, 0600, 0),
	                 -EINVAL);
	/* NUL hidden in wire strings (bin). */
	CK_OK(rx_call(ac__file_begin, &rx_p, 1, "[S n u i u b]", "ab\0c", (size_t)4,
	              (uint64_t)1, (int64_t)0, (uint64_t)0600, 0));
	ck_assert_int_eq(rx_rc(AC_WT_FILE_BEGIN, 1), -EINVAL);
	CK_OK(rx_call(ac__file_begin, &rx_p, 1, "[s S u i u b]", "x", "..\0/x", (size_t)5,
	              (uint64_t)1, (int64_t)0, (uint64_t)0600, 0));
	ck_assert_int_eq(rx_rc(AC_WT_FILE_BEGIN, 1), -EINVAL);
	/* Too long: refused with a reply, the connection stays. */
	memset(name, 'n', sizeof(name));
	name[AC_WIRE_NAME_MAX + 1] = '\0';
	ck_assert_int_eq(rx_begin(&rx_p, 1, name, NULL, 1, 0600, 0), -EINVAL);
	memset(dir, 'd', sizeof(dir));
	dir[AC_WIRE_PATH_MAX + 1] = '\0';
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", dir, 1, 0600, 0), -EINVAL);
	ck_assert_int_eq(rx_del(&rx_p, "x", "../.."), -EINVAL);
	ck_assert_int_eq(rx_del(&rx_p, "../x", NULL), -EINVAL);
	ck_assert_ptr_null(rx_node.n_xfers);
	ck_assert(!rx_exists("x"));
}
END_TEST

START_TEST(test_sizes_and_modes)
{
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", NULL, RX_MAX + 1, 0600, 0), -EFBIG);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", NULL, (uint64_t)INT64_MAX + 1, 0600, 0),
	                 -EFBIG);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", NULL, UINT64_MAX, 0600, 0), -EFBIG);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", NULL, 1, 010000, 0), -EINVAL);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", NULL, 1, UINT64_MAX, 0), -EINVAL);
	ck_assert_ptr_null(rx_node.n_xfers);
	/* No limit: any size up to INT64_MAX is accepted (the data decides). */
	rx_node.n_max_file = 0;
	ck_assert_int_eq(rx_begin(&rx_p, 2, "x", NULL, INT64_MAX, 0600, 0), 0);
	ck_assert_int_eq(rx_end(&rx_p, 2), -ECANCELED);
	ck_assert_int_eq(rx_begin(&rx_p, 3, "x", NULL, RX_MAX, 0600, 0), 0);
	ck_assert_int_eq(rx_end(&rx_p, 3), -ECANCELED);
	/* Exactly the limit. */
	rx_node.n_max_file = RX_MAX;
	ck_assert_int_eq(rx_begin(&rx_p, 4, "x", NULL, RX_MAX, 0600, 0), 0);
	ck_assert_int_eq(rx_end(&rx_p, 4), -ECANCELED);
	ck_assert(!rx_exists("x"));
}
END_TEST

START_TEST(test_in_the_way)
{
	char path[1100], target[512];
	snprintf(target, sizeof(target), "%s.outside", rx_dest);
	ck_assert_int_eq(mkdir(target, 0700), 0);
	snprintf(path, sizeof(path), "%s/link", rx_dest);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", "link", 1, 0600, 1), -EINVAL);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", "link/sub", 1, 0600, 1), -EINVAL);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "link", NULL, 1, 0600, 1), -EINVAL);
	ck_assert_int_eq(rx_del(&rx_p, "x", "link"), -EINVAL);
	ck_assert_int_eq(rx_del(&rx_p, "link", NULL), -EINVAL);
	snprintf(path, sizeof(path), "%s/x", target);
	ck_assert_int_ne(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/sub", target);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(rmdir(target), 0);
	/* A directory or a plain file in the way. */
	snprintf(path, sizeof(path), "%s/d", rx_dest);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "d", NULL, 1, 0600, 1), -EISDIR);
	ck_assert_int_eq(rx_del(&rx_p, "d", NULL), -EISDIR);
	snprintf(path, sizeof(path), "%s/d/f", rx_dest);
	ck_assert_int_eq(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", "d/f", 1, 0600, 1), -ENOTDIR);
	ck_assert_ptr_null(rx_node.n_xfers);
}
END_TEST

START_TEST(test_appeared_meanwhile)
{
	char path[512];
	struct stat st;
	ck_assert_int_eq(rx_begin(&rx_p, 1, "x", NULL, 1, 0600, 0), 0);
	ck_assert_int_eq(rx_data(&rx_p, 1, 0, "z", 1), 0);
	snprintf(path, sizeof(path), "%s/x", rx_dest);
	ck_assert_int_eq(close(open(path, O_CREAT | O_WRONLY, 0644)), 0);
	ck_assert_int_eq(rx_end(&rx_p, 1), -EEXIST);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	/* With overwrite it is replaced. */
	ck_assert_int_eq(rx_begin(&rx_p, 2, "x", NULL, 1, 0600, 1), 0);
	ck_assert_int_eq(rx_data(&rx_p, 2, 0, "z", 1), 0);
	ck_assert_int_eq(rx_end(&rx_p, 2), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 1);
}
END_TEST

START_TEST(test_limit_and_drop)
{
	char name[16];
	uint32_t i;
	for (i = 1; i <= 64; i++) {
		snprintf(name, sizeof(name), "f%u", (unsigned)i);
		ck_assert_int_eq(rx_begin(i % 2 ? &rx_p : &rx_q, i, name, NULL, 1, 0600, 0), 0);
	}
	ck_assert_int_eq(rx_count_tmp(rx_dest), 64);
	ck_assert_int_eq(rx_begin(&rx_p, 100, "g", NULL, 1, 0600, 0), -EBUSY);
	/* The connection of p closes: its transfers and their files go. */
	ac__file_drop_peer(&rx_p);
	ck_assert_int_eq(rx_count_tmp(rx_dest), 32);
	ck_assert_int_eq(rx_data(&rx_p, 1, 0, "z", 1), -ESTALE);
	ck_assert_int_eq(rx_data(&rx_q, 2, 0, "z", 1), 0);
	ck_assert_int_eq(rx_end(&rx_q, 2), 0);
	ck_assert(rx_exists("f2"));
	ck_assert_int_eq(rx_begin(&rx_p, 100, "g", NULL, 1, 0600, 0), 0);
	ac__file_drop_peer(&rx_q);
	ck_assert_int_eq(rx_count_tmp(rx_dest), 1);
}
END_TEST

START_TEST(test_del)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/x", rx_dest);
	ck_assert_int_eq(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
	ck_assert_int_eq(rx_del(&rx_p, "x", NULL), 0);
	ck_assert(!rx_exists("x"));
	ck_assert_int_eq(rx_del(&rx_p, "x", NULL), -ENOENT);
	ck_assert_int_eq(rx_del(&rx_p, "x", ""), -ENOENT);
	ck_assert_int_eq(rx_del(&rx_p, "x", "no/such"), -ENOENT);
	ck_assert(!rx_exists("no")); /* del creates nothing */
}
END_TEST

static Suite *files_rx_suite(void)
{
	Suite *s = suite_create("files_rx");
	TCase *tc = tcase_create("rx");
	tcase_add_checked_fixture(tc, rx_setup, rx_teardown);
	tcase_add_test(tc, test_whole_transfer);
	tcase_add_test(tc, test_bad_chunks);
	tcase_add_test(tc, test_foreign_ids);
	tcase_add_test(tc, test_bad_bodies);
	tcase_add_test(tc, test_hostile_names);
	tcase_add_test(tc, test_sizes_and_modes);
	tcase_add_test(tc, test_in_the_way);
	tcase_add_test(tc, test_appeared_meanwhile);
	tcase_add_test(tc, test_limit_and_drop);
	tcase_add_test(tc, test_del);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(files_rx_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
