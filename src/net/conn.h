/* SPDX-License-Identifier: MIT */
/*
 * conn.h - transport connections over TCP with libuv (net layer).
 *
 * A client dials a relay address (resolve, connect, NK handshake pinning the
 * address key); a server listens and runs the relay side of the handshake on
 * every connection it accepts. Once open, both sides send and receive
 * blocks of up to NET_BLOCK_CONTENT_MAX bytes; session.h has the wire format.
 *
 * Callbacks: on_open once the handshake is done; on_block for each block;
 * on_drain when a full write queue has drained; on_close exactly once for every connection that
 * dial returned or a server accepted, whatever happened to it (resolve and connect failures, a
 * failed or timed-out handshake, excess connections refused with SOTTO_ERR_BUSY, local close with
 * SOTTO_ERR_CANCELLED), always from the event loop, never from inside a call the user made. The
 * connection is freed when on_close returns. Reasons: SOTTO_ERR_RESOLVE, SOTTO_ERR_CONNECT,
 * SOTTO_ERR_TIMEOUT (handshake or idle timeout, see struct net_conn_config),
 * SOTTO_ERR_CLOSED (the peer ended the stream between frames),
 * SOTTO_ERR_TRUNCATED (in the middle of one), SOTTO_ERR_IO, SOTTO_ERR_NOMEM,
 * SOTTO_ERR_BUSY, SOTTO_ERR_CANCELLED, and every session error
 * (SOTTO_ERR_AUTH, SOTTO_ERR_FRAME_SIZE, SOTTO_ERR_VERSION, ...).
 *
 * A pinned key the relay does not hold makes the relay fail msg1 with
 * SOTTO_ERR_AUTH (in NK the responder is the side that detects it); the relay
 * answers with the refusal frame before hanging up, and the client ends with
 * SOTTO_ERR_AUTH too.
 *
 * Signals: libuv writes to sockets with write(2), so on Linux a peer that
 * vanishes mid-write raises SIGPIPE. The library never changes a process's
 * signal dispositions; a program using connections must ignore SIGPIPE
 * (signal(SIGPIPE, SIG_IGN)) and then sees SOTTO_ERR_CLOSED instead.
 *
 * Threading: everything made from one loop and one context runs on the
 * thread that runs that loop. Separate loops with separate contexts may run
 * on separate threads.
 */
#ifndef SOTTO_NET_CONN_H
#define SOTTO_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>
#include <uv.h>

#include "crypto/x25519.h"
#include "net/addr.h"
#include "net/limits.h"
#include "net/session.h"

/*
 * Zero fields take the defaults.
 *
 * Idle timeout: an open connection that receives no complete frame for
 * idle_timeout_ms is closed with SOTTO_ERR_TIMEOUT, on either side. It runs
 * from on_open and restarts with every block received; blocks sent do not
 * count. A client keeps a quiet connection to a relay alive by sending a
 * PING well inside the relay's idle timeout (every few minutes against the
 * default), and the relay's PONG keeps the client's side alive in turn.
 * The cost per block is one store of the loop's cached time: the
 * handshake's timer is reused and only re-armed when it fires.
 */
struct net_conn_config {
	uint32_t handshake_timeout_ms; /* dial or accept to OPEN; 0: 10 s; <= _MAX */
	uint32_t idle_timeout_ms;      /* OPEN without a block received; 0: 10 min; <= _MAX */
	size_t max_write_queue_bytes;  /* encrypted bytes queued per connection; 0: 1 MiB */
	uint32_t max_connections;      /* server only: open at once; 0: NET_CONNECTIONS_DEFAULT */
	struct net_session_config session; /* rekey interval, version range */
};

struct net_conn;
struct net_server;

/* session_id is NET_SESSION_ID_LEN bytes, borrowed for the call. */
typedef void net_conn_open_fn(void *SOTTO_NULLABLE user, struct net_conn *conn,
                              const uint8_t *session_id, uint16_t version);
/* content is borrowed for the call (len may be 0). */
typedef void net_conn_block_fn(void *SOTTO_NULLABLE user, struct net_conn *conn,
                               const uint8_t *content, size_t len);
/*
 * Called once after net_conn_send() returned SOTTO_ERR_BUSY, when the write
 * queue has drained to half of the limit that refused (half of
 * max_write_queue_bytes; a quarter after net_conn_send_soft): sending may
 * resume.
 */
typedef void net_conn_drain_fn(void *SOTTO_NULLABLE user, struct net_conn *conn);
/* conn is freed when this returns. */
typedef void net_conn_close_fn(void *SOTTO_NULLABLE user, struct net_conn *conn, sotto_err reason);

/* Any hook may be NULL. Copied by dial and listen. */
struct net_conn_callbacks {
	net_conn_open_fn *SOTTO_NULLABLE on_open;
	net_conn_block_fn *SOTTO_NULLABLE on_block;
	net_conn_drain_fn *SOTTO_NULLABLE on_drain;
	net_conn_close_fn *SOTTO_NULLABLE on_close;
	void *SOTTO_NULLABLE user;
};

/*
 * Starts connecting to addr (resolving its host, then trying the first
 * address found) and, once connected, the handshake. config may be NULL.
 * *out is NULL first; on success it is the connection, valid until its
 * on_close returns. The handshake deadline runs from this call, so it also
 * bounds resolving and connecting. Errors (no callback follows):
 * SOTTO_ERR_INVALID (a config value out of range), SOTTO_ERR_NOMEM,
 * SOTTO_ERR_IO (libuv refused to start); after the last two the loop must
 * run once more to release what was already set up.
 */
SOTTO_NODISCARD sotto_err net_conn_dial(struct sotto_ctx *ctx, uv_loop_t *loop,
                                        const struct net_addr *addr,
                                        const struct net_conn_config *SOTTO_NULLABLE config,
                                        const struct net_conn_callbacks *callbacks,
                                        struct net_conn **out);

/*
 * Encrypts content into one frame and queues it for writing (content is
 * copied). Errors: SOTTO_ERR_STATE (not open, or closing), SOTTO_ERR_TOO_LARGE
 * (len > NET_BLOCK_CONTENT_MAX), SOTTO_ERR_BUSY (the write queue would exceed
 * max_write_queue_bytes: nothing is queued, the connection stays open, and
 * the caller decides whether to wait for on_drain, drop or close),
 * SOTTO_ERR_NOMEM,
 * SOTTO_ERR_NONCE_EXHAUSTED and SOTTO_ERR_IO (these two also close it).
 */
SOTTO_NODISCARD sotto_err net_conn_send(struct net_conn *conn, const uint8_t *content, size_t len);

/*
 * Like net_conn_send, but refuses with SOTTO_ERR_BUSY (and arms on_drain)
 * once the queue would pass half of max_write_queue_bytes: for traffic that
 * can wait (a relay's pushes), so the other half stays free for what cannot
 * (answers to the peer's own commands).
 */
SOTTO_NODISCARD sotto_err net_conn_send_soft(struct net_conn *conn, const uint8_t *content,
                                             size_t len);

/*
 * Closes conn now: blocks still queued are dropped, and on_close follows
 * from the loop with SOTTO_ERR_CANCELLED (or the error that was already
 * closing it). Safe from any callback; a closing connection ignores it.
 */
void net_conn_close(struct net_conn *conn);

/* Encrypted bytes handed to the socket and not yet written. */
size_t net_conn_write_queue_bytes(const struct net_conn *conn);

/* True between on_open and the start of closing. */
bool net_conn_is_open(const struct net_conn *conn);

/* A pointer the owner keeps with the connection (NULL at first). */
void net_conn_set_data(struct net_conn *conn, void *SOTTO_NULLABLE data);
void *SOTTO_NULLABLE net_conn_data(const struct net_conn *conn);

/*
 * Listens on host (a numeric IPv4 or IPv6 address) and port (0: any free
 * port, see net_server_port) and serves the relay side of the transport with
 * static_key (copied into secure memory). callbacks apply to every accepted
 * connection. *out is NULL first and owns the server on success.
 * Errors: SOTTO_ERR_INVALID (host not numeric, a config value out of range),
 * SOTTO_ERR_NOMEM, SOTTO_ERR_IO (bind or listen failed, e.g. the port is
 * taken; the loop must run once more to release what was set up).
 */
SOTTO_NODISCARD sotto_err net_server_listen(struct sotto_ctx *ctx, uv_loop_t *loop,
                                            const char *host, uint16_t port,
                                            const struct x25519_keypair *static_key,
                                            const struct net_conn_config *SOTTO_NULLABLE config,
                                            const struct net_conn_callbacks *callbacks,
                                            struct net_server **out);

/* The port the server is bound to (the ephemeral one when listen got 0). */
uint16_t net_server_port(const struct net_server *server);

/* Connections accepted and not yet closing. */
size_t net_server_n_conns(const struct net_server *server);

/*
 * Stops listening and closes every connection (each gets on_close with
 * SOTTO_ERR_CANCELLED unless another error was closing it); the server frees
 * itself from the loop once all are gone. NULL does nothing.
 */
void net_server_close(struct net_server *SOTTO_NULLABLE server);

#endif /* SOTTO_NET_CONN_H */
