/* tools/acsim_ex.c: the example programs on simulated nodes (acsim_ex.h).
 * The env is the one examples/example.c builds for the real backend, with
 * the node's scheduler, the node's virtual address as the node address and
 * the simulated subnet's broadcast address for discovery, a scripted line
 * reader and a capturing printer. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/acsim_ex.h"

static int acsim_ex_read_line(ex_env *env, char *buf, size_t len)
{
	acsim_prog *p = env->backend;
	const acsim_line *l;
	if (!p->script) {
		if (p->silent_end)
			ac_sleep(INT32_MAX);
		return 0;
	}
	l = &p->script[p->cursor];
	if (l->delay_ms > 0 && ac_sleep(l->delay_ms) < 0)
		return -ECANCELED;
	if (!l->text) {
		if (p->silent_end)
			ac_sleep(INT32_MAX);
		return 0;
	}
	p->cursor++;
	snprintf(buf, len, "%s", l->text);
	return 1;
}

static void acsim_ex_print(ex_env *env, const char *line)
{
	acsim_prog *p = env->backend;
	char *copy;
	if (p->nout == p->capout) {
		size_t cap = p->capout ? p->capout * 2 : 64;
		char **n = realloc(p->out, cap * sizeof(*n));
		if (!n)
			return;
		p->out = n;
		p->capout = cap;
	}
	copy = strdup(line);
	if (copy)
		p->out[p->nout++] = copy;
}

/* The node (re)starts: a fresh env on its fresh scheduler. */
static void acsim_ex_main(ac_sim_node *node, void *arg)
{
	acsim_prog *p = arg;
	ac_addr a;
	int i;
	if (p->starts++)
		acsim_ex_print(&p->env, "--restart--");
	ex_env_init(&p->env, p->prog);
	p->env.sched = ac_sim_node_sched(node);
	ac_sim_node_addr(node, &a);
	ac_addr_format_ip(&a, p->addr, sizeof(p->addr));
	p->env.node_opts.node = p->addr;
	p->env.node_opts.broadcast = "10.0.0.255";
	p->env.node_opts.heartbeat_ms = 1000;
	p->env.node_opts.peer_lost_ms = 5000;
	if (p->secret)
		p->env.node_opts.secret = p->secret;
	if (p->name)
		p->env.node_opts.name = p->name;
	for (i = 0; i < p->nargs && i < EX_ARGS_MAX; i++)
		p->env.args[i] = p->args[i];
	p->env.nargs = p->nargs;
	for (i = 0; p->opt[2 * i] && p->prog->opts; i++) {
		int k;
		for (k = 0; p->prog->opts[k].name; k++)
			if (!strcmp(p->prog->opts[k].name, p->opt[2 * i]))
				p->env.opt_val[k] = p->opt[2 * i + 1];
	}
	p->env.read_line = acsim_ex_read_line;
	p->env.print = acsim_ex_print;
	p->env.backend = p;
	p->cursor = 0;
	p->start_rc = p->main(&p->env);
}

int acsim_prog_install(acsim_prog *p)
{
	return ac_sim_node_set_main(p->node, acsim_ex_main, p);
}

void acsim_prog_free(acsim_prog *p)
{
	size_t i;
	for (i = 0; i < p->nout; i++)
		free(p->out[i]);
	free(p->out);
	p->out = NULL;
	p->nout = p->capout = 0;
}

size_t acsim_prog_count(const acsim_prog *p, const char *text)
{
	size_t i, n = 0;
	for (i = 0; i < p->nout; i++)
		n += strstr(p->out[i], text) != NULL;
	return n;
}
