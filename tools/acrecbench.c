/* tools/acrecbench.c: what writing a record costs, in CPU time, for the
 * events of a real record (made with AC_RECORD=PATH on any program, e.g.
 * `AC_RECORD=/tmp/ow.acrec acbench --only net-oneway --runs 1`; the
 * client's is PATH.PID). Not installed: `make tools/acrecbench`.
 *
 *   acrecbench RECORD [--runs N] [--out PATH]
 *
 * It loads RECORD's events into memory, then measures, best of N runs
 * (default 5), this thread's CPU time (CLOCK_THREAD_CPUTIME_ID: user and
 * system time, so the kernel's copying into the page cache counts; wall
 * time would count what other processes do):
 *
 *   write      the record writer (io/record_file.c: blocks compressed
 *              with io/rec_lz.c) writing the events to PATH (default
 *              /tmp/acrecbench-PID.acrec, a new file each run, removed);
 *   write-raw  the same frames written as they are, as format 1 did (each
 *              encoded into a 256 KiB buffer, hashed, written with
 *              write(2) when the buffer holds 256 KiB; format 1 wrote an
 *              event of 64 KiB or more from the caller's bytes instead of
 *              copying it, which this does not do: for such events this is
 *              a little slower than format 1 was);
 *   read       the reader reading the written record back;
 *   lz         ac__lz_compress alone over the event stream in 256 KiB
 *              blocks, and over as many random bytes;
 *   unlz       ac__lz_decompress of those blocks.
 *
 * Figures are given per 119 MB of event stream too (the one-way client's
 * record for a million 16-byte sends). Prints one line per figure.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/rec_lz.h"
#include "io/record.h"

#define BLOCK (256u * 1024)
#define REF_BYTES 119e6

typedef struct rb_events {
	ac_rec_event *ev;
	size_t n;
	ac_rec_header hdr;
	uint8_t *stream;  /* the frames, encoded again */
	size_t slen;
} rb_events;

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "acrecbench: out of memory\n");
		exit(1);
	}
	return p;
}

static const uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *c = xmalloc(n);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* Every event of path into *e (data copied), and the stream they make. */
static int load(const char *path, rb_events *e)
{
	ac_rec_reader *r;
	ac_rec_event ev;
	ac_rec_enc st;
	size_t cap = 1024, bound = 0, i;
	char err[256];
	int rc;

	if ((rc = ac__rec_open(path, &r, err, sizeof(err))) < 0) {
		fprintf(stderr, "acrecbench: %s\n", err);
		return rc;
	}
	e->ev = xmalloc(cap * sizeof(*e->ev));
	while ((rc = ac__rec_next(r, &ev)) == 1) {
		if (e->n == cap)
			e->ev = realloc(e->ev, (cap *= 2) * sizeof(*e->ev));
		if (e->ev == NULL)
			return -ENOMEM;
		ev.data = dup_bytes(ev.data, ev.dlen);
		ev.data2 = dup_bytes(ev.data2, ev.dlen2);
		e->ev[e->n++] = ev;
		bound += ac__rec_frame_bound(&ev);
	}
	if (rc < 0)
		fprintf(stderr, "acrecbench: %s (using the %zu events before)\n",
		        ac__rec_error(r), e->n);
	e->hdr = *ac__rec_header(r);
	e->hdr.argc = 0;
	e->hdr.argv = NULL;
	ac__rec_close(r);
	e->stream = xmalloc(bound);
	memset(&st, 0, sizeof(st));
	for (i = 0; i < e->n; i++)
		e->slen += ac__rec_encode(&st, &e->ev[i], e->stream + e->slen);
	return 0;
}

/* The writer: seconds of CPU; *size the file's. */
static double run_write(const rb_events *e, const char *out, size_t *size)
{
	ac_rec_writer *w;
	double t0 = cpu_now(), t;
	size_t i;
	FILE *f;

	unlink(out);
	if (ac__recw_open(out, &e->hdr, NULL, NULL, &w) < 0) {
		perror(out);
		exit(1);
	}
	for (i = 0; i < e->n; i++)
		ac__recw_event(w, &e->ev[i]);
	ac__recw_end(w);
	ac__recw_free(w);
	t = cpu_now() - t0;
	f = fopen(out, "rb");
	fseek(f, 0, SEEK_END);
	*size = (size_t)ftell(f);
	fclose(f);
	return t;
}

/* Format 1's way: frames encoded into a buffer, hashed, written as they
 * are per 256 KiB. */
static double run_write_raw(const rb_events *e, const char *out)
{
	uint8_t *buf = xmalloc(2 * BLOCK + (1u << 26));
	ac_rec_enc st;
	ac_rec_xxh x;
	double t0 = cpu_now(), t;
	size_t len = 0, i;
	int fd;

	unlink(out);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(out);
		exit(1);
	}
	memset(&st, 0, sizeof(st));
	ac__rec_xxh_init(&x);
	for (i = 0; i <= e->n; i++) {
		if (i < e->n && ac__rec_frame_bound(&e->ev[i]) <= (1u << 26)) {
			size_t n = ac__rec_encode(&st, &e->ev[i], buf + len);
			ac__rec_xxh_update(&x, buf + len, n);
			len += n;
		}
		if (len >= BLOCK || i == e->n) {
			if (write(fd, buf, len) != (ssize_t)len)
				perror("write");
			len = 0;
		}
	}
	close(fd);
	t = cpu_now() - t0;
	unlink(out);
	free(buf);
	return t;
}

static double run_read(const char *out)
{
	ac_rec_reader *r;
	ac_rec_event ev;
	double t0 = cpu_now();

	if (ac__rec_open(out, &r, NULL, 0) < 0)
		return -1;
	while (ac__rec_next(r, &ev) == 1)
		;
	ac__rec_close(r);
	return cpu_now() - t0;
}

/* Compress p[0..n) in blocks into z (room: n + n / BLOCK * 16); the
 * compressed lengths into zl (0: the block did not shrink). */
static double run_lz(const uint8_t *p, size_t n, uint8_t *z, size_t *zl, size_t *total)
{
	static uint32_t table[AC_LZ_TABLE];
	double t0 = cpu_now();
	size_t at, k = 0;

	*total = 0;
	for (at = 0; at < n; at += BLOCK, k++) {
		size_t b = n - at < BLOCK ? n - at : BLOCK;
		zl[k] = ac__lz_compress(p + at, b, z + at, b - 1, table);
		*total += zl[k] ? zl[k] : b;
	}
	return cpu_now() - t0;
}

static double run_unlz(const uint8_t *p, size_t n, const uint8_t *z, const size_t *zl,
                       uint8_t *back)
{
	double t0 = cpu_now(), t;
	size_t at, k = 0;

	for (at = 0; at < n; at += BLOCK, k++) {
		size_t b = n - at < BLOCK ? n - at : BLOCK;
		if (zl[k] && ac__lz_decompress(z + at, zl[k], back + at, b) < 0)
			fprintf(stderr, "acrecbench: block %zu does not decompress\n", k);
	}
	t = cpu_now() - t0;
	for (at = 0, k = 0; at < n; at += BLOCK, k++) {
		size_t b = n - at < BLOCK ? n - at : BLOCK;
		if (zl[k] && memcmp(back + at, p + at, b) != 0)
			fprintf(stderr, "acrecbench: block %zu decompresses to other bytes\n", k);
	}
	return t;
}

static void line(const char *what, double secs, size_t bytes, const char *extra)
{
	printf("%-10s %9.1f ms CPU  %8.1f ms per 119 MB  %8.0f MB/s%s\n", what, secs * 1e3,
	       secs * 1e3 * REF_BYTES / (double)bytes, (double)bytes / secs / 1e6, extra);
}

int main(int argc, char **argv)
{
	rb_events e = {0};
	char out[256], extra[128];
	double best[6] = {1e9, 1e9, 1e9, 1e9, 1e9, 1e9}, t;
	size_t size = 0, zt = 0, rt = 0, *zl, i;
	uint8_t *z, *rnd, *back;
	uint64_t s = 0x9e3779b97f4a7c15ull;
	int runs = 5, k;

	snprintf(out, sizeof(out), "/tmp/acrecbench-%d.acrec", (int)getpid());
	for (k = 2; k < argc; k++) {
		if (!strcmp(argv[k], "--runs") && k + 1 < argc)
			runs = atoi(argv[++k]);
		else if (!strcmp(argv[k], "--out") && k + 1 < argc)
			snprintf(out, sizeof(out), "%s", argv[++k]);
	}
	if (argc < 2 || argv[1][0] == '-' || runs < 1 || runs > 100) {
		fprintf(stderr, "usage: acrecbench RECORD [--runs N] [--out PATH]\n");
		return 2;
	}
	if (load(argv[1], &e) < 0 || e.slen == 0)
		return 1;
	z = xmalloc(e.slen + e.slen / BLOCK * 16 + 16);
	back = xmalloc(e.slen);
	rnd = xmalloc(e.slen);
	zl = xmalloc((e.slen / BLOCK + 1) * sizeof(*zl));
	for (i = 0; i < e.slen; i++) {
		s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
		rnd[i] = (uint8_t)((s * 2685821657736338717ull) >> 56);
	}
	printf("%s: %zu events, %zu bytes of event stream; best of %d runs, thread CPU time\n",
	       argv[1], e.n, e.slen, runs);
	for (k = 0; k < runs; k++) {
		if ((t = run_write(&e, out, &size)) < best[0])
			best[0] = t;
		if ((t = run_read(out)) >= 0 && t < best[2])
			best[2] = t;
		if ((t = run_write_raw(&e, out)) < best[1])
			best[1] = t;
		if ((t = run_lz(e.stream, e.slen, z, zl, &zt)) < best[3])
			best[3] = t;
		if ((t = run_unlz(e.stream, e.slen, z, zl, back)) < best[4])
			best[4] = t;
		if ((t = run_lz(rnd, e.slen, back, zl, &rt)) < best[5])
			best[5] = t;
	}
	unlink(out);
	snprintf(extra, sizeof(extra), "  file %zu bytes (%.1f:1)", size,
	         (double)e.slen / (double)size);
	line("write", best[0], e.slen, extra);
	line("write-raw", best[1], e.slen, "  (frames as they are, format 1's way)");
	line("read", best[2], e.slen, "");
	snprintf(extra, sizeof(extra), "  %zu -> %zu bytes (%.1f:1)", e.slen, zt,
	         (double)e.slen / (double)zt);
	line("lz", best[3], e.slen, extra);
	line("unlz", best[4], e.slen, "");
	snprintf(extra, sizeof(extra), "  random bytes: %zu -> %zu (stored)", e.slen, rt);
	line("lz-random", best[5], e.slen, extra);
	return 0;
}
