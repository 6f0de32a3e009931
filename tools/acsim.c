/* tools/acsim.c: the seed runner. Runs a named scenario — a workload plus a
 * fault profile — in the simulated world for one seed or a sweep of seeds,
 * checks the scenario's oracles (safety during the run, liveness after the
 * faults stop), prints each run's trace hash, and on the first failing seed
 * prints the one command that reproduces it.
 *
 *   acsim --list
 *   acsim --scenario echo --seed 7 [--trace FILE]
 *   acsim --scenario chat --seeds 1..200 --profile crashes
 *   acsim --scenario echo --seeds 1..50 --swarm --check-determinism
 *   acsim --scenario mixed --seed 7 --record DIR    (then, one node alone:)
 *   acsim --replay DIR/seed-7/node0.1.acrec [--until EVENT]
 *   acsim --load ./libmine.so --scenario mine --seeds 1..10000 --swarm
 *
 * The command line is the library's scenario runner (ac_scenario_main,
 * sim/scenario_main.c) over the built-in scenarios (tools/acsim_*.c, on the
 * public asyncoro/scenario.h) and those of --load'ed objects; acsim adds
 * what needs acpcap's code: next to each record of --record, its pcap
 * (NODE.INC.pcap, as `acpcap pcap` makes it), and a --replay that runs in a
 * child so that a divergence names its pcap frame.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/scenario.h"
#include "tools/acpcap_file.h"
#include "tools/acsim.h"

/* --record: next to each NODE.INC.acrec of dir, NODE.INC.pcap — what
 * `acpcap pcap` makes of it. Records end when the world is freed, so this
 * runs after. Errors are lines on standard error (the run stands). */
static void acsim_pcaps(const char *dir)
{
	char rec[2048], out[2048], err[600];
	struct dirent *d;
	DIR *dp = opendir(dir);
	size_t n;

	if (dp == NULL) {
		fprintf(stderr, "acsim: %s: %s\n", dir, strerror(errno));
		return;
	}
	while ((d = readdir(dp)) != NULL) {
		n = strlen(d->d_name);
		if (n <= 6 || strcmp(d->d_name + n - 6, ".acrec") != 0)
			continue;
		snprintf(rec, sizeof(rec), "%s/%s", dir, d->d_name);
		snprintf(out, sizeof(out), "%s/%.*s.pcap", dir, (int)(n - 6), d->d_name);
		if (acp_file_pcap(rec, out, err, sizeof(err)) < 0)
			fprintf(stderr, "acsim: %s: %s\n", rec, err);
	}
	closedir(dp);
}

/* --replay in a child, so that after a divergence (the child's exit 3)
 * the pcap frame of the event is named. Returns the child's status. */
static int acsim_replay_child(const char *path, const char *until,
                              int (*fn)(const char *path, const char *until, void *arg),
                              void *arg)
{
	int wfd = -1, rfd = acp_replay_report_open(&wfd);
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (rfd >= 0)
			close(rfd);
		exit(fn(path, until, arg));
	}
	if (wfd >= 0)
		close(wfd);
	if (pid < 0) {
		fprintf(stderr, "acsim: fork: %s\n", strerror(errno));
		if (rfd >= 0)
			close(rfd);
		return 2;
	}
	return acp_replay_report_wait(pid, rfd, path);
}

int main(int argc, char **argv)
{
	static const ac__scen_hooks hooks = {acsim_pcaps, acsim_replay_child};
	/* Reproduce lines and messages say "acsim", wherever it was run from. */
	if (argc > 0)
		argv[0] = "acsim";
	return ac__scenario_main_hooks(argc, argv, acsim_scenarios, &hooks);
}
