/* tests/fuzz/fuzz_net.h: the simulated world the network fuzz targets
 * (fuzz_frames.c, fuzz_discover.c, fuzz_tls.c) run each input in — a fresh ac_sim world
 * per input, with a fixed seed so that every input meets the same node:
 *
 *   10.0.0.1 "srv"  a real node (ac_node_start: TCP 7000, UDP discovery on
 *                   51350, secret FZ_SECRET, dest_path /dest) with a
 *                   registered echo coroutine "echo", a channel "news" and
 *                   an RCI "worker" for the requests to name;
 *   10.0.0.2 "atk"  no node: a coroutine of the target's (fz_net_run's fn)
 *                   plays the peer over the engine's sockets.
 *
 * With FZ_NET_TLS the node speaks TLS (certfile FZ_TLS_CERT: acsim's test
 * certificate and key, ac_scenario_certfile's, which both nodes' disks hold,
 * so the attacker can present it too).
 *
 * The node's disk holds a canary file next to dest_path (/victim); after
 * each input it must be intact, and names the seeds send (f.txt, d) must
 * not exist outside /dest: a file transfer or deletion that escaped
 * dest_path fails the run.
 *
 * Virtual time is bounded (FZ_NET_TIME_NS) and so are the world's steps,
 * so an input that makes the node wait (a FINISH with a long timeout)
 * still ends. After the attacker's coroutine ended (it closes what it
 * opened), the world runs FZ_NET_LINGER_NS more, so the node handles the
 * end of the connection before the world is freed. The node's log goes
 * nowhere unless FUZZ_LOG is set in the environment (then to standard
 * error).
 */
#ifndef AC_TESTS_FUZZ_FUZZ_NET_H
#define AC_TESTS_FUZZ_FUZZ_NET_H

#include <stddef.h>
#include <stdint.h>

#include <asyncoro/dis.h>
#include <asyncoro/sim.h>

#define FZ_SECRET "fuzz"
#define FZ_TCP_PORT 7000
#define FZ_UDP_PORT 51350
/* Virtual time one input may take. */
#define FZ_NET_TIME_NS (20LL * 1000 * 1000 * 1000)
/* How long the world runs on after the attacker's coroutine ended. */
#define FZ_NET_LINGER_NS (1000LL * 1000 * 1000)

/* What the attacker knows: the node's address and its objects (the same
 * for every input, since the world's seed is fixed). */
typedef struct fz_net {
	ac_addr srv;       /* 10.0.0.1:FZ_TCP_PORT */
	ac_addr srv_udp;   /* 10.0.0.1:FZ_UDP_PORT */
	ac_addr atk;       /* 10.0.0.2:FZ_TCP_PORT (nobody listens there) */
	ac_ref echo, news, worker;
	int ready;         /* the node started and its objects exist */
	int done;          /* the attacker's coroutine ended */
	const uint8_t *in; /* the input under test */
	size_t len;
} fz_net;

/* Run one input: a fresh world, the node, then fn(&net) in a coroutine of
 * "atk" once the node is ready, until fn returns or the time is up; the
 * world is freed before returning. discover: 1 to run the node's
 * discovery (the node announces and listens on FZ_UDP_PORT). Aborts (the
 * target's crash) when the world cannot be built. */
void fz_net_run(const uint8_t *in, size_t len, int discover,
                void (*fn)(fz_net *net));
/* fz_net_run with flags: FZ_NET_DISCOVER (discover above), FZ_NET_TLS. */
enum { FZ_NET_DISCOVER = 1, FZ_NET_TLS = 2 };
#define FZ_TLS_CERT "/tls/node.pem"
void fz_net_run_ex(const uint8_t *in, size_t len, int flags,
                   void (*fn)(fz_net *net));

/* HMAC-SHA256 under FZ_SECRET of the len bytes at p. */
void fz_net_hmac(const void *p, size_t len, uint8_t mac[32]);

/* The refs of the node's objects (echo, news, worker) as fz_net_run sets
 * them: for the seed generator. */
void fz_net_refs(ac_ref *echo, ac_ref *news, ac_ref *worker);

#endif /* AC_TESTS_FUZZ_FUZZ_NET_H */
