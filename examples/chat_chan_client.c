/* examples/chat_chan_client.c: chat over a channel with a transform (client).
 *
 * Locates "chat_server" (chat_chan_server), joins (["join", own ref]) and
 * receives its id, locates "chat_channel" at the server's location and
 * subscribes a receiver that prints `    <id> <text>` for messages of other
 * clients only. Each line typed is sent to the channel as [line, id]; quit,
 * exit or the end of input sends ["quit", id] to the server and ends.
 *
 *     chat_chan_client [--udp-port PORT]
 */
#include "examples/example.h"

#include <errno.h>
#include <stdlib.h>

#define CHAT_TEXT_MAX 1024

typedef struct chat_client {
	ex_env *env;
	int64_t id;
} chat_client;

static void chat_client_receiver(void *arg)
{
	chat_client *c = arg;
	char text[CHAT_TEXT_MAX + 16];
	int64_t who;
	ac_msg *m;
	while (ac_receive(AC_FOREVER, &m) == 0) {
		if (ac_msg_unpack(m, "[s i]", text, sizeof(text), &who) == 0 &&
		    who != c->id)
			ex_printf(c->env, "    %lld %s", (long long)who, text);
		ac_msg_free(m);
	}
}

/* Send m to to; logs and frees m on failure. */
static int chat_client_send(ex_env *env, ac_ref to, ac_msg *m, int chan)
{
	int rc = !m ? -ENOMEM : chan ? ac_chan_send(to, m) : ac_send(to, m);
	if (rc < 0) {
		ac_msg_free(m);
		ac_log(env->sched, AC_LOG_ERROR, "send: %s", ac_strerror(rc));
	}
	return rc;
}

/* Join: locate the server, get an id, locate the channel, subscribe the
 * receiver. Returns 0 or a negative errno. */
static int chat_client_join(chat_client *c, ac_ref *server, ac_ref *chan,
                            ac_ref *recv)
{
	ac_spawn_opts so = {.name = "receiver", .daemon = 1};
	ac_msg *m;
	int rc = ac_locate("chat_server", NULL, AC_FOREVER, server);
	if (rc < 0)
		return rc;
	rc = chat_client_send(c->env, *server, ac_msg_pack("[s r]", "join", ac_self()), 0);
	while (rc == 0 && (rc = ac_receive(AC_FOREVER, &m)) == 0) {
		int ok = ac_msg_unpack(m, "i", &c->id) == 0;
		ac_msg_free(m);
		if (ok)
			break;
	}
	if (rc == 0)
		rc = ac_chan_locate("chat_channel", &server->loc, AC_FOREVER, chan);
	if (rc == 0)
		rc = ac_spawn(NULL, chat_client_receiver, c, &so, recv);
	if (rc == 0)
		rc = ac_chan_subscribe(*chan, *recv, AC_FOREVER);
	if (rc == 0)
		ac_log(c->env->sched, AC_LOG_INFO, "joined the chat as %lld",
		       (long long)c->id);
	return rc;
}

static void chat_client_sender(void *arg)
{
	chat_client *c = arg;
	ex_env *env = c->env;
	char line[CHAT_TEXT_MAX];
	ac_ref server, chan, recv;
	int rc = chat_client_join(c, &server, &chan, &recv);
	if (rc < 0) {
		ac_log(env->sched, AC_LOG_ERROR, "cannot join the chat: %s",
		       ac_strerror(rc));
		env->status = 1;
		return;
	}
	while ((rc = ex_read_line(env, line, sizeof(line))) > 0) {
		if (ex_is_quit(line))
			break;
		if (!*ex_strip(line))
			continue;
		chat_client_send(env, chan, ac_msg_pack("[s i]", line, c->id), 1);
	}
	if (rc < 0)
		ac_log(env->sched, AC_LOG_WARN, "reading input: %s", ac_strerror(rc));
	chat_client_send(env, server, ac_msg_pack("[s i]", "quit", c->id), 0);
	ac_chan_unsubscribe(chan, recv, 5000);
}

int chat_chan_client_main(ex_env *env)
{
	ac_spawn_opts so = {.name = "sender"};
	chat_client *c;
	int rc = ex_node_start(env);
	if (rc < 0)
		return rc;
	c = ex_keep(env, calloc(1, sizeof(*c)));
	if (!c)
		return -ENOMEM;
	c->env = env;
	return ac_spawn(env->sched, chat_client_sender, c, &so, NULL);
}

const ex_prog chat_chan_client_prog = {
	.name = "chat_chan_client",
	.summary = "Chat client of chat_chan_server: each line you type goes to the other\n"
	           "clients; their lines are shown indented. quit, exit or the end of input\n"
	           "leaves the chat.",
	.node = 1,
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &chat_chan_client_prog, chat_chan_client_main);
}
#endif
