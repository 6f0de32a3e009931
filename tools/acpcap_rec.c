/* tools/acpcap_rec.c: records for acpcap — the library's record reader
 * (io/record_file.c, compiled into acpcap) under acpcap's error lines, and
 * the walk that feeds a record's events to the pcap synthesizer.
 *
 * A FILE argument is told apart by its first bytes: the pcap and pcapng
 * magic numbers go to libpcap, anything else to the record reader, whose
 * "no magic" verdict becomes "not a record, pcap or pcapng file".
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/acpcap.h"

struct acp_rec {
	ac_rec_reader *r_reader;
	const char *r_path;
};

/* 1 when the file starts like a pcap or pcapng capture ("-", standard
 * input, is left to libpcap too). */
static int rec_is_capture(const char *path)
{
	static const uint32_t magics[] = {0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d,
	                                  0x4d3cb2a1, 0x0a0d0d0a};
	uint8_t b[4];
	uint32_t m;
	size_t i, n = 0;
	FILE *fp;

	if (!strcmp(path, "-"))
		return 1;
	if ((fp = fopen(path, "rb")) != NULL) {
		n = fread(b, 1, sizeof(b), fp);
		fclose(fp);
	}
	if (n < sizeof(b))
		return 0;
	m = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	for (i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if (m == magics[i])
			return 1;
	return 0;
}

int acp_rec_open(const char *path, acp_rec **out)
{
	char err[256] = "";
	ac_rec_reader *rd;
	acp_rec *r;
	int rc;

	if (rec_is_capture(path))
		return 0;
	rc = ac__rec_open(path, &rd, err, sizeof(err));
	if (rc == -EBADMSG && strstr(err, "not a record") != NULL) {
		fprintf(stderr, "acpcap: %s: not a record, pcap or pcapng file\n", path);
		return -1;
	}
	if (rc < 0) {
		size_t n = strlen(path);
		/* The reader's message may name the file itself. */
		const char *m = !strncmp(err, path, n) && !strncmp(err + n, ": ", 2)
		                    ? err + n + 2 : err;
		fprintf(stderr, "acpcap: %s: %s\n", path, m[0] ? m : strerror(-rc));
		return -1;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		ac__rec_close(rd);
		fprintf(stderr, "acpcap: %s: out of memory\n", path);
		return -1;
	}
	r->r_reader = rd;
	r->r_path = path;
	*out = r;
	return 1;
}

const ac_rec_header *acp_rec_header(const acp_rec *r)
{
	return ac__rec_header(r->r_reader);
}

int acp_rec_walk(acp_rec *r, acp_emit_fn emit, void *arg, acp_rec_event_fn fn,
                 void *fn_arg)
{
	const ac_rec_header *h = ac__rec_header(r->r_reader);
	acp_synth *s = acp_synth_new(h->wall_ns, h->mono_ns, emit, arg);
	ac_rec_event e;
	int rc;

	if (s == NULL) {
		fprintf(stderr, "acpcap: %s: out of memory\n", r->r_path);
		return -1;
	}
	while ((rc = ac__rec_next(r->r_reader, &e)) == 1) {
		if (acp_synth_event(s, &e) < 0) {
			rc = -ENOMEM;
			break;
		}
		if (fn != NULL && fn(fn_arg, &e, s)) {
			acp_synth_free(s);
			return 1;
		}
	}
	acp_synth_free(s);
	if (rc == 0)
		return 0;
	fprintf(stderr, "acpcap: %s: %s\n", r->r_path,
	        rc == -ENOMEM ? "out of memory" : ac__rec_error(r->r_reader));
	return -1;
}

void acp_rec_close(acp_rec *r)
{
	if (r == NULL)
		return;
	ac__rec_close(r->r_reader);
	free(r);
}
