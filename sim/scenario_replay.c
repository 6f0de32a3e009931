/* sim/scenario_replay.c: --replay RECORD [--until EVENT] of the runner —
 * one node incarnation of a recorded run, alone. What it needs to know
 * comes from the record: the command line that made it (the header's
 * arguments, parsed again over the same scenarios, --load included) and
 * the notes the simulator wrote when the node's scheduler was created
 * (sim.seed, sim.node, sim.incarnation). Then a world is made with that
 * run's options and set up as the run's was, and the node is replayed
 * (ac_sim_node_replay).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/record.h"
#include "sim/scenario.h"

/* Notes are written right after the scheduler's first input: give up
 * looking for them after this many events. */
#define SCEN_NOTES_WITHIN 64

/* What a simulated node's record says about its run. */
typedef struct scen_rec_info {
	int argc;
	char **argv;
	uint64_t seed;
	char node[64];
	uint64_t inc;
	/* Bits of the notes found: 1 seed, 2 node, 4 incarnation. */
	int found;
} scen_rec_info;

/* One META note into info (the keys it knows). */
static void scen_note(scen_rec_info *info, const ac_rec_event *ev)
{
	char key[32], val[64];
	if (ev->dlen >= sizeof(key) || ev->dlen2 >= sizeof(val))
		return;
	memcpy(key, ev->data, ev->dlen);
	key[ev->dlen] = '\0';
	memcpy(val, ev->data2, ev->dlen2);
	val[ev->dlen2] = '\0';
	if (!strcmp(key, "sim.seed")) {
		info->seed = strtoull(val, NULL, 10);
		info->found |= 1;
	} else if (!strcmp(key, "sim.node")) {
		snprintf(info->node, sizeof(info->node), "%s", val);
		info->found |= 2;
	} else if (!strcmp(key, "sim.incarnation")) {
		info->inc = strtoull(val, NULL, 10);
		info->found |= 4;
	}
}

/* The header's arguments, copied into info (argv NULL-terminated). */
static int scen_copy_argv(scen_rec_info *info, const ac_rec_header *h)
{
	int i;
	info->argv = calloc((size_t)h->argc + 1, sizeof(*info->argv));
	if (!info->argv)
		return -ENOMEM;
	for (i = 0; i < h->argc; i++)
		if (!(info->argv[i] = strdup(h->argv[i])))
			return -ENOMEM;
	info->argc = h->argc;
	return 0;
}

static void scen_rec_info_free(scen_rec_info *info)
{
	int i;
	for (i = 0; info->argv && info->argv[i]; i++)
		free(info->argv[i]);
	free(info->argv);
	info->argv = NULL;
}

/* Read path's header and notes into *info. 0, or a negative errno with
 * one line in err. Free *info with scen_rec_info_free in every case. */
static int scen_rec_info_read(const char *path, scen_rec_info *info, char *err, size_t len)
{
	ac_rec_reader *r;
	ac_rec_event ev;
	int rc, i;
	memset(info, 0, sizeof(*info));
	rc = ac__rec_open(path, &r, err, len);
	if (rc < 0)
		return rc;
	if (strcmp(ac__rec_header(r)->backend, "sim") != 0) {
		snprintf(err, len, "%s: a record of a node on the %s backend, not a simulated one "
		         "(acpcap replay runs those)", path, ac__rec_header(r)->backend);
		ac__rec_close(r);
		return -EINVAL;
	}
	rc = scen_copy_argv(info, ac__rec_header(r));
	for (i = 0; rc == 0 && i < SCEN_NOTES_WITHIN && info->found != 7; i++) {
		int k = ac__rec_next(r, &ev);
		if (k <= 0)
			break;
		if (ev.kind == AC_REC_META)
			scen_note(info, &ev);
	}
	ac__rec_close(r);
	if (rc == 0 && info->found != 7) {
		snprintf(err, len, "%s: no sim.seed, sim.node and sim.incarnation notes near its "
		         "start: not written by a scenario runner's --record", path);
		rc = -EINVAL;
	}
	if (rc == -ENOMEM)
		snprintf(err, len, "%s: out of memory", path);
	return rc;
}

/* What the replay needs. */
typedef struct scen_replay_arg {
	const ac_scenario *const *builtin;
	const char *prog;
} scen_replay_arg;

static void scen_replay_log(void *arg, int level, const char *text)
{
	static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	fprintf(arg, "log %s %s\n", names[level & 3], text);
}

/* The node of info in a world prepared for its run, replayed. */
static int scen_replay_node(const char *prog, const char *path, const scen_rec_info *info,
                            const ac__scen_args *ra, const ac_scenario *sc)
{
	ac_scenario_run run;
	ac_sim_node *n = NULL;
	ac_sim_opts o;
	unsigned i;
	int rc = ac__scen_opts(ra, sc, info->seed, &o);
	memset(&run, 0, sizeof(run));
	o.log_fn = scen_replay_log;
	o.log_arg = stderr;
	if (rc == 0)
		rc = ac__scen_prepare(&run, sc, &o, ra->tls, NULL);
	for (i = 0; rc == 0 && i < ac_sim_nodes(run.w); i++)
		if (!strcmp(ac_sim_node_name(ac_sim_node_at(run.w, i)), info->node))
			n = ac_sim_node_at(run.w, i);
	if (rc == 0 && !n)
		rc = -ENOENT;
	printf("replay %s: node %s, incarnation %" PRIu64 ", seed %" PRIu64 " of scenario %s\n",
	       path, info->node, info->inc, info->seed, sc->name);
	fflush(stdout);
	if (rc == 0)
		rc = ac_sim_node_replay(n, info->inc, path);
	if (rc < 0)
		fprintf(stderr, "%s: %s: cannot replay: %s\n", prog, path, ac_strerror(rc));
	else
		printf("replay %s: no divergence\n", path);
	ac__scen_finish(&run);
	return rc;
}

static int scen_replay_run(const char *path, const char *until, void *argp)
{
	scen_replay_arg *arg = argp;
	const ac__scen_entry *e = NULL;
	scen_rec_info info;
	ac__scen_args ra;
	ac__scen_list l;
	char err[600];
	int rc = scen_rec_info_read(path, &info, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", arg->prog, err);
		scen_rec_info_free(&info);
		return 2;
	}
	rc = ac__scen_parse(info.argc, info.argv, arg->builtin, arg->prog, &ra, &l);
	if (rc == 0 && ra.scenario)
		e = ac__scen_find(&l, ra.scenario);
	if (rc != 0 || !e || ra.replay) {
		fprintf(stderr, "%s: %s: the recorded command line is not a run of a known "
		        "scenario\n", arg->prog, path);
		ac__scen_list_free(&l);
		scen_rec_info_free(&info);
		return 2;
	}
	unsetenv("AC_RECORD");
	if (until)
		setenv("AC_REPLAY_UNTIL", until, 1);
	else
		unsetenv("AC_REPLAY_UNTIL");
	rc = scen_replay_node(arg->prog, path, &info, &ra, e->sc);
	ac__scen_list_free(&l);
	scen_rec_info_free(&info);
	return rc < 0 ? 2 : 0;
}

int ac__scen_replay(const char *path, const char *until, const ac_scenario *const *builtin,
                    const char *prog, const ac__scen_hooks *h)
{
	scen_replay_arg arg = {builtin, prog};
	if (h && h->replay)
		return h->replay(path, until, scen_replay_run, &arg);
	return scen_replay_run(path, until, &arg);
}
