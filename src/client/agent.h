/* SPDX-License-Identifier: MIT */
/*
 * agent.h - contacts and reliable messages over relays (client layer).
 *
 * The agent turns the relay connections (rconn.h), the end-to-end session
 * (proto/handshake.h, proto/ratchet.h), the contact codecs (link.h,
 * envelope.h) and the profile database (store/db.h) into what a user sees:
 * relays to choose from, contacts made with one-time invitation links,
 * conversations with delivery status. It follows docs/protocol.md chapter 5
 * (connecting §5.3, envelopes §5.4, delivery, order and duplicates §5.5);
 * docs/client.md ("Agent", "Profile database schema") describes the
 * behaviour and every table it writes.
 *
 * Guarantees:
 *   - every state change is one SQLite transaction together with the
 *     ratchet state it produced or consumed: a crash at any point leaves
 *     either the state before or the state after;
 *   - an outgoing message is durable when client_agent_send_text returns
 *     (or client_agent_send_text_grouped's done says so); nothing of it
 *     reaches a relay before; the outbox is sent in order per contact, a
 *     window at a time that nothing can overtake, and resent byte for byte
 *     (after a restart or a lost connection) until the relay answers OK; QUOTA and lost connections
 * are retried with exponential backoff and full jitter; AUTH and LARGE fail the message;
 *   - a received message is stored (history, ratchet, the queue's last
 *     relay msg_id) in one transaction and only then acknowledged; a
 *     redelivery (same relay msg_id), a re-sent outbox entry (it no longer
 *     decrypts) and a message ID already in the history are dropped;
 *   - everything secret or personal (texts, names, keys, ratchet states,
 *     queue IDs, invitations, relay addresses) is stored sealed
 *     (store_seal, the table and row key as associated data);
 *   - memory is bounded by the limits in client/limits.h: nothing grows
 *     with the number of messages.
 *
 * Events (contact connected, renamed, left; message received; status
 * changed; relay up or down; errors) come through one callback, always
 * from the event loop, after the change they report is committed. From
 * inside any callback the caller may call any function of this header,
 * client_agent_close included (the agent is then freed from the loop).
 *
 * Threading: everything runs on the thread of the loop; no function is
 * safe from another thread.
 */
#ifndef SOTTO_CLIENT_AGENT_H
#define SOTTO_CLIENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>
#include <uv.h>

#include "client/limits.h"
#include "client/rconn.h"
#include "net/addr.h"
#include "proto/limits.h"
#include "store/db.h"

/* What contacts see as our display name until client_agent_set_name. */
#define CLIENT_AGENT_DEFAULT_NAME "sotto user"

/* A contact as the user sees it. Numbers are stored: never reuse one. */
enum client_agent_contact_state {
	CLIENT_AGENT_INVITING = 1,  /* our invitation waits for someone to join it */
	CLIENT_AGENT_JOINING = 2,   /* we joined an invitation; the inviter has not answered yet */
	CLIENT_AGENT_CONNECTED = 3, /* both sides hold the session: messages flow */
	CLIENT_AGENT_DELETED = 4,   /* deleted here or left by the peer; history only */
};

enum client_agent_dir {
	CLIENT_AGENT_OUT = 1, /* written here */
	CLIENT_AGENT_IN = 2,  /* received */
};

/* A message's status. Numbers are stored: never reuse one. */
enum client_agent_msg_status {
	CLIENT_AGENT_QUEUED = 1,    /* durable in the outbox, not yet accepted by the relay */
	CLIENT_AGENT_SENT = 2,      /* the peer's relay stored it (OK) */
	CLIENT_AGENT_DELIVERED = 3, /* the peer's RECEIPT named it */
	CLIENT_AGENT_FAILED = 4,    /* refused for good; reason says why */
	CLIENT_AGENT_RECEIVED = 5,  /* an incoming message */
};

enum client_agent_event_kind {
	CLIENT_AGENT_EV_CONNECTED = 1,  /* contact_id is connected; name: the peer's display name */
	CLIENT_AGENT_EV_RENAMED = 2,    /* the peer sent NAME; name: the new display name */
	CLIENT_AGENT_EV_RECEIVED = 3,   /* a TEXT: msg_id, text, sent_at_ms, time_ms */
	CLIENT_AGENT_EV_STATUS = 4,     /* contact_id's msg_id changed to status (err if FAILED) */
	CLIENT_AGENT_EV_RELAY_UP = 5,   /* relay: the address of a relay now reachable */
	CLIENT_AGENT_EV_RELAY_DOWN = 6, /* relay unreachable; err: why (rconn.h on_state) */
	CLIENT_AGENT_EV_LEFT = 7,       /* the peer deleted the contact (LEAVE): now DELETED */
	CLIENT_AGENT_EV_ERROR = 8,      /* err (and contact_id when it concerns one); see below */
};

/*
 * One event; every pointer is borrowed for the callback. Fields not named
 * by the kind are zero. Errors worth telling the user (CLIENT_AGENT_EV_ERROR):
 *   SOTTO_ERR_AUTH     with contact_id: the contact's queue was refused by
 *                      its relay (an invitation someone else used first, a
 *                      queue deleted behind our back): the contact is now
 *                      DELETED when it was not connected yet;
 *   SOTTO_ERR_STATE    with contact_id: another device took over the queue (END);
 *   SOTTO_ERR_IO, SOTTO_ERR_BUSY, SOTTO_ERR_CORRUPT, SOTTO_ERR_NOMEM:
 *                      the profile database failed while storing a change
 *                      (it is retried: a received message is not
 *                      acknowledged and comes again).
 */
struct client_agent_event {
	enum client_agent_event_kind kind;
	int64_t contact_id;                  /* 0 when the event concerns no contact */
	int64_t msg_id;                      /* RECEIVED, STATUS: the message's local ID */
	enum client_agent_msg_status status; /* STATUS */
	sotto_err err;                       /* STATUS (FAILED): the reason; RELAY_DOWN; ERROR */
	const char *SOTTO_NULLABLE name;     /* CONNECTED, RENAMED: NUL-terminated UTF-8 */
	const uint8_t *SOTTO_NULLABLE text;  /* RECEIVED: text_len bytes of UTF-8, not terminated */
	size_t text_len;
	uint64_t sent_at_ms;              /* RECEIVED: the sender's clock, ms since the epoch */
	uint64_t time_ms;                 /* RECEIVED: our clock when stored, ms since the epoch */
	const char *SOTTO_NULLABLE relay; /* RELAY_UP, RELAY_DOWN: "sotto://key@host:port" */
};

typedef void client_agent_event_fn(void *SOTTO_NULLABLE user, const struct client_agent_event *ev);

/* Wall-clock milliseconds since the Unix epoch (message times). */
typedef uint64_t client_agent_wall_clock_fn(void *SOTTO_NULLABLE user);

/*
 * The end of client_agent_invite or client_agent_connect. err is SOTTO_OK
 * when the invitation link exists (invite: link is its text, NUL-terminated)
 * or the join is durably queued (connect: link is NULL); otherwise
 * SOTTO_ERR_TIMEOUT (op_timeout_ms passed: the contact stays and keeps
 * trying; client_agent_contact_link gives the link once it exists),
 * SOTTO_ERR_CANCELLED (the agent closed or the contact was deleted first),
 * or the relay's refusal (SOTTO_ERR_AUTH, SOTTO_ERR_PROTOCOL, ...: the
 * contact is then removed).
 */
typedef void client_agent_done_fn(void *SOTTO_NULLABLE user, sotto_err err, int64_t contact_id,
                                  const char *SOTTO_NULLABLE link);

/* client_agent_close finished: the agent is gone; the caller may free the db. */
typedef void client_agent_closed_fn(void *SOTTO_NULLABLE user);

/* Zero fields take the defaults (client/limits.h). */
struct client_agent_config {
	uint32_t retry_base_ms;    /* first retry ceiling of a relay request; 0: 500 ms */
	uint32_t retry_max_ms;     /* retry ceiling cap (>= base); 0: 60 s; <= _MAX */
	uint32_t op_timeout_ms;    /* invite/connect done waits this long; 0: 30 s; <= _MAX */
	uint32_t receipt_delay_ms; /* receipts wait this long for more TEXTs; 0: 100 ms; <= _MAX */
	struct rconn_config rconn; /* every relay connection (backoff, keepalive, close timeout) */
	client_agent_wall_clock_fn *SOTTO_NULLABLE wall_clock; /* NULL: the system's clock */
	void *SOTTO_NULLABLE wall_clock_user;
};

struct client_agent_callbacks {
	client_agent_event_fn *SOTTO_NULLABLE on_event;
	void *SOTTO_NULLABLE user;
};

/* A contact as listed. */
struct client_agent_contact {
	int64_t id;
	enum client_agent_contact_state state;
	char name[CLIENT_NAME_MAX + 1]; /* the local name if set, else peer_name ("" if none) */
	char peer_name[CLIENT_NAME_MAX + 1]; /* the display name the peer chose ("" until known) */
	bool has_local_name;
};

/* A message of the history; text is borrowed for the callback. */
struct client_agent_msg {
	int64_t id; /* local message ID, increasing in the order written or received */
	int64_t contact_id;
	enum client_agent_dir dir;
	enum client_agent_msg_status status;
	sotto_err reason;    /* FAILED: why (SOTTO_ERR_AUTH: the queue is gone; ...) */
	uint64_t sent_at_ms; /* the writer's clock, ms since the epoch */
	uint64_t time_ms;    /* our clock when queued or received */
	const uint8_t *text; /* text_len bytes of UTF-8, not terminated */
	size_t text_len;
};

/* Counters since client_agent_open; never an identifier. */
struct client_agent_stats {
	uint64_t n_msgs_in;        /* relay messages handed to the agent */
	uint64_t n_texts_in;       /* TEXTs added to the history */
	uint64_t n_texts_out;      /* TEXTs queued */
	uint64_t n_sends;          /* SENDs issued (first tries and retries) */
	uint64_t n_send_retries;   /* SENDs issued again after a failure */
	uint64_t n_receipts_out;   /* RECEIPT envelopes queued */
	uint64_t n_dup_relay;      /* dropped: the queue's last relay msg_id again */
	uint64_t n_undecryptable;  /* dropped: did not decrypt (replayed, re-sent, tampered) */
	uint64_t n_msgs_skipped;   /* pushed after one that could not be stored: left for later */
	uint64_t n_dup_msg_id;     /* dropped: a message ID already in the history */
	uint64_t n_invalid;        /* dropped: decrypted, but not a valid envelope here */
	uint64_t n_queues_deleted; /* our queues deleted on their relay (DEL answered) */
	uint64_t n_store_errors;   /* transactions that failed (and were retried) */
	size_t n_contacts;         /* contacts known now (every state) */
	size_t n_relay_conns;      /* relay connections open now */
};

struct client_agent;

/*
 * Opens the agent over db (opened and owned by the caller; it must stay
 * open until on_closed of client_agent_close, or until this returns an
 * error). Loads every contact, subscribes their queues and resumes what a
 * previous run left unfinished (queues to make, joins, the outbox,
 * receipts, deletions). cfg may be NULL; cb is copied. ctx and loop are
 * borrowed and must outlive the agent. *out is NULL first and owns the
 * agent on success. After an error run the loop once to release handles.
 * Errors: SOTTO_ERR_INVALID (a config value out of range), SOTTO_ERR_VERSION
 * (db is not at this code's schema version), SOTTO_ERR_CORRUPT,
 * SOTTO_ERR_AUTH (a sealed record does not open), SOTTO_ERR_IO,
 * SOTTO_ERR_BUSY, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err client_agent_open(struct sotto_ctx *ctx, uv_loop_t *loop,
                                            struct store_db *db,
                                            const struct client_agent_config *SOTTO_NULLABLE cfg,
                                            const struct client_agent_callbacks *cb,
                                            struct client_agent **out);

/*
 * Ends the agent gracefully: no new work starts, no event is reported any
 * more, pending invite/connect callbacks get SOTTO_ERR_CANCELLED (before
 * this returns), every relay connection sends what is
 * queued and waits for the answers for at most rconn close_timeout_ms
 * (answers that arrive are stored: a SEND answered OK is marked sent);
 * then closed runs (may be NULL), last, from the loop, and the agent is
 * gone: the caller may then free db. Anything unfinished resumes at the
 * next client_agent_open. a must not be used after this call, except that
 * a second call does nothing. NULL does nothing.
 */
void client_agent_close(struct client_agent *SOTTO_NULLABLE a,
                        client_agent_closed_fn *SOTTO_NULLABLE closed, void *SOTTO_NULLABLE user);

/* ---- profile ---- */

/*
 * Sets our display name (name_len bytes of UTF-8, a valid display name:
 * client_name_is_valid). It is sealed in db and sent (NAME) to every
 * contact that has a session. Errors: SOTTO_ERR_INVALID, SOTTO_ERR_STATE
 * (closing), SOTTO_ERR_IO, SOTTO_ERR_BUSY, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err client_agent_set_name(struct client_agent *a, const char *name,
                                                size_t name_len);

/*
 * Writes our display name and a NUL into out (cap > CLIENT_NAME_MAX always
 * suffices). Until one is set, contacts see CLIENT_AGENT_DEFAULT_NAME and
 * this returns SOTTO_ERR_NOT_FOUND (out ""). Errors: SOTTO_ERR_TOO_LARGE,
 * SOTTO_ERR_CORRUPT, SOTTO_ERR_AUTH, SOTTO_ERR_IO.
 */
SOTTO_NODISCARD sotto_err client_agent_get_name(struct client_agent *a, char *out, size_t cap);

/* ---- relays ---- */

/*
 * Adds the relay at text[0..len) ("sotto://KEY@host:port", net/addr.h) to
 * the relays new invitations and joins pick from (at random). Stored
 * sealed in canonical form. Errors: net_addr_parse's (SOTTO_ERR_ADDR_*,
 * SOTTO_ERR_TOO_LARGE), SOTTO_ERR_USED (already configured),
 * SOTTO_ERR_BUSY (CLIENT_AGENT_RELAYS_MAX configured), SOTTO_ERR_STATE,
 * SOTTO_ERR_IO, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err client_agent_relay_add(struct client_agent *a, const char *text,
                                                 size_t len);

/*
 * Removes a configured relay. Queues already on it stay in use (their
 * contacts keep working); only new invitations and joins stop picking it.
 * Errors: net_addr_parse's, SOTTO_ERR_NOT_FOUND, SOTTO_ERR_STATE, SOTTO_ERR_IO.
 */
SOTTO_NODISCARD sotto_err client_agent_relay_remove(struct client_agent *a, const char *text,
                                                    size_t len);

/* Receives each configured relay's address (NUL-terminated, borrowed). */
typedef void client_agent_relay_fn(void *SOTTO_NULLABLE user, const char *addr);

/*
 * Calls fn for every configured relay, in the order added. fn must not
 * call into the agent. Errors: SOTTO_ERR_CORRUPT, SOTTO_ERR_AUTH, SOTTO_ERR_IO.
 */
SOTTO_NODISCARD sotto_err client_agent_relay_list(struct client_agent *a, client_agent_relay_fn *fn,
                                                  void *SOTTO_NULLABLE user);

/* ---- contacts ---- */

/*
 * Starts a one-time invitation: a new contact (INVITING) whose queue is
 * made on a configured relay chosen at random. The contact is durable
 * when this returns (*contact_id, may be NULL); done (may be NULL) runs
 * once, from the loop, with the link text when the queue exists
 * (client_agent_done_fn). The pending invitation survives restarts.
 * Errors, returned here (done then never runs): SOTTO_ERR_NOT_FOUND (no
 * relay is configured: "add one with: sotto relay add ADDRESS"; nothing
 * else returns it), SOTTO_ERR_BUSY (CLIENT_AGENT_CONTACTS_MAX contacts),
 * SOTTO_ERR_STATE (closing), SOTTO_ERR_IO, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err client_agent_invite(struct client_agent *a,
                                              client_agent_done_fn *SOTTO_NULLABLE done,
                                              void *SOTTO_NULLABLE user,
                                              int64_t *SOTTO_NULLABLE contact_id);

/*
 * Joins the invitation link at link[0..len): a new contact (JOINING) whose
 * own queue is made on a configured relay chosen at random, then the
 * handshake goes to the inviter (§5.3). Durable when this returns; done
 * (may be NULL) runs once the join is queued (link NULL). The contact
 * becomes CONNECTED (event) when the inviter answers.
 * Errors, returned here: client_link_from_text's (SOTTO_ERR_INVALID,
 * SOTTO_ERR_ENCODING, SOTTO_ERR_VERSION, ...), SOTTO_ERR_USED (this link
 * was joined or made here already), SOTTO_ERR_NOT_FOUND (no relay
 * configured), SOTTO_ERR_BUSY, SOTTO_ERR_STATE, SOTTO_ERR_IO, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err client_agent_connect(struct client_agent *a, const char *link, size_t len,
                                               client_agent_done_fn *SOTTO_NULLABLE done,
                                               void *SOTTO_NULLABLE user,
                                               int64_t *SOTTO_NULLABLE contact_id);

/*
 * Writes an INVITING contact's link text and a NUL into out
 * (cap > CLIENT_LINK_TEXT_MAX always suffices). Errors: SOTTO_ERR_NOT_FOUND,
 * SOTTO_ERR_STATE (not INVITING, or its queue is not made yet),
 * SOTTO_ERR_TOO_LARGE, SOTTO_ERR_CORRUPT, SOTTO_ERR_AUTH, SOTTO_ERR_IO.
 */
SOTTO_NODISCARD sotto_err client_agent_contact_link(struct client_agent *a, int64_t contact_id,
                                                    char *out, size_t cap);

/* Receives each contact (borrowed for the call). */
typedef void client_agent_contact_fn(void *SOTTO_NULLABLE user,
                                     const struct client_agent_contact *c);

/*
 * Calls fn for every contact, by increasing ID. fn must not call into the
 * agent. Errors: SOTTO_ERR_CORRUPT, SOTTO_ERR_AUTH, SOTTO_ERR_IO, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err client_agent_contact_list(struct client_agent *a,
                                                    client_agent_contact_fn *fn,
                                                    void *SOTTO_NULLABLE user);

/* Fills *out (zeroed first) with one contact. Errors: as list, SOTTO_ERR_NOT_FOUND. */
SOTTO_NODISCARD sotto_err client_agent_contact_get(struct client_agent *a, int64_t contact_id,
                                                   struct client_agent_contact *out);

/*
 * Sets the local name of a contact (only here; the peer never sees it),
 * or clears it with name_len 0. Errors: SOTTO_ERR_INVALID (not a valid
 * display name), SOTTO_ERR_NOT_FOUND, SOTTO_ERR_STATE, SOTTO_ERR_IO.
 */
SOTTO_NODISCARD sotto_err client_agent_contact_rename(struct client_agent *a, int64_t contact_id,
                                                      const char *name, size_t name_len);

/*
 * Deletes a contact: at once, in one transaction, the ratchet and the
 * invitation are forgotten, messages still queued fail
 * (SOTTO_ERR_CANCELLED), a LEAVE is queued for the peer (when a session
 * exists), and the contact becomes DELETED. Then, best effort with
 * retries, our queue is deleted on its relay (DEL) and the LEAVE is sent;
 * the queue credentials are forgotten as each finishes. The history stays
 * readable unless purge is set: then it is removed at once and the contact
 * itself once the relay work is done. Deleting a DELETED contact with
 * purge removes it. Errors: SOTTO_ERR_NOT_FOUND, SOTTO_ERR_STATE (closing,
 * or DELETED without purge), SOTTO_ERR_IO, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err client_agent_contact_delete(struct client_agent *a, int64_t contact_id,
                                                      bool purge);

/*
 * Writes the contact's security code (docs/protocol.md §3.8: twelve groups
 * of five digits) and a NUL into out (cap > PROTO_CODE_TEXT_LEN).
 * Errors: SOTTO_ERR_NOT_FOUND, SOTTO_ERR_STATE (no session yet, or
 * deleted), SOTTO_ERR_TOO_LARGE, SOTTO_ERR_CORRUPT, SOTTO_ERR_AUTH.
 */
SOTTO_NODISCARD sotto_err client_agent_security_code(struct client_agent *a, int64_t contact_id,
                                                     char *out, size_t cap);

/* ---- messages ---- */

/*
 * Sends text[0..len) (a valid TEXT: client_text_is_valid) to a CONNECTED
 * contact. When this returns SOTTO_OK the message is durable in the
 * history (QUEUED) and the outbox, and *msg_id (may be NULL) is its local
 * ID; status events follow. Errors: SOTTO_ERR_INVALID (text),
 * SOTTO_ERR_NOT_FOUND, SOTTO_ERR_STATE (not connected, or closing),
 * SOTTO_ERR_BUSY (CLIENT_AGENT_OUTBOX_MAX entries wait for this contact),
 * SOTTO_ERR_NONCE_EXHAUSTED, SOTTO_ERR_IO, SOTTO_ERR_CORRUPT, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err client_agent_send_text(struct client_agent *a, int64_t contact_id,
                                                 const uint8_t *text, size_t len,
                                                 int64_t *SOTTO_NULLABLE msg_id);

/*
 * The end of a grouped send: err SOTTO_OK and the message's local ID once
 * it is durable (as when client_agent_send_text returns), or an error
 * (SOTTO_ERR_IO: the batch did not commit, nothing of it was stored).
 */
typedef void client_agent_stored_fn(void *SOTTO_NULLABLE user, sotto_err err, int64_t msg_id);

/*
 * client_agent_send_text grouped with the rest of this loop turn: the
 * message is written in the turn's batch transaction and done runs from the
 * loop once the batch has committed, so the sends (and deliveries) of one
 * turn share one fsync. Errors returned here are client_agent_send_text's,
 * and done is then not called; client_agent_close runs the done of what
 * waits before it returns.
 */
SOTTO_NODISCARD sotto_err client_agent_send_text_grouped(struct client_agent *a, int64_t contact_id,
                                                         const uint8_t *text, size_t len,
                                                         client_agent_stored_fn *done,
                                                         void *SOTTO_NULLABLE user);

typedef void client_agent_msg_fn(void *SOTTO_NULLABLE user, const struct client_agent_msg *m);

/*
 * What still has to reach a relay for one contact (contact_id) or for all
 * (0): *n_outbox envelopes not yet confirmed by the peer's relay (queued,
 * or sent and unanswered), and *n_dels deleted contacts whose queue is not
 * yet deleted on our relay or which, purged, are not yet removed. Both 0:
 * everything asked of the agent so far is done, on the relays and in the
 * store (a front end about to exit can wait for that). Errors:
 * SOTTO_ERR_NOT_FOUND (no such contact), SOTTO_ERR_IO, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err client_agent_pending(struct client_agent *a, int64_t contact_id,
                                               size_t *n_outbox, size_t *n_dels);

/*
 * Calls fn for the last limit (1..CLIENT_AGENT_HISTORY_MAX) messages of a
 * contact whose ID is below before (0: no bound), oldest first. fn must
 * not call into the agent. Errors: SOTTO_ERR_INVALID (limit),
 * SOTTO_ERR_NOT_FOUND, SOTTO_ERR_CORRUPT, SOTTO_ERR_AUTH, SOTTO_ERR_IO,
 * SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err client_agent_history(struct client_agent *a, int64_t contact_id,
                                               int64_t before, size_t limit,
                                               client_agent_msg_fn *fn, void *SOTTO_NULLABLE user);

/* Fills *out (zeroed first). */
void client_agent_stats(const struct client_agent *a, struct client_agent_stats *out);

#endif /* SOTTO_CLIENT_AGENT_H */
