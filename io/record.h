/* io/record.h: the record of a node's run — everything that crossed io.h,
 * in call order — as the recorder writes it, the replayer and acpcap read
 * it. doc/record.md describes the file format for people writing other
 * readers; this header is the in-memory view shared by io/record_*.c,
 * io/io_record.c, io/io_replay.c and tools/acpcap*.c.
 *
 * A record is a header (what ran: program, arguments, backend, versions,
 * clocks) and a sequence of events. Each event is one of:
 *
 *   - an input the program took from the backend: a clock reading, random
 *     bytes, the outcome of a submitted operation (completed at once or
 *     later, with the bytes received), which completions a poll ran, a
 *     cancel's outcome, the result of a synchronous call (addresses, name
 *     resolution, file reads, ...). On replay these are fed back.
 *   - an output the program gave the backend: the bytes of a send, a
 *     sendto, a file write, the arguments of every call. On replay these
 *     are checked: the first difference is a divergence.
 *   - a note that is neither (AC_REC_CONN: the addresses of a new TCP
 *     connection, for the pcap; AC_REC_META: what the program said about
 *     itself, such as its node's name). Replay skips notes.
 *
 * Operations are named by their submit order (op ids from 1), never by
 * pointer, so a record of one run compares with a record of another.
 */
#ifndef AC_IO_RECORD_H
#define AC_IO_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <asyncoro/io.h>

/* Kinds of event. Numbers are part of the file format: never reuse one. */
enum ac_rec_kind {
	AC_REC_NOW = 1,       /* now_ns(): rc = the time */
	AC_REC_WALL = 2,      /* wall_ns(): rc = the time */
	AC_REC_ENTROPY = 3,   /* entropy(len = a): data = the bytes */
	AC_REC_POLL = 4,      /* poll(deadline = a) began */
	AC_REC_POLL_END = 5,  /* ... and returned rc (callbacks run: the
	                       * AC_REC_COMPLETE events between the two) */
	AC_REC_PENDING = 6,   /* pending(): rc */
	AC_REC_SUBMIT = 7,    /* an asynchronous operation was submitted:
	                       * call = enum ac_op_type, op = its id, h = the
	                       * handle (-1 for connect), a = op->len,
	                       * addr = op->addr for connect/sendto; data = the
	                       * bytes given for send/sendto/write (output);
	                       * rc = the submit's return (< 0, AC_IO_PENDING,
	                       * AC_IO_DONE); when AC_IO_DONE: res = op->res,
	                       * addr = op->addr for accept/recvfrom, and data2
	                       * = the bytes received for recv/recvfrom/read */
	AC_REC_COMPLETE = 8,  /* op's callback ran (inside a poll): res,
	                       * addr (accept/recvfrom), data2 = bytes received
	                       * (recv/recvfrom/read) */
	AC_REC_CANCEL = 9,    /* cancel(op): rc (0, AC_IO_DONE, -ENOENT); when
	                       * AC_IO_DONE: res, addr, data2 as for COMPLETE;
	                       * a = bytes of a cancelled send already written
	                       * (the rest never left) */
	AC_REC_CALL = 10,     /* a synchronous call: call = enum ac_rec_call,
	                       * its arguments and results as listed there */
	AC_REC_CONN = 11,     /* note: TCP handle h is connected, local address
	                       * addr, peer address addr2 (after accept or
	                       * connect completed) */
	AC_REC_META = 12,     /* note: data = a key (e.g. "node.name",
	                       * "secret.fingerprint"), data2 = its value */
	AC_REC_END = 13       /* the record ended cleanly: data = the 8-byte
	                       * record hash (little-endian) of every event
	                       * before this one */
};

/* Synchronous calls (AC_REC_CALL), with what each event carries. Inputs
 * are checked on replay, outputs fed back. */
enum ac_rec_call {
	AC_RC_TCP_LISTEN = 1,   /* in: addr, a = backlog, b = flags;
	                         * out: rc, res = handle */
	AC_RC_SHUTDOWN = 2,     /* in: h; out: rc */
	AC_RC_UDP_BIND = 3,     /* in: addr, b = flags; out: rc, res = handle */
	AC_RC_LOCAL_ADDR = 4,   /* in: h; out: rc, addr */
	AC_RC_PEER_ADDR = 5,    /* in: h; out: rc, addr */
	AC_RC_CLOSE = 6,        /* in: h; out: rc */
	AC_RC_FD_ATTACH = 7,    /* in: a = fd; out: rc, res = handle */
	AC_RC_RESOLVE = 8,      /* in: data = host, a = family, b = port,
	                         * c = max; out: rc, data2 = rc addresses
	                         * (each sizeof(ac_addr) bytes, as in memory
	                         * with ac_addr_init'ed padding) */
	AC_RC_HOST_ADDRS = 9,   /* in: c = max; out: rc, data2 = addresses */
	AC_RC_FILE_OPEN = 10,   /* in: data = path, b = flags, c = mode;
	                         * out: rc, res = handle */
	AC_RC_FILE_PREAD = 11,  /* in: h, a = len, b = offset; out: rc,
	                         * data2 = the bytes read */
	AC_RC_FILE_PWRITE = 12, /* in: h, data = the bytes, b = offset;
	                         * out: rc */
	AC_RC_FILE_SYNC = 13,   /* in: h; out: rc */
	AC_RC_FILE_CLOSE = 14,  /* in: h; out: rc */
	AC_RC_FILE_FSTAT = 15,  /* in: h; out: rc, data2 = ac_stat bytes */
	AC_RC_FILE_STAT = 16,   /* in: data = path, b = nofollow; out: rc,
	                         * data2 = ac_stat bytes */
	AC_RC_FILE_RENAME = 17, /* in: data = from, data2 = to; out: rc */
	AC_RC_FILE_UNLINK = 18, /* in: data = path; out: rc */
	AC_RC_FILE_MKDIR = 19,  /* in: data = path, c = mode; out: rc */
	AC_RC_FILE_SET_META = 20, /* in: data = path, c = mode, b = mtime_ns;
	                           * out: rc */
	AC_RC_TEMP_DIR = 21,    /* out: data2 = the directory */
	AC_RC_BUGGIFY = 22      /* in: data = site; out: rc */
};

/* One event, decoded. Pointers point into the reader's buffer and are
 * valid until the next ac__rec_next. Fields an event kind does not use are
 * zero (addresses: family AC_AF_NONE). */
typedef struct ac_rec_event {
	uint64_t seq;   /* event number, from 0 */
	uint32_t kind;  /* enum ac_rec_kind */
	uint32_t call;  /* enum ac_rec_call, or the op type for SUBMIT */
	uint64_t op;    /* operation id (submit order, from 1), or 0 */
	int32_t h;      /* handle, or -1 */
	int64_t a, b, c;
	int64_t rc;
	int64_t res;
	ac_addr addr;
	ac_addr addr2;
	const uint8_t *data;
	size_t dlen;
	const uint8_t *data2;
	size_t dlen2;
} ac_rec_event;

/* What the header says about the run. Strings are NUL-terminated and
 * owned by the reader (empty when absent). */
typedef struct ac_rec_header {
	uint32_t version;        /* record format version (AC_REC_VERSION) */
	uint32_t io_version;     /* AC_IO_VERSION of the recording library */
	char backend[32];        /* the wrapped backend's name: "epoll", "sim" */
	int argc;
	char **argv;             /* the program and its arguments */
	char exe_build_id[64];   /* hex GNU build id of the program */
	char lib_build_id[64];   /* ... of libasyncoro */
	char lib_version[32];    /* PACKAGE_VERSION */
	char zlib_ver[32];       /* zlibVersion() */
	char openssl_version[64];
	char msgpack_version[32];
	char arch[16];           /* "x86_64", "aarch64" */
	uint32_t page_size;
	int64_t wall_ns;         /* the two clocks at the start */
	int64_t mono_ns;
	char name[64];           /* the scheduler's name */
	uint32_t flags;          /* AC_REC_HF_* (added after the first draft) */
} ac_rec_header;

/* ac_rec_header.flags */
enum {
	/* The recorded backend answered buggify (the simulator): the replay
	 * answers it too; without it ac_buggify never asked the backend. */
	AC_REC_HF_BUGGIFY = 1
};

/* The format version this library writes and reads (2: the events in
 * compressed blocks; version 1 records are refused). */
#define AC_REC_VERSION 2

/* Blocks (doc/record.md, "Blocks"): the frames after the header are one
 * byte stream cut into blocks, each a header of AC_REC_BLOCK_HEAD bytes
 * (method, raw length u32, stored length u32, CRC32 of those 9 bytes) and
 * the stored bytes. A block holds 1 .. AC_REC_BLOCK_MAX raw bytes. */
#define AC_REC_BLOCK_HEAD 13
#define AC_REC_BLOCK_MAX (1u << 19)
enum {
	AC_REC_BLOCK_STORED = 1, /* the raw bytes as they are */
	AC_REC_BLOCK_LZ = 2      /* io/rec_lz.c's stream of them */
};

/* Largest frame (length field) a writer produces and a reader accepts. */
#define AC_REC_FRAME_MAX (1u << 30)
/* Largest header (its fields' bytes) a reader accepts. */
#define AC_REC_HEADER_MAX (1u << 20)

/* ---- hashing: XXH64 (seed 0), streaming --------------------------------- */

typedef struct ac_rec_xxh {
	uint64_t v[4];
	uint64_t total;
	uint8_t mem[32];
	uint32_t memlen;
} ac_rec_xxh;

void ac__rec_xxh_init(ac_rec_xxh *x);
void ac__rec_xxh_update(ac_rec_xxh *x, const void *p, size_t len);
/* The hash of everything given so far (x is not changed). */
uint64_t ac__rec_xxh_digest(const ac_rec_xxh *x);

/* ---- encoding one event (doc/record.md, "Events") ------------------------ */

/* What the body encoding predicts from: the events before. Writer and
 * reader keep one each, in step. Zero it to start. */
typedef struct ac_rec_enc {
	uint64_t seq;       /* number of the next event */
	uint64_t last_op;   /* last nonzero op id of any event */
	uint64_t last_sub;  /* op id of the last SUBMIT */
	int64_t last_now;   /* rc of the last NOW */
	int64_t last_wall;  /* rc of the last WALL */
} ac_rec_enc;

/* An upper bound of the frame size of ev (0 when dlen or dlen2 is too big
 * for a frame). */
size_t ac__rec_frame_bound(const ac_rec_event *ev);
/* Encode ev (its seq field is ignored: the frame gets st->seq) as one frame
 * into out, which has room for ac__rec_frame_bound(ev) bytes, and advance
 * st. Returns the frame's length. */
size_t ac__rec_encode(ac_rec_enc *st, const ac_rec_event *ev, uint8_t *out);
/* The same frame as ac__rec_encode, without the bytes of ev->data and
 * ev->data2, for a writer that writes those from where they are: out gets
 * the frame with them left out (room: ac__rec_frame_bound(ev) - dlen -
 * dlen2 bytes), cut[0] the offset in out where data's bytes go (0 when
 * the frame has none), cut[1] where data2's go (0: none), cut[0] <=
 * cut[1] when both. The CRC at the end is the whole frame's. Advances st;
 * returns the bytes written to out (the frame's length is that plus dlen
 * and dlen2). */
size_t ac__rec_encode_split(ac_rec_enc *st, const ac_rec_event *ev, uint8_t *out,
                            size_t cut[2]);
/* Decode the body of a frame of kind (n bytes at p, after the seq byte)
 * into *ev (seq set from st) and advance st. Returns 0, or -EBADMSG with
 * *why saying what is wrong (st unchanged). */
int ac__rec_decode(ac_rec_enc *st, uint32_t kind, const uint8_t *p, size_t n,
                   ac_rec_event *ev, const char **why);
/* An event with every field at its "absent" value (h = -1). */
void ac__rec_event_init(ac_rec_event *ev, uint32_t kind);

/* ---- names and text --------------------------------------------------------- */

/* "NOW", "SUBMIT", ...; NULL when unknown. */
const char *ac__rec_kind_name(uint32_t kind);
/* "tcp_listen", "resolve", ...; NULL when unknown. */
const char *ac__rec_call_name(uint32_t call);
/* "accept", "send", ... for enum ac_op_type; NULL when unknown. */
const char *ac__rec_op_name(uint32_t type);
/* Bytes of each data an event's line shows (then "..."). */
#define AC_REC_FORMAT_BYTES 16
/* One line describing ev (no newline): "#12 SUBMIT op=3 send h=5 rc=1
 * data[5]"; only the fields present (of data and data2, the first
 * AC_REC_FORMAT_BYTES bytes are read). Returns buf. */
char *ac__rec_event_format(const ac_rec_event *ev, char *buf, size_t len);

/* ---- the writer (io/record_file.c) --------------------------------------------- */

typedef struct ac_rec_writer ac_rec_writer;

/* Where the writer says, once, that recording stopped (a full disk, a
 * write error): one line, no newline. */
typedef void (*ac_rec_log_fn)(void *arg, const char *line);

/* Create (or truncate) the file at path and write the header h (its
 * version is ignored: AC_REC_VERSION is written). The file stays locked
 * (flock) until ac__recw_free. Events are buffered and written in
 * compressed blocks (a block per 256 KiB of frames, or per event carrying
 * 64 KiB or more). log (may be NULL) is told when recording stops. Returns 0 and
 * *out, or a negative errno: -EBUSY when another open writer (of this or
 * another process) holds the file (which is left as it is); otherwise
 * nothing was created, or an empty file. */
int ac__recw_open(const char *path, const ac_rec_header *h, ac_rec_log_fn log,
                  void *log_arg, ac_rec_writer **out);
/* Append ev as the next event (ev->seq is ignored). Returns 0, or a
 * negative errno once recording has stopped (then every later call is a
 * no-op returning that error; the program keeps running). */
int ac__recw_event(ac_rec_writer *w, const ac_rec_event *ev);
/* Write the END event (the hash of every event before it) and flush.
 * Returns 0 or the error that stopped recording. Later events are
 * refused (-EPIPE). */
int ac__recw_end(ac_rec_writer *w);
/* Events written so far (END not counted) and their hash. */
uint64_t ac__recw_count(const ac_rec_writer *w);
uint64_t ac__recw_hash(const ac_rec_writer *w);
/* 1 when recording stopped early (the record is truncated). */
int ac__recw_stopped(const ac_rec_writer *w);
/* Flush, close and free. Without ac__recw_end the record has no END: a
 * reader reports it truncated after its last event. NULL is ignored. */
void ac__recw_free(ac_rec_writer *w);

/* ---- the reader (io/record_file.c) --------------------------------------------- */

typedef struct ac_rec_reader ac_rec_reader;

/* Open the record at path and read its header. Returns 0 and *out, or a
 * negative errno with a one-line message in err (errlen bytes, may be 0):
 * the open's errno, -EBADMSG (not a record, or a corrupt header), -EPIPE
 * (cut short inside the header), -ENOTSUP (another format version: an
 * older library's, or a newer one). The reader survives any bytes: it
 * checks every length, and its buffers grow only while full of bytes
 * actually read or inflated (a block inflates to at most AC_LZ_RATIO
 * bytes per byte, io/rec_lz.h): at most about twice the header, a block,
 * and the longest frame length met, when the input holds that many. */
int ac__rec_open(const char *path, ac_rec_reader **out, char *err, size_t errlen);
/* The same over the len bytes at buf, which must outlive the reader (the
 * events are inflated into the reader's own buffer). */
int ac__rec_open_mem(const void *buf, size_t len, ac_rec_reader **out, char *err,
                     size_t errlen);
/* The header (owned by the reader). */
const ac_rec_header *ac__rec_header(const ac_rec_reader *r);
/* Decode the next event into *ev (pointers into the reader's buffer, valid
 * until the next call). Returns 1 (an event), 0 (the END event was read
 * and the record hash it carries matched: a clean end; END itself is not
 * returned), -EBADMSG (corrupt: a bad CRC, length, field or hash, or bytes
 * after END; the message says "corrupt record at event E: ..."), -EPIPE
 * (the record stops before END, after its last whole event: "truncated
 * after event E", E = -1 when there is none), or -ENOMEM. After 0 or an
 * error, every call returns the same. */
int ac__rec_next(ac_rec_reader *r, ac_rec_event *ev);
/* The message of the last error ("" when none). */
const char *ac__rec_error(const ac_rec_reader *r);
/* The raw bytes of the last event's frame (as in the event stream, after
 * its block was inflated). */
void ac__rec_frame(const ac_rec_reader *r, const uint8_t **p, size_t *len);
/* Events read so far and the hash of their frames (after a clean end: the
 * record hash, as END carries it). */
uint64_t ac__rec_count(const ac_rec_reader *r);
uint64_t ac__rec_hash(const ac_rec_reader *r);
/* Close and free (NULL is ignored). */
void ac__rec_close(ac_rec_reader *r);

/* ---- the run's description (io/record_meta.c) -------------------------------- */

/* Fill *h for a record of the backend inner made by this process: its
 * arguments, build ids, library versions, architecture, page size, the
 * inner backend's name and buggify flag, its two clocks (read once, not
 * recorded as events) and name (the scheduler's). ac__rec_header_release
 * frees what it allocated (argv). */
void ac__rec_header_fill(ac_rec_header *h, ac_io *inner, const char *name);
void ac__rec_header_release(ac_rec_header *h);
/* Only what identifies this process's build into *h (the rest of *h is
 * left alone): io_version, both build ids, the library versions, arch and
 * page size. */
void ac__rec_header_identity(ac_rec_header *h);
/* Compare the identity of the record's header rec with this process's
 * (ac__rec_header_identity): returns 1 when any differs, with out (len
 * bytes, one line) naming each difference ("exe_build_id: record 'R',
 * this program 'T'; ..."), else 0 and out "". */
int ac__rec_header_differs(const ac_rec_header *rec, char *out, size_t len);

/* The META key of the secret's fingerprint, and the fingerprint's length
 * in hex digits. */
#define AC_REC_META_SECRET "secret.fingerprint"
#define AC_REC_FPR_HEX 16
/* The fingerprint of a node's secret (len bytes): the first 8 bytes of
 * HMAC-SHA256 keyed by a fixed label over the secret, in lower-case hex,
 * NUL-terminated. It tells two secrets apart; it is not the secret (but
 * like any function of it, it lets whoever holds a record test guesses). */
void ac__rec_secret_fingerprint(const void *secret, size_t len, char out[AC_REC_FPR_HEX + 1]);
/* The file of the next record (replay 0) or replay (1) of base in this
 * process, into out: base the first time, then base.1, base.2, ...; in a
 * process forked from one that had named files of base (or after
 * ac__rec_path_busy), base.PID, base.PID.1, ... with PID this process's
 * id. Thread-safe. */
void ac__rec_path_next(const char *base, int replay, char *out, size_t len);
/* The record file of base that ac__rec_path_next gave is in use by another
 * process: from now on this process names its records of base base.PID,
 * base.PID.1, ...; the next one into out. */
void ac__rec_path_busy(const char *base, char *out, size_t len);

/* ---- the recorder and the replayer --------------------------------------------- */

/* Where the recorder and the replayer report (a scheduler's sink): level
 * as AC_LOG_* (1 warning, 2 information), one line without newline. */
typedef void (*ac__rec_log_fn)(void *arg, int level, const char *text);

/* A recorder of inner writing path (io/io_record.c): see
 * ac_io_record_new. name goes into the header; log (may be NULL: standard
 * error) is told when recording stops early. */
int ac__io_record_new(ac_io *inner, const char *path, const char *name,
                      ac__rec_log_fn log, void *log_arg, ac_io **out);
/* The replay backend io checks that the record's next secret note
 * (AC_REC_META_SECRET) holds fpr: when it holds another fingerprint, or the
 * record has none where the program starts a node, the replay is refused
 * (one line on standard error, exit AC_REPLAY_EXIT_REFUSED). */
void ac__io_replay_secret(ac_io *io, const char *fpr);
/* 1 when the recorder io stopped recording early (its record is cut). */
int ac__io_record_stopped(ac_io *io);
/* io's inner backend when io is a recorder, else io. */
ac_io *ac__io_record_inner(ac_io *io);
/* Write a note (AC_REC_META: key, value) to the record when io is a
 * recorder; nothing for any other backend. */
void ac__io_record_note(ac_io *io, const char *key, const char *value);
/* 1 when io is a recorder, 2 when it is a replay backend, else 0. */
int ac__io_record_kind(ac_io *io);
/* The file a recorder writes or a replay reads. */
const char *ac__io_record_path(ac_io *io);
/* The replayer's answers to the three above (io/io_replay.c). */
int ac__io_replay_is(ac_io *io);
const char *ac__io_replay_path(ac_io *io);
uint64_t ac__io_replay_hash(ac_io *io, uint64_t *events);

#endif /* AC_IO_RECORD_H */
