/* engine/sync.c: wait queues and the synchronisation objects built on them —
 * Lock, RLock, Condition, Event, Semaphore (asyncoro's, with timeouts).
 *
 * A wait queue is a FIFO of waiters that live on the blocked coroutines'
 * stacks. Waking unlinks the waiter before making its coroutine ready, so a
 * waiter is woken at most once; a waiter that timed out unlinks itself, and
 * a terminated one is unlinked by its cancel hook. Objects live in caller
 * storage and need no teardown when nobody waits on them.
 */
#include "engine/engine.h"

void ac_waitq_init(ac_waitq *q)
{
	q->head = q->tail = NULL;
}

int ac_waitq_empty(const ac_waitq *q)
{
	return q->head == NULL;
}

void ac__waitq_push(ac_waitq *q, ac__waiter *w, ac_coro *c)
{
	AC_ASSERT(!w->w_linked);
	w->w_coro = c;
	w->w_next = NULL;
	w->w_prev = q->tail;
	if (q->tail)
		((ac__waiter *)q->tail)->w_next = w;
	else
		q->head = w;
	q->tail = w;
	w->w_linked = 1;
}

void ac__waitq_unlink(ac_waitq *q, ac__waiter *w)
{
	AC_ASSERT(w->w_linked);
	if (w->w_prev)
		w->w_prev->w_next = w->w_next;
	else
		q->head = w->w_next;
	if (w->w_next)
		w->w_next->w_prev = w->w_prev;
	else
		q->tail = w->w_prev;
	w->w_next = w->w_prev = NULL;
	w->w_linked = 0;
}

ac__waiter *ac__waitq_first(const ac_waitq *q)
{
	return q->head;
}

ac__waiter *ac__waitq_pop_parked(ac_waitq *q)
{
	ac__waiter *w;
	while ((w = q->head) != NULL) {
		ac__waitq_unlink(q, w);
		/* A waiter whose timeout already fired is on its way out with
		 * -ETIMEDOUT: handing it something now would lose it. */
		if (w->w_coro->c_state == AC__PARKED)
			return w;
	}
	return NULL;
}

/* The waiter's coroutine is being terminated, parked or already woken: a
 * linked waiter leaves the queue; one that was woken by its object (not by
 * its timeout) gives back what it was handed. */
static void sync_cancel(ac_coro *c, void *obj)
{
	ac__waiter *w = obj;
	if (w->w_linked)
		ac__waitq_unlink((ac_waitq *)w->w_ptr, w);
	else if (c->c_state == AC__READY && c->c_wake_res >= 0 && w->w_undo)
		w->w_undo(w->w_obj);
}

int ac__waitq_park(ac_sched *s, ac_waitq *q, ac__waiter *w, int64_t deadline_ns)
{
	int r;
	w->w_ptr = q;
	ac__waitq_push(q, w, s->s_cur);
	r = ac__park(s, deadline_ns, sync_cancel, w);
	if (w->w_linked) {
		ac__waitq_unlink(q, w);
		AC_ASSERT(r < 0);
	}
	return r;
}

int ac_waitq_wait(ac_waitq *q, int64_t timeout_ms)
{
	ac_coro *c = ac__cur();
	ac__waiter w;
	if (!c)
		return -EPERM;
	if (timeout_ms == 0)
		return -ETIMEDOUT;
	memset(&w, 0, sizeof(w));
	return ac__waitq_park(c->c_sched, q,
	                      &w, ac__deadline(c->c_sched, timeout_ms));
}

int ac_waitq_wake(ac_waitq *q, int n, int value)
{
	int woken = 0;
	ac__waiter *w;
	while (woken < n && (w = ac__waitq_pop_parked(q)) != NULL) {
		ac__wake(w->w_coro, value);
		woken++;
	}
	return woken;
}

/* ---- Lock ------------------------------------------------------------------ */

void ac_lock_init(ac_lock *l)
{
	ac_waitq_init(&l->wq);
	l->owner = 0;
}

/* Hand a lock whose new owner is gone on to the next waiter (or free it). */
static void lock_pass_on(void *obj)
{
	ac_lock *l = obj;
	ac__waiter *w = ac__waitq_pop_parked(&l->wq);
	l->owner = w ? w->w_coro->c_id : 0;
	if (w)
		ac__wake(w->w_coro, 1);
}

int ac_lock_acquire(ac_lock *l, int64_t timeout_ms)
{
	ac_coro *c = ac__cur();
	ac__waiter w;
	int r;
	if (!c)
		return -EPERM;
	if (l->owner == c->c_id)
		return -EDEADLK;
	if (l->owner == 0) {
		l->owner = c->c_id;
		return 0;
	}
	/* Ownership is handed over by release: woken means owner. */
	if (timeout_ms == 0)
		return -ETIMEDOUT;
	memset(&w, 0, sizeof(w));
	w.w_undo = lock_pass_on;
	w.w_obj = l;
	r = ac__waitq_park(c->c_sched, &l->wq, &w,
	                   ac__deadline(c->c_sched, timeout_ms));
	if (r < 0)
		return r;
	AC_ASSERT(l->owner == c->c_id);
	return 0;
}

int ac_lock_release(ac_lock *l)
{
	ac_coro *c = ac__cur();
	ac__waiter *w;
	if (!c || l->owner != c->c_id)
		return -EPERM;
	w = ac__waitq_pop_parked(&l->wq);
	if (!w) {
		l->owner = 0;
		return 0;
	}
	l->owner = w->w_coro->c_id;
	ac__wake(w->w_coro, 1);
	return 0;
}

/* ---- RLock ----------------------------------------------------------------- */

void ac_rlock_init(ac_rlock *l)
{
	ac_lock_init(&l->lock);
	l->depth = 0;
}

int ac_rlock_acquire(ac_rlock *l, int64_t timeout_ms)
{
	ac_coro *c = ac__cur();
	int r;
	if (!c)
		return -EPERM;
	if (l->lock.owner == c->c_id) {
		l->depth++;
		return 0;
	}
	r = ac_lock_acquire(&l->lock, timeout_ms);
	if (r == 0)
		l->depth = 1;
	return r;
}

int ac_rlock_release(ac_rlock *l)
{
	ac_coro *c = ac__cur();
	if (!c || l->lock.owner != c->c_id)
		return -EPERM;
	AC_ASSERT(l->depth > 0);
	if (--l->depth > 0)
		return 0;
	return ac_lock_release(&l->lock);
}

/* ---- Condition ------------------------------------------------------------- */

void ac_cond_init(ac_cond *c)
{
	ac_lock_init(&c->lock);
	ac_waitq_init(&c->wq);
}

int ac_cond_acquire(ac_cond *c, int64_t timeout_ms)
{
	return ac_lock_acquire(&c->lock, timeout_ms);
}

int ac_cond_release(ac_cond *c)
{
	return ac_lock_release(&c->lock);
}

int ac_cond_wait(ac_cond *c, int64_t timeout_ms)
{
	ac_coro *self = ac__cur();
	int r, rl;
	if (!self)
		return -EPERM;
	if (c->lock.owner != self->c_id)
		return -EPERM;
	ac_lock_release(&c->lock);
	r = ac_waitq_wait(&c->wq, timeout_ms);
	rl = ac_lock_acquire(&c->lock, AC_FOREVER);
	AC_ASSERT(rl == 0);
	return r < 0 ? r : 0;
}

int ac_cond_notify(ac_cond *c, int n)
{
	ac_coro *self = ac__cur();
	if (!self || c->lock.owner != self->c_id)
		return -EPERM;
	if (n < 0)
		return -EINVAL;
	return ac_waitq_wake(&c->wq, n, 1);
}

int ac_cond_notify_all(ac_cond *c)
{
	return ac_cond_notify(c, INT32_MAX);
}

/* ---- Event ------------------------------------------------------------------ */

void ac_event_init(ac_event *e)
{
	ac_waitq_init(&e->wq);
	e->flag = 0;
}

void ac_event_set(ac_event *e)
{
	e->flag = 1;
	ac_waitq_wake(&e->wq, INT32_MAX, 1);
}

void ac_event_clear(ac_event *e)
{
	e->flag = 0;
}

int ac_event_is_set(const ac_event *e)
{
	return e->flag;
}

int ac_event_wait(ac_event *e, int64_t timeout_ms)
{
	int r;
	if (!ac__cur())
		return -EPERM;
	if (e->flag)
		return 0;
	r = ac_waitq_wait(&e->wq, timeout_ms);
	return r < 0 ? r : 0;
}

/* ---- Semaphore -------------------------------------------------------------- */

void ac_sem_init(ac_sem *s, int64_t value)
{
	ac_waitq_init(&s->wq);
	s->value = value;
}

static void sem_give_back(void *obj)
{
	ac_sem_release(obj);
}

int ac_sem_acquire(ac_sem *s, int64_t timeout_ms)
{
	ac_coro *c = ac__cur();
	ac__waiter w;
	int r;
	if (!c)
		return -EPERM;
	if (s->value > 0 && ac_waitq_empty(&s->wq)) {
		s->value--;
		return 0;
	}
	if (timeout_ms == 0)
		return -ETIMEDOUT;
	/* A unit is handed over by release: woken means acquired. */
	memset(&w, 0, sizeof(w));
	w.w_undo = sem_give_back;
	w.w_obj = s;
	r = ac__waitq_park(c->c_sched, &s->wq, &w,
	                   ac__deadline(c->c_sched, timeout_ms));
	return r < 0 ? r : 0;
}

void ac_sem_release(ac_sem *s)
{
	if (ac_waitq_wake(&s->wq, 1, 1) == 0)
		s->value++;
}
