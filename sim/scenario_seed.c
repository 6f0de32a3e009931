/* sim/scenario_seed.c: one seed of a sweep (sim/scenario.h) — a second run
 * for --check-determinism, a forked child for --fork (a crash of the
 * scenario's code then fails that seed, with its signal), the crash report
 * of an in-process sweep (a fatal signal prints the seed and its reproduce
 * command before it takes its course), and the reproduce command itself.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/scenario.h"

void ac__scen_repro(char *buf, size_t len, const char *prog, const char *from,
                    const ac__scen_args *a, uint64_t seed)
{
	size_t n = 0;
#define SCEN_PUT(...)                                                          \
	do {                                                                   \
		if (n < len)                                                   \
			n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__);  \
	} while (0)
	if (len == 0)
		return;
	buf[0] = '\0';
	SCEN_PUT("%s", prog);
	if (from)
		SCEN_PUT(" --load %s", from);
	SCEN_PUT(" --scenario %s --seed %" PRIu64, a->scenario, seed);
	if (a->profile)
		SCEN_PUT(" --profile %s", a->profile);
	if (a->swarm)
		SCEN_PUT(" --swarm");
	if (a->tls)
		SCEN_PUT(" --tls");
	if (a->buggify)
		SCEN_PUT(" --buggify");
	if (a->loss_set)
		SCEN_PUT(" --loss %g", a->loss);
	SCEN_PUT(" --faults-for %g --max-time %g", a->faults_s, a->max_s);
	if (a->max_steps != AC__SCEN_MAX_STEPS)
		SCEN_PUT(" --max-steps %" PRIu64, a->max_steps);
	if (a->timeout_s != AC__SCEN_TIMEOUT_S)
		SCEN_PUT(" --timeout %g", a->timeout_s);
	SCEN_PUT(" --trace trace.txt");
#undef SCEN_PUT
}

/* ---- crash reports ------------------------------------------------------------------ */

static const int scen_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define SCEN_NSIGS (sizeof(scen_sigs) / sizeof(scen_sigs[0]))
static struct sigaction scen_old[SCEN_NSIGS];
static int scen_wanted, scen_armed;
static volatile sig_atomic_t scen_on;
static char scen_seed[24];
static char scen_line[1200];
static char scen_tmo[160];

static void scen_write(const char *s);

/* SIGALRM: the seed ran out of wall-clock time. */
static void scen_alarm(int sig)
{
	(void)sig;
	if (scen_on) {
		scen_write(scen_tmo);
		scen_write(scen_line);
		_exit(1);
	}
}

void ac__scen_catch_set(uint64_t seed, const char *repro, double timeout_s)
{
	static int alarm_set;
	scen_on = 0;
	alarm(0);
	if (!repro)
		return;
	snprintf(scen_seed, sizeof(scen_seed), "%" PRIu64, seed);
	snprintf(scen_line, sizeof(scen_line), "reproduce: %s\n", repro);
	snprintf(scen_tmo, sizeof(scen_tmo), "seed %" PRIu64 ": FAILED: no progress: "
	         "wall-clock timeout of %g s (a node that never yields?)\n", seed, timeout_s);
	scen_wanted = 1;
	scen_on = 1;
	if (timeout_s > 0) {
		if (!alarm_set) {
			struct sigaction sa;
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = scen_alarm;
			sigemptyset(&sa.sa_mask);
			sigaction(SIGALRM, &sa, NULL);
			alarm_set = 1;
		}
		alarm((unsigned)(timeout_s + 0.999));
	}
}

static void scen_write(const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t k = write(STDOUT_FILENO, s, n);
		if (k <= 0)
			return;
		s += k;
		n -= (size_t)k;
	}
}

/* Report the seed once, put back the handler that was there, and let the
 * signal happen again (a fault re-runs its instruction; a sent signal is
 * raised again, pending until this returns). */
static void scen_crash(int sig, siginfo_t *si, void *uc)
{
	char num[8];
	size_t i;
	int k = sig, d = 0;
	(void)uc;
	if (scen_on) {
		scen_on = 0;
		do {
			num[d++] = (char)('0' + k % 10);
			k /= 10;
		} while (k && d < 7);
		num[d] = '\0';
		for (i = 0; i < (size_t)d / 2; i++) {
			char t = num[i];
			num[i] = num[d - 1 - (int)i];
			num[d - 1 - (int)i] = t;
		}
		scen_write("seed ");
		scen_write(scen_seed);
		scen_write(": FAILED: crashed with signal ");
		scen_write(num);
		scen_write(" in the scenario's code\n");
		scen_write(scen_line);
	}
	for (i = 0; i < SCEN_NSIGS; i++)
		if (scen_sigs[i] == sig)
			sigaction(sig, &scen_old[i], NULL);
	if (si->si_code <= 0)
		raise(sig);
}

void ac__scen_catch_arm(void)
{
	struct sigaction sa;
	size_t i;
	if (!scen_wanted || scen_armed)
		return;
	scen_armed = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = scen_crash;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	for (i = 0; i < SCEN_NSIGS; i++)
		sigaction(scen_sigs[i], &sa, &scen_old[i]);
}

/* ---- one seed ---------------------------------------------------------------------- */

/* The seed in this process, twice with --check-determinism. */
static int scen_seed_here(const ac__scen_args *a, const ac_scenario *sc, uint64_t seed,
                          FILE *trace, const ac__scen_hooks *h, ac__scen_result *res)
{
	ac__scen_result r2;
	int rc = ac__scen_run_one(a, sc, seed, trace, h, res);
	if (rc < 0 || !res->ok || !a->determinism)
		return rc;
	if (ac__scen_run_one(a, sc, seed, NULL, h, &r2) == 0 && r2.hash != res->hash) {
		res->ok = 0;
		snprintf(res->why, sizeof(res->why),
		         "not deterministic: hash %016" PRIx64 " then %016" PRIx64, res->hash,
		         r2.hash);
	}
	return rc;
}

/* Read len bytes (fewer at end of file, error, or when the wall-clock
 * deadline (CLOCK_MONOTONIC seconds; 0: none) passed: then *late = 1). */
static size_t scen_read(int fd, void *buf, size_t len, double deadline, int *late)
{
	size_t got = 0;
	while (got < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct timespec ts;
		ssize_t k;
		int ms = -1;
		if (deadline > 0) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ms = (int)((deadline - (double)ts.tv_sec - (double)ts.tv_nsec * 1e-9) *
			           1e3);
			if (ms <= 0) {
				*late = 1;
				break;
			}
		}
		if (poll(&p, 1, ms) == 0)
			continue;
		k = read(fd, (char *)buf + got, len - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	return got;
}

/* Why a child ended without a result. */
static void scen_lost(ac__scen_result *res, int st, int late, const ac__scen_args *a,
                      uint64_t seed)
{
	memset(res, 0, sizeof(*res));
	if (late)
		snprintf(res->why, sizeof(res->why), "no progress: wall-clock timeout of %g s at "
		         "seed %" PRIu64 " (a node that never yields?)", a->timeout_s, seed);
	else if (WIFSIGNALED(st))
		snprintf(res->why, sizeof(res->why), "crashed with signal %d (%s) in the "
		         "scenario's code", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(res->why, sizeof(res->why), "crashed: the seed's process exited with "
		         "status %d before reporting (see its standard error)",
		         WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* The child of --fork: the seed, then its result on fd. */
static void scen_child(int fd, const ac__scen_args *a, const ac_scenario *sc, uint64_t seed,
                       FILE *trace, const ac__scen_hooks *h)
{
	ac__scen_result res;
	int rc;
	scen_on = 0;
	rc = scen_seed_here(a, sc, seed, trace, h, &res);
	fflush(NULL);
	if (write(fd, &rc, sizeof(rc)) == (ssize_t)sizeof(rc) &&
	    write(fd, &res, sizeof(res)) == (ssize_t)sizeof(res))
		_exit(0);
	_exit(125);
}

static int scen_seed_fork(const ac__scen_args *a, const ac_scenario *sc, uint64_t seed,
                          FILE *trace, const ac__scen_hooks *h, ac__scen_result *res)
{
	int fds[2], rc = 0, st = 0, late = 0;
	double deadline = 0;
	struct timespec ts;
	size_t got;
	pid_t pid;
	memset(res, 0, sizeof(*res));
	fflush(NULL);
	if (pipe(fds) < 0)
		return -errno;
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		scen_child(fds[1], a, sc, seed, trace, h);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -errno;
	}
	if (a->timeout_s > 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		deadline = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + a->timeout_s;
	}
	got = scen_read(fds[0], &rc, sizeof(rc), deadline, &late);
	if (got == sizeof(rc))
		got += scen_read(fds[0], res, sizeof(*res), deadline, &late);
	close(fds[0]);
	if (late)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (got == sizeof(rc) + sizeof(*res))
		return rc;
	scen_lost(res, st, late, a, seed);
	return 0;
}

int ac__scen_run_seed(const ac__scen_args *a, const ac_scenario *sc, uint64_t seed,
                      FILE *trace, const ac__scen_hooks *h, ac__scen_result *res)
{
	if (a->fork)
		return scen_seed_fork(a, sc, seed, trace, h, res);
	return scen_seed_here(a, sc, seed, trace, h, res);
}
