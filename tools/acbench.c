/* tools/acbench.c: asyncoro's benchmarks. Prints one table row per figure:
 * the median of several runs, with the minimum and maximum, so that noise
 * on a shared machine shows. Every loop is bounded in count and in time.
 *
 *   context switch (ns)          two coroutines yielding to each other
 *   local ping-pong (round trips/s)
 *   local one-way (messages/s)   producer → consumer, batches of 1024
 *   spawn+exit (per s)
 *   idle coroutine (bytes RSS)   100,000 coroutines blocked in receive
 *   TCP echo (round trips/s)     coroutine sockets over 127.0.0.1
 *   two processes (net shapes)   remote one-way, deliver, ping-pong,
 *                                channel, send_file, handshakes; with --tls
 *                                also over TLS, with TLS/plaintext ratios
 *   recording on vs off          --only record (tools/acbench_rec.c): remote
 *                                one-way and ping-pong, record size, replay
 *
 * Only loopback is ever used. Run `acbench --help` for options.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <asyncoro/asyncoro.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>


#include "tools/acbench.h"

#define MAX_RUNS 31

typedef struct bench_opts {
	int runs;
	double scale;
	const char *only;
	int csv;
	int placement; /* 1: one CPU, 2: one per CPU, 3: both */
	int tls;       /* net shapes over TLS too */
} bench_opts;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "acbench: %s: %s\n", what, ac_strerror(rc));
	exit(1);
}

static ac_sched *bench_sched(size_t stack, int guard)
{
	ac_sched_opts o;
	ac_sched *s;
	int rc;
	ac_sched_opts_init(&o);
	o.name = "bench";
	if (stack)
		o.stack_size = stack;
	o.stack_guard = guard;
	o.stack_pool_max = 200000;
	rc = ac_sched_new(&o, &s);
	if (rc < 0)
		die("ac_sched_new", rc);
	return s;
}

/* ---- context switch --------------------------------------------------------- */

static void yielder(void *arg)
{
	long n = *(long *)arg, i;
	for (i = 0; i < n; i++)
		ac_yield();
}

static double bench_switch(long n)
{
	ac_sched *s = bench_sched(0, 1);
	ac_sched_stats st;
	double t0, t1;
	ac_spawn(s, yielder, &n, NULL, NULL);
	ac_spawn(s, yielder, &n, NULL, NULL);
	t0 = now_s();
	ac_sched_run(s);
	t1 = now_s();
	ac_sched_get_stats(s, &st);
	ac_sched_free(s);
	return (t1 - t0) * 1e9 / (double)st.switches;
}

/* ---- ping-pong ------------------------------------------------------------------ */

static void ponger(void *arg)
{
	ac_msg *m;
	(void)arg;
	while (ac_receive(AC_FOREVER, &m) == 0) {
		ac_ref from = ac_msg_from(m);
		if (ac_msg_len(m) == 0) {
			ac_msg_free(m);
			return;
		}
		ac_send(from, m);
	}
}

static void pinger(void *arg)
{
	long n = *(long *)arg, i;
	ac_ref p;
	ac_msg *m = ac_msg_new("p", 1);
	ac_spawn(NULL, ponger, NULL, NULL, &p);
	for (i = 0; i < n; i++) {
		ac_send(p, m);
		ac_receive(AC_FOREVER, &m);
	}
	ac_msg_free(m);
	ac_send(p, ac_msg_new(NULL, 0));
}

static double bench_pingpong(long n)
{
	ac_sched *s = bench_sched(0, 1);
	double t0, t1;
	ac_spawn(s, pinger, &n, NULL, NULL);
	t0 = now_s();
	ac_sched_run(s);
	t1 = now_s();
	ac_sched_free(s);
	return (double)n / (t1 - t0);
}

/* ---- one-way ------------------------------------------------------------------------ */

static void consumer(void *arg)
{
	long n = *(long *)arg, got = 0;
	ac_msg *m;
	while (got < n && ac_receive(AC_FOREVER, &m) == 0) {
		ac_msg_free(m);
		got++;
	}
}

static void producer(void *arg)
{
	long n = *(long *)arg, i;
	ac_ref c;
	static const char payload[16] = "0123456789abcde";
	ac_spawn(NULL, consumer, arg, NULL, &c);
	for (i = 0; i < n; i++) {
		ac_send(c, ac_msg_new(payload, sizeof(payload)));
		if ((i & 1023) == 1023)
			ac_yield();
	}
}

static double bench_oneway(long n)
{
	ac_sched *s = bench_sched(0, 1);
	double t0, t1;
	ac_spawn(s, producer, &n, NULL, NULL);
	t0 = now_s();
	ac_sched_run(s);
	t1 = now_s();
	ac_sched_free(s);
	return (double)n / (t1 - t0);
}

/* ---- spawn + exit ------------------------------------------------------------------- */

static void nothing(void *arg)
{
	(void)arg;
}

static void spawner(void *arg)
{
	long n = *(long *)arg, i;
	for (i = 0; i < n; i++) {
		if (ac_spawn(NULL, nothing, NULL, NULL, NULL) < 0)
			die("spawn", -ENOMEM);
		if ((i & 255) == 255)
			ac_yield();
	}
}

static double bench_spawn(long n)
{
	ac_sched *s = bench_sched(0, 1);
	double t0, t1;
	ac_spawn(s, spawner, &n, NULL, NULL);
	t0 = now_s();
	ac_sched_run(s);
	t1 = now_s();
	ac_sched_free(s);
	return (double)n / (t1 - t0);
}

/* ---- idle memory --------------------------------------------------------------------- */

static long rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

static void idle_receiver(void *arg)
{
	ac_msg *m;
	(void)arg;
	if (ac_receive(AC_FOREVER, &m) == 0)
		ac_msg_free(m);
}

static double bench_idle(long n, uint64_t *unguarded)
{
	ac_sched *s = bench_sched(0, 1);
	ac_sched_stats st;
	ac_spawn_opts o = {.name = "idle", .daemon = 1};
	long before, after, i;
	before = rss_bytes();
	for (i = 0; i < n; i++)
		if (ac_spawn(s, idle_receiver, NULL, &o, NULL) < 0)
			die("spawn idle", -ENOMEM);
	while (ac_sched_step(s) == 1)
		;
	after = rss_bytes();
	ac_sched_get_stats(s, &st);
	*unguarded = st.stacks_unguarded;
	ac_sched_free(s);
	return (double)(after - before) / (double)n;
}

/* ---- TCP echo ---------------------------------------------------------------------------- */

typedef struct echo_ctx {
	ac_sock *listener;
	ac_addr addr;
	long n;
	double secs;
} echo_ctx;

static void echo_server(void *arg)
{
	echo_ctx *e = arg;
	ac_sock *c;
	char buf[64];
	if (ac_sock_accept(e->listener, 5000, &c) < 0)
		die("accept", -EIO);
	while (ac_sock_recv_all(c, buf, sizeof(buf), 5000) == (ssize_t)sizeof(buf))
		if (ac_sock_send_all(c, buf, sizeof(buf), 5000) < 0)
			break;
	ac_sock_close(c);
}

static void echo_client(void *arg)
{
	echo_ctx *e = arg;
	ac_sock *c;
	char buf[64];
	long i;
	double t0;
	int rc = ac_sock_connect(&e->addr, 5000, &c);
	if (rc < 0)
		die("connect", rc);
	memset(buf, 'e', sizeof(buf));
	t0 = now_s();
	for (i = 0; i < e->n; i++) {
		if (ac_sock_send_all(c, buf, sizeof(buf), 5000) < 0 ||
		    ac_sock_recv_all(c, buf, sizeof(buf), 5000) != (ssize_t)sizeof(buf))
			die("echo", -EIO);
		if ((i & 1023) == 0 && now_s() - t0 > 10)
			break; /* bounded in time too */
	}
	e->secs = now_s() - t0;
	e->n = i;
	ac_sock_close(c);
}

static double bench_tcp_echo(long n)
{
	ac_sched *s = bench_sched(0, 1);
	echo_ctx e;
	int rc;
	memset(&e, 0, sizeof(e));
	e.n = n;
	ac_addr_parse(&e.addr, "127.0.0.1", 0);
	rc = ac_sock_listen(s, &e.addr, 16, 0, &e.listener);
	if (rc < 0)
		die("listen", rc);
	ac_sock_local_addr(e.listener, &e.addr);
	ac_spawn(s, echo_server, &e, NULL, NULL);
	ac_spawn(s, echo_client, &e, NULL, NULL);
	rc = ac_sched_run(s);
	if (rc < 0)
		die("run", rc);
	ac_sock_close(e.listener);
	ac_sched_free(s);
	return (double)e.n / e.secs;
}

/* ---- two processes (tools/acbench_net.c) ---------------------------------------- */

static void report(const bench_opts *bo, const char *name, const char *unit,
                   double *v, int n, const char *target);

static void bench_net_placement(const bench_opts *bo, const char *label,
                                int cpu_s, int cpu_c, int mask, nb_result *r)
{
	double v[MAX_RUNS];
	char name[96];
	int i, k;
	long n = (long)(1000000 * bo->scale);
	for (i = 0; i < bo->runs; i++)
		if (nbench_run(cpu_s, cpu_c, n > 1000 ? n : 1000, mask, &r[i]) < 0)
			memset(&r[i], 0, sizeof(r[i]));
	static const struct {
		const char *name, *unit, *target;
		size_t off;
		int shape;
	} rows[] = {
		{"remote one-way (stream_send)", "msgs/s", ">= 2 M/s",
		 offsetof(nb_result, oneway), NB_ONEWAY},
		{"remote deliver", "rt/s", "-", offsetof(nb_result, deliver), NB_DELIVER},
		{"remote ping-pong p50", "us", "<= 1.5x raw", offsetof(nb_result, pp_p50),
		 NB_PINGPONG},
		{"remote ping-pong p99", "us", "-", offsetof(nb_result, pp_p99),
		 NB_PINGPONG},
		{"raw TCP ping-pong p50", "us", "(reference)", offsetof(nb_result, raw_p50),
		 NB_PINGPONG},
		{"raw TCP ping-pong p99", "us", "(reference)", offsetof(nb_result, raw_p99),
		 NB_PINGPONG},
		{"channel deliver, 10 remote subs", "per s", "-",
		 offsetof(nb_result, chan10), NB_CHAN},
		{"send_file 100 MB", "MB/s", ">= 500 MB/s", offsetof(nb_result, file_mbs),
		 NB_FILE},
		{"connect + handshake", "per s", "-", offsetof(nb_result, handshakes),
		 NB_HANDSHAKE},
	};
	for (k = 0; k < (int)(sizeof(rows) / sizeof(rows[0])); k++) {
		if (!(mask & rows[k].shape))
			continue;
		for (i = 0; i < bo->runs; i++)
			v[i] = *(double *)((char *)&r[i] + rows[k].off);
		snprintf(name, sizeof(name), "%s [%s]", rows[k].name, label);
		report(bo, name, rows[k].unit, v, bo->runs, rows[k].target);
	}
	if (!(mask & NB_PINGPONG))
		return;
	for (i = 0; i < bo->runs; i++)
		v[i] = r[i].raw_p50 > 0 ? r[i].pp_p50 / r[i].raw_p50 : 0;
	snprintf(name, sizeof(name), "ping-pong / raw TCP p50 [%s]", label);
	report(bo, name, "x", v, bo->runs, "<= 1.5");
}

/* A self-signed P-256 certificate and its key in one PEM file (made at
 * run time; removed by the caller). */
static int bench_cert(char *path)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	FILE *f = NULL;
	int fd = mkstemp(path), ok = 0;
	if (key && x && fd >= 0 && (f = fdopen(fd, "w")) != NULL) {
		X509_set_version(x, 2);
		ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
		X509_gmtime_adj(X509_getm_notBefore(x), -3600);
		X509_gmtime_adj(X509_getm_notAfter(x), 86400);
		X509_set_pubkey(x, key);
		X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
		                           (const unsigned char *)"acbench", -1, -1, 0);
		X509_set_issuer_name(x, X509_get_subject_name(x));
		ok = X509_sign(x, key, EVP_sha256()) > 0 && PEM_write_X509(f, x) == 1 &&
		     PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
	}
	if (f)
		fclose(f);
	else if (fd >= 0)
		close(fd);
	X509_free(x);
	EVP_PKEY_free(key);
	return ok ? 0 : -1;
}

/* TLS against plaintext of the same placement, run by run. */
static void bench_tls_ratios(const bench_opts *bo, const char *label,
                             const nb_result *p, const nb_result *t, int mask)
{
	double v[MAX_RUNS];
	char name[96];
	int i;
	if (mask & NB_PINGPONG) {
		for (i = 0; i < bo->runs; i++)
			v[i] = p[i].pp_p50 > 0 ? t[i].pp_p50 / p[i].pp_p50 : 0;
		snprintf(name, sizeof(name), "TLS / plain ping-pong p50 [%s]", label);
		report(bo, name, "x", v, bo->runs, "<= 1.15");
	}
	if (mask & NB_ONEWAY) {
		for (i = 0; i < bo->runs; i++)
			v[i] = p[i].oneway > 0 ? t[i].oneway / p[i].oneway : 0;
		snprintf(name, sizeof(name), "TLS / plain one-way [%s]", label);
		report(bo, name, "x", v, bo->runs, ">= 0.6");
	}
}

static void bench_net_both(const bench_opts *bo, const char *label, int cpu_s,
                           int cpu_c, int mask, const char *cert)
{
	nb_result plain[MAX_RUNS], tls[MAX_RUNS];
	char tlabel[64];
	bench_net_placement(bo, label, cpu_s, cpu_c, mask, plain);
	if (!cert)
		return;
	snprintf(tlabel, sizeof(tlabel), "%s, TLS", label);
	nbench_certfile = cert;
	bench_net_placement(bo, tlabel, cpu_s, cpu_c, mask, tls);
	nbench_certfile = NULL;
	bench_tls_ratios(bo, label, plain, tls, mask);
}

static void bench_net(const bench_opts *bo, int mask)
{
	char cert[] = "/tmp/acbench-cert-XXXXXX";
	const char *c = NULL;
	if (bo->tls && bench_cert(cert) == 0)
		c = cert;
	else if (bo->tls)
		fprintf(stderr, "acbench: could not make a certificate; no TLS figures\n");
	if (bo->placement & 1)
		bench_net_both(bo, "one CPU", 0, 0, mask, c);
	if ((bo->placement & 2) && sysconf(_SC_NPROCESSORS_ONLN) > 1)
		bench_net_both(bo, "two CPUs", 0, 1, mask, c);
	if (c)
		unlink(c);
}

/* ---- recording on vs off (tools/acbench_rec.c) ------------------------------------ */

static void bench_record(const bench_opts *bo)
{
	rb_result r[MAX_RUNS];
	double v[MAX_RUNS];
	int i, two = (bo->placement & 2) && sysconf(_SC_NPROCESSORS_ONLN) > 1;
	long n = (long)(1000000 * bo->scale);
	static const char *const names[] = {
		"record off: remote one-way", "record on: remote one-way",
		"record on/off: one-way", "record off: ping-pong p50",
		"record on: ping-pong p50", "record on/off: ping-pong p50",
		"record: bytes beyond carried/call", "record: bytes beyond carried/event",
		"record: replay speed / live"};
	static const char *const units[] = {"msgs/s", "msgs/s", "x", "us", "us", "x",
	                                    "B", "B", "x"};
	static const char *const targets[] = {"-", "-", ">= 0.70", "-", "-", "<= 1.15",
	                                      "<= 32 B", "-", ">= 5x"};
	int k;
	for (i = 0; i < bo->runs; i++)
		if (rbench_run(0, two ? 1 : 0, n > 1000 ? n : 1000, &r[i]) < 0)
			memset(&r[i], 0, sizeof(r[i]));
	for (k = 0; k < 9; k++) {
		for (i = 0; i < bo->runs; i++) {
			const rb_result *x = &r[i];
			double beyond = x->size - x->carried;
			double f[9] = {x->oneway_off, x->oneway_on,
				x->oneway_off > 0 ? x->oneway_on / x->oneway_off : 0, x->pp_off,
				x->pp_on, x->pp_off > 0 ? x->pp_on / x->pp_off : 0,
				x->calls > 0 ? beyond / x->calls : 0,
				x->events > 0 ? beyond / x->events : 0,
				x->replay_secs > 0 ? x->live_secs / x->replay_secs : 0};
			v[i] = f[k];
		}
		report(bo, names[k], units[k], v, bo->runs, targets[k]);
	}
	if (!bo->csv)
		printf("  (%s; last run: client record %.0f bytes, %.0f carried, %.0f events, "
		       "%.0f calls; live %.3f s, replay %.3f s)\n",
		       two ? "one CPU per process" : "one CPU", r[bo->runs - 1].size,
		       r[bo->runs - 1].carried, r[bo->runs - 1].events, r[bo->runs - 1].calls,
		       r[bo->runs - 1].live_secs, r[bo->runs - 1].replay_secs);
}

/* ---- driver -------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const bench_opts *bo, const char *name, const char *unit,
                   double *v, int n, const char *target)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	if (bo->csv)
		printf("%s,%s,%.6g,%.6g,%.6g\n", name, unit, v[n / 2], v[0],
		       v[n - 1]);
	else
		printf("%-34s %14.4g %-10s (min %.4g, max %.4g)  target %s\n", name,
		       v[n / 2], unit, v[0], v[n - 1], target);
	fflush(stdout);
}

/* Is key one of the comma-separated words of --only (or no --only)? */
static int want(const bench_opts *bo, const char *key)
{
	const char *p = bo->only;
	size_t kl = strlen(key);
	if (!p)
		return 1;
	while (*p) {
		size_t wl = strcspn(p, ",");
		if (wl == kl && strncmp(p, key, kl) == 0)
			return 1;
		p += wl;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* The two-process shapes --only asks for: "net" is all of them. */
static int net_mask(const bench_opts *bo)
{
	static const struct {
		const char *key;
		int shape;
	} keys[] = {{"net", NB_ALL},          {"net-oneway", NB_ONEWAY},
	            {"net-deliver", NB_DELIVER}, {"net-pingpong", NB_PINGPONG},
	            {"net-chan", NB_CHAN},     {"net-file", NB_FILE},
	            {"net-handshake", NB_HANDSHAKE}};
	int mask = 0;
	size_t i;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (want(bo, keys[i].key))
			mask |= keys[i].shape;
	return mask;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: acbench [--runs N] [--scale X] [--only LIST] [--placement P] [--tls]\n"
	        "               [--csv] [--dest DIR]\n"
	        "Benchmarks of the asyncoro engine; prints median (min, max).\n"
	        "  --runs N     runs per figure (default 5, at most %d)\n"
	        "  --scale X    multiply iteration counts (default 1.0)\n"
	        "  --only LIST  comma list of: switch,pingpong,oneway,spawn,idle,tcp,sim,\n"
	        "               net (all two-process shapes) or some of net-oneway,\n"
	        "               net-deliver,net-pingpong,net-chan,net-file,net-handshake,\n"
	        "               or record\n"
	        "               (recording on vs off, record size, replay speed; only\n"
	        "               when named)\n"
	        "  --placement one|two|both\n"
	        "               two-process shapes with both processes on CPU 0, one\n"
	        "               per CPU, or both placements (default)\n"
	        "  --tls        the two-process shapes over TLS too (a self-signed\n"
	        "               certificate made at run time), with TLS/plain ratios\n"
	        "  --csv        name,unit,median,min,max lines\n"
	        "  --dest DIR   where net-file's server writes the received file\n"
	        "               (default /tmp; /dev/shm takes the disk out of the figure)\n"
	        "  --help       this text\n"
	        "Network use: 127.0.0.1 only.\n",
	        MAX_RUNS);
}

static void parse(int argc, char **argv, bench_opts *bo)
{
	static const struct option lo[] = {
		{"runs", required_argument, NULL, 'r'},
		{"scale", required_argument, NULL, 's'},
		{"only", required_argument, NULL, 'o'},
		{"csv", no_argument, NULL, 'c'},
		{"placement", required_argument, NULL, 'p'},
		{"tls", no_argument, NULL, 't'},
		{"dest", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int ch;
	memset(bo, 0, sizeof(*bo));
	bo->runs = 5;
	bo->scale = 1.0;
	bo->placement = 3;
	while ((ch = getopt_long(argc, argv, "r:s:o:cp:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'r': bo->runs = atoi(optarg); break;
		case 's': bo->scale = atof(optarg); break;
		case 'o': bo->only = optarg; break;
		case 'c': bo->csv = 1; break;
		case 't': bo->tls = 1; break;
		case 'd': nbench_dest_dir = optarg; break;
		case 'p':
			bo->placement = !strcmp(optarg, "one")   ? 1
			                : !strcmp(optarg, "two")  ? 2
			                : !strcmp(optarg, "both") ? 3
			                                          : 0;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (bo->runs < 1 || bo->runs > MAX_RUNS || bo->scale <= 0 ||
	    !bo->placement) {
		usage(stderr);
		exit(2);
	}
	if (strchr(nbench_dest_dir, '\'') || strlen(nbench_dest_dir) > 256 ||
	    access(nbench_dest_dir, W_OK) != 0) {
		fprintf(stderr, "acbench: --dest %s: not a writable folder (or a name "
		        "with a quote, or over 256 bytes)\n", nbench_dest_dir);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	bench_opts bo;
	double v[MAX_RUNS];
	int i;
	parse(argc, argv, &bo);
#define N(x) ((long)((double)(x) * bo.scale) > 0 ? (long)((double)(x) * bo.scale) : 1)
	if (!bo.csv)
		printf("acbench: %d runs per figure, median (min, max)\n", bo.runs);
	if (want(&bo, "switch")) {
		for (i = 0; i < bo.runs; i++)
			v[i] = bench_switch(N(2000000));
		report(&bo, "context switch", "ns", v, bo.runs, "<= 20 ns");
	}
	if (want(&bo, "pingpong")) {
		for (i = 0; i < bo.runs; i++)
			v[i] = bench_pingpong(N(2000000));
		report(&bo, "local ping-pong", "rt/s", v, bo.runs, ">= 4 M/s");
	}
	if (want(&bo, "oneway")) {
		for (i = 0; i < bo.runs; i++)
			v[i] = bench_oneway(N(10000000));
		report(&bo, "local one-way messages", "msgs/s", v, bo.runs,
		       ">= 20 M/s");
	}
	if (want(&bo, "spawn")) {
		for (i = 0; i < bo.runs; i++)
			v[i] = bench_spawn(N(2000000));
		report(&bo, "spawn+exit", "per s", v, bo.runs, ">= 2 M/s");
	}
	if (want(&bo, "idle")) {
		uint64_t ung = 0;
		for (i = 0; i < bo.runs; i++)
			v[i] = bench_idle(100000, &ung);
		report(&bo, "idle coroutine (100k, RSS)", "bytes", v, bo.runs,
		       "<= 5 KiB");
		if (!bo.csv && ung)
			printf("  (%" PRIu64 " of the 100k stacks had no guard page: "
			       "vm.max_map_count)\n", ung);
	}
	if (want(&bo, "tcp")) {
		for (i = 0; i < bo.runs; i++)
			v[i] = bench_tcp_echo(N(200000));
		report(&bo, "TCP echo 64 B (127.0.0.1)", "rt/s", v, bo.runs, "-");
	}
	if (want(&bo, "sim")) {
		double ratio[MAX_RUNS];
		for (i = 0; i < bo.runs; i++)
			if (simbench_run(&v[i], &ratio[i]) < 0)
				v[i] = ratio[i] = 0;
		report(&bo, "sim: I/O completions per wall s", "per s", v, bo.runs,
		       ">= 1 M/s");
		report(&bo, "sim: virtual / wall time (timers)", "x", ratio, bo.runs,
		       ">= 1000x");
	}
	if (net_mask(&bo))
		bench_net(&bo, net_mask(&bo));
	if (bo.only != NULL && want(&bo, "record"))
		bench_record(&bo);
	return 0;
}
