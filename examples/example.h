/* examples/example.h: the environment the seed's example programs run in.
 *
 * Each example is a function `int <name>_main(ex_env *env)` that starts its
 * node (ex_node_start) if it has one, spawns its coroutines on env->sched and
 * returns 0 (or a negative errno when it could not start); it never runs the
 * scheduler itself. Whoever built the env then runs the scheduler: the real
 * main() (ex_main: epoll backend, stdin, stdout, ac_sched_finish) or the
 * simulator (a world's node main: the node's scheduler, scripted input,
 * captured output). A program talks to the outside world only through the
 * env: input lines (ex_read_line), output lines (ex_printf), its options,
 * log lines (ac_log on env->sched) and its exit status (env->status).
 */
#ifndef AC_EXAMPLES_EXAMPLE_H
#define AC_EXAMPLES_EXAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include <asyncoro/asyncoro.h>
#include <asyncoro/dis.h>

typedef struct ex_env ex_env;

/* Limits of an env. */
enum {
	/* Positional arguments kept. */
	EX_ARGS_MAX = 4,
	/* Extra options of one program. */
	EX_OPTS_MAX = 8,
	/* --peer options kept. */
	EX_PEERS_MAX = 8,
	/* Longest output line (longer ones are cut). */
	EX_LINE_MAX = 1024
};

/* An option of one program, beyond the common ones; it takes an argument. */
typedef struct ex_opt {
	/* Long name, without the dashes ("delay"). */
	const char *name;
	/* Name of its argument in --help ("SECONDS"). */
	const char *arg;
	/* Value used when the option is not given. */
	const char *def;
	/* One line of help. */
	const char *help;
} ex_opt;

/* What a program is, for the command line and --help. */
typedef struct ex_prog {
	/* Program name ("tut_server"). */
	const char *name;
	/* What it does, for --help (may hold newlines). */
	const char *summary;
	/* Synopsis of positional arguments ("[host] [port]"), NULL: none. */
	const char *args;
	/* Most positional arguments accepted (at most EX_ARGS_MAX). */
	int max_args;
	/* 1: the program runs a node (the node options apply); 0: plain
	 * sockets (only --host and --tcp-port apply). */
	int node;
	/* Defaults of the node's name and secret (NULL: the library's). */
	const char *def_name;
	const char *def_secret;
	/* Extra options, ended by an entry with a NULL name (NULL: none). */
	const ex_opt *opts;
} ex_prog;

struct ex_env {
	/* The program. */
	const ex_prog *prog;
	/* The scheduler to spawn on (owned by whoever built the env). */
	ac_sched *sched;
	/* Node options, prefilled: node "127.0.0.1" unless --host, udp_port,
	 * tcp_port, secret, name, peers from the command line. Strings point
	 * into storage that outlives the run. */
	ac_node_opts node_opts;
	/* The node once ex_node_start succeeded, else NULL. */
	ac_node *node;
	/* Positional arguments. */
	const char *args[EX_ARGS_MAX];
	int nargs;
	/* Values of prog->opts, by index (NULL: use the default). */
	const char *opt_val[EX_OPTS_MAX];
	/* Peers to contact at start (--peer), referenced by node_opts. */
	const char *peers[EX_PEERS_MAX];
	/* Read one input line into buf (NUL-terminated, without the newline).
	 * Returns 1 for a line (maybe empty), 0 at end of input, a negative
	 * errno on error. Coroutine only. */
	int (*read_line)(ex_env *env, char *buf, size_t len);
	/* Write one output line (the newline is added). */
	void (*print)(ex_env *env, const char *line);
	/* Private data of the functions above. */
	void *backend;
	/* Exit status the program asks for (0: success). */
	int status;
};

/* A program's entry point (see the top of this file). */
typedef int (*ex_main_fn)(ex_env *env);

/* Fill env with the defaults of prog (no scheduler, no I/O functions). */
void ex_env_init(ex_env *env, const ex_prog *prog);
/* Parse a command line into env (common options, prog's options, positional
 * arguments); strings stay in argv. Returns 0, 1 when --help was printed
 * (to stdout), or -EINVAL after printing why to stderr. */
int ex_env_parse(ex_env *env, int argc, char **argv);
/* Start the node on env->sched with env->node_opts; logs why on failure.
 * Returns 0 or a negative errno. Call from <name>_main. */
int ex_node_start(ex_env *env);
/* Value of prog's option name (its default when not given; NULL when prog
 * has no such option). */
const char *ex_opt_str(const ex_env *env, const char *name);
/* The same as a number (0 when absent or not a number). */
double ex_opt_num(const ex_env *env, const char *name);
/* Positional argument i, or NULL. */
const char *ex_arg(const ex_env *env, int i);
/* The address of a plain-socket server: positional [host] [port], else
 * --host / --tcp-port, else 127.0.0.1 and def_port. Returns 0 or a negative
 * errno (-EINVAL for a bad port). */
int ex_server_addr(ex_env *env, uint16_t def_port, ac_addr *out);
/* Read a line: env->read_line. */
int ex_read_line(ex_env *env, char *buf, size_t len);
/* printf one output line through env->print. */
void ex_printf(ex_env *env, const char *fmt, ...) AC_PRINTF(2, 3);
/* 1 when line, without surrounding blanks, is "quit" or "exit" (any case). */
int ex_is_quit(const char *line);
/* Remove blanks at both ends of s in place; returns s. */
char *ex_strip(char *s);
/* Read input lines until one is quit or exit, or the input ends; other
 * lines are ignored. Returns 0, or the reader's negative errno. Coroutine
 * only. */
int ex_wait_quit(ex_env *env);
/* Spawn the usual console of a server: a non-daemon coroutine doing
 * ex_wait_quit, so the program runs until the user quits. */
int ex_spawn_console(ex_env *env);
/* A uniform random number in [0, 1) from the scheduler's backend (so a
 * simulated run stays reproducible). */
double ex_random(ex_env *env);
/* Free *p at the end of the run (ac_sched_atexit); returns p, or NULL (and
 * frees p) when that cannot be arranged. */
void *ex_keep(ex_env *env, void *p);

/* The real main: parse argv, create a scheduler on the epoll backend, call
 * fn, run until the program's non-daemon coroutines are done
 * (ac_sched_finish: then the node says goodbye), free everything. Returns
 * the process exit status. */
int ex_main(int argc, char **argv, const ex_prog *prog, ex_main_fn fn);

/* The examples: examples/<name>.c defines <name>_prog and <name>_main (its
 * main() is left out when built with -DAC_EXAMPLE_NO_MAIN, so that several
 * examples can run in one process, e.g. as simulated nodes). */
#define EX_DECLARE(name)                        \
	extern const ex_prog name##_prog;       \
	int name##_main(ex_env *env)
EX_DECLARE(tut_server);
EX_DECLARE(tut_client);
EX_DECLARE(remote_coro_server);
EX_DECLARE(remote_coro_client);
EX_DECLARE(remote_channel_server);
EX_DECLARE(remote_channel_client);
EX_DECLARE(chat_chan_server);
EX_DECLARE(chat_chan_client);
EX_DECLARE(chat_sock_server);
EX_DECLARE(chat_sock_client);
EX_DECLARE(rci_monitor_server);
EX_DECLARE(rci_monitor_client);
EX_DECLARE(walk_server);
EX_DECLARE(walk_client);

#endif /* AC_EXAMPLES_EXAMPLE_H */
