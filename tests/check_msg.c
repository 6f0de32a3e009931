/* tests/check_msg.c: messages (engine/msg.c) — the constructors (new,
 * alloc, str, printf, dup) with their lengths and payload bytes on both
 * sides of the small-message cache limit, zero-length messages, ac_msg_is,
 * the defaults of kind, category and sender, exit notifications decoded
 * from a monitor's queue, the misuse the magic word catches (freeing a
 * queued message, freeing twice, sending a queued message), sending to
 * oneself, and 100,000 queued messages received in order.
 *
 * Misuse is reported through the scheduler's log, so those tests run on a
 * scheduler whose log sink records the text and check the report.
 */
#include "tests/testutil.h"

#include <stdio.h>

/* ---- helpers ------------------------------------------------------------- */

/* Run fn(arg) as a coroutine on s to completion (s stays). */
static void run_on(ac_sched *s, ac_coro_fn fn, void *arg)
{
	CK_OK(ac_spawn(s, fn, arg, NULL, NULL));
	CK_OK(ac_sched_run(s));
}

/* ---- constructors -------------------------------------------------------- */

static void check_new(void)
{
	static const unsigned char bin[] = {0, 1, 2, 0, 255, 0};
	ac_msg *m = ac_msg_new(bin, sizeof(bin));
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(ac_msg_len(m), sizeof(bin));
	ck_assert(memcmp(ac_msg_data(m), bin, sizeof(bin)) == 0);
	ck_assert_ptr_ne(ac_msg_data(m), bin); /* a copy */
	ck_assert_ptr_eq(ac_msg_data(m), ac_msg_wdata(m));
	ac_msg_free(m);
	m = ac_msg_new(NULL, 0); /* zero-length */
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(ac_msg_len(m), 0);
	ck_assert(ac_msg_is(m, ""));
	ac_msg_free(m);
	m = ac_msg_new("abc", 0);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(ac_msg_len(m), 0);
	ac_msg_free(m);
	ck_assert_ptr_null(ac_msg_new(NULL, 5));
}

START_TEST(test_new)
{
	ac_sched *s = test_sched();
	check_new();
	ac_sched_free(s);
	check_new(); /* without any scheduler (no cache) */
}
END_TEST

/* Sizes on both sides of the small-message cache limit (192 bytes). */
static const size_t sizes[] = {0, 1, 63, 191, 192, 193, 194, 4096, 1 << 20};

static void check_sizes(void)
{
	size_t i, j;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		unsigned char *want = malloc(n + 1);
		ac_msg *a, *m;
		for (j = 0; j < n; j++)
			want[j] = (unsigned char)(j * 31 + i);
		a = ac_msg_alloc(n);
		ck_assert_ptr_nonnull(a);
		ck_assert_uint_eq(ac_msg_len(a), n);
		if (n)
			memcpy(ac_msg_wdata(a), want, n);
		m = ac_msg_new(want, n);
		ck_assert_ptr_nonnull(m);
		ck_assert_uint_eq(ac_msg_len(m), n);
		ck_assert(memcmp(ac_msg_data(m), want, n) == 0);
		ck_assert(memcmp(ac_msg_data(a), want, n) == 0);
		ck_assert_int_eq(ac_msg_kind(a), AC_MSG_DATA);
		ac_msg_free(a);
		ac_msg_free(m);
		free(want);
	}
}

START_TEST(test_alloc_sizes)
{
	ac_sched *s = test_sched();
	check_sizes();
	check_sizes(); /* again, from the cache */
	ac_sched_free(s);
	check_sizes();
}
END_TEST

START_TEST(test_str_and_printf)
{
	ac_sched *s = test_sched();
	char big[400];
	ac_msg *m;
	size_t n;
	m = ac_msg_str("hello");
	ck_assert_uint_eq(ac_msg_len(m), 5);
	ck_assert(memcmp(ac_msg_data(m), "hello", 5) == 0);
	ck_assert(ac_msg_is(m, "hello"));
	ac_msg_free(m);
	m = ac_msg_str("");
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(ac_msg_len(m), 0);
	ac_msg_free(m);
	ck_assert_ptr_null(ac_msg_str(NULL));
	m = ac_msg_printf("%d-%s-%c", 42, "x", 'y');
	ck_assert(ac_msg_is(m, "42-x-y")); /* no NUL in the payload */
	ck_assert_uint_eq(ac_msg_len(m), 6);
	ac_msg_free(m);
	m = ac_msg_printf("%s", "");
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(ac_msg_len(m), 0);
	ac_msg_free(m);
	/* lengths around the cache limit, and well beyond */
	for (n = 189; n < sizeof(big); n += (n < 196 ? 1 : 100)) {
		memset(big, 'p', n);
		big[n] = '\0';
		m = ac_msg_printf("%s", big);
		ck_assert_uint_eq(ac_msg_len(m), n);
		ck_assert(ac_msg_is(m, big));
		ac_msg_free(m);
		m = ac_msg_str(big);
		ck_assert_uint_eq(ac_msg_len(m), n);
		ck_assert(ac_msg_is(m, big));
		ac_msg_free(m);
	}
	ac_sched_free(s);
}
END_TEST

START_TEST(test_msg_is)
{
	ac_sched *s = test_sched();
	ac_msg *m = ac_msg_str("abc");
	ac_msg *z = ac_msg_new("a\0c", 3);
	ck_assert_int_eq(ac_msg_is(m, "abc"), 1);
	ck_assert_int_eq(ac_msg_is(m, "ab"), 0);   /* not a prefix match */
	ck_assert_int_eq(ac_msg_is(m, "abcd"), 0);
	ck_assert_int_eq(ac_msg_is(m, "abd"), 0);
	ck_assert_int_eq(ac_msg_is(m, ""), 0);
	ck_assert_int_eq(ac_msg_is(z, "a"), 0);    /* embedded NUL */
	ck_assert_int_eq(ac_msg_is(NULL, "abc"), 0);
	ac_msg_free(m);
	ac_msg_free(z);
	ac_sched_free(s);
}
END_TEST

START_TEST(test_defaults)
{
	ac_sched *s = test_sched();
	ac_msg *m = ac_msg_str("x");
	ac_exit_info ei;
	ck_assert_int_eq(ac_msg_kind(m), AC_MSG_DATA);
	ck_assert_int_eq(ac_msg_category(m), 0);
	ck_assert(ac_ref_is_null(ac_msg_from(m)));
	CK_RC(ac_msg_exit(m, &ei), -EINVAL);
	CK_RC(ac_msg_exit(m, NULL), -EINVAL);
	CK_RC(ac_msg_exit(NULL, &ei), -EINVAL);
	ac_msg_free(m);
	/* reused from the cache: still clean defaults */
	m = ac_msg_alloc(3);
	ck_assert_int_eq(ac_msg_kind(m), AC_MSG_DATA);
	ck_assert_int_eq(ac_msg_category(m), 0);
	ck_assert(ac_ref_is_null(ac_msg_from(m)));
	ac_msg_free(m);
	ac_sched_free(s);
}
END_TEST

/* ---- dup ----------------------------------------------------------------- */

static int categ_len(const ac_msg *m, void *arg)
{
	(void)arg;
	return (int)ac_msg_len(m) + 100;
}

static void body_dup(void *arg)
{
	int *done = arg;
	ac_ref me = ac_self();
	ac_msg *m, *d;
	size_t i;
	ck_assert_ptr_null(ac_msg_dup(NULL));
	CK_OK(ac_set_categorizer(categ_len, NULL));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		m = ac_msg_alloc(n);
		memset(ac_msg_wdata(m), 'o', n);
		CK_OK(ac_send(me, m));
		CK_OK(ac_receive(0, &m));
		ck_assert_int_eq(ac_msg_category(m), (int)n + 100);
		d = ac_msg_dup(m);
		ck_assert_ptr_nonnull(d);
		ck_assert_ptr_ne(d, m);
		ck_assert_uint_eq(ac_msg_len(d), n);
		ck_assert_int_eq(ac_msg_kind(d), AC_MSG_DATA);
		ck_assert_int_eq(ac_msg_category(d), (int)n + 100);
		ck_assert(ac_ref_eq(ac_msg_from(d), me));
		if (n) {
			ck_assert(memcmp(ac_msg_data(d), ac_msg_data(m), n) == 0);
			/* independent payloads */
			memset(ac_msg_wdata(d), 'd', n);
			ck_assert_int_eq(((const char *)ac_msg_data(m))[n - 1], 'o');
		}
		ac_msg_free(m);
		ac_msg_free(d);
	}
	*done = 1;
}

START_TEST(test_dup)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_dup, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- exit notifications -------------------------------------------------- */

static void body_ret(void *arg)
{
	(void)arg;
	ac_return(ac_msg_str("result"));
}

static void body_fail(void *arg)
{
	(void)arg;
	ac_fail("bad %s", "thing");
}

static void body_block(void *arg)
{
	ac_msg *m;
	(void)arg;
	ac_receive(AC_FOREVER, &m);
}

static void check_exit(ac_ref who, int how, const char *text)
{
	ac_msg *m, *d;
	ac_exit_info ei;
	CK_OK(ac_receive(10000, &m));
	ck_assert_int_eq(ac_msg_kind(m), AC_MSG_EXIT);
	ck_assert(ac_ref_eq(ac_msg_from(m), who));
	memset(&ei, 0, sizeof(ei));
	CK_OK(ac_msg_exit(m, &ei));
	ck_assert(ac_ref_eq(ei.coro, who));
	ck_assert_int_eq(ei.how, how);
	ck_assert_uint_eq(ei.len, strlen(text));
	ck_assert(memcmp(ei.data, text, ei.len) == 0);
	ck_assert_uint_eq(ac_msg_len(m), ei.len);
	/* a copy decodes the same */
	d = ac_msg_dup(m);
	memset(&ei, 0, sizeof(ei));
	CK_OK(ac_msg_exit(d, &ei));
	ck_assert(ac_ref_eq(ei.coro, who));
	ck_assert_int_eq(ei.how, how);
	ck_assert_uint_eq(ei.len, strlen(text));
	ac_msg_free(d);
	ac_msg_free(m);
}

static void body_exit_msgs(void *arg)
{
	int *done = arg;
	ac_ref r;
	CK_OK(ac_spawn(NULL, body_ret, NULL, NULL, &r));
	CK_OK(ac_monitor(r));
	check_exit(r, AC_EXIT_RETURNED, "result");
	CK_OK(ac_spawn(NULL, body_fail, NULL, NULL, &r));
	CK_OK(ac_monitor(r));
	check_exit(r, AC_EXIT_FAILED, "bad thing");
	CK_OK(ac_spawn(NULL, body_block, NULL, NULL, &r));
	CK_OK(ac_monitor(r));
	ac_yield();
	CK_OK(ac_terminate(r));
	check_exit(r, AC_EXIT_TERMINATED, "");
	ck_assert_uint_eq(ac_queue_len(), 0);
	*done = 1;
}

START_TEST(test_exit_decode)
{
	int done = 0;
	/* The body and the returning, failing and terminated coroutines. */
	ck_assert_uint_eq(test_run(body_exit_msgs, &done), 4);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- misuse caught by the magic word ------------------------------------- */

static void body_free_queued(void *arg)
{
	int *done = arg;
	ac_msg *m = ac_msg_str("queued"), *got;
	CK_OK(ac_send(ac_self(), m));
	ac_msg_free(m); /* still in the queue: refused */
	CK_RC(ac_send(ac_self(), m), -EINVAL); /* not the sender's any more */
	CK_RC(ac_deliver(ac_self(), m, 0), -EINVAL);
	ck_assert_uint_eq(ac_queue_len(), 1);
	CK_OK(ac_receive(0, &got));
	ck_assert_ptr_eq(got, m);
	ck_assert(ac_msg_is(got, "queued")); /* intact */
	ac_msg_free(got);
	*done = 1;
}

START_TEST(test_free_queued_refused)
{
	test_log lr;
	ac_sched *s = test_log_sched(&lr);
	int done = 0;
	run_on(s, body_free_queued, &done);
	ck_assert_int_eq(done, 1);
	ck_assert_int_eq(lr.n, 1);
	ck_assert_msg(test_log_has(&lr, "queued"), "log: %s", lr.buf ? lr.buf : "");
	ac_sched_free(s);
	test_log_free(&lr);
}
END_TEST

START_TEST(test_double_free_reported)
{
	test_log lr;
	ac_sched *s = test_log_sched(&lr);
	ac_msg *m = ac_msg_str("twice"), *n;
	ac_msg_free(m);
	ck_assert_int_eq(lr.n, 0);
	ac_msg_free(m); /* reported, ignored */
	ck_assert_int_eq(lr.n, 1);
	ck_assert_msg(test_log_has(&lr, "twice"), "log: %s", lr.buf ? lr.buf : "");
	ac_msg_free(NULL); /* nothing, silently */
	ck_assert_int_eq(lr.n, 1);
	/* a freed message cannot be sent either */
	CK_RC(ac_send(ac_ref_null(), m), -EINVAL);
	/* the cache was not corrupted: two new messages are distinct */
	m = ac_msg_str("a");
	n = ac_msg_str("b");
	ck_assert_ptr_ne(m, n);
	ck_assert(ac_msg_is(m, "a"));
	ck_assert(ac_msg_is(n, "b"));
	ac_msg_free(m);
	ac_msg_free(n);
	ck_assert_int_eq(lr.n, 1);
	ac_sched_free(s);
	test_log_free(&lr);
}
END_TEST

/* ---- sending to oneself -------------------------------------------------- */

static void body_self(void *arg)
{
	int *done = arg;
	ac_ref me = ac_self();
	ac_msg *m;
	CK_OK(ac_send(me, ac_msg_str("to me")));
	CK_OK(ac_send_data(me, "", 0)); /* zero-length */
	ck_assert_int_eq(ac_deliver(me, ac_msg_str("delivered"), 0), 1);
	ck_assert_uint_eq(ac_queue_len(), 3);
	CK_OK(ac_receive(0, &m));
	ck_assert(ac_msg_is(m, "to me"));
	ck_assert(ac_ref_eq(ac_msg_from(m), me));
	ck_assert_int_eq(ac_msg_kind(m), AC_MSG_DATA);
	ac_msg_free(m);
	CK_OK(ac_receive(0, &m));
	ck_assert_uint_eq(ac_msg_len(m), 0);
	ck_assert(ac_ref_eq(ac_msg_from(m), me));
	ac_msg_free(m);
	CK_OK(ac_receive(0, &m));
	ck_assert(ac_msg_is(m, "delivered"));
	ac_msg_free(m);
	CK_RC(ac_receive(0, &m), -ETIMEDOUT);
	ck_assert_uint_eq(ac_queue_len(), 0);
	*done = 1;
}

START_TEST(test_send_to_self)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_self, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- volume -------------------------------------------------------------- */

enum { N100K = 100000 };

/* Queue N100K messages to oneself, then receive them; *arg counts those
 * received in order. */
static void body_100k(void *arg)
{
	enum { N = N100K };
	int *in_order = arg;
	ac_ref me = ac_self();
	char want[300];
	int i;
	for (i = 0; i < N; i++) {
		/* every 97th message is too big for the cache */
		ac_msg *m = i % 97 == 0 ? ac_msg_printf("%d:%0250d", i, i)
		                        : ac_msg_printf("%d", i);
		ck_assert_ptr_nonnull(m);
		CK_OK(ac_send(me, m));
	}
	ck_assert_uint_eq(ac_queue_len(), N);
	for (i = 0; i < N; i++) {
		ac_msg *m;
		CK_OK(ac_receive(0, &m));
		if (i % 97 == 0)
			snprintf(want, sizeof(want), "%d:%0250d", i, i);
		else
			snprintf(want, sizeof(want), "%d", i);
		ck_assert_msg(ac_msg_is(m, want), "message %d out of order", i);
		ac_msg_free(m);
		(*in_order)++;
	}
	ck_assert_uint_eq(ac_queue_len(), 0);
}

START_TEST(test_100k_in_order)
{
	int in_order = 0;
	ck_assert_uint_eq(test_run(body_100k, &in_order), 1);
	ck_assert_int_eq(in_order, N100K);
}
END_TEST

static void body_nap(void *arg)
{
	(void)arg;
	CK_OK(ac_sleep(20));
}

static void body_queue_at_end(void *arg)
{
	int *done = arg;
	ac_ref a, b;
	ac_msg *m;
	int i;
	CK_OK(ac_spawn(NULL, body_block, NULL, NULL, &a));
	CK_OK(ac_spawn(NULL, body_nap, NULL, NULL, &b));
	ac_yield();
	/* queued messages of a coroutine that ends, terminated or returning,
	 * are freed with it (the leak checkers see the rest) */
	for (i = 0; i < 1000; i++) {
		CK_OK(ac_send(a, ac_msg_printf("m%d", i)));
		CK_OK(ac_send(b, ac_msg_printf("%0300d", i)));
	}
	CK_OK(ac_terminate(a));
	CK_OK(ac_finish(b, 10000, NULL));
	/* a dead recipient drops what it is sent; deliver refuses */
	CK_OK(ac_send(a, ac_msg_str("dropped")));
	CK_OK(ac_send(b, ac_msg_str("dropped")));
	m = ac_msg_str("kept");
	CK_RC(ac_deliver(b, m, 0), -ESRCH);
	ac_msg_free(m);
	*done = 1;
}

START_TEST(test_queue_freed_at_end)
{
	int done = 0;
	/* The body, the terminated and the returning recipient. */
	ck_assert_uint_eq(test_run(body_queue_at_end, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

static Suite *msg_suite(void)
{
	Suite *s = suite_create("msg");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_new);
	tcase_add_test(tc, test_alloc_sizes);
	tcase_add_test(tc, test_str_and_printf);
	tcase_add_test(tc, test_msg_is);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_dup);
	tcase_add_test(tc, test_exit_decode);
	tcase_add_test(tc, test_free_queued_refused);
	tcase_add_test(tc, test_double_free_reported);
	tcase_add_test(tc, test_send_to_self);
	tcase_add_test(tc, test_100k_in_order);
	tcase_add_test(tc, test_queue_freed_at_end);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(msg_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
