/* tools/acsim_scenarios.c: the workloads acsim runs, each with its oracles.
 *
 *   echo   TCP echo through coroutine sockets: one server node, three
 *          client nodes that send numbered length-prefixed requests and
 *          check every reply; they reconnect and retry after resets,
 *          partitions (their timeouts) and crashes (a restarted client
 *          starts over). Safety: a reply always equals its request.
 *          Liveness: every client completes all its rounds once the faults
 *          stop.
 *
 * The scenario state is the run's context (ac_scenario_ctx), outside the
 * nodes, so it survives their crashes; a node's program finds it through
 * its main's argument. Every scenario here is written on the public
 * asyncoro/scenario.h, as a user's own would be.
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
#include "tools/acsim_ex.h"

/* ---- echo -------------------------------------------------------------------- */

enum { ECHO_CLIENTS = 3, ECHO_ROUNDS = 150, ECHO_PORT = 7000 };

typedef struct echo_arg {
	struct echo_ctx *ctx;
	int idx;
} echo_arg;

typedef struct echo_ctx {
	/* Rounds confirmed by each client in its current incarnation. */
	int rounds[ECHO_CLIENTS];
	int finished[ECHO_CLIENTS];
	/* Client coroutines' arguments; the server's address. */
	echo_arg args[ECHO_CLIENTS];
	ac_addr server;
	/* Replies checked, reconnections. */
	uint64_t replies;
	uint64_t reconnects;
} echo_ctx;

static void echo_conn(void *arg)
{
	ac_sock *k = arg;
	void *buf;
	size_t len;
	int rc;
	while ((rc = ac_sock_recv_msg(k, &buf, &len, 4096, 60000)) == 1) {
		rc = ac_sock_send_msg(k, buf, len, 10000);
		free(buf);
		if (rc < 0)
			break;
	}
	ac_sock_close(k);
}

static void echo_acceptor(void *arg)
{
	ac_sock *l = arg, *k;
	ac_spawn_opts so = {.name = "echo-conn", .daemon = 1};
	while (ac_sock_accept(l, AC_FOREVER, &k) == 0)
		if (ac_spawn(NULL, echo_conn, k, &so, NULL) < 0)
			ac_sock_close(k);
	ac_sock_close(l);
}

static void echo_server_main(ac_scenario_run *run, ac_sim_node *node, void *arg)
{
	ac_addr a;
	ac_sock *l;
	ac_spawn_opts so = {.name = "echo-acceptor", .daemon = 1};
	(void)run;
	(void)arg;
	ac_sim_node_addr(node, &a);
	a.port = ECHO_PORT;
	if (ac_sock_listen(ac_sim_node_sched(node), &a, 16, 0, &l) == 0)
		ac_spawn(ac_sim_node_sched(node), echo_acceptor, l, &so, NULL);
}

/* One request/reply; returns 0, or a negative errno to reconnect. */
static int echo_round(echo_ctx *c, int idx, ac_sock *k, int round)
{
	char req[64];
	void *buf;
	size_t len;
	int n = snprintf(req, sizeof(req), "client %d round %d", idx, round);
	int rc = ac_sock_send_msg(k, req, (size_t)n, 3000);
	if (rc < 0)
		return rc;
	rc = ac_sock_recv_msg(k, &buf, &len, 4096, 3000);
	if (rc != 1)
		return rc < 0 ? rc : -ECONNRESET;
	if (len != (size_t)n || memcmp(buf, req, len) != 0)
		ac_scenario_fail(ac_scenario_current(),
		                 "safety: client %d round %d: reply \"%.*s\" is not the request",
		                 idx, round, (int)(len < 64 ? len : 64), (char *)buf);
	free(buf);
	c->replies++;
	return 0;
}

static void echo_client(void *arg)
{
	echo_arg *ea = arg;
	echo_ctx *c = ea->ctx;
	ac_addr srv;
	ac_sock *k = NULL;
	int round = 0;
	srv = c->server;
	c->rounds[ea->idx] = 0;
	while (round < ECHO_ROUNDS) {
		int rc;
		if (!k && ac_sock_connect(&srv, 2000, &k) < 0) {
			k = NULL;
			ac_sleep(200);
			continue;
		}
		rc = echo_round(c, ea->idx, k, round);
		if (rc < 0) {
			ac_sock_close(k);
			k = NULL;
			c->reconnects++;
			continue;
		}
		c->rounds[ea->idx] = ++round;
		ac_sleep(150);
	}
	ac_sock_close(k);
	c->finished[ea->idx] = 1;
}

/* A client: arg is its index. */
static void echo_client_main(ac_scenario_run *run, ac_sim_node *node, void *arg)
{
	echo_ctx *c = ac_scenario_ctx(run);
	echo_arg *ea = &c->args[(intptr_t)arg];
	ea->ctx = c;
	ea->idx = (int)(intptr_t)arg;
	ac_sim_node_addr(ac_sim_node_at(ac_sim_node_world(node), 0), &c->server);
	c->server.port = ECHO_PORT;
	c->finished[ea->idx] = 0;
	ac_spawn(ac_sim_node_sched(node), echo_client, ea, NULL, NULL);
}

static const ac_scenario_node echo_nodes[] = {
	{"server", echo_server_main, NULL, NULL},
	{"client0", echo_client_main, (void *)0, NULL},
	{"client1", echo_client_main, (void *)1, NULL},
	{"client2", echo_client_main, (void *)2, NULL},
	{NULL, NULL, NULL, NULL},
};

static int echo_done(ac_scenario_run *run)
{
	echo_ctx *c = ac_scenario_ctx(run);
	int i;
	for (i = 0; i < ECHO_CLIENTS; i++)
		if (!c->finished[i])
			return 0;
	return 1;
}

static const char *acsim_stop_name(int stop)
{
	switch (stop) {
	case AC_SIM_DONE: return "done";
	case AC_SIM_QUIET: return "nothing left to happen";
	case AC_SIM_TIME_LIMIT: return "virtual time limit";
	case AC_SIM_STEP_LIMIT: return "step limit";
	default: return "?";
	}
}

static void echo_check(ac_scenario_run *run, int stop)
{
	echo_ctx *c = ac_scenario_ctx(run);
	int i;
	for (i = 0; i < ECHO_CLIENTS; i++) {
		if (!c->finished[i]) {
			ac_scenario_fail(run, "liveness: client %d did %d of %d rounds (run "
			                 "ended: %s)", i, c->rounds[i], ECHO_ROUNDS,
			                 acsim_stop_name(stop));
			return;
		}
	}
}

/* An old-style final check (0, or -1 with the reason in why) as the final
 * oracle of a scenario. */
#define ACSIM_CHECK(name, fn)                                                 \
	static void name(ac_scenario_run *run, int stop)                      \
	{                                                                     \
		char why[512];                                                \
		if (fn(ac_scenario_ctx(run), stop, why, sizeof(why)) < 0)     \
			ac_scenario_fail(run, "%s", why);                     \
	}

/* ---- chat (examples/chat_sock_*) ------------------------------------------------ */

enum { CHAT_CLIENTS = 3, CHAT_LINES = 10 };

typedef struct chat_ctx {
	acsim_prog server;
	acsim_prog client[CHAT_CLIENTS];
	acsim_line script[CHAT_CLIENTS][CHAT_LINES + 2];
	char text[CHAT_CLIENTS][CHAT_LINES][16];
	acsim_line server_script[2];
	int faulty;
} chat_ctx;

static void chat_cleanup(ac_scenario_run *run)
{
	chat_ctx *c = ac_scenario_ctx(run);
	int i;
	acsim_prog_free(&c->server);
	for (i = 0; i < CHAT_CLIENTS; i++)
		acsim_prog_free(&c->client[i]);
}

static void chat_script(chat_ctx *c, int i)
{
	int j;
	/* Everyone joins first, then talks, then leaves. */
	for (j = 0; j < CHAT_LINES; j++) {
		snprintf(c->text[i][j], sizeof(c->text[i][j]), "c%d-%d", i, j);
		c->script[i][j].delay_ms = j == 0 ? 2000 + 100 * i : 300;
		c->script[i][j].text = c->text[i][j];
	}
	c->script[i][CHAT_LINES].delay_ms = 5000;
	c->script[i][CHAT_LINES].text = NULL;
}

static int chat_setup(ac_scenario_run *run)
{
	chat_ctx *c = ac_scenario_ctx(run);
	ac_sim *w = ac_scenario_world(run);
	static const char port[] = "1234";
	ac_sim_opts o;
	int i, rc;
	ac_sim_get_opts(w, &o);
	c->faulty = o.partition_prob > 0 || o.crash_prob > 0 ||
	            o.tcp_close_prob > 0 || o.buggify;
	rc = ac_sim_node_add(w, "server", &c->server.node);
	if (rc < 0)
		return rc;
	c->server.prog = &chat_sock_server_prog;
	c->server.main = chat_sock_server_main;
	c->server_script[0].delay_ms = 60000; /* quit after a minute */
	c->server.script = c->server_script;
	for (i = 0; i < CHAT_CLIENTS && rc == 0; i++) {
		char name[16];
		acsim_prog *p = &c->client[i];
		snprintf(name, sizeof(name), "client%d", i);
		rc = ac_sim_node_add(w, name, &p->node);
		p->prog = &chat_sock_client_prog;
		p->main = chat_sock_client_main;
		chat_script(c, i);
		p->script = c->script[i];
		p->args[0] = "10.0.0.1";
		p->args[1] = port;
		p->nargs = 2;
		if (rc == 0)
			rc = acsim_prog_install(p);
	}
	if (rc == 0) {
		c->server.args[0] = "10.0.0.1";
		c->server.args[1] = port;
		c->server.nargs = 2;
		rc = acsim_prog_install(&c->server);
	}
	return rc;
}

/* Check one client's output: never its own lines, each sender's lines in
 * order and once; count what it heard from each client index. */
static int chat_check_one(const acsim_prog *p, int me, int heard[CHAT_CLIENTS],
                          char *why, size_t len)
{
	int own = -1, last[64];
	size_t k;
	for (k = 0; k < 64; k++)
		last[k] = -1;
	for (k = 0; k < p->nout; k++) {
		int id, ci, j;
		const char *l = p->out[k];
		if (!strcmp(l, "--restart--")) {
			/* A new start meets a server that may have restarted too:
			 * ids start over. */
			own = -1;
			for (id = 0; id < 64; id++)
				last[id] = -1;
			continue;
		}
		if (sscanf(l, "id: %d", &id) == 1) {
			own = id;
			continue;
		}
		if (sscanf(l, "%d says: c%d-%d", &id, &ci, &j) != 3)
			continue;
		if (id == own || ci == me || id < 0 || id >= 64 || ci < 0 ||
		    ci >= CHAT_CLIENTS) {
			snprintf(why, len, "client %d saw \"%s\" (its own, or bad)", me, l);
			return -1;
		}
		if (j <= last[id]) {
			snprintf(why, len, "client %d saw \"%s\" after c%d-%d: order "
			         "or duplicate", me, l, ci, last[id]);
			return -1;
		}
		last[id] = j;
		heard[ci]++;
	}
	return 0;
}

static int chat_verdict(chat_ctx *c, int stop, char *why, size_t len)
{
	int i, k;
	if (stop != AC_SIM_DONE) {
		snprintf(why, len, "liveness: the chat did not end (%s)",
		         acsim_stop_name(stop));
		return -1;
	}
	for (i = 0; i < CHAT_CLIENTS; i++) {
		int heard[CHAT_CLIENTS] = {0};
		if (chat_check_one(&c->client[i], i, heard, why, len) < 0)
			return -1;
		for (k = 0; k < CHAT_CLIENTS && !c->faulty; k++) {
			if (k != i && heard[k] != CHAT_LINES) {
				snprintf(why, len, "liveness: client %d heard %d of client %d's "
				         "%d lines", i, heard[k], k, CHAT_LINES);
				return -1;
			}
		}
	}
	return 0;
}

ACSIM_CHECK(chat_check, chat_verdict)

/* ---- the distributed examples: a server node and a client node -------------- */

/* End of a pair scenario: both programs ended, or 120 virtual seconds. */
#define PAIR_END_NS (120LL * 1000000000)

typedef struct pair_ctx {
	acsim_prog server;
	acsim_prog client;
	acsim_line silent[2];
	int faulty;
	/* Which example pair (enum below). */
	int kind;
} pair_ctx;

enum { PAIR_TUT, PAIR_CORO, PAIR_RCI, PAIR_CHANNEL };

static void pair_cleanup(ac_scenario_run *run)
{
	pair_ctx *c = ac_scenario_ctx(run);
	acsim_prog_free(&c->server);
	acsim_prog_free(&c->client);
}

static int pair_done(ac_scenario_run *run)
{
	ac_sim *w = ac_scenario_world(run);
	return ac_sim_now_ns(w) >= PAIR_END_NS || ac_sim_all_finished(w, NULL);
}

static int pair_setup(ac_sim *w, pair_ctx *c, const ex_prog *sp, ex_main_fn sm,
                      const ex_prog *cp, ex_main_fn cm)
{
	ac_sim_opts o;
	int rc;
	ac_sim_get_opts(w, &o);
	/* Faults that can outlast the examples' own timeouts (and BUGGIFY's
	 * shortened ones): only safety is checked then. */
	c->faulty = o.partition_prob > 0 || o.crash_prob > 0 ||
	            o.tcp_close_prob > 0 || o.pause_prob > 0 || o.buggify;
	/* The server runs until its input ends: 100 virtual seconds. */
	c->silent[0].delay_ms = 100000;
	c->server.prog = sp;
	c->server.main = sm;
	c->server.script = c->silent;
	c->server.secret = "test";
	c->client.prog = cp;
	c->client.main = cm;
	c->client.secret = "test";
	rc = ac_sim_node_add(w, "server", &c->server.node);
	if (rc == 0)
		rc = ac_sim_node_add(w, "client", &c->client.node);
	if (rc == 0)
		rc = acsim_prog_install(&c->server);
	if (rc == 0)
		rc = acsim_prog_install(&c->client);
	return rc;
}

#define PAIR_SETUP(fn, kind_, sname, cname)                                   \
	static int fn(ac_scenario_run *run)                                   \
	{                                                                     \
		pair_ctx *c = ac_scenario_ctx(run);                           \
		c->kind = kind_;                                              \
		return pair_setup(ac_scenario_world(run), c, &sname##_prog,   \
		                  sname##_main, &cname##_prog, cname##_main); \
	}
PAIR_SETUP(tut_setup, PAIR_TUT, tut_server, tut_client)
PAIR_SETUP(coro_setup, PAIR_CORO, remote_coro_server, remote_coro_client)
PAIR_SETUP(rci_setup, PAIR_RCI, rci_monitor_server, rci_monitor_client)

static int channel_setup(ac_scenario_run *run)
{
	pair_ctx *c = ac_scenario_ctx(run);
	ac_sim *w = ac_scenario_world(run);
	c->kind = PAIR_CHANNEL;
	c->server.opt[0] = "delay";
	c->server.opt[1] = "2";
	return pair_setup(w, c, &remote_channel_server_prog,
	                  remote_channel_server_main, &remote_channel_client_prog,
	                  remote_channel_client_main);
}

/* tut: "processing <n>: <i> / <x>": within one start of the client and of
 * the server, n never twice and x in order per i (a restarted client sends
 * from n = 1 again). */
static int tut_check(pair_ctx *c, int restarts, char *why, size_t len)
{
	int seen[64] = {0}, lastx[10], i, n = 0, lastn = 0, resets = 0;
	size_t k;
	for (i = 0; i < 10; i++)
		lastx[i] = -1;
	for (k = 0; k < c->server.nout; k++) {
		int num, ci, x;
		const char *l = c->server.out[k];
		int restart = !strcmp(l, "--restart--");
		if (!restart && sscanf(l, "processing %d: %d / %d", &num, &ci, &x) != 3)
			continue;
		if (restart || (num <= lastn && resets < restarts)) {
			resets += !restart;
			memset(seen, 0, sizeof(seen));
			for (i = 0; i < 10; i++)
				lastx[i] = -1;
			lastn = 0;
			if (restart)
				continue;
		}
		if (num < 1 || num > 30 || ci < 0 || ci > 9 || x < 0 || x > 2 ||
		    seen[num]++ || x <= lastx[ci]) {
			snprintf(why, len, "safety: server line \"%s\" (duplicate, "
			         "order or range)", l);
			return -1;
		}
		lastx[ci] = x;
		lastn = num;
		n++;
	}
	if (!c->faulty && n != 30) {
		snprintf(why, len, "liveness: %d of 30 messages processed", n);
		return -1;
	}
	return 0;
}

/* remote_coro: "Received message <i>", each once, in order (within one
 * start of each side: a restarted client sends from 0 again). */
static int coro_check(pair_ctx *c, int restarts, char *why, size_t len)
{
	int last = -1, n = 0, resets = 0;
	size_t k;
	for (k = 0; k < c->server.nout; k++) {
		int i;
		if (!strcmp(c->server.out[k], "--restart--"))
			last = -1;
		if (sscanf(c->server.out[k], "Received message %d", &i) != 1)
			continue;
		if (i <= last && resets < restarts) {
			resets++;
			last = -1;
		}
		if (i <= last || i > 9) {
			snprintf(why, len, "safety: \"%s\" after message %d",
			         c->server.out[k], last);
			return -1;
		}
		last = i;
		n++;
	}
	if (!c->faulty && (n != 10 ||
	                   acsim_prog_count(&c->client, "server is at") != 1)) {
		snprintf(why, len, "liveness: %d of 10 messages received", n);
		return -1;
	}
	return 0;
}

/* rci: each remote coroutine reported once; 3 finish, 2 fail. */
static int rci_check(pair_ctx *c, char *why, size_t len)
{
	size_t k, j, fin = 0, fail = 0;
	for (k = 0; k < c->client.nout; k++) {
		const char *l = c->client.out[k];
		const char *sp;
		if (strncmp(l, "RCI ", 4) != 0 || !strstr(l, " with: "))
			continue;
		sp = strchr(l + 4, ' ');
		for (j = 0; j < k && sp; j++)
			if (!strncmp(c->client.out[j], l, (size_t)(sp - l + 1))) {
				snprintf(why, len, "safety: two exits for %.*s",
				         (int)(sp - l), l);
				return -1;
			}
		fin += strstr(l, "finished with: msg:") != NULL;
		fail += strstr(l, "failed with: invalid invocation: ") != NULL;
	}
	if (!c->faulty && (fin != 3 || fail != 2)) {
		snprintf(why, len, "liveness: %zu finished, %zu failed (want 3, 2)",
		         fin, fail);
		return -1;
	}
	return 0;
}

/* remote_channel: deliver never counts more than 2; ten times 2. */
static int channel_check(pair_ctx *c, char *why, size_t len)
{
	size_t k, two = 0;
	for (k = 0; k < c->client.nout; k++) {
		int n;
		if (sscanf(c->client.out[k], "delivered to: %d", &n) != 1)
			continue;
		if (n < 0 || n > 2) {
			snprintf(why, len, "safety: \"%s\"", c->client.out[k]);
			return -1;
		}
		two += n == 2;
	}
	if (!c->faulty && two != 10) {
		snprintf(why, len, "liveness: %zu of 10 delivers reached 2", two);
		return -1;
	}
	if (!c->faulty && acsim_prog_count(&c->server, "Received \"message") != 10) {
		snprintf(why, len, "liveness: the server's receiver got %zu of 10",
		         acsim_prog_count(&c->server, "Received \"message"));
		return -1;
	}
	return 0;
}

static int pair_verdict(pair_ctx *c, int stop, char *why, size_t len)
{
	if (stop != AC_SIM_DONE) {
		snprintf(why, len, "the run did not end (%s)", acsim_stop_name(stop));
		return -1;
	}
	switch (c->kind) {
	case PAIR_TUT:
		return tut_check(c, (int)ac_sim_node_incarnation(c->client.node) - 1,
		                 why, len);
	case PAIR_CORO:
		return coro_check(c, (int)ac_sim_node_incarnation(c->client.node) - 1,
		                  why, len);
	case PAIR_RCI: return rci_check(c, why, len);
	default: return channel_check(c, why, len);
	}
}

ACSIM_CHECK(pair_check, pair_verdict)

/* ---- the table ---------------------------------------------------------------- */

#define ACSIM_PAIR(var, name_, help_, profile_, setup_)                      \
	static const ac_scenario var = {                                      \
		.name = name_, .help = help_, .profile = profile_,            \
		.ctx_size = sizeof(pair_ctx), .setup = setup_,                \
		.done = pair_done, .check = pair_check,                       \
		.cleanup = pair_cleanup}

static const ac_scenario acsim_echo = {
	.name = "echo", .help = "TCP echo over coroutine sockets, 1 server + 3 clients",
	.profile = "crashes", .ctx_size = sizeof(echo_ctx), .nodes = echo_nodes,
	.done = echo_done, .check = echo_check};
static const ac_scenario acsim_chat = {
	.name = "chat", .help = "examples/chat_sock_*: 1 server + 3 clients",
	.profile = "lossy", .ctx_size = sizeof(chat_ctx), .setup = chat_setup,
	.check = chat_check, .cleanup = chat_cleanup};
static const ac_scenario acsim_chat_faults = {
	.name = "chat-faults", .help = "the chat under partitions and crashes (safety only)",
	.profile = "crashes", .ctx_size = sizeof(chat_ctx), .setup = chat_setup,
	.check = chat_check, .cleanup = chat_cleanup};
ACSIM_PAIR(acsim_tut, "tut", "examples/tut_*: 10 coroutines send 30 messages", "lossy",
           tut_setup);
ACSIM_PAIR(acsim_tut_faults, "tut-faults", "tut under partitions and crashes (safety only)",
           "crashes", tut_setup);
ACSIM_PAIR(acsim_coro, "remote-coro", "examples/remote_coro_*: 10 messages with a secret",
           "lossy", coro_setup);
ACSIM_PAIR(acsim_rci, "rci", "examples/rci_monitor_*: RCI calls, monitors", "lossy",
           rci_setup);
ACSIM_PAIR(acsim_rci_faults, "rci-faults", "rci under partitions and crashes (safety only)",
           "crashes", rci_setup);
ACSIM_PAIR(acsim_channel, "channel", "examples/remote_channel_*: deliver with n=2", "lossy",
           channel_setup);

const ac_scenario *const acsim_scenarios[] = {
	&acsim_echo, &acsim_chat, &acsim_chat_faults, &acsim_tut, &acsim_tut_faults,
	&acsim_coro, &acsim_rci, &acsim_rci_faults, &acsim_channel, &acsim_mixed,
	&acsim_mixed_lossy, &acsim_mixed_stop, &acsim_bulk, NULL,
};
