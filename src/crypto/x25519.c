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

/* The small-order u-coordinates, little-endian, bit 255 clear. */
static const uint8_t SMALL_ORDER[][X25519_KEY_LEN] = {
        {0x00}, /* 0 */
        {0x01}, /* 1 */
        {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
         0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
         0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00}, /* order 8 */
        {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1,
         0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c,
         0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57}, /* order 8 */
        {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* p - 1 */
        {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* p, i.e. 0 */
        {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* p + 1, i.e. 1 */
};

bool x25519_is_low_order(const uint8_t pub[static X25519_KEY_LEN])
{
	unsigned match = 0;

	/* Every byte of every entry is compared: the time does not depend on pub. */
	for (size_t i = 0; i < sizeof(SMALL_ORDER) / sizeof(SMALL_ORDER[0]); i++) {
		unsigned diff = 0;
		for (size_t j = 0; j < X25519_KEY_LEN - 1; j++)
			diff |= (unsigned)(pub[j] ^ SMALL_ORDER[i][j]);
		diff |= (unsigned)((pub[X25519_KEY_LEN - 1] & 0x7f) ^
		                   SMALL_ORDER[i][X25519_KEY_LEN - 1]);
		match |= (diff - 1) >> 8 & 1; /* 1 when diff is 0 */
	}
	return match != 0;
}
