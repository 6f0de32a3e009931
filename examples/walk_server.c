/* examples/walk_server.c: the job queue of the README's walk-through
 * ("Finding a bug in your own program") — the server side.
 *
 * A daemon coroutine registers as "walk_queue" and serves jobs that
 * walk_client delivers as "job <client> <k>". For each one it works for
 * --work milliseconds, then applies it — prints `applied <client> <k>` and,
 * with --journal FILE, appends "<client> <k>" to that file and syncs it, with
 * no yield in between, so that a simulated crash cannot split them — and answers
 * "ack <k>" to the sender. A job that was already applied (the journal is
 * read back at start, so this survives a restart) is not applied again,
 * only acknowledged again: the client retries until it gets an ack, so a
 * job can arrive several times.
 *
 * Built with -DWALK_BUG the server skips that check, as someone would who
 * believes that ac_deliver returning 0 (timeout) means the job did not
 * arrive, so that a retry is always a first delivery. It does not mean
 * that: 0 is "outcome unknown" (asyncoro.h). When a partition cuts the
 * link while a job is under way, the job and the retries that timed out
 * behind it all arrive once it heals; when either side crashes between
 * the apply and the ack, the job comes again. Either way it is applied
 * twice. The sweep finds it (tests/walk.test, README "Finding a bug in
 * your own program").
 *
 *     walk_server [--udp-port PORT] [--journal FILE] [--work MS]  (then quit)
 */
#include "examples/example.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most jobs remembered; more are refused (logged, not acknowledged). */
#define WALK_APPLIED_MAX 65536
/* Longest client id. */
#define WALK_ID_MAX 32

typedef struct walk_job {
	char client[WALK_ID_MAX + 1];
	int k;
} walk_job;

typedef struct walk_server {
	ex_env *env;
	/* Jobs applied so far (from the journal, then served). */
	walk_job *jobs;
	size_t njobs;
	size_t cap;
	/* The journal's handle (-1: none) and its length. */
	int jh;
	int64_t jlen;
	int64_t work_ms;
	/* The job being served (freed if the coroutine is ended meanwhile). */
	ac_msg *cur;
} walk_server;

static int walk_applied(const walk_server *w, const char *client, int k)
{
	size_t i;
	for (i = 0; i < w->njobs; i++)
		if (w->jobs[i].k == k && !strcmp(w->jobs[i].client, client))
			return 1;
	return 0;
}

/* Remember a job as applied. Returns 0, -ENOSPC or -ENOMEM. */
static int walk_remember(walk_server *w, const char *client, int k)
{
	if (w->njobs == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		walk_job *n;
		if (cap > WALK_APPLIED_MAX)
			return -ENOSPC;
		n = realloc(w->jobs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		w->jobs = n;
		w->cap = cap;
	}
	snprintf(w->jobs[w->njobs].client, sizeof(w->jobs[0].client), "%s", client);
	w->jobs[w->njobs++].k = k;
	return 0;
}

/* Parse "<client> <k>" (a journal line or a job's tail). Returns 1 or 0. */
static int walk_parse(const char *s, char client[WALK_ID_MAX + 1], int *k)
{
	char fmt[32];
	char tail;
	snprintf(fmt, sizeof(fmt), "%%%ds %%d%%c", WALK_ID_MAX);
	return sscanf(s, fmt, client, k, &tail) == 2 && *k > 0;
}

/* Open the journal (--journal) and read back what it holds. Returns 0 or a
 * negative errno (logged). */
static int walk_journal_open(walk_server *w, const char *path)
{
	ac_io *io = ac_sched_io(w->env->sched);
	char buf[256], line[WALK_ID_MAX + 24], client[WALK_ID_MAX + 1];
	size_t ll = 0;
	int64_t n, i;
	int k, rc = io->ops->file_open(io, path, AC_FO_READ | AC_FO_WRITE | AC_FO_CREATE,
	                               0644, &w->jh);
	if (rc < 0) {
		w->jh = -1;
		ac_log(w->env->sched, AC_LOG_ERROR, "journal %s: %s", path, ac_strerror(rc));
		return rc;
	}
	while ((n = io->ops->file_pread(io, w->jh, buf, sizeof(buf), w->jlen)) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = '\0';
			ll = 0;
			if (walk_parse(line, client, &k) && !walk_applied(w, client, k) &&
			    (rc = walk_remember(w, client, k)) < 0)
				return rc;
		}
		w->jlen += n;
	}
	ac_log(w->env->sched, AC_LOG_INFO, "journal %s: %zu jobs applied before",
	       path, w->njobs);
	return n < 0 ? (int)n : 0;
}

/* Apply a job: remember it, journal it, print it — no yield in between. */
static int walk_apply(walk_server *w, const char *client, int k)
{
	ac_io *io = ac_sched_io(w->env->sched);
	char line[WALK_ID_MAX + 24];
	int n, rc = walk_remember(w, client, k);
	if (rc < 0)
		return rc;
	if (w->jh >= 0) {
		n = snprintf(line, sizeof(line), "%s %d\n", client, k);
		if (io->ops->file_pwrite(io, w->jh, line, (size_t)n, w->jlen) != n ||
		    io->ops->file_sync(io, w->jh) < 0) {
			w->njobs--;
			return -EIO;
		}
		w->jlen += n;
	}
	ex_printf(w->env, "applied %s %d", client, k);
	return 0;
}

/* Serve one message: "job <client> <k>". */
static void walk_serve(walk_server *w, ac_msg *m)
{
	char text[64], client[WALK_ID_MAX + 1];
	size_t len = ac_msg_len(m);
	ac_msg *ack;
	int k, rc = 0;
	if (ac_msg_kind(m) != AC_MSG_DATA)
		return;
	snprintf(text, sizeof(text), "%.*s", (int)(len < 63 ? len : 63),
	         (const char *)ac_msg_data(m));
	if (len > 63 || strncmp(text, "job ", 4) != 0 || !walk_parse(text + 4, client, &k)) {
		ac_log(w->env->sched, AC_LOG_WARN, "not a job: \"%s\"", text);
		return;
	}
	if (w->work_ms > 0)
		ac_sleep(w->work_ms);
#ifndef WALK_BUG
	if (!walk_applied(w, client, k))
#endif
		rc = walk_apply(w, client, k);
	if (rc < 0) {
		ac_log(w->env->sched, AC_LOG_ERROR, "job %s %d: %s", client, k, ac_strerror(rc));
		return;
	}
	ack = ac_msg_printf("ack %d", k);
	if (ack && ac_send(ac_msg_from(m), ack) < 0)
		ac_msg_free(ack);
}

static void walk_server_close(void *arg)
{
	walk_server *w = arg;
	ac_io *io = ac_sched_io(w->env->sched);
	if (w->jh >= 0)
		io->ops->file_close(io, w->jh);
	w->jh = -1;
	free(w->jobs);
	w->jobs = NULL;
}

/* The serving coroutine ends (terminated while it works on a job). */
static void walk_server_drop(void *arg)
{
	walk_server *w = arg;
	ac_msg_free(w->cur);
	w->cur = NULL;
}

static void walk_server_proc(void *arg)
{
	walk_server *w = arg;
	int rc = ac_register("walk_queue");
	if (rc == 0)
		rc = ac_coro_defer(walk_server_drop, w);
	if (rc < 0) {
		ac_log(w->env->sched, AC_LOG_ERROR, "register walk_queue: %s", ac_strerror(rc));
		w->env->status = 1;
		return;
	}
	while (ac_receive(AC_FOREVER, &w->cur) == 0) {
		walk_serve(w, w->cur);
		ac_msg_free(w->cur);
		w->cur = NULL;
	}
}

int walk_server_main(ex_env *env)
{
	ac_spawn_opts so = {.name = "walk_queue", .daemon = 1};
	const char *journal = ex_opt_str(env, "journal");
	walk_server *w;
	int rc = ex_node_start(env);
	if (rc < 0)
		return rc;
	w = ex_keep(env, calloc(1, sizeof(*w)));
	if (!w)
		return -ENOMEM;
	w->env = env;
	w->jh = -1;
	w->work_ms = (int64_t)ex_opt_num(env, "work");
	rc = ac_sched_atexit(env->sched, walk_server_close, w);
	if (rc == 0 && journal && *journal)
		rc = walk_journal_open(w, journal);
	if (rc == 0)
		rc = ac_spawn(env->sched, walk_server_proc, w, &so, NULL);
	if (rc == 0)
		rc = ex_spawn_console(env);
	return rc;
}

static const ex_opt walk_server_opts[] = {
	{"journal", "FILE", "", "keep the applied jobs in FILE (survives a restart)"},
	{"work", "MS", "0", "milliseconds of work per job before it is applied"},
	{NULL, NULL, NULL, NULL},
};

const ex_prog walk_server_prog = {
	.name = "walk_server",
	.summary = "Registers \"walk_queue\" and applies each job walk_client delivers once,\n"
	           "printing `applied <client> <k>` and answering \"ack <k>\", until you type\n"
	           "quit or the input ends.",
	.node = 1,
	.opts = walk_server_opts,
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &walk_server_prog, walk_server_main);
}
#endif
