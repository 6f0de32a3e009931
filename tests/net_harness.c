/* tests/net_harness.c: the world the network suites (check_net_*.c) run
 * in — several nodes in one process and one thread, each with its own
 * scheduler and captured log, driven by stepping every scheduler in turn —
 * and the helpers they share (peering, an echo coroutine, a peer-status
 * watcher). tests/net_harness.h documents each. Compiled into every suite.
 */
#define _XOPEN_SOURCE 700
#include "tests/net_harness.h"

#include <ftw.h>
#include <time.h>
#include <unistd.h>

world W;

int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_capture(void *arg, int level, const char *text)
{
	tlog *l = arg;
	size_t need = strlen(text) + 4;
	if (getenv("CHECK_NET_LOG"))
		fprintf(stderr, "[%d] %s\n", level, text);
	if (l->len + need + 1 > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		char *nb;
		while (cap < l->len + need + 1)
			cap *= 2;
		nb = realloc(l->buf, cap);
		if (!nb)
			return;
		l->buf = nb;
		l->cap = cap;
	}
	l->len += (size_t)snprintf(l->buf + l->len, l->cap - l->len, "%d %s\n",
	                           level, text);
}

/* 1 when scheduler i logged a line containing text. */
int logged(int i, const char *text)
{
	return W.log[i].buf && strstr(W.log[i].buf, text) != NULL;
}

void log_clear(int i)
{
	W.log[i].len = 0;
	if (W.log[i].buf)
		W.log[i].buf[0] = '\0';
}

/* Start the world: hb/lost 0 keep the defaults. */
void world_init(int64_t hb_ms, int64_t lost_ms)
{
	memset(&W, 0, sizeof(W));
	snprintf(W.dir, sizeof(W.dir), "/tmp/ac-check-net-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(W.dir));
	W.hb_ms = hb_ms;
	W.lost_ms = lost_ms;
}

/* A scheduler at index i (W.n: a new one). */
int world_sched_at(int i)
{
	ac_sched_opts so;
	char name[16];
	ck_assert_int_lt(i, WMAX);
	ck_assert_ptr_null(W.s[i]);
	snprintf(name, sizeof(name), "s%d", i);
	ac_sched_opts_init(&so);
	so.log_fn = log_capture;
	so.log_arg = &W.log[i];
	so.name = name;
	if (W.stune)
		W.stune(i, &so);
	CK_OK(ac_sched_new(&so, &W.s[i]));
	if (i == W.n)
		W.n++;
	return i;
}

int world_sched(void)
{
	return world_sched_at(W.n);
}

/* A node with that secret at index i on tcp_port (0: any). */
int world_node_at(int i, const char *secret, uint16_t tcp_port)
{
	ac_node_opts o;
	char name[16], dest[128];
	world_sched_at(i);
	snprintf(name, sizeof(name), "node%d", i);
	snprintf(dest, sizeof(dest), "%s/n%d", W.dir, i);
	ac_node_opts_init(&o);
	o.node = "127.0.0.1";
	o.udp_port = (uint16_t)(40000 + getpid() % 20000);
	o.discover_peers = 0;
	o.name = name;
	o.secret = secret;
	o.dest_path = dest;
	o.tcp_port = tcp_port;
	if (W.hb_ms)
		o.heartbeat_ms = W.hb_ms;
	if (W.lost_ms)
		o.peer_lost_ms = W.lost_ms;
	if (W.tune)
		W.tune(i, &o);
	CK_OK(ac_node_start(W.s[i], &o, &W.node[i]));
	ck_assert_ptr_nonnull(W.node[i]);
	ck_assert_ptr_eq(ac_node_of(W.s[i]), W.node[i]);
	ck_assert_str_eq(ac_node_name(W.node[i]), name);
	W.loc[i] = ac_node_location(W.node[i]);
	ck_assert_int_eq(W.loc[i].family, AC_AF_INET);
	ck_assert_uint_ne(W.loc[i].port, 0);
	ac_addr_format(&W.loc[i], W.locs[i], sizeof(W.locs[i]));
	return i;
}

/* A new node with that secret; returns its index. */
int world_node(const char *secret)
{
	return world_node_at(W.n, secret, 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Crash node i: its scheduler goes away without a goodbye. */
void world_crash(int i)
{
	ac_sched_free(W.s[i]);
	W.s[i] = NULL;
	W.node[i] = NULL;
}

void world_fini(void)
{
	int i;
	for (i = 0; i < W.n; i++) {
		if (W.s[i])
			ac_sched_free(W.s[i]);
		free(W.log[i].buf);
	}
	nftw(W.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	memset(&W, 0, sizeof(W));
}

/* One round: step every running, unfrozen scheduler; nap when idle. */
void world_step(void)
{
	int i, busy = 0;
	for (i = 0; i < W.n; i++)
		if (W.s[i] && !W.frozen[i])
			busy |= ac_sched_step(W.s[i]) == 1;
	if (!busy) {
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
}

void run_until(const int *flag, int want, int64_t max_ms,
                      const char *what, int line)
{
	int64_t end = wall_ms() + max_ms;
	while (*flag < want) {
		ck_assert_msg(wall_ms() < end,
		              "line %d: timed out waiting for %s (%d, want %d)", line,
		              what, *flag, want);
		world_step();
	}
}

void run_for(int64_t ms)
{
	int64_t end = wall_ms() + ms;
	while (wall_ms() < end)
		world_step();
}

ac_ref spawn_on(int i, ac_coro_fn fn, void *arg)
{
	ac_ref r;
	CK_OK(ac_spawn(W.s[i], fn, arg, NULL, &r));
	return r;
}

/* Peer node `from` with node `to` (from a coroutine of `from`). */
typedef struct peer_job {
	int from;
	const char *loc;
	int rc;
	int done;
} peer_job;

static void body_peer(void *arg)
{
	peer_job *j = arg;
	j->rc = ac_node_peer(W.node[j->from], j->loc, 0, 1, 0, 5000);
	j->done = 1;
}

int peer_loc(int from, const char *loc)
{
	peer_job j = {from, loc, 0, 0};
	spawn_on(from, body_peer, &j);
	RUN_UNTIL(j.done, 1, LONG_MS);
	return j.rc;
}

int npeers(int i)
{
	return ac_node_peers(W.node[i], NULL, 0);
}

/* Wait until node i lists count peers. */
void wait_npeers(int i, int count)
{
	int64_t end = wall_ms() + LONG_MS;
	while (npeers(i) != count) {
		ck_assert_msg(wall_ms() < end, "node%d has %d peers, want %d", i,
		              npeers(i), count);
		world_step();
	}
}

/* Peer from → to and wait until both list each other. */
void world_peer(int from, int to)
{
	int a = npeers(from), b = npeers(to);
	CK_OK(peer_loc(from, W.locs[to]));
	wait_npeers(from, a + 1);
	wait_npeers(to, b + 1);
}

/* 1 when node i lists loc among its peers. */
int lists(int i, const ac_addr *loc)
{
	ac_addr all[WMAX * 4];
	int k = ac_node_peers(W.node[i], all, WMAX * 4), j;
	for (j = 0; j < k && j < WMAX * 4; j++)
		if (ac_addr_eq(&all[j], loc))
			return 1;
	return 0;
}

/* A port on 127.0.0.1 where nobody listens (just closed). */
uint16_t closed_port(void)
{
	ac_addr a;
	ac_sock *l;
	CK_OK(ac_addr_parse(&a, "127.0.0.1", 0));
	CK_OK(ac_sock_listen(W.s[0], &a, 1, 0, &l));
	CK_OK(ac_sock_local_addr(l, &a));
	ac_sock_close(l);
	return a.port;
}

/* r moved to a node that does not exist. */
ac_ref ref_elsewhere(ac_ref r)
{
	r.loc.port = closed_port();
	return r;
}

/* Receive one data message equal to text within LONG_MS. */
void recv_is(const char *text)
{
	ac_msg *m;
	CK_OK(ac_receive(LONG_MS, &m));
	ck_assert_int_eq(ac_msg_kind(m), AC_MSG_DATA);
	ck_assert_msg(ac_msg_is(m, text), "got %.*s, want %s",
	              (int)ac_msg_len(m), (const char *)ac_msg_data(m), text);
	ac_msg_free(m);
}

/* Nothing more arrives within ms. */
void recv_none(int64_t ms)
{
	ac_msg *m = NULL;
	int rc = ac_receive(ms, &m);
	ck_assert_msg(rc == -ETIMEDOUT, "unexpected message (kind %d, %zu bytes)",
	              m ? ac_msg_kind(m) : -1, m ? ac_msg_len(m) : 0);
}

static void body_echo(void *arg)
{
	echo *e = arg;
	ac_msg *m;
	e->ref = ac_self();
	if (e->name)
		CK_OK(ac_register(e->name));
	e->ready = 1;
	while (ac_receive(AC_FOREVER, &m) == 0) {
		if (ac_msg_is(m, "quit")) {
			ac_msg_free(m);
			break;
		}
		e->got++;
		CK_OK(ac_send(ac_msg_from(m), m));
	}
	e->done = 1;
}

void start_echo(int i, echo *e, const char *name)
{
	memset(e, 0, sizeof(*e));
	e->name = name;
	spawn_on(i, body_echo, e);
	RUN_UNTIL(e->ready, 1, LONG_MS);
}

/* ---- peer-status watchers ------------------------------------------------ */

static void body_pwatch(void *arg)
{
	pwatch *w = arg;
	ac_msg *m;
	CK_OK(ac_node_peer_status(W.node[w->node], ac_self()));
	while (ac_receive(0, &m) == 0) {
		ck_assert_int_eq(ac_msg_kind(m), AC_MSG_PEER);
		ck_assert_int_lt(w->nev, 16);
		CK_OK(ac_msg_peer(m, &w->ev[w->nev++]));
		ac_msg_free(m);
	}
	w->immediate = w->nev;
	w->ready = 1;
	while (ac_receive(AC_FOREVER, &m) == 0) {
		ck_assert_int_eq(ac_msg_kind(m), AC_MSG_PEER);
		ck_assert_int_lt(w->nev, 16);
		CK_OK(ac_msg_peer(m, &w->ev[w->nev++]));
		ac_msg_free(m);
	}
}

void start_pwatch(pwatch *w, int node)
{
	memset(w, 0, sizeof(*w));
	w->node = node;
	spawn_on(node, body_pwatch, w);
	RUN_UNTIL(w->ready, 1, LONG_MS);
}

void check_ev(const pwatch *w, int k, int peer, int status)
{
	char name[16];
	ck_assert_int_gt(w->nev, k);
	snprintf(name, sizeof(name), "node%d", peer);
	ck_assert_msg(ac_addr_eq(&w->ev[k].loc, &W.loc[peer]),
	              "event %d of node%d's watcher is not about node%d", k,
	              w->node, peer);
	ck_assert_int_eq(w->ev[k].status, status);
	ck_assert_str_eq(w->ev[k].name, name);
}

int net_harness_main(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
