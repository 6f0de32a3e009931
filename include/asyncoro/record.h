/* asyncoro/record.h: recording a run at the io.h boundary, and replaying it.
 *
 * A record holds everything that crossed asyncoro/io.h during a backend's
 * life, in call order: clock readings, random bytes, the outcome of every
 * call and operation, the bytes received, which callbacks each poll ran —
 * and everything the program gave: every call's arguments, every byte sent
 * or written. doc/record.md describes the file.
 *
 * Most programs need none of this header: a scheduler records itself when
 * ac_sched_opts.record_path or the environment variable AC_RECORD names a
 * file, and replays when AC_REPLAY does (see asyncoro.h). These functions
 * are for programs that build their backends themselves.
 *
 * A replay runs the same program against the record instead of the world:
 * inputs are fed back, outputs compared, time is the recorded time (it runs
 * at CPU speed and touches no network or file). At the first difference it
 * prints "replay diverged at event E (op X): expected ..., got ..." to
 * standard error, with a hexdump of differing bytes and the 5 events
 * before, and ends the process with AC_REPLAY_EXIT_DIVERGED.
 */
#ifndef ASYNCORO_RECORD_H
#define ASYNCORO_RECORD_H

#include <stdint.h>

#include <asyncoro/io.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* Exit status of a replay that diverged from its record. */
#define AC_REPLAY_EXIT_DIVERGED 3
/* Exit status of a replay stopped at the event AC_REPLAY_UNTIL names. */
#define AC_REPLAY_EXIT_UNTIL 4
/* Exit status of a replay refused before it began: the record was made by
 * another build of the program or of the library, other library versions,
 * another architecture or page size, another io.h version (the line says
 * which), or a node of the program started with another secret than the
 * recorded node's. */
#define AC_REPLAY_EXIT_REFUSED 5
/* Exit status of a replay that reached the end of a record cut short (the
 * recorded process died, or recording stopped): the run was replayed up
 * to the record's last whole event and the line says which. */
#define AC_REPLAY_EXIT_TRUNCATED 6

/* A backend that forwards every call to inner and records it to the file
 * at path (created or truncated). inner stays the caller's; it must outlive
 * the recorder, and operations submitted through the recorder must not
 * complete in inner after ac_io_record_free (free inner right after, or
 * cancel them first). A write error or a full disk stops recording with
 * one line on standard error; the backend keeps working. The file is
 * locked (flock) until ac_io_record_free. Returns 0 and *out, -EINVAL,
 * -ENOMEM, -EBUSY (another recorder, of this process or another, writes
 * that file: it is left alone) or the error of creating the file. */
int ac_io_record_new(ac_io *inner, const char *path, ac_io **out);
/* The hash of the events recorded so far (for a replay backend: of the
 * events replayed so far) and, when events is not NULL, their number.
 * After the last event, equal hashes mean identical runs. */
uint64_t ac_io_record_hash(ac_io *io, uint64_t *events);
/* End the record (its END event carries ac_io_record_hash), close it and
 * free the recorder; inner is not freed. NULL is ignored. */
void ac_io_record_free(ac_io *io);

/* A backend that replays the record at path. Returns 0 and *out, or a
 * negative errno with one line on standard error: the open's error,
 * -EBADMSG (not a record, corrupt header), -EPIPE (cut in its header),
 * -ENOTSUP (a newer format), -EPROTO (made by another build: "replay
 * refused: record PATH was made by another build or library: FIELD:
 * record 'R', this program 'T'; ..." naming each of exe_build_id,
 * lib_build_id, lib_version, zlib_ver, openssl_version, msgpack_version,
 * arch, page_size and io_version that differs; the environment variable
 * AC_REPLAY_ANY_BUILD=1 makes that line a warning and replays anyway).
 * The environment variable AC_REPLAY_UNTIL=E stops the process when event
 * E is reached (AC_REPLAY_EXIT_UNTIL, after printing "stopped at event E";
 * a debugger can break on ac__replay_stop). AC_REPLAY_REPORT_FD=N: at a
 * divergence, "diverged E\n" is also written to descriptor N (for the tool
 * that started the replay: acpcap replay names the pcap frame of E). */
int ac_io_replay_new(const char *path, ac_io **out);
/* 1 when the next recorded event is a poll, else 0: a driver that steps a
 * scheduler (ac_sched_step, as the simulator does) steps while this is 1,
 * then frees the scheduler. */
int ac_io_replay_wants_poll(ac_io *io);
/* Check that the run reached the record's end (else it diverged: the
 * report, then exit), then free the replay backend. NULL is ignored.
 * Whenever a replay needs an event after the last one of a record that was
 * cut short, it prints "replay reached the end of record PATH, cut short:
 * truncated after event E" and exits with AC_REPLAY_EXIT_TRUNCATED. */
void ac_io_replay_free(ac_io *io);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* ASYNCORO_RECORD_H */
