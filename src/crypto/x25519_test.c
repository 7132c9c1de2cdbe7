/* SPDX-License-Identifier: MIT */
/*
 * x25519_test.c - X25519 behaviour beyond the RFC vectors (those are in
 * crypto_vectors_test.c): low-order peer points are refused with a zeroed
 * output, key pairs agree, and the key-pair helpers tolerate aliasing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/ctx.h"
#include "crypto/x25519.h"
#include "test_util.h"

/*
 * u-coordinates whose point has small order on the curve or its twist, so
 * a clamped scalar (a multiple of 8) sends them to the all-zero output:
 * 0, 1, the two order-8 points, p - 1, and the non-canonical p and p + 1.
 */
static const char *const low_order[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

static void x25519_dh__weak_key__low_order_points(void **state)
{
	struct tu_rng rng;
	struct x25519_keypair kp;
	uint8_t u[X25519_KEY_LEN], shared[X25519_SHARED_LEN];
	(void)state;

	tu_rng_init(&rng, 11);
	sotto_ctx *ctx = tu_ctx(NULL, &rng, NULL);
	for (int k = 0; k < 4; k++) {
		x25519_keypair_generate(ctx, &kp);
		for (size_t i = 0; i < sizeof(low_order) / sizeof(low_order[0]); i++) {
			tu_hex_fixed(low_order[i], u, sizeof(u));
			memset(shared, 0xa5, sizeof(shared));
			assert_int_equal(x25519_dh(shared, kp.priv, u), SOTTO_ERR_WEAK_KEY);
			for (size_t j = 0; j < sizeof(shared); j++)
				assert_int_equal(shared[j], 0);
		}
	}
	x25519_keypair_clear(&kp);
	sotto_ctx_free(ctx);
}

/* The reference: the point is of small order iff a DH with it is refused. */
static bool dh_refuses(const uint8_t priv[static X25519_KEY_LEN],
                       const uint8_t u[static X25519_KEY_LEN])
{
	uint8_t shared[X25519_SHARED_LEN];

	return x25519_dh(shared, priv, u) == SOTTO_ERR_WEAK_KEY;
}

/*
 * x25519_is_low_order agrees with a DH: on every listed point with bit 255
 * clear and set, on every single-bit flip of each, and on random keys.
 */
static void x25519_is_low_order__agrees__with_dh(void **state)
{
	struct tu_rng rng;
	struct x25519_keypair kp;
	uint8_t u[X25519_KEY_LEN];
	size_t n_low = 0;
	(void)state;

	tu_rng_init(&rng, 12);
	sotto_ctx *ctx = tu_ctx(NULL, &rng, NULL);
	x25519_keypair_generate(ctx, &kp);
	for (size_t i = 0; i < sizeof(low_order) / sizeof(low_order[0]); i++) {
		tu_hex_fixed(low_order[i], u, sizeof(u));
		assert_true(x25519_is_low_order(u));
		u[X25519_KEY_LEN - 1] ^= 0x80;
		assert_true(x25519_is_low_order(u));
		for (size_t bit = 0; bit < X25519_KEY_LEN * 8; bit++) {
			u[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_int_equal(x25519_is_low_order(u), dh_refuses(kp.priv, u));
			n_low += x25519_is_low_order(u);
			u[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	}
	/*
	 * The flips that give a listed point: bit 255 back (7), and bit 0 or 1
	 * between 0 and 1 (2), p - 1 and p (2), p - 1 and p + 1 (2).
	 */
	assert_int_equal(n_low, 13);
	for (int k = 0; k < 2000; k++) {
		ctx_random(ctx, u, sizeof(u));
		assert_false(x25519_is_low_order(u));
		assert_false(dh_refuses(kp.priv, u));
	}
	x25519_keypair_clear(&kp);
	sotto_ctx_free(ctx);
}

static void x25519_dh__agrees__generated_pairs(void **state)
{
	struct tu_rng rng;
	struct x25519_keypair a, b;
	uint8_t s1[X25519_SHARED_LEN], s2[X25519_SHARED_LEN];
	(void)state;

	tu_rng_init(&rng, 12);
	sotto_ctx *ctx = tu_ctx(NULL, &rng, NULL);
	for (int i = 0; i < 16; i++) {
		x25519_keypair_generate(ctx, &a);
		x25519_keypair_generate(ctx, &b);
		assert_memory_not_equal(a.priv, b.priv, X25519_KEY_LEN);
		assert_int_equal(x25519_dh(s1, a.priv, b.pub), SOTTO_OK);
		assert_int_equal(x25519_dh(s2, b.priv, a.pub), SOTTO_OK);
		assert_memory_equal(s1, s2, sizeof(s1));
	}
	x25519_keypair_clear(&a);
	x25519_keypair_clear(&b);
	sotto_ctx_free(ctx);
}

static void x25519_keypair_from_private__same_result__priv_aliases_out(void **state)
{
	struct tu_rng rng;
	struct x25519_keypair want, kp;
	(void)state;

	tu_rng_init(&rng, 13);
	sotto_ctx *ctx = tu_ctx(NULL, &rng, NULL);
	x25519_keypair_generate(ctx, &want);
	memset(&kp, 0, sizeof(kp));
	memcpy(kp.priv, want.priv, X25519_KEY_LEN);
	assert_int_equal(x25519_keypair_from_private(kp.priv, &kp), SOTTO_OK);
	assert_memory_equal(&kp, &want, sizeof(kp));
	sotto_ctx_free(ctx);
}

static void x25519_keypair_clear__zeroes__whole_pair(void **state)
{
	struct x25519_keypair kp;
	(void)state;

	memset(&kp, 0x5a, sizeof(kp));
	x25519_keypair_clear(&kp);
	for (size_t i = 0; i < sizeof(kp.priv); i++)
		assert_int_equal(kp.priv[i], 0);
	for (size_t i = 0; i < sizeof(kp.pub); i++)
		assert_int_equal(kp.pub[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(x25519_dh__weak_key__low_order_points),
	        cmocka_unit_test(x25519_is_low_order__agrees__with_dh),
	        cmocka_unit_test(x25519_dh__agrees__generated_pairs),
	        cmocka_unit_test(x25519_keypair_from_private__same_result__priv_aliases_out),
	        cmocka_unit_test(x25519_keypair_clear__zeroes__whole_pair),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
