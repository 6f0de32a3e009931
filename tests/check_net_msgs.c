/* tests/check_net_msgs.c: refs of other nodes over real loopback TCP
 * (dis.h) — names (register, unregister, locate, locate at a node not yet
 * a peer, node locate), send (FIFO of 1000, refs inside messages, unknown
 * node, dead target, the payload limit, forwarded peer-status and exit
 * messages), deliver (1, -ESRCH, -EHOSTUNREACH, 0 at timeout), monitors
 * (exactly one exit per monitor: returned, failed, terminated, node lost,
 * cut off, ac_notify with a remote monitor), terminate, finish on a remote
 * ref, and RCIs. The world and its helpers are tests/net_harness.h.
 */
#include "tests/net_harness.h"

/* ---- names --------------------------------------------------------------- */

typedef struct names {
	ac_ref owner;
	int owner_ready;
	int other_done;
	int loc_done;
	int again_done;
} names;

static names NM;

static void body_owner(void *arg)
{
	ac_msg *m;
	(void)arg;
	NM.owner = ac_self();
	CK_RC(ac_register("svc"), 0);
	CK_RC(ac_register("svc"), -EEXIST);
	CK_RC(ac_register("svc2"), 0);
	CK_RC(ac_register(""), -EINVAL);
	{
		char longname[AC_WIRE_NAME_MAX + 2];
		memset(longname, 'n', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		CK_RC(ac_register(longname), -ENAMETOOLONG);
		CK_RC(ac_unregister(longname), -ENAMETOOLONG);
		CK_RC(ac_unregister(""), -EINVAL);
		CK_RC(ac_locate(longname, NULL, 100, &NM.owner), -ENAMETOOLONG);
		{
			ac_addr l;
			CK_RC(ac_node_locate(W.node[0], longname, 100, &l), -ENAMETOOLONG);
			CK_RC(ac_node_locate(W.node[0], "", 100, &l), -EINVAL);
		}
		longname[AC_WIRE_NAME_MAX] = '\0';
		CK_RC(ac_register(longname), 0); /* exactly the limit */
		CK_RC(ac_unregister(longname), 0);
	}
	NM.owner = ac_self();
	NM.owner_ready = 1;
	CK_OK(ac_receive(LONG_MS, &m));
	ck_assert(ac_msg_is(m, "quit"));
	ac_msg_free(m);
}

static void body_other(void *arg)
{
	(void)arg;
	CK_RC(ac_register("svc"), -EEXIST);
	CK_RC(ac_unregister("svc"), -ENOENT); /* not ours */
	CK_RC(ac_unregister("nope"), -ENOENT);
	CK_RC(ac_register("mine"), 0);
	CK_RC(ac_unregister("mine"), 0);
	CK_RC(ac_unregister("mine"), -ENOENT);
	NM.other_done = 1;
}

static void body_names_remote(void *arg)
{
	ac_ref r;
	ac_msg *m;
	ac_exit_info ei;
	(void)arg;
	CK_RC(ac_locate("svc", NULL, LONG_MS, &r), 0);
	ck_assert(ac_ref_eq(r, NM.owner));
	CK_RC(ac_locate("svc2", &W.loc[0], LONG_MS, &r), 0);
	ck_assert(ac_ref_eq(r, NM.owner));
	/* the owner ends: its names vanish */
	CK_OK(ac_monitor(r));
	CK_OK(ac_send(r, ac_msg_str("quit")));
	CK_OK(ac_receive(LONG_MS, &m));
	CK_OK(ac_msg_exit(m, &ei));
	ck_assert_int_eq(ei.how, AC_EXIT_RETURNED);
	ac_msg_free(m);
	CK_RC(ac_locate("svc", NULL, 500, &r), -ETIMEDOUT);
	CK_RC(ac_locate("svc2", &W.loc[0], 500, &r), -ETIMEDOUT);
	NM.loc_done = 1;
}

static void body_names_again(void *arg)
{
	ac_ref r;
	(void)arg;
	CK_RC(ac_locate("svc", NULL, 200, &r), -ETIMEDOUT);
	CK_RC(ac_register("svc"), 0); /* free again */
	CK_RC(ac_locate("svc", NULL, 200, &r), 0);
	ck_assert(ac_ref_eq(r, ac_self()));
	NM.again_done = 1;
}

START_TEST(test_register)
{
	world_init(0, 0);
	memset(&NM, 0, sizeof(NM));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	CK_RC(ac_register("x"), -EPERM);
	CK_RC(ac_unregister("x"), -EPERM);
	spawn_on(0, body_owner, NULL);
	RUN_UNTIL(NM.owner_ready, 1, LONG_MS);
	spawn_on(0, body_other, NULL);
	RUN_UNTIL(NM.other_done, 1, LONG_MS);
	spawn_on(1, body_names_remote, NULL);
	RUN_UNTIL(NM.loc_done, 1, LONG_MS);
	spawn_on(0, body_names_again, NULL);
	RUN_UNTIL(NM.again_done, 1, LONG_MS);
	world_fini();
}
END_TEST

typedef struct loc_ctx {
	echo e;
	int late_go;
	ac_ref late_ref;
	int late_done;
	int rc;
	int done;
	ac_addr got;
} loc_ctx;

static loc_ctx LC;

static void body_locate(void *arg)
{
	ac_ref r;
	int64_t t0;
	(void)arg;
	CK_RC(ac_locate("echo", NULL, LONG_MS, &r), 0);
	ck_assert(ac_ref_eq(r, LC.e.ref));
	ck_assert(ac_addr_eq(&r.loc, &W.loc[1]));
	ck_assert_int_eq(r.kind, AC_REF_CORO);
	CK_RC(ac_locate("echo", &W.loc[1], LONG_MS, &r), 0);
	ck_assert(ac_ref_eq(r, LC.e.ref));
	/* not at our own node, nor under another name */
	CK_RC(ac_locate("echo", &W.loc[0], 300, &r), -ETIMEDOUT);
	t0 = wall_ms();
	CK_RC(ac_locate("never", NULL, 300, &r), -ETIMEDOUT);
	ck_assert_int_ge(wall_ms() - t0, 250);
	/* a node that lacks the name answers and keeps working */
	CK_RC(ac_locate("never", &W.loc[1], 300, &r), -ETIMEDOUT);
	CK_RC(ac_locate("echo", &W.loc[1], LONG_MS, &r), 0);
	CK_OK(ac_send(r, ac_msg_str("hi")));
	recv_is("hi");
	/* a name registered later */
	LC.late_go = 1;
	CK_RC(ac_locate("late", NULL, LONG_MS, &r), 0);
	ck_assert(ac_ref_eq(r, LC.late_ref));
	/* bad arguments */
	CK_RC(ac_locate("", NULL, 100, &r), -EINVAL);
	CK_RC(ac_locate("x", NULL, 100, NULL), -EINVAL);
	LC.done = 1;
}

static void body_late(void *arg)
{
	(void)arg;
	while (!LC.late_go)
		ac_sleep(10);
	ac_sleep(300);
	LC.late_ref = ac_self();
	CK_OK(ac_register("late"));
	while (!LC.done)
		ac_sleep(10);
	LC.late_done = 1;
}

START_TEST(test_locate)
{
	world_init(0, 0);
	memset(&LC, 0, sizeof(LC));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	start_echo(1, &LC.e, "echo");
	spawn_on(1, body_late, NULL);
	spawn_on(0, body_locate, NULL);
	RUN_UNTIL(LC.done, 1, 2 * LONG_MS);
	RUN_UNTIL(LC.late_done, 1, LONG_MS);
	world_fini();
}
END_TEST

/* Locating at a location that is not a peer yet contacts that node. */
static void body_locate_at(void *arg)
{
	ac_ref r;
	ac_addr nowhere = W.loc[1];
	(void)arg;
	nowhere.port = closed_port();
	CK_RC(ac_locate("echo", &nowhere, 500, &r), -ETIMEDOUT);
	CK_RC(ac_locate("echo", &W.loc[1], LONG_MS, &r), 0);
	ck_assert(ac_ref_eq(r, LC.e.ref));
	CK_RC(ac_deliver(r, ac_msg_str("hello"), LONG_MS), 1);
	recv_is("hello");
	LC.done = 1;
}

START_TEST(test_locate_connects)
{
	world_init(0, 0);
	memset(&LC, 0, sizeof(LC));
	world_node("s");
	world_node("s");
	start_echo(1, &LC.e, "echo");
	ck_assert_int_eq(npeers(0), 0);
	spawn_on(0, body_locate_at, NULL);
	RUN_UNTIL(LC.done, 1, LONG_MS);
	ck_assert(lists(0, &W.loc[1]));
	wait_npeers(1, 1);
	world_fini();
}
END_TEST

/* A timeout of 0 never waits: ac_locate with 0 looks in the caller's own
 * registry only and asks no peer; ac_node_locate with 0 looks at the
 * known names. "Never waits" is checked by a coroutine spawned before
 * each call, which runs only when the caller yields. */
typedef struct zero_ctx {
	int ran;
	int done;
	ac_ref rci;
} zero_ctx;

static zero_ctx ZC;

static void body_mark(void *arg)
{
	(void)arg;
	ZC.ran = 1;
}

/* Arm the mark: it runs at the caller's next yield. */
static void zero_arm(void)
{
	ZC.ran = 0;
	CK_OK(ac_spawn(NULL, body_mark, NULL, NULL, NULL));
}

/* Calls that need another node's answer, with 0: deliver queues and
 * returns 0, an RCI call returns -ETIMEDOUT (args still ours), neither
 * waits; a finish asks that node, which does not wait. */
static void zero_calls(void)
{
	ac_msg *args = ac_msg_str("a");
	zero_arm();
	CK_RC(ac_deliver(LC.e.ref, ac_msg_str("z0"), 0), 0);
	CK_RC(ac_rci_call(ZC.rci, args, 0, &(ac_ref){0}), -ETIMEDOUT);
	ck_assert_msg(!ZC.ran, "a remote call with timeout 0 waited");
	ac_msg_free(args);
	/* node 2 is not a peer: no handshake in no time; node 1 is one */
	CK_RC(ac_node_peer(W.node[0], W.locs[2], 0, 1, 0, 0), -ETIMEDOUT);
	CK_RC(ac_node_peer(W.node[0], W.locs[1], 0, 1, 0, 0), 0);
	CK_RC(ac_finish(LC.e.ref, 0, NULL), -ETIMEDOUT);
}

static void body_locate_zero(void *arg)
{
	ac_ref r, ch;
	ac_addr l;
	(void)arg;
	CK_OK(ac_register("here"));
	zero_arm();
	CK_RC(ac_locate("here", NULL, 0, &r), 0);
	ck_assert(ac_ref_eq(r, ac_self()));
	CK_RC(ac_locate("here", &W.loc[0], 0, &r), 0);
	/* "echo" is registered on node 1 only */
	CK_RC(ac_locate("echo", NULL, 0, &r), -ETIMEDOUT);
	CK_RC(ac_locate("echo", &W.loc[1], 0, &r), -ETIMEDOUT);
	CK_RC(ac_chan_locate("news1", NULL, 0, &ch), -ETIMEDOUT);
	CK_RC(ac_rci_locate("rci1", &W.loc[1], 0, &r), -ETIMEDOUT);
	CK_RC(ac_node_locate(W.node[0], "node1", 0, &l), 0);
	ck_assert(ac_addr_eq(&l, &W.loc[1]));
	CK_RC(ac_node_locate(W.node[0], "ghost", 0, &l), -ETIMEDOUT);
	ck_assert_msg(!ZC.ran, "a locate with timeout 0 waited");
	zero_calls();
	/* with time (and without limit) the peer is asked */
	CK_RC(ac_locate("echo", NULL, LONG_MS, &r), 0);
	ck_assert(ac_addr_eq(&r.loc, &W.loc[1]));
	CK_RC(ac_locate("echo", &W.loc[1], AC_FOREVER, &r), 0);
	CK_RC(ac_rci_locate("rci1", NULL, AC_FOREVER, &r), 0);
	ck_assert(ac_ref_eq(r, ZC.rci));
	CK_RC(ac_locate("echo", NULL, -5, &r), 0); /* any negative: no limit */
	/* the deliver with 0 went out all the same: echoed back */
	recv_is("z0");
	ZC.done = 1;
}

static void rci_nop(ac_msg *args)
{
	ac_msg_free(args);
}

/* Registers ZC.rci on its node (names need a coroutine of that node). */
static void body_rci_reg(void *arg)
{
	(void)arg;
	CK_OK(ac_rci_register(ZC.rci));
	ZC.done = 1;
}

START_TEST(test_locate_zero)
{
	world_init(0, 0);
	memset(&LC, 0, sizeof(LC));
	memset(&ZC, 0, sizeof(ZC));
	world_node("s");
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	start_echo(1, &LC.e, "echo");
	CK_OK(ac_rci_new(W.s[1], "rci1", rci_nop, &ZC.rci));
	spawn_on(1, body_rci_reg, NULL);
	RUN_UNTIL(ZC.done, 1, LONG_MS);
	ZC.done = 0;
	spawn_on(0, body_locate_zero, NULL);
	RUN_UNTIL(ZC.done, 1, LONG_MS);
	run_for(100);
	ck_assert(!lists(0, &W.loc[2]) && !lists(2, &W.loc[0]));
	world_fini();
}
END_TEST

static void body_node_locate(void *arg)
{
	ac_addr l;
	(void)arg;
	CK_RC(ac_node_locate(W.node[0], "node1", LONG_MS, &l), 0);
	ck_assert(ac_addr_eq(&l, &W.loc[1]));
	CK_RC(ac_node_locate(W.node[0], "node0", LONG_MS, &l), 0);
	ck_assert(ac_addr_eq(&l, &W.loc[0]));
	CK_RC(ac_node_locate(W.node[0], "ghost", 300, &l), -ETIMEDOUT);
	LC.late_go = 1;
	LC.rc = ac_node_locate(W.node[0], "node2", LONG_MS, &LC.got);
	LC.done = 1;
}

START_TEST(test_node_locate)
{
	ac_addr l;
	world_init(0, 0);
	memset(&LC, 0, sizeof(LC));
	world_node("s");
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	CK_RC(ac_node_locate(W.node[0], "node1", 100, &l), -EPERM);
	spawn_on(0, body_node_locate, NULL);
	RUN_UNTIL(LC.late_go, 1, LONG_MS);
	run_for(300);
	ck_assert_int_eq(LC.done, 0); /* still waiting for node2 */
	CK_OK(peer_loc(2, W.locs[0]));
	RUN_UNTIL(LC.done, 1, LONG_MS);
	CK_RC(LC.rc, 0);
	ck_assert(ac_addr_eq(&LC.got, &W.loc[2]));
	world_fini();
}
END_TEST

/* ---- send ---------------------------------------------------------------- */

enum { FIFO_N = 1000 };

typedef struct fifo {
	ac_ref rcv;
	ac_ref snd;
	int ready;
	int sent;
	int got;
	int done;
} fifo;

static fifo FF;

/* Message i: "m<i>" and a pad of varying size (frames cross batches). */
static ac_msg *fifo_msg(int i)
{
	size_t pad = (size_t)(i * 37) % 3000;
	ac_msg *m = ac_msg_alloc(16 + pad);
	ck_assert_ptr_nonnull(m);
	memset(ac_msg_wdata(m), 'x', 16 + pad);
	snprintf(ac_msg_wdata(m), 16, "m%d", i);
	return m;
}

static void body_fifo_rcv(void *arg)
{
	int i;
	(void)arg;
	FF.rcv = ac_self();
	FF.ready = 1;
	for (i = 0; i < FIFO_N; i++) {
		ac_msg *m;
		char want[16];
		CK_OK(ac_receive(LONG_MS, &m));
		snprintf(want, sizeof(want), "m%d", i);
		ck_assert_uint_eq(ac_msg_len(m), 16 + (size_t)(i * 37) % 3000);
		ck_assert_msg(strcmp(ac_msg_data(m), want) == 0,
		              "message %d out of order: got %s", i,
		              (const char *)ac_msg_data(m));
		ck_assert(ac_ref_eq(ac_msg_from(m), FF.snd));
		ac_msg_free(m);
		FF.got++;
	}
	FF.done = 1;
}

static void body_fifo_snd(void *arg)
{
	int i;
	(void)arg;
	FF.snd = ac_self();
	for (i = 0; i < FIFO_N; i++) {
		ac_msg *m = fifo_msg(i);
		CK_RC(ac_send(FF.rcv, m), 0);
		FF.sent++;
		if (i % 100 == 99)
			ac_yield();
	}
}

START_TEST(test_send_fifo)
{
	world_init(0, 0);
	memset(&FF, 0, sizeof(FF));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	spawn_on(1, body_fifo_rcv, NULL);
	RUN_UNTIL(FF.ready, 1, LONG_MS);
	spawn_on(0, body_fifo_snd, NULL);
	RUN_UNTIL(FF.done, 1, 3 * LONG_MS);
	ck_assert_int_eq(FF.sent, FIFO_N);
	ck_assert_int_eq(FF.got, FIFO_N);
	world_fini();
}
END_TEST

typedef struct sctx {
	echo e;
	ac_ref server;
	ac_ref dead;
	int stage;
	int rc;
	int done;
} sctx;

static sctx SC;

/* Replies "pong" to the ref inside a "[r s]" message. */
static void body_ref_server(void *arg)
{
	ac_msg *m;
	ac_ref to;
	char text[16];
	(void)arg;
	SC.server = ac_self();
	SC.stage = 1;
	CK_OK(ac_receive(LONG_MS, &m));
	CK_OK(ac_msg_unpack(m, "[r s]", &to, text, sizeof(text)));
	ck_assert_str_eq(text, "ping");
	ck_assert(ac_ref_eq(to, ac_msg_from(m)));
	ac_msg_free(m);
	CK_RC(ac_send(to, ac_msg_str("pong")), 0);
}

static void body_ref_client(void *arg)
{
	ac_msg *m;
	(void)arg;
	CK_RC(ac_send(SC.server, ac_msg_pack("[r s]", ac_self(), "ping")), 0);
	CK_OK(ac_receive(LONG_MS, &m));
	ck_assert(ac_msg_is(m, "pong"));
	ck_assert(ac_ref_eq(ac_msg_from(m), SC.server));
	ac_msg_free(m);
	SC.done = 1;
}

START_TEST(test_send_ref_reply)
{
	world_init(0, 0);
	memset(&SC, 0, sizeof(SC));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	spawn_on(1, body_ref_server, NULL);
	RUN_UNTIL(SC.stage, 1, LONG_MS);
	spawn_on(0, body_ref_client, NULL);
	RUN_UNTIL(SC.done, 1, LONG_MS);
	world_fini();
}
END_TEST

static void body_noop(void *arg)
{
	(void)arg;
}

static void body_send_misc(void *arg)
{
	ac_ref nowhere = ref_elsewhere(SC.e.ref);
	ac_msg *m = ac_msg_str("lost");
	(void)arg;
	/* unknown node: the caller keeps the message */
	CK_RC(ac_send(nowhere, m), -EHOSTUNREACH);
	ck_assert(ac_msg_is(m, "lost"));
	ac_msg_free(m);
	/* a dead coroutine: accepted, dropped at its node */
	CK_RC(ac_send(SC.dead, ac_msg_str("to the dead")), 0);
	CK_RC(ac_send(SC.dead, ac_msg_str("again")), 0);
	/* the connection still works and nothing else arrived */
	CK_RC(ac_send(SC.e.ref, ac_msg_str("alive")), 0);
	recv_is("alive");
	recv_none(200);
	SC.done = 1;
}

START_TEST(test_send_unknown_and_dead)
{
	ac_ref d;
	world_init(0, 0);
	memset(&SC, 0, sizeof(SC));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	start_echo(1, &SC.e, NULL);
	d = spawn_on(1, body_noop, NULL);
	run_for(50);
	SC.dead = d;
	spawn_on(0, body_send_misc, NULL);
	RUN_UNTIL(SC.done, 1, LONG_MS);
	ck_assert_int_eq(SC.e.got, 1);
	world_fini();
}
END_TEST

/* A payload over AC_WIRE_PAYLOAD_MAX is refused by the sender (-EMSGSIZE,
 * the caller keeps it) instead of reaching the peer, which would take it
 * for a bad frame and close the connection; the largest one goes through. */
static void body_send_big(void *arg)
{
	ac_msg *m = ac_msg_alloc(AC_WIRE_PAYLOAD_MAX + 1);
	(void)arg;
	ck_assert_ptr_nonnull(m);
	memset(ac_msg_wdata(m), 'b', ac_msg_len(m));
	CK_RC(ac_send(SC.e.ref, m), -EMSGSIZE);
	CK_RC(ac_deliver(SC.e.ref, m, LONG_MS), -EMSGSIZE);
	ck_assert_uint_eq(ac_msg_len(m), AC_WIRE_PAYLOAD_MAX + 1);
	ac_msg_free(m);
	CK_RC(ac_send(SC.e.ref, ac_msg_str("small")), 0);
	recv_is("small");
	m = ac_msg_alloc(AC_WIRE_PAYLOAD_MAX);
	ck_assert_ptr_nonnull(m);
	memset(ac_msg_wdata(m), 'b', ac_msg_len(m));
	CK_RC(ac_send(SC.e.ref, m), 0);
	CK_OK(ac_receive(LONG_MS, &m));
	ck_assert_uint_eq(ac_msg_len(m), AC_WIRE_PAYLOAD_MAX);
	ac_msg_free(m);
	SC.done = 1;
}

START_TEST(test_send_big)
{
	world_init(0, 0);
	memset(&SC, 0, sizeof(SC));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	start_echo(1, &SC.e, NULL);
	spawn_on(0, body_send_big, NULL);
	RUN_UNTIL(SC.done, 1, LONG_MS);
	ck_assert(!logged(1, "bad frame"));
	world_fini();
}
END_TEST

/* Messages a coroutine received — a peer-status message, an exit
 * notification — may be passed on to a remote coroutine: the receiving
 * node must not take them for a bad frame and drop the connection (it
 * drops a peer-status message, which only it may make, and an exit notice
 * about a coroutine of another node). */
static void body_forward(void *arg)
{
	ac_msg *peer, *ex, *m;
	ac_peer_info pi;
	ac_ref dead;
	int rc;
	(void)arg;
	CK_OK(ac_node_peer_status(W.node[0], ac_self()));
	CK_OK(ac_receive(LONG_MS, &peer));
	ck_assert_int_eq(ac_msg_kind(peer), AC_MSG_PEER);
	CK_OK(ac_node_peer_status(W.node[0], ac_ref_null()));
	CK_OK(ac_spawn(NULL, body_noop, NULL, NULL, &dead));
	CK_OK(ac_monitor(dead));
	CK_OK(ac_receive(LONG_MS, &ex));
	ck_assert_int_eq(ac_msg_kind(ex), AC_MSG_EXIT);
	CK_OK(ac_msg_peer(peer, &pi));
	ck_assert(ac_addr_eq(&pi.loc, &W.loc[1]));
	/* a peer-status message: sent, but only node 1 itself makes those it
	 * takes, so it drops it; a deliver is refused (the message ours) */
	CK_RC(ac_send(SC.e.ref, ac_msg_dup(peer)), 0);
	CK_RC(ac_deliver(SC.e.ref, peer, LONG_MS), -EPERM);
	ck_assert_int_eq(ac_msg_kind(peer), AC_MSG_PEER);
	ac_msg_free(peer);
	/* an exit notification: queued, or refused with a clear error */
	CK_RC(ac_send(SC.e.ref, ac_msg_dup(ex)), 0);
	rc = ac_deliver(SC.e.ref, ex, LONG_MS);
	ck_assert_msg(rc == 1 || rc == -EINVAL, "deliver of an exit message: %d (%s)",
	              rc, ac_strerror(rc));
	if (rc < 0)
		ac_msg_free(ex);
	/* the connection is the same and still works */
	CK_RC(ac_deliver(SC.e.ref, ac_msg_str("after"), LONG_MS), 1);
	for (;;) {
		CK_OK(ac_receive(LONG_MS, &m));
		if (ac_msg_is(m, "after"))
			break;
		ck_assert_int_eq(ac_msg_kind(m), AC_MSG_EXIT); /* echoed exits */
		ac_msg_free(m);
	}
	ac_msg_free(m);
	SC.done = 1;
}

START_TEST(test_forward_kinds)
{
	world_init(0, 0);
	memset(&SC, 0, sizeof(SC));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	start_echo(1, &SC.e, NULL);
	spawn_on(0, body_forward, NULL);
	RUN_UNTIL(SC.done, 1, LONG_MS);
	ck_assert_msg(!logged(1, "bad frame") && !logged(0, "bad frame"),
	              "a forwarded message closed the connection:\n%s%s",
	              W.log[0].buf ? W.log[0].buf : "",
	              W.log[1].buf ? W.log[1].buf : "");
	ck_assert(!logged(0, "closed") && !logged(1, "closed"));
	ck_assert(logged(1, "sent a peer-status message"));
	world_fini();
}
END_TEST

/* ---- deliver ------------------------------------------------------------- */

static void body_deliver(void *arg)
{
	ac_msg *m;
	(void)arg;
	/* 1: in the recipient's queue (the echo sends it back) */
	CK_RC(ac_deliver(SC.e.ref, ac_msg_str("d1"), LONG_MS), 1);
	recv_is("d1");
	/* a dead recipient: -ESRCH, the caller keeps the message */
	m = ac_msg_str("d2");
	CK_RC(ac_deliver(SC.dead, m, LONG_MS), -ESRCH);
	ck_assert(ac_msg_is(m, "d2"));
	/* an unknown node */
	CK_RC(ac_deliver(ref_elsewhere(SC.e.ref), m, LONG_MS), -EHOSTUNREACH);
	ck_assert(ac_msg_is(m, "d2"));
	ac_msg_free(m);
	/* the recipient's node gets no CPU: 0 at the timeout */
	SC.stage = 1;
	while (SC.stage != 2)
		ac_sleep(5);
	CK_RC(ac_deliver(SC.e.ref, ac_msg_str("d3"), 300), 0);
	SC.stage = 3;
	SC.done = 1;
}

START_TEST(test_deliver)
{
	world_init(0, 0);
	memset(&SC, 0, sizeof(SC));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	start_echo(1, &SC.e, NULL);
	SC.dead = spawn_on(1, body_noop, NULL);
	run_for(50);
	spawn_on(0, body_deliver, NULL);
	RUN_UNTIL(SC.stage, 1, LONG_MS);
	W.frozen[1] = 1;
	SC.stage = 2;
	RUN_UNTIL(SC.done, 1, LONG_MS);
	ck_assert_int_eq(SC.e.got, 1); /* d1; d3 waits in node 1's socket */
	W.frozen[1] = 0;
	/* 0 at the timeout meant "outcome unknown": d3 still arrives, once */
	RUN_UNTIL(SC.e.got, 2, LONG_MS);
	run_for(100);
	ck_assert_int_eq(SC.e.got, 2);
	world_fini();
}
END_TEST

/* ac_terminate and ac_monitor on a coroutine of a node that gets no CPU
 * (its peer_lost_ms far away): each gives up after AC_REMOTE_WAIT_MS
 * with -ETIMEDOUT, as dis.h promises, not later. */
typedef struct rwait {
	ac_ref target;
	int which;
	int rc;
	int64_t ms;
	int done;
} rwait;

static void body_remote_wait(void *arg)
{
	rwait *w = arg;
	int64_t t0 = wall_ms();
	w->rc = w->which ? ac_monitor(w->target) : ac_terminate(w->target);
	w->ms = wall_ms() - t0;
	w->done = 1;
}

START_TEST(test_remote_wait_bound)
{
	rwait w[2];
	int i;
	world_init(100, 60000);
	memset(&SC, 0, sizeof(SC));
	memset(w, 0, sizeof(w));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	start_echo(1, &SC.e, NULL);
	W.frozen[1] = 1;
	for (i = 0; i < 2; i++) {
		w[i].target = SC.e.ref;
		w[i].which = i;
		spawn_on(0, body_remote_wait, &w[i]);
	}
	RUN_UNTIL(w[0].done, 1, AC_REMOTE_WAIT_MS + LONG_MS);
	RUN_UNTIL(w[1].done, 1, LONG_MS);
	for (i = 0; i < 2; i++) {
		ck_assert_msg(w[i].rc == -ETIMEDOUT, "%s: %s", i ? "monitor" : "terminate",
		              ac_strerror(w[i].rc));
		ck_assert_int_ge(w[i].ms, AC_REMOTE_WAIT_MS - 50);
		ck_assert_int_le(w[i].ms, AC_REMOTE_WAIT_MS + 3000);
	}
	W.frozen[1] = 0;
	world_fini();
}
END_TEST

/* ---- monitors ------------------------------------------------------------ */

enum { END_RETURN, END_FAIL, END_TERMINATE };

typedef struct mon {
	ac_ref target;
	int target_ready;
	int how;
	int nmon_ready;
	int nmon_done;
	int terminated_rc;
	int stage;
} mon;

static mon MO;

static void body_target(void *arg)
{
	ac_msg *m;
	(void)arg;
	MO.target = ac_self();
	MO.target_ready = 1;
	CK_OK(ac_receive(AC_FOREVER, &m));
	ac_msg_free(m);
	if (MO.how == END_FAIL)
		ac_fail("failed %d", 7);
	ac_return(ac_msg_str("value-42"));
}

/* Monitor the target, have it end (first monitor only), expect exactly one
 * exit message with the right reason. arg: 1 for the first monitor. */
static void body_monitor(void *arg)
{
	int first = arg != NULL;
	ac_msg *m;
	ac_exit_info ei;
	CK_RC(ac_monitor(MO.target), 0);
	CK_RC(ac_monitor(MO.target), 0); /* twice is one monitor */
	MO.nmon_ready++;
	if (first) {
		while (MO.nmon_ready < 2)
			ac_sleep(5);
		if (MO.how == END_TERMINATE) {
			CK_RC(ac_terminate(MO.target), 0);
		} else {
			CK_RC(ac_send(MO.target, ac_msg_str("go")), 0);
		}
	}
	CK_OK(ac_receive(LONG_MS, &m));
	CK_OK(ac_msg_exit(m, &ei));
	ck_assert(ac_ref_eq(ei.coro, MO.target));
	switch (MO.how) {
	case END_RETURN:
		ck_assert_int_eq(ei.how, AC_EXIT_RETURNED);
		ck_assert_uint_eq(ei.len, 8);
		ck_assert(memcmp(ei.data, "value-42", 8) == 0);
		break;
	case END_FAIL:
		ck_assert_int_eq(ei.how, AC_EXIT_FAILED);
		ck_assert_uint_eq(ei.len, 8);
		ck_assert(memcmp(ei.data, "failed 7", 8) == 0);
		break;
	default:
		ck_assert_int_eq(ei.how, AC_EXIT_TERMINATED);
		break;
	}
	ac_msg_free(m);
	recv_none(500);
	/* the target is gone now */
	CK_RC(ac_monitor(MO.target), -ESRCH);
	if (first && MO.how == END_TERMINATE)
		CK_RC(ac_terminate(MO.target), -ESRCH);
	MO.nmon_done++;
}

START_TEST(test_monitor_end)
{
	world_init(0, 0);
	memset(&MO, 0, sizeof(MO));
	MO.how = _i;
	world_node("s");
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	world_peer(2, 1);
	spawn_on(1, body_target, NULL);
	RUN_UNTIL(MO.target_ready, 1, LONG_MS);
	/* monitors on two nodes */
	spawn_on(0, body_monitor, (void *)1);
	spawn_on(2, body_monitor, NULL);
	RUN_UNTIL(MO.nmon_done, 2, 2 * LONG_MS);
	world_fini();
}
END_TEST

/* Monitors of a coroutine whose node is lost: exactly one "node lost". */
static void body_monitor_lost(void *arg)
{
	ac_msg *m;
	ac_exit_info ei;
	(void)arg;
	CK_RC(ac_monitor(MO.target), 0);
	MO.nmon_ready++;
	CK_OK(ac_receive(LONG_MS, &m));
	CK_OK(ac_msg_exit(m, &ei));
	ck_assert(ac_ref_eq(ei.coro, MO.target));
	ck_assert_int_eq(ei.how, AC_EXIT_NODE_LOST);
	ac_msg_free(m);
	MO.stage++;
	/* a late exit from the target (cut off, then back) is not a second */
	recv_none(2000);
	MO.nmon_done++;
}

/* The target ends on its own a while after it started (cut-off case). */
static void body_target_sleepy(void *arg)
{
	(void)arg;
	MO.target = ac_self();
	MO.target_ready = 1;
	ac_sleep(1200);
	ac_return(ac_msg_str("late"));
}

START_TEST(test_monitor_node_lost)
{
	world_init(100, 500);
	memset(&MO, 0, sizeof(MO));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	spawn_on(1, body_target, NULL);
	RUN_UNTIL(MO.target_ready, 1, LONG_MS);
	spawn_on(0, body_monitor_lost, NULL);
	spawn_on(0, body_monitor_lost, NULL);
	RUN_UNTIL(MO.nmon_ready, 2, LONG_MS);
	run_for(100); /* the MONITOR requests are answered */
	world_crash(1);
	RUN_UNTIL(MO.stage, 2, LONG_MS);
	RUN_UNTIL(MO.nmon_done, 2, LONG_MS);
	world_fini();
}
END_TEST

START_TEST(test_monitor_cut_off)
{
	world_init(100, 500);
	memset(&MO, 0, sizeof(MO));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	spawn_on(1, body_target_sleepy, NULL);
	RUN_UNTIL(MO.target_ready, 1, LONG_MS);
	spawn_on(0, body_monitor_lost, NULL);
	RUN_UNTIL(MO.nmon_ready, 1, LONG_MS);
	run_for(100);
	W.frozen[1] = 1;
	RUN_UNTIL(MO.stage, 1, LONG_MS);
	W.frozen[1] = 0; /* back: the target ends and reports, too late */
	RUN_UNTIL(MO.nmon_done, 1, LONG_MS);
	world_fini();
}
END_TEST

static void body_go(void *arg)
{
	(void)arg;
	CK_RC(ac_send(MO.target, ac_msg_str("go")), 0);
}

/* ac_notify with a remote monitor: the coroutine makes a coroutine of
 * another node its monitor, which then gets exactly one exit message. */
static void body_notifier(void *arg)
{
	ac_msg *m;
	(void)arg;
	MO.target = ac_self();
	CK_RC(ac_notify(SC.e.ref), 0);
	CK_RC(ac_notify(SC.e.ref), 0); /* twice is one monitor */
	MO.target_ready = 1;
	CK_OK(ac_receive(LONG_MS, &m));
	ac_msg_free(m);
	ac_return(ac_msg_str("notified"));
}

static void body_notified(void *arg)
{
	ac_msg *m;
	ac_exit_info ei;
	(void)arg;
	SC.e.ref = ac_self();
	SC.e.ready = 1;
	CK_OK(ac_receive(3000, &m));
	CK_OK(ac_msg_exit(m, &ei));
	ck_assert(ac_ref_eq(ei.coro, MO.target));
	ck_assert_int_eq(ei.how, AC_EXIT_RETURNED);
	ck_assert_uint_eq(ei.len, 8);
	ck_assert(memcmp(ei.data, "notified", 8) == 0);
	ac_msg_free(m);
	recv_none(300);
	SC.done = 1;
}

START_TEST(test_notify_remote)
{
	world_init(0, 0);
	memset(&SC, 0, sizeof(SC));
	memset(&MO, 0, sizeof(MO));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	spawn_on(0, body_notified, NULL);
	RUN_UNTIL(SC.e.ready, 1, LONG_MS);
	spawn_on(1, body_notifier, NULL);
	RUN_UNTIL(MO.target_ready, 1, LONG_MS);
	spawn_on(1, body_go, NULL);
	RUN_UNTIL(SC.done, 1, 5000);
	world_fini();
}
END_TEST

static void body_monitor_dead(void *arg)
{
	(void)arg;
	CK_RC(ac_monitor(SC.dead), -ESRCH);
	CK_RC(ac_terminate(SC.dead), -ESRCH);
	CK_RC(ac_monitor(ref_elsewhere(SC.e.ref)), -EHOSTUNREACH);
	/* the connection is fine afterwards */
	CK_RC(ac_monitor(SC.e.ref), 0);
	SC.done = 1;
}

START_TEST(test_monitor_dead)
{
	world_init(0, 0);
	memset(&SC, 0, sizeof(SC));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	start_echo(1, &SC.e, NULL);
	SC.dead = spawn_on(1, body_noop, NULL);
	run_for(50);
	spawn_on(0, body_monitor_dead, NULL);
	RUN_UNTIL(SC.done, 1, LONG_MS);
	world_fini();
}
END_TEST

/* ---- finish on a remote ref (asyncoro issue #4) -------------------------- */

static void body_finishee(void *arg)
{
	(void)arg;
	ac_sleep(200);
	ac_return(ac_msg_str("fin"));
}

static void body_finisher(void *arg)
{
	ac_msg *m = NULL;
	ac_exit_info ei;
	(void)arg;
	/* still running: a timeout of 0 looks (one round trip), then gives up */
	CK_RC(ac_finish(SC.server, 0, &m), -ETIMEDOUT);
	ck_assert_ptr_null(m);
	CK_RC(ac_finish(SC.server, 50, NULL), -ETIMEDOUT);
	CK_RC(ac_finish(SC.server, LONG_MS, &m), 0);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(ac_msg_kind(m), AC_MSG_EXIT);
	CK_OK(ac_msg_exit(m, &ei));
	ck_assert(ac_ref_eq(ei.coro, SC.server));
	ck_assert_int_eq(ei.how, AC_EXIT_RETURNED);
	ck_assert_uint_eq(ei.len, 3);
	ck_assert(memcmp(ei.data, "fin", 3) == 0);
	ac_msg_free(m);
	/* ended: -ESRCH */
	CK_RC(ac_finish(SC.server, 1000, &m), -ESRCH);
	CK_RC(ac_finish(SC.dead, 1000, NULL), -ESRCH);
	CK_RC(ac_finish(SC.dead, 0, NULL), -ESRCH);
	CK_RC(ac_finish(ref_elsewhere(SC.server), 1000, NULL), -EHOSTUNREACH);
	SC.done = 1;
}

START_TEST(test_finish_remote)
{
	world_init(0, 0);
	memset(&SC, 0, sizeof(SC));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	SC.dead = spawn_on(1, body_noop, NULL);
	run_for(50);
	SC.server = spawn_on(1, body_finishee, NULL);
	spawn_on(0, body_finisher, NULL);
	RUN_UNTIL(SC.done, 1, LONG_MS);
	world_fini();
}
END_TEST

/* ---- RCI ----------------------------------------------------------------- */

typedef struct rcx {
	ac_ref rci;
	int ready;
	int done;
	int local_done;
	int unreg;
} rcx;

static rcx RX;

/* Adds two numbers and sends the sum to the ref in the arguments. */
static void rci_adder(ac_msg *args)
{
	ac_ref to;
	int64_t a, b;
	int rc = ac_msg_unpack(args, "[r i i]", &to, &a, &b);
	ac_msg_free(args);
	if (rc < 0)
		ac_fail("bad arguments: %s", ac_strerror(rc));
	CK_RC(ac_send(to, ac_msg_pack("i", a + b)), 0);
}

static void recv_sum(int64_t want, ac_ref from)
{
	ac_msg *m;
	int64_t v;
	CK_OK(ac_receive(LONG_MS, &m));
	CK_OK(ac_msg_unpack(m, "i", &v));
	ck_assert_int_eq(v, want);
	ck_assert(ac_ref_eq(ac_msg_from(m), from));
	ac_msg_free(m);
}

static void body_rci_owner(void *arg)
{
	ac_ref r, r2, c;
	(void)arg;
	CK_OK(ac_rci_new(NULL, "adder", rci_adder, &RX.rci));
	ck_assert_int_eq(RX.rci.kind, AC_REF_RCI);
	CK_RC(ac_rci_register(RX.rci), 0);
	CK_RC(ac_rci_register(RX.rci), -EEXIST);
	CK_OK(ac_rci_new(NULL, "adder", rci_adder, &r2));
	CK_RC(ac_rci_register(r2), -EEXIST);
	CK_RC(ac_rci_new(NULL, "", rci_adder, &r2), -EINVAL);
	CK_RC(ac_rci_new(NULL, "x", NULL, &r2), -EINVAL);
	/* locate and call work locally too */
	CK_RC(ac_rci_locate("adder", NULL, LONG_MS, &r), 0);
	ck_assert(ac_ref_eq(r, RX.rci));
	CK_RC(ac_rci_call(r, ac_msg_pack("[r i i]", ac_self(), (int64_t)2,
	                                   (int64_t)3),
	                    LONG_MS, &c), 0);
	recv_sum(5, c);
	RX.ready = 1;
	while (!RX.unreg)
		ac_sleep(5);
	CK_RC(ac_rci_unregister(RX.rci), 0);
	CK_RC(ac_rci_unregister(RX.rci), -ENOENT);
	RX.unreg = 2;
}

static void body_rci_caller(void *arg)
{
	ac_ref r, c, bad;
	ac_msg *args;
	(void)arg;
	CK_RC(ac_rci_locate("adder", NULL, LONG_MS, &r), 0);
	ck_assert(ac_ref_eq(r, RX.rci));
	CK_RC(ac_rci_locate("adder", &W.loc[1], LONG_MS, &r), 0);
	ck_assert(ac_ref_eq(r, RX.rci));
	CK_RC(ac_rci_call(r, ac_msg_pack("[r i i]", ac_self(), (int64_t)12,
	                                   (int64_t)30),
	                    LONG_MS, &c), 0);
	ck_assert_int_eq(c.kind, AC_REF_CORO);
	ck_assert(ac_addr_eq(&c.loc, &W.loc[1]));
	recv_sum(42, c);
	/* arguments the body does not understand: the call itself works */
	CK_RC(ac_rci_call(r, ac_msg_str("junk"), LONG_MS, &c), 0);
	/* an RCI that does not exist there: -ESRCH, args stay ours */
	bad = r;
	bad.id += 1000;
	args = ac_msg_str("x");
	CK_RC(ac_rci_call(bad, args, LONG_MS, &c), -ESRCH);
	ck_assert(ac_msg_is(args, "x"));
	/* a node that does not exist */
	CK_RC(ac_rci_call(ref_elsewhere(r), args, LONG_MS, &c), -EHOSTUNREACH);
	ac_msg_free(args);
	/* unregistered: no longer found */
	RX.unreg = 1;
	while (RX.unreg != 2)
		ac_sleep(5);
	CK_RC(ac_rci_locate("adder", NULL, 300, &r), -ETIMEDOUT);
	CK_RC(ac_rci_locate("nosuch", &W.loc[1], 300, &r), -ETIMEDOUT);
	RX.done = 1;
}

START_TEST(test_rci)
{
	world_init(0, 0);
	memset(&RX, 0, sizeof(RX));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	spawn_on(1, body_rci_owner, NULL);
	RUN_UNTIL(RX.ready, 1, LONG_MS);
	spawn_on(0, body_rci_caller, NULL);
	RUN_UNTIL(RX.done, 1, 2 * LONG_MS);
	world_fini();
}
END_TEST

static Suite *net_msgs_suite(void)
{
	Suite *s = suite_create("net_msgs");
	TCase *tc = tcase_create("names");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_register);
	tcase_add_test(tc, test_locate);
	tcase_add_test(tc, test_locate_connects);
	tcase_add_test(tc, test_node_locate);
	tcase_add_test(tc, test_locate_zero);
	suite_add_tcase(s, tc);
	tc = tcase_create("messages");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_send_fifo);
	tcase_add_test(tc, test_send_ref_reply);
	tcase_add_test(tc, test_send_unknown_and_dead);
	tcase_add_test(tc, test_send_big);
	tcase_add_test(tc, test_forward_kinds);
	tcase_add_test(tc, test_remote_wait_bound);
	tcase_add_test(tc, test_deliver);
	tcase_add_loop_test(tc, test_monitor_end, END_RETURN, END_TERMINATE + 1);
	tcase_add_test(tc, test_monitor_node_lost);
	tcase_add_test(tc, test_monitor_cut_off);
	tcase_add_test(tc, test_monitor_dead);
	tcase_add_test(tc, test_notify_remote);
	tcase_add_test(tc, test_finish_remote);
	suite_add_tcase(s, tc);
	tc = tcase_create("rci");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_rci);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return net_harness_main(net_msgs_suite());
}
