/* SPDX-License-Identifier: MIT */
/*
 * aead_test.c - both AEAD ciphers: round trips (separate buffers and in
 * place), and rejection of every single-bit flip of ciphertext, tag, AD and
 * nonce, every truncation, and a wrong key, each with the output zeroed.
 * The published vectors are in crypto_vectors_test.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/aead.h"
#include "test_util.h"

typedef sotto_err aead_fn(uint8_t *out, const uint8_t *in, size_t in_len, const uint8_t *ad,
                          size_t ad_len, const uint8_t *nonce, const uint8_t *key);

struct variant {
	const char *name;
	aead_fn *encrypt;
	aead_fn *decrypt;
	size_t nonce_len;
};

static const struct variant variants[] = {
        {"ietf", aead_ietf_encrypt, aead_ietf_decrypt, AEAD_IETF_NONCE_LEN},
        {"x", aead_x_encrypt, aead_x_decrypt, AEAD_X_NONCE_LEN},
};

enum { PT_LEN = 61, AD_LEN = 13, CT_LEN = PT_LEN + AEAD_TAG_LEN, POISON = 0xa5 };

struct fixture {
	uint8_t key[AEAD_KEY_LEN];
	uint8_t nonce[AEAD_X_NONCE_LEN];
	uint8_t ad[AD_LEN];
	uint8_t pt[PT_LEN];
	uint8_t ct[CT_LEN];
};

static void fixture_make(const struct variant *v, struct fixture *f)
{
	for (size_t i = 0; i < sizeof(f->key); i++)
		f->key[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(f->nonce); i++)
		f->nonce[i] = (uint8_t)(i * 5 + 2);
	for (size_t i = 0; i < sizeof(f->ad); i++)
		f->ad[i] = (uint8_t)(i * 3 + 3);
	for (size_t i = 0; i < sizeof(f->pt); i++)
		f->pt[i] = (uint8_t)(i * 11 + 4);
	assert_int_equal(v->encrypt(f->ct, f->pt, PT_LEN, f->ad, AD_LEN, f->nonce, f->key),
	                 SOTTO_OK);
}

/* Decrypting must fail with SOTTO_ERR_AUTH and leave the plaintext area zeroed. */
static void expect_auth_fail(const struct variant *v, const uint8_t *ct, size_t ct_len,
                             const uint8_t *ad, size_t ad_len, const uint8_t *nonce,
                             const uint8_t *key)
{
	uint8_t out[CT_LEN];
	size_t out_len = ct_len >= AEAD_TAG_LEN ? ct_len - AEAD_TAG_LEN : 0;

	memset(out, POISON, sizeof(out));
	assert_int_equal(v->decrypt(out, ct, ct_len, ad, ad_len, nonce, key), SOTTO_ERR_AUTH);
	for (size_t i = 0; i < out_len; i++)
		assert_int_equal(out[i], 0);
	for (size_t i = out_len; i < sizeof(out); i++)
		assert_int_equal(out[i], POISON);
}

static void aead__round_trip__separate_buffers(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < 2; vi++) {
		const struct variant *v = &variants[vi];
		struct fixture f;
		uint8_t back[PT_LEN];

		fixture_make(v, &f);
		assert_memory_not_equal(f.ct, f.pt, PT_LEN);
		assert_int_equal(v->decrypt(back, f.ct, CT_LEN, f.ad, AD_LEN, f.nonce, f.key),
		                 SOTTO_OK);
		assert_memory_equal(back, f.pt, PT_LEN);
	}
}

static void aead__round_trip__empty_plaintext_and_ad(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < 2; vi++) {
		const struct variant *v = &variants[vi];
		struct fixture f;
		uint8_t tag[AEAD_TAG_LEN], back[1] = {POISON};

		fixture_make(v, &f);
		assert_int_equal(v->encrypt(tag, back, 0, NULL, 0, f.nonce, f.key), SOTTO_OK);
		assert_int_equal(v->decrypt(back, tag, sizeof(tag), NULL, 0, f.nonce, f.key),
		                 SOTTO_OK);
		assert_int_equal(back[0], POISON);
		tag[0] ^= 1;
		expect_auth_fail(v, tag, sizeof(tag), NULL, 0, f.nonce, f.key);
	}
}

static void aead__round_trip__in_place(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < 2; vi++) {
		const struct variant *v = &variants[vi];
		struct fixture f;
		uint8_t buf[CT_LEN];

		fixture_make(v, &f);
		memcpy(buf, f.pt, PT_LEN);
		assert_int_equal(v->encrypt(buf, buf, PT_LEN, f.ad, AD_LEN, f.nonce, f.key),
		                 SOTTO_OK);
		assert_memory_equal(buf, f.ct, CT_LEN);
		assert_int_equal(v->decrypt(buf, buf, CT_LEN, f.ad, AD_LEN, f.nonce, f.key),
		                 SOTTO_OK);
		assert_memory_equal(buf, f.pt, PT_LEN);
	}
}

static void aead_decrypt__auth__in_place_tampered(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < 2; vi++) {
		const struct variant *v = &variants[vi];
		struct fixture f;
		uint8_t buf[CT_LEN];

		fixture_make(v, &f);
		memcpy(buf, f.ct, CT_LEN);
		buf[CT_LEN - 1] ^= 0x80;
		assert_int_equal(v->decrypt(buf, buf, CT_LEN, f.ad, AD_LEN, f.nonce, f.key),
		                 SOTTO_ERR_AUTH);
		for (size_t i = 0; i < PT_LEN; i++)
			assert_int_equal(buf[i], 0);
	}
}

static void aead_decrypt__auth__every_ciphertext_and_tag_bit_flip(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < 2; vi++) {
		const struct variant *v = &variants[vi];
		struct fixture f;

		fixture_make(v, &f);
		for (size_t bit = 0; bit < CT_LEN * 8; bit++) {
			f.ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			expect_auth_fail(v, f.ct, CT_LEN, f.ad, AD_LEN, f.nonce, f.key);
			f.ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	}
}

static void aead_decrypt__auth__every_ad_bit_flip(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < 2; vi++) {
		const struct variant *v = &variants[vi];
		struct fixture f;

		fixture_make(v, &f);
		for (size_t bit = 0; bit < AD_LEN * 8; bit++) {
			f.ad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			expect_auth_fail(v, f.ct, CT_LEN, f.ad, AD_LEN, f.nonce, f.key);
			f.ad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		/* Dropping or extending the AD also fails. */
		expect_auth_fail(v, f.ct, CT_LEN, f.ad, AD_LEN - 1, f.nonce, f.key);
		expect_auth_fail(v, f.ct, CT_LEN, NULL, 0, f.nonce, f.key);
	}
}

static void aead_decrypt__auth__every_truncation(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < 2; vi++) {
		const struct variant *v = &variants[vi];
		struct fixture f;

		fixture_make(v, &f);
		for (size_t len = 0; len < CT_LEN; len++)
			expect_auth_fail(v, f.ct, len, f.ad, AD_LEN, f.nonce, f.key);
	}
}

static void aead_decrypt__auth__wrong_nonce(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < 2; vi++) {
		const struct variant *v = &variants[vi];
		struct fixture f;

		fixture_make(v, &f);
		for (size_t bit = 0; bit < v->nonce_len * 8; bit++) {
			f.nonce[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			expect_auth_fail(v, f.ct, CT_LEN, f.ad, AD_LEN, f.nonce, f.key);
			f.nonce[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	}
}

static void aead_decrypt__auth__wrong_key(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < 2; vi++) {
		const struct variant *v = &variants[vi];
		struct fixture f;

		fixture_make(v, &f);
		for (size_t bit = 0; bit < AEAD_KEY_LEN * 8; bit++) {
			f.key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			expect_auth_fail(v, f.ct, CT_LEN, f.ad, AD_LEN, f.nonce, f.key);
			f.key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	}
}

/* A ciphertext made with one cipher does not open under the other. */
static void aead_decrypt__auth__other_variant(void **state)
{
	struct fixture f;
	(void)state;

	fixture_make(&variants[0], &f);
	expect_auth_fail(&variants[1], f.ct, CT_LEN, f.ad, AD_LEN, f.nonce, f.key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(aead__round_trip__separate_buffers),
	        cmocka_unit_test(aead__round_trip__empty_plaintext_and_ad),
	        cmocka_unit_test(aead__round_trip__in_place),
	        cmocka_unit_test(aead_decrypt__auth__in_place_tampered),
	        cmocka_unit_test(aead_decrypt__auth__every_ciphertext_and_tag_bit_flip),
	        cmocka_unit_test(aead_decrypt__auth__every_ad_bit_flip),
	        cmocka_unit_test(aead_decrypt__auth__every_truncation),
	        cmocka_unit_test(aead_decrypt__auth__wrong_nonce),
	        cmocka_unit_test(aead_decrypt__auth__wrong_key),
	        cmocka_unit_test(aead_decrypt__auth__other_variant),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
