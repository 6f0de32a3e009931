/* net/remote_names.c: finding objects by name across nodes, and remote
 * coroutine invocations (RCIs) — both ends of LOCATE and RCI_CALL, and the
 * RCI objects themselves.
 *
 * Bodies: LOCATE [kind name] → [rc ref]; RCI_CALL [rci [kind aux from
 * payload]] → [rc coro].
 *
 * ac_locate, ac_chan_locate and ac_rci_locate look in the node's own
 * registry first, then ask the peers (one at a time, each for at most 2 s,
 * or only the node at a given location, connecting to it if need be),
 * round after round until the deadline — a timeout of 0 looks in the own
 * registry only and never waits, so it asks no peer (dis.h) —
 * with pauses doubling from LOCATE_WAIT_MIN_MS to LOCATE_WAIT_MAX_MS
 * between rounds, cut short when a peer comes online. An answer must
 * name an object of the answering node's current incarnation, of the kind
 * asked for. An RCI is a named function a
 * coroutine of another node (or this one) starts as a new coroutine with
 * its arguments: the caller gets the new coroutine's ref.
 */
#include "net/remote.h"

/* ---- locate: the client -------------------------------------------------------------- */

/* Ask peer p for name: 0 and *out, -ENOENT, or a request error. */
static int locate_one(ac_peer *p, uint32_t kind, const char *name,
                             int64_t timeout_ms, ac_ref *out)
{
	ac__pending pend;
	int64_t r = 0;
	ac_ref ref;
	/* p may be gone once the wait is over: copy what is checked. */
	ac_addr loc = p->p_loc;
	int rc = ac__remote_call(p, AC_WT_LOCATE, timeout_ms, &pend, "[u s]",
	                         (uint64_t)kind, name);
	if (rc < 0)
		return rc;
	if (ac_unpack(pend.pd_body, pend.pd_len, "[i r]", &r, &ref) < 0 || r > 0)
		r = -EPROTO;
	ac__free(pend.pd_body);
	if (r == 0) {
		/* The answer must name an object of that node (the incarnation
		 * that replied), of that kind. */
		if (ref.kind != kind || !ac_addr_eq(&ref.loc, &loc) ||
		    ref.inc != pend.pd_inc)
			return -EPROTO;
		*out = ref;
	}
	return (int)r;
}

/* The pause between rounds of a locate. */
#define LOCATE_WAIT_MIN_MS 200
#define LOCATE_WAIT_MAX_MS 5000

/* One round over the candidates; 0 when found. With left_ms 0 only this
 * node's registry is looked at: asking a peer means waiting for it. */
static int locate_round(ac_node *n, uint32_t kind, const char *name,
                               const ac_addr *loc, int64_t left_ms, ac_ref *out)
{
	uint32_t i;
	int64_t each = left_ms < 0 || left_ms > 2000 ? 2000 : left_ms;
	const ac__name *e;
	AC_ASSERT(kind >= AC_REF_CORO && kind <= AC_REF_RCI);
	if (!loc || ac_addr_eq(loc, &n->n_loc)) {
		e = ac__name_find(n, kind, name);
		if (e) {
			*out = e->nm_ref;
			return 0;
		}
		if (loc)
			return -ENOENT;
	}
	if (left_ms == 0)
		return -ENOENT;
	if (loc) {
		ac_peer *p = ac__peer_get(n, loc);
		if (!p)
			return ac__peer_table_full(n) ? -EUSERS : -ENOMEM;
		return locate_one(p, kind, name, each, out);
	}
	for (i = 0; i < n->n_npeers; i++) {
		ac_peer *p = n->n_peers[i];
		if (p->p_state == AC__PEER_ONLINE &&
		    locate_one(p, kind, name, each, out) == 0)
			return 0;
	}
	return -ENOENT;
}

static int locate_kind(uint32_t kind, const char *name, const ac_addr *loc,
                         int64_t timeout_ms, ac_ref *out)
{
	ac_sched *s = ac__tls_sched;
	ac_node *n = ac_node_of(s);
	int64_t deadline_ns, wait_ms = LOCATE_WAIT_MIN_MS;
	if (!name || !out || !*name)
		return -EINVAL;
	if (strlen(name) > AC_NAME_MAX)
		return -ENAMETOOLONG;
	if (!ac__cur())
		return -EPERM;
	if (!n) {
		/* No network: only this scheduler's objects (channels). */
		return -ENOTCONN;
	}
	deadline_ns = ac__deadline(s, timeout_ms);
	for (;;) {
		int64_t left = deadline_ns < 0 ? AC_FOREVER
		                            : (deadline_ns - ac_sched_now_ns(s)) / 1000000;
		int rc;
		if (deadline_ns >= 0 && left < 0)
			left = 0; /* no time left: this node's registry only */
		rc = locate_round(n, kind, name, loc, left, out);
		if (rc == 0) {
			/* Names are registered, and answers checked, by kind. */
			AC_ASSERT(out->kind == kind);
			return 0;
		}
		if (n->n_stopped)
			return -ESHUTDOWN;
		left = deadline_ns < 0 ? wait_ms
		                    : (deadline_ns - ac_sched_now_ns(s)) / 1000000;
		if (left <= 0)
			return -ETIMEDOUT;
		/* Wait for a new peer, or ask again later (the name may appear),
		 * less and less often: nodes that answered "not here" are not
		 * asked again and again. */
		ac_waitq_wait(&n->n_peer_wq, left < wait_ms ? left : wait_ms);
		wait_ms = wait_ms * 2 < LOCATE_WAIT_MAX_MS ? wait_ms * 2
		                                           : LOCATE_WAIT_MAX_MS;
	}
}

int ac_locate(const char *name, const ac_addr *loc, int64_t timeout_ms,
              ac_ref *out)
{
	return locate_kind(AC_REF_CORO, name, loc, timeout_ms, out);
}

int ac_chan_locate(const char *name, const ac_addr *loc, int64_t timeout_ms,
                   ac_ref *out)
{
	return locate_kind(AC_REF_CHAN, name, loc, timeout_ms, out);
}

int ac_rci_locate(const char *name, const ac_addr *loc, int64_t timeout_ms,
                  ac_ref *out)
{
	return locate_kind(AC_REF_RCI, name, loc, timeout_ms, out);
}

/* ---- RCI: the API and the client -------------------------------------------------------- */

static void rci_free_at_end(void *arg)
{
	ac__free(arg);
}

int ac_rci_new(ac_sched *s, const char *name, ac_rci_fn fn, ac_ref *out)
{
	ac__rci *r;
	s = s ? s : ac__tls_sched;
	if (!s)
		return -EPERM;
	if (!name || !*name || !fn || !out)
		return -EINVAL;
	if (strlen(name) > AC_NAME_MAX)
		return -ENAMETOOLONG;
	r = ac__calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->r_fn = fn;
	snprintf(r->r_name, sizeof(r->r_name), "%s", name);
	r->r_id = ac__obj_add(s, AC_REF_RCI, r);
	if (!r->r_id) {
		ac__free(r);
		return -ENOMEM;
	}
	if (ac_sched_atexit(s, rci_free_at_end, r) < 0) {
		ac__obj_del(s, r->r_id);
		ac__free(r);
		return -ENOMEM;
	}
	*out = ac__ref_local(s, AC_REF_RCI, r->r_id);
	return 0;
}

static ac__rci *rci_get(ac_sched *s, ac_ref rci)
{
	if (rci.kind != AC_REF_RCI || !ac__ref_is_local(s, &rci))
		return NULL;
	return ac__obj_get(s, rci.id, AC_REF_RCI);
}

/* Register (add) or unregister an RCI of this node under its name. */
static int rci_name(ac_ref rci, int add)
{
	ac_sched *s = ac__tls_sched;
	ac_node *n = ac_node_of(s);
	ac__rci *r;
	if (!n)
		return -ENOTCONN;
	r = rci_get(s, rci);
	if (!r)
		return -EINVAL;
	return add ? ac__name_add(n, AC_REF_RCI, r->r_name, rci)
	           : ac__name_del(n, AC_REF_RCI, r->r_name, rci);
}

int ac_rci_register(ac_ref rci)
{
	return rci_name(rci, 1);
}

int ac_rci_unregister(ac_ref rci)
{
	return rci_name(rci, 0);
}

/* The start of an RCI's coroutine. One a peer asked for is counted in that
 * peer's p_nrcis until the coroutine ends (on its p_rcis list; the peer's
 * departure detaches the list: st_peer NULL, nothing counted any more). */
typedef struct rci_start {
	ac_rci_fn fn;
	ac_msg *args;
	ac_peer *st_peer;
	struct rci_start *st_next;
	struct rci_start **st_prevp;
} rci_start;

/* Unlink st from its peer's list (if any) and free it. */
static void rci_start_done(void *arg)
{
	rci_start *st = arg;
	if (st->st_peer) {
		AC_ASSERT(st->st_peer->p_nrcis > 0);
		if (--st->st_peer->p_nrcis + st->st_peer->p_nreqs == 0)
			st->st_peer->p_reqs_logged = 0;
		*st->st_prevp = st->st_next;
		if (st->st_next)
			st->st_next->st_prevp = st->st_prevp;
	}
	ac__free(st);
}

static void rci_body(void *arg)
{
	rci_start *st = arg;
	ac_msg *args = st->args;
	ac_rci_fn fn = st->fn;
	if (!st->st_peer)
		ac__free(st);
	else if (ac_coro_defer(rci_start_done, st) < 0) {
		rci_start_done(st);
		ac_msg_free(args);
		ac_fail("rci: out of memory");
	}
	fn(args);
}

/* The RCI's coroutine was terminated before it ran. */
static void rci_start_free(void *arg)
{
	rci_start *st = arg;
	ac_msg_free(st->args);
	rci_start_done(st);
}

void ac__rci_detach(ac_peer *p)
{
	rci_start *st;
	while ((st = p->p_rcis) != NULL) {
		p->p_rcis = st->st_next;
		st->st_peer = NULL;
	}
	p->p_nrcis = 0;
}

/* Start the RCI's coroutine locally, for peer p (NULL: a local call);
 * args consumed on success. */
static int rci_spawn(ac_sched *s, ac__rci *r, ac_msg *args, ac_peer *p, ac_ref *coro)
{
	ac_spawn_opts so = {.name = r->r_name, .arg_free = rci_start_free};
	rci_start *st = ac__calloc(1, sizeof(*st));
	int rc;
	if (!st)
		return -ENOMEM;
	st->fn = r->r_fn;
	st->args = args;
	rc = ac_spawn(s, rci_body, st, &so, coro);
	if (rc < 0) {
		ac__free(st);
		return rc;
	}
	if (p) { /* counted from now: the coroutine has not run yet */
		st->st_peer = p;
		st->st_next = p->p_rcis;
		st->st_prevp = &p->p_rcis;
		if (st->st_next)
			st->st_next->st_prevp = &st->st_next;
		p->p_rcis = st;
		p->p_nrcis++;
	}
	return 0;
}

/* The undo of a remote call that holds its args (*arg) while it waits. */
static void rci_args_free(void *arg)
{
	ac_msg_free(*(ac_msg **)arg);
}

/* Ask p to run the RCI with args: the request's rc and *coro. A coroutine
 * terminated while it waits for the reply frees args. */
static int rci_call_remote(ac_peer *p, ac_ref rci, ac_msg *args,
                           int64_t timeout_ms, ac_ref *coro)
{
	ac__pending pend;
	ac__defer undo;
	int64_t rc64 = 0;
	int rc;
	ac__defer_push(ac__cur(), &undo, rci_args_free, &args);
	rc = ac__remote_call(p, AC_WT_RCI_CALL, timeout_ms, &pend, "[r [u u r S]]",
	                     rci, (uint64_t)args->m_kind, (uint64_t)args->m_aux,
	                     ac_self(), args->m_data, args->m_len);
	ac__defer_pop(ac__cur(), &undo);
	if (rc < 0)
		return rc;
	/* (p may be gone by now: the answer is checked against the rci.) */
	if (ac_unpack(pend.pd_body, pend.pd_len, "[i r]", &rc64, coro) < 0 ||
	    rc64 > 0 || (rc64 == 0 && (coro->kind != AC_REF_CORO ||
	                               !ac_addr_eq(&coro->loc, &rci.loc))))
		rc64 = -EPROTO;
	ac__free(pend.pd_body);
	if (rc64 == 0)
		ac_msg_free(args);
	return (int)rc64;
}

int ac_rci_call(ac_ref rci, ac_msg *args, int64_t timeout_ms, ac_ref *coro)
{
	ac_sched *s = ac__tls_sched;
	ac_node *n;
	ac__rci *r;
	ac_peer *p;
	int err;
	if (!s)
		return -EPERM;
	if (!args || !coro || rci.kind != AC_REF_RCI)
		return -EINVAL;
	r = rci_get(s, rci);
	if (r) {
		/* As for a call from another node: the args come from us. */
		args->m_from = ac_self();
		return rci_spawn(s, r, args, NULL, coro);
	}
	if (ac__ref_is_local(s, &rci))
		return -ESRCH;
	n = ac_node_of(s);
	if (!n)
		return -EHOSTUNREACH;
	p = ac__peer_for_ref(n, &rci, &err);
	if (!p)
		return err;
	if (!ac__cur())
		return -EPERM;
	if (args->m_len > AC_WIRE_PAYLOAD_MAX)
		return -EMSGSIZE; /* see ac__remote_deliver */
	return rci_call_remote(p, rci, args, timeout_ms, coro);
}

/* ---- locate and RCI: the server ------------------------------------------------------- */

int ac__on_locate(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b, size_t len)
{
	ac_node *n = p->p_node;
	char name[AC_WIRE_NAME_MAX + 1];
	uint64_t kind;
	const ac__name *e;
	AC_ASSERT(h->req_id != 0);
	if (ac_unpack(b, len, "[u s]", &kind, name, sizeof(name)) < 0 ||
	    kind < AC_REF_CORO || kind > AC_REF_RCI)
		return -EBADMSG;
	e = ac__name_find(n, (uint32_t)kind, name);
	AC_ASSERT(!e || e->nm_kind == kind);
	if (!e)
		return ac__reply(p, AC_WT_LOCATE, h->req_id, "[i r]", (int64_t)-ENOENT,
		                 ac_ref_null());
	return ac__reply(p, AC_WT_LOCATE, h->req_id, "[i r]", (int64_t)0, e->nm_ref);
}

int ac__on_rci(ac_peer *p, const ac_wire_hdr *h, const uint8_t *b, size_t len)
{
	ac_node *n = p->p_node;
	ac_ref rci, from, coro = ac_ref_null();
	uint64_t kind, aux;
	const void *data;
	size_t dlen;
	ac__rci *r;
	ac_msg *m;
	int rc;
	AC_ASSERT(h->req_id != 0);
	if (ac_unpack(b, len, "[r [u u r S]]", &rci, &kind, &aux, &from, &data,
	              &dlen) < 0)
		return -EBADMSG;
	r = ac__remote_local(n, &rci) ? rci_get(n->n_sched, rci) : NULL;
	if (!r)
		return ac__reply(p, AC_WT_RCI_CALL, h->req_id, "[i r]", (int64_t)-ESRCH,
		                 coro);
	if (ac__remote_busy(p))
		return ac__reply(p, AC_WT_RCI_CALL, h->req_id, "[i r]",
		                 (int64_t)ac__remote_refuse(p), coro);
	if (!ac__remote_from_ok(p, kind, &from)) /* forged: counted, logged */
		return ac__reply(p, AC_WT_RCI_CALL, h->req_id, "[i r]", (int64_t)-EPERM,
		                 coro);
	m = ac__remote_msg_new(kind, aux, from, data, dlen);
	if (!m)
		return -EBADMSG;
	rc = rci_spawn(n->n_sched, r, m, p, &coro);
	if (rc < 0)
		ac_msg_free(m);
	AC_ASSERT(rc < 0 || coro.kind == AC_REF_CORO);
	return ac__reply(p, AC_WT_RCI_CALL, h->req_id, "[i r]", (int64_t)rc, coro);
}
