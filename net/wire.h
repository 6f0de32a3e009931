/* net/wire.h: the wire format of the distributed protocol — frame header,
 * frame types, and every protocol limit in one place (doc/protocol.md
 * describes the same, for people writing a compatible peer or dissector).
 *
 * A TCP connection carries frames:
 *
 *   offset size  field
 *        0    4  length  (u32 big-endian): bytes after this field
 *        4    1  type    (enum ac_wire_type)
 *        5    1  flags   (AC_WF_REPLY, AC_WF_ZLIB)
 *        6    2  reserved, zero
 *        8    4  req_id  (u32 big-endian): request id, 0 for one-way frames
 *       12    …  body    MessagePack (zlib-deflated when AC_WF_ZLIB)
 *
 * A reply carries AC_WF_REPLY and the id of its request; its type is that
 * of the request. UDP discovery datagrams are one frame of type
 * AC_WT_ANNOUNCE followed by a 32-byte HMAC-SHA256 of the frame.
 */
#ifndef AC_NET_WIRE_H
#define AC_NET_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Protocol version spoken in the handshake. */
#define AC_WIRE_VERSION 1
/* Magic in HELLO: "ACO1". */
#define AC_WIRE_MAGIC 0x41434f31u

/* Every limit on what a peer may send. */
enum ac_wire_limits {
	/* Frame header bytes, length field included. */
	AC_WIRE_HDR = 12,
	/* Largest frame body (after decompression too). */
	AC_WIRE_BODY_MAX = 4 * 1024 * 1024,
	/* Largest handshake frame body. */
	AC_WIRE_HELLO_MAX = 4096,
	/* Longest name (node, coroutine, channel, RCI, file) in bytes. */
	AC_WIRE_NAME_MAX = 255,
	/* Longest relative path in send_file/del_file. */
	AC_WIRE_PATH_MAX = 1024,
	/* Largest message payload. */
	AC_WIRE_PAYLOAD_MAX = 4 * 1024 * 1024 - 1024,
	/* Requests in flight per connection. */
	AC_WIRE_PENDING_MAX = 65536,
	/* File chunk size. */
	AC_WIRE_CHUNK = 256 * 1024,
	/* Nonce bytes in the handshake. */
	AC_WIRE_NONCE = 32,
	/* HMAC-SHA256 bytes. */
	AC_WIRE_MAC = 32,
	/* Largest UDP announcement. */
	AC_WIRE_ANNOUNCE_MAX = 1024,
	/* Incoming file transfers open at once on a node. */
	AC_WIRE_XFERS_MAX = 64,
	/* Peers a node keeps at most (max_peers may lower it). */
	AC_WIRE_PEERS_MAX = 1024,
	/* Frames queued for one peer before send() reports -ENOBUFS. */
	AC_WIRE_QUEUE_MAX = 64 << 20
};

/* Frame flags. */
enum { AC_WF_REPLY = 1, AC_WF_ZLIB = 2 };

/* Capabilities offered in the handshake. */
enum { AC_CAP_ZLIB = 1, AC_CAP_TLS = 2 };

/* Frame types. Bodies are MessagePack arrays; doc/protocol.md lists them. */
enum ac_wire_type {
	AC_WT_HELLO = 1,       /* [magic, version, nonce, name, loc, inc, caps, udp] */
	AC_WT_HELLO_ACK = 2,   /* same fields + mac */
	AC_WT_AUTH = 3,        /* [mac] */
	AC_WT_AUTH_OK = 4,     /* [] */
	AC_WT_REFUSE = 5,      /* [reason] then close */
	AC_WT_PING = 6,        /* [] request; reply [] */
	AC_WT_BYE = 7,         /* [] one-way: orderly goodbye */
	AC_WT_SEND = 8,        /* [to, msg] one-way */
	AC_WT_DELIVER = 9,     /* [to, msg] → [rc] */
	AC_WT_LOCATE = 10,     /* [kind, name] → [rc, ref] */
	AC_WT_MONITOR = 11,    /* [monitor, target] → [rc] */
	AC_WT_TERMINATE = 12,  /* [target] → [rc] */
	AC_WT_FINISH = 13,     /* [target, timeout_ms] → [rc, msg] */
	AC_WT_CHAN = 14,       /* [op, chan, sub, msg, timeout_ms, n] → [rc] */
	AC_WT_RCI_CALL = 15,   /* [rci, msg] → [rc, coro] */
	AC_WT_FILE_BEGIN = 16, /* [name dir size mtime mode overwr] → [rc xfer size mtime mode] */
	AC_WT_FILE_DATA = 17,  /* [xfer, offset, bytes] → [rc] */
	AC_WT_FILE_END = 18,   /* [xfer] → [rc] */
	AC_WT_DEL_FILE = 19,   /* [name, dir] → [rc] */
	AC_WT_ANNOUNCE = 20,   /* [magic, version, name, loc, inc, udp, relay] (UDP) */
	AC_WT_EXIT = 21,       /* [monitor, msg] → [rc]: an exit notification */
	AC_WT_MAX = 21
};

/* Read and write big-endian integers. */
static inline uint32_t ac_wire_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

static inline void ac_wire_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A decoded frame header. */
typedef struct ac_wire_hdr {
	uint32_t len;    /* body length */
	uint8_t type;
	uint8_t flags;
	uint32_t req_id;
} ac_wire_hdr;

/* Encode a header for a body of body_len bytes into hdr[AC_WIRE_HDR]. */
static inline void ac_wire_hdr_put(uint8_t *hdr, uint8_t type, uint8_t flags,
                                   uint32_t req_id, uint32_t body_len)
{
	ac_wire_put32(hdr, body_len + (AC_WIRE_HDR - 4));
	hdr[4] = type;
	hdr[5] = flags;
	hdr[6] = 0;
	hdr[7] = 0;
	ac_wire_put32(hdr + 8, req_id);
}

/* Decode and check a header: returns 0, or -EBADMSG (bad length, unknown
 * type, reserved bits set) / -EMSGSIZE (body over max). */
int ac_wire_hdr_get(const uint8_t *hdr, uint32_t max, ac_wire_hdr *out);

#endif /* AC_NET_WIRE_H */
