/* tools/acsim_ex.h: running the example programs (examples/) as simulated
 * nodes — an ex_env whose input is a script (lines at given virtual times,
 * then end of input or silence) and whose output lines are captured for the
 * scenario's oracles. A node's env survives its crashes: on restart the
 * program starts again, with the script from the beginning and a mark in
 * the capture. */
#ifndef AC_TOOLS_ACSIM_EX_H
#define AC_TOOLS_ACSIM_EX_H

#include <asyncoro/sim.h>

#include "examples/example.h"

/* One scripted input line: after delay_ms (from the previous line or the
 * program's start), the line; a NULL line ends the input there. */
typedef struct acsim_line {
	int64_t delay_ms;
	const char *text;
} acsim_line;

/* A simulated program: the example, its node, arguments, script, capture. */
typedef struct acsim_prog {
	ac_sim_node *node;
	const ex_prog *prog;
	ex_main_fn main;
	/* Positional arguments and options (copied into the env at start). */
	const char *args[EX_ARGS_MAX];
	int nargs;
	const char *secret;
	const char *name;
	/* Option values by name (prog->opts), NULL-terminated pairs. */
	const char *opt[2 * EX_OPTS_MAX + 1];
	/* Input; with silent_end the input never ends (the program waits). */
	const acsim_line *script;
	int silent_end;
	/* Captured output lines (malloc'ed), in order; "--restart--" marks a
	 * restart. */
	char **out;
	size_t nout;
	size_t capout;
	/* Starts of the program, and the env of the current start. */
	int starts;
	int start_rc;
	ex_env env;
	size_t cursor;
	/* The node's address as text (the env points at it). */
	char addr[AC_ADDR_STRLEN];
} acsim_prog;

/* Make p the program of its node (p must outlive the world). */
int acsim_prog_install(acsim_prog *p);
/* Free the captured output. */
void acsim_prog_free(acsim_prog *p);
/* Number of captured lines that contain text. */
size_t acsim_prog_count(const acsim_prog *p, const char *text);

#endif
