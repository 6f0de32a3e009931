/* io/io.h: the I/O interface as the engine and the protocol include it.
 * The definitions live in the public header asyncoro/io.h (people who write
 * their own backend need them); this file is the layer's single entry point
 * for engine/ and net/, which must not include a backend or OS headers for
 * effects. It adds what only the library uses: AC_BUGGIFY, the default
 * backend (io/io_default.c) and the process's standard error
 * (io/io_common.c). Assertions are in io/io_assert.h. */
#ifndef AC_IO_IO_H
#define AC_IO_IO_H
#include <asyncoro/io.h>

/* A fault point in production code: AC_BUGGIFY(io, "name") is 1 when io's
 * backend says the point fires now (ac_buggify), and the constant 0 when
 * configure --disable-sim left fault points out. Include "config.h" first. */
#ifdef AC_ENABLE_BUGGIFY
#define AC_BUGGIFY(io, site) ac_buggify((io), (site))
#else
#define AC_BUGGIFY(io, site) 0
#endif

/* The backend of a scheduler whose options name none (ac_sched_opts.io ==
 * NULL): the engine calls these and never names a backend itself. Creates
 * one (the epoll backend) and returns 0 and *out, or a negative errno. */
int ac__io_default_new(ac_io **out);
/* Destroy a backend made by ac__io_default_new (its handles are closed). */
void ac__io_default_free(ac_io *io);

/* Write the NUL-terminated text to the process's standard error as it is,
 * in one piece, for the engine's default log sink. Diagnostics of the
 * process, not an effect of the (simulated) world: no backend is asked. */
void ac__io_stderr(const char *text);
/* The environment variable AC_LOG_LEVEL (NULL when unset): a process
 * setting the engine reads for every new scheduler. */
const char *ac__io_log_level_env(void);

#endif
