/* SPDX-License-Identifier: MIT */
/*
 * relay_raw.c - raw relay clients for abuse tests and benchmarks: the relay
 * protocol over the real transport, and raw TCP floods (see relay_raw.h).
 */
#include "relay_raw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/bytes.h"
#include "core/ctx.h"

void relay_raw_fail(struct relay_raw_env *env, const char *what, int line)
{
	if (env->n_errors++ == 0)
		snprintf(env->first_error, sizeof(env->first_error), "line %d: %s", line, what);
}

/* ---- a relay client over the real transport ---- */

static void peer_on_open(void *user, struct net_conn *conn, const uint8_t *sid, uint16_t version)
{
	struct relay_raw_peer *p = user;
	(void)conn;
	(void)version;
	memcpy(p->session_id, sid, NET_SESSION_ID_LEN);
	p->is_open = true;
	if (p->on_open != NULL)
		p->on_open(p);
}

static void peer_on_block(void *user, struct net_conn *conn, const uint8_t *content, size_t len)
{
	struct relay_raw_peer *p = user;
	struct relay_batch batch;
	struct relay_resp r;
	(void)conn;

	RELAY_RAW_EXPECT(p->env, relay_batch_parse(&batch, content, len) == SOTTO_OK);
	for (size_t i = 0; i < batch.n_tx && !p->is_closed; i++) {
		const struct relay_tx *tx = &batch.tx[i];

		p->n_resps++;
		RELAY_RAW_EXPECT(p->env, relay_resp_parse(&r, tx->buf, tx->len) == SOTTO_OK);
		p->resp_tx = tx->buf;
		p->resp_tx_len = tx->len;
		if (p->on_resp != NULL)
			p->on_resp(p, &r);
		p->resp_tx = NULL;
		p->resp_tx_len = 0;
	}
}

static void peer_on_close(void *user, struct net_conn *conn, sotto_err reason)
{
	struct relay_raw_peer *p = user;
	(void)conn;
	p->is_open = false;
	p->is_closed = true;
	p->close_reason = reason;
	p->conn = NULL;
}

void relay_raw_peer_dial(struct relay_raw_env *env, struct relay_raw_peer *p, void *scenario,
                         relay_raw_peer_fn *on_open, relay_raw_resp_fn *on_resp)
{
	struct net_conn_callbacks cb = {.on_open = peer_on_open,
	                                .on_block = peer_on_block,
	                                .on_close = peer_on_close,
	                                .user = p};

	memset(p, 0, sizeof(*p));
	p->env = env;
	p->scenario = scenario;
	p->on_open = on_open;
	p->on_resp = on_resp;
	RELAY_RAW_EXPECT(env, net_conn_dial(env->ctx, env->loop, &env->addr, NULL, &cb, &p->conn) ==
	                              SOTTO_OK);
}

void relay_raw_peer_close(struct relay_raw_peer *p)
{
	if (p->conn != NULL && !p->is_closed)
		net_conn_close(p->conn);
}

void relay_raw_send_block(struct relay_raw_peer *p, const uint8_t *content, size_t len)
{
	RELAY_RAW_EXPECT(p->env,
	                 p->conn != NULL && net_conn_send(p->conn, content, len) == SOTTO_OK);
}

void relay_raw_send_tx(struct relay_raw_peer *p, const uint8_t *tx, size_t tx_len)
{
	uint8_t buf[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw;
	size_t len = 0;

	relay_batch_writer_init(&bw, buf);
	RELAY_RAW_EXPECT(p->env, relay_batch_writer_add(&bw, tx, tx_len) == SOTTO_OK);
	RELAY_RAW_EXPECT(p->env, relay_batch_writer_finish(&bw, &len) == SOTTO_OK);
	relay_raw_send_block(p, buf, len);
}

size_t relay_raw_encode(struct relay_raw_peer *p, uint8_t *tx, const struct relay_cmd *cmd,
                        const uint8_t *mac_key)
{
	size_t len = 0;

	RELAY_RAW_EXPECT(p->env,
	                 relay_cmd_encode(tx, RELAY_CMD_MAX_LEN, &len, cmd, mac_key,
	                                  mac_key != NULL ? p->session_id : NULL) == SOTTO_OK);
	return len;
}

void relay_raw_send(struct relay_raw_peer *p, const struct relay_cmd *cmd, const uint8_t *mac_key)
{
	uint8_t tx[RELAY_CMD_MAX_LEN];
	size_t len = relay_raw_encode(p, tx, cmd, mac_key);

	if (len > 0)
		relay_raw_send_tx(p, tx, len);
}

void relay_raw_send_new(struct relay_raw_peer *p, struct relay_raw_queue *q, uint32_t corr)
{
	struct relay_cmd cmd;

	x25519_keypair_generate(p->env->ctx, &q->rk);
	relay_cmd_init(&cmd, RELAY_CMD_NEW, corr, NULL);
	memcpy(cmd.key, q->rk.pub, RELAY_KEY_LEN);
	relay_raw_send(p, &cmd, NULL);
}

void relay_raw_take_ids(struct relay_raw_peer *p, struct relay_raw_queue *q,
                        const struct relay_resp *r)
{
	memcpy(q->rid, r->rid, RELAY_ID_LEN);
	memcpy(q->sid, r->sid, RELAY_ID_LEN);
	RELAY_RAW_EXPECT(p->env, relay_keys_recipient(q->k_rauth, q->k_deliver, q->rk.priv,
	                                              r->srk) == SOTTO_OK);
	x25519_keypair_clear(&q->rk);
}

void relay_raw_send_recipient(struct relay_raw_peer *p, const struct relay_raw_queue *q,
                              enum relay_cmd_code code, uint32_t corr, const uint8_t *msg_id)
{
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, code, corr, q->rid);
	if (msg_id != NULL)
		memcpy(cmd.msg_id, msg_id, RELAY_MSG_ID_LEN);
	relay_raw_send(p, &cmd, q->k_rauth);
}

void relay_raw_send_body(struct relay_raw_peer *p, const struct relay_raw_queue *q, uint32_t corr,
                         const uint8_t *body, size_t len)
{
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, RELAY_CMD_SEND, corr, q->sid);
	cmd.body = body;
	cmd.body_len = len;
	relay_raw_send(p, &cmd, NULL);
}

void relay_raw_send_ping(struct relay_raw_peer *p, uint32_t corr)
{
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, RELAY_CMD_PING, corr, NULL);
	relay_raw_send(p, &cmd, NULL);
}

/* ---- raw TCP connections that never become clients ---- */

static void sock_on_closed(uv_handle_t *h)
{
	struct relay_raw_sock *s = h->data;

	s->f->n_ended++;
}

static void sock_end(struct relay_raw_sock *s, bool by_relay, bool is_reset)
{
	struct relay_raw_flood *f = s->f;
	uint64_t age;

	if (s->is_ended)
		return;
	s->is_ended = true;
	if (by_relay) {
		f->n_ended_by_relay[s->kind]++;
		age = uv_now(f->env->loop) - s->connected_ms;
		if (s->kind == RELAY_RAW_SILENT && is_reset) {
			f->n_silent_reset++;
		} else if (s->kind == RELAY_RAW_SILENT || s->kind == RELAY_RAW_SLOW) {
			if (age < f->quick_ms)
				f->n_quick++;
			else
				f->n_late++;
		}
	}
	uv_close((uv_handle_t *)&s->tcp, sock_on_closed);
}

static void sock_on_written(uv_write_t *req, int status)
{
	struct relay_raw_sock *s = req->data;
	(void)status; /* a relay that already hung up fails it: the read side reports that */
	s->is_writing = false;
}

static void sock_write(struct relay_raw_sock *s, const uint8_t *bytes, size_t len)
{
	uv_buf_t buf = uv_buf_init((char *)bytes, (unsigned)len);

	if (s->is_ended || s->is_writing)
		return;
	if (uv_write(&s->write, (uv_stream_t *)&s->tcp, &buf, 1, sock_on_written) == 0)
		s->is_writing = true;
}

static void sock_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char space[4096]; /* never read: one loop, bytes discarded */
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(space, sizeof(space));
}

/* Any byte from the relay (its refusal frame) is ignored; the end of the stream is counted. */
static void sock_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct relay_raw_sock *s = stream->data;
	(void)buf;

	if (nread < 0)
		sock_end(s, true, nread != UV_EOF);
}

static void sock_on_connect(uv_connect_t *req, int status)
{
	struct relay_raw_sock *s = req->data;
	struct relay_raw_flood *f = s->f;

	if (s->is_ended)
		return;
	if (status < 0) {
		f->n_connect_failed++;
		sock_end(s, false, false);
		return;
	}
	f->n_connected++;
	s->is_connected = true;
	s->connected_ms = uv_now(f->env->loop);
	RELAY_RAW_EXPECT(f->env, uv_tcp_keepalive(&s->tcp, 1, 1) == 0);
	RELAY_RAW_EXPECT(f->env,
	                 uv_read_start((uv_stream_t *)&s->tcp, sock_on_alloc, sock_on_read) == 0);
	switch (s->kind) {
	case RELAY_RAW_GARBAGE: sock_write(s, f->garbage, sizeof(f->garbage)); break;
	case RELAY_RAW_BAD_PREFIX: sock_write(s, f->bad_prefix, sizeof(f->bad_prefix)); break;
	case RELAY_RAW_SLOW:
		sock_write(s, f->msg1, 1);
		s->slow_pos = 1;
		break;
	default: break;
	}
}

sotto_err relay_raw_flood_init(struct relay_raw_flood *f, struct relay_raw_env *env, size_t n,
                               enum relay_raw_kind kind, uint64_t quick_ms)
{
	struct net_session *s = NULL;
	sotto_err rc;

	memset(f, 0, sizeof(*f));
	f->env = env;
	f->n = n;
	f->kind = (uint8_t)kind;
	f->quick_ms = quick_ms;
	if ((f->socks = calloc(n > 0 ? n : 1, sizeof(*f->socks))) == NULL)
		return SOTTO_ERR_NOMEM;
	if ((rc = net_session_new_client(env->ctx, NULL, env->addr.key, &s)) != SOTTO_OK)
		goto out;
	if ((rc = net_session_start(s, f->msg1)) != SOTTO_OK)
		goto out;
	ctx_random(env->ctx, f->garbage, sizeof(f->garbage));
	bytes_store_be16(f->garbage, NET_MSG1_LEN);
	ctx_random(env->ctx, f->bad_prefix, sizeof(f->bad_prefix));
	bytes_store_be16(f->bad_prefix, 0xfff0);
out:
	net_session_free(s);
	if (rc != SOTTO_OK) {
		free(f->socks);
		f->socks = NULL;
		f->n = 0;
	}
	return rc;
}

void relay_raw_flood_open(struct relay_raw_flood *f, size_t wave)
{
	struct sockaddr_in sa;

	RELAY_RAW_EXPECT(f->env, uv_ip4_addr("127.0.0.1", f->env->addr.port, &sa) == 0);
	for (size_t i = 0; i < wave && f->n_opened < f->n; i++) {
		struct relay_raw_sock *s = &f->socks[f->n_opened++];

		s->f = f;
		s->kind = f->kind == RELAY_RAW_MIXED ? (uint8_t)(f->n_opened % RELAY_RAW_KINDS)
		                                     : f->kind;
		s->tcp.data = s;
		s->connect.data = s;
		s->write.data = s;
		if (uv_tcp_init(f->env->loop, &s->tcp) != 0) {
			relay_raw_fail(f->env, "uv_tcp_init", __LINE__);
			s->is_ended = true;
			f->n_ended++;
			continue;
		}
		if (uv_tcp_connect(&s->connect, &s->tcp, (const struct sockaddr *)&sa,
		                   sock_on_connect) != 0) {
			f->n_connect_failed++;
			sock_end(s, false, false);
		}
	}
}

void relay_raw_flood_trickle(struct relay_raw_flood *f)
{
	for (size_t i = 0; i < f->n_opened; i++) {
		struct relay_raw_sock *s = &f->socks[i];

		if (s->kind != RELAY_RAW_SLOW || !s->is_connected || s->is_ended || s->is_writing ||
		    s->slow_pos >= sizeof(f->msg1))
			continue;
		sock_write(s, f->msg1 + s->slow_pos, 1);
		s->slow_pos++;
	}
}

void relay_raw_flood_end_all(struct relay_raw_flood *f)
{
	for (size_t i = 0; i < f->n_opened; i++)
		sock_end(&f->socks[i], false, false);
}

bool relay_raw_flood_is_done(const struct relay_raw_flood *f)
{
	return f->n_opened == f->n && f->n_ended == f->n;
}

void relay_raw_flood_clear(struct relay_raw_flood *f)
{
	free(f->socks);
	f->socks = NULL;
	f->n = 0;
}

size_t relay_raw_fd_budget(size_t want, size_t margin)
{
	struct rlimit rl;
	size_t n = want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n + margin)
		n = rl.rlim_max > 2 * margin ? (size_t)rl.rlim_max - margin : margin;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= n + margin)
		return n;
	rlim_t cur = rl.rlim_cur;
	rl.rlim_cur = n + margin;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		return n;
	return cur > margin ? (size_t)cur - margin : 0; /* the soft limit as it was */
}
