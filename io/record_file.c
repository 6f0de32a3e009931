/* io/record_file.c: record files — the writer (a header, then the event
 * frames as a stream cut into blocks, each compressed with io/rec_lz.c or
 * stored as it is when that does not make it smaller: events are buffered
 * in memory and a block written with write(2) per 256 KiB of frames — the
 * bytes of an event carrying REC_DIRECT bytes or more are compressed from
 * where the caller has them, not copied —, then END)
 * and the reader (header, then blocks inflated into its buffer, one event
 * per call, every byte checked).
 *
 * The file format is doc/record.md; the event encoding is record_fmt.c's.
 * A write error or a full disk stops the writer for good: one line through
 * its log callback, later events are dropped, and the file ends inside or
 * after the block being written (a reader reports it truncated after the
 * last whole event). The reader must survive any input (it is fuzzed):
 * every length is checked against what is there, a block header has its
 * own CRC, a compressed block must decode to exactly its length, a frame
 * is at most AC_REC_FRAME_MAX bytes, the buffer only grows while it is
 * full of bytes actually inflated, and a length reaching past what the
 * rest of the input can inflate to (AC_LZ_RATIO bytes per byte) reads as
 * a cut record at once.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include "io/crc32.h"
#include "io/rec_lz.h"
#include "io/record.h"

/* The first 8 bytes of every record. */
static const uint8_t rec_magic[8] = { 'A', 'C', 'R', 'E', 'C', 0, '\r', '\n' };
/* Bytes before the header fields: magic, version, fields' length. */
#define REC_PREAMBLE 16
/* The writer writes a block when this much is buffered. */
#define REC_CHUNK (256u * 1024)
/* An event carrying at least this many bytes (data and data2) is written
 * with the buffered events before it at once, its bytes compressed from
 * where they are instead of being copied into the buffer. */
#define REC_DIRECT (64u * 1024)
/* The reader's first input buffer. */
#define REC_READ_MIN (64u * 1024)
/* A block of at least REC_JUDGE raw bytes that does not compress to half
 * its size or less makes the writer store the next REC_SKIP raw bytes of
 * such blocks without trying (compressing what barely shrinks costs more
 * CPU than writing it; see doc/record.md, "Blocks"). */
#define REC_JUDGE (4u * 1024)
#define REC_SKIP (7u * REC_CHUNK)
/* Shorthands. */
#define BHEAD AC_REC_BLOCK_HEAD
#define BMAX AC_REC_BLOCK_MAX

/* Header field tags (doc/record.md, "Header"). */
enum {
	T_IO_VERSION = 1,
	T_BACKEND = 2,
	T_ARG = 3,
	T_EXE_BUILD_ID = 4,
	T_LIB_BUILD_ID = 5,
	T_LIB_VERSION = 6,
	T_ZLIB_VERSION = 7,
	T_OPENSSL_VERSION = 8,
	T_MSGPACK_VERSION = 9,
	T_ARCH = 10,
	T_PAGE_SIZE = 11,
	T_WALL_NS = 12,
	T_MONO_NS = 13,
	T_NAME = 14,
	T_FLAGS = 15
};

static void put_le32(uint8_t *o, uint32_t v)
{
	o[0] = (uint8_t)v;
	o[1] = (uint8_t)(v >> 8);
	o[2] = (uint8_t)(v >> 16);
	o[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* ---- header fields --------------------------------------------------------------- */

/* Append a varint at o (NULL: just count); returns its size. */
static size_t hv(uint8_t *o, uint64_t v)
{
	size_t n = 0;
	do {
		if (o)
			o[n] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		n++;
		v >>= 7;
	} while (v);
	return n;
}

/* One field: tag, length, value bytes. */
static size_t hfield(uint8_t *o, uint32_t tag, const void *p, size_t len)
{
	size_t n = hv(o, tag);
	n += hv(o ? o + n : NULL, len);
	if (o && len)
		memcpy(o + n, p, len);
	return n + len;
}

static size_t hstr(uint8_t *o, uint32_t tag, const char *s)
{
	return s && *s ? hfield(o, tag, s, strlen(s)) : 0;
}

static size_t hint(uint8_t *o, uint32_t tag, uint64_t v)
{
	uint8_t b[10];
	return hfield(o, tag, b, hv(b, v));
}

static uint64_t zz(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* The header's fields into o (NULL: just their size). */
static size_t rec_hfields(const ac_rec_header *h, uint8_t *o)
{
	size_t n = 0;
	int i;
#define O (o ? o + n : NULL)
	n += hint(O, T_IO_VERSION, h->io_version);
	n += hstr(O, T_BACKEND, h->backend);
	for (i = 0; i < h->argc && h->argv; i++)
		n += hfield(O, T_ARG, h->argv[i], h->argv[i] ? strlen(h->argv[i]) : 0);
	n += hstr(O, T_EXE_BUILD_ID, h->exe_build_id);
	n += hstr(O, T_LIB_BUILD_ID, h->lib_build_id);
	n += hstr(O, T_LIB_VERSION, h->lib_version);
	n += hstr(O, T_ZLIB_VERSION, h->zlib_ver);
	n += hstr(O, T_OPENSSL_VERSION, h->openssl_version);
	n += hstr(O, T_MSGPACK_VERSION, h->msgpack_version);
	n += hstr(O, T_ARCH, h->arch);
	n += hint(O, T_PAGE_SIZE, h->page_size);
	n += hint(O, T_WALL_NS, zz(h->wall_ns));
	n += hint(O, T_MONO_NS, zz(h->mono_ns));
	n += hstr(O, T_NAME, h->name);
	n += hint(O, T_FLAGS, h->flags);
#undef O
	return n;
}

/* ---- the writer ------------------------------------------------------------------ */

struct ac_rec_writer {
	int fd;
	/* Frames not in a block yet: buf[0, len) (cap bytes). */
	uint8_t *buf;
	size_t len;
	size_t cap;
	/* Blocks and header bytes not written yet: out[0, olen) (ocap bytes:
	 * room for two blocks). */
	uint8_t *out;
	size_t olen;
	size_t ocap;
	ac_rec_enc enc;
	ac_rec_xxh xxh;
	/* 0, or the error that stopped recording. */
	int err;
	int ended;
	ac_rec_log_fn log;
	void *log_arg;
	char *path;
	/* Raw bytes of large blocks still to store without trying
	 * (REC_SKIP). */
	size_t skip;
	/* The compressor's hash table. */
	uint32_t table[AC_LZ_TABLE];
};

/* Stop recording for good, saying so once. */
static void recw_stop(ac_rec_writer *w, int err, const char *what)
{
	char line[512];

	if (w->err)
		return;
	w->err = err;
	if (w->log == NULL)
		return;
	snprintf(line, sizeof(line), "record %s: %s (%s): recording stopped after event "
	         "%lld, the record is truncated", w->path, what, strerror(-err),
	         (long long)w->enc.seq - 1);
	w->log(w->log_arg, line);
}

/* Write p[0, len) in full; 0 or the error that stopped recording. */
static int recw_write_all(ac_rec_writer *w, const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len && !w->err) {
		ssize_t n = write(w->fd, p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			recw_stop(w, n < 0 ? -errno : -EIO, "write failed");
		else
			off += (size_t)n;
	}
	return w->err;
}

/* Write out[0, olen) and empty it; 0 or the error. */
static int recw_write_out(ac_rec_writer *w)
{
	recw_write_all(w, w->out, w->olen);
	w->olen = 0;
	return w->err;
}

/* Compress the block p[0, n) into o (room: n - 1 bytes), unless REC_SKIP
 * says to store it; its stored length, or 0 to store it. */
static size_t recw_squeeze(ac_rec_writer *w, const uint8_t *p, size_t n, uint8_t *o)
{
	size_t z;

	if (n >= REC_JUDGE && w->skip > 0) {
		w->skip = w->skip > n ? w->skip - n : 0;
		return 0;
	}
	z = ac__lz_compress(p, n, o, n - 1, w->table);
	if (n >= REC_JUDGE && (z == 0 || z > n / 2))
		w->skip = REC_SKIP;
	return z;
}

/* Append the stream bytes p[0, len) to out as blocks of at most BMAX raw
 * bytes, each compressed when that makes it smaller (recw_squeeze), else
 * stored (out is written first when it has no room for a block). 0 or the
 * error. */
static int recw_blocks(ac_rec_writer *w, const uint8_t *p, size_t len)
{
	while (len > 0 && !w->err) {
		size_t n = len < BMAX ? len : BMAX, z;
		uint8_t *o;
		if (w->olen + BHEAD + n > w->ocap && recw_write_out(w) < 0)
			break;
		o = w->out + w->olen;
		z = recw_squeeze(w, p, n, o + BHEAD);
		o[0] = z ? AC_REC_BLOCK_LZ : AC_REC_BLOCK_STORED;
		if (z == 0) {
			memcpy(o + BHEAD, p, n);
			z = n;
		}
		put_le32(o + 1, (uint32_t)n);
		put_le32(o + 5, (uint32_t)z);
		put_le32(o + 9, ac__crc32(0, o, 9));
		w->olen += BHEAD + z;
		p += n;
		len -= n;
	}
	return w->err;
}

/* The buffered frames into blocks, and every block out to the file. */
static int recw_flush(ac_rec_writer *w)
{
	if (w->len > 0)
		recw_blocks(w, w->buf, w->len);
	w->len = 0;
	return recw_write_out(w);
}

/* Room for n more bytes in the buffer (flushing first); 0 or -errno. */
static int recw_room(ac_rec_writer *w, size_t n)
{
	uint8_t *b;

	if (w->len + n <= w->cap)
		return 0;
	if (recw_flush(w) < 0)
		return w->err;
	if (n <= w->cap)
		return 0;
	b = realloc(w->buf, n);
	if (b == NULL) {
		recw_stop(w, -ENOMEM, "no memory for an event");
		return w->err;
	}
	w->buf = b;
	w->cap = n;
	return 0;
}

/* The header, written at once (not in a block). 0 or -errno. */
static int recw_header(ac_rec_writer *w, const ac_rec_header *h)
{
	size_t hl = rec_hfields(h, NULL), n = REC_PREAMBLE + hl + 4;
	uint8_t *b;
	int rc;

	if (hl > AC_REC_HEADER_MAX)
		return -E2BIG;
	b = malloc(n);
	if (b == NULL)
		return -ENOMEM;
	memcpy(b, rec_magic, 8);
	put_le32(b + 8, AC_REC_VERSION);
	put_le32(b + 12, (uint32_t)hl);
	rec_hfields(h, b + REC_PREAMBLE);
	put_le32(b + REC_PREAMBLE + hl, (uint32_t)ac__crc32(0, b, REC_PREAMBLE + hl));
	rc = recw_write_all(w, b, n);
	free(b);
	return rc;
}

int ac__recw_open(const char *path, const ac_rec_header *h, ac_rec_log_fn log,
                  void *log_arg, ac_rec_writer **out)
{
	ac_rec_writer *w = calloc(1, sizeof(*w));
	int rc;

	if (w == NULL)
		return -ENOMEM;
	w->cap = 2 * REC_CHUNK;
	w->buf = malloc(w->cap);
	w->ocap = 2 * (BHEAD + BMAX);
	w->out = malloc(w->ocap);
	w->path = strdup(path);
	ac__rec_xxh_init(&w->xxh);
	w->fd = -1;
	if (w->buf == NULL || w->out == NULL || w->path == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	/* Locked while written: another process's recorder finds it busy
	 * (and leaves it alone); truncated only once locked. */
	w->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (flock(w->fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	if (ftruncate(w->fd, 0) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = recw_header(w, h);
	if (rc < 0)
		goto fail;
	w->log = log;
	w->log_arg = log_arg;
	*out = w;
	return 0;
fail:
	if (w->fd >= 0)
		close(w->fd);
	free(w->buf);
	free(w->out);
	free(w->path);
	free(w);
	return rc;
}

/* A large event (REC_DIRECT): the frame without its strings goes to the
 * buffer; then the buffered frames before the event and the frame's
 * pieces in order become blocks, each string compressed from where it is
 * (not copied), and are written at once. What follows the last string
 * (the frame's end) stays in the buffer, for the next block.
 * bound: ac__rec_frame_bound(ev). 0 or the error. */
static int recw_event_direct(ac_rec_writer *w, const ac_rec_event *ev, size_t bound)
{
	const uint8_t *str[2] = {ev->data, ev->data2};
	size_t slen[2] = {ev->dlen, ev->dlen2};
	size_t cut[2], start, n, seg = 0, at;
	int i;

	if (recw_room(w, bound - ev->dlen - ev->dlen2) < 0)
		return w->err;
	start = w->len;
	n = ac__rec_encode_split(&w->enc, ev, w->buf + start, cut);
	/* The buffered frames before it were hashed when buffered. */
	at = start;
	for (i = 0; i < 2; i++) {
		if (cut[i] == 0)
			continue;
		ac__rec_xxh_update(&w->xxh, w->buf + at, start + cut[i] - at);
		ac__rec_xxh_update(&w->xxh, str[i], slen[i]);
		at = start + cut[i];
		recw_blocks(w, w->buf + seg, at - seg);
		recw_blocks(w, str[i], slen[i]);
		seg = at;
	}
	ac__rec_xxh_update(&w->xxh, w->buf + at, start + n - at);
	memmove(w->buf, w->buf + seg, start + n - seg);
	w->len = start + n - seg;
	return recw_write_out(w);
}

int ac__recw_event(ac_rec_writer *w, const ac_rec_event *ev)
{
	size_t bound, n;

	if (w->err || w->ended)
		return w->err ? w->err : -EPIPE;
	bound = ac__rec_frame_bound(ev);
	if (bound == 0) {
		recw_stop(w, -EMSGSIZE, "event too large for a frame");
		return w->err;
	}
	if (ev->dlen + ev->dlen2 >= REC_DIRECT)
		return recw_event_direct(w, ev, bound);
	if (recw_room(w, bound) < 0)
		return w->err;
	n = ac__rec_encode(&w->enc, ev, w->buf + w->len);
	ac__rec_xxh_update(&w->xxh, w->buf + w->len, n);
	w->len += n;
	if (w->len >= REC_CHUNK)
		return recw_flush(w);
	return 0;
}

int ac__recw_end(ac_rec_writer *w)
{
	uint64_t hash = ac__recw_hash(w);
	uint8_t b[8];
	ac_rec_event ev;
	int i;

	if (w->err || w->ended)
		return w->err ? w->err : -EPIPE;
	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(hash >> (8 * i));
	ac__rec_event_init(&ev, AC_REC_END);
	ev.data = b;
	ev.dlen = 8;
	if (recw_room(w, ac__rec_frame_bound(&ev)) < 0)
		return w->err;
	w->len += ac__rec_encode(&w->enc, &ev, w->buf + w->len);
	w->ended = 1;
	return recw_flush(w);
}

uint64_t ac__recw_count(const ac_rec_writer *w)
{
	return w->enc.seq - (uint64_t)w->ended;
}

uint64_t ac__recw_hash(const ac_rec_writer *w)
{
	return ac__rec_xxh_digest(&w->xxh);
}

int ac__recw_stopped(const ac_rec_writer *w)
{
	return w->err != 0;
}

void ac__recw_free(ac_rec_writer *w)
{
	if (w == NULL)
		return;
	recw_flush(w);
	if (w->fd >= 0)
		close(w->fd);
	free(w->buf);
	free(w->out);
	free(w->path);
	free(w);
}

/* ---- the reader: bytes ----------------------------------------------------------- */

struct ac_rec_reader {
	/* The file, or -1 when reading memory. */
	int fd;
	/* The input not used yet: in[in_start, in_end). fd: in = in_own, a
	 * buffer of in_cap bytes; memory: the caller's bytes. */
	const uint8_t *in;
	uint8_t *in_own;
	size_t in_cap;
	size_t in_start;
	size_t in_end;
	/* fd, regular file: bytes of the file not read yet; else -1. */
	int64_t file_left;
	/* The inflated event stream not consumed yet: raw[start, end) (cap
	 * bytes). */
	uint8_t *raw;
	size_t cap;
	size_t start;
	size_t end;
	/* 0 while reading; 1 after a clean end; else the error. */
	int state;
	ac_rec_enc dec;
	ac_rec_xxh xxh;
	ac_rec_header hdr;
	/* The last event's frame. */
	const uint8_t *frame;
	size_t frame_len;
	char err[192];
};

/* Set the reader's error (and the message), return it. */
static int rd_fail(ac_rec_reader *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int rd_fail(ac_rec_reader *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->state = err;
	return err;
}

/* Make the input buffer able to hold need bytes from in_start: move the
 * unused ones to its start, grow it when still too small. 0 or -ENOMEM. */
static int src_room(ac_rec_reader *r, size_t need)
{
	size_t have = r->in_end - r->in_start, cap = r->in_cap;
	uint8_t *b;

	if (r->in_start > 0) {
		memmove(r->in_own, r->in_own + r->in_start, have);
		r->in_start = 0;
		r->in_end = have;
	}
	if (need <= cap && r->in_end < cap)
		return 0;
	while (cap < need || cap == r->in_end)
		cap *= 2;
	b = realloc(r->in_own, cap);
	if (b == NULL)
		return -ENOMEM;
	r->in_own = b;
	r->in = b;
	r->in_cap = cap;
	return 0;
}

/* Have at least need input bytes not used yet (need is at most a header
 * or a block). 1: yes; 0: the input ends first; or a negative errno. */
static int src_fill(ac_rec_reader *r, size_t need)
{
	while (r->in_end - r->in_start < need) {
		size_t have = r->in_end - r->in_start;
		ssize_t n;
		int rc;
		if (r->fd < 0 || r->file_left == 0)
			return 0;
		if (r->file_left > 0 && need - have > (uint64_t)r->file_left)
			return 0;
		if ((r->in_cap - r->in_start < need || r->in_end == r->in_cap) &&
		    (rc = src_room(r, need)) < 0)
			return rc;
		n = read(r->fd, r->in_own + r->in_end, r->in_cap - r->in_end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			r->file_left = 0;
			return 0;
		}
		r->in_end += (size_t)n;
		if (r->file_left > 0)
			r->file_left = r->file_left > n ? r->file_left - n : 0;
	}
	return 1;
}

/* The most stream bytes the rest of the input can inflate to
 * (UINT64_MAX: not known, a pipe). */
static uint64_t rd_left(const ac_rec_reader *r)
{
	uint64_t in = r->in_end - r->in_start;

	if (r->fd >= 0 && r->file_left < 0)
		return UINT64_MAX;
	if (r->fd >= 0)
		in += (uint64_t)r->file_left;
	return in * AC_LZ_RATIO;
}

/* Room for want more bytes in the stream buffer: move the unconsumed ones
 * to its start, or grow it (only when they leave too little room).
 * 0 or -ENOMEM. */
static int rd_room(ac_rec_reader *r, size_t want)
{
	size_t have = r->end - r->start, cap = r->cap ? r->cap : REC_READ_MIN;
	uint8_t *b;

	if (r->cap - r->end >= want)
		return 0;
	if (r->start > 0) {
		memmove(r->raw, r->raw + r->start, have);
		r->start = 0;
		r->end = have;
		if (r->cap - r->end >= want)
			return 0;
	}
	while (cap - have < want)
		cap *= 2;
	if (cap > (size_t)AC_REC_FRAME_MAX * 2 + 2 * BMAX)
		return -ENOMEM;
	b = realloc(r->raw, cap);
	if (b == NULL)
		return -ENOMEM;
	r->raw = b;
	r->cap = cap;
	return 0;
}

/* A block header's fields are possible. */
static int rd_block_ok(uint8_t method, uint32_t raw, uint32_t stored)
{
	if (raw == 0 || raw > BMAX)
		return 0;
	if (method == AC_REC_BLOCK_STORED)
		return stored == raw;
	return method == AC_REC_BLOCK_LZ && stored > 0 && stored < raw &&
	       raw <= (uint64_t)stored * AC_LZ_RATIO;
}

/* Inflate the next block at the end of the stream buffer. 1: done; 0: the
 * input ends before a whole block; or the error (message set). */
static int rd_block(ac_rec_reader *r)
{
	unsigned long long seq = (unsigned long long)r->dec.seq;
	const uint8_t *p;
	uint32_t raw, stored;
	int rc = src_fill(r, BHEAD);

	if (rc <= 0)
		return rc < 0 ? rd_fail(r, rc, "cannot read the record: %s", strerror(-rc)) : 0;
	p = r->in + r->in_start;
	raw = get_le32(p + 1);
	stored = get_le32(p + 5);
	if (ac__crc32(0, p, 9) != get_le32(p + 9) || !rd_block_ok(p[0], raw, stored))
		return rd_fail(r, -EBADMSG, "corrupt record at event %llu: bad block header", seq);
	rc = src_fill(r, BHEAD + (size_t)stored);
	if (rc <= 0)
		return rc < 0 ? rd_fail(r, rc, "cannot read the record: %s", strerror(-rc)) : 0;
	if ((rc = rd_room(r, raw)) < 0)
		return rd_fail(r, rc, "no memory for the record's events");
	p = r->in + r->in_start;
	if (p[0] == AC_REC_BLOCK_STORED)
		memcpy(r->raw + r->end, p + BHEAD, raw);
	else if (ac__lz_decompress(p + BHEAD, stored, r->raw + r->end, raw) < 0)
		return rd_fail(r, -EBADMSG, "corrupt record at event %llu: bad compressed block",
		               seq);
	r->end += raw;
	r->in_start += BHEAD + (size_t)stored;
	return 1;
}

/* Have at least need unconsumed stream bytes, inflating blocks. 1: yes;
 * 0: the input ends first (or cannot hold that many); or the error
 * (message set). */
static int rd_fill(ac_rec_reader *r, size_t need)
{
	while (r->end - r->start < need) {
		uint64_t left = rd_left(r);
		int rc;
		if (left != UINT64_MAX && need - (r->end - r->start) > left)
			return 0;
		rc = rd_block(r);
		if (rc <= 0)
			return rc;
	}
	return 1;
}

/* ---- the reader: header ---------------------------------------------------------- */

/* Copy a string value into a fixed field (truncated, NUL-terminated). */
static void rd_str(char *dst, size_t size, const uint8_t *p, size_t len)
{
	size_t n = len < size - 1 ? len : size - 1;
	memcpy(dst, p, n);
	dst[n] = '\0';
}

/* An unsigned varint filling the whole value; 0 or -1. */
static int rd_uint(const uint8_t *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 10)
		return -1;
	for (i = 0; i < len; i++) {
		if (i == 9 && p[i] > 1)
			return -1;
		v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80))
			break;
	}
	if (i != len - 1)
		return -1;
	*out = v;
	return 0;
}

/* A varint at p[*i] (n bytes in all); 0 and *i past it, or -1. */
static int rd_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *out)
{
	uint64_t v = 0;
	int shift;

	for (shift = 0; *i < n; shift += 7) {
		uint8_t b = p[(*i)++];
		if (shift == 63 && b > 1)
			return -1;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* Header parsing: two walks, the first counts the arguments. */
typedef struct rd_hctx {
	ac_rec_header *h;
	int pass;
	size_t argbytes;
	char *strs;
} rd_hctx;

static int rd_hint(rd_hctx *x, uint64_t tag, const uint8_t *v, size_t len)
{
	uint64_t u;

	if (rd_uint(v, len, &u) < 0)
		return -1;
	if (tag == T_IO_VERSION)
		x->h->io_version = (uint32_t)u;
	else if (tag == T_PAGE_SIZE)
		x->h->page_size = (uint32_t)u;
	else if (tag == T_FLAGS)
		x->h->flags = (uint32_t)u;
	else if (tag == T_WALL_NS)
		x->h->wall_ns = (int64_t)((u >> 1) ^ (uint64_t)-(int64_t)(u & 1));
	else
		x->h->mono_ns = (int64_t)((u >> 1) ^ (uint64_t)-(int64_t)(u & 1));
	return 0;
}

static int rd_hfield(rd_hctx *x, uint64_t tag, const uint8_t *v, size_t len)
{
	ac_rec_header *h = x->h;

	if (tag == T_ARG) {
		if (x->pass == 0) {
			h->argc++;
			x->argbytes += len + 1;
		} else {
			memcpy(x->strs, v, len);
			x->strs[len] = '\0';
			h->argv[h->argc++] = x->strs;
			x->strs += len + 1;
		}
		return 0;
	}
	if (x->pass == 0)
		return 0;
	switch (tag) {
	case T_IO_VERSION: case T_PAGE_SIZE: case T_FLAGS: case T_WALL_NS: case T_MONO_NS:
		return rd_hint(x, tag, v, len);
	case T_BACKEND: rd_str(h->backend, sizeof(h->backend), v, len); break;
	case T_EXE_BUILD_ID: rd_str(h->exe_build_id, sizeof(h->exe_build_id), v, len); break;
	case T_LIB_BUILD_ID: rd_str(h->lib_build_id, sizeof(h->lib_build_id), v, len); break;
	case T_LIB_VERSION: rd_str(h->lib_version, sizeof(h->lib_version), v, len); break;
	case T_ZLIB_VERSION: rd_str(h->zlib_ver, sizeof(h->zlib_ver), v, len); break;
	case T_OPENSSL_VERSION:
		rd_str(h->openssl_version, sizeof(h->openssl_version), v, len);
		break;
	case T_MSGPACK_VERSION:
		rd_str(h->msgpack_version, sizeof(h->msgpack_version), v, len);
		break;
	case T_ARCH: rd_str(h->arch, sizeof(h->arch), v, len); break;
	case T_NAME: rd_str(h->name, sizeof(h->name), v, len); break;
	default: break; /* a newer writer's field: skipped */
	}
	return 0;
}

/* One walk over the fields (n bytes at p); 0 or -1 (malformed). */
static int rd_walk(rd_hctx *x, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint64_t tag, len;
		if (rd_varint(p, n, &i, &tag) < 0 || rd_varint(p, n, &i, &len) < 0)
			return -1;
		if (len > n - i || rd_hfield(x, tag, p + i, (size_t)len) < 0)
			return -1;
		i += (size_t)len;
	}
	return 0;
}

/* Parse the fields into r->hdr (argv allocated). 0, -1 or -ENOMEM. */
static int rd_hparse(ac_rec_reader *r, const uint8_t *p, size_t n)
{
	rd_hctx x = {&r->hdr, 0, 0, NULL};
	char **argv;

	if (rd_walk(&x, p, n) < 0)
		return -1;
	argv = calloc(1, (size_t)(r->hdr.argc + 1) * sizeof(char *) + x.argbytes);
	if (argv == NULL)
		return -ENOMEM;
	x.strs = (char *)(argv + r->hdr.argc + 1);
	r->hdr.argv = argv;
	r->hdr.argc = 0;
	x.pass = 1;
	return rd_walk(&x, p, n);
}

/* Read and check the header. 0 or a negative errno (message set). */
static int rd_header(ac_rec_reader *r)
{
	const uint8_t *p;
	size_t have, hl;
	int rc = src_fill(r, REC_PREAMBLE);

	if (rc < 0)
		return rd_fail(r, rc, "cannot read the record: %s", strerror(-rc));
	p = r->in + r->in_start;
	have = r->in_end - r->in_start;
	if (memcmp(p, rec_magic, have < 8 ? have : 8) != 0)
		return rd_fail(r, -EBADMSG, "not a record (no ACREC magic)");
	if (rc == 0)
		return rd_fail(r, -EPIPE, "record truncated in its header");
	hl = get_le32(p + 12);
	if (hl > AC_REC_HEADER_MAX)
		return rd_fail(r, -EBADMSG, "corrupt record header (length %zu)", hl);
	rc = src_fill(r, REC_PREAMBLE + hl + 4);
	if (rc <= 0)
		return rc < 0 ? rd_fail(r, rc, "cannot read the record: %s", strerror(-rc))
		              : rd_fail(r, -EPIPE, "record truncated in its header");
	p = r->in + r->in_start;
	if (ac__crc32(0, p, REC_PREAMBLE + hl) != get_le32(p + REC_PREAMBLE + hl))
		return rd_fail(r, -EBADMSG, "corrupt record header (bad CRC)");
	r->hdr.version = get_le32(p + 8);
	if (r->hdr.version != AC_REC_VERSION)
		return rd_fail(r, -ENOTSUP, "record format version %u (this library reads "
		               "version %u only%s)", (unsigned)r->hdr.version,
		               (unsigned)AC_REC_VERSION, r->hdr.version < AC_REC_VERSION ?
		               ": the record was made by an older asyncoro" : "");
	rc = rd_hparse(r, p + REC_PREAMBLE, hl);
	if (rc < 0)
		return rc == -ENOMEM ? rd_fail(r, rc, "no memory for the record header")
		                     : rd_fail(r, -EBADMSG, "corrupt record header (fields)");
	r->in_start += REC_PREAMBLE + hl + 4;
	return 0;
}

/* ---- the reader: opening --------------------------------------------------------- */

static ac_rec_reader *rd_new(void)
{
	ac_rec_reader *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->fd = -1;
	r->file_left = -1;
	ac__rec_xxh_init(&r->xxh);
	return r;
}

/* Read the header of a new reader; on error copy the message and free. */
static int rd_start(ac_rec_reader *r, ac_rec_reader **out, char *err, size_t errlen)
{
	int rc = rd_header(r);

	if (rc < 0) {
		if (errlen)
			snprintf(err, errlen, "%s", r->err);
		ac__rec_close(r);
		return rc;
	}
	r->state = 0;
	*out = r;
	return 0;
}

int ac__rec_open(const char *path, ac_rec_reader **out, char *err, size_t errlen)
{
	ac_rec_reader *r = rd_new();
	struct stat st;
	int rc;

	if (r == NULL)
		return -ENOMEM;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	r->in_cap = REC_READ_MIN;
	r->in_own = malloc(r->in_cap);
	r->in = r->in_own;
	if (r->fd < 0 || r->in_own == NULL) {
		rc = r->fd < 0 ? -errno : -ENOMEM;
		if (errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		ac__rec_close(r);
		return rc;
	}
	if (fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode))
		r->file_left = st.st_size;
	return rd_start(r, out, err, errlen);
}

int ac__rec_open_mem(const void *buf, size_t len, ac_rec_reader **out, char *err,
                     size_t errlen)
{
	ac_rec_reader *r = rd_new();

	if (r == NULL)
		return -ENOMEM;
	r->in = buf;
	r->in_end = len;
	return rd_start(r, out, err, errlen);
}

const ac_rec_header *ac__rec_header(const ac_rec_reader *r)
{
	return &r->hdr;
}

/* ---- the reader: events ---------------------------------------------------------- */

/* The frame length varint at the read position: 0 and *flen, *k (its
 * bytes), or an error (truncated, corrupt). */
static int rd_len(ac_rec_reader *r, uint64_t *flen, size_t *k)
{
	size_t i = 0, have;
	int rc = rd_fill(r, 5), bad;

	if (rc < 0)
		return rc;
	have = r->end - r->start;
	/* No pointer into raw before a block was inflated (raw is NULL). */
	bad = have == 0 ||
	      rd_varint(r->raw + r->start, have < 5 ? have : 5, &i, flen) < 0;
	if (have == 0 || (bad && have < 5))
		return rd_fail(r, -EPIPE, "truncated after event %lld",
		               (long long)r->dec.seq - 1);
	if (bad || *flen < 3 || *flen > AC_REC_FRAME_MAX)
		return rd_fail(r, -EBADMSG, "corrupt record at event %llu: bad frame length",
		               (unsigned long long)r->dec.seq);
	*k = i;
	return 0;
}

/* The END event (decoded into ev): check its hash and that nothing
 * follows. 0 (clean end) or the error. */
static int rd_end(ac_rec_reader *r, const ac_rec_event *ev, size_t total)
{
	uint64_t want = 0;
	int i, rc;

	for (i = 7; i >= 0 && ev->dlen == 8; i--)
		want = (want << 8) | ev->data[i];
	if (ev->dlen != 8 || want != ac__rec_xxh_digest(&r->xxh))
		return rd_fail(r, -EBADMSG, "corrupt record at event %llu: record hash "
		               "mismatch", (unsigned long long)ev->seq);
	r->start += total;
	rc = r->end > r->start ? 1 : src_fill(r, 1);
	if (rc != 0)
		return rc < 0 ? rd_fail(r, rc, "cannot read the record: %s", strerror(-rc))
		              : rd_fail(r, -EBADMSG, "corrupt record: bytes after the END "
		                        "event %llu", (unsigned long long)ev->seq);
	r->state = 1;
	return 0;
}

int ac__rec_next(ac_rec_reader *r, ac_rec_event *ev)
{
	uint64_t flen = 0;
	size_t k = 0, total;
	const uint8_t *f;
	const char *why = NULL;
	unsigned long long seq = (unsigned long long)r->dec.seq;
	int rc;

	if (r->state)
		return r->state > 0 ? 0 : r->state;
	if (rd_len(r, &flen, &k) < 0)
		return r->state;
	total = k + (size_t)flen + 4;
	rc = rd_fill(r, total);
	if (rc <= 0)
		return rc < 0 ? rc : rd_fail(r, -EPIPE, "truncated after event %lld",
		                             (long long)seq - 1);
	f = r->raw + r->start;
	if (ac__crc32(0, f, k + flen) != get_le32(f + k + flen))
		return rd_fail(r, -EBADMSG, "corrupt record at event %llu: bad CRC", seq);
	if (f[k + 1] != (uint8_t)seq)
		return rd_fail(r, -EBADMSG, "corrupt record at event %llu: out of sequence", seq);
	if (ac__rec_decode(&r->dec, f[k], f + k + 2, (size_t)flen - 2, ev, &why) < 0)
		return rd_fail(r, -EBADMSG, "corrupt record at event %llu: %s", seq, why);
	if (ev->kind == AC_REC_END)
		return rd_end(r, ev, total);
	ac__rec_xxh_update(&r->xxh, f, total);
	r->frame = f;
	r->frame_len = total;
	r->start += total;
	return 1;
}

const char *ac__rec_error(const ac_rec_reader *r)
{
	return r->err;
}

void ac__rec_frame(const ac_rec_reader *r, const uint8_t **p, size_t *len)
{
	*p = r->frame;
	*len = r->frame_len;
}

uint64_t ac__rec_count(const ac_rec_reader *r)
{
	return r->dec.seq - (r->state == 1 ? 1 : 0);
}

uint64_t ac__rec_hash(const ac_rec_reader *r)
{
	return ac__rec_xxh_digest(&r->xxh);
}

void ac__rec_close(ac_rec_reader *r)
{
	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->in_own);
	free(r->raw);
	free(r->hdr.argv);
	free(r);
}
