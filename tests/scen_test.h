/* tests/scen_test.h: the scenarios of tests/scen_test.c. */
#ifndef AC_TESTS_SCEN_TEST_H
#define AC_TESTS_SCEN_TEST_H

#include <asyncoro/scenario.h>

extern const ac_scenario scen_ping, scen_restart, scen_parity, scen_crash, scen_spin,
	scen_forever, scen_deadlock, scen_unsafe, scen_hang;

#endif
