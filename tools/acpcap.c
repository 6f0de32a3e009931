/* tools/acpcap.c: acpcap, the capture tool of asyncoro — turns a record
 * (AC_RECORD=FILE, io/record.h) into a pcap that Wireshark reads, prints
 * the protocol frames of a record or of any pcap/pcapng capture (for
 * instance `tcpdump -i lo -w FILE`), counts them, and re-runs a recorded
 * program so that it replays its record. `acpcap --help` is the manual.
 *
 *   acpcap pcap RECORD -o OUT.pcap
 *   acpcap dump FILE [--json] [--max-body N]
 *   acpcap stats FILE [--json]
 *   acpcap frame RECORD EVENT
 *   acpcap replay RECORD [--until EVENT]
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include <asyncoro/asyncoro.h>

#include "tools/acpcap.h"
#include "tools/acpcap_file.h"
#include "tools/acpcap_flow.h"
#include "tools/acpcap_out.h"

static const char acp_manual[] =
"NAME\n"
"    acpcap - records and captures of asyncoro nodes: pcap, frames, replay\n"
"\n"
"SYNOPSIS\n"
"    acpcap pcap RECORD -o OUT.pcap\n"
"    acpcap dump FILE [--json] [--max-body N]\n"
"    acpcap stats FILE [--json]\n"
"    acpcap frame RECORD EVENT\n"
"    acpcap replay RECORD [--until EVENT]\n"
"    acpcap COMMAND --help\n"
"\n"
"DESCRIPTION\n"
"    A RECORD is what a program linked with libasyncoro writes when run with\n"
"    AC_RECORD=FILE: everything that crossed its I/O interface, in order.\n"
"    A FILE is a RECORD or a capture in pcap or pcapng format, for instance\n"
"    from `tcpdump -i lo -w FILE` (link types: raw IP, Ethernet, BSD\n"
"    loopback, Linux cooked v1 and v2).\n"
"\n"
"    pcap    writes the packets a capture on the node would have shown:\n"
"            TCP with handshakes, sequence numbers and checksums made up from\n"
"            the bytes really sent and received (Wireshark's \"Follow TCP\n"
"            stream\" shows exactly those), UDP datagrams, nanosecond times.\n"
"            The same record always gives the same bytes.\n"
"    dump    prints one line per protocol frame, in time order: time, the\n"
"            connection (client -> server), direction, type, flags, request\n"
"            id, body (MessagePack shown as the library's logs show it,\n"
"            zlib bodies inflated). TCP streams are reassembled (retransmitted\n"
"            bytes dropped, out-of-order segments held until the gap fills).\n"
"    stats   counts frames and bytes per connection and per frame type.\n"
"    frame   prints the number of the pcap frame (from 1) that event EVENT\n"
"            of RECORD made in `acpcap pcap` output (or the last one before).\n"
"    replay  prints and runs the recorded command line with AC_REPLAY=RECORD\n"
"            (and AC_REPLAY_UNTIL=EVENT) in its environment: the program\n"
"            replays its record instead of doing real I/O. When it reports\n"
"            \"replay diverged at event E\", acpcap adds the line \"  pcap frame:\n"
"            F ...\": the frame of `acpcap pcap` output that event E made (or\n"
"            the last one before it), as `acpcap frame RECORD E` prints it.\n"
"            A record of a simulated node (acsim --record) is replayed by the\n"
"            acsim that made it: `ACSIM --replay RECORD [--until EVENT]`\n"
"            runs that node incarnation alone.\n"
"\n"
"EXIT STATUS\n"
"    0    success\n"
"    1    usage error: unknown command or option, missing or bad argument\n"
"    2    bad input or output: a FILE that cannot be read, is neither a\n"
"         record nor a pcap/pcapng capture, is truncated or corrupt, or has an\n"
"         unsupported link type; an output that cannot be written; out of\n"
"         memory (what could be read before is still printed or written)\n"
"    replay exits with the replayed program's status (the replay exits 3\n"
"    when the program diverged from its record, 4 when it stopped at\n"
"    --until EVENT, 5 when it refused the record: another build, library\n"
"    version, architecture or secret, 6 when it reached the end of a record\n"
"    cut short; 128 + N when signal N killed it), or 127 when the program\n"
"    cannot be started.\n"
"\n"
"    Errors are one line on standard error: \"acpcap: FILE: what is wrong\".\n";

/* One line per command, for `acpcap COMMAND --help`. */
static const struct {
	const char *name;
	const char *help;
} acp_cmd_help[] = {
	{"pcap", "usage: acpcap pcap RECORD -o OUT.pcap\n"
	         "Write the packets of RECORD as a pcap (LINKTYPE_RAW, nanosecond\n"
	         "timestamps) to OUT.pcap ('-': standard output).\n"
	         "  -o, --output FILE   where to write (required)\n"},
	{"dump", "usage: acpcap dump FILE [--json] [--max-body N]\n"
	         "Print the protocol frames of FILE (a record or a pcap/pcapng).\n"
	         "  --json          one JSON object per line: time, time_ns, proto,\n"
	         "                  conn, client, server, dir, src, dst, type, type_id,\n"
	         "                  flags, req_id, len, step (handshake), body, mac (UDP)\n"
	         "  --max-body N    cut body text at N characters (default 2000, 0: no\n"
	         "                  limit but 16 MiB)\n"},
	{"stats", "usage: acpcap stats FILE [--json]\n"
	          "Count packets, and frames and bytes per connection and per frame type.\n"
	          "  --json          one JSON object per line (kind: packets, conn, type)\n"},
	{"frame", "usage: acpcap frame RECORD EVENT\n"
	          "Print the pcap frame of event EVENT of RECORD, as `acpcap pcap` numbers\n"
	          "frames (from 1): \"event E: frame F\" when the event made frame F (its\n"
	          "first), \"event E: after frame F\" when it made none (F: the last frame\n"
	          "before it, 0 when none).\n"},
	{"replay", "usage: acpcap replay RECORD [--until EVENT]\n"
	           "Print, then run, the recorded command line with AC_REPLAY=RECORD\n"
	           "(and AC_REPLAY_UNTIL=EVENT) in the environment.\n"
	           "  --until EVENT   stop the replay at event EVENT (for a debugger)\n"
	           "At a divergence at event E, a last line \"  pcap frame: F ...\" names the\n"
	           "pcap frame (as `acpcap frame RECORD E`). Exit status: the program's\n"
	           "(3: it diverged from the record, 4: it stopped at EVENT; 128 + N when\n"
	           "signal N killed it), 127 when it cannot be started, 2 for a bad RECORD.\n"},
};

static const char *acp_prog = "acpcap";

/* Print "acpcap: what: message" on standard error. */
static void acp_err(const char *what, const char *fmt, ...) AC_PRINTF(2, 3);
static void acp_err(const char *what, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", acp_prog);
	if (what != NULL)
		fprintf(stderr, "%s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A usage error of cmd (NULL: no command): why (and the argument at
 * fault, may be NULL), then the command's synopsis. */
/* A library's message without the "PATH: " it may start with (acp_err
 * names the file already). */
static const char *acp_unprefix(const char *msg, const char *path)
{
	size_t n = strlen(path);
	return !strncmp(msg, path, n) && !strncmp(msg + n, ": ", 2) ? msg + n + 2 : msg;
}

static int acp_usage(const char *cmd, const char *why, const char *arg)
{
	size_t i;
	if (arg != NULL)
		acp_err(cmd, "%s: %s", why, arg);
	else
		acp_err(cmd, "%s", why);
	for (i = 0; i < sizeof(acp_cmd_help) / sizeof(acp_cmd_help[0]); i++)
		if (cmd != NULL && !strcmp(cmd, acp_cmd_help[i].name))
			fputs(acp_cmd_help[i].help, stderr);
	if (cmd == NULL)
		fputs("usage: acpcap pcap|dump|stats|frame|replay ... (acpcap --help)\n", stderr);
	return ACP_EXIT_USAGE;
}

/* The argument getopt stopped at. */
static const char *acp_bad_arg(int argc, char **argv)
{
	return optind > 0 && optind <= argc ? argv[optind - 1] : NULL;
}

/* Parse a non-negative decimal number. Returns 0 or -EINVAL. */
static int acp_number(const char *s, uint64_t *out)
{
	char *end;
	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' ? -EINVAL : 0;
}

/* The help of cmd on standard output. */
static int acp_cmd_usage(const char *cmd)
{
	size_t i;
	for (i = 0; i < sizeof(acp_cmd_help) / sizeof(acp_cmd_help[0]); i++)
		if (!strcmp(cmd, acp_cmd_help[i].name))
			fputs(acp_cmd_help[i].help, stdout);
	return ACP_EXIT_OK;
}

/* ---- inputs --------------------------------------------------------------------- */

/* acp_emit_fn: a synthesized packet into the reassembler. */
static void acp_to_flow(void *arg, int64_t ts_ns, const uint8_t *pkt, size_t len)
{
	acp_flow_packet(arg, DLT_RAW, ts_ns, pkt, len);
}

static int acp_feed_pcap(const char *path, acp_flow *f)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *p;
	int dlt, rc, ret = ACP_EXIT_OK;

	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO,
	                                            errbuf);
	if (p == NULL) {
		if (strstr(errbuf, "unknown file format") != NULL)
			acp_err(path, "not a record, pcap or pcapng file");
		else
			acp_err(path, "%s", acp_unprefix(errbuf, path));
		return ACP_EXIT_INPUT;
	}
	dlt = pcap_datalink(p);
	if (!acp_flow_dlt_ok(dlt)) {
		acp_err(path, "link type %s (%d) is not supported",
		        pcap_datalink_val_to_name(dlt) ? pcap_datalink_val_to_name(dlt) : "?",
		        dlt);
		pcap_close(p);
		return ACP_EXIT_INPUT;
	}
	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		int64_t ts = (int64_t)h->ts.tv_sec * 1000000000 + h->ts.tv_usec;
		if (acp_flow_packet(f, dlt, ts, data, h->caplen) < 0) {
			acp_err(path, "out of memory");
			ret = ACP_EXIT_INPUT;
			break;
		}
	}
	if (rc == PCAP_ERROR) {
		acp_err(path, "%s", pcap_geterr(p));
		ret = ACP_EXIT_INPUT;
	}
	pcap_close(p);
	return ret;
}

/* Feed the packets of FILE (a record or a capture) to f. Returns an exit
 * code (after an error line when not 0). */
static int acp_feed(const char *path, acp_flow *f)
{
	acp_rec *r;
	int rc = acp_rec_open(path, &r);
	if (rc < 0)
		return ACP_EXIT_INPUT;
	if (rc == 0)
		return acp_feed_pcap(path, f);
	rc = acp_rec_walk(r, acp_to_flow, f, NULL, NULL);
	acp_rec_close(r);
	if (rc == 0 && acp_flow_failed(f)) {
		acp_err(path, "out of memory");
		return ACP_EXIT_INPUT;
	}
	return rc < 0 ? ACP_EXIT_INPUT : ACP_EXIT_OK;
}

/* Open path as a record, or say why not. Returns 0 and *r, or an exit code. */
static int acp_need_rec(const char *path, acp_rec **r)
{
	int rc = acp_rec_open(path, r);
	if (rc == 0)
		acp_err(path, "not a record");
	return rc == 1 ? 0 : ACP_EXIT_INPUT;
}

/* ---- pcap ------------------------------------------------------------------------------ */

/* acp_emit_fn: a synthesized packet into the pcap file. */
static void acp_to_pcap(void *arg, int64_t ts_ns, const uint8_t *pkt, size_t len)
{
	struct pcap_pkthdr h;
	memset(&h, 0, sizeof(h));
	h.ts.tv_sec = (time_t)(ts_ns / 1000000000);
	/* Nanoseconds: the dumper was opened with nanosecond precision. */
	h.ts.tv_usec = (suseconds_t)(ts_ns % 1000000000);
	h.caplen = h.len = (bpf_u_int32)len;
	pcap_dump(arg, &h, pkt);
}

static int acp_cmd_pcap(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	pcap_dumper_t *d;
	pcap_t *pd;
	acp_rec *r;
	int c, rc;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (c == 'h')
			return acp_cmd_usage("pcap");
		if (c != 'o')
			return acp_usage("pcap", "bad option or missing value",
			                 acp_bad_arg(argc, argv));
		out = optarg;
	}
	if (optind != argc - 1 || out == NULL)
		return acp_usage("pcap", out == NULL ? "-o OUT.pcap is required"
		                                     : "one RECORD is required", NULL);
	if ((rc = acp_need_rec(argv[optind], &r)) != 0)
		return rc;
	pd = pcap_open_dead_with_tstamp_precision(DLT_RAW, ACP_SNAPLEN,
	                                          PCAP_TSTAMP_PRECISION_NANO);
	if (pd == NULL || (d = pcap_dump_open(pd, out)) == NULL) {
		acp_err(out, "%s", pd != NULL ? acp_unprefix(pcap_geterr(pd), out)
		                              : "out of memory");
		if (pd != NULL)
			pcap_close(pd);
		acp_rec_close(r);
		return ACP_EXIT_INPUT;
	}
	rc = acp_rec_walk(r, acp_to_pcap, d, NULL, NULL);
	acp_rec_close(r);
	if (pcap_dump_flush(d) < 0 || ferror(pcap_dump_file(d))) {
		acp_err(out, "write error: %s", strerror(errno));
		rc = -1;
	}
	pcap_dump_close(d);
	pcap_close(pd);
	return rc < 0 ? ACP_EXIT_INPUT : ACP_EXIT_OK;
}

/* ---- dump and stats ------------------------------------------------------------------- */

/* Parse the options of dump/stats: --json, --max-body N (dump only).
 * Returns -1 to go on, or an exit code. */
static int acp_view_opts(const char *cmd, int argc, char **argv, int *json,
                         uint64_t *max_body)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"max-body", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h')
			return acp_cmd_usage(cmd);
		if (c == 'j')
			*json = 1;
		else if (c != 'm' || max_body == NULL || acp_number(optarg, max_body) < 0)
			return acp_usage(cmd, c == 'm' && max_body != NULL
			                          ? "--max-body needs a number"
			                          : "bad option or missing value",
			                 acp_bad_arg(argc, argv));
	}
	if (optind != argc - 1)
		return acp_usage(cmd, "one FILE is required", NULL);
	return -1;
}

static int acp_cmd_view(const char *cmd, int argc, char **argv)
{
	int stats = !strcmp(cmd, "stats"), json = 0, rc;
	uint64_t max_body = 2000;
	acp_flow *f;
	acp_out o;

	if ((rc = acp_view_opts(cmd, argc, argv, &json, stats ? NULL : &max_body)) >= 0)
		return rc;
	if (acp_out_init(&o, stdout, json, max_body > SIZE_MAX ? 0 : (size_t)max_body) < 0 ||
	    (f = acp_flow_new(stats ? acp_out_stats_item : acp_out_dump_item,
	                      stats ? acp_out_stats_conn : NULL, &o)) == NULL) {
		acp_out_fini(&o);
		acp_err(NULL, "out of memory");
		return ACP_EXIT_INPUT;
	}
	rc = acp_feed(argv[optind], f);
	acp_flow_finish(f);
	if (stats)
		acp_out_stats_print(&o, acp_flow_counts(f));
	if (fflush(stdout) != 0 || o.o_err) {
		acp_err("standard output", "write error");
		rc = ACP_EXIT_INPUT;
	}
	acp_flow_free(f);
	acp_out_fini(&o);
	return rc;
}

/* ---- frame ------------------------------------------------------------------------------ */

/* acp_emit_fn that drops the packets. */
static void acp_to_nowhere(void *arg, int64_t ts_ns, const uint8_t *pkt, size_t len)
{
}

/* acp_rec_event_fn: stop after event *(uint64_t *)arg. */
static int acp_stop_at(void *arg, const ac_rec_event *e, const acp_synth *s)
{
	uint64_t frame, ev = *(uint64_t *)arg;
	int at;
	if (e->seq != ev)
		return 0;
	at = acp_synth_frame_of(s, ev, &frame);
	printf(at ? "event %" PRIu64 ": frame %" PRIu64 "\n"
	          : "event %" PRIu64 ": after frame %" PRIu64 "\n", ev, frame);
	return 1;
}

static int acp_cmd_frame(int argc, char **argv)
{
	uint64_t ev;
	acp_rec *r;
	int rc;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return acp_cmd_usage("frame");
	if (argc != 3 || acp_number(argv[2], &ev) < 0)
		return acp_usage("frame", "RECORD and a number EVENT are required", NULL);
	if ((rc = acp_need_rec(argv[1], &r)) != 0)
		return rc;
	rc = acp_rec_walk(r, acp_to_nowhere, NULL, acp_stop_at, &ev);
	acp_rec_close(r);
	if (rc == 0)
		acp_err(argv[1], "no event %" PRIu64 " (the record ends before)", ev);
	return rc == 1 ? ACP_EXIT_OK : ACP_EXIT_INPUT;
}

/* ---- replay ------------------------------------------------------------------------------ */

/* Print s quoted for a POSIX shell when it needs quotes. */
static void acp_shell_word(const char *s)
{
	const char *p;
	if (*s != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                           "0123456789_-+=/.,:@%") == strlen(s)) {
		fputs(s, stdout);
		return;
	}
	putchar('\'');
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*p);
	}
	putchar('\'');
}

/* Parse replay's arguments: RECORD [--until EVENT]. Returns -1 to go on,
 * or an exit code. */
static int acp_replay_opts(int argc, char **argv, const char **until)
{
	static const struct option opts[] = {
		{"until", required_argument, NULL, 'u'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t ev;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h')
			return acp_cmd_usage("replay");
		if (c != 'u' || acp_number(optarg, &ev) < 0)
			return acp_usage("replay", c == 'u' ? "--until needs an event number"
			                                    : "bad option or missing value",
			                 acp_bad_arg(argc, argv));
		*until = optarg;
	}
	if (optind != argc - 1)
		return acp_usage("replay", "one RECORD is required", NULL);
	return -1;
}

/* A simulated node's record: the acsim that made it replays that node
 * alone (acsim --replay RECORD). */
static int acp_replay_sim(const char *rec, const char *acsim, const char *until)
{
	char *args[] = {(char *)acsim, "--replay", (char *)rec, "--until", (char *)until, NULL};
	if (until == NULL)
		args[3] = NULL;
	printf("+ ");
	acp_shell_word(acsim);
	printf(" --replay ");
	acp_shell_word(rec);
	if (until != NULL)
		printf(" --until %s", until);
	putchar('\n');
	fflush(stdout);
	execvp(args[0], args);
	acp_err(args[0], "cannot run: %s", strerror(errno));
	return ACP_EXIT_NOEXEC;
}

/* Run the program args (environment set) in a child and wait for it: at a
 * divergence, the pcap frame of the event is printed after the child's
 * report. Returns the child's exit status. */
static int acp_replay_run(char **args, const char *rec)
{
	int wfd = -1, rfd = acp_replay_report_open(&wfd);
	pid_t pid = fork();

	if (pid == 0) {
		execvp(args[0], args);
		acp_err(args[0], "cannot run: %s", strerror(errno));
		_exit(ACP_EXIT_NOEXEC);
	}
	if (wfd >= 0)
		close(wfd);
	if (pid < 0) {
		acp_err(args[0], "cannot run: fork: %s", strerror(errno));
		if (rfd >= 0)
			close(rfd);
		return ACP_EXIT_NOEXEC;
	}
	/* As system(3): ^C and ^\ are the program's to handle. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	return acp_replay_report_wait(pid, rfd, rec);
}

static int acp_cmd_replay(int argc, char **argv)
{
	const char *until = NULL, *rec;
	char path[PATH_MAX], **args;
	const ac_rec_header *h;
	acp_rec *r;
	int i, rc;

	if ((rc = acp_replay_opts(argc, argv, &until)) >= 0)
		return rc;
	rec = argv[optind];
	if ((rc = acp_need_rec(rec, &r)) != 0)
		return rc;
	h = acp_rec_header(r);
	if (h->argc < 1 || (args = calloc((size_t)h->argc + 1, sizeof(*args))) == NULL) {
		acp_err(rec, h->argc < 1 ? "the record has no command line" : "out of memory");
		acp_rec_close(r);
		return ACP_EXIT_INPUT;
	}
	for (i = 0; i < h->argc; i++)
		args[i] = h->argv[i]; /* the reader's: it is closed after the run */
	if (!strcmp(h->backend, "sim")) {
		free(args);
		return acp_replay_sim(rec, h->argv[0], until);
	}
	if (realpath(rec, path) == NULL)
		snprintf(path, sizeof(path), "%s", rec);
	fputs("+ env -u AC_RECORD AC_REPLAY=", stdout);
	acp_shell_word(path);
	if (until != NULL)
		printf(" AC_REPLAY_UNTIL=%s", until);
	for (i = 0; i < h->argc; i++) {
		putchar(' ');
		acp_shell_word(args[i]);
	}
	putchar('\n');
	fflush(stdout);
	unsetenv("AC_RECORD");
	unsetenv("AC_REPLAY_UNTIL");
	if (setenv("AC_REPLAY", path, 1) < 0 ||
	    (until != NULL && setenv("AC_REPLAY_UNTIL", until, 1) < 0)) {
		acp_err(NULL, "setenv: %s", strerror(errno));
		free(args);
		acp_rec_close(r);
		return ACP_EXIT_INPUT;
	}
	rc = acp_replay_run(args, path);
	free(args);
	acp_rec_close(r);
	return rc;
}

/* ---- main -------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	opterr = 0; /* acp_usage says what is wrong */
	if (cmd == NULL)
		return acp_usage(NULL, "a command is required", NULL);
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(acp_manual, stdout);
		return ACP_EXIT_OK;
	}
	if (!strcmp(cmd, "--version")) {
		printf("acpcap (%s) %s, %s\n", PACKAGE_NAME, PACKAGE_VERSION,
		       pcap_lib_version());
		return ACP_EXIT_OK;
	}
	/* Each command parses its own options from argv[1] ("COMMAND ..."). */
	optind = 1;
	if (!strcmp(cmd, "pcap"))
		return acp_cmd_pcap(argc - 1, argv + 1);
	if (!strcmp(cmd, "dump") || !strcmp(cmd, "stats"))
		return acp_cmd_view(cmd, argc - 1, argv + 1);
	if (!strcmp(cmd, "frame"))
		return acp_cmd_frame(argc - 1, argv + 1);
	if (!strcmp(cmd, "replay"))
		return acp_cmd_replay(argc - 1, argv + 1);
	return acp_usage(NULL, "unknown command", cmd);
}
