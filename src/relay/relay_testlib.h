/* SPDX-License-Identifier: MIT */
/*
 * relay_testlib.h - helpers shared by the relay layer's loopback tests
 * (server_test.c, limits_test.c). Test code only: it uses cmocka, is
 * header-only (static inline, so a test that leaves a helper unused still
 * compiles warning-free) and is never part of libsotto.
 *
 * A struct rt_world is one uv loop running a relay_server on 127.0.0.1
 * (ephemeral port, SQLite store in a fresh temporary directory), a guard
 * timer that fails a scenario that would hang and, if asked for, a poll
 * timer that calls the scenario's on_poll. Callbacks never assert: they
 * record broken expectations with RT_EXPECT, and rt_world_run fails the test
 * on the first one once the loop has stopped.
 *
 * A struct rt_cli is a good client made with net_conn_dial and the codec:
 * each transmission of each block it receives is parsed and handed to its
 * on_resp. struct rt_keys is a queue as its recipient and sender know it.
 */
#ifndef SOTTO_RELAY_RELAY_TESTLIB_H
#define SOTTO_RELAY_RELAY_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/conn.h"
#include "net/session.h"
#include "relay/cmd.h"
#include "relay/server.h"
#include "relay/store.h"
#include "test_util.h"

struct rt_world;
typedef void rt_world_fn(struct rt_world *w);

struct rt_world {
	uv_loop_t loop;
	struct tu_alloc alloc;
	struct tu_rng rng;
	sotto_ctx *ctx;
	char dir[64];
	char store_dir[96];
	struct relay_store *store;
	struct x25519_keypair relay_kp;
	struct net_addr addr;
	struct relay_server *server;
	struct relay_stats final_stats; /* taken just before the server closes */
	uv_timer_t guard, poll;
	bool has_poll;
	rt_world_fn *on_poll; /* the scenario's look at its state, every poll period */
	bool guard_fired;
	bool finished;
	unsigned n_errors; /* expectations broken inside callbacks */
	char first_error[160];
	void *scenario;
};

#define RT_EXPECT(w, cond)                                                                         \
	do {                                                                                       \
		if (!(cond))                                                                       \
			rt_expect_failed((w), #cond, __LINE__);                                    \
	} while (0)

static inline void rt_expect_failed(struct rt_world *w, const char *what, int line)
{
	if (w->n_errors++ == 0)
		snprintf(w->first_error, sizeof(w->first_error), "line %d: %s", line, what);
}

static inline void rt_on_guard(uv_timer_t *t)
{
	struct rt_world *w = t->data;
	w->guard_fired = true;
	uv_stop(&w->loop);
}

static inline void rt_on_poll(uv_timer_t *t)
{
	struct rt_world *w = t->data;
	if (w->on_poll != NULL && !w->finished)
		w->on_poll(w);
}

/*
 * Starts the relay (cfg may be NULL) with a context seeded by seed, the guard
 * (guard_ms) and, unless poll_ms is 0, the poll timer.
 */
static inline void rt_world_init(struct rt_world *w, const struct relay_server_config *cfg,
                                 uint64_t seed, uint64_t guard_ms, uint64_t poll_ms)
{
	memset(w, 0, sizeof(*w));
	assert_int_equal(uv_loop_init(&w->loop), 0);
	tu_rng_init(&w->rng, seed);
	w->ctx = tu_ctx(&w->alloc, &w->rng, NULL);
	snprintf(w->dir, sizeof(w->dir), "/tmp/sotto-relay-test-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->store_dir, sizeof(w->store_dir), "%s/relay", w->dir);
	assert_int_equal(relay_store_new(w->ctx, w->store_dir, NULL, &w->store), SOTTO_OK);
	x25519_keypair_generate(w->ctx, &w->relay_kp);
	assert_int_equal(relay_server_new(w->ctx, &w->loop, "127.0.0.1", 0, &w->relay_kp, w->store,
	                                  cfg, &w->server),
	                 SOTTO_OK);
	memcpy(w->addr.key, w->relay_kp.pub, NET_ADDR_KEY_LEN);
	memcpy(w->addr.host, "127.0.0.1", 10);
	w->addr.port = relay_server_port(w->server);
	assert_true(w->addr.port != 0);
	assert_int_equal(uv_timer_init(&w->loop, &w->guard), 0);
	w->guard.data = w;
	assert_int_equal(uv_timer_start(&w->guard, rt_on_guard, guard_ms, 0), 0);
	if (poll_ms == 0)
		return;
	assert_int_equal(uv_timer_init(&w->loop, &w->poll), 0);
	w->poll.data = w;
	w->has_poll = true;
	assert_int_equal(uv_timer_start(&w->poll, rt_on_poll, poll_ms, poll_ms), 0);
}

/* Closes the server and the timers: the loop then runs dry and returns. */
static inline void rt_world_finish(struct rt_world *w)
{
	if (w->finished)
		return;
	w->finished = true;
	relay_core_stats(relay_server_core(w->server), &w->final_stats);
	relay_server_close(w->server);
	w->server = NULL;
	uv_close((uv_handle_t *)&w->guard, NULL);
	if (w->has_poll)
		uv_close((uv_handle_t *)&w->poll, NULL);
}

/* Runs the loop to the end: then every handle and connection must be gone. */
static inline void rt_world_run(struct rt_world *w)
{
	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (w->guard_fired)
		fail_msg("guard timer fired: the scenario hung");
	if (w->n_errors != 0)
		fail_msg("%u broken expectations, first: %s", w->n_errors, w->first_error);
	assert_int_equal(uv_loop_close(&w->loop), 0);
}

/* Closes the store; nothing may be left allocated; removes the directory. */
static inline void rt_world_free(struct rt_world *w)
{
	static const char *const names[] = {"relay.db", "relay.db-wal", "relay.db-shm"};
	char path[160];

	relay_store_free(w->store);
	sotto_ctx_free(w->ctx);
	assert_int_equal(w->alloc.n_live, 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", w->store_dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(w->store_dir);
	(void)rmdir(w->dir);
}

static inline void rt_world_run_and_free(struct rt_world *w)
{
	rt_world_run(w);
	rt_world_free(w);
}

/* ---- good clients over net_conn ---- */

struct rt_cli;
typedef void rt_cli_fn(struct rt_cli *c);
/* r parsed from tx (tx_len bytes, borrowed for the call). */
typedef void rt_cli_resp_fn(struct rt_cli *c, const struct relay_resp *r, const uint8_t *tx,
                            size_t tx_len);

struct rt_cli {
	struct rt_world *w;
	struct net_conn *conn;
	uint8_t session_id[NET_SESSION_ID_LEN];
	rt_cli_fn *on_open;
	rt_cli_resp_fn *on_resp;
	bool is_open, is_closed;
	sotto_err close_reason;
	void *scenario;
};

/* A queue as its recipient and sender know it. */
struct rt_keys {
	uint8_t rid[RELAY_ID_LEN];
	uint8_t sid[RELAY_ID_LEN];
	struct x25519_keypair rk, sk;
	uint8_t k_rauth[RELAY_KEY_LEN];
	uint8_t k_deliver[RELAY_KEY_LEN];
	uint8_t k_sauth[RELAY_KEY_LEN];
};

static inline void rt_cli_on_open(void *user, struct net_conn *conn, const uint8_t *sid,
                                  uint16_t version)
{
	struct rt_cli *c = user;
	(void)conn;
	(void)version;
	memcpy(c->session_id, sid, NET_SESSION_ID_LEN);
	c->is_open = true;
	if (c->on_open != NULL)
		c->on_open(c);
}

static inline void rt_cli_on_block(void *user, struct net_conn *conn, const uint8_t *content,
                                   size_t len)
{
	struct rt_cli *c = user;
	struct relay_batch batch;
	struct relay_resp r;
	(void)conn;

	RT_EXPECT(c->w, relay_batch_parse(&batch, content, len) == SOTTO_OK);
	for (size_t i = 0; i < batch.n_tx && !c->is_closed; i++) {
		RT_EXPECT(c->w, relay_resp_parse(&r, batch.tx[i].buf, batch.tx[i].len) == SOTTO_OK);
		if (c->on_resp != NULL)
			c->on_resp(c, &r, batch.tx[i].buf, batch.tx[i].len);
	}
}

static inline void rt_cli_on_close(void *user, struct net_conn *conn, sotto_err reason)
{
	struct rt_cli *c = user;
	(void)conn;
	c->is_closed = true;
	c->close_reason = reason;
	c->conn = NULL;
}

/* Dials the relay; on_open and on_resp may be NULL. */
static inline void rt_cli_dial(struct rt_world *w, struct rt_cli *c, void *scenario,
                               rt_cli_fn *on_open, rt_cli_resp_fn *on_resp)
{
	struct net_conn_callbacks cb = {.on_open = rt_cli_on_open,
	                                .on_block = rt_cli_on_block,
	                                .on_close = rt_cli_on_close,
	                                .user = c};
	memset(c, 0, sizeof(*c));
	c->w = w;
	c->scenario = scenario;
	c->on_open = on_open;
	c->on_resp = on_resp;
	RT_EXPECT(w, net_conn_dial(w->ctx, &w->loop, &w->addr, NULL, &cb, &c->conn) == SOTTO_OK);
}

static inline void rt_cli_close(struct rt_cli *c)
{
	if (c->conn != NULL && !c->is_closed)
		net_conn_close(c->conn);
}

/* Sends content as one block, whatever it holds. */
static inline void rt_cli_send_block(struct rt_cli *c, const uint8_t *content, size_t len)
{
	RT_EXPECT(c->w, c->conn != NULL && net_conn_send(c->conn, content, len) == SOTTO_OK);
}

/* Sends one transmission (any bytes) alone in a well-formed batch. */
static inline void rt_cli_send_tx(struct rt_cli *c, const uint8_t *tx, size_t tx_len)
{
	static uint8_t buf[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw;
	size_t len;

	relay_batch_writer_init(&bw, buf);
	RT_EXPECT(c->w, relay_batch_writer_add(&bw, tx, tx_len) == SOTTO_OK);
	RT_EXPECT(c->w, relay_batch_writer_finish(&bw, &len) == SOTTO_OK);
	rt_cli_send_block(c, buf, len);
}

/*
 * Encodes cmd (MAC'd under key for this connection unless key is NULL) into
 * tx (RELAY_CMD_MAX_LEN bytes) and returns its length.
 */
static inline size_t rt_cli_encode(struct rt_cli *c, uint8_t *tx, const struct relay_cmd *cmd,
                                   const uint8_t *key)
{
	size_t len = 0;

	RT_EXPECT(c->w, relay_cmd_encode(tx, RELAY_CMD_MAX_LEN, &len, cmd, key,
	                                 key != NULL ? c->session_id : NULL) == SOTTO_OK);
	return len;
}

/* Sends one command (MAC'd under key unless NULL) in its own block. */
static inline void rt_cli_send(struct rt_cli *c, const struct relay_cmd *cmd, const uint8_t *key)
{
	static uint8_t tx[RELAY_CMD_MAX_LEN];
	rt_cli_send_tx(c, tx, rt_cli_encode(c, tx, cmd, key));
}

/* NEW: fresh recipient and sender key pairs into k, the recipient's sent. */
static inline void rt_send_new(struct rt_cli *c, struct rt_keys *k, uint32_t corr)
{
	struct relay_cmd cmd;

	x25519_keypair_generate(c->w->ctx, &k->rk);
	x25519_keypair_generate(c->w->ctx, &k->sk);
	relay_cmd_init(&cmd, RELAY_CMD_NEW, corr, NULL);
	memcpy(cmd.key, k->rk.pub, RELAY_KEY_LEN);
	rt_cli_send(c, &cmd, NULL);
}

/* IDS: the queue's IDs and the keys both ends derive. */
static inline void rt_take_ids(struct rt_world *w, struct rt_keys *k, const struct relay_resp *r)
{
	memcpy(k->rid, r->rid, RELAY_ID_LEN);
	memcpy(k->sid, r->sid, RELAY_ID_LEN);
	RT_EXPECT(w,
	          relay_keys_recipient(k->k_rauth, k->k_deliver, k->rk.priv, r->srk) == SOTTO_OK);
	RT_EXPECT(w, relay_keys_sender(k->k_sauth, k->sk.priv, r->ssk) == SOTTO_OK);
}

#endif /* SOTTO_RELAY_RELAY_TESTLIB_H */
