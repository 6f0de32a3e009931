/* tests/check_sim_fs.c: the per-node in-memory file system of the sim
 * backend through raw io calls — open/read/write/stat with their errors,
 * sparse writes, unlink while open, rename over a file (atomic replace),
 * mkdir and the rename errors, metadata, the disk capacity (-ENOSPC), and
 * files surviving a crash while open handles do not.
 */
#include "config.h"

#include "sim/sim.h"
#include "tests/sim_harness.h"

/* ---- files --------------------------------------------------------------------------- */

START_TEST(test_files)
{
	ac_sim *w = world(51);
	ac_sim_node *a = node(w, "a");
	ac_io *io = ac_sim_node_io(a);
	const struct ac_io_ops *o = io->ops;
	char buf[64];
	ac_stat st;
	int h, h2;
	ck_assert_str_eq(o->temp_dir(io), "/tmp");
	CK_OK(o->file_stat(io, "/tmp", 0, &st));
	ck_assert_uint_eq(st.type, AC_FT_DIR);
	CK_RC(o->file_open(io, "/tmp/x", AC_FO_READ, 0644, &h), -ENOENT);
	CK_OK(o->file_open(io, "/tmp/x", AC_FO_WRITE | AC_FO_CREATE, 0640, &h));
	CK_RC(o->file_open(io, "/tmp/x", AC_FO_WRITE | AC_FO_CREATE | AC_FO_EXCL,
	                   0640, &h2), -EEXIST);
	ck_assert_int_eq(o->file_pwrite(io, h, "hello", 5, 0), 5);
	ck_assert_int_eq(o->file_pwrite(io, h, "!", 1, 9), 1);
	CK_RC(o->file_pread(io, h, buf, sizeof(buf), 0), -EBADF);
	CK_OK(o->file_fstat(io, h, &st));
	ck_assert_int_eq(st.size, 10);
	ck_assert_uint_eq(st.mode, 0640);
	ck_assert_int_ge(st.mtime_ns, AC__SIM_EPOCH_NS);
	CK_OK(o->file_sync(io, h));
	CK_OK(o->file_close(io, h));
	CK_RC(o->file_close(io, h), -EBADF);
	CK_OK(o->file_open(io, "tmp//./x", AC_FO_READ, 0, &h));
	ck_assert_int_eq(o->file_pread(io, h, buf, sizeof(buf), 0), 10);
	ck_assert(memcmp(buf, "hello\0\0\0\0!", 10) == 0);
	ck_assert_int_eq(o->file_pread(io, h, buf, sizeof(buf), 10), 0);
	CK_RC(o->file_pwrite(io, h, "x", 1, 0), -EBADF);
	/* Unlinked while open: still readable through the handle. */
	CK_OK(o->file_unlink(io, "/tmp/x"));
	CK_RC(o->file_stat(io, "/tmp/x", 0, &st), -ENOENT);
	ck_assert_int_eq(o->file_pread(io, h, buf, 5, 0), 5);
	CK_OK(o->file_close(io, h));
	CK_RC(o->file_unlink(io, "/tmp"), -EISDIR);
	CK_RC(o->file_open(io, "/nope/x", AC_FO_WRITE | AC_FO_CREATE, 0, &h),
	      -ENOENT);
	CK_RC(o->file_open(io, "/tmp", AC_FO_WRITE, 0, &h), -EISDIR);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_files_rename_mkdir)
{
	ac_sim *w = world(52);
	ac_sim_node *a = node(w, "a");
	ac_io *io = ac_sim_node_io(a);
	const struct ac_io_ops *o = io->ops;
	char buf[8];
	ac_stat st;
	int h;
	CK_OK(o->file_mkdir(io, "/d", 0755));
	CK_RC(o->file_mkdir(io, "/d", 0755), -EEXIST);
	CK_OK(o->file_mkdir(io, "/d/e", 0700));
	CK_OK(o->file_open(io, "/d/f.tmp", AC_FO_WRITE | AC_FO_CREATE, 0600, &h));
	ck_assert_int_eq(o->file_pwrite(io, h, "new", 3, 0), 3);
	CK_OK(o->file_close(io, h));
	CK_OK(o->file_open(io, "/d/f", AC_FO_WRITE | AC_FO_CREATE, 0600, &h));
	ck_assert_int_eq(o->file_pwrite(io, h, "old", 3, 0), 3);
	CK_OK(o->file_close(io, h));
	/* temp file + rename replaces the old file atomically. */
	CK_OK(o->file_rename(io, "/d/f.tmp", "/d/f"));
	CK_RC(o->file_stat(io, "/d/f.tmp", 0, &st), -ENOENT);
	CK_OK(o->file_open(io, "/d/f", AC_FO_READ, 0, &h));
	ck_assert_int_eq(o->file_pread(io, h, buf, sizeof(buf), 0), 3);
	ck_assert(memcmp(buf, "new", 3) == 0);
	CK_OK(o->file_close(io, h));
	CK_RC(o->file_rename(io, "/d", "/d/e/x"), -EINVAL);
	CK_RC(o->file_rename(io, "/d/f", "/d/e"), -EISDIR);
	CK_RC(o->file_rename(io, "/tmp", "/d"), -ENOTEMPTY);
	CK_RC(o->file_rename(io, "/d/e", "/d/f"), -ENOTDIR);
	CK_RC(o->file_rename(io, "/missing", "/d/g"), -ENOENT);
	CK_OK(o->file_rename(io, "/d/e", "/e2"));
	CK_OK(o->file_set_meta(io, "/e2", 0711, 12345));
	CK_OK(o->file_stat(io, "/e2", 1, &st));
	ck_assert_uint_eq(st.mode, 0711);
	ck_assert_int_eq(st.mtime_ns, 12345);
	CK_RC(o->file_stat(io, "/d/f/x", 0, &st), -ENOTDIR);
	ac_sim_free(w);
}
END_TEST

START_TEST(test_files_survive_crash)
{
	ac_sim_opts opts;
	ac_sim *w;
	ac_sim_node *a;
	ac_io *io;
	char buf[4];
	int h;
	ac_sim_opts_init(&opts);
	opts.disk_bytes_max = 100;
	CK_OK(ac_sim_new(&opts, &w));
	a = node(w, "a");
	io = ac_sim_node_io(a);
	CK_OK(io->ops->file_open(io, "/f", AC_FO_WRITE | AC_FO_CREATE, 0600, &h));
	ck_assert_int_eq(io->ops->file_pwrite(io, h, "keep", 4, 0), 4);
	CK_RC(io->ops->file_pwrite(io, h, buf, 1, 100), -ENOSPC);
	CK_OK(ac_sim_crash(a));
	CK_OK(ac_sim_restart(a));
	/* The open handle vanished; the file did not. */
	CK_RC(io->ops->file_pread(io, h, buf, 4, 0), -EBADF);
	CK_OK(io->ops->file_open(io, "/f", AC_FO_READ, 0, &h));
	ck_assert_int_eq(io->ops->file_pread(io, h, buf, 4, 0), 4);
	ck_assert(memcmp(buf, "keep", 4) == 0);
	ac_sim_free(w);
}
END_TEST

/* ---- the suite ---------------------------------------------------------------------- */

int main(void)
{
	Suite *s = suite_create("sim_fs");
	TCase *tc = tcase_create("fs");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_files);
	tcase_add_test(tc, test_files_rename_mkdir);
	tcase_add_test(tc, test_files_survive_crash);
	suite_add_tcase(s, tc);
	return sim_suite_main(s);
}
