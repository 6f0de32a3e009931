/* tools/acsim_stop.c: the oracle "no node lost on orderly shutdown", added
 * to a scenario (the mixed one) by a few calls.
 *
 * acsim_stop_setup adds one more node, the leaver, with a program of its
 * own: a node on the scenario's port and secret, listing the scenario's
 * nodes as peers, with two coroutines registered as "stay0" and "stay1"
 * that never end by themselves. Once faults are over (at the later of
 * ACSIM_STOP_AT_NS and five seconds after the world's faults_until_ns, by
 * the leaver's own clock) it stops in order from its main coroutine with
 * ac_sched_terminate: its coroutines end, their exit notices are
 * acknowledged, BYE, flush. acsim_stop_observe, called from each scenario
 * node's program, spawns an observer there that keeps monitoring the
 * leaver's stayers of its current incarnation. From the moment the stop
 * begins (a violation fails the run with ac_scenario_fail, "safety: ..."):
 *
 *   - no observer may hear an exit of a stayer with AC_EXIT_NODE_LOST;
 *   - no other node may log that the leaver was lost (a line "peer ... at
 *     ADDR lost", read through a wrapper of the world's log sink, which
 *     forwards every line: the lines are read at the scenarios' default
 *     log level, AC_LOG_INFO or more verbose);
 *   - the stop completes (the leaver's at-exit hook runs, after the
 *     node's stop) when it was due early enough for the run to see it
 *     (ACSIM_STOP_GRACE_NS before the end given to acsim_stop_check,
 *     which fails the run with "liveness: ..." otherwise).
 *
 * Partitions and crashes before the stop (the fault profile's, which may
 * hit the leaver too) may make nodes lose the leaver: only the orderly
 * stop is judged. Random TCP resets (tcp_close_prob) go on after
 * faults_until_ns and may cut the leaver's connection while it says
 * goodbye, which is a fault, not a lost goodbye: a violation is excused
 * when a reset was delivered in the world since the stop began (counted
 * in excused). With acsim --tls the leaver speaks TLS too (its certificate
 * from ac_scenario_certfile). The state outlives the nodes' crashes; nothing here is
 * thread-safe (one world, one thread).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/dis.h>
#include <asyncoro/scenario.h>

#include "tools/acsim.h"

#define ACSIM_STOP_SEC 1000000000LL
/* The earliest stop, world time (the mixed workload ends at 40 s). */
#define ACSIM_STOP_AT_NS (45 * ACSIM_STOP_SEC)
/* How long a stop may take to be judged complete (stop_timeout_ms 5 s). */
#define ACSIM_STOP_GRACE_NS (15 * ACSIM_STOP_SEC)

enum { STOP_STAYERS = 2, STOP_PEERS_MAX = 8 };

struct acsim_stop {
	ac_scenario_run *run;
	ac_sim *w;
	ac_sim_node *sn;
	/* The leaver's address with the port, "10.0.0.N:PORT". */
	char loc[AC_ADDR_STRLEN];
	char ip[AC_ADDR_STRLEN];
	const char *secret;
	uint16_t port;
	/* --tls's certificate on the leaver's disk, or NULL. */
	const char *certfile;
	/* The scenario's nodes (the leaver's peers). */
	char peers[STOP_PEERS_MAX][AC_ADDR_STRLEN];
	const char *peerv[STOP_PEERS_MAX];
	int npeers;
	/* World time of the stop, and the leaver's clock then. */
	int64_t stop_at_ns;
	int64_t stop_clock;
	/* Set when the leaver begins its stop; set when its wind-down (the
	 * node's stop included) is over. */
	int stopping;
	int stopped;
	/* Exits of stayers the observers heard after the stop began; the
	 * world's TCP resets when it began; violations excused by one. */
	unsigned exits_heard;
	uint64_t resets0;
	unsigned excused;
	/* The world's log sink, forwarded to. */
	ac_log_fn log_fn;
	void *log_arg;
};

static void stop_violate(acsim_stop *st, const char *fmt, ...) AC_PRINTF(2, 3);
static void stop_violate(acsim_stop *st, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	ac_sim_stats ss;
	ac_sim_get_stats(st->w, &ss);
	if (ss.tcp_resets > st->resets0) {
		st->excused++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ac_scenario_fail(st->run, "safety: %s", why);
}

/* The world's log sink, wrapped: lines of other nodes saying the leaver
 * was lost after its stop began. */
static void stop_log(void *arg, int level, const char *text)
{
	acsim_stop *st = arg;
	char lost[AC_ADDR_STRLEN + 16];
	snprintf(lost, sizeof(lost), " at %s lost", st->loc);
	if (st->stopping && strstr(text, "[leaver]") != text &&
	    strstr(text, lost))
		stop_violate(st, "after the leaver's orderly stop began: %s", text);
	if (st->log_fn)
		st->log_fn(st->log_arg, level, text);
}

/* ---- the leaver -------------------------------------------------------------- */

static void stop_stayer(void *arg)
{
	char name[16];
	snprintf(name, sizeof(name), "stay%d", (int)(intptr_t)arg);
	ac_register(name);
	for (;;)
		ac_sleep(60000);
}

/* The at-exit hook: after a crash too, but then the stop had not begun. */
static void stop_done(void *arg)
{
	acsim_stop *st = arg;
	if (st->stopping)
		st->stopped = 1;
}

/* The leaver's main coroutine: wait for the moment, then stop in order. */
static void stop_leave(void *arg)
{
	acsim_stop *st = arg;
	ac_sched *s = ac_sched_self();
	ac_sim_stats ss;
	int64_t left;
	while ((left = st->stop_clock - ac_sched_now_ns(s)) > 0)
		ac_sleep(left / 1000000 + 1);
	ac_sim_get_stats(st->w, &ss);
	st->resets0 = ss.tcp_resets;
	st->stopping = 1;
	ac_sched_terminate(s);
}

static void stop_main(ac_sim_node *sn, void *arg)
{
	acsim_stop *st = arg;
	ac_sched *s = ac_sim_node_sched(sn);
	ac_node_opts o;
	ac_node *node;
	int i;
	ac_node_opts_init(&o);
	o.node = st->ip;
	o.tcp_port = st->port;
	o.broadcast = "10.0.0.255";
	o.secret = st->secret;
	o.heartbeat_ms = 500;
	o.peer_lost_ms = 3000;
	o.peers = st->peerv;
	o.npeers = (size_t)st->npeers;
	if (st->certfile)
		o.certfile = st->certfile;
	if (ac_node_start(s, &o, &node) < 0 || ac_sched_atexit(s, stop_done, st) < 0)
		return;
	for (i = 0; i < STOP_STAYERS; i++)
		ac_spawn(s, stop_stayer, (void *)(intptr_t)i, NULL, NULL);
	ac_spawn(s, stop_leave, st, NULL, NULL);
}

int acsim_stop_setup(ac_scenario_run *run, const char *secret, uint16_t port,
                     acsim_stop **out)
{
	ac_sim *w = ac_scenario_world(run);
	acsim_stop *st = calloc(1, sizeof(*st));
	ac_sim_opts o;
	ac_addr a;
	unsigned i;
	int rc;
	*out = st;
	if (!st)
		return -ENOMEM;
	st->run = run;
	st->w = w;
	st->secret = secret;
	st->port = port;
	for (i = 0; i < ac_sim_nodes(w) && i < STOP_PEERS_MAX; i++) {
		ac_sim_node_addr(ac_sim_node_at(w, i), &a);
		a.port = port;
		ac_addr_format(&a, st->peers[i], sizeof(st->peers[i]));
		st->peerv[i] = st->peers[i];
		st->npeers++;
	}
	rc = ac_sim_node_add(w, "leaver", &st->sn);
	if (rc < 0)
		return rc;
	ac_sim_node_addr(st->sn, &a);
	ac_addr_format_ip(&a, st->ip, sizeof(st->ip));
	a.port = port;
	ac_addr_format(&a, st->loc, sizeof(st->loc));
	ac_sim_get_opts(w, &o);
	st->stop_at_ns = o.faults_until_ns + 5 * ACSIM_STOP_SEC;
	if (st->stop_at_ns < ACSIM_STOP_AT_NS)
		st->stop_at_ns = ACSIM_STOP_AT_NS;
	st->stop_clock = ac_sim_node_clock_at(st->sn, st->stop_at_ns);
	st->log_fn = o.log_fn;
	st->log_arg = o.log_arg;
	ac_sim_set_log(w, stop_log, st);
	rc = ac_sim_node_set_main(st->sn, stop_main, st);
	if (rc == 0)
		st->certfile = ac_scenario_certfile(run, st->sn);
	return rc;
}

/* ---- the observers --------------------------------------------------------------- */

/* Monitor the stayers of the leaver's incarnation we have not yet seen. */
static void stop_watch_new(acsim_stop *st, ac_ref *seen)
{
	ac_addr loc;
	int i;
	if (ac_addr_parse(&loc, st->loc, st->port) < 0)
		return;
	for (i = 0; i < STOP_STAYERS; i++) {
		char name[16];
		ac_ref r;
		snprintf(name, sizeof(name), "stay%d", i);
		if (ac_locate(name, &loc, 500, &r) == 0 && !ac_ref_eq(r, seen[i]) &&
		    ac_monitor(r) == 0)
			seen[i] = r;
	}
}

static void stop_observer(void *arg)
{
	acsim_stop *st = arg;
	ac_ref seen[STOP_STAYERS];
	int i;
	for (i = 0; i < STOP_STAYERS; i++)
		seen[i] = ac_ref_null();
	for (;;) {
		ac_msg *m;
		ac_exit_info ei;
		if (!st->stopping)
			stop_watch_new(st, seen);
		if (ac_receive(1000, &m) < 0)
			continue;
		if (ac_msg_kind(m) == AC_MSG_EXIT && ac_msg_exit(m, &ei) == 0 &&
		    st->stopping) {
			st->exits_heard++;
			if (ei.how == AC_EXIT_NODE_LOST)
				stop_violate(st, "after the leaver's orderly stop began, "
				             "a monitor of its coroutine heard \"node lost\"");
		}
		ac_msg_free(m);
	}
}

void acsim_stop_observe(acsim_stop *st, ac_sched *s)
{
	ac_spawn_opts d = {.name = "stop-observer", .daemon = 1};
	if (st)
		ac_spawn(s, stop_observer, st, &d, NULL);
}

/* ---- the verdict ---------------------------------------------------------------- */

void acsim_stop_check(acsim_stop *st, int64_t end_ns)
{
	if (st && st->stop_at_ns + ACSIM_STOP_GRACE_NS <= end_ns && !st->stopped)
		ac_scenario_fail(st->run, "liveness: the leaver's orderly stop did not "
		                 "complete (began: %s)", st->stopping ? "yes" : "no");
}

void acsim_stop_free(acsim_stop *st)
{
	free(st);
}
