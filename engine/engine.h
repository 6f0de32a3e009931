/* engine/engine.h: what the engine's files share — the scheduler, coroutine
 * and message structures, the object table behind refs, and the few
 * primitives every blocking operation is built from (park, wake, timers).
 *
 * Blocking pattern (used by receive, locks, channels, sockets):
 *
 *     link a waiter for c into the object's wait list;
 *     res = ac__park(s, deadline_ns, cancel_fn, obj);  // runs others
 *     if the waiter is still linked (timeout), unlink it;
 *
 * ac__wake(c, res) makes a parked coroutine ready with result res (once;
 * later wakes are ignored). When a parked coroutine is terminated its
 * cancel_fn(c, obj) runs instead, so it can unlink what lives on its stack.
 * A deadline passing wakes it with -ETIMEDOUT.
 *
 * Nothing here is public; names are ac__ (internal, non-static).
 */
#ifndef AC_ENGINE_H
#define AC_ENGINE_H

#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asyncoro/asyncoro.h>

#include "engine/alloc.h"
#include "engine/ctx.h"
#include "io/io.h"
#include "io/io_assert.h"

/* Assertions: AC_ASSERT (always on), AC_DASSERT (debug builds) and
 * AC_STATIC_ASSERT, shared by every layer (io/io_assert.h). */
#define AC_LIKELY(x) __builtin_expect(!!(x), 1)
#define AC_UNLIKELY(x) __builtin_expect(!!(x), 0)

typedef struct ac_coro ac_coro;

/* ---- timers: a binary min-heap ordered by (deadline, seq) ---------------- */
typedef struct ac__timer {
	/* Absolute monotonic deadline. */
	int64_t t_deadline;
	/* Arming order, breaks ties deterministically. */
	uint64_t t_seq;
	/* Position in the heap, or -1 when not armed. */
	int64_t t_idx;
	/* Called when the deadline passes (from the scheduler loop). */
	void (*t_cb)(struct ac__timer *t);
} ac__timer;

void ac__timer_init(ac__timer *t, void (*cb)(ac__timer *t));
/* Make room in s's timer heap for n timers (ac_spawn reserves one per live
 * coroutine, so that ac__timer_start never allocates). 0 or -ENOMEM. */
int ac__timer_reserve(ac_sched *s, size_t n);
void ac__timer_start(ac_sched *s, ac__timer *t, int64_t deadline_ns);
void ac__timer_stop(ac_sched *s, ac__timer *t);

/* ---- objects behind refs -------------------------------------------------- */
typedef struct ac__obj {
	/* Generation; bumped when the slot is freed. */
	uint32_t o_gen;
	/* enum ac_ref_kind, AC_REF_NONE when free. */
	uint32_t o_kind;
	/* The coroutine or channel; next free slot index when free. */
	union {
		void *o_ptr;
		uint64_t o_next_free;
	};
} ac__obj;

/* Allocate a slot for ptr of kind; returns the id (never 0) or 0 on ENOMEM. */
uint64_t ac__obj_add(ac_sched *s, uint32_t kind, void *ptr);
/* The object with this id and kind, or NULL. */
void *ac__obj_get(ac_sched *s, uint64_t id, uint32_t kind);
/* Free a slot (the id becomes stale). */
void ac__obj_del(ac_sched *s, uint64_t id);

/* ---- messages ------------------------------------------------------------- */
#define AC__MSG_MAGIC_LIVE 0x6d73674cu   /* owned by someone */
#define AC__MSG_MAGIC_QUEUED 0x6d736751u /* in a coroutine's queue */
#define AC__MSG_MAGIC_FREED 0x6d736746u

struct ac_msg {
	/* One of the AC__MSG_MAGIC_ values (catches double free). */
	uint32_t m_magic;
	/* enum ac_msg_kind. */
	uint16_t m_kind;
	/* Exit reason for AC_MSG_EXIT, peer status for AC_MSG_PEER. */
	uint16_t m_aux;
	/* Category given by the receiver's categorizer. */
	int32_t m_cat;
	/* Flags (the name is historical): bit 0 (MSG_SMALL_BLOCK in
	 * engine/msg.c) the block holds AC__MSG_SMALL payload bytes and may be
	 * recycled by the message cache; AC__MSG_NOTIFY (below) an exit
	 * notification the engine made for a monitor (net/remote.c sends
	 * those as confirmed EXIT requests), cleared when it is received. */
	uint32_t m_pad;
	/* Next in a queue. */
	struct ac_msg *m_next;
	/* While queued: the account of the source it was charged to
	 * (ac__enqueue_in), else NULL. */
	struct ac__inacct *m_acct;
	/* Sender (or, for exit messages, the coroutine that ended). */
	ac_ref m_from;
	/* Payload length. */
	size_t m_len;
	/* Payload (points at m_inline for all messages made here). */
	uint8_t *m_data;
	uint8_t m_inline[];
};

/* Allocate a message with room for len payload bytes. */
ac_msg *ac__msg_alloc(size_t len);

/* A coroutine's queue of received messages; q_in: what the messages in it
 * that were charged to a source account (ac__enqueue_in) cost. */
typedef struct ac__mq {
	ac_msg *q_head;
	ac_msg **q_tail;
	size_t q_len;
	size_t q_in;
} ac__mq;

/* The account of one source of messages (the network layer keeps one per
 * peer): the cost of its messages queued at coroutines, and its
 * references — its owner's, plus one per queued message, so it outlives
 * its owner while any is queued; freed at zero. */
typedef struct ac__inacct {
	size_t a_bytes;
	uint32_t a_refs;
	/* Its bounds, for the channel fan-outs that charge it (c_on_behalf):
	 * per coroutine and in all; and the copies they refused. */
	size_t a_coro_max;
	size_t a_max;
	uint64_t a_refused;
} ac__inacct;
/* What a queued message costs an account: its payload plus 64. */
#define AC__MSG_COST(m) ((m)->m_len + 64)
/* ac__enqueue for a message from source a, within bounds: -ENOBUFS (m is
 * still the caller's, nothing changed) when c's charged messages would
 * cost more than coro_max or a's more than acct_max; else 0, m queued and
 * charged to both until it leaves the queue (received or freed). */
int ac__enqueue_in(ac_coro *c, ac_msg *m, ac__inacct *a, size_t coro_max,
                   size_t acct_max);
/* Drop the owner's reference to a (NULL: nothing). */
void ac__inacct_release(ac__inacct *a);

/* Put m into coroutine c's queue (sets its category), waking c when it is
 * waiting for such a message. m's sender must be set. */
void ac__enqueue(ac_coro *c, ac_msg *m);
void ac__mq_free_all(ac_sched *s, ac__mq *q);

/* ---- sets of ref pairs (engine/refset.c) ------------------------------------ */
typedef struct ac__refpair {
	ac_ref a;
	ac_ref b;
} ac__refpair;
/* Zeroed: empty; its owner sets rs_key (ac__sched_hash_key) before the
 * first add. Iterate with for (i = 0; i < rs_cap; i++) over the slots
 * whose a.kind is not AC_REF_NONE. */
typedef struct ac__refset {
	ac__refpair *rs_tab;
	uint32_t rs_n;
	uint32_t rs_cap;
	uint64_t rs_key;
} ac__refset;
/* Add (a, b) (a a real ref): 1 added, 0 already there, -ENOBUFS when the
 * set holds max pairs, -ENOMEM. O(1) on average. */
int ac__refset_add(ac__refset *rs, ac_ref a, ac_ref b, uint32_t max);
/* 1 when (a, b) is in the set, else 0. */
int ac__refset_has(const ac__refset *rs, ac_ref a, ac_ref b);
/* Remove (a, b): 1 when it was there, else 0. */
int ac__refset_del(ac__refset *rs, ac_ref a, ac_ref b);
/* Free the table; the set is empty again (its key is kept). */
void ac__refset_free(ac__refset *rs);
/* The hash key of s's ref-pair sets: drawn from s's backend's entropy the
 * first time it is asked for. */
uint64_t ac__sched_hash_key(ac_sched *s);

/* ---- waiters -------------------------------------------------------------- */
typedef struct ac__waiter {
	struct ac__waiter *w_next;
	struct ac__waiter *w_prev;
	ac_coro *w_coro;
	/* 1 while in a queue. */
	int w_linked;
	/* Free for the object (e.g. what the waiter wants). */
	intptr_t w_data;
	void *w_ptr;
	/* When the waiter's coroutine is terminated after the object handed it
	 * something (a lock, a semaphore unit) but before it ran: give it back
	 * (w_obj is the object). */
	void (*w_undo)(void *obj);
	void *w_obj;
} ac__waiter;

void ac__waitq_push(ac_waitq *q, ac__waiter *w, ac_coro *c);
void ac__waitq_unlink(ac_waitq *q, ac__waiter *w);
ac__waiter *ac__waitq_first(const ac_waitq *q);
/* Unlink and return the oldest waiter still parked, dropping (unlinked)
 * those whose timeout already fired; NULL when none. */
ac__waiter *ac__waitq_pop_parked(ac_waitq *q);
/* Park the current coroutine on q until woken or deadline; returns the wake
 * value or -ETIMEDOUT. Unlinks the waiter whatever happens. */
int ac__waitq_park(ac_sched *s, ac_waitq *q, ac__waiter *w, int64_t deadline_ns);

/* ---- coroutines ------------------------------------------------------------- */
enum ac__coro_state {
	AC__READY = 1,   /* in the ready queue (or about to be) */
	AC__RUNNING = 2, /* the current coroutine */
	AC__PARKED = 3,  /* blocked in ac__park */
	AC__DEAD = 4     /* ended; its memory is about to be reused */
};

/* Kinds of message wait (c_rwait). */
enum { AC__RW_NONE = 0, AC__RW_ANY = 1, AC__RW_CAT = 2, AC__RW_MATCH = 3 };

typedef struct ac__defer {
	struct ac__defer *d_next;
	void (*d_fn)(void *arg);
	void *d_arg;
	/* 1: the caller's (ac__defer_push), not freed after it ran. */
	int d_callers;
} ac__defer;

/* Run fn(arg) if the current coroutine c ends (is terminated) before
 * ac__defer_pop(c, d): an undo for what a wait holds. d is the caller's
 * (typically on its stack) and stays linked until popped or run. c must be
 * the current coroutine; pops come in the reverse order of pushes. */
void ac__defer_push(ac_coro *c, ac__defer *d, void (*fn)(void *arg), void *arg);
/* Unlink d without running it. */
void ac__defer_pop(ac_coro *c, ac__defer *d);

/* A coroutine. Lives at the top of its own stack. */
struct ac_coro {
	/* Saved context. */
	ac__ctx c_ctx;
	/* Owning scheduler. */
	ac_sched *c_sched;
	/* Ready-queue links. */
	ac_coro *c_rnext;
	ac_coro *c_rprev;
	/* enum ac__coro_state. */
	int c_state;
	/* Result handed over by ac__wake. */
	int c_wake_res;
	/* Object id (slot | generation << 32). */
	uint64_t c_id;
	/* Timeout of the current park. */
	ac__timer c_timer;
	/* Undo for the current park, run when the coroutine is terminated. */
	void (*c_cancel)(ac_coro *c, void *obj);
	void *c_cancel_obj;
	/* Received messages, and what a parked receive waits for. */
	ac__mq c_mq;
	int c_rwait;
	int c_rwait_cat;
	int (*c_rwait_match)(const ac_msg *m, void *arg);
	void *c_rwait_arg;
	int (*c_categ)(const ac_msg *m, void *arg);
	void *c_categ_arg;
	/* While set: the account of the source (a peer) this coroutine
	 * relays a channel message for; what its fan-out queues at local
	 * subscribers is charged to it (engine/chan.c). The setter's. */
	struct ac__inacct *c_on_behalf;
	/* Monitors (refs told when this coroutine ends): pairs (monitor,
	 * null ref). */
	ac__refset c_mons;
	/* Coroutines in ac_finish on this one. */
	ac_waitq c_finishers;
	/* Hooks to run at the end (LIFO). */
	ac__defer *c_defer;
	/* Body, and what frees its argument if it never runs. */
	ac_coro_fn c_fn;
	void *c_arg;
	void (*c_arg_free)(void *arg);
	uint8_t c_started;
	/* Flags. */
	uint8_t c_daemon;
	uint8_t c_suspended;
	uint8_t c_ending;
	/* A service coroutine of the network layer (acceptor, readers,
	 * writers, ...): an orderly shutdown ends user coroutines first and
	 * these last; peers may not terminate them. */
	uint8_t c_service;
	/* A large return value, freed after the exit work copied it. */
	ac_msg *c_exit_value;
	/* Value passed by ac_resume. */
	intptr_t c_resume_val;
	/* Stack: lowest usable address (a guard page, if any, is just
	 * below), its size, guard flag. */
	void *c_stack;
	size_t c_stack_size;
	int c_stack_guard;
	/* ASan fake stack of this coroutine while switched out. */
	void *c_asan_fake;
	/* Valgrind stack id. */
	unsigned c_vg_id;
	char c_name[64];
};

/* ---- the scheduler ---------------------------------------------------------- */
typedef struct ac__atexit {
	struct ac__atexit *a_next;
	void (*a_fn)(void *arg);
	void *a_arg;
} ac__atexit;

typedef struct ac__stack_pool {
	/* Free stacks of the default size (linked through their first word). */
	void *sp_free;
	size_t sp_nfree;
	size_t sp_max;
	size_t sp_size;
	int sp_guard;
	/* Once mprotect hit the map limit, stop trying guards. */
	int sp_guard_failed;
	uint64_t sp_mapped;
	/* Guarded stacks currently mapped. */
	uint64_t sp_guarded;
	uint64_t sp_unguarded;
	/* The page size (read by the overflow handler, which may not ask). */
	size_t sp_page;
} ac__stack_pool;

/* Rate limit of repeated log lines (ac_log, engine/sched.c): a line shown
 * is remembered in one of AC__LOG_SLOTS slots; the same line again (same
 * level and text) within AC__LOG_WINDOW_NS of its showing is suppressed
 * and counted, and the count is reported later (see ac_log). */
#define AC__LOG_SLOTS 8
#define AC__LOG_WINDOW_NS (10 * 1000000000LL)
/* Longest log line (with the "[name] " prefix and the NUL). */
#define AC__LOG_LINE 1024

typedef struct ac__log_slot {
	/* Hash of the text after the "[name] " prefix; 0 when the slot is
	 * free (a hash of 0 is stored as 1). */
	uint64_t l_hash;
	/* When the line was last shown (start of its window, scheduler
	 * clock). */
	int64_t l_shown_ns;
	/* Copies suppressed since then. */
	uint64_t l_count;
	int l_level;
	/* The line as shown, prefix included. */
	char l_text[AC__LOG_LINE];
} ac__log_slot;

struct ac_sched {
	/* Backend (s_ioslot.io), and what the io layer made for it: the
	 * default backend, a recorder, a replay (ac__io_sched_open). */
	ac_io *s_io;
	ac__io_slot s_ioslot;
	/* Incarnation and location for refs. */
	uint64_t s_inc;
	/* Key of the ref-pair sets' hash (ac__sched_hash_key). */
	uint64_t s_hash_key;
	int s_hash_key_set;
	/* Most monitors of one coroutine (ac_sched_opts.max_monitors). */
	uint32_t s_max_mon;
	ac_addr s_loc;
	/* The running coroutine, or NULL in the scheduler loop. */
	ac_coro *s_cur;
	/* Context of the scheduler loop. */
	ac__ctx s_main;
	/* ASan: bounds of the thread stack the loop runs on. */
	const void *s_asan_main_bottom;
	size_t s_asan_main_size;
	void *s_asan_main_fake;
	int s_asan_from_main;
	/* Ready queue (FIFO). */
	ac_coro *s_rhead;
	ac_coro *s_rtail;
	/* A coroutine that ended on its own stack, freed by the loop. */
	ac_coro *s_zombie;
	/* Direct switches since the loop last ran (bounds starvation of I/O). */
	unsigned s_direct;
	/* Socket operations in a row that completed without waiting; at
	 * AC__INLINE_IO_MAX the next one yields first (bounds starvation of
	 * the others by a coroutine whose peer keeps it busy). */
	unsigned s_inline_io;
	/* Object table. */
	ac__obj *s_obj;
	uint32_t s_nobj;
	uint32_t s_capobj;
	uint64_t s_free_obj;
	/* Timer heap. */
	ac__timer **s_heap;
	size_t s_nheap;
	size_t s_capheap;
	uint64_t s_timer_seq;
	/* Stacks. */
	ac__stack_pool s_stacks;
	/* Counts. */
	uint64_t s_live;      /* live coroutines */
	uint64_t s_live_user; /* live non-daemon coroutines */
	uint64_t s_spawned;
	uint64_t s_ended;
	uint64_t s_switches;
	/* Coroutine sockets still open (ac_sched_free closes them). */
	struct ac_sock *s_socks;
	/* Freed small messages kept for reuse (and double-free detection). */
	ac_msg *s_mcache;
	size_t s_nmcache;
	/* In ac_sched_run/step (nesting guard). */
	int s_running;
	/* At-exit hooks. */
	ac__atexit *s_atexit;
	/* Hook for the network layer: a coroutine ended (names vanish). */
	void (*s_on_end)(void *arg, ac_coro *c);
	void *s_on_end_arg;
	/* Hook for the network layer: an orderly shutdown (ac_sched_finish
	 * or ac_sched_terminate) has ended the user coroutines; deliver their
	 * exit notices, say goodbye to peers and stop the network. Runs from
	 * the loop's context (it may run the scheduler again) or from a
	 * coroutine (it may wait). */
	void (*s_on_finish)(void *arg);
	void *s_on_finish_arg;
	/* Hook for the network layer: the scheduler is being freed (after
	 * every coroutine was terminated). */
	void (*s_on_free)(void *arg);
	void *s_on_free_arg;
	/* Hook for the network layer: send/deliver/monitor to remote refs. */
	const struct ac__remote_ops *s_remote;
	void *s_remote_arg;
	/* Options. */
	size_t s_stack_size;
	ac_log_fn s_log_fn;
	void *s_log_arg;
	int s_log_level;
	/* Recently shown log lines (rate limit). */
	ac__log_slot s_log_seen[AC__LOG_SLOTS];
	char s_name[64];
};

/* What the network layer provides for refs of other nodes (dis.h). */
struct ac__remote_ops {
	int (*send)(void *arg, ac_ref to, ac_msg *m);
	int (*deliver)(void *arg, ac_ref to, ac_msg *m, int64_t timeout_ms);
	int (*monitor)(void *arg, ac_ref monitor, ac_ref target);
	int (*terminate)(void *arg, ac_ref target);
	int (*finish)(void *arg, ac_ref target, int64_t timeout_ms,
	              ac_msg **exit_msg);
	int (*chan_op)(void *arg, int op, ac_ref chan, ac_ref sub, ac_msg *m,
	               int64_t timeout_ms, int n);
	/* A local coroutine (target) got a monitor on another node: tell that
	 * node, so that it reports "node lost" if we vanish. */
	int (*watched)(void *arg, ac_ref monitor, ac_ref target);
	/* Deliver a copy of m to each of n remote coroutines at once; returns
	 * how many confirmed within the timeout. m stays the caller's. */
	int (*deliver_many)(void *arg, const ac_ref *to, int n, const ac_msg *m,
	                    int64_t timeout_ms);
};

/* The scheduler of the running coroutine (thread-local). */
extern __thread ac_sched *ac__tls_sched
	__attribute__((tls_model("initial-exec")));

static inline ac_coro *ac__cur(void)
{
	ac_sched *s = ac__tls_sched;
	return s ? s->s_cur : NULL;
}

/* Direct coroutine-to-coroutine switches before the loop gets a turn. */
#define AC__DIRECT_MAX 64
/* Socket operations in a row that complete without waiting before the
 * next one yields (see sock_fair_yield in engine/sock.c). */
#define AC__INLINE_IO_MAX 64

/* Deadline for a timeout in ms (-1 for AC_FOREVER). */
int64_t ac__deadline(ac_sched *s, int64_t timeout_ms);
/* Block the running coroutine; see the top of this file. */
int ac__park(ac_sched *s, int64_t deadline_ns,
             void (*cancel)(ac_coro *c, void *obj), void *obj);
/* Make a parked coroutine ready with res (no-op unless parked). */
void ac__wake(ac_coro *c, int res);
/* Put a coroutine at the tail of the ready queue. */
void ac__ready_push(ac_sched *s, ac_coro *c);
/* Wait for an io operation that returned AC_IO_PENDING; returns op->res, or
 * -ETIMEDOUT after cancelling it. */
int64_t ac__io_wait(ac_sched *s, ac_op *op, int64_t deadline_ns);
/* ac__io_wait with a custom undo for termination; cancel must cancel op
 * (through the backend) besides whatever else it undoes. */
int64_t ac__io_wait_ex(ac_sched *s, ac_op *op, int64_t deadline_ns,
                       void (*cancel)(ac_coro *c, void *obj), void *obj);
/* Cancel op for a coroutine that is being terminated (closing a handle an
 * accept or connect produced unseen). */
void ac__io_forget(ac_io *io, ac_op *op);
/* The op callback used with ac__io_wait (op->data = the coroutine). */
void ac__io_wake_cb(ac_op *op);

/* Terminate the coroutines of s other than the running one: user ones,
 * service ones (c_service) or both. */
enum { AC__KILL_USERS = 1, AC__KILL_SERVICES = 2 };
void ac__sched_kill(ac_sched *s, int which);
/* ac_spawn for a service coroutine of the network layer (c_service). */
int ac__spawn_service(ac_sched *s, ac_coro_fn fn, void *arg,
                      const ac_spawn_opts *o, ac_ref *out);

/* Switch from coroutine `from` (NULL: the loop) to `to` (NULL: the loop). */
void ac__switch(ac_sched *s, ac_coro *from, ac_coro *to);
/* After a switch lands (sanitizer builds). */
void ac__asan_arrived(ac_sched *s, ac_coro *self);
/* Take c out of the ready queue (no-op when it is not queued). */
void ac__ready_remove(ac_sched *s, ac_coro *c);
/* Release a dead coroutine's stack. */
void ac__coro_reap(ac_sched *s, ac_coro *c);
/* Queue m (sender already set) for local or remote coroutine `to`. Returns
 * 0 (queued or dropped because the recipient is dead), -EINVAL,
 * -EHOSTUNREACH; on error the caller keeps m. */
int ac__send_msg(ac_sched *s, ac_ref to, ac_msg *m);
/* Drop subscribers of every local channel that live on the node at loc
 * (that node was lost). */
void ac__chan_drop_node(ac_sched *s, const ac_addr *loc);
/* ac_chan_send / ac_chan_deliver for a message relayed on behalf of its
 * sender (a request from another node): m keeps its m_from, so every
 * subscriber and transform sees the original sender. */
int ac__chan_relay_send(ac_ref chan, ac_msg *m);
int ac__chan_relay_deliver(ac_ref chan, ac_msg *m, int64_t timeout_ms, int n);
/* Keep a socket's memory valid past ac_sock_close until the matching
 * drop (for a coroutine that may start after the socket was closed). */
void ac__sock_hold(struct ac_sock *k);
void ac__sock_drop(void *k);
/* Close and free the sockets a scheduler's coroutines left open. */
void ac__sock_free_all(ac_sched *s);
/* Free every channel of a scheduler (ac_sched_free). */
void ac__chan_free_all(ac_sched *s);
/* Channel operations the network layer performs (ac__remote_ops.chan_op). */
enum { AC__CHAN_SUBSCRIBE = 1, AC__CHAN_UNSUBSCRIBE, AC__CHAN_SEND,
       AC__CHAN_DELIVER };
/* Free the scheduler's message cache. */
void ac__msg_cache_fini(ac_sched *s);
/* m_pad bit: an exit notification made by the engine for a monitor (not
 * a user's copy of one); cleared when the message is received. */
#define AC__MSG_NOTIFY 2u
/* Payload bytes a cached message can hold. */
#define AC__MSG_SMALL 192

/* ---- MessagePack for the wire's hot path (engine/pack.c) --------------------
 * Hand-written coders for the frames every remote message and file chunk
 * takes, without ac_pack's allocations; each writes exactly the bytes
 * ac_pack writes for the same values (the shortest form of an integer). The
 * encoders trust their caller (out has room; see the _MAX sizes); the
 * decoders take any bytes and answer 0 (or -EBADMSG) for what they do not
 * read. */
/* Write r as MessagePack (its ext type, 43 bytes) into out; returns the
 * length, or 0 for a ref that cannot be encoded. */
size_t ac__pack_ref(uint8_t *out, const ac_ref *r);
#define AC__PACK_REF_MAX 43
/* Read a ref written by ac__pack_ref from in (len bytes available); returns
 * the bytes used, or 0 when in does not start with a valid one. */
size_t ac__unpack_ref(const uint8_t *in, size_t len, ac_ref *r);
/* Write v as a MessagePack unsigned integer, shortest form (1, 2, 3, 5 or 9
 * bytes); returns the length. */
size_t ac__pack_uint(uint8_t *out, uint64_t v);
#define AC__PACK_UINT_MAX 9
/* Read an unsigned integer (positive fixint, uint 8/16/32/64) from in;
 * returns the bytes used, or 0 when in does not start with one. */
size_t ac__unpack_uint(const uint8_t *in, size_t len, uint64_t *v);
/* Write the header of a bin of len bytes (len <= UINT32_MAX): bin 8, 16 or
 * 32 as small as fits; returns its length (2, 3 or 5). */
size_t ac__pack_bin_hdr(uint8_t *out, size_t len);
#define AC__PACK_BIN_HDR_MAX 5
/* Read a bin header from in: the bytes used and *blen, or 0. */
size_t ac__unpack_bin_hdr(const uint8_t *in, size_t len, size_t *blen);
/* The body of a remote message, [to kind aux from payload] (what ac_pack
 * "[r u u r S]" writes), into out, which has room for AC__PACK_SEND_MAX +
 * m->m_len bytes. Returns the length, or 0 for a ref that cannot be
 * encoded. */
size_t ac__pack_send(uint8_t *out, const ac_ref *to, const ac_msg *m);
/* Bytes ac__pack_send writes besides the payload, at most (kind and aux are
 * 16-bit: 3 bytes each at most). */
#define AC__PACK_SEND_MAX (1 + 2 * AC__PACK_REF_MAX + 2 * 3 + AC__PACK_BIN_HDR_MAX)
/* Read such a body: the layout ac__pack_send writes directly, any other
 * valid encoding through ac_unpack. Returns 0 (*data points into in), or
 * -EBADMSG. */
int ac__unpack_send(const uint8_t *in, size_t len, ac_ref *to, uint64_t *kind,
                    uint64_t *aux, ac_ref *from, const void **data,
                    size_t *dlen);
/* The header of a FILE_DATA body [xfer offset bytes] with a chunk of len
 * bytes to follow: fixed widths (uint 32, uint 64, bin 32), so the chunk
 * can be read straight behind it; AC__PACK_CHUNK_HDR bytes. */
void ac__pack_chunk_hdr(uint8_t *out, uint32_t xfer, uint64_t off,
                        uint32_t len);
#define AC__PACK_CHUNK_HDR 20

/* Ref of a local object. */
ac_ref ac__ref_local(ac_sched *s, uint32_t kind, uint64_t id);
/* 1 when r names an object of scheduler s. */
static inline int ac__ref_is_local(ac_sched *s, const ac_ref *r)
{
	return r->inc == s->s_inc;
}
/* The local coroutine r names, or NULL. */
ac_coro *ac__coro_get(ac_sched *s, ac_ref r);
/* End coroutine c (not running) with reason how; frees it. */
void ac__coro_kill(ac_coro *c, int how);
/* Build an exit message for coroutine ref r. */
ac_msg *ac__exit_msg(ac_ref r, int how, const void *data, size_t len);

/* Stacks. */
void ac__stack_pool_init(ac__stack_pool *p, size_t size, int guard,
                         size_t max);
void ac__stack_pool_fini(ac__stack_pool *p);
/* A stack of size bytes (p->sp_size when 0): *base gets its lowest usable
 * address; returns 0 or -ENOMEM. */
int ac__stack_get(ac__stack_pool *p, size_t size, void **base, size_t *got,
                  int *guarded);
void ac__stack_put(ac__stack_pool *p, void *base, size_t size, int guarded);
/* A scheduler is created on the calling thread (ac_sched_new): install the
 * stack overflow report if this is the first of the process and SIGSEGV has
 * its default action, and give the thread an alternate signal stack unless
 * it has one. Failures only mean no report. */
void ac__stack_thread_enter(void);
/* A scheduler is freed (ac_sched_free): after the last one created on this
 * thread, the alternate stack mapped by ac__stack_thread_enter goes. */
void ac__stack_thread_leave(void);

#endif /* AC_ENGINE_H */
