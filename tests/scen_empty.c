/* tests/scen_empty.c: a shared object whose scenario table is empty, for
 * acsim --load's error (tests/scenario.test). */
#include <asyncoro/scenario.h>

const ac_scenario *const ac_scenario_table_v1[] = {NULL};
