/* io/io_default.c: the backends behind a scheduler — the one it gets when
 * its options name none (the epoll backend), and the recorder or the
 * replay backend that the options or the environment (AC_RECORD,
 * AC_REPLAY) ask for.
 *
 * The choice lives here, in the io layer, so that the engine calls down
 * through io/io.h, never names a backend and reads no environment itself:
 * another platform or backend (io_uring) changes this file only.
 */
#include "config.h"

#include <zlib.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <asyncoro/record.h>

#include "io/io.h"
#include "io/record.h"

/* Log levels of ac__io_log_fn (AC_LOG_WARN, AC_LOG_INFO). */
enum { IO_LOG_WARN = 1, IO_LOG_INFO = 2 };

int ac__io_default_new(ac_io **out)
{
	return ac_io_epoll_new(out);
}

void ac__io_default_free(ac_io *io)
{
	ac_io_epoll_free(io);
}

static void io_say(const ac__io_slot *slot, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void io_say(const ac__io_slot *slot, int level, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (slot->log)
		slot->log(slot->log_arg, level, line);
	else
		fprintf(stderr, "%s %s\n", level == IO_LOG_WARN ? "WARN" : "INFO", line);
}

/* Wrap slot->io in a recorder of base path (numbered); a failure is said. */
static void io_sched_record(ac__io_slot *slot, const char *base, const char *name)
{
	char path[4096];
	int rc;

	ac__rec_path_next(base, 0, path, sizeof(path));
	if (slot->replay && strcmp(path, ac__io_record_path(slot->replay)) == 0) {
		io_say(slot, IO_LOG_WARN, "record %s: it is the record being replayed: "
		       "not recording", path);
		return;
	}
	rc = ac__io_record_new(slot->io, path, name, slot->log, slot->log_arg, &slot->rec);
	if (rc == -EBUSY) { /* another process records there: PATH.PID */
		ac__rec_path_busy(base, path, sizeof(path));
		rc = ac__io_record_new(slot->io, path, name, slot->log, slot->log_arg,
		                       &slot->rec);
	}
	if (rc < 0) {
		slot->rec = NULL;
		io_say(slot, IO_LOG_WARN, "record %s: cannot create it (%s): not recording",
		       path, strerror(-rc));
		return;
	}
	slot->io = slot->rec;
}

int ac__io_sched_open(ac_io *given, const char *record_path, const char *name,
                      ac__io_log_fn log, void *log_arg, ac__io_slot *slot)
{
	const char *replay = getenv("AC_REPLAY"), *rec = getenv("AC_RECORD");
	char path[4096];
	int rc;

	memset(slot, 0, sizeof(*slot));
	slot->log = log;
	slot->log_arg = log_arg;
	slot->io = given;
	if (given == NULL && replay != NULL && *replay != '\0') {
		ac__rec_path_next(replay, 1, path, sizeof(path));
		rc = ac_io_replay_new(path, &slot->replay);
		if (rc == -EPROTO) { /* refused: the line is said */
			fflush(NULL);
			_exit(AC_REPLAY_EXIT_REFUSED);
		}
		if (rc < 0)
			return rc;
		slot->io = slot->replay;
	}
	if (slot->io == NULL) {
		rc = ac__io_default_new(&slot->base);
		if (rc < 0)
			return rc;
		slot->io = slot->base;
	}
	if (record_path != NULL && *record_path != '\0')
		io_sched_record(slot, record_path, name);
	else if (rec != NULL && *rec != '\0')
		io_sched_record(slot, rec, name);
	return 0;
}

void ac__io_sched_close(ac__io_slot *slot)
{
	uint64_t n, hash;

	if (slot->rec != NULL) {
		hash = ac_io_record_hash(slot->rec, &n);
		if (ac__io_record_stopped(slot->rec))
			io_say(slot, IO_LOG_WARN, "record %s: truncated (recording stopped)",
			       ac__io_record_path(slot->rec));
		else
			io_say(slot, IO_LOG_INFO, "record %s: %llu events, hash %016llx",
			       ac__io_record_path(slot->rec), (unsigned long long)n,
			       (unsigned long long)hash);
		ac_io_record_free(slot->rec);
	}
	if (slot->replay != NULL) {
		char path[4096];
		snprintf(path, sizeof(path), "%s", ac__io_record_path(slot->replay));
		hash = ac_io_record_hash(slot->replay, &n);
		ac_io_replay_free(slot->replay);
		io_say(slot, IO_LOG_INFO, "record %s: %llu events, hash %016llx", path,
		       (unsigned long long)n, (unsigned long long)hash);
	}
	if (slot->base != NULL)
		ac__io_default_free(slot->base);
	memset(slot, 0, sizeof(*slot));
}

ac_io *ac__io_unwrap(ac_io *io)
{
	return ac__io_record_inner(io);
}

void ac__io_note_secret(ac_io *io, const void *secret, size_t len)
{
	char fpr[AC_REC_FPR_HEX + 1];

	if (ac__io_record_kind(io) == 0)
		return;
	ac__rec_secret_fingerprint(secret, len, fpr);
	while (ac__io_record_kind(io) == 1) { /* recorders, outermost first */
		ac__io_record_note(io, AC_REC_META_SECRET, fpr);
		io = ac__io_record_inner(io);
	}
	if (ac__io_record_kind(io) == 2)
		ac__io_replay_secret(io, fpr);
}
