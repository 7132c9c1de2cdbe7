/* SPDX-License-Identifier: MIT */
/*
 * at_rest_test.c - the encryption-at-rest check in miniature. A profile is
 * filled the way the client will fill it (a contact with a name and a key,
 * messages, a ratchet-like state in meta, rows deleted and rewritten), then
 * every file under the profile directory (database, -wal, -shm, key file,
 * lock) is scanned for each marker raw, in hex (both cases) and in base64
 * (both alphabets, every alignment): nothing may be found, with the database
 * open and after it is closed, in both key-file modes. The records are then
 * read back, so the silence is not because nothing was written.
 *
 * The scan must be able to fail: the control writes each form of a marker
 * into a profile unsealed and checks that the scanner names it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "core/bytes.h"
#include "store/db.h"
#include "store/key.h"
#include "store/profile.h"
#include "store/store_testlib.h"
#include "test_util.h"

#define MARK_TEXT  "Zebra-Quokka-7319 meet me at the old mill"
#define MARK_NAME  "Quentin Xylophagous-Marker"
#define PASSPHRASE "passphrase for the at-rest test"

enum { N_MESSAGES = 40, MARK_KEY_LEN = 32 };

struct fixture {
	char tmp[64];
	struct tu_alloc alloc;
	sotto_ctx *ctx;
	uint8_t mark_key[MARK_KEY_LEN];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	st_tmpdir(f->tmp, sizeof(f->tmp));
	f->ctx = tu_ctx(&f->alloc, NULL, NULL);
	crypto_generichash(f->mark_key, sizeof(f->mark_key), (const uint8_t *)"marker key", 10,
	                   NULL, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	sotto_ctx_free(f->ctx);
	assert_int_equal(f->alloc.n_live, 0);
	st_rmtree(f->tmp, ST_TREE_DEPTH);
	free(f);
	return 0;
}

/* Seals pt for (table, id) and binds it as parameter i of st. */
static void bind_sealed(struct store_db *db, sqlite3_stmt *st, int i, const char *table, int64_t id,
                        const uint8_t *pt, size_t pt_len)
{
	uint8_t row[8];
	uint8_t blob[512];
	size_t blob_len = 0;

	bytes_store_be64(row, (uint64_t)id);
	assert_int_equal(
	        store_seal(db, table, row, sizeof(row), pt, pt_len, blob, sizeof(blob), &blob_len),
	        SOTTO_OK);
	assert_int_equal(sqlite3_bind_blob(st, i, blob, (int)blob_len, SQLITE_TRANSIENT),
	                 SQLITE_OK);
}

static void exec_ok(sqlite3 *conn, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(conn, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err != NULL ? err : "?");
}

/* Fills the database as the client would, every secret sealed. */
static void fill(struct fixture *f, struct store_db *db)
{
	sqlite3 *conn = store_db_sqlite(db);
	sqlite3_stmt *st = NULL;
	uint8_t state_rec[3 + MARK_KEY_LEN + 5];
	char text[256];

	exec_ok(conn, "CREATE TABLE contact(id INTEGER PRIMARY KEY, name BLOB, key BLOB);"
	              "CREATE TABLE msg(id INTEGER PRIMARY KEY,"
	              " contact INTEGER REFERENCES contact(id), body BLOB)");
	assert_int_equal(
	        sqlite3_prepare_v2(conn, "INSERT INTO contact VALUES (?1, ?2, ?3)", -1, &st, NULL),
	        SQLITE_OK);
	assert_int_equal(sqlite3_bind_int64(st, 1, 1), SQLITE_OK);
	bind_sealed(db, st, 2, "contact.name", 1, (const uint8_t *)MARK_NAME, strlen(MARK_NAME));
	bind_sealed(db, st, 3, "contact.key", 1, f->mark_key, MARK_KEY_LEN);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);

	exec_ok(conn, "BEGIN");
	assert_int_equal(
	        sqlite3_prepare_v2(conn, "INSERT INTO msg VALUES (?1, 1, ?2)", -1, &st, NULL),
	        SQLITE_OK);
	for (int64_t id = 1; id <= N_MESSAGES; id++) {
		/* The marker at a different offset in each message. */
		int n = snprintf(text, sizeof(text), "%.*s%s (message %d)", (int)(id % 7),
		                 "xxxxxxx", MARK_TEXT, (int)id);
		assert_true(n > 0 && (size_t)n < sizeof(text));
		assert_int_equal(sqlite3_bind_int64(st, 1, id), SQLITE_OK);
		bind_sealed(db, st, 2, "msg.body", id, (const uint8_t *)text, (size_t)n);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	exec_ok(conn, "COMMIT");
	/* Deleted and rewritten rows leave old cells behind unless they are wiped. */
	exec_ok(conn, "DELETE FROM msg WHERE id % 3 = 0");

	/* A ratchet-like state: the key inside a larger record. */
	memcpy(state_rec, "st1", 3);
	memcpy(state_rec + 3, f->mark_key, MARK_KEY_LEN);
	memcpy(state_rec + 3 + MARK_KEY_LEN, "trail", 5);
	assert_int_equal(store_meta_put(db, "ratchet.1", state_rec, sizeof(state_rec)), SOTTO_OK);
	assert_int_equal(
	        store_meta_put(db, "profile.name", (const uint8_t *)MARK_NAME, strlen(MARK_NAME)),
	        SOTTO_OK);
	assert_int_equal(store_meta_put(db, "draft", (const uint8_t *)MARK_TEXT, strlen(MARK_TEXT)),
	                 SOTTO_OK);
}

/* Checks that the records written by fill() read back. */
static void check_readback(struct fixture *f, struct store_db *db)
{
	sqlite3 *conn = store_db_sqlite(db);
	sqlite3_stmt *st = NULL;
	uint8_t row[8], out[256];
	size_t n = 0;
	int n_msgs = 0;

	assert_int_equal(sqlite3_prepare_v2(conn, "SELECT name, key FROM contact WHERE id = 1", -1,
	                                    &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	bytes_store_be64(row, 1);
	assert_int_equal(store_open(db, "contact.name", row, 8, sqlite3_column_blob(st, 0),
	                            (size_t)sqlite3_column_bytes(st, 0), out, sizeof(out), &n),
	                 SOTTO_OK);
	assert_int_equal(n, strlen(MARK_NAME));
	assert_memory_equal(out, MARK_NAME, n);
	assert_int_equal(store_open(db, "contact.key", row, 8, sqlite3_column_blob(st, 1),
	                            (size_t)sqlite3_column_bytes(st, 1), out, sizeof(out), &n),
	                 SOTTO_OK);
	assert_int_equal(n, MARK_KEY_LEN);
	assert_memory_equal(out, f->mark_key, MARK_KEY_LEN);
	sqlite3_finalize(st);

	assert_int_equal(
	        sqlite3_prepare_v2(conn, "SELECT id, body FROM msg ORDER BY id", -1, &st, NULL),
	        SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		bytes_store_be64(row, (uint64_t)sqlite3_column_int64(st, 0));
		assert_int_equal(store_open(db, "msg.body", row, 8, sqlite3_column_blob(st, 1),
		                            (size_t)sqlite3_column_bytes(st, 1), out, sizeof(out),
		                            &n),
		                 SOTTO_OK);
		assert_true(st_mem_has(out, n, (const uint8_t *)MARK_TEXT, strlen(MARK_TEXT)));
		n_msgs++;
	}
	sqlite3_finalize(st);
	assert_int_equal(n_msgs, N_MESSAGES - N_MESSAGES / 3);
	assert_int_equal(store_meta_get(db, "ratchet.1", out, sizeof(out), &n), SOTTO_OK);
	assert_true(st_mem_has(out, n, f->mark_key, MARK_KEY_LEN));
}

/* Scans the profile for one secret; fails the test naming the file and form. */
static void assert_absent(const char *dir, const uint8_t *secret, size_t len, const char *what,
                          unsigned min_files)
{
	struct st_forms forms;
	char where[300] = "";
	unsigned n_files = 0;

	st_forms_init(&forms, secret, len);
	if (st_scan(dir, ST_TREE_DEPTH, &forms, where, sizeof(where), &n_files))
		fail_msg("%s found at rest in %s", what, where);
	if (n_files < min_files)
		fail_msg("scanned only %u files under %s", n_files, dir);
}

/* Every marker (and, with a passphrase, the database key and passphrase) absent. */
static void assert_clean(struct fixture *f, const char *dir, struct secbuf *db_key,
                         bool has_passphrase, unsigned min_files)
{
	assert_absent(dir, (const uint8_t *)MARK_TEXT, strlen(MARK_TEXT), "message text",
	              min_files);
	assert_absent(dir, (const uint8_t *)MARK_NAME, strlen(MARK_NAME), "contact name",
	              min_files);
	assert_absent(dir, f->mark_key, MARK_KEY_LEN, "contact key", min_files);
	if (has_passphrase) {
		assert_absent(dir, secbuf_data(db_key), STORE_KEY_LEN, "database key", min_files);
		assert_absent(dir, (const uint8_t *)PASSPHRASE, strlen(PASSPHRASE), "passphrase",
		              min_files);
	}
}

static void run_profile(struct fixture *f, bool has_passphrase)
{
	struct store_profile *p = NULL;
	struct secbuf *key = NULL;
	struct store_db *db = NULL;
	const char *name = has_passphrase ? "with-passphrase" : "without-passphrase";
	const uint8_t *pw = has_passphrase ? (const uint8_t *)PASSPHRASE : NULL;
	size_t pw_len = has_passphrase ? strlen(PASSPHRASE) : 0;

	assert_int_equal(store_profile_new(f->ctx, f->tmp, name, &p), SOTTO_OK);
	assert_int_equal(store_key_create(f->ctx, p, pw, pw_len, ST_CHEAP_PARAMS, &key), SOTTO_OK);
	assert_int_equal(store_db_new(f->ctx, p, key, &db), SOTTO_OK);
	fill(f, db);
	/* Open: the log holds the newest pages, the -shm file the log index. */
	assert_clean(f, store_profile_path(p), key, has_passphrase, 5);
	store_db_free(db);
	db = NULL;
	/* Closed: the log was checkpointed into the database file. */
	assert_clean(f, store_profile_path(p), key, has_passphrase, 3);

	secbuf_free(key);
	key = NULL;
	assert_int_equal(store_key_load(f->ctx, p, pw, pw_len, &key), SOTTO_OK);
	assert_int_equal(store_db_new(f->ctx, p, key, &db), SOTTO_OK);
	check_readback(f, db);
	store_db_free(db);
	secbuf_free(key);
	store_profile_free(p);
}

static void store_at_rest__nothing_found__passphrase_profile(void **state)
{
	run_profile(*state, true);
}

static void store_at_rest__nothing_found__profile_without_passphrase(void **state)
{
	run_profile(*state, false);
}

/*
 * Writes leak (len bytes) unsealed into a fresh profile's database, closes
 * it, and returns the form the scanner reports for secret ("" if none).
 */
static const char *leak_and_scan(struct fixture *f, int i, const uint8_t *leak, size_t len,
                                 const uint8_t *secret, size_t secret_len, char *where, size_t cap)
{
	struct store_profile *p = NULL;
	struct secbuf *key = NULL;
	struct store_db *db = NULL;
	sqlite3_stmt *st = NULL;
	struct st_forms forms;
	unsigned n_files = 0;
	char name[32];

	snprintf(name, sizeof(name), "control-%d", i);
	assert_int_equal(store_profile_new(f->ctx, f->tmp, name, &p), SOTTO_OK);
	assert_int_equal(store_key_create(f->ctx, p, NULL, 0, NULL, &key), SOTTO_OK);
	assert_int_equal(store_db_new(f->ctx, p, key, &db), SOTTO_OK);
	exec_ok(store_db_sqlite(db), "CREATE TABLE leak(v BLOB)");
	assert_int_equal(sqlite3_prepare_v2(store_db_sqlite(db), "INSERT INTO leak VALUES (?1)", -1,
	                                    &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_bind_blob(st, 1, leak, (int)len, SQLITE_TRANSIENT), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	store_db_free(db);
	secbuf_free(key);

	where[0] = '\0';
	st_forms_init(&forms, secret, secret_len);
	(void)st_scan(store_profile_path(p), ST_TREE_DEPTH, &forms, where, cap, &n_files);
	store_profile_free(p);
	return where;
}

static void store_at_rest__scan_finds__each_unsealed_form(void **state)
{
	struct fixture *f = *state;
	char enc[256], where[300];
	uint8_t shifted[1 + MARK_KEY_LEN];
	uint8_t big[64];
	size_t n;

	/* Raw text. */
	leak_and_scan(f, 0, (const uint8_t *)MARK_TEXT, strlen(MARK_TEXT),
	              (const uint8_t *)MARK_TEXT, strlen(MARK_TEXT), where, sizeof(where));
	assert_non_null(strstr(where, "store.db (raw)"));

	/* Hex, lower and upper case, of the key. */
	sodium_bin2hex(enc, sizeof(enc), f->mark_key, MARK_KEY_LEN);
	leak_and_scan(f, 1, (const uint8_t *)enc, strlen(enc), f->mark_key, MARK_KEY_LEN, where,
	              sizeof(where));
	assert_non_null(strstr(where, "(hex)"));
	for (char *c = enc; *c != '\0'; c++)
		*c = (char)(*c >= 'a' && *c <= 'f' ? *c - 'a' + 'A' : *c);
	leak_and_scan(f, 2, (const uint8_t *)enc, strlen(enc), f->mark_key, MARK_KEY_LEN, where,
	              sizeof(where));
	assert_non_null(strstr(where, "(HEX)"));

	/* Base64 of the key embedded one byte into a larger value (another alignment). */
	shifted[0] = 0x42;
	memcpy(shifted + 1, f->mark_key, MARK_KEY_LEN);
	sodium_bin2base64(enc, sizeof(enc), shifted, sizeof(shifted),
	                  sodium_base64_VARIANT_ORIGINAL);
	leak_and_scan(f, 3, (const uint8_t *)enc, strlen(enc), f->mark_key, MARK_KEY_LEN, where,
	              sizeof(where));
	assert_non_null(strstr(where, "(base64)"));

	/* Base64url of the key, two bytes into a larger value. */
	big[0] = 'a';
	big[1] = 'b';
	memcpy(big + 2, f->mark_key, MARK_KEY_LEN);
	sodium_bin2base64(enc, sizeof(enc), big, MARK_KEY_LEN + 2,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	assert_true(strchr(enc, '-') != NULL || strchr(enc, '_') != NULL);
	leak_and_scan(f, 4, (const uint8_t *)enc, strlen(enc), f->mark_key, MARK_KEY_LEN, where,
	              sizeof(where));
	assert_non_null(strstr(where, "(base64url)"));

	/* Base64 of the contact name, two bytes in. */
	n = (size_t)snprintf((char *)big, sizeof(big), "ab%s", MARK_NAME);
	sodium_bin2base64(enc, sizeof(enc), big, n, sodium_base64_VARIANT_ORIGINAL);
	leak_and_scan(f, 5, (const uint8_t *)enc, strlen(enc), (const uint8_t *)MARK_NAME,
	              strlen(MARK_NAME), where, sizeof(where));
	assert_non_null(strstr(where, "(base64)"));

	/* And a profile holding only sealed values is clean for the same marker. */
	leak_and_scan(f, 6, (const uint8_t *)"nothing", 7, (const uint8_t *)MARK_TEXT,
	              strlen(MARK_TEXT), where, sizeof(where));
	assert_string_equal(where, "");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(store_at_rest__nothing_found__passphrase_profile),
	        T(store_at_rest__nothing_found__profile_without_passphrase),
	        T(store_at_rest__scan_finds__each_unsealed_form),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
