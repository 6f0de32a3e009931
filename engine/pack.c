/* engine/pack.c: the structured value layer — message payloads that are one
 * MessagePack value, built and read through format strings like Jansson's
 * json_pack/json_unpack (ac_msg_pack, ac_msg_unpack, and ac_pack/ac_unpack
 * over raw buffers for the wire), and ac_msg_repr, which renders a payload
 * as JSON-like text for logs. The format letters are documented in
 * asyncoro.h.
 *
 * Encoding goes through msgpack-c's packer (msgpack_packer, whose functions
 * are inline in <msgpack/pack.h>) with our own write callback into a buffer
 * that starts on the C stack, so the bytes are what the maintained library
 * writes: the shortest form of each integer, float64 for 'd', str for 's',
 * bin for 'S', ext for refs and locations.
 *
 * Decoding is a small hand-written cursor that walks the format and the
 * payload side by side. It never allocates, checks every length and count
 * against the bytes left before using it, bounds nesting, and lets 'S' point
 * straight into the payload. NOTE: msgpack-c's unpacker (msgpack_unpack_next)
 * was tried first and rejected for safety, not speed. It builds a tree in a
 * zone and allocates count * sizeof(msgpack_object) as soon as it reads an
 * array or map header, before any element arrived: the 5 bytes dd ff ff ff
 * ff ask malloc for over 100 GiB (the call fails with NOMEM; under
 * AddressSanitizer the process aborts), and dd 02 00 00 00 reserves 800 MiB
 * and asks for more input. Bounding that needs a validating pre-pass, which
 * is this decoder anyway. Cost, measured on "[r s i]" (61 bytes, x86-64,
 * -O2, shared library): ac_unpack runs about 1120 instructions per message
 * (callgrind), msgpack_unpack_next plus reading its tree about 1130 (it also
 * mallocs and frees an 8 KiB zone each time); best wall time 81-104 ns
 * against 120-155 ns. ac_msg_pack is about 1290 instructions (1600 while
 * AC_DASSERT re-reads what it wrote).
 *
 * Extension types: fixed layouts, big-endian, no padding; msgpack-c writes
 * them as ext 8 (c7 len type), and any ext encoding of the exact length is
 * read:
 *
 *     AC_EXT_LOC = 2, 23 bytes: family u8 | port u16 | scope u32 | ip[16]
 *     AC_EXT_REF = 1, 40 bytes: kind u8 | location (the 23 bytes above) |
 *                               inc u64 | id u64
 *
 * family is AC_AF_NONE, AC_AF_INET or AC_AF_INET6; the ip bytes past the
 * family's length (4 for INET, 0 for NONE) are zero; kind is AC_REF_NONE ..
 * AC_REF_RCI. The encoder zeroes the ip bytes past the family's length
 * (ac_addr_eq ignores them) and refuses a bad kind or family; the decoder
 * answers -EBADMSG for any other length or content, so a decoded ac_addr is
 * canonical (it compares with memcmp).
 *
 * Limits: arrays and maps nest at most AC_PACK_DEPTH_MAX (32) deep, in
 * formats and payloads alike (msgpack-c's own limit is the same); every
 * recursion in this file is bounded by it. An array or map header whose
 * count exceeds the bytes left is rejected at once.
 */
#include "engine/engine.h"

#include <inttypes.h>
#include <math.h>

#include <msgpack.h>

/* MessagePack extension types asyncoro uses (see the top of the file). */
enum {
	AC_EXT_REF = 1,
	AC_EXT_LOC = 2
};

/* Sizes of the extension bodies. */
enum {
	PACK_LOC_LEN = 1 + 2 + 4 + 16,
	PACK_REF_LEN = 1 + PACK_LOC_LEN + 8 + 8,
	/* Bytes an encoder keeps on the stack before it needs the heap. */
	PACK_STACK_BUF = 256
};

AC_STATIC_ASSERT(PACK_LOC_LEN == 23);
AC_STATIC_ASSERT(PACK_REF_LEN == 40);
AC_STATIC_ASSERT(AC_REF_RCI == 3);

/* ---- format strings --------------------------------------------------------- */

/* The next significant format character (blanks, ',' and ':' skipped), '\0'
 * at the end; *f moves past it. Every letter and bracket sorts above ':',
 * except '*', so most calls take the first branch. */
static inline char pack_fmt_next(const char **f)
{
	const char *p = *f;
	char c;

	for (;; p++) {
		c = *p;
		if ((unsigned char)c > ':' || c == '*')
			break;
		if (c == '\0') {
			*f = p;
			return '\0';
		}
		if (c != ' ' && c != '\t' && c != '\n' && c != ',' && c != ':')
			break; /* not a format character: pack_fmt_check refuses it */
	}
	*f = p + 1;
	return c;
}

/* 1 when c is a value letter ('*' only when unpacking). */
static int pack_fmt_letter(char c, int unpacking)
{
	switch (c) {
	case 'n': case 'b': case 'i': case 'u': case 'd':
	case 's': case 'S': case 'r': case 'l':
		return 1;
	case '*':
		return unpacking;
	default:
		return 0;
	}
}

/* Check a whole format: known letters ('*' only when unpacking), matching
 * brackets, maps with an even number of items, nesting at most
 * AC_PACK_DEPTH_MAX, exactly one value. Returns 0 or -EINVAL. */
static int pack_fmt_check(const char *f, int unpacking)
{
	char open[AC_PACK_DEPTH_MAX];
	size_t items[AC_PACK_DEPTH_MAX];
	int depth = 0, values = 0;
	char c;

	if (f == NULL)
		return -EINVAL;
	while ((c = pack_fmt_next(&f)) != '\0') {
		if (c == ']' || c == '}') {
			if (depth == 0 || open[depth - 1] != (c == ']' ? '[' : '{'))
				return -EINVAL;
			depth--;
			if (c == '}' && items[depth] % 2 != 0)
				return -EINVAL;
			continue;
		}
		if (depth == 0 && values++ > 0)
			return -EINVAL;
		if (depth > 0)
			items[depth - 1]++;
		if (c == '[' || c == '{') {
			if (depth == AC_PACK_DEPTH_MAX)
				return -EINVAL;
			open[depth] = c;
			items[depth] = 0;
			depth++;
		} else if (!pack_fmt_letter(c, unpacking)) {
			return -EINVAL;
		}
	}
	return depth == 0 && values == 1 ? 0 : -EINVAL;
}

/* Number of values inside the group that starts at f (just after its '['
 * or '{'), up to the matching bracket. The format was checked. */
static size_t pack_fmt_count(const char *f)
{
	size_t n = 0;
	int depth = 0;
	char c;

	while ((c = pack_fmt_next(&f)) != '\0') {
		if (c == ']' || c == '}') {
			if (depth == 0)
				return n;
			depth--;
			continue;
		}
		if (depth == 0)
			n++;
		if (c == '[' || c == '{')
			depth++;
	}
	AC_ASSERT(!"pack_fmt_count: unbalanced format passed the check");
	return 0;
}

/* ---- extension bodies ------------------------------------------------------- */

/* Big-endian fields of 1, 2, 4 or 8 bytes (the sizes MessagePack and the
 * extension bodies use): one load or store and a byte swap each. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define PACK_BE16(x) (x)
#define PACK_BE32(x) (x)
#define PACK_BE64(x) (x)
#else
#define PACK_BE16(x) __builtin_bswap16(x)
#define PACK_BE32(x) __builtin_bswap32(x)
#define PACK_BE64(x) __builtin_bswap64(x)
#endif

static inline void pack_be_put(uint8_t *o, uint64_t v, int n)
{
	uint16_t v2;
	uint32_t v4;
	switch (n) {
	case 8:
		v = PACK_BE64(v);
		memcpy(o, &v, 8);
		break;
	case 4:
		v4 = PACK_BE32((uint32_t)v);
		memcpy(o, &v4, 4);
		break;
	case 2:
		v2 = PACK_BE16((uint16_t)v);
		memcpy(o, &v2, 2);
		break;
	default:
		AC_ASSERT(n == 1);
		o[0] = (uint8_t)v;
	}
}

static inline uint64_t pack_be_get(const uint8_t *p, int n)
{
	uint64_t v8;
	uint32_t v4;
	uint16_t v2;
	switch (n) {
	case 8:
		memcpy(&v8, p, 8);
		return PACK_BE64(v8);
	case 4:
		memcpy(&v4, p, 4);
		return PACK_BE32(v4);
	case 2:
		memcpy(&v2, p, 2);
		return PACK_BE16(v2);
	default:
		AC_ASSERT(n == 1);
		return p[0];
	}
}

/* Address bytes that are meaningful for a family, or -1 for a bad family. */
static int pack_ip_len(unsigned family)
{
	switch (family) {
	case AC_AF_NONE:
		return 0;
	case AC_AF_INET:
		return 4;
	case AC_AF_INET6:
		return 16;
	default:
		return -1;
	}
}

/* Write the 23-byte location body. Returns 0, or -EINVAL for a bad family. */
static int pack_loc_encode(uint8_t *o, const ac_addr *a)
{
	int iplen = pack_ip_len(a->family);
	if (iplen < 0)
		return -EINVAL;
	o[0] = a->family;
	pack_be_put(o + 1, a->port, 2);
	pack_be_put(o + 3, a->scope, 4);
	memset(o + 7, 0, 16);
	memcpy(o + 7, a->ip, (size_t)iplen);
	return 0;
}

/* Read a 23-byte location body. Returns 0 or -EBADMSG. */
static int pack_loc_decode(const uint8_t *p, ac_addr *a)
{
	static const uint8_t zeros[16];
	int iplen = pack_ip_len(p[0]);

	if (iplen < 0)
		return -EBADMSG;
	if (memcmp(p + 7 + iplen, zeros, 16 - (size_t)iplen) != 0)
		return -EBADMSG;
	memset(a, 0, sizeof(*a));
	a->family = p[0];
	a->port = (uint16_t)pack_be_get(p + 1, 2);
	a->scope = (uint32_t)pack_be_get(p + 3, 4);
	memcpy(a->ip, p + 7, 16);
	return 0;
}

/* Write the 40-byte ref body. Returns 0 or -EINVAL. */
static int pack_ref_encode(uint8_t *o, const ac_ref *r)
{
	if (r->kind > AC_REF_RCI)
		return -EINVAL;
	o[0] = (uint8_t)r->kind;
	if (pack_loc_encode(o + 1, &r->loc) < 0)
		return -EINVAL;
	pack_be_put(o + 1 + PACK_LOC_LEN, r->inc, 8);
	pack_be_put(o + 1 + PACK_LOC_LEN + 8, r->id, 8);
	return 0;
}

/* Read a ref body of len bytes. Returns 0 or -EBADMSG. */
static int pack_ref_decode(const uint8_t *p, size_t len, ac_ref *r)
{
	ac_ref t;

	memset(&t, 0, sizeof(t));
	if (len != PACK_REF_LEN || p[0] > AC_REF_RCI)
		return -EBADMSG;
	if (pack_loc_decode(p + 1, &t.loc) < 0)
		return -EBADMSG;
	t.kind = p[0];
	t.inc = pack_be_get(p + 1 + PACK_LOC_LEN, 8);
	t.id = pack_be_get(p + 1 + PACK_LOC_LEN + 8, 8);
	*r = t;
	return 0;
}

/* ---- for the wire's hot path ---------------------------------------------------- */

size_t ac__pack_ref(uint8_t *out, const ac_ref *r)
{
	/* ext 8: c7, length, type, body — what msgpack_pack_ext_with_body
	 * writes for a 40-byte body. */
	out[0] = 0xc7;
	out[1] = PACK_REF_LEN;
	out[2] = AC_EXT_REF;
	if (pack_ref_encode(out + 3, r) < 0)
		return 0;
	return 3 + PACK_REF_LEN;
}

size_t ac__unpack_ref(const uint8_t *in, size_t len, ac_ref *r)
{
	if (len < 3 + PACK_REF_LEN || in[0] != 0xc7 || in[1] != PACK_REF_LEN ||
	    in[2] != AC_EXT_REF)
		return 0;
	if (pack_ref_decode(in + 3, PACK_REF_LEN, r) < 0)
		return 0;
	return 3 + PACK_REF_LEN;
}

size_t ac__pack_uint(uint8_t *out, uint64_t v)
{
	int n;
	if (v < 0x80) {
		out[0] = (uint8_t)v; /* positive fixint */
		return 1;
	}
	if (v <= UINT8_MAX) {
		out[0] = 0xcc;
		n = 1;
	} else if (v <= UINT16_MAX) {
		out[0] = 0xcd;
		n = 2;
	} else if (v <= UINT32_MAX) {
		out[0] = 0xce;
		n = 4;
	} else {
		out[0] = 0xcf;
		n = 8;
	}
	pack_be_put(out + 1, v, n);
	return 1 + (size_t)n;
}

size_t ac__unpack_uint(const uint8_t *in, size_t len, uint64_t *v)
{
	int n;
	if (len == 0)
		return 0;
	if (in[0] < 0x80) {
		*v = in[0];
		return 1;
	}
	switch (in[0]) {
	case 0xcc:
		n = 1;
		break;
	case 0xcd:
		n = 2;
		break;
	case 0xce:
		n = 4;
		break;
	case 0xcf:
		n = 8;
		break;
	default:
		return 0;
	}
	if (len - 1 < (size_t)n)
		return 0;
	*v = pack_be_get(in + 1, n);
	return 1 + (size_t)n;
}

size_t ac__pack_bin_hdr(uint8_t *out, size_t len)
{
	AC_ASSERT(len <= UINT32_MAX);
	if (len <= UINT8_MAX) {
		out[0] = 0xc4;
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len <= UINT16_MAX) {
		out[0] = 0xc5;
		pack_be_put(out + 1, len, 2);
		return 3;
	}
	out[0] = 0xc6;
	pack_be_put(out + 1, len, 4);
	return 5;
}

size_t ac__unpack_bin_hdr(const uint8_t *in, size_t len, size_t *blen)
{
	int n;
	if (len == 0)
		return 0;
	switch (in[0]) {
	case 0xc4:
		n = 1;
		break;
	case 0xc5:
		n = 2;
		break;
	case 0xc6:
		n = 4;
		break;
	default:
		return 0;
	}
	if (len - 1 < (size_t)n)
		return 0;
	*blen = (size_t)pack_be_get(in + 1, n);
	return 1 + (size_t)n;
}

AC_STATIC_ASSERT(sizeof(((ac_msg *)0)->m_kind) == 2 && sizeof(((ac_msg *)0)->m_aux) == 2);

size_t ac__pack_send(uint8_t *out, const ac_ref *to, const ac_msg *m)
{
	size_t k = 0, r;
	out[k++] = 0x95; /* fixarray of 5 */
	if ((r = ac__pack_ref(out + k, to)) == 0)
		return 0;
	k += r;
	k += ac__pack_uint(out + k, m->m_kind);
	k += ac__pack_uint(out + k, m->m_aux);
	if ((r = ac__pack_ref(out + k, &m->m_from)) == 0)
		return 0;
	k += r;
	k += ac__pack_bin_hdr(out + k, m->m_len);
	AC_ASSERT(k <= AC__PACK_SEND_MAX);
	if (m->m_len)
		memcpy(out + k, m->m_data, m->m_len);
	return k + m->m_len;
}

int ac__unpack_send(const uint8_t *in, size_t len, ac_ref *to, uint64_t *kind,
                    uint64_t *aux, ac_ref *from, const void **data,
                    size_t *dlen)
{
	size_t k = 1, r;
	if (len < 1 || in[0] != 0x95)
		goto other;
	if (!(r = ac__unpack_ref(in + k, len - k, to)))
		goto other;
	k += r;
	if (!(r = ac__unpack_uint(in + k, len - k, kind)))
		goto other;
	k += r;
	if (!(r = ac__unpack_uint(in + k, len - k, aux)))
		goto other;
	k += r;
	if (!(r = ac__unpack_ref(in + k, len - k, from)))
		goto other;
	k += r;
	if (!(r = ac__unpack_bin_hdr(in + k, len - k, dlen)))
		goto other;
	k += r;
	if (len - k != *dlen)
		goto other;
	*data = in + k;
	return 0;
other:
	/* Any other valid encoding of the same values (ints in a signed
	 * form, the payload as a str, ...): the general decoder. */
	return ac_unpack(in, len, "[r u u r S]", to, kind, aux, from, data,
	                 dlen) < 0
	               ? -EBADMSG
	               : 0;
}

void ac__pack_chunk_hdr(uint8_t *out, uint32_t xfer, uint64_t off,
                        uint32_t len)
{
	out[0] = 0x93; /* fixarray of 3 */
	out[1] = 0xce; /* uint 32 */
	pack_be_put(out + 2, xfer, 4);
	out[6] = 0xcf; /* uint 64 */
	pack_be_put(out + 7, off, 8);
	out[15] = 0xc6; /* bin 32 */
	pack_be_put(out + 16, len, 4);
}
AC_STATIC_ASSERT(AC__PACK_CHUNK_HDR == 1 + 5 + 9 + 5);

/* ---- encoding ----------------------------------------------------------------- */

static int pack_valid(const uint8_t *p, size_t len);

/* A growing output buffer; starts in b_stack, moves to the heap. */
struct pack_buf {
	uint8_t *b_data;
	size_t b_len;
	size_t b_cap;
	int b_heap;
	uint8_t b_stack[PACK_STACK_BUF];
};

/* State of one ac_pack call. */
struct pack_wr {
	msgpack_packer w_pk;
	struct pack_buf w_buf;
	/* Format position. */
	const char *w_fmt;
	va_list w_ap;
};

/* msgpack_packer's write callback: append len bytes; -1 on ENOMEM. */
static int pack_buf_write(void *data, const char *buf, size_t len)
{
	struct pack_buf *b = data;
	size_t cap = b->b_cap;
	uint8_t *n;

	if (len == 0)
		return 0; /* msgpack-c passes buf NULL for an empty body */
	if (len > SIZE_MAX / 2 - b->b_len)
		return -1;
	if (b->b_len + len > cap) {
		while (cap < b->b_len + len)
			cap *= 2;
		n = b->b_heap ? ac__realloc(b->b_data, cap) : ac__malloc(cap);
		if (n == NULL)
			return -1;
		if (!b->b_heap)
			memcpy(n, b->b_stack, b->b_len);
		b->b_data = n;
		b->b_cap = cap;
		b->b_heap = 1;
	}
	memcpy(b->b_data + b->b_len, buf, len);
	b->b_len += len;
	return 0;
}

/* msgpack-c returns the callback's value: ours fails only on ENOMEM. */
static int pack_rc(int msgpack_rc)
{
	return msgpack_rc == 0 ? 0 : -ENOMEM;
}

static int pack_put_blob(struct pack_wr *w, int str, const void *p, size_t n)
{
	if (n > UINT32_MAX)
		return -EMSGSIZE;
	if (p == NULL && n > 0)
		return -EINVAL;
	if (str)
		return pack_rc(msgpack_pack_str_with_body(&w->w_pk, p, n));
	return pack_rc(msgpack_pack_bin_with_body(&w->w_pk, p, n));
}

static int pack_put_ext(struct pack_wr *w, int type, const uint8_t *body,
                        size_t len)
{
	return pack_rc(msgpack_pack_ext_with_body(&w->w_pk, body, len,
	                                          (int8_t)type));
}

static int pack_put_scalar(struct pack_wr *w, char c)
{
	msgpack_packer *pk = &w->w_pk;
	uint8_t body[PACK_REF_LEN];
	const char *s;
	const void *p;
	const ac_addr *a;
	ac_ref r;

	switch (c) {
	case 'n':
		return pack_rc(msgpack_pack_nil(pk));
	case 'b':
		return pack_rc(va_arg(w->w_ap, int) ? msgpack_pack_true(pk)
		                                   : msgpack_pack_false(pk));
	case 'i':
		return pack_rc(msgpack_pack_int64(pk, va_arg(w->w_ap, int64_t)));
	case 'u':
		return pack_rc(msgpack_pack_uint64(pk, va_arg(w->w_ap, uint64_t)));
	case 'd':
		return pack_rc(msgpack_pack_double(pk, va_arg(w->w_ap, double)));
	case 's':
		s = va_arg(w->w_ap, const char *);
		return s ? pack_put_blob(w, 1, s, strlen(s)) : -EINVAL;
	case 'S':
		p = va_arg(w->w_ap, const void *);
		return pack_put_blob(w, 0, p, va_arg(w->w_ap, size_t));
	case 'r':
		r = va_arg(w->w_ap, ac_ref);
		if (pack_ref_encode(body, &r) < 0)
			return -EINVAL;
		return pack_put_ext(w, AC_EXT_REF, body, PACK_REF_LEN);
	case 'l':
		a = va_arg(w->w_ap, const ac_addr *);
		if (a == NULL || pack_loc_encode(body, a) < 0)
			return -EINVAL;
		return pack_put_ext(w, AC_EXT_LOC, body, PACK_LOC_LEN);
	default:
		AC_ASSERT(!"pack_put_scalar: letter passed the format check");
		return -EINVAL;
	}
}

static int pack_put_value(struct pack_wr *w);

/* An array or map whose opening bracket was just read. */
static int pack_put_group(struct pack_wr *w, char open)
{
	size_t n = pack_fmt_count(w->w_fmt), i;
	char close;
	int rc;

	if (n > UINT32_MAX)
		return -EINVAL;
	if (open == '[')
		rc = pack_rc(msgpack_pack_array(&w->w_pk, n));
	else
		rc = pack_rc(msgpack_pack_map(&w->w_pk, n / 2));
	for (i = 0; i < n && rc == 0; i++)
		rc = pack_put_value(w);
	if (rc < 0)
		return rc;
	close = pack_fmt_next(&w->w_fmt);
	AC_ASSERT(close == (open == '[' ? ']' : '}'));
	return 0;
}

/* One value of the format (recursion bounded by the checked depth). */
static int pack_put_value(struct pack_wr *w)
{
	char c = pack_fmt_next(&w->w_fmt);
	if (c == '[' || c == '{')
		return pack_put_group(w, c);
	return pack_put_scalar(w, c);
}

/* Encode into w->w_buf; on success the caller owns w->w_buf's heap part. */
static int pack_encode(struct pack_wr *w, const char *fmt, va_list ap)
{
	int rc;

	w->w_buf.b_data = w->w_buf.b_stack;
	w->w_buf.b_len = 0;
	w->w_buf.b_cap = sizeof(w->w_buf.b_stack);
	w->w_buf.b_heap = 0;
	rc = pack_fmt_check(fmt, 0);
	if (rc < 0)
		return rc;
	w->w_fmt = fmt;
	msgpack_packer_init(&w->w_pk, &w->w_buf, pack_buf_write);
	va_copy(w->w_ap, ap);
	rc = pack_put_value(w);
	va_end(w->w_ap);
	if (rc < 0 && w->w_buf.b_heap)
		ac__free(w->w_buf.b_data);
	if (rc < 0)
		return rc;
	/* Pair assertion: what we write, our decoder reads back. */
	AC_ASSERT(w->w_buf.b_len > 0);
	AC_DASSERT(pack_valid(w->w_buf.b_data, w->w_buf.b_len));
	return 0;
}

ac_msg *ac_msg_vpack(const char *fmt, va_list ap)
{
	struct pack_wr w;
	ac_msg *m;

	if (pack_encode(&w, fmt, ap) < 0)
		return NULL;
	m = ac__msg_alloc(w.w_buf.b_len);
	if (m != NULL)
		memcpy(m->m_data, w.w_buf.b_data, w.w_buf.b_len);
	if (w.w_buf.b_heap)
		ac__free(w.w_buf.b_data);
	return m;
}

ac_msg *ac_msg_pack(const char *fmt, ...)
{
	va_list ap;
	ac_msg *m;
	va_start(ap, fmt);
	m = ac_msg_vpack(fmt, ap);
	va_end(ap);
	return m;
}

int ac_pack(void **out, size_t *len, const char *fmt, ...)
{
	struct pack_wr w;
	va_list ap;
	int rc;

	if (out == NULL || len == NULL)
		return -EINVAL;
	va_start(ap, fmt);
	rc = pack_encode(&w, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return rc;
	if (!w.w_buf.b_heap) {
		*out = ac__malloc(w.w_buf.b_len);
		if (*out == NULL)
			return -ENOMEM;
		memcpy(*out, w.w_buf.b_data, w.w_buf.b_len);
	} else {
		*out = w.w_buf.b_data;
	}
	*len = w.w_buf.b_len;
	return 0;
}

/* ---- decoding: the cursor ------------------------------------------------------ */

/* Kinds of token the cursor reads. */
enum pack_type {
	PT_NIL, PT_BOOL, PT_UINT, PT_NEG, PT_FLOAT, PT_STR, PT_BIN, PT_ARR,
	PT_MAP, PT_EXT
};

/* One value's header: scalars carry their value; str, bin and ext point
 * into the payload; arrays and maps carry their count (the elements
 * follow). */
struct pack_tok {
	/* enum pack_type. */
	int t_type;
	/* PT_BOOL 0/1, PT_UINT value, PT_NEG the int64 as bits, PT_ARR and
	 * PT_MAP element/pair count, PT_STR/PT_BIN/PT_EXT byte length. */
	uint64_t t_u;
	double t_d;
	const uint8_t *t_ptr;
	int t_ext;
};

/* State of one ac_unpack call (or of a walk for ac_msg_repr). */
struct pack_rd {
	const uint8_t *r_p;
	const uint8_t *r_end;
	/* Format position (unpack only). */
	const char *r_fmt;
	va_list r_ap;
};

/* Read an n-byte big-endian number. */
static int pack_rd_be(struct pack_rd *rd, int n, uint64_t *v)
{
	if (rd->r_end - rd->r_p < n)
		return -EBADMSG;
	*v = pack_be_get(rd->r_p, n);
	rd->r_p += n;
	return 0;
}

/* len bytes of str, bin or ext data follow. */
static int pack_rd_blob(struct pack_rd *rd, struct pack_tok *t, int type,
                        uint64_t len)
{
	if ((uint64_t)(rd->r_end - rd->r_p) < len)
		return -EBADMSG;
	t->t_type = type;
	t->t_u = len;
	t->t_ptr = rd->r_p;
	rd->r_p += len;
	return 0;
}

/* An array or map header: every element needs at least one byte, so a
 * count that exceeds the bytes left is a lie, rejected before any work. */
static int pack_rd_count(struct pack_rd *rd, struct pack_tok *t, int type,
                         uint64_t n)
{
	uint64_t need = type == PT_MAP ? 2 * n : n;
	if ((uint64_t)(rd->r_end - rd->r_p) < need)
		return -EBADMSG;
	t->t_type = type;
	t->t_u = n;
	return 0;
}

/* An integer: non-negative values are PT_UINT whatever their encoding. */
static int pack_tok_int(struct pack_tok *t, int64_t v)
{
	t->t_type = v < 0 ? PT_NEG : PT_UINT;
	t->t_u = (uint64_t)v;
	return 0;
}

/* Signed big-endian integer of n bytes. */
static int pack_rd_sint(struct pack_rd *rd, struct pack_tok *t, int n)
{
	uint64_t v;
	if (pack_rd_be(rd, n, &v) < 0)
		return -EBADMSG;
	switch (n) {
	case 1:
		return pack_tok_int(t, (int8_t)v);
	case 2:
		return pack_tok_int(t, (int16_t)v);
	case 4:
		return pack_tok_int(t, (int32_t)v);
	default:
		return pack_tok_int(t, (int64_t)v);
	}
}

static int pack_rd_float(struct pack_rd *rd, struct pack_tok *t, int n)
{
	uint64_t v;
	uint32_t v32;
	float f;
	if (pack_rd_be(rd, n, &v) < 0)
		return -EBADMSG;
	t->t_type = PT_FLOAT;
	if (n == 4) {
		v32 = (uint32_t)v;
		memcpy(&f, &v32, sizeof(f));
		t->t_d = f;
	} else {
		memcpy(&t->t_d, &v, sizeof(t->t_d));
	}
	return 0;
}

/* ext with a length of lenbytes bytes (0: fixext of fixlen bytes). */
static int pack_rd_ext(struct pack_rd *rd, struct pack_tok *t, int lenbytes,
                       uint64_t fixlen)
{
	uint64_t len = fixlen, type;
	if (lenbytes > 0 && pack_rd_be(rd, lenbytes, &len) < 0)
		return -EBADMSG;
	if (pack_rd_be(rd, 1, &type) < 0)
		return -EBADMSG;
	t->t_ext = (int8_t)type;
	return pack_rd_blob(rd, t, PT_EXT, len);
}

/* Headers 0xc0 .. 0xdf. */
static int pack_rd_tok_c(struct pack_rd *rd, struct pack_tok *t, uint8_t b)
{
	uint64_t v;
	int n;

	switch (b) {
	case 0xc0:
		t->t_type = PT_NIL;
		return 0;
	case 0xc2:
	case 0xc3:
		t->t_type = PT_BOOL;
		t->t_u = b & 1u;
		return 0;
	case 0xca:
	case 0xcb:
		return pack_rd_float(rd, t, b == 0xca ? 4 : 8);
	case 0xcc ... 0xcf:
		if (pack_rd_be(rd, 1 << (b - 0xcc), &v) < 0)
			return -EBADMSG;
		t->t_type = PT_UINT;
		t->t_u = v;
		return 0;
	case 0xd0 ... 0xd3:
		return pack_rd_sint(rd, t, 1 << (b - 0xd0));
	case 0xc7 ... 0xc9:
		return pack_rd_ext(rd, t, 1 << (b - 0xc7), 0);
	case 0xd4 ... 0xd8:
		return pack_rd_ext(rd, t, 0, 1u << (b - 0xd4));
	default:
		break;
	}
	/* Headers followed by a length or count. */
	if (b >= 0xc4 && b <= 0xc6)
		n = 1 << (b - 0xc4);
	else if (b >= 0xd9 && b <= 0xdb)
		n = 1 << (b - 0xd9);
	else if (b >= 0xdc)
		n = (b & 1) ? 4 : 2;
	else
		return -EBADMSG; /* 0xc1, never used */
	if (pack_rd_be(rd, n, &v) < 0)
		return -EBADMSG;
	if (b <= 0xc6)
		return pack_rd_blob(rd, t, PT_BIN, v);
	if (b <= 0xdb)
		return pack_rd_blob(rd, t, PT_STR, v);
	return pack_rd_count(rd, t, b <= 0xdd ? PT_ARR : PT_MAP, v);
}

/* Read the next value's header. Returns 0 or -EBADMSG. */
static int pack_rd_tok(struct pack_rd *rd, struct pack_tok *t)
{
	uint8_t b;

	if (rd->r_p >= rd->r_end)
		return -EBADMSG;
	b = *rd->r_p++;
	if (b <= 0x7f)
		return pack_tok_int(t, b);
	if (b >= 0xe0)
		return pack_tok_int(t, (int8_t)b);
	if (b <= 0x8f)
		return pack_rd_count(rd, t, PT_MAP, b & 0x0fu);
	if (b <= 0x9f)
		return pack_rd_count(rd, t, PT_ARR, b & 0x0fu);
	if (b <= 0xbf)
		return pack_rd_blob(rd, t, PT_STR, b & 0x1fu);
	return pack_rd_tok_c(rd, t, b);
}

/* Skip one whole value at nesting depth `depth` (0: top level). */
static int pack_skip(struct pack_rd *rd, int depth)
{
	struct pack_tok t;
	uint64_t n, i;

	if (pack_rd_tok(rd, &t) < 0)
		return -EBADMSG;
	if (t.t_type != PT_ARR && t.t_type != PT_MAP)
		return 0;
	if (depth >= AC_PACK_DEPTH_MAX)
		return -EBADMSG;
	n = t.t_type == PT_MAP ? 2 * t.t_u : t.t_u;
	for (i = 0; i < n; i++)
		if (pack_skip(rd, depth + 1) < 0)
			return -EBADMSG;
	return 0;
}

/* 1 when the len bytes at p are exactly one valid MessagePack value. */
static int pack_valid(const uint8_t *p, size_t len)
{
	struct pack_rd rd;
	rd.r_p = p;
	rd.r_end = len > 0 ? p + len : p;
	return pack_skip(&rd, 0) == 0 && rd.r_p == rd.r_end;
}

/* ---- decoding: the format interpreter -------------------------------------- */

/* 's': copy a str or bin into (char *buf, size_t bufsize). */
static int pack_get_cstr(struct pack_rd *rd, const struct pack_tok *t)
{
	char *buf = va_arg(rd->r_ap, char *);
	size_t size = va_arg(rd->r_ap, size_t);

	if (buf == NULL)
		return -EINVAL;
	if (t->t_type != PT_STR && t->t_type != PT_BIN)
		return -EBADMSG;
	if (memchr(t->t_ptr, '\0', t->t_u) != NULL)
		return -EBADMSG;
	if (t->t_u >= size)
		return -EMSGSIZE;
	memcpy(buf, t->t_ptr, t->t_u);
	buf[t->t_u] = '\0';
	return 0;
}

/* 'S': point (const void **, size_t *) at a str or bin in the payload. */
static int pack_get_bytes(struct pack_rd *rd, const struct pack_tok *t)
{
	const void **ptr = va_arg(rd->r_ap, const void **);
	size_t *len = va_arg(rd->r_ap, size_t *);

	if (ptr == NULL || len == NULL)
		return -EINVAL;
	if (t->t_type != PT_STR && t->t_type != PT_BIN)
		return -EBADMSG;
	*ptr = t->t_ptr;
	*len = t->t_u;
	return 0;
}

/* 'r' and 'l'. */
static int pack_get_ext(struct pack_rd *rd, const struct pack_tok *t, char c)
{
	void *out = va_arg(rd->r_ap, void *);
	ac_addr a;

	if (out == NULL)
		return -EINVAL;
	if (t->t_type != PT_EXT)
		return -EBADMSG;
	if (c == 'r')
		return t->t_ext == AC_EXT_REF ? pack_ref_decode(t->t_ptr, t->t_u, out)
		                              : -EBADMSG;
	if (t->t_ext != AC_EXT_LOC || t->t_u != PACK_LOC_LEN)
		return -EBADMSG;
	if (pack_loc_decode(t->t_ptr, &a) < 0)
		return -EBADMSG;
	memcpy(out, &a, sizeof(a));
	return 0;
}

/* 'b', 'i', 'u', 'd'. 'd' takes floats and, converted, integers. */
static int pack_get_number(struct pack_rd *rd, const struct pack_tok *t,
                           char c)
{
	void *out = va_arg(rd->r_ap, void *);
	int ty = t->t_type;

	if (out == NULL)
		return -EINVAL;
	if (c == 'b' && ty == PT_BOOL) {
		*(int *)out = (int)t->t_u;
	} else if (c == 'i' && (ty == PT_NEG ||
	                        (ty == PT_UINT && t->t_u <= INT64_MAX))) {
		*(int64_t *)out = (int64_t)t->t_u;
	} else if (c == 'u' && ty == PT_UINT) {
		*(uint64_t *)out = t->t_u;
	} else if (c == 'd' && ty == PT_FLOAT) {
		*(double *)out = t->t_d;
	} else if (c == 'd' && ty == PT_UINT) {
		*(double *)out = (double)t->t_u;
	} else if (c == 'd' && ty == PT_NEG) {
		*(double *)out = (double)(int64_t)t->t_u;
	} else {
		return -EBADMSG;
	}
	return 0;
}

static int pack_get_scalar(struct pack_rd *rd, char c)
{
	struct pack_tok t;

	if (pack_rd_tok(rd, &t) < 0)
		return -EBADMSG;
	switch (c) {
	case 'n':
		return t.t_type == PT_NIL ? 0 : -EBADMSG;
	case 's':
		return pack_get_cstr(rd, &t);
	case 'S':
		return pack_get_bytes(rd, &t);
	case 'r':
	case 'l':
		return pack_get_ext(rd, &t, c);
	default:
		return pack_get_number(rd, &t, c);
	}
}

static int pack_get_value(struct pack_rd *rd, int depth);

/* An array or map whose opening bracket was just read from the format. */
static int pack_get_group(struct pack_rd *rd, char open, int depth)
{
	size_t n = pack_fmt_count(rd->r_fmt), i;
	struct pack_tok t;
	char close;
	int rc;

	AC_ASSERT(depth < AC_PACK_DEPTH_MAX);
	if (pack_rd_tok(rd, &t) < 0)
		return -EBADMSG;
	if (t.t_type != (open == '[' ? PT_ARR : PT_MAP))
		return -EBADMSG;
	if ((open == '[' ? t.t_u : 2 * t.t_u) != n)
		return -EBADMSG;
	for (i = 0; i < n; i++) {
		rc = pack_get_value(rd, depth + 1);
		if (rc < 0)
			return rc;
	}
	close = pack_fmt_next(&rd->r_fmt);
	AC_ASSERT(close == (open == '[' ? ']' : '}'));
	return 0;
}

/* One value of the format at nesting depth `depth`. */
static int pack_get_value(struct pack_rd *rd, int depth)
{
	char c = pack_fmt_next(&rd->r_fmt);
	if (c == '*')
		return pack_skip(rd, depth);
	if (c == '[' || c == '{')
		return pack_get_group(rd, c, depth);
	return pack_get_scalar(rd, c);
}

static int pack_decode(const void *buf, size_t len, const char *fmt,
                       va_list ap)
{
	struct pack_rd rd;
	int rc;

	if (buf == NULL && len > 0)
		return -EINVAL;
	rc = pack_fmt_check(fmt, 1);
	if (rc < 0)
		return rc;
	rd.r_p = buf;
	rd.r_end = len > 0 ? rd.r_p + len : rd.r_p; /* no NULL + 0 */
	rd.r_fmt = fmt;
	va_copy(rd.r_ap, ap);
	rc = pack_get_value(&rd, 0);
	va_end(rd.r_ap);
	if (rc < 0)
		return rc;
	AC_ASSERT(pack_fmt_next(&rd.r_fmt) == '\0');
	return rd.r_p == rd.r_end ? 0 : -EBADMSG;
}

int ac_msg_vunpack(const ac_msg *m, const char *fmt, va_list ap)
{
	if (m == NULL)
		return -EINVAL;
	return pack_decode(m->m_data, m->m_len, fmt, ap);
}

int ac_msg_unpack(const ac_msg *m, const char *fmt, ...)
{
	va_list ap;
	int rc;
	va_start(ap, fmt);
	rc = ac_msg_vunpack(m, fmt, ap);
	va_end(ap);
	return rc;
}

int ac_unpack(const void *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int rc;
	va_start(ap, fmt);
	rc = pack_decode(buf, len, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- rendering ------------------------------------------------------------------ */

/* Text output into a caller's buffer, cut when full. */
struct pack_out {
	char *o_buf;
	/* Size of o_buf (> 0). */
	size_t o_cap;
	/* Characters written; o_buf[o_len] is always '\0'. */
	size_t o_len;
	/* Something did not fit. */
	int o_cut;
};

static void pack_out_mem(struct pack_out *o, const char *s, size_t n)
{
	size_t room = o->o_cap - 1 - o->o_len;
	if (n > room) {
		n = room;
		o->o_cut = 1;
	}
	memcpy(o->o_buf + o->o_len, s, n);
	o->o_len += n;
	o->o_buf[o->o_len] = '\0';
}

static void pack_out_str(struct pack_out *o, const char *s)
{
	pack_out_mem(o, s, strlen(s));
}

static void pack_out_fmt(struct pack_out *o, const char *fmt, ...)
	AC_PRINTF(2, 3);

static void pack_out_fmt(struct pack_out *o, const char *fmt, ...)
{
	char t[160];
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	if (n > 0)
		pack_out_mem(o, t, (size_t)n < sizeof(t) ? (size_t)n : sizeof(t) - 1);
}

/* How pack_out_quoted shows bytes. */
enum { PACK_Q_STR, PACK_Q_BIN, PACK_Q_RAW };

/* Quoted bytes: JSON escapes for str (UTF-8 passes through); b"..." with
 * \xNN for all but printable ASCII for bin (as Python shows bytes); raw
 * payloads like str but with \xNN for bytes above 0x7e. */
static void pack_out_quoted(struct pack_out *o, const uint8_t *p, size_t n,
                            int how)
{
	size_t i;
	pack_out_str(o, how == PACK_Q_BIN ? "b\"" : "\"");
	for (i = 0; i < n && !o->o_cut; i++) {
		uint8_t c = p[i];
		if (c == '"' || c == '\\')
			pack_out_fmt(o, "\\%c", c);
		else if (c == '\n' && how != PACK_Q_BIN)
			pack_out_str(o, "\\n");
		else if (c == '\t' && how != PACK_Q_BIN)
			pack_out_str(o, "\\t");
		else if (c >= 0x7f && how != PACK_Q_STR)
			pack_out_fmt(o, "\\x%02x", c);
		else if (c < 0x20 || c == 0x7f)
			pack_out_fmt(o, how == PACK_Q_BIN ? "\\x%02x" : "\\u%04x", c);
		else
			pack_out_mem(o, (const char *)&c, 1);
	}
	pack_out_str(o, "\"");
}

/* The shortest text that reads back as the same double, with a '.' or
 * exponent so it does not look like an integer. */
static void pack_out_double(struct pack_out *o, double d)
{
	char t[40];
	int prec = 15;

	if (isnan(d) || isinf(d)) {
		pack_out_str(o, isnan(d) ? "NaN" : d < 0 ? "-Infinity" : "Infinity");
		return;
	}
	do {
		snprintf(t, sizeof(t), "%.*g", prec, d);
	} while (strtod(t, NULL) != d && ++prec < 17);
	if (prec == 17)
		snprintf(t, sizeof(t), "%.17g", d);
	if (strpbrk(t, ".e") == NULL)
		strcat(t, ".0");
	pack_out_str(o, t);
}

static void pack_out_ext(struct pack_out *o, const struct pack_tok *t)
{
	char text[AC_ADDR_STRLEN + 32];
	ac_ref r;
	ac_addr a;

	if (t->t_ext == AC_EXT_REF && pack_ref_decode(t->t_ptr, t->t_u, &r) == 0) {
		pack_out_fmt(o, "<ref %s>", ac_ref_format(r, text, sizeof(text)));
	} else if (t->t_ext == AC_EXT_LOC && t->t_u == PACK_LOC_LEN &&
	           pack_loc_decode(t->t_ptr, &a) == 0) {
		if (a.family == AC_AF_NONE)
			pack_out_str(o, "<loc none>");
		else
			pack_out_fmt(o, "<loc %s>", ac_addr_format(&a, text, sizeof(text)));
	} else {
		pack_out_fmt(o, "<ext %d, %" PRIu64 " bytes>", t->t_ext, t->t_u);
	}
}

static void pack_repr_value(struct pack_rd *rd, struct pack_out *o);

static void pack_repr_group(struct pack_rd *rd, struct pack_out *o,
                            const struct pack_tok *t)
{
	int map = t->t_type == PT_MAP;
	uint64_t i;

	pack_out_str(o, map ? "{" : "[");
	for (i = 0; i < t->t_u && !o->o_cut; i++) {
		if (i > 0)
			pack_out_str(o, ", ");
		pack_repr_value(rd, o);
		if (map) {
			pack_out_str(o, ": ");
			pack_repr_value(rd, o);
		}
	}
	pack_out_str(o, map ? "}" : "]");
}

/* Render one value of a payload that pack_skip already validated (so the
 * recursion depth is bounded by AC_PACK_DEPTH_MAX). */
static void pack_repr_value(struct pack_rd *rd, struct pack_out *o)
{
	struct pack_tok t;

	if (o->o_cut || pack_rd_tok(rd, &t) < 0)
		return;
	switch (t.t_type) {
	case PT_NIL:
		pack_out_str(o, "null");
		break;
	case PT_BOOL:
		pack_out_str(o, t.t_u ? "true" : "false");
		break;
	case PT_UINT:
		pack_out_fmt(o, "%" PRIu64, t.t_u);
		break;
	case PT_NEG:
		pack_out_fmt(o, "%" PRId64, (int64_t)t.t_u);
		break;
	case PT_FLOAT:
		pack_out_double(o, t.t_d);
		break;
	case PT_STR:
	case PT_BIN:
		pack_out_quoted(o, t.t_ptr, t.t_u,
		                t.t_type == PT_BIN ? PACK_Q_BIN : PACK_Q_STR);
		break;
	case PT_EXT:
		pack_out_ext(o, &t);
		break;
	default:
		pack_repr_group(rd, o, &t);
		break;
	}
}

char *ac_msg_repr(const ac_msg *m, char *buf, size_t len)
{
	struct pack_out o = { buf, len, 0, 0 };
	struct pack_rd rd;

	if (buf == NULL || len == 0)
		return buf;
	buf[0] = '\0';
	if (m == NULL) {
		pack_out_str(&o, "<null>");
		return buf;
	}
	if (pack_valid(m->m_data, m->m_len)) {
		rd.r_p = m->m_data;
		rd.r_end = rd.r_p + m->m_len;
		pack_repr_value(&rd, &o);
	} else {
		pack_out_fmt(&o, "<raw %zu bytes ", m->m_len);
		pack_out_quoted(&o, m->m_data, m->m_len, PACK_Q_RAW);
		pack_out_str(&o, ">");
	}
	if (o.o_cut && len >= 4)
		memcpy(buf + o.o_len - 3, "...", 3);
	return buf;
}
