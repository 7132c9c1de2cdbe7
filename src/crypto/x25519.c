/* SPDX-License-Identifier: MIT */
/*
 * x25519.c - X25519 key agreement (RFC 7748) over libsodium (crypto layer).
 *
 * Private keys are raw RNG bytes; libsodium clamps them inside every scalar
 * multiplication, which is why a scripted RNG reproduces the RFC's keys.
 * A DH with a low-order peer point yields the all-zero secret, which would
 * let an attacker force a known key; libsodium reports it (its low-order
 * blacklist or its own zero check) and we check the output again with
 * sodium_is_zero, so the caller sees SOTTO_ERR_WEAK_KEY and a zeroed buffer.
 */
#include <string.h>

#include <sodium.h>

#include "core/ctx.h"
#include "core/err.h"
#include "crypto/x25519.h"

void x25519_keypair_generate(struct sotto_ctx *ctx, struct x25519_keypair *out)
{
	uint8_t priv[X25519_KEY_LEN];

	ctx_random(ctx, priv, sizeof(priv));
	sotto_err rc = x25519_keypair_from_private(priv, out);
	/* A clamped scalar is never zero, so the base point cannot map to zero. */
	(void)SOTTO_INVARIANT(rc == SOTTO_OK);
	sodium_memzero(priv, sizeof(priv));
}

sotto_err x25519_keypair_from_private(const uint8_t priv[static X25519_KEY_LEN],
                                      struct x25519_keypair *out)
{
	uint8_t sk[X25519_KEY_LEN], pk[X25519_KEY_LEN];
	sotto_err rc;

	/* Copy first: priv may be out->priv, which the clearing below wipes. */
	memcpy(sk, priv, sizeof(sk));
	sodium_memzero(out, sizeof(*out));
	if (crypto_scalarmult_base(pk, sk) != 0) {
		rc = SOTTO_ERR_INTERNAL;
		goto out;
	}
	memcpy(out->pub, pk, sizeof(pk));
	memcpy(out->priv, sk, sizeof(sk));
	rc = SOTTO_OK;
out:
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(pk, sizeof(pk));
	return rc;
}

sotto_err x25519_dh(uint8_t shared[static X25519_SHARED_LEN],
                    const uint8_t priv[static X25519_KEY_LEN],
                    const uint8_t pub[static X25519_KEY_LEN])
{
	sotto_err rc;

	sodium_memzero(shared, X25519_SHARED_LEN);
	if (crypto_scalarmult(shared, priv, pub) != 0 ||
	    sodium_is_zero(shared, X25519_SHARED_LEN)) {
		rc = SOTTO_ERR_WEAK_KEY;
		goto out;
	}
	rc = SOTTO_OK;
out:
	if (rc != SOTTO_OK)
		sodium_memzero(shared, X25519_SHARED_LEN);
	return rc;
}

void x25519_keypair_clear(struct x25519_keypair *kp)
{
	sodium_memzero(kp, sizeof(*kp));
}
