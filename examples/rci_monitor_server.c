/* examples/rci_monitor_server.c: remote coroutine invocation plus monitoring
 * (server).
 *
 * Node name "server", secret "test". Registers the RCI "rci_1" taking
 * [a, b]: each invocation logs `running rci_1/<id> with <a>, <b>` and waits
 * for one message; if b is even it sleeps b seconds and returns that message
 * (its value reaches the caller's monitor), if b is odd it fails with
 * `invalid invocation: <b>`. Runs until the user types quit (or the input
 * ends).
 *
 *     rci_monitor_server [--udp-port PORT]
 */
#include "examples/example.h"

#include <inttypes.h>

/* ac_coro_defer hook: free a message the coroutine still held. */
static void rci_free_held(void *arg)
{
	ac_msg_free(*(ac_msg **)arg);
}

static void rci_1(ac_msg *args)
{
	ac_sched *s = ac_sched_self();
	ac_ref self = ac_self();
	char a[128];
	int64_t b;
	ac_msg *m, *held;
	int rc = ac_msg_unpack(args, "[s i]", a, sizeof(a), &b);
	ac_msg_free(args);
	if (rc < 0)
		ac_fail("invalid arguments: %s", ac_strerror(rc));
	ac_log(s, AC_LOG_INFO, "running rci_1/%" PRIu32 ".%" PRIu32 " with %s, %" PRId64,
	       (uint32_t)self.id, (uint32_t)(self.id >> 32), a, b);
	while ((rc = ac_receive(AC_FOREVER, &m)) == 0 && ac_msg_kind(m) != AC_MSG_DATA)
		ac_msg_free(m);
	if (rc < 0)
		ac_fail("receive: %s", ac_strerror(rc));
	if (b % 2 != 0) {
		ac_msg_free(m);
		ac_fail("invalid invocation: %" PRId64, b);
	}
	/* Terminated while sleeping (or its node stopped): free the message. */
	held = m;
	ac_coro_defer(rci_free_held, &held);
	ac_sleep(b * 1000);
	ac_log(s, AC_LOG_INFO, "rci_1/%" PRIu32 ".%" PRIu32 " done", (uint32_t)self.id,
	       (uint32_t)(self.id >> 32));
	held = NULL;
	ac_return(m);
}

/* Register the RCI (from a coroutine of the node). */
static void rci_server_setup(void *arg)
{
	ex_env *env = arg;
	ac_ref rci;
	int rc = ac_rci_new(env->sched, "rci_1", rci_1, &rci);
	if (rc == 0)
		rc = ac_rci_register(rci);
	if (rc < 0) {
		ac_log(env->sched, AC_LOG_ERROR, "rci_1: %s", ac_strerror(rc));
		env->status = 1;
	}
}

int rci_monitor_server_main(ex_env *env)
{
	ac_spawn_opts so = {.name = "setup", .daemon = 1};
	int rc = ex_node_start(env);
	if (rc == 0)
		rc = ac_spawn(env->sched, rci_server_setup, env, &so, NULL);
	if (rc == 0)
		rc = ex_spawn_console(env);
	return rc;
}

const ex_prog rci_monitor_server_prog = {
	.name = "rci_monitor_server",
	.summary = "Registers the RCI \"rci_1\" that rci_monitor_client invokes: an even b\n"
	           "returns the message it gets after b seconds, an odd b fails. Runs until\n"
	           "you type quit or the input ends.",
	.node = 1,
	.def_name = "server",
	.def_secret = "test",
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &rci_monitor_server_prog, rci_monitor_server_main);
}
#endif
