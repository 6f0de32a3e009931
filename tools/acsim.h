/* tools/acsim.h: acsim's built-in scenarios (tools/acsim_scenarios.c,
 * acsim_mixed.c, acsim_bulk.c, and acsim_stop.c's oracle), written on the public asyncoro/scenario.h
 * as a user's would be. */
#ifndef AC_TOOLS_ACSIM_H
#define AC_TOOLS_ACSIM_H

#include <asyncoro/scenario.h>

/* Ended by NULL; the table acsim runs. */
extern const ac_scenario *const acsim_scenarios[];

/* The mixed workload (tools/acsim_mixed.c), its lossy variant, and the
 * variant with a leaver (acsim_stop_setup below). */
extern const ac_scenario acsim_mixed;
extern const ac_scenario acsim_mixed_lossy;
extern const ac_scenario acsim_mixed_stop;
/* The bulk streams to a slow reader (tools/acsim_bulk.c). */
extern const ac_scenario acsim_bulk;

/* The oracle "no node lost on orderly shutdown" (tools/acsim_stop.c), for
 * run's scenario: acsim_stop_setup (from setup, after the scenario's nodes
 * are added) adds the leaver node on their port and secret (0 or a
 * negative errno; *out is NULL or the state, to free either way);
 * acsim_stop_observe spawns an observer on scheduler s (from each scenario
 * node's program); acsim_stop_check (from the final check; end_ns: the
 * run's end) fails run when the stop did not complete; violations during
 * the run fail it with ac_scenario_fail; acsim_stop_free (NULL is fine). */
typedef struct acsim_stop acsim_stop;
int acsim_stop_setup(ac_scenario_run *run, const char *secret, uint16_t port,
                     acsim_stop **out);
void acsim_stop_observe(acsim_stop *st, ac_sched *s);
void acsim_stop_check(acsim_stop *st, int64_t end_ns);
void acsim_stop_free(acsim_stop *st);

#endif
