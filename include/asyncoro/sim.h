/* asyncoro/sim.h: the simulated world — many nodes, one thread, virtual time.
 *
 * A world (ac_sim) holds nodes (ac_sim_node). Each node has its own I/O
 * backend (an ac_io implementing every member of struct ac_io_ops) with a
 * virtual address 10.0.0.N in the simulated subnet 10.0.0.0/24; these
 * addresses are purely virtual and never reach a real socket. A node usually
 * runs a scheduler that the world creates (see ac_sim_node_set_main); a node
 * without one can be driven through its io directly (raw io tests).
 *
 * ac_sim_run repeatedly picks, with the world's PRNG, one node that has work
 * (ready coroutines, expired timers, completed operations) and steps it; when
 * no node has work it advances virtual time to the next event (a packet
 * arrival, a timer, a fault). Every choice — latencies, losses, the
 * interleaving of nodes, fault times, entropy handed to the nodes — comes
 * from one PRNG (xoshiro256** seeded through splitmix64): same seed and same
 * build give the same run, which the trace hash (ac_sim_trace_hash) proves.
 *
 * Network model: TCP is reliable and ordered while a connection lives;
 * partitions and clogs stall it (segments are retransmitted, never lost);
 * a crashed node's peers see -ECONNRESET; send and receive buffers are
 * bounded (flow control: a writer whose peer does not read blocks). UDP datagrams can be lost,
 * duplicated and reordered; the subnet broadcast address (10.0.0.255, and
 * also 127.255.255.255 and 255.255.255.255 inside the sim) reaches every
 * node. Files live in a per-node in-memory file system that survives crashes.
 *
 * Nothing here is thread-safe; a world and its nodes belong to one thread.
 * Functions return >= 0 on success or a negative errno.
 */
#ifndef ASYNCORO_SIM_H
#define ASYNCORO_SIM_H

#include <stdint.h>
#include <stdio.h>

#include <asyncoro/asyncoro.h>
#include <asyncoro/io.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility; its API is exported. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

typedef struct ac_sim ac_sim;
typedef struct ac_sim_node ac_sim_node;

/* How a random partition cuts the network. */
enum ac_sim_partition_mode {
	/* Both directions between the two sides are cut. */
	AC_SIM_PART_SYMMETRIC = 0,
	/* Only packets from the first side to the second are cut. */
	AC_SIM_PART_ONEWAY = 1,
	/* Each partition picks one of the above. */
	AC_SIM_PART_RANDOM = 2
};

/* Every knob of a world (TigerBeetle's PacketSimulatorOptions). Probabilities
 * are in [0, 1]. Times are virtual nanoseconds. ac_sim_opts_init gives a clean
 * network: latency only, no faults. */
typedef struct ac_sim_opts {
	/* Seed of the world's PRNG. */
	uint64_t seed;
	/* One-way packet latency: latency_min_ns plus an exponentially
	 * distributed part of mean (latency_mean_ns - latency_min_ns). */
	int64_t latency_min_ns;
	int64_t latency_mean_ns;
	/* Extra per-packet delay drawn uniformly from [0, jitter_ns]. */
	int64_t jitter_ns;
	/* Probability that a UDP datagram is lost. */
	double udp_loss;
	/* Probability that a UDP datagram is delivered twice. */
	double udp_dup;
	/* Probability that a UDP datagram is held back by up to
	 * reorder_delay_ns more, so that later ones overtake it. */
	double udp_reorder;
	/* Longest extra delay of a reordered datagram. */
	int64_t reorder_delay_ns;
	/* Period of the random fault process: at each tick, each fault below
	 * starts with its probability. */
	int64_t fault_tick_ns;
	/* No random fault starts at or after this time (0: no end): neither
	 * the tick faults below (clogs, partitions, crashes, pauses) nor a
	 * random TCP reset (tcp_close_prob); running faults still end. Leaves
	 * a quiet phase for liveness checks. The network's own conditions go
	 * on: latency, jitter, UDP loss, duplication and reordering, partial
	 * reads and writes. */
	int64_t faults_until_ns;
	/* Probability per tick that a random pair of nodes is clogged (packets
	 * between them delayed, not lost) for an exponential time of mean
	 * clog_mean_ns. */
	double clog_prob;
	int64_t clog_mean_ns;
	/* Probability per tick that a random partition starts (when none is
	 * active); it lasts a uniform time in [partition_min_ns,
	 * partition_max_ns]. partition_mode is enum ac_sim_partition_mode. */
	double partition_prob;
	int partition_mode;
	int64_t partition_min_ns;
	int64_t partition_max_ns;
	/* Probability per tick that a random up node crashes, while fewer than
	 * crash_max_down nodes are down; it restarts after restart_delay_ns
	 * (< 0: stays down until ac_sim_restart). */
	double crash_prob;
	int crash_max_down;
	int64_t restart_delay_ns;
	/* Probability per tick that a random node is paused (not scheduled; its
	 * network still receives) for a uniform time up to pause_max_ns. */
	double pause_prob;
	int64_t pause_max_ns;
	/* Probability per TCP send that the connection is reset instead: the
	 * send fails with -ECONNRESET and the peer gets -ECONNRESET
	 * (FoundationDB's random close). */
	double tcp_close_prob;
	/* Probability per TCP recv of returning fewer bytes than available,
	 * and per TCP send of being delivered in several segments (the send
	 * still completes whole, asynchronously). */
	double partial_prob;
	/* TCP flow control, per connection end, in bytes (1 .. 2^30): the send
	 * buffer holds what the application sent and the peer's window does
	 * not admit yet; the receive buffer (the window) bounds what is in
	 * flight plus received and not read. A send takes what fits into the
	 * send buffer and waits (pending) for the rest: a writer whose peer
	 * does not read blocks once about tcp_sndbuf + tcp_rcvbuf bytes are
	 * out; a cancelled send reports in op->res the bytes already taken
	 * (io.h). The reader's window updates travel back with the link's
	 * latency. ac_sim_opts_init: 64 KiB and 128 KiB (Linux loopback starts
	 * at 16 KiB and 128 KiB, tcp_wmem and tcp_rmem, and grows them). */
	int64_t tcp_sndbuf;
	int64_t tcp_rcvbuf;
	/* Largest clock drift of a node in parts per million; each node draws
	 * its drift from [-drift_ppm_max, drift_ppm_max] and a random clock
	 * offset. 0: every node reads the world's time. */
	int32_t drift_ppm_max;
	/* Capacity of each node's in-memory disk in bytes (0: unlimited); a
	 * write beyond it fails with -ENOSPC. */
	int64_t disk_bytes_max;
	/* Non-zero: the knobs above (except seed and bounds) are replaced by
	 * values drawn from the seed (TigerBeetle's swarm testing). */
	int swarm;
	/* Non-zero: BUGGIFY points may fire in this run. The nodes' backends
	 * answer ac_buggify (asyncoro/io.h): each site (a string naming the
	 * point, compared by content) is enabled or not once per run, from the
	 * seed; an enabled site fires with probability 1/4 per call. */
	int buggify;
	/* Log sink and most verbose level for the nodes' schedulers (NULL /
	 * 0: the scheduler defaults, standard error at AC_LOG_INFO). */
	ac_log_fn log_fn;
	void *log_arg;
	int log_level;
	/* ac_sim_run stops when virtual time would pass this. */
	int64_t max_time_ns;
	/* ac_sim_run stops after this many node steps. */
	uint64_t max_steps;
	/* A directory (it must exist) where every node incarnation's run is
	 * recorded (asyncoro/record.h) as NAME.INCARNATION.acrec, on virtual
	 * time, and what the network did as network.pcapng (every packet,
	 * delivered or not: doc/record.md, "The simulator"); NULL: nothing
	 * recorded. Recording only observes: a seed's trace hash is the same
	 * with it, and its files are the same bytes. The string is kept, not
	 * copied. */
	const char *record_dir;
} ac_sim_opts;

/* Why ac_sim_run returned (non-negative results). */
enum ac_sim_stop {
	/* The done predicate returned non-zero (or ac_sim_run_for's time is
	 * up). */
	AC_SIM_DONE = 0,
	/* Nothing can happen any more: no node has work, no event is queued. */
	AC_SIM_QUIET = 1,
	/* max_time_ns reached. */
	AC_SIM_TIME_LIMIT = 2,
	/* max_steps reached. */
	AC_SIM_STEP_LIMIT = 3
};

/* Counters of a world, for tests and benchmarks. */
typedef struct ac_sim_stats {
	/* Node steps taken. */
	uint64_t steps;
	/* Queued events processed (arrivals, faults, ...). */
	uint64_t events;
	/* Operations completed: callbacks run plus submits that returned
	 * AC_IO_DONE. */
	uint64_t completions;
	/* TCP connections established, refused (or unreachable). */
	uint64_t tcp_conns;
	uint64_t tcp_refused;
	/* TCP segments delivered and retransmission waits (stalls). */
	uint64_t tcp_segments;
	uint64_t tcp_stalls;
	/* TCP resets delivered. */
	uint64_t tcp_resets;
	/* TCP sends that had to wait for room in the send buffer, and window
	 * updates delivered. */
	uint64_t tcp_send_waits;
	uint64_t tcp_window_updates;
	/* UDP datagrams sent, delivered to a socket, lost (loss, partition, no
	 * receiver, full queue), duplicated. */
	uint64_t udp_sent;
	uint64_t udp_delivered;
	uint64_t udp_lost;
	uint64_t udp_dups;
	/* Faults injected. */
	uint64_t crashes;
	uint64_t restarts;
	uint64_t partitions;
	uint64_t clogs;
	uint64_t pauses;
	/* BUGGIFY points that fired. */
	uint64_t buggified;
	/* Socket endpoints currently allocated (0 after everything closed). */
	uint64_t endpoints_live;
} ac_sim_stats;

/* A node's program: called when the node starts and after every restart,
 * outside any coroutine, with the node's fresh scheduler in place
 * (ac_sim_node_sched) and current (ac_spawn(NULL, ...) spawns there); it
 * spawns the node's coroutines and returns. */
typedef void (*ac_sim_main_fn)(ac_sim_node *node, void *arg);
/* Predicate for ac_sim_run: non-zero stops the run. */
typedef int (*ac_sim_done_fn)(ac_sim *w, void *arg);
/* Callback of ac_sim_at. */
typedef void (*ac_sim_at_fn)(ac_sim *w, void *arg);

/* ---- worlds ----------------------------------------------------------------- */

/* Fill *o with a clean network: latency 50..200 us, no faults, no drift,
 * TCP buffers of 64 KiB (send) and 128 KiB (receive), seed 0, max_time_ns
 * one virtual hour, max_steps 10^9. */
void ac_sim_opts_init(ac_sim_opts *o);
/* Create a world from a copy of *o (with swarm set, the knobs are drawn
 * first). Returns 0 and *out, -EINVAL for out-of-range knobs, -ENOMEM. */
int ac_sim_new(const ac_sim_opts *o, ac_sim **out);
/* Destroy a world: every node's scheduler is freed (as in a crash: no
 * clean shutdown traffic), then every socket, file and event. Must not be
 * called from a coroutine of the world. */
void ac_sim_free(ac_sim *w);
/* The knobs in effect (after swarm drew them). */
void ac_sim_get_opts(const ac_sim *w, ac_sim_opts *out);
/* Replace the log sink of the opts (log_fn, log_arg; the level stays) for
 * the schedulers the world creates from now on: every node started or
 * restarted later, and a replay's. A scenario's setup may wrap the sink it
 * was given (ac_sim_get_opts) to read the nodes' log lines. Not from a
 * coroutine of the world. */
void ac_sim_set_log(ac_sim *w, ac_log_fn fn, void *arg);
/* Print the seed and knobs in effect, one line each, to f. */
void ac_sim_describe(const ac_sim *w, FILE *f);
/* Counters so far. */
void ac_sim_get_stats(const ac_sim *w, ac_sim_stats *out);

/* ---- nodes ------------------------------------------------------------------- */

/* Add a node named name (unique, at most 63 bytes; NULL: "nodeN") with the
 * next address 10.0.0.N (N = 1, 2, ...; at most 254 nodes). The node is up,
 * has no scheduler yet and owns its io (valid until ac_sim_free). Returns 0
 * and *out, -EEXIST (name taken), -ENOSPC (no address left), -EINVAL,
 * -ENOMEM. May be called before or between runs, not from a coroutine. */
int ac_sim_node_add(ac_sim *w, const char *name, ac_sim_node **out);
/* The node's backend; usable with ac_sched_opts.io or directly. */
ac_io *ac_sim_node_io(ac_sim_node *n);
/* The node an io belongs to, or NULL when io is not a sim backend (nor a
 * recorder of one: AC_RECORD wraps a node's backend). */
ac_sim_node *ac_sim_node_of(ac_io *io);
/* The world of a node. */
ac_sim *ac_sim_node_world(ac_sim_node *n);
/* The node's address (port 0). */
void ac_sim_node_addr(const ac_sim_node *n, ac_addr *out);
/* The node's name and index (0-based, in order of addition). */
const char *ac_sim_node_name(const ac_sim_node *n);
unsigned ac_sim_node_index(const ac_sim_node *n);
/* Number of nodes and the node of an index (NULL when out of range). */
unsigned ac_sim_nodes(const ac_sim *w);
ac_sim_node *ac_sim_node_at(ac_sim *w, unsigned index);
/* Install the node's program. The world creates a scheduler (ac_sched_new
 * with opts.io = the node's io and the node's name) when it next steps the
 * node, then calls main(node, arg); after every restart it does so again
 * with a fresh scheduler (a new incarnation). Returns 0, -EBUSY when the
 * node already runs a scheduler, -EINVAL when main is NULL. */
int ac_sim_node_set_main(ac_sim_node *n, ac_sim_main_fn main, void *arg);
/* The node's current scheduler, or NULL (no program, not started yet, or
 * down). Marks the node as having work, since the caller may spawn. */
ac_sched *ac_sim_node_sched(ac_sim_node *n);
/* 1 when the node is up, 0 while crashed. */
int ac_sim_node_is_up(const ac_sim_node *n);
/* How many times the node was started: 1 at first, +1 per restart. */
uint64_t ac_sim_node_incarnation(const ac_sim_node *n);
/* The node's monotonic clock (the world's time with its drift), ns. */
int64_t ac_sim_node_now_ns(const ac_sim_node *n);
/* What the node's monotonic clock reads at world time t_ns. A function of
 * the world's options and the order nodes were added (drift and offset are
 * drawn then), so a program may compute it in its setup and compare it
 * with its own clock (ac_sched_now_ns), which a replay feeds back: reading
 * ac_sim_now_ns from a node's program makes its record unreplayable. */
int64_t ac_sim_node_clock_at(const ac_sim_node *n, int64_t t_ns);
/* Replay incarnation `incarnation` of node n from its record at path
 * (written through ac_sim_opts.record_dir; doc/record.md, "The
 * simulator"): n's program alone runs, on the replay backend
 * (asyncoro/record.h), stepped as the world stepped it; nothing else of
 * the world runs. w must be new (never run), made with the recorded
 * world's options and set up the same way, so that n has the same program
 * and argument. The node's scheduler has the live one's name, log sink and
 * level, and its last line is the live run's "record PATH: N events, hash
 * H" (PATH as given here) once the replay reached the record's end. A
 * divergence ends the process with AC_REPLAY_EXIT_DIVERGED after its
 * report on standard error (AC_REPLAY_UNTIL also works). Returns 0,
 * -EINVAL (n has no program, w has run, incarnation 0), or the error of
 * reading the record. */
int ac_sim_node_replay(ac_sim_node *n, uint64_t incarnation, const char *path);

/* ---- running ------------------------------------------------------------------- */

/* Run the world until done(w, arg) returns non-zero (done may be NULL),
 * nothing can happen any more, or a bound of the options is reached.
 * Returns enum ac_sim_stop, or a negative errno when a node's scheduler
 * could not be created. Must not be called from a coroutine of the world. */
int ac_sim_run(ac_sim *w, ac_sim_done_fn done, void *arg);
/* Run for duration_ns of virtual time (or until a bound, or until nothing
 * can happen); afterwards the world's time is exactly start + duration_ns
 * unless a bound stopped it. Returns enum ac_sim_stop (AC_SIM_DONE when
 * the time is up). */
int ac_sim_run_for(ac_sim *w, int64_t duration_ns);
/* A predicate for ac_sim_run: 1 when every up node that runs a scheduler
 * has no live non-daemon coroutine and no node is still to be started. */
int ac_sim_all_finished(ac_sim *w, void *arg);
/* The world's virtual time, ns (starts at 0). */
int64_t ac_sim_now_ns(const ac_sim *w);
/* Call fn(w, arg) once at virtual time at_ns (now if already passed), from
 * the world loop, outside any node step. Engine calls made there must name
 * their scheduler (ac_sim_node_sched): the current one is whichever node
 * ran last. Returns 0 or -ENOMEM. */
int ac_sim_at(ac_sim *w, int64_t at_ns, ac_sim_at_fn fn, void *arg);
/* The seed in use. */
uint64_t ac_sim_seed(const ac_sim *w);

/* ---- faults, injected explicitly ------------------------------------------- */

/* Cut the network from a to b, and from b to a unless oneway, for
 * duration_ns (< 0: until ac_sim_heal). TCP segments are held and
 * retransmitted, UDP datagrams lost. Returns 0 or -EINVAL (a == b). */
int ac_sim_partition(ac_sim *w, ac_sim_node *a, ac_sim_node *b, int oneway,
                     int64_t duration_ns);
/* Cut n from every other node in both directions (see ac_sim_partition). */
int ac_sim_isolate(ac_sim *w, ac_sim_node *n, int64_t duration_ns);
/* End every partition and clog now. */
void ac_sim_heal(ac_sim *w);
/* Delay every packet between a and b (both directions) until duration_ns
 * from now; nothing is lost. Returns 0 or -EINVAL. */
int ac_sim_clog(ac_sim *w, ac_sim_node *a, ac_sim_node *b,
                int64_t duration_ns);
/* Set the latency of the link from a to b (both NULL: every link and the
 * default for nodes added later). Returns 0 or -EINVAL. */
int ac_sim_set_latency(ac_sim *w, ac_sim_node *a, ac_sim_node *b,
                       int64_t min_ns, int64_t mean_ns, int64_t jitter_ns);
/* Change the UDP fault probabilities. Returns 0 or -EINVAL. */
int ac_sim_set_udp_faults(ac_sim *w, double loss, double dup, double reorder);
/* Crash node n: its scheduler and all its coroutines vanish without clean
 * up, every socket disappears (TCP peers get a reset after the latency,
 * or nothing while partitioned), open files close; the files stay. When
 * called during n's own step (from one of its coroutines), the crash
 * happens right after that step. Returns 0 or -EALREADY (down). */
int ac_sim_crash(ac_sim_node *n);
/* Bring a crashed node back up with a new incarnation; its program (if
 * any) starts again with a fresh scheduler. Deferred like ac_sim_crash
 * when called during a step. Returns 0 or -EALREADY (up). */
int ac_sim_restart(ac_sim_node *n);
/* Do not schedule n for duration_ns (a stop-the-world pause); its network
 * keeps receiving. Returns 0 or -EINVAL. */
int ac_sim_pause(ac_sim_node *n, int64_t duration_ns);

/* ---- trace ------------------------------------------------------------------- */

/* Hash of every event so far (xxHash64 rounds over fixed records of four
 * 64-bit words: time, kind and node, two arguments); independent of the
 * host's byte order. Two runs of a seed and build give the same value. */
uint64_t ac_sim_trace_hash(const ac_sim *w);
/* Also write each event as a text line to f (NULL: stop). The world does
 * not own f. */
void ac_sim_trace_file(ac_sim *w, FILE *f);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* ASYNCORO_SIM_H */
