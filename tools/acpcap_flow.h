/* tools/acpcap_flow.h: from captured packets to asyncoro frames — link
 * layers (raw IP, Ethernet with VLAN tags, BSD loopback, Linux cooked v1
 * and v2), IPv4 and IPv6 (extension headers walked; fragments skipped),
 * TCP reassembly per 4-tuple and UDP discovery datagrams.
 *
 * TCP: a SYN fixes a direction's initial sequence number (without one, the
 * first segment seen does: a capture may begin mid-stream); bytes already
 * delivered are dropped (retransmissions, overlaps); segments ahead of the
 * next expected byte wait, sorted, until the gap fills — at most
 * ACP_OOO_SEGS segments and ACP_OOO_BYTES bytes per direction: past that
 * the gap is given up (counted, and frames of that direction are no longer
 * decoded, since their boundaries are lost). FIN ends a direction at its
 * sequence number, RST ends the connection, and a new SYN on a 4-tuple
 * that already carried a connection starts a new one. Each direction's
 * bytes go, in order, through the frame splitter (acpcap_proto.h); a frame
 * gets the timestamp of the packet that completed it, so frames come out
 * in capture order.
 *
 * Connections are numbered from 1 in the order their first packet was
 * seen. Client is the side that sent the SYN (without a SYN seen: the
 * sender of the first packet).
 */
#ifndef AC_TOOLS_ACPCAP_FLOW_H
#define AC_TOOLS_ACPCAP_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include <asyncoro/io.h>

#include "tools/acpcap_proto.h"

/* Out-of-order buffering bounds, per direction. */
#define ACP_OOO_SEGS 4096
#define ACP_OOO_BYTES (16u << 20)

/* A decoded frame, with where and when it was seen. */
typedef struct acp_item {
	/* Wall-clock nanoseconds of the packet that completed the frame. */
	int64_t it_ts_ns;
	/* TCP: the connection's number (from 1); UDP: 0. */
	uint32_t it_conn;
	/* 1 for a UDP announcement (then it_mac is set). */
	int it_udp;
	/* This frame's sender and receiver. */
	ac_addr it_src;
	ac_addr it_dst;
	/* TCP: 1 when the frame goes from the client to the server. */
	int it_to_srv;
	const acp_frame *it_frame;
	/* UDP: the AC_WIRE_MAC bytes after the frame. */
	const uint8_t *it_mac;
} acp_item;

/* What is known of one connection when it ends (or the input does). */
typedef struct acp_conn_info {
	uint32_t ci_conn;
	ac_addr ci_cli;
	ac_addr ci_srv;
	/* [0]: client to server, [1]: server to client. */
	uint64_t ci_bytes[2];
	uint64_t ci_frames[2];
	/* ACP_SPLIT_* of each direction. */
	int ci_split[2];
	/* Bytes never seen (gaps given up, or still open at the end). */
	uint64_t ci_missing[2];
	/* SYN seen, FIN seen, per direction; RST seen. */
	uint8_t ci_syn[2];
	uint8_t ci_fin[2];
	uint8_t ci_rst;
} acp_conn_info;

/* Packet counts. */
typedef struct acp_flow_stats {
	uint64_t fs_packets;
	/* Not IP, another transport, or an IP fragment. */
	uint64_t fs_skipped;
	/* Headers that do not hold together, or cut by the snapshot length. */
	uint64_t fs_malformed;
	uint64_t fs_tcp;
	uint64_t fs_udp;
	/* UDP datagrams that are not asyncoro announcements. */
	uint64_t fs_udp_other;
	/* TCP payload bytes seen before (retransmitted or overlapping). */
	uint64_t fs_dup_bytes;
	/* Segments that arrived ahead of a gap. */
	uint64_t fs_ooo_segs;
	uint64_t fs_conns;
	uint64_t fs_frames;
} acp_flow_stats;

typedef struct acp_flow acp_flow;

typedef void (*acp_item_fn)(void *arg, const acp_item *it);
typedef void (*acp_conn_fn)(void *arg, const acp_conn_info *ci);

/* A new reassembler: item runs for each frame, conn (may be NULL) once
 * per connection when a new one replaces it on its 4-tuple or, for the
 * others, from acp_flow_finish in connection order. NULL on ENOMEM. */
acp_flow *acp_flow_new(acp_item_fn item, acp_conn_fn conn, void *arg);

/* 1 when link type dlt (pcap_datalink) is one acpcap reads. */
int acp_flow_dlt_ok(int dlt);

/* One captured packet of link type dlt, caplen bytes at p. Returns 0, or
 * -ENOMEM (the reassembler is then unusable). Packets it cannot use are
 * counted, never an error. */
int acp_flow_packet(acp_flow *f, int dlt, int64_t ts_ns, const uint8_t *p,
                    size_t caplen);

/* The end of the input: reports the connections still known (conn). */
void acp_flow_finish(acp_flow *f);

/* 1 when the reassembler ran out of memory (it then ignores packets). */
int acp_flow_failed(const acp_flow *f);

/* The counts so far. */
const acp_flow_stats *acp_flow_counts(const acp_flow *f);

/* Free f (NULL is fine). */
void acp_flow_free(acp_flow *f);

#endif /* AC_TOOLS_ACPCAP_FLOW_H */
