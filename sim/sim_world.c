/* sim/sim_world.c: the simulated world — options, nodes, the event queue,
 * the trace hash and the run loop.
 *
 * The loop (sim_loop) keeps one invariant: virtual time only moves when no
 * node has work. While some node has work (a scheduler to start, ready
 * coroutines, an expired timer, completed operations), one of them, picked
 * with the world's PRNG, is stepped: ac_sched_step for a node with a
 * scheduler, a poll of its completions for a raw node. When none has work,
 * time jumps to the earliest of the queued events (ordered by time, then
 * sequence number), the nodes' timer deadlines and the ends of pauses, and
 * the events due then fire. Crashes and restarts asked for during a step
 * (from a coroutine) are applied right after that step, never inside it.
 *
 * The trace hash folds every event, as a record of four 64-bit words (time,
 * kind and node, two arguments), with xxHash64's round function. NOTE: it
 * was FNV-1a over the record's bytes at first; that cost 30% of a timer-heavy
 * run, the word-wise rounds cost a third of it.
 */
#include "sim/sim.h"
#include "io/io.h"
#include "io/record.h"

#include <inttypes.h>

/* ---- trace ------------------------------------------------------------------- */

static const char *const sim_trace_names[AC__SIM_T_KIND_MAX] = {
	[AC__SIM_T_STEP] = "step",       [AC__SIM_T_START] = "start",
	[AC__SIM_T_DONE] = "done",       [AC__SIM_T_SYNC] = "sync",
	[AC__SIM_T_CANCEL] = "cancel",   [AC__SIM_T_CONNECT] = "connect",
	[AC__SIM_T_ACCEPT] = "accept",   [AC__SIM_T_REFUSE] = "refuse",
	[AC__SIM_T_ESTAB] = "estab",     [AC__SIM_T_SEG] = "seg",
	[AC__SIM_T_FIN] = "fin",         [AC__SIM_T_RST] = "rst",
	[AC__SIM_T_STALL] = "stall",     [AC__SIM_T_UDP_SEND] = "udp-send",
	[AC__SIM_T_UDP_RECV] = "udp-recv", [AC__SIM_T_UDP_LOST] = "udp-lost",
	[AC__SIM_T_UDP_DUP] = "udp-dup", [AC__SIM_T_CRASH] = "crash",
	[AC__SIM_T_RESTART] = "restart", [AC__SIM_T_PART] = "partition",
	[AC__SIM_T_HEAL] = "heal",       [AC__SIM_T_CLOG] = "clog",
	[AC__SIM_T_PAUSE] = "pause",     [AC__SIM_T_ENTROPY] = "entropy",
	[AC__SIM_T_BUGGIFY] = "buggify", [AC__SIM_T_AT] = "at",
	[AC__SIM_T_WND] = "wnd",
};

/* One round of xxHash64 (Yann Collet): folds a 64-bit word into acc. */
static inline uint64_t sim_xxh_round(uint64_t acc, uint64_t word)
{
	acc += word * 0xC2B2AE3D27D4EB4FULL;
	acc = (acc << 31) | (acc >> 33);
	return acc * 0x9E3779B185EBCA87ULL;
}

void ac__sim_trace(ac_sim *w, int kind, uint32_t node, uint64_t a,
                   uint64_t b)
{
	uint64_t h = w->w_hash;
	AC_ASSERT(kind > 0 && kind < AC__SIM_T_KIND_MAX);
	/* The record: four words built from integers, so the hash does not
	 * depend on the host's byte order or struct layout. */
	h = sim_xxh_round(h, (uint64_t)w->w_now);
	h = sim_xxh_round(h, (uint64_t)kind | (uint64_t)node << 32);
	h = sim_xxh_round(h, a);
	w->w_hash = sim_xxh_round(h, b);
	if (w->w_trace) {
		fprintf(w->w_trace, "%" PRId64 ".%09" PRId64 " %s", w->w_now
		        / 1000000000, w->w_now % 1000000000, sim_trace_names[kind]);
		if (node != UINT32_MAX)
			fprintf(w->w_trace, " n%" PRIu32, node);
		fprintf(w->w_trace, " %" PRIu64 " %" PRId64 "\n", a, (int64_t)b);
	}
}

uint64_t ac_sim_trace_hash(const ac_sim *w)
{
	return w->w_hash;
}

void ac_sim_trace_file(ac_sim *w, FILE *f)
{
	w->w_trace = f;
}

/* ---- the event queue --------------------------------------------------------- */

static int sim_ev_less(const ac__sim_ev *a, const ac__sim_ev *b)
{
	if (a->v_time != b->v_time)
		return a->v_time < b->v_time;
	return a->v_seq < b->v_seq;
}

int ac__sim_ev_push(ac_sim *w, int64_t time, uint32_t kind, uint32_t node,
                    void *ptr, int32_t arg)
{
	ac__sim_ev ev;
	size_t i;
	if (w->w_nev == w->w_capev) {
		size_t cap = w->w_capev ? 2 * w->w_capev : 256;
		ac__sim_ev *nev = realloc(w->w_ev, cap * sizeof(*nev));
		if (!nev)
			return -ENOMEM;
		w->w_ev = nev;
		w->w_capev = cap;
	}
	ev.v_time = time < w->w_now ? w->w_now : time;
	ev.v_seq = w->w_seq++;
	ev.v_ptr = ptr;
	ev.v_node = node;
	ev.v_arg = arg;
	ev.v_kind = kind;
	i = w->w_nev++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!sim_ev_less(&ev, &w->w_ev[p]))
			break;
		w->w_ev[i] = w->w_ev[p];
		i = p;
	}
	w->w_ev[i] = ev;
	return 0;
}

static void sim_ev_pop(ac_sim *w, ac__sim_ev *out)
{
	ac__sim_ev last;
	size_t i = 0, n;
	AC_ASSERT(w->w_nev > 0);
	*out = w->w_ev[0];
	last = w->w_ev[--w->w_nev];
	n = w->w_nev;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && sim_ev_less(&w->w_ev[c + 1], &w->w_ev[c]))
			c++;
		if (!sim_ev_less(&w->w_ev[c], &last))
			break;
		w->w_ev[i] = w->w_ev[c];
		i = c;
	}
	if (n)
		w->w_ev[i] = last;
}

static void sim_ev_fire(ac_sim *w, ac__sim_ev *ev)
{
	ac__sim_at *at;
	w->w_stats.events++;
	switch (ev->v_kind) {
	case AC__SIM_EV_AT:
		at = ev->v_ptr;
		ac__sim_trace(w, AC__SIM_T_AT, UINT32_MAX, 0, 0);
		at->a_fn(w, at->a_arg);
		free(at);
		break;
	case AC__SIM_EV_RESTART:
		w->w_nodes[ev->v_node]->n_restart_queued = 0;
		if (!w->w_nodes[ev->v_node]->n_up)
			ac__sim_do_restart(w->w_nodes[ev->v_node]);
		break;
	case AC__SIM_EV_FAULT:
		ac__sim_fault_tick(w);
		break;
	default:
		ac__sim_net_event(w, ev);
		break;
	}
}

/* Fire every event due at the current time (events they queue for the same
 * time included). */
static void sim_fire_due(ac_sim *w)
{
	while (w->w_nev && w->w_ev[0].v_time <= w->w_now) {
		ac__sim_ev ev;
		sim_ev_pop(w, &ev);
		sim_ev_fire(w, &ev);
	}
}

/* Release what a queued event holds (world teardown). */
static void sim_ev_discard(ac_sim *w, ac__sim_ev *ev)
{
	switch (ev->v_kind) {
	case AC__SIM_EV_UDP:
	case AC__SIM_EV_AT:
		free(ev->v_ptr);
		break;
	default:
		break;
	}
}

int ac_sim_at(ac_sim *w, int64_t at_ns, ac_sim_at_fn fn, void *arg)
{
	ac__sim_at *at = malloc(sizeof(*at));
	if (!at)
		return -ENOMEM;
	at->a_fn = fn;
	at->a_arg = arg;
	if (ac__sim_ev_push(w, at_ns, AC__SIM_EV_AT, 0, at, 0) < 0) {
		free(at);
		return -ENOMEM;
	}
	return 0;
}

/* ---- options and worlds ------------------------------------------------------ */

void ac_sim_opts_init(ac_sim_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->latency_min_ns = 50000;
	o->latency_mean_ns = 200000;
	o->reorder_delay_ns = 1000000;
	o->fault_tick_ns = 10000000;
	o->clog_mean_ns = 100000000;
	o->partition_mode = AC_SIM_PART_RANDOM;
	o->partition_min_ns = 100000000;
	o->partition_max_ns = 5000000000LL;
	o->crash_max_down = 1;
	o->restart_delay_ns = 1000000000;
	o->pause_max_ns = 500000000;
	o->max_time_ns = 3600LL * 1000000000LL;
	o->max_steps = 1000000000ULL;
	o->tcp_sndbuf = 65536;
	o->tcp_rcvbuf = 131072;
}

static int sim_prob_ok(double p)
{
	return p >= 0.0 && p <= 1.0;
}

static int sim_opts_check(const ac_sim_opts *o)
{
	if (!sim_prob_ok(o->udp_loss) || !sim_prob_ok(o->udp_dup) ||
	    !sim_prob_ok(o->udp_reorder) || !sim_prob_ok(o->clog_prob) ||
	    !sim_prob_ok(o->partition_prob) || !sim_prob_ok(o->crash_prob) ||
	    !sim_prob_ok(o->pause_prob) || !sim_prob_ok(o->tcp_close_prob) ||
	    !sim_prob_ok(o->partial_prob))
		return -EINVAL;
	if (o->latency_min_ns < 0 || o->latency_mean_ns < o->latency_min_ns ||
	    o->jitter_ns < 0 || o->reorder_delay_ns < 0)
		return -EINVAL;
	if (o->fault_tick_ns <= 0 || o->clog_mean_ns < 0 ||
	    o->partition_min_ns < 0 ||
	    o->partition_max_ns < o->partition_min_ns || o->pause_max_ns < 0)
		return -EINVAL;
	if (o->partition_mode < AC_SIM_PART_SYMMETRIC ||
	    o->partition_mode > AC_SIM_PART_RANDOM)
		return -EINVAL;
	if (o->drift_ppm_max < 0 || o->drift_ppm_max > 100000 ||
	    o->disk_bytes_max < 0 || o->max_time_ns <= 0)
		return -EINVAL;
	if (o->tcp_sndbuf < 1 || o->tcp_sndbuf > AC__SIM_TCP_BUF_MAX ||
	    o->tcp_rcvbuf < 1 || o->tcp_rcvbuf > AC__SIM_TCP_BUF_MAX)
		return -EINVAL;
	return 0;
}

/* The assertion context of a world: "sim seed N, t S s[, node NAME]". */
static void sim_assert_describe(const ac__assert_ctx *x, char *buf,
                                size_t len)
{
	const ac_sim *w = (const ac_sim *)(const void *)((const char *)x -
	                  offsetof(ac_sim, w_actx));
	int n = snprintf(buf, len, "sim seed %" PRIu64 ", t %" PRId64 ".%09"
	                 PRId64 " s", w->w_opts.seed, w->w_now / 1000000000,
	                 w->w_now % 1000000000);
	if (w->w_cur && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ", node %s", w->w_cur->n_name);
}

/* 1 when the random fault process has anything to do. */
static int sim_faults_on(const ac_sim_opts *o)
{
	return o->clog_prob > 0 || o->partition_prob > 0 ||
	       o->crash_prob > 0 || o->pause_prob > 0;
}

int ac_sim_new(const ac_sim_opts *o, ac_sim **out)
{
	ac_sim *w;
	int rc;
	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->w_opts = *o;
	ac__sim_rng_seed(&w->w_rng, o->seed);
	if (o->swarm)
		ac__sim_swarm(&w->w_opts, &w->w_rng);
	rc = sim_opts_check(&w->w_opts);
	if (rc < 0) {
		free(w);
		return rc;
	}
	w->w_hash = AC__SIM_TRACE_SEED;
	w->w_actx.x_describe = sim_assert_describe;
	w->w_link_default.k_min = w->w_opts.latency_min_ns;
	w->w_link_default.k_mean = w->w_opts.latency_mean_ns;
	w->w_link_default.k_jitter = w->w_opts.jitter_ns;
	if (sim_faults_on(&w->w_opts) &&
	    ac__sim_ev_push(w, w->w_opts.fault_tick_ns, AC__SIM_EV_FAULT, 0,
	                    NULL, 0) < 0) {
		free(w);
		return -ENOMEM;
	}
	if (w->w_opts.record_dir)
		ac__sim_cap_open(w, w->w_opts.record_dir); /* said when it fails */
	*out = w;
	return 0;
}

static void sim_node_free(ac_sim_node *n)
{
	free(n->n_h);
	ac__sim_fs_fini(&n->n_fs);
	free(n);
}

void ac_sim_free(ac_sim *w)
{
	const ac__assert_ctx *actx;
	uint32_t i;
	if (!w)
		return;
	actx = ac__assert_ctx_swap(&w->w_actx);
	AC_ASSERT(w->w_cur == NULL);
	w->w_trace = NULL;
	for (i = 0; i < w->w_nnodes; i++) {
		ac_sim_node *n = w->w_nodes[i];
		n->n_crashing = 1;
		ac__sim_node_vanish(n);
		if (n->n_sched)
			ac_sched_free(n->n_sched);
		n->n_sched = NULL;
		ac__sim_node_vanish(n);
	}
	while (w->w_nev) {
		ac__sim_ev ev;
		sim_ev_pop(w, &ev);
		sim_ev_discard(w, &ev);
	}
	while (w->w_eps)
		ac__sim_ep_destroy(w, w->w_eps);
	for (i = 0; i < w->w_nnodes; i++)
		sim_node_free(w->w_nodes[i]);
	free(w->w_nodes);
	free(w->w_pick);
	free(w->w_links);
	free(w->w_ev);
	ac__sim_cap_close(w);
	ac__assert_ctx_swap(actx);
	free(w);
}

void ac_sim_get_opts(const ac_sim *w, ac_sim_opts *out)
{
	*out = w->w_opts;
}

void ac_sim_set_log(ac_sim *w, ac_log_fn fn, void *arg)
{
	w->w_opts.log_fn = fn;
	w->w_opts.log_arg = arg;
}

void ac_sim_get_stats(const ac_sim *w, ac_sim_stats *out)
{
	*out = w->w_stats;
}

uint64_t ac_sim_seed(const ac_sim *w)
{
	return w->w_opts.seed;
}

int64_t ac_sim_now_ns(const ac_sim *w)
{
	return w->w_now;
}

void ac_sim_describe(const ac_sim *w, FILE *f)
{
	const ac_sim_opts *o = &w->w_opts;
	fprintf(f, "seed %" PRIu64 "%s%s\n", o->seed, o->swarm ? " swarm" : "",
	        o->buggify ? " buggify" : "");
	fprintf(f, "latency %" PRId64 "..%" PRId64 " ns, jitter %" PRId64
	        " ns\n", o->latency_min_ns, o->latency_mean_ns, o->jitter_ns);
	fprintf(f, "udp loss %.4f dup %.4f reorder %.4f (+%" PRId64 " ns)\n",
	        o->udp_loss, o->udp_dup, o->udp_reorder, o->reorder_delay_ns);
	fprintf(f, "per %" PRId64 " ns tick: clog %.4f partition %.4f (mode %d,"
	        " %" PRId64 "..%" PRId64 " ns) crash %.4f (restart %" PRId64
	        " ns, max down %d) pause %.4f\n", o->fault_tick_ns, o->clog_prob,
	        o->partition_prob, o->partition_mode, o->partition_min_ns,
	        o->partition_max_ns, o->crash_prob, o->restart_delay_ns,
	        o->crash_max_down, o->pause_prob);
	fprintf(f, "tcp close %.5f partial %.4f drift %" PRId32 " ppm\n",
	        o->tcp_close_prob, o->partial_prob, o->drift_ppm_max);
	fprintf(f, "tcp buffers: send %" PRId64 " receive %" PRId64 " bytes\n",
	        o->tcp_sndbuf, o->tcp_rcvbuf);
}

/* ---- nodes ----------------------------------------------------------------- */

/* Make room for node index idx in the node array and the link matrix. */
static int sim_grow_nodes(ac_sim *w, uint32_t idx)
{
	uint32_t cap = w->w_capnodes ? 2 * w->w_capnodes : 8, a, b;
	ac_sim_node **nodes, **pick;
	ac__sim_link *links;
	if (idx < w->w_capnodes)
		return 0;
	nodes = realloc(w->w_nodes, cap * sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	w->w_nodes = nodes;
	pick = realloc(w->w_pick, cap * sizeof(*pick));
	if (!pick)
		return -ENOMEM;
	w->w_pick = pick;
	links = calloc((size_t)cap * cap, sizeof(*links));
	if (!links)
		return -ENOMEM;
	for (a = 0; a < cap; a++)
		for (b = 0; b < cap; b++)
			links[(size_t)a * cap + b] = w->w_link_default;
	for (a = 0; a < w->w_nnodes; a++)
		for (b = 0; b < w->w_nnodes; b++)
			links[(size_t)a * cap + b] = *ac__sim_link_of(w, a, b);
	free(w->w_links);
	w->w_links = links;
	w->w_capnodes = cap;
	return 0;
}

static int sim_name_taken(ac_sim *w, const char *name)
{
	uint32_t i;
	for (i = 0; i < w->w_nnodes; i++)
		if (strcmp(w->w_nodes[i]->n_name, name) == 0)
			return 1;
	return 0;
}

static void sim_node_clock_init(ac_sim *w, ac_sim_node *n)
{
	int32_t m = w->w_opts.drift_ppm_max;
	if (m <= 0)
		return;
	n->n_drift_ppm = ac__sim_rng_range(&w->w_rng, -m, m);
	n->n_clock_off = ac__sim_rng_range(&w->w_rng, 0, 1000000000000LL);
}

int ac_sim_node_add(ac_sim *w, const char *name, ac_sim_node **out)
{
	uint32_t idx = w->w_nnodes;
	ac_sim_node *n;
	char def[32];
	*out = NULL;
	if (!name) {
		snprintf(def, sizeof(def), "node%" PRIu32, idx + 1);
		name = def;
	}
	if (!*name || strlen(name) >= sizeof(n->n_name) || w->w_cur)
		return -EINVAL;
	if (sim_name_taken(w, name))
		return -EEXIST;
	if (idx >= AC__SIM_NODES_MAX)
		return -ENOSPC;
	if (sim_grow_nodes(w, idx) < 0)
		return -ENOMEM;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->n_io.ops = &ac__sim_io_ops;
	n->n_world = w;
	n->n_idx = idx;
	strcpy(n->n_name, name);
	ac_addr_init(&n->n_addr);
	n->n_addr.family = AC_AF_INET;
	n->n_addr.ip[0] = 10;
	n->n_addr.ip[3] = (uint8_t)(idx + 1);
	n->n_up = 1;
	n->n_inc = 1;
	sim_node_clock_init(w, n);
	if (ac__sim_fs_init(&n->n_fs, ac__sim_node_wall(n)) < 0) {
		free(n);
		return -ENOMEM;
	}
	w->w_nodes[idx] = n;
	w->w_nnodes++;
	*out = n;
	return 0;
}

ac_io *ac_sim_node_io(ac_sim_node *n)
{
	return &n->n_io;
}

ac_sim_node *ac_sim_node_of(ac_io *io)
{
	/* A recorder (AC_RECORD) wraps the node's backend. */
	io = ac__io_unwrap(io);
	if (!io || io->ops != &ac__sim_io_ops)
		return NULL;
	return (ac_sim_node *)io;
}

ac_sim *ac_sim_node_world(ac_sim_node *n)
{
	return n->n_world;
}

void ac_sim_node_addr(const ac_sim_node *n, ac_addr *out)
{
	*out = n->n_addr;
}

const char *ac_sim_node_name(const ac_sim_node *n)
{
	return n->n_name;
}

unsigned ac_sim_node_index(const ac_sim_node *n)
{
	return n->n_idx;
}

unsigned ac_sim_nodes(const ac_sim *w)
{
	return w->w_nnodes;
}

ac_sim_node *ac_sim_node_at(ac_sim *w, unsigned index)
{
	return index < w->w_nnodes ? w->w_nodes[index] : NULL;
}

int ac_sim_node_set_main(ac_sim_node *n, ac_sim_main_fn main, void *arg)
{
	if (!main)
		return -EINVAL;
	if (n->n_sched)
		return -EBUSY;
	n->n_main = main;
	n->n_main_arg = arg;
	n->n_need_start = n->n_up;
	return 0;
}

ac_sched *ac_sim_node_sched(ac_sim_node *n)
{
	if (n->n_sched)
		n->n_ready = 1;
	return n->n_sched;
}

int ac_sim_node_is_up(const ac_sim_node *n)
{
	return n->n_up;
}

uint64_t ac_sim_node_incarnation(const ac_sim_node *n)
{
	return n->n_inc;
}

int64_t ac__sim_node_clock(const ac_sim_node *n, int64_t t)
{
	__int128 d;
	if (!n->n_drift_ppm)
		return t + n->n_clock_off;
	d = (__int128)t * n->n_drift_ppm / 1000000;
	return n->n_clock_off + t + (int64_t)d;
}

int64_t ac_sim_node_now_ns(const ac_sim_node *n)
{
	return ac__sim_node_clock(n, n->n_world->w_now);
}

int64_t ac_sim_node_clock_at(const ac_sim_node *n, int64_t t_ns)
{
	return ac__sim_node_clock(n, t_ns);
}

int64_t ac__sim_node_wall(const ac_sim_node *n)
{
	return AC__SIM_EPOCH_NS + ac__sim_node_clock(n, n->n_world->w_now) -
	       n->n_clock_off;
}

/* The earliest world time at which node n's clock reads at least d. */
static int64_t sim_node_to_world(const ac_sim_node *n, int64_t d)
{
	int64_t t;
	if (!n->n_drift_ppm)
		return d - n->n_clock_off;
	t = (int64_t)((__int128)(d - n->n_clock_off) * 1000000 /
	              (1000000 + n->n_drift_ppm));
	while (ac__sim_node_clock(n, t) < d)
		t++;
	while (t > 0 && ac__sim_node_clock(n, t - 1) >= d)
		t--;
	return t;
}

/* ---- addresses of the subnet ----------------------------------------------- */

int ac__sim_in_subnet(const ac_addr *ip)
{
	return ip->family == AC_AF_INET && ip->ip[0] == 10 && ip->ip[1] == 0 &&
	       ip->ip[2] == 0;
}

int ac__sim_is_broadcast(const ac_addr *ip)
{
	if (ip->family != AC_AF_INET)
		return 0;
	if (ip->ip[3] != 255)
		return 0;
	if (ac__sim_in_subnet(ip))
		return 1;
	if (ip->ip[0] == 127 && ip->ip[1] == 255 && ip->ip[2] == 255)
		return 1;
	return ip->ip[0] == 255 && ip->ip[1] == 255 && ip->ip[2] == 255;
}

ac_sim_node *ac__sim_node_by_ip(ac_sim *w, const ac_addr *ip)
{
	uint32_t idx;
	if (!ac__sim_in_subnet(ip) || ip->ip[3] == 0)
		return NULL;
	idx = (uint32_t)ip->ip[3] - 1;
	return idx < w->w_nnodes ? w->w_nodes[idx] : NULL;
}

int64_t ac__sim_latency(ac_sim *w, uint32_t a, uint32_t b)
{
	const ac__sim_link *k = ac__sim_link_of(w, a, b);
	int64_t lat;
	if (a == b)
		return 5000 + (int64_t)ac__sim_rng_below(&w->w_rng, 5000);
	lat = k->k_min + ac__sim_rng_exp(&w->w_rng, k->k_mean - k->k_min);
	if (k->k_jitter > 0)
		lat += ac__sim_rng_range(&w->w_rng, 0, k->k_jitter);
	return lat;
}

int ac_sim_set_latency(ac_sim *w, ac_sim_node *a, ac_sim_node *b,
                       int64_t min_ns, int64_t mean_ns, int64_t jitter_ns)
{
	ac__sim_link *k;
	uint32_t i, j;
	if (min_ns < 0 || mean_ns < min_ns || jitter_ns < 0 || (!a) != (!b))
		return -EINVAL;
	if (a) {
		k = ac__sim_link_of(w, a->n_idx, b->n_idx);
		k->k_min = min_ns;
		k->k_mean = mean_ns;
		k->k_jitter = jitter_ns;
		return 0;
	}
	w->w_link_default.k_min = min_ns;
	w->w_link_default.k_mean = mean_ns;
	w->w_link_default.k_jitter = jitter_ns;
	for (i = 0; i < w->w_nnodes; i++)
		for (j = 0; j < w->w_nnodes; j++) {
			k = ac__sim_link_of(w, i, j);
			k->k_min = min_ns;
			k->k_mean = mean_ns;
			k->k_jitter = jitter_ns;
		}
	return 0;
}

/* ---- the run loop -------------------------------------------------------------- */

/* 1 when node n has something to do now. */
static int sim_node_has_work(ac_sim *w, ac_sim_node *n)
{
	int64_t d;
	if (!n->n_up || n->n_paused_until > w->w_now)
		return 0;
	if (n->n_need_start || n->n_ready || n->n_done.l_head)
		return 1;
	if (!n->n_sched)
		return 0;
	d = ac_sched_next_deadline(n->n_sched);
	return d >= 0 && d <= ac__sim_node_clock(n, w->w_now);
}

/* The earliest future time at which something happens, or -1. */
static int64_t sim_next_time(ac_sim *w)
{
	int64_t t = w->w_nev ? w->w_ev[0].v_time : -1, c;
	uint32_t i;
	for (i = 0; i < w->w_nnodes; i++) {
		ac_sim_node *n = w->w_nodes[i];
		if (!n->n_up)
			continue;
		if (n->n_paused_until > w->w_now) {
			/* Its timers wait for the end of the pause. */
			if (t < 0 || n->n_paused_until < t)
				t = n->n_paused_until;
			continue;
		}
		if (!n->n_sched)
			continue;
		c = ac_sched_next_deadline(n->n_sched);
		if (c < 0)
			continue;
		c = sim_node_to_world(n, c);
		if (c < w->w_now)
			c = w->w_now;
		if (t < 0 || c < t)
			t = c;
	}
	return t;
}

/* What a replay of the node's record needs to find its program again
 * (ac_sim_node_replay): notes in the record (a recorder ignores them when
 * recording stopped; another backend has none). */
static void sim_record_notes(ac_sim_node *n)
{
	ac_io *io = ac_sched_io(n->n_sched);
	char v[32];
	snprintf(v, sizeof(v), "%" PRIu64, n->n_world->w_opts.seed);
	ac__io_record_note(io, "sim.seed", v);
	ac__io_record_note(io, "sim.node", n->n_name);
	snprintf(v, sizeof(v), "%" PRIu64, n->n_inc);
	ac__io_record_note(io, "sim.incarnation", v);
}

static int sim_node_start(ac_sim *w, ac_sim_node *n)
{
	ac_sched_opts so;
	char path[1024];
	int rc;
	ac_sched_opts_init(&so);
	so.io = &n->n_io;
	so.name = n->n_name;
	if (w->w_opts.record_dir) {
		snprintf(path, sizeof(path), "%s/%s.%llu.acrec", w->w_opts.record_dir,
		         n->n_name, (unsigned long long)n->n_inc);
		so.record_path = path;
	}
	if (w->w_opts.log_fn) {
		so.log_fn = w->w_opts.log_fn;
		so.log_arg = w->w_opts.log_arg;
	}
	if (w->w_opts.log_level)
		so.log_level = w->w_opts.log_level;
	n->n_need_start = 0;
	rc = ac_sched_new(&so, &n->n_sched);
	if (rc < 0) {
		n->n_sched = NULL;
		return rc;
	}
	ac__sim_trace(w, AC__SIM_T_START, n->n_idx, n->n_inc, 0);
	if (so.record_path)
		sim_record_notes(n);
	/* An empty step makes it the engine's current scheduler (the last one
	 * run stays current), so that main may use ac_spawn(NULL, ...). */
	ac_sched_step(n->n_sched);
	n->n_main(n, n->n_main_arg);
	n->n_ready = 1;
	return 0;
}

static void sim_run_deferred(ac_sim *w)
{
	uint32_t i;
	w->w_deferred = 0;
	for (i = 0; i < w->w_nnodes; i++) {
		ac_sim_node *n = w->w_nodes[i];
		int d = n->n_deferred;
		n->n_deferred = 0;
		if ((d & AC__SIM_DEFER_CRASH) && n->n_up)
			ac__sim_do_crash(n);
		if ((d & AC__SIM_DEFER_RESTART) && !n->n_up)
			ac__sim_do_restart(n);
	}
}

static int sim_step(ac_sim *w, ac_sim_node *n)
{
	int rc = 0;
	w->w_cur = n;
	w->w_stats.steps++;
	ac__sim_trace(w, AC__SIM_T_STEP, n->n_idx, 0, 0);
	if (n->n_need_start && n->n_main)
		rc = sim_node_start(w, n);
	if (rc >= 0 && n->n_sched) {
		rc = ac_sched_step(n->n_sched);
		n->n_ready = rc > 0;
	} else if (rc >= 0) {
		ac__sim_node_poll(n);
		n->n_ready = 0;
	}
	w->w_cur = NULL;
	if (w->w_deferred)
		sim_run_deferred(w);
	return rc < 0 ? rc : 0;
}

/* Pick a node with work (uniformly, with the PRNG); NULL when none. */
static ac_sim_node *sim_pick(ac_sim *w)
{
	uint32_t i, k = 0;
	for (i = 0; i < w->w_nnodes; i++)
		if (sim_node_has_work(w, w->w_nodes[i]))
			w->w_pick[k++] = w->w_nodes[i];
	if (k == 0)
		return NULL;
	if (k == 1)
		return w->w_pick[0];
	return w->w_pick[ac__sim_rng_below(&w->w_rng, k)];
}

/* The loop; until_ns < 0: no time limit besides max_time_ns. */
static int sim_loop_run(ac_sim *w, int64_t until_ns, ac_sim_done_fn done,
                        void *arg)
{
	for (;;) {
		ac_sim_node *n;
		int64_t t;
		if (done && done(w, arg))
			return AC_SIM_DONE;
		sim_fire_due(w);
		if (w->w_stats.steps >= w->w_opts.max_steps)
			return AC_SIM_STEP_LIMIT;
		n = sim_pick(w);
		if (n) {
			int rc = sim_step(w, n);
			if (rc < 0)
				return rc;
			continue;
		}
		t = sim_next_time(w);
		if (until_ns >= 0 && (t < 0 || t > until_ns)) {
			w->w_now = until_ns;
			return AC_SIM_DONE;
		}
		if (t < 0)
			return AC_SIM_QUIET;
		if (t > w->w_opts.max_time_ns) {
			w->w_now = w->w_opts.max_time_ns;
			return AC_SIM_TIME_LIMIT;
		}
		if (t > w->w_now)
			w->w_now = t;
	}
}

/* The loop, with the world as the thread's assertion context. */
static int sim_loop(ac_sim *w, int64_t until_ns, ac_sim_done_fn done,
                    void *arg)
{
	const ac__assert_ctx *actx = ac__assert_ctx_swap(&w->w_actx);
	int rc;
	AC_ASSERT(w->w_cur == NULL);
	rc = sim_loop_run(w, until_ns, done, arg);
	AC_ASSERT(w->w_cur == NULL);
	ac__assert_ctx_swap(actx);
	return rc;
}

int ac_sim_run(ac_sim *w, ac_sim_done_fn done, void *arg)
{
	return sim_loop(w, -1, done, arg);
}

int ac_sim_run_for(ac_sim *w, int64_t duration_ns)
{
	int64_t until = w->w_now + (duration_ns > 0 ? duration_ns : 0);
	if (until > w->w_opts.max_time_ns)
		until = w->w_opts.max_time_ns;
	return sim_loop(w, until, NULL, NULL);
}

int ac_sim_all_finished(ac_sim *w, void *arg)
{
	uint32_t i;
	(void)arg;
	for (i = 0; i < w->w_nnodes; i++) {
		ac_sim_node *n = w->w_nodes[i];
		if (n->n_need_start || n->n_restart_queued)
			return 0;
		if (n->n_up && n->n_sched && ac_sched_live(n->n_sched) > 0)
			return 0;
	}
	return 1;
}
