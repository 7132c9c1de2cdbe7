/* SPDX-License-Identifier: MIT */
/*
 * core.h - the relay's command execution, without I/O (relay layer).
 *
 * A struct relay_core executes the relay protocol of docs/protocol.md
 * chapter 4 over a struct relay_store. It owns no socket, timer or loop: the
 * transport gives it block contents (relay_client_feed) and it hands back
 * block contents through each client's output callback, so tests and
 * fuzzers drive it from memory. One struct relay_client stands for one
 * transport connection and carries that connection's session identifier, to
 * which every command MAC is bound.
 *
 * Group commit (§4.4 "Durability"). The first store write of a loop turn
 * opens a store batch; every later write of the turn, from any client, joins
 * it. Every answer is held in its client until relay_core_flush(), which the
 * transport calls once per loop turn: it commits the batch and only then
 * emits the held answers, packed into as few blocks as fit. If the commit
 * fails, each held answer that promised durability (OK to NEW, KEY, SKEY,
 * SEND, ACK, OFF, DEL, and IDS) becomes ERR INTERNAL instead: nothing is ever
 * acknowledged that is not on disk. GET answers and MSG pushes are read from
 * the store after the commit, so a message is never delivered from a batch
 * that might still be lost. A client that has RELAY_HELD_MAX answers held
 * flushes early (the group is simply smaller), which bounds memory.
 *
 * Pipelined sync. Without a sync hook every flush commits and fsyncs
 * before it emits, on the calling thread. With one (config.sync_start, for
 * stores opened with defer_sync), a flush only commits (the log is written,
 * not yet fsynced) and asks the hook to run relay_store_sync elsewhere;
 * the loop goes on executing the next turns meanwhile, and when the
 * transport reports relay_core_sync_done, the next flush emits every answer
 * held for the commits that sync covered (one fsync for as many turns as
 * ran during the previous one). Order per client is kept: an answer waits
 * for the commit of its turn and everything held before it. A GET or push
 * never delivers a message whose batch is not durable yet: it waits for
 * the sync that covers it. A push does not wait for the rest of its turn
 * (the ACK that made it due): so a recipient may get the next MSG before
 * the OK to its ACK, and if the relay dies before that ACK is durable, the
 * acknowledged message comes again (its ACK was never confirmed). If a sync fails, the core is
 * broken: every held and later durable answer is ERR INTERNAL and flush returns SOTTO_ERR_IO (the
 * transport should stop; reopening the store recovers).
 *
 * Pacing (§4.4 "Delivery"). A flush emits a client's answers, then its MSG
 * pushes. When the output refuses a block of pushes only as busy, the client
 * is blocked: its pushes stay due (one flag per subscription, re-read from
 * the store when sent, so nothing is lost or repeated) until
 * relay_client_unblock. Answers are never held back: a refused answer still
 * kills the client, which is what closes a peer that stops reading.
 *
 * Authorisation answers one ERR AUTH, with the same bytes and the same work,
 * whether the entity is unknown, the MAC is wrong or the queue refuses the
 * command: an unknown entity is checked against a dummy key.
 *
 * Nothing here logs an identifier, key or address: struct relay_stats holds
 * aggregate counters only.
 *
 * Threading: a core, its clients and its store are used by one thread;
 * only relay_store_sync, started through the hook, runs on another.
 */
#ifndef SOTTO_RELAY_CORE_H
#define SOTTO_RELAY_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "relay/cmd.h"
#include "relay/limits.h"
#include "relay/store.h"

/*
 * Asks the transport to run relay_store_sync on the core's store off the
 * loop's thread and then, on the loop's thread, call relay_core_sync_done
 * with its result (directly from the hook is allowed too: a sync done
 * inline). Called from a flush.
 */
typedef void relay_sync_start_fn(void *SOTTO_NULLABLE user);

/* Wall-clock seconds since the Unix epoch (message timestamps and expiry). */
typedef uint64_t relay_wall_clock_fn(void *SOTTO_NULLABLE user);

/* Zero fields take the defaults. */
struct relay_core_config {
	uint32_t quota;          /* messages per queue; 0: RELAY_QUOTA_DEFAULT; <= _MAX */
	uint32_t ttl_s;          /* message lifetime; 0: RELAY_TTL_S_DEFAULT; <= _MAX */
	uint32_t new_per_minute; /* NEW per connection per minute; 0: default; <= _MAX */
	relay_wall_clock_fn *SOTTO_NULLABLE wall_clock; /* NULL: the system's UTC clock */
	void *SOTTO_NULLABLE wall_clock_user;
	relay_sync_start_fn *SOTTO_NULLABLE sync_start; /* NULL: each flush fsyncs inline */
	void *SOTTO_NULLABLE sync_user;
};

enum {
	RELAY_STATS_ERR_SLOTS = RELAY_ERR_RATE + 1, /* n_errors is indexed by enum relay_err */
};

/* Aggregate counters since relay_core_new; never an identifier. */
struct relay_stats {
	uint64_t n_queues_created;  /* IDS answers held (before commit) */
	uint64_t n_msgs_in;         /* SEND messages stored */
	uint64_t n_msgs_out;        /* MSG emitted, pushed or answering GET */
	uint64_t n_msgs_acked;      /* messages deleted by ACK */
	uint64_t n_msgs_expired;    /* messages deleted by relay_core_expire */
	uint64_t n_connections;     /* clients made */
	uint64_t n_clients;         /* clients alive now */
	uint64_t n_clients_dropped; /* clients whose output callback failed */
	uint64_t n_blocks_in;       /* block contents fed */
	uint64_t n_blocks_out;      /* block contents emitted */
	uint64_t n_commands;        /* transmissions executed */
	uint64_t n_commits;         /* store batches committed */
	uint64_t n_commit_failures;
	uint64_t n_errors[RELAY_STATS_ERR_SLOTS]; /* ERR answers by code (slot 0 unused) */
};

/*
 * Receives one block content (len 1..RELAY_BLOCK_CONTENT_MAX, borrowed for
 * the call) to send to the client's peer. Returning anything but SOTTO_OK
 * marks the client dead: nothing more is sent to it and feeding it fails, so
 * the transport should close the connection (a slow reader is dropped, never
 * buffered without bound). One exception: SOTTO_ERR_BUSY ("nothing sent, the
 * output is full") for a block of MSG pushes only (relay_client_is_pushing)
 * blocks the client instead: its pushes wait, one due entry per subscription
 * (so memory stays bounded), until relay_client_unblock. It must not call
 * back into the core, except relay_client_is_pushing.
 */
typedef sotto_err relay_output_fn(void *SOTTO_NULLABLE user, const uint8_t *content, size_t len);

struct relay_core;
struct relay_client;

/*
 * Makes a core over store (borrowed: it must outlive the core). config may
 * be NULL. *out is NULL first and owns the core on success.
 * Errors: SOTTO_ERR_INVALID (a config value above its _MAX), SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err relay_core_new(struct sotto_ctx *ctx, struct relay_store *store,
                                         const struct relay_core_config *SOTTO_NULLABLE config,
                                         struct relay_core **out);

/*
 * Frees core and every client still attached to it, rolling back an open
 * batch (held answers are dropped: call relay_core_flush first to keep
 * them). NULL does nothing.
 */
void relay_core_free(struct relay_core *SOTTO_NULLABLE core);

/*
 * Attaches a client for one transport connection. session_id (the
 * transport's handshake hash) is copied; output and user are kept. *out is
 * NULL first; on success the client lives until relay_client_free or
 * relay_core_free. Errors: SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err relay_client_new(struct relay_core *core,
                                           const uint8_t session_id[static RELAY_SESSION_ID_LEN],
                                           relay_output_fn *output, void *SOTTO_NULLABLE user,
                                           struct relay_client **out);

/*
 * Detaches and frees client: its subscriptions end (silently) and its held
 * answers are dropped; store writes it made stay in the open batch. NULL
 * does nothing. Not from inside its own output callback.
 */
void relay_client_free(struct relay_client *SOTTO_NULLABLE client);

/*
 * Executes one block content (borrowed) from client: every transmission of
 * the batch in order. Hostile input is answered in the protocol (ERR BLOCK
 * for a malformed block, ERR CMD/LARGE/AUTH/... per command) and returns
 * SOTTO_OK; answers are held until relay_core_flush, which this call may run
 * early when answers pile up. Errors: SOTTO_ERR_STATE (the client is dead:
 * its output failed; close its connection).
 */
SOTTO_NODISCARD sotto_err relay_client_feed(struct relay_client *client,
                                            const uint8_t *SOTTO_NULLABLE content, size_t len);

/* True once the client's output callback has failed. */
bool relay_client_is_dead(const struct relay_client *client);

/*
 * True while the block being offered to client's output callback holds MSG
 * pushes only (which may be refused with SOTTO_ERR_BUSY); false otherwise.
 */
bool relay_client_is_pushing(const struct relay_client *client);

/*
 * Resumes the pushes of a client blocked by a busy output (the transport's
 * drain notice): every push still due is held for the next relay_core_flush
 * and re-read from the store then. Does nothing for a client that is not
 * blocked or is dead. May flush early, like relay_client_feed. Not from
 * inside an output callback.
 */
void relay_client_unblock(struct relay_client *client);

/*
 * Ends the loop turn: commits the open batch (if any), makes it durable
 * (inline, or by starting a sync through the hook: see "Pipelined sync"),
 * then emits every held answer and due MSG push whose commit is durable. If
 * the commit failed, answers that promised durability go out as ERR
 * INTERNAL and the commit's error is returned (SOTTO_ERR_IO,
 * SOTTO_ERR_NOMEM, SOTTO_ERR_CORRUPT, SOTTO_ERR_STATE); the answers are
 * emitted either way. SOTTO_ERR_IO also once a sync has failed.
 */
SOTTO_NODISCARD sotto_err relay_core_flush(struct relay_core *core);

/*
 * Like relay_core_flush, but fsyncs on the calling thread even with a sync
 * hook, so everything held is emitted (graceful shutdown). A hook's sync
 * may still be running: wait for it before freeing the store.
 */
SOTTO_NODISCARD sotto_err relay_core_flush_wait(struct relay_core *core);

/*
 * Reports the result of the sync the hook was asked for (on the loop's
 * thread; not from inside an output callback). The answers it made durable
 * go out at the next flush. Errors: SOTTO_ERR_STATE (no sync was asked
 * for), SOTTO_ERR_IO (rc was an error, or an earlier sync failed).
 */
SOTTO_NODISCARD sotto_err relay_core_sync_done(struct relay_core *core, sotto_err rc);

/* True between a hook's sync_start and its relay_core_sync_done. */
bool relay_core_is_syncing(const struct relay_core *core);

/*
 * Deletes up to RELAY_EXPIRE_STEP_MAX messages stored before now_s minus
 * the TTL, inside the turn's batch (relay_core_flush commits it); *n_deleted
 * gets how many (0 first): call again while it equals RELAY_EXPIRE_STEP_MAX.
 * Subscribers whose delivered message expired get the next one at the flush.
 * Errors: SOTTO_ERR_IO, SOTTO_ERR_BUSY, SOTTO_ERR_NOMEM, SOTTO_ERR_CORRUPT.
 */
SOTTO_NODISCARD sotto_err relay_core_expire(struct relay_core *core, uint64_t now_s,
                                            uint32_t *n_deleted);

/* The core's wall clock, in seconds since the Unix epoch. */
uint64_t relay_core_now_s(struct relay_core *core);

/* Copies the counters into *out. */
void relay_core_stats(const struct relay_core *core, struct relay_stats *out);

#endif /* SOTTO_RELAY_CORE_H */
