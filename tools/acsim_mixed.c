/* tools/acsim_mixed.c: the "mixed" scenario — three nodes that do a bit of
 * everything at once (send, deliver, RCI calls with monitors, send_file)
 * while the fault profile crashes, partitions and clogs them, and oracles
 * for the guarantees of DESIGN.md:
 *
 *   - send/deliver: never duplicated, in order per (sender incarnation,
 *     receiver incarnation) pair;
 *   - deliver returned 1 ⇒ the message was queued: a receiver whose node did
 *     not restart afterwards has received it by the end;
 *   - monitors: never two exit messages for one (monitor, target), none
 *     for a target nobody monitored; exactly one by the end for a monitor
 *     that ac_monitor_ref confirmed and whose node did not restart;
 *   - send_file: a received file is always one whole version, never a mix
 *     or a part;
 *   - channels: a message sent or delivered to another node's channel
 *     reaches its transform and its subscribers (the other nodes' sinks)
 *     with ac_msg_from naming the coroutine that sent it;
 *   - sender identity: a message sent or delivered straight to a sink has
 *     ac_msg_from naming a coroutine of the sending node's incarnation;
 *   - resource bounds (doc/semantics.md, "Overload"), with bounds small
 *     enough that the workload meets them (MX_*_MAX below; the sinks pause
 *     now and then, so their queues fill): sampled every 100 ms on every
 *     node, a peer's requests in progress, the bytes of its messages
 *     queued, its watch records and monitors never exceed them; a sink's
 *     queue holds at most what max_coro_inbound allows; the node's
 *     coroutines stay under a count that these bounds imply;
 *   - no node lost on orderly shutdown (the "mixed-stop" variant,
 *     acsim_mixed_stop): a fourth node, the leaver, stops in order at
 *     45 s; from then on no monitor hears "node lost" for its coroutines
 *     and no node logs it lost (tools/acsim_stop.c).
 *
 * The workload runs for the first 40 virtual seconds; faults stop after 20
 * (acsim's default --faults-for); the run ends at 70 s, so that the liveness
 * parts of the oracles see a healed, quiet cluster.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/dis.h>
#include <asyncoro/scenario.h>

#include "tools/acsim.h"

/* The oracle of resource bounds reads the node's peer table (white box). */
#include "net/net.h"

enum { MX_NODES = 3, MX_LOG = 4096, MX_WATCH = 256, MX_FILE = 65536 };

/* The nodes' overload bounds (ac_node_opts) and what they imply: at most
 * MX_CORO_MAX coroutines on a node (its own, MX_REQ_MAX requests per peer,
 * a reader and a writer per peer, the RCI workers of ~1 call/s living up
 * to 3 s each, file transfers). */
enum { MX_REQ_MAX = 2, MX_CORO_IN_MAX = 1024, MX_PEER_IN_MAX = 1536, MX_WATCH_MAX = 4,
       MX_CORO_MAX = 32 + (MX_NODES - 1) * (MX_REQ_MAX + 2) + 3 * 8 };

#define MX_WORK_NS (40LL * 1000000000)
#define MX_END_NS (70LL * 1000000000)

/* A message received by a sink. */
typedef struct mx_rx {
	uint32_t src;
	uint32_t dst;
	uint64_t src_inc;
	uint64_t dst_inc;
	uint64_t seq;
} mx_rx;

/* A deliver that returned 1. */
typedef struct mx_dl {
	uint32_t src;
	uint32_t dst;
	uint64_t src_inc;
	uint64_t dst_inc;
	uint64_t seq;
} mx_dl;

/* A monitor set on a remote coroutine, and the exits it heard. */
typedef struct mx_watch {
	uint32_t node;
	uint64_t inc;
	ac_ref target;
	int exits;
	/* 0 when ac_monitor_ref failed: the request may still have reached
	 * the target's node (a lost reply), so an exit may come, but at most
	 * one, and none is owed. */
	int confirmed;
} mx_watch;

typedef struct mx_ctx mx_ctx;

typedef struct mx_node {
	mx_ctx *ctx;
	uint32_t idx;
	ac_sim_node *sn;
	/* The node's clock at the end of the workload (MX_WORK_NS of world
	 * time): the program reads its own clock, never the world's, so that
	 * its record replays alone. */
	int64_t work_until;
	char addr[AC_ADDR_STRLEN];
	uint64_t inc;
	ac_node *node;
	ac_ref sink;
} mx_node;

struct mx_ctx {
	ac_sim *w;
	mx_node n[MX_NODES];
	mx_rx rx[MX_LOG];
	size_t nrx;
	mx_dl dl[MX_LOG];
	size_t ndl;
	mx_watch watch[MX_WATCH];
	size_t nwatch;
	/* Channel messages whose sender was checked by a sink; direct ones. */
	size_t nchan;
	size_t ndirect;
	/* The run (for ac_scenario_fail), and --tls's certificate or NULL. */
	ac_scenario_run *run;
	const char *certfile;
	/* mixed-stop's oracle (NULL in the other variants). */
	acsim_stop *stop;
};

static void mx_violate(mx_ctx *c, const char *fmt, ...) AC_PRINTF(2, 3);
static void mx_violate(mx_ctx *c, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ac_scenario_fail(c->run, "safety: %s", why);
}

static int mx_working(mx_node *m)
{
	return ac_sched_now_ns(ac_sched_self()) < m->work_until;
}

/* ---- sink and monitor ------------------------------------------------------- */

static void mx_record_exit(mx_node *m, ac_ref target)
{
	mx_ctx *c = m->ctx;
	size_t i;
	for (i = 0; i < c->nwatch; i++) {
		mx_watch *w = &c->watch[i];
		if (w->node == m->idx && w->inc == m->inc &&
		    ac_ref_eq(w->target, target)) {
			if (++w->exits > 1)
				mx_violate(c, "node %u heard %d exits of one coroutine",
				           m->idx, w->exits);
			return;
		}
	}
	mx_violate(c, "node %u heard an exit it did not ask for", m->idx);
}

/* A channel message carries its sender's ref: ac_msg_from must name it. */
static void mx_check_sender(mx_ctx *c, const ac_msg *msg, const char *where)
{
	uint64_t src, src_inc, seq;
	ac_ref sender;
	char a[96], b[96];
	if (ac_msg_unpack(msg, "[u u u r]", &src, &src_inc, &seq, &sender) < 0)
		return;
	if (!ac_ref_eq(ac_msg_from(msg), sender))
		mx_violate(c, "%s saw a channel message from %s sent by %s", where,
		           ac_ref_format(ac_msg_from(msg), a, sizeof(a)),
		           ac_ref_format(sender, b, sizeof(b)));
	c->nchan++;
}

static ac_msg *mx_news_transform(ac_msg *msg, void *arg)
{
	mx_check_sender(arg, msg, "a transform");
	return msg;
}

/* A message straight from a driver [src, src_inc, seq]: ac_msg_from names
 * a coroutine of that node's incarnation. */
static void mx_check_direct(mx_ctx *c, const ac_msg *msg, uint64_t src, uint64_t src_inc)
{
	ac_ref from = ac_msg_from(msg);
	ac_addr loc;
	char a[96];
	ac_sim_node_addr(c->n[src % MX_NODES].sn, &loc);
	loc.port = 7000;
	if (from.kind != AC_REF_CORO || from.inc != src_inc || !ac_addr_eq(&from.loc, &loc))
		mx_violate(c, "a message of node %" PRIu64 " came from %s", src,
		           ac_ref_format(from, a, sizeof(a)));
	c->ndirect++;
}

static void mx_sink(void *arg)
{
	mx_node *m = arg;
	mx_ctx *c = m->ctx;
	unsigned got = 0;
	ac_msg *msg;
	ac_register("sink");
	while (ac_receive(AC_FOREVER, &msg) == 0) {
		uint64_t src, src_inc, seq;
		mx_check_sender(c, msg, "a subscriber");
		if (ac_msg_kind(msg) == AC_MSG_EXIT) {
			ac_exit_info ei;
			ac_msg_exit(msg, &ei);
			mx_record_exit(m, ei.coro);
		} else if (ac_msg_unpack(msg, "[u u u]", &src, &src_inc, &seq) == 0 &&
		           c->nrx < MX_LOG) {
			mx_rx *r = &c->rx[c->nrx++];
			mx_check_direct(c, msg, src, src_inc);
			r->src = (uint32_t)src;
			r->dst = m->idx;
			r->src_inc = src_inc;
			r->dst_inc = m->inc;
			r->seq = seq;
		}
		ac_msg_free(msg);
		/* each queued message of another node costs at least 64 bytes;
		 * local ones (none here but exits of local coroutines) are free */
		if (ac_queue_len() > MX_CORO_IN_MAX / 64 + 8)
			mx_violate(c, "node %u's sink has %zu messages queued (max_coro_inbound "
			           "%d)", m->idx, ac_queue_len(), MX_CORO_IN_MAX);
		if (++got % 40 == 0)
			ac_sleep(3000); /* a slow receiver: its queue fills */
	}
}

/* ---- resource bounds ----------------------------------------------------------- */

static void mx_check_bounds(mx_node *m)
{
	ac_node *n = m->node;
	ac_sched_stats st;
	uint32_t k;
	for (k = 0; k < n->n_npeers; k++) {
		ac_peer *p = n->n_peers[k];
		if (p->p_nreqs > MX_REQ_MAX || (p->p_in && p->p_in->a_bytes > MX_PEER_IN_MAX) ||
		    p->p_watches.rs_n > MX_WATCH_MAX || p->p_monitoring.rs_n > MX_WATCH_MAX)
			mx_violate(m->ctx, "node %u: a peer has %u requests, %zu bytes queued, "
			           "%u watches, %u monitors (bounds %d, %d, %d)", m->idx,
			           p->p_nreqs, p->p_in ? p->p_in->a_bytes : 0,
			           (unsigned)p->p_watches.rs_n, (unsigned)p->p_monitoring.rs_n,
			           MX_REQ_MAX, MX_PEER_IN_MAX, MX_WATCH_MAX);
	}
	ac_sched_get_stats(n->n_sched, &st);
	if (st.spawned - st.ended > MX_CORO_MAX)
		mx_violate(m->ctx, "node %u has %" PRIu64 " coroutines (at most %d)", m->idx,
		           st.spawned - st.ended, MX_CORO_MAX);
}

static void mx_bounds(void *arg)
{
	mx_node *m = arg;
	for (;;) {
		ac_sleep(100);
		mx_check_bounds(m);
	}
}

/* ---- the workload ------------------------------------------------------------ */

static void mx_worker(ac_msg *args)
{
	uint64_t ms = 0;
	ac_msg_unpack(args, "[u]", &ms);
	ac_msg_free(args);
	ac_sleep((int64_t)(ms % 3000));
}

static int mx_peer_ref(mx_node *m, uint32_t dst, uint32_t kind, ac_ref *out)
{
	ac_addr loc;
	ac_sim_node_addr(m->ctx->n[dst].sn, &loc);
	loc.port = 7000;
	if (kind == AC_REF_RCI)
		return ac_rci_locate("worker", &loc, 1000, out);
	return ac_locate("sink", &loc, 1000, out);
}

/* One message to dst's sink: send, or deliver (recorded when it says 1). */
static void mx_message(mx_node *m, uint32_t dst, uint64_t *seq, int deliver)
{
	mx_ctx *c = m->ctx;
	ac_ref sink;
	ac_msg *msg;
	int rc;
	if (mx_peer_ref(m, dst, AC_REF_CORO, &sink) < 0)
		return;
	msg = ac_msg_pack("[u u u]", (uint64_t)m->idx, m->inc, ++*seq);
	if (!msg)
		return;
	if (!deliver) {
		if (ac_send(sink, msg) < 0)
			ac_msg_free(msg);
		return;
	}
	rc = ac_deliver(sink, msg, 1000);
	if (rc == 1 && c->ndl < MX_LOG) {
		mx_dl *d = &c->dl[c->ndl++];
		d->src = m->idx;
		d->dst = dst;
		d->src_inc = m->inc;
		d->dst_inc = sink.inc;
		d->seq = *seq;
	} else if (rc < 0) {
		ac_msg_free(msg);
	}
}

/* An RCI call on dst, monitored by our sink. */
static void mx_call(mx_node *m, uint32_t dst, ac_ref sink, unsigned k)
{
	mx_ctx *c = m->ctx;
	ac_ref rci, coro;
	ac_msg *args;
	if (c->nwatch >= MX_WATCH || mx_peer_ref(m, dst, AC_REF_RCI, &rci) < 0)
		return;
	mx_watch *w;
	args = ac_msg_pack("[u]", (uint64_t)(500 + k * 337));
	if (!args || ac_rci_call(rci, args, 1000, &coro) < 0) {
		ac_msg_free(args);
		return;
	}
	/* Recorded first: the exit may come before monitor's reply does.
	 * Other nodes' calls add entries while this one waits, so w stays
	 * where it is whatever the answer. */
	w = &c->watch[c->nwatch++];
	w->node = m->idx;
	w->inc = m->inc;
	w->target = coro;
	w->exits = 0;
	w->confirmed = 1;
	if (ac_monitor_ref(sink, coro) < 0)
		w->confirmed = 0;
}

/* Subscribe our sink to dst's channel "news" (again: a restart of either
 * node drops the subscription) and send or deliver to it. */
static void mx_news(mx_node *m, uint32_t dst, int deliver)
{
	ac_addr loc;
	ac_ref news;
	ac_msg *msg;
	ac_sim_node_addr(m->ctx->n[dst].sn, &loc);
	loc.port = 7000;
	if (ac_chan_locate("news", &loc, 1000, &news) < 0 ||
	    ac_chan_subscribe(news, m->sink, 1000) < 0)
		return;
	msg = ac_msg_pack("[u u u r]", (uint64_t)m->idx, m->inc, (uint64_t)0,
	                  ac_self());
	if (msg && (deliver ? ac_chan_deliver(news, msg, 1000, 1)
	                    : ac_chan_send(news, msg)) < 0)
		ac_msg_free(msg);
}

/* Send our file (a whole version of uniform bytes) to dst. */
static void mx_file(mx_node *m, uint32_t dst, unsigned version)
{
	ac_io *io = ac_sched_io(ac_sched_self());
	static const char path[] = "/src/file";
	uint8_t *buf = malloc(MX_FILE);
	ac_addr loc;
	int h;
	if (!buf)
		return;
	memset(buf, 'a' + (int)(version % 26), MX_FILE);
	io->ops->file_mkdir(io, "/src", 0700);
	if (io->ops->file_open(io, path, AC_FO_WRITE | AC_FO_CREATE | AC_FO_TRUNC,
	                       0600, &h) == 0) {
		io->ops->file_pwrite(io, h, buf, MX_FILE, 0);
		io->ops->file_close(io, h);
	}
	free(buf);
	ac_sim_node_addr(m->ctx->n[dst].sn, &loc);
	loc.port = 7000;
	ac_node_send_file(m->node, &loc, path, NULL, 1, 5000, NULL);
}

static void mx_driver(void *arg)
{
	mx_node *m = arg;
	ac_ref sink;
	uint64_t seq[MX_NODES] = {0};
	unsigned k = 0;
	if (ac_locate("sink", NULL, 5000, &sink) < 0)
		return;
	while (mx_working(m)) {
		uint32_t dst = (m->idx + 1 + k % 2) % MX_NODES;
		mx_message(m, dst, &seq[dst], k % 3 == 0);
		if (k % 10 == 5)
			mx_call(m, dst, sink, k);
		if (k % 25 == 7)
			mx_file(m, dst, k);
		if (k % 4 == 1)
			mx_news(m, dst, k % 8 == 1);
		ac_sleep(100);
		k++;
	}
}

static void mx_main(ac_sim_node *sn, void *arg)
{
	mx_node *m = arg;
	ac_sched *s = ac_sim_node_sched(sn);
	ac_spawn_opts d = {.name = "sink", .daemon = 1};
	ac_node_opts o;
	ac_ref rci, news;
	m->inc = ac_sched_incarnation(s);
	ac_node_opts_init(&o);
	o.node = m->addr;
	o.tcp_port = 7000;
	o.broadcast = "10.0.0.255";
	o.secret = "mixed";
	o.heartbeat_ms = 500;
	o.peer_lost_ms = 3000;
	o.dest_path = "/dest";
	if (m->ctx->certfile)
		o.certfile = m->ctx->certfile;
	o.max_peer_requests = MX_REQ_MAX;
	o.max_coro_inbound = MX_CORO_IN_MAX;
	o.max_peer_inbound = MX_PEER_IN_MAX;
	o.max_peer_watches = MX_WATCH_MAX;
	if (ac_node_start(s, &o, &m->node) < 0)
		return;
	if (ac_rci_new(s, "worker", mx_worker, &rci) == 0)
		ac_rci_register(rci);
	if (ac_chan_new(s, "news", &news) == 0) {
		ac_chan_set_transform(news, mx_news_transform, m->ctx);
		ac_chan_register(news, "news");
	}
	ac_spawn(s, mx_sink, m, &d, &m->sink);
	d.name = "bounds";
	ac_spawn(s, mx_bounds, m, &d, NULL);
	ac_spawn(s, mx_driver, m, NULL, NULL);
	acsim_stop_observe(m->ctx->stop, s);
}

/* ---- scenario hooks ------------------------------------------------------------- */

static int mx_setup(ac_scenario_run *run)
{
	mx_ctx *c = ac_scenario_ctx(run);
	ac_sim *w = ac_scenario_world(run);
	uint32_t i;
	int rc = 0;
	c->w = w;
	c->run = run;
	for (i = 0; i < MX_NODES && rc == 0; i++) {
		char name[16];
		ac_addr a;
		mx_node *m = &c->n[i];
		snprintf(name, sizeof(name), "node%u", i);
		m->ctx = c;
		m->idx = i;
		rc = ac_sim_node_add(w, name, &m->sn);
		if (rc == 0) {
			ac_sim_node_addr(m->sn, &a);
			ac_addr_format_ip(&a, m->addr, sizeof(m->addr));
			m->work_until = ac_sim_node_clock_at(m->sn, MX_WORK_NS);
			rc = ac_sim_node_set_main(m->sn, mx_main, m);
			if (rc == 0)
				c->certfile = ac_scenario_certfile(run, m->sn);
		}
	}
	return rc;
}

static int mx_stop_setup(ac_scenario_run *run)
{
	mx_ctx *c = ac_scenario_ctx(run);
	int rc = mx_setup(run);
	return rc < 0 ? rc : acsim_stop_setup(run, "mixed", 7000, &c->stop);
}

static void mx_stop_cleanup(ac_scenario_run *run)
{
	mx_ctx *c = ac_scenario_ctx(run);
	if (c) {
		acsim_stop_free(c->stop);
		c->stop = NULL;
	}
}

static int mx_done(ac_scenario_run *run)
{
	return ac_sim_now_ns(ac_scenario_world(run)) >= MX_END_NS;
}

static uint64_t mx_inc_now(mx_ctx *c, uint32_t i)
{
	ac_sched *s = ac_sim_node_sched(c->n[i].sn);
	return s ? ac_sched_incarnation(s) : 0;
}

/* Order and duplicates: per (src, src_inc, dst, dst_inc), seq increases. */
static int mx_check_order(mx_ctx *c, char *why, size_t len)
{
	size_t i, j;
	for (i = 0; i < c->nrx; i++) {
		for (j = i + 1; j < c->nrx; j++) {
			const mx_rx *a = &c->rx[i], *b = &c->rx[j];
			if (a->src != b->src || a->src_inc != b->src_inc ||
			    a->dst != b->dst || a->dst_inc != b->dst_inc)
				continue;
			if (b->seq <= a->seq) {
				snprintf(why, len, "safety: node %u got seq %" PRIu64
				         " from node %u after %" PRIu64 " (order/duplicate)",
				         a->dst, b->seq, a->src, a->seq);
				return -1;
			}
			break; /* the next of this pair checks the rest */
		}
	}
	return 0;
}

/* deliver == 1 ⇒ queued: received by the end unless the receiver restarted. */
static int mx_check_delivered(mx_ctx *c, char *why, size_t len)
{
	size_t i, j;
	for (i = 0; i < c->ndl; i++) {
		const mx_dl *d = &c->dl[i];
		int found = 0;
		if (mx_inc_now(c, d->dst) != d->dst_inc)
			continue;
		for (j = 0; j < c->nrx && !found; j++) {
			const mx_rx *r = &c->rx[j];
			found = r->src == d->src && r->src_inc == d->src_inc &&
			        r->dst == d->dst && r->dst_inc == d->dst_inc &&
			        r->seq == d->seq;
		}
		if (!found) {
			snprintf(why, len, "safety: deliver of seq %" PRIu64 " from node %u"
			         " to node %u returned 1 but it never arrived", d->seq,
			         d->src, d->dst);
			return -1;
		}
	}
	return 0;
}

/* Exactly one exit per monitor whose node lived to the end. */
static int mx_check_exits(mx_ctx *c, char *why, size_t len)
{
	size_t i;
	for (i = 0; i < c->nwatch; i++) {
		const mx_watch *w = &c->watch[i];
		char ref[96];
		if (w->exits == 1 || !w->confirmed || mx_inc_now(c, w->node) != w->inc)
			continue;
		snprintf(why, len, "liveness: node %u's monitor of %s heard %d exits",
		         w->node, ac_ref_format(w->target, ref, sizeof(ref)), w->exits);
		return -1;
	}
	return 0;
}

/* A received file is one whole version. */
static int mx_check_files(mx_ctx *c, char *why, size_t len)
{
	uint32_t i;
	uint8_t *buf = malloc(MX_FILE);
	int rc = 0;
	for (i = 0; i < MX_NODES && buf && rc == 0; i++) {
		ac_io *io = ac_sim_node_io(c->n[i].sn);
		ac_stat st;
		int h;
		int64_t k;
		if (io->ops->file_stat(io, "/dest/file", 1, &st) < 0)
			continue;
		if (st.size != MX_FILE ||
		    io->ops->file_open(io, "/dest/file", AC_FO_READ, 0, &h) < 0) {
			snprintf(why, len, "safety: node %u's file has %" PRId64 " bytes",
			         i, st.size);
			rc = -1;
			break;
		}
		k = io->ops->file_pread(io, h, buf, MX_FILE, 0);
		io->ops->file_close(io, h);
		for (int64_t b = 1; k == MX_FILE && b < MX_FILE; b++)
			if (buf[b] != buf[0])
				k = -1;
		if (k != MX_FILE) {
			snprintf(why, len, "safety: node %u's file mixes versions", i);
			rc = -1;
		}
	}
	free(buf);
	return rc;
}

static void mx_check(ac_scenario_run *run, int stop)
{
	mx_ctx *c = ac_scenario_ctx(run);
	char why[512];
	if (stop != AC_SIM_DONE) {
		ac_scenario_fail(run, "the run did not end");
		return;
	}
	if (mx_check_order(c, why, sizeof(why)) < 0 ||
	    mx_check_delivered(c, why, sizeof(why)) < 0 ||
	    mx_check_exits(c, why, sizeof(why)) < 0 || mx_check_files(c, why, sizeof(why)) < 0)
		ac_scenario_fail(run, "%s", why);
	else if (c->nrx == 0 || c->nwatch == 0 || c->nchan == 0 || c->ndirect == 0)
		ac_scenario_fail(run, "liveness: nothing happened (%zu messages, %zu monitors, %zu "
		                 "channel messages)", c->nrx, c->nwatch, c->nchan);
	else
		acsim_stop_check(c->stop, MX_END_NS);
}

const ac_scenario acsim_mixed = {
	.name = "mixed",
	.help = "3 nodes: send, deliver, RCI + monitors, send_file; guarantees",
	.profile = "crashes",
	.ctx_size = sizeof(mx_ctx),
	.setup = mx_setup,
	.done = mx_done,
	.check = mx_check,
};

const ac_scenario acsim_mixed_lossy = {
	.name = "mixed-lossy",
	.help = "the mixed workload without crashes or partitions",
	.profile = "lossy",
	.ctx_size = sizeof(mx_ctx),
	.setup = mx_setup,
	.done = mx_done,
	.check = mx_check,
};

const ac_scenario acsim_mixed_stop = {
	.name = "mixed-stop",
	.help = "mixed + a 4th node that stops in order: no node lost",
	.profile = "crashes",
	.ctx_size = sizeof(mx_ctx),
	.setup = mx_stop_setup,
	.done = mx_done,
	.check = mx_check,
	.cleanup = mx_stop_cleanup,
};
