/* SPDX-License-Identifier: MIT */
/*
 * core_test.c - the relay core without I/O: a real SQLite store in a fresh
 * temporary directory, clients whose output callbacks capture every block,
 * commands built with the codec's client-side encoders, a manual ctx clock
 * (rate limit) and a manual wall clock (timestamps, expiry). Covers every
 * command's success and error paths, the sameness of AUTH, session binding,
 * quota, rate limit, subscription takeover and redelivery, per-queue
 * re-encryption, group commit (including a commit that really fails: the
 * process file-size limit makes SQLite's write-ahead log unwritable) and
 * expiry.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/x25519.h"
#include "relay/cmd.h"
#include "relay/core.h"
#include "relay/store.h"
#include "test_util.h"

enum {
	N_PEERS = 3,
	MAX_BLOCKS = 256,
	MAX_RESPS = 1200,
	WALL_START_S = 1700000000,
};

struct fixture;

/* One transport connection as the core sees it, with everything it received. */
struct peer {
	struct fixture *f;
	struct relay_client *client;
	uint8_t session_id[RELAY_SESSION_ID_LEN];
	uint8_t *blocks[MAX_BLOCKS]; /* malloc'd copies of the emitted contents */
	size_t n_blocks;
	struct relay_resp resps[MAX_RESPS]; /* parsed from blocks, in order */
	size_t n_resps;
	sotto_err output_rc; /* what the output callback returns */
	size_t busy_after;   /* nonzero: blocks past this many are refused with BUSY */
};

struct fixture {
	char dir[64];
	char store_dir[96];
	struct tu_alloc alloc;
	struct tu_rng rng;
	uint64_t clock_ms; /* ctx clock */
	uint64_t wall_s;   /* the core's wall clock */
	sotto_ctx *ctx;
	struct relay_store *store;
	struct relay_core *core;
	struct peer peers[N_PEERS];
};

/* A queue as its recipient and sender know it. */
struct tq {
	uint8_t rid[RELAY_ID_LEN];
	uint8_t sid[RELAY_ID_LEN];
	struct x25519_keypair rk, sk;
	uint8_t k_rauth[RELAY_KEY_LEN];
	uint8_t k_deliver[RELAY_KEY_LEN];
	uint8_t k_sauth[RELAY_KEY_LEN];
};

static sotto_err peer_output(void *user, const uint8_t *content, size_t len)
{
	struct peer *p = user;
	struct relay_batch batch;

	if (p->busy_after != 0 && p->n_blocks >= p->busy_after)
		return SOTTO_ERR_BUSY; /* nothing taken */

	assert_true(p->n_blocks < MAX_BLOCKS);
	assert_true(len >= 1 && len <= RELAY_BLOCK_CONTENT_MAX);
	p->blocks[p->n_blocks] = malloc(len);
	assert_non_null(p->blocks[p->n_blocks]);
	memcpy(p->blocks[p->n_blocks], content, len);
	assert_int_equal(relay_batch_parse(&batch, p->blocks[p->n_blocks], len), SOTTO_OK);
	for (size_t i = 0; i < batch.n_tx; i++) {
		assert_true(p->n_resps < MAX_RESPS);
		assert_int_equal(
		        relay_resp_parse(&p->resps[p->n_resps++], batch.tx[i].buf, batch.tx[i].len),
		        SOTTO_OK);
	}
	p->n_blocks++;
	return p->output_rc;
}

static void peer_reset(struct peer *p)
{
	for (size_t i = 0; i < p->n_blocks; i++)
		free(p->blocks[i]);
	p->n_blocks = 0;
	p->n_resps = 0;
}

static void peer_attach(struct fixture *f, struct peer *p)
{
	p->f = f;
	p->output_rc = SOTTO_OK;
	p->busy_after = 0;
	tu_rng_fill(&f->rng, p->session_id, sizeof(p->session_id));
	assert_int_equal(relay_client_new(f->core, p->session_id, peer_output, p, &p->client),
	                 SOTTO_OK);
}

static void fx_core(struct fixture *f, const struct relay_core_config *cfg)
{
	struct relay_core_config c = {0};

	if (cfg != NULL)
		c = *cfg;
	c.wall_clock = tu_clock_read;
	c.wall_clock_user = &f->wall_s;
	assert_int_equal(relay_core_new(f->ctx, f->store, &c, &f->core), SOTTO_OK);
	for (unsigned i = 0; i < N_PEERS; i++)
		peer_attach(f, &f->peers[i]);
}

/* Replaces the core (and its clients) by one made with cfg. */
static void fx_reconfigure(struct fixture *f, const struct relay_core_config *cfg)
{
	for (unsigned i = 0; i < N_PEERS; i++)
		peer_reset(&f->peers[i]);
	relay_core_free(f->core);
	f->core = NULL;
	fx_core(f, cfg);
}

static int fx_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/sotto-core-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->store_dir, sizeof(f->store_dir), "%s/relay", f->dir);
	tu_rng_init(&f->rng, 7);
	f->clock_ms = 1000;
	f->wall_s = WALL_START_S;
	f->ctx = tu_ctx(&f->alloc, &f->rng, &f->clock_ms);
	assert_int_equal(relay_store_new(f->ctx, f->store_dir, NULL, &f->store), SOTTO_OK);
	fx_core(f, NULL);
	*state = f;
	return 0;
}

static void remove_store_files(const struct fixture *f)
{
	static const char *const names[] = {"relay.db", "relay.db-wal", "relay.db-shm",
	                                    "relay.db-journal"};
	char path[160];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->store_dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(f->store_dir);
	(void)rmdir(f->dir);
}

static int fx_teardown(void **state)
{
	struct fixture *f = *state;

	for (unsigned i = 0; i < N_PEERS; i++)
		peer_reset(&f->peers[i]);
	relay_core_free(f->core);
	relay_store_free(f->store);
	sotto_ctx_free(f->ctx);
	assert_int_equal(f->alloc.n_live, 0);
	remove_store_files(f);
	free(f);
	return 0;
}

/* ---- client side ---- */

/* Encodes cmds (each MAC'd under keys[i] unless NULL) into one batch and feeds it to p. */
/* Feeds cmds to p's client in one block; what relay_client_feed returned. */
static sotto_err feed_cmds_rc(struct peer *p, const struct relay_cmd *cmds,
                              const uint8_t *const *keys, size_t n)
{
	uint8_t buf[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw;
	size_t cap, len;

	relay_batch_writer_init(&bw, buf);
	for (size_t i = 0; i < n; i++) {
		uint8_t *slot = relay_batch_writer_slot(&bw, &cap);
		const uint8_t *key = keys != NULL ? keys[i] : NULL;
		assert_non_null(slot);
		assert_int_equal(relay_cmd_encode(slot, cap, &len, &cmds[i], key,
		                                  key != NULL ? p->session_id : NULL),
		                 SOTTO_OK);
		assert_int_equal(relay_batch_writer_commit(&bw, len), SOTTO_OK);
	}
	assert_int_equal(relay_batch_writer_finish(&bw, &len), SOTTO_OK);
	return relay_client_feed(p->client, buf, len);
}

static void feed_cmds(struct peer *p, const struct relay_cmd *cmds, const uint8_t *const *keys,
                      size_t n)
{
	assert_int_equal(feed_cmds_rc(p, cmds, keys, n), SOTTO_OK);
}

static void feed_one(struct peer *p, const struct relay_cmd *cmd, const uint8_t *key)
{
	const uint8_t *keys[1] = {key};
	feed_cmds(p, cmd, keys, 1);
}

static void flush_ok(struct fixture *f)
{
	assert_int_equal(relay_core_flush(f->core), SOTTO_OK);
}

/* One command, flushed: the first answer p gets (p is reset first). */
static const struct relay_resp *roundtrip(struct peer *p, const struct relay_cmd *cmd,
                                          const uint8_t *key)
{
	peer_reset(p);
	feed_one(p, cmd, key);
	flush_ok(p->f);
	assert_true(p->n_resps >= 1);
	return &p->resps[0];
}

static void expect_resp(const struct relay_resp *r, enum relay_resp_code code, uint32_t corr,
                        const uint8_t *entity)
{
	static const uint8_t zero[RELAY_ID_LEN];

	assert_int_equal(r->code, code);
	assert_int_equal(r->corr, corr);
	assert_memory_equal(r->entity, entity != NULL ? entity : zero, RELAY_ID_LEN);
}

static void expect_err(const struct relay_resp *r, enum relay_err err, uint32_t corr)
{
	assert_int_equal(r->code, RELAY_RESP_ERR);
	assert_int_equal(r->err, err);
	assert_int_equal(r->corr, corr);
}

static void tq_new(struct peer *p, struct tq *q)
{
	struct relay_cmd cmd;
	const struct relay_resp *r;

	memset(q, 0, sizeof(*q));
	x25519_keypair_generate(p->f->ctx, &q->rk);
	x25519_keypair_generate(p->f->ctx, &q->sk);
	relay_cmd_init(&cmd, RELAY_CMD_NEW, 1, NULL);
	memcpy(cmd.key, q->rk.pub, RELAY_KEY_LEN);
	r = roundtrip(p, &cmd, NULL);
	expect_resp(r, RELAY_RESP_IDS, 1, NULL);
	memcpy(q->rid, r->rid, RELAY_ID_LEN);
	memcpy(q->sid, r->sid, RELAY_ID_LEN);
	assert_int_equal(relay_keys_recipient(q->k_rauth, q->k_deliver, q->rk.priv, r->srk),
	                 SOTTO_OK);
	assert_int_equal(relay_keys_sender(q->k_sauth, q->sk.priv, r->ssk), SOTTO_OK);
}

static void rcmd(struct relay_cmd *cmd, enum relay_cmd_code code, uint32_t corr, const struct tq *q)
{
	relay_cmd_init(cmd, code, corr, q->rid);
}

static void send_cmd(struct relay_cmd *cmd, uint32_t corr, const struct tq *q, const uint8_t *body,
                     size_t len)
{
	relay_cmd_init(cmd, RELAY_CMD_SEND, corr, q->sid);
	cmd->body = body;
	cmd->body_len = len;
}

/* Recipient command on q with K_rauth, flushed; its first answer. */
static const struct relay_resp *rtrip(struct peer *p, enum relay_cmd_code code, uint32_t corr,
                                      const struct tq *q)
{
	struct relay_cmd cmd;
	rcmd(&cmd, code, corr, q);
	return roundtrip(p, &cmd, q->k_rauth);
}

/* SEND of len bytes of value fill with flags (MAC'd under key unless NULL); its answer. */
static const struct relay_resp *send_trip_flags(struct peer *p, uint32_t corr, const struct tq *q,
                                                uint8_t fill, size_t len, const uint8_t *key,
                                                uint8_t flags)
{
	static uint8_t body[RELAY_MSG_BODY_MAX];
	struct relay_cmd cmd;

	memset(body, fill, len);
	send_cmd(&cmd, corr, q, body, len);
	cmd.flags = flags;
	return roundtrip(p, &cmd, key);
}

static const struct relay_resp *send_trip(struct peer *p, uint32_t corr, const struct tq *q,
                                          uint8_t fill, size_t len, const uint8_t *key)
{
	return send_trip_flags(p, corr, q, fill, len, key, 0);
}

static void ack_cmd(struct relay_cmd *cmd, uint32_t corr, const struct tq *q,
                    const uint8_t msg_id[static RELAY_MSG_ID_LEN])
{
	rcmd(cmd, RELAY_CMD_ACK, corr, q);
	memcpy(cmd->msg_id, msg_id, RELAY_MSG_ID_LEN);
}

/* Opens a MSG for q and checks its body is len bytes of fill. */
static void expect_msg(const struct relay_resp *r, const struct tq *q, uint32_t corr, uint8_t fill,
                       size_t len)
{
	static uint8_t plain[RELAY_DELIVERY_PLAIN_MAX];
	struct relay_msg m;

	expect_resp(r, RELAY_RESP_MSG, corr, q->rid);
	assert_int_equal(relay_msg_open(&m, plain, r, q->k_deliver), SOTTO_OK);
	assert_int_equal(m.body_len, len);
	assert_int_equal(m.flags, 0);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(m.body[i], fill);
}

/* ---- NEW, PING, malformed input ---- */

static void core__ids__new_answers_keys_that_authorise(void **state)
{
	struct fixture *f = *state;
	struct peer *p = &f->peers[0];
	struct tq q;
	struct relay_stats st;

	tq_new(p, &q);
	assert_memory_not_equal(q.rid, q.sid, RELAY_ID_LEN);
	expect_resp(rtrip(p, RELAY_CMD_SUB, 2, &q), RELAY_RESP_OK, 2, q.rid);
	assert_int_equal(p->n_resps, 1); /* empty queue: no MSG */
	expect_resp(rtrip(p, RELAY_CMD_GET, 3, &q), RELAY_RESP_NONE, 3, q.rid);
	relay_core_stats(f->core, &st);
	assert_int_equal(st.n_queues_created, 1);
	assert_int_equal(st.n_commits, 1);
}

static void core__pong__ping_echoes_corr(void **state)
{
	struct fixture *f = *state;
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, RELAY_CMD_PING, 0xdeadbeef, NULL);
	expect_resp(roundtrip(&f->peers[0], &cmd, NULL), RELAY_RESP_PONG, 0xdeadbeef, NULL);
}

static void core__err_block__malformed_block(void **state)
{
	struct fixture *f = *state;
	struct peer *p = &f->peers[0];
	static const uint8_t bad[] = {2, 0, 1, 0xff}; /* two transmissions announced, one short */
	uint8_t zero_count = 0;

	assert_int_equal(relay_client_feed(p->client, bad, sizeof(bad)), SOTTO_OK);
	assert_int_equal(relay_client_feed(p->client, &zero_count, 1), SOTTO_OK);
	assert_int_equal(relay_client_feed(p->client, NULL, 0), SOTTO_OK);
	flush_ok(f);
	assert_int_equal(p->n_resps, 3);
	for (size_t i = 0; i < 3; i++) {
		expect_err(&p->resps[i], RELAY_ERR_BLOCK, 0);
		expect_resp(&p->resps[i], RELAY_RESP_ERR, 0, NULL);
	}
}

static void core__err_block__transmission_shorter_than_header(void **state)
{
	struct fixture *f = *state;
	struct peer *p = &f->peers[0];
	uint8_t block[1 + 2 + 10] = {1, 0, 10};

	assert_int_equal(relay_client_feed(p->client, block, sizeof(block)), SOTTO_OK);
	flush_ok(f);
	assert_int_equal(p->n_resps, 1);
	expect_err(&p->resps[0], RELAY_ERR_BLOCK, 0);
}

/* Writes a one-transmission batch whose transmission is a bare header plus body. */
static size_t raw_block(uint8_t *out, uint32_t corr, uint8_t code, const uint8_t *entity,
                        const uint8_t *body, size_t body_len)
{
	size_t tx_len = RELAY_CMD_HEADER_LEN + body_len;

	memset(out, 0, 3 + RELAY_CMD_HEADER_LEN);
	out[0] = 1;
	out[1] = (uint8_t)(tx_len >> 8);
	out[2] = (uint8_t)tx_len;
	out[3 + 32] = (uint8_t)(corr >> 24);
	out[3 + 33] = (uint8_t)(corr >> 16);
	out[3 + 34] = (uint8_t)(corr >> 8);
	out[3 + 35] = (uint8_t)corr;
	out[3 + 36] = code;
	if (entity != NULL)
		memcpy(out + 3 + 37, entity, RELAY_ID_LEN);
	if (body_len > 0)
		memcpy(out + 3 + RELAY_CMD_HEADER_LEN, body, body_len);
	return 3 + tx_len;
}

static void core__err_cmd__unknown_code_and_wrong_body(void **state)
{
	struct fixture *f = *state;
	struct peer *p = &f->peers[0];
	static uint8_t block[RELAY_BLOCK_CONTENT_MAX];
	uint8_t entity[RELAY_ID_LEN], body[40] = {0};
	size_t n;

	memset(entity, 0x42, sizeof(entity));
	n = raw_block(block, 11, 99, entity, NULL, 0);
	assert_int_equal(relay_client_feed(p->client, block, n), SOTTO_OK);
	n = raw_block(block, 12, RELAY_CMD_NEW, NULL, body, 31); /* rk one byte short */
	assert_int_equal(relay_client_feed(p->client, block, n), SOTTO_OK);
	n = raw_block(block, 13, RELAY_CMD_SUB, entity, body, 1); /* SUB has no body */
	assert_int_equal(relay_client_feed(p->client, block, n), SOTTO_OK);
	flush_ok(f);
	assert_int_equal(p->n_resps, 3);
	expect_err(&p->resps[0], RELAY_ERR_CMD, 11);
	assert_memory_equal(p->resps[0].entity, entity, RELAY_ID_LEN);
	expect_err(&p->resps[1], RELAY_ERR_CMD, 12);
	expect_err(&p->resps[2], RELAY_ERR_CMD, 13);
}

static void core__err_large__send_body_over_limit(void **state)
{
	struct fixture *f = *state;
	struct peer *p = &f->peers[0];
	static uint8_t block[RELAY_BLOCK_CONTENT_MAX];
	static uint8_t body[3 + RELAY_MSG_BODY_MAX + 1];
	struct tq q;
	size_t n, len = RELAY_MSG_BODY_MAX + 1;

	tq_new(p, &q);
	peer_reset(p);
	body[0] = 0; /* flags */
	body[1] = (uint8_t)(len >> 8);
	body[2] = (uint8_t)len;
	n = raw_block(block, 21, RELAY_CMD_SEND, q.sid, body, 3 + len);
	assert_int_equal(relay_client_feed(p->client, block, n), SOTTO_OK);
	flush_ok(f);
	assert_int_equal(p->n_resps, 1);
	expect_err(&p->resps[0], RELAY_ERR_LARGE, 21);
	/* The largest body is accepted. */
	expect_resp(send_trip(p, 22, &q, 0x33, RELAY_MSG_BODY_MAX, NULL), RELAY_RESP_OK, 22, q.sid);
}

static void core__err_cmd__new_with_low_order_key(void **state)
{
	struct fixture *f = *state;
	struct relay_cmd cmd;
	struct relay_stats st;

	relay_cmd_init(&cmd, RELAY_CMD_NEW, 5, NULL); /* rk = 0, a low-order point */
	expect_err(roundtrip(&f->peers[0], &cmd, NULL), RELAY_ERR_CMD, 5);
	relay_core_stats(f->core, &st);
	assert_int_equal(st.n_queues_created, 0);
	assert_int_equal(st.n_errors[RELAY_ERR_CMD], 1);
}

/* ---- securing ---- */

static void core__ok__key_secures_then_send_needs_sauth(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	struct relay_cmd cmd;
	struct tq q;

	tq_new(r, &q);
	/* Unsecured: SEND needs no MAC. */
	expect_resp(send_trip(s, 1, &q, 1, 10, NULL), RELAY_RESP_OK, 1, q.sid);
	rcmd(&cmd, RELAY_CMD_KEY, 2, &q);
	memcpy(cmd.key, q.sk.pub, RELAY_KEY_LEN);
	expect_resp(roundtrip(r, &cmd, q.k_rauth), RELAY_RESP_OK, 2, q.rid);
	/* A second KEY is AUTH. */
	cmd.corr = 3;
	expect_err(roundtrip(r, &cmd, q.k_rauth), RELAY_ERR_AUTH, 3);
	/* Secured: SEND without a MAC or under another key is AUTH; under K_sauth it is OK. */
	expect_err(send_trip(s, 4, &q, 1, 10, NULL), RELAY_ERR_AUTH, 4);
	expect_err(send_trip(s, 5, &q, 1, 10, q.k_rauth), RELAY_ERR_AUTH, 5);
	expect_resp(send_trip(s, 6, &q, 1, 10, q.k_sauth), RELAY_RESP_OK, 6, q.sid);
}

static void core__ok__skey_proves_possession(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	struct relay_cmd cmd;
	struct x25519_keypair other;
	uint8_t k_other[RELAY_KEY_LEN];
	struct tq q;

	tq_new(r, &q);
	relay_cmd_init(&cmd, RELAY_CMD_SKEY, 1, q.sid);
	memcpy(cmd.key, q.sk.pub, RELAY_KEY_LEN);
	/* A MAC under any key but K_sauth of the carried sk fails. */
	x25519_keypair_generate(f->ctx, &other);
	memset(k_other, 0x5a, sizeof(k_other));
	expect_err(roundtrip(s, &cmd, k_other), RELAY_ERR_AUTH, 1);
	expect_err(roundtrip(s, &cmd, NULL), RELAY_ERR_AUTH, 1);
	cmd.corr = 2;
	expect_resp(roundtrip(s, &cmd, q.k_sauth), RELAY_RESP_OK, 2, q.sid);
	/* Secured now: again is AUTH, KEY is AUTH, SEND needs K_sauth. */
	cmd.corr = 3;
	expect_err(roundtrip(s, &cmd, q.k_sauth), RELAY_ERR_AUTH, 3);
	rcmd(&cmd, RELAY_CMD_KEY, 4, &q);
	memcpy(cmd.key, other.pub, RELAY_KEY_LEN);
	expect_err(roundtrip(r, &cmd, q.k_rauth), RELAY_ERR_AUTH, 4);
	expect_err(send_trip(s, 5, &q, 1, 10, NULL), RELAY_ERR_AUTH, 5);
	expect_resp(send_trip(s, 6, &q, 1, 10, q.k_sauth), RELAY_RESP_OK, 6, q.sid);
}

static void core__auth__skey_low_order_key_and_unknown_sid(void **state)
{
	struct fixture *f = *state;
	struct peer *s = &f->peers[1];
	struct relay_cmd cmd;
	struct tq q;

	tq_new(&f->peers[0], &q);
	relay_cmd_init(&cmd, RELAY_CMD_SKEY, 1, q.sid); /* sk = 0 */
	expect_err(roundtrip(s, &cmd, q.k_sauth), RELAY_ERR_AUTH, 1);
	relay_cmd_init(&cmd, RELAY_CMD_SKEY, 2, q.rid); /* a RID is no SID */
	memcpy(cmd.key, q.sk.pub, RELAY_KEY_LEN);
	expect_err(roundtrip(s, &cmd, q.k_sauth), RELAY_ERR_AUTH, 2);
}

static void core__err_cmd__key_with_low_order_key(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0];
	struct tq q;

	tq_new(r, &q);
	expect_err(rtrip(r, RELAY_CMD_KEY, 9, &q), RELAY_ERR_CMD, 9); /* sk = 0 */
	/* Still unsecured. */
	expect_resp(send_trip(&f->peers[1], 10, &q, 1, 1, NULL), RELAY_RESP_OK, 10, q.sid);
}

/* ---- AUTH sameness and session binding ---- */

/* The whole first transmission p received, re-encoded from its parse. */
static size_t resp_bytes(const struct relay_resp *r, uint8_t *out, size_t cap)
{
	size_t len;
	assert_int_equal(relay_resp_encode(out, cap, &len, r), SOTTO_OK);
	return len;
}

static void core__auth__same_bytes_unknown_rid_and_wrong_mac(void **state)
{
	struct fixture *f = *state;
	struct peer *p = &f->peers[0];
	uint8_t wrong[RELAY_KEY_LEN], b1[64], b2[64], b3[64];
	size_t n1, n2, n3;
	struct relay_cmd cmd;
	struct tq q;

	tq_new(p, &q);
	memset(wrong, 0x77, sizeof(wrong));
	/* A real RID under a wrong MAC. */
	rcmd(&cmd, RELAY_CMD_SUB, 7, &q);
	peer_reset(p);
	feed_one(p, &cmd, wrong);
	flush_ok(f);
	assert_int_equal(p->n_blocks, 1);
	n1 = resp_bytes(&p->resps[0], b1, sizeof(b1));
	expect_err(&p->resps[0], RELAY_ERR_AUTH, 7);
	/* A missing MAC. */
	peer_reset(p);
	feed_one(p, &cmd, NULL);
	flush_ok(f);
	n2 = resp_bytes(&p->resps[0], b2, sizeof(b2));
	/* The same RID once deleted, under its right MAC: unknown now. */
	expect_resp(rtrip(p, RELAY_CMD_DEL, 8, &q), RELAY_RESP_OK, 8, q.rid);
	peer_reset(p);
	feed_one(p, &cmd, q.k_rauth);
	flush_ok(f);
	n3 = resp_bytes(&p->resps[0], b3, sizeof(b3));
	assert_int_equal(n1, n2);
	assert_int_equal(n1, n3);
	assert_memory_equal(b1, b2, n1);
	assert_memory_equal(b1, b3, n1);
}

static void core__auth__suspended_send_same_as_unknown_sid(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	uint8_t b1[64], b2[64];
	size_t n1, n2;
	struct tq q;

	tq_new(r, &q);
	expect_resp(rtrip(r, RELAY_CMD_OFF, 1, &q), RELAY_RESP_OK, 1, q.rid);
	n1 = resp_bytes(send_trip(s, 2, &q, 1, 5, NULL), b1, sizeof(b1));
	expect_err(&s->resps[0], RELAY_ERR_AUTH, 2);
	expect_resp(rtrip(r, RELAY_CMD_DEL, 3, &q), RELAY_RESP_OK, 3, q.rid);
	n2 = resp_bytes(send_trip(s, 2, &q, 1, 5, NULL), b2, sizeof(b2));
	assert_int_equal(n1, n2);
	assert_memory_equal(b1, b2, n1);
}

static void core__auth__replay_under_other_session(void **state)
{
	struct fixture *f = *state;
	struct peer *a = &f->peers[0], *b = &f->peers[1];
	static uint8_t block[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw;
	struct relay_cmd cmd;
	size_t cap, len;
	struct tq q;

	tq_new(a, &q);
	/* A SUB captured on a's connection... */
	rcmd(&cmd, RELAY_CMD_SUB, 40, &q);
	relay_batch_writer_init(&bw, block);
	uint8_t *slot = relay_batch_writer_slot(&bw, &cap);
	assert_int_equal(relay_cmd_encode(slot, cap, &len, &cmd, q.k_rauth, a->session_id),
	                 SOTTO_OK);
	assert_int_equal(relay_batch_writer_commit(&bw, len), SOTTO_OK);
	assert_int_equal(relay_batch_writer_finish(&bw, &len), SOTTO_OK);
	/* ...is worthless on b's... */
	peer_reset(b);
	assert_int_equal(relay_client_feed(b->client, block, len), SOTTO_OK);
	flush_ok(f);
	assert_int_equal(b->n_resps, 1);
	expect_err(&b->resps[0], RELAY_ERR_AUTH, 40);
	/* ...and works on a's own. */
	peer_reset(a);
	assert_int_equal(relay_client_feed(a->client, block, len), SOTTO_OK);
	flush_ok(f);
	expect_resp(&a->resps[0], RELAY_RESP_OK, 40, q.rid);
}

/* ---- delivery ---- */

static void core__msg__send_get_ack_none(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	uint8_t msg_id[RELAY_MSG_ID_LEN];
	struct relay_cmd cmd;
	struct tq q;

	tq_new(r, &q);
	expect_resp(send_trip(s, 1, &q, 0xa1, 100, NULL), RELAY_RESP_OK, 1, q.sid);
	expect_resp(send_trip(s, 2, &q, 0xa2, 0, NULL), RELAY_RESP_OK, 2, q.sid);
	expect_msg(rtrip(r, RELAY_CMD_GET, 3, &q), &q, 3, 0xa1, 100);
	memcpy(msg_id, r->resps[0].msg_id, sizeof(msg_id));
	/* GET again: the same message, not acknowledged yet. */
	expect_msg(rtrip(r, RELAY_CMD_GET, 4, &q), &q, 4, 0xa1, 100);
	assert_memory_equal(r->resps[0].msg_id, msg_id, RELAY_MSG_ID_LEN);
	ack_cmd(&cmd, 5, &q, msg_id);
	expect_resp(roundtrip(r, &cmd, q.k_rauth), RELAY_RESP_OK, 5, q.rid);
	/* Acknowledging it twice is NO_MSG (it is gone; the next one is not it). */
	cmd.corr = 6;
	expect_err(roundtrip(r, &cmd, q.k_rauth), RELAY_ERR_NO_MSG, 6);
	expect_msg(rtrip(r, RELAY_CMD_GET, 7, &q), &q, 7, 0xa2, 0);
	ack_cmd(&cmd, 8, &q, r->resps[0].msg_id);
	expect_resp(roundtrip(r, &cmd, q.k_rauth), RELAY_RESP_OK, 8, q.rid);
	expect_resp(rtrip(r, RELAY_CMD_GET, 9, &q), RELAY_RESP_NONE, 9, q.rid);
	cmd.corr = 10;
	expect_err(roundtrip(r, &cmd, q.k_rauth), RELAY_ERR_NO_MSG, 10); /* empty queue */
}

static void core__no_msg__ack_of_another_id(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0];
	uint8_t other[RELAY_MSG_ID_LEN];
	struct relay_cmd cmd;
	struct tq q;

	tq_new(r, &q);
	expect_resp(send_trip(r, 1, &q, 1, 1, NULL), RELAY_RESP_OK, 1, q.sid);
	expect_resp(send_trip(r, 2, &q, 2, 2, NULL), RELAY_RESP_OK, 2, q.sid);
	expect_resp(rtrip(r, RELAY_CMD_SUB, 3, &q), RELAY_RESP_OK, 3, q.rid);
	assert_int_equal(r->n_resps, 3); /* both pushed: the window holds them */
	expect_msg(&r->resps[1], &q, 0, 1, 1);
	expect_msg(&r->resps[2], &q, 0, 2, 2);
	memcpy(other, r->resps[1].msg_id, sizeof(other));
	other[0] ^= 1;
	ack_cmd(&cmd, 4, &q, other);
	expect_err(roundtrip(r, &cmd, q.k_rauth), RELAY_ERR_NO_MSG, 4);
	assert_int_equal(r->n_resps, 1); /* no push either */
	/* The right id without the recipient's MAC is AUTH, and changes nothing. */
	other[0] ^= 1;
	ack_cmd(&cmd, 5, &q, other);
	expect_err(roundtrip(r, &cmd, q.k_sauth), RELAY_ERR_AUTH, 5);
	expect_msg(rtrip(r, RELAY_CMD_GET, 6, &q), &q, 6, 1, 1);
	assert_memory_equal(r->resps[0].msg_id, other, RELAY_MSG_ID_LEN);
}

/* Bodies of message i in the window tests: i + 1 bytes of 0xb0 + i. */
static void send_numbered(struct peer *s, const struct tq *q, unsigned i)
{
	expect_resp(send_trip(s, 100 + i, q, (uint8_t)(0xb0 + i), i + 1, NULL), RELAY_RESP_OK,
	            100 + i, q->sid);
}

static void core__push__window_then_next_after_each_ack(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	struct relay_cmd cmd;
	struct tq q;
	unsigned i;

	tq_new(r, &q);
	expect_resp(rtrip(r, RELAY_CMD_SUB, 1, &q), RELAY_RESP_OK, 1, q.rid);
	assert_int_equal(r->n_resps, 1);
	/* One more send than the window: the subscriber gets the window pushed, not the rest. */
	peer_reset(r);
	for (i = 0; i <= RELAY_PUSH_WINDOW; i++)
		send_numbered(s, &q, i);
	assert_int_equal(r->n_resps, RELAY_PUSH_WINDOW);
	for (i = 0; i < RELAY_PUSH_WINDOW; i++)
		expect_msg(&r->resps[i], &q, 0, (uint8_t)(0xb0 + i), i + 1);
	/* ACK of the oldest: OK, then the next MSG in the same flush. */
	ack_cmd(&cmd, 4, &q, r->resps[0].msg_id);
	expect_resp(roundtrip(r, &cmd, q.k_rauth), RELAY_RESP_OK, 4, q.rid);
	assert_int_equal(r->n_resps, 2);
	assert_int_equal(r->n_blocks, 1); /* packed together */
	expect_msg(&r->resps[1], &q, 0, (uint8_t)(0xb0 + RELAY_PUSH_WINDOW), RELAY_PUSH_WINDOW + 1);
	/* More messages while the window is full: nothing pushed. */
	peer_reset(r);
	for (i = 0; i < RELAY_PUSH_WINDOW; i++)
		send_numbered(s, &q, i);
	assert_int_equal(r->n_resps, 0);
	/* GET from the subscriber starts over: its answer, then the window from the oldest. */
	expect_msg(rtrip(r, RELAY_CMD_GET, 5, &q), &q, 5, 0xb1, 2);
	assert_int_equal(r->n_resps, 1 + RELAY_PUSH_WINDOW);
	for (i = 0; i < RELAY_PUSH_WINDOW; i++)
		expect_msg(&r->resps[1 + i], &q, 0, (uint8_t)(0xb1 + i), i + 2);
	/* Only the oldest may be acknowledged: the third is NO_MSG. */
	ack_cmd(&cmd, 6, &q, r->resps[3].msg_id);
	expect_err(roundtrip(r, &cmd, q.k_rauth), RELAY_ERR_NO_MSG, 6);
	assert_int_equal(r->n_resps, 1); /* no push either */
}

/* A GET from another connection does not disturb the subscriber's window. */
static void core__push__get_elsewhere_leaves_window(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1], *t = &f->peers[2];
	struct tq q;

	tq_new(r, &q);
	send_numbered(s, &q, 0);
	send_numbered(s, &q, 1);
	expect_resp(rtrip(r, RELAY_CMD_SUB, 1, &q), RELAY_RESP_OK, 1, q.rid);
	assert_int_equal(r->n_resps, 3);
	peer_reset(r);
	expect_msg(rtrip(t, RELAY_CMD_GET, 2, &q), &q, 2, 0xb0, 1);
	assert_int_equal(t->n_resps, 1);
	assert_int_equal(r->n_resps, 0);
}

static void core__end__second_sub_takes_over(void **state)
{
	struct fixture *f = *state;
	struct peer *a = &f->peers[0], *b = &f->peers[1], *s = &f->peers[2];
	struct tq q;

	tq_new(a, &q);
	expect_resp(rtrip(a, RELAY_CMD_SUB, 1, &q), RELAY_RESP_OK, 1, q.rid);
	peer_reset(a);
	expect_resp(rtrip(b, RELAY_CMD_SUB, 2, &q), RELAY_RESP_OK, 2, q.rid);
	assert_int_equal(a->n_resps, 1);
	expect_resp(&a->resps[0], RELAY_RESP_END, 0, q.rid);
	/* New messages go to b only. */
	peer_reset(a);
	peer_reset(b);
	expect_resp(send_trip(s, 3, &q, 0xc1, 7, NULL), RELAY_RESP_OK, 3, q.sid);
	assert_int_equal(a->n_resps, 0);
	assert_int_equal(b->n_resps, 1);
	expect_msg(&b->resps[0], &q, 0, 0xc1, 7);
	/* a takes it back within one turn where b also acts: END to b, MSG to a. */
	peer_reset(b);
	expect_resp(rtrip(a, RELAY_CMD_SUB, 4, &q), RELAY_RESP_OK, 4, q.rid);
	assert_int_equal(a->n_resps, 2);
	expect_msg(&a->resps[1], &q, 0, 0xc1, 7); /* redelivered: b never acknowledged */
	assert_int_equal(b->n_resps, 1);
	expect_resp(&b->resps[0], RELAY_RESP_END, 0, q.rid);
}

static void core__redeliver__unacked_after_resubscribe(void **state)
{
	struct fixture *f = *state;
	struct peer *a = &f->peers[0], *s = &f->peers[1];
	struct tq q;

	tq_new(a, &q);
	expect_resp(send_trip(s, 1, &q, 0xd1, 30, NULL), RELAY_RESP_OK, 1, q.sid);
	expect_resp(rtrip(a, RELAY_CMD_SUB, 2, &q), RELAY_RESP_OK, 2, q.rid);
	expect_msg(&a->resps[1], &q, 0, 0xd1, 30);
	/* The connection goes away without ACK; a new one subscribes. */
	relay_client_free(a->client);
	peer_reset(a);
	a->client = NULL;
	assert_int_equal(relay_client_new(f->core, a->session_id, peer_output, a, &a->client),
	                 SOTTO_OK);
	expect_resp(rtrip(a, RELAY_CMD_SUB, 3, &q), RELAY_RESP_OK, 3, q.rid);
	assert_int_equal(a->n_resps, 2);
	expect_msg(&a->resps[1], &q, 0, 0xd1, 30);
	/* SUB again on the same connection redelivers too. */
	expect_resp(rtrip(a, RELAY_CMD_SUB, 4, &q), RELAY_RESP_OK, 4, q.rid);
	assert_int_equal(a->n_resps, 2);
	expect_msg(&a->resps[1], &q, 0, 0xd1, 30);
}

/* True if a and b share a run of 16 equal bytes anywhere. */
static bool share_run16(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	for (size_t i = 0; i + 16 <= a_len; i++) {
		for (size_t j = 0; j + 16 <= b_len; j++) {
			if (memcmp(a + i, b + j, 16) == 0)
				return true;
		}
	}
	return false;
}

static void core__reencrypt__send_and_msg_share_no_run(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	uint8_t body[600], sent[RELAY_SEND_OVERHEAD + sizeof(body)];
	uint8_t got[RELAY_RESP_MAX_LEN];
	struct relay_cmd cmd;
	size_t sent_len, got_len;
	struct tq q;

	tq_new(r, &q);
	tu_rng_fill(&f->rng, body, sizeof(body));
	send_cmd(&cmd, 1, &q, body, sizeof(body));
	assert_int_equal(relay_cmd_encode(sent, sizeof(sent), &sent_len, &cmd, NULL, NULL),
	                 SOTTO_OK);
	expect_resp(roundtrip(s, &cmd, NULL), RELAY_RESP_OK, 1, q.sid);
	expect_resp(rtrip(r, RELAY_CMD_GET, 2, &q), RELAY_RESP_MSG, 2, q.rid);
	got_len = resp_bytes(&r->resps[0], got, sizeof(got));
	assert_int_equal(got_len, relay_resp_msg_len(sizeof(body)));
	assert_false(share_run16(sent, sent_len, got, got_len));
	assert_true(share_run16(sent, sent_len, sent, sent_len)); /* the check can fire */
}

/* ---- limits ---- */

/* n SENDs of 4 bytes of 0x44 to q from s, 32 to a block, one flush. */
static void fill_queue(struct peer *s, const struct tq *q, unsigned n, uint32_t corr0)
{
	static const uint8_t body[4] = {0x44, 0x44, 0x44, 0x44};
	struct relay_cmd cmds[RELAY_BATCH_MAX];

	peer_reset(s);
	while (n > 0) {
		unsigned k = n < RELAY_BATCH_MAX ? n : RELAY_BATCH_MAX;
		for (unsigned i = 0; i < k; i++)
			send_cmd(&cmds[i], corr0++, q, body, sizeof(body));
		feed_cmds(s, cmds, NULL, k);
		n -= k;
	}
	flush_ok(s->f);
}

static void core__quota__default_128(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	struct relay_cmd cmd;
	struct tq q;

	tq_new(r, &q);
	fill_queue(s, &q, RELAY_QUOTA_DEFAULT + 1, 1000);
	assert_int_equal(s->n_resps, RELAY_QUOTA_DEFAULT + 1);
	for (size_t i = 0; i < RELAY_QUOTA_DEFAULT; i++)
		expect_resp(&s->resps[i], RELAY_RESP_OK, (uint32_t)(1000 + i), q.sid);
	expect_err(&s->resps[RELAY_QUOTA_DEFAULT], RELAY_ERR_QUOTA, 1000 + RELAY_QUOTA_DEFAULT);
	/* Answers are packed: 32 transmissions a block. */
	assert_int_equal(s->n_blocks, (RELAY_QUOTA_DEFAULT + RELAY_BATCH_MAX) / RELAY_BATCH_MAX);
	expect_err(send_trip(s, 1, &q, 1, 1, NULL), RELAY_ERR_QUOTA, 1);
	expect_msg(rtrip(r, RELAY_CMD_GET, 2, &q), &q, 2, 0x44, 4);
	ack_cmd(&cmd, 3, &q, r->resps[0].msg_id);
	expect_resp(roundtrip(r, &cmd, q.k_rauth), RELAY_RESP_OK, 3, q.rid);
	expect_resp(send_trip_flags(s, 4, &q, 1, 1, NULL, RELAY_SEND_RESUME), RELAY_RESP_OK, 4,
	            q.sid);
	expect_err(send_trip(s, 5, &q, 1, 1, NULL), RELAY_ERR_QUOTA, 5);
}

static void core__quota__small_config_then_ack_frees(void **state)
{
	struct fixture *f = *state;
	struct relay_core_config cfg = {.quota = 2};
	struct peer *r, *s;
	struct relay_cmd cmd;
	struct tq q;

	fx_reconfigure(f, &cfg);
	r = &f->peers[0];
	s = &f->peers[1];
	tq_new(r, &q);
	fill_queue(s, &q, 3, 1);
	assert_int_equal(s->n_resps, 3);
	expect_resp(&s->resps[0], RELAY_RESP_OK, 1, q.sid);
	expect_resp(&s->resps[1], RELAY_RESP_OK, 2, q.sid);
	expect_err(&s->resps[2], RELAY_ERR_QUOTA, 3);
	expect_msg(rtrip(r, RELAY_CMD_GET, 4, &q), &q, 4, 0x44, 4);
	ack_cmd(&cmd, 5, &q, r->resps[0].msg_id);
	expect_resp(roundtrip(r, &cmd, q.k_rauth), RELAY_RESP_OK, 5, q.rid);
	/* Room again, but this connection must say RESUME first (§4.4). */
	expect_err(send_trip(s, 6, &q, 1, 1, NULL), RELAY_ERR_QUOTA, 6);
	expect_resp(send_trip_flags(s, 7, &q, 1, 1, NULL, RELAY_SEND_RESUME), RELAY_RESP_OK, 7,
	            q.sid);
	expect_err(send_trip(s, 8, &q, 1, 1, NULL), RELAY_ERR_QUOTA, 8);
}

/*
 * The order guarantee: SENDs pipelined behind one refused with QUOTA are
 * refused too, even when an ACK made room in between, until a RESUME; the
 * stored message never carries the flag; other queues and other connections
 * are not affected.
 */
static void core__quota__refused_until_resume_pipelined_sends_never_overtake(void **state)
{
	struct fixture *f = *state;
	struct relay_core_config cfg = {.quota = 1};
	struct peer *r = &f->peers[0], *s = &f->peers[1], *t = &f->peers[2];
	struct relay_cmd cmd;
	struct tq q, q2;

	fx_reconfigure(f, &cfg);
	tq_new(r, &q);
	tq_new(r, &q2);
	expect_resp(send_trip(s, 1, &q, 0x11, 4, NULL), RELAY_RESP_OK, 1, q.sid);
	expect_err(send_trip(s, 2, &q, 0x22, 4, NULL), RELAY_ERR_QUOTA, 2);
	/* The recipient drains the queue: there is room now. */
	expect_msg(rtrip(r, RELAY_CMD_GET, 3, &q), &q, 3, 0x11, 4);
	ack_cmd(&cmd, 4, &q, r->resps[0].msg_id);
	expect_resp(roundtrip(r, &cmd, q.k_rauth), RELAY_RESP_OK, 4, q.rid);
	/* A SEND that was already on its way behind #2 must not overtake it. */
	expect_err(send_trip(s, 5, &q, 0x33, 4, NULL), RELAY_ERR_QUOTA, 5);
	/* Another queue on this connection, and this queue on another connection, go on. */
	expect_resp(send_trip(s, 6, &q2, 0x44, 4, NULL), RELAY_RESP_OK, 6, q2.sid);
	expect_resp(send_trip(t, 7, &q, 0x55, 4, NULL), RELAY_RESP_OK, 7, q.sid);
	expect_msg(rtrip(r, RELAY_CMD_GET, 8, &q), &q, 8, 0x55, 4);
	ack_cmd(&cmd, 9, &q, r->resps[0].msg_id);
	expect_resp(roundtrip(r, &cmd, q.k_rauth), RELAY_RESP_OK, 9, q.rid);
	/* The sender resends #2 with RESUME: stored, delivered with flags 0. */
	expect_resp(send_trip_flags(s, 10, &q, 0x22, 4, NULL, RELAY_SEND_RESUME), RELAY_RESP_OK, 10,
	            q.sid);
	expect_msg(rtrip(r, RELAY_CMD_GET, 11, &q), &q, 11, 0x22, 4);
	/* RESUME on a queue that was not refused is harmless. */
	ack_cmd(&cmd, 12, &q, r->resps[0].msg_id);
	expect_resp(roundtrip(r, &cmd, q.k_rauth), RELAY_RESP_OK, 12, q.rid);
	expect_resp(send_trip_flags(s, 13, &q, 0x66, 4, NULL, RELAY_SEND_RESUME), RELAY_RESP_OK, 13,
	            q.sid);
}

/* A connection refused on more queues than it resumes is closed rather than forgetting one. */
static void core__quota__too_many_refused_queues_close_the_connection(void **state)
{
	struct fixture *f = *state;
	struct relay_core_config cfg = {.quota = 1};
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	struct tq q;

	static const uint8_t body[4] = {0x22, 0x22, 0x22, 0x22};
	struct relay_cmd cmd;

	fx_reconfigure(f, &cfg);
	for (unsigned i = 0; i < RELAY_STUCK_MAX; i++) {
		tq_new(r, &q);
		expect_resp(send_trip(s, 2 * i + 1, &q, 0x11, 4, NULL), RELAY_RESP_OK, 2 * i + 1,
		            q.sid);
		expect_err(send_trip(s, 2 * i + 2, &q, 0x22, 4, NULL), RELAY_ERR_QUOTA, 2 * i + 2);
	}
	tq_new(r, &q);
	expect_resp(send_trip(s, 100, &q, 0x11, 4, NULL), RELAY_RESP_OK, 100, q.sid);
	assert_false(relay_client_is_dead(s->client));
	send_cmd(&cmd, 101, &q, body, sizeof(body));
	assert_int_equal(feed_cmds_rc(s, &cmd, NULL, 1), SOTTO_ERR_STATE);
	assert_true(relay_client_is_dead(s->client));
}

static void core__rate__new_per_minute_with_manual_clock(void **state)
{
	struct fixture *f = *state;
	struct relay_core_config cfg = {.new_per_minute = 3};
	struct relay_cmd cmds[4];
	struct x25519_keypair kp;
	struct peer *a, *b;

	fx_reconfigure(f, &cfg);
	a = &f->peers[0];
	b = &f->peers[1];
	x25519_keypair_generate(f->ctx, &kp);
	for (unsigned i = 0; i < 4; i++) {
		relay_cmd_init(&cmds[i], RELAY_CMD_NEW, i + 1, NULL);
		memcpy(cmds[i].key, kp.pub, RELAY_KEY_LEN);
	}
	feed_cmds(a, cmds, NULL, 4);
	flush_ok(f);
	assert_int_equal(a->n_resps, 4);
	for (unsigned i = 0; i < 3; i++)
		expect_resp(&a->resps[i], RELAY_RESP_IDS, i + 1, NULL);
	expect_err(&a->resps[3], RELAY_ERR_RATE, 4);
	/* Another connection has its own allowance. */
	expect_resp(roundtrip(b, &cmds[0], NULL), RELAY_RESP_IDS, 1, NULL);
	/* 59.999 s later: still limited; a minute later: allowed again. */
	f->clock_ms += 59999;
	expect_err(roundtrip(a, &cmds[3], NULL), RELAY_ERR_RATE, 4);
	f->clock_ms += 1;
	expect_resp(roundtrip(a, &cmds[3], NULL), RELAY_RESP_IDS, 4, NULL);
}

/* ---- group commit ---- */

static void core__group_commit__answers_only_after_flush(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1], *t = &f->peers[2];
	struct relay_cmd cmd;
	struct relay_stats before, after;
	static const uint8_t body[3] = {9, 9, 9};
	struct tq q;

	tq_new(r, &q);
	peer_reset(r);
	relay_core_stats(f->core, &before);
	/* Writes from three connections in one turn. */
	send_cmd(&cmd, 1, &q, body, sizeof(body));
	feed_one(s, &cmd, NULL);
	rcmd(&cmd, RELAY_CMD_KEY, 2, &q);
	memcpy(cmd.key, q.sk.pub, RELAY_KEY_LEN);
	feed_one(r, &cmd, q.k_rauth);
	relay_cmd_init(&cmd, RELAY_CMD_NEW, 3, NULL);
	memcpy(cmd.key, q.rk.pub, RELAY_KEY_LEN);
	feed_one(t, &cmd, NULL);
	relay_cmd_init(&cmd, RELAY_CMD_PING, 4, NULL);
	feed_one(t, &cmd, NULL);
	assert_int_equal(r->n_blocks + s->n_blocks + t->n_blocks, 0);
	flush_ok(f);
	relay_core_stats(f->core, &after);
	assert_int_equal(after.n_commits, before.n_commits + 1);
	expect_resp(&s->resps[0], RELAY_RESP_OK, 1, q.sid);
	expect_resp(&r->resps[0], RELAY_RESP_OK, 2, q.rid);
	assert_int_equal(t->n_blocks, 1);
	expect_resp(&t->resps[0], RELAY_RESP_IDS, 3, NULL);
	expect_resp(&t->resps[1], RELAY_RESP_PONG, 4, NULL);
	/* A turn without writes commits nothing. */
	peer_reset(t);
	feed_one(t, &cmd, NULL);
	flush_ok(f);
	relay_core_stats(f->core, &before);
	assert_int_equal(before.n_commits, after.n_commits);
	expect_resp(&t->resps[0], RELAY_RESP_PONG, 4, NULL);
}

static void core__group_commit__failed_commit_answers_internal(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	static uint8_t body[RELAY_MSG_BODY_MAX];
	struct relay_cmd cmds[3];
	struct rlimit old, tiny;
	struct relay_stats st;
	void (*old_handler)(int);
	sotto_err rc;
	struct tq q;

	tq_new(r, &q);
	peer_reset(r);
	memset(body, 0x5c, sizeof(body));
	send_cmd(&cmds[0], 1, &q, body, sizeof(body));
	relay_cmd_init(&cmds[1], RELAY_CMD_PING, 2, NULL);
	feed_cmds(s, cmds, NULL, 2);
	send_cmd(&cmds[2], 3, &q, body, sizeof(body));
	feed_cmds(s, &cmds[2], NULL, 1);
	rcmd(&cmds[0], RELAY_CMD_OFF, 4, &q);
	feed_one(r, &cmds[0], q.k_rauth);
	/* The commit must extend the write-ahead log: make that impossible. */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	tiny = old;
	tiny.rlim_cur = 1;
	old_handler = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &tiny), 0);
	rc = relay_core_flush(f->core);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);
	assert_int_not_equal(rc, SOTTO_OK);
	assert_int_equal(s->n_resps, 3);
	expect_err(&s->resps[0], RELAY_ERR_INTERNAL, 1);
	assert_memory_equal(s->resps[0].entity, q.sid, RELAY_ID_LEN);
	expect_resp(&s->resps[1], RELAY_RESP_PONG, 2, NULL);
	expect_err(&s->resps[2], RELAY_ERR_INTERNAL, 3);
	assert_int_equal(r->n_resps, 1);
	expect_err(&r->resps[0], RELAY_ERR_INTERNAL, 4);
	relay_core_stats(f->core, &st);
	assert_int_equal(st.n_commit_failures, 1);
}

static void core__held__early_flush_bounds_answers(void **state)
{
	struct fixture *f = *state;
	struct peer *p = &f->peers[0];
	struct relay_cmd cmds[RELAY_BATCH_MAX];
	unsigned n_blocks = RELAY_HELD_MAX / RELAY_BATCH_MAX + 1;

	for (unsigned i = 0; i < RELAY_BATCH_MAX; i++)
		relay_cmd_init(&cmds[i], RELAY_CMD_PING, i, NULL);
	for (unsigned k = 0; k < n_blocks; k++)
		feed_cmds(p, cmds, NULL, RELAY_BATCH_MAX);
	/*
	 * The held answers reached the bound (a command needs room for two):
	 * they went out without a flush, packed 32 to a block.
	 */
	assert_int_equal(p->n_resps, RELAY_HELD_MAX - 1);
	assert_int_equal(p->n_blocks, RELAY_HELD_MAX / RELAY_BATCH_MAX);
	flush_ok(f);
	assert_int_equal(p->n_resps, (size_t)n_blocks * RELAY_BATCH_MAX);
	for (size_t i = 0; i < p->n_resps; i++)
		expect_resp(&p->resps[i], RELAY_RESP_PONG, (uint32_t)(i % RELAY_BATCH_MAX), NULL);
}

static void core__pack__large_answers_split_blocks(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	struct relay_cmd cmds[3];
	struct tq q;

	tq_new(r, &q);
	expect_resp(send_trip(s, 1, &q, 0xee, RELAY_MSG_BODY_MAX, NULL), RELAY_RESP_OK, 1, q.sid);
	rcmd(&cmds[0], RELAY_CMD_GET, 2, &q);
	relay_cmd_init(&cmds[1], RELAY_CMD_PING, 3, NULL);
	rcmd(&cmds[2], RELAY_CMD_GET, 4, &q);
	const uint8_t *keys[3] = {q.k_rauth, NULL, q.k_rauth};
	peer_reset(r);
	feed_cmds(r, cmds, keys, 3);
	flush_ok(f);
	assert_int_equal(r->n_resps, 3);
	assert_int_equal(r->n_blocks, 2); /* MSG + PONG, then MSG: two maximal MSGs never share */
	expect_msg(&r->resps[0], &q, 2, 0xee, RELAY_MSG_BODY_MAX);
	expect_resp(&r->resps[1], RELAY_RESP_PONG, 3, NULL);
	expect_msg(&r->resps[2], &q, 4, 0xee, RELAY_MSG_BODY_MAX);
}

/* ---- OFF, DEL ---- */

static void core__ok__off_blocks_send_keeps_reads(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	struct tq q;

	tq_new(r, &q);
	expect_resp(send_trip(s, 1, &q, 0x11, 11, NULL), RELAY_RESP_OK, 1, q.sid);
	expect_resp(rtrip(r, RELAY_CMD_OFF, 2, &q), RELAY_RESP_OK, 2, q.rid);
	expect_resp(rtrip(r, RELAY_CMD_OFF, 3, &q), RELAY_RESP_OK, 3, q.rid);
	expect_err(send_trip(s, 4, &q, 0x12, 12, NULL), RELAY_ERR_AUTH, 4);
	expect_msg(rtrip(r, RELAY_CMD_GET, 5, &q), &q, 5, 0x11, 11);
	expect_resp(rtrip(r, RELAY_CMD_SUB, 6, &q), RELAY_RESP_OK, 6, q.rid);
	expect_msg(&r->resps[1], &q, 0, 0x11, 11);
}

static void core__ok__del_removes_queue_and_subscription(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	struct tq q;

	tq_new(r, &q);
	expect_resp(rtrip(r, RELAY_CMD_SUB, 1, &q), RELAY_RESP_OK, 1, q.rid);
	expect_resp(send_trip(s, 2, &q, 1, 1, NULL), RELAY_RESP_OK, 2, q.sid);
	expect_resp(rtrip(r, RELAY_CMD_DEL, 3, &q), RELAY_RESP_OK, 3, q.rid);
	assert_int_equal(r->n_resps, 1);
	peer_reset(r);
	expect_err(send_trip(s, 4, &q, 1, 1, NULL), RELAY_ERR_AUTH, 4);
	assert_int_equal(r->n_resps, 0);
	expect_err(rtrip(r, RELAY_CMD_GET, 5, &q), RELAY_ERR_AUTH, 5);
	expect_err(rtrip(r, RELAY_CMD_DEL, 6, &q), RELAY_ERR_AUTH, 6);
	expect_err(rtrip(r, RELAY_CMD_OFF, 7, &q), RELAY_ERR_AUTH, 7);
	expect_err(rtrip(r, RELAY_CMD_SUB, 8, &q), RELAY_ERR_AUTH, 8);
}

static void core__auth__get_deleted_in_same_turn(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0];
	struct relay_cmd cmds[2];
	const uint8_t *keys[2];
	struct tq q;

	tq_new(r, &q);
	rcmd(&cmds[0], RELAY_CMD_GET, 1, &q);
	rcmd(&cmds[1], RELAY_CMD_DEL, 2, &q);
	keys[0] = keys[1] = q.k_rauth;
	peer_reset(r);
	feed_cmds(r, cmds, keys, 2);
	flush_ok(f);
	assert_int_equal(r->n_resps, 2);
	expect_err(&r->resps[0], RELAY_ERR_AUTH, 1);
	expect_resp(&r->resps[1], RELAY_RESP_OK, 2, q.rid);
}

/* ---- expiry ---- */

static void core__expire__ttl_with_manual_clock(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	uint32_t n;
	struct tq q;

	tq_new(r, &q);
	expect_resp(send_trip(s, 1, &q, 0xf1, 10, NULL), RELAY_RESP_OK, 1, q.sid);
	f->wall_s += 100;
	expect_resp(send_trip(s, 2, &q, 0xf2, 20, NULL), RELAY_RESP_OK, 2, q.sid);
	expect_resp(rtrip(r, RELAY_CMD_SUB, 3, &q), RELAY_RESP_OK, 3, q.rid);
	expect_msg(&r->resps[1], &q, 0, 0xf1, 10);
	/* Exactly the TTL old: kept. */
	peer_reset(r);
	assert_int_equal(relay_core_expire(f->core, WALL_START_S + RELAY_TTL_S_DEFAULT, &n),
	                 SOTTO_OK);
	assert_int_equal(n, 0);
	flush_ok(f);
	assert_int_equal(r->n_resps, 0);
	/* One second older: the first goes, and the subscriber gets the second. */
	assert_int_equal(relay_core_expire(f->core, WALL_START_S + RELAY_TTL_S_DEFAULT + 1, &n),
	                 SOTTO_OK);
	assert_int_equal(n, 1);
	assert_int_equal(r->n_resps, 0); /* pushed only after the commit */
	flush_ok(f);
	assert_int_equal(r->n_resps, 1);
	expect_msg(&r->resps[0], &q, 0, 0xf2, 20);
	assert_int_equal(relay_core_expire(f->core, relay_core_now_s(f->core) + 1000000000, &n),
	                 SOTTO_OK);
	assert_int_equal(n, 1);
	flush_ok(f);
	expect_resp(rtrip(r, RELAY_CMD_GET, 4, &q), RELAY_RESP_NONE, 4, q.rid);
}

static void core__expire__message_timestamp_is_wall_clock(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0];
	static uint8_t plain[RELAY_DELIVERY_PLAIN_MAX];
	struct relay_msg m;
	struct tq q;

	tq_new(r, &q);
	f->wall_s = WALL_START_S + 12345;
	expect_resp(send_trip(r, 1, &q, 0, 0, NULL), RELAY_RESP_OK, 1, q.sid);
	const struct relay_resp *got = rtrip(r, RELAY_CMD_GET, 2, &q);
	assert_int_equal(relay_msg_open(&m, plain, got, q.k_deliver), SOTTO_OK);
	assert_int_equal(m.timestamp, WALL_START_S + 12345);
}

/* ---- clients, configuration, memory ---- */

static void core__dead__output_failure_stops_client(void **state)
{
	struct fixture *f = *state;
	struct peer *a = &f->peers[0], *b = &f->peers[1];
	struct relay_cmd cmd;
	struct relay_stats st;

	relay_cmd_init(&cmd, RELAY_CMD_PING, 1, NULL);
	a->output_rc = SOTTO_ERR_BUSY;
	feed_one(a, &cmd, NULL);
	feed_one(b, &cmd, NULL);
	flush_ok(f);
	assert_true(relay_client_is_dead(a->client));
	assert_false(relay_client_is_dead(b->client));
	assert_int_equal(relay_client_feed(a->client, (const uint8_t *)"x", 1), SOTTO_ERR_STATE);
	expect_resp(roundtrip(b, &cmd, NULL), RELAY_RESP_PONG, 1, NULL);
	relay_core_stats(f->core, &st);
	assert_int_equal(st.n_clients_dropped, 1);
}

static void core__free__client_with_held_answers(void **state)
{
	struct fixture *f = *state;
	struct peer *a = &f->peers[0], *s = &f->peers[1];
	struct relay_stats st;
	struct tq q;

	tq_new(a, &q);
	expect_resp(rtrip(a, RELAY_CMD_SUB, 1, &q), RELAY_RESP_OK, 1, q.rid);
	/* A SEND holds a push for a; a goes away before the flush. */
	struct relay_cmd cmd;
	static const uint8_t body[1] = {1};
	send_cmd(&cmd, 2, &q, body, 1);
	feed_one(s, &cmd, NULL);
	relay_client_free(a->client);
	a->client = NULL;
	peer_reset(a);
	flush_ok(f);
	expect_resp(&s->resps[0], RELAY_RESP_OK, 2, q.sid);
	assert_int_equal(a->n_resps, 0);
	relay_core_stats(f->core, &st);
	assert_int_equal(st.n_clients, N_PEERS - 1);
	assert_int_equal(st.n_connections, N_PEERS);
	peer_attach(f, a);
}

static void core__invalid__config_above_max(void **state)
{
	struct fixture *f = *state;
	struct relay_core *core = (struct relay_core *)f; /* must be cleared */
	struct relay_core_config bad[3] = {{.quota = RELAY_QUOTA_MAX + 1},
	                                   {.ttl_s = RELAY_TTL_S_MAX + 1},
	                                   {.new_per_minute = RELAY_NEW_PER_MINUTE_MAX + 1}};

	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(relay_core_new(f->ctx, f->store, &bad[i], &core),
		                 SOTTO_ERR_INVALID);
		assert_null(core);
	}
}

static void core__nomem__new_and_client_fail_cleanly(void **state)
{
	struct fixture *f = *state;
	struct relay_core *core = NULL;
	struct relay_client *c = NULL;
	uint8_t sid[RELAY_SESSION_ID_LEN] = {0};
	long live = f->alloc.n_live;

	/* core, subscription table, dummy keys */
	for (unsigned long k = 1; k <= 3; k++) {
		f->alloc.fail_at = f->alloc.n_allocs + k;
		assert_int_equal(relay_core_new(f->ctx, f->store, NULL, &core), SOTTO_ERR_NOMEM);
		assert_null(core);
		assert_int_equal(f->alloc.n_live, live);
	}
	f->alloc.fail_at = f->alloc.n_allocs + 1;
	assert_int_equal(relay_client_new(f->core, sid, peer_output, NULL, &c), SOTTO_ERR_NOMEM);
	assert_null(c);
	assert_int_equal(f->alloc.n_live, live);
	f->alloc.fail_at = 0;
}

static void core__nomem__first_answer_drops_client_not_answer(void **state)
{
	struct fixture *f = *state;
	struct peer *p = &f->peers[0], *q = &f->peers[1];
	struct relay_cmd cmd;

	/* An idle client holds no answer array; its first answer allocates one. */
	relay_cmd_init(&cmd, RELAY_CMD_PING, 1, NULL);
	f->alloc.fail_at = f->alloc.n_allocs + 1;
	assert_int_equal(relay_client_feed(p->client, NULL, 0),
	                 SOTTO_OK); /* ERR BLOCK needs room */
	f->alloc.fail_at = 0;
	assert_true(relay_client_is_dead(p->client));
	flush_ok(f);
	assert_int_equal(p->n_resps, 0);
	/* Everyone else goes on. */
	expect_resp(roundtrip(q, &cmd, NULL), RELAY_RESP_PONG, 1, NULL);
}

/* ---- pushes paced by a busy output ---- */

enum {
	PACE_QUEUES = 40,
	PACE_BODY_LEN = 3000, /* about five MSG per block */
};

/* Counts p's MSG pushes per queue of qs into seen, keeping their ids. */
static void count_pushes(const struct peer *p, const struct tq *qs, unsigned *seen,
                         uint8_t ids[][RELAY_MSG_ID_LEN])
{
	for (size_t i = 0; i < p->n_resps; i++) {
		const struct relay_resp *r = &p->resps[i];
		if (r->code != RELAY_RESP_MSG)
			continue;
		for (size_t k = 0; k < PACE_QUEUES; k++) {
			if (memcmp(r->entity, qs[k].rid, RELAY_ID_LEN) != 0)
				continue;
			expect_msg(r, &qs[k], 0, (uint8_t)k, PACE_BODY_LEN);
			memcpy(ids[k], r->msg_id, RELAY_MSG_ID_LEN);
			seen[k]++;
		}
	}
}

static size_t sum_seen(const unsigned *seen)
{
	size_t total = 0;

	for (size_t k = 0; k < PACE_QUEUES; k++)
		total += seen[k];
	return total;
}

/* PACE_QUEUES queues of r, one message each from s; r subscribes to all in one batch. */
static void pace_setup(struct peer *r, struct peer *s, struct tq *qs)
{
	static struct relay_cmd cmds[PACE_QUEUES];
	static const uint8_t *keys[PACE_QUEUES];

	for (size_t k = 0; k < PACE_QUEUES; k++) {
		tq_new(r, &qs[k]);
		expect_resp(send_trip(s, 2, &qs[k], (uint8_t)k, PACE_BODY_LEN, NULL), RELAY_RESP_OK,
		            2, qs[k].sid);
		rcmd(&cmds[k], RELAY_CMD_SUB, (uint32_t)(10 + k), &qs[k]);
		keys[k] = qs[k].k_rauth;
	}
	peer_reset(r);
	r->busy_after = 3; /* the OK answers, then two blocks of pushes */
	for (size_t k = 0; k < PACE_QUEUES; k += RELAY_BATCH_MAX) {
		size_t n = PACE_QUEUES - k < RELAY_BATCH_MAX ? PACE_QUEUES - k : RELAY_BATCH_MAX;
		feed_cmds(r, &cmds[k], &keys[k], n);
	}
	flush_ok(r->f);
}

static void core__push__waits_while_busy_and_resumes_on_unblock(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0];
	static struct tq qs[PACE_QUEUES];
	static uint8_t ids[PACE_QUEUES][RELAY_MSG_ID_LEN];
	unsigned seen[PACE_QUEUES] = {0};
	struct relay_stats st;
	struct relay_cmd ack;
	size_t first;

	pace_setup(r, &f->peers[1], qs);
	assert_false(relay_client_is_dead(r->client));
	assert_int_equal(r->n_blocks, 3);
	for (size_t k = 0; k < PACE_QUEUES; k++)
		expect_resp(&r->resps[k], RELAY_RESP_OK, (uint32_t)(10 + k), qs[k].rid);
	count_pushes(r, qs, seen, ids);
	first = sum_seen(seen);
	assert_true(first > 0 && first < PACE_QUEUES);
	flush_ok(f); /* still blocked: no push */
	assert_int_equal(r->n_blocks, 3);
	r->busy_after = 0; /* answers still go out while pushes wait */
	relay_cmd_init(&ack, RELAY_CMD_PING, 90, NULL);
	expect_resp(roundtrip(r, &ack, NULL), RELAY_RESP_PONG, 90, NULL);
	assert_int_equal(r->n_resps, 1);

	peer_reset(r);
	relay_client_unblock(r->client);
	flush_ok(f);
	count_pushes(r, qs, seen, ids);
	for (size_t k = 0; k < PACE_QUEUES; k++)
		assert_int_equal(seen[k], 1);
	relay_core_stats(f->core, &st);
	assert_int_equal(st.n_msgs_out, PACE_QUEUES);
	for (size_t k = 0; k < PACE_QUEUES; k++) {
		ack_cmd(&ack, (uint32_t)(200 + k), &qs[k], ids[k]);
		expect_resp(roundtrip(r, &ack, qs[k].k_rauth), RELAY_RESP_OK, (uint32_t)(200 + k),
		            qs[k].rid);
		assert_int_equal(r->n_resps, 1); /* the queue is empty: nothing pushed */
	}
}

/*
 * One queue's window spans several blocks and the output refuses one of
 * them: the refused messages are pushed again on unblock, after the ones
 * that left, each exactly once and in order.
 */
static void core__push__window_across_refused_block_resumes_in_order(void **state)
{
	enum { BODY = 5000 }; /* three MSGs fill a block */
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	struct relay_stats st;
	struct relay_cmd cmd;
	size_t n_seen = 0, n_first;
	struct tq q;

	tq_new(r, &q);
	for (unsigned i = 0; i < RELAY_PUSH_WINDOW; i++)
		expect_resp(send_trip(s, 1 + i, &q, (uint8_t)(0x10 + i), BODY, NULL), RELAY_RESP_OK,
		            1 + i, q.sid);
	peer_reset(r);
	r->busy_after = 2; /* the OK and the first block of pushes */
	rcmd(&cmd, RELAY_CMD_SUB, 50, &q);
	feed_one(r, &cmd, q.k_rauth);
	flush_ok(f);
	expect_resp(&r->resps[0], RELAY_RESP_OK, 50, q.rid);
	n_first = r->n_resps - 1;
	assert_true(n_first > 0 && n_first < RELAY_PUSH_WINDOW);
	for (size_t i = 0; i < n_first; i++)
		expect_msg(&r->resps[1 + i], &q, 0, (uint8_t)(0x10 + n_seen++), BODY);
	flush_ok(f); /* still blocked: nothing more */
	assert_int_equal(r->n_resps, 1 + n_first);
	peer_reset(r);
	r->busy_after = 0;
	relay_client_unblock(r->client);
	flush_ok(f);
	assert_int_equal(r->n_resps, RELAY_PUSH_WINDOW - n_first);
	for (size_t i = 0; i < r->n_resps; i++)
		expect_msg(&r->resps[i], &q, 0, (uint8_t)(0x10 + n_seen++), BODY);
	relay_core_stats(f->core, &st);
	assert_int_equal(st.n_msgs_out, RELAY_PUSH_WINDOW);
}

static void core__push__refused_answers_kill_the_client__busy_output(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0];
	struct relay_cmd cmd;

	r->busy_after = 1;
	relay_cmd_init(&cmd, RELAY_CMD_PING, 1, NULL);
	expect_resp(roundtrip(r, &cmd, NULL), RELAY_RESP_PONG, 1, NULL);
	relay_cmd_init(&cmd, RELAY_CMD_PING, 2, NULL);
	feed_one(r, &cmd, NULL);
	flush_ok(f);
	assert_true(relay_client_is_dead(r->client));
	assert_int_equal(r->n_blocks, 1);
}

/* ---- pipelined sync (a sync hook over a store with defer_sync) ---- */

static unsigned n_sync_starts;

static void count_sync_start(void *user)
{
	(void)user;
	n_sync_starts++;
}

/* Reopens the store with defer_sync and makes a core with the counting hook. */
static void fx_pipelined(struct fixture *f)
{
	struct relay_store_config scfg = {.defer_sync = true};
	struct relay_core_config ccfg = {.sync_start = count_sync_start};

	for (unsigned i = 0; i < N_PEERS; i++)
		peer_reset(&f->peers[i]);
	relay_core_free(f->core);
	f->core = NULL;
	relay_store_free(f->store);
	assert_int_equal(relay_store_new(f->ctx, f->store_dir, &scfg, &f->store), SOTTO_OK);
	assert_true(relay_store_defers_sync(f->store));
	n_sync_starts = 0;
	fx_core(f, &ccfg);
}

/* The hook's sync, as the transport runs it (here on the same thread). */
static void sync_now(struct fixture *f)
{
	assert_true(relay_core_is_syncing(f->core));
	assert_int_equal(relay_core_sync_done(f->core, relay_store_sync(f->store)), SOTTO_OK);
}

/* tq_new under the hook: NEW, flush (sync starts), sync, flush (IDS out). */
static void tq_new_pipelined(struct peer *p, struct tq *q)
{
	struct relay_cmd cmd;
	const struct relay_resp *r;

	memset(q, 0, sizeof(*q));
	x25519_keypair_generate(p->f->ctx, &q->rk);
	x25519_keypair_generate(p->f->ctx, &q->sk);
	relay_cmd_init(&cmd, RELAY_CMD_NEW, 1, NULL);
	memcpy(cmd.key, q->rk.pub, RELAY_KEY_LEN);
	peer_reset(p);
	feed_one(p, &cmd, NULL);
	flush_ok(p->f);
	assert_int_equal(p->n_resps, 0);
	sync_now(p->f);
	flush_ok(p->f);
	assert_int_equal(p->n_resps, 1);
	r = &p->resps[0];
	expect_resp(r, RELAY_RESP_IDS, 1, NULL);
	memcpy(q->rid, r->rid, RELAY_ID_LEN);
	memcpy(q->sid, r->sid, RELAY_ID_LEN);
	assert_int_equal(relay_keys_recipient(q->k_rauth, q->k_deliver, q->rk.priv, r->srk),
	                 SOTTO_OK);
	assert_int_equal(relay_keys_sender(q->k_sauth, q->sk.priv, r->ssk), SOTTO_OK);
}

static void core_sync__answers_wait_for_their_sync__pipelined(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	static const uint8_t body[4] = {1, 2, 3, 4};
	struct relay_cmd cmd;
	struct tq q;

	fx_pipelined(f);
	tq_new_pipelined(r, &q);
	assert_int_equal(n_sync_starts, 1);
	/* Turn 1: a SEND. Committed, not durable: no answer; one sync starts. */
	send_cmd(&cmd, 1, &q, body, sizeof(body));
	feed_one(s, &cmd, NULL);
	flush_ok(f);
	assert_int_equal(s->n_resps, 0);
	assert_int_equal(n_sync_starts, 2);
	/* Turn 2 runs while that sync does: a SEND and a PING wait behind it. */
	send_cmd(&cmd, 2, &q, body, sizeof(body));
	feed_one(s, &cmd, NULL);
	relay_cmd_init(&cmd, RELAY_CMD_PING, 3, NULL);
	feed_one(s, &cmd, NULL);
	flush_ok(f);
	assert_int_equal(s->n_resps, 0);
	assert_int_equal(n_sync_starts, 2); /* one sync at a time */
	/* The first sync covered turn 1 only: its OK goes out, and the next sync starts. */
	sync_now(f);
	flush_ok(f);
	assert_int_equal(s->n_resps, 1);
	expect_resp(&s->resps[0], RELAY_RESP_OK, 1, q.sid);
	assert_int_equal(n_sync_starts, 3);
	sync_now(f);
	flush_ok(f);
	assert_int_equal(s->n_resps, 3);
	expect_resp(&s->resps[1], RELAY_RESP_OK, 2, q.sid);
	expect_resp(&s->resps[2], RELAY_RESP_PONG, 3, NULL);
	/* Nothing left to sync: an idle turn starts none and answers at once. */
	peer_reset(s);
	feed_one(s, &cmd, NULL);
	flush_ok(f);
	assert_int_equal(n_sync_starts, 3);
	expect_resp(&s->resps[0], RELAY_RESP_PONG, 3, NULL);
	assert_int_equal(relay_core_sync_done(f->core, SOTTO_OK), SOTTO_ERR_STATE);
}

static void core_sync__get_waits_for_a_message_not_yet_durable__pipelined(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	static const uint8_t body[5] = {5, 5, 5, 5, 5};
	struct relay_cmd cmd;
	struct tq q, q2;

	fx_pipelined(f);
	tq_new_pipelined(r, &q);
	tq_new_pipelined(r, &q2);
	/* Turn A: a GET on the empty q, and a write elsewhere (so turn A commits). */
	peer_reset(r);
	rcmd(&cmd, RELAY_CMD_GET, 7, &q);
	feed_one(r, &cmd, q.k_rauth);
	send_cmd(&cmd, 1, &q2, body, sizeof(body));
	feed_one(s, &cmd, NULL);
	flush_ok(f);
	/* Turn B, while A's sync runs: a SEND to q. A's sync ends before B's flush. */
	send_cmd(&cmd, 2, &q, body, sizeof(body));
	feed_one(s, &cmd, NULL);
	sync_now(f);
	flush_ok(f);
	/*
	 * The GET is due, but q's oldest message is B's, not durable yet: it
	 * must not be delivered (a crash now would lose it after the recipient
	 * saw it), so the GET waits.
	 */
	assert_int_equal(r->n_resps, 0);
	assert_int_equal(s->n_resps, 1);
	expect_resp(&s->resps[0], RELAY_RESP_OK, 1, q2.sid);
	sync_now(f);
	flush_ok(f);
	assert_int_equal(r->n_resps, 1);
	expect_msg(&r->resps[0], &q, 7, 5, sizeof(body));
	assert_int_equal(s->n_resps, 2);
	expect_resp(&s->resps[1], RELAY_RESP_OK, 2, q.sid);
}

static void core_sync__push_after_ack_waits_for_durable_message__pipelined(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	static const uint8_t b1[3] = {1, 1, 1}, b2[3] = {2, 2, 2};
	struct relay_cmd cmd;
	struct tq q;

	fx_pipelined(f);
	tq_new_pipelined(r, &q);
	peer_reset(r);
	rcmd(&cmd, RELAY_CMD_SUB, 1, &q);
	feed_one(r, &cmd, q.k_rauth);
	send_cmd(&cmd, 1, &q, b1, sizeof(b1));
	feed_one(s, &cmd, NULL);
	flush_ok(f);
	sync_now(f);
	flush_ok(f);
	assert_int_equal(r->n_resps, 2);
	expect_resp(&r->resps[0], RELAY_RESP_OK, 1, q.rid);
	expect_msg(&r->resps[1], &q, 0, 1, sizeof(b1));
	/* Turn A: ACK (the next push is due with it). */
	ack_cmd(&cmd, 2, &q, r->resps[1].msg_id);
	peer_reset(r);
	feed_one(r, &cmd, q.k_rauth);
	flush_ok(f);
	/* Turn B: a second message arrives; A's sync ends before B's flush. */
	send_cmd(&cmd, 2, &q, b2, sizeof(b2));
	feed_one(s, &cmd, NULL);
	sync_now(f);
	flush_ok(f);
	/* The ACK's OK is durable; the push must wait for B's sync. */
	assert_int_equal(r->n_resps, 1);
	expect_resp(&r->resps[0], RELAY_RESP_OK, 2, q.rid);
	sync_now(f);
	flush_ok(f);
	assert_int_equal(r->n_resps, 2);
	expect_msg(&r->resps[1], &q, 0, 2, sizeof(b2));
}

static void core_sync__push_of_durable_message_does_not_wait_for_ack_sync__pipelined(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	static const uint8_t b1[2] = {1, 1}, b2[2] = {2, 2};
	struct relay_cmd cmd;
	struct tq q;

	fx_pipelined(f);
	tq_new_pipelined(r, &q);
	/* One more message than the push window. */
	for (unsigned i = 0; i <= RELAY_PUSH_WINDOW; i++) {
		send_cmd(&cmd, 1, &q, i == RELAY_PUSH_WINDOW ? b2 : b1, sizeof(b1));
		feed_one(s, &cmd, NULL);
	}
	flush_ok(f);
	sync_now(f);
	flush_ok(f);
	peer_reset(r);
	rcmd(&cmd, RELAY_CMD_SUB, 3, &q);
	feed_one(r, &cmd, q.k_rauth);
	flush_ok(f); /* no write: the OK and the window's pushes go out at once */
	assert_int_equal(r->n_resps, 1 + RELAY_PUSH_WINDOW);
	expect_msg(&r->resps[1], &q, 0, 1, sizeof(b1));
	/* ACK: its OK waits for its sync, but the next message is durable: pushed now. */
	ack_cmd(&cmd, 4, &q, r->resps[1].msg_id);
	peer_reset(r);
	feed_one(r, &cmd, q.k_rauth);
	flush_ok(f);
	assert_int_equal(r->n_resps, 1);
	expect_msg(&r->resps[0], &q, 0, 2, sizeof(b2));
	sync_now(f);
	flush_ok(f);
	assert_int_equal(r->n_resps, 2);
	expect_resp(&r->resps[1], RELAY_RESP_OK, 4, q.rid);
}

static void core_sync__failed_sync_answers_internal_then_refuses__pipelined(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	static const uint8_t body[2] = {9, 9};
	struct relay_cmd cmd;
	struct relay_stats st;
	struct tq q;

	fx_pipelined(f);
	tq_new_pipelined(r, &q);
	send_cmd(&cmd, 1, &q, body, sizeof(body));
	feed_one(s, &cmd, NULL);
	flush_ok(f);
	assert_int_equal(relay_core_sync_done(f->core, SOTTO_ERR_IO), SOTTO_ERR_IO);
	/* The fsync failed: the SEND is not confirmed. */
	assert_int_equal(relay_core_flush(f->core), SOTTO_ERR_IO);
	assert_int_equal(s->n_resps, 1);
	expect_err(&s->resps[0], RELAY_ERR_INTERNAL, 1);
	/* Nothing is confirmed any more, and no further sync is started. */
	peer_reset(s);
	send_cmd(&cmd, 2, &q, body, sizeof(body));
	feed_one(s, &cmd, NULL);
	assert_int_equal(relay_core_flush(f->core), SOTTO_ERR_IO);
	expect_err(&s->resps[0], RELAY_ERR_INTERNAL, 2);
	assert_false(relay_core_is_syncing(f->core));
	relay_core_stats(f->core, &st);
	assert_int_equal(st.n_commit_failures, 1);
}

static void core_sync__flush_wait_emits_everything__pipelined(void **state)
{
	struct fixture *f = *state;
	struct peer *r = &f->peers[0], *s = &f->peers[1];
	static const uint8_t body[1] = {7};
	struct relay_cmd cmd;
	struct tq q;

	fx_pipelined(f);
	tq_new_pipelined(r, &q);
	send_cmd(&cmd, 1, &q, body, sizeof(body));
	feed_one(s, &cmd, NULL);
	flush_ok(f);
	send_cmd(&cmd, 2, &q, body, sizeof(body));
	feed_one(s, &cmd, NULL);
	assert_int_equal(relay_core_flush_wait(f->core), SOTTO_OK);
	assert_int_equal(s->n_resps, 2);
	expect_resp(&s->resps[0], RELAY_RESP_OK, 1, q.sid);
	expect_resp(&s->resps[1], RELAY_RESP_OK, 2, q.sid);
	/* The hook's sync, still running, settles nothing new. */
	sync_now(f);
	flush_ok(f);
	assert_int_equal(s->n_resps, 2);
}

static void core_sync__early_flush_syncs_inline__pipelined(void **state)
{
	struct fixture *f = *state;
	struct peer *p = &f->peers[0];
	struct relay_cmd cmds[RELAY_BATCH_MAX];
	unsigned n_blocks = RELAY_HELD_MAX / RELAY_BATCH_MAX + 1;

	fx_pipelined(f);
	for (unsigned i = 0; i < RELAY_BATCH_MAX; i++)
		relay_cmd_init(&cmds[i], RELAY_CMD_PING, i, NULL);
	for (unsigned k = 0; k < n_blocks; k++)
		feed_cmds(p, cmds, NULL, RELAY_BATCH_MAX);
	assert_int_equal(p->n_resps, RELAY_HELD_MAX - 1);
	flush_ok(f);
	assert_int_equal(p->n_resps, (size_t)n_blocks * RELAY_BATCH_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
	        T(core__ids__new_answers_keys_that_authorise),
	        T(core__pong__ping_echoes_corr),
	        T(core__err_block__malformed_block),
	        T(core__err_block__transmission_shorter_than_header),
	        T(core__err_cmd__unknown_code_and_wrong_body),
	        T(core__err_large__send_body_over_limit),
	        T(core__err_cmd__new_with_low_order_key),
	        T(core__ok__key_secures_then_send_needs_sauth),
	        T(core__ok__skey_proves_possession),
	        T(core__auth__skey_low_order_key_and_unknown_sid),
	        T(core__err_cmd__key_with_low_order_key),
	        T(core__auth__same_bytes_unknown_rid_and_wrong_mac),
	        T(core__auth__suspended_send_same_as_unknown_sid),
	        T(core__auth__replay_under_other_session),
	        T(core__msg__send_get_ack_none),
	        T(core__no_msg__ack_of_another_id),
	        T(core__push__window_then_next_after_each_ack),
	        T(core__push__get_elsewhere_leaves_window),
	        T(core__end__second_sub_takes_over),
	        T(core__redeliver__unacked_after_resubscribe),
	        T(core__reencrypt__send_and_msg_share_no_run),
	        T(core__quota__default_128),
	        T(core__quota__small_config_then_ack_frees),
	        T(core__quota__refused_until_resume_pipelined_sends_never_overtake),
	        T(core__quota__too_many_refused_queues_close_the_connection),
	        T(core__rate__new_per_minute_with_manual_clock),
	        T(core__push__waits_while_busy_and_resumes_on_unblock),
	        T(core__push__window_across_refused_block_resumes_in_order),
	        T(core__push__refused_answers_kill_the_client__busy_output),
	        T(core__group_commit__answers_only_after_flush),
	        T(core__group_commit__failed_commit_answers_internal),
	        T(core__held__early_flush_bounds_answers),
	        T(core__pack__large_answers_split_blocks),
	        T(core__ok__off_blocks_send_keeps_reads),
	        T(core__ok__del_removes_queue_and_subscription),
	        T(core__auth__get_deleted_in_same_turn),
	        T(core__expire__ttl_with_manual_clock),
	        T(core__expire__message_timestamp_is_wall_clock),
	        T(core__dead__output_failure_stops_client),
	        T(core__free__client_with_held_answers),
	        T(core__invalid__config_above_max),
	        T(core__nomem__new_and_client_fail_cleanly),
	        T(core__nomem__first_answer_drops_client_not_answer),
	        T(core_sync__answers_wait_for_their_sync__pipelined),
	        T(core_sync__get_waits_for_a_message_not_yet_durable__pipelined),
	        T(core_sync__push_after_ack_waits_for_durable_message__pipelined),
	        T(core_sync__push_of_durable_message_does_not_wait_for_ack_sync__pipelined),
	        T(core_sync__failed_sync_answers_internal_then_refuses__pipelined),
	        T(core_sync__flush_wait_emits_everything__pipelined),
	        T(core_sync__early_flush_syncs_inline__pipelined),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
