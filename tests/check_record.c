/* tests/check_record.c: the record format (io/record_fmt.c, io/record_file.c),
 * the recorder (io/io_record.c) and the replayer (io/io_replay.c).
 *
 * The format: a round trip of every event kind, a corrupted byte (the event
 * it is in is named), a cut file (truncated after the last whole event), a
 * write error (one log line, the node goes on), and 10,000 random mutations
 * that must never crash the reader. */
#include "config.h"

#include <zlib.h>

#include "tests/testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/record.h"

/* ---- helpers ------------------------------------------------------------------ */

/* A fresh path for a record in the temporary directory. */
static void tmp_path(char *buf, size_t len, const char *tag)
{
	const char *d = getenv("TMPDIR");
	static int n;
	snprintf(buf, len, "%s/ac-rec-%d-%s-%d.rec", d && *d ? d : "/tmp", (int)getpid(),
	         tag, n++);
}

/* The whole file at path, malloc'ed; *len gets its size. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(b, 1, len, f), len);
	fclose(f);
}

static void test_header(ac_rec_header *h)
{
	static char *argv[] = {"prog", "--flag", "", "last arg"};
	memset(h, 0, sizeof(*h));
	h->io_version = AC_IO_VERSION;
	snprintf(h->backend, sizeof(h->backend), "epoll");
	h->argc = 4;
	h->argv = argv;
	snprintf(h->exe_build_id, sizeof(h->exe_build_id), "0123abcd");
	snprintf(h->lib_version, sizeof(h->lib_version), "0.1.0");
	snprintf(h->zlib_version, sizeof(h->zlib_version), "1.2.13");
	snprintf(h->arch, sizeof(h->arch), "x86_64");
	h->page_size = 4096;
	h->wall_ns = 1700000000123456789LL;
	h->mono_ns = -5;
	snprintf(h->name, sizeof(h->name), "node-a");
	h->flags = AC_REC_HF_BUGGIFY;
}

/* Every kind of event, with the fields each uses. */
#define NSAMPLES 24
static void sample_events(ac_rec_event *ev)
{
	static const uint8_t data[] = "hello, world";
	static uint8_t big[70000];
	ac_addr a4, a6;
	int i;
	for (i = 0; i < (int)sizeof(big); i++)
		big[i] = (uint8_t)(i * 31);
	ac_addr_parse(&a4, "10.0.0.1:4242", 0);
	ac_addr_parse(&a6, "[fe80::1%3]:80", 0);
	for (i = 0; i < NSAMPLES; i++)
		ac__rec_event_init(&ev[i], AC_REC_NOW);
	ev[0].rc = 123456789012LL;
	ev[1].kind = AC_REC_NOW; ev[1].rc = 123456789012LL + 20000;
	ev[2].kind = AC_REC_WALL; ev[2].rc = 1700000000000000000LL;
	ev[3].kind = AC_REC_ENTROPY; ev[3].a = 8; ev[3].data = data; ev[3].dlen = 8;
	ev[4].kind = AC_REC_POLL; ev[4].a = -1;
	ev[5].kind = AC_REC_POLL; ev[5].a = 123456789012LL + 5000000;
	ev[6].kind = AC_REC_POLL_END; ev[6].rc = 2;
	ev[7].kind = AC_REC_PENDING; ev[7].rc = 3;
	ev[8].kind = AC_REC_SUBMIT; ev[8].call = AC_OP_CONNECT; ev[8].op = 1;
	ev[8].addr = a4; ev[8].rc = AC_IO_PENDING;
	ev[9].kind = AC_REC_SUBMIT; ev[9].call = AC_OP_SEND; ev[9].op = 2; ev[9].h = 7;
	ev[9].a = 12; ev[9].data = data; ev[9].dlen = 12; ev[9].rc = AC_IO_DONE;
	ev[9].res = 12;
	ev[10].kind = AC_REC_SUBMIT; ev[10].call = AC_OP_RECV; ev[10].op = 3; ev[10].h = 0;
	ev[10].a = 65536; ev[10].rc = AC_IO_DONE; ev[10].res = (int64_t)sizeof(big);
	ev[10].data2 = big; ev[10].dlen2 = sizeof(big);
	ev[11].kind = AC_REC_COMPLETE; ev[11].op = 1; ev[11].res = 9;
	ev[12].kind = AC_REC_COMPLETE; ev[12].op = 3; ev[12].res = 5; ev[12].data2 = data;
	ev[12].dlen2 = 5;
	ev[13].kind = AC_REC_COMPLETE; ev[13].op = 2; ev[13].res = -ECONNRESET;
	ev[14].kind = AC_REC_CANCEL; ev[14].op = 2; ev[14].rc = 0; ev[14].a = 4096;
	ev[14].res = 4096;
	ev[15].kind = AC_REC_CANCEL; ev[15].op = 0; ev[15].rc = -ENOENT;
	ev[16].kind = AC_REC_CALL; ev[16].call = AC_RC_TCP_LISTEN; ev[16].addr = a6;
	ev[16].a = 128; ev[16].b = AC_IO_REUSEADDR; ev[16].rc = 0; ev[16].res = 4;
	ev[17].kind = AC_REC_CALL; ev[17].call = AC_RC_FILE_RENAME; ev[17].data = data;
	ev[17].dlen = 5; ev[17].data2 = data + 7; ev[17].dlen2 = 5; ev[17].rc = -EXDEV;
	ev[18].kind = AC_REC_CALL; ev[18].call = AC_RC_FILE_SET_META; ev[18].data = data;
	ev[18].dlen = 3; ev[18].c = 0644; ev[18].b = -1;
	ev[19].kind = AC_REC_CONN; ev[19].h = 9; ev[19].addr = a4; ev[19].addr2 = a6;
	ev[20].kind = AC_REC_META; ev[20].data = data; ev[20].dlen = 4; ev[20].data2 = data;
	ev[20].dlen2 = 12;
	ev[21].kind = AC_REC_CALL; ev[21].call = AC_RC_TEMP_DIR; ev[21].data2 = data;
	ev[21].dlen2 = 4;
	ev[22].kind = AC_REC_SUBMIT; ev[22].call = AC_OP_RECVFROM; ev[22].op = 4;
	ev[22].h = 3; ev[22].a = 1500; ev[22].rc = AC_IO_DONE; ev[22].res = 0;
	ev[22].addr = a4;
	ev[23].kind = AC_REC_CALL; ev[23].call = AC_RC_BUGGIFY; ev[23].data = data;
	ev[23].dlen = 5; ev[23].rc = 1;
	for (i = 0; i < NSAMPLES; i++)
		ev[i].seq = (uint64_t)i;
}

static void ev_eq(const ac_rec_event *a, const ac_rec_event *b)
{
	char fa[256], fb[256];
	ac__rec_event_format(a, fa, sizeof(fa));
	ac__rec_event_format(b, fb, sizeof(fb));
	ck_assert_msg(a->seq == b->seq && a->kind == b->kind && a->call == b->call &&
	              a->op == b->op && a->h == b->h && a->a == b->a && a->b == b->b &&
	              a->c == b->c && a->rc == b->rc && a->res == b->res &&
	              memcmp(&a->addr, &b->addr, sizeof(a->addr)) == 0 &&
	              memcmp(&a->addr2, &b->addr2, sizeof(a->addr2)) == 0 &&
	              a->dlen == b->dlen && a->dlen2 == b->dlen2,
	              "event differs:\n  wrote %s\n  read  %s", fa, fb);
	ck_assert(a->dlen == 0 || memcmp(a->data, b->data, a->dlen) == 0);
	ck_assert(a->dlen2 == 0 || memcmp(a->data2, b->data2, a->dlen2) == 0);
}

/* Write the sample events (and END when end) to a new record at path;
 * returns the hash the writer computed. */
static uint64_t write_samples(const char *path, int end)
{
	ac_rec_header h;
	ac_rec_event ev[NSAMPLES];
	ac_rec_writer *w;
	uint64_t hash;
	int i;
	test_header(&h);
	sample_events(ev);
	CK_PASS(ac__recw_open(path, &h, NULL, NULL, &w));
	for (i = 0; i < NSAMPLES; i++)
		CK_PASS(ac__recw_event(w, &ev[i]));
	ck_assert_uint_eq(ac__recw_count(w), NSAMPLES);
	hash = ac__recw_hash(w);
	if (end)
		CK_PASS(ac__recw_end(w));
	ac__recw_free(w);
	return hash;
}

/* Read every event of r; returns the final ac__rec_next result and sets
 * *n to the number of events. */
static int read_all(ac_rec_reader *r, uint64_t *n)
{
	ac_rec_event ev;
	int rc;
	*n = 0;
	while ((rc = ac__rec_next(r, &ev)) == 1)
		(*n)++;
	return rc;
}

/* ---- format tests ------------------------------------------------------------ */

START_TEST(test_xxh64_vectors)
{
	ac_rec_xxh x;
	static const char text[] = "Nobody inspects the spammish repetition";
	size_t i;
	ac__rec_xxh_init(&x);
	ck_assert_uint_eq(ac__rec_xxh_digest(&x), 0xEF46DB3751D8E999ull);
	ac__rec_xxh_update(&x, "abc", 3);
	ck_assert_uint_eq(ac__rec_xxh_digest(&x), 0x44BC2CF5AD770999ull);
	/* Byte by byte equals all at once (the streaming buffer). */
	ac__rec_xxh_init(&x);
	ac__rec_xxh_update(&x, text, sizeof(text) - 1);
	{
		uint64_t whole = ac__rec_xxh_digest(&x);
		ac__rec_xxh_init(&x);
		for (i = 0; i < sizeof(text) - 1; i++)
			ac__rec_xxh_update(&x, text + i, 1);
		ck_assert_uint_eq(ac__rec_xxh_digest(&x), whole);
		ck_assert_uint_eq(whole, 0xFBCEA83C8A378BF1ull);
	}
}
END_TEST

START_TEST(test_round_trip)
{
	char path[256];
	ac_rec_event want[NSAMPLES], got;
	ac_rec_reader *r;
	const ac_rec_header *h;
	char err[200];
	uint64_t hash;
	int i;
	tmp_path(path, sizeof(path), "rt");
	hash = write_samples(path, 1);
	sample_events(want);
	CK_PASS(ac__rec_open(path, &r, err, sizeof(err)));
	h = ac__rec_header(r);
	ck_assert_uint_eq(h->version, AC_REC_VERSION);
	ck_assert_uint_eq(h->io_version, AC_IO_VERSION);
	ck_assert_str_eq(h->backend, "epoll");
	ck_assert_int_eq(h->argc, 4);
	ck_assert_str_eq(h->argv[1], "--flag");
	ck_assert_str_eq(h->argv[2], "");
	ck_assert_str_eq(h->argv[3], "last arg");
	ck_assert_ptr_null(h->argv[4]);
	ck_assert_str_eq(h->exe_build_id, "0123abcd");
	ck_assert_str_eq(h->zlib_version, "1.2.13");
	ck_assert_str_eq(h->lib_build_id, "");
	ck_assert_uint_eq(h->page_size, 4096);
	ck_assert_int_eq(h->wall_ns, 1700000000123456789LL);
	ck_assert_int_eq(h->mono_ns, -5);
	ck_assert_str_eq(h->name, "node-a");
	ck_assert_uint_eq(h->flags, AC_REC_HF_BUGGIFY);
	for (i = 0; i < NSAMPLES; i++) {
		ck_assert_int_eq(ac__rec_next(r, &got), 1);
		ev_eq(&want[i], &got);
	}
	ck_assert_int_eq(ac__rec_next(r, &got), 0);
	ck_assert_int_eq(ac__rec_next(r, &got), 0);
	ck_assert_uint_eq(ac__rec_count(r), NSAMPLES);
	ck_assert_uint_eq(ac__rec_hash(r), hash);
	ck_assert_str_eq(ac__rec_error(r), "");
	ac__rec_close(r);
	unlink(path);
}
END_TEST

/* The offset of event k's frame in the record b (len bytes). */
static size_t frame_offset(const uint8_t *b, size_t len, uint64_t k, size_t *flen)
{
	ac_rec_reader *r;
	ac_rec_event ev;
	const uint8_t *f = NULL;
	size_t fl = 0;
	uint64_t i;
	CK_PASS(ac__rec_open_mem(b, len, &r, NULL, 0));
	for (i = 0; i <= k; i++)
		ck_assert_int_eq(ac__rec_next(r, &ev), 1);
	ac__rec_frame(r, &f, &fl);
	ac__rec_close(r);
	*flen = fl;
	return (size_t)(f - b);
}

START_TEST(test_corrupt_byte)
{
	char path[256];
	uint8_t *b;
	size_t len, off, fl, j;
	ac_rec_reader *r;
	uint64_t n;
	int rc;
	tmp_path(path, sizeof(path), "bad");
	write_samples(path, 1);
	b = slurp(path, &len);
	/* Every byte of event 12's frame, one at a time: -EBADMSG naming it. */
	off = frame_offset(b, len, 12, &fl);
	for (j = 0; j < fl; j++) {
		b[off + j] ^= 0x20;
		CK_PASS(ac__rec_open_mem(b, len, &r, NULL, 0));
		rc = read_all(r, &n);
		ck_assert_uint_eq(n, 12);
		/* The length byte may now reach past the end: a cut, not corrupt. */
		if (j > 0 || rc == -EBADMSG) {
			CK_FAIL(rc, -EBADMSG);
			ck_assert_msg(strstr(ac__rec_error(r), "corrupt record at event 12") != NULL,
			              "byte %zu: %s", j, ac__rec_error(r));
		} else {
			CK_FAIL(rc, -EPIPE);
		}
		ac__rec_close(r);
		b[off + j] ^= 0x20;
	}
	/* Through a file as well. */
	b[off + fl / 2] ^= 1;
	spit(path, b, len);
	CK_PASS(ac__rec_open(path, &r, NULL, 0));
	CK_FAIL(read_all(r, &n), -EBADMSG);
	ck_assert_uint_eq(n, 12);
	ck_assert_str_eq(ac__rec_error(r), "corrupt record at event 12: bad CRC");
	ac__rec_close(r);
	free(b);
	unlink(path);
}
END_TEST

START_TEST(test_truncated)
{
	char path[256];
	uint8_t *b;
	size_t len, off, fl, cut;
	ac_rec_reader *r;
	uint64_t n;
	char want[64];
	int k;
	tmp_path(path, sizeof(path), "cut");
	write_samples(path, 1);
	b = slurp(path, &len);
	for (k = 0; k < NSAMPLES; k++) {
		off = frame_offset(b, len, (uint64_t)k, &fl);
		for (cut = off; cut < off + fl; cut += (fl > 64 ? fl / 7 : 1)) {
			spit(path, b, cut);
			CK_PASS(ac__rec_open(path, &r, NULL, 0));
			CK_FAIL(read_all(r, &n), -EPIPE);
			ck_assert_uint_eq(n, (uint64_t)k);
			snprintf(want, sizeof(want), "truncated after event %d", k - 1);
			ck_assert_str_eq(ac__rec_error(r), want);
			ac__rec_close(r);
		}
	}
	/* Without END: truncated after the last event. */
	write_samples(path, 0);
	CK_PASS(ac__rec_open(path, &r, NULL, 0));
	CK_FAIL(read_all(r, &n), -EPIPE);
	ck_assert_uint_eq(n, NSAMPLES);
	snprintf(want, sizeof(want), "truncated after event %d", NSAMPLES - 1);
	ck_assert_str_eq(ac__rec_error(r), want);
	ac__rec_close(r);
	/* Cut in the header. */
	spit(path, b, 30);
	CK_FAIL(ac__rec_open(path, &r, want, sizeof(want)), -EPIPE);
	ck_assert_str_eq(want, "record truncated in its header");
	free(b);
	unlink(path);
}
END_TEST

START_TEST(test_not_a_record)
{
	char err[128];
	ac_rec_reader *r;
	static const uint8_t junk[] = "GET / HTTP/1.1\r\n\r\n";
	CK_FAIL(ac__rec_open_mem(junk, sizeof(junk), &r, err, sizeof(err)), -EBADMSG);
	ck_assert_str_eq(err, "not a record (no ACREC magic)");
	CK_FAIL(ac__rec_open("/nonexistent/x.rec", &r, err, sizeof(err)), -ENOENT);
}
END_TEST

/* A small PRNG for the mutations (xorshift64*). */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Read b (len bytes) to the end; the result must be one of the documented. */
static void read_any(const uint8_t *b, size_t len)
{
	ac_rec_reader *r;
	ac_rec_event ev;
	char line[512];
	int rc = ac__rec_open_mem(b, len, &r, NULL, 0), i;
	if (rc < 0) {
		ck_assert(rc == -EBADMSG || rc == -EPIPE || rc == -ENOTSUP || rc == -ENOMEM);
		return;
	}
	for (i = 0; i < 1000 && (rc = ac__rec_next(r, &ev)) == 1; i++)
		ac__rec_event_format(&ev, line, sizeof(line));
	ck_assert(rc == 0 || rc == -EBADMSG || rc == -EPIPE);
	ac__rec_close(r);
}

START_TEST(test_fuzz)
{
	char path[256];
	uint8_t *b, *m;
	size_t len, mlen, k;
	uint64_t s = 0x9e3779b97f4a7c15ull;
	int i, j;
	tmp_path(path, sizeof(path), "fuzz");
	write_samples(path, 1);
	b = slurp(path, &len);
	m = malloc(len + 64);
	ck_assert_ptr_nonnull(m);
	for (i = 0; i < 10000; i++) {
		memcpy(m, b, len);
		mlen = len;
		switch (rnd(&s) % 4) {
		case 0: /* flip 1..4 bytes */
			for (j = 0, k = 1 + rnd(&s) % 4; j < (int)k; j++)
				m[rnd(&s) % mlen] ^= (uint8_t)(1 + rnd(&s) % 255);
			break;
		case 1: /* cut */
			mlen = (size_t)(rnd(&s) % len);
			break;
		case 2: /* random bytes after a valid header */
			for (k = 40 + rnd(&s) % 40; k < mlen; k++)
				m[k] = (uint8_t)rnd(&s);
			break;
		default: /* a byte set to an extreme */
			m[rnd(&s) % mlen] = (rnd(&s) & 1) ? 0xff : 0x00;
			break;
		}
		read_any(m, mlen);
	}
	free(m);
	free(b);
	unlink(path);
}
END_TEST

/* Frames with correct CRCs around garbage bodies: the decoder itself. */
START_TEST(test_fuzz_bodies)
{
	uint64_t s = 12345;
	uint8_t body[64];
	ac_rec_event ev;
	const char *why;
	int i, k, n;
	for (i = 0; i < 100000; i++) {
		ac_rec_enc st = {(uint64_t)i, rnd(&s) % 5, rnd(&s) % 5, (int64_t)rnd(&s), 0};
		n = (int)(rnd(&s) % sizeof(body));
		for (k = 0; k < n; k++)
			body[k] = (uint8_t)(rnd(&s) & ((i & 1) ? 0xff : 0x8f));
		if (ac__rec_decode(&st, (uint32_t)(1 + rnd(&s) % 14), body, (size_t)n, &ev,
		                   &why) == 0) {
			ck_assert_uint_le(ev.dlen, (size_t)n);
			ck_assert_uint_le(ev.dlen2, (size_t)n);
		}
	}
}
END_TEST

static int log_lines;
static char log_last[512];

static void count_log(void *arg, const char *line)
{
	(void)arg;
	log_lines++;
	snprintf(log_last, sizeof(log_last), "%s", line);
}

START_TEST(test_write_error)
{
	char path[256];
	struct rlimit rl = {100000, 100000}, saved;
	ac_rec_header h;
	ac_rec_event ev;
	ac_rec_writer *w;
	ac_rec_reader *r;
	uint8_t data[1000];
	uint64_t n;
	int i, failed = 0;
	/* The file may not grow past 100 kB: writes then fail with EFBIG. */
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
	rl.rlim_max = saved.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	memset(data, 'x', sizeof(data));
	tmp_path(path, sizeof(path), "full");
	test_header(&h);
	CK_PASS(ac__recw_open(path, &h, count_log, NULL, &w));
	ac__rec_event_init(&ev, AC_REC_ENTROPY);
	ev.data = data;
	ev.dlen = sizeof(data);
	ev.a = sizeof(data);
	for (i = 0; i < 1000; i++)
		if (ac__recw_event(w, &ev) < 0)
			failed++;
	ck_assert_int_eq(log_lines, 1);
	ck_assert_msg(strstr(log_last, "recording stopped after event") != NULL, "%s", log_last);
	ck_assert_int_gt(failed, 0);
	ck_assert(ac__recw_stopped(w));
	ck_assert_int_lt(ac__recw_end(w), 0);
	ac__recw_free(w);
	setrlimit(RLIMIT_FSIZE, &saved);
	signal(SIGXFSZ, SIG_DFL);
	ck_assert_int_eq(log_lines, 1);
	CK_PASS(ac__rec_open(path, &r, NULL, 0));
	CK_FAIL(read_all(r, &n), -EPIPE);
	ck_assert_uint_gt(n, 50);
	ck_assert_uint_lt(n, 100);
	ac__rec_close(r);
	unlink(path);
}
END_TEST

/* ---- the suite ---------------------------------------------------------------- */

static Suite *record_suite(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tcase_create("format");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_xxh64_vectors);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_corrupt_byte);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_not_a_record);
	tcase_add_test(tc, test_fuzz);
	tcase_add_test(tc, test_fuzz_bodies);
	tcase_add_test(tc, test_write_error);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(record_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
