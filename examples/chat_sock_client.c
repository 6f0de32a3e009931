/* examples/chat_sock_client.c: chat over plain coroutine sockets (client; no
 * disasyncoro).
 *
 * `chat_sock_client [host] [port]` (default 127.0.0.1, port 1234) connects
 * to chat_sock_server, prints every frame it receives (4-byte big-endian
 * length + UTF-8 text) and sends each line typed as a frame. quit, exit or
 * the end of input closes its sending side; the server then says goodbye to
 * the others and closes the connection, and the client exits cleanly. When
 * the server goes away first, the client stops reading input and exits.
 */
#include "examples/example.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHAT_PORT 1234
#define CHAT_FRAME_MAX 65536
#define CHAT_CONNECT_MS 10000
#define CHAT_SEND_MS 5000
#define CHAT_BYE_MS 5000

typedef struct chat_sock_client {
	ex_env *env;
	ac_sock *sock;
	ac_ref sender;
	/* We closed our sending side: the end of stream is expected. */
	int closing;
} chat_sock_client;

static void chat_sock_client_free(void *arg)
{
	chat_sock_client *c = arg;
	if (c->sock)
		ac_sock_close(c->sock);
	free(c);
}

static void chat_sock_receiver(void *arg)
{
	chat_sock_client *c = arg;
	void *buf;
	size_t len;
	int rc;
	while ((rc = ac_sock_recv_msg(c->sock, &buf, &len, CHAT_FRAME_MAX,
	                              AC_FOREVER)) == 1) {
		ex_printf(c->env, "%.*s", (int)len, (const char *)buf);
		free(buf);
	}
	if (c->closing)
		return;
	ac_log(c->env->sched, AC_LOG_WARN, "the server closed the connection%s%s",
	       rc < 0 ? ": " : "", rc < 0 ? ac_strerror(rc) : "");
	c->env->status = 1;
	ac_terminate(c->sender); /* stop waiting for input */
}

static void chat_sock_sender(void *arg)
{
	chat_sock_client *c = arg;
	ex_env *env = c->env;
	ac_spawn_opts so = {.name = "client_recv"};
	char line[EX_LINE_MAX], where[AC_ADDR_STRLEN];
	ac_ref recv;
	ac_addr addr;
	int rc = ex_server_addr(env, CHAT_PORT, &addr);
	if (rc == 0)
		rc = ac_sock_connect(&addr, CHAT_CONNECT_MS, &c->sock);
	if (rc < 0) {
		ac_log(env->sched, AC_LOG_ERROR, "cannot connect to %s: %s",
		       ac_addr_format(&addr, where, sizeof(where)), ac_strerror(rc));
		env->status = 1;
		return;
	}
	rc = ac_spawn(NULL, chat_sock_receiver, c, &so, &recv);
	if (rc < 0)
		recv = ac_ref_null();
	while (rc == 0 && (rc = ex_read_line(env, line, sizeof(line))) > 0) {
		if (ex_is_quit(line))
			break;
		if (!*ex_strip(line))
			continue;
		rc = ac_sock_send_msg(c->sock, line, strlen(line), CHAT_SEND_MS);
	}
	if (rc < 0)
		ac_log(env->sched, AC_LOG_WARN, "%s", ac_strerror(rc));
	/* Close our side; the server closes its side once it has told the
	 * others, which ends the receiver. */
	c->closing = 1;
	ac_sock_shutdown(c->sock);
	if (!ac_ref_is_null(recv) && ac_finish(recv, CHAT_BYE_MS, NULL) == -ETIMEDOUT)
		ac_terminate(recv);
}

int chat_sock_client_main(ex_env *env)
{
	ac_spawn_opts so = {.name = "sender"};
	chat_sock_client *c = calloc(1, sizeof(*c));
	if (!c || ac_sched_atexit(env->sched, chat_sock_client_free, c) < 0) {
		free(c);
		return -ENOMEM;
	}
	c->env = env;
	return ac_spawn(env->sched, chat_sock_sender, c, &so, &c->sender);
}

const ex_prog chat_sock_client_prog = {
	.name = "chat_sock_client",
	.summary = "Chat client of chat_sock_server over plain TCP: prints what the server\n"
	           "sends and sends each line you type. quit, exit or the end of input leave.\n"
	           "host defaults to 127.0.0.1 and port to 1234.",
	.args = "[host] [port]",
	.max_args = 2,
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &chat_sock_client_prog, chat_sock_client_main);
}
#endif
