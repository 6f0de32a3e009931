/* tests/check_record.c: the record format (io/record_fmt.c, io/record_file.c),
 * the recorder (io/io_record.c) and the replayer (io/io_replay.c).
 *
 * The format: a round trip of every event kind, a corrupted byte (the event
 * it is in is named), a cut file (truncated after the last whole event), a
 * write error (one log line, the node goes on), and 10,000 random mutations
 * that must never crash the reader; version 1 records refused. The blocks
 * (doc/record.md "Blocks"): the compressor and decompressor alone (round
 * trips of random, repetitive and mixed bytes; cut and mutated streams),
 * a record of mixed events cut at every block boundary and more, damaged
 * block headers, lengths and contents, and the size bound on bytes that
 * do not compress. */
#include "config.h"

#include <zlib.h>

#include "tests/testutil.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asyncoro/dis.h>
#include <asyncoro/record.h>
#include <asyncoro/sim.h>

#include "io/crc32.h"
#include "io/rec_lz.h"
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
	snprintf(h->zlib_ver, sizeof(h->zlib_ver), "1.2.13");
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
	CK_OK(ac__recw_open(path, &h, NULL, NULL, &w));
	for (i = 0; i < NSAMPLES; i++)
		CK_OK(ac__recw_event(w, &ev[i]));
	ck_assert_uint_eq(ac__recw_count(w), NSAMPLES);
	hash = ac__recw_hash(w);
	if (end)
		CK_OK(ac__recw_end(w));
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

/* ---- the record's blocks, seen from outside --------------------------------- */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* The bytes of the record's header (preamble, fields, CRC). */
static size_t rec_hlen(const uint8_t *b)
{
	return 16 + (size_t)le32(b + 12) + 4;
}

/* The event stream of the valid record b (len bytes), inflated block by
 * block (malloc'ed; *slen its bytes); *whole gets the stream bytes of the
 * blocks that end at or before cut, *blocks (may be NULL) their count. */
static uint8_t *rec_inflate(const uint8_t *b, size_t len, size_t cut, size_t *slen,
                            size_t *whole, int *blocks)
{
	size_t at = rec_hlen(b), n = 0;
	uint8_t *s = malloc(1);
	*whole = 0;
	if (blocks)
		*blocks = 0;
	while (at < len) {
		uint32_t raw = le32(b + at + 1), st = le32(b + at + 5);
		ck_assert_uint_le(at + AC_REC_BLOCK_HEAD + st, len);
		ck_assert_uint_eq(le32(b + at + 9), ac__crc32(0, b + at, 9));
		s = realloc(s, n + raw);
		ck_assert_ptr_nonnull(s);
		if (b[at] == AC_REC_BLOCK_STORED)
			memcpy(s + n, b + at + AC_REC_BLOCK_HEAD, raw);
		else
			ck_assert_int_eq(ac__lz_decompress(b + at + AC_REC_BLOCK_HEAD, st, s + n,
			                                   raw), 0);
		n += raw;
		at += AC_REC_BLOCK_HEAD + st;
		if (at <= cut) {
			*whole = n;
			if (blocks)
				(*blocks)++;
		}
	}
	*slen = n;
	return s;
}

/* The whole frames in the first n bytes of an event stream; *off (may be
 * NULL) gets the offset of frame k (when there is one). */
static uint64_t stream_frames(const uint8_t *s, size_t n, uint64_t k, size_t *off)
{
	size_t at = 0, i;
	uint64_t count = 0, len;
	for (;;) {
		if (off && count == k)
			*off = at;
		for (len = 0, i = 0; at + i < n; i++) {
			len |= (uint64_t)(s[at + i] & 0x7f) << (7 * i);
			if (!(s[at + i] & 0x80))
				break;
		}
		if (at + i >= n || at + i + 1 + len + 4 > n)
			return count;
		at += i + 1 + (size_t)len + 4;
		count++;
	}
}

/* The record b (len bytes) rebuilt with the same header and its event
 * stream in stored blocks (malloc'ed, *olen bytes): its frames sit at
 * known file offsets. */
static uint8_t *rec_stored(const uint8_t *b, size_t len, size_t *olen)
{
	size_t hl = rec_hlen(b), slen, whole, at, n;
	uint8_t *s = rec_inflate(b, len, len, &slen, &whole, NULL), *o;
	o = malloc(hl + slen + (slen / AC_REC_BLOCK_MAX + 1) * AC_REC_BLOCK_HEAD);
	ck_assert_ptr_nonnull(o);
	memcpy(o, b, hl);
	for (at = 0, n = hl; at < slen; at += AC_REC_BLOCK_MAX) {
		uint32_t k = (uint32_t)(slen - at < AC_REC_BLOCK_MAX ? slen - at : AC_REC_BLOCK_MAX);
		o[n] = AC_REC_BLOCK_STORED;
		put32(o + n + 1, k);
		put32(o + n + 5, k);
		put32(o + n + 9, ac__crc32(0, o + n, 9));
		memcpy(o + n + AC_REC_BLOCK_HEAD, s + at, k);
		n += AC_REC_BLOCK_HEAD + k;
	}
	free(s);
	*olen = n;
	return o;
}

/* ---- format tests ------------------------------------------------------------ */

/* The record's CRC-32 (io/crc32.c: PCLMULQDQ folding where the CPU has
 * it, slice-by-8 otherwise) is zlib's crc32, bit for bit: random lengths
 * 0..100000 (every length under 300), every alignment mod 64, and a call
 * split in two whose first result continues in the second. */
START_TEST(test_crc32_is_zlibs)
{
	enum { MAX = 100000, ROUNDS = 3000 };
	uint8_t *b = malloc(MAX + 64);
	uint64_t r = 0x9e3779b97f4a7c15ull;
	int i;

	ck_assert_ptr_nonnull(b);
	for (i = 0; i < MAX + 64; i++) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		b[i] = (uint8_t)r;
	}
	ck_assert_uint_eq(ac__crc32(0, "123456789", 9), 0xcbf43926u); /* the check value */
	for (i = 0; i < ROUNDS; i++) {
		size_t off, n, h;
		uint32_t z;
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		off = (size_t)(r % 64);
		n = i < 300 ? (size_t)i : (size_t)((r >> 8) % (MAX + 1));
		h = n ? (size_t)((r >> 32) % n) : 0;
		z = (uint32_t)crc32(0L, b + off, (uInt)n);
		ck_assert_msg(ac__crc32(0, b + off, n) == z, "length %zu at %zu", n, off);
		ck_assert_msg(ac__crc32_portable(0, b + off, n) == z, "portable: %zu at %zu", n,
		              off);
		ck_assert_msg(ac__crc32(ac__crc32(0, b + off, h), b + off + h, n - h) == z,
		              "chained at %zu of %zu", h, n);
		ck_assert_msg(ac__crc32(0x12345678u, b + off, n) ==
		              (uint32_t)crc32(0x12345678uL, b + off, (uInt)n), "from a crc, %zu", n);
	}
	free(b);
}
END_TEST

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
	CK_OK(ac__rec_open(path, &r, err, sizeof(err)));
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
	ck_assert_str_eq(h->zlib_ver, "1.2.13");
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

/* Events large enough for the writer's direct path (io/record_file.c:
 * compressed from where their bytes are, not copied into its buffer) give
 * the same stream as ac__rec_encode: a big data, a big data2, both, each
 * between small buffered events, and an END. The file's blocks after its
 * header must inflate to the frames ac__rec_encode makes, byte for byte,
 * and be compressed. */
START_TEST(test_direct_same_bytes)
{
	static uint8_t big[200000];
	char path[256];
	ac_rec_header h;
	ac_rec_event ev[7];
	ac_rec_writer *w;
	ac_rec_enc st;
	uint8_t *file, *want, *stream;
	size_t flen, wlen = 0, slen, whole;
	int i, blocks;
	for (i = 0; i < (int)sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + (i >> 9));
	for (i = 0; i < 7; i++) {
		ac__rec_event_init(&ev[i], AC_REC_NOW);
		ev[i].rc = 1000 * i;
	}
	ev[1].kind = AC_REC_SUBMIT; ev[1].call = AC_OP_SEND; ev[1].op = 1; ev[1].h = 5;
	ev[1].a = 100000; ev[1].data = big; ev[1].dlen = 100000; ev[1].rc = AC_IO_DONE;
	ev[1].res = 100000;
	ev[3].kind = AC_REC_COMPLETE; ev[3].op = 1; ev[3].res = 65536; ev[3].data2 = big + 3;
	ev[3].dlen2 = 65536;
	ev[5].kind = AC_REC_CALL; ev[5].call = AC_RC_FILE_RENAME; ev[5].data = big + 1;
	ev[5].dlen = 70000; ev[5].data2 = big + 2; ev[5].dlen2 = 129999; ev[5].rc = -EXDEV;
	tmp_path(path, sizeof(path), "direct");
	test_header(&h);
	CK_OK(ac__recw_open(path, &h, NULL, NULL, &w));
	want = malloc(sizeof(big) * 3);
	ck_assert_ptr_nonnull(want);
	memset(&st, 0, sizeof(st));
	for (i = 0; i < 7; i++) {
		CK_OK(ac__recw_event(w, &ev[i]));
		wlen += ac__rec_encode(&st, &ev[i], want + wlen);
	}
	CK_OK(ac__recw_end(w));
	ac__recw_free(w);
	file = slurp(path, &flen);
	stream = rec_inflate(file, flen, flen, &slen, &whole, &blocks);
	/* The events, then END (its frame: 1 length byte, kind, seq, mask,
	 * data length, 8 bytes of hash, CRC). */
	ck_assert_uint_eq(slen, wlen + 17);
	ck_assert_msg(memcmp(stream, want, wlen) == 0, "the direct path wrote other bytes");
	/* Compressed: big's bytes repeat every 512 bytes. */
	ck_assert_uint_lt(flen, wlen / 4);
	ck_assert_int_ge(blocks, 5);
	free(stream);
	free(file);
	free(want);
	unlink(path);
}
END_TEST

/* The file offset of event k's frame in the record b (len bytes) made of
 * ONE stored block (rec_stored of a record under AC_REC_BLOCK_MAX). */
static size_t frame_offset(const uint8_t *b, size_t len, uint64_t k, size_t *flen)
{
	size_t hl = rec_hlen(b), off = 0, end = 0;
	const uint8_t *s = b + hl + AC_REC_BLOCK_HEAD;
	ck_assert_uint_eq(b[hl], AC_REC_BLOCK_STORED);
	ck_assert_uint_eq(hl + AC_REC_BLOCK_HEAD + le32(b + hl + 1), len);
	ck_assert_uint_gt(stream_frames(s, len - hl - AC_REC_BLOCK_HEAD, k, &off), k);
	stream_frames(s, len - hl - AC_REC_BLOCK_HEAD, k + 1, &end);
	*flen = end - off;
	return hl + AC_REC_BLOCK_HEAD + off;
}

/* The sample record, its stream in one stored block (malloc'ed). */
static uint8_t *stored_samples(const char *path, size_t *len)
{
	size_t flen;
	uint8_t *f, *b;
	write_samples(path, 1);
	f = slurp(path, &flen);
	b = rec_stored(f, flen, len);
	free(f);
	return b;
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
	b = stored_samples(path, &len);
	/* Every byte of event 12's frame, one at a time: -EBADMSG naming it. */
	off = frame_offset(b, len, 12, &fl);
	for (j = 0; j < fl; j++) {
		b[off + j] ^= 0x20;
		CK_OK(ac__rec_open_mem(b, len, &r, NULL, 0));
		rc = read_all(r, &n);
		ck_assert_uint_eq(n, 12);
		/* The length byte may now reach past the end: a cut, not corrupt. */
		if (j > 0 || rc == -EBADMSG) {
			CK_RC(rc, -EBADMSG);
			ck_assert_msg(strstr(ac__rec_error(r), "corrupt record at event 12") != NULL,
			              "byte %zu: %s", j, ac__rec_error(r));
		} else {
			CK_RC(rc, -EPIPE);
		}
		ac__rec_close(r);
		b[off + j] ^= 0x20;
	}
	/* Through a file as well. */
	b[off + fl / 2] ^= 1;
	spit(path, b, len);
	CK_OK(ac__rec_open(path, &r, NULL, 0));
	CK_RC(read_all(r, &n), -EBADMSG);
	ck_assert_uint_eq(n, 12);
	ck_assert_str_eq(ac__rec_error(r), "corrupt record at event 12: bad CRC");
	ac__rec_close(r);
	free(b);
	unlink(path);
}
END_TEST

/* Cut the record b (len bytes) at every offset from its first block on
 * (every step-th, and every one in the 40 bytes around each block's
 * start): each reads as truncated after the last whole event of the whole
 * blocks before the cut, through a file; the whole file reads cleanly. */
static void cut_everywhere(const char *path, const uint8_t *b, size_t len, size_t step)
{
	size_t hl = rec_hlen(b), cut, slen, whole, prev = hl, next = hl;
	ac_rec_reader *r;
	uint64_t n, want;
	char msg[64];
	uint8_t *s;
	for (cut = hl; cut <= len; cut++) {
		while (next <= cut && next < len) {
			prev = next;
			next += AC_REC_BLOCK_HEAD + le32(b + next + 5);
		}
		if (cut != len && (cut - hl) % step != 0 && cut - prev > 20 && next - cut > 20)
			continue;
		s = rec_inflate(b, len, cut, &slen, &whole, NULL);
		want = stream_frames(s, whole, 0, NULL);
		free(s);
		spit(path, b, cut);
		CK_OK(ac__rec_open(path, &r, NULL, 0));
		if (cut == len) {
			CK_RC(read_all(r, &n), 0);
		} else {
			CK_RC(read_all(r, &n), -EPIPE);
			ck_assert_msg(n == want, "cut at %zu: %llu events, want %llu", cut,
			              (unsigned long long)n, (unsigned long long)want);
			snprintf(msg, sizeof(msg), "truncated after event %lld", (long long)want - 1);
			ck_assert_str_eq(ac__rec_error(r), msg);
		}
		ac__rec_close(r);
	}
}

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
	/* Stored: a cut anywhere in a frame, after the frames before. */
	b = stored_samples(path, &len);
	for (k = 0; k < NSAMPLES; k++) {
		off = frame_offset(b, len, (uint64_t)k, &fl);
		for (cut = off; cut < off + fl; cut += (fl > 64 ? fl / 7 : 1)) {
			/* The block is cut too: say it is only that long. */
			uint8_t *c = malloc(cut);
			size_t hl = rec_hlen(b);
			uint32_t raw = (uint32_t)(cut - hl - AC_REC_BLOCK_HEAD);
			memcpy(c, b, cut);
			put32(c + hl + 1, raw);
			put32(c + hl + 5, raw);
			put32(c + hl + 9, ac__crc32(0, c + hl, 9));
			spit(path, c, raw ? cut : hl);
			free(c);
			CK_OK(ac__rec_open(path, &r, NULL, 0));
			CK_RC(read_all(r, &n), -EPIPE);
			ck_assert_uint_eq(n, (uint64_t)k);
			snprintf(want, sizeof(want), "truncated after event %d", k - 1);
			ck_assert_str_eq(ac__rec_error(r), want);
			ac__rec_close(r);
		}
	}
	free(b);
	/* As written (compressed blocks): every cut point. */
	write_samples(path, 1);
	b = slurp(path, &len);
	cut_everywhere(path, b, len, 1);
	/* Without END: truncated after the last event. */
	write_samples(path, 0);
	CK_OK(ac__rec_open(path, &r, NULL, 0));
	CK_RC(read_all(r, &n), -EPIPE);
	ck_assert_uint_eq(n, NSAMPLES);
	snprintf(want, sizeof(want), "truncated after event %d", NSAMPLES - 1);
	ck_assert_str_eq(ac__rec_error(r), want);
	ac__rec_close(r);
	/* Cut in the header. */
	spit(path, b, 30);
	CK_RC(ac__rec_open(path, &r, want, sizeof(want)), -EPIPE);
	ck_assert_str_eq(want, "record truncated in its header");
	free(b);
	unlink(path);
}
END_TEST

START_TEST(test_not_a_record)
{
	char err[160];
	ac_rec_reader *r;
	static const uint8_t junk[] = "GET / HTTP/1.1\r\n\r\n";
	char path[256];
	uint8_t *b;
	size_t len;
	CK_RC(ac__rec_open_mem(junk, sizeof(junk), &r, err, sizeof(err)), -EBADMSG);
	ck_assert_str_eq(err, "not a record (no ACREC magic)");
	CK_RC(ac__rec_open("/nonexistent/x.rec", &r, err, sizeof(err)), -ENOENT);
	/* A version 1 record (before the blocks), its header CRC right: refused. */
	tmp_path(path, sizeof(path), "v1");
	write_samples(path, 1);
	b = slurp(path, &len);
	put32(b + 8, 1);
	put32(b + rec_hlen(b) - 4, ac__crc32(0, b, rec_hlen(b) - 4));
	CK_RC(ac__rec_open_mem(b, len, &r, err, sizeof(err)), -ENOTSUP);
	ck_assert_str_eq(err, "record format version 1 (this library reads version 2 only: "
	                 "the record was made by an older asyncoro)");
	put32(b + 8, 3);
	put32(b + rec_hlen(b) - 4, ac__crc32(0, b, rec_hlen(b) - 4));
	CK_RC(ac__rec_open_mem(b, len, &r, err, sizeof(err)), -ENOTSUP);
	ck_assert_str_eq(err, "record format version 3 (this library reads version 2 only)");
	free(b);
	unlink(path);
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
	struct rlimit rl = {600000, 600000}, saved;
	ac_rec_header h;
	ac_rec_event ev;
	ac_rec_writer *w;
	ac_rec_reader *r;
	uint8_t data[1000];
	uint64_t n, seed = 77;
	int i, failed = 0;
	/* The file may not grow past 600 kB: writes then fail with EFBIG (the
	 * bytes do not compress: 1000 events are 1 MB). */
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
	rl.rlim_max = saved.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (i = 0; i < (int)sizeof(data); i++)
		data[i] = (uint8_t)rnd(&seed);
	tmp_path(path, sizeof(path), "full");
	test_header(&h);
	CK_OK(ac__recw_open(path, &h, count_log, NULL, &w));
	ac__rec_event_init(&ev, AC_REC_ENTROPY);
	ev.data = data;
	ev.dlen = sizeof(data);
	ev.a = sizeof(data);
	for (i = 0; i < 1000; i++) {
		int k;
		for (k = 0; k < (int)sizeof(data); k++) /* no two events alike */
			data[k] = (uint8_t)rnd(&seed);
		if (ac__recw_event(w, &ev) < 0)
			failed++;
	}
	ck_assert_int_eq(log_lines, 1);
	ck_assert_msg(strstr(log_last, "recording stopped after event") != NULL, "%s", log_last);
	ck_assert_int_gt(failed, 0);
	ck_assert(ac__recw_stopped(w));
	ck_assert_int_lt(ac__recw_end(w), 0);
	ac__recw_free(w);
	setrlimit(RLIMIT_FSIZE, &saved);
	signal(SIGXFSZ, SIG_DFL);
	ck_assert_int_eq(log_lines, 1);
	CK_OK(ac__rec_open(path, &r, NULL, 0));
	/* Two whole blocks of 256 KiB of frames (260 events each) reached the
	 * file, the third was cut. */
	CK_RC(read_all(r, &n), -EPIPE);
	ck_assert_uint_gt(n, 500);
	ck_assert_uint_lt(n, 540);
	ac__rec_close(r);
	unlink(path);
}
END_TEST

/* A write error on the direct path (an event of 70 kB of random bytes,
 * its block made from its own bytes): one log line, recording stops, the
 * file ends inside the event that did not fit, and reads as cut after the
 * last whole one. */
START_TEST(test_write_error_direct)
{
	static uint8_t data[70000];
	char path[256];
	struct rlimit rl = {100000, 100000}, saved;
	ac_rec_header h;
	ac_rec_event ev;
	ac_rec_writer *w;
	ac_rec_reader *r;
	uint64_t n;
	uint64_t seed = 78;
	int i, failed = 0;
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
	rl.rlim_max = saved.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (i = 0; i < (int)sizeof(data); i++)
		data[i] = (uint8_t)rnd(&seed); /* incompressible: stored blocks */
	tmp_path(path, sizeof(path), "fulld");
	test_header(&h);
	log_lines = 0;
	CK_OK(ac__recw_open(path, &h, count_log, NULL, &w));
	ac__rec_event_init(&ev, AC_REC_ENTROPY);
	ev.data = data;
	ev.dlen = sizeof(data);
	ev.a = sizeof(data);
	for (i = 0; i < 5; i++)
		if (ac__recw_event(w, &ev) < 0)
			failed++;
	ck_assert_int_eq(failed, 4);
	ck_assert_int_eq(log_lines, 1);
	ck_assert(ac__recw_stopped(w));
	ac__recw_free(w);
	setrlimit(RLIMIT_FSIZE, &saved);
	signal(SIGXFSZ, SIG_DFL);
	CK_OK(ac__rec_open(path, &r, NULL, 0));
	CK_RC(read_all(r, &n), -EPIPE);
	ck_assert_uint_eq(n, 1);
	ck_assert_msg(strstr(ac__rec_error(r), "truncated after event 0") != NULL, "%s",
	              ac__rec_error(r));
	ac__rec_close(r);
	unlink(path);
}
END_TEST

/* ---- compressed blocks ---------------------------------------------------------- */

/* Fill b (n bytes) with data of a kind: 0 random, 1 zeros, 2 the one-way
 * benchmark's shape (16-byte messages with a counter in short frames), 3
 * mixed (random runs, runs copied from near and from beyond the 64 KiB
 * window, zeros). */
static void lz_fill(uint8_t *b, size_t n, int kind, uint64_t *seed)
{
	size_t i = 0, k;
	if (kind == 1) {
		memset(b, 0, n);
		return;
	}
	while (i < n) {
		size_t run = 1 + rnd(seed) % 3000, what = kind == 3 ? rnd(seed) % 4 : 0;
		run = run < n - i ? run : n - i;
		for (k = 0; k < run; k++) {
			if (kind == 0 || (kind == 3 && what == 0))
				b[i + k] = (uint8_t)rnd(seed);
			else if (kind == 2)
				b[i + k] = (i + k) % 24 < 8 ? (uint8_t)"\x93\x01\xa4send"[(i + k) % 8]
				           : (i + k) % 24 == 9 ? (uint8_t)((i + k) / 24) : (uint8_t)'x';
			else if (what == 1)
				b[i + k] = i + k >= 100 ? b[i + k - 100] : 0;
			else if (what == 2)
				b[i + k] = i + k >= 70000 ? b[i + k - 70000] : 1;
			else
				b[i + k] = 0;
		}
		i += run;
	}
}

/* The compressor and decompressor alone: random input does not shrink
 * (and comes back whole when given room), zeros and the benchmark's shape
 * shrink many times, mixed data round trips; the same input gives the
 * same bytes whatever the table held; wrong lengths are refused. */
START_TEST(test_lz_round_trip)
{
	static uint8_t src[300000], z[302000], back[300000];
	static uint32_t table[AC_LZ_TABLE];
	static const size_t sizes[] = {0, 1, 7, 8, 12, 13, 100, 4096, 65535, 65536, 65537,
	                               200000, 300000};
	uint64_t seed = 5;
	size_t i, n, c, c2;
	int kind;
	for (kind = 0; kind < 4; kind++) {
		lz_fill(src, sizeof(src), kind, &seed);
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			n = sizes[i];
			c = ac__lz_compress(src, n, z, n ? n - 1 : 0, table);
			if (kind == 0 || n < 8)
				ck_assert_msg(c == 0, "kind %d, %zu bytes: %zu", kind, n, c);
			if ((kind == 1 || kind == 2) && n >= 4096)
				ck_assert_msg(c > 0 && c < n / (kind == 1 ? 100 : 4) + 8,
				              "kind %d, %zu bytes: %zu", kind, n, c);
			if (kind == 3 && n >= 4096)
				ck_assert_msg(c > 0 && c < n / 2, "mixed, %zu bytes: %zu", n, c);
			c2 = ac__lz_compress(src, n, z, sizeof(z), table);
			ck_assert_uint_gt(c2, 0);
			ck_assert(c == 0 || c == c2);
			ck_assert_uint_le(n, (size_t)c2 * AC_LZ_RATIO);
			memset(back, 0xa5, sizeof(back));
			ck_assert_int_eq(ac__lz_decompress(z, c2, back, n), 0);
			ck_assert_msg(memcmp(back, src, n) == 0, "kind %d, %zu bytes", kind, n);
			ck_assert_int_eq(ac__lz_decompress(z, c2, back, n + 1), -1);
			if (n > 0)
				ck_assert_int_eq(ac__lz_decompress(z, c2, back, n - 1), -1);
		}
	}
}
END_TEST

/* The decompressor on damaged streams: every cut of a valid stream is
 * refused, and 20,000 mutations either decode to exactly the length asked
 * or are refused, never writing past it (a guard zone after it stays as
 * it was; ASan checks the reads). */
START_TEST(test_lz_mutations)
{
	static uint8_t src[70000], z[72000], m[72000], back[70000 + 64];
	static uint32_t table[AC_LZ_TABLE];
	uint64_t seed = 11;
	size_t n = sizeof(src), c, cut, mlen, k;
	int i, j, ok = 0;
	lz_fill(src, n, 3, &seed);
	c = ac__lz_compress(src, n, z, sizeof(z), table);
	ck_assert_uint_gt(c, 100);
	for (cut = 0; cut < c; cut++)
		ck_assert_int_eq(ac__lz_decompress(z, cut, back, n), -1);
	for (i = 0; i < 20000; i++) {
		memcpy(m, z, c);
		mlen = c;
		if (i % 5 == 4) {
			mlen = c + 1 + rnd(&seed) % 100;
			for (k = c; k < mlen; k++)
				m[k] = (uint8_t)rnd(&seed);
		}
		for (j = 0, k = 1 + rnd(&seed) % 4; j < (int)k; j++)
			m[rnd(&seed) % (i % 3 ? mlen : 64)] ^= (uint8_t)(1 + rnd(&seed) % 255);
		memset(back + n, 0x5a, 64);
		if (ac__lz_decompress(m, mlen, back, n) == 0)
			ok++;
		for (k = n; k < n + 64; k++)
			ck_assert_uint_eq(back[k], 0x5a);
	}
	/* Many are refused (changed literals decode: the frames' CRCs catch
	 * those). */
	ck_assert_int_lt(ok, 19000);
}
END_TEST

/* A record of mixed events, small and large, random and repetitive (the
 * data in pool, 1,500,000 bytes): ev gets the n events written. */
#define MIX_EVENTS 600
static void write_mixed(const char *path, ac_rec_event *ev, uint8_t *pool, int end)
{
	ac_rec_header h;
	ac_rec_writer *w;
	uint64_t seed = 99;
	int i;
	lz_fill(pool, 500000, 0, &seed);
	lz_fill(pool + 500000, 500000, 2, &seed);
	lz_fill(pool + 1000000, 500000, 3, &seed);
	test_header(&h);
	CK_OK(ac__recw_open(path, &h, NULL, NULL, &w));
	for (i = 0; i < MIX_EVENTS; i++) {
		size_t len = i % 50 == 7 ? 70000 + rnd(&seed) % 200000 : rnd(&seed) % 3000;
		const uint8_t *p = pool + rnd(&seed) % (1500000 - len);
		ac__rec_event_init(&ev[i], AC_REC_NOW);
		ev[i].seq = (uint64_t)i;
		ev[i].rc = 1000 * i;
		if (i % 3 == 1) {
			ev[i].kind = AC_REC_SUBMIT; ev[i].call = AC_OP_SEND; ev[i].op = 1 + i / 3;
			ev[i].h = 5; ev[i].a = (int64_t)len; ev[i].data = p; ev[i].dlen = len;
			ev[i].rc = AC_IO_DONE; ev[i].res = (int64_t)len;
		} else if (i % 3 == 2) {
			ev[i].kind = AC_REC_COMPLETE; ev[i].op = 1 + i / 3; ev[i].rc = 0;
			ev[i].res = (int64_t)len; ev[i].data2 = p; ev[i].dlen2 = len;
		}
		CK_OK(ac__recw_event(w, &ev[i]));
	}
	if (end)
		CK_OK(ac__recw_end(w));
	ac__recw_free(w);
}

/* Mixed events round trip through compressed and stored blocks; every
 * cut reads as a cut after the last whole event before it; the same
 * events give the same bytes. */
START_TEST(test_blocks_round_trip)
{
	static ac_rec_event ev[MIX_EVENTS];
	static uint8_t pool[1500000];
	char path[256], path2[256];
	ac_rec_reader *r;
	ac_rec_event got;
	uint8_t *b, *b2, *s;
	size_t len, len2, slen, whole, lz = 0, stored = 0, at, carried = 0;
	int i, blocks;
	tmp_path(path, sizeof(path), "mix");
	tmp_path(path2, sizeof(path2), "mix2");
	write_mixed(path, ev, pool, 1);
	write_mixed(path2, ev, pool, 1);
	CK_OK(ac__rec_open(path, &r, NULL, 0));
	for (i = 0; i < MIX_EVENTS; i++) {
		ck_assert_int_eq(ac__rec_next(r, &got), 1);
		ev_eq(&ev[i], &got);
		carried += ev[i].dlen + ev[i].dlen2;
	}
	ck_assert_int_eq(ac__rec_next(r, &got), 0);
	ac__rec_close(r);
	b = slurp(path, &len);
	b2 = slurp(path2, &len2);
	ck_assert(len == len2 && memcmp(b, b2, len) == 0);
	s = rec_inflate(b, len, len, &slen, &whole, &blocks);
	for (at = rec_hlen(b); at < len; at += AC_REC_BLOCK_HEAD + le32(b + at + 5)) {
		lz += b[at] == AC_REC_BLOCK_LZ;
		stored += b[at] == AC_REC_BLOCK_STORED;
	}
	printf("mixed record: %zu bytes carried, stream %zu, file %zu, %d blocks "
	       "(%zu LZ, %zu stored)\n", carried, slen, len, blocks, lz, stored);
	ck_assert_uint_ge(lz, 2);
	ck_assert_uint_ge(stored, 2);
	ck_assert_uint_lt(len, slen);
	cut_everywhere(path, b, len, 4999);
	free(s);
	free(b);
	free(b2);
	unlink(path);
	unlink(path2);
}
END_TEST

/* The writer's rule (io/record_file.c, doc/record.md "Blocks"): a block
 * of 4 KiB or more that does not compress to half its size makes the next
 * 1,835,008 raw bytes of such blocks stored untried. A record of
 * repetitive, then random, then repetitive sends: every block is what the
 * rule says, byte for byte (an LZ block is ac__lz_compress's output), the
 * random part's blocks after the first are stored untried, and the last
 * part compresses again. */
START_TEST(test_skip_rule)
{
	static uint8_t rep[40000], rnds[40000], back[AC_REC_BLOCK_MAX], z[AC_REC_BLOCK_MAX];
	static uint32_t table[AC_LZ_TABLE];
	char path[256];
	ac_rec_header h;
	ac_rec_event ev;
	ac_rec_writer *w;
	uint64_t seed = 21;
	uint8_t *b;
	size_t len, at, skip = 0;
	int i, untried = 0, tried_lz = 0, tried_stored = 0, last_lz = 0;
	lz_fill(rep, sizeof(rep), 2, &seed);
	tmp_path(path, sizeof(path), "skip");
	test_header(&h);
	CK_OK(ac__recw_open(path, &h, NULL, NULL, &w));
	for (i = 0; i < 300; i++) {
		int random = i >= 100 && i < 200;
		if (random)
			lz_fill(rnds, sizeof(rnds), 0, &seed);
		ac__rec_event_init(&ev, AC_REC_SUBMIT);
		ev.call = AC_OP_SEND; ev.op = (uint64_t)i + 1; ev.h = 4; ev.a = sizeof(rep);
		ev.data = random ? rnds : rep; ev.dlen = sizeof(rep);
		ev.rc = AC_IO_DONE; ev.res = sizeof(rep);
		CK_OK(ac__recw_event(w, &ev));
	}
	CK_OK(ac__recw_end(w));
	ac__recw_free(w);
	b = slurp(path, &len);
	for (at = rec_hlen(b); at < len; at += AC_REC_BLOCK_HEAD + le32(b + at + 5)) {
		uint32_t raw = le32(b + at + 1), st = le32(b + at + 5);
		const uint8_t *p = b + at + AC_REC_BLOCK_HEAD;
		size_t c;
		if (b[at] == AC_REC_BLOCK_STORED)
			memcpy(back, p, raw);
		else
			ck_assert_int_eq(ac__lz_decompress(p, st, back, raw), 0);
		if (raw >= 4096 && skip > 0) {
			ck_assert_msg(b[at] == AC_REC_BLOCK_STORED, "block at %zu: tried", at);
			skip = skip > raw ? skip - raw : 0;
			untried++;
			continue;
		}
		c = ac__lz_compress(back, raw, z, raw - 1, table);
		ck_assert_uint_eq(b[at], c ? AC_REC_BLOCK_LZ : AC_REC_BLOCK_STORED);
		ck_assert(c == 0 || (c == st && memcmp(z, p, c) == 0));
		if (raw >= 4096 && (c == 0 || c > raw / 2))
			skip = 7 * 256 * 1024;
		tried_lz += c != 0;
		tried_stored += c == 0 && raw >= 4096;
		last_lz = c != 0;
	}
	printf("skip rule: %d blocks compressed, %d tried and stored, %d stored untried\n",
	       tried_lz, tried_stored, untried);
	ck_assert_int_ge(untried, 6);
	ck_assert_int_ge(tried_stored, 1);
	ck_assert_int_ge(tried_lz, 10);
	ck_assert(last_lz);
	free(b);
	unlink(path);
}
END_TEST

/* Read b (len bytes); the result and the events read. */
static int read_mem(const uint8_t *b, size_t len, uint64_t *n, char *err, size_t errlen)
{
	ac_rec_reader *r;
	int rc;
	CK_OK(ac__rec_open_mem(b, len, &r, NULL, 0));
	rc = read_all(r, n);
	snprintf(err, errlen, "%s", ac__rec_error(r));
	ac__rec_close(r);
	return rc;
}

/* Damaged blocks: a changed byte of a block header is "bad block header"
 * (its CRC); a raw or stored length off by one (the CRC made right) is a
 * bad compressed block, or a bad header for a stored block; a stored
 * length reaching past the end reads as a cut; a changed byte of an LZ
 * block's contents is refused by the decompressor or by the CRC of the
 * frame it lands in, or inflates to the same bytes. Each error comes
 * after the events of the blocks before. */
START_TEST(test_corrupt_blocks)
{
	static ac_rec_event ev[MIX_EVENTS];
	static uint8_t pool[1500000];
	char path[256], err[256];
	uint8_t *b, *s, *t, save[AC_REC_BLOCK_HEAD];
	size_t len, slen, whole, at, j, tlen, twhole;
	uint64_t n, before;
	int nb = 0, rc, same = 0, bad = 0;
	tmp_path(path, sizeof(path), "cblk");
	write_mixed(path, ev, pool, 1);
	b = slurp(path, &len);
	for (at = rec_hlen(b); at < len && nb < 12; at += AC_REC_BLOCK_HEAD + le32(b + at + 5)) {
		uint32_t raw = le32(b + at + 1), st = le32(b + at + 5);
		s = rec_inflate(b, len, at, &slen, &whole, NULL);
		before = stream_frames(s, whole, 0, NULL);
		memcpy(save, b + at, AC_REC_BLOCK_HEAD);
		for (j = 0; j < AC_REC_BLOCK_HEAD; j++) {
			b[at + j] ^= (uint8_t)(1 << (j % 8));
			CK_RC(read_mem(b, len, &n, err, sizeof(err)), -EBADMSG);
			ck_assert_uint_eq(n, before);
			ck_assert_msg(strstr(err, ": bad block header") != NULL, "%s", err);
			b[at + j] ^= (uint8_t)(1 << (j % 8));
		}
		/* Lengths with a right CRC. */
		for (j = 0; j < 4; j++) {
			put32(b + at + (j < 2 ? 1 : 5), (j < 2 ? raw : st) + (j % 2 ? 1u : -1u));
			put32(b + at + 9, ac__crc32(0, b + at, 9));
			CK_RC(read_mem(b, len, &n, err, sizeof(err)), -EBADMSG);
			ck_assert_uint_eq(n, before);
			ck_assert_msg(strstr(err, save[0] == AC_REC_BLOCK_LZ ? ": bad compressed block"
			                                                      : ": bad block header"),
			              "%s", err);
			memcpy(b + at, save, AC_REC_BLOCK_HEAD);
		}
		put32(b + at + 5, (uint32_t)(len - at));
		if (save[0] == AC_REC_BLOCK_STORED)
			put32(b + at + 1, (uint32_t)(len - at));
		put32(b + at + 9, ac__crc32(0, b + at, 9));
		rc = read_mem(b, len, &n, err, sizeof(err));
		ck_assert_msg(rc == -EPIPE || (rc == -EBADMSG && strstr(err, "header")), "%s", err);
		memcpy(b + at, save, AC_REC_BLOCK_HEAD);
		/* Contents. */
		for (j = 0; save[0] == AC_REC_BLOCK_LZ && j < st; j += 1 + st / 300) {
			b[at + AC_REC_BLOCK_HEAD + j] ^= 0x10;
			t = malloc(raw);
			tlen = (size_t)ac__lz_decompress(b + at + AC_REC_BLOCK_HEAD, st, t, raw);
			twhole = tlen == 0 && memcmp(t, s + whole, raw) == 0;
			free(t);
			rc = read_mem(b, len, &n, err, sizeof(err));
			if (tlen != 0) {
				CK_RC(rc, -EBADMSG);
				ck_assert_msg(strstr(err, ": bad compressed block"), "%s", err);
				ck_assert_uint_eq(n, before);
				bad++;
			} else if (twhole) {
				CK_RC(rc, 0);
				same++;
			} else {
				ck_assert_msg(rc == -EBADMSG || rc == -EPIPE, "%d %s", rc, err);
				ck_assert_uint_ge(n, before);
			}
			b[at + AC_REC_BLOCK_HEAD + j] ^= 0x10;
		}
		free(s);
		nb++;
	}
	ck_assert_int_eq(nb, 12);
	ck_assert_int_gt(bad, 0);
	printf("changed LZ bytes: %d refused by the decompressor, %d inflating the same\n",
	       bad, same);
	free(b);
	unlink(path);
}
END_TEST

/* On bytes that do not compress, blocks are stored: the record stays
 * within the bytes carried plus 32 bytes per event. */
START_TEST(test_size_incompressible)
{
	static uint8_t data[270000];
	char path[256];
	ac_rec_header h;
	ac_rec_event ev;
	ac_rec_writer *w;
	uint64_t seed = 3, carried = 0;
	uint8_t *b;
	size_t len, hl;
	int i;
	tmp_path(path, sizeof(path), "rand");
	test_header(&h);
	CK_OK(ac__recw_open(path, &h, NULL, NULL, &w));
	for (i = 0; i < 3000; i++) {
		size_t n = i % 100 == 50 ? 65536 + rnd(&seed) % 200000 : 1 + rnd(&seed) % 2000;
		ac__rec_event_init(&ev, AC_REC_SUBMIT);
		ev.call = AC_OP_SEND; ev.op = (uint64_t)i + 1; ev.h = 4; ev.a = (int64_t)n;
		lz_fill(data, n, 0, &seed); /* fresh bytes: no event repeats another */
		ev.data = data; ev.dlen = n;
		ev.rc = AC_IO_DONE; ev.res = (int64_t)n;
		CK_OK(ac__recw_event(w, &ev));
		carried += n;
	}
	CK_OK(ac__recw_end(w));
	ac__recw_free(w);
	b = slurp(path, &len);
	hl = rec_hlen(b);
	printf("random record: %llu bytes carried, %zu in the file (%.1f per event beyond)\n",
	       (unsigned long long)carried, len, ((double)len - (double)(hl + carried)) / 3000.0);
	ck_assert_uint_le(len, hl + carried + 32 * 3000);
	free(b);
	unlink(path);
}
END_TEST

/* ---- recording and replaying a run ------------------------------------------ */

/* What the echo body saw: the client's received bytes. */
static char echo_got[256];
static size_t echo_len;
/* The host the body listens on (127.0.0.1, or the sim node's address). */
static ac_addr echo_host;

static void echo_server(void *arg)
{
	ac_sock *l = arg, *k;
	char buf[64];
	ssize_t n;
	CK_OK(ac_sock_accept(l, 5000, &k));
	while ((n = ac_sock_recv(k, buf, sizeof(buf), 5000)) > 0)
		ck_assert_int_eq(ac_sock_send_all(k, buf, (size_t)n, 5000), n);
	ac_sock_close(k);
}

/* A TCP echo: three messages there and back, then end of stream. */
static void echo_body(void *arg)
{
	static const char *const msgs[] = {"hello", "coroutine", "sockets"};
	ac_sock *l, *k;
	ac_addr a;
	ac_ref srv;
	int i;
	(void)arg;
	echo_len = 0;
	CK_OK(ac_sock_listen(NULL, &echo_host, 8, 0, &l));
	CK_OK(ac_sock_local_addr(l, &a));
	CK_OK(ac_spawn(NULL, echo_server, l, NULL, &srv));
	CK_OK(ac_sock_connect(&a, 5000, &k));
	for (i = 0; i < 3; i++) {
		size_t n = strlen(msgs[i]);
		ck_assert_int_eq(ac_sock_send_all(k, msgs[i], n, 5000), (ssize_t)n);
		ck_assert_int_eq(ac_sock_recv_all(k, echo_got + echo_len, n, 5000), (ssize_t)n);
		echo_len += n;
	}
	CK_OK(ac_sock_shutdown(k));
	CK_OK(ac_finish(srv, 5000, NULL));
	ac_sock_close(k);
	ac_sock_close(l);
}

/* Run body on a scheduler over io (NULL: the default); returns when done. */
static void run_on(ac_io *io, ac_coro_fn body)
{
	ac_sched_opts o;
	ac_sched *s;
	ac_sched_opts_init(&o);
	o.io = io;
	CK_OK(ac_sched_new(&o, &s));
	CK_OK(ac_spawn(s, body, NULL, NULL, NULL));
	CK_OK(ac_sched_run(s));
	ac_sched_free(s);
}

/* Record body over a fresh epoll backend into path; returns the hash. */
static uint64_t record_epoll(const char *path, ac_coro_fn body, uint64_t *events)
{
	ac_io *ep, *rec;
	uint64_t hash;
	CK_OK(ac_io_epoll_new(&ep));
	CK_OK(ac_io_record_new(ep, path, &rec));
	run_on(rec, body);
	hash = ac_io_record_hash(rec, events);
	ac_io_record_free(rec);
	ac_io_epoll_free(ep);
	return hash;
}

/* Replay body against the record at path; returns the replay's hash. */
static uint64_t replay_run(const char *path, ac_coro_fn body, uint64_t *events)
{
	ac_io *rp;
	uint64_t hash;
	CK_OK(ac_io_replay_new(path, &rp));
	run_on(rp, body);
	hash = ac_io_record_hash(rp, events);
	ac_io_replay_free(rp);
	return hash;
}

/* What body_calls saw, compared between the run and its replay. */
typedef struct calls_seen {
	char dir[256];
	uint8_t back[16];
	ac_stat st;
	ac_addr local, from, resolved[4], mine[8];
	int nres, nmine;
	int64_t wall;
	char tmp[200];
} calls_seen;

static calls_seen seen;

/* Every synchronous call of io.h (files, names, UDP), straight on the
 * scheduler's backend. */
static void body_calls(void *arg)
{
	ac_io *io = ac_sched_io(ac_sched_self());
	const struct ac_io_ops *o = io->ops;
	char f1[300], f2[300];
	uint8_t rnd[4], dgram[8];
	ac_addr lo;
	int h, u1, u2;
	(void)arg;
	memset(&seen, 0, sizeof(seen));
	snprintf(seen.tmp, sizeof(seen.tmp), "%s", o->temp_dir(io));
	o->entropy(io, rnd, sizeof(rnd));
	snprintf(seen.dir, sizeof(seen.dir), "%s/ac-rec-calls-%02x%02x%02x%02x", seen.tmp,
	         rnd[0], rnd[1], rnd[2], rnd[3]);
	CK_OK(o->file_mkdir(io, seen.dir, 0700));
	snprintf(f1, sizeof(f1), "%s/a", seen.dir);
	snprintf(f2, sizeof(f2), "%s/b", seen.dir);
	CK_OK(o->file_open(io, f1, AC_FO_WRITE | AC_FO_READ | AC_FO_CREATE, 0600, &h));
	ck_assert_int_eq(o->file_pwrite(io, h, "0123456789", 10, 0), 10);
	CK_OK(o->file_sync(io, h));
	CK_OK(o->file_fstat(io, h, &seen.st));
	ck_assert_int_eq(o->file_pread(io, h, seen.back, sizeof(seen.back), 2), 8);
	CK_OK(o->file_close(io, h));
	CK_OK(o->file_set_meta(io, f1, 0640, 1000000000LL));
	CK_OK(o->file_rename(io, f1, f2));
	CK_RC(o->file_stat(io, f1, 1, &seen.st), -ENOENT);
	CK_OK(o->file_stat(io, f2, 0, &seen.st));
	CK_OK(o->file_unlink(io, f2));
	seen.nres = o->resolve(io, "localhost", AC_AF_INET, 80, seen.resolved, 4);
	seen.nmine = o->host_addrs(io, seen.mine, 8);
	seen.wall = o->wall_ns(io);
	CK_OK(ac_addr_parse(&lo, "127.0.0.1", 0));
	CK_OK(o->udp_bind(io, &lo, 0, &u1));
	CK_OK(o->udp_bind(io, &lo, 0, &u2));
	CK_OK(o->local_addr(io, u2, &seen.local));
	ck_assert_uint_ne(seen.local.port, 0);
	{
		ac_sock *k1, *k2;
		CK_OK(ac_sock_udp(NULL, &lo, 0, &k1));
		CK_OK(ac_sock_udp(NULL, &lo, 0, &k2));
		CK_OK(ac_sock_local_addr(k2, &seen.local));
		ck_assert_int_eq(ac_sock_sendto(k1, "datagram", 8, &seen.local, 1000), 8);
		ck_assert_int_eq(ac_sock_recvfrom(k2, dgram, 8, &seen.from, 1000), 8);
		ck_assert(memcmp(dgram, "datagram", 8) == 0);
		ac_sock_close(k1);
		ac_sock_close(k2);
	}
	CK_OK(o->close(io, u1));
	CK_OK(o->close(io, u2));
}

START_TEST(test_calls_replay)
{
	char path[256];
	calls_seen first;
	uint64_t h1, h2, n1, n2;
	tmp_path(path, sizeof(path), "calls");
	h1 = record_epoll(path, body_calls, &n1);
	first = seen;
	ck_assert_int_eq(rmdir(first.dir), 0);
	ck_assert(memcmp(first.back, "23456789", 8) == 0);
	ck_assert_int_eq(first.st.size, 10);
	ck_assert_int_eq(first.st.mtime_ns, 1000000000LL);
	ck_assert_int_ge(first.nres, 1);
	h2 = replay_run(path, body_calls, &n2);
	ck_assert_uint_eq(h1, h2);
	ck_assert_uint_eq(n1, n2);
	/* The replay touched no file, and saw what the run saw. */
	ck_assert_int_ne(access(first.dir, F_OK), 0);
	ck_assert(memcmp(&first, &seen, sizeof(seen)) == 0);
	unlink(path);
}
END_TEST

/* The record hash and event count that a reader finds (clean end). */
static uint64_t read_hash(const char *path, uint64_t *events)
{
	ac_rec_reader *r;
	uint64_t n;
	CK_OK(ac__rec_open(path, &r, NULL, 0));
	ck_assert_int_eq(read_all(r, &n), 0);
	*events = ac__rec_count(r);
	n = ac__rec_hash(r);
	ac__rec_close(r);
	return n;
}

START_TEST(test_epoll_echo_replay)
{
	char path[256], saw[sizeof(echo_got)];
	uint64_t h1, h2, h3, n1, n2, n3;
	size_t len;
	tmp_path(path, sizeof(path), "echo");
	CK_OK(ac_addr_parse(&echo_host, "127.0.0.1", 0));
	h1 = record_epoll(path, echo_body, &n1);
	ck_assert_uint_eq(echo_len, 21);
	memcpy(saw, echo_got, echo_len);
	len = echo_len;
	h3 = read_hash(path, &n3);
	memset(echo_got, 0, sizeof(echo_got));
	h2 = replay_run(path, echo_body, &n2);
	ck_assert_uint_gt(n1, 20);
	ck_assert_uint_eq(n1, n2);
	ck_assert_uint_eq(n1, n3);
	ck_assert_uint_eq(h1, h2);
	ck_assert_uint_eq(h1, h3);
	ck_assert_uint_eq(echo_len, len);
	ck_assert(memcmp(echo_got, saw, len) == 0);
	ck_assert(memcmp(echo_got, "hellocoroutinesockets", 21) == 0);
	unlink(path);
}
END_TEST

/* Copy the record at from to to, with byte k of event e's data2 changed.
 * Returns nothing; the copy is a valid record (new CRCs and hash). */
static void rewrite(const char *from, const char *to, uint64_t e, size_t k)
{
	ac_rec_reader *r;
	ac_rec_writer *w;
	ac_rec_event ev;
	uint8_t buf[1 << 16];
	int rc;
	CK_OK(ac__rec_open(from, &r, NULL, 0));
	CK_OK(ac__recw_open(to, ac__rec_header(r), NULL, NULL, &w));
	while ((rc = ac__rec_next(r, &ev)) == 1) {
		if (ev.seq == e) {
			ck_assert_uint_lt(k, ev.dlen2);
			ck_assert_uint_le(ev.dlen2, sizeof(buf));
			memcpy(buf, ev.data2, ev.dlen2);
			buf[k] ^= 0x04;
			ev.data2 = buf;
		}
		CK_OK(ac__recw_event(w, &ev));
	}
	ck_assert_int_eq(rc, 0);
	CK_OK(ac__recw_end(w));
	ac__recw_free(w);
	ac__rec_close(r);
}

/* The events of the echo record that matter: the first one that received
 * "hello" (the server's recv) and the first send after it (its echo). */
static void find_hello(const char *path, uint64_t *recv_ev, uint64_t *send_ev)
{
	ac_rec_reader *r;
	ac_rec_event ev;
	*recv_ev = *send_ev = UINT64_MAX;
	CK_OK(ac__rec_open(path, &r, NULL, 0));
	while (ac__rec_next(r, &ev) == 1) {
		if (*recv_ev == UINT64_MAX && ev.dlen2 == 5 && memcmp(ev.data2, "hello", 5) == 0)
			*recv_ev = ev.seq;
		else if (*recv_ev != UINT64_MAX && ev.kind == AC_REC_SUBMIT &&
		         ev.call == AC_OP_SEND) {
			*send_ev = ev.seq;
			break;
		}
	}
	ac__rec_close(r);
	ck_assert_uint_ne(*send_ev, UINT64_MAX);
}

/* A replay of the echo body, run as a scheduler does (epoll records). */
static uint64_t replay_echo(const char *path, uint64_t *events)
{
	return replay_run(path, echo_body, events);
}

typedef uint64_t (*replay_fn)(const char *path, uint64_t *events);

/* Replay path with fn in a child process with stderr into errpath; its
 * exit status. until >= 0 sets AC_REPLAY_UNTIL. */
static int replay_child(const char *path, const char *errpath, long until, replay_fn fn)
{
	int st, fd;
	pid_t pid;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char u[32];
		fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(99);
		if (until >= 0) {
			snprintf(u, sizeof(u), "%ld", until);
			setenv("AC_REPLAY_UNTIL", u, 1);
		}
		fn(path, NULL);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

START_TEST(test_replay_diverges)
{
	char path[256], bad[256], errp[256], want[96];
	uint64_t recv_ev, send_ev;
	size_t len;
	char *out;
	tmp_path(path, sizeof(path), "good");
	tmp_path(bad, sizeof(bad), "bad");
	tmp_path(errp, sizeof(errp), "err");
	CK_OK(ac_addr_parse(&echo_host, "127.0.0.1", 0));
	record_epoll(path, echo_body, NULL);
	find_hello(path, &recv_ev, &send_ev);
	/* "hello" received as "hallo": the server echoes it, which differs
	 * from the recorded send. */
	rewrite(path, bad, recv_ev, 1);
	ck_assert_int_eq(replay_child(bad, errp, -1, replay_echo), AC_REPLAY_EXIT_DIVERGED);
	out = (char *)slurp(errp, &len);
	out[len] = '\0';
	snprintf(want, sizeof(want), "replay diverged at event %llu (op ",
	         (unsigned long long)send_ev);
	ck_assert_msg(strstr(out, want) != NULL, "want \"%s\" in:\n%s", want, out);
	ck_assert_msg(strstr(out, "data differs at byte 1") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "the 5 events before:") != NULL, "%s", out);
	/* They are the record's events send_ev - 5 .. send_ev - 1, in order,
	 * each with its bytes (kept raw, formatted at the divergence). */
	{
		const char *at = strstr(out, "the 5 events before:");
		char line[32];
		int k;
		for (k = 5; k >= 1; k--) {
			snprintf(line, sizeof(line), "\n    #%llu ",
			         (unsigned long long)(send_ev - (uint64_t)k));
			at = strstr(at, line);
			ck_assert_msg(at != NULL, "no event %s in order in:\n%s", line + 5, out);
		}
		ck_assert_msg(strstr(out, "data2[5]=\"hallo\"") != NULL ||
		              strstr(out, "data[5]=\"hello\"") != NULL, "no bytes shown:\n%s", out);
	}
	printf("what a divergence looks like:\n%s", out);
	free(out);
	/* The unchanged record replays to its end. */
	ck_assert_int_eq(replay_child(path, errp, -1, replay_echo), 0);
	/* AC_REPLAY_UNTIL stops at the event named. */
	ck_assert_int_eq(replay_child(path, errp, (long)send_ev, replay_echo), AC_REPLAY_EXIT_UNTIL);
	out = (char *)slurp(errp, &len);
	out[len] = '\0';
	snprintf(want, sizeof(want), "stopped at event %llu\n", (unsigned long long)send_ev);
	ck_assert_str_eq(out, want);
	free(out);
	unlink(path);
	unlink(bad);
	unlink(errp);
}
END_TEST

/* The log lines of a scheduler, kept. */
static char logged[4][512];
static int nlogged;

static void keep_log(void *arg, int level, const char *text)
{
	(void)arg;
	(void)level;
	if (nlogged < 4)
		snprintf(logged[nlogged], sizeof(logged[0]), "%s", text);
	nlogged++;
}

/* Run the echo on a scheduler of default backend, with record_path. */
static void run_logged(const char *record_path)
{
	ac_sched_opts o;
	ac_sched *s;
	ac_sched_opts_init(&o);
	o.record_path = record_path;
	o.log_fn = keep_log;
	CK_OK(ac_sched_new(&o, &s));
	CK_OK(ac_spawn(s, echo_body, NULL, NULL, NULL));
	CK_OK(ac_sched_run(s));
	ac_sched_free(s);
}

START_TEST(test_sched_record_env)
{
	char path[256], path1[300], want[400];
	uint64_t h, h1, n, n1;
	CK_OK(ac_addr_parse(&echo_host, "127.0.0.1", 0));
	tmp_path(path, sizeof(path), "opt");
	snprintf(path1, sizeof(path1), "%s.1", path);
	/* Two schedulers naming one file: PATH, then PATH.1. */
	run_logged(path);
	run_logged(path);
	ck_assert_int_eq(nlogged, 2);
	h = read_hash(path, &n);
	h1 = read_hash(path1, &n1);
	snprintf(want, sizeof(want), "[node] record %s: %llu events, hash %016llx", path,
	         (unsigned long long)n, (unsigned long long)h);
	ck_assert_str_eq(logged[0], want);
	snprintf(want, sizeof(want), "[node] record %s: %llu events, hash %016llx", path1,
	         (unsigned long long)n1, (unsigned long long)h1);
	ck_assert_str_eq(logged[1], want);
	/* AC_REPLAY: a scheduler without a backend replays PATH, and says the
	 * same line. */
	setenv("AC_REPLAY", path, 1);
	nlogged = 0;
	run_logged(NULL);
	unsetenv("AC_REPLAY");
	ck_assert_int_eq(nlogged, 1);
	snprintf(want, sizeof(want), "[node] record %s: %llu events, hash %016llx", path,
	         (unsigned long long)n, (unsigned long long)h);
	ck_assert_str_eq(logged[0], want);
	/* AC_RECORD: the same, from the environment; the process's third
	 * record of that path is PATH.2. */
	snprintf(path1, sizeof(path1), "%s.2", path);
	setenv("AC_RECORD", path, 1);
	nlogged = 0;
	run_logged(NULL);
	unsetenv("AC_RECORD");
	ck_assert_int_eq(nlogged, 1);
	h = read_hash(path1, &n);
	snprintf(want, sizeof(want), "[node] record %s: %llu events, hash %016llx", path1,
	         (unsigned long long)n, (unsigned long long)h);
	ck_assert_str_eq(logged[0], want);
	unlink(path);
	unlink(path1);
	path1[strlen(path1) - 1] = '1';
	unlink(path1);
}
END_TEST

/* ---- the simulator --------------------------------------------------------------- */

static void sim_main(ac_sim_node *node, void *arg)
{
	(void)arg;
	ac_sim_node_addr(node, &echo_host);
	CK_OK(ac_spawn(ac_sim_node_sched(node), echo_body, NULL, NULL, NULL));
}

/* Run the echo in a world of one node (seed 7, buggify on), recording it
 * to path when path is not NULL. Returns the world's trace hash. */
static uint64_t sim_echo(const char *path)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_node *n;
	uint64_t th;
	ac_sim_opts_init(&o);
	o.seed = 7;
	o.buggify = 1;
	o.max_time_ns = 600LL * 1000000000;
	if (path)
		setenv("AC_RECORD", path, 1);
	CK_OK(ac_sim_new(&o, &w));
	CK_OK(ac_sim_node_add(w, "host", &n));
	CK_OK(ac_sim_node_set_main(n, sim_main, NULL));
	ck_assert_int_eq(ac_sim_run(w, ac_sim_all_finished, NULL), AC_SIM_DONE);
	th = ac_sim_trace_hash(w);
	ac_sim_free(w);
	unsetenv("AC_RECORD");
	return th;
}

/* Replay a sim node's record as the world drove it: a step before main,
 * then steps while the record polls. */
static uint64_t sim_replay(const char *path, uint64_t *events)
{
	ac_sched_opts so;
	ac_sched *s;
	ac_io *rp;
	uint64_t hash;
	CK_OK(ac_io_replay_new(path, &rp));
	ac_sched_opts_init(&so);
	so.io = rp;
	so.name = "host";
	CK_OK(ac_sched_new(&so, &s));
	ac_sched_step(s);
	CK_OK(ac_addr_parse(&echo_host, "10.0.0.1", 0));
	CK_OK(ac_spawn(s, echo_body, NULL, NULL, NULL));
	while (ac_io_replay_wants_poll(rp))
		ac_sched_step(s);
	ac_sched_free(s);
	hash = ac_io_record_hash(rp, events);
	ac_io_replay_free(rp);
	return hash;
}

START_TEST(test_sim_record_replay)
{
	char path[256], path2[256], errp[256], want[96], *out;
	uint64_t t0, t1, t2, h1, h2, hr, n1, n2, nr, recv_ev, send_ev;
	ac_rec_reader *r;
	size_t len;
	tmp_path(path, sizeof(path), "sim");
	tmp_path(path2, sizeof(path2), "sim2");
	t0 = sim_echo(NULL);
	t1 = sim_echo(path);
	t2 = sim_echo(path2);
	/* Recording does not change the world (no PRNG draws). */
	ck_assert_uint_eq(t0, t1);
	ck_assert_uint_eq(t1, t2);
	ck_assert(memcmp(echo_got, "hellocoroutinesockets", 21) == 0);
	/* The same seed makes the same record. */
	h1 = read_hash(path, &n1);
	h2 = read_hash(path2, &n2);
	ck_assert_uint_eq(h1, h2);
	ck_assert_uint_eq(n1, n2);
	CK_OK(ac__rec_open(path, &r, NULL, 0));
	ck_assert_str_eq(ac__rec_header(r)->backend, "sim");
	ck_assert_str_eq(ac__rec_header(r)->name, "host");
	ck_assert_uint_eq(ac__rec_header(r)->flags & AC_REC_HF_BUGGIFY, AC_REC_HF_BUGGIFY);
	ac__rec_close(r);
	/* And replays to the same hash. */
	memset(echo_got, 0, sizeof(echo_got));
	hr = sim_replay(path, &nr);
	ck_assert_uint_eq(hr, h1);
	ck_assert_uint_eq(nr, n1);
	ck_assert(memcmp(echo_got, "hellocoroutinesockets", 21) == 0);
	/* A changed received byte diverges at the echoing send, as on epoll. */
	find_hello(path, &recv_ev, &send_ev);
	rewrite(path, path2, recv_ev, 1);
	tmp_path(errp, sizeof(errp), "err");
	ck_assert_int_eq(replay_child(path2, errp, -1, sim_replay), AC_REPLAY_EXIT_DIVERGED);
	out = (char *)slurp(errp, &len);
	out[len] = '\0';
	snprintf(want, sizeof(want), "replay diverged at event %llu (op ",
	         (unsigned long long)send_ev);
	ck_assert_msg(strstr(out, want) != NULL, "want \"%s\" in:\n%s", want, out);
	free(out);
	unlink(errp);
	unlink(path);
	unlink(path2);
}
END_TEST

/* ---- the size of a record ------------------------------------------------------------ */

#define PING_ROUNDS 2000
#define PING_SIZE 64

static void ping_server(void *arg)
{
	ac_sock *l = arg, *k;
	char buf[PING_SIZE];
	CK_OK(ac_sock_accept(l, 5000, &k));
	while (ac_sock_recv_all(k, buf, PING_SIZE, 5000) == PING_SIZE)
		ck_assert_int_eq(ac_sock_send_all(k, buf, PING_SIZE, 5000), PING_SIZE);
	ac_sock_close(k);
}

static void ping_body(void *arg)
{
	ac_sock *l, *k;
	ac_addr a;
	ac_ref srv;
	char buf[PING_SIZE];
	int i;
	(void)arg;
	memset(buf, 'p', sizeof(buf));
	CK_OK(ac_sock_listen(NULL, &echo_host, 8, 0, &l));
	CK_OK(ac_sock_local_addr(l, &a));
	CK_OK(ac_spawn(NULL, ping_server, l, NULL, &srv));
	CK_OK(ac_sock_connect(&a, 5000, &k));
	for (i = 0; i < PING_ROUNDS; i++) {
		ck_assert_int_eq(ac_sock_send_all(k, buf, PING_SIZE, 5000), PING_SIZE);
		ck_assert_int_eq(ac_sock_recv_all(k, buf, PING_SIZE, 5000), PING_SIZE);
	}
	CK_OK(ac_sock_shutdown(k));
	CK_OK(ac_finish(srv, 5000, NULL));
	ac_sock_close(k);
	ac_sock_close(l);
}

/* A send/recv ping-pong of 64-byte messages: the record's bytes beyond
 * the bytes carried, per io.h call (a submit and its completion, a poll
 * and its end, count once) must be at most 32. Prints the figures. */
START_TEST(test_record_size)
{
	char path[256];
	ac_rec_reader *r;
	ac_rec_event ev;
	uint64_t events = 0, calls = 0, carried = 0;
	uint8_t *b;
	size_t size;
	double per_call, per_event;
	tmp_path(path, sizeof(path), "size");
	CK_OK(ac_addr_parse(&echo_host, "127.0.0.1", 0));
	record_epoll(path, ping_body, NULL);
	CK_OK(ac__rec_open(path, &r, NULL, 0));
	while (ac__rec_next(r, &ev) == 1) {
		events++;
		carried += ev.dlen + ev.dlen2;
		calls += ev.kind != AC_REC_COMPLETE && ev.kind != AC_REC_POLL_END &&
		         ev.kind != AC_REC_CONN && ev.kind != AC_REC_META;
	}
	ac__rec_close(r);
	b = slurp(path, &size);
	free(b);
	ck_assert_uint_ge(carried, 4 * PING_ROUNDS * PING_SIZE);
	/* Compressed, the record may be smaller than the bytes it carries. */
	per_call = ((double)size - (double)carried) / (double)calls;
	per_event = ((double)size - (double)carried) / (double)events;
	printf("record size: %zu bytes, %llu carried, %llu events, %llu calls: "
	       "%.1f bytes per event, %.1f per call beyond the bytes carried\n", size,
	       (unsigned long long)carried, (unsigned long long)events,
	       (unsigned long long)calls, per_event, per_call);
	ck_assert_msg(per_call <= 32.0, "%.1f bytes per call", per_call);
	unlink(path);
}
END_TEST

/* ---- AC_RECORD in a process that forks ----------------------------------------- */

static pid_t last_child;

/* In a child: the echo on a scheduler recording per AC_RECORD; exits 0. */
static void fork_echo(void)
{
	pid_t pid;
	int st;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alarm(60);
		nlogged = 0;
		run_logged(NULL);
		_exit(nlogged == 1 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	last_child = pid;
}

START_TEST(test_record_fork)
{
	char path[256], other[300];
	uint64_t h, n, h2, n2;
	struct stat sb;
	ac_rec_header hd;
	ac_rec_writer *w;
	CK_OK(ac_addr_parse(&echo_host, "127.0.0.1", 0));
	tmp_path(path, sizeof(path), "fork");
	/* The parent recorded PATH; its forked child records PATH.<pid>, and
	 * neither PATH nor PATH.1. */
	setenv("AC_RECORD", path, 1);
	run_logged(NULL);
	h = read_hash(path, &n);
	fork_echo();
	ck_assert_uint_eq(read_hash(path, &n2), h);
	snprintf(other, sizeof(other), "%s.%ld", path, (long)last_child);
	h2 = read_hash(other, &n2);
	ck_assert_uint_gt(n2, 20); /* the child's whole echo */
	ck_assert_uint_ne(h2, h);
	unlink(other);
	snprintf(other, sizeof(other), "%s.1", path);
	ck_assert_int_ne(stat(other, &sb), 0);
	unlink(path);
	/* A file another recorder holds open (as a parent that started this
	 * program would) is left alone: the child records PATH.<pid>. */
	tmp_path(path, sizeof(path), "busy");
	test_header(&hd);
	CK_OK(ac__recw_open(path, &hd, NULL, NULL, &w));
	setenv("AC_RECORD", path, 1);
	fork_echo();
	unsetenv("AC_RECORD");
	CK_OK(ac__recw_end(w));
	ac__recw_free(w);
	read_hash(path, &n);
	ck_assert_uint_eq(n, 0); /* the holder's record: no events, intact */
	snprintf(other, sizeof(other), "%s.%ld", path, (long)last_child);
	read_hash(other, &n2);
	ck_assert_uint_gt(n2, 20);
	unlink(other);
	unlink(path);
}
END_TEST

/* ---- refusals: another build, another secret ------------------------------------ */

/* Replay the echo with AC_REPLAY=path, as a program that names no backend
 * does (in a child: replay_child). */
static uint64_t replay_env(const char *path, uint64_t *events)
{
	(void)events;
	setenv("AC_REPLAY", path, 1);
	run_logged(NULL);
	return 0;
}

/* Change field k (0 .. 8) of h; its name. */
static const char *header_change(ac_rec_header *h, int k)
{
	static const char *const names[] = {"exe_build_id", "lib_build_id", "lib_version",
		"zlib_ver", "openssl_version", "msgpack_version", "arch", "page_size",
		"io_version"};
	char *f[] = {h->exe_build_id, h->lib_build_id, h->lib_version, h->zlib_ver,
		h->openssl_version, h->msgpack_version, h->arch};
	if (k < 7)
		f[k][0] = f[k][0] == 'Z' ? 'Y' : 'Z';
	else if (k == 7)
		h->page_size *= 4;
	else
		h->io_version++;
	return names[k];
}

/* Copy the record at from to to, with field k of its header changed
 * (k < 0: unchanged); the field's name. */
static const char *rewrite_header(const char *from, const char *to, int k)
{
	ac_rec_reader *r;
	ac_rec_writer *w;
	ac_rec_event ev;
	ac_rec_header h;
	const char *name = "";
	int rc;
	CK_OK(ac__rec_open(from, &r, NULL, 0));
	h = *ac__rec_header(r);
	if (k >= 0)
		name = header_change(&h, k);
	CK_OK(ac__recw_open(to, &h, NULL, NULL, &w));
	while ((rc = ac__rec_next(r, &ev)) == 1)
		CK_OK(ac__recw_event(w, &ev));
	ck_assert_int_eq(rc, 0);
	CK_OK(ac__recw_end(w));
	ac__recw_free(w);
	ac__rec_close(r);
	return name;
}

/* The text of the file at path (NUL-terminated; free it). */
static char *slurp_text(const char *path)
{
	size_t len;
	char *out = (char *)slurp(path, &len);
	out[len] = '\0';
	return out;
}

START_TEST(test_replay_refuses_build)
{
	char path[256], other[256], errp[256], want[512];
	const char *name;
	char *out;
	int k;
	tmp_path(path, sizeof(path), "build");
	tmp_path(other, sizeof(other), "other");
	tmp_path(errp, sizeof(errp), "err");
	CK_OK(ac_addr_parse(&echo_host, "127.0.0.1", 0));
	record_epoll(path, echo_body, NULL);
	/* The same header: replayed. */
	rewrite_header(path, other, -1);
	ck_assert_int_eq(replay_child(other, errp, -1, replay_env), 0);
	for (k = 0; k < 9; k++) {
		name = rewrite_header(path, other, k);
		ck_assert_int_eq(replay_child(other, errp, -1, replay_env), AC_REPLAY_EXIT_REFUSED);
		out = slurp_text(errp);
		snprintf(want, sizeof(want), "replay refused: record %s was made by another "
		         "build or library: %s: record '", other, name);
		ck_assert_msg(strstr(out, want) == out, "want \"%s\" in:\n%s", want, out);
		ck_assert_msg(strchr(out, ';') == NULL, "one difference only:\n%s", out);
		if (k == 0)
			printf("what a refusal looks like:\n%s", out);
		free(out);
	}
	/* AC_REPLAY_ANY_BUILD=1: a warning, and the replay runs. */
	setenv("AC_REPLAY_ANY_BUILD", "1", 1);
	ck_assert_int_eq(replay_child(other, errp, -1, replay_env), 0);
	unsetenv("AC_REPLAY_ANY_BUILD");
	out = slurp_text(errp);
	ck_assert_msg(strstr(out, "replay: warning: record ") == out, "%s", out);
	free(out);
	/* The library's own call says -EPROTO. */
	{
		ac_io *rp = NULL;
		ck_assert_int_eq(ac_io_replay_new(other, &rp), -EPROTO);
		ck_assert_ptr_null(rp);
	}
	unlink(path);
	unlink(other);
	unlink(errp);
}
END_TEST

static const char *node_secret;
static uint16_t node_udp;

/* A node starts with node_secret on 127.0.0.1 and ends in order. */
static void node_life(ac_io *io)
{
	ac_sched_opts so;
	ac_node_opts o;
	ac_sched *s;
	ac_node *n;
	ac_sched_opts_init(&so);
	so.io = io;
	so.log_level = AC_LOG_ERROR;
	CK_OK(ac_sched_new(&so, &s));
	ac_node_opts_init(&o);
	o.node = "127.0.0.1";
	o.udp_port = node_udp;
	o.discover_peers = 0;
	o.name = "keeper";
	o.secret = node_secret;
	CK_OK(ac_node_start(s, &o, &n));
	CK_OK(ac_sched_finish(s));
	ac_sched_free(s);
}

static uint64_t replay_node(const char *path, uint64_t *events)
{
	ac_io *rp;
	uint64_t hash;
	CK_OK(ac_io_replay_new(path, &rp));
	node_life(rp);
	hash = ac_io_record_hash(rp, events);
	ac_io_replay_free(rp);
	return hash;
}

/* The fingerprint of secret as doc/record.md defines it. */
static void fingerprint(const char *secret, char out[AC_REC_FPR_HEX + 1])
{
	static const char label[] = "asyncoro record: secret fingerprint v1";
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mlen = 0, i;
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), label, (int)strlen(label),
	                           (const uint8_t *)secret, strlen(secret), mac, &mlen));
	ck_assert_uint_eq(mlen, 32);
	for (i = 0; i < AC_REC_FPR_HEX / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

START_TEST(test_replay_refuses_secret)
{
	static const char secret[] = "correct-horse-battery";
	char path[256], errp[256], fpr[AC_REC_FPR_HEX + 1], want[512];
	ac_io *ep, *rec;
	ac_rec_reader *r;
	ac_rec_event ev;
	int notes = 0;
	size_t len;
	uint8_t *bytes;
	char *out;
	tmp_path(path, sizeof(path), "secret");
	tmp_path(errp, sizeof(errp), "err");
	node_udp = (uint16_t)(20000 + getpid() % 20000);
	node_secret = secret;
	CK_OK(ac_io_epoll_new(&ep));
	CK_OK(ac_io_record_new(ep, path, &rec));
	node_life(rec);
	ac_io_record_free(rec);
	ac_io_epoll_free(ep);
	/* One note, the fingerprint; the secret itself is nowhere. */
	fingerprint(secret, fpr);
	CK_OK(ac__rec_open(path, &r, NULL, 0));
	while (ac__rec_next(r, &ev) == 1)
		if (ev.kind == AC_REC_META && ev.dlen == strlen(AC_REC_META_SECRET) &&
		    memcmp(ev.data, AC_REC_META_SECRET, ev.dlen) == 0) {
			ck_assert_uint_eq(ev.dlen2, AC_REC_FPR_HEX);
			ck_assert(memcmp(ev.data2, fpr, AC_REC_FPR_HEX) == 0);
			notes++;
		}
	ac__rec_close(r);
	ck_assert_int_eq(notes, 1);
	bytes = slurp(path, &len);
	ck_assert_ptr_null(memmem(bytes, len, secret, strlen(secret)));
	free(bytes);
	/* The same secret replays; another is refused, naming both prints. */
	ck_assert_int_eq(replay_child(path, errp, -1, replay_node), 0);
	node_secret = "correct-horse-batterY";
	ck_assert_int_eq(replay_child(path, errp, -1, replay_node), AC_REPLAY_EXIT_REFUSED);
	out = slurp_text(errp);
	snprintf(want, sizeof(want), "replay refused: record %s was made by a node with "
	         "another secret (secret fingerprint: record %s, this program ", path, fpr);
	ck_assert_msg(strstr(out, want) == out, "want \"%s\" in:\n%s", want, out);
	free(out);
	unlink(path);
	unlink(errp);
}
END_TEST

/* ---- the suite ---------------------------------------------------------------- */

static Suite *record_suite(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tcase_create("format");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_crc32_is_zlibs);
	tcase_add_test(tc, test_xxh64_vectors);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_corrupt_byte);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_not_a_record);
	tcase_add_test(tc, test_fuzz);
	tcase_add_test(tc, test_fuzz_bodies);
	tcase_add_test(tc, test_write_error);
	tcase_add_test(tc, test_direct_same_bytes);
	tcase_add_test(tc, test_write_error_direct);
	tcase_add_test(tc, test_lz_round_trip);
	tcase_add_test(tc, test_lz_mutations);
	tcase_add_test(tc, test_blocks_round_trip);
	tcase_add_test(tc, test_skip_rule);
	tcase_add_test(tc, test_corrupt_blocks);
	tcase_add_test(tc, test_size_incompressible);
	suite_add_tcase(s, tc);
	tc = tcase_create("run");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_epoll_echo_replay);
	tcase_add_test(tc, test_calls_replay);
	tcase_add_test(tc, test_replay_diverges);
	tcase_add_test(tc, test_sched_record_env);
	tcase_add_test(tc, test_sim_record_replay);
	tcase_add_test(tc, test_record_size);
	tcase_add_test(tc, test_replay_refuses_build);
	tcase_add_test(tc, test_record_fork);
	tcase_add_test(tc, test_replay_refuses_secret);
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
