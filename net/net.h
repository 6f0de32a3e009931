/* net/net.h: what the files of the network layer share — the node, its
 * peers and their connections, pending requests, the name registry, and the
 * entry points between files (handshake, frames, request handlers,
 * discovery, files).
 *
 * Shape of a node at run time (all coroutines are daemons of the node's
 * scheduler, so they never keep ac_sched_run going):
 *
 *   acceptor       accepts TCP connections, hands each to a handshake
 *   discovery      receives UDP announcements, connects to new nodes
 *   heartbeat      pings idle peers, declares silent peers Offline
 *   per peer:
 *     writer       owns the outbound queue: connects when needed, writes
 *                  frames in order (per-pair FIFO comes from here)
 *     reader       reads frames of the live connection and dispatches them;
 *                  requests that may wait (channel deliver, finish) get a
 *                  coroutine of their own so the connection never stalls
 *
 * One connection per peer pair: when both sides connect at once, the one
 * opened by the node with the smaller location wins (both sides decide the
 * same way during the handshake, before any other frame).
 */
#ifndef AC_NET_NET_H
#define AC_NET_NET_H

#include "engine/engine.h"
#include "io/io.h"
#include "net/wire.h"

#include <asyncoro/dis.h>

_Static_assert(AC_WIRE_NAME_MAX == AC_NAME_MAX, "one limit for names");

typedef struct ac_peer ac_peer;

/* A request waiting for its reply. */
typedef struct ac__pending {
	struct ac__pending *pd_next;
	uint32_t pd_id;
	/* The waiting coroutine (woken with 1 when done). */
	ac_coro *pd_coro;
	/* 1 once the reply (or a failure) is in. */
	int pd_done;
	/* Position in the peer's output stream just past the request frame:
	 * written once the peer's p_sent_total reaches it. */
	uint64_t pd_mark;
	/* Failure without a reply (negative errno), else 0. */
	int pd_err;
	/* The reply body (malloc'ed), its length, and the incarnation of the
	 * peer that sent it (the peer's record may be gone once the waiting
	 * coroutine runs: it must not touch pd_peer after the wait). */
	uint8_t *pd_body;
	size_t pd_len;
	uint64_t pd_inc;
	ac_peer *pd_peer;
} ac__pending;

enum ac__peer_state {
	AC__PEER_NEW = 0,    /* known, never connected */
	AC__PEER_ONLINE = 1, /* handshake done */
	AC__PEER_OFFLINE = 2 /* lost or said goodbye */
};

struct ac_peer {
	struct ac_node *p_node;
	/* Location (advertised address and TCP port), name, incarnation. */
	ac_addr p_loc;
	char p_name[AC_WIRE_NAME_MAX + 1];
	uint64_t p_inc;
	uint16_t p_udp_port;
	uint32_t p_caps;
	int p_state;
	int p_stream_send;
	/* The live connection, or NULL, and whether we opened it; its TLS
	 * session (one reference) when the node uses TLS. */
	ac_sock *p_conn;
	struct ac__tls *p_tls;
	int p_conn_ours;
	/* Large bodies to send uncompressed before trying zlib again. */
	int p_zip_skip;
	/* Bumped at every install: tells a reader whether its socket is gone. */
	uint64_t p_conn_gen;
	/* The connection was closed for being idle (stream_send off). */
	int p_idle_closed;
	/* Reader and writer coroutines. */
	ac_ref p_reader;
	ac_ref p_writer;
	/* Outbound bytes (whole frames) not yet handed to the connection. */
	uint8_t *p_obuf;
	size_t p_olen;
	size_t p_ocap;
	/* The writer's spare buffer (swapped with p_obuf per batch), and the
	 * batch being written. */
	uint8_t *p_wbuf;
	size_t p_wcap;
	uint8_t *p_sending;
	/* Bytes ever queued / ever written on a connection. */
	uint64_t p_queued_total;
	uint64_t p_sent_total;
	/* Writer waits here for frames. */
	ac_waitq p_wq;
	/* Requests in flight. */
	ac__pending *p_pending;
	/* Remote coroutines monitored from here: pairs (monitor, target),
	 * at most n_max_watches; a refused one was logged (once per peer). */
	ac__refset p_watches;
	int p_watch_logged;
	/* The other way: coroutines of p's that monitor ours, pairs (monitor,
	 * target), at most n_max_watches; a pair leaves when the exit notice
	 * to that monitor is sent (ac__remote_send). */
	ac__refset p_monitoring;
	int p_monitoring_logged;
	/* Last frame received / sent (monotonic ns). */
	int64_t p_last_rx;
	int64_t p_last_tx;
	/* Connection attempts that failed in a row. */
	int p_failures;
	/* Last connect/handshake error, for ac_node_peer. */
	int p_last_err;
	/* Requests of this peer being served by coroutines of their own
	 * (FINISH, channel deliver): the record stays while any runs. */
	uint32_t p_inflight;
	/* The writer waits for frames with nothing queued (it may then be
	 * ended, and the record reclaimed, once the peer is gone). */
	int p_writer_idle;
	/* Its requests being served (ac__remote_spawn), newest first, and
	 * how many; "too many requests" was logged since it last had none. */
	struct ac__remote_req *p_reqs;
	uint32_t p_nreqs;
	int p_reqs_logged;
	/* The RCI coroutines it started still running (they count against
	 * max_peer_requests too, but outlive its departure: then detached). */
	struct rci_start *p_rcis;
	uint32_t p_nrcis;
	/* The account of its messages queued at our coroutines (NULL until
	 * the first), and whether a refused one was logged since the queues
	 * last drained to half their bounds. */
	ac__inacct *p_in;
	int p_in_logged;
	/* A forged exit notice, a peer-status message from this peer was
	 * logged (once per peer each). */
	int p_forged_logged;
	int p_forged_peer_logged;
	/* Once reclaimed: when, and the next record in the node's n_grave. */
	int64_t p_grave_ns;
	ac_peer *p_grave_next;
};

/* A registered name. */
typedef struct ac__name {
	uint32_t nm_kind;
	ac_ref nm_ref;
	char nm_name[AC_WIRE_NAME_MAX + 1];
} ac__name;

/* An RCI object (kind AC_REF_RCI in the scheduler's table). */
typedef struct ac__rci {
	uint64_t r_id;
	ac_rci_fn r_fn;
	char r_name[AC_WIRE_NAME_MAX + 1];
} ac__rci;

/* An incoming file transfer. */
typedef struct ac__xfer {
	struct ac__xfer *x_next;
	uint32_t x_id;
	ac_peer *x_peer;
	int x_fh;
	int x_err;
	int64_t x_size;
	int64_t x_written;
	int64_t x_mtime_ns;
	uint32_t x_mode;
	char *x_tmp;
	char *x_final;
} ac__xfer;

/* Classes of log lines a stranger can repeat at will (net/nlog.c). */
enum { AC__NLOG_HANDSHAKE = 0, AC__NLOG_BADMAC = 1, AC__NLOG_NCLASSES = 2 };
/* Lines of a class shown per window at most. */
#define AC__NLOG_BURST 10
typedef struct ac__nlog_class {
	/* Start of the current window (scheduler clock). */
	int64_t c_start_ns;
	/* Lines shown and suppressed in it; the most severe level
	 * suppressed. */
	uint32_t c_shown;
	uint64_t c_suppressed;
	int c_level;
} ac__nlog_class;

struct ac_node {
	ac_sched *n_sched;
	ac_io *n_io;
	/* Location advertised to peers, and where the listener is bound. */
	ac_addr n_loc;
	ac_addr n_bind;
	char n_name[AC_WIRE_NAME_MAX + 1];
	uint16_t n_udp_port;
	ac_addr n_bcast;
	int n_discover;
	char *n_secret;
	size_t n_secret_len;
	/* TLS context (net/tls.h), NULL for a plaintext node. */
	struct ac__tls_ctx *n_tls;
	char *n_dest;
	int64_t n_max_file;
	int n_stream_send;
	int64_t n_hb_ns;
	int64_t n_lost_ns;
	size_t n_compress_min;
	uint32_t n_caps;
	/* Sockets and service coroutines. */
	ac_sock *n_listener;
	ac_sock *n_udp;
	ac_ref n_acceptor;
	/* Handshakes in progress on accepted connections, oldest first, how
	 * many, their bounds (max_handshakes, _per_addr) and how many were
	 * closed for room (node.c). */
	struct node_hs *n_hs;
	struct node_hs **n_hs_tail;
	uint32_t n_nhs, n_max_hs, n_max_hs_addr;
	uint64_t n_hs_evicted;
	/* A descriptor held in reserve (an io file handle on /dev/null, -1
	 * when it could not be opened), given up to accept and close one
	 * connection when accept fails for lack of descriptors; and how many
	 * such failures this episode (logged at the first and at its end). */
	int n_reserve_h;
	uint64_t n_nofile;
	ac_ref n_discovery;
	ac_ref n_heartbeat;
	/* Peers, in the order they became known. */
	ac_peer **n_peers;
	uint32_t n_npeers;
	uint32_t n_cappeers;
	/* Something about peers changed (online, offline): waiters re-check. */
	ac_waitq n_peer_wq;
	/* Peer-status subscribers. */
	ac_ref *n_status;
	uint32_t n_nstatus;
	uint32_t n_capstatus;
	/* Name registry. */
	ac__name *n_names;
	uint32_t n_nnames;
	uint32_t n_capnames;
	/* Request ids. */
	uint32_t n_next_req;
	/* Incoming transfers. */
	ac__xfer *n_xfers;
	int n_stopped;
	/* Saying goodbye (connections closing are expected). */
	int n_leaving;
	/* Exit notices to monitors on other nodes not yet acknowledged, and
	 * where an orderly stop waits for them (bounded by n_stop_ns). */
	int n_notifying;
	ac_waitq n_notify_wq;
	/* An orderly stop is waiting for those notices. */
	int n_stopping;
	int64_t n_stop_ns;
	/* Most peer records kept (gone peers are reclaimed first). */
	uint32_t n_max_peers;
	/* Records of reclaimed peers, oldest first, freed a while later. */
	ac_peer *n_grave;
	ac_peer **n_grave_tail;
	/* Exit notices dropped for naming a coroutine of a node other than
	 * the peer that sent them, and peer-status messages from a peer
	 * (ac__remote_from_ok). */
	uint64_t n_forged;
	/* Overload bounds (ac_node_opts: max_peer_requests, max_coro_inbound,
	 * max_peer_inbound) and what they refused. */
	uint32_t n_max_requests;
	size_t n_max_coro_in;
	size_t n_max_peer_in;
	uint64_t n_req_refused;
	/* Messages from peers refused for an inbound bound. */
	uint64_t n_in_refused;
	/* Most watch records per peer (ac_node_opts.max_peer_watches). */
	uint32_t n_max_watches;
	/* The rate limit of log classes (net/nlog.c); the window is 10 s. */
	ac__nlog_class n_nlog[AC__NLOG_NCLASSES];
	int64_t n_nlog_window_ns;
};

/* ---- node.c -------------------------------------------------------------- */
/* The peer at loc, or NULL. */
ac_peer *ac__peer_find(ac_node *n, const ac_addr *loc);
/* For assertions: p's outbound accounting holds — every byte ever queued
 * was written, dropped, is in the queue, or is in the batch being written
 * (p_sending); the queue fits its buffer. O(1). */
static inline int ac__peer_queue_ok(const ac_peer *p)
{
	return p->p_olen <= p->p_ocap &&
	       p->p_sent_total + p->p_olen <= p->p_queued_total &&
	       (p->p_sending || p->p_sent_total + p->p_olen == p->p_queued_total);
}
/* The peer at loc, created (state NEW) if unknown; NULL on ENOMEM/limit. */
ac_peer *ac__peer_get(ac_node *n, const ac_addr *loc);
/* 1 when no record for a new peer can be made: the table holds
 * n_max_peers records after gone peers were reclaimed. */
int ac__peer_table_full(ac_node *n);
/* A peer came online / went offline: status messages, waiters, cleanup. */
void ac__peer_online(ac_peer *p);
void ac__peer_offline(ac_peer *p, int lost);
/* Name registry. */
int ac__name_add(ac_node *n, uint32_t kind, const char *name, ac_ref ref);
int ac__name_del(ac_node *n, uint32_t kind, const char *name, ac_ref ref);
const ac__name *ac__name_find(ac_node *n, uint32_t kind, const char *name);
/* Log through the node's scheduler. */
#define ac__nlog(n, lvl, ...) ac_log((n)->n_sched, (lvl), __VA_ARGS__)
/* ac__nlog for a line of class cls (AC__NLOG_*), limited per class over
 * the whole node (net/nlog.c). */
void ac__nlog_class_v(ac_node *n, int cls, int level, const char *fmt, ...)
	AC_PRINTF(4, 5);
/* Report the suppressed counts of classes whose window passed
 * (heartbeat). */
void ac__nlog_flush(ac_node *n);

/* ---- peer.c: connections, frames, requests ----------------------------- */
/* Start the writer of p (connects on demand). */
int ac__peer_start(ac_peer *p);
/* Handshake on a fresh connection; on success p gets the connection and a
 * reader. initiator: we connected. It ends by deadline_ns (monotonic; -1:
 * PEER_HANDSHAKE_MS from now), else -ETIMEDOUT. Returns 0, -EACCES,
 * -EPROTO, ... Coroutine only. */
int ac__handshake(ac_node *n, ac_sock *k, int initiator, const ac_addr *want,
                  ac_peer **out, int64_t deadline_ns);
/* (node.c) The handshake on accepted connection k passed the proofs: it
 * no longer counts against max_handshakes and is never closed for room
 * (it installs the peer and writes AUTH_OK). No effect on a connection
 * we made. */
void ac__node_hs_authed(ac_node *n, ac_sock *k);
/* Room for a frame body of up to body_max bytes at the end of p's queue
 * (NULL: over the queue limit or out of memory); ac__peer_commit then
 * queues the frame with the body length actually written. */
uint8_t *ac__peer_reserve(ac_peer *p, size_t body_max);
void ac__peer_commit(ac_peer *p, uint8_t type, uint8_t flags, uint32_t id,
                     size_t len, ac__pending *pend);
/* Queue a frame for p: type, flags, id and a body (copied). */
int ac__peer_queue(ac_peer *p, uint8_t type, uint8_t flags, uint32_t id,
                   const void *body, size_t len, ac__pending *pend);
/* Queue the frame whose body of len bytes the caller wrote at the room
 * ac__peer_reserve(p, >= len) returned (nothing queued or reserved since),
 * deflated in place as ac__peer_queue would: the body is not copied. */
void ac__peer_commit_body(ac_peer *p, uint8_t type, uint32_t id, size_t len,
                          ac__pending *pend);
/* Send a request and wait for its reply: 0 and the reply body in *pend, or
 * -ETIMEDOUT, -EHOSTUNREACH. The caller frees pend->pd_body. */
int ac__request(ac_peer *p, uint8_t type, const void *body, size_t len,
                int64_t timeout_ms, ac__pending *pend);
/* Queue a request without waiting (pend must stay valid until it is done
 * or ac__request_wait gave up on it). */
int ac__request_start(ac_peer *p, uint8_t type, const void *body, size_t len,
                      ac__pending *pend);
/* The same for a body of len bytes written at the room of
 * ac__peer_reserve(p, >= len), queued as ac__peer_commit_body does. */
int ac__request_start_reserved(ac_peer *p, uint8_t type, size_t len,
                               ac__pending *pend);
/* Wait until every started request is done or deadline_ns (monotonic, -1:
 * none) passes; the unfinished ones end with pd_err -ETIMEDOUT. */
void ac__request_wait(ac__pending **pends, int n, int64_t deadline_ns);
/* ac__request_wait for requests held in a malloc'ed block (block may be
 * NULL): when the waiting coroutine is terminated during the wait, the
 * block is freed after the requests were cancelled; otherwise it stays the
 * caller's. */
void ac__request_wait_owned(ac__pending **pends, int n, int64_t deadline_ns,
                            void *block);
/* Fail every pending request of p (connection lost). */
void ac__peer_fail_pending(ac_peer *p, int err);
/* Close p's connection (its reader and writer notice). */
void ac__peer_disconnect(ac_peer *p);
/* The peer a ref points at (connecting on demand), or NULL with *err. */
ac_peer *ac__peer_for_ref(ac_node *n, const ac_ref *r, int *err);

/* ---- remote*.c: the engine's remote hooks and the request handlers ------ */
/* (net/remote.h has what the remote*.c files share among themselves.) */
extern const struct ac__remote_ops ac__net_remote_ops;
/* Handle one frame from peer p (body is the caller's). Returns 0, or a
 * negative errno to close the connection (bad frame). */
int ac__dispatch(ac_peer *p, const ac_wire_hdr *h, const uint8_t *body,
                 size_t len);
/* Send a reply to request id of type on p with a packed body. */
int ac__reply(ac_peer *p, uint8_t type, uint32_t id, const char *fmt, ...);
/* Encode/decode a message for the wire. */
int ac__msg_pack(const ac_msg *m, void **out, size_t *len);
/* End the requests of p still being served (p went offline). */
void ac__remote_end_requests(ac_peer *p);
/* The node lost peer p: watches become "node lost" exits. */
void ac__watch_node_lost(ac_peer *p);

/* ---- remote_names.c -------------------------------------------------------- */
/* Stop counting p's RCI coroutines (p goes offline or is freed); they run on. */
void ac__rci_detach(ac_peer *p);

/* ---- discover.c ------------------------------------------------------------ */
/* Open n's UDP socket and spawn ac-discovery (before the node's hooks are
 * set; it first runs once the node is in place). 0 when it runs, and also
 * when the port cannot be opened for another reason than memory (logged as
 * a warning: discovery stays off); -ENOMEM (or the spawn's error) with
 * nothing left when memory runs out. */
int ac__discover_start(ac_node *n);
/* Announce ourselves to addr (broadcast or a host's udp port). */
int ac__announce(ac_node *n, const ac_addr *to, int relay);

/* ---- files_recv.c: the receiving end of file transfers ---------------------------- */
int ac__file_begin(ac_peer *p, uint32_t id, const uint8_t *body, size_t len);
int ac__file_data(ac_peer *p, uint32_t id, const uint8_t *body, size_t len);
int ac__file_end(ac_peer *p, uint32_t id, const uint8_t *body, size_t len);
int ac__file_del(ac_peer *p, uint32_t id, const uint8_t *body, size_t len);
/* Drop the transfers of a peer whose connection closed (temp files go). */
void ac__file_drop_peer(ac_peer *p);

/* ---- auth ------------------------------------------------------------------------ */
/* HMAC-SHA256 of the concatenation of parts under the node's secret. */
void ac__hmac(ac_node *n, const void *const *parts, const size_t *lens,
              int nparts, uint8_t mac[AC_WIRE_MAC]);
/* Constant-time comparison of two MACs: 1 when equal. */
int ac__mac_eq(const uint8_t *a, const uint8_t *b);

/* ---- zip.c: zlib for frame bodies (AC_WF_ZLIB) ------------------------------ */
/* 1 when len bytes at in look compressible (a byte histogram of a sample
 * of at most 4 KiB is not nearly uniform) or are fewer than 256; 0 for
 * random-looking bytes or none. Deterministic, reads at most 4 KiB. */
int ac__zip_likely(const void *in, size_t len);
/* Deflate len bytes at in: 0 and a malloc'ed *out of *outlen bytes, or
 * -ENOMEM. */
int ac__zip(const void *in, size_t len, void **out, size_t *outlen);
/* Inflate one complete zlib stream of len bytes into at most max bytes: 0
 * and a malloc'ed *out of *outlen bytes, -EMSGSIZE (more than max),
 * -EBADMSG (garbage, truncated, trailing bytes), -ENOMEM. */
int ac__unzip(const void *in, size_t len, size_t max, void **out,
              size_t *outlen);

#endif /* AC_NET_NET_H */
