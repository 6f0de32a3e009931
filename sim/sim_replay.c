/* sim/sim_replay.c: one simulated node incarnation replayed alone from its
 * record (ac_sim_opts.record_dir) — ac_sim_node_replay.
 *
 * The node's program (its main and argument, as the scenario's setup gave
 * them to a fresh world made with the same options) runs on the replay
 * backend (io/io_replay.c) and is driven as the world drove it: the
 * scheduler is created, stepped once empty, main is called, and then it is
 * stepped as long as the record's next event is a poll (every step of the
 * world starts with one); then the scheduler is freed, as a crash or the
 * end of the run freed it. Nothing else of the world runs: no other node,
 * no event, no virtual time.
 */
#include "sim/sim.h"
#include "io/io.h"

#include <inttypes.h>
#include <strings.h>

#include <asyncoro/record.h>

/* The level the live node's scheduler logged at: the world's option, or
 * AC_LOG_LEVEL (as engine/sched.c reads it). */
static int sim_replay_level(const ac_sim *w)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	const char *v = ac__io_log_level_env();
	int i, level = w->w_opts.log_level ? w->w_opts.log_level : AC_LOG_INFO;
	for (i = AC_LOG_ERROR; v && *v && i <= AC_LOG_DEBUG; i++)
		if (!strcasecmp(v, names[i]) || (v[0] == '0' + i && !v[1]))
			level = i;
	return level;
}

/* The line the live run's scheduler logged when its record ended, through
 * the same sink, so that the two logs compare. */
static void sim_replay_said(ac_sim_node *n, const char *path, uint64_t events,
                            uint64_t hash)
{
	ac_sim *w = n->n_world;
	char line[1200];
	if (AC_LOG_INFO > sim_replay_level(w))
		return;
	snprintf(line, sizeof(line), "[%s] record %s: %" PRIu64 " events, hash %016" PRIx64,
	         n->n_name, path, events, hash);
	if (w->w_opts.log_fn) {
		w->w_opts.log_fn(w->w_opts.log_arg, AC_LOG_INFO, line);
	} else {
		strcat(line, "\n");
		fputs("INFO ", stderr);
		fputs(line, stderr);
	}
}

/* Create the node's scheduler on rp, as sim_node_start does. */
static int sim_replay_sched(ac_sim_node *n, ac_io *rp)
{
	ac_sim *w = n->n_world;
	ac_sched_opts so;
	ac_sched_opts_init(&so);
	so.io = rp;
	so.name = n->n_name;
	if (w->w_opts.log_fn) {
		so.log_fn = w->w_opts.log_fn;
		so.log_arg = w->w_opts.log_arg;
	}
	if (w->w_opts.log_level)
		so.log_level = w->w_opts.log_level;
	return ac_sched_new(&so, &n->n_sched);
}

int ac_sim_node_replay(ac_sim_node *n, uint64_t incarnation, const char *path)
{
	ac_sim *w = n->n_world;
	const ac__assert_ctx *actx;
	uint64_t events, hash;
	ac_io *rp;
	int rc;
	if (!n->n_main || n->n_sched || !n->n_up || w->w_stats.steps || incarnation == 0 ||
	    !path)
		return -EINVAL;
	rc = ac_io_replay_new(path, &rp);
	if (rc < 0)
		return rc;
	actx = ac__assert_ctx_swap(&w->w_actx);
	n->n_inc = incarnation;
	n->n_need_start = 0;
	rc = sim_replay_sched(n, rp);
	if (rc == 0) {
		ac_sched_step(n->n_sched);
		n->n_main(n, n->n_main_arg);
		while (ac_io_replay_wants_poll(rp))
			ac_sched_step(n->n_sched);
		ac_sched_free(n->n_sched);
		n->n_sched = NULL;
	}
	hash = ac_io_record_hash(rp, &events);
	/* Reports and exits unless the run reached the record's end. */
	ac_io_replay_free(rp);
	if (rc == 0)
		sim_replay_said(n, path, events, hash);
	ac__assert_ctx_swap(actx);
	return rc;
}
