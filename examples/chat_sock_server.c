/* examples/chat_sock_server.c: chat over plain coroutine sockets (server; no
 * disasyncoro).
 *
 * `chat_sock_server [host] [port]` (default 127.0.0.1, port 1234) accepts
 * TCP clients. Frames are a 4-byte big-endian length and UTF-8 text
 * (ac_sock_send_msg / ac_sock_recv_msg). A new client gets `id: <n>` (n = 1,
 * 2, ...), the others get `<n> joined`; each frame a client sends reaches the
 * others as `<n> says: <text>`; when a client disconnects the others get
 * `<n> left`. One coroutine reads each client; a single server coroutine
 * does every write, so frames to a client never interleave. The program runs
 * until the user types quit (or the input ends).
 */
#include "examples/example.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAT_PORT 1234
#define CHAT_FRAME_MAX 65536
#define CHAT_SEND_MS 5000

typedef struct chat_conn {
	int64_t id;
	ac_sock *sock;
	/* Announced to the others (joined, not yet left). */
	int active;
} chat_conn;

typedef struct chat_sock_server {
	ex_env *env;
	ac_sock *listener;
	ac_ref server;
	/* Connections by id - 1 (NULL once gone). */
	chat_conn **conns;
	int64_t nconns;
	int64_t cap;
} chat_sock_server;

/* Free everything at the end of the run (coroutines are gone by then). */
static void chat_sock_server_free(void *arg)
{
	chat_sock_server *c = arg;
	int64_t i;
	for (i = 0; i < c->nconns; i++) {
		if (c->conns[i]) {
			ac_sock_close(c->conns[i]->sock);
			free(c->conns[i]);
		}
	}
	if (c->listener)
		ac_sock_close(c->listener);
	free(c->conns);
	free(c);
}

/* Send text to every active client but skip (0: none). */
static void chat_broadcast(chat_sock_server *c, int64_t skip, const char *text,
                           size_t len)
{
	int64_t i;
	for (i = 0; i < c->nconns; i++) {
		chat_conn *k = c->conns[i];
		if (k && k->active && k->id != skip)
			ac_sock_send_msg(k->sock, text, len, CHAT_SEND_MS);
	}
}

/* One request from a client's reader: joined, says or left. Frames are
 * built in messages (heap), not on the coroutine's stack. */
static void chat_server_handle(chat_sock_server *c, const char *cmd, int64_t id,
                               const char *text, size_t len)
{
	chat_conn *k = id >= 1 && id <= c->nconns ? c->conns[id - 1] : NULL;
	long long n = (long long)id;
	ac_msg *out = NULL;
	if (!k)
		return;
	if (strcmp(cmd, "joined") == 0) {
		out = ac_msg_printf("id: %lld", n);
		if (out)
			ac_sock_send_msg(k->sock, ac_msg_data(out), ac_msg_len(out),
			                 CHAT_SEND_MS);
		ac_msg_free(out);
		out = ac_msg_printf("%lld joined", n);
		k->active = 1;
	} else if (strcmp(cmd, "says") == 0) {
		out = ac_msg_printf("%lld says: %.*s", n, (int)len, text);
	} else if (strcmp(cmd, "left") == 0) {
		c->conns[id - 1] = NULL;
		ac_sock_close(k->sock);
		free(k);
		out = ac_msg_printf("%lld left", n);
		ac_log(c->env->sched, AC_LOG_INFO, "client %lld left", n);
	}
	if (out)
		chat_broadcast(c, id, ac_msg_data(out), ac_msg_len(out));
	ac_msg_free(out);
}

static void chat_server_proc(void *arg)
{
	chat_sock_server *c = arg;
	ac_msg *m;
	while (ac_receive(AC_FOREVER, &m) == 0) {
		char cmd[16];
		int64_t id;
		const void *text;
		size_t len;
		if (ac_msg_unpack(m, "[s i S]", cmd, sizeof(cmd), &id, &text, &len) == 0)
			chat_server_handle(c, cmd, id, text, len);
		ac_msg_free(m);
	}
}

/* Tell the server coroutine about a client. */
static void chat_tell(chat_sock_server *c, const char *cmd, int64_t id,
                      const void *text, size_t len)
{
	ac_msg *m = ac_msg_pack("[s i S]", cmd, id, text, len);
	if (!m || ac_send(c->server, m) < 0)
		ac_msg_free(m);
}

typedef struct chat_reader_arg {
	chat_sock_server *c;
	chat_conn *k;
} chat_reader_arg;

static void chat_client_proc(void *arg)
{
	chat_reader_arg a = *(chat_reader_arg *)arg;
	void *buf;
	size_t len;
	int rc;
	free(arg);
	chat_tell(a.c, "joined", a.k->id, NULL, 0);
	while ((rc = ac_sock_recv_msg(a.k->sock, &buf, &len, CHAT_FRAME_MAX,
	                              AC_FOREVER)) == 1) {
		chat_tell(a.c, "says", a.k->id, buf, len);
		free(buf);
	}
	if (rc < 0)
		ac_log(a.c->env->sched, AC_LOG_INFO, "client %lld: %s",
		       (long long)a.k->id, ac_strerror(rc));
	chat_tell(a.c, "left", a.k->id, NULL, 0);
}

/* Record a new connection and start its reader; 0 or a negative errno. */
static int chat_add(chat_sock_server *c, ac_sock *sock)
{
	ac_spawn_opts so = {.name = "client_proc", .daemon = 1};
	chat_reader_arg *a;
	chat_conn *k;
	if (c->nconns == c->cap) {
		int64_t cap = c->cap ? c->cap * 2 : 16;
		chat_conn **nc = realloc(c->conns, (size_t)cap * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		c->conns = nc;
		c->cap = cap;
	}
	k = calloc(1, sizeof(*k));
	a = malloc(sizeof(*a));
	if (!k || !a) {
		free(k);
		free(a);
		return -ENOMEM;
	}
	k->id = c->nconns + 1;
	k->sock = sock;
	a->c = c;
	a->k = k;
	if (ac_spawn(NULL, chat_client_proc, a, &so, NULL) < 0) {
		free(k);
		free(a);
		return -ENOMEM;
	}
	c->conns[c->nconns++] = k;
	return 0;
}

static void chat_acceptor(void *arg)
{
	chat_sock_server *c = arg;
	char who[AC_ADDR_STRLEN];
	for (;;) {
		ac_addr from;
		ac_sock *sock;
		int rc = ac_sock_accept(c->listener, AC_FOREVER, &sock);
		if (rc < 0) {
			ac_log(c->env->sched, AC_LOG_WARN, "accept: %s", ac_strerror(rc));
			if (rc == -ECANCELED || rc == -EBADF)
				return;
			ac_sleep(100);
			continue;
		}
		if (ac_sock_peer_addr(sock, &from) < 0)
			ac_addr_init(&from);
		if (chat_add(c, sock) < 0) {
			ac_sock_close(sock);
			continue;
		}
		ac_log(c->env->sched, AC_LOG_INFO, "client %lld joined from %s",
		       (long long)c->nconns, ac_addr_format(&from, who, sizeof(who)));
	}
}

int chat_sock_server_main(ex_env *env)
{
	ac_spawn_opts so = {.name = "server_proc", .daemon = 1};
	char where[AC_ADDR_STRLEN];
	chat_sock_server *c;
	ac_addr addr;
	int rc = ex_server_addr(env, CHAT_PORT, &addr);
	if (rc < 0) {
		ac_log(env->sched, AC_LOG_ERROR, "bad address: %s", ac_strerror(rc));
		return rc;
	}
	c = calloc(1, sizeof(*c));
	if (!c || ac_sched_atexit(env->sched, chat_sock_server_free, c) < 0) {
		free(c);
		return -ENOMEM;
	}
	c->env = env;
	rc = ac_sock_listen(env->sched, &addr, 128, 0, &c->listener);
	if (rc < 0) {
		ac_log(env->sched, AC_LOG_ERROR, "listen on %s: %s",
		       ac_addr_format(&addr, where, sizeof(where)), ac_strerror(rc));
		return rc;
	}
	ac_sock_local_addr(c->listener, &addr);
	ac_log(env->sched, AC_LOG_INFO, "server at %s",
	       ac_addr_format(&addr, where, sizeof(where)));
	rc = ac_spawn(env->sched, chat_server_proc, c, &so, &c->server);
	so.name = "acceptor";
	if (rc == 0)
		rc = ac_spawn(env->sched, chat_acceptor, c, &so, NULL);
	if (rc == 0)
		rc = ex_spawn_console(env);
	return rc;
}

const ex_prog chat_sock_server_prog = {
	.name = "chat_sock_server",
	.summary = "Chat server over plain TCP (no disasyncoro) for chat_sock_client: frames\n"
	           "are a 4-byte big-endian length and UTF-8 text. host defaults to\n"
	           "127.0.0.1 and port to 1234. Runs until you type quit or the input ends.",
	.args = "[host] [port]",
	.max_args = 2,
};

#ifndef AC_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	return ex_main(argc, argv, &chat_sock_server_prog, chat_sock_server_main);
}
#endif
