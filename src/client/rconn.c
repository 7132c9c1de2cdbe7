/* SPDX-License-Identifier: MIT */
/*
 * rconn.c - one client connection to one relay (client layer); rconn.h has
 * the contract, docs/client.md ("Relay connections") the behaviour.
 *
 * Requests live on exactly one of four lists, named by their `where`:
 *   ctl        SUBs and the PING due on this connection (sent first);
 *   user       caller requests not yet sent, in order;
 *   in_flight  everything sent and not yet answered (looked up by corr);
 *   done_q     caller requests whose outcome is known but whose done
 *              callback has not run yet (see below).
 * A caller request is freed right after its done callback; a SUB is part of
 * its subscription and the PING part of the rconn, so neither is ever
 * allocated on the way. Caller requests unanswered (user + in flight) never
 * exceed max_pending.
 *
 * Re-entrancy: callbacks may call back into the rconn, including
 * rconn_free. So a request is always unlinked before its callback runs, a
 * subscription's rid is copied before any callback that might free it, and
 * after every callback the code checks is_dead (or whether the connection is
 * still usable) before touching anything else. Requests that fail together
 * (a lost connection) first move to done_q and are then completed one by
 * one, so rconn_free from inside one of those callbacks still reaches the
 * rest. Memory is never released inside a call: the struct goes only once
 * its four uv handles are closed and its connection's on_close has run,
 * always from the loop.
 *
 * Flushing: requests only mark the rconn dirty; a uv_prepare (before the
 * loop waits) and a uv_check (after the turn's I/O) pack everything due
 * into blocks of up to RELAY_BATCH_MAX transmissions. A block the transport
 * refuses with SOTTO_ERR_BUSY leaves its requests where they were (their
 * corr is drawn again next time) until on_drain.
 *
 * Nothing here logs a queue ID, key, address or message byte.
 */
#include <string.h>

#include "client/rconn.h"
#include "core/bytes.h"
#include "core/ctx.h"
#include "core/err.h"
#include "crypto/ct.h"
#include "crypto/x25519.h"
#include "net/conn.h"
#include "net/limits.h"

enum req_kind {
	REQ_USER = 0, /* a caller request, allocated, with a done callback */
	REQ_SUB = 1,  /* embedded in its struct rconn_sub */
	REQ_PING = 2, /* embedded in struct rconn */
};

enum req_where {
	REQ_NOWHERE = 0,
	REQ_CTL = 1,
	REQ_USER_Q = 2,
	REQ_IN_FLIGHT = 3,
	REQ_DONE_Q = 4,
};

struct rconn_sub;

struct rconn_req {
	struct rconn_req *prev, *next; /* the list named by where */
	enum req_where where;
	enum req_kind kind;
	uint32_t corr;                    /* drawn when encoded */
	uint8_t code;                     /* enum relay_cmd_code */
	bool has_key;                     /* the command carries a MAC under key */
	uint8_t entity[RELAY_ID_LEN];     /* RID or SID; zero for NEW and PING */
	uint8_t key[RELAY_KEY_LEN];       /* secret: K_rauth or K_sauth */
	uint8_t arg[RELAY_KEY_LEN];       /* NEW: rk; KEY, SKEY: sk */
	uint8_t secret[RELAY_KEY_LEN];    /* secret: NEW: rk's private half; GET: K_deliver */
	uint8_t msg_id[RELAY_MSG_ID_LEN]; /* ACK */
	const uint8_t *body;              /* SEND: in the same allocation, after the struct */
	size_t body_len;
	uint8_t send_flags;    /* SEND: RELAY_SEND_* */
	size_t alloc_len;      /* REQ_USER: bytes allocated (wiped on free) */
	sotto_err fail_err;    /* on done_q: what done gets */
	rconn_done_fn *done;   /* REQ_USER; may be NULL */
	void *user;            /* for done */
	struct rconn_sub *sub; /* REQ_SUB: its subscription */
};

struct req_list {
	struct rconn_req *head, *tail;
	size_t n;
};

struct rconn_sub {
	uint8_t rid[RELAY_ID_LEN];
	uint8_t k_deliver[RELAY_KEY_LEN]; /* secret */
	struct rconn_req req;             /* its SUB (K_rauth is req.key) */
};

struct rconn {
	struct sotto_ctx *ctx; /* borrowed */
	uv_loop_t *loop;       /* borrowed */
	struct net_addr addr;
	struct rconn_config cfg; /* defaults filled in */
	struct rconn_callbacks cb;
	struct net_conn *conn; /* the attempt or connection, until its on_close */
	uint8_t session_id[RELAY_SESSION_ID_LEN];
	uv_timer_t retry_timer; /* backoff; while closing: the close deadline */
	uv_timer_t ka_timer;    /* keepalive, then the PING deadline */
	uv_prepare_t prepare;   /* flush before the loop waits */
	uv_check_t check;       /* flush after the turn's I/O */
	unsigned n_inited;      /* handles initialised, in the order above */
	unsigned n_handles;     /* handles not yet closed */
	struct req_list ctl, user, in_flight, done_q;
	size_t n_user_in_flight; /* REQ_USER entries of in_flight */
	struct rconn_req ping;
	uint64_t ping_at_ms; /* ctx clock: when the PING was queued */
	uint64_t last_send_ms, last_recv_ms, up_since_ms;
	struct rconn_sub **subs; /* sorted by rid; n_subs used of cap_subs */
	size_t n_subs, cap_subs;
	uint32_t next_corr;
	unsigned n_failures;   /* attempts failed in a row: the backoff exponent */
	sotto_err fail_reason; /* why we are closing the connection ourselves */
	bool has_reported;     /* on_state ran at least once */
	bool is_up;            /* between on_open and on_close */
	bool is_write_blocked; /* net_conn_send said BUSY; until on_drain */
	bool is_flush_armed;   /* prepare and check are running */
	bool is_draining;      /* rconn_close was called */
	bool is_dead;          /* ending: no callback but cancellations and on_closed */
	struct rconn_stats stats;
	uint8_t block[RELAY_BLOCK_CONTENT_MAX];  /* the block being built */
	uint8_t plain[RELAY_DELIVERY_PLAIN_MAX]; /* a MSG being opened; wiped after */
};

static void schedule_flush(struct rconn *rc);
static void end_now(struct rconn *rc);

/* ---- lists ---- */

static struct req_list *list_of(struct rconn *rc, enum req_where where)
{
	switch (where) {
	case REQ_CTL: return &rc->ctl;
	case REQ_USER_Q: return &rc->user;
	case REQ_IN_FLIGHT: return &rc->in_flight;
	case REQ_DONE_Q: return &rc->done_q;
	case REQ_NOWHERE: break;
	}
	return NULL;
}

static void req_unlink(struct rconn *rc, struct rconn_req *req)
{
	struct req_list *l = list_of(rc, req->where);

	if (l == NULL)
		return;
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		l->head = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	else
		l->tail = req->prev;
	l->n--;
	if (req->where == REQ_IN_FLIGHT && req->kind == REQ_USER)
		rc->n_user_in_flight--;
	req->prev = req->next = NULL;
	req->where = REQ_NOWHERE;
}

/* Moves req (unlinked first) to the tail, or the head, of where. */
static void req_link(struct rconn *rc, struct rconn_req *req, enum req_where where, bool at_head)
{
	struct req_list *l = list_of(rc, where);

	req_unlink(rc, req);
	if (l == NULL)
		return;
	if (at_head) {
		req->next = l->head;
		if (l->head != NULL)
			l->head->prev = req;
		else
			l->tail = req;
		l->head = req;
	} else {
		req->prev = l->tail;
		if (l->tail != NULL)
			l->tail->next = req;
		else
			l->head = req;
		l->tail = req;
	}
	l->n++;
	req->where = where;
	if (where == REQ_IN_FLIGHT && req->kind == REQ_USER)
		rc->n_user_in_flight++;
}

static void req_free(struct rconn *rc, struct rconn_req *req)
{
	if (req->kind != REQ_USER)
		return;
	ct_wipe(req, req->alloc_len);
	ctx_free(rc->ctx, req);
}

/* Runs req's done with reply (req is unlinked first) and frees it. */
static void req_complete(struct rconn *rc, struct rconn_req *req, const struct rconn_reply *reply)
{
	req_unlink(rc, req);
	if (req->done != NULL)
		req->done(req->user, reply);
	req_free(rc, req);
}

static void req_complete_err(struct rconn *rc, struct rconn_req *req, sotto_err err)
{
	struct rconn_reply reply = {.err = err, .relay_err = RELAY_ERR_NONE};

	req_complete(rc, req, &reply);
}

/* Queues req's completion with err; drain_done runs it. */
static void req_fail(struct rconn *rc, struct rconn_req *req, sotto_err err)
{
	req->fail_err = err;
	req_link(rc, req, REQ_DONE_Q, false);
}

/* Completes everything on done_q; safe against rconn_free from a callback. */
static void drain_done(struct rconn *rc)
{
	while (rc->done_q.head != NULL)
		req_complete_err(rc, rc->done_q.head, rc->done_q.head->fail_err);
}

static struct rconn_req *find_in_flight(struct rconn *rc, uint32_t corr)
{
	/* Answers come in command order, so the head is almost always it. */
	for (struct rconn_req *r = rc->in_flight.head; r != NULL; r = r->next) {
		if (r->corr == corr)
			return r;
	}
	return NULL;
}

/* ---- subscriptions: pointers sorted by rid ---- */

static size_t sub_lower_bound(const struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN])
{
	size_t lo = 0, hi = rc->n_subs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(rc->subs[mid]->rid, rid, RELAY_ID_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct rconn_sub *sub_find(const struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN])
{
	size_t i = sub_lower_bound(rc, rid);

	if (i < rc->n_subs && memcmp(rc->subs[i]->rid, rid, RELAY_ID_LEN) == 0)
		return rc->subs[i];
	return NULL;
}

static sotto_err sub_grow(struct rconn *rc)
{
	size_t cap = rc->cap_subs == 0 ? 16 : rc->cap_subs * 2;
	struct rconn_sub **subs;

	if (cap > rc->cfg.max_subs)
		cap = rc->cfg.max_subs;
	if ((subs = ctx_calloc(rc->ctx, cap, sizeof(*subs))) == NULL)
		return SOTTO_ERR_NOMEM;
	if (rc->n_subs > 0)
		memcpy(subs, rc->subs, rc->n_subs * sizeof(*subs));
	ctx_free(rc->ctx, rc->subs);
	rc->subs = subs;
	rc->cap_subs = cap;
	return SOTTO_OK;
}

/* Takes sub out of the table, unlinks its SUB and frees it. */
static void sub_remove(struct rconn *rc, struct rconn_sub *sub)
{
	size_t i = sub_lower_bound(rc, sub->rid);

	if (i < rc->n_subs && rc->subs[i] == sub) {
		memmove(&rc->subs[i], &rc->subs[i + 1], (rc->n_subs - i - 1) * sizeof(*rc->subs));
		rc->n_subs--;
	}
	req_unlink(rc, &sub->req);
	ct_wipe(sub, sizeof(*sub));
	ctx_free(rc->ctx, sub);
}

/* ---- state ---- */

static bool is_usable(const struct rconn *rc)
{
	return rc->is_up && !rc->is_dead && rc->fail_reason == SOTTO_OK;
}

static void report(struct rconn *rc, enum rconn_state state, sotto_err reason)
{
	if (rc->is_dead || rc->is_draining || (rc->has_reported && rc->stats.state == state))
		return;
	rc->has_reported = true;
	rc->stats.state = state;
	if (rc->cb.on_state != NULL)
		rc->cb.on_state(rc->cb.user, state, reason);
}

/* Closes the connection on our initiative; its on_close reports reason. */
static void conn_fail(struct rconn *rc, sotto_err reason)
{
	if (rc->conn == NULL || rc->fail_reason != SOTTO_OK)
		return;
	rc->fail_reason = reason;
	net_conn_close(rc->conn);
}

static void protocol_error(struct rconn *rc, const uint8_t *SOTTO_NULLABLE rid)
{
	uint8_t rid_copy[RELAY_ID_LEN];

	rc->stats.n_protocol_errors++;
	conn_fail(rc, SOTTO_RAISE(SOTTO_ERR_PROTOCOL));
	if (rid != NULL)
		memcpy(rid_copy, rid, RELAY_ID_LEN);
	if (rc->cb.on_error != NULL && !rc->is_dead)
		rc->cb.on_error(rc->cb.user, rid != NULL ? rid_copy : NULL, SOTTO_ERR_PROTOCOL);
}

sotto_err rconn_err_from_relay(enum relay_err err)
{
	switch (err) {
	case RELAY_ERR_AUTH: return SOTTO_ERR_AUTH;
	case RELAY_ERR_QUOTA:
	case RELAY_ERR_RATE: return SOTTO_ERR_BUSY;
	case RELAY_ERR_LARGE: return SOTTO_ERR_TOO_LARGE;
	case RELAY_ERR_INTERNAL: return SOTTO_ERR_IO;
	case RELAY_ERR_NO_MSG: return SOTTO_ERR_NOT_FOUND;
	case RELAY_ERR_BLOCK:
	case RELAY_ERR_CMD:
	case RELAY_ERR_NONE: break;
	}
	return SOTTO_ERR_PROTOCOL;
}

/* ---- timers: backoff, keepalive, close deadline ---- */

static void on_retry(uv_timer_t *t);

static void schedule_retry(struct rconn *rc)
{
	uint64_t ceiling = rc->cfg.backoff_base_ms;
	uint8_t r[4];
	uint32_t delay;

	for (unsigned i = 0; i < rc->n_failures && ceiling < rc->cfg.backoff_max_ms; i++)
		ceiling *= 2;
	if (ceiling > rc->cfg.backoff_max_ms)
		ceiling = rc->cfg.backoff_max_ms;
	/* Full jitter: uniform in [0, ceiling], so a relay's clients spread out. */
	ctx_random(rc->ctx, r, sizeof(r));
	delay = (uint32_t)(bytes_load_be32(r) % (ceiling + 1));
	if (rc->n_failures < 32)
		rc->n_failures++;
	ctx_log(rc->ctx, SOTTO_LOG_DEBUG, "rconn: retry in %u ms", (unsigned)delay);
	(void)uv_timer_start(&rc->retry_timer, on_retry, delay, 0);
}

static void on_ka(uv_timer_t *t);

static void ka_arm(struct rconn *rc, uint64_t ms)
{
	(void)uv_timer_start(&rc->ka_timer, on_ka, ms, 0);
}

static void on_ka(uv_timer_t *t)
{
	struct rconn *rc = t->data;
	uint64_t now, last, quiet, elapsed;

	if (!is_usable(rc))
		return;
	now = ctx_now_ms(rc->ctx);
	if (rc->ping.where != REQ_NOWHERE) {
		elapsed = now > rc->ping_at_ms ? now - rc->ping_at_ms : 0;
		if (elapsed >= rc->cfg.ping_timeout_ms) {
			ctx_log(rc->ctx, SOTTO_LOG_INFO, "rconn: PING unanswered");
			conn_fail(rc, SOTTO_ERR_TIMEOUT);
			return;
		}
		ka_arm(rc, rc->cfg.ping_timeout_ms - elapsed);
		return;
	}
	last = rc->last_send_ms < rc->last_recv_ms ? rc->last_send_ms : rc->last_recv_ms;
	quiet = now > last ? now - last : 0;
	if (quiet < rc->cfg.ping_interval_ms) {
		ka_arm(rc, rc->cfg.ping_interval_ms - quiet);
		return;
	}
	rc->ping_at_ms = now;
	req_link(rc, &rc->ping, REQ_CTL, true);
	schedule_flush(rc);
	ka_arm(rc, rc->cfg.ping_timeout_ms);
}

static void on_close_deadline(uv_timer_t *t)
{
	struct rconn *rc = t->data;

	if (!rc->is_dead)
		end_now(rc);
}

/* ---- the connection ---- */

static void on_open(void *user, struct net_conn *conn, const uint8_t *session_id, uint16_t version);
static void on_block(void *user, struct net_conn *conn, const uint8_t *content, size_t len);
static void on_drain(void *user, struct net_conn *conn);
/*
 * Fails an in-flight request with SOTTO_ERR_IO; for a SEND, also the SENDs
 * to the same queue still waiting behind it, so that none of them goes out
 * on the next connection ahead of the one whose fate is unknown (the caller
 * sends them again in its own order).
 */
static void fail_in_flight(struct rconn *rc, struct rconn_req *req)
{
	struct rconn_req *r, *next;
	uint8_t sid[RELAY_ID_LEN];
	bool is_send = req->code == RELAY_CMD_SEND;

	memcpy(sid, req->entity, sizeof(sid));
	req_fail(rc, req, SOTTO_ERR_IO);
	if (!is_send)
		return;
	for (r = rc->user.head; r != NULL; r = next) {
		next = r->next;
		if (r->code == RELAY_CMD_SEND && memcmp(r->entity, sid, RELAY_ID_LEN) == 0)
			req_fail(rc, r, SOTTO_ERR_IO);
	}
}

static void on_close(void *user, struct net_conn *conn, sotto_err reason);

static void dial(struct rconn *rc)
{
	struct net_conn_config nc;
	struct net_conn_callbacks cb = {.on_open = on_open,
	                                .on_block = on_block,
	                                .on_drain = on_drain,
	                                .on_close = on_close,
	                                .user = rc};
	sotto_err err;

	memset(&nc, 0, sizeof(nc));
	nc.handshake_timeout_ms = rc->cfg.handshake_timeout_ms;
	nc.max_write_queue_bytes = rc->cfg.max_write_queue_bytes;
	rc->stats.n_dials++;
	err = net_conn_dial(rc->ctx, rc->loop, &rc->addr, &nc, &cb, &rc->conn);
	if (err == SOTTO_OK)
		return;
	rc->conn = NULL;
	schedule_retry(rc);
	report(rc, RCONN_DOWN, err);
}

static void on_retry(uv_timer_t *t)
{
	struct rconn *rc = t->data;

	if (!rc->is_dead && !rc->is_draining && rc->conn == NULL)
		dial(rc);
}

static void on_open(void *user, struct net_conn *conn, const uint8_t *session_id, uint16_t version)
{
	struct rconn *rc = user;
	uint64_t now;
	(void)conn;
	(void)version;

	if (rc->is_dead)
		return;
	memcpy(rc->session_id, session_id, RELAY_SESSION_ID_LEN);
	now = ctx_now_ms(rc->ctx);
	rc->is_up = true;
	rc->is_write_blocked = false;
	rc->up_since_ms = rc->last_send_ms = rc->last_recv_ms = now;
	rc->stats.n_connects++;
	/* Every subscription is renewed on the new connection, before any request. */
	for (size_t i = 0; i < rc->n_subs; i++)
		req_link(rc, &rc->subs[i]->req, REQ_CTL, false);
	ka_arm(rc, rc->cfg.ping_interval_ms);
	schedule_flush(rc);
	ctx_log(rc->ctx, SOTTO_LOG_INFO, "rconn: up");
	report(rc, RCONN_UP, SOTTO_OK);
}

static void on_drain(void *user, struct net_conn *conn)
{
	struct rconn *rc = user;
	(void)conn;

	rc->is_write_blocked = false;
	schedule_flush(rc);
}

/* Takes every SUB and the PING off the lists (the connection is gone). */
static void unlink_ctl(struct rconn *rc)
{
	struct rconn_req *r, *next;

	while (rc->ctl.head != NULL)
		req_unlink(rc, rc->ctl.head);
	for (r = rc->in_flight.head; r != NULL; r = next) {
		next = r->next;
		if (r->kind != REQ_USER)
			req_unlink(rc, r);
	}
}

static void on_close(void *user, struct net_conn *conn, sotto_err reason)
{
	struct rconn *rc = user;
	bool was_up = rc->is_up;
	(void)conn;

	rc->conn = NULL;
	rc->is_up = false;
	rc->is_write_blocked = false;
	if (rc->fail_reason != SOTTO_OK)
		reason = rc->fail_reason;
	rc->fail_reason = SOTTO_OK;
	ct_wipe(rc->session_id, sizeof(rc->session_id));
	if (rc->is_dead) {
		end_now(rc); /* only releases: everything else was done */
		return;
	}
	(void)uv_timer_stop(&rc->ka_timer);
	unlink_ctl(rc);
	/* Sent and unanswered: the relay may or may not have acted on them. */
	while (rc->in_flight.head != NULL)
		fail_in_flight(rc, rc->in_flight.head);
	if (rc->is_draining) {
		end_now(rc);
		return;
	}
	if (was_up && ctx_now_ms(rc->ctx) >= rc->up_since_ms + rc->cfg.backoff_max_ms)
		rc->n_failures = 0; /* it was a good connection: retry soon */
	ctx_log(rc->ctx, SOTTO_LOG_INFO, "rconn: down (%s)", sotto_strerror(reason));
	schedule_retry(rc);
	report(rc, RCONN_DOWN, reason);
	drain_done(rc);
}

/* ---- flushing ---- */

enum stage_result { STAGED, FULL, BAD };

/* Encodes req into the next slot of bw (drawing its corr). */
static enum stage_result stage(struct rconn *rc, struct relay_batch_writer *bw,
                               struct rconn_req *req)
{
	struct relay_cmd cmd;
	size_t need, cap, len;
	uint8_t *slot;

	if (++rc->next_corr == 0)
		rc->next_corr = 1; /* 0 marks pushes */
	req->corr = rc->next_corr;
	relay_cmd_init(&cmd, (enum relay_cmd_code)req->code, req->corr, req->entity);
	switch (req->code) {
	case RELAY_CMD_NEW:
	case RELAY_CMD_KEY:
	case RELAY_CMD_SKEY: memcpy(cmd.key, req->arg, RELAY_KEY_LEN); break;
	case RELAY_CMD_ACK: memcpy(cmd.msg_id, req->msg_id, RELAY_MSG_ID_LEN); break;
	case RELAY_CMD_SEND:
		cmd.body = req->body;
		cmd.body_len = req->body_len;
		cmd.flags = req->send_flags;
		break;
	default: break;
	}
	need = relay_cmd_len(&cmd);
	if (!SOTTO_INVARIANT(need != 0))
		return BAD;
	if (!relay_batch_writer_fits(bw, need))
		return FULL;
	slot = relay_batch_writer_slot(bw, &cap);
	if (slot == NULL ||
	    relay_cmd_encode(slot, cap, &len, &cmd, req->has_key ? req->key : NULL,
	                     req->has_key ? rc->session_id : NULL) != SOTTO_OK ||
	    relay_batch_writer_commit(bw, len) != SOTTO_OK) {
		/* Requests are checked when made, so this is our bug. */
		(void)SOTTO_INVARIANT(false);
		return BAD;
	}
	return STAGED;
}

/* Stages the head of ctl, then of user, until the block is full. */
static size_t stage_block(struct rconn *rc, struct relay_batch_writer *bw,
                          struct rconn_req *staged[static RELAY_BATCH_MAX])
{
	struct req_list *lists[2] = {&rc->ctl, &rc->user};
	struct rconn_req *req, *next;
	size_t n = 0;

	for (size_t l = 0; l < 2; l++) {
		for (req = lists[l]->head; req != NULL && n < RELAY_BATCH_MAX; req = next) {
			next = req->next;
			switch (stage(rc, bw, req)) {
			case STAGED: staged[n++] = req; break;
			case FULL: return n;
			case BAD:
				if (req->kind == REQ_USER)
					req_fail(rc, req, SOTTO_ERR_INTERNAL);
				else
					req_unlink(rc, req);
				break;
			}
		}
		if (n == RELAY_BATCH_MAX)
			break;
	}
	return n;
}

/* Builds and sends one block; false when nothing more can go now. */
static bool flush_block(struct rconn *rc)
{
	struct relay_batch_writer bw;
	struct rconn_req *staged[RELAY_BATCH_MAX];
	size_t n, len;
	sotto_err err;

	relay_batch_writer_init(&bw, rc->block);
	n = stage_block(rc, &bw, staged);
	if (n == 0)
		return false; /* cannot happen: one command always fits an empty block */
	if (relay_batch_writer_finish(&bw, &len) != SOTTO_OK)
		return false;
	err = net_conn_send(rc->conn, rc->block, len);
	if (err == SOTTO_ERR_BUSY) {
		rc->is_write_blocked = true;
		rc->stats.n_write_busy++;
		return false;
	}
	if (err != SOTTO_OK) {
		conn_fail(rc, err);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (staged[i]->kind == REQ_PING)
			rc->stats.n_pings++;
		req_link(rc, staged[i], REQ_IN_FLIGHT, false);
	}
	rc->stats.n_blocks_out++;
	rc->stats.n_cmds_out += n;
	rc->last_send_ms = ctx_now_ms(rc->ctx);
	return true;
}

static void maybe_drained(struct rconn *rc)
{
	if (rc->is_draining && !rc->is_dead && rc->user.n == 0 && rc->n_user_in_flight == 0)
		end_now(rc);
}

static void flush(struct rconn *rc)
{
	while (is_usable(rc) && !rc->is_write_blocked && rc->ctl.n + rc->user.n > 0) {
		if (!flush_block(rc))
			break;
	}
	drain_done(rc);
	if (!rc->is_dead)
		maybe_drained(rc);
}

static void flush_disarm(struct rconn *rc)
{
	if (!rc->is_flush_armed)
		return;
	rc->is_flush_armed = false;
	(void)uv_prepare_stop(&rc->prepare);
	(void)uv_check_stop(&rc->check);
}

static void on_prepare(uv_prepare_t *h)
{
	struct rconn *rc = h->data;

	flush_disarm(rc); /* before flushing: callbacks in it may arm it again */
	flush(rc);
}

static void on_check(uv_check_t *h)
{
	struct rconn *rc = h->data;

	flush_disarm(rc);
	flush(rc);
}

static void schedule_flush(struct rconn *rc)
{
	if (rc->is_flush_armed || rc->is_dead)
		return;
	rc->is_flush_armed = true;
	(void)uv_prepare_start(&rc->prepare, on_prepare);
	(void)uv_check_start(&rc->check, on_check);
}

/* ---- answers and pushes ---- */

static void answer_ping(struct rconn *rc, const struct relay_resp *r)
{
	if (r->code != RELAY_RESP_PONG) {
		protocol_error(rc, NULL);
		return;
	}
	rc->stats.n_pongs++;
	ka_arm(rc, rc->cfg.ping_interval_ms);
}

static void answer_sub(struct rconn *rc, struct rconn_req *req, const struct relay_resp *r)
{
	uint8_t rid[RELAY_ID_LEN];

	memcpy(rid, req->entity, RELAY_ID_LEN);
	if (!ct_equal(r->entity, rid, RELAY_ID_LEN) ||
	    (r->code != RELAY_RESP_OK && r->code != RELAY_RESP_ERR)) {
		protocol_error(rc, rid);
		return;
	}
	if (r->code == RELAY_RESP_OK)
		return;
	/* Refused (a deleted queue, a wrong key): asking again would not help. */
	sub_remove(rc, req->sub);
	if (rc->cb.on_error != NULL)
		rc->cb.on_error(rc->cb.user, rid, rconn_err_from_relay((enum relay_err)r->err));
}

/* Fills reply from r for req; false if r does not answer req. */
static bool answer_fill(struct rconn *rc, struct rconn_req *req, const struct relay_resp *r,
                        struct rconn_reply *reply, struct rconn_queue *q, struct rconn_msg *m)
{
	struct relay_msg pm;

	if (!ct_equal(r->entity, req->entity, RELAY_ID_LEN))
		return false;
	if (r->code == RELAY_RESP_ERR) {
		reply->relay_err = (enum relay_err)r->err;
		reply->err = rconn_err_from_relay(reply->relay_err);
		return true;
	}
	switch (req->code) {
	case RELAY_CMD_NEW:
		if (r->code != RELAY_RESP_IDS)
			return false;
		reply->err = relay_keys_recipient(q->k_rauth, q->k_deliver, req->secret, r->srk);
		if (reply->err != SOTTO_OK)
			return true;
		memcpy(q->rid, r->rid, RELAY_ID_LEN);
		memcpy(q->sid, r->sid, RELAY_ID_LEN);
		memcpy(q->ssk, r->ssk, RELAY_KEY_LEN);
		reply->queue = q;
		return true;
	case RELAY_CMD_GET:
		if (r->code == RELAY_RESP_NONE)
			return true;
		if (r->code != RELAY_RESP_MSG)
			return false;
		reply->err = relay_msg_open(&pm, rc->plain, r, req->secret);
		if (reply->err != SOTTO_OK)
			return true;
		m->rid = req->entity;
		m->msg_id = r->msg_id;
		m->timestamp = pm.timestamp;
		m->flags = pm.flags;
		m->body = pm.body;
		m->body_len = pm.body_len;
		reply->msg = m;
		return true;
	default: return r->code == RELAY_RESP_OK;
	}
}

static void answer_user(struct rconn *rc, struct rconn_req *req, const struct relay_resp *r)
{
	struct rconn_reply reply = {.err = SOTTO_OK, .relay_err = RELAY_ERR_NONE};
	struct rconn_queue q;
	struct rconn_msg m;

	memset(&q, 0, sizeof(q));
	memset(&m, 0, sizeof(m));
	if (!answer_fill(rc, req, r, &reply, &q, &m)) {
		memset(&reply, 0, sizeof(reply));
		reply.err = SOTTO_ERR_PROTOCOL;
		rc->stats.n_protocol_errors++;
		conn_fail(rc, SOTTO_RAISE(SOTTO_ERR_PROTOCOL));
	}
	req_complete(rc, req, &reply);
	ct_wipe(&q, sizeof(q));
	ct_wipe(rc->plain, sizeof(rc->plain));
}

static void push_msg(struct rconn *rc, const struct relay_resp *r)
{
	struct rconn_sub *sub = sub_find(rc, r->entity);
	struct relay_msg pm;
	sotto_err err;

	if (sub == NULL) {
		rc->stats.n_unknown++; /* unsubscribed meanwhile, or a confused relay */
		return;
	}
	err = relay_msg_open(&pm, rc->plain, r, sub->k_deliver);
	if (err != SOTTO_OK) {
		/* Not acknowledged: the relay keeps it, and sends nothing newer. */
		rc->stats.n_bad_msgs++;
		if (rc->cb.on_error != NULL)
			rc->cb.on_error(rc->cb.user, r->entity, SOTTO_ERR_AUTH);
		return;
	}
	if (!rc->is_draining) {
		rc->stats.n_msgs++;
		if (rc->cb.on_msg != NULL)
			rc->cb.on_msg(rc->cb.user, r->entity, r->msg_id, pm.timestamp, pm.flags,
			              pm.body, pm.body_len);
	}
	ct_wipe(rc->plain, sizeof(rc->plain));
}

static void push_end(struct rconn *rc, const struct relay_resp *r)
{
	struct rconn_sub *sub = sub_find(rc, r->entity);

	if (sub == NULL) {
		rc->stats.n_unknown++;
		return;
	}
	sub_remove(rc, sub);
	if (rc->cb.on_end != NULL)
		rc->cb.on_end(rc->cb.user, r->entity);
}

static void handle_resp(struct rconn *rc, const struct relay_resp *r)
{
	struct rconn_req *req;

	if (r->corr == 0) {
		if (r->code == RELAY_RESP_MSG) {
			push_msg(rc, r);
		} else if (r->code == RELAY_RESP_END) {
			push_end(rc, r);
		} else {
			/* An answer to no command (ERR BLOCK to a header we never send). */
			rc->stats.n_unknown++;
		}
		return;
	}
	if ((req = find_in_flight(rc, r->corr)) == NULL) {
		rc->stats.n_unknown++;
		return;
	}
	req_unlink(rc, req);
	switch (req->kind) {
	case REQ_PING: answer_ping(rc, r); break;
	case REQ_SUB: answer_sub(rc, req, r); break;
	case REQ_USER: answer_user(rc, req, r); break;
	}
}

static void on_block(void *user, struct net_conn *conn, const uint8_t *content, size_t len)
{
	struct rconn *rc = user;
	struct relay_batch batch;
	struct relay_resp r;
	(void)conn;

	if (!is_usable(rc))
		return;
	rc->stats.n_blocks_in++;
	rc->last_recv_ms = ctx_now_ms(rc->ctx);
	if (relay_batch_parse(&batch, content, len) != SOTTO_OK) {
		protocol_error(rc, NULL);
		return;
	}
	for (size_t i = 0; i < batch.n_tx; i++) {
		if (relay_resp_parse(&r, batch.tx[i].buf, batch.tx[i].len) != SOTTO_OK) {
			protocol_error(rc, NULL);
			return;
		}
		handle_resp(rc, &r);
		if (!is_usable(rc))
			return; /* freed, closed or failed from a callback */
	}
	maybe_drained(rc);
}

/* ---- lifetime ---- */

static void maybe_release(struct rconn *rc)
{
	struct rconn_callbacks cb = rc->cb;
	struct sotto_ctx *ctx = rc->ctx;
	bool notify = rc->is_draining;

	if (!rc->is_dead || rc->n_handles > 0 || rc->conn != NULL)
		return;
	ctx_free(ctx, rc->subs);
	ct_wipe(rc, sizeof(*rc));
	ctx_free(ctx, rc);
	if (notify && cb.on_closed != NULL)
		cb.on_closed(cb.user);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct rconn *rc = h->data;

	rc->n_handles--;
	maybe_release(rc);
}

static uv_handle_t *handle_at(struct rconn *rc, unsigned i)
{
	switch (i) {
	case 0: return (uv_handle_t *)&rc->retry_timer;
	case 1: return (uv_handle_t *)&rc->ka_timer;
	case 2: return (uv_handle_t *)&rc->prepare;
	default: return (uv_handle_t *)&rc->check;
	}
}

/*
 * The one way out: cancels what is left, closes the connection and the
 * handles; the loop releases the memory (maybe_release). Also what on_close
 * calls once rc is dead, to release.
 */
static void end_now(struct rconn *rc)
{
	if (!rc->is_dead) {
		rc->is_dead = true;
		if (rc->conn != NULL)
			net_conn_close(rc->conn);
		for (unsigned i = 0; i < rc->n_inited; i++) {
			uv_handle_t *h = handle_at(rc, i);
			if (!uv_is_closing(h))
				uv_close(h, on_handle_closed);
		}
		unlink_ctl(rc);
		while (rc->n_subs > 0)
			sub_remove(rc, rc->subs[rc->n_subs - 1]);
		drain_done(rc);
		while (rc->in_flight.head != NULL)
			req_complete_err(rc, rc->in_flight.head, SOTTO_ERR_CANCELLED);
		while (rc->user.head != NULL)
			req_complete_err(rc, rc->user.head, SOTTO_ERR_CANCELLED);
	}
	maybe_release(rc);
}

static sotto_err config_fill(struct rconn_config *c, const struct rconn_config *SOTTO_NULLABLE in)
{
	memset(c, 0, sizeof(*c));
	if (in != NULL)
		*c = *in;
	if (c->backoff_base_ms == 0)
		c->backoff_base_ms = RCONN_BACKOFF_BASE_MS_DEFAULT;
	if (c->backoff_max_ms == 0)
		c->backoff_max_ms = RCONN_BACKOFF_MAX_MS_DEFAULT;
	if (c->ping_interval_ms == 0)
		c->ping_interval_ms = RCONN_PING_INTERVAL_MS_DEFAULT;
	if (c->ping_timeout_ms == 0)
		c->ping_timeout_ms = RCONN_PING_TIMEOUT_MS_DEFAULT;
	if (c->close_timeout_ms == 0)
		c->close_timeout_ms = RCONN_CLOSE_TIMEOUT_MS_DEFAULT;
	if (c->max_pending == 0)
		c->max_pending = RCONN_PENDING_DEFAULT;
	if (c->max_subs == 0)
		c->max_subs = RCONN_SUBS_DEFAULT;
	if (c->backoff_base_ms > RCONN_BACKOFF_MS_MAX || c->backoff_max_ms > RCONN_BACKOFF_MS_MAX ||
	    c->backoff_max_ms < c->backoff_base_ms ||
	    c->ping_interval_ms > RCONN_PING_INTERVAL_MS_MAX ||
	    c->ping_timeout_ms > RCONN_PING_TIMEOUT_MS_MAX ||
	    c->handshake_timeout_ms > NET_HANDSHAKE_TIMEOUT_MS_MAX ||
	    c->close_timeout_ms > RCONN_CLOSE_TIMEOUT_MS_MAX ||
	    c->max_pending > RCONN_PENDING_MAX || c->max_subs > RCONN_SUBS_MAX ||
	    c->max_write_queue_bytes > NET_WRITE_QUEUE_MAX ||
	    (c->max_write_queue_bytes != 0 && c->max_write_queue_bytes < NET_TRANSPORT_FRAME_LEN))
		return SOTTO_ERR_INVALID;
	return SOTTO_OK;
}

static int handle_init(struct rconn *rc, unsigned i)
{
	int e;

	switch (i) {
	case 0: e = uv_timer_init(rc->loop, &rc->retry_timer); break;
	case 1: e = uv_timer_init(rc->loop, &rc->ka_timer); break;
	case 2: e = uv_prepare_init(rc->loop, &rc->prepare); break;
	default: e = uv_check_init(rc->loop, &rc->check); break;
	}
	if (e == 0)
		handle_at(rc, i)->data = rc;
	return e;
}

sotto_err rconn_new(struct sotto_ctx *ctx, uv_loop_t *loop, const struct net_addr *relay,
                    const struct rconn_config *SOTTO_NULLABLE cfg, const struct rconn_callbacks *cb,
                    struct rconn **out)
{
	struct rconn *rc = NULL;
	struct rconn_config c;
	sotto_err err;

	*out = NULL;
	if ((err = config_fill(&c, cfg)) != SOTTO_OK)
		return err;
	if ((rc = ctx_calloc(ctx, 1, sizeof(*rc))) == NULL)
		return SOTTO_ERR_NOMEM;
	rc->ctx = ctx;
	rc->loop = loop;
	rc->addr = *relay;
	rc->cfg = c;
	rc->cb = *cb;
	rc->ping.kind = REQ_PING;
	rc->ping.code = RELAY_CMD_PING;
	rc->stats.state = RCONN_DOWN;
	for (unsigned i = 0; i < 4; i++) {
		if (handle_init(rc, i) != 0) {
			end_now(rc); /* the loop releases what was initialised */
			return SOTTO_ERR_IO;
		}
		rc->n_inited++;
		rc->n_handles++;
	}
	/* The first dial runs from the loop, so no callback runs inside this call. */
	if (uv_timer_start(&rc->retry_timer, on_retry, 0, 0) != 0) {
		end_now(rc);
		return SOTTO_ERR_IO;
	}
	*out = rc;
	return SOTTO_OK;
}

void rconn_free(struct rconn *SOTTO_NULLABLE rc)
{
	if (rc == NULL || rc->is_dead)
		return;
	end_now(rc);
}

void rconn_close(struct rconn *SOTTO_NULLABLE rc)
{
	if (rc == NULL || rc->is_dead || rc->is_draining)
		return;
	rc->is_draining = true;
	(void)uv_timer_stop(&rc->retry_timer);
	if (!is_usable(rc) || rc->user.n + rc->n_user_in_flight == 0) {
		end_now(rc);
		return;
	}
	(void)uv_timer_start(&rc->retry_timer, on_close_deadline, rc->cfg.close_timeout_ms, 0);
	schedule_flush(rc);
}

/* ---- requests ---- */

static sotto_err req_new(struct rconn *rc, enum relay_cmd_code code,
                         const uint8_t *SOTTO_NULLABLE entity, const uint8_t *SOTTO_NULLABLE key,
                         size_t body_len, rconn_done_fn *SOTTO_NULLABLE done,
                         void *SOTTO_NULLABLE user, struct rconn_req **out)
{
	struct rconn_req *req;
	size_t size;

	*out = NULL;
	if (rc->is_dead || rc->is_draining)
		return SOTTO_ERR_STATE;
	if (body_len > RELAY_MSG_BODY_MAX)
		return SOTTO_ERR_TOO_LARGE;
	if (rc->user.n + rc->n_user_in_flight >= rc->cfg.max_pending)
		return SOTTO_ERR_BUSY;
	size = sizeof(*req) + body_len; /* body_len is small: no overflow */
	if ((req = ctx_calloc(rc->ctx, 1, size)) == NULL)
		return SOTTO_ERR_NOMEM;
	req->kind = REQ_USER;
	req->code = (uint8_t)code;
	req->alloc_len = size;
	req->done = done;
	req->user = user;
	req->body = (const uint8_t *)(req + 1);
	req->body_len = body_len;
	if (entity != NULL)
		memcpy(req->entity, entity, RELAY_ID_LEN);
	if (key != NULL) {
		memcpy(req->key, key, RELAY_KEY_LEN);
		req->has_key = true;
	}
	*out = req;
	return SOTTO_OK;
}

static sotto_err req_submit(struct rconn *rc, struct rconn_req *req)
{
	req_link(rc, req, REQ_USER_Q, false);
	if (is_usable(rc))
		schedule_flush(rc);
	return SOTTO_OK;
}

sotto_err rconn_create_queue(struct rconn *rc, rconn_done_fn *SOTTO_NULLABLE done,
                             void *SOTTO_NULLABLE user)
{
	struct rconn_req *req;
	struct x25519_keypair rk;
	sotto_err err;

	if ((err = req_new(rc, RELAY_CMD_NEW, NULL, NULL, 0, done, user, &req)) != SOTTO_OK)
		return err;
	/* A fresh recipient key per queue: queues share nothing the relay could link. */
	x25519_keypair_generate(rc->ctx, &rk);
	memcpy(req->arg, rk.pub, RELAY_KEY_LEN);
	memcpy(req->secret, rk.priv, RELAY_KEY_LEN);
	x25519_keypair_clear(&rk);
	return req_submit(rc, req);
}

static sotto_err
submit_keyed(struct rconn *rc, enum relay_cmd_code code, const uint8_t entity[static RELAY_ID_LEN],
             const uint8_t key[static RELAY_KEY_LEN], const uint8_t *SOTTO_NULLABLE arg,
             const uint8_t *SOTTO_NULLABLE msg_id, const uint8_t *SOTTO_NULLABLE secret,
             rconn_done_fn *SOTTO_NULLABLE done, void *SOTTO_NULLABLE user)
{
	struct rconn_req *req;
	sotto_err err;

	if ((err = req_new(rc, code, entity, key, 0, done, user, &req)) != SOTTO_OK)
		return err;
	if (arg != NULL)
		memcpy(req->arg, arg, RELAY_KEY_LEN);
	if (msg_id != NULL)
		memcpy(req->msg_id, msg_id, RELAY_MSG_ID_LEN);
	if (secret != NULL)
		memcpy(req->secret, secret, RELAY_KEY_LEN);
	return req_submit(rc, req);
}

sotto_err rconn_key(struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN],
                    const uint8_t k_rauth[static RELAY_KEY_LEN],
                    const uint8_t sk_pub[static RELAY_KEY_LEN], rconn_done_fn *SOTTO_NULLABLE done,
                    void *SOTTO_NULLABLE user)
{
	return submit_keyed(rc, RELAY_CMD_KEY, rid, k_rauth, sk_pub, NULL, NULL, done, user);
}

sotto_err rconn_skey(struct rconn *rc, const uint8_t sid[static RELAY_ID_LEN],
                     const uint8_t k_sauth[static RELAY_KEY_LEN],
                     const uint8_t sk_pub[static RELAY_KEY_LEN], rconn_done_fn *SOTTO_NULLABLE done,
                     void *SOTTO_NULLABLE user)
{
	return submit_keyed(rc, RELAY_CMD_SKEY, sid, k_sauth, sk_pub, NULL, NULL, done, user);
}

sotto_err rconn_send_flags(struct rconn *rc, const uint8_t sid[static RELAY_ID_LEN],
                           const uint8_t *SOTTO_NULLABLE k_sauth,
                           const uint8_t *SOTTO_NULLABLE body, size_t body_len, uint8_t flags,
                           rconn_done_fn *SOTTO_NULLABLE done, void *SOTTO_NULLABLE user)
{
	struct rconn_req *req;
	sotto_err err;

	if ((body == NULL && body_len != 0) || (flags & ~RELAY_SEND_FLAGS_KNOWN) != 0)
		return SOTTO_ERR_INVALID;
	if ((err = req_new(rc, RELAY_CMD_SEND, sid, k_sauth, body_len, done, user, &req)) !=
	    SOTTO_OK)
		return err;
	if (body_len > 0)
		memcpy((uint8_t *)(req + 1), body, body_len);
	req->send_flags = flags;
	return req_submit(rc, req);
}

sotto_err rconn_send(struct rconn *rc, const uint8_t sid[static RELAY_ID_LEN],
                     const uint8_t *SOTTO_NULLABLE k_sauth, const uint8_t *SOTTO_NULLABLE body,
                     size_t body_len, rconn_done_fn *SOTTO_NULLABLE done, void *SOTTO_NULLABLE user)
{
	return rconn_send_flags(rc, sid, k_sauth, body, body_len, 0, done, user);
}

sotto_err rconn_get(struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN],
                    const uint8_t k_rauth[static RELAY_KEY_LEN],
                    const uint8_t k_deliver[static RELAY_KEY_LEN],
                    rconn_done_fn *SOTTO_NULLABLE done, void *SOTTO_NULLABLE user)
{
	return submit_keyed(rc, RELAY_CMD_GET, rid, k_rauth, NULL, NULL, k_deliver, done, user);
}

sotto_err rconn_ack(struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN],
                    const uint8_t k_rauth[static RELAY_KEY_LEN],
                    const uint8_t msg_id[static RELAY_MSG_ID_LEN],
                    rconn_done_fn *SOTTO_NULLABLE done, void *SOTTO_NULLABLE user)
{
	return submit_keyed(rc, RELAY_CMD_ACK, rid, k_rauth, NULL, msg_id, NULL, done, user);
}

sotto_err rconn_off(struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN],
                    const uint8_t k_rauth[static RELAY_KEY_LEN], rconn_done_fn *SOTTO_NULLABLE done,
                    void *SOTTO_NULLABLE user)
{
	return submit_keyed(rc, RELAY_CMD_OFF, rid, k_rauth, NULL, NULL, NULL, done, user);
}

sotto_err rconn_del(struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN],
                    const uint8_t k_rauth[static RELAY_KEY_LEN], rconn_done_fn *SOTTO_NULLABLE done,
                    void *SOTTO_NULLABLE user)
{
	return submit_keyed(rc, RELAY_CMD_DEL, rid, k_rauth, NULL, NULL, NULL, done, user);
}

/* ---- subscriptions ---- */

sotto_err rconn_subscribe(struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN],
                          const uint8_t k_rauth[static RELAY_KEY_LEN],
                          const uint8_t k_deliver[static RELAY_KEY_LEN])
{
	struct rconn_sub *sub;
	size_t i;
	sotto_err err;

	if (rc->is_dead || rc->is_draining)
		return SOTTO_ERR_STATE;
	if ((sub = sub_find(rc, rid)) != NULL) {
		memcpy(sub->req.key, k_rauth, RELAY_KEY_LEN);
		memcpy(sub->k_deliver, k_deliver, RELAY_KEY_LEN);
		return SOTTO_OK;
	}
	if (rc->n_subs >= rc->cfg.max_subs)
		return SOTTO_ERR_BUSY;
	if (rc->n_subs == rc->cap_subs && (err = sub_grow(rc)) != SOTTO_OK)
		return err;
	if ((sub = ctx_calloc(rc->ctx, 1, sizeof(*sub))) == NULL)
		return SOTTO_ERR_NOMEM;
	memcpy(sub->rid, rid, RELAY_ID_LEN);
	memcpy(sub->k_deliver, k_deliver, RELAY_KEY_LEN);
	sub->req.kind = REQ_SUB;
	sub->req.code = RELAY_CMD_SUB;
	sub->req.sub = sub;
	sub->req.has_key = true;
	memcpy(sub->req.entity, rid, RELAY_ID_LEN);
	memcpy(sub->req.key, k_rauth, RELAY_KEY_LEN);
	i = sub_lower_bound(rc, rid);
	memmove(&rc->subs[i + 1], &rc->subs[i], (rc->n_subs - i) * sizeof(*rc->subs));
	rc->subs[i] = sub;
	rc->n_subs++;
	if (is_usable(rc)) {
		req_link(rc, &sub->req, REQ_CTL, false);
		schedule_flush(rc);
	}
	return SOTTO_OK;
}

sotto_err rconn_unsubscribe(struct rconn *rc, const uint8_t rid[static RELAY_ID_LEN])
{
	struct rconn_sub *sub = sub_find(rc, rid);

	if (sub == NULL)
		return SOTTO_ERR_NOT_FOUND;
	sub_remove(rc, sub);
	return SOTTO_OK;
}

sotto_err rconn_sender_keys(struct sotto_ctx *ctx, const uint8_t ssk[static RELAY_KEY_LEN],
                            uint8_t sk_pub[static RELAY_KEY_LEN],
                            uint8_t k_sauth[static RELAY_KEY_LEN])
{
	struct x25519_keypair sk;
	sotto_err rc;

	memset(sk_pub, 0, RELAY_KEY_LEN);
	memset(k_sauth, 0, RELAY_KEY_LEN);
	x25519_keypair_generate(ctx, &sk);
	if ((rc = relay_keys_sender(k_sauth, sk.priv, ssk)) != SOTTO_OK)
		goto out;
	memcpy(sk_pub, sk.pub, RELAY_KEY_LEN);
out:
	x25519_keypair_clear(&sk);
	if (rc != SOTTO_OK)
		ct_wipe(k_sauth, RELAY_KEY_LEN);
	return rc;
}

enum rconn_state rconn_state(const struct rconn *rc)
{
	return rc->stats.state;
}

void rconn_stats(const struct rconn *rc, struct rconn_stats *out)
{
	*out = rc->stats;
	out->n_pending = rc->user.n;
	out->n_in_flight = rc->n_user_in_flight;
	out->n_subs = rc->n_subs;
}
