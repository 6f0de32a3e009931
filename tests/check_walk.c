/* tests/check_walk.c: the README's walk-through ("Finding a bug in your own
 * program") from a Check test, with ac_scenario_check (asyncoro/scenario.h)
 * over the scenario of examples/walk_scenario.c, loaded from its two
 * shared objects (examples/libwalk.la, and libwalk_bug.la built with
 * -DWALK_BUG) as acsim --load does: the correct job queue passes a sweep
 * under both fault profiles that find the bug, the buggy one fails within
 * WALK_BOUND seeds with the safety oracle's message, the seed and the
 * command that reproduces it, and that seed fails again alone.
 *
 * A simulated crash discards a node's coroutines with what they hold, and
 * so does the end of a run that fails in the middle (the world is freed as
 * in a crash): LeakSanitizer would report that memory. Those sweeps run
 * each seed in a child (ac_scenario_check_opts.fork), which ends without
 * a leak check; the correct build under partitions runs in this process,
 * leaks checked.
 */
#include "config.h"

#include <dlfcn.h>
#include <inttypes.h>

#include <asyncoro/scenario.h>

#include "tests/testutil.h"

#ifndef WALK_LIBDIR
#define WALK_LIBDIR "examples/.libs"
#endif
/* The sweep must find the bug within this many seeds (measured: 134 of
 * seeds 1..1000 fail under partitions, 174 under crashes; 0.866^100 <
 * 10^-6). */
#define WALK_BOUND 100

/* The scenario "walk" of a shared object (kept loaded until exit). */
static const ac_scenario *walk_load(const char *file)
{
	char path[1024];
	const ac_scenario *const *table;
	void *h;
	size_t i;
	snprintf(path, sizeof(path), "%s/%s", WALK_LIBDIR, file);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(h != NULL, "dlopen %s: %s", path, dlerror());
	table = dlsym(h, AC_SCENARIO_SYMBOL);
	ck_assert_msg(table != NULL, "%s: no %s", path, AC_SCENARIO_SYMBOL);
	for (i = 0; table[i]; i++)
		if (!strcmp(table[i]->name, "walk"))
			return table[i];
	ck_abort_msg("%s: no scenario \"walk\"", path);
	return NULL;
}

static void walk_sweep_ok(const char *profile, int fork)
{
	const ac_scenario *sc = walk_load("libwalk.so");
	ac_scenario_check_opts o = {.seed_lo = 1, .seed_hi = WALK_BOUND, .profile = profile,
	                            .fork = fork};
	char why[1024] = "";
	int rc = ac_scenario_check(sc, &o, why, sizeof(why));
	ck_assert_msg(rc == 0, "profile %s: %s", profile, why);
}

/* The correct queue: no seed of the range fails. */
START_TEST(test_walk_correct_partitions)
{
	walk_sweep_ok("partitions", 0);
}
END_TEST

START_TEST(test_walk_correct_crashes)
{
	walk_sweep_ok("crashes", 1);
}
END_TEST

/* The buggy queue: a seed of 1..WALK_BOUND fails, with the oracle's
 * message and a reproduce line naming that seed; alone, it fails again
 * with the same message. */
static void walk_bug_found(const char *profile)
{
	const ac_scenario *sc = walk_load("libwalk_bug.so");
	ac_scenario_check_opts o = {.seed_lo = 1, .seed_hi = WALK_BOUND, .profile = profile,
	                            .fork = 1};
	char why[1024] = "", again[1024] = "", want[64];
	uint64_t seed = 0;
	int rc = ac_scenario_check(sc, &o, why, sizeof(why));
	ck_assert_msg(rc == 1, "profile %s: the bug was not found in seeds 1..%d (rc %d)",
	              profile, WALK_BOUND, rc);
	ck_assert_msg(sscanf(why, "seed %" SCNu64, &seed) == 1 && seed >= 1 &&
	              seed <= WALK_BOUND, "no seed in \"%s\"", why);
	ck_assert_msg(strstr(why, "safety: job c") && strstr(why, "was applied twice"),
	              "not the safety oracle: %s", why);
	snprintf(want, sizeof(want), "--seed %" PRIu64, seed);
	ck_assert_msg(strstr(why, "reproduce: ") && strstr(why, want) &&
	              strstr(why, "libwalk_bug.so"), "no reproduce line: %s", why);
	o.seed_lo = o.seed_hi = seed;
	rc = ac_scenario_check(sc, &o, again, sizeof(again));
	ck_assert_msg(rc == 1, "seed %" PRIu64 " passed alone", seed);
	ck_assert_msg(!strcmp(why, again), "another failure alone: \"%s\" then \"%s\"",
	              why, again);
}

START_TEST(test_walk_bug_partitions)
{
	walk_bug_found("partitions");
}
END_TEST

START_TEST(test_walk_bug_crashes)
{
	walk_bug_found("crashes");
}
END_TEST

static Suite *walk_suite(void)
{
	Suite *s = suite_create("walk");
	TCase *tc = tcase_create("walk");
	tcase_set_timeout(tc, 120 * test_time_scale());
	tcase_add_test(tc, test_walk_correct_partitions);
	tcase_add_test(tc, test_walk_correct_crashes);
	tcase_add_test(tc, test_walk_bug_partitions);
	tcase_add_test(tc, test_walk_bug_crashes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(walk_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
