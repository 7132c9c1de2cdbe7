/* SPDX-License-Identifier: MIT */
/*
 * db.h - the profile's SQLite database and sealed records (store layer).
 *
 * One database file per profile, "<profile>/store.db", opened while the
 * profile is held (profile.h). Settings: journal_mode=WAL with
 * synchronous=FULL (a returned COMMIT is on stable storage), foreign_keys=ON,
 * secure_delete=ON (deleted cells are zeroed, not left in free pages),
 * temp_store=MEMORY (no temporary files), a busy timeout of
 * STORE_BUSY_TIMEOUT_MS, and the hardening flags of untrusted files
 * (defensive mode, no triggers, views or untrusted schema functions).
 * Files are created 0600 inside the 0700 profile directory.
 *
 * Schema: PRAGMA user_version is the number of migrations applied and
 * PRAGMA application_id is STORE_DB_APP_ID. Opening applies the missing
 * migrations of the list in db.c in order, each in its own transaction
 * together with its user_version bump, so a failing step leaves the
 * database at the previous version. A database newer than the code is
 * refused with SOTTO_ERR_VERSION and left untouched (docs/store.md
 * "Migrations").
 *
 * Encryption at rest: nothing secret is ever bound to SQL in the clear.
 * Values are sealed with store_seal() (format in seal.h) under a sub-key of
 * the database key, derived with kdf_derive() and the label
 * STORE_LABEL_SEAL; the raw database key is used for nothing but deriving
 * sub-keys. At open, the reserved meta row "sotto.key_check" (a sealed
 * constant) tells a wrong key (SOTTO_ERR_AUTH) from a damaged record later.
 *
 * The SQLite page cache is ordinary heap memory: it holds sealed blobs only.
 *
 * Threading: a database is used by one thread at a time.
 */
#ifndef SOTTO_STORE_DB_H
#define SOTTO_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>
#include <sqlite3.h>

#include "crypto/secbuf.h"
#include "store/limits.h"
#include "store/profile.h"
#include "store/seal.h"

#define STORE_DB_FILE "store.db"
/* Sub-key labels (kdf_derive) under the database key; never reuse one. */
#define STORE_LABEL_SEAL "sotto store seal v1"
/* The meta table's tag, and its reserved row proving the key is right. */
#define STORE_META_TABLE           "meta"
#define STORE_META_RESERVED_PREFIX "sotto."
#define STORE_META_KEY_CHECK       "sotto.key_check"

enum {
	STORE_DB_APP_ID = 1936684099, /* "sotC" */
};

struct store_db;

/*
 * Opens (creating if needed) the profile's database with the database key
 * (borrowed: only sub-keys are kept), brings its schema to the code's
 * version, and checks or records the key check. *out is set to NULL first
 * and owns the database on success.
 * Errors: SOTTO_ERR_INVALID (key not STORE_KEY_LEN bytes), SOTTO_ERR_VERSION
 * (the database is newer than this code), SOTTO_ERR_AUTH (the key is not
 * this database's), SOTTO_ERR_CORRUPT (not a sotto profile database, or
 * malformed), SOTTO_ERR_BUSY (locked past the busy timeout), SOTTO_ERR_IO,
 * SOTTO_ERR_NOMEM, SOTTO_ERR_INTERNAL (a migration step failed; the database
 * stays at the last version that committed).
 */
SOTTO_NODISCARD sotto_err store_db_new(struct sotto_ctx *ctx, const struct store_profile *profile,
                                       struct secbuf *key, struct store_db **out);

/* Closes db (rolling back an open transaction) and wipes its keys; NULL does nothing. */
void store_db_free(struct store_db *SOTTO_NULLABLE db);

/*
 * The SQLite connection, borrowed until store_db_free(db), for the layers
 * above to run their statements on. They bind only sealed blobs and
 * non-secret values (ids, counters, flags), and finalize their statements
 * before store_db_free().
 */
sqlite3 *store_db_sqlite(struct store_db *db);

/*
 * Maps a SQLite result code (plain or extended) to our vocabulary:
 * SQLITE_OK, SQLITE_ROW and SQLITE_DONE are SOTTO_OK; NOMEM is
 * SOTTO_ERR_NOMEM; BUSY and LOCKED are SOTTO_ERR_BUSY; CORRUPT, NOTADB,
 * FORMAT, SCHEMA and MISMATCH are SOTTO_ERR_CORRUPT; CONSTRAINT (a unique
 * key that is taken) is SOTTO_ERR_USED; IOERR, FULL, CANTOPEN, READONLY,
 * PROTOCOL, PERM and NOLFS are SOTTO_ERR_IO; anything else is
 * SOTTO_ERR_INTERNAL.
 */
SOTTO_NODISCARD sotto_err store_db_err(int rc);

/*
 * Runs sql (fixed text of ours: never input, never secret) on db's
 * connection. Errors: as store_db_err.
 */
SOTTO_NODISCARD sotto_err store_db_exec(struct store_db *db, const char *sql);

/*
 * Prepares sql on db's connection; *st gets the statement (NULL on
 * failure), which the caller finalizes. Errors: as store_db_err.
 */
SOTTO_NODISCARD sotto_err store_db_prepare(struct store_db *db, const char *sql, sqlite3_stmt **st);

/*
 * Steps st, a statement that returns no row, to its end.
 * Errors: as store_db_err (SOTTO_ERR_USED: a unique key is taken).
 */
SOTTO_NODISCARD sotto_err store_db_step_done(sqlite3_stmt *st);

/* The schema version of the open database (the number of migrations applied). */
uint32_t store_db_schema_version(const struct store_db *db);

/* The schema version this code brings a database to. */
uint32_t store_db_code_version(void);

/*
 * Seals pt (pt_len <= STORE_RECORD_MAX) for the row whose key is row (row_len
 * <= STORE_ROW_KEY_MAX) in table (see seal.h for tags) into out (cap >=
 * store_blob_len(pt_len)); *out_len gets the blob's length. The nonce comes
 * from the context's RNG. Errors: SOTTO_ERR_INVALID, SOTTO_ERR_TOO_LARGE.
 */
SOTTO_NODISCARD sotto_err store_seal(struct store_db *db, const char *table, const uint8_t *row,
                                     size_t row_len, const uint8_t *pt, size_t pt_len, uint8_t *out,
                                     size_t cap, size_t *out_len);

/*
 * Opens blob (untrusted, e.g. read from a row) sealed for (table, row) into
 * out (cap bytes; the record is blob_len - STORE_BLOB_OVERHEAD bytes);
 * *out_len gets its length. On failure out is zeroed.
 * Errors: as store_blob_open (SOTTO_ERR_AUTH for a blob moved to another row
 * or table, or altered).
 */
SOTTO_NODISCARD sotto_err store_open(struct store_db *db, const char *table, const uint8_t *row,
                                     size_t row_len, const uint8_t *blob, size_t blob_len,
                                     uint8_t *out, size_t cap, size_t *out_len);

/*
 * Writes (or replaces) meta row k (1..STORE_META_KEY_MAX bytes, not starting
 * with STORE_META_RESERVED_PREFIX) holding v sealed for ("meta", k); durable
 * when it returns unless a transaction is open on the connection.
 * Errors: SOTTO_ERR_INVALID (key), SOTTO_ERR_TOO_LARGE (v_len), SOTTO_ERR_IO,
 * SOTTO_ERR_BUSY, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err store_meta_put(struct store_db *db, const char *k, const uint8_t *v,
                                         size_t v_len);

/*
 * Reads and opens meta row k into out (cap bytes); *out_len gets its length.
 * Errors: SOTTO_ERR_INVALID (key), SOTTO_ERR_NOT_FOUND, SOTTO_ERR_CORRUPT
 * (not a blob, or malformed), SOTTO_ERR_AUTH, SOTTO_ERR_TOO_LARGE (cap),
 * SOTTO_ERR_IO, SOTTO_ERR_BUSY, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err store_meta_get(struct store_db *db, const char *k, uint8_t *out,
                                         size_t cap, size_t *out_len);

#endif /* SOTTO_STORE_DB_H */
