/* net/remote.h: what the files of remote refs share. Each feature keeps a
 * request's client side (an engine hook or API call), its server side (the
 * frame handler) and its body layout in one file:
 *
 *   remote.c          dispatch of incoming frames by type, the request and
 *                     reply plumbing every feature uses, the hook table
 *   remote_msg.c      send, deliver, exit notifications (AC_WT_SEND,
 *                     DELIVER, EXIT)
 *   remote_monitor.c  monitors, node lost, terminate, finish (MONITOR,
 *                     TERMINATE, FINISH)
 *   remote_chan.c     channel operations on another node (CHAN)
 *   remote_names.c    locate by name, RCIs (LOCATE, RCI_CALL)
 *
 * Rules for every handler (the ac__frame_fn below): every field from the
 * wire is decoded with a format that fixes its type and checked before use;
 * a body that does not decode, or breaks a range (a message kind, a channel
 * operation), is a bad frame: the handler returns -EBADMSG and the reader
 * closes the connection. A well-formed request about something that does not
 * exist gets an error reply and changes nothing. A handler never waits: a
 * request that may (FINISH, channel subscribe/deliver) is decoded and checked
 * first, then served by a coroutine of its own (ac__remote_spawn).
 */
#ifndef AC_NET_REMOTE_H
#define AC_NET_REMOTE_H

#include "net/net.h"

/* The handler of one frame type from peer p: h is its decoded header, body
 * (len bytes) is the caller's. Returns 0, or a negative errno to close the
 * connection (a bad frame). */
typedef int ac__frame_fn(ac_peer *p, const ac_wire_hdr *h, const uint8_t *body,
                         size_t len);

/* ---- remote.c --------------------------------------------------------------- */
/* A target of a request from the wire: its ref must be of our incarnation
 * to reach a local object. */
static inline int ac__remote_local(ac_node *n, const ac_ref *r)
{
	return ac__ref_is_local(n->n_sched, r);
}
/* Send a request of type to p with a body packed from fmt and wait for the
 * reply (timeout_ms 0: queued, -ETIMEDOUT at once, no wait): 0 with *pend
 * holding the reply body (the caller frees pend->pd_body), or the
 * request's error (-ETIMEDOUT,
 * -EHOSTUNREACH, -ENOMEM, ...). Coroutine only. */
int ac__remote_call(ac_peer *p, uint8_t type, int64_t timeout_ms,
                    ac__pending *pend, const char *fmt, ...);
/* One request with a body of two refs packed by fmt, answered "[i]":
 * returns the remote rc (<= 0; a reply that is not one is -EPROTO) or the
 * request's error. Coroutine only. */
int ac__remote_rc(ac_peer *p, uint8_t type, int64_t timeout_ms,
                  const char *fmt, ac_ref a, ac_ref b);
/* Serve a decoded request in a daemon coroutine "ac-request" running
 * fn(arg) on p's node; arg_free(arg) runs if it is terminated before it
 * starts, which p's departure does (ac__remote_end_requests). Returns 0,
 * -EBUSY when p already has n_max_requests being served (counted in
 * n_req_refused, logged once until they drain), or -ENOMEM; on an error
 * arg is still the caller's, who answers the request with it. */
int ac__remote_spawn(ac_peer *p, ac_coro_fn fn, void *arg,
                     void (*arg_free)(void *));
/* 1 when p has max_peer_requests requests in progress: those served by
 * ac__remote_spawn plus the RCI coroutines it started still running. */
int ac__remote_busy(const ac_peer *p);
/* Count and log (once until they drain) a request of p refused because
 * ac__remote_busy; returns -EBUSY, the answer to give. */
int ac__remote_refuse(ac_peer *p);

/* ---- remote_msg.c ----------------------------------------------------------- */
/* 1 when message fields off the wire are in range: kind at most
 * AC_MSG_PEER, aux within 16 bits, payload at most AC_WIRE_PAYLOAD_MAX. */
int ac__remote_msg_ok(uint64_t kind, uint64_t aux, size_t len);
/* A new message from fields off the wire (data is copied), or NULL when
 * they are out of range (ac__remote_msg_ok) or memory is short. */
ac_msg *ac__remote_msg_new(uint64_t kind, uint64_t aux, ac_ref from,
                           const void *data, size_t len);
/* 1 when peer p may send a message of this kind with this sender: an exit
 * notice (kind AC_MSG_EXIT) only about a coroutine of p itself (its
 * location and incarnation), since only the node that owns a coroutine
 * makes its exit notices; a peer-status message (AC_MSG_PEER) never, since
 * only the receiving node makes those. 0 for a forged one: counted
 * (n_forged) and logged once per peer and kind; the caller drops it. */
int ac__remote_from_ok(ac_peer *p, uint64_t kind, const ac_ref *from);
/* p's inbound account (created with the node's bounds on first use), or
 * NULL when memory is short. */
ac__inacct *ac__peer_inacct(ac_peer *p);
/* count (> 0) messages of p were refused for an inbound bound: counted
 * (n_in_refused) and logged once until its queues drained to half. */
void ac__peer_in_refused(ac_peer *p, uint64_t count);
/* Run a channel relay of p's: what it queues at our coroutines is
 * charged to p (c_on_behalf of the current coroutine) and refusals are
 * reported. */
int ac__remote_chan_relay(ac_peer *p, int deliver, ac_ref chan, ac_msg *m,
                          int64_t timeout_ms, int nmin);
int ac__remote_send(void *arg, ac_ref to, ac_msg *m);
int ac__remote_deliver(void *arg, ac_ref to, ac_msg *m, int64_t timeout_ms);
ac__frame_fn ac__on_send, ac__on_deliver, ac__on_exit;

/* ---- remote_monitor.c ------------------------------------------------------- */
/* Consume p's watch record (monitor, target): 1 when it was there, else 0. */
int ac__watch_take(ac_peer *p, ac_ref monitor, ac_ref target);
/* The exit notice of target (ours) to mon (a coroutine of a peer's) is
 * on its way: the pair leaves that peer's p_monitoring. */
void ac__monitoring_done(ac_node *n, ac_ref mon, ac_ref target);
int ac__remote_watched(void *arg, ac_ref monitor, ac_ref target);
int ac__remote_monitor(void *arg, ac_ref monitor, ac_ref target);
int ac__remote_terminate(void *arg, ac_ref target);
int ac__remote_finish(void *arg, ac_ref target, int64_t timeout_ms,
                      ac_msg **exit_msg);
ac__frame_fn ac__on_watched, ac__on_monitor, ac__on_terminate, ac__on_finish;

/* ---- remote_chan.c ---------------------------------------------------------- */
int ac__remote_chan_op(void *arg, int op, ac_ref chan, ac_ref sub, ac_msg *m,
                       int64_t timeout_ms, int nmin);
int ac__remote_deliver_many(void *arg, const ac_ref *to, int n,
                            const ac_msg *m, int64_t timeout_ms);
/* One-way CHAN (a send) and CHAN requests (subscribe, unsubscribe,
 * deliver). */
ac__frame_fn ac__on_chan_send, ac__on_chan;

/* ---- remote_names.c --------------------------------------------------------- */
ac__frame_fn ac__on_locate, ac__on_rci;

#endif /* AC_NET_REMOTE_H */
