/* SPDX-License-Identifier: MIT */
/*
 * seal.c - sealing and opening store records (store layer); the format and
 * the associated data are drawn in seal.h.
 *
 * The AD is built in a fixed stack buffer sized for the longest table tag and
 * row key, so sealing and opening never allocate.
 */
#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#include "core/err.h"
#include "store/seal.h"
#include "wire/reader.h"
#include "wire/writer.h"

static bool tag_char_is_valid(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '/';
}

sotto_err store_table_tag_check(const char *table)
{
	size_t n = 0;

	while (n <= STORE_TABLE_TAG_MAX && table[n] != '\0') {
		if (!tag_char_is_valid(table[n]))
			return SOTTO_ERR_INVALID;
		n++;
	}
	return n == 0 || n > STORE_TABLE_TAG_MAX ? SOTTO_ERR_INVALID : SOTTO_OK;
}

size_t store_blob_len(size_t pt_len)
{
	return pt_len + STORE_BLOB_OVERHEAD;
}

/* Writes the AD for (version, table, row) into ad; *ad_len gets its length. */
static sotto_err build_ad(uint8_t ad[static STORE_BLOB_AD_MAX], size_t *ad_len, uint8_t version,
                          const char *table, const uint8_t *row, size_t row_len)
{
	struct wire_writer w;
	sotto_err rc;

	*ad_len = 0;
	if ((rc = store_table_tag_check(table)) != SOTTO_OK)
		return rc;
	if (row_len > STORE_ROW_KEY_MAX)
		return SOTTO_ERR_INVALID;
	wire_writer_init(&w, ad, STORE_BLOB_AD_MAX);
	wire_writer_u8(&w, version);
	wire_writer_lp8(&w, (const uint8_t *)table, strlen(table), STORE_TABLE_TAG_MAX);
	wire_writer_lp16(&w, row, row_len, STORE_ROW_KEY_MAX);
	/* Both fields were checked against the maxima the buffer is sized for. */
	rc = wire_writer_finish(&w, ad_len);
	if (!SOTTO_INVARIANT(rc == SOTTO_OK))
		return SOTTO_ERR_INTERNAL;
	return SOTTO_OK;
}

sotto_err store_blob_seal(uint8_t *out, size_t cap, size_t *out_len,
                          const uint8_t key[static STORE_SEAL_KEY_LEN],
                          const uint8_t nonce[static STORE_BLOB_NONCE_LEN], const char *table,
                          const uint8_t *row, size_t row_len, const uint8_t *pt, size_t pt_len)
{
	uint8_t ad[STORE_BLOB_AD_MAX];
	size_t ad_len = 0;
	sotto_err rc;

	*out_len = 0;
	if ((rc = build_ad(ad, &ad_len, STORE_BLOB_VERSION, table, row, row_len)) != SOTTO_OK)
		return rc;
	if (pt_len > STORE_RECORD_MAX || cap < store_blob_len(pt_len))
		return SOTTO_ERR_TOO_LARGE;
	out[0] = STORE_BLOB_VERSION;
	memcpy(out + 1, nonce, STORE_BLOB_NONCE_LEN);
	if ((rc = aead_x_encrypt(out + STORE_BLOB_HEADER_LEN, pt, pt_len, ad, ad_len, nonce,
	                         key)) != SOTTO_OK)
		return rc;
	*out_len = store_blob_len(pt_len);
	return SOTTO_OK;
}

sotto_err store_blob_open(uint8_t *out, size_t cap, size_t *out_len,
                          const uint8_t key[static STORE_SEAL_KEY_LEN], const char *table,
                          const uint8_t *row, size_t row_len, const uint8_t *blob, size_t blob_len)
{
	struct wire_reader r;
	uint8_t ad[STORE_BLOB_AD_MAX];
	uint8_t nonce[STORE_BLOB_NONCE_LEN];
	const uint8_t *ct;
	size_t ad_len = 0;
	size_t ct_len;
	uint8_t version;
	sotto_err rc;

	*out_len = 0;
	if (blob_len < STORE_BLOB_OVERHEAD || blob_len > STORE_BLOB_MAX) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	ct_len = blob_len - STORE_BLOB_HEADER_LEN;
	wire_reader_init(&r, blob, blob_len);
	version = wire_reader_u8(&r);
	wire_reader_copy(&r, nonce, sizeof(nonce));
	ct = wire_reader_view(&r, ct_len);
	if (wire_reader_finish(&r) != SOTTO_OK || ct == NULL || version != STORE_BLOB_VERSION) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	if ((rc = build_ad(ad, &ad_len, version, table, row, row_len)) != SOTTO_OK)
		goto out;
	if (cap < ct_len - AEAD_TAG_LEN) {
		rc = SOTTO_ERR_TOO_LARGE;
		goto out;
	}
	if ((rc = aead_x_decrypt(out, ct, ct_len, ad, ad_len, nonce, key)) != SOTTO_OK)
		goto out;
	*out_len = ct_len - AEAD_TAG_LEN;
out:
	if (rc != SOTTO_OK && cap > 0)
		sodium_memzero(out, cap);
	return rc;
}
