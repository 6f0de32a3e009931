/* net/zip.c: zlib compression of frame bodies (frames flagged AC_WF_ZLIB).
 *
 * ac__zip deflates a body (zlib format, fastest level: bodies are compressed
 * on the hot path of sending). ac__unzip inflates what a peer sent and is
 * the defensive half: the output is bounded by the caller's max (the body
 * limit of the protocol), so a decompression bomb fails with -EMSGSIZE
 * after at most max + 1 bytes were allocated, and anything that is not
 * exactly one complete zlib stream (garbage, truncated input, bytes after
 * the end) fails with -EBADMSG. No OS call here: zlib is plain computation.
 *
 * ac__zip_likely is the cheap test before deflating: a byte histogram of
 * up to 4 KiB sampled across the body. Random or already compressed data
 * (most file chunks) uses nearly all 256 byte values evenly and is sent as
 * it is, without spending the deflate (which is slower than the network on
 * loopback for such data).
 */
#include "net/net.h"

#include <zlib.h>

/* First guess of the inflated size, as a multiple of the input. */
#define ZIP_GUESS_RATIO 4
/* Smallest output buffer tried first. */
#define ZIP_GUESS_MIN 1024
/* ac__zip_likely: bytes sampled, in runs of ZIP_RUN. */
#define ZIP_SAMPLE 4096
#define ZIP_RUN 64
/* Effective alphabet size (pairs of sampled bytes over pairs that are
 * equal: an unbiased estimate of 1 / collision probability) above which a
 * body is taken for incompressible: uniform random bytes give ~256, text
 * under 30, base64 64. Below ZIP_MIN_N sampled bytes, deflate decides. */
#define ZIP_ALPHABET_MAX 200
#define ZIP_MIN_N 256

int ac__zip_likely(const void *in, size_t len)
{
	const uint8_t *p = in;
	uint32_t count[256] = {0};
	uint64_t n = 0, same = 0;
	size_t runs, stride, i, j;
	if (!in || len == 0)
		return 0;
	if (len < ZIP_MIN_N)
		return 1;
	if (len <= ZIP_SAMPLE) {
		runs = 1;
		stride = 0;
	} else {
		runs = ZIP_SAMPLE / ZIP_RUN;
		stride = (len - ZIP_RUN) / (runs - 1);
	}
	for (i = 0; i < runs; i++) {
		const uint8_t *r = p + i * stride;
		size_t rl = runs == 1 ? len : ZIP_RUN;
		AC_ASSERT(i * stride + rl <= len); /* every run inside the body */
		for (j = 0; j < rl; j++)
			count[r[j]]++;
		n += rl;
	}
	AC_ASSERT(n >= ZIP_MIN_N && n <= ZIP_SAMPLE); /* the sample is bounded */
	for (i = 0; i < 256; i++)
		same += (uint64_t)count[i] * (count[i] ? count[i] - 1 : 0);
	/* n (n - 1) / same > ZIP_ALPHABET_MAX means incompressible. */
	return n * (n - 1) <= (uint64_t)ZIP_ALPHABET_MAX * same;
}

int ac__zip(const void *in, size_t len, void **out, size_t *outlen)
{
	static const uint8_t none = 0;
	uLongf zlen;
	uint8_t *buf, *small;
	int rc;
	if ((!in && len) || !out || !outlen)
		return -EINVAL;
	if ((uLong)len != len)
		return -ENOMEM;
	zlen = compressBound((uLong)len);
	buf = ac__malloc(zlen);
	if (!buf)
		return -ENOMEM;
	rc = compress2(buf, &zlen, len ? in : &none, (uLong)len, Z_BEST_SPEED);
	if (rc != Z_OK) {
		/* Only Z_MEM_ERROR can happen with a buffer of compressBound. */
		ac__free(buf);
		return -ENOMEM;
	}
	/* A zlib stream has a header and a checksum; compressBound is the
	 * most deflate may write. */
	AC_ASSERT(zlen >= 6 && zlen <= compressBound((uLong)len));
	small = ac__realloc(buf, zlen);
	*out = small ? small : buf;
	*outlen = zlen;
	return 0;
}

/* Grow the output of s to at most cap bytes (cap > current size). */
static int zip_grow(z_stream *s, uint8_t **buf, size_t *size, size_t cap)
{
	size_t want = *size * 2;
	uint8_t *nb;
	/* Called with the output full, below the cap. */
	AC_ASSERT(s->avail_out == 0 && s->total_out == *size && *size < cap);
	if (want > cap || want < *size)
		want = cap;
	nb = ac__realloc(*buf, want);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	s->next_out = nb + s->total_out;
	s->avail_out = (uInt)(want - s->total_out);
	*size = want;
	AC_ASSERT(s->avail_out > 0 && *size <= cap);
	return 0;
}

/* Inflate s into *buf (size *size, grown up to cap = max + 1 bytes). */
static int zip_inflate_all(z_stream *s, uint8_t **buf, size_t *size,
                           size_t cap)
{
	for (;;) {
		int zr;
		AC_ASSERT(*size <= cap && s->total_out + s->avail_out == *size);
		zr = inflate(s, Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			return s->avail_in == 0 ? 0 : -EBADMSG; /* bytes after it */
		if (zr == Z_MEM_ERROR)
			return -ENOMEM;
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			return -EBADMSG; /* Z_DATA_ERROR, Z_NEED_DICT, ... */
		if (s->avail_out > 0)
			return -EBADMSG; /* all input used, stream not ended */
		if (*size >= cap)
			return -EMSGSIZE; /* more than max bytes of output */
		if (zip_grow(s, buf, size, cap) < 0)
			return -ENOMEM;
	}
}

int ac__unzip(const void *in, size_t len, size_t max, void **out,
              size_t *outlen)
{
	z_stream s;
	uint8_t *buf;
	size_t size, cap;
	int rc;
	if ((!in && len) || !out || !outlen || max >= UINT32_MAX)
		return -EINVAL;
	if (len == 0)
		return -EBADMSG;
	if (len > UINT32_MAX)
		return -EMSGSIZE;
	/* One byte over max tells "too big" from "exactly max". */
	cap = max + 1;
	size = len < cap / ZIP_GUESS_RATIO ? len * ZIP_GUESS_RATIO : cap;
	if (size < ZIP_GUESS_MIN)
		size = ZIP_GUESS_MIN < cap ? ZIP_GUESS_MIN : cap;
	AC_ASSERT(size > 0 && size <= cap); /* at most max + 1 bytes, ever */
	buf = ac__malloc(size);
	if (!buf)
		return -ENOMEM;
	memset(&s, 0, sizeof(s));
	s.next_in = (Bytef *)(uintptr_t)in;
	s.avail_in = (uInt)len;
	s.next_out = buf;
	s.avail_out = (uInt)size;
	if (inflateInit(&s) != Z_OK) {
		ac__free(buf);
		return -ENOMEM;
	}
	rc = zip_inflate_all(&s, &buf, &size, cap);
	if (rc == 0 && s.total_out > max)
		rc = -EMSGSIZE;
	inflateEnd(&s);
	if (rc < 0) {
		ac__free(buf);
		return rc;
	}
	AC_ASSERT(s.total_out <= max && s.total_out <= size); /* within bounds */
	*out = buf;
	*outlen = s.total_out;
	return 0;
}
