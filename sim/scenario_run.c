/* sim/scenario_run.c: one run of a scenario (asyncoro/scenario.h) — the
 * fault profiles, the world made from the options, the declared nodes with
 * their programs, the per-run context, the oracles and ac_scenario_fail —
 * and one seed of a sweep (a second run for --check-determinism; a forked
 * child with --fork). The command line is sim/scenario_main.c's.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim/scenario.h"

/* The run in progress on this thread (ac_scenario_current). */
static _Thread_local ac_scenario_run *scen_current;

void *ac_scenario_ctx(ac_scenario_run *run)
{
	return run->ctx;
}

ac_sim *ac_scenario_world(ac_scenario_run *run)
{
	return run->w;
}

uint64_t ac_scenario_seed(const ac_scenario_run *run)
{
	return run->seed;
}

ac_scenario_run *ac_scenario_current(void)
{
	return scen_current;
}

void ac_scenario_fail(ac_scenario_run *run, const char *fmt, ...)
{
	va_list ap;
	if (run->failed)
		return;
	run->failed = 1;
	va_start(ap, fmt);
	vsnprintf(run->why, sizeof(run->why), fmt, ap);
	va_end(ap);
}

int ac_scenario_failed(const ac_scenario_run *run)
{
	return run->failed;
}

/* ---- fault profiles --------------------------------------------------------------- */

static const struct {
	const char *name;
	const char *help;
} scen_profiles[] = {
	{"clean", "latency only"},
	{"lossy", "UDP loss/dup/reorder, jitter, partial reads and writes, clogs"},
	{"partitions", "lossy + partitions (symmetric and one-way) and pauses"},
	{"crashes", "partitions + node crashes with restart, random TCP resets"},
};

#define SCEN_NPROFILES (sizeof(scen_profiles) / sizeof(scen_profiles[0]))

void ac__scen_profiles(FILE *f)
{
	size_t i;
	for (i = 0; i < SCEN_NPROFILES; i++)
		fprintf(f, "  %-16s %s\n", scen_profiles[i].name, scen_profiles[i].help);
}

int ac__scen_profile(const char *name, ac_sim_opts *o)
{
	int level = -1;
	size_t i;
	for (i = 0; i < SCEN_NPROFILES; i++)
		if (!strcmp(name, scen_profiles[i].name))
			level = (int)i;
	if (level < 0)
		return -EINVAL;
	o->fault_tick_ns = 500000000;
	if (level >= 1) {
		o->jitter_ns = 200000;
		o->udp_loss = 0.1;
		o->udp_dup = 0.05;
		o->udp_reorder = 0.1;
		o->reorder_delay_ns = 5000000;
		o->partial_prob = 0.2;
		/* Clogs well below the peer-lost timeouts of the scenarios (a
		 * longer silence is a partition: next profile). */
		o->clog_prob = 0.05;
		o->clog_mean_ns = 200000000;
		o->drift_ppm_max = 100;
	}
	if (level >= 2) {
		o->clog_mean_ns = 1000000000;
		o->partition_prob = 0.05;
		o->partition_mode = AC_SIM_PART_RANDOM;
		o->partition_min_ns = 500000000;
		o->partition_max_ns = 5000000000;
		o->pause_prob = 0.02;
		o->pause_max_ns = 1000000000;
	}
	if (level >= 3) {
		o->crash_prob = 0.03;
		o->crash_max_down = 1;
		o->restart_delay_ns = 2000000000;
		o->tcp_close_prob = 0.001;
	}
	return 0;
}

void ac__scen_args_init(ac__scen_args *a)
{
	memset(a, 0, sizeof(*a));
	a->faults_s = AC__SCEN_FAULTS_S;
	a->max_s = AC__SCEN_MAX_S;
	a->max_steps = AC__SCEN_MAX_STEPS;
	a->timeout_s = AC__SCEN_TIMEOUT_S;
}

int ac__scen_opts(const ac__scen_args *a, const ac_scenario *sc, uint64_t seed,
                  ac_sim_opts *o)
{
	const char *p = a->profile ? a->profile : sc->profile;
	ac_sim_opts_init(o);
	if (ac__scen_profile(p ? p : "clean", o) < 0)
		return -EINVAL;
	o->faults_until_ns = (int64_t)(a->faults_s * 1e9);
	o->max_time_ns = (int64_t)(a->max_s * 1e9);
	o->max_steps = a->max_steps;
	o->swarm = a->swarm;
	o->buggify = a->buggify;
	if (a->loss_set)
		o->udp_loss = a->loss;
	if (sc->tune)
		sc->tune(o);
	o->seed = seed;
	return 0;
}

/* ---- one run ------------------------------------------------------------------------ */

/* A declared node starts (or restarts): its program, with the run. */
static void scen_node_main(ac_sim_node *node, void *arg)
{
	ac__scen_node *sn = arg;
	ac_scenario_main_fn fn = sn->decl->main;
	if (ac_sim_node_incarnation(node) > 1 && sn->decl->restart)
		fn = sn->decl->restart;
	ac__scen_catch_arm();
	fn(sn->run, node, sn->decl->arg);
}

/* The declared nodes, in order. 0 or a negative errno (why set). */
static int scen_add_nodes(ac_scenario_run *run)
{
	const ac_scenario_node *d = run->sc->nodes;
	size_t i, n = 0;
	int rc;
	while (d && d[n].name)
		n++;
	if (n == 0)
		return 0;
	run->nodes = calloc(n, sizeof(*run->nodes));
	if (!run->nodes)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		ac_sim_node *sn;
		run->nodes[i].run = run;
		run->nodes[i].decl = &d[i];
		rc = ac_sim_node_add(run->w, d[i].name, &sn);
		if (rc == 0)
			rc = d[i].main ? ac_sim_node_set_main(sn, scen_node_main, &run->nodes[i])
			               : -EINVAL;
		if (rc < 0) {
			snprintf(run->why, sizeof(run->why), "node %zu \"%s\": %s", i,
			         d[i].name, d[i].main ? ac_strerror(rc) : "no main function");
			return rc;
		}
	}
	return 0;
}

int ac__scen_prepare(ac_scenario_run *run, const ac_scenario *sc, const ac_sim_opts *o,
                     int tls, FILE *trace)
{
	int rc;
	memset(run, 0, sizeof(*run));
	run->sc = sc;
	run->seed = o->seed;
	run->tls = tls;
	rc = ac_sim_new(o, &run->w);
	if (rc < 0)
		return rc;
	if (trace) {
		ac_sim_describe(run->w, trace);
		ac_sim_trace_file(run->w, trace);
	}
	scen_current = run;
	if (sc->ctx_size && !(run->ctx = calloc(1, sc->ctx_size))) {
		snprintf(run->why, sizeof(run->why), "setup failed: no memory for the context");
		return -ENOMEM;
	}
	rc = scen_add_nodes(run);
	if (rc == 0 && sc->setup)
		rc = sc->setup(run);
	if (rc < 0) {
		char why[sizeof(run->why)];
		snprintf(why, sizeof(why), "%s", run->why);
		snprintf(run->why, sizeof(run->why), "setup failed: %s%s%.400s", ac_strerror(rc),
		         why[0] ? ": " : "", why);
	}
	return rc;
}

void ac__scen_finish(ac_scenario_run *run)
{
	if (run->w)
		ac_sim_free(run->w);
	run->w = NULL;
	if (run->sc && run->sc->cleanup)
		run->sc->cleanup(run);
	free(run->ctx);
	free(run->nodes);
	run->ctx = NULL;
	run->nodes = NULL;
	scen_current = NULL;
}

/* ac_sim_run's predicate: a failure, done, then the safety oracle. */
static int scen_done(ac_sim *w, void *arg)
{
	ac_scenario_run *run = arg;
	if (run->failed)
		return 1;
	if (run->sc->done ? run->sc->done(run) : ac_sim_all_finished(w, NULL))
		return 1;
	if (run->sc->safety)
		run->sc->safety(run);
	return run->failed;
}

/* Run the prepared world and judge it: the first failure, the step
 * budget, the final check, virtual time, nothing left to happen. */
static void scen_judge(ac_scenario_run *run, const ac_sim_opts *o)
{
	int stop = ac_sim_run(run->w, scen_done, run);
	if (stop < 0)
		ac_scenario_fail(run, "run failed: %s", ac_strerror(stop));
	if (stop == AC_SIM_STEP_LIMIT)
		ac_scenario_fail(run, "no progress: step budget %" PRIu64
		                 " exhausted at seed %" PRIu64 " (virtual time %.3f s)",
		                 o->max_steps, run->seed, (double)ac_sim_now_ns(run->w) / 1e9);
	if (!run->failed && run->sc->check)
		run->sc->check(run, stop);
	if (stop == AC_SIM_TIME_LIMIT)
		ac_scenario_fail(run, "no quiescence: virtual time limit of %g s reached at seed %"
		                 PRIu64, (double)o->max_time_ns / 1e9, run->seed);
	if (stop == AC_SIM_QUIET)
		ac_scenario_fail(run, "stuck: nothing can happen any more and the scenario is "
		                 "not done at seed %" PRIu64 " (virtual time %.3f s)", run->seed,
		                 (double)ac_sim_now_ns(run->w) / 1e9);
}

/* Node logs go to the trace file (--trace), standard error (--logs), or
 * nowhere. */
static void scen_log(void *arg, int level, const char *text)
{
	static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	if (arg)
		fprintf(arg, "log %s %s\n", names[level & 3], text);
}

/* --record: the directory of one seed's records (made if need be); NULL
 * when not recording. */
static const char *scen_record_dir(const ac__scen_args *a, uint64_t seed, char *buf,
                                   size_t len)
{
	size_t i;
	if (!a->record)
		return NULL;
	snprintf(buf, len, "%s/seed-%" PRIu64, a->record, seed);
	for (i = 1; buf[i]; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0'; /* mkdir -p */
		mkdir(buf, 0755);
		buf[i] = '/';
	}
	mkdir(buf, 0755);
	return buf;
}

int ac__scen_run_one(const ac__scen_args *a, const ac_scenario *sc, uint64_t seed,
                     FILE *trace, const ac__scen_hooks *h, ac__scen_result *res)
{
	ac_scenario_run run;
	ac_sim_opts o;
	ac_sim_stats st;
	char dir[1024];
	int rc;
	memset(res, 0, sizeof(*res));
	if (ac__scen_opts(a, sc, seed, &o) < 0)
		return -EINVAL;
	o.record_dir = scen_record_dir(a, seed, dir, sizeof(dir));
	o.log_fn = scen_log;
	o.log_arg = a->logs ? stderr : trace;
	rc = ac__scen_prepare(&run, sc, &o, a->tls, trace);
	if (!run.w)
		return rc;
	if (rc == 0)
		scen_judge(&run, &o);
	else
		run.failed = 1;
	res->ok = !run.failed;
	snprintf(res->why, sizeof(res->why), "%s", run.why);
	if (run.w) {
		res->sim_ns = ac_sim_now_ns(run.w);
		res->hash = ac_sim_trace_hash(run.w);
		ac_sim_get_stats(run.w, &st);
		res->steps = st.steps;
		if (trace)
			ac_sim_trace_file(run.w, NULL);
	}
	ac__scen_finish(&run);
	if (o.record_dir && h && h->recorded)
		h->recorded(o.record_dir);
	return 0;
}
