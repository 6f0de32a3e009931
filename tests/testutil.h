/* tests/testutil.h: helpers shared by the Check suites — assertions that
 * print asyncoro's error names, running a coroutine body to completion on a
 * fresh scheduler (and counting the coroutines that ended), the clocks the
 * suites read, a spinner that holds the CPU so that several deadlines pass
 * in one scheduler pass, joining and settling coroutines, and a log sink
 * that records what a scheduler logged. Everything is static inline: each
 * suite is one program that includes this header.
 */
#ifndef AC_TESTS_TESTUTIL_H
#define AC_TESTS_TESTUTIL_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <asyncoro/asyncoro.h>

/* ---- assertions ------------------------------------------------------------ */

/* rc must be >= 0: the call succeeded (a count or a handle is fine). */
#define CK_OK(rc)                                                              \
	do {                                                                   \
		long ck_rc_ = (long)(rc);                                      \
		ck_assert_msg(ck_rc_ >= 0, "%s failed: %ld (%s)", #rc,         \
		              ck_rc_, ac_strerror((int)ck_rc_));               \
	} while (0)

/* rc must be exactly want: 0, a count, or an error such as -ETIMEDOUT. */
#define CK_RC(rc, want)                                                        \
	do {                                                                   \
		long ck_rc_ = (long)(rc);                                      \
		long ck_want_ = (long)(want);                                  \
		ck_assert_msg(ck_rc_ == ck_want_, "%s: got %ld (%s), want %ld (%s)", \
		              #rc, ck_rc_, ac_strerror((int)ck_rc_), ck_want_, \
		              ac_strerror((int)ck_want_));                     \
	} while (0)

/* ---- running a body ---------------------------------------------------------- */

/* A scheduler on the epoll backend with default options. */
static inline ac_sched *test_sched(void)
{
	ac_sched *s = NULL;
	ck_assert_int_eq(ac_sched_new(NULL, &s), 0);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* What test_run's coroutine runs: the body, then a mark that it returned. */
typedef struct test_body {
	ac_coro_fn fn;
	void *arg;
	/* Set when fn returned (it was not terminated and did not fail). */
	int returned;
} test_body;

static inline void test_body_coro(void *arg)
{
	test_body *b = arg;
	b->fn(b->arg);
	b->returned = 1;
}

/* Run fn(arg) as a coroutine on a fresh scheduler until every non-daemon
 * coroutine has ended; the scheduler is freed and must end cleanly, and fn
 * must have returned (not been terminated, not failed). Returns how many
 * coroutines ended: fn's own and every one it spawned that ended, which a
 * caller asserts exactly, besides what the body did (its results, a flag
 * its last line sets). */
static inline uint64_t test_run(ac_coro_fn fn, void *arg)
{
	test_body b = {fn, arg, 0};
	ac_sched *s = test_sched();
	ac_sched_stats st;
	CK_OK(ac_spawn(s, test_body_coro, &b, NULL, NULL));
	CK_OK(ac_sched_run(s));
	ac_sched_get_stats(s, &st);
	ac_sched_free(s);
	ck_assert_uint_eq(st.spawned, st.ended + st.live);
	ck_assert_msg(b.returned, "the body did not return (terminated or failed)");
	return st.ended;
}

/* ---- clocks -------------------------------------------------------------------- */

/* The current scheduler's clock in ms (inside a coroutine, or with a
 * current scheduler). */
static inline int64_t test_now_ms(void)
{
	return ac_sched_now_ns(ac_sched_self()) / 1000000;
}

/* The process's monotonic clock in ms, for budgets of tests that step
 * schedulers themselves. */
static inline int64_t test_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How much slower than usual this run may be: AC_TEST_TIME_SCALE (set by
 * tools/test.sh --valgrind), at least 1. */
static inline int test_time_scale(void)
{
	const char *scale = getenv("AC_TEST_TIME_SCALE");
	return scale && atoi(scale) > 1 ? atoi(scale) : 1;
}

/* ---- coroutine helpers ------------------------------------------------------- */

/* A coroutine body that holds the CPU for *(int *)arg ms without yielding:
 * timers that expire meanwhile all fire in the scheduler's next pass, in
 * deadline order, before any of their coroutines runs. */
static inline void test_spin(void *arg)
{
	int64_t end = test_now_ms() + *(int *)arg;
	while (test_now_ms() < end)
		;
}

/* Spawn test_spin(ms) on the current scheduler. */
static inline void test_spawn_spinner(int *ms)
{
	CK_OK(ac_spawn(NULL, test_spin, ms, NULL, NULL));
}

/* Wait (in a coroutine) until coroutine r has ended (it may have already). */
static inline void test_join(ac_ref r)
{
	int rc = ac_finish(r, 20000, NULL);
	ck_assert_msg(rc == 0 || rc == -ESRCH, "ac_finish: %s", ac_strerror(rc));
	ck_assert_int_eq(ac_is_alive(r), 0);
}

/* Let every other ready coroutine run until it blocks (sleeps 10 ms). */
static inline void test_settle(void)
{
	CK_OK(ac_sleep(10));
}

/* ---- logs ------------------------------------------------------------------------ */

/* What a scheduler logged: one "LEVEL text\n" line per call. */
typedef struct test_log {
	/* Lines logged. */
	int n;
	/* The lines, NUL-terminated (NULL until the first). */
	char *buf;
	size_t len;
	size_t cap;
} test_log;

/* An ac_log_fn recording into the test_log arg; with AC_TEST_LOG set in
 * the environment it also prints each line to standard error. */
static inline void test_log_sink(void *arg, int level, const char *text)
{
	test_log *l = arg;
	size_t need = strlen(text) + 16;
	if (getenv("AC_TEST_LOG"))
		fprintf(stderr, "[%d] %s\n", level, text);
	if (l->len + need > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		char *nb;
		while (cap < l->len + need)
			cap *= 2;
		nb = realloc(l->buf, cap);
		ck_assert_ptr_nonnull(nb);
		l->buf = nb;
		l->cap = cap;
	}
	l->len += (size_t)snprintf(l->buf + l->len, l->cap - l->len, "%d %s\n",
	                           level, text);
	l->n++;
}

/* 1 when a line containing text was logged. */
static inline int test_log_has(const test_log *l, const char *text)
{
	return l->buf && strstr(l->buf, text) != NULL;
}

/* Forget the lines logged so far. */
static inline void test_log_clear(test_log *l)
{
	l->n = 0;
	l->len = 0;
	if (l->buf)
		l->buf[0] = '\0';
}

static inline void test_log_free(test_log *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

/* A scheduler on the epoll backend whose log goes to *l (emptied first). */
static inline ac_sched *test_log_sched(test_log *l)
{
	ac_sched_opts o;
	ac_sched *s = NULL;
	memset(l, 0, sizeof(*l));
	ac_sched_opts_init(&o);
	o.log_fn = test_log_sink;
	o.log_arg = l;
	CK_OK(ac_sched_new(&o, &s));
	return s;
}

#endif /* AC_TESTS_TESTUTIL_H */
