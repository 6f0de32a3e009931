/* tests/fuzz/fuzz_record.c: fuzz target of the record reader
 * (io/record_file.c, io/record_fmt.c) and of what acpcap does with the
 * events (tools/acpcap_synth.c turns them into packets, tools/acpcap_flow.c
 * reassembles those, tools/acpcap_out.c prints the frames — here into
 * a stream that discards them). The first input byte is a mode, the rest a record:
 *   bit 0  recompute the header's, every block header's and every frame's
 *          CRC before reading (blocks inflated, fixed, and compressed
 *          again), so mutations get past the checksums into the field
 *          decoders (the checksums and the decompressor, io/rec_lz.c,
 *          are fuzzed with the bit clear);
 *   bit 1  also rewrite each frame's seq byte to the expected one.
 * Properties, besides surviving any bytes: ac__rec_next ends with a clean
 * end or -EBADMSG / -EPIPE and then keeps returning it; each decoded event
 * re-encodes (ac__rec_encode) into a frame that decodes to the same event.
 * The reader is internal: its sources are compiled in, as in
 * tests/check_record.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <zlib.h>

#include "io/rec_lz.h"
#include "io/record.h"
#include "tests/fuzz/fuzz.h"
#include "tools/acpcap_flow.h"
#include "tools/acpcap_out.h"
#include "tools/acpcap_synth.h"

static const uint8_t rec_magic[8] = {0x41, 0x43, 0x52, 0x45, 0x43, 0x00, 0x0d, 0x0a};

static uint32_t rec_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void rec_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Recompute the frame CRCs (and with seq, the seq bytes) of the event
 * stream in b[0..n), as far as its lengths hold together. */
static void rec_fix_frames(uint8_t *b, size_t n, int seq)
{
	size_t at = 0;
	uint64_t ev = 0;
	while (at < n) {
		uint64_t len = 0;
		size_t k = 0;
		while (k < 10 && at + k < n) {
			len |= (uint64_t)(b[at + k] & 0x7f) << (7 * k);
			if (!(b[at + (k++)] & 0x80))
				break;
		}
		if (len < 3 || len > n || at + k + len + 4 > n)
			return;
		if (seq)
			b[at + k + 1] = (uint8_t)ev;
		rec_put_le32(b + at + k + len,
		             (uint32_t)crc32(0L, b + at, (uInt)(k + len)));
		at += k + (size_t)len + 4;
		ev++;
	}
}

/* Up to this many blocks are rebuilt. */
#define FIX_BLOCKS 64

/* The record b[0..n) with its CRCs recomputed (a new buffer, *out_len
 * bytes): the header's; then its blocks, as far as their headers hold
 * together (method, lengths within the input) and LZ blocks decode, are
 * inflated, the frames of their stream get right CRCs (and seq bytes),
 * and each block is made again with the same method (an LZ block
 * recompressed with io/rec_lz.c, stored when that does not shrink it) and
 * a right header CRC; what follows is kept as it is. */
static uint8_t *rec_fix(const uint8_t *b, size_t n, int seq, size_t *out_len)
{
	size_t hl, at, raw_len = 0, nb = 0, i, o;
	uint32_t raws[FIX_BLOCKS];
	uint8_t meth[FIX_BLOCKS], *raw = NULL, *out;
	static uint32_t table[AC_LZ_TABLE];
	if (n < 20 || memcmp(b, rec_magic, 8) != 0 || rec_le32(b + 12) > n - 20)
		goto asis;
	hl = 20 + rec_le32(b + 12);
	for (at = hl; nb < FIX_BLOCKS && n - at >= AC_REC_BLOCK_HEAD; nb++) {
		uint32_t r = rec_le32(b + at + 1), st = rec_le32(b + at + 5);
		uint8_t *nr;
		if (r == 0 || r > AC_REC_BLOCK_MAX || st > n - at - AC_REC_BLOCK_HEAD ||
		    (b[at] != AC_REC_BLOCK_STORED && b[at] != AC_REC_BLOCK_LZ) ||
		    (b[at] == AC_REC_BLOCK_STORED && st != r))
			break;
		nr = realloc(raw, raw_len + r);
		fz_check(nr != NULL);
		raw = nr;
		if (b[at] == AC_REC_BLOCK_STORED)
			memcpy(raw + raw_len, b + at + AC_REC_BLOCK_HEAD, r);
		else if (ac__lz_decompress(b + at + AC_REC_BLOCK_HEAD, st, raw + raw_len, r) < 0)
			break;
		meth[nb] = b[at];
		raws[nb] = r;
		raw_len += r;
		at += AC_REC_BLOCK_HEAD + st;
	}
	rec_fix_frames(raw, raw_len, seq);
	out = malloc(at + raw_len + nb * AC_REC_BLOCK_HEAD + (n - at) + 1);
	fz_check(out != NULL);
	memcpy(out, b, hl);
	rec_put_le32(out + hl - 4, (uint32_t)crc32(0L, out, (uInt)(hl - 4)));
	for (i = 0, o = hl, raw_len = 0; i < nb; i++) {
		size_t z = 0;
		if (meth[i] == AC_REC_BLOCK_LZ)
			z = ac__lz_compress(raw + raw_len, raws[i], out + o + AC_REC_BLOCK_HEAD,
			                    raws[i] - 1, table);
		if (z == 0) {
			z = raws[i];
			memcpy(out + o + AC_REC_BLOCK_HEAD, raw + raw_len, z);
		}
		out[o] = z < raws[i] ? AC_REC_BLOCK_LZ : AC_REC_BLOCK_STORED;
		rec_put_le32(out + o + 1, raws[i]);
		rec_put_le32(out + o + 5, (uint32_t)z);
		rec_put_le32(out + o + 9, (uint32_t)crc32(0L, out + o, 9));
		o += AC_REC_BLOCK_HEAD + z;
		raw_len += raws[i];
	}
	memcpy(out + o, b + at, n - at);
	*out_len = o + n - at;
	free(raw);
	return out;
asis:
	out = malloc(n + 1);
	fz_check(out != NULL);
	memcpy(out, b, n);
	*out_len = n;
	return out;
}

static int rec_same(const ac_rec_event *x, const ac_rec_event *y)
{
	return x->kind == y->kind && x->call == y->call && x->op == y->op &&
	       x->h == y->h && x->a == y->a && x->b == y->b && x->c == y->c &&
	       x->rc == y->rc && x->res == y->res &&
	       !memcmp(&x->addr, &y->addr, sizeof(x->addr)) &&
	       !memcmp(&x->addr2, &y->addr2, sizeof(x->addr2)) &&
	       x->dlen == y->dlen && x->dlen2 == y->dlen2 &&
	       (!x->dlen || !memcmp(x->data, y->data, x->dlen)) &&
	       (!x->dlen2 || !memcmp(x->data2, y->data2, x->dlen2));
}

/* Re-encode ev and decode the frame again: the same event. */
static void rec_round(ac_rec_enc *enc, ac_rec_enc *dec, const ac_rec_event *ev)
{
	size_t bound = ac__rec_frame_bound(ev), flen, k = 0;
	uint8_t *f;
	ac_rec_event back;
	const char *why = NULL;
	uint64_t len = 0;
	fz_check(bound > 0);
	f = malloc(bound);
	fz_check(f != NULL);
	flen = ac__rec_encode(enc, ev, f);
	fz_check(flen <= bound);
	do
		len |= (uint64_t)(f[k] & 0x7f) << (7 * k);
	while (f[k++] & 0x80);
	fz_check(k + len + 4 == flen && f[k] == ev->kind);
	fz_check(ac__rec_decode(dec, f[k], f + k + 2, (size_t)len - 2, &back, &why) == 0);
	fz_check(rec_same(ev, &back));
	free(f);
}

static void rec_to_flow(void *arg, int64_t ts_ns, const uint8_t *pkt, size_t len)
{
	acp_flow_packet(arg, 101 /* DLT_RAW */, ts_ns, pkt, len);
}

static void rec_walk(ac_rec_reader *r, acp_flow *flow)
{
	const ac_rec_header *h = ac__rec_header(r);
	acp_synth *s = acp_synth_new(h->wall_ns, h->mono_ns, rec_to_flow, flow);
	ac_rec_enc enc, dec;
	ac_rec_event ev;
	char text[512];
	int rc, again;
	memset(&enc, 0, sizeof(enc));
	memset(&dec, 0, sizeof(dec));
	while ((rc = ac__rec_next(r, &ev)) == 1) {
		ac__rec_event_format(&ev, text, sizeof(text));
		rec_round(&enc, &dec, &ev);
		if (s)
			acp_synth_event(s, &ev);
	}
	fz_check(rc == 0 || rc == -EBADMSG || rc == -EPIPE);
	again = ac__rec_next(r, &ev);
	fz_check(again == rc);
	fz_check(rc == 0 || ac__rec_error(r)[0] != '\0');
	acp_synth_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ac_rec_reader *r;
	uint8_t *b;
	size_t blen;
	char err[256];
	FILE *sink;
	acp_out o;
	acp_flow *flow;
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		b = rec_fix(data + 1, size - 1, data[0] & 2, &blen);
	} else {
		b = malloc(size);
		fz_check(b != NULL);
		memcpy(b, data + 1, size - 1);
		blen = size - 1;
	}
	if (ac__rec_open_mem(b, blen, &r, err, sizeof(err)) < 0) {
		fz_check(err[0] != '\0');
		free(b);
		return 0;
	}
	sink = fz_null_file();
	fz_check(sink != NULL);
	fz_check(acp_out_init(&o, sink, data[0] & 4 ? 1 : 0, 200) == 0);
	flow = acp_flow_new(acp_out_dump_item, NULL, &o);
	fz_check(flow != NULL);
	rec_walk(r, flow);
	acp_flow_finish(flow);
	acp_flow_free(flow);
	acp_out_fini(&o);
	fclose(sink);
	ac__rec_close(r);
	free(b);
	return 0;
}
