/* SPDX-License-Identifier: MIT */
/*
 * agent_int.h - the agent's internals, shared by agent.c (lifecycle, relay
 * connections, scheduling, the API), agent_flow.c (the protocol: queues,
 * joins, receiving, sending, receipts, deletion) and agent_store.c (sealed
 * records and SQL), and by their tests. Not part of the agent's contract.
 *
 * Model. A contact is one row of `contacts` plus, in memory, a struct
 * agent_contact holding only what routing and scheduling need (ids, state,
 * flags, the relay connections of its two queues, its tasks). Everything
 * else (names, queue keys, the ratchet) is read from the database when a
 * step needs it and wiped after, so every step works on exactly the
 * durable state and a failed transaction leaves nothing stale in memory.
 *
 * Tasks. Each contact has one slot per kind of relay work (make the queue,
 * send the outbox, commit what the relay took, delete the queue, fetch
 * after a failed store, batch receipts). A slot is armed with a due time; one uv timer runs the
 * due slots, always from the loop (never inside an API call or an rconn
 * callback), so requests made in one run share a block. A slot whose
 * request is in flight is not run again until its answer comes.
 */
#ifndef SOTTO_CLIENT_AGENT_INT_H
#define SOTTO_CLIENT_AGENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>
#include <sqlite3.h>
#include <uv.h>

#include "client/agent.h"
#include "client/agent_rec.h"
#include "client/envelope.h"
#include "client/link.h"
#include "client/rconn.h"
#include "crypto/secbuf.h"
#include "proto/ratchet.h"
#include "relay/limits.h"

/* contacts.flags: progress that is not secret. */
enum {
	AGENT_F_RQ = 1u << 0,          /* our receive queue exists (info holds it) */
	AGENT_F_SQ_SECURED = 1u << 1,  /* our SKEY on the peer's queue was answered OK */
	AGENT_F_DEL_PENDING = 1u << 2, /* deleted: our queue still to DEL on its relay */
	AGENT_F_PURGE = 1u << 3,       /* deleted: remove the row once the relay work is done */
	AGENT_F_KNOWN = 0xf,
};

enum agent_task_kind {
	AGENT_TASK_NEW = 0,  /* NEW our receive queue (then the join, for a joiner) */
	AGENT_TASK_SEND = 1, /* send the outbox in order, a window at a time (SKEY first) */
	AGENT_TASK_DEL = 2,  /* DEL our queue of a deleted contact */
	AGENT_TASK_GET = 3,  /* GET after a message could not be stored */
	AGENT_TASK_RCPT = 4, /* queue receipts for received TEXTs */
	AGENT_TASK_SENT = 5, /* commit the entries the relay took (one transaction for all) */
	AGENT_TASK_N = 6,
};

struct agent_task {
	uint64_t due_ms;   /* ctx clock: run at or after this, while armed */
	unsigned attempts; /* failures in a row (backoff exponent) */
	bool is_armed;
	bool is_inflight; /* a relay request of this task awaits its answer */
};

/* One relay connection, shared by every queue on that relay. */
struct agent_conn {
	struct agent_conn *next;
	struct client_agent *a;
	struct net_addr addr;
	char text[NET_ADDR_TEXT_MAX + 1]; /* addr as text, for events */
	struct rconn *rc;                 /* NULL once closed */
	bool is_up;
};

/* SENDs one contact may have in flight (well under the relay's quota). */
enum { AGENT_SEND_WINDOW = 16 };

/* One outbox entry sent (see agent_contact.out). */
struct agent_out {
	int64_t id;   /* its outbox row */
	int64_t msg;  /* its message (0: a control envelope) */
	uint8_t kind; /* its envelope kind */
	bool is_ok;   /* the relay said OK: SENT is to be committed (AGENT_TASK_SENT) */
};

struct agent_contact {
	struct agent_contact *next;
	int64_t id;
	uint8_t state;                /* enum client_agent_contact_state */
	uint32_t flags;               /* AGENT_F_* as stored */
	uint8_t rid[RELAY_ID_LEN];    /* our queue's RID, with AGENT_F_RQ */
	uint8_t rq_sid[RELAY_ID_LEN]; /* our queue's SID (to spot our own link) */
	uint8_t sq_sid[RELAY_ID_LEN]; /* the peer's queue SID, when has_sq */
	bool has_sq;
	struct agent_conn *rq_conn; /* our queue's relay (borrowed; conns live until close) */
	struct agent_conn *sq_conn; /* the peer's queue's relay, or NULL */
	struct agent_task task[AGENT_TASK_N];
	/*
	 * The outbox entries sent and not yet settled, oldest first: a window of
	 * SENDs in flight on one connection, in outbox order (§5.5). After a
	 * transient failure nothing more is sent until every answer is in; then
	 * the outbox goes again from its first entry (with RESUME after a QUOTA).
	 */
	struct agent_out out[AGENT_SEND_WINDOW];
	size_t n_out;
	bool is_out_stalled; /* an entry failed for now: wait for the rest, then resend */
	bool needs_resume;   /* a SEND got QUOTA: the next carries RESUME */
	bool is_subscribed;  /* registered with rq_conn */
	/*
	 * A delivery could not be stored: pushes are ignored (the relay keeps
	 * them) until the GET that makes the relay start over from the oldest
	 * (§4.4), so no later message is taken before it.
	 */
	bool is_rx_stalled;
	/* Its state before the open receive batch (restored if the batch fails to commit). */
	bool has_snap;
	uint8_t snap_state;
	uint32_t snap_flags;
	bool snap_has_sq;
	uint8_t snap_sq_sid[RELAY_ID_LEN];
	/* A pending invite or connect whose done has not run. */
	client_agent_done_fn *op_done;
	void *op_user;
	uint64_t op_deadline_ms;
	bool has_op;
	bool is_gone; /* removed from the database; the struct is freed at close */
};

/* A relay request in flight; freed by its done callback. */
enum agent_req_kind {
	AGENT_REQ_NEW = 1,
	AGENT_REQ_SKEY = 2,
	AGENT_REQ_SEND = 3,
	AGENT_REQ_DEL = 4,
	AGENT_REQ_GET = 5,
	AGENT_REQ_ACK = 6,
};

struct agent_req {
	struct client_agent *a;
	enum agent_req_kind kind;
	int64_t contact_id;
	int64_t outbox_id; /* SEND, SKEY */
};

/* Sees every relay message before the agent does (tests only). */
typedef void agent_tap_fn(void *user, int64_t contact_id, const uint8_t *msg_id,
                          const uint8_t *body, size_t body_len);

struct agent_rx;

/* A grouped send (client_agent_send_text_grouped) waiting for its batch. */
struct agent_queued {
	struct agent_queued *next;
	int64_t msg_id;
	bool is_durable;
	client_agent_stored_fn *done;
	void *user;
};

struct client_agent {
	struct sotto_ctx *ctx;
	uv_loop_t *loop;
	struct store_db *db; /* borrowed */
	sqlite3 *sql;        /* store_db_sqlite(db) */
	struct client_agent_config cfg;
	struct client_agent_callbacks cb;
	struct secbuf *tag_key; /* keys messages.tag */
	struct agent_contact *contacts;
	size_t n_contacts;
	struct agent_conn *conns;
	size_t n_conns;
	uv_timer_t timer; /* runs due tasks */
	bool is_running;  /* inside agent_run_tasks */
	struct client_agent_stats stats;
	bool is_closing;
	bool is_timer_closed;
	size_t n_conns_closing;
	client_agent_closed_fn *closed;
	void *closed_user;
	/*
	 * Receive batching: the deliveries of one loop turn share one
	 * transaction, committed by the check handle at the end of the turn
	 * (or before any other transaction); their ACKs and events wait for
	 * that commit (docs/client.md, "Receiving").
	 */
	bool in_batch_op; /* a delivery or a grouped send: agent_tx_* are savepoints */
	bool in_batch;    /* the batch transaction is open */
	struct agent_rx *batch_head, *batch_tail; /* deliveries waiting, in order */
	struct agent_queued *sq_head, *sq_tail;   /* grouped sends waiting for the commit */
	size_t n_batch;
	uv_check_t check;
	bool is_check_closed;
	agent_tap_fn *tap;            /* tests */
	unsigned n_debug_fail;        /* tests: deliveries to fail as if the store had */
	unsigned n_debug_fail_commit; /* tests: receive batches whose commit fails */
	void *tap_user;
};

/* ---- records (agent_store.c) ---- */

/* contacts.info: struct agent_info in agent_rec.h. */

/* Sealed contacts columns other than info. */
enum agent_col {
	AGENT_COL_HS = 0, /* inviter state (INVITING) or the invitation (JOINING, before joining) */
	AGENT_COL_RATCHET = 1, /* the serialised session */
	AGENT_COL_RCV = 2,     /* the last relay msg_id processed on our queue */
};

/*
 * Transactions: BEGIN IMMEDIATE / COMMIT / ROLLBACK (rollback ignores
 * errors). Inside a delivery or a grouped send (a->in_batch_op) they are a
 * savepoint in the turn's batch, which they open; any other transaction
 * commits the batch first.
 */
SOTTO_NODISCARD sotto_err agent_tx_begin(struct client_agent *a);
SOTTO_NODISCARD sotto_err agent_tx_commit(struct client_agent *a);
void agent_tx_rollback(struct client_agent *a);

/* The meta rows: our display name, the tag key. */
SOTTO_NODISCARD sotto_err agent_name_get(struct client_agent *a, char *out, size_t cap,
                                         size_t *len);
SOTTO_NODISCARD sotto_err agent_name_put(struct client_agent *a, const char *name, size_t len);
/* Our name, or CLIENT_AGENT_DEFAULT_NAME when none is set. */
SOTTO_NODISCARD sotto_err agent_name_or_default(struct client_agent *a, char *out, size_t cap,
                                                size_t *len);
SOTTO_NODISCARD sotto_err agent_tag_key_load(struct client_agent *a);

/* relays */
SOTTO_NODISCARD sotto_err agent_relays_add(struct client_agent *a, const struct net_addr *addr);
SOTTO_NODISCARD sotto_err agent_relays_remove(struct client_agent *a, const struct net_addr *addr);
SOTTO_NODISCARD sotto_err agent_relays_list(struct client_agent *a, client_agent_relay_fn *fn,
                                            void *user);
SOTTO_NODISCARD sotto_err agent_relays_pick(struct client_agent *a, struct net_addr *out);

/* contacts */
SOTTO_NODISCARD sotto_err agent_contact_insert(struct client_agent *a, uint8_t state,
                                               uint32_t flags, int64_t *id);
SOTTO_NODISCARD sotto_err agent_info_load(struct client_agent *a, int64_t id,
                                          struct agent_info *info);
SOTTO_NODISCARD sotto_err agent_info_save(struct client_agent *a, int64_t id,
                                          const struct agent_info *info);
SOTTO_NODISCARD sotto_err agent_contact_set(struct client_agent *a, int64_t id, uint8_t state,
                                            uint32_t flags);
SOTTO_NODISCARD sotto_err agent_contact_remove(struct client_agent *a, int64_t id);
/* Reads a sealed column into a new buffer (*out, *len; ctx_free after wiping) or NOT_FOUND if NULL.
 */
SOTTO_NODISCARD sotto_err agent_col_get(struct client_agent *a, int64_t id, enum agent_col col,
                                        uint8_t **out, size_t *len);
/* Writes (data non-NULL) or clears (data NULL) a sealed column. */
SOTTO_NODISCARD sotto_err agent_col_put(struct client_agent *a, int64_t id, enum agent_col col,
                                        const uint8_t *SOTTO_NULLABLE data, size_t len);
SOTTO_NODISCARD sotto_err agent_ratchet_load(struct client_agent *a, int64_t id,
                                             struct ratchet **out);
SOTTO_NODISCARD sotto_err agent_ratchet_save(struct client_agent *a, int64_t id,
                                             const struct ratchet *r);

/* Receives each contact row while loading: id, state, flags, info. */
typedef sotto_err agent_row_fn(struct client_agent *a, int64_t id, uint8_t state, uint32_t flags,
                               const struct agent_info *info);
SOTTO_NODISCARD sotto_err agent_contacts_load(struct client_agent *a, agent_row_fn *fn);

/* messages */
SOTTO_NODISCARD sotto_err agent_msg_tag(struct client_agent *a, int64_t contact, uint8_t dir,
                                        const uint8_t msg_id[static CLIENT_MSG_ID_LEN],
                                        uint8_t tag[static 16]);
/*
 * Adds a message; SOTTO_ERR_USED when its message ID is already in the
 * contact's history in that direction.
 */
SOTTO_NODISCARD sotto_err agent_msg_add(struct client_agent *a, int64_t contact, uint8_t dir,
                                        uint8_t status, bool rcpt,
                                        const uint8_t msg_id[static CLIENT_MSG_ID_LEN],
                                        uint64_t sent_at_ms, uint64_t time_ms, const uint8_t *text,
                                        size_t text_len, int64_t *id);
/* The message of (contact, dir, message ID): *id and *status, or SOTTO_ERR_NOT_FOUND. */
SOTTO_NODISCARD sotto_err agent_msg_find(struct client_agent *a, int64_t contact, uint8_t dir,
                                         const uint8_t msg_id[static CLIENT_MSG_ID_LEN],
                                         int64_t *id, uint8_t *status);
/*
 * Moves a message from QUEUED or SENT to a later status (SENT, DELIVERED,
 * FAILED); *changed says whether it moved (NULL: not asked).
 */
SOTTO_NODISCARD sotto_err agent_msg_advance(struct client_agent *a, int64_t id, uint8_t status,
                                            sotto_err reason, bool *SOTTO_NULLABLE changed);
/* Up to max message IDs of received TEXTs waiting for a receipt; clears their mark. */
SOTTO_NODISCARD sotto_err agent_msg_take_receipts(struct client_agent *a, int64_t contact,
                                                  uint8_t ids[][CLIENT_MSG_ID_LEN], size_t max,
                                                  size_t *n);
/* How many received TEXTs wait for a receipt, counting up to max. */
SOTTO_NODISCARD sotto_err agent_msg_count_receipts(struct client_agent *a, int64_t contact,
                                                   size_t max, size_t *n);
SOTTO_NODISCARD sotto_err agent_msg_purge(struct client_agent *a, int64_t contact);
/* Calls fn for messages as client_agent_history does. */
SOTTO_NODISCARD sotto_err agent_msg_list(struct client_agent *a, int64_t contact, int64_t before,
                                         size_t limit, client_agent_msg_fn *fn, void *user);
/* The envelope message ID of a message (tests). */
SOTTO_NODISCARD sotto_err agent_msg_envelope_id(struct client_agent *a, int64_t id,
                                                uint8_t out[static CLIENT_MSG_ID_LEN]);

/* outbox: rec = kind (1) || lp16(the SEND body) */
SOTTO_NODISCARD sotto_err agent_outbox_add(struct client_agent *a, int64_t contact, int64_t msg,
                                           uint8_t kind, const uint8_t *body, size_t body_len);
/*
 * An outbox entry kept as what makes its SEND body (the hello, then the
 * ratchet message p finishes over env padded, §5.4) rather than the 16,000
 * bytes themselves: agent_outbox_next makes the same body every time.
 */
SOTTO_NODISCARD sotto_err agent_outbox_add_pending(struct client_agent *a, int64_t contact,
                                                   int64_t msg, uint8_t kind, const uint8_t *hello,
                                                   size_t hello_len,
                                                   const struct ratchet_pending *p,
                                                   const uint8_t *env, size_t env_len);
/*
 * The first entry of contact after row after (0: the first of all): its
 * row, kind, body (into body, cap RELAY_MSG_BODY_MAX) and msg (0: none);
 * SOTTO_ERR_NOT_FOUND when there is none.
 */
SOTTO_NODISCARD sotto_err agent_outbox_next(struct client_agent *a, int64_t contact, int64_t after,
                                            int64_t *id, uint8_t *kind, uint8_t *body, size_t cap,
                                            size_t *body_len, int64_t *msg);
SOTTO_NODISCARD sotto_err agent_outbox_remove(struct client_agent *a, int64_t id);
SOTTO_NODISCARD sotto_err agent_outbox_count(struct client_agent *a, int64_t contact, size_t *n);
/*
 * Removes the contact's entries except rows up to keep_to (those in flight:
 * they cannot be called back) and those of the kinds in keep (a bit per
 * kind); the messages they carried fail with reason. *msgs gets their IDs
 * (up to max; *n_msgs counts them all).
 */
SOTTO_NODISCARD sotto_err agent_outbox_drop(struct client_agent *a, int64_t contact,
                                            int64_t keep_to, uint32_t keep, sotto_err reason,
                                            int64_t *msgs, size_t max, size_t *n_msgs);

/* ---- agent.c ---- */

struct agent_contact *agent_contact_find(struct client_agent *a, int64_t id);
/* The connection to relay addr, made if needed. Errors: SOTTO_ERR_BUSY, _NOMEM, _IO, _STATE. */
SOTTO_NODISCARD sotto_err agent_conn_get(struct client_agent *a, const struct net_addr *addr,
                                         struct agent_conn **out);
/* Arms task kind of c to run after delay_ms (keeping an earlier due time). */
void agent_arm(struct client_agent *a, struct agent_contact *c, enum agent_task_kind kind,
               uint64_t delay_ms);
/* Arms task kind again after a failure: exponential backoff with full jitter. */
void agent_backoff(struct client_agent *a, struct agent_contact *c, enum agent_task_kind kind);
void agent_disarm(struct agent_contact *c, enum agent_task_kind kind);
void agent_emit(struct client_agent *a, const struct client_agent_event *ev);
void agent_emit_error(struct client_agent *a, int64_t contact_id, sotto_err err);
void agent_emit_status(struct client_agent *a, int64_t contact_id, int64_t msg_id, uint8_t status,
                       sotto_err reason);
/* Completes c's pending invite/connect, if any. */
void agent_op_done(struct agent_contact *c, sotto_err err, const char *SOTTO_NULLABLE link);
/* Registers c's queue with its connection (SUB), or unregisters it. */
SOTTO_NODISCARD sotto_err agent_subscribe(struct client_agent *a, struct agent_contact *c,
                                          const struct agent_info *info);
void agent_unsubscribe(struct agent_contact *c);
uint64_t agent_wall_ms(struct client_agent *a);
struct agent_req *agent_req_new(struct client_agent *a, enum agent_req_kind kind,
                                int64_t contact_id, int64_t outbox_id);
void agent_req_free(struct agent_req *r);
/* Writes c's invitation link text (INVITING with its queue). */
SOTTO_NODISCARD sotto_err agent_link_text(struct client_agent *a, int64_t id, char *out,
                                          size_t cap);

/* ---- agent_flow.c ---- */

/* Runs task kind of c (due now). */
void agent_task_run(struct client_agent *a, struct agent_contact *c, enum agent_task_kind kind);
/* A message of c's queue, from a push or a GET. */
void agent_deliver(struct client_agent *a, struct agent_contact *c, const uint8_t *msg_id,
                   const uint8_t *body, size_t body_len);
/* Encrypts an envelope for c and queues it (inside the caller's transaction). */
SOTTO_NODISCARD sotto_err agent_queue_envelope(struct client_agent *a, int64_t contact,
                                               struct ratchet *r, struct client_envelope *env,
                                               int64_t msg);
/* Fills the header of env (kind, fresh message ID, sent at now). */
void agent_envelope_init(struct client_agent *a, struct client_envelope *env, uint8_t kind);
/* What a deletion changed, applied to memory once it is committed. */
struct agent_del {
	uint32_t flags;  /* the contact's new flags */
	bool has_leave;  /* a LEAVE was queued */
	size_t n_failed; /* messages that failed with the outbox entries dropped */
	int64_t failed[CLIENT_AGENT_OUTBOX_MAX];
	sotto_err reason;
};
/*
 * The deletion of c inside the caller's transaction (client_agent_contact_delete,
 * a LEAVE, a join refused for good): the ratchet and invitation forgotten,
 * the outbox dropped (but a LEAVE, and the handshake entries it needs),
 * DELETED. Nothing in memory changes until agent_delete_after.
 */
SOTTO_NODISCARD sotto_err agent_delete_tx(struct client_agent *a, struct agent_contact *c,
                                          bool send_leave, bool purge, sotto_err reason,
                                          struct agent_del *d);
/*
 * Commits the open receive batch (its ACKs and events still wait for the
 * check handle, which agent_batch_finish runs); false when the commit
 * failed (the batch's deliveries were rolled back).
 */
bool agent_batch_commit(struct client_agent *a);
/* Commits the batch if open, then acknowledges and reports what waited for it. */
void agent_batch_finish(struct client_agent *a);
/* The check handle's callback: agent_batch_finish at the end of the turn. */
void agent_on_check(uv_check_t *h);

/* After a committed deletion: stop receiving, report, start the relay work. */
void agent_delete_after(struct client_agent *a, struct agent_contact *c, const struct agent_del *d);
/* Done with a deleted contact's relay work? Then forget the rest (and purge). */
void agent_delete_maybe_finish(struct client_agent *a, struct agent_contact *c);

/* ---- tests ---- */

/* Hands body to the agent as if the relay had delivered it on c's queue. */
void agent_debug_deliver(struct client_agent *a, int64_t contact_id, const uint8_t *msg_id,
                         const uint8_t *body, size_t body_len);
/* Encrypts pt (any bytes; padded as §5.4 when pad) for the contact and queues it. */
SOTTO_NODISCARD sotto_err agent_debug_send_raw(struct client_agent *a, int64_t contact_id,
                                               const uint8_t *pt, size_t pt_len, bool pad);
void agent_debug_tap(struct client_agent *a, agent_tap_fn *fn, void *user);
/* The next n deliveries fail as a busy store would make them (not stored, not acknowledged). */
void agent_debug_fail_deliveries(struct client_agent *a, unsigned n);
/* The next n receive batches fail to commit (everything in them is rolled back). */
void agent_debug_fail_batches(struct client_agent *a, unsigned n);
/* What is stored for a contact: queue IDs and keys (info), whether hs/ratchet exist. */
SOTTO_NODISCARD sotto_err agent_debug_contact(struct client_agent *a, int64_t id,
                                              struct agent_info *info, bool *has_hs,
                                              bool *has_ratchet);

#endif /* SOTTO_CLIENT_AGENT_INT_H */
