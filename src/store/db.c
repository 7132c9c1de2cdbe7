/* SPDX-License-Identifier: MIT */
/*
 * db.c - the profile database: opening, settings, migrations, the key check,
 * sealed meta records and the SQL helpers shared with the layers above
 * (store layer); see db.h.
 *
 * Migrations: store_migrations[v] takes the schema from user_version v to
 * v + 1. The runner, not the step, sets user_version (and, with the first
 * step, application_id), in the same BEGIN IMMEDIATE transaction as the
 * step's SQL, so adding a migration is appending one string and a failing
 * step rolls back whole. Released entries are never edited; docs/store.md
 * lists the rules.
 *
 * The file is untrusted input (STYLE.md §7): values read back are checked
 * for type and length before use, and the identity check refuses a file
 * that is not ours (application_id) before any of our SQL runs on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/compat.h"
#include "core/ctx.h"
#include "core/err.h"
#include "crypto/kdf.h"
#include "store/db.h"
#include "store/db_int.h"
#include "store/key.h"

/*
 * The schema, one entry per version. Append only: a new version is one more
 * string here (and a line in docs/store.md).
 */
static const char *const store_migrations[] = {
        /* 1: metadata; v is always a blob sealed for ("meta", k). */
        "CREATE TABLE meta(k TEXT PRIMARY KEY NOT NULL, v BLOB NOT NULL) WITHOUT ROWID",
        /*
         * 2: the agent (docs/client.md, "Profile database schema"). Every
         * BLOB but messages.tag is sealed for ("<table>.<column>", id as 8
         * bytes big-endian); tag is a keyed hash, not the message ID.
         */
        "CREATE TABLE relays(id INTEGER PRIMARY KEY AUTOINCREMENT, addr BLOB NOT NULL);"
        "CREATE TABLE contacts(id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " state INTEGER NOT NULL, flags INTEGER NOT NULL, info BLOB NOT NULL,"
        " hs BLOB, ratchet BLOB, rcv BLOB);"
        "CREATE TABLE messages(id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " contact INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,"
        " dir INTEGER NOT NULL, status INTEGER NOT NULL, reason INTEGER NOT NULL,"
        " rcpt INTEGER NOT NULL, tag BLOB NOT NULL, rec BLOB NOT NULL);"
        "CREATE UNIQUE INDEX messages_tag ON messages(contact, dir, tag);"
        "CREATE INDEX messages_contact ON messages(contact);"
        "CREATE INDEX messages_rcpt ON messages(contact) WHERE rcpt = 1;"
        "CREATE TABLE outbox(id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " contact INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,"
        " msg INTEGER REFERENCES messages(id) ON DELETE SET NULL, rec BLOB NOT NULL);"
        "CREATE INDEX outbox_contact ON outbox(contact);",
};

enum { STORE_N_MIGRATIONS = SOTTO_ARRAY_LEN(store_migrations) };

/* The sealed constant behind STORE_META_KEY_CHECK. */
static const char store_key_check_text[] = "sotto store key check v1";

/* kdf_derive() context for sub-keys that need none (zero bytes of it are read). */
static const uint8_t store_no_context[1] = {0};

struct store_db {
	struct sotto_ctx *ctx;   /* borrowed */
	sqlite3 *db;             /* owned */
	struct secbuf *seal_key; /* owned; STORE_LABEL_SEAL sub-key */
	uint32_t version;        /* user_version after opening */
	int last_rc;             /* extended SQLite code of the last failed call */
};

const char *const *store_db_migrations(size_t *n)
{
	*n = STORE_N_MIGRATIONS;
	return store_migrations;
}

uint32_t store_db_code_version(void)
{
	return STORE_N_MIGRATIONS;
}

uint32_t store_db_schema_version(const struct store_db *db)
{
	return db->version;
}

sqlite3 *store_db_sqlite(struct store_db *db)
{
	return db->db;
}

/* ---- SQL helpers, for this file and the layers above ------------------ */

sotto_err store_db_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE: return SOTTO_OK;
	case SQLITE_NOMEM: return SOTTO_ERR_NOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return SOTTO_ERR_BUSY;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_FORMAT:
	case SQLITE_SCHEMA:
	case SQLITE_MISMATCH: return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	case SQLITE_CONSTRAINT: return SOTTO_ERR_USED;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PROTOCOL:
	case SQLITE_PERM:
	case SQLITE_NOLFS: return SOTTO_ERR_IO;
	default: return SOTTO_ERR_INTERNAL;
	}
}

static sotto_err db_fail(struct store_db *d, int rc)
{
	d->last_rc = rc;
	return store_db_err(rc);
}

sotto_err store_db_exec(struct store_db *db, const char *sql)
{
	int rc = sqlite3_exec(db->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? SOTTO_OK : db_fail(db, rc);
}

sotto_err store_db_prepare(struct store_db *db, const char *sql, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v2(db->db, sql, -1, st, NULL);

	return rc == SQLITE_OK ? SOTTO_OK : db_fail(db, rc);
}

sotto_err store_db_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	return rc == SQLITE_DONE ? SOTTO_OK : store_db_err(rc);
}

/* Runs a one-row query and returns column 0, which must be an integer. */
static sotto_err db_query_int(struct store_db *d, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	sotto_err rc;
	int src;

	*out = 0;
	if ((rc = store_db_prepare(d, sql, &st)) != SOTTO_OK)
		goto out;
	if ((src = sqlite3_step(st)) != SQLITE_ROW) {
		rc = src == SQLITE_DONE ? SOTTO_RAISE(SOTTO_ERR_CORRUPT) : db_fail(d, src);
		goto out;
	}
	if (sqlite3_column_type(st, 0) != SQLITE_INTEGER) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	*out = sqlite3_column_int64(st, 0);
	rc = SOTTO_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Sets an integer pragma; name is one of our literals. */
static sotto_err db_pragma_int(struct store_db *d, const char *name, long long v)
{
	char sql[80];
	int n = snprintf(sql, sizeof(sql), "PRAGMA %s = %lld", name, v);

	if (!SOTTO_INVARIANT(n > 0 && (size_t)n < sizeof(sql)))
		return SOTTO_ERR_INTERNAL;
	return store_db_exec(d, sql);
}

/* ---- files ------------------------------------------------------------ */

/*
 * Creates the database file 0600 (SQLite gives its -wal and -shm files the
 * same mode) and makes its entry durable, or checks and tightens an existing
 * one. An existing file is not opened here: closing a descriptor of it would
 * drop the POSIX locks SQLite holds in this process.
 */
static sotto_err prepare_file(const struct store_profile *p, const char *path)
{
	struct stat sb;
	int fd;

	if (lstat(path, &sb) == 0) {
		if (!S_ISREG(sb.st_mode))
			return SOTTO_ERR_IO;
		if ((sb.st_mode & 07777) != 0600 && chmod(path, 0600) != 0)
			return SOTTO_ERR_IO;
		return SOTTO_OK;
	}
	if (errno != ENOENT)
		return SOTTO_ERR_IO;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return SOTTO_ERR_IO;
	if (fchmod(fd, 0600) != 0) {
		(void)close(fd);
		return SOTTO_ERR_IO;
	}
	if (close(fd) != 0)
		return SOTTO_ERR_IO;
	return store_profile_sync(p);
}

/* Tightens the -wal or -shm file of an earlier run to 0600, if present. */
static sotto_err tighten_sidecar(const struct store_profile *p, const char *name)
{
	char path[STORE_PATH_MAX];
	struct stat sb;

	if (store_profile_file(p, name, path, sizeof(path)) != SOTTO_OK)
		return SOTTO_ERR_TOO_LARGE;
	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? SOTTO_OK : SOTTO_ERR_IO;
	if (!S_ISREG(sb.st_mode))
		return SOTTO_ERR_IO;
	if ((sb.st_mode & 07777) != 0600 && chmod(path, 0600) != 0)
		return SOTTO_ERR_IO;
	return SOTTO_OK;
}

/* ---- settings and schema ---------------------------------------------- */

/*
 * The file is untrusted: no triggers or views run, schema SQL cannot call
 * functions with side effects, and the schema cannot be edited through SQL.
 */
static void db_harden(sqlite3 *db)
{
	sqlite3_extended_result_codes(db, 1);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
}

static sotto_err db_configure(struct store_db *d)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	sotto_err rc;
	int src;

	db_harden(d->db);
	if ((src = sqlite3_busy_timeout(d->db, STORE_BUSY_TIMEOUT_MS)) != SQLITE_OK) {
		rc = db_fail(d, src);
		goto out;
	}
	if ((rc = store_db_exec(d, "PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;"
	                           "PRAGMA temp_store = MEMORY")) != SOTTO_OK ||
	    (rc = db_pragma_int(d, "cache_size", -(long long)STORE_CACHE_KIB)) != SOTTO_OK)
		goto out;
	/* WAL first, so that synchronous=FULL means "fsync the log at every commit". */
	if ((rc = store_db_prepare(d, "PRAGMA journal_mode = WAL", &st)) != SOTTO_OK)
		goto out;
	if ((src = sqlite3_step(st)) != SQLITE_ROW) {
		rc = db_fail(d, src);
		goto out;
	}
	mode = sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		rc = SOTTO_ERR_IO;
		goto out;
	}
	rc = store_db_exec(d, "PRAGMA synchronous = FULL");
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * Reads the schema identity inside the current transaction: *version is the
 * user_version of a file of ours (0 for a new, empty file).
 */
static sotto_err db_identity(struct store_db *d, size_t n_steps, int64_t *version)
{
	int64_t app_id = 0;
	int64_t n_objects = 0;
	sotto_err rc;

	if ((rc = db_query_int(d, "PRAGMA user_version", version)) != SOTTO_OK ||
	    (rc = db_query_int(d, "PRAGMA application_id", &app_id)) != SOTTO_OK ||
	    (rc = db_query_int(d, "SELECT count(*) FROM sqlite_schema", &n_objects)) != SOTTO_OK)
		return rc;
	if (*version == 0 && app_id == 0 && n_objects == 0)
		return SOTTO_OK;
	if (app_id != STORE_DB_APP_ID || *version < 1)
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	if ((uint64_t)*version > n_steps)
		return SOTTO_ERR_VERSION;
	return SOTTO_OK;
}

/*
 * Applies the missing steps, each in its own transaction with its version
 * bump. At most n_steps + 1 rounds: every round but the last raises the
 * version by one.
 */
static sotto_err db_migrate(struct store_db *d, const char *const *steps, size_t n_steps)
{
	int64_t version = 0;
	sotto_err rc = SOTTO_ERR_INTERNAL;

	for (size_t round = 0; round <= n_steps; round++) {
		if ((rc = store_db_exec(d, "BEGIN IMMEDIATE")) != SOTTO_OK ||
		    (rc = db_identity(d, n_steps, &version)) != SOTTO_OK)
			goto out;
		if ((uint64_t)version == n_steps) {
			d->version = (uint32_t)version;
			rc = store_db_exec(d, "COMMIT");
			goto out;
		}
		if ((rc = store_db_exec(d, steps[version])) != SOTTO_OK)
			goto out;
		if (version == 0 &&
		    (rc = db_pragma_int(d, "application_id", STORE_DB_APP_ID)) != SOTTO_OK)
			goto out;
		if ((rc = db_pragma_int(d, "user_version", version + 1)) != SOTTO_OK ||
		    (rc = store_db_exec(d, "COMMIT")) != SOTTO_OK)
			goto out;
	}
	rc = SOTTO_ERR_INTERNAL;
out:
	if (rc != SOTTO_OK && !sqlite3_get_autocommit(d->db))
		(void)sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* ---- sealing ------------------------------------------------------------ */

sotto_err store_seal(struct store_db *db, const char *table, const uint8_t *row, size_t row_len,
                     const uint8_t *pt, size_t pt_len, uint8_t *out, size_t cap, size_t *out_len)
{
	uint8_t nonce[STORE_BLOB_NONCE_LEN];

	ctx_random(db->ctx, nonce, sizeof(nonce));
	return store_blob_seal(out, cap, out_len, secbuf_data(db->seal_key), nonce, table, row,
	                       row_len, pt, pt_len);
}

sotto_err store_open(struct store_db *db, const char *table, const uint8_t *row, size_t row_len,
                     const uint8_t *blob, size_t blob_len, uint8_t *out, size_t cap,
                     size_t *out_len)
{
	return store_blob_open(out, cap, out_len, secbuf_data(db->seal_key), table, row, row_len,
	                       blob, blob_len);
}

/* ---- meta --------------------------------------------------------------- */

/* A meta key: 1..STORE_META_KEY_MAX bytes; reserved names only when allowed. */
static sotto_err meta_key_check(const char *k, bool allow_reserved, size_t *k_len)
{
	size_t n = strnlen(k, STORE_META_KEY_MAX + 1);
	size_t prefix = sizeof(STORE_META_RESERVED_PREFIX) - 1;

	*k_len = n;
	if (n == 0 || n > STORE_META_KEY_MAX)
		return SOTTO_ERR_INVALID;
	if (!allow_reserved && n >= prefix && memcmp(k, STORE_META_RESERVED_PREFIX, prefix) == 0)
		return SOTTO_ERR_INVALID;
	return SOTTO_OK;
}

static sotto_err meta_put(struct store_db *d, const char *k, size_t k_len, const uint8_t *v,
                          size_t v_len)
{
	sqlite3_stmt *st = NULL;
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	sotto_err rc;
	int src;

	if (v_len > STORE_RECORD_MAX) {
		rc = SOTTO_ERR_TOO_LARGE;
		goto out;
	}
	if ((blob = ctx_alloc(d->ctx, store_blob_len(v_len))) == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	if ((rc = store_seal(d, STORE_META_TABLE, (const uint8_t *)k, k_len, v, v_len, blob,
	                     store_blob_len(v_len), &blob_len)) != SOTTO_OK)
		goto out;
	if ((rc = store_db_prepare(d, "INSERT OR REPLACE INTO meta(k, v) VALUES (?1, ?2)", &st)) !=
	    SOTTO_OK)
		goto out;
	if ((src = sqlite3_bind_text(st, 1, k, (int)k_len, SQLITE_STATIC)) != SQLITE_OK ||
	    (src = sqlite3_bind_blob(st, 2, blob, (int)blob_len, SQLITE_STATIC)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE) {
		rc = db_fail(d, src);
		goto out;
	}
	rc = SOTTO_OK;
out:
	sqlite3_finalize(st);
	ctx_free(d->ctx, blob);
	return rc;
}

static sotto_err meta_get(struct store_db *d, const char *k, size_t k_len, uint8_t *out, size_t cap,
                          size_t *out_len)
{
	sqlite3_stmt *st = NULL;
	const uint8_t *blob;
	size_t blob_len;
	sotto_err rc;
	int src;

	*out_len = 0;
	if ((rc = store_db_prepare(d, "SELECT v FROM meta WHERE k = ?1", &st)) != SOTTO_OK)
		goto out;
	if ((src = sqlite3_bind_text(st, 1, k, (int)k_len, SQLITE_STATIC)) != SQLITE_OK) {
		rc = db_fail(d, src);
		goto out;
	}
	src = sqlite3_step(st);
	if (src == SQLITE_DONE) {
		rc = SOTTO_ERR_NOT_FOUND;
		goto out;
	}
	if (src != SQLITE_ROW) {
		rc = db_fail(d, src);
		goto out;
	}
	if (sqlite3_column_type(st, 0) != SQLITE_BLOB) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	blob = sqlite3_column_blob(st, 0);
	blob_len = blob == NULL ? 0 : (size_t)sqlite3_column_bytes(st, 0);
	/* The blob stays valid until the statement is stepped again or finalized. */
	rc = store_open(d, STORE_META_TABLE, (const uint8_t *)k, k_len,
	                blob == NULL ? (const uint8_t *)"" : blob, blob_len, out, cap, out_len);
out:
	sqlite3_finalize(st);
	return rc;
}

sotto_err store_meta_put(struct store_db *db, const char *k, const uint8_t *v, size_t v_len)
{
	size_t k_len = 0;
	sotto_err rc = meta_key_check(k, false, &k_len);

	return rc != SOTTO_OK ? rc : meta_put(db, k, k_len, v, v_len);
}

sotto_err store_meta_get(struct store_db *db, const char *k, uint8_t *out, size_t cap,
                         size_t *out_len)
{
	size_t k_len = 0;
	sotto_err rc;

	*out_len = 0;
	if ((rc = meta_key_check(k, true, &k_len)) != SOTTO_OK)
		return rc;
	return meta_get(db, k, k_len, out, cap, out_len);
}

/*
 * Opens the key check row, or writes it into a database that has none yet.
 * A row that does not open under this key means the key is not this
 * database's: SOTTO_ERR_AUTH.
 */
static sotto_err db_key_check(struct store_db *d)
{
	const char *text = store_key_check_text;
	const size_t k_len = sizeof(STORE_META_KEY_CHECK) - 1;
	uint8_t buf[sizeof(store_key_check_text) - 1];
	size_t n = 0;
	sotto_err rc;

	rc = meta_get(d, STORE_META_KEY_CHECK, k_len, buf, sizeof(buf), &n);
	if (rc == SOTTO_ERR_NOT_FOUND)
		return meta_put(d, STORE_META_KEY_CHECK, k_len, (const uint8_t *)text, sizeof(buf));
	if (rc == SOTTO_ERR_TOO_LARGE)
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	if (rc != SOTTO_OK)
		return rc;
	if (n != sizeof(buf) || memcmp(buf, text, sizeof(buf)) != 0)
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	return SOTTO_OK;
}

/* ---- opening ------------------------------------------------------------ */

static sotto_err db_open_file(struct store_db *d, const struct store_profile *p,
                              const char *const *steps, size_t n_steps)
{
	char path[STORE_PATH_MAX];
	sotto_err rc;
	int src;

	if ((rc = store_profile_file(p, STORE_DB_FILE, path, sizeof(path))) != SOTTO_OK ||
	    (rc = prepare_file(p, path)) != SOTTO_OK ||
	    (rc = tighten_sidecar(p, STORE_DB_FILE "-wal")) != SOTTO_OK ||
	    (rc = tighten_sidecar(p, STORE_DB_FILE "-shm")) != SOTTO_OK)
		return rc;
	src = sqlite3_open_v2(path, &d->db,
	                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
	                      NULL);
	if (src != SQLITE_OK)
		return d->db == NULL ? SOTTO_ERR_NOMEM : db_fail(d, src);
	if ((rc = db_configure(d)) != SOTTO_OK || (rc = db_migrate(d, steps, n_steps)) != SOTTO_OK)
		return rc;
	return db_key_check(d);
}

sotto_err store_db_new_with(struct sotto_ctx *ctx, const struct store_profile *profile,
                            struct secbuf *key, const char *const *steps, size_t n_steps,
                            struct store_db **out)
{
	struct store_db *d = NULL;
	sotto_err rc;

	*out = NULL;
	if (n_steps == 0 || secbuf_len(key) != STORE_KEY_LEN) {
		rc = SOTTO_ERR_INVALID;
		goto out;
	}
	if ((d = ctx_calloc(ctx, 1, sizeof(*d))) == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	d->ctx = ctx;
	if ((rc = secbuf_new(ctx, STORE_SEAL_KEY_LEN, &d->seal_key)) != SOTTO_OK)
		goto out;
	if ((rc = kdf_derive(secbuf_data(d->seal_key), STORE_SEAL_KEY_LEN, secbuf_data(key),
	                     STORE_LABEL_SEAL, store_no_context, 0)) != SOTTO_OK)
		goto out;
	if ((rc = db_open_file(d, profile, steps, n_steps)) != SOTTO_OK)
		goto out;
	*out = d;
	d = NULL; /* moved */
	rc = SOTTO_OK;
out:
	store_db_free(d);
	return rc;
}

sotto_err store_db_new(struct sotto_ctx *ctx, const struct store_profile *profile,
                       struct secbuf *key, struct store_db **out)
{
	return store_db_new_with(ctx, profile, key, store_migrations, STORE_N_MIGRATIONS, out);
}

void store_db_free(struct store_db *SOTTO_NULLABLE db)
{
	if (db == NULL)
		return;
	if (db->db != NULL && !sqlite3_get_autocommit(db->db))
		(void)sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
	/*
	 * Closing the last connection checkpoints the log into the database. A
	 * statement the layers above left unfinalized keeps the connection alive
	 * (close_v2) until it is finalized, instead of leaking it.
	 */
	sqlite3_close_v2(db->db);
	secbuf_free(db->seal_key);
	ctx_free(db->ctx, db);
}
