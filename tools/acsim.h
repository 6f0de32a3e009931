/* tools/acsim.h: acsim's built-in scenarios (tools/acsim_scenarios.c,
 * acsim_mixed.c, acsim_bulk.c), written on the public asyncoro/scenario.h
 * as a user's would be. */
#ifndef AC_TOOLS_ACSIM_H
#define AC_TOOLS_ACSIM_H

#include <asyncoro/scenario.h>

/* Ended by NULL; the table acsim runs. */
extern const ac_scenario *const acsim_scenarios[];

/* The mixed workload (tools/acsim_mixed.c) and its lossy variant. */
extern const ac_scenario acsim_mixed;
extern const ac_scenario acsim_mixed_lossy;
/* The bulk streams to a slow reader (tools/acsim_bulk.c). */
extern const ac_scenario acsim_bulk;

#endif
