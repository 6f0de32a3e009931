/* examples/remote_channel_server.c: a channel with local and remote
 * subscribers (server).
 *
 * Creates the channel "2clients" and registers it so that clients can
 * locate it. A daemon receiver coroutine sleeps (--delay, default 10 s:
 * meanwhile a client's deliver(n=2) waits for this second subscriber), then
 * subscribes and prints `Received "<text>" from <sender name> at <sender
 * location>` for each message {text, sender ref, name}. The nil end marker
 * closes one client's run; the receiver stays subscribed for the next one.
 * The program runs until the user types quit (or the input ends).
 *
 *     remote_channel_server [--delay SECONDS] [--udp-port PORT]
 */
#include "examples/example.h"

#include <errno.h>
#include <stdlib.h>

typedef struct rchan_server {
	ex_env *env;
	ac_ref chan;
} rchan_server;

/* Print one channel message; 0 for the end marker, 1 otherwise. */
static int rchan_show(ex_env *env, const ac_msg *m)
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

static void rchan_server_receiver(void *arg)
{
	rchan_server *r = arg;
	ex_env *env = r->env;
	double delay = ex_opt_num(env, "delay");
	ac_msg *m;
	int rc;
	if (delay > 0)
		ac_sleep((int64_t)(delay * 1000));
	rc = ac_chan_subscribe(r->chan, ac_self(), AC_FOREVER);
	if (rc < 0) {
		ac_log(env->sched, AC_LOG_ERROR, "subscribe: %s", ac_strerror(rc));
		env->status = 1;
		return;
	}
	while (ac_receive(AC_FOREVER, &m) == 0) {
		if (ac_msg_kind(m) == AC_MSG_DATA && !rchan_show(env, m))
			ac_log(env->sched, AC_LOG_INFO, "end of a client's messages");
		ac_msg_free(m);
	}
}

/* Register the channel (from a coroutine of the node), start the receiver. */
static void rchan_server_setup(void *arg)
{
	rchan_server *r = arg;
	ac_spawn_opts so = {.name = "receiver", .daemon = 1};
	int rc = ac_chan_register(r->chan, "2clients");
	if (rc == 0)
		rc = ac_spawn(NULL, rchan_server_receiver, r, &so, NULL);
	if (rc < 0) {
		ac_log(r->env->sched, AC_LOG_ERROR, "register 2clients: %s",
		       ac_strerror(rc));
		r->env->status = 1;
	}
}

int remote_channel_server_main(ex_env *env)
{
	ac_spawn_opts so = {.name = "setup", .daemon = 1};
	rchan_server *r;
	int rc = ex_node_start(env);
	if (rc < 0)
		return rc;
	r = ex_keep(env, calloc(1, sizeof(*r)));
	if (!r)
		return -ENOMEM;
	r->env = env;
	rc = ac_chan_new(env->sched, "2clients", &r->chan);
	if (rc == 0)
		rc = ac_spawn(env->sched, rchan_server_setup, r, &so, NULL);
	if (rc == 0)
		rc = ex_spawn_console(env);
	return rc;
}

static const ex_opt remote_channel_server_opts[] = {
	{"delay", "SECONDS", "10", "wait this long before the receiver subscribes"},
	{NULL, NULL, NULL, NULL},
};

const ex_prog remote_channel_server_prog = {
	.name = "remote_channel_server",
	.summary = "Registers the channel \"2clients\"; after a delay its receiver subscribes\n"
	           "and prints the messages that remote_channel_client delivers to it, until\n"
	           "you type quit or the input ends.",
	.node = 1,
	.opts = remote_channel_server_opts,
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &remote_channel_server_prog, remote_channel_server_main);
}
#endif
