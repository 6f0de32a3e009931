/* io/io.h: the I/O interface as the engine and the protocol include it.
 * The definitions live in the public header asyncoro/io.h (people who write
 * their own backend need them); this file is the layer's single entry point
 * for engine/ and net/, which must not include a backend or OS headers for
 * effects. */
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

#endif
