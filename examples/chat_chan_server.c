/* examples/chat_chan_server.c: chat over a channel with a transform (server).
 *
 * The channel "chat_channel" carries [text, client id] messages through a
 * transform: all-uppercase text (shouting) is dropped, "joined" becomes
 * "joined :-)", "bye" becomes "left :-(", anything else "says: <text>". A
 * daemon coroutine registered as "chat_server" serves the clients:
 *   ["join", client ref]  announce ["joined", new id] on the channel, then
 *                         send the new id (1, 2, ...) to the client;
 *   ["quit", id]          announce ["bye", id];
 *   ["terminate"]         end.
 * The program runs until the user types quit (or the input ends); then it
 * terminates the chat server and waits for it.
 *
 *     chat_chan_server [--udp-port PORT]
 */
#include "examples/example.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAT_TEXT_MAX 1024

typedef struct chat_server {
	ex_env *env;
	ac_ref chan;
	ac_ref server;
} chat_server;

/* Python's str.isupper: at least one cased letter and no lowercase one. */
static int chat_is_upper(const char *s)
{
	int cased = 0;
	for (; *s; s++) {
		if (islower((unsigned char)*s))
			return 0;
		if (isupper((unsigned char)*s))
			cased = 1;
	}
	return cased;
}

static ac_msg *chat_transform(ac_msg *m, void *arg)
{
	char text[CHAT_TEXT_MAX], out[CHAT_TEXT_MAX + 8];
	int64_t id;
	ac_msg *t;
	(void)arg;
	if (ac_msg_unpack(m, "[s i]", text, sizeof(text), &id) < 0 ||
	    chat_is_upper(text)) {
		ac_msg_free(m);
		return NULL;
	}
	if (strcmp(text, "joined") == 0)
		snprintf(out, sizeof(out), "joined :-)");
	else if (strcmp(text, "bye") == 0)
		snprintf(out, sizeof(out), "left :-(");
	else
		snprintf(out, sizeof(out), "says: %s", text);
	t = ac_msg_pack("[s i]", out, id);
	ac_msg_free(m);
	return t;
}

static void chat_announce(chat_server *c, const char *what, int64_t id)
{
	ac_msg *m = ac_msg_pack("[s i]", what, id);
	if (!m || ac_chan_send(c->chan, m) < 0) {
		ac_msg_free(m);
		ac_log(c->env->sched, AC_LOG_WARN, "could not announce %s", what);
	}
}

static void chat_server_proc(void *arg)
{
	chat_server *c = arg;
	ac_sched *s = c->env->sched;
	int64_t next_id = 1, id;
	char cmd[16];
	ac_ref who;
	ac_msg *m;
	if (ac_chan_register(c->chan, "chat_channel") < 0 ||
	    ac_register("chat_server") < 0) {
		ac_log(s, AC_LOG_ERROR, "cannot register chat_channel/chat_server");
		c->env->status = 1;
		return;
	}
	while (ac_receive(AC_FOREVER, &m) == 0) {
		if (ac_msg_unpack(m, "[s r]", cmd, sizeof(cmd), &who) == 0 &&
		    strcmp(cmd, "join") == 0) {
			ac_msg *r = ac_msg_pack("i", next_id);
			chat_announce(c, "joined", next_id);
			if (!r || ac_send(who, r) < 0) {
				ac_msg_free(r);
				ac_log(s, AC_LOG_WARN, "client %lld unreachable",
				       (long long)next_id);
			}
			next_id++;
		} else if (ac_msg_unpack(m, "[s i]", cmd, sizeof(cmd), &id) == 0 &&
		           strcmp(cmd, "quit") == 0) {
			chat_announce(c, "bye", id);
		} else if (ac_msg_unpack(m, "[s]", cmd, sizeof(cmd)) == 0 &&
		           strcmp(cmd, "terminate") == 0) {
			ac_msg_free(m);
			break;
		} else {
			ac_log(s, AC_LOG_WARN, "ignoring an unknown request");
		}
		ac_msg_free(m);
	}
	ac_chan_unregister(c->chan, "chat_channel");
	ac_unregister("chat_server");
}

/* The console: at quit (or the end of input), terminate the chat server. */
static void chat_server_console(void *arg)
{
	chat_server *c = arg;
	ac_msg *m;
	int rc = ex_wait_quit(c->env);
	if (rc < 0)
		ac_log(c->env->sched, AC_LOG_WARN, "reading input: %s", ac_strerror(rc));
	m = ac_msg_pack("[s]", "terminate");
	if (m && ac_send(c->server, m) == 0)
		ac_finish(c->server, 5000, NULL);
	else
		ac_msg_free(m);
}

int chat_chan_server_main(ex_env *env)
{
	ac_spawn_opts so = {.name = "chat_server", .daemon = 1};
	chat_server *c;
	int rc = ex_node_start(env);
	if (rc < 0)
		return rc;
	c = ex_keep(env, calloc(1, sizeof(*c)));
	if (!c)
		return -ENOMEM;
	c->env = env;
	rc = ac_chan_new(env->sched, "chat_channel", &c->chan);
	if (rc == 0)
		rc = ac_chan_set_transform(c->chan, chat_transform, NULL);
	if (rc == 0)
		rc = ac_spawn(env->sched, chat_server_proc, c, &so, &c->server);
	so.name = "console";
	so.daemon = 0;
	if (rc == 0)
		rc = ac_spawn(env->sched, chat_server_console, c, &so, NULL);
	return rc;
}

const ex_prog chat_chan_server_prog = {
	.name = "chat_chan_server",
	.summary = "Chat server: registers the channel \"chat_channel\" (with a transform that\n"
	           "drops shouting and decorates messages) and the coroutine \"chat_server\"\n"
	           "that gives chat_chan_client ids; runs until you type quit.",
	.node = 1,
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &chat_chan_server_prog, chat_chan_server_main);
}
#endif
