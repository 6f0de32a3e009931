/* tests/fuzz/seeds.c: the seed generator of the fuzz corpora
 * (tests/fuzz/seeds.sh runs it; tests/fuzz/README.md says when).
 *
 *   seeds DIR              write the seeds of pack, zip, path, frames and
 *                          discover into DIR/NAME/seed-*
 *   seeds pcapng IN OUT    rewrite the classic pcap IN as a pcapng OUT
 *                          (section, one interface, enhanced packets)
 *   seeds reblock IN OUT   rewrite the record IN with its event stream in
 *                          blocks of 4 KiB, LZ and stored in turn (a seed
 *                          of many blocks of both methods)
 *
 * Seeds are small, valid (or nearly valid) inputs of each target's input
 * format, so the fuzzers start past the framing: every body format of
 * doc/protocol.md packed with ac_pack; zlib streams; (dir, name) pairs;
 * post-authentication frame streams naming the fuzz world's real objects
 * (their refs come from running tests/fuzz/fuzz_net.c's world); discovery
 * announcements. The record and pcap seeds come from acsim and acpcap
 * (seeds.sh).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "io/rec_lz.h"
#include "io/record.h"
#include "net/wire.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_net.h"

static const char *sd_dir;

/* Write DIR/target/seed-name from a prefix byte (-1: none) and bytes. */
static void sd_put(const char *target, const char *name, int prefix,
                   const void *p, size_t len)
{
	char path[512];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", sd_dir, target);
	mkdir(path, 0777);
	snprintf(path, sizeof(path), "%s/%s/seed-%s", sd_dir, target, name);
	f = fopen(path, "wb");
	fz_check(f != NULL);
	if (prefix >= 0)
		fputc(prefix, f);
	fz_check(fwrite(p, 1, len, f) == len || len == 0);
	fz_check(fclose(f) == 0);
}

/* A growing byte buffer. */
typedef struct sd_buf {
	uint8_t b[65536];
	size_t n;
} sd_buf;

static void sd_frame(sd_buf *s, uint8_t type, uint8_t flags, uint32_t id,
                     const void *body, size_t len)
{
	fz_check(s->n + AC_WIRE_HDR + len <= sizeof(s->b));
	ac_wire_hdr_put(s->b + s->n, type, flags, id, (uint32_t)len);
	memcpy(s->b + s->n + AC_WIRE_HDR, body, len);
	s->n += AC_WIRE_HDR + len;
}

/* ac_pack into a frame of s, then free. */
#define SD_FRAME(s, type, flags, id, ...)                                   \
	do {                                                                \
		void *b_;                                                   \
		size_t l_;                                                  \
		fz_check(ac_pack(&b_, &l_, __VA_ARGS__) == 0);              \
		sd_frame((s), (type), (flags), (id), b_, l_);               \
		free(b_);                                                   \
	} while (0)

static void sd_pack(void)
{
	ac_addr loc;
	ac_ref r = {0};
	void *b;
	size_t len;
	uint8_t nonce[32] = {1, 2, 3};
	fz_check(ac_addr_parse(&loc, "10.0.0.1", 7000) == 0);
	r.kind = AC_REF_CORO;
	r.loc = loc;
	r.inc = 77;
	r.id = 5;
#define PK(name, ...)                                                       \
	do {                                                                \
		fz_check(ac_pack(&b, &len, __VA_ARGS__) == 0);              \
		sd_put("pack", name, -1, b, len);                           \
		free(b);                                                    \
	} while (0)
	PK("hello", "[u u S s l u u u]", (uint64_t)AC_WIRE_MAGIC, (uint64_t)1, nonce,
	   (size_t)32, "atk", &loc, (uint64_t)9, (uint64_t)1, (uint64_t)0);
	PK("send", "[r u u r S]", r, (uint64_t)0, (uint64_t)0, r, "hi", (size_t)2);
	PK("chan", "[u r r [u u r S] i i]", (uint64_t)4, r, r, (uint64_t)0, (uint64_t)0,
	   r, "x", (size_t)1, (int64_t)100, (int64_t)-1);
	PK("file", "[s n u i u b]", "f.txt", (uint64_t)10, (int64_t)-5, (uint64_t)0644, 1);
	PK("map", "{s i s [d n]}", "k", (int64_t)-300000, "v", 1.5);
	PK("announce", "[u u s l u u b]", (uint64_t)AC_WIRE_MAGIC, (uint64_t)1, "n",
	   &loc, (uint64_t)3, (uint64_t)51350, 0);
	PK("finish", "[i [u u r S]]", (int64_t)0, (uint64_t)1, (uint64_t)2, r, "", (size_t)0);
#undef PK
}

static void sd_zip(void)
{
	static const char text[] = "coroutine message node peer channel send 42 "
	                           "coroutine message node peer channel send 42";
	uint8_t z[512], zeros[4096] = {0};
	uLongf zl = sizeof(z);
	fz_check(compress2(z, &zl, (const Bytef *)text, sizeof(text) - 1, 1) == Z_OK);
	sd_put("zip", "text", 4, z, zl);
	zl = sizeof(z);
	fz_check(compress2(z, &zl, zeros, sizeof(zeros), 9) == Z_OK);
	sd_put("zip", "zeros-small-bound", 1, z, zl);
	sd_put("zip", "zeros", 255, z, zl);
	zl = sizeof(z);
	fz_check(compress2(z, &zl, (const Bytef *)"", 0, 1) == Z_OK);
	sd_put("zip", "empty", 0, z, zl);
}

static void sd_path(void)
{
	static const char *const pairs[][2] = {
		{"a/b", "f.txt"}, {NULL, "file"}, {"a/b/", "x"}, {"..", "x"},
		{"a/../b", "x"}, {"/etc", "passwd"}, {"", ".ac-tmp-1"}, {"a", ".."},
	};
	size_t i;
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		uint8_t b[256];
		size_t n = 0;
		char name[16];
		if (pairs[i][0]) {
			n = strlen(pairs[i][0]);
			memcpy(b, pairs[i][0], n);
			b[n++] = 0xff;
		}
		memcpy(b + n, pairs[i][1], strlen(pairs[i][1]));
		n += strlen(pairs[i][1]);
		snprintf(name, sizeof(name), "%zu", i);
		sd_put("path", name, -1, b, n);
	}
}

/* Post-authentication frames naming the fuzz world's objects. */
typedef struct sd_refs {
	ac_ref echo, news, worker, me, none;
} sd_refs;

/* Subscribe, send, deliver, unsubscribe on "news". */
static void sd_chan(sd_buf *s, const sd_refs *r)
{
	static const uint64_t op[4] = {1, 3, 4, 2};
	static const uint32_t id[4] = {7, 0, 8, 9};
	int i;
	for (i = 0; i < 4; i++) {
		int sub = op[i] == 1 || op[i] == 2;
		SD_FRAME(s, AC_WT_CHAN, 0, id[i], "[u r r [u u r S] i i]", op[i], r->news,
		         sub ? r->me : r->none, (uint64_t)0, (uint64_t)0, r->me, "d",
		         (size_t)(op[i] == 1 || op[i] == 2 ? 0 : 1),
		         (int64_t)(op[i] == 4 ? 100 : 0), (int64_t)(op[i] == 4 ? 1 : 0));
	}
}

static void sd_requests(sd_buf *s, const sd_refs *r, int which)
{
	switch (which) {
	case 0:
		sd_frame(s, AC_WT_PING, 0, 1, NULL, 0);
		break;
	case 1:
		SD_FRAME(s, AC_WT_LOCATE, 0, 2, "[u s]", (uint64_t)AC_REF_CORO, "echo");
		break;
	case 2:
		SD_FRAME(s, AC_WT_SEND, 0, 0, "[r u u r S]", r->echo, (uint64_t)0,
		         (uint64_t)0, r->me, "hi", (size_t)2);
		break;
	case 3:
		SD_FRAME(s, AC_WT_DELIVER, 0, 3, "[r u u r S]", r->echo, (uint64_t)0,
		         (uint64_t)0, r->me, "hi", (size_t)2);
		break;
	case 4:
		SD_FRAME(s, AC_WT_MONITOR, 0, 4, "[r r]", r->me, r->echo);
		break;
	case 5:
		SD_FRAME(s, AC_WT_FINISH, 0, 6, "[r i]", r->echo, (int64_t)100);
		break;
	case 6:
		sd_chan(s, r);
		break;
	case 7:
		SD_FRAME(s, AC_WT_RCI_CALL, 0, 10, "[r [u u r S]]", r->worker, (uint64_t)0,
		         (uint64_t)0, r->me, "args", (size_t)4);
		break;
	case 8:
		SD_FRAME(s, AC_WT_FILE_BEGIN, 0, 11, "[s s u i u b]", "f.txt", "d",
		         (uint64_t)5, (int64_t)0, (uint64_t)0644, 1);
		SD_FRAME(s, AC_WT_FILE_DATA, 0, 12, "[u u S]", (uint64_t)11, (uint64_t)0,
		         "hello", (size_t)5);
		SD_FRAME(s, AC_WT_FILE_END, 0, 13, "[u]", (uint64_t)11);
		break;
	case 9:
		SD_FRAME(s, AC_WT_DEL_FILE, 0, 14, "[s s]", "f.txt", "d");
		break;
	case 10:
		SD_FRAME(s, AC_WT_EXIT, 0, 15, "[r u u r S]", r->me, (uint64_t)1,
		         (uint64_t)0, r->echo, "", (size_t)0);
		break;
	case 11:
		SD_FRAME(s, AC_WT_TERMINATE, 0, 5, "[r r]", r->echo, r->none);
		break;
	case 12: {
		/* A zlib body (the harness offers zlib) and a stray reply. */
		void *b;
		size_t len;
		uint8_t z[256];
		uLongf zl = sizeof(z);
		fz_check(ac_pack(&b, &len, "[u s]", (uint64_t)AC_REF_CHAN, "news") == 0);
		fz_check(compress2(z, &zl, b, len, 1) == Z_OK);
		free(b);
		sd_frame(s, AC_WT_LOCATE, AC_WF_ZLIB, 16, z, zl);
		sd_frame(s, AC_WT_PING, AC_WF_REPLY, 99, "\x90", 1);
		break;
	}
	default:
		sd_frame(s, AC_WT_BYE, 0, 0, NULL, 0);
		break;
	}
}

static void sd_frames(void)
{
	static const char *const names[] = {
		"ping", "locate", "send", "deliver", "monitor", "finish", "chan",
		"rci", "file", "delfile", "exit", "terminate", "zlib-reply", "bye",
	};
	sd_refs r;
	sd_buf all = {.n = 0}, one;
	uint8_t nc[AC_WIRE_NONCE] = {0};
	ac_addr atk;
	void *b;
	size_t len;
	int i;
	memset(&r, 0, sizeof(r));
	fz_net_refs(&r.echo, &r.news, &r.worker);
	fz_check(ac_addr_parse(&atk, "10.0.0.2", FZ_TCP_PORT) == 0);
	r.me.kind = AC_REF_CORO;
	r.me.loc = atk;
	r.me.inc = 0x1234567890abcdefULL;
	r.me.id = 1;
	for (i = 0; i < 14; i++) {
		one.n = 0;
		sd_requests(&one, &r, i);
		sd_put("frames", names[i], 1, one.b, one.n);
		if (i < 13)
			sd_requests(&all, &r, i);
	}
	sd_put("frames", "all", 1, all.b, all.n);
	sd_put("frames", "all-pieces", 3, all.b, all.n);
	/* Raw streams: a HELLO, then a wrong AUTH. */
	one.n = 0;
	SD_FRAME(&one, AC_WT_HELLO, 0, 0, "[u u S s l u u u]", (uint64_t)AC_WIRE_MAGIC,
	         (uint64_t)AC_WIRE_VERSION, nc, (size_t)AC_WIRE_NONCE, "atk", &atk,
	         (uint64_t)5, (uint64_t)1, (uint64_t)0);
	sd_put("frames", "raw-hello", 0, one.b, one.n);
	fz_check(ac_pack(&b, &len, "[S]", nc, (size_t)AC_WIRE_MAC) == 0);
	sd_frame(&one, AC_WT_AUTH, 0, 0, b, len);
	free(b);
	sd_put("frames", "raw-bad-auth", 0, one.b, one.n);
}

static void sd_announce(sd_buf *s, const char *ip, int relay, int mac)
{
	ac_addr loc;
	uint8_t dg[1024];
	size_t len;
	void *b;
	fz_check(ac_addr_parse(&loc, ip, FZ_TCP_PORT) == 0);
	fz_check(ac_pack(&b, &len, "[u u s l u u b]", (uint64_t)AC_WIRE_MAGIC,
	                 (uint64_t)AC_WIRE_VERSION, "atk", &loc, (uint64_t)5,
	                 (uint64_t)FZ_UDP_PORT, relay) == 0);
	ac_wire_hdr_put(dg, AC_WT_ANNOUNCE, 0, 0, (uint32_t)len);
	memcpy(dg + AC_WIRE_HDR, b, len);
	free(b);
	len += AC_WIRE_HDR;
	if (mac) {
		fz_net_hmac(dg, len, dg + len);
		len += AC_WIRE_MAC;
	}
	s->b[s->n++] = (uint8_t)(len >> 8);
	s->b[s->n++] = (uint8_t)len;
	memcpy(s->b + s->n, dg, len);
	s->n += len;
}

static void sd_discover(void)
{
	sd_buf s = {.n = 0};
	sd_announce(&s, "10.0.0.2", 0, 0);
	sd_put("discover", "announce", 1, s.b, s.n);
	s.n = 0;
	sd_announce(&s, "10.0.0.2", 1, 0);
	sd_announce(&s, "10.0.0.3", 0, 0);
	sd_put("discover", "relay-two", 1, s.b, s.n);
	s.n = 0;
	sd_announce(&s, "10.0.0.2", 0, 1);
	sd_put("discover", "own-mac", 0, s.b, s.n);
}

/* ---- pcap to pcapng ------------------------------------------------------------ */

static void sd_le32(FILE *f, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	fz_check(fwrite(b, 1, 4, f) == 4);
}

static uint32_t sd_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Classic little-endian pcap (nanosecond magic) to pcapng. */
static int sd_pcapng(const char *in, const char *out)
{
	static uint8_t buf[1 << 20];
	FILE *f = fopen(in, "rb"), *o;
	size_t n, at = 24;
	if (!f)
		return 1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n < 24 || sd_get32(buf) != 0xa1b23c4du)
		return 1;
	o = fopen(out, "wb");
	fz_check(o != NULL);
	/* Section header: type, length, byte-order magic, version 1.0, length
	 * unknown (-1 as 64 bits), length. */
	sd_le32(o, 0x0a0d0d0a), sd_le32(o, 28), sd_le32(o, 0x1a2b3c4d);
	sd_le32(o, 1), sd_le32(o, 0xffffffffu), sd_le32(o, 0xffffffffu), sd_le32(o, 28);
	/* Interface: link type, snaplen, option if_tsresol = 9 (ns), end. */
	sd_le32(o, 1), sd_le32(o, 32), sd_le32(o, sd_get32(buf + 20) & 0xffff);
	sd_le32(o, sd_get32(buf + 16));
	sd_le32(o, 9 | 1u << 16), sd_le32(o, 9), sd_le32(o, 0), sd_le32(o, 32);
	while (at + 16 <= n) {
		uint32_t cap = sd_get32(buf + at + 8), pad;
		uint64_t ts = (uint64_t)sd_get32(buf + at) * 1000000000u + sd_get32(buf + at + 4);
		if (cap > n - at - 16)
			break;
		pad = (4 - cap % 4) % 4;
		sd_le32(o, 6), sd_le32(o, 32 + cap + pad), sd_le32(o, 0);
		sd_le32(o, (uint32_t)(ts >> 32)), sd_le32(o, (uint32_t)ts);
		sd_le32(o, cap), sd_le32(o, sd_get32(buf + at + 12));
		fz_check(fwrite(buf + at + 16, 1, cap, o) == cap);
		fz_check(fwrite("\0\0\0", 1, pad, o) == pad);
		sd_le32(o, 32 + cap + pad);
		at += 16 + cap;
	}
	fz_check(fclose(o) == 0);
	return 0;
}

/* ---- a record in small blocks ------------------------------------------------- */

static void sd_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* IN's stream (its blocks inflated) in blocks of 4 KiB: even ones LZ
 * (stored when that does not shrink them), odd ones stored. */
static int sd_reblock(const char *in, const char *out)
{
	static uint8_t b[1 << 20], raw[4 << 20], o[5 << 20];
	static uint32_t table[AC_LZ_TABLE];
	FILE *f = fopen(in, "rb");
	size_t n, hl, at, rl = 0, ol, k, i;
	if (!f)
		return 1;
	n = fread(b, 1, sizeof(b), f);
	fclose(f);
	if (n < 20 || (hl = 20 + (size_t)sd_get32(b + 12)) > n)
		return 1;
	for (at = hl; at + AC_REC_BLOCK_HEAD <= n; at += AC_REC_BLOCK_HEAD + sd_get32(b + at + 5)) {
		uint32_t r = sd_get32(b + at + 1), st = sd_get32(b + at + 5);
		fz_check(r <= sizeof(raw) - rl && st <= n - at - AC_REC_BLOCK_HEAD);
		if (b[at] == AC_REC_BLOCK_STORED)
			memcpy(raw + rl, b + at + AC_REC_BLOCK_HEAD, r);
		else
			fz_check(ac__lz_decompress(b + at + AC_REC_BLOCK_HEAD, st, raw + rl, r) == 0);
		rl += r;
	}
	memcpy(o, b, hl);
	for (at = 0, ol = hl, i = 0; at < rl; at += k, i++) {
		size_t z = 0;
		k = rl - at < 4096 ? rl - at : 4096;
		if (i % 2 == 0)
			z = ac__lz_compress(raw + at, k, o + ol + AC_REC_BLOCK_HEAD, k - 1, table);
		if (z == 0)
			memcpy(o + ol + AC_REC_BLOCK_HEAD, raw + at, z = k);
		o[ol] = z < k ? AC_REC_BLOCK_LZ : AC_REC_BLOCK_STORED;
		sd_put32(o + ol + 1, (uint32_t)k);
		sd_put32(o + ol + 5, (uint32_t)z);
		sd_put32(o + ol + 9, (uint32_t)crc32(0L, o + ol, 9));
		ol += AC_REC_BLOCK_HEAD + z;
	}
	f = fopen(out, "wb");
	fz_check(f != NULL);
	fz_check(fwrite(o, 1, ol, f) == ol);
	fz_check(fclose(f) == 0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "pcapng"))
		return sd_pcapng(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "reblock"))
		return sd_reblock(argv[2], argv[3]);
	if (argc != 2) {
		fprintf(stderr, "usage: seeds DIR | seeds pcapng IN OUT | seeds reblock IN OUT\n");
		return 2;
	}
	sd_dir = argv[1];
	sd_pack();
	sd_zip();
	sd_path();
	sd_frames();
	sd_discover();
	return 0;
}
