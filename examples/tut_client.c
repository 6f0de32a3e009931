/* examples/tut_client.c: the tutorial's client — one-to-one messages.
 *
 * Ten coroutines each locate "server_coro" (without a timeout: they wait
 * until the server's node is discovered, so the client may start first) and
 * send it three messages "<n>: <i> / <x>": n counts 1..30 in sending order,
 * i is the coroutine (0..9), x is 0, 1, 2. The program ends when the ten are
 * done; its node then says goodbye to the server's.
 *
 *     tut_client [--udp-port PORT] [--host HOST]
 */
#include "examples/example.h"

#include <errno.h>
#include <stdlib.h>

#define TUT_COROS 10
#define TUT_MSGS 3

typedef struct tut_client {
	ex_env *env;
	/* Messages sent so far (all coroutines). */
	int sent;
	/* Each coroutine's argument: its index and the shared state. */
	struct tut_arg {
		struct tut_client *state;
		int i;
	} args[TUT_COROS];
} tut_client;

static void tut_client_proc(void *arg)
{
	struct tut_arg *a = arg;
	tut_client *t = a->state;
	ac_ref server;
	int x, rc = ac_locate("server_coro", NULL, AC_FOREVER, &server);
	if (rc < 0) {
		ac_log(t->env->sched, AC_LOG_ERROR, "locate server_coro: %s",
		       ac_strerror(rc));
		t->env->status = 1;
		return;
	}
	for (x = 0; x < TUT_MSGS; x++) {
		ac_msg *m = ac_msg_printf("%d: %d / %d", ++t->sent, a->i, x);
		rc = m ? ac_send(server, m) : -ENOMEM;
		if (rc < 0) {
			ac_msg_free(m);
			ac_log(t->env->sched, AC_LOG_ERROR, "send: %s", ac_strerror(rc));
			t->env->status = 1;
			return;
		}
	}
}

int tut_client_main(ex_env *env)
{
	tut_client *t;
	int i, rc = ex_node_start(env);
	if (rc < 0)
		return rc;
	t = ex_keep(env, calloc(1, sizeof(*t)));
	if (!t)
		return -ENOMEM;
	t->env = env;
	for (i = 0; i < TUT_COROS && rc == 0; i++) {
		ac_spawn_opts so = {.name = "client_proc"};
		t->args[i].state = t;
		t->args[i].i = i;
		rc = ac_spawn(env->sched, tut_client_proc, &t->args[i], &so, NULL);
	}
	return rc;
}

const ex_prog tut_client_prog = {
	.name = "tut_client",
	.summary = "Ten coroutines locate \"server_coro\" (tut_server), waiting for it to be\n"
	           "discovered, and send it three messages \"<n>: <i> / <x>\" each.",
	.node = 1,
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &tut_client_prog, tut_client_main);
}
#endif
