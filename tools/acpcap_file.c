/* tools/acpcap_file.c: records to pcap files and pcap frame numbers, and
 * the waiting side of a replay that names the pcap frame of a divergence
 * (tools/acpcap_file.h). Shared by acpcap and acsim.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include <asyncoro/record.h>

#include "io/record.h"
#include "tools/acpcap_file.h"
#include "tools/acpcap_synth.h"

/* acp_emit_fn: a synthesized packet into the pcap dumper arg (the same
 * header as acpcap's). */
static void file_to_pcap(void *arg, int64_t ts_ns, const uint8_t *pkt, size_t len)
{
	struct pcap_pkthdr h;
	memset(&h, 0, sizeof(h));
	h.ts.tv_sec = (time_t)(ts_ns / 1000000000);
	/* Nanoseconds: the dumper was opened with nanosecond precision. */
	h.ts.tv_usec = (suseconds_t)(ts_ns % 1000000000);
	h.caplen = h.len = (bpf_u_int32)len;
	pcap_dump(arg, &h, pkt);
}

/* acp_emit_fn that drops the packets. */
static void file_to_nowhere(void *arg, int64_t ts_ns, const uint8_t *pkt, size_t len)
{
	(void)arg;
	(void)ts_ns;
	(void)pkt;
	(void)len;
}

/* Feed the record's events to a synthesizer emitting to emit(arg); stop
 * after event stop (UINT64_MAX: never), leaving *frame and the return of
 * acp_synth_frame_of in *at. Returns 0 at the clean end, 1 at a cut or
 * corrupt end, 2 stopped, or a negative errno (line in err). */
static int file_walk(ac_rec_reader *r, acp_emit_fn emit, void *arg, uint64_t stop,
                     uint64_t *frame, int *at, char *err, size_t len)
{
	const ac_rec_header *h = ac__rec_header(r);
	acp_synth *s = acp_synth_new(h->wall_ns, h->mono_ns, emit, arg);
	ac_rec_event e;
	int rc;

	if (s == NULL) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	while ((rc = ac__rec_next(r, &e)) == 1) {
		if (acp_synth_event(s, &e) < 0) {
			rc = -ENOMEM;
			snprintf(err, len, "out of memory");
			break;
		}
		if (e.seq == stop) {
			*at = acp_synth_frame_of(s, stop, frame);
			rc = 2;
			break;
		}
	}
	acp_synth_free(s);
	if (rc < 0 && rc != -ENOMEM) {
		snprintf(err, len, "%s", ac__rec_error(r));
		return 1;
	}
	return rc;
}

int acp_file_pcap(const char *rec, const char *out, char *err, size_t len)
{
	ac_rec_reader *r;
	pcap_dumper_t *d = NULL;
	pcap_t *pd;
	uint64_t frame;
	int at, rc = ac__rec_open(rec, &r, err, len);

	if (rc < 0)
		return rc;
	pd = pcap_open_dead_with_tstamp_precision(DLT_RAW, ACP_SNAPLEN,
	                                          PCAP_TSTAMP_PRECISION_NANO);
	if (pd == NULL || (d = pcap_dump_open(pd, out)) == NULL) {
		snprintf(err, len, "%s: %s", out, pd ? pcap_geterr(pd) : "out of memory");
		if (pd != NULL)
			pcap_close(pd);
		ac__rec_close(r);
		return -EIO;
	}
	rc = file_walk(r, file_to_pcap, d, UINT64_MAX, &frame, &at, err, len);
	ac__rec_close(r);
	if (pcap_dump_flush(d) < 0 || ferror(pcap_dump_file(d))) {
		snprintf(err, len, "%s: write error: %s", out, strerror(errno));
		rc = -EIO;
	}
	pcap_dump_close(d);
	pcap_close(pd);
	return rc;
}

int acp_file_frame_of(const char *rec, uint64_t ev, uint64_t *frame, char *err,
                      size_t len)
{
	ac_rec_reader *r;
	int at = 0, rc = ac__rec_open(rec, &r, err, len);

	if (rc < 0)
		return rc;
	*frame = 0;
	rc = file_walk(r, file_to_nowhere, NULL, ev, frame, &at, err, len);
	ac__rec_close(r);
	if (rc == 2)
		return at;
	if (rc >= 0) {
		snprintf(err, len, "%s: no event %" PRIu64 " (the record ends before)", rec, ev);
		return -ENOENT;
	}
	return rc;
}

int acp_replay_report_open(int *wfd)
{
	char v[16];
	int fds[2];

	if (pipe(fds) < 0)
		return -1;
	snprintf(v, sizeof(v), "%d", fds[1]);
	if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) < 0 || setenv("AC_REPLAY_REPORT_FD", v, 1) < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	*wfd = fds[1];
	return fds[0];
}

/* The event a diverged replay wrote to rfd, or -1. */
static int64_t report_read(int rfd)
{
	char buf[64];
	unsigned long long ev;
	ssize_t n;

	/* The replay's children may hold the write end: never wait for EOF. */
	if (fcntl(rfd, F_SETFL, O_NONBLOCK) < 0)
		return -1;
	n = read(rfd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return sscanf(buf, "diverged %llu", &ev) == 1 ? (int64_t)ev : -1;
}

int acp_replay_report_wait(pid_t pid, int rfd, const char *rec)
{
	char err[512];
	uint64_t frame;
	int64_t ev;
	int st, at;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			if (rfd >= 0)
				close(rfd);
			return 127;
		}
	if (WIFSIGNALED(st)) {
		if (rfd >= 0)
			close(rfd);
		return 128 + WTERMSIG(st);
	}
	st = WEXITSTATUS(st);
	ev = rfd >= 0 && st == AC_REPLAY_EXIT_DIVERGED ? report_read(rfd) : -1;
	if (rfd >= 0)
		close(rfd);
	if (ev < 0)
		return st;
	at = acp_file_frame_of(rec, (uint64_t)ev, &frame, err, sizeof(err));
	if (at < 0)
		fprintf(stderr, "  pcap frame: unknown (%s)\n", err);
	else if (at)
		fprintf(stderr, "  pcap frame: %" PRIu64 " (event %" PRId64 " made it; frames "
		        "numbered as `acpcap pcap` writes them, from 1)\n", frame, ev);
	else
		fprintf(stderr, "  pcap frame: none made by event %" PRId64 "; the last before "
		        "it is frame %" PRIu64 " (numbered as `acpcap pcap` writes them)\n",
		        ev, frame);
	return st;
}
