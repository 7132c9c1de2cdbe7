/* SPDX-License-Identifier: MIT */
/*
 * limits.h - every count, size and time bound of the client layer (client
 * layer): defaults and upper bounds of struct rconn_config. docs/client.md
 * explains what each one trades.
 */
#ifndef SOTTO_CLIENT_LIMITS_H
#define SOTTO_CLIENT_LIMITS_H

enum {
	/* Reconnect backoff: the n-th retry waits a random time in [0, min(max, base * 2^n)]. */
	RCONN_BACKOFF_BASE_MS_DEFAULT = 250,
	RCONN_BACKOFF_MAX_MS_DEFAULT = 30000,
	RCONN_BACKOFF_MS_MAX = 3600000, /* upper bound of both */

	/*
	 * Keepalive: a PING after this long without sending or receiving a
	 * block; the bound stays inside the relay's default idle timeout (10 min).
	 */
	RCONN_PING_INTERVAL_MS_DEFAULT = 60000,
	RCONN_PING_INTERVAL_MS_MAX = 300000,
	/* A PING unanswered this long means the relay is gone. */
	RCONN_PING_TIMEOUT_MS_DEFAULT = 15000,
	RCONN_PING_TIMEOUT_MS_MAX = 600000,

	/* rconn_close waits this long for answers to what was sent. */
	RCONN_CLOSE_TIMEOUT_MS_DEFAULT = 5000,
	RCONN_CLOSE_TIMEOUT_MS_MAX = 600000,

	/* Requests not yet answered (waiting to be sent or in flight). */
	RCONN_PENDING_DEFAULT = 1024,
	RCONN_PENDING_MAX = 65536,

	/* Queues one connection keeps subscribed. */
	RCONN_SUBS_DEFAULT = 4096,
	RCONN_SUBS_MAX = 1 << 20,
};

#endif /* SOTTO_CLIENT_LIMITS_H */
