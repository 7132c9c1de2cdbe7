/* SPDX-License-Identifier: MIT */
/*
 * seal_test.c - the sealed record format on its own (no database): the byte
 * layout, round trips from empty to STORE_RECORD_MAX, the associated data
 * (wrong key, table or row fails; length prefixes keep (table, row) pairs
 * apart), every truncation, every bit flip, wrong versions, oversized blobs,
 * short output buffers and bad arguments. Every failure leaves the output
 * buffer zeroed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "store/seal.h"
#include "test_util.h"

#define ROW     ((const uint8_t *)"row-17")
#define ROW_LEN (sizeof("row-17") - 1)
#define MSG     ((const uint8_t *)"the quick brown fox")
#define MSG_LEN (sizeof("the quick brown fox") - 1)

static void test_key(uint8_t key[static STORE_SEAL_KEY_LEN], uint8_t seed)
{
	for (size_t i = 0; i < STORE_SEAL_KEY_LEN; i++)
		key[i] = (uint8_t)(seed + 7 * i);
}

static void test_nonce(uint8_t nonce[static STORE_BLOB_NONCE_LEN])
{
	for (size_t i = 0; i < STORE_BLOB_NONCE_LEN; i++)
		nonce[i] = (uint8_t)(0x30 + i);
}

static void seal_msg(uint8_t *blob, size_t *blob_len, const uint8_t key[static STORE_SEAL_KEY_LEN])
{
	uint8_t nonce[STORE_BLOB_NONCE_LEN];

	test_nonce(nonce);
	assert_int_equal(store_blob_seal(blob, store_blob_len(MSG_LEN), blob_len, key, nonce,
	                                 "msg.body", ROW, ROW_LEN, MSG, MSG_LEN),
	                 SOTTO_OK);
	assert_int_equal(*blob_len, store_blob_len(MSG_LEN));
}

/* Opens blob as ("msg.body", ROW) under key; checks the output on failure. */
static sotto_err open_msg(const uint8_t *blob, size_t blob_len,
                          const uint8_t key[static STORE_SEAL_KEY_LEN])
{
	uint8_t out[MSG_LEN + 8];
	size_t out_len = 99;
	sotto_err rc;

	memset(out, 0xcc, sizeof(out));
	rc = store_blob_open(out, sizeof(out), &out_len, key, "msg.body", ROW, ROW_LEN, blob,
	                     blob_len);
	if (rc != SOTTO_OK) {
		assert_int_equal(out_len, 0);
		assert_true(sodium_is_zero(out, sizeof(out)));
	}
	return rc;
}

static void store_blob_seal__layout__version_nonce_ciphertext_tag(void **state)
{
	uint8_t key[STORE_SEAL_KEY_LEN], nonce[STORE_BLOB_NONCE_LEN];
	uint8_t blob[MSG_LEN + STORE_BLOB_OVERHEAD];
	size_t blob_len = 0;

	(void)state;
	test_key(key, 1);
	test_nonce(nonce);
	seal_msg(blob, &blob_len, key);
	assert_int_equal(STORE_BLOB_OVERHEAD, 41);
	assert_int_equal(blob[0], STORE_BLOB_VERSION);
	assert_memory_equal(blob + 1, nonce, STORE_BLOB_NONCE_LEN);
	/* No plaintext byte run survives. */
	for (size_t i = 0; i + 4 <= MSG_LEN; i++) {
		for (size_t j = 0; j + 4 <= blob_len; j++)
			assert_memory_not_equal(blob + j, MSG + i, 4);
	}
}

static void store_blob__round_trip__empty_small_and_largest(void **state)
{
	static const size_t sizes[] = {0, 1, 15, 16, 17, 1000, STORE_RECORD_MAX};
	uint8_t key[STORE_SEAL_KEY_LEN], nonce[STORE_BLOB_NONCE_LEN];
	uint8_t *pt = malloc(STORE_RECORD_MAX);
	uint8_t *back = malloc(STORE_RECORD_MAX);
	uint8_t *blob = malloc(STORE_BLOB_MAX);
	size_t blob_len = 0, back_len = 0;

	(void)state;
	assert_non_null(pt);
	assert_non_null(back);
	assert_non_null(blob);
	test_key(key, 2);
	test_nonce(nonce);
	for (size_t i = 0; i < STORE_RECORD_MAX; i++)
		pt[i] = (uint8_t)(i * 31 + 7);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		assert_int_equal(store_blob_seal(blob, STORE_BLOB_MAX, &blob_len, key, nonce, "t",
		                                 ROW, 0, pt, n),
		                 SOTTO_OK);
		assert_int_equal(blob_len, n + STORE_BLOB_OVERHEAD);
		assert_int_equal(
		        store_blob_open(back, n, &back_len, key, "t", ROW, 0, blob, blob_len),
		        SOTTO_OK);
		assert_int_equal(back_len, n);
		assert_memory_equal(back, pt, n);
	}
	assert_int_equal(store_blob_seal(blob, STORE_BLOB_MAX, &blob_len, key, nonce, "t", ROW, 0,
	                                 pt, (size_t)STORE_RECORD_MAX + 1),
	                 SOTTO_ERR_TOO_LARGE);
	free(pt);
	free(back);
	free(blob);
}

static void store_blob_open__auth__wrong_key_table_or_row(void **state)
{
	uint8_t key[STORE_SEAL_KEY_LEN], other[STORE_SEAL_KEY_LEN];
	uint8_t blob[MSG_LEN + STORE_BLOB_OVERHEAD], out[MSG_LEN];
	size_t blob_len = 0, out_len = 0;

	(void)state;
	test_key(key, 3);
	test_key(other, 4);
	seal_msg(blob, &blob_len, key);
	assert_int_equal(open_msg(blob, blob_len, key), SOTTO_OK);
	assert_int_equal(open_msg(blob, blob_len, other), SOTTO_ERR_AUTH);
	assert_int_equal(store_blob_open(out, sizeof(out), &out_len, key, "msg.bodz", ROW, ROW_LEN,
	                                 blob, blob_len),
	                 SOTTO_ERR_AUTH);
	assert_int_equal(store_blob_open(out, sizeof(out), &out_len, key, "contact.name", ROW,
	                                 ROW_LEN, blob, blob_len),
	                 SOTTO_ERR_AUTH);
	assert_int_equal(store_blob_open(out, sizeof(out), &out_len, key, "msg.body",
	                                 (const uint8_t *)"row-18", ROW_LEN, blob, blob_len),
	                 SOTTO_ERR_AUTH);
	assert_int_equal(store_blob_open(out, sizeof(out), &out_len, key, "msg.body", ROW,
	                                 ROW_LEN - 1, blob, blob_len),
	                 SOTTO_ERR_AUTH);
	assert_int_equal(store_blob_open(out, sizeof(out), &out_len, key, "msg.body", ROW, 0, blob,
	                                 blob_len),
	                 SOTTO_ERR_AUTH);
	assert_true(sodium_is_zero(out, sizeof(out)));
}

static void store_blob_open__auth__table_and_row_boundary_shifted(void **state)
{
	uint8_t key[STORE_SEAL_KEY_LEN], nonce[STORE_BLOB_NONCE_LEN];
	uint8_t blob[MSG_LEN + STORE_BLOB_OVERHEAD], out[MSG_LEN];
	size_t blob_len = 0, out_len = 0;

	(void)state;
	test_key(key, 5);
	test_nonce(nonce);
	/* ("ab", "c") and ("a", "bc") concatenate alike; the length prefixes tell them apart. */
	assert_int_equal(store_blob_seal(blob, sizeof(blob), &blob_len, key, nonce, "ab",
	                                 (const uint8_t *)"c", 1, MSG, MSG_LEN),
	                 SOTTO_OK);
	assert_int_equal(store_blob_open(out, sizeof(out), &out_len, key, "a",
	                                 (const uint8_t *)"bc", 2, blob, blob_len),
	                 SOTTO_ERR_AUTH);
	assert_int_equal(store_blob_open(out, sizeof(out), &out_len, key, "ab",
	                                 (const uint8_t *)"c", 1, blob, blob_len),
	                 SOTTO_OK);
}

static void store_blob_open__fails__every_truncation(void **state)
{
	uint8_t key[STORE_SEAL_KEY_LEN];
	uint8_t blob[MSG_LEN + STORE_BLOB_OVERHEAD + 1];
	size_t blob_len = 0;

	(void)state;
	test_key(key, 6);
	seal_msg(blob, &blob_len, key);
	for (size_t n = 0; n < blob_len; n++) {
		sotto_err rc = open_msg(blob, n, key);
		assert_int_equal(rc, n < STORE_BLOB_OVERHEAD ? SOTTO_ERR_CORRUPT : SOTTO_ERR_AUTH);
	}
	blob[blob_len] = 0;
	assert_int_equal(open_msg(blob, blob_len + 1, key), SOTTO_ERR_AUTH);
}

static void store_blob_open__fails__every_bit_flip(void **state)
{
	uint8_t key[STORE_SEAL_KEY_LEN];
	uint8_t blob[MSG_LEN + STORE_BLOB_OVERHEAD];
	size_t blob_len = 0;

	(void)state;
	test_key(key, 7);
	seal_msg(blob, &blob_len, key);
	for (size_t i = 0; i < blob_len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			blob[i] ^= (uint8_t)(1u << bit);
			sotto_err rc = open_msg(blob, blob_len, key);
			blob[i] ^= (uint8_t)(1u << bit);
			/* The version byte is checked before the tag; everything else by the tag.
			 */
			assert_int_equal(rc, i == 0 ? SOTTO_ERR_CORRUPT : SOTTO_ERR_AUTH);
		}
	}
	assert_int_equal(open_msg(blob, blob_len, key), SOTTO_OK);
}

static void store_blob_open__corrupt__oversized_blob(void **state)
{
	uint8_t key[STORE_SEAL_KEY_LEN];
	uint8_t *blob = calloc(1, (size_t)STORE_BLOB_MAX + 1);
	uint8_t out[16];
	size_t out_len = 0;

	(void)state;
	assert_non_null(blob);
	test_key(key, 8);
	blob[0] = STORE_BLOB_VERSION;
	assert_int_equal(store_blob_open(out, sizeof(out), &out_len, key, "t", ROW, 0, blob,
	                                 (size_t)STORE_BLOB_MAX + 1),
	                 SOTTO_ERR_CORRUPT);
	/* At the limit it is parsed, then refused for the small buffer before any decryption. */
	assert_int_equal(
	        store_blob_open(out, sizeof(out), &out_len, key, "t", ROW, 0, blob, STORE_BLOB_MAX),
	        SOTTO_ERR_TOO_LARGE);
	free(blob);
}

static void store_blob_open__too_large__output_one_byte_short(void **state)
{
	uint8_t key[STORE_SEAL_KEY_LEN];
	uint8_t blob[MSG_LEN + STORE_BLOB_OVERHEAD], out[MSG_LEN];
	size_t blob_len = 0, out_len = 0;

	(void)state;
	test_key(key, 9);
	seal_msg(blob, &blob_len, key);
	memset(out, 0xcc, sizeof(out));
	assert_int_equal(store_blob_open(out, MSG_LEN - 1, &out_len, key, "msg.body", ROW, ROW_LEN,
	                                 blob, blob_len),
	                 SOTTO_ERR_TOO_LARGE);
	assert_true(sodium_is_zero(out, MSG_LEN - 1));
	assert_int_equal(store_blob_open(out, MSG_LEN, &out_len, key, "msg.body", ROW, ROW_LEN,
	                                 blob, blob_len),
	                 SOTTO_OK);
	assert_memory_equal(out, MSG, MSG_LEN);
	/* Sealing checks its output room too. */
	assert_int_equal(store_blob_seal(blob, blob_len - 1, &out_len, key, blob + 1, "msg.body",
	                                 ROW, ROW_LEN, MSG, MSG_LEN),
	                 SOTTO_ERR_TOO_LARGE);
}

static void store_blob_seal__invalid__bad_table_tag_or_row(void **state)
{
	static const char *const bad[] = {"",
	                                  "Meta",
	                                  "a b",
	                                  "a-b",
	                                  "\xc3\xa4",
	                                  "x\n",
	                                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 33 */};
	uint8_t key[STORE_SEAL_KEY_LEN], nonce[STORE_BLOB_NONCE_LEN];
	uint8_t blob[MSG_LEN + STORE_BLOB_OVERHEAD], out[MSG_LEN];
	uint8_t *row = calloc(1, STORE_ROW_KEY_MAX + 1);
	size_t blob_len = 0, out_len = 0;

	(void)state;
	assert_non_null(row);
	test_key(key, 10);
	test_nonce(nonce);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_table_tag_check(bad[i]), SOTTO_ERR_INVALID);
		assert_int_equal(store_blob_seal(blob, sizeof(blob), &blob_len, key, nonce, bad[i],
		                                 ROW, ROW_LEN, MSG, MSG_LEN),
		                 SOTTO_ERR_INVALID);
	}
	assert_int_equal(store_table_tag_check("contact.name"), SOTTO_OK);
	assert_int_equal(store_table_tag_check("a/b_c.9"), SOTTO_OK);
	assert_int_equal(store_table_tag_check("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 32 */),
	                 SOTTO_OK);
	assert_int_equal(store_blob_seal(blob, sizeof(blob), &blob_len, key, nonce, "t", row,
	                                 STORE_ROW_KEY_MAX + 1, MSG, MSG_LEN),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(store_blob_seal(blob, sizeof(blob), &blob_len, key, nonce, "t", row,
	                                 STORE_ROW_KEY_MAX, MSG, MSG_LEN),
	                 SOTTO_OK);
	assert_int_equal(store_blob_open(out, sizeof(out), &out_len, key, "t", row,
	                                 STORE_ROW_KEY_MAX + 1, blob, blob_len),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(store_blob_open(out, sizeof(out), &out_len, key, "T", row,
	                                 STORE_ROW_KEY_MAX, blob, blob_len),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(store_blob_open(out, sizeof(out), &out_len, key, "t", row,
	                                 STORE_ROW_KEY_MAX, blob, blob_len),
	                 SOTTO_OK);
	free(row);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(store_blob_seal__layout__version_nonce_ciphertext_tag),
	        cmocka_unit_test(store_blob__round_trip__empty_small_and_largest),
	        cmocka_unit_test(store_blob_open__auth__wrong_key_table_or_row),
	        cmocka_unit_test(store_blob_open__auth__table_and_row_boundary_shifted),
	        cmocka_unit_test(store_blob_open__fails__every_truncation),
	        cmocka_unit_test(store_blob_open__fails__every_bit_flip),
	        cmocka_unit_test(store_blob_open__corrupt__oversized_blob),
	        cmocka_unit_test(store_blob_open__too_large__output_one_byte_short),
	        cmocka_unit_test(store_blob_seal__invalid__bad_table_tag_or_row),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
