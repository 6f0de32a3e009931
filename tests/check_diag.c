/* tests/check_diag.c: diagnostics — exit reason names, the report of a
 * coroutine's stack overflow on standard error (in a child process, which
 * must die of SIGSEGV as before; an ordinary segfault gets no report; a
 * program's own SIGSEGV handler is left alone), the rate limit of repeated
 * log lines (on the simulator, whose virtual clock makes the output exact)
 * and the AC_LOG_LEVEL environment variable.
 *
 * The stack overflow tests run the child as a fresh process (this program,
 * re-executed with "child SCENARIO"), so that the handler is installed
 * there whatever earlier tests did. They are left out, with a line saying
 * so, under AddressSanitizer (which owns SIGSEGV) and valgrind.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asyncoro/asyncoro.h>
#include <asyncoro/sim.h>

#include "tests/testutil.h"

#if defined(HAVE_VALGRIND_VALGRIND_H)
#include <valgrind/valgrind.h>
#endif

#if defined(AC_HAVE_ASAN) || defined(__SANITIZE_ADDRESS__)
#define DIAG_ASAN 1
#else
#define DIAG_ASAN 0
#endif

/* ---- exit reason names ------------------------------------------------------ */

START_TEST(test_exit_reason_name)
{
	ck_assert_str_eq(ac_exit_reason_name(AC_EXIT_RETURNED), "returned");
	ck_assert_str_eq(ac_exit_reason_name(AC_EXIT_FAILED), "failed");
	ck_assert_str_eq(ac_exit_reason_name(AC_EXIT_TERMINATED), "terminated");
	ck_assert_str_eq(ac_exit_reason_name(AC_EXIT_NODE_LOST), "node lost");
	ck_assert_str_eq(ac_exit_reason_name(4), "unknown");
	ck_assert_str_eq(ac_exit_reason_name(-1), "unknown");
	ck_assert_str_eq(ac_exit_reason_name(1000), "unknown");
}
END_TEST

/* ---- stack overflow: the child's side ------------------------------------------ */

/* Keeps the recursion from being infinite in the compiler's eyes. */
static volatile int diag_depth_max = 1 << 30;

static __attribute__((noinline)) int diag_recurse(int depth)
{
	volatile char pad[1024];
	size_t i;
	if (depth > diag_depth_max)
		return 0;
	for (i = 0; i < sizeof(pad); i += 64)
		pad[i] = (char)depth;
	return diag_recurse(depth + 1) + pad[(size_t)depth % sizeof(pad)];
}

static void body_recurse(void *arg)
{
	(void)arg;
	printf("%d\n", diag_recurse(0));
}

/* A 256 KiB local array on a 64 KiB stack, touched from its top down. */
static __attribute__((noinline)) void diag_big_array(void)
{
	volatile char big[256 * 1024];
	size_t i;
	for (i = sizeof(big); i >= 512; i -= 512)
		big[i - 1] = (char)i;
	printf("%d\n", big[7]);
}

static void body_big_array(void *arg)
{
	(void)arg;
	diag_big_array();
}

static void body_null(void *arg)
{
	volatile int *volatile p = arg;
	*p = 1;
}

static void diag_segv_handler(int sig)
{
	(void)sig;
	_exit(3);
}

/* Run body as coroutine "deep" with a 64 KiB stack; returns only when the
 * body does. */
static int child_run(ac_coro_fn body)
{
	ac_sched *s;
	ac_spawn_opts so;
	struct rlimit nocore = {0, 0};
	setrlimit(RLIMIT_CORE, &nocore);
	if (ac_sched_new(NULL, &s) < 0)
		return 10;
	memset(&so, 0, sizeof(so));
	so.name = "deep";
	so.stack_size = 64 * 1024;
	if (ac_spawn(s, body, NULL, &so, NULL) < 0)
		return 11;
	ac_sched_run(s);
	ac_sched_free(s);
	return 0;
}

/* A program's own SIGSEGV handler stays in place. */
static int child_user_handler(void)
{
	struct sigaction sa, now;
	ac_sched *s;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = diag_segv_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) != 0)
		return 20;
	if (ac_sched_new(NULL, &s) < 0)
		return 21;
	if (sigaction(SIGSEGV, NULL, &now) != 0)
		return 22;
	if ((now.sa_flags & SA_SIGINFO) || now.sa_handler != diag_segv_handler)
		return 23;
	ac_sched_free(s);
	return 0;
}

/* SIG_DFL: a handler on the alternate stack is installed; the thread gets
 * an alternate stack, which goes with its last scheduler. */
static int child_install(void)
{
	struct sigaction now;
	stack_t alt;
	ac_sched *a, *b;
	if (ac_sched_new(NULL, &a) < 0 || ac_sched_new(NULL, &b) < 0)
		return 30;
	if (sigaction(SIGSEGV, NULL, &now) != 0)
		return 31;
	if (!(now.sa_flags & SA_SIGINFO) || !(now.sa_flags & SA_ONSTACK))
		return 32;
	if (sigaltstack(NULL, &alt) != 0 || (alt.ss_flags & SS_DISABLE))
		return 33;
	ac_sched_free(a);
	if (sigaltstack(NULL, &alt) != 0 || (alt.ss_flags & SS_DISABLE))
		return 34; /* b still lives */
	ac_sched_free(b);
	if (sigaltstack(NULL, &alt) != 0 || !(alt.ss_flags & SS_DISABLE))
		return 35;
	return 0;
}

static int child_main(const char *what)
{
	if (!strcmp(what, "recurse"))
		return child_run(body_recurse);
	if (!strcmp(what, "array"))
		return child_run(body_big_array);
	if (!strcmp(what, "null"))
		return child_run(body_null);
	if (!strcmp(what, "user-handler"))
		return child_user_handler();
	if (!strcmp(what, "install"))
		return child_install();
	return 99;
}

/* ---- stack overflow: the parent's side ---------------------------------------- */

/* This program's file (read at start: under valgrind, /proc/self/exe itself
 * is valgrind's). */
static char diag_exe[4096];

typedef struct child_result {
	int status;
	char err[4096];
} child_result;

/* Run this program as "child what"; collect its standard error and status. */
static void child_spawn(const char *what, child_result *r)
{
	int fds[2];
	size_t used = 0;
	ssize_t n;
	pid_t pid;
	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *argv[] = {(char *)"check_diag", (char *)"child", (char *)what, NULL};
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execv(diag_exe, argv);
		_exit(98);
	}
	close(fds[1]);
	while ((n = read(fds[0], r->err + used, sizeof(r->err) - 1 - used)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_int_gt(n, 0);
		used += (size_t)n;
		if (used == sizeof(r->err) - 1)
			break;
	}
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &r->status, 0), pid);
}

/* The stack a 64 KiB request gets: whole pages, at least 4 of them (as
 * ac_sched_opts.stack_size says, and engine/stack.c does). */
static size_t diag_stack_bytes(void)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = 64 * 1024;
	if (size < 4 * pg)
		size = 4 * pg;
	return (size + pg - 1) / pg * pg;
}

static void check_overflow_child(const char *what)
{
	child_result r;
	char want[128];
	const char *at;
	child_spawn(what, &r);
	ck_assert_msg(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV,
	              "child %s: status %#x, want death by SIGSEGV; stderr:\n%s",
	              what, (unsigned)r.status, r.err);
	snprintf(want, sizeof(want),
	         "asyncoro: [node] stack overflow in coroutine deep (stack %zu bytes)",
	         diag_stack_bytes());
	at = strstr(r.err, want);
	ck_assert_msg(at != NULL, "child %s: no \"%s\" in:\n%s", what, want, r.err);
	/* One report. */
	ck_assert_msg(strstr(at + strlen(want), "stack overflow") == NULL,
	              "child %s: more than one report:\n%s", what, r.err);
	fprintf(stderr, "child %s: %s", what, r.err);
}

START_TEST(test_overflow_recursion)
{
	check_overflow_child("recurse");
}
END_TEST

START_TEST(test_overflow_big_array)
{
	check_overflow_child("array");
}
END_TEST

START_TEST(test_segv_not_overflow)
{
	child_result r;
	child_spawn("null", &r);
	ck_assert_msg(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV,
	              "status %#x; stderr:\n%s", (unsigned)r.status, r.err);
	ck_assert_msg(strstr(r.err, "stack overflow") == NULL, "stderr:\n%s", r.err);
}
END_TEST

START_TEST(test_segv_handler_install)
{
	child_result r;
	child_spawn("install", &r);
	ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
	              "status %#x; stderr:\n%s", (unsigned)r.status, r.err);
}
END_TEST

START_TEST(test_segv_user_handler_kept)
{
	child_result r;
	child_spawn("user-handler", &r);
	ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
	              "status %#x; stderr:\n%s", (unsigned)r.status, r.err);
}
END_TEST

/* ---- log capture ---------------------------------------------------------------- */

#define CAP_MAX 64

typedef struct capture {
	int n;
	int level[CAP_MAX];
	char line[CAP_MAX][1200];
} capture;

static capture cap;

static void cap_log(void *arg, int level, const char *text)
{
	capture *c = arg;
	ck_assert_int_lt(c->n, CAP_MAX);
	c->level[c->n] = level;
	snprintf(c->line[c->n], sizeof(c->line[0]), "%s", text);
	c->n++;
}

/* Assert that the captured lines from index from on are exactly want[]. */
static void cap_expect(const capture *c, int from, const char *const *want, int n)
{
	int i, same = c->n - from == n;
	for (i = 0; same && i < n; i++)
		same = !strcmp(c->line[from + i], want[i]);
	for (i = 0; !same && i < c->n; i++)
		fprintf(stderr, "  captured %d: %s\n", i, c->line[i]);
	ck_assert_int_eq(c->n - from, n);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(c->line[from + i], want[i]);
}

/* ---- rate limit on the simulator ------------------------------------------------ */

typedef struct sim_job {
	ac_coro_fn fn;
	void *arg;
} sim_job;

static void sim_job_main(ac_sim_node *n, void *arg)
{
	sim_job *j = arg;
	CK_OK(ac_spawn(ac_sim_node_sched(n), j->fn, j->arg, NULL, NULL));
}

/* Run fn(arg) as a coroutine of node "n1" of a simulated world until it
 * ends; the log (level DEBUG) goes to cap. Returns the world, not freed
 * yet (freeing it reports the counts still pending). */
static ac_sim *sim_log_run(ac_coro_fn fn, void *arg)
{
	static sim_job job;
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_node *n;
	memset(&cap, 0, sizeof(cap));
	job.fn = fn;
	job.arg = arg;
	ac_sim_opts_init(&o);
	o.seed = 7;
	o.log_fn = cap_log;
	o.log_arg = &cap;
	o.log_level = AC_LOG_DEBUG;
	CK_OK(ac_sim_new(&o, &w));
	CK_OK(ac_sim_node_add(w, "n1", &n));
	CK_OK(ac_sim_node_set_main(n, sim_job_main, &job));
	ck_assert_int_eq(ac_sim_run(w, ac_sim_all_finished, NULL), AC_SIM_DONE);
	return w;
}

typedef struct repeat_state {
	/* Lines captured at two points of the body. */
	int after_burst;
	int after_window;
} repeat_state;

static void body_repeat(void *arg)
{
	repeat_state *st = arg;
	ac_sched *s = ac_sched_self();
	int i;
	for (i = 0; i < 100; i++)
		ac_log(s, AC_LOG_INFO, "same line %d", 7);
	st->after_burst = cap.n;
	ac_sleep(11000);
	ac_log(s, AC_LOG_INFO, "same line %d", 7);
	st->after_window = cap.n;
	ac_log(s, AC_LOG_INFO, "line A");
	ac_log(s, AC_LOG_WARN, "line B");
	ac_log(s, AC_LOG_INFO, "line B"); /* another level: another line */
	ac_log(s, AC_LOG_INFO, "line A");
	for (i = 0; i < 5; i++)
		ac_log(s, AC_LOG_ERROR, "bad thing");
	for (i = 0; i < 3; i++)
		ac_log(s, AC_LOG_INFO, "same line 7");
}

START_TEST(test_log_repeat)
{
	static const char *const want[] = {
		"[n1] same line 7",
		"[n1] same line 7 (99 identical lines suppressed in the last 11.0 s)",
		"[n1] line A",
		"[n1] line B",
		"[n1] line B",
		"[n1] bad thing",
		"[n1] bad thing",
		"[n1] bad thing",
		"[n1] bad thing",
		"[n1] bad thing",
	};
	static const char *const at_free[] = {
		"[n1] same line 7 (3 identical lines suppressed in the last 0.0 s)",
		"[n1] line A (1 identical line suppressed in the last 0.0 s)",
	};
	repeat_state st = {0, 0};
	ac_sim *w = sim_log_run(body_repeat, &st);
	ck_assert_int_eq(st.after_burst, 1);
	ck_assert_int_eq(st.after_window, 2);
	cap_expect(&cap, 0, want, 10);
	ck_assert_int_eq(cap.level[1], AC_LOG_INFO);
	ck_assert_int_eq(cap.level[3], AC_LOG_WARN);
	ck_assert_int_eq(cap.level[4], AC_LOG_INFO);
	ck_assert_int_eq(cap.level[5], AC_LOG_ERROR);
	/* Nothing is lost: the counts still pending come with the end. */
	ac_sim_free(w);
	cap_expect(&cap, 10, at_free, 2);
	ck_assert_int_eq(cap.level[11], AC_LOG_INFO);
}
END_TEST

/* Another line after the window reports the count of an old one first. */
static void body_sweep(void *arg)
{
	ac_sched *s = ac_sched_self();
	int i;
	(void)arg;
	for (i = 0; i < 3; i++)
		ac_log(s, AC_LOG_WARN, "flood");
	ac_sleep(10000); /* exactly the window: no longer suppressed */
	ac_log(s, AC_LOG_INFO, "other");
	ac_log(s, AC_LOG_WARN, "flood");
}

START_TEST(test_log_window_passed)
{
	static const char *const want[] = {
		"[n1] flood",
		"[n1] flood (2 identical lines suppressed in the last 10.0 s)",
		"[n1] other",
		"[n1] flood",
	};
	ac_sim *w = sim_log_run(body_sweep, NULL);
	cap_expect(&cap, 0, want, 4);
	ck_assert_int_eq(cap.level[1], AC_LOG_WARN);
	ac_sim_free(w);
	ck_assert_int_eq(cap.n, 4); /* nothing was pending */
}
END_TEST

/* 8 lines are remembered; a 9th takes the slot of the oldest, whose count
 * is reported first. */
static void body_slots(void *arg)
{
	ac_sched *s = ac_sched_self();
	int i;
	(void)arg;
	for (i = 0; i < 8; i++) {
		ac_log(s, AC_LOG_INFO, "line %d", i);
		ac_log(s, AC_LOG_INFO, "line %d", i);
	}
	ac_sleep(1);
	ac_log(s, AC_LOG_INFO, "line 0"); /* still in its window */
	ac_log(s, AC_LOG_INFO, "line 8");
	ac_log(s, AC_LOG_INFO, "line 0"); /* forgotten: shown again */
}

START_TEST(test_log_slot_reuse)
{
	static const char *const want[] = {
		"[n1] line 0", "[n1] line 1", "[n1] line 2", "[n1] line 3",
		"[n1] line 4", "[n1] line 5", "[n1] line 6", "[n1] line 7",
		"[n1] line 0 (2 identical lines suppressed in the last 0.0 s)",
		"[n1] line 8",
		"[n1] line 1 (1 identical line suppressed in the last 0.0 s)",
		"[n1] line 0",
	};
	ac_sim *w = sim_log_run(body_slots, NULL);
	cap_expect(&cap, 0, want, 12);
	ac_sim_free(w);
	/* Lines 2..7 had one copy suppressed each. */
	ck_assert_int_eq(cap.n, 18);
	ck_assert_str_eq(cap.line[12],
	                 "[n1] line 2 (1 identical line suppressed in the last 0.0 s)");
	ck_assert_str_eq(cap.line[17],
	                 "[n1] line 7 (1 identical line suppressed in the last 0.0 s)");
}
END_TEST

/* ---- AC_LOG_LEVEL ------------------------------------------------------------- */

/* A scheduler on epoll with options' level opt_level and AC_LOG_LEVEL=env
 * (NULL: unset); logs one line at each level into cap. */
static void env_level_run(const char *env, int opt_level)
{
	ac_sched_opts o;
	ac_sched *s;
	memset(&cap, 0, sizeof(cap));
	if (env)
		ck_assert_int_eq(setenv("AC_LOG_LEVEL", env, 1), 0);
	else
		ck_assert_int_eq(unsetenv("AC_LOG_LEVEL"), 0);
	ac_sched_opts_init(&o);
	o.log_fn = cap_log;
	o.log_arg = &cap;
	o.log_level = opt_level;
	o.name = "e";
	CK_OK(ac_sched_new(&o, &s));
	ck_assert_int_eq(unsetenv("AC_LOG_LEVEL"), 0);
	ac_log(s, AC_LOG_DEBUG, "debug line");
	ac_log(s, AC_LOG_INFO, "info line");
	ac_log(s, AC_LOG_WARN, "warn line");
	ac_log(s, AC_LOG_ERROR, "error line");
	ac_sched_free(s);
}

START_TEST(test_log_level_env)
{
	static const char *const all[] = {
		"[e] debug line", "[e] info line", "[e] warn line", "[e] error line",
	};
	static const char *const warn[] = { "[e] warn line", "[e] error line" };
	static const char *const bad[] = {
		"[e] AC_LOG_LEVEL=loud is not a log level (error, warn, info, debug "
		"or 0..3): ignored",
		"[e] error line",
	};
	env_level_run("debug", AC_LOG_ERROR);
	cap_expect(&cap, 0, all, 4);
	env_level_run("3", AC_LOG_ERROR);
	cap_expect(&cap, 0, all, 4);
	env_level_run("warn", AC_LOG_DEBUG);
	cap_expect(&cap, 0, warn, 2);
	env_level_run("WARN", AC_LOG_DEBUG);
	cap_expect(&cap, 0, warn, 2);
	env_level_run("0", AC_LOG_DEBUG);
	cap_expect(&cap, 0, all + 3, 1);
	env_level_run("info", AC_LOG_ERROR);
	cap_expect(&cap, 0, all + 1, 3);
	/* Not set, or empty: the options' level. */
	env_level_run(NULL, AC_LOG_WARN);
	cap_expect(&cap, 0, warn, 2);
	env_level_run("", AC_LOG_WARN);
	cap_expect(&cap, 0, warn, 2);
	/* Invalid: one warning (whatever the level), the options' level. */
	env_level_run("loud", AC_LOG_ERROR);
	cap_expect(&cap, 0, bad, 2);
	ck_assert_int_eq(cap.level[0], AC_LOG_WARN);
	env_level_run("4", AC_LOG_DEBUG);
	ck_assert_int_eq(cap.n, 5);
	ck_assert_str_eq(cap.line[0], "[e] AC_LOG_LEVEL=4 is not a log level (error, "
	                 "warn, info, debug or 0..3): ignored");
	ck_assert_str_eq(cap.line[1], "[e] debug line");
}
END_TEST

/* ---- the suite ---------------------------------------------------------------- */

/* Why the stack overflow tests cannot run here, or NULL. */
static const char *overflow_skip_reason(void)
{
	if (DIAG_ASAN)
		return "AddressSanitizer handles SIGSEGV itself";
#if defined(HAVE_VALGRIND_VALGRIND_H)
	if (RUNNING_ON_VALGRIND)
		return "running under valgrind";
#endif
	return NULL;
}

static Suite *diag_suite(void)
{
	Suite *s = suite_create("diag");
	TCase *tc = tcase_create("core");
	const char *skip = overflow_skip_reason();
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_exit_reason_name);
	tcase_add_test(tc, test_segv_user_handler_kept);
	if (skip) {
		printf("check_diag: stack overflow tests skipped: %s\n", skip);
	} else {
		tcase_add_test(tc, test_overflow_recursion);
		tcase_add_test(tc, test_overflow_big_array);
		tcase_add_test(tc, test_segv_not_overflow);
		tcase_add_test(tc, test_segv_handler_install);
	}
	tcase_add_test(tc, test_log_repeat);
	tcase_add_test(tc, test_log_window_passed);
	tcase_add_test(tc, test_log_slot_reuse);
	tcase_add_test(tc, test_log_level_env);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	SRunner *sr;
	int failed;
	ssize_t n;
	if (argc == 3 && !strcmp(argv[1], "child"))
		return child_main(argv[2]);
	n = readlink("/proc/self/exe", diag_exe, sizeof(diag_exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "check_diag: cannot find this program's file\n");
		return EXIT_FAILURE;
	}
	diag_exe[n] = '\0';
	/* The tests set the log level themselves. */
	unsetenv("AC_LOG_LEVEL");
	sr = srunner_create(diag_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
