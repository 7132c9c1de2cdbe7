/* SPDX-License-Identifier: MIT */
/*
 * store.h - the relay's durable store of queues and messages (relay layer).
 *
 * The relay core runs one event-loop turn as one batch: relay_store_begin(),
 * the commands of the turn, relay_store_commit(), and only then the OK
 * answers (group commit, docs/protocol.md §4.4 "Durability"). A call made
 * outside a batch commits on its own, durably. Reads inside a batch see the
 * batch's own writes.
 *
 * Durability: relay_store_commit() returns SOTTO_OK only once the batch is
 * on stable storage (SQLite write-ahead log with synchronous=FULL: the log is
 * fsync'ed before the commit returns; see store_sqlite.c). If any step of a
 * batch fails in a way that aborts the whole transaction (disk full, I/O
 * error), the batch is lost and relay_store_commit() says so; until then
 * every call returns SOTTO_ERR_IO.
 *
 * Records are plain values in caller storage. Queue records hold secrets
 * (K_rauth, K_deliver, K_sauth, ssk_priv): wipe them with
 * relay_store_queue_clear(). Everything read back is validated (exact key
 * lengths, known status, body within RELAY_MSG_BODY_MAX, consistent key
 * presence); a malformed row is SOTTO_ERR_CORRUPT, never undefined behaviour.
 *
 * The store keeps nothing the protocol does not need: no addresses, no
 * per-message client data, no public keys once IDS has been answered.
 *
 * One implementation (SQLite) sits behind this header today. The header names
 * no SQLite type, so a second backend can later be added behind an ops table
 * inside struct relay_store without touching any caller.
 *
 * Threading: a store is used by one thread at a time (the loop's thread).
 */
#ifndef SOTTO_RELAY_STORE_H
#define SOTTO_RELAY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "relay/limits.h"

/* Zero fields take the defaults. */
struct relay_store_config {
	uint32_t cache_kib;        /* page cache in KiB; 0: 8192 */
	uint32_t checkpoint_pages; /* WAL pages before an automatic checkpoint; 0: 1000 */
	bool defer_sync;           /* commits are durable only after relay_store_sync */
};

/*
 * Queue status, stored as these numbers (never reuse one). ACTIVE: created,
 * not secured (SEND needs no MAC, ssk_priv is held). SECURED: K_sauth set,
 * ssk_priv wiped. SUSPENDED: after OFF; ssk_priv wiped, K_sauth kept if the
 * queue had been secured.
 */
enum relay_store_status {
	RELAY_STORE_ACTIVE = 0,
	RELAY_STORE_SECURED = 1,
	RELAY_STORE_SUSPENDED = 2,
};

struct relay_store_queue {
	uint8_t rid[RELAY_ID_LEN];
	uint8_t sid[RELAY_ID_LEN];
	uint8_t k_rauth[RELAY_KEY_LEN];   /* secret */
	uint8_t k_deliver[RELAY_KEY_LEN]; /* secret */
	uint8_t k_sauth[RELAY_KEY_LEN];   /* secret; meaningful when has_k_sauth */
	uint8_t ssk_priv[RELAY_KEY_LEN];  /* secret; meaningful when has_ssk_priv */
	bool has_k_sauth;                 /* true iff secured (or suspended after securing) */
	bool has_ssk_priv;                /* true iff status is ACTIVE */
	enum relay_store_status status;
	uint64_t created_s; /* wall-clock seconds, as the caller gave it */
};

struct relay_store_msg {
	uint64_t seq; /* order: larger is newer, never reused within a store */
	uint8_t msg_id[RELAY_MSG_ID_LEN];
	uint64_t timestamp_s; /* wall-clock seconds when the relay accepted it */
	uint8_t flags;
	size_t body_len; /* bytes used in body, <= RELAY_MSG_BODY_MAX */
	uint8_t body[RELAY_MSG_BODY_MAX];
};

struct relay_store_stats {
	uint64_t n_queues;
	uint64_t n_msgs;
};

struct relay_store;

/*
 * Opens (creating if needed) the store in directory dir: creates dir with
 * mode 0700 if missing (tightens it to 0700 if it exists), and the database
 * "relay.db" with mode 0600 (its WAL inherits the mode). Creates the schema
 * or checks its version. Takes an exclusive lock on the database for as long
 * as the store is open. dir and config are borrowed for the call; config may
 * be NULL. *out is set to NULL first and owns the store on success.
 * Errors: SOTTO_ERR_INVALID (dir empty or too long), SOTTO_ERR_NOMEM,
 * SOTTO_ERR_IO (cannot create or open files, dir is not a directory),
 * SOTTO_ERR_BUSY (another process holds the database), SOTTO_ERR_VERSION
 * (schema newer than this build), SOTTO_ERR_CORRUPT (not a relay store, or a
 * damaged file), SOTTO_ERR_INTERNAL.
 */
SOTTO_NODISCARD sotto_err relay_store_new(struct sotto_ctx *ctx, const char *dir,
                                          const struct relay_store_config *SOTTO_NULLABLE config,
                                          struct relay_store **out);

/* Closes the store, rolling back an open batch; NULL does nothing. */
void relay_store_free(struct relay_store *SOTTO_NULLABLE store);

/*
 * Starts a batch. Errors: SOTTO_ERR_STATE (a batch is already open),
 * SOTTO_ERR_IO, SOTTO_ERR_BUSY, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err relay_store_begin(struct relay_store *store);

/*
 * Commits the open batch; on SOTTO_OK every write of the batch is on stable
 * storage (with defer_sync: written to the log, durable once a later
 * relay_store_sync returns SOTTO_OK; a crash before that may lose it, never
 * half of it). On any error nothing of the batch is kept and no batch is open
 * any more (the caller answers every command of the batch with an error).
 * Errors: SOTTO_ERR_STATE (no batch open), SOTTO_ERR_IO (write or fsync
 * failed, or an earlier failure aborted the batch), SOTTO_ERR_NOMEM,
 * SOTTO_ERR_CORRUPT. After an I/O error in the commit itself, what reached
 * the disk is unknown until recovery: the store then refuses every further
 * call with SOTTO_ERR_IO, and only freeing and reopening it recovers.
 */
SOTTO_NODISCARD sotto_err relay_store_commit(struct relay_store *store);

/*
 * Makes every batch committed before the call durable (fsyncs the log).
 * Without defer_sync the commits already were, and this returns SOTTO_OK.
 * Unlike every other call, this one may run on another thread while the
 * store's own thread goes on with later batches: it touches only the log's
 * file descriptor, which stays open until relay_store_free (so it must
 * return before relay_store_free is called). Errors: SOTTO_ERR_IO (the
 * fsync failed: what is on disk is unknown; stop confirming and reopen).
 */
SOTTO_NODISCARD sotto_err relay_store_sync(struct relay_store *store);

/* True when the store was opened with defer_sync. */
bool relay_store_defers_sync(const struct relay_store *store);

/* Discards the open batch, if any. Cannot fail in a way the caller can act on. */
void relay_store_rollback(struct relay_store *store);

/*
 * Adds a queue from q (borrowed): status must be ACTIVE with has_ssk_priv
 * set and has_k_sauth clear. Errors: SOTTO_ERR_INVALID (q not a fresh
 * queue, created_s above INT64_MAX), SOTTO_ERR_USED (rid or sid already exists: draw new IDs),
 * SOTTO_ERR_IO, SOTTO_ERR_NOMEM, SOTTO_ERR_CORRUPT.
 */
SOTTO_NODISCARD sotto_err relay_store_queue_add(struct relay_store *store,
                                                const struct relay_store_queue *q);

/*
 * Reads the queue with recipient ID rid (or sender ID sid) into *out, which
 * is zeroed first (wipe it with relay_store_queue_clear()).
 * Errors: SOTTO_ERR_NOT_FOUND, SOTTO_ERR_CORRUPT (malformed row),
 * SOTTO_ERR_IO, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err relay_store_queue_by_rid(struct relay_store *store,
                                                   const uint8_t rid[static RELAY_ID_LEN],
                                                   struct relay_store_queue *out);
SOTTO_NODISCARD sotto_err relay_store_queue_by_sid(struct relay_store *store,
                                                   const uint8_t sid[static RELAY_ID_LEN],
                                                   struct relay_store_queue *out);

/*
 * Secures an ACTIVE queue: stores k_sauth, wipes ssk_priv, status SECURED.
 * Check and change are one atomic step, so two KEY/SKEY in one batch cannot
 * both succeed. Errors: SOTTO_ERR_NOT_FOUND, SOTTO_ERR_STATE (the queue is
 * not ACTIVE: already secured or suspended), SOTTO_ERR_IO, SOTTO_ERR_NOMEM,
 * SOTTO_ERR_CORRUPT.
 */
SOTTO_NODISCARD sotto_err relay_store_queue_secure(struct relay_store *store,
                                                   const uint8_t rid[static RELAY_ID_LEN],
                                                   const uint8_t k_sauth[static RELAY_KEY_LEN]);

/*
 * Suspends a queue (OFF): status SUSPENDED, ssk_priv wiped, messages kept.
 * Suspending a suspended queue succeeds. Errors: SOTTO_ERR_NOT_FOUND,
 * SOTTO_ERR_IO, SOTTO_ERR_NOMEM, SOTTO_ERR_CORRUPT.
 */
SOTTO_NODISCARD sotto_err relay_store_queue_suspend(struct relay_store *store,
                                                    const uint8_t rid[static RELAY_ID_LEN]);

/*
 * Deletes a queue and all its messages (DEL). Errors: SOTTO_ERR_NOT_FOUND,
 * SOTTO_ERR_IO, SOTTO_ERR_NOMEM, SOTTO_ERR_CORRUPT.
 */
SOTTO_NODISCARD sotto_err relay_store_queue_delete(struct relay_store *store,
                                                   const uint8_t rid[static RELAY_ID_LEN]);

/*
 * Appends a message to queue rid; body (borrowed, may be NULL when body_len
 * is 0) is copied. *seq gets its order number (set to 0 first). The quota is
 * the caller's: check relay_store_msg_count() first, in the same batch.
 * Errors: SOTTO_ERR_TOO_LARGE (body_len > RELAY_MSG_BODY_MAX),
 * SOTTO_ERR_INVALID (timestamp_s above INT64_MAX), SOTTO_ERR_NOT_FOUND (no such queue),
 * SOTTO_ERR_USED (msg_id already in this queue), SOTTO_ERR_IO, SOTTO_ERR_NOMEM, SOTTO_ERR_CORRUPT.
 */
SOTTO_NODISCARD sotto_err relay_store_msg_add(struct relay_store *store,
                                              const uint8_t rid[static RELAY_ID_LEN],
                                              const uint8_t msg_id[static RELAY_MSG_ID_LEN],
                                              uint64_t timestamp_s, uint8_t flags,
                                              const uint8_t *SOTTO_NULLABLE body, size_t body_len,
                                              uint64_t *seq);

/*
 * Sets *n (0 first) to the number of messages in queue rid; an unknown queue
 * has 0. Errors: SOTTO_ERR_IO, SOTTO_ERR_NOMEM, SOTTO_ERR_CORRUPT.
 */
SOTTO_NODISCARD sotto_err relay_store_msg_count(struct relay_store *store,
                                                const uint8_t rid[static RELAY_ID_LEN],
                                                uint32_t *n);

/*
 * Reads the oldest message of queue rid (the one to deliver: acknowledged
 * messages are deleted) into *out, which is zeroed first. Errors:
 * SOTTO_ERR_NOT_FOUND (no message), SOTTO_ERR_CORRUPT (malformed row),
 * SOTTO_ERR_IO, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err relay_store_msg_first(struct relay_store *store,
                                                const uint8_t rid[static RELAY_ID_LEN],
                                                struct relay_store_msg *out);

/*
 * Reads the oldest message of queue rid newer than seq (the next one to
 * push after it) into *out, which is zeroed first. Errors as
 * relay_store_msg_first.
 */
SOTTO_NODISCARD sotto_err relay_store_msg_after(struct relay_store *store,
                                                const uint8_t rid[static RELAY_ID_LEN],
                                                uint64_t seq, struct relay_store_msg *out);

/*
 * Deletes message msg_id of queue rid (ACK). Errors: SOTTO_ERR_NOT_FOUND,
 * SOTTO_ERR_IO, SOTTO_ERR_NOMEM, SOTTO_ERR_CORRUPT.
 */
SOTTO_NODISCARD sotto_err relay_store_msg_delete(struct relay_store *store,
                                                 const uint8_t rid[static RELAY_ID_LEN],
                                                 const uint8_t msg_id[static RELAY_MSG_ID_LEN]);

/*
 * Deletes up to n_max (>= 1) messages, oldest first, whose timestamp_s is
 * below before_s; *n_deleted (0 first) gets how many. Bounding n_max keeps
 * one loop turn short: call again while *n_deleted == n_max.
 * Errors: SOTTO_ERR_INVALID (n_max 0), SOTTO_ERR_IO, SOTTO_ERR_NOMEM,
 * SOTTO_ERR_CORRUPT.
 */
SOTTO_NODISCARD sotto_err relay_store_msg_expire(struct relay_store *store, uint64_t before_s,
                                                 uint32_t n_max, uint32_t *n_deleted);

/*
 * Counts queues and messages into *out (zeroed first). Costs a scan of both
 * indexes: for status reports, not for every command.
 * Errors: SOTTO_ERR_IO, SOTTO_ERR_NOMEM, SOTTO_ERR_CORRUPT.
 */
SOTTO_NODISCARD sotto_err relay_store_stats(struct relay_store *store,
                                            struct relay_store_stats *out);

/* Wipes every field of q (keys included) with sodium_memzero. */
void relay_store_queue_clear(struct relay_store_queue *q);

#endif /* SOTTO_RELAY_STORE_H */
