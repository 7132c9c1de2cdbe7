/* SPDX-License-Identifier: MIT */
/*
 * hash_test.c - BLAKE2b, HMAC and HKDF against independent computations:
 * HMAC-SHA-256 against libsodium's own, HMAC-BLAKE2b against a plain
 * ipad/opad construction written here, and Noise's HKDF against its
 * definition. The published vectors are in crypto_vectors_test.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/hash.h"
#include "test_util.h"

enum { KEY_LEN_SWEEP_MAX = 300 };

static const size_t msg_lens[] = {0, 1, 31, 32, 63, 64, 65, 127, 128, 129, 300};

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + 131 * i);
}

static void blake2b__invalid__bad_lengths(void **state)
{
	uint8_t out[65], key[65] = {0};
	(void)state;

	assert_int_equal(blake2b(out, 15, NULL, 0, NULL, 0), SOTTO_ERR_INVALID);
	assert_int_equal(blake2b(out, 65, NULL, 0, NULL, 0), SOTTO_ERR_INVALID);
	assert_int_equal(blake2b(out, 0, NULL, 0, NULL, 0), SOTTO_ERR_INVALID);
	assert_int_equal(blake2b(out, 64, NULL, 0, key, 65), SOTTO_ERR_INVALID);
	assert_int_equal(blake2b(out, 16, NULL, 0, key, 64), SOTTO_OK);
	assert_int_equal(blake2b(out, 64, NULL, 0, key, 1), SOTTO_OK);
}

static void blake2b_incremental__matches_oneshot__split_input(void **state)
{
	uint8_t msg[300], want[BLAKE2B_LEN], got[BLAKE2B_LEN];
	struct blake2b_state st;
	(void)state;

	fill(msg, sizeof(msg), 7);
	assert_int_equal(blake2b(want, sizeof(want), msg, sizeof(msg), NULL, 0), SOTTO_OK);
	for (size_t cut = 0; cut <= sizeof(msg); cut += 37) {
		blake2b_init(&st);
		blake2b_update(&st, msg, cut);
		blake2b_update(&st, msg + cut, sizeof(msg) - cut);
		blake2b_final(&st, got);
		assert_memory_equal(got, want, sizeof(want));
		/* final wipes the state */
		assert_true(sodium_is_zero((const unsigned char *)&st, sizeof(st)));
	}
}

static void hmac_sha256__matches_libsodium__key_lengths_0_to_300(void **state)
{
	uint8_t key[KEY_LEN_SWEEP_MAX], msg[300], want[32], got[32];
	crypto_auth_hmacsha256_state ref;
	(void)state;

	fill(msg, sizeof(msg), 3);
	for (size_t key_len = 0; key_len <= KEY_LEN_SWEEP_MAX; key_len++) {
		fill(key, key_len, (uint8_t)key_len);
		for (size_t m = 0; m < sizeof(msg_lens) / sizeof(msg_lens[0]); m++) {
			size_t msg_len = msg_lens[m];
			crypto_auth_hmacsha256_init(&ref, key, key_len);
			crypto_auth_hmacsha256_update(&ref, msg, msg_len);
			crypto_auth_hmacsha256_final(&ref, want);
			hmac_sha256(got, key, key_len, msg, msg_len);
			assert_memory_equal(got, want, sizeof(want));
		}
	}
}

/* HMAC-BLAKE2b the textbook way (RFC 2104 §2), sharing no code with hash.c. */
static void ref_hmac_blake2b(uint8_t out[64], const uint8_t *key, size_t key_len,
                             const uint8_t *msg, size_t msg_len)
{
	uint8_t k[128] = {0}, pad[128], inner[64];
	crypto_generichash_state st;

	if (key_len > 128)
		crypto_generichash(k, 64, key, key_len, NULL, 0);
	else if (key_len > 0)
		memcpy(k, key, key_len);
	for (size_t i = 0; i < 128; i++)
		pad[i] = (uint8_t)(k[i] ^ 0x36);
	crypto_generichash_init(&st, NULL, 0, 64);
	crypto_generichash_update(&st, pad, 128);
	crypto_generichash_update(&st, msg, msg_len);
	crypto_generichash_final(&st, inner, 64);
	for (size_t i = 0; i < 128; i++)
		pad[i] = (uint8_t)(k[i] ^ 0x5c);
	crypto_generichash_init(&st, NULL, 0, 64);
	crypto_generichash_update(&st, pad, 128);
	crypto_generichash_update(&st, inner, 64);
	crypto_generichash_final(&st, out, 64);
}

static void hmac_blake2b__matches_reference__key_lengths_0_to_300(void **state)
{
	uint8_t key[KEY_LEN_SWEEP_MAX], msg[300], want[64], got[64];
	(void)state;

	fill(msg, sizeof(msg), 5);
	for (size_t key_len = 0; key_len <= KEY_LEN_SWEEP_MAX; key_len++) {
		fill(key, key_len, (uint8_t)(key_len * 3));
		for (size_t m = 0; m < sizeof(msg_lens) / sizeof(msg_lens[0]); m++) {
			size_t msg_len = msg_lens[m];
			ref_hmac_blake2b(want, key, key_len, msg, msg_len);
			hmac_blake2b(got, key, key_len, msg, msg_len);
			assert_memory_equal(got, want, sizeof(want));
		}
	}
}

static void hmac_blake2b__aliasing_ok__out_is_key(void **state)
{
	uint8_t key[64], msg[10], want[64];
	(void)state;

	fill(key, sizeof(key), 9);
	fill(msg, sizeof(msg), 1);
	ref_hmac_blake2b(want, key, sizeof(key), msg, sizeof(msg));
	hmac_blake2b(key, key, sizeof(key), msg, sizeof(msg));
	assert_memory_equal(key, want, sizeof(want));
}

static void hkdf__invalid__zero_length(void **state)
{
	uint8_t okm[1] = {0x5a}, ikm[4] = {1, 2, 3, 4};
	(void)state;

	assert_int_equal(hkdf_sha256(okm, 0, NULL, 0, ikm, 4, NULL, 0), SOTTO_ERR_INVALID);
	assert_int_equal(hkdf_blake2b(okm, 0, NULL, 0, ikm, 4, NULL, 0), SOTTO_ERR_INVALID);
	assert_int_equal(okm[0], 0x5a);
}

static void hkdf__too_large__above_255_blocks(void **state)
{
	uint8_t *okm = malloc(HKDF_BLAKE2B_OUT_MAX + 1);
	uint8_t ikm[4] = {1, 2, 3, 4};
	(void)state;

	assert_non_null(okm);
	assert_int_equal(hkdf_sha256(okm, HKDF_SHA256_OUT_MAX, NULL, 0, ikm, 4, NULL, 0), SOTTO_OK);
	assert_int_equal(hkdf_sha256(okm, HKDF_SHA256_OUT_MAX + 1, NULL, 0, ikm, 4, NULL, 0),
	                 SOTTO_ERR_TOO_LARGE);
	assert_int_equal(hkdf_blake2b(okm, HKDF_BLAKE2B_OUT_MAX, NULL, 0, ikm, 4, NULL, 0),
	                 SOTTO_OK);
	assert_int_equal(hkdf_blake2b(okm, HKDF_BLAKE2B_OUT_MAX + 1, NULL, 0, ikm, 4, NULL, 0),
	                 SOTTO_ERR_TOO_LARGE);
	free(okm);
}

/* RFC 5869 with HMAC-BLAKE2b, spelled out block by block with the reference HMAC. */
static void hkdf_blake2b__matches_reference__three_blocks(void **state)
{
	uint8_t salt[20], ikm[50], info[7], prk[64], t[64] = {0}, buf[64 + 7 + 1], want[150];
	uint8_t got[150];
	size_t done = 0, t_len = 0;
	(void)state;

	fill(salt, sizeof(salt), 11);
	fill(ikm, sizeof(ikm), 12);
	fill(info, sizeof(info), 13);
	ref_hmac_blake2b(prk, salt, sizeof(salt), ikm, sizeof(ikm));
	for (uint8_t i = 1; done < sizeof(want); i++) {
		memcpy(buf, t, t_len);
		memcpy(buf + t_len, info, sizeof(info));
		buf[t_len + sizeof(info)] = i;
		ref_hmac_blake2b(t, prk, 64, buf, t_len + sizeof(info) + 1);
		t_len = 64;
		size_t n = sizeof(want) - done < 64 ? sizeof(want) - done : 64;
		memcpy(want + done, t, n);
		done += n;
	}
	assert_int_equal(hkdf_blake2b(got, sizeof(got), salt, sizeof(salt), ikm, sizeof(ikm), info,
	                              sizeof(info)),
	                 SOTTO_OK);
	assert_memory_equal(got, want, sizeof(want));
}

/* Noise rev 34 §4.3, written out: temp = HMAC(ck, ikm); out_i = HMAC(temp, out_{i-1} || i). */
static void hkdf_noise__matches_definition__two_and_three_outputs(void **state)
{
	uint8_t ck[64], ikm[32], temp[64], w1[64], w2[64], w3[64], buf[65];
	uint8_t o1[64], o2[64], o3[64], rfc[192];
	(void)state;

	fill(ck, sizeof(ck), 21);
	fill(ikm, sizeof(ikm), 22);
	hmac_blake2b(temp, ck, 64, ikm, sizeof(ikm));
	buf[0] = 0x01;
	hmac_blake2b(w1, temp, 64, buf, 1);
	memcpy(buf, w1, 64);
	buf[64] = 0x02;
	hmac_blake2b(w2, temp, 64, buf, 65);
	memcpy(buf, w2, 64);
	buf[64] = 0x03;
	hmac_blake2b(w3, temp, 64, buf, 65);

	hkdf_noise(ck, ikm, sizeof(ikm), o1, o2, NULL);
	assert_memory_equal(o1, w1, 64);
	assert_memory_equal(o2, w2, 64);
	hkdf_noise(ck, ikm, sizeof(ikm), o1, o2, o3);
	assert_memory_equal(o1, w1, 64);
	assert_memory_equal(o2, w2, 64);
	assert_memory_equal(o3, w3, 64);
	/* ... which is RFC 5869 with salt = ck and empty info. */
	assert_int_equal(hkdf_blake2b(rfc, sizeof(rfc), ck, 64, ikm, sizeof(ikm), NULL, 0),
	                 SOTTO_OK);
	assert_memory_equal(rfc, w1, 64);
	assert_memory_equal(rfc + 64, w2, 64);
	assert_memory_equal(rfc + 128, w3, 64);
	/* Empty ikm (Noise's Split) works too. */
	hmac_blake2b(temp, ck, 64, NULL, 0);
	buf[0] = 0x01;
	hmac_blake2b(w1, temp, 64, buf, 1);
	hkdf_noise(ck, NULL, 0, o1, o2, NULL);
	assert_memory_equal(o1, w1, 64);
}

/* MixKey writes output1 over ck: outputs may alias the chaining key. */
static void hkdf_noise__aliasing_ok__out1_is_ck(void **state)
{
	uint8_t ck[64], ikm[64], w1[64], w2[64];
	(void)state;

	fill(ck, sizeof(ck), 31);
	fill(ikm, sizeof(ikm), 32);
	hkdf_noise(ck, ikm, sizeof(ikm), w1, w2, NULL);
	hkdf_noise(ck, ikm, sizeof(ikm), ck, ikm, NULL);
	assert_memory_equal(ck, w1, 64);
	assert_memory_equal(ikm, w2, 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(blake2b__invalid__bad_lengths),
	        cmocka_unit_test(blake2b_incremental__matches_oneshot__split_input),
	        cmocka_unit_test(hmac_sha256__matches_libsodium__key_lengths_0_to_300),
	        cmocka_unit_test(hmac_blake2b__matches_reference__key_lengths_0_to_300),
	        cmocka_unit_test(hmac_blake2b__aliasing_ok__out_is_key),
	        cmocka_unit_test(hkdf__invalid__zero_length),
	        cmocka_unit_test(hkdf__too_large__above_255_blocks),
	        cmocka_unit_test(hkdf_blake2b__matches_reference__three_blocks),
	        cmocka_unit_test(hkdf_noise__matches_definition__two_and_three_outputs),
	        cmocka_unit_test(hkdf_noise__aliasing_ok__out1_is_ck),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
