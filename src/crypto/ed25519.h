/* SPDX-License-Identifier: MIT */
/*
 * ed25519.h - Ed25519 signatures (RFC 8032) over libsodium (crypto layer).
 * Keys come from a 32-byte seed drawn from the context RNG, so the RFC's
 * test keys (which are seeds) can be replayed exactly.
 */
#ifndef SOTTO_CRYPTO_ED25519_H
#define SOTTO_CRYPTO_ED25519_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

enum {
	ED25519_SEED_LEN = 32,
	ED25519_PUB_LEN = 32,
	ED25519_PRIV_LEN = 64, /* libsodium form: seed || public key */
	ED25519_SIG_LEN = 64,
};

struct ed25519_keypair {
	uint8_t pub[ED25519_PUB_LEN];
	uint8_t priv[ED25519_PRIV_LEN]; /* secret: wipe with ed25519_keypair_clear() */
};

/* Draws a seed from the context RNG and derives the key pair. */
void ed25519_keypair_generate(struct sotto_ctx *ctx, struct ed25519_keypair *out);

/* Derives the key pair of a seed. Errors: SOTTO_ERR_INTERNAL. */
SOTTO_NODISCARD sotto_err ed25519_keypair_from_seed(const uint8_t seed[static ED25519_SEED_LEN],
                                                    struct ed25519_keypair *out);

/* Signs msg. Errors: SOTTO_ERR_INTERNAL. */
SOTTO_NODISCARD sotto_err ed25519_sign(uint8_t sig[static ED25519_SIG_LEN], const uint8_t *msg,
                                       size_t msg_len, const struct ed25519_keypair *kp);

/* Verifies sig over msg under pub. Errors: SOTTO_ERR_AUTH (any failure). */
SOTTO_NODISCARD sotto_err ed25519_verify(const uint8_t sig[static ED25519_SIG_LEN],
                                         const uint8_t *msg, size_t msg_len,
                                         const uint8_t pub[static ED25519_PUB_LEN]);

void ed25519_keypair_clear(struct ed25519_keypair *kp);

#endif /* SOTTO_CRYPTO_ED25519_H */
