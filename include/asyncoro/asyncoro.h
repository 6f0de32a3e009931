/* asyncoro/asyncoro.h: the engine — schedulers of stackful coroutines that
 * exchange messages.
 *
 * A scheduler (ac_sched) runs coroutines on one thread over one I/O backend
 * (asyncoro/io.h). Coroutine code reads like blocking code:
 *
 *     static void server(void *arg) {
 *         ac_msg *m;
 *         while (ac_receive(AC_FOREVER, &m) == 0) {
 *             printf("processing %.*s\n", (int)ac_msg_len(m),
 *                    (const char *)ac_msg_data(m));
 *             ac_msg_free(m);
 *         }
 *     }
 *
 * Objects (coroutines, channels) are named by references (ac_ref): plain
 * values that can be copied, compared, stored and sent inside messages. A ref
 * whose object is gone is harmless: send drops the message, deliver returns
 * -ESRCH. The network layer (asyncoro/dis.h) makes the same refs work across
 * nodes.
 *
 * Conventions: functions return >= 0 on success or a negative errno
 * (ac_strerror names it). Timeouts are in milliseconds; AC_FOREVER (-1),
 * or any negative value, waits without limit (ac_sleep excepted: -EINVAL)
 * and 0 does not wait, but looks first (a receive takes a queued message;
 * dis.h says what 0 means for calls on other nodes). A ref of the wrong
 * kind for a call (the null ref included) is -EINVAL, besides the codes
 * listed per call. A message passed to a function that succeeds belongs
 * to the callee; on error the caller keeps it. Functions
 * marked "coroutine only" return -EPERM when called outside a coroutine.
 * Nothing here is thread-safe: a scheduler and its objects belong to the
 * thread that runs it (many schedulers may share that thread).
 */
#ifndef ASYNCORO_ASYNCORO_H
#define ASYNCORO_ASYNCORO_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <asyncoro/io.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility; its API is exported. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define AC_FOREVER ((int64_t)-1)

#if defined(__GNUC__)
#define AC_NORETURN __attribute__((noreturn))
#define AC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define AC_NORETURN
#define AC_PRINTF(f, a)
#endif

/* Name of an error code (negative errno or asyncoro's own); never NULL. */
const char *ac_strerror(int err);

/* ---- references ------------------------------------------------------------ */

/* Kinds of object a reference names. */
enum ac_ref_kind {
	AC_REF_NONE = 0,
	AC_REF_CORO = 1,
	AC_REF_CHAN = 2,
	AC_REF_RCI = 3
};

/* A reference to a coroutine, channel or RCI, local or remote: node location
 * (address + TCP port), node incarnation (random per scheduler start, so refs
 * of a restarted node never alias the old ones), object id, kind. */
typedef struct ac_ref {
	/* Object id within its node: slot in the low 32 bits, generation in
	 * the high 32; ids are never reused within an incarnation. */
	uint64_t id;
	/* Incarnation of the node (scheduler) that owns the object. */
	uint64_t inc;
	/* Node location: its TCP address (AC_AF_NONE for a node that has no
	 * network service). */
	ac_addr loc;
	/* enum ac_ref_kind. */
	uint32_t kind;
	/* Reserved, zero. */
	uint32_t pad;
} ac_ref;

/* The null reference (kind AC_REF_NONE). */
ac_ref ac_ref_null(void);
/* 1 when r is the null reference. */
int ac_ref_is_null(ac_ref r);
/* 1 when a and b name the same object. */
int ac_ref_eq(ac_ref a, ac_ref b);
/* Write "kind/id@ip:port" into buf (size len); returns buf. */
char *ac_ref_format(ac_ref r, char *buf, size_t len);

/* Longest name, in bytes without the NUL, of a channel, a node (dis.h) and
 * of what is registered by name (coroutines, channels, RCIs). A longer one
 * is -ENAMETOOLONG. (Coroutine names given to ac_spawn are labels for logs:
 * longer ones are cut to 63 bytes.) */
#define AC_NAME_MAX 255

/* ---- schedulers ---------------------------------------------------------- */

typedef struct ac_sched ac_sched;
typedef struct ac_msg ac_msg;

/* Log levels for ac_sched_opts.log_fn. */
enum { AC_LOG_ERROR = 0, AC_LOG_WARN = 1, AC_LOG_INFO = 2, AC_LOG_DEBUG = 3 };

typedef void (*ac_log_fn)(void *arg, int level, const char *text);

/* Options for ac_sched_new; ac_sched_opts_init fills defaults. */
typedef struct ac_sched_opts {
	/* I/O backend; NULL creates an epoll backend owned by the scheduler. */
	ac_io *io;
	/* Default coroutine stack size in bytes (rounded up to pages, at least
	 * 4 of them); default 64 KiB. A coroutine that overflows its stack
	 * ends the process with SIGSEGV, as before, but first "stack overflow
	 * in coroutine NAME (stack N bytes)" is written to standard error --
	 * when SIGSEGV had its default action at the first ac_sched_new (a
	 * handler of the program's or a sanitizer's is left alone). */
	size_t stack_size;
	/* 1 (default): each stack gets a guard page; when the OS runs out of
	 * memory maps for guards, stacks go without one (counted in stats). */
	int stack_guard;
	/* Stacks kept for reuse after coroutines end; default 1024. */
	size_t stack_pool_max;
	/* Log sink; NULL logs to standard error (via the io layer). */
	ac_log_fn log_fn;
	void *log_arg;
	/* Most verbose level logged; default AC_LOG_INFO. The environment
	 * variable AC_LOG_LEVEL, when set and not empty, overrides it for
	 * every scheduler created: error, warn, info or debug (any case), or
	 * 0..3. Any other value is ignored, with one AC_LOG_WARN line through
	 * the sink (given whatever the level). */
	int log_level;
	/* A name shown in logs; default "node". */
	const char *name;
	/* Record everything that crosses the backend (asyncoro/io.h) to this
	 * file, from creation (the incarnation is drawn from the record's
	 * first input) to ac_sched_free, which ends the record and logs
	 * (AC_LOG_INFO) "record PATH: N events, hash H" (doc/record.md).
	 * NULL (default): the environment variable AC_RECORD, when set and not
	 * empty, names the file instead. Several schedulers of one process
	 * that name the same file write PATH, PATH.1, PATH.2 ... in the order
	 * they are created; a forked child of a process that recorded PATH,
	 * and a process that finds PATH being written by another, write
	 * PATH.PID, PATH.PID.1 ... instead (PID: its process id). A file
	 * that cannot be created is reported as one
	 * AC_LOG_WARN line and the scheduler runs unrecorded; a write error
	 * later stops recording (one AC_LOG_WARN line), the scheduler goes on.
	 * The environment variable AC_REPLAY=PATH makes every scheduler
	 * created without a backend (io NULL) replay PATH (PATH.1, ... for
	 * the next ones) instead of running on epoll (a record that cannot be
	 * read makes ac_sched_new fail with its error; a record made by
	 * another build or library ends the process with
	 * AC_REPLAY_EXIT_REFUSED): see asyncoro/record.h;
	 * ac_sched_free logs the same "record" line at the end of a replay
	 * that matched (equal hashes: an identical run). */
	const char *record_path;
	/* Most monitors of one coroutine (default 65536; 0: the default): one
	 * more makes ac_monitor_ref return -ENOBUFS. Adding a monitor costs
	 * O(1) on average however many there are. */
	uint32_t max_monitors;
} ac_sched_opts;

/* Fill *o with the defaults. */
void ac_sched_opts_init(ac_sched_opts *o);
/* Create a scheduler. Returns 0 and *out, -ENOMEM, or the io error. */
int ac_sched_new(const ac_sched_opts *o, ac_sched **out);
/* Run coroutines until every non-daemon coroutine has ended. Daemons stay
 * suspended. Returns 0, or -EDEADLK when non-daemon coroutines remain but
 * nothing (no ready coroutine, timer or I/O) can ever wake them. Must not be
 * called from a coroutine (-EPERM); -EINVAL for a NULL s. */
int ac_sched_run(ac_sched *s);
/* ac_sched_run, then terminate the daemons and run the at-exit hooks.
 * Returns what ac_sched_run returned; -EPERM from a coroutine and -EINVAL
 * for a NULL s change nothing. */
int ac_sched_finish(ac_sched *s);
/* Terminate every coroutine now (each monitor is told), then run the
 * at-exit hooks. From a coroutine, that coroutine ends too. */
void ac_sched_terminate(ac_sched *s);
/* Free a scheduler whose coroutines have ended (terminating any left). */
void ac_sched_free(ac_sched *s);
/* Run fn(arg) once when the scheduler finishes or terminates (last
 * registered runs first). Returns 0 or -ENOMEM. */
int ac_sched_atexit(ac_sched *s, void (*fn)(void *arg), void *arg);
/* The scheduler running the current coroutine, or NULL outside one. */
ac_sched *ac_sched_self(void);
/* The scheduler's I/O backend. */
ac_io *ac_sched_io(ac_sched *s);
/* Monotonic time of the scheduler's backend, nanoseconds. */
int64_t ac_sched_now_ns(ac_sched *s);
/* The scheduler's incarnation (random at creation). */
uint64_t ac_sched_incarnation(ac_sched *s);
/* Set the location put into new refs (the network layer calls this). */
void ac_sched_set_location(ac_sched *s, const ac_addr *loc);
/* Log through the scheduler's sink, as "[name] text", when level is at most
 * the scheduler's log level. Control bytes in the text (0x00-0x1f and
 * 0x7f: newlines, terminal escape sequences — strings from the network
 * are logged too) are written as \xNN, so a line is always one line of
 * printable text (cut at 1023 bytes). Repeated lines are rate-limited: the same
 * line (text and level; the 8 most recent are remembered) again within
 * 10 s of being shown is not shown but counted. The count is always
 * reported, as the line with " (N identical lines suppressed in the last
 * X s)" appended, X being the time since it was shown: when the line comes
 * back after its 10 s (that showing carries the count), or else just
 * before the next other line logged after them, or when the line is
 * forgotten for a newer one, or by ac_sched_free at the latest. Time is
 * the backend's clock (virtual in the simulator). AC_LOG_ERROR lines are
 * never suppressed. */
void ac_log(ac_sched *s, int level, const char *fmt, ...) AC_PRINTF(3, 4);

/* For drivers that interleave several schedulers (the simulator):
 * run everything that is ready now without waiting — completions, expired
 * timers, ready coroutines (a bounded batch). Returns 1 when coroutines are
 * still ready afterwards, 0 when none is, -EPERM from a coroutine. */
int ac_sched_step(ac_sched *s);
/* Earliest timer deadline (monotonic ns) or -1 when no timer is armed. */
int64_t ac_sched_next_deadline(ac_sched *s);
/* Number of live non-daemon coroutines. */
size_t ac_sched_live(ac_sched *s);

/* Counters, for benchmarks and leak checks. */
typedef struct ac_sched_stats {
	uint64_t spawned;
	uint64_t ended;
	uint64_t switches;
	uint64_t live;
	uint64_t stacks_mapped;
	uint64_t stacks_pooled;
	uint64_t stacks_unguarded;
} ac_sched_stats;
void ac_sched_get_stats(ac_sched *s, ac_sched_stats *st);

/* ---- coroutines ------------------------------------------------------------ */

/* A coroutine body. Returning ends the coroutine with exit reason
 * AC_EXIT_RETURNED and no value (see ac_return and ac_fail). */
typedef void (*ac_coro_fn)(void *arg);

typedef struct ac_spawn_opts {
	/* Name (copied, at most 63 bytes kept); default "coro". */
	const char *name;
	/* Daemons do not keep ac_sched_run going. */
	int daemon;
	/* Stack size in bytes; 0 uses the scheduler's default. */
	size_t stack_size;
	/* Called with arg when the coroutine is terminated before it first
	 * ran (its body never saw arg, so it cannot free it); NULL: none. */
	void (*arg_free)(void *arg);
} ac_spawn_opts;

/* Create a coroutine running fn(arg) on s (NULL: the current scheduler). It
 * starts when the scheduler next picks it. Returns 0 and *out (may be NULL),
 * -EINVAL, -EPERM (no scheduler), or -ENOMEM. */
int ac_spawn(ac_sched *s, ac_coro_fn fn, void *arg, const ac_spawn_opts *o,
             ac_ref *out);
/* The current coroutine's ref (null ref outside a coroutine). */
ac_ref ac_self(void);
/* The current coroutine's name ("" outside a coroutine). */
const char *ac_self_name(void);
/* Copy a local coroutine's name into buf. Returns 0, -ESRCH, -EREMOTE. */
int ac_coro_name(ac_ref r, char *buf, size_t len);
/* 1 when a local coroutine is alive, 0 when it has ended (or never
 * existed); -EREMOTE for a ref of another node. */
int ac_is_alive(ac_ref r);
/* Mark a local coroutine daemon (1) or not (0). Returns 0 or -ESRCH. */
int ac_set_daemon(ac_ref r, int daemon);
/* Let other ready coroutines run. Coroutine only. */
int ac_yield(void);
/* Sleep for ms milliseconds (0: let the loop run once). Returns 0, -EINVAL
 * for ms < 0 (AC_FOREVER too: use ac_suspend). -ECANCELED would mean the
 * engine woke it early through ac__wake; no public call does. Coroutine
 * only. */
int ac_sleep(int64_t ms);
/* Suspend until ac_resume or the timeout. Returns 0 and *value (the value
 * passed to ac_resume), or -ETIMEDOUT. Coroutine only. */
int ac_suspend(int64_t timeout_ms, intptr_t *value);
/* Resume a coroutine suspended in ac_suspend. Returns 0, -ESRCH (dead),
 * -EAGAIN (not suspended), -EREMOTE. */
int ac_resume(ac_ref r, intptr_t value);
/* End a coroutine now: its stack is discarded (its ac_coro_defer hooks run
 * first), monitors get AC_EXIT_TERMINATED. From the coroutine itself, does
 * not return. Returns 0 or -ESRCH. A ref of another node is a request to
 * that node: coroutine only, it waits for the answer at most
 * AC_REMOTE_WAIT_MS (10 s; codes in dis.h). */
int ac_terminate(ac_ref r);
/* End the current coroutine with reason AC_EXIT_RETURNED and a value
 * (ownership passes; NULL: no value). Coroutine only; does not return. */
AC_NORETURN void ac_return(ac_msg *value);
/* End the current coroutine with reason AC_EXIT_FAILED and an error text
 * (cut to 511 bytes). Coroutine only; does not return. */
AC_NORETURN void ac_fail(const char *fmt, ...) AC_PRINTF(1, 2);
/* Register fn(arg) to run when the current coroutine ends, however it ends
 * (last registered runs first): the place to free what its stack held.
 * Returns 0, -ENOMEM, -EPERM. */
int ac_coro_defer(void (*fn)(void *arg), void *arg);
/* Wait until coroutine r ends; *exit_msg gets a copy of its exit
 * notification (see ac_msg_exit; NULL to ignore it). Returns 0, -ETIMEDOUT,
 * -ESRCH (already ended or unknown), -EDEADLK (r is the caller). Coroutine
 * only. */
int ac_finish(ac_ref r, int64_t timeout_ms, ac_msg **exit_msg);
/* Make the current coroutine a monitor of target: when target ends the
 * caller gets exactly one AC_MSG_EXIT message. Monitoring twice is one
 * monitor. Returns 0, -ESRCH (target not alive), -EPERM. A target on
 * another node waits for that node's answer at most AC_REMOTE_WAIT_MS
 * (10 s; codes in dis.h). */
int ac_monitor(ac_ref target);
/* Make monitor a monitor of the current coroutine (asyncoro's notify). */
int ac_notify(ac_ref monitor);
/* General form: make monitor a monitor of target. At least one of the two
 * must be a coroutine of the caller's node (a monitor on another node of a
 * target on a third node is -EINVAL: ask one of those nodes). Returns 0,
 * -ESRCH (target not alive), -EINVAL, or an error of the network layer
 * (dis.h) for a remote target. */
int ac_monitor_ref(ac_ref monitor, ac_ref target);

/* ---- messages ---------------------------------------------------------------- */

/* What a message is. */
enum ac_msg_kind {
	AC_MSG_DATA = 0,  /* user data */
	AC_MSG_EXIT = 1,  /* exit notification to a monitor */
	AC_MSG_PEER = 2   /* peer status (dis.h) */
};

/* How a coroutine ended, in AC_MSG_EXIT messages. */
enum ac_exit_how {
	AC_EXIT_RETURNED = 0,   /* returned; payload = value (maybe empty) */
	AC_EXIT_FAILED = 1,     /* ac_fail; payload = error text */
	AC_EXIT_TERMINATED = 2, /* ac_terminate */
	AC_EXIT_NODE_LOST = 3   /* its node crashed or was cut off */
};
/* A name for an exit reason, for logs: "returned", "failed", "terminated",
 * "node lost"; "unknown" for any other value. (ac_strerror names errors,
 * not exit reasons.) Never NULL; the string is static. */
const char *ac_exit_reason_name(int how);

/* A new data message with a copy of len bytes of data. NULL on ENOMEM. */
ac_msg *ac_msg_new(const void *data, size_t len);
/* A new data message of len bytes to be filled through ac_msg_wdata. */
ac_msg *ac_msg_alloc(size_t len);
/* A new data message holding a NUL-free copy of the C string s. */
ac_msg *ac_msg_str(const char *s);
/* printf into a new data message. */
ac_msg *ac_msg_printf(const char *fmt, ...) AC_PRINTF(1, 2);
/* A copy of m (same kind, sender, category, payload). */
ac_msg *ac_msg_dup(const ac_msg *m);
/* Free a message (NULL: nothing). A message that is queued, or that was
 * already freed and had a payload of at most 192 bytes (such blocks stay
 * with the scheduler for reuse), is reported through the log and not freed
 * twice (checked by a magic word) -- unless its block was reused meanwhile.
 * Freeing a larger one twice is undefined, as for free(). */
void ac_msg_free(ac_msg *m);
const void *ac_msg_data(const ac_msg *m);
void *ac_msg_wdata(ac_msg *m);
size_t ac_msg_len(const ac_msg *m);
/* 1 when the payload equals the C string s. */
int ac_msg_is(const ac_msg *m, const char *s);
int ac_msg_kind(const ac_msg *m);
/* The sending coroutine (null ref when sent from outside a coroutine). */
ac_ref ac_msg_from(const ac_msg *m);
/* Category given by the receiver's categorizer (0 when none). */
int ac_msg_category(const ac_msg *m);

/* Details of an AC_MSG_EXIT message. */
typedef struct ac_exit_info {
	/* The coroutine that ended. */
	ac_ref coro;
	/* enum ac_exit_how. */
	int how;
	/* Returned value or failure text (points into the message). */
	const void *data;
	size_t len;
} ac_exit_info;
/* Decode an exit notification. Returns 0 or -EINVAL (not AC_MSG_EXIT). */
int ac_msg_exit(const ac_msg *m, ac_exit_info *out);

/* Queue m for coroutine to (local or, with dis.h, remote; a channel ref:
 * ac_chan_send). Returns 0 when queued or dropped because the recipient is
 * gone (a dead local recipient drops silently, as asyncoro does); -EINVAL
 * for a bad ref or message; -EHOSTUNREACH for an unknown node; to another
 * node -EMSGSIZE over the payload limit (4 MiB - 1 KiB) and -ENOBUFS when
 * 64 MiB are queued for it already; -EPERM with no scheduler in the
 * thread. On an error the caller keeps m. Never blocks. A message to another
 * node is also dropped there (still 0 here: send is at most once) when
 * the recipient's inbound bounds are full (dis.h: max_coro_inbound,
 * max_peer_inbound); the receiving node counts and logs it. */
int ac_send(ac_ref to, ac_msg *m);
/* ac_send of a copy of len bytes. */
int ac_send_data(ac_ref to, const void *data, size_t len);
/* Queue m and wait for confirmation that it is in the recipient's queue.
 * Returns 1 (delivered), 0 (timeout: outcome unknown), -ESRCH (recipient
 * dead), -ENOBUFS (a remote recipient's inbound bounds are full: not
 * queued; dis.h max_coro_inbound, max_peer_inbound), -EHOSTUNREACH,
 * -EINVAL, -EMSGSIZE (as ac_send). On 1 and 0 the message is the callee's,
 * on an error the caller's; on 1 and 0 it is freed when the calling
 * coroutine is terminated while it waits. To a channel ref it is
 * ac_chan_deliver with n = 0 (the return is how many got it).
 * Coroutine only for remote refs; locally it never waits. To another node
 * with a timeout of 0 it queues m and returns 0 at once (dis.h). */
int ac_deliver(ac_ref to, ac_msg *m, int64_t timeout_ms);
/* Take the oldest message; *out gets it. Returns 0, -ETIMEDOUT, -EPERM
 * (outside a coroutine), -EINVAL (out NULL). */
int ac_receive(int64_t timeout_ms, ac_msg **out);
/* Like ac_receive, but only messages whose category is cat (asyncoro's
 * CategorizeMessages); others stay queued in order. */
int ac_receive_cat(int cat, int64_t timeout_ms, ac_msg **out);
/* Like ac_receive, but only messages for which match(m, arg) is non-zero. */
int ac_receive_match(int (*match)(const ac_msg *m, void *arg), void *arg,
                     int64_t timeout_ms, ac_msg **out);
/* Set the current coroutine's categorizer: fn gives each arriving message
 * its category (applied to queued messages too). NULL removes it. */
int ac_set_categorizer(int (*fn)(const ac_msg *m, void *arg), void *arg);
/* Number of messages queued for the current coroutine. */
size_t ac_queue_len(void);

/* ---- structured values (MessagePack) ------------------------------------ */

/* Deepest nesting of arrays and maps, in formats and in payloads alike: a
 * format that nests deeper is a bad format, a payload is -EBADMSG. */
#define AC_PACK_DEPTH_MAX 32

/* Build a data message whose payload is one MessagePack value described by
 * a format. Each letter takes the arguments shown, with exactly these types
 * (write (int64_t)1, not 1):
 *   n nil (no argument)          b bool (int: 0 false, else true)
 *   i int64_t                    u uint64_t              d double (float64)
 *   s const char * (str; not NULL)
 *   S const void *, size_t (bin; the pointer may be NULL when the size is 0)
 *   r ac_ref, by value (MessagePack ext type 1)
 *   l const ac_addr * (ext type 2)
 *   [ ... ] an array of the values inside
 *   { ... } a map: the values inside alternate key, value (keys may be any
 *           value, so their number must be even)
 * Blanks, ',' and ':' are ignored, so "{s: i, s: [i i]}" reads well. The
 * format describes exactly one value (put several in [ ]). Refs and
 * locations travel in a fixed big-endian layout documented in
 * engine/pack.c. Returns NULL on a bad format, a bad argument (NULL string,
 * ref kind or address family out of range, a string of 4 GiB or more), or
 * ENOMEM. */
ac_msg *ac_msg_pack(const char *fmt, ...);
ac_msg *ac_msg_vpack(const char *fmt, va_list ap);
/* Decode a payload that is exactly one MessagePack value against a format
 * (same letters and rules as ac_msg_pack), each letter taking pointers:
 *   n (nothing; the value must be nil)    b int * (a bool: 0 or 1)
 *   i int64_t * (any integer in the int64 range)
 *   u uint64_t * (any non-negative integer)
 *   d double * (float32, float64, or an integer, converted to double)
 *   s char *buf, size_t bufsize: a str or bin, copied and NUL-terminated;
 *     -EMSGSIZE when it needs more than bufsize bytes with the NUL,
 *     -EBADMSG when it contains a NUL byte
 *   S const void **ptr, size_t *len: a str or bin, not copied: *ptr points
 *     into the payload, valid as long as the message (or buffer) is
 *   r ac_ref *    l ac_addr *   (ext types 1 and 2, validated)
 *   [ ... ] an array with exactly as many elements as values inside
 *   { ... } a map with exactly half as many pairs as values inside, read in
 *     stored order: each key and each value against the next letters (so
 *     "{sisi}" reads two string->int pairs)
 *   * skips one value of any type (arrays and maps included)
 * Returns 0; -EBADMSG when the payload does not match the format, is not
 * valid MessagePack, nests deeper than AC_PACK_DEPTH_MAX or has bytes after
 * the value; -EMSGSIZE (see s); -EINVAL for a bad format, a NULL output
 * pointer or a NULL message. On error, the outputs of letters before the
 * failing one may have been written. Safe on any input bytes: it never
 * allocates and reads nothing outside the payload. */
int ac_msg_unpack(const ac_msg *m, const char *fmt, ...);
int ac_msg_vunpack(const ac_msg *m, const char *fmt, va_list ap);
/* The same formats over raw buffers (the wire uses these). ac_pack returns
 * 0 with the bytes in *out (malloc'ed: free() it) and their number in
 * *len, or -EINVAL (bad format or argument), -EMSGSIZE (a string of 4 GiB
 * or more), -ENOMEM. ac_unpack decodes the len bytes at buf exactly like
 * ac_msg_unpack. */
int ac_pack(void **out, size_t *len, const char *fmt, ...);
int ac_unpack(const void *buf, size_t len, const char *fmt, ...);
/* Render a message's MessagePack payload as JSON-like text into buf (size
 * len; NUL-terminated when len > 0), for logs and the examples: null, true,
 * 12, -3, 1.5, "text", b"bin\x00", [1, 2], {"k": 1},
 * <ref coro/slot.gen@ip:port> (see ac_ref_format), <loc ip:port>,
 * <ext type, n bytes>. A payload that is not exactly one valid MessagePack
 * value is shown as <raw n bytes "...">. Text that does not fit is cut and
 * ends with "..." (when len >= 4). Returns buf. */
char *ac_msg_repr(const ac_msg *m, char *buf, size_t len);

/* ---- channels ------------------------------------------------------------------ */

typedef struct ac_chan ac_chan;

/* Transform applied by a channel before fan-out: returns the message to
 * send (m itself, modified, or a new one — then m must be freed by the
 * transform), or NULL to drop it (then the transform frees m). */
typedef ac_msg *(*ac_chan_transform_fn)(ac_msg *m, void *arg);

/* Create a local channel on s (NULL: current scheduler) named name (1 to
 * AC_NAME_MAX bytes). Returns 0 and *out (its ref), -EINVAL,
 * -ENAMETOOLONG, -ENOMEM. */
int ac_chan_new(ac_sched *s, const char *name, ac_ref *out);
/* Subscribe sub (a coroutine or channel ref) to channel chan. Subscribing
 * twice is one subscription. Returns 0, -ESRCH (unknown channel), -EINVAL
 * (not a channel), -ELOOP (channel subscription would form a cycle). */
int ac_chan_subscribe(ac_ref chan, ac_ref sub, int64_t timeout_ms);
/* Remove a subscription. Returns 0, -ENOENT (not subscribed), -ESRCH. */
int ac_chan_unsubscribe(ac_ref chan, ac_ref sub, int64_t timeout_ms);
/* Send m through the transform to every current subscriber (each gets its
 * own copy). Returns 0 or -ESRCH/-EINVAL; m is consumed on 0. */
int ac_chan_send(ac_ref chan, ac_msg *m);
/* Wait until at least n subscribers exist (n = 0: don't wait); at timeout
 * deliver to nobody and return 0; else deliver to all current subscribers
 * and return how many got it (a subscribed channel counts its own). m is
 * consumed when the return is >= 0, and freed when the calling coroutine
 * is terminated while it waits. Coroutine only when it has to wait. */
int ac_chan_deliver(ac_ref chan, ac_msg *m, int64_t timeout_ms, int n);
/* Set (or clear with NULL) a local channel's transform. Returns 0, -ESRCH,
 * -EINVAL (not a local channel). */
int ac_chan_set_transform(ac_ref chan, ac_chan_transform_fn fn, void *arg);
/* Number of subscribers of a local channel, or -ESRCH (-EINVAL: not a
 * channel ref; -EREMOTE: another node's channel). */
int ac_chan_nsubs(ac_ref chan);
/* Copy a local channel's name into buf (cut to len - 1 bytes, as
 * snprintf). Returns 0, -ESRCH, -EINVAL (not a channel ref), -EREMOTE
 * (another node's channel). */
int ac_chan_name(ac_ref chan, char *buf, size_t len);
/* Close a local channel: subscribers are dropped, waiting delivers return
 * 0, later use gives -ESRCH. */
int ac_chan_close(ac_ref chan);

/* ---- synchronisation (local; caller storage) ----------------------------- */

/* A waiter list head; the fields are private. */
typedef struct ac_waitq {
	void *head;
	void *tail;
} ac_waitq;

/* Lock: owned by one coroutine at a time. */
typedef struct ac_lock {
	ac_waitq wq;
	uint64_t owner; /* id of the owning coroutine, 0 when free */
} ac_lock;
void ac_lock_init(ac_lock *l);
/* Returns 0, -ETIMEDOUT, -EDEADLK (caller holds it), -EPERM. */
int ac_lock_acquire(ac_lock *l, int64_t timeout_ms);
/* Returns 0, or -EPERM when the caller does not hold it. */
int ac_lock_release(ac_lock *l);

/* Reentrant lock: the owner may acquire again; released after as many
 * releases. */
typedef struct ac_rlock {
	ac_lock lock;
	unsigned depth;
} ac_rlock;
void ac_rlock_init(ac_rlock *l);
int ac_rlock_acquire(ac_rlock *l, int64_t timeout_ms);
int ac_rlock_release(ac_rlock *l);

/* Condition variable with its own lock (asyncoro's Condition). */
typedef struct ac_cond {
	ac_lock lock;
	ac_waitq wq;
} ac_cond;
void ac_cond_init(ac_cond *c);
int ac_cond_acquire(ac_cond *c, int64_t timeout_ms);
int ac_cond_release(ac_cond *c);
/* Release the lock, wait for a notify or the timeout, re-acquire the lock
 * (without timeout). Returns 0 (notified), -ETIMEDOUT, -EPERM (not held). */
int ac_cond_wait(ac_cond *c, int64_t timeout_ms);
/* Wake up to n waiters (the caller must hold the lock). Returns the number
 * woken or -EPERM. */
int ac_cond_notify(ac_cond *c, int n);
int ac_cond_notify_all(ac_cond *c);

/* Event: a flag coroutines can wait for. */
typedef struct ac_event {
	ac_waitq wq;
	int flag;
} ac_event;
void ac_event_init(ac_event *e);
/* Set the flag and wake every waiter. */
void ac_event_set(ac_event *e);
void ac_event_clear(ac_event *e);
int ac_event_is_set(const ac_event *e);
/* Returns 0 once set, -ETIMEDOUT. */
int ac_event_wait(ac_event *e, int64_t timeout_ms);

/* Counting semaphore. */
typedef struct ac_sem {
	ac_waitq wq;
	int64_t value;
} ac_sem;
void ac_sem_init(ac_sem *s, int64_t value);
/* Returns 0, -ETIMEDOUT. */
int ac_sem_acquire(ac_sem *s, int64_t timeout_ms);
void ac_sem_release(ac_sem *s);

/* Wait queue primitives for building other blocking objects. */
void ac_waitq_init(ac_waitq *q);
/* Block the current coroutine on q until ac_waitq_wake or the timeout.
 * Returns the value given to ac_waitq_wake, -ETIMEDOUT, -EPERM. */
int ac_waitq_wait(ac_waitq *q, int64_t timeout_ms);
/* Wake up to n waiters (oldest first) with value; returns how many. */
int ac_waitq_wake(ac_waitq *q, int n, int value);
/* 1 when nobody waits. */
int ac_waitq_empty(const ac_waitq *q);

/* ---- coroutine sockets ------------------------------------------------- */

typedef struct ac_sock ac_sock;

/* Listen for TCP on addr (port 0: any) of scheduler s (NULL: current).
 * flags as in io.h (AC_IO_REUSEADDR is implied). */
int ac_sock_listen(ac_sched *s, const ac_addr *addr, int backlog, int flags,
                   ac_sock **out);
/* Accept a connection. Returns 0, -ETIMEDOUT, negative errno. Coroutine
 * only. */
int ac_sock_accept(ac_sock *l, int64_t timeout_ms, ac_sock **out);
/* Connect to addr. Returns 0, -ETIMEDOUT, -ECONNREFUSED, ... Coroutine only.
 */
int ac_sock_connect(const ac_addr *addr, int64_t timeout_ms, ac_sock **out);
/* A UDP socket bound to addr (flags as in io.h). */
int ac_sock_udp(ac_sched *s, const ac_addr *addr, int flags, ac_sock **out);
/* Attach a descriptor such as stdin or a pipe (it stays the caller's). */
int ac_sock_attach_fd(ac_sched *s, int fd, ac_sock **out);
/* Read 1..len bytes; 0 at end of stream; -ETIMEDOUT; negative errno. */
ssize_t ac_sock_recv(ac_sock *k, void *buf, size_t len, int64_t timeout_ms);
/* Read exactly len bytes. Returns len, 0 when the stream ended cleanly
 * before the first byte, -EPIPE when it ended in the middle, -ETIMEDOUT:
 * when no byte had come, nothing was taken and the socket stays usable (a
 * later read gets every byte); when some had, they are lost and the socket
 * is broken: later reads and writes on it return -EPIPE. */
ssize_t ac_sock_recv_all(ac_sock *k, void *buf, size_t len,
                         int64_t timeout_ms);
/* Write all len bytes. Returns len or a negative errno; after -ETIMEDOUT
 * (part may have gone) the socket is broken: later reads and writes on it
 * return -EPIPE. */
ssize_t ac_sock_send_all(ac_sock *k, const void *buf, size_t len,
                         int64_t timeout_ms);
/* Read one line into buf (NUL-terminated, without its '\n' and a '\r'
 * before it). Returns the number of bytes the line took from the stream,
 * newline included (like getline: an empty line returns 1), 0 at the end of
 * the stream with no data left, -EMSGSIZE when the line does not fit (it
 * stays buffered: a call with a larger buffer reads it), or a negative
 * errno. A last line without a newline is returned at the end of the
 * stream; after it, reads return 0 and the socket can still send (the
 * peer's shutdown ends only its direction). Lines are buffered per socket;
 * other reads take the buffered bytes first. */
ssize_t ac_sock_recv_line(ac_sock *k, char *buf, size_t len,
                          int64_t timeout_ms);
/* UDP. */
ssize_t ac_sock_sendto(ac_sock *k, const void *buf, size_t len,
                       const ac_addr *to, int64_t timeout_ms);
ssize_t ac_sock_recvfrom(ac_sock *k, void *buf, size_t len, ac_addr *from,
                         int64_t timeout_ms);
/* Length-prefixed messages: a 4-byte big-endian length then the bytes.
 * A message of up to 64 KiB (header included) is written in one piece, so
 * coroutines sending on the same socket never split each other's messages;
 * writers of larger messages must take turns (an ac_lock). Returns 0,
 * -EINVAL, -ENOMEM, -ETIMEDOUT (part may have gone: the socket is then
 * broken, later reads and writes return -EPIPE), or the socket's error. A
 * coroutine terminated in either call leaves no buffer behind. */
int ac_sock_send_msg(ac_sock *k, const void *buf, size_t len,
                     int64_t timeout_ms);
/* Receive one length-prefixed message of at most max bytes into a malloc'ed
 * buffer (*out, *len; free() it). Returns 1 (a message), 0 (clean end of
 * stream before a message), -EMSGSIZE (longer than max: its bytes are not
 * read, so later reads and writes on the socket return -EPIPE), -EPIPE
 * (ended inside a message), -ETIMEDOUT (before the first byte of a message
 * nothing was taken and the socket stays usable; inside one the socket is
 * broken: later reads and writes return -EPIPE), negative errno. */
int ac_sock_recv_msg(ac_sock *k, void **out, size_t *len, size_t max,
                     int64_t timeout_ms);
/* Close the sending side (TCP). */
int ac_sock_shutdown(ac_sock *k);
/* Close and free. Coroutines blocked on k get -ECANCELED. */
void ac_sock_close(ac_sock *k);
int ac_sock_local_addr(ac_sock *k, ac_addr *out);
int ac_sock_peer_addr(ac_sock *k, ac_addr *out);
/* Resolve a host name or numeric address through the current (or given)
 * scheduler's backend. Returns 0 or negative errno. */
int ac_resolve(ac_sched *s, const char *host, uint16_t port, ac_addr *out);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* ASYNCORO_ASYNCORO_H */
