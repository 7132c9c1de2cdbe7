/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite.c - the relay store on embedded SQLite (relay layer).
 *
 * One database file, DIR/relay.db, used by one connection that holds an
 * exclusive lock for its whole life (a second relay on the same directory
 * gets SOTTO_ERR_BUSY). Durability: journal_mode=WAL with synchronous=FULL,
 * so COMMIT appends the batch's pages to the write-ahead log and fsyncs the
 * log before it returns; the directory is fsynced once the log exists, and
 * checkpoints fsync the log before copying it and the database after. What
 * a returned commit guarantees is therefore exactly what fsync guarantees
 * on the host: the batch survives a process crash, a kernel crash and a
 * power cut on a disk that honours flushes.
 *
 * With defer_sync the connection runs synchronous=NORMAL: COMMIT appends to
 * the log without the fsync (checkpoints still sync as above, and SQLite
 * syncs the log's header when it starts reusing the file), and
 * relay_store_sync fdatasyncs the log through a descriptor of our own,
 * which makes every commit before it exactly as durable as FULL would have.
 * The log is never locked (locking_mode=EXCLUSIVE locks only the database
 * file), so our descriptor cannot disturb SQLite's POSIX locks, and it stays
 * open until after sqlite3_close. The point: the fsync can run on another
 * thread while the relay executes the next batch.
 *
 * Schema (PRAGMA user_version 1, application_id RELAY_STORE_APP_ID):
 *
 *   queue(rid BLOB 24 PK, sid BLOB 24 UNIQUE, status INT 0..2,
 *         created_s INT, k_rauth BLOB 32, k_deliver BLOB 32,
 *         k_sauth BLOB 32 or NULL, ssk_priv BLOB 32 or NULL)  WITHOUT ROWID
 *   msg(seq INT PK AUTOINCREMENT, rid -> queue ON DELETE CASCADE,
 *       msg_id BLOB 24, ts INT, flags INT 0..255, body BLOB <= 16000)
 *   indexes: msg(rid, msg_id) UNIQUE, msg(rid) (order within a queue by
 *   seq), msg(ts) (expiry).
 *
 * The file is untrusted input (STYLE.md §7): every value read back goes
 * through a type, range and exact-length check and a malformed row is
 * SOTTO_ERR_CORRUPT; triggers, views and schema functions are disabled so an
 * edited file cannot run code of its author's choosing on our writes.
 *
 * Privacy: files are created 0600 inside a 0700 directory (SQLite gives the
 * log the mode of the database file), temporary tables stay in memory, and
 * secure_delete=FAST zeroes deleted cells inside b-tree pages, so wiped keys
 * (ssk_priv after KEY, a deleted queue) do not linger in the file; old page
 * images remain in the log until it is checkpointed and overwritten.
 * SQLite's own page cache is ordinary heap memory: queue keys pass through
 * it like through any database.
 *
 * SQLite allocates through its own allocator (configuring it is process
 * wide, which the library must not do); the context allocator serves only
 * the store structure and the path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "core/ctx.h"
#include "core/err.h"
#include "relay/store.h"
#include "relay/store_int.h"
#include "wire/reader.h"

enum {
	STORE_PATH_MAX = 4096,           /* whole database path, bytes */
	STORE_CACHE_KIB_DEFAULT = 8192,  /* page cache */
	STORE_CHECKPOINT_DEFAULT = 1000, /* WAL pages */
	STORE_WAL_KEEP_BYTES = 64 << 20, /* the log is cut back to this after a checkpoint */
};

/* Every statement the store runs after opening, prepared once. */
enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_Q_ADD,
	ST_Q_BY_RID,
	ST_Q_BY_SID,
	ST_Q_STATUS,
	ST_Q_SECURE,
	ST_Q_SUSPEND,
	ST_Q_DELETE,
	ST_M_ADD,
	ST_M_COUNT,
	ST_M_FIRST,
	ST_M_AFTER,
	ST_M_DELETE,
	ST_M_EXPIRE,
	ST_STATS,
	STORE_N_STMTS
};

#define QUEUE_COLS "rid, sid, status, created_s, k_rauth, k_deliver, k_sauth, ssk_priv"

static const char *const store_sql[STORE_N_STMTS] = {
        [ST_BEGIN] = "BEGIN IMMEDIATE",
        [ST_COMMIT] = "COMMIT",
        [ST_ROLLBACK] = "ROLLBACK",
        [ST_Q_ADD] = "INSERT INTO queue(" QUEUE_COLS ") VALUES (?1, ?2, 0, ?3, ?4, ?5, NULL, ?6)",
        [ST_Q_BY_RID] = "SELECT " QUEUE_COLS " FROM queue WHERE rid = ?1",
        [ST_Q_BY_SID] = "SELECT " QUEUE_COLS " FROM queue WHERE sid = ?1",
        [ST_Q_STATUS] = "SELECT status FROM queue WHERE rid = ?1",
        [ST_Q_SECURE] = "UPDATE queue SET status = 1, k_sauth = ?2, ssk_priv = NULL "
                        "WHERE rid = ?1 AND status = 0",
        [ST_Q_SUSPEND] = "UPDATE queue SET status = 2, ssk_priv = NULL WHERE rid = ?1",
        [ST_Q_DELETE] = "DELETE FROM queue WHERE rid = ?1",
        [ST_M_ADD] = "INSERT INTO msg(rid, msg_id, ts, flags, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        [ST_M_COUNT] = "SELECT count(*) FROM msg WHERE rid = ?1",
        [ST_M_FIRST] = "SELECT seq, msg_id, ts, flags, body FROM msg WHERE rid = ?1 "
                       "ORDER BY seq LIMIT 1",
        [ST_M_AFTER] = "SELECT seq, msg_id, ts, flags, body FROM msg WHERE rid = ?1 AND seq > ?2 "
                       "ORDER BY seq LIMIT 1",
        [ST_M_DELETE] = "DELETE FROM msg WHERE rid = ?1 AND msg_id = ?2",
        [ST_M_EXPIRE] = "DELETE FROM msg WHERE seq IN (SELECT seq FROM msg WHERE ts < ?1 "
                        "ORDER BY ts, seq LIMIT ?2)",
        [ST_STATS] = "SELECT (SELECT count(*) FROM queue), (SELECT count(*) FROM msg)",
};

/*
 * Migrations: entry v takes the schema from user_version v to v + 1 and sets
 * the new user_version itself. Entries are never edited once released.
 */
static const char *const store_migrations[RELAY_STORE_SCHEMA_VERSION] = {
        "CREATE TABLE queue("
        " rid BLOB PRIMARY KEY NOT NULL, sid BLOB NOT NULL UNIQUE, status INTEGER NOT NULL,"
        " created_s INTEGER NOT NULL, k_rauth BLOB NOT NULL, k_deliver BLOB NOT NULL,"
        " k_sauth BLOB, ssk_priv BLOB) WITHOUT ROWID;"
        "CREATE TABLE msg("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " rid BLOB NOT NULL REFERENCES queue(rid) ON DELETE CASCADE,"
        " msg_id BLOB NOT NULL, ts INTEGER NOT NULL, flags INTEGER NOT NULL, body BLOB NOT NULL);"
        "CREATE UNIQUE INDEX msg_rid_id ON msg(rid, msg_id);"
        "CREATE INDEX msg_rid ON msg(rid);"
        "CREATE INDEX msg_ts ON msg(ts);"
        "PRAGMA application_id = 1936675922;" /* RELAY_STORE_APP_ID */
        "PRAGMA user_version = 1;",
};

_Static_assert(RELAY_STORE_APP_ID == 1936675922, "application_id in the first migration");

struct relay_store {
	struct sotto_ctx *ctx;             /* borrowed */
	sqlite3 *db;                       /* owned */
	sqlite3_stmt *stmt[STORE_N_STMTS]; /* owned, prepared at open */
	int last_rc;                       /* extended SQLite code of the last failed call */
	bool in_batch;                     /* relay_store_begin() done, no commit/rollback yet */
	bool is_failed;                    /* a commit hit an I/O error: refuse everything */
	int log_fd;                        /* defer_sync: the log, for relay_store_sync; else -1 */
};

sqlite3 *relay_store_db(struct relay_store *store)
{
	return store->db;
}

void relay_store_queue_clear(struct relay_store_queue *q)
{
	sodium_memzero(q, sizeof(*q));
}

/* Maps an extended SQLite result code to our vocabulary. */
static sotto_err store_map(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_FOREIGNKEY: return SOTTO_ERR_NOT_FOUND;
	case SQLITE_CONSTRAINT_PRIMARYKEY:
	case SQLITE_CONSTRAINT_UNIQUE: return SOTTO_ERR_USED;
	default: break;
	}
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

/* Records a failed SQLite call and maps it. */
static sotto_err store_fail(struct relay_store *s, int rc)
{
	s->last_rc = rc;
	return store_map(rc);
}

/*
 * Every operation starts here: a failed store refuses everything, and a
 * batch that SQLite rolled back on its own (disk full, I/O error) must not
 * let later writes autocommit one by one as if they were the batch.
 */
static sotto_err store_usable(struct relay_store *s)
{
	if (s->is_failed)
		return SOTTO_ERR_IO;
	if (s->in_batch && sqlite3_get_autocommit(s->db))
		return SOTTO_ERR_IO;
	return SOTTO_OK;
}

/* Steps st once; *has_row says whether it produced a row. */
static sotto_err store_step(struct relay_store *s, sqlite3_stmt *st, bool *has_row)
{
	int rc = sqlite3_step(st);

	*has_row = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return SOTTO_OK;
	return store_fail(s, rc);
}

/* Steps a statement that returns no row, then resets it. */
static sotto_err store_run(struct relay_store *s, enum store_stmt which)
{
	sqlite3_stmt *st = s->stmt[which];
	bool has_row = false;
	sotto_err rc = store_step(s, st, &has_row);

	sqlite3_reset(st);
	return rc;
}

/* Ends a use of st: no read stays open and no pointer to caller memory stays bound. */
static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Binds len bytes at p (borrowed until stmt_done); an empty value is an empty blob, not NULL. */
static sotto_err bind_blob(struct relay_store *s, sqlite3_stmt *st, int i,
                           const uint8_t *SOTTO_NULLABLE p, size_t len)
{
	int rc;

	if (len == 0 || p == NULL)
		rc = sqlite3_bind_zeroblob(st, i, 0);
	else
		rc = sqlite3_bind_blob(st, i, p, (int)len, SQLITE_STATIC);
	return rc == SQLITE_OK ? SOTTO_OK : store_fail(s, rc);
}

static sotto_err bind_int(struct relay_store *s, sqlite3_stmt *st, int i, int64_t v)
{
	int rc = sqlite3_bind_int64(st, i, v);

	return rc == SQLITE_OK ? SOTTO_OK : store_fail(s, rc);
}

/* Reads column i as a blob of exactly len bytes into out. */
static sotto_err col_fixed(sqlite3_stmt *st, int i, uint8_t *out, size_t len)
{
	struct wire_reader r;
	const uint8_t *p;
	int n;

	if (sqlite3_column_type(st, i) != SQLITE_BLOB)
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	p = sqlite3_column_blob(st, i);
	n = sqlite3_column_bytes(st, i);
	wire_reader_init(&r, p, p == NULL ? 0 : (size_t)n);
	wire_reader_copy(&r, out, len);
	if (wire_reader_finish(&r) != SOTTO_OK)
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	return SOTTO_OK;
}

/* Like col_fixed, but NULL is allowed and clears *has. */
static sotto_err col_fixed_opt(sqlite3_stmt *st, int i, uint8_t *out, size_t len, bool *has)
{
	*has = false;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return SOTTO_OK;
	*has = true;
	return col_fixed(st, i, out, len);
}

/* Reads column i as an integer within [lo, hi]. */
static sotto_err col_int(sqlite3_stmt *st, int i, int64_t lo, int64_t hi, int64_t *out)
{
	int64_t v;

	*out = 0;
	if (sqlite3_column_type(st, i) != SQLITE_INTEGER)
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	v = sqlite3_column_int64(st, i);
	if (v < lo || v > hi)
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	*out = v;
	return SOTTO_OK;
}

/* Key presence must match the status (store.h, enum relay_store_status). */
static bool queue_is_consistent(const struct relay_store_queue *q)
{
	switch (q->status) {
	case RELAY_STORE_ACTIVE: return q->has_ssk_priv && !q->has_k_sauth;
	case RELAY_STORE_SECURED: return !q->has_ssk_priv && q->has_k_sauth;
	case RELAY_STORE_SUSPENDED: return !q->has_ssk_priv;
	}
	return false;
}

/* Parses one row of QUEUE_COLS into *q. */
static sotto_err read_queue(sqlite3_stmt *st, struct relay_store_queue *q)
{
	int64_t status = 0;
	int64_t created = 0;
	sotto_err rc;

	if ((rc = col_fixed(st, 0, q->rid, RELAY_ID_LEN)) != SOTTO_OK)
		goto out;
	if ((rc = col_fixed(st, 1, q->sid, RELAY_ID_LEN)) != SOTTO_OK)
		goto out;
	if ((rc = col_int(st, 2, RELAY_STORE_ACTIVE, RELAY_STORE_SUSPENDED, &status)) != SOTTO_OK)
		goto out;
	if ((rc = col_int(st, 3, 0, INT64_MAX, &created)) != SOTTO_OK)
		goto out;
	if ((rc = col_fixed(st, 4, q->k_rauth, RELAY_KEY_LEN)) != SOTTO_OK)
		goto out;
	if ((rc = col_fixed(st, 5, q->k_deliver, RELAY_KEY_LEN)) != SOTTO_OK)
		goto out;
	if ((rc = col_fixed_opt(st, 6, q->k_sauth, RELAY_KEY_LEN, &q->has_k_sauth)) != SOTTO_OK)
		goto out;
	if ((rc = col_fixed_opt(st, 7, q->ssk_priv, RELAY_KEY_LEN, &q->has_ssk_priv)) != SOTTO_OK)
		goto out;
	q->status = (enum relay_store_status)status;
	q->created_s = (uint64_t)created;
	if (!queue_is_consistent(q)) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	rc = SOTTO_OK;
out:
	return rc;
}

/* Parses one row of ST_M_FIRST into *m. */
static sotto_err read_msg(sqlite3_stmt *st, struct relay_store_msg *m)
{
	struct wire_reader r;
	int64_t seq = 0;
	int64_t ts = 0;
	int64_t flags = 0;
	const uint8_t *p;
	size_t n;
	sotto_err rc;

	if ((rc = col_int(st, 0, 1, INT64_MAX, &seq)) != SOTTO_OK)
		goto out;
	if ((rc = col_fixed(st, 1, m->msg_id, RELAY_MSG_ID_LEN)) != SOTTO_OK)
		goto out;
	if ((rc = col_int(st, 2, 0, INT64_MAX, &ts)) != SOTTO_OK)
		goto out;
	if ((rc = col_int(st, 3, 0, UINT8_MAX, &flags)) != SOTTO_OK)
		goto out;
	if (sqlite3_column_type(st, 4) != SQLITE_BLOB) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	p = sqlite3_column_blob(st, 4);
	n = p == NULL ? 0 : (size_t)sqlite3_column_bytes(st, 4);
	if (n > RELAY_MSG_BODY_MAX) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	wire_reader_init(&r, p, n);
	wire_reader_copy(&r, m->body, n);
	if (wire_reader_finish(&r) != SOTTO_OK) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	m->seq = (uint64_t)seq;
	m->timestamp_s = (uint64_t)ts;
	m->flags = (uint8_t)flags;
	m->body_len = n;
	rc = SOTTO_OK;
out:
	return rc;
}

/* ---- opening ---------------------------------------------------------- */

/* Fsyncs the directory at path, making entries created in it durable. */
static sotto_err sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sotto_err rc = SOTTO_OK;

	if (fd < 0)
		return SOTTO_ERR_IO;
	if (fsync(fd) != 0)
		rc = SOTTO_ERR_IO;
	close(fd);
	return rc;
}

/*
 * Makes dir exist as an owner-only directory. path_buf (at least
 * strlen(dir) + 4 bytes) is scratch space for "dir/..", whose fsync makes a
 * new directory's entry durable.
 */
static sotto_err prepare_dir(const char *dir, char *path_buf, size_t buf_len)
{
	struct stat sb;
	size_t n = strlen(dir);

	if (mkdir(dir, 0700) == 0) {
		/* The umask may have taken owner bits too; the mode must be exact. */
		if (chmod(dir, 0700) != 0)
			return SOTTO_ERR_IO;
		if (n + 4 > buf_len)
			return SOTTO_ERR_INVALID;
		memcpy(path_buf, dir, n);
		memcpy(path_buf + n, "/..", 4);
		return sync_dir(path_buf);
	}
	if (errno != EEXIST)
		return SOTTO_ERR_IO;
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return SOTTO_ERR_IO;
	if ((sb.st_mode & 0077) != 0 && chmod(dir, 0700) != 0)
		return SOTTO_ERR_IO;
	return SOTTO_OK;
}

/*
 * Creates the database file 0600 (SQLite then creates its log with the same
 * mode) or tightens an existing one; refuses anything but a regular file.
 * An existing file is never opened here: closing any descriptor of a file
 * drops every POSIX lock this process holds on it, including SQLite's.
 * A new file's directory entry is made durable at once.
 */
static sotto_err prepare_file(const char *dir, const char *path)
{
	struct stat sb;
	int fd;

	if (lstat(path, &sb) == 0) {
		if (!S_ISREG(sb.st_mode))
			return SOTTO_ERR_IO;
		if ((sb.st_mode & 0777) != 0600 && chmod(path, 0600) != 0)
			return SOTTO_ERR_IO;
		return SOTTO_OK;
	}
	if (errno != ENOENT)
		return SOTTO_ERR_IO;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return SOTTO_ERR_IO;
	if (fchmod(fd, 0600) != 0) {
		close(fd);
		return SOTTO_ERR_IO;
	}
	if (close(fd) != 0)
		return SOTTO_ERR_IO;
	return sync_dir(dir);
}

/* Tightens a log or shared-memory file left by an earlier run, if present. */
static sotto_err tighten_sidecar(char *path, size_t path_len, const char *suffix)
{
	size_t n = strlen(suffix);
	struct stat sb;
	sotto_err rc = SOTTO_OK;

	memcpy(path + path_len, suffix, n + 1);
	if (lstat(path, &sb) != 0) {
		if (errno != ENOENT)
			rc = SOTTO_ERR_IO;
	} else if (!S_ISREG(sb.st_mode)) {
		rc = SOTTO_ERR_IO;
	} else if ((sb.st_mode & 0077) != 0 && chmod(path, 0600) != 0) {
		rc = SOTTO_ERR_IO;
	}
	path[path_len] = '\0';
	return rc;
}

/* Runs SQL text that returns no rows we need (no secrets in it). */
static sotto_err store_exec(struct relay_store *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? SOTTO_OK : store_fail(s, rc);
}

/* Runs a one-row query and returns column 0 as an integer. */
static sotto_err store_query_int(struct relay_store *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	bool has_row = false;
	sotto_err rc;
	int src;

	*out = 0;
	if ((src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL)) != SQLITE_OK) {
		rc = store_fail(s, src);
		goto out;
	}
	if ((rc = store_step(s, st, &has_row)) != SOTTO_OK)
		goto out;
	if (!has_row) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	rc = col_int(st, 0, INT32_MIN, INT64_MAX, out);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Sets one integer pragma (names are our literals, never input). */
static sotto_err store_pragma_int(struct relay_store *s, const char *name, long long v)
{
	char sql[96];
	int n = snprintf(sql, sizeof(sql), "PRAGMA %s = %lld", name, v);

	if (!SOTTO_INVARIANT(n > 0 && (size_t)n < sizeof(sql)))
		return SOTTO_ERR_INTERNAL;
	return store_exec(s, sql);
}

/*
 * The file is untrusted: no triggers or views run, schema SQL cannot call
 * functions with side effects, and shadow tables cannot be written.
 */
static void store_harden(sqlite3 *db)
{
	sqlite3_extended_result_codes(db, 1);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
}

/* Sets locking, durability, privacy and cache settings of the connection. */
static sotto_err store_configure(struct relay_store *s, const struct relay_store_config *cfg)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	sotto_err rc;
	int src;

	store_harden(s->db);
	/* Exclusive before WAL: the WAL index then lives in our heap, not in a -shm file. */
	if ((rc = store_exec(s, "PRAGMA locking_mode = EXCLUSIVE; PRAGMA foreign_keys = ON;"
	                        "PRAGMA temp_store = MEMORY; PRAGMA secure_delete = FAST")) !=
	            SOTTO_OK ||
	    (rc = store_pragma_int(s, "cache_size", -(long long)cfg->cache_kib)) != SOTTO_OK ||
	    (rc = store_pragma_int(s, "wal_autocheckpoint", cfg->checkpoint_pages)) != SOTTO_OK ||
	    (rc = store_pragma_int(s, "journal_size_limit", STORE_WAL_KEEP_BYTES)) != SOTTO_OK)
		goto out;
	/* WAL first, so that synchronous=FULL below means "fsync the log at every commit". */
	if ((src = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL)) !=
	    SQLITE_OK) {
		rc = store_fail(s, src);
		goto out;
	}
	if ((src = sqlite3_step(st)) != SQLITE_ROW) {
		rc = store_fail(s, src);
		goto out;
	}
	mode = sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		rc = SOTTO_ERR_IO;
		goto out;
	}
	rc = store_exec(s, cfg->defer_sync ? "PRAGMA synchronous = NORMAL"
	                                   : "PRAGMA synchronous = FULL");
out:
	sqlite3_finalize(st);
	return rc;
}

/* Reads the schema identity; a file that is not ours is SOTTO_ERR_CORRUPT. */
static sotto_err store_version(struct relay_store *s, int64_t *version)
{
	int64_t app_id = 0;
	int64_t n_objects = 0;
	sotto_err rc;

	if ((rc = store_query_int(s, "PRAGMA user_version", version)) != SOTTO_OK)
		goto out;
	if ((rc = store_query_int(s, "PRAGMA application_id", &app_id)) != SOTTO_OK)
		goto out;
	if ((rc = store_query_int(s, "SELECT count(*) FROM sqlite_master", &n_objects)) != SOTTO_OK)
		goto out;
	if (*version == 0 && app_id == 0 && n_objects == 0)
		goto out; /* a new, empty file */
	if (app_id != RELAY_STORE_APP_ID || *version < 1) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	if (*version > RELAY_STORE_SCHEMA_VERSION)
		rc = SOTTO_ERR_VERSION;
out:
	return rc;
}

/*
 * Takes the exclusive lock (kept while open), checks the schema version and
 * applies the missing migrations in one durable transaction.
 */
static sotto_err store_migrate(struct relay_store *s)
{
	int64_t version = 0;
	sotto_err rc;

	if ((rc = store_exec(s, "BEGIN IMMEDIATE")) != SOTTO_OK)
		goto out;
	if ((rc = store_version(s, &version)) != SOTTO_OK)
		goto out;
	for (; version < RELAY_STORE_SCHEMA_VERSION; version++) {
		if ((rc = store_exec(s, store_migrations[version])) != SOTTO_OK)
			goto out;
	}
	rc = store_exec(s, "COMMIT");
out:
	if (rc != SOTTO_OK && !sqlite3_get_autocommit(s->db))
		(void)store_exec(s, "ROLLBACK");
	return rc;
}

static sotto_err store_prepare_all(struct relay_store *s)
{
	int src;

	for (size_t i = 0; i < STORE_N_STMTS; i++) {
		src = sqlite3_prepare_v3(s->db, store_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		                         &s->stmt[i], NULL);
		if (src == SQLITE_NOMEM)
			return SOTTO_ERR_NOMEM;
		/* Our SQL is fixed; failing to prepare it means the schema is not ours. */
		if (src != SQLITE_OK)
			return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	}
	return SOTTO_OK;
}

/* Opens the connection on path and brings it to a usable state. */
static sotto_err store_open_db(struct relay_store *s, const char *path,
                               const struct relay_store_config *cfg)
{
	sotto_err rc;
	int src;

	src = sqlite3_open_v2(path, &s->db,
	                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
	                      NULL);
	if (src != SQLITE_OK) {
		rc = s->db == NULL ? SOTTO_ERR_NOMEM : store_fail(s, src);
		goto out;
	}
	if ((rc = store_configure(s, cfg)) != SOTTO_OK)
		goto out;
	if ((rc = store_migrate(s)) != SOTTO_OK)
		goto out;
	rc = store_prepare_all(s);
out:
	return rc;
}

sotto_err relay_store_new(struct sotto_ctx *ctx, const char *dir,
                          const struct relay_store_config *SOTTO_NULLABLE config,
                          struct relay_store **out)
{
	struct relay_store_config cfg = {0};
	struct relay_store *s = NULL;
	char *path = NULL;
	size_t dir_len = strlen(dir);
	size_t path_cap = dir_len + sizeof("/" RELAY_STORE_FILE "-wal");
	size_t base_len = dir_len + sizeof("/" RELAY_STORE_FILE) - 1;
	sotto_err rc;

	*out = NULL;
	if (config != NULL)
		cfg = *config;
	cfg.cache_kib = cfg.cache_kib != 0 ? cfg.cache_kib : STORE_CACHE_KIB_DEFAULT;
	cfg.checkpoint_pages =
	        cfg.checkpoint_pages != 0 ? cfg.checkpoint_pages : STORE_CHECKPOINT_DEFAULT;
	if (dir_len == 0 || path_cap > STORE_PATH_MAX) {
		rc = SOTTO_ERR_INVALID;
		goto out;
	}
	if ((path = ctx_alloc(ctx, path_cap)) == NULL ||
	    (s = ctx_calloc(ctx, 1, sizeof(*s))) == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	s->ctx = ctx;
	s->log_fd = -1;
	if ((rc = prepare_dir(dir, path, path_cap)) != SOTTO_OK)
		goto out;
	memcpy(path, dir, dir_len);
	memcpy(path + dir_len, "/" RELAY_STORE_FILE, base_len - dir_len + 1);
	if ((rc = prepare_file(dir, path)) != SOTTO_OK)
		goto out;
	if ((rc = tighten_sidecar(path, base_len, "-wal")) != SOTTO_OK ||
	    (rc = tighten_sidecar(path, base_len, "-shm")) != SOTTO_OK)
		goto out;
	if ((rc = store_open_db(s, path, &cfg)) != SOTTO_OK)
		goto out;
	/* The log exists now (the migration committed in WAL mode). */
	memcpy(path + base_len, "-wal", sizeof("-wal"));
	if (cfg.defer_sync && (s->log_fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = SOTTO_ERR_IO;
		goto out;
	}
	if ((rc = sync_dir(dir)) != SOTTO_OK)
		goto out;
	*out = s;
	s = NULL; /* moved */
	rc = SOTTO_OK;
out:
	relay_store_free(s);
	ctx_free(ctx, path);
	return rc;
}

void relay_store_free(struct relay_store *SOTTO_NULLABLE store)
{
	if (store == NULL)
		return;
	if (store->db != NULL && !sqlite3_get_autocommit(store->db))
		(void)sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
	for (size_t i = 0; i < STORE_N_STMTS; i++)
		sqlite3_finalize(store->stmt[i]);
	sqlite3_close(store->db);
	if (store->log_fd >= 0)
		close(store->log_fd);
	ctx_free(store->ctx, store);
}

/* ---- batches ---------------------------------------------------------- */

sotto_err relay_store_begin(struct relay_store *store)
{
	sotto_err rc;

	if (store->is_failed)
		return SOTTO_ERR_IO;
	if (store->in_batch)
		return SOTTO_ERR_STATE;
	if ((rc = store_run(store, ST_BEGIN)) != SOTTO_OK)
		return rc;
	store->in_batch = true;
	return SOTTO_OK;
}

sotto_err relay_store_commit(struct relay_store *store)
{
	sotto_err rc;

	if (store->is_failed)
		return SOTTO_ERR_IO;
	if (!store->in_batch)
		return SOTTO_ERR_STATE;
	store->in_batch = false;
	/* SQLite already rolled the batch back after an earlier failure. */
	if (sqlite3_get_autocommit(store->db))
		return SOTTO_ERR_IO;
	if ((rc = store_run(store, ST_COMMIT)) == SOTTO_OK)
		return SOTTO_OK;
	if ((store->last_rc & 0xff) == SQLITE_IOERR)
		store->is_failed = true;
	if (!sqlite3_get_autocommit(store->db))
		(void)store_run(store, ST_ROLLBACK);
	return rc;
}

sotto_err relay_store_sync(struct relay_store *store)
{
	if (store->log_fd < 0)
		return SOTTO_OK;
	if (fdatasync(store->log_fd) != 0)
		return SOTTO_ERR_IO;
	return SOTTO_OK;
}

bool relay_store_defers_sync(const struct relay_store *store)
{
	return store->log_fd >= 0;
}

void relay_store_rollback(struct relay_store *store)
{
	if (!store->in_batch)
		return;
	store->in_batch = false;
	if (!sqlite3_get_autocommit(store->db))
		(void)store_run(store, ST_ROLLBACK);
}

/* ---- queues ----------------------------------------------------------- */

sotto_err relay_store_queue_add(struct relay_store *store, const struct relay_store_queue *q)
{
	sqlite3_stmt *st = store->stmt[ST_Q_ADD];
	bool has_row = false;
	sotto_err rc;

	if (q->status != RELAY_STORE_ACTIVE || !q->has_ssk_priv || q->has_k_sauth ||
	    q->created_s > INT64_MAX)
		return SOTTO_ERR_INVALID;
	if ((rc = store_usable(store)) != SOTTO_OK)
		goto out;
	if ((rc = bind_blob(store, st, 1, q->rid, RELAY_ID_LEN)) != SOTTO_OK ||
	    (rc = bind_blob(store, st, 2, q->sid, RELAY_ID_LEN)) != SOTTO_OK ||
	    (rc = bind_int(store, st, 3, (int64_t)q->created_s)) != SOTTO_OK ||
	    (rc = bind_blob(store, st, 4, q->k_rauth, RELAY_KEY_LEN)) != SOTTO_OK ||
	    (rc = bind_blob(store, st, 5, q->k_deliver, RELAY_KEY_LEN)) != SOTTO_OK ||
	    (rc = bind_blob(store, st, 6, q->ssk_priv, RELAY_KEY_LEN)) != SOTTO_OK)
		goto out;
	rc = store_step(store, st, &has_row);
out:
	stmt_done(st);
	return rc;
}

/* Reads the queue selected by id through statement which. */
static sotto_err queue_get(struct relay_store *s, enum store_stmt which,
                           const uint8_t id[static RELAY_ID_LEN], struct relay_store_queue *out)
{
	sqlite3_stmt *st = s->stmt[which];
	bool has_row = false;
	sotto_err rc;

	relay_store_queue_clear(out);
	if ((rc = store_usable(s)) != SOTTO_OK)
		goto out;
	if ((rc = bind_blob(s, st, 1, id, RELAY_ID_LEN)) != SOTTO_OK)
		goto out;
	if ((rc = store_step(s, st, &has_row)) != SOTTO_OK)
		goto out;
	if (!has_row) {
		rc = SOTTO_ERR_NOT_FOUND;
		goto out;
	}
	rc = read_queue(st, out);
out:
	stmt_done(st);
	if (rc != SOTTO_OK)
		relay_store_queue_clear(out);
	return rc;
}

sotto_err relay_store_queue_by_rid(struct relay_store *store,
                                   const uint8_t rid[static RELAY_ID_LEN],
                                   struct relay_store_queue *out)
{
	return queue_get(store, ST_Q_BY_RID, rid, out);
}

sotto_err relay_store_queue_by_sid(struct relay_store *store,
                                   const uint8_t sid[static RELAY_ID_LEN],
                                   struct relay_store_queue *out)
{
	return queue_get(store, ST_Q_BY_SID, sid, out);
}

/*
 * Runs a write statement keyed by rid (plus an optional second blob) and
 * sets *n_changed to the rows it changed.
 */
static sotto_err store_write(struct relay_store *s, enum store_stmt which,
                             const uint8_t rid[static RELAY_ID_LEN],
                             const uint8_t *SOTTO_NULLABLE arg, size_t arg_len, int *n_changed)
{
	sqlite3_stmt *st = s->stmt[which];
	bool has_row = false;
	sotto_err rc;

	*n_changed = 0;
	if ((rc = store_usable(s)) != SOTTO_OK)
		goto out;
	if ((rc = bind_blob(s, st, 1, rid, RELAY_ID_LEN)) != SOTTO_OK)
		goto out;
	if (arg != NULL && (rc = bind_blob(s, st, 2, arg, arg_len)) != SOTTO_OK)
		goto out;
	if ((rc = store_step(s, st, &has_row)) != SOTTO_OK)
		goto out;
	*n_changed = sqlite3_changes(s->db);
out:
	stmt_done(st);
	return rc;
}

/* Tells a queue that is missing from one that exists in another state. */
static sotto_err queue_missing_or_state(struct relay_store *s,
                                        const uint8_t rid[static RELAY_ID_LEN])
{
	sqlite3_stmt *st = s->stmt[ST_Q_STATUS];
	bool has_row = false;
	int64_t status = 0;
	sotto_err rc;

	if ((rc = bind_blob(s, st, 1, rid, RELAY_ID_LEN)) != SOTTO_OK)
		goto out;
	if ((rc = store_step(s, st, &has_row)) != SOTTO_OK)
		goto out;
	if (!has_row) {
		rc = SOTTO_ERR_NOT_FOUND;
		goto out;
	}
	if ((rc = col_int(st, 0, RELAY_STORE_ACTIVE, RELAY_STORE_SUSPENDED, &status)) != SOTTO_OK)
		goto out;
	rc = SOTTO_ERR_STATE;
out:
	stmt_done(st);
	return rc;
}

sotto_err relay_store_queue_secure(struct relay_store *store,
                                   const uint8_t rid[static RELAY_ID_LEN],
                                   const uint8_t k_sauth[static RELAY_KEY_LEN])
{
	int n = 0;
	sotto_err rc;

	if ((rc = store_write(store, ST_Q_SECURE, rid, k_sauth, RELAY_KEY_LEN, &n)) != SOTTO_OK)
		return rc;
	return n == 1 ? SOTTO_OK : queue_missing_or_state(store, rid);
}

sotto_err relay_store_queue_suspend(struct relay_store *store,
                                    const uint8_t rid[static RELAY_ID_LEN])
{
	int n = 0;
	sotto_err rc;

	if ((rc = store_write(store, ST_Q_SUSPEND, rid, NULL, 0, &n)) != SOTTO_OK)
		return rc;
	return n == 1 ? SOTTO_OK : SOTTO_ERR_NOT_FOUND;
}

sotto_err relay_store_queue_delete(struct relay_store *store,
                                   const uint8_t rid[static RELAY_ID_LEN])
{
	int n = 0;
	sotto_err rc;

	/* The messages go with it: ON DELETE CASCADE, in the same statement. */
	if ((rc = store_write(store, ST_Q_DELETE, rid, NULL, 0, &n)) != SOTTO_OK)
		return rc;
	return n == 1 ? SOTTO_OK : SOTTO_ERR_NOT_FOUND;
}

/* ---- messages --------------------------------------------------------- */

sotto_err relay_store_msg_add(struct relay_store *store, const uint8_t rid[static RELAY_ID_LEN],
                              const uint8_t msg_id[static RELAY_MSG_ID_LEN], uint64_t timestamp_s,
                              uint8_t flags, const uint8_t *SOTTO_NULLABLE body, size_t body_len,
                              uint64_t *seq)
{
	sqlite3_stmt *st = store->stmt[ST_M_ADD];
	bool has_row = false;
	int64_t rowid;
	sotto_err rc;

	*seq = 0;
	if (body_len > RELAY_MSG_BODY_MAX)
		return SOTTO_ERR_TOO_LARGE;
	if (timestamp_s > INT64_MAX || (body == NULL && body_len != 0))
		return SOTTO_ERR_INVALID;
	if ((rc = store_usable(store)) != SOTTO_OK)
		goto out;
	if ((rc = bind_blob(store, st, 1, rid, RELAY_ID_LEN)) != SOTTO_OK ||
	    (rc = bind_blob(store, st, 2, msg_id, RELAY_MSG_ID_LEN)) != SOTTO_OK ||
	    (rc = bind_int(store, st, 3, (int64_t)timestamp_s)) != SOTTO_OK ||
	    (rc = bind_int(store, st, 4, flags)) != SOTTO_OK ||
	    (rc = bind_blob(store, st, 5, body, body_len)) != SOTTO_OK)
		goto out;
	if ((rc = store_step(store, st, &has_row)) != SOTTO_OK)
		goto out;
	rowid = sqlite3_last_insert_rowid(store->db);
	if (!SOTTO_INVARIANT(rowid > 0)) {
		rc = SOTTO_ERR_INTERNAL;
		goto out;
	}
	*seq = (uint64_t)rowid;
	rc = SOTTO_OK;
out:
	stmt_done(st);
	return rc;
}

sotto_err relay_store_msg_count(struct relay_store *store, const uint8_t rid[static RELAY_ID_LEN],
                                uint32_t *n)
{
	sqlite3_stmt *st = store->stmt[ST_M_COUNT];
	bool has_row = false;
	int64_t count = 0;
	sotto_err rc;

	*n = 0;
	if ((rc = store_usable(store)) != SOTTO_OK)
		goto out;
	if ((rc = bind_blob(store, st, 1, rid, RELAY_ID_LEN)) != SOTTO_OK)
		goto out;
	if ((rc = store_step(store, st, &has_row)) != SOTTO_OK)
		goto out;
	if (!has_row) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	if ((rc = col_int(st, 0, 0, UINT32_MAX, &count)) != SOTTO_OK)
		goto out;
	*n = (uint32_t)count;
out:
	stmt_done(st);
	return rc;
}

/* The first message of rid after seq (0: the oldest) into *out. */
static sotto_err msg_next(struct relay_store *store, const uint8_t rid[static RELAY_ID_LEN],
                          bool has_after, uint64_t after, struct relay_store_msg *out)
{
	sqlite3_stmt *st = store->stmt[has_after ? ST_M_AFTER : ST_M_FIRST];
	bool has_row = false;
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = store_usable(store)) != SOTTO_OK)
		goto out;
	if ((rc = bind_blob(store, st, 1, rid, RELAY_ID_LEN)) != SOTTO_OK)
		goto out;
	if (has_after && after > INT64_MAX) {
		rc = SOTTO_ERR_NOT_FOUND; /* no seq is that large */
		goto out;
	}
	if (has_after && (rc = bind_int(store, st, 2, (int64_t)after)) != SOTTO_OK)
		goto out;
	if ((rc = store_step(store, st, &has_row)) != SOTTO_OK)
		goto out;
	if (!has_row) {
		rc = SOTTO_ERR_NOT_FOUND;
		goto out;
	}
	rc = read_msg(st, out);
out:
	stmt_done(st);
	if (rc != SOTTO_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

sotto_err relay_store_msg_first(struct relay_store *store, const uint8_t rid[static RELAY_ID_LEN],
                                struct relay_store_msg *out)
{
	return msg_next(store, rid, false, 0, out);
}

sotto_err relay_store_msg_after(struct relay_store *store, const uint8_t rid[static RELAY_ID_LEN],
                                uint64_t seq, struct relay_store_msg *out)
{
	return msg_next(store, rid, true, seq, out);
}

sotto_err relay_store_msg_delete(struct relay_store *store, const uint8_t rid[static RELAY_ID_LEN],
                                 const uint8_t msg_id[static RELAY_MSG_ID_LEN])
{
	int n = 0;
	sotto_err rc;

	if ((rc = store_write(store, ST_M_DELETE, rid, msg_id, RELAY_MSG_ID_LEN, &n)) != SOTTO_OK)
		return rc;
	return n == 1 ? SOTTO_OK : SOTTO_ERR_NOT_FOUND;
}

sotto_err relay_store_msg_expire(struct relay_store *store, uint64_t before_s, uint32_t n_max,
                                 uint32_t *n_deleted)
{
	sqlite3_stmt *st = store->stmt[ST_M_EXPIRE];
	bool has_row = false;
	int n;
	sotto_err rc;

	*n_deleted = 0;
	if (n_max == 0)
		return SOTTO_ERR_INVALID;
	if ((rc = store_usable(store)) != SOTTO_OK)
		goto out;
	if ((rc = bind_int(store, st, 1, before_s > INT64_MAX ? INT64_MAX : (int64_t)before_s)) !=
	            SOTTO_OK ||
	    (rc = bind_int(store, st, 2, n_max)) != SOTTO_OK)
		goto out;
	if ((rc = store_step(store, st, &has_row)) != SOTTO_OK)
		goto out;
	n = sqlite3_changes(store->db);
	if (!SOTTO_INVARIANT(n >= 0 && (uint32_t)n <= n_max)) {
		rc = SOTTO_ERR_INTERNAL;
		goto out;
	}
	*n_deleted = (uint32_t)n;
out:
	stmt_done(st);
	return rc;
}

sotto_err relay_store_stats(struct relay_store *store, struct relay_store_stats *out)
{
	sqlite3_stmt *st = store->stmt[ST_STATS];
	bool has_row = false;
	int64_t n_queues = 0;
	int64_t n_msgs = 0;
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = store_usable(store)) != SOTTO_OK)
		goto out;
	if ((rc = store_step(store, st, &has_row)) != SOTTO_OK)
		goto out;
	if (!has_row) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	if ((rc = col_int(st, 0, 0, INT64_MAX, &n_queues)) != SOTTO_OK ||
	    (rc = col_int(st, 1, 0, INT64_MAX, &n_msgs)) != SOTTO_OK)
		goto out;
	out->n_queues = (uint64_t)n_queues;
	out->n_msgs = (uint64_t)n_msgs;
out:
	stmt_done(st);
	return rc;
}
