/* tests/fuzz/fuzz.h: what the fuzz targets of tests/fuzz/ share. Each
 * fuzz_NAME.c defines LLVMFuzzerTestOneInput (libFuzzer's entry point) and
 * is linked two ways: with clang's -fsanitize=fuzzer into the fuzzer
 * tests/fuzz/fuzz_NAME (configure --enable-fuzz, `make fuzz`), and with
 * tests/fuzz/replay.c, a plain main() that feeds every file of the
 * target's committed corpus (tests/fuzz/corpus/NAME/) to it, into the
 * check program tests/fuzz/replay_NAME that `make check` runs with any
 * compiler. tests/fuzz/README.md says how the corpora are made.
 *
 * A target never fails softly: a broken property calls fz_fail, which
 * prints why and aborts, so libFuzzer and the replay driver both report it
 * as a crash.
 */
#ifndef AC_TESTS_FUZZ_FUZZ_H
#define AC_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

/* libFuzzer's entry point: one input; returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Report a broken property of the input under test and abort. */
#define fz_fail(...)                                                        \
	do {                                                                \
		fprintf(stderr, "%s:%d: property broken: ", __FILE__,      \
		        __LINE__);                                          \
		fprintf(stderr, __VA_ARGS__);                               \
		fputc('\n', stderr);                                        \
		abort();                                                    \
	} while (0)

/* Abort with fz_fail unless cond holds. */
#define fz_check(cond)                                                      \
	do {                                                                \
		if (!(cond))                                                \
			fz_fail("%s", #cond);                               \
	} while (0)

/* A stream that discards what is written, without a system call (unlike
 * /dev/null, whose writes dominated the printers' targets). */
static inline ssize_t fz_null_write(void *c, const char *buf, size_t size)
{
	(void)c;
	(void)buf;
	return (ssize_t)size;
}

static inline FILE *fz_null_file(void)
{
	cookie_io_functions_t io = {NULL, fz_null_write, NULL, NULL};
	return fopencookie(NULL, "w", io);
}

#endif /* AC_TESTS_FUZZ_FUZZ_H */
