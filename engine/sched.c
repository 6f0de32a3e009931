/* engine/sched.c: the scheduler — ready queue, timers, the run loop, parking
 * and waking, the object table behind refs, at-exit hooks and logging.
 *
 * The loop (ac_sched_run) repeats: run the ready coroutines, then ask the
 * backend to poll until the earliest timer (without waiting while something
 * is ready), then fire expired timers. A coroutine that blocks hands the CPU
 * straight to the next ready coroutine (one switch instead of two through
 * the loop); after AC__DIRECT_MAX direct hand-overs it returns to the loop
 * so that I/O is polled even when coroutines keep each other busy.
 *
 * Time is read from the backend only when a deadline is computed or the
 * loop polls; switching never reads the clock.
 */
#include "engine/engine.h"

#include <inttypes.h>
#include <strings.h>

#if defined(AC_HAVE_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

/* Ready coroutines run per ac_sched_step call. */
#define AC__STEP_BATCH 256

__thread ac_sched *ac__tls_sched __attribute__((tls_model("initial-exec")));

static void log_flush(ac_sched *s);

/* ---- options, creation, destruction ------------------------------------ */

/* The default log sink: "LEVEL text" as one line on standard error. The
 * engine formats it; the io layer writes it (ac__io_stderr). */
static void sched_log_stderr(void *arg, int level, const char *text)
{
	static const char *const names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
	const char *name = (level >= 0 && level <= 3) ? names[level] : "LOG";
	/* ac_log's text is shorter than 1024 bytes. */
	char line[1024 + 16];

	(void)arg;
	snprintf(line, sizeof(line), "%s %s\n", name, text ? text : "");
	ac__io_stderr(line);
}

void ac_sched_opts_init(ac_sched_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->stack_size = 64 * 1024;
	o->stack_guard = 1;
	o->stack_pool_max = 1024;
	o->log_level = AC_LOG_INFO;
	o->name = "node";
	o->max_monitors = 65536;
}

/* AC_LOG_LEVEL, when set and not empty, overrides the options' log level
 * (see ac_sched_opts.log_level). The environment is a process setting,
 * read once per scheduler through the io layer (ac__io_log_level_env). */
static void sched_log_env(ac_sched *s)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	const char *v = ac__io_log_level_env();
	char line[192];
	int i;
	if (!v || !*v)
		return;
	for (i = AC_LOG_ERROR; i <= AC_LOG_DEBUG; i++) {
		if (!strcasecmp(v, names[i]) || (v[0] == '0' + i && !v[1])) {
			s->s_log_level = i;
			return;
		}
	}
	/* Shown whatever the level: the level is what was being set. */
	snprintf(line, sizeof(line), "[%s] AC_LOG_LEVEL=%.32s is not a log level "
	         "(error, warn, info, debug or 0..3): ignored", s->s_name, v);
	s->s_log_fn(s->s_log_arg, AC_LOG_WARN, line);
}

/* What the io layer says about the scheduler's backend (a record that
 * cannot be written, a record's hash), straight to the sink as "[name]
 * text": it may come from inside a backend call, so no ac_log (which reads
 * the clock through that backend). */
static void sched_io_log(void *arg, int level, const char *text)
{
	ac_sched *s = arg;
	char line[1024];

	if (level > s->s_log_level)
		return;
	snprintf(line, sizeof(line), "[%s] %s", s->s_name, text);
	s->s_log_fn(s->s_log_arg, level, line);
}

int ac_sched_new(const ac_sched_opts *o, ac_sched **out)
{
	ac_sched_opts def;
	ac_sched *s;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!o) {
		ac_sched_opts_init(&def);
		o = &def;
	}
	s = ac__calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->s_log_fn = o->log_fn ? o->log_fn : sched_log_stderr;
	s->s_log_arg = o->log_arg;
	s->s_log_level = o->log_level;
	snprintf(s->s_name, sizeof(s->s_name), "%s", o->name ? o->name : "node");
	sched_log_env(s);
	/* The backend (wrapped in a recorder when asked) before the first
	 * input, the incarnation, is drawn from it. */
	rc = ac__io_sched_open(o->io, o->record_path, s->s_name, sched_io_log, s,
	                       &s->s_ioslot);
	if (rc < 0) {
		ac__free(s);
		return rc;
	}
	s->s_io = s->s_ioslot.io;
	do {
		s->s_io->ops->entropy(s->s_io, &s->s_inc, sizeof(s->s_inc));
	} while (s->s_inc == 0);
	s->s_max_mon = o->max_monitors ? o->max_monitors : 65536;
	s->s_stack_size = o->stack_size ? o->stack_size : 64 * 1024;
	ac__stack_pool_init(&s->s_stacks, s->s_stack_size, o->stack_guard,
	                    o->stack_pool_max);
	s->s_stack_size = s->s_stacks.sp_size;
	ac__stack_thread_enter();
	s->s_nobj = 1; /* slot 0 is never used: id 0 means "none" */
	/* The thread's current scheduler, until another runs or is made. */
	ac__tls_sched = s;
	*out = s;
	return 0;
}

static void sched_run_atexit(ac_sched *s)
{
	while (s->s_atexit) {
		ac__atexit *a = s->s_atexit;
		s->s_atexit = a->a_next;
		a->a_fn(a->a_arg);
		ac__free(a);
	}
}

/* Terminate every coroutine other than the running one, of the kinds
 * asked (AC__KILL_USERS, AC__KILL_SERVICES or both). Ending ones may spawn
 * others (a notifier for a remote monitor): repeat until none is left. */
void ac__sched_kill(ac_sched *s, int which)
{
	uint32_t i, killed;
	do {
		killed = 0;
		for (i = 1; i < s->s_nobj; i++) {
			ac__obj *o = &s->s_obj[i];
			ac_coro *c;
			if (o->o_kind != AC_REF_CORO)
				continue;
			c = o->o_ptr;
			if (c == s->s_cur || c->c_state == AC__DEAD || c->c_ending ||
			    !(which & (c->c_service ? AC__KILL_SERVICES
			                            : AC__KILL_USERS)))
				continue;
			ac__coro_kill(c, AC_EXIT_TERMINATED);
			killed++;
		}
	} while (killed);
}

static void sched_kill_all(ac_sched *s)
{
	ac__sched_kill(s, AC__KILL_USERS | AC__KILL_SERVICES);
}

/* The end of an orderly shutdown, once the user coroutines are gone: the
 * network layer delivers their exit notices, says goodbye and stops; then
 * the rest ends and the at-exit hooks run. */
static void sched_wind_down(ac_sched *s)
{
	if (s->s_on_finish)
		s->s_on_finish(s->s_on_finish_arg);
	sched_kill_all(s);
	sched_run_atexit(s);
}

/* The orderly shutdown started by ac_sched_terminate from a coroutine. */
static void sched_wind_down_body(void *arg)
{
	sched_wind_down(arg);
}

void ac_sched_terminate(ac_sched *s)
{
	ac_coro *self = ac__cur();
	ac_spawn_opts so = {.name = "ac-shutdown"};
	if (!s)
		return;
	ac__sched_kill(s, AC__KILL_USERS);
	if (!self || self->c_sched != s) {
		sched_wind_down(s);
		return;
	}
	/* From one of s's coroutines: the wind-down may wait (goodbyes), so
	 * it runs in a (non-daemon) coroutine of its own, after ours ends. */
	if (ac__spawn_service(s, sched_wind_down_body, s, &so, NULL) < 0) {
		sched_kill_all(s);
		sched_run_atexit(s);
	}
	ac_terminate(ac_self());
}

void ac_sched_free(ac_sched *s)
{
	if (!s)
		return;
	AC_ASSERT(ac__cur() == NULL || ac__cur()->c_sched != s);
	sched_kill_all(s);
	sched_run_atexit(s);
	if (s->s_on_free)
		s->s_on_free(s->s_on_free_arg);
	ac__sock_free_all(s);
	ac__chan_free_all(s);
	ac__stack_pool_fini(&s->s_stacks);
	ac__msg_cache_fini(s);
	ac__free(s->s_heap);
	ac__free(s->s_obj);
	log_flush(s);
	ac__io_sched_close(&s->s_ioslot);
	if (ac__tls_sched == s)
		ac__tls_sched = NULL;
	ac__stack_thread_leave();
	ac__free(s);
}

int ac_sched_atexit(ac_sched *s, void (*fn)(void *arg), void *arg)
{
	ac__atexit *a;
	if (!s || !fn)
		return -EINVAL;
	a = ac__malloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->a_fn = fn;
	a->a_arg = arg;
	a->a_next = s->s_atexit;
	s->s_atexit = a;
	return 0;
}

ac_sched *ac_sched_self(void)
{
	ac_sched *s = ac__tls_sched;
	return s && s->s_cur ? s : NULL;
}

ac_io *ac_sched_io(ac_sched *s)
{
	return s->s_io;
}

int64_t ac_sched_now_ns(ac_sched *s)
{
	return s->s_io->ops->now_ns(s->s_io);
}

uint64_t ac_sched_incarnation(ac_sched *s)
{
	return s->s_inc;
}

size_t ac_sched_live(ac_sched *s)
{
	return (size_t)s->s_live_user;
}

void ac_sched_set_location(ac_sched *s, const ac_addr *loc)
{
	if (loc)
		s->s_loc = *loc;
	else
		ac_addr_init(&s->s_loc);
}

void ac_sched_get_stats(ac_sched *s, ac_sched_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->spawned = s->s_spawned;
	st->ended = s->s_ended;
	st->switches = s->s_switches;
	st->live = s->s_live;
	st->stacks_mapped = s->s_stacks.sp_mapped;
	st->stacks_pooled = s->s_stacks.sp_nfree;
	st->stacks_unguarded = s->s_stacks.sp_unguarded;
}

uint64_t ac__sched_hash_key(ac_sched *s)
{
	if (!s->s_hash_key_set) {
		s->s_io->ops->entropy(s->s_io, &s->s_hash_key, sizeof(s->s_hash_key));
		s->s_hash_key_set = 1;
	}
	return s->s_hash_key;
}

/* ---- logging ---------------------------------------------------------------
 *
 * Repeated lines are rate-limited (ac__log_slot in engine.h): a line shown
 * (level and text) is remembered with the time it was shown; the same line
 * within AC__LOG_WINDOW_NS of that is suppressed and counted. The count is
 * always reported, as the line followed by "(N identical lines suppressed
 * in the last X s)", X being the time since the line was shown: on the
 * line's first return after its window (that showing carries the count),
 * or, when some other line is logged after the window, just before it, or
 * when its slot is taken by another line, or by ac_sched_free. Errors are
 * never suppressed. Time is the scheduler's clock (virtual in the
 * simulator), so what is shown is deterministic there. */

/* FNV-1a hash of a line's text (without the prefix); never 0. */
static uint64_t log_hash(const char *text)
{
	uint64_t h = 14695981039346656037ULL;
	for (; *text; text++) {
		h ^= (unsigned char)*text;
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

/* Pass slot l's line and its suppressed count to the sink. */
static void log_emit_count(ac_sched *s, const ac__log_slot *l, int64_t now)
{
	char out[AC__LOG_LINE + 96];
	int64_t d = now - l->l_shown_ns;
	/* Tenths of a second, rounded to the nearest. */
	int64_t tenths = d > 0 ? (d + 50000000) / 100000000 : 0;
	snprintf(out, sizeof(out),
	         "%s (%" PRIu64 " identical line%s suppressed in the last %"
	         PRId64 ".%" PRId64 " s)", l->l_text, l->l_count,
	         l->l_count == 1 ? "" : "s", tenths / 10, tenths % 10);
	s->s_log_fn(s->s_log_arg, l->l_level, out);
}

/* Report the counts of lines (other than skip) whose window has passed. */
static void log_sweep(ac_sched *s, int64_t now, const ac__log_slot *skip)
{
	size_t i;
	for (i = 0; i < AC__LOG_SLOTS; i++) {
		ac__log_slot *l = &s->s_log_seen[i];
		if (l == skip || !l->l_count ||
		    now - l->l_shown_ns < AC__LOG_WINDOW_NS)
			continue;
		log_emit_count(s, l, now);
		l->l_count = 0;
	}
}

/* The slot for a new line: a free one, else the one shown longest ago
 * (its count, if any, is reported first). */
static ac__log_slot *log_take_slot(ac_sched *s, int64_t now)
{
	ac__log_slot *v = &s->s_log_seen[0];
	size_t i;
	for (i = 0; i < AC__LOG_SLOTS; i++) {
		ac__log_slot *l = &s->s_log_seen[i];
		if (!l->l_hash)
			return l;
		if (l->l_shown_ns < v->l_shown_ns)
			v = l;
	}
	if (v->l_count)
		log_emit_count(s, v, now);
	return v;
}

/* The rate limit for line (prefix bytes of "[name] ") at level: returns 1
 * when it is not to be shown now (suppressed, or shown with its count). */
static int log_limit(ac_sched *s, int level, const char *line, size_t prefix)
{
	int64_t now = ac_sched_now_ns(s);
	uint64_t h = log_hash(line + prefix);
	ac__log_slot *l = NULL;
	size_t i;
	for (i = 0; i < AC__LOG_SLOTS && !l; i++) {
		ac__log_slot *x = &s->s_log_seen[i];
		if (x->l_hash == h && x->l_level == level && !strcmp(x->l_text, line))
			l = x;
	}
	log_sweep(s, now, l);
	if (l && now - l->l_shown_ns < AC__LOG_WINDOW_NS) {
		l->l_count++;
		return 1;
	}
	if (l && l->l_count) {
		log_emit_count(s, l, now);
		l->l_count = 0;
		l->l_shown_ns = now;
		return 1;
	}
	if (!l) {
		l = log_take_slot(s, now);
		l->l_hash = h;
		l->l_level = level;
		snprintf(l->l_text, sizeof(l->l_text), "%s", line);
	}
	l->l_count = 0;
	l->l_shown_ns = now;
	return 0;
}

/* Report every count still pending (the scheduler is being freed). */
static void log_flush(ac_sched *s)
{
	int64_t now = ac_sched_now_ns(s);
	size_t i;
	for (i = 0; i < AC__LOG_SLOTS; i++) {
		ac__log_slot *l = &s->s_log_seen[i];
		if (l->l_count)
			log_emit_count(s, l, now);
		l->l_count = 0;
	}
}

/* Copy in to out (cap bytes, NUL-terminated, cut at a whole escape) with
 * every control byte (0x00-0x1f, 0x7f) written as \xNN: what came from the
 * network (a peer's name, a stranger's refusal reason, a file name) may
 * carry newlines or terminal escape sequences, and no log line may. */
static void log_escape(char *out, size_t cap, const char *in)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	AC_ASSERT(cap > 0);
	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;
		if (c >= 0x20 && c != 0x7f) {
			if (o + 1 >= cap)
				break;
			out[o++] = (char)c;
			continue;
		}
		if (o + 4 >= cap)
			break;
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	out[o] = '\0';
}

void ac_log(ac_sched *s, int level, const char *fmt, ...)
{
	char raw[AC__LOG_LINE], buf[AC__LOG_LINE];
	int n;
	va_list ap;
	if (!s || level > s->s_log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	n = snprintf(buf, sizeof(buf), "[%s] ", s->s_name);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	log_escape(buf + n, sizeof(buf) - (size_t)n, raw);
	if (level > AC_LOG_ERROR && log_limit(s, level, buf, (size_t)n))
		return;
	s->s_log_fn(s->s_log_arg, level, buf);
}

/* ---- the object table ------------------------------------------------------ */

uint64_t ac__obj_add(ac_sched *s, uint32_t kind, void *ptr)
{
	uint32_t slot;
	ac__obj *o;
	if (s->s_free_obj) {
		slot = (uint32_t)s->s_free_obj;
		o = &s->s_obj[slot];
		s->s_free_obj = o->o_next_free;
	} else {
		if (s->s_nobj >= s->s_capobj) {
			uint32_t cap = s->s_capobj ? s->s_capobj * 2 : 256;
			ac__obj *n = ac__realloc(s->s_obj, cap * sizeof(*n));
			if (!n)
				return 0;
			if (s->s_capobj == 0)
				memset(&n[0], 0, sizeof(n[0]));
			s->s_obj = n;
			s->s_capobj = cap;
		}
		slot = s->s_nobj++;
		o = &s->s_obj[slot];
		o->o_gen = 1;
	}
	o->o_kind = kind;
	o->o_ptr = ptr;
	return ((uint64_t)o->o_gen << 32) | slot;
}

void *ac__obj_get(ac_sched *s, uint64_t id, uint32_t kind)
{
	uint32_t slot = (uint32_t)id;
	ac__obj *o;
	if (AC_UNLIKELY(slot == 0 || slot >= s->s_nobj))
		return NULL;
	o = &s->s_obj[slot];
	if (o->o_gen != (uint32_t)(id >> 32) || o->o_kind != kind)
		return NULL;
	return o->o_ptr;
}

void ac__obj_del(ac_sched *s, uint64_t id)
{
	uint32_t slot = (uint32_t)id;
	ac__obj *o;
	AC_ASSERT(slot != 0 && slot < s->s_nobj);
	o = &s->s_obj[slot];
	AC_ASSERT(o->o_gen == (uint32_t)(id >> 32));
	AC_ASSERT(o->o_kind != AC_REF_NONE);
	o->o_kind = AC_REF_NONE;
	/* Generation 0 is skipped so that no id is ever 0. */
	o->o_gen = o->o_gen + 1 ? o->o_gen + 1 : 1;
	o->o_next_free = s->s_free_obj;
	s->s_free_obj = slot;
}

/* ---- timers -------------------------------------------------------------- */

void ac__timer_init(ac__timer *t, void (*cb)(ac__timer *t))
{
	t->t_deadline = 0;
	t->t_seq = 0;
	t->t_idx = -1;
	t->t_cb = cb;
}

static int timer_less(const ac__timer *a, const ac__timer *b)
{
	if (a->t_deadline != b->t_deadline)
		return a->t_deadline < b->t_deadline;
	return a->t_seq < b->t_seq;
}

static void heap_set(ac_sched *s, size_t i, ac__timer *t)
{
	s->s_heap[i] = t;
	t->t_idx = (int64_t)i;
}

static void heap_up(ac_sched *s, size_t i)
{
	ac__timer *t = s->s_heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!timer_less(t, s->s_heap[p]))
			break;
		heap_set(s, i, s->s_heap[p]);
		i = p;
	}
	heap_set(s, i, t);
}

static void heap_down(ac_sched *s, size_t i)
{
	ac__timer *t = s->s_heap[i];
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		const ac__timer *best = t;
		if (l < s->s_nheap && timer_less(s->s_heap[l], best)) {
			m = l;
			best = s->s_heap[l];
		}
		if (l + 1 < s->s_nheap && timer_less(s->s_heap[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		heap_set(s, i, s->s_heap[m]);
		i = m;
	}
	heap_set(s, i, t);
}

int ac__timer_reserve(ac_sched *s, size_t n)
{
	size_t cap = s->s_capheap ? s->s_capheap : 64;
	ac__timer **h;
	if (n <= s->s_capheap)
		return 0;
	while (cap < n)
		cap *= 2;
	h = ac__realloc(s->s_heap, cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	s->s_heap = h;
	s->s_capheap = cap;
	return 0;
}

void ac__timer_start(ac_sched *s, ac__timer *t, int64_t deadline_ns)
{
	AC_ASSERT(t->t_idx < 0);
	/* One timer per coroutine, and ac_spawn reserved a slot for each. */
	AC_ASSERT(s->s_nheap < s->s_capheap);
	t->t_deadline = deadline_ns;
	t->t_seq = ++s->s_timer_seq;
	s->s_heap[s->s_nheap] = t;
	t->t_idx = (int64_t)s->s_nheap++;
	heap_up(s, (size_t)t->t_idx);
}

void ac__timer_stop(ac_sched *s, ac__timer *t)
{
	size_t i;
	if (t->t_idx < 0)
		return;
	i = (size_t)t->t_idx;
	AC_DASSERT(i < s->s_nheap && s->s_heap[i] == t);
	t->t_idx = -1;
	s->s_nheap--;
	if (i == s->s_nheap)
		return;
	heap_set(s, i, s->s_heap[s->s_nheap]);
	heap_up(s, i);
	heap_down(s, (size_t)s->s_heap[i]->t_idx);
}

int64_t ac_sched_next_deadline(ac_sched *s)
{
	return s->s_nheap ? s->s_heap[0]->t_deadline : -1;
}

static void sched_fire_timers(ac_sched *s)
{
	int64_t now;
	if (!s->s_nheap)
		return;
	now = s->s_io->ops->now_ns(s->s_io);
	while (s->s_nheap && s->s_heap[0]->t_deadline <= now) {
		ac__timer *t = s->s_heap[0];
		ac__timer_stop(s, t);
		t->t_cb(t);
	}
}

int64_t ac__deadline(ac_sched *s, int64_t timeout_ms)
{
	if (timeout_ms < 0)
		return -1;
	return s->s_io->ops->now_ns(s->s_io) + timeout_ms * 1000000;
}

/* ---- switching ---------------------------------------------------------------- */

void ac__ready_push(ac_sched *s, ac_coro *c)
{
	AC_DASSERT(c->c_state == AC__READY);
	c->c_rnext = NULL;
	c->c_rprev = s->s_rtail;
	if (s->s_rtail)
		s->s_rtail->c_rnext = c;
	else
		s->s_rhead = c;
	s->s_rtail = c;
}

static ac_coro *sched_ready_pop(ac_sched *s)
{
	ac_coro *c = s->s_rhead;
	if (!c)
		return NULL;
	s->s_rhead = c->c_rnext;
	if (s->s_rhead)
		s->s_rhead->c_rprev = NULL;
	else
		s->s_rtail = NULL;
	c->c_rnext = c->c_rprev = NULL;
	return c;
}

void ac__ready_remove(ac_sched *s, ac_coro *c)
{
	if (c->c_rprev)
		c->c_rprev->c_rnext = c->c_rnext;
	else if (s->s_rhead == c)
		s->s_rhead = c->c_rnext;
	else
		return; /* not queued */
	if (c->c_rnext)
		c->c_rnext->c_rprev = c->c_rprev;
	else
		s->s_rtail = c->c_rprev;
	c->c_rnext = c->c_rprev = NULL;
}

/* Switch from the running context to coroutine `to` or (to == NULL) to the
 * loop, with the sanitizer told about the stack change. A `from` in state
 * AC__DEAD is leaving its stack for good. */
void ac__switch(ac_sched *s, ac_coro *from, ac_coro *to)
{
	ac__ctx *fctx = from ? &from->c_ctx : &s->s_main;
	ac__ctx *tctx = to ? &to->c_ctx : &s->s_main;
#if defined(AC_HAVE_ASAN)
	void **fake = from ? &from->c_asan_fake : &s->s_asan_main_fake;
	const void *bottom = to ? to->c_stack : s->s_asan_main_bottom;
	size_t size = to ? to->c_stack_size : s->s_asan_main_size;
	if (from && from->c_state == AC__DEAD)
		fake = NULL;
	if (!from && !to)
		return;
	s->s_asan_from_main = from == NULL;
	__sanitizer_start_switch_fiber(fake, bottom, size);
#endif
	s->s_cur = to;
	if (to)
		to->c_state = AC__RUNNING;
	s->s_switches++;
	ac__ctx_swap(fctx, tctx);
#if defined(AC_HAVE_ASAN)
	ac__asan_arrived(s, from);
#endif
}

#if defined(AC_HAVE_ASAN)
/* After a switch lands: finish the sanitizer's bookkeeping; the first time a
 * coroutine is entered from the loop, learn the loop's stack bounds. */
void ac__asan_arrived(ac_sched *s, ac_coro *self)
{
	const void *bottom;
	size_t size;
	void *fake = self ? self->c_asan_fake : s->s_asan_main_fake;
	int from_main = s->s_asan_from_main;
	__sanitizer_finish_switch_fiber(fake, &bottom, &size);
	if (self && from_main) {
		s->s_asan_main_bottom = bottom;
		s->s_asan_main_size = size;
	}
}
#endif

int ac__park(ac_sched *s, int64_t deadline_ns,
             void (*cancel)(ac_coro *c, void *obj), void *obj)
{
	ac_coro *c = s->s_cur;
	ac_coro *next;
	AC_ASSERT(c != NULL);
	AC_ASSERT(c->c_state == AC__RUNNING);
	c->c_state = AC__PARKED;
	c->c_wake_res = 0;
	c->c_cancel = cancel;
	c->c_cancel_obj = obj;
	if (deadline_ns >= 0)
		ac__timer_start(s, &c->c_timer, deadline_ns);
	next = NULL;
	if (s->s_direct < AC__DIRECT_MAX) {
		next = sched_ready_pop(s);
		if (next)
			s->s_direct++;
	}
	ac__switch(s, c, next);
	/* Woken: ac__wake stopped the timer and set the result. */
	AC_DASSERT(c->c_timer.t_idx < 0);
	c->c_cancel = NULL;
	c->c_cancel_obj = NULL;
	return c->c_wake_res;
}

void ac__wake(ac_coro *c, int res)
{
	ac_sched *s = c->c_sched;
	if (c->c_state != AC__PARKED)
		return;
	c->c_state = AC__READY;
	c->c_wake_res = res;
	ac__timer_stop(s, &c->c_timer);
	ac__ready_push(s, c);
}

/* ---- the loop ------------------------------------------------------------- */

static void sched_reap(ac_sched *s)
{
	ac_coro *z = s->s_zombie;
	if (z) {
		s->s_zombie = NULL;
		ac__coro_reap(s, z);
	}
}

/* Run ready coroutines until none is ready or budget is used up. */
static void sched_run_ready(ac_sched *s, unsigned budget)
{
	ac_coro *c;
	while (budget-- && (c = sched_ready_pop(s)) != NULL) {
		s->s_direct = 0;
		ac__switch(s, NULL, c);
		sched_reap(s);
	}
}

static int sched_enter(ac_sched *s, ac_sched **saved)
{
	if (!s)
		return -EINVAL;
	if (ac__cur() || s->s_running)
		return -EPERM;
	*saved = ac__tls_sched;
	ac__tls_sched = s;
	s->s_running = 1;
	return 0;
}

static void sched_leave(ac_sched *s, ac_sched *saved)
{
	s->s_running = 0;
	/* Back to the scheduler that was current before; when there was none,
	 * this one stays current, so that main() can spawn and send between
	 * runs. */
	ac__tls_sched = saved ? saved : s;
}

int ac_sched_step(ac_sched *s)
{
	ac_sched *saved;
	int rc = sched_enter(s, &saved);
	if (rc < 0)
		return rc;
	s->s_io->ops->poll(s->s_io, 0);
	sched_fire_timers(s);
	sched_run_ready(s, AC__STEP_BATCH);
	rc = s->s_rhead != NULL;
	sched_leave(s, saved);
	return rc;
}

int ac_sched_run(ac_sched *s)
{
	ac_sched *saved;
	int rc = sched_enter(s, &saved);
	if (rc < 0)
		return rc;
	for (;;) {
		int64_t deadline_ns;
		sched_run_ready(s, AC__STEP_BATCH);
		if (s->s_live_user == 0) {
			rc = 0;
			break;
		}
		deadline_ns = ac_sched_next_deadline(s);
		if (s->s_rhead)
			deadline_ns = 0;
		else if (deadline_ns < 0 && s->s_io->ops->pending(s->s_io) == 0) {
			rc = -EDEADLK;
			break;
		}
		rc = s->s_io->ops->poll(s->s_io, deadline_ns);
		if (rc < 0 && rc != -EINTR)
			break;
		sched_fire_timers(s);
	}
	sched_leave(s, saved);
	return rc;
}

int ac_sched_finish(ac_sched *s)
{
	int rc = ac_sched_run(s);
	if (rc == -EPERM || rc == -EINVAL) /* from a coroutine; s NULL */
		return rc;
	ac__sched_kill(s, AC__KILL_USERS); /* the daemons (their monitors are told) */
	sched_wind_down(s);
	return rc;
}

/* ---- waiting for io operations ----------------------------------------------- */

void ac__io_wake_cb(ac_op *op)
{
	ac__wake((ac_coro *)op->data, 1);
}

void ac__io_forget(ac_io *io, ac_op *op)
{
	/* Cancelled while pending (0): nothing happened. Completed, callback
	 * run or not (-ENOENT, AC_IO_DONE): a connection it produced would
	 * leak, so close it. */
	if (io->ops->cancel(io, op) != 0 && op->res >= 0 &&
	    (op->type == AC_OP_ACCEPT || op->type == AC_OP_CONNECT))
		io->ops->close(io, (int)op->res);
}

static void sched_io_cancel(ac_coro *c, void *obj)
{
	ac__io_forget(c->c_sched->s_io, obj);
}

int64_t ac__io_wait(ac_sched *s, ac_op *op, int64_t deadline_ns)
{
	return ac__io_wait_ex(s, op, deadline_ns, sched_io_cancel, op);
}

int64_t ac__io_wait_ex(ac_sched *s, ac_op *op, int64_t deadline_ns,
                       void (*cancel)(ac_coro *c, void *obj), void *obj)
{
	int r;
	AC_ASSERT(op->data == s->s_cur);
	r = ac__park(s, deadline_ns, cancel, obj);
	if (r == 1)
		return op->res;
	/* Timed out. cancel() tells whether the operation was still pending
	 * (0), had completed without its callback having run (AC_IO_DONE), or
	 * completed and its callback ran after the timeout woke us (-ENOENT):
	 * in the last two cases op->res holds its result, which must not be
	 * lost (bytes already read, a connection already accepted). */
	if (s->s_io->ops->cancel(s->s_io, op) == 0)
		return r < 0 ? r : -ETIMEDOUT;
	return op->res;
}
