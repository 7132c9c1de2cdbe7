/* SPDX-License-Identifier: MIT */
/*
 * crypto_vectors_test.c - the crypto layer against published known answers:
 * the BLAKE2b reference KAT and Wycheproof HKDF-SHA-256 (JSON files under
 * tests/vectors), and the RFC examples written in below with their sections:
 * RFC 7748 (X25519), RFC 8032 (Ed25519), RFC 8439 and draft-irtf-cfrg-xchacha
 * (AEAD), RFC 4231 (HMAC-SHA-256).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/aead.h"
#include "crypto/ed25519.h"
#include "crypto/hash.h"
#include "crypto/x25519.h"
#include "test_util.h"

/* --- BLAKE2b reference KAT (blake2-kat.json: 256 unkeyed + 256 keyed) --- */

static void blake2b__matches_kat__reference_vectors(void **state)
{
	json_t *root = tu_load_vectors("blake2b/blake2b-kat.json");
	size_t n_unkeyed = 0, n_keyed = 0, i;
	json_t *e;
	(void)state;

	assert_true(json_is_array(root));
	json_array_foreach(root, i, e)
	{
		size_t in_len, key_len, want_len;
		uint8_t got[BLAKE2B_LEN];

		assert_string_equal(json_string_value(json_object_get(e, "hash")), "blake2b");
		uint8_t *in = tu_hex(json_string_value(json_object_get(e, "in")), &in_len);
		uint8_t *key = tu_hex(json_string_value(json_object_get(e, "key")), &key_len);
		uint8_t *want = tu_hex(json_string_value(json_object_get(e, "out")), &want_len);
		assert_int_equal(want_len, BLAKE2B_LEN);
		assert_int_equal(blake2b(got, sizeof(got), in, in_len, key, key_len), SOTTO_OK);
		assert_memory_equal(got, want, BLAKE2B_LEN);
		if (key_len == 0)
			n_unkeyed++;
		else
			n_keyed++;
		free(in);
		free(key);
		free(want);
	}
	print_message("BLAKE2b KAT: %zu unkeyed + %zu keyed passed\n", n_unkeyed, n_keyed);
	assert_int_equal(n_unkeyed, 256);
	assert_int_equal(n_keyed, 256);
	assert_int_equal(n_unkeyed + n_keyed, 512);
	json_decref(root);
}

/* --- Wycheproof HKDF-SHA-256 (86 cases: valid ones give okm, SizeTooLarge fails) --- */

static void hkdf_case(json_t *t, size_t *n_valid, size_t *n_invalid)
{
	size_t ikm_len, salt_len, info_len, okm_len;
	const char *result = json_string_value(json_object_get(t, "result"));
	size_t size = (size_t)json_integer_value(json_object_get(t, "size"));
	uint8_t *ikm = tu_hex(json_string_value(json_object_get(t, "ikm")), &ikm_len);
	uint8_t *salt = tu_hex(json_string_value(json_object_get(t, "salt")), &salt_len);
	uint8_t *info = tu_hex(json_string_value(json_object_get(t, "info")), &info_len);
	uint8_t *okm = tu_hex(json_string_value(json_object_get(t, "okm")), &okm_len);
	uint8_t *got = malloc(size);

	assert_non_null(got);
	sotto_err rc = hkdf_sha256(got, size, salt, salt_len, ikm, ikm_len, info, info_len);
	if (strcmp(result, "valid") == 0) {
		assert_int_equal(rc, SOTTO_OK);
		assert_int_equal(okm_len, size);
		assert_memory_equal(got, okm, size);
		(*n_valid)++;
	} else {
		assert_string_equal(result, "invalid");
		assert_true(size > HKDF_SHA256_OUT_MAX);
		assert_int_equal(rc, SOTTO_ERR_TOO_LARGE);
		(*n_invalid)++;
	}
	free(ikm);
	free(salt);
	free(info);
	free(okm);
	free(got);
}

static void hkdf_sha256__matches_wycheproof__all_cases(void **state)
{
	json_t *root = tu_load_vectors("hkdf/wycheproof_hkdf_sha256_test.json");
	json_t *groups = json_object_get(root, "testGroups");
	size_t n_valid = 0, n_invalid = 0, gi, ti;
	json_t *g, *t;
	(void)state;

	json_array_foreach(groups, gi, g)
	{
		json_array_foreach(json_object_get(g, "tests"), ti, t)
		{
			hkdf_case(t, &n_valid, &n_invalid);
		}
	}
	print_message("HKDF-SHA-256 Wycheproof: %zu valid + %zu invalid passed\n", n_valid,
	              n_invalid);
	assert_int_equal(n_valid + n_invalid,
	                 (size_t)json_integer_value(json_object_get(root, "numberOfTests")));
	assert_int_equal(n_valid + n_invalid, 86);
	assert_int_equal(n_valid, 83);
	assert_int_equal(n_invalid, 3);
	json_decref(root);
}

/* --- RFC 7748 §5.2: X25519 test vectors --- */

static void x25519__matches_rfc7748__section_5_2_vectors(void **state)
{
	static const struct {
		const char *scalar, *u, *out;
	} v[] = {
	        {"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
	         "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
	         "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
	        /* The u-coordinate's top bit is set; X25519 must mask it. */
	        {"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
	         "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
	         "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t k[32], u[32], want[32], got[32];
		tu_hex_fixed(v[i].scalar, k, sizeof(k));
		tu_hex_fixed(v[i].u, u, sizeof(u));
		tu_hex_fixed(v[i].out, want, sizeof(want));
		assert_int_equal(x25519_dh(got, k, u), SOTTO_OK);
		assert_memory_equal(got, want, sizeof(want));
	}
	print_message("RFC 7748 section 5.2: 2 vectors passed\n");
}

/* RFC 7748 §5.2 iterated test: k = u = 9; repeat (k, u) = (X25519(k, u), k). */
static void x25519__matches_rfc7748__iterated_1_and_1000(void **state)
{
	uint8_t k[32] = {9}, u[32] = {9}, r[32], want1[32], want1000[32];
	(void)state;

	tu_hex_fixed("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079", want1,
	             sizeof(want1));
	tu_hex_fixed("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51", want1000,
	             sizeof(want1000));
	for (int i = 1; i <= 1000; i++) {
		assert_int_equal(x25519_dh(r, k, u), SOTTO_OK);
		memcpy(u, k, sizeof(u));
		memcpy(k, r, sizeof(k));
		if (i == 1)
			assert_memory_equal(k, want1, sizeof(k));
	}
	assert_memory_equal(k, want1000, sizeof(k));
	print_message("RFC 7748 section 5.2: iterated 1 and 1000 passed\n");
}

/* --- RFC 7748 §6.1: Alice and Bob --- */

static const char RFC7748_ALICE_PRIV[] =
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
static const char RFC7748_ALICE_PUB[] =
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
static const char RFC7748_BOB_PRIV[] =
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
static const char RFC7748_BOB_PUB[] =
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
static const char RFC7748_SHARED[] =
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

static void x25519__matches_rfc7748__section_6_1_exchange(void **state)
{
	uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32], want[32], s1[32], s2[32];
	struct x25519_keypair a, b;
	(void)state;

	tu_hex_fixed(RFC7748_ALICE_PRIV, a_priv, 32);
	tu_hex_fixed(RFC7748_ALICE_PUB, a_pub, 32);
	tu_hex_fixed(RFC7748_BOB_PRIV, b_priv, 32);
	tu_hex_fixed(RFC7748_BOB_PUB, b_pub, 32);
	tu_hex_fixed(RFC7748_SHARED, want, 32);
	assert_int_equal(x25519_keypair_from_private(a_priv, &a), SOTTO_OK);
	assert_int_equal(x25519_keypair_from_private(b_priv, &b), SOTTO_OK);
	assert_memory_equal(a.pub, a_pub, 32);
	assert_memory_equal(b.pub, b_pub, 32);
	assert_memory_equal(a.priv, a_priv, 32);
	assert_int_equal(x25519_dh(s1, a.priv, b.pub), SOTTO_OK);
	assert_int_equal(x25519_dh(s2, b.priv, a.pub), SOTTO_OK);
	assert_memory_equal(s1, want, 32);
	assert_memory_equal(s2, want, 32);
	x25519_keypair_clear(&a);
	x25519_keypair_clear(&b);
	print_message("RFC 7748 section 6.1: keys and shared secret passed\n");
}

/* RFC 7748 §6.1 keys through a scripted RNG: generation is the RFC's derivation. */
static void x25519_keypair_generate__matches_rfc7748__scripted_rng(void **state)
{
	struct tu_rng rng;
	uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32];
	struct x25519_keypair a, b;
	(void)state;

	tu_hex_fixed(RFC7748_ALICE_PRIV, a_priv, 32);
	tu_hex_fixed(RFC7748_ALICE_PUB, a_pub, 32);
	tu_hex_fixed(RFC7748_BOB_PRIV, b_priv, 32);
	tu_hex_fixed(RFC7748_BOB_PUB, b_pub, 32);
	tu_rng_init(&rng, 1);
	tu_rng_push(&rng, a_priv, 32);
	tu_rng_push(&rng, b_priv, 32);
	sotto_ctx *ctx = tu_ctx(NULL, &rng, NULL);
	x25519_keypair_generate(ctx, &a);
	x25519_keypair_generate(ctx, &b);
	assert_memory_equal(a.priv, a_priv, 32);
	assert_memory_equal(a.pub, a_pub, 32);
	assert_memory_equal(b.priv, b_priv, 32);
	assert_memory_equal(b.pub, b_pub, 32);
	x25519_keypair_clear(&a);
	x25519_keypair_clear(&b);
	sotto_ctx_free(ctx);
}

/* --- RFC 8032 §7.1: Ed25519 TEST 1, 2, 3 --- */

static const struct {
	const char *name, *seed, *pub, *msg, *sig;
} rfc8032[] = {
        {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
         "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
        {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
         "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
        {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
         "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
         "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290"
         "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

/* Every single-bit flip of the signature, message and public key must fail. */
static void ed25519_expect_flips_fail(uint8_t sig[64], uint8_t *msg, size_t msg_len,
                                      uint8_t pub[32])
{
	for (size_t bit = 0; bit < 64 * 8; bit++) {
		sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(ed25519_verify(sig, msg, msg_len, pub), SOTTO_ERR_AUTH);
		sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (size_t bit = 0; bit < msg_len * 8; bit++) {
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(ed25519_verify(sig, msg, msg_len, pub), SOTTO_ERR_AUTH);
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (size_t bit = 0; bit < 32 * 8; bit++) {
		pub[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(ed25519_verify(sig, msg, msg_len, pub), SOTTO_ERR_AUTH);
		pub[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_int_equal(ed25519_verify(sig, msg, msg_len, pub), SOTTO_OK);
}

static void ed25519__matches_rfc8032__section_7_1_tests_1_to_3(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(rfc8032) / sizeof(rfc8032[0]); i++) {
		uint8_t seed[32], pub[32], want_sig[64], sig[64];
		struct ed25519_keypair kp;
		size_t msg_len;

		tu_hex_fixed(rfc8032[i].seed, seed, sizeof(seed));
		tu_hex_fixed(rfc8032[i].pub, pub, sizeof(pub));
		tu_hex_fixed(rfc8032[i].sig, want_sig, sizeof(want_sig));
		uint8_t *msg = tu_hex(rfc8032[i].msg, &msg_len);

		assert_int_equal(ed25519_keypair_from_seed(seed, &kp), SOTTO_OK);
		assert_memory_equal(kp.pub, pub, sizeof(pub));
		assert_memory_equal(kp.priv, seed, sizeof(seed));
		assert_int_equal(ed25519_sign(sig, msg, msg_len, &kp), SOTTO_OK);
		assert_memory_equal(sig, want_sig, sizeof(sig));
		assert_int_equal(ed25519_verify(sig, msg, msg_len, pub), SOTTO_OK);
		ed25519_expect_flips_fail(sig, msg, msg_len, pub);
		ed25519_keypair_clear(&kp);
		free(msg);
		print_message("RFC 8032 section 7.1 %s passed\n", rfc8032[i].name);
	}
}

/* The RFC's keys are seeds, so a scripted RNG reproduces TEST 1's key pair. */
static void ed25519_keypair_generate__matches_rfc8032__scripted_rng(void **state)
{
	struct tu_rng rng;
	uint8_t seed[32], pub[32];
	struct ed25519_keypair kp;
	(void)state;

	tu_hex_fixed(rfc8032[0].seed, seed, sizeof(seed));
	tu_hex_fixed(rfc8032[0].pub, pub, sizeof(pub));
	tu_rng_init(&rng, 2);
	tu_rng_push(&rng, seed, sizeof(seed));
	sotto_ctx *ctx = tu_ctx(NULL, &rng, NULL);
	ed25519_keypair_generate(ctx, &kp);
	assert_memory_equal(kp.pub, pub, sizeof(pub));
	assert_memory_equal(kp.priv, seed, sizeof(seed));
	assert_memory_equal(kp.priv + 32, pub, sizeof(pub));
	ed25519_keypair_clear(&kp);
	sotto_ctx_free(ctx);
}

/* --- RFC 8439 §2.8.2 and draft-irtf-cfrg-xchacha-03 §A.3.1: AEAD --- */

static const char SUNSCREEN[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
                                "only one tip for the future, sunscreen would be it.";
static const char AEAD_KEY_HEX[] =
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
static const char AEAD_AAD_HEX[] = "50515253c0c1c2c3c4c5c6c7";

static void aead_check_vector(bool x, const char *nonce_hex, const char *ct_hex,
                              const char *tag_hex)
{
	const size_t pt_len = sizeof(SUNSCREEN) - 1;
	uint8_t key[32], aad[12], nonce[24], want[114 + 16], got[114 + 16], back[114];
	size_t nonce_len = x ? AEAD_X_NONCE_LEN : AEAD_IETF_NONCE_LEN;

	assert_int_equal(pt_len, 114);
	tu_hex_fixed(AEAD_KEY_HEX, key, sizeof(key));
	tu_hex_fixed(AEAD_AAD_HEX, aad, sizeof(aad));
	tu_hex_fixed(nonce_hex, nonce, nonce_len);
	tu_hex_fixed(ct_hex, want, pt_len);
	tu_hex_fixed(tag_hex, want + pt_len, AEAD_TAG_LEN);
	const uint8_t *pt = (const uint8_t *)SUNSCREEN;
	if (x) {
		assert_int_equal(aead_x_encrypt(got, pt, pt_len, aad, 12, nonce, key), SOTTO_OK);
		assert_int_equal(aead_x_decrypt(back, want, sizeof(want), aad, 12, nonce, key),
		                 SOTTO_OK);
	} else {
		assert_int_equal(aead_ietf_encrypt(got, pt, pt_len, aad, 12, nonce, key), SOTTO_OK);
		assert_int_equal(aead_ietf_decrypt(back, want, sizeof(want), aad, 12, nonce, key),
		                 SOTTO_OK);
	}
	assert_memory_equal(got, want, sizeof(want));
	assert_memory_equal(back, pt, pt_len);
}

static void aead_ietf__matches_rfc8439__section_2_8_2(void **state)
{
	(void)state;
	aead_check_vector(false, "070000004041424344454647",
	                  "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
	                  "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
	                  "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
	                  "3ff4def08e4b7a9de576d26586cec64b6116",
	                  "1ae10b594f09e26a7e902ecbd0600691");
	print_message("RFC 8439 section 2.8.2 passed\n");
}

static void aead_x__matches_xchacha_draft__section_a_3_1(void **state)
{
	(void)state;
	aead_check_vector(true, "404142434445464748494a4b4c4d4e4f5051525354555657",
	                  "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
	                  "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
	                  "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
	                  "21f9664c97637da9768812f615c68b13b52e",
	                  "c0875924c1c7987947deafd8780acf49");
	print_message("draft-irtf-cfrg-xchacha-03 A.3.1 passed\n");
}

/* --- RFC 4231 §4.2 (test case 1) and §4.7 (test case 6): HMAC-SHA-256 --- */

static void hmac_sha256__matches_rfc4231__cases_1_and_6(void **state)
{
	static const char tc6_data[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	uint8_t key1[20], key6[131], want[32], got[32];
	(void)state;

	memset(key1, 0x0b, sizeof(key1));
	tu_hex_fixed("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", want, 32);
	hmac_sha256(got, key1, sizeof(key1), (const uint8_t *)"Hi There", 8);
	assert_memory_equal(got, want, 32);

	memset(key6, 0xaa, sizeof(key6));
	tu_hex_fixed("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", want, 32);
	hmac_sha256(got, key6, sizeof(key6), (const uint8_t *)tc6_data, sizeof(tc6_data) - 1);
	assert_memory_equal(got, want, 32);
	print_message("RFC 4231 test cases 1 and 6 passed\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(blake2b__matches_kat__reference_vectors),
	        cmocka_unit_test(hkdf_sha256__matches_wycheproof__all_cases),
	        cmocka_unit_test(x25519__matches_rfc7748__section_5_2_vectors),
	        cmocka_unit_test(x25519__matches_rfc7748__iterated_1_and_1000),
	        cmocka_unit_test(x25519__matches_rfc7748__section_6_1_exchange),
	        cmocka_unit_test(x25519_keypair_generate__matches_rfc7748__scripted_rng),
	        cmocka_unit_test(ed25519__matches_rfc8032__section_7_1_tests_1_to_3),
	        cmocka_unit_test(ed25519_keypair_generate__matches_rfc8032__scripted_rng),
	        cmocka_unit_test(aead_ietf__matches_rfc8439__section_2_8_2),
	        cmocka_unit_test(aead_x__matches_xchacha_draft__section_a_3_1),
	        cmocka_unit_test(hmac_sha256__matches_rfc4231__cases_1_and_6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
