/* SPDX-License-Identifier: MIT */
/*
 * store_test.c - the SQLite relay store on real files: every function's
 * success and error paths, batches (commit survives close and reopen,
 * rollback leaves nothing), file modes, schema version checks, malformed rows
 * written behind the store's back (SOTTO_ERR_CORRUPT), a disk that fills in
 * the middle of a batch, and a crash test that SIGKILLs a writer process at
 * seeded random moments and checks that every reported commit survived once.
 * Each test gets its own directory from mkdtemp, removed afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "core/bytes.h"
#include "relay/store.h"
#include "relay/store_int.h"
#include "test_util.h"

struct fixture {
	char tmp[64]; /* mkdtemp directory, removed at teardown */
	char dir[80]; /* data directory inside it, made by the store */
	char db[128]; /* the database file */
	struct tu_alloc alloc;
	sotto_ctx *ctx;
	struct relay_store *s;
};

static void path_join(char *out, size_t cap, const char *a, const char *b)
{
	int n = snprintf(out, cap, "%s/%s", a, b);

	assert_true(n > 0 && (size_t)n < cap);
}

/* Removes dir and the plain files in it (the store makes no subdirectories). */
static void remove_tree(const char *dir)
{
	char path[256];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		path_join(path, sizeof(path), dir, e->d_name);
		if (unlink(path) != 0)
			remove_tree(path);
	}
	closedir(d);
	rmdir(dir);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	memcpy(f->tmp, "/tmp/sotto-store-XXXXXX", sizeof("/tmp/sotto-store-XXXXXX"));
	assert_non_null(mkdtemp(f->tmp));
	path_join(f->dir, sizeof(f->dir), f->tmp, "data");
	path_join(f->db, sizeof(f->db), f->dir, RELAY_STORE_FILE);
	f->ctx = tu_ctx(&f->alloc, NULL, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	relay_store_free(f->s);
	sotto_ctx_free(f->ctx);
	assert_int_equal(f->alloc.n_live, 0);
	remove_tree(f->tmp);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	relay_store_free(f->s);
	f->s = NULL;
	assert_int_equal(relay_store_new(f->ctx, f->dir, NULL, &f->s), SOTTO_OK);
}

static void close_store(struct fixture *f)
{
	relay_store_free(f->s);
	f->s = NULL;
}

/* Runs SQL on the database file behind the store's back (the store must be closed). */
static void raw_sql(const struct fixture *f, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(
	        sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	        SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/*
 * Drops the NOT NULL constraints from the store's schema, as an edited file
 * could, so that the tests can write NULLs where the store never would.
 */
static void relax_schema(const struct fixture *f)
{
	raw_sql(f, "PRAGMA writable_schema = ON;"
	           "UPDATE sqlite_master SET sql = replace(sql, 'NOT NULL', '') "
	           "WHERE name IN ('queue', 'msg')");
}

/* A fresh queue whose every field is derived from n. */
static void make_queue(struct relay_store_queue *q, uint8_t n)
{
	memset(q, 0, sizeof(*q));
	memset(q->rid, 0x10 + n, sizeof(q->rid));
	memset(q->sid, 0x90 + n, sizeof(q->sid));
	for (size_t i = 0; i < RELAY_KEY_LEN; i++) {
		q->k_rauth[i] = (uint8_t)(0x01 * n + i);
		q->k_deliver[i] = (uint8_t)(0x41 * n + i);
		q->ssk_priv[i] = (uint8_t)(0x81 * n + 3 * i);
	}
	q->has_ssk_priv = true;
	q->status = RELAY_STORE_ACTIVE;
	q->created_s = 1700000000u + n;
}

static void msg_id_of(uint8_t id[RELAY_MSG_ID_LEN], uint64_t n)
{
	memset(id, 0xa5, RELAY_MSG_ID_LEN);
	bytes_store_be64(id, n);
}

/* Body of message n: its length and bytes both depend on n. */
static size_t body_of(uint8_t *body, uint64_t n)
{
	size_t len = 16 + (size_t)(n * 37 % 480);

	for (size_t i = 0; i < len; i++)
		body[i] = (uint8_t)(n * 131 + i);
	return len;
}

static uint64_t add_msg(struct fixture *f, const uint8_t rid[RELAY_ID_LEN], uint64_t n)
{
	uint8_t id[RELAY_MSG_ID_LEN];
	uint8_t body[512];
	size_t len = body_of(body, n);
	uint64_t seq = 0;

	msg_id_of(id, n);
	assert_int_equal(relay_store_msg_add(f->s, rid, id, 1000 + n, (uint8_t)n, body, len, &seq),
	                 SOTTO_OK);
	assert_true(seq > 0);
	return seq;
}

static void assert_msg_is(const struct relay_store_msg *m, uint64_t n)
{
	uint8_t id[RELAY_MSG_ID_LEN];
	uint8_t body[512];
	size_t len = body_of(body, n);

	msg_id_of(id, n);
	assert_memory_equal(m->msg_id, id, sizeof(id));
	assert_int_equal(m->timestamp_s, 1000 + n);
	assert_int_equal(m->flags, (uint8_t)n);
	assert_int_equal(m->body_len, len);
	assert_memory_equal(m->body, body, len);
}

static void assert_queue_equal(const struct relay_store_queue *a, const struct relay_store_queue *b)
{
	assert_memory_equal(a->rid, b->rid, RELAY_ID_LEN);
	assert_memory_equal(a->sid, b->sid, RELAY_ID_LEN);
	assert_memory_equal(a->k_rauth, b->k_rauth, RELAY_KEY_LEN);
	assert_memory_equal(a->k_deliver, b->k_deliver, RELAY_KEY_LEN);
	assert_int_equal(a->has_k_sauth, b->has_k_sauth);
	if (a->has_k_sauth)
		assert_memory_equal(a->k_sauth, b->k_sauth, RELAY_KEY_LEN);
	assert_int_equal(a->has_ssk_priv, b->has_ssk_priv);
	if (a->has_ssk_priv)
		assert_memory_equal(a->ssk_priv, b->ssk_priv, RELAY_KEY_LEN);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->created_s, b->created_s);
}

/* Opens the store in the fixture and adds queue n (autocommitted). */
static void open_with_queue(struct fixture *f, struct relay_store_queue *q, uint8_t n)
{
	if (f->s == NULL)
		assert_int_equal(relay_store_new(f->ctx, f->dir, NULL, &f->s), SOTTO_OK);
	make_queue(q, n);
	assert_int_equal(relay_store_queue_add(f->s, q), SOTTO_OK);
}

static mode_t mode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 0777;
}

/* ---- opening ---------------------------------------------------------- */

static void relay_store_new__private_files__fresh_dir(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	char wal[160];
	char shm[160];

	open_with_queue(f, &q, 1);
	assert_int_equal(mode_of(f->dir), 0700);
	assert_int_equal(mode_of(f->db), 0600);
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	snprintf(shm, sizeof(shm), "%s-shm", f->db);
	assert_int_equal(mode_of(wal), 0600);
	/* Exclusive locking keeps the WAL index in memory: no shared-memory file. */
	assert_int_equal(access(shm, F_OK), -1);
}

/* Runs a one-row query on the store's own connection and checks column 0 as text. */
static void pragma_is(struct relay_store *s, const char *sql, const char *want)
{
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_prepare_v2(relay_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), want);
	sqlite3_finalize(st);
}

static void relay_store_new__applies_settings__default_and_custom_config(void **state)
{
	struct fixture *f = *state;
	struct relay_store_config cfg = {.cache_kib = 64, .checkpoint_pages = 10};

	reopen(f);
	pragma_is(f->s, "PRAGMA journal_mode", "wal");
	pragma_is(f->s, "PRAGMA synchronous", "2"); /* FULL */
	pragma_is(f->s, "PRAGMA locking_mode", "exclusive");
	pragma_is(f->s, "PRAGMA foreign_keys", "1");
	pragma_is(f->s, "PRAGMA temp_store", "2");    /* MEMORY */
	pragma_is(f->s, "PRAGMA secure_delete", "2"); /* FAST */
	pragma_is(f->s, "PRAGMA journal_size_limit", "67108864");
	pragma_is(f->s, "PRAGMA cache_size", "-8192");
	pragma_is(f->s, "PRAGMA wal_autocheckpoint", "1000");
	pragma_is(f->s, "PRAGMA user_version", "1");
	pragma_is(f->s, "PRAGMA application_id", "1936675922");
	close_store(f);
	assert_int_equal(relay_store_new(f->ctx, f->dir, &cfg, &f->s), SOTTO_OK);
	pragma_is(f->s, "PRAGMA cache_size", "-64");
	pragma_is(f->s, "PRAGMA wal_autocheckpoint", "10");
	pragma_is(f->s, "PRAGMA synchronous", "2");
}

static void relay_store_sync__deferred__commit_then_sync_persists(void **state)
{
	struct fixture *f = *state;
	struct relay_store_config cfg = {.defer_sync = true};
	struct relay_store_queue q, got;

	/* Without defer_sync every commit is durable already; sync is a no-op. */
	reopen(f);
	assert_false(relay_store_defers_sync(f->s));
	assert_int_equal(relay_store_sync(f->s), SOTTO_OK);
	close_store(f);
	assert_int_equal(relay_store_new(f->ctx, f->dir, &cfg, &f->s), SOTTO_OK);
	assert_true(relay_store_defers_sync(f->s));
	pragma_is(f->s, "PRAGMA synchronous", "1"); /* NORMAL: COMMIT does not fsync */
	pragma_is(f->s, "PRAGMA journal_mode", "wal");
	make_queue(&q, 3);
	assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
	assert_int_equal(relay_store_queue_add(f->s, &q), SOTTO_OK);
	assert_int_equal(relay_store_commit(f->s), SOTTO_OK);
	assert_int_equal(relay_store_sync(f->s), SOTTO_OK);
	assert_int_equal(relay_store_sync(f->s), SOTTO_OK); /* nothing new: still fine */
	reopen(f);
	assert_int_equal(relay_store_queue_by_rid(f->s, q.rid, &got), SOTTO_OK);
	assert_queue_equal(&got, &q);
	relay_store_queue_clear(&got);
}

static void relay_store_new__tightens_modes__loose_dir_and_files(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue got;
	char wal[160];

	open_with_queue(f, &q, 1);
	close_store(f);
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_int_equal(close(open(wal, O_CREAT | O_WRONLY, 0644)), 0);
	assert_int_equal(chmod(wal, 0644), 0);
	assert_int_equal(chmod(f->db, 0644), 0);
	assert_int_equal(chmod(f->dir, 0755), 0);
	reopen(f);
	assert_int_equal(mode_of(f->dir), 0700);
	assert_int_equal(mode_of(f->db), 0600);
	assert_int_equal(mode_of(wal), 0600);
	assert_int_equal(relay_store_queue_by_rid(f->s, q.rid, &got), SOTTO_OK);
	relay_store_queue_clear(&got);
}

static void relay_store_new__invalid__empty_or_overlong_dir(void **state)
{
	struct fixture *f = *state;
	char long_dir[5000];

	assert_int_equal(relay_store_new(f->ctx, "", NULL, &f->s), SOTTO_ERR_INVALID);
	assert_null(f->s);
	memset(long_dir, 'a', sizeof(long_dir) - 1);
	long_dir[sizeof(long_dir) - 1] = '\0';
	assert_int_equal(relay_store_new(f->ctx, long_dir, NULL, &f->s), SOTTO_ERR_INVALID);
	assert_null(f->s);
}

static void relay_store_new__io__dir_is_a_file_or_missing_parent(void **state)
{
	struct fixture *f = *state;
	char deep[160];

	assert_int_equal(close(open(f->dir, O_CREAT | O_WRONLY, 0600)), 0);
	assert_int_equal(relay_store_new(f->ctx, f->dir, NULL, &f->s), SOTTO_ERR_IO);
	assert_null(f->s);
	path_join(deep, sizeof(deep), f->tmp, "no/such/dir");
	assert_int_equal(relay_store_new(f->ctx, deep, NULL, &f->s), SOTTO_ERR_IO);
	assert_null(f->s);
}

static void relay_store_new__io__database_is_a_symlink(void **state)
{
	struct fixture *f = *state;
	char target[160];

	assert_int_equal(mkdir(f->dir, 0700), 0);
	path_join(target, sizeof(target), f->tmp, "elsewhere.db");
	assert_int_equal(symlink(target, f->db), 0);
	assert_int_equal(relay_store_new(f->ctx, f->dir, NULL, &f->s), SOTTO_ERR_IO);
	assert_int_equal(access(target, F_OK), -1);
}

static void relay_store_new__busy__already_open(void **state)
{
	struct fixture *f = *state;
	struct relay_store *second = NULL;
	struct relay_store_config cfg = {.cache_kib = 64, .checkpoint_pages = 10};

	assert_int_equal(relay_store_new(f->ctx, f->dir, &cfg, &f->s), SOTTO_OK);
	assert_int_equal(relay_store_new(f->ctx, f->dir, NULL, &second), SOTTO_ERR_BUSY);
	assert_null(second);
}

static void relay_store_new__version__newer_schema(void **state)
{
	struct fixture *f = *state;

	reopen(f);
	close_store(f);
	raw_sql(f, "PRAGMA user_version = 2");
	assert_int_equal(relay_store_new(f->ctx, f->dir, NULL, &f->s), SOTTO_ERR_VERSION);
	assert_null(f->s);
}

static void relay_store_new__corrupt__not_a_relay_store(void **state)
{
	static const char *const cases[] = {
	        "PRAGMA application_id = 7",
	        "PRAGMA user_version = 0",
	        "DROP TABLE msg",
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		remove_tree(f->dir);
		reopen(f);
		close_store(f);
		raw_sql(f, cases[i]);
		assert_int_equal(relay_store_new(f->ctx, f->dir, NULL, &f->s), SOTTO_ERR_CORRUPT);
		assert_null(f->s);
	}
	/* Some other application's database: tables, no application_id. */
	remove_tree(f->dir);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	raw_sql(f, "PRAGMA journal_mode = DELETE");
	raw_sql(f, "CREATE TABLE contacts(name TEXT)");
	assert_int_equal(relay_store_new(f->ctx, f->dir, NULL, &f->s), SOTTO_ERR_CORRUPT);
}

static void relay_store_new__corrupt__garbage_file(void **state)
{
	struct fixture *f = *state;
	uint8_t junk[8192];
	int fd;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	fd = open(f->db, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	assert_int_equal(close(fd), 0);
	assert_int_equal(relay_store_new(f->ctx, f->dir, NULL, &f->s), SOTTO_ERR_CORRUPT);
	assert_null(f->s);
}

static void relay_store_new__nomem__each_allocation(void **state)
{
	struct fixture *f = *state;
	unsigned long n_ok = 0;
	long n_base = f->alloc.n_live; /* the context itself */

	for (unsigned long fail_at = 1; fail_at < 10; fail_at++) {
		f->alloc.n_allocs = 0;
		f->alloc.fail_at = fail_at;
		sotto_err rc = relay_store_new(f->ctx, f->dir, NULL, &f->s);
		f->alloc.fail_at = 0;
		if (rc == SOTTO_OK) {
			n_ok = fail_at;
			break;
		}
		assert_int_equal(rc, SOTTO_ERR_NOMEM);
		assert_null(f->s);
		assert_int_equal(f->alloc.n_live, n_base);
	}
	assert_int_equal(n_ok, 3); /* the path and the store itself */
}

/* ---- batches ---------------------------------------------------------- */

static void relay_store_begin__state__batch_already_open(void **state)
{
	struct fixture *f = *state;

	reopen(f);
	assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
	assert_int_equal(relay_store_begin(f->s), SOTTO_ERR_STATE);
	relay_store_rollback(f->s);
	relay_store_rollback(f->s); /* no batch: nothing happens */
	assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
	assert_int_equal(relay_store_commit(f->s), SOTTO_OK);
}

static void relay_store_commit__state__no_batch(void **state)
{
	struct fixture *f = *state;

	reopen(f);
	assert_int_equal(relay_store_commit(f->s), SOTTO_ERR_STATE);
	assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
	assert_int_equal(relay_store_commit(f->s), SOTTO_OK);
	assert_int_equal(relay_store_commit(f->s), SOTTO_ERR_STATE);
}

static void relay_store_commit__durable__close_and_reopen(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue got;
	struct relay_store_msg *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	reopen(f);
	make_queue(&q, 2);
	assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
	assert_int_equal(relay_store_queue_add(f->s, &q), SOTTO_OK);
	add_msg(f, q.rid, 5);
	add_msg(f, q.rid, 6);
	assert_int_equal(relay_store_commit(f->s), SOTTO_OK);
	reopen(f);
	assert_int_equal(relay_store_queue_by_rid(f->s, q.rid, &got), SOTTO_OK);
	assert_queue_equal(&got, &q);
	assert_int_equal(relay_store_msg_first(f->s, q.rid, m), SOTTO_OK);
	assert_msg_is(m, 5);
	relay_store_queue_clear(&got);
	free(m);
}

static void relay_store_rollback__discards__batch_seen_inside(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue got;
	struct relay_store_msg *m = calloc(1, sizeof(*m));
	uint32_t n = 9;

	assert_non_null(m);
	reopen(f);
	make_queue(&q, 3);
	assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
	assert_int_equal(relay_store_queue_add(f->s, &q), SOTTO_OK);
	add_msg(f, q.rid, 1);
	/* Reads inside the batch see its writes. */
	assert_int_equal(relay_store_queue_by_sid(f->s, q.sid, &got), SOTTO_OK);
	assert_int_equal(relay_store_msg_count(f->s, q.rid, &n), SOTTO_OK);
	assert_int_equal(n, 1);
	assert_int_equal(relay_store_msg_first(f->s, q.rid, m), SOTTO_OK);
	assert_msg_is(m, 1);
	relay_store_rollback(f->s);
	assert_int_equal(relay_store_queue_by_rid(f->s, q.rid, &got), SOTTO_ERR_NOT_FOUND);
	assert_int_equal(relay_store_msg_count(f->s, q.rid, &n), SOTTO_OK);
	assert_int_equal(n, 0);
	reopen(f);
	assert_int_equal(relay_store_queue_by_rid(f->s, q.rid, &got), SOTTO_ERR_NOT_FOUND);
	free(m);
}

static void relay_store_free__rolls_back__open_batch(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue got;

	reopen(f);
	make_queue(&q, 4);
	assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
	assert_int_equal(relay_store_queue_add(f->s, &q), SOTTO_OK);
	reopen(f);
	assert_int_equal(relay_store_queue_by_rid(f->s, q.rid, &got), SOTTO_ERR_NOT_FOUND);
}

static void relay_store_queue_add__durable__outside_batch(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue got;

	open_with_queue(f, &q, 5);
	add_msg(f, q.rid, 1);
	reopen(f);
	assert_int_equal(relay_store_queue_by_rid(f->s, q.rid, &got), SOTTO_OK);
	assert_queue_equal(&got, &q);
	relay_store_queue_clear(&got);
}

/*
 * A disk that fills up mid-batch (max_page_count stands in for it): the
 * failing add reports SOTTO_ERR_IO, and whether SQLite kept the rest of the
 * batch or rolled all of it back, commit must agree with what reopening shows.
 */
static void relay_store_commit__consistent__disk_full_mid_batch(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	uint8_t id[RELAY_MSG_ID_LEN];
	uint8_t *body = calloc(1, RELAY_MSG_BODY_MAX);
	uint32_t n_before = 0;
	uint32_t n_after = 0;
	uint64_t seq;
	uint64_t i;
	sotto_err rc = SOTTO_OK;
	sotto_err count_rc;

	assert_non_null(body);
	open_with_queue(f, &q, 6);
	add_msg(f, q.rid, 0);
	assert_int_equal(
	        sqlite3_exec(relay_store_db(f->s), "PRAGMA max_page_count = 40", NULL, NULL, NULL),
	        SQLITE_OK);
	assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
	for (i = 1; i < 100 && rc == SOTTO_OK; i++) {
		msg_id_of(id, i);
		rc = relay_store_msg_add(f->s, q.rid, id, 1, 0, body, RELAY_MSG_BODY_MAX, &seq);
	}
	assert_int_equal(rc, SOTTO_ERR_IO);
	assert_true(i > 2);
	count_rc = relay_store_msg_count(f->s, q.rid, &n_before);
	rc = relay_store_commit(f->s);
	reopen(f);
	assert_int_equal(relay_store_msg_count(f->s, q.rid, &n_after), SOTTO_OK);
	print_message("disk full at add %llu: commit %s\n", (unsigned long long)(i - 1),
	              rc == SOTTO_OK ? "kept the rest of the batch" : "lost the batch");
	if (rc == SOTTO_OK) {
		assert_int_equal(n_after, i - 1); /* message 0 and every add that succeeded */
		assert_int_equal(count_rc, SOTTO_OK);
		assert_int_equal(n_after, n_before);
	} else {
		/* SQLite rolled the batch back: nothing may run as if it were still open. */
		assert_int_equal(count_rc, SOTTO_ERR_IO);
		assert_int_equal(rc, SOTTO_ERR_IO);
		assert_int_equal(n_after, 1);
	}
	free(body);
}

/* ---- queues ----------------------------------------------------------- */

static void relay_store_queue_add__ok__found_by_rid_and_sid(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue other;
	struct relay_store_queue got;

	open_with_queue(f, &q, 1);
	open_with_queue(f, &other, 2);
	assert_int_equal(relay_store_queue_by_rid(f->s, q.rid, &got), SOTTO_OK);
	assert_queue_equal(&got, &q);
	assert_int_equal(relay_store_queue_by_sid(f->s, other.sid, &got), SOTTO_OK);
	assert_queue_equal(&got, &other);
	relay_store_queue_clear(&got);
	assert_true(sodium_is_zero((const unsigned char *)&got, sizeof(got)));
}

static void relay_store_queue_add__used__duplicate_rid_or_sid(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue dup;
	struct relay_store_stats st;

	open_with_queue(f, &q, 1);
	make_queue(&dup, 2);
	memcpy(dup.rid, q.rid, RELAY_ID_LEN);
	assert_int_equal(relay_store_queue_add(f->s, &dup), SOTTO_ERR_USED);
	make_queue(&dup, 2);
	memcpy(dup.sid, q.sid, RELAY_ID_LEN);
	assert_int_equal(relay_store_queue_add(f->s, &dup), SOTTO_ERR_USED);
	/* A batch survives the refused insert. */
	assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
	assert_int_equal(relay_store_queue_add(f->s, &dup), SOTTO_ERR_USED);
	make_queue(&dup, 3);
	assert_int_equal(relay_store_queue_add(f->s, &dup), SOTTO_OK);
	assert_int_equal(relay_store_commit(f->s), SOTTO_OK);
	assert_int_equal(relay_store_stats(f->s, &st), SOTTO_OK);
	assert_int_equal(st.n_queues, 2);
}

static void relay_store_queue_add__invalid__not_a_fresh_queue(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_stats st;

	reopen(f);
	make_queue(&q, 1);
	q.status = RELAY_STORE_SECURED;
	assert_int_equal(relay_store_queue_add(f->s, &q), SOTTO_ERR_INVALID);
	make_queue(&q, 1);
	q.has_ssk_priv = false;
	assert_int_equal(relay_store_queue_add(f->s, &q), SOTTO_ERR_INVALID);
	make_queue(&q, 1);
	q.has_k_sauth = true;
	assert_int_equal(relay_store_queue_add(f->s, &q), SOTTO_ERR_INVALID);
	make_queue(&q, 1);
	q.created_s = (uint64_t)INT64_MAX + 1;
	assert_int_equal(relay_store_queue_add(f->s, &q), SOTTO_ERR_INVALID);
	assert_int_equal(relay_store_stats(f->s, &st), SOTTO_OK);
	assert_int_equal(st.n_queues, 0);
}

static void relay_store_queue_by_rid__not_found__unknown_ids(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue got;

	open_with_queue(f, &q, 1);
	memset(&got, 0xee, sizeof(got));
	/* The IDs are not interchangeable. */
	assert_int_equal(relay_store_queue_by_rid(f->s, q.sid, &got), SOTTO_ERR_NOT_FOUND);
	assert_true(sodium_is_zero((const unsigned char *)&got, sizeof(got)));
	assert_int_equal(relay_store_queue_by_sid(f->s, q.rid, &got), SOTTO_ERR_NOT_FOUND);
}

static void relay_store_queue_secure__ok__then_state(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue got;
	uint8_t k[RELAY_KEY_LEN];
	uint8_t k2[RELAY_KEY_LEN];

	memset(k, 0x5c, sizeof(k));
	memset(k2, 0x6d, sizeof(k2));
	open_with_queue(f, &q, 1);
	assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
	assert_int_equal(relay_store_queue_secure(f->s, q.rid, k), SOTTO_OK);
	/* A second KEY/SKEY in the same batch loses. */
	assert_int_equal(relay_store_queue_secure(f->s, q.rid, k2), SOTTO_ERR_STATE);
	assert_int_equal(relay_store_commit(f->s), SOTTO_OK);
	reopen(f);
	assert_int_equal(relay_store_queue_by_sid(f->s, q.sid, &got), SOTTO_OK);
	assert_int_equal(got.status, RELAY_STORE_SECURED);
	assert_true(got.has_k_sauth);
	assert_memory_equal(got.k_sauth, k, sizeof(k));
	assert_false(got.has_ssk_priv);
	assert_true(sodium_is_zero(got.ssk_priv, sizeof(got.ssk_priv)));
	relay_store_queue_clear(&got);
}

static void relay_store_queue_secure__not_found__unknown_queue(void **state)
{
	struct fixture *f = *state;
	uint8_t rid[RELAY_ID_LEN];
	uint8_t k[RELAY_KEY_LEN];

	reopen(f);
	memset(rid, 1, sizeof(rid));
	memset(k, 2, sizeof(k));
	assert_int_equal(relay_store_queue_secure(f->s, rid, k), SOTTO_ERR_NOT_FOUND);
}

/* Returns whether needle occurs in the file at path. */
static bool file_contains(const char *path, const uint8_t *needle, size_t len)
{
	size_t n = 0;
	uint8_t *buf = tu_read_file(path, &n);
	bool found = false;

	assert_non_null(buf);
	for (size_t i = 0; i + len <= n && !found; i++)
		found = memcmp(buf + i, needle, len) == 0;
	free(buf);
	return found;
}

static void relay_store_queue_secure__wipes__ssk_priv_from_file(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue dead;
	uint8_t k[RELAY_KEY_LEN];

	memset(k, 0x77, sizeof(k));
	open_with_queue(f, &q, 1);
	open_with_queue(f, &dead, 2);
	close_store(f); /* checkpoints: the keys are now in the main file */
	assert_true(file_contains(f->db, q.ssk_priv, RELAY_KEY_LEN));
	assert_true(file_contains(f->db, dead.k_rauth, RELAY_KEY_LEN));
	reopen(f);
	assert_int_equal(relay_store_queue_secure(f->s, q.rid, k), SOTTO_OK);
	assert_int_equal(relay_store_queue_delete(f->s, dead.rid), SOTTO_OK);
	close_store(f);
	assert_false(file_contains(f->db, q.ssk_priv, RELAY_KEY_LEN));
	assert_false(file_contains(f->db, dead.k_rauth, RELAY_KEY_LEN));
	assert_false(file_contains(f->db, dead.ssk_priv, RELAY_KEY_LEN));
	assert_true(file_contains(f->db, k, RELAY_KEY_LEN));
}

static void relay_store_queue_suspend__ok__from_active_and_secured(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue a;
	struct relay_store_queue b;
	struct relay_store_queue got;
	uint8_t k[RELAY_KEY_LEN];
	uint32_t n = 0;

	memset(k, 0x3c, sizeof(k));
	open_with_queue(f, &a, 1);
	open_with_queue(f, &b, 2);
	add_msg(f, a.rid, 1);
	assert_int_equal(relay_store_queue_secure(f->s, b.rid, k), SOTTO_OK);
	assert_int_equal(relay_store_queue_suspend(f->s, a.rid), SOTTO_OK);
	assert_int_equal(relay_store_queue_suspend(f->s, a.rid), SOTTO_OK);
	assert_int_equal(relay_store_queue_suspend(f->s, b.rid), SOTTO_OK);
	reopen(f);
	assert_int_equal(relay_store_queue_by_rid(f->s, a.rid, &got), SOTTO_OK);
	assert_int_equal(got.status, RELAY_STORE_SUSPENDED);
	assert_false(got.has_ssk_priv);
	assert_false(got.has_k_sauth);
	assert_int_equal(relay_store_msg_count(f->s, a.rid, &n), SOTTO_OK);
	assert_int_equal(n, 1);
	assert_int_equal(relay_store_queue_by_rid(f->s, b.rid, &got), SOTTO_OK);
	assert_int_equal(got.status, RELAY_STORE_SUSPENDED);
	assert_true(got.has_k_sauth);
	assert_memory_equal(got.k_sauth, k, sizeof(k));
	/* A suspended queue cannot be secured any more. */
	assert_int_equal(relay_store_queue_secure(f->s, a.rid, k), SOTTO_ERR_STATE);
	relay_store_queue_clear(&got);
}

static void relay_store_queue_suspend__not_found__unknown_queue(void **state)
{
	struct fixture *f = *state;
	uint8_t rid[RELAY_ID_LEN];

	reopen(f);
	memset(rid, 9, sizeof(rid));
	assert_int_equal(relay_store_queue_suspend(f->s, rid), SOTTO_ERR_NOT_FOUND);
}

static void relay_store_queue_delete__ok__takes_only_its_messages(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue a;
	struct relay_store_queue b;
	struct relay_store_queue got;
	struct relay_store_stats st;
	uint32_t n = 0;
	uint64_t seq;

	open_with_queue(f, &a, 1);
	open_with_queue(f, &b, 2);
	for (uint64_t i = 0; i < 5; i++) {
		add_msg(f, a.rid, i);
		add_msg(f, b.rid, 100 + i);
	}
	assert_int_equal(relay_store_queue_delete(f->s, a.rid), SOTTO_OK);
	assert_int_equal(relay_store_queue_delete(f->s, a.rid), SOTTO_ERR_NOT_FOUND);
	assert_int_equal(relay_store_queue_by_sid(f->s, a.sid, &got), SOTTO_ERR_NOT_FOUND);
	assert_int_equal(relay_store_msg_count(f->s, a.rid, &n), SOTTO_OK);
	assert_int_equal(n, 0);
	assert_int_equal(relay_store_msg_count(f->s, b.rid, &n), SOTTO_OK);
	assert_int_equal(n, 5);
	assert_int_equal(relay_store_stats(f->s, &st), SOTTO_OK);
	assert_int_equal(st.n_queues, 1);
	assert_int_equal(st.n_msgs, 5);
	/* The deleted queue takes no more messages. */
	assert_int_equal(relay_store_msg_add(f->s, a.rid, a.rid, 1, 0, NULL, 0, &seq),
	                 SOTTO_ERR_NOT_FOUND);
}

/* ---- messages --------------------------------------------------------- */

static void relay_store_msg_add__ok__fifo_with_increasing_seq_and_after(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue other;
	struct relay_store_msg *m = calloc(1, sizeof(*m));
	uint8_t id[RELAY_MSG_ID_LEN];
	uint64_t seqs[8];
	uint32_t n = 0;

	assert_non_null(m);
	open_with_queue(f, &q, 1);
	open_with_queue(f, &other, 2);
	for (uint64_t i = 0; i < 8; i++) {
		seqs[i] = add_msg(f, q.rid, i);
		add_msg(f, other.rid, 50 + i); /* interleaved: must not disturb the order */
		if (i > 0)
			assert_true(seqs[i] > seqs[i - 1]);
	}
	/* msg_after walks the queue in order, skipping the other queue's messages. */
	for (uint64_t i = 0; i < 7; i++) {
		assert_int_equal(relay_store_msg_after(f->s, q.rid, seqs[i], m), SOTTO_OK);
		assert_int_equal(m->seq, seqs[i + 1]);
		assert_msg_is(m, i + 1);
	}
	assert_int_equal(relay_store_msg_after(f->s, q.rid, seqs[7], m), SOTTO_ERR_NOT_FOUND);
	assert_int_equal(relay_store_msg_after(f->s, q.rid, UINT64_MAX, m), SOTTO_ERR_NOT_FOUND);
	assert_int_equal(relay_store_msg_after(f->s, q.rid, 0, m), SOTTO_OK);
	assert_int_equal(m->seq, seqs[0]);
	for (uint64_t i = 0; i < 8; i++) {
		assert_int_equal(relay_store_msg_count(f->s, q.rid, &n), SOTTO_OK);
		assert_int_equal(n, 8 - i);
		assert_int_equal(relay_store_msg_first(f->s, q.rid, m), SOTTO_OK);
		assert_int_equal(m->seq, seqs[i]);
		assert_msg_is(m, i);
		msg_id_of(id, i);
		assert_int_equal(relay_store_msg_delete(f->s, q.rid, id), SOTTO_OK);
	}
	assert_int_equal(relay_store_msg_first(f->s, q.rid, m), SOTTO_ERR_NOT_FOUND);
	assert_true(sodium_is_zero((const unsigned char *)m, sizeof(*m)));
	/* A later message is newer than every one ever stored. */
	assert_true(add_msg(f, q.rid, 9) > seqs[7]);
	free(m);
}

static void relay_store_msg_add__ok__empty_and_maximal_bodies(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_msg *m = calloc(1, sizeof(*m));
	uint8_t *body = malloc(RELAY_MSG_BODY_MAX + 1);
	uint8_t id[RELAY_MSG_ID_LEN];
	uint64_t seq = 7;

	assert_non_null(m);
	assert_non_null(body);
	for (size_t i = 0; i <= RELAY_MSG_BODY_MAX; i++)
		body[i] = (uint8_t)(i ^ (i >> 8));
	open_with_queue(f, &q, 1);
	msg_id_of(id, 1);
	assert_int_equal(relay_store_msg_add(f->s, q.rid, id, 5, 0, NULL, 0, &seq), SOTTO_OK);
	msg_id_of(id, 2);
	assert_int_equal(
	        relay_store_msg_add(f->s, q.rid, id, 6, 255, body, RELAY_MSG_BODY_MAX, &seq),
	        SOTTO_OK);
	msg_id_of(id, 3);
	assert_int_equal(
	        relay_store_msg_add(f->s, q.rid, id, 6, 0, body, RELAY_MSG_BODY_MAX + 1, &seq),
	        SOTTO_ERR_TOO_LARGE);
	assert_int_equal(seq, 0);
	reopen(f);
	assert_int_equal(relay_store_msg_first(f->s, q.rid, m), SOTTO_OK);
	assert_int_equal(m->body_len, 0);
	assert_int_equal(m->timestamp_s, 5);
	msg_id_of(id, 1);
	assert_int_equal(relay_store_msg_delete(f->s, q.rid, id), SOTTO_OK);
	assert_int_equal(relay_store_msg_first(f->s, q.rid, m), SOTTO_OK);
	assert_int_equal(m->flags, 255);
	assert_int_equal(m->body_len, RELAY_MSG_BODY_MAX);
	assert_memory_equal(m->body, body, RELAY_MSG_BODY_MAX);
	free(body);
	free(m);
}

static void relay_store_msg_add__errors__bad_arguments_and_duplicates(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue other;
	uint8_t id[RELAY_MSG_ID_LEN];
	uint8_t unknown[RELAY_ID_LEN];
	uint64_t seq = 7;
	uint32_t n = 0;

	open_with_queue(f, &q, 1);
	open_with_queue(f, &other, 2);
	msg_id_of(id, 1);
	memset(unknown, 0x42, sizeof(unknown));
	assert_int_equal(relay_store_msg_add(f->s, unknown, id, 1, 0, NULL, 0, &seq),
	                 SOTTO_ERR_NOT_FOUND);
	assert_int_equal(seq, 0);
	assert_int_equal(
	        relay_store_msg_add(f->s, q.rid, id, (uint64_t)INT64_MAX + 1, 0, NULL, 0, &seq),
	        SOTTO_ERR_INVALID);
	assert_int_equal(relay_store_msg_add(f->s, q.rid, id, 1, 0, NULL, 3, &seq),
	                 SOTTO_ERR_INVALID);
	add_msg(f, q.rid, 1);
	assert_int_equal(relay_store_msg_add(f->s, q.rid, id, 1, 0, NULL, 0, &seq), SOTTO_ERR_USED);
	add_msg(f, other.rid, 1); /* the same id in another queue is fine */
	assert_int_equal(relay_store_msg_count(f->s, q.rid, &n), SOTTO_OK);
	assert_int_equal(n, 1);
	assert_int_equal(relay_store_msg_count(f->s, unknown, &n), SOTTO_OK);
	assert_int_equal(n, 0);
}

static void relay_store_msg_delete__not_found__wrong_id_or_queue(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue other;
	uint8_t id[RELAY_MSG_ID_LEN];
	uint32_t n = 0;

	open_with_queue(f, &q, 1);
	open_with_queue(f, &other, 2);
	add_msg(f, q.rid, 1);
	msg_id_of(id, 2);
	assert_int_equal(relay_store_msg_delete(f->s, q.rid, id), SOTTO_ERR_NOT_FOUND);
	msg_id_of(id, 1);
	assert_int_equal(relay_store_msg_delete(f->s, other.rid, id), SOTTO_ERR_NOT_FOUND);
	assert_int_equal(relay_store_msg_count(f->s, q.rid, &n), SOTTO_OK);
	assert_int_equal(n, 1);
	assert_int_equal(relay_store_msg_delete(f->s, q.rid, id), SOTTO_OK);
	assert_int_equal(relay_store_msg_delete(f->s, q.rid, id), SOTTO_ERR_NOT_FOUND);
}

static void relay_store_msg_expire__bounded__oldest_first(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue other;
	struct relay_store_msg *m = calloc(1, sizeof(*m));
	struct relay_store_stats st;
	uint32_t n = 99;

	assert_non_null(m);
	open_with_queue(f, &q, 1);
	open_with_queue(f, &other, 2);
	/* add_msg stamps message i with time 1000 + i. */
	for (uint64_t i = 0; i < 10; i++)
		add_msg(f, (i % 2) ? q.rid : other.rid, i);
	assert_int_equal(relay_store_msg_expire(f->s, 1000, 5, &n), SOTTO_OK);
	assert_int_equal(n, 0);
	assert_int_equal(relay_store_msg_expire(f->s, 1007, 0, &n), SOTTO_ERR_INVALID);
	assert_int_equal(relay_store_msg_expire(f->s, 1007, 4, &n), SOTTO_OK);
	assert_int_equal(n, 4);
	assert_int_equal(relay_store_msg_expire(f->s, 1007, 4, &n), SOTTO_OK);
	assert_int_equal(n, 3);
	assert_int_equal(relay_store_msg_first(f->s, q.rid, m), SOTTO_OK);
	assert_msg_is(m, 7);
	assert_int_equal(relay_store_msg_first(f->s, other.rid, m), SOTTO_OK);
	assert_msg_is(m, 8);
	assert_int_equal(relay_store_msg_expire(f->s, UINT64_MAX, 100, &n), SOTTO_OK);
	assert_int_equal(n, 3);
	assert_int_equal(relay_store_stats(f->s, &st), SOTTO_OK);
	assert_int_equal(st.n_msgs, 0);
	assert_int_equal(st.n_queues, 2);
	free(m);
}

static void relay_store_stats__counts__queues_and_messages(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_stats st;

	reopen(f);
	memset(&st, 0xff, sizeof(st));
	assert_int_equal(relay_store_stats(f->s, &st), SOTTO_OK);
	assert_int_equal(st.n_queues, 0);
	assert_int_equal(st.n_msgs, 0);
	for (uint8_t i = 0; i < 3; i++) {
		open_with_queue(f, &q, i);
		for (uint64_t j = 0; j <= i; j++)
			add_msg(f, q.rid, j);
	}
	assert_int_equal(relay_store_stats(f->s, &st), SOTTO_OK);
	assert_int_equal(st.n_queues, 3);
	assert_int_equal(st.n_msgs, 6);
}

/* ---- malformed rows --------------------------------------------------- */

/*
 * Each statement damages the one queue row (queue 1, status ACTIVE) in a way
 * a reader must reject; lookups go through the column left intact.
 */
static const char *const BAD_QUEUE_ROWS[] = {
        "UPDATE queue SET rid = zeroblob(23)",
        "UPDATE queue SET rid = zeroblob(25)",
        "UPDATE queue SET sid = zeroblob(23)",
        "UPDATE queue SET status = 3",
        "UPDATE queue SET status = -1",
        "UPDATE queue SET status = 'zero'",
        "UPDATE queue SET created_s = -1",
        "UPDATE queue SET created_s = 1.5",
        "UPDATE queue SET k_rauth = zeroblob(31)",
        "UPDATE queue SET k_rauth = NULL",
        "UPDATE queue SET k_deliver = hex(k_deliver)",
        "UPDATE queue SET k_deliver = zeroblob(0)",
        "UPDATE queue SET ssk_priv = zeroblob(33)",
        "UPDATE queue SET ssk_priv = NULL",                    /* active without ssk_priv */
        "UPDATE queue SET k_sauth = zeroblob(32)",             /* active with k_sauth */
        "UPDATE queue SET status = 1, k_sauth = zeroblob(32)", /* secured with ssk_priv */
        "UPDATE queue SET status = 1, ssk_priv = NULL",        /* secured without k_sauth */
        "UPDATE queue SET status = 2, ssk_priv = NULL, k_sauth = x'00'", /* short k_sauth */
        "UPDATE queue SET status = 2", /* suspended with ssk_priv */
};

static void relay_store_queue_by_rid__corrupt__malformed_rows(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue got;
	sotto_err rc;

	for (size_t i = 0; i < sizeof(BAD_QUEUE_ROWS) / sizeof(BAD_QUEUE_ROWS[0]); i++) {
		remove_tree(f->dir);
		open_with_queue(f, &q, 1);
		close_store(f);
		relax_schema(f);
		raw_sql(f, BAD_QUEUE_ROWS[i]);
		reopen(f);
		memset(&got, 0xee, sizeof(got));
		if (strstr(BAD_QUEUE_ROWS[i], "SET rid") == NULL &&
		    (rc = relay_store_queue_by_rid(f->s, q.rid, &got)) != SOTTO_ERR_CORRUPT)
			fail_msg("by_rid after \"%s\": %d", BAD_QUEUE_ROWS[i], rc);
		if (strstr(BAD_QUEUE_ROWS[i], "SET sid") == NULL &&
		    (rc = relay_store_queue_by_sid(f->s, q.sid, &got)) != SOTTO_ERR_CORRUPT)
			fail_msg("by_sid after \"%s\": %d", BAD_QUEUE_ROWS[i], rc);
		assert_true(sodium_is_zero((const unsigned char *)&got, sizeof(got)));
		close_store(f);
	}
}

static void relay_store_queue_secure__corrupt__unknown_status(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	uint8_t k[RELAY_KEY_LEN];

	memset(k, 1, sizeof(k));
	open_with_queue(f, &q, 1);
	close_store(f);
	raw_sql(f, "UPDATE queue SET status = 9");
	reopen(f);
	assert_int_equal(relay_store_queue_secure(f->s, q.rid, k), SOTTO_ERR_CORRUPT);
}

static const char *const BAD_MSG_ROWS[] = {
        "UPDATE msg SET msg_id = zeroblob(23)",
        "UPDATE msg SET msg_id = zeroblob(25)",
        "UPDATE msg SET msg_id = NULL",
        "UPDATE msg SET ts = -1",
        "UPDATE msg SET ts = 'soon'",
        "UPDATE msg SET flags = 256",
        "UPDATE msg SET flags = -1",
        "UPDATE msg SET flags = x'00'",
        "UPDATE msg SET body = zeroblob(16001)",
        "UPDATE msg SET body = NULL",
        "UPDATE msg SET body = 'text'",
        "UPDATE msg SET body = 7",
};

static void relay_store_msg_first__corrupt__malformed_rows(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_msg *m = malloc(sizeof(*m));

	assert_non_null(m);
	for (size_t i = 0; i < sizeof(BAD_MSG_ROWS) / sizeof(BAD_MSG_ROWS[0]); i++) {
		remove_tree(f->dir);
		open_with_queue(f, &q, 1);
		add_msg(f, q.rid, 1);
		close_store(f);
		relax_schema(f);
		raw_sql(f, BAD_MSG_ROWS[i]);
		reopen(f);
		memset(m, 0xee, sizeof(*m));
		assert_int_equal(relay_store_msg_first(f->s, q.rid, m), SOTTO_ERR_CORRUPT);
		assert_true(sodium_is_zero((const unsigned char *)m, sizeof(*m)));
		close_store(f);
	}
	free(m);
}

/* ---- what a commit syncs ---------------------------------------------- */

/*
 * A VFS that forwards to the default one and watches the write-ahead log:
 * writes make it dirty, xSync makes it clean. A commit that returned while
 * the log was dirty would have answered OK before the data was on disk.
 */
struct spy_state {
	sqlite3_vfs vfs;
	sqlite3_vfs *real;
	unsigned long n_wal_syncs;
	bool is_wal_dirty;
	bool is_sync_failing; /* every xSync fails with SQLITE_IOERR_FSYNC */
};

struct spy_file {
	sqlite3_file base;  /* base.pMethods is &spy_io */
	sqlite3_file *real; /* the real file, right after this struct */
	struct spy_state *spy;
	bool is_wal;
};

/* Test-only: the VFS structure must outlive any connection a failed test leaves open. */
static struct spy_state spy;

static sqlite3_file *real_of(sqlite3_file *f)
{
	return ((struct spy_file *)f)->real;
}

static int spy_close(sqlite3_file *f)
{
	return real_of(f)->pMethods->xClose(real_of(f));
}

static int spy_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
	return real_of(f)->pMethods->xRead(real_of(f), buf, amt, off);
}

static int spy_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	struct spy_file *sf = (struct spy_file *)f;

	if (sf->is_wal)
		sf->spy->is_wal_dirty = true;
	return sf->real->pMethods->xWrite(sf->real, buf, amt, off);
}

static int spy_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int spy_sync(sqlite3_file *f, int flags)
{
	struct spy_file *sf = (struct spy_file *)f;
	int rc;

	if (sf->spy->is_sync_failing)
		return SQLITE_IOERR_FSYNC;
	rc = sf->real->pMethods->xSync(sf->real, flags);

	if (sf->is_wal && rc == SQLITE_OK) {
		sf->spy->n_wal_syncs++;
		sf->spy->is_wal_dirty = false;
	}
	return rc;
}

static int spy_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int spy_lock(sqlite3_file *f, int level)
{
	return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int spy_unlock(sqlite3_file *f, int level)
{
	return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int spy_check_lock(sqlite3_file *f, int *out)
{
	return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int spy_file_control(sqlite3_file *f, int op, void *arg)
{
	return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int spy_sector_size(sqlite3_file *f)
{
	return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int spy_device(sqlite3_file *f)
{
	return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static const sqlite3_io_methods spy_io = {
        .iVersion = 1,
        .xClose = spy_close,
        .xRead = spy_read,
        .xWrite = spy_write,
        .xTruncate = spy_truncate,
        .xSync = spy_sync,
        .xFileSize = spy_file_size,
        .xLock = spy_lock,
        .xUnlock = spy_unlock,
        .xCheckReservedLock = spy_check_lock,
        .xFileControl = spy_file_control,
        .xSectorSize = spy_sector_size,
        .xDeviceCharacteristics = spy_device,
};

static int spy_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct spy_state *st = vfs->pAppData;
	struct spy_file *sf = (struct spy_file *)f;
	int rc;

	sf->real = (sqlite3_file *)(sf + 1);
	sf->spy = st;
	sf->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
	rc = st->real->xOpen(st->real, name, sf->real, flags, out_flags);
	f->pMethods = sf->real->pMethods != NULL ? &spy_io : NULL;
	return rc;
}

static int spy_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	struct spy_state *st = vfs->pAppData;

	return st->real->xDelete(st->real, name, sync_dir);
}

static int spy_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	struct spy_state *st = vfs->pAppData;

	return st->real->xAccess(st->real, name, flags, out);
}

static int spy_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	struct spy_state *st = vfs->pAppData;

	return st->real->xFullPathname(st->real, name, n, out);
}

static int spy_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	struct spy_state *st = vfs->pAppData;

	return st->real->xRandomness(st->real, n, out);
}

static int spy_sleep(sqlite3_vfs *vfs, int us)
{
	struct spy_state *st = vfs->pAppData;

	return st->real->xSleep(st->real, us);
}

static int spy_current_time(sqlite3_vfs *vfs, double *out)
{
	struct spy_state *st = vfs->pAppData;

	return st->real->xCurrentTime(st->real, out);
}

static int spy_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	struct spy_state *st = vfs->pAppData;

	return st->real->xGetLastError(st->real, n, out);
}

/* Makes the spy the default VFS until spy_uninstall(). */
static void spy_install(void)
{
	memset(&spy, 0, sizeof(spy));
	spy.real = sqlite3_vfs_find(NULL);
	assert_non_null(spy.real);
	spy.vfs.iVersion = 1;
	spy.vfs.szOsFile = (int)sizeof(struct spy_file) + spy.real->szOsFile;
	spy.vfs.mxPathname = spy.real->mxPathname;
	spy.vfs.zName = "sotto-sync-spy";
	spy.vfs.pAppData = &spy;
	spy.vfs.xOpen = spy_open;
	spy.vfs.xDelete = spy_delete;
	spy.vfs.xAccess = spy_access;
	spy.vfs.xFullPathname = spy_full_pathname;
	spy.vfs.xRandomness = spy_randomness;
	spy.vfs.xSleep = spy_sleep;
	spy.vfs.xCurrentTime = spy_current_time;
	spy.vfs.xGetLastError = spy_last_error;
	assert_int_equal(sqlite3_vfs_register(&spy.vfs, 1), SQLITE_OK);
}

static int spy_teardown(void **state)
{
	sqlite3_vfs_unregister(&spy.vfs);
	return teardown(state);
}

static void relay_store_commit__log_synced__when_it_returns(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	uint8_t *body = calloc(1, RELAY_MSG_BODY_MAX);
	uint8_t id[RELAY_MSG_ID_LEN];
	unsigned long n_before;
	uint64_t seq;

	assert_non_null(body);
	spy_install();
	open_with_queue(f, &q, 1); /* outside a batch: a commit of its own */
	assert_true(spy.n_wal_syncs >= 1);
	assert_false(spy.is_wal_dirty);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
		for (uint64_t i = 0; i < 64; i++) {
			msg_id_of(id, (uint64_t)round * 64 + i);
			assert_int_equal(relay_store_msg_add(f->s, q.rid, id, 1, 0, body,
			                                     RELAY_MSG_BODY_MAX, &seq),
			                 SOTTO_OK);
		}
		n_before = spy.n_wal_syncs;
		assert_int_equal(relay_store_commit(f->s), SOTTO_OK);
		assert_true(spy.n_wal_syncs > n_before);
		assert_false(spy.is_wal_dirty);
	}
	/* A rolled-back batch has nothing to make durable. */
	assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
	msg_id_of(id, 999);
	assert_int_equal(relay_store_msg_add(f->s, q.rid, id, 1, 0, NULL, 0, &seq), SOTTO_OK);
	n_before = spy.n_wal_syncs;
	relay_store_rollback(f->s);
	assert_int_equal(spy.n_wal_syncs, n_before);
	close_store(f);
	sqlite3_vfs_unregister(&spy.vfs);
	free(body);
}

static void relay_store_commit__store_fails__fsync_error(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	struct relay_store_queue got;
	uint32_t n = 0;

	spy_install();
	open_with_queue(f, &q, 1);
	add_msg(f, q.rid, 0);
	assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
	add_msg(f, q.rid, 1);
	spy.is_sync_failing = true;
	assert_int_equal(relay_store_commit(f->s), SOTTO_ERR_IO);
	spy.is_sync_failing = false;
	/* What reached the disk is unknown: the store refuses everything until reopened. */
	assert_int_equal(relay_store_begin(f->s), SOTTO_ERR_IO);
	assert_int_equal(relay_store_commit(f->s), SOTTO_ERR_IO);
	assert_int_equal(relay_store_queue_by_rid(f->s, q.rid, &got), SOTTO_ERR_IO);
	assert_int_equal(relay_store_msg_count(f->s, q.rid, &n), SOTTO_ERR_IO);
	reopen(f);
	assert_int_equal(relay_store_queue_by_rid(f->s, q.rid, &got), SOTTO_OK);
	assert_int_equal(relay_store_msg_count(f->s, q.rid, &n), SOTTO_OK);
	assert_true(n == 1 || n == 2);
	add_msg(f, q.rid, 2);
	relay_store_queue_clear(&got);
	close_store(f);
	sqlite3_vfs_unregister(&spy.vfs);
}

/* ---- crash test ------------------------------------------------------- */

enum {
	CRASH_ROUNDS = 30,
	CRASH_BATCH_MAX = 4, /* messages per transaction */
	CRASH_SEED = 0x5eed,
};

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * The writer: appends messages next, next + 1, ... in transactions of 1 to
 * CRASH_BATCH_MAX, and after each commit writes the committed total to fd.
 * Runs until killed; never returns into cmocka.
 */
static void crash_child(const char *dir, const uint8_t rid[RELAY_ID_LEN], int fd, uint64_t seed)
{
	struct relay_store *s = NULL;
	sotto_ctx *ctx = NULL;
	uint8_t id[RELAY_MSG_ID_LEN];
	uint8_t body[512];
	uint32_t next = 0;
	uint64_t total;
	uint64_t seq;

	if (sotto_ctx_new(&ctx, NULL) != SOTTO_OK ||
	    relay_store_new(ctx, dir, NULL, &s) != SOTTO_OK ||
	    relay_store_msg_count(s, rid, &next) != SOTTO_OK)
		_exit(2);
	for (total = next; total < 100000;) {
		uint64_t k = 1 + xorshift(&seed) % CRASH_BATCH_MAX;

		if (relay_store_begin(s) != SOTTO_OK)
			_exit(3);
		for (uint64_t i = total; i < total + k; i++) {
			msg_id_of(id, i);
			if (relay_store_msg_add(s, rid, id, 1000 + i, (uint8_t)i, body,
			                        body_of(body, i), &seq) != SOTTO_OK)
				_exit(4);
		}
		if (relay_store_commit(s) != SOTTO_OK)
			_exit(5);
		total += k;
		if (write(fd, &total, sizeof(total)) != (ssize_t)sizeof(total))
			_exit(6);
	}
	_exit(0);
}

/* Reads 8-byte reports until n_wanted have arrived or the pipe ends; returns the last one. */
static uint64_t read_reports(int fd, uint64_t n_wanted, uint64_t last)
{
	uint64_t v;

	for (uint64_t got = 0; n_wanted == 0 || got < n_wanted; got++) {
		ssize_t n = read(fd, &v, sizeof(v));

		if (n == 0)
			break;
		assert_int_equal(n, (ssize_t)sizeof(v));
		assert_true(v > last);
		last = v;
	}
	return last;
}

/* Checks messages 0 .. n-1, each exactly once and in order, with no other; returns n. */
static uint64_t crash_verify(struct fixture *f, const uint8_t rid[RELAY_ID_LEN])
{
	struct relay_store_msg *m = malloc(sizeof(*m));
	uint32_t count = 0;
	uint64_t n = 0;
	sotto_err rc;

	assert_non_null(m);
	assert_int_equal(relay_store_msg_count(f->s, rid, &count), SOTTO_OK);
	assert_int_equal(relay_store_begin(f->s), SOTTO_OK);
	while ((rc = relay_store_msg_first(f->s, rid, m)) == SOTTO_OK) {
		assert_msg_is(m, n);
		assert_int_equal(relay_store_msg_delete(f->s, rid, m->msg_id), SOTTO_OK);
		n++;
	}
	assert_int_equal(rc, SOTTO_ERR_NOT_FOUND);
	relay_store_rollback(f->s);
	assert_int_equal(count, n);
	free(m);
	return n;
}

static void relay_store__keeps_reported_commits__sigkill(void **state)
{
	struct fixture *f = *state;
	struct relay_store_queue q;
	uint64_t rng = CRASH_SEED;
	uint64_t reported = 0;
	uint64_t present = 0;
	int n_mid_run = 0;

	open_with_queue(f, &q, 1);
	close_store(f);
	for (int round = 0; round < CRASH_ROUNDS; round++) {
		int fds[2];
		int status = 0;
		pid_t pid;
		uint64_t child_seed = xorshift(&rng);
		uint64_t n_wait = xorshift(&rng) % 6;
		struct timespec pause = {0, (long)(xorshift(&rng) % 4000000)};

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			crash_child(f->dir, q.rid, fds[1], child_seed);
		}
		close(fds[1]);
		/* Let the child commit a few times, then kill it at a random point after. */
		if (n_wait > 0)
			reported = read_reports(fds[0], n_wait, reported);
		nanosleep(&pause, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status)); /* killed, not a failure exit */
		reported = read_reports(fds[0], 0, reported);
		close(fds[0]);
		reopen(f);
		present = crash_verify(f, q.rid);
		close_store(f);
		/* Everything reported is there; at most one unreported transaction more. */
		assert_true(present >= reported);
		assert_true(present <= reported + CRASH_BATCH_MAX);
		n_mid_run += present > reported;
		reported = present;
	}
	assert_true(reported > CRASH_ROUNDS);
	print_message("crash: %d kills, %llu messages, %d kills after an unreported commit\n",
	              CRASH_ROUNDS, (unsigned long long)reported, n_mid_run);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(relay_store_new__private_files__fresh_dir, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                relay_store_new__applies_settings__default_and_custom_config, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                relay_store_new__tightens_modes__loose_dir_and_files, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                relay_store_sync__deferred__commit_then_sync_persists, setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_new__invalid__empty_or_overlong_dir,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                relay_store_new__io__dir_is_a_file_or_missing_parent, setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_new__io__database_is_a_symlink, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(relay_store_new__busy__already_open, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(relay_store_new__version__newer_schema, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(relay_store_new__corrupt__not_a_relay_store, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(relay_store_new__corrupt__garbage_file, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(relay_store_new__nomem__each_allocation, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(relay_store_begin__state__batch_already_open, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(relay_store_commit__state__no_batch, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(relay_store_commit__durable__close_and_reopen,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_rollback__discards__batch_seen_inside,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_free__rolls_back__open_batch, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(relay_store_queue_add__durable__outside_batch,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_commit__consistent__disk_full_mid_batch,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_queue_add__ok__found_by_rid_and_sid,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_queue_add__used__duplicate_rid_or_sid,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_queue_add__invalid__not_a_fresh_queue,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_queue_by_rid__not_found__unknown_ids,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_queue_secure__ok__then_state, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(relay_store_queue_secure__not_found__unknown_queue,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_queue_secure__wipes__ssk_priv_from_file,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                relay_store_queue_suspend__ok__from_active_and_secured, setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_queue_suspend__not_found__unknown_queue,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                relay_store_queue_delete__ok__takes_only_its_messages, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                relay_store_msg_add__ok__fifo_with_increasing_seq_and_after, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(relay_store_msg_add__ok__empty_and_maximal_bodies,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                relay_store_msg_add__errors__bad_arguments_and_duplicates, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                relay_store_msg_delete__not_found__wrong_id_or_queue, setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_msg_expire__bounded__oldest_first,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_stats__counts__queues_and_messages,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_queue_by_rid__corrupt__malformed_rows,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_queue_secure__corrupt__unknown_status,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_msg_first__corrupt__malformed_rows,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(relay_store_commit__log_synced__when_it_returns,
	                                        setup, spy_teardown),
	        cmocka_unit_test_setup_teardown(relay_store_commit__store_fails__fsync_error, setup,
	                                        spy_teardown),
	        cmocka_unit_test_setup_teardown(relay_store__keeps_reported_commits__sigkill, setup,
	                                        teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
