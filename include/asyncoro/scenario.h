/* asyncoro/scenario.h: your own program under the simulator.
 *
 * A scenario is a workload for the simulated world (asyncoro/sim.h) with its
 * oracles: which nodes run which programs, the default fault profile, a
 * per-run context, a safety check during the run, a final (liveness) check
 * once the run ends, and a "done" predicate. The runner runs it for one
 * seed or a sweep of seeds with every option of acsim (--seeds, --profile,
 * --swarm, --buggify, --trace, --check-determinism, --record, ...), and on
 * the first failing seed prints the one command that reproduces it.
 *
 * Three ways to run scenarios:
 *
 *   - in your own binary: main() { return ac_scenario_main(argc, argv, list); }
 *   - from a shared object: AC_SCENARIO_EXPORT(&a, &b) in the object, then
 *     acsim --load ./libmine.so --scenario a --seeds 1..1000
 *   - from a test: ac_scenario_check(&a, &opts, why, sizeof(why)) runs a
 *     range of seeds and returns 0, or 1 with the seed, the message and the
 *     reproduce command in why (ck_assert_msg(rc == 0, "%s", why)).
 *
 * One run (one seed): the runner makes a world with the fault profile's
 * knobs, allocates the context (ctx_size bytes, zeroed), adds the declared
 * nodes in order with their programs, calls setup, then runs the world
 * until done returns non-zero (default: every node's non-daemon coroutines
 * ended, ac_sim_all_finished), nothing can happen any more, a scenario
 * fails, or a bound is reached (virtual time, steps). Random faults start
 * only in the first --faults-for virtual seconds (default 20), so that the
 * end of a run sees a healed network. Then: the final check, the world is
 * freed, cleanup, the context is freed. A seed fails when setup failed,
 * ac_scenario_fail was called (first message wins), the step budget ran
 * out ("no progress: step budget N exhausted at seed S"), the final check
 * failed, virtual time ran out ("no quiescence": even when the final check
 * passed), or nothing could happen any more before done held ("stuck": a
 * deadlock).
 *
 * Everything a node does must depend only on the seed (no wall clock, no
 * real I/O, no global state surviving from one run to the next): then a
 * seed replays exactly, which --check-determinism verifies.
 *
 * Nothing here is thread-safe: one run at a time per thread.
 */
#ifndef ASYNCORO_SCENARIO_H
#define ASYNCORO_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include <asyncoro/asyncoro.h>
#include <asyncoro/sim.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* One run of a scenario (one seed), owned by the runner. */
typedef struct ac_scenario_run ac_scenario_run;

/* A node's program: called when the node starts and after every restart
 * (a new incarnation, ac_sim_node_incarnation), outside any coroutine, with
 * the node's fresh scheduler current (ac_spawn(NULL, ...) spawns there;
 * ac_sim_node_sched(node) is it), as an ac_sim_main_fn is; it spawns the
 * node's coroutines and returns. arg is the node's declared argument. */
typedef void (*ac_scenario_main_fn)(ac_scenario_run *run, ac_sim_node *node, void *arg);

/* A node of a scenario. */
typedef struct ac_scenario_node {
	/* Unique name, at most 63 bytes (addresses: 10.0.0.1, 10.0.0.2, ...
	 * in the order of declaration). */
	const char *name;
	/* Its program at the first start (NULL: setup fails). */
	ac_scenario_main_fn main;
	/* Argument of main and restart. */
	void *arg;
	/* Its program after a crash and restart (incarnations 2, 3, ...), e.g.
	 * a recovery that reads what the node wrote to its files (they
	 * survive crashes; its coroutines and sockets do not); NULL: main
	 * again. */
	ac_scenario_main_fn restart;
} ac_scenario_node;

/* A scenario. Unused members are NULL or 0. */
typedef struct ac_scenario {
	/* Name for --scenario (1..63 letters, digits, '-', '_', '.'; the
	 * runners refuse others), one line of help. */
	const char *name;
	const char *help;
	/* Default fault profile (--profile overrides): "clean" (latency
	 * only), "lossy" (UDP loss/dup/reorder, jitter, partial reads and
	 * writes, clogs, clock drift), "partitions" (lossy + partitions and
	 * pauses), "crashes" (partitions + node crashes with restart and
	 * random TCP resets). NULL: "clean". */
	const char *profile;
	/* Size of the per-run context (ac_scenario_ctx): allocated zeroed
	 * before the nodes are added, freed by the runner after cleanup. It
	 * outlives the nodes' crashes, so oracles keep their state there. */
	size_t ctx_size;
	/* The nodes, ended by an entry with a NULL name (NULL: none; setup
	 * may add nodes itself with ac_sim_node_add and ac_sim_node_set_main). */
	const ac_scenario_node *nodes;
	/* Adjust the world's knobs (asyncoro/sim.h) after the profile and the
	 * command line set them, before the world is made (and swarm draws
	 * its knobs): e.g. disk_bytes_max, tcp buffers. Must not change seed,
	 * record_dir or the log members. NULL: nothing. */
	void (*tune)(ac_sim_opts *o);
	/* After the nodes are added, before the run: initialise the context,
	 * add nodes, schedule explicit faults (ac_sim_at). Returns 0, or a
	 * negative errno: the seed fails with "setup failed". */
	int (*setup)(ac_scenario_run *run);
	/* Non-zero ends the run (called before every node step). NULL:
	 * ac_sim_all_finished. */
	int (*done)(ac_scenario_run *run);
	/* Safety oracle, called before every node step (after done): checks
	 * an invariant that must hold at every moment and calls
	 * ac_scenario_fail when it does not. Keep it cheap. */
	void (*safety)(ac_scenario_run *run);
	/* Final oracle, called once after the run unless the run already
	 * failed; stop is why the run ended (enum ac_sim_stop: AC_SIM_DONE,
	 * AC_SIM_QUIET or AC_SIM_TIME_LIMIT). Checks liveness (the work was
	 * done once the faults stopped) and calls ac_scenario_fail when not. */
	void (*check)(ac_scenario_run *run, int stop);
	/* After the world is freed (ac_scenario_world is then NULL), before
	 * the context is freed: free what setup or the nodes allocated.
	 * Called after every run that got its world, also when setup failed
	 * (so it must cope with a partly set-up context). */
	void (*cleanup)(ac_scenario_run *run);
} ac_scenario;

/* ---- inside a run ------------------------------------------------------------ */

/* The run's context (ctx_size bytes; NULL when ctx_size is 0). */
void *ac_scenario_ctx(ac_scenario_run *run);
/* The run's world (NULL during cleanup). */
ac_sim *ac_scenario_world(ac_scenario_run *run);
/* The run's seed. */
uint64_t ac_scenario_seed(const ac_scenario_run *run);
/* The run in progress on this thread (from setup to cleanup), or NULL: for
 * code that has a node but not the run. */
ac_scenario_run *ac_scenario_current(void);
/* Fail the run with a message (printf format; at most 511 bytes kept).
 * Returns normally: the run stops before the next node step (when called
 * from a coroutine, the current step finishes first), the final check is
 * skipped, and the runner reports "seed S: FAILED ...: message" and the
 * command that reproduces it. Only the first call of a run counts. */
void ac_scenario_fail(ac_scenario_run *run, const char *fmt, ...) AC_PRINTF(2, 3);
/* 1 when the run has failed (ac_scenario_fail was called), else 0. */
int ac_scenario_failed(const ac_scenario_run *run);
/* With --tls: write the runner's test certificate and key (one PEM file,
 * the same bytes on every run) into node's simulated file system (again on
 * every call) and return its path, for ac_node_opts.certfile; without
 * --tls: NULL, and nothing is written. Call it from setup (the file
 * survives crashes) or from the node's program. When the file cannot be
 * written, the run fails (ac_scenario_fail) and NULL is returned. */
const char *ac_scenario_certfile(ac_scenario_run *run, ac_sim_node *node);

/* ---- runners ------------------------------------------------------------------ */

/* acsim's whole command line over the scenarios of the NULL-terminated
 * list (acsim --help lists the options): --list, --scenario NAME,
 * --seed N | --seeds A..B (progress and seeds/s on standard error),
 * --load PATH (more scenarios from a shared object), --profile, --swarm,
 * --buggify, --loss, --faults-for, --max-time, --max-steps, --timeout,
 * --trace FILE, --record DIR, --replay RECORD [--until EVENT],
 * --check-determinism, --fork, --keep-going, --tls, --logs, --verbose.
 * The reproduce line of a failing seed names argv[0], followed by
 * "--load PATH" for a scenario that came from a shared object. A crash
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) in a scenario's code prints
 * the seed and its reproduce line before the process dies as it would
 * have; with --fork every seed runs in a child, a crash fails that seed
 * and --keep-going goes on. A seed that runs longer than --timeout wall
 * seconds (default 600; a node that never yields) fails with "no
 * progress: wall-clock timeout". Returns the exit status: 0 every seed
 * passed, 1 a seed failed, 2 bad usage or a bad object (a message on
 * standard error; an unknown scenario lists the known ones); --replay: 0,
 * 2, 3 (divergence) or 4 (--until reached). */
int ac_scenario_main(int argc, char **argv, const ac_scenario *const *scenarios);

/* Options of ac_scenario_check; zero means the default. */
typedef struct ac_scenario_check_opts {
	/* Seeds seed_lo..seed_hi (both 0: seed 1 only). */
	uint64_t seed_lo;
	uint64_t seed_hi;
	/* Fault profile (NULL: the scenario's), swarm, BUGGIFY. */
	const char *profile;
	int swarm;
	int buggify;
	/* Random faults only in the first faults_for_s virtual seconds
	 * (default 20); bound on virtual time (default 300 s) and on node
	 * steps per seed (default 2*10^7). */
	double faults_for_s;
	double max_time_s;
	uint64_t max_steps;
	/* Non-zero: each seed runs twice, and differing trace hashes fail. */
	int check_determinism;
	/* Non-zero: each seed runs in a forked child, so that a crash of the
	 * scenario's code fails that seed (with its signal) instead of the
	 * test. */
	int fork;
	/* The command that starts the reproduce line, e.g. "./my_sim" (a
	 * binary calling ac_scenario_main) or "acsim --load ./libmine.so";
	 * NULL: "acsim --load PATH" when the scenario lives in a shared
	 * object, else the running program's path (/proc/self/exe). */
	const char *program;
	/* With fork: wall-clock bound of a seed in seconds (default 600); a
	 * seed that takes longer (a node that never yields) is killed and
	 * fails with "no progress: wall-clock timeout". Without fork: not
	 * used (a test framework's own timeout applies). */
	double timeout_s;
} ac_scenario_check_opts;

/* Run the seeds of o (NULL: defaults) for sc, stopping at the first
 * failing one. Returns 0 when every seed passed; 1 when a seed failed,
 * with "seed S: MESSAGE\nreproduce: COMMAND" in why; a negative errno for
 * bad options (-EINVAL: unknown profile, bad range or bounds; message in
 * why). why may be NULL when len is 0. Does not depend on Check: use
 * ck_assert_msg(ac_scenario_check(&sc, &o, why, sizeof(why)) == 0, "%s",
 * why). */
int ac_scenario_check(const ac_scenario *sc, const ac_scenario_check_opts *o,
                      char *why, size_t len);

/* ---- shared objects ---------------------------------------------------------- */

/* The symbol acsim --load looks up: a NULL-terminated array of scenario
 * pointers. Define it with AC_SCENARIO_EXPORT in one file of the object. */
#define AC_SCENARIO_SYMBOL "ac_scenario_table_v1"
extern const ac_scenario *const ac_scenario_table_v1[];
#define AC_SCENARIO_EXPORT(...)                                               \
	__attribute__((visibility("default")))                               \
	const ac_scenario *const ac_scenario_table_v1[] = {__VA_ARGS__, NULL}

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* ASYNCORO_SCENARIO_H */
