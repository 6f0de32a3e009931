/* io/io_assert.c: the failure path of AC_ASSERT (io/io_assert.h) and the
 * thread's assertion context.
 *
 * Stands alone (the C library only), so that a test program that compiles a
 * file of the library into itself, such as the PRNG tests of sim/sim_rng.c,
 * can compile this one too.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "io/io_assert.h"

/* Longest context printed. */
#define ASSERT_CTX_MAX 256

/* The thread's context, or NULL. */
static __thread const ac__assert_ctx *assert_ctx;
/* 1 while a failure is being reported (a failure inside x_describe must not
 * describe the context again). */
static __thread int assert_failing;

const ac__assert_ctx *ac__assert_ctx_swap(const ac__assert_ctx *x)
{
	const ac__assert_ctx *old = assert_ctx;

	assert_ctx = x;
	return old;
}

void ac__assert_fail(const char *expr, const char *file, int line)
{
	char ctx[ASSERT_CTX_MAX];

	ctx[0] = '\0';
	if (assert_ctx != NULL && !assert_failing) {
		assert_failing = 1;
		assert_ctx->x_describe(assert_ctx, ctx, sizeof(ctx));
	}
	if (ctx[0] != '\0')
		fprintf(stderr, "asyncoro: assertion failed: %s (%s:%d) [%s]\n",
		        expr, file, line, ctx);
	else
		fprintf(stderr, "asyncoro: assertion failed: %s (%s:%d)\n", expr,
		        file, line);
	fflush(stderr);
	abort();
}
