/* tests/check_node.c: a node's life and limits as other nodes see them,
 * with nodes in separate processes on 127.0.0.1 (a node ending runs its
 * scheduler to the end, which nodes stepped in one thread cannot show):
 *
 *   - a message relayed by a channel of another node (send, deliver, a
 *     channel subscribed to a remote channel, a transform) keeps its
 *     original sender;
 *   - an orderly end (ac_sched_finish with a daemon still running,
 *     ac_sched_terminate from a coroutine and from main) tells remote
 *     monitors "returned"/"terminated", never "node lost";
 *   - dest_path defaults to <temp dir>/asyncoro/<name as a safe path
 *     component>, one directory per node;
 *   - names up to AC_NAME_MAX bytes work end to end (peer-status messages
 *     included), longer ones are -ENAMETOOLONG;
 *   - a timeout of 0 looks before it gives up;
 *   - the peer table: gone peers are reclaimed (thousands of short-lived
 *     clients in a row are all served), a full table refuses with "too
 *     many peers" on both sides and -EUSERS;
 *   - ac_send to a node that refused us is -EHOSTUNREACH, as for a node
 *     never heard of.
 *
 * The parent runs one node; each child process runs another and reports
 * through its exit status (0: everything it checked held; otherwise the
 * number of the check that failed). Children never use Check's asserts.
 */
#define _XOPEN_SOURCE 700
#include "tests/testutil.h"

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <asyncoro/dis.h>

/* Generous bound for anything that must happen. */
#define LONG_MS 10000

/* ---- logs ------------------------------------------------------------------ */

typedef struct tlog {
	char buf[1 << 16];
	size_t len;
} tlog;

static void log_capture(void *arg, int level, const char *text)
{
	tlog *l = arg;
	int k;
	if (getenv("CHECK_NODE_LOG"))
		fprintf(stderr, "%d[%d] %s\n", (int)getpid(), level, text);
	k = snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "%s\n", text);
	if (k > 0 && l->len + (size_t)k < sizeof(l->buf))
		l->len += (size_t)k;
}

static int log_has(const tlog *l, const char *text)
{
	return strstr(l->buf, text) != NULL;
}

/* ---- nodes ----------------------------------------------------------------- */

static char tmp_root[64];

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Every test gets its own TMPDIR (read by the epoll backend at creation):
 * default dest_paths land there. */
static void tmp_setup(void)
{
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/ac-check-node-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp_root));
	setenv("TMPDIR", tmp_root, 1);
}

static void tmp_teardown(void)
{
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	unsetenv("TMPDIR");
}

static ac_sched *sched_new(tlog *log)
{
	ac_sched_opts so;
	ac_sched *s = NULL;
	ac_sched_opts_init(&so);
	so.log_fn = log_capture;
	so.log_arg = log;
	so.log_level = AC_LOG_DEBUG;
	if (ac_sched_new(&so, &s) < 0)
		return NULL;
	return s;
}

/* Options of a test node: loopback, no discovery, quick liveness. */
static void node_opts(ac_node_opts *o, const char *name)
{
	ac_node_opts_init(o);
	o->node = "127.0.0.1";
	o->udp_port = (uint16_t)(20000 + getpid() % 20000);
	o->discover_peers = 0;
	o->name = name;
	o->secret = "check-node";
	o->heartbeat_ms = 200;
	o->peer_lost_ms = 2000;
}

/* ---- child processes ---------------------------------------------------- */

/* A child's main: gets the parent node's location; returns its exit code. */
typedef int (*child_fn)(const ac_addr *parent, void *arg);

typedef struct child {
	pid_t pid;
	int pipe_w;
} child;

/* Fork a child that waits for the parent's location, then runs fn. */
static child child_start(child_fn fn, void *arg)
{
	int fds[2];
	child c;
	ck_assert_int_eq(pipe(fds), 0);
	c.pid = fork();
	ck_assert_int_ge(c.pid, 0);
	if (c.pid == 0) {
		ac_addr loc;
		int rc = 99;
		close(fds[1]);
		alarm(60); /* a child never outlives a stuck test */
		if (read(fds[0], &loc, sizeof(loc)) == (ssize_t)sizeof(loc))
			rc = fn(&loc, arg);
		_exit(rc);
	}
	close(fds[0]);
	c.pipe_w = fds[1];
	return c;
}

static void child_go(child *c, const ac_addr *parent)
{
	ck_assert_int_eq(write(c->pipe_w, parent, sizeof(*parent)),
	                 (ssize_t)sizeof(*parent));
	close(c->pipe_w);
	c->pipe_w = -1;
}

/* The child's exit code (it must end within LONG_MS; killed otherwise). */
static int child_wait(child *c)
{
	int st, i;
	if (c->pipe_w >= 0)
		close(c->pipe_w);
	for (i = 0; i < LONG_MS / 10; i++) {
		struct timespec ts = {0, 10 * 1000000};
		if (waitpid(c->pid, &st, WNOHANG) == c->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 200 + WTERMSIG(st);
		nanosleep(&ts, NULL);
	}
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &st, 0);
	return -1;
}

/* A child node: scheduler (*sp) + node; NULL when it could not start. */
static ac_node *child_node(tlog *log, const ac_node_opts *o, ac_sched **sp)
{
	ac_sched *s = sched_new(log);
	ac_node *n = NULL;
	*sp = s;
	if (!s || ac_node_start(s, o, &n) < 0)
		return NULL;
	return n;
}

/* The parent: a scheduler with a node, and the test's body as a coroutine
 * run to its end. */
typedef struct parent_node {
	tlog log;
	ac_sched *s;
	ac_node *node;
	ac_addr loc;
	char locs[AC_ADDR_STRLEN];
} parent_node;

static void parent_start(parent_node *p, const ac_node_opts *o)
{
	memset(&p->log, 0, sizeof(p->log));
	p->s = sched_new(&p->log);
	ck_assert_ptr_nonnull(p->s);
	CK_OK(ac_node_start(p->s, o, &p->node));
	p->loc = ac_node_location(p->node);
	ac_addr_format(&p->loc, p->locs, sizeof(p->locs));
}

static void parent_run(parent_node *p, ac_coro_fn body, void *arg)
{
	CK_OK(ac_spawn(p->s, body, arg, NULL, NULL));
	CK_OK(ac_sched_run(p->s));
}

/* ---- a channel relays with the original sender -------------------------- */

typedef struct relay_st {
	parent_node p;
	ac_ref news;
	int seen;    /* messages the hub's transform saw */
	int wrong;   /* ... of which the sender was not the right one */
} relay_st;

static ac_msg *hub_transform(ac_msg *m, void *arg)
{
	relay_st *t = arg;
	const char *what;
	size_t len;
	ac_ref sender;
	t->seen++;
	if (ac_msg_unpack(m, "[S r]", (const void **)&what, &len, &sender) < 0 ||
	    !ac_ref_eq(ac_msg_from(m), sender))
		t->wrong++;
	return m;
}

/* The child: a subscriber (directly, and through a local channel that is
 * itself subscribed to the hub's channel) and a sender. */
static int spoke_main(const ac_addr *hub, void *arg);

typedef struct spoke {
	const ac_addr *hub;
	ac_node *node;
	ac_ref sub;
	int got;
	int ok;
	int fail;
} spoke;

static void spoke_sub(void *arg)
{
	spoke *k = arg;
	while (k->got < 4) {
		ac_msg *m;
		ac_ref sender;
		const void *what;
		size_t len;
		if (ac_receive(LONG_MS, &m) < 0) {
			k->fail = 1;
			return;
		}
		k->got++;
		if (ac_msg_unpack(m, "[S r]", &what, &len, &sender) == 0 &&
		    ac_ref_eq(ac_msg_from(m), sender))
			k->ok++;
		ac_msg_free(m);
	}
}

static void spoke_sender(void *arg)
{
	spoke *k = arg;
	char hub[AC_ADDR_STRLEN];
	ac_ref news, relay;
	ac_msg *m;
	ac_addr_format(k->hub, hub, sizeof(hub));
	if (ac_node_peer(k->node, hub, 0, 1, 0, LONG_MS) < 0 ||
	    ac_chan_locate("news", k->hub, LONG_MS, &news) < 0 ||
	    ac_chan_new(NULL, "relay", &relay) < 0 ||
	    ac_chan_subscribe(relay, k->sub, 0) < 0 ||
	    ac_chan_subscribe(news, relay, LONG_MS) < 0 ||
	    ac_chan_subscribe(news, k->sub, LONG_MS) < 0) {
		k->fail = 2;
		return;
	}
	m = ac_msg_pack("[s r]", "send", ac_self());
	if (!m || ac_chan_send(news, m) < 0)
		k->fail = 3;
	m = ac_msg_pack("[s r]", "deliver", ac_self());
	if (!m || ac_chan_deliver(news, m, LONG_MS, 2) != 2)
		k->fail = 4;
}

static int spoke_main(const ac_addr *hub, void *arg)
{
	static tlog log;
	spoke k = {.hub = hub};
	ac_node_opts o;
	ac_sched *s;
	(void)arg;
	node_opts(&o, "spoke");
	k.node = child_node(&log, &o, &s);
	if (!k.node)
		return 1;
	ac_spawn(s, spoke_sub, &k, NULL, &k.sub);
	ac_spawn(s, spoke_sender, &k, NULL, NULL);
	ac_sched_finish(s);
	ac_sched_free(s);
	return k.fail ? 10 + k.fail : k.ok == 4 ? 0 : 20 + k.ok;
}

static void hub_body(void *arg)
{
	relay_st *t = arg;
	int i;
	CK_OK(ac_chan_register(t->news, "news"));
	for (i = 0; i < LONG_MS / 10 && t->seen < 2; i++)
		ac_sleep(10);
	ac_sleep(200); /* the child ends first: the hub is still there */
}

START_TEST(test_relay_keeps_sender)
{
	relay_st t;
	ac_node_opts o;
	child c = child_start(spoke_main, NULL);
	memset(&t, 0, sizeof(t));
	node_opts(&o, "hub");
	parent_start(&t.p, &o);
	CK_OK(ac_chan_new(t.p.s, "news", &t.news));
	CK_OK(ac_chan_set_transform(t.news, hub_transform, &t));
	child_go(&c, &t.p.loc);
	parent_run(&t.p, hub_body, &t);
	ck_assert_int_eq(t.seen, 2);
	ck_assert_msg(t.wrong == 0, "the hub's transform saw %d messages with "
	              "the wrong sender", t.wrong);
	ck_assert_int_eq(child_wait(&c), 0);
	ac_sched_free(t.p.s);
}
END_TEST

/* ---- an orderly end tells remote monitors how each coroutine ended ------ */

enum { END_FINISH, END_TERMINATE_IN_CORO, END_TERMINATE_FROM_MAIN };

/* The leaving node: "daemon" (a daemon), "idle" (a daemon only when the
 * node ends by finish, which would wait for it otherwise) and "main", which
 * waits for "go" and then ends the node the way asked. */
typedef struct leaver {
	int how;
	int go;
} leaver;

static void leaver_wait(void *arg)
{
	ac_msg *m;
	ac_register(arg);
	while (ac_receive(AC_FOREVER, &m) == 0)
		ac_msg_free(m);
}

static void leaver_main(void *arg)
{
	leaver *l = arg;
	ac_msg *m;
	ac_register("main");
	if (ac_receive(LONG_MS, &m) < 0)
		return;
	ac_msg_free(m);
	l->go = 1;
	if (l->how == END_TERMINATE_IN_CORO)
		ac_sched_terminate(ac_sched_self()); /* does not return */
	if (l->how == END_TERMINATE_FROM_MAIN)
		ac_suspend(AC_FOREVER, NULL); /* main ends us all */
}

static int leaver_proc(const ac_addr *parent, void *arg)
{
	static tlog log;
	ac_spawn_opts d = {.name = "daemon", .daemon = 1};
	ac_spawn_opts i = {.name = "idle", .daemon = 0};
	leaver l = {*(const int *)arg, 0};
	char where[AC_ADDR_STRLEN];
	const char *peers[1] = {where};
	ac_node_opts o;
	ac_sched *s;
	node_opts(&o, "leaver");
	ac_addr_format(parent, where, sizeof(where));
	o.peers = peers;
	o.npeers = 1;
	if (!child_node(&log, &o, &s))
		return 1;
	i.daemon = l.how == END_FINISH;
	ac_spawn(s, leaver_wait, "daemon", &d, NULL);
	ac_spawn(s, leaver_wait, "idle", &i, NULL);
	ac_spawn(s, leaver_main, &l, NULL, NULL);
	if (l.how == END_FINISH) {
		if (ac_sched_finish(s) < 0)
			return 2;
	} else if (l.how == END_TERMINATE_IN_CORO) {
		if (ac_sched_run(s) < 0)
			return 3;
	} else {
		int k;
		for (k = 0; !l.go && k < LONG_MS; k++) {
			struct timespec ts = {0, 1000000};
			if (ac_sched_step(s) == 0)
				nanosleep(&ts, NULL);
		}
		ac_sched_terminate(s);
	}
	ac_sched_free(s);
	return l.go ? 0 : 4;
}

/* The monitor side: locate the three coroutines, monitor them, say "go",
 * collect one exit each (and no second one). */
typedef struct watcher {
	parent_node p;
	int how[3]; /* exit reasons of daemon, idle, main; -1: none yet */
	int extra;  /* exits beyond one each */
} watcher;

static void watcher_body(void *arg)
{
	watcher *w = arg;
	static const char *names[3] = {"daemon", "idle", "main"};
	ac_ref r[3];
	ac_msg *m;
	int i, got = 0;
	for (i = 0; i < 3; i++) {
		CK_OK(ac_locate(names[i], NULL, LONG_MS, &r[i]));
		CK_OK(ac_monitor(r[i]));
		w->how[i] = -1;
	}
	CK_OK(ac_send(r[2], ac_msg_str("go")));
	while (got < 3) {
		ac_exit_info ei;
		CK_OK(ac_receive(LONG_MS, &m));
		if (ac_msg_exit(m, &ei) == 0) {
			for (i = 0; i < 3; i++) {
				if (!ac_ref_eq(ei.coro, r[i]))
					continue;
				w->extra += w->how[i] != -1;
				w->how[i] = ei.how;
			}
			got++;
		}
		ac_msg_free(m);
	}
	/* A second exit of any of them would come now. */
	while (ac_receive(300, &m) == 0) {
		w->extra += ac_msg_kind(m) == AC_MSG_EXIT;
		ac_msg_free(m);
	}
}

static void end_case(int how, const int want[3])
{
	watcher w;
	ac_node_opts o;
	child c = child_start(leaver_proc, &how);
	int i;
	memset(&w, 0, sizeof(w));
	node_opts(&o, "watcher");
	parent_start(&w.p, &o);
	child_go(&c, &w.p.loc);
	parent_run(&w.p, watcher_body, &w);
	for (i = 0; i < 3; i++)
		ck_assert_msg(w.how[i] == want[i], "exit of coroutine %d: how %d, "
		              "want %d (3 is node lost)", i, w.how[i], want[i]);
	ck_assert_int_eq(w.extra, 0);
	ck_assert_int_eq(child_wait(&c), 0);
	ck_assert_msg(log_has(&w.p.log, "\"leaver\"") &&
	              log_has(&w.p.log, " left"),
	              "the leaver's goodbye was not seen:\n%s", w.p.log.buf);
	ac_sched_free(w.p.s);
}

START_TEST(test_finish_tells_monitors)
{
	static const int want[3] = {AC_EXIT_TERMINATED, AC_EXIT_TERMINATED,
	                            AC_EXIT_RETURNED};
	end_case(END_FINISH, want);
}
END_TEST

START_TEST(test_terminate_in_coro_tells_monitors)
{
	static const int want[3] = {AC_EXIT_TERMINATED, AC_EXIT_TERMINATED,
	                            AC_EXIT_TERMINATED};
	end_case(END_TERMINATE_IN_CORO, want);
}
END_TEST

START_TEST(test_terminate_from_main_tells_monitors)
{
	static const int want[3] = {AC_EXIT_TERMINATED, AC_EXIT_TERMINATED,
	                            AC_EXIT_TERMINATED};
	end_case(END_TERMINATE_FROM_MAIN, want);
}
END_TEST

/* ---- dest_path: one directory per node ------------------------------------ */

static int dir_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

typedef struct xfer {
	ac_node *node;
	const ac_addr *to;
	const char *path;
	int rc;
} xfer;

static void xfer_body(void *arg)
{
	xfer *x = arg;
	x->rc = ac_node_send_file(x->node, x->to, x->path, NULL, 0, LONG_MS, NULL);
}

/* Two nodes of one process without dest_path (a receiving node is enough
 * to show where files land: a transfer between the two, both stepped). */
START_TEST(test_default_dest_per_node)
{
	static tlog la, lb;
	ac_sched *a = sched_new(&la), *b;
	ac_node *na, *nb;
	ac_node_opts o;
	char want[512], src[512], got[512];
	ac_addr to;
	xfer x;
	int64_t i;
	FILE *f;
	node_opts(&o, "a/b:c");
	CK_OK(ac_node_start(a, &o, &na));
	b = sched_new(&lb);
	node_opts(&o, "..");
	CK_OK(ac_node_start(b, &o, &nb));
	snprintf(want, sizeof(want), "%s/asyncoro/a_b_c", tmp_root);
	ck_assert_msg(dir_exists(want), "%s missing", want);
	snprintf(want, sizeof(want), "%s/asyncoro/_.", tmp_root);
	ck_assert_msg(dir_exists(want), "%s missing", want);
	/* A transfer from b to a lands in a's own directory. */
	snprintf(src, sizeof(src), "%s/src.txt", tmp_root);
	f = fopen(src, "w");
	ck_assert_ptr_nonnull(f);
	fputs("payload\n", f);
	fclose(f);
	to = ac_node_location(na);
	x.node = nb;
	x.to = &to;
	x.path = src;
	x.rc = 1000;
	CK_OK(ac_spawn(b, xfer_body, &x, NULL, NULL));
	for (i = 0; i < LONG_MS && x.rc == 1000; i++) {
		struct timespec ts = {0, 1000000};
		int busy = ac_sched_step(a) == 1;
		busy |= ac_sched_step(b) == 1;
		if (!busy)
			nanosleep(&ts, NULL);
	}
	CK_RC(x.rc, 0);
	snprintf(got, sizeof(got), "%s/asyncoro/a_b_c/src.txt", tmp_root);
	ck_assert_msg(access(got, F_OK) == 0, "%s missing", got);
	snprintf(got, sizeof(got), "%s/asyncoro/src.txt", tmp_root);
	ck_assert_msg(access(got, F_OK) != 0, "%s shared by every node", got);
	ac_sched_free(b);
	ac_sched_free(a);
}
END_TEST

/* ---- names: one limit, end to end --------------------------------------- */

static char long_name[AC_NAME_MAX + 2];

static int long_proc(const ac_addr *parent, void *arg)
{
	static tlog log;
	char where[AC_ADDR_STRLEN];
	const char *peers[1] = {where};
	ac_node_opts o;
	ac_sched *s;
	(void)arg;
	node_opts(&o, long_name);
	ac_addr_format(parent, where, sizeof(where));
	o.peers = peers;
	o.npeers = 1;
	o.stop_timeout_ms = 0;
	if (!child_node(&log, &o, &s))
		return 1;
	/* Stay long enough to be seen, then leave in order. */
	{
		int k;
		for (k = 0; k < 1500; k++) {
			struct timespec ts = {0, 1000000};
			if (ac_sched_step(s) == 0)
				nanosleep(&ts, NULL);
		}
	}
	ac_sched_free(s);
	return 0;
}

typedef struct status_st {
	parent_node p;
	int online;
	int decoded;
	char name[AC_NAME_MAX + 1];
} status_st;

static void status_body(void *arg)
{
	status_st *t = arg;
	ac_msg *m;
	CK_OK(ac_node_peer_status(t->p.node, ac_self()));
	CK_OK(ac_receive(LONG_MS, &m));
	if (ac_msg_kind(m) == AC_MSG_PEER) {
		ac_peer_info pi;
		t->online = 1;
		if (ac_msg_peer(m, &pi) == 0) {
			t->decoded = 1;
			snprintf(t->name, sizeof(t->name), "%s", pi.name);
		}
	}
	ac_msg_free(m);
}

START_TEST(test_long_names)
{
	status_st t;
	ac_node_opts o;
	ac_sched *s;
	ac_node *n;
	ac_ref me, ch;
	child c;
	memset(&t, 0, sizeof(t));
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[AC_NAME_MAX + 1] = '\0';
	/* One byte too many: refused with a clear code, nothing started. */
	s = sched_new(&t.p.log);
	node_opts(&o, long_name);
	CK_RC(ac_node_start(s, &o, &n), -ENAMETOOLONG);
	ck_assert_ptr_null(ac_node_of(s));
	CK_RC(ac_chan_new(s, long_name, &ch), -ENAMETOOLONG);
	CK_RC(ac_rci_new(s, long_name, (ac_rci_fn)ac_msg_free, &me),
	        -ENAMETOOLONG);
	ac_sched_free(s);
	/* Exactly the limit: a peer of that name is reported whole. */
	long_name[AC_NAME_MAX] = '\0';
	c = child_start(long_proc, NULL);
	memset(&t, 0, sizeof(t));
	node_opts(&o, "observer");
	parent_start(&t.p, &o);
	child_go(&c, &t.p.loc);
	parent_run(&t.p, status_body, &t);
	ck_assert_int_eq(t.online, 1);
	ck_assert_msg(t.decoded, "ac_msg_peer failed on a %d-byte name",
	              AC_NAME_MAX);
	ck_assert_str_eq(t.name, long_name);
	ck_assert_int_eq(child_wait(&c), 0);
	ac_sched_free(t.p.s);
}
END_TEST

/* ---- a timeout of 0 looks first ------------------------------------------- */

static void noop_rci(ac_msg *args)
{
	ac_msg_free(args);
}

typedef struct zero_st {
	parent_node p;
	int done;
} zero_st;

static void zero_body(void *arg)
{
	zero_st *t = arg;
	ac_ref r, ch, rci;
	ac_addr loc;
	int64_t t0;
	CK_OK(ac_register("me"));
	CK_RC(ac_locate("me", NULL, 0, &r), 0);
	ck_assert(ac_ref_eq(r, ac_self()));
	CK_RC(ac_locate("me", &t->p.loc, 0, &r), 0);
	CK_RC(ac_locate("me", NULL, 1, &r), 0);
	CK_OK(ac_chan_new(NULL, "ch", &ch));
	CK_OK(ac_chan_register(ch, "ch"));
	CK_RC(ac_chan_locate("ch", NULL, 0, &r), 0);
	ck_assert(ac_ref_eq(r, ch));
	CK_OK(ac_rci_new(NULL, "fn", noop_rci, &rci));
	CK_OK(ac_rci_register(rci));
	CK_RC(ac_rci_locate("fn", NULL, 0, &r), 0);
	ck_assert(ac_ref_eq(r, rci));
	CK_RC(ac_node_locate(t->p.node, "zero", 0, &loc), 0);
	ck_assert(ac_addr_eq(&loc, &t->p.loc));
	/* ac_monitor_ref needs one side here: neither is -EINVAL. */
	{
		ac_ref a = ac_self(), b = ac_self();
		a.loc.port = (uint16_t)(a.loc.port + 1);
		a.inc ^= 1;
		b.loc.port = (uint16_t)(b.loc.port + 2);
		b.inc ^= 2;
		CK_RC(ac_monitor_ref(a, b), -EINVAL);
		CK_RC(ac_monitor_ref(ac_self(), b), -EHOSTUNREACH);
	}
	/* Nothing there: 0 gives up at once. */
	t0 = ac_sched_now_ns(ac_sched_self());
	CK_RC(ac_locate("nobody", NULL, 0, &r), -ETIMEDOUT);
	CK_RC(ac_node_locate(t->p.node, "nobody", 0, &loc), -ETIMEDOUT);
	ck_assert_int_lt(ac_sched_now_ns(ac_sched_self()) - t0, 100 * 1000000);
	t->done = 1;
}

START_TEST(test_timeout_zero_looks_first)
{
	zero_st t;
	ac_node_opts o;
	memset(&t, 0, sizeof(t));
	node_opts(&o, "zero");
	parent_start(&t.p, &o);
	parent_run(&t.p, zero_body, &t);
	ck_assert_int_eq(t.done, 1);
	ac_sched_free(t.p.s);
}
END_TEST

/* ---- the peer table ----------------------------------------------------------- */

/* How many clients: thousands, so that a server that never forgot a peer
 * (the default table holds 1024) would refuse the last ones; fewer under
 * valgrind (AC_TEST_TIME_SCALE), against a smaller table. */
static int clients_count(int *max_peers)
{
	const char *e = getenv("AC_TEST_TIME_SCALE");
	if (e && atoi(e) > 1) {
		*max_peers = 32;
		return 200;
	}
	*max_peers = 0; /* the default */
	return 5000;
}

typedef struct server_st {
	int want;
	int got;
} server_st;

static void server_svc(void *arg)
{
	server_st *t = arg;
	ac_msg *m;
	ac_register("svc");
	while (t->got < t->want && ac_receive(LONG_MS * 3, &m) == 0) {
		t->got++;
		ac_msg_free(m);
	}
}

static int server_proc(const ac_addr *parent, void *arg)
{
	static tlog log;
	server_st t = {0, 0};
	ac_node_opts o;
	ac_sched *s;
	int max_peers;
	(void)parent;
	t.want = clients_count(&max_peers);
	node_opts(&o, "server");
	o.tcp_port = *(const uint16_t *)arg;
	o.max_peers = max_peers;
	if (!child_node(&log, &o, &s))
		return 1;
	ac_spawn(s, server_svc, &t, NULL, NULL);
	ac_sched_finish(s);
	ac_sched_free(s);
	return t.got == t.want ? 0 : 2;
}

typedef struct client_st {
	const char *server;
	ac_addr loc;
	int rc;
	int step;
} client_st;

static void client_body(void *arg)
{
	client_st *c = arg;
	ac_ref svc;
	ac_node *n = ac_node_of(ac_sched_self());
	int tries = 0;
	c->step = 1;
	/* The server process may not listen yet when the first one comes. */
	while ((c->rc = ac_node_peer(n, c->server, 0, 1, 0, LONG_MS)) ==
	               -ECONNREFUSED && ++tries < 500)
		ac_sleep(20);
	if (c->rc < 0)
		return;
	c->step = 2;
	if ((c->rc = ac_locate("svc", &c->loc, LONG_MS, &svc)) < 0)
		return;
	c->step = 3;
	c->rc = ac_deliver(svc, ac_msg_str("hello"), LONG_MS);
	c->step = 4;
}

/* One short-lived client: start, peer, locate, deliver, finish. */
static void client_once(client_st *c, int k)
{
	static tlog log;
	ac_node_opts o;
	ac_sched *s;
	ac_node *n;
	log.len = 0;
	s = sched_new(&log);
	ck_assert_ptr_nonnull(s);
	node_opts(&o, NULL);
	o.stop_timeout_ms = 1000;
	CK_OK(ac_node_start(s, &o, &n));
	CK_OK(ac_spawn(s, client_body, c, NULL, NULL));
	CK_OK(ac_sched_finish(s));
	ck_assert_msg(c->rc == 1, "client %d: step %d: %d (%s); its log:\n%s", k,
	              c->step, c->rc, ac_strerror(c->rc), log.buf);
	ac_sched_free(s);
}

static uint16_t free_port(void)
{
	ac_sched *s = test_sched();
	ac_addr a;
	ac_sock *l;
	CK_OK(ac_addr_parse(&a, "127.0.0.1", 0));
	CK_OK(ac_sock_listen(s, &a, 1, 0, &l));
	CK_OK(ac_sock_local_addr(l, &a));
	ac_sock_close(l);
	ac_sched_free(s);
	return a.port;
}

START_TEST(test_thousands_of_clients)
{
	uint16_t port = free_port();
	child srv = child_start(server_proc, &port);
	client_st c;
	ac_addr none;
	int k, n, max_peers;
	char where[AC_ADDR_STRLEN];
	n = clients_count(&max_peers);
	ac_addr_parse(&none, "127.0.0.1", 0);
	child_go(&srv, &none);
	CK_OK(ac_addr_parse(&c.loc, "127.0.0.1", port));
	ac_addr_format(&c.loc, where, sizeof(where));
	c.server = where;
	for (k = 0; k < n; k++) {
		c.rc = -1;
		c.step = 0;
		client_once(&c, k);
	}
	ck_assert_int_eq(child_wait(&srv), 0);
}
END_TEST

/* A child node on a given port that stays up for a while (stepping its
 * scheduler) and reports whether its log has a line. */
typedef struct stay {
	uint16_t port;
	int max_peers;
	const char *secret;
	const char *expect; /* a log line to expect, or NULL */
	int ms;
} stay;

static int stay_proc(const ac_addr *parent, void *arg)
{
	static tlog log;
	const stay *y = arg;
	ac_node_opts o;
	ac_sched *s;
	int k;
	(void)parent;
	node_opts(&o, "stay");
	o.tcp_port = y->port;
	o.max_peers = y->max_peers;
	if (y->secret)
		o.secret = y->secret;
	if (!child_node(&log, &o, &s))
		return 1;
	for (k = 0; k < y->ms; k++) {
		struct timespec ts = {0, 1000000};
		if (ac_sched_step(s) == 0)
			nanosleep(&ts, NULL);
	}
	ac_sched_free(s);
	return !y->expect || log_has(&log, y->expect) ? 0 : 2;
}

typedef struct peer_st {
	const char *where;
	int rc;
} peer_st;

static void peer_body(void *arg)
{
	peer_st *t = arg;
	int tries = 0;
	while ((t->rc = ac_node_peer(ac_node_of(ac_sched_self()), t->where, 0, 1,
	                             0, LONG_MS)) == -ECONNREFUSED && ++tries < 500)
		ac_sleep(20);
}

START_TEST(test_full_table_refuses)
{
	stay y = {free_port(), 1, NULL, "too many peers", 2500};
	child c = child_start(stay_proc, &y);
	static tlog la, lb;
	ac_sched *a = sched_new(&la), *b = sched_new(&lb);
	ac_node *na, *nb;
	ac_node_opts o;
	ac_addr loc;
	char where[AC_ADDR_STRLEN];
	peer_st t;
	ac_addr_parse(&loc, "127.0.0.1", 0);
	child_go(&c, &loc);
	CK_OK(ac_addr_parse(&loc, "127.0.0.1", y.port));
	ac_addr_format(&loc, where, sizeof(where));
	node_opts(&o, "first");
	CK_OK(ac_node_start(a, &o, &na));
	node_opts(&o, "second");
	CK_OK(ac_node_start(b, &o, &nb));
	t.where = where;
	CK_OK(ac_spawn(a, peer_body, &t, NULL, NULL));
	CK_OK(ac_sched_run(a));
	CK_RC(t.rc, 0);
	CK_OK(ac_spawn(b, peer_body, &t, NULL, NULL));
	CK_OK(ac_sched_run(b));
	CK_RC(t.rc, -EUSERS);
	ck_assert_msg(log_has(&lb, "too many peers"), "the refused side logged:"
	              "\n%s", lb.buf);
	ck_assert_int_eq(child_wait(&c), 0); /* the server logged it too */
	ac_sched_free(b);
	ac_sched_free(a);
}
END_TEST

/* ---- send to a node that refused us ---------------------------------------- */

typedef struct refused_st {
	ac_addr loc;
	char where[AC_ADDR_STRLEN];
	int done;
} refused_st;

static void refused_body(void *arg)
{
	refused_st *t = arg;
	ac_ref r = {0};
	ac_msg *m = ac_msg_str("lost");
	int tries = 0, rc;
	r.loc = t->loc;
	r.inc = 1;
	r.id = 1;
	r.kind = AC_REF_CORO;
	CK_RC(ac_send(r, m), -EHOSTUNREACH); /* never heard of */
	while ((rc = ac_node_peer(ac_node_of(ac_sched_self()), t->where, 0, 1, 0,
	                          LONG_MS)) == -ECONNREFUSED && ++tries < 500)
		ac_sleep(20);
	CK_RC(rc, -EACCES);
	CK_RC(ac_send(r, m), -EHOSTUNREACH);
	/* A locate at that node makes a record of it; it is refused too. */
	CK_RC(ac_locate("x", &t->loc, 500, &r), -ETIMEDOUT);
	r.loc = t->loc;
	CK_RC(ac_send(r, m), -EHOSTUNREACH);
	ac_msg_free(m);
	t->done = 1;
}

START_TEST(test_send_to_refusing_node)
{
	stay y = {free_port(), 0, "another secret", NULL, 2500};
	child c = child_start(stay_proc, &y);
	static tlog l;
	ac_sched *s = sched_new(&l);
	ac_node *n;
	ac_node_opts o;
	refused_st t;
	memset(&t, 0, sizeof(t));
	ac_addr_parse(&t.loc, "127.0.0.1", 0);
	child_go(&c, &t.loc);
	CK_OK(ac_addr_parse(&t.loc, "127.0.0.1", y.port));
	ac_addr_format(&t.loc, t.where, sizeof(t.where));
	node_opts(&o, "asker");
	CK_OK(ac_node_start(s, &o, &n));
	CK_OK(ac_spawn(s, refused_body, &t, NULL, NULL));
	CK_OK(ac_sched_run(s));
	ck_assert_int_eq(t.done, 1);
	ac_sched_free(s);
	ck_assert_int_eq(child_wait(&c), 0);
}
END_TEST

static Suite *node_suite(void)
{
	Suite *su = suite_create("node");
	TCase *tc = tcase_create("life");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_relay_keeps_sender);
	tcase_add_test(tc, test_finish_tells_monitors);
	tcase_add_test(tc, test_terminate_in_coro_tells_monitors);
	tcase_add_test(tc, test_terminate_from_main_tells_monitors);
	tcase_add_test(tc, test_default_dest_per_node);
	tcase_add_test(tc, test_long_names);
	tcase_add_test(tc, test_timeout_zero_looks_first);
	tcase_add_test(tc, test_full_table_refuses);
	tcase_add_test(tc, test_send_to_refusing_node);
	suite_add_tcase(su, tc);
	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_thousands_of_clients);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(node_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
