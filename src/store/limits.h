/* SPDX-License-Identifier: MIT */
/*
 * limits.h - every bound of the client store (store layer): names, paths,
 * passphrases, Argon2id parameters read from a key file, sealed records.
 *
 * Anything read from the profile directory is checked against these before a
 * byte is sized or allocated from it, so a hostile key file or database row
 * cannot make the store allocate or hash more than these allow.
 */
#ifndef SOTTO_STORE_LIMITS_H
#define SOTTO_STORE_LIMITS_H

enum {
	/* Profile names: 1..64 characters of [A-Za-z0-9_-]. */
	STORE_PROFILE_NAME_MAX = 64,
	/* Any path the store builds, with its NUL. */
	STORE_PATH_MAX = 4096,

	/* Passphrases, in bytes (any bytes; UTF-8 is the caller's business). */
	STORE_PASSPHRASE_MAX = 1024,

	/*
	 * Argon2id parameters accepted from a key file or a caller. The upper
	 * bounds are libsodium's SENSITIVE memory (1 GiB) and four times its
	 * SENSITIVE passes: a key file asking for more is refused before any
	 * hashing, so a planted file cannot make an unlock take minutes or
	 * gigabytes. The lower bounds are libsodium's minimum, for tests.
	 */
	STORE_KEY_OPSLIMIT_MIN = 1,
	STORE_KEY_OPSLIMIT_MAX = 16,
	STORE_KEY_MEMLIMIT_MIN = 8192,
	STORE_KEY_MEMLIMIT_MAX = 1 << 30,
	STORE_KEY_MEMLIMIT_UNIT = 1024, /* memlimit must be a multiple of this */

	/* Sealed records (db.h): table tag, row key and plaintext sizes. */
	STORE_TABLE_TAG_MAX = 32,
	STORE_ROW_KEY_MAX = 1024,
	STORE_RECORD_MAX = 1 << 20,

	/* meta table keys, in bytes. */
	STORE_META_KEY_MAX = 64,

	/* How long a statement waits for a lock held by another connection. */
	STORE_BUSY_TIMEOUT_MS = 5000,
	/*
	 * SQLite's page cache per open database, KiB: a fixed bound, reached
	 * soon after opening, so that a client's memory does not grow with its
	 * history (SQLite's default, 2 MiB, filled as the database grew).
	 */
	STORE_CACHE_KIB = 256,
};

#endif /* SOTTO_STORE_LIMITS_H */
