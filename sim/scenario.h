/* sim/scenario.h: the scenario runner's internals (asyncoro/scenario.h is
 * the public side): a run, the parsed command line, one seed's result, and
 * the hooks through which acsim adds what only it has (the per-node pcaps
 * of --record and the pcap frame of a replay's divergence, both made by
 * tools/acpcap_file.c). Not installed.
 */
#ifndef AC_SIM_SCENARIO_H
#define AC_SIM_SCENARIO_H

#include <stdio.h>

#include <asyncoro/scenario.h>

/* A declared node of a run: what its program trampoline needs. */
typedef struct ac__scen_node {
	ac_scenario_run *run;
	const ac_scenario_node *decl;
} ac__scen_node;

struct ac_scenario_run {
	const ac_scenario *sc;
	ac_sim *w;
	void *ctx;
	uint64_t seed;
	int failed;
	int tls;
	ac__scen_node *nodes;
	char why[512];
};

/* The runner's options (the command line, or ac_scenario_check_opts). */
typedef struct ac__scen_args {
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
	int tls;
	int fork;
	int keep_going;
	double loss;
	int loss_set;
	double faults_s;
	double max_s;
	uint64_t max_steps;
	/* Wall-clock bound of a seed in seconds (0: none). */
	double timeout_s;
} ac__scen_args;

/* Defaults of --faults-for, --max-time and --max-steps. */
#define AC__SCEN_FAULTS_S 20.0
#define AC__SCEN_MAX_S 300.0
#define AC__SCEN_MAX_STEPS 20000000ULL
#define AC__SCEN_TIMEOUT_S 600.0

/* One seed's outcome. */
typedef struct ac__scen_result {
	int ok;
	uint64_t hash;
	int64_t sim_ns;
	uint64_t steps;
	char why[512];
} ac__scen_result;

/* What acsim adds around the runner; any member may be NULL. */
typedef struct ac__scen_hooks {
	/* After a seed recorded into dir, once its world is freed. */
	void (*recorded)(const char *dir);
	/* Run fn(path, until, arg) (a replay that exits 3 on divergence) and
	 * return its exit status; acsim runs it in a child and names the
	 * divergence's pcap frame. NULL: fn runs in this process. */
	int (*replay)(const char *path, const char *until,
	              int (*fn)(const char *path, const char *until, void *arg), void *arg);
} ac__scen_hooks;

/* ac_scenario_main with hooks (h NULL: none). Exported for acsim only. */
__attribute__((visibility("default"))) int
ac__scenario_main_hooks(int argc, char **argv, const ac_scenario *const *scenarios,
                        const ac__scen_hooks *h);

/* Fill a with the defaults (faults 20 s, time 300 s, steps 2*10^7). */
void ac__scen_args_init(ac__scen_args *a);
/* Set the knobs of profile name into *o. 0, or -EINVAL (unknown). */
int ac__scen_profile(const char *name, ac_sim_opts *o);
/* Print the profiles (two spaces, name, help; one a line) to f. */
void ac__scen_profiles(FILE *f);
/* The world's options for seed of sc under a. 0, or -EINVAL (profile). */
int ac__scen_opts(const ac__scen_args *a, const ac_scenario *sc, uint64_t seed,
                  ac_sim_opts *o);
/* Make run's world from o (its description and events to trace unless
 * NULL), its context and nodes, and call setup. 0, or a negative errno:
 * ac_sim_new's (run->w NULL), or the nodes' or setup's (why set). Finish
 * the run with ac__scen_finish in every case. */
int ac__scen_prepare(ac_scenario_run *run, const ac_scenario *sc, const ac_sim_opts *o,
                     int tls, FILE *trace);
/* Free run's world, call cleanup, free the context and nodes. */
void ac__scen_finish(ac_scenario_run *run);
/* Run seed of sc under a in this process; trace: the event log (or NULL).
 * 0 with *res filled, or ac_sim_new's negative errno (-EINVAL: bad knobs
 * or profile). */
int ac__scen_run_one(const ac__scen_args *a, const ac_scenario *sc, uint64_t seed,
                     FILE *trace, const ac__scen_hooks *h, ac__scen_result *res);
/* As ac__scen_run_one, with --check-determinism (a second run) and with
 * --fork (in a child: a crash fails the seed with its signal). */
int ac__scen_run_seed(const ac__scen_args *a, const ac_scenario *sc, uint64_t seed,
                      FILE *trace, const ac__scen_hooks *h, ac__scen_result *res);
/* Crash reports of an in-process sweep: after ac__scen_catch_set(seed,
 * repro, timeout_s), a fatal signal (SEGV, BUS, FPE, ILL, ABRT) prints
 * "seed S: FAILED: crashed with signal N ..." and "reproduce: REPRO"
 * before the signal takes its course (the handler that was there before —
 * the engine's stack overflow report, a sanitizer's — runs next); and
 * when timeout_s > 0, timeout_s wall seconds later (alarm) the process
 * prints "seed S: FAILED: no progress: wall-clock timeout ..." and the
 * reproduce line and exits with status 1. repro NULL: no report, no
 * alarm. ac__scen_catch_arm installs the signal handlers once a node
 * started (so that the engine installed its own first). */
void ac__scen_catch_set(uint64_t seed, const char *repro, double timeout_s);
void ac__scen_catch_arm(void);

/* The reproduce command for seed (without "reproduce: "): prog, then
 * "--load FROM" when from is not NULL, then the options of a. */
void ac__scen_repro(char *buf, size_t len, const char *prog, const char *from,
                    const ac__scen_args *a, uint64_t seed);
/* A scenario the runner knows, and the object it came from (--load PATH;
 * NULL: built in). */
typedef struct ac__scen_entry {
	const ac_scenario *sc;
	const char *from;
} ac__scen_entry;

/* The built-in scenarios plus the loaded ones (a loaded one replaces a
 * built-in of its name), and the objects loaded. */
typedef struct ac__scen_list {
	ac__scen_entry *v;
	size_t n;
	void **handles;
	size_t nhandles;
} ac__scen_list;

/* Parse the command line into *a and *l (l starts with builtin, then
 * every --load's object joins). prog names the program in messages.
 * Returns 0; 1 after printing the help or the list (exit 0); 2 after a
 * message on standard error (bad usage, a bad object). Free *l with
 * ac__scen_list_free in every case. */
int ac__scen_parse(int argc, char **argv, const ac_scenario *const *builtin,
                   const char *prog, ac__scen_args *a, ac__scen_list *l);
/* The entry named name, or NULL. */
const ac__scen_entry *ac__scen_find(const ac__scen_list *l, const char *name);
void ac__scen_list_free(ac__scen_list *l);
/* --replay path [--until until]: one node incarnation of a recorded run,
 * alone; the run's options come from the record's command line, parsed
 * over builtin. Returns the exit status (0; 2 bad record or command line;
 * a divergence exits 3 from inside the replay). */
int ac__scen_replay(const char *path, const char *until, const ac_scenario *const *builtin,
                    const char *prog, const ac__scen_hooks *h);

#endif
