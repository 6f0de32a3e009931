/* examples/rci_monitor_client.c: remote coroutine invocation plus monitoring
 * (client).
 *
 * Node name "client", secret "test". Locates the RCI "rci_1" anywhere
 * (prints `RCI is at <location>`), then locates the node "server" and
 * "rci_1" there (prints the same). For x = 0..4 it calls rci_1("test<x>",
 * x), makes a monitor coroutine monitor the new remote coroutine, sends it
 * "msg:<x>" and sleeps a random 0-1 s. The monitor prints `RCI <ref>
 * finished with: <value>` or `RCI <ref> failed with: <error>` for each exit
 * message and stops after the fifth; then the client exits.
 *
 *     rci_monitor_client [--udp-port PORT]
 */
#include "examples/example.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define RCI_CALLS 5

typedef struct rci_client {
	ex_env *env;
	ac_ref monitor;
} rci_client;

static void rci_client_monitor(void *arg)
{
	static const char *const how[] = {"finished with", "failed with",
	                                  "failed with", "failed with"};
	rci_client *c = arg;
	char ref[96];
	int done = 0;
	while (done < RCI_CALLS) {
		ac_exit_info ei;
		ac_msg *m;
		if (ac_receive(AC_FOREVER, &m) < 0)
			break;
		if (ac_msg_exit(m, &ei) < 0) {
			ac_log(c->env->sched, AC_LOG_WARN, "ignoring invalid message");
			ac_msg_free(m);
			continue;
		}
		ac_ref_format(ei.coro, ref, sizeof(ref));
		if (ei.how == AC_EXIT_TERMINATED || ei.how == AC_EXIT_NODE_LOST)
			ex_printf(c->env, "RCI %s failed with: %s", ref,
			          ei.how == AC_EXIT_TERMINATED ? "terminated" : "node lost");
		else
			ex_printf(c->env, "RCI %s %s: %.*s", ref, how[ei.how & 3],
			          (int)ei.len, (const char *)ei.data);
		ac_msg_free(m);
		done++;
	}
}

/* Locate rci_1 anywhere, then at the node "server"; prints both. */
static int rci_client_locate(ex_env *env, ac_ref *rci)
{
	char where[AC_ADDR_STRLEN];
	ac_addr loc;
	int rc = ac_rci_locate("rci_1", NULL, AC_FOREVER, rci);
	if (rc < 0)
		return rc;
	ex_printf(env, "RCI is at %s", ac_addr_format(&rci->loc, where, sizeof(where)));
	rc = ac_node_locate(env->node, "server", AC_FOREVER, &loc);
	if (rc == 0)
		rc = ac_rci_locate("rci_1", &loc, AC_FOREVER, rci);
	if (rc == 0)
		ex_printf(env, "RCI is at %s",
		          ac_addr_format(&rci->loc, where, sizeof(where)));
	return rc;
}

/* One invocation: call, monitor, send the message. */
static int rci_client_call(rci_client *c, ac_ref rci, int x)
{
	char a[16];
	ac_ref coro;
	ac_msg *m;
	int rc;
	snprintf(a, sizeof(a), "test%d", x);
	m = ac_msg_pack("[s i]", a, (int64_t)x);
	rc = m ? ac_rci_call(rci, m, 10000, &coro) : -ENOMEM;
	if (rc < 0) {
		ac_msg_free(m);
		return rc;
	}
	rc = ac_monitor_ref(c->monitor, coro);
	if (rc < 0)
		return rc;
	return ac_send_data(coro, a, (size_t)snprintf(a, sizeof(a), "msg:%d", x));
}

static void rci_client_test(void *arg)
{
	rci_client *c = arg;
	ex_env *env = c->env;
	ac_spawn_opts so = {.name = "monitor_proc"};
	ac_ref rci;
	int x, rc = rci_client_locate(env, &rci);
	if (rc == 0)
		rc = ac_spawn(NULL, rci_client_monitor, c, &so, &c->monitor);
	for (x = 0; x < RCI_CALLS && rc == 0; x++) {
		rc = rci_client_call(c, rci, x);
		if (rc == 0)
			ac_sleep((int64_t)(ex_random(env) * 1000));
	}
	if (rc < 0) {
		ac_log(env->sched, AC_LOG_ERROR, "rci_1: %s", ac_strerror(rc));
		env->status = 1;
		if (!ac_ref_is_null(c->monitor))
			ac_terminate(c->monitor);
	}
}

int rci_monitor_client_main(ex_env *env)
{
	ac_spawn_opts so = {.name = "rci_test"};
	rci_client *c;
	int rc = ex_node_start(env);
	if (rc < 0)
		return rc;
	c = ex_keep(env, calloc(1, sizeof(*c)));
	if (!c)
		return -ENOMEM;
	c->env = env;
	return ac_spawn(env->sched, rci_client_test, c, &so, NULL);
}

const ex_prog rci_monitor_client_prog = {
	.name = "rci_monitor_client",
	.summary = "Invokes the RCI \"rci_1\" of rci_monitor_server five times and monitors\n"
	           "the remote coroutines: three finish with a value, two fail.",
	.node = 1,
	.def_name = "client",
	.def_secret = "test",
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &rci_monitor_client_prog, rci_monitor_client_main);
}
#endif
