/* SPDX-License-Identifier: MIT */
/*
 * limits_test.c - every limit of the relay exercised by real clients over
 * loopback: one uv loop runs a relay_server on 127.0.0.1 (ephemeral port,
 * SQLite store in a fresh temporary directory); good clients are made with
 * net_conn_dial and the codec, hostile peers with raw POSIX sockets. Each
 * test keeps a good client chatting (SEND, GET, ACK in a loop) while the
 * limit is hit, and checks that it kept being served.
 *
 * Scenarios are driven by answers and by a poll timer that only looks at
 * state (raw sockets closed, counters reached); a guard timer fails a
 * scenario that would hang. Nothing asserts on timing: limits with a time
 * are configured small and the test waits for the event.
 *
 * Bytes buffered per slow reader are covered by
 * server__drops__slow_reader_others_keep_working in server_test.c.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "core/ctx.h"
#include "net/conn.h"
#include "net/session.h"
#include "relay/cmd.h"
#include "relay/server.h"
#include "relay/relay_testlib.h"
#include "relay/store.h"
#include "test_util.h"

/*
 * Under AddressSanitizer the resident size measures the instrumentation (a
 * redzone around every allocation, the first 4 KiB of each malloc filled, freed
 * blocks held in quarantine) more than the relay, so the idle-memory bound
 * is asserted only in uninstrumented builds; the figure is printed in both.
 */
#if defined(__SANITIZE_ADDRESS__)
#define LIMITS_IS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LIMITS_IS_ASAN 1
#endif
#endif
#ifndef LIMITS_IS_ASAN
#define LIMITS_IS_ASAN 0
#endif

enum {
	GUARD_MS = 30000,           /* fails the test; never reached when things work */
	WORLD_SEED = 777,           /* seeds the relay context's tu_rng */
	POLL_MS = 5,                /* how often the poll timer looks at the scenario */
	CHAT_ROUNDS = 3,            /* rounds the good client must finish after the event */
	N_CONNS = 8,                /* max_connections of the connection test */
	FLOOD_MAX = 1000,           /* max_connections of the flood test */
	FLOOD_N = 2000,             /* raw connections of the flood */
	FLOOD_WAVE = 100,           /* connections opened per loop turn */
	IDLE_N = 1000,              /* idle handshaken connections of the memory test */
	IDLE_BYTES_MAX = 16 * 1024, /* per idle connection: no block buffers held */
	FD_LIMIT = 8192,            /* RLIMIT_NOFILE the flood and memory tests need at most */
};

static struct relay_stats world_stats(struct rt_world *w)
{
	struct relay_stats st;
	relay_core_stats(relay_server_core(w->server), &st);
	return st;
}

static void send_body_flags(struct rt_cli *c, const uint8_t sid[RELAY_ID_LEN], uint32_t corr,
                            uint8_t flags)
{
	static const uint8_t body[] = "chat";
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, RELAY_CMD_SEND, corr, sid);
	cmd.body = body;
	cmd.body_len = sizeof(body);
	cmd.flags = flags;
	rt_cli_send(c, &cmd, NULL); /* unsecured queue: no MAC */
}

static void send_body(struct rt_cli *c, const uint8_t sid[RELAY_ID_LEN], uint32_t corr)
{
	send_body_flags(c, sid, corr, 0);
}

static bool is_err(const struct relay_resp *r, uint32_t corr, enum relay_err err)
{
	return r->code == RELAY_RESP_ERR && r->corr == corr && r->err == (uint8_t)err;
}

/* ---- the good client: NEW once, then SEND, GET, ACK in a loop ---- */

enum { CHAT_NEW = 1, CHAT_SEND = 2, CHAT_GET = 3, CHAT_ACK = 4 };

struct chat {
	struct rt_cli c;
	struct rt_keys k;
	unsigned rounds;                   /* SEND, GET, ACK cycles finished */
	bool is_stopping;                  /* finish the round in flight, then stay quiet */
	uint8_t get_tx[RELAY_CMD_MAX_LEN]; /* the last authorised GET, as sent */
	size_t get_tx_len;
};

static void chat_resp(struct rt_cli *c, const struct relay_resp *r, const uint8_t *tx, size_t len)
{
	struct chat *ch = (struct chat *)c;
	static uint8_t plain[RELAY_DELIVERY_PLAIN_MAX];
	struct relay_msg m;
	struct relay_cmd cmd;
	(void)tx;
	(void)len;

	if (r->code == RELAY_RESP_IDS && r->corr == CHAT_NEW) {
		rt_take_ids(c->w, &ch->k, r);
		send_body(c, ch->k.sid, CHAT_SEND);
	} else if (r->code == RELAY_RESP_OK && r->corr == CHAT_SEND) {
		relay_cmd_init(&cmd, RELAY_CMD_GET, CHAT_GET, ch->k.rid);
		ch->get_tx_len = rt_cli_encode(c, ch->get_tx, &cmd, ch->k.k_rauth);
		rt_cli_send_tx(c, ch->get_tx, ch->get_tx_len);
	} else if (r->code == RELAY_RESP_MSG && r->corr == CHAT_GET) {
		RT_EXPECT(c->w, relay_msg_open(&m, plain, r, ch->k.k_deliver) == SOTTO_OK);
		RT_EXPECT(c->w, m.body_len == 5 && memcmp(m.body, "chat", 5) == 0);
		relay_cmd_init(&cmd, RELAY_CMD_ACK, CHAT_ACK, ch->k.rid);
		memcpy(cmd.msg_id, r->msg_id, RELAY_MSG_ID_LEN);
		rt_cli_send(c, &cmd, ch->k.k_rauth);
	} else if (r->code == RELAY_RESP_OK && r->corr == CHAT_ACK) {
		ch->rounds++;
		if (!ch->is_stopping)
			send_body(c, ch->k.sid, CHAT_SEND);
	} else {
		rt_expect_failed(c->w, "unexpected answer to the good client", __LINE__);
	}
}

static void chat_open(struct rt_cli *c)
{
	struct chat *ch = (struct chat *)c;
	rt_send_new(c, &ch->k, CHAT_NEW);
}

static void chat_start(struct rt_world *w, struct chat *ch)
{
	memset(ch, 0, sizeof(*ch));
	rt_cli_dial(w, &ch->c, NULL, chat_open, chat_resp);
}

/* ---- raw POSIX sockets ---- */

/* Connects to the relay (non-blocking connects may still be in progress); -1 on failure. */
static int raw_connect(struct rt_world *w, bool is_nonblocking)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | (is_nonblocking ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(w->addr.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* True once the relay has ended the stream (EOF or reset); never blocks. */
static bool raw_is_closed(int fd)
{
	uint8_t b;
	ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);

	if (n == 0)
		return true;
	if (n > 0)
		return false;
	return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ENOTCONN;
}

static size_t count_open_fds(void)
{
	size_t n = 0;
	DIR *d = opendir("/proc/self/fd");

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	(void)closedir(d);
	return n;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur >= FD_LIMIT)
		return;
	rl.rlim_cur = rl.rlim_max < FD_LIMIT ? rl.rlim_max : FD_LIMIT;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < FD_LIMIT)
		skip(); /* the hard limit does not allow the flood */
}

/* ---- messages per queue ---- */

struct quota {
	struct rt_world *w;
	struct rt_cli a;
	struct rt_keys k;
	uint32_t n_ok;
	bool got_quota, got_msg, got_ack, got_stuck, got_send_after_ack, got_quota_again;
};

static void quota_resp(struct rt_cli *c, const struct relay_resp *r, const uint8_t *tx, size_t len)
{
	struct quota *q = c->scenario;
	struct relay_cmd cmd;
	(void)tx;
	(void)len;

	if (r->code == RELAY_RESP_IDS && r->corr == 1) {
		rt_take_ids(q->w, &q->k, r);
		send_body(c, q->k.sid, 10);
	} else if (r->code == RELAY_RESP_OK && r->corr >= 10 && r->corr < 14) {
		q->n_ok++;
		send_body(c, q->k.sid, r->corr + 1);
	} else if (is_err(r, 14, RELAY_ERR_QUOTA)) {
		RT_EXPECT(q->w, memcmp(r->entity, q->k.sid, RELAY_ID_LEN) == 0);
		q->got_quota = true;
		relay_cmd_init(&cmd, RELAY_CMD_GET, 20, q->k.rid);
		rt_cli_send(c, &cmd, q->k.k_rauth);
	} else if (r->code == RELAY_RESP_MSG && r->corr == 20) {
		q->got_msg = true;
		relay_cmd_init(&cmd, RELAY_CMD_ACK, 21, q->k.rid);
		memcpy(cmd.msg_id, r->msg_id, RELAY_MSG_ID_LEN);
		rt_cli_send(c, &cmd, q->k.k_rauth);
	} else if (r->code == RELAY_RESP_OK && r->corr == 21) {
		q->got_ack = true;
		send_body(c, q->k.sid, 22);
	} else if (is_err(r, 22, RELAY_ERR_QUOTA)) {
		/* Room again, but after a QUOTA this connection must RESUME (§4.4). */
		q->got_stuck = true;
		send_body_flags(c, q->k.sid, 23, RELAY_SEND_RESUME);
	} else if (r->code == RELAY_RESP_OK && r->corr == 23) {
		q->got_send_after_ack = true;
		send_body(c, q->k.sid, 24);
	} else if (is_err(r, 24, RELAY_ERR_QUOTA)) {
		q->got_quota_again = true;
		rt_cli_close(c);
		rt_world_finish(q->w);
	} else {
		rt_expect_failed(q->w, "unexpected answer", __LINE__);
	}
}

static void quota_open(struct rt_cli *c)
{
	struct quota *q = c->scenario;
	rt_send_new(c, &q->k, 1);
}

static void limits__quota__fifth_send_refused_until_ack(void **state)
{
	struct rt_world w;
	struct quota q;
	struct relay_server_config cfg = {.core = {.quota = 4}};
	(void)state;

	memset(&q, 0, sizeof(q));
	rt_world_init(&w, &cfg, WORLD_SEED, GUARD_MS, POLL_MS);
	q.w = &w;
	rt_cli_dial(&w, &q.a, &q, quota_open, quota_resp);
	rt_world_run_and_free(&w);
	assert_int_equal(q.n_ok, 4);
	assert_true(q.got_quota && q.got_msg && q.got_ack);
	assert_true(q.got_stuck && q.got_send_after_ack && q.got_quota_again);
	assert_int_equal(w.final_stats.n_errors[RELAY_ERR_QUOTA], 3);
	assert_int_equal(w.final_stats.n_msgs_in, 5);
}

/* ---- queues created per connection per minute ---- */

struct rate {
	struct rt_world *w;
	struct rt_cli a, b;
	struct rt_keys k;
	uint32_t n_ids_a;
	bool got_rate, got_ids_b;
};

static void rate_b_resp(struct rt_cli *c, const struct relay_resp *r, const uint8_t *tx, size_t len)
{
	struct rate *rt = c->scenario;
	(void)tx;
	(void)len;

	RT_EXPECT(rt->w, r->code == RELAY_RESP_IDS && r->corr == 1);
	rt->got_ids_b = true;
	rt_cli_close(&rt->a);
	rt_cli_close(&rt->b);
	rt_world_finish(rt->w);
}

static void rate_b_open(struct rt_cli *c)
{
	struct rate *rt = c->scenario;
	rt_send_new(c, &rt->k, 1);
}

static void rate_a_resp(struct rt_cli *c, const struct relay_resp *r, const uint8_t *tx, size_t len)
{
	struct rate *rt = c->scenario;
	(void)tx;
	(void)len;

	if (r->code == RELAY_RESP_IDS && r->corr == rt->n_ids_a + 1) {
		rt->n_ids_a++;
		rt_send_new(c, &rt->k, rt->n_ids_a + 1);
	} else if (is_err(r, 4, RELAY_ERR_RATE)) {
		rt->got_rate = true;
		rt_cli_dial(rt->w, &rt->b, rt, rate_b_open, rate_b_resp);
	} else {
		rt_expect_failed(rt->w, "unexpected answer", __LINE__);
	}
}

static void rate_a_open(struct rt_cli *c)
{
	struct rate *rt = c->scenario;
	rt_send_new(c, &rt->k, 1);
}

static void limits__rate__fourth_new_refused_other_connection_unaffected(void **state)
{
	struct rt_world w;
	struct rate rt;
	struct relay_server_config cfg = {.core = {.new_per_minute = 3}};
	(void)state;

	memset(&rt, 0, sizeof(rt));
	rt_world_init(&w, &cfg, WORLD_SEED, GUARD_MS, POLL_MS);
	rt.w = &w;
	rt_cli_dial(&w, &rt.a, &rt, rate_a_open, rate_a_resp);
	rt_world_run_and_free(&w);
	assert_int_equal(rt.n_ids_a, 3);
	assert_true(rt.got_rate && rt.got_ids_b);
	assert_int_equal(w.final_stats.n_queues_created, 4);
	assert_int_equal(w.final_stats.n_errors[RELAY_ERR_RATE], 1);
}

/* ---- total connections ---- */

struct conns {
	struct rt_world *w;
	struct rt_cli c[N_CONNS];
	struct rt_cli extra;
	unsigned n_open, n_pongs;
	bool extra_dialled, pings_sent;
};

static void conns_resp(struct rt_cli *c, const struct relay_resp *r, const uint8_t *tx, size_t len)
{
	struct conns *cs = c->scenario;
	(void)tx;
	(void)len;

	RT_EXPECT(cs->w, r->code == RELAY_RESP_PONG && r->corr == 9);
	cs->n_pongs++;
}

static void conns_open(struct rt_cli *c)
{
	struct conns *cs = c->scenario;

	if (++cs->n_open == N_CONNS) {
		cs->extra_dialled = true;
		rt_cli_dial(cs->w, &cs->extra, cs, NULL, NULL);
	}
}

/* Once the extra connection is closed, every other one must still answer PING. */
static void conns_poll(struct rt_world *w)
{
	struct conns *cs = w->scenario;
	struct relay_cmd cmd;

	if (!cs->extra_dialled || !cs->extra.is_closed)
		return;
	if (!cs->pings_sent) {
		cs->pings_sent = true;
		relay_cmd_init(&cmd, RELAY_CMD_PING, 9, NULL);
		for (size_t i = 0; i < N_CONNS; i++)
			rt_cli_send(&cs->c[i], &cmd, NULL);
	}
	if (cs->n_pongs < N_CONNS)
		return;
	for (size_t i = 0; i < N_CONNS; i++)
		rt_cli_close(&cs->c[i]);
	rt_world_finish(w);
}

static void limits__connections__ninth_closed_at_once_others_keep_working(void **state)
{
	struct rt_world w;
	struct conns *cs = calloc(1, sizeof(*cs));
	struct relay_server_config cfg = {.conn = {.max_connections = N_CONNS}};
	(void)state;

	assert_non_null(cs);
	rt_world_init(&w, &cfg, WORLD_SEED, GUARD_MS, POLL_MS);
	cs->w = &w;
	w.scenario = cs;
	w.on_poll = conns_poll;
	for (size_t i = 0; i < N_CONNS; i++)
		rt_cli_dial(&w, &cs->c[i], cs, conns_open, conns_resp);
	rt_world_run_and_free(&w);
	assert_int_equal(cs->n_open, N_CONNS);
	assert_int_equal(cs->n_pongs, N_CONNS);
	assert_false(cs->extra.is_open);
	assert_true(cs->extra.close_reason == SOTTO_ERR_CLOSED ||
	            cs->extra.close_reason == SOTTO_ERR_IO);
	assert_int_equal(w.final_stats.n_connections, N_CONNS);
	free(cs);
}

/* ---- handshake timeout ---- */

struct hs {
	struct rt_world *w;
	struct chat chat;
	int silent_fd, half_fd;
	unsigned rounds_at_close; /* the good client's rounds when both were closed */
	bool raw_started, raw_closed;
};

/* Starts the raw peers once the good client chats; ends CHAT_ROUNDS rounds after they close. */
static void hs_poll(struct rt_world *w)
{
	struct hs *h = w->scenario;
	struct net_session *s = NULL;
	uint8_t msg1[NET_MSG1_FRAME_LEN];

	if (!h->raw_started) {
		if (h->chat.rounds == 0)
			return;
		h->raw_started = true;
		h->silent_fd = raw_connect(w, false);
		h->half_fd = raw_connect(w, false);
		RT_EXPECT(w, h->silent_fd >= 0 && h->half_fd >= 0);
		RT_EXPECT(w, net_session_new_client(w->ctx, NULL, w->relay_kp.pub, &s) == SOTTO_OK);
		RT_EXPECT(w, s != NULL && net_session_start(s, msg1) == SOTTO_OK);
		net_session_free(s);
		RT_EXPECT(w,
		          write(h->half_fd, msg1, sizeof(msg1) / 2) == (ssize_t)(sizeof(msg1) / 2));
		return;
	}
	if (!h->raw_closed) {
		if (!raw_is_closed(h->silent_fd) || !raw_is_closed(h->half_fd))
			return;
		h->raw_closed = true;
		h->rounds_at_close = h->chat.rounds;
		return;
	}
	if (h->chat.rounds < h->rounds_at_close + CHAT_ROUNDS)
		return;
	h->chat.is_stopping = true;
	rt_cli_close(&h->chat.c);
	rt_world_finish(w);
}

static void limits__handshake_timeout__silent_and_half_msg1_peers_closed(void **state)
{
	struct rt_world w;
	struct hs *h = calloc(1, sizeof(*h));
	struct relay_server_config cfg = {.conn = {.handshake_timeout_ms = 200}};
	(void)state;

	assert_non_null(h);
	rt_world_init(&w, &cfg, WORLD_SEED, GUARD_MS, POLL_MS);
	h->w = &w;
	h->silent_fd = h->half_fd = -1;
	w.scenario = h;
	w.on_poll = hs_poll;
	chat_start(&w, &h->chat);
	rt_world_run_and_free(&w);
	assert_true(h->raw_closed);
	assert_true(h->chat.rounds >= h->rounds_at_close + CHAT_ROUNDS);
	assert_int_equal(w.final_stats.n_connections, 1); /* neither raw peer got a client */
	(void)close(h->silent_fd);
	(void)close(h->half_fd);
	free(h);
}

/* ---- idle timeout ---- */

enum {
	IDLE_TIMEOUT_MS = 300, /* the relay's idle timeout in this test */
	PING_EVERY_POLLS = 10, /* the pinging client's PING period, in polls: a sixth of it */
	PONGS_AFTER = 30,      /* PONGs the pinger collects after the silent one is gone */
	IDLE_NEW = 1,
	IDLE_PING = 2,
};

struct quiet {
	struct rt_world *w;
	struct rt_cli silent, pinger;
	struct rt_keys k;
	unsigned n_polls, n_pongs, pongs_at_close;
	bool got_ids, ping_out, silent_seen_closed;
};

static void quiet_silent_open(struct rt_cli *c)
{
	struct quiet *q = c->scenario;
	rt_send_new(c, &q->k, IDLE_NEW); /* one command, then silence */
}

static void quiet_silent_resp(struct rt_cli *c, const struct relay_resp *r, const uint8_t *tx,
                              size_t len)
{
	struct quiet *q = c->scenario;
	(void)tx;
	(void)len;

	RT_EXPECT(q->w, r->code == RELAY_RESP_IDS && r->corr == IDLE_NEW);
	q->got_ids = true;
}

static void quiet_pinger_resp(struct rt_cli *c, const struct relay_resp *r, const uint8_t *tx,
                              size_t len)
{
	struct quiet *q = c->scenario;
	(void)tx;
	(void)len;

	RT_EXPECT(q->w, r->code == RELAY_RESP_PONG && r->corr == IDLE_PING);
	q->ping_out = false;
	q->n_pongs++;
}

/* PINGs on a period well inside the idle timeout; ends once the pinger outlived it often. */
static void quiet_poll(struct rt_world *w)
{
	struct quiet *q = w->scenario;
	struct relay_cmd cmd;

	RT_EXPECT(w, !q->pinger.is_closed);
	if (q->pinger.is_closed)
		rt_world_finish(w);
	if (q->pinger.is_open && !q->ping_out && ++q->n_polls % PING_EVERY_POLLS == 0) {
		relay_cmd_init(&cmd, RELAY_CMD_PING, IDLE_PING, NULL);
		rt_cli_send(&q->pinger, &cmd, NULL);
		q->ping_out = true;
	}
	if (!q->silent_seen_closed) {
		/* The relay's view: it dropped the silent client and kept the pinger. */
		if (!q->silent.is_closed || world_stats(w).n_clients != 1)
			return;
		q->silent_seen_closed = true;
		q->pongs_at_close = q->n_pongs;
		return;
	}
	if (q->n_pongs < q->pongs_at_close + PONGS_AFTER)
		return;
	rt_cli_close(&q->pinger);
	rt_world_finish(w);
}

static void limits__idle_timeout__silent_client_closed_pinging_client_kept(void **state)
{
	struct rt_world w;
	struct quiet q;
	struct relay_server_config cfg = {.conn = {.idle_timeout_ms = IDLE_TIMEOUT_MS}};
	(void)state;

	memset(&q, 0, sizeof(q));
	rt_world_init(&w, &cfg, WORLD_SEED, GUARD_MS, POLL_MS);
	q.w = &w;
	w.scenario = &q;
	w.on_poll = quiet_poll;
	rt_cli_dial(&w, &q.silent, &q, quiet_silent_open, quiet_silent_resp);
	rt_cli_dial(&w, &q.pinger, &q, NULL, quiet_pinger_resp);
	rt_world_run_and_free(&w);
	assert_true(q.got_ids);
	assert_true(q.silent_seen_closed);
	/* The relay hung up on it: the client saw the stream end between frames. */
	assert_int_equal(q.silent.close_reason, SOTTO_ERR_CLOSED);
	assert_int_equal(q.pinger.close_reason, SOTTO_ERR_CANCELLED);
	assert_true(q.n_pongs >= q.pongs_at_close + PONGS_AFTER);
	assert_int_equal(w.final_stats.n_connections, 2);
	assert_int_equal(w.final_stats.n_clients_dropped, 0);
}

/* ---- hostile input next to a good client ---- */

enum {
	HOST_NEW = 1,
	HOST_EMPTY_BATCH,
	HOST_OVERRUN_BATCH,
	HOST_SHORT_TX,
	HOST_PING,
	HOST_BAD_MAC,
	HOST_RANDOM_ID,
	HOST_UNKNOWN_CODE,
	HOST_LARGE,
	HOST_REPLAY,
	HOST_LAST_PING,
	HOST_DONE,
};

struct hostile {
	struct rt_world *w;
	struct chat chat;
	struct rt_cli h;
	struct rt_keys k;
	unsigned step;            /* the HOST_ step whose answer is awaited */
	unsigned rounds_at_start; /* the good client's rounds when the hostile one began */
	unsigned rounds_at_done;
	uint8_t random_id[RELAY_ID_LEN];
	uint8_t auth_real[RELAY_RESP_HEADER_LEN + 1];   /* ERR AUTH for a wrong MAC on our queue */
	uint8_t auth_random[RELAY_RESP_HEADER_LEN + 1]; /* ERR AUTH for an unknown queue */
	size_t auth_real_len, auth_random_len;
	bool is_started;
};

/* A GET with a garbage MAC: the relay cannot tell it from a wrong key. */
static void host_send_bad_mac(struct hostile *ho, const uint8_t id[RELAY_ID_LEN], uint32_t corr)
{
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, RELAY_CMD_GET, corr, id);
	memset(cmd.mac, 0xa5, sizeof(cmd.mac));
	rt_cli_send(&ho->h, &cmd, NULL);
}

/* A PING whose code byte is replaced by one no version defines. */
static void host_send_unknown_code(struct hostile *ho)
{
	static uint8_t tx[RELAY_CMD_MAX_LEN];
	struct relay_cmd cmd;
	size_t len;

	relay_cmd_init(&cmd, RELAY_CMD_PING, HOST_UNKNOWN_CODE, NULL);
	len = rt_cli_encode(&ho->h, tx, &cmd, NULL);
	tx[36] = 0xc8;
	rt_cli_send_tx(&ho->h, tx, len);
}

/* A SEND whose body length says RELAY_MSG_BODY_MAX + 1, and that many bytes follow. */
static void host_send_large(struct hostile *ho)
{
	static uint8_t body[RELAY_MSG_BODY_MAX];
	static uint8_t tx[RELAY_CMD_MAX_LEN + 1];
	struct relay_cmd cmd;
	size_t len;

	relay_cmd_init(&cmd, RELAY_CMD_SEND, HOST_LARGE, ho->k.sid);
	cmd.body = body;
	cmd.body_len = sizeof(body);
	len = rt_cli_encode(&ho->h, tx, &cmd, NULL);
	RT_EXPECT(ho->w, len == RELAY_CMD_MAX_LEN);
	tx[RELAY_CMD_HEADER_LEN + 1] = (uint8_t)((RELAY_MSG_BODY_MAX + 1) >> 8);
	tx[RELAY_CMD_HEADER_LEN + 2] = (uint8_t)((RELAY_MSG_BODY_MAX + 1) & 0xff);
	tx[len] = 0x6b;
	rt_cli_send_tx(&ho->h, tx, len + 1);
}

/* Sends what step asks for. */
static void host_step(struct hostile *ho)
{
	static const uint8_t empty_batch[] = {0};
	static const uint8_t overrun_batch[] = {1, 0x00, 0x10, 1, 2, 3};
	static const uint8_t short_tx[10] = {0};
	struct relay_cmd cmd;

	switch (ho->step) {
	case HOST_EMPTY_BATCH: rt_cli_send_block(&ho->h, empty_batch, sizeof(empty_batch)); break;
	case HOST_OVERRUN_BATCH:
		rt_cli_send_block(&ho->h, overrun_batch, sizeof(overrun_batch));
		break;
	case HOST_SHORT_TX: rt_cli_send_tx(&ho->h, short_tx, sizeof(short_tx)); break;
	case HOST_PING:
	case HOST_LAST_PING:
		relay_cmd_init(&cmd, RELAY_CMD_PING, ho->step, NULL);
		rt_cli_send(&ho->h, &cmd, NULL);
		break;
	case HOST_BAD_MAC: host_send_bad_mac(ho, ho->k.rid, HOST_BAD_MAC); break;
	case HOST_RANDOM_ID:
		ctx_random(ho->w->ctx, ho->random_id, RELAY_ID_LEN);
		host_send_bad_mac(ho, ho->random_id, HOST_BAD_MAC); /* the same corr on purpose */
		break;
	case HOST_UNKNOWN_CODE: host_send_unknown_code(ho); break;
	case HOST_LARGE: host_send_large(ho); break;
	case HOST_REPLAY: rt_cli_send_tx(&ho->h, ho->chat.get_tx, ho->chat.get_tx_len); break;
	default: rt_expect_failed(ho->w, "no such step", __LINE__); break;
	}
}

static void copy_tx(uint8_t *out, size_t cap, size_t *out_len, const uint8_t *tx, size_t len)
{
	*out_len = len <= cap ? len : 0;
	memcpy(out, tx, *out_len);
}

/* Is r the answer the current step expects? Records the two AUTH answers. */
static bool host_expected(struct hostile *ho, const struct relay_resp *r, const uint8_t *tx,
                          size_t len)
{
	static const uint8_t zero[RELAY_ID_LEN] = {0};

	switch (ho->step) {
	case HOST_NEW: return r->code == RELAY_RESP_IDS && r->corr == HOST_NEW;
	case HOST_EMPTY_BATCH:
	case HOST_OVERRUN_BATCH:
	case HOST_SHORT_TX:
		return is_err(r, 0, RELAY_ERR_BLOCK) && memcmp(r->entity, zero, RELAY_ID_LEN) == 0;
	case HOST_PING:
	case HOST_LAST_PING: return r->code == RELAY_RESP_PONG && r->corr == ho->step;
	case HOST_BAD_MAC:
		copy_tx(ho->auth_real, sizeof(ho->auth_real), &ho->auth_real_len, tx, len);
		return is_err(r, HOST_BAD_MAC, RELAY_ERR_AUTH) &&
		       memcmp(r->entity, ho->k.rid, RELAY_ID_LEN) == 0;
	case HOST_RANDOM_ID:
		copy_tx(ho->auth_random, sizeof(ho->auth_random), &ho->auth_random_len, tx, len);
		return is_err(r, HOST_BAD_MAC, RELAY_ERR_AUTH) &&
		       memcmp(r->entity, ho->random_id, RELAY_ID_LEN) == 0;
	case HOST_UNKNOWN_CODE: return is_err(r, HOST_UNKNOWN_CODE, RELAY_ERR_CMD);
	case HOST_LARGE:
		return is_err(r, HOST_LARGE, RELAY_ERR_LARGE) &&
		       memcmp(r->entity, ho->k.sid, RELAY_ID_LEN) == 0;
	case HOST_REPLAY:
		return is_err(r, CHAT_GET, RELAY_ERR_AUTH) &&
		       memcmp(r->entity, ho->chat.k.rid, RELAY_ID_LEN) == 0;
	default: return false;
	}
}

static void host_resp(struct rt_cli *c, const struct relay_resp *r, const uint8_t *tx, size_t len)
{
	struct hostile *ho = c->scenario;

	if (!host_expected(ho, r, tx, len)) {
		rt_expect_failed(ho->w, "unexpected answer to the hostile client", __LINE__);
		return;
	}
	if (ho->step == HOST_NEW)
		rt_take_ids(ho->w, &ho->k, r);
	if (++ho->step == HOST_DONE) {
		ho->rounds_at_done = ho->chat.rounds;
		return;
	}
	host_step(ho);
}

static void host_open(struct rt_cli *c)
{
	struct hostile *ho = c->scenario;

	ho->step = HOST_NEW;
	rt_send_new(c, &ho->k, HOST_NEW);
}

static void host_poll(struct rt_world *w)
{
	struct hostile *ho = w->scenario;

	if (!ho->is_started) {
		if (ho->chat.rounds == 0)
			return;
		ho->is_started = true;
		ho->rounds_at_start = ho->chat.rounds;
		rt_cli_dial(w, &ho->h, ho, host_open, host_resp);
		return;
	}
	if (ho->step != HOST_DONE || ho->chat.rounds < ho->rounds_at_done + CHAT_ROUNDS)
		return;
	ho->chat.is_stopping = true;
	rt_cli_close(&ho->chat.c);
	rt_cli_close(&ho->h);
	rt_world_finish(w);
}

static void limits__hostile__answered_in_protocol_good_client_keeps_chatting(void **state)
{
	struct rt_world w;
	struct hostile *ho = calloc(1, sizeof(*ho));
	(void)state;

	assert_non_null(ho);
	rt_world_init(&w, NULL, WORLD_SEED, GUARD_MS, POLL_MS);
	ho->w = &w;
	w.scenario = ho;
	w.on_poll = host_poll;
	chat_start(&w, &ho->chat);
	rt_world_run_and_free(&w);
	assert_int_equal(ho->step, HOST_DONE);
	assert_true(ho->chat.rounds >= ho->rounds_at_done + CHAT_ROUNDS);
	assert_true(ho->rounds_at_done > ho->rounds_at_start); /* it chatted meanwhile */
	/* An unknown queue and a wrong MAC answer the same bytes but for the entity echoed. */
	assert_int_equal(ho->auth_real_len, RELAY_RESP_HEADER_LEN + 1);
	assert_int_equal(ho->auth_random_len, ho->auth_real_len);
	assert_memory_equal(ho->auth_real, ho->auth_random, 5);
	assert_memory_equal(ho->auth_real + 5, ho->k.rid, RELAY_ID_LEN);
	assert_memory_equal(ho->auth_random + 5, ho->random_id, RELAY_ID_LEN);
	assert_memory_equal(ho->auth_real + RELAY_RESP_HEADER_LEN,
	                    ho->auth_random + RELAY_RESP_HEADER_LEN, 1);
	assert_int_equal(w.final_stats.n_errors[RELAY_ERR_BLOCK], 3);
	assert_int_equal(w.final_stats.n_errors[RELAY_ERR_AUTH], 3);
	assert_int_equal(w.final_stats.n_errors[RELAY_ERR_CMD], 1);
	assert_int_equal(w.final_stats.n_errors[RELAY_ERR_LARGE], 1);
	assert_int_equal(w.final_stats.n_clients_dropped, 0);
	free(ho);
}

/* ---- a flood of raw connections ---- */

enum { FLOOD_OPENING, FLOOD_REFUSING, FLOOD_CHATTING, FLOOD_DRAINING, FLOOD_LAST_CHAT };

struct flood {
	struct rt_world *w;
	struct chat chat;
	int fds[FLOOD_N];
	bool is_closed[FLOOD_N];
	size_t n_opened, n_closed;
	size_t fds_baseline, fds_peak; /* open descriptors of this process */
	unsigned phase;
	unsigned rounds_mark;
	bool is_started;
};

/* Counts the raw connections the relay has ended since the last look. */
static void flood_scan(struct flood *f)
{
	for (size_t i = 0; i < f->n_opened; i++) {
		if (!f->is_closed[i] && raw_is_closed(f->fds[i])) {
			f->is_closed[i] = true;
			f->n_closed++;
		}
	}
}

static void flood_open_wave(struct flood *f)
{
	for (size_t i = 0; i < FLOOD_WAVE && f->n_opened < FLOOD_N; i++) {
		int fd = raw_connect(f->w, true);
		RT_EXPECT(f->w, fd >= 0);
		f->fds[f->n_opened++] = fd;
	}
	if (f->n_opened == FLOOD_N)
		f->phase = FLOOD_REFUSING;
}

static void flood_close_all(struct flood *f)
{
	f->fds_peak = count_open_fds();
	for (size_t i = 0; i < f->n_opened; i++)
		(void)close(f->fds[i]);
	f->phase = FLOOD_DRAINING;
}

static void flood_poll(struct rt_world *w)
{
	struct flood *f = w->scenario;
	const size_t n_refused = FLOOD_N - (FLOOD_MAX - 1); /* the good client holds one slot */

	if (!f->is_started) {
		if (f->chat.rounds == 0)
			return;
		f->is_started = true;
		f->fds_baseline = count_open_fds();
	}
	switch (f->phase) {
	case FLOOD_OPENING: flood_open_wave(f); break;
	case FLOOD_REFUSING:
		flood_scan(f);
		if (f->n_closed >= n_refused) {
			f->rounds_mark = f->chat.rounds;
			f->phase = FLOOD_CHATTING;
		}
		break;
	case FLOOD_CHATTING:
		if (f->chat.rounds < f->rounds_mark + CHAT_ROUNDS)
			break;
		flood_scan(f); /* the accepted ones must still be open */
		RT_EXPECT(w, f->n_closed == n_refused);
		flood_close_all(f);
		break;
	case FLOOD_DRAINING:
		if (count_open_fds() > f->fds_baseline)
			break;
		f->rounds_mark = f->chat.rounds;
		f->phase = FLOOD_LAST_CHAT;
		break;
	default:
		if (f->chat.rounds < f->rounds_mark + CHAT_ROUNDS)
			break;
		f->chat.is_stopping = true;
		rt_cli_close(&f->chat.c);
		rt_world_finish(w);
		break;
	}
}

static void limits__flood__excess_connections_closed_good_client_keeps_chatting(void **state)
{
	struct rt_world w;
	struct flood *f = calloc(1, sizeof(*f));
	struct relay_server_config cfg = {
	        .conn = {.max_connections = FLOOD_MAX, .handshake_timeout_ms = 25000}};
	(void)state;

	assert_non_null(f);
	raise_fd_limit();
	rt_world_init(&w, &cfg, WORLD_SEED, GUARD_MS, POLL_MS);
	f->w = &w;
	w.scenario = f;
	w.on_poll = flood_poll;
	chat_start(&w, &f->chat);
	rt_world_run_and_free(&w);
	print_message("flood: %zu raw connections, %zu closed by the relay at once; descriptors "
	              "%zu before, %zu at the peak, back to the baseline after\n",
	              f->n_opened, f->n_closed, f->fds_baseline, f->fds_peak);
	assert_int_equal(f->phase, FLOOD_LAST_CHAT);
	assert_int_equal(f->n_opened, FLOOD_N);
	assert_int_equal(f->n_closed, FLOOD_N - (FLOOD_MAX - 1));
	assert_true(f->chat.rounds >= f->rounds_mark + CHAT_ROUNDS);
	assert_int_equal(w.final_stats.n_connections, 1); /* no raw peer got a client */
	assert_int_equal(w.final_stats.n_clients_dropped, 0);
	free(f);
}

/* ---- memory of idle connections ---- */

struct idle {
	struct rt_world *w;
	pid_t child;
	int pipe_fds[2]; /* the child holds its connections until the write end closes */
	size_t rss_before, rss_open;
	unsigned phase;
};

static size_t rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
	(void)fclose(f);
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static sotto_err idle_on_event(void *user, const struct net_event *ev)
{
	bool *is_open = user;
	if (ev->type == NET_EVENT_OPEN)
		*is_open = true;
	return SOTTO_OK;
}

/* One blocking handshake from the child; the socket stays open. */
static bool idle_handshake(struct rt_world *w)
{
	struct net_session *s = NULL;
	uint8_t buf[NET_MSG1_FRAME_LEN];
	bool is_open = false;
	int fd = raw_connect(w, false);

	if (fd < 0 || net_session_new_client(w->ctx, NULL, w->relay_kp.pub, &s) != SOTTO_OK ||
	    net_session_start(s, buf) != SOTTO_OK || write(fd, buf, sizeof(buf)) != sizeof(buf))
		return false;
	while (!is_open) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0 ||
		    net_session_feed(s, buf, (size_t)n, idle_on_event, &is_open) != SOTTO_OK)
			return false;
	}
	net_session_free(s);
	return true;
}

/*
 * The clients live in a child process so that the parent's resident size
 * grows by the relay's share only.
 */
static void idle_child(struct rt_world *w, const int pipe_fds[2])
{
	uint8_t b;

	(void)close(pipe_fds[1]);
	w->ctx = tu_ctx(NULL, NULL, NULL); /* the parent's RNG stream stays the parent's */
	for (size_t i = 0; i < IDLE_N; i++) {
		if (!idle_handshake(w))
			_exit(1);
	}
	while (read(pipe_fds[0], &b, 1) > 0)
		;
	_exit(0);
}

static void idle_poll(struct rt_world *w)
{
	struct idle *id = w->scenario;
	struct relay_stats st = world_stats(w);
	int status = 0;

	if (id->phase == 0) {
		id->phase = 1;
		id->rss_before = rss_bytes();
		RT_EXPECT(w, pipe(id->pipe_fds) == 0);
		id->child = fork();
		if (id->child == 0)
			idle_child(w, id->pipe_fds);
		RT_EXPECT(w, id->child > 0);
		(void)close(id->pipe_fds[0]);
	} else if (id->phase == 1 && st.n_clients == IDLE_N) {
		id->phase = 2;
		id->rss_open = rss_bytes();
		(void)close(id->pipe_fds[1]); /* the child exits and its connections close */
	} else if (id->phase == 1 && waitpid(id->child, &status, WNOHANG) == id->child) {
		rt_expect_failed(w, "the child failed a handshake", __LINE__);
		id->child = -1;
		(void)close(id->pipe_fds[1]);
		rt_world_finish(w);
	} else if (id->phase == 2 && st.n_clients == 0) {
		RT_EXPECT(w, waitpid(id->child, &status, 0) == id->child);
		RT_EXPECT(w, WIFEXITED(status) && WEXITSTATUS(status) == 0);
		rt_world_finish(w);
	}
}

static void limits__idle_memory__relay_holds_no_block_buffers_per_idle_connection(void **state)
{
	struct rt_world w;
	struct idle id;
	struct relay_server_config cfg = {.conn = {.handshake_timeout_ms = 25000}};
	long long growth;
	(void)state;

	memset(&id, 0, sizeof(id));
	raise_fd_limit();
	rt_world_init(&w, &cfg, WORLD_SEED, GUARD_MS, POLL_MS);
	id.w = &w;
	w.scenario = &id;
	w.on_poll = idle_poll;
	rt_world_run_and_free(&w);
	growth = (long long)id.rss_open - (long long)id.rss_before;
	print_message("idle connections: %d handshaken, relay RSS %zu -> %zu bytes: %lld bytes "
	              "per connection\n",
	              IDLE_N, id.rss_before, id.rss_open, growth / IDLE_N);
	assert_int_equal(id.phase, 2);
	if (LIMITS_IS_ASAN)
		print_message("idle connections: AddressSanitizer build, the %d-byte bound is "
		              "checked in uninstrumented builds only\n",
		              IDLE_BYTES_MAX);
	else
		assert_true(growth / IDLE_N <= IDLE_BYTES_MAX);
	assert_int_equal(w.final_stats.n_connections, IDLE_N);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(limits__quota__fifth_send_refused_until_ack),
	        cmocka_unit_test(limits__rate__fourth_new_refused_other_connection_unaffected),
	        cmocka_unit_test(limits__connections__ninth_closed_at_once_others_keep_working),
	        cmocka_unit_test(limits__handshake_timeout__silent_and_half_msg1_peers_closed),
	        cmocka_unit_test(limits__idle_timeout__silent_client_closed_pinging_client_kept),
	        cmocka_unit_test(limits__hostile__answered_in_protocol_good_client_keeps_chatting),
	        cmocka_unit_test(
	                limits__flood__excess_connections_closed_good_client_keeps_chatting),
	        cmocka_unit_test(
	                limits__idle_memory__relay_holds_no_block_buffers_per_idle_connection),
	};

	signal(SIGPIPE, SIG_IGN); /* writes to a peer that hung up fail with EPIPE instead */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
