/* SPDX-License-Identifier: MIT */
/*
 * blob_fuzz.c - fuzz target for the sealed record opener (store_blob_open;
 * format in seal.h).
 *
 * Input: a blob, opened for the table "fuzz.table" and the row "row-1"
 * under the fixed key 00 01 .. 1f. A rejection must be SOTTO_ERR_CORRUPT or
 * SOTTO_ERR_AUTH with the output buffer zeroed (the buffer is as large as
 * the input, so SOTTO_ERR_TOO_LARGE cannot happen). A blob that opens must
 * be exactly as long as its record plus STORE_BLOB_OVERHEAD and must seal
 * back, with its own nonce, to the input byte for byte. Anything else
 * abort()s.
 *
 * Seeds in fuzz/corpus/blob/: made once by a throwaway generator through
 * store_blob_seal under that key, table and row: records of 0, 5 and 300
 * bytes, and near-valid variants (version 2, one byte short of the
 * overhead, the overhead exactly, a flipped tag byte, the right blob for
 * another row).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TABLE "fuzz.table"
#define FUZZ_ROW   ((const uint8_t *)"row-1")
enum { FUZZ_ROW_LEN = 5 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[STORE_SEAL_KEY_LEN];
	uint8_t *out = malloc(size + 1);
	uint8_t *again = NULL;
	size_t out_len = 0, again_len = 0;
	sotto_err rc;

	if (out == NULL)
		abort();
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	memset(out, 0xa5, size + 1);
	rc = store_blob_open(out, size + 1, &out_len, key, FUZZ_TABLE, FUZZ_ROW, FUZZ_ROW_LEN, data,
	                     size);
	if (rc != SOTTO_OK) {
		if ((rc != SOTTO_ERR_CORRUPT && rc != SOTTO_ERR_AUTH) || out_len != 0 ||
		    !sodium_is_zero(out, size + 1))
			abort();
		free(out);
		return 0;
	}
	if (store_blob_len(out_len) != size || (again = malloc(size)) == NULL ||
	    store_blob_seal(again, size, &again_len, key, data + 1, FUZZ_TABLE, FUZZ_ROW,
	                    FUZZ_ROW_LEN, out, out_len) != SOTTO_OK ||
	    again_len != size || memcmp(again, data, size) != 0)
		abort();
	free(again);
	free(out);
	return 0;
}
