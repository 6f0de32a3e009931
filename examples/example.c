/* examples/example.c: the example programs' environment (example.h) — the
 * command line shared by every example (node options, the program's own
 * options, positional arguments, --help), helpers for programs, and the
 * real backend: a scheduler on epoll, input lines from stdin through a
 * coroutine socket, output lines to stdout (flushed, so a pipe sees each
 * line at once).
 *
 * Network safety: the node address defaults to 127.0.0.1, so the node's
 * discovery broadcasts go to 127.255.255.255 only (ac_node_opts.broadcast is
 * never set here).
 */
#include "examples/example.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Ids of the common long options (the program's own are EX_OPT_PROG + i). */
enum {
	EX_OPT_UDP = 256,
	EX_OPT_TCP,
	EX_OPT_SECRET,
	EX_OPT_NAME,
	EX_OPT_PEER,
	EX_OPT_CERT,
	EX_OPT_KEY,
	EX_OPT_CA,
	EX_OPT_PROG = 512
};

void ex_env_init(ex_env *env, const ex_prog *prog)
{
	memset(env, 0, sizeof(*env));
	env->prog = prog;
	ac_node_opts_init(&env->node_opts);
	env->node_opts.node = "127.0.0.1";
	if (prog->def_name)
		env->node_opts.name = prog->def_name;
	if (prog->def_secret)
		env->node_opts.secret = prog->def_secret;
	env->node_opts.peers = env->peers;
}

static void ex_usage(const ex_prog *p, FILE *f)
{
	int i;
	fprintf(f, "Usage: %s [options]%s%s\n\n%s\n\nOptions:\n", p->name,
	        p->args ? " " : "", p->args ? p->args : "", p->summary);
	fprintf(f, "  -n, --host HOST      %s (default 127.0.0.1)\n",
	        p->node ? "address of this node" : "address of the server");
	fprintf(f, "      --tcp-port PORT  %s\n",
	        p->node ? "TCP port of this node (default: any free port)"
	                : "TCP port of the server (default 1234)");
	if (p->node) {
		fprintf(f, "      --udp-port PORT  discovery port (default %d); a 127.x node\n"
		           "                       broadcasts to 127.255.255.255 only\n",
		        AC_DEFAULT_UDP_PORT);
		fprintf(f, "      --secret TEXT    shared secret of the nodes "
		           "(default \"%s\")\n", p->def_secret ? p->def_secret : "");
		fprintf(f, "      --name NAME      node name (default %s%s%s)\n",
		        p->def_name ? "\"" : "", p->def_name ? p->def_name : "ip:port",
		        p->def_name ? "\"" : "");
		fprintf(f, "      --peer HOST:PORT contact this node at start "
		           "(repeatable)\n");
		fprintf(f, "      --certfile PEM   TLS: certificate (and key) of "
		           "this node\n"
		           "      --keyfile PEM    TLS: its key, when not in certfile\n"
		           "      --cafile PEM     TLS: CA of the peers (default: "
		           "certfile)\n");
	}
	for (i = 0; p->opts && p->opts[i].name; i++)
		fprintf(f, "      --%s %-*s%s (default %s)\n", p->opts[i].name,
		        (int)(14 - strlen(p->opts[i].name)), p->opts[i].arg,
		        p->opts[i].help, p->opts[i].def);
	fprintf(f, "  -h, --help           show this help\n");
}

/* A port number: 0..65535 (0 only when zero_ok). */
static int ex_port(const char *text, int zero_ok, uint16_t *out)
{
	char *end;
	unsigned long v;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || end == text || *end || v > 65535 || (!v && !zero_ok))
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* Apply one common option; returns 0 or -EINVAL. */
static int ex_common(ex_env *env, int c, const char *arg)
{
	ac_node_opts *o = &env->node_opts;
	switch (c) {
	case 'n':
		o->node = arg;
		return *arg ? 0 : -EINVAL;
	case EX_OPT_TCP:
		return ex_port(arg, 1, &o->tcp_port);
	case EX_OPT_UDP:
		return ex_port(arg, 0, &o->udp_port);
	case EX_OPT_SECRET:
		o->secret = arg;
		return 0;
	case EX_OPT_NAME:
		o->name = arg;
		return *arg ? 0 : -EINVAL;
	case EX_OPT_PEER:
		if (o->npeers >= EX_PEERS_MAX)
			return -EINVAL;
		env->peers[o->npeers++] = arg;
		return 0;
	case EX_OPT_CERT:
		o->certfile = arg;
		return 0;
	case EX_OPT_KEY:
		o->keyfile = arg;
		return 0;
	case EX_OPT_CA:
		o->cafile = arg;
		return 0;
	}
	return -EINVAL;
}

/* Build the long option table of a program into lo (room for all). */
static void ex_longopts(const ex_prog *p, struct option *lo)
{
	static const struct option common[] = {
		{"host", required_argument, NULL, 'n'},
		{"tcp-port", required_argument, NULL, EX_OPT_TCP},
		{"help", no_argument, NULL, 'h'},
		{"udp-port", required_argument, NULL, EX_OPT_UDP},
		{"secret", required_argument, NULL, EX_OPT_SECRET},
		{"name", required_argument, NULL, EX_OPT_NAME},
		{"peer", required_argument, NULL, EX_OPT_PEER},
		{"certfile", required_argument, NULL, EX_OPT_CERT},
		{"keyfile", required_argument, NULL, EX_OPT_KEY},
		{"cafile", required_argument, NULL, EX_OPT_CA},
	};
	int i, k = 0, ncommon = p->node ? 10 : 3;
	for (i = 0; i < ncommon; i++)
		lo[k++] = common[i];
	for (i = 0; p->opts && p->opts[i].name && i < EX_OPTS_MAX; i++) {
		lo[k].name = p->opts[i].name;
		lo[k].has_arg = required_argument;
		lo[k].flag = NULL;
		lo[k].val = EX_OPT_PROG + i;
		k++;
	}
	memset(&lo[k], 0, sizeof(lo[k]));
}

int ex_env_parse(ex_env *env, int argc, char **argv)
{
	const ex_prog *p = env->prog;
	struct option lo[11 + EX_OPTS_MAX];
	int c;
	ex_longopts(p, lo);
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:h", lo, NULL)) != -1) {
		if (c == 'h') {
			ex_usage(p, stdout);
			return 1;
		}
		if (c >= EX_OPT_PROG && c < EX_OPT_PROG + EX_OPTS_MAX) {
			env->opt_val[c - EX_OPT_PROG] = optarg;
			continue;
		}
		if (c == '?' || ex_common(env, c, optarg) < 0) {
			if (c != '?')
				fprintf(stderr, "%s: bad value \"%s\"\n", p->name, optarg);
			fprintf(stderr, "Try '%s --help'.\n", p->name);
			return -EINVAL;
		}
	}
	for (; optind < argc; optind++) {
		if (env->nargs >= p->max_args) {
			fprintf(stderr, "%s: unexpected argument \"%s\"\n"
			                "Try '%s --help'.\n", p->name, argv[optind],
			        p->name);
			return -EINVAL;
		}
		env->args[env->nargs++] = argv[optind];
	}
	return 0;
}

int ex_node_start(ex_env *env)
{
	int rc = ac_node_start(env->sched, &env->node_opts, &env->node);
	if (rc < 0) {
		env->node = NULL;
		ac_log(env->sched, AC_LOG_ERROR, "cannot start the node on %s: %s",
		       env->node_opts.node ? env->node_opts.node : "?",
		       ac_strerror(rc));
	}
	return rc;
}

const char *ex_opt_str(const ex_env *env, const char *name)
{
	const ex_opt *o = env->prog->opts;
	int i;
	for (i = 0; o && o[i].name && i < EX_OPTS_MAX; i++)
		if (strcmp(o[i].name, name) == 0)
			return env->opt_val[i] ? env->opt_val[i] : o[i].def;
	return NULL;
}

double ex_opt_num(const ex_env *env, const char *name)
{
	const char *v = ex_opt_str(env, name);
	char *end;
	double d;
	if (!v)
		return 0;
	d = strtod(v, &end);
	return end == v ? 0 : d;
}

const char *ex_arg(const ex_env *env, int i)
{
	return i >= 0 && i < env->nargs ? env->args[i] : NULL;
}

int ex_server_addr(ex_env *env, uint16_t def_port, ac_addr *out)
{
	const char *host = ex_arg(env, 0) ? ex_arg(env, 0) : env->node_opts.node;
	const char *port = ex_arg(env, 1);
	uint16_t p = env->node_opts.tcp_port ? env->node_opts.tcp_port : def_port;
	if (port && ex_port(port, 0, &p) < 0)
		return -EINVAL;
	return ac_resolve(env->sched, host, p, out);
}

int ex_read_line(ex_env *env, char *buf, size_t len)
{
	return env->read_line(env, buf, len);
}

void ex_printf(ex_env *env, const char *fmt, ...)
{
	char line[EX_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	env->print(env, line);
}

char *ex_strip(char *s)
{
	size_t n = strlen(s), i = 0;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	memmove(s, s + i, n - i + 1);
	return s;
}

int ex_is_quit(const char *line)
{
	char buf[16];
	snprintf(buf, sizeof(buf), "%s", line);
	ex_strip(buf);
	return strcasecmp(buf, "quit") == 0 || strcasecmp(buf, "exit") == 0;
}

int ex_wait_quit(ex_env *env)
{
	char line[EX_LINE_MAX];
	int rc;
	while ((rc = ex_read_line(env, line, sizeof(line))) > 0)
		if (ex_is_quit(line))
			return 0;
	return rc;
}

static void ex_console(void *arg)
{
	ex_env *env = arg;
	int rc = ex_wait_quit(env);
	if (rc < 0)
		ac_log(env->sched, AC_LOG_WARN, "reading input: %s", ac_strerror(rc));
}

int ex_spawn_console(ex_env *env)
{
	ac_spawn_opts so = {.name = "console"};
	return ac_spawn(env->sched, ex_console, env, &so, NULL);
}

double ex_random(ex_env *env)
{
	ac_io *io = ac_sched_io(env->sched);
	uint64_t r = 0;
	io->ops->entropy(io, &r, sizeof(r));
	return (double)(r >> 11) / 9007199254740992.0; /* 2^53 */
}

void *ex_keep(ex_env *env, void *p)
{
	if (p && ac_sched_atexit(env->sched, free, p) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

/* ---- the real backend ------------------------------------------------------------ */

/* stdin, attached to the scheduler on first use, with its read-ahead.
 * NOTE: lines are split here over ac_sock_recv rather than read with
 * ac_sock_recv_line, because that returns 0 both for an empty line and at
 * the end of the stream, and an empty line must not end a chat. */
typedef struct ex_real {
	ac_sock *r_stdin;
	int r_eof;
	size_t r_len;
	char r_buf[EX_LINE_MAX];
} ex_real;

/* Take the first line of r_buf (up to a newline, or all of it at the end of
 * input) into buf; 1 when there was one. Longer lines are cut. */
static int ex_real_take(ex_real *r, char *buf, size_t len)
{
	char *nl = memchr(r->r_buf, '\n', r->r_len);
	size_t n, used;
	if (!nl && !(r->r_eof && r->r_len > 0) && r->r_len < sizeof(r->r_buf))
		return 0;
	n = nl ? (size_t)(nl - r->r_buf) : r->r_len;
	used = nl ? n + 1 : n;
	if (n > 0 && r->r_buf[n - 1] == '\r')
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(buf, r->r_buf, n);
	buf[n] = '\0';
	memmove(r->r_buf, r->r_buf + used, r->r_len - used);
	r->r_len -= used;
	return 1;
}

static int ex_real_read_line(ex_env *env, char *buf, size_t len)
{
	ex_real *r = env->backend;
	int rc;
	if (!len)
		return -EINVAL;
	if (!r->r_stdin && !r->r_eof) {
		rc = ac_sock_attach_fd(env->sched, STDIN_FILENO, &r->r_stdin);
		if (rc < 0)
			return rc;
	}
	while (!ex_real_take(r, buf, len)) {
		ssize_t n;
		if (r->r_eof)
			return 0;
		n = ac_sock_recv(r->r_stdin, r->r_buf + r->r_len,
		                 sizeof(r->r_buf) - r->r_len, AC_FOREVER);
		if (n < 0)
			return (int)n;
		if (n == 0)
			r->r_eof = 1;
		r->r_len += (size_t)n;
	}
	return 1;
}

static void ex_real_print(ex_env *env, const char *line)
{
	(void)env;
	fputs(line, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

int ex_main(int argc, char **argv, const ex_prog *prog, ex_main_fn fn)
{
	ex_env env;
	ex_real real;
	ac_sched_opts so;
	int rc;
	memset(&real, 0, sizeof(real));
	ex_env_init(&env, prog);
	rc = ex_env_parse(&env, argc, argv);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	ac_sched_opts_init(&so);
	so.name = prog->name;
	rc = ac_sched_new(&so, &env.sched);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", prog->name, ac_strerror(rc));
		return 1;
	}
	env.read_line = ex_real_read_line;
	env.print = ex_real_print;
	env.backend = &real;
	rc = fn(&env);
	if (rc == 0)
		rc = ac_sched_finish(env.sched);
	else
		ac_sched_terminate(env.sched);
	if (rc < 0 && !env.status) {
		fprintf(stderr, "%s: %s\n", prog->name, ac_strerror(rc));
		env.status = 1;
	}
	if (real.r_stdin)
		ac_sock_close(real.r_stdin);
	ac_sched_free(env.sched);
	return env.status;
}
