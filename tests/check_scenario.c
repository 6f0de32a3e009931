/* tests/check_scenario.c: ac_scenario_check, the one call that runs seeds
 * of a scenario from a test case — passing seeds, the first failing seed
 * with its message and reproduce command, the options it passes on
 * (profile, swarm, BUGGIFY, the step and time bounds, determinism), a
 * crashing oracle under fork, and bad options. The scenarios are
 * tests/scen_test.c's.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/scenario.h>

#include "tests/scen_test.h"

START_TEST(test_passing_seeds)
{
	ac_scenario_check_opts o = {.seed_lo = 1, .seed_hi = 20, .check_determinism = 1};
	char why[1024];
	int rc = ac_scenario_check(&scen_ping, &o, why, sizeof(why));
	ck_assert_msg(rc == 0, "%s", why);
	ck_assert_str_eq(why, "");
	/* NULL options: seed 1 under the scenario's own profile. */
	ck_assert_int_eq(ac_scenario_check(&scen_ping, NULL, NULL, 0), 0);
	/* The restart hook runs after a crash, main does not. */
	rc = ac_scenario_check(&scen_restart, &o, why, sizeof(why));
	ck_assert_msg(rc == 0, "%s", why);
}
END_TEST

START_TEST(test_faults_pass_on)
{
	ac_scenario_check_opts o = {.seed_lo = 100, .seed_hi = 119, .profile = "crashes",
	                            .swarm = 1, .buggify = 1};
	char why[1024];
	int rc = ac_scenario_check(&scen_ping, &o, why, sizeof(why));
	ck_assert_msg(rc == 0, "%s", why);
}
END_TEST

START_TEST(test_first_failing_seed)
{
	ac_scenario_check_opts o = {.seed_lo = 1, .seed_hi = 50, .program = "./mysim"};
	char why[1024];
	int rc = ac_scenario_check(&scen_parity, &o, why, sizeof(why));
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(!strncmp(why, "seed 3: parity: seed 3 is 3 mod 5\n", 34), "%s", why);
	ck_assert_msg(strstr(why, "\nreproduce: ./mysim --scenario parity --seed 3 "
	                          "--faults-for 20 --max-time 300 --trace trace.txt") != NULL,
	              "%s", why);
	/* From 4 on, the next one. */
	o.seed_lo = 4;
	ck_assert_int_eq(ac_scenario_check(&scen_parity, &o, why, sizeof(why)), 1);
	ck_assert_msg(!strncmp(why, "seed 8: ", 8), "%s", why);
	/* A safety oracle's failure. */
	ck_assert_int_eq(ac_scenario_check(&scen_unsafe, NULL, why, sizeof(why)), 1);
	ck_assert_msg(strstr(why, "seed 1: safety: 2 replies already") != NULL, "%s", why);
}
END_TEST

START_TEST(test_bounds)
{
	ac_scenario_check_opts o = {.seed_lo = 7, .seed_hi = 7, .max_steps = 5000,
	                            .program = "x"};
	char why[1024];
	ck_assert_int_eq(ac_scenario_check(&scen_spin, &o, why, sizeof(why)), 1);
	ck_assert_msg(strstr(why, "no progress: step budget 5000 exhausted at seed 7") != NULL,
	              "%s", why);
	ck_assert_msg(strstr(why, "--max-steps 5000") != NULL, "%s", why);
	o.max_steps = 0;
	o.max_time_s = 20;
	o.faults_for_s = 5;
	ck_assert_int_eq(ac_scenario_check(&scen_forever, &o, why, sizeof(why)), 1);
	ck_assert_msg(strstr(why, "no quiescence: virtual time limit of 20 s reached at seed 7")
	              != NULL, "%s", why);
	ck_assert_int_eq(ac_scenario_check(&scen_deadlock, &o, why, sizeof(why)), 1);
	ck_assert_msg(strstr(why, "seed 7: stuck:") != NULL, "%s", why);
}
END_TEST

START_TEST(test_crash_forked)
{
	ac_scenario_check_opts o = {.seed_lo = 1, .seed_hi = 3, .fork = 1, .program = "x"};
	char why[1024];
	ck_assert_int_eq(ac_scenario_check(&scen_crash, &o, why, sizeof(why)), 1);
	ck_assert_msg(!strncmp(why, "seed 2: crashed", 15), "%s", why);
	ck_assert_msg(strstr(why, "reproduce: x --scenario crash --seed 2 ") != NULL, "%s", why);
	/* A node that never yields: killed after the wall-clock bound. */
	o.timeout_s = 1;
	ck_assert_int_eq(ac_scenario_check(&scen_hang, &o, why, sizeof(why)), 1);
	ck_assert_msg(strstr(why, "seed 1: no progress: wall-clock timeout of 1 s at seed 1")
	              != NULL, "%s", why);
}
END_TEST

START_TEST(test_bad_options)
{
	ac_scenario_check_opts o = {.seed_lo = 5, .seed_hi = 4};
	ac_scenario nameless = scen_ping;
	char why[256];
	ck_assert_int_eq(ac_scenario_check(&scen_ping, &o, why, sizeof(why)), -EINVAL);
	ck_assert_msg(strstr(why, "bad seeds 5..4") != NULL, "%s", why);
	o.seed_hi = 5;
	o.profile = "stormy";
	ck_assert_int_eq(ac_scenario_check(&scen_ping, &o, why, sizeof(why)), -EINVAL);
	ck_assert_msg(strstr(why, "unknown profile 'stormy'") != NULL, "%s", why);
	nameless.name = NULL;
	ck_assert_int_eq(ac_scenario_check(&nameless, NULL, why, sizeof(why)), -EINVAL);
	ck_assert_int_eq(ac_scenario_check(NULL, NULL, why, sizeof(why)), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scenario");
	TCase *tc = tcase_create("check");
	SRunner *sr;
	int failed;
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_passing_seeds);
	tcase_add_test(tc, test_faults_pass_on);
	tcase_add_test(tc, test_first_failing_seed);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_crash_forked);
	tcase_add_test(tc, test_bad_options);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
