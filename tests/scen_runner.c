/* tests/scen_runner.c: a user's own simulator binary — the scenarios of
 * tests/scen_test.c under the library's runner, every acsim option
 * included (tests/scenario.test runs it). */
#include "config.h"

#include <asyncoro/scenario.h>

#include "tests/scen_test.h"

int main(int argc, char **argv)
{
	static const ac_scenario *const mine[] = {&scen_ping, &scen_restart, &scen_parity,
	                                          &scen_crash, &scen_spin, &scen_forever,
	                                          &scen_deadlock, &scen_unsafe, &scen_hang,
	                                          NULL};
	return ac_scenario_main(argc, argv, mine);
}
