/* SPDX-License-Identifier: MIT */
/*
 * key.h - the database key of a profile and its key file (store layer).
 *
 * Every record the store writes is sealed under sub-keys of one 32-byte
 * database key (db.h). The key is drawn at random when the profile is made
 * and never changes; it lives in a secret buffer (crypto/secbuf.h) while in
 * memory and on disk only in the profile's key file "key" (mode 0600), in
 * one of two modes the user chooses:
 *
 *   passphrase     the key sealed with XChaCha20-Poly1305 under a key that
 *                  Argon2id (libsodium crypto_pwhash, ARGON2ID13) derives
 *                  from the passphrase and a random salt; the parameters sit
 *                  in the file, so they can be raised later by a rewrap.
 *   no passphrase  the key in the clear, protected only by the file mode
 *                  (the user's choice: anyone who can read the profile
 *                  directory can read the database).
 *
 * The format (docs/store.md "Key file") and its parser live in key_int.h.
 * Changing the passphrase (or the mode, or the Argon2id parameters) rewraps
 * the same database key atomically: the new file is written beside the old
 * one, fsynced, renamed over it and the directory fsynced, so a crash leaves
 * either the old file or the new one, never neither.
 *
 * Default Argon2id parameters: libsodium's MODERATE (3 passes, 256 MiB),
 * about 0.4 s on a current x86-64 core (docs/store.md). Argon2id takes its
 * memory from libsodium's own allocator, not the context's.
 *
 * All functions need the profile held (profile.h): the lock is what makes the
 * temporary file name safe to reuse. Passphrases are borrowed, any bytes, at
 * most STORE_PASSPHRASE_MAX; NULL means "no passphrase".
 */
#ifndef SOTTO_STORE_KEY_H
#define SOTTO_STORE_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "crypto/secbuf.h"
#include "store/limits.h"
#include "store/profile.h"

/* File names inside the profile directory. */
#define STORE_KEY_FILE     "key"
#define STORE_KEY_TMP_FILE "key.tmp"

enum {
	STORE_KEY_LEN = 32,
	/* Defaults: libsodium's crypto_pwhash_OPSLIMIT/MEMLIMIT_MODERATE. */
	STORE_KEY_OPSLIMIT_DEFAULT = 3,
	STORE_KEY_MEMLIMIT_DEFAULT = 1 << 28,
};

/*
 * Argon2id cost for a passphrase-mode key file. A zero field takes its
 * default; others must lie within STORE_KEY_OPSLIMIT_MIN..MAX and
 * STORE_KEY_MEMLIMIT_MIN..MAX, memlimit a multiple of STORE_KEY_MEMLIMIT_UNIT
 * (tests pass the minimums to stay fast).
 */
struct store_key_params {
	uint64_t opslimit; /* Argon2id passes */
	uint64_t memlimit; /* bytes */
};

/*
 * Makes a new database key and writes the profile's key file: wrapped by
 * passphrase (pass_len bytes, 1..STORE_PASSPHRASE_MAX) or, when passphrase
 * is NULL, in the clear. params may be NULL for the defaults and is ignored
 * without a passphrase. *out is set to NULL first and owns the key
 * (STORE_KEY_LEN bytes) on success.
 * Errors: SOTTO_ERR_INVALID (passphrase length, params out of range),
 * SOTTO_ERR_USED (the profile already has a key file), SOTTO_ERR_IO,
 * SOTTO_ERR_NOMEM (including Argon2id's memory).
 */
SOTTO_NODISCARD sotto_err store_key_create(struct sotto_ctx *ctx,
                                           const struct store_profile *profile,
                                           const uint8_t *SOTTO_NULLABLE passphrase,
                                           size_t pass_len,
                                           const struct store_key_params *SOTTO_NULLABLE params,
                                           struct secbuf **out);

/*
 * Tells whether the profile's key file needs a passphrase (so a front end
 * knows whether to ask), without unlocking it. *out is set to false first.
 * Errors: SOTTO_ERR_NOT_FOUND (no key file), SOTTO_ERR_CORRUPT,
 * SOTTO_ERR_VERSION (a key file of a newer format), SOTTO_ERR_IO.
 */
SOTTO_NODISCARD sotto_err store_key_needs_passphrase(const struct store_profile *profile,
                                                     bool *out);

/*
 * Reads the profile's key file and recovers the database key. passphrase is
 * NULL for a key file without one. *out is set to NULL first and owns the key
 * on success.
 * Errors: SOTTO_ERR_NOT_FOUND (no key file), SOTTO_ERR_AUTH (wrong or missing
 * passphrase, or a file altered anywhere but in its format fields),
 * SOTTO_ERR_INVALID (a passphrase given for a file without one, or too long),
 * SOTTO_ERR_CORRUPT (malformed file: size, magic, mode, parameters out of
 * range, a clear key failing its check), SOTTO_ERR_VERSION (newer format),
 * SOTTO_ERR_IO, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err store_key_load(struct sotto_ctx *ctx, const struct store_profile *profile,
                                         const uint8_t *SOTTO_NULLABLE passphrase, size_t pass_len,
                                         struct secbuf **out);

/*
 * Replaces the key file by one holding the same database key under
 * new_passphrase (NULL: no passphrase) with params (NULL: defaults), fresh
 * salt and nonce, after unlocking it with old_passphrase (NULL for a file
 * without one). Atomic: on any error the old file is left as it was.
 * Errors: those of store_key_load and store_key_create (except USED).
 */
SOTTO_NODISCARD sotto_err store_key_rewrap(struct sotto_ctx *ctx,
                                           const struct store_profile *profile,
                                           const uint8_t *SOTTO_NULLABLE old_passphrase,
                                           size_t old_len,
                                           const uint8_t *SOTTO_NULLABLE new_passphrase,
                                           size_t new_len,
                                           const struct store_key_params *SOTTO_NULLABLE params);

#endif /* SOTTO_STORE_KEY_H */
