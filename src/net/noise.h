/* SPDX-License-Identifier: MIT */
/*
 * noise.h - Noise_NK_25519_ChaChaPoly_BLAKE2b (Noise rev 34) handshake and
 * transport cipher states (net layer).
 *
 * NK: the initiator (a client) knows the responder's (the relay's) static
 * public key in advance and stays anonymous itself:
 *
 *   <- s
 *   ...
 *   -> e, es
 *   <- e, ee
 *
 * After two messages noise_nk_split() yields one cipher state per direction
 * and the handshake hash h, which upper layers use as the session identifier
 * (channel binding, Noise §11.2). Ephemeral keys come from the context RNG,
 * so a scripted RNG replays the published vectors. Handshake secrets live in
 * one ordinary heap object that is explicitly wiped after the last message,
 * on any error, at Split() and when freed (short-lived secrets: a guarded
 * sodium_malloc region per handshake would cost about a quarter of the
 * handshake rate).
 */
#ifndef SOTTO_NET_NOISE_H
#define SOTTO_NET_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "crypto/x25519.h"

enum {
	NOISE_KEY_LEN = 32,
	NOISE_DH_LEN = 32,
	NOISE_HASH_LEN = 64,
	NOISE_TAG_LEN = 16,
	NOISE_MSG_MAX = 65535, /* every Noise message, handshake or transport */
	NOISE_PAYLOAD_MAX = NOISE_MSG_MAX - NOISE_TAG_LEN,
	NOISE_PROLOGUE_MAX = 256,
};

/* The reserved nonce 2^64-1: never used to encrypt; REKEY uses it. */
#define NOISE_NONCE_MAX UINT64_MAX

/* A CipherState (Noise §5.1). k is secret: clear with noise_cipher_clear(). */
struct noise_cipher {
	uint8_t k[NOISE_KEY_LEN];
	uint64_t n;
	bool has_key;
};

/* InitializeKey(k): sets k and n = 0. */
void noise_cipher_init(struct noise_cipher *c, const uint8_t k[static NOISE_KEY_LEN]);

/*
 * EncryptWithAd: ct[0 .. pt_len+16) = ENCRYPT(k, n++, ad, pt); ct may equal pt.
 * Without a key it copies pt (pt_len bytes) and leaves n alone.
 * Errors: SOTTO_ERR_NONCE_EXHAUSTED (n reached 2^64-1; the state must be
 * discarded), SOTTO_ERR_TOO_LARGE (pt_len > NOISE_PAYLOAD_MAX).
 */
SOTTO_NODISCARD sotto_err noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad,
                                               size_t ad_len, const uint8_t *pt, size_t pt_len,
                                               uint8_t *ct);

/*
 * DecryptWithAd: pt[0 .. ct_len-16) = DECRYPT(k, n, ad, ct), n++ on success
 * only; pt may equal ct. Errors: SOTTO_ERR_AUTH (n unchanged, pt zeroed),
 * SOTTO_ERR_NONCE_EXHAUSTED, SOTTO_ERR_TOO_LARGE (ct_len > NOISE_MSG_MAX).
 */
SOTTO_NODISCARD sotto_err noise_cipher_decrypt(struct noise_cipher *c, const uint8_t *ad,
                                               size_t ad_len, const uint8_t *ct, size_t ct_len,
                                               uint8_t *pt);

/* Rekey(): k = first 32 bytes of ENCRYPT(k, 2^64-1, "", zeros(32)); n unchanged. */
void noise_cipher_rekey(struct noise_cipher *c);

/* SetNonce(n), for tests of nonce exhaustion; transports never call it. */
void noise_cipher_set_nonce(struct noise_cipher *c, uint64_t n);

void noise_cipher_clear(struct noise_cipher *c);

enum noise_role {
	NOISE_INITIATOR = 1,
	NOISE_RESPONDER = 2,
};

struct noise_nk;

/*
 * Initialize(): starts an NK handshake. The initiator passes the responder's
 * static public key as rs (s NULL); the responder passes its static key pair
 * as s (rs NULL; the pair is copied, and the copy wiped). prologue may be NULL
 * when prologue_len is 0. *out is NULL first and owns the handshake on success.
 * Errors: SOTTO_ERR_INVALID (wrong key for the role, prologue too long),
 * SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err noise_nk_new(struct sotto_ctx *ctx, enum noise_role role,
                                       const uint8_t *SOTTO_NULLABLE prologue, size_t prologue_len,
                                       const struct x25519_keypair *SOTTO_NULLABLE s,
                                       const uint8_t *SOTTO_NULLABLE rs, struct noise_nk **out);

/*
 * The NK family, for replaying the published vectors of its variants:
 * NK1 defers es to the second message; NKpsk0/NKpsk2 add a 32-byte pre-shared
 * key mixed before the first / after the last token of message 1 / 2.
 */
enum noise_pattern {
	NOISE_PATTERN_NK = 0,
	NOISE_PATTERN_NK1 = 1,
	NOISE_PATTERN_NKPSK0 = 2,
	NOISE_PATTERN_NKPSK2 = 3,
};

/*
 * As noise_nk_new() for any pattern of the family, with the protocol name
 * Noise_<pattern>_25519_ChaChaPoly_BLAKE2b. psk (32 bytes, copied, and the
 * copy wiped) is required by the psk patterns and must be NULL for the others.
 * Errors: SOTTO_ERR_INVALID (also an unknown pattern or a psk mismatch),
 * SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err noise_nk_new_pattern(
        struct sotto_ctx *ctx, enum noise_pattern pattern, enum noise_role role,
        const uint8_t *SOTTO_NULLABLE prologue, size_t prologue_len,
        const struct x25519_keypair *SOTTO_NULLABLE s, const uint8_t *SOTTO_NULLABLE rs,
        const uint8_t *SOTTO_NULLABLE psk, struct noise_nk **out);

void noise_nk_free(struct noise_nk *SOTTO_NULLABLE hs);

/*
 * Bytes of the next handshake message that carries payload_len bytes; 0 when
 * no message is due (handshake complete or dead).
 */
size_t noise_nk_message_len(const struct noise_nk *hs, size_t payload_len);

/*
 * WriteMessage: writes this role's next handshake message carrying payload
 * into out (out_cap bytes); *out_len gets its length (0 first).
 * Errors: SOTTO_ERR_STATE (not this side's turn, or finished),
 * SOTTO_ERR_TOO_LARGE (payload or out_cap), SOTTO_ERR_WEAK_KEY.
 * After any error the handshake is dead: every later call returns SOTTO_ERR_STATE.
 */
SOTTO_NODISCARD sotto_err noise_nk_write(struct noise_nk *hs, const uint8_t *SOTTO_NULLABLE payload,
                                         size_t payload_len, uint8_t *out, size_t out_cap,
                                         size_t *out_len);

/*
 * ReadMessage: processes the peer's next handshake message; its payload goes
 * to payload (payload_cap bytes), *payload_len gets its length (0 first).
 * Errors: SOTTO_ERR_STATE, SOTTO_ERR_TRUNCATED (msg shorter than the pattern
 * needs), SOTTO_ERR_TOO_LARGE (msg over NOISE_MSG_MAX or payload_cap),
 * SOTTO_ERR_AUTH (decryption failed: for the initiator this means the
 * responder does not hold the pinned static key), SOTTO_ERR_WEAK_KEY.
 * After any error the handshake is dead.
 */
SOTTO_NODISCARD sotto_err noise_nk_read(struct noise_nk *hs, const uint8_t *msg, size_t msg_len,
                                        uint8_t *SOTTO_NULLABLE payload, size_t payload_cap,
                                        size_t *payload_len);

/* True once both messages have been written/read successfully. */
bool noise_nk_is_complete(const struct noise_nk *hs);

/*
 * Split(): gives this side's sending and receiving cipher states and the
 * handshake hash h (GetHandshakeHash). It works once: it wipes the
 * handshake's keys, and a second call fails. The outputs are zeroed first.
 * Errors: SOTTO_ERR_STATE (incomplete, dead or already split).
 */
SOTTO_NODISCARD sotto_err noise_nk_split(struct noise_nk *hs, struct noise_cipher *send,
                                         struct noise_cipher *recv,
                                         uint8_t handshake_hash[static NOISE_HASH_LEN]);

#endif /* SOTTO_NET_NOISE_H */
