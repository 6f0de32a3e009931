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
	char zlib_version[32];
	char openssl_version[64];
	char msgpack_version[32];
	char arch[16];           /* "x86_64", "aarch64" */
	uint32_t page_size;
	int64_t wall_ns;         /* the two clocks at the start */
	int64_t mono_ns;
	char name[64];           /* the scheduler's name */
} ac_rec_header;

/* The format version this library writes and reads. */
#define AC_REC_VERSION 1

#endif /* AC_IO_RECORD_H */
