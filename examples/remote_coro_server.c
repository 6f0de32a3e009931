/* examples/remote_coro_server.c: message passing with a secret (server).
 *
 * A daemon coroutine registers as "server_coro" and prints `Received <msg>`
 * for each message, until the user types quit (or the input ends). Only
 * nodes with the same secret (default "key") become peers, so only a
 * remote_coro_client with that secret can find it and send to it.
 *
 *     remote_coro_server [--secret TEXT] [--udp-port PORT]
 */
#include "examples/example.h"

static void remote_coro_receiver(void *arg)
{
	ex_env *env = arg;
	ac_msg *m;
	int rc = ac_register("server_coro");
	if (rc < 0) {
		ac_log(env->sched, AC_LOG_ERROR, "register server_coro: %s",
		       ac_strerror(rc));
		env->status = 1;
		return;
	}
	while (ac_receive(AC_FOREVER, &m) == 0) {
		if (ac_msg_kind(m) == AC_MSG_DATA)
			ex_printf(env, "Received %.*s", (int)ac_msg_len(m),
			          (const char *)ac_msg_data(m));
		ac_msg_free(m);
	}
}

int remote_coro_server_main(ex_env *env)
{
	ac_spawn_opts so = {.name = "receiver", .daemon = 1};
	int rc = ex_node_start(env);
	if (rc == 0)
		rc = ac_spawn(env->sched, remote_coro_receiver, env, &so, NULL);
	if (rc == 0)
		rc = ex_spawn_console(env);
	return rc;
}

const ex_prog remote_coro_server_prog = {
	.name = "remote_coro_server",
	.summary = "Registers a coroutine as \"server_coro\" and prints `Received <msg>` for\n"
	           "each message (from remote_coro_client with the same secret), until you\n"
	           "type quit or the input ends.",
	.node = 1,
	.def_secret = "key",
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &remote_coro_server_prog, remote_coro_server_main);
}
#endif
