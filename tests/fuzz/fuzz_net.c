/* tests/fuzz/fuzz_net.c: the simulated world of the network fuzz targets
 * (see tests/fuzz/fuzz_net.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_net.h"
#include "sim/scenario.h"

typedef struct fz_run {
	fz_net net;
	int discover;
	int tls;
	void (*fn)(fz_net *net);
} fz_run;

static void fz_log(void *arg, int level, const char *text)
{
	(void)arg;
	(void)level;
	if (getenv("FUZZ_LOG"))
		fprintf(stderr, "%s\n", text);
}

/* "echo": answers every data message to its sender, for a while. */
static void fz_echo(void *arg)
{
	ac_msg *m;
	int i;
	(void)arg;
	if (ac_register("echo") < 0)
		return;
	for (i = 0; i < 64 && ac_receive(FZ_NET_TIME_NS / 1000000, &m) == 0; i++) {
		ac_ref from = ac_msg_from(m);
		ac_msg_free(m);
		ac_send_data(from, "echo", 4);
	}
}

/* "worker": an RCI body that returns at once. */
static void fz_worker(ac_msg *args)
{
	ac_msg_free(args);
}

static void fz_atk_body(void *arg)
{
	fz_run *r = arg;
	r->fn(&r->net);
	r->net.done = 1;
}

static void fz_srv_main(ac_sim_node *sn, void *arg)
{
	fz_run *r = arg;
	ac_sched *s = ac_sim_node_sched(sn);
	ac_node_opts o;
	ac_node *node;
	ac_spawn_opts eo = {.name = "echo"};
	ac_node_opts_init(&o);
	o.node = "10.0.0.1";
	o.tcp_port = FZ_TCP_PORT;
	o.udp_port = FZ_UDP_PORT;
	o.broadcast = "10.0.0.255";
	o.discover_peers = r->discover;
	o.secret = FZ_SECRET;
	o.dest_path = "/dest";
	o.name = "srv";
	if (r->tls)
		o.certfile = FZ_TLS_CERT;
	fz_check(ac_node_start(s, &o, &node) == 0);
	fz_check(ac_spawn(s, fz_echo, NULL, &eo, &r->net.echo) == 0);
	fz_check(ac_chan_new(s, "news", &r->net.news) == 0);
	fz_check(ac_chan_register(r->net.news, "news") == 0);
	fz_check(ac_rci_new(s, "worker", fz_worker, &r->net.worker) == 0);
	fz_check(ac_rci_register(r->net.worker) == 0);
	r->net.ready = 1;
}

static void fz_atk_main(ac_sim_node *sn, void *arg)
{
	fz_run *r = arg;
	ac_spawn_opts ao = {.name = "atk"};
	fz_check(ac_spawn(ac_sim_node_sched(sn), fz_atk_body, r, &ao, NULL) == 0);
}

static int fz_done(ac_sim *w, void *arg)
{
	fz_run *r = arg;
	(void)w;
	return r->net.done;
}

/* Files outside dest_path that no input may touch: a canary next to
 * /dest, and names the seeds use, which must only ever appear inside it. */
#define FZ_CANARY "/victim"
#define FZ_CANARY_TEXT "canary"

static void fz_canary_plant(ac_io *io)
{
	int h;
	fz_check(io->ops->file_open(io, FZ_CANARY, AC_FO_WRITE | AC_FO_CREATE, 0644, &h) == 0);
	fz_check(io->ops->file_pwrite(io, h, FZ_CANARY_TEXT, 6, 0) == 6);
	fz_check(io->ops->file_close(io, h) == 0);
}

static void fz_canary_check(ac_io *io)
{
	static const char *const never[] = {"/f.txt", "/d", "/victim.ac-tmp", "/x"};
	char buf[16];
	ac_stat st;
	size_t i;
	int h;
	fz_check(io->ops->file_stat(io, FZ_CANARY, 1, &st) == 0);
	fz_check(st.type == AC_FT_FILE && st.size == 6 && st.mode == 0644);
	fz_check(io->ops->file_open(io, FZ_CANARY, AC_FO_READ, 0, &h) == 0);
	fz_check(io->ops->file_pread(io, h, buf, sizeof(buf), 0) == 6);
	fz_check(memcmp(buf, FZ_CANARY_TEXT, 6) == 0);
	fz_check(io->ops->file_close(io, h) == 0);
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (io->ops->file_stat(io, never[i], 1, &st) == 0)
			fz_fail("%s exists outside dest_path", never[i]);
}

/* Put acsim --tls's certificate and key on sn's disk at FZ_TLS_CERT: the
 * runner's ac_scenario_certfile, through a run of ours with tls set (its
 * struct is the runner's, sim/scenario.h). */
static void fz_tls_put(ac_sim_node *sn)
{
	ac_scenario_run run;
	const char *path;
	memset(&run, 0, sizeof(run));
	run.tls = 1;
	path = ac_scenario_certfile(&run, sn);
	if (!path || strcmp(path, FZ_TLS_CERT) != 0)
		fz_fail("ac_scenario_certfile: %s", path ? path : run.why);
}

/* Start the attacker once the node is ready (it starts first). */
static void fz_world(fz_run *r, int attack, ac_sim_opts *so)
{
	ac_sim *w;
	ac_sim_node *srv, *atk;
	fz_check(ac_sim_new(so, &w) == 0);
	fz_check(ac_sim_node_add(w, "srv", &srv) == 0);
	fz_check(ac_sim_node_add(w, "atk", &atk) == 0);
	fz_check(ac_sim_node_set_main(srv, fz_srv_main, r) == 0);
	fz_canary_plant(ac_sim_node_io(srv));
	if (r->tls) {
		fz_tls_put(srv);
		fz_tls_put(atk);
	}
	while (!r->net.ready && ac_sim_run_for(w, 1000000) == AC_SIM_DONE)
		;
	fz_check(r->net.ready);
	if (attack) {
		fz_check(ac_sim_node_set_main(atk, fz_atk_main, r) == 0);
		ac_sim_run(w, fz_done, r);
		/* The attacker closed its sockets: let the node see the end of
		 * the connection and clean up after it (a real close, not only
		 * the world's teardown). */
		ac_sim_run_for(w, FZ_NET_LINGER_NS);
		fz_canary_check(ac_sim_node_io(srv));
	}
	ac_sim_free(w);
}

static void fz_opts(ac_sim_opts *so)
{
	ac_sim_opts_init(so);
	so->seed = 1;
	so->max_time_ns = FZ_NET_TIME_NS;
	so->max_steps = 200000;
	so->log_fn = fz_log;
	so->log_level = AC_LOG_DEBUG;
}

void fz_net_run(const uint8_t *in, size_t len, int discover,
                void (*fn)(fz_net *net))
{
	fz_net_run_ex(in, len, discover ? FZ_NET_DISCOVER : 0, fn);
}

void fz_net_run_ex(const uint8_t *in, size_t len, int flags,
                   void (*fn)(fz_net *net))
{
	ac_sim_opts so;
	fz_run r;
	memset(&r, 0, sizeof(r));
	fz_check(ac_addr_parse(&r.net.srv, "10.0.0.1", FZ_TCP_PORT) == 0);
	fz_check(ac_addr_parse(&r.net.srv_udp, "10.0.0.1", FZ_UDP_PORT) == 0);
	fz_check(ac_addr_parse(&r.net.atk, "10.0.0.2", FZ_TCP_PORT) == 0);
	r.net.in = in;
	r.net.len = len;
	r.discover = (flags & FZ_NET_DISCOVER) != 0;
	r.tls = (flags & FZ_NET_TLS) != 0;
	r.fn = fn;
	fz_opts(&so);
	fz_world(&r, 1, &so);
}

void fz_net_refs(ac_ref *echo, ac_ref *news, ac_ref *worker)
{
	ac_sim_opts so;
	fz_run r;
	memset(&r, 0, sizeof(r));
	fz_opts(&so);
	fz_world(&r, 0, &so);
	*echo = r.net.echo;
	*news = r.net.news;
	*worker = r.net.worker;
}

void fz_net_hmac(const void *p, size_t len, uint8_t mac[32])
{
	unsigned int ml = 32;
	fz_check(HMAC(EVP_sha256(), FZ_SECRET, (int)strlen(FZ_SECRET), p, len, mac,
	              &ml) != NULL);
	fz_check(ml == 32);
}
