/* SPDX-License-Identifier: MIT */
/*
 * limits.h - every count, size and time bound of the client layer (client
 * layer): defaults and upper bounds of struct rconn_config, and the wire
 * sizes of docs/protocol.md chapter 5. docs/client.md explains what each
 * configurable one trades.
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

/*
 * Contact links and messages (docs/protocol.md §5.1, §5.2, §5.4). These are
 * wire sizes: changing one changes the format.
 */
enum {
	CLIENT_KEY_LEN = 32, /* relay static key, ssk */
	CLIENT_SID_LEN = 24, /* a queue's sender ID */
	/* Queue address: 91 fixed bytes and a host of 1..253 characters. */
	CLIENT_QUEUE_ADDR_FIXED_LEN = 91,
	CLIENT_QUEUE_ADDR_MIN = 91 + 1,
	CLIENT_QUEUE_ADDR_MAX = 91 + 253,
	/* Invitation link: type, version, queue address, 72-byte invitation. */
	CLIENT_LINK_MIN = 2 + 92 + 72,
	CLIENT_LINK_MAX = 2 + 344 + 72,
	CLIENT_LINK_TEXT_MAX = 6 + 558, /* "sotto:" and base64url of 418 bytes, no NUL */

	CLIENT_MSG_ID_LEN = 16,
	CLIENT_ENVELOPE_HEADER_LEN = 25,  /* kind, message ID, sent at */
	CLIENT_TEXT_MAX = 15000,          /* bytes of UTF-8 in one TEXT */
	CLIENT_NAME_MAX = 64,             /* bytes of UTF-8 in a display name */
	CLIENT_RECEIPTS_MAX = 64,         /* message IDs in one RECEIPT */
	CLIENT_ENVELOPE_MAX = 25 + 15000, /* the longest envelope: a TEXT */
};

/*
 * The agent (agent.h; docs/client.md "Agent"): what one profile may hold and
 * how requests are retried. Nothing the agent keeps in memory grows with
 * the number of messages; these bound what grows with the number of
 * contacts and relays, and how much a peer that stopped reading can make
 * us store.
 */
enum {
	CLIENT_AGENT_RELAYS_MAX = 64,        /* relays configured for new queues */
	CLIENT_AGENT_CONTACTS_MAX = 10000,   /* contacts, every state */
	CLIENT_AGENT_OUTBOX_MAX = 1024,      /* outbox entries waiting for one contact */
	CLIENT_AGENT_HISTORY_MAX = 1000,     /* messages one client_agent_history call returns */
	CLIENT_AGENT_RELAY_CONNS_MAX = 4096, /* relay connections (own relays and contacts') */

	/*
	 * A relay request that failed for now: the n-th retry waits a random
	 * time in [0, min(max, base * 2^n)].
	 */
	CLIENT_AGENT_RETRY_BASE_MS_DEFAULT = 500,
	CLIENT_AGENT_RETRY_MAX_MS_DEFAULT = 60000,
	CLIENT_AGENT_RETRY_MS_MAX = 3600000,

	/* invite and connect report SOTTO_ERR_TIMEOUT after this (the work goes on). */
	CLIENT_AGENT_OP_TIMEOUT_MS_DEFAULT = 30000,
	CLIENT_AGENT_OP_TIMEOUT_MS_MAX = 3600000,

	/* Receipts wait this long for more TEXTs to batch (64 IDs go at once). */
	CLIENT_AGENT_RECEIPT_DELAY_MS_DEFAULT = 100,
	CLIENT_AGENT_RECEIPT_DELAY_MS_MAX = 600000,
};

#endif /* SOTTO_CLIENT_LIMITS_H */
