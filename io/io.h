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

/* ---- a scheduler's backend: the default one, recording, replay ---------- */

/* Where the io layer reports for a scheduler: level as AC_LOG_* (1 warning,
 * 2 information), text one line without newline. */
typedef void (*ac__io_log_fn)(void *arg, int level, const char *text);

/* The backends behind one scheduler (io/io_default.c). */
typedef struct ac__io_slot {
	/* What the scheduler calls. */
	ac_io *io;
	/* The default backend, when made here (freed by ac__io_sched_close). */
	ac_io *base;
	/* The recorder wrapping the rest, or NULL. */
	ac_io *rec;
	/* The replay backend, or NULL. */
	ac_io *replay;
	ac__io_log_fn log;
	void *log_arg;
} ac__io_slot;

/* Choose and make the backend of a new scheduler named name, into *slot:
 *  - given (the options' io), or when NULL: the replay of the record the
 *    environment variable AC_REPLAY names (the first scheduler of the
 *    process reads PATH, the next PATH.1, PATH.2 ...), else the default
 *    backend;
 *  - wrapped in a recorder when record_path, or else the environment
 *    variable AC_RECORD, names a file (PATH, PATH.1, ... likewise; PATH.PID
 *    ... in a forked child, or when another process records to PATH); a
 *    record that cannot be created is reported through log (a warning)
 *    and the scheduler runs unrecorded.
 * Returns 0, or a negative errno (the default backend or the replay could
 * not be made). log is also told when recording stops early. */
int ac__io_sched_open(ac_io *given, const char *record_path, const char *name,
                      ac__io_log_fn log, void *log_arg, ac__io_slot *slot);
/* Undo ac__io_sched_open: the recorder writes its END and log gets
 * "record PATH: N events, hash H" (information); a replay checks that the
 * run reached the end of its record (or reports the divergence and ends
 * the process) and logs the same line; the default backend is freed. */
void ac__io_sched_close(ac__io_slot *slot);
/* The backend a recorder wraps (io itself for any other). */
ac_io *ac__io_unwrap(ac_io *io);
/* A node of the scheduler whose backend is io starts with the secret (len
 * bytes). A recorder writes its fingerprint as a META note
 * ("secret.fingerprint", doc/record.md); a replay checks it against the
 * record's and, when they differ, prints "replay refused: ..." and ends
 * the process with AC_REPLAY_EXIT_REFUSED. Any other backend: nothing. */
void ac__io_note_secret(ac_io *io, const void *secret, size_t len);

/* Write the NUL-terminated text to the process's standard error as it is,
 * in one piece, for the engine's default log sink. Diagnostics of the
 * process, not an effect of the (simulated) world: no backend is asked. */
void ac__io_stderr(const char *text);
/* The environment variable AC_LOG_LEVEL (NULL when unset): a process
 * setting the engine reads for every new scheduler. */
const char *ac__io_log_level_env(void);
/* The environment variable SSLKEYLOGFILE (NULL when unset): where TLS
 * nodes without a keylogfile option write their session keys. */
const char *ac__io_keylog_env(void);

#endif
