/* tests/check_alloc.c: allocation-failure injection (engine/alloc.h).
 *
 * Linked against the test build of the library (libasyncoro_inject.la,
 * -DAC_ALLOC_INJECT), where every allocation of engine/ and net/ is counted
 * and the Nth can be made to fail. A deterministic simulated scenario — two
 * nodes, the client with initial peers and a peer-status watcher, the
 * server not dialling (every connection through its acceptor): register,
 * locate, send (also messages over 1 KiB and over a peer's 256 KiB read
 * buffer), deliver, an RCI call monitored and finished, a channel (locate,
 * subscribe, send, deliver), a small send_file, a socket service (a long
 * line, length-prefixed messages) — runs once clean, which must complete
 * in one round untouched and gives the number K of allocations it makes. Then for N = 1..K it runs again with allocation N failing and
 * asserts:
 *
 *   - no crash (the suite's process survives every N);
 *   - no leak: every block allocated through the seam was freed when the
 *     world is freed (and LeakSanitizer agrees in the sanitizer build);
 *   - no wedge: the run ends in bounded virtual time with either a setup
 *     step that returned -ENOMEM (a node that could not start), or a full
 *     round of the workload succeeding after the failure (the failing
 *     operation returned an error code or its connection was closed, and
 *     the peers recovered).
 *
 * Also, with the live count: coroutines terminated (or freed with their
 * scheduler) while blocked in each call that holds something across its
 * wait leave no block behind (test_terminated_deliver_frees,
 * test_terminated_waits_free).
 *
 * AC_ALLOC_ONLY=N runs only that N; AC_ALLOC_TRACE=1 prints each N before
 * its run (to find the N of a crash); AC_ALLOC_STRIDE=S tries every Sth N.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/asyncoro.h>
#include <asyncoro/dis.h>
#include <asyncoro/sim.h>

#include "engine/alloc.h"
#include "tests/testutil.h"

#define AL_SEC 1000000000LL
#define AL_END_NS (120 * AL_SEC)
#define AL_PORT 7000
#define AL_SOCK_PORT 7100

/* AL_BIG: a message and a line larger than the inline and buffered sizes
 * (engine/msg.c, engine/sock.c's 4 KiB line buffer); AL_HUGE: a frame
 * larger than a peer's 256 KiB read buffer (net/peer.c) even compressed; AL_SOCK_MSG: a
 * socket message larger than ac_sock_send_msg's 1 KiB stack buffer. */
enum { AL_ROUNDS = 6, AL_FILE = 4096, AL_BIG = 6000, AL_HUGE = 600000,
       AL_SOCK_MSG = 2000 };

/* The steps of one round; a round succeeded when all bits are set. */
enum {
	ST_LOCATE, ST_SEND, ST_DELIVER, ST_RCI_LOCATE, ST_RCI_CALL, ST_MONITOR,
	ST_CHAN_LOCATE, ST_SUBSCRIBE, ST_CHAN_SEND, ST_CHAN_DELIVER, ST_FILE,
	ST_EXIT, ST_BIG, ST_FINISH, ST_SOCK, ST_COUNT
};
#define ST_ALL ((1u << ST_COUNT) - 1)

typedef struct al_ctx {
	ac_sim_node *sn[2];
	ac_node *node[2];
	ac_ref sink2;
	/* First setup step that failed (negative errno), per node. */
	int setup_err[2];
	/* Steps that succeeded, per round; rounds run. */
	unsigned steps[AL_ROUNDS];
	int rounds;
	/* Whether the injected failure had happened when each round began. */
	int failed_before[AL_ROUNDS];
	/* Exit notices the client's sink heard. */
	int exits;
	/* A failure was armed for this run. */
	int armed;
	/* The driver ended (after a clean round or AL_ROUNDS rounds). */
	int finished;
} al_ctx;

static al_ctx *al;

static ac_addr al_server(void);

/* Remember the first setup step of node i that failed. */
static void al_setup_err(int i, int rc)
{
	if (rc < 0 && al->setup_err[i] == 0)
		al->setup_err[i] = rc;
}

/* ---- the server (node 0) -------------------------------------------------------- */

/* A daemon that registers as arg (when not NULL), counts exit notices and
 * drops everything else. */
static void al_sink(void *arg)
{
	ac_msg *msg;
	if (arg)
		al_setup_err(0, ac_register(arg));
	while (ac_receive(AC_FOREVER, &msg) == 0) {
		if (ac_msg_kind(msg) == AC_MSG_EXIT)
			al->exits++;
		ac_msg_free(msg);
	}
}

static void al_worker(ac_msg *args)
{
	ac_msg_free(args);
	ac_sleep(100);
}

static ac_msg *al_transform(ac_msg *msg, void *arg)
{
	(void)arg;
	return msg;
}

/* Start the node of scheduler s as node i. Returns 0 or negative errno. */
static int al_node_start(int i, ac_sched *s)
{
	static char server[64];
	static const char *peers[1] = {server};
	ac_node_opts o;
	char ip[64];
	ac_addr a;
	ac_sim_node_addr(al->sn[i], &a);
	ac_addr_format_ip(&a, ip, sizeof(ip));
	ac_node_opts_init(&o);
	o.node = ip;
	o.tcp_port = AL_PORT;
	o.broadcast = "10.0.0.255";
	o.secret = "alloc";
	o.heartbeat_ms = 500;
	o.peer_lost_ms = 3000;
	o.dest_path = "/dest";
	o.stop_timeout_ms = 0;
	/* The server never dials: every connection goes through its acceptor. */
	o.discover_peers = i == 1;
	if (i == 1) { /* the client contacts the server at start */
		ac_addr loc = al_server();
		ac_addr_format(&loc, server, sizeof(server));
		o.peers = peers;
		o.npeers = 1;
	}
	return ac_node_start(s, &o, &al->node[i]);
}

/* One connection of the socket service: a long line, then a length-prefixed
 * message, echoed back as a message. */
static void al_sock_conn(void *arg)
{
	ac_sock *k = arg;
	static char line[2 * AL_BIG];
	void *buf = NULL;
	size_t len;
	if (ac_sock_recv_line(k, line, sizeof(line), 3000) > 0 &&
	    ac_sock_recv_msg(k, &buf, &len, AL_SOCK_MSG, 3000) == 1)
		ac_sock_send_msg(k, buf, len, 3000);
	ac__free(buf); /* the test build counts what recv_msg allocated */
	ac_sock_close(k);
}

/* Accepts until the listener goes; -ENOMEM (the connection was closed) is
 * transient, as for the node's acceptor. */
static void al_sock_server(void *arg)
{
	ac_sock *l = arg, *k;
	int rc;
	while ((rc = ac_sock_accept(l, AC_FOREVER, &k)) == 0 || rc == -ENOMEM)
		if (rc == 0 && ac_spawn(NULL, al_sock_conn, k, NULL, NULL) < 0)
			ac_sock_close(k);
}

/* The socket service's listener and acceptor. */
static void al_sock_start(ac_sched *s)
{
	ac_spawn_opts d = {.name = "sockd", .daemon = 1};
	ac_sock *l;
	ac_addr a;
	int rc;
	ac_sim_node_addr(al->sn[0], &a);
	a.port = AL_SOCK_PORT;
	rc = ac_sock_listen(s, &a, 8, 0, &l);
	al_setup_err(0, rc);
	if (rc < 0)
		return;
	rc = ac_spawn(s, al_sock_server, l, &d, NULL);
	al_setup_err(0, rc);
	if (rc < 0)
		ac_sock_close(l);
}

static void al_server_main(ac_sim_node *sn, void *arg)
{
	ac_sched *s = ac_sim_node_sched(sn);
	ac_spawn_opts d = {.name = "sink", .daemon = 1};
	ac_ref rci, news, sink;
	int rc;
	(void)arg;
	rc = al_node_start(0, s);
	al_setup_err(0, rc);
	if (rc < 0)
		return;
	rc = ac_rci_new(s, "worker", al_worker, &rci);
	al_setup_err(0, rc);
	if (rc == 0)
		al_setup_err(0, ac_rci_register(rci));
	rc = ac_chan_new(s, "news", &news);
	al_setup_err(0, rc);
	if (rc == 0) {
		ac_chan_set_transform(news, al_transform, NULL);
		al_setup_err(0, ac_chan_register(news, "news"));
	}
	al_setup_err(0, ac_spawn(s, al_sink, "sink", &d, &sink));
	al_sock_start(s);
}

/* ---- the client (node 1) -------------------------------------------------------- */

/* The server's location (its node's TCP port). */
static ac_addr al_server(void)
{
	ac_addr a;
	ac_sim_node_addr(al->sn[0], &a);
	a.port = AL_PORT;
	return a;
}

/* A message of len (at most AL_HUGE) bytes of payload. */
static ac_msg *al_big_msg(size_t len)
{
	static char big[AL_HUGE + 1];
	uint32_t x = 12345;
	for (size_t i = 0; i < len; i++) { /* printable noise: compresses little */
		x = x * 1103515245u + 12345u;
		big[i] = (char)(' ' + (x >> 16) % 95);
	}
	big[len] = '\0';
	return ac_msg_pack("[s u]", big, (uint64_t)3);
}

/* Messages to the server's sink: locate, send, a big send, deliver. */
static unsigned al_messages(void)
{
	ac_addr loc = al_server();
	unsigned ok = 0;
	ac_ref sink;
	ac_msg *m;
	if (ac_locate("sink", &loc, 1000, &sink) < 0)
		return ok;
	ok |= 1u << ST_LOCATE;
	m = ac_msg_pack("[s u]", "hello", (uint64_t)1);
	if (m && ac_send(sink, m) == 0)
		ok |= 1u << ST_SEND;
	else
		ac_msg_free(m);
	m = al_big_msg(AL_BIG);
	if (m && ac_send(sink, m) == 0) {
		m = al_big_msg(AL_HUGE);
		if (m && ac_send(sink, m) == 0)
			ok |= 1u << ST_BIG;
		else
			ac_msg_free(m);
	} else {
		ac_msg_free(m);
	}
	m = ac_msg_pack("[s u]", "hello", (uint64_t)2);
	if (m) {
		int rc = ac_deliver(sink, m, 1000);
		if (rc == 1)
			ok |= 1u << ST_DELIVER;
		else if (rc < 0)
			ac_msg_free(m);
	}
	return ok;
}

/* An RCI call on the server, monitored by our sink; waits for its exit. */
static unsigned al_call(void)
{
	ac_addr loc = al_server();
	unsigned ok = 0;
	ac_ref rci, coro;
	ac_msg *args;
	int exits = al->exits;
	if (ac_rci_locate("worker", &loc, 1000, &rci) < 0)
		return ok;
	ok |= 1u << ST_RCI_LOCATE;
	args = ac_msg_pack("[u]", (uint64_t)7);
	if (!args || ac_rci_call(rci, args, 1000, &coro) < 0) {
		ac_msg_free(args);
		return ok;
	}
	ok |= 1u << ST_RCI_CALL;
	if (ac_monitor_ref(al->sink2, coro) < 0)
		return ok;
	ok |= 1u << ST_MONITOR;
	if (ac_finish(coro, 3000, NULL) == 0)
		ok |= 1u << ST_FINISH;
	for (int i = 0; i < 30 && al->exits == exits; i++)
		ac_sleep(100);
	if (al->exits == exits + 1)
		ok |= 1u << ST_EXIT;
	return ok;
}

/* The server's channel: locate, subscribe our sink, send, deliver. */
static unsigned al_channel(void)
{
	ac_addr loc = al_server();
	unsigned ok = 0;
	ac_ref news;
	ac_msg *m;
	if (ac_chan_locate("news", &loc, 1000, &news) < 0)
		return ok;
	ok |= 1u << ST_CHAN_LOCATE;
	if (ac_chan_subscribe(news, al->sink2, 1000) < 0)
		return ok;
	ok |= 1u << ST_SUBSCRIBE;
	m = ac_msg_pack("[s]", "news");
	if (m && ac_chan_send(news, m) == 0)
		ok |= 1u << ST_CHAN_SEND;
	else
		ac_msg_free(m);
	m = ac_msg_pack("[s]", "more news");
	if (m) {
		int rc = ac_chan_deliver(news, m, 1000, 1);
		if (rc >= 1)
			ok |= 1u << ST_CHAN_DELIVER;
		if (rc < 0) /* consumed on any return >= 0, 0 included */
			ac_msg_free(m);
	}
	return ok;
}

/* A small file to the server. */
static unsigned al_file(void)
{
	ac_io *io = ac_sched_io(ac_sched_self());
	static const char path[] = "/src/file";
	static uint8_t buf[AL_FILE];
	ac_addr loc = al_server();
	int h;
	memset(buf, 'f', sizeof(buf));
	io->ops->file_mkdir(io, "/src", 0700);
	if (io->ops->file_open(io, path, AC_FO_WRITE | AC_FO_CREATE | AC_FO_TRUNC,
	                       0600, &h) == 0) {
		io->ops->file_pwrite(io, h, buf, sizeof(buf), 0);
		io->ops->file_close(io, h);
	}
	if (ac_node_send_file(al->node[1], &loc, path, NULL, 1, 5000, NULL) == 0)
		return 1u << ST_FILE;
	return 0;
}

/* The server's socket service: a long line, a message and its echo. */
static unsigned al_sock(void)
{
	static char line[AL_BIG + 2], msg[AL_SOCK_MSG];
	ac_addr a;
	ac_sock *k;
	void *buf = NULL;
	size_t len = 0;
	int rc;
	ac_sim_node_addr(al->sn[0], &a);
	a.port = AL_SOCK_PORT;
	if (ac_sock_connect(&a, 1000, &k) < 0)
		return 0;
	memset(line, 'l', AL_BIG);
	line[AL_BIG] = '\n';
	memset(msg, 'm', sizeof(msg));
	rc = ac_sock_send_all(k, line, AL_BIG + 1, 1000) == AL_BIG + 1 &&
	     ac_sock_send_msg(k, msg, sizeof(msg), 1000) == 0 &&
	     ac_sock_recv_msg(k, &buf, &len, sizeof(msg), 3000) == 1 &&
	     len == sizeof(msg) && memcmp(buf, msg, sizeof(msg)) == 0;
	ac__free(buf);
	ac_sock_close(k);
	return rc ? 1u << ST_SOCK : 0;
}

/* Rounds until one that began after the injected failure succeeded
 * entirely (just one without a failure armed), at most AL_ROUNDS. */
static void al_driver(void *arg)
{
	(void)arg;
	for (int r = 0; r < AL_ROUNDS; r++) {
		al->failed_before[r] = ac__alloc_failed() > 0;
		al->steps[r] = al_messages() | al_call() | al_channel() | al_file() | al_sock();
		al->rounds = r + 1;
		if (al->steps[r] == ST_ALL && (!al->armed || al->failed_before[r]))
			break;
		ac_sleep(1000);
	}
	al->finished = 1;
}

static void al_client_main(ac_sim_node *sn, void *arg)
{
	ac_sched *s = ac_sim_node_sched(sn);
	ac_spawn_opts d = {.name = "sink2", .daemon = 1};
	int rc;
	(void)arg;
	rc = al_node_start(1, s);
	al_setup_err(1, rc);
	if (rc == 0)
		rc = ac_spawn(s, al_sink, NULL, &d, &al->sink2);
	if (rc == 0)
		rc = ac_node_peer_status(al->node[1], al->sink2);
	al_setup_err(1, rc);
	if (rc == 0)
		al_setup_err(1, ac_spawn(s, al_driver, NULL, NULL, NULL));
}

/* ---- one run -------------------------------------------------------------------- */

static int al_done(ac_sim *w, void *arg)
{
	(void)arg;
	return al->finished || al->setup_err[1] || ac_sim_now_ns(w) >= AL_END_NS;
}

/* What one run did. */
typedef struct al_run {
	int stop;
	long count;
	long failed;
	long live;
	/* Log lines of a message misuse (freed twice, freed while queued): a
	 * double free the magic word caught. */
	long misuse;
	al_ctx ctx;
} al_run;

static long al_misuse;

/* The world's log: errors to stderr as usual; misuse of a message is
 * counted (each is a defect in the library or the scenario). */
static void al_log(void *arg, int level, const char *text)
{
	(void)arg;
	(void)level;
	if (strstr(text, "ac_msg_free: "))
		al_misuse++;
	fprintf(stderr, "%s\n", text);
}

/* Run the scenario with allocation fail_at failing (0: none) into *out. */
static void al_run_once(long fail_at, al_run *out)
{
	static al_ctx ctx;
	ac_sim_opts o;
	ac_sim *w;
	memset(&ctx, 0, sizeof(ctx));
	al = &ctx;
	ctx.armed = fail_at > 0;
	ac__alloc_reset();
	ac__alloc_fail_at(fail_at);
	ac_sim_opts_init(&o);
	o.seed = 12;
	o.log_fn = al_log;
	o.log_level = AC_LOG_ERROR;
	al_misuse = 0;
	CK_OK(ac_sim_new(&o, &w));
	CK_OK(ac_sim_node_add(w, "server", &ctx.sn[0]));
	CK_OK(ac_sim_node_add(w, "client", &ctx.sn[1]));
	CK_OK(ac_sim_node_set_main(ctx.sn[0], al_server_main, NULL));
	CK_OK(ac_sim_node_set_main(ctx.sn[1], al_client_main, NULL));
	out->stop = ac_sim_run(w, al_done, NULL);
	out->count = ac__alloc_count();
	out->failed = ac__alloc_failed();
	ac_sim_free(w);
	ac__alloc_fail_at(0);
	out->live = ac__alloc_live();
	out->misuse = al_misuse;
	out->ctx = ctx;
	al = NULL;
}

/* The verdict on a run with allocation n failing: NULL when it held. */
static const char *al_judge(const al_run *r, char *why, size_t len)
{
	const al_ctx *c = &r->ctx;
	if (r->live != 0)
		snprintf(why, len, "%ld blocks still live after the world was freed", r->live);
	else if (r->misuse != 0)
		snprintf(why, len, "%ld messages freed twice or while queued", r->misuse);
	else if (r->stop < 0 && r->stop != -ENOMEM)
		snprintf(why, len, "ac_sim_run returned %d", r->stop);
	else if (r->stop < 0 || c->setup_err[0] || c->setup_err[1]) {
		if (r->stop < 0 || c->setup_err[0] == -ENOMEM || c->setup_err[1] == -ENOMEM)
			return NULL;
		snprintf(why, len, "a setup step failed with %d/%d, not -ENOMEM",
		         c->setup_err[0], c->setup_err[1]);
	} else if (r->stop != AC_SIM_DONE || !c->finished)
		snprintf(why, len, "wedged: the workload did not end (stop %d)", r->stop);
	else if (r->failed == 0 && c->steps[c->rounds - 1] == ST_ALL)
		return NULL;
	else if (!c->failed_before[c->rounds - 1] || c->steps[c->rounds - 1] != ST_ALL)
		snprintf(why, len, "wedged: %d rounds, none complete after the failure "
		         "(last round's steps 0x%x of 0x%x)", c->rounds,
		         c->steps[c->rounds - 1], ST_ALL);
	else
		return NULL;
	return why;
}

static long al_env(const char *name, long dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : dflt;
}

/* Print the call sites reached, and each one's injected failures. */
static void al_sites(void)
{
	const char *file;
	int line, i, failed = 0;
	long n;
	int reached = 0;
	for (i = 0; ac__alloc_site(i, &file, &line, &n); i++) {
		if (strstr(file, "tests/"))
			continue; /* test_live_count_sees_leak's, in a CK_FORK=no run */
		fprintf(stderr, "check_alloc: site %s:%d failed %ld times\n", file, line, n);
		reached++;
		failed += n > 0;
	}
	fprintf(stderr, "check_alloc: %d call sites of engine/ and net/ reached, "
	        "%d of them failed\n", reached, failed);
}

/* ---- tests ---------------------------------------------------------------------- */

/* The run without a failure completes untouched, in one round. */
START_TEST(test_clean_run)
{
	al_run r;
	char why[256];
	al_run_once(0, &r);
	ck_assert_msg(r.ctx.setup_err[0] == 0 && r.ctx.setup_err[1] == 0,
	              "setup failed: %d %d", r.ctx.setup_err[0], r.ctx.setup_err[1]);
	ck_assert_int_eq(r.stop, AC_SIM_DONE);
	ck_assert_int_eq(r.ctx.rounds, 1);
	ck_assert_msg(r.ctx.steps[0] == ST_ALL, "steps 0x%x of 0x%x", r.ctx.steps[0], ST_ALL);
	ck_assert_int_eq(r.failed, 0);
	ck_assert_int_eq(r.live, 0);
	ck_assert_ptr_null(al_judge(&r, why, sizeof(why)));
	ck_assert_int_gt(r.count, 100);
	/* Deterministic: a second clean run makes the same allocations. */
	{
		al_run r2;
		al_run_once(0, &r2);
		ck_assert_int_eq(r2.count, r.count);
	}
}
END_TEST

/* Fail allocation N for N = 1..K (K: the clean run's count). */
START_TEST(test_fail_each)
{
	al_run clean, r;
	char why[256];
	long only = al_env("AC_ALLOC_ONLY", 0), stride = al_env("AC_ALLOC_STRIDE", 1);
	long trace = al_env("AC_ALLOC_TRACE", 0), bad = 0, fired = 0;
	al_run_once(0, &clean);
	ck_assert_int_eq(clean.live, 0);
	if (stride < 1)
		stride = 1;
	for (long n = only ? only : 1; n <= (only ? only : clean.count); n += stride) {
		if (trace)
			fprintf(stderr, "check_alloc: N=%ld\n", n);
		al_run_once(n, &r);
		fired += r.failed;
		if (al_judge(&r, why, sizeof(why))) {
			fprintf(stderr, "check_alloc: N=%ld of %ld: %s\n", n, clean.count, why);
			bad++;
		}
	}
	fprintf(stderr, "check_alloc: K=%ld allocations, %ld failures injected, %ld bad\n",
	        clean.count, fired, bad);
	al_sites();
	ck_assert_int_gt(fired, 0);
	ck_assert_msg(bad == 0, "%ld of the runs broke a rule (see the log)", bad);
}
END_TEST

/* ac_node_start with discovery on, allocation n failing (0: none): one
 * node's start alone. Its return code into *rc, the allocations that
 * failed during it into *failed; returns the allocations made up to its
 * return (ds_before: up to its call). */
static int ds_rc;
static long ds_before, ds_count, ds_failed;
static void ds_main(ac_sim_node *sn, void *arg)
{
	ac_node_opts o;
	ac_node *node;
	char ip[64];
	ac_addr a;
	(void)arg;
	ac_sim_node_addr(sn, &a);
	ac_addr_format_ip(&a, ip, sizeof(ip));
	ac_node_opts_init(&o);
	o.node = ip;
	o.tcp_port = AL_PORT;
	o.broadcast = "10.0.0.255";
	o.secret = "alloc";
	o.discover_peers = 1;
	ds_before = ac__alloc_count();
	ds_rc = ac_node_start(ac_sim_node_sched(sn), &o, &node);
	ds_count = ac__alloc_count();
	ds_failed = ac__alloc_failed();
}

static int ds_done(ac_sim *w, void *arg)
{
	(void)arg;
	return ac_sim_now_ns(w) >= AL_SEC;
}

static long ds_start(long fail_at, int *rc, long *failed)
{
	ac_sim_opts o;
	ac_sim_node *sn;
	ac_sim *w;
	ac__alloc_reset();
	ac__alloc_fail_at(fail_at);
	ac_sim_opts_init(&o);
	o.seed = 3;
	CK_OK(ac_sim_new(&o, &w));
	CK_OK(ac_sim_node_add(w, "one", &sn));
	CK_OK(ac_sim_node_set_main(sn, ds_main, NULL));
	ds_rc = 1;
	ds_before = ds_count = ds_failed = 0;
	ac_sim_run(w, ds_done, NULL);
	ac_sim_free(w);
	ac__alloc_fail_at(0);
	*rc = ds_rc;
	*failed = ds_failed;
	ck_assert_int_eq(ac__alloc_live(), 0);
	return ds_count;
}

/* A node never starts with a service silently off (discovery was): with
 * every allocation of ac_node_start failing in turn, it returns -ENOMEM. */
START_TEST(test_start_discovery)
{
	long failed, clean, first, n;
	int rc, bad = 0;
	clean = ds_start(0, &rc, &failed);
	first = ds_before + 1;
	ck_assert_int_eq(rc, 0);
	ck_assert_int_gt(clean - first, 5);
	for (n = first; n <= clean; n++) {
		ds_start(n, &rc, &failed);
		if (rc == 0 && failed > 0) {
			fprintf(stderr, "check_alloc: start N=%ld: started with a failure\n", n);
			bad++;
		} else if (rc != 0 && rc != -ENOMEM) {
			fprintf(stderr, "check_alloc: start N=%ld: returned %d\n", n, rc);
			bad++;
		}
	}
	ck_assert_int_eq(bad, 0);
}
END_TEST

/* A leak in the scenario itself is seen: allocate through the seam and
 * do not free (the live count is what the other tests rely on). */
START_TEST(test_live_count_sees_leak)
{
	void *p;
	ac__alloc_reset();
	p = ac__malloc(16);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(ac__alloc_live(), 1);
	ac__alloc_fail_at(2);
	ck_assert_ptr_null(ac__calloc(1, 8));
	ck_assert_int_eq(ac__alloc_failed(), 1);
	p = ac__realloc(p, 32);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(ac__alloc_live(), 1);
	ac__free(p);
	ck_assert_int_eq(ac__alloc_live(), 0);
	ck_assert_int_eq(ac__alloc_count(), 3);
}
END_TEST

/* ---- a deliver terminated while it waits ------------------------------- */

/* Coroutines blocked in ac_chan_deliver (waiting for subscribers) are
 * terminated: the local one on its own channel, the one on the other
 * node's channel while it waits for the reply, and the hub's request
 * coroutine that holds the remote message (ended with the world). Each
 * held a message: none may be left (the frames fuzz target found the
 * request coroutine's). */
static struct {
	ac_ref deliverer[2];
	int located, spawned, done;
} td;

static void td_node(ac_sim_node *sn, const char *peer, ac_node **out)
{
	static const char *peers[1];
	ac_node_opts o;
	char ip[64];
	ac_addr a;
	ac_sim_node_addr(sn, &a);
	ac_addr_format_ip(&a, ip, sizeof(ip));
	ac_node_opts_init(&o);
	o.node = ip;
	o.tcp_port = AL_PORT;
	o.broadcast = "10.0.0.255";
	o.secret = "alloc test secret";
	o.stop_timeout_ms = 0;
	if (peer) {
		peers[0] = peer;
		o.peers = peers;
		o.npeers = 1;
	}
	CK_OK(ac_node_start(ac_sim_node_sched(sn), &o, out));
}

static void td_hub_main(ac_sim_node *sn, void *arg)
{
	ac_node *node;
	ac_ref c;
	(void)arg;
	td_node(sn, NULL, &node);
	CK_OK(ac_chan_new(ac_sim_node_sched(sn), "far", &c));
	CK_OK(ac_chan_register(c, "far"));
}

static void td_deliver(void *arg)
{
	ac_ref c;
	ac_msg *m = ac_msg_str("waiting");
	ck_assert_ptr_nonnull(m);
	if (arg) {
		CK_OK(ac_chan_new(NULL, "near", &c));
	} else {
		CK_OK(ac_chan_locate("far", NULL, 10000, &c));
		td.located++;
	}
	ac_chan_deliver(c, m, 60000, 1);
	ck_abort_msg("the deliver returned: it was to be terminated");
}

static void td_killer(void *arg)
{
	(void)arg;
	while (td.located == 0)
		ac_sleep(10);
	ac_sleep(500); /* both are waiting now, the hub's request too */
	CK_OK(ac_terminate(td.deliverer[0]));
	CK_OK(ac_terminate(td.deliverer[1]));
	td.done = 1;
}

static void td_user_main(ac_sim_node *sn, void *arg)
{
	ac_sched *s = ac_sim_node_sched(sn);
	ac_node *node;
	char hub[64];
	ac_addr a = *(ac_addr *)arg;
	a.port = AL_PORT;
	ac_addr_format(&a, hub, sizeof(hub));
	td_node(sn, hub, &node);
	CK_OK(ac_spawn(s, td_deliver, "local", NULL, &td.deliverer[0]));
	CK_OK(ac_spawn(s, td_deliver, NULL, NULL, &td.deliverer[1]));
	CK_OK(ac_spawn(s, td_killer, NULL, NULL, NULL));
}

static int td_stop(ac_sim *w, void *arg)
{
	(void)arg;
	(void)w;
	return td.done;
}

/* A world of two nodes, "hub" and "user", with their programs; the user's
 * gets the hub's address (*hub_addr, which must outlive the run). */
static ac_sim *hu_world(uint64_t seed, ac_sim_main_fn hub_main,
                        ac_sim_main_fn user_main, ac_addr *hub_addr,
                        ac_sim_node **hub, ac_sim_node **user)
{
	ac_sim_opts o;
	ac_sim *w;
	ac_sim_opts_init(&o);
	o.seed = seed;
	CK_OK(ac_sim_new(&o, &w));
	CK_OK(ac_sim_node_add(w, "hub", hub));
	CK_OK(ac_sim_node_add(w, "user", user));
	ac_sim_node_addr(*hub, hub_addr);
	CK_OK(ac_sim_node_set_main(*hub, hub_main, NULL));
	CK_OK(ac_sim_node_set_main(*user, user_main, hub_addr));
	return w;
}

START_TEST(test_terminated_deliver_frees)
{
	ac_sim_node *hub, *user;
	ac_addr hub_addr;
	ac_sim *w;
	memset(&td, 0, sizeof(td));
	ac__alloc_reset();
	w = hu_world(5, td_hub_main, td_user_main, &hub_addr, &hub, &user);
	ck_assert_int_eq(ac_sim_run(w, td_stop, NULL), AC_SIM_DONE);
	ck_assert_int_eq(td.located, 1);
	ck_assert_int_gt(ac__alloc_live(), 0);
	ac_sim_run_for(w, AL_SEC);
	ac_sim_free(w);
	ck_assert_int_eq(ac__alloc_live(), 0);
}
END_TEST

/* ---- every blocking call terminated while it waits --------------------- */

/* The class of test_terminated_deliver_frees, swept: a coroutine of the
 * user node is blocked in each call that may hold something across its
 * wait (a message, args, a pending request, a buffer, a file, a socket
 * operation) and is terminated there; the user node then crashes (the
 * hub's request coroutines serving it — FINISH, a channel deliver — end
 * as their peer departs) and the world is freed. Nothing allocated
 * through the seam may be left. The first group blocks with the network
 * up (the hub's requests wait; a 16 MiB send_file is under way when the
 * link is cut, so both ends of the transfer hold it), the second after the
 * link to the hub is cut (each remote call waits for its reply). Loop 1: the waiters are not
 * terminated, the crash frees them with their scheduler. */
enum {
	TW_FINISH,      /* ac_finish of the hub's sink (a FINISH request there) */
	TW_CHAN_DELIVER, /* a deliver on the hub's channel (its request waits) */
	TW_LOCK,        /* ac_lock_acquire of a held lock */
	TW_SEM,         /* ac_sem_acquire of an empty semaphore */
	TW_WAITQ,       /* ac_waitq_wait */
	TW_RECEIVE,     /* ac_receive */
	TW_RECV_MSG,    /* ac_sock_recv_msg with the body's buffer allocated */
	TW_SEND_MSG,    /* ac_sock_send_msg of a copied message, peer not reading */
	TW_FILE_BIG,    /* send_file of 16 MiB, cut in the middle (both sides hold) */
	TW_CUT,         /* -- the link to the hub is cut from here on -- */
	TW_DELIVER = TW_CUT, /* ac_deliver to the hub's sink */
	TW_RCI,         /* ac_rci_call (args held) */
	TW_LOCATE,      /* ac_locate of a name nobody has */
	TW_MONITOR,     /* ac_monitor of the hub's sink */
	TW_SUBSCRIBE,   /* ac_chan_subscribe to the hub's channel */
	TW_SEND_FILE,   /* ac_node_send_file to the hub (file open, buffer) */
	TW_DELIVER_MANY, /* a local channel with a remote subscriber */
	TW_COUNT
};

#define TW_SOCK_PORT 7200
#define TW_MSG 2000

static struct {
	ac_node *node;
	ac_ref sink, rci, far, near;
	ac_ref coro[TW_COUNT];
	int started[TW_COUNT];
	int returned[TW_COUNT];
	int ready, cut, done;
	int by_crash; /* loop 1: no ac_terminate, nor socket closes */
	ac_lock lock;
	ac_sem sem;
	ac_waitq wq;
	ac_sock *listener, *k[4]; /* client and served end of two connections */
} tw;

static void tw_sink(void *arg)
{
	ac_msg *m;
	(void)arg;
	CK_OK(ac_register("sink"));
	for (;;)
		if (ac_receive(AC_FOREVER, &m) == 0)
			ac_msg_free(m);
}

static void tw_rci_body(ac_msg *args)
{
	ac_msg_free(args);
}

static void tw_hub_main(ac_sim_node *sn, void *arg)
{
	ac_sched *s = ac_sim_node_sched(sn);
	ac_node *node;
	ac_ref c, r;
	(void)arg;
	td_node(sn, NULL, &node);
	CK_OK(ac_chan_new(s, "far", &c));
	CK_OK(ac_chan_register(c, "far"));
	CK_OK(ac_rci_new(s, "rci", tw_rci_body, &r));
	CK_OK(ac_rci_register(r));
	CK_OK(ac_spawn(s, tw_sink, NULL, NULL, NULL));
}

/* A file of chunks times 256 KiB in the user node's file system. */
static void tw_make_file(const char *path, int chunks)
{
	static uint8_t buf[256 * 1024];
	ac_io *io = ac_sched_io(ac_sched_self());
	int h, i;
	io->ops->file_mkdir(io, "/src", 0700);
	CK_OK(io->ops->file_open(io, path, AC_FO_WRITE | AC_FO_CREATE | AC_FO_TRUNC,
	                         0600, &h));
	for (i = 0; i < chunks; i++)
		ck_assert_int_eq(io->ops->file_pwrite(io, h, buf, sizeof(buf),
		                                      (int64_t)i * (int64_t)sizeof(buf)),
		                 (int64_t)sizeof(buf));
	io->ops->file_close(io, h);
}

/* The second group's calls: the remote ones. */
static void tw_call_remote(int what)
{
	ac_ref r, self = ac_self();
	ac_addr hub = ac_ref_null().loc;
	ac_msg *m = ac_msg_str("held across the wait");
	ck_assert_ptr_nonnull(m);
	switch (what) {
	case TW_DELIVER:
		ac_deliver(tw.sink, m, 60000);
		return;
	case TW_RCI:
		ac_rci_call(tw.rci, m, 60000, &r);
		return;
	case TW_DELIVER_MANY:
		ac_chan_deliver(tw.near, m, 60000, 1);
		return;
	}
	ac_msg_free(m);
	if (what == TW_LOCATE)
		ac_locate("nobody", NULL, 60000, &r);
	else if (what == TW_MONITOR)
		ac_monitor(tw.sink);
	else if (what == TW_SUBSCRIBE)
		ac_chan_subscribe(tw.far, self, 60000);
	else if (what == TW_SEND_FILE) {
		hub = tw.sink.loc;
		ac_node_send_file(tw.node, &hub, "/src/file", NULL, 1, 60000, NULL);
	} else if (what == TW_FILE_BIG) {
		hub = tw.sink.loc;
		ac_node_send_file(tw.node, &hub, "/src/big", NULL, 1, 60000, NULL);
	}
}

/* The first group's calls. */
static void tw_call_local(int what)
{
	static uint8_t buf[TW_MSG];
	ac_msg *m;
	void *got;
	size_t len;
	switch (what) {
	case TW_FINISH:
		ac_finish(tw.sink, 60000, &m);
		break;
	case TW_CHAN_DELIVER:
		m = ac_msg_str("for the hub's channel");
		ck_assert_ptr_nonnull(m);
		ac_chan_deliver(tw.far, m, 60000, 5);
		break;
	case TW_LOCK:
		ac_lock_acquire(&tw.lock, 60000);
		break;
	case TW_SEM:
		ac_sem_acquire(&tw.sem, 60000);
		break;
	case TW_WAITQ:
		ac_waitq_wait(&tw.wq, 60000);
		break;
	case TW_RECEIVE:
		ac_receive(60000, &m);
		break;
	case TW_RECV_MSG:
		ac_sock_recv_msg(tw.k[1], &got, &len, 1000, 60000);
		break;
	case TW_SEND_MSG:
		/* Until the buffers are full: the last one waits. */
		while (ac_sock_send_msg(tw.k[3], buf, sizeof(buf), 60000) == 0)
			;
		break;
	}
}

static void tw_waiter(void *arg)
{
	int what = (int)(intptr_t)arg;
	tw.started[what] = 1;
	if (what >= TW_CUT || what == TW_FILE_BIG)
		tw_call_remote(what);
	else
		tw_call_local(what);
	tw.returned[what] = 1;
}

/* Two connections to the user node's own listener: on the first, a
 * header announcing 100 bytes and 10 of them; the second's client end
 * never reads. */
static void tw_sockets(ac_sched *s)
{
	static const uint8_t part[14] = {0, 0, 0, 100};
	ac_addr a;
	int i;
	ac_sim_node_addr(ac_sim_node_of(ac_sched_io(s)), &a);
	a.port = TW_SOCK_PORT;
	CK_OK(ac_sock_listen(s, &a, 8, 0, &tw.listener));
	for (i = 0; i < 2; i++) {
		CK_OK(ac_sock_connect(&a, 5000, &tw.k[2 * i]));
		CK_OK(ac_sock_accept(tw.listener, 5000, &tw.k[2 * i + 1]));
	}
	ck_assert_int_eq(ac_sock_send_all(tw.k[0], part, sizeof(part), 5000),
	                 (ssize_t)sizeof(part));
}

static void tw_spawn(ac_sched *s, int from, int to)
{
	int i;
	for (i = from; i < to; i++)
		CK_OK(ac_spawn(s, tw_waiter, (void *)(intptr_t)i, NULL, &tw.coro[i]));
}

/* The user node's driver: setup, the first group, then (once the test cut
 * the link) the second; every waiter is terminated where it waits. */
static void tw_driver(void *arg)
{
	ac_sched *s = ac_sched_self();
	int i;
	(void)arg;
	CK_OK(ac_locate("sink", NULL, 10000, &tw.sink));
	CK_OK(ac_rci_locate("rci", NULL, 10000, &tw.rci));
	CK_OK(ac_chan_locate("far", NULL, 10000, &tw.far));
	CK_OK(ac_chan_new(s, "near", &tw.near));
	CK_OK(ac_chan_subscribe(tw.near, tw.sink, 10000));
	tw_make_file("/src/file", 1);
	tw_make_file("/src/big", 64);
	tw_sockets(s);
	ac_lock_init(&tw.lock);
	CK_OK(ac_lock_acquire(&tw.lock, 0));
	ac_sem_init(&tw.sem, 0);
	ac_waitq_init(&tw.wq);
	tw_spawn(s, 0, TW_FILE_BIG);
	ac_sleep(500);
	/* The big file is under way when the link is cut. */
	tw_spawn(s, TW_FILE_BIG, TW_CUT);
	ac_sleep(2);
	tw.ready = 1;
	while (!tw.cut)
		ac_sleep(10);
	tw_spawn(s, TW_CUT, TW_COUNT);
	ac_sleep(500);
	for (i = 0; i < TW_COUNT; i++) {
		ck_assert_msg(tw.started[i] && !tw.returned[i],
		              "waiter %d did not wait", i);
		if (!tw.by_crash)
			CK_OK(ac_terminate(tw.coro[i]));
	}
	for (i = 0; i < 4 && !tw.by_crash; i++)
		ac_sock_close(tw.k[i]);
	if (!tw.by_crash)
		ac_sock_close(tw.listener);
	tw.done = 1;
}

static void tw_user_main(ac_sim_node *sn, void *arg)
{
	ac_sched *s = ac_sim_node_sched(sn);
	char hub[64];
	ac_addr a = *(ac_addr *)arg;
	a.port = AL_PORT;
	ac_addr_format(&a, hub, sizeof(hub));
	td_node(sn, hub, &tw.node);
	CK_OK(ac_spawn(s, tw_driver, NULL, NULL, NULL));
}

static int tw_ready(ac_sim *w, void *arg)
{
	(void)w;
	return *(int *)arg;
}

START_TEST(test_terminated_waits_free)
{
	ac_sim_node *hub, *user;
	ac_addr hub_addr;
	ac_sim *w;
	memset(&tw, 0, sizeof(tw));
	tw.by_crash = _i;
	ac__alloc_reset();
	w = hu_world(7, tw_hub_main, tw_user_main, &hub_addr, &hub, &user);
	ck_assert_int_eq(ac_sim_run(w, tw_ready, &tw.ready), AC_SIM_DONE);
	CK_OK(ac_sim_partition(w, hub, user, 0, -1));
	tw.cut = 1;
	ck_assert_int_eq(ac_sim_run(w, tw_ready, &tw.done), AC_SIM_DONE);
	/* The user node departs: the hub ends the requests it served. */
	ac_sim_heal(w);
	CK_OK(ac_sim_crash(user));
	ac_sim_run_for(w, 20 * AL_SEC);
	ck_assert_int_gt(ac__alloc_live(), 0);
	ac_sim_free(w);
	ck_assert_int_eq(ac__alloc_live(), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("inject");
	SRunner *sr;
	int failed;
	/* The failures are expected; their log lines are not what is tested. */
	setenv("AC_LOG_LEVEL", "error", 0);
	tcase_set_timeout(tc, 1200);
	tcase_add_test(tc, test_live_count_sees_leak);
	tcase_add_test(tc, test_terminated_deliver_frees);
	tcase_add_loop_test(tc, test_terminated_waits_free, 0, 2);
	tcase_add_test(tc, test_clean_run);
	tcase_add_test(tc, test_start_discovery);
	tcase_add_test(tc, test_fail_each);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
