/* SPDX-License-Identifier: MIT */
/*
 * ed25519.c - Ed25519 signatures (RFC 8032) over libsodium (crypto layer).
 *
 * A key pair is derived from a 32-byte seed, and the seed is what the RNG
 * supplies, so the RFC's test keys (given as seeds) replay exactly through a
 * scripted RNG. libsodium's verification rejects non-canonical signatures and
 * small-order public keys; every such refusal is SOTTO_ERR_AUTH, one answer
 * for every cause, so a verifier reveals nothing about why it said no.
 */
#include <string.h>

#include <sodium.h>

#include "core/ctx.h"
#include "core/err.h"
#include "crypto/ed25519.h"

void ed25519_keypair_generate(struct sotto_ctx *ctx, struct ed25519_keypair *out)
{
	uint8_t seed[ED25519_SEED_LEN];

	ctx_random(ctx, seed, sizeof(seed));
	sotto_err rc = ed25519_keypair_from_seed(seed, out);
	/* Seed expansion cannot fail in libsodium 1.0.18; checked all the same. */
	(void)SOTTO_INVARIANT(rc == SOTTO_OK);
	sodium_memzero(seed, sizeof(seed));
}

sotto_err ed25519_keypair_from_seed(const uint8_t seed[static ED25519_SEED_LEN],
                                    struct ed25519_keypair *out)
{
	uint8_t sd[ED25519_SEED_LEN];
	sotto_err rc;

	/* Copy first: seed may lie inside *out, which the clearing below wipes. */
	memcpy(sd, seed, sizeof(sd));
	sodium_memzero(out, sizeof(*out));
	if (crypto_sign_seed_keypair(out->pub, out->priv, sd) != 0) {
		rc = SOTTO_ERR_INTERNAL;
		goto out;
	}
	rc = SOTTO_OK;
out:
	if (rc != SOTTO_OK)
		sodium_memzero(out, sizeof(*out));
	sodium_memzero(sd, sizeof(sd));
	return rc;
}

sotto_err ed25519_sign(uint8_t sig[static ED25519_SIG_LEN], const uint8_t *msg, size_t msg_len,
                       const struct ed25519_keypair *kp)
{
	sotto_err rc;

	sodium_memzero(sig, ED25519_SIG_LEN);
	if (crypto_sign_detached(sig, NULL, msg, msg_len, kp->priv) != 0) {
		rc = SOTTO_ERR_INTERNAL;
		goto out;
	}
	rc = SOTTO_OK;
out:
	if (rc != SOTTO_OK)
		sodium_memzero(sig, ED25519_SIG_LEN);
	return rc;
}

sotto_err ed25519_verify(const uint8_t sig[static ED25519_SIG_LEN], const uint8_t *msg,
                         size_t msg_len, const uint8_t pub[static ED25519_PUB_LEN])
{
	if (crypto_sign_verify_detached(sig, msg, msg_len, pub) != 0)
		return SOTTO_ERR_AUTH;
	return SOTTO_OK;
}

void ed25519_keypair_clear(struct ed25519_keypair *kp)
{
	sodium_memzero(kp, sizeof(*kp));
}
