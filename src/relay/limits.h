/* SPDX-License-Identifier: MIT */
/*
 * limits.h - every size, count and time bound of the relay (relay layer).
 * Wire sizes come from docs/protocol.md chapter 4; the rest are defaults and
 * upper bounds of the relay's configuration.
 */
#ifndef SOTTO_RELAY_LIMITS_H
#define SOTTO_RELAY_LIMITS_H

enum {
	RELAY_ID_LEN = 24,          /* RID, SID, msg_id */
	RELAY_KEY_LEN = 32,         /* X25519 keys, derived MAC and delivery keys */
	RELAY_MAC_LEN = 32,         /* BLAKE2b-256 */
	RELAY_CORR_LEN = 4,
	RELAY_CMD_HEADER_LEN = 61,  /* mac 32, corr 4, code 1, entity 24 */
	RELAY_RESP_HEADER_LEN = 29, /* corr 4, code 1, entity 24 */
	RELAY_BATCH_MAX = 32,       /* transmissions per block */
	RELAY_BLOCK_CONTENT_MAX = 16382, /* = NET_BLOCK_CONTENT_MAX */
	RELAY_MSG_BODY_MAX = 16000, /* SEND body bytes */
	RELAY_MSG_ID_LEN = 24,
	RELAY_DELIVERY_TAG_LEN = 16,
	/* MSG plaintext under K_deliver: timestamp 8, flags 1, lp16 body */
	RELAY_DELIVERY_PLAIN_MAX = 8 + 1 + 2 + 16000,

	RELAY_QUOTA_DEFAULT = 128,          /* messages per queue */
	RELAY_QUOTA_MAX = 65536,
	RELAY_TTL_S_DEFAULT = 21 * 24 * 3600, /* message lifetime */
	RELAY_NEW_PER_MINUTE_DEFAULT = 100, /* queues created per connection per minute */
	RELAY_NEW_PER_MINUTE_MAX = 1000000,
	RELAY_TTL_S_MAX = 10 * 365 * 24 * 3600,

	/*
	 * Queues one connection may have had a SEND refused with QUOTA on and not
	 * resumed yet (§4.4); one more closes the connection.
	 */
	RELAY_STUCK_MAX = 32,
	/* Messages of one subscribed queue pushed and not yet acknowledged (§4.4). */
	RELAY_PUSH_WINDOW = 8,
	/* Answers one connection may have held for the next commit; more flush early. */
	RELAY_HELD_MAX = 1024,
	/* Messages one expiry step deletes (one loop turn stays short). */
	RELAY_EXPIRE_STEP_MAX = 1000,
	/* Attempts to draw a fresh RID/SID pair that the store does not hold yet. */
	RELAY_NEW_ID_TRIES_MAX = 4,

	/* Server: time between expiry sweeps, and how long closing waits for writes. */
	RELAY_EXPIRE_INTERVAL_MS_DEFAULT = 60000,
	RELAY_EXPIRE_INTERVAL_MS_MAX = 24 * 3600 * 1000,
	RELAY_DRAIN_MS_DEFAULT = 5000,
	RELAY_DRAIN_MS_MAX = 600000,
};

#endif /* SOTTO_RELAY_LIMITS_H */
