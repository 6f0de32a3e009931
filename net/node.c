/* net/node.c: a node's life and its bookkeeping — options, start (listener,
 * discovery, heartbeat, initial peers), goodbye and stop, the table of peers
 * and their Online/Offline transitions with peer-status messages, the name
 * registry, and the public calls about peers (locate a node, peer, peers,
 * peer_status, close_peer).
 *
 * Liveness: every frame received refreshes a peer's last_rx; the heartbeat
 * coroutine pings peers it has not written to for heartbeat_ms and declares
 * a peer Offline (monitors told "node lost") once nothing arrived for
 * peer_lost_ms. A refused reconnect declares it Offline at once.
 */
#include "net/net.h"
#include "net/tls.h"

/* How long a reclaimed peer record stays allocated (see node_reclaim). */
#define NODE_GRAVE_NS (1000LL * 1000000)
/* Longest dest_path accepted (a temp dir plus our part fits too). */
#define NODE_PATH_MAX 1024

static void node_on_end(void *arg, ac_coro *c);
static void node_on_finish(void *arg);

void ac_node_opts_init(ac_node_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->discover_peers = 1;
	o->stream_send = 1;
	o->heartbeat_ms = 2000;
	o->peer_lost_ms = 10000;
	o->compress_min = 4096;
	o->secret = "";
	o->stop_timeout_ms = 5000;
	o->max_peers = 1024;
	o->max_peer_requests = 256;
	o->max_coro_inbound = (size_t)16 << 20;
	o->max_peer_inbound = (size_t)64 << 20;
	o->max_peer_watches = 65536;
	o->max_handshakes = 64;
	o->max_handshakes_per_addr = 16;
}

ac_node *ac_node_of(ac_sched *s)
{
	ac_node *n;
	if (!s || s->s_remote != &ac__net_remote_ops)
		return NULL;
	n = s->s_remote_arg;
	AC_ASSERT(n != NULL && n->n_sched == s); /* set together by ac_node_start */
	return n;
}

/* The scheduler's node, for calls without a node argument. */
static ac_node *node_cur(void)
{
	return ac_node_of(ac__tls_sched);
}

ac_addr ac_node_location(ac_node *n)
{
	return n->n_loc;
}

const char *ac_node_name(ac_node *n)
{
	return n->n_name;
}

/* ---- start ----------------------------------------------------------------------- */

static int node_addr(ac_node *n, const char *host, uint16_t port, ac_addr *out)
{
	ac_addr all[8];
	int i, k;
	if (host && ac_addr_parse(out, host, port) == 0)
		return 0;
	if (host) {
		k = n->n_io->ops->resolve(n->n_io, host, AC_AF_NONE, port, out, 1);
		return k < 0 ? k : 0;
	}
	k = n->n_io->ops->host_addrs(n->n_io, all, 8);
	for (i = 0; i < k; i++) {
		if (!ac_addr_is_loopback(&all[i])) {
			*out = all[i];
			out->port = port;
			return 0;
		}
	}
	return ac_addr_parse(out, "127.0.0.1", port);
}

static int node_options(ac_node *n, const ac_node_opts *o)
{
	int rc;
	if (o->name && !*o->name)
		return -EINVAL;
	if (o->name && strlen(o->name) > AC_NAME_MAX)
		return -ENAMETOOLONG;
	/* keyfile or cafile alone would be a plaintext node by mistake. */
	if (!o->certfile && (o->keyfile || o->cafile))
		return -EINVAL;
	if (o->certfile && !*o->certfile)
		return -EINVAL;
	rc = node_addr(n, o->node, o->tcp_port, &n->n_bind);
	if (rc < 0)
		return rc == -ENOENT ? -EINVAL : rc;
	n->n_udp_port = o->udp_port ? o->udp_port : AC_DEFAULT_UDP_PORT;
	n->n_discover = o->discover_peers;
	n->n_secret = ac__strdup(o->secret ? o->secret : "");
	n->n_secret_len = n->n_secret ? strlen(n->n_secret) : 0;
	n->n_max_file = o->max_file_size > 0 ? o->max_file_size : 0;
	n->n_stream_send = o->stream_send;
	n->n_hb_ns = (o->heartbeat_ms > 0 ? o->heartbeat_ms : 2000) * 1000000;
	n->n_lost_ns = (o->peer_lost_ms > 0 ? o->peer_lost_ms : 10000) * 1000000;
	if (n->n_lost_ns < 2 * n->n_hb_ns)
		n->n_lost_ns = 2 * n->n_hb_ns;
	n->n_compress_min = o->compress_min;
	n->n_stop_ns = (o->stop_timeout_ms >= 0 ? o->stop_timeout_ms : 5000) *
	               1000000;
	if (o->max_peers < 0 || o->max_peers > AC_WIRE_PEERS_MAX)
		return -EINVAL;
	n->n_max_peers = o->max_peers ? (uint32_t)o->max_peers : 1024;
	if (o->max_peer_requests < 0)
		return -EINVAL;
	n->n_max_requests = o->max_peer_requests ? (uint32_t)o->max_peer_requests
	                                         : 256;
	n->n_nlog_window_ns = 10LL * 1000000000;
	n->n_max_watches = o->max_peer_watches ? o->max_peer_watches : 65536;
	if (o->max_handshakes < 0 || o->max_handshakes_per_addr < 0)
		return -EINVAL;
	n->n_max_hs = o->max_handshakes ? (uint32_t)o->max_handshakes : 64;
	n->n_max_hs_addr = o->max_handshakes_per_addr ? (uint32_t)o->max_handshakes_per_addr
	                                              : 16;
	n->n_max_coro_in = o->max_coro_inbound ? o->max_coro_inbound
	                                       : (size_t)16 << 20;
	n->n_max_peer_in = o->max_peer_inbound ? o->max_peer_inbound
	                                       : (size_t)64 << 20;
	n->n_caps = o->compress_min ? AC_CAP_ZLIB : 0;
	if (o->broadcast) {
		if (ac_addr_parse(&n->n_bcast, o->broadcast, n->n_udp_port) < 0)
			return -EINVAL;
	} else if (ac_addr_is_loopback(&n->n_bind) &&
	           n->n_bind.family == AC_AF_INET) {
		ac_addr_parse(&n->n_bcast, "127.255.255.255", n->n_udp_port);
	} else {
		ac_addr_init(&n->n_bcast); /* no broadcast unless configured */
	}
	if (o->dest_path && !*o->dest_path)
		return -EINVAL;
	if (o->dest_path && strlen(o->dest_path) >= NODE_PATH_MAX)
		return -ENAMETOOLONG;
	if (!n->n_secret)
		return -ENOMEM;
	if (o->certfile && (rc = ac__tls_ctx_new(n, o, &n->n_tls)) < 0)
		return rc;
	if (n->n_tls)
		n->n_caps |= AC_CAP_TLS;
	AC_ASSERT(n->n_max_peers >= 1 && n->n_max_peers <= AC_WIRE_PEERS_MAX);
	AC_ASSERT(n->n_udp_port != 0 && n->n_secret_len == strlen(n->n_secret));
	return 0;
}

/* Copy name into out (NODE_PATH_MAX bytes) as one safe path component:
 * bytes other than letters, digits, '.', '-' and '_' become '_', and so
 * does a leading '.' (no "..", no hidden directory). */
static void node_path_component(const char *name, char *out)
{
	size_t i;
	AC_ASSERT(name[0] != '\0'); /* a node always has a name */
	for (i = 0; name[i] && i < AC_NAME_MAX; i++) {
		unsigned char c = (unsigned char)name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		         (c == '.' && i > 0);
		out[i] = ok ? (char)c : '_';
	}
	out[i] = '\0';
	AC_ASSERT(i > 0 && i <= AC_NAME_MAX && out[0] != '.');
}

/* dest_path, once the name is known: the option, else
 * <temp dir>/asyncoro/<name as a path component>. */
static int node_dest(ac_node *n, const ac_node_opts *o)
{
	char buf[NODE_PATH_MAX + AC_NAME_MAX + 16], comp[AC_NAME_MAX + 1];
	if (o->dest_path) {
		snprintf(buf, sizeof(buf), "%s", o->dest_path);
	} else {
		node_path_component(n->n_name, comp);
		snprintf(buf, sizeof(buf), "%s/asyncoro/%s",
		         n->n_io->ops->temp_dir(n->n_io), comp);
	}
	n->n_dest = ac__strdup(buf);
	return n->n_dest ? 0 : -ENOMEM;
}

static int node_listen(ac_node *n, const ac_node_opts *o)
{
	char text[AC_ADDR_STRLEN];
	int rc = ac_sock_listen(n->n_sched, &n->n_bind, 128, 0, &n->n_listener);
	if (rc < 0)
		return rc;
	rc = ac_sock_local_addr(n->n_listener, &n->n_bind);
	if (rc < 0)
		return rc;
	n->n_loc = n->n_bind;
	if (o->ext_ip_addr) {
		ac_addr ext;
		if (ac_addr_parse(&ext, o->ext_ip_addr, n->n_bind.port) < 0)
			return -EINVAL;
		n->n_loc = ext;
	}
	if (o->name)
		snprintf(n->n_name, sizeof(n->n_name), "%s", o->name);
	else
		ac_addr_format(&n->n_loc, n->n_name, sizeof(n->n_name));
	/* Peers find us at n_loc: its port is the listener's. */
	AC_ASSERT(n->n_listener && n->n_loc.port == n->n_bind.port);
	AC_ASSERT(n->n_name[0] != '\0');
	ac_addr_format(&n->n_loc, text, sizeof(text));
	ac__nlog(n, AC_LOG_INFO, "node \"%s\" at %s (udp %u)", n->n_name, text,
	         n->n_udp_port);
	return 0;
}

static void node_acceptor(void *arg);
static void node_heartbeat(void *arg);

/* Make the dest_path directory (and its parents). A copy on the stack (the
 * path is at most node_dest's buffer), so that nothing here can fail for
 * lack of memory and leave the node without its directory. */
static void node_mkdirs(ac_node *n, const char *path)
{
	char buf[NODE_PATH_MAX + AC_NAME_MAX + 16];
	size_t i;
	snprintf(buf, sizeof(buf), "%s", path);
	if (!buf[0])
		return; /* the first transfer reports it */
	for (i = 1; buf[i]; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		n->n_io->ops->file_mkdir(n->n_io, buf, 0700);
		buf[i] = '/';
	}
	n->n_io->ops->file_mkdir(n->n_io, buf, 0700);
}

static void node_peer_list_free(void *arg)
{
	char **list = arg;
	int i;
	for (i = 0; list[i]; i++)
		ac__free(list[i]);
	ac__free(list);
}

static void node_initial_peers(void *arg)
{
	char **list = arg;
	ac_node *n = node_cur();
	int i;
	AC_ASSERT(n != NULL); /* a service of the node, ended before it is freed */
	/* Freed however the coroutine ends (it may be terminated mid-contact). */
	if (ac_coro_defer(node_peer_list_free, list) < 0) {
		ac__nlog(n, AC_LOG_WARN, "initial peers: %s", ac_strerror(-ENOMEM));
		node_peer_list_free(list);
		return;
	}
	for (i = 0; list[i]; i++) {
		int rc = ac_node_peer(n, list[i], 0, n->n_stream_send, 0, 5000);
		if (rc < 0)
			ac__nlog(n, AC_LOG_WARN, "peer %s: %s", list[i], ac_strerror(rc));
	}
}

/* End service coroutine *r, which never ran (the node's hooks are not set). */
static void node_unspawn(ac_node *n, ac_ref *r)
{
	ac__coro_kill(ac__obj_get(n->n_sched, r->id, AC_REF_CORO), AC_EXIT_TERMINATED);
	*r = ac_ref_null();
}

/* Spawn the acceptor, the heartbeat and (with discover_peers) discovery;
 * they first run once the node is in place. 0, or -ENOMEM with none left. */
static int node_services(ac_node *n)
{
	ac_spawn_opts so = {.name = "ac-acceptor", .daemon = 1};
	ac_sched *s = n->n_sched;
	int rc = ac__spawn_service(s, node_acceptor, n, &so, &n->n_acceptor);
	if (rc < 0)
		return rc;
	so.name = "ac-heartbeat";
	rc = ac__spawn_service(s, node_heartbeat, n, &so, &n->n_heartbeat);
	if (rc < 0) {
		node_unspawn(n, &n->n_acceptor);
		return rc;
	}
	if (n->n_discover)
		rc = ac__discover_start(n);
	if (rc < 0) {
		node_unspawn(n, &n->n_heartbeat);
		node_unspawn(n, &n->n_acceptor);
	}
	return rc;
}

/* Contact o's peers from a service coroutine (a copy of the list). */
static void node_initial_peers_start(ac_node *n, const ac_node_opts *o)
{
	ac_spawn_opts so = {.name = "ac-peers", .daemon = 1,
	                    .arg_free = node_peer_list_free};
	char **list = ac__calloc((size_t)o->npeers + 1, sizeof(char *));
	int i;
	for (i = 0; list && i < o->npeers; i++)
		if (!(list[i] = ac__strdup(o->peers[i]))) {
			node_peer_list_free(list);
			list = NULL;
		}
	if (list && ac__spawn_service(n->n_sched, node_initial_peers, list, &so, NULL) < 0) {
		node_peer_list_free(list); /* never started: arg_free does not run */
		list = NULL;
	}
	if (!list)
		ac__nlog(n, AC_LOG_WARN, "initial peers: %s", ac_strerror(-ENOMEM));
}

/* Warn loudly about a secret a stranger can guess (see dis.h, secret). */
static void node_secret_warn(ac_node *n)
{
	if (n->n_secret_len == 0)
		ac__nlog(n, AC_LOG_WARN, "WEAK SECRET: the secret is empty: any node "
		         "with an empty secret becomes a peer and may run anything here");
	else if (n->n_secret_len < AC_SECRET_MIN)
		ac__nlog(n, AC_LOG_WARN, "WEAK SECRET: the secret is %zu bytes, shorter "
		         "than %d: a stranger who connects once can test guesses of it "
		         "offline; use at least %d random bytes", n->n_secret_len,
		         AC_SECRET_MIN, AC_SECRET_MIN);
}

int ac_node_start(ac_sched *s, const ac_node_opts *o, ac_node **out)
{
	ac_node_opts def;
	ac_node *n;
	int rc;
	if (!s || !out)
		return -EINVAL;
	if (s->s_remote)
		return -EALREADY;
	if (!o) {
		ac_node_opts_init(&def);
		o = &def;
	}
	n = ac__calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->n_sched = s;
	n->n_io = s->s_io;
	rc = node_options(n, o);
	if (rc == 0) /* a record notes the secret's fingerprint; a replay checks it */
		ac__io_note_secret(n->n_io, n->n_secret, n->n_secret_len);
	if (rc == 0)
		rc = node_listen(n, o);
	if (rc == 0)
		rc = node_dest(n, o);
	if (rc == 0)
		rc = node_services(n);
	if (rc < 0) {
		ac__nlog(n, AC_LOG_ERROR, "node start failed: %s", ac_strerror(rc));
		if (n->n_listener)
			ac_sock_close(n->n_listener);
		ac__free(n->n_secret);
		ac__free(n->n_dest);
		ac__tls_ctx_free(n->n_tls);
		ac__free(n);
		return rc;
	}
	node_secret_warn(n);
	node_mkdirs(n, n->n_dest);
	ac_waitq_init(&n->n_peer_wq);
	n->n_hs_tail = &n->n_hs;
	n->n_reserve_h = -1;
	ac_waitq_init(&n->n_notify_wq);
	n->n_grave_tail = &n->n_grave;
	ac_sched_set_location(s, &n->n_loc);
	s->s_remote = &ac__net_remote_ops;
	s->s_remote_arg = n;
	s->s_on_end = node_on_end;
	s->s_on_end_arg = n;
	s->s_on_finish = node_on_finish;
	s->s_on_finish_arg = n;
	s->s_on_free = (void (*)(void *))ac_node_free;
	s->s_on_free_arg = n;
	if (o->npeers > 0)
		node_initial_peers_start(n, o);
	AC_ASSERT(ac_node_of(s) == n && n->n_npeers == 0);
	AC_ASSERT(n->n_grave == NULL && n->n_grave_tail == &n->n_grave);
	*out = n;
	return 0;
}

/* ---- accepting -------------------------------------------------------------------- */

/* A handshake in progress on an accepted connection: on n_hs, oldest
 * first, from its coroutine's start until its end (a defer unlinks it). */
typedef struct node_hs {
	struct node_hs *h_next;
	struct node_hs **h_prevp;
	ac_node *h_node;
	ac_sock *h_k; /* NULL once closed or handed to a peer */
	ac_addr h_from;
	ac_ref h_coro;
	int h_evicted; /* being ended: no longer counted in n_nhs */
	/* Past the proofs (ac__node_hs_authed): no longer counted in n_nhs,
	 * never evicted. */
	int h_authed;
} node_hs;

/* The coroutine ended: a connection still ours (it was terminated) is
 * closed unless a peer took it. */
static void node_hs_end(void *arg)
{
	node_hs *h = arg;
	ac_node *n = h->h_node;
	uint32_t i;
	if (h->h_k) {
		for (i = 0; i < n->n_npeers && n->n_peers[i]->p_conn != h->h_k; i++)
			;
		if (i == n->n_npeers)
			ac_sock_close(h->h_k);
	}
	AC_ASSERT(h->h_evicted || h->h_authed || n->n_nhs > 0);
	if (!h->h_evicted && !h->h_authed)
		n->n_nhs--;
	*h->h_prevp = h->h_next;
	if (h->h_next)
		h->h_next->h_prevp = h->h_prevp;
	else
		n->n_hs_tail = h->h_prevp;
	ac__free(h);
}

static void node_handshake_in(void *arg)
{
	node_hs *h = arg;
	ac_node *n = node_cur();
	int rc;
	AC_ASSERT(n != NULL && h->h_k != NULL);
	if (ac_coro_defer(node_hs_end, h) < 0) {
		ac_sock_close(h->h_k);
		h->h_k = NULL;
		node_hs_end(h);
		return;
	}
	rc = ac__handshake(n, h->h_k, 0, NULL, NULL, -1);
	if (rc < 0)
		ac_sock_close(h->h_k);
	h->h_k = NULL;
}

void ac__node_hs_authed(ac_node *n, ac_sock *k)
{
	node_hs *h;
	for (h = n->n_hs; h; h = h->h_next) {
		/* Running, so not evicted (an eviction ends it at once). */
		if (h->h_k == k && !h->h_authed) {
			AC_ASSERT(!h->h_evicted && n->n_nhs > 0);
			h->h_authed = 1;
			n->n_nhs--;
			return;
		}
	}
}

/* Close handshake h (the oldest over a bound) by ending its coroutine. */
static void node_hs_evict(ac_node *n, node_hs *h, const char *bound)
{
	char text[AC_ADDR_STRLEN];
	AC_ASSERT(!h->h_evicted && !h->h_authed && n->n_nhs > 0);
	h->h_evicted = 1;
	n->n_nhs--;
	n->n_hs_evicted++;
	ac__nlog_class_v(n, AC__NLOG_HANDSHAKE, AC_LOG_WARN,
	               "handshakes in progress over %s: closed the oldest, from %s",
	               bound, ac_addr_format(&h->h_from, text, sizeof(text)));
	ac_terminate(h->h_coro);
}

/* 1 when a and b are the same address, ports aside. */
static int node_same_ip(const ac_addr *a, const ac_addr *b)
{
	ac_addr x = *a;
	x.port = b->port;
	return ac_addr_eq(&x, b);
}

/* Make room for one more handshake from addr: at most n_max_hs - 1 in
 * all and n_max_hs_addr - 1 from addr remain (oldest closed first). */
static void node_hs_room(ac_node *n, const ac_addr *from)
{
	node_hs *h, *oldest = NULL;
	uint32_t same = 0;
	node_hs *first = NULL;
	for (h = n->n_hs; h; h = h->h_next) {
		if (h->h_evicted || h->h_authed)
			continue;
		if (!first)
			first = h;
		if (node_same_ip(&h->h_from, from) && same++ == 0)
			oldest = h;
	}
	if (oldest && same >= n->n_max_hs_addr)
		node_hs_evict(n, oldest, "max_handshakes_per_addr");
	else if (first && n->n_nhs >= n->n_max_hs)
		node_hs_evict(n, first, "max_handshakes");
}

/* Start the handshake of accepted connection k (closed on failure). */
static void node_hs_start(ac_node *n, ac_sock *k)
{
	ac_spawn_opts so = {.name = "ac-handshake", .daemon = 1,
	                    .arg_free = node_hs_end}; /* ended before it ran */
	node_hs *h = ac__calloc(1, sizeof(*h));
	if (!h) {
		ac_sock_close(k);
		return;
	}
	if (ac_sock_peer_addr(k, &h->h_from) < 0)
		ac_addr_init(&h->h_from);
	node_hs_room(n, &h->h_from);
	h->h_node = n;
	h->h_k = k;
	if (ac__spawn_service(n->n_sched, node_handshake_in, h, &so, &h->h_coro) < 0) {
		ac_sock_close(k);
		ac__free(h);
		return;
	}
	h->h_prevp = n->n_hs_tail; /* linked before it can run or end */
	*n->n_hs_tail = h;
	n->n_hs_tail = &h->h_next;
	n->n_nhs++;
}

/* Take (or give back, on) the reserve descriptor. */
static void node_reserve(ac_node *n, int on)
{
	ac_io *io = n->n_io;
	if (on && n->n_reserve_h < 0 &&
	    io->ops->file_open(io, "/dev/null", AC_FO_READ, 0, &n->n_reserve_h) < 0)
		n->n_reserve_h = -1;
	if (!on && n->n_reserve_h >= 0) {
		io->ops->file_close(io, n->n_reserve_h);
		n->n_reserve_h = -1;
	}
}

static void node_reserve_off(void *arg)
{
	node_reserve(arg, 0);
}

/* accept failed for lack of descriptors (rc): log the first of this
 * episode, then give up the reserve to accept one connection. When the
 * reserve cannot be taken back, no descriptor is left for it: close it at
 * once (so the backlog drains instead of the acceptor spinning on it) and
 * pause a little. When it can, descriptors freed up meanwhile: the
 * connection is returned to be served like any other. */
static ac_sock *node_nofile(ac_node *n, int rc)
{
	ac_sock *k;
	if (n->n_nofile++ == 0)
		ac__nlog(n, AC_LOG_WARN, "accept: %s (%u handshakes in progress, %u "
		         "peers): new connections are closed at once until "
		         "descriptors free up", ac_strerror(rc), (unsigned)n->n_nhs,
		         (unsigned)n->n_npeers);
	node_reserve(n, 0);
	if (ac_sock_accept(n->n_listener, 10, &k) != 0)
		k = NULL;
	node_reserve(n, 1);
	if (k && n->n_reserve_h >= 0)
		return k;
	if (k) {
		ac_sock_close(k);
		node_reserve(n, 1);
	}
	ac_sleep(10);
	return NULL;
}

static void node_acceptor(void *arg)
{
	ac_node *n = arg;
	AC_ASSERT(ac_node_of(ac__tls_sched) == n);
	if (ac_coro_defer(node_reserve_off, n) == 0) /* however it ends */
		node_reserve(n, 1);
	while (!n->n_stopped) {
		ac_sock *k = NULL;
		int rc = ac_sock_accept(n->n_listener, AC_FOREVER, &k);
		if (rc == -EMFILE || rc == -ENFILE) {
			if ((k = node_nofile(n, rc)) == NULL)
				continue;
		} else if (rc < 0) {
			if (n->n_stopped || rc == -EBADF || rc == -ECANCELED)
				break;
			ac__nlog(n, AC_LOG_WARN, "accept: %s", ac_strerror(rc));
			ac_sleep(100);
			continue;
		}
		AC_ASSERT(k != NULL);
		if (n->n_nofile) {
			ac__nlog(n, AC_LOG_WARN, "too many open files: %llu accepts "
			         "failed, those connections were closed",
			         (unsigned long long)n->n_nofile);
			n->n_nofile = 0;
		}
		node_hs_start(n, k);
	}
}

/* ---- peers ------------------------------------------------------------------------------- */

#ifdef AC_DEBUG
/* 1 when the peer table is well formed (debug checks, O(n)): within its
 * capacity and max_peers, records of this node in one of the three states,
 * each with its outbound accounting right. */
static int node_table_ok(const ac_node *n)
{
	uint32_t i;
	if (n->n_npeers > n->n_cappeers || n->n_npeers > n->n_max_peers)
		return 0;
	for (i = 0; i < n->n_npeers; i++) {
		const ac_peer *p = n->n_peers[i];
		if (p->p_node != n || p->p_state < AC__PEER_NEW ||
		    p->p_state > AC__PEER_OFFLINE || !ac__peer_queue_ok(p))
			return 0;
	}
	return 1;
}

/* How many records of the table are at loc (one location, one record). */
static uint32_t node_peers_at(const ac_node *n, const ac_addr *loc)
{
	uint32_t i, k = 0;
	for (i = 0; i < n->n_npeers; i++)
		k += ac_addr_eq(&n->n_peers[i]->p_loc, loc) != 0;
	return k;
}

/* 1 when the reclaimed records are in order, oldest first, all offline to
 * the table, and n_grave_tail ends the list. */
static int node_grave_ok(const ac_node *n)
{
	ac_peer *const *pp = &n->n_grave;
	int64_t prev = INT64_MIN;
	for (; *pp; pp = &(*pp)->p_grave_next) {
		if ((*pp)->p_grave_ns < prev || (*pp)->p_node != n)
			return 0;
		prev = (*pp)->p_grave_ns;
	}
	return pp == n->n_grave_tail;
}
#endif

ac_peer *ac__peer_find(ac_node *n, const ac_addr *loc)
{
	uint32_t i;
	AC_ASSERT(n->n_npeers <= n->n_cappeers && n->n_npeers <= n->n_max_peers);
	for (i = 0; i < n->n_npeers; i++) {
		ac_peer *p = n->n_peers[i];
		if (ac_addr_eq(&p->p_loc, loc)) {
			AC_ASSERT(p->p_node == n);
			return p;
		}
	}
	return NULL;
}

/* 1 when p's record may be freed: the peer is gone (offline, or never
 * reached and its last attempt failed) and nothing refers to the record —
 * no connection or reader, no queued frame, no request in either
 * direction, no watch (going offline turned those into "node lost"), and
 * its writer waits idle (it is ended with the record). Coroutines that
 * waited for a request of p's do not touch p after the wait. */
static int node_peer_reclaimable(const ac_node *n, const ac_peer *p)
{
	int gone = p->p_state == AC__PEER_OFFLINE ||
	           (p->p_state == AC__PEER_NEW && p->p_last_err < 0);
	AC_ASSERT(p->p_node == n && ac__peer_queue_ok(p));
	if (!gone || n->n_leaving || n->n_stopped)
		return 0;
	return !p->p_conn && !p->p_pending && !p->p_inflight && !p->p_watches.rs_n &&
	       !p->p_olen && !p->p_sending && p->p_writer_idle &&
	       ac_is_alive(p->p_reader) != 1;
}

static void node_peer_free(ac_peer *p)
{
	AC_ASSERT(!p->p_conn && !p->p_pending && !p->p_sending);
	/* Nothing new refers to a reclaimed record: no reader, so no request
	 * of its served here, and no watch (only table peers get those). */
	AC_ASSERT(!p->p_watches.rs_n && !p->p_inflight);
	ac__free(p->p_obuf);
	ac__free(p->p_wbuf);
	ac__refset_free(&p->p_watches);
	ac__refset_free(&p->p_monitoring);
	ac__inacct_release(p->p_in);
	ac__rci_detach(p);
	ac__free(p);
}

/* Free the records of peers that are gone. A record leaves the table at
 * once (nothing finds it any more: the peer is unknown again) and is freed
 * NODE_GRAVE_NS later, so a coroutine that still holds it from before a
 * wait — woken, but not yet run — finds a valid record of a peer that is
 * offline. Returns how many left the table. */
static uint32_t node_reclaim(ac_node *n)
{
	int64_t now = ac_sched_now_ns(n->n_sched);
	uint32_t i, k = 0, gone = 0;
	while (n->n_grave && now - n->n_grave->p_grave_ns >= NODE_GRAVE_NS) {
		ac_peer *p = n->n_grave;
		n->n_grave = p->p_grave_next;
		node_peer_free(p);
	}
	if (!n->n_grave)
		n->n_grave_tail = &n->n_grave;
	for (i = 0; i < n->n_npeers; i++) {
		ac_peer *p = n->n_peers[i];
		if (!node_peer_reclaimable(n, p)) {
			n->n_peers[k++] = p;
			continue;
		}
		if (ac_is_alive(p->p_writer) == 1)
			ac_terminate(p->p_writer);
		/* What the record leaves behind: nothing that refers to it. */
		AC_ASSERT(ac_is_alive(p->p_writer) != 1 && ac_is_alive(p->p_reader) != 1);
		AC_ASSERT(!p->p_conn && !p->p_pending && !p->p_watches.rs_n && !p->p_olen);
		p->p_state = AC__PEER_OFFLINE;
		p->p_grave_ns = now;
		/* Oldest first: appended at the tail. */
		p->p_grave_next = NULL;
		*n->n_grave_tail = p;
		n->n_grave_tail = &p->p_grave_next;
		gone++;
	}
	n->n_npeers = k;
	AC_ASSERT(k + gone == i);
	AC_ASSERT(*n->n_grave_tail == NULL);
	AC_DASSERT(node_grave_ok(n) && node_table_ok(n));
	return gone;
}

int ac__peer_table_full(ac_node *n)
{
	AC_ASSERT(n->n_npeers <= n->n_max_peers);
	if (n->n_npeers < n->n_max_peers)
		return 0;
	node_reclaim(n);
	AC_ASSERT(n->n_npeers <= n->n_max_peers);
	return n->n_npeers >= n->n_max_peers;
}

ac_peer *ac__peer_get(ac_node *n, const ac_addr *loc)
{
	ac_peer *p = ac__peer_find(n, loc);
	if (p)
		return p;
	if (ac__peer_table_full(n))
		return NULL;
	if (n->n_npeers == n->n_cappeers) {
		uint32_t cap = n->n_cappeers ? n->n_cappeers * 2 : 8;
		ac_peer **np = ac__realloc(n->n_peers, cap * sizeof(*np));
		if (!np)
			return NULL;
		n->n_peers = np;
		n->n_cappeers = cap;
	}
	p = ac__calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->p_node = n;
	p->p_loc = *loc;
	p->p_stream_send = n->n_stream_send;
	ac_waitq_init(&p->p_wq);
	ac_addr_format(loc, p->p_name, sizeof(p->p_name));
	n->n_peers[n->n_npeers++] = p;
	if (ac__peer_start(p) < 0) {
		n->n_npeers--;
		ac__free(p);
		return NULL;
	}
	AC_ASSERT(n->n_npeers <= n->n_max_peers && n->n_npeers <= n->n_cappeers);
	AC_ASSERT(p->p_state == AC__PEER_NEW && !p->p_conn && !ac_ref_is_null(p->p_writer));
	AC_DASSERT(node_peers_at(n, loc) == 1);
	return p;
}

static void node_status_send(ac_node *n, const ac_peer *p, int status)
{
	uint32_t i;
	AC_ASSERT(status == AC_PEER_ONLINE || status == AC_PEER_OFFLINE);
	AC_ASSERT(p->p_node == n && n->n_nstatus <= n->n_capstatus);
	for (i = 0; i < n->n_nstatus; i++) {
		ac_msg *m = ac_msg_pack("[l s i]", &p->p_loc, p->p_name,
		                        (int64_t)status);
		if (!m)
			continue;
		m->m_kind = AC_MSG_PEER;
		m->m_aux = (uint16_t)status;
		if (ac__send_msg(n->n_sched, n->n_status[i], m) < 0)
			ac_msg_free(m);
	}
}

void ac__peer_online(ac_peer *p)
{
	ac_node *n = p->p_node;
	char text[AC_ADDR_STRLEN];
	/* New or back: a handshake told the incarnation (never 0). */
	AC_ASSERT(p->p_state != AC__PEER_ONLINE && p->p_inc != 0);
	p->p_state = AC__PEER_ONLINE;
	p->p_failures = 0;
	p->p_last_rx = ac_sched_now_ns(n->n_sched);
	ac__nlog(n, AC_LOG_INFO, "peer \"%s\" at %s online", p->p_name,
	         ac_addr_format(&p->p_loc, text, sizeof(text)));
	node_status_send(n, p, AC_PEER_ONLINE);
	ac_waitq_wake(&n->n_peer_wq, INT32_MAX, 1);
}

void ac__peer_offline(ac_peer *p, int lost)
{
	ac_node *n = p->p_node;
	char text[AC_ADDR_STRLEN];
	int was = p->p_state;
	p->p_state = AC__PEER_OFFLINE;
	ac__peer_disconnect(p);
	p->p_sent_total += p->p_olen;
	p->p_olen = 0;
	ac__peer_fail_pending(p, -EHOSTUNREACH);
	ac__remote_end_requests(p);
	ac__rci_detach(p);
	ac__watch_node_lost(p);
	ac__chan_drop_node(n->n_sched, &p->p_loc);
	/* Offline leaves nothing in flight: no connection, queue, request or
	 * watch (those became "node lost"). */
	AC_ASSERT(p->p_state == AC__PEER_OFFLINE && !p->p_conn && !p->p_olen);
	AC_ASSERT(!p->p_pending && !p->p_watches.rs_n && ac__peer_queue_ok(p));
	if (was != AC__PEER_ONLINE)
		return;
	ac__nlog(n, AC_LOG_INFO, "peer \"%s\" at %s %s", p->p_name,
	         ac_addr_format(&p->p_loc, text, sizeof(text)),
	         lost ? "lost" : "left");
	node_status_send(n, p, AC_PEER_OFFLINE);
	ac_waitq_wake(&n->n_peer_wq, INT32_MAX, 1);
}

static void node_heartbeat(void *arg)
{
	ac_node *n = arg;
	while (!n->n_stopped) {
		int64_t now;
		uint32_t i;
		ac_sleep(n->n_hb_ns / 2000000 > 0 ? n->n_hb_ns / 2000000 : 1);
		now = ac_sched_now_ns(n->n_sched);
		for (i = 0; i < n->n_npeers; i++) {
			ac_peer *p = n->n_peers[i];
			if (p->p_state != AC__PEER_ONLINE)
				continue;
			if (now - p->p_last_rx > n->n_lost_ns) {
				ac__peer_offline(p, 1);
				continue;
			}
			if (now - p->p_last_tx >= n->n_hb_ns && p->p_olen == 0)
				ac__peer_queue(p, AC_WT_PING, 0, 0, NULL, 0, NULL);
		}
		node_reclaim(n);
		ac__nlog_flush(n);
		AC_ASSERT(n->n_npeers <= n->n_max_peers);
	}
}

/* ---- goodbye and stop ------------------------------------------------------------------ */

/* Wait (until deadline) for the exit notices of ended coroutines to reach
 * monitors on other nodes: they must arrive before our goodbye, or those
 * monitors would hear "node lost". */
static void node_wait_notices(ac_node *n, int64_t deadline_ns)
{
	AC_ASSERT(ac__cur() != NULL && n->n_notifying >= 0); /* it waits */
	while (n->n_notifying > 0) {
		int64_t left = (deadline_ns - ac_sched_now_ns(n->n_sched)) / 1000000;
		if (left <= 0) {
			ac__nlog(n, AC_LOG_WARN, "stopping with %d exit notice%s not "
			         "acknowledged", n->n_notifying,
			         n->n_notifying == 1 ? "" : "s");
			return;
		}
		ac_waitq_wait(&n->n_notify_wq, left);
	}
}

static void node_goodbye(ac_node *n, int64_t deadline_ns)
{
	uint32_t i;
	AC_ASSERT(ac__cur() != NULL); /* it sleeps */
	n->n_leaving = 1; /* peers now close on us: nothing to report */
	for (i = 0; i < n->n_npeers; i++) {
		ac_peer *p = n->n_peers[i];
		if (p->p_state == AC__PEER_ONLINE && p->p_conn)
			ac__peer_queue(p, AC_WT_BYE, 0, 0, NULL, 0, NULL);
	}
	/* Let the writers flush (bounded). */
	for (i = 0; i < n->n_npeers; i++) {
		ac_peer *p = n->n_peers[i];
		while (p->p_conn && p->p_olen > 0 &&
		       ac_sched_now_ns(n->n_sched) < deadline_ns)
			ac_sleep(1);
	}
}

/* The orderly stop (see ac_node_stop): exit notices, goodbye, then the
 * services end. Runs in a coroutine. */
static void node_shutdown(ac_node *n)
{
	uint32_t i;
	int64_t deadline_ns;
	if (n->n_stopped || n->n_stopping)
		return; /* done, or under way in another coroutine */
	deadline_ns = ac_sched_now_ns(n->n_sched) + n->n_stop_ns;
	n->n_stopping = 1; /* notices to unreachable nodes give up */
	node_wait_notices(n, deadline_ns);
	node_goodbye(n, deadline_ns);
	n->n_stopped = 1;
	for (i = 0; i < n->n_npeers; i++) {
		ac_peer *p = n->n_peers[i];
		p->p_state = AC__PEER_OFFLINE;
		ac__peer_disconnect(p);
		ac__peer_fail_pending(p, -EHOSTUNREACH);
		AC_ASSERT(p->p_node == n && !p->p_conn && !p->p_pending);
		ac_waitq_wake(&p->p_wq, INT32_MAX, 1);
	}
	if (n->n_listener)
		ac_sock_close(n->n_listener);
	n->n_listener = NULL;
	if (n->n_udp)
		ac_sock_close(n->n_udp);
	n->n_udp = NULL;
	ac_waitq_wake(&n->n_peer_wq, INT32_MAX, 1);
	ac_waitq_wake(&n->n_notify_wq, INT32_MAX, 1);
	AC_ASSERT(n->n_stopped && n->n_leaving && !n->n_listener && !n->n_udp);
}

static void node_stop_coro(void *arg)
{
	node_shutdown(arg);
}

int ac_node_stop(ac_node *n)
{
	ac_sched *s;
	if (!n)
		return -EINVAL;
	s = n->n_sched;
	if (n->n_stopped)
		return 0;
	if (s->s_cur) {
		node_shutdown(n);
		/* Stopped, or another coroutine's stop is saying goodbye. */
		AC_ASSERT(n->n_stopped || n->n_leaving);
		return 0;
	}
	/* From main: run the goodbye as a (non-daemon) coroutine. */
	if (ac__spawn_service(s, node_stop_coro, n, NULL, NULL) < 0)
		return -ENOMEM;
	return ac_sched_run(s) == -EPERM ? -EPERM : 0;
}

static void node_on_finish(void *arg)
{
	ac_node_stop(arg);
}

void ac_node_free(ac_node *n)
{
	uint32_t i;
	ac_sched *s;
	if (!n)
		return;
	s = n->n_sched;
	if (!n->n_stopped) {
		n->n_stopped = 1;
		if (n->n_listener)
			ac_sock_close(n->n_listener);
		if (n->n_udp)
			ac_sock_close(n->n_udp);
	}
	for (i = 0; i < n->n_npeers; i++) {
		ac_peer *p = n->n_peers[i];
		AC_ASSERT(p->p_node == n);
		ac__peer_disconnect(p);
		ac__free(p->p_obuf);
		ac__free(p->p_wbuf);
		ac__free(p->p_sending);
		ac__refset_free(&p->p_watches);
		ac__refset_free(&p->p_monitoring);
		ac__inacct_release(p->p_in);
		ac__rci_detach(p);
		ac__free(p);
	}
	while (n->n_grave) {
		ac_peer *p = n->n_grave;
		n->n_grave = p->p_grave_next;
		node_peer_free(p);
	}
	AC_ASSERT(n->n_stopped && !n->n_grave);
	ac__free(n->n_peers);
	ac__free(n->n_status);
	ac__free(n->n_names);
	ac__free(n->n_secret);
	ac__free(n->n_dest);
	ac__tls_ctx_free(n->n_tls);
	if (s->s_remote_arg == n) {
		s->s_remote = NULL;
		s->s_remote_arg = NULL;
		s->s_on_end = NULL;
		s->s_on_finish = NULL;
		s->s_on_free = NULL;
	}
	ac__free(n);
}

/* ---- public calls about peers ------------------------------------------------------- */

int ac_node_locate(ac_node *n, const char *name, int64_t timeout_ms,
                   ac_addr *loc)
{
	int64_t deadline_ns;
	if (!n || !name || !*name || !loc)
		return -EINVAL;
	if (strlen(name) > AC_NAME_MAX)
		return -ENAMETOOLONG; /* no node has such a name */
	if (!ac__cur())
		return -EPERM;
	deadline_ns = ac__deadline(n->n_sched, timeout_ms);
	for (;;) {
		uint32_t i;
		int64_t left;
		if (strcmp(name, n->n_name) == 0) {
			*loc = n->n_loc;
			return 0;
		}
		for (i = 0; i < n->n_npeers; i++) {
			ac_peer *p = n->n_peers[i];
			if (p->p_state == AC__PEER_ONLINE && !strcmp(p->p_name, name)) {
				*loc = p->p_loc;
				return 0;
			}
		}
		if (n->n_stopped)
			return -ESHUTDOWN;
		left = deadline_ns < 0 ? AC_FOREVER
		                    : (deadline_ns - ac_sched_now_ns(n->n_sched)) / 1000000;
		if (deadline_ns >= 0 && left <= 0)
			return -ETIMEDOUT;
		AC_ASSERT(left > 0 || left == AC_FOREVER); /* never a busy wait */
		if (ac_waitq_wait(&n->n_peer_wq, left) == -ETIMEDOUT)
			return -ETIMEDOUT;
	}
}

int ac_node_peer(ac_node *n, const char *loc, uint16_t udp_port,
                 int stream_send, int broadcast, int64_t timeout_ms)
{
	int64_t deadline_ns;
	ac_addr a;
	ac_peer *p;
	ac_sock *k;
	int rc;
	if (!n || !loc)
		return -EINVAL;
	if (!ac__cur())
		return -EPERM;
	/* A stopped node (or one saying goodbye) takes no new peer: it would
	 * be Online with nothing to serve it. */
	if (n->n_stopped || n->n_leaving)
		return -ESHUTDOWN;
	rc = ac_resolve(n->n_sched, loc, 0, &a);
	if (rc < 0)
		return rc;
	if (a.port == 0) {
		/* Every node on that host, through its discovery port. */
		a.port = udp_port ? udp_port : n->n_udp_port;
		return ac__announce(n, &a, broadcast);
	}
	p = ac__peer_find(n, &a);
	if (p && p->p_state == AC__PEER_ONLINE) {
		AC_ASSERT(p->p_node == n && p->p_inc != 0);
		p->p_stream_send = stream_send;
		if (broadcast) {
			ac_addr to = p->p_loc;
			to.port = p->p_udp_port;
			ac__announce(n, &to, 1);
		}
		return 0;
	}
	if (!p && ac__peer_table_full(n)) {
		ac__nlog(n, AC_LOG_WARN, "not contacting %s: too many peers "
		         "(max_peers %u)", loc, n->n_max_peers);
		return -EUSERS;
	}
	/* A handshake takes round trips: 0 never waits, so it does not start
	 * one (dis.h). */
	if (timeout_ms == 0)
		return -ETIMEDOUT;
	/* The timeout bounds the connect and the handshake together (AC_FOREVER:
	 * the handshake still ends within PEER_HANDSHAKE_MS). */
	deadline_ns = ac__deadline(n->n_sched, timeout_ms);
	rc = ac_sock_connect(&a, timeout_ms, &k);
	if (rc < 0)
		return rc;
	rc = ac__handshake(n, k, 1, &a, &p, deadline_ns);
	AC_ASSERT(rc != 0 || (p && p->p_node == n)); /* success names the peer */
	if (rc == -EALREADY) {
		ac_sock_close(k); /* the other direction's connection won */
		rc = 0;
		/* The record found before the handshake may be gone by now. */
		p = ac__peer_find(n, &a);
	}
	if (rc < 0) {
		ac_sock_close(k);
		return rc;
	}
	if (p) {
		p->p_stream_send = stream_send;
		if (broadcast) {
			ac_addr to = p->p_loc;
			to.port = p->p_udp_port;
			ac__announce(n, &to, 1);
		}
	}
	return 0;
}

int ac_node_peers(ac_node *n, ac_addr *out, int max)
{
	uint32_t i;
	int k = 0;
	if (!n || (max > 0 && !out))
		return -EINVAL;
	for (i = 0; i < n->n_npeers; i++) {
		if (n->n_peers[i]->p_state != AC__PEER_ONLINE)
			continue;
		if (k < max)
			out[k] = n->n_peers[i]->p_loc;
		k++;
	}
	AC_ASSERT(k >= 0 && (uint32_t)k <= n->n_npeers);
	return k;
}

int ac_node_peer_status(ac_node *n, ac_ref coro)
{
	uint32_t i;
	if (!n)
		return -EINVAL;
	if (ac_ref_is_null(coro)) {
		n->n_nstatus = 0;
		return 0;
	}
	if (coro.kind != AC_REF_CORO)
		return -EINVAL;
	for (i = 0; i < n->n_nstatus; i++)
		if (ac_ref_eq(n->n_status[i], coro))
			return 0;
	if (n->n_nstatus == n->n_capstatus) {
		uint32_t cap = n->n_capstatus ? n->n_capstatus * 2 : 4;
		ac_ref *nr = ac__realloc(n->n_status, cap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		n->n_status = nr;
		n->n_capstatus = cap;
	}
	n->n_status[n->n_nstatus++] = coro;
	AC_ASSERT(n->n_nstatus <= n->n_capstatus);
	for (i = 0; i < n->n_npeers; i++) {
		ac_peer *p = n->n_peers[i];
		ac_msg *m;
		if (p->p_state != AC__PEER_ONLINE)
			continue;
		m = ac_msg_pack("[l s i]", &p->p_loc, p->p_name,
		                (int64_t)AC_PEER_ONLINE);
		if (!m)
			continue;
		m->m_kind = AC_MSG_PEER;
		m->m_aux = AC_PEER_ONLINE;
		if (ac__send_msg(n->n_sched, coro, m) < 0)
			ac_msg_free(m);
	}
	return 0;
}

int ac_node_close_peer(ac_node *n, const ac_addr *loc, int64_t timeout_ms)
{
	ac_peer *p;
	int64_t deadline_ns;
	if (!n || !loc)
		return -EINVAL;
	if (!ac__cur())
		return -EPERM;
	p = ac__peer_find(n, loc);
	if (!p || p->p_state != AC__PEER_ONLINE)
		return -ENOENT;
	AC_ASSERT(p->p_node == n);
	deadline_ns = ac__deadline(n->n_sched, timeout_ms);
	ac__peer_queue(p, AC_WT_BYE, 0, 0, NULL, 0, NULL);
	/* The record may go while we sleep: look it up again each time. */
	while (p && p->p_conn && p->p_olen > 0 &&
	       (deadline_ns < 0 || ac_sched_now_ns(n->n_sched) < deadline_ns)) {
		ac_sleep(1);
		p = ac__peer_find(n, loc);
	}
	if (p)
		ac__peer_offline(p, 0);
	AC_ASSERT(!p || (p->p_state == AC__PEER_OFFLINE && !p->p_conn));
	return 0;
}

int ac_msg_peer(const ac_msg *m, ac_peer_info *out)
{
	int64_t status;
	if (!m || !out || m->m_kind != AC_MSG_PEER)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (ac_msg_unpack(m, "[l s i]", &out->loc, out->name, sizeof(out->name),
	                  &status) < 0)
		return -EINVAL;
	out->status = (int)status;
	return 0;
}

/* ---- names --------------------------------------------------------------------------- */

static void node_name_remove_at(ac_node *n, uint32_t i);

#ifdef AC_DEBUG
/* Entries of the registry with this kind and name (one at most). */
static uint32_t node_name_count(const ac_node *n, uint32_t kind, const char *name)
{
	uint32_t i, k = 0;
	for (i = 0; i < n->n_nnames; i++)
		k += n->n_names[i].nm_kind == kind && !strcmp(n->n_names[i].nm_name, name);
	return k;
}
#endif

const ac__name *ac__name_find(ac_node *n, uint32_t kind, const char *name)
{
	uint32_t i;
	AC_ASSERT(name != NULL && n->n_nnames <= n->n_capnames);
	for (i = 0; i < n->n_nnames; i++) {
		const ac__name *e = &n->n_names[i];
		if (e->nm_kind != kind || strcmp(e->nm_name, name) != 0)
			continue;
		/* A channel closed (or an object freed) under its name: the name
		 * goes with it, so locate never returns a dead ref. */
		if (kind != AC_REF_CORO &&
		    !ac__obj_get(n->n_sched, e->nm_ref.id, kind)) {
			node_name_remove_at(n, i);
			return NULL;
		}
		AC_ASSERT(e->nm_ref.kind == kind); /* registered by kind */
		return e;
	}
	return NULL;
}

int ac__name_add(ac_node *n, uint32_t kind, const char *name, ac_ref ref)
{
	ac__name *e;
	/* Callers register their own objects, under the kind of the ref. */
	AC_ASSERT(ref.kind == kind && ac__ref_is_local(n->n_sched, &ref));
	if (!name || !*name)
		return -EINVAL;
	if (strlen(name) > AC_NAME_MAX)
		return -ENAMETOOLONG;
	if (ac__name_find(n, kind, name))
		return -EEXIST;
	if (n->n_nnames == n->n_capnames) {
		uint32_t cap = n->n_capnames ? n->n_capnames * 2 : 16;
		ac__name *nn = ac__realloc(n->n_names, cap * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		n->n_names = nn;
		n->n_capnames = cap;
	}
	e = &n->n_names[n->n_nnames++];
	memset(e, 0, sizeof(*e));
	e->nm_kind = kind;
	e->nm_ref = ref;
	snprintf(e->nm_name, sizeof(e->nm_name), "%s", name);
	AC_ASSERT(n->n_nnames <= n->n_capnames);
	AC_DASSERT(node_name_count(n, kind, name) == 1); /* a name is unique */
	return 0;
}

static void node_name_remove_at(ac_node *n, uint32_t i)
{
	AC_ASSERT(i < n->n_nnames && n->n_nnames <= n->n_capnames);
	memmove(&n->n_names[i], &n->n_names[i + 1],
	        (n->n_nnames - i - 1) * sizeof(n->n_names[0]));
	n->n_nnames--;
}

int ac__name_del(ac_node *n, uint32_t kind, const char *name, ac_ref ref)
{
	uint32_t i;
	if (!name || !*name)
		return -EINVAL;
	if (strlen(name) > AC_NAME_MAX)
		return -ENAMETOOLONG; /* as ac__name_add: never registered */
	for (i = 0; i < n->n_nnames; i++) {
		ac__name *e = &n->n_names[i];
		if (e->nm_kind == kind && !strcmp(e->nm_name, name) &&
		    ac_ref_eq(e->nm_ref, ref)) {
			node_name_remove_at(n, i);
			AC_DASSERT(node_name_count(n, kind, name) == 0);
			return 0;
		}
	}
	return -ENOENT;
}

/* A coroutine ended: its registrations vanish. */
static void node_on_end(void *arg, ac_coro *c)
{
	ac_node *n = arg;
	uint32_t i = 0;
	AC_ASSERT(c != NULL && c->c_sched == n->n_sched);
	while (i < n->n_nnames) {
		ac__name *e = &n->n_names[i];
		if (e->nm_kind == AC_REF_CORO && e->nm_ref.id == c->c_id)
			node_name_remove_at(n, i);
		else
			i++;
	}
}

int ac_register(const char *name)
{
	ac_node *n = node_cur();
	ac_coro *c = ac__cur();
	if (!c)
		return -EPERM;
	if (!n)
		return -ENOTCONN;
	return ac__name_add(n, AC_REF_CORO, name, ac_self());
}

int ac_unregister(const char *name)
{
	ac_node *n = node_cur();
	if (!ac__cur())
		return -EPERM;
	if (!n)
		return -ENOTCONN;
	return ac__name_del(n, AC_REF_CORO, name, ac_self());
}

int ac_chan_register(ac_ref chan, const char *name)
{
	ac_node *n = node_cur();
	if (!n)
		return -ENOTCONN;
	if (chan.kind != AC_REF_CHAN || !ac__ref_is_local(n->n_sched, &chan) ||
	    ac_chan_nsubs(chan) < 0)
		return -EINVAL;
	return ac__name_add(n, AC_REF_CHAN, name, chan);
}

int ac_chan_unregister(ac_ref chan, const char *name)
{
	ac_node *n = node_cur();
	if (!n)
		return -ENOTCONN;
	return ac__name_del(n, AC_REF_CHAN, name, chan);
}
