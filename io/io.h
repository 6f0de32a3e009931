/* io/io.h: the I/O interface as the engine and the protocol include it.
 * The definitions live in the public header asyncoro/io.h (people who write
 * their own backend need them); this file is the layer's single entry point
 * for engine/ and net/, which must not include a backend or OS headers for
 * effects. */
#ifndef AC_IO_IO_H
#define AC_IO_IO_H
#include <asyncoro/io.h>
#endif
