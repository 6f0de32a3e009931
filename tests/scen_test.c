/* tests/scen_test.c: small scenarios on the public asyncoro/scenario.h for
 * the runner's tests — built into tests/libscen_test.so (acsim --load), into
 * tests/scen_runner (a user's own binary over ac_scenario_main) and into
 * tests/check_scenario (ac_scenario_check).
 *
 *   ping      a client sends 5 numbered messages to an echo server and
 *             checks the replies; passes on every seed and profile.
 *   restart   ping, and at 0.3 s (virtual) setup's ac_sim_at crashes the
 *             server, at 0.6 s restarts it: its restart hook runs, not main.
 *   parity    ping whose final check fails every seed s with s % 5 == 3.
 *   crash     ping whose final check writes to address 16 on seed 2.
 *   spin      a node coroutine that yields forever at one virtual instant.
 *   forever   a node that sleeps 1 s in a loop forever (never quiesces).
 *   deadlock  a coroutine that waits for a message nobody sends, forever.
 *   unsafe    the safety oracle fails once the client got 2 replies.
 *   hang      a node coroutine that never yields (a plain busy loop).
 *   echo      ping again, under the name of an acsim built-in scenario
 *             (only in the shared object): a loaded one replaces it.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/scenario.h>

#include "tests/scen_test.h"

enum { PING_N = 5, PING_PORT = 7300 };

typedef struct ping_ctx {
	int replies;
	int mains;
	int restarts;
	ac_addr server;
} ping_ctx;

static void ping_conn(void *arg)
{
	ac_sock *k = arg;
	void *buf;
	size_t len;
	while (ac_sock_recv_msg(k, &buf, &len, 256, 60000) == 1) {
		int rc = ac_sock_send_msg(k, buf, len, 10000);
		free(buf);
		if (rc < 0)
			break;
	}
	ac_sock_close(k);
}

static void ping_accept(void *arg)
{
	ac_sock *l = arg, *k;
	ac_spawn_opts so = {.name = "conn", .daemon = 1};
	while (ac_sock_accept(l, AC_FOREVER, &k) == 0)
		if (ac_spawn(NULL, ping_conn, k, &so, NULL) < 0)
			ac_sock_close(k);
	ac_sock_close(l);
}

static void ping_listen(ac_sim_node *node)
{
	ac_spawn_opts so = {.name = "acceptor", .daemon = 1};
	ac_addr a;
	ac_sock *l;
	ac_sim_node_addr(node, &a);
	a.port = PING_PORT;
	if (ac_sock_listen(ac_sim_node_sched(node), &a, 8, 0, &l) == 0)
		ac_spawn(ac_sim_node_sched(node), ping_accept, l, &so, NULL);
}

static void ping_server(ac_scenario_run *run, ac_sim_node *node, void *arg)
{
	ping_ctx *c = ac_scenario_ctx(run);
	(void)arg;
	c->mains++;
	ping_listen(node);
}

static void ping_server_restart(ac_scenario_run *run, ac_sim_node *node, void *arg)
{
	ping_ctx *c = ac_scenario_ctx(run);
	(void)arg;
	c->restarts++;
	ping_listen(node);
}

static void ping_client(void *arg)
{
	ping_ctx *c = arg;
	ac_sock *k = NULL;
	int i = 0;
	while (i < PING_N) {
		char msg[16];
		void *buf;
		size_t len;
		int n = snprintf(msg, sizeof(msg), "ping %d", i);
		if (!k && ac_sock_connect(&c->server, 1000, &k) < 0) {
			k = NULL;
			ac_sleep(100);
			continue;
		}
		if (ac_sock_send_msg(k, msg, (size_t)n, 1000) < 0 ||
		    ac_sock_recv_msg(k, &buf, &len, 256, 1000) != 1) {
			ac_sock_close(k);
			k = NULL;
			continue;
		}
		if (len != (size_t)n || memcmp(buf, msg, len) != 0)
			ac_scenario_fail(ac_scenario_current(), "safety: reply %d is not the request",
			                 i);
		free(buf);
		c->replies = ++i;
		ac_sleep(200);
	}
	ac_sock_close(k);
}

static void ping_client_main(ac_scenario_run *run, ac_sim_node *node, void *arg)
{
	ping_ctx *c = ac_scenario_ctx(run);
	(void)arg;
	ac_sim_node_addr(ac_sim_node_at(ac_sim_node_world(node), 0), &c->server);
	c->server.port = PING_PORT;
	c->replies = 0;
	ac_spawn(ac_sim_node_sched(node), ping_client, c, NULL, NULL);
}

static void ping_check(ac_scenario_run *run, int stop)
{
	ping_ctx *c = ac_scenario_ctx(run);
	if (c->replies != PING_N)
		ac_scenario_fail(run, "liveness: %d of %d replies (stop %d)", c->replies, PING_N,
		                 stop);
}

static const ac_scenario_node ping_nodes[] = {
	{"server", ping_server, NULL, ping_server_restart},
	{"client", ping_client_main, NULL, NULL},
	{NULL, NULL, NULL, NULL},
};

const ac_scenario scen_ping = {
	.name = "ping", .help = "5 pings to an echo server", .profile = "lossy",
	.ctx_size = sizeof(ping_ctx), .nodes = ping_nodes, .check = ping_check};

/* ---- restart --------------------------------------------------------------------- */

static void restart_crash(ac_sim *w, void *arg)
{
	(void)arg;
	ac_sim_crash(ac_sim_node_at(w, 0));
}

static void restart_up(ac_sim *w, void *arg)
{
	(void)arg;
	ac_sim_restart(ac_sim_node_at(w, 0));
}

static int restart_setup(ac_scenario_run *run)
{
	ac_sim *w = ac_scenario_world(run);
	int rc = ac_sim_at(w, 300000000, restart_crash, NULL);
	return rc < 0 ? rc : ac_sim_at(w, 600000000, restart_up, NULL);
}

static void restart_check(ac_scenario_run *run, int stop)
{
	ping_ctx *c = ac_scenario_ctx(run);
	if (c->mains != 1 || c->restarts != 1)
		ac_scenario_fail(run, "main ran %d times, restart %d times (want 1, 1)", c->mains,
		                 c->restarts);
	else
		ping_check(run, stop);
}

const ac_scenario scen_restart = {
	.name = "restart", .help = "ping; the server crashes at 0.3 s and restarts at 0.6 s",
	.profile = "clean", .ctx_size = sizeof(ping_ctx), .nodes = ping_nodes,
	.setup = restart_setup, .check = restart_check};

/* ---- failures -------------------------------------------------------------------- */

static void parity_check(ac_scenario_run *run, int stop)
{
	if (ac_scenario_seed(run) % 5 == 3)
		ac_scenario_fail(run, "parity: seed %llu is 3 mod 5",
		                 (unsigned long long)ac_scenario_seed(run));
	else
		ping_check(run, stop);
}

const ac_scenario scen_parity = {
	.name = "parity", .help = "ping; fails every seed that is 3 mod 5", .profile = "clean",
	.ctx_size = sizeof(ping_ctx), .nodes = ping_nodes, .check = parity_check};

static void crash_check(ac_scenario_run *run, int stop)
{
	/* A fault at a low address that is not NULL: the sanitizers' NULL
	 * check would end the process before the signal does. */
	volatile int *volatile p = (volatile int *)(uintptr_t)16;
	if (ac_scenario_seed(run) == 2)
		*p = 1;
	ping_check(run, stop);
}

const ac_scenario scen_crash = {
	.name = "crash", .help = "ping; the final check crashes on seed 2", .profile = "clean",
	.ctx_size = sizeof(ping_ctx), .nodes = ping_nodes, .check = crash_check};

static void spin_coro(void *arg)
{
	(void)arg;
	for (;;)
		ac_yield();
}

static void spin_main(ac_scenario_run *run, ac_sim_node *node, void *arg)
{
	(void)run;
	(void)arg;
	ac_spawn(ac_sim_node_sched(node), spin_coro, NULL, NULL, NULL);
}

static const ac_scenario_node spin_nodes[] = {
	{"spinner", spin_main, NULL, NULL},
	{NULL, NULL, NULL, NULL},
};

const ac_scenario scen_spin = {
	.name = "spin", .help = "a coroutine that yields forever at one instant",
	.nodes = spin_nodes};

static void forever_coro(void *arg)
{
	(void)arg;
	for (;;)
		ac_sleep(1000);
}

static void forever_main(ac_scenario_run *run, ac_sim_node *node, void *arg)
{
	(void)run;
	(void)arg;
	ac_spawn(ac_sim_node_sched(node), forever_coro, NULL, NULL, NULL);
}

static const ac_scenario_node forever_nodes[] = {
	{"sleeper", forever_main, NULL, NULL},
	{NULL, NULL, NULL, NULL},
};

const ac_scenario scen_forever = {
	.name = "forever", .help = "a node that sleeps in a loop forever",
	.nodes = forever_nodes};

static void deadlock_coro(void *arg)
{
	ac_msg *m = NULL;
	(void)arg;
	ac_receive(AC_FOREVER, &m);
	ac_msg_free(m);
}

static void deadlock_main(ac_scenario_run *run, ac_sim_node *node, void *arg)
{
	(void)run;
	(void)arg;
	ac_spawn(ac_sim_node_sched(node), deadlock_coro, NULL, NULL, NULL);
}

static const ac_scenario_node deadlock_nodes[] = {
	{"waiter", deadlock_main, NULL, NULL},
	{NULL, NULL, NULL, NULL},
};

const ac_scenario scen_deadlock = {
	.name = "deadlock", .help = "a coroutine waits forever for a message",
	.nodes = deadlock_nodes};

static void unsafe_safety(ac_scenario_run *run)
{
	ping_ctx *c = ac_scenario_ctx(run);
	if (c->replies >= 2)
		ac_scenario_fail(run, "safety: %d replies already", c->replies);
}

const ac_scenario scen_unsafe = {
	.name = "unsafe", .help = "ping; the safety oracle fails after 2 replies",
	.profile = "clean", .ctx_size = sizeof(ping_ctx), .nodes = ping_nodes,
	.safety = unsafe_safety, .check = ping_check};

static void hang_coro(void *arg)
{
	volatile unsigned long n = 0;
	(void)arg;
	for (;;)
		n++;
}

static void hang_main(ac_scenario_run *run, ac_sim_node *node, void *arg)
{
	(void)run;
	(void)arg;
	ac_spawn(ac_sim_node_sched(node), hang_coro, NULL, NULL, NULL);
}

static const ac_scenario_node hang_nodes[] = {
	{"hanger", hang_main, NULL, NULL},
	{NULL, NULL, NULL, NULL},
};

const ac_scenario scen_hang = {
	.name = "hang", .help = "a coroutine that never yields", .nodes = hang_nodes};

#ifndef SCEN_TEST_NO_EXPORT
static const ac_scenario scen_echo = {
	.name = "echo", .help = "ping, loaded in place of acsim's echo", .profile = "clean",
	.ctx_size = sizeof(ping_ctx), .nodes = ping_nodes, .check = ping_check};

AC_SCENARIO_EXPORT(&scen_echo, &scen_ping, &scen_restart, &scen_parity, &scen_crash, &scen_spin,
                   &scen_forever, &scen_deadlock, &scen_unsafe, &scen_hang);
#endif
