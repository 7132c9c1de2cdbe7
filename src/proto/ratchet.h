/* SPDX-License-Identifier: MIT */
/*
 * ratchet.h - the Double Ratchet with header encryption (proto layer).
 *
 * One struct ratchet is one side of one contact connection's session
 * (docs/protocol.md §3.5-3.7). Sessions are made by handshake.h; this module
 * encrypts and decrypts ratchet messages and (de)serialises the state.
 *
 * Guarantees: every decryption failure (tampered, replayed, garbage, wrong
 * session) returns SOTTO_ERR_AUTH and leaves the state byte for byte
 * unchanged, as does SOTTO_ERR_TOO_FAR_AHEAD; message and chain keys are
 * wiped as soon as used; the state lives in secure memory and is wiped when
 * freed. Not thread-safe: one thread at a time per ratchet.
 */
#ifndef SOTTO_PROTO_RATCHET_H
#define SOTTO_PROTO_RATCHET_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "proto/limits.h"

struct ratchet;

/* Bytes of the message that carries pt_len bytes (pt_len + RATCHET_OVERHEAD). */
size_t ratchet_message_len(size_t pt_len);

/*
 * Encrypts pt into out (out_cap bytes); *out_len gets the message length
 * (0 first). Errors: SOTTO_ERR_STATE (no sending chain yet: an inviter
 * before its first received message), SOTTO_ERR_TOO_LARGE (pt_len >
 * RATCHET_PLAINTEXT_MAX or out_cap too small), SOTTO_ERR_NONCE_EXHAUSTED
 * (2^32-1 messages in one chain). State is unchanged on error.
 */
SOTTO_NODISCARD sotto_err ratchet_encrypt(struct ratchet *r, const uint8_t *SOTTO_NULLABLE pt,
                                          size_t pt_len, uint8_t *out, size_t out_cap,
                                          size_t *out_len);

/*
 * ratchet_encrypt in two steps, for a message whose bytes are made later
 * (and again, byte for byte, when it must be sent again): begin advances
 * the sending chain and keeps in *p what the message needs (its prefix: the
 * version, the encrypted header and both nonces; its message key; the
 * session's AD); finish encrypts pt under them into out, the same bytes
 * every time. begin's errors are ratchet_encrypt's (state unchanged); *p
 * holds a secret: clear it with ratchet_pending_clear. finish's errors:
 * SOTTO_ERR_TOO_LARGE (pt_len > RATCHET_PLAINTEXT_MAX or out_cap too small).
 */
struct ratchet_pending {
	uint8_t prefix[RATCHET_PREFIX_LEN];
	uint8_t mk[PROTO_KEY_LEN]; /* secret */
	uint8_t ad[PROTO_AD_LEN];
};

SOTTO_NODISCARD sotto_err ratchet_encrypt_begin(struct ratchet *r, struct ratchet_pending *p);
SOTTO_NODISCARD sotto_err ratchet_encrypt_finish(const struct ratchet_pending *p,
                                                 const uint8_t *SOTTO_NULLABLE pt, size_t pt_len,
                                                 uint8_t *out, size_t out_cap, size_t *out_len);
void ratchet_pending_clear(struct ratchet_pending *p);

/*
 * Decrypts msg into pt (pt_cap bytes, at least msg_len - RATCHET_OVERHEAD);
 * *pt_len gets the plaintext length (0 first). Errors, each leaving the state
 * unchanged and pt zeroed: SOTTO_ERR_AUTH (anything that does not decrypt,
 * including a replay and a truncated or unknown-version message),
 * SOTTO_ERR_TOO_FAR_AHEAD (more than RATCHET_MAX_SKIP skipped in a chain),
 * SOTTO_ERR_TOO_LARGE (pt_cap too small), SOTTO_ERR_WEAK_KEY (a low-order
 * ratchet key), SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err ratchet_decrypt(struct ratchet *r, const uint8_t *msg, size_t msg_len,
                                          uint8_t *pt, size_t pt_cap, size_t *pt_len);

/* Bytes ratchet_serialize() writes for r now (RATCHET_STATE_BASE_LEN + 68 per skipped key). */
size_t ratchet_serialized_len(const struct ratchet *r);

/*
 * Writes the state (docs/protocol.md §3.7) into out (out_cap bytes); *out_len
 * gets its length. The output holds secrets: the caller encrypts it at rest
 * and wipes it. Errors: SOTTO_ERR_TOO_LARGE (out_cap too small).
 */
SOTTO_NODISCARD sotto_err ratchet_serialize(const struct ratchet *r, uint8_t *out, size_t out_cap,
                                            size_t *out_len);

/*
 * Rebuilds a ratchet from serialised bytes (strictly checked). *out is NULL
 * first and owns the ratchet on success. Errors: SOTTO_ERR_CORRUPT (anything
 * malformed: wrong length, version, flags, non-zero absent fields, a public
 * key that does not match its private key, counts over their bounds),
 * SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err ratchet_deserialize(struct sotto_ctx *ctx, const uint8_t *in,
                                              size_t in_len, struct ratchet **out);

/* The session's associated data AD (RATCHET/PROTO_AD_LEN bytes), borrowed. */
const uint8_t *ratchet_ad(const struct ratchet *r);

/* Wipes and frees r; NULL does nothing. */
void ratchet_free(struct ratchet *SOTTO_NULLABLE r);

#endif /* SOTTO_PROTO_RATCHET_H */
