/* examples/demo.c: a one-minute tour of the asyncoro engine.
 *
 * 1. Two producers publish numbered items on a channel "items"; two
 *    consumers subscribe and print what they get (each gets every item).
 * 2. A monitor is told how a worker ended (returned / failed).
 * 3. A TCP echo server and client, as coroutines with coroutine sockets on
 *    127.0.0.1 (a free port), exchange length-prefixed messages.
 *
 * Everything runs on one scheduler in one thread; the program ends when
 * every non-daemon coroutine has ended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/asyncoro.h>

#define ITEMS 3

static ac_ref items; /* the channel */

static void producer(void *arg)
{
	int i;
	for (i = 0; i < ITEMS; i++) {
		ac_chan_send(items, ac_msg_printf("%s item %d", (char *)arg, i));
		ac_sleep(10);
	}
}

static void consumer(void *arg)
{
	ac_msg *m;
	int got = 0;
	ac_chan_subscribe(items, ac_self(), AC_FOREVER);
	while (got < 2 * ITEMS && ac_receive(1000, &m) == 0) {
		printf("  %s got \"%.*s\"\n", (char *)arg, (int)ac_msg_len(m),
		       (const char *)ac_msg_data(m));
		ac_msg_free(m);
		got++;
	}
	ac_chan_unsubscribe(items, ac_self(), 0);
}

static void worker(void *arg)
{
	int n = *(int *)arg;
	ac_sleep(5);
	if (n % 2)
		ac_fail("odd input %d", n);
	ac_return(ac_msg_printf("%d squared is %d", n, n * n));
}

static void watcher(void *arg)
{
	static int inputs[2] = {4, 3};
	static const char *const how[] = {"returned", "failed", "terminated",
	                                  "node lost"};
	int i;
	(void)arg;
	for (i = 0; i < 2; i++) {
		ac_ref w;
		ac_msg *m;
		ac_exit_info ei;
		ac_spawn(NULL, worker, &inputs[i], NULL, &w);
		ac_monitor(w);
		ac_receive(AC_FOREVER, &m);
		ac_msg_exit(m, &ei);
		printf("  worker(%d) %s: %.*s\n", inputs[i], how[ei.how],
		       (int)ei.len, (const char *)ei.data);
		ac_msg_free(m);
	}
}

static void echo_server(void *arg)
{
	ac_sock *listener = arg, *conn;
	void *buf;
	size_t len;
	if (ac_sock_accept(listener, 5000, &conn) < 0)
		return;
	while (ac_sock_recv_msg(conn, &buf, &len, 65536, 5000) == 1) {
		ac_sock_send_msg(conn, buf, len, 5000);
		free(buf);
	}
	ac_sock_close(conn); /* the client closed: a clean end */
}

static void echo_client(void *arg)
{
	static const char *const words[] = {"hello", "coroutine", "sockets"};
	ac_addr *addr = arg;
	ac_sock *conn;
	int i, rc = ac_sock_connect(addr, 5000, &conn);
	if (rc < 0) {
		printf("  connect: %s\n", ac_strerror(rc));
		return;
	}
	for (i = 0; i < 3; i++) {
		void *buf;
		size_t len;
		ac_sock_send_msg(conn, words[i], strlen(words[i]), 5000);
		if (ac_sock_recv_msg(conn, &buf, &len, 65536, 5000) == 1) {
			printf("  echo: %.*s\n", (int)len, (char *)buf);
			free(buf);
		}
	}
	ac_sock_close(conn);
}

int main(void)
{
	ac_sched *s;
	ac_sock *listener;
	ac_addr addr;
	char text[AC_ADDR_STRLEN];
	int rc = ac_sched_new(NULL, &s);
	if (rc < 0) {
		fprintf(stderr, "demo: %s\n", ac_strerror(rc));
		return 1;
	}
	printf("1. producers and consumers over a channel\n");
	ac_chan_new(s, "items", &items);
	ac_spawn(s, consumer, "consumer A", NULL, NULL);
	ac_spawn(s, consumer, "consumer B", NULL, NULL);
	ac_spawn(s, producer, "red", NULL, NULL);
	ac_spawn(s, producer, "blue", NULL, NULL);
	ac_sched_run(s);

	printf("2. a monitor learns how workers ended\n");
	ac_spawn(s, watcher, NULL, NULL, NULL);
	ac_sched_run(s);

	ac_addr_parse(&addr, "127.0.0.1", 0);
	rc = ac_sock_listen(s, &addr, 8, 0, &listener);
	if (rc < 0) {
		fprintf(stderr, "demo: listen: %s\n", ac_strerror(rc));
		return 1;
	}
	ac_sock_local_addr(listener, &addr);
	printf("3. TCP echo through coroutine sockets on %s\n",
	       ac_addr_format(&addr, text, sizeof(text)));
	ac_spawn(s, echo_server, listener, NULL, NULL);
	ac_spawn(s, echo_client, &addr, NULL, NULL);
	rc = ac_sched_finish(s);
	ac_sock_close(listener);
	ac_sched_free(s);
	printf("done (%s)\n", ac_strerror(rc));
	return rc < 0;
}
