/* tools/acsim_bulk.c: the "bulk" scenario — TCP streams of 256 KiB to a slow
 * reader, so that the simulated network's flow control (bounded send and
 * receive buffers, ac_sim_opts.tcp_sndbuf/tcp_rcvbuf) is exercised in
 * every sweep.
 *
 * One server node accepts connections; per connection a reader first
 * stalls (400 ms: the writer's buffers fill and its send blocks), then
 * reads the header (client, round) and the stream in pieces of at most
 * 8 KiB with a 2 ms pause between them, checking every byte against the
 * pattern of its client, round and offset, and answers one byte when all
 * has arrived. Two client nodes each send BULK_ROUNDS streams, each on a
 * new connection with ac_sock_send_all in 64 KiB pieces; after a reset, a
 * timeout or a crash of either side the round starts over on a new
 * connection (a restarted client starts from its first round). Only the
 * connect has a timeout: the simulated TCP loses nothing while a
 * connection lives and resets it when a node crashes (after a partition
 * heals), so every wait ends; sends and reads without a timeout are also
 * immune to the "sock-short-timeout" BUGGIFY point, which would otherwise
 * cut nearly every stream short.
 *
 * Safety: every byte the server reads is the one the pattern puts at that
 * offset (the stream arrives intact and in order). Liveness: every client
 * completes its rounds once the faults stop. Flow control: when the two
 * buffers together are smaller than a stream, some send had to wait
 * (ac_sim_stats.tcp_send_waits > 0).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/asyncoro.h>
#include <asyncoro/scenario.h>

#include "tools/acsim.h"

enum { BULK_CLIENTS = 2, BULK_ROUNDS = 3, BULK_PORT = 7100 };
#define BULK_LEN (256u << 10)
#define BULK_PIECE (64u << 10)

typedef struct bulk_arg {
	struct bulk_ctx *ctx;
	int idx;
} bulk_arg;

typedef struct bulk_ctx {
	/* The server's address, the client coroutines' arguments. */
	ac_addr server;
	bulk_arg args[BULK_CLIENTS];
	/* Rounds done by each client in its current incarnation. */
	int rounds[BULK_CLIENTS];
	int finished[BULK_CLIENTS];
	/* Streams the server read whole. */
	uint64_t streams;
} bulk_ctx;

/* The byte at offset i of client c's stream of round r. */
static uint8_t bulk_byte(uint32_t c, uint32_t r, uint32_t i)
{
	return (uint8_t)(i * 7u + i / 4099u + c * 13u + r * 29u);
}

/* Read the stream of one connection, checking each byte. */
static void bulk_read(bulk_ctx *c, ac_sock *k)
{
	uint8_t hdr[8], buf[8192];
	uint32_t cl, r, off = 0;
	ac_sleep(400); /* a stalled reader: the writer fills the buffers */
	if (ac_sock_recv_all(k, hdr, sizeof(hdr), AC_FOREVER) != (ssize_t)sizeof(hdr))
		return;
	memcpy(&cl, hdr, 4);
	memcpy(&r, hdr + 4, 4);
	while (off < BULK_LEN) {
		size_t want = BULK_LEN - off < sizeof(buf) ? BULK_LEN - off : sizeof(buf);
		ssize_t n = ac_sock_recv(k, buf, want, AC_FOREVER), i;
		if (n <= 0)
			return;
		for (i = 0; i < n; i++) {
			if (buf[i] == bulk_byte(cl, r, off + (uint32_t)i))
				continue;
			ac_scenario_fail(ac_scenario_current(),
			                 "safety: client %" PRIu32 " round %" PRIu32 " offset %"
			                 PRIu32 ": byte %u, expected %u", cl, r, off + (uint32_t)i,
			                 buf[i], bulk_byte(cl, r, off + (uint32_t)i));
			return;
		}
		off += (uint32_t)n;
		ac_sleep(2);
	}
	c->streams++;
	if (ac_sock_send_all(k, "K", 1, AC_FOREVER) == 1)
		ac_sock_recv(k, buf, 1, AC_FOREVER); /* until the client closes */
}

static void bulk_conn(void *arg)
{
	void **a = arg;
	bulk_read(a[0], a[1]);
	ac_sock_close(a[1]);
	free(a);
}

static void bulk_acceptor(void *arg)
{
	void **la = arg;
	ac_spawn_opts so = {.name = "bulk-conn", .daemon = 1};
	ac_sock *k;
	while (ac_sock_accept(la[1], AC_FOREVER, &k) == 0) {
		void **a = malloc(2 * sizeof(*a));
		if (a) {
			a[0] = la[0];
			a[1] = k;
		}
		if (!a || ac_spawn(NULL, bulk_conn, a, &so, NULL) < 0) {
			free(a);
			ac_sock_close(k);
		}
	}
	ac_sock_close(la[1]);
	free(la);
}

static void bulk_server_main(ac_scenario_run *run, ac_sim_node *node, void *arg)
{
	ac_spawn_opts so = {.name = "bulk-acceptor", .daemon = 1};
	void **la = malloc(2 * sizeof(*la));
	ac_addr a;
	ac_sock *l;
	ac_sim_node_addr(node, &a);
	a.port = BULK_PORT;
	if (!la || ac_sock_listen(ac_sim_node_sched(node), &a, 16, 0, &l) < 0) {
		free(la);
		return;
	}
	(void)arg;
	la[0] = ac_scenario_ctx(run);
	la[1] = l;
	if (ac_spawn(ac_sim_node_sched(node), bulk_acceptor, la, &so, NULL) < 0) {
		ac_sock_close(l);
		free(la);
	}
}

/* One round on a new connection: 0, or a negative errno to retry. */
static int bulk_round(bulk_ctx *c, int idx, uint32_t r, uint8_t *buf)
{
	uint32_t cl = (uint32_t)idx, off, i;
	uint8_t hdr[8], ack;
	ac_addr srv;
	ac_sock *k;
	int rc;
	srv = c->server;
	if ((rc = ac_sock_connect(&srv, 2000, &k)) < 0)
		return rc;
	memcpy(hdr, &cl, 4);
	memcpy(hdr + 4, &r, 4);
	rc = (int)ac_sock_send_all(k, hdr, sizeof(hdr), AC_FOREVER);
	for (off = 0; rc >= 0 && off < BULK_LEN; off += BULK_PIECE) {
		for (i = 0; i < BULK_PIECE; i++)
			buf[i] = bulk_byte(cl, r, off + i);
		rc = (int)ac_sock_send_all(k, buf, BULK_PIECE, AC_FOREVER);
	}
	if (rc >= 0)
		rc = (int)ac_sock_recv(k, &ack, 1, AC_FOREVER);
	ac_sock_close(k);
	return rc == 1 && ack == 'K' ? 0 : (rc < 0 ? rc : -ECONNRESET);
}

static void bulk_client(void *arg)
{
	bulk_arg *ba = arg;
	bulk_ctx *c = ba->ctx;
	uint8_t *buf = malloc(BULK_PIECE);
	int round = 0;
	c->rounds[ba->idx] = 0;
	while (buf && round < BULK_ROUNDS) {
		if (bulk_round(c, ba->idx, (uint32_t)round, buf) < 0) {
			ac_sleep(200);
			continue;
		}
		c->rounds[ba->idx] = ++round;
	}
	free(buf);
	c->finished[ba->idx] = buf != NULL;
}

/* A client: arg is its index. */
static void bulk_client_main(ac_scenario_run *run, ac_sim_node *node, void *arg)
{
	bulk_ctx *c = ac_scenario_ctx(run);
	bulk_arg *ba = &c->args[(intptr_t)arg];
	ba->ctx = c;
	ba->idx = (int)(intptr_t)arg;
	ac_sim_node_addr(ac_sim_node_at(ac_sim_node_world(node), 0), &c->server);
	c->server.port = BULK_PORT;
	c->finished[ba->idx] = 0;
	ac_spawn(ac_sim_node_sched(node), bulk_client, ba, NULL, NULL);
}

static int bulk_done(ac_scenario_run *run)
{
	bulk_ctx *c = ac_scenario_ctx(run);
	int i;
	for (i = 0; i < BULK_CLIENTS; i++)
		if (!c->finished[i])
			return 0;
	return 1;
}

static void bulk_check(ac_scenario_run *run, int stop)
{
	bulk_ctx *c = ac_scenario_ctx(run);
	ac_sim *w = ac_scenario_world(run);
	ac_sim_opts o;
	ac_sim_stats st;
	int i;
	ac_sim_get_opts(w, &o);
	ac_sim_get_stats(w, &st);
	for (i = 0; i < BULK_CLIENTS; i++) {
		if (!c->finished[i]) {
			ac_scenario_fail(run, "liveness: client %d did %d of %d rounds (run ended: "
			                 "%s)", i, c->rounds[i], BULK_ROUNDS,
			                 stop == AC_SIM_DONE ? "done" : "a bound or quiet");
			return;
		}
	}
	if (o.tcp_sndbuf + o.tcp_rcvbuf < (int64_t)BULK_LEN && st.tcp_send_waits == 0)
		ac_scenario_fail(run, "flow control: buffers of %" PRId64 " + %" PRId64
		                 " bytes, yet no send of %" PRIu64 " streams ever waited",
		                 o.tcp_sndbuf, o.tcp_rcvbuf, c->streams);
}

static const ac_scenario_node bulk_nodes[] = {
	{"server", bulk_server_main, NULL, NULL},
	{"client0", bulk_client_main, (void *)0, NULL},
	{"client1", bulk_client_main, (void *)1, NULL},
	{NULL, NULL, NULL, NULL},
};

const ac_scenario acsim_bulk = {
	.name = "bulk",
	.help = "256 KiB TCP streams to a slow reader: flow control, bytes intact",
	.profile = "crashes",
	.ctx_size = sizeof(bulk_ctx),
	.nodes = bulk_nodes,
	.done = bulk_done,
	.check = bulk_check,
};
