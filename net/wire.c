/* net/wire.c: checking frame headers from the wire (see wire.h). */
#include "net/wire.h"

#include <errno.h>

int ac_wire_hdr_get(const uint8_t *hdr, uint32_t max, ac_wire_hdr *out)
{
	uint32_t total = ac_wire_get32(hdr);
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
	return 0;
}
