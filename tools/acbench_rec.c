/* tools/acbench_rec.c: what recording costs, for `acbench --only record`.
 * In one run, the two-process one-way and ping-pong shapes of
 * tools/acbench_net.c without recording, then with both nodes recording
 * themselves (AC_RECORD=DIR/bench.acrec: the server, which creates its
 * scheduler first, writes DIR/bench.acrec, the client, finding it busy,
 * DIR/bench.acrec.PID; doc/record.md), then:
 *
 *   - the client record's size against the bytes it carries (the data of
 *     every event: bytes sent, received, read, written, random), and its
 *     events and the program's calls (events other than COMPLETE, POLL_END
 *     and the notes), for the overhead per call;
 *   - a replay of the client's record (AC_REPLAY, the same client code in a
 *     child process) timed against the client's live run.
 *
 * DIR is a fresh directory under /tmp, removed afterwards. Bounded: the
 * shapes are those of acbench_net.c (counts and 20 s limits), the replay
 * child has 120 s (alarm).
 */
#include "config.h"

#include <zlib.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asyncoro/asyncoro.h>

#include "io/record.h"
#include "tools/acbench.h"

/* Sizes and counts of the record at path into res; 0 or a negative errno
 * (a record that does not end cleanly is an error). */
static int rb_measure(const char *path, rb_result *res)
{
	ac_rec_reader *r;
	ac_rec_event ev;
	struct stat sb;
	char err[256];
	int rc;

	if (stat(path, &sb) < 0)
		return -errno;
	rc = ac__rec_open(path, &r, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "acbench: %s\n", err);
		return rc;
	}
	res->size = (double)sb.st_size;
	while ((rc = ac__rec_next(r, &ev)) == 1) {
		res->carried += (double)(ev.dlen + ev.dlen2);
		res->events++;
		if (ev.kind != AC_REC_COMPLETE && ev.kind != AC_REC_POLL_END &&
		    ev.kind != AC_REC_CONN && ev.kind != AC_REC_META)
			res->calls++;
	}
	if (rc < 0)
		fprintf(stderr, "acbench: %s: %s\n", path, ac__rec_error(r));
	ac__rec_close(r);
	return rc;
}

/* Replay the client's record at path (port, n, mask as recorded) in a
 * child; its time into res->replay_secs. 0 or -EIO (the replay failed). */
static int rb_replay(const char *path, unsigned port, long n, int mask, rb_result *res)
{
	int pfd[2], st;
	double secs = 0;
	pid_t pid;

	if (pipe(pfd) < 0)
		return -errno;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		nb_result r;
		close(pfd[0]);
		alarm(120);
		setenv("AC_REPLAY", path, 1);
		memset(&r, 0, sizeof(r));
		nbench_client(port, n, mask, &r);
		if (write(pfd[1], &r.client_secs, sizeof(r.client_secs)) < 0)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &secs, sizeof(secs)) != (ssize_t)sizeof(secs))
		secs = 0;
	close(pfd[0]);
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || secs <= 0) {
		fprintf(stderr, "acbench: the replay of %s failed (status %d)\n", path,
		        WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		return -EIO;
	}
	res->replay_secs = secs;
	return 0;
}

/* Remove dir and the records in it. */
static void rb_clean(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}

int rbench_run(int cpu_server, int cpu_client, long n, rb_result *res)
{
	const int mask = NB_ONEWAY | NB_PINGPONG;
	char dir[] = "/tmp/acbench-rec-XXXXXX", base[64], client[96];
	nb_result off, on;
	int rc;

	memset(res, 0, sizeof(*res));
	if (mkdtemp(dir) == NULL)
		return -errno;
	rc = nbench_run(cpu_server, cpu_client, n, mask, &off);
	snprintf(base, sizeof(base), "%s/bench.acrec", dir);
	setenv("AC_RECORD", base, 1);
	if (rc == 0)
		rc = nbench_run(cpu_server, cpu_client, n, mask, &on);
	unsetenv("AC_RECORD");
	snprintf(client, sizeof(client), "%s.%ld", base, (long)getpid());
	if (rc == 0)
		rc = rb_measure(client, res);
	if (rc == 0)
		rc = rb_replay(client, on.server_port, n, mask, res);
	rb_clean(dir);
	if (rc < 0)
		return rc;
	res->oneway_off = off.oneway;
	res->oneway_on = on.oneway;
	res->pp_off = off.pp_p50;
	res->pp_on = on.pp_p50;
	res->live_secs = on.client_secs;
	return 0;
}
