/* examples/walk_client.c: the job queue of the README's walk-through
 * ("Finding a bug in your own program") — the client side.
 *
 * Delivers jobs 1..N ("job <id> <k>", --jobs N, --id ID) to "walk_queue"
 * (walk_server), one at a time and at least once each: ac_deliver with a
 * timeout, then wait as long for the server's "ack <k>". Whatever goes
 * wrong — the deliver times out (outcome unknown: the job may have
 * arrived), fails (the server is unreachable or restarted: locate it
 * again), or the ack does not come — it tries the same job again, after a
 * pause, so the server must not apply a job twice (walk_server does not,
 * unless built with -DWALK_BUG). Prints `acknowledged <k>` per job and
 * `all N jobs acknowledged` at the end; gives up (exit status 1) after
 * --attempts tries of one job. With --journal FILE it keeps the last
 * acknowledged job there (written and synced after each ack) and a new
 * start goes on after it; without, a new start begins again at job 1.
 *
 *     walk_client [--udp-port PORT] [--id ID] [--jobs N] [--timeout MS]
 *                 [--interval MS] [--attempts N] [--journal FILE]
 */
#include "examples/example.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct walk_client {
	ex_env *env;
	const char *id;
	int jobs;
	int64_t timeout_ms;
	int64_t interval_ms;
	int attempts;
	/* The server's coroutine while we believe it is the right one. */
	ac_ref server;
	int have_server;
	/* The journal's handle (-1: none) and the last job acknowledged. */
	int jh;
	int done;
} walk_client;

/* The journal holds the last acknowledged job as one fixed-width line. */
#define WALK_PROGRESS_LEN 12

/* Open the journal (--journal) and read the last acknowledged job into
 * c->done. Returns 0 or a negative errno (logged). */
static int walk_progress_open(walk_client *c, const char *path)
{
	ac_io *io = ac_sched_io(c->env->sched);
	char buf[WALK_PROGRESS_LEN + 1];
	int64_t n;
	int rc = io->ops->file_open(io, path, AC_FO_READ | AC_FO_WRITE | AC_FO_CREATE, 0644,
	                            &c->jh);
	if (rc < 0) {
		c->jh = -1;
		ac_log(c->env->sched, AC_LOG_ERROR, "journal %s: %s", path, ac_strerror(rc));
		return rc;
	}
	n = io->ops->file_pread(io, c->jh, buf, WALK_PROGRESS_LEN, 0);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	c->done = n == WALK_PROGRESS_LEN ? atoi(buf) : 0;
	if (c->done < 0 || c->done > c->jobs)
		c->done = 0;
	return 0;
}

/* Record that job k was acknowledged. Returns 0 or a negative errno. */
static int walk_progress_save(walk_client *c, int k)
{
	ac_io *io = ac_sched_io(c->env->sched);
	char buf[WALK_PROGRESS_LEN + 1];
	c->done = k;
	if (c->jh < 0)
		return 0;
	snprintf(buf, sizeof(buf), "%*d\n", WALK_PROGRESS_LEN - 1, k);
	if (io->ops->file_pwrite(io, c->jh, buf, WALK_PROGRESS_LEN, 0) != WALK_PROGRESS_LEN)
		return -EIO;
	return io->ops->file_sync(io, c->jh);
}

static void walk_client_close(void *arg)
{
	walk_client *c = arg;
	ac_io *io = ac_sched_io(c->env->sched);
	if (c->jh >= 0)
		io->ops->file_close(io, c->jh);
	c->jh = -1;
}

static int walk_is_ack(const ac_msg *m, void *arg)
{
	(void)arg;
	return ac_msg_kind(m) == AC_MSG_DATA && ac_msg_len(m) > 4 &&
	       !memcmp(ac_msg_data(m), "ack ", 4);
}

/* Wait up to the timeout for "ack k"; older acks are dropped. Returns 1
 * (acknowledged) or 0. */
static int walk_wait_ack(walk_client *c, int k)
{
	int64_t end = ac_sched_now_ns(c->env->sched) + c->timeout_ms * 1000000;
	char want[24];
	ac_msg *m;
	int n = snprintf(want, sizeof(want), "ack %d", k);
	for (;;) {
		int64_t left = (end - ac_sched_now_ns(c->env->sched)) / 1000000;
		int got;
		if (left <= 0 || ac_receive_match(walk_is_ack, NULL, left, &m) < 0)
			return 0;
		got = ac_msg_len(m) == (size_t)n && !memcmp(ac_msg_data(m), want, (size_t)n);
		ac_msg_free(m);
		if (got)
			return 1;
	}
}

/* One try of job k. Returns 1 when acknowledged, else 0. */
static int walk_try(walk_client *c, int k)
{
	ac_msg *m;
	int rc;
	if (!c->have_server) {
		rc = ac_locate("walk_queue", NULL, c->timeout_ms, &c->server);
		if (rc < 0)
			return 0;
		c->have_server = 1;
	}
	m = ac_msg_printf("job %s %d", c->id, k);
	if (!m)
		return 0;
	rc = ac_deliver(c->server, m, c->timeout_ms);
	if (rc < 0)
		ac_msg_free(m);
	if (rc == 1 && walk_wait_ack(c, k))
		return 1;
	/* 0: the deliver timed out — the job may or may not be there; < 0 or
	 * no ack: the server may be gone or restarted. Locate it again. */
	c->have_server = 0;
	return 0;
}

static void walk_client_proc(void *arg)
{
	walk_client *c = arg;
	int k, tries;
	for (k = c->done + 1; k <= c->jobs; k++) {
		for (tries = 1; !walk_try(c, k); tries++) {
			if (tries >= c->attempts) {
				ac_log(c->env->sched, AC_LOG_ERROR,
				       "job %d: no ack after %d tries, giving up", k, tries);
				c->env->status = 1;
				return;
			}
			ac_sleep(c->timeout_ms / 4 + 1);
		}
		ex_printf(c->env, "acknowledged %d", k);
		if (walk_progress_save(c, k) < 0) {
			ac_log(c->env->sched, AC_LOG_ERROR, "journal: cannot write");
			c->env->status = 1;
			return;
		}
		if (c->interval_ms > 0 && k < c->jobs)
			ac_sleep(c->interval_ms);
	}
	ex_printf(c->env, "all %d jobs acknowledged", c->jobs);
}

int walk_client_main(ex_env *env)
{
	ac_spawn_opts so = {.name = "walk_client"};
	const char *journal = ex_opt_str(env, "journal");
	walk_client *c;
	int rc = ex_node_start(env);
	if (rc < 0)
		return rc;
	c = ex_keep(env, calloc(1, sizeof(*c)));
	if (!c)
		return -ENOMEM;
	c->env = env;
	c->jh = -1;
	c->id = ex_opt_str(env, "id");
	c->jobs = (int)ex_opt_num(env, "jobs");
	c->timeout_ms = (int64_t)ex_opt_num(env, "timeout");
	c->interval_ms = (int64_t)ex_opt_num(env, "interval");
	c->attempts = (int)ex_opt_num(env, "attempts");
	if (!*c->id || strlen(c->id) > 32 || strchr(c->id, ' ') || c->jobs < 1 ||
	    c->timeout_ms < 1 || c->interval_ms < 0 || c->attempts < 1) {
		ac_log(env->sched, AC_LOG_ERROR, "bad --id, --jobs, --timeout, --interval "
		       "or --attempts");
		return -EINVAL;
	}
	rc = ac_sched_atexit(env->sched, walk_client_close, c);
	if (rc == 0 && journal && *journal)
		rc = walk_progress_open(c, journal);
	if (rc == 0)
		rc = ac_spawn(env->sched, walk_client_proc, c, &so, NULL);
	return rc;
}

static const ex_opt walk_client_opts[] = {
	{"id", "ID", "c1", "this client's name in its jobs (1..32 bytes, no blank)"},
	{"jobs", "N", "10", "deliver jobs 1..N"},
	{"timeout", "MS", "2000", "deliver timeout, and how long to wait for an ack"},
	{"interval", "MS", "0", "pause between two jobs"},
	{"attempts", "N", "1000", "give up after this many tries of one job"},
	{"journal", "FILE", "", "keep the last acknowledged job in FILE (a restart goes on)"},
	{NULL, NULL, NULL, NULL},
};

const ex_prog walk_client_prog = {
	.name = "walk_client",
	.summary = "Delivers jobs 1..N to \"walk_queue\" (walk_server) at least once each,\n"
	           "retrying until each is acknowledged.",
	.node = 1,
	.opts = walk_client_opts,
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &walk_client_prog, walk_client_main);
}
#endif
