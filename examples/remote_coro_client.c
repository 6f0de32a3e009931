/* examples/remote_coro_client.c: message passing with a secret (client).
 *
 * Locates "server_coro" (remote_coro_server), prints `server is at
 * <location>` and sends it "message 0" .. "message 9". The nodes become
 * peers only when their secrets match (default "key"); otherwise the locate
 * times out (--timeout, default 10 s) with an error and exit status 1.
 *
 *     remote_coro_client [--secret TEXT] [--udp-port PORT] [--timeout SECONDS]
 */
#include "examples/example.h"

#include <errno.h>

static void remote_coro_sender(void *arg)
{
	ex_env *env = arg;
	char where[AC_ADDR_STRLEN];
	double secs = ex_opt_num(env, "timeout");
	int64_t timeout_ms = secs > 0 ? (int64_t)(secs * 1000) : AC_FOREVER;
	ac_ref server;
	int x, rc = ac_locate("server_coro", NULL, timeout_ms, &server);
	if (rc < 0) {
		ac_log(env->sched, AC_LOG_ERROR,
		       "could not locate \"server_coro\": %s%s", ac_strerror(rc),
		       rc == -ETIMEDOUT ? " (no peer with our secret runs it; is the"
		                          " server up, with the same secret?)"
		                        : "");
		env->status = 1;
		return;
	}
	ex_printf(env, "server is at %s",
	          ac_addr_format(&server.loc, where, sizeof(where)));
	for (x = 0; x < 10; x++) {
		ac_msg *m = ac_msg_printf("message %d", x);
		rc = m ? ac_send(server, m) : -ENOMEM;
		if (rc < 0) {
			ac_msg_free(m);
			ac_log(env->sched, AC_LOG_ERROR, "send: %s", ac_strerror(rc));
			env->status = 1;
			return;
		}
	}
}

int remote_coro_client_main(ex_env *env)
{
	ac_spawn_opts so = {.name = "sender"};
	int rc = ex_node_start(env);
	if (rc == 0)
		rc = ac_spawn(env->sched, remote_coro_sender, env, &so, NULL);
	return rc;
}

static const ex_opt remote_coro_client_opts[] = {
	{"timeout", "SECONDS", "10", "give up locating the server after this (0: never)"},
	{NULL, NULL, NULL, NULL},
};

const ex_prog remote_coro_client_prog = {
	.name = "remote_coro_client",
	.summary = "Locates \"server_coro\" (remote_coro_server with the same secret) and sends\n"
	           "it \"message 0\" .. \"message 9\".",
	.node = 1,
	.def_secret = "key",
	.opts = remote_coro_client_opts,
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &remote_coro_client_prog, remote_coro_client_main);
}
#endif
