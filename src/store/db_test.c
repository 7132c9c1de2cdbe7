/* SPDX-License-Identifier: MIT */
/*
 * db_test.c - the profile database on real files: connection settings, file
 * modes, the migration runner over test-only lists (apply 1, then 1..3,
 * reopen; a database newer than the code; a step failing half way rolls
 * back to the last version), foreign and garbage files, the key check (a
 * wrong key is SOTTO_ERR_AUTH at open), sealed rows in a table of the test's
 * own (round trip, a blob moved to another row or table, every kind of
 * tampering through SQL), the meta table, and allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "core/bytes.h"
#include "store/db.h"
#include "store/db_int.h"
#include "store/key.h"
#include "store/profile.h"
#include "store/store_testlib.h"
#include "test_util.h"

struct fixture {
	char tmp[64];
	char db_path[ST_PATH_MAX];
	struct tu_alloc alloc;
	sotto_ctx *ctx;
	struct store_profile *profile;
	struct secbuf *key;
	struct store_db *db;
};

static struct secbuf *make_key(sotto_ctx *ctx, uint8_t seed)
{
	struct secbuf *k = NULL;

	assert_int_equal(secbuf_new(ctx, STORE_KEY_LEN, &k), SOTTO_OK);
	for (size_t i = 0; i < STORE_KEY_LEN; i++)
		secbuf_data(k)[i] = (uint8_t)(seed * 13 + i);
	return k;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	st_tmpdir(f->tmp, sizeof(f->tmp));
	f->ctx = tu_ctx(&f->alloc, NULL, NULL);
	assert_int_equal(store_profile_new(f->ctx, f->tmp, "p", &f->profile), SOTTO_OK);
	assert_int_equal(
	        store_profile_file(f->profile, STORE_DB_FILE, f->db_path, sizeof(f->db_path)),
	        SOTTO_OK);
	f->key = make_key(f->ctx, 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_db_free(f->db);
	secbuf_free(f->key);
	store_profile_free(f->profile);
	sotto_ctx_free(f->ctx);
	assert_int_equal(f->alloc.n_live, 0);
	st_rmtree(f->tmp, ST_TREE_DEPTH);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	store_db_free(f->db);
	f->db = NULL;
	assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db), SOTTO_OK);
}

/* Runs a one-row, one-column integer query on conn. */
static int64_t query_int(sqlite3 *conn, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(conn, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* A connection of the test's own to the database file (the store closed or not). */
static sqlite3 *raw_open(const struct fixture *f)
{
	sqlite3 *conn = NULL;

	assert_int_equal(sqlite3_open_v2(f->db_path, &conn, SQLITE_OPEN_READWRITE, NULL),
	                 SQLITE_OK);
	return conn;
}

static void exec_ok(sqlite3 *conn, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(conn, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err != NULL ? err : "?");
}

static void store_db_new__settings__wal_full_fk_secure_delete_busy_timeout(void **state)
{
	struct fixture *f = *state;
	sqlite3_stmt *st = NULL;
	sqlite3 *conn;

	assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db), SOTTO_OK);
	conn = store_db_sqlite(f->db);
	assert_int_equal(sqlite3_prepare_v2(conn, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(query_int(conn, "PRAGMA synchronous"), 2); /* FULL */
	assert_int_equal(query_int(conn, "PRAGMA foreign_keys"), 1);
	assert_int_equal(query_int(conn, "PRAGMA secure_delete"), 1);
	assert_int_equal(query_int(conn, "PRAGMA temp_store"), 2); /* MEMORY */
	assert_int_equal(query_int(conn, "PRAGMA busy_timeout"), STORE_BUSY_TIMEOUT_MS);
	assert_int_equal(query_int(conn, "PRAGMA cache_size"), -STORE_CACHE_KIB); /* bounded */
	assert_int_equal(query_int(conn, "PRAGMA trusted_schema"), 0);
	assert_int_equal(query_int(conn, "PRAGMA application_id"), STORE_DB_APP_ID);
	assert_int_equal(query_int(conn, "PRAGMA user_version"), store_db_code_version());
	assert_int_equal(store_db_schema_version(f->db), store_db_code_version());
	assert_true(store_db_code_version() >= 1);
}

static void store_db_new__private_files__0600_in_0700_dir(void **state)
{
	struct fixture *f = *state;
	char path[ST_PATH_MAX];

	assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db), SOTTO_OK);
	assert_int_equal(st_mode(store_profile_path(f->profile)), 0700);
	assert_int_equal(st_mode(f->db_path), 0600);
	st_path(path, sizeof(path), store_profile_path(f->profile), STORE_DB_FILE "-wal");
	assert_int_equal(st_mode(path), 0600);
	st_path(path, sizeof(path), store_profile_path(f->profile), STORE_DB_FILE "-shm");
	assert_int_equal(st_mode(path), 0600);

	/* Loose modes left by someone else are tightened at the next open. */
	store_db_free(f->db);
	f->db = NULL;
	assert_int_equal(chmod(f->db_path, 0644), 0);
	reopen(f);
	assert_int_equal(st_mode(f->db_path), 0600);
}

static void store_db_migrate__applies__one_then_three_then_reopen(void **state)
{
	struct fixture *f = *state;
	size_t n_real = 0;
	const char *const *real = store_db_migrations(&n_real);
	const char *steps[3];
	sqlite3 *conn;

	assert_true(n_real >= 1);
	steps[0] = real[0];
	steps[1] = "CREATE TABLE t2(a INTEGER)";
	steps[2] = "CREATE TABLE t3(b INTEGER); INSERT INTO t3 VALUES (3)";

	assert_int_equal(store_db_new_with(f->ctx, f->profile, f->key, steps, 1, &f->db), SOTTO_OK);
	assert_int_equal(store_db_schema_version(f->db), 1);
	conn = store_db_sqlite(f->db);
	assert_int_equal(query_int(conn, "SELECT count(*) FROM sqlite_schema WHERE name = 't2'"),
	                 0);
	store_db_free(f->db);
	f->db = NULL;

	assert_int_equal(store_db_new_with(f->ctx, f->profile, f->key, steps, 3, &f->db), SOTTO_OK);
	assert_int_equal(store_db_schema_version(f->db), 3);
	conn = store_db_sqlite(f->db);
	assert_int_equal(query_int(conn, "PRAGMA user_version"), 3);
	assert_int_equal(query_int(conn, "SELECT count(*) FROM t2"), 0);
	assert_int_equal(query_int(conn, "SELECT count(*) FROM t3"), 1);
	store_db_free(f->db);
	f->db = NULL;

	/* Reopening applies nothing twice (a second CREATE TABLE would fail). */
	assert_int_equal(store_db_new_with(f->ctx, f->profile, f->key, steps, 3, &f->db), SOTTO_OK);
	assert_int_equal(store_db_schema_version(f->db), 3);
	assert_int_equal(query_int(store_db_sqlite(f->db), "SELECT count(*) FROM t3"), 1);
}

static void store_db_migrate__version__database_newer_than_code(void **state)
{
	struct fixture *f = *state;
	size_t n_real = 0;
	const char *const *real = store_db_migrations(&n_real);
	const char *steps[2] = {real[0], "CREATE TABLE t2(a INTEGER)"};
	sqlite3 *conn;

	assert_int_equal(store_db_new_with(f->ctx, f->profile, f->key, steps, 2, &f->db), SOTTO_OK);
	store_db_free(f->db);
	f->db = NULL;
	assert_int_equal(store_db_new_with(f->ctx, f->profile, f->key, steps, 1, &f->db),
	                 SOTTO_ERR_VERSION);
	assert_null(f->db);
	if (n_real < 2)
		assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db),
		                 SOTTO_ERR_VERSION);
	conn = raw_open(f);
	assert_int_equal(query_int(conn, "PRAGMA user_version"), 2);
	assert_int_equal(query_int(conn, "SELECT count(*) FROM t2"), 0);
	sqlite3_close(conn);
}

static void store_db_migrate__rolls_back__step_failing_half_way(void **state)
{
	struct fixture *f = *state;
	size_t n_real = 0;
	const char *const *real = store_db_migrations(&n_real);
	const char *bad_first[1] = {
	        "CREATE TABLE meta(k TEXT PRIMARY KEY NOT NULL, v BLOB NOT NULL);"
	        "INSERT INTO no_such_table VALUES (1)"};
	const char *steps[3] = {real[0], "CREATE TABLE t2(a INTEGER)",
	                        "CREATE TABLE t3(b INTEGER); INSERT INTO t3 VALUES (3);"
	                        "INSERT INTO no_such_table VALUES (1)"};
	sqlite3 *conn;

	/* The very first step failing leaves an empty file, not a half-made one. */
	assert_int_equal(store_db_new_with(f->ctx, f->profile, f->key, bad_first, 1, &f->db),
	                 SOTTO_ERR_INTERNAL);
	assert_null(f->db);
	conn = raw_open(f);
	assert_int_equal(query_int(conn, "PRAGMA user_version"), 0);
	assert_int_equal(query_int(conn, "PRAGMA application_id"), 0);
	assert_int_equal(query_int(conn, "SELECT count(*) FROM sqlite_schema"), 0);
	sqlite3_close(conn);

	assert_int_equal(store_db_new_with(f->ctx, f->profile, f->key, steps, 3, &f->db),
	                 SOTTO_ERR_INTERNAL);
	assert_null(f->db);
	conn = raw_open(f);
	assert_int_equal(query_int(conn, "PRAGMA user_version"), 2);
	assert_int_equal(query_int(conn, "SELECT count(*) FROM sqlite_schema WHERE name = 't2'"),
	                 1);
	assert_int_equal(query_int(conn, "SELECT count(*) FROM sqlite_schema WHERE name = 't3'"),
	                 0);
	sqlite3_close(conn);

	/* The fixed step then applies on top of version 2. */
	steps[2] = "CREATE TABLE t3(b INTEGER); INSERT INTO t3 VALUES (3)";
	assert_int_equal(store_db_new_with(f->ctx, f->profile, f->key, steps, 3, &f->db), SOTTO_OK);
	assert_int_equal(store_db_schema_version(f->db), 3);
	assert_int_equal(query_int(store_db_sqlite(f->db), "SELECT count(*) FROM t3"), 1);
}

static void store_db_new__corrupt__foreign_or_garbage_file(void **state)
{
	struct fixture *f = *state;
	uint8_t garbage[4096];
	sqlite3 *conn = NULL;

	/* Someone else's SQLite database. */
	assert_int_equal(sqlite3_open_v2(f->db_path, &conn,
	                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	                 SQLITE_OK);
	exec_ok(conn, "CREATE TABLE theirs(x); PRAGMA user_version = 1");
	sqlite3_close(conn);
	assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db), SOTTO_ERR_CORRUPT);
	assert_null(f->db);

	/* Ours by application_id, but with a version that no migration writes. */
	conn = raw_open(f);
	exec_ok(conn, "PRAGMA application_id = 1936684099; PRAGMA user_version = 0");
	sqlite3_close(conn);
	assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db), SOTTO_ERR_CORRUPT);

	/* Not a database at all. */
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(unlink(f->db_path), 0);
	st_write_file(f->db_path, garbage, sizeof(garbage), 0600);
	assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db), SOTTO_ERR_CORRUPT);
	assert_null(f->db);

	/* A symlink in its place is refused. */
	assert_int_equal(unlink(f->db_path), 0);
	assert_int_equal(symlink("/dev/null", f->db_path), 0);
	assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db), SOTTO_ERR_IO);
}

static void store_db_new__auth__key_of_another_database(void **state)
{
	struct fixture *f = *state;
	struct secbuf *other = make_key(f->ctx, 2);
	uint8_t buf[64];
	size_t n = 0;

	assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db), SOTTO_OK);
	assert_int_equal(store_meta_get(f->db, STORE_META_KEY_CHECK, buf, sizeof(buf), &n),
	                 SOTTO_OK);
	assert_memory_equal(buf, "sotto store key check v1", n);
	store_db_free(f->db);
	f->db = NULL;
	assert_int_equal(store_db_new(f->ctx, f->profile, other, &f->db), SOTTO_ERR_AUTH);
	assert_null(f->db);
	reopen(f);
	secbuf_free(other);
}

static void store_db_new__invalid__short_key_or_empty_list(void **state)
{
	struct fixture *f = *state;
	struct secbuf *short_key = NULL;
	size_t n_real = 0;
	const char *const *real = store_db_migrations(&n_real);

	assert_int_equal(secbuf_new(f->ctx, 16, &short_key), SOTTO_OK);
	assert_int_equal(store_db_new(f->ctx, f->profile, short_key, &f->db), SOTTO_ERR_INVALID);
	assert_int_equal(store_db_new_with(f->ctx, f->profile, f->key, real, 0, &f->db),
	                 SOTTO_ERR_INVALID);
	assert_null(f->db);
	secbuf_free(short_key);
}

/* A table of the test's own, as the client's will be: sealed bodies keyed by id. */
static void put_msg(struct fixture *f, int64_t id, const char *text)
{
	uint8_t row[8], blob[256];
	size_t blob_len = 0;
	sqlite3_stmt *st = NULL;
	sqlite3 *conn = store_db_sqlite(f->db);

	bytes_store_be64(row, (uint64_t)id);
	assert_int_equal(store_seal(f->db, "msg.body", row, sizeof(row), (const uint8_t *)text,
	                            strlen(text), blob, sizeof(blob), &blob_len),
	                 SOTTO_OK);
	assert_int_equal(sqlite3_prepare_v2(conn, "INSERT INTO msg(id, body) VALUES (?1, ?2)", -1,
	                                    &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_bind_int64(st, 1, id), SQLITE_OK);
	assert_int_equal(sqlite3_bind_blob(st, 2, blob, (int)blob_len, SQLITE_TRANSIENT),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

/* Reads row id's body and opens it as (table, id); out gets the text. */
static sotto_err get_msg(struct fixture *f, const char *table, int64_t id, char *out, size_t cap)
{
	uint8_t row[8];
	size_t n = 0;
	sqlite3_stmt *st = NULL;
	sotto_err rc;

	bytes_store_be64(row, (uint64_t)id);
	assert_int_equal(sqlite3_prepare_v2(store_db_sqlite(f->db),
	                                    "SELECT body FROM msg WHERE id = ?1", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_bind_int64(st, 1, id), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	rc = store_open(f->db, table, row, sizeof(row), sqlite3_column_blob(st, 0),
	                (size_t)sqlite3_column_bytes(st, 0), (uint8_t *)out, cap - 1, &n);
	sqlite3_finalize(st);
	out[rc == SOTTO_OK ? n : 0] = '\0';
	return rc;
}

static void make_msg_table(struct fixture *f)
{
	assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db), SOTTO_OK);
	exec_ok(store_db_sqlite(f->db), "CREATE TABLE msg(id INTEGER PRIMARY KEY, body BLOB)");
	put_msg(f, 1, "first message");
	put_msg(f, 2, "second message");
	put_msg(f, 3, "");
}

static void store_seal__round_trip__rows_of_a_table(void **state)
{
	struct fixture *f = *state;
	char text[64];

	make_msg_table(f);
	reopen(f);
	assert_int_equal(get_msg(f, "msg.body", 1, text, sizeof(text)), SOTTO_OK);
	assert_string_equal(text, "first message");
	assert_int_equal(get_msg(f, "msg.body", 2, text, sizeof(text)), SOTTO_OK);
	assert_string_equal(text, "second message");
	assert_int_equal(get_msg(f, "msg.body", 3, text, sizeof(text)), SOTTO_OK);
	assert_string_equal(text, "");
}

static void store_open__auth__blob_moved_to_other_row_or_table(void **state)
{
	struct fixture *f = *state;
	char text[64];

	make_msg_table(f);
	assert_int_equal(get_msg(f, "contact.name", 1, text, sizeof(text)), SOTTO_ERR_AUTH);
	assert_int_equal(get_msg(f, "msg.bod", 1, text, sizeof(text)), SOTTO_ERR_AUTH);
	exec_ok(store_db_sqlite(f->db),
	        "UPDATE msg SET body = (SELECT body FROM msg WHERE id = 1) WHERE id = 2");
	assert_int_equal(get_msg(f, "msg.body", 2, text, sizeof(text)), SOTTO_ERR_AUTH);
	assert_string_equal(text, "");
	/* Moving the row itself (changing its key) breaks it too. */
	exec_ok(store_db_sqlite(f->db), "UPDATE msg SET id = 7 WHERE id = 1");
	assert_int_equal(get_msg(f, "msg.body", 7, text, sizeof(text)), SOTTO_ERR_AUTH);
}

static void store_open__fails__blob_tampered_in_the_file(void **state)
{
	struct fixture *f = *state;
	/* Offsets into the 13-byte record's blob: version, nonce, ciphertext, tag. */
	static const struct {
		int offset;
		sotto_err want;
	} flips[] = {{0, SOTTO_ERR_CORRUPT}, {1, SOTTO_ERR_AUTH},  {24, SOTTO_ERR_AUTH},
	             {25, SOTTO_ERR_AUTH},   {37, SOTTO_ERR_AUTH}, {38, SOTTO_ERR_AUTH},
	             {53, SOTTO_ERR_AUTH}};
	char text[64];

	make_msg_table(f);
	store_db_free(f->db);
	f->db = NULL;
	/* Each round flips one bit of row 1's 54-byte blob behind the store's back. */
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		sqlite3 *conn = raw_open(f);
		sqlite3_stmt *st = NULL;
		uint8_t blob[64];
		int len;

		assert_int_equal(sqlite3_prepare_v2(conn, "SELECT body FROM msg WHERE id = 1", -1,
		                                    &st, NULL),
		                 SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		len = sqlite3_column_bytes(st, 0);
		assert_int_equal(len, 54);
		memcpy(blob, sqlite3_column_blob(st, 0), (size_t)len);
		sqlite3_finalize(st);
		blob[flips[i].offset] ^= 1;
		assert_int_equal(sqlite3_prepare_v2(conn, "UPDATE msg SET body = ?1 WHERE id = 1",
		                                    -1, &st, NULL),
		                 SQLITE_OK);
		assert_int_equal(sqlite3_bind_blob(st, 1, blob, len, SQLITE_TRANSIENT), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_finalize(st);
		sqlite3_close(conn);

		reopen(f);
		assert_int_equal(get_msg(f, "msg.body", 1, text, sizeof(text)), flips[i].want);
		/* Undo, and the record opens again. */
		store_db_free(f->db);
		f->db = NULL;
		conn = raw_open(f);
		blob[flips[i].offset] ^= 1;
		assert_int_equal(sqlite3_prepare_v2(conn, "UPDATE msg SET body = ?1 WHERE id = 1",
		                                    -1, &st, NULL),
		                 SQLITE_OK);
		assert_int_equal(sqlite3_bind_blob(st, 1, blob, len, SQLITE_TRANSIENT), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_finalize(st);
		sqlite3_close(conn);
		reopen(f);
		assert_int_equal(get_msg(f, "msg.body", 1, text, sizeof(text)), SOTTO_OK);
		assert_string_equal(text, "first message");
		store_db_free(f->db);
		f->db = NULL;
	}
}

static void store_meta__round_trip__durable_across_reopen(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[64];
	size_t n = 99;

	assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db), SOTTO_OK);
	assert_int_equal(store_meta_get(f->db, "display", buf, sizeof(buf), &n),
	                 SOTTO_ERR_NOT_FOUND);
	assert_int_equal(n, 0);
	assert_int_equal(store_meta_put(f->db, "display", (const uint8_t *)"old", 3), SOTTO_OK);
	assert_int_equal(store_meta_put(f->db, "display", (const uint8_t *)"new value", 9),
	                 SOTTO_OK);
	assert_int_equal(store_meta_put(f->db, "empty", (const uint8_t *)"", 0), SOTTO_OK);
	reopen(f);
	assert_int_equal(store_meta_get(f->db, "display", buf, sizeof(buf), &n), SOTTO_OK);
	assert_int_equal(n, 9);
	assert_memory_equal(buf, "new value", 9);
	assert_int_equal(store_meta_get(f->db, "empty", buf, sizeof(buf), &n), SOTTO_OK);
	assert_int_equal(n, 0);
	/* One row per key: the overwrite replaced, it did not add. */
	assert_int_equal(query_int(store_db_sqlite(f->db), "SELECT count(*) FROM meta"), 3);
}

static void store_meta_put__invalid__reserved_empty_or_long_key(void **state)
{
	struct fixture *f = *state;
	char long_key[STORE_META_KEY_MAX + 2];
	uint8_t *big = calloc(1, (size_t)STORE_RECORD_MAX + 1);
	uint8_t buf[8];
	size_t n = 0;

	assert_non_null(big);
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db), SOTTO_OK);
	assert_int_equal(store_meta_put(f->db, STORE_META_KEY_CHECK, buf, 1), SOTTO_ERR_INVALID);
	assert_int_equal(store_meta_put(f->db, "sotto.anything", buf, 1), SOTTO_ERR_INVALID);
	assert_int_equal(store_meta_put(f->db, "", buf, 1), SOTTO_ERR_INVALID);
	assert_int_equal(store_meta_put(f->db, long_key, buf, 1), SOTTO_ERR_INVALID);
	assert_int_equal(store_meta_get(f->db, long_key, buf, sizeof(buf), &n), SOTTO_ERR_INVALID);
	long_key[STORE_META_KEY_MAX] = '\0';
	assert_int_equal(store_meta_put(f->db, long_key, buf, 1), SOTTO_OK);
	assert_int_equal(store_meta_put(f->db, "sotto", buf, 1), SOTTO_OK);
	assert_int_equal(store_meta_put(f->db, "big", big, (size_t)STORE_RECORD_MAX + 1),
	                 SOTTO_ERR_TOO_LARGE);
	free(big);
}

static void store_meta_get__corrupt__not_a_blob_or_short_blob(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4];
	size_t n = 0;

	assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db), SOTTO_OK);
	assert_int_equal(store_meta_put(f->db, "long", (const uint8_t *)"12345678", 8), SOTTO_OK);
	assert_int_equal(store_meta_get(f->db, "long", buf, sizeof(buf), &n), SOTTO_ERR_TOO_LARGE);
	exec_ok(store_db_sqlite(f->db), "INSERT INTO meta(k, v) VALUES ('text', 'plain text'),"
	                                "('short', x'01'), ('empty', x''), ('num', 5)");
	assert_int_equal(store_meta_get(f->db, "text", buf, sizeof(buf), &n), SOTTO_ERR_CORRUPT);
	assert_int_equal(store_meta_get(f->db, "short", buf, sizeof(buf), &n), SOTTO_ERR_CORRUPT);
	assert_int_equal(store_meta_get(f->db, "empty", buf, sizeof(buf), &n), SOTTO_ERR_CORRUPT);
	assert_int_equal(store_meta_get(f->db, "num", buf, sizeof(buf), &n), SOTTO_ERR_CORRUPT);
	/* A damaged key check makes the next open fail, not pass. */
	exec_ok(store_db_sqlite(f->db), "UPDATE meta SET v = x'01' WHERE k = 'sotto.key_check'");
	store_db_free(f->db);
	f->db = NULL;
	assert_int_equal(store_db_new(f->ctx, f->profile, f->key, &f->db), SOTTO_ERR_CORRUPT);
}

static void store_db_new__nomem__each_allocation(void **state)
{
	struct fixture *f = *state;
	long live = f->alloc.n_live;
	bool opened = false;

	for (unsigned long n = 1; n <= 16 && !opened; n++) {
		struct store_db *db = NULL;
		f->alloc.fail_at = f->alloc.n_allocs + n;
		sotto_err rc = store_db_new(f->ctx, f->profile, f->key, &db);
		f->alloc.fail_at = 0;
		assert_true(rc == SOTTO_OK || rc == SOTTO_ERR_NOMEM);
		assert_true((rc == SOTTO_OK) == (db != NULL));
		if (rc == SOTTO_OK) {
			opened = true;
			/* meta_put allocates its blob through the context too. */
			f->alloc.fail_at = f->alloc.n_allocs + 1;
			assert_int_equal(store_meta_put(db, "x", (const uint8_t *)"y", 1),
			                 SOTTO_ERR_NOMEM);
			f->alloc.fail_at = 0;
		}
		store_db_free(db);
	}
	assert_true(opened);
	assert_int_equal(f->alloc.n_live, live);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(store_db_new__settings__wal_full_fk_secure_delete_busy_timeout),
	        T(store_db_new__private_files__0600_in_0700_dir),
	        T(store_db_migrate__applies__one_then_three_then_reopen),
	        T(store_db_migrate__version__database_newer_than_code),
	        T(store_db_migrate__rolls_back__step_failing_half_way),
	        T(store_db_new__corrupt__foreign_or_garbage_file),
	        T(store_db_new__auth__key_of_another_database),
	        T(store_db_new__invalid__short_key_or_empty_list),
	        T(store_seal__round_trip__rows_of_a_table),
	        T(store_open__auth__blob_moved_to_other_row_or_table),
	        T(store_open__fails__blob_tampered_in_the_file),
	        T(store_meta__round_trip__durable_across_reopen),
	        T(store_meta_put__invalid__reserved_empty_or_long_key),
	        T(store_meta_get__corrupt__not_a_blob_or_short_blob),
	        T(store_db_new__nomem__each_allocation),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
