/* tests/net_harness.h: what the suites of the distributed layer share
 * (check_net_peers.c, check_net_msgs.c, check_net_chan.c,
 * check_net_hostile.c) — a world of several nodes over real loopback TCP in
 * one process and one thread, each with its own scheduler, driven by
 * stepping every scheduler in turn (tests/net_harness.c, compiled into each
 * suite).
 *
 * A node "crashes" when its scheduler is freed without ac_node_stop (its
 * sockets close, peers see the end of stream); it "goes silent" when the
 * driver stops stepping it (W.frozen: no CPU, its sockets stay open).
 * Coroutine bodies report through flags the driver waits for with
 * RUN_UNTIL; every wait is bounded, so a test that hangs fails.
 */
#ifndef AC_TESTS_NET_HARNESS_H
#define AC_TESTS_NET_HARNESS_H

#include "tests/testutil.h"

#include <stdint.h>
#include <stdio.h>

#include <asyncoro/dis.h>

#include "net/wire.h"

/* Nodes (schedulers) in a world at most. */
enum { WMAX = 4 };

/* Generous bound for anything that must happen. */
#define LONG_MS 10000

/* Captured log lines of one scheduler. */
typedef struct tlog {
	char *buf;
	size_t len;
	size_t cap;
} tlog;

typedef struct world {
	int n;
	ac_sched *s[WMAX];
	ac_node *node[WMAX];
	ac_addr loc[WMAX];
	char locs[WMAX][AC_ADDR_STRLEN];
	int frozen[WMAX];
	tlog log[WMAX];
	char dir[64];
	int64_t hb_ms;
	int64_t lost_ms;
	/* When set: called with the options of node i before it starts. */
	void (*tune)(int i, ac_node_opts *o);
	/* When set: called with the options of scheduler i before it is made. */
	void (*stune)(int i, ac_sched_opts *o);
} world;

/* The world of the running test (each test starts with world_init and ends
 * with world_fini). */
extern world W;

/* Monotonic wall-clock milliseconds. */
int64_t wall_ms(void);
/* 1 when scheduler i logged a line containing text (set CHECK_NET_LOG to
 * see every line on stderr). */
int logged(int i, const char *text);
/* Forget what scheduler i logged so far. */
void log_clear(int i);

/* Start the world, in a fresh temporary directory; hb/lost 0 keep the
 * defaults (heartbeat_ms, peer_lost_ms of the nodes). */
void world_init(int64_t hb_ms, int64_t lost_ms);
/* A scheduler without a node at index i (W.n: a new one); returns i. */
int world_sched_at(int i);
int world_sched(void);
/* A node "node<i>" with that secret at index i on 127.0.0.1:tcp_port (0:
 * any), discovery off, dest_path under the world's directory; returns i. */
int world_node_at(int i, const char *secret, uint16_t tcp_port);
/* A new node with that secret; returns its index. */
int world_node(const char *secret);
/* Crash node i: its scheduler goes away without a goodbye. */
void world_crash(int i);
/* Free every scheduler, the logs and the directory. */
void world_fini(void);
/* One round: step every running, unfrozen scheduler; nap when idle. */
void world_step(void);

/* Step until flag >= want; the test fails after max_ms. */
#define RUN_UNTIL(flag, want, max_ms) \
	run_until(&(flag), (want), (max_ms), #flag, __LINE__)
void run_until(const int *flag, int want, int64_t max_ms, const char *what,
               int line);
/* Step for ms. */
void run_for(int64_t ms);
/* Spawn fn(arg) on scheduler i; returns its ref. */
ac_ref spawn_on(int i, ac_coro_fn fn, void *arg);

/* ac_node_peer from node `from` to loc (run to its end): its result. */
int peer_loc(int from, const char *loc);
/* Peers node i lists. */
int npeers(int i);
/* Wait until node i lists count peers (fails after LONG_MS). */
void wait_npeers(int i, int count);
/* Peer from → to and wait until both list each other. */
void world_peer(int from, int to);
/* 1 when node i lists loc among its peers. */
int lists(int i, const ac_addr *loc);
/* A port on 127.0.0.1 where nobody listens (just closed). */
uint16_t closed_port(void);
/* r moved to a node that does not exist. */
ac_ref ref_elsewhere(ac_ref r);

/* In a coroutine: receive one data message equal to text within LONG_MS. */
void recv_is(const char *text);
/* In a coroutine: nothing arrives within ms. */
void recv_none(int64_t ms);

/* A coroutine that registers a name (when given), reports its ref, then
 * echoes every data message back to its sender until "quit". */
typedef struct echo {
	const char *name;
	ac_ref ref;
	int ready;
	int got;
	int done;
} echo;
/* Start an echo on scheduler i and wait until it is ready. */
void start_echo(int i, echo *e, const char *name);

/* Collects the peer-status messages of node `node`. */
typedef struct pwatch {
	int node;
	int ready;
	/* Events that came at once on subscribing (one per current peer). */
	int immediate;
	int nev;
	ac_peer_info ev[16];
} pwatch;
/* Start a watcher on node i and wait until it has subscribed. */
void start_pwatch(pwatch *w, int node);
/* Event k of w is about node `peer` (location and name) with status. */
void check_ev(const pwatch *w, int k, int peer, int status);

/* Run suite s (CK_NORMAL); the exit status for main. */
int net_harness_main(Suite *s);

#endif /* AC_TESTS_NET_HARNESS_H */
