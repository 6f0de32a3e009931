/* io/io_replay.c: the replay backend — runs a program against a record
 * (doc/record.md) instead of the world.
 *
 * Every call of the program must be the next event of the record: its kind
 * and its arguments (the outputs: a call's parameters, the bytes of every
 * send and write) are compared, and what the record says came back (the
 * inputs: clock readings, random bytes, results, received bytes,
 * addresses) is handed to the program. A poll replays the completions the
 * recorded poll ran, in order, calling the program's callbacks (whose own
 * calls are the events that follow), and returns what it returned. Nothing
 * waits and nothing touches a network or a file: time is the recorded time.
 *
 * The comparison is of bytes: the program's call, with the record's inputs
 * filled in, is encoded as a frame exactly as the recorder would have done,
 * and must be the record's frame. The frames so made are hashed as the
 * recorder hashes its own, so a replay that matched to the end has the
 * record's hash. At the first difference the report (rp_diverge) goes to
 * standard error and the process exits with AC_REPLAY_EXIT_DIVERGED.
 * Notes (CONN, META) are skipped (and hashed). Operations are named by
 * submit order, as the recorder names them.
 */
#include "config.h"

#include <zlib.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <asyncoro/record.h>

#include "io/io.h"
#include "io/io_assert.h"
#include "io/record.h"

/* Tag in the high 16 bits of a program's io_priv[0] (its op id below):
 * the recorder's rule, so a CANCEL names the same op in both. */
#define RP_TAG 0x5243ull
#define RP_TAG_SHIFT 48
/* Events remembered for the report, and the bytes of each data kept (as
 * many as a formatted line shows). */
#define RP_HIST 5
#define RP_HIST_BYTES AC_REC_FORMAT_BYTES
#define RP_LINE 240
/* Secret fingerprints of the record not yet checked (one node per
 * scheduler at a time: a few suffice; the oldest is dropped). */
#define RP_FPRS 4

/* A pending operation of the program. */
typedef struct rp_pend {
	uint64_t id;
	ac_op *op;
} rp_pend;

/* A temp_dir answer (kept until the backend is freed). */
typedef struct rp_str {
	struct rp_str *next;
	char s[];
} rp_str;

/* An event remembered raw (its data cut to the bytes a line shows): only
 * a divergence formats it, so that following the record stays cheap. */
typedef struct rp_hent {
	ac_rec_event ev;
	uint8_t d[RP_HIST_BYTES];
	uint8_t d2[RP_HIST_BYTES];
} rp_hent;

typedef struct rp_io {
	/* Base class: must be first. */
	ac_io p_base;
	ac_rec_reader *p_rd;
	/* The next event of the record, when p_have. */
	ac_rec_event p_ev;
	int p_have;
	/* Encoding and hash of the replayed events. */
	ac_rec_enc p_enc;
	ac_rec_xxh p_xxh;
	uint8_t *p_frame;
	size_t p_fcap;
	uint64_t p_last_id;
	rp_pend *p_pend;
	size_t p_npend;
	size_t p_cpend;
	rp_hent p_hist[RP_HIST];
	unsigned p_nhist;
	int64_t p_until;
	rp_str *p_strs;
	char *p_path;
	/* What the reader returned when the record ran out (0 clean end,
	 * -EPIPE cut short, -EBADMSG corrupt). */
	int p_end_rc;
	/* The record's secret notes skipped and not yet checked. */
	char p_fpr[RP_FPRS][AC_REC_FPR_HEX + 1];
	unsigned p_nfpr;
} rp_io;

static const struct ac_io_ops rp_ops, rp_ops_buggify;
static int rp_check_build(rp_io *p);
static void rp_report_fd(uint64_t seq);

static rp_io *rp_of(ac_io *io)
{
	AC_ASSERT(io->ops == &rp_ops || io->ops == &rp_ops_buggify);
	return (rp_io *)io;
}

int ac__io_replay_is(ac_io *io)
{
	return io != NULL && (io->ops == &rp_ops || io->ops == &rp_ops_buggify);
}

/* ---- the report ---------------------------------------------------------------------- */

/* End the process with status: the program's state is the replay's,
 * not one to wind down (no at-exit handlers, no leak report), but what it
 * printed is flushed. */
static void rp_exit(int status) __attribute__((noreturn));

static void rp_exit(int status)
{
	fflush(NULL);
	_exit(status);
}

/* Where a debugger can stop the replay (AC_REPLAY_UNTIL). */
void ac__replay_stop(uint64_t event) __attribute__((noinline));

void ac__replay_stop(uint64_t event)
{
	fprintf(stderr, "stopped at event %llu\n", (unsigned long long)event);
	rp_exit(AC_REPLAY_EXIT_UNTIL);
}

/* Lines of hexdump of len bytes at p from offset from (64 bytes at most). */
static void rp_hexdump(const char *what, const uint8_t *p, size_t len, size_t from)
{
	size_t i, j;

	fprintf(stderr, "  %s (%zu bytes):\n", what, len);
	for (i = from; i < len && i < from + 64; i += 16) {
		fprintf(stderr, "    %06zx ", i);
		for (j = i; j < i + 16; j++)
			fprintf(stderr, j < len ? " %02x" : "   ", j < len ? p[j] : 0);
		fprintf(stderr, "  ");
		for (j = i; j < i + 16 && j < len; j++)
			fputc(p[j] >= 0x20 && p[j] < 0x7f ? p[j] : '.', stderr);
		fputc('\n', stderr);
	}
}

/* Hexdumps of two byte strings around their first difference. */
static void rp_bytes_diff(const char *name, const uint8_t *a, size_t alen,
                          const uint8_t *b, size_t blen)
{
	size_t d = 0;
	char what[64];

	while (d < alen && d < blen && a[d] == b[d])
		d++;
	if (d == alen && d == blen)
		return;
	fprintf(stderr, "  %s differs at byte %zu\n", name, d);
	d = d >= 16 ? (d & ~(size_t)15) - 16 : 0;
	snprintf(what, sizeof(what), "expected %s", name);
	rp_hexdump(what, a, alen, d);
	snprintf(what, sizeof(what), "got %s", name);
	rp_hexdump(what, b, blen, d);
}

/* Print the divergence between the record's event x (NULL: the record
 * ends; why says how) and the program's act, then exit. */
static void rp_diverge(rp_io *p, const ac_rec_event *x, const ac_rec_event *act,
                       const char *why)
{
	char e[RP_LINE], g[RP_LINE];
	uint64_t seq = x ? x->seq : ac__rec_count(p->p_rd);
	unsigned i, n = p->p_nhist < RP_HIST ? p->p_nhist : RP_HIST;
	int cut = x == NULL && p->p_end_rc == -EPIPE;

	if (cut)
		fprintf(stderr, "replay reached the end of record %s, cut short: %s "
		        "(the run was replayed up to there)\n", p->p_path, why);
	else if (x)
		ac__rec_event_format(x, e, sizeof(e));
	else
		snprintf(e, sizeof(e), "no more events (%s)", why);
	ac__rec_event_format(act, g, sizeof(g));
	if (!cut)
		fprintf(stderr, "replay diverged at event %llu (op %llu): expected %s, got %s\n",
		        (unsigned long long)seq,
		        (unsigned long long)(x && x->op ? x->op : act->op), e,
		        act->kind == AC_REC_END ? "the end of the run" : g);
	if (x && why)
		fprintf(stderr, "  %s\n", why);
	if (x) {
		rp_bytes_diff("data", x->data, x->dlen, act->data, act->dlen);
		rp_bytes_diff("data2", x->data2, x->dlen2, act->data2, act->dlen2);
	}
	fprintf(stderr, "  the %u events before:\n", n);
	for (i = p->p_nhist - n; i < p->p_nhist; i++)
		fprintf(stderr, "    %s\n",
		        ac__rec_event_format(&p->p_hist[i % RP_HIST].ev, e, sizeof(e)));
	if (!cut)
		rp_report_fd(seq);
	rp_exit(cut ? AC_REPLAY_EXIT_TRUNCATED : AC_REPLAY_EXIT_DIVERGED);
}

/* AC_REPLAY_REPORT_FD=N: write "diverged E\n" to descriptor N, for the
 * tool that started the replay (acpcap replay, acsim --replay) to name the
 * pcap frame of event E. */
static void rp_report_fd(uint64_t seq)
{
	const char *v = getenv("AC_REPLAY_REPORT_FD");
	char line[48], *end;
	long fd;
	int n;

	if (v == NULL || *v < '0' || *v > '9')
		return;
	fd = strtol(v, &end, 10);
	if (*end != '\0' || fd < 0 || fd > 65535)
		return;
	n = snprintf(line, sizeof(line), "diverged %llu\n", (unsigned long long)seq);
	if (write((int)fd, line, (size_t)n) < 0)
		return; /* nobody listens: the report on stderr is enough */
}

/* Remember ev for the report (its data point into the reader's buffer:
 * the bytes a line shows are copied). */
static void rp_hist(rp_io *p, const ac_rec_event *ev)
{
	rp_hent *h = &p->p_hist[p->p_nhist % RP_HIST];

	h->ev = *ev;
	if (ev->dlen)
		memcpy(h->d, ev->data, ev->dlen < RP_HIST_BYTES ? ev->dlen : RP_HIST_BYTES);
	if (ev->dlen2)
		memcpy(h->d2, ev->data2, ev->dlen2 < RP_HIST_BYTES ? ev->dlen2 : RP_HIST_BYTES);
	h->ev.data = h->d;
	h->ev.data2 = h->d2;
	p->p_nhist++;
}

/* ---- following the record ------------------------------------------------------------- */

/* Encode ev with the replay's state into the scratch frame; its length. */
static size_t rp_encode(rp_io *p, const ac_rec_event *ev)
{
	size_t bound = ac__rec_frame_bound(ev);

	if (bound == 0)
		rp_diverge(p, &p->p_ev, ev, "an event too large for a frame");
	if (bound > p->p_fcap) {
		uint8_t *f = realloc(p->p_frame, bound);
		AC_ASSERT(f != NULL);
		p->p_frame = f;
		p->p_fcap = bound;
	}
	return ac__rec_encode(&p->p_enc, ev, p->p_frame);
}

/* Keep the fingerprint of a secret note ev for ac__io_replay_secret. */
static void rp_note(rp_io *p, const ac_rec_event *ev)
{
	size_t klen = sizeof(AC_REC_META_SECRET) - 1;
	unsigned k = p->p_nfpr;

	if (ev->kind != AC_REC_META || ev->dlen != klen ||
	    memcmp(ev->data, AC_REC_META_SECRET, klen) != 0)
		return;
	if (k == RP_FPRS) {
		memmove(p->p_fpr[0], p->p_fpr[1], sizeof(p->p_fpr[0]) * (RP_FPRS - 1));
		k--;
	}
	snprintf(p->p_fpr[k], sizeof(p->p_fpr[k]), "%.*s",
	         (int)(ev->dlen2 < AC_REC_FPR_HEX ? ev->dlen2 : AC_REC_FPR_HEX), ev->data2);
	p->p_nfpr = k + 1;
}

/* The next event that is not a note (notes are hashed and skipped), or
 * NULL when the record has no more (then *why says why). */
static const ac_rec_event *rp_peek(rp_io *p, const char **why)
{
	int rc;

	while (!p->p_have) {
		rc = ac__rec_next(p->p_rd, &p->p_ev);
		if (rc <= 0) {
			*why = rc == 0 ? "the end of the record" : ac__rec_error(p->p_rd);
			p->p_end_rc = rc;
			return NULL;
		}
		if (p->p_until >= 0 && p->p_ev.seq == (uint64_t)p->p_until)
			ac__replay_stop(p->p_ev.seq);
		if (p->p_ev.kind == AC_REC_CONN || p->p_ev.kind == AC_REC_META) {
			size_t n = rp_encode(p, &p->p_ev);
			rp_note(p, &p->p_ev);
			ac__rec_xxh_update(&p->p_xxh, p->p_frame, n);
			rp_hist(p, &p->p_ev);
			continue;
		}
		p->p_have = 1;
	}
	return &p->p_ev;
}

/* The next event, which must be of act's kind and call: else the report. */
static const ac_rec_event *rp_match(rp_io *p, ac_rec_event *act)
{
	const char *why = NULL;
	const ac_rec_event *x = rp_peek(p, &why);

	if (x == NULL)
		rp_diverge(p, NULL, act, why);
	act->seq = x->seq;
	if (x->kind != act->kind || x->call != act->call)
		rp_diverge(p, x, act, NULL);
	return x;
}

/* The program's event act (its inputs copied from the record's) must
 * encode as the record's frame: then it is consumed and hashed. */
static void rp_done(rp_io *p, const ac_rec_event *act)
{
	ac_rec_enc saved = p->p_enc;
	const uint8_t *f;
	size_t fl, n = rp_encode(p, act);

	ac__rec_frame(p->p_rd, &f, &fl);
	if (n != fl || memcmp(f, p->p_frame, n) != 0) {
		p->p_enc = saved;
		rp_diverge(p, &p->p_ev, act, NULL);
	}
	ac__rec_xxh_update(&p->p_xxh, p->p_frame, n);
	rp_hist(p, act);
	p->p_have = 0;
}

/* Received bytes of the record (data2) into buf of len bytes. */
static void rp_fill(rp_io *p, const ac_rec_event *act, void *buf, size_t len)
{
	if (p->p_ev.dlen2 > len)
		rp_diverge(p, &p->p_ev, act, "the record holds more bytes than the buffer takes");
	if (p->p_ev.dlen2)
		memcpy(buf, p->p_ev.data2, p->p_ev.dlen2);
}

/* ---- pending operations --------------------------------------------------------------- */

static void rp_pend_add(rp_io *p, uint64_t id, ac_op *op)
{
	if (p->p_npend == p->p_cpend) {
		size_t c = p->p_cpend ? 2 * p->p_cpend : 16;
		rp_pend *t = realloc(p->p_pend, c * sizeof(*t));
		AC_ASSERT(t != NULL);
		p->p_pend = t;
		p->p_cpend = c;
	}
	p->p_pend[p->p_npend].id = id;
	p->p_pend[p->p_npend].op = op;
	p->p_npend++;
	op->io_priv[1] = 1;
}

/* Take the pending op of id off the table; NULL when none. */
static ac_op *rp_pend_take(rp_io *p, uint64_t id)
{
	size_t i;
	ac_op *op;

	for (i = 0; i < p->p_npend; i++) {
		if (p->p_pend[i].id != id)
			continue;
		op = p->p_pend[i].op;
		p->p_pend[i] = p->p_pend[--p->p_npend];
		op->io_priv[1] = 0;
		return op;
	}
	return NULL;
}

static uint64_t rp_op_id(const ac_op *op)
{
	if ((op->io_priv[0] >> RP_TAG_SHIFT) != RP_TAG)
		return 0;
	return op->io_priv[0] & ((1ull << RP_TAG_SHIFT) - 1);
}

static int rp_receives(int type)
{
	return type == AC_OP_RECV || type == AC_OP_RECVFROM || type == AC_OP_READ;
}

/* The record's results of a completed op (res, addr, data2) into op. */
static void rp_results(rp_io *p, const ac_rec_event *act, ac_op *op)
{
	op->res = p->p_ev.res;
	if (op->type == AC_OP_ACCEPT || op->type == AC_OP_RECVFROM)
		op->addr = p->p_ev.addr;
	if (op->type == AC_OP_CONNECT && op->res >= 0)
		op->h = (int)op->res;
	if (rp_receives(op->type))
		rp_fill(p, act, op->buf, op->len);
}

/* The COMPLETE event at hand: hand its results to the pending op and run
 * the op's callback. */
static void rp_complete(rp_io *p)
{
	ac_rec_event act = p->p_ev;
	ac_op *op = rp_pend_take(p, act.op);

	if (op == NULL)
		rp_diverge(p, &p->p_ev, &act, "the record completes an operation that is "
		           "not pending");
	rp_results(p, &act, op);
	rp_done(p, &act);
	op->cb(op);
}

/* ---- clock, entropy, poll ---------------------------------------------------------------- */

/* An event of kind with no outputs and rc as input; returns rc. */
static int64_t rp_rc(rp_io *p, uint32_t kind)
{
	ac_rec_event act;

	ac__rec_event_init(&act, kind);
	act.rc = rp_match(p, &act)->rc;
	rp_done(p, &act);
	return act.rc;
}

static int64_t rp_now_ns(ac_io *io)
{
	return rp_rc(rp_of(io), AC_REC_NOW);
}

static int64_t rp_wall_ns(ac_io *io)
{
	return rp_rc(rp_of(io), AC_REC_WALL);
}

static int rp_pending(ac_io *io)
{
	return (int)rp_rc(rp_of(io), AC_REC_PENDING);
}

static void rp_entropy(ac_io *io, void *buf, size_t len)
{
	rp_io *p = rp_of(io);
	ac_rec_event act;
	const ac_rec_event *x;

	ac__rec_event_init(&act, AC_REC_ENTROPY);
	act.a = (int64_t)len;
	x = rp_match(p, &act);
	act.data = x->data;
	act.dlen = x->dlen;
	if (x->dlen != len)
		rp_diverge(p, x, &act, "the record holds another number of random bytes");
	rp_done(p, &act);
	if (len)
		memcpy(buf, act.data, len);
}

static int rp_poll(ac_io *io, int64_t deadline_ns)
{
	rp_io *p = rp_of(io);
	const ac_rec_event *x;
	const char *why = NULL;
	ac_rec_event act;
	int ran = 0;

	ac__rec_event_init(&act, AC_REC_POLL);
	act.a = deadline_ns;
	rp_match(p, &act);
	rp_done(p, &act);
	while ((x = rp_peek(p, &why)) != NULL && x->kind == AC_REC_COMPLETE) {
		rp_complete(p);
		ran++;
	}
	ac__rec_event_init(&act, AC_REC_POLL_END);
	act.rc = ran;
	act.rc = rp_match(p, &act)->rc;
	rp_done(p, &act);
	return (int)act.rc;
}

/* ---- operations -------------------------------------------------------------------------- */

static int rp_submit(ac_io *io, int h, ac_op *op, int type)
{
	rp_io *p = rp_of(io);
	uint64_t id = ++p->p_last_id;
	const ac_rec_event *x;
	ac_rec_event act;

	op->type = type;
	op->h = type == AC_OP_CONNECT ? -1 : h;
	op->io_priv[0] = (RP_TAG << RP_TAG_SHIFT) | id;
	op->io_priv[1] = 0;
	ac__rec_event_init(&act, AC_REC_SUBMIT);
	act.call = (uint32_t)type;
	act.op = id;
	act.h = op->h;
	act.a = (int64_t)op->len;
	if (type == AC_OP_CONNECT || type == AC_OP_SENDTO)
		act.addr = op->addr;
	if ((type == AC_OP_SEND || type == AC_OP_SENDTO || type == AC_OP_WRITE) && op->buf) {
		act.data = op->buf;
		act.dlen = op->len;
	}
	x = rp_match(p, &act);
	act.rc = x->rc;
	if (x->rc == AC_IO_DONE) {
		act.res = x->res;
		if (type == AC_OP_ACCEPT || type == AC_OP_RECVFROM)
			act.addr = x->addr;
		act.data2 = x->data2;
		act.dlen2 = x->dlen2;
		rp_results(p, &act, op);
	}
	rp_done(p, &act);
	if (act.rc == AC_IO_PENDING)
		rp_pend_add(p, id, op);
	else if (act.rc < 0)
		op->res = act.rc;
	return (int)act.rc;
}

static int rp_accept(ac_io *io, int h, ac_op *op)
{
	return rp_submit(io, h, op, AC_OP_ACCEPT);
}

static int rp_connect(ac_io *io, ac_op *op)
{
	return rp_submit(io, -1, op, AC_OP_CONNECT);
}

static int rp_recv(ac_io *io, int h, ac_op *op)
{
	return rp_submit(io, h, op, AC_OP_RECV);
}

static int rp_send(ac_io *io, int h, ac_op *op)
{
	return rp_submit(io, h, op, AC_OP_SEND);
}

static int rp_recvfrom(ac_io *io, int h, ac_op *op)
{
	return rp_submit(io, h, op, AC_OP_RECVFROM);
}

static int rp_sendto(ac_io *io, int h, ac_op *op)
{
	return rp_submit(io, h, op, AC_OP_SENDTO);
}

static int rp_read(ac_io *io, int h, ac_op *op)
{
	return rp_submit(io, h, op, AC_OP_READ);
}

static int rp_write(ac_io *io, int h, ac_op *op)
{
	return rp_submit(io, h, op, AC_OP_WRITE);
}

static int rp_cancel(ac_io *io, ac_op *op)
{
	rp_io *p = rp_of(io);
	const ac_rec_event *x;
	ac_rec_event act;
	ac_op *o = NULL;

	ac__rec_event_init(&act, AC_REC_CANCEL);
	act.op = rp_op_id(op);
	x = rp_match(p, &act);
	act.rc = x->rc;
	act.res = x->res;
	act.a = x->a;
	act.addr = x->addr;
	act.data2 = x->data2;
	act.dlen2 = x->dlen2;
	if (act.rc == 0 || act.rc == AC_IO_DONE)
		o = rp_pend_take(p, act.op);
	if ((act.rc == 0 || act.rc == AC_IO_DONE) && o != op)
		rp_diverge(p, x, &act, "the record cancels an operation that is not pending");
	if (act.rc == AC_IO_DONE)
		rp_results(p, &act, op);
	else if (act.rc == 0)
		op->res = act.res;
	rp_done(p, &act);
	return (int)act.rc;
}

/* ---- synchronous calls --------------------------------------------------------------------- */

static ac_rec_event rp_call(uint32_t call)
{
	ac_rec_event ev;

	ac__rec_event_init(&ev, AC_REC_CALL);
	ev.call = call;
	return ev;
}

/* Finish a call event act whose outputs are set: take rc (and res) from
 * the record. Returns the record's event. */
static const ac_rec_event *rp_call_done(rp_io *p, ac_rec_event *act)
{
	const ac_rec_event *x = rp_match(p, act);

	act->rc = x->rc;
	act->res = x->res;
	act->data2 = x->data2;
	act->dlen2 = x->dlen2;
	return x;
}

/* A call with a handle in and rc out. */
static int rp_h_rc(ac_io *io, uint32_t call, int h)
{
	rp_io *p = rp_of(io);
	ac_rec_event act = rp_call(call);

	act.h = h;
	rp_call_done(p, &act);
	rp_done(p, &act);
	return (int)act.rc;
}

/* A call that makes a handle (res) when rc is 0. */
static int rp_new_handle(rp_io *p, ac_rec_event *act, int *h_out)
{
	rp_call_done(p, act);
	rp_done(p, act);
	if (act->rc == 0 && h_out)
		*h_out = (int)act->res;
	return (int)act->rc;
}

static int rp_tcp_listen(ac_io *io, const ac_addr *addr, int backlog, int flags, int *h_out)
{
	ac_rec_event act = rp_call(AC_RC_TCP_LISTEN);

	if (addr)
		act.addr = *addr;
	act.a = backlog;
	act.b = flags;
	return rp_new_handle(rp_of(io), &act, h_out);
}

static int rp_udp_bind(ac_io *io, const ac_addr *addr, int flags, int *h_out)
{
	ac_rec_event act = rp_call(AC_RC_UDP_BIND);

	if (addr)
		act.addr = *addr;
	act.b = flags;
	return rp_new_handle(rp_of(io), &act, h_out);
}

static int rp_fd_attach(ac_io *io, int fd, int *h_out)
{
	ac_rec_event act = rp_call(AC_RC_FD_ATTACH);

	act.a = fd;
	return rp_new_handle(rp_of(io), &act, h_out);
}

static int rp_shutdown(ac_io *io, int h)
{
	return rp_h_rc(io, AC_RC_SHUTDOWN, h);
}

static int rp_close(ac_io *io, int h)
{
	return rp_h_rc(io, AC_RC_CLOSE, h);
}

static int rp_sock_addr(ac_io *io, int h, ac_addr *out, int peer)
{
	rp_io *p = rp_of(io);
	ac_rec_event act = rp_call(peer ? AC_RC_PEER_ADDR : AC_RC_LOCAL_ADDR);

	act.h = h;
	act.addr = rp_call_done(p, &act)->addr;
	rp_done(p, &act);
	if (act.rc == 0)
		*out = act.addr;
	return (int)act.rc;
}

static int rp_local_addr(ac_io *io, int h, ac_addr *out)
{
	return rp_sock_addr(io, h, out, 0);
}

static int rp_peer_addr(ac_io *io, int h, ac_addr *out)
{
	return rp_sock_addr(io, h, out, 1);
}

/* A result of rc addresses (data2) into out (max of them). */
static int rp_addrs(rp_io *p, ac_rec_event *act, ac_addr *out, int max)
{
	if (act->rc > 0 && (act->rc > max || act->dlen2 != (size_t)act->rc * sizeof(ac_addr)))
		rp_diverge(p, &p->p_ev, act, "the record holds another number of addresses");
	rp_done(p, act);
	if (act->rc > 0)
		memcpy(out, act->data2, act->dlen2);
	return (int)act->rc;
}

static int rp_resolve(ac_io *io, const char *host, int family, uint16_t port, ac_addr *out,
                      int max)
{
	rp_io *p = rp_of(io);
	ac_rec_event act = rp_call(AC_RC_RESOLVE);

	act.data = (const uint8_t *)host;
	act.dlen = host ? strlen(host) : 0;
	act.a = family;
	act.b = port;
	act.c = max;
	rp_call_done(p, &act);
	return rp_addrs(p, &act, out, max);
}

static int rp_host_addrs(ac_io *io, ac_addr *out, int max)
{
	rp_io *p = rp_of(io);
	ac_rec_event act = rp_call(AC_RC_HOST_ADDRS);

	act.c = max;
	rp_call_done(p, &act);
	return rp_addrs(p, &act, out, max);
}

static void rp_path_arg(ac_rec_event *ev, const char *path)
{
	ev->data = (const uint8_t *)path;
	ev->dlen = path ? strlen(path) : 0;
}

static int rp_file_open(ac_io *io, const char *path, int flags, uint32_t mode, int *h_out)
{
	ac_rec_event act = rp_call(AC_RC_FILE_OPEN);

	rp_path_arg(&act, path);
	act.b = flags;
	act.c = mode;
	return rp_new_handle(rp_of(io), &act, h_out);
}

static int64_t rp_file_pread(ac_io *io, int h, void *buf, size_t len, int64_t off)
{
	rp_io *p = rp_of(io);
	ac_rec_event act = rp_call(AC_RC_FILE_PREAD);

	act.h = h;
	act.a = (int64_t)len;
	act.b = off;
	rp_call_done(p, &act);
	rp_fill(p, &act, buf, len);
	rp_done(p, &act);
	return act.rc;
}

static int64_t rp_file_pwrite(ac_io *io, int h, const void *buf, size_t len, int64_t off)
{
	rp_io *p = rp_of(io);
	ac_rec_event act = rp_call(AC_RC_FILE_PWRITE);

	act.h = h;
	act.data = buf;
	act.dlen = buf ? len : 0;
	act.b = off;
	rp_call_done(p, &act);
	rp_done(p, &act);
	return act.rc;
}

static int rp_file_sync(ac_io *io, int h)
{
	return rp_h_rc(io, AC_RC_FILE_SYNC, h);
}

static int rp_file_close(ac_io *io, int h)
{
	return rp_h_rc(io, AC_RC_FILE_CLOSE, h);
}

/* An ac_stat result (data2) into st when rc is 0. */
static int rp_stat_out(rp_io *p, ac_rec_event *act, ac_stat *st)
{
	if (act->rc == 0 && act->dlen2 != sizeof(*st))
		rp_diverge(p, &p->p_ev, act, "the record holds no file status");
	rp_done(p, act);
	if (act->rc == 0)
		memcpy(st, act->data2, sizeof(*st));
	return (int)act->rc;
}

static int rp_file_fstat(ac_io *io, int h, ac_stat *st)
{
	rp_io *p = rp_of(io);
	ac_rec_event act = rp_call(AC_RC_FILE_FSTAT);

	act.h = h;
	rp_call_done(p, &act);
	return rp_stat_out(p, &act, st);
}

static int rp_file_stat(ac_io *io, const char *path, int nofollow, ac_stat *st)
{
	rp_io *p = rp_of(io);
	ac_rec_event act = rp_call(AC_RC_FILE_STAT);

	rp_path_arg(&act, path);
	act.b = nofollow;
	rp_call_done(p, &act);
	return rp_stat_out(p, &act, st);
}

/* A call on paths with only rc out (data2: the second path, an input). */
static int rp_path_rc(rp_io *p, ac_rec_event *act)
{
	const uint8_t *d2 = act->data2;
	size_t n2 = act->dlen2;

	rp_call_done(p, act);
	act->data2 = d2;
	act->dlen2 = n2;
	act->res = 0;
	rp_done(p, act);
	return (int)act->rc;
}

static int rp_file_rename(ac_io *io, const char *from, const char *to)
{
	ac_rec_event act = rp_call(AC_RC_FILE_RENAME);

	rp_path_arg(&act, from);
	act.data2 = (const uint8_t *)to;
	act.dlen2 = to ? strlen(to) : 0;
	return rp_path_rc(rp_of(io), &act);
}

static int rp_file_unlink(ac_io *io, const char *path)
{
	ac_rec_event act = rp_call(AC_RC_FILE_UNLINK);

	rp_path_arg(&act, path);
	return rp_path_rc(rp_of(io), &act);
}

static int rp_file_mkdir(ac_io *io, const char *path, uint32_t mode)
{
	ac_rec_event act = rp_call(AC_RC_FILE_MKDIR);

	rp_path_arg(&act, path);
	act.c = mode;
	return rp_path_rc(rp_of(io), &act);
}

static int rp_file_set_meta(ac_io *io, const char *path, uint32_t mode, int64_t mtime_ns)
{
	ac_rec_event act = rp_call(AC_RC_FILE_SET_META);

	rp_path_arg(&act, path);
	act.c = mode;
	act.b = mtime_ns;
	return rp_path_rc(rp_of(io), &act);
}

static const char *rp_temp_dir(ac_io *io)
{
	rp_io *p = rp_of(io);
	ac_rec_event act = rp_call(AC_RC_TEMP_DIR);
	rp_str *s;

	rp_call_done(p, &act);
	rp_done(p, &act);
	for (s = p->p_strs; s != NULL; s = s->next)
		if (strlen(s->s) == act.dlen2 && memcmp(s->s, act.data2, act.dlen2) == 0)
			return s->s;
	s = malloc(sizeof(*s) + act.dlen2 + 1);
	AC_ASSERT(s != NULL);
	if (act.dlen2)
		memcpy(s->s, act.data2, act.dlen2);
	s->s[act.dlen2] = '\0';
	s->next = p->p_strs;
	p->p_strs = s;
	return s->s;
}

static int rp_buggify(ac_io *io, const char *site)
{
	rp_io *p = rp_of(io);
	ac_rec_event act = rp_call(AC_RC_BUGGIFY);

	act.data = (const uint8_t *)site;
	act.dlen = site ? strlen(site) : 0;
	act.rc = rp_match(p, &act)->rc;
	rp_done(p, &act);
	return (int)act.rc;
}

/* ---- the backend --------------------------------------------------------------------------- */

#define RP_OPS_COMMON                                                           \
	.version = AC_IO_VERSION, .name = "replay", .now_ns = rp_now_ns,        \
	.wall_ns = rp_wall_ns, .entropy = rp_entropy, .poll = rp_poll,          \
	.pending = rp_pending, .tcp_listen = rp_tcp_listen, .accept = rp_accept, \
	.connect = rp_connect, .recv = rp_recv, .send = rp_send,                \
	.shutdown = rp_shutdown, .udp_bind = rp_udp_bind, .sendto = rp_sendto,  \
	.recvfrom = rp_recvfrom, .local_addr = rp_local_addr,                   \
	.peer_addr = rp_peer_addr, .cancel = rp_cancel, .close = rp_close,      \
	.fd_attach = rp_fd_attach, .read = rp_read, .write = rp_write,          \
	.resolve = rp_resolve, .host_addrs = rp_host_addrs,                     \
	.file_open = rp_file_open, .file_pread = rp_file_pread,                 \
	.file_pwrite = rp_file_pwrite, .file_sync = rp_file_sync,               \
	.file_close = rp_file_close, .file_fstat = rp_file_fstat,               \
	.file_stat = rp_file_stat, .file_rename = rp_file_rename,               \
	.file_unlink = rp_file_unlink, .file_mkdir = rp_file_mkdir,             \
	.file_set_meta = rp_file_set_meta, .temp_dir = rp_temp_dir

static const struct ac_io_ops rp_ops = { RP_OPS_COMMON };
static const struct ac_io_ops rp_ops_buggify = { RP_OPS_COMMON, .buggify = rp_buggify };

/* AC_REPLAY_UNTIL as an event number, or -1. */
static int64_t rp_until_env(void)
{
	const char *v = getenv("AC_REPLAY_UNTIL");
	char *end;
	long long n;

	if (v == NULL || *v == '\0')
		return -1;
	n = strtoll(v, &end, 10);
	return (*end == '\0' && n >= 0) ? (int64_t)n : -1;
}

int ac_io_replay_new(const char *path, ac_io **out)
{
	char err[256];
	rp_io *p;
	int rc;

	if (path == NULL || out == NULL)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->p_path = strdup(path)) == NULL) {
		free(p);
		return -ENOMEM;
	}
	rc = ac__rec_open(path, &p->p_rd, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "replay: %s\n", err);
	else if ((rc = rp_check_build(p)) < 0)
		ac__rec_close(p->p_rd);
	if (rc < 0) {
		free(p->p_path);
		free(p);
		return rc;
	}
	p->p_base.ops = (ac__rec_header(p->p_rd)->flags & AC_REC_HF_BUGGIFY) ? &rp_ops_buggify
	                                                                      : &rp_ops;
	ac__rec_xxh_init(&p->p_xxh);
	p->p_until = rp_until_env();
	*out = &p->p_base;
	return 0;
}

void ac__io_replay_secret(ac_io *io, const char *fpr)
{
	rp_io *p = rp_of(io);
	const char *why = NULL;
	char rec[AC_REC_FPR_HEX + 1];

	rp_peek(p, &why); /* the notes before the next event */
	if (p->p_nfpr == 0) {
		fprintf(stderr, "replay refused: record %s holds no secret fingerprint where "
		        "this program starts a node (secret fingerprint %s)\n", p->p_path, fpr);
		rp_exit(AC_REPLAY_EXIT_REFUSED);
	}
	memcpy(rec, p->p_fpr[0], sizeof(rec));
	memmove(p->p_fpr[0], p->p_fpr[1], sizeof(p->p_fpr[0]) * (RP_FPRS - 1));
	p->p_nfpr--;
	if (strcmp(rec, fpr) != 0) {
		fprintf(stderr, "replay refused: record %s was made by a node with another "
		        "secret (secret fingerprint: record %s, this program %s)\n", p->p_path,
		        rec, fpr);
		rp_exit(AC_REPLAY_EXIT_REFUSED);
	}
}

/* The record's build and libraries against this process's: 0, or
 * -EPROTO with the line said (a warning under AC_REPLAY_ANY_BUILD=1). */
static int rp_check_build(rp_io *p)
{
	const char *any = getenv("AC_REPLAY_ANY_BUILD");
	char diff[1024];

	if (!ac__rec_header_differs(ac__rec_header(p->p_rd), diff, sizeof(diff)))
		return 0;
	if (any != NULL && strcmp(any, "1") == 0) {
		fprintf(stderr, "replay: warning: record %s was made by another build or "
		        "library (AC_REPLAY_ANY_BUILD=1: replaying anyway): %s\n", p->p_path, diff);
		return 0;
	}
	fprintf(stderr, "replay refused: record %s was made by another build or library: %s\n",
	        p->p_path, diff);
	return -EPROTO;
}

int ac_io_replay_wants_poll(ac_io *io)
{
	const char *why;
	const ac_rec_event *x = rp_peek(rp_of(io), &why);

	return x != NULL && x->kind == AC_REC_POLL;
}

const char *ac__io_replay_path(ac_io *io)
{
	return ac__io_replay_is(io) ? rp_of(io)->p_path : NULL;
}

uint64_t ac__io_replay_hash(ac_io *io, uint64_t *events)
{
	rp_io *p;

	if (!ac__io_replay_is(io)) {
		if (events)
			*events = 0;
		return 0;
	}
	p = rp_of(io);
	if (events)
		*events = p->p_enc.seq;
	return ac__rec_xxh_digest(&p->p_xxh);
}

void ac_io_replay_free(ac_io *io)
{
	const char *why = NULL;
	ac_rec_event act;
	rp_io *p;

	if (io == NULL)
		return;
	p = rp_of(io);
	ac__rec_event_init(&act, AC_REC_END);
	act.seq = p->p_enc.seq;
	if (rp_peek(p, &why) != NULL)
		rp_diverge(p, &p->p_ev, &act, NULL);
	ac__rec_close(p->p_rd);
	while (p->p_strs != NULL) {
		rp_str *s = p->p_strs;
		p->p_strs = s->next;
		free(s);
	}
	free(p->p_pend);
	free(p->p_frame);
	free(p->p_path);
	free(p);
}
