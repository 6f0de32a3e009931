/* asyncoro/dis.h: distributed asyncoro (disasyncoro) — network services of a
 * scheduler, so that coroutines exchange messages with coroutines on other
 * nodes using the same refs and calls as locally (ac_send, ac_deliver,
 * ac_monitor, ac_terminate, ac_finish, ac_chan_*).
 *
 * A node is a scheduler plus its network services: a TCP listener where
 * peers connect, UDP discovery on udp_port, a name registry of coroutines,
 * channels and RCIs, and file transfer into dest_path. Nodes prove to each
 * other that they share a secret (HMAC-SHA256 challenge-response in both
 * directions, fresh nonces per connection) before anything else is acted
 * on. With certfile set, every connection is TLS 1.3 with certificates
 * checked both ways, and the secret handshake runs inside it, bound to
 * the TLS session. Every function that waits is "coroutine only" (-EPERM
 * outside one) and takes a timeout in milliseconds (AC_FOREVER, or any
 * negative value, waits without limit).
 *
 * A timeout of 0 never waits: a call looks at what its node already knows
 * (a locate: its own registry and peer names) and otherwise returns its
 * timeout result at once. So ac_deliver to another node queues the message
 * and returns 0 (outcome unknown), ac_rci_call of another node's RCI sends
 * the call and returns -ETIMEDOUT (the coroutine may start there), and
 * ac_node_send_file and ac_node_del_file send nothing. Two kinds of calls
 * hand their timeout to the other node, which waits up to it: ac_finish on
 * a coroutine of another node and the ac_chan_* calls on another node's
 * channel; they wait for that node's answer up to 1 s longer (the round
 * trip), so with 0 they ask once and get the answer. ac_terminate and
 * ac_monitor take no timeout (see AC_REMOTE_WAIT_MS).
 * Results follow asyncoro.h: >= 0 success, negative errno on failure.
 * doc/semantics.md says what each call does and returns in detail.
 */
#ifndef ASYNCORO_DIS_H
#define ASYNCORO_DIS_H

#include <asyncoro/asyncoro.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

typedef struct ac_node ac_node;

/* How long ac_terminate and ac_monitor (ac_monitor_ref) on a coroutine of
 * another node wait for that node's answer; they take no timeout. They
 * return 0 or that node's answer (-ESRCH: not alive there; ac_terminate
 * -EPERM for its service coroutines; ac_monitor -ENOBUFS over its bounds),
 * -EHOSTUNREACH when the node is unknown or lost before the request went
 * out, and -ETIMEDOUT when no answer came within AC_REMOTE_WAIT_MS or
 * the connection broke after the request went out (the outcome is then
 * unknown: the coroutine may have been ended or be monitored). A silent
 * or dead peer therefore holds the caller at most AC_REMOTE_WAIT_MS (less
 * when it is declared lost first, see peer_lost_ms). Coroutine only. */
#define AC_REMOTE_WAIT_MS 10000

/* Default UDP port for discovery (the spec's 51350). */
#define AC_DEFAULT_UDP_PORT 51350

/* Node options; ac_node_opts_init fills the defaults. Strings are copied. */
/* The shortest secret ac_node_start does not warn about, in bytes. */
#define AC_SECRET_MIN 16

typedef struct ac_node_opts {
	/* Host name or IP (v4 or v6) to serve on; NULL: the host's first
	 * non-loopback address, else 127.0.0.1. */
	const char *node;
	/* Discovery port; 0 → AC_DEFAULT_UDP_PORT. Shared by the nodes of a
	 * host (SO_REUSEPORT). */
	uint16_t udp_port;
	/* TCP port; 0 → any free port. */
	uint16_t tcp_port;
	/* Address advertised to peers when behind NAT (NULL: none). */
	const char *ext_ip_addr;
	/* Node name (1..AC_NAME_MAX bytes; longer: -ENAMETOOLONG); NULL →
	 * "ip:port". */
	const char *name;
	/* Announce ourselves and listen for announcements (default 1). When the
	 * UDP port cannot be opened the node starts without discovery (a
	 * warning is logged); when memory runs out ac_node_start returns
	 * -ENOMEM. */
	int discover_peers;
	/* Where announcements are broadcast. NULL: 127.255.255.255 when
	 * `node` is an IPv4 loopback address, otherwise no broadcast at all
	 * (255.255.255.255 is never used by default): give the LAN's
	 * broadcast address explicitly to discover peers on a LAN. */
	const char *broadcast;
	/* Locations ("host:port" or "host") to contact at start. */
	const char *const *peers;
	int npeers;
	/* Shared secret ("" allowed: then only nodes with "" are peers).
	 * ac_node_start logs a warning "WEAK SECRET" for an empty one or one
	 * shorter than AC_SECRET_MIN bytes: the server proves it knows the
	 * secret (HMAC over both nonces) before the client proves anything, so
	 * a stranger who connects once can test guesses offline; only a secret
	 * with enough entropy (random bytes, at least AC_SECRET_MIN) resists
	 * that (doc/protocol.md, "Weak secrets"). */
	const char *secret;
	/* TLS (1.3, mutual): certfile turns it on for every connection of
	 * the node. certfile: PEM with our certificate (further certificates
	 * in it are its chain) and, unless keyfile is given, its unencrypted
	 * private key. cafile: PEM with the certificates a peer's certificate
	 * must chain to (NULL: certfile itself — the spec's model of one
	 * self-signed certificate shared by all nodes). Files are read
	 * through the scheduler's io (the simulator's filesystem there) at
	 * ac_node_start, which returns -EINVAL with a logged reason for a
	 * file that holds no certificate or key, or a key that does not
	 * match the certificate; keyfile or cafile without certfile is
	 * -EINVAL too. A peer's certificate must chain to cafile and be
	 * valid at the node's wall-clock time (the simulator's virtual
	 * time); names in it are not checked (the shared secret handshake,
	 * bound to the TLS session, still decides who is a peer). UDP
	 * discovery is not encrypted (it is HMAC-authenticated and tells
	 * names and locations only). A TLS node and a plaintext node refuse
	 * each other (see ac_node_peer). */
	const char *certfile;
	const char *keyfile;
	const char *cafile;
	/* Where received files go; NULL → <temp dir>/asyncoro/<name>, the
	 * node's name made one safe path component (bytes other than letters,
	 * digits, '.', '-', '_' become '_', and so does a leading '.'), so
	 * nodes on one host never share it. Not empty; at most 1023 bytes. */
	const char *dest_path;
	/* Largest file accepted by send_file (0: no limit). */
	int64_t max_file_size;
	/* Keep connections to peers open (1, default) or let them close when
	 * idle (0); per peer with ac_node_peer. */
	int stream_send;
	/* Heartbeat interval on idle connections (default 2000 ms) and how
	 * long a silent peer stays Online (default 10000 ms; at least twice
	 * the heartbeat interval: a smaller value is raised to that). 0 or
	 * negative: the default. */
	int64_t heartbeat_ms;
	int64_t peer_lost_ms;
	/* Bodies and file chunks larger than this are compressed with zlib
	 * when both sides offer it and a sample of their bytes looks
	 * compressible (default 4096; 0 disables). */
	size_t compress_min;
	/* How long an orderly stop (ac_sched_finish, ac_sched_terminate,
	 * ac_node_stop) waits for the exit notices of ended coroutines to
	 * reach monitors on other nodes and for the goodbyes to be written
	 * (default 5000 ms; 0: do not wait). */
	int64_t stop_timeout_ms;
	/* Most peers kept at once (default 1024, at most 1024): peers that
	 * left or were lost are forgotten once nothing refers to them; when
	 * the table is still full, a new node is refused ("too many peers",
	 * logged on both sides; its ac_node_peer gets -EUSERS). */
	int max_peers;
	/* Overload bounds against a busy or hostile peer (doc/semantics.md,
	 * "Overload"). Requests of one peer served at once by coroutines of
	 * their own (FINISH, channel subscribe/unsubscribe/deliver; default
	 * 256): more are answered -EBUSY at once; a peer's requests still
	 * running when it goes offline are ended. The coroutines its RCI
	 * calls started count too while they run (a call over the bound gets
	 * -EBUSY); they are not ended when it goes offline, and from then on
	 * no longer counted. */
	int max_peer_requests;
	/* Bytes of messages from other nodes queued at one coroutine (default
	 * 16 MiB) and, over all coroutines, from one peer (default 64 MiB);
	 * each message counts its payload plus 64. A message over either
	 * bound is refused: a send is dropped (counted; logged once per peer
	 * until the queues drain), a deliver gets -ENOBUFS. */
	size_t max_coro_inbound;
	size_t max_peer_inbound;
	/* Most watch records per peer (default 65536): pairs of a coroutine
	 * of ours and one of the peer's it monitors ("node lost" needs them),
	 * made by ac_monitor here or by ac_notify there. One more: the local
	 * ac_monitor gets -ENOBUFS; the peer's note is dropped and logged
	 * once per peer. The same bound holds the other way: monitors that
	 * the peer's coroutines hold on ours (until their exit notices are
	 * sent); one more MONITOR request from it gets -ENOBUFS. */
	uint32_t max_peer_watches;
	/* Connections accepted and not yet authenticated (handshakes in
	 * progress), in all (default 64) and from one source address (default
	 * 16; 0: the defaults). One more accepted over either bound closes the
	 * oldest handshake in progress (of that address for the second), so a
	 * stranger holding connections open cannot keep an honest node out;
	 * each closing is counted (n_hs_evicted) and logged, rate-limited. A
	 * handshake past the peer's proof no longer counts and is never
	 * closed for room. */
	int max_handshakes;
	int max_handshakes_per_addr;
	/* Debugging encrypted traffic: append every TLS session's secrets to
	 * this file in the NSS key log format (what Wireshark's and tshark's
	 * tls.keylog_file reads), through the scheduler's io (nodes may
	 * share one file; a file that cannot be opened for writing fails
	 * ac_node_start with its errno). NULL: the SSLKEYLOGFILE
	 * environment variable when set, else no key log.
	 * Anyone with the file can read the traffic: never in production
	 * (the node logs a warning at start while it writes one). */
	const char *keylogfile;
} ac_node_opts;

void ac_node_opts_init(ac_node_opts *o);

/* Start network services on scheduler s. Returns 0 and *out, or -EINVAL
 * (bad option, s or out NULL), -ENAMETOOLONG (name or dest_path),
 * -EALREADY (s has a node), -EADDRINUSE, -ENOMEM, another negative errno;
 * on error s is left without a node. Call before or between ac_sched_run calls, not
 * from a coroutine of s.
 *
 * Orderly shutdown: ac_sched_finish (after the non-daemon coroutines
 * ended) and ac_sched_terminate end the user coroutines first — their
 * monitors, here and on other nodes, are told "returned", "failed" or
 * "terminated" — then wait (up to stop_timeout_ms) until those exit
 * notices were acknowledged, then say goodbye to every peer, then stop
 * the network. A monitor hears "node lost" only when a node crashes, is
 * cut off, or stops its network with ac_node_stop while its coroutines
 * still run. */
int ac_node_start(ac_sched *s, const ac_node_opts *o, ac_node **out);
/* The node of scheduler s, or NULL. */
ac_node *ac_node_of(ac_sched *s);
/* The node's location (advertised address and TCP port). */
ac_addr ac_node_location(ac_node *n);
/* The node's name. */
const char *ac_node_name(ac_node *n);
/* Say goodbye to every peer and stop the services (coroutine only or from
 * main between runs), after the exit notices in flight were acknowledged
 * (up to stop_timeout_ms). Coroutines still running are not ended: their
 * monitors on other nodes hear "node lost". ac_sched_finish and
 * ac_sched_terminate call it after ending the coroutines. Afterwards the
 * node has no peers, and calls that need the network (send and deliver to
 * other nodes, locate, ac_node_peer, send_file, ...) return -ESHUTDOWN.
 * Returns 0 (also when already stopped), -EINVAL (n NULL). */
int ac_node_stop(ac_node *n);
/* Free a stopped node (ac_sched_free frees it too). */
void ac_node_free(ac_node *n);

/* Location of the node named name (this node's or an Online peer's):
 * waits for nodes found later; -ETIMEDOUT at timeout (0: looks at this
 * node's name and its Online peers' once and never waits — nothing is
 * sent), -ESHUTDOWN (our node stopped),
 * -EINVAL (a NULL argument or ""), -ENAMETOOLONG (over AC_NAME_MAX).
 * Coroutine only. */
int ac_node_locate(ac_node *n, const char *name, int64_t timeout_ms,
                   ac_addr *loc);
/* Contact a node: loc is "host", "host:port" or numeric; port 0 contacts
 * every node on that host (through its udp_port). Returns 0 when a
 * handshake succeeded (or, for port 0, when the request was sent), -EACCES
 * for a wrong secret (or any other refusal), -EUSERS when its peer table
 * (or ours) is full (see max_peers), and with TLS: -EKEYREJECTED when a
 * certificate did not verify — theirs here (unknown CA, expired, not yet
 * valid, bad signature) or ours there — and -ENOPROTOOPT when one of the
 * two nodes uses TLS and the other does not; both sides log the reason
 * and neither acts on anything from that connection. Otherwise
 * -ESHUTDOWN (our node stopped), -ECONNREFUSED, -ETIMEDOUT, ... The
 * timeout bounds the connect and the handshake together (0: -ETIMEDOUT
 * at once, nothing sent, unless loc is already an Online peer; with
 * AC_FOREVER the handshake, TLS included, still ends within 5 s).
 * Calling it again changes stream_send for that peer. broadcast asks the
 * peer to relay our announcement on its network. Coroutine only. */
int ac_node_peer(ac_node *n, const char *loc, uint16_t udp_port,
                 int stream_send, int broadcast, int64_t timeout_ms);
/* Current (Online) peers: up to max locations into out; returns how many
 * peers there are (more than max when out was too small), -EINVAL for n
 * NULL or out NULL with max > 0. */
int ac_node_peers(ac_node *n, ac_addr *out, int max);
/* Send coroutine `coro` AC_MSG_PEER messages: one Online per current peer
 * at once, then Online/Offline as peers come and go. A null ref stops all
 * notifications. Several coroutines may register (the same one twice is
 * once). Returns 0, -EINVAL (n NULL, or not a coroutine ref), -ENOMEM. */
int ac_node_peer_status(ac_node *n, ac_ref coro);
/* Orderly goodbye to one peer; both sides report Offline. Returns 0,
 * -ENOENT (not an Online peer), -EINVAL, -EPERM. Coroutine only. */
int ac_node_close_peer(ac_node *n, const ac_addr *loc, int64_t timeout_ms);

/* Peer status messages (AC_MSG_PEER). */
enum { AC_PEER_ONLINE = 1, AC_PEER_OFFLINE = 0 };
typedef struct ac_peer_info {
	ac_addr loc;
	int status;
	char name[AC_NAME_MAX + 1];
} ac_peer_info;
/* Decode an AC_MSG_PEER message. Returns 0 or -EINVAL. Only the caller's
 * own node makes AC_MSG_PEER messages: one that comes from a peer (a
 * forgery, or one a coroutine passed on) is dropped on arrival (a deliver
 * gets -EPERM), counted and logged, so ac_msg_peer never decodes it. */
int ac_msg_peer(const ac_msg *m, ac_peer_info *out);

/* ---- names -------------------------------------------------------------------- */

/* Names live in the node: the calls of this section return -ENOTCONN on a
 * scheduler without one (see doc/semantics.md for each call's codes). */

/* Register the current coroutine under name on its node (unique among live
 * coroutines: -EEXIST; -EINVAL for "", -ENAMETOOLONG over AC_NAME_MAX,
 * -EPERM outside a coroutine). Registrations vanish when the coroutine
 * ends. */
int ac_register(const char *name);
/* Remove the current coroutine's registration of name: 0, -ENOENT (not
 * registered by the caller), -EINVAL (""), -ENAMETOOLONG, -EPERM. */
int ac_unregister(const char *name);
/* Find a coroutine registered as name at loc (NULL: this node, every known
 * node and nodes found later); first answer wins. Returns 0 and *out,
 * -ETIMEDOUT, -ESHUTDOWN (our node stopped), -EINVAL, -ENAMETOOLONG,
 * -EPERM. The caller's own node's registry is looked at first (when loc
 * is NULL or this node). A timeout of 0 looks there only and never waits:
 * it asks no peer, since an answer from another node takes a wait, so a
 * name registered elsewhere (or any name with loc another node) is
 * -ETIMEDOUT at once and nothing is sent. With a timeout > 0 the Online
 * peers are asked one at a time (each given at most 2 s of what is left)
 * and, while time is left, again at growing intervals (200 ms up to 5 s)
 * and whenever a new peer comes online. Coroutine only. */
int ac_locate(const char *name, const ac_addr *loc, int64_t timeout_ms,
              ac_ref *out);

/* Channels: register a local channel ref under a name. ac_chan_locate
 * finds one as ac_locate finds a coroutine (a timeout of 0 alike). */
int ac_chan_register(ac_ref chan, const char *name);
int ac_chan_unregister(ac_ref chan, const char *name);
int ac_chan_locate(const char *name, const ac_addr *loc, int64_t timeout_ms,
                   ac_ref *out);

/* ---- RCI (remote coroutine invocation) -------------------------------------- */

/* An RCI body: a coroutine body whose argument is the caller's message
 * (owned by the body: free it). */
typedef void (*ac_rci_fn)(ac_msg *args);
/* Create an RCI named name (1 to AC_NAME_MAX bytes) on scheduler s (NULL:
 * current); *out gets its ref. -EINVAL, -ENAMETOOLONG, -EPERM (no
 * scheduler), -ENOMEM. It needs no node: ac_rci_call of a local RCI works
 * without one. */
int ac_rci_new(ac_sched *s, const char *name, ac_rci_fn fn, ac_ref *out);
/* Register it so peers can locate it (-EEXIST if the name is taken). */
int ac_rci_register(ac_ref rci);
int ac_rci_unregister(ac_ref rci);
/* Find an RCI (this node's too) as ac_locate finds a coroutine. */
int ac_rci_locate(const char *name, const ac_addr *loc, int64_t timeout_ms,
                  ac_ref *out);
/* Start a coroutine of the RCI on its node with args (consumed on success,
 * and freed when the calling coroutine is terminated while it waits).
 * Returns 0 and *coro, -ESRCH (no such RCI), -EHOSTUNREACH, -ETIMEDOUT
 * (the coroutine may have started; with a timeout of 0 always, at once),
 * -EBUSY (that node serves max_peer_requests of ours already), -EPERM (the
 * args are of a kind only a node makes: AC_MSG_PEER). A local call never
 * waits. Coroutine only for remote RCIs. */
int ac_rci_call(ac_ref rci, ac_msg *args, int64_t timeout_ms, ac_ref *coro);

/* ---- files ------------------------------------------------------------------------- */

/* Send a local file to the node at loc, into its dest_path + dir (a
 * relative path or NULL). Returns 0 (transferred), 1 (the same file — size,
 * mtime, mode — is already there), -EEXIST (a different file is there and
 * overwrite is 0; *remote gets its stat when non-NULL), -EFBIG (over the
 * receiver's max_file_size), -EINVAL (absolute dir or a path that would
 * leave dest_path), -ETIMEDOUT (the transfer may be cut short: the
 * receiver keeps the old file or none, never a part), other negative
 * errno. A transfer always waits for the receiver's answers, so with a
 * timeout of 0 it makes the local checks (path rules, the local file) and
 * returns -ETIMEDOUT, having sent nothing. Coroutine only. */
int ac_node_send_file(ac_node *n, const ac_addr *loc, const char *path,
                      const char *dir, int overwrite, int64_t timeout_ms,
                      ac_stat *remote);
/* Delete a file sent earlier (same file name and dir). 0, -ENOENT,
 * -EINVAL (path rules), -ETIMEDOUT, ...; with a timeout of 0, -ETIMEDOUT
 * after the path checks, nothing sent (as ac_node_send_file). Coroutine
 * only. */
int ac_node_del_file(ac_node *n, const ac_addr *loc, const char *file,
                     const char *dir, int64_t timeout_ms);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* ASYNCORO_DIS_H */
