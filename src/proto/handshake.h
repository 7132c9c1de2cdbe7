/* SPDX-License-Identifier: MIT */
/*
 * handshake.h - the X3DH-style key agreement that starts a contact
 * connection's end-to-end session (proto layer; docs/protocol.md §3.2-3.4).
 *
 *   inviter                                  joiner
 *   handshake_invite_new()  -- invitation -->  handshake_invitation_parse()
 *                                              handshake_join(): session + hello
 *   handshake_accept()      <-- hello || first ratchet message --
 *
 * Each invitation has its own fresh key pairs: no key is shared between two
 * contacts and nothing identifies a user across contacts. Authentication is
 * deniable (nothing is signed); users compare handshake_security_code().
 * Private keys live in secure memory and are wiped when no longer needed.
 */
#ifndef SOTTO_PROTO_HANDSHAKE_H
#define SOTTO_PROTO_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "proto/limits.h"
#include "proto/ratchet.h"
#include "wire/version.h"

/* A parsed invitation: plain public values. */
struct handshake_invitation {
	struct version_range versions;
	uint8_t key1[PROTO_KEY_LEN]; /* I1 */
	uint8_t key2[PROTO_KEY_LEN]; /* I2 */
	uint8_t kem_type;            /* PROTO_KEM_NONE in version 1 */
	uint8_t encoded[PROTO_INVITATION_V1_LEN]; /* the exact bytes parsed (bound into AD) */
	size_t encoded_len;
};

/* The inviter's half: the invitation and its private keys, used once. */
struct handshake_inviter;

/*
 * Makes fresh key pairs I1, I2 (from the context RNG) and the invitation.
 * *out is NULL first and owns the inviter on success.
 * Errors: SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err handshake_invite_new(struct sotto_ctx *ctx, struct handshake_inviter **out);

/* The encoded invitation (borrowed, *len bytes) to put in a link or QR code. */
const uint8_t *handshake_invitation_bytes(const struct handshake_inviter *inv, size_t *len);

/*
 * Serialises / restores the inviter (its private keys!) so a pending
 * invitation survives a restart (138 bytes, docs/protocol.md §3.2, inviter
 * state). Errors: SOTTO_ERR_TOO_LARGE; SOTTO_ERR_CORRUPT, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err handshake_inviter_serialize(const struct handshake_inviter *inv, uint8_t *out,
                                                      size_t out_cap, size_t *out_len);
SOTTO_NODISCARD sotto_err handshake_inviter_deserialize(struct sotto_ctx *ctx, const uint8_t *in,
                                                        size_t in_len,
                                                        struct handshake_inviter **out);

/* Wipes and frees inv; NULL does nothing. */
void handshake_inviter_free(struct handshake_inviter *SOTTO_NULLABLE inv);

/*
 * Parses an invitation strictly (exact length, known type, valid range, KEM
 * type 0 with no data in version 1). *out is zeroed first.
 * Errors: SOTTO_ERR_TRUNCATED, SOTTO_ERR_TRAILING, SOTTO_ERR_PROTOCOL
 * (unknown type, malformed range, unknown KEM type), SOTTO_ERR_TOO_LARGE.
 */
SOTTO_NODISCARD sotto_err handshake_invitation_parse(const uint8_t *in, size_t in_len,
                                                     struct handshake_invitation *out);

/*
 * The joiner's side: negotiates a version, makes J1/J2, derives the session,
 * and writes the hello (docs/protocol.md §3.3) into hello (hello_cap bytes,
 * *hello_len its length). The first message to send is the hello followed by
 * ratchet_encrypt() output of the returned session. *out is NULL first and
 * owns the session. Errors: SOTTO_ERR_VERSION, SOTTO_ERR_WEAK_KEY (a
 * low-order key in the invitation), SOTTO_ERR_TOO_LARGE (hello_cap),
 * SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err handshake_join(struct sotto_ctx *ctx, const struct handshake_invitation *inv,
                                         uint8_t *hello, size_t hello_cap, size_t *hello_len,
                                         struct ratchet **out);

/*
 * The inviter's side: parses the hello at the start of msg, derives the
 * session and decrypts the ratchet message that follows into pt (pt_cap
 * bytes; *pt_len its length). On success *out owns the session and the
 * inviter is spent (its I1 private key wiped); on failure nothing changes.
 * Errors: SOTTO_ERR_USED (a hello was already accepted), SOTTO_ERR_TRUNCATED,
 * SOTTO_ERR_PROTOCOL (malformed hello or a version outside the invitation's
 * range), SOTTO_ERR_WEAK_KEY, SOTTO_ERR_AUTH (the ratchet message does not
 * decrypt: tampered hello or message), SOTTO_ERR_TOO_LARGE, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err handshake_accept(struct handshake_inviter *inv, const uint8_t *msg,
                                           size_t msg_len, uint8_t *pt, size_t pt_cap,
                                           size_t *pt_len, struct ratchet **out);

/*
 * The security code of a session (docs/protocol.md §3.8): twelve groups of
 * five digits separated by single spaces, NUL-terminated, into text
 * (text_cap >= PROTO_CODE_TEXT_LEN + 1). Both sides get the same code.
 * Errors: SOTTO_ERR_TOO_LARGE.
 */
SOTTO_NODISCARD sotto_err handshake_security_code(const struct ratchet *r, char *text,
                                                  size_t text_cap);

#endif /* SOTTO_PROTO_HANDSHAKE_H */
