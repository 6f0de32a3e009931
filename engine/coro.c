/* engine/coro.c: coroutines — spawn, the entry trampoline, the three ways to
 * end (return, fail, terminate), exit notifications to monitors and
 * finishers, suspend/resume, sleep, yield, names and daemon flags.
 *
 * A coroutine's struct lives at the top of its own stack, so a coroutine
 * blocked in receive costs about one page of memory. Its ref resolves
 * through the scheduler's object table (slot + generation), so a ref to an
 * ended coroutine finds nothing instead of reused memory.
 *
 * Ending: the end work (defer hooks, the network hook, exit messages, waking
 * finishers, freeing the queue and the table slot) runs on the ending
 * coroutine's stack when it ends by itself, then it switches to the loop,
 * which returns the stack to the pool. A terminated coroutine that is not
 * running is ended from the terminator's stack: its pending wait is undone
 * through its cancel hook, and its stack is discarded without resuming it.
 */
#include "engine/engine.h"

#if defined(HAVE_VALGRIND_VALGRIND_H)
#include <valgrind/valgrind.h>
#define CORO_VG_REGISTER(c) \
	((c)->c_vg_id = VALGRIND_STACK_REGISTER( \
	         (c)->c_stack, (char *)(c)->c_stack + (c)->c_stack_size))
#define CORO_VG_DEREGISTER(c) VALGRIND_STACK_DEREGISTER((c)->c_vg_id)
#else
#define CORO_VG_REGISTER(c) ((void)(c))
#define CORO_VG_DEREGISTER(c) ((void)(c))
#endif

/* Bytes kept free above the coroutine struct and below it. */
#define CORO_STRUCT_SPACE ((sizeof(ac_coro) + 63) & ~(size_t)63)

static void coro_timeout_cb(ac__timer *t)
{
	ac_coro *c = (ac_coro *)((char *)t - offsetof(ac_coro, c_timer));
	ac__wake(c, -ETIMEDOUT);
}

static AC_NORETURN void coro_exit_self(ac_coro *c, int how, const void *data,
                                       size_t len);

static void coro_main(void *arg)
{
	ac_coro *c = arg;
#if defined(AC_HAVE_ASAN)
	ac__asan_arrived(c->c_sched, c);
#endif
	c->c_started = 1;
	c->c_fn(c->c_arg);
	coro_exit_self(c, AC_EXIT_RETURNED, NULL, 0);
}

ac_coro *ac__coro_get(ac_sched *s, ac_ref r)
{
	if (r.kind != AC_REF_CORO || !ac__ref_is_local(s, &r))
		return NULL;
	return ac__obj_get(s, r.id, AC_REF_CORO);
}

static ac_sched *coro_sched(ac_sched *s)
{
	return s ? s : ac__tls_sched;
}

int ac_spawn(ac_sched *s, ac_coro_fn fn, void *arg, const ac_spawn_opts *o,
             ac_ref *out)
{
	void *base;
	size_t size;
	int guarded, rc;
	ac_coro *c;

	s = coro_sched(s);
	if (!s)
		return -EPERM;
	if (!fn)
		return -EINVAL;
	rc = ac__timer_reserve(s, (size_t)s->s_live + 1);
	if (rc < 0)
		return rc;
	rc = ac__stack_get(&s->s_stacks, o ? o->stack_size : 0, &base, &size,
	                   &guarded);
	if (rc < 0)
		return rc;
	c = (ac_coro *)((char *)base + size - CORO_STRUCT_SPACE);
	memset(c, 0, sizeof(*c));
	c->c_id = ac__obj_add(s, AC_REF_CORO, c);
	if (c->c_id == 0) {
		ac__stack_put(&s->s_stacks, base, size, guarded);
		return -ENOMEM;
	}
	c->c_sched = s;
	c->c_stack = base;
	c->c_stack_size = size;
	c->c_stack_guard = guarded;
	c->c_fn = fn;
	c->c_arg = arg;
	c->c_arg_free = o ? o->arg_free : NULL;
	c->c_daemon = o && o->daemon ? 1 : 0;
	c->c_mq.q_tail = &c->c_mq.q_head;
	ac__timer_init(&c->c_timer, coro_timeout_cb);
	snprintf(c->c_name, sizeof(c->c_name), "%s",
	         o && o->name ? o->name : "coro");
	CORO_VG_REGISTER(c);
	ac__ctx_make(&c->c_ctx, base, (size_t)((char *)c - (char *)base) - 64,
	             coro_main, c);
	s->s_live++;
	s->s_spawned++;
	if (!c->c_daemon)
		s->s_live_user++;
	c->c_state = AC__READY;
	ac__ready_push(s, c);
	if (out)
		*out = ac__ref_local(s, AC_REF_CORO, c->c_id);
	return 0;
}

int ac__spawn_service(ac_sched *s, ac_coro_fn fn, void *arg,
                      const ac_spawn_opts *o, ac_ref *out)
{
	ac_ref r;
	ac_coro *c;
	int rc = ac_spawn(s, fn, arg, o, &r);
	if (rc < 0)
		return rc;
	s = coro_sched(s);
	c = ac__obj_get(s, r.id, AC_REF_CORO);
	AC_ASSERT(c != NULL && c->c_state == AC__READY);
	c->c_service = 1;
	if (out)
		*out = r;
	return 0;
}

ac_ref ac_self(void)
{
	ac_coro *c = ac__cur();
	if (!c)
		return ac_ref_null();
	return ac__ref_local(c->c_sched, AC_REF_CORO, c->c_id);
}

const char *ac_self_name(void)
{
	ac_coro *c = ac__cur();
	return c ? c->c_name : "";
}

/* The local coroutine r names: NULL with *err set when there is none. */
static ac_coro *coro_lookup(ac_ref r, int *err)
{
	ac_sched *s = ac__tls_sched;
	ac_coro *c;
	if (!s) {
		*err = -EPERM;
		return NULL;
	}
	if (r.kind != AC_REF_CORO) {
		*err = -EINVAL;
		return NULL;
	}
	if (!ac__ref_is_local(s, &r)) {
		*err = ac_addr_eq(&r.loc, &s->s_loc) ? -ESRCH : -EREMOTE;
		return NULL;
	}
	c = ac__obj_get(s, r.id, AC_REF_CORO);
	*err = c ? 0 : -ESRCH;
	return c;
}

int ac_coro_name(ac_ref r, char *buf, size_t len)
{
	int err;
	ac_coro *c = coro_lookup(r, &err);
	if (!c)
		return err;
	snprintf(buf, len, "%s", c->c_name);
	return 0;
}

int ac_is_alive(ac_ref r)
{
	int err;
	ac_coro *c = coro_lookup(r, &err);
	if (c)
		return c->c_state != AC__DEAD && !c->c_ending;
	return err == -ESRCH ? 0 : err;
}

int ac_set_daemon(ac_ref r, int daemon)
{
	int err;
	ac_coro *c = coro_lookup(r, &err);
	if (!c)
		return err;
	daemon = daemon ? 1 : 0;
	if (c->c_daemon != daemon && !c->c_ending) {
		if (daemon)
			c->c_sched->s_live_user--;
		else
			c->c_sched->s_live_user++;
	}
	c->c_daemon = (uint8_t)daemon;
	return 0;
}

/* ---- ending ------------------------------------------------------------------- */

ac_msg *ac__exit_msg(ac_ref r, int how, const void *data, size_t len)
{
	ac_msg *m = ac__msg_alloc(len);
	if (!m)
		return NULL;
	m->m_kind = AC_MSG_EXIT;
	m->m_aux = (uint16_t)how;
	m->m_pad |= AC__MSG_NOTIFY;
	m->m_from = r;
	if (len)
		memcpy(m->m_data, data, len);
	return m;
}

static void coro_notify_monitors(ac_sched *s, ac_coro *c, ac_ref self,
                                 int how, const void *data, size_t len)
{
	uint32_t i;
	ac__waiter *w;
	/* The set does not change meanwhile: the coroutine is ending, so
	 * ac_monitor_ref refuses new monitors. */
	for (i = 0; i < c->c_mons.rs_cap; i++) {
		ac_msg *m;
		if (c->c_mons.rs_tab[i].a.kind == AC_REF_NONE)
			continue;
		m = ac__exit_msg(self, how, data, len);
		if (!m) {
			ac_log(s, AC_LOG_ERROR, "out of memory for an exit message");
			continue;
		}
		if (ac__send_msg(s, c->c_mons.rs_tab[i].a, m) < 0)
			ac_msg_free(m);
	}
	while ((w = ac__waitq_pop_parked(&c->c_finishers)) != NULL) {
		if (w->w_ptr)
			*(ac_msg **)w->w_ptr = ac__exit_msg(self, how, data, len);
		ac__wake(w->w_coro, 0);
	}
}

/* The end work shared by every way of ending (see the top of the file). */
static void coro_end(ac_coro *c, int how, const void *data, size_t len)
{
	ac_sched *s = c->c_sched;
	ac_ref self = ac__ref_local(s, AC_REF_CORO, c->c_id);
	AC_ASSERT(!c->c_ending);
	c->c_ending = 1;
	while (c->c_defer) {
		ac__defer *d = c->c_defer;
		c->c_defer = d->d_next;
		d->d_fn(d->d_arg);
		if (!d->d_callers)
			ac__free(d);
	}
	if (s->s_on_end)
		s->s_on_end(s->s_on_end_arg, c);
	coro_notify_monitors(s, c, self, how, data, len);
	if (c->c_exit_value) {
		ac_msg_free(c->c_exit_value);
		c->c_exit_value = NULL;
	}
	ac__mq_free_all(s, &c->c_mq);
	ac__refset_free(&c->c_mons);
	ac__obj_del(s, c->c_id);
	s->s_live--;
	s->s_ended++;
	if (!c->c_daemon)
		s->s_live_user--;
}

void ac__coro_reap(ac_sched *s, ac_coro *c)
{
	AC_ASSERT(c->c_state == AC__DEAD);
	CORO_VG_DEREGISTER(c);
	ac__stack_put(&s->s_stacks, c->c_stack, c->c_stack_size,
	              c->c_stack_guard);
}

static AC_NORETURN void coro_exit_self(ac_coro *c, int how, const void *data,
                                       size_t len)
{
	ac_sched *s = c->c_sched;
	AC_ASSERT(s->s_cur == c);
	coro_end(c, how, data, len);
	c->c_state = AC__DEAD;
	AC_ASSERT(s->s_zombie == NULL);
	s->s_zombie = c;
	ac__switch(s, c, NULL);
	AC_ASSERT(!"a dead coroutine was resumed");
	__builtin_unreachable();
}

void ac__coro_kill(ac_coro *c, int how)
{
	ac_sched *s = c->c_sched;
	AC_ASSERT(c != s->s_cur);
	if (c->c_ending || c->c_state == AC__DEAD)
		return;
	if (c->c_state == AC__PARKED) {
		ac__timer_stop(s, &c->c_timer);
	} else if (c->c_state == AC__READY) {
		ac__ready_remove(s, c);
	}
	/* Parked, or woken but not yet run (c_wake_res tells by what): the
	 * undo of its wait sees the state and gives back what it was handed. */
	if (c->c_cancel)
		c->c_cancel(c, c->c_cancel_obj);
	c->c_cancel = NULL;
	if (!c->c_started && c->c_arg_free)
		c->c_arg_free(c->c_arg);
	coro_end(c, how, NULL, 0);
	c->c_state = AC__DEAD;
	ac__coro_reap(s, c);
}

int ac_terminate(ac_ref r)
{
	int err;
	ac_coro *c = coro_lookup(r, &err);
	ac_sched *s = ac__tls_sched;
	if (!c) {
		if (err == -EREMOTE && s && s->s_remote)
			return s->s_remote->terminate(s->s_remote_arg, r);
		return err == -EREMOTE ? -EHOSTUNREACH : err;
	}
	if (c == s->s_cur)
		coro_exit_self(c, AC_EXIT_TERMINATED, NULL, 0);
	ac__coro_kill(c, AC_EXIT_TERMINATED);
	return 0;
}

void ac_return(ac_msg *value)
{
	ac_coro *c = ac__cur();
	char buf[AC__MSG_SMALL];
	size_t len = 0;
	const void *data = NULL;
	AC_ASSERT(c != NULL); /* ac_return outside a coroutine */
	if (value) {
		len = value->m_len;
		if (len <= sizeof(buf)) {
			memcpy(buf, value->m_data, len);
			data = buf;
			ac_msg_free(value);
			value = NULL;
		} else {
			/* Kept until the exit work has copied it. */
			c->c_exit_value = value;
			data = value->m_data;
		}
	}
	coro_exit_self(c, AC_EXIT_RETURNED, data, len);
}

void ac_fail(const char *fmt, ...)
{
	ac_coro *c = ac__cur();
	char text[512];
	int n;
	va_list ap;
	AC_ASSERT(c != NULL); /* ac_fail outside a coroutine */
	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(text))
		n = (int)sizeof(text) - 1;
	coro_exit_self(c, AC_EXIT_FAILED, text, (size_t)n);
}

int ac_coro_defer(void (*fn)(void *arg), void *arg)
{
	ac_coro *c = ac__cur();
	ac__defer *d;
	if (!c)
		return -EPERM;
	if (!fn)
		return -EINVAL;
	d = ac__malloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->d_fn = fn;
	d->d_arg = arg;
	d->d_callers = 0;
	d->d_next = c->c_defer;
	c->c_defer = d;
	return 0;
}

void ac__defer_push(ac_coro *c, ac__defer *d, void (*fn)(void *arg), void *arg)
{
	AC_ASSERT(c != NULL && c == c->c_sched->s_cur && fn != NULL);
	d->d_fn = fn;
	d->d_arg = arg;
	d->d_callers = 1;
	d->d_next = c->c_defer;
	c->c_defer = d;
}

void ac__defer_pop(ac_coro *c, ac__defer *d)
{
	ac__defer **pp = &c->c_defer;
	AC_ASSERT(d->d_callers);
	/* Normally the first; a hook pushed later and never popped (a bug)
	 * is searched past. */
	while (*pp && *pp != d)
		pp = &(*pp)->d_next;
	AC_ASSERT(*pp == d);
	if (*pp)
		*pp = d->d_next;
}

/* ---- waiting on other coroutines ------------------------------------------------ */

/* A coroutine in ac_finish was terminated: leave the target's list, or
 * free the exit message it was already handed. */
static void coro_finish_cancel(ac_coro *c, void *obj)
{
	ac__waiter *w = obj;
	(void)c;
	if (w->w_linked) {
		ac__waitq_unlink((ac_waitq *)(uintptr_t)w->w_data, w);
	} else if (w->w_ptr) {
		ac_msg_free(*(ac_msg **)w->w_ptr);
		*(ac_msg **)w->w_ptr = NULL;
	}
}

int ac_finish(ac_ref r, int64_t timeout_ms, ac_msg **exit_msg)
{
	ac_coro *self = ac__cur();
	ac_sched *s;
	ac_coro *c;
	ac__waiter w;
	ac_msg *got = NULL;
	int err;

	if (!self)
		return -EPERM;
	s = self->c_sched;
	c = coro_lookup(r, &err);
	if (!c) {
		if (err == -EREMOTE && s->s_remote)
			return s->s_remote->finish(s->s_remote_arg, r, timeout_ms,
			                           exit_msg);
		return err == -EREMOTE ? -EHOSTUNREACH : err;
	}
	if (c == self)
		return -EDEADLK;
	if (c->c_ending)
		return -ESRCH;
	if (timeout_ms == 0)
		return -ETIMEDOUT;
	memset(&w, 0, sizeof(w));
	w.w_ptr = &got;
	w.w_data = (intptr_t)(uintptr_t)&c->c_finishers;
	ac__waitq_push(&c->c_finishers, &w, self);
	err = ac__park(s, ac__deadline(s, timeout_ms), coro_finish_cancel, &w);
	if (w.w_linked)
		ac__waitq_unlink(&c->c_finishers, &w);
	if (err < 0)
		return err;
	if (exit_msg)
		*exit_msg = got;
	else
		ac_msg_free(got);
	return 0;
}

/* Add monitor to c's set (twice is once): 0, -ENOBUFS over the
 * scheduler's max_monitors, -ENOMEM. */
static int coro_add_monitor(ac_coro *c, ac_ref monitor)
{
	int rc;
	if (!c->c_mons.rs_cap)
		c->c_mons.rs_key = ac__sched_hash_key(c->c_sched);
	rc = ac__refset_add(&c->c_mons, monitor, ac_ref_null(), c->c_sched->s_max_mon);
	return rc < 0 ? rc : 0;
}

int ac_monitor_ref(ac_ref monitor, ac_ref target)
{
	int err;
	ac_sched *s = ac__tls_sched;
	ac_coro *c;
	if (monitor.kind != AC_REF_CORO)
		return -EINVAL;
	c = coro_lookup(target, &err);
	if (!c) {
		if (err == -EREMOTE && s && s->s_remote)
			return s->s_remote->monitor(s->s_remote_arg, monitor, target);
		return err == -EREMOTE ? -EHOSTUNREACH : err;
	}
	if (c->c_ending)
		return -ESRCH;
	err = coro_add_monitor(c, monitor);
	if (err == 0 && !ac__ref_is_local(s, &monitor) && s->s_remote &&
	    s->s_remote->watched)
		err = s->s_remote->watched(s->s_remote_arg, monitor, target);
	return err;
}

int ac_monitor(ac_ref target)
{
	if (!ac__cur())
		return -EPERM;
	return ac_monitor_ref(ac_self(), target);
}

int ac_notify(ac_ref monitor)
{
	if (!ac__cur())
		return -EPERM;
	return ac_monitor_ref(monitor, ac_self());
}

/* ---- yielding the CPU ------------------------------------------------------------- */

int ac_yield(void)
{
	ac_coro *c = ac__cur();
	ac_sched *s;
	if (!c)
		return -EPERM;
	s = c->c_sched;
	c->c_state = AC__READY;
	ac__ready_push(s, c);
	if (s->s_direct < AC__DIRECT_MAX && s->s_rhead != c) {
		/* Hand over straight to the next ready coroutine. */
		ac_coro *next = s->s_rhead;
		ac__ready_remove(s, next);
		s->s_direct++;
		ac__switch(s, c, next);
	} else {
		ac__switch(s, c, NULL);
	}
	return 0;
}

int ac_sleep(int64_t ms)
{
	ac_coro *c = ac__cur();
	ac_sched *s;
	int r;
	if (!c)
		return -EPERM;
	s = c->c_sched;
	if (ms < 0)
		return -EINVAL;
	r = ac__park(s, ac__deadline(s, ms), NULL, NULL);
	return r == -ETIMEDOUT ? 0 : -ECANCELED;
}

int ac_suspend(int64_t timeout_ms, intptr_t *value)
{
	ac_coro *c = ac__cur();
	ac_sched *s;
	int r;
	if (!c)
		return -EPERM;
	if (timeout_ms == 0)
		return -ETIMEDOUT;
	s = c->c_sched;
	c->c_suspended = 1;
	r = ac__park(s, ac__deadline(s, timeout_ms), NULL, NULL);
	c->c_suspended = 0;
	if (r != 1)
		return -ETIMEDOUT;
	if (value)
		*value = c->c_resume_val;
	return 0;
}

int ac_resume(ac_ref r, intptr_t value)
{
	int err;
	ac_coro *c = coro_lookup(r, &err);
	if (!c)
		return err;
	if (!c->c_suspended || c->c_state != AC__PARKED)
		return -EAGAIN;
	c->c_resume_val = value;
	ac__wake(c, 1);
	return 0;
}
