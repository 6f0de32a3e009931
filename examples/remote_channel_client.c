/* examples/remote_channel_client.c: a channel with local and remote
 * subscribers (client).
 *
 * Locates the channel "2clients" (remote_channel_server), prints `server is
 * at <location>` and subscribes its receiver. A sender coroutine then
 * delivers ten messages {text: "message x", sender: its own ref, name: its
 * name} with n = 2 (so the first waits until the server's receiver has
 * subscribed too) and prints `delivered to: <n>` for each, then sends the
 * end marker (nil). The receiver prints `Received "<text>" from <sender
 * name> at <sender location>` for each message, the location taken from the
 * ref that travelled inside the message, and stops at the marker.
 *
 *     remote_channel_client [--udp-port PORT]
 */
#include "examples/example.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define RCHAN_MSGS 10

typedef struct rchan_client {
	ex_env *env;
	ac_ref chan;
} rchan_client;

static void rchan_client_sender(void *arg)
{
	rchan_client *r = arg;
	ex_env *env = r->env;
	ac_msg *m;
	int x, n;
	for (x = 0; x < RCHAN_MSGS; x++) {
		char text[32];
		snprintf(text, sizeof(text), "message %d", x);
		m = ac_msg_pack("{s s s r s s}", "text", text, "sender", ac_self(),
		                "name", ac_self_name());
		n = m ? ac_chan_deliver(r->chan, m, AC_FOREVER, 2) : -ENOMEM;
		if (n < 0) {
			ac_msg_free(m);
			ac_log(env->sched, AC_LOG_ERROR, "deliver: %s", ac_strerror(n));
			env->status = 1;
			break;
		}
		ex_printf(env, "delivered to: %d", n);
	}
	m = ac_msg_pack("n");
	if (!m || ac_chan_send(r->chan, m) < 0) {
		ac_msg_free(m);
		ac_log(env->sched, AC_LOG_ERROR, "could not send the end marker");
		env->status = 1;
	}
}

/* Print one channel message; 0 for the end marker, 1 otherwise. */
static int rchan_client_show(ex_env *env, const ac_msg *m)
{
	char text[256], name[64], where[AC_ADDR_STRLEN];
	ac_ref sender;
	if (ac_msg_unpack(m, "n") == 0)
		return 0;
	if (ac_msg_unpack(m, "{* s * r * s}", text, sizeof(text), &sender, name,
	                  sizeof(name)) < 0) {
		ac_log(env->sched, AC_LOG_WARN, "ignoring a malformed message");
		return 1;
	}
	ex_printf(env, "Received \"%s\" from %s at %s", text, name,
	          ac_addr_format(&sender.loc, where, sizeof(where)));
	return 1;
}

static void rchan_client_receiver(void *arg)
{
	rchan_client *r = arg;
	ex_env *env = r->env;
	ac_spawn_opts so = {.name = "sender"};
	char where[AC_ADDR_STRLEN];
	ac_msg *m;
	int rc = ac_chan_locate("2clients", NULL, AC_FOREVER, &r->chan);
	if (rc == 0) {
		ex_printf(env, "server is at %s",
		          ac_addr_format(&r->chan.loc, where, sizeof(where)));
		rc = ac_chan_subscribe(r->chan, ac_self(), AC_FOREVER);
	}
	if (rc == 0)
		rc = ac_spawn(NULL, rchan_client_sender, r, &so, NULL);
	if (rc < 0) {
		ac_log(env->sched, AC_LOG_ERROR, "channel 2clients: %s",
		       ac_strerror(rc));
		env->status = 1;
		return;
	}
	while (ac_receive(AC_FOREVER, &m) == 0) {
		int more = ac_msg_kind(m) != AC_MSG_DATA || rchan_client_show(env, m);
		ac_msg_free(m);
		if (!more)
			break;
	}
	rc = ac_chan_unsubscribe(r->chan, ac_self(), 5000);
	if (rc < 0)
		ac_log(env->sched, AC_LOG_WARN, "unsubscribe: %s", ac_strerror(rc));
}

int remote_channel_client_main(ex_env *env)
{
	ac_spawn_opts so = {.name = "receiver"};
	rchan_client *r;
	int rc = ex_node_start(env);
	if (rc < 0)
		return rc;
	r = ex_keep(env, calloc(1, sizeof(*r)));
	if (!r)
		return -ENOMEM;
	r->env = env;
	return ac_spawn(env->sched, rchan_client_receiver, r, &so, NULL);
}

const ex_prog remote_channel_client_prog = {
	.name = "remote_channel_client",
	.summary = "Locates the channel \"2clients\" (remote_channel_server), subscribes a\n"
	           "receiver and delivers ten messages to the channel's two subscribers.",
	.node = 1,
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &remote_channel_client_prog, remote_channel_client_main);
}
#endif
