/* tools/acsim.c: the seed runner. Runs a named scenario — a workload plus a
 * fault profile — in the simulated world for one seed or a sweep of seeds,
 * checks the scenario's oracles (safety during the run, liveness after the
 * faults stop), prints each run's trace hash, and on the first failing seed
 * prints the one command that reproduces it.
 *
 *   acsim --list
 *   acsim --scenario echo --seed 7 [--trace FILE]
 *   acsim --scenario chat --seeds 1..200 --profile crashes
 *   acsim --scenario echo --seeds 1..50 --swarm --check-determinism
 *   acsim --scenario mixed --seed 7 --record DIR    (then, one node alone:)
 *   acsim --replay DIR/seed-7/node0.1.acrec [--until EVENT]
 *
 * Scenarios live in tools/acsim_scenarios.c; each one builds its nodes in a
 * fresh world, says when it is done, and checks its invariants.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <asyncoro/sim.h>

#include "tools/acpcap_file.h"
#include "tools/acsim.h"

typedef struct acsim_args {
	const char *scenario;
	const char *profile;
	uint64_t seed_lo;
	uint64_t seed_hi;
	const char *trace;
	const char *record;
	const char *replay;
	const char *until;
	int swarm;
	int buggify;
	int determinism;
	int verbose;
	int logs;
	double loss;
	int loss_set;
	double faults_s;
	double max_s;
} acsim_args;

static double acsim_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- fault profiles ------------------------------------------------------------ */

static const struct {
	const char *name;
	const char *help;
} acsim_profiles[] = {
	{"clean", "latency only"},
	{"lossy", "UDP loss/dup/reorder, jitter, partial reads and writes, clogs"},
	{"partitions", "lossy + partitions (symmetric and one-way) and pauses"},
	{"crashes", "partitions + node crashes with restart, random TCP resets"},
};

static int acsim_profile(const char *name, ac_sim_opts *o)
{
	int level = -1;
	size_t i;
	for (i = 0; i < sizeof(acsim_profiles) / sizeof(acsim_profiles[0]); i++)
		if (!strcmp(name, acsim_profiles[i].name))
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

/* ---- one run --------------------------------------------------------------------- */

typedef struct acsim_result {
	int ok;
	uint64_t hash;
	int64_t sim_ns;
	uint64_t steps;
	char why[512];
} acsim_result;

/* Node logs go to the trace file (--trace), standard error (--logs), or
 * nowhere. */
static void acsim_log(void *arg, int level, const char *text)
{
	static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	if (arg)
		fprintf(arg, "log %s %s\n", names[level & 3], text);
}

static int acsim_opts(const acsim_args *a, const acsim_scenario *sc,
                      uint64_t seed, ac_sim_opts *o)
{
	ac_sim_opts_init(o);
	o->seed = seed;
	if (acsim_profile(a->profile ? a->profile : sc->profile, o) < 0)
		return -EINVAL;
	o->faults_until_ns = (int64_t)(a->faults_s * 1e9);
	o->max_time_ns = (int64_t)(a->max_s * 1e9);
	o->swarm = a->swarm;
	o->buggify = a->buggify;
	if (a->loss_set)
		o->udp_loss = a->loss;
	return 0;
}

/* --record: the directory of one seed's records (made if need be); NULL
 * when not recording. */
static const char *acsim_record_dir(const acsim_args *a, uint64_t seed,
                                    char *buf, size_t len)
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

/* --record: next to each NODE.INC.acrec of dir, NODE.INC.pcap — what
 * `acpcap pcap` makes of it. Records end when the world is freed, so this
 * runs after. Errors are lines on standard error (the run stands). */
static void acsim_pcaps(const char *dir)
{
	char rec[2048], out[2048], err[600];
	struct dirent *d;
	DIR *dp = opendir(dir);
	size_t n;

	if (dp == NULL) {
		fprintf(stderr, "acsim: %s: %s\n", dir, strerror(errno));
		return;
	}
	while ((d = readdir(dp)) != NULL) {
		n = strlen(d->d_name);
		if (n <= 6 || strcmp(d->d_name + n - 6, ".acrec") != 0)
			continue;
		snprintf(rec, sizeof(rec), "%s/%s", dir, d->d_name);
		snprintf(out, sizeof(out), "%s/%.*s.pcap", dir, (int)(n - 6), d->d_name);
		if (acp_file_pcap(rec, out, err, sizeof(err)) < 0)
			fprintf(stderr, "acsim: %s: %s\n", rec, err);
	}
	closedir(dp);
}

static int acsim_run_one(const acsim_args *a, const acsim_scenario *sc,
                         uint64_t seed, FILE *trace, acsim_result *res)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_stats st;
	void *ctx = NULL;
	char dir[1024];
	int rc, stop;
	memset(res, 0, sizeof(*res));
	if (acsim_opts(a, sc, seed, &o) < 0)
		return -EINVAL;
	o.record_dir = acsim_record_dir(a, seed, dir, sizeof(dir));
	o.log_fn = acsim_log;
	o.log_arg = a->logs ? stderr : trace;
	rc = ac_sim_new(&o, &w);
	if (rc < 0)
		return rc;
	if (trace) {
		ac_sim_describe(w, trace);
		ac_sim_trace_file(w, trace);
	}
	rc = sc->setup(w, &ctx);
	if (rc < 0) {
		snprintf(res->why, sizeof(res->why), "setup failed: %s",
		         ac_strerror(rc));
		ac_sim_free(w);
		return 0;
	}
	stop = ac_sim_run(w, sc->done, ctx);
	res->sim_ns = ac_sim_now_ns(w);
	if (stop < 0)
		snprintf(res->why, sizeof(res->why), "run failed: %s",
		         ac_strerror(stop));
	else
		res->ok = sc->check(w, ctx, stop, res->why, sizeof(res->why)) == 0;
	if (stop < 0)
		res->ok = 0;
	res->hash = ac_sim_trace_hash(w);
	ac_sim_get_stats(w, &st);
	res->steps = st.steps;
	if (trace)
		ac_sim_trace_file(w, NULL);
	ac_sim_free(w);
	sc->free(ctx);
	if (o.record_dir)
		acsim_pcaps(o.record_dir);
	return 0;
}

/* ---- the command line ---------------------------------------------------------------- */

static void acsim_usage(FILE *f)
{
	size_t i;
	fprintf(f,
	        "usage: acsim --scenario NAME (--seed N | --seeds A..B) [options]\n"
	        "Runs a scenario in the simulated world (one thread, virtual time,\n"
	        "faults drawn from the seed) and checks its oracles.\n\n"
	        "  --scenario NAME     which workload (see below)\n"
	        "  --seed N            one seed; prints its trace hash\n"
	        "  --seeds A..B        a sweep; stops at the first failing seed\n"
	        "  --profile NAME      fault profile (default: the scenario's)\n"
	        "  --swarm             draw the fault knobs themselves from the seed\n"
	        "  --buggify           enable BUGGIFY fault points\n"
	        "  --loss P            UDP loss probability\n"
	        "  --faults-for S      faults only in the first S virtual seconds "
	        "(default 20)\n"
	        "  --max-time S        bound on virtual time (default 300)\n"
	        "  --trace FILE        write the event log (one seed)\n"
	        "  --record DIR        record every node incarnation of every seed\n"
	        "                      (DIR/seed-N/NODE.INC.acrec; acpcap reads them),\n"
	        "                      its pcap (NODE.INC.pcap, as acpcap pcap makes it)\n"
	        "                      and the network (DIR/seed-N/network.pcapng)\n"
	        "  --replay RECORD     replay one node incarnation's record alone (the\n"
	        "                      run's other options come from the record); a\n"
	        "                      divergence (exit 3) names its pcap frame\n"
	        "  --until EVENT       with --replay: stop at event EVENT (exit 4)\n"
	        "  --check-determinism run every seed twice, compare hashes\n"
	        "  --tls               nodes talk TLS (scenarios: mixed)\n"
	        "  --verbose           one line per seed\n"
	        "  --logs              the nodes' logs to standard error\n"
	        "  --list              list scenarios and profiles\n"
	        "  --help              this text\n\nScenarios:\n");
	for (i = 0; acsim_scenarios[i].name; i++)
		fprintf(f, "  %-16s %s (profile %s)\n", acsim_scenarios[i].name,
		        acsim_scenarios[i].help, acsim_scenarios[i].profile);
	fprintf(f, "Profiles:\n");
	for (i = 0; i < sizeof(acsim_profiles) / sizeof(acsim_profiles[0]); i++)
		fprintf(f, "  %-16s %s\n", acsim_profiles[i].name,
		        acsim_profiles[i].help);
}

static int acsim_seeds(const char *s, uint64_t *lo, uint64_t *hi)
{
	char *end;
	*lo = strtoull(s, &end, 10);
	if (end == s)
		return -EINVAL;
	if (*end == '\0') {
		*hi = *lo;
		return 0;
	}
	if (strncmp(end, "..", 2) != 0)
		return -EINVAL;
	s = end + 2;
	*hi = strtoull(s, &end, 10);
	if (end == s || *end || *hi < *lo)
		return -EINVAL;
	return 0;
}

static void acsim_parse(int argc, char **argv, acsim_args *a)
{
	static const struct option lo[] = {
		{"scenario", required_argument, NULL, 'S'},
		{"seed", required_argument, NULL, 's'},
		{"seeds", required_argument, NULL, 'R'},
		{"profile", required_argument, NULL, 'p'},
		{"swarm", no_argument, NULL, 'w'},
		{"buggify", no_argument, NULL, 'b'},
		{"loss", required_argument, NULL, 'l'},
		{"faults-for", required_argument, NULL, 'f'},
		{"max-time", required_argument, NULL, 'm'},
		{"trace", required_argument, NULL, 't'},
		{"record", required_argument, NULL, 'r'},
		{"replay", required_argument, NULL, 'P'},
		{"until", required_argument, NULL, 'U'},
		{"check-determinism", no_argument, NULL, 'd'},
		{"tls", no_argument, NULL, 'T'},
		{"verbose", no_argument, NULL, 'v'},
		{"logs", no_argument, NULL, 'g'},
		{"list", no_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int ch, have_seed = 0;
	memset(a, 0, sizeof(*a));
	a->faults_s = 20;
	a->max_s = 300;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'S': a->scenario = optarg; break;
		case 's':
		case 'R':
			if (acsim_seeds(optarg, &a->seed_lo, &a->seed_hi) < 0) {
				fprintf(stderr, "acsim: bad seed range '%s'\n", optarg);
				exit(2);
			}
			have_seed = 1;
			break;
		case 'p': a->profile = optarg; break;
		case 'w': a->swarm = 1; break;
		case 'b': a->buggify = 1; break;
		case 'l': a->loss = atof(optarg); a->loss_set = 1; break;
		case 'f': a->faults_s = atof(optarg); break;
		case 'm': a->max_s = atof(optarg); break;
		case 't': a->trace = optarg; break;
		case 'r': a->record = optarg; break;
		case 'P': a->replay = optarg; break;
		case 'U': a->until = optarg; break;
		case 'd': a->determinism = 1; break;
		case 'T': acsim_tls = 1; break;
		case 'v': a->verbose = 1; break;
		case 'g': a->logs = 1; break;
		case 'L':
		case 'h': acsim_usage(stdout); exit(0);
		default: acsim_usage(stderr); exit(2);
		}
	}
	if (a->replay && optind == argc && (!a->until || strspn(a->until, "0123456789") ==
	                                    strlen(a->until)))
		return;
	if (!a->scenario || !have_seed || optind != argc || a->max_s <= 0 ||
	    a->faults_s < 0 || a->faults_s >= a->max_s) {
		acsim_usage(stderr);
		exit(2);
	}
}

static const acsim_scenario *acsim_find(const char *name)
{
	size_t i;
	for (i = 0; acsim_scenarios[i].name; i++)
		if (!strcmp(acsim_scenarios[i].name, name))
			return &acsim_scenarios[i];
	return NULL;
}

/* The command that reproduces one seed. */
static void acsim_repro(const acsim_args *a, uint64_t seed)
{
	printf("reproduce: acsim --scenario %s --seed %" PRIu64, a->scenario, seed);
	if (a->profile)
		printf(" --profile %s", a->profile);
	if (a->swarm)
		printf(" --swarm");
	if (acsim_tls)
		printf(" --tls");
	if (a->buggify)
		printf(" --buggify");
	if (a->loss_set)
		printf(" --loss %g", a->loss);
	printf(" --faults-for %g --max-time %g --trace trace.txt\n", a->faults_s,
	       a->max_s);
}

/* --replay: one node incarnation of a recorded run, alone, from its
 * record; the run's options are the recorded command line's. Returns the
 * exit status (a divergence exits 3 from inside the replay). */
static int acsim_replay(const char *path, const char *until)
{
	acsim_rec_info info;
	acsim_args ra;
	const acsim_scenario *sc;
	ac_sim_node *n = NULL;
	ac_sim_opts o;
	ac_sim *w;
	void *ctx = NULL;
	char err[600];
	unsigned i;
	int rc = acsim_rec_info_read(path, &info, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "acsim: %s\n", err);
		acsim_rec_info_free(&info);
		return 2;
	}
	optind = 0; /* getopt starts afresh on the recorded command line */
	acsim_parse(info.argc, info.argv, &ra);
	sc = ra.scenario ? acsim_find(ra.scenario) : NULL;
	if (!sc || ra.replay || acsim_opts(&ra, sc, info.seed, &o) < 0) {
		fprintf(stderr, "acsim: %s: the recorded command line is not a run of a known "
		        "scenario\n", path);
		acsim_rec_info_free(&info);
		return 2;
	}
	o.log_fn = acsim_log;
	o.log_arg = stderr;
	rc = ac_sim_new(&o, &w);
	if (rc == 0 && (rc = sc->setup(w, &ctx)) == 0)
		for (i = 0; i < ac_sim_nodes(w); i++)
			if (!strcmp(ac_sim_node_name(ac_sim_node_at(w, i)), info.node))
				n = ac_sim_node_at(w, i);
	if (rc == 0 && !n)
		rc = -ENOENT;
	printf("replay %s: node %s, incarnation %" PRIu64 ", seed %" PRIu64 " of scenario %s\n",
	       path, info.node, info.inc, info.seed, sc->name);
	fflush(stdout);
	unsetenv("AC_RECORD");
	if (until)
		setenv("AC_REPLAY_UNTIL", until, 1);
	else
		unsetenv("AC_REPLAY_UNTIL");
	if (rc == 0)
		rc = ac_sim_node_replay(n, info.inc, path);
	if (rc < 0)
		fprintf(stderr, "acsim: %s: cannot replay: %s\n", path, ac_strerror(rc));
	else
		printf("replay %s: no divergence\n", path);
	ac_sim_free(w);
	sc->free(ctx);
	acsim_rec_info_free(&info);
	return rc < 0 ? 2 : 0;
}

/* --replay in a child, so that after a divergence (the child's exit 3)
 * the pcap frame of the event is named. Returns the child's status. */
static int acsim_replay_child(const char *path, const char *until)
{
	int wfd = -1, rfd = acp_replay_report_open(&wfd);
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (rfd >= 0)
			close(rfd);
		exit(acsim_replay(path, until));
	}
	if (wfd >= 0)
		close(wfd);
	if (pid < 0) {
		fprintf(stderr, "acsim: fork: %s\n", strerror(errno));
		if (rfd >= 0)
			close(rfd);
		return 2;
	}
	return acp_replay_report_wait(pid, rfd, path);
}

int main(int argc, char **argv)
{
	acsim_args a;
	const acsim_scenario *sc;
	FILE *trace = NULL;
	uint64_t seed, n = 0, total;
	double t0 = acsim_wall(), last = t0;
	acsim_parse(argc, argv, &a);
	if (a.replay)
		return acsim_replay_child(a.replay, a.until);
	sc = acsim_find(a.scenario);
	if (!sc) {
		fprintf(stderr, "acsim: unknown scenario '%s' (see --list)\n",
		        a.scenario);
		return 2;
	}
	if (a.trace && !(trace = fopen(a.trace, "w"))) {
		fprintf(stderr, "acsim: %s: %s\n", a.trace, strerror(errno));
		return 2;
	}
	total = a.seed_hi - a.seed_lo + 1;
	for (seed = a.seed_lo; seed <= a.seed_hi; seed++, n++) {
		acsim_result r, r2;
		if (acsim_run_one(&a, sc, seed, seed == a.seed_lo ? trace : NULL,
		                  &r) < 0) {
			fprintf(stderr, "acsim: bad options for the simulator\n");
			return 2;
		}
		if (r.ok && a.determinism) {
			acsim_run_one(&a, sc, seed, NULL, &r2);
			if (r2.hash != r.hash) {
				r.ok = 0;
				snprintf(r.why, sizeof(r.why),
				         "not deterministic: hash %016" PRIx64 " then %016" PRIx64,
				         r.hash, r2.hash);
			}
		}
		if (total == 1 || a.verbose || !r.ok)
			printf("seed %" PRIu64 ": %s hash %016" PRIx64
			       " (%.1f virtual s, %" PRIu64 " steps)%s%s\n",
			       seed, r.ok ? "ok" : "FAILED", r.hash, (double)r.sim_ns / 1e9,
			       r.steps, r.ok ? "" : ": ", r.ok ? "" : r.why);
		if (!r.ok) {
			acsim_repro(&a, seed);
			printf("%" PRIu64 " passed, 1 failed\n", n);
			return 1;
		}
		if (total > 1 && !a.verbose && acsim_wall() - last > 1.0) {
			last = acsim_wall();
			fprintf(stderr, "\racsim %s: %" PRIu64 "/%" PRIu64 " seeds ok (%.0f s)",
			        sc->name, n + 1, total, last - t0);
		}
	}
	if (total > 1 && !a.verbose)
		fprintf(stderr, "\n");
	if (trace)
		fclose(trace);
	printf("%" PRIu64 " passed, 0 failed\n", total);
	return 0;
}
