/* SPDX-License-Identifier: MIT */
/*
 * server_test.c - the relay server over real loopback sockets: one uv loop
 * runs a relay_server on 127.0.0.1 (ephemeral port, SQLite store in a fresh
 * temporary directory) and clients made with net_conn_dial and the codec.
 * Scenarios are small state machines driven by the answers; callbacks only
 * record and take the next step, and the test checks the record once the
 * loop has stopped. A guard timer fails a scenario that would hang; nothing
 * asserts on timing.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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

enum {
	GUARD_MS = 60000,     /* fails the test; never reached when things work */
	RAW_BLOCKS_MAX = 400, /* GET blocks the slow reader may write before giving up */
};

struct world {
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
	uv_timer_t guard;
	bool guard_fired;
	bool finished;
	unsigned n_errors; /* expectations broken inside callbacks */
	char first_error[160];
	void *scenario;
};

#define EXPECT(w, cond)                                                                            \
	do {                                                                                       \
		if (!(cond))                                                                       \
			expect_failed((w), #cond, __LINE__);                                       \
	} while (0)

static void expect_failed(struct world *w, const char *what, int line)
{
	if (w->n_errors++ == 0)
		snprintf(w->first_error, sizeof(w->first_error), "line %d: %s", line, what);
}

static void on_guard(uv_timer_t *t)
{
	struct world *w = t->data;
	w->guard_fired = true;
	uv_stop(&w->loop);
}

static void world_init(struct world *w, const struct relay_server_config *cfg)
{
	memset(w, 0, sizeof(*w));
	assert_int_equal(uv_loop_init(&w->loop), 0);
	tu_rng_init(&w->rng, 4242);
	w->ctx = tu_ctx(&w->alloc, &w->rng, NULL);
	snprintf(w->dir, sizeof(w->dir), "/tmp/sotto-server-test-XXXXXX");
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
	assert_int_equal(uv_timer_start(&w->guard, on_guard, GUARD_MS, 0), 0);
}

/* Closes the server and the guard: the loop then runs dry and returns. */
static void world_finish(struct world *w)
{
	if (w->finished)
		return;
	w->finished = true;
	relay_core_stats(relay_server_core(w->server), &w->final_stats);
	relay_server_close(w->server);
	w->server = NULL;
	uv_close((uv_handle_t *)&w->guard, NULL);
}

/* Runs the loop to the end: then every handle and connection must be gone. */
static void world_run(struct world *w)
{
	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (w->guard_fired)
		fail_msg("guard timer fired: the scenario hung");
	if (w->n_errors != 0)
		fail_msg("%u broken expectations, first: %s", w->n_errors, w->first_error);
	assert_int_equal(uv_loop_close(&w->loop), 0);
}

/* Closes the store; nothing may be left allocated; removes the directory. */
static void world_free(struct world *w)
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

static void world_run_and_free(struct world *w)
{
	world_run(w);
	world_free(w);
}

/* ---- clients over net_conn ---- */

struct cli;
typedef void cli_fn(struct cli *c);
typedef void cli_resp_fn(struct cli *c, const struct relay_resp *r);

struct cli {
	struct world *w;
	struct net_conn *conn;
	uint8_t session_id[NET_SESSION_ID_LEN];
	cli_fn *on_open;
	cli_resp_fn *on_resp;
	bool is_closed;
	sotto_err close_reason;
	void *scenario;
};

/* A queue as its recipient and sender know it. */
struct keys {
	uint8_t rid[RELAY_ID_LEN];
	uint8_t sid[RELAY_ID_LEN];
	struct x25519_keypair rk, sk;
	uint8_t k_rauth[RELAY_KEY_LEN];
	uint8_t k_deliver[RELAY_KEY_LEN];
	uint8_t k_sauth[RELAY_KEY_LEN];
};

static void cli_on_open(void *user, struct net_conn *conn, const uint8_t *sid, uint16_t version)
{
	struct cli *c = user;
	(void)conn;
	(void)version;
	memcpy(c->session_id, sid, NET_SESSION_ID_LEN);
	if (c->on_open != NULL)
		c->on_open(c);
}

static void cli_on_block(void *user, struct net_conn *conn, const uint8_t *content, size_t len)
{
	struct cli *c = user;
	struct relay_batch batch;
	struct relay_resp r;
	(void)conn;

	EXPECT(c->w, relay_batch_parse(&batch, content, len) == SOTTO_OK);
	for (size_t i = 0; i < batch.n_tx && !c->is_closed; i++) {
		EXPECT(c->w, relay_resp_parse(&r, batch.tx[i].buf, batch.tx[i].len) == SOTTO_OK);
		if (c->on_resp != NULL)
			c->on_resp(c, &r);
	}
}

static void cli_on_close(void *user, struct net_conn *conn, sotto_err reason)
{
	struct cli *c = user;
	(void)conn;
	c->is_closed = true;
	c->close_reason = reason;
	c->conn = NULL;
}

static void cli_dial(struct world *w, struct cli *c, void *scenario, cli_fn *on_open,
                     cli_resp_fn *on_resp)
{
	struct net_conn_callbacks cb = {.on_open = cli_on_open,
	                                .on_block = cli_on_block,
	                                .on_close = cli_on_close,
	                                .user = c};
	memset(c, 0, sizeof(*c));
	c->w = w;
	c->scenario = scenario;
	c->on_open = on_open;
	c->on_resp = on_resp;
	EXPECT(w, net_conn_dial(w->ctx, &w->loop, &w->addr, NULL, &cb, &c->conn) == SOTTO_OK);
}

static void cli_close(struct cli *c)
{
	if (c->conn != NULL && !c->is_closed)
		net_conn_close(c->conn);
}

/* Sends one command (MAC'd under key unless NULL) in its own block. */
static void cli_send(struct cli *c, const struct relay_cmd *cmd, const uint8_t *key)
{
	static uint8_t buf[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw;
	size_t cap, len;
	uint8_t *slot;

	relay_batch_writer_init(&bw, buf);
	slot = relay_batch_writer_slot(&bw, &cap);
	EXPECT(c->w, relay_cmd_encode(slot, cap, &len, cmd, key,
	                              key != NULL ? c->session_id : NULL) == SOTTO_OK);
	EXPECT(c->w, relay_batch_writer_commit(&bw, len) == SOTTO_OK);
	EXPECT(c->w, relay_batch_writer_finish(&bw, &len) == SOTTO_OK);
	EXPECT(c->w, net_conn_send(c->conn, buf, len) == SOTTO_OK);
}

static void send_new(struct cli *c, struct keys *k, uint32_t corr)
{
	struct relay_cmd cmd;

	x25519_keypair_generate(c->w->ctx, &k->rk);
	x25519_keypair_generate(c->w->ctx, &k->sk);
	relay_cmd_init(&cmd, RELAY_CMD_NEW, corr, NULL);
	memcpy(cmd.key, k->rk.pub, RELAY_KEY_LEN);
	cli_send(c, &cmd, NULL);
}

/* IDS: the queue's IDs and the keys both ends derive. */
static void take_ids(struct world *w, struct keys *k, const struct relay_resp *r)
{
	memcpy(k->rid, r->rid, RELAY_ID_LEN);
	memcpy(k->sid, r->sid, RELAY_ID_LEN);
	EXPECT(w, relay_keys_recipient(k->k_rauth, k->k_deliver, k->rk.priv, r->srk) == SOTTO_OK);
	EXPECT(w, relay_keys_sender(k->k_sauth, k->sk.priv, r->ssk) == SOTTO_OK);
}

/* ---- create, secure, send, subscribe elsewhere, receive, ack ---- */

static const char FLOW_BODY[] = "hello through the relay";

struct flow {
	struct world *w;
	struct cli a, b, c; /* a creates and secures, b sends, c subscribes */
	struct keys k;
	uint8_t msg_id[RELAY_MSG_ID_LEN];
	bool got_ids, got_key_ok, got_send_ok, got_sub_ok, got_msg, got_ack_ok;
};

static void flow_c_resp(struct cli *c, const struct relay_resp *r)
{
	struct flow *fl = c->scenario;
	static uint8_t plain[RELAY_DELIVERY_PLAIN_MAX];
	struct relay_msg m;
	struct relay_cmd cmd;

	if (r->code == RELAY_RESP_OK && r->corr == 4) {
		fl->got_sub_ok = true;
	} else if (r->code == RELAY_RESP_MSG && r->corr == 0) {
		EXPECT(fl->w, fl->got_sub_ok);
		EXPECT(fl->w, relay_msg_open(&m, plain, r, fl->k.k_deliver) == SOTTO_OK);
		EXPECT(fl->w, m.body_len == sizeof(FLOW_BODY) &&
		                      memcmp(m.body, FLOW_BODY, sizeof(FLOW_BODY)) == 0);
		fl->got_msg = true;
		relay_cmd_init(&cmd, RELAY_CMD_ACK, 5, fl->k.rid);
		memcpy(cmd.msg_id, r->msg_id, RELAY_MSG_ID_LEN);
		cli_send(c, &cmd, fl->k.k_rauth);
	} else if (r->code == RELAY_RESP_OK && r->corr == 5) {
		fl->got_ack_ok = true;
		cli_close(&fl->a);
		cli_close(&fl->b);
		cli_close(&fl->c);
		world_finish(fl->w);
	} else {
		expect_failed(fl->w, "unexpected answer to c", __LINE__);
	}
}

static void flow_c_open(struct cli *c)
{
	struct flow *fl = c->scenario;
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, RELAY_CMD_SUB, 4, fl->k.rid);
	cli_send(c, &cmd, fl->k.k_rauth);
}

static void flow_b_resp(struct cli *b, const struct relay_resp *r)
{
	struct flow *fl = b->scenario;

	EXPECT(fl->w, r->code == RELAY_RESP_OK && r->corr == 3);
	fl->got_send_ok = true;
	cli_dial(fl->w, &fl->c, fl, flow_c_open, flow_c_resp);
}

static void flow_b_open(struct cli *b)
{
	struct flow *fl = b->scenario;
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, RELAY_CMD_SEND, 3, fl->k.sid);
	cmd.body = (const uint8_t *)FLOW_BODY;
	cmd.body_len = sizeof(FLOW_BODY);
	cli_send(b, &cmd, fl->k.k_sauth); /* secured: K_sauth needed */
}

static void flow_a_resp(struct cli *a, const struct relay_resp *r)
{
	struct flow *fl = a->scenario;
	struct relay_cmd cmd;

	if (r->code == RELAY_RESP_IDS && r->corr == 1) {
		fl->got_ids = true;
		take_ids(fl->w, &fl->k, r);
		relay_cmd_init(&cmd, RELAY_CMD_KEY, 2, fl->k.rid);
		memcpy(cmd.key, fl->k.sk.pub, RELAY_KEY_LEN);
		cli_send(a, &cmd, fl->k.k_rauth);
	} else if (r->code == RELAY_RESP_OK && r->corr == 2) {
		fl->got_key_ok = true;
		cli_dial(fl->w, &fl->b, fl, flow_b_open, flow_b_resp);
	} else {
		expect_failed(fl->w, "unexpected answer to a", __LINE__);
	}
}

static void flow_a_open(struct cli *a)
{
	struct flow *fl = a->scenario;
	send_new(a, &fl->k, 1);
}

static void server__delivers__create_secure_send_subscribe_ack(void **state)
{
	struct world w;
	struct flow *fl = calloc(1, sizeof(*fl));
	(void)state;

	assert_non_null(fl);
	world_init(&w, NULL);
	fl->w = &w;
	w.scenario = fl;
	cli_dial(&w, &fl->a, fl, flow_a_open, flow_a_resp);
	world_run_and_free(&w);
	assert_true(fl->got_ids && fl->got_key_ok && fl->got_send_ok);
	assert_true(fl->got_sub_ok && fl->got_msg && fl->got_ack_ok);
	assert_int_equal(w.final_stats.n_queues_created, 1);
	assert_int_equal(w.final_stats.n_msgs_in, 1);
	assert_int_equal(w.final_stats.n_msgs_out, 1);
	assert_int_equal(w.final_stats.n_msgs_acked, 1);
	assert_int_equal(w.final_stats.n_connections, 3);
	assert_int_equal(w.final_stats.n_clients_dropped, 0);
	free(fl);
}

/* ---- a slow reader is dropped; others keep working ---- */

struct raw {
	struct world *w;
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write1, write2;
	uint8_t msg1[NET_MSG1_FRAME_LEN];
	uint8_t frame[NET_TRANSPORT_FRAME_LEN];
	uint8_t content[RELAY_BLOCK_CONTENT_MAX];
	char readbuf[4096];
	struct net_session *session;
	uint8_t session_id[NET_SESSION_ID_LEN];
	bool is_open, is_closed, is_stopping;
	unsigned n_sent;
};

struct slow {
	struct world *w;
	struct cli a; /* the good client */
	struct raw r; /* the slow reader */
	struct keys k;
	unsigned n_pongs;
	bool got_ids, got_send_ok, got_get_after_drop, raw_done;
};

static void slow_after_raw(struct slow *sl);

static void raw_on_closed(uv_handle_t *h)
{
	struct raw *r = h->data;
	struct slow *sl = r->w->scenario;

	net_session_free(r->session);
	r->session = NULL;
	r->is_closed = true;
	slow_after_raw(sl);
}

static void raw_close(struct raw *r)
{
	if (!uv_is_closing((uv_handle_t *)&r->tcp))
		uv_close((uv_handle_t *)&r->tcp, raw_on_closed);
}

static void raw_write_next(struct raw *r);

/* Each block written: go on until the relay has dropped us or a write fails. */
static void raw_on_written(uv_write_t *req, int status)
{
	struct raw *r = req->data;
	struct relay_stats st;

	if (r->is_stopping)
		return;
	if (req == &r->write1)
		return;
	relay_core_stats(relay_server_core(r->w->server), &st);
	if (status < 0 || st.n_clients_dropped > 0) {
		r->is_stopping = true;
		raw_close(r);
		return;
	}
	r->n_sent++;
	raw_write_next(r);
}

/* Writes one block of 32 GETs, MAC'd for our session: 32 maximal MSGs to answer. */
static void raw_write_next(struct raw *r)
{
	struct slow *sl = r->w->scenario;
	struct relay_batch_writer bw;
	struct relay_cmd cmd;
	size_t cap, len;
	uv_buf_t buf;

	if (r->n_sent >= RAW_BLOCKS_MAX) {
		expect_failed(r->w, "the relay never dropped the slow reader", __LINE__);
		r->is_stopping = true;
		raw_close(r);
		return;
	}
	relay_batch_writer_init(&bw, r->content);
	for (uint32_t i = 0; i < RELAY_BATCH_MAX; i++) {
		uint8_t *slot = relay_batch_writer_slot(&bw, &cap);
		relay_cmd_init(&cmd, RELAY_CMD_GET, i + 1, sl->k.rid);
		EXPECT(r->w, relay_cmd_encode(slot, cap, &len, &cmd, sl->k.k_rauth,
		                              r->session_id) == SOTTO_OK);
		EXPECT(r->w, relay_batch_writer_commit(&bw, len) == SOTTO_OK);
	}
	EXPECT(r->w, relay_batch_writer_finish(&bw, &len) == SOTTO_OK);
	EXPECT(r->w, net_session_send_block(r->session, r->content, len, r->frame) == SOTTO_OK);
	buf = uv_buf_init((char *)r->frame, NET_TRANSPORT_FRAME_LEN);
	r->write2.data = r;
	if (uv_write(&r->write2, (uv_stream_t *)&r->tcp, &buf, 1, raw_on_written) != 0) {
		r->is_stopping = true;
		raw_close(r);
	}
}

static sotto_err raw_on_event(void *user, const struct net_event *ev)
{
	struct raw *r = user;

	if (ev->type == NET_EVENT_OPEN) {
		memcpy(r->session_id, ev->session_id, NET_SESSION_ID_LEN);
		r->is_open = true;
	}
	return SOTTO_OK;
}

static void raw_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct raw *r = h->data;
	(void)suggested;
	*buf = uv_buf_init(r->readbuf, sizeof(r->readbuf));
}

/* Reads only the handshake; once open it never reads again. */
static void raw_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct raw *r = stream->data;

	if (nread < 0) {
		EXPECT(r->w, r->is_open);
		r->is_stopping = true;
		raw_close(r);
		return;
	}
	if (nread > 0 && net_session_feed(r->session, (uint8_t *)buf->base, (size_t)nread,
	                                  raw_on_event, r) != SOTTO_OK) {
		expect_failed(r->w, "raw handshake failed", __LINE__);
		r->is_stopping = true;
		raw_close(r);
		return;
	}
	if (r->is_open) {
		(void)uv_read_stop(stream);
		raw_write_next(r);
	}
}

static void raw_on_connect(uv_connect_t *req, int status)
{
	struct raw *r = req->data;
	uv_buf_t buf = uv_buf_init((char *)r->msg1, NET_MSG1_FRAME_LEN);

	if (status < 0) {
		EXPECT(r->w, status == 0);
		raw_close(r);
		return;
	}
	EXPECT(r->w, uv_read_start((uv_stream_t *)&r->tcp, raw_on_alloc, raw_on_read) == 0);
	r->write1.data = r;
	if (uv_write(&r->write1, (uv_stream_t *)&r->tcp, &buf, 1, raw_on_written) != 0)
		raw_close(r);
}

static void raw_start(struct slow *sl)
{
	struct world *w = sl->w;
	struct raw *r = &sl->r;
	struct sockaddr_in sa;

	r->w = w;
	r->tcp.data = r;
	r->connect.data = r;
	EXPECT(w, net_session_new_client(w->ctx, NULL, w->relay_kp.pub, &r->session) == SOTTO_OK);
	EXPECT(w, net_session_start(r->session, r->msg1) == SOTTO_OK);
	EXPECT(w, uv_ip4_addr("127.0.0.1", w->addr.port, &sa) == 0);
	EXPECT(w, uv_tcp_init(&w->loop, &r->tcp) == 0);
	if (uv_tcp_connect(&r->connect, &r->tcp, (const struct sockaddr *)&sa, raw_on_connect) != 0)
		raw_close(r);
}

/* The slow reader is gone: the good client must still be served. */
static void slow_after_raw(struct slow *sl)
{
	struct relay_cmd cmd;

	sl->raw_done = true;
	relay_cmd_init(&cmd, RELAY_CMD_PING, 7, NULL);
	cli_send(&sl->a, &cmd, NULL);
	relay_cmd_init(&cmd, RELAY_CMD_GET, 8, sl->k.rid);
	cli_send(&sl->a, &cmd, sl->k.k_rauth);
}

static void slow_a_resp(struct cli *a, const struct relay_resp *r)
{
	struct slow *sl = a->scenario;
	static uint8_t body[RELAY_MSG_BODY_MAX];
	struct relay_cmd cmd;

	if (r->code == RELAY_RESP_IDS && r->corr == 1) {
		sl->got_ids = true;
		take_ids(sl->w, &sl->k, r);
		memset(body, 0x6b, sizeof(body));
		relay_cmd_init(&cmd, RELAY_CMD_SEND, 2, sl->k.sid);
		cmd.body = body;
		cmd.body_len = sizeof(body);
		cli_send(a, &cmd, NULL);
	} else if (r->code == RELAY_RESP_OK && r->corr == 2) {
		sl->got_send_ok = true;
		raw_start(sl);
	} else if (r->code == RELAY_RESP_PONG && r->corr == 7) {
		sl->n_pongs++;
	} else if (r->code == RELAY_RESP_MSG && r->corr == 8) {
		EXPECT(sl->w, sl->raw_done && sl->n_pongs == 1);
		sl->got_get_after_drop = true;
		cli_close(a);
		world_finish(sl->w);
	} else {
		expect_failed(sl->w, "unexpected answer to the good client", __LINE__);
	}
}

static void slow_a_open(struct cli *a)
{
	struct slow *sl = a->scenario;
	send_new(a, &sl->k, 1);
}

static void server__drops__slow_reader_others_keep_working(void **state)
{
	struct world w;
	struct slow *sl = calloc(1, sizeof(*sl));
	struct relay_server_config cfg = {
	        .conn = {.max_write_queue_bytes = 4 * NET_TRANSPORT_FRAME_LEN}};
	(void)state;

	assert_non_null(sl);
	world_init(&w, &cfg);
	sl->w = &w;
	w.scenario = sl;
	cli_dial(&w, &sl->a, sl, slow_a_open, slow_a_resp);
	world_run_and_free(&w);
	assert_true(sl->got_ids && sl->got_send_ok && sl->raw_done);
	assert_true(sl->got_get_after_drop);
	assert_int_equal(sl->n_pongs, 1);
	assert_true(sl->r.n_sent < RAW_BLOCKS_MAX);
	assert_int_equal(w.final_stats.n_clients_dropped, 1);
	assert_int_equal(w.final_stats.n_connections, 2);
	assert_int_equal(w.final_stats.n_clients, 1); /* only the good client was still open */
	free(sl);
}

/* ---- a receiver of many busy queues is paced, not dropped ---- */

enum {
	MANY_QUEUES = 300,
	MANY_BODY_LEN = 15000, /* about one block per pushed MSG: 4.5 MB against a 1 MiB queue */
	MANY_SUB_CORR = 1000,
};

struct many {
	struct world *w;
	struct cli a, b; /* a creates and receives, b sends */
	struct keys k[MANY_QUEUES];
	unsigned seen[MANY_QUEUES];
	size_t n_ids, n_sent, n_sub_ok, n_msgs;
	uint8_t body[MANY_BODY_LEN];
};

/* Sends cmds[0..n) (each MAC'd under keys[i] unless NULL) in blocks of
 * RELAY_BATCH_MAX. */
static void cli_send_many(struct cli *c, const struct relay_cmd *cmds, const uint8_t *const *keys,
                          size_t n)
{
	static uint8_t buf[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw;
	size_t cap, len;

	for (size_t i = 0; i < n; i += RELAY_BATCH_MAX) {
		relay_batch_writer_init(&bw, buf);
		for (size_t j = i; j < n && j < i + RELAY_BATCH_MAX; j++) {
			uint8_t *slot = relay_batch_writer_slot(&bw, &cap);
			EXPECT(c->w, slot != NULL &&
			                     relay_cmd_encode(slot, cap, &len, &cmds[j], keys[j],
			                                      keys[j] != NULL ? c->session_id
			                                                      : NULL) == SOTTO_OK);
			EXPECT(c->w, relay_batch_writer_commit(&bw, len) == SOTTO_OK);
		}
		EXPECT(c->w, relay_batch_writer_finish(&bw, &len) == SOTTO_OK);
		EXPECT(c->w, net_conn_send(c->conn, buf, len) == SOTTO_OK);
	}
}

/* Sends the next SEND once the previous one is answered: b's own queue stays
 * small. */
static void many_send_next(struct many *m)
{
	struct relay_cmd cmd;

	memset(m->body, (int)(m->n_sent & 0xff), sizeof(m->body));
	relay_cmd_init(&cmd, RELAY_CMD_SEND, (uint32_t)(m->n_sent + 1), m->k[m->n_sent].sid);
	cmd.body = m->body;
	cmd.body_len = sizeof(m->body);
	cli_send(&m->b, &cmd, NULL);
}

static void many_b_resp(struct cli *b, const struct relay_resp *r)
{
	struct many *m = b->scenario;
	static struct relay_cmd cmds[MANY_QUEUES];
	static const uint8_t *keys[MANY_QUEUES];

	EXPECT(m->w, r->code == RELAY_RESP_OK && r->corr == m->n_sent + 1);
	if (++m->n_sent < MANY_QUEUES) {
		many_send_next(m);
		return;
	}
	for (size_t i = 0; i < MANY_QUEUES; i++) { /* every queue now holds one message */
		relay_cmd_init(&cmds[i], RELAY_CMD_SUB, (uint32_t)(MANY_SUB_CORR + i), m->k[i].rid);
		keys[i] = m->k[i].k_rauth;
	}
	cli_send_many(&m->a, cmds, keys, MANY_QUEUES);
}

static void many_b_open(struct cli *b)
{
	many_send_next(b->scenario);
}

static void many_take_msg(struct many *m, const struct relay_resp *r)
{
	static uint8_t plain[RELAY_DELIVERY_PLAIN_MAX];
	struct relay_msg msg;

	for (size_t i = 0; i < MANY_QUEUES; i++) {
		if (memcmp(r->entity, m->k[i].rid, RELAY_ID_LEN) != 0)
			continue;
		EXPECT(m->w, relay_msg_open(&msg, plain, r, m->k[i].k_deliver) == SOTTO_OK);
		EXPECT(m->w, msg.body_len == MANY_BODY_LEN && msg.body[0] == (uint8_t)(i & 0xff));
		m->seen[i]++;
	}
	if (++m->n_msgs == MANY_QUEUES) {
		cli_close(&m->a);
		cli_close(&m->b);
		world_finish(m->w);
	}
}

static void many_a_resp(struct cli *a, const struct relay_resp *r)
{
	struct many *m = a->scenario;

	if (r->code == RELAY_RESP_IDS && r->corr == m->n_ids + 1) {
		take_ids(m->w, &m->k[m->n_ids], r);
		if (++m->n_ids == MANY_QUEUES)
			cli_dial(m->w, &m->b, m, many_b_open, many_b_resp);
	} else if (r->code == RELAY_RESP_OK && r->corr >= MANY_SUB_CORR) {
		m->n_sub_ok++;
	} else if (r->code == RELAY_RESP_MSG && r->corr == 0) {
		many_take_msg(m, r);
	} else {
		expect_failed(m->w, "unexpected answer to a", __LINE__);
	}
}

static void many_a_open(struct cli *a)
{
	struct many *m = a->scenario;
	static struct relay_cmd cmds[MANY_QUEUES];
	static const uint8_t *keys[MANY_QUEUES]; /* NEW carries no MAC */

	for (size_t i = 0; i < MANY_QUEUES; i++) {
		x25519_keypair_generate(a->w->ctx, &m->k[i].rk);
		relay_cmd_init(&cmds[i], RELAY_CMD_NEW, (uint32_t)(i + 1), NULL);
		memcpy(cmds[i].key, m->k[i].rk.pub, RELAY_KEY_LEN);
	}
	cli_send_many(a, cmds, keys, MANY_QUEUES);
}

static void server__paces__pushes_to_a_receiver_of_many_queues(void **state)
{
	struct world w;
	struct many *m = calloc(1, sizeof(*m));
	struct relay_server_config cfg = {.core = {.new_per_minute = MANY_QUEUES}};
	(void)state;

	assert_non_null(m);
	world_init(&w, &cfg); /* the default 1 MiB write queue */
	m->w = &w;
	w.scenario = m;
	cli_dial(&w, &m->a, m, many_a_open, many_a_resp);
	world_run_and_free(&w);
	assert_int_equal(m->n_sub_ok, MANY_QUEUES);
	assert_int_equal(m->n_msgs, MANY_QUEUES);
	for (size_t i = 0; i < MANY_QUEUES; i++)
		assert_int_equal(m->seen[i], 1);
	assert_int_equal(m->a.close_reason, SOTTO_ERR_CANCELLED); /* closed by us, not the relay */
	assert_int_equal(w.final_stats.n_msgs_out, MANY_QUEUES);
	assert_int_equal(w.final_stats.n_clients_dropped, 0);
	free(m);
}

/* ---- configuration and shutdown ---- */

static void server__invalid__config_and_host(void **state)
{
	struct world w;
	struct relay_server *s = (struct relay_server *)&w; /* must be cleared */
	struct relay_server_config bad = {.expire_interval_ms = RELAY_EXPIRE_INTERVAL_MS_MAX + 1};
	struct relay_server_config bad_core = {.core = {.quota = RELAY_QUOTA_MAX + 1}};
	(void)state;

	world_init(&w, NULL);
	assert_int_equal(
	        relay_server_new(w.ctx, &w.loop, "127.0.0.1", 0, &w.relay_kp, w.store, &bad, &s),
	        SOTTO_ERR_INVALID);
	assert_null(s);
	assert_int_equal(relay_server_new(w.ctx, &w.loop, "127.0.0.1", 0, &w.relay_kp, w.store,
	                                  &bad_core, &s),
	                 SOTTO_ERR_INVALID);
	assert_null(s);
	assert_int_equal(
	        relay_server_new(w.ctx, &w.loop, "localhost", 0, &w.relay_kp, w.store, NULL, &s),
	        SOTTO_ERR_INVALID);
	assert_null(s);
	/* The port is taken by the first server. */
	assert_int_equal(relay_server_new(w.ctx, &w.loop, "127.0.0.1", w.addr.port, &w.relay_kp,
	                                  w.store, NULL, &s),
	                 SOTTO_ERR_IO);
	assert_null(s);
	world_finish(&w);
	world_run_and_free(&w);
}

/*
 * Closing with one client open (its message just acknowledged) and another
 * one dialling: the server commits, drains, closes both and frees itself;
 * the acknowledged message is in the store afterwards.
 */
struct closing {
	struct world *w;
	struct cli c, d;
	struct keys k;
	bool got_send_ok;
};

static void closing_c_resp(struct cli *c, const struct relay_resp *r)
{
	struct closing *cl = c->scenario;
	static const uint8_t body[5] = {1, 2, 3, 4, 5};
	struct relay_cmd cmd;

	if (r->code == RELAY_RESP_IDS) {
		take_ids(cl->w, &cl->k, r);
		relay_cmd_init(&cmd, RELAY_CMD_SEND, 2, cl->k.sid);
		cmd.body = body;
		cmd.body_len = sizeof(body);
		cli_send(c, &cmd, NULL);
	} else if (r->code == RELAY_RESP_OK && r->corr == 2) {
		cl->got_send_ok = true;
		cli_dial(cl->w, &cl->d, cl, NULL, NULL);
		world_finish(cl->w);
	} else {
		expect_failed(cl->w, "unexpected answer", __LINE__);
	}
}

static void closing_c_open(struct cli *c)
{
	struct closing *cl = c->scenario;
	send_new(c, &cl->k, 1);
}

static void server__close__drains_and_keeps_what_it_acknowledged(void **state)
{
	struct world w;
	struct closing cl;
	uint32_t n = 0;
	(void)state;

	memset(&cl, 0, sizeof(cl));
	world_init(&w, NULL);
	cl.w = &w;
	w.scenario = &cl;
	cli_dial(&w, &cl.c, &cl, closing_c_open, closing_c_resp);
	world_run(&w);
	assert_true(cl.got_send_ok);
	assert_true(cl.c.is_closed);
	assert_int_equal(cl.c.close_reason, SOTTO_ERR_CLOSED); /* the relay hung up */
	assert_true(cl.d.is_closed);
	assert_int_equal(relay_store_msg_count(w.store, cl.k.rid, &n), SOTTO_OK);
	assert_int_equal(n, 1);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(server__delivers__create_secure_send_subscribe_ack),
	        cmocka_unit_test(server__drops__slow_reader_others_keep_working),
	        cmocka_unit_test(server__paces__pushes_to_a_receiver_of_many_queues),
	        cmocka_unit_test(server__invalid__config_and_host),
	        cmocka_unit_test(server__close__drains_and_keeps_what_it_acknowledged),
	};

	signal(SIGPIPE, SIG_IGN); /* writes to a peer that hung up fail with EPIPE instead */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
