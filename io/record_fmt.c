/* io/record_fmt.c: the pure part of the record format (doc/record.md) —
 * encoding and decoding one event frame, the record hash (XXH64), and the
 * names and one-line text of events.
 *
 * No I/O and no state outside the callers' structs: the recorder, the
 * replayer, the reader and acpcap share it. An event body is a presence
 * mask and the fields present, each an integer coded as a zigzag varint of
 * its difference to a prediction made from the events before (so an op id,
 * a clock reading or a length that is what one would guess costs nothing),
 * addresses as raw bytes and byte strings with a varint length. A frame is
 * [length varint][kind][seq & 0xff][body][CRC32 of everything before, LE].
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "io/crc32.h"
#include "io/record.h"

/* Bits of the presence mask (doc/record.md): the common fields take the
 * low seven, so the mask is one byte for nearly every event. */
enum {
	F_OP = 1 << 0,
	F_CALL = 1 << 1,
	F_H = 1 << 2,
	F_RC = 1 << 3,
	F_A = 1 << 4,
	F_DATA = 1 << 5,
	F_DATA2 = 1 << 6,
	F_RES = 1 << 7,
	F_B = 1 << 8,
	F_C = 1 << 9,
	F_ADDR = 1 << 10,
	F_ADDR2 = 1 << 11,
	F_ALL = (1 << 12) - 1
};

/* Body bytes beyond the two data strings, at most: mask, call, op, h, five
 * integers, two string lengths, two addresses. */
#define REC_BODY_FIXED_MAX (3 + 5 + 10 + 5 + 5 * 10 + 2 * 10 + 2 * 24)
/* Frame bytes beyond the body: length varint, kind, seq, CRC. */
#define REC_FRAME_EXTRA (5 + 2 + 4)

/* ---- XXH64 -------------------------------------------------------------------- */

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

static uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* A little-endian u64 (one load on a little-endian host). */
static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(&v, p, sizeof(v));
#else
	int i;
	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
#endif
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t xxh_round(uint64_t acc, uint64_t in)
{
	acc += in * P2;
	acc = rotl64(acc, 31);
	return acc * P1;
}

static uint64_t xxh_merge(uint64_t acc, uint64_t v)
{
	acc ^= xxh_round(0, v);
	return acc * P1 + P4;
}

void ac__rec_xxh_init(ac_rec_xxh *x)
{
	memset(x, 0, sizeof(*x));
	x->v[0] = P1 + P2;
	x->v[1] = P2;
	x->v[2] = 0;
	x->v[3] = (uint64_t)0 - P1;
}

/* The 32-byte stripes of [p, p + len) (len a multiple of 32) into x's
 * accumulators, kept in locals meanwhile (p may alias x). */
static void xxh_stripes(ac_rec_xxh *x, const uint8_t *p, size_t len)
{
	uint64_t v0 = x->v[0], v1 = x->v[1], v2 = x->v[2], v3 = x->v[3];
	const uint8_t *end = p + len;

	for (; p < end; p += 32) {
		v0 = xxh_round(v0, rd64(p));
		v1 = xxh_round(v1, rd64(p + 8));
		v2 = xxh_round(v2, rd64(p + 16));
		v3 = xxh_round(v3, rd64(p + 24));
	}
	x->v[0] = v0;
	x->v[1] = v1;
	x->v[2] = v2;
	x->v[3] = v3;
}

void ac__rec_xxh_update(ac_rec_xxh *x, const void *data, size_t len)
{
	const uint8_t *p = data;

	x->total += len;
	if (x->memlen + len < 32) {
		if (len)
			memcpy(x->mem + x->memlen, p, len);
		x->memlen += (uint32_t)len;
		return;
	}
	if (x->memlen) {
		size_t k = 32 - x->memlen;
		memcpy(x->mem + x->memlen, p, k);
		xxh_stripes(x, x->mem, 32);
		p += k;
		len -= k;
		x->memlen = 0;
	}
	xxh_stripes(x, p, len & ~(size_t)31);
	p += len & ~(size_t)31;
	len &= 31;
	if (len)
		memcpy(x->mem, p, len);
	x->memlen = (uint32_t)len;
}

uint64_t ac__rec_xxh_digest(const ac_rec_xxh *x)
{
	const uint8_t *p = x->mem, *end = x->mem + x->memlen;
	uint64_t h;
	int i;

	if (x->total >= 32) {
		h = rotl64(x->v[0], 1) + rotl64(x->v[1], 7) + rotl64(x->v[2], 12) +
		    rotl64(x->v[3], 18);
		for (i = 0; i < 4; i++)
			h = xxh_merge(h, x->v[i]);
	} else {
		h = P5;
	}
	h += x->total;
	for (; p + 8 <= end; p += 8)
		h = rotl64(h ^ xxh_round(0, rd64(p)), 27) * P1 + P4;
	if (p + 4 <= end) {
		h = rotl64(h ^ ((uint64_t)rd32(p) * P1), 23) * P2 + P3;
		p += 4;
	}
	for (; p < end; p++)
		h = rotl64(h ^ (*p * P5), 11) * P1;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	return h ^ (h >> 32);
}

/* ---- predictions ---------------------------------------------------------------- */

/* What each integer field is coded against (doc/record.md, "Predictions"). */
typedef struct rec_pred {
	uint64_t op;
	int64_t rc;
} rec_pred;

static rec_pred rec_predict(const ac_rec_enc *st, uint32_t kind)
{
	rec_pred p = {0, 0};

	if (kind == AC_REC_SUBMIT)
		p.op = st->last_sub + 1;
	else if (kind == AC_REC_COMPLETE || kind == AC_REC_CANCEL)
		p.op = st->last_op;
	if (kind == AC_REC_NOW)
		p.rc = st->last_now;
	else if (kind == AC_REC_WALL)
		p.rc = st->last_wall;
	return p;
}

static int64_t rec_pred_a(const ac_rec_enc *st, uint32_t kind, size_t dlen)
{
	if (kind == AC_REC_SUBMIT)
		return (int64_t)dlen;
	if (kind == AC_REC_POLL)
		return st->last_now;
	return 0;
}

static int64_t rec_pred_res(uint32_t kind, int64_t rc, int64_t a, size_t dlen2)
{
	if (kind == AC_REC_SUBMIT)
		return rc == AC_IO_DONE ? (dlen2 ? (int64_t)dlen2 : a) : 0;
	if (kind == AC_REC_COMPLETE)
		return (int64_t)dlen2;
	if (kind == AC_REC_CANCEL)
		return dlen2 ? (int64_t)dlen2 : a;
	return 0;
}

static void rec_advance(ac_rec_enc *st, const ac_rec_event *ev)
{
	st->seq++;
	if (ev->op != 0)
		st->last_op = ev->op;
	if (ev->kind == AC_REC_SUBMIT)
		st->last_sub = ev->op;
	if (ev->kind == AC_REC_NOW)
		st->last_now = ev->rc;
	else if (ev->kind == AC_REC_WALL)
		st->last_wall = ev->rc;
}

/* ---- encoding -------------------------------------------------------------------- */

/* o + n, or NULL while only sizing. */
#define AT(o, n) ((o) ? (o) + (n) : NULL)

static size_t put_varint(uint8_t *o, uint64_t v)
{
	size_t n = 0;
	do {
		uint8_t b = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			b |= 0x80;
		if (o)
			o[n] = b;
		n++;
	} while (v);
	return n;
}

/* v against its prediction p, zigzag coded (modulo 2^64). */
static size_t put_zz(uint8_t *o, uint64_t v, uint64_t p)
{
	uint64_t d = v - p;
	return put_varint(o, (d << 1) ^ (uint64_t)-(int64_t)(d >> 63));
}

static size_t put_bytes(uint8_t *o, const uint8_t *p, size_t len)
{
	size_t n = put_varint(o, len);
	if (o && len)
		memcpy(o + n, p, len);
	return n + len;
}

static int addr_present(const ac_addr *a)
{
	return a->family == AC_AF_INET || a->family == AC_AF_INET6;
}

static size_t put_addr(uint8_t *o, const ac_addr *a)
{
	size_t iplen = a->family == AC_AF_INET ? 4 : 16;
	if (o) {
		o[0] = a->family;
		o[1] = (uint8_t)a->port;
		o[2] = (uint8_t)(a->port >> 8);
		memcpy(o + 3, a->ip, iplen);
	}
	if (a->family == AC_AF_INET)
		return 3 + iplen;
	return 3 + iplen + put_varint(AT(o, 3 + iplen), a->scope);
}

static uint32_t rec_mask(const ac_rec_enc *st, const ac_rec_event *ev)
{
	rec_pred p = rec_predict(st, ev->kind);
	int64_t pa = rec_pred_a(st, ev->kind, ev->dlen);
	uint32_t m = 0;

	m |= ev->op != p.op ? F_OP : 0;
	m |= ev->call != 0 ? F_CALL : 0;
	m |= ev->h != -1 ? F_H : 0;
	m |= ev->rc != p.rc ? F_RC : 0;
	m |= ev->a != pa ? F_A : 0;
	m |= ev->dlen > 0 ? F_DATA : 0;
	m |= ev->dlen2 > 0 ? F_DATA2 : 0;
	m |= ev->res != rec_pred_res(ev->kind, ev->rc, ev->a, ev->dlen2) ? F_RES : 0;
	m |= ev->b != 0 ? F_B : 0;
	m |= ev->c != 0 ? F_C : 0;
	m |= addr_present(&ev->addr) ? F_ADDR : 0;
	m |= addr_present(&ev->addr2) ? F_ADDR2 : 0;
	return m;
}

/* One byte string field: with cut NULL its length and bytes; else only its
 * length, *cut getting the offset (from o) where its bytes belong. */
static size_t put_field_bytes(uint8_t *o, const uint8_t *p, size_t len, size_t n,
                              size_t *cut)
{
	if (cut == NULL)
		return put_bytes(AT(o, n), p, len);
	*cut = n + put_varint(AT(o, n), len);
	return *cut - n;
}

/* The body of ev into o (NULL: only its size); returns its size. With cut
 * NULL, the whole body; else the body without the bytes of data and data2
 * (cut[0] and cut[1]: the offsets in o where they belong, 0 when absent). */
static size_t rec_body_cut(const ac_rec_enc *st, const ac_rec_event *ev, uint8_t *o,
                           size_t *cut)
{
	rec_pred p = rec_predict(st, ev->kind);
	uint32_t m = rec_mask(st, ev);
	size_t n = put_varint(o, m);

	if (m & F_CALL)
		n += put_varint(AT(o, n), ev->call);
	if (m & F_OP)
		n += put_zz(AT(o, n), ev->op, p.op);
	if (m & F_H)
		n += put_zz(AT(o, n), (uint64_t)(int64_t)ev->h, (uint64_t)-1);
	if (m & F_RC)
		n += put_zz(AT(o, n), (uint64_t)ev->rc, (uint64_t)p.rc);
	if (cut)
		cut[0] = cut[1] = 0;
	if (m & F_DATA)
		n += put_field_bytes(o, ev->data, ev->dlen, n, cut);
	if (m & F_DATA2)
		n += put_field_bytes(o, ev->data2, ev->dlen2, n, cut ? cut + 1 : NULL);
	if (m & F_A)
		n += put_zz(AT(o, n), (uint64_t)ev->a,
		            (uint64_t)rec_pred_a(st, ev->kind, ev->dlen));
	if (m & F_RES)
		n += put_zz(AT(o, n), (uint64_t)ev->res,
		            (uint64_t)rec_pred_res(ev->kind, ev->rc, ev->a, ev->dlen2));
	if (m & F_B)
		n += put_zz(AT(o, n), (uint64_t)ev->b, 0);
	if (m & F_C)
		n += put_zz(AT(o, n), (uint64_t)ev->c, 0);
	if (m & F_ADDR)
		n += put_addr(AT(o, n), &ev->addr);
	if (m & F_ADDR2)
		n += put_addr(AT(o, n), &ev->addr2);
	return n;
}

static size_t rec_body(const ac_rec_enc *st, const ac_rec_event *ev, uint8_t *o)
{
	return rec_body_cut(st, ev, o, NULL);
}

size_t ac__rec_frame_bound(const ac_rec_event *ev)
{
	size_t room = AC_REC_FRAME_MAX - REC_BODY_FIXED_MAX - REC_FRAME_EXTRA;

	if (ev->dlen > room || ev->dlen2 > room - ev->dlen)
		return 0;
	return ev->dlen + ev->dlen2 + REC_BODY_FIXED_MAX + REC_FRAME_EXTRA;
}

size_t ac__rec_encode(ac_rec_enc *st, const ac_rec_event *ev, uint8_t *out)
{
	size_t body = rec_body(st, ev, NULL);
	size_t k = put_varint(out, 2 + body), n;
	uLong crc;

	out[k] = (uint8_t)ev->kind;
	out[k + 1] = (uint8_t)st->seq;
	rec_body(st, ev, out + k + 2);
	n = k + 2 + body;
	crc = ac__crc32(0, out, n);
	out[n] = (uint8_t)crc;
	out[n + 1] = (uint8_t)(crc >> 8);
	out[n + 2] = (uint8_t)(crc >> 16);
	out[n + 3] = (uint8_t)(crc >> 24);
	rec_advance(st, ev);
	return n + 4;
}

size_t ac__rec_encode_split(ac_rec_enc *st, const ac_rec_event *ev, uint8_t *out,
                            size_t cut[2])
{
	size_t body = rec_body(st, ev, NULL);
	size_t k = put_varint(out, 2 + body), n;
	uint32_t crc;

	out[k] = (uint8_t)ev->kind;
	out[k + 1] = (uint8_t)st->seq;
	n = k + 2 + rec_body_cut(st, ev, out + k + 2, cut);
	/* The frame's CRC, over its bytes in order: the strings' included. */
	if (cut[0])
		cut[0] += k + 2;
	if (cut[1])
		cut[1] += k + 2;
	crc = 0;
	if (cut[0]) {
		crc = ac__crc32(crc, out, cut[0]);
		crc = ac__crc32(crc, ev->data, ev->dlen);
	}
	crc = ac__crc32(crc, out + cut[0], (cut[1] ? cut[1] : n) - cut[0]);
	if (cut[1]) {
		crc = ac__crc32(crc, ev->data2, ev->dlen2);
		crc = ac__crc32(crc, out + cut[1], n - cut[1]);
	}
	out[n] = (uint8_t)crc;
	out[n + 1] = (uint8_t)(crc >> 8);
	out[n + 2] = (uint8_t)(crc >> 16);
	out[n + 3] = (uint8_t)(crc >> 24);
	rec_advance(st, ev);
	return n + 4;
}

void ac__rec_event_init(ac_rec_event *ev, uint32_t kind)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->h = -1;
}

/* ---- decoding -------------------------------------------------------------------- */

/* A read position in a body; bad is set (and sticks) on any malformation. */
typedef struct rec_cur {
	const uint8_t *p;
	const uint8_t *end;
	const char *bad;
} rec_cur;

static uint64_t get_varint(rec_cur *c)
{
	uint64_t v = 0;
	int shift = 0;

	while (c->p < c->end && !c->bad) {
		uint8_t b = *c->p++;
		if (shift == 63 && b > 1)
			break;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
		shift += 7;
	}
	if (!c->bad)
		c->bad = "bad varint";
	return 0;
}

static uint64_t get_zz(rec_cur *c, uint64_t p)
{
	uint64_t z = get_varint(c);
	return p + ((z >> 1) ^ (uint64_t)-(int64_t)(z & 1));
}

static void get_bytes(rec_cur *c, const uint8_t **out, size_t *len)
{
	uint64_t n = get_varint(c);

	if (c->bad)
		return;
	if (n > (uint64_t)(c->end - c->p)) {
		c->bad = "string longer than its event";
		return;
	}
	*out = n ? c->p : NULL;
	*len = (size_t)n;
	c->p += n;
}

static void get_addr(rec_cur *c, ac_addr *a)
{
	size_t iplen;

	if (c->bad)
		return;
	if (c->end - c->p < 7 || (c->p[0] != AC_AF_INET && c->p[0] != AC_AF_INET6)) {
		c->bad = "bad address";
		return;
	}
	iplen = c->p[0] == AC_AF_INET ? 4 : 16;
	if ((size_t)(c->end - c->p) < 3 + iplen) {
		c->bad = "bad address";
		return;
	}
	a->family = c->p[0];
	a->port = (uint16_t)(c->p[1] | c->p[2] << 8);
	memcpy(a->ip, c->p + 3, iplen);
	c->p += 3 + iplen;
	if (a->family == AC_AF_INET6) {
		uint64_t s = get_varint(c);
		if (s > UINT32_MAX && !c->bad)
			c->bad = "bad address scope";
		a->scope = (uint32_t)s;
	}
}

/* The fields of mask m from c into ev, in the body's order. */
static void rec_fields(const ac_rec_enc *st, uint32_t m, rec_cur *c, ac_rec_event *ev)
{
	rec_pred p = rec_predict(st, ev->kind);
	uint64_t v;

	ev->op = p.op;
	ev->rc = p.rc;
	if (m & F_CALL) {
		v = get_varint(c);
		if (v > UINT32_MAX && !c->bad)
			c->bad = "bad call";
		ev->call = (uint32_t)v;
	}
	if (m & F_OP)
		ev->op = get_zz(c, p.op);
	if (m & F_H) {
		int64_t h = (int64_t)get_zz(c, (uint64_t)-1);
		if ((h < INT32_MIN || h > INT32_MAX) && !c->bad)
			c->bad = "bad handle";
		ev->h = (int32_t)h;
	}
	if (m & F_RC)
		ev->rc = (int64_t)get_zz(c, (uint64_t)p.rc);
	if (m & F_DATA)
		get_bytes(c, &ev->data, &ev->dlen);
	if (m & F_DATA2)
		get_bytes(c, &ev->data2, &ev->dlen2);
	ev->a = rec_pred_a(st, ev->kind, ev->dlen);
	if (m & F_A)
		ev->a = (int64_t)get_zz(c, (uint64_t)ev->a);
	ev->res = rec_pred_res(ev->kind, ev->rc, ev->a, ev->dlen2);
	if (m & F_RES)
		ev->res = (int64_t)get_zz(c, (uint64_t)ev->res);
	if (m & F_B)
		ev->b = (int64_t)get_zz(c, 0);
	if (m & F_C)
		ev->c = (int64_t)get_zz(c, 0);
	if (m & F_ADDR)
		get_addr(c, &ev->addr);
	if (m & F_ADDR2)
		get_addr(c, &ev->addr2);
}

int ac__rec_decode(ac_rec_enc *st, uint32_t kind, const uint8_t *p, size_t n,
                   ac_rec_event *ev, const char **why)
{
	rec_cur c = {p, p + n, NULL};
	uint64_t m;

	ac__rec_event_init(ev, kind);
	ev->seq = st->seq;
	if (ac__rec_kind_name(kind) == NULL) {
		*why = "unknown event kind";
		return -EBADMSG;
	}
	m = get_varint(&c);
	if (!c.bad && (m & ~(uint64_t)F_ALL))
		c.bad = "unknown fields";
	if (!c.bad)
		rec_fields(st, (uint32_t)m, &c, ev);
	if (!c.bad && c.p != c.end)
		c.bad = "bytes after the last field";
	if (c.bad) {
		*why = c.bad;
		return -EBADMSG;
	}
	rec_advance(st, ev);
	return 0;
}

/* ---- names and text ------------------------------------------------------------- */

const char *ac__rec_kind_name(uint32_t kind)
{
	static const char *const names[] = {
		NULL, "NOW", "WALL", "ENTROPY", "POLL", "POLL_END", "PENDING", "SUBMIT",
		"COMPLETE", "CANCEL", "CALL", "CONN", "META", "END"
	};
	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : NULL;
}

const char *ac__rec_call_name(uint32_t call)
{
	static const char *const names[] = {
		NULL, "tcp_listen", "shutdown", "udp_bind", "local_addr", "peer_addr",
		"close", "fd_attach", "resolve", "host_addrs", "file_open", "file_pread",
		"file_pwrite", "file_sync", "file_close", "file_fstat", "file_stat",
		"file_rename", "file_unlink", "file_mkdir", "file_set_meta", "temp_dir",
		"buggify"
	};
	return call < sizeof(names) / sizeof(names[0]) ? names[call] : NULL;
}

const char *ac__rec_op_name(uint32_t type)
{
	static const char *const names[] = {
		NULL, "accept", "connect", "recv", "send", "recvfrom", "sendto", "read",
		"write"
	};
	return type < sizeof(names) / sizeof(names[0]) ? names[type] : NULL;
}

/* Append printf-style text at *n in buf (of size len), never overflowing. */
static void rec_cat(char *buf, size_t len, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void rec_cat(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*n >= len)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *n, len - *n, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n = *n + (size_t)k < len ? *n + (size_t)k : len - 1;
}

/* " name[len]=\"preview\"" of at most 16 bytes. */
static void rec_cat_bytes(char *buf, size_t len, size_t *n, const char *name,
                          const uint8_t *p, size_t dlen)
{
	size_t i;

	rec_cat(buf, len, n, " %s[%zu]=\"", name, dlen);
	for (i = 0; i < dlen && i < AC_REC_FORMAT_BYTES; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
			rec_cat(buf, len, n, "%c", p[i]);
		else
			rec_cat(buf, len, n, "\\x%02x", p[i]);
	}
	rec_cat(buf, len, n, "\"%s", dlen > AC_REC_FORMAT_BYTES ? "..." : "");
}

static void rec_cat_addr(char *buf, size_t len, size_t *n, const char *name,
                         const ac_addr *a)
{
	char t[AC_ADDR_STRLEN];

	if (addr_present(a))
		rec_cat(buf, len, n, " %s=%s", name, ac_addr_format(a, t, sizeof(t)));
}

char *ac__rec_event_format(const ac_rec_event *ev, char *buf, size_t len)
{
	const char *kn = ac__rec_kind_name(ev->kind), *cn = NULL;
	size_t n = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	rec_cat(buf, len, &n, "#%llu %s", (unsigned long long)ev->seq, kn ? kn : "?");
	if (ev->op)
		rec_cat(buf, len, &n, " op=%llu", (unsigned long long)ev->op);
	if (ev->kind == AC_REC_SUBMIT)
		cn = ac__rec_op_name(ev->call);
	else if (ev->kind == AC_REC_CALL)
		cn = ac__rec_call_name(ev->call);
	if (cn)
		rec_cat(buf, len, &n, " %s", cn);
	else if (ev->call)
		rec_cat(buf, len, &n, " call=%u", (unsigned)ev->call);
	if (ev->h != -1)
		rec_cat(buf, len, &n, " h=%d", (int)ev->h);
	if (ev->a)
		rec_cat(buf, len, &n, " a=%lld", (long long)ev->a);
	if (ev->b)
		rec_cat(buf, len, &n, " b=%lld", (long long)ev->b);
	if (ev->c)
		rec_cat(buf, len, &n, " c=%lld", (long long)ev->c);
	rec_cat(buf, len, &n, " rc=%lld", (long long)ev->rc);
	if (ev->res)
		rec_cat(buf, len, &n, " res=%lld", (long long)ev->res);
	rec_cat_addr(buf, len, &n, "addr", &ev->addr);
	rec_cat_addr(buf, len, &n, "addr2", &ev->addr2);
	if (ev->dlen)
		rec_cat_bytes(buf, len, &n, "data", ev->data, ev->dlen);
	if (ev->dlen2)
		rec_cat_bytes(buf, len, &n, "data2", ev->data2, ev->dlen2);
	return buf;
}
