/* tests/check_discover.c: UDP discovery (net/discover.c) between real nodes
 * in one process and one thread, each node on its own scheduler over the
 * epoll backend, all on 127.0.0.1 (broadcasts go to 127.255.255.255 only,
 * see DESIGN.md's network-safety rule). The test drives the schedulers by
 * stepping them in turn until a condition holds or a bounded time passes.
 *
 * Covered: nodes sharing udp_port find each other from their start-up
 * broadcasts; a node with another secret is never a peer (its announcements
 * fail the MAC and ours fail at it); peer(host) with port 0 makes the nodes
 * there connect to us without any broadcast, also from a node that does not
 * run discovery itself; with broadcast on, the node that got it relays it
 * so that every node on that network connects; a node restarted at the same
 * location is found again (Offline, then Online: the new incarnation), after
 * a goodbye or a crash; malformed, mis-MAC'ed and oversized datagrams (each
 * field wrong in turn, under the right MAC) are dropped and leave the
 * receiver working.
 *
 * The udp port comes from the pid so that parallel runs do not meet; set
 * AC_TEST_LOG=debug to see the nodes' logs.
 */
#include "tests/testutil.h"

#include <asyncoro/dis.h>

#include "net/wire.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <unistd.h>

#define MAXNODES 4
/* Bound on every wait for something that must happen. */
#define WAIT_MS 5000
/* How long nothing must happen, where that is the point. */
#define QUIET_MS 700

typedef struct world {
	ac_sched *s[MAXNODES];
	ac_node *n[MAXNODES];
	int count;
	/* Heartbeat interval of nodes started from now on (0: default). */
	int64_t hb_ms;
} world;

/* A udp port of this process: k picks one of ten. */
static uint16_t test_port(int k)
{
	return (uint16_t)(40000 + (getpid() % 2500) * 10 + k);
}

/* Start node i of w on 127.0.0.1 (tcp_port 0: any). */
static void node_up(world *w, int i, uint16_t udp, const char *secret,
                    int discover, uint16_t tcp)
{
	ac_sched_opts so;
	ac_node_opts o;
	const char *lv = getenv("AC_TEST_LOG");
	ac_sched_opts_init(&so);
	so.stack_size = 512 * 1024;
	so.log_level = lv && !strcmp(lv, "debug") ? AC_LOG_DEBUG : AC_LOG_ERROR;
	CK_OK(ac_sched_new(&so, &w->s[i]));
	ac_node_opts_init(&o);
	o.node = "127.0.0.1";
	o.udp_port = udp;
	o.tcp_port = tcp;
	o.secret = secret;
	o.discover_peers = discover;
	if (w->hb_ms) {
		o.heartbeat_ms = w->hb_ms;
		o.peer_lost_ms = 2 * w->hb_ms;
	}
	CK_OK(ac_node_start(w->s[i], &o, &w->n[i]));
	if (i >= w->count)
		w->count = i + 1;
}

static void node_down(world *w, int i)
{
	if (!w->s[i])
		return;
	ac_node_stop(w->n[i]);
	ac_sched_free(w->s[i]);
	w->s[i] = NULL;
	w->n[i] = NULL;
}

static void world_free(world *w)
{
	int i;
	for (i = 0; i < w->count; i++)
		node_down(w, i);
}

/* Step every scheduler until done(w, arg) or ms passed; returns done. */
static int drive(world *w, int64_t ms, int (*done)(world *, void *), void *arg)
{
	int64_t end = test_wall_ms() + ms;
	for (;;) {
		int i, busy = 0;
		if (done && done(w, arg))
			return 1;
		if (test_wall_ms() >= end)
			return 0;
		for (i = 0; i < w->count; i++)
			if (w->s[i] && ac_sched_step(w->s[i]) > 0)
				busy = 1;
		if (!busy)
			usleep(500);
	}
}

static int npeers(world *w, int i)
{
	return ac_node_peers(w->n[i], NULL, 0);
}

/* 1 when node i has node j among its peers. */
static int has_peer(world *w, int i, int j)
{
	ac_addr out[16], loc = ac_node_location(w->n[j]);
	int k, c = ac_node_peers(w->n[i], out, 16);
	for (k = 0; k < c && k < 16; k++)
		if (ac_addr_eq(&out[k], &loc))
			return 1;
	return 0;
}

/* arg: an int[MAXNODES] of wanted peer counts (-1: any). */
static int counts_are(world *w, void *arg)
{
	const int *want = arg;
	int i;
	for (i = 0; i < w->count; i++)
		if (w->s[i] && want[i] >= 0 && npeers(w, i) != want[i])
			return 0;
	return 1;
}

/* ---- calling ac_node_peer from a coroutine ----------------------------------- */

typedef struct peer_call {
	ac_node *n;
	uint16_t udp;
	int broadcast;
	int rc;
	int done;
} peer_call;

static void peer_coro(void *arg)
{
	peer_call *c = arg;
	c->rc = ac_node_peer(c->n, "127.0.0.1", c->udp, 1, c->broadcast, 2000);
	c->done = 1;
}

static int call_done(world *w, void *arg)
{
	(void)w;
	return ((peer_call *)arg)->done;
}

/* ac_node_peer(node i, "127.0.0.1", udp, ...) with port 0; must return 0. */
static void peer_port0(world *w, int i, uint16_t udp, int broadcast)
{
	peer_call c = {w->n[i], udp, broadcast, -1, 0};
	CK_OK(ac_spawn(w->s[i], peer_coro, &c, NULL, NULL));
	ck_assert(drive(w, WAIT_MS, call_done, &c));
	CK_OK(c.rc);
}

/* ---- tests ---------------------------------------------------------------------- */

START_TEST(test_three_nodes_find_each_other)
{
	world w = {0};
	int want[MAXNODES] = {2, 2, 2, -1}, i, j;
	uint16_t udp = test_port(0);
	for (i = 0; i < 3; i++)
		node_up(&w, i, udp, "s", 1, 0);
	ck_assert_msg(drive(&w, WAIT_MS, counts_are, want), "peers: %d %d %d",
	              npeers(&w, 0), npeers(&w, 1), npeers(&w, 2));
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			ck_assert(i == j || has_peer(&w, i, j));
	/* Nothing more happens: no duplicate peers, no flapping. */
	drive(&w, QUIET_MS, NULL, NULL);
	ck_assert(counts_are(&w, want));
	world_free(&w);
}
END_TEST

START_TEST(test_wrong_secret_never_peer)
{
	world w = {0};
	int want[MAXNODES] = {1, 1, 0, -1};
	uint16_t udp = test_port(1);
	node_up(&w, 0, udp, "s", 1, 0);
	node_up(&w, 1, udp, "s", 1, 0);
	node_up(&w, 2, udp, "not s", 1, 0);
	ck_assert(drive(&w, WAIT_MS, counts_are, want));
	ck_assert(has_peer(&w, 0, 1) && has_peer(&w, 1, 0));
	drive(&w, QUIET_MS, NULL, NULL);
	ck_assert_msg(counts_are(&w, want), "peers: %d %d %d", npeers(&w, 0),
	              npeers(&w, 1), npeers(&w, 2));
	/* Asking the other-secret node directly does not make it a peer. */
	peer_port0(&w, 2, udp, 0);
	drive(&w, QUIET_MS, NULL, NULL);
	ck_assert(counts_are(&w, want));
	world_free(&w);
}
END_TEST

START_TEST(test_peer_port0_without_broadcast)
{
	/* Node 0 runs no discovery (no udp socket of its own, no broadcast);
	 * node 1 listens on udp. Neither finds the other until node 0 calls
	 * peer("127.0.0.1", udp) with port 0: node 1 hears it and connects. */
	world w = {0};
	int none[MAXNODES] = {0, 0, -1, -1}, both[MAXNODES] = {1, 1, -1, -1};
	uint16_t udp = test_port(2);
	node_up(&w, 0, udp, "s", 0, 0);
	node_up(&w, 1, udp, "s", 1, 0);
	drive(&w, QUIET_MS, NULL, NULL);
	ck_assert(counts_are(&w, none));
	peer_port0(&w, 0, udp, 0);
	ck_assert(drive(&w, WAIT_MS, counts_are, both));
	ck_assert(has_peer(&w, 0, 1) && has_peer(&w, 1, 0));
	world_free(&w);
}
END_TEST

START_TEST(test_peer_port0_relay)
{
	/* Nodes 1 and 2 share udp and find each other. Node 0 (no discovery)
	 * asks with broadcast on: the node that gets the unicast relays it to
	 * 127.255.255.255, so both connect to node 0. */
	world w = {0};
	int pair[MAXNODES] = {0, 1, 1, -1}, all[MAXNODES] = {2, 2, 2, -1};
	uint16_t udp = test_port(3);
	node_up(&w, 0, udp, "s", 0, 0);
	node_up(&w, 1, udp, "s", 1, 0);
	node_up(&w, 2, udp, "s", 1, 0);
	ck_assert(drive(&w, WAIT_MS, counts_are, pair));
	peer_port0(&w, 0, udp, 1);
	ck_assert_msg(drive(&w, WAIT_MS, counts_are, all), "peers: %d %d %d",
	              npeers(&w, 0), npeers(&w, 1), npeers(&w, 2));
	world_free(&w);
}
END_TEST

static int has_peer_1_0(world *w, void *arg)
{
	(void)arg;
	return has_peer(w, 0, 1) && has_peer(w, 1, 0);
}

/* Peer status messages seen by a coroutine of node 0. */
typedef struct status_log {
	int online;
	int offline;
} status_log;

static void status_coro(void *arg)
{
	status_log *l = arg;
	ac_msg *m;
	while (ac_receive(AC_FOREVER, &m) == 0) {
		ac_peer_info pi;
		if (ac_msg_peer(m, &pi) == 0) {
			if (pi.status == AC_PEER_ONLINE)
				l->online++;
			else
				l->offline++;
		}
		ac_msg_free(m);
	}
}

/* Watch node i's peer status from a daemon coroutine of its own. */
static void watch_status(world *w, int i, status_log *l)
{
	ac_spawn_opts so = {.name = "status", .daemon = 1};
	ac_ref r;
	CK_OK(ac_spawn(w->s[i], status_coro, l, &so, &r));
	CK_OK(ac_node_peer_status(w->n[i], r));
}

/* Node 0 saw node 1 come, go, and come back (the new incarnation). */
static int came_back(world *w, void *arg)
{
	const status_log *l = arg;
	return l->online == 2 && l->offline == 1 && has_peer_1_0(w, NULL);
}

START_TEST(test_restarted_node_found_again)
{
	world w = {0};
	int alone[MAXNODES] = {0, -1, -1, -1};
	ac_addr loc;
	status_log log = {0, 0};
	uint16_t udp = test_port(4);
	node_up(&w, 0, udp, "s", 1, 0);
	node_up(&w, 1, udp, "s", 1, 0);
	watch_status(&w, 0, &log);
	ck_assert(drive(&w, WAIT_MS, has_peer_1_0, NULL));
	/* Let node 0's start-up broadcasts pass: only node 1's count below. */
	drive(&w, QUIET_MS, NULL, NULL);
	loc = ac_node_location(w.n[1]);
	node_down(&w, 1);
	ck_assert(drive(&w, WAIT_MS, counts_are, alone));
	/* Same location, new incarnation: its start-up broadcast is heard. */
	node_up(&w, 1, udp, "s", 1, loc.port);
	ck_assert_msg(drive(&w, WAIT_MS, came_back, &log), "online %d offline %d",
	              log.online, log.offline);
	world_free(&w);
}
END_TEST

START_TEST(test_crashed_node_restarted)
{
	/* Node 1 vanishes without a goodbye (its scheduler is freed) and
	 * comes back at the same location: node 0 still has the old
	 * incarnation Online, hears the new one and reconnects at once,
	 * long before any heartbeat would notice. */
	world w = {0};
	ac_addr loc;
	uint16_t udp = test_port(6);
	status_log log = {0, 0};
	w.hb_ms = 60000;
	node_up(&w, 0, udp, "s", 1, 0);
	node_up(&w, 1, udp, "s", 1, 0);
	watch_status(&w, 0, &log);
	ck_assert(drive(&w, WAIT_MS, has_peer_1_0, NULL));
	drive(&w, QUIET_MS, NULL, NULL);
	loc = ac_node_location(w.n[1]);
	ac_sched_free(w.s[1]);
	w.s[1] = NULL;
	w.n[1] = NULL;
	drive(&w, 100, NULL, NULL);
	node_up(&w, 1, udp, "s", 1, loc.port);
	ck_assert_msg(drive(&w, WAIT_MS, came_back, &log), "online %d offline %d",
	              log.online, log.offline);
	ck_assert_int_eq(npeers(&w, 0), 1);
	world_free(&w);
}
END_TEST

/* ---- hostile datagrams --------------------------------------------------------- */

typedef struct raw_send {
	uint16_t udp;
	uint8_t (*dgrams)[1500];
	size_t *lens;
	int count;
	int done;
} raw_send;

static void raw_coro(void *arg)
{
	raw_send *r = arg;
	ac_addr from, to;
	ac_sock *k;
	int i;
	CK_OK(ac_addr_parse(&from, "127.0.0.1", 0));
	CK_OK(ac_addr_parse(&to, "127.0.0.1", r->udp));
	CK_OK(ac_sock_udp(NULL, &from, 0, &k));
	for (i = 0; i < r->count; i++)
		CK_OK(ac_sock_sendto(k, r->dgrams[i], r->lens[i], &to, 1000));
	ac_sock_close(k);
	r->done = 1;
}

static int raw_done(world *w, void *arg)
{
	(void)w;
	return ((raw_send *)arg)->done;
}

/* One announcement datagram: header (type, flags, id), the body packed
 * from fmt, then an HMAC under secret (of the frame, or of nothing when
 * secret is NULL: a wrong MAC). Returns its length. */
static size_t dgram(uint8_t *buf, uint8_t type, uint8_t flags, uint32_t id,
                    const char *secret, const void *body, size_t blen)
{
	unsigned int mlen = AC_WIRE_MAC;
	ac_wire_hdr_put(buf, type, flags, id, (uint32_t)blen);
	memcpy(buf + AC_WIRE_HDR, body, blen);
	if (secret)
		HMAC(EVP_sha256(), secret, (int)strlen(secret), buf, AC_WIRE_HDR + blen,
		     buf + AC_WIRE_HDR + blen, &mlen);
	else
		memset(buf + AC_WIRE_HDR + blen, 0x5a, AC_WIRE_MAC);
	return AC_WIRE_HDR + blen + AC_WIRE_MAC;
}

/* A body [magic ver name loc inc udp relay] with one field overridden. */
static void body(void **b, size_t *len, uint64_t magic, uint64_t ver,
                 const char *name, const ac_addr *loc, uint64_t inc, uint64_t udp)
{
	CK_OK(ac_pack(b, len, "[u u s l u u b]", magic, ver, name, loc, inc, udp, 0));
}

/* Datagrams that must all be dropped, each naming node 0's real location
 * (so accepting any would make node 1 connect to node 0). */
static int hostile_set(uint8_t (*d)[1500], size_t *l, const ac_addr *loc0,
                       uint16_t udp)
{
	const uint64_t M = AC_WIRE_MAGIC, V = AC_WIRE_VERSION, I = 77;
	ac_addr noport = *loc0, any;
	void *b;
	size_t bl;
	int k = 0;
	noport.port = 0;
	CK_OK(ac_addr_parse(&any, "0.0.0.0", loc0->port));
	body(&b, &bl, M, V, "x", loc0, I, udp);
	l[k] = dgram(d[k], AC_WT_ANNOUNCE, 0, 0, NULL, b, bl), k++;      /* bad MAC */
	l[k] = dgram(d[k], AC_WT_ANNOUNCE, 0, 0, "t", b, bl), k++;       /* other secret */
	l[k] = dgram(d[k], AC_WT_PING, 0, 0, "s", b, bl), k++;           /* type */
	l[k] = dgram(d[k], AC_WT_ANNOUNCE, AC_WF_ZLIB, 0, "s", b, bl), k++; /* flags */
	l[k] = dgram(d[k], AC_WT_ANNOUNCE, 0, 9, "s", b, bl), k++;       /* req id */
	l[k] = dgram(d[k], AC_WT_ANNOUNCE, 0, 0, "s", b, bl) + 1, k++;   /* trailing */
	l[k] = dgram(d[k], AC_WT_ANNOUNCE, 0, 0, "s", b, bl) - 1, k++;   /* short MAC */
	l[k] = AC_WIRE_HDR - 1, k++;                                      /* runt */
	free(b);
	/* Right MAC, one field wrong at a time. */
#define BAD(...)                                                              \
	do {                                                                  \
		body(&b, &bl, __VA_ARGS__);                                   \
		l[k] = dgram(d[k], AC_WT_ANNOUNCE, 0, 0, "s", b, bl), k++;    \
		free(b);                                                      \
	} while (0)
	BAD(M + 1, V, "x", loc0, I, udp);
	BAD(M, V + 1, "x", loc0, I, udp);
	BAD(M, V, "", loc0, I, udp);
	BAD(M, V, "x", loc0, 0, udp);
	BAD(M, V, "x", loc0, I, 0);
	BAD(M, V, "x", loc0, I, 70000);
	BAD(M, V, "x", &noport, I, udp);
	BAD(M, V, "x", &any, I, udp);
#undef BAD
	/* The old six-field body, and a body that is not an array. */
	CK_OK(ac_pack(&b, &bl, "[u u s l u b]", M, V, "x", loc0, I, 0));
	l[k] = dgram(d[k], AC_WT_ANNOUNCE, 0, 0, "s", b, bl), k++;
	free(b);
	CK_OK(ac_pack(&b, &bl, "s", "announce"));
	l[k] = dgram(d[k], AC_WT_ANNOUNCE, 0, 0, "s", b, bl), k++;
	free(b);
	/* Too long: over AC_WIRE_ANNOUNCE_MAX, right MAC. */
	memset(d[k], 'a', 1200);
	CK_OK(ac_pack(&b, &bl, "[u u S l u u b]", M, V, d[k], (size_t)1100, loc0, I,
	              (uint64_t)udp, 0));
	l[k] = dgram(d[k], AC_WT_ANNOUNCE, 0, 0, "s", b, bl), k++;
	free(b);
	return k;
}

START_TEST(test_hostile_datagrams_dropped)
{
	world w = {0};
	int none[MAXNODES] = {0, 0, -1, -1}, both[MAXNODES] = {1, 1, -1, -1};
	uint8_t d[32][1500];
	size_t l[32];
	raw_send r;
	ac_addr loc0;
	uint16_t udp = test_port(5);
	memset(d, 0, sizeof(d));
	node_up(&w, 0, udp, "s", 0, 0);
	node_up(&w, 1, udp, "s", 1, 0);
	loc0 = ac_node_location(w.n[0]);
	memset(&r, 0, sizeof(r));
	r.udp = udp;
	r.dgrams = d;
	r.lens = l;
	r.count = hostile_set(d, l, &loc0, udp);
	ck_assert_int_le(r.count, 32);
	CK_OK(ac_spawn(w.s[0], raw_coro, &r, NULL, NULL));
	ck_assert(drive(&w, WAIT_MS, raw_done, &r));
	drive(&w, QUIET_MS, NULL, NULL);
	ck_assert_msg(counts_are(&w, none), "a hostile datagram was acted on");
	/* The receiver still works. */
	peer_port0(&w, 0, udp, 0);
	ck_assert(drive(&w, WAIT_MS, counts_are, both));
	world_free(&w);
}
END_TEST

static Suite *discover_suite(void)
{
	Suite *s = suite_create("discover");
	TCase *tc = tcase_create("loopback");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_three_nodes_find_each_other);
	tcase_add_test(tc, test_wrong_secret_never_peer);
	tcase_add_test(tc, test_peer_port0_without_broadcast);
	tcase_add_test(tc, test_peer_port0_relay);
	tcase_add_test(tc, test_restarted_node_found_again);
	tcase_add_test(tc, test_crashed_node_restarted);
	tcase_add_test(tc, test_hostile_datagrams_dropped);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(discover_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
