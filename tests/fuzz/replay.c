/* tests/fuzz/replay.c: the corpus replayer — a main() for a fuzz target
 * built without libFuzzer (any compiler), so that `make check` runs every
 * committed input of tests/fuzz/corpus/NAME/ through the target's
 * LLVMFuzzerTestOneInput: the seeds, and the crashers found earlier, kept
 * as regression inputs. A crash, an abort (fz_fail) or a sanitizer report
 * fails the run like any other.
 *
 *   replay_NAME            every file of the corpus directory compiled in
 *                          (FUZZ_CORPUS_DIR/FUZZ_NAME), in name order
 *   replay_NAME PATH...    those files, or every file of those directories
 *
 * Prints "N passed, 0 failed" at the end (the line tools/test.sh sums);
 * exits 1 when a directory cannot be read or holds no input at all, so an
 * empty or missing corpus fails instead of passing vacuously.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

#if !defined(FUZZ_CORPUS_DIR) || !defined(FUZZ_NAME)
#error "FUZZ_CORPUS_DIR and FUZZ_NAME must name the target's corpus directory"
#endif

/* Read the whole file at path into a malloc'ed buffer (never NULL on
 * success, even when empty). Returns 0 or -1 after a message. */
static int replay_read(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t got;
		if (n == cap) {
			uint8_t *nb = realloc(buf, cap ? cap * 2 : 4096);
			if (!nb) {
				free(buf);
				fclose(f);
				fprintf(stderr, "replay: %s: out of memory\n", path);
				return -1;
			}
			buf = nb;
			cap = cap ? cap * 2 : 4096;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	*out = buf;
	*len = n;
	return 0;
}

/* Feed one file to the target. */
static int replay_file(const char *path)
{
	uint8_t *buf;
	size_t len;
	if (replay_read(path, &buf, &len) < 0)
		return -1;
	if (getenv("FUZZ_REPLAY_VERBOSE"))
		fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int replay_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feed every regular file of dir, in name order. Returns how many, or -1. */
static long replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	long done = 0;
	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 64) * sizeof(*nn));
			if (!nn)
				break;
			names = nn;
			cap = cap ? cap * 2 : 64;
		}
		if ((names[n] = strdup(e->d_name)) != NULL)
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), replay_name_cmp);
	for (i = 0; i < n; i++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) < 0)
				done = -1;
			else if (done >= 0)
				done++;
		}
		free(names[i]);
	}
	free(names);
	return done;
}

int main(int argc, char **argv)
{
	long total = 0;
	int i;
	const char *def[] = {FUZZ_CORPUS_DIR "/" FUZZ_NAME};
	const char *const *paths = argc > 1 ? (const char *const *)argv + 1 : def;
	int npaths = argc > 1 ? argc - 1 : 1;
	for (i = 0; i < npaths; i++) {
		struct stat st;
		long n;
		if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode))
			n = replay_dir(paths[i]);
		else
			n = replay_file(paths[i]) < 0 ? -1 : 1;
		if (n <= 0) {
			fprintf(stderr, "replay: %s: no input replayed\n", paths[i]);
			return 1;
		}
		total += n;
	}
	printf("%ld passed, 0 failed\n", total);
	return 0;
}
