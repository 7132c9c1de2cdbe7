/* SPDX-License-Identifier: MIT */
/*
 * server.c - the relay core on a libuv loop (relay layer).
 *
 * Lifetime: the server owns its core, its net_server (until it asks it to
 * close), three uv handles (the end-of-turn check, the expiry timer, the
 * drain timer) and one struct relay_conn per connection that opened. It is
 * freed from the loop once closing has begun, its handles are closed and
 * every relay_conn is gone. Connections that never opened carry no
 * relay_conn, and their on_close never touches the server, so the server
 * may be gone before the net layer has finished with them.
 *
 * Closing: relay_server_close stops executing commands, flushes the core
 * (commit, then answers), and waits until every connection's write queue
 * is empty (checked at the end of each loop turn, as writes complete) or
 * the drain timer fires; then the listener and the connections are closed.
 *
 * Syncing: over a store opened with defer_sync, the core's sync hook queues
 * relay_store_sync on libuv's thread pool (one at a time), so the loop keeps
 * reading and executing while the log is fsynced; the work's completion
 * reports to the core, and the end of that loop turn emits what it made
 * durable. The server is not freed while that work is queued (it uses the
 * store). A failed fsync closes the server: nothing more can be confirmed.
 */
#include <string.h>

#include "core/ctx.h"
#include "core/err.h"
#include "relay/limits.h"
#include "relay/server.h"

struct relay_conn {
	struct relay_server *server;    /* borrowed */
	struct net_conn *conn;          /* borrowed: valid until its on_close */
	struct relay_client *client;    /* owned */
	struct relay_conn *prev, *next; /* the server's list */
};

struct relay_server {
	struct sotto_ctx *ctx;
	struct relay_core *core; /* owned */
	struct net_server *net;  /* owned until net_server_close */
	uv_check_t check;        /* ends every loop turn: relay_core_flush */
	uv_timer_t expire_timer;
	uv_timer_t drain_timer;
	uv_work_t sync_work;       /* relay_store_sync on the thread pool */
	struct relay_store *store; /* borrowed, for sync_work */
	sotto_err sync_rc;         /* sync_work's result */
	bool is_sync_queued;       /* sync_work queued, its after-work not run yet */
	unsigned n_handles;        /* of the three above, not yet closed */
	struct relay_conn *conns;  /* connections that opened, until their on_close */
	uint32_t expire_interval_ms;
	uint32_t drain_ms;
	uint16_t port;   /* the listener's, kept for after it closes */
	bool is_closing; /* relay_server_close was called */
	bool is_shut;    /* the listener and connections were told to close */
};

static void server_maybe_free(struct relay_server *s)
{
	if (!s->is_shut || s->n_handles > 0 || s->conns != NULL || s->is_sync_queued)
		return;
	sotto_err rc =
	        relay_core_flush_wait(s->core); /* nothing left to answer; commit any stray batch */
	(void)rc;
	relay_core_free(s->core);
	ctx_free(s->ctx, s);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct relay_server *s = h->data;

	s->n_handles--;
	server_maybe_free(s);
}

/* Closes the listener, every connection and our handles. */
static void server_shutdown(struct relay_server *s)
{
	if (s->is_shut)
		return;
	s->is_shut = true;
	net_server_close(s->net);
	s->net = NULL;
	uv_close((uv_handle_t *)&s->check, on_handle_closed);
	uv_close((uv_handle_t *)&s->expire_timer, on_handle_closed);
	uv_close((uv_handle_t *)&s->drain_timer, on_handle_closed);
}

static bool server_is_drained(const struct relay_server *s)
{
	for (const struct relay_conn *rc = s->conns; rc != NULL; rc = rc->next) {
		if (net_conn_is_open(rc->conn) && net_conn_write_queue_bytes(rc->conn) > 0)
			return false;
	}
	return true;
}

/* ---- the core's output ---- */

/*
 * Sends one block. A block of pushes only may fill half the write queue;
 * refused, it keeps the connection (the core waits for on_drain). Answers
 * may use all of it, so a subscriber flooded with pushes can still be
 * answered; refusing an answer (a reader that stopped) or any other failure
 * closes the connection.
 */
static sotto_err server_output(void *user, const uint8_t *content, size_t len)
{
	struct relay_conn *rc = user;
	bool is_push = relay_client_is_pushing(rc->client);
	/* Pushes stop at half the write queue: the rest is headroom for answers. */
	sotto_err err = is_push ? net_conn_send_soft(rc->conn, content, len)
	                        : net_conn_send(rc->conn, content, len);

	if (err == SOTTO_ERR_BUSY && is_push)
		return err;
	if (err != SOTTO_OK) {
		if (err == SOTTO_ERR_BUSY)
			ctx_log(rc->server->ctx, SOTTO_LOG_INFO, "relay: closing a slow reader");
		net_conn_close(rc->conn);
	}
	return err;
}

/* ---- connection callbacks ---- */

static void on_open(void *user, struct net_conn *conn, const uint8_t *session_id, uint16_t version)
{
	struct relay_server *s = user;
	struct relay_conn *rc = NULL;

	(void)version;
	if (s->is_closing || (rc = ctx_calloc(s->ctx, 1, sizeof(*rc))) == NULL) {
		net_conn_close(conn);
		return;
	}
	rc->server = s;
	rc->conn = conn;
	if (relay_client_new(s->core, session_id, server_output, rc, &rc->client) != SOTTO_OK) {
		ctx_free(s->ctx, rc);
		net_conn_close(conn);
		return;
	}
	rc->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = rc;
	s->conns = rc;
	net_conn_set_data(conn, rc);
}

static void on_block(void *user, struct net_conn *conn, const uint8_t *content, size_t len)
{
	struct relay_conn *rc = net_conn_data(conn);

	(void)user;
	if (rc == NULL || rc->server->is_closing)
		return;
	if (relay_client_feed(rc->client, content, len) != SOTTO_OK)
		net_conn_close(conn); /* its output failed: it is being closed already */
}

/* The write queue drained after refusing pushes: they resume at the end of this turn. */
static void on_drain(void *user, struct net_conn *conn)
{
	struct relay_conn *rc = net_conn_data(conn);

	(void)user;
	if (rc != NULL)
		relay_client_unblock(rc->client);
}

/* Must not use user: the server may be gone when a never-opened connection ends. */
static void on_close(void *user, struct net_conn *conn, sotto_err reason)
{
	struct relay_conn *rc = net_conn_data(conn);
	struct relay_server *s;

	(void)user;
	(void)reason;
	if (rc == NULL)
		return;
	s = rc->server;
	net_conn_set_data(conn, NULL);
	relay_client_free(rc->client);
	if (rc->prev != NULL)
		rc->prev->next = rc->next;
	else
		s->conns = rc->next;
	if (rc->next != NULL)
		rc->next->prev = rc->prev;
	ctx_free(s->ctx, rc);
	server_maybe_free(s);
}

/* ---- syncing ---- */

static void sync_work(uv_work_t *w)
{
	struct relay_server *s = w->data;

	s->sync_rc = relay_store_sync(s->store);
}

static void sync_after(uv_work_t *w, int status)
{
	struct relay_server *s = w->data;
	sotto_err rc = status == 0 ? s->sync_rc : SOTTO_ERR_IO;

	s->is_sync_queued = false;
	if (relay_core_sync_done(s->core, rc) != SOTTO_OK) {
		ctx_log(s->ctx, SOTTO_LOG_ERROR,
		        "relay: the store cannot be made durable; closing");
		relay_server_close(s);
	}
	server_maybe_free(s);
}

/* The core's sync hook. */
static void sync_start(void *user)
{
	struct relay_server *s = user;

	s->sync_work.data = s;
	if (uv_queue_work(s->check.loop, &s->sync_work, sync_work, sync_after) == 0) {
		s->is_sync_queued = true;
		return;
	}
	/* Cannot happen with valid arguments; stay correct anyway: sync here. */
	s->sync_rc = relay_store_sync(s->store);
	s->is_sync_queued = true;
	sync_after(&s->sync_work, 0);
}

/* ---- loop hooks ---- */

static void on_check(uv_check_t *h)
{
	struct relay_server *s = h->data;
	sotto_err rc = relay_core_flush(s->core); /* the core logs a failed commit */

	(void)rc;
	if (s->is_closing && server_is_drained(s))
		server_shutdown(s);
}

static void on_expire(uv_timer_t *t)
{
	struct relay_server *s = t->data;
	uint32_t n = 0;
	sotto_err rc = relay_core_expire(s->core, relay_core_now_s(s->core), &n);

	if (rc != SOTTO_OK) {
		ctx_log(s->ctx, SOTTO_LOG_WARN, "relay: expiry failed (%s)", sotto_strerror(rc));
		return;
	}
	if (n == RELAY_EXPIRE_STEP_MAX) /* more to delete: next turn, after this one commits */
		(void)uv_timer_start(t, on_expire, 0, s->expire_interval_ms);
}

static void on_drain_timeout(uv_timer_t *t)
{
	server_shutdown(t->data);
}

/* ---- lifetime ---- */

static sotto_err resolve_config(const struct relay_server_config *in,
                                struct relay_server_config *out)
{
	memset(out, 0, sizeof(*out));
	if (in != NULL)
		*out = *in;
	if (out->expire_interval_ms == 0)
		out->expire_interval_ms = RELAY_EXPIRE_INTERVAL_MS_DEFAULT;
	if (out->drain_ms == 0)
		out->drain_ms = RELAY_DRAIN_MS_DEFAULT;
	if (out->expire_interval_ms > RELAY_EXPIRE_INTERVAL_MS_MAX ||
	    out->drain_ms > RELAY_DRAIN_MS_MAX)
		return SOTTO_ERR_INVALID;
	return SOTTO_OK;
}

/* Starts the three handles (which count from here on: they must be closed). */
static sotto_err server_handles(struct relay_server *s, uv_loop_t *loop)
{
	uv_handle_t *hs[3] = {(uv_handle_t *)&s->check, (uv_handle_t *)&s->expire_timer,
	                      (uv_handle_t *)&s->drain_timer};

	if (uv_check_init(loop, &s->check) != 0)
		return SOTTO_ERR_IO;
	s->n_handles++;
	if (uv_timer_init(loop, &s->expire_timer) != 0)
		return SOTTO_ERR_IO;
	s->n_handles++;
	if (uv_timer_init(loop, &s->drain_timer) != 0)
		return SOTTO_ERR_IO;
	s->n_handles++;
	for (size_t i = 0; i < 3; i++)
		hs[i]->data = s;
	if (uv_check_start(&s->check, on_check) != 0 ||
	    uv_timer_start(&s->expire_timer, on_expire, s->expire_interval_ms,
	                   s->expire_interval_ms) != 0)
		return SOTTO_ERR_IO;
	return SOTTO_OK;
}

/* Undoes a half-made server: handles close from the loop, which then frees it. */
static void server_abandon(struct relay_server *s)
{
	uv_handle_t *hs[3] = {(uv_handle_t *)&s->check, (uv_handle_t *)&s->expire_timer,
	                      (uv_handle_t *)&s->drain_timer};
	unsigned n = s->n_handles;

	s->is_closing = true;
	s->is_shut = true;
	net_server_close(s->net);
	s->net = NULL;
	for (unsigned i = 0; i < n; i++) {
		hs[i]->data = s;
		uv_close(hs[i], on_handle_closed);
	}
	server_maybe_free(s);
}

sotto_err relay_server_new(struct sotto_ctx *ctx, uv_loop_t *loop, const char *host, uint16_t port,
                           const struct x25519_keypair *static_key, struct relay_store *store,
                           const struct relay_server_config *config, struct relay_server **out)
{
	struct net_conn_callbacks cb = {.on_open = on_open,
	                                .on_block = on_block,
	                                .on_drain = on_drain,
	                                .on_close = on_close};
	struct relay_server_config cfg;
	struct relay_server *s = NULL;
	sotto_err rc;

	*out = NULL;
	if ((rc = resolve_config(config, &cfg)) != SOTTO_OK)
		return rc;
	if ((s = ctx_calloc(ctx, 1, sizeof(*s))) == NULL)
		return SOTTO_ERR_NOMEM;
	s->ctx = ctx;
	s->store = store;
	s->expire_interval_ms = cfg.expire_interval_ms;
	if (relay_store_defers_sync(store)) {
		cfg.core.sync_start = sync_start;
		cfg.core.sync_user = s;
	}
	s->drain_ms = cfg.drain_ms;
	if ((rc = relay_core_new(ctx, store, &cfg.core, &s->core)) != SOTTO_OK) {
		ctx_free(ctx, s);
		return rc;
	}
	cb.user = s;
	if ((rc = server_handles(s, loop)) != SOTTO_OK ||
	    (rc = net_server_listen(ctx, loop, host, port, static_key, &cfg.conn, &cb, &s->net)) !=
	            SOTTO_OK) {
		server_abandon(s);
		return rc;
	}
	s->port = net_server_port(s->net);
	*out = s;
	return SOTTO_OK;
}

uint16_t relay_server_port(const struct relay_server *s)
{
	return s->port;
}

struct relay_core *relay_server_core(struct relay_server *s)
{
	return s->core;
}

void relay_server_close(struct relay_server *s)
{
	if (s == NULL || s->is_closing)
		return;
	s->is_closing = true;
	(void)uv_timer_stop(&s->expire_timer);
	sotto_err rc = relay_core_flush_wait(s->core);
	(void)rc;
	if (server_is_drained(s)) {
		server_shutdown(s);
		return;
	}
	if (uv_timer_start(&s->drain_timer, on_drain_timeout, s->drain_ms, 0) != 0)
		server_shutdown(s);
}
