/* SPDX-License-Identifier: MIT */
/*
 * agent_rec.h - the agent's sealed records as bytes (client layer):
 * contacts.info, messages.rec and outbox.rec, encoded and decoded. No SQL
 * and no keys here: agent_store.c seals what these write and opens what
 * these read. The decoders treat their input as hostile (it comes from a
 * file on disk), read it strictly through the wire reader and accept only
 * what the encoders write, so encode(decode(x)) == x for every x they
 * accept. The byte layouts are in docs/client.md "Sealed records".
 */
#ifndef SOTTO_CLIENT_AGENT_REC_H
#define SOTTO_CLIENT_AGENT_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "client/envelope.h"
#include "client/limits.h"
#include "client/link.h"
#include "client/rconn.h"
#include "net/addr.h"
#include "proto/limits.h"
#include "proto/ratchet.h"
#include "relay/limits.h"

enum {
	AGENT_REC_VERSION = 1,        /* contacts.info, messages.rec, outbox.rec (a body) */
	AGENT_REC_OUTBOX_PENDING = 2, /* outbox.rec: an envelope and its message key */
	AGENT_REC_INFO_MAX = 2048,
	AGENT_REC_MSG_MAX = 1 + CLIENT_MSG_ID_LEN + 8 + 8 + 2 + CLIENT_TEXT_MAX,
	AGENT_REC_OUTBOX_MAX = 1 + 1 + 2 + RELAY_MSG_BODY_MAX,
	AGENT_REC_HELLO_MAX = 256, /* the handshake message ahead of a first envelope */
};

/* contacts.info, decoded. Holds queue keys: clear with agent_info_clear. */
struct agent_info {
	char local_name[CLIENT_NAME_MAX + 1];
	size_t local_name_len;
	char peer_name[CLIENT_NAME_MAX + 1];
	size_t peer_name_len;
	uint64_t created_ms; /* wall clock */
	bool has_rq_relay;   /* the relay our queue is (to be) on */
	struct net_addr rq_relay;
	bool has_rq;           /* our queue, as NEW made it */
	struct rconn_queue rq; /* secret: k_rauth, k_deliver */
	bool has_sq;           /* the peer's queue */
	struct client_queue_addr sq;
	bool has_sq_keys;               /* our sender key for it */
	uint8_t k_sauth[RELAY_KEY_LEN]; /* secret */
	uint8_t sk_pub[RELAY_KEY_LEN];
};

void agent_info_clear(struct agent_info *info);

/* contacts.info into out (cap bytes, AGENT_REC_INFO_MAX is enough). */
SOTTO_NODISCARD sotto_err agent_rec_info_encode(const struct agent_info *in, uint8_t *out,
                                                size_t cap, size_t *len);
/* SOTTO_ERR_CORRUPT, with *out all zero, for anything the encoder does not write. */
SOTTO_NODISCARD sotto_err agent_rec_info_decode(const uint8_t *in, size_t len,
                                                struct agent_info *out);

/* messages.rec: one message of the history. */
struct agent_rec_msg {
	uint8_t msg_id[CLIENT_MSG_ID_LEN];
	uint64_t sent_at_ms; /* the sender's clock */
	uint64_t time_ms;    /* ours: when it was sent or received */
	const uint8_t *text; /* borrowed from the record */
	size_t text_len;
};

SOTTO_NODISCARD sotto_err agent_rec_msg_encode(const struct agent_rec_msg *m, uint8_t *out,
                                               size_t cap, size_t *len);
/* m->text points into in; SOTTO_ERR_CORRUPT (and *m all zero) if it is not valid text. */
SOTTO_NODISCARD sotto_err agent_rec_msg_decode(const uint8_t *in, size_t len,
                                               struct agent_rec_msg *m);

/*
 * outbox.rec. Version 1: kind || lp16(the SEND body). Version 2
 * (AGENT_REC_OUTBOX_PENDING): kind || lp16(the hello, or nothing) || the
 * ratchet prefix || the message key || the AD || lp16(the envelope); the
 * body is made from them when it is sent, the same bytes every time.
 */
struct agent_rec_outbox {
	uint8_t kind; /* CLIENT_ENVELOPE_* */
	bool is_pending;
	const uint8_t *body; /* version 1: the body */
	size_t body_len;
	const uint8_t *hello, *prefix, *mk, *ad, *env; /* version 2 */
	size_t hello_len, env_len;
};

/* The record's length (0 if o cannot be written: a field too long). */
size_t agent_rec_outbox_len(const struct agent_rec_outbox *o);
SOTTO_NODISCARD sotto_err agent_rec_outbox_encode(const struct agent_rec_outbox *o, uint8_t *out,
                                                  size_t cap, size_t *len);
/* The pointers of *o point into in; SOTTO_ERR_CORRUPT leaves *o all zero. */
SOTTO_NODISCARD sotto_err agent_rec_outbox_decode(const uint8_t *in, size_t len,
                                                  struct agent_rec_outbox *o);

#endif /* SOTTO_CLIENT_AGENT_REC_H */
