/* examples/dist_demo.c: the distributed demo — three processes on 127.0.0.1.
 *
 * The parent starts a server node, then two client nodes, each a separate
 * process with its own scheduler and node. Nodes find each other by UDP
 * discovery (broadcast to 127.255.255.255 on a port of this run), prove a
 * shared secret, and then:
 *   - the server registers "greeter" and prints peer status changes;
 *   - each client locates "greeter", delivers three greetings (waiting for
 *     each to be queued), monitors nothing but waits for each answer, then
 *     finishes and says goodbye;
 *   - the server answers every greeting, sees both clients go Offline, and
 *     ends.
 * Output lines are prefixed with the process's role. Every wait is bounded.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asyncoro/dis.h>

#define DEMO_SECRET "demo-secret"
#define DEMO_CLIENTS 2

static uint16_t demo_udp;
static char demo_role[16];

static void say(const char *fmt, ...) AC_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
	va_list ap;
	printf("%-8s ", demo_role);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static ac_node *demo_node(ac_sched **s, const char *name)
{
	ac_node_opts o;
	ac_sched_opts so;
	ac_node *n;
	ac_sched_opts_init(&so);
	so.name = name;
	so.log_level = AC_LOG_WARN;
	if (ac_sched_new(&so, s) < 0)
		exit(1);
	ac_node_opts_init(&o);
	o.node = "127.0.0.1";
	o.udp_port = demo_udp;
	o.name = name;
	o.secret = DEMO_SECRET;
	o.heartbeat_ms = 500;
	o.peer_lost_ms = 3000;
	if (ac_node_start(*s, &o, &n) < 0) {
		fprintf(stderr, "%s: cannot start the node\n", name);
		exit(1);
	}
	return n;
}

/* ---- the server ------------------------------------------------------------ */

static void greeter(void *arg)
{
	ac_msg *m;
	(void)arg;
	ac_register("greeter");
	while (ac_receive(AC_FOREVER, &m) == 0) {
		char text[128];
		if (ac_msg_unpack(m, "[s]", text, sizeof(text)) == 0) {
			say("got \"%s\"", text);
			ac_send(ac_msg_from(m), ac_msg_pack("[s]", "nice to meet you"));
		}
		ac_msg_free(m);
	}
}

static void status_watch(void *arg)
{
	ac_node *n = arg;
	int online = 0, gone = 0;
	ac_msg *m;
	ac_node_peer_status(n, ac_self());
	while (gone < DEMO_CLIENTS && ac_receive(30000, &m) == 0) {
		ac_peer_info pi;
		char where[AC_ADDR_STRLEN];
		if (ac_msg_peer(m, &pi) == 0) {
			say("peer %s at %s is %s", pi.name,
			    ac_addr_format(&pi.loc, where, sizeof(where)),
			    pi.status == AC_PEER_ONLINE ? "Online" : "Offline");
			online += pi.status == AC_PEER_ONLINE;
			gone += pi.status != AC_PEER_ONLINE;
		}
		ac_msg_free(m);
	}
	say("%d clients came and left; stopping", online);
}

static int run_server(void)
{
	ac_sched *s;
	ac_node *n = demo_node(&s, "server");
	ac_spawn_opts d = {.name = "greeter", .daemon = 1};
	ac_spawn(s, greeter, NULL, &d, NULL);
	ac_spawn(s, status_watch, n, NULL, NULL);
	say("serving on udp port %u", demo_udp);
	ac_sched_finish(s);
	ac_sched_free(s);
	return 0;
}

/* ---- a client -------------------------------------------------------------------- */

static void client(void *arg)
{
	ac_ref g;
	int i, rc = ac_locate("greeter", NULL, 10000, &g);
	char where[AC_ADDR_STRLEN];
	(void)arg;
	if (rc < 0) {
		say("could not find the greeter: %s", ac_strerror(rc));
		return;
	}
	say("greeter found at %s", ac_addr_format(&g.loc, where, sizeof(where)));
	for (i = 0; i < 3; i++) {
		ac_msg *m;
		char text[128];
		snprintf(text, sizeof(text), "hello #%d from %s", i + 1, demo_role);
		rc = ac_deliver(g, ac_msg_pack("[s]", text), 5000);
		say("delivered greeting %d: %s", i + 1, rc == 1 ? "yes" : ac_strerror(rc));
		if (ac_receive(5000, &m) == 0) {
			if (ac_msg_unpack(m, "[s]", text, sizeof(text)) == 0)
				say("answer: \"%s\"", text);
			ac_msg_free(m);
		}
	}
}

static int run_client(int i)
{
	ac_sched *s;
	char name[16];
	snprintf(name, sizeof(name), "client%d", i);
	demo_node(&s, name);
	ac_spawn(s, client, NULL, NULL, NULL);
	ac_sched_finish(s); /* then the node says goodbye */
	ac_sched_free(s);
	say("done");
	return 0;
}

int main(int argc, char **argv)
{
	pid_t pids[DEMO_CLIENTS + 1];
	int i, status, fail = 0;
	if (argc > 1) {
		printf("usage: dist_demo\nStarts a server and %d clients as separate "
		       "processes on 127.0.0.1;\nthey discover each other, exchange "
		       "greetings and leave.\n", DEMO_CLIENTS);
		return strcmp(argv[1], "--help") != 0;
	}
	/* A discovery port of this run, so that runs do not meet. */
	demo_udp = (uint16_t)(40000 + getpid() % 20000);
	alarm(60); /* bounded, whatever happens */
	for (i = 0; i <= DEMO_CLIENTS; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return 1;
		if (pids[i] == 0) {
			alarm(60);
			if (i == 0) {
				snprintf(demo_role, sizeof(demo_role), "[server]");
				_exit(run_server());
			}
			snprintf(demo_role, sizeof(demo_role), "[client%d]", i);
			usleep(300000); /* the server first, for a tidy log */
			_exit(run_client(i));
		}
	}
	for (i = 0; i <= DEMO_CLIENTS; i++) {
		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			fail = 1;
	}
	snprintf(demo_role, sizeof(demo_role), "[demo]");
	say("%s", fail ? "something went wrong" : "all processes ended cleanly");
	return fail;
}
