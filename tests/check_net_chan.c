/* tests/check_net_chan.c: channels across nodes over real loopback TCP
 * (dis.h) — register and locate a channel, subscribe and unsubscribe from
 * another node, send reaching subscribers on three nodes, deliver waiting
 * for n subscribers, deliver at its timeout, a slow deliver next to other
 * traffic between the same nodes, subscribers on a lost node, and a
 * channel subscribed to a channel of another node. The world and its
 * helpers are tests/net_harness.h.
 */
#include "tests/net_harness.h"

#include <stdint.h>

/* ---- channels across nodes ----------------------------------------------- */

typedef struct chx {
	ac_ref chan;
	int chan_ready;
	/* subscribers */
	ac_ref sub[4];
	int sub_ready[4];
	int sub_got[4];
	int sub_stop;
	int deliver_rc;
	int deliver_done;
	int pp_done;
	int pp_during;
	int stage;
	int done;
} chx;

static chx CX;

/* On node 1: the channel "news" (and the -EEXIST cases). */
static void body_chan_owner(void *arg)
{
	ac_ref ch2;
	(void)arg;
	CK_OK(ac_chan_new(NULL, "news", &CX.chan));
	CK_RC(ac_chan_register(CX.chan, "news"), 0);
	CK_RC(ac_chan_register(CX.chan, "news"), -EEXIST);
	CK_OK(ac_chan_new(NULL, "news2", &ch2));
	CK_RC(ac_chan_register(ch2, "news"), -EEXIST);
	CK_RC(ac_chan_register(ch2, "other"), 0);
	CK_RC(ac_chan_unregister(ch2, "other"), 0);
	CK_RC(ac_chan_unregister(ch2, "other"), -ENOENT);
	CK_OK(ac_chan_close(ch2));
	CX.chan_ready = 1;
}

/* A subscriber: locates "news", subscribes, receives until sub_stop,
 * counting messages. arg: its index. */
static void body_chan_sub(void *arg)
{
	int k = (int)(intptr_t)arg;
	ac_ref ch;
	ac_msg *m;
	CK_RC(ac_chan_locate("news", NULL, LONG_MS, &ch), 0);
	ck_assert(ac_ref_eq(ch, CX.chan));
	CX.sub[k] = ac_self();
	CK_RC(ac_chan_subscribe(ch, ac_self(), LONG_MS), 0);
	CX.sub_ready[k] = 1;
	while (!CX.sub_stop) {
		if (ac_receive(20, &m) < 0)
			continue;
		ck_assert_int_eq(ac_msg_kind(m), AC_MSG_DATA);
		ck_assert(ac_msg_is(m, "news!"));
		CX.sub_got[k]++;
		ac_msg_free(m);
	}
}

static void body_nsubs(void *arg)
{
	int *out = arg;
	out[0] = ac_chan_nsubs(CX.chan);
	out[1] = 1;
}

/* Subscribers of the channel, counted on its node (node 1). */
static int chan_nsubs(void)
{
	int out[2] = {0, 0};
	spawn_on(1, body_nsubs, out);
	RUN_UNTIL(out[1], 1, LONG_MS);
	return out[0];
}

static void body_chan_api(void *arg)
{
	ac_ref ch;
	(void)arg;
	CK_RC(ac_chan_locate("news", &W.loc[1], LONG_MS, &ch), 0);
	ck_assert(ac_ref_eq(ch, CX.chan));
	CK_RC(ac_chan_locate("news", &W.loc[0], 200, &ch), -ETIMEDOUT);
	CK_RC(ac_chan_locate("nothing", NULL, 200, &ch), -ETIMEDOUT);
	CK_RC(ac_chan_subscribe(CX.chan, ac_self(), LONG_MS), 0);
	CK_RC(ac_chan_subscribe(CX.chan, ac_self(), LONG_MS), 0);
	CX.stage = 1;
	while (CX.stage == 1)
		ac_sleep(5);
	CK_RC(ac_chan_unsubscribe(CX.chan, ac_self(), LONG_MS), 0);
	CK_RC(ac_chan_unsubscribe(CX.chan, ac_self(), LONG_MS), -ENOENT);
	CX.stage = 3;
}

START_TEST(test_chan_subscribe)
{
	world_init(0, 0);
	memset(&CX, 0, sizeof(CX));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	spawn_on(1, body_chan_owner, NULL);
	RUN_UNTIL(CX.chan_ready, 1, LONG_MS);
	spawn_on(0, body_chan_api, NULL);
	RUN_UNTIL(CX.stage, 1, LONG_MS);
	ck_assert_int_eq(chan_nsubs(), 1); /* twice is once */
	CX.stage = 2;
	RUN_UNTIL(CX.stage, 3, LONG_MS);
	ck_assert_int_eq(chan_nsubs(), 0);
	world_fini();
}
END_TEST

static void body_chan_send_local(void *arg)
{
	(void)arg;
	CK_RC(ac_chan_send(CX.chan, ac_msg_str("news!")), 0);
	CX.stage++;
}

static void body_chan_send_remote(void *arg)
{
	(void)arg;
	CK_RC(ac_chan_send(CX.chan, ac_msg_str("news!")), 0);
	CX.stage++;
}

/* Subscribers on nodes 0, 2 and 1 itself get what is sent on node 1 and
 * what node 0 sends through the remote channel. */
START_TEST(test_chan_send)
{
	world_init(0, 0);
	memset(&CX, 0, sizeof(CX));
	world_node("s");
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	world_peer(2, 1);
	spawn_on(1, body_chan_owner, NULL);
	RUN_UNTIL(CX.chan_ready, 1, LONG_MS);
	spawn_on(0, body_chan_sub, (void *)0);
	spawn_on(0, body_chan_sub, (void *)1);
	spawn_on(2, body_chan_sub, (void *)2);
	spawn_on(1, body_chan_sub, (void *)3);
	RUN_UNTIL(CX.sub_ready[0], 1, LONG_MS);
	RUN_UNTIL(CX.sub_ready[1], 1, LONG_MS);
	RUN_UNTIL(CX.sub_ready[2], 1, LONG_MS);
	RUN_UNTIL(CX.sub_ready[3], 1, LONG_MS);
	ck_assert_int_eq(chan_nsubs(), 4);
	spawn_on(1, body_chan_send_local, NULL);
	RUN_UNTIL(CX.sub_got[0], 1, LONG_MS);
	RUN_UNTIL(CX.sub_got[1], 1, LONG_MS);
	RUN_UNTIL(CX.sub_got[2], 1, LONG_MS);
	RUN_UNTIL(CX.sub_got[3], 1, LONG_MS);
	spawn_on(0, body_chan_send_remote, NULL);
	RUN_UNTIL(CX.sub_got[0], 2, LONG_MS);
	RUN_UNTIL(CX.sub_got[1], 2, LONG_MS);
	RUN_UNTIL(CX.sub_got[2], 2, LONG_MS);
	RUN_UNTIL(CX.sub_got[3], 2, LONG_MS);
	run_for(200);
	ck_assert_int_eq(CX.stage, 2); /* both senders ran to their end */
	ck_assert_int_eq(CX.sub_got[0], 2);
	ck_assert_int_eq(CX.sub_got[1], 2);
	ck_assert_int_eq(CX.sub_got[2], 2);
	ck_assert_int_eq(CX.sub_got[3], 2);
	CX.sub_stop = 1;
	world_fini();
}
END_TEST

typedef struct deliver_job {
	int n;
	int64_t timeout;
	int rc;
	int done;
} deliver_job;

static void body_chan_deliver(void *arg)
{
	deliver_job *j = arg;
	j->rc = ac_chan_deliver(CX.chan, ac_msg_str("news!"), j->timeout, j->n);
	j->done = 1;
}

/* deliver with n = 2 waits for the second subscriber, then returns 2. */
START_TEST(test_chan_deliver_wait)
{
	deliver_job j = {2, LONG_MS, 0, 0};
	world_init(0, 0);
	memset(&CX, 0, sizeof(CX));
	world_node("s");
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	world_peer(2, 1);
	spawn_on(1, body_chan_owner, NULL);
	RUN_UNTIL(CX.chan_ready, 1, LONG_MS);
	spawn_on(0, body_chan_sub, (void *)0);
	RUN_UNTIL(CX.sub_ready[0], 1, LONG_MS);
	spawn_on(0, body_chan_deliver, &j);
	run_for(300);
	ck_assert_int_eq(j.done, 0);
	ck_assert_int_eq(CX.sub_got[0], 0);
	spawn_on(2, body_chan_sub, (void *)2);
	RUN_UNTIL(j.done, 1, LONG_MS);
	CK_RC(j.rc, 2);
	RUN_UNTIL(CX.sub_got[0], 1, LONG_MS);
	RUN_UNTIL(CX.sub_got[2], 1, LONG_MS);
	run_for(200);
	ck_assert_int_eq(CX.sub_got[0], 1);
	ck_assert_int_eq(CX.sub_got[2], 1);
	CX.sub_stop = 1;
	world_fini();
}
END_TEST

/* deliver that times out: 0, and nobody got it. */
START_TEST(test_chan_deliver_timeout)
{
	deliver_job j = {3, 300, 1, 0};
	world_init(0, 0);
	memset(&CX, 0, sizeof(CX));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	spawn_on(1, body_chan_owner, NULL);
	RUN_UNTIL(CX.chan_ready, 1, LONG_MS);
	spawn_on(0, body_chan_sub, (void *)0);
	spawn_on(1, body_chan_sub, (void *)1);
	RUN_UNTIL(CX.sub_ready[0], 1, LONG_MS);
	RUN_UNTIL(CX.sub_ready[1], 1, LONG_MS);
	spawn_on(0, body_chan_deliver, &j);
	RUN_UNTIL(j.done, 1, LONG_MS);
	CK_RC(j.rc, 0);
	run_for(500);
	ck_assert_int_eq(CX.sub_got[0], 0);
	ck_assert_int_eq(CX.sub_got[1], 0);
	CX.sub_stop = 1;
	world_fini();
}
END_TEST

/* A deliver waiting for subscribers does not hold up other traffic
 * between the two nodes: a ping-pong completes meanwhile. */
static void body_pingpong(void *arg)
{
	echo *e = arg;
	int i;
	for (i = 0; i < 20; i++) {
		char text[16];
		snprintf(text, sizeof(text), "pp%d", i);
		CK_RC(ac_deliver(e->ref, ac_msg_str(text), LONG_MS), 1);
		recv_is(text);
	}
	CX.pp_during = !CX.deliver_done;
	CX.pp_done = 1;
}

static void body_chan_deliver_slow(void *arg)
{
	deliver_job *j = arg;
	j->rc = ac_chan_deliver(CX.chan, ac_msg_str("news!"), j->timeout, j->n);
	j->done = 1;
	CX.deliver_done = 1;
}

START_TEST(test_chan_slow_deliver)
{
	deliver_job j = {5, 3000, 1, 0};
	echo e;
	world_init(0, 0);
	memset(&CX, 0, sizeof(CX));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	spawn_on(1, body_chan_owner, NULL);
	RUN_UNTIL(CX.chan_ready, 1, LONG_MS);
	start_echo(1, &e, NULL);
	spawn_on(0, body_chan_deliver_slow, &j);
	run_for(100);
	spawn_on(0, body_pingpong, &e);
	RUN_UNTIL(CX.pp_done, 1, LONG_MS);
	ck_assert_msg(CX.pp_during, "the ping-pong waited for the deliver");
	RUN_UNTIL(j.done, 1, LONG_MS);
	CK_RC(j.rc, 0);
	world_fini();
}
END_TEST

/* Subscribers on a lost node are dropped. */
START_TEST(test_chan_lost_node)
{
	deliver_job j = {2, 300, 1, 0};
	pwatch a;
	world_init(100, 500);
	memset(&CX, 0, sizeof(CX));
	world_node("s");
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	world_peer(2, 1);
	spawn_on(1, body_chan_owner, NULL);
	RUN_UNTIL(CX.chan_ready, 1, LONG_MS);
	spawn_on(1, body_chan_sub, (void *)1);
	spawn_on(2, body_chan_sub, (void *)2);
	RUN_UNTIL(CX.sub_ready[1], 1, LONG_MS);
	RUN_UNTIL(CX.sub_ready[2], 1, LONG_MS);
	ck_assert_int_eq(chan_nsubs(), 2);
	start_pwatch(&a, 1);
	ck_assert_int_eq(a.immediate, 2);
	world_crash(2);
	RUN_UNTIL(a.nev, 3, LONG_MS);
	check_ev(&a, 2, 2, AC_PEER_OFFLINE);
	ck_assert_int_eq(chan_nsubs(), 1);
	/* the lost subscriber no longer counts */
	spawn_on(0, body_chan_deliver, &j);
	RUN_UNTIL(j.done, 1, LONG_MS);
	CK_RC(j.rc, 0);
	ck_assert_int_eq(CX.sub_got[1], 0);
	j.n = 1;
	j.done = 0;
	spawn_on(0, body_chan_deliver, &j);
	RUN_UNTIL(j.done, 1, LONG_MS);
	CK_RC(j.rc, 1);
	RUN_UNTIL(CX.sub_got[1], 1, LONG_MS);
	CX.sub_stop = 1;
	world_fini();
}
END_TEST

/* A channel on node 0 subscribed to a channel on node 1: send reaches its
 * subscribers, and deliver counts them (a subscribed channel counts its own
 * recipients). */
typedef struct cc_job {
	ac_ref relay;
	int relay_ready;
	int rc;
	int done;
} cc_job;

static cc_job CC;

static void body_relay(void *arg)
{
	ac_ref ch;
	(void)arg;
	CK_OK(ac_chan_new(NULL, "relay", &CC.relay));
	CK_OK(ac_chan_register(CC.relay, "relay"));
	CK_RC(ac_chan_locate("news", NULL, LONG_MS, &ch), 0);
	CK_RC(ac_chan_subscribe(ch, CC.relay, LONG_MS), 0);
	CC.relay_ready = 1;
}

/* Like body_chan_sub, on the channel "relay". */
static void body_relay_sub(void *arg)
{
	int k = (int)(intptr_t)arg;
	ac_ref ch;
	ac_msg *m;
	CK_RC(ac_chan_locate("relay", NULL, LONG_MS, &ch), 0);
	CK_RC(ac_chan_subscribe(ch, ac_self(), LONG_MS), 0);
	CX.sub_ready[k] = 1;
	while (!CX.sub_stop) {
		if (ac_receive(20, &m) < 0)
			continue;
		ck_assert(ac_msg_is(m, "news!"));
		CX.sub_got[k]++;
		ac_msg_free(m);
	}
}

static void body_cc_deliver(void *arg)
{
	(void)arg;
	CC.rc = ac_chan_deliver(CX.chan, ac_msg_str("news!"), LONG_MS, 0);
	CC.done = 1;
}

START_TEST(test_chan_of_chans)
{
	world_init(0, 0);
	memset(&CX, 0, sizeof(CX));
	memset(&CC, 0, sizeof(CC));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	spawn_on(1, body_chan_owner, NULL);
	RUN_UNTIL(CX.chan_ready, 1, LONG_MS);
	spawn_on(0, body_relay, NULL);
	RUN_UNTIL(CC.relay_ready, 1, LONG_MS);
	spawn_on(0, body_relay_sub, (void *)0);
	spawn_on(0, body_relay_sub, (void *)1);
	spawn_on(1, body_chan_sub, (void *)2);
	RUN_UNTIL(CX.sub_ready[0], 1, LONG_MS);
	RUN_UNTIL(CX.sub_ready[1], 1, LONG_MS);
	RUN_UNTIL(CX.sub_ready[2], 1, LONG_MS);
	ck_assert_int_eq(chan_nsubs(), 2); /* the relay and one coroutine */
	spawn_on(1, body_chan_send_local, NULL);
	RUN_UNTIL(CX.sub_got[0], 1, LONG_MS);
	RUN_UNTIL(CX.sub_got[1], 1, LONG_MS);
	RUN_UNTIL(CX.sub_got[2], 1, LONG_MS);
	spawn_on(1, body_cc_deliver, NULL);
	RUN_UNTIL(CC.done, 1, LONG_MS);
	CK_RC(CC.rc, 3);
	RUN_UNTIL(CX.sub_got[0], 2, LONG_MS);
	RUN_UNTIL(CX.sub_got[1], 2, LONG_MS);
	RUN_UNTIL(CX.sub_got[2], 2, LONG_MS);
	run_for(200);
	ck_assert_int_eq(CX.stage, 1); /* the sender ran to its end */
	ck_assert_int_eq(CX.sub_got[0] + CX.sub_got[1] + CX.sub_got[2], 6);
	CX.sub_stop = 1;
	world_fini();
}
END_TEST

/* A coroutine terminated while its channel deliver waits for a subscriber
 * on another node (frozen: it never answers) leaves nothing behind — no
 * request bookkeeping, no copy of the message (issue 12 item 8; checked by
 * LeakSanitizer in the sanitizer build and by valgrind). */
static void body_terminate(void *arg)
{
	ac_ref *r = arg;
	CK_RC(ac_terminate(*r), 0);
	CX.stage = 1;
}

START_TEST(test_chan_deliver_terminated)
{
	deliver_job j = {1, LONG_MS, 0, 0};
	ac_ref who;
	int64_t t0;
	world_init(0, 0);
	memset(&CX, 0, sizeof(CX));
	world_node("s");
	world_node("s");
	world_peer(0, 1);
	spawn_on(1, body_chan_owner, NULL);
	RUN_UNTIL(CX.chan_ready, 1, LONG_MS);
	spawn_on(0, body_chan_sub, (void *)0);
	RUN_UNTIL(CX.sub_ready[0], 1, LONG_MS);
	W.frozen[0] = 1;
	who = spawn_on(1, body_chan_deliver, &j);
	run_for(200);
	ck_assert_int_eq(j.done, 0); /* waits for node 0's confirmation */
	spawn_on(1, body_terminate, &who);
	RUN_UNTIL(CX.stage, 1, LONG_MS);
	ck_assert_int_eq(j.done, 0);
	W.frozen[0] = 0;
	t0 = wall_ms();
	RUN_UNTIL(CX.sub_got[0], 1, LONG_MS);
	ck_assert_int_lt(wall_ms() - t0, LONG_MS);
	CX.sub_stop = 1;
	world_fini();
}
END_TEST

static Suite *net_chan_suite(void)
{
	Suite *s = suite_create("net_chan");
	TCase *tc = tcase_create("channels");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_chan_subscribe);
	tcase_add_test(tc, test_chan_send);
	tcase_add_test(tc, test_chan_deliver_wait);
	tcase_add_test(tc, test_chan_deliver_timeout);
	tcase_add_test(tc, test_chan_slow_deliver);
	tcase_add_test(tc, test_chan_lost_node);
	tcase_add_test(tc, test_chan_of_chans);
	tcase_add_test(tc, test_chan_deliver_terminated);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return net_harness_main(net_chan_suite());
}
