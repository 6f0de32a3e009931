/* tests/check_sync.c: the synchronisation objects of engine/sync.c — Lock
 * (mutual exclusion across yields, -EDEADLK, -EPERM, timeouts, FIFO
 * hand-over), RLock (depth), Condition (wait/notify/notify_all, timeouts,
 * -EPERM without the lock), Event, Semaphore, the generic wait queue, and
 * what happens to each object when a waiter times out or is terminated
 * while blocked: the object must keep working for everyone else.
 *
 * Races between a timeout and a wake-up are made deterministic with a
 * spinner: a coroutine that holds the CPU without yielding until several
 * deadlines have passed, so their timers fire in one scheduler pass, in
 * deadline order, before any of the woken coroutines runs.
 */
#include "tests/testutil.h"

#include <stdio.h>

/* ---- helpers ------------------------------------------------------------- */

/* A coroutine working on a shared object, recording what it got. */
typedef struct worker {
	/* The object (ac_lock, ac_sem, ...). */
	void *obj;
	/* Timeout of its blocking call. */
	int64_t timeout_ms;
	/* Result of the blocking call; 99 until it returned. */
	int rc;
	/* Shared order log: each worker appends its tag when it gets through. */
	char *log;
	char tag;
	/* Set while it holds the object. */
	int holding;
	/* Ask it to give the object back. */
	int release;
} worker;

static void worker_init(worker *w, void *obj, int64_t timeout_ms, char *log,
                        char tag)
{
	memset(w, 0, sizeof(*w));
	w->obj = obj;
	w->timeout_ms = timeout_ms;
	w->rc = 99;
	w->log = log;
	w->tag = tag;
}

static void log_tag(worker *w)
{
	size_t n = strlen(w->log);
	w->log[n] = w->tag;
	w->log[n + 1] = '\0';
}

/* ---- Lock ---------------------------------------------------------------- */

static void body_lock_basic(void *arg)
{
	int *done = arg;
	ac_lock l;
	ac_lock_init(&l);
	ck_assert_uint_eq(l.owner, 0);
	CK_RC(ac_lock_release(&l), -EPERM); /* not held */
	CK_OK(ac_lock_acquire(&l, 0)); /* free: no waiting needed */
	ck_assert_uint_ne(l.owner, 0);
	CK_RC(ac_lock_acquire(&l, 0), -EDEADLK);
	CK_RC(ac_lock_acquire(&l, AC_FOREVER), -EDEADLK);
	CK_OK(ac_lock_release(&l));
	ck_assert_uint_eq(l.owner, 0);
	CK_RC(ac_lock_release(&l), -EPERM);
	CK_OK(ac_lock_acquire(&l, AC_FOREVER));
	CK_OK(ac_lock_release(&l));
	ck_assert(ac_waitq_empty(&l.wq));
	*done = 1;
}

START_TEST(test_lock_basic)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_lock_basic, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

typedef struct mutex_state {
	ac_lock lock;
	int inside;
	int total;
} mutex_state;

static void body_mutex_worker(void *arg)
{
	mutex_state *st = arg;
	int i, j;
	for (i = 0; i < 20; i++) {
		CK_OK(ac_lock_acquire(&st->lock, 10000));
		st->inside++;
		ck_assert_int_eq(st->inside, 1);
		for (j = 0; j < 3; j++) {
			ac_yield();
			ck_assert_int_eq(st->inside, 1);
		}
		if (i % 5 == 0)
			CK_OK(ac_sleep(1));
		st->inside--;
		st->total++;
		CK_OK(ac_lock_release(&st->lock));
		ac_yield();
	}
}

START_TEST(test_lock_mutual_exclusion)
{
	mutex_state st;
	ac_sched *s = test_sched();
	int i;
	memset(&st, 0, sizeof(st));
	ac_lock_init(&st.lock);
	for (i = 0; i < 5; i++)
		CK_OK(ac_spawn(s, body_mutex_worker, &st, NULL, NULL));
	CK_OK(ac_sched_run(s));
	ck_assert_int_eq(st.total, 100);
	ck_assert_int_eq(st.inside, 0);
	ck_assert_uint_eq(st.lock.owner, 0);
	ck_assert(ac_waitq_empty(&st.lock.wq));
	ac_sched_free(s);
}
END_TEST

static void body_lock_user(void *arg)
{
	worker *w = arg;
	w->rc = ac_lock_acquire(w->obj, w->timeout_ms);
	if (w->rc < 0)
		return;
	log_tag(w);
	w->holding = 1;
	while (!w->release)
		CK_OK(ac_sleep(1));
	w->holding = 0;
	CK_OK(ac_lock_release(w->obj));
}

static void body_lock_nonowner(void *arg)
{
	ac_lock *l = arg;
	int64_t t0 = test_now_ms();
	CK_RC(ac_lock_release(l), -EPERM);
	CK_RC(ac_lock_acquire(l, 0), -ETIMEDOUT);
	CK_RC(ac_lock_acquire(l, 30), -ETIMEDOUT);
	ck_assert_int_ge(test_now_ms() - t0, 25);
}

static void body_lock_contended(void *arg)
{
	int *done = arg;
	ac_lock l;
	ac_ref r;
	ac_lock_init(&l);
	CK_OK(ac_lock_acquire(&l, 0));
	CK_OK(ac_spawn(NULL, body_lock_nonowner, &l, NULL, &r));
	test_join(r);
	/* the owner is unaffected and nobody is left waiting */
	ck_assert(ac_waitq_empty(&l.wq));
	CK_OK(ac_lock_release(&l));
	CK_OK(ac_lock_acquire(&l, 0));
	CK_OK(ac_lock_release(&l));
	*done = 1;
}

START_TEST(test_lock_nonowner_and_timeout)
{
	int done = 0;
	/* The owner and the coroutine refused the lock. */
	ck_assert_uint_eq(test_run(body_lock_contended, &done), 2);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_lock_fifo(void *arg)
{
	int *done = arg;
	ac_lock l;
	worker w[4];
	ac_ref r[4];
	char log[8] = "";
	int i;
	ac_lock_init(&l);
	CK_OK(ac_lock_acquire(&l, 0));
	for (i = 0; i < 4; i++) {
		worker_init(&w[i], &l, AC_FOREVER, log, (char)('B' + i));
		w[i].release = 1;
		CK_OK(ac_spawn(NULL, body_lock_user, &w[i], NULL, &r[i]));
		test_settle(); /* queue them in a known order */
	}
	ck_assert_str_eq(log, "");
	CK_OK(ac_lock_release(&l));
	/* handed over to the oldest waiter: a newcomer cannot barge in */
	ck_assert_uint_ne(l.owner, 0);
	CK_RC(ac_lock_acquire(&l, 0), -ETIMEDOUT);
	CK_OK(ac_lock_acquire(&l, 10000)); /* queued behind all of them */
	ck_assert_str_eq(log, "BCDE");
	CK_OK(ac_lock_release(&l));
	for (i = 0; i < 4; i++) {
		test_join(r[i]);
		CK_OK(w[i].rc);
	}
	ck_assert_uint_eq(l.owner, 0);
	*done = 1;
}

START_TEST(test_lock_fifo_handover)
{
	int done = 0;
	/* The first owner and the four waiters it handed the lock to. */
	ck_assert_uint_eq(test_run(body_lock_fifo, &done), 5);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* B's acquire times out while the owner A sleeps; both deadlines pass in
 * one pass. A releases before B has run: the lock must go to C, not to B
 * (which has already given up). */
static void body_lock_timed_out_skipped(void *arg)
{
	int *done = arg;
	ac_lock l;
	worker b, c;
	ac_ref rb, rc;
	char log[8] = "";
	int spin = 1000;
	ac_lock_init(&l);
	CK_OK(ac_lock_acquire(&l, 0));
	worker_init(&b, &l, 300, log, 'B');
	worker_init(&c, &l, AC_FOREVER, log, 'C');
	c.release = 1;
	CK_OK(ac_spawn(NULL, body_lock_user, &b, NULL, &rb));
	CK_OK(ac_spawn(NULL, body_lock_user, &c, NULL, &rc));
	ac_yield(); /* both queue */
	test_spawn_spinner(&spin);
	CK_OK(ac_sleep(10)); /* wakes in the same pass as B's timeout */
	CK_OK(ac_lock_release(&l));
	test_join(rb);
	test_join(rc);
	CK_RC(b.rc, -ETIMEDOUT);
	CK_OK(c.rc);
	ck_assert_str_eq(log, "C");
	ck_assert_uint_eq(l.owner, 0);
	ck_assert(ac_waitq_empty(&l.wq));
	CK_OK(ac_lock_acquire(&l, 0));
	CK_OK(ac_lock_release(&l));
	*done = 1;
}

START_TEST(test_lock_timed_out_waiter_skipped)
{
	int done = 0;
	/* The owner, the waiter that timed out, the one served, the spinner. */
	ck_assert_uint_eq(test_run(body_lock_timed_out_skipped, &done), 4);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- RLock --------------------------------------------------------------- */

static void body_rlock_user(void *arg)
{
	worker *w = arg;
	CK_RC(ac_rlock_release(w->obj), -EPERM); /* not the owner */
	w->rc = ac_rlock_acquire(w->obj, w->timeout_ms);
	if (w->rc < 0)
		return;
	log_tag(w);
	CK_OK(ac_rlock_acquire(w->obj, 0));
	CK_OK(ac_rlock_release(w->obj));
	CK_OK(ac_rlock_release(w->obj));
}

static void body_rlock(void *arg)
{
	int *done = arg;
	ac_rlock l;
	worker w;
	ac_ref r;
	char log[4] = "";
	ac_rlock_init(&l);
	CK_RC(ac_rlock_release(&l), -EPERM);
	CK_OK(ac_rlock_acquire(&l, 0));
	CK_OK(ac_rlock_acquire(&l, 0));
	CK_OK(ac_rlock_acquire(&l, AC_FOREVER));
	ck_assert_uint_eq(l.depth, 3);
	worker_init(&w, &l, AC_FOREVER, log, 'W');
	CK_OK(ac_spawn(NULL, body_rlock_user, &w, NULL, &r));
	test_settle();
	CK_OK(ac_rlock_release(&l));
	CK_OK(ac_rlock_release(&l));
	test_settle();
	ck_assert_str_eq(log, ""); /* still held once */
	ck_assert_uint_eq(l.depth, 1);
	CK_OK(ac_rlock_release(&l));
	test_join(r);
	CK_OK(w.rc);
	ck_assert_str_eq(log, "W");
	CK_RC(ac_rlock_release(&l), -EPERM);
	ck_assert_uint_eq(l.depth, 0);
	ck_assert_uint_eq(l.lock.owner, 0);
	/* a timeout while another holds it */
	CK_OK(ac_rlock_acquire(&l, 0));
	CK_OK(ac_rlock_release(&l));
	*done = 1;
}

START_TEST(test_rlock_depth)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_rlock, &done), 2);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_rlock_timeout_user(void *arg)
{
	worker *w = arg;
	w->rc = ac_rlock_acquire(w->obj, w->timeout_ms);
}

static void body_rlock_timeout(void *arg)
{
	int *done = arg;
	ac_rlock l;
	worker w;
	ac_ref r;
	char log[4] = "";
	ac_rlock_init(&l);
	CK_OK(ac_rlock_acquire(&l, 0));
	worker_init(&w, &l, 20, log, 'W');
	CK_OK(ac_spawn(NULL, body_rlock_timeout_user, &w, NULL, &r));
	test_join(r);
	CK_RC(w.rc, -ETIMEDOUT);
	ck_assert_uint_eq(l.depth, 1); /* the owner's depth is untouched */
	CK_OK(ac_rlock_release(&l));
	*done = 1;
}

START_TEST(test_rlock_timeout)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_rlock_timeout, &done), 2);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- Condition ----------------------------------------------------------- */

typedef struct cond_state {
	ac_cond cond;
	/* Waiters that returned 0 from ac_cond_wait. */
	int woken;
	/* Waiters that returned -ETIMEDOUT. */
	int timed_out;
	/* Each waiter checks it holds the lock after waiting. */
	int held_after;
	int64_t timeout_ms;
} cond_state;

static void body_cond_waiter(void *arg)
{
	cond_state *st = arg;
	int rc;
	CK_OK(ac_cond_acquire(&st->cond, AC_FOREVER));
	rc = ac_cond_wait(&st->cond, st->timeout_ms);
	ck_assert_msg(rc == 0 || rc == -ETIMEDOUT, "wait: %s", ac_strerror(rc));
	if (rc == 0)
		st->woken++;
	else
		st->timed_out++;
	/* the lock is held again, whatever the result */
	CK_RC(ac_cond_acquire(&st->cond, 0), -EDEADLK);
	st->held_after++;
	CK_OK(ac_cond_release(&st->cond));
}

static void body_cond_misuse(void *arg)
{
	int *done = arg;
	ac_cond c;
	int64_t t0;
	ac_cond_init(&c);
	CK_RC(ac_cond_wait(&c, 10), -EPERM);
	CK_RC(ac_cond_notify(&c, 1), -EPERM);
	CK_RC(ac_cond_notify_all(&c), -EPERM);
	CK_RC(ac_cond_release(&c), -EPERM);
	CK_OK(ac_cond_acquire(&c, 0));
	CK_RC(ac_cond_notify(&c, -1), -EINVAL);
	ck_assert_int_eq(ac_cond_notify(&c, 1), 0); /* nobody waits */
	ck_assert_int_eq(ac_cond_notify_all(&c), 0);
	t0 = test_now_ms();
	CK_RC(ac_cond_wait(&c, 30), -ETIMEDOUT);
	ck_assert_int_ge(test_now_ms() - t0, 25);
	/* the lock is held again after the timeout */
	CK_RC(ac_cond_acquire(&c, 0), -EDEADLK);
	CK_OK(ac_cond_release(&c));
	CK_RC(ac_cond_release(&c), -EPERM);
	ck_assert(ac_waitq_empty(&c.wq));
	*done = 1;
}

START_TEST(test_cond_misuse_and_timeout)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_cond_misuse, &done), 1);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_cond_notify(void *arg)
{
	int *done = arg;
	cond_state st;
	ac_ref r[4];
	int i;
	memset(&st, 0, sizeof(st));
	ac_cond_init(&st.cond);
	st.timeout_ms = AC_FOREVER;
	for (i = 0; i < 4; i++)
		CK_OK(ac_spawn(NULL, body_cond_waiter, &st, NULL, &r[i]));
	test_settle();
	CK_OK(ac_cond_acquire(&st.cond, 0));
	ck_assert_int_eq(ac_cond_notify(&st.cond, 1), 1);
	test_settle();
	/* the woken waiter needs the lock, which the notifier still holds */
	ck_assert_int_eq(st.woken, 0);
	CK_OK(ac_cond_release(&st.cond));
	test_settle();
	ck_assert_int_eq(st.woken, 1);
	CK_OK(ac_cond_acquire(&st.cond, 0));
	ck_assert_int_eq(ac_cond_notify(&st.cond, 2), 2);
	CK_OK(ac_cond_release(&st.cond));
	test_settle();
	ck_assert_int_eq(st.woken, 3);
	CK_OK(ac_cond_acquire(&st.cond, 0));
	ck_assert_int_eq(ac_cond_notify_all(&st.cond), 1);
	ck_assert_int_eq(ac_cond_notify_all(&st.cond), 0);
	CK_OK(ac_cond_release(&st.cond));
	for (i = 0; i < 4; i++)
		test_join(r[i]);
	ck_assert_int_eq(st.woken, 4);
	ck_assert_int_eq(st.timed_out, 0);
	ck_assert_int_eq(st.held_after, 4);
	ck_assert_uint_eq(st.cond.lock.owner, 0);
	*done = 1;
}

START_TEST(test_cond_notify)
{
	int done = 0;
	/* The notifier and its four waiters. */
	ck_assert_uint_eq(test_run(body_cond_notify, &done), 5);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_cond_notify_all(void *arg)
{
	int *done = arg;
	cond_state st;
	ac_ref r[5];
	int i;
	memset(&st, 0, sizeof(st));
	ac_cond_init(&st.cond);
	st.timeout_ms = 10000;
	for (i = 0; i < 5; i++)
		CK_OK(ac_spawn(NULL, body_cond_waiter, &st, NULL, &r[i]));
	test_settle();
	CK_OK(ac_cond_acquire(&st.cond, 0));
	ck_assert_int_eq(ac_cond_notify_all(&st.cond), 5);
	CK_OK(ac_cond_release(&st.cond));
	for (i = 0; i < 5; i++)
		test_join(r[i]);
	ck_assert_int_eq(st.woken, 5);
	ck_assert_int_eq(st.held_after, 5);
	*done = 1;
}

START_TEST(test_cond_notify_all)
{
	int done = 0;
	/* The notifier and its five waiters. */
	ck_assert_uint_eq(test_run(body_cond_notify_all, &done), 6);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* A waiter whose timeout fired is not counted by notify, even when it has
 * not run yet (both deadlines pass during the spin, the notifier's first),
 * and nor after it has left the queue. */
static void body_cond_timed_out(void *arg)
{
	int *done = arg;
	cond_state st;
	ac_ref r;
	int spin = 1000;
	memset(&st, 0, sizeof(st));
	ac_cond_init(&st.cond);
	st.timeout_ms = 300;
	CK_OK(ac_spawn(NULL, body_cond_waiter, &st, NULL, &r));
	ac_yield(); /* it waits, releasing the lock */
	CK_OK(ac_cond_acquire(&st.cond, 0));
	test_spawn_spinner(&spin);
	CK_OK(ac_sleep(10));
	ck_assert_int_eq(ac_cond_notify(&st.cond, 1), 0);
	CK_OK(ac_cond_release(&st.cond));
	test_join(r);
	ck_assert_int_eq(st.timed_out, 1);
	ck_assert_int_eq(st.woken, 0);
	/* and once it has gone */
	CK_OK(ac_cond_acquire(&st.cond, 0));
	ck_assert_int_eq(ac_cond_notify_all(&st.cond), 0);
	CK_OK(ac_cond_release(&st.cond));
	ck_assert(ac_waitq_empty(&st.cond.wq));
	*done = 1;
}

START_TEST(test_cond_timed_out_not_counted)
{
	int done = 0;
	/* The notifier, the waiter that timed out and the spinner. */
	ck_assert_uint_eq(test_run(body_cond_timed_out, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- Event --------------------------------------------------------------- */

static void body_event_waiter(void *arg)
{
	worker *w = arg;
	w->rc = ac_event_wait(w->obj, w->timeout_ms);
	if (w->rc == 0)
		log_tag(w);
}

static void body_event(void *arg)
{
	int *done = arg;
	ac_event e;
	worker w[3];
	ac_ref r[3];
	char log[8] = "";
	int64_t t0;
	int i;
	ac_event_init(&e);
	ck_assert_int_eq(ac_event_is_set(&e), 0);
	CK_RC(ac_event_wait(&e, 0), -ETIMEDOUT);
	t0 = test_now_ms();
	CK_RC(ac_event_wait(&e, 20), -ETIMEDOUT);
	ck_assert_int_ge(test_now_ms() - t0, 15);
	for (i = 0; i < 3; i++) {
		worker_init(&w[i], &e, 10000, log, (char)('a' + i));
		CK_OK(ac_spawn(NULL, body_event_waiter, &w[i], NULL, &r[i]));
	}
	test_settle();
	ck_assert_str_eq(log, "");
	ac_event_set(&e); /* wakes every waiter */
	ck_assert_int_eq(ac_event_is_set(&e), 1);
	ck_assert(ac_waitq_empty(&e.wq));
	for (i = 0; i < 3; i++) {
		test_join(r[i]);
		CK_OK(w[i].rc);
	}
	ck_assert_str_eq(log, "abc");
	/* set: returns at once, even without time to wait */
	CK_OK(ac_event_wait(&e, 0));
	CK_OK(ac_event_wait(&e, AC_FOREVER));
	ac_event_set(&e); /* idempotent */
	ck_assert_int_eq(ac_event_is_set(&e), 1);
	ac_event_clear(&e);
	ck_assert_int_eq(ac_event_is_set(&e), 0);
	CK_RC(ac_event_wait(&e, 10), -ETIMEDOUT);
	ck_assert(ac_waitq_empty(&e.wq));
	*done = 1;
}

START_TEST(test_event)
{
	int done = 0;
	/* The setter and its three waiters. */
	ck_assert_uint_eq(test_run(body_event, &done), 4);
	ck_assert_int_eq(done, 1);
}
END_TEST

START_TEST(test_event_set_from_outside)
{
	ac_sched *s = test_sched();
	ac_event e;
	worker w;
	char log[4] = "";
	ac_event_init(&e);
	worker_init(&w, &e, AC_FOREVER, log, 'x');
	CK_OK(ac_spawn(s, body_event_waiter, &w, NULL, NULL));
	while (ac_sched_step(s) == 1)
		;
	ck_assert_int_eq(w.rc, 99); /* waiting */
	ck_assert(!ac_waitq_empty(&e.wq));
	ac_event_set(&e);
	CK_OK(ac_sched_run(s));
	CK_OK(w.rc);
	ck_assert_str_eq(log, "x");
	ac_sched_free(s);
}
END_TEST

/* ---- Semaphore ----------------------------------------------------------- */

static void body_sem_user(void *arg)
{
	worker *w = arg;
	w->rc = ac_sem_acquire(w->obj, w->timeout_ms);
	if (w->rc == 0)
		log_tag(w);
}

static void body_sem(void *arg)
{
	int *done = arg;
	ac_sem sem;
	worker w[2];
	ac_ref r[2];
	char log[8] = "";
	int64_t t0;
	int i;
	ac_sem_init(&sem, 2);
	CK_OK(ac_sem_acquire(&sem, 0));
	CK_OK(ac_sem_acquire(&sem, 0));
	ck_assert_int_eq(sem.value, 0);
	CK_RC(ac_sem_acquire(&sem, 0), -ETIMEDOUT);
	t0 = test_now_ms();
	CK_RC(ac_sem_acquire(&sem, 30), -ETIMEDOUT);
	ck_assert_int_ge(test_now_ms() - t0, 25);
	ck_assert_int_eq(sem.value, 0);
	for (i = 0; i < 2; i++) {
		worker_init(&w[i], &sem, AC_FOREVER, log, (char)('1' + i));
		CK_OK(ac_spawn(NULL, body_sem_user, &w[i], NULL, &r[i]));
		test_settle();
	}
	ck_assert_str_eq(log, "");
	ac_sem_release(&sem); /* wakes exactly one, the oldest */
	ck_assert_int_eq(sem.value, 0); /* the unit was handed over */
	CK_RC(ac_sem_acquire(&sem, 0), -ETIMEDOUT); /* no barging */
	test_settle();
	ck_assert_str_eq(log, "1");
	ck_assert_int_eq(w[1].rc, 99);
	ac_sem_release(&sem);
	test_join(r[0]);
	test_join(r[1]);
	ck_assert_str_eq(log, "12");
	ck_assert_int_eq(sem.value, 0);
	ac_sem_release(&sem); /* nobody waits: counted */
	ac_sem_release(&sem);
	ck_assert_int_eq(sem.value, 2);
	CK_OK(ac_sem_acquire(&sem, 0));
	CK_OK(ac_sem_acquire(&sem, 0));
	CK_RC(ac_sem_acquire(&sem, 0), -ETIMEDOUT);
	ck_assert(ac_waitq_empty(&sem.wq));
	*done = 1;
}

START_TEST(test_semaphore)
{
	int done = 0;
	/* The body and its two waiters. */
	ck_assert_uint_eq(test_run(body_sem, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* A unit released while the only waiter has timed out but not yet run is
 * counted, not handed to it. */
static void body_sem_timed_out(void *arg)
{
	int *done = arg;
	ac_sem sem;
	worker w;
	ac_ref r;
	char log[4] = "";
	int spin = 1000;
	ac_sem_init(&sem, 0);
	worker_init(&w, &sem, 300, log, 'w');
	CK_OK(ac_spawn(NULL, body_sem_user, &w, NULL, &r));
	ac_yield();
	test_spawn_spinner(&spin);
	CK_OK(ac_sleep(10));
	ac_sem_release(&sem);
	ck_assert_int_eq(sem.value, 1);
	test_join(r);
	CK_RC(w.rc, -ETIMEDOUT);
	CK_OK(ac_sem_acquire(&sem, 0));
	ck_assert_int_eq(sem.value, 0);
	*done = 1;
}

START_TEST(test_sem_timed_out_waiter)
{
	int done = 0;
	/* The body, the waiter that timed out and the spinner. */
	ck_assert_uint_eq(test_run(body_sem_timed_out, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- generic wait queues ------------------------------------------------- */

typedef struct wq_waiter {
	ac_waitq *q;
	int64_t timeout_ms;
	int rc;
} wq_waiter;

static void body_wq_waiter(void *arg)
{
	wq_waiter *w = arg;
	w->rc = ac_waitq_wait(w->q, w->timeout_ms);
}

static void body_waitq(void *arg)
{
	int *done = arg;
	ac_waitq q;
	wq_waiter w[4];
	ac_ref r[4];
	int64_t t0;
	int i;
	ac_waitq_init(&q);
	ck_assert_int_eq(ac_waitq_empty(&q), 1);
	ck_assert_int_eq(ac_waitq_wake(&q, 5, 1), 0);
	CK_RC(ac_waitq_wait(&q, 0), -ETIMEDOUT);
	t0 = test_now_ms();
	CK_RC(ac_waitq_wait(&q, 20), -ETIMEDOUT);
	ck_assert_int_ge(test_now_ms() - t0, 15);
	ck_assert_int_eq(ac_waitq_empty(&q), 1);
	for (i = 0; i < 4; i++) {
		w[i].q = &q;
		w[i].timeout_ms = AC_FOREVER;
		w[i].rc = -999;
		CK_OK(ac_spawn(NULL, body_wq_waiter, &w[i], NULL, &r[i]));
		test_settle();
	}
	ck_assert_int_eq(ac_waitq_empty(&q), 0);
	ck_assert_int_eq(ac_waitq_wake(&q, 0, 5), 0);
	ck_assert_int_eq(ac_waitq_wake(&q, 2, 7), 2); /* the two oldest */
	test_settle();
	ck_assert_int_eq(w[0].rc, 7);
	ck_assert_int_eq(w[1].rc, 7);
	ck_assert_int_eq(w[2].rc, -999);
	ck_assert_int_eq(ac_waitq_wake(&q, 1, 0), 1); /* value 0 */
	ck_assert_int_eq(ac_waitq_wake(&q, 10, 42), 1);
	ck_assert_int_eq(ac_waitq_empty(&q), 1);
	for (i = 0; i < 4; i++)
		test_join(r[i]);
	ck_assert_int_eq(w[2].rc, 0);
	ck_assert_int_eq(w[3].rc, 42);
	ck_assert_int_eq(ac_waitq_wake(&q, 1, 1), 0);
	*done = 1;
}

START_TEST(test_waitq)
{
	int done = 0;
	/* The waker and its four waiters. */
	ck_assert_uint_eq(test_run(body_waitq, &done), 5);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* A waiter that timed out leaves the queue when it resumes. */
static void body_waitq_timeout(void *arg)
{
	int *done = arg;
	ac_waitq q;
	wq_waiter a, b;
	ac_ref ra, rb;
	ac_waitq_init(&q);
	a.q = b.q = &q;
	a.timeout_ms = 10;
	b.timeout_ms = AC_FOREVER;
	a.rc = b.rc = -999;
	CK_OK(ac_spawn(NULL, body_wq_waiter, &a, NULL, &ra));
	CK_OK(ac_spawn(NULL, body_wq_waiter, &b, NULL, &rb));
	test_join(ra);
	CK_RC(a.rc, -ETIMEDOUT);
	ck_assert_int_eq(ac_waitq_wake(&q, 1, 3), 1); /* B, not the gone A */
	test_join(rb);
	ck_assert_int_eq(b.rc, 3);
	ck_assert(ac_waitq_empty(&q));
	*done = 1;
}

START_TEST(test_waitq_timeout)
{
	int done = 0;
	/* The waker and its two waiters. */
	ck_assert_uint_eq(test_run(body_waitq_timeout, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- terminated while blocked -------------------------------------------- */

static void body_terminated_lock(void *arg)
{
	int *done = arg;
	ac_lock l;
	worker b, c;
	ac_ref rb, rc;
	char log[8] = "";
	ac_lock_init(&l);
	CK_OK(ac_lock_acquire(&l, 0));
	worker_init(&b, &l, AC_FOREVER, log, 'B');
	worker_init(&c, &l, AC_FOREVER, log, 'C');
	c.release = 1;
	CK_OK(ac_spawn(NULL, body_lock_user, &b, NULL, &rb));
	test_settle();
	CK_OK(ac_spawn(NULL, body_lock_user, &c, NULL, &rc));
	test_settle();
	CK_OK(ac_terminate(rb)); /* blocked first in line */
	CK_OK(ac_lock_release(&l));
	test_join(rc);
	ck_assert_str_eq(log, "C"); /* C got it, B never did */
	ck_assert_uint_eq(l.owner, 0);
	ck_assert(ac_waitq_empty(&l.wq));
	CK_OK(ac_lock_acquire(&l, 0));
	/* the only waiter terminated: release leaves the lock free */
	worker_init(&b, &l, AC_FOREVER, log, 'b');
	CK_OK(ac_spawn(NULL, body_lock_user, &b, NULL, &rb));
	test_settle();
	CK_OK(ac_terminate(rb));
	ck_assert(ac_waitq_empty(&l.wq));
	CK_OK(ac_lock_release(&l));
	ck_assert_uint_eq(l.owner, 0);
	CK_OK(ac_lock_acquire(&l, 0));
	CK_OK(ac_lock_release(&l));
	*done = 1;
}

START_TEST(test_terminated_on_lock)
{
	int done = 0;
	/* The owner, the waiter served and two terminated ones. */
	ck_assert_uint_eq(test_run(body_terminated_lock, &done), 4);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_terminated_sem(void *arg)
{
	int *done = arg;
	ac_sem sem;
	worker b, c;
	ac_ref rb, rc;
	char log[8] = "";
	ac_sem_init(&sem, 0);
	worker_init(&b, &sem, AC_FOREVER, log, 'B');
	worker_init(&c, &sem, AC_FOREVER, log, 'C');
	CK_OK(ac_spawn(NULL, body_sem_user, &b, NULL, &rb));
	test_settle();
	CK_OK(ac_spawn(NULL, body_sem_user, &c, NULL, &rc));
	test_settle();
	CK_OK(ac_terminate(rb));
	ac_sem_release(&sem); /* to C, not to the terminated B */
	test_join(rc);
	ck_assert_str_eq(log, "C");
	ck_assert_int_eq(sem.value, 0);
	ck_assert(ac_waitq_empty(&sem.wq));
	/* the only waiter terminated: the unit is counted */
	worker_init(&b, &sem, AC_FOREVER, log, 'b');
	CK_OK(ac_spawn(NULL, body_sem_user, &b, NULL, &rb));
	test_settle();
	CK_OK(ac_terminate(rb));
	ac_sem_release(&sem);
	ck_assert_int_eq(sem.value, 1);
	CK_OK(ac_sem_acquire(&sem, 0));
	*done = 1;
}

START_TEST(test_terminated_on_semaphore)
{
	int done = 0;
	/* The body, the waiter served and two terminated ones. */
	ck_assert_uint_eq(test_run(body_terminated_sem, &done), 4);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_terminated_cond(void *arg)
{
	int *done = arg;
	cond_state st;
	ac_ref r1, r2;
	memset(&st, 0, sizeof(st));
	ac_cond_init(&st.cond);
	st.timeout_ms = AC_FOREVER;
	/* terminated while waiting for a notify */
	CK_OK(ac_spawn(NULL, body_cond_waiter, &st, NULL, &r1));
	CK_OK(ac_spawn(NULL, body_cond_waiter, &st, NULL, &r2));
	test_settle();
	CK_OK(ac_terminate(r1));
	CK_OK(ac_cond_acquire(&st.cond, 0)); /* not left held */
	ck_assert_int_eq(ac_cond_notify_all(&st.cond), 1); /* only r2 */
	/* r2 is now waiting for the lock: terminate it there */
	test_settle();
	CK_OK(ac_terminate(r2));
	ck_assert(ac_waitq_empty(&st.cond.lock.wq));
	CK_OK(ac_cond_release(&st.cond));
	ck_assert_uint_eq(st.cond.lock.owner, 0);
	ck_assert_int_eq(st.woken, 0);
	CK_OK(ac_cond_acquire(&st.cond, 0));
	ck_assert_int_eq(ac_cond_notify_all(&st.cond), 0);
	CK_OK(ac_cond_release(&st.cond));
	ck_assert(ac_waitq_empty(&st.cond.wq));
	*done = 1;
}

START_TEST(test_terminated_on_condition)
{
	int done = 0;
	/* The body and its two terminated waiters. */
	ck_assert_uint_eq(test_run(body_terminated_cond, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

static void body_terminated_event(void *arg)
{
	int *done = arg;
	ac_event e;
	ac_waitq q;
	worker w;
	wq_waiter qw;
	ac_ref r1, r2;
	char log[4] = "";
	ac_event_init(&e);
	ac_waitq_init(&q);
	worker_init(&w, &e, AC_FOREVER, log, 'e');
	qw.q = &q;
	qw.timeout_ms = AC_FOREVER;
	CK_OK(ac_spawn(NULL, body_event_waiter, &w, NULL, &r1));
	CK_OK(ac_spawn(NULL, body_wq_waiter, &qw, NULL, &r2));
	test_settle();
	CK_OK(ac_terminate(r1));
	CK_OK(ac_terminate(r2));
	ck_assert(ac_waitq_empty(&e.wq));
	ck_assert(ac_waitq_empty(&q));
	ac_event_set(&e);
	ck_assert_int_eq(ac_waitq_wake(&q, 1, 1), 0);
	ck_assert_str_eq(log, "");
	*done = 1;
}

START_TEST(test_terminated_on_event_and_waitq)
{
	int done = 0;
	/* The body and its two terminated waiters. */
	ck_assert_uint_eq(test_run(body_terminated_event, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* ---- misuse outside a coroutine ------------------------------------------ */

START_TEST(test_outside_coroutine)
{
	ac_sched *s = test_sched();
	ac_lock l;
	ac_rlock rl;
	ac_cond c;
	ac_event e;
	ac_sem sem;
	ac_waitq q;
	ac_lock_init(&l);
	ac_rlock_init(&rl);
	ac_cond_init(&c);
	ac_event_init(&e);
	ac_sem_init(&sem, 1);
	ac_waitq_init(&q);
	CK_RC(ac_lock_acquire(&l, 0), -EPERM);
	CK_RC(ac_lock_release(&l), -EPERM);
	CK_RC(ac_rlock_acquire(&rl, 0), -EPERM);
	CK_RC(ac_rlock_release(&rl), -EPERM);
	CK_RC(ac_cond_acquire(&c, 0), -EPERM);
	CK_RC(ac_cond_release(&c), -EPERM);
	CK_RC(ac_cond_wait(&c, 0), -EPERM);
	CK_RC(ac_cond_notify(&c, 1), -EPERM);
	CK_RC(ac_cond_notify_all(&c), -EPERM);
	CK_RC(ac_event_wait(&e, 0), -EPERM);
	CK_RC(ac_sem_acquire(&sem, 0), -EPERM);
	CK_RC(ac_waitq_wait(&q, 0), -EPERM);
	/* nothing changed */
	ck_assert_uint_eq(l.owner, 0);
	ck_assert_uint_eq(rl.depth, 0);
	ck_assert_int_eq(sem.value, 1);
	/* the non-blocking halves work from anywhere */
	ac_sem_release(&sem);
	ck_assert_int_eq(sem.value, 2);
	ac_event_set(&e);
	ck_assert_int_eq(ac_event_is_set(&e), 1);
	ck_assert_int_eq(ac_waitq_wake(&q, 1, 1), 0);
	ac_sched_free(s);
	/* and without any scheduler */
	CK_RC(ac_lock_acquire(&l, 0), -EPERM);
	CK_RC(ac_sem_acquire(&sem, 0), -EPERM);
	CK_RC(ac_waitq_wait(&q, 10), -EPERM);
}
END_TEST

/* ---- reproducers of an engine bug (see the top of the file) -------------- */

/* A waiter whose timeout fired is terminated before it resumed: its waiter
 * (on its discarded stack) must not stay linked in the queue. */
static void body_killed_after_timeout(void *arg)
{
	int *done = arg;
	ac_waitq q;
	wq_waiter w;
	ac_ref r;
	int spin = 1000;
	ac_waitq_init(&q);
	w.q = &q;
	w.timeout_ms = 300;
	w.rc = -999;
	CK_OK(ac_spawn(NULL, body_wq_waiter, &w, NULL, &r));
	ac_yield();
	test_spawn_spinner(&spin);
	CK_OK(ac_sleep(10)); /* resumes first; the waiter timed out */
	CK_OK(ac_terminate(r));
	ck_assert_msg(ac_waitq_empty(&q),
	              "a terminated coroutine's waiter is still queued");
	*done = 1;
}

START_TEST(test_killed_after_timeout_leaves_queue)
{
	int done = 0;
	/* The body, the terminated waiter and the spinner. */
	ck_assert_uint_eq(test_run(body_killed_after_timeout, &done), 3);
	ck_assert_int_eq(done, 1);
}
END_TEST

/* The lock is handed to B, which is terminated before it runs: the lock
 * must not stay owned by the dead coroutine. */
static void body_killed_after_handover(void *arg)
{
	int *done = arg;
	ac_lock l;
	worker b;
	ac_ref rb;
	char log[4] = "";
	ac_lock_init(&l);
	CK_OK(ac_lock_acquire(&l, 0));
	worker_init(&b, &l, AC_FOREVER, log, 'B');
	CK_OK(ac_spawn(NULL, body_lock_user, &b, NULL, &rb));
	test_settle();
	CK_OK(ac_lock_release(&l)); /* handed to B, not yet running */
	CK_OK(ac_terminate(rb));
	CK_OK(ac_lock_acquire(&l, 1000));
	CK_OK(ac_lock_release(&l));
	*done = 1;
}

START_TEST(test_killed_after_handover_frees_lock)
{
	int done = 0;
	ck_assert_uint_eq(test_run(body_killed_after_handover, &done), 2);
	ck_assert_int_eq(done, 1);
}
END_TEST

static Suite *sync_suite(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_lock_basic);
	tcase_add_test(tc, test_lock_mutual_exclusion);
	tcase_add_test(tc, test_lock_nonowner_and_timeout);
	tcase_add_test(tc, test_lock_fifo_handover);
	tcase_add_test(tc, test_lock_timed_out_waiter_skipped);
	tcase_add_test(tc, test_rlock_depth);
	tcase_add_test(tc, test_rlock_timeout);
	tcase_add_test(tc, test_cond_misuse_and_timeout);
	tcase_add_test(tc, test_cond_notify);
	tcase_add_test(tc, test_cond_notify_all);
	tcase_add_test(tc, test_cond_timed_out_not_counted);
	tcase_add_test(tc, test_event);
	tcase_add_test(tc, test_event_set_from_outside);
	tcase_add_test(tc, test_semaphore);
	tcase_add_test(tc, test_sem_timed_out_waiter);
	tcase_add_test(tc, test_waitq);
	tcase_add_test(tc, test_waitq_timeout);
	tcase_add_test(tc, test_terminated_on_lock);
	tcase_add_test(tc, test_terminated_on_semaphore);
	tcase_add_test(tc, test_terminated_on_condition);
	tcase_add_test(tc, test_terminated_on_event_and_waitq);
	tcase_add_test(tc, test_outside_coroutine);
	tcase_add_test(tc, test_killed_after_timeout_leaves_queue);
	tcase_add_test(tc, test_killed_after_handover_frees_lock);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sync_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
