/* sim/scenario_main.c: the runner's command line (ac_scenario_main, and
 * acsim's main through ac__scenario_main_hooks): options, --load of
 * scenarios from shared objects, --list, and the sweep — one line per
 * failing seed (or per seed: one seed, --verbose), progress with seeds per
 * second on standard error, the reproduce command of a failing seed, and
 * the "N passed, M failed" total.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/scenario.h"

static double scen_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The program's name for messages: argv[0] without its directory. */
static const char *scen_base(const char *prog)
{
	const char *s = strrchr(prog, '/');
	return s ? s + 1 : prog;
}

static void scen_usage(FILE *f, const char *prog, const ac__scen_list *l)
{
	size_t i;
	fprintf(f,
	        "usage: %s --scenario NAME (--seed N | --seeds A..B) [options]\n"
	        "Runs a scenario in the simulated world (one thread, virtual time,\n"
	        "faults drawn from the seed) and checks its oracles.\n\n"
	        "  --scenario NAME     which workload (see below)\n"
	        "  --seed N            one seed; prints its trace hash\n"
	        "  --seeds A..B        a sweep; stops at the first failing seed\n"
	        "  --load PATH         add the scenarios of a shared object (its\n"
	        "                      ac_scenario_table_v1: AC_SCENARIO_EXPORT)\n"
	        "  --profile NAME      fault profile (default: the scenario's)\n"
	        "  --swarm             draw the fault knobs themselves from the seed\n"
	        "  --buggify           enable BUGGIFY fault points\n"
	        "  --loss P            UDP loss probability\n"
	        "  --faults-for S      faults only in the first S virtual seconds "
	        "(default 20)\n"
	        "  --max-time S        bound on virtual time (default 300)\n"
	        "  --max-steps N       step budget per run (default 20000000)\n"
	        "  --timeout S         wall-clock bound per seed (default 600; 0: none)\n"
	        "  --trace FILE        write the event log (one seed)\n"
	        "  --record DIR        record every node incarnation of every seed\n"
	        "                      (DIR/seed-N/NODE.INC.acrec; acpcap reads them;\n"
	        "                      acsim adds each one's NODE.INC.pcap) and the\n"
	        "                      network (DIR/seed-N/network.pcapng)\n"
	        "  --replay RECORD     replay one node incarnation's record alone (the\n"
	        "                      run's other options come from the record); a\n"
	        "                      divergence exits 3\n"
	        "  --until EVENT       with --replay: stop at event EVENT (exit 4)\n"
	        "  --check-determinism run every seed twice, compare hashes\n"
	        "  --fork              run each seed in a child process (a crash fails\n"
	        "                      the seed, and the sweep goes on with --keep-going)\n"
	        "  --keep-going        do not stop at a failing seed\n"
	        "  --tls               nodes talk TLS (scenarios that use\n"
	        "                      ac_scenario_certfile: mixed)\n"
	        "  --verbose, -v       one line per seed\n"
	        "  --logs              the nodes' logs to standard error\n"
	        "  --list              list scenarios and profiles\n"
	        "  --help              this text\n\nScenarios:\n",
	        prog);
	for (i = 0; i < l->n; i++) {
		const ac_scenario *sc = l->v[i].sc;
		fprintf(f, "  %-16s %s (profile %s)\n", sc->name, sc->help ? sc->help : "",
		        sc->profile ? sc->profile : "clean");
	}
	fprintf(f, "Profiles:\n");
	ac__scen_profiles(f);
}

static int scen_seeds(const char *s, uint64_t *lo, uint64_t *hi)
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

const ac__scen_entry *ac__scen_find(const ac__scen_list *l, const char *name)
{
	size_t i;
	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].sc->name, name))
			return &l->v[i];
	return NULL;
}

void ac__scen_list_free(ac__scen_list *l)
{
	size_t i;
	for (i = 0; i < l->nhandles; i++)
		dlclose(l->handles[i]);
	free(l->handles);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Put sc into l (replacing the entry of its name). 0 or -ENOMEM. */
static int scen_list_put(ac__scen_list *l, const ac_scenario *sc, const char *from)
{
	ac__scen_entry *v;
	size_t i;
	for (i = 0; i < l->n; i++) {
		if (!strcmp(l->v[i].sc->name, sc->name)) {
			l->v[i].sc = sc;
			l->v[i].from = from;
			return 0;
		}
	}
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	l->v[l->n].sc = sc;
	l->v[l->n++].from = from;
	return 0;
}

/* A usable name: letters, digits, '-', '_', '.'; 1..63 bytes. */
static int scen_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n < 64 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                                    "0123456789-_.") == n;
}

/* --load path: its scenarios join l. 0, or 2 after a message. */
static int scen_load(ac__scen_list *l, const char *path, const char *prog)
{
	const ac_scenario *const *t;
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL), **hs;
	size_t i;
	if (!dl) {
		fprintf(stderr, "%s: cannot load %s: %s\n", prog, path, dlerror());
		return 2;
	}
	hs = realloc(l->handles, (l->nhandles + 1) * sizeof(*hs));
	if (!hs) {
		dlclose(dl);
		fprintf(stderr, "%s: out of memory\n", prog);
		return 2;
	}
	l->handles = hs;
	l->handles[l->nhandles++] = dl;
	t = dlsym(dl, AC_SCENARIO_SYMBOL);
	if (!t || !t[0]) {
		fprintf(stderr, "%s: %s has no scenarios: %s (define it with "
		        "AC_SCENARIO_EXPORT, asyncoro/scenario.h)\n", prog, path,
		        t ? "its " AC_SCENARIO_SYMBOL " is empty"
		          : "it does not export " AC_SCENARIO_SYMBOL);
		return 2;
	}
	for (i = 0; t[i]; i++) {
		if (!scen_name_ok(t[i]->name)) {
			fprintf(stderr, "%s: %s: scenario %zu has no usable name (1..63 letters, "
			        "digits, '-', '_', '.')\n", prog, path, i);
			return 2;
		}
		if (scen_list_put(l, t[i], path) < 0) {
			fprintf(stderr, "%s: out of memory\n", prog);
			return 2;
		}
	}
	return 0;
}

static const struct option scen_longopts[] = {
	{"scenario", required_argument, NULL, 'S'},
	{"seed", required_argument, NULL, 's'},
	{"seeds", required_argument, NULL, 'R'},
	{"load", required_argument, NULL, 'D'},
	{"profile", required_argument, NULL, 'p'},
	{"swarm", no_argument, NULL, 'w'},
	{"buggify", no_argument, NULL, 'b'},
	{"loss", required_argument, NULL, 'l'},
	{"faults-for", required_argument, NULL, 'f'},
	{"max-time", required_argument, NULL, 'm'},
	{"max-steps", required_argument, NULL, 'x'},
	{"timeout", required_argument, NULL, 'o'},
	{"trace", required_argument, NULL, 't'},
	{"record", required_argument, NULL, 'r'},
	{"replay", required_argument, NULL, 'P'},
	{"until", required_argument, NULL, 'U'},
	{"check-determinism", no_argument, NULL, 'd'},
	{"fork", no_argument, NULL, 'F'},
	{"keep-going", no_argument, NULL, 'k'},
	{"tls", no_argument, NULL, 'T'},
	{"verbose", no_argument, NULL, 'v'},
	{"logs", no_argument, NULL, 'g'},
	{"list", no_argument, NULL, 'L'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0}};

/* One option into a. 0, 1 (--list/--help), or 2 after a message. */
static int scen_opt(int ch, ac__scen_args *a, ac__scen_list *l, const char *prog,
                    int *have_seed)
{
	char *end;
	switch (ch) {
	case 'S': a->scenario = optarg; break;
	case 's':
	case 'R':
		if (scen_seeds(optarg, &a->seed_lo, &a->seed_hi) < 0) {
			fprintf(stderr, "%s: bad seed range '%s'\n", prog, optarg);
			return 2;
		}
		*have_seed = 1;
		break;
	case 'D': return scen_load(l, optarg, prog);
	case 'p': a->profile = optarg; break;
	case 'w': a->swarm = 1; break;
	case 'b': a->buggify = 1; break;
	case 'l': a->loss = atof(optarg); a->loss_set = 1; break;
	case 'f': a->faults_s = atof(optarg); break;
	case 'm': a->max_s = atof(optarg); break;
	case 'x':
		a->max_steps = strtoull(optarg, &end, 10);
		if (end == optarg || *end || a->max_steps == 0) {
			fprintf(stderr, "%s: bad step budget '%s'\n", prog, optarg);
			return 2;
		}
		break;
	case 'o':
		a->timeout_s = strtod(optarg, &end);
		if (end == optarg || *end || !(a->timeout_s >= 0) || a->timeout_s > 1e6) {
			fprintf(stderr, "%s: bad timeout '%s'\n", prog, optarg);
			return 2;
		}
		break;
	case 't': a->trace = optarg; break;
	case 'r': a->record = optarg; break;
	case 'P': a->replay = optarg; break;
	case 'U': a->until = optarg; break;
	case 'd': a->determinism = 1; break;
	case 'F': a->fork = 1; break;
	case 'k': a->keep_going = 1; break;
	case 'T': a->tls = 1; break;
	case 'v': a->verbose = 1; break;
	case 'g': a->logs = 1; break;
	case 'L':
	case 'h': return 1;
	default: return 3;
	}
	return 0;
}

int ac__scen_parse(int argc, char **argv, const ac_scenario *const *builtin,
                   const char *prog, ac__scen_args *a, ac__scen_list *l)
{
	int ch, rc = 0, list = 0, have_seed = 0;
	size_t i;
	memset(l, 0, sizeof(*l));
	ac__scen_args_init(a);
	for (i = 0; builtin && builtin[i]; i++) {
		if (!scen_name_ok(builtin[i]->name)) {
			fprintf(stderr, "%s: scenario %zu of the program has no usable name (1..63 "
			        "letters, digits, '-', '_', '.')\n", prog, i);
			return 2;
		}
		if (scen_list_put(l, builtin[i], NULL) < 0)
			return 2;
	}
	optind = 0; /* getopt starts afresh (a replay parses twice) */
	while (rc == 0 && (ch = getopt_long(argc, argv, "v", scen_longopts, NULL)) != -1) {
		rc = scen_opt(ch, a, l, prog, &have_seed);
		if (rc == 1)
			list = 1, rc = 0;
	}
	if (rc == 0 && list) {
		scen_usage(stdout, prog, l);
		return 1;
	}
	if (rc == 2)
		return 2;
	if (rc == 0 && a->replay && optind == argc &&
	    (!a->until || strspn(a->until, "0123456789") == strlen(a->until)))
		return 0;
	if (rc != 0 || !a->scenario || !have_seed || optind != argc || a->max_s <= 0 ||
	    a->faults_s < 0 || a->faults_s >= a->max_s) {
		scen_usage(stderr, prog, l);
		return 2;
	}
	return 0;
}

/* An unknown scenario: the message names the known ones. */
static void scen_unknown(const char *prog, const char *name, const ac__scen_list *l)
{
	size_t i;
	fprintf(stderr, "%s: unknown scenario '%s'; known:", prog, name);
	for (i = 0; i < l->n; i++)
		fprintf(stderr, " %s", l->v[i].sc->name);
	fprintf(stderr, "%s\n", l->n ? "" : " none");
}

/* The seed's line: always for one seed, --verbose or a failure. */
static void scen_report(uint64_t seed, const ac__scen_result *r)
{
	printf("seed %" PRIu64 ": %s hash %016" PRIx64 " (%.1f virtual s, %" PRIu64
	       " steps)%s%s\n", seed, r->ok ? "ok" : "FAILED", r->hash,
	       (double)r->sim_ns / 1e9, r->steps, r->ok ? "" : ": ", r->ok ? "" : r->why);
}

/* Seeds lo..hi of e; returns the exit status. */
static int scen_sweep(const ac__scen_args *a, const ac__scen_entry *e, const char *prog,
                      FILE *trace, const ac__scen_hooks *h)
{
	uint64_t seed, n = 0, failed = 0, total = a->seed_hi - a->seed_lo + 1;
	double t0 = scen_wall(), last = t0;
	char repro[1100];
	int shown = 0; /* a progress line is on standard error, unended */
	for (seed = a->seed_lo; seed <= a->seed_hi; seed++, n++) {
		ac__scen_result r;
		int rc;
		ac__scen_repro(repro, sizeof(repro), prog, e->from, a, seed);
		fflush(stdout);
		ac__scen_catch_set(seed, a->fork ? NULL : repro, a->timeout_s);
		rc = ac__scen_run_seed(a, e->sc, seed, seed == a->seed_lo ? trace : NULL, h, &r);
		ac__scen_catch_set(seed, NULL, 0);
		if (rc < 0) {
			fprintf(stderr, "%s: %s\n", scen_base(prog), rc == -EINVAL
			        ? "bad options for the simulator" : ac_strerror(rc));
			return 2;
		}
		if ((total == 1 || a->verbose || !r.ok) && shown) {
			fprintf(stderr, "\n");
			shown = 0;
		}
		if (total == 1 || a->verbose || !r.ok)
			scen_report(seed, &r);
		if (!r.ok) {
			printf("reproduce: %s\n", repro);
			fflush(stdout);
			failed++;
			if (!a->keep_going) {
				printf("%" PRIu64 " passed, 1 failed\n", n);
				return 1;
			}
		}
		if (total > 1 && !a->verbose && scen_wall() - last > 1.0) {
			last = scen_wall();
			fprintf(stderr, "\r%s %s: %" PRIu64 "/%" PRIu64 " seeds, %" PRIu64
			        " failed (%.0f s, %.0f seeds/s)", scen_base(prog), e->sc->name,
			        n + 1, total, failed, last - t0, (double)(n + 1) / (last - t0));
			shown = 1;
		}
	}
	if (shown)
		fprintf(stderr, "\n");
	printf("%" PRIu64 " passed, %" PRIu64 " failed\n", total - failed, failed);
	return failed ? 1 : 0;
}

int ac__scenario_main_hooks(int argc, char **argv, const ac_scenario *const *scenarios,
                            const ac__scen_hooks *h)
{
	const char *prog = argc > 0 && argv[0] ? argv[0] : "ac_scenario_main";
	const char *base = scen_base(prog);
	const ac__scen_entry *e;
	ac__scen_args a;
	ac__scen_list l;
	FILE *trace = NULL;
	int rc = ac__scen_parse(argc, argv, scenarios, base, &a, &l);
	if (rc == 0 && a.replay) {
		ac__scen_list_free(&l);
		return ac__scen_replay(a.replay, a.until, scenarios, base, h);
	}
	if (rc != 0) {
		ac__scen_list_free(&l);
		return rc == 1 ? 0 : 2;
	}
	e = ac__scen_find(&l, a.scenario);
	if (!e) {
		scen_unknown(base, a.scenario, &l);
		rc = 2;
	} else if (a.profile && ac__scen_profile(a.profile, &(ac_sim_opts){0}) < 0) {
		fprintf(stderr, "%s: unknown profile '%s' (known: clean, lossy, partitions, "
		        "crashes)\n", base, a.profile);
		rc = 2;
	} else if (a.trace && !(trace = fopen(a.trace, "w"))) {
		fprintf(stderr, "%s: %s: %s\n", base, a.trace, strerror(errno));
		rc = 2;
	} else {
		rc = scen_sweep(&a, e, prog, trace, h);
	}
	if (trace)
		fclose(trace);
	fflush(stdout);
	ac__scen_list_free(&l);
	return rc;
}

int ac_scenario_main(int argc, char **argv, const ac_scenario *const *scenarios)
{
	return ac__scenario_main_hooks(argc, argv, scenarios, NULL);
}
