/* tools/acpcap_proto.c: frames, names and bodies of the asyncoro protocol
 * read back from captured bytes (see acpcap_proto.h). Inflation is the
 * library's own bounded ac__unzip (net/zip.c, compiled into acpcap), and
 * MessagePack rendering is ac_msg_repr, so acpcap shows values exactly as
 * the library's logs do.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/asyncoro.h>

#include "net/net.h"
#include "tools/acpcap_proto.h"

static const char *const proto_names[AC_WT_MAX + 1] = {
	[AC_WT_HELLO] = "HELLO",
	[AC_WT_HELLO_ACK] = "HELLO_ACK",
	[AC_WT_AUTH] = "AUTH",
	[AC_WT_AUTH_OK] = "AUTH_OK",
	[AC_WT_REFUSE] = "REFUSE",
	[AC_WT_PING] = "PING",
	[AC_WT_BYE] = "BYE",
	[AC_WT_SEND] = "SEND",
	[AC_WT_DELIVER] = "DELIVER",
	[AC_WT_LOCATE] = "LOCATE",
	[AC_WT_MONITOR] = "MONITOR",
	[AC_WT_TERMINATE] = "TERMINATE",
	[AC_WT_FINISH] = "FINISH",
	[AC_WT_CHAN] = "CHAN",
	[AC_WT_RCI_CALL] = "RCI_CALL",
	[AC_WT_FILE_BEGIN] = "FILE_BEGIN",
	[AC_WT_FILE_DATA] = "FILE_DATA",
	[AC_WT_FILE_END] = "FILE_END",
	[AC_WT_DEL_FILE] = "DEL_FILE",
	[AC_WT_ANNOUNCE] = "ANNOUNCE",
	[AC_WT_EXIT] = "EXIT",
};

const char *acp_type_name(unsigned type)
{
	return type <= AC_WT_MAX ? proto_names[type] : NULL;
}

const char *acp_type_str(unsigned type, char *buf, size_t len)
{
	const char *n = acp_type_name(type);
	if (n != NULL)
		return n;
	snprintf(buf, len, "TYPE_%u", type);
	return buf;
}

char *acp_flags_str(unsigned flags, char *buf, size_t len)
{
	unsigned rest = flags & ~(unsigned)(AC_WF_REPLY | AC_WF_ZLIB);
	snprintf(buf, len, "%s%s%s%s", (flags & AC_WF_REPLY) ? "REPLY" : "",
	         (flags & AC_WF_REPLY) && (flags & AC_WF_ZLIB) ? "|" : "",
	         (flags & AC_WF_ZLIB) ? "ZLIB" : "", flags == 0 ? "-" : "");
	if (rest != 0) {
		size_t n = strlen(buf);
		snprintf(buf + n, len - n, "%s0x%02x", n > 0 ? "|" : "", rest);
	}
	return buf;
}

const char *acp_frame_step(const acp_frame *f)
{
	switch (f->f_type) {
	case AC_WT_HELLO:
		return "1/4 hello";
	case AC_WT_HELLO_ACK:
		return "2/4 hello-ack";
	case AC_WT_AUTH:
		return "3/4 auth";
	case AC_WT_AUTH_OK:
		return "4/4 auth-ok";
	case AC_WT_REFUSE:
		return "refused";
	default:
		return NULL;
	}
}

long acp_frame_parse(const uint8_t *p, size_t n, acp_frame *f)
{
	uint32_t len;
	if (n < 4)
		return 0;
	len = ac_wire_get32(p);
	if (len < AC_WIRE_HDR - 4 || len - (AC_WIRE_HDR - 4) > AC_WIRE_BODY_MAX)
		return -EBADMSG;
	if (n < (size_t)len + 4)
		return 0;
	f->f_body_len = len - (AC_WIRE_HDR - 4);
	f->f_type = p[4];
	f->f_flags = p[5];
	f->f_reserved = (uint16_t)(p[6] << 8 | p[7]);
	f->f_req_id = ac_wire_get32(p + 8);
	f->f_body = p + AC_WIRE_HDR;
	return (long)len + 4;
}

int acp_frame_plausible(const acp_frame *f)
{
	return acp_type_name(f->f_type) != NULL && f->f_reserved == 0 &&
	       (f->f_flags & ~(AC_WF_REPLY | AC_WF_ZLIB)) == 0;
}

/* ---- the splitter ------------------------------------------------------------- */

void acp_split_init(acp_split *sp)
{
	memset(sp, 0, sizeof(*sp));
}

void acp_split_fini(acp_split *sp)
{
	free(sp->sp_buf);
	acp_split_init(sp);
}

/* Make room for n more bytes after sp_len. Returns 0 or -ENOMEM. */
static int split_room(acp_split *sp, size_t n)
{
	uint8_t *b;
	size_t cap;
	if (sp->sp_off > 0 && sp->sp_off == sp->sp_len) {
		sp->sp_off = sp->sp_len = 0;
	} else if (sp->sp_off > 0 && sp->sp_len + n > sp->sp_cap) {
		memmove(sp->sp_buf, sp->sp_buf + sp->sp_off, sp->sp_len - sp->sp_off);
		sp->sp_len -= sp->sp_off;
		sp->sp_off = 0;
	}
	if (sp->sp_len + n <= sp->sp_cap)
		return 0;
	cap = sp->sp_cap ? sp->sp_cap : 4096;
	while (cap < sp->sp_len + n)
		cap *= 2;
	if ((b = realloc(sp->sp_buf, cap)) == NULL)
		return -ENOMEM;
	sp->sp_buf = b;
	sp->sp_cap = cap;
	return 0;
}

/* Give out the complete frames buffered. */
static void split_frames(acp_split *sp, acp_frame_fn fn, void *arg)
{
	acp_frame f;
	long r;
	while (sp->sp_state == ACP_SPLIT_OK) {
		r = acp_frame_parse(sp->sp_buf + sp->sp_off, sp->sp_len - sp->sp_off, &f);
		if (r == 0)
			break;
		if (r < 0 || (sp->sp_frames == 0 && !acp_frame_plausible(&f))) {
			sp->sp_state = r < 0 && sp->sp_frames > 0 ? ACP_SPLIT_LOST
			                                           : ACP_SPLIT_FOREIGN;
			break;
		}
		sp->sp_frames++;
		fn(arg, &f);
		sp->sp_off += (size_t)r;
	}
}

/* 1 when AC_WIRE_HDR bytes at h are a header asyncoro could send. */
static int split_hdr_plausible(const uint8_t *h)
{
	uint32_t len = ac_wire_get32(h);
	acp_frame f;
	if (len < AC_WIRE_HDR - 4 || len - (AC_WIRE_HDR - 4) > AC_WIRE_BODY_MAX)
		return 0;
	f.f_type = h[4];
	f.f_flags = h[5];
	f.f_reserved = (uint16_t)(h[6] << 8 | h[7]);
	return acp_frame_plausible(&f);
}

int acp_split_feed(acp_split *sp, const uint8_t *p, size_t n, acp_frame_fn fn,
                   void *arg)
{
	size_t have = sp->sp_len - sp->sp_off;
	uint8_t h[AC_WIRE_HDR];

	sp->sp_bytes += n;
	if (sp->sp_state != ACP_SPLIT_OK || n == 0)
		return sp->sp_state;
	/* Sniff a stream's first header as soon as it is there, so that a
	 * foreign stream is never buffered up to a bogus length. */
	if (sp->sp_frames == 0 && have < AC_WIRE_HDR && have + n >= AC_WIRE_HDR) {
		if (have > 0)
			memcpy(h, sp->sp_buf + sp->sp_off, have);
		memcpy(h + have, p, AC_WIRE_HDR - have);
		if (!split_hdr_plausible(h)) {
			sp->sp_state = ACP_SPLIT_FOREIGN;
			return sp->sp_state;
		}
	}
	if (split_room(sp, n) < 0) {
		sp->sp_state = ACP_SPLIT_NOMEM;
		return sp->sp_state;
	}
	memcpy(sp->sp_buf + sp->sp_len, p, n);
	sp->sp_len += n;
	split_frames(sp, fn, arg);
	return sp->sp_state;
}

/* ---- bodies ------------------------------------------------------------------------ */

/* ac_msg_repr of len bytes at p into out. */
static void proto_repr(const uint8_t *p, size_t len, char *out, size_t outlen)
{
	ac_msg *m = ac_msg_new(p, len);
	if (m == NULL) {
		snprintf(out, outlen, "<out of memory for %zu bytes>", len);
		return;
	}
	ac_msg_repr(m, out, outlen);
	ac_msg_free(m);
}

char *acp_body_render(const acp_frame *f, char *out, size_t outlen)
{
	void *raw = NULL;
	size_t rawlen = 0;
	int rc;

	if (out == NULL || outlen == 0)
		return out;
	out[0] = '\0';
	if (!(f->f_flags & AC_WF_ZLIB)) {
		if (f->f_body_len > 0)
			proto_repr(f->f_body, f->f_body_len, out, outlen);
		return out;
	}
	rc = ac__unzip(f->f_body, f->f_body_len, AC_WIRE_BODY_MAX, &raw, &rawlen);
	if (rc < 0) {
		snprintf(out, outlen, "<zlib body of %u bytes does not inflate: %s>",
		         (unsigned)f->f_body_len,
		         rc == -EMSGSIZE ? "over 4 MiB" : rc == -ENOMEM ? "out of memory"
		                                                        : "bad stream");
		return out;
	}
	if (rawlen > 0)
		proto_repr(raw, rawlen, out, outlen);
	free(raw);
	return out;
}

int acp_announce_parse(const uint8_t *p, size_t n, acp_frame *f,
                       const uint8_t **mac)
{
	long r;
	if (n < AC_WIRE_HDR + AC_WIRE_MAC || n > AC_WIRE_ANNOUNCE_MAX)
		return -EBADMSG;
	r = acp_frame_parse(p, n - AC_WIRE_MAC, f);
	if (r <= 0 || (size_t)r != n - AC_WIRE_MAC || f->f_type != AC_WT_ANNOUNCE)
		return -EBADMSG;
	*mac = p + r;
	return 0;
}
