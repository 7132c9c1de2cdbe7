/* SPDX-License-Identifier: MIT */
/*
 * ed25519_test.c - Ed25519 behaviour beyond the RFC 8032 vectors (those are
 * in crypto_vectors_test.c): generated keys sign and verify, a signature does
 * not verify under another key or for another message, and clearing wipes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/ed25519.h"
#include "test_util.h"

static void ed25519__round_trip__generated_keys(void **state)
{
	struct tu_rng rng;
	struct ed25519_keypair a, b;
	uint8_t msg[100], sig[ED25519_SIG_LEN];
	(void)state;

	tu_rng_init(&rng, 21);
	sotto_ctx *ctx = tu_ctx(NULL, &rng, NULL);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	ed25519_keypair_generate(ctx, &a);
	ed25519_keypair_generate(ctx, &b);
	assert_memory_not_equal(a.pub, b.pub, ED25519_PUB_LEN);
	for (size_t len = 0; len <= sizeof(msg); len += 25) {
		assert_int_equal(ed25519_sign(sig, msg, len, &a), SOTTO_OK);
		assert_int_equal(ed25519_verify(sig, msg, len, a.pub), SOTTO_OK);
		assert_int_equal(ed25519_verify(sig, msg, len, b.pub), SOTTO_ERR_AUTH);
		if (len > 0)
			assert_int_equal(ed25519_verify(sig, msg, len - 1, a.pub), SOTTO_ERR_AUTH);
	}
	ed25519_keypair_clear(&a);
	ed25519_keypair_clear(&b);
	sotto_ctx_free(ctx);
}

static void ed25519_verify__auth__all_zero_signature_and_key(void **state)
{
	uint8_t sig[ED25519_SIG_LEN] = {0}, pub[ED25519_PUB_LEN] = {0};
	(void)state;

	assert_int_equal(ed25519_verify(sig, NULL, 0, pub), SOTTO_ERR_AUTH);
	pub[0] = 1; /* the identity point: small order */
	assert_int_equal(ed25519_verify(sig, NULL, 0, pub), SOTTO_ERR_AUTH);
}

static void ed25519_keypair_clear__zeroes__whole_pair(void **state)
{
	struct ed25519_keypair kp;
	(void)state;

	memset(&kp, 0x5a, sizeof(kp));
	ed25519_keypair_clear(&kp);
	for (size_t i = 0; i < sizeof(kp.priv); i++)
		assert_int_equal(kp.priv[i], 0);
	for (size_t i = 0; i < sizeof(kp.pub); i++)
		assert_int_equal(kp.pub[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ed25519__round_trip__generated_keys),
	        cmocka_unit_test(ed25519_verify__auth__all_zero_signature_and_key),
	        cmocka_unit_test(ed25519_keypair_clear__zeroes__whole_pair),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
