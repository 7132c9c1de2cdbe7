/* SPDX-License-Identifier: MIT */
/*
 * seal.h - the sealed record format of the client store (store layer).
 *
 * Every secret value the store keeps (message texts, contact names, keys,
 * ratchet states) is written to SQLite as one blob:
 *
 *   off   size      field
 *     0      1      version, 1
 *     1     24      nonce, random
 *    25   n + 16    XChaCha20-Poly1305 ciphertext of the n-byte record, tag last
 *
 * under the seal sub-key of the database key (db.h) and the associated data
 *
 *   AD = version (1) || len(table) (1) || table || len(row) (2, big-endian) || row
 *
 * where table names the table and column the blob belongs to ("meta",
 * "contact.name", ...) and row is the row's key as bytes (a text key as is,
 * an integer key as 8 bytes big-endian). A blob copied to another row, column
 * or table therefore fails to open, and so does one whose version byte was
 * changed. Both lengths are prefixed, so no two (table, row) pairs give the
 * same AD.
 *
 * Nonces are 24 random bytes drawn per seal: with XChaCha20 a random nonce
 * never repeats in practice, so no counter has to survive crashes.
 *
 * Opening is bounded: the blob is checked against STORE_BLOB_OVERHEAD and
 * STORE_BLOB_MAX and the caller's buffer before anything is decrypted, and
 * the plaintext is written only after the tag verifies (zeroed otherwise).
 * These functions never allocate; db.h wraps them with the database's key.
 */
#ifndef SOTTO_STORE_SEAL_H
#define SOTTO_STORE_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "crypto/aead.h"
#include "store/limits.h"

enum {
	STORE_BLOB_VERSION = 1,
	STORE_BLOB_NONCE_LEN = AEAD_X_NONCE_LEN,
	STORE_BLOB_HEADER_LEN = 1 + STORE_BLOB_NONCE_LEN,
	STORE_BLOB_OVERHEAD = STORE_BLOB_HEADER_LEN + AEAD_TAG_LEN,
	STORE_BLOB_MAX = STORE_RECORD_MAX + STORE_BLOB_OVERHEAD,
	STORE_BLOB_AD_MAX = 1 + 1 + STORE_TABLE_TAG_MAX + 2 + STORE_ROW_KEY_MAX,
	STORE_SEAL_KEY_LEN = AEAD_KEY_LEN,
};

/* Bytes a sealed record of pt_len bytes takes (pt_len <= STORE_RECORD_MAX). */
size_t store_blob_len(size_t pt_len);

/*
 * Checks a table tag: 1..STORE_TABLE_TAG_MAX characters of [a-z0-9_./].
 * Errors: SOTTO_ERR_INVALID.
 */
SOTTO_NODISCARD sotto_err store_table_tag_check(const char *table);

/*
 * Seals pt (pt_len bytes, at most STORE_RECORD_MAX; pt may be any non-NULL
 * pointer when pt_len is 0) for (table, row) under key with the given nonce
 * into out (cap bytes); *out_len gets store_blob_len(pt_len).
 * Errors: SOTTO_ERR_INVALID (table tag, row longer than STORE_ROW_KEY_MAX),
 * SOTTO_ERR_TOO_LARGE (pt_len, or cap too small).
 */
SOTTO_NODISCARD sotto_err store_blob_seal(uint8_t *out, size_t cap, size_t *out_len,
                                          const uint8_t key[static STORE_SEAL_KEY_LEN],
                                          const uint8_t nonce[static STORE_BLOB_NONCE_LEN],
                                          const char *table, const uint8_t *row, size_t row_len,
                                          const uint8_t *pt, size_t pt_len);

/*
 * Opens blob (blob_len bytes, untrusted) sealed for (table, row) under key
 * into out (cap bytes); *out_len gets the record's length. On failure
 * *out_len is 0 and out[0 .. cap) is zeroed.
 * Errors: SOTTO_ERR_INVALID (table tag, row), SOTTO_ERR_CORRUPT (shorter than
 * STORE_BLOB_OVERHEAD, longer than STORE_BLOB_MAX, unknown version),
 * SOTTO_ERR_TOO_LARGE (cap below the record's length), SOTTO_ERR_AUTH (wrong
 * key, table or row, or any byte altered).
 */
SOTTO_NODISCARD sotto_err store_blob_open(uint8_t *out, size_t cap, size_t *out_len,
                                          const uint8_t key[static STORE_SEAL_KEY_LEN],
                                          const char *table, const uint8_t *row, size_t row_len,
                                          const uint8_t *blob, size_t blob_len);

#endif /* SOTTO_STORE_SEAL_H */
