/* SPDX-License-Identifier: MIT */
/*
 * server.h - the relay on a libuv loop: the core (core.h) behind the
 * transport's listener (net/conn.h) (relay layer).
 *
 * Each connection that finishes its handshake gets a relay_client bound to
 * its session id; its blocks go to the core, and the core's answers go back
 * through net_conn_send. A uv_check handle ends every loop turn with
 * relay_core_flush (one store commit for all the turn's writes, then the
 * answers), and a timer deletes expired messages in bounded steps.
 *
 * A reader that does not keep up is disconnected: when a connection's write
 * queue is full (net_conn_send says SOTTO_ERR_BUSY) the connection is closed
 * and its client dropped, so no output is ever buffered without bound.
 *
 * Threading: everything runs on the loop's thread.
 */
#ifndef SOTTO_RELAY_SERVER_H
#define SOTTO_RELAY_SERVER_H

#include <stdint.h>

#include <sotto/sotto.h>
#include <uv.h>

#include "crypto/x25519.h"
#include "net/conn.h"
#include "relay/core.h"
#include "relay/store.h"

/* Zero fields take the defaults. */
struct relay_server_config {
	struct relay_core_config core; /* quota, TTL, NEW rate, wall clock */
	struct net_conn_config conn;   /* handshake timeout, write queue, connections */
	uint32_t expire_interval_ms;   /* 0: RELAY_EXPIRE_INTERVAL_MS_DEFAULT; <= _MAX */
	uint32_t drain_ms;             /* close waits this long for writes; 0: default; <= _MAX */
};

struct relay_server;

/*
 * Listens on host (a numeric IPv4 or IPv6 address) and port (0: any free
 * port) with the relay's static key pair (copied), serving the relay
 * protocol over store (borrowed: it must outlive the server, that is, stay
 * open until the loop has run the server's close to its end). config may be
 * NULL. *out is NULL first and owns the server on success (end it with
 * relay_server_close). Errors: SOTTO_ERR_INVALID (host not numeric, a config
 * value out of range), SOTTO_ERR_NOMEM, SOTTO_ERR_IO (bind or listen failed);
 * after an error the loop must run once more to release what was set up.
 */
SOTTO_NODISCARD sotto_err relay_server_new(struct sotto_ctx *ctx, uv_loop_t *loop, const char *host,
                                           uint16_t port, const struct x25519_keypair *static_key,
                                           struct relay_store *store,
                                           const struct relay_server_config *SOTTO_NULLABLE config,
                                           struct relay_server **out);

/* The port the server listens on (the ephemeral one when new got 0). */
uint16_t relay_server_port(const struct relay_server *server);

/* The server's core (borrowed), e.g. for relay_core_stats. */
struct relay_core *relay_server_core(struct relay_server *server);

/*
 * Ends the server gracefully (SIGTERM): stops executing commands, commits
 * and emits what is held, waits up to drain_ms for every connection's
 * queued output to reach the socket, then closes every connection and
 * frees the server from the loop; run the loop until it returns, then the
 * store may be closed. Safe from any callback; NULL and a second call do
 * nothing.
 */
void relay_server_close(struct relay_server *SOTTO_NULLABLE server);

#endif /* SOTTO_RELAY_SERVER_H */
