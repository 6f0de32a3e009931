/* tools/acpcap_proto.h: the asyncoro protocol, read back from bytes — the
 * frame splitter for one direction of a TCP stream (net/wire.h header),
 * names of frame types and flags, the handshake steps, UDP discovery
 * announcements (a frame and its 32-byte MAC), and the rendering of frame
 * bodies: zlib bodies inflated (bounded by AC_WIRE_BODY_MAX, net/zip.c),
 * MessagePack rendered by the library's ac_msg_repr, which shows refs as
 * <ref kind/slot.gen@ip:port> and locations as <loc ip:port> exactly as
 * ac_ref_format / ac_addr_format write them.
 *
 * Everything here takes bytes from a capture, so from anyone: every
 * length is checked before use, no input can make these functions read
 * out of bounds, allocate more than the protocol's limits, or crash (the
 * test suite feeds them random bytes).
 */
#ifndef AC_TOOLS_ACPCAP_PROTO_H
#define AC_TOOLS_ACPCAP_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "net/wire.h"

/* One frame, as it was on the wire. */
typedef struct acp_frame {
	/* Body bytes on the wire (compressed when AC_WF_ZLIB). */
	uint32_t f_body_len;
	uint8_t f_type;
	uint8_t f_flags;
	/* The two reserved bytes (zero in a well-formed frame). */
	uint16_t f_reserved;
	uint32_t f_req_id;
	/* The body (f_body_len bytes), owned by whoever parsed the frame. */
	const uint8_t *f_body;
} acp_frame;

/* The name of a frame type ("HELLO", "SEND", ...), or NULL when unknown. */
const char *acp_type_name(unsigned type);
/* The name of a type, or "TYPE_<n>" for an unknown one, in buf. */
const char *acp_type_str(unsigned type, char *buf, size_t len);
/* Flags as "REPLY", "ZLIB", "REPLY|ZLIB", "-" (none); unknown bits are
 * added as "0x..". Returns buf. */
char *acp_flags_str(unsigned flags, char *buf, size_t len);
/* The handshake step a frame is ("1/4 hello", "2/4 hello-ack",
 * "3/4 auth", "4/4 auth-ok", "refused"), or NULL for other frames. */
const char *acp_frame_step(const acp_frame *f);

/* Parse the frame at p, of which n bytes are available. Returns its total
 * length (header + body, > 0) and fills *f when all of it is there; 0 when
 * more bytes are needed; -EBADMSG when the length field is impossible
 * (under 8, or a body over AC_WIRE_BODY_MAX): a stream cannot be followed
 * past such a header. */
long acp_frame_parse(const uint8_t *p, size_t n, acp_frame *f);
/* 1 when a parsed header is one asyncoro sends: a known type, no unknown
 * flag, reserved bytes zero. */
int acp_frame_plausible(const acp_frame *f);

/* The frame splitter of one direction of a stream. */
typedef struct acp_split {
	/* Bytes not yet consumed: sp_buf[sp_off .. sp_len). */
	uint8_t *sp_buf;
	size_t sp_off;
	size_t sp_len;
	size_t sp_cap;
	/* ACP_SPLIT_*. */
	int sp_state;
	/* Frames given out. */
	uint64_t sp_frames;
	/* Bytes fed. */
	uint64_t sp_bytes;
} acp_split;

enum {
	/* Following the stream. */
	ACP_SPLIT_OK = 0,
	/* The first frame did not look like asyncoro: the stream is another
	 * protocol, or the capture began inside it; bytes are ignored. */
	ACP_SPLIT_FOREIGN = 1,
	/* A later header was impossible: the rest is ignored. */
	ACP_SPLIT_LOST = 2,
	/* Out of memory: the rest is ignored. */
	ACP_SPLIT_NOMEM = 3
};

/* Called for each complete frame; f and its body are valid during the
 * call only. */
typedef void (*acp_frame_fn)(void *arg, const acp_frame *f);

void acp_split_init(acp_split *sp);
void acp_split_fini(acp_split *sp);
/* Feed the next n bytes of the stream; fn runs once per frame they
 * complete. Returns the state after the call (ACP_SPLIT_*); once it is not
 * ACP_SPLIT_OK further bytes are counted and dropped. Memory held stays
 * under one frame (AC_WIRE_HDR + AC_WIRE_BODY_MAX) plus n. */
int acp_split_feed(acp_split *sp, const uint8_t *p, size_t n, acp_frame_fn fn,
                   void *arg);

/* Render f's body into out (outlen > 0, always NUL-terminated): a ZLIB
 * body is inflated first (at most AC_WIRE_BODY_MAX bytes, or the text says
 * why not); an empty body gives ""; MessagePack as ac_msg_repr renders
 * it (anything else as <raw n bytes "...">). Text that does not fit is
 * cut and ends with "...". Returns out. */
char *acp_body_render(const acp_frame *f, char *out, size_t outlen);

/* A UDP discovery datagram of n bytes: one frame followed by a 32-byte
 * MAC, the frame's length matching the datagram. Returns 0 with *f and
 * *mac (AC_WIRE_MAC bytes) pointing into p, or -EBADMSG. */
int acp_announce_parse(const uint8_t *p, size_t n, acp_frame *f,
                       const uint8_t **mac);

#endif /* AC_TOOLS_ACPCAP_PROTO_H */
