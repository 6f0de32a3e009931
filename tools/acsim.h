/* tools/acsim.h: the scenario table acsim runs (tools/acsim_scenarios.c). */
#ifndef AC_TOOLS_ACSIM_H
#define AC_TOOLS_ACSIM_H

#include <stddef.h>
#include <stdint.h>

#include <asyncoro/sim.h>

/* A workload for the simulated world, with its oracles. */
typedef struct acsim_scenario {
	/* Name for --scenario, one line of help, default fault profile. */
	const char *name;
	const char *help;
	const char *profile;
	/* Add nodes and programs to a fresh world; *ctx is the scenario's
	 * state, which outlives crashes of the nodes. Returns 0 or -errno. */
	int (*setup)(ac_sim *w, void **ctx);
	/* The run ends when this returns non-zero (ac_sim_run's predicate). */
	int (*done)(ac_sim *w, void *ctx);
	/* After the run (stop: enum ac_sim_stop): 0 when every invariant held
	 * and the workload finished; else -1 with the reason in why. */
	int (*check)(ac_sim *w, void *ctx, int stop, char *why, size_t len);
	/* Free ctx. */
	void (*free)(void *ctx);
} acsim_scenario;

/* The mixed workload (tools/acsim_mixed.c). */
int acsim_mixed_setup(ac_sim *w, void **ctx);
int acsim_mixed_done(ac_sim *w, void *ctx);
int acsim_mixed_check(ac_sim *w, void *ctx, int stop, char *why, size_t len);
void acsim_mixed_free(void *ctx);
/* The mixed workload with a leaver (see acsim_stop_setup below). */
int acsim_mixed_stop_setup(ac_sim *w, void **ctx);

/* acsim --tls (tools/acsim_tls.c): scenarios that honour it start their
 * nodes with certfile ACSIM_TLS_CERT, written by acsim_tls_put into each
 * node's simulated filesystem at setup (0 or a negative errno). */
#define ACSIM_TLS_CERT "/tls/node.pem"
extern int acsim_tls;
int acsim_tls_put(ac_sim_node *sn);
/* The bulk streams to a slow reader (tools/acsim_bulk.c). */
int acsim_bulk_setup(ac_sim *w, void **ctx);
int acsim_bulk_done(ac_sim *w, void *ctx);
int acsim_bulk_check(ac_sim *w, void *ctx, int stop, char *why, size_t len);
void acsim_bulk_free(void *ctx);

/* The oracle "no node lost on orderly shutdown" (tools/acsim_stop.c): a
 * leaver node added to a scenario's world after its nodes (their port and
 * secret), observers spawned by each scenario node's program, the verdict
 * (0, or -1 and why; end_ns: the run's end), the first violation (NULL:
 * none, for a done predicate), free. */
typedef struct acsim_stop acsim_stop;
int acsim_stop_setup(ac_sim *w, const char *secret, uint16_t port, acsim_stop **out);
void acsim_stop_observe(acsim_stop *st, ac_sched *s);
int acsim_stop_check(acsim_stop *st, int64_t end_ns, char *why, size_t len);
const char *acsim_stop_violation(const acsim_stop *st);
void acsim_stop_free(acsim_stop *st);

/* Ended by an entry with a NULL name. */
extern const acsim_scenario acsim_scenarios[];

/* What a simulated node's record says about its run (tools/acsim_replay.c):
 * the acsim command line that made it and which node incarnation of which
 * seed it is. */
typedef struct acsim_rec_info {
	int argc;
	char **argv;
	uint64_t seed;
	char node[64];
	uint64_t inc;
	/* Bits of the notes found: 1 seed, 2 node, 4 incarnation. */
	int found;
} acsim_rec_info;

/* Read path's header and notes into *info. Returns 0, or a negative errno
 * with one line in err: the reader's error, -EINVAL (not a record of a
 * simulated node, or without acsim's notes), -ENOMEM. Free *info with
 * acsim_rec_info_free in every case. */
int acsim_rec_info_read(const char *path, acsim_rec_info *info, char *err, size_t len);
void acsim_rec_info_free(acsim_rec_info *info);

#endif
