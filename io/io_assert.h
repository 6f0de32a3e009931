/* io/io_assert.h: the one assertion machinery of every layer — io/, sim/,
 * engine/ and net/ include it (the lowest layer, so that the arrows point
 * down): AC_ASSERT, AC_DASSERT, AC_STATIC_ASSERT and the context that a
 * failure prints.
 *
 * Assertions are for programmer errors only, never for peer input or a lack
 * of memory. A failure goes through one path, ac__assert_fail, which prints
 *
 *     asyncoro: assertion failed: EXPR (FILE:LINE) [CONTEXT]
 *
 * to standard error and aborts. CONTEXT (left out when none is set) says
 * which run failed: the simulator sets it while it runs a world, to the
 * world's seed, virtual time and node, so that the failing seed of a sweep
 * can be replayed. The context is per thread, like the current scheduler:
 * a world belongs to one thread.
 *
 * Include "config.h" first (AC_DEBUG decides AC_DASSERT). This header and
 * io/io_assert.c depend on nothing but the C library.
 */
#ifndef AC_IO_IO_ASSERT_H
#define AC_IO_IO_ASSERT_H

#include <stddef.h>

/* Always on. */
#define AC_ASSERT(x) \
	((x) ? (void)0 : ac__assert_fail(#x, __FILE__, __LINE__))
/* Expensive checks: on in debug builds (configure --enable-debug, and the
 * sanitizer build), off otherwise. */
#ifdef AC_DEBUG
#define AC_DASSERT(x) AC_ASSERT(x)
#else
#define AC_DASSERT(x) ((void)0)
#endif
/* Relations between constants and layouts, checked by the compiler. */
#define AC_STATIC_ASSERT(x) _Static_assert(x, #x)

/* Print the failed expression expr, where it is (file, line) and the
 * thread's context (when set) to standard error, then abort(). Called by
 * AC_ASSERT; never returns. A failure while the context is being described
 * prints the bare line. */
_Noreturn void ac__assert_fail(const char *expr, const char *file, int line);

/* A context for assertion failures. Embed it in the object it describes
 * (the simulator's world) and recover that object from x. */
typedef struct ac__assert_ctx {
	/* Write the context into buf of len (> 0) bytes, NUL-terminated, e.g.
	 * "sim seed 7, t 1.250000000 s, node n2". Must not allocate or fail. */
	void (*x_describe)(const struct ac__assert_ctx *x, char *buf,
	                   size_t len);
} ac__assert_ctx;

/* Make x (NULL: none) the calling thread's context for assertion failures
 * and return the one it replaces. Contexts nest: whoever sets one restores
 * the previous one when it is done, before x stops being valid. */
const ac__assert_ctx *ac__assert_ctx_swap(const ac__assert_ctx *x);

#endif /* AC_IO_IO_ASSERT_H */
