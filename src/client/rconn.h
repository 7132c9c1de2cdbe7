/* SPDX-License-Identifier: MIT */
/*
 * rconn.h - one client connection to one relay (client layer), shared by
 * every queue one user has on that relay.
 *
 * An rconn dials the relay as soon as it is made and stays connected: every
 * loss (dial failure, handshake timeout, relay closed, I/O or protocol
 * error, unanswered PING) is followed by a new attempt after an exponential
 * backoff with full jitter, and state changes are reported through on_state
 * exactly once per transition. It speaks the relay protocol of
 * docs/protocol.md chapter 4 through relay/cmd.h over net/conn.h; docs/client.md,
 * "Relay connections", describes the behaviour in full.
 *
 * Requests (rconn_create_queue, rconn_key, ..., rconn_del) complete exactly
 * once through their done callback: with the relay's answer, with
 * SOTTO_ERR_IO when the connection was lost after the request was sent
 * (the outcome is unknown: the caller retries from its own durable state;
 * SENDs to the same queue waiting behind such a SEND fail with it, unsent,
 * so that no SEND ever overtakes an earlier one to its queue),
 * or with SOTTO_ERR_CANCELLED when the rconn is freed or its graceful close
 * gives up. Requests made while the connection is down wait, in order, and
 * go out once it is up. Requests made in one loop turn are packed into as
 * few blocks as fit and sent at the end of the turn (or before the loop next
 * waits), never past a full write queue.
 *
 * Subscriptions (rconn_subscribe) are renewed with SUB on every connection;
 * pushed messages are opened with the queue's K_deliver and handed to
 * on_msg, in the queue's order. The caller acknowledges each message
 * (rconn_ack), oldest first, once it has durably processed it; the relay
 * keeps at most 8 of a queue's messages pushed and unacknowledged, and after
 * a reconnect (or a GET on the same connection) it pushes again from the
 * oldest unacknowledged one (the caller drops duplicates).
 *
 * Callbacks always run from the event loop, never from inside a call the
 * caller made, with two documented exceptions: rconn_free and rconn_close
 * complete the requests they cancel before they return. From inside any
 * callback the caller may make requests, subscribe, unsubscribe, read stats,
 * and call rconn_free or rconn_close on this rconn (after which no other
 * callback of it runs, except the cancellations and, for rconn_close,
 * on_closed).
 *
 * Threading: everything runs on the thread of the loop; no function is safe
 * from another thread.
 */
#ifndef SOTTO_CLIENT_RCONN_H
#define SOTTO_CLIENT_RCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>
#include <uv.h>

#include "client/limits.h"
#include "net/addr.h"
#include "relay/cmd.h"
#include "relay/limits.h"

/* The connection as reported to on_state. */
enum rconn_state {
	RCONN_DOWN = 0, /* no usable connection; retrying with backoff */
	RCONN_UP = 1,   /* handshake done; requests flow */
};

/* Zero fields take the defaults (client/limits.h). */
struct rconn_config {
	uint32_t backoff_base_ms;      /* first retry ceiling; 0: 250 ms; <= RCONN_BACKOFF_MS_MAX */
	uint32_t backoff_max_ms;       /* ceiling cap, >= base; 0: 30 s; <= RCONN_BACKOFF_MS_MAX */
	uint32_t ping_interval_ms;     /* PING after this quiet time; 0: 60 s; <= _MAX */
	uint32_t ping_timeout_ms;      /* unanswered PING: connection dead; 0: 15 s; <= _MAX */
	uint32_t handshake_timeout_ms; /* dial to open; 0: the net default (10 s); <= net's _MAX */
	uint32_t close_timeout_ms;     /* rconn_close waits for answers; 0: 5 s; <= _MAX */
	uint32_t max_pending;          /* requests not yet answered; 0: 1024; <= _MAX */
	uint32_t max_subs;             /* subscriptions; 0: 4096; <= _MAX */
	size_t max_write_queue_bytes;  /* 0: net's default (1 MiB); >= one frame; <= net's _MAX */
};

/* What a queue's recipient keeps after NEW (the caller persists all of it). */
struct rconn_queue {
	uint8_t rid[RELAY_ID_LEN];        /* recipient ID: SUB, GET, ACK, KEY, OFF, DEL */
	uint8_t sid[RELAY_ID_LEN];        /* sender ID: goes to the contact */
	uint8_t ssk[RELAY_KEY_LEN];       /* the relay's sender-side key: goes with sid */
	uint8_t k_rauth[RELAY_KEY_LEN];   /* secret: authorises recipient commands */
	uint8_t k_deliver[RELAY_KEY_LEN]; /* secret: opens delivered messages */
};

/* One delivered message; pointers borrowed for the callback. */
struct rconn_msg {
	const uint8_t *rid;    /* RELAY_ID_LEN bytes */
	const uint8_t *msg_id; /* RELAY_MSG_ID_LEN bytes: what rconn_ack names */
	uint64_t timestamp;    /* the relay's clock when stored, seconds since the epoch */
	uint8_t flags;         /* the SEND flags (0) */
	const uint8_t *body;   /* body_len bytes */
	size_t body_len;       /* <= RELAY_MSG_BODY_MAX */
};

/*
 * The outcome of one request, borrowed for the done callback (secrets in
 * queue are wiped when it returns: copy what you keep).
 *   err       SOTTO_OK when the relay did what was asked; otherwise the
 *             relay's ERR mapped by rconn_err_from_relay, SOTTO_ERR_IO
 *             (connection lost after sending: outcome unknown),
 *             SOTTO_ERR_CANCELLED (rconn freed or closed first),
 *             SOTTO_ERR_PROTOCOL (the relay answered with something that
 *             does not fit the request; the connection is dropped),
 *             SOTTO_ERR_AUTH (GET: the message did not open under
 *             k_deliver), SOTTO_ERR_WEAK_KEY (NEW: the relay's key was a
 *             low-order point).
 *   relay_err the raw ERR code when the relay answered ERR, else RELAY_ERR_NONE.
 *   queue     NEW with SOTTO_OK: the new queue; NULL otherwise.
 *   msg       GET with SOTTO_OK: the oldest message, or NULL when the queue
 *             was empty (NONE); NULL otherwise.
 */
struct rconn_reply {
	sotto_err err;
	enum relay_err relay_err;
	const struct rconn_queue *SOTTO_NULLABLE queue;
	const struct rconn_msg *SOTTO_NULLABLE msg;
};

typedef void rconn_done_fn(void *SOTTO_NULLABLE user, const struct rconn_reply *reply);

/* state changed; reason: SOTTO_OK for UP, the cause of the loss for DOWN. */
typedef void rconn_state_fn(void *SOTTO_NULLABLE user, enum rconn_state state, sotto_err reason);
/* A pushed message of a subscribed queue; every pointer borrowed for the call. */
typedef void rconn_msg_fn(void *SOTTO_NULLABLE user, const uint8_t rid[static RELAY_ID_LEN],
                          const uint8_t msg_id[static RELAY_MSG_ID_LEN], uint64_t timestamp,
                          uint8_t flags, const uint8_t *body, size_t body_len);
/* END: another connection subscribed to rid; the rconn forgot the subscription. */
typedef void rconn_end_fn(void *SOTTO_NULLABLE user, const uint8_t rid[static RELAY_ID_LEN]);
/*
 * Something went wrong outside any request: rid names the queue (borrowed)
 * or is NULL. SOTTO_ERR_AUTH: a pushed MSG did not open (only the relay
 * seals under K_deliver, so it is faulty; the MSG is not acknowledged and the
 * queue delivers nothing newer); a SUB's ERR, mapped (the subscription is
 * forgotten); SOTTO_ERR_PROTOCOL: a malformed block or answer (the
 * connection is dropped and redialled).
 */
typedef void rconn_error_fn(void *SOTTO_NULLABLE user, const uint8_t *SOTTO_NULLABLE rid,
                            sotto_err err);
/* rconn_close finished; the rconn is already gone (the last callback it makes). */
typedef void rconn_closed_fn(void *SOTTO_NULLABLE user);

/* Any hook may be NULL. Copied by rconn_new. */
struct rconn_callbacks {
	rconn_state_fn *SOTTO_NULLABLE on_state;
	rconn_msg_fn *SOTTO_NULLABLE on_msg;
	rconn_end_fn *SOTTO_NULLABLE on_end;
	rconn_error_fn *SOTTO_NULLABLE on_error;
	rconn_closed_fn *SOTTO_NULLABLE on_closed;
	void *SOTTO_NULLABLE user;
};

/* Counters since rconn_new, and the current sizes. */
struct rconn_stats {
	uint64_t n_dials;           /* connection attempts */
	uint64_t n_connects;        /* attempts that reached UP */
	uint64_t n_blocks_out;      /* blocks handed to the transport */
	uint64_t n_blocks_in;       /* blocks received */
	uint64_t n_cmds_out;        /* transmissions sent (PING and SUB included) */
	uint64_t n_pings;           /* PINGs sent */
	uint64_t n_pongs;           /* PONGs received */
	uint64_t n_msgs;            /* pushed MSGs handed to on_msg */
	uint64_t n_bad_msgs;        /* pushed MSGs that did not open */
	uint64_t n_unknown;         /* answers to no request, pushes for no subscription */
	uint64_t n_protocol_errors; /* malformed blocks or answers */
	uint64_t n_write_busy;      /* times the write queue was full */
	size_t n_pending;           /* caller requests waiting to be sent */
	size_t n_in_flight;         /* caller requests sent and not answered */
	size_t n_subs;              /* subscriptions */
	enum rconn_state state;     /* as last reported (DOWN before the first report) */
};

struct rconn;

/*
 * Makes an rconn for the relay at relay (copied; its key is pinned) on loop
 * and starts dialling from the loop. cfg may be NULL (defaults); cb is
 * copied. *out is NULL first and owns the rconn on success; end it with
 * rconn_free or rconn_close, then run the loop until it has released its
 * handles. ctx and loop are borrowed and must outlive it.
 * Errors: SOTTO_ERR_INVALID (a config value out of range), SOTTO_ERR_NOMEM,
 * SOTTO_ERR_IO (libuv refused a handle; run the loop once to release).
 */
SOTTO_NODISCARD sotto_err rconn_new(struct sotto_ctx *ctx, uv_loop_t *loop,
                                    const struct net_addr *relay,
                                    const struct rconn_config *SOTTO_NULLABLE cfg,
                                    const struct rconn_callbacks *cb, struct rconn **out);

/*
 * Ends rc at once: the connection is closed, subscriptions are forgotten,
 * and every request not yet answered completes before this returns, with
 * SOTTO_ERR_CANCELLED (or SOTTO_ERR_IO for those whose connection was lost
 * in the same callback); no other callback of rc runs afterwards (but
 * on_closed, if rconn_close came first). Memory is released from the loop.
 * Safe from inside any callback of rc. NULL does nothing; rc must not be
 * used once this has returned.
 */
void rconn_free(struct rconn *SOTTO_NULLABLE rc);

/*
 * Ends rc gracefully: no request is accepted any more (SOTTO_ERR_STATE),
 * pushed messages are no longer delivered, on_state no longer runs, and
 * while the connection is up what is waiting is sent and the answers are
 * awaited for at most close_timeout_ms; then it ends as rconn_free does
 * (anything unanswered gets SOTTO_ERR_CANCELLED; a loss in between gives
 * SOTTO_ERR_IO to what was in flight) and on_closed runs, last, from the
 * loop. If the connection is down it ends at once. Until on_closed, rc may
 * still be passed to this module's functions (requests then return
 * SOTTO_ERR_STATE; rconn_free ends it at once); after on_closed it is gone.
 * Safe from inside any callback of rc; NULL and a second call do nothing.
 */
void rconn_close(struct rconn *SOTTO_NULLABLE rc);

/*
 * Requests. Every key and ID is copied; body is copied. done may be NULL
 * (fire and forget); otherwise it runs exactly once (struct rconn_reply), and
 * never from inside this call. On an error return nothing was queued and
 * done never runs. Common errors: SOTTO_ERR_STATE (rconn_close or
 * rconn_free was called), SOTTO_ERR_BUSY (max_pending requests are already
 * unanswered), SOTTO_ERR_NOMEM.
 *
 * rconn_create_queue  NEW with a fresh recipient key pair; reply->queue.
 * rconn_key           KEY: the recipient secures rid with the sender's sk_pub.
 * rconn_skey          SKEY: the sender secures sid itself (k_sauth from
 *                     rconn_sender_keys with the same sk_pub).
 * rconn_send          SEND body to sid, with k_sauth once the queue is
 *                     secured, NULL before. Also SOTTO_ERR_TOO_LARGE
 *                     (body_len > RELAY_MSG_BODY_MAX).
 * rconn_get           GET: reply->msg is the oldest message (opened with
 *                     k_deliver) or NULL.
 * rconn_ack           ACK msg_id, the message rid last delivered.
 * rconn_off           OFF: the queue takes no more SEND.
 * rconn_del           DEL: the queue and its messages are gone (also
 *                     unsubscribe it: the relay ends its subscription).
 */
SOTTO_NODISCARD sotto_err rconn_create_queue(struct rconn *rc, rconn_done_fn *SOTTO_NULLABLE done,
                                             void *SOTTO_NULLABLE user);
SOTTO_NODISCARD sotto_err rconn_key(struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN],
                                    const uint8_t k_rauth[static RELAY_KEY_LEN],
                                    const uint8_t sk_pub[static RELAY_KEY_LEN],
                                    rconn_done_fn *SOTTO_NULLABLE done, void *SOTTO_NULLABLE user);
SOTTO_NODISCARD sotto_err rconn_skey(struct rconn *rc, const uint8_t sid[static RELAY_ID_LEN],
                                     const uint8_t k_sauth[static RELAY_KEY_LEN],
                                     const uint8_t sk_pub[static RELAY_KEY_LEN],
                                     rconn_done_fn *SOTTO_NULLABLE done, void *SOTTO_NULLABLE user);
SOTTO_NODISCARD sotto_err rconn_send(struct rconn *rc, const uint8_t sid[static RELAY_ID_LEN],
                                     const uint8_t *SOTTO_NULLABLE k_sauth,
                                     const uint8_t *SOTTO_NULLABLE body, size_t body_len,
                                     rconn_done_fn *SOTTO_NULLABLE done, void *SOTTO_NULLABLE user);
/* rconn_send with SEND flags (RELAY_SEND_RESUME after a QUOTA, protocol.md §4.4). */
SOTTO_NODISCARD sotto_err rconn_send_flags(struct rconn *rc, const uint8_t sid[static RELAY_ID_LEN],
                                           const uint8_t *SOTTO_NULLABLE k_sauth,
                                           const uint8_t *SOTTO_NULLABLE body, size_t body_len,
                                           uint8_t flags, rconn_done_fn *SOTTO_NULLABLE done,
                                           void *SOTTO_NULLABLE user);
SOTTO_NODISCARD sotto_err rconn_get(struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN],
                                    const uint8_t k_rauth[static RELAY_KEY_LEN],
                                    const uint8_t k_deliver[static RELAY_KEY_LEN],
                                    rconn_done_fn *SOTTO_NULLABLE done, void *SOTTO_NULLABLE user);
SOTTO_NODISCARD sotto_err rconn_ack(struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN],
                                    const uint8_t k_rauth[static RELAY_KEY_LEN],
                                    const uint8_t msg_id[static RELAY_MSG_ID_LEN],
                                    rconn_done_fn *SOTTO_NULLABLE done, void *SOTTO_NULLABLE user);
SOTTO_NODISCARD sotto_err rconn_off(struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN],
                                    const uint8_t k_rauth[static RELAY_KEY_LEN],
                                    rconn_done_fn *SOTTO_NULLABLE done, void *SOTTO_NULLABLE user);
SOTTO_NODISCARD sotto_err rconn_del(struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN],
                                    const uint8_t k_rauth[static RELAY_KEY_LEN],
                                    rconn_done_fn *SOTTO_NULLABLE done, void *SOTTO_NULLABLE user);

/*
 * Registers rid (keys copied) as subscribed: SUB goes out with the next
 * batch while up, and again on every reconnect. Subscribing a queue already
 * registered replaces its keys. A SUB the relay refuses is reported through
 * on_error(rid, ...) and the subscription is forgotten.
 * Errors: SOTTO_ERR_STATE (closing), SOTTO_ERR_BUSY (max_subs), SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err rconn_subscribe(struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN],
                                          const uint8_t k_rauth[static RELAY_KEY_LEN],
                                          const uint8_t k_deliver[static RELAY_KEY_LEN]);

/*
 * Forgets rid's subscription (no command is sent: the relay's ends with the
 * connection; pushes for it until then are counted in n_unknown and dropped).
 * Errors: SOTTO_ERR_NOT_FOUND.
 */
SOTTO_NODISCARD sotto_err rconn_unsubscribe(struct rconn *rc,
                                            const uint8_t rid[static RELAY_ID_LEN]);

/*
 * The sender's side of a queue: draws a fresh sk from ctx's RNG, writes its
 * public half to sk_pub (for KEY through the recipient, or SKEY) and
 * K_sauth = KDF(DH(sk, ssk)) to k_sauth (secret: the sender persists it with
 * sid). The private half is wiped before return. Both outputs are zeroed
 * first and on failure.
 * Errors: SOTTO_ERR_WEAK_KEY (ssk is a low-order point), SOTTO_ERR_INTERNAL.
 */
SOTTO_NODISCARD sotto_err rconn_sender_keys(struct sotto_ctx *ctx,
                                            const uint8_t ssk[static RELAY_KEY_LEN],
                                            uint8_t sk_pub[static RELAY_KEY_LEN],
                                            uint8_t k_sauth[static RELAY_KEY_LEN]);

/*
 * The sotto_err for a relay ERR code: AUTH -> SOTTO_ERR_AUTH, QUOTA and
 * RATE -> SOTTO_ERR_BUSY, LARGE -> SOTTO_ERR_TOO_LARGE, BLOCK and CMD ->
 * SOTTO_ERR_PROTOCOL, INTERNAL -> SOTTO_ERR_IO (the relay's store failed:
 * try again later), NO_MSG -> SOTTO_ERR_NOT_FOUND; anything else ->
 * SOTTO_ERR_PROTOCOL.
 */
sotto_err rconn_err_from_relay(enum relay_err err);

/* The state as last reported (RCONN_DOWN before the first report). */
enum rconn_state rconn_state(const struct rconn *rc);

/* Fills *out (zeroed first). */
void rconn_stats(const struct rconn *rc, struct rconn_stats *out);

#endif /* SOTTO_CLIENT_RCONN_H */
