/* sim/scenario_check.c: ac_scenario_check — a range of seeds of one
 * scenario from a test case (a Check suite's, or any other: the library
 * does not depend on Check), with the first failing seed's message and the
 * command that reproduces it.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/scenario.h"

/* The default start of the reproduce line: "acsim --load PATH" when sc
 * lives in a shared object, else the running program's path. */
static void scen_program(const ac_scenario *sc, char *buf, size_t len)
{
	char exe[PATH_MAX], obj[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	Dl_info di;
	exe[n > 0 ? n : 0] = '\0';
	if (dladdr(sc, &di) && di.dli_fname && di.dli_fname[0] &&
	    realpath(di.dli_fname, obj) && strcmp(obj, exe) != 0) {
		snprintf(buf, len, "acsim --load %s", di.dli_fname);
		return;
	}
	snprintf(buf, len, "%s", exe[0] ? exe : "PROGRAM");
}

/* o into a. 0, or -EINVAL with the reason in why. */
static int scen_check_args(const ac_scenario *sc, const ac_scenario_check_opts *o,
                           ac__scen_args *a, char *why, size_t len)
{
	ac_sim_opts so;
	ac__scen_args_init(a);
	a->scenario = sc && sc->name ? sc->name : "?";
	a->profile = o->profile;
	a->swarm = o->swarm;
	a->buggify = o->buggify;
	a->determinism = o->check_determinism;
	a->fork = o->fork;
	a->seed_lo = o->seed_lo;
	a->seed_hi = o->seed_hi;
	if (a->seed_lo == 0 && a->seed_hi == 0)
		a->seed_lo = a->seed_hi = 1;
	if (o->faults_for_s > 0)
		a->faults_s = o->faults_for_s;
	if (o->max_time_s > 0)
		a->max_s = o->max_time_s;
	if (o->max_steps > 0)
		a->max_steps = o->max_steps;
	if (o->timeout_s > 0)
		a->timeout_s = o->timeout_s;
	if (!sc || !sc->name) {
		snprintf(why, len, "ac_scenario_check: no scenario (or one without a name)");
		return -EINVAL;
	}
	if (a->seed_hi < a->seed_lo || a->faults_s >= a->max_s) {
		snprintf(why, len, "ac_scenario_check: bad seeds %" PRIu64 "..%" PRIu64
		         " or faults-for %g >= max-time %g", a->seed_lo, a->seed_hi, a->faults_s,
		         a->max_s);
		return -EINVAL;
	}
	if (ac__scen_profile(o->profile ? o->profile : sc->profile ? sc->profile : "clean",
	                     &so) < 0) {
		snprintf(why, len, "ac_scenario_check: unknown profile '%s' (known: clean, lossy, "
		         "partitions, crashes)", o->profile ? o->profile : sc->profile);
		return -EINVAL;
	}
	return 0;
}

int ac_scenario_check(const ac_scenario *sc, const ac_scenario_check_opts *o,
                      char *why, size_t len)
{
	static const ac_scenario_check_opts none;
	char prog[PATH_MAX + 16], repro[PATH_MAX + 600], dummy[1];
	ac__scen_result r;
	ac__scen_args a;
	uint64_t seed;
	int rc;
	if (!why || len == 0) {
		why = dummy;
		len = sizeof(dummy);
	}
	why[0] = '\0';
	rc = scen_check_args(sc, o ? o : &none, &a, why, len);
	if (rc < 0)
		return rc;
	for (seed = a.seed_lo; seed <= a.seed_hi && seed != 0; seed++) {
		rc = ac__scen_run_seed(&a, sc, seed, NULL, NULL, &r);
		if (rc < 0) {
			snprintf(why, len, "seed %" PRIu64 ": bad options for the simulator: %s",
			         seed, ac_strerror(rc));
			return rc;
		}
		if (r.ok)
			continue;
		if (o && o->program)
			snprintf(prog, sizeof(prog), "%s", o->program);
		else
			scen_program(sc, prog, sizeof(prog));
		ac__scen_repro(repro, sizeof(repro), prog, NULL, &a, seed);
		snprintf(why, len, "seed %" PRIu64 ": %s\nreproduce: %s", seed, r.why, repro);
		return 1;
	}
	return 0;
}
