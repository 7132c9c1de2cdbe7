/* SPDX-License-Identifier: MIT */
/*
 * conn_test.c - connections over real sockets on 127.0.0.1, one uv loop per
 * test: many clients at once, hostile peers that may end only their own
 * connection (each with its specific error on the server side, and on the
 * client side where there is one), back-pressure, connection limits,
 * resolve/connect failures, server shutdown. Callbacks only record what
 * happened; the test checks it after the loop has stopped. A guard timer
 * fails a test that would otherwise hang; nothing asserts on timing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/bytes.h"
#include "net/conn.h"
#include "test_util.h"

enum {
	GUARD_MS = 60000, /* fails the test; never reached when things work */
	MAX_EVENTS = 64,
};

struct world {
	uv_loop_t loop;
	struct tu_alloc alloc;
	struct tu_rng rng;
	sotto_ctx *ctx;
	struct x25519_keypair relay_kp;
	struct net_addr addr; /* the server's address */
	struct net_server *server;
	uv_timer_t guard;
	bool guard_fired;
	bool finished; /* the scenario asked everything to close */
	/* server side */
	unsigned srv_open, srv_close, srv_blocks;
	sotto_err srv_reasons[MAX_EVENTS];
	uint8_t srv_ids[MAX_EVENTS][NET_SESSION_ID_LEN];
	/* client side */
	unsigned cli_open, cli_close, cli_id_matches;
	sotto_err cli_reasons[MAX_EVENTS];
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

static void world_init(struct world *w)
{
	memset(w, 0, sizeof(*w));
	assert_int_equal(uv_loop_init(&w->loop), 0);
	tu_rng_init(&w->rng, 99);
	w->ctx = tu_ctx(&w->alloc, &w->rng, NULL);
	x25519_keypair_generate(w->ctx, &w->relay_kp);
	assert_int_equal(uv_timer_init(&w->loop, &w->guard), 0);
	w->guard.data = w;
	assert_int_equal(uv_timer_start(&w->guard, on_guard, GUARD_MS, 0), 0);
}

/* Starts the server; its address (with the relay key) goes to w->addr. */
static void world_listen(struct world *w, const struct net_conn_config *cfg,
                         const struct net_conn_callbacks *cb)
{
	assert_int_equal(net_server_listen(w->ctx, &w->loop, "127.0.0.1", 0, &w->relay_kp, cfg, cb,
	                                   &w->server),
	                 SOTTO_OK);
	memcpy(w->addr.key, w->relay_kp.pub, NET_ADDR_KEY_LEN);
	memcpy(w->addr.host, "127.0.0.1", 10);
	w->addr.port = net_server_port(w->server);
	assert_true(w->addr.port != 0);
}

/* Closes the server and the guard: the loop then runs dry and returns. */
static void world_finish(struct world *w)
{
	if (w->finished)
		return;
	w->finished = true;
	net_server_close(w->server);
	w->server = NULL;
	uv_close((uv_handle_t *)&w->guard, NULL);
}

/* Runs the loop to the end; then nothing may be left open or allocated. */
static void world_run_and_free(struct world *w)
{
	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (w->guard_fired)
		fail_msg("guard timer fired: the scenario hung (srv_close %u, cli_close %u)",
		         w->srv_close, w->cli_close);
	if (w->n_errors != 0)
		fail_msg("%u broken expectations, first: %s", w->n_errors, w->first_error);
	assert_int_equal(uv_loop_close(&w->loop), 0);
	sotto_ctx_free(w->ctx);
	assert_int_equal(w->alloc.n_live, 0);
}

static void record_reason(struct world *w, sotto_err *reasons, unsigned *n, sotto_err reason)
{
	EXPECT(w, *n < MAX_EVENTS);
	if (*n < MAX_EVENTS)
		reasons[*n] = reason;
	(*n)++;
}

static unsigned count_reason(const sotto_err *reasons, unsigned n, sotto_err reason)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && i < MAX_EVENTS; i++)
		k += reasons[i] == reason;
	return k;
}

/* Block k of a stream: a length and bytes that depend on tag and k. */
static size_t pattern_len(unsigned k)
{
	static const size_t lens[] = {1, 0, 500, NET_BLOCK_CONTENT_MAX, 77, 4096};
	return lens[k % (sizeof(lens) / sizeof(lens[0]))];
}

static void pattern_fill(uint8_t *out, size_t len, unsigned tag, unsigned k)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(tag * 17u + k * 5u + i);
}

static bool pattern_check(const uint8_t *p, size_t len, unsigned tag, unsigned k)
{
	if (len != pattern_len(k))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] != (uint8_t)(tag * 17u + k * 5u + i))
			return false;
	}
	return true;
}

/* ---- server callbacks shared by the scenarios: echo every block ---- */

static void srv_on_open(void *user, struct net_conn *c, const uint8_t *id, uint16_t version)
{
	struct world *w = user;
	EXPECT(w, version == 1);
	if (w->srv_open < MAX_EVENTS)
		memcpy(w->srv_ids[w->srv_open], id, NET_SESSION_ID_LEN);
	w->srv_open++;
	EXPECT(w, net_conn_is_open(c));
}

static void srv_on_block(void *user, struct net_conn *c, const uint8_t *content, size_t len)
{
	struct world *w = user;
	w->srv_blocks++;
	EXPECT(w, net_conn_send(c, content, len) == SOTTO_OK);
}

/* ---- many clients at once ---- */

enum { N_CLIENTS = 8, N_BLOCKS = 30 };

struct many {
	struct net_conn *conns[N_CLIENTS];
	unsigned n_echoed[N_CLIENTS];
};

static unsigned client_index(struct many *m, struct net_conn *c)
{
	for (unsigned i = 0; i < N_CLIENTS; i++) {
		if (m->conns[i] == c)
			return i;
	}
	return N_CLIENTS;
}

static void many_on_open(void *user, struct net_conn *c, const uint8_t *id, uint16_t version)
{
	struct world *w = user;
	struct many *m = w->scenario;
	uint8_t buf[NET_BLOCK_CONTENT_MAX];
	unsigned i = client_index(m, c);

	EXPECT(w, i < N_CLIENTS && version == 1);
	w->cli_open++;
	/* The relay opened first, with the same handshake hash. */
	for (unsigned k = 0; k < w->srv_open && k < MAX_EVENTS; k++)
		w->cli_id_matches += memcmp(w->srv_ids[k], id, NET_SESSION_ID_LEN) == 0;
	for (unsigned k = 0; k < N_BLOCKS; k++) {
		pattern_fill(buf, pattern_len(k), i, k);
		EXPECT(w, net_conn_send(c, buf, pattern_len(k)) == SOTTO_OK);
	}
}

static void many_on_block(void *user, struct net_conn *c, const uint8_t *content, size_t len)
{
	struct world *w = user;
	struct many *m = w->scenario;
	unsigned i = client_index(m, c);

	EXPECT(w, i < N_CLIENTS);
	if (i >= N_CLIENTS)
		return;
	EXPECT(w, pattern_check(content, len, i, m->n_echoed[i]));
	if (++m->n_echoed[i] == N_BLOCKS)
		net_conn_close(c);
}

static void many_cli_on_close(void *user, struct net_conn *c, sotto_err reason)
{
	struct world *w = user;
	(void)c;
	record_reason(w, w->cli_reasons, &w->cli_close, reason);
}

static void many_srv_on_close(void *user, struct net_conn *c, sotto_err reason)
{
	struct world *w = user;
	(void)c;
	record_reason(w, w->srv_reasons, &w->srv_close, reason);
	if (w->srv_close == N_CLIENTS)
		world_finish(w);
}

static void conn__exchange__many_clients_concurrently(void **state)
{
	struct world w;
	struct many m = {0};
	struct net_conn_config cfg = {.session = {.rekey_interval = 5}};
	struct net_conn_callbacks srv = {.on_open = srv_on_open,
	                                 .on_block = srv_on_block,
	                                 .on_close = many_srv_on_close,
	                                 .user = &w};
	struct net_conn_callbacks cli = {.on_open = many_on_open,
	                                 .on_block = many_on_block,
	                                 .on_close = many_cli_on_close,
	                                 .user = &w};
	(void)state;

	world_init(&w);
	w.scenario = &m;
	world_listen(&w, &cfg, &srv);
	for (unsigned i = 0; i < N_CLIENTS; i++)
		assert_int_equal(net_conn_dial(w.ctx, &w.loop, &w.addr, &cfg, &cli, &m.conns[i]),
		                 SOTTO_OK);
	world_run_and_free(&w);

	assert_int_equal(w.srv_open, N_CLIENTS);
	assert_int_equal(w.cli_open, N_CLIENTS);
	assert_int_equal(w.cli_id_matches, N_CLIENTS);
	assert_int_equal(w.srv_blocks, N_CLIENTS * N_BLOCKS);
	for (unsigned i = 0; i < N_CLIENTS; i++)
		assert_int_equal(m.n_echoed[i], N_BLOCKS);
	/* Clients closed themselves; the server saw each stream end between frames. */
	assert_int_equal(count_reason(w.cli_reasons, w.cli_close, SOTTO_ERR_CANCELLED), N_CLIENTS);
	assert_int_equal(count_reason(w.srv_reasons, w.srv_close, SOTTO_ERR_CLOSED), N_CLIENTS);
}

/* ---- hostile peers next to a good connection ---- */

enum hostile_kind {
	H_WRONG_KEY,    /* a client pinning another key */
	H_TRUNCATED,    /* part of msg1, then close */
	H_GARBAGE,      /* 52 random bytes with the right length prefix */
	H_BAD_PREFIX,   /* a length prefix msg1 never has */
	H_STALL,        /* part of msg1, then silence */
	H_OVERSIZED,    /* a good handshake, then a 65535-byte length prefix */
	H_HALF_FRAME,   /* a good handshake, then half a transport frame and close */
	H_VERSION,      /* a client speaking only version 2 */
	H_REFUSED,      /* nothing listens at the port */
	H_SILENT_RELAY, /* the "relay" accepts and never answers */
	H_COUNT,
};

struct hostile_case {
	const char *name;
	sotto_err want_server; /* SOTTO_OK: the server never sees the connection */
	sotto_err want_client; /* for net_conn clients; SOTTO_OK for raw peers */
	bool is_raw;           /* a raw socket rather than a net_conn client */
};

static const struct hostile_case HOSTILE[H_COUNT] = {
        [H_WRONG_KEY] = {"wrong key", SOTTO_ERR_AUTH, SOTTO_ERR_AUTH, false},
        [H_TRUNCATED] = {"truncated msg1", SOTTO_ERR_TRUNCATED, SOTTO_OK, true},
        [H_GARBAGE] = {"garbage msg1", SOTTO_ERR_AUTH, SOTTO_OK, true},
        [H_BAD_PREFIX] = {"bad length prefix", SOTTO_ERR_FRAME_SIZE, SOTTO_OK, true},
        [H_STALL] = {"stalled handshake", SOTTO_ERR_TIMEOUT, SOTTO_OK, true},
        [H_OVERSIZED] = {"oversized frame", SOTTO_ERR_FRAME_SIZE, SOTTO_OK, true},
        [H_HALF_FRAME] = {"half a frame", SOTTO_ERR_TRUNCATED, SOTTO_OK, true},
        [H_VERSION] = {"no common version", SOTTO_ERR_VERSION, SOTTO_ERR_VERSION, false},
        [H_REFUSED] = {"connection refused", SOTTO_OK, SOTTO_ERR_CONNECT, false},
        [H_SILENT_RELAY] = {"silent relay", SOTTO_OK, SOTTO_ERR_TIMEOUT, false},
};

/* A peer on a plain uv_tcp_t, optionally running its own session. */
struct raw_peer {
	struct world *w;
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write1, write2;
	uint8_t out[NET_MSG1_FRAME_LEN + 8];
	size_t out_len;
	uint8_t frame[NET_TRANSPORT_FRAME_LEN]; /* written after the handshake */
	uv_write_t *close_after;     /* close once this write is done; NULL: wait for EOF */
	struct net_session *session; /* H_OVERSIZED, H_HALF_FRAME */
	enum hostile_kind kind;
};

struct hostile {
	struct world *w;
	unsigned step;
	bool step_server_done, step_client_done;
	unsigned echoes_after_server_done; /* good-connection echoes since then */
	sotto_err got_server[H_COUNT], got_client[H_COUNT];
	struct net_conn *good_client, *good_server;
	unsigned good_sent, good_echoed;
	bool good_closing;
	struct raw_peer raw;
	uv_tcp_t silent_listener, silent_accepted;
	bool silent_accepted_used;
	uint16_t refused_port;
};

static void hostile_start_step(struct hostile *h);

static void hostile_maybe_advance(struct hostile *h)
{
	if (h->step >= H_COUNT)
		return;
	const struct hostile_case *c = &HOSTILE[h->step];
	if ((c->want_server != SOTTO_OK && !h->step_server_done) || !h->step_client_done)
		return;
	/* The good connection must have carried a block after this step's end. */
	if (c->want_server != SOTTO_OK && h->echoes_after_server_done == 0)
		return;
	h->step++;
	h->step_server_done = h->step_client_done = false;
	h->echoes_after_server_done = 0;
	if (h->step < H_COUNT)
		hostile_start_step(h);
}

static void raw_on_closed(uv_handle_t *handle)
{
	struct raw_peer *r = handle->data;
	struct hostile *h = r->w->scenario;
	net_session_free(r->session);
	r->session = NULL;
	h->step_client_done = true;
	hostile_maybe_advance(h);
}

static void raw_close(struct raw_peer *r)
{
	if (!uv_is_closing((uv_handle_t *)&r->tcp))
		uv_close((uv_handle_t *)&r->tcp, raw_on_closed);
}

static void raw_on_written(uv_write_t *req, int status)
{
	struct raw_peer *r = req->data;
	(void)status;
	if (req == r->close_after)
		raw_close(r);
}

static void raw_write(struct raw_peer *r, uv_write_t *req, uint8_t *bytes, size_t len)
{
	uv_buf_t buf = uv_buf_init((char *)bytes, (unsigned)len);
	req->data = r;
	if (uv_write(req, (uv_stream_t *)&r->tcp, &buf, 1, raw_on_written) != 0)
		raw_close(r);
}

/* The raw peer's own session opened: now misbehave as a transport peer. */
static sotto_err raw_on_event(void *user, const struct net_event *ev)
{
	struct raw_peer *r = user;
	uint8_t content[10] = {0};

	if (ev->type != NET_EVENT_OPEN)
		return SOTTO_OK;
	if (r->kind == H_OVERSIZED) {
		memset(r->frame, 0x55, 200);
		bytes_store_be16(r->frame, UINT16_MAX);
		raw_write(r, &r->write2, r->frame, 200);
		return SOTTO_OK; /* then wait for the relay to hang up */
	}
	EXPECT(r->w,
	       net_session_send_block(r->session, content, sizeof(content), r->frame) == SOTTO_OK);
	r->close_after = &r->write2;
	raw_write(r, &r->write2, r->frame, NET_TRANSPORT_FRAME_LEN / 2);
	return SOTTO_OK;
}

static void raw_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	static char space[65536];
	(void)handle;
	(void)suggested;
	*buf = uv_buf_init(space, sizeof(space));
}

static void raw_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct raw_peer *r = stream->data;

	if (nread < 0) {
		raw_close(r);
		return;
	}
	if (nread > 0 && r->session != NULL &&
	    net_session_feed(r->session, (uint8_t *)buf->base, (size_t)nread, raw_on_event, r) !=
	            SOTTO_OK)
		raw_close(r);
}

static void raw_on_connect(uv_connect_t *req, int status)
{
	struct raw_peer *r = req->data;
	if (status < 0) {
		EXPECT(r->w, status == 0);
		raw_close(r);
		return;
	}
	EXPECT(r->w, uv_read_start((uv_stream_t *)&r->tcp, raw_on_alloc, raw_on_read) == 0);
	raw_write(r, &r->write1, r->out, r->out_len);
}

static void raw_start(struct hostile *h, enum hostile_kind kind)
{
	struct world *w = h->w;
	struct raw_peer *r = &h->raw;
	struct sockaddr_in sa;
	uint8_t msg1[NET_MSG1_FRAME_LEN];
	struct net_session *s = NULL;

	memset(r, 0, sizeof(*r));
	r->w = w;
	r->kind = kind;
	r->tcp.data = r;
	r->connect.data = r;
	assert_int_equal(net_session_new_client(w->ctx, NULL, w->relay_kp.pub, &s), SOTTO_OK);
	assert_int_equal(net_session_start(s, msg1), SOTTO_OK);
	switch (kind) {
	case H_TRUNCATED:
		memcpy(r->out, msg1, 20);
		r->out_len = 20;
		r->close_after = &r->write1;
		break;
	case H_GARBAGE:
		bytes_store_be16(r->out, NET_MSG1_LEN);
		tu_rng_fill(&w->rng, r->out + 2, NET_MSG1_LEN);
		r->out_len = NET_MSG1_FRAME_LEN;
		break;
	case H_BAD_PREFIX:
		memcpy(r->out, msg1, sizeof(msg1));
		bytes_store_be16(r->out, 0x4000);
		r->out_len = sizeof(msg1);
		break;
	case H_STALL:
		memcpy(r->out, msg1, 10);
		r->out_len = 10;
		break;
	default: /* H_OVERSIZED, H_HALF_FRAME: a real handshake first */
		memcpy(r->out, msg1, sizeof(msg1));
		r->out_len = sizeof(msg1);
		r->session = s;
		s = NULL; /* moved */
		break;
	}
	net_session_free(s);
	assert_int_equal(uv_tcp_init(&w->loop, &r->tcp), 0);
	assert_int_equal(uv_ip4_addr("127.0.0.1", w->addr.port, &sa), 0);
	assert_int_equal(
	        uv_tcp_connect(&r->connect, &r->tcp, (const struct sockaddr *)&sa, raw_on_connect),
	        0);
}

/* Hostile net_conn clients: their on_close ends the client half of a step. */
static void hostile_cli_on_close(void *user, struct net_conn *c, sotto_err reason)
{
	struct world *w = user;
	struct hostile *h = w->scenario;
	(void)c;
	h->got_client[h->step] = reason;
	h->step_client_done = true;
	if (h->silent_accepted_used) {
		uv_close((uv_handle_t *)&h->silent_accepted, NULL);
		h->silent_accepted_used = false;
	}
	hostile_maybe_advance(h);
}

static void silent_on_connection(uv_stream_t *listener, int status)
{
	struct hostile *h = listener->data;
	EXPECT(h->w, status == 0);
	EXPECT(h->w, uv_tcp_init(&h->w->loop, &h->silent_accepted) == 0);
	EXPECT(h->w, uv_accept(listener, (uv_stream_t *)&h->silent_accepted) == 0);
	h->silent_accepted_used = true;
	uv_close((uv_handle_t *)&h->silent_listener, NULL);
}

static void hostile_dial(struct hostile *h, const struct net_addr *addr,
                         const struct net_conn_config *cfg)
{
	struct world *w = h->w;
	struct net_conn_callbacks cb = {.on_close = hostile_cli_on_close, .user = w};
	struct net_conn *c = NULL;
	assert_int_equal(net_conn_dial(w->ctx, &w->loop, addr, cfg, &cb, &c), SOTTO_OK);
}

static void hostile_start_step(struct hostile *h)
{
	struct world *w = h->w;
	struct net_addr addr = w->addr;
	struct net_conn_config cfg = {0};
	struct sockaddr_in sa;

	switch (h->step) {
	case H_WRONG_KEY:
		addr.key[0] ^= 1;
		hostile_dial(h, &addr, NULL);
		break;
	case H_VERSION:
		cfg.session.versions = (struct version_range){2, 2};
		hostile_dial(h, &addr, &cfg);
		break;
	case H_REFUSED:
		addr.port = h->refused_port;
		hostile_dial(h, &addr, NULL);
		break;
	case H_SILENT_RELAY: {
		int len = (int)sizeof(sa);
		assert_int_equal(uv_tcp_init(&w->loop, &h->silent_listener), 0);
		h->silent_listener.data = h;
		assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
		assert_int_equal(uv_tcp_bind(&h->silent_listener, (const struct sockaddr *)&sa, 0),
		                 0);
		assert_int_equal(
		        uv_listen((uv_stream_t *)&h->silent_listener, 4, silent_on_connection), 0);
		assert_int_equal(
		        uv_tcp_getsockname(&h->silent_listener, (struct sockaddr *)&sa, &len), 0);
		addr.port = ntohs(sa.sin_port);
		cfg.handshake_timeout_ms = 300;
		hostile_dial(h, &addr, &cfg);
		break;
	}
	default: raw_start(h, (enum hostile_kind)h->step); break;
	}
}

static void good_send_next(struct hostile *h)
{
	uint8_t buf[NET_BLOCK_CONTENT_MAX];
	pattern_fill(buf, pattern_len(h->good_sent), 99, h->good_sent);
	EXPECT(h->w, net_conn_send(h->good_client, buf, pattern_len(h->good_sent)) == SOTTO_OK);
	h->good_sent++;
}

static void good_on_open(void *user, struct net_conn *c, const uint8_t *id, uint16_t version)
{
	struct world *w = user;
	struct hostile *h = w->scenario;
	(void)id;
	(void)version;
	EXPECT(w, c == h->good_client);
	w->cli_open++;
	good_send_next(h);
	hostile_start_step(h);
}

/* Ping-pong: every echo sends the next block, until the last step is done. */
static void good_on_block(void *user, struct net_conn *c, const uint8_t *content, size_t len)
{
	struct world *w = user;
	struct hostile *h = w->scenario;

	EXPECT(w, pattern_check(content, len, 99, h->good_echoed));
	h->good_echoed++;
	h->echoes_after_server_done += h->step_server_done;
	hostile_maybe_advance(h);
	if (h->step >= H_COUNT) {
		net_conn_close(c);
		return;
	}
	good_send_next(h);
}

static void good_on_close(void *user, struct net_conn *c, sotto_err reason)
{
	struct world *w = user;
	(void)c;
	record_reason(w, w->cli_reasons, &w->cli_close, reason);
}

static void hostile_srv_on_open(void *user, struct net_conn *c, const uint8_t *id, uint16_t version)
{
	struct world *w = user;
	struct hostile *h = w->scenario;
	srv_on_open(user, c, id, version);
	if (h->good_server == NULL)
		h->good_server = c;
}

static void hostile_srv_on_close(void *user, struct net_conn *c, sotto_err reason)
{
	struct world *w = user;
	struct hostile *h = w->scenario;

	if (c == h->good_server) {
		record_reason(w, w->srv_reasons, &w->srv_close, reason);
		world_finish(w);
		return;
	}
	EXPECT(w, h->step < H_COUNT && !h->step_server_done);
	if (h->step < H_COUNT)
		h->got_server[h->step] = reason;
	h->step_server_done = true;
	hostile_maybe_advance(h);
}

static uint16_t unused_port(uv_loop_t *loop)
{
	uv_tcp_t tcp;
	struct sockaddr_in sa;
	int len = (int)sizeof(sa);

	assert_int_equal(uv_tcp_init(loop, &tcp), 0);
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
	assert_int_equal(uv_tcp_bind(&tcp, (const struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_tcp_getsockname(&tcp, (struct sockaddr *)&sa, &len), 0);
	uv_close((uv_handle_t *)&tcp, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return ntohs(sa.sin_port);
}

static void conn__hostile__each_ends_only_its_own_connection(void **state)
{
	struct world w;
	struct hostile *h = calloc(1, sizeof(*h));
	struct net_conn_config srv_cfg = {.handshake_timeout_ms = 1000};
	struct net_conn_callbacks srv = {.on_open = hostile_srv_on_open,
	                                 .on_block = srv_on_block,
	                                 .on_close = hostile_srv_on_close,
	                                 .user = &w};
	struct net_conn_callbacks good = {.on_open = good_on_open,
	                                  .on_block = good_on_block,
	                                  .on_close = good_on_close,
	                                  .user = &w};
	(void)state;

	assert_non_null(h);
	world_init(&w);
	h->w = &w;
	w.scenario = h;
	h->refused_port = unused_port(&w.loop);
	world_listen(&w, &srv_cfg, &srv);
	assert_int_equal(net_conn_dial(w.ctx, &w.loop, &w.addr, NULL, &good, &h->good_client),
	                 SOTTO_OK);
	world_run_and_free(&w);

	assert_int_equal(h->step, H_COUNT);
	for (unsigned i = 0; i < H_COUNT; i++) {
		const struct hostile_case *c = &HOSTILE[i];
		if (c->want_server != SOTTO_OK && h->got_server[i] != c->want_server)
			fail_msg("%s: server got %s, want %s", c->name,
			         sotto_strerror(h->got_server[i]), sotto_strerror(c->want_server));
		if (!c->is_raw && h->got_client[i] != c->want_client)
			fail_msg("%s: client got %s, want %s", c->name,
			         sotto_strerror(h->got_client[i]), sotto_strerror(c->want_client));
	}
	/* The good connection lived through all of it and ended cleanly. */
	assert_true(h->good_echoed >= H_COUNT);
	assert_int_equal(w.cli_close, 1);
	assert_int_equal(w.cli_reasons[0], SOTTO_ERR_CANCELLED);
	assert_int_equal(w.srv_close, 1);
	assert_int_equal(w.srv_reasons[0], SOTTO_ERR_CLOSED);
	free(h);
}

/* ---- back-pressure ---- */

struct busy {
	unsigned srv_sent, srv_busy, n_drains, cli_blocks;
};

/* The client's block: three frames fit the queue, the fourth is refused. */
static void busy_srv_on_block(void *user, struct net_conn *c, const uint8_t *content, size_t len)
{
	struct world *w = user;
	struct busy *b = w->scenario;
	uint8_t buf[100] = {0};
	(void)content;
	(void)len;

	for (unsigned i = 0; i < 4; i++) {
		sotto_err rc = net_conn_send(c, buf, sizeof(buf));
		b->srv_sent += rc == SOTTO_OK;
		b->srv_busy += rc == SOTTO_ERR_BUSY;
	}
	EXPECT(w, net_conn_write_queue_bytes(c) == 3 * (size_t)NET_TRANSPORT_FRAME_LEN);
	EXPECT(w, net_conn_is_open(c)); /* BUSY does not close */
	EXPECT(w, net_conn_send(c, buf, NET_BLOCK_CONTENT_MAX + 1) == SOTTO_ERR_TOO_LARGE);
}

/* The queue drained to half: the refused block goes out now. */
static void busy_srv_on_drain(void *user, struct net_conn *c)
{
	struct world *w = user;
	struct busy *b = w->scenario;
	uint8_t buf[100] = {0};

	b->n_drains++;
	EXPECT(w, net_conn_write_queue_bytes(c) <= 3 * (size_t)NET_TRANSPORT_FRAME_LEN / 2);
	EXPECT(w, net_conn_send(c, buf, sizeof(buf)) == SOTTO_OK);
	b->srv_sent++;
}

static void busy_cli_on_open(void *user, struct net_conn *c, const uint8_t *id, uint16_t version)
{
	struct world *w = user;
	(void)id;
	(void)version;
	EXPECT(w, net_conn_send(c, (const uint8_t *)"go", 2) == SOTTO_OK);
}

static void busy_cli_on_block(void *user, struct net_conn *c, const uint8_t *content, size_t len)
{
	struct world *w = user;
	struct busy *b = w->scenario;
	(void)content;
	(void)len;
	if (++b->cli_blocks == 4)
		net_conn_close(c);
}

static void busy_srv_on_close(void *user, struct net_conn *c, sotto_err reason)
{
	struct world *w = user;
	(void)c;
	record_reason(w, w->srv_reasons, &w->srv_close, reason);
	world_finish(w);
}

static void conn__busy__write_queue_full_then_drain(void **state)
{
	struct world w;
	struct busy b = {0};
	struct net_conn_config srv_cfg = {.max_write_queue_bytes = 3 * NET_TRANSPORT_FRAME_LEN};
	struct net_conn_callbacks srv = {.on_block = busy_srv_on_block,
	                                 .on_drain = busy_srv_on_drain,
	                                 .on_close = busy_srv_on_close,
	                                 .user = &w};
	struct net_conn_callbacks cli = {.on_open = busy_cli_on_open,
	                                 .on_block = busy_cli_on_block,
	                                 .on_close = many_cli_on_close,
	                                 .user = &w};
	struct net_conn *c = NULL;
	(void)state;

	world_init(&w);
	w.scenario = &b;
	world_listen(&w, &srv_cfg, &srv);
	assert_int_equal(net_conn_dial(w.ctx, &w.loop, &w.addr, NULL, &cli, &c), SOTTO_OK);
	world_run_and_free(&w);
	assert_int_equal(b.srv_busy, 1);
	assert_int_equal(b.n_drains, 1);
	assert_int_equal(b.srv_sent, 4);
	assert_int_equal(b.cli_blocks, 4);
	assert_int_equal(w.cli_reasons[0], SOTTO_ERR_CANCELLED);
	assert_int_equal(w.srv_reasons[0], SOTTO_ERR_CLOSED);
}

/* Soft sends stop at half the queue; hard sends may still use the rest. */
static void soft_srv_on_block(void *user, struct net_conn *c, const uint8_t *content, size_t len)
{
	struct world *w = user;
	struct busy *b = w->scenario;
	uint8_t buf[100] = {0};
	(void)content;
	(void)len;

	for (unsigned i = 0; i < 3; i++) {
		sotto_err rc = net_conn_send_soft(c, buf, sizeof(buf));
		b->srv_sent += rc == SOTTO_OK;
		b->srv_busy += rc == SOTTO_ERR_BUSY;
	}
	EXPECT(w, net_conn_write_queue_bytes(c) == 2 * (size_t)NET_TRANSPORT_FRAME_LEN);
	/* The headroom: two more frames fit when they must. */
	EXPECT(w, net_conn_send(c, buf, sizeof(buf)) == SOTTO_OK);
	EXPECT(w, net_conn_send(c, buf, sizeof(buf)) == SOTTO_OK);
	EXPECT(w, net_conn_send(c, buf, sizeof(buf)) == SOTTO_ERR_BUSY);
	b->srv_sent += 2;
}

static void soft_srv_on_drain(void *user, struct net_conn *c)
{
	struct world *w = user;
	struct busy *b = w->scenario;
	uint8_t buf[100] = {0};

	b->n_drains++;
	EXPECT(w, net_conn_write_queue_bytes(c) <= (size_t)NET_TRANSPORT_FRAME_LEN);
	EXPECT(w, net_conn_send_soft(c, buf, sizeof(buf)) == SOTTO_OK);
	b->srv_sent++;
}

static void soft_cli_on_block(void *user, struct net_conn *c, const uint8_t *content, size_t len)
{
	struct world *w = user;
	struct busy *b = w->scenario;
	(void)content;
	(void)len;
	if (++b->cli_blocks == 5)
		net_conn_close(c);
}

static void conn__busy__soft_send_keeps_half_the_queue(void **state)
{
	struct world w;
	struct busy b = {0};
	struct net_conn_config srv_cfg = {.max_write_queue_bytes = 4 * NET_TRANSPORT_FRAME_LEN};
	struct net_conn_callbacks srv = {.on_block = soft_srv_on_block,
	                                 .on_drain = soft_srv_on_drain,
	                                 .on_close = busy_srv_on_close,
	                                 .user = &w};
	struct net_conn_callbacks cli = {.on_open = busy_cli_on_open,
	                                 .on_block = soft_cli_on_block,
	                                 .on_close = many_cli_on_close,
	                                 .user = &w};
	struct net_conn *c = NULL;
	(void)state;

	world_init(&w);
	w.scenario = &b;
	world_listen(&w, &srv_cfg, &srv);
	assert_int_equal(net_conn_dial(w.ctx, &w.loop, &w.addr, NULL, &cli, &c), SOTTO_OK);
	world_run_and_free(&w);
	assert_int_equal(b.srv_busy, 1);
	assert_int_equal(b.n_drains, 1);
	assert_int_equal(b.srv_sent, 5);
	assert_int_equal(b.cli_blocks, 5);
}

/* ---- connection limit, server shutdown ---- */

struct limit {
	struct net_conn *conns[3];
};

static void limit_check_done(struct world *w)
{
	struct limit *l = w->scenario;
	/* Two open and one refused: shut the server down with the two inside. */
	if (w->cli_open == 2 && w->cli_close == 1 && w->srv_close == 1 && !w->finished) {
		EXPECT(w, net_server_n_conns(w->server) == 2);
		(void)l;
		world_finish(w);
	}
}

static void limit_cli_on_open(void *user, struct net_conn *c, const uint8_t *id, uint16_t v)
{
	struct world *w = user;
	(void)c;
	(void)id;
	(void)v;
	w->cli_open++;
	limit_check_done(w);
}

static void limit_cli_on_close(void *user, struct net_conn *c, sotto_err reason)
{
	struct world *w = user;
	(void)c;
	record_reason(w, w->cli_reasons, &w->cli_close, reason);
	limit_check_done(w);
}

static void limit_srv_on_close(void *user, struct net_conn *c, sotto_err reason)
{
	struct world *w = user;
	(void)c;
	record_reason(w, w->srv_reasons, &w->srv_close, reason);
	limit_check_done(w);
}

static void conn__busy__max_connections_then_server_close(void **state)
{
	struct world w;
	struct limit l = {0};
	struct net_conn_config srv_cfg = {.max_connections = 2};
	struct net_conn_callbacks srv = {
	        .on_open = srv_on_open, .on_close = limit_srv_on_close, .user = &w};
	struct net_conn_callbacks cli = {
	        .on_open = limit_cli_on_open, .on_close = limit_cli_on_close, .user = &w};
	(void)state;

	world_init(&w);
	w.scenario = &l;
	world_listen(&w, &srv_cfg, &srv);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(net_conn_dial(w.ctx, &w.loop, &w.addr, NULL, &cli, &l.conns[i]),
		                 SOTTO_OK);
	world_run_and_free(&w);
	/* The excess connection: BUSY on the server, a closed stream for the client. */
	assert_int_equal(w.srv_open, 2);
	assert_int_equal(w.srv_close, 3);
	assert_int_equal(count_reason(w.srv_reasons, 3, SOTTO_ERR_BUSY), 1);
	/* Closing the server cancels the two open ones; their clients see the stream end. */
	assert_int_equal(count_reason(w.srv_reasons, 3, SOTTO_ERR_CANCELLED), 2);
	assert_int_equal(w.cli_close, 3);
	assert_int_equal(count_reason(w.cli_reasons, 3, SOTTO_ERR_CLOSED), 3);
}

/* ---- idle timeout ---- */

enum {
	IDLE_MS = 500,        /* the server's idle timeout in these tests */
	IDLE_TICK_MS = 50,    /* the busy client sends a block this often: a tenth of IDLE_MS */
	IDLE_TICKS_MIN = 40,  /* ticks the busy client lives through: four idle timeouts */
	IDLE_CLIENT_MS = 300, /* the client's own idle timeout in the client-side test */
};

struct idle {
	struct world *w;
	struct net_conn_callbacks cli_cb;
	uv_timer_t tick;
	bool is_ticking;
	struct net_conn *silent, *busy; /* client side */
	struct net_conn *srv_silent;    /* server side of the silent one, until it closes */
	bool is_silent_closed;          /* on the client side */
	unsigned n_ticks, n_pushed, n_silent_rx, n_sent, n_echoed;
	sotto_err silent_srv, busy_srv, silent_cli, busy_cli; /* close reasons */
	unsigned n_closed;                                    /* of the four ends */
};

static void idle_closed(struct idle *id)
{
	if (++id->n_closed < 4)
		return;
	if (id->is_ticking)
		uv_close((uv_handle_t *)&id->tick, NULL);
	world_finish(id->w);
}

/* The server pushes one block to the silent client: blocks sent must not keep it alive. */
static void idle_push(struct idle *id)
{
	uint8_t b = (uint8_t)id->n_pushed;

	if (id->srv_silent == NULL || !net_conn_is_open(id->srv_silent))
		return;
	EXPECT(id->w, net_conn_send(id->srv_silent, &b, 1) == SOTTO_OK);
	id->n_pushed++;
}

/*
 * Every tick the server pushes to the silent client and the busy client
 * sends a block (echoed back). Once the silent one is gone and the busy one
 * has lived through several idle timeouts, the busy one closes itself as
 * soon as every echo is back.
 */
static void idle_on_tick(uv_timer_t *t)
{
	struct idle *id = t->data;
	uint8_t b = (uint8_t)id->n_ticks;

	id->n_ticks++;
	idle_push(id);
	if (id->is_silent_closed && id->n_ticks >= IDLE_TICKS_MIN) {
		if (id->n_echoed == id->n_sent) {
			(void)uv_timer_stop(t);
			net_conn_close(id->busy);
		}
		return;
	}
	EXPECT(id->w, net_conn_send(id->busy, &b, 1) == SOTTO_OK);
	id->n_sent++;
}

static void idle_srv_on_open(void *user, struct net_conn *c, const uint8_t *sid, uint16_t v)
{
	struct world *w = user;
	struct idle *id = w->scenario;

	srv_on_open(user, c, sid, v);
	if (w->srv_open == 1) { /* the silent client dials first, alone */
		id->srv_silent = c;
		idle_push(id);
	}
}

static void idle_srv_on_close(void *user, struct net_conn *c, sotto_err reason)
{
	struct world *w = user;
	struct idle *id = w->scenario;

	if (c == id->srv_silent) {
		id->srv_silent = NULL;
		id->silent_srv = reason;
	} else {
		id->busy_srv = reason;
	}
	idle_closed(id);
}

/* The silent client, once open, brings in the busy one; the busy one starts the ticks. */
static void idle_cli_on_open(void *user, struct net_conn *c, const uint8_t *sid, uint16_t v)
{
	struct world *w = user;
	struct idle *id = w->scenario;
	(void)sid;
	(void)v;

	w->cli_open++;
	if (c == id->silent) {
		EXPECT(w, net_conn_dial(w->ctx, &w->loop, &w->addr, NULL, &id->cli_cb, &id->busy) ==
		                  SOTTO_OK);
		return;
	}
	EXPECT(w, uv_timer_start(&id->tick, idle_on_tick, IDLE_TICK_MS, IDLE_TICK_MS) == 0);
}

static void idle_cli_on_block(void *user, struct net_conn *c, const uint8_t *content, size_t len)
{
	struct world *w = user;
	struct idle *id = w->scenario;
	(void)content;

	EXPECT(w, len == 1);
	if (c == id->busy)
		id->n_echoed++;
	else
		id->n_silent_rx++;
}

static void idle_cli_on_close(void *user, struct net_conn *c, sotto_err reason)
{
	struct world *w = user;
	struct idle *id = w->scenario;

	if (c == id->silent) {
		id->is_silent_closed = true;
		id->silent_cli = reason;
	} else {
		id->busy_cli = reason;
	}
	idle_closed(id);
}

static void conn__idle_timeout__silent_peer_closed_sending_peer_kept(void **state)
{
	struct world w;
	struct idle id = {0};
	struct net_conn_config srv_cfg = {.idle_timeout_ms = IDLE_MS};
	struct net_conn_callbacks srv = {.on_open = idle_srv_on_open,
	                                 .on_block = srv_on_block,
	                                 .on_close = idle_srv_on_close,
	                                 .user = &w};
	(void)state;

	world_init(&w);
	w.scenario = &id;
	id.w = &w;
	id.cli_cb = (struct net_conn_callbacks){.on_open = idle_cli_on_open,
	                                        .on_block = idle_cli_on_block,
	                                        .on_close = idle_cli_on_close,
	                                        .user = &w};
	assert_int_equal(uv_timer_init(&w.loop, &id.tick), 0);
	id.tick.data = &id;
	id.is_ticking = true;
	world_listen(&w, &srv_cfg, &srv);
	assert_int_equal(net_conn_dial(w.ctx, &w.loop, &w.addr, NULL, &id.cli_cb, &id.silent),
	                 SOTTO_OK);
	world_run_and_free(&w);

	/* The silent client was closed by the server's idle timeout... */
	assert_int_equal(id.silent_srv, SOTTO_ERR_TIMEOUT);
	assert_int_equal(id.silent_cli, SOTTO_ERR_CLOSED);
	/* ...although the server kept sending to it, and it received those blocks. */
	assert_true(id.n_pushed >= 1);
	assert_int_equal(id.n_silent_rx, id.n_pushed);
	/* The busy one outlived several idle timeouts and ended by its own close. */
	assert_int_equal(id.busy_srv, SOTTO_ERR_CLOSED);
	assert_int_equal(id.busy_cli, SOTTO_ERR_CANCELLED);
	assert_true(id.n_ticks >= IDLE_TICKS_MIN);
	assert_true(id.n_sent >= IDLE_TICKS_MIN - 1);
	assert_int_equal(id.n_echoed, id.n_sent);
	assert_int_equal(w.srv_open, 2);
	assert_int_equal(w.cli_open, 2);
}

/* The client's own idle timeout: a server that answers nothing is given up on. */
static void idle_client_open(void *user, struct net_conn *c, const uint8_t *sid, uint16_t v)
{
	struct world *w = user;
	(void)sid;
	(void)v;
	w->cli_open++;
	EXPECT(w, net_conn_send(c, (const uint8_t *)"x", 1) == SOTTO_OK);
}

static void idle_client_close(void *user, struct net_conn *c, sotto_err reason)
{
	struct world *w = user;
	(void)c;
	record_reason(w, w->cli_reasons, &w->cli_close, reason);
	if (w->cli_close == 1 && w->srv_close == 1)
		world_finish(w);
}

static void idle_client_srv_block(void *user, struct net_conn *c, const uint8_t *content,
                                  size_t len)
{
	struct world *w = user;
	(void)c;
	(void)content;
	(void)len;
	w->srv_blocks++; /* and no answer */
}

static void idle_client_srv_close(void *user, struct net_conn *c, sotto_err reason)
{
	struct world *w = user;
	(void)c;
	record_reason(w, w->srv_reasons, &w->srv_close, reason);
	if (w->cli_close == 1 && w->srv_close == 1)
		world_finish(w);
}

static void conn__idle_timeout__client_gives_up_on_a_server_that_sends_nothing(void **state)
{
	struct world w;
	struct net_conn_config cli_cfg = {.idle_timeout_ms = IDLE_CLIENT_MS};
	struct net_conn_callbacks srv = {.on_open = srv_on_open,
	                                 .on_block = idle_client_srv_block,
	                                 .on_close = idle_client_srv_close,
	                                 .user = &w};
	struct net_conn_callbacks cli = {
	        .on_open = idle_client_open, .on_close = idle_client_close, .user = &w};
	struct net_conn *c = NULL;
	(void)state;

	world_init(&w);
	world_listen(&w, NULL, &srv); /* the server's own idle timeout: the default 10 min */
	assert_int_equal(net_conn_dial(w.ctx, &w.loop, &w.addr, &cli_cfg, &cli, &c), SOTTO_OK);
	world_run_and_free(&w);
	assert_int_equal(w.cli_open, 1);
	assert_int_equal(w.srv_blocks, 1);
	assert_int_equal(w.cli_reasons[0], SOTTO_ERR_TIMEOUT);
	assert_int_equal(w.srv_reasons[0], SOTTO_ERR_CLOSED);
}

/* ---- resolve failure, bad arguments ---- */

static void simple_cli_on_close(void *user, struct net_conn *c, sotto_err reason)
{
	struct world *w = user;
	(void)c;
	record_reason(w, w->cli_reasons, &w->cli_close, reason);
	world_finish(w);
}

static void conn__resolve__unknown_host(void **state)
{
	struct world w;
	struct net_conn_callbacks cli = {.on_close = simple_cli_on_close, .user = &w};
	struct net_addr addr = {0};
	struct net_conn *c = NULL;
	(void)state;

	world_init(&w);
	memcpy(addr.host, "nonexistent.invalid", 20);
	addr.port = 1;
	assert_int_equal(net_conn_dial(w.ctx, &w.loop, &addr, NULL, &cli, &c), SOTTO_OK);
	assert_non_null(c);
	world_run_and_free(&w);
	assert_int_equal(w.cli_close, 1);
	assert_int_equal(w.cli_reasons[0], SOTTO_ERR_RESOLVE);
}

static void conn__listen__invalid_and_taken(void **state)
{
	struct world w;
	struct net_conn_callbacks cb = {.user = &w};
	struct net_server *other = (struct net_server *)&w; /* must be cleared */
	struct net_conn_config bad = {.max_write_queue_bytes = 100};
	struct net_conn_config bad_idle = {.idle_timeout_ms = NET_IDLE_TIMEOUT_MS_MAX + 1u};
	struct net_conn *c = (struct net_conn *)&w;
	(void)state;

	world_init(&w);
	assert_int_equal(
	        net_server_listen(w.ctx, &w.loop, "localhost", 0, &w.relay_kp, NULL, &cb, &other),
	        SOTTO_ERR_INVALID);
	assert_null(other);
	assert_int_equal(
	        net_server_listen(w.ctx, &w.loop, "127.0.0.1", 0, &w.relay_kp, &bad, &cb, &other),
	        SOTTO_ERR_INVALID);
	assert_int_equal(net_server_listen(w.ctx, &w.loop, "127.0.0.1", 0, &w.relay_kp, &bad_idle,
	                                   &cb, &other),
	                 SOTTO_ERR_INVALID);
	assert_null(other);
	world_listen(&w, NULL, &cb);
	assert_int_equal(net_server_listen(w.ctx, &w.loop, "127.0.0.1", w.addr.port, &w.relay_kp,
	                                   NULL, &cb, &other),
	                 SOTTO_ERR_IO);
	assert_null(other);
	assert_int_equal(net_conn_dial(w.ctx, &w.loop, &w.addr, &bad, &cb, &c), SOTTO_ERR_INVALID);
	assert_null(c);
	assert_int_equal(net_conn_dial(w.ctx, &w.loop, &w.addr, &bad_idle, &cb, &c),
	                 SOTTO_ERR_INVALID);
	assert_null(c);
	/* An IPv6 listener works too, where the host has IPv6. */
	if (net_server_listen(w.ctx, &w.loop, "::1", 0, &w.relay_kp, NULL, &cb, &other) ==
	    SOTTO_OK) {
		assert_true(net_server_port(other) != 0);
		net_server_close(other);
	}
	world_finish(&w);
	world_run_and_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(conn__exchange__many_clients_concurrently),
	        cmocka_unit_test(conn__hostile__each_ends_only_its_own_connection),
	        cmocka_unit_test(conn__busy__write_queue_full_then_drain),
	        cmocka_unit_test(conn__busy__soft_send_keeps_half_the_queue),
	        cmocka_unit_test(conn__busy__max_connections_then_server_close),
	        cmocka_unit_test(conn__idle_timeout__silent_peer_closed_sending_peer_kept),
	        cmocka_unit_test(
	                conn__idle_timeout__client_gives_up_on_a_server_that_sends_nothing),
	        cmocka_unit_test(conn__resolve__unknown_host),
	        cmocka_unit_test(conn__listen__invalid_and_taken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
