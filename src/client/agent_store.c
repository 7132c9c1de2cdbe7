/* SPDX-License-Identifier: MIT */
/*
 * agent_store.c - the agent's tables and sealed records (client layer);
 * docs/client.md "Profile database schema" is the reference.
 *
 * Every secret or personal value goes through store_seal with the tag
 * "<table>.<column>" and the row's id (8 bytes big-endian) as row key, so
 * a blob moved to another row or column does not open. Rows whose id is
 * only known after the INSERT get a placeholder first and their sealed
 * value by UPDATE, inside the caller's transaction. Plain columns hold
 * only ids, states, flags, directions, statuses and error codes.
 *
 * The records (contacts.info, messages.rec, outbox.rec) are encoded and
 * decoded by agent_rec.c, strictly: the database is untrusted input. The
 * other sealed columns:
 *
 *   contacts.hs     the 138-byte inviter state, or the 72-byte invitation
 *   contacts.ratchet the serialised session (docs/protocol.md §3.7)
 *   contacts.rcv    the last relay msg_id (24)
 *   relays.addr     the relay's text address, canonical
 *
 * messages.tag is BLAKE2b-128 keyed with a random key kept sealed in meta
 * ("agent.tag_key") over contact id (8) || dir (1) || message ID (16): it
 * lets a unique index find duplicates and receipts without storing the ID
 * in the clear.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "client/agent_int.h"
#include "core/bytes.h"
#include "core/ctx.h"
#include "core/err.h"
#include "crypto/hash.h"
#include "client/envelope.h"
#include "proto/handshake.h"
#include "proto/ratchet.h"

#define META_NAME    "agent.name"
#define META_TAG_KEY "agent.tag_key"

enum {
	ROW_LEN = 8,
	TAG_LEN = 16,
	TAG_KEY_LEN = 32,
	ADDR_TEXT_CAP = NET_ADDR_TEXT_MAX + 1,
};

static const char *const col_table[] = {"contacts.hs", "contacts.ratchet", "contacts.rcv"};
static const char *const col_name[] = {"hs", "ratchet", "rcv"};

/* ---- SQL helpers ---- */

/* Binds i64 values to parameters 1..n. */
static sotto_err bind_ids(sqlite3_stmt *st, const int64_t *v, int n)
{
	for (int i = 0; i < n; i++) {
		int rc = sqlite3_bind_int64(st, i + 1, v[i]);
		if (rc != SQLITE_OK)
			return store_db_err(rc);
	}
	return SOTTO_OK;
}

/* Prepares sql with v[0 .. n) bound to parameters 1..n; the caller finalizes *st. */
static sotto_err sql_prepare_ids(struct client_agent *a, const char *sql, const int64_t *v, int n,
                                 sqlite3_stmt **st)
{
	sotto_err rc = store_db_prepare(a->db, sql, st);

	return rc != SOTTO_OK ? rc : bind_ids(*st, v, n);
}

/* Steps st to its next row; SOTTO_ERR_NOT_FOUND when there is none. */
static sotto_err sql_row(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return SOTTO_OK;
	return rc == SQLITE_DONE ? SOTTO_ERR_NOT_FOUND : store_db_err(rc);
}

/*
 * Prepares the query sql with v[0 .. n) bound and steps it to its first row,
 * on which *st stays (the caller finalizes it, whatever the result).
 * SOTTO_ERR_NOT_FOUND when it has no row.
 */
static sotto_err sql_first(struct client_agent *a, const char *sql, const int64_t *v, int n,
                           sqlite3_stmt **st)
{
	sotto_err rc = sql_prepare_ids(a, sql, v, n, st);

	return rc != SOTTO_OK ? rc : sql_row(*st);
}

/* Runs sql, which returns no row, with v[0 .. n) bound to parameters 1..n. */
static sotto_err sql_run(struct client_agent *a, const char *sql, const int64_t *v, int n)
{
	sqlite3_stmt *st = NULL;
	sotto_err rc;

	if ((rc = sql_prepare_ids(a, sql, v, n, &st)) == SOTTO_OK)
		rc = store_db_step_done(st);
	sqlite3_finalize(st);
	return rc;
}

/* sql_run() for an INSERT; *id gets the new row's id (0 on failure). */
static sotto_err sql_insert(struct client_agent *a, const char *sql, const int64_t *v, int n,
                            int64_t *id)
{
	sotto_err rc = sql_run(a, sql, v, n);

	*id = rc == SOTTO_OK ? sqlite3_last_insert_rowid(a->sql) : 0;
	return rc;
}

/* Runs a one-row query with v[0 .. n) bound; *out gets its integer column 0. */
static sotto_err sql_int(struct client_agent *a, const char *sql, const int64_t *v, int n,
                         int64_t *out)
{
	sqlite3_stmt *st = NULL;
	sotto_err rc;

	*out = 0;
	if ((rc = sql_first(a, sql, v, n, &st)) == SOTTO_OK)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc;
}

sotto_err agent_tx_begin(struct client_agent *a)
{
	sotto_err rc;

	if (a->in_batch_op) {
		if (!a->in_batch) {
			if ((rc = store_db_exec(a->db, "BEGIN IMMEDIATE")) != SOTTO_OK)
				return rc;
			a->in_batch = true;
			(void)uv_check_start(&a->check, agent_on_check);
		}
		return store_db_exec(a->db, "SAVEPOINT rx");
	}
	if (a->in_batch)
		(void)agent_batch_commit(a);
	return store_db_exec(a->db, "BEGIN IMMEDIATE");
}

sotto_err agent_tx_commit(struct client_agent *a)
{
	sotto_err rc = store_db_exec(a->db, a->in_batch_op ? "RELEASE rx" : "COMMIT");

	if (rc != SOTTO_OK)
		agent_tx_rollback(a);
	return rc;
}

void agent_tx_rollback(struct client_agent *a)
{
	if (sqlite3_get_autocommit(a->sql))
		return;
	if (a->in_batch_op) {
		/* Only this delivery: the batch goes on. */
		if (sqlite3_exec(a->sql, "ROLLBACK TO rx", NULL, NULL, NULL) == SQLITE_OK)
			(void)sqlite3_exec(a->sql, "RELEASE rx", NULL, NULL, NULL);
		return;
	}
	(void)sqlite3_exec(a->sql, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- sealing ---- */

static void row_key(uint8_t out[static ROW_LEN], int64_t id)
{
	bytes_store_be64(out, (uint64_t)id);
}

/* Frees a buffer that may have held a secret. */
static void wipe_free(struct client_agent *a, uint8_t *p, size_t len)
{
	if (p == NULL)
		return;
	sodium_memzero(p, len);
	ctx_free(a->ctx, p);
}

/* Seals pt for (table, id) and binds it as parameter i. */
static sotto_err bind_sealed(struct client_agent *a, sqlite3_stmt *st, int i, const char *table,
                             int64_t id, const uint8_t *pt, size_t pt_len)
{
	uint8_t row[ROW_LEN];
	uint8_t *blob = NULL;
	size_t cap = store_blob_len(pt_len), blob_len = 0;
	sotto_err rc;
	int src;

	row_key(row, id);
	if ((blob = ctx_alloc(a->ctx, cap)) == NULL)
		return SOTTO_ERR_NOMEM;
	if ((rc = store_seal(a->db, table, row, sizeof(row), pt, pt_len, blob, cap, &blob_len)) !=
	    SOTTO_OK)
		goto out;
	/* SQLITE_TRANSIENT: SQLite copies the (sealed) bytes, so ours can go now. */
	src = sqlite3_bind_blob(st, i, blob, (int)blob_len, SQLITE_TRANSIENT);
	rc = src == SQLITE_OK ? SOTTO_OK : store_db_err(src);
out:
	ctx_free(a->ctx, blob);
	return rc;
}

/*
 * Opens column col of st's row, sealed for (table, id), into a new buffer
 * (*out, *len). SOTTO_ERR_NOT_FOUND when the column is NULL.
 */
static sotto_err open_col(struct client_agent *a, sqlite3_stmt *st, int col, const char *table,
                          int64_t id, uint8_t **out, size_t *len)
{
	uint8_t row[ROW_LEN];
	const uint8_t *blob;
	size_t blob_len, cap;
	uint8_t *buf = NULL;
	sotto_err rc;

	*out = NULL;
	*len = 0;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return SOTTO_ERR_NOT_FOUND;
	if (sqlite3_column_type(st, col) != SQLITE_BLOB)
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	blob = sqlite3_column_blob(st, col);
	blob_len = (size_t)sqlite3_column_bytes(st, col);
	if (blob == NULL || blob_len <= STORE_BLOB_OVERHEAD || blob_len > STORE_BLOB_MAX)
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	cap = blob_len - STORE_BLOB_OVERHEAD;
	if ((buf = ctx_alloc(a->ctx, cap)) == NULL)
		return SOTTO_ERR_NOMEM;
	row_key(row, id);
	if ((rc = store_open(a->db, table, row, sizeof(row), blob, blob_len, buf, cap, len)) !=
	    SOTTO_OK) {
		wipe_free(a, buf, cap);
		*len = 0;
		return rc;
	}
	*out = buf;
	return SOTTO_OK;
}

/*
 * Runs sql, an "UPDATE <t> SET <c> = ?2 WHERE id = ?1", with pt sealed for
 * (table, id) as the new value; pt NULL sets the column to NULL.
 */
static sotto_err sql_put_sealed(struct client_agent *a, const char *sql, const char *table,
                                int64_t id, const uint8_t *pt, size_t pt_len)
{
	sqlite3_stmt *st = NULL;
	sotto_err rc;
	int src;

	if ((rc = sql_prepare_ids(a, sql, &id, 1, &st)) != SOTTO_OK)
		goto out;
	if (pt != NULL)
		rc = bind_sealed(a, st, 2, table, id, pt, pt_len);
	else if ((src = sqlite3_bind_null(st, 2)) != SQLITE_OK)
		rc = store_db_err(src);
	if (rc == SOTTO_OK)
		rc = store_db_step_done(st);
out:
	sqlite3_finalize(st);
	return rc;
}

/* ---- meta ---- */

sotto_err agent_name_get(struct client_agent *a, char *out, size_t cap, size_t *len)
{
	uint8_t buf[CLIENT_NAME_MAX];
	size_t n = 0;
	sotto_err rc;

	*len = 0;
	if (cap > 0)
		out[0] = '\0';
	if ((rc = store_meta_get(a->db, META_NAME, buf, sizeof(buf), &n)) != SOTTO_OK)
		return rc == SOTTO_ERR_TOO_LARGE ? SOTTO_RAISE(SOTTO_ERR_CORRUPT) : rc;
	if (!client_name_is_valid(buf, n))
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	if (n >= cap)
		return SOTTO_ERR_TOO_LARGE;
	memcpy(out, buf, n);
	out[n] = '\0';
	*len = n;
	return SOTTO_OK;
}

sotto_err agent_name_put(struct client_agent *a, const char *name, size_t len)
{
	return store_meta_put(a->db, META_NAME, (const uint8_t *)name, len);
}

sotto_err agent_name_or_default(struct client_agent *a, char *out, size_t cap, size_t *len)
{
	sotto_err rc = agent_name_get(a, out, cap, len);
	size_t n = sizeof(CLIENT_AGENT_DEFAULT_NAME) - 1;

	if (rc != SOTTO_ERR_NOT_FOUND)
		return rc;
	if (n >= cap)
		return SOTTO_ERR_TOO_LARGE;
	memcpy(out, CLIENT_AGENT_DEFAULT_NAME, n + 1);
	*len = n;
	return SOTTO_OK;
}

sotto_err agent_tag_key_load(struct client_agent *a)
{
	uint8_t key[TAG_KEY_LEN];
	size_t n = 0;
	sotto_err rc;

	if ((rc = secbuf_new(a->ctx, TAG_KEY_LEN, &a->tag_key)) != SOTTO_OK)
		return rc;
	rc = store_meta_get(a->db, META_TAG_KEY, key, sizeof(key), &n);
	if (rc == SOTTO_ERR_NOT_FOUND) {
		ctx_random(a->ctx, key, sizeof(key));
		n = sizeof(key);
		rc = store_meta_put(a->db, META_TAG_KEY, key, sizeof(key));
	} else if (rc == SOTTO_OK && n != sizeof(key)) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	} else if (rc == SOTTO_ERR_TOO_LARGE) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	}
	if (rc == SOTTO_OK)
		memcpy(secbuf_data(a->tag_key), key, sizeof(key));
	sodium_memzero(key, sizeof(key));
	return rc;
}

/* ---- relays ---- */

/* Reads relay row st (id, addr) into *out. */
static sotto_err relay_row(struct client_agent *a, sqlite3_stmt *st, struct net_addr *out)
{
	int64_t id = sqlite3_column_int64(st, 0);
	uint8_t *text = NULL;
	size_t len = 0;
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = open_col(a, st, 1, "relays.addr", id, &text, &len)) != SOTTO_OK)
		return rc == SOTTO_ERR_NOT_FOUND ? SOTTO_RAISE(SOTTO_ERR_CORRUPT) : rc;
	if (net_addr_parse((const char *)text, len, out) != SOTTO_OK)
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	wipe_free(a, text, len);
	return rc;
}

static bool addr_equal(const struct net_addr *x, const struct net_addr *y)
{
	return memcmp(x->key, y->key, NET_ADDR_KEY_LEN) == 0 && x->port == y->port &&
	       strcmp(x->host, y->host) == 0;
}

/* The row id of addr in relays (0: none) and the number of rows. */
static sotto_err relays_find(struct client_agent *a, const struct net_addr *addr, int64_t *id,
                             size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct net_addr cur;
	sotto_err rc;
	int src;

	*id = 0;
	*n = 0;
	if ((rc = store_db_prepare(a->db, "SELECT id, addr FROM relays ORDER BY id", &st)) !=
	    SOTTO_OK)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = relay_row(a, st, &cur)) != SOTTO_OK)
			goto out;
		if (addr_equal(&cur, addr))
			*id = sqlite3_column_int64(st, 0);
		(*n)++;
	}
	rc = src == SQLITE_DONE ? SOTTO_OK : store_db_err(src);
out:
	sqlite3_finalize(st);
	return rc;
}

sotto_err agent_relays_add(struct client_agent *a, const struct net_addr *addr)
{
	char text[ADDR_TEXT_CAP];
	int64_t id = 0;
	size_t n = 0;
	sotto_err rc;

	if ((rc = net_addr_format(addr, text, sizeof(text))) != SOTTO_OK)
		return rc;
	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		return rc;
	if ((rc = relays_find(a, addr, &id, &n)) != SOTTO_OK)
		goto out;
	if (id != 0) {
		rc = SOTTO_ERR_USED;
		goto out;
	}
	if (n >= CLIENT_AGENT_RELAYS_MAX) {
		rc = SOTTO_ERR_BUSY;
		goto out;
	}
	if ((rc = sql_insert(a, "INSERT INTO relays(addr) VALUES (x'')", NULL, 0, &id)) !=
	            SOTTO_OK ||
	    (rc = sql_put_sealed(a, "UPDATE relays SET addr = ?2 WHERE id = ?1", "relays.addr", id,
	                         (const uint8_t *)text, strlen(text))) != SOTTO_OK)
		goto out;
	rc = agent_tx_commit(a);
out:
	if (rc != SOTTO_OK)
		agent_tx_rollback(a);
	return rc;
}

sotto_err agent_relays_remove(struct client_agent *a, const struct net_addr *addr)
{
	int64_t id = 0;
	size_t n = 0;
	sotto_err rc;

	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		return rc;
	if ((rc = relays_find(a, addr, &id, &n)) != SOTTO_OK)
		goto out;
	if (id == 0) {
		rc = SOTTO_ERR_NOT_FOUND;
		goto out;
	}
	if ((rc = sql_run(a, "DELETE FROM relays WHERE id = ?1", &id, 1)) != SOTTO_OK)
		goto out;
	rc = agent_tx_commit(a);
out:
	if (rc != SOTTO_OK)
		agent_tx_rollback(a);
	return rc;
}

sotto_err agent_relays_list(struct client_agent *a, client_agent_relay_fn *fn, void *user)
{
	char text[ADDR_TEXT_CAP];
	sqlite3_stmt *st = NULL;
	struct net_addr addr;
	sotto_err rc;
	int src;

	if ((rc = store_db_prepare(a->db, "SELECT id, addr FROM relays ORDER BY id", &st)) !=
	    SOTTO_OK)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = relay_row(a, st, &addr)) != SOTTO_OK ||
		    (rc = net_addr_format(&addr, text, sizeof(text))) != SOTTO_OK)
			goto out;
		fn(user, text);
	}
	rc = src == SQLITE_DONE ? SOTTO_OK : store_db_err(src);
out:
	sqlite3_finalize(st);
	return rc;
}

/* A uniform random index below n (n >= 1), by rejection. */
static size_t random_below(struct client_agent *a, size_t n)
{
	uint32_t limit = UINT32_MAX - (uint32_t)(((uint64_t)UINT32_MAX + 1) % n);
	uint8_t b[4];
	uint32_t v;

	do {
		ctx_random(a->ctx, b, sizeof(b));
		v = bytes_load_be32(b);
	} while (v > limit);
	return v % n;
}

sotto_err agent_relays_pick(struct client_agent *a, struct net_addr *out)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0, pick;
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = sql_int(a, "SELECT count(*) FROM relays", NULL, 0, &n)) != SOTTO_OK)
		return rc;
	if (n <= 0)
		return SOTTO_ERR_NOT_FOUND;
	pick = (int64_t)random_below(a, (size_t)n);
	if ((rc = sql_first(a, "SELECT id, addr FROM relays ORDER BY id LIMIT 1 OFFSET ?1", &pick,
	                    1, &st)) == SOTTO_OK)
		rc = relay_row(a, st, out);
	sqlite3_finalize(st);
	return rc;
}

/* ---- contacts.info ---- */

sotto_err agent_contact_insert(struct client_agent *a, uint8_t state, uint32_t flags, int64_t *id)
{
	int64_t v[2] = {state, flags};

	return sql_insert(a, "INSERT INTO contacts(state, flags, info) VALUES (?1, ?2, x'')", v, 2,
	                  id);
}

sotto_err agent_info_save(struct client_agent *a, int64_t id, const struct agent_info *info)
{
	uint8_t buf[AGENT_REC_INFO_MAX];
	size_t len = 0;
	sotto_err rc;

	if ((rc = agent_rec_info_encode(info, buf, sizeof(buf), &len)) == SOTTO_OK &&
	    (rc = sql_put_sealed(a, "UPDATE contacts SET info = ?2 WHERE id = ?1", "contacts.info",
	                         id, buf, len)) == SOTTO_OK &&
	    sqlite3_changes(a->sql) != 1)
		rc = SOTTO_ERR_NOT_FOUND;
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

/* Decodes the info column (col) of st's row id. */
static sotto_err info_from_row(struct client_agent *a, sqlite3_stmt *st, int col, int64_t id,
                               struct agent_info *info)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	sotto_err rc;

	if ((rc = open_col(a, st, col, "contacts.info", id, &buf, &len)) != SOTTO_OK)
		return rc == SOTTO_ERR_NOT_FOUND ? SOTTO_RAISE(SOTTO_ERR_CORRUPT) : rc;
	rc = agent_rec_info_decode(buf, len, info);
	wipe_free(a, buf, len);
	return rc;
}

sotto_err agent_info_load(struct client_agent *a, int64_t id, struct agent_info *info)
{
	sqlite3_stmt *st = NULL;
	sotto_err rc;

	memset(info, 0, sizeof(*info));
	if ((rc = sql_first(a, "SELECT info FROM contacts WHERE id = ?1", &id, 1, &st)) == SOTTO_OK)
		rc = info_from_row(a, st, 0, id, info);
	sqlite3_finalize(st);
	return rc;
}

sotto_err agent_contact_set(struct client_agent *a, int64_t id, uint8_t state, uint32_t flags)
{
	int64_t v[3] = {id, state, flags};

	return sql_run(a, "UPDATE contacts SET state = ?2, flags = ?3 WHERE id = ?1", v, 3);
}

sotto_err agent_contact_remove(struct client_agent *a, int64_t id)
{
	return sql_run(a, "DELETE FROM contacts WHERE id = ?1", &id, 1);
}

sotto_err agent_col_get(struct client_agent *a, int64_t id, enum agent_col col, uint8_t **out,
                        size_t *len)
{
	char sql[64];
	sqlite3_stmt *st = NULL;
	sotto_err rc;

	*out = NULL;
	*len = 0;
	snprintf(sql, sizeof(sql), "SELECT %s FROM contacts WHERE id = ?1", col_name[col]);
	if ((rc = sql_first(a, sql, &id, 1, &st)) == SOTTO_OK)
		rc = open_col(a, st, 0, col_table[col], id, out, len);
	sqlite3_finalize(st);
	return rc;
}

sotto_err agent_col_put(struct client_agent *a, int64_t id, enum agent_col col, const uint8_t *data,
                        size_t len)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "UPDATE contacts SET %s = ?2 WHERE id = ?1", col_name[col]);
	return sql_put_sealed(a, sql, col_table[col], id, data, len);
}

sotto_err agent_ratchet_load(struct client_agent *a, int64_t id, struct ratchet **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	sotto_err rc;

	*out = NULL;
	if ((rc = agent_col_get(a, id, AGENT_COL_RATCHET, &buf, &len)) != SOTTO_OK)
		return rc == SOTTO_ERR_NOT_FOUND ? SOTTO_ERR_STATE : rc;
	rc = ratchet_deserialize(a->ctx, buf, len, out);
	wipe_free(a, buf, len);
	return rc;
}

sotto_err agent_ratchet_save(struct client_agent *a, int64_t id, const struct ratchet *r)
{
	size_t cap = ratchet_serialized_len(r), len = 0;
	uint8_t *buf = NULL;
	sotto_err rc;

	if ((buf = ctx_alloc(a->ctx, cap)) == NULL)
		return SOTTO_ERR_NOMEM;
	if ((rc = ratchet_serialize(r, buf, cap, &len)) == SOTTO_OK)
		rc = agent_col_put(a, id, AGENT_COL_RATCHET, buf, len);
	wipe_free(a, buf, cap);
	return rc;
}

sotto_err agent_contacts_load(struct client_agent *a, agent_row_fn *fn)
{
	sqlite3_stmt *st = NULL;
	struct agent_info info;
	sotto_err rc;
	int src;

	memset(&info, 0, sizeof(info));
	if ((rc = store_db_prepare(a->db, "SELECT id, state, flags, info FROM contacts ORDER BY id",
	                           &st)) != SOTTO_OK)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		int64_t state = sqlite3_column_int64(st, 1);
		int64_t flags = sqlite3_column_int64(st, 2);
		if (state < CLIENT_AGENT_INVITING || state > CLIENT_AGENT_DELETED || flags < 0 ||
		    (flags & ~(int64_t)AGENT_F_KNOWN) != 0) {
			rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
			goto out;
		}
		if ((rc = info_from_row(a, st, 3, id, &info)) != SOTTO_OK ||
		    (rc = fn(a, id, (uint8_t)state, (uint32_t)flags, &info)) != SOTTO_OK)
			goto out;
		agent_info_clear(&info);
	}
	rc = src == SQLITE_DONE ? SOTTO_OK : store_db_err(src);
out:
	agent_info_clear(&info);
	sqlite3_finalize(st);
	return rc;
}

/* ---- messages ---- */

sotto_err agent_msg_tag(struct client_agent *a, int64_t contact, uint8_t dir,
                        const uint8_t msg_id[static CLIENT_MSG_ID_LEN], uint8_t tag[static TAG_LEN])
{
	uint8_t in[8 + 1 + CLIENT_MSG_ID_LEN];

	bytes_store_be64(in, (uint64_t)contact);
	in[8] = dir;
	memcpy(in + 9, msg_id, CLIENT_MSG_ID_LEN);
	return blake2b(tag, TAG_LEN, in, sizeof(in), secbuf_data(a->tag_key), TAG_KEY_LEN);
}

/*
 * Prepares sql with v[0 .. n) bound to parameters 1..n and, as parameter
 * n + 1, the tag of (v[0], v[1], msg_id): v starts with the contact and the
 * direction. The caller finalizes *st.
 */
static sotto_err sql_prepare_tagged(struct client_agent *a, const char *sql, const int64_t *v,
                                    int n, const uint8_t msg_id[static CLIENT_MSG_ID_LEN],
                                    sqlite3_stmt **st)
{
	uint8_t tag[TAG_LEN];
	sotto_err rc;
	int src;

	*st = NULL;
	if ((rc = agent_msg_tag(a, v[0], (uint8_t)v[1], msg_id, tag)) != SOTTO_OK ||
	    (rc = sql_prepare_ids(a, sql, v, n, st)) != SOTTO_OK)
		return rc;
	/* SQLITE_TRANSIENT: SQLite keeps a copy, as tag dies with this frame. */
	src = sqlite3_bind_blob(*st, n + 1, tag, sizeof(tag), SQLITE_TRANSIENT);
	return src == SQLITE_OK ? SOTTO_OK : store_db_err(src);
}

sotto_err agent_msg_add(struct client_agent *a, int64_t contact, uint8_t dir, uint8_t status,
                        bool rcpt, const uint8_t msg_id[static CLIENT_MSG_ID_LEN],
                        uint64_t sent_at_ms, uint64_t time_ms, const uint8_t *text, size_t text_len,
                        int64_t *id)
{
	int64_t v[5] = {contact, dir, status, SOTTO_OK, rcpt ? 1 : 0};
	struct agent_rec_msg m = {
	        .sent_at_ms = sent_at_ms, .time_ms = time_ms, .text = text, .text_len = text_len};
	uint8_t *rec = NULL;
	size_t rec_len = 0;
	sqlite3_stmt *st = NULL;
	sotto_err rc;

	*id = 0;
	if ((rc = sql_prepare_tagged(a,
	                             "INSERT INTO messages(contact, dir, status, reason, rcpt,"
	                             " tag, rec) VALUES (?1, ?2, ?3, ?4, ?5, ?6, x'')",
	                             v, 5, msg_id, &st)) != SOTTO_OK ||
	    (rc = store_db_step_done(st)) != SOTTO_OK)
		goto out; /* SOTTO_ERR_USED: the unique tag, a duplicate */
	*id = sqlite3_last_insert_rowid(a->sql);
	sqlite3_finalize(st);
	st = NULL;
	if ((rec = ctx_alloc(a->ctx, AGENT_REC_MSG_MAX)) == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	memcpy(m.msg_id, msg_id, CLIENT_MSG_ID_LEN);
	if ((rc = agent_rec_msg_encode(&m, rec, AGENT_REC_MSG_MAX, &rec_len)) != SOTTO_OK)
		goto out;
	rc = sql_put_sealed(a, "UPDATE messages SET rec = ?2 WHERE id = ?1", "messages.rec", *id,
	                    rec, rec_len);
out:
	sqlite3_finalize(st);
	wipe_free(a, rec, AGENT_REC_MSG_MAX);
	if (rc != SOTTO_OK)
		*id = 0;
	return rc;
}

sotto_err agent_msg_find(struct client_agent *a, int64_t contact, uint8_t dir,
                         const uint8_t msg_id[static CLIENT_MSG_ID_LEN], int64_t *id,
                         uint8_t *status)
{
	int64_t v[2] = {contact, dir};
	sqlite3_stmt *st = NULL;
	sotto_err rc;

	*id = 0;
	*status = 0;
	if ((rc = sql_prepare_tagged(a,
	                             "SELECT id, status FROM messages"
	                             " WHERE contact = ?1 AND dir = ?2 AND tag = ?3",
	                             v, 2, msg_id, &st)) == SOTTO_OK &&
	    (rc = sql_row(st)) == SOTTO_OK) {
		*id = sqlite3_column_int64(st, 0);
		*status = (uint8_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc;
}

sotto_err agent_msg_advance(struct client_agent *a, int64_t id, uint8_t status, sotto_err reason,
                            bool *changed)
{
	int64_t v[3] = {id, status, reason};
	sotto_err rc;

	if (changed != NULL)
		*changed = false;
	rc = sql_run(a,
	             "UPDATE messages SET status = ?2, reason = ?3 WHERE id = ?1"
	             " AND status IN (1, 2) AND status < ?2",
	             v, 3);
	if (rc == SOTTO_OK && changed != NULL)
		*changed = sqlite3_changes(a->sql) > 0;
	return rc;
}

sotto_err agent_msg_count_receipts(struct client_agent *a, int64_t contact, size_t max, size_t *n)
{
	int64_t v[2] = {contact, (int64_t)max};
	int64_t count = 0;
	sotto_err rc;

	rc = sql_int(a,
	             "SELECT count(*) FROM (SELECT 1 FROM messages"
	             " WHERE contact = ?1 AND rcpt = 1 LIMIT ?2)",
	             v, 2, &count);
	*n = (size_t)count;
	return rc;
}

sotto_err agent_msg_take_receipts(struct client_agent *a, int64_t contact,
                                  uint8_t ids[][CLIENT_MSG_ID_LEN], size_t max, size_t *n)
{
	int64_t v[2] = {contact, (int64_t)max};
	sqlite3_stmt *st = NULL, *up = NULL;
	struct agent_rec_msg m;
	uint8_t *rec = NULL;
	size_t rec_len = 0;
	sotto_err rc;
	int src;

	*n = 0;
	if ((rc = sql_prepare_ids(a,
	                          "SELECT id, rec FROM messages WHERE contact = ?1 AND rcpt = 1"
	                          " ORDER BY id LIMIT ?2",
	                          v, 2, &st)) != SOTTO_OK ||
	    (rc = store_db_prepare(a->db, "UPDATE messages SET rcpt = 0 WHERE id = ?1", &up)) !=
	            SOTTO_OK)
		goto out;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if ((rc = open_col(a, st, 1, "messages.rec", id, &rec, &rec_len)) != SOTTO_OK ||
		    (rc = agent_rec_msg_decode(rec, rec_len, &m)) != SOTTO_OK)
			goto out;
		memcpy(ids[*n], m.msg_id, CLIENT_MSG_ID_LEN);
		wipe_free(a, rec, rec_len);
		rec = NULL;
		if ((rc = bind_ids(up, &id, 1)) != SOTTO_OK ||
		    (rc = store_db_step_done(up)) != SOTTO_OK)
			goto out;
		sqlite3_reset(up);
		(*n)++;
	}
	rc = src == SQLITE_DONE ? SOTTO_OK : store_db_err(src);
out:
	wipe_free(a, rec, rec_len);
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	return rc;
}

sotto_err agent_msg_purge(struct client_agent *a, int64_t contact)
{
	return sql_run(a, "DELETE FROM messages WHERE contact = ?1", &contact, 1);
}

sotto_err agent_msg_list(struct client_agent *a, int64_t contact, int64_t before, size_t limit,
                         client_agent_msg_fn *fn, void *user)
{
	int64_t v[3] = {contact, before > 0 ? before : INT64_MAX, (int64_t)limit};
	struct agent_rec_msg r;
	struct client_agent_msg m;
	sqlite3_stmt *st = NULL;
	uint8_t *rec = NULL;
	size_t rec_len = 0;
	sotto_err rc;
	int src;

	if ((rc = sql_prepare_ids(a,
	                          "SELECT id, dir, status, reason, rec FROM"
	                          " (SELECT * FROM messages WHERE contact = ?1 AND id < ?2"
	                          " ORDER BY id DESC LIMIT ?3) ORDER BY id",
	                          v, 3, &st)) != SOTTO_OK)
		goto out;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&m, 0, sizeof(m));
		m.id = sqlite3_column_int64(st, 0);
		m.contact_id = contact;
		m.dir = (enum client_agent_dir)sqlite3_column_int64(st, 1);
		m.status = (enum client_agent_msg_status)sqlite3_column_int64(st, 2);
		m.reason = (sotto_err)sqlite3_column_int64(st, 3);
		if ((rc = open_col(a, st, 4, "messages.rec", m.id, &rec, &rec_len)) != SOTTO_OK ||
		    (rc = agent_rec_msg_decode(rec, rec_len, &r)) != SOTTO_OK)
			goto out;
		m.sent_at_ms = r.sent_at_ms;
		m.time_ms = r.time_ms;
		m.text = r.text;
		m.text_len = r.text_len;
		fn(user, &m);
		wipe_free(a, rec, rec_len);
		rec = NULL;
	}
	rc = src == SQLITE_DONE ? SOTTO_OK : store_db_err(src);
out:
	wipe_free(a, rec, rec_len);
	sqlite3_finalize(st);
	return rc;
}

sotto_err agent_msg_envelope_id(struct client_agent *a, int64_t id,
                                uint8_t out[static CLIENT_MSG_ID_LEN])
{
	struct agent_rec_msg m;
	sqlite3_stmt *st = NULL;
	uint8_t *rec = NULL;
	size_t rec_len = 0;
	sotto_err rc;

	memset(out, 0, CLIENT_MSG_ID_LEN);
	if ((rc = sql_first(a, "SELECT rec FROM messages WHERE id = ?1", &id, 1, &st)) != SOTTO_OK)
		goto out;
	if ((rc = open_col(a, st, 0, "messages.rec", id, &rec, &rec_len)) == SOTTO_OK &&
	    (rc = agent_rec_msg_decode(rec, rec_len, &m)) == SOTTO_OK)
		memcpy(out, m.msg_id, CLIENT_MSG_ID_LEN);
out:
	wipe_free(a, rec, rec_len);
	sqlite3_finalize(st);
	return rc;
}

/* ---- outbox ---- */

/* Inserts an outbox row for (contact, msg) and seals the record o into it. */
static sotto_err outbox_put(struct client_agent *a, int64_t contact, int64_t msg,
                            const struct agent_rec_outbox *o)
{
	int64_t v[2] = {contact, msg};
	size_t cap = agent_rec_outbox_len(o), rec_len = 0;
	uint8_t *rec = NULL;
	int64_t id = 0;
	sotto_err rc;

	if (cap == 0)
		return SOTTO_ERR_TOO_LARGE;
	/* msg 0 (an envelope that is not one of our messages) is stored as NULL. */
	if ((rc = sql_insert(a,
	                     "INSERT INTO outbox(contact, msg, rec)"
	                     " VALUES (?1, nullif(?2, 0), x'')",
	                     v, 2, &id)) != SOTTO_OK)
		return rc;
	if ((rec = ctx_alloc(a->ctx, cap)) == NULL)
		return SOTTO_ERR_NOMEM;
	if ((rc = agent_rec_outbox_encode(o, rec, cap, &rec_len)) == SOTTO_OK)
		rc = sql_put_sealed(a, "UPDATE outbox SET rec = ?2 WHERE id = ?1", "outbox.rec", id,
		                    rec, rec_len);
	wipe_free(a, rec, cap);
	return rc;
}

sotto_err agent_outbox_add(struct client_agent *a, int64_t contact, int64_t msg, uint8_t kind,
                           const uint8_t *body, size_t body_len)
{
	const struct agent_rec_outbox o = {.kind = kind, .body = body, .body_len = body_len};

	return outbox_put(a, contact, msg, &o);
}

/* The SEND body of a decoded record into body (cap bytes). */
static sotto_err outbox_rec_body(struct client_agent *a, const struct agent_rec_outbox *o,
                                 uint8_t *body, size_t cap, size_t *body_len)
{
	struct ratchet_pending p;
	size_t padded_len, n = 0;
	uint8_t *pt = NULL;
	sotto_err rc;

	*body_len = 0;
	if (!o->is_pending) {
		if (o->body_len > cap)
			return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		memcpy(body, o->body, o->body_len);
		*body_len = o->body_len;
		return SOTTO_OK;
	}
	padded_len = client_envelope_padded_len(o->hello_len);
	if (padded_len == 0 || o->env_len >= padded_len || o->hello_len > cap)
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	if ((pt = ctx_alloc(a->ctx, padded_len)) == NULL)
		return SOTTO_ERR_NOMEM;
	memcpy(pt, o->env, o->env_len);
	memcpy(p.prefix, o->prefix, RATCHET_PREFIX_LEN);
	memcpy(p.mk, o->mk, PROTO_KEY_LEN);
	memcpy(p.ad, o->ad, PROTO_AD_LEN);
	if ((rc = client_envelope_pad(pt, o->env_len, padded_len)) != SOTTO_OK)
		goto out;
	memcpy(body, o->hello, o->hello_len);
	if ((rc = ratchet_encrypt_finish(&p, pt, padded_len, body + o->hello_len,
	                                 cap - o->hello_len, &n)) != SOTTO_OK)
		goto out;
	*body_len = o->hello_len + n;
out:
	ratchet_pending_clear(&p);
	wipe_free(a, pt, padded_len);
	return rc;
}

sotto_err agent_outbox_add_pending(struct client_agent *a, int64_t contact, int64_t msg,
                                   uint8_t kind, const uint8_t *hello, size_t hello_len,
                                   const struct ratchet_pending *p, const uint8_t *env,
                                   size_t env_len)
{
	const struct agent_rec_outbox o = {.kind = kind,
	                                   .is_pending = true,
	                                   .hello = hello,
	                                   .hello_len = hello_len,
	                                   .prefix = p->prefix,
	                                   .mk = p->mk,
	                                   .ad = p->ad,
	                                   .env = env,
	                                   .env_len = env_len};

	if (hello_len > AGENT_REC_HELLO_MAX || env_len > CLIENT_ENVELOPE_MAX ||
	    env_len >= client_envelope_padded_len(hello_len))
		return SOTTO_ERR_TOO_LARGE;
	return outbox_put(a, contact, msg, &o);
}

sotto_err agent_outbox_next(struct client_agent *a, int64_t contact, int64_t after, int64_t *id,
                            uint8_t *kind, uint8_t *body, size_t cap, size_t *body_len,
                            int64_t *msg)
{
	const int64_t v[2] = {contact, after};
	struct agent_rec_outbox o;
	sqlite3_stmt *st = NULL;
	uint8_t *rec = NULL;
	size_t rec_len = 0;
	sotto_err rc;

	*id = 0;
	*kind = 0;
	*body_len = 0;
	*msg = 0;
	if ((rc = sql_first(a,
	                    "SELECT id, msg, rec FROM outbox WHERE contact = ?1 AND id > ?2"
	                    " ORDER BY id LIMIT 1",
	                    v, 2, &st)) != SOTTO_OK)
		goto out;
	*id = sqlite3_column_int64(st, 0);
	*msg = sqlite3_column_type(st, 1) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 1);
	if ((rc = open_col(a, st, 2, "outbox.rec", *id, &rec, &rec_len)) != SOTTO_OK ||
	    (rc = agent_rec_outbox_decode(rec, rec_len, &o)) != SOTTO_OK ||
	    (rc = outbox_rec_body(a, &o, body, cap, body_len)) != SOTTO_OK)
		goto out;
	*kind = o.kind;
out:
	wipe_free(a, rec, rec_len);
	sqlite3_finalize(st);
	return rc;
}

sotto_err agent_outbox_remove(struct client_agent *a, int64_t id)
{
	return sql_run(a, "DELETE FROM outbox WHERE id = ?1", &id, 1);
}

sotto_err agent_outbox_count(struct client_agent *a, int64_t contact, size_t *n)
{
	int64_t count = 0;
	sotto_err rc =
	        sql_int(a, "SELECT count(*) FROM outbox WHERE contact = ?1", &contact, 1, &count);

	*n = (size_t)count;
	return rc;
}

sotto_err agent_outbox_drop(struct client_agent *a, int64_t contact, int64_t keep_to, uint32_t keep,
                            sotto_err reason, int64_t *msgs, size_t max, size_t *n_msgs)
{
	sqlite3_stmt *st = NULL;
	struct agent_rec_outbox o;
	uint8_t *rec = NULL;
	size_t rec_len = 0;
	uint8_t kind = 0;
	sotto_err rc;
	int src;

	*n_msgs = 0;
	if ((rc = sql_prepare_ids(a,
	                          "SELECT id, msg, rec FROM outbox WHERE contact = ?1 ORDER BY id",
	                          &contact, 1, &st)) != SOTTO_OK)
		goto out;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		int64_t msg =
		        sqlite3_column_type(st, 1) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 1);
		if ((rc = open_col(a, st, 2, "outbox.rec", id, &rec, &rec_len)) != SOTTO_OK ||
		    (rc = agent_rec_outbox_decode(rec, rec_len, &o)) != SOTTO_OK)
			goto out;
		kind = o.kind;
		wipe_free(a, rec, rec_len);
		rec = NULL;
		if (id <= keep_to || (keep & (1u << kind)) != 0)
			continue;
		if ((rc = agent_outbox_remove(a, id)) != SOTTO_OK)
			goto out;
		if (msg == 0)
			continue;
		if ((rc = agent_msg_advance(a, msg, CLIENT_AGENT_FAILED, reason, NULL)) != SOTTO_OK)
			goto out;
		if (*n_msgs < max)
			msgs[*n_msgs] = msg;
		(*n_msgs)++;
	}
	rc = src == SQLITE_DONE ? SOTTO_OK : store_db_err(src);
out:
	wipe_free(a, rec, rec_len);
	sqlite3_finalize(st);
	return rc;
}
