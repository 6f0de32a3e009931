/* net/wire.c: checking frame headers from the wire (see wire.h). */
#include "config.h"

#include "net/wire.h"

#include <errno.h>
#include <string.h>

#include "io/io_assert.h"

#ifdef AC_DEBUG
/* 1 when ac_wire_hdr_put writes exactly hdr for h (debug checks). */
static int wire_hdr_same(const uint8_t *hdr, const ac_wire_hdr *h)
{
	uint8_t again[AC_WIRE_HDR];
	ac_wire_hdr_put(again, h->type, h->flags, h->req_id, h->len);
	return memcmp(again, hdr, AC_WIRE_HDR) == 0;
}
#endif

int ac_wire_hdr_get(const uint8_t *hdr, uint32_t max, ac_wire_hdr *out)
{
	uint32_t total;
	AC_ASSERT(hdr != NULL && out != NULL);
	total = ac_wire_get32(hdr);
	if (total < AC_WIRE_HDR - 4)
		return -EBADMSG;
	out->len = total - (AC_WIRE_HDR - 4);
	out->type = hdr[4];
	out->flags = hdr[5];
	out->req_id = ac_wire_get32(hdr + 8);
	if (hdr[6] || hdr[7])
		return -EBADMSG;
	if (out->type == 0 || out->type > AC_WT_MAX)
		return -EBADMSG;
	if (out->flags & ~(AC_WF_REPLY | AC_WF_ZLIB))
		return -EBADMSG;
	if (out->len > max)
		return -EMSGSIZE;
	AC_ASSERT(out->len <= max && out->len <= UINT32_MAX - (AC_WIRE_HDR - 4));
	/* A header that passes is exactly what ac_wire_hdr_put writes for it. */
	AC_DASSERT(wire_hdr_same(hdr, out));
	return 0;
}
