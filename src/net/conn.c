/* SPDX-License-Identifier: MIT */
/*
 * conn.c - transport connections over TCP with libuv (net layer); see conn.h.
 *
 * Each connection owns a uv_tcp_t, a uv_timer_t (the handshake deadline,
 * then the idle deadline) and a sans-I/O session (session.h) that does all
 * the protocol work; this file only moves bytes. Lifetime: a connection is
 * freed only when everything libuv may still call back about is done: its
 * two handles are closed and no resolve, connect or write request is
 * outstanding (n_pending counts them). conn_end() starts closing and records
 * the first reason; conn_release() drops one pending item and, at zero,
 * calls on_close and frees. So a connection is never freed inside one of its
 * own callbacks' callers, and a handle is freed only after its close
 * callback ran.
 *
 * Data path: reads land in a NET_READ_LEN buffer allocated when libuv is
 * about to read and freed (wiped) right after the session consumed it, so an
 * idle connection holds no buffer; complete frames are decrypted in place in
 * that buffer. Each block sent is padded and encrypted in place into the
 * frame buffer that is handed to uv_write(): one allocation, one copy of the
 * content and one write call per block.
 *
 * Idle timeout: a server may hold tens of thousands of connections, so a
 * block received costs no timer operation: it only records the loop's cached
 * time (uv_now) in last_rx_ms. The timer that bounded the handshake is
 * started once more at OPEN for the whole idle timeout; when it fires it
 * compares now with last_rx_ms and either ends the connection or re-arms
 * itself for the time left. A busy connection therefore touches the timer
 * heap about once per idle timeout, a quiet one exactly once before it ends.
 */
#include <stdio.h>
#include <string.h>

#include "core/ctx.h"
#include "core/err.h"
#include "crypto/ct.h"
#include "net/conn.h"

enum conn_phase {
	CONN_RESOLVING = 1,
	CONN_CONNECTING,
	CONN_HANDSHAKE,
	CONN_OPEN,
};

struct net_conn {
	struct sotto_ctx *ctx;                    /* borrowed */
	uv_tcp_t tcp;                             /* data = this */
	uv_timer_t timer;                         /* handshake, then idle deadline; data = this */
	uv_getaddrinfo_t resolve;                 /* client only */
	uv_connect_t connect;                     /* client only */
	struct net_session *session;              /* owned */
	struct net_conn_callbacks cb;             /* copied */
	struct net_server *SOTTO_NULLABLE server; /* borrowed: the server that accepted it */
	struct net_conn *SOTTO_NULLABLE prev, *SOTTO_NULLABLE next; /* in server->conns */
	void *SOTTO_NULLABLE data;                                  /* the owner's pointer */
	size_t write_queued; /* bytes in outstanding uv_write requests */
	size_t write_max;    /* bytes */
	uint64_t last_rx_ms; /* uv_now() when the last block arrived (or at OPEN) */
	uint32_t idle_ms;    /* idle timeout once open */
	unsigned n_pending;  /* open handles + outstanding requests */
	enum conn_phase phase;
	sotto_err reason; /* first error; SOTTO_OK while healthy */
	bool is_counted;  /* counts in server->n_active */
	bool is_busy;     /* a send was refused with BUSY: on_drain is due */
	size_t drain_at;  /* is_busy: on_drain once write_queued is down to this */
	bool is_flushing; /* ending: reads stopped, closes once writes drain */
	bool is_closing;  /* handles are being closed */
	bool is_silent;   /* dial failed synchronously: no on_close */
};

struct net_server {
	struct sotto_ctx *ctx;                 /* borrowed */
	uv_tcp_t listener;                     /* data = this */
	struct x25519_keypair key;             /* secret: the relay's static key pair */
	struct net_conn_config config;         /* defaults resolved */
	struct net_conn_callbacks cb;          /* copied */
	struct net_conn *SOTTO_NULLABLE conns; /* every connection not yet freed */
	size_t n_active;                       /* accepted, not ending */
	uint16_t port;
	bool is_closing;
	bool is_listener_closed;
};

/* A frame on its way to the socket. */
struct conn_write {
	uv_write_t req;        /* data = this */
	struct net_conn *conn; /* borrowed */
	size_t len;            /* bytes in bytes[] */
	uint8_t bytes[];
};

static sotto_err resolve_config(const struct net_conn_config *in, struct net_conn_config *out)
{
	memset(out, 0, sizeof(*out));
	if (in != NULL)
		*out = *in;
	if (out->handshake_timeout_ms == 0)
		out->handshake_timeout_ms = NET_HANDSHAKE_TIMEOUT_MS_DEFAULT;
	if (out->idle_timeout_ms == 0)
		out->idle_timeout_ms = NET_IDLE_TIMEOUT_MS_DEFAULT;
	if (out->max_write_queue_bytes == 0)
		out->max_write_queue_bytes = NET_WRITE_QUEUE_DEFAULT;
	if (out->max_connections == 0)
		out->max_connections = NET_CONNECTIONS_DEFAULT;
	if (out->handshake_timeout_ms > NET_HANDSHAKE_TIMEOUT_MS_MAX ||
	    out->idle_timeout_ms > NET_IDLE_TIMEOUT_MS_MAX ||
	    out->max_write_queue_bytes > NET_WRITE_QUEUE_MAX ||
	    out->max_write_queue_bytes < NET_TRANSPORT_FRAME_LEN ||
	    out->max_connections > NET_CONNECTIONS_MAX)
		return SOTTO_ERR_INVALID;
	return SOTTO_OK;
}

/* ---- the end of a connection ---- */

static void server_maybe_free(struct net_server *s);

static void conn_finish(struct net_conn *c)
{
	struct net_server *server = c->server;

	if (server != NULL) {
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			server->conns = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
	}
	if (!c->is_silent && c->cb.on_close != NULL)
		c->cb.on_close(c->cb.user, c, c->reason);
	net_session_free(c->session);
	ctx_free(c->ctx, c);
	if (server != NULL)
		server_maybe_free(server);
}

/* Drops one pending handle or request; the last one frees the connection. */
static void conn_release(struct net_conn *c)
{
	if (!SOTTO_INVARIANT(c->n_pending > 0))
		return;
	if (--c->n_pending == 0 && c->is_closing)
		conn_finish(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	conn_release(h->data);
}

static void conn_stop_counting(struct net_conn *c)
{
	if (c->is_counted) {
		c->is_counted = false;
		c->server->n_active--;
	}
}

/*
 * Ends c with reason (the first reason sticks). With flush, bytes already
 * queued (the relay's msg2 saying "no common version") are written first.
 */
static void conn_end(struct net_conn *c, sotto_err reason, bool flush)
{
	if (c->reason == SOTTO_OK)
		c->reason = reason;
	if (c->is_closing)
		return;
	conn_stop_counting(c);
	if (flush && c->write_queued > 0) {
		c->is_flushing = true;
		(void)uv_read_stop((uv_stream_t *)&c->tcp);
		return;
	}
	c->is_closing = true;
	if (c->phase == CONN_RESOLVING)
		(void)uv_cancel((uv_req_t *)&c->resolve); /* its callback still runs */
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

/*
 * The one timer of a connection: before OPEN it is the handshake deadline;
 * after, it fires at least idle_ms after the last block received and ends
 * the connection only if no block arrived since (see the top of this file).
 */
static void on_timeout(uv_timer_t *t)
{
	struct net_conn *c = t->data;
	uint64_t now = uv_now(t->loop);
	uint64_t idle = now - c->last_rx_ms;

	if (c->phase == CONN_OPEN && now >= c->last_rx_ms && idle < c->idle_ms &&
	    uv_timer_start(&c->timer, on_timeout, c->idle_ms - idle, 0) == 0)
		return;
	conn_end(c, SOTTO_ERR_TIMEOUT, false);
}

/* ---- writing ---- */

static struct conn_write *write_new(struct net_conn *c, size_t len)
{
	struct conn_write *w = ctx_alloc(c->ctx, sizeof(*w) + len);
	if (w == NULL)
		return NULL;
	w->req.data = w;
	w->conn = c;
	w->len = len;
	return w;
}

static sotto_err err_from_uv_write(int status)
{
	return status == UV_EPIPE || status == UV_ECONNRESET ? SOTTO_ERR_CLOSED : SOTTO_ERR_IO;
}

static void on_written(uv_write_t *req, int status)
{
	struct conn_write *w = req->data;
	struct net_conn *c = w->conn;

	c->write_queued -= w->len;
	ctx_free(c->ctx, w);
	if (status < 0 && status != UV_ECANCELED) {
		conn_end(c, err_from_uv_write(status), false);
	} else if (c->is_flushing && c->write_queued == 0) {
		conn_end(c, c->reason, false);
	} else if (c->is_busy && !c->is_closing && c->write_queued <= c->drain_at) {
		c->is_busy = false;
		if (c->cb.on_drain != NULL)
			c->cb.on_drain(c->cb.user,
			               c); /* this write's pending count keeps c alive */
	}
	conn_release(c);
}

/* Hands w to libuv (which owns it until on_written); frees it on failure. */
static sotto_err write_submit(struct net_conn *c, struct conn_write *w)
{
	uv_buf_t buf = uv_buf_init((char *)w->bytes, (unsigned)w->len);
	int e = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written);
	if (e < 0) {
		ctx_free(c->ctx, w);
		return err_from_uv_write(e);
	}
	c->write_queued += w->len;
	c->n_pending++;
	return SOTTO_OK;
}

/* net_conn_send with the write queue capped at limit bytes (<= write_max). */
static sotto_err conn_send(struct net_conn *c, const uint8_t *content, size_t len, size_t limit)
{
	struct conn_write *w = NULL;
	sotto_err rc;

	if (c->is_closing || c->is_flushing || c->phase != CONN_OPEN)
		return SOTTO_ERR_STATE;
	if (len > NET_BLOCK_CONTENT_MAX)
		return SOTTO_ERR_TOO_LARGE;
	if (c->write_queued + NET_TRANSPORT_FRAME_LEN > limit) {
		size_t at = limit / 2;
		c->drain_at = c->is_busy && c->drain_at < at ? c->drain_at : at;
		c->is_busy = true;
		return SOTTO_ERR_BUSY;
	}
	if ((w = write_new(c, NET_TRANSPORT_FRAME_LEN)) == NULL)
		return SOTTO_ERR_NOMEM;
	if ((rc = net_session_send_block(c->session, content, len, w->bytes)) != SOTTO_OK) {
		ctx_free(c->ctx, w);
		goto out;
	}
	rc = write_submit(c, w);
	w = NULL; /* moved */
out:
	if (rc != SOTTO_OK)
		conn_end(c, rc, false);
	return rc;
}

sotto_err net_conn_send(struct net_conn *c, const uint8_t *content, size_t len)
{
	return conn_send(c, content, len, c->write_max);
}

sotto_err net_conn_send_soft(struct net_conn *c, const uint8_t *content, size_t len)
{
	return conn_send(c, content, len, c->write_max / 2);
}

/* ---- reading ---- */

static sotto_err conn_on_event(void *user, const struct net_event *ev)
{
	struct net_conn *c = user;
	struct conn_write *w = NULL;
	sotto_err rc;

	switch (ev->type) {
	case NET_EVENT_WRITE:
		if ((w = write_new(c, ev->len)) == NULL)
			return SOTTO_ERR_NOMEM;
		memcpy(w->bytes, ev->bytes, ev->len);
		if ((rc = write_submit(c, w)) != SOTTO_OK)
			return rc;
		break;
	case NET_EVENT_OPEN:
		c->phase = CONN_OPEN;
		c->last_rx_ms = uv_now(c->tcp.loop);
		if (uv_timer_start(&c->timer, on_timeout, c->idle_ms, 0) != 0)
			return SOTTO_ERR_IO;
		if (c->cb.on_open != NULL)
			c->cb.on_open(c->cb.user, c, ev->session_id, ev->version);
		break;
	case NET_EVENT_BLOCK:
		c->last_rx_ms = uv_now(c->tcp.loop);
		if (c->cb.on_block != NULL)
			c->cb.on_block(c->cb.user, c, ev->bytes, ev->len);
		break;
	}
	/* The user may have closed the connection from the callback. */
	return c->is_closing || c->is_flushing ? SOTTO_ERR_CANCELLED : SOTTO_OK;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct net_conn *c = h->data;
	(void)suggested;

	buf->base = ctx_alloc(c->ctx, NET_READ_LEN);
	buf->len = buf->base != NULL ? NET_READ_LEN : 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct net_conn *c = stream->data;
	sotto_err rc = SOTTO_OK;

	if (nread > 0)
		rc = net_session_feed(c->session, (uint8_t *)buf->base, (size_t)nread,
		                      conn_on_event, c);
	else if (nread == UV_EOF || nread == UV_ECONNRESET)
		rc = net_session_eof(c->session);
	else if (nread == UV_ENOBUFS)
		rc = SOTTO_ERR_NOMEM;
	else if (nread < 0)
		rc = SOTTO_ERR_IO;
	/* A failed handshake may have queued msg2 or the refusal frame: send it first. */
	if (rc != SOTTO_OK)
		conn_end(c, rc, c->phase != CONN_OPEN || rc == SOTTO_ERR_VERSION);
	if (buf->base != NULL) {
		if (nread > 0)
			ct_wipe(buf->base, (size_t)nread); /* decrypted blocks */
		ctx_free(c->ctx, buf->base);
	}
}

/* ---- setting up ---- */

/* A connection with both handles initialised (and counted) and a session. */
static sotto_err conn_new(struct sotto_ctx *ctx, uv_loop_t *loop,
                          const struct net_conn_config *config, const struct net_conn_callbacks *cb,
                          struct net_conn **out)
{
	struct net_conn *c = ctx_calloc(ctx, 1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return SOTTO_ERR_NOMEM;
	c->ctx = ctx;
	c->cb = *cb;
	c->write_max = config->max_write_queue_bytes;
	c->idle_ms = config->idle_timeout_ms;
	c->tcp.data = c;
	c->timer.data = c;
	c->resolve.data = c;
	c->connect.data = c;
	if (uv_tcp_init(loop, &c->tcp) != 0) {
		ctx_free(ctx, c);
		return SOTTO_ERR_IO;
	}
	(void)uv_timer_init(loop, &c->timer); /* cannot fail on Unix or Windows */
	c->n_pending = 2;
	*out = c;
	return SOTTO_OK;
}

static sotto_err conn_start_handshake_timer(struct net_conn *c, uint64_t timeout_ms)
{
	return uv_timer_start(&c->timer, on_timeout, timeout_ms, 0) == 0 ? SOTTO_OK : SOTTO_ERR_IO;
}

static void on_connected(uv_connect_t *req, int status)
{
	struct net_conn *c = req->data;
	struct conn_write *w = NULL;
	sotto_err rc = SOTTO_OK;

	if (c->is_closing)
		goto out;
	if (status < 0) {
		rc = SOTTO_ERR_CONNECT;
		goto out;
	}
	c->phase = CONN_HANDSHAKE;
	(void)uv_tcp_nodelay(&c->tcp, 1);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
		rc = SOTTO_ERR_IO;
		goto out;
	}
	if ((w = write_new(c, NET_MSG1_FRAME_LEN)) == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	if ((rc = net_session_start(c->session, w->bytes)) != SOTTO_OK) {
		ctx_free(c->ctx, w);
		goto out;
	}
	rc = write_submit(c, w);
out:
	if (rc != SOTTO_OK)
		conn_end(c, rc, false);
	conn_release(c);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct net_conn *c = req->data;

	c->phase = CONN_CONNECTING; /* the request is done: nothing left to cancel */
	if (c->is_closing)
		goto out;
	if (status < 0 || res == NULL) {
		conn_end(c, SOTTO_ERR_RESOLVE, false);
		goto out;
	}
	if (uv_tcp_connect(&c->connect, &c->tcp, res->ai_addr, on_connected) != 0) {
		conn_end(c, SOTTO_ERR_CONNECT, false);
		goto out;
	}
	c->n_pending++;
out:
	uv_freeaddrinfo(res);
	conn_release(c);
}

/*
 * A host that is a numeric IPv4 or IPv6 address needs no resolver (whose
 * requests run on libuv's thread pool): connect at once. Returns false when
 * the host is a name. A connect that fails at once ends the connection with
 * SOTTO_ERR_CONNECT through on_close, as a refused one does.
 */
static bool dial_numeric(struct net_conn *c, const struct net_addr *addr)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} a;

	if (uv_ip4_addr(addr->host, addr->port, &a.in4) != 0 &&
	    uv_ip6_addr(addr->host, addr->port, &a.in6) != 0)
		return false;
	c->phase = CONN_CONNECTING;
	if (uv_tcp_connect(&c->connect, &c->tcp, &a.sa, on_connected) != 0)
		conn_end(c, SOTTO_ERR_CONNECT, false);
	else
		c->n_pending++;
	return true;
}

sotto_err net_conn_dial(struct sotto_ctx *ctx, uv_loop_t *loop, const struct net_addr *addr,
                        const struct net_conn_config *config,
                        const struct net_conn_callbacks *callbacks, struct net_conn **out)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct net_conn_config cfg;
	struct net_conn *c = NULL;
	char port[8];
	sotto_err rc;

	*out = NULL;
	if ((rc = resolve_config(config, &cfg)) != SOTTO_OK)
		return rc;
	if ((rc = conn_new(ctx, loop, &cfg, callbacks, &c)) != SOTTO_OK)
		return rc;
	c->phase = CONN_RESOLVING;
	if ((rc = net_session_new_client(ctx, &cfg.session, addr->key, &c->session)) != SOTTO_OK ||
	    (rc = conn_start_handshake_timer(c, cfg.handshake_timeout_ms)) != SOTTO_OK)
		goto out;
	if (dial_numeric(c, addr)) {
		*out = c;
		goto out;
	}
	(void)snprintf(port, sizeof(port), "%u", (unsigned)addr->port);
	if (uv_getaddrinfo(loop, &c->resolve, on_resolved, addr->host, port, &hints) != 0) {
		rc = SOTTO_ERR_IO;
		goto out;
	}
	c->n_pending++;
	*out = c;
out:
	if (rc != SOTTO_OK) {
		c->phase = CONN_CONNECTING; /* nothing to cancel */
		c->is_silent = true;
		conn_end(c, rc, false);
	}
	return rc;
}

void net_conn_close(struct net_conn *c)
{
	conn_end(c, SOTTO_ERR_CANCELLED, false);
}

size_t net_conn_write_queue_bytes(const struct net_conn *c)
{
	return c->write_queued;
}

bool net_conn_is_open(const struct net_conn *c)
{
	return c->phase == CONN_OPEN && !c->is_closing && !c->is_flushing;
}

void net_conn_set_data(struct net_conn *c, void *data)
{
	c->data = data;
}

void *net_conn_data(const struct net_conn *c)
{
	return c->data;
}

/* ---- the server ---- */

static void server_free(struct net_server *s)
{
	struct sotto_ctx *ctx = s->ctx;
	x25519_keypair_clear(&s->key);
	ctx_secure_free(ctx, s);
}

static void server_maybe_free(struct net_server *s)
{
	if (s->is_closing && s->is_listener_closed && s->conns == NULL)
		server_free(s);
}

static void on_listener_closed(uv_handle_t *h)
{
	struct net_server *s = h->data;
	s->is_listener_closed = true;
	server_maybe_free(s);
}

static void on_refused_closed(uv_handle_t *h)
{
	ctx_free(h->data, h);
}

/*
 * Accepts a connection we have no memory to serve and drops it at once: a
 * connection left unaccepted would stop libuv from accepting any other.
 */
static void server_refuse(struct net_server *s)
{
	uv_tcp_t *tcp = ctx_alloc(s->ctx, sizeof(*tcp));

	if (tcp == NULL || uv_tcp_init(s->listener.loop, tcp) != 0) {
		ctx_free(s->ctx, tcp);
		ctx_log(s->ctx, SOTTO_LOG_ERROR, "net: no memory to accept a connection");
		return;
	}
	tcp->data = s->ctx;
	(void)uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)tcp);
	uv_close((uv_handle_t *)tcp, on_refused_closed);
}

static void server_link(struct net_server *s, struct net_conn *c)
{
	c->server = s;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
}

/* Accepts into c and starts reading and the handshake timer. */
static sotto_err server_accept(struct net_server *s, struct net_conn *c)
{
	sotto_err rc;

	if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->tcp) != 0)
		return SOTTO_ERR_IO;
	if (s->n_active >= s->config.max_connections)
		return SOTTO_ERR_BUSY;
	s->n_active++;
	c->is_counted = true;
	c->phase = CONN_HANDSHAKE;
	(void)uv_tcp_nodelay(&c->tcp, 1);
	if ((rc = net_session_new_relay(s->ctx, &s->config.session, &s->key, &c->session)) !=
	    SOTTO_OK)
		return rc;
	if ((rc = conn_start_handshake_timer(c, s->config.handshake_timeout_ms)) != SOTTO_OK)
		return rc;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
		return SOTTO_ERR_IO;
	return SOTTO_OK;
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct net_server *s = listener->data;
	struct net_conn *c = NULL;
	sotto_err rc;

	if (status < 0 || s->is_closing)
		return;
	if (conn_new(s->ctx, listener->loop, &s->config, &s->cb, &c) != SOTTO_OK) {
		server_refuse(s);
		return;
	}
	c->phase = CONN_HANDSHAKE;
	server_link(s, c);
	if ((rc = server_accept(s, c)) != SOTTO_OK)
		conn_end(c, rc, false);
}

/* Binds and listens; on failure the listener is already closing. */
static sotto_err server_bind(struct net_server *s, const struct sockaddr *sa)
{
	struct sockaddr_storage bound;
	int len = (int)sizeof(bound);

	if (uv_tcp_bind(&s->listener, sa, 0) != 0 ||
	    uv_listen((uv_stream_t *)&s->listener, NET_LISTEN_BACKLOG, on_connection) != 0 ||
	    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len) != 0)
		return SOTTO_ERR_IO;
	if (bound.ss_family == AF_INET)
		s->port = ntohs(((const struct sockaddr_in *)&bound)->sin_port);
	else
		s->port = ntohs(((const struct sockaddr_in6 *)&bound)->sin6_port);
	return SOTTO_OK;
}

sotto_err net_server_listen(struct sotto_ctx *ctx, uv_loop_t *loop, const char *host, uint16_t port,
                            const struct x25519_keypair *static_key,
                            const struct net_conn_config *config,
                            const struct net_conn_callbacks *callbacks, struct net_server **out)
{
	struct sockaddr_storage sa;
	struct net_server *s = NULL;
	sotto_err rc;

	*out = NULL;
	memset(&sa, 0, sizeof(sa));
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) != 0)
		return SOTTO_ERR_INVALID;
	if ((s = ctx_secure_alloc(ctx, sizeof(*s))) == NULL)
		return SOTTO_ERR_NOMEM;
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->key = *static_key;
	s->cb = *callbacks;
	s->listener.data = s;
	if ((rc = resolve_config(config, &s->config)) != SOTTO_OK) {
		server_free(s);
		return rc;
	}
	if (uv_tcp_init(loop, &s->listener) != 0) {
		server_free(s);
		return SOTTO_ERR_IO;
	}
	if ((rc = server_bind(s, (const struct sockaddr *)&sa)) != SOTTO_OK) {
		net_server_close(s);
		return rc;
	}
	*out = s;
	return SOTTO_OK;
}

uint16_t net_server_port(const struct net_server *s)
{
	return s->port;
}

size_t net_server_n_conns(const struct net_server *s)
{
	return s->n_active;
}

void net_server_close(struct net_server *s)
{
	if (s == NULL || s->is_closing)
		return;
	s->is_closing = true;
	uv_close((uv_handle_t *)&s->listener, on_listener_closed);
	for (struct net_conn *c = s->conns; c != NULL; c = c->next)
		conn_end(c, SOTTO_ERR_CANCELLED, false);
}
