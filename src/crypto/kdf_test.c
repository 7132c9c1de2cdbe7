/* SPDX-License-Identifier: MIT */
/*
 * kdf_test.c - kdf_chain and kdf_derive against the constructions kdf.h
 * documents, computed here directly with libsodium; aliasing; rejection of
 * bad lengths; separation of labels and contexts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/kdf.h"
#include "test_util.h"

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 17 + 29 * i);
}

static void kdf_chain__matches_blake2b__key_chain_input_0x01(void **state)
{
	uint8_t ck[KDF_KEY_LEN], want[64], mk[KDF_KEY_LEN], next[KDF_KEY_LEN];
	const uint8_t one = 0x01;
	(void)state;

	for (uint8_t s = 0; s < 8; s++) {
		fill(ck, sizeof(ck), s);
		crypto_generichash(want, 64, &one, 1, ck, sizeof(ck));
		kdf_chain(ck, mk, next);
		assert_memory_equal(mk, want, KDF_KEY_LEN);
		assert_memory_equal(next, want + KDF_KEY_LEN, KDF_KEY_LEN);
		assert_memory_not_equal(mk, next, KDF_KEY_LEN);
	}
}

static void kdf_chain__same_result__next_aliases_chain_key(void **state)
{
	uint8_t ck[KDF_KEY_LEN], mk1[KDF_KEY_LEN], next1[KDF_KEY_LEN], mk2[KDF_KEY_LEN];
	(void)state;

	fill(ck, sizeof(ck), 40);
	for (int step = 0; step < 5; step++) {
		kdf_chain(ck, mk1, next1);
		kdf_chain(ck, mk2, ck);
		assert_memory_equal(mk2, mk1, KDF_KEY_LEN);
		assert_memory_equal(ck, next1, KDF_KEY_LEN);
	}
}

/* kdf.h: out = BLAKE2b(key, len(label) || label || context) with out_len bytes. */
static void ref_derive(uint8_t *out, size_t out_len, const uint8_t *key, const char *label,
                       const uint8_t *context, size_t context_len)
{
	uint8_t in[1 + KDF_LABEL_MAX + 64];
	size_t label_len = strlen(label);

	assert_true(context_len <= 64);
	in[0] = (uint8_t)label_len;
	memcpy(in + 1, label, label_len);
	if (context_len > 0)
		memcpy(in + 1 + label_len, context, context_len);
	crypto_generichash(out, out_len, in, 1 + label_len + context_len, key, KDF_KEY_LEN);
}

static void kdf_derive__matches_reference__all_output_lengths(void **state)
{
	uint8_t key[KDF_KEY_LEN], ctx[40], want[KDF_OUT_MAX], got[KDF_OUT_MAX];
	(void)state;

	fill(key, sizeof(key), 1);
	fill(ctx, sizeof(ctx), 2);
	for (size_t n = KDF_OUT_MIN; n <= KDF_OUT_MAX; n++) {
		ref_derive(want, n, key, "sotto test label", ctx, sizeof(ctx));
		assert_int_equal(kdf_derive(got, n, key, "sotto test label", ctx, sizeof(ctx)),
		                 SOTTO_OK);
		assert_memory_equal(got, want, n);
	}
	ref_derive(want, 32, key, "x", NULL, 0);
	assert_int_equal(kdf_derive(got, 32, key, "x", NULL, 0), SOTTO_OK);
	assert_memory_equal(got, want, 32);
}

static void kdf_derive__invalid__bad_lengths(void **state)
{
	uint8_t key[KDF_KEY_LEN] = {0}, out[KDF_OUT_MAX + 1];
	char label[KDF_LABEL_MAX + 2];
	(void)state;

	assert_int_equal(kdf_derive(out, KDF_OUT_MIN - 1, key, "a", NULL, 0), SOTTO_ERR_INVALID);
	assert_int_equal(kdf_derive(out, KDF_OUT_MAX + 1, key, "a", NULL, 0), SOTTO_ERR_INVALID);
	assert_int_equal(kdf_derive(out, 0, key, "a", NULL, 0), SOTTO_ERR_INVALID);
	assert_int_equal(kdf_derive(out, 32, key, "", NULL, 0), SOTTO_ERR_INVALID);
	memset(label, 'L', KDF_LABEL_MAX + 1);
	label[KDF_LABEL_MAX + 1] = '\0';
	assert_int_equal(kdf_derive(out, 32, key, label, NULL, 0), SOTTO_ERR_INVALID);
	label[KDF_LABEL_MAX] = '\0';
	assert_int_equal(kdf_derive(out, 32, key, label, NULL, 0), SOTTO_OK);
	assert_int_equal(kdf_derive(out, KDF_OUT_MIN, key, "a", NULL, 0), SOTTO_OK);
	assert_int_equal(kdf_derive(out, KDF_OUT_MAX, key, "a", NULL, 0), SOTTO_OK);
}

static void kdf_derive__distinct__labels_and_contexts(void **state)
{
	static const char *const labels[] = {
	        "a", "b", "ab", "sotto header key", "sotto message key", "sotto queue auth"};
	enum { N = sizeof(labels) / sizeof(labels[0]) };
	uint8_t key[KDF_KEY_LEN], out[N + 2][32], ctx[2] = {'b', 'c'};
	(void)state;

	fill(key, sizeof(key), 3);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(kdf_derive(out[i], 32, key, labels[i], NULL, 0), SOTTO_OK);
	/* The length prefix keeps ("a", "bc") apart from ("ab", "c"). */
	assert_int_equal(kdf_derive(out[N], 32, key, "a", ctx, 2), SOTTO_OK);
	assert_int_equal(kdf_derive(out[N + 1], 32, key, "ab", ctx + 1, 1), SOTTO_OK);
	for (size_t i = 0; i < N + 2; i++)
		for (size_t j = i + 1; j < N + 2; j++)
			assert_memory_not_equal(out[i], out[j], 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(kdf_chain__matches_blake2b__key_chain_input_0x01),
	        cmocka_unit_test(kdf_chain__same_result__next_aliases_chain_key),
	        cmocka_unit_test(kdf_derive__matches_reference__all_output_lengths),
	        cmocka_unit_test(kdf_derive__invalid__bad_lengths),
	        cmocka_unit_test(kdf_derive__distinct__labels_and_contexts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
