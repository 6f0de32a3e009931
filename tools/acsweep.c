/* tools/acsweep.c: the long seed sweep — every acsim scenario under every
 * fault mode, a range of seeds spread over them, on several cores, with a
 * progress line, resumable.
 *
 *   acsweep --seeds 1..1000000 --jobs 2 --state sweep.state [--keep-going]
 *
 * The modes are the four fault profiles (clean, lossy, partitions, crashes),
 * each without and with --buggify, and --swarm: with the scenarios that
 * `acsim --list` prints, that makes CONFIGS = scenarios x 9 configurations.
 * The seed range is cut into blocks of --chunk seeds (default 100); block k
 * runs under configuration k mod CONFIGS, so every seed runs once, and
 * every configuration gets a 1/CONFIGS share of the seeds. Each block is
 * one `acsim --scenario S --seeds A..B --verbose [mode]` child process;
 * --jobs of them run at once (default 2). A failing seed prints acsim's
 * FAILED line and its reproduce command; then the sweep stops (default) or,
 * with --keep-going, goes on with the next seed. A child that dies (a
 * signal, an assertion) or says nothing for --seed-timeout wall seconds
 * (default 600; it is killed) fails its current seed likewise, with a
 * reproduce command made here.
 *
 * --state FILE makes the sweep resumable: a header naming the range, the
 * chunk and the configurations, then one line per finished block ("done
 * K") and per failure ("fail SEED reproduce-command"), appended as they
 * happen. Run the same command again to go on from there (interrupted
 * blocks are run again whole); a state file of another sweep is refused.
 *
 * Output: the progress line on standard error (seeds done, failures,
 * seeds/s of this session, the time left), failures on standard output,
 * and at the end "N passed, M failed" (seeds of the whole sweep, state
 * included). Exit status: 0 when every seed passed, 1 when one failed,
 * 2 for bad usage or a state file that does not match, 3 when interrupted
 * (SIGINT, SIGTERM; the children are killed, the state stays valid).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SWEEP_JOBS_MAX 64
#define SWEEP_CONFIGS_MAX 1024
#define SWEEP_LINE 1024

/* The fault modes every scenario runs under (acsim options). */
static const char *const sweep_modes[] = {
	"--profile clean", "--profile lossy", "--profile partitions",
	"--profile crashes", "--profile clean --buggify", "--profile lossy --buggify",
	"--profile partitions --buggify", "--profile crashes --buggify", "--swarm",
};
#define SWEEP_NMODES (sizeof(sweep_modes) / sizeof(sweep_modes[0]))

typedef struct sweep_args {
	uint64_t lo, hi, chunk;
	int jobs, keep_going;
	double seed_timeout;
	const char *state, *acsim, *only;
} sweep_args;

/* One running child: block k, seeds [next, hi] still to confirm. */
typedef struct sweep_job {
	pid_t pid;
	int fd;
	uint64_t block, next, hi;
	double last;
	size_t len;
	char buf[SWEEP_LINE];
	char last_line[SWEEP_LINE];
	int failed_seen;
	uint64_t fail_seed;
} sweep_job;

typedef struct sweep {
	sweep_args a;
	char *scen[SWEEP_CONFIGS_MAX];
	size_t nscen, nconf;
	uint64_t nblocks, next_block;
	unsigned char *done;
	uint64_t seeds_done, seeds_ok_now, failed;
	FILE *state;
	sweep_job job[SWEEP_JOBS_MAX];
	int stop;
	double t0, last_progress;
} sweep;

static volatile sig_atomic_t sweep_interrupted;

static void sweep_on_signal(int sig)
{
	(void)sig;
	sweep_interrupted = 1;
}

static double sweep_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- configurations -------------------------------------------------------------- */

/* Scenario names from `acsim --list` (between "Scenarios:" and
 * "Profiles:"). Returns their count, 0 on failure. */
static size_t sweep_scenarios(sweep *s)
{
	char cmd[SWEEP_LINE + 16], line[SWEEP_LINE], name[128];
	int on = 0;
	FILE *p;
	snprintf(cmd, sizeof(cmd), "'%s' --list", s->a.acsim);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		if (!strncmp(line, "Scenarios:", 10)) {
			on = 1;
			continue;
		}
		if (!strncmp(line, "Profiles:", 9))
			on = 0;
		if (!on || sscanf(line, " %127s", name) != 1)
			continue;
		if (s->a.only && strcmp(name, s->a.only))
			continue;
		if (s->nscen < SWEEP_CONFIGS_MAX / SWEEP_NMODES)
			s->scen[s->nscen++] = strdup(name);
	}
	if (pclose(p) != 0)
		return 0;
	s->nconf = s->nscen * SWEEP_NMODES;
	return s->nscen;
}

/* Configuration c: its scenario and its mode. */
static const char *sweep_conf_scen(const sweep *s, uint64_t c)
{
	return s->scen[c / SWEEP_NMODES];
}

static const char *sweep_conf_mode(uint64_t c)
{
	return sweep_modes[c % SWEEP_NMODES];
}

/* The configuration a seed runs under. */
static uint64_t sweep_conf_of(const sweep *s, uint64_t seed)
{
	return ((seed - s->a.lo) / s->a.chunk) % s->nconf;
}

/* ---- the state file -------------------------------------------------------------- */

/* The header line: the sweep's identity. */
static void sweep_header(const sweep *s, char *buf, size_t len)
{
	size_t i, k;
	k = (size_t)snprintf(buf, len, "acsweep 1 seeds %" PRIu64 "..%" PRIu64
	                     " chunk %" PRIu64 " modes %zu scenarios", s->a.lo,
	                     s->a.hi, s->a.chunk, SWEEP_NMODES);
	for (i = 0; i < s->nscen && k < len; i++)
		k += (size_t)snprintf(buf + k, len - k, " %s", s->scen[i]);
	if (k < len)
		snprintf(buf + k, len - k, "\n");
}

/* Seeds in block b. */
static uint64_t sweep_block_len(const sweep *s, uint64_t b)
{
	uint64_t lo = s->a.lo + b * s->a.chunk;
	uint64_t hi = s->a.hi - lo < s->a.chunk - 1 ? s->a.hi : lo + s->a.chunk - 1;
	return hi - lo + 1;
}

/* Count and print the failures a previous run recorded in blocks it
 * finished (a block not finished runs again, and fails again); fails[] holds
 * the offsets of the "fail" lines in f. */
static void sweep_state_fails(sweep *s, FILE *f, const long *fails, size_t n)
{
	char line[SWEEP_LINE * 2];
	uint64_t seed, prev[64];
	size_t i, k, np = 0;
	for (i = 0; i < n; i++) {
		if (fseek(f, fails[i], SEEK_SET) < 0 || !fgets(line, sizeof(line), f) ||
		    sscanf(line, "fail %" SCNu64, &seed) != 1 || seed < s->a.lo ||
		    seed > s->a.hi || !s->done[(seed - s->a.lo) / s->a.chunk])
			continue;
		for (k = 0; k < np && prev[k] != seed; k++)
			;
		if (k < np)
			continue; /* recorded twice (its block ran twice) */
		if (np < 64)
			prev[np++] = seed;
		s->failed++;
		printf("earlier failure: %s", line + 5);
	}
}

/* Read what a previous run recorded; -1 when the file is another sweep's. */
static int sweep_state_load(sweep *s, FILE *f, const char *hdr)
{
	char line[SWEEP_LINE * 2];
	long fails[1024], at = ftell(f);
	size_t nf = 0;
	uint64_t b;
	if (!fgets(line, sizeof(line), f))
		return 1; /* empty: a new sweep */
	if (strcmp(line, hdr) != 0)
		return -1;
	for (at = ftell(f); fgets(line, sizeof(line), f); at = ftell(f)) {
		if (!strchr(line, '\n'))
			break; /* a line cut by an interruption */
		if (sscanf(line, "done %" SCNu64, &b) == 1 && b < s->nblocks &&
		    !s->done[b]) {
			s->done[b] = 1;
			s->seeds_done += sweep_block_len(s, b);
		} else if (!strncmp(line, "fail ", 5) && nf < 1024) {
			fails[nf++] = at;
		}
	}
	sweep_state_fails(s, f, fails, nf);
	return 0;
}

static int sweep_state_open(sweep *s)
{
	char hdr[SWEEP_LINE * 2];
	int rc = 1;
	FILE *f;
	sweep_header(s, hdr, sizeof(hdr));
	f = fopen(s->a.state, "r");
	if (f) {
		rc = sweep_state_load(s, f, hdr);
		fclose(f);
	}
	if (rc < 0) {
		fprintf(stderr, "acsweep: %s belongs to another sweep (its first line"
		        " differs from:\n%s)\n", s->a.state, hdr);
		return -1;
	}
	s->state = fopen(s->a.state, "a");
	if (!s->state) {
		fprintf(stderr, "acsweep: %s: %s\n", s->a.state, strerror(errno));
		return -1;
	}
	if (rc == 1)
		fputs(hdr, s->state);
	fflush(s->state);
	return 0;
}

static void sweep_state_put(sweep *s, const char *fmt, uint64_t v, const char *text)
{
	if (!s->state)
		return;
	fprintf(s->state, fmt, v, text);
	fflush(s->state);
}

/* ---- children ---------------------------------------------------------------------- */

/* Start acsim for seeds [lo, hi] of block b in job j. 0 or -1. */
static int sweep_spawn(sweep *s, sweep_job *j, uint64_t b, uint64_t lo, uint64_t hi)
{
	char seeds[64], mode[64], *argv[16], *tok, *save = NULL;
	uint64_t c = sweep_conf_of(s, lo);
	int fds[2], n = 0;
	pid_t pid;
	snprintf(seeds, sizeof(seeds), "%" PRIu64 "..%" PRIu64, lo, hi);
	snprintf(mode, sizeof(mode), "%s", sweep_conf_mode(c));
	argv[n++] = (char *)s->a.acsim;
	argv[n++] = "--scenario";
	argv[n++] = (char *)sweep_conf_scen(s, c);
	argv[n++] = "--seeds";
	argv[n++] = seeds;
	argv[n++] = "--verbose";
	for (tok = strtok_r(mode, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execv(s->a.acsim, argv);
		_exit(127);
	}
	close(fds[1]);
	memset(j, 0, sizeof(*j));
	j->pid = pid;
	j->fd = fds[0];
	j->block = b;
	j->next = lo;
	j->hi = hi;
	j->last = sweep_wall();
	return 0;
}

/* The reproduce command of a seed (for a child that could not say it). */
static void sweep_repro(const sweep *s, uint64_t seed, char *buf, size_t len)
{
	uint64_t c = sweep_conf_of(s, seed);
	snprintf(buf, len, "reproduce: acsim --scenario %s --seed %" PRIu64 " %s"
	         " --trace trace.txt", sweep_conf_scen(s, c), seed, sweep_conf_mode(c));
}

/* A failing seed: print it, record it, stop unless --keep-going. */
static void sweep_fail(sweep *s, uint64_t seed, const char *why, const char *repro)
{
	s->failed++;
	printf("\nFAILED seed %" PRIu64 ": %s\n%s\n", seed, why, repro);
	fflush(stdout);
	sweep_state_put(s, "fail %" PRIu64 " %s\n", seed, repro);
	if (!s->a.keep_going)
		s->stop = 1;
}

/* One line of a child's output. */
static void sweep_line(sweep *s, sweep_job *j, const char *line)
{
	uint64_t seed;
	char what[16];
	size_t n;
	j->last = sweep_wall();
	n = strlen(line);
	if (n >= sizeof(j->last_line))
		n = sizeof(j->last_line) - 1;
	memmove(j->last_line, line, n); /* line is in j->buf, not here */
	j->last_line[n] = '\0';
	if (sscanf(line, "seed %" SCNu64 ": %15s", &seed, what) == 2) {
		if (!strcmp(what, "ok") && seed == j->next) {
			j->next++;
			s->seeds_ok_now++;
			s->seeds_done++;
		} else if (!strcmp(what, "FAILED") && seed == j->next) {
			j->failed_seen = 1;
			j->fail_seed = seed;
			printf("\n%s\n", line);
		}
	} else if (!strncmp(line, "reproduce: ", 11) && j->failed_seen &&
	           j->fail_seed == j->next) {
		s->seeds_done++;
		sweep_fail(s, j->next, "the oracle above", line);
		j->next++;
	}
}

/* Read what job j wrote; split it into lines. 0 at end of file. */
static int sweep_read(sweep *s, sweep_job *j)
{
	ssize_t n = read(j->fd, j->buf + j->len, sizeof(j->buf) - 1 - j->len);
	char *nl;
	if (n < 0)
		return errno == EINTR ? 1 : 0;
	if (n == 0)
		return 0;
	j->len += (size_t)n;
	j->buf[j->len] = '\0';
	while ((nl = strchr(j->buf, '\n')) != NULL) {
		*nl = '\0';
		sweep_line(s, j, j->buf);
		j->len -= (size_t)(nl + 1 - j->buf);
		memmove(j->buf, nl + 1, j->len + 1);
	}
	if (j->len == sizeof(j->buf) - 1)
		j->len = 0; /* an overlong line: dropped */
	return 1;
}

/* Job j's child has ended with status st: account, and start what is left
 * of its block again after a failure (--keep-going). */
static void sweep_reap(sweep *s, sweep_job *j, int st)
{
	char repro[SWEEP_LINE], why[SWEEP_LINE + 64];
	close(j->fd);
	j->pid = 0;
	if (sweep_interrupted && j->next <= j->hi)
		return; /* killed by us (or the same ^C): its block runs again */
	if (j->next <= j->hi && !(WIFEXITED(st) && WEXITSTATUS(st) == 1 &&
	                          j->failed_seen)) {
		/* Died, hung or stopped short without naming a seed. */
		if (WIFSIGNALED(st))
			snprintf(why, sizeof(why), "acsim killed by signal %d (last line: %s)",
			         WTERMSIG(st), j->last_line);
		else
			snprintf(why, sizeof(why), "acsim exited with %d (last line: %s)",
			         WIFEXITED(st) ? WEXITSTATUS(st) : -1, j->last_line);
		sweep_repro(s, j->next, repro, sizeof(repro));
		s->seeds_done++;
		sweep_fail(s, j->next, why, repro);
		j->next++;
	}
	if (j->next > j->hi) {
		s->done[j->block] = 1;
		sweep_state_put(s, "done %" PRIu64 "%s\n", j->block, "");
		return;
	}
	if (!s->stop && !sweep_interrupted &&
	    sweep_spawn(s, j, j->block, j->next, j->hi) < 0)
		s->stop = 1;
}

/* Start the next block not done yet in job j; 0 when none is left. */
static int sweep_next(sweep *s, sweep_job *j)
{
	while (s->next_block < s->nblocks && s->done[s->next_block])
		s->next_block++;
	if (s->next_block >= s->nblocks || s->stop || sweep_interrupted)
		return 0;
	{
		uint64_t b = s->next_block++;
		uint64_t lo = s->a.lo + b * s->a.chunk;
		if (sweep_spawn(s, j, b, lo, lo + sweep_block_len(s, b) - 1) < 0) {
			fprintf(stderr, "acsweep: cannot start %s: %s\n", s->a.acsim,
			        strerror(errno));
			s->stop = 1;
			return 0;
		}
	}
	return 1;
}

/* ---- the loop ------------------------------------------------------------------------ */

static void sweep_progress(sweep *s, int last)
{
	double now = sweep_wall(), rate = s->seeds_ok_now / (now - s->t0 + 1e-9);
	uint64_t total = s->a.hi - s->a.lo + 1, left = total - s->seeds_done;
	double eta = rate > 0 ? (double)left / rate : 0;
	int tty = isatty(2);
	if (!last && now - s->last_progress < (tty ? 1.0 : 30.0))
		return;
	s->last_progress = now;
	fprintf(stderr, "%sacsweep: %" PRIu64 "/%" PRIu64 " seeds (%.1f%%), %" PRIu64
	        " failed, %.1f seeds/s, %.0f s left%s", tty ? "\r" : "", s->seeds_done,
	        total, 100.0 * (double)s->seeds_done / (double)total, s->failed, rate,
	        eta, tty && !last ? "   " : "\n");
}

/* Wait for output or ends of the running children (up to 1 s). */
static void sweep_poll(sweep *s)
{
	struct pollfd pf[SWEEP_JOBS_MAX];
	int i, k = 0, map[SWEEP_JOBS_MAX];
	for (i = 0; i < s->a.jobs; i++)
		if (s->job[i].pid > 0) {
			pf[k].fd = s->job[i].fd;
			pf[k].events = POLLIN;
			map[k++] = i;
		}
	if (poll(pf, (nfds_t)k, 1000) <= 0)
		return;
	for (i = 0; i < k; i++) {
		sweep_job *j = &s->job[map[i]];
		int st;
		if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)) || sweep_read(s, j))
			continue;
		while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR)
			;
		sweep_reap(s, j, st);
	}
}

/* Kill the children of jobs silent for too long (or all, when stopping). */
static void sweep_watchdog(sweep *s)
{
	double now = sweep_wall();
	int i;
	for (i = 0; i < s->a.jobs; i++) {
		sweep_job *j = &s->job[i];
		if (j->pid <= 0)
			continue;
		if (sweep_interrupted || now - j->last > s->a.seed_timeout) {
			if (!sweep_interrupted)
				snprintf(j->last_line, sizeof(j->last_line),
				         "no progress for %.0f s", now - j->last);
			kill(j->pid, SIGKILL);
			j->last = now;
		}
	}
}

static int sweep_run(sweep *s)
{
	int i, running;
	for (i = 0; i < s->a.jobs; i++)
		sweep_next(s, &s->job[i]);
	for (;;) {
		running = 0;
		for (i = 0; i < s->a.jobs; i++) {
			if (s->job[i].pid <= 0)
				sweep_next(s, &s->job[i]);
			running += s->job[i].pid > 0;
		}
		if (!running)
			break;
		sweep_poll(s);
		sweep_watchdog(s);
		sweep_progress(s, 0);
	}
	sweep_progress(s, 1);
	printf("%" PRIu64 " passed, %" PRIu64 " failed\n", s->seeds_done - s->failed,
	       s->failed);
	if (sweep_interrupted) {
		fprintf(stderr, "acsweep: interrupted%s\n",
		        s->state ? "; run the same command to go on" : "");
		return 3;
	}
	return s->failed ? 1 : 0;
}

/* ---- the command line ---------------------------------------------------------------- */

static void sweep_usage(FILE *f)
{
	fprintf(f,
	        "usage: acsweep --seeds A..B [--jobs N] [--state FILE] [--keep-going]\n"
	        "               [--chunk N] [--seed-timeout S] [--scenario NAME]\n"
	        "               [--acsim PATH]\n"
	        "Runs every acsim scenario under every fault mode (4 profiles, each\n"
	        "without and with --buggify, and --swarm) over the seeds A..B, each\n"
	        "seed once (blocks of --chunk seeds, default 100, go round the\n"
	        "configurations), --jobs acsim processes at a time (default 2).\n"
	        "--state FILE: resumable (run the same command again to go on).\n"
	        "A failing seed prints its reproduce command; the sweep stops,\n"
	        "or goes on with --keep-going. --seed-timeout S (default 600): a\n"
	        "child silent that long is killed and its seed fails. --acsim:\n"
	        "the acsim program (default: next to acsweep).\n");
}

static int sweep_range(const char *t, uint64_t *lo, uint64_t *hi)
{
	char *end;
	*lo = strtoull(t, &end, 10);
	if (end == t || strncmp(end, "..", 2))
		return -1;
	t = end + 2;
	*hi = strtoull(t, &end, 10);
	return end == t || *end || *hi < *lo ? -1 : 0;
}

static void sweep_parse(int argc, char **argv, sweep_args *a)
{
	static const struct option lo[] = {
		{"seeds", required_argument, NULL, 'R'},
		{"jobs", required_argument, NULL, 'j'},
		{"state", required_argument, NULL, 's'},
		{"keep-going", no_argument, NULL, 'k'},
		{"chunk", required_argument, NULL, 'c'},
		{"seed-timeout", required_argument, NULL, 't'},
		{"scenario", required_argument, NULL, 'S'},
		{"acsim", required_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int ch, have = 0;
	memset(a, 0, sizeof(*a));
	a->jobs = 2;
	a->chunk = 100;
	a->seed_timeout = 600;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'R': have = sweep_range(optarg, &a->lo, &a->hi) == 0; break;
		case 'j': a->jobs = atoi(optarg); break;
		case 's': a->state = optarg; break;
		case 'k': a->keep_going = 1; break;
		case 'c': a->chunk = strtoull(optarg, NULL, 10); break;
		case 't': a->seed_timeout = atof(optarg); break;
		case 'S': a->only = optarg; break;
		case 'a': a->acsim = optarg; break;
		case 'h': sweep_usage(stdout); exit(0);
		default: sweep_usage(stderr); exit(2);
		}
	}
	if (!have || optind != argc || a->jobs < 1 || a->jobs > SWEEP_JOBS_MAX ||
	    a->chunk < 1 || a->seed_timeout <= 0) {
		sweep_usage(stderr);
		exit(2);
	}
}

/* acsim next to this program (argv[0]'s directory), else from PATH. */
static const char *sweep_acsim_path(const char *argv0)
{
	static char path[4096];
	const char *slash = strrchr(argv0, '/');
	if (!slash)
		return "acsim";
	snprintf(path, sizeof(path), "%.*s/acsim", (int)(slash - argv0), argv0);
	return path;
}

int main(int argc, char **argv)
{
	static sweep s;
	struct sigaction sa;
	sweep_parse(argc, argv, &s.a);
	if (!s.a.acsim)
		s.a.acsim = sweep_acsim_path(argv[0]);
	if (!sweep_scenarios(&s)) {
		fprintf(stderr, "acsweep: no scenarios from '%s --list'%s\n", s.a.acsim,
		        s.a.only ? " (by that --scenario name)" : "");
		return 2;
	}
	s.nblocks = (s.a.hi - s.a.lo) / s.a.chunk + 1;
	s.done = calloc(s.nblocks, 1);
	if (!s.done || (s.a.state && sweep_state_open(&s) < 0))
		return 2;
	/* Crashes discard coroutine stacks on purpose (see tests/acsim.test). */
	{
		const char *o = getenv("ASAN_OPTIONS");
		char buf[1024];
		snprintf(buf, sizeof(buf), "%s%sdetect_leaks=0", o ? o : "", o ? ":" : "");
		setenv("ASAN_OPTIONS", buf, 1);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sweep_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	s.t0 = s.last_progress = sweep_wall();
	return sweep_run(&s);
}
