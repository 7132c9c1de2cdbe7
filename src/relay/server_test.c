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
#include "relay/relay_testlib.h"
#include "relay/store.h"
#include "test_util.h"

enum {
	GUARD_MS = 60000,     /* fails the test; never reached when things work */
	WORLD_SEED = 4242,    /* seeds the relay context's tu_rng */
	RAW_BLOCKS_MAX = 400, /* GET blocks the slow reader may write before giving up */
};

/* ---- create, secure, send, subscribe elsewhere, receive, ack ---- */

static const char FLOW_BODY[] = "hello through the relay";

struct flow {
	struct rt_world *w;
	struct rt_cli a, b, c; /* a creates and secures, b sends, c subscribes */
	struct rt_keys k;
	uint8_t msg_id[RELAY_MSG_ID_LEN];
	bool got_ids, got_key_ok, got_send_ok, got_sub_ok, got_msg, got_ack_ok;
};

static void flow_c_resp(struct rt_cli *c, const struct relay_resp *r, const uint8_t *tx, size_t len)
{
	struct flow *fl = c->scenario;
	static uint8_t plain[RELAY_DELIVERY_PLAIN_MAX];
	struct relay_msg m;
	struct relay_cmd cmd;
	(void)tx;
	(void)len;

	if (r->code == RELAY_RESP_OK && r->corr == 4) {
		fl->got_sub_ok = true;
	} else if (r->code == RELAY_RESP_MSG && r->corr == 0) {
		RT_EXPECT(fl->w, fl->got_sub_ok);
		RT_EXPECT(fl->w, relay_msg_open(&m, plain, r, fl->k.k_deliver) == SOTTO_OK);
		RT_EXPECT(fl->w, m.body_len == sizeof(FLOW_BODY) &&
		                         memcmp(m.body, FLOW_BODY, sizeof(FLOW_BODY)) == 0);
		fl->got_msg = true;
		relay_cmd_init(&cmd, RELAY_CMD_ACK, 5, fl->k.rid);
		memcpy(cmd.msg_id, r->msg_id, RELAY_MSG_ID_LEN);
		rt_cli_send(c, &cmd, fl->k.k_rauth);
	} else if (r->code == RELAY_RESP_OK && r->corr == 5) {
		fl->got_ack_ok = true;
		rt_cli_close(&fl->a);
		rt_cli_close(&fl->b);
		rt_cli_close(&fl->c);
		rt_world_finish(fl->w);
	} else {
		rt_expect_failed(fl->w, "unexpected answer to c", __LINE__);
	}
}

static void flow_c_open(struct rt_cli *c)
{
	struct flow *fl = c->scenario;
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, RELAY_CMD_SUB, 4, fl->k.rid);
	rt_cli_send(c, &cmd, fl->k.k_rauth);
}

static void flow_b_resp(struct rt_cli *b, const struct relay_resp *r, const uint8_t *tx, size_t len)
{
	struct flow *fl = b->scenario;
	(void)tx;
	(void)len;

	RT_EXPECT(fl->w, r->code == RELAY_RESP_OK && r->corr == 3);
	fl->got_send_ok = true;
	rt_cli_dial(fl->w, &fl->c, fl, flow_c_open, flow_c_resp);
}

static void flow_b_open(struct rt_cli *b)
{
	struct flow *fl = b->scenario;
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, RELAY_CMD_SEND, 3, fl->k.sid);
	cmd.body = (const uint8_t *)FLOW_BODY;
	cmd.body_len = sizeof(FLOW_BODY);
	rt_cli_send(b, &cmd, fl->k.k_sauth); /* secured: K_sauth needed */
}

static void flow_a_resp(struct rt_cli *a, const struct relay_resp *r, const uint8_t *tx, size_t len)
{
	struct flow *fl = a->scenario;
	struct relay_cmd cmd;
	(void)tx;
	(void)len;

	if (r->code == RELAY_RESP_IDS && r->corr == 1) {
		fl->got_ids = true;
		rt_take_ids(fl->w, &fl->k, r);
		relay_cmd_init(&cmd, RELAY_CMD_KEY, 2, fl->k.rid);
		memcpy(cmd.key, fl->k.sk.pub, RELAY_KEY_LEN);
		rt_cli_send(a, &cmd, fl->k.k_rauth);
	} else if (r->code == RELAY_RESP_OK && r->corr == 2) {
		fl->got_key_ok = true;
		rt_cli_dial(fl->w, &fl->b, fl, flow_b_open, flow_b_resp);
	} else {
		rt_expect_failed(fl->w, "unexpected answer to a", __LINE__);
	}
}

static void flow_a_open(struct rt_cli *a)
{
	struct flow *fl = a->scenario;
	rt_send_new(a, &fl->k, 1);
}

static void server__delivers__create_secure_send_subscribe_ack(void **state)
{
	struct rt_world w;
	struct flow *fl = calloc(1, sizeof(*fl));
	(void)state;

	assert_non_null(fl);
	rt_world_init(&w, NULL, WORLD_SEED, GUARD_MS, 0);
	fl->w = &w;
	w.scenario = fl;
	rt_cli_dial(&w, &fl->a, fl, flow_a_open, flow_a_resp);
	rt_world_run_and_free(&w);
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
	struct rt_world *w;
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
	struct rt_world *w;
	struct rt_cli a; /* the good client */
	struct raw r;    /* the slow reader */
	struct rt_keys k;
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
		rt_expect_failed(r->w, "the relay never dropped the slow reader", __LINE__);
		r->is_stopping = true;
		raw_close(r);
		return;
	}
	relay_batch_writer_init(&bw, r->content);
	for (uint32_t i = 0; i < RELAY_BATCH_MAX; i++) {
		uint8_t *slot = relay_batch_writer_slot(&bw, &cap);
		relay_cmd_init(&cmd, RELAY_CMD_GET, i + 1, sl->k.rid);
		RT_EXPECT(r->w, relay_cmd_encode(slot, cap, &len, &cmd, sl->k.k_rauth,
		                                 r->session_id) == SOTTO_OK);
		RT_EXPECT(r->w, relay_batch_writer_commit(&bw, len) == SOTTO_OK);
	}
	RT_EXPECT(r->w, relay_batch_writer_finish(&bw, &len) == SOTTO_OK);
	RT_EXPECT(r->w, net_session_send_block(r->session, r->content, len, r->frame) == SOTTO_OK);
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
		RT_EXPECT(r->w, r->is_open);
		r->is_stopping = true;
		raw_close(r);
		return;
	}
	if (nread > 0 && net_session_feed(r->session, (uint8_t *)buf->base, (size_t)nread,
	                                  raw_on_event, r) != SOTTO_OK) {
		rt_expect_failed(r->w, "raw handshake failed", __LINE__);
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
		RT_EXPECT(r->w, status == 0);
		raw_close(r);
		return;
	}
	RT_EXPECT(r->w, uv_read_start((uv_stream_t *)&r->tcp, raw_on_alloc, raw_on_read) == 0);
	r->write1.data = r;
	if (uv_write(&r->write1, (uv_stream_t *)&r->tcp, &buf, 1, raw_on_written) != 0)
		raw_close(r);
}

static void raw_start(struct slow *sl)
{
	struct rt_world *w = sl->w;
	struct raw *r = &sl->r;
	struct sockaddr_in sa;

	r->w = w;
	r->tcp.data = r;
	r->connect.data = r;
	RT_EXPECT(w,
	          net_session_new_client(w->ctx, NULL, w->relay_kp.pub, &r->session) == SOTTO_OK);
	RT_EXPECT(w, net_session_start(r->session, r->msg1) == SOTTO_OK);
	RT_EXPECT(w, uv_ip4_addr("127.0.0.1", w->addr.port, &sa) == 0);
	RT_EXPECT(w, uv_tcp_init(&w->loop, &r->tcp) == 0);
	if (uv_tcp_connect(&r->connect, &r->tcp, (const struct sockaddr *)&sa, raw_on_connect) != 0)
		raw_close(r);
}

/* The slow reader is gone: the good client must still be served. */
static void slow_after_raw(struct slow *sl)
{
	struct relay_cmd cmd;

	sl->raw_done = true;
	relay_cmd_init(&cmd, RELAY_CMD_PING, 7, NULL);
	rt_cli_send(&sl->a, &cmd, NULL);
	relay_cmd_init(&cmd, RELAY_CMD_GET, 8, sl->k.rid);
	rt_cli_send(&sl->a, &cmd, sl->k.k_rauth);
}

static void slow_a_resp(struct rt_cli *a, const struct relay_resp *r, const uint8_t *tx, size_t len)
{
	struct slow *sl = a->scenario;
	static uint8_t body[RELAY_MSG_BODY_MAX];
	struct relay_cmd cmd;
	(void)tx;
	(void)len;

	if (r->code == RELAY_RESP_IDS && r->corr == 1) {
		sl->got_ids = true;
		rt_take_ids(sl->w, &sl->k, r);
		memset(body, 0x6b, sizeof(body));
		relay_cmd_init(&cmd, RELAY_CMD_SEND, 2, sl->k.sid);
		cmd.body = body;
		cmd.body_len = sizeof(body);
		rt_cli_send(a, &cmd, NULL);
	} else if (r->code == RELAY_RESP_OK && r->corr == 2) {
		sl->got_send_ok = true;
		raw_start(sl);
	} else if (r->code == RELAY_RESP_PONG && r->corr == 7) {
		sl->n_pongs++;
	} else if (r->code == RELAY_RESP_MSG && r->corr == 8) {
		RT_EXPECT(sl->w, sl->raw_done && sl->n_pongs == 1);
		sl->got_get_after_drop = true;
		rt_cli_close(a);
		rt_world_finish(sl->w);
	} else {
		rt_expect_failed(sl->w, "unexpected answer to the good client", __LINE__);
	}
}

static void slow_a_open(struct rt_cli *a)
{
	struct slow *sl = a->scenario;
	rt_send_new(a, &sl->k, 1);
}

static void server__drops__slow_reader_others_keep_working(void **state)
{
	struct rt_world w;
	struct slow *sl = calloc(1, sizeof(*sl));
	struct relay_server_config cfg = {
	        .conn = {.max_write_queue_bytes = 4 * NET_TRANSPORT_FRAME_LEN}};
	(void)state;

	assert_non_null(sl);
	rt_world_init(&w, &cfg, WORLD_SEED, GUARD_MS, 0);
	sl->w = &w;
	w.scenario = sl;
	rt_cli_dial(&w, &sl->a, sl, slow_a_open, slow_a_resp);
	rt_world_run_and_free(&w);
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
	struct rt_world *w;
	struct rt_cli a, b; /* a creates and receives, b sends */
	struct rt_keys k[MANY_QUEUES];
	unsigned seen[MANY_QUEUES];
	size_t n_ids, n_sent, n_sub_ok, n_msgs;
	uint8_t body[MANY_BODY_LEN];
};

/* Sends cmds[0..n) (each MAC'd under keys[i] unless NULL) in blocks of
 * RELAY_BATCH_MAX. */
static void cli_send_many(struct rt_cli *c, const struct relay_cmd *cmds,
                          const uint8_t *const *keys, size_t n)
{
	static uint8_t buf[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw;
	size_t cap, len;

	for (size_t i = 0; i < n; i += RELAY_BATCH_MAX) {
		relay_batch_writer_init(&bw, buf);
		for (size_t j = i; j < n && j < i + RELAY_BATCH_MAX; j++) {
			uint8_t *slot = relay_batch_writer_slot(&bw, &cap);
			RT_EXPECT(c->w,
			          slot != NULL &&
			                  relay_cmd_encode(slot, cap, &len, &cmds[j], keys[j],
			                                   keys[j] != NULL ? c->session_id
			                                                   : NULL) == SOTTO_OK);
			RT_EXPECT(c->w, relay_batch_writer_commit(&bw, len) == SOTTO_OK);
		}
		RT_EXPECT(c->w, relay_batch_writer_finish(&bw, &len) == SOTTO_OK);
		RT_EXPECT(c->w, net_conn_send(c->conn, buf, len) == SOTTO_OK);
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
	rt_cli_send(&m->b, &cmd, NULL);
}

static void many_b_resp(struct rt_cli *b, const struct relay_resp *r, const uint8_t *tx, size_t len)
{
	struct many *m = b->scenario;
	static struct relay_cmd cmds[MANY_QUEUES];
	static const uint8_t *keys[MANY_QUEUES];
	(void)tx;
	(void)len;

	RT_EXPECT(m->w, r->code == RELAY_RESP_OK && r->corr == m->n_sent + 1);
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

static void many_b_open(struct rt_cli *b)
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
		RT_EXPECT(m->w, relay_msg_open(&msg, plain, r, m->k[i].k_deliver) == SOTTO_OK);
		RT_EXPECT(m->w,
		          msg.body_len == MANY_BODY_LEN && msg.body[0] == (uint8_t)(i & 0xff));
		m->seen[i]++;
	}
	if (++m->n_msgs == MANY_QUEUES) {
		rt_cli_close(&m->a);
		rt_cli_close(&m->b);
		rt_world_finish(m->w);
	}
}

static void many_a_resp(struct rt_cli *a, const struct relay_resp *r, const uint8_t *tx, size_t len)
{
	struct many *m = a->scenario;
	(void)tx;
	(void)len;

	if (r->code == RELAY_RESP_IDS && r->corr == m->n_ids + 1) {
		rt_take_ids(m->w, &m->k[m->n_ids], r);
		if (++m->n_ids == MANY_QUEUES)
			rt_cli_dial(m->w, &m->b, m, many_b_open, many_b_resp);
	} else if (r->code == RELAY_RESP_OK && r->corr >= MANY_SUB_CORR) {
		m->n_sub_ok++;
	} else if (r->code == RELAY_RESP_MSG && r->corr == 0) {
		many_take_msg(m, r);
	} else {
		rt_expect_failed(m->w, "unexpected answer to a", __LINE__);
	}
}

static void many_a_open(struct rt_cli *a)
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
	struct rt_world w;
	struct many *m = calloc(1, sizeof(*m));
	struct relay_server_config cfg = {.core = {.new_per_minute = MANY_QUEUES}};
	(void)state;

	assert_non_null(m);
	rt_world_init(&w, &cfg, WORLD_SEED, GUARD_MS, 0); /* the default 1 MiB write queue */
	m->w = &w;
	w.scenario = m;
	rt_cli_dial(&w, &m->a, m, many_a_open, many_a_resp);
	rt_world_run_and_free(&w);
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
	struct rt_world w;
	struct relay_server *s = (struct relay_server *)&w; /* must be cleared */
	struct relay_server_config bad = {.expire_interval_ms = RELAY_EXPIRE_INTERVAL_MS_MAX + 1};
	struct relay_server_config bad_core = {.core = {.quota = RELAY_QUOTA_MAX + 1}};
	(void)state;

	rt_world_init(&w, NULL, WORLD_SEED, GUARD_MS, 0);
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
	rt_world_finish(&w);
	rt_world_run_and_free(&w);
}

/*
 * Closing with one client open (its message just acknowledged) and another
 * one dialling: the server commits, drains, closes both and frees itself;
 * the acknowledged message is in the store afterwards.
 */
struct closing {
	struct rt_world *w;
	struct rt_cli c, d;
	struct rt_keys k;
	bool got_send_ok;
};

static void closing_c_resp(struct rt_cli *c, const struct relay_resp *r, const uint8_t *tx,
                           size_t len)
{
	struct closing *cl = c->scenario;
	static const uint8_t body[5] = {1, 2, 3, 4, 5};
	struct relay_cmd cmd;
	(void)tx;
	(void)len;

	if (r->code == RELAY_RESP_IDS) {
		rt_take_ids(cl->w, &cl->k, r);
		relay_cmd_init(&cmd, RELAY_CMD_SEND, 2, cl->k.sid);
		cmd.body = body;
		cmd.body_len = sizeof(body);
		rt_cli_send(c, &cmd, NULL);
	} else if (r->code == RELAY_RESP_OK && r->corr == 2) {
		cl->got_send_ok = true;
		rt_cli_dial(cl->w, &cl->d, cl, NULL, NULL);
		rt_world_finish(cl->w);
	} else {
		rt_expect_failed(cl->w, "unexpected answer", __LINE__);
	}
}

static void closing_c_open(struct rt_cli *c)
{
	struct closing *cl = c->scenario;
	rt_send_new(c, &cl->k, 1);
}

static void server__close__drains_and_keeps_what_it_acknowledged(void **state)
{
	struct rt_world w;
	struct closing cl;
	uint32_t n = 0;
	(void)state;

	memset(&cl, 0, sizeof(cl));
	rt_world_init(&w, NULL, WORLD_SEED, GUARD_MS, 0);
	cl.w = &w;
	w.scenario = &cl;
	rt_cli_dial(&w, &cl.c, &cl, closing_c_open, closing_c_resp);
	rt_world_run(&w);
	assert_true(cl.got_send_ok);
	assert_true(cl.c.is_closed);
	assert_int_equal(cl.c.close_reason, SOTTO_ERR_CLOSED); /* the relay hung up */
	assert_true(cl.d.is_closed);
	assert_int_equal(relay_store_msg_count(w.store, cl.k.rid, &n), SOTTO_OK);
	assert_int_equal(n, 1);
	rt_world_free(&w);
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
