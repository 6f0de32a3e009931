/* examples/walk_scenario.c: the scenario of the README's walk-through
 * ("Finding a bug in your own program"), over the public API of
 * asyncoro/scenario.h: the job queue of examples/walk_server.c and
 * examples/walk_client.c, unchanged, as simulated nodes.
 *
 *   walk   one server node (walk_server: its journal on its simulated disk,
 *          WALK_WORK_MS of work per job) and WALK_CLIENTS client nodes
 *          (walk_client: WALK_JOBS jobs each, WALK_INTERVAL_MS apart, its
 *          progress in a journal too, so that a restart goes on). Profile
 *          "crashes". Safety, before every step: no job was applied twice.
 *          Liveness, at the end: every client's current incarnation got
 *          every ack, and every job was applied exactly once.
 *
 * Built as a shared object (examples/libwalk.la: `acsim --load`), and again
 * with -DWALK_BUG (examples/libwalk_bug.la), where the server applies a job
 * that it already applied (walk_server.c says why someone would write
 * that): the sweep finds a seed that breaks the safety oracle
 * (tests/walk.test, tests/check_walk.c).
 *
 * Each node runs its example program in an ex_env (examples/example.h)
 * made here: the node's scheduler, its virtual address, discovery on the
 * simulated subnet, an input that never ends, and output lines that go to
 * the oracles and the node's log instead of a terminal. The env lives in the run's context,
 * so it outlives the node's crashes; each start makes it afresh.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/scenario.h>

#include "examples/example.h"

/* The workload (macros: they are options' text too). */
#define WALK_CLIENTS 2
#define WALK_JOBS 10
#define WALK_INTERVAL_MS 200
#define WALK_WORK_MS 10
#define WALK_TIMEOUT_MS 1000
#define WALK_STR(x) WALK_STR2(x)
#define WALK_STR2(x) #x

/* One simulated program: which example, its options, its env. */
typedef struct walk_node {
	const ex_prog *prog;
	ex_main_fn main;
	/* Option values by name: NULL-terminated pairs. */
	const char *opt[2 * EX_OPTS_MAX + 1];
	/* The client's index (-1: the server). */
	int client;
	ex_env env;
	char addr[AC_ADDR_STRLEN];
	struct walk_ctx *ctx;
} walk_node;

typedef struct walk_ctx {
	walk_node server;
	walk_node client[WALK_CLIENTS];
	/* Times each client's job k was applied (index k, 1..WALK_JOBS). */
	int applied[WALK_CLIENTS][WALK_JOBS + 1];
	/* Each client's current incarnation printed "all N jobs acknowledged". */
	int finished[WALK_CLIENTS];
	/* First job seen applied twice (client index -1: none). */
	int twice_client;
	int twice_k;
} walk_ctx;

/* The input of every node: nothing, and never an end. */
static int walk_read_line(ex_env *env, char *buf, size_t len)
{
	(void)env;
	(void)buf;
	(void)len;
	while (ac_sleep(INT32_MAX) == 0)
		;
	return -ECANCELED;
}

/* An output line: the oracles read it, and it goes to the node's log (so
 * that --trace and --logs show it among the events). */
static void walk_print(ex_env *env, const char *line)
{
	walk_node *n = env->backend;
	walk_ctx *c = n->ctx;
	char id[8];
	int i, k;
	ac_log(env->sched, AC_LOG_INFO, "%s", line);
	if (n->client >= 0) {
		if (strncmp(line, "all ", 4) == 0)
			c->finished[n->client] = 1;
		return;
	}
	if (sscanf(line, "applied c%7s %d", id, &k) != 2 || k < 1 || k > WALK_JOBS)
		return;
	i = atoi(id) - 1;
	if (i < 0 || i >= WALK_CLIENTS)
		return;
	if (++c->applied[i][k] == 2 && c->twice_client < 0) {
		c->twice_client = i;
		c->twice_k = k;
	}
}

/* A node's program, at every start: a fresh env on the fresh scheduler. */
static void walk_node_main(ac_scenario_run *run, ac_sim_node *node, void *arg)
{
	walk_ctx *c = ac_scenario_ctx(run);
	intptr_t idx = (intptr_t)arg;
	walk_node *n = idx == 0 ? &c->server : &c->client[idx - 1];
	ac_addr a;
	int i, k, rc;
	n->ctx = c;
	if (n->client >= 0)
		c->finished[n->client] = 0;
	ex_env_init(&n->env, n->prog);
	n->env.sched = ac_sim_node_sched(node);
	ac_sim_node_addr(node, &a);
	ac_addr_format_ip(&a, n->addr, sizeof(n->addr));
	n->env.node_opts.node = n->addr;
	n->env.node_opts.broadcast = "10.0.0.255";
	n->env.node_opts.heartbeat_ms = 1000;
	n->env.node_opts.peer_lost_ms = 5000;
	n->env.node_opts.certfile = ac_scenario_certfile(run, node);
	for (i = 0; n->opt[2 * i]; i++)
		for (k = 0; n->prog->opts[k].name; k++)
			if (!strcmp(n->prog->opts[k].name, n->opt[2 * i]))
				n->env.opt_val[k] = n->opt[2 * i + 1];
	n->env.read_line = walk_read_line;
	n->env.print = walk_print;
	n->env.backend = n;
	rc = n->main(&n->env);
	if (rc < 0)
		ac_scenario_fail(run, "%s did not start: %s", ac_sim_node_name(node),
		                 ac_strerror(rc));
}

static int walk_setup(ac_scenario_run *run)
{
	static const char *const ids[WALK_CLIENTS] = {"c1", "c2"};
	walk_ctx *c = ac_scenario_ctx(run);
	int i;
	c->twice_client = -1;
	c->server = (walk_node){
		.prog = &walk_server_prog, .main = walk_server_main, .client = -1,
		.opt = {"journal", "/walk.journal", "work", WALK_STR(WALK_WORK_MS), NULL}};
	for (i = 0; i < WALK_CLIENTS; i++)
		c->client[i] = (walk_node){
			.prog = &walk_client_prog, .main = walk_client_main, .client = i,
			.opt = {"id", ids[i], "jobs", WALK_STR(WALK_JOBS), "interval",
			        WALK_STR(WALK_INTERVAL_MS), "timeout", WALK_STR(WALK_TIMEOUT_MS),
			        "journal", "/walk.client", NULL}};
	return 0;
}

/* The run ends when every client's current incarnation is done (the server
 * serves forever); a job applied twice ends it through walk_safety. */
static int walk_done(ac_scenario_run *run)
{
	walk_ctx *c = ac_scenario_ctx(run);
	int i;
	for (i = 0; i < WALK_CLIENTS; i++)
		if (!c->finished[i])
			return 0;
	return 1;
}

static void walk_safety(ac_scenario_run *run)
{
	walk_ctx *c = ac_scenario_ctx(run);
	if (c->twice_client >= 0)
		ac_scenario_fail(run, "safety: job c%d %d was applied twice",
		                 c->twice_client + 1, c->twice_k);
}

static void walk_check(ac_scenario_run *run, int stop)
{
	walk_ctx *c = ac_scenario_ctx(run);
	int i, k;
	/* A job applied twice in the last step, after which done held. */
	walk_safety(run);
	if (ac_scenario_failed(run))
		return;
	for (i = 0; i < WALK_CLIENTS; i++) {
		if (!c->finished[i]) {
			ac_scenario_fail(run, "liveness: client c%d did not get every ack "
			                 "(run ended: %s)", i + 1,
			                 stop == AC_SIM_DONE ? "done" : stop == AC_SIM_QUIET ?
			                 "nothing left to happen" : "virtual time limit");
			return;
		}
		for (k = 1; k <= WALK_JOBS; k++)
			if (c->applied[i][k] != 1) {
				ac_scenario_fail(run, "liveness: job c%d %d applied %d times",
				                 i + 1, k, c->applied[i][k]);
				return;
			}
	}
}

/* A node's argument: 0 the server, i + 1 client i. */
#define WALK_AT(i) ((void *)(intptr_t)(i))

static const ac_scenario_node walk_nodes[] = {
	{.name = "server", .main = walk_node_main, .arg = WALK_AT(0)},
	{.name = "client1", .main = walk_node_main, .arg = WALK_AT(1)},
	{.name = "client2", .main = walk_node_main, .arg = WALK_AT(2)},
	{.name = NULL},
};

const ac_scenario walk_scenario = {
	.name = "walk",
	.help = "the README walk-through: clients deliver jobs to a queue at least once",
	.profile = "crashes",
	.ctx_size = sizeof(walk_ctx),
	.nodes = walk_nodes,
	.setup = walk_setup,
	.done = walk_done,
	.safety = walk_safety,
	.check = walk_check,
};

AC_SCENARIO_EXPORT(&walk_scenario);
