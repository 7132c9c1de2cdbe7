/* SPDX-License-Identifier: MIT */
/*
 * x25519.h - X25519 key agreement (RFC 7748) over libsodium (crypto layer).
 *
 * A private key is 32 random bytes from the context's RNG (clamping happens
 * inside the scalar multiplication), so a scripted RNG reproduces published
 * vectors. A DH whose output is all zero (the peer sent a low-order point)
 * fails with SOTTO_ERR_WEAK_KEY: every peer sees the same behaviour.
 */
#ifndef SOTTO_CRYPTO_X25519_H
#define SOTTO_CRYPTO_X25519_H

#include <stdbool.h>
#include <stdint.h>

#include <sotto/sotto.h>

enum {
	X25519_KEY_LEN = 32,    /* public and private keys */
	X25519_SHARED_LEN = 32, /* DH output */
};

struct x25519_keypair {
	uint8_t pub[X25519_KEY_LEN];
	uint8_t priv[X25519_KEY_LEN]; /* secret: wipe with x25519_keypair_clear() */
};

/* Draws a private key from the context RNG and computes its public key. */
void x25519_keypair_generate(struct sotto_ctx *ctx, struct x25519_keypair *out);

/*
 * Computes the public key of priv into out (out->priv gets a copy of priv).
 * Errors: SOTTO_ERR_INTERNAL (libsodium refused the scalar).
 */
SOTTO_NODISCARD sotto_err x25519_keypair_from_private(const uint8_t priv[static X25519_KEY_LEN],
                                                      struct x25519_keypair *out);

/*
 * shared = X25519(priv, pub). shared is zeroed first and on failure.
 * Errors: SOTTO_ERR_WEAK_KEY (all-zero output).
 */
SOTTO_NODISCARD sotto_err x25519_dh(uint8_t shared[static X25519_SHARED_LEN],
                                    const uint8_t priv[static X25519_KEY_LEN],
                                    const uint8_t pub[static X25519_KEY_LEN]);

/*
 * Whether pub is a point of small order (0, 1, the two points of order 8,
 * p - 1, and the non-canonical p and p + 1, with bit 255 ignored as X25519
 * ignores it): exactly the public keys whose x25519_dh output is all zero
 * for every private key. A table lookup in constant time, no scalar
 * multiplication: for checking received keys before they are stored.
 */
bool x25519_is_low_order(const uint8_t pub[static X25519_KEY_LEN]);

/* Wipes a key pair. */
void x25519_keypair_clear(struct x25519_keypair *kp);

#endif /* SOTTO_CRYPTO_X25519_H */
