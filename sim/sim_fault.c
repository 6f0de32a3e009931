/* sim/sim_fault.c: faults of the simulated world — partitions (symmetric
 * and one-way), clogged pairs, crashes and restarts, pauses — injected
 * explicitly by tests or drawn by the random fault process; swarm mode,
 * which draws the knobs themselves from the seed; and BUGGIFY, the nodes'
 * answer to ac_buggify (the buggify member of their ac_io_ops).
 *
 * Links carry the state: a link is cut while the world's time is before
 * k_cut_until and clogged while it is before k_clog_until, so a fault with
 * a known duration ends by itself and needs no event; ac_sim_heal ends them
 * all at once. The random fault process is one event that ticks every
 * fault_tick_ns until faults_until_ns.
 *
 * A crash frees the node's scheduler while its io is inert (n_crashing), so
 * that the engine's teardown (terminating coroutines, closing sockets) has
 * no effect on the network: peers see the reset queued when the sockets
 * vanished, exactly as if the process had been killed.
 */
#include "sim/sim.h"

/* ---- partitions and clogs -------------------------------------------------------- */

static int64_t sim_until(const ac_sim *w, int64_t duration_ns)
{
	if (duration_ns < 0 || duration_ns > INT64_MAX - w->w_now)
		return INT64_MAX;
	return w->w_now + duration_ns;
}

int ac_sim_partition(ac_sim *w, ac_sim_node *a, ac_sim_node *b, int oneway,
                     int64_t duration_ns)
{
	int64_t until = sim_until(w, duration_ns);
	if (a == b || a->n_world != w || b->n_world != w)
		return -EINVAL;
	ac__sim_link_of(w, a->n_idx, b->n_idx)->k_cut_until = until;
	if (!oneway)
		ac__sim_link_of(w, b->n_idx, a->n_idx)->k_cut_until = until;
	w->w_stats.partitions++;
	ac__sim_trace(w, AC__SIM_T_PART, a->n_idx, b->n_idx,
	              (uint64_t)until ^ (uint64_t)!!oneway);
	return 0;
}

int ac_sim_isolate(ac_sim *w, ac_sim_node *n, int64_t duration_ns)
{
	int64_t until = sim_until(w, duration_ns);
	uint32_t i;
	if (n->n_world != w)
		return -EINVAL;
	for (i = 0; i < w->w_nnodes; i++) {
		if (i == n->n_idx)
			continue;
		ac__sim_link_of(w, n->n_idx, i)->k_cut_until = until;
		ac__sim_link_of(w, i, n->n_idx)->k_cut_until = until;
	}
	w->w_stats.partitions++;
	ac__sim_trace(w, AC__SIM_T_PART, n->n_idx, UINT32_MAX, (uint64_t)until);
	return 0;
}

void ac_sim_heal(ac_sim *w)
{
	uint32_t a, b;
	for (a = 0; a < w->w_nnodes; a++)
		for (b = 0; b < w->w_nnodes; b++) {
			ac__sim_link *k = ac__sim_link_of(w, a, b);
			k->k_cut_until = 0;
			k->k_clog_until = 0;
		}
	w->w_part_until = 0;
	ac__sim_trace(w, AC__SIM_T_HEAL, UINT32_MAX, 0, 0);
}

int ac_sim_clog(ac_sim *w, ac_sim_node *a, ac_sim_node *b,
                int64_t duration_ns)
{
	int64_t until = sim_until(w, duration_ns < 0 ? 0 : duration_ns);
	if (a == b || a->n_world != w || b->n_world != w)
		return -EINVAL;
	ac__sim_link_of(w, a->n_idx, b->n_idx)->k_clog_until = until;
	ac__sim_link_of(w, b->n_idx, a->n_idx)->k_clog_until = until;
	w->w_stats.clogs++;
	ac__sim_trace(w, AC__SIM_T_CLOG, a->n_idx, b->n_idx, (uint64_t)until);
	return 0;
}

int ac_sim_set_udp_faults(ac_sim *w, double loss, double dup, double reorder)
{
	if (!(loss >= 0 && loss <= 1) || !(dup >= 0 && dup <= 1) ||
	    !(reorder >= 0 && reorder <= 1))
		return -EINVAL;
	w->w_opts.udp_loss = loss;
	w->w_opts.udp_dup = dup;
	w->w_opts.udp_reorder = reorder;
	return 0;
}

/* ---- crashes, restarts, pauses ------------------------------------------------------- */

void ac__sim_do_crash(ac_sim_node *n)
{
	ac_sim *w = n->n_world;
	AC_ASSERT(n->n_up && w->w_cur == NULL);
	w->w_stats.crashes++;
	ac__sim_trace(w, AC__SIM_T_CRASH, n->n_idx, n->n_inc, 0);
	n->n_crashing = 1;
	ac__sim_node_vanish(n);
	if (n->n_sched)
		ac_sched_free(n->n_sched);
	n->n_sched = NULL;
	/* Whatever the teardown opened is gone too. */
	ac__sim_node_vanish(n);
	n->n_crashing = 0;
	n->n_up = 0;
	n->n_need_start = 0;
	ac__sim_node_io_reset(n);
}

void ac__sim_do_restart(ac_sim_node *n)
{
	ac_sim *w = n->n_world;
	AC_ASSERT(!n->n_up && w->w_cur == NULL);
	n->n_up = 1;
	n->n_inc++;
	n->n_need_start = n->n_main != NULL;
	ac__sim_node_io_reset(n);
	w->w_stats.restarts++;
	ac__sim_trace(w, AC__SIM_T_RESTART, n->n_idx, n->n_inc, 0);
}

int ac_sim_crash(ac_sim_node *n)
{
	ac_sim *w = n->n_world;
	if (!n->n_up || (n->n_deferred & AC__SIM_DEFER_CRASH))
		return -EALREADY;
	if (w->w_cur) {
		n->n_deferred |= AC__SIM_DEFER_CRASH;
		n->n_deferred &= ~AC__SIM_DEFER_RESTART;
		w->w_deferred = 1;
		return 0;
	}
	ac__sim_do_crash(n);
	return 0;
}

int ac_sim_restart(ac_sim_node *n)
{
	ac_sim *w = n->n_world;
	int going_down = (n->n_deferred & AC__SIM_DEFER_CRASH) != 0;
	if ((n->n_up && !going_down) || (n->n_deferred & AC__SIM_DEFER_RESTART))
		return -EALREADY;
	if (w->w_cur) {
		n->n_deferred |= AC__SIM_DEFER_RESTART;
		w->w_deferred = 1;
		return 0;
	}
	ac__sim_do_restart(n);
	return 0;
}

int ac_sim_pause(ac_sim_node *n, int64_t duration_ns)
{
	ac_sim *w = n->n_world;
	if (duration_ns < 0)
		return -EINVAL;
	n->n_paused_until = sim_until(w, duration_ns);
	w->w_stats.pauses++;
	ac__sim_trace(w, AC__SIM_T_PAUSE, n->n_idx, 0,
	              (uint64_t)n->n_paused_until);
	return 0;
}

/* ---- the random fault process ------------------------------------------------------ */

/* Cut the nodes into two non-empty sides for a random time. */
static void sim_random_partition(ac_sim *w)
{
	const ac_sim_opts *o = &w->w_opts;
	uint32_t n = w->w_nnodes, a, b, ones = 0;
	uint8_t side[AC__SIM_NODES_MAX];
	uint64_t mask = 0;
	int mode = o->partition_mode, oneway;
	int64_t until;
	for (a = 0; a < n; a++) {
		side[a] = (uint8_t)ac__sim_rng_below(&w->w_rng, 2);
		ones += side[a];
	}
	if (ones == 0 || ones == n) {
		a = (uint32_t)ac__sim_rng_below(&w->w_rng, n);
		side[a] ^= 1;
	}
	if (mode == AC_SIM_PART_RANDOM)
		mode = (int)ac__sim_rng_below(&w->w_rng, 2);
	oneway = mode == AC_SIM_PART_ONEWAY;
	until = w->w_now + ac__sim_rng_range(&w->w_rng, o->partition_min_ns,
	                                     o->partition_max_ns);
	for (a = 0; a < n; a++) {
		if (side[a] && a < 64)
			mask |= (uint64_t)1 << a;
		for (b = 0; b < n; b++)
			if (side[a] && !side[b])
				ac__sim_link_of(w, a, b)->k_cut_until = until;
			else if (!side[a] && side[b] && !oneway)
				ac__sim_link_of(w, a, b)->k_cut_until = until;
	}
	w->w_part_until = until;
	w->w_stats.partitions++;
	ac__sim_trace(w, AC__SIM_T_PART, UINT32_MAX, mask,
	              (uint64_t)until ^ (uint64_t)oneway);
}

static void sim_random_clog(ac_sim *w)
{
	uint32_t a = (uint32_t)ac__sim_rng_below(&w->w_rng, w->w_nnodes);
	uint32_t b = (uint32_t)ac__sim_rng_below(&w->w_rng, w->w_nnodes - 1);
	if (b >= a)
		b++;
	ac_sim_clog(w, w->w_nodes[a], w->w_nodes[b],
	            1 + ac__sim_rng_exp(&w->w_rng, w->w_opts.clog_mean_ns));
}

static void sim_random_crash(ac_sim *w)
{
	uint32_t i, down = 0, up = 0, k;
	for (i = 0; i < w->w_nnodes; i++)
		if (w->w_nodes[i]->n_up)
			up++;
	down = w->w_nnodes - up;
	if (up == 0 || (int64_t)down >= w->w_opts.crash_max_down)
		return;
	k = (uint32_t)ac__sim_rng_below(&w->w_rng, up);
	for (i = 0; i < w->w_nnodes; i++) {
		ac_sim_node *n = w->w_nodes[i];
		if (!n->n_up || k-- > 0)
			continue;
		ac__sim_do_crash(n);
		if (w->w_opts.restart_delay_ns >= 0 &&
		    ac__sim_ev_push(w, w->w_now + w->w_opts.restart_delay_ns,
		                    AC__SIM_EV_RESTART, i, NULL, 0) == 0)
			n->n_restart_queued = 1;
		return;
	}
}

void ac__sim_fault_tick(ac_sim *w)
{
	const ac_sim_opts *o = &w->w_opts;
	ac__sim_rng *r = &w->w_rng;
	if (o->faults_until_ns > 0 && w->w_now >= o->faults_until_ns)
		return;
	if (w->w_nnodes >= 2) {
		if (ac__sim_rng_chance(r, o->partition_prob) &&
		    w->w_part_until <= w->w_now)
			sim_random_partition(w);
		if (ac__sim_rng_chance(r, o->clog_prob))
			sim_random_clog(w);
	}
	if (w->w_nnodes >= 1) {
		if (ac__sim_rng_chance(r, o->crash_prob))
			sim_random_crash(w);
		if (ac__sim_rng_chance(r, o->pause_prob)) {
			uint32_t i = (uint32_t)ac__sim_rng_below(r, w->w_nnodes);
			ac_sim_pause(w->w_nodes[i],
			             ac__sim_rng_range(r, 1, o->pause_max_ns + 1));
		}
	}
	ac__sim_ev_push(w, w->w_now + o->fault_tick_ns, AC__SIM_EV_FAULT, 0, NULL,
	                0);
}

/* ---- swarm -------------------------------------------------------------------------- */

/* p drawn uniformly from [0, max] half of the time, else 0. */
static double sim_swarm_p(ac__sim_rng *r, double max)
{
	if (ac__sim_rng_below(r, 2))
		return 0.0;
	return ac__sim_rng_unit(r) * max;
}

/* A TCP buffer size from 4 KiB to 2 MiB, about log-uniform. */
static int64_t sim_swarm_buf(ac__sim_rng *r)
{
	int64_t size = 1LL << ac__sim_rng_range(r, 12, 20);
	return size + ac__sim_rng_range(r, 0, size - 1);
}

void ac__sim_swarm(ac_sim_opts *o, ac__sim_rng *r)
{
	o->latency_min_ns = ac__sim_rng_range(r, 10000, 1000000);
	o->latency_mean_ns = o->latency_min_ns + ac__sim_rng_range(r, 0, 20000000);
	o->jitter_ns = ac__sim_rng_below(r, 2) ? 0
	               : ac__sim_rng_range(r, 0, 2000000);
	o->udp_loss = sim_swarm_p(r, 0.3);
	o->udp_dup = sim_swarm_p(r, 0.1);
	o->udp_reorder = sim_swarm_p(r, 0.3);
	o->reorder_delay_ns = ac__sim_rng_range(r, 0, 50000000);
	o->clog_prob = sim_swarm_p(r, 0.02);
	o->clog_mean_ns = ac__sim_rng_range(r, 1000000, 500000000);
	o->partition_prob = sim_swarm_p(r, 0.01);
	o->partition_mode = (int)ac__sim_rng_below(r, 3);
	o->partition_min_ns = ac__sim_rng_range(r, 10000000, 1000000000);
	o->partition_max_ns = o->partition_min_ns +
	                      ac__sim_rng_range(r, 0, 10000000000LL);
	o->crash_prob = sim_swarm_p(r, 0.002);
	o->restart_delay_ns = ac__sim_rng_range(r, 0, 5000000000LL);
	o->pause_prob = sim_swarm_p(r, 0.005);
	o->pause_max_ns = ac__sim_rng_range(r, 1000000, 2000000000LL);
	o->tcp_close_prob = sim_swarm_p(r, 0.001);
	o->partial_prob = sim_swarm_p(r, 0.5);
	o->drift_ppm_max = ac__sim_rng_below(r, 2) ? 0
	                   : (int32_t)ac__sim_rng_range(r, 1, 500);
	o->buggify = (int)ac__sim_rng_below(r, 2);
	o->tcp_sndbuf = sim_swarm_buf(r);
	o->tcp_rcvbuf = sim_swarm_buf(r);
}

/* ---- BUGGIFY ---------------------------------------------------------------------- */

int ac__sim_buggify(ac_io *io, const char *site)
{
	ac_sim_node *n = ac_sim_node_of(io);
	ac_sim *w;
	uint64_t h;
	AC_ASSERT(n != NULL);
	if (!site)
		return 0;
	w = n->n_world;
	if (!w->w_opts.buggify)
		return 0;
	/* Whether the site is enabled depends only on the seed and the name,
	 * not on the order in which sites are first reached. */
	h = ac__sim_fnv1a(AC__SIM_FNV_OFFSET, site, strlen(site));
	h ^= w->w_opts.seed;
	if ((ac__sim_splitmix64(&h) & 3) != 0)
		return 0;
	if (ac__sim_rng_below(&w->w_rng, 4) != 0)
		return 0;
	w->w_stats.buggified++;
	ac__sim_trace(w, AC__SIM_T_BUGGIFY, n->n_idx,
	              ac__sim_fnv1a(AC__SIM_FNV_OFFSET, site, strlen(site)), 0);
	return 1;
}
