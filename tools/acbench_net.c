/* tools/acbench_net.c: two-process benchmarks of the distributed layer, for
 * acbench. A child process runs a server node and the parent a client node,
 * both on 127.0.0.1, connected with ac_node_peer (no discovery). Each shape
 * runs in two placements: both processes pinned to CPU 0, and one per CPU.
 *
 *   remote one-way (msgs/s)      16-byte ac_send, stream_send on
 *   remote deliver (round trips/s)
 *   remote ping-pong (µs p50/p99) send + reply, timed one by one
 *   raw TCP ping-pong (µs p50/p99) 64 bytes, blocking sockets, same placement
 *   channel deliver to 10 remote subscribers (delivers/s)
 *   send_file of 100 MB of random bytes (MB/s; the server writes under
 *   DIR/acbench-dest-PID, removed afterwards: DIR is acbench --dest, /tmp
 *   by default)
 *
 * Everything is bounded in count and time; the child exits when its parent
 * closes the pipe or after 120 s.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <asyncoro/dis.h>

#include "tools/acbench.h"

static double nbench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void nbench_pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* A scheduler that logs warnings and errors only (the benchmark's nodes
 * would otherwise announce every connection). */
static void nbench_sched(ac_sched **s)
{
	ac_sched_opts so;
	ac_sched_opts_init(&so);
	so.log_level = AC_LOG_WARN;
	ac_sched_new(&so, s);
}

/* ---- the server process --------------------------------------------------- */

/* Counts what it receives; "done" answers with the count since the last
 * "done" (as text), so the client can check that nothing was lost. */
static void srv_sink(void *arg)
{
	ac_msg *m;
	long got = 0;
	char text[32];
	(void)arg;
	ac_register("sink");
	for (;;) {
		if (ac_receive(AC_FOREVER, &m) < 0)
			return;
		if (ac_msg_len(m) == 4 && memcmp(ac_msg_data(m), "done", 4) == 0) {
			snprintf(text, sizeof(text), "%ld", got);
			ac_send(ac_msg_from(m), ac_msg_str(text));
			got = 0;
		} else {
			got++;
		}
		ac_msg_free(m);
	}
}

static void srv_echo(void *arg)
{
	ac_msg *m;
	(void)arg;
	ac_register("echo");
	while (ac_receive(AC_FOREVER, &m) == 0)
		if (ac_send(ac_msg_from(m), m) < 0)
			ac_msg_free(m);
}

static void srv_raw_tcp(int lfd)
{
	char buf[64];
	int c = accept(lfd, NULL, NULL), one = 1;
	if (c < 0)
		return;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (;;) {
		size_t got = 0;
		while (got < sizeof(buf)) {
			ssize_t r = read(c, buf + got, sizeof(buf) - got);
			if (r <= 0) {
				close(c);
				return;
			}
			got += (size_t)r;
		}
		if (write(c, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			break;
	}
	close(c);
}

/* Child: print "port raw_port\n" on the pipe, serve until killed. */
static void srv_main(int wfd, int cpu)
{
	ac_sched *s;
	ac_node *n;
	ac_node_opts o;
	ac_spawn_opts d = {.daemon = 0};
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	char line[64], dest[PATH_MAX];
	ac_addr loc;
	nbench_pin(cpu);
	alarm(120);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 4) < 0 || getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		_exit(1);
	if (fork() == 0) {
		/* Ends with the server (else it would hold acbench's standard
		 * output, a pipe's writer, until its alarm). */
		pid_t server = getppid();
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != server)
			_exit(0);
		close(wfd);
		alarm(120);
		srv_raw_tcp(lfd);
		_exit(0);
	}
	close(lfd);
	nbench_sched(&s);
	ac_node_opts_init(&o);
	o.node = "127.0.0.1";
	o.discover_peers = 0;
	o.secret = "acbench-shared-secret-0123";
	o.certfile = nbench_certfile;
	o.name = "bench-server";
	snprintf(dest, sizeof(dest), "%s/acbench-dest-%d", nbench_dest_dir, (int)getpid());
	o.dest_path = dest;
	if (ac_node_start(s, &o, &n) < 0)
		_exit(1);
	loc = ac_node_location(n);
	snprintf(line, sizeof(line), "%u %u\n", loc.port, ntohs(sa.sin_port));
	if (write(wfd, line, strlen(line)) < 0)
		_exit(1);
	close(wfd);
	ac_spawn(s, srv_sink, NULL, &d, NULL);
	ac_spawn(s, srv_echo, NULL, &d, NULL);
	{
		ac_ref ch;
		ac_chan_new(s, "bench-chan", &ch);
		ac_chan_register(ch, "bench-chan");
	}
	ac_sched_run(s);
	_exit(0);
}

/* ---- the client side ---------------------------------------------------------- */

typedef struct nb_ctx {
	ac_node *node;
	char loc[64];
	long n;
	int mask;
	nb_result *res;
} nb_ctx;

const char *nbench_certfile;
const char *nbench_dest_dir = "/tmp";

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void cl_oneway(nb_ctx *c)
{
	ac_ref sink;
	ac_msg *m;
	long i;
	double t0;
	static const char payload[16] = "0123456789abcde";
	if (ac_locate("sink", NULL, 5000, &sink) < 0)
		return;
	t0 = nbench_now();
	for (i = 0; i < c->n; i++) {
		if (ac_send(sink, ac_msg_new(payload, sizeof(payload))) < 0)
			break;
		if ((i & 255) == 255)
			ac_yield();
		if ((i & 65535) == 0 && nbench_now() - t0 > 20)
			break;
	}
	ac_send(sink, ac_msg_str("done"));
	if (ac_receive(60000, &m) == 0) {
		double secs = nbench_now() - t0;
		char text[32];
		size_t len = ac_msg_len(m) < sizeof(text) - 1 ? ac_msg_len(m)
		                                                : sizeof(text) - 1;
		memcpy(text, ac_msg_data(m), len);
		text[len] = 0;
		ac_msg_free(m);
		if (strtol(text, NULL, 10) == i)
			c->res->oneway = (double)i / secs;
		else
			fprintf(stderr, "acbench: one-way: sent %ld, received %s\n", i,
			        text);
	}
}

static void cl_deliver(nb_ctx *c)
{
	ac_ref sink;
	long i, n = c->n / 20;
	double t0;
	if (ac_locate("sink", NULL, 5000, &sink) < 0)
		return;
	t0 = nbench_now();
	for (i = 0; i < n; i++)
		if (ac_deliver(sink, ac_msg_new("d", 1), 5000) != 1)
			break;
	c->res->deliver = (double)i / (nbench_now() - t0);
}

static void cl_pingpong(nb_ctx *c)
{
	ac_ref echo;
	long i, n = c->n / 50 > 1000 ? c->n / 50 : 1000;
	double *rtt = malloc((size_t)n * sizeof(double));
	if (!rtt || ac_locate("echo", NULL, 5000, &echo) < 0) {
		free(rtt);
		return;
	}
	for (i = 0; i < n; i++) {
		ac_msg *m;
		double t0 = nbench_now();
		ac_send(echo, ac_msg_new("ping", 4));
		if (ac_receive(5000, &m) < 0)
			break;
		ac_msg_free(m);
		rtt[i] = (nbench_now() - t0) * 1e6;
	}
	if (i > 10) {
		qsort(rtt, (size_t)i, sizeof(double), cmp_d);
		c->res->pp_p50 = rtt[i / 2];
		c->res->pp_p99 = rtt[i * 99 / 100];
	}
	free(rtt);
}

static void cl_sub(void *arg)
{
	ac_msg *m;
	(void)arg;
	while (ac_receive(AC_FOREVER, &m) == 0)
		ac_msg_free(m);
}

/* Ten subscribers here, the channel there: the server's coroutines cannot
 * deliver on our behalf, so we drive deliver from a remote channel ref. */
static void cl_chan(nb_ctx *c)
{
	ac_ref ch, sub;
	ac_spawn_opts d = {.daemon = 1};
	long i, n = c->n / 200;
	double t0;
	int k;
	if (ac_chan_locate("bench-chan", NULL, 5000, &ch) < 0)
		return;
	for (k = 0; k < 10; k++) {
		ac_spawn(NULL, cl_sub, NULL, &d, &sub);
		ac_chan_subscribe(ch, sub, 5000);
	}
	t0 = nbench_now();
	for (i = 0; i < n; i++)
		if (ac_chan_deliver(ch, ac_msg_new("c", 1), 5000, 0) != 10)
			break;
	c->res->chan10 = (double)i / (nbench_now() - t0);
}

/* send_file of a 100 MB file of random bytes (scaled by n). */
static void cl_file(nb_ctx *c)
{
	char path[] = "/tmp/acbench-file-XXXXXX";
	size_t size = (size_t)(100.0 * 1024 * 1024 * ((double)c->n / 1000000.0));
	size_t left, chunk = 1 << 20;
	unsigned char *buf = malloc(chunk);
	ac_addr loc;
	double t0;
	int fd = mkstemp(path), rc;
	if (fd < 0 || !buf || ac_addr_parse(&loc, c->loc, 0) < 0)
		goto out;
	for (left = 0; left < chunk; left++)
		buf[left] = (unsigned char)(rand() >> 7);
	for (left = size; left > 0; left -= left < chunk ? left : chunk)
		if (write(fd, buf, left < chunk ? left : chunk) < 0)
			goto out;
	t0 = nbench_now();
	rc = ac_node_send_file(c->node, &loc, path, NULL, 1, 120000, NULL);
	if (rc == 0)
		c->res->file_mbs = (double)size / 1e6 / (nbench_now() - t0);
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(buf);
}

/* Close the connection and contact the server again, repeatedly: each
 * round is a TCP connect, the TLS handshake when on, and the secret
 * handshake. */
static void cl_handshake(nb_ctx *c)
{
	long i, n = c->n / 2000 > 50 ? c->n / 2000 : 50;
	ac_addr loc;
	double t0 = nbench_now();
	if (ac_addr_parse(&loc, c->loc, 0) < 0)
		return;
	for (i = 0; i < n && nbench_now() - t0 < 20; i++) {
		ac_node_close_peer(c->node, &loc, 5000);
		if (ac_node_peer(c->node, c->loc, 0, 1, 0, 5000) < 0)
			break;
	}
	if (i == n)
		c->res->handshakes = (double)i / (nbench_now() - t0);
}

static void cl_main(void *arg)
{
	nb_ctx *c = arg;
	if (ac_node_peer(c->node, c->loc, 0, 1, 0, 5000) < 0)
		return;
	if (c->mask & NB_ONEWAY)
		cl_oneway(c);
	if (c->mask & NB_DELIVER)
		cl_deliver(c);
	if (c->mask & NB_PINGPONG)
		cl_pingpong(c);
	if (c->mask & NB_CHAN)
		cl_chan(c);
	if (c->mask & NB_FILE)
		cl_file(c);
	if (c->mask & NB_HANDSHAKE)
		cl_handshake(c);
}

static void raw_pingpong(uint16_t port, long n, nb_result *res)
{
	struct sockaddr_in sa;
	char buf[64];
	double *rtt = malloc((size_t)n * sizeof(double));
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	long i;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!rtt || fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(buf, 'r', sizeof(buf));
	for (i = 0; i < n; i++) {
		double t0 = nbench_now();
		size_t got = 0;
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			break;
		while (got < sizeof(buf)) {
			ssize_t r = read(fd, buf + got, sizeof(buf) - got);
			if (r <= 0)
				goto out;
			got += (size_t)r;
		}
		rtt[i] = (nbench_now() - t0) * 1e6;
	}
	qsort(rtt, (size_t)i, sizeof(double), cmp_d);
	res->raw_p50 = rtt[i / 2];
	res->raw_p99 = rtt[i * 99 / 100];
out:
	if (fd >= 0)
		close(fd);
	free(rtt);
}

void nbench_client(unsigned port, long n, int mask, nb_result *res)
{
	double t0 = nbench_now();
	ac_sched *s;
	nb_ctx c;
	ac_node_opts o;
	memset(&c, 0, sizeof(c));
	nbench_sched(&s);
	ac_node_opts_init(&o);
	o.node = "127.0.0.1";
	o.discover_peers = 0;
	o.secret = "acbench-shared-secret-0123";
	o.certfile = nbench_certfile;
	o.name = "bench-client";
	if (ac_node_start(s, &o, &c.node) == 0) {
		snprintf(c.loc, sizeof(c.loc), "127.0.0.1:%u", port);
		c.n = n;
		c.mask = mask;
		c.res = res;
		ac_spawn(s, cl_main, &c, NULL, NULL);
		ac_sched_finish(s);
	}
	ac_sched_free(s);
	res->client_secs = nbench_now() - t0;
}

int nbench_run(int cpu_server, int cpu_client, long n, int mask,
               nb_result *res)
{
	int pfd[2], status;
	char line[64] = "";
	unsigned port = 0, raw = 0;
	ssize_t r;
	pid_t pid;
	memset(res, 0, sizeof(*res));
	if (pipe(pfd) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(pfd[0]);
		srv_main(pfd[1], cpu_server);
	}
	close(pfd[1]);
	r = read(pfd[0], line, sizeof(line) - 1);
	close(pfd[0]);
	if (r <= 0 || sscanf(line, "%u %u", &port, &raw) != 2) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -EIO;
	}
	nbench_pin(cpu_client);
	if (mask & NB_PINGPONG)
		raw_pingpong((uint16_t)raw, n / 50 > 1000 ? n / 50 : 1000, res);
	res->server_port = port;
	nbench_client(port, n, mask, res);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	{
		/* The server's received file and folder. */
		char cmd[PATH_MAX + 64];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s/acbench-dest-%d'", nbench_dest_dir,
		         (int)pid);
		if (system(cmd) != 0)
			fprintf(stderr, "acbench: could not remove %s/acbench-dest-%d\n",
			        nbench_dest_dir, (int)pid);
	}
	{
		cpu_set_t all;
		CPU_ZERO(&all);
		for (status = 0; status < CPU_SETSIZE; status++)
			CPU_SET(status, &all);
		sched_setaffinity(0, sizeof(all), &all);
	}
	return 0;
}
