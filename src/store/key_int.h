/* SPDX-License-Identifier: MIT */
/*
 * key_int.h - the key file format, its parser and its two transformations
 * (store layer; for key.c, its tests and its fuzz target only).
 *
 * One fixed-size record of KEYFILE_LEN bytes, integers big-endian
 * (docs/store.md "Key file"):
 *
 *   off  size  field
 *     0     8  magic "SOTTOKEY"
 *     8     1  version, 1
 *     9     1  mode: 1 passphrase (Argon2id), 2 no passphrase
 *    10     8  opslimit: Argon2id passes            (mode 2: zero)
 *    18     8  memlimit: Argon2id bytes              (mode 2: zero)
 *    26    16  salt                                  (mode 2: zero)
 *    42    24  nonce                                 (mode 2: zero)
 *    66    48  body
 *   114        end
 *
 * The header is bytes 0..66. Body in mode 1: XChaCha20-Poly1305 of the
 * 32-byte database key under K = Argon2id(passphrase, salt, opslimit,
 * memlimit), nonce as above, AD = the header (so no header field can be
 * changed without the unlock failing). Body in mode 2: the database key,
 * then a 16-byte check = kdf_derive(key, "sotto store keyfile check v1",
 * header), which catches a damaged clear key before it opens a database.
 *
 * Parsing is bounded: the size is exact, every field is checked before
 * anything is derived from it, and out-of-range parameters are refused before
 * Argon2id is run (so before it allocates anything). Each value has exactly
 * one encoding: zero fields must be zero, memlimit a multiple of 1 KiB.
 */
#ifndef SOTTO_STORE_KEY_INT_H
#define SOTTO_STORE_KEY_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "crypto/aead.h"
#include "store/key.h"

#define KEYFILE_MAGIC       "SOTTOKEY"
#define KEYFILE_CHECK_LABEL "sotto store keyfile check v1"

enum {
	KEYFILE_MAGIC_LEN = 8,
	KEYFILE_VERSION = 1,
	KEYFILE_MODE_PASSPHRASE = 1,
	KEYFILE_MODE_CLEAR = 2,
	KEYFILE_SALT_LEN = 16,
	KEYFILE_NONCE_LEN = AEAD_X_NONCE_LEN,
	KEYFILE_CHECK_LEN = 16,
	KEYFILE_BODY_LEN = STORE_KEY_LEN + AEAD_TAG_LEN,
	KEYFILE_OFF_VERSION = 8,
	KEYFILE_OFF_MODE = 9,
	KEYFILE_OFF_OPSLIMIT = 10,
	KEYFILE_OFF_MEMLIMIT = 18,
	KEYFILE_OFF_SALT = 26,
	KEYFILE_OFF_NONCE = 42,
	KEYFILE_OFF_BODY = 66,
	KEYFILE_HEADER_LEN = KEYFILE_OFF_BODY,
	KEYFILE_LEN = KEYFILE_OFF_BODY + KEYFILE_BODY_LEN,
};

_Static_assert(STORE_KEY_LEN + KEYFILE_CHECK_LEN == KEYFILE_BODY_LEN, "mode 2 body");

/* A parsed key file. In mode 2, body holds the database key: clear it. */
struct store_keyfile {
	uint8_t mode;      /* KEYFILE_MODE_* */
	uint64_t opslimit; /* Argon2id passes; 0 in mode 2 */
	uint64_t memlimit; /* Argon2id bytes; 0 in mode 2 */
	uint8_t salt[KEYFILE_SALT_LEN];
	uint8_t nonce[KEYFILE_NONCE_LEN];
	uint8_t body[KEYFILE_BODY_LEN]; /* sealed key (1) or key || check (2) */
};

/* Wipes kf. */
void store_keyfile_clear(struct store_keyfile *kf);

/*
 * Parses len bytes at buf into *out (cleared first, and on failure).
 * Errors: SOTTO_ERR_CORRUPT (size, magic, mode, a parameter out of range or
 * a field that must be zero is not), SOTTO_ERR_VERSION (version not 1).
 * Never allocates and never runs Argon2id.
 */
SOTTO_NODISCARD sotto_err store_keyfile_parse(const uint8_t *buf, size_t len,
                                              struct store_keyfile *out);

/* Writes the KEYFILE_LEN bytes of kf (made by _parse or _wrap) to out. */
void store_keyfile_encode(const struct store_keyfile *kf, uint8_t out[static KEYFILE_LEN]);

/*
 * Fills *out (cleared first) with a key file holding key: mode 1 under
 * passphrase (pass_len 1..STORE_PASSPHRASE_MAX) with params, salt and nonce
 * (the caller draws them at random), or mode 2 when passphrase is NULL
 * (params, salt and nonce then unused).
 * Errors: SOTTO_ERR_INVALID (passphrase length, params out of range),
 * SOTTO_ERR_NOMEM (Argon2id's memory).
 */
SOTTO_NODISCARD sotto_err store_keyfile_wrap(struct store_keyfile *out,
                                             const uint8_t key[static STORE_KEY_LEN],
                                             const uint8_t *SOTTO_NULLABLE passphrase,
                                             size_t pass_len, const struct store_key_params *params,
                                             const uint8_t salt[static KEYFILE_SALT_LEN],
                                             const uint8_t nonce[static KEYFILE_NONCE_LEN]);

/*
 * Recovers the database key from a parsed key file into key (zeroed on
 * failure).
 * Errors: SOTTO_ERR_AUTH (mode 1: no passphrase, or wrong, or the file was
 * altered), SOTTO_ERR_INVALID (mode 2 given a passphrase; passphrase too
 * long), SOTTO_ERR_CORRUPT (mode 2: check mismatch), SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err store_keyfile_unlock(const struct store_keyfile *kf,
                                               const uint8_t *SOTTO_NULLABLE passphrase,
                                               size_t pass_len, uint8_t key[static STORE_KEY_LEN]);

/* Fills in default params and checks the ranges. Errors: SOTTO_ERR_INVALID. */
SOTTO_NODISCARD sotto_err store_key_params_resolve(const struct store_key_params *SOTTO_NULLABLE in,
                                                   struct store_key_params *out);

#endif /* SOTTO_STORE_KEY_INT_H */
