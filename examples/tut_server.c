/* examples/tut_server.c: the tutorial's server — one-to-one messages.
 *
 * A daemon coroutine registers as "server_coro" and prints
 * `processing <msg>` for every message it receives, until the user types
 * quit (or the input ends). Clients find it by name (tut_client); when a
 * client's node says goodbye the node logs that it left.
 *
 *     tut_server [--udp-port PORT] [--host HOST]     (then type quit)
 */
#include "examples/example.h"

#include <errno.h>

static void tut_server_proc(void *arg)
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
			ex_printf(env, "processing %.*s", (int)ac_msg_len(m),
			          (const char *)ac_msg_data(m));
		ac_msg_free(m);
	}
}

int tut_server_main(ex_env *env)
{
	ac_spawn_opts so = {.name = "server_proc", .daemon = 1};
	int rc = ex_node_start(env);
	if (rc == 0)
		rc = ac_spawn(env->sched, tut_server_proc, env, &so, NULL);
	if (rc == 0)
		rc = ex_spawn_console(env);
	return rc;
}

const ex_prog tut_server_prog = {
	.name = "tut_server",
	.summary = "Registers a coroutine as \"server_coro\" and prints `processing <msg>` for\n"
	           "each message it receives (from tut_client), until you type quit or the\n"
	           "input ends.",
	.node = 1,
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &tut_server_prog, tut_server_main);
}
#endif
