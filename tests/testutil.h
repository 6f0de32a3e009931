/* tests/testutil.h: helpers shared by the Check suites — assertions that
 * print asyncoro's error names, and running a coroutine body to completion
 * on a fresh scheduler. */
#ifndef AC_TESTS_TESTUTIL_H
#define AC_TESTS_TESTUTIL_H

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/asyncoro.h>

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

/* A scheduler on the epoll backend with default options. */
static inline ac_sched *test_sched(void)
{
	ac_sched *s = NULL;
	ck_assert_int_eq(ac_sched_new(NULL, &s), 0);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Run fn(arg) as a coroutine on a fresh scheduler until every non-daemon
 * coroutine has ended; the scheduler is freed and must end cleanly.
 * Returns how many coroutines ended (at least the body's own). */
static inline uint64_t test_run(ac_coro_fn fn, void *arg)
{
	ac_sched *s = test_sched();
	ac_sched_stats st;
	CK_OK(ac_spawn(s, fn, arg, NULL, NULL));
	CK_OK(ac_sched_run(s));
	ac_sched_get_stats(s, &st);
	ac_sched_free(s);
	ck_assert_uint_eq(st.spawned, st.ended + st.live);
	return st.ended;
}

/* (old names, for suites not yet converted) */
#define CK_PASS(rc) CK_OK(rc)
#define CK_FAIL(rc, want) CK_RC(rc, want)

#endif /* AC_TESTS_TESTUTIL_H */
