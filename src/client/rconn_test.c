/* SPDX-License-Identifier: MIT */
/*
 * rconn_test.c - relay connections against real relays on loopback: each
 * test runs one uv loop holding a relay_server (ephemeral port, SQLite
 * store in a fresh temporary directory), or a fake relay made with
 * net_server_listen that answers what a scenario tells it, or a bare TCP
 * listener that never speaks; and one or two rconns.
 *
 * Scenarios are state machines: every rconn callback records what happened
 * and calls the scenario's advance(), which takes the next step once the
 * conditions of the current phase hold (a poll timer also calls it, for
 * conditions that only show in counters). The test checks the record after
 * the loop has run dry. A guard timer fails a scenario that would hang;
 * timeouts and backoff are configured small so each test is quick, and
 * nothing asserts on timing.
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

#include "client/rconn.h"
#include "core/bytes.h"
#include "crypto/x25519.h"
#include "net/conn.h"
#include "relay/cmd.h"
#include "relay/server.h"
#include "relay/store.h"
#include "test_util.h"

enum {
	GUARD_MS = 30000, /* fails the test; never reached when things work */
	POLL_MS = 5,      /* how often advance() looks at counters */
	N_RECS = 128,
	N_STATES = 32,
	BODY_MAX_REC = 64,
	N_BATCH = 100, /* SENDs issued in one turn */
	SILENT_MAX = 16,
};

/* Small timeouts and backoff, so losses and retries happen quickly. */
static const struct rconn_config FAST = {
        .backoff_base_ms = 5,
        .backoff_max_ms = 40,
        .handshake_timeout_ms = 2000,
        .close_timeout_ms = 2000,
};

/* ---- the world: loop, context, relay ---- */

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
	uv_timer_t guard, poll;
	bool guard_fired, is_polling, finished;
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

static void relay_start(struct world *w, uint16_t port)
{
	EXPECT(w, relay_server_new(w->ctx, &w->loop, "127.0.0.1", port, &w->relay_kp, w->store,
	                           NULL, &w->server) == SOTTO_OK);
	if (w->server != NULL)
		w->addr.port = relay_server_port(w->server);
}

static void relay_stop(struct world *w)
{
	relay_server_close(w->server);
	w->server = NULL;
}

static struct relay_stats relay_stats_now(struct world *w)
{
	struct relay_stats st;

	memset(&st, 0, sizeof(st));
	if (w->server != NULL)
		relay_core_stats(relay_server_core(w->server), &st);
	return st;
}

/* with_relay: a relay_server on an ephemeral port (else only the context). */
static void world_init(struct world *w, bool with_relay)
{
	memset(w, 0, sizeof(*w));
	assert_int_equal(uv_loop_init(&w->loop), 0);
	tu_rng_init(&w->rng, 777);
	w->ctx = tu_ctx(&w->alloc, &w->rng, NULL);
	snprintf(w->dir, sizeof(w->dir), "/tmp/sotto-rconn-test-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->store_dir, sizeof(w->store_dir), "%s/relay", w->dir);
	x25519_keypair_generate(w->ctx, &w->relay_kp);
	memcpy(w->addr.key, w->relay_kp.pub, NET_ADDR_KEY_LEN);
	memcpy(w->addr.host, "127.0.0.1", 10);
	if (with_relay) {
		assert_int_equal(relay_store_new(w->ctx, w->store_dir, NULL, &w->store), SOTTO_OK);
		relay_start(w, 0);
		assert_non_null(w->server);
	}
	assert_int_equal(uv_timer_init(&w->loop, &w->guard), 0);
	w->guard.data = w;
	assert_int_equal(uv_timer_start(&w->guard, on_guard, GUARD_MS, 0), 0);
	assert_int_equal(uv_timer_init(&w->loop, &w->poll), 0);
	w->poll.data = w;
}

/* Closes the relay and the timers: the loop then runs dry once rconns are gone. */
static void world_finish(struct world *w)
{
	if (w->finished)
		return;
	w->finished = true;
	relay_stop(w);
	uv_close((uv_handle_t *)&w->guard, NULL);
	uv_close((uv_handle_t *)&w->poll, NULL);
}

static void world_run(struct world *w)
{
	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (w->guard_fired)
		fail_msg("guard timer fired: the scenario hung (%s)",
		         w->n_errors != 0 ? w->first_error : "no broken expectation");
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
	x25519_keypair_clear(&w->relay_kp);
	sotto_ctx_free(w->ctx);
	assert_int_equal(w->alloc.n_live, 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", w->store_dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(w->store_dir);
	(void)rmdir(w->dir);
}

static void on_probe_closed(uv_handle_t *h)
{
	(void)h;
}

/* A port nothing listens on: bound for a moment, then released. */
static uint16_t dead_port(struct world *w)
{
	uv_tcp_t tcp;
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = (int)sizeof(ss);
	uint16_t port;

	assert_int_equal(uv_tcp_init(&w->loop, &tcp), 0);
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
	assert_int_equal(uv_tcp_bind(&tcp, (const struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_tcp_getsockname(&tcp, (struct sockaddr *)&ss, &len), 0);
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	uv_close((uv_handle_t *)&tcp, on_probe_closed);
	uv_run(&w->loop, UV_RUN_NOWAIT); /* runs the close callback: tcp may go */
	return port;
}

/* ---- scenarios, peers and request records ---- */

struct scn;
typedef void scn_fn(struct scn *s);

/* One request's outcome, as its done callback saw it. */
struct rec {
	struct scn *s;
	unsigned n_done; /* must end at exactly 1 */
	sotto_err err;
	enum relay_err relay_err;
	bool has_queue;
	struct rconn_queue queue;
	bool has_msg;
	uint8_t msg_id[RELAY_MSG_ID_LEN];
	uint8_t body[BODY_MAX_REC];
	size_t body_len;
};

/* One rconn and everything its callbacks reported. */
struct peer {
	struct scn *s;
	struct rconn *rc;
	enum rconn_state states[N_STATES];
	sotto_err reasons[N_STATES];
	size_t n_states;
	unsigned n_msgs, n_ends, n_errors, n_closed;
	uint8_t msg_rid[RELAY_ID_LEN], msg_id[RELAY_MSG_ID_LEN];
	uint8_t body[BODY_MAX_REC];
	size_t body_len;
	sotto_err last_error;
	bool last_error_has_rid;
	bool free_on_down; /* calls rconn_free from inside on_state(DOWN) */
};

struct fake;

struct scn {
	struct world *w;
	scn_fn *advance;
	int phase;
	struct peer a, b;
	struct rec r[N_RECS];
	struct rconn_queue q;
	uint8_t sk_pub[RELAY_KEY_LEN], k_sauth[RELAY_KEY_LEN];
	struct relay_stats st0;
	struct rconn_stats cs0;
	struct fake *fake;
	void *ext; /* what else a scenario needs */
	uint16_t port;
	bool is_done;
};

static void on_done(void *user, const struct rconn_reply *reply)
{
	struct rec *r = user;

	r->n_done++;
	r->err = reply->err;
	r->relay_err = reply->relay_err;
	if (reply->queue != NULL) {
		r->has_queue = true;
		r->queue = *reply->queue;
	}
	if (reply->msg != NULL) {
		r->has_msg = true;
		memcpy(r->msg_id, reply->msg->msg_id, RELAY_MSG_ID_LEN);
		r->body_len = reply->msg->body_len;
		if (r->body_len <= BODY_MAX_REC)
			memcpy(r->body, reply->msg->body, r->body_len);
	}
	if (r->s->advance != NULL)
		r->s->advance(r->s);
}

static struct rec *rec(struct scn *s, size_t i)
{
	s->r[i].s = s;
	return &s->r[i];
}

static void peer_on_state(void *user, enum rconn_state state, sotto_err reason)
{
	struct peer *p = user;

	if (p->n_states < N_STATES) {
		p->states[p->n_states] = state;
		p->reasons[p->n_states] = reason;
	}
	p->n_states++;
	if (state == RCONN_DOWN && p->free_on_down) {
		rconn_free(p->rc);
		p->rc = NULL;
	}
	if (p->s->advance != NULL)
		p->s->advance(p->s);
}

static void peer_on_msg(void *user, const uint8_t *rid, const uint8_t *msg_id, uint64_t timestamp,
                        uint8_t flags, const uint8_t *body, size_t body_len)
{
	struct peer *p = user;

	EXPECT(p->s->w, flags == 0 && timestamp > 0);
	p->n_msgs++;
	memcpy(p->msg_rid, rid, RELAY_ID_LEN);
	memcpy(p->msg_id, msg_id, RELAY_MSG_ID_LEN);
	p->body_len = body_len;
	if (body_len <= BODY_MAX_REC)
		memcpy(p->body, body, body_len);
	if (p->s->advance != NULL)
		p->s->advance(p->s);
}

static void peer_on_end(void *user, const uint8_t *rid)
{
	struct peer *p = user;
	(void)rid;

	p->n_ends++;
	if (p->s->advance != NULL)
		p->s->advance(p->s);
}

static void peer_on_error(void *user, const uint8_t *rid, sotto_err err)
{
	struct peer *p = user;

	p->n_errors++;
	p->last_error = err;
	p->last_error_has_rid = rid != NULL;
	if (p->s->advance != NULL)
		p->s->advance(p->s);
}

static void peer_on_closed(void *user)
{
	struct peer *p = user;

	p->n_closed++;
	p->rc = NULL;
	if (p->s->advance != NULL)
		p->s->advance(p->s);
}

static void peer_new(struct scn *s, struct peer *p, const struct net_addr *addr,
                     const struct rconn_config *cfg)
{
	struct rconn_callbacks cb = {.on_state = peer_on_state,
	                             .on_msg = peer_on_msg,
	                             .on_end = peer_on_end,
	                             .on_error = peer_on_error,
	                             .on_closed = peer_on_closed,
	                             .user = p};
	p->s = s;
	assert_int_equal(rconn_new(s->w->ctx, &s->w->loop, addr, cfg, &cb, &p->rc), SOTTO_OK);
}

static void peer_free(struct peer *p)
{
	rconn_free(p->rc);
	p->rc = NULL;
}

static struct rconn_stats peer_stats(const struct peer *p)
{
	struct rconn_stats st;

	memset(&st, 0, sizeof(st));
	if (p->rc != NULL)
		rconn_stats(p->rc, &st);
	return st;
}

static bool peer_is_up(const struct peer *p)
{
	return p->n_states > 0 && p->states[p->n_states - 1] == RCONN_UP;
}

static bool peer_is_down(const struct peer *p)
{
	return p->n_states > 0 && p->states[p->n_states - 1] == RCONN_DOWN;
}

/* Ends the scenario: rconns, then the relay and the timers. */
static void scn_finish(struct scn *s)
{
	s->is_done = true;
	s->advance = NULL;
	peer_free(&s->a);
	peer_free(&s->b);
	world_finish(s->w);
}

static void on_poll(uv_timer_t *t)
{
	struct world *w = t->data;
	struct scn *s = w->scenario;

	if (s->advance != NULL)
		s->advance(s);
}

static void scn_init(struct scn *s, struct world *w, scn_fn *advance, bool poll)
{
	memset(s, 0, sizeof(*s));
	s->w = w;
	s->advance = advance;
	w->scenario = s;
	if (poll)
		assert_int_equal(uv_timer_start(&w->poll, on_poll, POLL_MS, POLL_MS), 0);
}

static void assert_states(const struct peer *p, const enum rconn_state *want, size_t n)
{
	assert_int_equal(p->n_states, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(p->states[i], want[i]);
		if (want[i] == RCONN_UP)
			assert_int_equal(p->reasons[i], SOTTO_OK);
		else
			assert_int_not_equal(p->reasons[i], SOTTO_OK);
	}
}

static bool body_is(const uint8_t *body, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(body, want, len) == 0;
}

#define SEND_TEXT(s, p, k, text, i)                                                                \
	EXPECT((s)->w, rconn_send((p)->rc, (s)->q.sid, (k), (const uint8_t *)(text), strlen(text), \
	                          on_done, rec((s), (i))) == SOTTO_OK)

/* ---- create, secure (KEY), send, receive, acknowledge ---- */

static void round_trip_advance(struct scn *s)
{
	switch (s->phase) {
	case 0: /* NEW was asked before the loop ran */
		if (s->r[0].n_done == 0)
			return;
		EXPECT(s->w, s->r[0].err == SOTTO_OK && s->r[0].has_queue);
		s->q = s->r[0].queue;
		EXPECT(s->w,
		       rconn_sender_keys(s->w->ctx, s->q.ssk, s->sk_pub, s->k_sauth) == SOTTO_OK);
		EXPECT(s->w, rconn_key(s->a.rc, s->q.rid, s->q.k_rauth, s->sk_pub, on_done,
		                       rec(s, 1)) == SOTTO_OK);
		EXPECT(s->w, rconn_subscribe(s->a.rc, s->q.rid, s->q.k_rauth, s->q.k_deliver) ==
		                     SOTTO_OK);
		s->phase = 1;
		return;
	case 1:
		if (s->r[1].n_done == 0)
			return;
		EXPECT(s->w, s->r[1].err == SOTTO_OK);
		SEND_TEXT(s, &s->b, NULL, "no key", 2); /* secured: refused */
		SEND_TEXT(s, &s->b, s->k_sauth, "hello", 3);
		s->phase = 2;
		return;
	case 2:
		if (s->a.n_msgs == 0 || s->r[2].n_done == 0 || s->r[3].n_done == 0)
			return;
		EXPECT(s->w, body_is(s->a.body, s->a.body_len, "hello"));
		EXPECT(s->w, memcmp(s->a.msg_rid, s->q.rid, RELAY_ID_LEN) == 0);
		EXPECT(s->w, rconn_ack(s->a.rc, s->q.rid, s->q.k_rauth, s->a.msg_id, on_done,
		                       rec(s, 4)) == SOTTO_OK);
		s->phase = 3;
		return;
	case 3:
		if (s->r[4].n_done == 0)
			return;
		scn_finish(s);
		return;
	}
}

static void rconn__round_trip__create_key_send_receive_ack(void **state)
{
	static const enum rconn_state up[] = {RCONN_UP};
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	world_init(&w, true);
	scn_init(s, &w, round_trip_advance, false);
	peer_new(s, &s->a, &w.addr, &FAST);
	peer_new(s, &s->b, &w.addr, &FAST);
	/* Asked while still connecting: it waits and goes out once up. */
	assert_int_equal(rconn_create_queue(s->a.rc, on_done, rec(s, 0)), SOTTO_OK);
	world_run(&w);
	for (size_t i = 0; i <= 4; i++)
		assert_int_equal(s->r[i].n_done, 1);
	assert_int_equal(s->r[2].err, SOTTO_ERR_AUTH);
	assert_int_equal(s->r[2].relay_err, RELAY_ERR_AUTH);
	assert_int_equal(s->r[3].err, SOTTO_OK);
	assert_int_equal(s->r[4].err, SOTTO_OK);
	assert_int_equal(s->r[4].relay_err, RELAY_ERR_NONE);
	assert_int_equal(s->a.n_msgs, 1);
	assert_int_equal(s->a.n_errors, 0);
	assert_int_equal(s->b.n_errors, 0);
	assert_states(&s->a, up, 1);
	assert_states(&s->b, up, 1);
	world_free(&w);
	free(s);
}

/* ---- the sender secures (SKEY); GET, ACK, OFF, DEL ---- */

static void skey_advance(struct scn *s)
{
	switch (s->phase) {
	case 0:
		if (s->r[0].n_done == 0)
			return;
		s->q = s->r[0].queue;
		EXPECT(s->w,
		       rconn_sender_keys(s->w->ctx, s->q.ssk, s->sk_pub, s->k_sauth) == SOTTO_OK);
		EXPECT(s->w, rconn_skey(s->b.rc, s->q.sid, s->k_sauth, s->sk_pub, on_done,
		                        rec(s, 1)) == SOTTO_OK);
		SEND_TEXT(s, &s->b, NULL, "no key", 2); /* after SKEY in the same batch: refused */
		SEND_TEXT(s, &s->b, s->k_sauth, "one", 3);
		s->phase = 1;
		return;
	case 1:
		if (s->r[3].n_done == 0)
			return;
		EXPECT(s->w, rconn_get(s->a.rc, s->q.rid, s->q.k_rauth, s->q.k_deliver, on_done,
		                       rec(s, 4)) == SOTTO_OK);
		s->phase = 2;
		return;
	case 2:
		if (s->r[4].n_done == 0)
			return;
		EXPECT(s->w, s->r[4].has_msg);
		EXPECT(s->w, rconn_ack(s->a.rc, s->q.rid, s->q.k_rauth, s->r[4].msg_id, on_done,
		                       rec(s, 5)) == SOTTO_OK);
		/* Acknowledging it twice: the relay no longer has it. */
		EXPECT(s->w, rconn_ack(s->a.rc, s->q.rid, s->q.k_rauth, s->r[4].msg_id, on_done,
		                       rec(s, 6)) == SOTTO_OK);
		EXPECT(s->w, rconn_get(s->a.rc, s->q.rid, s->q.k_rauth, s->q.k_deliver, on_done,
		                       rec(s, 7)) == SOTTO_OK);
		EXPECT(s->w,
		       rconn_off(s->a.rc, s->q.rid, s->q.k_rauth, on_done, rec(s, 8)) == SOTTO_OK);
		s->phase = 3;
		return;
	case 3:
		if (s->r[8].n_done == 0)
			return;
		SEND_TEXT(s, &s->b, s->k_sauth, "after off", 9);
		s->phase = 4;
		return;
	case 4:
		if (s->r[9].n_done == 0)
			return;
		EXPECT(s->w,
		       rconn_del(s->a.rc, s->q.rid, s->q.k_rauth, on_done, rec(s, 10)) == SOTTO_OK);
		EXPECT(s->w, rconn_get(s->a.rc, s->q.rid, s->q.k_rauth, s->q.k_deliver, on_done,
		                       rec(s, 11)) == SOTTO_OK);
		s->phase = 5;
		return;
	case 5:
		if (s->r[11].n_done == 0)
			return;
		scn_finish(s);
		return;
	}
}

static void rconn__requests__skey_get_ack_off_del_answered(void **state)
{
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	world_init(&w, true);
	scn_init(s, &w, skey_advance, false);
	peer_new(s, &s->a, &w.addr, &FAST);
	peer_new(s, &s->b, &w.addr, &FAST);
	assert_int_equal(rconn_create_queue(s->a.rc, on_done, rec(s, 0)), SOTTO_OK);
	world_run(&w);
	for (size_t i = 0; i <= 11; i++)
		assert_int_equal(s->r[i].n_done, 1);
	assert_int_equal(s->r[1].err, SOTTO_OK);
	assert_int_equal(s->r[2].err, SOTTO_ERR_AUTH);
	assert_int_equal(s->r[3].err, SOTTO_OK);
	assert_int_equal(s->r[4].err, SOTTO_OK);
	assert_true(body_is(s->r[4].body, s->r[4].body_len, "one"));
	assert_int_equal(s->r[5].err, SOTTO_OK);
	assert_int_equal(s->r[6].err, SOTTO_ERR_NOT_FOUND);
	assert_int_equal(s->r[6].relay_err, RELAY_ERR_NO_MSG);
	assert_int_equal(s->r[7].err, SOTTO_OK); /* NONE */
	assert_false(s->r[7].has_msg);
	assert_int_equal(s->r[8].err, SOTTO_OK);
	assert_int_equal(s->r[9].err, SOTTO_ERR_AUTH); /* suspended */
	assert_int_equal(s->r[10].err, SOTTO_OK);
	assert_int_equal(s->r[11].err, SOTTO_ERR_AUTH); /* deleted */
	world_free(&w);
	free(s);
}

/* ---- batching: many SENDs of one turn share few blocks ---- */

static void batch_advance(struct scn *s)
{
	struct rconn_stats cs;
	struct relay_stats st;
	char text[16];

	switch (s->phase) {
	case 0:
		if (s->r[0].n_done == 0 || !peer_is_up(&s->b))
			return;
		s->q = s->r[0].queue;
		s->st0 = relay_stats_now(s->w);
		s->cs0 = peer_stats(&s->b);
		for (size_t i = 0; i < N_BATCH; i++) {
			snprintf(text, sizeof(text), "m%zu", i);
			SEND_TEXT(s, &s->b, NULL, text, 1 + i);
		}
		s->phase = 1;
		return;
	case 1:
		for (size_t i = 1; i <= N_BATCH; i++) {
			if (s->r[i].n_done == 0)
				return;
		}
		st = relay_stats_now(s->w);
		cs = peer_stats(&s->b);
		/* 100 SENDs at 32 per block: 4 blocks, both as sent and as the relay saw them. */
		EXPECT(s->w, cs.n_blocks_out - s->cs0.n_blocks_out == 4);
		EXPECT(s->w, cs.n_cmds_out - s->cs0.n_cmds_out == N_BATCH);
		EXPECT(s->w, st.n_blocks_in - s->st0.n_blocks_in == 4);
		EXPECT(s->w, st.n_msgs_in - s->st0.n_msgs_in == N_BATCH);
		scn_finish(s);
		return;
	}
}

static void rconn__batching__hundred_sends_of_one_turn_take_four_blocks(void **state)
{
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	world_init(&w, true);
	scn_init(s, &w, batch_advance, false);
	peer_new(s, &s->a, &w.addr, &FAST);
	peer_new(s, &s->b, &w.addr, &FAST);
	assert_int_equal(rconn_create_queue(s->a.rc, on_done, rec(s, 0)), SOTTO_OK);
	world_run(&w);
	for (size_t i = 1; i <= N_BATCH; i++)
		assert_int_equal(s->r[i].err, SOTTO_OK);
	world_free(&w);
	free(s);
}

/* ---- a full write queue: blocks wait for on_drain, nothing is dropped ---- */

enum { WQ_BODY = 7000, WQ_N = 60 }; /* two bodies per block: 30 blocks, two frames queued */

static void write_queue_advance(struct scn *s)
{
	static uint8_t body[WQ_BODY];
	struct relay_stats st;

	switch (s->phase) {
	case 0:
		if (s->r[0].n_done == 0 || !peer_is_up(&s->b))
			return;
		s->q = s->r[0].queue;
		s->st0 = relay_stats_now(s->w);
		for (size_t i = 0; i < WQ_N; i++) {
			memset(body, (int)i, sizeof(body));
			EXPECT(s->w, rconn_send(s->b.rc, s->q.sid, NULL, body, sizeof(body),
			                        on_done, rec(s, 1 + i)) == SOTTO_OK);
		}
		s->phase = 1;
		return;
	case 1:
		for (size_t i = 1; i <= WQ_N; i++) {
			if (s->r[i].n_done == 0)
				return;
		}
		st = relay_stats_now(s->w);
		s->cs0 = peer_stats(&s->b);
		EXPECT(s->w, st.n_msgs_in - s->st0.n_msgs_in == WQ_N);
		scn_finish(s);
		return;
	}
}

static void rconn__write_queue__full_queue_waits_for_drain_nothing_dropped(void **state)
{
	static const enum rconn_state up[] = {RCONN_UP};
	struct rconn_config cfg = FAST;
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	world_init(&w, true);
	scn_init(s, &w, write_queue_advance, false);
	cfg.max_write_queue_bytes = 2 * NET_TRANSPORT_FRAME_LEN;
	peer_new(s, &s->a, &w.addr, &FAST);
	peer_new(s, &s->b, &w.addr, &cfg);
	assert_int_equal(rconn_create_queue(s->a.rc, on_done, rec(s, 0)), SOTTO_OK);
	world_run(&w);
	for (size_t i = 1; i <= WQ_N; i++)
		assert_int_equal(s->r[i].err, SOTTO_OK);
	assert_true(s->cs0.n_write_busy >= 1);
	assert_int_equal(s->cs0.n_blocks_out, WQ_N / 2);
	assert_states(&s->b, up, 1);
	world_free(&w);
	free(s);
}

/* ---- the relay restarts: subscription renewed, requests made while down go out ---- */

static void restart_advance(struct scn *s)
{
	struct rconn_stats sa, sb;

	switch (s->phase) {
	case 0:
		if (s->r[0].n_done == 0)
			return;
		s->q = s->r[0].queue;
		EXPECT(s->w, rconn_subscribe(s->a.rc, s->q.rid, s->q.k_rauth, s->q.k_deliver) ==
		                     SOTTO_OK);
		SEND_TEXT(s, &s->b, NULL, "before", 1);
		s->phase = 1;
		return;
	case 1:
		if (s->a.n_msgs == 0 || s->r[1].n_done == 0)
			return;
		EXPECT(s->w, rconn_ack(s->a.rc, s->q.rid, s->q.k_rauth, s->a.msg_id, on_done,
		                       rec(s, 2)) == SOTTO_OK);
		s->phase = 2;
		return;
	case 2:
		if (s->r[2].n_done == 0)
			return;
		s->port = s->w->addr.port;
		relay_stop(s->w); /* graceful: what it holds is answered first */
		s->phase = 3;
		return;
	case 3:
		if (!peer_is_down(&s->a) || !peer_is_down(&s->b))
			return;
		/* Down: this waits for the next connection. */
		SEND_TEXT(s, &s->b, NULL, "while down", 3);
		EXPECT(s->w, peer_stats(&s->b).n_pending == 1);
		s->phase = 4;
		return;
	case 4:
		/* Let both fail a few dials (backoff), then a new relay on the same port and store.
		 */
		sa = peer_stats(&s->a);
		sb = peer_stats(&s->b);
		if (sa.n_dials < 4 || sb.n_dials < 4)
			return;
		relay_start(s->w, s->port);
		EXPECT(s->w, s->w->addr.port == s->port);
		s->phase = 5;
		return;
	case 5:
		if (s->r[3].n_done == 0 || s->a.n_msgs < 2)
			return;
		EXPECT(s->w, body_is(s->a.body, s->a.body_len, "while down"));
		EXPECT(s->w, rconn_ack(s->a.rc, s->q.rid, s->q.k_rauth, s->a.msg_id, on_done,
		                       rec(s, 4)) == SOTTO_OK);
		s->phase = 6;
		return;
	case 6:
		if (s->r[4].n_done == 0)
			return;
		scn_finish(s);
		return;
	}
}

static void rconn__reconnect__relay_restart_renews_subscription_and_sends_pending(void **state)
{
	static const enum rconn_state up_down_up[] = {RCONN_UP, RCONN_DOWN, RCONN_UP};
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	world_init(&w, true);
	scn_init(s, &w, restart_advance, true);
	peer_new(s, &s->a, &w.addr, &FAST);
	peer_new(s, &s->b, &w.addr, &FAST);
	assert_int_equal(rconn_create_queue(s->a.rc, on_done, rec(s, 0)), SOTTO_OK);
	world_run(&w);
	for (size_t i = 0; i <= 4; i++) {
		assert_int_equal(s->r[i].n_done, 1);
		assert_int_equal(s->r[i].err, SOTTO_OK);
	}
	assert_int_equal(s->a.n_msgs, 2);
	assert_states(&s->a, up_down_up, 3);
	assert_states(&s->b, up_down_up, 3);
	world_free(&w);
	free(s);
}

/* ---- requests made before the relay exists are answered once it does ---- */

static void late_advance(struct scn *s)
{
	switch (s->phase) {
	case 0:
		if (!peer_is_down(&s->a) || peer_stats(&s->a).n_dials < 3)
			return;
		EXPECT(s->w, s->r[0].n_done == 0);
		EXPECT(s->w, peer_stats(&s->a).n_pending == 2);
		relay_start(s->w, s->port);
		s->phase = 1;
		return;
	case 1:
		if (s->r[0].n_done == 0 || s->r[1].n_done == 0)
			return;
		scn_finish(s);
		return;
	}
}

static void rconn__pending__requests_made_while_down_answered_after_relay_starts(void **state)
{
	static const enum rconn_state down_up[] = {RCONN_DOWN, RCONN_UP};
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	world_init(&w, false);
	assert_int_equal(relay_store_new(w.ctx, w.store_dir, NULL, &w.store), SOTTO_OK);
	scn_init(s, &w, late_advance, true);
	s->port = dead_port(&w);
	w.addr.port = s->port;
	peer_new(s, &s->a, &w.addr, &FAST);
	assert_int_equal(rconn_create_queue(s->a.rc, on_done, rec(s, 0)), SOTTO_OK);
	assert_int_equal(rconn_create_queue(s->a.rc, on_done, rec(s, 1)), SOTTO_OK);
	world_run(&w);
	assert_int_equal(s->r[0].n_done, 1);
	assert_int_equal(s->r[0].err, SOTTO_OK);
	assert_int_equal(s->r[1].n_done, 1);
	assert_int_equal(s->r[1].err, SOTTO_OK);
	assert_memory_not_equal(s->r[0].queue.rid, s->r[1].queue.rid, RELAY_ID_LEN);
	assert_states(&s->a, down_up, 2);
	assert_int_equal(s->a.reasons[0], SOTTO_ERR_CONNECT);
	world_free(&w);
	free(s);
}

/* ---- keepalive: PINGs are answered and the connection stays ---- */

static void ping_advance(struct scn *s)
{
	if (s->phase == 0 && peer_stats(&s->a).n_pongs >= 3) {
		s->phase = 1;
		s->cs0 = peer_stats(&s->a);
		scn_finish(s);
	}
}

static void rconn__keepalive__quiet_connection_pings_and_stays_up(void **state)
{
	static const enum rconn_state up[] = {RCONN_UP};
	struct rconn_config cfg = FAST;
	struct rconn_stats st;
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	world_init(&w, true);
	scn_init(s, &w, ping_advance, true);
	cfg.ping_interval_ms = 20;
	cfg.ping_timeout_ms = 5000;
	peer_new(s, &s->a, &w.addr, &cfg);
	world_run(&w);
	assert_states(&s->a, up, 1);
	st = s->cs0;
	assert_true(st.n_pings >= st.n_pongs && st.n_pongs >= 3);
	assert_int_equal(st.n_dials, 1);
	assert_int_equal(st.n_unknown, 0);
	world_free(&w);
	free(s);
}

/* ---- dead peers: a listener that never speaks, a relay that never answers ---- */

struct silent {
	uv_tcp_t listener;
	uv_tcp_t accepted[SILENT_MAX];
	size_t n_accepted;
	unsigned n_connections;
};

static void silent_on_connection(uv_stream_t *server, int status)
{
	struct silent *sl = server->data;
	uv_tcp_t *c;

	if (status != 0 || sl->n_accepted == SILENT_MAX)
		return;
	c = &sl->accepted[sl->n_accepted];
	if (uv_tcp_init(server->loop, c) != 0)
		return;
	sl->n_accepted++;
	sl->n_connections++;
	(void)uv_accept(server, (uv_stream_t *)c); /* then never read, never write */
}

static void silent_close(struct silent *sl)
{
	uv_close((uv_handle_t *)&sl->listener, NULL);
	for (size_t i = 0; i < sl->n_accepted; i++)
		uv_close((uv_handle_t *)&sl->accepted[i], NULL);
}

static void silent_advance(struct scn *s)
{
	struct silent *sl = s->ext;

	if (s->phase == 0 && peer_is_down(&s->a) && peer_stats(&s->a).n_dials >= 2) {
		s->phase = 1;
		silent_close(sl);
		scn_finish(s);
	}
}

static void rconn__dead_peer__silent_listener_handshake_times_out(void **state)
{
	static const enum rconn_state down[] = {RCONN_DOWN};
	struct rconn_config cfg = FAST;
	struct silent *sl = calloc(1, sizeof(*sl));
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = (int)sizeof(ss);
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	assert_non_null(sl);
	world_init(&w, false);
	scn_init(s, &w, silent_advance, true);
	s->ext = sl;
	assert_int_equal(uv_tcp_init(&w.loop, &sl->listener), 0);
	sl->listener.data = sl;
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
	assert_int_equal(uv_tcp_bind(&sl->listener, (const struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&sl->listener, 16, silent_on_connection), 0);
	assert_int_equal(uv_tcp_getsockname(&sl->listener, (struct sockaddr *)&ss, &len), 0);
	w.addr.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	cfg.handshake_timeout_ms = 50;
	peer_new(s, &s->a, &w.addr, &cfg);
	world_run(&w);
	assert_states(&s->a, down, 1);
	assert_int_equal(s->a.reasons[0], SOTTO_ERR_TIMEOUT);
	assert_true(sl->n_connections >= 1);
	world_free(&w);
	free(sl);
	free(s);
}

/* A fake relay: completes the transport handshake, then does what a scenario says. */
typedef void fake_cmds_fn(struct fake *f, struct net_conn *conn, const struct relay_cmd *cmds,
                          size_t n);

struct fake {
	struct scn *s;
	struct net_server *srv;
	struct x25519_keypair kp;
	struct net_addr addr;
	fake_cmds_fn *on_cmds;
	unsigned n_opened;
	unsigned n_cmds[16]; /* commands received, by code */
	uint8_t buf[RELAY_BLOCK_CONTENT_MAX];
};

static void fake_on_open(void *user, struct net_conn *conn, const uint8_t *sid, uint16_t version)
{
	struct fake *f = user;
	(void)conn;
	(void)sid;
	(void)version;
	f->n_opened++;
}

static void fake_on_block(void *user, struct net_conn *conn, const uint8_t *content, size_t len)
{
	struct fake *f = user;
	struct relay_batch batch;
	struct relay_cmd cmds[RELAY_BATCH_MAX];

	EXPECT(f->s->w, relay_batch_parse(&batch, content, len) == SOTTO_OK);
	for (size_t i = 0; i < batch.n_tx; i++) {
		EXPECT(f->s->w,
		       relay_cmd_parse(&cmds[i], batch.tx[i].buf, batch.tx[i].len) == SOTTO_OK);
		if (cmds[i].code < 16)
			f->n_cmds[cmds[i].code]++;
	}
	if (f->on_cmds != NULL)
		f->on_cmds(f, conn, cmds, batch.n_tx);
}

static void fake_start(struct world *w, struct scn *s, struct fake *f, fake_cmds_fn *on_cmds)
{
	struct net_conn_callbacks cb = {
	        .on_open = fake_on_open, .on_block = fake_on_block, .user = f};

	memset(f, 0, sizeof(*f));
	f->s = s;
	f->on_cmds = on_cmds;
	x25519_keypair_generate(w->ctx, &f->kp);
	assert_int_equal(
	        net_server_listen(w->ctx, &w->loop, "127.0.0.1", 0, &f->kp, NULL, &cb, &f->srv),
	        SOTTO_OK);
	memcpy(f->addr.key, f->kp.pub, NET_ADDR_KEY_LEN);
	memcpy(f->addr.host, "127.0.0.1", 10);
	f->addr.port = net_server_port(f->srv);
	s->fake = f;
}

static void fake_stop(struct fake *f)
{
	net_server_close(f->srv);
	f->srv = NULL;
	x25519_keypair_clear(&f->kp);
}

/* Sends the n transmissions (each txs[i], lens[i]) as one block. */
static void fake_send(struct fake *f, struct net_conn *conn, uint8_t *const *txs,
                      const size_t *lens, size_t n)
{
	struct relay_batch_writer bw;
	size_t len;

	relay_batch_writer_init(&bw, f->buf);
	for (size_t i = 0; i < n; i++)
		EXPECT(f->s->w, relay_batch_writer_add(&bw, txs[i], lens[i]) == SOTTO_OK);
	EXPECT(f->s->w, relay_batch_writer_finish(&bw, &len) == SOTTO_OK);
	EXPECT(f->s->w, net_conn_send(conn, f->buf, len) == SOTTO_OK);
}

static void fake_send_ok(struct fake *f, struct net_conn *conn, const struct relay_cmd *cmd)
{
	uint8_t tx[RELAY_RESP_HEADER_LEN];
	uint8_t *txs[1] = {tx};
	size_t len;

	EXPECT(f->s->w, relay_resp_encode_simple(tx, sizeof(tx), &len, RELAY_RESP_OK, cmd->corr,
	                                         cmd->entity) == SOTTO_OK);
	fake_send(f, conn, txs, &len, 1);
}

static void fake_ignore(struct fake *f, struct net_conn *conn, const struct relay_cmd *cmds,
                        size_t n)
{
	(void)f;
	(void)conn;
	(void)cmds;
	(void)n;
}

static void deaf_advance(struct scn *s)
{
	/* Up, PING unanswered, down; then up again on the next dial. */
	if (s->phase == 0 && s->a.n_states >= 3) {
		s->phase = 1;
		fake_stop(s->fake);
		scn_finish(s);
	}
}

static void rconn__dead_peer__unanswered_ping_drops_and_redials(void **state)
{
	static const enum rconn_state up_down_up[] = {RCONN_UP, RCONN_DOWN, RCONN_UP};
	struct rconn_config cfg = FAST;
	struct fake *f = calloc(1, sizeof(*f));
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	assert_non_null(f);
	world_init(&w, false);
	scn_init(s, &w, deaf_advance, false);
	fake_start(&w, s, f, fake_ignore);
	cfg.ping_interval_ms = 20;
	cfg.ping_timeout_ms = 40;
	peer_new(s, &s->a, &f->addr, &cfg);
	world_run(&w);
	assert_states(&s->a, up_down_up, 3);
	assert_int_equal(s->a.reasons[1], SOTTO_ERR_TIMEOUT);
	assert_true(f->n_cmds[RELAY_CMD_PING] >= 1);
	assert_true(f->n_opened >= 2);
	world_free(&w);
	free(f);
	free(s);
}

/* ---- a bounded queue of requests while down ---- */

static void busy_advance(struct scn *s)
{
	if (s->phase != 0 || !peer_is_down(&s->a))
		return;
	s->phase = 1;
	EXPECT(s->w, peer_stats(&s->a).n_pending == 4);
	/* rconn_free completes every waiting request before it returns. */
	rconn_free(s->a.rc);
	s->a.rc = NULL;
	for (size_t i = 0; i < 4; i++)
		EXPECT(s->w, s->r[i].n_done == 1 && s->r[i].err == SOTTO_ERR_CANCELLED);
	scn_finish(s);
}

static void rconn__queue_full__busy_beyond_max_pending(void **state)
{
	struct rconn_config cfg = FAST;
	uint8_t id[RELAY_ID_LEN] = {1}, key[RELAY_KEY_LEN] = {2};
	static uint8_t big[RELAY_MSG_BODY_MAX + 1];
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	world_init(&w, false);
	scn_init(s, &w, busy_advance, false);
	w.addr.port = dead_port(&w);
	cfg.max_pending = 4;
	peer_new(s, &s->a, &w.addr, &cfg);
	assert_int_equal(rconn_create_queue(s->a.rc, on_done, rec(s, 0)), SOTTO_OK);
	assert_int_equal(rconn_send(s->a.rc, id, NULL, big, sizeof(big), on_done, rec(s, 9)),
	                 SOTTO_ERR_TOO_LARGE);
	assert_int_equal(rconn_send(s->a.rc, id, key, big, 10, on_done, rec(s, 1)), SOTTO_OK);
	assert_int_equal(rconn_get(s->a.rc, id, key, key, on_done, rec(s, 2)), SOTTO_OK);
	assert_int_equal(rconn_del(s->a.rc, id, key, on_done, rec(s, 3)), SOTTO_OK);
	assert_int_equal(rconn_off(s->a.rc, id, key, on_done, rec(s, 9)), SOTTO_ERR_BUSY);
	assert_int_equal(rconn_create_queue(s->a.rc, on_done, rec(s, 9)), SOTTO_ERR_BUSY);
	world_run(&w);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(s->r[i].n_done, 1);
	assert_int_equal(s->r[9].n_done, 0);
	world_free(&w);
	free(s);
}

/* ---- hostile relays ---- */

static const uint8_t HOSTILE_RID[RELAY_ID_LEN] = {0x42, 0x42, 0x42};
static const uint8_t HOSTILE_KEY[RELAY_KEY_LEN] = {7};
static const uint8_t WRONG_KEY[RELAY_KEY_LEN] = {8};

/*
 * First connection: SUB is answered OK, together with an OK for a corr
 * never used, an IDS with corr 0, a MSG sealed under the wrong key, a MSG
 * and an END for queues not subscribed. Then a GET is answered with a block
 * that is no batch. Second connection: SUB again; a SEND answered OK for
 * another queue. Third: a KEY answered with IDS. Fourth: an ACK that makes
 * the relay hang up without answering.
 */
static void hostile_cmds(struct fake *f, struct net_conn *conn, const struct relay_cmd *cmds,
                         size_t n)
{
	static const uint8_t other[RELAY_ID_LEN] = {0x43};
	static const uint8_t zero[RELAY_KEY_LEN] = {0}; /* as an ID or a key */
	static uint8_t tx[6][RELAY_RESP_MAX_LEN];
	uint8_t *txs[6] = {tx[0], tx[1], tx[2], tx[3], tx[4], tx[5]};
	size_t lens[6];
	const uint8_t msg_id[RELAY_MSG_ID_LEN] = {9};
	struct relay_msg m = {.timestamp = 1, .body = (const uint8_t *)"x", .body_len = 1};
	struct world *w = f->s->w;

	for (size_t i = 0; i < n; i++) {
		const struct relay_cmd *c = &cmds[i];
		if (c->code == RELAY_CMD_SUB && f->n_opened == 1) {
			EXPECT(w, relay_resp_encode_simple(tx[0], RELAY_RESP_MAX_LEN, &lens[0],
			                                   RELAY_RESP_OK, c->corr,
			                                   c->entity) == SOTTO_OK);
			EXPECT(w, relay_resp_encode_simple(tx[1], RELAY_RESP_MAX_LEN, &lens[1],
			                                   RELAY_RESP_OK, 0x7fffffffu,
			                                   c->entity) == SOTTO_OK);
			EXPECT(w, relay_resp_encode_ids(tx[2], RELAY_RESP_MAX_LEN, &lens[2], 0,
			                                zero, zero, zero, zero) == SOTTO_OK);
			EXPECT(w, relay_resp_encode_msg(tx[3], RELAY_RESP_MAX_LEN, &lens[3], 0,
			                                HOSTILE_RID, msg_id, WRONG_KEY,
			                                &m) == SOTTO_OK);
			EXPECT(w,
			       relay_resp_encode_msg(tx[4], RELAY_RESP_MAX_LEN, &lens[4], 0, other,
			                             msg_id, HOSTILE_KEY, &m) == SOTTO_OK);
			EXPECT(w, relay_resp_encode_simple(tx[5], RELAY_RESP_MAX_LEN, &lens[5],
			                                   RELAY_RESP_END, 0, other) == SOTTO_OK);
			fake_send(f, conn, txs, lens, 6);
		} else if (c->code == RELAY_CMD_SUB) {
			fake_send_ok(f, conn, c);
		} else if (c->code == RELAY_CMD_GET) {
			memset(f->buf, 0xee, 100); /* count 0xee: not a batch */
			EXPECT(w, net_conn_send(conn, f->buf, 100) == SOTTO_OK);
		} else if (c->code == RELAY_CMD_SEND) {
			EXPECT(w,
			       relay_resp_encode_simple(tx[0], RELAY_RESP_MAX_LEN, &lens[0],
			                                RELAY_RESP_OK, c->corr, other) == SOTTO_OK);
			fake_send(f, conn, txs, lens, 1);
		} else if (c->code == RELAY_CMD_KEY) {
			EXPECT(w,
			       relay_resp_encode_ids(tx[0], RELAY_RESP_MAX_LEN, &lens[0], c->corr,
			                             zero, zero, zero, zero) == SOTTO_OK);
			fake_send(f, conn, txs, lens, 1);
		} else if (c->code == RELAY_CMD_ACK) {
			net_conn_close(conn);
		}
	}
}

static void hostile_advance(struct scn *s)
{
	struct rconn_stats st = peer_stats(&s->a);
	const uint8_t sid[RELAY_ID_LEN] = {5};
	const uint8_t msg_id[RELAY_MSG_ID_LEN] = {9};

	switch (s->phase) {
	case 0: /* the bad MSG was reported, and everything unknown counted */
		if (s->a.n_errors < 1 || st.n_unknown < 4)
			return;
		EXPECT(s->w, s->a.last_error == SOTTO_ERR_AUTH && s->a.last_error_has_rid);
		EXPECT(s->w, st.n_bad_msgs == 1 && st.n_msgs == 0);
		EXPECT(s->w, peer_is_up(&s->a));
		EXPECT(s->w, rconn_get(s->a.rc, HOSTILE_RID, HOSTILE_KEY, HOSTILE_KEY, on_done,
		                       rec(s, 0)) == SOTTO_OK);
		s->phase = 1;
		return;
	case 1: /* garbage: the GET is lost with the connection */
		if (s->r[0].n_done == 0 || !peer_is_up(&s->a) || s->a.n_states < 3)
			return;
		EXPECT(s->w, s->r[0].err == SOTTO_ERR_IO);
		EXPECT(s->w, s->a.reasons[1] == SOTTO_ERR_PROTOCOL);
		EXPECT(s->w, s->a.n_errors == 2 && s->a.last_error == SOTTO_ERR_PROTOCOL);
		EXPECT(s->w,
		       rconn_send(s->a.rc, sid, NULL, NULL, 0, on_done, rec(s, 1)) == SOTTO_OK);
		s->phase = 2;
		return;
	case 2: /* OK naming another queue */
		if (s->r[1].n_done == 0 || !peer_is_up(&s->a) || s->a.n_states < 5)
			return;
		EXPECT(s->w, s->r[1].err == SOTTO_ERR_PROTOCOL);
		EXPECT(s->w, rconn_key(s->a.rc, HOSTILE_RID, HOSTILE_KEY, HOSTILE_KEY, on_done,
		                       rec(s, 2)) == SOTTO_OK);
		s->phase = 3;
		return;
	case 3: /* IDS for a KEY */
		if (s->r[2].n_done == 0 || !peer_is_up(&s->a) || s->a.n_states < 7)
			return;
		EXPECT(s->w, s->r[2].err == SOTTO_ERR_PROTOCOL);
		EXPECT(s->w, rconn_ack(s->a.rc, HOSTILE_RID, HOSTILE_KEY, msg_id, on_done,
		                       rec(s, 3)) == SOTTO_OK);
		s->phase = 4;
		return;
	case 4: /* hung up on the ACK */
		if (s->r[3].n_done == 0 || s->a.n_states < 8)
			return;
		EXPECT(s->w, s->r[3].err == SOTTO_ERR_IO);
		s->phase = 5;
		fake_stop(s->fake);
		scn_finish(s);
		return;
	}
}

static void rconn__hostile_relay__bad_answers_reported_never_crash(void **state)
{
	static const enum rconn_state want[] = {RCONN_UP, RCONN_DOWN, RCONN_UP, RCONN_DOWN,
	                                        RCONN_UP, RCONN_DOWN, RCONN_UP, RCONN_DOWN};
	struct fake *f = calloc(1, sizeof(*f));
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	assert_non_null(f);
	world_init(&w, false);
	scn_init(s, &w, hostile_advance, true);
	fake_start(&w, s, f, hostile_cmds);
	peer_new(s, &s->a, &f->addr, &FAST);
	assert_int_equal(rconn_subscribe(s->a.rc, HOSTILE_RID, HOSTILE_KEY, HOSTILE_KEY), SOTTO_OK);
	world_run(&w);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(s->r[i].n_done, 1);
	assert_states(&s->a, want, 8);
	assert_int_equal(s->a.reasons[3], SOTTO_ERR_PROTOCOL);
	assert_int_equal(s->a.reasons[5], SOTTO_ERR_PROTOCOL);
	assert_int_equal(s->a.n_msgs, 0);
	assert_int_equal(f->n_cmds[RELAY_CMD_SUB], 4); /* renewed on every connection */
	assert_int_equal(f->n_cmds[RELAY_CMD_ACK], 1); /* only the one asked: never the bad MSG */
	world_free(&w);
	free(f);
	free(s);
}

/* ---- a lost SEND: the SENDs waiting behind it to its queue fail, the rest go out ---- */

static const uint8_t LOST_X[RELAY_ID_LEN] = {0x58, 1}; /* the queue whose SEND is lost */
static const uint8_t LOST_Y[RELAY_ID_LEN] = {0x59, 2}; /* another queue */
static const uint8_t LOST_RID[RELAY_ID_LEN] = {0x52, 3};
static const uint8_t LOST_KEY[RELAY_KEY_LEN] = {4};

/* What the fake saw, by connection: [0] the first, [1] every later one. */
struct lost {
	unsigned n_x[2], n_y[2], n_get[2], n_ack[2];
	struct rconn_stats cs_issued, cs_down;
};

/*
 * First connection: SENDs to X are swallowed (sent, never answered); the
 * first SEND to Y is answered OK, followed in the same block by a
 * transmission that is no response, so the rconn drops the connection while
 * handling that very block. Later connections: everything is answered.
 */
static void lost_cmds(struct fake *f, struct net_conn *conn, const struct relay_cmd *cmds, size_t n)
{
	static uint8_t tx[2][RELAY_RESP_HEADER_LEN];
	uint8_t *txs[2] = {tx[0], tx[1]};
	size_t lens[2];
	struct lost *l = f->s->ext;
	struct world *w = f->s->w;
	size_t c = f->n_opened <= 1 ? 0 : 1;

	for (size_t i = 0; i < n; i++) {
		const struct relay_cmd *cmd = &cmds[i];
		bool is_x = memcmp(cmd->entity, LOST_X, RELAY_ID_LEN) == 0;
		bool is_y = memcmp(cmd->entity, LOST_Y, RELAY_ID_LEN) == 0;

		if (cmd->code == RELAY_CMD_SEND && is_x) {
			l->n_x[c]++;
			if (c != 0)
				fake_send_ok(f, conn, cmd);
		} else if (cmd->code == RELAY_CMD_SEND && is_y && c == 0) {
			l->n_y[c]++;
			EXPECT(w, relay_resp_encode_simple(tx[0], sizeof(tx[0]), &lens[0],
			                                   RELAY_RESP_OK, cmd->corr,
			                                   cmd->entity) == SOTTO_OK);
			memset(tx[1], 0, 3); /* too short for any response */
			lens[1] = 3;
			fake_send(f, conn, txs, lens, 2);
		} else if (cmd->code == RELAY_CMD_SEND && is_y) {
			l->n_y[c]++;
			fake_send_ok(f, conn, cmd);
		} else if (cmd->code == RELAY_CMD_GET) {
			l->n_get[c]++;
			EXPECT(w, relay_resp_encode_simple(tx[0], sizeof(tx[0]), &lens[0],
			                                   RELAY_RESP_NONE, cmd->corr,
			                                   cmd->entity) == SOTTO_OK);
			fake_send(f, conn, txs, lens, 1);
		} else if (cmd->code == RELAY_CMD_ACK) {
			l->n_ack[c]++;
			fake_send_ok(f, conn, cmd);
		}
	}
}

static void lost_send(struct scn *s, const uint8_t *sid, const char *text, size_t i)
{
	EXPECT(s->w, rconn_send(s->a.rc, sid, NULL, (const uint8_t *)text, strlen(text), on_done,
	                        rec(s, i)) == SOTTO_OK);
}

static void lost_send_advance(struct scn *s)
{
	static const uint8_t msg_id[RELAY_MSG_ID_LEN] = {6};
	struct lost *l = s->ext;

	switch (s->phase) {
	case 0: /* x1 is in flight, unanswered; y0 was just answered */
		if (s->r[1].n_done == 0)
			return;
		/* Made before the rest of y0's block is read: they wait in the rconn. */
		lost_send(s, LOST_X, "x2", 2);
		lost_send(s, LOST_Y, "y1", 3);
		lost_send(s, LOST_X, "x3", 4);
		EXPECT(s->w, rconn_get(s->a.rc, LOST_RID, LOST_KEY, LOST_KEY, on_done, rec(s, 5)) ==
		                     SOTTO_OK);
		lost_send(s, LOST_Y, "y2", 6);
		lost_send(s, LOST_X, "x4", 7);
		EXPECT(s->w, rconn_ack(s->a.rc, LOST_RID, LOST_KEY, msg_id, on_done, rec(s, 8)) ==
		                     SOTTO_OK);
		lost_send(s, LOST_Y, "y3", 9);
		l->cs_issued = peer_stats(&s->a);
		s->phase = 1;
		return;
	case 1: /* the bad transmission dropped the connection */
		if (!peer_is_down(&s->a))
			return;
		l->cs_down = peer_stats(&s->a);
		s->phase = 2;
		return;
	case 2: /* up again; every request answered or failed */
		if (!peer_is_up(&s->a))
			return;
		for (size_t i = 0; i <= 9; i++) {
			if (s->r[i].n_done == 0)
				return;
		}
		s->phase = 3;
		fake_stop(s->fake);
		scn_finish(s);
		return;
	}
}

static void rconn__lost_send__waiting_sends_to_its_queue_fail_others_go_out(void **state)
{
	static const enum rconn_state up_down_up[] = {RCONN_UP, RCONN_DOWN, RCONN_UP};
	static const size_t xs[] = {0, 2, 4, 7}, ys[] = {1, 3, 6, 9};
	struct fake *f = calloc(1, sizeof(*f));
	struct lost *l = calloc(1, sizeof(*l));
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	assert_non_null(f);
	assert_non_null(l);
	world_init(&w, false);
	scn_init(s, &w, lost_send_advance, false);
	s->ext = l;
	fake_start(&w, s, f, lost_cmds);
	peer_new(s, &s->a, &f->addr, &FAST);
	/* Both go out in the first block once up. */
	lost_send(s, LOST_X, "x1", 0);
	lost_send(s, LOST_Y, "y0", 1);
	world_run(&w);
	/* When the connection dropped: x1 in flight, the eight later requests waiting. */
	assert_int_equal(l->cs_issued.n_in_flight, 1);
	assert_int_equal(l->cs_issued.n_pending, 8);
	/* Once down: x1 and the SENDs to X behind it failed, the other five still wait. */
	assert_int_equal(l->cs_down.n_in_flight, 0);
	assert_int_equal(l->cs_down.n_pending, 5);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(s->r[xs[i]].n_done, 1);
		assert_int_equal(s->r[xs[i]].err, SOTTO_ERR_IO);
		assert_int_equal(s->r[ys[i]].n_done, 1);
		assert_int_equal(s->r[ys[i]].err, SOTTO_OK);
	}
	assert_int_equal(s->r[5].n_done, 1); /* GET: NONE */
	assert_int_equal(s->r[5].err, SOTTO_OK);
	assert_false(s->r[5].has_msg);
	assert_int_equal(s->r[8].n_done, 1); /* ACK */
	assert_int_equal(s->r[8].err, SOTTO_OK);
	/* Only x1 ever reached the relay: x2..x4 went out on no connection. */
	assert_int_equal(l->n_x[0], 1);
	assert_int_equal(l->n_x[1], 0);
	assert_int_equal(l->n_y[0], 1);
	assert_int_equal(l->n_y[1], 3);
	assert_int_equal(l->n_get[0] + l->n_ack[0], 0);
	assert_int_equal(l->n_get[1], 1);
	assert_int_equal(l->n_ack[1], 1);
	assert_states(&s->a, up_down_up, 3);
	assert_int_equal(s->a.reasons[1], SOTTO_ERR_PROTOCOL);
	assert_int_equal(s->a.n_errors, 1);
	assert_int_equal(f->n_opened, 2);
	world_free(&w);
	free(l);
	free(f);
	free(s);
}

/* ---- END: another connection takes the subscription ---- */

static void end_advance(struct scn *s)
{
	switch (s->phase) {
	case 0:
		if (s->r[0].n_done == 0)
			return;
		s->q = s->r[0].queue;
		EXPECT(s->w, rconn_subscribe(s->a.rc, s->q.rid, s->q.k_rauth, s->q.k_deliver) ==
		                     SOTTO_OK);
		/* A queue the relay does not know: refused, reported, forgotten. */
		EXPECT(s->w, rconn_subscribe(s->a.rc, s->q.sid, s->q.k_rauth, s->q.k_deliver) ==
		                     SOTTO_OK);
		/* A way to know A's SUBs are through: a GET after them answers NONE. */
		EXPECT(s->w, rconn_get(s->a.rc, s->q.rid, s->q.k_rauth, s->q.k_deliver, on_done,
		                       rec(s, 1)) == SOTTO_OK);
		s->phase = 1;
		return;
	case 1:
		if (s->r[1].n_done == 0)
			return;
		EXPECT(s->w, s->a.n_errors == 1 && s->a.last_error == SOTTO_ERR_AUTH &&
		                     s->a.last_error_has_rid);
		EXPECT(s->w, peer_stats(&s->a).n_subs == 1);
		EXPECT(s->w, rconn_subscribe(s->b.rc, s->q.rid, s->q.k_rauth, s->q.k_deliver) ==
		                     SOTTO_OK);
		s->phase = 2;
		return;
	case 2:
		if (s->a.n_ends == 0)
			return;
		EXPECT(s->w, peer_stats(&s->a).n_subs == 0);
		EXPECT(s->w, peer_stats(&s->b).n_subs == 1);
		EXPECT(s->w, rconn_unsubscribe(s->b.rc, s->q.rid) == SOTTO_OK);
		EXPECT(s->w, rconn_unsubscribe(s->b.rc, s->q.rid) == SOTTO_ERR_NOT_FOUND);
		scn_finish(s);
		return;
	}
}

static void rconn__end__second_subscriber_ends_the_first_refused_sub_reported(void **state)
{
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	world_init(&w, true);
	scn_init(s, &w, end_advance, false);
	peer_new(s, &s->a, &w.addr, &FAST);
	peer_new(s, &s->b, &w.addr, &FAST);
	assert_int_equal(rconn_create_queue(s->a.rc, on_done, rec(s, 0)), SOTTO_OK);
	world_run(&w);
	assert_int_equal(s->a.n_ends, 1);
	assert_int_equal(s->b.n_ends, 0);
	assert_int_equal(s->a.n_errors, 1);
	assert_int_equal(s->b.n_errors, 0);
	world_free(&w);
	free(s);
}

/* ---- ending: graceful close, free from inside callbacks ---- */

static void close_advance(struct scn *s)
{
	switch (s->phase) {
	case 0:
		if (!peer_is_up(&s->a))
			return;
		EXPECT(s->w, rconn_create_queue(s->a.rc, on_done, rec(s, 0)) == SOTTO_OK);
		EXPECT(s->w, rconn_create_queue(s->a.rc, on_done, rec(s, 1)) == SOTTO_OK);
		rconn_close(s->a.rc); /* both still go out and are answered */
		EXPECT(s->w, rconn_create_queue(s->a.rc, on_done, rec(s, 2)) == SOTTO_ERR_STATE);
		s->phase = 1;
		return;
	case 1:
		if (s->a.n_closed == 0)
			return;
		EXPECT(s->w, s->r[0].n_done == 1 && s->r[1].n_done == 1);
		s->phase = 2;
		scn_finish(s);
		return;
	}
}

static void rconn__close__graceful_close_waits_for_answers(void **state)
{
	static const enum rconn_state up[] = {RCONN_UP};
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	world_init(&w, true);
	scn_init(s, &w, close_advance, false);
	peer_new(s, &s->a, &w.addr, &FAST);
	world_run(&w);
	assert_int_equal(s->a.n_closed, 1);
	assert_int_equal(s->r[0].err, SOTTO_OK);
	assert_int_equal(s->r[1].err, SOTTO_OK);
	assert_int_equal(s->r[2].n_done, 0);
	assert_states(&s->a, up, 1); /* no DOWN after rconn_close */
	world_free(&w);
	free(s);
}

/* In r[0]'s done: free the rconn; r[1] (in flight) and r[2] (waiting) are cancelled. */
static void free_in_done_advance(struct scn *s)
{
	switch (s->phase) {
	case 0:
		if (!peer_is_up(&s->a))
			return;
		EXPECT(s->w, rconn_create_queue(s->a.rc, on_done, rec(s, 0)) == SOTTO_OK);
		EXPECT(s->w, rconn_create_queue(s->a.rc, on_done, rec(s, 1)) == SOTTO_OK);
		s->phase = 1;
		return;
	case 1:
		if (s->r[0].n_done == 0)
			return;
		EXPECT(s->w, s->r[1].n_done == 0);
		/* Made from inside a done callback: queued behind r[1]. */
		EXPECT(s->w, rconn_create_queue(s->a.rc, on_done, rec(s, 2)) == SOTTO_OK);
		s->phase = 2;
		rconn_free(s->a.rc);
		s->a.rc = NULL;
		EXPECT(s->w, s->r[1].n_done == 1 && s->r[1].err == SOTTO_ERR_CANCELLED);
		EXPECT(s->w, s->r[2].n_done == 1 && s->r[2].err == SOTTO_ERR_CANCELLED);
		scn_finish(s);
		return;
	}
}

static void rconn__free__inside_done_callback_cancels_the_rest_once(void **state)
{
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	world_init(&w, true);
	scn_init(s, &w, free_in_done_advance, false);
	peer_new(s, &s->a, &w.addr, &FAST);
	world_run(&w);
	assert_int_equal(s->r[0].n_done, 1);
	assert_int_equal(s->r[0].err, SOTTO_OK);
	assert_int_equal(s->r[1].n_done, 1);
	assert_int_equal(s->r[2].n_done, 1);
	world_free(&w);
	free(s);
}

/* on_state(DOWN) frees the rconn: the waiting request is cancelled, nothing else runs. */
static void free_on_down_advance(struct scn *s)
{
	if (s->phase == 0 && s->a.rc == NULL) {
		s->phase = 1;
		scn_finish(s);
	}
}

static void rconn__free__inside_state_callback_is_safe(void **state)
{
	static const enum rconn_state down[] = {RCONN_DOWN};
	struct world w;
	struct scn *s = calloc(1, sizeof(*s));
	(void)state;

	assert_non_null(s);
	world_init(&w, false);
	scn_init(s, &w, free_on_down_advance, false);
	w.addr.port = dead_port(&w);
	peer_new(s, &s->a, &w.addr, &FAST);
	s->a.free_on_down = true;
	assert_int_equal(rconn_create_queue(s->a.rc, on_done, rec(s, 0)), SOTTO_OK);
	world_run(&w);
	assert_states(&s->a, down, 1);
	assert_int_equal(s->r[0].n_done, 1);
	assert_int_equal(s->r[0].err, SOTTO_ERR_CANCELLED);
	world_free(&w);
	free(s);
}

/* ---- configuration, memory ---- */

static void rconn__new__invalid_config_rejected(void **state)
{
	struct rconn_callbacks cb = {0};
	struct rconn_config cfg;
	struct rconn *rc = (struct rconn *)&cb;
	struct world w;
	(void)state;

	world_init(&w, false);
	memset(&cfg, 0, sizeof(cfg));
	cfg.backoff_base_ms = 100;
	cfg.backoff_max_ms = 50; /* below the base */
	assert_int_equal(rconn_new(w.ctx, &w.loop, &w.addr, &cfg, &cb, &rc), SOTTO_ERR_INVALID);
	assert_null(rc);
	memset(&cfg, 0, sizeof(cfg));
	cfg.ping_interval_ms = RCONN_PING_INTERVAL_MS_MAX + 1;
	assert_int_equal(rconn_new(w.ctx, &w.loop, &w.addr, &cfg, &cb, &rc), SOTTO_ERR_INVALID);
	memset(&cfg, 0, sizeof(cfg));
	cfg.max_pending = RCONN_PENDING_MAX + 1;
	assert_int_equal(rconn_new(w.ctx, &w.loop, &w.addr, &cfg, &cb, &rc), SOTTO_ERR_INVALID);
	memset(&cfg, 0, sizeof(cfg));
	cfg.max_write_queue_bytes = NET_TRANSPORT_FRAME_LEN - 1; /* could never send a block */
	assert_int_equal(rconn_new(w.ctx, &w.loop, &w.addr, &cfg, &cb, &rc), SOTTO_ERR_INVALID);
	assert_int_equal(rconn_err_from_relay(RELAY_ERR_QUOTA), SOTTO_ERR_BUSY);
	assert_int_equal(rconn_err_from_relay(RELAY_ERR_INTERNAL), SOTTO_ERR_IO);
	assert_int_equal(rconn_err_from_relay((enum relay_err)99), SOTTO_ERR_PROTOCOL);
	world_finish(&w);
	world_run(&w);
	world_free(&w);
}

static void rconn__nomem__new_request_and_subscribe_fail_cleanly(void **state)
{
	struct rconn_callbacks cb = {0};
	struct rconn *rc = NULL;
	uint8_t id[RELAY_ID_LEN] = {1}, key[RELAY_KEY_LEN] = {2};
	struct world w;
	(void)state;

	world_init(&w, false);
	w.alloc.fail_at = w.alloc.n_allocs + 1;
	assert_int_equal(rconn_new(w.ctx, &w.loop, &w.addr, NULL, &cb, &rc), SOTTO_ERR_NOMEM);
	assert_null(rc);
	w.alloc.fail_at = 0;
	assert_int_equal(rconn_new(w.ctx, &w.loop, &w.addr, NULL, &cb, &rc), SOTTO_OK);
	w.alloc.fail_at = w.alloc.n_allocs + 1;
	assert_int_equal(rconn_send(rc, id, key, key, 8, NULL, NULL), SOTTO_ERR_NOMEM);
	assert_int_equal(rconn_create_queue(rc, NULL, NULL), SOTTO_ERR_NOMEM);
	assert_int_equal(rconn_subscribe(rc, id, key, key), SOTTO_ERR_NOMEM);
	w.alloc.fail_at = 0;
	assert_int_equal(rconn_subscribe(rc, id, key, key), SOTTO_OK);
	w.alloc.fail_at = w.alloc.n_allocs + 1;
	id[0] = 2; /* a second entry: the table has room, the entry does not */
	assert_int_equal(rconn_subscribe(rc, id, key, key), SOTTO_ERR_NOMEM);
	w.alloc.fail_at = 0;
	rconn_free(rc);
	world_finish(&w);
	world_run(&w);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(rconn__round_trip__create_key_send_receive_ack),
	        cmocka_unit_test(rconn__requests__skey_get_ack_off_del_answered),
	        cmocka_unit_test(rconn__batching__hundred_sends_of_one_turn_take_four_blocks),
	        cmocka_unit_test(rconn__write_queue__full_queue_waits_for_drain_nothing_dropped),
	        cmocka_unit_test(
	                rconn__reconnect__relay_restart_renews_subscription_and_sends_pending),
	        cmocka_unit_test(
	                rconn__pending__requests_made_while_down_answered_after_relay_starts),
	        cmocka_unit_test(rconn__keepalive__quiet_connection_pings_and_stays_up),
	        cmocka_unit_test(rconn__dead_peer__silent_listener_handshake_times_out),
	        cmocka_unit_test(rconn__dead_peer__unanswered_ping_drops_and_redials),
	        cmocka_unit_test(rconn__queue_full__busy_beyond_max_pending),
	        cmocka_unit_test(rconn__hostile_relay__bad_answers_reported_never_crash),
	        cmocka_unit_test(rconn__lost_send__waiting_sends_to_its_queue_fail_others_go_out),
	        cmocka_unit_test(rconn__end__second_subscriber_ends_the_first_refused_sub_reported),
	        cmocka_unit_test(rconn__close__graceful_close_waits_for_answers),
	        cmocka_unit_test(rconn__free__inside_done_callback_cancels_the_rest_once),
	        cmocka_unit_test(rconn__free__inside_state_callback_is_safe),
	        cmocka_unit_test(rconn__new__invalid_config_rejected),
	        cmocka_unit_test(rconn__nomem__new_request_and_subscribe_fail_cleanly),
	};

	signal(SIGPIPE, SIG_IGN); /* writes to a peer that hung up fail with EPIPE instead */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
