/* tests/fuzz/fuzz_zip.c: fuzz target of zlib inflation of frame bodies
 * (net/zip.c, ac__unzip), the defensive half of AC_WF_ZLIB. Properties,
 * besides surviving any bytes:
 *  - the output never exceeds the bound asked for: the protocol's body
 *    limit (4 MiB), and a small one taken from the first input byte (so
 *    bombs against a small bound are found quickly); -EMSGSIZE under the
 *    small bound means the output really is longer;
 *  - what inflates is exactly what zlib's own uncompress reads from the
 *    same bytes (a differential check against the reference inflater);
 *  - deflating the output (ac__zip) and inflating it again gives it back.
 * ac__zip_likely runs on the input too (it reads a sample of any bytes).
 * The functions are internal: net/zip.c is compiled in, as in
 * tests/check_zip.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <zlib.h>

#include "net/net.h"
#include "tests/fuzz/fuzz.h"

/* zlib's reference answer for the stream in[0..len): Z_OK and its output
 * (at most cap bytes) or another code. */
static int zip_reference(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                         size_t *outlen)
{
	uLongf dl = (uLongf)cap;
	uLong sl = (uLong)len;
	int rc = uncompress2(out, &dl, in, &sl);
	*outlen = dl;
	/* uncompress2 stops at the stream's end: trailing bytes are ours to
	 * refuse. */
	if (rc == Z_OK && sl != len)
		return Z_DATA_ERROR;
	return rc;
}

static void zip_round(const void *plain, size_t len)
{
	void *z, *back;
	size_t zl, bl;
	fz_check(ac__zip(plain, len, &z, &zl) == 0);
	fz_check(ac__unzip(z, zl, len, &back, &bl) == 0);
	fz_check(bl == len && (len == 0 || memcmp(back, plain, len) == 0));
	free(z);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t small, olen, rlen;
	void *out;
	uint8_t *ref;
	int rc, zr;
	(void)ac__zip_likely(data, size);
	if (size == 0) {
		fz_check(ac__unzip(data, size, 100, &out, &olen) == -EBADMSG);
		return 0;
	}
	/* Against the protocol's limit. */
	rc = ac__unzip(data + 1, size - 1, AC_WIRE_BODY_MAX, &out, &olen);
	fz_check(rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE);
	if (rc == 0) {
		fz_check(olen <= AC_WIRE_BODY_MAX);
		zip_round(out, olen);
		free(out);
	}
	/* Against a small bound, checked with the reference inflater. */
	small = (size_t)data[0] * 64;
	rc = ac__unzip(data + 1, size - 1, small, &out, &olen);
	ref = malloc(small + 1);
	fz_check(ref != NULL);
	zr = zip_reference(data + 1, size - 1, ref, small + 1, &rlen);
	if (rc == 0) {
		fz_check(olen <= small);
		fz_check(zr == Z_OK && rlen == olen);
		fz_check(olen == 0 || memcmp(out, ref, olen) == 0);
		free(out);
	} else if (rc == -EMSGSIZE) {
		/* More than small bytes: zlib fills the small + 1 bytes. */
		fz_check(zr == Z_BUF_ERROR || (zr == Z_OK && rlen > small));
	} else {
		fz_check(rc == -EBADMSG);
		fz_check(zr != Z_OK);
	}
	free(ref);
	return 0;
}
