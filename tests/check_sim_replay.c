/* tests/check_sim_replay.c: simulated nodes' records replayed alone.
 *
 * acsim records the mixed scenario under the crashes profile (seed 1: two
 * nodes crash and restart); every node incarnation's record then replays
 * on its own (`acsim --replay`) with no divergence, the same log lines as
 * that incarnation had in the live run, and the same record line (hash);
 * a one-byte change of a received handshake nonce makes the replay diverge
 * at the node's next send on that connection (the event named, and acpcap
 * names its pcap frame); a byte corrupted in the file is reported as
 * "corrupt record at event E" for the event it is in; --until stops.
 *
 * The tools run as child processes: ACSIM and ACPCAP name them (default
 * ./tools/acsim and ./tools/acpcap, the build directory being the current
 * one under make check).
 */
#include "config.h"

#include <zlib.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/crc32.h"
#include "io/rec_lz.h"
#include "io/record.h"
#include "tests/testutil.h"

static char dir[256];
static char recdir[300];
static char seed[16];

static const char *tool(const char *env, const char *def)
{
	const char *v = getenv(env);
	return v && *v ? v : def;
}

/* Run argv with stdout and stderr into files (NULL: /dev/null); its exit
 * status (-1 when it did not exit). */
static int run(char *const argv[], const char *out, const char *err)
{
	int st;
	pid_t pid;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fo = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The whole file, NUL-terminated (caller frees). */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert(buf != NULL);
	ck_assert_int_eq(fread(buf, 1, (size_t)n, f), n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

/* 1 when the live run restarted a node (it has a second incarnation). */
static int live_restarted(void)
{
	DIR *d = opendir(recdir);
	struct dirent *e;
	int found = 0;
	while (d && (e = readdir(d)) != NULL)
		found |= strstr(e->d_name, ".2.acrec") != NULL;
	if (d)
		closedir(d);
	return found;
}

/* The live run, once for the suite, of the first seed from 1 on where a
 * node crashed and restarted (seed 1 today): DIR/live.log has its logs. */
static void setup(void)
{
	char log[300];
	int k;
	snprintf(dir, sizeof(dir), "check_sim_replay.%d.tmp", (int)getpid());
	mkdir(dir, 0755);
	snprintf(log, sizeof(log), "%s/live.log", dir);
	for (k = 1; k <= 20; k++) {
		char *argv[] = {(char *)tool("ACSIM", "./tools/acsim"), "--scenario", "mixed",
		                "--seed", seed, "--profile", "crashes", "--record", dir,
		                "--logs", NULL};
		snprintf(seed, sizeof(seed), "%d", k);
		snprintf(recdir, sizeof(recdir), "%s/seed-%d", dir, k);
		ck_assert_int_eq(run(argv, NULL, log), 0);
		if (live_restarted())
			return;
	}
	ck_abort_msg("no seed of 1..20 restarts a node");
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The lines of text from the live log of node NODE's incarnation inc
 * (those between its (inc-1)th and inc-th "record" lines, inclusive), as
 * one string (caller frees). */
static char *live_lines(const char *node, unsigned inc)
{
	char path[300], tag[96], line[4096];
	size_t cap = 1 << 20, len = 0;
	char *out = malloc(cap);
	unsigned seen = 1;
	FILE *f;
	snprintf(path, sizeof(path), "%s/live.log", dir);
	snprintf(tag, sizeof(tag), "log INFO [%s] record ", node);
	f = fopen(path, "r");
	ck_assert(f != NULL && out != NULL);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f) && seen <= inc) {
		char pre[80];
		snprintf(pre, sizeof(pre), "[%s] ", node);
		if (strncmp(line, "log ", 4) != 0 || !strstr(line, pre))
			continue;
		if (seen == inc) {
			size_t n = strlen(line);
			if (len + n + 1 > cap) {
				cap *= 2;
				out = realloc(out, cap);
				ck_assert(out != NULL);
			}
			memcpy(out + len, line, n + 1);
			len += n;
		}
		if (!strncmp(line, tag, strlen(tag)))
			seen++;
	}
	fclose(f);
	return out;
}

/* The lines of a replay's standard error that are node logs. */
static char *log_lines(const char *path)
{
	char *all = slurp(path, NULL), *out = malloc(strlen(all) + 1), *p = all, *q;
	size_t len = 0;
	ck_assert(out != NULL);
	out[0] = '\0';
	while (*p) {
		q = strchr(p, '\n');
		q = q ? q + 1 : p + strlen(p);
		if (!strncmp(p, "log ", 4)) {
			memcpy(out + len, p, (size_t)(q - p));
			len += (size_t)(q - p);
			out[len] = '\0';
		}
		p = q;
	}
	free(all);
	return out;
}

START_TEST(test_every_incarnation_replays)
{
	DIR *d = opendir(recdir);
	struct dirent *e;
	int records = 0, restarted = 0;
	ck_assert(d != NULL);
	while ((e = readdir(d)) != NULL) {
		char node[64], path[560], err[600], want[800];
		unsigned inc;
		char *live, *rep;
		ac_rec_reader *r;
		ac_rec_event ev;
		size_t n = strlen(e->d_name);
		if (n < 7 || strcmp(e->d_name + n - 6, ".acrec") != 0)
			continue;
		ck_assert_int_eq(sscanf(e->d_name, "%63[^.].%u.acrec", node, &inc), 2);
		ck_assert_uint_lt(strlen(recdir) + n, 400);
		snprintf(path, sizeof(path), "%s/%.255s", recdir, e->d_name);
		snprintf(err, sizeof(err), "%s.err", path);
		char *argv[] = {(char *)tool("ACSIM", "./tools/acsim"), "--replay", path, NULL};
		ck_assert_msg(run(argv, NULL, err) == 0, "%s does not replay", path);
		/* The same log lines, the record line last, with the record's hash. */
		live = live_lines(node, inc);
		rep = log_lines(err);
		ck_assert_msg(strcmp(live, rep) == 0, "%s: live log\n%s\nreplay log\n%s", path,
		              live, rep);
		CK_OK(ac__rec_open(path, &r, NULL, 0));
		while (ac__rec_next(r, &ev) == 1)
			;
		snprintf(want, sizeof(want), "log INFO [%s] record %s: %llu events, hash %016llx\n",
		         node, path, (unsigned long long)ac__rec_count(r),
		         (unsigned long long)ac__rec_hash(r));
		ac__rec_close(r);
		ck_assert_msg(strstr(rep, want) != NULL && strlen(rep) >= strlen(want) &&
		              !strcmp(rep + strlen(rep) - strlen(want), want),
		              "want \"%s\" last in:\n%s", want, rep);
		free(live);
		free(rep);
		records++;
		restarted += inc > 1;
	}
	closedir(d);
	/* Three nodes, one of them at least restarted. */
	ck_assert_int_ge(records, 4);
	ck_assert_int_ge(restarted, 1);
}
END_TEST

/* Copy from to `to`, with one byte of event e's received bytes flipped
 * (at offset k of data2). */
static void rewrite(const char *from, const char *to, uint64_t e, size_t k)
{
	ac_rec_reader *r;
	ac_rec_writer *w;
	ac_rec_event ev;
	uint8_t *buf = NULL;
	int rc;
	CK_OK(ac__rec_open(from, &r, NULL, 0));
	CK_OK(ac__recw_open(to, ac__rec_header(r), NULL, NULL, &w));
	while ((rc = ac__rec_next(r, &ev)) == 1) {
		if (ev.seq == e) {
			ck_assert_uint_lt(k, ev.dlen2);
			buf = malloc(ev.dlen2);
			ck_assert(buf != NULL);
			memcpy(buf, ev.data2, ev.dlen2);
			buf[k] ^= 0x01;
			ev.data2 = buf;
		}
		CK_OK(ac__recw_event(w, &ev));
	}
	ck_assert_int_eq(rc, 0);
	CK_OK(ac__recw_end(w));
	ac__recw_free(w);
	ac__rec_close(r);
	free(buf);
}

/* The first event of path whose received bytes hold a HELLO's nonce (the
 * body starts [magic "ACO1", version 1, bin 32 ...]: *off is the offset of
 * the nonce's first byte in data2), and the first send on the same handle
 * after it. */
static void find_nonce(const char *path, uint64_t *recv_ev, size_t *off, uint64_t *send_ev)
{
	static const uint8_t pat[] = {0xce, 'A', 'C', 'O', '1', 0x01, 0xc4, 0x20};
	ac_rec_reader *r;
	ac_rec_event ev;
	*recv_ev = *send_ev = UINT64_MAX;
	CK_OK(ac__rec_open(path, &r, NULL, 0));
	while (ac__rec_next(r, &ev) == 1) {
		size_t i;
		if (*recv_ev == UINT64_MAX && ev.dlen2 > sizeof(pat) &&
		    (ev.kind == AC_REC_COMPLETE || ev.kind == AC_REC_SUBMIT)) {
			for (i = 0; i + sizeof(pat) + 32 <= ev.dlen2; i++)
				if (!memcmp(ev.data2 + i, pat, sizeof(pat)))
					break;
			if (i + sizeof(pat) + 32 <= ev.dlen2) {
				*recv_ev = ev.seq;
				*off = i + sizeof(pat) + 5;
			}
			continue;
		}
		if (*recv_ev != UINT64_MAX && ev.kind == AC_REC_SUBMIT && ev.call == AC_OP_SEND) {
			*send_ev = ev.seq;
			break;
		}
	}
	ac__rec_close(r);
	ck_assert_uint_ne(*recv_ev, UINT64_MAX);
	ck_assert_uint_ne(*send_ev, UINT64_MAX);
}

START_TEST(test_nonce_changed_diverges)
{
	char path[400], bad[400], err[400], out[400], want[128], ev[32];
	uint64_t recv_ev, send_ev;
	size_t off = 0;
	char *text;
	snprintf(path, sizeof(path), "%s/node0.1.acrec", recdir);
	snprintf(bad, sizeof(bad), "%s/nonce.acrec", dir);
	snprintf(err, sizeof(err), "%s/nonce.err", dir);
	snprintf(out, sizeof(out), "%s/nonce.out", dir);
	find_nonce(path, &recv_ev, &off, &send_ev);
	rewrite(path, bad, recv_ev, off);
	char *argv[] = {(char *)tool("ACSIM", "./tools/acsim"), "--replay", bad, NULL};
	ck_assert_int_eq(run(argv, NULL, err), 3);
	text = slurp(err, NULL);
	snprintf(want, sizeof(want), "replay diverged at event %llu (op ",
	         (unsigned long long)send_ev);
	ck_assert_msg(strstr(text, want) != NULL, "want \"%s\" (nonce received at event %llu) "
	              "in:\n%s", want, (unsigned long long)recv_ev, text);
	ck_assert(strstr(text, "send") != NULL);
	/* The report names the pcap frame of that send, as acpcap frame does. */
	const char *pf = strstr(text, "\n  pcap frame: ");
	ck_assert_msg(pf != NULL, "no pcap frame in the report:\n%s", text);
	unsigned long long rep_frame = strtoull(pf + 15, NULL, 10);
	ck_assert_msg(rep_frame > 0, "the send made no frame? %s", pf);
	free(text);
	snprintf(ev, sizeof(ev), "%llu", (unsigned long long)send_ev);
	char *fargv[] = {(char *)tool("ACPCAP", "./tools/acpcap"), "frame", bad, ev, NULL};
	ck_assert_int_eq(run(fargv, out, NULL), 0);
	text = slurp(out, NULL);
	snprintf(want, sizeof(want), "event %s: frame %llu\n", ev, rep_frame);
	ck_assert_msg(!strcmp(text, want), "acpcap frame says %s, the report frame %llu", text,
	              rep_frame);
	free(text);
	/* The unchanged record replays. */
	char *okargv[] = {(char *)tool("ACSIM", "./tools/acsim"), "--replay", path, NULL};
	ck_assert_int_eq(run(okargv, NULL, NULL), 0);
}
END_TEST

/* The record buf (len bytes) with its event stream in stored blocks
 * (malloc'ed, *olen bytes), so that the stream byte at offset o is at
 * stored_at(hl, o). */
static char *stored_copy(const char *buf, size_t len, size_t hl, size_t *olen)
{
	const uint8_t *b = (const uint8_t *)buf;
	uint8_t *s = NULL, *o;
	size_t at = hl, n = 0, k;
	uint32_t raw, st;
	while (at < len) {
		memcpy(&raw, b + at + 1, 4);
		memcpy(&st, b + at + 5, 4);
		s = realloc(s, n + raw);
		ck_assert_ptr_nonnull(s);
		if (b[at] == AC_REC_BLOCK_STORED)
			memcpy(s + n, b + at + AC_REC_BLOCK_HEAD, raw);
		else
			ck_assert_int_eq(ac__lz_decompress(b + at + AC_REC_BLOCK_HEAD, st, s + n, raw),
			                 0);
		n += raw;
		at += AC_REC_BLOCK_HEAD + st;
	}
	o = malloc(hl + n + (n / AC_REC_BLOCK_MAX + 1) * AC_REC_BLOCK_HEAD);
	ck_assert_ptr_nonnull(o);
	memcpy(o, b, hl);
	for (at = 0, *olen = hl; at < n; at += k) {
		uint32_t k32;
		k = n - at < AC_REC_BLOCK_MAX ? n - at : AC_REC_BLOCK_MAX;
		k32 = (uint32_t)k;
		o[*olen] = AC_REC_BLOCK_STORED;
		memcpy(o + *olen + 1, &k32, 4);
		memcpy(o + *olen + 5, &k32, 4);
		k32 = ac__crc32(0, o + *olen, 9);
		memcpy(o + *olen + 9, &k32, 4);
		memcpy(o + *olen + AC_REC_BLOCK_HEAD, s + at, k);
		*olen += AC_REC_BLOCK_HEAD + k;
	}
	free(s);
	return (char *)o;
}

static size_t stored_at(size_t hl, size_t o)
{
	return hl + (o / AC_REC_BLOCK_MAX) * (AC_REC_BLOCK_HEAD + AC_REC_BLOCK_MAX) +
	       AC_REC_BLOCK_HEAD + o % AC_REC_BLOCK_MAX;
}

START_TEST(test_corrupt_byte)
{
	char path[400], bad[400], err[400], want[64];
	const uint8_t *fp;
	size_t flen, len, at = 0, hl;
	uint64_t target = 1000, i;
	ac_rec_reader *r;
	ac_rec_event ev;
	uint32_t hlen;
	char *buf, *sbuf, *text;
	FILE *f;
	snprintf(path, sizeof(path), "%s/node0.1.acrec", recdir);
	snprintf(bad, sizeof(bad), "%s/corrupt.acrec", dir);
	snprintf(err, sizeof(err), "%s/corrupt.err", dir);
	buf = slurp(path, &len);
	/* The header, then the blocks: rewritten as stored blocks, the
	 * frames are at known offsets. */
	memcpy(&hlen, buf + 12, 4);
	hl = 16 + (size_t)hlen + 4;
	sbuf = stored_copy(buf, len, hl, &len);
	free(buf);
	buf = sbuf;
	CK_OK(ac__rec_open(path, &r, NULL, 0));
	for (i = 0; i < target; i++) {
		ck_assert_int_eq(ac__rec_next(r, &ev), 1);
		ac__rec_frame(r, &fp, &flen);
		at += flen;
	}
	ck_assert_int_eq(ac__rec_next(r, &ev), 1);
	ac__rec_frame(r, &fp, &flen);
	ck_assert(buf[stored_at(hl, at)] == (char)fp[0]);
	ac__rec_close(r);
	buf[stored_at(hl, at + flen / 2)] ^= 0x10;
	f = fopen(bad, "wb");
	ck_assert(f != NULL);
	ck_assert_int_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
	free(buf);
	char *argv[] = {(char *)tool("ACSIM", "./tools/acsim"), "--replay", bad, NULL};
	ck_assert_int_eq(run(argv, NULL, err), 3);
	text = slurp(err, NULL);
	snprintf(want, sizeof(want), "corrupt record at event %llu", (unsigned long long)target);
	ck_assert_msg(strstr(text, want) != NULL, "want \"%s\" in:\n%s", want, text);
	free(text);
}
END_TEST

START_TEST(test_until_and_bad_input)
{
	char path[400], err[400];
	char *text;
	snprintf(path, sizeof(path), "%s/node2.1.acrec", recdir);
	snprintf(err, sizeof(err), "%s/until.err", dir);
	char *argv[] = {(char *)tool("ACSIM", "./tools/acsim"), "--replay", path, "--until",
	                "200", NULL};
	ck_assert_int_eq(run(argv, NULL, err), 4);
	text = slurp(err, NULL);
	ck_assert_msg(strstr(text, "stopped at event 200") != NULL, "%s", text);
	free(text);
	/* acpcap replay hands a simulated node's record to the acsim that made
	 * it (the same command line as above). */
	char *pargv[] = {(char *)tool("ACPCAP", "./tools/acpcap"), "replay", path, "--until",
	                 "200", NULL};
	ck_assert_int_eq(run(pargv, NULL, err), 4);
	text = slurp(err, NULL);
	ck_assert_msg(strstr(text, "stopped at event 200") != NULL, "%s", text);
	free(text);
	/* Not a record: an error line, exit 2. */
	snprintf(path, sizeof(path), "%s/live.log", dir);
	char *bargv[] = {(char *)tool("ACSIM", "./tools/acsim"), "--replay", path, NULL};
	ck_assert_int_eq(run(bargv, NULL, err), 2);
	text = slurp(err, NULL);
	ck_assert_msg(strstr(text, "acsim: ") != NULL, "%s", text);
	free(text);
}
END_TEST

static Suite *sim_replay_suite(void)
{
	Suite *s = suite_create("sim_replay");
	TCase *tc = tcase_create("replay");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_every_incarnation_replays);
	tcase_add_test(tc, test_nonce_changed_diverges);
	tcase_add_test(tc, test_corrupt_byte);
	tcase_add_test(tc, test_until_and_bad_input);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sim_replay_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
