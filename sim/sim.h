/* sim/sim.h: what the simulator's files share — the world, its nodes, the
 * event queue, endpoints of the simulated network, the in-memory file system
 * and the PRNG. Private to sim/; the public face is asyncoro/sim.h.
 *
 * Files: sim_rng.c (xoshiro256**), sim_world.c (world, nodes, event queue,
 * trace, the run loop), sim_io.c (the ac_io_ops table: clock, entropy, poll,
 * handles, cancel, names), sim_endpoint.c (sockets: what TCP and UDP
 * share), sim_tcp.c, sim_udp.c, sim_fs.c (files),
 * sim_fault.c (partitions, clogs, crashes, pauses, swarm, BUGGIFY),
 * sim_capture.c (the network capture), sim_replay.c (one node's record
 * replayed alone).
 *
 * Determinism rules kept everywhere here: every choice comes from w_rng;
 * events are ordered by (time, sequence number); nothing iterates a
 * pointer-keyed table (nodes and handles are arrays, endpoints are lists in
 * creation order); only fixed-size records of explicit integers reach the
 * trace hash.
 *
 * Ownership of an endpoint (ac__sim_ep) is a reference count: one reference
 * for the application side (its handle, the listener's backlog or a pending
 * connect), one per queued event that names it, one per peer pointer to it.
 */
#ifndef AC_SIM_SIM_H
#define AC_SIM_SIM_H

#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/sim.h>

#include "io/io_assert.h"


/* ---- limits ------------------------------------------------------------------ */
enum {
	/* Nodes per world (addresses 10.0.0.1 .. 10.0.0.254). */
	AC__SIM_NODES_MAX = 254,
	/* Handles per node. */
	AC__SIM_HANDLES_MAX = 65536,
	/* Datagrams queued per UDP socket before arrivals are dropped. */
	AC__SIM_UDP_QUEUE_MAX = 256,
	/* Largest UDP payload. */
	AC__SIM_UDP_MAX = 65507,
	/* Listen backlog bounds. */
	AC__SIM_BACKLOG_MAX = 4096,
	/* SYN retransmissions before connect fails with -ETIMEDOUT. */
	AC__SIM_SYN_TRIES = 6,
	/* First ephemeral port and the size of the range. */
	AC__SIM_PORT_EPHEMERAL = 32768,
	AC__SIM_PORT_RANGE = 28232,
	/* Longest path and path component in the file system. */
	AC__SIM_PATH_MAX = 4096,
	AC__SIM_NAME_MAX = 255
};

/* Largest TCP send or receive buffer (ac_sim_opts.tcp_sndbuf, tcp_rcvbuf). */
#define AC__SIM_TCP_BUF_MAX (1LL << 30)
/* TCP retransmission wait while a link is cut: starts at the minimum and
 * doubles up to the maximum. */
#define AC__SIM_RTO_MIN_NS 200000000LL
#define AC__SIM_RTO_MAX_NS 2000000000LL
/* First SYN retransmission wait (doubles each time, like Linux). */
#define AC__SIM_SYN_RTO_NS 1000000000LL
/* Time until a connect to an unused address of the subnet fails. */
#define AC__SIM_ARP_TIMEOUT_NS 3000000000LL
/* Virtual wall clock at virtual time 0 (2023-11-14T22:13:20Z). */
#define AC__SIM_EPOCH_NS 1700000000000000000LL

/* ---- PRNG: xoshiro256** seeded through splitmix64 ------------------------- */
typedef struct ac__sim_rng {
	/* Generator state (never all zero). */
	uint64_t r_s[4];
} ac__sim_rng;

/* splitmix64: advance *state and return the next output. */
uint64_t ac__sim_splitmix64(uint64_t *state);
/* Seed r from seed by four splitmix64 outputs. */
void ac__sim_rng_seed(ac__sim_rng *r, uint64_t seed);
/* Next 64 random bits. */
uint64_t ac__sim_rng_next(ac__sim_rng *r);
/* Uniform in [0, n) (n > 0), without modulo bias. */
uint64_t ac__sim_rng_below(ac__sim_rng *r, uint64_t n);
/* Uniform in [lo, hi] (lo <= hi). */
int64_t ac__sim_rng_range(ac__sim_rng *r, int64_t lo, int64_t hi);
/* Uniform in [0, 1). */
double ac__sim_rng_unit(ac__sim_rng *r);
/* 1 with probability p; draws nothing when p <= 0 or p >= 1. */
int ac__sim_rng_chance(ac__sim_rng *r, double p);
/* Exponentially distributed with the given mean, capped at 10 means. */
int64_t ac__sim_rng_exp(ac__sim_rng *r, int64_t mean);
/* FNV-1a 64 of len bytes, continuing from h (BUGGIFY site names). */
uint64_t ac__sim_fnv1a(uint64_t h, const void *buf, size_t len);
#define AC__SIM_FNV_OFFSET 0xcbf29ce484222325ULL
/* Initial value of the trace hash. */
#define AC__SIM_TRACE_SEED 0x27d4eb2f165667c5ULL

/* ---- trace ------------------------------------------------------------------- */
enum ac__sim_trace_kind {
	AC__SIM_T_STEP = 1,   /* node stepped */
	AC__SIM_T_START,      /* node's scheduler created, main called */
	AC__SIM_T_DONE,       /* callback of a completed op ran: a=type b=res */
	AC__SIM_T_SYNC,       /* op completed at submit: a=type b=res */
	AC__SIM_T_CANCEL,     /* op cancelled: a=type */
	AC__SIM_T_CONNECT,    /* connect submitted: a=dst node b=port */
	AC__SIM_T_ACCEPT,     /* SYN accepted: a=src node b=port */
	AC__SIM_T_REFUSE,     /* connect failed: a=endpoint b=-errno */
	AC__SIM_T_ESTAB,      /* connect completed: a=endpoint */
	AC__SIM_T_SEG,        /* TCP data delivered: a=endpoint b=bytes */
	AC__SIM_T_FIN,        /* end of stream delivered: a=endpoint */
	AC__SIM_T_RST,        /* reset delivered: a=endpoint */
	AC__SIM_T_STALL,      /* TCP waits for a cut link: a=endpoint */
	AC__SIM_T_UDP_SEND,   /* a=dst node b=bytes */
	AC__SIM_T_UDP_RECV,   /* a=src node b=bytes */
	AC__SIM_T_UDP_LOST,   /* a=dst node b=bytes */
	AC__SIM_T_UDP_DUP,    /* a=dst node */
	AC__SIM_T_CRASH,
	AC__SIM_T_RESTART,    /* a=incarnation */
	AC__SIM_T_PART,       /* a=side mask (low 64 nodes) b=until */
	AC__SIM_T_HEAL,
	AC__SIM_T_CLOG,       /* a=other node b=until */
	AC__SIM_T_PAUSE,      /* b=until */
	AC__SIM_T_ENTROPY,    /* a=bytes */
	AC__SIM_T_BUGGIFY,    /* a=site hash */
	AC__SIM_T_AT,         /* user callback */
	AC__SIM_T_WND,        /* TCP window update delivered: a=endpoint b=bytes */
	AC__SIM_T_KIND_MAX
};
/* Fold an event into the trace hash (and the trace file). node is a node
 * index or UINT32_MAX for the world. */
void ac__sim_trace(ac_sim *w, int kind, uint32_t node, uint64_t a,
                   uint64_t b);

/* ---- events ------------------------------------------------------------------- */
enum ac__sim_ev_kind {
	AC__SIM_EV_PUMP = 1, /* ptr: TCP endpoint whose out queue moves */
	AC__SIM_EV_SYN,      /* ptr: connecting endpoint; node: target */
	AC__SIM_EV_REFUSE,   /* ptr: connecting endpoint; arg: -errno */
	AC__SIM_EV_UDP,      /* ptr: datagram; node: target */
	AC__SIM_EV_AT,       /* ptr: ac__sim_at record */
	AC__SIM_EV_RESTART,  /* node: node to restart */
	AC__SIM_EV_FAULT     /* the random fault process ticks */
};

typedef struct ac__sim_ev {
	/* Virtual time at which the event fires. */
	int64_t v_time;
	/* Queue order, breaks ties of v_time. */
	uint64_t v_seq;
	/* Object of the event (see enum ac__sim_ev_kind). */
	void *v_ptr;
	/* Node index the event concerns. */
	uint32_t v_node;
	/* Small argument (an errno for REFUSE). */
	int32_t v_arg;
	/* enum ac__sim_ev_kind. */
	uint32_t v_kind;
} ac__sim_ev;

/* Queue an event; returns 0 or -ENOMEM. */
int ac__sim_ev_push(ac_sim *w, int64_t time, uint32_t kind, uint32_t node,
                    void *ptr, int32_t arg);

/* ---- operation lists ----------------------------------------------------------- */

/* A FIFO of pending operations linked through op->io_next/io_prev; each
 * linked op has io_priv[0] pointing at its list. */
typedef struct ac__sim_oplist {
	/* Oldest and newest linked op. */
	ac_op *l_head;
	ac_op *l_tail;
	/* Number of linked ops. */
	size_t l_n;
} ac__sim_oplist;

void ac__sim_oplist_push(ac__sim_oplist *l, ac_op *op);
void ac__sim_oplist_unlink(ac__sim_oplist *l, ac_op *op);
ac_op *ac__sim_oplist_pop(ac__sim_oplist *l);

/* ---- the network ---------------------------------------------------------- */
enum { AC__SIM_EP_LISTEN = 1, AC__SIM_EP_TCP = 2, AC__SIM_EP_UDP = 3 };
enum { AC__SIM_TCP_CONNECTING = 1, AC__SIM_TCP_OPEN = 2,
       AC__SIM_TCP_FAILED = 3 };
/* WND: a window update, from the reader back to the writer (its payload:
 * the uint64_t count of bytes read since the last one). */
enum { AC__SIM_SEG_DATA = 1, AC__SIM_SEG_SYNACK, AC__SIM_SEG_FIN,
       AC__SIM_SEG_RST, AC__SIM_SEG_WND };

/* A TCP segment: in a send queue (accepted from the application, waiting
 * for the peer's window), then in an out queue (transmitted, waiting to
 * arrive), then in the receiver's rx queue (waiting to be read). */
typedef struct ac__sim_seg {
	struct ac__sim_seg *g_next;
	/* Earliest arrival time at the peer. */
	int64_t g_ready;
	/* AC__SIM_SEG_*. */
	uint32_t g_kind;
	/* Payload length and bytes already read. */
	uint32_t g_len;
	uint32_t g_off;
	uint8_t g_data[];
} ac__sim_seg;

/* A UDP datagram on its way or queued at a socket. */
typedef struct ac__sim_dgram {
	struct ac__sim_dgram *d_next;
	/* Source and destination as sent. */
	ac_addr d_src;
	ac_addr d_dst;
	/* Index of the sending node. */
	uint32_t d_from;
	/* Payload length. */
	uint32_t d_len;
	/* 1 for the copy the network made (udp_dup), for the capture. */
	uint32_t d_dup;
	uint8_t d_data[];
} ac__sim_dgram;

/* A socket of a node: TCP listener, TCP connection end, or UDP socket. */
typedef struct ac__sim_ep {
	/* The world's list of every endpoint, in creation order. */
	struct ac__sim_ep *e_wnext;
	struct ac__sim_ep *e_wprev;
	/* AC__SIM_EP_*, and AC__SIM_TCP_* for TCP. */
	uint32_t e_kind;
	uint32_t e_state;
	/* References (see the top of this file). */
	uint32_t e_refs;
	/* 1 while the application can reach it (handle, backlog, connect). */
	int e_open;
	/* Handle in the node's table, or -1. */
	int e_h;
	/* AC_IO_* flags it was bound with. */
	int e_flags;
	/* Owner node. */
	ac_sim_node *e_node;
	/* World-unique number, for traces. */
	uint64_t e_id;
	/* Local and (TCP) remote address. */
	ac_addr e_local;
	ac_addr e_remote;
	/* TCP: the other end (a reference), NULL once detached. */
	struct ac__sim_ep *e_peer;
	/* TCP: the send buffer — DATA and FIN segments the application
	 * handed over and not transmitted yet, FIFO; e_sq_bytes counts their
	 * unsent data bytes (<= tcp_sndbuf). */
	ac__sim_seg *e_sq_head;
	ac__sim_seg *e_sq_tail;
	int64_t e_sq_bytes;
	/* TCP: data bytes transmitted whose window update has not come back
	 * (in flight, or unread in the peer's rx queue): <= tcp_rcvbuf. */
	int64_t e_unacked;
	/* TCP: sends waiting for room in the send buffer, FIFO; the head has
	 * op->res bytes of it in the stream already. */
	ac__sim_oplist e_txops;
	/* TCP: segments transmitted and not yet arrived, FIFO. */
	ac__sim_seg *e_out_head;
	ac__sim_seg *e_out_tail;
	/* TCP: ready time of the newest queued segment (keeps order). */
	int64_t e_out_last;
	/* TCP: 1 while a PUMP event for this endpoint is queued. */
	int e_pumping;
	/* TCP: current retransmission wait. */
	int64_t e_rto;
	/* TCP: SYN transmissions so far. */
	int e_syn_tries;
	/* TCP: received bytes not read yet, FIFO. */
	ac__sim_seg *e_rx_head;
	ac__sim_seg *e_rx_tail;
	/* TCP: bytes in the rx queue, and bytes read whose window update is
	 * not sent yet. */
	int64_t e_rx_bytes;
	int64_t e_wnd_owed;
	/* TCP: end of stream received; error received (-ECONNRESET). */
	int e_rx_eof;
	int e_rx_err;
	/* TCP: sending side shut (FIN queued, or waiting in e_fin_wait for
	 * the sends still pending to be taken whole). */
	int e_tx_shut;
	int e_fin_wait;
	/* Pending accepts, recvs or recvfroms. */
	ac__sim_oplist e_rxops;
	/* TCP: the pending connect. */
	ac__sim_oplist e_conn;
	/* Listener: accepted connections not yet taken, FIFO through
	 * e_bl_next; their count and limit. */
	struct ac__sim_ep *e_bl_head;
	struct ac__sim_ep *e_bl_tail;
	struct ac__sim_ep *e_bl_next;
	int e_bl_n;
	int e_bl_max;
	/* UDP: datagrams queued, FIFO, and their count. */
	ac__sim_dgram *e_dq_head;
	ac__sim_dgram *e_dq_tail;
	uint32_t e_dq_n;
	/* TCP, for the network capture only (sim_capture.c): sequence space
	 * sent past the SYN (bytes and FIN that crossed), and the last ack. */
	uint32_t e_cap_tx;
	uint32_t e_cap_ack;
} ac__sim_ep;

/* Addresses as the simulated network sees them (IPv4 only). */

/* 1 when a is in 127.0.0.0/8. */
static inline int ac__sim_ip_loopback(const ac_addr *a)
{
	return a->family == AC_AF_INET && a->ip[0] == 127;
}

/* 1 when a is 0.0.0.0. */
static inline int ac__sim_ip_any(const ac_addr *a)
{
	return a->family == AC_AF_INET && !a->ip[0] && !a->ip[1] && !a->ip[2] &&
	       !a->ip[3];
}

/* 1 when a and b have the same family and IPv4 address (ports ignored). */
static inline int ac__sim_ip_eq(const ac_addr *a, const ac_addr *b)
{
	return a->family == b->family && memcmp(a->ip, b->ip, 4) == 0;
}

/* Make a's address 127.0.0.1 (the port is kept). */
static inline void ac__sim_ip_set_loopback(ac_addr *a)
{
	memset(a->ip, 0, sizeof(a->ip));
	a->family = AC_AF_INET;
	a->ip[0] = 127;
	a->ip[3] = 1;
}

/* sim_endpoint.c: what TCP and UDP share. */

/* A new endpoint of kind (AC__SIM_EP_*) on node n, open, with one reference
 * (the application's), no handle and no address, appended to the world's
 * list. NULL when out of memory. */
ac__sim_ep *ac__sim_ep_new(ac_sim_node *n, uint32_t kind);
/* Drop a reference; frees the endpoint at zero (it must be closed, have no
 * handle and no PUMP event queued), then drops its reference to its peer. */
void ac__sim_ep_put(ac_sim *w, ac__sim_ep *e);
/* Free an endpoint whatever its references (world teardown). */
void ac__sim_ep_destroy(ac_sim *w, ac__sim_ep *e);
/* A closed TCP end with nothing left to send (out queue and send buffer
 * empty) lets go of its peer (drops that reference); otherwise nothing
 * happens. */
void ac__sim_ep_detach(ac_sim *w, ac__sim_ep *e);
/* Free a list of segments, leaving *head and *tail NULL. */
void ac__sim_segs_free(ac__sim_seg **head, ac__sim_seg **tail);
/* Free the datagrams queued at e (e_dq_n becomes 0). */
void ac__sim_dq_free(ac__sim_ep *e);
/* Create an endpoint of kind LISTEN or UDP on node n bound to addr (port 0:
 * an ephemeral one) with AC_IO_* flags, and give it a handle: returns the
 * handle and *out, or -ENETDOWN, -EINVAL, -EAFNOSUPPORT, -EADDRNOTAVAIL,
 * -EADDRINUSE, -EMFILE, -ENOMEM. */
int ac__sim_bind(ac_sim_node *n, uint32_t kind, const ac_addr *addr,
                 int flags, ac__sim_ep **out);
/* A free ephemeral port of node n in the TCP (udp 0) or UDP (udp 1) port
 * space, or 0 when every one is taken. */
uint16_t ac__sim_ephemeral(ac_sim_node *n, int udp);
/* Where a packet to dst from node n goes: returns 0 and *d (n itself for
 * loopback and 0.0.0.0, NULL for an unused address of the subnet), or
 * -ENETUNREACH (not IPv4, broadcast, outside the subnet). */
int ac__sim_route(ac_sim_node *n, const ac_addr *dst, ac_sim_node **d);
/* close() of an endpoint's handle: its pending operations complete with
 * -ECANCELED, TCP sends a FIN, the handle is freed and the application's
 * reference dropped. */
void ac__sim_ep_close(ac_sim_node *n, ac__sim_ep *e);
/* The node crashed: the endpoint disappears without callbacks (pending ops
 * are forgotten); TCP peers get a reset. Drops the application reference. */
void ac__sim_ep_vanish(ac_sim_node *n, ac__sim_ep *e);
/* Handle an event of kind PUMP, SYN, REFUSE or UDP. */
void ac__sim_net_event(ac_sim *w, ac__sim_ev *ev);

/* sim_tcp.c. */

/* Handle an event of kind PUMP, SYN or REFUSE. */
void ac__sim_tcp_event(ac_sim *w, ac__sim_ev *ev);
/* The TCP part of ac__sim_ep_close (e: a listener or a connection end): a
 * listener resets the connections of its backlog, an open end queues a
 * FIN. */
void ac__sim_tcp_close(ac_sim *w, ac__sim_ep *e);
/* The TCP part of ac__sim_ep_vanish: a listener resets its backlog, a
 * connection end queues a RST. */
void ac__sim_tcp_vanish(ac_sim *w, ac__sim_ep *e);
/* A pending connect was cancelled: the endpoint closes. */
void ac__sim_connect_abort(ac_sim_node *n, ac__sim_ep *e);
/* A waiting send of e was cancelled: a FIN waiting for it may go. */
void ac__sim_tcp_send_cancelled(ac_sim *w, ac__sim_ep *e);
/* Node n crashed: its closed TCP ends still flushing a send buffer drop it
 * and reset their peers (a crash loses what the kernel held). */
void ac__sim_tcp_crash_orphans(ac_sim *w, ac_sim_node *n);

/* sim_udp.c. */

/* Handle an event of kind UDP (a datagram arrives at a node). */
void ac__sim_udp_event(ac_sim *w, ac__sim_ev *ev);

/* Socket members of ac_io_ops (sim_endpoint.c, sim_tcp.c, sim_udp.c). */
int ac__sim_tcp_listen(ac_io *io, const ac_addr *addr, int backlog,
                       int flags, int *h_out);
int ac__sim_accept(ac_io *io, int h, ac_op *op);
int ac__sim_connect(ac_io *io, ac_op *op);
int ac__sim_recv(ac_io *io, int h, ac_op *op);
int ac__sim_send(ac_io *io, int h, ac_op *op);
int ac__sim_shutdown(ac_io *io, int h);
int ac__sim_udp_bind(ac_io *io, const ac_addr *addr, int flags, int *h_out);
int ac__sim_sendto(ac_io *io, int h, ac_op *op);
int ac__sim_recvfrom(ac_io *io, int h, ac_op *op);
int ac__sim_local_addr(ac_io *io, int h, ac_addr *out);
int ac__sim_peer_addr(ac_io *io, int h, ac_addr *out);

/* ---- the network capture (sim_capture.c) ------------------------------------ */
typedef struct ac__sim_cap ac__sim_cap;

/* What became of a captured packet (the frame's comment says it). */
enum {
	AC__SIM_CAP_OK = 0,  /* delivered */
	AC__SIM_CAP_CUT,     /* the link is cut (partition) */
	AC__SIM_CAP_LOSS,    /* random UDP loss */
	AC__SIM_CAP_DOWN,    /* the destination node is down */
	AC__SIM_CAP_NOHOST,  /* no node has the address */
	AC__SIM_CAP_NOPORT,  /* no socket for the port */
	AC__SIM_CAP_QUEUE,   /* the socket's receive queue is full */
	AC__SIM_CAP_BACKLOG, /* the listen backlog is full */
	AC__SIM_CAP_CLOSED,  /* the receiving TCP end is closed or reset */
	AC__SIM_CAP_GONE     /* the receiving TCP end no longer exists */
};

/* Start capturing the network of w to DIR/network.pcapng (w->w_cap).
 * Returns 0, -ENOMEM or the error of creating the file (one line on
 * standard error; the world runs without a capture). */
int ac__sim_cap_open(ac_sim *w, const char *dir);
/* Flush and close the capture (nothing when there is none). */
void ac__sim_cap_close(ac_sim *w);
/* The packets, at the time the network delivers or drops them (each a
 * no-op without a capture; fate: AC__SIM_CAP_*). The SYN of connecting end
 * e reaching node d; the RST refusing it coming back from node d (none for
 * d = UINT32_MAX); segment g of TCP end e reaching its peer p (NULL: gone),
 * before p handles it; a UDP datagram from node from to node to (UINT32_MAX:
 * no node), dup for the network's copy. */
void ac__sim_cap_syn(ac_sim *w, const ac__sim_ep *e, uint32_t d, int fate);
void ac__sim_cap_refuse(ac_sim *w, const ac__sim_ep *e, uint32_t d, int fate);
void ac__sim_cap_seg(ac_sim *w, ac__sim_ep *e, ac__sim_ep *p, const ac__sim_seg *g,
                     int fate);
void ac__sim_cap_udp(ac_sim *w, uint32_t from, uint32_t to, const ac_addr *src,
                     const ac_addr *dst, const void *data, size_t len, int fate,
                     int dup);

/* ---- the in-memory file system ------------------------------------------- */
typedef struct ac__sim_inode ac__sim_inode;

/* A directory entry. */
typedef struct ac__sim_dirent {
	/* Component name (malloc'ed). */
	char *d_name;
	/* The file or directory it names. */
	ac__sim_inode *d_ino;
} ac__sim_dirent;

struct ac__sim_inode {
	/* AC_FT_FILE or AC_FT_DIR. */
	uint32_t i_type;
	/* Permission bits. */
	uint32_t i_mode;
	/* Modification time (virtual wall clock). */
	int64_t i_mtime_ns;
	/* 1 while a directory entry names it. */
	uint32_t i_nlink;
	/* Open handles. */
	uint32_t i_open;
	/* File: contents, size and capacity. */
	uint8_t *i_data;
	size_t i_size;
	size_t i_cap;
	/* Directory: entries sorted by name, their count and capacity. */
	ac__sim_dirent *i_ents;
	size_t i_nents;
	size_t i_capents;
	/* Directory: the parent (the root is its own parent). */
	ac__sim_inode *i_parent;
};

/* One node's disk. */
typedef struct ac__sim_fs {
	/* The root directory "/". */
	ac__sim_inode *f_root;
	/* Bytes of file data stored (for disk_bytes_max). */
	int64_t f_bytes;
} ac__sim_fs;

/* Create "/" and "/tmp". Returns 0 or -ENOMEM. */
int ac__sim_fs_init(ac__sim_fs *fs, int64_t now_wall_ns);
/* Free every file and directory. */
void ac__sim_fs_fini(ac__sim_fs *fs);
/* An open file's handle is closed (also at a crash). */
void ac__sim_file_release(ac__sim_fs *fs, ac__sim_inode *ino);

/* File members of ac_io_ops (sim_fs.c). */
int ac__sim_file_open(ac_io *io, const char *path, int flags, uint32_t mode,
                      int *h_out);
int64_t ac__sim_file_pread(ac_io *io, int h, void *buf, size_t len,
                           int64_t off);
int64_t ac__sim_file_pwrite(ac_io *io, int h, const void *buf, size_t len,
                            int64_t off);
int ac__sim_file_sync(ac_io *io, int h);
int ac__sim_file_close(ac_io *io, int h);
int ac__sim_file_fstat(ac_io *io, int h, ac_stat *st);
int ac__sim_file_stat(ac_io *io, const char *path, int nofollow, ac_stat *st);
int ac__sim_file_rename(ac_io *io, const char *from, const char *to);
int ac__sim_file_unlink(ac_io *io, const char *path);
int ac__sim_file_mkdir(ac_io *io, const char *path, uint32_t mode);
int ac__sim_file_set_meta(ac_io *io, const char *path, uint32_t mode,
                          int64_t mtime_ns);
const char *ac__sim_temp_dir(ac_io *io);

/* ---- nodes ------------------------------------------------------------------- */
enum { AC__SIM_H_FREE = 0, AC__SIM_H_EP = 1, AC__SIM_H_FILE = 2 };

/* A slot of a node's handle table. */
typedef struct ac__sim_handle {
	/* AC__SIM_H_*. */
	uint32_t h_kind;
	/* Files: AC_FO_* flags of the open. */
	uint32_t h_flags;
	/* The endpoint or inode. */
	void *h_ptr;
} ac__sim_handle;

/* Deferred actions of a node (requested during a step). */
enum { AC__SIM_DEFER_CRASH = 1, AC__SIM_DEFER_RESTART = 2 };

struct ac_sim_node {
	/* The backend's base; must be first (ac_sim_node_of casts). */
	struct ac_io n_io;
	/* The world. */
	ac_sim *n_world;
	/* Index in the world (address 10.0.0.(n_idx + 1)). */
	uint32_t n_idx;
	/* Name, as given to ac_sim_node_add. */
	char n_name[64];
	/* The node's address (port 0). */
	ac_addr n_addr;
	/* 1 while up. */
	int n_up;
	/* 1 while a crash tears the scheduler down: io calls are inert. */
	int n_crashing;
	/* AC__SIM_DEFER_* bits to apply after the current step. */
	int n_deferred;
	/* Starts: 1, +1 per restart. */
	uint64_t n_inc;
	/* Clock: drift in ppm and offset of the node's monotonic clock. */
	int64_t n_drift_ppm;
	int64_t n_clock_off;
	/* Not scheduled before this virtual time (pause). */
	int64_t n_paused_until;
	/* A RESTART event is queued for this node. */
	int n_restart_queued;
	/* The node's program and its argument. */
	ac_sim_main_fn n_main;
	void *n_main_arg;
	/* The scheduler of the current incarnation, or NULL. */
	ac_sched *n_sched;
	/* The scheduler is to be created and main called at the next step. */
	int n_need_start;
	/* The last step left coroutines ready. */
	int n_ready;
	/* Handle table, its used length and capacity. */
	ac__sim_handle *n_h;
	uint32_t n_nh;
	uint32_t n_caph;
	/* Completed operations whose callbacks the next poll runs. */
	ac__sim_oplist n_done;
	/* Those the running poll took from n_done when it started: it runs
	 * their callbacks in order (a callback may still cancel one). */
	ac__sim_oplist n_running;
	/* Operations submitted and not yet delivered. */
	int64_t n_pending;
	/* Next ephemeral port to try (offset in the range). */
	uint32_t n_next_port;
	/* The node's disk. */
	ac__sim_fs n_fs;
};

/* The io operations table (sim_io.c). */
extern const struct ac_io_ops ac__sim_io_ops;

/* The node behind io, which must be a sim backend. */
static inline ac_sim_node *ac__sim_io_node(ac_io *io)
{
	AC_ASSERT(io->ops == &ac__sim_io_ops);
	return (ac_sim_node *)io;
}

/* What every submit of an op of the given type checks, as epoll does: a
 * callback, a buffer when there is a length, and room to receive into.
 * 0 or -EINVAL. */
static inline int ac__sim_op_args(const ac_op *op, int type)
{
	if (!op->cb)
		return -EINVAL;
	if (!op->buf && op->len > 0 && type != AC_OP_ACCEPT && type != AC_OP_CONNECT)
		return -EINVAL;
	if (type == AC_OP_RECV && op->len == 0)
		return -EINVAL;
	return 0;
}

/* Node's monotonic clock at world time t. */
int64_t ac__sim_node_clock(const ac_sim_node *n, int64_t t);
/* Virtual wall clock of the node now. */
int64_t ac__sim_node_wall(const ac_sim_node *n);
/* Allocate the lowest free handle for ptr; returns it or -EMFILE/-ENOMEM. */
int ac__sim_h_alloc(ac_sim_node *n, uint32_t kind, void *ptr);
/* Free a handle slot. */
void ac__sim_h_free(ac_sim_node *n, int h);
/* The object of handle h if it is of kind, else NULL. */
void *ac__sim_h_get(ac_sim_node *n, int h, uint32_t kind);
/* An endpoint handle: *out, or -EBADF (none) / -ENOTSOCK (a file). */
int ac__sim_h_ep(ac_sim_node *n, int h, ac__sim_ep **out);
/* 0 when the node may take a new operation, else -ENETDOWN. */
int ac__sim_node_usable(const ac_sim_node *n);
/* An operation becomes pending on list l (io_priv[1] = ctx). */
void ac__sim_op_wait(ac_sim_node *n, ac__sim_oplist *l, ac_op *op, void *ctx);
/* A pending operation (on any list) completes with res: its callback runs
 * from the node's next poll. */
void ac__sim_op_complete(ac_sim_node *n, ac_op *op, int64_t res);
/* An operation completes at submit: sets res, counts, returns AC_IO_DONE. */
int ac__sim_op_now(ac_sim_node *n, ac_op *op, int64_t res);
/* Complete every op of l with res. */
void ac__sim_oplist_fail(ac_sim_node *n, ac__sim_oplist *l, int64_t res);
/* Forget every op of l (crash): no callback will run. */
void ac__sim_oplist_forget(ac_sim_node *n, ac__sim_oplist *l);
/* Run the callbacks of the node's completed operations (those present at
 * entry). Returns how many ran. */
int ac__sim_node_poll(ac_sim_node *n);
/* Close every handle of a crashed node without callbacks. */
void ac__sim_node_vanish(ac_sim_node *n);
/* Reset the io state of a node for a new incarnation. */
void ac__sim_node_io_reset(ac_sim_node *n);

/* ---- the world ---------------------------------------------------------------- */

/* State of the directed link from one node to another. */
typedef struct ac__sim_link {
	/* Latency: minimum, mean and uniform jitter. */
	int64_t k_min;
	int64_t k_mean;
	int64_t k_jitter;
	/* Packets are cut while the world's time is before this. */
	int64_t k_cut_until;
	/* Packets are held while the world's time is before this. */
	int64_t k_clog_until;
} ac__sim_link;

/* A record of ac_sim_at. */
typedef struct ac__sim_at {
	/* The callback and its argument. */
	ac_sim_at_fn a_fn;
	void *a_arg;
} ac__sim_at;

struct ac_sim {
	/* Knobs in effect. */
	ac_sim_opts w_opts;
	/* The one PRNG. */
	ac__sim_rng w_rng;
	/* Virtual time. */
	int64_t w_now;
	/* Next event sequence number. */
	uint64_t w_seq;
	/* Event queue: binary min-heap on (v_time, v_seq). */
	ac__sim_ev *w_ev;
	size_t w_nev;
	size_t w_capev;
	/* Nodes by index, and scratch space for the runnable ones. */
	ac_sim_node **w_nodes;
	ac_sim_node **w_pick;
	uint32_t w_nnodes;
	uint32_t w_capnodes;
	/* Links: w_links[a * w_capnodes + b] is the link from a to b. */
	ac__sim_link *w_links;
	/* Link settings for nodes added later. */
	ac__sim_link w_link_default;
	/* Every endpoint, in creation order (head and tail). */
	ac__sim_ep *w_eps;
	ac__sim_ep *w_eps_tail;
	/* Endpoints created so far (ids). */
	uint64_t w_ep_ids;
	/* Trace hash and optional text trace. */
	uint64_t w_hash;
	FILE *w_trace;
	/* Counters. */
	ac_sim_stats w_stats;
	/* The node being stepped, or NULL. */
	ac_sim_node *w_cur;
	/* Some node has deferred actions. */
	int w_deferred;
	/* The random partition in force ends at this time. */
	int64_t w_part_until;
	/* What a failed assertion prints while the world runs (its seed). */
	ac__assert_ctx w_actx;
	/* The network capture (record_dir), or NULL. */
	ac__sim_cap *w_cap;
};

/* The link from node a to node b. */
static inline ac__sim_link *ac__sim_link_of(ac_sim *w, uint32_t a, uint32_t b)
{
	return &w->w_links[(size_t)a * w->w_capnodes + b];
}
/* Draw the latency of one packet from node a to node b. */
int64_t ac__sim_latency(ac_sim *w, uint32_t a, uint32_t b);
/* The node with address ip (port ignored), or NULL. */
ac_sim_node *ac__sim_node_by_ip(ac_sim *w, const ac_addr *ip);
/* 1 when ip is the sim's broadcast address (10.0.0.255, 127.255.255.255,
 * 255.255.255.255). */
int ac__sim_is_broadcast(const ac_addr *ip);
/* 1 when ip is inside the simulated subnet 10.0.0.0/24. */
int ac__sim_in_subnet(const ac_addr *ip);

/* Crash and restart a node now (sim_fault.c). */
void ac__sim_do_crash(ac_sim_node *n);
void ac__sim_do_restart(ac_sim_node *n);
/* One tick of the random fault process. */
void ac__sim_fault_tick(ac_sim *w);
/* Draw the knobs of a swarm run. */
void ac__sim_swarm(ac_sim_opts *o, ac__sim_rng *r);
/* The buggify member of ac_io_ops: whether fault point site fires now. */
int ac__sim_buggify(ac_io *io, const char *site);

#endif /* AC_SIM_SIM_H */
