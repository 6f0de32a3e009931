/* tools/acpcap_synth.h: the pcap synthesizer — turns a record's events
 * (io/record.h) into the IP packets a capture on the node's interface would
 * have shown, so that tcpdump, tshark and Wireshark ("Follow TCP stream")
 * show exactly the bytes the node sent and received on each connection.
 *
 * The synthesizer is a pure function of the event stream: the same events
 * give the same packets, byte for byte (no clock, no randomness, no
 * pointers). It knows nothing of files; acpcap.c hands each packet to
 * libpcap's writer (DLT_RAW, nanosecond timestamps).
 *
 * What becomes a packet:
 *   - AC_REC_CONN (a TCP connection is up): SYN, SYN-ACK, ACK; the side
 *     that connected sends the SYN. Initial sequence numbers are a hash of
 *     the 4-tuple and of how many connections of this record had the same
 *     4-tuple before, so the two ends' records of one connection agree.
 *   - bytes really written by a send (its result, or for a cancelled send
 *     the bytes already written): data segments from the node, at most
 *     ACP_SEG_MAX bytes each (less over IPv6, to fit the 65535-byte
 *     snapshot length);
 *   - bytes a recv returned: data segments to the node; a recv of 0 (end
 *     of stream): FIN from the peer; -ECONNRESET from any operation on the
 *     connection: RST from the peer;
 *   - shutdown, or close of a connection that has not sent its FIN: FIN
 *     from the node;
 *   - sendto / recvfrom: one UDP datagram each.
 * When both ends of a connection are in the record (a node talking to
 * itself through one backend), the end that came up first makes all its
 * packets — it sent one direction and read the other — and the second
 * end makes none.
 * Every segment carries ACK with the bytes of the other direction seen so
 * far, so sequence and acknowledgement numbers are always consistent. The
 * SYNs carry the MSS (the largest segment made) and a window scale option
 * (shift 14), so that no analyser reports a full window. IPv4 and IPv6
 * headers, TCP and UDP checksums are correct.
 *
 * Time: each packet gets the last monotonic clock reading (AC_REC_NOW)
 * turned into wall time through the header's (wall_ns, mono_ns) pair, and
 * never goes backwards.
 */
#ifndef AC_TOOLS_ACPCAP_SYNTH_H
#define AC_TOOLS_ACPCAP_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "io/record.h"

/* Largest TCP payload of one synthesized segment (IPv4: 65535 - 20 - 20). */
#define ACP_SEG_MAX 65495
/* Snapshot length of the pcap: no packet is longer. */
#define ACP_SNAPLEN 65535

typedef struct acp_synth acp_synth;

/* Called once per packet, in order: ts_ns is wall-clock nanoseconds since
 * the Unix epoch (>= 0), pkt the IPv4 or IPv6 packet (len <= ACP_SNAPLEN),
 * valid during the call only. */
typedef void (*acp_emit_fn)(void *arg, int64_t ts_ns, const uint8_t *pkt,
                            size_t len);

/* A new synthesizer for a record whose header gave the clock pair
 * (wall_ns, mono_ns); emit receives the packets. Returns NULL on ENOMEM. */
acp_synth *acp_synth_new(int64_t wall_ns, int64_t mono_ns, acp_emit_fn emit,
                         void *arg);

/* Feed the next event (events in record order). Emits the packets the
 * event makes, if any. Returns the number of packets emitted (>= 0), or
 * -ENOMEM (the synthesizer is then unusable: free it). Events it does not
 * understand, and events for unknown handles or operations, are ignored
 * (counted in acp_synth_ignored). */
int acp_synth_event(acp_synth *s, const ac_rec_event *e);

/* Packets emitted so far (pcap frame numbers run from 1 to this). */
uint64_t acp_synth_frames(const acp_synth *s);

/* Events that referred to an unknown handle or operation. */
uint64_t acp_synth_ignored(const acp_synth *s);

/* The pcap frame of event number ev (ac_rec_event.seq): returns 1 and
 * *frame = the first frame that event made when it made one; returns 0
 * and *frame = the last frame before it (0 when none) when it made none,
 * or was not fed yet. */
int acp_synth_frame_of(const acp_synth *s, uint64_t ev, uint64_t *frame);

/* Free s (NULL is fine). */
void acp_synth_free(acp_synth *s);

#endif /* AC_TOOLS_ACPCAP_SYNTH_H */
