/* asyncoro/io.h: the one door between asyncoro and the outside world.
 *
 * Everything that has an effect or brings in nondeterminism — clocks, random
 * bytes, TCP, UDP, files, names — goes through a backend: a table of function
 * pointers (struct ac_io_ops) plus the backend's own state, chosen at run time.
 * The engine (engine/) and the protocol (net/) call only this interface, so the
 * same code runs on the real network (the epoll backend, io/io_epoll.c) and in
 * the simulated world (sim/), and capture can tap every byte in one place.
 *
 * Conventions, shared by every backend:
 *  - Errors are negative errno values (-ECONNRESET); the simulator only returns
 *    codes that the epoll backend can return.
 *  - Asynchronous operations are described by a caller-owned struct ac_op.
 *    Submitting returns < 0 on error (the callback is then never called),
 *    AC_IO_PENDING (0) when the callback will be called exactly once from a
 *    later ac_io_ops.poll(), or AC_IO_DONE (1) when the operation completed at
 *    once: op->res holds the result and the callback is NOT called.
 *  - cancel() is synchronous: when it returns 0 the operation had not
 *    completed and the backend has forgotten it (nothing was transferred for
 *    recv/recvfrom/accept/connect; a send may have been partly written:
 *    since AC_IO_VERSION 3, op->res then holds the number of bytes of a
 *    send or write that were already written, 0 <= op->res <= op->len —
 *    they are in the stream, the rest never left).
 *    When it returns AC_IO_DONE the operation had completed but its
 *    callback had not run yet: op->res holds the result and the callback
 *    will never run. Either way the backend never touches op again.
 *    -ENOENT means op is not known (its callback already ran).
 *  - close() of a socket handle completes its still-pending operations with
 *    -ECANCELED (their callbacks run from a later poll()).
 *  - Handles are small non-negative integers private to one backend instance.
 *  - Time is monotonic nanoseconds from now_ns(); wall-clock time (for file
 *    modification times) comes from wall_ns().
 *  - A backend instance is used from one thread only.
 */
#ifndef ASYNCORO_IO_H
#define ASYNCORO_IO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility; its API is exported. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* ---- addresses ---------------------------------------------------------- */

/* Address families of struct ac_addr (independent of the OS's AF_ values). */
enum { AC_AF_NONE = 0, AC_AF_INET = 4, AC_AF_INET6 = 6 };

/* An IPv4 or IPv6 address and port, in a fixed layout that needs no OS
 * headers, compares with memcmp after ac_addr_init, and can be hashed. */
typedef struct ac_addr {
	/* AC_AF_INET or AC_AF_INET6, or AC_AF_NONE for "no address". */
	uint8_t family;
	/* Reserved, always zero (keeps the layout free of padding). */
	uint8_t pad;
	/* Port in host byte order. */
	uint16_t port;
	/* IPv6 scope id (zero for IPv4). */
	uint32_t scope;
	/* Address bytes in network order; IPv4 uses the first 4. */
	uint8_t ip[16];
} ac_addr;

/* Longest string ac_addr_format writes, NUL included: "[v6%scope]:port". */
#define AC_ADDR_STRLEN 64

/* Zero an address (family AC_AF_NONE). */
void ac_addr_init(ac_addr *a);
/* Parse "1.2.3.4", "1.2.3.4:80", "::1", "[::1]:80" into *a. A missing port is
 * default_port. Numeric only (names go through ac_io_ops.resolve). Returns 0 or
 * -EINVAL. */
int ac_addr_parse(ac_addr *a, const char *text, uint16_t default_port);
/* Write "ip:port" (IPv6 as "[ip]:port") into buf of size len; returns buf.
 * Always NUL-terminates when len > 0. */
char *ac_addr_format(const ac_addr *a, char *buf, size_t len);
/* Write just the IP part into buf; returns buf. */
char *ac_addr_format_ip(const ac_addr *a, char *buf, size_t len);
/* 1 when family, ip, scope and port are equal, else 0. */
int ac_addr_eq(const ac_addr *a, const ac_addr *b);
/* Total order over addresses (family, ip, port): <0, 0, >0. */
int ac_addr_cmp(const ac_addr *a, const ac_addr *b);
/* 1 when a is a loopback address (127.0.0.0/8 or ::1). */
int ac_addr_is_loopback(const ac_addr *a);
/* 1 when a is the unspecified address (0.0.0.0 or ::). */
int ac_addr_is_any(const ac_addr *a);

/* ---- operations ---------------------------------------------------------- */

typedef struct ac_io ac_io;
typedef struct ac_op ac_op;

/* Completion callback: runs exactly once, from ac_io_ops.poll(). */
typedef void (*ac_op_cb)(ac_op *op);

/* Results of submitting an operation (besides negative errno). */
enum { AC_IO_PENDING = 0, AC_IO_DONE = 1 };

/* Kinds of asynchronous operation. */
enum ac_op_type {
	AC_OP_NONE = 0,
	AC_OP_ACCEPT,   /* res: new TCP handle; addr: the peer */
	AC_OP_CONNECT,  /* addr: target; res: new TCP handle */
	AC_OP_RECV,     /* res: 1..len bytes read into buf, 0 at end of stream */
	AC_OP_SEND,     /* res: len, all of buf written */
	AC_OP_RECVFROM, /* res: datagram length (truncated to len); addr: source */
	AC_OP_SENDTO,   /* addr: destination; res: len */
	AC_OP_READ,     /* attached descriptor: like RECV */
	AC_OP_WRITE     /* attached descriptor: like SEND */
};

/* One asynchronous operation. The caller owns the memory and fills cb, data,
 * buf, len and (for connect and sendto) addr; the backend fills res and
 * (for accept and recvfrom) addr. It must stay valid and untouched until the
 * callback has run, the submit returned AC_IO_DONE or an error, or cancel()
 * returned 0. */
struct ac_op {
	/* Called once on asynchronous completion. */
	ac_op_cb cb;
	/* Free for the caller. */
	void *data;
	/* Result: >= 0 as described per type, or a negative errno. */
	int64_t res;
	/* Data buffer (recv/send/recvfrom/sendto/read/write). */
	void *buf;
	/* Length of buf. */
	size_t len;
	/* Peer address: input for connect/sendto, output for accept/recvfrom. */
	ac_addr addr;
	/* enum ac_op_type, set by the submit call. */
	int type;
	/* Handle the operation works on (set by the submit call). */
	int h;
	/* Backend-private links and state: callers never touch these. */
	ac_op *io_next;
	ac_op *io_prev;
	uint64_t io_priv[2];
};

/* Flags for tcp_listen and udp_bind. */
enum {
	AC_IO_REUSEADDR = 1,  /* SO_REUSEADDR */
	AC_IO_REUSEPORT = 2,  /* SO_REUSEPORT: several nodes share a port */
	AC_IO_BROADCAST = 4,  /* UDP: SO_BROADCAST */
	AC_IO_V6ONLY = 8      /* IPv6 socket accepts IPv6 only */
};

/* Flags for file_open. */
enum {
	AC_FO_READ = 1,
	AC_FO_WRITE = 2,
	AC_FO_CREATE = 4,
	AC_FO_EXCL = 8,
	AC_FO_TRUNC = 16
};

/* What file_stat reports. */
typedef struct ac_stat {
	/* Size in bytes. */
	int64_t size;
	/* Modification time, nanoseconds since the Unix epoch. */
	int64_t mtime_ns;
	/* Permission bits (07777). */
	uint32_t mode;
	/* AC_FT_FILE, AC_FT_DIR, AC_FT_LINK or AC_FT_OTHER. */
	uint32_t type;
} ac_stat;

enum { AC_FT_FILE = 1, AC_FT_DIR = 2, AC_FT_LINK = 3, AC_FT_OTHER = 4 };

/* The backend's table of operations. Append-only: new methods go at the end
 * and bump AC_IO_VERSION; callers check version before using them. */
struct ac_io_ops {
	/* AC_IO_VERSION of the header the backend was built against. */
	int version;
	/* "epoll", "sim", ... */
	const char *name;

	/* Monotonic time in nanoseconds. */
	int64_t (*now_ns)(ac_io *io);
	/* Wall-clock time in nanoseconds since the Unix epoch. */
	int64_t (*wall_ns)(ac_io *io);
	/* Fill buf with len random bytes (OS entropy, or the sim's seed). */
	void (*entropy)(ac_io *io, void *buf, size_t len);
	/* Wait until at least one operation completes or deadline_ns (monotonic)
	 * passes, then run the callbacks of completed operations. deadline_ns < 0
	 * waits without a deadline; deadline_ns <= now_ns() does not wait.
	 * Returns the number of callbacks run, or a negative errno. */
	int (*poll)(ac_io *io, int64_t deadline_ns);
	/* Number of submitted operations that have not completed yet. */
	int (*pending)(ac_io *io);

	/* TCP listener on addr (port 0: any); *h_out gets the handle. */
	int (*tcp_listen)(ac_io *io, const ac_addr *addr, int backlog,
	                  int flags, int *h_out);
	/* Accept one connection on listener h. */
	int (*accept)(ac_io *io, int h, ac_op *op);
	/* Connect to op->addr; op->res is the new handle on success. */
	int (*connect)(ac_io *io, ac_op *op);
	/* Receive up to op->len bytes on TCP handle h. */
	int (*recv)(ac_io *io, int h, ac_op *op);
	/* Send all op->len bytes on TCP handle h. */
	int (*send)(ac_io *io, int h, ac_op *op);
	/* Close the sending side of TCP handle h (the peer reads end of stream). */
	int (*shutdown)(ac_io *io, int h);

	/* UDP socket bound to addr; *h_out gets the handle. */
	int (*udp_bind)(ac_io *io, const ac_addr *addr, int flags, int *h_out);
	/* Send one datagram op->buf to op->addr. */
	int (*sendto)(ac_io *io, int h, ac_op *op);
	/* Receive one datagram into op->buf; op->addr gets the source. */
	int (*recvfrom)(ac_io *io, int h, ac_op *op);

	/* Address a socket handle is bound to. */
	int (*local_addr)(ac_io *io, int h, ac_addr *out);
	/* Address of a connected TCP handle's peer. */
	int (*peer_addr)(ac_io *io, int h, ac_addr *out);
	/* Forget a pending operation (synchronous; see the top of this file).
	 * Returns 0 (cancelled; for a send or write, op->res = the bytes
	 * already written, since version 3), AC_IO_DONE (had completed:
	 * op->res is valid, no callback), or -ENOENT (unknown: its callback
	 * already ran). */
	int (*cancel)(ac_io *io, ac_op *op);
	/* Close a socket or attached-descriptor handle. */
	int (*close)(ac_io *io, int h);

	/* Attach an existing OS descriptor (stdin, a pipe) for READ/WRITE ops.
	 * The descriptor stays owned by the caller; close() detaches it.
	 * Backends without descriptors return -ENOTSUP. */
	int (*fd_attach)(ac_io *io, int fd, int *h_out);
	/* Read from an attached descriptor. */
	int (*read)(ac_io *io, int h, ac_op *op);
	/* Write all of op->buf to an attached descriptor. */
	int (*write)(ac_io *io, int h, ac_op *op);

	/* Resolve host (a name or numeric address) to at most max addresses of
	 * family (AC_AF_NONE: any), port set to port. Returns the number found
	 * (>= 1) or a negative errno (-ENOENT for an unknown name). May block. */
	int (*resolve)(ac_io *io, const char *host, int family, uint16_t port,
	               ac_addr *out, int max);
	/* The host's own addresses (non-loopback first), at most max. */
	int (*host_addrs)(ac_io *io, ac_addr *out, int max);

	/* Files. Synchronous; paths are the caller's, already checked. */
	int (*file_open)(ac_io *io, const char *path, int flags, uint32_t mode,
	                 int *h_out);
	int64_t (*file_pread)(ac_io *io, int h, void *buf, size_t len, int64_t off);
	int64_t (*file_pwrite)(ac_io *io, int h, const void *buf, size_t len,
	                       int64_t off);
	int (*file_sync)(ac_io *io, int h);
	int (*file_close)(ac_io *io, int h);
	int (*file_fstat)(ac_io *io, int h, ac_stat *st);
	/* stat() following symlinks, or lstat() when nofollow is set. */
	int (*file_stat)(ac_io *io, const char *path, int nofollow, ac_stat *st);
	int (*file_rename)(ac_io *io, const char *from, const char *to);
	int (*file_unlink)(ac_io *io, const char *path);
	int (*file_mkdir)(ac_io *io, const char *path, uint32_t mode);
	/* Set permission bits and modification time (mtime_ns < 0: leave). */
	int (*file_set_meta)(ac_io *io, const char *path, uint32_t mode,
	                     int64_t mtime_ns);
	/* A directory for temporary files (e.g. "/tmp"). */
	const char *(*temp_dir)(ac_io *io);

	/* Since version 2. A fault point (FoundationDB's BUGGIFY): whether the
	 * point named site (compared by content) fires now — 1 "sometimes" in
	 * a run that injects faults (the simulator with buggify on), else 0.
	 * NULL: never fires (the epoll backend). A backend that wraps another
	 * (a recorder) forwards it to the inner one. Call it through
	 * ac_buggify, which checks the version and NULL. */
	int (*buggify)(ac_io *io, const char *site);
};

/* 2: buggify. 3: cancel() of a send or write that returns 0 reports the
 * bytes already written in op->res (a contract, no new member). */
#define AC_IO_VERSION 3

/* Every backend's state starts with this ("base class, must be first"). */
struct ac_io {
	const struct ac_io_ops *ops;
};

/* ---- fault points ---------------------------------------------------------- */

/* Whether the fault point site fires now: io's backend answers (see
 * ac_io_ops.buggify); 0 when io or site is NULL, or the backend has no
 * buggify member. Cheap when it has none. Production code reaches it through
 * AC_BUGGIFY (compiled out by configure --disable-sim). */
int ac_buggify(ac_io *io, const char *site);

/* ---- the epoll backend --------------------------------------------------- */

/* Create a real backend on epoll. Returns 0 and *out, or a negative errno. */
int ac_io_epoll_new(ac_io **out);
/* Destroy a backend created by ac_io_epoll_new. Every handle should be
 * closed; any still open are closed. */
void ac_io_epoll_free(ac_io *io);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* ASYNCORO_IO_H */
